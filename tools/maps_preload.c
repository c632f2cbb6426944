// tools/maps_preload.c: libxsmem_maps.so, preloaded by `xsmem run` beside
// the configuration. At exit it copies /proc/self/maps next to the process's
// snapshot ("<XSMEM_SNAPSHOT, %p expanded>.maps"), so that the tool can
// symbolize the snapshot's call stacks after the process is gone (addresses
// are only meaningful with the process's own mappings). It runs inside the
// observed process: no malloc, only open/read/write on stack buffers.
#include <fcntl.h>
#include <stddef.h>
#include <unistd.h>

#include "platform/log.h"
#include "platform/options.h"

__attribute__((destructor)) static void xsmem_save_maps(void) {
  const char *pattern = xsmem_getenv("XSMEM_SNAPSHOT");
  if (!pattern || !*pattern) return;
  char path[4096];
  size_t n = 0;
  for (const char *p = pattern; *p && n + 32 < sizeof path; p++) {
    if (p[0] == '%' && p[1] == 'p') {
      n += (size_t)xsmem_snprintf(path + n, sizeof path - n, "%d", (int)getpid());
      p++;
    } else if (p[0] == '%' && p[1] == '%') {
      path[n++] = '%';
      p++;
    } else {
      path[n++] = *p;
    }
  }
  xsmem_snprintf(path + n, sizeof path - n, ".maps");
  int in = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (in < 0) return;
  int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  char buf[8192];
  ssize_t r;
  while (out >= 0 && (r = read(in, buf, sizeof buf)) > 0) xsmem_write_all(out, buf, (size_t)r);
  close(in);
  if (out >= 0) close(out);
}
