#!/bin/bash
# A configuration built with no address space to spare (unbuilt.c): malloc
# fails with ENOMEM, a configuration that cannot be built says so at most
# once, nothing aborts, and malloc works once the limit is lifted. Before
# this, `bfc`, `pool`, `numa` and `bfc_numa` aborted ("configuration ...
# failed to build", "cannot build the per-node tiers").
#
# usage: unbuilt_test.sh LIBRARY PROGRAM
set -uo pipefail
lib=$1 prog=$2
case "$lib" in /*) ;; *) lib="$PWD/$lib" ;; esac
case "$prog" in /*) ;; *) prog="$PWD/$prog" ;; esac
tmp=${TEST_TMPDIR:-$(mktemp -d)}
LD_PRELOAD="$lib" "$prog" >"$tmp/out" 2>"$tmp/err"
rc=$?
cat "$tmp/out"
sed 's/^/stderr: /' "$tmp/err"
if [ "$rc" != 0 ]; then
  echo "FAIL: exit status $rc"
  exit 1
fi
said=$(grep -c "could not be built" "$tmp/err")
if [ "$said" -gt 1 ]; then
  echo "FAIL: the failed build was said $said times, not once"
  exit 1
fi
echo PASS
