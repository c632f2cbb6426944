#!/bin/bash
# What CI runs in this workspace (.ci/run), as a user of xsmem would: every
# target built and tested in Bazel's default compilation mode (fastbuild),
# then two checks that the allocator is not an -O0 build there:
#   - every compile of xsmem's own C code carries -O2 (copts.bzl);
#   - the malloc+free pair (pair_bench) times within 1.2x of the same program
#     built with -c opt (reported; the run fails only past 1.5x, since this
#     VM's noise is 10-25%, where an -O0 allocator measured 4x).
set -euo pipefail
cd "$(dirname "$0")"
bazel=../../bazelw

$bazel build //...
$bazel test //...

echo "-- xsmem's C code is optimized in fastbuild"
$bazel aquery 'mnemonic("CppCompile", deps(//:pair_bench))' --output=jsonproto 2>/dev/null | python3 -c '
import json, sys
actions = json.load(sys.stdin).get("actions", [])
ours = [a for a in actions if any(x.endswith(".c") and x.startswith("external/xsmem/") for x in a["arguments"])]
slow = [next(x for x in a["arguments"] if x.endswith(".c")) for a in ours if "-O2" not in a["arguments"]]
print("%d compiles of xsmem C files, %d without -O2" % (len(ours), len(slow)))
sys.exit(1 if slow or not ours else 0)
'

echo "-- malloc+free pair: fastbuild against -c opt"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$bazel build //:pair_bench && cp bazel-bin/pair_bench "$tmp/fastbuild"
$bazel build -c opt //:pair_bench && cp bazel-bin/pair_bench "$tmp/opt"
best() { sort -n | head -1; }
for round in 1 2 3; do
  for mode in fastbuild opt; do "$tmp/$mode" | awk '{print $1}' >>"$tmp/$mode.ns"; done
done
fast=$(best <"$tmp/fastbuild.ns") opt=$(best <"$tmp/opt.ns")
ratio=$(python3 -c "print('%.2f' % ($fast / $opt))")
echo "fastbuild $fast ns, -c opt $opt ns per pair: ratio $ratio (target <= 1.2)"
python3 -c "import sys; sys.exit(0 if $fast / $opt <= 1.5 else 1)" || { echo "FAIL: fastbuild pair over 1.5x -c opt"; exit 1; }
