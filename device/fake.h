// device/fake.h: a device that is host memory, for tests without a GPU.
//
// The fake device has a size (XSMEM_CUDA_FAKE_DEVICE, or the one given to
// xsmem_fake_device_create) and its own address window: a reservation with no
// access, so its "device pointers" are distinct from every host address and a
// host read or write through one faults, as it would on a GPU. The memory
// behind them is a host mapping of the same size at another address
// (xsmem_fake_device_host_view translates), where tests put and check data.
// Regions are placed first-fit in the window; the device refuses (ENOMEM)
// what does not fit, like cudaMalloc on a full device.
//
// Fake streams stand for CUDA streams whose progress the test decides: a
// stream counts the work queued on it (launch) and the work completed
// (complete); an event recorded on it completes once the stream's completed
// work reaches what was queued at the record. Waiting on an event completes
// the stream up to it (the device finishing that work) and is counted, so a
// test sees when the allocator had to wait.
// Thread-safety: one lock around the device and the events; a stream's
// counters are atomic.
#ifndef XSMEM_DEVICE_FAKE_H_
#define XSMEM_DEVICE_FAKE_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device/source.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsmem_fake_stream {
  uint64_t queued;     // work launched on it (atomic)
  uint64_t completed;  // work finished (atomic)
} xsmem_fake_stream;

// Returns the process's fake sources (the device, pinned and managed memory:
// the latter two are host memory with fake streams), made on first use with
// the size XSMEM_CUDA_FAKE_DEVICE; NULL when that option is 0.
xsmem_device_source *xsmem_fake_device_source(void);
xsmem_device_source *xsmem_fake_pinned_source(void);
xsmem_device_source *xsmem_fake_managed_source(void);

// A fake device of `size` bytes of its own (tests that need several sizes).
// NULL with errno set when its window or its memory cannot be mapped.
xsmem_device_source *xsmem_fake_device_create(size_t size, const char *name);

// The host address holding the fake device memory at device pointer p (NULL
// when p is not in a fake device's window).
void *xsmem_fake_device_host_view(xsmem_device_source *s, const void *p);

// Streams: zeroed storage is a stream; NULL passed to the allocator is the
// fake default stream (xsmem_fake_default_stream()).
xsmem_fake_stream *xsmem_fake_default_stream(void);
void xsmem_fake_stream_launch(xsmem_fake_stream *s);    // queue one piece of work
void xsmem_fake_stream_complete(xsmem_fake_stream *s);  // finish everything queued
bool xsmem_fake_stream_idle(const xsmem_fake_stream *s);

// Events recorded, waited on and live (recorded, not yet released), over all fake sources.
uint64_t xsmem_fake_events_recorded(void);
uint64_t xsmem_fake_event_waits(void);
uint64_t xsmem_fake_events_live(void);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_DEVICE_FAKE_H_
