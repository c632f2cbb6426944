// Configuration `pinned`: an LRU pool of page-locked host buffers for fast
// host-device copies (PyTorch's pinned memory allocator): the pool (XSMEM_POOL_*)
// over a bfc (XSMEM_BFC_*) over cudaHostAlloc regions, behind the
// stream-ordered device front (a buffer freed while a copy on a stream may
// still read it is reused on that stream only, until its event completes).
// Without a usable device it serves page-aligned pageable host memory
// instead: its memory type says host_pageable and its detail fallback 1, and
// XSMEM_VERBOSE says why. Not a malloc replacement.
#include "allocators/bfc/bfc.h"
#include "allocators/pool/pool.h"
#include "allocators/registry.h"
#include "device/device.h"

static xsmem_allocator *build(void) {
  xsmem_device_source *src = xsmem_cuda_pinned_source();
  if (!src) return NULL;
  xsmem_bfc_options bo = xsmem_bfc_options_from_env();
  xsmem_bfc *arena = xsmem_bfc_create(&src->base, &bo, "pinned.bfc");
  if (!arena) return NULL;
  xsmem_pool_options po = xsmem_pool_options_from_env();
  xsmem_pool *p = xsmem_pool_create(xsmem_bfc_allocator(arena), &po, "pinned.pool");
  if (!p) {
    xsmem_bfc_destroy(arena);
    return NULL;
  }
  xsmem_device_options d = xsmem_device_options_from_env();
  xsmem_allocator *a = xsmem_device_front_create(xsmem_pool_allocator(p), src, &d, "pinned");
  if (!a) {
    xsmem_pool_destroy(p);
    xsmem_bfc_destroy(arena);
  }
  return a;
}

XSMEM_CONFIG(pinned,
             "page-locked host memory (cudaHostAlloc; pageable without CUDA): a pool over a bfc, stream-ordered",
             build);
