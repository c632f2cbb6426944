#!/usr/bin/env bash
# tests/gpu/run_on_device.sh: device memory on a machine with a GPU, in a few minutes.
#
# Builds what it needs with ./bazelw, says what CUDA xsmem finds, runs the
# CUDA-backed tests (device/cuda_test: real allocations, copies and stream
# reuse) and the device benchmark (bench/device_bench.c), and prints a
# markdown block for bench/RESULTS.md headed with the card's name.
# Without a device every step runs and says why it skipped; exit 0.
#
# usage: tests/gpu/run_on_device.sh [OUTPUT.md]   (default: stdout only)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-}"
export CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"

echo "== building (./bazelw -c opt)"
./bazelw build -c opt //device:cuda_info //bench:device_bench //device:cuda_test

echo "== what xsmem finds"
bazel-bin/device/cuda_info

echo "== CUDA-backed tests"
./bazelw test -c opt --test_output=all --test_env=CUDA_HOME="$CUDA_HOME" //device:cuda_test 2>&1 |
  grep -E "^\[|SKIPPED|no device|no CUDA|CUDA ready|PASSED|FAILED" || true

echo "== benchmark"
report=$(mktemp)
trap 'rm -f "$report"' EXIT
bazel-bin/bench/device_bench bench/traces/ml-steps.trace.xz | tee "$report"
if [[ -n "$out" ]]; then
  {
    echo
    echo "<!-- tests/gpu/run_on_device.sh, $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown) -->"
    cat "$report"
  } >>"$out"
  echo "== appended to $out"
fi
