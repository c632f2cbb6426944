#!/usr/bin/env bash
# Adds the example configuration shown in CONTRIBUTING.md ("Adding a
# configuration"): its file and its XSMEM_CONFIGS entry, exactly as written
# there. Then builds it, runs its conformance test and a program under its
# preload library, checks that those two files were all it took, and removes
# both again (also on failure). Run from the repository root (CI does).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
doc=CONTRIBUTING.md

# The fenced block after a marker line "<!-- KIND: PATH -->".
block() {
  awk -v kind="$1" '
    index($0, "<!-- " kind ":") == 1 { found = 1; next }
    found && /^```/ { if (inside) exit; inside = 1; next }
    inside { print }' "$doc"
}
path=$(grep -o '<!-- example-config: [^ ]*' "$doc" | awk '{print $3}')
name=$(basename "$path" .c)
[ -n "$path" ] && [ ! -e "$path" ] || { echo "check_add_config: no example in $doc, or $path exists" >&2; exit 1; }
[ -z "$(git status --porcelain -- "$path" allocators/configs.bzl)" ] ||
  { echo "check_add_config: allocators/configs.bzl has uncommitted changes" >&2; exit 1; }

before=$(git status --porcelain | sort)
restore() {
  rm -f "$path"
  git checkout -q -- allocators/configs.bzl
}
trap restore EXIT

block example-config >"$path"
entry=$(block example-entry)
# The entry goes last in XSMEM_CONFIGS (the list closes with a line "]").
python3 - "$entry" <<'PY'
import sys
p = "allocators/configs.bzl"
s = open(p).read()
start = s.index("XSMEM_CONFIGS = [")
end = s.index("\n]\n", start)
open(p, "w").write(s[:end] + "\n" + sys.argv[1].rstrip("\n") + s[end:])
PY

changed=$(comm -13 <(echo "$before") <(git status --porcelain | sort) | awk '{print $2}' | sort | tr '\n' ' ')
[ "$changed" = "allocators/configs.bzl $path " ] ||
  { echo "check_add_config: the example changed more than two files: $changed" >&2; exit 1; }
./bazelw build "//allocators:$name" "//allocators:libxsmem_$name.so" "//export:libxsmem_${name}_export.so"
./bazelw test "//allocators:${name}_conformance" "//tests/limits:limits_${name}_test" \
  "//tests/bad_free:bad_free_${name}_test" "//tests/programs:python_${name}"
out=$(LD_PRELOAD="bazel-bin/allocators/libxsmem_$name.so" XSMEM_STATS_AT_EXIT=1 python3 -c 'print(sum(range(1000)))' 2>&1)
grep -q "^499500$" <<<"$out" && grep -q "allocator '$name'" <<<"$out" ||
  { echo "check_add_config: python3 under libxsmem_$name.so: $out" >&2; exit 1; }
echo "check_add_config: '$name' added with its file and one entry, built, tested, and removed"
