#!/bin/bash
# Keeps the bench suite from rotting: every workload once at a tiny scale
# under glibc, the micro benchmarks once briefly, and the runner end to end.
set -euo pipefail
tmp=${TEST_TMPDIR:-$(mktemp -d)}
fail=0
for w in larson xmalloc cache_scratch large_blocks churn pairs pairs_rounds; do
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
cpu=$(/usr/bin/python3 -c 'import os; print(min(os.sched_getaffinity(0)))')
/usr/bin/python3 bench/run_bench.py --bin-dir bench/workloads --micro bench/micro --peers glibc --reps 1 \
  --scale 0.01 --micro-min-time 0.001 --cpus "$cpu" --out "$tmp/results.md" >/dev/null 2>"$tmp/runner.err" ||
  { echo "FAIL: run_bench.py"; cat "$tmp/runner.err"; fail=1; }
grep -qF -- "- Every program pinned to CPU $cpu" "$tmp/results.md" || { echo "FAIL: results lack the pinning"; fail=1; }
# A CPU list naming a CPU this process may not use is refused.
if /usr/bin/python3 bench/run_bench.py --bin-dir bench/workloads --peers glibc --cpus 100000 >/dev/null 2>"$tmp/cpus.err" ||
   ! grep -q "not available here" "$tmp/cpus.err"; then
  echo "FAIL: --cpus with an unavailable CPU was not refused"; cat "$tmp/cpus.err"; fail=1
fi
# An environment for a configuration the command does not preload is refused, by name.
if /usr/bin/python3 bench/run_bench.py --bin-dir bench/workloads --micro bench/micro --peers glibc \
     --lib-env nosuch:XSMEM_TRACK=full >/dev/null 2>"$tmp/env.err" ||
   ! grep -q "no --lib defines" "$tmp/env.err"; then
  echo "FAIL: --lib-env for an unknown configuration was not refused"; cat "$tmp/env.err"; fail=1
fi
for row in "| larson |" "| churn |" "| BM_MallocFree/16 |" "geomean vs glibc"; do
  grep -qF "$row" "$tmp/results.md" || { echo "FAIL: results lack '$row'"; fail=1; }
done
exit $fail
