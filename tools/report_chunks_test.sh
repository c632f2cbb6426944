#!/usr/bin/env bash
# The fragmentation map by address, end to end: tools/testdata/bfc_holes.c
# (three 64 KiB blocks, the middle one freed) runs under the bfc
# configuration, and the report drawn from its exit snapshot lays the chunks
# out in address order: A used, B free, C used, one after the other (the
# process has about a thousand chunks: with more than XSMEM_BFC_MAP_ENTRIES,
# A and C may be parts of longer used runs).
set -euo pipefail
r=${TEST_SRCDIR:-$0.runfiles}/xsmem
tmp=${TEST_TMPDIR:-$(mktemp -d)}
"$r/tools/xsmem" run --config bfc --snapshot "$tmp/holes.pb" --report "$tmp/holes.html" \
  -- "$r/tools/bfc_holes" >"$tmp/out.txt" 2>"$tmp/err.txt" || { cat "$tmp/out.txt" "$tmp/err.txt"; exit 1; }
"$r/tools/xsmem" report "$tmp/holes.pb" -o "$tmp/r.html"
/usr/bin/python3 - "$tmp/out.txt" "$tmp/r.html" "$tmp/holes.html" <<'PY'
import re, sys
a, b, c = (int(x, 16) for x in open(sys.argv[1]).read().split()[:3])
for page in sys.argv[2:]:
    src = open(page).read()
    svg = re.search(r'<svg[^>]*aria-label="chunks by address".*?</svg>', src, re.S)
    assert svg, "no chunk map in %s" % page
    titles = re.findall(r"<title>0x([0-9a-f]+) ([^<]*) (used|free)</title>", svg.group(0))
    # A chunk crossing a strip boundary is drawn as two rects with one title.
    chunks = []
    for addr, size, state in titles:
        if not chunks or chunks[-1][0] != int(addr, 16):
            chunks.append((int(addr, 16), size, state))
    addrs = [x[0] for x in chunks]
    assert addrs == sorted(addrs) and len(set(addrs)) == len(addrs), "not in address order: %s" % page
    # A starts an entry, or (past XSMEM_BFC_MAP_ENTRIES chunks, runs merged)
    # ends a used run; B is a free entry of its own; C starts a used one.
    i = addrs.index(b)
    assert i >= 1 and chunks[i - 1][0] <= a and chunks[i - 1][2] == "used", chunks[max(i - 2, 0):i + 3]
    assert chunks[i] == (b, "64.0 KiB", "free"), chunks[max(i - 2, 0):i + 3]
    assert chunks[i + 1][0] == c and chunks[i + 1][2] == "used", chunks[max(i - 2, 0):i + 3]
    assert b == a + 65536 and c == b + 65536, (a, b, c)
    assert "used chunk" in src and "free chunk (by address)" in src
print("chunk map: %d chunks, A B C at %#x" % (len(chunks), a))
PY
echo PASS
