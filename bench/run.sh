#!/bin/bash
# `./bazelw run //bench:run -- [xsmem bench options]`: the bench suite, run
# by `xsmem bench` (tools/bench.c, `xsmem bench --help`) with the suite's
# defaults: BUILD.bazel passes the configurations and peers to compare and
# the workloads, this script the micro benchmark binary and, under `bazel
# run`, bench/RESULTS.md in the workspace for the markdown section. Options
# after `--` override those (--allocators, --workloads, --results ...) or add
# to them (--lib, --lib-env).
set -euo pipefail
runfiles=${RUNFILES_DIR:-$0.runfiles}
# xsmem finds the preload libraries and the workload programs in these runfiles.
export RUNFILES_DIR=$runfiles
results=()
if [ -n "${BUILD_WORKSPACE_DIRECTORY:-}" ]; then
  results=(--results "$BUILD_WORKSPACE_DIRECTORY/bench/RESULTS.md")
fi
exec "$runfiles/xsmem/tools/xsmem" bench --micro "$runfiles/xsmem/bench/micro" "${results[@]}" "$@"
