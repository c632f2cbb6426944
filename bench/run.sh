#!/bin/bash
# `./bazelw run //bench:run -- [run_bench.py options]`: the bench suite with the
# programs and libraries Bazel built (BUILD.bazel passes their paths).
set -euo pipefail
exec /usr/bin/python3 bench/run_bench.py "$@"
