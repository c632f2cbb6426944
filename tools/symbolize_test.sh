#!/usr/bin/env bash
# Names out of the process (tracking/symbolizer.h, tools/symbolize.c): a
# program built with -g is stripped of every symbol and its debug sections go
# to a separate file, placed as a distribution places it:
#   1. by build-id, DIR/.build-id/ab/cdef....debug, its sections compressed
#      (as Debian's -dbgsym files have them), DIR given by XSMEM_DEBUG_ROOT;
#   2. by .gnu_debuglink, in the module's .debug/ and under DIR/MODULEDIR/,
#      with a copy whose CRC does not match refused.
# The in-process leak report and xsmem run name its functions with file:line
# through it; the tools print C++ names demangled (orphan_maker(unsigned
# long)); both print the same module+0xOFFSET for every frame; xsmem stats
# re-symbolizes a snapshot from the modules it records, with --debug-root.
set -euo pipefail
r=${TEST_SRCDIR:-$0.runfiles}/xsmem
x=$r/tools/xsmem
src=tools/testdata/orphans.cc
tmp=${TEST_TMPDIR:-$(mktemp -d)}
fail() { echo "FAIL: $*" >&2; exit 1; }
line_of() { grep -n -F "$1" "$r/$src" | head -1 | cut -d: -f1; }
expect() { grep -qE -- "$2" <<<"$1" || fail "expected '$2' in:
$1"; }
reject() { ! grep -qE -- "$2" <<<"$1" || fail "did not expect '$2' in:
$1"; }
CXX_LINE=$(line_of 'void *p = malloc(n);  // the C++ leak')
C_LINE=$(line_of 'void *p = malloc(n);  // the C leak')

# The stripped program and its debug file.
mkdir -p "$tmp/bin" "$tmp/root" "$tmp/empty"
cp "$r/tools/orphans" "$tmp/bin/orphans"
chmod u+w "$tmp/bin/orphans"
objcopy --only-keep-debug --compress-debug-sections=zlib "$tmp/bin/orphans" "$tmp/orphans.debug"
objcopy --strip-all "$tmp/bin/orphans"
! readelf -S "$tmp/bin/orphans" | grep -qE '\.symtab|\.debug_' || fail "the program is not stripped"
readelf -S "$tmp/orphans.debug" 2>/dev/null | grep -A1 '\.debug_line ' | grep -q ' C ' || fail "debug sections not compressed"
id=$(readelf -n "$tmp/bin/orphans" | sed -n 's/.*Build ID: *//p')
[ -n "$id" ] || fail "no build-id"
mkdir -p "$tmp/root/.build-id/${id:0:2}"
cp "$tmp/orphans.debug" "$tmp/root/.build-id/${id:0:2}/${id:2}.debug"

run() {  # run DEBUG_ROOT PROGRAM SNAPSHOT: xsmem run, the in-process report on
  XSMEM_DEBUG_ROOT=$1 XSMEM_LEAK_REPORT=1 "$x" run --config system_tracked --track full --snapshot "$3" -- "$2" 2>&1
}
json_symbols() {  # the leak stacks of a snapshot, through xsmem stats
  "$x" stats "$@" --format json | python3 -c '
import json, sys
for l in json.load(sys.stdin)["leaks"]:
    print(l["symbol"].replace("\n", " | "))'
}

# Without the debug file: no names (only module+0xOFFSET), no lines.
out=$(run "$tmp/empty" "$tmp/bin/orphans" "$tmp/bare.pb")
expect "$out" "#0 0x[0-9a-f]+ orphans\+0x[0-9a-f]+\$"
reject "$out" "orphan_maker|_Z12orphan_makerm|leak_plain"

# 1. By build-id, compressed.
out=$(run "$tmp/root" "$tmp/bin/orphans" "$tmp/s.pb")
# The in-process report: names (C++ ones mangled: demangling allocates) and lines.
expect "$out" "#0 0x[0-9a-f]+ _Z12orphan_makerm\+0x[0-9a-f]+ \(orphans\+0x[0-9a-f]+\) $src:$CXX_LINE(  \(definitely lost\))?\$"
expect "$out" "#0 0x[0-9a-f]+ leak_plain\+0x[0-9a-f]+ \(orphans\+0x[0-9a-f]+\) $src:$C_LINE(  \(definitely lost\))?\$"
expect "$out" "#1 0x[0-9a-f]+ main\+0x[0-9a-f]+ \(orphans\+0x[0-9a-f]+\) $src:"
# xsmem run's summary: demangled.
expect "$out" "in +5 blocks +orphan_maker\(unsigned long\)\+0x[0-9a-f]+ \(orphans\+0x[0-9a-f]+\) $src:$CXX_LINE(  \(definitely lost\))?\$"
expect "$out" "in +3 blocks +leak_plain\+0x[0-9a-f]+ \(orphans\+0x[0-9a-f]+\) $src:$C_LINE(  \(definitely lost\))?\$"
stacks=$(json_symbols "$tmp/s.pb")
expect "$stacks" "^orphan_maker\(unsigned long\)\+0x[0-9a-f]+ \(orphans\+0x[0-9a-f]+\) $src:$CXX_LINE \| main\+"

# The same frame, the same module+0xOFFSET (and line) in the report and the tools.
python3 - "$out" "$stacks" <<'PY'
import re, sys
report, stacks = sys.argv[1], sys.argv[2]
def where(frame):  # "module+0xOFFSET file:line" of a frame's text
    m = re.search(r"\((\S+\+0x[0-9a-f]+)\)(.*)$", frame) or re.match(r"(\S+\+0x[0-9a-f]+)(.*)$", frame)
    return m.group(1) + m.group(2)
# In-process: each site's frames, from "#N 0xADDR TEXT" lines.
sites, cur = [], None
for line in report.splitlines():
    m = re.match(r"\s+#(\d+) 0x[0-9a-f]+ (.*)$", line)
    if not m:
        cur = None
        continue
    if m.group(1) == "0":
        cur = []
        sites.append(cur)
    if cur is not None:
        cur.append(where(m.group(2)))
tools = [[where(f) for f in s.split(" | ")] for s in stacks.splitlines()]
mine = [s for s in sites if s and "orphans+0x" in s[0]]
assert len(mine) == 2, sites  # orphan_maker's and leak_plain's
for s in mine:
    assert s in tools, ("in-process stack not printed the same by the tools", s, tools)
PY

# xsmem stats re-symbolizes from the modules the snapshot records: the bare
# run's snapshot gets its names with --debug-root.
stacks=$(json_symbols "$tmp/bare.pb")
reject "$stacks" "orphan_maker"
stacks=$(json_symbols "$tmp/bare.pb" --debug-root "$tmp/empty:$tmp/root")
expect "$stacks" "^orphan_maker\(unsigned long\)\+0x[0-9a-f]+ \(orphans\+0x[0-9a-f]+\) $src:$CXX_LINE \|"
expect "$stacks" "^leak_plain\+0x[0-9a-f]+ \(orphans\+0x[0-9a-f]+\) $src:$C_LINE \|"

# A file at the module's path with another build-id is not the program that
# ran: its symbols are not used (nor the debug file found by its id).
# (The same program with its symbols, its build-id changed: a rebuild.)
cp "$tmp/bin/orphans" "$tmp/orphans.stripped"
python3 - "$r/tools/orphans" "$tmp/bin/orphans" "$id" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
at = data.find(bytes.fromhex(sys.argv[3]))
assert at > 0, "build-id not found"
data[at] ^= 0xff
open(sys.argv[2], "wb").write(data)
PY
readelf -s "$tmp/bin/orphans" | grep -q orphan_maker || fail "the rebuilt program has no symbols"
stacks=$(json_symbols "$tmp/bare.pb" --debug-root "$tmp/root")
reject "$stacks" "orphan_maker|leak_plain|(^| )main\+"
expect "$stacks" "^orphans\+0x[0-9a-f]+ \|"
cp "$tmp/orphans.stripped" "$tmp/bin/orphans"

# 2. By .gnu_debuglink: in the module's .debug/ directory...
mkdir -p "$tmp/dl/.debug" "$tmp/dl2" "$tmp/root2$tmp/dl2"
cp "$r/tools/orphans" "$tmp/dl/orphans.full"
chmod u+w "$tmp/dl/orphans.full"
objcopy --only-keep-debug "$tmp/dl/orphans.full" "$tmp/dl/.debug/orphans.debug"
(cd "$tmp/dl/.debug" && objcopy --strip-all --add-gnu-debuglink=orphans.debug "$tmp/dl/orphans.full" "$tmp/dl/orphans")
rm "$tmp/dl/orphans.full"
readelf -S "$tmp/dl/orphans" | grep -q '\.gnu_debuglink' || fail "no debug link"
out=$(run "$tmp/empty" "$tmp/dl/orphans" "$tmp/dl.pb")
expect "$out" "#0 0x[0-9a-f]+ _Z12orphan_makerm\+0x[0-9a-f]+ \(orphans\+0x[0-9a-f]+\) $src:$CXX_LINE(  \(definitely lost\))?\$"
expect "$out" "in +5 blocks +orphan_maker\(unsigned long\)\+0x[0-9a-f]+ \(orphans\+0x[0-9a-f]+\) $src:$CXX_LINE(  \(definitely lost\))?\$"
# ... and under DEBUG_ROOT/MODULEDIR/ (gdb's third place).
cp "$tmp/dl/orphans" "$tmp/dl2/orphans"
cp "$tmp/dl/.debug/orphans.debug" "$tmp/root2$tmp/dl2/orphans.debug"
out=$(run "$tmp/root2" "$tmp/dl2/orphans" "$tmp/dl2.pb")
expect "$out" "#0 0x[0-9a-f]+ leak_plain\+0x[0-9a-f]+ \(orphans\+0x[0-9a-f]+\) $src:$C_LINE(  \(definitely lost\))?\$"
# A debug file whose CRC is not the link's is not this module's: refused.
printf 'x' >>"$tmp/root2$tmp/dl2/orphans.debug"
out=$(run "$tmp/root2" "$tmp/dl2/orphans" "$tmp/dl3.pb")
reject "$out" "orphan_maker|_Z12orphan_makerm|leak_plain"
expect "$out" "#0 0x[0-9a-f]+ orphans\+0x[0-9a-f]+\$"
echo PASS
