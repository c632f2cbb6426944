"""Snapshots as pandas DataFrames (Debian's python3-pandas; imported only here).

Each function takes a snapshot dict (xsmem.read_snapshot, xsmem.fetch,
xsmem.history.History.snapshot); timeline() and series() also take a list of
them (a stream). Figures keep the snapshot's units: bytes, counts, ns.
"""
import pandas as pd


def _one(s):
    return s[-1] if isinstance(s, list) else s


def allocators(s):
    """One row per allocator: name, kind, config, process_allocator and every
    AllocatorStats field."""
    s = _one(s)
    rows = []
    for a in s["allocators"]:
        row = {"name": a["name"], "kind": a["kind"], "config": a["config"], "process_allocator": a["process_allocator"]}
        row.update(a["stats"])
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["name", "kind", "config", "process_allocator"])


def detail(s):
    """Every detail figure: allocator, group, label, key, counter, value."""
    s = _one(s)
    rows = [dict(allocator=a["name"], **d) for a in s["allocators"] for d in a["detail"]]
    return pd.DataFrame(rows, columns=["allocator", "group", "label", "key", "counter", "value"])


def group(s, name):
    """The detail figures of one group ("tier", "class", "node", "bin", ...),
    one row per allocator and label, one column per key."""
    d = detail(s)
    d = d[d["group"] == name]
    if d.empty:
        return pd.DataFrame(columns=["allocator", name])
    t = d.pivot_table(index=["allocator", "label"], columns="key", values="value", aggfunc="last")
    t.columns.name = None
    return t.reset_index().rename(columns={"label": name})


def tiers(s):
    return group(s, "tier")


def classes(s):
    return group(s, "class")


def nodes(s):
    return group(s, "node")


def call_sites(s):
    """The top call sites: symbol, count, bytes, live_count, live_bytes, frames."""
    s = _one(s)
    return pd.DataFrame(s["call_sites"], columns=["symbol", "count", "bytes", "live_count", "live_bytes", "frames"])


def histogram(s):
    """The request-size histogram: lower, upper (0: unbounded), count, bytes, live_count, live_bytes."""
    s = _one(s)
    return pd.DataFrame(s["histogram"], columns=["lower", "upper", "count", "bytes", "live_count", "live_bytes"])


def leaks(s):
    s = _one(s)
    return pd.DataFrame(s["leaks"], columns=["address", "size", "count", "symbol", "frames"])


def timeline(s):
    """The timeline (the tracker's, or the sampler's): time_ns, bytes_in_use,
    bytes_reserved, num_allocs, num_frees, plus seconds since its first point.
    A list of snapshots (a stream) gives each point once, in time order."""
    points = {}
    for one in (s if isinstance(s, list) else [s]):
        for p in one["timeline"]:
            points[p["time_ns"]] = p
    cols = ["time_ns", "bytes_in_use", "bytes_reserved", "num_allocs", "num_frees"]
    df = pd.DataFrame([points[k] for k in sorted(points)], columns=cols)
    df["seconds"] = (df["time_ns"] - df["time_ns"].min()) / 1e9 if len(df) else []
    return df


def series(snapshots):
    """One row per snapshot of a stream and allocator: the record, its wall
    clock (time), the allocator's name and its AllocatorStats fields."""
    rows = []
    for s in (snapshots if isinstance(snapshots, list) else [snapshots]):
        for a in s["allocators"]:
            row = {"record": s["record"], "time": pd.to_datetime(s["time_unix_ns"], unit="ns"), "allocator": a["name"]}
            row.update(a["stats"])
            rows.append(row)
    return pd.DataFrame(rows)
