// tracking/tracker_walk_test.c: the frame-pointer walk over frame records
// built by hand on this thread's stack: it follows records that lead up the
// stack, and stops at a saved frame pointer that does not (below the
// current record, beyond the stack, or misaligned: what code built without
// frame pointers leaves in that slot), so it never reads a word it should not.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tracking/testing.h"
#include "tracking/tracker_internal.h"

enum { kWords = 16 };

// Records at words 0, 2 and 4 of s (each: saved frame pointer, return
// address), the third's saved pointer set to `last`; the rest of s holds
// 0x41 bytes, so a word read from a misaligned record would look like a
// plausible return address and frame.
static unsigned walk_chain(uintptr_t *s, uintptr_t last, uintptr_t *out) {
  memset(s, 0x41, kWords * sizeof(uintptr_t));
  s[0] = (uintptr_t)&s[2];
  s[1] = 0x100001;
  s[2] = (uintptr_t)&s[4];
  s[3] = 0x100002;
  s[4] = last;
  s[5] = 0x100003;
  return tracker_walk_from((uintptr_t)&s[0], out, XSMEM_TRACK_MAX_DEPTH);
}

int main(void) {
  _Alignas(16) uintptr_t s[kWords];
  uintptr_t out[XSMEM_TRACK_MAX_DEPTH];
  // A record leading further up: followed (the 0x41 words then end it: their
  // saved pointer lies beyond the stack).
  unsigned n = walk_chain(s, (uintptr_t)&s[6], out);
  CHECK(n == 4);
  CHECK(out[0] == 0x100001 && out[1] == 0x100002 && out[2] == 0x100003);
  // Misaligned, below, beyond the stack, null: the walk ends at the third record.
  const uintptr_t ends[] = {(uintptr_t)&s[6] + 3, (uintptr_t)&s[6] + 4, (uintptr_t)&s[0],
                            (uintptr_t)&s[2],     ~(uintptr_t)0 - 7,    0};
  for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
    memset(out, 0, sizeof(out));
    n = walk_chain(s, ends[i], out);
    CHECK(n == 3);
    CHECK(out[0] == 0x100001 && out[1] == 0x100002 && out[2] == 0x100003);
  }
  // A misaligned first record: nothing read.
  CHECK(tracker_walk_from((uintptr_t)&s[0] + 4, out, XSMEM_TRACK_MAX_DEPTH) == 0);
  puts("tracker_walk_test: ok");
  return 0;
}
