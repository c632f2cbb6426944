// A program for memcheck (tracking/valgrind_test.sh): it allocates from the
// small tier (tls_buckets), a buddy and a bfc front through the
// xsmem_allocator interface, with the
// fronts' Valgrind client requests compiled in (-DXSMEM_VALGRIND=1,
// platform/tool_hooks.h), and from a second bfc whose regions are buddy
// blocks (nested pools). "errors" leaks one buddy block and reads freed
// memory of each front once; "clean" exercises splits, merges, in-place
// realloc and calloc, and the small tier's lists, batches and free keys,
// and must come out with no error and no leak.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocators/allocator.h"
#include "allocators/bfc/bfc.h"
#include "allocators/buddy/buddy.h"
#include "allocators/tls_buckets/tls_buckets.h"

static volatile char g_sink;
// memcheck's leak search returns early, leaving pool chunks unexamined, when
// no malloc block is live at exit (mc_leakcheck.c find_active_chunks): one
// still-reachable malloc block keeps it looking.
static void *volatile g_reachable;
void *volatile g_nested_live;

// Leaks: the only pointer to the block dies with this frame.
__attribute__((noinline)) void vg_leak_from_buddy(xsmem_allocator *a) {
  char *p = xsmem_alloc(a, 3000, 16, 0);
  memset(p, 7, 3000);
  g_sink = p[10];
}

__attribute__((noinline)) void vg_read_after_free(xsmem_allocator *a) {
  char *p = xsmem_alloc(a, 5000, 16, 0);
  memset(p, 1, 5000);
  xsmem_free(a, p);
  g_sink = ((volatile char *)p)[100];  // memcheck: invalid read inside a freed block
}

// Everything freed; every byte read was written or is known zero.
__attribute__((noinline)) static void workout(xsmem_allocator *a) {
  char *v[64];
  for (int i = 0; i < 64; i++) {
    size_t n = (size_t)4096 << (i % 5);
    v[i] = xsmem_alloc(a, n, 16, i % 2 ? XSMEM_ALLOC_ZERO : 0);
    if (!v[i]) abort();
    if (i % 2 && v[i][n - 1] != 0) abort();  // calloc'ed bytes are defined
    memset(v[i], i, n);
  }
  for (int i = 0; i < 64; i += 2) xsmem_free(a, v[i]);
  for (int i = 1; i < 64; i += 2) {
    size_t n = xsmem_usable_size(a, v[i]);
    v[i] = xsmem_realloc(a, v[i], n * 2);  // grows in place into a freed buddy or moves
    if (!v[i] || v[i][n - 1] != (char)i) abort();
    memset(v[i], 2, n * 2);
    v[i] = xsmem_realloc(a, v[i], 100);
    if (!v[i] || v[i][99] != 2) abort();
  }
  for (int i = 1; i < 64; i += 2) xsmem_free(a, v[i]);
  a->ops->trim(a, 0);
}

// The small tier: blocks of several classes through the thread's lists, its
// spare, the global stacks and the central lists (more than a cache holds,
// freed in another order), written and read back; all freed and purged.
__attribute__((noinline)) static void small_workout(xsmem_allocator *a) {
  enum { kBlocks = 3000 };
  static char *v[kBlocks];
  for (int i = 0; i < kBlocks; i++) {
    size_t n = (size_t)16 << (i % 9);  // 16 B .. 4 KiB
    v[i] = xsmem_alloc(a, n, 16, i % 3 ? 0 : XSMEM_ALLOC_ZERO);
    if (!v[i]) abort();
    if (i % 3 == 0 && v[i][n - 1] != 0) abort();
    memset(v[i], i, n);
  }
  for (int i = 1; i < kBlocks; i += 2) xsmem_free(a, v[i]);
  for (int i = 0; i < kBlocks; i += 2) {
    if (v[i][0] != (char)i) abort();
    xsmem_free(a, v[i]);
  }
  xsmem_tls_flush_thread();
  xsmem_tls_purge(0);
}

int main(int argc, char **argv) {
  int errors = argc > 1 && strcmp(argv[1], "errors") == 0;
  g_reachable = malloc(1);
  xsmem_buddy_options bo = xsmem_buddy_options_from_env();
  bo.region_size = 4u << 20;
  bo.min_block = 4096;
  xsmem_allocator *buddy = xsmem_buddy_create("vg_buddy", xsmem_os_source(), &bo);
  xsmem_bfc_options fo = {0};
  fo.bytes_limit = 64u << 20;
  xsmem_bfc *bfc = xsmem_bfc_create(xsmem_os_source(), &fo, "vg_bfc");
  // Nested: this bfc's regions are blocks of the buddy (memcheck aborts its
  // leak search on overlapping chunks unless the outer pool is a METAPOOL).
  xsmem_allocator_source nest_storage;
  xsmem_bfc_options no = {0};
  no.bytes_limit = 8u << 20;
  no.initial_region = 1u << 20;
  xsmem_bfc *nested = xsmem_bfc_create(xsmem_source_from_allocator(&nest_storage, buddy), &no, "vg_nested");
  if (!buddy || !bfc || !nested) return 2;
  // The region's first block (its address is kept in the region) stays live,
  // so the leaked block is not the region's start: only a pointer into the
  // block itself would make it reachable.
  void *first = xsmem_alloc(buddy, 4096, 16, 0);
  // Empty slabs decommitted at once: no purger thread, whose stack memcheck
  // would count as possibly lost at exit.
  xsmem_tls_options to;
  xsmem_tls_options_from_env(&to);
  to.decommit_delay_ms = 0;
  xsmem_allocator *small = xsmem_tls_buckets(xsmem_os_source(), &to);
  small_workout(small);
  workout(buddy);
  workout(xsmem_bfc_allocator(bfc));
  workout(xsmem_bfc_allocator(nested));
  if (errors) {
    vg_leak_from_buddy(buddy);
    vg_read_after_free(buddy);
    vg_read_after_free(xsmem_bfc_allocator(bfc));
    vg_read_after_free(small);
  }
  // A nested block live at exit (reachable from here): its chunk lies inside
  // a live buddy chunk when memcheck searches for leaks.
  g_nested_live = xsmem_alloc(xsmem_bfc_allocator(nested), 1000, 16, 0);
  xsmem_free(buddy, first);
  printf("done\n");
  return 0;
}
