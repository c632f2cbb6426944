#!/usr/bin/env bash
# Runs a real program (python3 over tools/demo_workload.py) under an xsmem
# configuration preloaded as its malloc, checks its output against a run on
# glibc, and prints the configuration's statistics.
#   ./bazelw run //tools:demo -- [CONFIG] [-- COMMAND ARGS...]
set -euo pipefail
config=${1:-system}
shift || true
[ "${1:-}" = "--" ] && shift
here=$(cd "$(dirname "$0")" && pwd)
runfiles=${RUNFILES_DIR:-$0.runfiles}
lib=$(find -L "$runfiles" -name "libxsmem_${config}.so" -print -quit 2>/dev/null)
if [ -z "$lib" ]; then
  echo "demo: no configuration '$config'; available:" >&2
  find -L "$runfiles" -name 'libxsmem_*.so' | sed 's/.*libxsmem_\(.*\)\.so/  \1/' | sort >&2
  exit 2
fi
workload=$(find -L "$runfiles" -name demo_workload.py -print -quit)
if [ $# -eq 0 ]; then set -- /usr/bin/python3 "$workload"; fi

echo "== $* on glibc"
start=$EPOCHREALTIME
expected=$("$@")
t0=$(awk "BEGIN{print $EPOCHREALTIME - $start}")
echo "$expected"
echo "== $* with libxsmem_${config}.so preloaded"
start=$EPOCHREALTIME
actual=$(XSMEM_STATS_AT_EXIT=1 LD_PRELOAD="$lib" "$@")
t1=$(awk "BEGIN{print $EPOCHREALTIME - $start}")
echo "$actual"
if [ "$actual" != "$expected" ]; then
  echo "demo: OUTPUT DIFFERS under '$config'" >&2
  exit 1
fi
printf '== same output; %.2f s on glibc, %.2f s on %s\n' "$t0" "$t1" "$config"
