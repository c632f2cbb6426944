// device/device.h: stream-ordered allocation over device, pinned or managed memory.
//
// The device front sits over an allocator whose regions come from an
// xsmem_device_source (a bfc over device memory, a pool over pinned memory)
// and adds what device memory needs: a stream to each allocation and free,
// with PyTorch's rule for reuse. A block freed on stream S may be handed out
// again on S at once (work on S runs in order, so the next user of the block
// runs after the last one); on any other stream only after an event recorded
// on S after the free has completed (the last user's work is done).
//
// How: while the allocator has seen a single stream, a free goes straight to
// the allocator below (which coalesces it at once): every later request is
// on that stream. The first request on a second stream records an event on
// the first and waits for it once (every block already freed may now go to
// either stream), and from then on a free keeps the block in its stream's
// cache: a request on S takes the best fit there (at most twice the size
// asked for) before asking the allocator below. A stream's cache moves, with
// one event recorded on the stream, to the pending list when it holds more
// than stream_cache_blocks blocks, or when another stream's request cannot
// be served otherwise; a pending batch goes back to the allocator below once
// its event has completed (polled on each request that misses its cache).
// The event is recorded at the latest when another stream needs the memory,
// after the free: it completes no earlier than one recorded at the free.
// Running out: the request's own stream cache is given back, then every
// other stream's cache behind its event, then the pending batches are
// waited for, each followed by one more try; then NULL with errno = ENOMEM,
// and the memory dump of the allocator below (a bfc's map, else its stats)
// on stderr for the first failure only (later ones are counted in num_failed).
//
// Through the xsmem_allocator interface (alloc/free) a device front serves
// the default stream. Device memory is not addressable by the host, so for
// DEVICE memory XSMEM_ALLOC_ZERO and realloc fail with EINVAL (reported once).
// Statistics: requests and bytes in use as the program sees them (cached
// blocks are bytes_cached); regions, limits and fragmentation from below.
// Detail: group "memory", label the memory type: device (index, -1 host),
// fallback, device_free_bytes and device_total_bytes when known, streams,
// stream_cached_blocks/bytes, pending_blocks/bytes, events_recorded,
// event_waits, cache_hits; then the detail of the allocator below.
// Errors: a second free of a block the front holds for a stream is reported
// (xsmem_report_bad_pointer: "double free"); other bad pointers are reported
// by the allocator below.
// Thread-safety: one mutex around the front's state; the one-time wait, the
// waits when running out and empty_cache's waits happen under it.
#ifndef XSMEM_DEVICE_DEVICE_H_
#define XSMEM_DEVICE_DEVICE_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allocators/allocator.h"
#include "allocators/bfc/bfc.h"
#include "device/source.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XSMEM_DEVICE_MAX_STREAMS 64  // streams with a cache; others' frees go pending at once
#define XSMEM_DEVICE_ALIGN 256       // what xsmem_device_alloc promises (cudaMalloc's guarantee)

typedef struct xsmem_device_options {
  size_t stream_cache_blocks;  // per stream before its cache goes pending (0: 256)
  bool dump_on_oom;            // the memory dump on the first failure
} xsmem_device_options;

// Returns the options read from XSMEM_DEVICE_* (stream cache, dump).
xsmem_device_options xsmem_device_options_from_env(void);

// The options of a bfc over src: XSMEM_BFC_* (split slack, gc, initial
// region), then the limit XSMEM_CUDA_LIMIT_MB (0: the device's free memory
// now, or the fake device's size) and XSMEM_CUDA_RESERVE_PERCENT (above 0:
// reserve_all with that share of the free memory as the limit: TensorFlow's
// per_process_gpu_memory_fraction). The bfc's own dump is off: the front's
// dump (which adds the device's figures) replaces it.
xsmem_bfc_options xsmem_device_bfc_options(xsmem_device_source *src);

// The device XSMEM_CUDA_DEVICE names (0 by default).
int xsmem_device_option_index(void);

// Builds a device front named `name` over `below`, whose memory comes from
// `src`. Storage from os_vm; NULL with errno set when it cannot be mapped.
// The front owns below (destroy destroys it).
xsmem_allocator *xsmem_device_front_create(xsmem_allocator *below, xsmem_device_source *src,
                                           const xsmem_device_options *options, const char *name);

// Returns true when a is a device front.
bool xsmem_is_device_allocator(const xsmem_allocator *a);

// Returns a block of at least size bytes aligned to XSMEM_DEVICE_ALIGN for
// use on stream, or NULL with errno = ENOMEM. Any other allocator serves it
// with xsmem_alloc (the stream ignored: host memory has no streams).
void *xsmem_device_alloc(xsmem_allocator *a, size_t size, xsmem_stream stream);

// Frees p (from xsmem_device_alloc on a) once the work queued on stream
// before this call is done with it; see the reuse rule above. NULL is a no-op.
void xsmem_device_free(xsmem_allocator *a, void *p, xsmem_stream stream);

// Gives every cached and pending block back to the allocator below, waiting
// for their events; returns the bytes given back (trim does this, then
// trims the allocator below).
size_t xsmem_device_empty_cache(xsmem_allocator *a);

// The memory type and device of a (HOST_PAGEABLE and -1 for any other allocator).
xsmem_memory_type xsmem_device_memory_type(const xsmem_allocator *a);
int xsmem_device_index(const xsmem_allocator *a);
// The source under a device front (NULL for any other allocator).
xsmem_device_source *xsmem_device_source_of_allocator(const xsmem_allocator *a);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_DEVICE_DEVICE_H_
