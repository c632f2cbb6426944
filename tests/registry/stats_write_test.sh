#!/bin/bash
# xsmem_malloc_stats_write from a program linked with `default`: the JSON
# parses, names the allocator, carries every stats field and the detail
# figures, and agrees with the text table on the allocation count.
set -euo pipefail
bin=$(find -L . -name stats_write_main -type f -print -quit)
"$bin" json >"$TEST_TMPDIR/stats.json"
"$bin" text >"$TEST_TMPDIR/stats.txt"
python3 - "$TEST_TMPDIR/stats.json" "$TEST_TMPDIR/stats.txt" <<'PY'
import json, re, sys
doc = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
assert doc["allocator"] == "default", doc["allocator"]
stats = doc["stats"]
for field in ("num_allocs", "num_frees", "bytes_in_use", "bytes_reserved", "bytes_cached", "bytes_committed",
              "fragmentation"):
    assert field in stats, field
assert stats["num_allocs"] >= 100, stats["num_allocs"]
assert doc["detail"], "no detail figures"
assert {"group", "label", "key", "kind", "value"} <= set(doc["detail"][0])
assert any(d["group"] == "tier" for d in doc["detail"]), "no tier figures"
m = re.search(r"num_allocs\s+(\d+)", text)
assert m and abs(int(m.group(1)) - stats["num_allocs"]) <= 4, (m and m.group(1), stats["num_allocs"])
assert "xsmem stats: allocator 'default'" in text
print("ok: %d stats fields, %d detail figures" % (len(stats), len(doc["detail"])))
PY
