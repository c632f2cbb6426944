// The OS-backed source and the allocator-as-source adapter.
#include <errno.h>

#include "allocators/allocator.h"
#include "platform/os_vm.h"
#include "platform/tool_hooks.h"

static void *os_map(xsmem_source *s, size_t size, size_t align, size_t *got) {
  size_t page = xsmem_os_page_size();
  size_t rounded;
  if (!xsmem_align_up_checked(size ? size : 1, page, &rounded)) {
    errno = ENOMEM;
    return NULL;
  }
  unsigned flags = s->ops->caps & XSMEM_SRC_HUGE ? XSMEM_VM_HUGE : 0;
  void *p = xsmem_os_map(rounded, align < page ? page : align, flags);
  if (p && got) *got = rounded;
  return p;
}

static void os_unmap(xsmem_source *s, void *p, size_t size) { xsmem_os_unmap(p, size); }

static const xsmem_source_ops kOsSourceOps = {os_map, os_unmap, XSMEM_SRC_ZEROED};
static const xsmem_source_ops kOsHugeSourceOps = {os_map, os_unmap, XSMEM_SRC_ZEROED | XSMEM_SRC_HUGE};
static xsmem_source g_os_source = {&kOsSourceOps, "os"};
static xsmem_source g_os_huge_source = {&kOsHugeSourceOps, "os.huge"};

xsmem_source *xsmem_os_source(void) { return &g_os_source; }
xsmem_source *xsmem_os_huge_source(void) { return &g_os_huge_source; }

static void *alloc_map(xsmem_source *s, size_t size, size_t align, size_t *got) {
  xsmem_allocator *a = ((xsmem_allocator_source *)s)->allocator;
  void *p = a->ops->alloc(a, size, align, 0);
  if (p && got) *got = size;
  if (p) XSMEM_TOOL_LEND(a, p, size);  // memcheck: a region now, not a's chunk
  return p;
}

static void alloc_unmap(xsmem_source *s, void *p, size_t size) {
  xsmem_allocator *a = ((xsmem_allocator_source *)s)->allocator;
  XSMEM_TOOL_RECLAIM(a, p, size);
  a->ops->free(a, p, size);
}

static const xsmem_source_ops kAllocatorSourceOps = {alloc_map, alloc_unmap, 0};

xsmem_source *xsmem_source_from_allocator(xsmem_allocator_source *storage, xsmem_allocator *a) {
  storage->base.ops = &kAllocatorSourceOps;
  storage->base.name = a->name;
  storage->allocator = a;
  return &storage->base;
}
