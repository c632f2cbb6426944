#!/bin/bash
# Links the shims of two configurations (pool and bfc) into one program, as
# depending on //allocators:pool and //allocators:bfc does, and checks that the
# link fails with the guard's error first: the symbol that says the fix, in
# objects whose paths name both configurations.
set -uo pipefail
archive() { find -L . -path "*allocators/lib$1_shim.*" \( -name '*.lo' -o -name '*.a' \) -print -quit; }
pool=$(archive pool) bfc=$(archive bfc)
[ -n "$pool" ] && [ -n "$bfc" ] || { echo "FAIL: shim archives not found"; exit 1; }
echo 'int main(void) { return 0; }' >"$TEST_TMPDIR/main.c"
failures=0
for ld in bfd gold; do
  out=$(gcc -fuse-ld=$ld -o "$TEST_TMPDIR/two" "$TEST_TMPDIR/main.c" -Wl,--whole-archive "$pool" "$bfc" \
    -Wl,--no-whole-archive -Wl,--unresolved-symbols=ignore-all 2>&1)
  first=$(grep -m1 'multiple definition' <<<"$out")
  echo "$ld: $first"
  if [ -z "$first" ]; then
    echo "FAIL ($ld): the link did not fail with a multiple definition"
    failures=$((failures + 1))
    continue
  fi
  grep -q 'xsmem_error_two_configurations_linked_as_malloc__depend_on_one_as_NAME_and_on_the_others_as_NAME_config' \
    <<<"$first" || { echo "FAIL ($ld): the first error is not the guard's"; failures=$((failures + 1)); }
  # The configurations: bfd names both objects on the line, gold on the next.
  both=$(grep -A1 -m1 'multiple definition' <<<"$out")
  for c in pool bfc; do
    grep -q "$c" <<<"$both" || { echo "FAIL ($ld): the error does not name $c"; failures=$((failures + 1)); }
  done
done
[ $failures -eq 0 ] && echo "ok: two configurations linked as malloc fail with the guard's error"
exit $((failures > 0))
