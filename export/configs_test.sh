#!/bin/bash
# export/configs_test.sh: every configuration's exporter library, preloaded into
# python3, writes an exit snapshot whose Prometheus rendering (detail groups
# included) passes prometheus_client's parser with no duplicate family, and
# whose JSON passes json.loads. New configurations are covered automatically
# (the data is //export:preload_libraries).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
TMP="${TEST_TMPDIR:-$(mktemp -d)}"
PY=/usr/bin/python3
n=0
for lib in "$HERE"/libxsmem_*_export.so; do
  name="$(basename "$lib" _export.so)"
  name="${name#libxsmem_}"
  LD_PRELOAD="$lib" XSMEM_SNAPSHOT="$TMP/$name.pb" $PY -c 'd = {i: str(i) * 3 for i in range(20000)}'
  "$HERE/xsmem_snapshot_dump" "$TMP/$name.pb" prometheus >"$TMP/$name.prom"
  "$HERE/xsmem_snapshot_dump" "$TMP/$name.pb" json >"$TMP/$name.json"
  $PY - "$TMP/$name" "$name" <<'PYEOF'
import json, sys
from prometheus_client.parser import text_string_to_metric_families
base, name = sys.argv[1], sys.argv[2]
fams = list(text_string_to_metric_families(open(base + ".prom").read()))
names = [f.name for f in fams]
dups = sorted(set(n for n in names if names.count(n) > 1))
assert not dups, (name, dups)
snap = json.load(open(base + ".json"))
assert snap["config"] == name, (name, snap["config"])
proc = [a for a in snap["allocators"] if a["process_allocator"]]
assert proc and proc[0]["stats"]["num_allocs"] > 0, (name, proc)
detail = sum(len(a["detail"]) for a in snap["allocators"])
print("ok: %-16s %3d families, %4d samples, %d detail groups" %
      (name, len(fams), sum(len(f.samples) for f in fams), detail))
PYEOF
  n=$((n + 1))
done
[ "$n" -ge 2 ] || { echo "FAIL: only $n libraries found"; exit 1; }
