#!/bin/bash
# Every XSMEM_* option a package's code names (reads, or mentions in a
# message) is one the package declares in its options.bzl, so a
# configuration's option list (configs.bzl, from its parts) holds every
# option it reads; and every declared option has a row in
# platform/options_list.h (its default and meaning).
#
# usage: declared_options_test.sh OPTIONS_LIST_H PACKAGE DECLARED...
set -uo pipefail
table=$1 package=$2
shift 2
declared=" $* "
known=$(grep -oE '^XSMEM_OPTION\(XSMEM_[A-Z0-9_]+' "$table" | sed 's/XSMEM_OPTION(//' | sort -u)
failures=0
for o in "$@"; do
  grep -qx "$o" <<<"$known" || { echo "FAIL $o is declared but has no row in platform/options_list.h"; failures=$((failures + 1)); }
done
read_somewhere=0
for f in $(ls "$package"/*.c "$package"/*.h 2>/dev/null); do
  [ "$(basename "$f")" = options_list.h ] && continue
  for o in $(grep -ohE '"XSMEM_[A-Z0-9_]+' "$f" | tr -d '"' | sort -u | grep -xF "$known"); do
    read_somewhere=$((read_somewhere + 1))
    case "$declared" in
      *" $o "*) ;;
      *) echo "FAIL $f reads $o, which $package/options.bzl does not declare"; failures=$((failures + 1)) ;;
    esac
  done
done
[ $failures -eq 0 ] || exit 1
echo "$package: $read_somewhere option reads, all declared ($# declared)"
