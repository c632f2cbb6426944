#!/usr/bin/env bash
# `xsmem top` against a live process serving XSMEM_HTTP (export's live_demo):
# frames with the allocators, a sparkline and an allocation rate; a process
# serving with a token (XSMEM_HTTP_TOKEN) is read with the token from the
# same variables, and refuses without it; an address nobody serves is an error.
set -euo pipefail
r=${TEST_SRCDIR:-$0.runfiles}/xsmem
tmp=${TEST_TMPDIR:-$(mktemp -d)}
XSMEM_HTTP=127.0.0.1:0 "$r/export/live_demo" 60 "$tmp/port" 2>"$tmp/demo.err" &
demo=$!
trap 'kill $demo 2>/dev/null || true; wait $demo 2>/dev/null || true' EXIT
for _ in $(seq 200); do [ -s "$tmp/port" ] && break; sleep 0.05; done
port=$(cat "$tmp/port")
"$r/tools/xsmem" top "127.0.0.1:$port" --count 3 --interval 0.3 > "$tmp/top.txt"
cat "$tmp/top.txt"
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(grep -c '^xsmem top ' "$tmp/top.txt")" = 3 ] || fail "want 3 frames"
grep -q "frame 3" "$tmp/top.txt" || fail "frame numbers"
grep -Eq "alloc rate [0-9]+/s" "$tmp/top.txt" || fail "no allocation rate"
grep -q "[▁▂▃▄▅▆▇█]" "$tmp/top.txt" || fail "no sparkline"
grep -q "allocator  *allocs" "$tmp/top.txt" || fail "no allocator table"
# Off a terminal every line fits 80 columns (long ones wrap, indented).
python3 -c '
import sys
wide = [l for l in open(sys.argv[1], encoding="utf-8").read().split("\n") if len(l) > 80]
sys.exit("lines over 80 columns: %r" % wide[:2] if wide else 0)' "$tmp/top.txt" || fail "top is wider than 80 columns"
grep -q "tiers, in use/cached" "$tmp/top.txt" || fail "the tiers line does not say what its figures are"
# On a terminal, q quits at once (a pseudo-terminal stands in for one).
python3 - "$r/tools/xsmem" "127.0.0.1:$port" <<'PY' || fail "q does not quit top"
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "top", sys.argv[2], "--interval", "30"])
out = b""
deadline = time.time() + 20
while b"q quits" not in out and time.time() < deadline:
    if select.select([fd], [], [], 0.5)[0]:
        out += os.read(fd, 65536)
os.write(fd, b"q")
end = time.time() + 5
while time.time() < end:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        sys.exit(0 if os.WEXITSTATUS(status) == 0 else 1)
    try:
        select.select([fd], [], [], 0.1) and os.read(fd, 65536)
    except OSError:
        pass
os.kill(pid, 9)
sys.exit("top still running 5 s after q")
PY
kill $demo; wait $demo 2>/dev/null || true

# With a token: refused without it (the server's reason shown), read with it.
rm -f "$tmp/port"
XSMEM_HTTP=127.0.0.1:0 XSMEM_HTTP_TOKEN=t0k "$r/export/live_demo" 60 "$tmp/port" 2>"$tmp/demo.err" &
demo=$!
for _ in $(seq 200); do [ -s "$tmp/port" ] && break; sleep 0.05; done
tport=$(cat "$tmp/port")
set +e
env -u XSMEM_HTTP_TOKEN "$r/tools/xsmem" top "127.0.0.1:$tport" --count 1 >/dev/null 2>"$tmp/err"; rc=$?
set -e
[ $rc = 1 ] || fail "no token: exit $rc"
grep -q "HTTP 401 (a token is required" "$tmp/err" || fail "no token: $(cat "$tmp/err")"
grep -q "set XSMEM_HTTP_TOKEN" "$tmp/err" || fail "no hint: $(cat "$tmp/err")"
XSMEM_HTTP_TOKEN=t0k "$r/tools/xsmem" top "127.0.0.1:$tport" --count 1 > "$tmp/top2.txt"
grep -q "^xsmem top " "$tmp/top2.txt" || fail "with XSMEM_HTTP_TOKEN"
echo t0k > "$tmp/token"
XSMEM_HTTP_TOKEN_FILE=$tmp/token "$r/tools/xsmem" top "localhost:$tport" --count 1 > "$tmp/top3.txt"
grep -q "^xsmem top " "$tmp/top3.txt" || fail "with XSMEM_HTTP_TOKEN_FILE"
kill $demo; wait $demo 2>/dev/null || true
set +e
"$r/tools/xsmem" top "127.0.0.1:$port" --count 1 2>"$tmp/err"; rc=$?
set -e
[ $rc = 1 ] || fail "unreachable process: exit $rc"
grep -q "cannot reach" "$tmp/err" || fail "unreachable message"
echo PASS
