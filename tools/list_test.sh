#!/usr/bin/env bash
# `xsmem list`: every configuration with every option it reads, the value in
# effect in the environment it runs in (marked '*' when set to other than the
# default, '!' when the value given is not accepted), the core options in
# each, the exporter's for the configurations with an _export library, and
# lines that fit 100 columns. A misspelled variable is said once on stderr
# (by the tool, not once per library it looks into).
set -uo pipefail
x=${TEST_SRCDIR:-$0.runfiles}/xsmem/tools/xsmem
tmp=${TEST_TMPDIR:-$(mktemp -d)}
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# section NAME: the lines of configuration NAME's entry.
section() { awk -v n="$1" '/^[a-z_]+( |$)/ { on = ($1 == n) } on' "$tmp/out"; }

XSMEM_OPTIONS=small_max=64k,leak_report=1 XSMEM_TLS_CACHE_BYTES=10m XSMEM_TRAK=full "$x" list >"$tmp/out" 2>"$tmp/err" ||
  fail "xsmem list exited $?"
long=$(awk 'length($0) > 100' "$tmp/out")
[ -z "$long" ] || fail "lines over 100 columns: $(head -3 <<<"$long")"
section default >"$tmp/default"
[ -s "$tmp/default" ] || fail "no section for default"
for o in XSMEM_ON_ERROR XSMEM_VERBOSE XSMEM_STATS_AT_EXIT XSMEM_CONFIG XSMEM_HUGE_PAGES XSMEM_SMALL_MAX \
  XSMEM_HTTP XSMEM_SNAPSHOT XSMEM_SNAPSHOT_INTERVAL_MS XSMEM_ALERT_BYTES_IN_USE XSMEM_ALERT_FRAGMENTATION; do
  grep -q "^    . $o = " "$tmp/default" || fail "default does not list $o"
done
grep -q "^    with libxsmem_default_export.so, the exporter's too:" "$tmp/default" || fail "no export section"
grep -qF "    * XSMEM_SMALL_MAX = 64k (XSMEM_OPTIONS; default 1m)" "$tmp/default" || fail "the value in effect is not shown"
grep -qF "    ! XSMEM_TLS_CACHE_BYTES = 32k (default: 10m from the environment is not accepted)" "$tmp/default" ||
  fail "a value not accepted is not shown as such"
grep -qF "      XSMEM_ON_ERROR = abort (default)" "$tmp/default" || fail "a default is not shown as such"
tr -s ' \n' ' ' <"$tmp/default" >"$tmp/joined"  # descriptions wrap
grep -q "Accepts a size in 1k..1m" "$tmp/joined" || fail "what an option accepts is not shown"
section default_tracked >"$tmp/tracked"
grep -qF "    * XSMEM_LEAK_REPORT = 1 (XSMEM_OPTIONS; default 0)" "$tmp/tracked" ||
  fail "default_tracked does not show XSMEM_LEAK_REPORT in effect"
! grep -q XSMEM_LEAK_REPORT "$tmp/default" || fail "default lists a tracker option"
[ "$(grep -c "XSMEM_TRAK is not an xsmem option; ignored (the closest is XSMEM_TRACK)" "$tmp/err")" = 1 ] ||
  fail "the misspelled variable is not said exactly once: $(cat "$tmp/err")"
[ "$(grep -c . "$tmp/err")" = 1 ] || fail "stderr has more: $(cat "$tmp/err")"
[ $failures = 0 ] && echo "PASS: xsmem list shows the values in effect, within 100 columns"
exit $((failures > 0))
