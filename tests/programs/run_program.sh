#!/bin/bash
# Runs one real program twice, without and with an xsmem library preloaded,
# and fails unless both runs succeed and print the same output, and the
# preloaded run was really served by the configuration (XSMEM_VERBOSE says so).
#
# usage: run_program.sh PROGRAM LIBRARY CONFIG
#   PROGRAM   python | perl | sqlite | gcc | mt
#   LIBRARY   path of libxsmem_CONFIG.so (absolute, or relative to the runfiles)
#   CONFIG    the configuration's name
# PROGRAM_SCALE (default 1) shrinks or grows the inputs (slow configurations
# get smaller ones: see BUILD.bazel).
set -euo pipefail

program=$1
lib=$2
config=$3
scale=${PROGRAM_SCALE:-1}
here=$(dirname "$0")
[ -f "$here/workload.py" ] || here=tests/programs
case "$lib" in /*) ;; *) lib="$PWD/$lib" ;; esac
[ -f "$lib" ] || { echo "no library at $lib" >&2; exit 1; }
tmp=${TEST_TMPDIR:-$(mktemp -d)}

# Runs the workload once; $1 is the label of the run (files in $tmp use it).
workload() {
  local label=$1
  case "$program" in
    python) /usr/bin/python3 -I "$here/workload.py" "$scale" ;;
    perl) /usr/bin/perl "$here/workload.pl" "$scale" ;;
    sqlite)
      rm -f "$tmp/$label.db"*
      local rows
      rows=$(awk -v s="$scale" 'BEGIN { r = int(20000 * s); if (r < 100) r = 100; print r }')
      { echo ".parameter set @rows $rows"; cat "$here/workload.sql"; } | /usr/bin/sqlite3 "$tmp/$label.db"
      ;;
    gcc)
      # The generated assembly is part of the output: the compiler must
      # produce the same code whatever serves its malloc.
      # produce the same code whatever serves its malloc. Small scales
      # compile without optimisation (cc1 then allocates half as often).
      local opt=-O2
      if awk -v s="$scale" 'BEGIN { exit !(s < 0.5) }'; then opt=-O0; fi
      /usr/bin/gcc $opt -Wall -Wextra -S -o "$tmp/$label.s" "$here/compile_me.c"
      /usr/bin/gcc -o "$tmp/$label.bin" "$tmp/$label.s"
      "$tmp/$label.bin"
      md5sum <"$tmp/$label.s"
      ;;
    mt)
      local bin="$here/mt_workload"
      "$bin" "$scale"
      ;;
    *)
      echo "unknown program $program" >&2
      return 2
      ;;
  esac
}

start=$(date +%s.%N)
if ! workload plain >"$tmp/plain.out" 2>"$tmp/plain.err"; then
  echo "FAIL: $program failed without any preload" >&2
  cat "$tmp/plain.err" >&2
  exit 1
fi
mid=$(date +%s.%N)
status=0
LD_PRELOAD="$lib" XSMEM_VERBOSE=1 workload preload >"$tmp/preload.out" 2>"$tmp/preload.err" || status=$?
end=$(date +%s.%N)
echo "$program: without preload $(awk -v a="$start" -v b="$mid" 'BEGIN { printf "%.2f", b - a }') s," \
  "with libxsmem_$config.so $(awk -v a="$mid" -v b="$end" 'BEGIN { printf "%.2f", b - a }') s (scale $scale)"

fail=0
if [ "$status" != 0 ]; then
  echo "FAIL: $program exited with status $status under libxsmem_$config.so" >&2
  fail=1
fi
if ! grep -q "xsmem: malloc served by configuration '$config'" "$tmp/preload.err"; then
  echo "FAIL: the preloaded run was not served by configuration '$config'" >&2
  fail=1
fi
if ! cmp -s "$tmp/plain.out" "$tmp/preload.out"; then
  echo "FAIL: $program printed something else under libxsmem_$config.so:" >&2
  diff "$tmp/plain.out" "$tmp/preload.out" | head -20 >&2 || true
  fail=1
fi
if [ "$fail" != 0 ]; then
  echo "--- stderr of the preloaded run (last 20 lines):" >&2
  grep -v "malloc served by configuration" "$tmp/preload.err" | tail -20 >&2 || true
  exit 1
fi
echo "PASS: $program under libxsmem_$config.so ($(wc -l <"$tmp/plain.out") lines of identical output)"
