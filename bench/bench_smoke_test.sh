#!/bin/bash
# Keeps the bench suite from rotting: every workload once at a tiny scale
# under glibc, the micro benchmarks once briefly, and the driver end to end
# through //bench:run's wrapper (`xsmem bench` with the micro benchmarks):
# an xsmem configuration and glibc, pinned with --cpus, the markdown section
# written; bad --cpus and --lib-env refused before anything runs.
set -euo pipefail
tmp=${TEST_TMPDIR:-$(mktemp -d)}
fail=0
for w in larson xmalloc cache_scratch large_blocks churn pairs pairs_rounds bulk_free random_sizes random_sizes_2t \
         xthread_random thread_loop write_locality producer_consumer large_random; do
  out=$(bench/workloads/$w 0.01) || { echo "FAIL: $w exited with $?"; fail=1; continue; }
  echo "$out"
  case "$out" in
    "$w "*checksum=*peak_rss_kib=*) ;;
    *) echo "FAIL: $w printed an unexpected line"; fail=1 ;;
  esac
done
bench/micro --benchmark_min_time=0.001 --benchmark_filter='BM_(MallocFree/16|Batch1000/64|ReallocGrowth|CrossThreadFree/64)' \
  >"$tmp/micro.txt" 2>&1 || { echo "FAIL: micro"; cat "$tmp/micro.txt"; fail=1; }
# Pinned to the first CPU this test may use (--cpus), as a tracker-overhead run is.
cpu=$(taskset -cp $$ | sed 's/.*: //; s/[-,].*//')
bench/run --allocators default --peers glibc --workloads larson,xmalloc,cache_scratch,large_blocks,churn,pairs \
  --reps 1 --scale 0.01 --micro-min-time 0.001 --cpus "$cpu" --out "$tmp/out" --results "$tmp/results.md" \
  --title smoke >"$tmp/table.txt" 2>"$tmp/runner.err" ||
  { echo "FAIL: bench/run"; cat "$tmp/runner.err"; fail=1; }
cat "$tmp/table.txt"
grep -qF -- "- Every program pinned to CPU $cpu (\`--cpus\`)" "$tmp/results.md" || { echo "FAIL: results lack the pinning"; fail=1; }
grep -qF -- "- Allocators: default (libxsmem_default.so), glibc (no preload)" "$tmp/results.md" ||
  { echo "FAIL: results lack the allocators"; fail=1; }
grep -q "^## .* — smoke$" "$tmp/results.md" || { echo "FAIL: results lack the titled heading"; fail=1; }
for row in "| workload | default | glibc |" "| larson |" "| churn |" "| pairs |" "| large_blocks ¹ |" \
           "| BM_MallocFree/16 |" "| BM_Batch1000/512 ¹ |" "geomean vs glibc" "geomean vs best peer"; do
  grep -qF "$row" "$tmp/results.md" || { echo "FAIL: results lack '$row'"; fail=1; }
done
grep -Eq "^BM_MallocFree/16 +[0-9.]+ +[0-9.]+$" "$tmp/table.txt" && grep -Eq "^BM_MallocFree/16 +[0-9.]+x +1\.00x$" "$tmp/table.txt" ||
  { echo "FAIL: the table lacks the micro benchmarks"; fail=1; }
# A CPU list naming a CPU this process may not use is refused.
if bench/run --peers glibc --cpus 100000 --out "$tmp/never" >/dev/null 2>"$tmp/cpus.err" ||
   ! grep -q "not available here" "$tmp/cpus.err"; then
  echo "FAIL: --cpus with an unavailable CPU was not refused"; cat "$tmp/cpus.err"; fail=1
fi
# An environment for an allocator the command does not compare is refused, by name.
if bench/run --peers glibc --lib-env nosuch:XSMEM_TRACK=full --out "$tmp/never" >/dev/null 2>"$tmp/env.err" ||
   ! grep -q "names 'nosuch', which is none of the allocators compared" "$tmp/env.err"; then
  echo "FAIL: --lib-env for an unknown allocator was not refused"; cat "$tmp/env.err"; fail=1
fi
[ ! -e "$tmp/never" ] || { echo "FAIL: outputs started after a usage error"; fail=1; }
exit $fail
