"""The history database `xsmem history add` writes (tools/history.c has the
schema), read with Python's sqlite3.

    h = xsmem.history.open()              # the default path, or open(path)
    h.runs(program="python3")             # list of dicts, oldest first
    h.trend("peak_bytes_in_use", program="python3", config="bfc")
    h.diff(1, 2)                          # {"allocators": [...], "call_sites": [...]}
    h.snapshot(2)                         # the stored snapshot, as xsmem.read_snapshot gives it
    h.frame() / h.trend_frame(...)        # pandas DataFrames
"""
import os
import sqlite3

SCHEMA_VERSION = 1  # tools/history.c's SCHEMA_VERSION


def default_path():
    """$XDG_DATA_HOME/xsmem/history.db, else ~/.local/share/xsmem/history.db
    (`xsmem history`'s default)."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    # The XDG spec: a relative XDG_DATA_HOME is invalid and ignored.
    base = xdg if xdg.startswith("/") else os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "xsmem", "history.db")


class HistoryError(ValueError):
    """A database that cannot be read; the message names it."""


def open(path=None):  # noqa: A001 (the module's verb, as io.open)
    return History(path or default_path())


class History:

    def __init__(self, path):
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise HistoryError("%s: no history database (xsmem history add creates it)" % self.path)
        # Read-only: this API never writes what `xsmem history add` owns.
        self.db = sqlite3.connect("file:%s?mode=ro" % self.path, uri=True)
        # Strings are stored as the snapshot had them (any bytes).
        self.db.text_factory = lambda b: b.decode("utf-8", "replace")
        self.db.row_factory = sqlite3.Row
        try:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as e:
            raise HistoryError("%s: not an SQLite database (%s)" % (self.path, e)) from None
        if version != SCHEMA_VERSION:
            raise HistoryError("%s: schema %d, this reader knows %d" % (self.path, version, SCHEMA_VERSION))

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def runs(self, program=None, config=None):
        """The stored runs, oldest first: id, host, program, config,
        time_unix_ns, pid, cmdline, sequence, source, added_unix_ns."""
        rows = self.db.execute(
            "SELECT id, host, program, config, time_unix_ns, pid, cmdline, sequence, source, added_unix_ns"
            " FROM runs WHERE (?1 IS NULL OR program = ?1) AND (?2 IS NULL OR config = ?2)"
            " ORDER BY time_unix_ns, id", (program, config))
        return [dict(r) for r in rows]

    def stats(self, run):
        """{allocator: {metric: value}} of one run."""
        out = {}
        for r in self.db.execute("SELECT allocator, metric, value FROM stats WHERE run = ? ORDER BY rowid", (run, )):
            out.setdefault(r["allocator"], {})[r["metric"]] = r["value"]
        return out

    def call_sites(self, run):
        rows = self.db.execute(
            "SELECT rank, symbol, count, bytes, live_count, live_bytes FROM call_sites WHERE run = ? ORDER BY rank",
            (run, ))
        return [dict(r) for r in rows]

    def trend(self, metric, program=None, config=None, allocator=None):
        """metric over time, as `xsmem history trend`: one dict per run (run,
        time_unix_ns, program, config, allocator, value), the chosen
        allocator's figure, else the one serving malloc."""
        rows = self.db.execute(
            "SELECT r.id AS run, r.time_unix_ns, r.program, r.config, a.name AS allocator, s.value"
            " FROM runs r JOIN allocators a ON a.run = r.id"
            " JOIN stats s ON s.run = r.id AND s.allocator = a.name AND s.metric = ?3"
            " WHERE (?1 IS NULL OR r.program = ?1) AND (?2 IS NULL OR r.config = ?2)"
            "  AND a.rowid = (SELECT a2.rowid FROM allocators a2 WHERE a2.run = r.id"
            "    AND (?4 IS NULL OR a2.name = ?4) ORDER BY a2.process DESC, a2.rowid LIMIT 1)"
            " ORDER BY r.time_unix_ns, r.id", (program, config, metric, allocator))
        return [dict(r) for r in rows]

    def diff(self, run1, run2):
        """Two runs side by side: {"allocators": [{allocator, metric, run1,
        run2, change}], "call_sites": [{symbol, live_bytes1, live_bytes2,
        bytes1, bytes2}]}; what one run lacks is 0. Call sites are matched by
        symbol (their addresses move with ASLR)."""
        for r in (run1, run2):
            if not self.db.execute("SELECT 1 FROM runs WHERE id = ?", (r, )).fetchone():
                raise HistoryError("%s: no run %s" % (self.path, r))
        a, b = self.stats(run1), self.stats(run2)
        allocs = []
        for name in sorted(set(a) | set(b)):
            metrics = list(a.get(name, {})) + [m for m in b.get(name, {}) if m not in a.get(name, {})]
            for m in metrics:
                x, y = a.get(name, {}).get(m, 0.0), b.get(name, {}).get(m, 0.0)
                allocs.append({"allocator": name, "metric": m, "run1": x, "run2": y, "change": y - x})
        sites = {}
        for key, run in (("1", run1), ("2", run2)):
            for c in self.call_sites(run):
                s = sites.setdefault(c["symbol"], {
                    "symbol": c["symbol"], "live_bytes1": 0, "live_bytes2": 0, "bytes1": 0, "bytes2": 0})
                s["live_bytes" + key] += c["live_bytes"]
                s["bytes" + key] += c["bytes"]
        order = sorted(sites.values(), key=lambda s: -abs(s["live_bytes2"] - s["live_bytes1"]))
        return {"allocators": allocs, "call_sites": order}

    def snapshot(self, run):
        """The run's stored snapshot as a dict (xsmem.read_snapshot's form)."""
        from . import from_message
        from .snapshot import parse
        row = self.db.execute("SELECT snapshot, source FROM runs WHERE id = ?", (run, )).fetchone()
        if row is None:
            raise HistoryError("%s: no run %s" % (self.path, run))
        return from_message(parse(row["snapshot"]), "%s#run%s" % (self.path, run))

    def frame(self, program=None, config=None):
        """runs() as a pandas DataFrame (with a datetime column, time)."""
        import pandas as pd
        df = pd.DataFrame(self.runs(program, config))
        if len(df):
            df["time"] = pd.to_datetime(df["time_unix_ns"], unit="ns")
        return df

    def trend_frame(self, metric, program=None, config=None, allocator=None):
        import pandas as pd
        df = pd.DataFrame(self.trend(metric, program, config, allocator),
                          columns=["run", "time_unix_ns", "program", "config", "allocator", "value"])
        df["time"] = pd.to_datetime(df["time_unix_ns"], unit="ns")
        return df
