// export/snapshot.c: collecting, packing and reading snapshots (see snapshot.h).
#include "export/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "allocators/registry.h"
#include "export/monitor.h"
#include "export/output.h"
#include "export/provider.h"
#include "platform/atomics.h"
#include "platform/log.h"
#include "platform/os_vm.h"

static xsmem_allocator *g_added[XSMEM_EXPORT_MAX_ALLOCATORS];
static _Atomic size_t g_num_added;
static _Atomic uint64_t g_sequence;

bool xsmem_export_add_allocator(xsmem_allocator *a) {
  size_t i = atomic_fetch_add(&g_num_added, 1);
  if (i >= XSMEM_EXPORT_MAX_ALLOCATORS) {
    atomic_fetch_sub(&g_num_added, 1);
    return false;
  }
  g_added[i] = a;
  return true;
}

size_t xsmem_export_observed(xsmem_observed *out, size_t max) {
  xsmem_allocator *proc = xsmem_process_allocator();
  size_t n = 0;
  for (size_t i = 0; i < xsmem_config_count() && n < max; i++) {
    const xsmem_config *c = xsmem_config_at(i);
    xsmem_allocator *a = c->instance();
    if (!a) continue;
    out[n++] = (xsmem_observed){a, c->name, a == proc};
  }
  size_t added = atomic_load(&g_num_added);
  if (added > XSMEM_EXPORT_MAX_ALLOCATORS) added = XSMEM_EXPORT_MAX_ALLOCATORS;
  for (size_t i = 0; i < added && n < max; i++) {
    if (!g_added[i]) continue;
    out[n++] = (xsmem_observed){g_added[i], "", g_added[i] == proc};
  }
  return n;
}

// ---------------------------------------------------------------------------
// Growable arrays of message pointers in the arena.

static bool push(xsmem_arena *ar, void ***items, size_t *n, size_t *cap, void *item) {
  if (!item) return false;
  if (*n == *cap) {
    size_t ncap = *cap ? *cap * 2 : 8;
    void **p = xsmem_arena_alloc(ar, ncap * sizeof(void *));
    if (!p) return false;
    if (*n) memcpy(p, *items, *n * sizeof(void *));
    *items = p;
    *cap = ncap;
  }
  (*items)[(*n)++] = item;
  return true;
}

#define PUSH(ar, arr, n, cap, item) push((ar), (void ***)&(arr), &(n), &(cap), (item))

static uint64_t *copy_frames(xsmem_arena *ar, const uint64_t *f, size_t n) {
  if (!n) return NULL;
  uint64_t *p = xsmem_arena_alloc(ar, n * sizeof(uint64_t));
  if (p) memcpy(p, f, n * sizeof(uint64_t));
  return p;
}

// ---------------------------------------------------------------------------
// AllocatorStats through the descriptor, driven by XSMEM_STAT_FIELDS.

static const ProtobufCFieldDescriptor *stat_field(const char *name) {
  return protobuf_c_message_descriptor_get_field_by_name(&xsmem__allocator_stats__descriptor, name);
}

bool xsmem_snapshot_stat_present(const char *name) {
  const ProtobufCFieldDescriptor *f = stat_field(name);
  return f && f->label != PROTOBUF_C_LABEL_REPEATED &&
         (f->type == PROTOBUF_C_TYPE_UINT64 || f->type == PROTOBUF_C_TYPE_DOUBLE);
}

static void stat_set(Xsmem__AllocatorStats *st, const char *name, double dv, uint64_t uv) {
  if (!xsmem_snapshot_stat_present(name)) return;  // snapshot_test keeps the proto complete
  const ProtobufCFieldDescriptor *f = stat_field(name);
  char *at = (char *)st + f->offset;
  if (f->type == PROTOBUF_C_TYPE_UINT64) memcpy(at, &uv, sizeof(uv));
  else memcpy(at, &dv, sizeof(dv));
}

bool xsmem_snapshot_stat_get(const Xsmem__AllocatorStats *st, const char *name, double *value) {
  if (!st || !xsmem_snapshot_stat_present(name)) return false;
  const ProtobufCFieldDescriptor *f = stat_field(name);
  const char *at = (const char *)st + f->offset;
  if (f->type == PROTOBUF_C_TYPE_UINT64) {
    uint64_t u;
    memcpy(&u, at, sizeof(u));
    *value = (double)u;
  } else {
    memcpy(value, at, sizeof(*value));
  }
  return true;
}

static Xsmem__AllocatorStats *stats_message(xsmem_arena *ar, const xsmem_stats *s) {
  Xsmem__AllocatorStats *st = xsmem_arena_alloc(ar, sizeof(*st));
  if (!st) return NULL;
  xsmem__allocator_stats__init(st);
#define XSMEM_STAT_SET(type, name, kind, help) \
  stat_set(st, #name, (double)s->name, (uint64_t)s->name);
  XSMEM_STAT_FIELDS(XSMEM_STAT_SET)
#undef XSMEM_STAT_SET
  return st;
}

// ---------------------------------------------------------------------------
// Detail values.

typedef struct detail_sink {
  xsmem_stats_sink base;
  xsmem_arena *arena;
  Xsmem__Allocator *msg;
  size_t cap;
} detail_sink;

static void detail_value(xsmem_stats_sink *sink, const char *group, const char *label,
                         const char *key, const char *kind, double value) {
  detail_sink *d = (detail_sink *)sink;
  Xsmem__DetailValue *v = xsmem_arena_alloc(d->arena, sizeof(*v));
  if (!v) return;
  xsmem__detail_value__init(v);
  v->group = xsmem_arena_strdup(d->arena, group);
  v->label = xsmem_arena_strdup(d->arena, label);
  v->key = xsmem_arena_strdup(d->arena, key);
  v->counter = kind && strcmp(kind, "counter") == 0;
  v->value = value;
  if (!v->group || !v->label || !v->key) return;
  PUSH(d->arena, d->msg->detail, d->msg->n_detail, d->cap, v);
}

// ---------------------------------------------------------------------------
// Provider sections.

typedef struct analysis_sink {
  xsmem_analysis_sink base;
  xsmem_arena *arena;
  Xsmem__Snapshot *s;
  size_t cap_hist, cap_time, cap_sites, cap_leaks;
} analysis_sink;

static void on_bucket(xsmem_analysis_sink *sink, const xsmem_hist_bucket *b) {
  analysis_sink *a = (analysis_sink *)sink;
  Xsmem__HistogramBucket *m = xsmem_arena_alloc(a->arena, sizeof(*m));
  if (!m) return;
  xsmem__histogram_bucket__init(m);
  m->lower = b->lower;
  m->upper = b->upper;
  m->count = b->count;
  m->bytes = b->bytes;
  m->live_count = b->live_count;
  m->live_bytes = b->live_bytes;
  PUSH(a->arena, a->s->histogram, a->s->n_histogram, a->cap_hist, m);
}

static void on_point(xsmem_analysis_sink *sink, const xsmem_timeline_point *p) {
  analysis_sink *a = (analysis_sink *)sink;
  Xsmem__TimelinePoint *m = xsmem_arena_alloc(a->arena, sizeof(*m));
  if (!m) return;
  xsmem__timeline_point__init(m);
  m->time_ns = p->time_ns;
  m->bytes_in_use = p->bytes_in_use;
  m->bytes_reserved = p->bytes_reserved;
  m->num_allocs = p->num_allocs;
  m->num_frees = p->num_frees;
  PUSH(a->arena, a->s->timeline, a->s->n_timeline, a->cap_time, m);
}

static void on_call_site(xsmem_analysis_sink *sink, const xsmem_call_site *c) {
  analysis_sink *a = (analysis_sink *)sink;
  if (a->s->n_call_sites >= XSMEM_EXPORT_TOP_CALL_SITES) return;
  Xsmem__CallSite *m = xsmem_arena_alloc(a->arena, sizeof(*m));
  if (!m) return;
  xsmem__call_site__init(m);
  m->frames = copy_frames(a->arena, c->frames, c->num_frames);
  m->n_frames = m->frames ? c->num_frames : 0;
  m->symbol = xsmem_arena_strdup(a->arena, c->symbol);
  if (!m->symbol) return;
  m->count = c->count;
  m->bytes = c->bytes;
  m->live_count = c->live_count;
  m->live_bytes = c->live_bytes;
  PUSH(a->arena, a->s->call_sites, a->s->n_call_sites, a->cap_sites, m);
}

static void on_leak(xsmem_analysis_sink *sink, const xsmem_leak *l) {
  analysis_sink *a = (analysis_sink *)sink;
  if (a->s->n_leaks >= XSMEM_EXPORT_MAX_LEAKS) return;
  Xsmem__Leak *m = xsmem_arena_alloc(a->arena, sizeof(*m));
  if (!m) return;
  xsmem__leak__init(m);
  m->address = l->address;
  m->size = l->size;
  m->count = l->count;
  m->frames = copy_frames(a->arena, l->frames, l->num_frames);
  m->n_frames = m->frames ? l->num_frames : 0;
  m->symbol = xsmem_arena_strdup(a->arena, l->symbol);
  if (!m->symbol) return;
  PUSH(a->arena, a->s->leaks, a->s->n_leaks, a->cap_leaks, m);
}

// ---------------------------------------------------------------------------
// Collection.

static uint64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// Reads /proc/self/cmdline into the arena, arguments joined by spaces. Read
// once per process (a fork child keeps its parent's, which exec replaces).
static char *read_cmdline(xsmem_arena *ar) {
  static char tmp[4096];
  static _Atomic int done;
  static xsmem_spinlock lock;
  if (atomic_load_explicit(&done, memory_order_acquire)) return xsmem_arena_strdup(ar, tmp);
  xsmem_spin_lock(&lock);
  if (atomic_load(&done)) {
    xsmem_spin_unlock(&lock);
    return xsmem_arena_strdup(ar, tmp);
  }
  size_t n = 0;
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t r;
    while (n < sizeof(tmp) - 1 && (r = read(fd, tmp + n, sizeof(tmp) - 1 - n)) > 0) n += (size_t)r;
    close(fd);
  }
  while (n > 0 && tmp[n - 1] == '\0') n--;
  for (size_t i = 0; i < n; i++) {
    if (tmp[i] == '\0') tmp[i] = ' ';
  }
  tmp[n] = '\0';
  atomic_store_explicit(&done, 1, memory_order_release);
  xsmem_spin_unlock(&lock);
  return xsmem_arena_strdup(ar, tmp);
}

static Xsmem__Allocator *allocator_message(xsmem_arena *ar, const xsmem_observed *o) {
  Xsmem__Allocator *m = xsmem_arena_alloc(ar, sizeof(*m));
  if (!m) return NULL;
  xsmem__allocator__init(m);
  xsmem_allocator *a = o->allocator;
  m->name = xsmem_arena_strdup(ar, a->name ? a->name : "");
  m->kind = xsmem_arena_strdup(ar, a->ops->kind ? a->ops->kind : "");
  m->config = xsmem_arena_strdup(ar, o->config);
  m->process_allocator = o->process;
  xsmem_stats s = xsmem_get_stats(a);
  m->stats = stats_message(ar, &s);
  if (a->ops->detail) {
    detail_sink d = {{detail_value}, ar, m, 0};
    a->ops->detail(a, &d.base);
  }
  if (!m->name || !m->kind || !m->config || !m->stats) return NULL;
  return m;
}

static size_t monitor_alert_messages(xsmem_arena *ar, Xsmem__Snapshot *s) {
  xsmem_alert_state st[XSMEM_MONITOR_MAX_ALERTS];
  size_t n = xsmem_monitor_alerts(st, XSMEM_MONITOR_MAX_ALERTS), cap = 0;
  for (size_t i = 0; i < n; i++) {
    Xsmem__Alert *m = xsmem_arena_alloc(ar, sizeof(*m));
    if (!m) break;
    xsmem__alert__init(m);
    m->name = xsmem_arena_strdup(ar, st[i].name);
    m->allocator = xsmem_arena_strdup(ar, st[i].allocator);
    m->recommendation = xsmem_arena_strdup(ar, st[i].recommendation);
    m->value = st[i].value;
    m->threshold = st[i].threshold;
    m->active = st[i].active;
    m->raised_count = st[i].raised_count;
    if (!m->name || !m->allocator || !m->recommendation) break;
    PUSH(ar, s->alerts, s->n_alerts, cap, m);
  }
  return s->n_alerts;
}

Xsmem__Snapshot *xsmem_snapshot_collect(xsmem_arena *ar) {
  bool was_observer = xsmem_export_observer_thread();
  xsmem_export_set_observer_thread(true);
  Xsmem__Snapshot *s = xsmem_arena_alloc(ar, sizeof(*s));
  if (!s) goto fail;
  xsmem__snapshot__init(s);
  s->sequence = atomic_fetch_add(&g_sequence, 1);
  s->time_unix_ns = clock_ns(CLOCK_REALTIME);
  s->time_ns = clock_ns(CLOCK_MONOTONIC);
  s->pid = getpid();
  s->cmdline = read_cmdline(ar);
  s->config = xsmem_arena_strdup(ar, "");
  if (!s->cmdline || !s->config) goto fail;

  xsmem_observed obs[XSMEM_EXPORT_MAX_ALLOCATORS + 1];
  size_t n = xsmem_export_observed(obs, XSMEM_EXPORT_MAX_ALLOCATORS + 1), cap = 0;
  for (size_t i = 0; i < n; i++) {
    Xsmem__Allocator *m = allocator_message(ar, &obs[i]);
    if (!PUSH(ar, s->allocators, s->n_allocators, cap, m)) goto fail;
    if (obs[i].process && obs[i].config[0]) s->config = m->config;
  }

  Xsmem__OsCounters *os = xsmem_arena_alloc(ar, sizeof(*os));
  if (!os) goto fail;
  xsmem__os_counters__init(os);
  xsmem_os_stats vm;
  xsmem_os_counters(&vm);
  os->bytes_reserved = vm.bytes_reserved;
  os->bytes_committed = vm.bytes_committed;
  os->num_maps = vm.num_maps;
  os->num_unmaps = vm.num_unmaps;
  s->os = os;

  analysis_sink as = {{on_bucket, on_point, on_call_site, on_leak}, ar, s, 0, 0, 0, 0};
  const xsmem_analysis_provider *p = xsmem_export_provider();
  s->analysis_source = xsmem_arena_strdup(ar, p && p->name ? p->name : "");
  if (!s->analysis_source) goto fail;
  // The sampler's timeline (regular, with bytes reserved) when it runs; the
  // provider's otherwise.
  xsmem_monitor_timeline(&as.base);
  if (p) {
    if (p->histogram) p->histogram(p->ctx, &as.base);
    if (p->timeline && s->n_timeline < 2) {
      s->n_timeline = 0;
      p->timeline(p->ctx, &as.base);
    }
    if (p->call_sites) p->call_sites(p->ctx, XSMEM_EXPORT_TOP_CALL_SITES, &as.base);
    if (p->leaks) p->leaks(p->ctx, XSMEM_EXPORT_MAX_LEAKS, &as.base);
  }
  monitor_alert_messages(ar, s);
  if (ar->failed) goto fail;
  xsmem_export_set_observer_thread(was_observer);
  return s;
fail:
  xsmem_export_set_observer_thread(was_observer);
  errno = ENOMEM;
  return NULL;
}

const Xsmem__Allocator *xsmem_snapshot_find(const Xsmem__Snapshot *s, const char *name) {
  for (size_t i = 0; i < s->n_allocators; i++) {
    if (strcmp(s->allocators[i]->name, name) == 0) return s->allocators[i];
  }
  return NULL;
}

// ---------------------------------------------------------------------------
// Binary forms.

bool xsmem_snapshot_pack(const Xsmem__Snapshot *s, bool delimited, xsmem_buf *out) {
  size_t n = xsmem__snapshot__get_packed_size(s);
  if (!xsmem_buf_reserve(out, n + 10)) return false;
  if (delimited) {
    uint8_t v[10];
    size_t k = 0;
    uint64_t x = n;
    do {
      v[k++] = (uint8_t)((x & 0x7f) | (x > 0x7f ? 0x80 : 0));
      x >>= 7;
    } while (x);
    xsmem_buf_append(out, v, k);
  }
  size_t got = xsmem__snapshot__pack(s, (uint8_t *)out->data + out->len);
  out->len += got;
  out->data[out->len] = '\0';
  return got == n;
}

enum { EXPORT_WAIT_MS = 2000 };  // the exporter's bound on a FIFO without a reader

bool xsmem_snapshot_write_file_ex(const char *path, const Xsmem__Snapshot *s, int wait_ms, char *why,
                                  size_t why_cap) {
  xsmem_buf b = XSMEM_BUF_INIT;
  if (!xsmem_snapshot_pack(s, false, &b)) {
    xsmem_buf_free(&b);
    if (why) xsmem_snprintf(why, why_cap, "cannot write %s: %s", path, xsmem_strerror(ENOMEM));
    errno = ENOMEM;
    return false;
  }
  bool ok = xsmem_output_write(path, b.data, b.len, wait_ms, why, why_cap);
  int err = errno;
  xsmem_buf_free(&b);
  errno = err;
  return ok;
}

bool xsmem_snapshot_write_file(const char *path, const Xsmem__Snapshot *s) {
  return xsmem_snapshot_write_file_ex(path, s, EXPORT_WAIT_MS, NULL, 0);
}

bool xsmem_snapshot_append_file_ex(const char *path, const Xsmem__Snapshot *s, int wait_ms, char *why,
                                   size_t why_cap) {
  bool regular, empty;
  int fd = xsmem_output_append_open(path, wait_ms, &regular, &empty, why, why_cap);
  if (fd < 0) return false;
  xsmem_buf b = XSMEM_BUF_INIT;
  bool ok = xsmem_snapshot_pack(s, true, &b);
  if (!ok) errno = ENOMEM;
  // One write: O_APPEND keeps a record whole against other appenders.
  ok = ok && xsmem_output_write_fd(fd, b.data, b.len, wait_ms);
  int err = errno;
  if (close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  xsmem_buf_free(&b);
  if (!ok && why) xsmem_snprintf(why, why_cap, "cannot write %s: %s", path, xsmem_strerror(err));
  errno = err;
  return ok;
}

bool xsmem_snapshot_append_file(const char *path, const Xsmem__Snapshot *s) {
  return xsmem_snapshot_append_file_ex(path, s, EXPORT_WAIT_MS, NULL, 0);
}

bool xsmem_read_file(const char *path, xsmem_buf *out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  for (;;) {
    if (!xsmem_buf_reserve(out, 64 * 1024)) { close(fd); errno = ENOMEM; return false; }
    ssize_t r = read(fd, out->data + out->len, out->cap - out->len - 1);
    if (r < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      errno = err;
      return false;
    }
    if (r == 0) break;
    out->len += (size_t)r;
  }
  out->data[out->len] = '\0';
  close(fd);
  return true;
}

Xsmem__Snapshot *xsmem_snapshot_unpack(xsmem_arena *arena, const void *data, size_t len) {
  ProtobufCAllocator pa = xsmem_arena_pb(arena);
  Xsmem__Snapshot *s = xsmem__snapshot__unpack(&pa, len, data);
  if (!s) errno = EBADMSG;
  return s;
}

int xsmem_snapshot_next(xsmem_snapshot_stream *st, xsmem_arena *arena, Xsmem__Snapshot **out) {
  *out = NULL;
  if (st->pos >= st->len) return 0;
  uint64_t n = 0;
  int shift = 0;
  for (;;) {
    if (st->pos >= st->len || shift > 63) { errno = EBADMSG; return -1; }
    uint8_t c = st->data[st->pos++];
    n |= (uint64_t)(c & 0x7f) << shift;
    shift += 7;
    if (!(c & 0x80)) break;
  }
  if (n > st->len - st->pos) { errno = EBADMSG; return -1; }
  Xsmem__Snapshot *s = xsmem_snapshot_unpack(arena, st->data + st->pos, (size_t)n);
  if (!s) return -1;
  st->pos += (size_t)n;
  *out = s;
  return 1;
}
