#!/bin/bash
# export/dashboard_test.sh: the dashboard in headless Chromium (Debian's
# chromium) against a live process. Checks that every chart drew data (each
# canvas reports what it drew in data-points) and keeps a screenshot as a test
# output (bazel-testlogs/export/dashboard_test/test.outputs/dashboard.png).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
TMP="${TEST_TMPDIR:-$(mktemp -d)}"
OUT="${TEST_UNDECLARED_OUTPUTS_DIR:-$TMP}"
CHROMIUM="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$CHROMIUM" ]; then
  echo "chromium is not installed (./bazelw installs Debian's chromium)" >&2
  exit 1
fi

rm -f "$TMP/port"
XSMEM_HTTP=127.0.0.1:0 XSMEM_ALERT_BYTES_IN_USE=1m "$HERE/live_demo" 120 "$TMP/port" 2>"$TMP/demo.err" &
DEMO=$!
trap 'kill $DEMO 2>/dev/null || true; wait $DEMO 2>/dev/null || true' EXIT
for _ in $(seq 200); do [ -s "$TMP/port" ] && break; sleep 0.05; done
PORT="$(cat "$TMP/port")"
URL="http://127.0.0.1:$PORT/"
sleep 1  # a few sampler points for the usage chart

browse() {
  local profile
  profile="$(mktemp -d "$TMP/profile.XXXXXX")"
  HOME="$TMP" timeout 200 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --disable-background-networking --disable-component-update --no-first-run \
    --user-data-dir="$profile" --virtual-time-budget=5000 --window-size=1280,1400 "$@" "$URL" \
    2>>"$TMP/chromium.err"
}

browse --dump-dom >"$TMP/dom.html" || browse --dump-dom >"$TMP/dom.html"
attr() {  # attr ID NAME: the attribute of the element with that id
  sed -n "s/.*id=\"$1\"[^>]*data-$2=\"\([0-9]*\)\".*/\1/p" "$TMP/dom.html" | head -1
}
fail=0
check() {  # check WHAT VALUE MIN
  if [ -z "$2" ] || [ "$2" -lt "$3" ]; then
    echo "FAIL: $1 = '${2}' (want >= $3)"
    fail=1
  else
    echo "ok: $1 = $2"
  fi
}
check "usage points" "$(attr usage points)" 2
check "histogram buckets" "$(attr histogram points)" 3
check "tier bars" "$(attr tiers points)" 3
check "node bars" "$(attr nodes points)" 1
check "call sites" "$(attr callsites count)" 3
check "active alerts" "$(attr alerts count)" 1
grep -q 'live, updated' "$TMP/dom.html" || { echo "FAIL: status is not live"; fail=1; }
grep -q 'ALERT bytes_in_use of os' "$TMP/dom.html" || { echo "FAIL: no alert flag"; fail=1; }

# Chromium can be slow to start on a loaded machine: one more try if needed.
for _ in 1 2; do
  browse --screenshot="$OUT/dashboard.png" >/dev/null || true
  size=$(stat -c %s "$OUT/dashboard.png" 2>/dev/null || echo 0)
  [ "$size" -ge 20000 ] && break
done
check "screenshot bytes" "$size" 20000
if [ "$fail" != 0 ]; then
  cp "$TMP/dom.html" "$OUT/dom.html"
  tail -n 20 "$TMP/chromium.err" "$TMP/demo.err"
fi
exit $fail
