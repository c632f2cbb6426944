// export/monitor.c: timeline ring and alert evaluation (see monitor.h).
#include "export/monitor.h"

#include <string.h>
#include <time.h>

#include "allocators/allocator.h"
#include "export/snapshot.h"
#include "platform/atomics.h"
#include "platform/log.h"
#include "platform/options.h"

static const char *const kAlertNames[XSMEM_ALERT_KINDS] = {"bytes_in_use", "fragmentation", "alloc_rate",
                                                           "pool_hit_rate"};

typedef struct alert_slot {
  xsmem_alert_state st;
  const xsmem_allocator *allocator;
  uint64_t last_allocs;  // for the rate
  uint64_t last_ns;
  bool seen;
} alert_slot;

static xsmem_spinlock g_lock;
static xsmem_timeline_point g_ring[XSMEM_MONITOR_POINTS];
static size_t g_ring_next, g_ring_count;
static alert_slot g_alerts[XSMEM_MONITOR_MAX_ALERTS];
static size_t g_num_alerts;
static xsmem_alert_thresholds g_thresholds;
static bool g_thresholds_set;
static bool g_thresholds_from_options;  // set from the XSMEM_ALERT_* options, at generation g_thresholds_gen
static uint64_t g_thresholds_gen;

bool xsmem_parse_double(const char *s, double *out) {
  const char *p = s;
  bool neg = false;
  if (*p == '-' || *p == '+') neg = *p++ == '-';
  double v = 0, scale = 0;
  bool digits = false;
  for (; *p; p++) {
    if (*p >= '0' && *p <= '9') {
      digits = true;
      if (scale == 0) v = v * 10 + (*p - '0');
      else {
        v += (*p - '0') / scale;
        scale *= 10;
      }
    } else if (*p == '.' && scale == 0) {
      scale = 10;
    } else {
      break;
    }
  }
  if (!digits) return false;
  if (*p == 'e' || *p == 'E') {
    p++;
    bool eneg = false;
    if (*p == '-' || *p == '+') eneg = *p++ == '-';
    if (!(*p >= '0' && *p <= '9')) return false;
    int e = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
      if (e < 400) e = e * 10 + (*p - '0');
    }
    for (int i = 0; i < e; i++) v = eneg ? v / 10 : v * 10;
  }
  if (*p) return false;
  *out = neg ? -v : v;
  return true;
}

xsmem_alert_thresholds xsmem_monitor_thresholds_from_options(void) {
  xsmem_alert_thresholds t;
  t.value[XSMEM_ALERT_BYTES_IN_USE] = (double)xsmem_option_bytes("XSMEM_ALERT_BYTES_IN_USE");
  t.value[XSMEM_ALERT_FRAGMENTATION] = xsmem_option_number("XSMEM_ALERT_FRAGMENTATION");
  t.value[XSMEM_ALERT_ALLOC_RATE] = xsmem_option_number("XSMEM_ALERT_ALLOC_RATE");
  t.value[XSMEM_ALERT_POOL_HIT_RATE] = xsmem_option_number("XSMEM_ALERT_POOL_HIT_RATE");
  return t;
}

// The thresholds, from the options unless a caller set them; read again when
// xsmem_option_set changed an option (the XSMEM_ALERT_* ones are LIVE).
static void ensure_thresholds(void) {
  uint64_t gen = xsmem_options_generation();
  if (!g_thresholds_set || (g_thresholds_from_options && gen != g_thresholds_gen)) {
    g_thresholds = xsmem_monitor_thresholds_from_options();
    g_thresholds_set = g_thresholds_from_options = true;
    g_thresholds_gen = gen;
  }
}

void xsmem_monitor_set_thresholds(const xsmem_alert_thresholds *t) {
  xsmem_spin_lock(&g_lock);
  g_thresholds = *t;
  g_thresholds_set = true;
  g_thresholds_from_options = false;
  xsmem_spin_unlock(&g_lock);
}

bool xsmem_monitor_alerts_enabled(void) {
  xsmem_spin_lock(&g_lock);
  ensure_thresholds();
  bool any = false;
  for (int k = 0; k < XSMEM_ALERT_KINDS; k++) any |= g_thresholds.value[k] > 0;
  xsmem_spin_unlock(&g_lock);
  return any;
}

const char *xsmem_monitor_recommendation(xsmem_alert_kind kind, const char *allocator_kind) {
  bool bfc = allocator_kind && strcmp(allocator_kind, "bfc") == 0;
  switch (kind) {
    case XSMEM_ALERT_FRAGMENTATION:
      return bfc ? "fragmentation high in bfc: consider region garbage collection (trim) or a larger first region"
                 : "fragmentation high: trim the allocator, or serve the hot sizes from a size-class front";
    case XSMEM_ALERT_POOL_HIT_RATE: return "pool hit rate low: raise its limit or round sizes to powers of two";
    case XSMEM_ALERT_ALLOC_RATE:
      return "allocation rate high: a pool or per-thread buckets for the hot sizes would cut the cost";
    case XSMEM_ALERT_BYTES_IN_USE:
      return "bytes in use above the threshold: check the top call sites and the leak report";
    default: return "";
  }
}

typedef struct hits_sink {
  xsmem_stats_sink base;
  double hits, misses;
} hits_sink;

static void hits_value(xsmem_stats_sink *sink, const char *group, const char *label, const char *key, const char *kind,
                       double value) {
  hits_sink *h = (hits_sink *)sink;
  if (strcmp(key, "hits") == 0) h->hits += value;
  else if (strcmp(key, "misses") == 0) h->misses += value;
}

static alert_slot *slot_for(const xsmem_allocator *a, xsmem_alert_kind k) {
  for (size_t i = 0; i < g_num_alerts; i++) {
    if (g_alerts[i].allocator == a && g_alerts[i].st.kind == k) return &g_alerts[i];
  }
  if (g_num_alerts == XSMEM_MONITOR_MAX_ALERTS) return NULL;
  alert_slot *s = &g_alerts[g_num_alerts++];
  memset(s, 0, sizeof(*s));
  s->allocator = a;
  s->st.kind = k;
  s->st.name = kAlertNames[k];
  s->st.allocator = a->name ? a->name : "";
  s->st.recommendation = xsmem_monitor_recommendation(k, a->ops->kind);
  return s;
}

// Updates one alert; logs on a change of state. Called under g_lock.
static void judge(alert_slot *s, double value, bool have_value) {
  double threshold = g_thresholds.value[s->st.kind];
  s->st.threshold = threshold;
  if (!have_value) return;
  s->st.value = value;
  bool breach = s->st.kind == XSMEM_ALERT_POOL_HIT_RATE ? value < threshold : value > threshold;
  if (breach && !s->st.active) {
    s->st.active = true;
    s->st.raised_count++;
    xsmem_log("alert: %s of '%s' is %.3f (threshold %.3f): %s", s->st.name, s->st.allocator, value, threshold,
              s->st.recommendation);
  } else if (!breach && s->st.active) {
    s->st.active = false;
    xsmem_log("alert cleared: %s of '%s' is %.3f (threshold %.3f)", s->st.name, s->st.allocator, value, threshold);
  }
}

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void xsmem_monitor_sample(uint64_t now_ns) {
  if (!now_ns) now_ns = mono_ns();
  xsmem_observed obs[XSMEM_EXPORT_MAX_ALLOCATORS + 1];
  size_t n = xsmem_export_observed(obs, XSMEM_EXPORT_MAX_ALLOCATORS + 1);
  // Statistics are read outside the lock: an allocator's stats op may take its own locks.
  xsmem_stats st[XSMEM_EXPORT_MAX_ALLOCATORS + 1];
  hits_sink hs[XSMEM_EXPORT_MAX_ALLOCATORS + 1];
  int proc = -1;
  for (size_t i = 0; i < n; i++) {
    st[i] = xsmem_get_stats(obs[i].allocator);
    hs[i] = (hits_sink){{hits_value}, 0, 0};
    if (obs[i].allocator->ops->detail) obs[i].allocator->ops->detail(obs[i].allocator, &hs[i].base);
    if (obs[i].process && proc < 0) proc = (int)i;
  }
  if (proc < 0 && n > 0) proc = 0;  // no shim: follow the first observed allocator
  xsmem_spin_lock(&g_lock);
  ensure_thresholds();
  if (proc >= 0) {
    xsmem_timeline_point *p = &g_ring[g_ring_next];
    *p = (xsmem_timeline_point){now_ns,
                                st[proc].bytes_in_use,
                                st[proc].bytes_reserved,
                                st[proc].num_allocs,
                                st[proc].num_frees,
                                st[proc].bytes_committed};
    g_ring_next = (g_ring_next + 1) % XSMEM_MONITOR_POINTS;
    if (g_ring_count < XSMEM_MONITOR_POINTS) g_ring_count++;
  }
  for (size_t i = 0; i < n; i++) {
    for (int k = 0; k < XSMEM_ALERT_KINDS; k++) {
      if (!(g_thresholds.value[k] > 0)) continue;
      alert_slot *s = slot_for(obs[i].allocator, (xsmem_alert_kind)k);
      if (!s) continue;
      switch ((xsmem_alert_kind)k) {
        case XSMEM_ALERT_BYTES_IN_USE: judge(s, (double)st[i].bytes_in_use, true); break;
        case XSMEM_ALERT_FRAGMENTATION: judge(s, st[i].fragmentation, true); break;
        case XSMEM_ALERT_ALLOC_RATE: {
          bool have = s->seen && now_ns > s->last_ns;
          double rate = have ? (double)(st[i].num_allocs - s->last_allocs) * 1e9 / (double)(now_ns - s->last_ns) : 0;
          judge(s, rate, have);
          s->last_allocs = st[i].num_allocs;
          s->last_ns = now_ns;
          s->seen = true;
          break;
        }
        case XSMEM_ALERT_POOL_HIT_RATE: {
          double total = hs[i].hits + hs[i].misses;
          judge(s, total > 0 ? hs[i].hits / total : 0, total > 0);
          break;
        }
        default: break;
      }
    }
  }
  xsmem_spin_unlock(&g_lock);
}

void xsmem_monitor_timeline(xsmem_analysis_sink *sink) {
  // Copied out first so the sink (which maps memory) runs without the lock.
  static xsmem_timeline_point copy[XSMEM_MONITOR_POINTS];
  static xsmem_spinlock copy_lock;
  xsmem_spin_lock(&copy_lock);
  xsmem_spin_lock(&g_lock);
  size_t n = g_ring_count;
  size_t first = (g_ring_next + XSMEM_MONITOR_POINTS - n) % XSMEM_MONITOR_POINTS;
  for (size_t i = 0; i < n; i++) copy[i] = g_ring[(first + i) % XSMEM_MONITOR_POINTS];
  xsmem_spin_unlock(&g_lock);
  for (size_t i = 0; i < n; i++) sink->point(sink, &copy[i]);
  xsmem_spin_unlock(&copy_lock);
}

size_t xsmem_monitor_alerts(xsmem_alert_state *out, size_t max) {
  xsmem_spin_lock(&g_lock);
  ensure_thresholds();
  size_t n = 0;
  for (size_t i = 0; i < g_num_alerts && n < max; i++) {
    if (g_thresholds.value[g_alerts[i].st.kind] > 0) out[n++] = g_alerts[i].st;
  }
  xsmem_spin_unlock(&g_lock);
  return n;
}

void xsmem_monitor_reset(void) {
  xsmem_spin_lock(&g_lock);
  g_ring_next = g_ring_count = 0;
  g_num_alerts = 0;
  g_thresholds_set = false;
  xsmem_spin_unlock(&g_lock);
}
