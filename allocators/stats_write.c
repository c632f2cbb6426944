// allocators/stats_write.c: an allocator's statistics as text or JSON, in
// one call, without malloc (xsmem_stats_write, allocator.h).
//
// Everything is formatted into a small buffer on the stack and handed to the
// caller's write function piece by piece, so it works inside a preloaded
// malloc, at exit, and with any configuration. The detail op's figures arrive
// in the order the allocator reports them; JSON lists them flat (one object
// per figure) rather than nested by group and label, which would need the
// whole set in memory first.
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "allocators/allocator.h"
#include "platform/log.h"

typedef struct out {
  xsmem_write_fn write;
  void *opaque;
} out;

static void put(out *o, const char *s) { o->write(o->opaque, s, strlen(s)); }

static void putf(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(out *o, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  size_t n = xsmem_vsnprintf(buf, sizeof(buf), fmt, ap);  // cut at 511 bytes: a label is never that long
  va_end(ap);
  o->write(o->opaque, buf, n < sizeof(buf) ? n : sizeof(buf) - 1);
}

// A JSON string: quotes, backslashes and control characters escaped.
static void put_json_string(out *o, const char *s) {
  put(o, "\"");
  const char *run = s;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    o->write(o->opaque, run, (size_t)(s - run));
    putf(o, c == '"' ? "\\\"" : c == '\\' ? "\\\\" : "\\u%04x", c);
    run = s + 1;
  }
  o->write(o->opaque, run, (size_t)(s - run));
  put(o, "\"");
}

// A number: integral values as integers (most figures are counts and bytes),
// others with six decimals (xsmem's formatter has no %g); NaN and infinities,
// which JSON has not, as null.
static void put_number(out *o, double v) {
  if (!isfinite(v)) {
    put(o, "null");
  } else if (v == (double)(long long)v && fabs(v) < 9007199254740992.0) {
    putf(o, "%lld", (long long)v);
  } else {
    putf(o, "%.6f", v);
  }
}

// Formats a byte count with a binary unit into buf.
static const char *human_bytes(char *buf, size_t cap, double v) {
  static const char *const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  unsigned u = 0;
  while (v >= 1024.0 && u + 1 < XSMEM_ARRAY_SIZE(kUnits)) {
    v /= 1024.0;
    u++;
  }
  xsmem_snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", v, kUnits[u]);
  return buf;
}

static void write_text(out *o, const xsmem_allocator *a, const xsmem_stats *s) {
  char h[32];
  putf(o, "xsmem stats: allocator '%s' (%s)\n", a->name, a->ops->kind);
#define XSMEM_STAT_TEXT_uint64_t(name)                                \
  putf(o, "  %-20s %20llu  %s\n", #name, (unsigned long long)s->name, \
       strstr(#name, "bytes") || strstr(#name, "size") ? human_bytes(h, sizeof(h), (double)s->name) : "");
#define XSMEM_STAT_TEXT_double(name) putf(o, "  %-20s %20.4f\n", #name, s->name);
#define XSMEM_STAT_TEXT(type, name, kind, help) XSMEM_STAT_TEXT_##type(name)
  XSMEM_STAT_FIELDS(XSMEM_STAT_TEXT)
#undef XSMEM_STAT_TEXT
#undef XSMEM_STAT_TEXT_double
#undef XSMEM_STAT_TEXT_uint64_t
  // What is held, beside what is reserved (tcmalloc's accounting). Not an
  // identity: bfc and pool keep their bookkeeping outside what they reserve,
  // and reserved address space need not be touched.
  uint64_t held = s->bytes_in_use + s->bytes_cached + s->bytes_metadata;
  char r[32];
  putf(o, "  in use + cached + metadata = %s; reserved address space %s\n", human_bytes(h, sizeof(h), (double)held),
       human_bytes(r, sizeof(r), (double)s->bytes_reserved));
}

// The detail op's figures, as text lines or JSON objects.
typedef struct detail_sink {
  xsmem_stats_sink sink;
  out *o;
  bool json;
  size_t n;
} detail_sink;

static void detail_value(xsmem_stats_sink *sink, const char *group, const char *label, const char *key,
                         const char *kind, double value) {
  detail_sink *d = (detail_sink *)sink;
  out *o = d->o;
  if (!d->json) {
    putf(o, "  %s %s: %s ", group, label, key);
    put_number(o, value);
    put(o, "\n");
  } else {
    put(o, d->n ? ",\n    {\"group\": " : "\n    {\"group\": ");
    put_json_string(o, group);
    put(o, ", \"label\": ");
    put_json_string(o, label);
    put(o, ", \"key\": ");
    put_json_string(o, key);
    put(o, ", \"kind\": ");
    put_json_string(o, kind);
    put(o, ", \"value\": ");
    put_number(o, value);
    put(o, "}");
  }
  d->n++;
}

static void write_json(out *o, const xsmem_allocator *a, const xsmem_stats *s) {
  put(o, "{\"allocator\": ");
  put_json_string(o, a->name);
  put(o, ", \"kind\": ");
  put_json_string(o, a->ops->kind);
  put(o, ",\n  \"stats\": {");
  const char *sep = "";
#define XSMEM_STAT_JSON_uint64_t(name) putf(o, "%s\"%s\": %llu", sep, #name, (unsigned long long)s->name);
#define XSMEM_STAT_JSON_double(name) \
  putf(o, "%s\"%s\": ", sep, #name); \
  put_number(o, s->name);
#define XSMEM_STAT_JSON(type, name, kind, help) XSMEM_STAT_JSON_##type(name) sep = ", ";
  XSMEM_STAT_FIELDS(XSMEM_STAT_JSON)
#undef XSMEM_STAT_JSON
#undef XSMEM_STAT_JSON_double
#undef XSMEM_STAT_JSON_uint64_t
  put(o, "},\n  \"detail\": [");
  detail_sink d = {{detail_value}, o, true, 0};
  if (a->ops->detail) a->ops->detail(a, &d.sink);
  put(o, d.n ? "\n  ]}\n" : "]}\n");
}

int xsmem_stats_write(const xsmem_allocator *a, const char *format, xsmem_write_fn write, void *opaque) {
  bool json = format && strcmp(format, "json") == 0;
  if (!a || !write || (!json && !(format && strcmp(format, "text") == 0))) return EINVAL;
  out o = {write, opaque};
  xsmem_stats s = xsmem_get_stats(a);
  if (json) {
    write_json(&o, a, &s);
    return 0;
  }
  write_text(&o, a, &s);
  if (a->ops->detail) {
    detail_sink d = {{detail_value}, &o, false, 0};
    a->ops->detail(a, &d.sink);
  }
  return 0;
}

static void write_fd(void *opaque, const char *data, size_t len) { xsmem_write_all(*(const int *)opaque, data, len); }

void xsmem_stats_print(int fd, const xsmem_allocator *a) {
  // The table alone, as before: callers print it at exit and in reports.
  out o = {write_fd, &fd};
  xsmem_stats s = xsmem_get_stats(a);
  write_text(&o, a, &s);
}
