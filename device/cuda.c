// The CUDA runtime through dlopen: see cuda.h.
#include "device/cuda.h"

#include <dlfcn.h>
#include <string.h>

#include "platform/log.h"
#include "platform/once.h"
#include "platform/options.h"

static xsmem_once g_once;
static xsmem_cuda_api g_api;
static xsmem_cuda_state g_state;
static int g_devices;
static char g_status[512];
static int g_reported;

// Looks every entry point up; false (naming the first missing one) unless all
// the required ones are there.
static bool resolve(void *lib, const char *path) {
  struct {
    void **slot;
    const char *names[2];  // the first that resolves wins
    bool required;
  } table[] = {
      {(void **)&g_api.get_device_count, {"cudaGetDeviceCount", NULL}, true},
      // CUDA 12 renamed the symbol behind its header's macro; 11 and 13 export the plain name.
      {(void **)&g_api.get_device_properties, {"cudaGetDeviceProperties_v2", "cudaGetDeviceProperties"}, true},
      {(void **)&g_api.set_device, {"cudaSetDevice", NULL}, true},
      {(void **)&g_api.get_device, {"cudaGetDevice", NULL}, true},
      {(void **)&g_api.malloc, {"cudaMalloc", NULL}, true},
      {(void **)&g_api.free, {"cudaFree", NULL}, true},
      {(void **)&g_api.host_alloc, {"cudaHostAlloc", NULL}, true},
      {(void **)&g_api.free_host, {"cudaFreeHost", NULL}, true},
      {(void **)&g_api.malloc_managed, {"cudaMallocManaged", NULL}, true},
      {(void **)&g_api.mem_get_info, {"cudaMemGetInfo", NULL}, true},
      {(void **)&g_api.stream_create_with_flags, {"cudaStreamCreateWithFlags", NULL}, true},
      {(void **)&g_api.stream_synchronize, {"cudaStreamSynchronize", NULL}, true},
      {(void **)&g_api.stream_destroy, {"cudaStreamDestroy", NULL}, true},
      {(void **)&g_api.event_create_with_flags, {"cudaEventCreateWithFlags", NULL}, true},
      {(void **)&g_api.event_record, {"cudaEventRecord", NULL}, true},
      {(void **)&g_api.event_query, {"cudaEventQuery", NULL}, true},
      {(void **)&g_api.event_synchronize, {"cudaEventSynchronize", NULL}, true},
      {(void **)&g_api.event_destroy, {"cudaEventDestroy", NULL}, true},
      {(void **)&g_api.memcpy_async, {"cudaMemcpyAsync", NULL}, true},
      {(void **)&g_api.get_error_string, {"cudaGetErrorString", NULL}, true},
      {(void **)&g_api.malloc_async, {"cudaMallocAsync", NULL}, false},
      {(void **)&g_api.free_async, {"cudaFreeAsync", NULL}, false},
  };
  for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
    void *f = NULL;
    for (int k = 0; k < 2 && !f && table[i].names[k]; k++) f = dlsym(lib, table[i].names[k]);
    if (!f && table[i].required) {
      xsmem_snprintf(g_status, sizeof(g_status), "no CUDA runtime (%s lacks %s)", path, table[i].names[0]);
      return false;
    }
    *table[i].slot = f;
  }
  return true;
}

static void *open_runtime(const char **opened, char *err, size_t cap) {
  static char home_path[512];
  const char *candidates[6];
  int n = 0;
  const char *own = xsmem_option_str("XSMEM_CUDA_LIBRARY");
  if (own && strcmp(own, "none") == 0) {
    xsmem_snprintf(err, cap, "XSMEM_CUDA_LIBRARY=none");
    return NULL;
  }
  if (own && *own) candidates[n++] = own;
  candidates[n++] = "libcudart.so.13";
  candidates[n++] = "libcudart.so.12";
  candidates[n++] = "libcudart.so";
  const char *home = xsmem_getenv("CUDA_HOME");
  if (home && *home) {
    xsmem_snprintf(home_path, sizeof(home_path), "%s/lib64/libcudart.so", home);
    candidates[n++] = home_path;
  }
  err[0] = 0;
  for (int i = 0; i < n; i++) {
    void *lib = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL);
    if (lib) {
      *opened = candidates[i];
      return lib;
    }
    // The first failure says the most (the library the user named, or the newest runtime).
    if (!err[0]) {
      const char *why = dlerror();
      xsmem_snprintf(err, cap, "%s", why ? why : candidates[i]);
    }
  }
  return NULL;
}

static bool load(void *ctx) {
  (void)ctx;
  char err[384];
  const char *path = NULL;
  void *lib = open_runtime(&path, err, sizeof(err));
  if (!lib) {
    xsmem_snprintf(g_status, sizeof(g_status), "no CUDA runtime (%s)", err);
    g_state = XSMEM_CUDA_NO_RUNTIME;
    return true;  // decided: dlopen is not retried on every request
  }
  if (!resolve(lib, path)) {
    g_state = XSMEM_CUDA_NO_RUNTIME;
    return true;
  }
  int count = 0;
  xsmem_cuda_error e = g_api.get_device_count(&count);
  if (e != XSMEM_CUDA_SUCCESS || count <= 0) {
    if (e != XSMEM_CUDA_SUCCESS) {
      xsmem_snprintf(g_status, sizeof(g_status), "no device (cudaGetDeviceCount: %s, error %d; runtime %s)",
                     g_api.get_error_string(e), e, path);
    } else {
      xsmem_snprintf(g_status, sizeof(g_status), "no device (cudaGetDeviceCount counts 0; runtime %s)", path);
    }
    g_state = XSMEM_CUDA_NO_DEVICE;
    return true;
  }
  g_devices = count;
  g_state = XSMEM_CUDA_READY;
  xsmem_snprintf(g_status, sizeof(g_status), "CUDA ready: %d device(s), runtime %s", count, path);
  return true;
}

static void ensure(void) {
  if (!xsmem_once_done(&g_once)) xsmem_once_run(&g_once, load, NULL);
}

const xsmem_cuda_api *xsmem_cuda(void) {
  ensure();
  return g_state == XSMEM_CUDA_READY ? &g_api : NULL;
}

xsmem_cuda_state xsmem_cuda_state_get(void) {
  ensure();
  return g_state;
}

const char *xsmem_cuda_status(void) {
  ensure();
  return g_status;
}

int xsmem_cuda_device_count(void) {
  ensure();
  return g_state == XSMEM_CUDA_READY ? g_devices : 0;
}

bool xsmem_cuda_device_name(int device, char *buf, size_t cap) {
  // cudaDeviceProp is about 1 KiB in CUDA 13; name[256] is its first member.
  static _Alignas(16) char prop[8192];
  static int lock;
  const xsmem_cuda_api *api = xsmem_cuda();
  bool ok = false;
  if (cap == 0) return false;
  if (api && device >= 0 && device < g_devices) {
    while (__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE)) {}
    if (api->get_device_properties(prop, device) == XSMEM_CUDA_SUCCESS) {
      prop[255] = 0;
      xsmem_snprintf(buf, cap, "%s", prop);
      ok = true;
    }
    __atomic_store_n(&lock, 0, __ATOMIC_RELEASE);
  }
  if (!ok) xsmem_snprintf(buf, cap, "unknown");
  return ok;
}

void xsmem_cuda_report_unavailable(const char *who) {
  if (xsmem_cuda_state_get() == XSMEM_CUDA_READY) return;
  if (__atomic_exchange_n(&g_reported, 1, __ATOMIC_RELAXED)) return;
  xsmem_log("%s: %s", who, g_status);
}

const char *xsmem_cuda_error_string(xsmem_cuda_error e) {
  static char unknown[48];
  ensure();
  if (g_state != XSMEM_CUDA_NO_RUNTIME && g_api.get_error_string) return g_api.get_error_string(e);
  xsmem_snprintf(unknown, sizeof(unknown), "unknown CUDA error %d", e);
  return unknown;
}
