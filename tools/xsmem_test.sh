#!/usr/bin/env bash
# `xsmem run`, `list`, `stats` and the error paths: a real program under a
# configuration, exit codes passed through, snapshots checked through stats.
set -euo pipefail
r=${TEST_SRCDIR:-$0.runfiles}/xsmem
x=$r/tools/xsmem
tmp=${TEST_TMPDIR:-$(mktemp -d)}
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_rc() {  # expect_rc WANT CMD... (stderr to $tmp/err)
  local want=$1; shift
  set +e; "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?; set -e
  [ "$got" = "$want" ] || { cat "$tmp/err" >&2; fail "$* exited $got, wanted $want"; }
}

# list: every configuration with its summary and options.
expect_rc 0 "$x" list
for c in default default_tracked system bfc pool system_tracked; do grep -q "^$c\$" "$tmp/out" || fail "list lacks $c"; done
grep -q "XSMEM_BFC_LIMIT_MB = 0 (default)" "$tmp/out" || fail "list lacks bfc's options with defaults"
! grep -E '^ +XSMEM_[A-Z0-9_]+ *$' "$tmp/out" || fail "list names an option platform/options_list.h does not declare"
for o in XSMEM_TRACK_FREE_SITES XSMEM_LEAK_SUPPRESS XSMEM_TRACK_TIMELINE_MS; do  # every tracker option, each tracked configuration
  [ "$(grep -c "^ *$o = .*(default)" "$tmp/out")" -ge 4 ] || fail "the tracked configurations do not all list $o"
done
expect_rc 0 "$x" list --names
[ "$(grep -c . "$tmp/out")" -ge 5 ] || fail "list --names"

# --help for the command and each subcommand (stdout, status 0); slips get a
# "did you mean" naming the closest command, option or configuration.
expect_rc 0 "$x" --help
for c in run report stats bench top history list; do grep -q "^  $c " "$tmp/out" || fail "--help does not list $c"; done
for c in run report stats bench top history list; do
  expect_rc 0 "$x" "$c" --help
  grep -q "usage: xsmem $c" "$tmp/out" || fail "$c --help prints no usage"
done
expect_rc 0 "$x" --version
grep -qE '^xsmem [0-9]+\.[0-9]+\.[0-9]+$' "$tmp/out" || fail "--version: $(cat "$tmp/out")"
expect_rc 2 "$x" bnech
grep -q "did you mean 'bench'" "$tmp/err" || fail "no suggestion for bnech"
expect_rc 2 "$x" run --confg default -- /bin/true
grep -q "did you mean '--config'" "$tmp/err" || fail "no suggestion for --confg"
expect_rc 2 "$x" run --config defualt -- /bin/true
grep -q "did you mean 'default'" "$tmp/err" || fail "no suggestion for defualt"
expect_rc 2 "$x" top --intreval 1 127.0.0.1:1
grep -q "did you mean '--interval'" "$tmp/err" || fail "no suggestion for --intreval"
expect_rc 2 "$x" bench --alocators default
grep -q "did you mean '--allocators'" "$tmp/err" || fail "no suggestion for --alocators"
expect_rc 2 "$x" stats --zzzzzz
grep -q "xsmem stats --help lists them" "$tmp/err" || fail "stats: no pointer to --help"

# run over /bin/true and a failing program: the program's status comes back.
expect_rc 0 "$x" run --config system -- /bin/true
grep -q "exited with status 0" "$tmp/err" || fail "no summary"
expect_rc 3 "$x" run --config default -- /bin/sh -c 'exit 3'
# A python program under the tracked configuration: snapshot, report, summary.
expect_rc 0 "$x" run --config system_tracked --track full --snapshot "$tmp/s.pb" --report "$tmp/r.html" \
  -- /usr/bin/python3 -c 'import ctypes; l = ctypes.CDLL(None); l.malloc.restype = ctypes.c_void_p; k = [l.malloc(5000) for _ in range(7)]; print("py-ok")'
grep -q "py-ok" "$tmp/out" || fail "program output lost"
grep -q "top call sites by live bytes" "$tmp/err" || fail "no call sites in summary"
grep -q "tracking full" "$tmp/err" || fail "tracking mode not reported"
[ -s "$tmp/s.pb" ] && [ -s "$tmp/r.html" ] || fail "snapshot/report not written"
grep -q "<svg" "$tmp/r.html" || fail "report without charts"
# The 7 blocks of 5000 bytes are still live at exit: one call site with 7 live blocks.
expect_rc 0 "$x" stats "$tmp/s.pb" --format json
python3 - "$tmp/out" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["config"] == "system_tracked", s["config"]
sites = s.get("call_sites", [])
assert any(c.get("live_count", 0) >= 7 and c.get("live_bytes", 0) >= 35000 for c in sites), sites[:3]
PY
expect_rc 0 "$x" stats "$tmp/s.pb"
grep -q "system_tracked" "$tmp/out" || fail "stats text"
expect_rc 0 "$x" stats "$tmp/s.pb" --format prometheus
grep -q '^xsmem_allocations_total{allocator="system_tracked"' "$tmp/out" || fail "stats prometheus"
expect_rc 0 "$x" stats "$tmp/s.pb" --format csv
head -1 "$tmp/out" | grep -q "^time_ns,bytes_in_use" || fail "stats csv"

# Symbolized stacks: the leaked blocks' call site names the whole chain,
# in the summary, in the written snapshot and in the report.
expect_rc 0 "$x" run --config system_tracked --track full --snapshot "$tmp/leaky.pb" --report "$tmp/leaky.html" \
  -- "$r/tools/leaky"
grep -Eq "26\.[0-9] KiB live in +9 blocks.*leak_inner" "$tmp/err" || fail "leak site not named leak_inner"
# The leak report in the snapshot: its largest record is leak_inner's 9 blocks.
grep -Eq "leaks \(unfreed at exit\): .* from [0-9]+ call sites" "$tmp/err" || fail "no leak records in the summary"
grep -Eq "^ +26\.[0-9] KiB in +9 blocks +leak_inner.*\(definitely lost\)$" "$tmp/err" || fail "leak record not leak_inner's 9 blocks, definitely lost"
expect_rc 0 "$x" stats "$tmp/leaky.pb" --format json
python3 - "$tmp/out" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
site = [c for c in s["call_sites"] if c.get("live_count") == 9][0]
frames = site["symbol"].split("\n")
names = [f.split("+")[0] for f in frames]
assert names[:3] == ["leak_inner", "leak_outer", "main"], frames
assert all("(leaky+0x" in f for f in frames[:3]), frames
sizes = [l["size"] for l in s["leaks"]]
assert sizes == sorted(sizes, reverse=True), sizes  # largest first
leak = [l for l in s["leaks"] if l["count"] == 9][0]  # 3000..3008 bytes
assert leak["size"] == sum(range(3000, 3009)) and leak["address"] == "0x0", leak
assert leak["kind"] == "definite", leak  # the scan at exit: nothing points to them
names = [f.split("+")[0] for f in leak["symbol"].split("\n")]
assert names[:3] == ["leak_inner", "leak_outer", "main"], leak
# file:line from leaky's DWARF line table (built with -g): the malloc call in leak_inner.
assert leak["symbol"].split("\n")[0].endswith(" tools/testdata/leaky.c:8"), leak
assert " tools/testdata/leaky.c:" in leak["symbol"].split("\n")[1], leak
PY
grep -q "#2 main+0x[0-9a-f]* (leaky+0x[0-9a-f]*)" "$tmp/leaky.html" || fail "report without the symbolized stack"
grep -q "by call site, largest first" "$tmp/leaky.html" || fail "report without the leak records"

# Default tracking: sampled when the configuration has a tracked variant
# (default -> default_tracked), off otherwise. XSMEM_LIB_DIR replaces the
# search: a directory with bfc's libraries only has no bfc_tracked.
expect_rc 0 "$x" run --workload small
grep -q "under 'default_tracked' (tracking sample)" "$tmp/err" || fail "default configuration not tracked"
grep -q "top call sites by live bytes" "$tmp/err" || fail "no call sites for default"
# Sampled leak figures say so, and give the command for exact ones.
grep -q "leaks: estimated from sampled allocations" "$tmp/err" || fail "sample mode's leaks not said to be estimates"
grep -q "^    xsmem run --track full --workload small\$" "$tmp/err" || fail "no exact-leaks command for the sampled run"
expect_rc 0 "$x" run --track full -- "$r/tools/leaky"
! grep -q "estimated from sampled" "$tmp/err" || fail "full mode's leaks said to be estimates"
expect_rc 0 "$x" run -- "$r/tools/leaky" "a b"
grep -q "^    xsmem run --track full -- $r/tools/leaky 'a b'\$" "$tmp/err" || fail "exact-leaks command not the run's: $(grep -A1 'leaks: estimated' "$tmp/err")"
mkdir -p "$tmp/libs"
cp "$r/allocators/libxsmem_bfc.so" "$r/export/libxsmem_bfc_export.so" "$r/tools/libxsmem_maps.so" "$tmp/libs/"
export XSMEM_LIB_DIR=$tmp/libs
expect_rc 0 "$x" list --names
[ "$(cat "$tmp/out")" = bfc ] || fail "XSMEM_LIB_DIR is not the only place searched, or run's maps helper listed: $(cat "$tmp/out")"
expect_rc 0 "$x" list
expect_rc 0 "$x" run --config bfc --snapshot "$tmp/d.pb" -- /usr/bin/python3 -c 'import time; x = [bytes(1000) for _ in range(20000)]; time.sleep(0.4)'
grep -q "under 'bfc' (tracking off)" "$tmp/err" || fail "bfc configuration not used"
# A copy of the tool outside Bazel's tree finds its workload beside it.
mkdir -p "$tmp/copy"
cp "$x" "$r/tools/demo_workload.py" "$tmp/copy/"
expect_rc 0 env -u RUNFILES_DIR -u TEST_SRCDIR "$tmp/copy/xsmem" run --config bfc --workload python
grep -q "under 'bfc'" "$tmp/err" || fail "a copied xsmem did not run its python workload"
expect_rc 0 "$x" stats "$tmp/d.pb" --format csv
[ "$(wc -l < "$tmp/out")" -ge 3 ] || fail "no timeline in an untracked run (stream of snapshots)"
expect_rc 2 "$x" run --config bfc --track full -- /bin/true
grep -q "no tracked variant" "$tmp/err" || fail "tracked variant message"
expect_rc 2 "$x" run --config default -- /bin/true
grep -q "unknown configuration 'default'" "$tmp/err" || fail "unknown configuration under XSMEM_LIB_DIR"
unset XSMEM_LIB_DIR
expect_rc 2 "$x" run --workload nope
expect_rc 2 "$x" run --workload small -- /bin/true

# --counters: figures or 'not available', never a failure.
expect_rc 0 "$x" run --counters -- /bin/true
grep -q "page faults" "$tmp/err" || fail "no counters section"
grep -Eq "cache misses +([0-9]+|not available)" "$tmp/err" || fail "counter line"

# Errors: clear message, exit status, nothing written.
expect_rc 2 "$x" run --config no_such_config -- /bin/true
grep -q "unknown configuration 'no_such_config'" "$tmp/err" || fail "unknown config message"
expect_rc 1 "$x" run --report "$tmp/never.html" -- /no/such/program
grep -q "program '/no/such/program' not found" "$tmp/err" || fail "missing program message"
expect_rc 1 "$x" run -- no_such_program_xsmem
[ ! -e "$tmp/never.html" ] || fail "report written for a missing program"
expect_rc 1 "$x" run --report "$tmp/never.html" -- "$r/tools/hello_static"
grep -q "statically linked" "$tmp/err" || fail "static binary not refused"
expect_rc 1 "$x" run -- "$r/tools/hello_asan"
grep -q "asan runtime" "$tmp/err" || fail "ASan program not refused"
[ ! -e "$tmp/never.html" ] || fail "report written for a refused program"
expect_rc 1 "$x" run --report /no/such/dir/r.html -- /bin/sh -c 'touch "$0"' "$tmp/ran"
grep -q "cannot write /no/such/dir/r.html" "$tmp/err" || fail "unwritable report message"
[ ! -e "$tmp/ran" ] || fail "program started although its report could not be written"
expect_rc 2 "$x" run --track sometimes -- /bin/true
expect_rc 2 "$x" run --config default
expect_rc 2 "$x" frobnicate
expect_rc 2 "$x" stats "$tmp/s.pb" --format xml

# Corrupt, truncated, empty and missing snapshots.
head -c 200 "$tmp/s.pb" > "$tmp/trunc.pb"
echo "not a snapshot at all" > "$tmp/text.pb"
: > "$tmp/empty.pb"
for f in trunc text empty; do
  expect_rc 1 "$x" stats "$tmp/$f.pb"
  grep -q "$f.pb" "$tmp/err" || fail "message does not name $f.pb"
  expect_rc 1 "$x" report "$tmp/$f.pb" -o "$tmp/bad.html"
  [ ! -e "$tmp/bad.html" ] || fail "report written from $f.pb"
done
expect_rc 1 "$x" stats "$tmp/missing.pb"
grep -q "No such file" "$tmp/err" || fail "missing snapshot message"
# A full disk or a closed stdout fails every format, with a message.
for fmt in text json prometheus csv; do
  for how in full closed; do
    set +e
    if [ $how = full ]; then "$x" stats "$tmp/s.pb" --format $fmt >/dev/full 2>"$tmp/err"; else "$x" stats "$tmp/s.pb" --format $fmt >&- 2>"$tmp/err"; fi
    rc=$?
    set -e
    [ $rc = 1 ] || fail "stats --format $fmt to a $how stdout exited $rc"
    grep -q "stats: cannot write the output: " "$tmp/err" || fail "stats --format $fmt, $how stdout: $(cat "$tmp/err")"
  done
done
# A snapshot's strings are any bytes: escape sequences, invalid UTF-8, a C1
# control, a right-to-left override. The text summary and the report show
# them escaped; JSON and Prometheus stay valid UTF-8.
python3 "$r/export/testing/nasty_snapshot.py" "$tmp/nasty.pb"
expect_rc 0 "$x" stats "$tmp/nasty.pb"
cp "$tmp/out" "$tmp/nasty.txt"
expect_rc 0 "$x" report "$tmp/nasty.pb" -o "$tmp/nasty.html"
for fmt in json prometheus; do expect_rc 0 "$x" stats "$tmp/nasty.pb" --format $fmt; cp "$tmp/out" "$tmp/nasty.$fmt"; done
python3 - "$tmp/nasty.txt" "$tmp/nasty.html" "$tmp/nasty.json" "$tmp/nasty.prometheus" <<'PY'
import sys
for path in sys.argv[1:]:
    raw = open(path, "rb").read()
    raw.decode("utf-8")  # valid UTF-8 throughout
    for bad in (b"\x1b", b"\x07", b"\xc2\x9b", b"\xe2\x80\xae"):
        assert path.endswith((".json", ".prometheus")) or bad not in raw, (path, bad)
text = open(sys.argv[1], "rb").read()
assert rb"evil\x1b[31mRED\x1b]0;title\x07 \xff\xfe \u009b \u202eq" in text, text
html = open(sys.argv[2], "rb").read()
assert rb"evil\x1b[31mRED" in html and b"&quot;quote&quot;" in html
PY
# An endless device is refused at once (it used to be read without bound).
expect_rc 1 timeout 60 "$x" stats /dev/zero
grep -q "/dev/zero: not an xsmem snapshot" "$tmp/err" || fail "/dev/zero: $(cat "$tmp/err")"
# d.pb is a stream of snapshots (an untracked run). Cut short, as a killed
# writer or a full disk leaves it: every record before the cut is read.
n=$("$x" stats "$tmp/d.pb" --format csv | wc -l)
size=$(stat -c %s "$tmp/d.pb")
head -c $((size - 7)) "$tmp/d.pb" > "$tmp/cut.pb"
expect_rc 0 "$x" stats "$tmp/cut.pb" --format csv
grep -q "cut.pb: byte [0-9]*: record cut short (its writer stopped" "$tmp/err" || fail "cut stream: $(cat "$tmp/err")"
[ "$(wc -l < "$tmp/out")" -ge 3 ] || fail "cut stream: intact records not read"
# One flipped bit in the middle: that record is refused with its offset, the
# others are read, and the status says something was refused.
python3 - "$tmp/d.pb" "$tmp/flip.pb" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
d[len(d) // 2] ^= 0x04
open(sys.argv[2], "wb").write(d)
PY
expect_rc 1 "$x" stats "$tmp/flip.pb" --format json
grep -Eq "flip.pb: byte [0-9]+: damaged record( header)? \(checksum mismatch\); refused" "$tmp/err" || fail "flipped bit: $(cat "$tmp/err")"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/out" || fail "no output from the intact records"
# A single-snapshot file with a flipped bit is refused whole, never misread.
python3 - "$tmp/s.pb" "$tmp/flip1.pb" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
d[len(d) // 2] ^= 0x01
open(sys.argv[2], "wb").write(d)
PY
expect_rc 1 "$x" stats "$tmp/flip1.pb"
grep -q "flip1.pb: byte 16: damaged record (checksum mismatch); refused" "$tmp/err" || fail "flipped bit in a single snapshot: $(cat "$tmp/err")"
grep -q "flip1.pb: no intact snapshot" "$tmp/err" || fail "single snapshot: $(cat "$tmp/err")"
ls "$tmp" | grep -q tmp && fail "temporary files left behind"
echo PASS
