#!/usr/bin/env bash
# Writes compile_commands.json at the repository root for editors (clangd,
# clang-tidy): every C and C++ compile action Bazel would run for //...,
# with its flags, in the default (-c opt) configuration or the one given.
#   tools/dev/compile_commands.sh [BAZEL_FLAGS...]     e.g. --config=dbg
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
execroot=$(./bazelw info execution_root "$@" 2>/dev/null)
./bazelw aquery "$@" 'mnemonic("CppCompile", //...)' --output=jsonproto 2>/dev/null | python3 -c '
import json, sys
root = sys.argv[1]
actions = json.load(sys.stdin).get("actions", [])
out = []
for a in actions:
    args = a["arguments"]
    src = next((args[i + 1] for i, x in enumerate(args) if x == "-c" and i + 1 < len(args)), None)
    if src and not src.startswith("external/"):
        out.append({"directory": root, "file": src, "arguments": args})
json.dump(out, open("compile_commands.json", "w"), indent=1)
print("compile_commands.json: %d files" % len(out))
' "$execroot"
