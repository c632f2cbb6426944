#!/bin/bash
# Bad calls through malloc's API, in a program with an xsmem library
# preloaded (bad_free.c): each must be reported and abort (SIGABRT, never a
# crash), and under XSMEM_ON_ERROR=warn be reported, lose nothing and leave
# the allocator handing out distinct blocks. A query (malloc_usable_size) is
# reported and answered 0 under both.
#
# usage: bad_free_test.sh PROGRAM LIBRARY CHECKER [XSMEM_TRACK modes...]
#   CHECKER  xsmem: the configuration reports bad pointers itself
#            glibc: it leaves them to glibc (system), whose free reports what
#                   it detects with its own message and aborts, and which has
#                   no warn mode
set -uo pipefail
prog=$1 lib=$2 checker=$3
shift 3
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=("")
. tests/testing/preload_test_lib.sh
absolute prog lib

# Sizes: the small tier's 16-byte class, small and mid classes, a block
# glibc carves from its top chunk, and blocks of the large tiers (which glibc
# maps: its own second free of a mapped chunk faults, so glibc-checked
# configurations skip those).
sizes="16 100 5000 100000"
[ "$checker" = xsmem ] && sizes="$sizes 300000 2000000"

# expect MODE ON_ERROR SCENARIO SIZE PATTERN
expect() {
  local mode=$1 on_error=$2 scenario=$3 size=$4 pattern=$5 rc
  env ${mode:+XSMEM_TRACK=$mode} XSMEM_ON_ERROR=$on_error LD_PRELOAD="$lib" "$prog" "$scenario" "$size" \
    >"$tmp/out" 2>"$tmp/err"
  rc=$?
  local what="${mode:+XSMEM_TRACK=$mode }XSMEM_ON_ERROR=$on_error $scenario $size"
  # A query (malloc_usable_size) is reported and answered 0 in both modes:
  # it changes nothing, so it never aborts.
  local fatal=$on_error
  case "$scenario" in usable_*) fatal=warn ;; esac
  if [ "$fatal" = abort ] && [ $rc -ne 134 ]; then
    fail "$what: exit status $rc, not SIGABRT (134)" "$tmp/err"
  elif [ "$fatal" = warn ] && { [ $rc -ne 0 ] || ! grep -q DISTINCT "$tmp/out"; }; then
    fail "$what: exit status $rc, output: $(cat "$tmp/out")" "$tmp/err"
  elif ! grep -Eq "$pattern" "$tmp/err"; then
    fail "$what: no report matching /$pattern/" "$tmp/err"
  fi
}

for mode in "${modes[@]}"; do
  if [ "$checker" = xsmem ]; then
    for on_error in abort warn; do
      for s in foreign_first realloc_first usable_first foreign_built realloc_built usable_built; do
        expect "$mode" $on_error $s 100 "not allocated|before any allocation"
      done
      for n in $sizes; do
        expect "$mode" $on_error double "$n" "double free"
        expect "$mode" $on_error aba "$n" "double free"
      done
    done
  else
    expect "$mode" abort foreign_first 100 "invalid pointer|before any allocation"
    expect "$mode" abort realloc_first 100 "invalid pointer|before any allocation"
    expect "$mode" abort foreign_built 100 "invalid pointer"
    expect "$mode" abort realloc_built 100 "invalid pointer"
    for n in $sizes; do
      expect "$mode" abort double "$n" "double free"
      expect "$mode" abort aba "$n" "double free"
    done
  fi
done
finish "all bad calls reported under ${modes[*]:-the default mode}"
