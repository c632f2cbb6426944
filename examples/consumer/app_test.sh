#!/bin/sh
set -eu
out=$(./app)
echo "$out"
echo "$out" | grep -q "served by configuration 'os'"
