#!/bin/bash
# Runs each glibc_compat scenario with a configuration preloaded. A scenario
# that glibc itself passes (run plain first) must pass under the
# configuration too, without a crash and without an abort.
#
# usage: glibc_compat_test.sh PROGRAM LIBRARY CONFIGURATION
set -uo pipefail
prog=$1 lib=$2 config=$3
. tests/testing/preload_test_lib.sh
absolute prog lib

scenarios="aligned_alloc mallinfo trim usable_foreign calloc_realloc"
# system and system_tracked (outside full mode) leave bad pointers to glibc,
# which answers a foreign pointer's usable size without a report.
reports=1
[ "$config" = system ] || [ "$config" = system_tracked ] && reports=0
case "$config" in
  # The peers answer a foreign pointer's usable size as upstream does (undefined).
  jemalloc|mimalloc|tcmalloc) scenarios="aligned_alloc mallinfo trim calloc_realloc" ;;
esac

for s in $scenarios; do
  if ! "$prog" "$s" >"$tmp/plain" 2>&1; then
    echo "skip $s: glibc itself does not pass it here: $(tail -1 "$tmp/plain")"
    continue
  fi
  # XSMEM_ON_ERROR stays at its default (abort): a query must not abort.
  XSMEM_BFC_LIMIT_MB=512 LD_PRELOAD="$lib" "$prog" "$s" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ $rc -ne 0 ]; then
    fail "$config $s: exit status $rc: $(cat "$tmp/out")" "$tmp/err"
  elif [ "$s" = usable_foreign ] && [ "$reports" = 1 ] && ! grep -q "usable_size.*answered 0" "$tmp/err"; then
    fail "$config $s: the foreign pointer was not reported"
  fi
done

# bfc's memory dump on a failed request: printed once, then counted.
case "$config" in
  bfc|bfc_tracked|pool|bfc_numa)
    XSMEM_BFC_LIMIT_MB=64 LD_PRELOAD="$lib" "$prog" oom_repeat >"$tmp/out" 2>"$tmp/err"
    rc=$?
    dumps=$(grep -Ec "memory maps? follows?" "$tmp/err")
    if [ $rc -ne 0 ] || [ "$dumps" != 1 ]; then
      fail "$config oom_repeat: exit status $rc, $dumps dumps for 5 failures (want 1): $(cat "$tmp/out")"
    fi
    ;;
esac

finish "glibc behaviours hold under $config"
