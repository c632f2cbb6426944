// device/cuda.h: the CUDA runtime, loaded with dlopen at first use.
//
// xsmem has no build-time dependency on CUDA: the few runtime entry points it
// uses are declared here with the runtime's own C signatures (CUDA 11 to 13
// keep them stable) and looked up in the first library that loads of
// XSMEM_CUDA_LIBRARY (when set; "none" loads nothing), libcudart.so.13, libcudart.so.12,
// libcudart.so, $CUDA_HOME/lib64/libcudart.so. A program that never asks for
// device memory never loads it.
//
// Availability is decided once, on the first call to xsmem_cuda(): no runtime
// (no library, or an entry point missing), no device (cudaGetDeviceCount fails
// or counts 0: the driver's error string is kept), or ready. The reason is
// written to stderr once, by the first caller that needed CUDA and could not
// have it (xsmem_cuda_report_unavailable), and is always available from
// xsmem_cuda_status(). Nothing here crashes or aborts without a runtime.
#ifndef XSMEM_DEVICE_CUDA_H_
#define XSMEM_DEVICE_CUDA_H_

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// The runtime's types, as the runtime defines them (an enum is an int in its ABI).
typedef int xsmem_cuda_error;     // cudaError_t: 0 is cudaSuccess
typedef void *xsmem_cuda_stream;  // cudaStream_t (NULL: the default stream)
typedef void *xsmem_cuda_event;   // cudaEvent_t

enum {
  XSMEM_CUDA_SUCCESS = 0,
  XSMEM_CUDA_ERROR_MEMORY_ALLOCATION = 2,
  XSMEM_CUDA_ERROR_INSUFFICIENT_DRIVER = 35,
  XSMEM_CUDA_ERROR_NO_DEVICE = 100,
  XSMEM_CUDA_ERROR_NOT_READY = 600,
  XSMEM_CUDA_HOST_ALLOC_PORTABLE = 0x01,   // cudaHostAllocPortable
  XSMEM_CUDA_MEM_ATTACH_GLOBAL = 0x01,     // cudaMemAttachGlobal
  XSMEM_CUDA_EVENT_DISABLE_TIMING = 0x02,  // cudaEventDisableTiming
  XSMEM_CUDA_STREAM_NON_BLOCKING = 0x01,   // cudaStreamNonBlocking
  XSMEM_CUDA_MEMCPY_HOST_TO_DEVICE = 1,
  XSMEM_CUDA_MEMCPY_DEVICE_TO_HOST = 2,
  XSMEM_CUDA_MEMCPY_DEFAULT = 4,
};

// The entry points xsmem calls. get_device_properties fills a cudaDeviceProp:
// only its first member (char name[256]) is read, into a buffer larger than
// any runtime's struct, so the struct's later layout does not matter.
typedef struct xsmem_cuda_api {
  xsmem_cuda_error (*get_device_count)(int *count);
  xsmem_cuda_error (*get_device_properties)(void *prop, int device);
  xsmem_cuda_error (*set_device)(int device);
  xsmem_cuda_error (*get_device)(int *device);
  xsmem_cuda_error (*malloc)(void **p, size_t size);
  xsmem_cuda_error (*free)(void *p);
  xsmem_cuda_error (*host_alloc)(void **p, size_t size, unsigned flags);
  xsmem_cuda_error (*free_host)(void *p);
  xsmem_cuda_error (*malloc_managed)(void **p, size_t size, unsigned flags);
  xsmem_cuda_error (*mem_get_info)(size_t *free_bytes, size_t *total_bytes);
  xsmem_cuda_error (*stream_create_with_flags)(xsmem_cuda_stream *s, unsigned flags);
  xsmem_cuda_error (*stream_synchronize)(xsmem_cuda_stream s);
  xsmem_cuda_error (*stream_destroy)(xsmem_cuda_stream s);
  xsmem_cuda_error (*event_create_with_flags)(xsmem_cuda_event *e, unsigned flags);
  xsmem_cuda_error (*event_record)(xsmem_cuda_event e, xsmem_cuda_stream s);
  xsmem_cuda_error (*event_query)(xsmem_cuda_event e);
  xsmem_cuda_error (*event_synchronize)(xsmem_cuda_event e);
  xsmem_cuda_error (*event_destroy)(xsmem_cuda_event e);
  xsmem_cuda_error (*memcpy_async)(void *dst, const void *src, size_t n, int kind, xsmem_cuda_stream s);
  const char *(*get_error_string)(xsmem_cuda_error e);
  // Optional (NULL when the runtime lacks them: before CUDA 11.2); the benchmark's comparison.
  xsmem_cuda_error (*malloc_async)(void **p, size_t size, xsmem_cuda_stream s);
  xsmem_cuda_error (*free_async)(void *p, xsmem_cuda_stream s);
} xsmem_cuda_api;

typedef enum xsmem_cuda_state {
  XSMEM_CUDA_NO_RUNTIME = 0,  // no library loaded, or an entry point is missing
  XSMEM_CUDA_NO_DEVICE = 1,   // the runtime loaded; it reports no usable device
  XSMEM_CUDA_READY = 2,
} xsmem_cuda_state;

// Loads the runtime on the first call (thread-safe) and returns its entry
// points when at least one device is usable, else NULL.
const xsmem_cuda_api *xsmem_cuda(void);

// Returns the state decided by the first xsmem_cuda() call (loading if needed).
xsmem_cuda_state xsmem_cuda_state_get(void);

// Returns a one-line explanation: "no CUDA runtime (libcudart.so.13: cannot
// open shared object file ...)", "no device (cudaGetDeviceCount: CUDA driver
// version is insufficient for CUDA runtime version)", or "CUDA ready: 1
// device(s), runtime <path>".
const char *xsmem_cuda_status(void);

// Returns the number of usable devices (0 unless ready).
int xsmem_cuda_device_count(void);

// Writes the device's name into buf (at most cap bytes, NUL-terminated);
// returns false (buf "unknown") when it cannot be had.
bool xsmem_cuda_device_name(int device, char *buf, size_t cap);

// Writes "xsmem: <who>: <status>" to stderr the first time any caller asks
// (later calls write nothing): one line per process however many allocators
// find CUDA missing.
void xsmem_cuda_report_unavailable(const char *who);

// The runtime's text for an error code ("unknown CUDA error N" without a runtime).
const char *xsmem_cuda_error_string(xsmem_cuda_error e);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_DEVICE_CUDA_H_
