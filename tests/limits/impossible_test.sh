#!/bin/bash
# Impossible sizes through malloc's API with an xsmem library preloaded
# (impossible.c): refused with ENOMEM where the kernel's overcommit policy
# refuses them, as glibc's are, never handed out to meet the OOM killer
# later. Before this, under the heuristic policy (0), `default`, `os`,
# `buddy_large` and the tracked variants returned blocks of 64 TiB and `numa`
# of RAM + 1 GiB (bfc, with its limit raised as here, was OOM-killed).
#
# usage: impossible_test.sh LIBRARY PROGRAM
set -uo pipefail
lib=$1 prog=$2
case "$lib" in /*) ;; *) lib="$PWD/$lib" ;; esac
case "$prog" in /*) ;; *) prog="$PWD/$prog" ;; esac
echo "--- glibc, for reference:"
"$prog" | tail -1
echo "--- preloaded:"
# bfc's own limit (half of RAM by default) would refuse first: raised out of
# the way, so the kernel's answer is what is tested. No dumps on refusal.
XSMEM_BFC_LIMIT_MB=268435456 XSMEM_BFC_DUMP_ON_OOM=0 LD_PRELOAD="$lib" "$prog"
