#!/bin/bash
# Replays the traces through several configurations, interleaved over rounds,
# and prints one markdown row per run (the rows of bench/RESULTS.md).
#   bench/replay_compare.sh [rounds] [configs...]      (default: 3 rounds, system os bfc pool)
# Environment: BAZEL_OUTPUT_BASE (optional, for ./bazelw --output_base), TRACES (files;
# default: the synthetic ML trace and ../shared/traces/python-ast.trace.xz when present).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
shift || true
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(system os bfc pool)
base=()
[ -n "${BAZEL_OUTPUT_BASE:-}" ] && base=(--output_base="$BAZEL_OUTPUT_BASE")
./bazelw "${base[@]}" build -c opt //bench:replay >&2
bin=$(./bazelw "${base[@]}" info -c opt bazel-bin 2>/dev/null)/bench/replay
traces=${TRACES:-"bench/traces/ml-steps.trace.xz ../shared/traces/python-ast.trace.xz"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "| trace | configuration | operations | peak requested MiB | peak in use MiB | max reserved MiB | reserved / peak requested | reserved / peak in use | peak RSS MiB | ns/op |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for trace in $traces; do
  [ -f "$trace" ] || { echo "skipping $trace (not found)" >&2; continue; }
  name=$(basename "$trace" .trace.xz)
  xz -dc "$trace" >"$tmp/t"
  # Sample the stats after every operation on small traces, every 1024 on large ones.
  sample=1
  [ "$(wc -l <"$tmp/t")" -gt 500000 ] && sample=1024
  for ((r = 0; r < rounds; r++)); do
    for c in "${configs[@]}"; do
      # The os configuration maps every block: skip it on traces with millions of operations.
      [ "$c" = os ] && [ "$sample" -gt 1 ] && continue
      echo -n "| $name "
      "$bin" --config="$c" --trace="$tmp/t" --sample="$sample" --markdown
    done
  done
done
