#!/usr/bin/env bash
# Every option declared in platform/options_list.h has a row in the README's
# option table, and every XSMEM_* row there is declared.
set -euo pipefail
declared=$(sed -n 's/^XSMEM_OPTION(\(XSMEM_[A-Z0-9_]*\),.*/\1/p' platform/options_list.h | sort -u)
documented=$(sed -n 's/^| `\(XSMEM_[A-Z0-9_]*\)`.*/\1/p' README.md | sort -u)
status=0
for o in $declared; do
  grep -qx "$o" <<<"$documented" || { echo "README.md lacks a row for $o"; status=1; }
done
for o in $documented; do
  grep -qx "$o" <<<"$declared" || { echo "README.md documents $o, which platform/options_list.h does not declare"; status=1; }
done
[ "$(wc -w <<<"$declared")" -gt 0 ] || { echo "no options found"; status=1; }
[ $status = 0 ] && echo "$(wc -w <<<"$declared") options documented"
exit $status
