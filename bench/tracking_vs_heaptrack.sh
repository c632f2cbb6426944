#!/bin/bash
# bench/tracking_vs_heaptrack.sh: xsmem's tracking against heaptrack (and
# memcheck on request) on three real programs of Debian, built without frame
# pointers: python3 building a 200k-entry dict with json and regex, sqlite3
# with a recursive CTE over 200k rows and an index over 50k, gcc's cc1 at -O2
# on a ~1,900-line C file. Each program runs plain, under xsmem sample and
# full (libxsmem_default_tracked.so preloaded) and under heaptrack,
# interleaved round by round (so a drift of the machine's speed touches every
# column alike); the table gives the median wall seconds of the plain run and
# each tool's median ratio to it, then the median stack depth of an
# allocation (weighted by allocations: xsmem full from its call sites'
# counts at exit, heaptrack from its data file's traces).
#
# Usage: bench/tracking_vs_heaptrack.sh [--rounds N] [--memcheck] [--lib PATH]
#   --rounds N   rounds of every program under every tool (default 5)
#   --memcheck   also valgrind's memcheck (--leak-check=full): 20-45x, slow
#   --lib PATH   the tracked preload library (default: bazel-bin's, built
#                with ./bazelw when missing)
# Needs python3 (/usr/bin/python3, not a shim), sqlite3, gcc 12's cc1,
# heaptrack, heaptrack_print's zstd (for the depth), a C compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=5
memcheck=0
lib=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --memcheck) memcheck=1; shift ;;
    --lib) lib=$2; shift 2 ;;
    *) echo "tracking_vs_heaptrack: unknown argument $1 (--rounds N, --memcheck, --lib PATH)" >&2; exit 2 ;;
  esac
done
case "$rounds" in '' | *[!0-9]* | 0) echo "tracking_vs_heaptrack: --rounds needs a positive integer" >&2; exit 2 ;; esac
if [ -z "$lib" ]; then
  lib=$PWD/bazel-bin/allocators/libxsmem_default_tracked.so
  [ -f "$lib" ] || ./bazelw build //allocators:libxsmem_default_tracked.so >&2
fi
[ -f "$lib" ] || { echo "tracking_vs_heaptrack: no library at $lib" >&2; exit 2; }
lib=$(realpath "$lib")
py=/usr/bin/python3
cc1=/usr/lib/gcc/x86_64-linux-gnu/12/cc1
for tool in "$py" sqlite3 "$cc1" heaptrack zstd cc; do
  command -v "$tool" >/dev/null || { echo "tracking_vs_heaptrack: $tool is missing" >&2; exit 2; }
done
[ $memcheck = 0 ] || command -v valgrind >/dev/null || { echo "tracking_vs_heaptrack: valgrind is missing" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The workloads.
cat >"$work/work.py" <<'EOF'
import json, re
d = {}
for i in range(200000):
    d["key%d" % i] = {"n": i, "s": "value-%d" % (i * 7)}
s = json.dumps(d)
back = json.loads(s)
pat = re.compile(r'"key(\d+)7"')
print(len(back), len(pat.findall(s)))
EOF
cat >"$work/work.sql" <<'EOF'
CREATE TABLE t(a INTEGER, b TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 200000)
INSERT INTO t SELECT x, printf('row-%d-%s', x, hex(randomblob(8))) FROM c;
CREATE INDEX ib ON t(b) WHERE a <= 50000;
SELECT count(*), sum(length(b)) FROM t WHERE a % 3 = 0;
SELECT count(*) FROM t WHERE b LIKE 'row-1%' AND a <= 50000;
EOF
"$py" - >"$work/work.c" <<'EOF'
print("typedef unsigned long size_t;\nsize_t strlen(const char *);\n")
print("struct node { int key; long val; struct node *next; double w[4]; };")
for i in range(90):
    print(f"""
static inline long mix{i}(long a, long b) {{ return (a * {i*31+7}) ^ (b >> {i%13+1}); }}
long f{i}(struct node *n, int k, const char *s) {{
  long acc = {i};
  size_t len = strlen(s);
  for (int j = 0; j < k; j++) {{
    switch ((j + {i}) % 5) {{
      case 0: acc += mix{i}(acc, j); break;
      case 1: acc ^= (long)len * j; break;
      case 2: acc -= n ? n->val : j; break;
      case 3: if (n) n = n->next; break;
      default: acc = acc * 3 + s[j % (len ? len : 1)];
    }}
  }}
  while (n) {{
    n->w[{i%4}] += (double)acc / (n->key + 1);
    acc += (long)n->w[{(i+1)%4}];
    n = n->next;
  }}
  return acc;
}}""")
EOF

# The depth probe: preloaded after the tracked library, it reads the
# tracker's call sites at exit (xsmem_tracker_top_sites by total bytes) and
# writes the median depth of an allocation (each site weighted by its
# allocations) to $TRACKING_DEPTH_OUT.
cat >"$work/probe.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include "allocators/registry.h"
#include "tracking/tracker.h"
__attribute__((destructor)) static void depth_probe(void) {
  xsmem_allocator *a = xsmem_process_allocator();
  const char *path = getenv("TRACKING_DEPTH_OUT");
  if (!a || !path || !xsmem_is_tracker(a)) return;
  size_t max = 1 << 16;
  xsmem_track_site *s = mmap(NULL, max * sizeof(*s), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (s == MAP_FAILED) return;
  size_t n = xsmem_tracker_top_sites(a, XSMEM_BY_TOTAL_BYTES, s, max);
  double by_depth[XSMEM_TRACK_MAX_DEPTH + 1] = {0}, total = 0;
  for (size_t i = 0; i < n; i++) {
    by_depth[s[i].depth] += s[i].total_count;
    total += s[i].total_count;
  }
  unsigned median = 0;
  for (double seen = 0; median <= XSMEM_TRACK_MAX_DEPTH; median++) {
    seen += by_depth[median];
    if (seen >= total / 2) break;
  }
  xsmem_track_summary sum;
  xsmem_tracker_summary(a, &sum);
  FILE *f = fopen(path, "w");
  if (f) {
    fprintf(f, "%u %zu %.0f %llu %.0f\n", median, n, total, (unsigned long long)sum.sites, sum.total_count);
    fclose(f);
  }
}
EOF
cc -shared -fPIC -O2 -I. -o "$work/probe.so" "$work/probe.c"

progs=(python3 sqlite3 cc1)
run_prog() {  # prog: runs it with the environment and prefix given
  case "$1" in
    python3) "${@:2}" "$py" "$work/work.py" ;;
    sqlite3) "${@:2}" sqlite3 :memory: ".read $work/work.sql" ;;
    cc1) "${@:2}" "$cc1" -quiet -O2 "$work/work.c" -o /dev/null ;;
  esac
}
modes=(plain sample full heaptrack)
[ $memcheck = 0 ] || modes+=(memcheck)
run_mode() {  # prog mode round
  case "$2" in
    plain) run_prog "$1" env ;;
    sample) run_prog "$1" env XSMEM_TRACK=sample LD_PRELOAD="$lib" ;;
    full) run_prog "$1" env XSMEM_TRACK=full LD_PRELOAD="$lib" ;;
    heaptrack) run_prog "$1" heaptrack -o "$work/ht.$1.$3" ;;
    memcheck) run_prog "$1" valgrind --tool=memcheck --leak-check=full -q ;;
  esac
}

mkdir -p "$work/t"
for ((r = 1; r <= rounds; r++)); do
  for p in "${progs[@]}"; do
    for m in "${modes[@]}"; do
      # Wall seconds, and CPU seconds (user + system of every process waited
      # for: heaptrack's interpreter too, which runs beside the program).
      /usr/bin/time -f "%e %U %S" -o "$work/one" bash -c "$(declare -f run_prog run_mode); $(declare -p py cc1 work lib); run_mode $p $m $r" \
        >/dev/null 2>&1 || echo "tracking_vs_heaptrack: $p under $m exited with an error" >&2
      tail -1 "$work/one" | awk '{print $1}' >>"$work/t/$p.$m"
      tail -1 "$work/one" | awk '{printf "%.2f\n", $2 + $3}' >>"$work/t/$p.$m.cpu"
    done
    [ "$r" = "$rounds" ] || rm -f "$work"/ht."$p"."$r".*
  done
  echo "tracking_vs_heaptrack: round $r of $rounds done" >&2
done

median() { sort -g "$1" | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# Stack depths: one more xsmem full run with the probe, heaptrack's last data file.
xsmem_depth() {
  TRACKING_DEPTH_OUT="$work/depth.$1" run_prog "$1" env XSMEM_TRACK=full LD_PRELOAD="$lib $work/probe.so" >/dev/null 2>&1 || true
  [ -s "$work/depth.$1" ] && cut -d' ' -f1 "$work/depth.$1" || echo "?"
}
# heaptrack's data: `t IP PARENT` trace nodes (hex, 1-based; parent 0 the
# root), `a SIZE TRACE` allocation infos, `+ INFO` each allocation.
heaptrack_depth() {
  local f
  f=$(ls "$work"/ht."$1"."$rounds".* 2>/dev/null | head -1)
  [ -n "$f" ] || { echo "?"; return; }
  zstd -dcq "$f" 2>/dev/null | "$py" -c '
import sys
depth, info, count, total = [0], [], {}, 0
for line in sys.stdin:
    w = line.split()
    if not w:
        continue
    if w[0] == "t":
        parent = int(w[2], 16)
        depth.append(1 + (depth[parent] if parent else 0))
    elif w[0] == "a":
        info.append(int(w[2], 16))
    elif w[0] == "+":
        d = depth[info[int(w[1], 16)]]
        count[d] = count.get(d, 0) + 1
        total += 1
seen = 0
for d in sorted(count):
    seen += count[d]
    if seen >= total / 2:
        print(d)
        break
else:
    print("?")
'
}

ratio() { awk -v a="$(median "$1")" -v b="$(median "$2")" 'BEGIN {printf "%.2f", a / b}'; }
head="| program | plain wall (s) | plain CPU (s) |"
rule="|---|---|---|"
for m in "${modes[@]:1}"; do
  head+=" $m wall | $m CPU |"
  rule+="---|---|"
done
echo "$head depth: xsmem full | depth: heaptrack |"
echo "$rule---|---|"
for p in "${progs[@]}"; do
  row="| $p | $(median "$work/t/$p.plain") | $(median "$work/t/$p.plain.cpu") |"
  for m in "${modes[@]:1}"; do
    row+=" $(ratio "$work/t/$p.$m" "$work/t/$p.plain") | $(ratio "$work/t/$p.$m.cpu" "$work/t/$p.plain.cpu") |"
  done
  row+=" $(xsmem_depth "$p") | $(heaptrack_depth "$p") |"
  echo "$row"
done
echo
echo "Medians of $rounds interleaved rounds, $(nproc) CPUs, $(date -u +%Y-%m-%d): the plain run's wall and CPU" \
  "(user + system) seconds, each tool's as ratios to them (heaptrack's CPU includes its interpreter process)." \
  "Depth: the median frames of an allocation's stack."
