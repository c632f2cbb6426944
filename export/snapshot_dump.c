// export/snapshot_dump.c: prints snapshot files in the text formats.
//   xsmem_snapshot_dump FILE [json|prometheus|csv|summary] [--stream]
// FILE is one snapshot (XSMEM_SNAPSHOT) or, with --stream, a series
// (XSMEM_SNAPSHOT_INTERVAL_MS): json prints one object per line, summary one
// line per snapshot, the others the last snapshot. A format-2 file is read as
// a stream either way. Damaged records are refused with their byte offset and
// the rest printed; a stream whose writer stopped mid-record is read up to the
// cut. Exit status 1 on an unreadable file, a damaged record, or an output
// that could not be written.
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "export/buf.h"
#include "export/format.h"
#include "export/output.h"
#include "export/snapshot.h"
#include "platform/log.h"

// Returns false when stdout could not take the output.
static bool print(const Xsmem__Snapshot *s, const char *fmt) {
  xsmem_buf b = XSMEM_BUF_INIT;
  if (strcmp(fmt, "json") == 0) {
    xsmem_json_snapshot(s, &b);
    xsmem_buf_puts(&b, "\n");
  } else if (strcmp(fmt, "prometheus") == 0) {
    xsmem_prometheus(s, &b);
  } else if (strcmp(fmt, "csv") == 0) {
    xsmem_csv_timeline(s, &b);
  } else {
    xsmem_buf_printf(&b, "#%llu pid %lld config '", (unsigned long long)s->sequence, (long long)s->pid);
    xsmem_term_string(&b, s->config, (size_t)-1);  // any bytes: escaped for the terminal
    xsmem_buf_printf(&b, "' allocators %zu timeline %zu\n", s->n_allocators, s->n_timeline);
  }
  bool ok = !b.failed && xsmem_output_write_fd(1, b.data ? b.data : "", b.len, -1);
  if (!ok) xsmem_dprintf(2, "cannot write the output: %s\n", xsmem_strerror(b.failed ? ENOMEM : errno));
  xsmem_buf_free(&b);
  return ok;
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
  if (!xsmem_snapshot_read_file(argv[1], &file)) {
    if (errno == EBADMSG) xsmem_dprintf(2, "%s: not a snapshot (its first bytes begin neither format)\n", argv[1]);
    else if (errno == EFBIG)
      xsmem_dprintf(2, "%s: larger than %zu MiB, the most this reads\n", argv[1], XSMEM_SNAPSHOT_MAX_FILE >> 20);
    else xsmem_dprintf(2, "%s: cannot read: %s\n", argv[1], xsmem_strerror(errno));
    return 1;
  }
  xsmem_arena arena = XSMEM_ARENA_INIT;
  // Format 2 is always a stream (of one record for a single snapshot);
  // format 1 is one bare Snapshot unless --stream says otherwise.
  if (!stream && !xsmem_snapshot_is_framed(file.data, file.len)) {
    Xsmem__Snapshot *s = xsmem_snapshot_unpack(&arena, file.data, file.len);
    if (!s) {
      xsmem_dprintf(2, "%s: not a snapshot\n", argv[1]);
      return 1;
    }
    return print(s, fmt) ? 0 : 1;
  }
  xsmem_snapshot_stream st = {.data = (const uint8_t *)file.data, .len = file.len};
  Xsmem__Snapshot *s, *last = NULL;
  int r;
  size_t n = 0;
  bool damaged = false, out_ok = true;
  while ((r = xsmem_snapshot_next(&st, &arena, &s)) != 0) {
    if (r < 0) {
      // Damage is refused with its offset; a cut tail (a killed writer) only
      // ends the stream.
      xsmem_dprintf(2, "%s: byte %zu: %s; %s\n", argv[1], st.error_offset, st.error,
                    st.cut ? "the stream ends there (its writer stopped)" : "refused");
      damaged |= !st.cut;
      continue;
    }
    n++;
    if (!strcmp(fmt, "json") || !strcmp(fmt, "summary")) out_ok &= print(s, fmt);
    last = s;
  }
  if (!last) {
    xsmem_dprintf(2, "%s: no intact snapshot\n", argv[1]);
    return 1;
  }
  if (strcmp(fmt, "json") && strcmp(fmt, "summary")) out_ok &= print(last, fmt);
  return damaged || !out_ok ? 1 : 0;
}
