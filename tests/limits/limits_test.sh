#!/bin/bash
# Runs python3 and a small C program (workload.c) under ulimit -v 64 MiB,
# 512 MiB and 4 GiB with an xsmem library preloaded, beside the same runs
# without it (glibc): the preloaded run may never abort or crash, and where
# glibc's run succeeds it must succeed too and print the same. Then runs
# exhaust.c under ulimit -v 128 MiB: malloc until NULL with ENOMEM, free
# everything, and the memory comes back. Before this, `numa` aborted before
# main under every limit up to 4 GiB, `bfc_numa` up to 2 GiB, and `default`
# and the tracked variants under 64 MiB (the 64 MiB pagemap).
#
# usage: limits_test.sh LIBRARY WORKLOAD EXHAUST [ENV=VALUE...]
# LIMITS_CLEAN_FAILURE_MAX_KB: at limits up to this, a clean failure (exit 1,
# ENOMEM or MemoryError) is accepted where glibc succeeds.
set -uo pipefail
lib=$1 workload=$2 exhaust=$3
shift 3
for f in lib workload exhaust; do
  case "${!f}" in /*) ;; *) printf -v "$f" '%s' "$PWD/${!f}" ;; esac
done
[ -f "$lib" ] || { echo "no library at $lib" >&2; exit 1; }
tmp=${TEST_TMPDIR:-$(mktemp -d)}
failures=0
# A program that prints what it computes: the same under any allocator.
py='import json, zlib
d = {str(i): list(range(i % 200)) for i in range(3000)}
s = json.dumps(d, sort_keys=True)
print(len(s), zlib.crc32(s.encode()), sum(len(str(x)) for x in range(100000)))'

# run LIMIT_KB LABEL PRELOAD CMD...: exit status in $tmp/LABEL.rc, output in LABEL.out, stderr in LABEL.err
run() {
  local limit=$1 label=$2 preload=$3
  shift 3
  (
    ulimit -v "$limit" || exit 99
    if [ -n "$preload" ]; then export LD_PRELOAD="$preload"; fi
    exec timeout 60 env "$@"
  ) >"$tmp/$label.out" 2>"$tmp/$label.err"
  echo $? >"$tmp/$label.rc"
}

for limit in 65536 524288 4194304; do
  for prog in python c; do
    if [ "$prog" = python ]; then cmd=(/usr/bin/python3 -I -c "$py"); else cmd=("$workload"); fi
    run "$limit" glibc "" "${cmd[@]}"
    run "$limit" xsmem "$lib" "$@" "${cmd[@]}"
    g=$(cat "$tmp/glibc.rc") x=$(cat "$tmp/xsmem.rc")
    what="$prog under ulimit -v $((limit / 1024)) MiB"
    if [ "$x" -ge 124 ]; then
      echo "FAIL $what: exit status $x (a crash, an abort or a hang), glibc's $g"
      failures=$((failures + 1))
      sed 's/^/  stderr: /' "$tmp/xsmem.err" | tail -5
    elif [ "$g" = 0 ] && [ "$x" = 1 ] && [ "$limit" -le "${LIMITS_CLEAN_FAILURE_MAX_KB:-0}" ] &&
      grep -qE "ENOMEM|MemoryError" "$tmp/xsmem.out" "$tmp/xsmem.err"; then
      echo "ok   $what: a clean failure, accepted at this limit: $(tail -1 "$tmp/xsmem.out")"
    elif [ "$g" = 0 ] && { [ "$x" != 0 ] || ! cmp -s "$tmp/glibc.out" "$tmp/xsmem.out"; }; then
      echo "FAIL $what: glibc succeeded, the preloaded run exited $x printing:"
      sed 's/^/  stdout: /' "$tmp/xsmem.out" | tail -3
      sed 's/^/  stderr: /' "$tmp/xsmem.err" | tail -5
      failures=$((failures + 1))
    else
      echo "ok   $what: exit $x (glibc $g)"
    fi
  done
done

run 131072 exhaust "$lib" "$@" XSMEM_BFC_DUMP_ON_OOM=0 "$exhaust"
x=$(cat "$tmp/exhaust.rc")
cat "$tmp/exhaust.out"
if [ "$x" != 0 ]; then
  echo "FAIL exhaustion under ulimit -v 128 MiB: exit status $x"
  sed 's/^/  stderr: /' "$tmp/exhaust.err" | tail -5
  failures=$((failures + 1))
fi
[ "$failures" = 0 ] || { echo "$failures failure(s)"; exit 1; }
echo PASS
