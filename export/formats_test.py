"""export/formats_test.py: the exporter's outputs checked by real parsers.

Runs //export:live_demo (a live process with //export:runtime) and checks
  - the Prometheus text from /metrics and from a snapshot file with
    prometheus_client's parser (Debian's python3-prometheus-client),
  - the JSON (/api/*, snapshot dumps) with Python's json module,
  - the CSV timeline with Python's csv module,
  - the protobuf forms by round trip through xsmem_snapshot_dump (single file,
    periodic stream, /api/snapshot),
  - bad requests answered with 4xx while the server keeps serving.
Run by formats_test.sh with /usr/bin/python3.
"""
import csv
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "testing"))
import nasty_snapshot  # noqa: E402
DEMO = os.path.join(HERE, "live_demo")
DUMP = os.path.join(HERE, "xsmem_snapshot_dump")
TMP = os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp()


def run_demo(seconds, env_extra, portfile=None):
    env = dict(os.environ)
    env.update(env_extra)
    args = [DEMO, str(seconds)] + ([portfile] if portfile else [])
    return subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)


def dump(path, fmt, stream=False, env_extra=None):
    args = [DUMP, path, fmt] + (["--stream"] if stream else [])
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run(args, check=True, capture_output=True, text=True, env=env).stdout


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


class Checks:
    def check_prometheus(self, text, call_sites=False):
        fams = families(text)
        # Counters lose _total in the family name; the samples keep it.
        self.assertEqual(fams["xsmem_allocations"].type, "counter")
        self.assertEqual(fams["xsmem_in_use_bytes"].type, "gauge")
        self.assertEqual(fams["xsmem_fragmentation_ratio"].type, "gauge")
        self.assertTrue(fams["xsmem_allocations"].documentation)
        allocs = {s.labels["allocator"]: s.value for s in fams["xsmem_allocations"].samples
                  if s.name == "xsmem_allocations_total"}
        self.assertGreater(allocs["os"], 100)
        tiers = {s.labels["tier"]: s.value for s in fams["xsmem_tier_in_use_bytes"].samples}
        self.assertEqual(set(tiers), {"small", "medium", "large"})
        self.assertEqual(fams["xsmem_tier_allocations"].type, "counter")
        self.assertIn("0", {s.labels["node"] for s in fams["xsmem_node_in_use_bytes"].samples})
        self.assertEqual(fams["xsmem_os_maps"].type, "counter")
        # The demo's provider has a histogram but no tracker: the per-allocator
        # histogram comes from a tracker's detail (configs_test, prometheus_test),
        # and the snapshot's stays in JSON.
        self.assertNotIn("xsmem_alloc_size_bytes", fams)
        sites = {s.labels["site"] for s in fams["xsmem_call_site_live_bytes"].samples} if call_sites else set()
        self.assertEqual(sites, {"parse_records", "build_index", "cache_blobs"} if call_sites else set())
        if not call_sites:
            self.assertNotIn("xsmem_call_site_live_bytes", fams)
        return fams

    def check_snapshot_json(self, obj):
        self.assertEqual(obj["config"], "os")
        names = {a["name"]: a for a in obj["allocators"]}
        self.assertIn("os", names)
        self.assertTrue(names["os"]["process_allocator"])
        self.assertGreater(names["os"]["stats"]["num_allocs"], 100)
        self.assertIn("small", names["demo"]["detail"]["tier"])
        self.assertEqual(obj["analysis_source"], "live_demo")
        self.assertGreater(len(obj["histogram"]), 3)
        self.assertGreater(len(obj["timeline"]), 0)
        self.assertEqual({c["symbol"] for c in obj["call_sites"]},
                         {"parse_records", "build_index", "cache_blobs"})


class FilesTest(unittest.TestCase, Checks):
    def test_exit_snapshot_all_formats(self):
        path = os.path.join(TMP, "exit-%p.pb")
        p = run_demo(1.0, {"XSMEM_SNAPSHOT": path})
        _, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        real = path.replace("%p", str(p.pid))
        self.assertTrue(os.path.exists(real), os.listdir(TMP))
        obj = json.loads(dump(real, "json"))
        self.check_snapshot_json(obj)
        self.assertEqual(obj["pid"], p.pid)
        self.check_prometheus(dump(real, "prometheus"))
        rows = list(csv.DictReader(io.StringIO(dump(real, "csv"))))
        self.assertGreater(len(rows), 0)
        self.assertEqual(list(rows[0].keys()),
                         ["time_ns", "bytes_in_use", "bytes_reserved", "num_allocs", "num_frees",
                          "bytes_committed"])
        # The sampler's points carry memory (committed) apart from address space.
        self.assertTrue(all(int(r["bytes_committed"]) == 0 or int(r["bytes_committed"]) >= int(r["bytes_in_use"])
                            for r in rows), rows[:2])  # 0: an allocator that does not track it
        times = [int(r["time_ns"]) for r in rows]
        self.assertEqual(times, sorted(times))

    def test_periodic_stream(self):
        path = os.path.join(TMP, "series.pb")
        p = run_demo(1.5, {"XSMEM_SNAPSHOT": path, "XSMEM_SNAPSHOT_INTERVAL_MS": "100"})
        _, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        lines = dump(path, "json", stream=True).splitlines()
        self.assertGreaterEqual(len(lines), 6)  # ~14 periodic + the exit one
        snaps = [json.loads(l) for l in lines]
        seqs = [s["sequence"] for s in snaps]
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(len(set(s["pid"] for s in snaps)), 1)
        # A stream whose writer stopped mid-record (killed, disk full): every
        # record before the cut is read, and the cut is reported.
        with open(path, "rb") as f:
            data = f.read()
        cut = os.path.join(TMP, "cut.pb")
        with open(cut, "wb") as f:
            f.write(data[:-3])
        r = subprocess.run([DUMP, cut, "json"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("record cut short; the stream ends there", r.stderr)
        self.assertEqual([json.loads(l)["sequence"] for l in r.stdout.splitlines()], seqs[:-1])
        # A damaged record is refused with its offset; the others are read.
        damaged = bytearray(data)
        damaged[len(data) // 2] ^= 0x10
        with open(cut, "wb") as f:
            f.write(damaged)
        r = subprocess.run([DUMP, cut, "json"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"byte [0-9]+: damaged record( header)? \(checksum mismatch\); refused")
        self.assertEqual(len(r.stdout.splitlines()), len(seqs) - 1)


class HttpTest(unittest.TestCase, Checks):
    @classmethod
    def setUpClass(cls):
        cls.portfile = os.path.join(TMP, "port")
        cls.exit_snap = os.path.join(TMP, "http-exit.pb")
        cls.proc = run_demo(60, {"XSMEM_HTTP": "127.0.0.1:0", "XSMEM_SNAPSHOT": cls.exit_snap,
                                 "XSMEM_ALERT_BYTES_IN_USE": "1k", "XSMEM_METRICS_CALL_SITES": "8"},
                            cls.portfile)
        for _ in range(300):
            if os.path.exists(cls.portfile):
                break
            time.sleep(0.05)
        with open(cls.portfile) as f:
            cls.base = "http://127.0.0.1:%d" % int(f.read())
        time.sleep(0.6)  # a few sampler points

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.communicate(timeout=30)

    def get(self, path, method="GET"):
        req = urllib.request.Request(self.base + path, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def test_metrics(self):
        status, headers, body = self.get("/metrics")
        self.assertEqual(status, 200)
        self.assertIn("version=0.0.4", headers["Content-Type"])
        fams = self.check_prometheus(body.decode(), call_sites=True)
        alerts = {s.labels["allocator"]: s.value for s in fams["xsmem_alert_active"].samples}
        self.assertEqual(alerts["os"], 1.0)  # bytes in use > 1k
        raised = [s for s in fams["xsmem_alerts_raised"].samples if s.labels["allocator"] == "os"]
        self.assertEqual(raised[0].value, 1.0)

    def test_json_api(self):
        status, headers, body = self.get("/api/allocators")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        lst = json.loads(body)
        self.assertIn("demo", [a["name"] for a in lst])
        status, _, body = self.get("/api/stats/demo")
        self.assertEqual(status, 200)
        one = json.loads(body)
        self.assertEqual(one["kind"], "demo")
        self.assertGreater(one["detail"]["tier"]["small"]["allocs"], 0)
        status, _, body = self.get("/api/snapshot.json")
        snap = json.loads(body)
        self.check_snapshot_json(snap)
        active = [a for a in snap["alerts"] if a["active"] and a["allocator"] == "os"]
        self.assertEqual(active[0]["name"], "bytes_in_use")
        self.assertTrue(active[0]["recommendation"])

    def test_protobuf_round_trip(self):
        status, headers, body = self.get("/api/snapshot")
        self.assertEqual(status, 200)
        self.assertIn("application/x-protobuf", headers["Content-Type"])
        path = os.path.join(TMP, "http.pb")
        with open(path, "wb") as f:
            f.write(body)
        self.check_snapshot_json(json.loads(dump(path, "json")))

    def test_csv(self):
        status, _, body = self.get("/api/timeline.csv")
        self.assertEqual(status, 200)
        rows = list(csv.reader(io.StringIO(body.decode())))
        self.assertEqual(rows[0][0], "time_ns")
        self.assertGreater(len(rows), 2)

    def test_cmdline_arguments_hidden(self):
        # The arguments may hold secrets: the program only, unless asked.
        _, _, body = self.get("/api/snapshot.json")
        self.assertEqual(json.loads(body)["cmdline"], DEMO + " [arguments hidden]")

    def test_dns_rebinding_refused(self):
        req = urllib.request.Request(self.base + "/metrics", headers={"Host": "evil.example"})
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        self.assertEqual(e.exception.code, 403)

    def test_bad_requests(self):
        self.assertEqual(self.get("/api/stats/none")[0], 404)
        self.assertEqual(self.get("/nothing/here")[0], 404)
        self.assertEqual(self.get("/metrics", "POST")[0], 405)
        self.assertEqual(self.get("/api/snapshot?format=yaml")[0], 400)
        self.assertEqual(self.get("/metrics")[0], 200)


class EscapingTest(unittest.TestCase):
    """A snapshot's strings are any bytes (nasty_snapshot.py): each format
    escapes them by its own rules and stays valid UTF-8; -Inf, +Inf and NaN
    are written as each format spells them."""

    @classmethod
    def setUpClass(cls):
        cls.path = os.path.join(TMP, "nasty.pb")
        with open(cls.path, "wb") as f:
            f.write(nasty_snapshot.snapshot())

    def test_prometheus(self):
        # dump() decodes stdout as strict UTF-8; the parser takes the page whole
        # (a value of -Inf used to be written "-+Inf", which made it fail).
        fams = families(dump(self.path, "prometheus", env_extra={"XSMEM_METRICS_CALL_SITES": "1"}))
        nasty = nasty_snapshot.NASTY_TEXT
        frag = fams["xsmem_fragmentation_ratio"].samples[0]
        self.assertEqual(frag.value, -math.inf)
        self.assertEqual(frag.labels["allocator"], nasty)
        self.assertEqual(frag.labels["config"], nasty)
        tiers = {s.labels["tier"]: s.value for s in fams["xsmem_tier_in_use_bytes"].samples}
        self.assertEqual(tiers[nasty], math.inf)
        self.assertEqual(tiers["small"], -math.inf)
        self.assertTrue(math.isnan(tiers["large"]))
        site = fams["xsmem_call_site_live_bytes"].samples[0]
        self.assertEqual(site.labels["site"], nasty)  # the symbol, no address
        alert = fams["xsmem_alert_active"].samples[0]
        self.assertEqual((alert.labels["alert"], alert.labels["allocator"]), (nasty, nasty))

    def test_json(self):
        obj = json.loads(dump(self.path, "json"))
        nasty = nasty_snapshot.NASTY_TEXT
        self.assertEqual(obj["cmdline"], nasty)
        self.assertEqual(obj["config"], nasty)
        a = obj["allocators"][0]
        self.assertEqual(a["name"], nasty)
        self.assertIsNone(a["stats"]["fragmentation"])  # JSON has no infinities: null
        self.assertIsNone(a["detail"]["tier"][nasty]["bytes_in_use"])
        self.assertEqual(obj["call_sites"][0]["symbol"], nasty)
        self.assertEqual(obj["leaks"][0]["symbol"], nasty)
        self.assertEqual(obj["alerts"][0]["recommendation"], nasty)

    def test_summary_is_safe_on_a_terminal(self):
        raw = subprocess.run([DUMP, self.path, "summary"], check=True, capture_output=True).stdout
        for bad in (b"\x1b", b"\x07", b"\xc2\x9b", b"\xe2\x80\xae", b"\xff"):
            self.assertNotIn(bad, raw)
        raw.decode("utf-8")
        self.assertIn(rb"config 'evil\x1b[31mRED\x1b]0;title\x07 \xff\xfe \u009b \u202eq", raw)


class HttpTokenTest(unittest.TestCase):
    """XSMEM_HTTP_TOKEN in a live process; XSMEM_HTTP_SHOW_CMDLINE=1."""

    def test_token_and_full_cmdline(self):
        portfile = os.path.join(TMP, "port-token")
        p = run_demo(20, {"XSMEM_HTTP": "127.0.0.1:0", "XSMEM_HTTP_TOKEN": "tok-123",
                          "XSMEM_HTTP_SHOW_CMDLINE": "1"}, portfile)
        try:
            for _ in range(300):
                if os.path.exists(portfile):
                    break
                time.sleep(0.05)
            with open(portfile) as f:
                base = "http://127.0.0.1:%d" % int(f.read())
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(base + "/api/snapshot.json", timeout=10)
            self.assertEqual(e.exception.code, 401)
            req = urllib.request.Request(base + "/api/snapshot.json", headers={"Authorization": "Bearer tok-123"})
            snap = json.loads(urllib.request.urlopen(req, timeout=10).read())
            self.assertEqual(snap["cmdline"], "%s 20 %s" % (DEMO, portfile))
            page = urllib.request.urlopen(base + "/?token=tok-123", timeout=10).read().decode()
            self.assertIn("apiQuery", page)  # the dashboard passes its token on
        finally:
            p.terminate()
            _, err = p.communicate(timeout=30)
        self.assertIn("serves /metrics and the dashboard on port", err)
        self.assertIn("a token is required", err)


class ZExitTest(unittest.TestCase):
    def test_http_process_exits_cleanly_and_writes_snapshot(self):
        # Runs after HttpTest (alphabetical): its process was sent SIGTERM.
        self.assertEqual(HttpTest.proc.returncode, 0)
        obj = json.loads(dump(HttpTest.exit_snap, "json"))
        self.assertEqual(obj["pid"], HttpTest.proc.pid)


if __name__ == "__main__":
    unittest.main(verbosity=2)
