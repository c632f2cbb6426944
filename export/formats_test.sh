#!/bin/sh
# Runs formats_test.py with Debian's python3 (it has python3-prometheus-client).
exec /usr/bin/python3 "$(dirname "$0")/formats_test.py" "$@"
