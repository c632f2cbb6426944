// tracking/unwind_test.c: whole stacks through code built without frame
// pointers (this file and testdata/unwind_lib.c are compiled with
// -fomit-frame-pointer -O2), and no garbage frame ever.
//
// main -> level1 -> level2 (a variable-length array: an rbp-based CFA) ->
// unwind_lib_outer -> unwind_lib_inner (a shared library) -> level3 ->
// level4 -> xsmem_tracker_capture(XSMEM_UNWIND_DWARF): each of these
// functions must hold one of the captured return addresses, in order, which
// the frame-pointer walk cannot give (it stops after one frame). Then every
// frame captured anywhere lies in an executable mapping of /proc/self/maps,
// and a walk over a stack of text, canaries and stray pointers keeps only
// code addresses.
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tracking/testdata/unwind_lib.h"
#include "tracking/testing.h"
#include "tracking/tracker.h"
#include "tracking/unwind.h"

enum { kMax = XSMEM_TRACK_MAX_DEPTH };

static _Thread_local volatile int sink;  // per thread: the racing threads write it too
static uintptr_t captured[kMax];
static unsigned captured_n;
static xsmem_track_unwind how = XSMEM_UNWIND_DWARF;

__attribute__((noinline)) int level4(int x) {
  captured_n = xsmem_tracker_capture(captured, kMax, how);
  sink = x;
  return x + 1;
}

__attribute__((noinline)) int level3(int x) {
  volatile long pad[3] = {x, x, x};
  int r = level4((int)pad[1] + 1);
  sink = r;
  return r + 1;
}

__attribute__((noinline)) int level2(int x) {
  volatile char vla[x + 8];  // rsp moves by a run-time amount: gcc sets up rbp as the CFA base
  vla[0] = (char)x;
  int r = unwind_lib_outer(level3, x + vla[0]);
  sink = r;
  return r + 1;
}

__attribute__((noinline)) int level1(int x) {
  int r = level2(x + 1);
  sink = r;
  return r + 1;
}

// The extent of the function holding fn's address (its ELF symbol's size).
static void extent(void *fn, uintptr_t *lo, uintptr_t *hi) {
  Dl_info info;
  const ElfW(Sym) *sym = NULL;
  CHECK(dladdr1(fn, &info, (void **)&sym, RTLD_DL_SYMENT) != 0 && sym != NULL);
  *lo = (uintptr_t)info.dli_saddr;
  *hi = *lo + sym->st_size;
  CHECK(*hi > *lo);
}

// How many of the functions, innermost first, hold the captured frames in
// order (a frame of another function in between is allowed).
static unsigned functions_found(void *const *fns, unsigned nfns) {
  unsigned k = 0;
  for (unsigned i = 0; i < captured_n && k < nfns; i++) {
    uintptr_t lo, hi;
    extent(fns[k], &lo, &hi);
    if (captured[i] > lo && captured[i] <= hi) k++;  // a return address: after the call
  }
  return k;
}

typedef struct range {
  uintptr_t lo, hi;
} range;
static range exec_maps[512];
static unsigned exec_count;

static void read_exec_maps(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  CHECK(f != NULL);
  char line[512];
  exec_count = 0;
  while (fgets(line, sizeof(line), f) && exec_count < 512) {
    unsigned long lo, hi;
    char perms[8];
    if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && perms[2] == 'x') {
      exec_maps[exec_count].lo = lo;
      exec_maps[exec_count].hi = hi;
      exec_count++;
    }
  }
  fclose(f);
}

static bool in_exec_map(uintptr_t pc) {
  for (unsigned i = 0; i < exec_count; i++) {
    if (pc >= exec_maps[i].lo && pc < exec_maps[i].hi) return true;
  }
  return false;
}

// A stack of garbage: text, canary-like words, pointers into the stack and
// into data, small numbers; a walk from a real code address over it.
__attribute__((noinline)) static unsigned walk_garbage(uintptr_t *out, unsigned max, uintptr_t pc) {
  uintptr_t junk[64];
  const char *text = "O-88853-1 a string on the stack, as a frame would find it";
  for (unsigned i = 0; i < 64; i++) {
    switch (i % 5) {
      case 0: memcpy(&junk[i], text + (i % 40), 8); break;
      case 1: junk[i] = 0x4ce99138d9c4fe00ull ^ i; break;
      case 2: junk[i] = (uintptr_t)&junk[(i * 7) % 64]; break;
      case 3: junk[i] = (uintptr_t)&sink; break;
      default: junk[i] = i * 8; break;
    }
  }
  uintptr_t lo = (uintptr_t)&junk[0], hi = (uintptr_t)&junk[64];
  unsigned n = xsmem_unwind(pc, lo, (uintptr_t)&junk[3], lo, hi, out, max);
  sink = (int)junk[5];
  return n;
}

static void *thread_main(void *arg) {
  sink = level1(3);
  return arg;
}

// Threads meeting the modules at once (one builds each table, the others
// wait for it or read it): every one gets the whole chain.
enum { kRacers = 4 };
static pthread_barrier_t racers_ready;
static unsigned racer_found[kRacers];
static __thread unsigned racer_index;

__attribute__((noinline)) static int race_back(int x) {
  uintptr_t frames[kMax];
  unsigned n = xsmem_tracker_capture(frames, kMax, XSMEM_UNWIND_DWARF);
  uintptr_t lo, hi;
  unsigned found = 0;
  void *const chain[] = {(void *)unwind_lib_inner, (void *)unwind_lib_outer};
  for (unsigned i = 0, k = 0; i < n && k < 2; i++) {
    extent(chain[k], &lo, &hi);
    if (frames[i] > lo && frames[i] <= hi) found = ++k;
  }
  racer_found[racer_index] = found;
  return x + 1;
}

static void *racer(void *arg) {
  racer_index = (unsigned)(uintptr_t)arg;
  pthread_barrier_wait(&racers_ready);
  sink = unwind_lib_outer(race_back, 1);
  return arg;
}

int main(void) {
  void *const fns[] = {
      (void *)level4, (void *)level3, (void *)unwind_lib_inner, (void *)unwind_lib_outer, (void *)level2,
      (void *)level1, (void *)main};
  const unsigned nfns = sizeof(fns) / sizeof(fns[0]);
  // First, before any table is built: racing threads.
  pthread_t racers[kRacers];
  CHECK(pthread_barrier_init(&racers_ready, NULL, kRacers) == 0);
  for (unsigned i = 0; i < kRacers; i++) {
    CHECK(pthread_create(&racers[i], NULL, racer, (void *)(uintptr_t)i) == 0);
  }
  for (unsigned i = 0; i < kRacers; i++) CHECK(pthread_join(racers[i], NULL) == 0);
  for (unsigned i = 0; i < kRacers; i++) CHECK(racer_found[i] == 2);

  sink = level1(3);
  for (unsigned i = 0; i < captured_n; i++) {
    char buf[256];
    fprintf(stderr, "  #%u %s\n", i, xsmem_tracker_symbolize(captured[i], buf, sizeof(buf)));
  }
  CHECK(functions_found(fns, nfns) == nfns);

  // Every frame is code: in an executable mapping, as the module scan says.
  read_exec_maps();
  for (unsigned i = 0; i < captured_n; i++) {
    CHECK(in_exec_map(captured[i]));
    CHECK(xsmem_unwind_executable(captured[i]));
  }
  // Also on a thread (another stack, ending in clone's frame).
  pthread_t th;
  CHECK(pthread_create(&th, NULL, thread_main, NULL) == 0);
  CHECK(pthread_join(th, NULL) == 0);
  CHECK(functions_found(fns, nfns - 1) == nfns - 1);
  for (unsigned i = 0; i < captured_n; i++) CHECK(in_exec_map(captured[i]));

  // In a child process the tables and the cache carry over.
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    sink = level1(3);
    _exit(functions_found(fns, nfns) == nfns ? 0 : 1);
  }
  int status;
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);

  // Garbage never becomes a frame.
  CHECK(!xsmem_unwind_executable(0x312d393538382d4full));
  CHECK(!xsmem_unwind_executable(0x4ce99138d9c4fe00ull));
  CHECK(!xsmem_unwind_executable((uintptr_t)&sink));
  uintptr_t out[kMax];
  const uintptr_t starts[] = {(uintptr_t)level3 + 9, (uintptr_t)unwind_lib_inner + 17, (uintptr_t)main + 5};
  for (unsigned s = 0; s < 3; s++) {
    unsigned n = walk_garbage(out, kMax, starts[s]);
    CHECK(n >= 1 && out[0] == starts[s]);
    for (unsigned i = 0; i < n; i++) CHECK(in_exec_map(out[i]));
  }
  CHECK(walk_garbage(out, kMax, 0x312d393538382d4full) == 0);
  CHECK(walk_garbage(out, kMax, (uintptr_t)&sink) == 0);

  xsmem_unwind_stats st;
  xsmem_unwind_stats_get(&st);
  CHECK(st.modules >= 3 && st.built >= 2 && st.rows > 0);
  printf("unwind_test: ok (%u frames; %u modules, %u tables, %llu rows)\n", captured_n, st.modules, st.built,
         (unsigned long long)st.rows);
  return 0;
}
