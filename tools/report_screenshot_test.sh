#!/usr/bin/env bash
# The report of the recorded snapshots rendered by headless Chromium: the
# charts must really be drawn (pixels of the chart colours: blue bars and
# lines, orange free chunks of the BFC map). The screenshot is kept as a test
# output (bazel-testlogs/tools/report_screenshot_test/test.outputs/report.png).
set -euo pipefail
r=${TEST_SRCDIR:-$0.runfiles}/xsmem
tmp=${TEST_TMPDIR:-$(mktemp -d)}
out=${TEST_UNDECLARED_OUTPUTS_DIR:-$tmp}
chromium=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chromium" ] || { echo "chromium is not installed (./bazelw installs Debian's chromium)" >&2; exit 1; }
"$r/tools/xsmem" report "$r/tools/testdata/leaky_python.pb" "$r/tools/testdata/bfc_python.pb" -o "$tmp/report.html"
HOME=$tmp timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
  --disable-background-networking --disable-component-update --no-first-run \
  --user-data-dir="$(mktemp -d "$tmp/profile.XXXXXX")" --window-size=1400,1800 \
  --screenshot="$out/report.png" "file://$tmp/report.html" 2>"$tmp/chromium.err" || {
  tail -20 "$tmp/chromium.err"; exit 1; }
# Blue: timelines, histogram, used bytes; orange: free bytes in the BFC map.
/usr/bin/python3 "$r/tools/png_colors.py" "$out/report.png" 2563eb:5000 f59e0b:1000
echo PASS
