"""A steady allocation load for the exporter's end-to-end tests.

The same mix of request sizes (16 B to 2 MiB) every 20 ms, a bounded set kept
alive, for argv[1] seconds (default 120) or until killed: after the first
rounds the set of size classes and tiers in use stops changing, so two scrapes
of a process running it should show the same series. Run with an exporter
library preloaded (export/testing/serve.sh).
"""
import sys
import time

end = time.monotonic() + (float(sys.argv[1]) if len(sys.argv) > 1 else 120.0)
SIZES = [16, 100, 700, 3000, 20000, 150000, 2 << 20]
keep = []
while time.monotonic() < end:
    for size in SIZES:
        keep.append(bytearray(size))
    if len(keep) > 20 * len(SIZES):
        del keep[:len(SIZES)]
    time.sleep(0.02)
