#!/usr/bin/env bash
# The options as a user meets them: a real program (python3) with a
# configuration preloaded, bad and misspelled settings in its environment,
# and what it says on stderr.
#  1. Out-of-range values (issue 20's cases) are reported once each, naming
#     the option, the value, what is accepted and the default used; the
#     program runs to its end.
#  2. The tracker's options: a depth of 99 no longer turns tracking off with
#     "bad XSMEM_TRACK* options?": it is reported and the default used.
#  3. Misspelled names (XSMEM_TRAK, xsmem_track, a wrong XSMEM_OPTIONS key)
#     are reported once with the closest option; the names xsmem's own tests
#     set are not.
#  4. XSMEM_OPTIONS sets several options; XSMEM_VERBOSE=1 lists every option
#     of the configuration with its value and where it came from.
#  5. XSMEM_HTTP / XSMEM_SNAPSHOT under a library without the exporter are
#     said once; under the _export library they are not.
#  6. xsmem_option_set from the program itself (ctypes): XSMEM_LEAK_REPORT
#     turned on at run time prints the leak report at exit.
# usage: options_env_test.sh LIB_DEFAULT LIB_DEFAULT_TRACKED LIB_DEFAULT_EXPORT
set -uo pipefail
plain=$PWD/$1 tracked=$PWD/$2 exported=$PWD/$3
tmp=${TEST_TMPDIR:-$(mktemp -d)}
py=/usr/bin/python3
failures=0
fail() {
  echo "FAIL: $*"
  echo "--- stderr:"
  cat "$tmp/err"
  failures=$((failures + 1))
}
# run LIB [VAR=VALUE...] -- python3 code: stdout in $tmp/out, stderr in $tmp/err.
run() {
  local lib=$1
  shift
  local vars=()
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  env "${vars[@]}" LD_PRELOAD="$lib" "$py" -c "${1:-x = [bytearray(n) for n in (100, 5000, 300000, 3000000)]; print('ok')}" \
    >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [ $rc = 0 ] && grep -qx ok "$tmp/out" || fail "the program did not run to its end (status $rc)"
}
expect() { grep -qF -- "$1" "$tmp/err" || fail "stderr lacks: $1"; }
expect_once() { [ "$(grep -cF -- "$1" "$tmp/err")" = 1 ] || fail "not said exactly once: $1"; }
expect_not() { ! grep -qF -- "$1" "$tmp/err" || fail "stderr has: $1"; }

# 1.
run "$plain" XSMEM_SMALL_MAX=5g XSMEM_TLS_CACHE_BYTES=10m XSMEM_DECOMMIT_DELAY_MS=-5 XSMEM_BUDDY_REGION=3m --
expect_once "xsmem: XSMEM_SMALL_MAX=5g is not accepted: XSMEM_SMALL_MAX takes a size in 1k..1m; using the default, 1m"
expect_once "xsmem: XSMEM_TLS_CACHE_BYTES=10m is not accepted: XSMEM_TLS_CACHE_BYTES takes a size in 0..4m; using the default, 32k"
# Read by the small tier, buddy and large: said once all the same.
expect_once "xsmem: XSMEM_DECOMMIT_DELAY_MS=-5 is not accepted: XSMEM_DECOMMIT_DELAY_MS takes an integer in 0..86400000; using the default, 1000"
expect_once "xsmem: XSMEM_BUDDY_REGION=3m is not accepted: XSMEM_BUDDY_REGION takes a size in 4m..128t, a power of two; using the default, 1g"
[ "$(grep -c . "$tmp/err")" = 4 ] || fail "more than the four reports"

# 2.
run "$tracked" XSMEM_TRACK=full XSMEM_TRACK_DEPTH=99 XSMEM_TRACK_SAMPLE_BYTES=0 XSMEM_GUARD_SAMPLE_RATE=-1 --
expect_once "XSMEM_TRACK_DEPTH=99 is not accepted: XSMEM_TRACK_DEPTH takes an integer in 1..64; using the default, 32"
expect_once "XSMEM_TRACK_SAMPLE_BYTES=0 is not accepted: XSMEM_TRACK_SAMPLE_BYTES takes a size of at least 1; using the default, 2m"
expect_once "XSMEM_GUARD_SAMPLE_RATE=-1 is not accepted: XSMEM_GUARD_SAMPLE_RATE takes an integer of at least 0; using the default, 0"
expect_not "could not be built"
expect_not "tracking is off"

# 3.
run "$plain" XSMEM_TRAK=full xsmem_track=full XSMEM_TEST_CONFIG=default XSMEM_CONFORMANCE_OPS=10 \
  "XSMEM_OPTIONS=trak=full,small_max=64k" --
expect_once "xsmem: XSMEM_TRAK is not an xsmem option; ignored (the closest is XSMEM_TRACK)"
expect_once "xsmem: xsmem_track is not read: option names are upper case (XSMEM_TRACK)"
expect_once "xsmem: XSMEM_OPTIONS: 'trak' is not an option; ignored (the closest is track)"
expect_not "XSMEM_TEST_CONFIG"
expect_not "XSMEM_CONFORMANCE_OPS"
[ "$(grep -c . "$tmp/err")" = 3 ] || fail "more than the three reports"

# 4.
run "$tracked" XSMEM_VERBOSE=1 "XSMEM_OPTIONS=track=full,track_sample_bytes=512k,small_max=64k" XSMEM_SMALL_MAX=128k --
expect_once "xsmem: malloc served by configuration 'default_tracked'; its options (the value in effect, where it came from):"
expect "  XSMEM_TRACK=full (XSMEM_OPTIONS)"
expect "  XSMEM_TRACK_SAMPLE_BYTES=512k (XSMEM_OPTIONS)"
expect "  XSMEM_SMALL_MAX=128k (environment)"  # its own variable wins
expect "  XSMEM_VERBOSE=1 (environment)"
expect "  XSMEM_ON_ERROR=abort (default)"
expect "  XSMEM_LEAK_SUPPRESS=ld-linux,libtasn1,libgnutls (default)"
[ "$(grep -c '^  XSMEM_' "$tmp/err")" -ge 25 ] || fail "not every option of default_tracked listed"
run "$exported" XSMEM_VERBOSE=1 --
expect "xsmem: the exporter's options:"
expect "  XSMEM_HTTP= (default)"

# 5.
run "$plain" XSMEM_HTTP=127.0.0.1:0 "XSMEM_SNAPSHOT=$tmp/s.pb" --
expect_once "xsmem: XSMEM_HTTP is set (environment) but this process has no exporter: nothing serves or writes it; preload libxsmem_default_export.so (export/) instead of libxsmem_default.so, or link //export:runtime"
[ "$(grep -c . "$tmp/err")" = 1 ] || fail "said more than once"
run "$plain" "XSMEM_OPTIONS=snapshot=$tmp/s.pb" --
expect_once "xsmem: XSMEM_SNAPSHOT is set (XSMEM_OPTIONS) but this process has no exporter"
run "$exported" "XSMEM_SNAPSHOT=$tmp/s.pb" --
expect_not "no exporter"
[ -s "$tmp/s.pb" ] || fail "the _export library wrote no snapshot"

# 6.
run "$tracked" XSMEM_TRACK=full -- '
import ctypes
lib = ctypes.CDLL(None)
lib.xsmem_option_get.restype = ctypes.c_char_p
assert lib.xsmem_option_get(b"XSMEM_LEAK_REPORT") == b"0"
assert lib.xsmem_option_set(b"XSMEM_TRACK_DEPTH", b"4") != 0  # read once: ENOTSUP
assert lib.xsmem_option_set(b"leak_report", b"on") == 0
assert lib.xsmem_option_get(b"XSMEM_LEAK_REPORT") == b"on"
lib.malloc.restype = ctypes.c_void_p
kept = [lib.malloc(7000) for _ in range(3)]
print("ok")'
expect "xsmem: leak report for 'default_tracked'"

[ $failures = 0 ] && echo "PASS: bad values, unknown names, XSMEM_OPTIONS, verbose listing, exporter check, set at run time"
exit $((failures > 0))
