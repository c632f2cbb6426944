"""xsmem's Python API: snapshots from files, streams, a live process and the
history database, as plain dicts, and as pandas DataFrames (xsmem.frames).

    import xsmem
    s = xsmem.read_snapshot("run.pb")           # the last snapshot of a file
    series = xsmem.read_snapshots("stream.pb")  # every record of a stream
    live = xsmem.fetch("127.0.0.1:9100")        # /api/snapshot of a process
    s["allocators"][0]["stats"]["bytes_in_use"]
    xsmem.frames.allocators(s)                  # with pandas installed

A snapshot is a dict with the fields of xsmem.Snapshot (export/xsmem_stats.proto)
under their proto names, every field present (0, "" or [] when unset), plus
"source" (the file or URL) and "record" (its index in a stream). Strings that
are not valid UTF-8 (a program's arguments can be any bytes) are decoded with
U+FFFD, as the C tools do. The raw protobuf messages come from
read_messages() and fetch_message().
"""
import pkgutil

# The generated xsmem_stats_pb2 may live in another directory named xsmem on
# the path (bazel-bin/python/xsmem, with PYTHONPATH=bazel-bin/python:python).
__path__ = pkgutil.extend_path(__path__, __name__)

from . import history, live  # noqa: E402
from .live import LiveError, fetch_json, fetch_message  # noqa: E402
from .snapshot import SnapshotError, read_stream  # noqa: E402
from . import xsmem_stats_pb2  # noqa: E402

__all__ = [
    "SnapshotError", "LiveError", "read_snapshot", "read_snapshots", "read_messages", "fetch", "fetch_json",
    "fetch_message", "from_message", "history", "frames", "xsmem_stats_pb2"
]


def from_message(message, source=None, record=0):
    """A Snapshot message as a plain dict (see the module's docstring)."""
    d = _to_dict(message)
    d["source"] = source
    d["record"] = record
    return d


def _to_dict(m):
    out = {}
    for f in m.DESCRIPTOR.fields:
        v = getattr(m, f.name)
        if f.label == f.LABEL_REPEATED:
            out[f.name] = [_to_dict(x) for x in v] if f.message_type else [_value(x) for x in v]
        elif f.message_type:
            out[f.name] = _to_dict(v)
        else:
            out[f.name] = _value(v)
    return out


def _value(v):
    # The generated module types the schema's strings as bytes (see
    # python/BUILD.bazel): decode them as the C tools show them.
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v


def read_messages(path, strict=True):
    """Every intact snapshot of a file or stream as xsmem_stats_pb2.Snapshot
    messages (see snapshot.read_stream for strict and the errors)."""
    return read_stream(path, strict)[0]


def read_snapshots(path, strict=True):
    """Every intact snapshot of a file or stream, in order, as dicts.

    A damaged record raises SnapshotError naming the file and the byte offset;
    with strict=False it is left out (the intact ones are returned). A stream
    cut short by its writer's end is read up to the cut either way."""
    import os
    src = os.fspath(path)
    return [from_message(m, src, i) for i, m in enumerate(read_messages(path, strict))]


def read_snapshot(path, strict=True):
    """The last snapshot of a file or stream (what `xsmem stats` reports), as a dict."""
    return read_snapshots(path, strict)[-1]


def fetch(address, token=None, timeout=10.0):
    """The snapshot of a live process now (/api/snapshot), as a dict.

    address: "HOST:PORT" or a URL. token: XSMEM_HTTP_TOKEN of the serving
    process; default from XSMEM_HTTP_TOKEN or XSMEM_HTTP_TOKEN_FILE here.
    Raises LiveError naming the URL."""
    return from_message(fetch_message(address, token, timeout), live._url(address, "/api/snapshot"))


def __getattr__(name):
    # frames imports pandas, which is optional: only on first use.
    if name == "frames":
        # import_module, not `from . import`: that would ask this hook again.
        import importlib
        return importlib.import_module(".frames", __name__)
    raise AttributeError("module 'xsmem' has no attribute %r" % name)
