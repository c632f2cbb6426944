# tests/testing/preload_test_lib.sh: what the shell tests that run programs
# with a configuration preloaded share. Sourced from the directory Bazel runs
# a test in (the runfiles root), where the arguments' paths start:
#   . tests/testing/preload_test_lib.sh
#
#   absolute VAR...    makes the paths in the named variables absolute
#   $tmp               the test's temporary directory
#   fail WHAT [ERR]    prints "FAIL WHAT" and, given ERR, its first 5 lines;
#                      counts the failure
#   finish MESSAGE     after any failure prints their count and exits 1;
#                      otherwise prints MESSAGE
#
# Bash, sourced by scripts that `set -uo pipefail`.

absolute() {
  local var
  for var in "$@"; do
    case "${!var}" in /*) ;; *) printf -v "$var" '%s' "$PWD/${!var}" ;; esac
  done
}

tmp=${TEST_TMPDIR:-$(mktemp -d)}
failures=0

fail() {
  echo "FAIL $1"
  [ $# -lt 2 ] || sed 's/^/  stderr: /' "$2" | head -5
  failures=$((failures + 1))
}

finish() {
  if [ $failures -ne 0 ]; then
    echo "$failures failures"
    exit 1
  fi
  echo "$1"
}
