// tools/snapshot_load.c: snapshot files into memory, for every subcommand
// that reads them (stats, report, run).
//
// A file holds one bare Snapshot (format 1) or a stream of delimited ones
// (format 2 frames them with checksums). Every intact record is kept; a
// damaged one is reported with its byte offset and left out, and a stream
// cut short (its writer was killed, or the disk filled) is read up to the
// cut. A message that parses but carries no wall clock or pid is some other
// protobuf and is refused.
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "export/snapshot.h"
#include "tools/xsmem.h"

// A collector always stamps the wall clock; a message without it that still
// parsed is some other protobuf (protobuf accepts many byte strings).
static bool plausible(const Xsmem__Snapshot *s) { return s->time_unix_ns != 0 && s->pid > 0; }

// Reports a refused or cut record of path's stream.
static void report_issue(const char *path, const xsmem_snapshot_stream *st, size_t read) {
  if (st->cut) {
    tool_error(
        "%s: byte %zu: %s (its writer stopped: killed, or out of disk space); %zu intact snapshot%s "
        "before it read",
        path, st->error_offset, st->error, read, read == 1 ? "" : "s");
  } else {
    tool_error("%s: byte %zu: %s; refused", path, st->error_offset, st->error);
  }
}

bool tool_snapshot_load(const char *path, tool_snapshot *out) {
  memset(out, 0, sizeof(*out));
  out->path = path;
  xsmem_buf file = XSMEM_BUF_INIT;
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
    tool_error("%s: is a directory, not a snapshot", path);
    return false;
  }
  if (!xsmem_snapshot_read_file(path, &file)) {
    if (errno == EFBIG) {
      tool_error("%s: not a snapshot: larger than %zu MiB, the most xsmem reads", path, XSMEM_SNAPSHOT_MAX_FILE >> 20);
    } else if (errno == EBADMSG) {
      tool_error("%s: not an xsmem snapshot (its first bytes begin neither snapshot format)", path);
    } else {
      tool_error("cannot read snapshot %s: %s", path, strerror(errno));
    }
    xsmem_buf_free(&file);
    return false;
  }
  if (file.len == 0) {
    tool_error("%s: empty file, not a snapshot", path);
    xsmem_buf_free(&file);
    return false;
  }
  if (!xsmem_snapshot_is_framed(file.data, file.len)) {
    // Format 1: one bare Snapshot, else a stream of delimited ones.
    Xsmem__Snapshot *one = xsmem_snapshot_unpack(&out->arena, file.data, file.len);
    if (one && plausible(one)) {
      out->series = calloc(1, sizeof(*out->series));
      out->series[0] = one;
      out->n_series = 1;
      out->last = one;
      xsmem_buf_free(&file);
      return true;
    }
  }
  // A stream: every intact record, each refused or cut one reported.
  xsmem_snapshot_stream stream = {.data = (const uint8_t *)file.data, .len = file.len};
  size_t cap = 0, refused = 0, issues = 0;
  Xsmem__Snapshot *s;
  int r;
  while ((r = xsmem_snapshot_next(&stream, &out->arena, &s)) != 0) {
    if (r == 1 && !plausible(s)) {
      r = -1;
      stream.error = "a protobuf message that is not an xsmem snapshot";
      stream.error_offset = stream.record_offset;
      stream.cut = false;
      if (stream.format == 1) stream.pos = stream.len;  // no checksums: the rest cannot be trusted
    }
    if (r < 0) {
      issues++;
      // A version-1 file that is no stream at all gets one message below.
      if (stream.format == 1 && out->n_series == 0) break;
      report_issue(path, &stream, out->n_series);
      if (!stream.cut) refused++;  // a cut tail is how a killed writer's stream ends, not damage
      continue;
    }
    if (out->n_series == cap) {
      cap = cap ? cap * 2 : 16;
      out->series = realloc(out->series, cap * sizeof(*out->series));
    }
    out->series[out->n_series++] = s;
  }
  xsmem_buf_free(&file);
  out->refused = refused;
  if (out->n_series == 0) {
    if (issues && stream.format == 2) tool_error("%s: no intact snapshot in the file", path);
    else tool_error("%s: not an xsmem snapshot (corrupt or truncated protobuf)", path);
    tool_snapshot_free(out);
    return false;
  }
  out->last = out->series[out->n_series - 1];
  return true;
}

void tool_snapshot_free(tool_snapshot *s) {
  free(s->series);
  xsmem_arena_free(&s->arena);
  s->series = NULL;
  s->n_series = 0;
  s->last = NULL;
}

const Xsmem__Allocator *tool_process_allocator(const Xsmem__Snapshot *s) {
  for (size_t i = 0; i < s->n_allocators; i++)
    if (s->allocators[i]->process_allocator) return s->allocators[i];
  return s->n_allocators ? s->allocators[0] : NULL;
}

double tool_detail(const Xsmem__Allocator *a, const char *group, const char *label, const char *key) {
  for (size_t i = 0; i < a->n_detail; i++) {
    const Xsmem__DetailValue *d = a->detail[i];
    if (!strcmp(d->group, group) && (!label || !strcmp(d->label, label)) && !strcmp(d->key, key)) return d->value;
  }
  return NAN;
}
