#!/usr/bin/env bash
# memcheck over xsmem fronts (tracking/tool_hooks.h's MEMPOOL requests): the
# errors run must report the leaked buddy block as definitely lost at
# vg_leak_from_buddy and the reads of freed buddy and bfc memory at
# vg_read_after_free, and fail with --error-exitcode; the clean run (splits,
# merges, in-place realloc, calloc; a bfc nested on buddy blocks) must report nothing.
set -uo pipefail
bin=tracking/vg_fronts
[ -x "$bin" ] || { echo "vg_fronts binary not found"; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind not installed (./bazelw installs it)"; exit 1; }
fail=0
expect() { grep -Eq -- "$2" <<<"$1" || { echo "FAIL: expected '$2' in:"; echo "$1"; fail=1; }; }
reject() { ! grep -Eq -- "$2" <<<"$1" || { echo "FAIL: unexpected '$2' in:"; echo "$1"; fail=1; }; }
vg=(valgrind --tool=memcheck --leak-check=full --error-exitcode=42 --num-callers=12)

out=$("${vg[@]}" "$bin" errors 2>&1); rc=$?
[ $rc = 42 ] || { echo "FAIL: errors run exited $rc, expected 42 (--error-exitcode)"; echo "$out"; fail=1; }
expect "$out" "^done$"
# The reads after free: one from each front (buddy, bfc, the small tier), in the reading function.
expect "$out" "Invalid read of size 1"
[ "$(grep -c 'Invalid read of size 1' <<<"$out")" = 3 ] || { echo "FAIL: expected 3 invalid reads"; fail=1; }
expect "$out" "Invalid read of size 1(.|$'\n')*"
reads=$(grep -A1 "Invalid read of size 1" <<<"$out")
[ "$(grep -c 'vg_read_after_free (vg_fronts.c:' <<<"$reads")" = 3 ] || { echo "FAIL: reads not at vg_read_after_free:"; echo "$reads"; fail=1; }
# The leak: one block of the buddy's 4 KiB, allocated in vg_leak_from_buddy.
expect "$out" "4,096 bytes in 1 blocks are definitely lost"
leak=$(grep -A6 "bytes in 1 blocks are definitely lost" <<<"$out")
expect "$leak" "buddy_alloc \\(buddy.c:"
expect "$leak" "vg_leak_from_buddy \\(vg_fronts.c:"
expect "$out" "definitely lost: 4,096 bytes in 1 blocks"
expect "$out" "ERROR SUMMARY: 4 errors"

out=$("${vg[@]}" "$bin" clean 2>&1); rc=$?
[ $rc = 0 ] || { echo "FAIL: clean run exited $rc"; echo "$out"; fail=1; }
expect "$out" "^done$"
expect "$out" "ERROR SUMMARY: 0 errors"
# The nested bfc's live block (1 KiB chunk inside a lent buddy block) and the
# program's one malloc block, no overlapping chunks (memcheck would abort).
expect "$out" "still reachable: 1,025 bytes in 2 blocks"
reject "$out" "overlaps with block|impossible"
reject "$out" "definitely lost: [1-9]"
reject "$out" "Invalid (read|write)"
# The fronts' own accesses to links and headers in free memory, their
# in-place realloc, caches and trim: no memcheck error (buddy, bfc, pool over
# bfc and over the OS, large, os).
out=$("${vg[@]}" tracking/vg_workouts --gtest_filter='ToolHooks.*' 2>&1); rc=$?
[ $rc = 0 ] || { echo "FAIL: workouts under memcheck exited $rc"; echo "$out"; fail=1; }
expect "$out" "PASSED.* 6 tests"
expect "$out" "ERROR SUMMARY: 0 errors"
[ $fail = 0 ] && echo "valgrind checks passed"
exit $fail
