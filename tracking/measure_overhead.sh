#!/usr/bin/env bash
# Overhead of tracking on the bench workloads, through the malloc shim:
# each workload runs under LD_PRELOAD of the untracked and the tracked
# preload library with XSMEM_TRACK=off|sample|full, interleaved over ROUNDS
# rounds; prints the median wall and CPU (user+sys) seconds and the ratios.
# Usage: tracking/measure_overhead.sh [ROUNDS] [BASE_CONFIG] [WORKLOAD] [SCALE]
#   BAZEL_OUTPUT_BASE selects the output base to build in.
set -euo pipefail
rounds=${1:-3}
base=${2:-system}
workload=${3:-larson}
scale=${4:-0.2}
ob=${BAZEL_OUTPUT_BASE:+--output_base=$BAZEL_OUTPUT_BASE}
cd "$(dirname "$0")/.."
./bazelw $ob build //bench/workloads:$workload //allocators:libxsmem_$base.so \
  //allocators:libxsmem_${base}_tracked.so >/dev/null 2>&1
bin=$(./bazelw $ob info bazel-bin 2>/dev/null)
prog=$bin/bench/workloads/$workload
variants=("untracked:$bin/allocators/libxsmem_$base.so:off"
          "off:$bin/allocators/libxsmem_${base}_tracked.so:off"
          "sample:$bin/allocators/libxsmem_${base}_tracked.so:sample"
          "sample+guard:$bin/allocators/libxsmem_${base}_tracked.so:sample:5000"
          "full:$bin/allocators/libxsmem_${base}_tracked.so:full")
declare -A wall cpu
for ((r = 0; r < rounds; r++)); do
  for v in "${variants[@]}"; do
    IFS=: read -r name lib mode guard <<<"$v"
    t=$( { TIMEFORMAT='%R %U %S'; time env LD_PRELOAD="$lib" XSMEM_TRACK="$mode" \
           XSMEM_GUARD_SAMPLE_RATE="${guard:-0}" "$prog" "$scale" >/dev/null; } 2>&1 | tail -1)
    read -r real user sys <<<"$t"
    wall[$name]+="$real "
    cpu[$name]+="$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}') "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
b_wall=$(median <<<"${wall[untracked]}")
b_cpu=$(median <<<"${cpu[untracked]}")
echo "| $workload ($base, scale $scale, median of $rounds) | wall s | CPU s | wall ratio | CPU ratio |"
echo "|---|---|---|---|---|"
for v in "${variants[@]}"; do
  name=${v%%:*}
  w=$(median <<<"${wall[$name]}")
  c=$(median <<<"${cpu[$name]}")
  printf '| %s | %s | %s | %.2f | %.2f |\n' "$name" "$w" "$c" "$(awk -v a="$w" -v b="$b_wall" 'BEGIN {print a / b}')" "$(awk -v a="$c" -v b="$b_cpu" 'BEGIN {print a / b}')"
done
