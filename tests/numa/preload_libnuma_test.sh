#!/usr/bin/env bash
# Preloads each NUMA configuration's library into a program that itself uses
# libnuma, on this machine's topology and on a fake 2-node one, and checks that
# the program ran to its end with xsmem serving malloc (XSMEM_VERBOSE says so).
set -euo pipefail
program="$1"
shift
status=0
for lib in "$@"; do
  name=$(basename "$lib" .so)
  name=${name#libxsmem_}
  for env in "" "XSMEM_NUMA_FAKE_NODES=2" "XSMEM_NUMA=off" "XSMEM_NUMA=interleave"; do
    rc=0
    out=$(env $env XSMEM_VERBOSE=1 LD_PRELOAD="$PWD/$lib" "$program" 2>&1) || rc=$?
    if [ $rc != 0 ]; then
      echo "FAIL: $name [$env] exited with $rc:"; echo "$out"; status=1; continue
    fi
    if ! grep -q "malloc served by configuration '$name'" <<<"$out"; then
      echo "FAIL: $name [$env]: xsmem did not serve malloc:"; echo "$out"; status=1; continue
    fi
    if ! grep -q "libnuma program: done" <<<"$out"; then
      echo "FAIL: $name [$env]: the program did not finish:"; echo "$out"; status=1; continue
    fi
    echo "ok: $name [${env:-system topology}]: $(grep '^libnuma:' <<<"$out")"
  done
done
exit $status
