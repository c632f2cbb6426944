#!/bin/bash
# export/series_test.sh: a running tracked program (default_tracked, with
# XSMEM_TRACK=sample and =full, under a steady load) shows the same set of
# series (names and label sets) in two scrapes 3 s apart: no label value that
# changes as the program runs (timeline points, call-site ranks or addresses,
# chunk addresses). Before issue 22, two scrapes 5 s apart had 117 series gone
# and 110 new.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
TMP="${TEST_TMPDIR:-$(mktemp -d)}"
source "$HERE/testing/serve.sh"
LIB="$HERE/libxsmem_default_tracked_export.so"
modes=(sample full) pids=() ports=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
for mode in "${modes[@]}"; do
  serve "$LIB" "$mode" XSMEM_TRACK="$mode"
  pids+=("$SERVED_PID") ports+=("$SERVED_PORT")
done
sleep 1  # past start-up: the load's size classes are all in use
for i in "${!modes[@]}"; do scrape "${ports[$i]}" >"$TMP/${modes[$i]}.1"; done
sleep 3
for i in "${!modes[@]}"; do scrape "${ports[$i]}" >"$TMP/${modes[$i]}.2"; done
status=0
for mode in "${modes[@]}"; do
  /usr/bin/python3 - "$TMP/$mode.1" "$TMP/$mode.2" "$mode" <<'PYEOF' || status=1
import sys
from prometheus_client.parser import text_string_to_metric_families

def series(path):
    out = set()
    for fam in text_string_to_metric_families(open(path).read()):
        for s in fam.samples:
            out.add((s.name, tuple(sorted(s.labels.items()))))
    return out

a, b, mode = series(sys.argv[1]), series(sys.argv[2]), sys.argv[3]
gone, new = sorted(a - b), sorted(b - a)
if gone or new:
    print("FAIL: XSMEM_TRACK=%s: %d series gone, %d new between scrapes 3 s apart" % (mode, len(gone), len(new)))
    for s in gone[:10]:
        print("  gone", s)
    for s in new[:10]:
        print("  new ", s)
    sys.exit(1)
assert any(n == "xsmem_request_size_bytes_bucket" for n, _ in a), "no histogram: is tracking on?"
print("ok: XSMEM_TRACK=%s: the same %d series in both scrapes" % (mode, len(a)))
PYEOF
done
exit $status
