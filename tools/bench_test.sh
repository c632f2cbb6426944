#!/usr/bin/env bash
# `xsmem bench` on a small scale (built-in workloads and the suite's churn): the ratio table (the baseline's own ratios
# are 1.00x), the text and HTML files, and unknown names refused.
set -euo pipefail
r=${TEST_SRCDIR:-$0.runfiles}/xsmem
tmp=${TEST_TMPDIR:-$(mktemp -d)}
fail() { echo "FAIL: $*" >&2; exit 1; }
"$r/tools/xsmem" bench --allocators glibc,default,bfc --workloads small,mixed,threads,churn --reps 1 --scale 0.25 \
  --out "$tmp/b" > "$tmp/table.txt"
cat "$tmp/table.txt"
grep -q "ratios to glibc" "$tmp/table.txt" || fail "no header"
for w in small mixed threads churn; do
  grep -Eq "^$w +1\.00x t  1\.00x m +[0-9]+\.[0-9]+x t +[0-9]+\.[0-9]+x m +[0-9]+\.[0-9]+x t" "$tmp/table.txt" ||
    fail "row $w"
done
[ -s "$tmp/b/bench.txt" ] && [ -s "$tmp/b/bench.html" ] || fail "outputs missing"
cmp -s "$tmp/table.txt" "$tmp/b/bench.txt" || fail "bench.txt differs from the printed table"
[ "$(grep -o '<rect' "$tmp/b/bench.html" | wc -l)" -ge 15 ] || fail "chart bars"
set +e
"$r/tools/xsmem" bench --allocators glibc,nope --out "$tmp/c" 2>"$tmp/err"; rc1=$?
"$r/tools/xsmem" bench --workloads nope --out "$tmp/c" 2>>"$tmp/err"; rc2=$?
set -e
[ $rc1 = 2 ] && [ $rc2 = 2 ] || fail "unknown names: $rc1 $rc2"
grep -q "unknown configuration 'nope'" "$tmp/err" && grep -q "unknown workload 'nope'" "$tmp/err" || fail "messages"
[ ! -e "$tmp/c/bench.txt" ] || fail "written after a usage error"
echo PASS
