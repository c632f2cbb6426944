#!/bin/bash
# Replays the synthetic ML trace through each configuration: every block is freed,
# nothing fails, and the peak of requested bytes is the trace's own (331 MiB).
set -euo pipefail
replay=bench/replay
trace=bench/traces/ml-steps.trace.xz
for config in system bfc pool; do
  out=$(xz -dc "$trace" | "$replay" --config="$config")
  echo "$out"
  grep -q "failed=0 malformed=0" <<<"$out"
  grep -q "allocs=57996 frees=57996" <<<"$out"
  grep -q "peak_requested=347292416 " <<<"$out"
done
# A configuration that is not linked in is refused.
if "$replay" --config=no-such </dev/null 2>/dev/null; then exit 1; fi
echo PASS
