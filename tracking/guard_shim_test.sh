#!/usr/bin/env bash
# Guarded sampling through the preload libraries, at a production-style rate
# (the sampler's clock, not a per-call count): a program that underflows every
# block must fault in a guarded one and be reported, under each tracked
# configuration with tracking off and sampled.
set -uo pipefail
prog=$1
shift
fail=0
for lib in "$@"; do
  for mode in off sample; do
    out=$(XSMEM_TRACK=$mode XSMEM_GUARD_SAMPLE_RATE=200 LD_PRELOAD=$lib "$prog" 2>&1)
    rc=$?
    if [ $rc -eq 0 ] ||
      ! grep -Eq "heap buffer underflow: read of address 0x[0-9a-f]*: guarded block .* of 48 bytes" <<<"$out" ||
      ! grep -q "accessed at" <<<"$out" || ! grep -q "allocated at" <<<"$out"; then
      echo "FAIL: $(basename "$lib") XSMEM_TRACK=$mode: exit $rc"
      echo "$out" | head -20
      fail=1
    fi
  done
  # The program's very first block can be guarded (at a rate of 1 it is), and
  # the fault is re-raised after the report: the process dies of SIGSEGV, so
  # core dumps and debuggers see it.
  for mode in off sample full; do
    out=$(XSMEM_TRACK=$mode XSMEM_GUARD_SAMPLE_RATE=1 LD_PRELOAD=$lib "$prog" first 2>&1)
    rc=$?
    if [ $rc -ne 139 ] || ! grep -Eq "use after free: read of address 0x[0-9a-f]*: guarded block" <<<"$out" ||
      ! grep -q "freed at" <<<"$out"; then
      echo "FAIL: $(basename "$lib") XSMEM_TRACK=$mode, first block read after free: exit $rc"
      echo "$out" | head -20
      fail=1
    fi
  done
  # Without guarded sampling the same program runs to the end.
  out=$(XSMEM_TRACK=sample LD_PRELOAD=$lib "$prog" 20000 2>&1)
  grep -q "no fault" <<<"$out" || { echo "FAIL: $(basename "$lib") unguarded: $out"; fail=1; }
done
[ $fail = 0 ] && echo "guarded sampling through the shims: ok"
exit $fail
