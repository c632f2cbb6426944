// export/snapshot.c: collecting, packing and reading snapshots (see snapshot.h).
#include "export/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "allocators/registry.h"
#include "export/monitor.h"
#include "export/output.h"
#include "export/provider.h"
#include "platform/atomics.h"
#include "platform/log.h"
#include "platform/os_vm.h"
#include "tracking/symbolizer.h"

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
    xsmem_allocator *a = xsmem_config_instance(c);
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
#define XSMEM_STAT_SET(type, name, kind, help) stat_set(st, #name, (double)s->name, (uint64_t)s->name);
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

static void detail_value(xsmem_stats_sink *sink, const char *group, const char *label, const char *key,
                         const char *kind, double value) {
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
  m->bytes_committed = p->bytes_committed;
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
  if (l->kind && *l->kind && !(m->kind = xsmem_arena_strdup(a->arena, l->kind))) return;
  PUSH(a->arena, a->s->leaks, a->s->n_leaks, a->cap_leaks, m);
}

// ---------------------------------------------------------------------------
// Modules: every frame of the call sites and leaks as (module, link-time
// address), and each module that holds one with its path, build-id and load
// bias, so that a tool can name the frames from the files (and their debug
// files) after the process is gone, in the format of tracking/symbolizer.h.

typedef struct code_range {
  uintptr_t start, end;  // an executable PT_LOAD segment, run-time addresses
  unsigned module;       // index into the loaded-module table
} code_range;

typedef struct loaded_module {
  const char *name;  // the loader's (the executable: "")
  uintptr_t bias;
  const ElfW(Phdr) * phdr;
  unsigned phnum;
  uint32_t index;  // 1 + its index in Snapshot.modules; 0 until a frame uses it
} loaded_module;

typedef struct module_scan {
  xsmem_arena *ar;
  loaded_module *mods;
  size_t n_mods, cap_mods;
  code_range *ranges;
  size_t n_ranges, cap_ranges;
} module_scan;

static int scan_module(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  module_scan *m = data;
  if (m->n_mods == m->cap_mods) return 1;
  unsigned idx = (unsigned)m->n_mods++;
  m->mods[idx] =
      (loaded_module){info->dlpi_name ? info->dlpi_name : "", info->dlpi_addr, info->dlpi_phdr, info->dlpi_phnum, 0};
  for (unsigned i = 0; i < info->dlpi_phnum && m->n_ranges < m->cap_ranges; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
    uintptr_t start = info->dlpi_addr + ph->p_vaddr;
    m->ranges[m->n_ranges++] = (code_range){start, start + ph->p_memsz, idx};
  }
  return 0;
}

// The Module message of loaded module lm.
static Xsmem__Module *module_message(xsmem_arena *ar, const loaded_module *lm) {
  Xsmem__Module *mm = xsmem_arena_alloc(ar, sizeof(*mm));
  if (!mm) return NULL;
  xsmem__module__init(mm);
  char self[512];
  const char *path = lm->name;
  if (!path[0]) {  // the executable
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[n > 0 ? n : 0] = 0;
    path = self;
  }
  mm->path = xsmem_arena_strdup(ar, path);
  mm->load_bias = lm->bias;
  uint8_t id[XSMEM_BUILD_ID_MAX];
  size_t idn = 0;
  for (unsigned i = 0; i < lm->phnum && !idn; i++) {
    const ElfW(Phdr) *ph = &lm->phdr[i];
    if (ph->p_type == PT_NOTE) {
      idn = xsmem_notes_build_id((const uint8_t *)(lm->bias + ph->p_vaddr), ph->p_memsz, id, sizeof(id));
    }
  }
  char hex[2 * XSMEM_BUILD_ID_MAX + 1];
  for (size_t i = 0; i < idn; i++) {
    static const char kHex[] = "0123456789abcdef";
    hex[2 * i] = kHex[id[i] >> 4];
    hex[2 * i + 1] = kHex[id[i] & 15];
  }
  hex[2 * idn] = 0;
  mm->build_id = xsmem_arena_strdup(ar, hex);
  return mm->path && mm->build_id ? mm : NULL;
}

// Fills mods/offs (n each) for frames; adds the modules they use to s.
static bool place_frames(module_scan *m, Xsmem__Snapshot *s, size_t *cap, const uint64_t *frames, size_t n,
                         uint32_t **mods_out, uint64_t **offs_out) {
  if (!n) return true;
  uint32_t *mods = xsmem_arena_alloc(m->ar, n * sizeof(uint32_t));
  uint64_t *offs = xsmem_arena_alloc(m->ar, n * sizeof(uint64_t));
  if (!mods || !offs) return false;
  for (size_t i = 0; i < n; i++) {
    mods[i] = 0;
    offs[i] = frames[i];
    // A return address may end its segment (a call to a noreturn function
    // last): place frames[i] - 1, the call.
    uintptr_t at = (uintptr_t)frames[i] - 1;
    for (size_t r = 0; r < m->n_ranges; r++) {
      if (at < m->ranges[r].start || at >= m->ranges[r].end) continue;
      loaded_module *lm = &m->mods[m->ranges[r].module];
      if (!lm->index) {
        if (!PUSH(m->ar, s->modules, s->n_modules, *cap, module_message(m->ar, lm))) return false;
        lm->index = (uint32_t)s->n_modules;
      }
      mods[i] = lm->index;
      offs[i] = frames[i] - lm->bias;
      break;
    }
  }
  *mods_out = mods;
  *offs_out = offs;
  return true;
}

static bool attach_modules(xsmem_arena *ar, Xsmem__Snapshot *s) {
  if (!s->n_call_sites && !s->n_leaks) return true;
  module_scan m = {ar, NULL, 0, 1024, NULL, 0, 4096};
  m.mods = xsmem_arena_alloc(ar, m.cap_mods * sizeof(loaded_module));
  m.ranges = xsmem_arena_alloc(ar, m.cap_ranges * sizeof(code_range));
  if (!m.mods || !m.ranges) return false;
  dl_iterate_phdr(scan_module, &m);
  size_t cap = 0;
  for (size_t i = 0; i < s->n_call_sites; i++) {
    Xsmem__CallSite *c = s->call_sites[i];
    if (!place_frames(&m, s, &cap, c->frames, c->n_frames, &c->frame_modules, &c->frame_offsets)) return false;
    c->n_frame_modules = c->n_frame_offsets = c->frame_modules ? c->n_frames : 0;
  }
  for (size_t i = 0; i < s->n_leaks; i++) {
    Xsmem__Leak *l = s->leaks[i];
    if (!place_frames(&m, s, &cap, l->frames, l->n_frames, &l->frame_modules, &l->frame_offsets)) return false;
    l->n_frame_modules = l->n_frame_offsets = l->frame_modules ? l->n_frames : 0;
  }
  return true;
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
  // The memory type an allocator reports in its detail (allocator.h), else host memory.
  const char *type = "host_pageable";
  m->device = -1;
  for (size_t i = 0; i < m->n_detail; i++) {
    if (strcmp(m->detail[i]->group, "memory") != 0) continue;
    type = m->detail[i]->label;
    if (strcmp(m->detail[i]->key, "device") == 0) m->device = (int32_t)m->detail[i]->value;
  }
  m->memory_type = xsmem_arena_strdup(ar, type);
  if (!m->name || !m->kind || !m->config || !m->stats || !m->memory_type) return NULL;
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
  if (!attach_modules(ar, s)) goto fail;
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
// Binary forms (see snapshot.h for the layout).

static const uint8_t kFileMagic[8] = {0x89, 'X', 'S', 'M', 'E', 'M', '\r', '\n'};
static const uint8_t kRecordMarker[4] = {0xc7, 'X', 'S', 'R'};

// CRC32C (Castagnoli, reflected polynomial 0x82f63b78), one table lookup per byte.
static const uint32_t kCrc32c[256] = {
    0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c, 0x26a1e7e8, 0xd4ca64eb, 0x8ad958cf,
    0x78b2dbcc, 0x6be22838, 0x9989ab3b, 0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24, 0x105ec76f, 0xe235446c,
    0xf165b798, 0x030e349b, 0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384, 0x9a879fa0, 0x68ec1ca3, 0x7bbcef57,
    0x89d76c54, 0x5d1d08bf, 0xaf768bbc, 0xbc267848, 0x4e4dfb4b, 0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
    0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35, 0xaa64d611, 0x580f5512, 0x4b5fa6e6, 0xb93425e5, 0x6dfe410e,
    0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa, 0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad,
    0x1642ae59, 0xe4292d5a, 0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a, 0x7da08661, 0x8fcb0562, 0x9c9bf696,
    0x6ef07595, 0x417b1dbc, 0xb3109ebf, 0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
    0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c, 0xfe53516f, 0xed03a29b, 0x1f682198, 0x5125dad3,
    0xa34e59d0, 0xb01eaa24, 0x42752927, 0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38, 0xdbfc821c, 0x2997011f,
    0x3ac7f2eb, 0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7, 0x61c69362, 0x93ad1061, 0x80fde395,
    0x72966096, 0xa65c047d, 0x5437877e, 0x4767748a, 0xb50cf789, 0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
    0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46, 0x7198540d, 0x83f3d70e, 0x90a324fa, 0x62c8a7f9, 0xb602c312,
    0x44694011, 0x5739b3e5, 0xa55230e6, 0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de,
    0xdde0eb2a, 0x2f8b6829, 0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c, 0x456cac67, 0xb7072f64, 0xa457dc90,
    0x563c5f93, 0x082f63b7, 0xfa44e0b4, 0xe9141340, 0x1b7f9043, 0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
    0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3, 0x55326b08, 0xa759e80b, 0xb4091bff, 0x466298fc, 0x1871a4d8,
    0xea1a27db, 0xf94ad42f, 0x0b21572c, 0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033, 0xa24bb5a6, 0x502036a5,
    0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d, 0x2892ed69, 0xdaf96e6a, 0xc9a99d9e,
    0x3bc21e9d, 0xef087a76, 0x1d63f975, 0x0e330a81, 0xfc588982, 0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
    0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622, 0x38cc2a06, 0xcaa7a905, 0xd9f75af1, 0x2b9cd9f2, 0xff56bd19,
    0x0d3d3e1a, 0x1e6dcdee, 0xec064eed, 0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530, 0x0417b1db, 0xf67c32d8,
    0xe52cc12c, 0x1747422f, 0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff, 0x8ecee914, 0x7ca56a17, 0x6ff599e3,
    0x9d9e1ae0, 0xd3d3e1ab, 0x21b862a8, 0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
    0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78, 0x7fab5e8c, 0x8dc0dd8f, 0xe330a81a,
    0x115b2b19, 0x020bd8ed, 0xf0605bee, 0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1, 0x69e9f0d5, 0x9b8273d6,
    0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e, 0xf36e6f75, 0x0105ec76, 0x12551f82,
    0xe03e9c81, 0x34f4f86a, 0xc69f7b69, 0xd5cf889d, 0x27a40b9e, 0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
    0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

uint32_t xsmem_crc32c(uint32_t crc, const void *data, size_t n) {
  const uint8_t *p = data;
  crc = ~crc;
  for (size_t i = 0; i < n; i++) crc = kCrc32c[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void xsmem_snapshot_file_header(xsmem_buf *out) {
  uint8_t h[XSMEM_SNAPSHOT_FILE_HEADER];
  memcpy(h, kFileMagic, 8);
  put_u32(h + 8, XSMEM_SNAPSHOT_FORMAT_VERSION);
  put_u32(h + 12, xsmem_crc32c(0, h, 12));
  xsmem_buf_append(out, h, sizeof(h));
}

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

bool xsmem_snapshot_pack_record(const Xsmem__Snapshot *s, xsmem_buf *out) {
  size_t n = xsmem__snapshot__get_packed_size(s);
  if (n > XSMEM_SNAPSHOT_MAX_RECORD) {  // no reader would accept it
    errno = EFBIG;
    return false;
  }
  if (!xsmem_buf_reserve(out, XSMEM_SNAPSHOT_RECORD_HEADER + n)) {
    errno = ENOMEM;
    return false;
  }
  uint8_t *h = (uint8_t *)out->data + out->len;
  uint8_t *payload = h + XSMEM_SNAPSHOT_RECORD_HEADER;
  size_t got = xsmem__snapshot__pack(s, payload);
  if (got != n) {
    errno = EINVAL;
    return false;
  }
  memcpy(h, kRecordMarker, 4);
  put_u32(h + 4, (uint32_t)n);
  put_u32(h + 8, xsmem_crc32c(0, payload, n));
  put_u32(h + 12, xsmem_crc32c(0, h, 12));
  out->len += XSMEM_SNAPSHOT_RECORD_HEADER + n;
  out->data[out->len] = '\0';
  return true;
}

enum { EXPORT_WAIT_MS = 2000 };  // the exporter's bound on a FIFO without a reader

bool xsmem_snapshot_write_file_ex(const char *path, const Xsmem__Snapshot *s, int wait_ms, char *why, size_t why_cap) {
  xsmem_buf b = XSMEM_BUF_INIT;
  xsmem_snapshot_file_header(&b);
  if (!xsmem_snapshot_pack_record(s, &b)) {
    int err = errno;
    xsmem_buf_free(&b);
    if (why) xsmem_snprintf(why, why_cap, "cannot write %s: %s", path, xsmem_strerror(err));
    errno = err;
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

bool xsmem_snapshot_append_file_ex(const char *path, const Xsmem__Snapshot *s, int wait_ms, char *why, size_t why_cap) {
  bool regular, empty;
  int fd = xsmem_output_append_open(path, wait_ms, &regular, &empty, why, why_cap);
  if (fd < 0) return false;
  // A new file starts with the file header; so does every write to a pipe or
  // device (a reader may join at any write; readers skip repeated headers).
  xsmem_buf b = XSMEM_BUF_INIT;
  if (empty || !regular) xsmem_snapshot_file_header(&b);
  bool ok = xsmem_snapshot_pack_record(s, &b);
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

// Returns false when data[0..len) (the first bytes of a file, or all of it)
// cannot begin a snapshot file of either format: neither the format-2 header
// nor, for format 1, a Snapshot (field 1's tag first: every writer puts the
// wall clock there) or a varint length followed by one.
static bool looks_like_snapshot(const uint8_t *p, size_t len) {
  if (len == 0 || xsmem_snapshot_is_framed(p, len) || p[0] == 0x08) return true;
  for (size_t i = 0; i < len && i < 10; i++) {
    if (!(p[i] & 0x80)) return i + 1 == len || p[i + 1] == 0x08;
  }
  return len < 10;  // a varint cut short by the end of a tiny file
}

static bool read_file(const char *path, xsmem_buf *out, size_t cap, bool snapshot) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return false;
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    if ((uint64_t)st.st_size > cap) {  // refused from its size, unread
      close(fd);
      errno = EFBIG;
      return false;
    }
    if (!xsmem_buf_reserve(out, (size_t)st.st_size + 1)) {
      close(fd);
      errno = ENOMEM;
      return false;
    }
  }
  bool checked = !snapshot;
  int err = 0;
  for (;;) {
    if (out->len > cap) {  // a device or pipe that does not end
      err = EFBIG;
      break;
    }
    if (!checked && out->len >= 16) {  // /dev/zero is refused here, unread
      if (!looks_like_snapshot((const uint8_t *)out->data, out->len)) {
        err = EBADMSG;
        break;
      }
      checked = true;
    }
    if (!xsmem_buf_reserve(out, 64 * 1024)) {
      err = ENOMEM;
      break;
    }
    size_t room = out->cap - out->len - 1;
    if (room > cap + 1 - out->len) room = cap + 1 - out->len;
    if (!checked && room > 16 - out->len) room = 16 - out->len;
    ssize_t r = read(fd, out->data + out->len, room);
    if (r < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    if (r == 0) break;
    out->len += (size_t)r;
  }
  close(fd);
  if (!err && !checked && !looks_like_snapshot((const uint8_t *)out->data, out->len)) err = EBADMSG;
  if (err) {
    errno = err;
    return false;
  }
  out->data[out->len] = '\0';
  return true;
}

bool xsmem_read_file_capped(const char *path, xsmem_buf *out, size_t cap) { return read_file(path, out, cap, false); }

bool xsmem_read_file(const char *path, xsmem_buf *out) { return read_file(path, out, XSMEM_SNAPSHOT_MAX_FILE, false); }

bool xsmem_snapshot_read_file(const char *path, xsmem_buf *out) {
  return read_file(path, out, XSMEM_SNAPSHOT_MAX_FILE, true);
}

// Returns false when m or a message inside it kept an unknown field numbered
// 0. protobuf-c accepts a tag of 0 written in two bytes (0x80 0x00) and keeps
// it as an unknown field, but packs it as 0x00, which no parser accepts: such
// a message would be read, then written out unreadable. Field 0 is invalid
// protobuf; the message is refused instead. (Unknown fields with valid
// numbers, from a newer writer, are kept and written back.)
static bool fields_valid(const ProtobufCMessage *m, int depth) {
  if (!m || depth > 16) return m == NULL;
  for (unsigned i = 0; i < m->n_unknown_fields; i++)
    if (m->unknown_fields[i].tag == 0) return false;
  const ProtobufCMessageDescriptor *d = m->descriptor;
  for (unsigned f = 0; f < d->n_fields; f++) {
    const ProtobufCFieldDescriptor *fd = &d->fields[f];
    if (fd->type != PROTOBUF_C_TYPE_MESSAGE) continue;
    const char *at = (const char *)m + fd->offset;
    if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t n;
      ProtobufCMessage **items;
      memcpy(&n, (const char *)m + fd->quantifier_offset, sizeof(n));
      memcpy(&items, at, sizeof(items));
      for (size_t k = 0; k < n; k++)
        if (!fields_valid(items[k], depth + 1)) return false;
    } else {
      ProtobufCMessage *sub;
      memcpy(&sub, at, sizeof(sub));
      if (sub && !fields_valid(sub, depth + 1)) return false;
    }
  }
  return true;
}

Xsmem__Snapshot *xsmem_snapshot_unpack(xsmem_arena *arena, const void *data, size_t len) {
  ProtobufCAllocator pa = xsmem_arena_pb(arena);
  Xsmem__Snapshot *s = xsmem__snapshot__unpack(&pa, len, data);
  if (s && !fields_valid(&s->base, 0)) s = NULL;
  if (!s) errno = EBADMSG;
  return s;
}

// ---------------------------------------------------------------------------
// Reading streams.

// Returns 1 for a valid file header at p (n bytes available), 2 for a valid
// one of an unknown version, 0 otherwise.
static int file_header_at(const uint8_t *p, size_t n) {
  if (n < XSMEM_SNAPSHOT_FILE_HEADER || memcmp(p, kFileMagic, 8) != 0) return 0;
  if (get_u32(p + 12) != xsmem_crc32c(0, p, 12)) return 0;
  return get_u32(p + 8) == XSMEM_SNAPSHOT_FORMAT_VERSION ? 1 : 2;
}

// Returns true for a record header at p whose own checksum holds.
static bool record_header_at(const uint8_t *p, size_t n) {
  return n >= XSMEM_SNAPSHOT_RECORD_HEADER && memcmp(p, kRecordMarker, 4) == 0 &&
      get_u32(p + 12) == xsmem_crc32c(0, p, 12);
}

bool xsmem_snapshot_is_framed(const void *data, size_t len) {
  const uint8_t *p = data;
  if (file_header_at(p, len)) return true;
  // A file cut inside its header.
  if (len > 0 && len < XSMEM_SNAPSHOT_FILE_HEADER && memcmp(p, kFileMagic, len < 8 ? len : 8) == 0) return true;
  if (len >= 8 && memcmp(p, kFileMagic, 8) == 0) return true;  // the version or its checksum damaged
  return len > XSMEM_SNAPSHOT_FILE_HEADER &&
      record_header_at(p + XSMEM_SNAPSHOT_FILE_HEADER, len - XSMEM_SNAPSHOT_FILE_HEADER);
}

static int stream_issue(xsmem_snapshot_stream *st, size_t offset, const char *what, size_t resume, bool cut) {
  st->error_offset = offset;
  st->error = what;
  st->cut = cut;
  st->pos = resume;
  errno = EBADMSG;
  return -1;
}

// Version 1: varint length, then the packed Snapshot.
static int next_v1(xsmem_snapshot_stream *st, xsmem_arena *arena, Xsmem__Snapshot **out) {
  size_t start = st->pos;
  uint64_t n = 0;
  int shift = 0;
  for (;;) {
    if (st->pos >= st->len) return stream_issue(st, start, "record length cut short", st->len, true);
    if (shift > 63) return stream_issue(st, start, "record length is not a varint", st->len, false);
    uint8_t c = st->data[st->pos++];
    n |= (uint64_t)(c & 0x7f) << shift;
    shift += 7;
    if (!(c & 0x80)) break;
  }
  if (n > XSMEM_SNAPSHOT_MAX_RECORD) return stream_issue(st, start, "record larger than 64 MiB", st->len, false);
  if (n > st->len - st->pos) return stream_issue(st, start, "record cut short", st->len, true);
  Xsmem__Snapshot *s = xsmem_snapshot_unpack(arena, st->data + st->pos, (size_t)n);
  // Without a checksum the framing after a bad record cannot be trusted: stop.
  if (!s) return stream_issue(st, start, "record is not a Snapshot", st->len, false);
  st->record_offset = start;
  st->pos += (size_t)n;
  *out = s;
  return 1;
}

// Returns the offset of the next valid record or file header after from, or len.
static size_t resync(const xsmem_snapshot_stream *st, size_t from) {
  for (size_t q = from; q + XSMEM_SNAPSHOT_RECORD_HEADER <= st->len; q++) {
    const uint8_t *p = st->data + q;
    if (p[0] != kRecordMarker[0] && p[0] != kFileMagic[0]) continue;
    if (record_header_at(p, st->len - q) || file_header_at(p, st->len - q) == 1) return q;
  }
  return st->len;
}

static int next_v2(xsmem_snapshot_stream *st, xsmem_arena *arena, Xsmem__Snapshot **out) {
  for (;;) {
    size_t at = st->pos, left = st->len - at;
    if (left == 0) return 0;
    const uint8_t *p = st->data + at;
    if (left < XSMEM_SNAPSHOT_RECORD_HEADER) {
      // The header's first bytes, cut: a writer stopped here.
      bool prefix =
          memcmp(p, kRecordMarker, left < 4 ? left : 4) == 0 || memcmp(p, kFileMagic, left < 8 ? left : 8) == 0;
      return stream_issue(st, at, prefix ? "record header cut short" : "damaged bytes at the end", st->len, prefix);
    }
    int fh = file_header_at(p, left);
    if (fh == 1) {  // another writer's file header (concatenated, or a pipe)
      st->pos += XSMEM_SNAPSHOT_FILE_HEADER;
      continue;
    }
    if (fh == 2) return stream_issue(st, at, "written in a newer format version", st->len, false);
    if (!record_header_at(p, left)) {
      return stream_issue(st, at, "damaged record header (checksum mismatch)", resync(st, at + 1), false);
    }
    size_t n = get_u32(p + 4);
    if (n > XSMEM_SNAPSHOT_MAX_RECORD) {
      size_t next = n <= left - XSMEM_SNAPSHOT_RECORD_HEADER ? at + XSMEM_SNAPSHOT_RECORD_HEADER + n : st->len;
      return stream_issue(st, at, "record larger than 64 MiB", next, false);
    }
    if (n > left - XSMEM_SNAPSHOT_RECORD_HEADER) return stream_issue(st, at, "record cut short", st->len, true);
    const uint8_t *payload = p + XSMEM_SNAPSHOT_RECORD_HEADER;
    size_t next = at + XSMEM_SNAPSHOT_RECORD_HEADER + n;
    if (get_u32(p + 8) != xsmem_crc32c(0, payload, n)) {
      return stream_issue(st, at, "damaged record (checksum mismatch)", next, false);
    }
    Xsmem__Snapshot *s = xsmem_snapshot_unpack(arena, payload, n);
    if (!s) return stream_issue(st, at, "record is not a Snapshot", next, false);
    st->record_offset = at;
    st->pos = next;
    *out = s;
    return 1;
  }
}

int xsmem_snapshot_next(xsmem_snapshot_stream *st, xsmem_arena *arena, Xsmem__Snapshot **out) {
  *out = NULL;
  st->error = NULL;
  st->cut = false;
  if (st->format == 0) {
    st->format = xsmem_snapshot_is_framed(st->data, st->len) ? 2 : 1;
    if (st->format == 2 && st->pos == 0) {
      if (st->len < XSMEM_SNAPSHOT_FILE_HEADER) return stream_issue(st, 0, "file header cut short", st->len, true);
      int fh = file_header_at(st->data, st->len);
      if (fh == 2) return stream_issue(st, 0, "written in a newer format version", st->len, false);
      st->pos = XSMEM_SNAPSHOT_FILE_HEADER;
      if (fh == 0) return stream_issue(st, 0, "damaged file header (checksum mismatch)", st->pos, false);
    }
  }
  if (st->pos >= st->len) return 0;
  return st->format == 2 ? next_v2(st, arena, out) : next_v1(st, arena, out);
}
