#!/usr/bin/env bash
# docs/OPTIONS.md's option table is platform/options_list.h, row for row and in
# its order: the same options, each with the same default ("(none)" for an
# empty one), the same accepted values (from the row's KIND and "accepted":
# "switch", "integer 1..16", "size 1k..1m", "number 0..1", the choices, or the
# text's description), the same answer to "can xsmem_option_set change it"
# (WHEN: LIVE is "yes") and the same meaning. No other doc carries a table of
# its own (they name options and point to this one), so nothing about an
# option can drift out of date.
set -euo pipefail
row='^XSMEM_OPTION(\(XSMEM_[A-Z0-9_]*\), "\([^"]*\)", \([A-Z]*\), "\([^"]*\)", \([A-Z]*\), "\([^"]*\)")$'
declared=$(sed -n "s/$row/\1|\2|\3|\4|\5|\6/p" platform/options_list.h | awk -F'|' '{
  def = $2 == "" ? "(none)" : "`" $2 "`"
  if ($3 == "BOOL") acc = "switch"
  else if ($3 == "INT") acc = "integer " $4
  else if ($3 == "BYTES") acc = "size " $4
  else if ($3 == "NUMBER") acc = "number " $4
  else if ($3 == "CHOICE") acc = $4
  else if ($3 == "STR") acc = $4 == "" ? "text" : $4
  else acc = "UNKNOWN KIND " $3
  live = $5 == "LIVE" ? "yes" : ($5 == "START" ? "no" : "UNKNOWN WHEN " $5)
  printf "| `%s` | %s | %s | %s | %s |\n", $1, def, acc, live, $6
}')
documented=$(grep '^| `XSMEM_' docs/OPTIONS.md || true)
status=0
[ "$(grep -c '^XSMEM_OPTION(' platform/options_list.h)" = "$(wc -l <<<"$declared")" ] ||
  { echo "platform/options_list.h has an XSMEM_OPTION line this test cannot read"; status=1; }
d=$(mktemp)
if ! diff <(echo "$declared") <(echo "$documented") >"$d"; then
  echo "docs/OPTIONS.md's option table differs from platform/options_list.h (< declared, > documented):"
  cat "$d"
  status=1
fi
rm -f "$d"
for f in $(find . -name '*.md' -not -path './docs/OPTIONS.md' -not -path './bazel-*' -not -path './external/*'); do
  if grep -q '^| `XSMEM_' "$f"; then
    echo "$f has option rows of its own: name the options and point to docs/OPTIONS.md"
    status=1
  fi
done
[ "$(wc -w <<<"$declared")" -gt 0 ] || { echo "no options found"; status=1; }
[ $status = 0 ] && echo "$(wc -l <<<"$declared") options documented, defaults, accepted values and meanings as declared"
exit $status
