// CUDA-backed sources: see source.h.
#include "device/source.h"

#include <errno.h>
#include <stdint.h>

#include "device/cuda.h"
#include "device/fake.h"
#include "platform/log.h"
#include "platform/once.h"
#include "platform/options.h"
#include "platform/os_vm.h"

void xsmem_device_source_report(xsmem_device_source *s, const char *op, const char *text) {
  if (__atomic_exchange_n(&s->errors_reported, 1, __ATOMIC_RELAXED)) return;
  xsmem_log("%s: %s: %s (reported once per source)", s->base.name, op, text);
}

bool xsmem_device_source_mem_info(xsmem_device_source *s, size_t *free_bytes, size_t *total_bytes) {
  return s && s->mem_info && s->mem_info(s, free_bytes, total_bytes);
}

// ---------------------------------------------------------------------------
// Regions mapped with slack for their alignment: aligned start -> raw start.

typedef struct slack_entry {
  uintptr_t aligned, raw;
} slack_entry;

static slack_entry g_slack[XSMEM_DEVICE_MAX_SLACK_REGIONS];
static int g_slack_lock;

static void slack_lock(void) {
  while (__atomic_exchange_n(&g_slack_lock, 1, __ATOMIC_ACQUIRE)) {}
}
static void slack_unlock(void) { __atomic_store_n(&g_slack_lock, 0, __ATOMIC_RELEASE); }

static bool slack_put(uintptr_t aligned, uintptr_t raw) {
  bool ok = false;
  slack_lock();
  for (int i = 0; i < XSMEM_DEVICE_MAX_SLACK_REGIONS && !ok; i++) {
    if (!g_slack[i].aligned) {
      g_slack[i].aligned = aligned;
      g_slack[i].raw = raw;
      ok = true;
    }
  }
  slack_unlock();
  return ok;
}

// Returns the raw start of a region (itself when it was mapped without slack).
static uintptr_t slack_take(uintptr_t aligned) {
  uintptr_t raw = aligned;
  slack_lock();
  for (int i = 0; i < XSMEM_DEVICE_MAX_SLACK_REGIONS; i++) {
    if (g_slack[i].aligned == aligned) {
      raw = g_slack[i].raw;
      g_slack[i].aligned = 0;
      break;
    }
  }
  slack_unlock();
  return raw;
}

// ---------------------------------------------------------------------------
// CUDA sources. A call runs with the source's device current and restores the
// caller's afterwards (the current device is per thread and belongs to the program).

typedef struct device_guard {
  int saved;
  bool restore;
} device_guard;

static bool guard_enter(const xsmem_cuda_api *api, xsmem_device_source *s, device_guard *g) {
  g->restore = false;
  if (s->device < 0) return true;
  if (api->get_device(&g->saved) != XSMEM_CUDA_SUCCESS) g->saved = -1;
  if (g->saved == s->device) return true;
  xsmem_cuda_error e = api->set_device(s->device);
  if (e != XSMEM_CUDA_SUCCESS) {
    xsmem_device_source_report(s, "cudaSetDevice", api->get_error_string(e));
    return false;
  }
  g->restore = g->saved >= 0;
  return true;
}

static void guard_exit(const xsmem_cuda_api *api, const device_guard *g) {
  if (g->restore) api->set_device(g->saved);
}

static xsmem_cuda_error cuda_raw_alloc(const xsmem_cuda_api *api, xsmem_device_source *s, void **p, size_t n) {
  switch (s->type) {
    case XSMEM_MEMORY_HOST_PINNED: return api->host_alloc(p, n, XSMEM_CUDA_HOST_ALLOC_PORTABLE);
    case XSMEM_MEMORY_MANAGED: return api->malloc_managed(p, n, XSMEM_CUDA_MEM_ATTACH_GLOBAL);
    default: return api->malloc(p, n);
  }
}

static void cuda_raw_free(const xsmem_cuda_api *api, xsmem_device_source *s, void *p) {
  xsmem_cuda_error e = s->type == XSMEM_MEMORY_HOST_PINNED ? api->free_host(p) : api->free(p);
  if (e != XSMEM_CUDA_SUCCESS) xsmem_device_source_report(s, "free", api->get_error_string(e));
}

static void *cuda_map(xsmem_source *base, size_t size, size_t align, size_t *got) {
  xsmem_device_source *s = xsmem_device_source_of(base);
  const xsmem_cuda_api *api = xsmem_cuda();
  device_guard g;
  if (!api || !guard_enter(api, s, &g)) {
    errno = ENOMEM;
    return NULL;
  }
  size_t n = size ? size : 1;
  void *p = NULL;
  xsmem_cuda_error e = cuda_raw_alloc(api, s, &p, n);
  if (e == XSMEM_CUDA_SUCCESS && align > 1 && ((uintptr_t)p & (align - 1))) {
    // Less aligned than asked: again with slack, the raw start remembered.
    cuda_raw_free(api, s, p);
    p = NULL;
    void *raw = NULL;
    if (n + align < n) {
      e = XSMEM_CUDA_ERROR_MEMORY_ALLOCATION;
    } else {
      e = cuda_raw_alloc(api, s, &raw, n + align);
    }
    if (e == XSMEM_CUDA_SUCCESS) {
      uintptr_t a = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
      if (slack_put(a, (uintptr_t)raw)) {
        p = (void *)a;
      } else {
        cuda_raw_free(api, s, raw);
        e = XSMEM_CUDA_ERROR_MEMORY_ALLOCATION;
      }
    }
  }
  guard_exit(api, &g);
  if (e != XSMEM_CUDA_SUCCESS) {
    // Out of memory is the answer a source gives; anything else is a broken runtime, said once.
    if (e != XSMEM_CUDA_ERROR_MEMORY_ALLOCATION) xsmem_device_source_report(s, "map", api->get_error_string(e));
    errno = ENOMEM;
    return NULL;
  }
  __atomic_fetch_add(&s->bytes_mapped, n, __ATOMIC_RELAXED);
  __atomic_fetch_add(&s->num_maps, 1, __ATOMIC_RELAXED);
  if (got) *got = n;
  return p;
}

static void cuda_unmap(xsmem_source *base, void *p, size_t size) {
  xsmem_device_source *s = xsmem_device_source_of(base);
  const xsmem_cuda_api *api = xsmem_cuda();
  device_guard g;
  if (!api || !guard_enter(api, s, &g)) return;
  cuda_raw_free(api, s, (void *)slack_take((uintptr_t)p));
  guard_exit(api, &g);
  __atomic_fetch_sub(&s->bytes_mapped, size, __ATOMIC_RELAXED);
  __atomic_fetch_add(&s->num_unmaps, 1, __ATOMIC_RELAXED);
}

static void *cuda_record(xsmem_device_source *s, xsmem_stream stream) {
  const xsmem_cuda_api *api = xsmem_cuda();
  device_guard g;
  if (!api || !guard_enter(api, s, &g)) return NULL;
  xsmem_cuda_event ev = NULL;
  xsmem_cuda_error e = api->event_create_with_flags(&ev, XSMEM_CUDA_EVENT_DISABLE_TIMING);
  if (e == XSMEM_CUDA_SUCCESS) {
    e = api->event_record(ev, stream);
    if (e != XSMEM_CUDA_SUCCESS) {
      api->event_destroy(ev);
      ev = NULL;
    }
  }
  guard_exit(api, &g);
  if (e != XSMEM_CUDA_SUCCESS) xsmem_device_source_report(s, "cudaEventRecord", api->get_error_string(e));
  return ev;
}

static int cuda_query(xsmem_device_source *s, void *ev) {
  const xsmem_cuda_api *api = xsmem_cuda();
  xsmem_cuda_error e = api->event_query(ev);
  if (e == XSMEM_CUDA_SUCCESS) return 1;
  if (e == XSMEM_CUDA_ERROR_NOT_READY) return 0;
  xsmem_device_source_report(s, "cudaEventQuery", api->get_error_string(e));
  return -1;
}

static bool cuda_wait(xsmem_device_source *s, void *ev) {
  const xsmem_cuda_api *api = xsmem_cuda();
  xsmem_cuda_error e = api->event_synchronize(ev);
  if (e == XSMEM_CUDA_SUCCESS) return true;
  xsmem_device_source_report(s, "cudaEventSynchronize", api->get_error_string(e));
  return false;
}

static void cuda_release(xsmem_device_source *s, void *ev) { xsmem_cuda()->event_destroy(ev); }

static bool cuda_mem_info(xsmem_device_source *s, size_t *free_bytes, size_t *total_bytes) {
  const xsmem_cuda_api *api = xsmem_cuda();
  device_guard g;
  if (!api || s->device < 0 || !guard_enter(api, s, &g)) return false;
  xsmem_cuda_error e = api->mem_get_info(free_bytes, total_bytes);
  guard_exit(api, &g);
  return e == XSMEM_CUDA_SUCCESS;
}

static const xsmem_source_ops kCudaSourceOps = {cuda_map, cuda_unmap, 0};
static const xsmem_stream_ops kCudaStreamOps = {cuda_record, cuda_query, cuda_wait, cuda_release};

// Pinned memory without CUDA: page-aligned host memory.
static void *host_map(xsmem_source *base, size_t size, size_t align, size_t *got) {
  void *p = xsmem_source_map(xsmem_os_source(), size, align, got);
  if (p) __atomic_fetch_add(&xsmem_device_source_of(base)->num_maps, 1, __ATOMIC_RELAXED);
  if (p) __atomic_fetch_add(&xsmem_device_source_of(base)->bytes_mapped, *got, __ATOMIC_RELAXED);
  return p;
}

static void host_unmap(xsmem_source *base, void *p, size_t size) {
  xsmem_source_unmap(xsmem_os_source(), p, size);
  __atomic_fetch_add(&xsmem_device_source_of(base)->num_unmaps, 1, __ATOMIC_RELAXED);
  __atomic_fetch_sub(&xsmem_device_source_of(base)->bytes_mapped, size, __ATOMIC_RELAXED);
}

static const xsmem_source_ops kHostSourceOps = {host_map, host_unmap, XSMEM_SRC_ZEROED};

static bool faked(void) { return xsmem_option_bytes("XSMEM_CUDA_FAKE_DEVICE") != 0; }

static xsmem_device_source g_devices[XSMEM_DEVICE_MAX_DEVICES];
static xsmem_device_source g_managed[XSMEM_DEVICE_MAX_DEVICES];
static char g_names[2][XSMEM_DEVICE_MAX_DEVICES][24];
static xsmem_once g_device_once[2][XSMEM_DEVICE_MAX_DEVICES];

typedef struct build_ctx {
  xsmem_device_source *s;
  xsmem_memory_type type;
  int device;
  char *name;
  const char *prefix;
} build_ctx;

static bool build_cuda(void *p) {
  build_ctx *c = p;
  xsmem_snprintf(c->name, 24, "%s%d", c->prefix, c->device);
  c->s->base.ops = &kCudaSourceOps;
  c->s->base.name = c->name;
  c->s->type = c->type;
  c->s->device = c->device;
  c->s->note = "";
  c->s->streams = &kCudaStreamOps;
  c->s->mem_info = cuda_mem_info;
  return true;
}

static xsmem_device_source *cuda_source(int which, xsmem_memory_type type, int device, const char *prefix,
                                        const char *who) {
  if (!xsmem_cuda()) {
    xsmem_cuda_report_unavailable(who);
    return NULL;
  }
  if (device < 0 || device >= xsmem_cuda_device_count() || device >= XSMEM_DEVICE_MAX_DEVICES) {
    // Said once: the registry tries a failed build again on every later use.
    static int said;
    if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED)) {
      xsmem_log("%s: no device %d (%d device(s) present; XSMEM_CUDA_DEVICE picks one)", who, device,
                xsmem_cuda_device_count());
    }
    return NULL;
  }
  xsmem_device_source *s = which ? &g_managed[device] : &g_devices[device];
  build_ctx c = {s, type, device, g_names[which][device], prefix};
  return xsmem_once_run(&g_device_once[which][device], build_cuda, &c) == XSMEM_ONCE_DONE ? s : NULL;
}

xsmem_device_source *xsmem_cuda_device_source(int device) {
  if (faked()) return device == 0 ? xsmem_fake_device_source() : NULL;
  return cuda_source(0, XSMEM_MEMORY_DEVICE, device, "cuda.device", "device memory");
}

xsmem_device_source *xsmem_cuda_managed_source(int device) {
  if (faked()) return device == 0 ? xsmem_fake_managed_source() : NULL;
  return cuda_source(1, XSMEM_MEMORY_MANAGED, device, "cuda.managed", "managed memory");
}

static xsmem_device_source g_pinned;
static xsmem_once g_pinned_once;

static bool build_pinned(void *unused) {
  if (xsmem_cuda()) {
    g_pinned.base.ops = &kCudaSourceOps;
    g_pinned.base.name = "cuda.pinned";
    g_pinned.type = XSMEM_MEMORY_HOST_PINNED;
    g_pinned.device = -1;
    g_pinned.note = "";
    g_pinned.streams = &kCudaStreamOps;
    return true;
  }
  // cudaHostAlloc needs a device as much as a runtime: either missing means
  // host memory, which serves every use of pinned memory but its copy speed.
  g_pinned.base.ops = &kHostSourceOps;
  g_pinned.base.name = "pinned.host";
  g_pinned.type = XSMEM_MEMORY_HOST_PAGEABLE;
  g_pinned.device = -1;
  g_pinned.fallback = true;
  g_pinned.note = xsmem_cuda_status();
  if (xsmem_option_bool("XSMEM_VERBOSE")) {
    xsmem_log("pinned memory: %s; using page-aligned pageable host memory instead", g_pinned.note);
  }
  return true;
}

xsmem_device_source *xsmem_cuda_pinned_source(void) {
  if (faked()) return xsmem_fake_pinned_source();
  return xsmem_once_run(&g_pinned_once, build_pinned, NULL) == XSMEM_ONCE_DONE ? &g_pinned : NULL;
}
