#!/bin/bash
# deploy/grafana/dashboard_test.sh: every PromQL expression of the Grafana
# dashboard (xsmem.json) and of the Prometheus alerting rules names only
# metrics the exporter serves (check_names.py), against /metrics scraped from
# processes that serve every family the dashboard shows: default_tracked with
# tracking, call sites and an alert on (histogram, tiers, call sites, alerts),
# numa (per-node figures), pool (hits and misses).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$HERE/../.."
TMP="${TEST_TMPDIR:-$(mktemp -d)}"
source "$ROOT/export/testing/serve.sh"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
serve "$ROOT/export/libxsmem_default_tracked_export.so" default_tracked XSMEM_TRACK=full XSMEM_METRICS_CALL_SITES=10 \
  XSMEM_ALERT_BYTES_IN_USE=1k
pids+=("$SERVED_PID") ports=("$SERVED_PORT")
for c in numa pool; do
  serve "$ROOT/export/libxsmem_${c}_export.so" "$c"
  pids+=("$SERVED_PID") ports+=("$SERVED_PORT")
done
sleep 1  # the sampler's first points (alerts), a few rounds of the load
for p in "${ports[@]}"; do scrape "$p"; done | sed -n 's/^\(xsmem_[a-zA-Z0-9_:]*\).*/\1/p' | sort -u >"$TMP/served"
for name in xsmem_request_size_bytes_bucket xsmem_call_site_live_bytes xsmem_node_in_use_bytes xsmem_pool_hits_total; do
  grep -qx "$name" "$TMP/served" || { echo "FAIL: the scrapes lack $name: the test serves too little"; exit 1; }
done
/usr/bin/python3 "$HERE/check_names.py" "$TMP/served" "$HERE/xsmem.json" "$ROOT/deploy/prometheus/xsmem_rules.yml"
