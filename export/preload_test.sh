#!/bin/bash
# export/preload_test.sh: the exporter preloaded into real programs
# (libxsmem_os_export.so = the `os` configuration + //export:runtime).
#  1. python3 with XSMEM_SNAPSHOT=%p: the exit snapshot names python's pid and
#     counts its allocations.
#  2. sleep with XSMEM_HTTP=127.0.0.1:0: /metrics parses with prometheus_client;
#     the process still exits 0 (the server stops cleanly at exit).
#  3. python3 forking a child that exits normally: only the parent (which
#     started the exporter) writes the snapshot.
#  4. XSMEM_HTTP inherited by children (a wrapper's program, pyenv's shims): the
#     first process serves and says its pid and port; its children stay quiet
#     (they each printed "cannot serve ... errno 98"), or with
#     XSMEM_HTTP_CHILDREN=next serve on the next free port and say so; an
#     unrelated process on a taken port names the error.
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

# Port 0: the chosen port is printed without XSMEM_VERBOSE.
LD_PRELOAD="$LIB" XSMEM_HTTP=127.0.0.1:0 sleep 3 2>"$TMP/sleep.err" &
SLEEP=$!
for _ in $(seq 100); do grep -q "on port" "$TMP/sleep.err" 2>/dev/null && break; sleep 0.05; done
grep -q "^xsmem: pid $SLEEP (sleep) serves /metrics and the dashboard on port [0-9]*: http://127.0.0.1:[0-9]*/$" "$TMP/sleep.err" ||
  { echo "FAIL: no 'pid $SLEEP serves' line: $(cat "$TMP/sleep.err")"; exit 1; }
PORT="$(sed -n 's/.*on port \([0-9]*\).*/\1/p' "$TMP/sleep.err")"
$PY - "$PORT" <<'PYEOF'
import sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
body = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=10).read().decode()
fams = {f.name: f for f in text_string_to_metric_families(body)}
s = [x for x in fams["xsmem_allocations"].samples if x.labels["allocator"] == "os"]
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

# Children inherit XSMEM_HTTP: the parent serves (one line), its children
# stay quiet and do not fail.
LD_PRELOAD="$LIB" XSMEM_HTTP=127.0.0.1:0 $PY -c '
import subprocess, sys
for _ in range(3):
    subprocess.run([sys.executable, "-c", "pass"], check=True)
subprocess.run(["/bin/sh", "-c", "/bin/true"], check=True)' 2>"$TMP/kids.err"
cat "$TMP/kids.err"
[ "$(grep -c "serves /metrics" "$TMP/kids.err")" = 1 ] || { echo "FAIL: not exactly one server"; exit 1; }
! grep -q "cannot serve\|errno" "$TMP/kids.err" || { echo "FAIL: a child complained"; exit 1; }
echo "ok: children that inherit XSMEM_HTTP stay quiet"

# A fixed port and XSMEM_HTTP_CHILDREN=next: the child serves on the next free
# port and says so, and answers there with its own pid.
P="$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
LD_PRELOAD="$LIB" XSMEM_HTTP=127.0.0.1:$P XSMEM_HTTP_CHILDREN=next $PY - "$P" 2>"$TMP/next.err" <<'PYEOF'
import json, os, subprocess, sys, urllib.request
base = int(sys.argv[1])
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3)"], stderr=subprocess.PIPE, text=True)
line = child.stderr.readline()
sys.stderr.write("child: " + line)
assert ("pid %d (python3) serves" % child.pid) in line, line
assert ("(127.0.0.1:%d is pid %d's, whose XSMEM_HTTP it inherited)" % (base, os.getpid())) in line, line
port = int(line.split(" on port ")[1].split(":")[0])
assert base < port <= base + 64, (base, port)
snap = json.load(urllib.request.urlopen("http://127.0.0.1:%d/api/snapshot.json" % port, timeout=10))
assert snap["pid"] == child.pid, snap["pid"]
mine = json.load(urllib.request.urlopen("http://127.0.0.1:%d/api/snapshot.json" % base, timeout=10))
assert mine["pid"] == os.getpid(), mine["pid"]
child.kill()
child.wait()
PYEOF
cat "$TMP/next.err"
grep -q "^xsmem: pid [0-9]* (python3) serves /metrics and the dashboard on port $P: " "$TMP/next.err" || { echo "FAIL: parent line"; exit 1; }
echo "ok: XSMEM_HTTP_CHILDREN=next serves a child on the next port"

# An unrelated process on a taken port: the error by name, not by number.
LD_PRELOAD="$LIB" XSMEM_HTTP=127.0.0.1:$P sleep 2 2>"$TMP/first.err" &
FIRST=$!
for _ in $(seq 100); do grep -q "on port" "$TMP/first.err" 2>/dev/null && break; sleep 0.05; done
LD_PRELOAD="$LIB" XSMEM_HTTP=127.0.0.1:$P /bin/true 2>"$TMP/second.err"
wait "$FIRST"
grep -q "^xsmem: cannot serve HTTP on 127.0.0.1:$P: Address already in use$" "$TMP/second.err" ||
  { echo "FAIL: taken port: $(cat "$TMP/second.err")"; exit 1; }
echo "ok: a taken port is reported by name"
