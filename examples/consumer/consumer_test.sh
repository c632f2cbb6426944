#!/bin/bash
# Runs the consumer's programs and xsmem's command line, all built through @xsmem.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }

# Each output is kept whole before it is searched (grep -q would close the pipe early).
expect() {  # expect WHAT PATTERN COMMAND...: runs COMMAND, shows its output, requires PATTERN in it
  local what=$1 pattern=$2 out
  shift 2
  out=$("$@") || fail "$what exited with $?"
  head -5 <<<"$out"
  grep -q "$pattern" <<<"$out" || fail "$what: no '$pattern' in its output"
}
expect pool_app "served by configuration 'pool'" ./pool_app
./pool_app --json | python3 -c '
import json, sys
doc = json.load(sys.stdin)
assert doc["allocator"] == "pool" and doc["stats"]["num_allocs"] >= 1000, doc["stats"]
print("pool_app --json: %d allocations, %d detail figures" % (doc["stats"]["num_allocs"], len(doc["detail"])))
' || fail "pool_app --json"
expect bfc_numa_app "configuration 'bfc_numa'" ./bfc_numa_app

# xsmem itself, built from this workspace.
xsmem=$(find -L . -path '*tools/xsmem' -type f -print -quit)
[ -n "$xsmem" ] || fail "no xsmem binary in the runfiles"
expect "xsmem list" "bfc_numa" "$xsmem" list

# /metrics from a running program that links //export:runtime.
log=$TEST_TMPDIR/metrics.log
exec 3> >(XSMEM_HTTP=127.0.0.1:0 ./metrics_app >"$TEST_TMPDIR/out" 2>"$log")
for _ in $(seq 100); do grep -q ready "$TEST_TMPDIR/out" 2>/dev/null && grep -qE 'port [0-9]+|:[0-9]+' "$log" && break; sleep 0.1; done
port=$(grep -oE '127\.0\.0\.1:[0-9]+' "$log" | head -1 | cut -d: -f2)
[ -n "$port" ] || { cat "$log" >&2; fail "metrics_app did not say its port"; }
python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$port/metrics').read().decode())" >"$TEST_TMPDIR/metrics"
exec 3>&-
grep -m3 '^xsmem_' "$TEST_TMPDIR/metrics" >&2
grep -q 'allocator="default"' "$TEST_TMPDIR/metrics" || fail "/metrics has no series of the default allocator"
echo "consumer_test: ok"
