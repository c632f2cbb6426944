#!/usr/bin/env bash
# The installed tree (//:install, //:dist) used the way a project without
# Bazel uses it. One part per test target (BUILD.bazel says what each proves):
#   install_test.sh pkgconfig | cmake | tool | layout
# Each installs into $TEST_TMPDIR first; the tree is moved before it is used,
# so nothing in it may point back at where it was made.
set -euo pipefail
export LC_ALL=C  # ls and sort in the order xsmem list uses (strcmp)

part=${1:?usage: install_test.sh pkgconfig|cmake|tool|layout}
runfiles=${TEST_SRCDIR:?run me with bazel test}/xsmem
install_bin=$runfiles/install
here=$runfiles/tests/install
tmp=$TEST_TMPDIR/$part
rm -rf "$tmp"
mkdir -p "$tmp"
export HOME=$tmp  # CMake's package registry and caches stay in the test's directory
version=$(sed -n 's/^version //p' "$runfiles/install_manifest.txt")
soversion=$(sed -n 's/^soversion //p' "$runfiles/install_manifest.txt")

fail() {
  echo "FAIL ($part): $*" >&2
  exit 1
}

# A prefix, installed then moved (the tree must be relocatable).
"$install_bin" --prefix "$tmp/made" >"$tmp/install.log" 2>&1 || {
  cat "$tmp/install.log"
  fail "the install failed"
}
mv "$tmp/made" "$tmp/prefix"
prefix=$(realpath "$tmp/prefix")  # as /proc/PID/maps and /proc/self/exe name it
configs=$(cd "$prefix/lib" && ls libxsmem_*.so | sed -n 's/^libxsmem_\(.*\)\.so$/\1/p' | grep -v '_export$')

# Runs a program built against the tree with the library found through
# LD_LIBRARY_PATH (nothing records an rpath); its stdout and stderr go to the log.
run_built() {
  LD_LIBRARY_PATH=$prefix/lib "$@" || fail "$* failed"
}

case "$part" in

  pkgconfig)
    export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
    [ "$(pkg-config --modversion xsmem)" = "$version" ] || fail "pkg-config --modversion xsmem is not $version"
    for c in $configs; do
      pkg-config --exists "xsmem-$c" "xsmem-$c-export" || fail "no xsmem-$c.pc or xsmem-$c-export.pc"
    done
    # xsmem.pc is the default configuration; xsmem-bfc.pc bfc. Plain gcc, the
    # flags exactly as pkg-config prints them.
    # shellcheck disable=SC2046
    gcc -std=c11 -Wall -Werror -o "$tmp/default" "$here/malloc_check.c" $(pkg-config --cflags --libs xsmem)
    run_built "$tmp/default" default
    # shellcheck disable=SC2046
    gcc -std=c11 -Wall -Werror -o "$tmp/bfc" "$here/malloc_check.c" $(pkg-config --cflags --libs xsmem-bfc)
    run_built "$tmp/bfc" bfc
    # The exporter library serves malloc the same way.
    # shellcheck disable=SC2046
    gcc -std=c11 -Wall -Werror -o "$tmp/pool_export" "$here/malloc_check.c" \
      $(pkg-config --cflags --libs xsmem-pool-export)
    run_built "$tmp/pool_export" pool
    # Under --as-needed a program that names nothing of xsmem's keeps it.
    # shellcheck disable=SC2046
    gcc -std=c11 -Wall -Werror -Wl,--as-needed -o "$tmp/as_needed" "$here/as_needed_check.c" \
      $(pkg-config --cflags --libs xsmem)
    readelf -d "$tmp/as_needed" | grep -q "NEEDED.*\[libxsmem_default.so.$soversion\]" ||
      fail "--as-needed dropped libxsmem_default.so.$soversion"
    run_built "$tmp/as_needed" default
    # The headers alone compile as C (-std=c99 too) and C++, with no generated header.
    # shellcheck disable=SC2046
    for std in c99 c11; do
      gcc -std=$std -Wall -Wextra -Werror -fsyntax-only $(pkg-config --cflags xsmem) "$here/malloc_check.c"
    done
    printf '#include "allocators/registry.h"\nint main() { return xsmem_process_allocator() != nullptr; }\n' |
      g++ -std=c++17 -Wall -Wextra -Werror -fsyntax-only $(pkg-config --cflags xsmem) -x c++ - ||
      fail "the headers do not compile as C++"
    # Nothing records the prefix in the programs: only LD_LIBRARY_PATH found it.
    if readelf -d "$tmp/bfc" | grep -qE 'RPATH|RUNPATH'; then fail "pkg-config's flags recorded an rpath"; fi
    if "$tmp/bfc" bfc 2>/dev/null; then fail "the program ran without LD_LIBRARY_PATH: it found a library elsewhere"; fi
    ;;

  cmake)
    cp "$here/cmake/CMakeLists.txt" "$here/malloc_check.c" "$here/as_needed_check.c" "$tmp/"
    cmake -S "$tmp" -B "$tmp/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_SKIP_RPATH=ON >"$tmp/configure.log" 2>&1 || {
      cat "$tmp/configure.log"
      fail "cmake could not configure the project"
    }
    cmake --build "$tmp/build" >"$tmp/build.log" 2>&1 || {
      cat "$tmp/build.log"
      fail "cmake could not build the project"
    }
    run_built "$tmp/build/app" bfc
    readelf -d "$tmp/build/app_as_needed" | grep -q "NEEDED.*\[libxsmem_default.so.$soversion\]" ||
      fail "xsmem::default was dropped under --as-needed"
    run_built "$tmp/build/app_as_needed" default
    # Every public configuration and its _export variant is a target.
    for c in $configs; do
      grep -q "^set(xsmem_CONFIGURATIONS .*\b$c\b" "$prefix/lib/cmake/xsmem/xsmemConfig.cmake" ||
        fail "xsmemConfig.cmake does not list $c"
    done
    # The version file refuses a later minor version and another major one.
    cat >"$tmp/version.cmake" <<'EOF'
cmake_minimum_required(VERSION 3.13)
find_package(xsmem ${V} CONFIG QUIET)
message("found=${xsmem_FOUND}")
EOF
    for v in 0.6 1.0 "0.6...1.0" "0.1...<$version"; do
      out=$(cmake "-DV=$v" -DCMAKE_PREFIX_PATH="$prefix" -P "$tmp/version.cmake" 2>&1)
      [[ "$out" == *"found=0"* ]] || fail "find_package(xsmem $v) took version $version: $out"
    done
    ;;

  tool)
    # A cleared environment (no RUNFILES_DIR, TEST_SRCDIR, PATH into Bazel's
    # trees) and a directory with nothing of xsmem's in it.
    cd "$tmp"
    clean=(env -i "PATH=/usr/bin:/bin" "TMPDIR=/tmp")
    names=$("${clean[@]}" "$prefix/bin/xsmem" list --names) || fail "xsmem list --names failed"
    [ "$(echo "$names" | tr '\n' ' ')" = "$(echo "$configs" | tr '\n' ' ')" ] ||
      fail "xsmem list names '$names', the tree holds '$configs'"
    "${clean[@]}" "$prefix/bin/xsmem" list >"$tmp/list.txt" 2>&1 || {
      cat "$tmp/list.txt"
      fail "xsmem list failed"
    }
    grep -q "XSMEM_BFC_LIMIT_MB" "$tmp/list.txt" || fail "xsmem list shows no options"
    if grep -q "no _export library\|could not read" "$tmp/list.txt"; then fail "xsmem list: $(cat "$tmp/list.txt")"; fi
    # run: the libraries come from the tree (the program's own mappings say
    # which files it loaded), the mappings saver from libexec.
    "${clean[@]}" "$prefix/bin/xsmem" run --config default -- /bin/cat /proc/self/maps >"$tmp/run.txt" 2>&1 || {
      cat "$tmp/run.txt"
      fail "xsmem run --config default failed"
    }
    grep -q "$prefix/lib/libxsmem_default_tracked_export.so.$version" "$tmp/run.txt" ||
      fail "xsmem run did not preload the tree's libxsmem_default_tracked_export.so: $(cat "$tmp/run.txt")"
    grep -q "$prefix/libexec/xsmem/libxsmem_maps.so" "$tmp/run.txt" ||
      fail "xsmem run did not preload the tree's libxsmem_maps.so"
    grep -q "exited with status 0 .* under 'default_tracked'" "$tmp/run.txt" || fail "no run summary: $(cat "$tmp/run.txt")"
    "${clean[@]}" "$prefix/bin/xsmem" run --config bfc --track off -- /bin/true >"$tmp/true.txt" 2>&1 ||
      fail "xsmem run --config bfc -- /bin/true failed: $(cat "$tmp/true.txt")"
    # The built-in workload: python3 over the demo script from libexec.
    if [ -x /usr/bin/python3 ]; then
      "${clean[@]}" "$prefix/bin/xsmem" run --config pool --track off --workload python >"$tmp/python.txt" 2>&1 ||
        fail "xsmem run --workload python failed: $(cat "$tmp/python.txt")"
      grep -q "$prefix/libexec/xsmem/demo_workload.py" "$tmp/python.txt" ||
        fail "the demo workload did not come from libexec: $(cat "$tmp/python.txt")"
    fi
    # bench finds its suite's programs in libexec (one tiny run).
    "${clean[@]}" "$prefix/bin/xsmem" bench --allocators default --peers '' --workloads larson --reps 1 \
      --scale 0.01 --no-micro --out "$tmp/bench" >"$tmp/bench.txt" 2>&1 ||
      fail "xsmem bench with the suite's larson failed: $(cat "$tmp/bench.txt")"
    ;;

  layout)
    # (the SONAME) Every library's SONAME is its .so.SOVERSION link, which
    # leads to the versioned file, as the .so link does.
    n=0
    for lib in "$prefix"/lib/libxsmem_*.so; do
      base=$(basename "$lib")
      soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
      [ "$soname" = "$base.$soversion" ] || fail "$base: SONAME '$soname', expected $base.$soversion"
      [ "$(readlink "$lib")" = "$base.$version" ] || fail "$base does not link to $base.$version"
      [ "$(readlink "$prefix/lib/$soname")" = "$base.$version" ] || fail "$soname does not link to $base.$version"
      [ -f "$prefix/lib/$base.$version" ] && [ ! -L "$prefix/lib/$base.$version" ] || fail "$base.$version is not a file"
      n=$((n + 1))
    done
    # Each public configuration twice (plain and _export); no peer wrapper.
    [ $n = $((2 * $(echo "$configs" | wc -l))) ] || fail "$n libraries for configurations: $configs"
    for c in $configs; do [ -f "$prefix/lib/libxsmem_${c}_export.so.$version" ] || fail "no _export library for $c"; done
    for peer in jemalloc mimalloc tcmalloc; do [ ! -e "$prefix/lib/libxsmem_$peer.so" ] || fail "the peer $peer is installed"; done
    echo "$configs" | grep -qx default || fail "no default configuration"
    # version.bzl's version has its section in CHANGELOG.md.
    grep -q "^## $version\b" "$runfiles/CHANGELOG.md" || fail "CHANGELOG.md has no section '## $version'"
    # The headers: exactly //:public_headers, cpp/X as xsmem/X and the others
    # at their tree paths; the C interface among them.
    headers=$(cd "$prefix/include" && find . -type f | sort)
    expected=$(sed -n 's|^header \(cpp/\)\{0,1\}|./xsmem/|p' "$runfiles/install_manifest.txt" | sort)
    [ "$headers" = "$expected" ] || fail "installed headers: $headers; //:public_headers: $expected"
    for h in allocators/allocator.h allocators/registry.h platform/base.h platform/once.h; do
      [ -f "$prefix/include/xsmem/$h" ] || fail "include/xsmem/$h is not installed"
    done
    # Files are copies with sane modes: no link but the libraries', nothing
    # writable by group or others, executables only where they run.
    links=$(cd "$prefix" && find . -type l ! -path './lib/libxsmem_*.so*')
    [ -z "$links" ] || fail "symbolic links outside the libraries: $links"
    bad=$(find "$prefix" ! -type l -perm /022)
    [ -z "$bad" ] || fail "writable by group or others: $bad"
    bad=$(cd "$prefix" && find include lib/pkgconfig lib/cmake share -type f -perm /111)
    [ -z "$bad" ] || fail "executable but should not be: $bad"
    [ -x "$prefix/bin/xsmem" ] || fail "bin/xsmem is not executable"
    if grep -rlE "bazel-out|execroot|runfiles|$TEST_TMPDIR" "$prefix/lib/pkgconfig" "$prefix/lib/cmake" "$prefix/share"; then
      fail "a text file names where the tree was made"
    fi
    for f in "$prefix/bin/xsmem" "$prefix"/lib/*.so."$version"; do
      if readelf -d "$f" | grep -qE 'RPATH|RUNPATH'; then fail "$f carries an rpath"; fi
    done
    # The list of installed files is the tree.
    (cd "$prefix" && find . ! -type d | sed 's|^\./||' | sort) >"$tmp/tree.txt"
    diff "$prefix/share/xsmem/installed-files" "$tmp/tree.txt" || fail "share/xsmem/installed-files is not the tree"

    # Re-installing over the tree replaces what was changed, by new files
    # (renamed into place: a program mapping the old library keeps it).
    echo broken >"$prefix/lib/pkgconfig/xsmem.pc"
    rm "$prefix/lib/libxsmem_bfc.so.$soversion"
    ln -s nowhere "$prefix/lib/libxsmem_bfc.so.$soversion"
    inode=$(stat -c %i "$prefix/lib/libxsmem_bfc.so.$version")
    # An older install's file, in the list: gone after this one; a file the
    # list does not name is not the install's to remove.
    echo old >"$prefix/lib/libxsmem_bfc.so.0.0.1"
    echo lib/libxsmem_bfc.so.0.0.1 >>"$prefix/share/xsmem/installed-files"
    echo mine >"$prefix/lib/mine.txt"
    "$install_bin" --prefix "$prefix" >/dev/null || fail "installing over the tree failed"
    grep -q '^Name: xsmem$' "$prefix/lib/pkgconfig/xsmem.pc" || fail "re-installing did not replace xsmem.pc"
    [ "$(readlink "$prefix/lib/libxsmem_bfc.so.$soversion")" = "libxsmem_bfc.so.$version" ] ||
      fail "re-installing did not replace the SONAME link"
    [ "$(stat -c %i "$prefix/lib/libxsmem_bfc.so.$version")" != "$inode" ] ||
      fail "re-installing wrote into the old library instead of replacing it"
    [ ! -e "$prefix/lib/libxsmem_bfc.so.0.0.1" ] || fail "re-installing left a file the earlier install listed"
    [ -f "$prefix/lib/mine.txt" ] || fail "re-installing removed a file it had not installed"
    rm "$prefix/lib/mine.txt"
    (cd "$prefix" && find . ! -type d | sed 's|^\./||' | sort) | diff "$tmp/tree.txt" - || fail "re-installing changed the file list"

    # A relative prefix is relative to where bazel run was typed.
    mkdir -p "$tmp/typed_here" "$tmp/elsewhere"
    (cd "$tmp/elsewhere" && BUILD_WORKING_DIRECTORY=$tmp/typed_here "$install_bin" --prefix rel >/dev/null) ||
      fail "installing into a relative prefix failed"
    [ -x "$tmp/typed_here/rel/bin/xsmem" ] && [ ! -e "$tmp/elsewhere/rel" ] ||
      fail "--prefix rel did not land in BUILD_WORKING_DIRECTORY"

    # The dist tarball: one top folder xsmem-VERSION/ holding the same tree
    # (names, types, modes, link targets, contents).
    tarball=$runfiles/xsmem-$version-linux-x86_64.tar.gz
    [ "$(tar -tzf "$tarball" | cut -d/ -f1 | sort -u)" = "xsmem-$version" ] || fail "the tarball's top is not xsmem-$version/"
    mkdir "$tmp/unpacked"
    tar -xzf "$tarball" -C "$tmp/unpacked"
    describe() {
      (cd "$1" && find . -printf '%y %m %p -> %l\n' | sort && find . -type f -exec sha256sum {} + | sort -k2)
    }
    diff <(describe "$prefix") <(describe "$tmp/unpacked/xsmem-$version") || fail "the tarball's tree differs from the install"
    ;;

  *) fail "unknown part" ;;
esac
echo "PASS ($part)"
