"""Checks a report rendered from tools/testdata/{leaky,bfc}_python.pb."""
import html.parser
import re
import sys


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = {}
        self.svgs = []  # per svg: {tag: count}
        self.in_svg = None
        self.text = []
        self.external = []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        a = dict(attrs)
        for k in ("src", "href"):
            if k in a:
                self.external.append((tag, a[k]))
        if tag == "svg":
            self.in_svg = {"label": a.get("aria-label", "")}
            self.svgs.append(self.in_svg)
        elif self.in_svg is not None:
            self.in_svg[tag] = self.in_svg.get(tag, 0) + 1

    def handle_endtag(self, tag):
        if tag == "svg":
            self.in_svg = None

    def handle_data(self, data):
        self.text.append(data)


def main(path):
    src = open(path, encoding="utf-8").read()
    p = Page()
    p.feed(src)
    text = " ".join(p.text)
    errors = []

    def check(cond, what):
        if not cond:
            errors.append(what)

    # Self-contained: no script, no link, no fetched resource.
    check("script" not in p.tags, "has a <script>")
    check("link" not in p.tags and "img" not in p.tags, "has <link>/<img>")
    check(not p.external, "external references: %r" % p.external)
    check(not re.search(r"https?://(?!www\.w3\.org/2000/svg)", src), "a URL other than the SVG namespace")
    # Two columns and the comparison table.
    check(src.count('<section class="snap">') == 2, "not two snapshot columns")
    check("Comparison" in text, "no comparison table")
    check(re.search(r"peak_bytes_in_use.*?\(\d+\.\d\dx\)", src, re.S), "no ratio in the comparison")
    # Identity of each snapshot.
    check("system_tracked" in text and "bfc" in text, "configuration names missing")
    check("ctypes" in text, "the tracked program's command line is missing")
    labels = [s["label"] for s in p.svgs]
    # Timelines: the tracker's (tracked run) and the stream's (bfc run).
    timelines = [s for s in p.svgs if s["label"].startswith("bytes in use")]
    check(len(timelines) == 2, "timelines: %r" % labels)
    check(all(s.get("polyline", 0) >= 1 for s in timelines), "a timeline without a line")
    # Histogram: the tracked run has buckets; hover titles carry figures.
    hist = [s for s in p.svgs if s["label"] == "allocations per size class"]
    check(len(hist) == 1 and hist[0].get("rect", 0) >= 8, "histogram bars: %r" % hist)
    check(re.search(r"<title>\[4\.0 KiB, 8\.0 KiB\): \d+ allocations", src), "no 4-8 KiB bucket title")
    # Fragmentation map of the BFC: bins with used and free bytes.
    bins = [s for s in p.svgs if s["label"] == "bin"]
    check(len(bins) == 1 and bins[0].get("rect", 0) >= 10, "bfc bin map: %r" % bins)
    check(re.search(r"bfc: fragmentation \d+\.\d%", text), "no fragmentation figure")
    check("No BFC allocator in this snapshot." in text, "the non-BFC column should say it has no BFC")
    # Call sites and leaks: the 12 ctypes blocks (4096..4107 bytes) from libffi.
    check("libffi" in text, "the ctypes call site is missing")
    m = re.search(r"libffi[^<]*<details>.*?</details></td><td>([\d.]+) KiB</td><td>12</td>", src, re.S)
    check(m and 47 <= float(m.group(1)) <= 49, "libffi site should hold 12 live blocks, ~48 KiB")
    check("Leaks" in text and re.search(r"KiB in \d+ blocks unfreed", text), "leak summary missing")
    check("Not tracked" in text, "the untracked column should say so")
    check(src.count("<details>") >= 10, "stacks missing")
    check(re.search(r"#1 0x[0-9a-f]+", src), "frames missing")
    if errors:
        print("FAIL:\n  " + "\n  ".join(errors))
        sys.exit(1)
    print("report ok: %d svgs, %d bytes" % (len(p.svgs), len(src)))


if __name__ == "__main__":
    main(sys.argv[1])
