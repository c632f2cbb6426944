#!/bin/sh
# Runs leak_truth_test.py with Debian's python3: the leak report of
# leak_truth.cc against the truth (args: source, truth, binary, fp|nofp).
exec /usr/bin/python3 "$(dirname "$0")/leak_truth_test.py" "$@"
