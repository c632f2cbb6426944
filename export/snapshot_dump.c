// export/snapshot_dump.c: prints snapshot files in the text formats.
//   xsmem_snapshot_dump FILE [json|prometheus|csv|summary] [--stream]
// FILE is one snapshot (XSMEM_SNAPSHOT) or, with --stream, a series
// (XSMEM_SNAPSHOT_INTERVAL_MS): json prints one object per line, summary one
// line per snapshot, the others the last snapshot. Exit status 1 on a bad file.
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "export/buf.h"
#include "export/format.h"
#include "export/snapshot.h"
#include "platform/log.h"

static void print(const Xsmem__Snapshot *s, const char *fmt) {
  xsmem_buf b = XSMEM_BUF_INIT;
  if (strcmp(fmt, "json") == 0) {
    xsmem_json_snapshot(s, &b);
    xsmem_buf_puts(&b, "\n");
  } else if (strcmp(fmt, "prometheus") == 0) {
    xsmem_prometheus(s, &b);
  } else if (strcmp(fmt, "csv") == 0) {
    xsmem_csv_timeline(s, &b);
  } else {
    xsmem_buf_printf(&b, "#%llu pid %lld config '%s' allocators %zu timeline %zu\n",
                     (unsigned long long)s->sequence, (long long)s->pid, s->config, s->n_allocators,
                     s->n_timeline);
  }
  xsmem_write_all(1, b.data ? b.data : "", b.len);
  xsmem_buf_free(&b);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    xsmem_dprintf(2, "usage: %s FILE [json|prometheus|csv|summary] [--stream]\n", argv[0]);
    return 2;
  }
  const char *fmt = "summary";
  bool stream = false;
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--stream") == 0) stream = true;
    else fmt = argv[i];
  }
  if (strcmp(fmt, "json") && strcmp(fmt, "prometheus") && strcmp(fmt, "csv") && strcmp(fmt, "summary")) {
    xsmem_dprintf(2, "unknown format '%s'\n", fmt);
    return 2;
  }
  xsmem_buf file = XSMEM_BUF_INIT;
  if (!xsmem_read_file(argv[1], &file)) {
    xsmem_dprintf(2, "%s: cannot read (errno %d)\n", argv[1], errno);
    return 1;
  }
  xsmem_arena arena = XSMEM_ARENA_INIT;
  if (!stream) {
    Xsmem__Snapshot *s = xsmem_snapshot_unpack(&arena, file.data, file.len);
    if (!s) {
      xsmem_dprintf(2, "%s: not a snapshot\n", argv[1]);
      return 1;
    }
    print(s, fmt);
    return 0;
  }
  xsmem_snapshot_stream st = {(const uint8_t *)file.data, file.len, 0};
  Xsmem__Snapshot *s, *last = NULL;
  int r;
  size_t n = 0;
  while ((r = xsmem_snapshot_next(&st, &arena, &s)) == 1) {
    n++;
    if (!strcmp(fmt, "json") || !strcmp(fmt, "summary")) print(s, fmt);
    last = s;
  }
  if (r < 0) {
    xsmem_dprintf(2, "%s: corrupt record after %zu snapshots\n", argv[1], n);
    return 1;
  }
  if (last && strcmp(fmt, "json") && strcmp(fmt, "summary")) print(last, fmt);
  return 0;
}
