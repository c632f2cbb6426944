#!/bin/bash
# Writes after free into free blocks (heap_corruption.c) in a program with an
# xsmem library preloaded. A malloc must never return the address a forged
# link names, nor crash: where the configuration keeps links inside free
# blocks (CHECKER xsmem) the corruption is reported, naming the allocator and
# the block size, then the process aborts (SIGABRT), or under
# XSMEM_ON_ERROR=warn goes on handing out distinct blocks; where it keeps
# nothing inside them (CHECKER none: bfc) there is nothing to report and
# the program runs to its end.
#
# usage: heap_corruption_test.sh PROGRAM LIBRARY CHECKER SIZES [XSMEM_TRACK modes...]
set -uo pipefail
prog=$1 lib=$2 checker=$3 sizes=$4
shift 4
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=("")
. tests/testing/preload_test_lib.sh
absolute prog lib

# expect MODE ON_ERROR SCENARIO SIZE
expect() {
  local mode=$1 on_error=$2 scenario=$3 size=$4 rc
  # Sampling off in the tracked configurations' sample mode: a sampled block
  # lives outside the small tier, and this test is about the tiers' lists.
  env ${mode:+XSMEM_TRACK=$mode XSMEM_TRACK_SAMPLE_BYTES=1g} XSMEM_ON_ERROR=$on_error LD_PRELOAD="$lib" \
    "$prog" "$scenario" "$size" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  local what="${mode:+XSMEM_TRACK=$mode }XSMEM_ON_ERROR=$on_error $scenario $size"
  if grep -q HIJACKED "$tmp/out"; then
    fail "$what: $(cat "$tmp/out")" "$tmp/err"
  elif [ "$checker" = none ] && { [ $rc -ne 0 ] || ! grep -q DISTINCT "$tmp/out" || [ -s "$tmp/err" ]; }; then
    fail "$what: exit status $rc, output: $(cat "$tmp/out")" "$tmp/err"
  elif [ "$checker" = xsmem ] && [ "$on_error" = abort ] && [ $rc -ne 134 ]; then
    fail "$what: exit status $rc, not SIGABRT (134)" "$tmp/err"
  elif [ "$checker" = xsmem ] && [ "$on_error" = warn ] && { [ $rc -ne 0 ] || ! grep -q DISTINCT "$tmp/out"; }; then
    fail "$what: exit status $rc, output: $(cat "$tmp/out")" "$tmp/err"
  elif [ "$checker" = xsmem ] && ! grep -Eq "in allocator '[a-z0-9_.]+': heap corruption in a free [0-9]+-byte block" "$tmp/err"; then
    fail "$what: no heap corruption report" "$tmp/err"
  fi
}

for mode in "${modes[@]}"; do
  for on_error in abort warn; do
    for n in $sizes; do
      expect "$mode" $on_error forge "$n"
      expect "$mode" $on_error random "$n"
    done
  done
done
finish "every write after free reported or harmless under ${modes[*]:-the default mode}"
