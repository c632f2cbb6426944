#!/bin/bash
# deploy/prometheus/prometheus_test.sh: a real Prometheus (Debian's) runs the
# shipped prometheus.yml and xsmem_rules.yml (scrape and evaluation intervals
# cut to 1 s, storage in the test's scratch directory, on a free loopback
# port) and scrapes two processes under a steady load through the file_sd
# target list: python3 with the `default` configuration's exporter library
# preloaded, and with `bfc`'s. Through the HTTP query API: `up` is 1 for both,
# xsmem_in_use_bytes and rate(xsmem_allocations_total[5s]) have series from
# both with the allocator and config labels of each process's configuration
# (a positive rate: the load allocates), and the rule group is loaded with its
# five rules. Everything started is stopped on exit. About 10 s.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$HERE/../.."
TMP="${TEST_TMPDIR:-$(mktemp -d)}"
PROMETHEUS=/usr/bin/prometheus
[ -x "$PROMETHEUS" ] || { echo "FAIL: no $PROMETHEUS: install Debian's prometheus package (./bazelw does)"; exit 1; }
source "$ROOT/export/testing/serve.sh"

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
CONFIGS=(default bfc)
targets=()
for c in "${CONFIGS[@]}"; do
  serve "$ROOT/export/libxsmem_${c}_export.so" "$c"
  pids+=("$SERVED_PID")
  targets+=("{\"targets\": [\"127.0.0.1:$SERVED_PORT\"], \"labels\": {\"expect_config\": \"$c\"}}")
done

# The shipped configuration, with 1 s intervals; the target list names the two processes.
mkdir -p "$TMP/etc/targets"
cp "$HERE/xsmem_rules.yml" "$TMP/etc/"
sed -e 's/\(scrape_interval\|evaluation_interval\|refresh_interval\): .*/\1: 1s/' "$HERE/prometheus.yml" \
  >"$TMP/etc/prometheus.yml"
grep -c ': 1s$' "$TMP/etc/prometheus.yml" | grep -qx 3 || { echo "FAIL: intervals not found in prometheus.yml"; exit 1; }
(
  IFS=,
  echo "[${targets[*]}]"
) >"$TMP/etc/targets/xsmem.json"
PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PROMETHEUS" --config.file="$TMP/etc/prometheus.yml" --storage.tsdb.path="$TMP/data" \
  --web.listen-address="127.0.0.1:$PORT" --log.level=warn 2>"$TMP/prometheus.log" &
pids+=($!)

/usr/bin/python3 - "$PORT" "${CONFIGS[@]}" <<'PYEOF' || { echo "--- prometheus.log"; tail -20 "$TMP/prometheus.log"; exit 1; }
import json, sys, time, urllib.parse, urllib.request

port, configs = sys.argv[1], sys.argv[2:]
base = "http://127.0.0.1:%s" % port

def get(path, **params):
    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())["data"]

def by_config(query):
    """Series of an instant query, grouped by the target's expect_config label."""
    out = {}
    for r in get("/api/v1/query", query=query)["result"]:
        out.setdefault(r["metric"].get("expect_config"), []).append(r)
    return out

def check():
    """Returns what is still missing ("" when all is there)."""
    up = by_config("up")
    for c in configs:
        if [float(r["value"][1]) for r in up.get(c, [])] != [1.0]:
            return "up of %s: %s" % (c, up.get(c))
    for query in ("xsmem_in_use_bytes", "rate(xsmem_allocations_total[5s])"):
        got = by_config(query)
        for c in configs:
            mine = [r for r in got.get(c, []) if r["metric"].get("allocator") == c]
            if not mine:
                return "%s: no series with allocator=%r from the %s process: %s" % (
                    query, c, c, sorted({r["metric"].get("allocator") for r in got.get(c, [])}))
            if mine[0]["metric"].get("config") != c:
                return "%s: config label %r, not %r" % (query, mine[0]["metric"].get("config"), c)
            if query.startswith("rate") and not float(mine[0]["value"][1]) > 0:
                return "%s: %s allocates, but the rate is %s" % (query, c, mine[0]["value"][1])
            if "__name__" in mine[0]["metric"] and mine[0]["metric"]["__name__"] != query:
                return "%s: named %s" % (query, mine[0]["metric"]["__name__"])
    groups = get("/api/v1/rules")["groups"]
    rules = [r["name"] for g in groups if g["name"] == "xsmem" for r in g["rules"]]
    if len(rules) != 5:
        return "rule group xsmem: %s" % rules
    return ""

deadline = time.monotonic() + 30
why = "Prometheus not ready"
while time.monotonic() < deadline:
    try:
        why = check()
    except OSError as e:  # not listening yet
        why = "Prometheus not answering: %s" % e
    if not why:
        break
    time.sleep(0.5)
if why:
    print("FAIL:", why)
    sys.exit(1)
print("ok: Prometheus scraped %s; xsmem_in_use_bytes and rate(xsmem_allocations_total[5s]) "
      "have both, with their allocator labels; 5 rules loaded" % " and ".join(configs))
PYEOF
