#!/usr/bin/env bash
# Every output path of xsmem -- `report -o`, `run --report/--snapshot`, and a
# preloaded process's XSMEM_SNAPSHOT (single file and periodic stream) -- is
# written the way its kind asks (export/output.h):
#   a character device (a second /dev/null made with mknod in a temporary
#     directory: root, hence tags = ["no-sandbox"]; skipped with a message
#     where mknod is refused) stays a device: it was renamed over, so
#     `-o /dev/null` as root turned /dev/null into an HTML file;
#   a symbolic link stays a link and its target gets the data;
#   a FIFO stays a FIFO and its reader gets the data; a FIFO nobody reads
#     does not hang a preloaded process at exit;
#   a directory is refused with a message, before `run` starts the program.
set -euo pipefail
r=${TEST_SRCDIR:-$0.runfiles}/xsmem
x=$r/tools/xsmem
lib=$r/export/libxsmem_os_export.so
snap=$r/tools/testdata/bfc_python.pb
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/outputs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
kind() { stat -c %F "$1"; }
is() {  # is PATH KIND WHAT
  [ "$(kind "$1")" = "$2" ] || fail "$3: $1 is now a $(kind "$1"), not a $2"
}
expect_rc() {  # expect_rc WANT CMD... (stderr to $tmp/err)
  local want=$1; shift
  set +e; "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?; set -e
  [ "$got" = "$want" ] || { cat "$tmp/err" >&2; fail "$* exited $got, wanted $want"; }
}

# A character device.
if mknod "$tmp/null" c 1 3 2>"$tmp/mknod.err"; then
  expect_rc 0 "$x" report "$snap" -o "$tmp/null"
  is "$tmp/null" "character special file" "report -o DEVICE"
  expect_rc 0 "$x" run --config system --report "$tmp/null" --snapshot "$tmp/null" -- /bin/true
  is "$tmp/null" "character special file" "run --report/--snapshot DEVICE"
  LD_PRELOAD=$lib XSMEM_SNAPSHOT=$tmp/null /bin/true
  is "$tmp/null" "character special file" "XSMEM_SNAPSHOT=DEVICE"
  LD_PRELOAD=$lib XSMEM_SNAPSHOT=$tmp/null XSMEM_SNAPSHOT_INTERVAL_MS=20 sleep 0.2
  is "$tmp/null" "character special file" "XSMEM_SNAPSHOT=DEVICE as a stream"
  echo "ok: a character device stays a device"
else
  echo "SKIPPED the character device: mknod refused ($(cat "$tmp/mknod.err"))"
fi

# A symbolic link (relative, into another directory).
mkdir "$tmp/real"
ln -s real/r.html "$tmp/r.html"
expect_rc 0 "$x" report "$snap" -o "$tmp/r.html"
is "$tmp/r.html" "symbolic link" "report -o LINK"
grep -q "<html" "$tmp/real/r.html" || fail "the link's target did not get the report"
ln -s real/run.pb "$tmp/run.pb"
ln -s real/run.html "$tmp/run.html"
expect_rc 0 "$x" run --config system --snapshot "$tmp/run.pb" --report "$tmp/run.html" -- /bin/true
is "$tmp/run.pb" "symbolic link" "run --snapshot LINK"
is "$tmp/run.html" "symbolic link" "run --report LINK"
expect_rc 0 "$x" stats "$tmp/real/run.pb"
grep -q "<html" "$tmp/real/run.html" || fail "run's report did not reach the link's target"
ln -s real/exit.pb "$tmp/exit.pb"
LD_PRELOAD=$lib XSMEM_SNAPSHOT=$tmp/exit.pb /bin/true
is "$tmp/exit.pb" "symbolic link" "XSMEM_SNAPSHOT=LINK"
expect_rc 0 "$x" stats "$tmp/real/exit.pb"
ln -s real/series.pb "$tmp/series.pb"
LD_PRELOAD=$lib XSMEM_SNAPSHOT=$tmp/series.pb XSMEM_SNAPSHOT_INTERVAL_MS=20 sleep 0.2
is "$tmp/series.pb" "symbolic link" "XSMEM_SNAPSHOT=LINK as a stream"
expect_rc 0 "$x" stats "$tmp/real/series.pb" --format csv
echo "ok: symbolic links stay links, their targets get the data"

# A FIFO, with a reader.
mkfifo "$tmp/fifo"
cat "$tmp/fifo" >"$tmp/fifo.out" &
expect_rc 0 "$x" report "$snap" -o "$tmp/fifo"
wait
is "$tmp/fifo" "fifo" "report -o FIFO"
grep -q "<html" "$tmp/fifo.out" || fail "the FIFO's reader did not get the report"
cat "$tmp/fifo" >"$tmp/fifo.pb" &
LD_PRELOAD=$lib XSMEM_SNAPSHOT=$tmp/fifo /bin/true
wait
is "$tmp/fifo" "fifo" "XSMEM_SNAPSHOT=FIFO"
expect_rc 0 "$x" stats "$tmp/fifo.pb"
# Without a reader: the process ends after a bounded wait, saying why.
LD_PRELOAD=$lib XSMEM_SNAPSHOT=$tmp/fifo /bin/true 2>"$tmp/noreader.err"
grep -q "cannot write $tmp/fifo: no process reads the FIFO" "$tmp/noreader.err" || fail "FIFO without a reader: $(cat "$tmp/noreader.err")"
is "$tmp/fifo" "fifo" "XSMEM_SNAPSHOT=FIFO without a reader"
echo "ok: a FIFO stays a FIFO, its reader gets the data"

# A directory: refused, and run refuses before starting the program.
mkdir "$tmp/dir"
expect_rc 1 "$x" report "$snap" -o "$tmp/dir"
grep -q "cannot write $tmp/dir: it is a directory" "$tmp/err" || fail "report -o DIR: $(cat "$tmp/err")"
expect_rc 1 "$x" run --config system --report "$tmp/dir" -- /bin/sh -c 'touch "$0"' "$tmp/ran"
grep -q "it is a directory" "$tmp/err" || fail "run --report DIR: $(cat "$tmp/err")"
[ ! -e "$tmp/ran" ] || fail "the program ran although its report could not be written"
is "$tmp/dir" "directory" "report -o DIR"
LD_PRELOAD=$lib XSMEM_SNAPSHOT=$tmp/dir /bin/true 2>"$tmp/dir.err"
grep -q "cannot write $tmp/dir: it is a directory" "$tmp/dir.err" || fail "XSMEM_SNAPSHOT=DIR: $(cat "$tmp/dir.err")"
echo "ok: a directory is refused"

# No temporary file left behind anywhere.
! find "$tmp" -name '*.tmp.*' | grep -q . || fail "temporary files left: $(find "$tmp" -name '*.tmp.*')"
echo PASS
