// The fake device: see fake.h.
#include "device/fake.h"

#include <errno.h>
#include <string.h>

#include "platform/log.h"
#include "platform/once.h"
#include "platform/options.h"
#include "platform/os_vm.h"

#define MAX_RANGES 1024  // regions mapped at once on one fake device
#define MAX_EVENTS 4096  // events live at once over all fake sources

typedef struct range {
  uintptr_t start, size;
} range;

typedef struct fake_device {
  xsmem_device_source src;  // first: the source is the device
  uintptr_t window;         // device addresses: reserved, no access
  char *backing;            // host memory behind them
  size_t size, used;
  range ranges[MAX_RANGES];  // mapped regions, sorted by start
  int n;
  int lock;
} fake_device;

typedef struct fake_event {
  xsmem_fake_stream *stream;
  uint64_t point;  // stream->queued at the record
  int next_free;
} fake_event;

static fake_event g_events[MAX_EVENTS];
static int g_event_free = -1, g_event_used;  // free list, high-water mark
static int g_event_lock;
static uint64_t g_recorded, g_waits, g_live;
static xsmem_fake_stream g_default_stream;

static void spin_lock(int *l) {
  while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE)) {}
}
static void spin_unlock(int *l) { __atomic_store_n(l, 0, __ATOMIC_RELEASE); }

xsmem_fake_stream *xsmem_fake_default_stream(void) { return &g_default_stream; }

static xsmem_fake_stream *stream_of(xsmem_stream s) { return s ? (xsmem_fake_stream *)s : &g_default_stream; }

void xsmem_fake_stream_launch(xsmem_fake_stream *s) { __atomic_fetch_add(&stream_of(s)->queued, 1, __ATOMIC_RELAXED); }

static void complete_to(xsmem_fake_stream *s, uint64_t point) {
  uint64_t cur = __atomic_load_n(&s->completed, __ATOMIC_RELAXED);
  while (cur < point &&
         !__atomic_compare_exchange_n(&s->completed, &cur, point, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {}
}

void xsmem_fake_stream_complete(xsmem_fake_stream *s) {
  s = stream_of(s);
  complete_to(s, __atomic_load_n(&s->queued, __ATOMIC_RELAXED));
}

bool xsmem_fake_stream_idle(const xsmem_fake_stream *s) {
  s = stream_of((xsmem_stream)s);
  return __atomic_load_n(&s->completed, __ATOMIC_ACQUIRE) >= __atomic_load_n(&s->queued, __ATOMIC_RELAXED);
}

uint64_t xsmem_fake_events_recorded(void) { return __atomic_load_n(&g_recorded, __ATOMIC_RELAXED); }
uint64_t xsmem_fake_event_waits(void) { return __atomic_load_n(&g_waits, __ATOMIC_RELAXED); }
uint64_t xsmem_fake_events_live(void) { return __atomic_load_n(&g_live, __ATOMIC_RELAXED); }

static void *fake_record(xsmem_device_source *src, xsmem_stream stream) {
  spin_lock(&g_event_lock);
  int i = g_event_free;
  if (i >= 0) {
    g_event_free = g_events[i].next_free;
  } else if (g_event_used < MAX_EVENTS) {
    i = g_event_used++;
  }
  spin_unlock(&g_event_lock);
  if (i < 0) {
    xsmem_device_source_report(src, "record", "the fake device's event table is full");
    return NULL;
  }
  xsmem_fake_stream *s = stream_of(stream);
  g_events[i].stream = s;
  g_events[i].point = __atomic_load_n(&s->queued, __ATOMIC_RELAXED);
  __atomic_fetch_add(&g_recorded, 1, __ATOMIC_RELAXED);
  __atomic_fetch_add(&g_live, 1, __ATOMIC_RELAXED);
  return &g_events[i];
}

static int fake_query(xsmem_device_source *src, void *ev) {
  fake_event *e = ev;
  return __atomic_load_n(&e->stream->completed, __ATOMIC_ACQUIRE) >= e->point;
}

static bool fake_wait(xsmem_device_source *src, void *ev) {
  fake_event *e = ev;
  __atomic_fetch_add(&g_waits, 1, __ATOMIC_RELAXED);
  complete_to(e->stream, e->point);
  return true;
}

static void fake_release(xsmem_device_source *src, void *ev) {
  fake_event *e = ev;
  int i = (int)(e - g_events);
  spin_lock(&g_event_lock);
  g_events[i].next_free = g_event_free;
  g_event_free = i;
  spin_unlock(&g_event_lock);
  __atomic_fetch_sub(&g_live, 1, __ATOMIC_RELAXED);
}

static const xsmem_stream_ops kFakeStreamOps = {fake_record, fake_query, fake_wait, fake_release};

// First fit in the window, like a device's allocator handing out its memory.
static void *fake_map(xsmem_source *base, size_t size, size_t align, size_t *got) {
  fake_device *d = (fake_device *)base;
  size_t page = xsmem_os_page_size();
  size_t n = xsmem_align_up(size ? size : 1, page);
  if (align < page) align = page;
  if (n > d->size || !xsmem_is_pow2(align)) {
    errno = ENOMEM;
    return NULL;
  }
  void *p = NULL;
  spin_lock(&d->lock);
  uintptr_t at = d->window, end = d->window + d->size;
  int i = 0;
  for (; i <= d->n; i++) {
    uintptr_t a = xsmem_align_up(at, align);
    uintptr_t limit = i < d->n ? d->ranges[i].start : end;
    if (a <= limit && limit - a >= n) {
      if (d->n < MAX_RANGES) {
        memmove(&d->ranges[i + 1], &d->ranges[i], (size_t)(d->n - i) * sizeof(range));
        d->ranges[i].start = a;
        d->ranges[i].size = n;
        d->n++;
        d->used += n;
        p = (void *)a;
      }
      break;
    }
    if (i < d->n) at = d->ranges[i].start + d->ranges[i].size;
  }
  spin_unlock(&d->lock);
  if (!p) {
    errno = ENOMEM;
    return NULL;
  }
  __atomic_fetch_add(&d->src.bytes_mapped, n, __ATOMIC_RELAXED);
  __atomic_fetch_add(&d->src.num_maps, 1, __ATOMIC_RELAXED);
  if (got) *got = n;
  return p;
}

static void fake_unmap(xsmem_source *base, void *p, size_t size) {
  fake_device *d = (fake_device *)base;
  bool found = false;
  spin_lock(&d->lock);
  for (int i = 0; i < d->n; i++) {
    if (d->ranges[i].start == (uintptr_t)p) {
      size = d->ranges[i].size;
      d->used -= size;
      memmove(&d->ranges[i], &d->ranges[i + 1], (size_t)(d->n - i - 1) * sizeof(range));
      d->n--;
      found = true;
      break;
    }
  }
  spin_unlock(&d->lock);
  if (!found) {
    xsmem_device_source_report(&d->src, "unmap", "a region the fake device never mapped");
    return;
  }
  // A device's freed memory keeps no data: the next region reads as zeroes here too.
  uintptr_t off = (uintptr_t)p - d->window;
  xsmem_os_decommit(d->backing + off, size);
  __atomic_fetch_sub(&d->src.bytes_mapped, size, __ATOMIC_RELAXED);
  __atomic_fetch_add(&d->src.num_unmaps, 1, __ATOMIC_RELAXED);
}

static bool fake_mem_info(xsmem_device_source *s, size_t *free_bytes, size_t *total_bytes) {
  fake_device *d = (fake_device *)s;
  spin_lock(&d->lock);
  *free_bytes = d->size - d->used;
  *total_bytes = d->size;
  spin_unlock(&d->lock);
  return true;
}

static const xsmem_source_ops kFakeDeviceOps = {fake_map, fake_unmap, 0};

void *xsmem_fake_device_host_view(xsmem_device_source *s, const void *p) {
  if (!s || s->base.ops != &kFakeDeviceOps) return NULL;
  fake_device *d = (fake_device *)s;
  uintptr_t a = (uintptr_t)p;
  if (a < d->window || a >= d->window + d->size) return NULL;
  return d->backing + (a - d->window);
}

xsmem_device_source *xsmem_fake_device_create(size_t size, const char *name) {
  size_t huge = xsmem_os_huge_page_size();
  size = xsmem_align_up(size ? size : 1, huge);
  size_t meta = xsmem_align_up(sizeof(fake_device), xsmem_os_page_size());
  fake_device *d = xsmem_os_map(meta, xsmem_os_page_size(), 0);
  if (!d) return NULL;
  d->window = (uintptr_t)xsmem_os_reserve(size, huge);
  d->backing = d->window ? xsmem_os_map(size, huge, 0) : NULL;
  if (!d->backing) {
    int err = errno;
    if (d->window) xsmem_os_release((void *)d->window, size, 0);
    xsmem_os_unmap(d, meta);
    errno = err;
    return NULL;
  }
  d->size = size;
  d->src.base.ops = &kFakeDeviceOps;
  d->src.base.name = name;
  d->src.type = XSMEM_MEMORY_DEVICE;
  d->src.device = 0;
  d->src.note = "fake device (XSMEM_CUDA_FAKE_DEVICE)";
  d->src.streams = &kFakeStreamOps;
  d->src.mem_info = fake_mem_info;
  return &d->src;
}

// Pinned and managed memory of the fake: host memory, fake streams.
static void *host_map(xsmem_source *base, size_t size, size_t align, size_t *got) {
  void *p = xsmem_source_map(xsmem_os_source(), size, align, got);
  if (p) __atomic_fetch_add(&xsmem_device_source_of(base)->bytes_mapped, *got, __ATOMIC_RELAXED);
  if (p) __atomic_fetch_add(&xsmem_device_source_of(base)->num_maps, 1, __ATOMIC_RELAXED);
  return p;
}

static void host_unmap(xsmem_source *base, void *p, size_t size) {
  xsmem_source_unmap(xsmem_os_source(), p, size);
  __atomic_fetch_sub(&xsmem_device_source_of(base)->bytes_mapped, size, __ATOMIC_RELAXED);
  __atomic_fetch_add(&xsmem_device_source_of(base)->num_unmaps, 1, __ATOMIC_RELAXED);
}

static const xsmem_source_ops kFakeHostOps = {host_map, host_unmap, XSMEM_SRC_ZEROED};

static xsmem_device_source *g_fake_device;
static xsmem_device_source g_fake_pinned = {{&kFakeHostOps, "fake.pinned"},
                                            XSMEM_MEMORY_HOST_PINNED,
                                            -1,
                                            false,
                                            "fake pinned memory (XSMEM_CUDA_FAKE_DEVICE)",
                                            &kFakeStreamOps,
                                            NULL,
                                            0,
                                            0,
                                            0,
                                            0};
static xsmem_device_source g_fake_managed = {{&kFakeHostOps, "fake.managed"},
                                             XSMEM_MEMORY_MANAGED,
                                             0,
                                             false,
                                             "fake managed memory (XSMEM_CUDA_FAKE_DEVICE)",
                                             &kFakeStreamOps,
                                             NULL,
                                             0,
                                             0,
                                             0,
                                             0};
static xsmem_once g_fake_once;

static bool build_fake(void *unused) {
  g_fake_device = xsmem_fake_device_create(xsmem_option_bytes("XSMEM_CUDA_FAKE_DEVICE"), "fake.device0");
  if (!g_fake_device) xsmem_log("fake device: cannot map %s: %s", "XSMEM_CUDA_FAKE_DEVICE", xsmem_strerror(errno));
  return g_fake_device != NULL;
}

xsmem_device_source *xsmem_fake_device_source(void) {
  if (!xsmem_option_bytes("XSMEM_CUDA_FAKE_DEVICE")) return NULL;
  return xsmem_once_run(&g_fake_once, build_fake, NULL) == XSMEM_ONCE_DONE ? g_fake_device : NULL;
}

xsmem_device_source *xsmem_fake_pinned_source(void) {
  return xsmem_option_bytes("XSMEM_CUDA_FAKE_DEVICE") ? &g_fake_pinned : NULL;
}

xsmem_device_source *xsmem_fake_managed_source(void) {
  return xsmem_option_bytes("XSMEM_CUDA_FAKE_DEVICE") ? &g_fake_managed : NULL;
}
