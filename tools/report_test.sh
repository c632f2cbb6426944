#!/usr/bin/env bash
# `xsmem report` over recorded snapshots (tools/testdata: python3 under
# system_tracked with 12 blocks of 4096+i bytes kept through ctypes, and the
# demo workload under bfc as a stream of snapshots): the page is
# self-contained and every section carries the recorded figures.
set -euo pipefail
r=${TEST_SRCDIR:-$0.runfiles}/xsmem
tmp=${TEST_TMPDIR:-$(mktemp -d)}
"$r/tools/xsmem" report "$r/tools/testdata/leaky_python.pb" "$r/tools/testdata/bfc_python.pb" -o "$tmp/r.html"
/usr/bin/python3 "$r/tools/report_check.py" "$tmp/r.html"
# One snapshot alone: no comparison table.
"$r/tools/xsmem" report "$r/tools/testdata/bfc_python.pb" -o "$tmp/one.html"
! grep -q "Comparison" "$tmp/one.html"
grep -q "Fragmentation map" "$tmp/one.html"
echo PASS
