#!/usr/bin/env bash
# `xsmem report` over recorded snapshots (tools/testdata: python3 under
# system_tracked with 12 blocks of 4096+i bytes kept through ctypes, and the
# demo workload under bfc as a stream of snapshots, bfc_numa over two fake
# nodes with the threads workload): the page is
# self-contained and every section carries the recorded figures.
set -euo pipefail
r=${TEST_SRCDIR:-$0.runfiles}/xsmem
tmp=${TEST_TMPDIR:-$(mktemp -d)}
"$r/tools/xsmem" report "$r/tools/testdata/leaky_python.pb" "$r/tools/testdata/bfc_python.pb" -o "$tmp/r.html"
/usr/bin/python3 "$r/tools/report_check.py" "$tmp/r.html"
# bfc_numa on two fake nodes (the threads workload): a bar per node, in use over reserved.
"$r/tools/xsmem" report "$r/tools/testdata/bfc_numa_threads.pb" -o "$tmp/numa.html"
/usr/bin/python3 - "$tmp/numa.html" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
svg = re.search(r'<svg[^>]*aria-label="node".*?</svg>', src, re.S).group(0)
nodes = re.findall(r'text-anchor="end" fill="#334155">(\d+)</text>', svg)
assert nodes == ["0", "1"], nodes
assert len(re.findall(r"<title>in use [\d.]+ (?:B|KiB|MiB)</title>", svg)) == 2, svg
assert len(re.findall(r"<title>reserved \(rest\) 4\.0 MiB</title>", svg)) == 2, svg
assert "No per-node figures" not in src
PY
# One snapshot alone: no comparison table.
"$r/tools/xsmem" report "$r/tools/testdata/bfc_python.pb" -o "$tmp/one.html"
! grep -q "Comparison" "$tmp/one.html"
grep -q "Fragmentation map" "$tmp/one.html"
echo PASS
