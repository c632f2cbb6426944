#!/usr/bin/env bash
# docs/OPTIONS.md's option table is platform/options_list.h, row for row: the
# same options, each with the same default ("(none)" for an empty one) and the
# same meaning. No other doc carries a table of its own (they name options and
# point to this one), so a default or a meaning cannot drift out of date.
set -euo pipefail
declared=$(sed -n 's/^XSMEM_OPTION(\(XSMEM_[A-Z0-9_]*\), "\([^"]*\)", "\([^"]*\)")$/\1|\2|\3/p' platform/options_list.h |
  sed 's/^\([^|]*\)||/\1|(none)|/; s/^\([^|]*\)|\([^|(][^|]*\)|/\1|`\2`|/' | sort)
documented=$(sed -n 's/^| `\(XSMEM_[A-Z0-9_]*\)` | \(.*\) | \(.*\) |$/\1|\2|\3/p' docs/OPTIONS.md | sort)
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
[ $status = 0 ] && echo "$(wc -l <<<"$declared") options documented, defaults and meanings as declared"
exit $status
