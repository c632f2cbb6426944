#!/usr/bin/env bash
# One run, every view, the same figures: the summary (`xsmem stats`), the
# HTML report, `xsmem top` and the dashboard (Debian's headless chromium) are
# shown the same snapshot of a tracked run, and each allocator's allocations,
# in use, peak, cached, committed, fragmentation and reserved address space
# must read the same in all four (docs/OBSERVING.md, "What the figures mean").
set -euo pipefail
r=${TEST_SRCDIR:-$0.runfiles}/xsmem
tmp=${TEST_TMPDIR:-$(mktemp -d)}
xsmem="$r/tools/xsmem"
CHROMIUM="$(command -v chromium || command -v chromium-browser || true)"
[ -n "$CHROMIUM" ] || { echo "chromium is not installed (./bazelw installs Debian's chromium)" >&2; exit 1; }

"$xsmem" run --config default --track full --workload python --snapshot "$tmp/s.pb" >"$tmp/run.txt" 2>&1 ||
  { cat "$tmp/run.txt"; exit 1; }
"$xsmem" stats "$tmp/s.pb" >"$tmp/summary.txt"
"$xsmem" stats "$tmp/s.pb" --format json >"$tmp/s.json"
"$xsmem" report "$tmp/s.pb" -o "$tmp/report.html"

# A server standing in for the process: the dashboard page and the snapshot,
# as JSON for the page and as protobuf for top.
cp "$r/export/dashboard.html" "$tmp/dashboard.html"
/usr/bin/python3 - "$tmp" >"$tmp/server.log" 2>&1 <<'PY' &
import http.server, os, struct, sys
root = sys.argv[1]
# The snapshot file is framed (a 16-byte file header, then records of a
# 16-byte header and the message); the endpoint sends the last message bare.
data = open(os.path.join(root, "s.pb"), "rb").read()
off, last = 16, None
while off + 16 <= len(data):
    n = struct.unpack_from("<I", data, off + 4)[0]
    if data[off:off + 8] == data[:8]:  # a repeated file header
        off += 16
        continue
    last = data[off + 16:off + 16 + n]
    off += 16 + n
open(os.path.join(root, "bare.pb"), "wb").write(last)
files = {"/": ("dashboard.html", "text/html"), "/api/snapshot.json": ("s.json", "application/json"),
         "/api/snapshot": ("bare.pb", "application/x-protobuf")}
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        name, ctype = files.get(self.path.split("?")[0], (None, None))
        if not name:
            self.send_error(404)
            return
        body = open(os.path.join(root, name), "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(os.path.join(root, "port.tmp"), "w").write(str(s.server_address[1]))
os.rename(os.path.join(root, "port.tmp"), os.path.join(root, "port"))
s.serve_forever()
PY
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 200); do [ -s "$tmp/port" ] && break; sleep 0.05; done
port=$(cat "$tmp/port")

"$xsmem" top "127.0.0.1:$port" --count 1 >"$tmp/top.txt"
HOME="$tmp" timeout 200 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
  --disable-background-networking --disable-component-update --no-first-run --user-data-dir="$tmp/profile" \
  --virtual-time-budget=5000 --dump-dom "http://127.0.0.1:$port/" >"$tmp/dashboard.dom" 2>"$tmp/chromium.err"

/usr/bin/python3 - "$tmp" <<'PY'
import html, json, re, sys
tmp = sys.argv[1]
snap = json.load(open(tmp + "/s.json"))
names = [a["name"] for a in snap["allocators"]]
assert names, "no allocators in the snapshot"

def units(n):
    for u in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or u == "TiB":
            return ("%.0f B" % n) if u == "B" else "%.1f %s" % (n, u)
        n /= 1024

# What every view must show, from the snapshot itself (the same formatting).
want = {}
for a in snap["allocators"]:
    st = a["stats"]
    f = st["fragmentation"] or 0
    held = st["bytes_in_use"] + st["bytes_cached"]
    assert abs(f - (st["bytes_cached"] / held if held else 0)) < 1e-9, (a["name"], f, st)
    want[a["name"]] = {"in use": units(st["bytes_in_use"]), "peak": units(st["peak_bytes_in_use"]),
                       "cached": units(st["bytes_cached"]),
                       "committed": units(st["bytes_committed"]) if st["bytes_committed"] else "-",
                       "frag": "%.1f%%" % (100 * f), "reserved": units(st["bytes_reserved"])}

def text_view(path):  # the summary table (stats and top print the same one)
    lines = open(path, encoding="utf-8").read().split("\n")
    got = {}
    for i, l in enumerate(lines):
        m = re.match(r"^[* ] (\S+)\s+\S+\s+\S+\s+(\S+ \S+)\s+(\S+ \S+)\s+(\S+ \S+)\s+(-|\S+ \S+)\s+(\S+%)$", l)
        if m and m.group(1) in want:
            got[m.group(1)] = dict(zip(["in use", "peak", "cached", "committed", "frag"], m.groups()[1:]))
        if l.startswith("  reserved address space (not memory):"):
            for more in lines[i + 1:]:  # continued on lines indented by four
                if not more.startswith("    "):
                    break
                l += " " + more.strip()
            for part in l.split(":", 1)[1].split(","):
                name, value = part.strip().split(" ", 1)
                got.setdefault(name, {})["reserved"] = value
    return got

def table_rows(src, table_start):
    start = src.index(table_start)
    end = src.index("</table>", start)
    rows = []
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", src[start:end], re.S):
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, re.S)]
        rows.append(cells)
    return rows

def html_view(path, table_start, name_col):
    rows = table_rows(open(path, encoding="utf-8").read(), table_start)
    head = rows[0]
    col = {h: i for i, h in enumerate(head)}
    keys = {"in use": "in use", "peak": "peak", "cached": "cached", "committed": "committed",
            "frag": "fragmentation", "reserved": "address space reserved"}
    missing = [k for k in keys.values() if k not in col]
    assert not missing, "%s: no column %r in %r" % (path, missing, head)
    got = {}
    for cells in rows[1:]:
        name = cells[name_col].replace(" (malloc)", "")
        got[name] = {k: cells[col[h]] for k, h in keys.items()}
    return got

views = {
    "summary": text_view(tmp + "/summary.txt"),
    "top": text_view(tmp + "/top.txt"),
    "report": html_view(tmp + "/report.html", "<h3>Allocators</h3>", 0),
    "dashboard": html_view(tmp + "/dashboard.dom", 'id="allocators"', 0),
}
bad = []
for view, got in views.items():
    for name, fig in want.items():
        for k, v in fig.items():
            g = got.get(name, {}).get(k)
            if g != v:
                bad.append("%s: %s %s is %r, the snapshot says %r" % (view, name, k, g, v))
if bad:
    sys.exit("views disagree:\n  " + "\n  ".join(bad))
print("every view shows the same figures for", ", ".join(names))
PY
echo PASS
