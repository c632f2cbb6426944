// Configuration `managed`: a bfc over unified memory (cudaMallocManaged,
// attached globally) of XSMEM_CUDA_DEVICE, behind the stream-ordered device
// front: blocks the host and the device both address. Its regions grow as
// bfc's do (XSMEM_BFC_*; the limit defaults to the device's free memory).
// Not a malloc replacement; without a device it is not built.
#include "allocators/bfc/bfc.h"
#include "allocators/registry.h"
#include "device/device.h"

static xsmem_allocator *build(void) {
  xsmem_device_source *src = xsmem_cuda_managed_source(xsmem_device_option_index());
  if (!src) return NULL;
  xsmem_bfc_options bo = xsmem_device_bfc_options(src);
  bo.reserve_all = false;  // unified memory is paged in on use: growing costs nothing up front
  xsmem_bfc *b = xsmem_bfc_create(&src->base, &bo, "managed.bfc");
  if (!b) return NULL;
  xsmem_device_options d = xsmem_device_options_from_env();
  xsmem_allocator *a = xsmem_device_front_create(xsmem_bfc_allocator(b), src, &d, "managed");
  if (!a) xsmem_bfc_destroy(b);
  return a;
}

XSMEM_CONFIG(managed, "unified memory: a bfc over cudaMallocManaged regions, stream-ordered (xsmem_device_alloc)",
             build);
