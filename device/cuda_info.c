// cuda_info: what xsmem finds of CUDA on this machine, in one or a few lines.
// The GPU script (tests/gpu/run_on_device.sh) starts with it; it exits 0
// whether or not there is a device, and prints the reason when there is none.
#include <stdio.h>

#include "device/cuda.h"
#include "device/source.h"

int main(void) {
  printf("%s\n", xsmem_cuda_status());
  int n = xsmem_cuda_device_count();
  for (int i = 0; i < n; i++) {
    char name[256];
    size_t free_b = 0, total_b = 0;
    xsmem_cuda_device_name(i, name, sizeof(name));
    xsmem_device_source *s = xsmem_cuda_device_source(i);
    if (s && xsmem_device_source_mem_info(s, &free_b, &total_b)) {
      printf("device %d: %s, %zu MiB free of %zu MiB\n", i, name, free_b >> 20, total_b >> 20);
    } else {
      printf("device %d: %s\n", i, name);
    }
  }
  return 0;
}
