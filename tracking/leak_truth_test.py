"""Checks the leak report of leak_truth.cc against the truth, site by site.

Usage: leak_truth_test.py SOURCE TRUTH BINARY MODE
MODE fp: the program has frame pointers; MODE nofp: it has none. In both
each group's frames must name the TRUTH line (#0) and main calling its
function (#1; but for the thread's function, which libc calls): the
default unwinder reads .eh_frame, so stacks are whole either way.

Every definitely and indirectly lost group must be a truth site with the
right kind, and the sums per site and kind must equal the truth to the byte
and block; every still-reachable truth site must be listed; other
still-reachable groups may only be runtime code's (frames outside the
program). The report's totals must equal the truth's.
"""
import os
import re
import subprocess
import sys

source, truth_path, binary, mode = sys.argv[1:5]
KINDS = {"definitely lost": "definite", "indirectly lost": "indirect", "still reachable": "reachable"}

# TRUTH markers: line number -> site name, and each site's function.
lines = {}
with open(source) as f:
    for no, text in enumerate(f, 1):
        m = re.search(r"// TRUTH (\w+)", text)
        if m:
            lines[no] = m.group(1)
truth = {}
with open(truth_path) as f:
    for text in f:
        text = text.split("#")[0].split()
        if text:
            truth[(text[0], text[1])] = (int(text[2]), int(text[3]))

failures = []


def fail(msg):
    failures.append(msg)


def run(extra_env):
    env = dict(os.environ, XSMEM_TRACK="full", XSMEM_LEAK_REPORT="1", XSMEM_LEAK_REPORT_SITES="256", **extra_env)
    p = subprocess.run([binary], env=env, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        fail("%s exited with %d" % (binary, p.returncode))
    return p.stderr


def groups(report):
    """(kind, bytes, blocks, [frame lines]) for each group of the report."""
    out = []
    cur = None
    for line in report.splitlines():
        m = re.match(r"  (definitely lost|indirectly lost|still reachable): (\d+) bytes in (\d+) blocks allocated at:", line)
        if m:
            cur = (KINDS[m.group(1)], int(m.group(2)), int(m.group(3)), [])
            out.append(cur)
        elif cur and line.startswith("    #"):
            cur[3].append(line)
        else:
            cur = None
    return out


src_name = os.path.basename(source)


def site_of(frame):
    m = re.search(re.escape(src_name) + r":(\d+)$", frame)
    return lines.get(int(m.group(1))) if m else None


report = run({"XSMEM_LEAK_SHOW_REACHABLE": "1"})
found = {}
for kind, nbytes, blocks, frames in groups(report):
    if not frames:
        fail("a %s group of %d bytes without frames" % (kind, nbytes))
        continue
    site = site_of(frames[0])
    if site is None:
        if kind == "reachable" and os.path.basename(binary) not in frames[0]:
            continue  # the runtime's own (libstdc++'s emergency pool)
        fail("%s group of %d bytes in %d blocks at no truth site: %s" % (kind, nbytes, blocks, frames[0]))
        continue
    if site != "thread":  # with or without frame pointers: the DWARF unwinder  # a thread's first function is called by libc
        if len(frames) < 2 or " main+0x" not in frames[1]:
            fail("site %s: frame #1 is not main: %s" % (site, frames[1:2]))
    k = (site, kind)
    b, n = found.get(k, (0, 0))
    found[k] = (b + nbytes, n + blocks)

for k, want in sorted(truth.items()):
    got = found.get(k, (0, 0))
    if got != want:
        fail("site %s, %s: want %d bytes in %d blocks, got %d bytes in %d blocks" % (k[0], k[1], want[0], want[1], got[0], got[1]))
for k, got in sorted(found.items()):
    if k not in truth:
        fail("site %s reported %s (%d bytes in %d blocks): the truth has no such leak" % (k[0], k[1], got[0], got[1]))

# The totals line, and the default report: still reachable as one line.
definite = [v for (s, kind), v in truth.items() if kind == "definite"]
indirect = [v for (s, kind), v in truth.items() if kind == "indirect"]
db, dn = sum(b for b, n in definite), sum(n for b, n in definite)
ib, inn = sum(b for b, n in indirect), sum(n for b, n in indirect)
head = "%d bytes in %d blocks lost, from " % (db + ib, dn + inn)
tail = "definitely lost %d bytes in %d blocks, indirectly lost %d bytes in %d blocks" % (db, dn, ib, inn)
plain = run({})
for text, what in ((report, "listing reachable"), (plain, "default")):
    if head not in text or tail not in text:
        fail("%s report: no totals line '%s...%s'" % (what, head, tail))
if any(kind == "reachable" for kind, _, _, _ in groups(plain)):
    fail("the default report lists still-reachable groups")
if not re.search(r"xsmem: still reachable: \d+ bytes in \d+ blocks from \d+ call sites", plain):
    fail("the default report has no still-reachable total")

if failures:
    print("FAIL (%s):" % mode)
    for f in failures:
        print("  " + f)
    print("--- report:")
    print(report)
    sys.exit(1)
print("leak truth (%s): %d sites and kinds match" % (mode, len(truth)))
