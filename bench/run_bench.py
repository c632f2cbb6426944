#!/usr/bin/env python3
"""Runs xsmem's bench suite under several allocators and writes bench/RESULTS.md.

Builds nothing: it takes the paths of the workload programs, of the micro
benchmark binary and of the xsmem libraries to preload (`./bazelw run
//bench:run -- ...` passes the ones Bazel built). Each allocator is
  NAME=PATH   an xsmem configuration, its libxsmem_NAME.so preloaded
  glibc       no preload: glibc's malloc
  jemalloc, mimalloc, tcmalloc   Debian's libraries preloaded
All of them run in one pass, interleaved (A B C D, A B C D, ...), --reps
times; each run's wall time and peak RSS are recorded (the workload's own
VmHWM when it prints peak_rss_kib=, else wait4's ru_maxrss, which also counts
this Python process's size at fork time) and
the medians reported, with ratios against glibc and against the best peer,
and a geometric-mean row. Quick mode (the default) takes a few minutes for six
allocators; --reps and --scale make longer runs.

  run_bench.py --bin-dir DIR --micro PATH --lib default=PATH --lib system=PATH
"""
import argparse
import datetime
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

WORKLOADS = ["larson", "xmalloc", "cache_scratch", "large_blocks", "churn", "pairs"]
PEER_LIBS = {
    "jemalloc": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
    "mimalloc": "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2",
    "tcmalloc": "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
}
PEERS = ["glibc"] + list(PEER_LIBS)
# Results dominated by page faults (13 us each on the VMs measured here).
FAULT_DOMINATED = {"large_blocks", "BM_Batch1000/512"}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin-dir", help="directory holding the workload programs (larson, xmalloc, ...)")
    p.add_argument("--micro", help="path of the micro benchmark binary (//bench:micro)")
    p.add_argument("--lib", action="append", default=[], metavar="NAME=PATH",
                   help="an xsmem configuration to preload (repeatable)")
    p.add_argument("--lib-env", action="append", default=[], metavar="NAME:VAR=VALUE",
                   help="an environment variable for the runs of --lib NAME (repeatable), e.g. "
                   "--lib default_tracked_full=PATH --lib-env default_tracked_full:XSMEM_TRACK=full")
    p.add_argument("--peers", default=",".join(PEERS),
                   help="comma-separated peers to compare (default: %(default)s)")
    p.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated workloads (default: all)")
    p.add_argument("--reps", type=int, default=3, help="repetitions per (workload, allocator) (default 3)")
    p.add_argument("--scale", type=float, default=1.0, help="work per workload run (default 1.0: ~0.3-2 s)")
    p.add_argument("--micro-min-time", type=float, default=0.05,
                   help="google benchmark --benchmark_min_time per benchmark (default 0.05 s)")
    p.add_argument("--no-micro", action="store_true", help="skip the micro benchmarks")
    p.add_argument("--cpus", default="",
                   help="run every program on these CPUs only (e.g. 1 or 0-1; default: all). One CPU takes "
                        "the scheduler's placement of a multi-threaded workload's threads out of the timing")
    p.add_argument("--timeout", type=float, default=120, help="seconds before a run counts as failed")
    p.add_argument("--out", help="markdown file to append the results to (default: bench/RESULTS.md "
                   "in the workspace, or stdout only when it cannot be found)")
    p.add_argument("--title", default="", help="a note for the section heading")
    return p.parse_args(argv)


class Allocator:
    def __init__(self, name, preload, kind, extra_env=None):
        self.name, self.preload, self.kind = name, preload, kind  # kind: xsmem | peer
        self.extra_env = extra_env or {}

    def env(self):
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        if self.preload:
            env["LD_PRELOAD"] = self.preload
        env.update(self.extra_env)
        return env


def allocators_from(args):
    extra = {}
    for spec in args.lib_env:
        name, sep, assignment = spec.partition(":")
        var, eq, value = assignment.partition("=")
        if not sep or not eq or not var:
            sys.exit("--lib-env wants NAME:VAR=VALUE, got %r" % spec)
        extra.setdefault(name, {})[var] = value
    names = [spec.partition("=")[0] for spec in args.lib]
    for name in extra:
        if name not in names:
            sys.exit("--lib-env names %r, which no --lib defines" % name)
    out = []
    for spec in args.lib:
        name, sep, path = spec.partition("=")
        if not sep or not path:
            sys.exit("--lib wants NAME=PATH, got %r" % spec)
        path = os.path.abspath(path)
        if not os.path.exists(path):
            sys.exit("no library at %s" % path)
        out.append(Allocator(name, path, "xsmem", extra.get(name)))
    for peer in filter(None, args.peers.split(",")):
        if peer == "glibc":
            out.append(Allocator("glibc", None, "peer"))
        elif peer in PEER_LIBS:
            if os.path.exists(PEER_LIBS[peer]):
                out.append(Allocator(peer, PEER_LIBS[peer], "peer"))
            else:
                print("skipping %s: %s is not installed" % (peer, PEER_LIBS[peer]), file=sys.stderr)
        else:
            sys.exit("unknown peer %r (known: %s)" % (peer, ", ".join(PEERS)))
    return out


def parse_cpus(text):
    """'1', '0,2' or '0-1' -> a set of CPU numbers (empty: no pinning)."""
    cpus = set()
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("-")
        try:
            cpus.update(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            sys.exit("--cpus: %r is not a CPU list (like 1, 0,2 or 0-1)" % text)
    allowed = os.sched_getaffinity(0)
    if not cpus <= allowed:
        sys.exit("--cpus: CPUs %s are not available here (allowed: %s)" %
                 (sorted(cpus - allowed), ",".join(map(str, sorted(allowed)))))
    return cpus


CPUS = set()  # set by main from --cpus


def pin():
    if CPUS:
        os.sched_setaffinity(0, CPUS)


def run_once(cmd, env, timeout):
    """Returns (wall seconds, peak RSS KiB, exit status, stdout)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, preexec_fn=pin)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.002)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode(errors="replace")
        if proc.returncode != 0:
            text += "\n[stderr] " + err.read().decode(errors="replace")[-2000:]
        return wall, usage.ru_maxrss, proc.returncode, text


def run_workloads(args, allocs, workloads):
    """Returns {workload: {alloc: [(wall, rss)]}} and the first line each printed."""
    results = {w: {a.name: [] for a in allocs} for w in workloads}
    lines = {w: {} for w in workloads}
    for rep in range(args.reps):
        for w in workloads:
            cmd = [os.path.join(args.bin_dir, w), repr(args.scale)]
            for a in allocs:  # interleaved: A B C D, A B C D, ...
                wall, rss, rc, text = run_once(cmd, a.env(), args.timeout)
                if rc != 0:
                    print("FAILED: %s under %s (exit %d): %s" % (w, a.name, rc, text.strip()[-500:]), file=sys.stderr)
                    results[w][a.name].append(None)
                    continue
                # The program's own VmHWM: wait4's figure includes Python's size at fork.
                if "peak_rss_kib=" in text:
                    rss = int(text.split("peak_rss_kib=")[1].split()[0])
                results[w][a.name].append((wall, rss))
                lines[w].setdefault(a.name, text.strip().splitlines()[0] if text.strip() else "")
                print("rep %d %-14s %-10s %7.3f s %8d KiB" % (rep + 1, w, a.name, wall, rss), file=sys.stderr)
    return results, lines


def run_micro(args, allocs):
    """Returns {benchmark: {alloc: [ns per item]}}, benchmarks in their order."""
    results, order = {}, []
    for rep in range(args.reps):
        for a in allocs:
            cmd = [args.micro, "--benchmark_format=json", "--benchmark_min_time=%g" % args.micro_min_time]
            _, _, rc, text = run_once(cmd, a.env(), args.timeout * 5)
            if rc != 0:
                print("FAILED: micro under %s: %s" % (a.name, text.strip()[-500:]), file=sys.stderr)
                continue
            data = json.loads(text[text.index("{"):])
            for b in data["benchmarks"]:
                name = b["name"].replace("/real_time", "")
                if name not in results:
                    results[name] = {x.name: [] for x in allocs}
                    order.append(name)
                ips = b.get("items_per_second")
                if ips:
                    results[name][a.name].append(1e9 / ips)
            print("rep %d micro      %-10s done" % (rep + 1, a.name), file=sys.stderr)
    return results, order


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def geomean(values):
    values = [v for v in values if v]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def table(rows, allocs, value_fmt, unit_note):
    """rows: [(label, {alloc: median})]. Returns markdown: values, then ratios vs glibc and vs the best peer."""
    names = [a.name for a in allocs]
    peers = [a.name for a in allocs if a.kind == "peer" and a.name != "glibc"] or \
            [a.name for a in allocs if a.kind == "peer"]
    out = ["| %s | %s |" % (unit_note, " | ".join(names)), "|---|" + "---:|" * len(names)]
    vs_glibc = {n: [] for n in names}
    vs_best = {n: [] for n in names}
    for label, med in rows:
        cells = []
        best_peer = min((med[p] for p in peers if med.get(p)), default=None)
        for n in names:
            v = med.get(n)
            cells.append(fmt(v, value_fmt))
            if v and med.get("glibc"):
                vs_glibc[n].append(v / med["glibc"])
            if v and best_peer:
                vs_best[n].append(v / best_peer)
        out.append("| %s | %s |" % (label, " | ".join(cells)))
    out.append("| **geomean vs glibc** | %s |" % " | ".join(fmt(geomean(vs_glibc[n]), ".2f") for n in names))
    out.append("| **geomean vs best peer** | %s |" % " | ".join(fmt(geomean(vs_best[n]), ".2f") for n in names))
    return out


def ratio_table(rows, allocs, ref_label):
    """Per-row ratio of each allocator against the row's glibc value and best peer."""
    names = [a.name for a in allocs]
    peers = [a.name for a in allocs if a.kind == "peer" and a.name != "glibc"]
    out = ["| %s | %s |" % (ref_label, " | ".join(names)), "|---|" + "---:|" * len(names)]
    for label, med in rows:
        best_peer = min((med[p] for p in peers if med.get(p)), default=None)
        cells = []
        for n in names:
            v = med.get(n)
            g = med.get("glibc")
            cells.append("-" if not (v and g and best_peer) else "%.2f / %.2f" % (v / g, v / best_peer))
        out.append("| %s | %s |" % (label, " | ".join(cells)))
    return out


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return "%s, %d cores, %s %s, load average %.1f at start" % (cpu or platform.processor(), os.cpu_count(),
                                                                 platform.system(), platform.release(), load)


def report(args, allocs, wl, lines, micro, micro_order, argv, started):
    now = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")
    md = ["", "## %s%s" % (now, (" — " + args.title) if args.title else ""), "",
          "- Machine: %s" % machine(),
          "- Command: `%s`" % " ".join(shlex.quote(x) for x in argv),
          "- Allocators: %s" % ", ".join("%s (%s)" % (a.name, " ".join(
              [os.path.basename(a.preload) if a.preload else "no preload"] +
              ["%s=%s" % kv for kv in sorted(a.extra_env.items())])) for a in allocs),
          "- Ratios against the best peer use the best of jemalloc, mimalloc and tcmalloc for each row",
          "- %d repetitions, interleaved; medians; scale %g; took %.0f s" % (args.reps, args.scale,
                                                                          time.monotonic() - started),
          ""]
    if CPUS:
        md.insert(-1, "- Every program pinned to CPU%s %s (`--cpus`)" % ("s" if len(CPUS) > 1 else "",
                                                                         ",".join(map(str, sorted(CPUS)))))
    if wl:
        rows = [(w, {a: median([r[0] for r in v if r]) for a, v in per.items()}) for w, per in wl.items()]
        md += ["### Whole workloads: wall time (s, median; lower is better)", ""]
        md += table([(w + (" ¹" if w in FAULT_DOMINATED else ""), m) for w, m in rows], allocs, ".3f", "workload")
        md += ["", "Ratios (time / glibc's, time / best peer's):", ""]
        md += ratio_table(rows, allocs, "workload")
        rss = [(w, {a: median([r[1] / 1024.0 for r in v if r]) for a, v in per.items()}) for w, per in wl.items()]
        md += ["", "### Whole workloads: peak RSS (MiB, median; lower is better)", ""]
        md += table(rss, allocs, ".1f", "workload")
    if micro:
        rows = [(b, {a: median(v) for a, v in micro[b].items()}) for b in micro_order]
        md += ["", "### Micro benchmarks: ns per operation (median; lower is better)", ""]
        md += table([(b + (" ¹" if b in FAULT_DOMINATED else ""), m) for b, m in rows], allocs, ".1f", "benchmark")
    md += ["", "¹ dominated by page faults (about 13 µs per 4 KiB first touch on these VMs, 0.1-0.3 µs on bare "
           "metal): an allocator that returns freed memory to the OS at once and faults it back in pays that "
           "on every iteration here.", ""]
    return "\n".join(md)


def default_out():
    ws = os.environ.get("BUILD_WORKSPACE_DIRECTORY")
    if ws:
        return os.path.join(ws, "bench", "RESULTS.md")
    here = os.path.dirname(os.path.abspath(__file__))
    if os.path.exists(os.path.join(here, "run_bench.py")) and os.path.exists(os.path.join(here, "..", "WORKSPACE")):
        return os.path.join(here, "RESULTS.md")
    return None


def main(argv):
    args = parse_args(argv)
    CPUS.update(parse_cpus(args.cpus))
    started = time.monotonic()
    allocs = allocators_from(args)
    if not allocs:
        sys.exit("nothing to compare")
    workloads = [w for w in args.workloads.split(",") if w]
    wl, lines = {}, {}
    if workloads:
        if not args.bin_dir:
            sys.exit("--bin-dir is required for the workloads (or pass --workloads=)")
        for w in workloads:
            if not os.access(os.path.join(args.bin_dir, w), os.X_OK):
                sys.exit("no workload program %s in %s" % (w, args.bin_dir))
        wl, lines = run_workloads(args, allocs, workloads)
        # The same work everywhere: each workload prints the same checksum under every allocator.
        for w, per in lines.items():
            sums = {a: l.split("checksum=")[1].split()[0] for a, l in per.items() if "checksum=" in l}
            if len(set(sums.values())) > 1:
                print("WARNING: %s printed different checksums: %s" % (w, sums), file=sys.stderr)
    micro, order = ({}, [])
    if args.micro and not args.no_micro:
        micro, order = run_micro(args, allocs)
    text = report(args, allocs, wl, lines, micro, order, ["run_bench.py"] + argv, started)
    print(text)
    out = args.out or default_out()
    if out:
        fresh = not os.path.exists(out)
        ends_with_newline = True
        if not fresh:
            with open(out, "rb") as f:
                f.seek(0, os.SEEK_END)
                if f.tell():
                    f.seek(-1, os.SEEK_END)
                    ends_with_newline = f.read(1) == b"\n"
        with open(out, "a") as f:
            if not ends_with_newline:
                f.write("\n")
            if fresh:
                f.write("# xsmem bench results\n\nWritten by bench/run_bench.py, newest section last; the "
                        "top-level README's bench section says what each workload does.\n")
            f.write(text)
        print("appended to %s" % out, file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
