#!/usr/bin/env bash
# tests/gpu/run_on_device.sh: device memory on a machine with a GPU, in a few minutes.
#
# Says what CUDA xsmem finds (device/cuda_info), runs the CUDA-backed tests
# (device/cuda_test: real allocations, copies and stream reuse) and the
# device benchmark (bench/device_bench.c: bfc_cuda's alloc+free pairs against
# cudaMalloc/cudaFree and cudaMallocAsync/cudaFreeAsync, pinned against
# pageable copies, the ML trace replayed on the device), and prints a
# markdown block for bench/RESULTS.md headed with the card's name. Without a
# device every step runs and says why it skipped; the exit status is 0
# unless a test fails.
#
# usage:
#   tests/gpu/run_on_device.sh [OUTPUT.md]
#       builds with ./bazelw, then runs (OUTPUT.md: append the block there too)
#   tests/gpu/run_on_device.sh --prepare DIR
#       builds here and copies the three programs and the trace (uncompressed)
#       into DIR, for a GPU machine without Bazel or network
#   tests/gpu/run_on_device.sh --prebuilt DIR [OUTPUT.md]
#       runs the programs --prepare put in DIR (no build)
# With the workplace's device tool: `tests/gpu/run_on_device.sh --prepare .gpu` here (.gpu
# ignored through .git/info/exclude), then run `tests/gpu/run_on_device.sh --prebuilt .gpu
# $OUT/device.md` there with .gpu carried, and paste $OUT/device.md into bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
trace=bench/traces/ml-steps.trace.xz

build() {
  echo "== building (./bazelw -c opt)"
  ./bazelw build -c opt //device:cuda_info //device:cuda_test //bench:device_bench
}

mode=build bin=bazel-bin
case "${1:-}" in
  --prepare)
    dir="${2:?--prepare DIR}"
    build
    mkdir -p "$dir"
    cp -f bazel-bin/device/cuda_info bazel-bin/device/cuda_test bazel-bin/bench/device_bench "$dir/"
    xz -dc "$trace" >"$dir/ml-steps.trace"
    echo "== $dir: $(ls "$dir" | tr '\n' ' ')"
    exit 0
    ;;
  --prebuilt)
    mode=prebuilt
    bin="${2:?--prebuilt DIR}"
    trace="$bin/ml-steps.trace"
    shift 2
    ;;
esac
out="${1:-}"

if [[ $mode == build ]]; then
  build
  info=bazel-bin/device/cuda_info test=bazel-bin/device/cuda_test bench=bazel-bin/bench/device_bench
else
  info="$bin/cuda_info" test="$bin/cuda_test" bench="$bin/device_bench"
fi

echo "== what xsmem finds"
"$info"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,memory.free --format=csv || true

echo "== CUDA-backed tests"
status=0
"$test" || status=$?  # the benchmark still runs: its figures help explain a failure

echo "== benchmark"
report=$(mktemp)
trap 'rm -f "$report"' EXIT
"$bench" "$trace" | tee "$report"
if [[ -n "$out" ]]; then
  {
    echo
    echo "<!-- tests/gpu/run_on_device.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown) -->"
    cat "$report"
  } >>"$out"
  echo "== appended to $out"
fi
exit "$status"
