#!/bin/bash
# deploy/prometheus/rules_test.sh: the shipped configuration and alerting rules
# pass Debian's promtool: `check config` (the scrape job, its file_sd target
# list and the rule file it names) with no warning, `check rules`, and `test
# rules` on xsmem_rules_test.yml (each alert fires past its threshold and its
# `for`, not before, and not on series below it).
set -euo pipefail
cd "$(dirname "$0")"
PROMTOOL=/usr/bin/promtool
[ -x "$PROMTOOL" ] || { echo "FAIL: no $PROMTOOL: install Debian's prometheus package (./bazelw does)"; exit 1; }
out=$("$PROMTOOL" check config prometheus.yml 2>&1) || { echo "FAIL: check config: $out"; exit 1; }
if grep -q WARNING <<<"$out"; then
  echo "FAIL: check config warns: $out"
  exit 1
fi
"$PROMTOOL" check rules xsmem_rules.yml
"$PROMTOOL" test rules xsmem_rules_test.yml
echo "ok: prometheus.yml, xsmem_rules.yml and its tests"
