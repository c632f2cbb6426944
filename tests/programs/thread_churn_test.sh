#!/bin/bash
# thread_churn.c under a preloaded configuration: the resident set after
# 20000 short-lived threads stays within 2 MiB of the one after 2000.
# usage: thread_churn_test.sh PROGRAM LIBRARY
set -uo pipefail
prog=$1 lib=$2
case "$lib" in /*) ;; *) lib="$PWD/$lib" ;; esac
LD_PRELOAD="$lib" "$prog" 20000 2048
rc=$?
[ $rc -eq 0 ] || echo "FAIL: exit status $rc under $lib"
exit $rc
