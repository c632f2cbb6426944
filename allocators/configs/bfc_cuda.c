// Configuration `bfc_cuda`: TensorFlow's GPU BFC. A bfc over the memory of
// one device (XSMEM_CUDA_DEVICE) that grows up to the device's free memory
// or XSMEM_CUDA_LIMIT_MB, or reserves XSMEM_CUDA_RESERVE_PERCENT of it up
// front, behind the stream-ordered device front (xsmem_device_alloc). Not a
// malloc replacement: without a device it is not built (the reason is said
// once) and xsmem_config_instance("bfc_cuda") is NULL.
#include "allocators/bfc/bfc.h"
#include "allocators/registry.h"
#include "device/device.h"

static xsmem_allocator *build(void) {
  xsmem_device_source *src = xsmem_cuda_device_source(xsmem_device_option_index());
  if (!src) return NULL;
  xsmem_bfc_options bo = xsmem_device_bfc_options(src);
  xsmem_bfc *b = xsmem_bfc_create(&src->base, &bo, "bfc_cuda.bfc");
  if (!b) return NULL;
  xsmem_device_options d = xsmem_device_options_from_env();
  xsmem_allocator *a = xsmem_device_front_create(xsmem_bfc_allocator(b), src, &d, "bfc_cuda");
  if (!a) xsmem_bfc_destroy(b);
  return a;
}

XSMEM_CONFIG(bfc_cuda, "device memory: a bfc over one CUDA device's memory, stream-ordered (xsmem_device_alloc)",
             build);
