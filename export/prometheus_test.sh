#!/bin/bash
# export/prometheus_test.sh: /metrics of every configuration's exporter
# library, preloaded into a steady python3 load, passes `promtool check
# metrics` (Debian's prometheus package) with nothing to say: no error and no
# lint warning (names, units, suffixes, types, HELP). Each process runs with
# every family on that a configuration can write: tracking (the request size
# histogram, the tracker's figures), call sites, all four alerts. New
# configurations are covered automatically (the data is
# //export:preload_libraries). Before issue 22, promtool failed the tracked
# configurations (xsmem_call_site_live_count, xsmem_size_histogram_*) and
# warned on bfc and pool (xsmem_chunk_summary_*, xsmem_bfc_count).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
TMP="${TEST_TMPDIR:-$(mktemp -d)}"
PROMTOOL=/usr/bin/promtool
[ -x "$PROMTOOL" ] || { echo "FAIL: no $PROMTOOL: install Debian's prometheus package (./bazelw does)"; exit 1; }
source "$HERE/testing/serve.sh"
FAMILIES=(XSMEM_TRACK=full XSMEM_METRICS_CALL_SITES=8 XSMEM_ALERT_BYTES_IN_USE=1k XSMEM_ALERT_FRAGMENTATION=0.9
  XSMEM_ALERT_ALLOC_RATE=1 XSMEM_ALERT_POOL_HIT_RATE=0.99)
names=() pids=() ports=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
for lib in "$HERE"/libxsmem_*_export.so; do
  name="$(basename "$lib" _export.so)"
  name="${name#libxsmem_}"
  serve "$lib" "$name" "${FAMILIES[@]}"
  names+=("$name") pids+=("$SERVED_PID") ports+=("$SERVED_PORT")
done
[ "${#names[@]}" -ge 2 ] || { echo "FAIL: only ${#names[@]} libraries found"; exit 1; }
sleep 1  # a few rounds of the load, and the sampler's first points (alerts)
status=0
for i in "${!names[@]}"; do
  name=${names[$i]}
  scrape "${ports[$i]}" >"$TMP/$name.prom"
  rc=0
  out=$("$PROMTOOL" check metrics <"$TMP/$name.prom" 2>&1) || rc=$?
  series=$(grep -c '^xsmem_' "$TMP/$name.prom" || true)
  if [ "$rc" != 0 ] || [ -n "$out" ]; then
    echo "FAIL: $name: promtool check metrics (exit $rc) on $series series:"
    echo "$out"
    status=1
    continue
  fi
  # The tracked configurations write the histogram: it was checked too.
  if [[ $name == *_tracked ]] && ! grep -q '^xsmem_request_size_bytes_bucket{' "$TMP/$name.prom"; then
    echo "FAIL: $name: tracked, but no xsmem_request_size_bytes histogram"
    status=1
    continue
  fi
  echo "ok: $name: $series series, promtool check metrics has nothing to say"
done
exit $status
