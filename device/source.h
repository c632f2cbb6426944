// device/source.h: sources of device, pinned and managed memory.
//
// An xsmem_device_source is an xsmem_source (so a bfc or a pool takes its
// regions from it like from os_vm) that also says what its memory is: its
// memory type, its device, whether it stands in with host memory for what it
// could not have, and how to order work on its streams (events). The
// stream-ordered front (device/device.h) reads all of that.
//
// Sources (each one per process, built on first use, never freed):
//   xsmem_cuda_device_source(i)  cudaMalloc / cudaFree on device i
//   xsmem_cuda_pinned_source()   cudaHostAlloc(portable) / cudaFreeHost; without a
//                                usable device, page-aligned host memory from os_vm
//                                (type HOST_PAGEABLE, fallback set: said in the stats
//                                and under XSMEM_VERBOSE)
//   xsmem_cuda_managed_source(i) cudaMallocManaged(global) / cudaFree
// Device and managed sources are NULL without CUDA (the reason goes to stderr
// once, see cuda.h). With XSMEM_CUDA_FAKE_DEVICE set (a size), all three
// come from the fake device instead (device/fake.h): tests run everything
// the configurations do without a GPU.
//
// Region alignment: cudaMalloc returns at least 256-byte aligned memory (in
// practice 2 MiB for regions of 2 MiB and more); a region that comes back
// less aligned than asked is mapped again with the alignment's worth of
// slack, its start remembered in a table of XSMEM_DEVICE_MAX_SLACK_REGIONS.
#ifndef XSMEM_DEVICE_SOURCE_H_
#define XSMEM_DEVICE_SOURCE_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allocators/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XSMEM_DEVICE_MAX_DEVICES 16
#define XSMEM_DEVICE_MAX_SLACK_REGIONS 256

// A stream: a cudaStream_t for CUDA sources, an xsmem_fake_stream * for the
// fake device; NULL is the default stream.
typedef void *xsmem_stream;

typedef struct xsmem_device_source xsmem_device_source;

// Ordering work on streams. An event marks the point of a stream after all
// the work queued on it so far.
typedef struct xsmem_stream_ops {
  // Returns a new event recorded on s, or NULL (reported) when none can be.
  void *(*record)(xsmem_device_source *src, xsmem_stream s);
  // 1: the work before the event has completed; 0: not yet; -1: an error (reported).
  int (*query)(xsmem_device_source *src, void *event);
  // Waits until the work before the event has completed; false on an error (reported).
  bool (*wait)(xsmem_device_source *src, void *event);
  void (*release)(xsmem_device_source *src, void *event);
} xsmem_stream_ops;

struct xsmem_device_source {
  xsmem_source base;
  xsmem_memory_type type;
  int device;                       // -1: host memory
  bool fallback;                    // host memory standing in for what CUDA could not give
  const char *note;                 // why the fallback (cuda.h's status), or ""
  const xsmem_stream_ops *streams;  // NULL: no streams, a freed block is everyone's at once
  // Optional: the device's free and total bytes (cudaMemGetInfo); false when unknown.
  bool (*mem_info)(xsmem_device_source *s, size_t *free_bytes, size_t *total_bytes);
  uint64_t bytes_mapped, num_maps, num_unmaps;  // atomic
  int errors_reported;                          // atomic: runtime errors are reported once per source
};

XSMEM_INLINE xsmem_device_source *xsmem_device_source_of(xsmem_source *s) { return (xsmem_device_source *)s; }

xsmem_device_source *xsmem_cuda_device_source(int device);
xsmem_device_source *xsmem_cuda_pinned_source(void);
xsmem_device_source *xsmem_cuda_managed_source(int device);

// Returns the bytes the device has free and in all (the fake device's when
// faked); false without a device.
bool xsmem_device_source_mem_info(xsmem_device_source *s, size_t *free_bytes, size_t *total_bytes);

// For sources: reports a runtime error once per source ("xsmem: <source>: <op>: <text>").
void xsmem_device_source_report(xsmem_device_source *s, const char *op, const char *text);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_DEVICE_SOURCE_H_
