#!/usr/bin/env bash
# `xsmem bench` on a small scale: the ratio table (built-in workloads and the
# suite's churn; xsmem's columns first, glibc's own ratios 1.00x), the text,
# HTML and markdown files; micro benchmarks read from google benchmark's JSON
# (a stand-in script whose rate comes from the environment, so --lib and
# --lib-env are seen to reach each allocator's runs); --results appended
# section by section; a failing run, a run past --timeout, and bad options.
set -euo pipefail
r=${TEST_SRCDIR:-$0.runfiles}/xsmem
x=$r/tools/xsmem
tmp=${TEST_TMPDIR:-$(mktemp -d)}
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_rc() {  # expect_rc WANT CMD... (stdout to $tmp/out, stderr to $tmp/err)
  local want=$1; shift
  set +e; "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?; set -e
  [ "$got" = "$want" ] || { cat "$tmp/err" >&2; fail "$* exited $got, wanted $want"; }
}
ratio='[0-9]+\.[0-9]+x'

expect_rc 0 "$x" bench --allocators glibc,default,bfc --workloads small,mixed,threads,churn --reps 1 --scale 0.25 \
  --out "$tmp/b"
cp "$tmp/out" "$tmp/table.txt"
cat "$tmp/table.txt"
grep -q "^wall time, median of 1 runs, as a ratio to glibc's" "$tmp/table.txt" || fail "no time header"
grep -q "^peak RSS, median of 1 runs, as a ratio to glibc's" "$tmp/table.txt" || fail "no RSS header"
[ "$(grep -Ec "^workload +default +bfc +glibc$" "$tmp/table.txt")" = 2 ] || fail "columns: xsmem's first, then the peers"
for w in small mixed threads churn geomean; do
  [ "$(grep -Ec "^$w +$ratio +$ratio +1\.00x$" "$tmp/table.txt")" = 2 ] || fail "row $w"
done
! grep -E '.{81}' "$tmp/table.txt" || fail "a table line wider than 80 columns"
for f in txt html md csv json; do [ -s "$tmp/b/bench.$f" ] || fail "bench.$f missing"; done
cmp -s "$tmp/table.txt" "$tmp/b/bench.txt" || fail "bench.txt differs from the printed table"
[ "$(grep -o '<rect' "$tmp/b/bench.html" | wc -l)" -ge 30 ] || fail "chart bars (time and RSS)"
[ "$(grep -o 'class="baseline"' "$tmp/b/bench.html" | wc -l)" = 2 ] || fail "no 1.0 line on the charts"
! grep -Eo '>[0-9.]+x</text>' "$tmp/b/bench.html" | grep -Ev '>[0-9]+(\.(25|5|75|2|4|6|8))?x<|>0\.[0-9]+x<' ||
  fail "axis ticks are not round"
python3 - "$tmp/b/bench.csv" "$tmp/b/bench.json" <<'PY' || fail "bench.csv / bench.json"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
doc = json.load(open(sys.argv[2]))
assert len(rows) == len(doc["rows"]) == 12, (len(rows), len(doc["rows"]))
assert doc["baseline"] == "glibc"
glibc = [r for r in rows if r["allocator"] == "glibc"]
assert all(float(r["ratio_to_glibc"]) == 1 and float(r["rss_ratio_to_glibc"]) == 1 for r in glibc)
assert {r["name"] for r in rows} == {"small", "mixed", "threads", "churn"}
PY
grep -Eq '^\[[0-9]+/12, ~[0-9]+s left\] rep 1 ' "$tmp/err" || fail "no progress lines with time left off a terminal"
# Without --out nothing lands in the working directory: a fresh directory under $TMPDIR.
mkdir -p "$tmp/cwd" "$tmp/tmpdir"
(cd "$tmp/cwd" && TMPDIR=$tmp/tmpdir expect_rc 0 "$x" bench --allocators '' --peers glibc --workloads small --reps 1 \
  --scale 0.05 --no-micro)
[ -z "$(ls -A "$tmp/cwd")" ] || fail "bench wrote into the working directory unasked"
ls "$tmp"/tmpdir/xsmem-bench-*/bench.html >/dev/null || fail "no outputs under \$TMPDIR"
grep -Eq '^\| churn \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|$' "$tmp/b/bench.md" || fail "markdown row"

# Micro benchmarks: google benchmark's JSON shape, the rate from FAKE_IPS.
cat > "$tmp/fake_micro" <<'SH'
#!/bin/sh
case "$*" in *--benchmark_format=json*--benchmark_min_time=*) ;; *) echo "unexpected arguments: $*" >&2; exit 9 ;; esac
if [ -n "${FAKE_FAIL:-}" ]; then echo "broken on purpose" >&2; exit 3; fi
if [ -n "${FAKE_SLEEP:-}" ]; then exec sleep "$FAKE_SLEEP"; fi
printf '{"context": {"caches": [{"type": "Data"}], "note": "}]"},\n "benchmarks": [\n' 
printf '  {"name": "BM_Fake/8/real_time", "run_type": "iteration", "items_per_second": %s},\n' "${FAKE_IPS:-1e9}"
printf '  {"name": "BM_NoItems", "real_time": 3}\n]}\n'
SH
chmod +x "$tmp/fake_micro"
lib=$r/allocators/libxsmem_default.so
printf '# my results\nno newline' > "$tmp/results.md"
expect_rc 0 "$x" bench --allocators= --peers glibc --lib "mine=$lib" --lib-env mine:FAKE_IPS=2.5e8 --workloads= \
  --micro "$tmp/fake_micro" --reps=2 --out "$tmp/m" --results "$tmp/results.md" --title "first"
cat "$tmp/out"
grep -Eq "^BM_Fake/8 +4\.0 +1\.0$" "$tmp/out" || fail "micro row (ns from items_per_second, per allocator)"
grep -Eq "^BM_Fake/8 +4\.00x +1\.00x$" "$tmp/out" || fail "micro ratio row"
! grep -E '.{81}' "$tmp/out" || fail "a micro table line wider than 80 columns"
! grep -q "BM_NoItems" "$tmp/out" || fail "a benchmark without items_per_second was listed"
grep -qF -- "- Allocators: mine (libxsmem_default.so FAKE_IPS=2.5e8), glibc (no preload)" "$tmp/results.md" ||
  fail "markdown allocators line"
grep -qF "| BM_Fake/8 | 4.0 | 1.0 |" "$tmp/results.md" || fail "markdown micro row"
grep -qF -- "- 2 repetitions, interleaved; medians; scale 1;" "$tmp/results.md" || fail "markdown repetitions"
grep -qx "no newline" "$tmp/results.md" || fail "the section was not started on a line of its own"
expect_rc 0 "$x" bench --allocators '' --peers glibc --workloads '' --micro "$tmp/fake_micro" --reps 1 \
  --out "$tmp/m" --results "$tmp/results.md"
[ "$(grep -c '^## ' "$tmp/results.md")" = 2 ] || fail "two runs, two sections"
grep -q "^## .* — first$" "$tmp/results.md" || fail "title"
[ "$(grep -c '^# ' "$tmp/results.md")" = 1 ] || fail "the title line was written into an existing file"
rm "$tmp/results.md"
expect_rc 0 "$x" bench --allocators '' --peers glibc --workloads '' --micro "$tmp/fake_micro" --reps 1 \
  --out "$tmp/m" --results "$tmp/results.md"
head -1 "$tmp/results.md" | grep -qx "# xsmem bench results" || fail "a new results file has no title line"

# A failed run: the others are reported, its cell says so, the status is 1.
expect_rc 1 "$x" bench --allocators '' --peers glibc --lib "mine=$lib" --lib-env mine:PYTHONHOME=/nonexistent \
  --workloads python,small --reps 1 --scale 0.1 --out "$tmp/f"
[ "$(grep -Ec "^python +FAILED +1\.00x$" "$tmp/out")" = 2 ] || fail "failed cell"
[ "$(grep -Ec "^small +$ratio +1\.00x$" "$tmp/out")" = 2 ] || fail "the other workload's row"
grep -q "python failed under mine (exit status 1: .*No module named 'encodings'" "$tmp/err" || fail "failure message"
expect_rc 1 "$x" bench --allocators '' --peers glibc --lib "mine=$lib" --lib-env glibc:FAKE_FAIL=1 --workloads '' \
  --micro "$tmp/fake_micro" --reps 1 --out "$tmp/f"
grep -q "micro benchmarks failed under glibc (exit status 3: broken on purpose)" "$tmp/err" || fail "micro failure"
grep -Eq "^BM_Fake/8 +1\.0 +-$" "$tmp/out" || fail "micro row beside a failed run"
# Past --timeout (a micro run gets 5 times as long) the run is killed.
expect_rc 1 "$x" bench --allocators '' --peers glibc --lib-env glibc:FAKE_SLEEP=60 --workloads '' \
  --micro "$tmp/fake_micro" --timeout 0.1 --reps 1 --out "$tmp/f"
grep -q "killed after the 0.5 s allowed" "$tmp/err" || fail "timeout: $(cat "$tmp/err")"

# Usage errors: a message, status 2, nothing run or written.
expect_rc 0 "$x" bench --help
grep -q "^usage: xsmem bench" "$tmp/out" || fail "--help"
for bad in "--allocators glibc,nope" "--workloads nope" "--reps 0" "--reps 2.5" "--reps x" "--scale 100" \
           "--peers nosuch" "--lib nosuch=/no/such.so" "--lib bad/name=$lib" "--lib-env mine" \
           "--cpus abc" "--frobnicate" "--reps" "--no-micro=1" "--workloads= --no-micro"; do
  # shellcheck disable=SC2086
  expect_rc 2 "$x" bench $bad --out "$tmp/c"
  [ -s "$tmp/err" ] || fail "no message for $bad"
done
"$x" bench --allocators glibc,nope --out "$tmp/c" 2>"$tmp/err" || true
"$x" bench --workloads nope --out "$tmp/c" 2>>"$tmp/err" || true
grep -q "unknown configuration 'nope'" "$tmp/err" && grep -q "unknown workload 'nope'" "$tmp/err" || fail "messages"
[ ! -e "$tmp/c" ] || fail "written after a usage error"
echo PASS
