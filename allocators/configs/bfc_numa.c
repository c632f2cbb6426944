// Configuration `bfc_numa`: one BFC per NUMA node over that node's bound
// source; a request goes to the caller's node and, when that node is
// exhausted, to the nearest other one (XSMEM_NUMA_FALLBACK).
#include <stdatomic.h>

#include "allocators/bfc/bfc.h"
#include "allocators/registry.h"
#include "numa/node_router.h"
#include "platform/log.h"

static xsmem_node_router g_router;  // static storage: nothing here mallocs

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
  xsmem_log(
      "bfc_numa: a request of %zu bytes (alignment %zu) failed on every node; their memory maps follow "
      "(printed for the first failure only: later ones are counted in num_failed)",
      size, align);
  for (int i = 0; i <= r->num_nodes; i++) {
    xsmem_bfc *b = r->child[i] ? xsmem_bfc_from_allocator(r->child[i]) : NULL;
    if (b) xsmem_bfc_dump(b, 2, 64);
  }
}

static xsmem_allocator *build(void) {
  static xsmem_bfc_options children;  // per node: the limit applies to each
  xsmem_bfc_options bfc = xsmem_bfc_options_from_env();
  children = bfc;
  children.dump_on_oom = false;
  xsmem_node_router_options o = xsmem_node_router_options_from_env();
  if (bfc.dump_on_oom) o.on_failure = dump_children;
  // No room for the children's state (an address-space limit): NULL, and the
  // next call tries again (the malloc shim fails the request meanwhile).
  return xsmem_node_router_init(&g_router, "bfc_numa", &o, bfc_for_node, &children) ? &g_router.base : NULL;
}

XSMEM_CONFIG(bfc_numa,
             "one BFC per NUMA node over node-bound regions; requests served from the caller's node, falling back to "
             "the nearest node when it is exhausted",
             build);
