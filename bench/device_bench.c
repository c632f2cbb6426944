// device_bench: device memory on a real GPU, as a markdown block for
// bench/RESULTS.md (tests/gpu/run_on_device.sh runs it):
//   1. alloc+free pairs of bfc_cuda (xsmem_device_alloc/free on one stream)
//      against cudaMalloc/cudaFree and cudaMallocAsync/cudaFreeAsync (the
//      default memory pool, same stream), 256 B to 256 MiB;
//   2. host-to-device copy bandwidth from `pinned` against pageable memory;
//   3. a training-like trace (bench/traces/ml-steps.trace.xz) replayed on the
//      device through bfc_cuda: peak reserved / peak requested, and its time.
// Without a device it prints why and exits 0; with XSMEM_CUDA_FAKE_DEVICE set
// instead it runs what does not need one on the fake device: bfc_cuda's pairs
// (the allocator's CPU cost alone) and the trace replay (whose peak reserved /
// peak requested is the allocator's, whatever the memory).
// usage: device_bench [TRACE.xz]
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "allocators/registry.h"
#include "device/cuda.h"
#include "device/device.h"

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int iterations(size_t size) { return size >= ((size_t)16 << 20) ? 200 : 5000; }

static const char *human(size_t n, char *buf, size_t cap) {
  if (n >= ((size_t)1 << 20)) {
    snprintf(buf, cap, "%zu MiB", n >> 20);
  } else if (n >= 1024) {
    snprintf(buf, cap, "%zu KiB", n >> 10);
  } else {
    snprintf(buf, cap, "%zu B", n);
  }
  return buf;
}

static void pairs(const xsmem_cuda_api *api, xsmem_allocator *bfc, xsmem_cuda_stream s) {
  printf("\n#### alloc+free pairs (ns per pair, one stream)\n\n");
  if (!api) {
    printf("| size | bfc_cuda (fake device) |\n| ---: | ---: |\n");
  } else {
    printf("| size | bfc_cuda | cudaMalloc/cudaFree | cudaMallocAsync/cudaFreeAsync | async / bfc_cuda |\n");
    printf("| ---: | ---: | ---: | ---: | ---: |\n");
  }
  for (size_t size = 256; size <= ((size_t)256 << 20); size <<= 4) {
    int n = iterations(size);
    void *p;
    double t0, ours, sync, async = 0;
    xsmem_device_free(bfc, xsmem_device_alloc(bfc, size, s), s);  // warm: the region exists
    t0 = now_ns();
    for (int i = 0; i < n; i++) {
      p = xsmem_device_alloc(bfc, size, s);
      if (!p) break;
      xsmem_device_free(bfc, p, s);
    }
    ours = (now_ns() - t0) / n;
    char h[32];
    if (!api) {
      printf("| %s | %.0f |\n", human(size, h, sizeof(h)), ours);
      continue;
    }
    t0 = now_ns();
    for (int i = 0; i < n; i++) {
      if (api->malloc(&p, size) != 0) break;
      api->free(p);
    }
    sync = (now_ns() - t0) / n;
    if (api->malloc_async) {
      api->malloc_async(&p, size, s);  // warm the pool
      api->free_async(p, s);
      t0 = now_ns();
      for (int i = 0; i < n; i++) {
        if (api->malloc_async(&p, size, s) != 0) break;
        api->free_async(p, s);
      }
      async = (now_ns() - t0) / n;
      api->stream_synchronize(s);
    }
    printf("| %s | %.0f | %.0f | %.0f | %.2fx |\n", human(size, h, sizeof(h)), ours, sync, async,
           async > 0 ? async / ours : 0.0);
  }
}

static void bandwidth(const xsmem_cuda_api *api, xsmem_allocator *bfc, xsmem_allocator *pinned, xsmem_cuda_stream s) {
  const size_t n = (size_t)64 << 20;
  const int reps = 20;
  void *dev = xsmem_device_alloc(bfc, n, s);
  void *pin = xsmem_device_alloc(pinned, n, s);
  char *pageable = malloc(n);
  if (!dev || !pin || !pageable) {
    printf("\nbandwidth: could not allocate 64 MiB buffers\n");
    return;
  }
  memset(pin, 1, n);
  memset(pageable, 1, n);
  double gbs[2];
  void *src[2] = {pin, pageable};
  for (int k = 0; k < 2; k++) {
    api->memcpy_async(dev, src[k], n, XSMEM_CUDA_MEMCPY_HOST_TO_DEVICE, s);
    api->stream_synchronize(s);
    double t0 = now_ns();
    for (int i = 0; i < reps; i++) api->memcpy_async(dev, src[k], n, XSMEM_CUDA_MEMCPY_HOST_TO_DEVICE, s);
    api->stream_synchronize(s);
    gbs[k] = (double)n * reps / (now_ns() - t0);  // bytes per ns = GB/s
  }
  printf("\n#### host-to-device copies (64 MiB, %d copies)\n\n", reps);
  printf("| source | GB/s |\n| --- | ---: |\n");
  printf("| pinned (%s) | %.1f |\n| pageable (malloc) | %.1f |\n",
         xsmem_memory_type_name(xsmem_device_memory_type(pinned)), gbs[0], gbs[1]);
  printf("\npinned / pageable: %.2fx\n", gbs[0] / gbs[1]);
  xsmem_device_free(pinned, pin, s);
  xsmem_device_free(bfc, dev, s);
  free(pageable);
}

static void replay(xsmem_allocator *bfc, xsmem_cuda_stream s, const char *path) {
  // A .xz trace goes through xz; a plain one (what --prepare carries to a bare machine) is read as is.
  char cmd[1024];
  size_t len = strlen(path);
  bool xz = len > 3 && strcmp(path + len - 3, ".xz") == 0;
  snprintf(cmd, sizeof(cmd), "xz -dc '%s'", path);
  FILE *f = xz ? popen(cmd, "r") : fopen(path, "r");
  if (!f) {
    printf("\ntrace replay: cannot read %s\n", path);
    return;
  }
  size_t cap = 1 << 16, n_ptr = 0;
  void **ptr = calloc(cap, sizeof(void *));
  size_t *sz = calloc(cap, sizeof(size_t));
  char op;
  unsigned long long id, size;
  size_t live = 0, peak_live = 0, peak_reserved = 0, ops = 0, failed = 0;
  double t0 = now_ns();
  while (fscanf(f, " %c %llu", &op, &id) == 2) {
    if (id >= cap) {
      size_t c = cap;
      while (c <= id) c *= 2;
      ptr = realloc(ptr, c * sizeof(void *));
      sz = realloc(sz, c * sizeof(size_t));
      memset(ptr + cap, 0, (c - cap) * sizeof(void *));
      memset(sz + cap, 0, (c - cap) * sizeof(size_t));
      cap = c;
    }
    if (op == 'a') {
      if (fscanf(f, " %llu", &size) != 1) break;
      ptr[id] = xsmem_device_alloc(bfc, size, s);
      if (!ptr[id]) {
        failed++;
        continue;
      }
      sz[id] = size;
      live += size;
      if (live > peak_live) peak_live = live;
      xsmem_stats st = xsmem_get_stats(bfc);
      if (st.bytes_reserved > peak_reserved) peak_reserved = st.bytes_reserved;
      if (id + 1 > n_ptr) n_ptr = id + 1;
    } else if (ptr[id]) {
      xsmem_device_free(bfc, ptr[id], s);
      live -= sz[id];
      ptr[id] = NULL;
    }
    ops++;
  }
  double ms = (now_ns() - t0) / 1e6;
  if (xz) {
    pclose(f);
  } else {
    fclose(f);
  }
  for (size_t i = 0; i < n_ptr; i++) {
    if (ptr[i]) xsmem_device_free(bfc, ptr[i], s);
  }
  free(ptr);
  free(sz);
  printf("\n#### trace replay on the device: %s\n\n", path);
  printf(
      "| operations | failed | peak requested | peak reserved | reserved / requested | time (with reading the trace) "
      "|\n");
  printf("| ---: | ---: | ---: | ---: | ---: | ---: |\n");
  printf("| %zu | %zu | %.1f MiB | %.1f MiB | %.3f | %.0f ms |\n", ops, failed, peak_live / 1048576.0,
         peak_reserved / 1048576.0, peak_live ? (double)peak_reserved / peak_live : 0.0, ms);
}

int main(int argc, char **argv) {
  const xsmem_cuda_api *api = xsmem_cuda();
  bool fake = !api && xsmem_cuda_device_source(0) != NULL;  // XSMEM_CUDA_FAKE_DEVICE
  if (!api && !fake) {
    printf("SKIPPED: device_bench needs a GPU (or XSMEM_CUDA_FAKE_DEVICE for its CPU side): %s\n", xsmem_cuda_status());
    return 0;
  }
  xsmem_allocator *bfc = xsmem_config_instance(xsmem_config_find("bfc_cuda"));
  xsmem_allocator *pinned = xsmem_config_instance(xsmem_config_find("pinned"));
  if (!bfc || !pinned) {
    printf("device_bench: bfc_cuda or pinned did not build (see above)\n");
    return 1;
  }
  if (fake) {
    printf("### Device memory on the fake device (XSMEM_CUDA_FAKE_DEVICE; %s)\n", xsmem_cuda_status());
    pairs(NULL, bfc, NULL);
    if (argc > 1) replay(bfc, NULL, argv[1]);
    return 0;
  }
  char name[256];
  xsmem_cuda_device_name(xsmem_device_index(bfc), name, sizeof(name));
  xsmem_cuda_stream s = NULL;
  api->stream_create_with_flags(&s, XSMEM_CUDA_STREAM_NON_BLOCKING);
  printf("### Device memory on %s (%s)\n", name, xsmem_cuda_status());
  pairs(api, bfc, s);
  bandwidth(api, bfc, pinned, s);
  if (argc > 1) replay(bfc, s, argv[1]);
  api->stream_synchronize(s);
  api->stream_destroy(s);
  return 0;
}
