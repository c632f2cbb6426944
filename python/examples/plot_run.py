"""Plots a run's timeline and request-size histogram into a PNG.

    ./bazelw run //python:plot_run -- SNAPSHOT OUT.png
    PYTHONPATH=bazel-bin/python:python python3 python/examples/plot_run.py SNAPSHOT OUT.png   (after a build)

SNAPSHOT is a file or stream (XSMEM_SNAPSHOT, xsmem run --snapshot) or
HOST:PORT of a live process (XSMEM_HTTP). The timeline is the tracker's (or
the sampler's, XSMEM_SNAPSHOT_INTERVAL_MS); the histogram is the tracker's
(a *_tracked configuration): a panel says so when the run has none.
"""
import os
import sys

import matplotlib

matplotlib.use("Agg")  # no display: a file
import matplotlib.pyplot as plt  # noqa: E402

import xsmem  # noqa: E402
from xsmem import frames  # noqa: E402


def load(src):
    if os.path.exists(src) or "/" in src:
        return xsmem.read_snapshots(src, strict=False)
    return [xsmem.fetch(src)]


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: plot_run.py SNAPSHOT|HOST:PORT OUT.png\n")
        return 2
    # Under `bazel run` relative paths mean the directory the user typed them in.
    if os.environ.get("BUILD_WORKING_DIRECTORY"):
        os.chdir(os.environ["BUILD_WORKING_DIRECTORY"])
    try:
        snaps = load(argv[1])
    except (xsmem.SnapshotError, xsmem.LiveError) as e:
        sys.stderr.write("plot_run: %s\n" % e)
        return 1
    last = snaps[-1]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7))
    cmd = (last["cmdline"] or "?").split("\n")[0][:70]  # a `python3 -c` script is many lines
    fig.suptitle("%s (%s), pid %d" % (cmd, last["config"] or "no configuration", last["pid"]))

    tl = frames.timeline(snaps)
    if len(tl):
        top.plot(tl["seconds"], tl["bytes_in_use"] / 2**20, label="in use")
        if tl["bytes_reserved"].any():  # the tracker's timeline has none
            top.plot(tl["seconds"], tl["bytes_reserved"] / 2**20, label="reserved")
        top.set_xlabel("seconds")
        top.set_ylabel("MiB")
        top.legend()
    else:
        top.text(0.5, 0.5, "no timeline in this snapshot", ha="center", va="center")
    top.set_title("timeline")

    h = frames.histogram(last)
    h = h[h["count"] > 0]
    if len(h):
        labels = ["%d" % lo if lo else "0" for lo in h["lower"]]
        bottom.bar(range(len(h)), h["count"], label="allocations")
        if h["live_count"].any():
            bottom.bar(range(len(h)), h["live_count"], label="live", alpha=0.7)
        bottom.set_xticks(range(len(h)))
        bottom.set_xticklabels(labels, rotation=60, fontsize=7)
        bottom.set_xlabel("request size from (bytes)")
        bottom.set_yscale("log")
        bottom.legend()
    else:
        bottom.text(0.5, 0.5, "no size histogram (use a *_tracked configuration)", ha="center", va="center")
    bottom.set_title("request sizes")
    fig.tight_layout()
    fig.savefig(argv[2], dpi=100)
    print("wrote %s (%d timeline points, %d size buckets)" % (argv[2], len(tl), len(h)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
