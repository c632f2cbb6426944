#!/usr/bin/env bash
# tools/install/install.sh: lays xsmem out for projects that do not use Bazel
# (docs/INSTALL.md). The one copy of the layout: //:install runs it into a
# prefix, //:dist into the tree it packs.
#
#   ./bazelw run //:install -- --prefix DIR
#     DIR/lib/libxsmem_NAME.so.VERSION   + .so.SOVERSION (the SONAME) and .so (for -l)
#     DIR/lib/libxsmem_NAME_export.so.VERSION  (the same, with the exporter)
#     DIR/include/xsmem/...              the public headers at their tree paths
#     DIR/lib/pkgconfig/xsmem.pc, xsmem-NAME.pc, xsmem-NAME-export.pc
#     DIR/lib/cmake/xsmem/xsmemConfig.cmake, xsmemConfigVersion.cmake
#     DIR/bin/xsmem                      the tool; what it runs besides the
#     DIR/libexec/xsmem/...              libraries (tools/libraries.c looks here)
#     DIR/share/xsmem/installed-files    every path above, for uninstalling
#
# Inputs come from a manifest (//:install_manifest): lines "KIND PATH" with
# PATH relative to the workspace root, plus the version. //:install finds the
# manifest and the files in its runfiles; //:dist passes --manifest and the
# roots (--root) to look the paths up under, and --dist TOP OUT to pack the
# tree as OUT with TOP/ at its top.
#
# Every file is written under a temporary name and renamed over the old one:
# re-running replaces an installed tree (and removes what the earlier run
# listed in share/xsmem/installed-files and this one no longer writes), and a
# program that has the old library mapped keeps its copy. Nothing points back
# into the source tree or bazel-bin, and every path written into the
# pkg-config and CMake files is relative to the file itself, so the tree can
# be moved.
set -euo pipefail
umask 022

die() {
  echo "install: $*" >&2
  exit 1
}

usage() {
  echo "usage: bazel run //:install -- --prefix DIR   (DIR relative to the directory you ran it from)" >&2
  exit 2
}

prefix="" manifest="" dist_top="" dist_out=""
roots=()
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || usage; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --manifest) [ $# -ge 2 ] || usage; manifest=$2; shift 2 ;;
    --root) [ $# -ge 2 ] || usage; roots+=("$2"); shift 2 ;;
    --dist) [ $# -ge 3 ] || usage; dist_top=$2; dist_out=$3; shift 3 ;;
    -h | --help) usage ;;
    *) echo "install: unknown argument '$1'" >&2; usage ;;
  esac
done

# Without --manifest: the runfiles of //:install (bazel run sets
# RUNFILES_DIR or leaves <script>.runfiles; a test's are under TEST_SRCDIR).
if [ -z "$manifest" ]; then
  for r in "${RUNFILES_DIR:-}" "${TEST_SRCDIR:-}" "$0.runfiles"; do
    if [ -n "$r" ] && [ -f "$r/xsmem/install_manifest.txt" ]; then
      manifest=$r/xsmem/install_manifest.txt
      roots=("$r/xsmem")
      break
    fi
  done
  [ -n "$manifest" ] || die "install_manifest.txt is not in the runfiles: run it as 'bazel run //:install -- --prefix DIR'"
fi
[ -f "$manifest" ] || die "manifest $manifest: no such file"
[ ${#roots[@]} -gt 0 ] || roots=(.)

if [ -n "$dist_top" ]; then
  [ -z "$prefix" ] || die "--dist and --prefix exclude each other"
  case "$dist_out" in /*) ;; *) dist_out=$PWD/$dist_out ;; esac
  stage=$(mktemp -d "${TMPDIR:-/tmp}/xsmem-dist.XXXXXX")
  trap 'rm -rf "$stage"' EXIT
  prefix=$stage/$dist_top
else
  [ -n "$prefix" ] || usage
  # A relative prefix is relative to where the user typed the command, not
  # to the runfiles directory bazel run starts us in.
  case "$prefix" in /*) ;; *) prefix=${BUILD_WORKING_DIRECTORY:-$PWD}/$prefix ;; esac
fi

# ---------------------------------------------------------------------------
# The manifest.

version="" soversion="" default_config=""
libs=() headers=() bins=() libexecs=()
while read -r kind path; do
  case "$kind" in
    version) version=$path ;;
    soversion) soversion=$path ;;
    default_config) default_config=$path ;;
    lib) libs+=("$path") ;;
    header) headers+=("$path") ;;
    bin) bins+=("$path") ;;
    libexec) libexecs+=("$path") ;;
    "") ;;
    *) die "manifest $manifest: unknown kind '$kind'" ;;
  esac
done <"$manifest"
[ -n "$version" ] && [ -n "$soversion" ] && [ -n "$default_config" ] ||
  die "manifest $manifest: no version, soversion or default_config line"
[ ${#libs[@]} -gt 0 ] || die "manifest $manifest: no libraries"

# Returns (prints) where a manifest path is: the first root that has it.
locate() {
  local r
  for r in "${roots[@]}"; do
    if [ -e "$r/$1" ]; then
      echo "$r/$1"
      return
    fi
  done
  die "$1 is in the manifest but under none of: ${roots[*]}"
}

installed=()
# What an earlier install wrote here: what it wrote and this one does not
# (a configuration since made private, an older version's files) is removed
# at the end, so the tree and its list stay the same set.
previous=()
if [ -f "$prefix/share/xsmem/installed-files" ]; then
  mapfile -t previous <"$prefix/share/xsmem/installed-files"
fi

# put SRC DEST MODE: copies SRC to $prefix/DEST (a relative path) with MODE,
# through a temporary name renamed over DEST.
put() {
  local dest=$prefix/$2
  mkdir -p "$(dirname "$dest")"
  # cp and chmod, not install(1): bazel run and bazel test start us in the
  # runfiles directory, whose own 'install' (//:install) bazel test's PATH
  # finds first (it starts with '.').
  cp -- "$1" "$dest.tmp.$$"
  chmod "$3" "$dest.tmp.$$"
  mv -fT "$dest.tmp.$$" "$dest"
  installed+=("$2")
}

# write DEST MODE: writes standard input to $prefix/DEST as put does.
write() {
  local tmp
  tmp=$(mktemp "${TMPDIR:-/tmp}/xsmem-install.XXXXXX")
  cat >"$tmp"
  put "$tmp" "$1" "$2"
  rm -f "$tmp"
}

# link TARGET DEST: the symbolic link $prefix/DEST -> TARGET (relative).
link() {
  local dest=$prefix/$2
  ln -s "$1" "$dest.tmp.$$"
  mv -fT "$dest.tmp.$$" "$dest"
  installed+=("$2")
}

# ---------------------------------------------------------------------------
# Libraries: the file carries the full version, the SONAME link what a
# program linked against it loads, the plain .so link what -l and CMake find.

configs=()
for path in "${libs[@]}"; do
  base=$(basename "$path")
  case "$base" in
    libxsmem_*.so) ;;
    *) die "library $path is not named libxsmem_NAME.so" ;;
  esac
  stem=${base%.so}
  put "$(locate "$path")" "lib/$base.$version" 0755
  link "$base.$version" "lib/$base.$soversion"
  link "$base.$version" "lib/$base"
  name=${stem#libxsmem_}
  case "$name" in *_export) ;; *) configs+=("$name") ;; esac
done
mapfile -t configs < <(printf '%s\n' "${configs[@]}" | sort)
for c in "${configs[@]}"; do
  [[ " ${libs[*]} " == *"/libxsmem_${c}_export.so "* ]] || die "configuration $c has no _export library in the manifest"
done
[[ " ${configs[*]} " == *" $default_config "* ]] || die "the default configuration $default_config is not installed"

# Headers: cpp/X is what C++ users include as xsmem/X; every other header
# keeps its tree path, which is how the headers include each other.
for path in "${headers[@]}"; do
  case "$path" in
    cpp/*) put "$(locate "$path")" "include/xsmem/${path#cpp/}" 0644 ;;
    *) put "$(locate "$path")" "include/xsmem/$path" 0644 ;;
  esac
done

# The tool, and what it starts from libexec/xsmem (by file name).
for path in "${bins[@]}"; do
  put "$(locate "$path")" "bin/$(basename "$path")" 0755
done
for path in "${libexecs[@]}"; do
  src=$(locate "$path")
  mode=0644
  [ -x "$src" ] && mode=0755
  put "$src" "libexec/xsmem/$(basename "$path")" "$mode"
done

# ---------------------------------------------------------------------------
# pkg-config: xsmem.pc (the default configuration), xsmem-NAME.pc and
# xsmem-NAME-export.pc. The library is linked inside --no-as-needed: a
# program that never calls malloc itself (only through other libraries)
# would otherwise lose it under a toolchain that links --as-needed (Ubuntu's),
# and run on glibc's malloc without a word. One -Wl fragment carries the
# state, the library and the state's restoring: pkg-config drops repeated
# fragments, which would pull a separate --push-state away from its library.
# No rpath: the program finds the library through LD_LIBRARY_PATH, ldconfig,
# or an -Wl,-rpath the user adds.

pc() {  # pc FILE NAME LIBRARY DESCRIPTION
  write "lib/pkgconfig/$1" 0644 <<EOF
# Generated by tools/install/install.sh; paths relative to this file.
prefix=\${pcfiledir}/../..
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: $2
Description: $4
Version: $version
Cflags: -I\${includedir}/xsmem -I\${includedir}
Libs: -L\${libdir} -Wl,--push-state,--no-as-needed,-l$3,--pop-state
EOF
}

pc xsmem.pc xsmem "xsmem_$default_config" \
  "xsmem's $default_config configuration as the process malloc (the same as xsmem-$default_config)"
for c in "${configs[@]}"; do
  pc "xsmem-$c.pc" "xsmem-$c" "xsmem_$c" "xsmem's $c configuration as the process malloc"
  pc "xsmem-$c-export.pc" "xsmem-$c-export" "xsmem_${c}_export" \
    "xsmem's $c configuration as the process malloc, with the exporter (XSMEM_HTTP, XSMEM_SNAPSHOT)"
done

# ---------------------------------------------------------------------------
# CMake: find_package(xsmem 0.5) gives xsmem::NAME and xsmem::NAME_export
# (SHARED IMPORTED) and xsmem::headers (INTERFACE, the include directories).

write lib/cmake/xsmem/xsmemConfig.cmake 0644 <<EOF
# xsmem $version: imported targets for find_package(xsmem). Generated by
# tools/install/install.sh; paths are relative to this file, so the installed
# tree can be moved.
#
#   xsmem::headers       the include directories only (xsmem/... and the tree paths)
#   xsmem::NAME          libxsmem_NAME.so: linking it makes NAME the process malloc
#   xsmem::NAME_export   the same with the exporter (XSMEM_HTTP, XSMEM_SNAPSHOT)
#
# NAME is one of: ${configs[*]}
# xsmem_CONFIGURATIONS lists them.
cmake_policy(PUSH)
cmake_policy(VERSION 3.5...3.28)

get_filename_component(_xsmem_prefix "\${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
set(xsmem_CONFIGURATIONS ${configs[*]})
set(xsmem_INCLUDE_DIRS "\${_xsmem_prefix}/include/xsmem;\${_xsmem_prefix}/include")

if(NOT TARGET xsmem::headers)
  add_library(xsmem::headers INTERFACE IMPORTED)
  set_target_properties(xsmem::headers PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "\${xsmem_INCLUDE_DIRS}")

  foreach(_xsmem_config IN LISTS xsmem_CONFIGURATIONS)
    foreach(_xsmem_lib "\${_xsmem_config}" "\${_xsmem_config}_export")
      set(_xsmem_file "\${_xsmem_prefix}/lib/libxsmem_\${_xsmem_lib}.so.$version")
      add_library(xsmem::\${_xsmem_lib} SHARED IMPORTED)
      # The library again inside --no-as-needed: CMake links it by its path,
      # which a toolchain linking --as-needed (Ubuntu's) drops from a program
      # that never calls malloc itself, leaving it on glibc's malloc. The
      # linker loads the file once; this mention makes it needed.
      set_target_properties(xsmem::\${_xsmem_lib} PROPERTIES
        IMPORTED_LOCATION "\${_xsmem_file}"
        IMPORTED_SONAME "libxsmem_\${_xsmem_lib}.so.$soversion"
        INTERFACE_INCLUDE_DIRECTORIES "\${xsmem_INCLUDE_DIRS}"
        INTERFACE_LINK_LIBRARIES "-Wl,--push-state,--no-as-needed;\${_xsmem_file};-Wl,--pop-state")
    endforeach()
  endforeach()
endif()

unset(_xsmem_config)
unset(_xsmem_lib)
unset(_xsmem_file)
unset(_xsmem_prefix)
cmake_policy(POP)
EOF

# Compatible: the same major version, at least the one asked for (a range:
# within it). 64-bit only, as the libraries.
write lib/cmake/xsmem/xsmemConfigVersion.cmake 0644 <<EOF
# xsmem's package version for find_package(xsmem VERSION). Generated by
# tools/install/install.sh.
set(PACKAGE_VERSION "$version")
set(PACKAGE_VERSION_COMPATIBLE FALSE)
set(PACKAGE_VERSION_EXACT FALSE)
if(DEFINED CMAKE_SIZEOF_VOID_P AND NOT CMAKE_SIZEOF_VOID_P STREQUAL "8")
  set(PACKAGE_VERSION "$version (64-bit)")
  set(PACKAGE_VERSION_UNSUITABLE TRUE)
  return()
endif()
string(REGEX MATCH "^[0-9]+" _xsmem_major "\${PACKAGE_VERSION}")
if(PACKAGE_FIND_VERSION_RANGE)
  # find_package(xsmem MIN...MAX): within the range, every version in it of our major.
  if(PACKAGE_FIND_VERSION_MIN_MAJOR STREQUAL _xsmem_major
     AND NOT PACKAGE_VERSION VERSION_LESS PACKAGE_FIND_VERSION_MIN
     AND ((PACKAGE_FIND_VERSION_RANGE_MAX STREQUAL "INCLUDE" AND NOT PACKAGE_VERSION VERSION_GREATER PACKAGE_FIND_VERSION_MAX)
          OR (PACKAGE_FIND_VERSION_RANGE_MAX STREQUAL "EXCLUDE" AND PACKAGE_VERSION VERSION_LESS PACKAGE_FIND_VERSION_MAX)))
    set(PACKAGE_VERSION_COMPATIBLE TRUE)
  endif()
elseif(PACKAGE_FIND_VERSION_MAJOR STREQUAL _xsmem_major AND NOT PACKAGE_VERSION VERSION_LESS PACKAGE_FIND_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
  if(PACKAGE_VERSION VERSION_EQUAL PACKAGE_FIND_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
endif()
unset(_xsmem_major)
EOF

# ---------------------------------------------------------------------------
# The list of what was installed (itself included), then the tarball.

installed+=(share/xsmem/installed-files)
write share/xsmem/installed-files 0644 < <(printf '%s\n' "${installed[@]}" | sort)
if [ ${#previous[@]} -gt 0 ]; then
  while read -r old; do
    # Only relative paths inside the prefix: the list is a file anyone could edit.
    case "/$old/" in
      */../* | //*) echo "install: not removing '$old' (listed in the old installed-files)" >&2 ;;
      *) rm -f "$prefix/$old" ;;
    esac
  done < <(comm -23 <(printf '%s\n' "${previous[@]}" | sort -u) <(printf '%s\n' "${installed[@]}" | sort -u))
fi

if [ -n "$dist_top" ]; then
  # Reproducible: sorted names, no owner, time or gzip name.
  (cd "$stage" && tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - "$dist_top") |
    gzip -n -9 >"$dist_out"
else
  echo "install: xsmem $version into $prefix (${#configs[@]} configurations; docs/INSTALL.md says how to use it)"
fi
