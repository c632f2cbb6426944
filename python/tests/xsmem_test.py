"""Tests of python/xsmem against snapshots this test makes: export's live_demo
(the `os` configuration with //export:runtime, a demo allocator with tiers and
nodes, a histogram and call sites of its own) writes an exit snapshot and a
format-2 stream, and serves /api/snapshot with a token; `xsmem stats --format
json` (the C reader) is the reference; `xsmem history add` fills a database.
"""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

import pandas as pd

import xsmem
from xsmem import frames, snapshot as snapfmt

# matplotlib caches fonts under $HOME, which a test may not write.
os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR")))
R = os.path.join(os.environ.get("TEST_SRCDIR", os.path.dirname(os.path.abspath(__file__)) + "/.."), "xsmem")
DEMO = os.path.join(R, "export/live_demo")
XSMEM = os.path.join(R, "tools/xsmem")
LEAKY = os.path.join(R, "tools/testdata/leaky_python.pb")  # format 1, recorded from a tracked python3


def read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


def write(path, data):
    with open(path, "wb" if isinstance(data, (bytes, bytearray)) else "w") as f:
        f.write(data)


def demo(seconds, env, *args):
    return subprocess.Popen([DEMO, str(seconds)] + list(args), env=dict(os.environ, **env), stderr=subprocess.DEVNULL)


class Base(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        cls.exit_pb = os.path.join(cls.tmp, "exit.pb")
        cls.stream_pb = os.path.join(cls.tmp, "stream.pb")
        # Both at once: a second each.
        a = demo(1, {"XSMEM_SNAPSHOT": cls.exit_pb})
        b = demo(1, {"XSMEM_SNAPSHOT": cls.stream_pb, "XSMEM_SNAPSHOT_INTERVAL_MS": "150"})
        cls.exit_pid = a.pid
        assert a.wait(30) == 0 and b.wait(30) == 0

    def path(self, name):
        return os.path.join(self.tmp, name)

    def c_json(self, path):
        """The C reader's view of path (xsmem stats --format json)."""
        out = subprocess.run([XSMEM, "stats", path, "--format", "json"], check=True, capture_output=True)
        return json.loads(out.stdout)


class Files(Base):

    def test_exit_snapshot(self):
        s = xsmem.read_snapshot(self.exit_pb)
        self.assertEqual(s["pid"], self.exit_pid)
        self.assertEqual(s["config"], "os")
        self.assertEqual(s["source"], self.exit_pb)
        self.assertIn("live_demo", s["cmdline"])
        # The same figures as the C reader, field for field.
        ref = self.c_json(self.exit_pb)
        self.assertEqual([a["name"] for a in s["allocators"]], [a["name"] for a in ref["allocators"]])
        for mine, theirs in zip(s["allocators"], ref["allocators"]):
            self.assertEqual(mine["stats"], theirs["stats"], mine["name"])
            nested = {}  # the JSON writer nests detail as group -> label -> key
            for d in mine["detail"]:
                nested.setdefault(d["group"], {}).setdefault(d["label"], {})[d["key"]] = d["value"]
            self.assertEqual(nested, theirs["detail"], mine["name"])
        for key in ("time_unix_ns", "sequence", "analysis_source", "histogram"):
            self.assertEqual(s[key], ref[key], key)
        # JSON writes return addresses in hex; here they are integers.
        for c in ref["call_sites"]:
            c["frames"] = [int(f, 16) for f in c["frames"]]
        self.assertEqual(s["call_sites"], ref["call_sites"])

    def test_stream(self):
        snaps = xsmem.read_snapshots(self.stream_pb)
        self.assertGreaterEqual(len(snaps), 3)
        self.assertEqual([x["record"] for x in snaps], list(range(len(snaps))))
        seqs = [x["sequence"] for x in snaps]
        self.assertEqual(seqs, sorted(seqs))
        # The last record is what `xsmem stats` reports.
        self.assertEqual(snaps[-1]["time_unix_ns"], self.c_json(self.stream_pb)["time_unix_ns"])
        self.assertEqual(xsmem.read_snapshot(self.stream_pb)["sequence"], seqs[-1])

    def test_format_1(self):
        s = xsmem.read_snapshot(LEAKY)
        self.assertEqual(s["config"], "system_tracked")
        self.assertEqual(s["allocators"][0]["stats"]["num_allocs"], 37661)
        self.assertGreater(len(s["call_sites"]), 5)
        self.assertEqual(s["call_sites"][0]["symbol"], self.c_json(LEAKY)["call_sites"][0]["symbol"])

    def test_write_round_trip(self):
        msgs = xsmem.read_messages(self.stream_pb)
        out = self.path("copy.pb")
        snapfmt.write_file(out, msgs)
        self.assertEqual(xsmem.read_messages(out), msgs)
        self.assertEqual(self.c_json(out)["sequence"], msgs[-1].sequence)  # the C reader agrees

    def test_not_utf8(self):
        # A program's arguments can be any bytes; the C writer keeps them and
        # the C tools show U+FFFD: so does this API (protobuf alone refuses them).
        m = xsmem.read_messages(self.exit_pb)[-1]
        m.cmdline = b"prog \xff\xfe arg"
        out = self.path("bytes.pb")
        snapfmt.write_file(out, [m])
        self.assertEqual(xsmem.read_snapshot(out)["cmdline"], "prog \ufffd\ufffd arg")


class Damaged(Base):

    def damaged_stream(self):
        data = bytearray(read(self.stream_pb))
        data[16 + 16 + 10] ^= 0xFF  # the first record's payload
        out = self.path("damaged.pb")
        write(out, data)
        return out

    def test_damaged_record(self):
        out = self.damaged_stream()
        with self.assertRaises(xsmem.SnapshotError) as e:
            xsmem.read_snapshots(out)
        self.assertEqual(str(e.exception), "%s: byte 16: damaged record (checksum mismatch); refused" % out)
        self.assertEqual(e.exception.path, out)
        self.assertEqual(e.exception.offset, 16)
        # Not strict: the other records, as the C reader reads them.
        rest = xsmem.read_snapshots(out, strict=False)
        self.assertEqual(len(rest), len(xsmem.read_snapshots(self.stream_pb)) - 1)
        _, issues = snapfmt.read_stream(out, strict=False)
        self.assertEqual((issues[0].offset, issues[0].cut), (16, False))

    def test_damaged_header(self):
        data = bytearray(read(self.stream_pb))
        data[16 + 5] ^= 0xFF  # the first record's length: the header's checksum refuses it
        out = self.path("header.pb")
        write(out, data)
        with self.assertRaisesRegex(xsmem.SnapshotError, "header.pb: byte 16: damaged record header"):
            xsmem.read_snapshots(out)
        # The reader finds the next record header.
        self.assertEqual(len(xsmem.read_snapshots(out, strict=False)), len(xsmem.read_snapshots(self.stream_pb)) - 1)

    def test_cut_stream(self):
        # A writer killed mid-record: every record before the cut, no error.
        data = read(self.stream_pb)
        out = self.path("cut.pb")
        write(out, data[:-7])
        snaps, issues = snapfmt.read_stream(out)
        self.assertEqual(len(snaps), len(xsmem.read_snapshots(self.stream_pb)) - 1)
        self.assertTrue(issues[-1].cut)
        self.assertEqual(issues[-1].message, "record cut short")

    def test_not_snapshots(self):
        cases = {
            "empty.pb": (b"", "empty file, not a snapshot"),
            "zeros.pb": (bytes(4096), "not an xsmem snapshot (its first bytes begin neither snapshot format)"),
            "text.pb": (b"\x08hello, this is not a snapshot at all", "not an xsmem snapshot (corrupt or truncated"),
            "header_only.pb": (read(self.stream_pb)[:10], "no intact snapshot in the file"),
        }
        for name, (data, msg) in cases.items():
            p = self.path(name)
            write(p, data)
            with self.assertRaises(xsmem.SnapshotError, msg=name) as e:
                xsmem.read_snapshot(p)
            self.assertTrue(str(e.exception).startswith(p + ": "), str(e.exception))
            self.assertIn(msg, str(e.exception))
        with self.assertRaisesRegex(xsmem.SnapshotError, "missing.pb: cannot read: No such file"):
            xsmem.read_snapshot(self.path("missing.pb"))
        with self.assertRaisesRegex(xsmem.SnapshotError, "is a directory"):
            xsmem.read_snapshot(self.tmp)


class Frames(Base):

    def test_frames(self):
        s = xsmem.read_snapshot(self.exit_pb)
        a = frames.allocators(s)
        self.assertEqual(list(a["name"]), [x["name"] for x in s["allocators"]])
        self.assertIn("bytes_in_use", a.columns)
        self.assertEqual(a["num_allocs"].sum(), sum(x["stats"]["num_allocs"] for x in s["allocators"]))
        t = frames.tiers(s)
        self.assertEqual(sorted(t["tier"]), ["large", "medium", "small"])
        self.assertIn("bytes_in_use", t.columns)
        n = frames.nodes(s)
        self.assertGreater(len(n), 0)
        self.assertEqual(len(frames.classes(s)), 0)  # live_demo has no size classes: an empty frame
        c = frames.call_sites(s)
        self.assertEqual(len(c), len(s["call_sites"]))
        self.assertGreater(len(c), 0)
        h = frames.histogram(s)
        self.assertEqual(int(h["count"].sum()), sum(b["count"] for b in s["histogram"]))
        self.assertIsInstance(frames.detail(s), pd.DataFrame)

    def test_classes(self):
        # `default` (thread-cached size classes over buddy and large) run by
        # the xsmem command: per-class and per-tier figures.
        out = self.path("default.pb")
        subprocess.run([XSMEM, "run", "--config", "default", "--track", "off", "--workload", "small", "--snapshot", out],
                       check=True, capture_output=True)
        s = xsmem.read_snapshot(out)
        c = frames.classes(s)
        self.assertGreater(len(c), 3)
        self.assertEqual(set(c["allocator"]), {"default"})
        self.assertIn("allocs", c.columns)
        d = frames.detail(s)
        one = d[(d["group"] == "class") & (d["key"] == "allocs")].iloc[0]
        self.assertEqual(c[c["class"] == one["label"]]["allocs"].iloc[0], one["value"])
        self.assertGreater(len(frames.tiers(s)), 1)

    def test_timeline_and_series(self):
        snaps = xsmem.read_snapshots(self.stream_pb)
        tl = frames.timeline(snaps)
        self.assertGreater(len(tl), 2)
        self.assertTrue(tl["time_ns"].is_monotonic_increasing)
        self.assertTrue(tl["time_ns"].is_unique)  # points repeated across records appear once
        self.assertEqual(tl["seconds"].iloc[0], 0)
        ser = frames.series(snaps)
        self.assertEqual(len(ser), sum(len(x["allocators"]) for x in snaps))
        self.assertEqual(str(ser["time"].dtype), "datetime64[ns]")


class Live(Base):

    def test_live_with_token(self):
        portfile = self.path("port")
        p = demo(30, {"XSMEM_HTTP": "127.0.0.1:0", "XSMEM_HTTP_TOKEN": "s3cret"}, portfile)
        try:
            for _ in range(200):
                if os.path.exists(portfile) and os.path.getsize(portfile):
                    break
                time.sleep(0.05)
            addr = "127.0.0.1:%s" % read(portfile, "r").strip()
            env = {k: v for k, v in os.environ.items() if not k.startswith("XSMEM_HTTP_TOKEN")}
            os.environ.clear()
            os.environ.update(env)
            with self.assertRaises(xsmem.LiveError) as e:
                xsmem.fetch(addr)
            self.assertIn("http://%s/api/snapshot: HTTP 401" % addr, str(e.exception))
            s = xsmem.fetch(addr, token="s3cret")
            self.assertEqual(s["pid"], p.pid)
            self.assertEqual(s["source"], "http://%s/api/snapshot" % addr)
            self.assertGreater(len(s["allocators"]), 0)
            # The token from the serving process's variables, as `xsmem top` reads them.
            os.environ["XSMEM_HTTP_TOKEN"] = "s3cret"
            j = xsmem.fetch_json(addr)
            self.assertEqual(j["pid"], p.pid)
            self.assertEqual([a["name"] for a in j["allocators"]], [a["name"] for a in s["allocators"]])
            tf = self.path("token")
            write(tf, "s3cret\n")
            del os.environ["XSMEM_HTTP_TOKEN"]
            os.environ["XSMEM_HTTP_TOKEN_FILE"] = tf
            self.assertEqual(xsmem.fetch(addr)["pid"], p.pid)
            self.assertGreater(len(frames.allocators(xsmem.fetch(addr))), 0)
        finally:
            os.environ.pop("XSMEM_HTTP_TOKEN_FILE", None)
            p.send_signal(signal.SIGTERM)
            p.wait(10)
        with self.assertRaisesRegex(xsmem.LiveError, "http://%s/api/snapshot: .*refused" % addr):
            xsmem.fetch(addr, timeout=5)


class History(Base):

    def test_history(self):
        db = self.path("h.db")
        add = lambda *files: subprocess.run([XSMEM, "history", "add", "--db", db, "--host", "h1"] + list(files),
                                            capture_output=True, text=True)
        r = add(self.exit_pb, self.stream_pb, LEAKY)
        self.assertEqual(r.returncode, 0, r.stderr)
        with xsmem.history.open(db) as h:
            runs = h.runs()
            self.assertEqual(len(runs), 3)
            by_source = {x["source"]: x for x in runs}
            self.assertEqual(by_source[self.exit_pb]["program"], "live_demo")
            self.assertEqual(by_source[self.exit_pb]["host"], "h1")
            self.assertEqual(by_source[LEAKY]["config"], "system_tracked")
            self.assertEqual([x["source"] for x in h.runs(config="os")].count(self.exit_pb), 1)
            # The stored snapshot is the file's, field for field.
            run = by_source[self.exit_pb]["id"]
            stored = h.snapshot(run)
            mine = xsmem.read_snapshot(self.exit_pb)
            for k in mine:
                if k not in ("source", "record"):
                    self.assertEqual(stored[k], mine[k], k)
            self.assertEqual(h.stats(run)[mine["allocators"][0]["name"]]["bytes_in_use"],
                             mine["allocators"][0]["stats"]["bytes_in_use"])
            # trend: the process allocator's figure, oldest first.
            tr = h.trend("num_allocs", program="python3")
            self.assertEqual([(x["allocator"], x["value"]) for x in tr], [("system_tracked", 37661.0)])
            self.assertEqual(len(h.trend("num_allocs")), 3)
            self.assertEqual(len(h.trend_frame("bytes_in_use", config="os")), 2)
            self.assertEqual(len(h.frame()), 3)
            # diff: per allocator and call site; what a run lacks is 0.
            d = h.diff(run, by_source[LEAKY]["id"])
            row = [x for x in d["allocators"] if x["allocator"] == "system_tracked" and x["metric"] == "num_allocs"]
            self.assertEqual(row, [{"allocator": "system_tracked", "metric": "num_allocs", "run1": 0.0,
                                    "run2": 37661.0, "change": 37661.0}])
            top = d["call_sites"][0]
            self.assertEqual(abs(top["live_bytes2"] - top["live_bytes1"]),
                             max(abs(x["live_bytes2"] - x["live_bytes1"]) for x in d["call_sites"]))
            with self.assertRaisesRegex(xsmem.history.HistoryError, "no run 99"):
                h.diff(run, 99)
        # A damaged file: refused by `add`, the database as it was.
        bad = self.path("bad.pb")
        data = bytearray(read(self.stream_pb))
        data[40] ^= 0xFF
        write(bad, data)
        before = read(db)
        r = add(LEAKY, bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s is damaged: nothing stored" % bad, r.stderr)
        self.assertEqual(read(db), before)
        with xsmem.history.open(db) as h:
            self.assertEqual(len(h.runs()), 3)
        with self.assertRaisesRegex(xsmem.history.HistoryError, "no history database"):
            xsmem.history.open(self.path("none.db"))

    def test_default_path(self):
        env = dict(os.environ)
        try:
            os.environ["XDG_DATA_HOME"] = "/x/data"
            self.assertEqual(xsmem.history.default_path(), "/x/data/xsmem/history.db")
            os.environ["XDG_DATA_HOME"] = "relative"  # invalid by the XDG spec: ignored
            os.environ["HOME"] = "/home/u"
            self.assertEqual(xsmem.history.default_path(), "/home/u/.local/share/xsmem/history.db")
        finally:
            os.environ.clear()
            os.environ.update(env)


class Example(Base):

    def test_plot_run(self):
        out = self.path("run.png")
        env = dict(os.environ, PYTHONPATH=os.path.join(R, "python"), MPLCONFIGDIR=self.path("mpl"))
        r = subprocess.run([sys.executable, os.path.join(R, "python/examples/plot_run.py"), self.stream_pb, out],
                           env=env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("timeline points", r.stdout)
        import matplotlib.image
        img = matplotlib.image.imread(out)
        self.assertGreater(img.shape[0], 500)
        self.assertGreater(len(set(map(tuple, img.reshape(-1, img.shape[2])[::97].tolist()))), 5)  # drawn, not blank
        # A damaged file: the reader's message, exit 1.
        r = subprocess.run([sys.executable, os.path.join(R, "python/examples/plot_run.py"), LEAKY + ".none", out],
                           env=env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("leaky_python.pb.none: cannot read", r.stderr)


if __name__ == "__main__":
    unittest.main()
