#!/bin/bash
# export/preload_test.sh: the exporter preloaded into real programs
# (libxsmem_os_export.so = the `os` configuration + //export:runtime).
#  1. python3 with XSMEM_SNAPSHOT=%p: the exit snapshot names python's pid and
#     counts its allocations.
#  2. sleep with XSMEM_HTTP=127.0.0.1:0: /metrics parses with prometheus_client;
#     the process still exits 0 (the server stops cleanly at exit).
#  3. python3 forking a child that exits normally: only the parent (which
#     started the exporter) writes the snapshot.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
TMP="${TEST_TMPDIR:-$(mktemp -d)}"
LIB="$HERE/libxsmem_os_export.so"
DUMP="$HERE/xsmem_snapshot_dump"
PY=/usr/bin/python3

LD_PRELOAD="$LIB" XSMEM_SNAPSHOT="$TMP/py-%p.pb" $PY -c '
import os
d = {i: str(i) * 3 for i in range(100000)}
open(os.environ["TEST_TMPDIR"] + "/py.pid", "w").write(str(os.getpid()))' 
PID="$(cat "$TMP/py.pid")"
"$DUMP" "$TMP/py-$PID.pb" json | $PY -c '
import json, sys
o = json.load(sys.stdin)
assert o["pid"] == int(sys.argv[1]), o["pid"]
assert o["config"] == "os", o["config"]
assert "python3" in o["cmdline"], o["cmdline"]
a = [x for x in o["allocators"] if x["process_allocator"]][0]
assert a["stats"]["num_allocs"] > 1000, a["stats"]
print("ok: python3 exit snapshot,", a["stats"]["num_allocs"], "allocations")' "$PID"

LD_PRELOAD="$LIB" XSMEM_HTTP=127.0.0.1:0 XSMEM_VERBOSE=1 sleep 3 2>"$TMP/sleep.err" &
SLEEP=$!
for _ in $(seq 100); do grep -q "on port" "$TMP/sleep.err" && break; sleep 0.05; done
PORT="$(sed -n 's/.*on port \([0-9]*\).*/\1/p' "$TMP/sleep.err")"
$PY - "$PORT" <<'PYEOF'
import sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
body = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=10).read().decode()
fams = {f.name: f for f in text_string_to_metric_families(body)}
s = [x for x in fams["xsmem_num_allocs"].samples if x.labels["allocator"] == "os"]
assert s and s[0].value > 0, s
print("ok: /metrics of a preloaded sleep,", int(s[0].value), "allocations")
PYEOF
wait "$SLEEP"
echo "ok: preloaded sleep exited 0 with the server running"

# The child outlives the parent, so without the owner check its exit would
# overwrite the parent's file (same expanded path) with its own pid.
LD_PRELOAD="$LIB" XSMEM_SNAPSHOT="$TMP/fork-%p.pb" $PY -c '
import os, sys, time
tmp = os.environ["TEST_TMPDIR"]
pid = os.fork()
if pid == 0:
    time.sleep(0.5)
    x = [bytearray(100) for _ in range(1000)]
    sys.exit(0)
open(tmp + "/child.pid", "w").write(str(pid))
open(tmp + "/parent.pid", "w").write(str(os.getpid()))'
CHILD="$(cat "$TMP/child.pid")"
while kill -0 "$CHILD" 2>/dev/null; do sleep 0.05; done
PARENT="$(cat "$TMP/parent.pid")"
ls "$TMP"/fork-*.pb
[ "$(ls "$TMP"/fork-*.pb | wc -l)" = 1 ] || { echo "FAIL: more than one snapshot after fork"; exit 1; }
"$DUMP" "$TMP/fork-$PARENT.pb" json | $PY -c '
import json, sys
assert json.load(sys.stdin)["pid"] == int(sys.argv[1])
print("ok: only the parent wrote its snapshot after fork")' "$PARENT"
