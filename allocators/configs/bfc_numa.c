// Configuration `bfc_numa`: one BFC per NUMA node over that node's bound
// source; a request goes to the caller's node and, when that node is
// exhausted, to the nearest other one (XSMEM_NUMA_FALLBACK).
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>

#include "allocators/bfc/bfc.h"
#include "allocators/registry.h"
#include "numa/node_router.h"
#include "platform/log.h"

static xsmem_node_router g_router;  // static storage: nothing here mallocs
static _Atomic int g_state;         // 0 new, 1 building, 2 ready

static xsmem_allocator *bfc_for_node(void *ctx, int node, xsmem_source *source, const char *name) {
  const xsmem_bfc_options *o = ctx;
  xsmem_bfc *b = xsmem_bfc_create(source, o, name);
  return b ? xsmem_bfc_allocator(b) : NULL;
}

// Children do not dump on their own failure (another node may serve the
// request); the dump comes once every node has refused, for the first such
// failure only, as bfc's own (later ones are counted in num_failed).
static void dump_children(void *ctx, xsmem_node_router *r, size_t size, size_t align) {
  static _Atomic int dumped;
  (void)ctx;
  for (int i = 0; i <= r->num_nodes; i++) {
    if (r->child[i] && size > xsmem_get_stats(r->child[i]).bytes_limit) return;  // impossible: no dump, as in bfc
  }
  if (atomic_exchange_explicit(&dumped, 1, memory_order_relaxed)) return;
  xsmem_log("bfc_numa: a request of %zu bytes (alignment %zu) failed on every node; their memory maps follow "
            "(printed for the first failure only: later ones are counted in num_failed)",
            size, align);
  for (int i = 0; i <= r->num_nodes; i++) {
    xsmem_bfc *b = r->child[i] ? xsmem_bfc_from_allocator(r->child[i]) : NULL;
    if (b) xsmem_bfc_dump(b, 2, 64);
  }
}

static xsmem_allocator *bfc_numa_instance(void) {
  if (atomic_load_explicit(&g_state, memory_order_acquire) == 2) return &g_router.base;
  int expected = 0;
  if (atomic_compare_exchange_strong(&g_state, &expected, 1)) {
    static xsmem_bfc_options bfc, children;
    bfc = xsmem_bfc_options_from_env();  // per node: the limit applies to each
    children = bfc;
    children.dump_on_oom = false;
    xsmem_node_router_options o = xsmem_node_router_options_from_env();
    if (bfc.dump_on_oom) {
      o.on_failure = dump_children;
    }
    // No room for the children's state (an address-space limit): NULL, and
    // the next call tries again (the malloc shim fails the request meanwhile).
    bool ok = xsmem_node_router_init(&g_router, "bfc_numa", &o, bfc_for_node, &children);
    atomic_store_explicit(&g_state, ok ? 2 : 0, memory_order_release);
    return ok ? &g_router.base : NULL;
  }
  while ((expected = atomic_load_explicit(&g_state, memory_order_acquire)) == 1) sched_yield();
  return expected == 2 ? &g_router.base : NULL;
}

const xsmem_config xsmem_config_bfc_numa = {
    .name = "bfc_numa",
    .summary = "one BFC per NUMA node over node-bound regions; requests served from the caller's node, "
               "falling back to the nearest node when it is exhausted",
    .options = "XSMEM_NUMA XSMEM_NUMA_BIND XSMEM_NUMA_FALLBACK XSMEM_NUMA_NODE_LIMIT XSMEM_NUMA_INTERLEAVE_MIN "
               "XSMEM_NUMA_SPAN XSMEM_BFC_LIMIT_MB XSMEM_BFC_GC XSMEM_BFC_INITIAL_REGION XSMEM_BFC_SPLIT_SLACK "
               "XSMEM_BFC_DUMP_ON_OOM",
    .instance = bfc_numa_instance,
};
XSMEM_REGISTER_CONFIG(xsmem_config_bfc_numa);
