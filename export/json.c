// export/json.c: the JSON writer (see format.h).
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "allocators/allocator.h"
#include "export/format.h"
#include "export/snapshot.h"

void xsmem_json_string(xsmem_buf *out, const char *s) {
  static const char hex[] = "0123456789abcdef";
  xsmem_buf_puts(out, "\"");
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  while (*p) {
    const unsigned char *run = p;  // plain characters go in one append
    while (*p && *p != '"' && *p != '\\' && *p >= 0x20 && *p < 0x7f) p++;
    if (p > run) xsmem_buf_append(out, run, (size_t)(p - run));
    if (!*p) break;
    if (*p >= 0x80) {
      // JSON text is UTF-8: a valid sequence goes as it is, an invalid byte
      // (a command line is any bytes) becomes U+FFFD.
      size_t n = xsmem_utf8_len((const char *)p);
      if (n) xsmem_buf_append(out, p, n);
      else xsmem_buf_puts(out, "\\ufffd");
      p += n ? n : 1;
      continue;
    }
    switch (*p) {
      case '"': xsmem_buf_puts(out, "\\\""); break;
      case '\\': xsmem_buf_puts(out, "\\\\"); break;
      case '\n': xsmem_buf_puts(out, "\\n"); break;
      case '\r': xsmem_buf_puts(out, "\\r"); break;
      case '\t': xsmem_buf_puts(out, "\\t"); break;
      default: {
        char e[7] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15], 0};
        xsmem_buf_puts(out, e);
      }
    }
    p++;
  }
  xsmem_buf_puts(out, "\"");
}

// JSON has no NaN or infinity: both are written as null.
static void num(xsmem_buf *out, double v) {
  if (!isfinite(v)) xsmem_buf_puts(out, "null");
  else xsmem_buf_number(out, v, "null", "null");
}

static void key(xsmem_buf *out, const char *k) {
  xsmem_json_string(out, k);
  xsmem_buf_puts(out, ":");
}

static void kv_u64(xsmem_buf *out, const char *k, uint64_t v, bool comma) {
  key(out, k);
  xsmem_buf_printf(out, "%llu%s", (unsigned long long)v, comma ? "," : "");
}

static void stats_object(xsmem_buf *out, const Xsmem__AllocatorStats *st) {
  xsmem_buf_puts(out, "{");
  bool first = true;
  double v;
#define XSMEM_STAT_JSON(type, name, kind, help) \
  if (xsmem_snapshot_stat_get(st, #name, &v)) { \
    if (!first) xsmem_buf_puts(out, ",");       \
    first = false;                              \
    key(out, #name);                            \
    num(out, v);                                \
  }
  XSMEM_STAT_FIELDS(XSMEM_STAT_JSON)
#undef XSMEM_STAT_JSON
  xsmem_buf_puts(out, "}");
}

static void allocator_head(xsmem_buf *out, const Xsmem__Allocator *a) {
  xsmem_buf_puts(out, "{");
  key(out, "name");
  xsmem_json_string(out, a->name);
  xsmem_buf_puts(out, ",");
  key(out, "kind");
  xsmem_json_string(out, a->kind);
  xsmem_buf_puts(out, ",");
  key(out, "config");
  xsmem_json_string(out, a->config);
  xsmem_buf_puts(out, ",");
  key(out, "process_allocator");
  xsmem_buf_puts(out, a->process_allocator ? "true," : "false,");
  key(out, "memory_type");
  xsmem_json_string(out, a->memory_type);
  xsmem_buf_printf(out, ",\"device\":%d,", (int)a->device);
  key(out, "stats");
  stats_object(out, a->stats);
}

// Returns true when no earlier detail value (index < i) satisfies eq.
static bool first_group(const Xsmem__Allocator *a, size_t i) {
  for (size_t j = 0; j < i; j++) {
    if (strcmp(a->detail[j]->group, a->detail[i]->group) == 0) return false;
  }
  return true;
}

static bool first_label(const Xsmem__Allocator *a, size_t i) {
  for (size_t j = 0; j < i; j++) {
    if (strcmp(a->detail[j]->group, a->detail[i]->group) == 0 && strcmp(a->detail[j]->label, a->detail[i]->label) == 0)
      return false;
  }
  return true;
}

static bool first_key(const Xsmem__Allocator *a, size_t i) {
  for (size_t j = 0; j < i; j++) {
    if (strcmp(a->detail[j]->group, a->detail[i]->group) == 0 &&
        strcmp(a->detail[j]->label, a->detail[i]->label) == 0 && strcmp(a->detail[j]->key, a->detail[i]->key) == 0)
      return false;
  }
  return true;
}

// Nests detail values group -> label -> key; a repeated key keeps its first value.
static void detail_object(xsmem_buf *out, const Xsmem__Allocator *a) {
  xsmem_buf_puts(out, "{");
  bool first_g = true;
  for (size_t g = 0; g < a->n_detail; g++) {
    if (!first_group(a, g)) continue;
    const char *group = a->detail[g]->group;
    if (!first_g) xsmem_buf_puts(out, ",");
    first_g = false;
    key(out, group);
    xsmem_buf_puts(out, "{");
    bool first_l = true;
    for (size_t l = g; l < a->n_detail; l++) {
      if (strcmp(a->detail[l]->group, group) != 0 || !first_label(a, l)) continue;
      const char *label = a->detail[l]->label;
      if (!first_l) xsmem_buf_puts(out, ",");
      first_l = false;
      key(out, label);
      xsmem_buf_puts(out, "{");
      bool first_k = true;
      for (size_t k = l; k < a->n_detail; k++) {
        const Xsmem__DetailValue *d = a->detail[k];
        if (strcmp(d->group, group) != 0 || strcmp(d->label, label) != 0 || !first_key(a, k)) continue;
        if (!first_k) xsmem_buf_puts(out, ",");
        first_k = false;
        key(out, d->key);
        num(out, d->value);
      }
      xsmem_buf_puts(out, "}");
    }
    xsmem_buf_puts(out, "}");
  }
  xsmem_buf_puts(out, "}");
}

void xsmem_json_allocator(const Xsmem__Allocator *a, xsmem_buf *out) {
  allocator_head(out, a);
  xsmem_buf_puts(out, ",");
  key(out, "detail");
  detail_object(out, a);
  xsmem_buf_puts(out, "}");
}

void xsmem_json_allocators(const Xsmem__Snapshot *s, xsmem_buf *out) {
  xsmem_buf_puts(out, "[");
  for (size_t i = 0; i < s->n_allocators; i++) {
    if (i) xsmem_buf_puts(out, ",");
    allocator_head(out, s->allocators[i]);
    xsmem_buf_puts(out, "}");
  }
  xsmem_buf_puts(out, "]");
}

static void frames_array(xsmem_buf *out, const uint64_t *f, size_t n) {
  xsmem_buf_puts(out, "[");
  for (size_t i = 0; i < n; i++) xsmem_buf_printf(out, "%s\"0x%llx\"", i ? "," : "", (unsigned long long)f[i]);
  xsmem_buf_puts(out, "]");
}

// Per frame: 1 + its module's index in "modules" (0: none) and its
// link-time address (numbers: below 2^53 in practice).
static void placed_frames(xsmem_buf *out, const uint32_t *mods, size_t n_mods, const uint64_t *offs, size_t n_offs,
                          bool comma) {
  key(out, "frame_modules");
  xsmem_buf_puts(out, "[");
  for (size_t i = 0; i < n_mods; i++) xsmem_buf_printf(out, "%s%u", i ? "," : "", (unsigned)mods[i]);
  xsmem_buf_puts(out, "],");
  key(out, "frame_offsets");
  xsmem_buf_puts(out, "[");
  for (size_t i = 0; i < n_offs; i++) xsmem_buf_printf(out, "%s%llu", i ? "," : "", (unsigned long long)offs[i]);
  xsmem_buf_puts(out, comma ? "]," : "]");
}

void xsmem_json_snapshot(const Xsmem__Snapshot *s, xsmem_buf *out) {
  xsmem_buf_puts(out, "{");
  kv_u64(out, "sequence", s->sequence, true);
  kv_u64(out, "time_unix_ns", s->time_unix_ns, true);
  kv_u64(out, "time_ns", s->time_ns, true);
  key(out, "pid");
  xsmem_buf_printf(out, "%lld,", (long long)s->pid);
  key(out, "cmdline");
  xsmem_json_string(out, s->cmdline);
  xsmem_buf_puts(out, ",");
  key(out, "config");
  xsmem_json_string(out, s->config);
  xsmem_buf_puts(out, ",");
  key(out, "os");
  xsmem_buf_puts(out, "{");
  if (s->os) {
    kv_u64(out, "bytes_reserved", s->os->bytes_reserved, true);
    kv_u64(out, "bytes_committed", s->os->bytes_committed, true);
    kv_u64(out, "num_maps", s->os->num_maps, true);
    kv_u64(out, "num_unmaps", s->os->num_unmaps, false);
  }
  xsmem_buf_puts(out, "},");
  key(out, "allocators");
  xsmem_buf_puts(out, "[");
  for (size_t i = 0; i < s->n_allocators; i++) {
    if (i) xsmem_buf_puts(out, ",");
    xsmem_json_allocator(s->allocators[i], out);
  }
  xsmem_buf_puts(out, "],");
  key(out, "analysis_source");
  xsmem_json_string(out, s->analysis_source);
  xsmem_buf_puts(out, ",");
  key(out, "histogram");
  xsmem_buf_puts(out, "[");
  for (size_t i = 0; i < s->n_histogram; i++) {
    const Xsmem__HistogramBucket *b = s->histogram[i];
    xsmem_buf_puts(out, i ? ",{" : "{");
    kv_u64(out, "lower", b->lower, true);
    kv_u64(out, "upper", b->upper, true);
    kv_u64(out, "count", b->count, true);
    kv_u64(out, "bytes", b->bytes, true);
    kv_u64(out, "live_count", b->live_count, true);
    kv_u64(out, "live_bytes", b->live_bytes, false);
    xsmem_buf_puts(out, "}");
  }
  xsmem_buf_puts(out, "],");
  key(out, "timeline");
  xsmem_buf_puts(out, "[");
  for (size_t i = 0; i < s->n_timeline; i++) {
    const Xsmem__TimelinePoint *p = s->timeline[i];
    xsmem_buf_puts(out, i ? ",{" : "{");
    kv_u64(out, "time_ns", p->time_ns, true);
    kv_u64(out, "bytes_in_use", p->bytes_in_use, true);
    kv_u64(out, "bytes_reserved", p->bytes_reserved, true);
    kv_u64(out, "bytes_committed", p->bytes_committed, true);
    kv_u64(out, "num_allocs", p->num_allocs, true);
    kv_u64(out, "num_frees", p->num_frees, false);
    xsmem_buf_puts(out, "}");
  }
  xsmem_buf_puts(out, "],");
  key(out, "call_sites");
  xsmem_buf_puts(out, "[");
  for (size_t i = 0; i < s->n_call_sites; i++) {
    const Xsmem__CallSite *c = s->call_sites[i];
    xsmem_buf_puts(out, i ? ",{" : "{");
    key(out, "symbol");
    xsmem_json_string(out, c->symbol);
    xsmem_buf_puts(out, ",");
    key(out, "frames");
    frames_array(out, c->frames, c->n_frames);
    xsmem_buf_puts(out, ",");
    placed_frames(out, c->frame_modules, c->n_frame_modules, c->frame_offsets, c->n_frame_offsets, true);
    kv_u64(out, "count", c->count, true);
    kv_u64(out, "bytes", c->bytes, true);
    kv_u64(out, "live_count", c->live_count, true);
    kv_u64(out, "live_bytes", c->live_bytes, false);
    xsmem_buf_puts(out, "}");
  }
  xsmem_buf_puts(out, "],");
  key(out, "leaks");
  xsmem_buf_puts(out, "[");
  for (size_t i = 0; i < s->n_leaks; i++) {
    const Xsmem__Leak *l = s->leaks[i];
    xsmem_buf_puts(out, i ? ",{" : "{");
    key(out, "address");
    xsmem_buf_printf(out, "\"0x%llx\",", (unsigned long long)l->address);
    kv_u64(out, "size", l->size, true);
    kv_u64(out, "count", l->count ? l->count : 1, true);
    key(out, "kind");
    xsmem_json_string(out, l->kind ? l->kind : "");
    xsmem_buf_puts(out, ",");
    key(out, "symbol");
    xsmem_json_string(out, l->symbol);
    xsmem_buf_puts(out, ",");
    key(out, "frames");
    frames_array(out, l->frames, l->n_frames);
    xsmem_buf_puts(out, ",");
    placed_frames(out, l->frame_modules, l->n_frame_modules, l->frame_offsets, l->n_frame_offsets, false);
    xsmem_buf_puts(out, "}");
  }
  xsmem_buf_puts(out, "],");
  key(out, "modules");
  xsmem_buf_puts(out, "[");
  for (size_t i = 0; i < s->n_modules; i++) {
    const Xsmem__Module *m = s->modules[i];
    xsmem_buf_puts(out, i ? ",{" : "{");
    key(out, "path");
    xsmem_json_string(out, m->path);
    xsmem_buf_puts(out, ",");
    key(out, "build_id");
    xsmem_json_string(out, m->build_id);
    xsmem_buf_puts(out, ",");
    kv_u64(out, "load_bias", m->load_bias, false);
    xsmem_buf_puts(out, "}");
  }
  xsmem_buf_puts(out, "],");
  key(out, "alerts");
  xsmem_buf_puts(out, "[");
  for (size_t i = 0; i < s->n_alerts; i++) {
    const Xsmem__Alert *a = s->alerts[i];
    xsmem_buf_puts(out, i ? ",{" : "{");
    key(out, "name");
    xsmem_json_string(out, a->name);
    xsmem_buf_puts(out, ",");
    key(out, "allocator");
    xsmem_json_string(out, a->allocator);
    xsmem_buf_puts(out, ",");
    key(out, "value");
    num(out, a->value);
    xsmem_buf_puts(out, ",");
    key(out, "threshold");
    num(out, a->threshold);
    xsmem_buf_puts(out, ",");
    key(out, "active");
    xsmem_buf_puts(out, a->active ? "true," : "false,");
    kv_u64(out, "raised_count", a->raised_count, true);
    key(out, "recommendation");
    xsmem_json_string(out, a->recommendation);
    xsmem_buf_puts(out, "}");
  }
  xsmem_buf_puts(out, "]}");
}
