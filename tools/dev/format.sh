#!/usr/bin/env bash
# Formats the tree: clang-format (.clang-format) for C and C++, buildifier
# for BUILD and .bzl files. With --check it changes nothing and fails when a
# file would change (CI runs it so). buildifier comes from the npm registry
# (@bazel/buildifier, pinned below) into ~/.cache/xsmem; clang-format is
# Debian's (bazelw installs it).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
check=0
[ "${1:-}" = --check ] && check=1

BUILDIFIER_VERSION=8.2.1
cache=${XDG_CACHE_HOME:-$HOME/.cache}/xsmem/buildifier-$BUILDIFIER_VERSION
buildifier=$cache/node_modules/@bazel/buildifier/buildifier-linux_amd64
if [ ! -x "$buildifier" ]; then
  command -v npm >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq npm >&2; } || sudo apt-get install -y -qq npm >&2
  mkdir -p "$cache"
  npm install --prefix "$cache" --no-save --silent "@bazel/buildifier@$BUILDIFIER_VERSION" >&2
fi
clang_format=$(command -v clang-format-14 || command -v clang-format)

mapfile -t c_files < <(git ls-files '*.c' '*.h' '*.cc' '*.hpp' | grep -v '^third_party/')
mapfile -t bazel_files < <(git ls-files '*BUILD.bazel' '*.bzl' 'WORKSPACE' '*/WORKSPACE')
if [ $check = 1 ]; then
  bad=0
  for f in "${c_files[@]}"; do
    "$clang_format" "$f" | cmp -s - "$f" || { echo "format: $f needs clang-format"; bad=1; }
  done
  "$buildifier" -mode=check "${bazel_files[@]}" || bad=1
  [ $bad = 0 ] && echo "format: ${#c_files[@]} C/C++ files and ${#bazel_files[@]} Bazel files as formatted"
  exit $bad
fi
"$clang_format" -i "${c_files[@]}"
"$buildifier" -mode=fix "${bazel_files[@]}"
