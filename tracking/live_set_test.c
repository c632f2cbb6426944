// tracking/live_set_test.c: the live-block set: exact membership, bad
// erases refused, enumeration, the address range, concurrent inserts and
// erases on neighbouring granules (one word of the map, as walks read it),
// a free waiting out a walk.
#include "tracking/live_set.h"

#include "tracking/testing.h"

#include <pthread.h>
#include <stdio.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

static live_set g_set;  // zeroed: an empty set

typedef struct {
  uintptr_t sum, count;
} visit;

static void count_one(uintptr_t p, void *ctx) {
  visit *v = ctx;
  v->sum += p;
  v->count++;
}

static void test_membership(void) {
  live_set *s = &g_set;
  // Nothing is held: no pointer is found, none erased, nothing read.
  CHECK(!live_set_contains(s, 0));
  CHECK(!live_set_erase(s, 0x7f0000001000));
  CHECK(!live_set_erase(s, (uintptr_t)&g_set));
  // Blocks in two chunks far apart, one at a chunk's first and last granule.
  const uintptr_t a = 0x7f0000000000, b = 0x1000000;
  const uintptr_t chunk = (uintptr_t)1 << kLiveChunkShift;
  uintptr_t ps[] = {a, a + 16, a + 64 * 16, a + chunk - 16, b + 48, b + 4096};
  uintptr_t sum = 0;
  for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
    CHECK(live_set_insert(s, ps[i]));
    sum += ps[i];
  }
  CHECK(live_set_size(s) == 6);
  CHECK(live_set_bytes(s) >= 2 * sizeof(live_chunk));
  CHECK(live_set_contains(s, a + 16));
  CHECK(!live_set_contains(s, a + 32));  // a neighbour in the same word of the map
  CHECK(!live_set_contains(s, a + 8));   // inside a live block
  CHECK(!live_set_erase(s, a + 24));     // misaligned: interior
  CHECK(!live_set_erase(s, a + chunk));  // the next chunk: never made
  visit v = {0, 0};
  live_set_for_each(s, count_one, &v);
  CHECK(v.count == 6 && v.sum == sum);
  // Each erase succeeds once; the second is a double free.
  CHECK(live_set_erase(s, a + 16));
  CHECK(!live_set_erase(s, a + 16));
  CHECK(live_set_contains(s, a) && live_set_contains(s, a + 64 * 16));
  CHECK(live_set_size(s) == 5);
  // Above the 48-bit range: refused, not stored.
  CHECK(!live_set_insert(s, (uintptr_t)1 << 48));
  CHECK(!live_set_contains(s, (uintptr_t)1 << 48));
  live_set_destroy(s);
  CHECK(live_set_size(s) == 0 && live_set_bytes(s) == 0);
  CHECK(!live_set_contains(s, a));
  // Reusable after destroy.
  CHECK(live_set_insert(s, a));
  CHECK(live_set_erase(s, a));
  live_set_destroy(s);
}

enum { kThreads = 4, kPerThread = 20000, kRounds = 5 };

// Thread t owns granules t, t + kThreads, ...: every word of the map is shared,
// and the first inserts race to make the chunks.
static void *churn(void *arg) {
  uintptr_t t = (uintptr_t)arg, base = 0x5500000000;
  for (int r = 0; r < kRounds; r++) {
    for (uintptr_t i = 0; i < kPerThread; i++) CHECK(live_set_insert(&g_set, base + (i * kThreads + t) * 16));
    for (uintptr_t i = 0; i < kPerThread; i += 2) CHECK(live_set_erase(&g_set, base + (i * kThreads + t) * 16));
    if (r + 1 < kRounds) {
      for (uintptr_t i = 1; i < kPerThread; i += 2) CHECK(live_set_erase(&g_set, base + (i * kThreads + t) * 16));
    }
  }
  return NULL;
}

static void test_threads(void) {
  pthread_t th[kThreads];
  for (uintptr_t t = 0; t < kThreads; t++) CHECK(pthread_create(&th[t], NULL, churn, (void *)t) == 0);
  // Enumerate while they run: must not crash or hang.
  visit v = {0, 0};
  live_set_for_each(&g_set, count_one, &v);
  for (int t = 0; t < kThreads; t++) CHECK(pthread_join(th[t], NULL) == 0);
  // Each thread's odd granules of the last round are left.
  CHECK(live_set_size(&g_set) == kThreads * kPerThread / 2);
  live_set_destroy(&g_set);
}

// A walk may read the header of any block whose byte it sees: a free that
// quiesces after its erase must wait until the walk that may have seen the
// byte is over.
static _Atomic int g_entered, g_erased, g_fn_returned;

static void slow_visit(uintptr_t p, void *ctx) {
  (void)p;
  (void)ctx;
  atomic_store(&g_entered, 1);
  while (!atomic_load(&g_erased)) sched_yield();
  usleep(50 * 1000);  // still reading the block's header
  atomic_store(&g_fn_returned, 1);
}

static void *walker(void *arg) {
  (void)arg;
  live_set_for_each(&g_set, slow_visit, NULL);
  return NULL;
}

static void test_quiesce_waits_for_walk(void) {
  const uintptr_t p = 0x6600000040;
  CHECK(live_set_insert(&g_set, p));
  live_set_quiesce(&g_set);  // no walk: returns at once
  pthread_t th;
  CHECK(pthread_create(&th, NULL, walker, NULL) == 0);
  while (!atomic_load(&g_entered)) sched_yield();
  CHECK(live_set_erase(&g_set, p));
  atomic_store(&g_erased, 1);
  live_set_quiesce(&g_set);
  CHECK(atomic_load(&g_fn_returned));  // the walk was over before the block could go back
  CHECK(pthread_join(th, NULL) == 0);
  live_set_destroy(&g_set);
}

int main(void) {
  test_membership();
  test_threads();
  test_quiesce_waits_for_walk();
  printf("live_set_test: ok\n");
  return 0;
}
