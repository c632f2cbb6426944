#!/usr/bin/env bash
# `xsmem history`: add (recorded snapshots, a format-2 stream written by a live
# process), list, trend, diff, the default database path, and bad input: a
# damaged snapshot is refused by name and the database is left exactly as it was.
set -euo pipefail
r=${TEST_SRCDIR:-$0.runfiles}/xsmem
x=$r/tools/xsmem
td=$r/tools/testdata
tmp=${TEST_TMPDIR:-$(mktemp -d)}
db=$tmp/h.db
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_rc() {  # expect_rc WANT CMD... (stdout to $tmp/out, stderr to $tmp/err)
  local want=$1; shift
  set +e; "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?; set -e
  [ "$got" = "$want" ] || { cat "$tmp/out" "$tmp/err" >&2; fail "$* exited $got, wanted $want"; }
}
rows() { sqlite3 "$db" "$1"; }

# add: two recorded runs (python3 under bfc and under system_tracked).
expect_rc 0 "$x" history add "$td/bfc_python.pb" "$td/leaky_python.pb" --db "$db" --host box1
grep -q "bfc_python.pb: stored as run 1 (python3, bfc" "$tmp/out" || fail "add: $(cat "$tmp/out")"
[ "$(rows "SELECT host, program, config FROM runs ORDER BY id")" = "box1|python3|bfc
box1|python3|system_tracked" ] || fail "runs rows: $(rows 'SELECT * FROM runs')"
# Every AllocatorStats field of every allocator, and the call sites by symbol.
[ "$(rows "SELECT COUNT(*) FROM stats WHERE run = 1 AND allocator = 'bfc'")" = 12 ] || fail "stats of run 1"
[ "$(rows "SELECT value FROM stats WHERE run = 1 AND allocator = 'bfc' AND metric = 'num_allocs'")" = 62503.0 ] ||
  fail "num_allocs of run 1"
[ "$(rows "SELECT COUNT(*) FROM call_sites WHERE run = 2")" -gt 5 ] || fail "call sites of run 2"
# The packed snapshot is kept whole (the Python API decodes it).
[ "$(rows "SELECT length(snapshot) > 10000 FROM runs WHERE id = 2")" = 1 ] || fail "snapshot blob"

# The same file again: skipped, not stored twice.
expect_rc 0 "$x" history add "$td/bfc_python.pb" --db "$db" --host box1
grep -q "already stored as run 1, skipped" "$tmp/out" || fail "re-add: $(cat "$tmp/out")"
[ "$(rows 'SELECT COUNT(*) FROM runs')" = 2 ] || fail "re-add stored a copy"

# A damaged snapshot among good ones: refused by name, nothing of the add
# stored (the good file before it included), the database byte for byte as it was.
cp "$td/bfc_numa_threads.pb" "$tmp/good.pb"
python3 -c '
import sys
d = bytearray(open(sys.argv[1], "rb").read())
d[5000:5040] = b"\xff" * 40  # inside the snapshot: no longer a Snapshot
open(sys.argv[2], "wb").write(d)' "$td/bfc_numa_threads.pb" "$tmp/damaged.pb"
cp "$db" "$tmp/before.db"
expect_rc 1 "$x" history add "$tmp/good.pb" "$tmp/damaged.pb" --db "$db"
grep -q "damaged.pb is damaged: nothing stored" "$tmp/err" || fail "damaged: $(cat "$tmp/err")"
cmp -s "$db" "$tmp/before.db" || fail "a refused add changed the database"
# A format-2 stream written by a live process (two records at least), then
# the same stream with one record's payload damaged (its checksum refuses it).
XSMEM_SNAPSHOT="$tmp/stream.pb" XSMEM_SNAPSHOT_INTERVAL_MS=200 "$r/export/live_demo" 1 2>/dev/null
head -c 8 "$tmp/stream.pb" | od -c | grep -q 'X   S   M   E   M' || fail "live_demo wrote no format-2 file"
python3 -c '
import sys
d = bytearray(open(sys.argv[1], "rb").read())
d[16 + 16 + 20] ^= 0xff  # the first record'"'"'s payload
open(sys.argv[2], "wb").write(d)' "$tmp/stream.pb" "$tmp/stream_damaged.pb"
expect_rc 1 "$x" history add "$tmp/stream_damaged.pb" --db "$db"
grep -q "stream_damaged.pb: byte 16: damaged record (checksum mismatch)" "$tmp/err" || fail "stream: $(cat "$tmp/err")"
grep -q "stream_damaged.pb is damaged: nothing stored" "$tmp/err" || fail "stream: $(cat "$tmp/err")"
cmp -s "$db" "$tmp/before.db" || fail "a refused stream changed the database"
expect_rc 0 "$x" history add "$tmp/stream.pb" "$tmp/good.pb" --db "$db"
[ "$(rows "SELECT program, config FROM runs WHERE id = 3")" = "live_demo|os" ] ||
  fail "stream run: $(rows 'SELECT id, program, config FROM runs')"
# A stream is stored as its last record (what `xsmem stats` reports).
[ "$(rows "SELECT sequence > 0 FROM runs WHERE id = 3")" = 1 ] || fail "stream: not its last record"

# list, with and without filters.
expect_rc 0 "$x" history list --db "$db"
[ "$(grep -c 'python3' "$tmp/out")" = 2 ] && grep -q "live_demo" "$tmp/out" && grep -q bfc_numa "$tmp/out" ||
  fail "list: $(cat "$tmp/out")"
expect_rc 0 "$x" history list --db "$db" --config bfc
[ "$(grep -c 'python3' "$tmp/out")" = 1 ] || fail "list --config: $(cat "$tmp/out")"

# trend: the process allocator's figure per run, oldest first, filtered.
expect_rc 0 "$x" history trend peak_bytes_in_use --program python3 --db "$db"
grep -Eq "^ +2 .*system_tracked +system_tracked +7\.4 MiB +-$" "$tmp/out" || fail "trend: $(cat "$tmp/out")"
grep -Eq "^ +1 .*bfc +bfc +2\.3 MiB +-69\.6%$" "$tmp/out" || fail "trend change: $(cat "$tmp/out")"
expect_rc 0 "$x" history trend num_allocs --config bfc --db "$db"
[ "$(grep -c '^ *[0-9]' "$tmp/out")" = 1 ] && grep -q " 62503 " "$tmp/out" || fail "trend --config: $(cat "$tmp/out")"
expect_rc 2 "$x" history trend peak_byte_in_use --db "$db"
grep -q "unknown metric 'peak_byte_in_use' (did you mean 'peak_bytes_in_use'?)" "$tmp/err" ||
  fail "trend typo: $(cat "$tmp/err")"

# diff: per allocator by name, per call site by symbol.
expect_rc 0 "$x" history diff 1 2 --db "$db"
grep -Eq "^  bfc +bytes_in_use +665\.0 KiB +0 B +-665\.0 KiB +-100\.0%$" "$tmp/out" || fail "diff: $(cat "$tmp/out")"
grep -Eq "^  system_tracked +num_allocs +0 +37661 +\+37661 +new$" "$tmp/out" || fail "diff new allocator"
grep -Eq "^  python3\+0x22d1da +live_bytes +0 B +256\.0 KiB" "$tmp/out" || fail "diff call sites: $(cat "$tmp/out")"
# The same under valgrind's memcheck (an overlapping copy once formatted the
# sign of a change): no invalid access, no definite leak.
if command -v valgrind >/dev/null; then
  vg=(valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite)
  expect_rc 0 "${vg[@]}" "$x" history diff 1 2 --db "$db"
  expect_rc 0 "${vg[@]}" "$x" history trend bytes_in_use --db "$db"
  cp "$db" "$tmp/vg.db"
  expect_rc 0 "${vg[@]}" "$x" history add "$td/leaky_python.pb" "$td/bfc_numa_threads.pb" --db "$tmp/vg.db" --host box2
  expect_rc 1 "${vg[@]}" "$x" history add "$tmp/good.pb" "$tmp/damaged.pb" --db "$tmp/vg.db"
fi
expect_rc 1 "$x" history diff 1 99 --db "$db"
grep -q "no run 99" "$tmp/err" || fail "diff of a missing run"
expect_rc 2 "$x" history diff 1 x --db "$db"

# Bad invocations: no database yet, an unknown action, a file that is no database.
expect_rc 1 "$x" history list --db "$tmp/none.db"
grep -q "no database at $tmp/none.db" "$tmp/err" || fail "missing db: $(cat "$tmp/err")"
[ ! -e "$tmp/none.db" ] || fail "list created a database"
expect_rc 2 "$x" history lst --db "$db"
grep -q "did you mean 'list'" "$tmp/err" || fail "action typo"
echo "not sqlite, but more than one hundred bytes of text to be sure it is no database header at all....." >"$tmp/text.db"
expect_rc 1 "$x" history add "$td/bfc_python.pb" --db "$tmp/text.db"
grep -q "text.db" "$tmp/err" || fail "not a database: $(cat "$tmp/err")"

# The default database: $XDG_DATA_HOME/xsmem/history.db, else ~/.local/share/xsmem/history.db.
mkdir -p "$tmp/home"
expect_rc 0 env -u XDG_DATA_HOME HOME="$tmp/home" "$x" history add "$td/bfc_python.pb"
[ -s "$tmp/home/.local/share/xsmem/history.db" ] || fail "no database under ~/.local/share"
expect_rc 0 env HOME="$tmp/home" XDG_DATA_HOME="$tmp/xdg" "$x" history add "$td/bfc_python.pb"
[ -s "$tmp/xdg/xsmem/history.db" ] || fail "no database under XDG_DATA_HOME"
expect_rc 0 env HOME="$tmp/home" XDG_DATA_HOME="$tmp/xdg" "$x" history list
grep -q "python3" "$tmp/out" || fail "list of the default database"
echo "PASS"
