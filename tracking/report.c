// tracking/report.c: symbolization, the leak report, and the `detail` op.
//
// Reports run with the re-entry flag set: dladdr may allocate (under the
// loader's lock), and those allocations must neither be tracked as the
// program's nor recurse into a report. Nothing here holds a map lock while
// symbolizing: sites are copied out first.
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

#include "platform/log.h"
#include "platform/options.h"
#include "tracking/symbolizer.h"
#include "tracking/tracker_internal.h"

// ---------------------------------------------------------------------------
// Frames to text through tracking/symbolizer.h (the same text `xsmem run`,
// report and stats print): dladdr finds the module and its load bias, the
// symbolizer names the function from the module's symbol tables or its
// separate debug file (XSMEM_DEBUG_ROOT) and the line from DWARF. Modules
// stay mapped (a few, evicted in turn); answers are cached by pc (a report
// repeats main and friends). C++ names stay mangled here: demangling
// allocates, and the report must not; the tools demangle.

static xsmem_sym_module g_mods[16];
static unsigned g_mods_next;
static xsmem_spinlock g_sym_lock;

// The module at path, opened once (under g_sym_lock); NULL when unreadable.
static xsmem_sym_module *module_open(const char *path) {
  for (unsigned i = 0; i < XSMEM_ARRAY_SIZE(g_mods); i++) {
    if (g_mods[i].file.map && strcmp(g_mods[i].path, path) == 0) return &g_mods[i];
  }
  xsmem_sym_module *m = &g_mods[g_mods_next++ % XSMEM_ARRAY_SIZE(g_mods)];
  xsmem_sym_close(m);
  return xsmem_sym_open(m, path, xsmem_option_str("XSMEM_DEBUG_ROOT"), NULL, 0) ? m : NULL;
}

typedef struct frame_entry {
  uintptr_t pc;
  char text[200];
} frame_entry;

static frame_entry g_frames[256];

// The main program's file: dladdr names it by argv[0] (maybe relative, or
// found on PATH); /proc/self/exe is the file itself, and its link target the
// name the tools see in /proc/PID/maps.
static const char *self_path(void) {
  static char path[XSMEM_SYM_PATH_MAX];
  if (!path[0]) {
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
    path[n > 0 ? n : 0] = 0;
    if (n <= 0) xsmem_snprintf(path, sizeof(path), "/proc/self/exe");
  }
  return path;
}

const char *xsmem_tracker_symbolize(uintptr_t pc, char *buf, size_t cap) {
  Dl_info info;
  struct link_map *lm = NULL;
  memset(&info, 0, sizeof(info));
  xsmem_track_busy++;
  // pc is a return address: look up pc - 1 so a call at a function's end
  // names that function, not the next.
  int ok = dladdr1((void *)(pc - 1), &info, (void **)&lm, RTLD_DL_LINKMAP);
  if (!ok || !info.dli_fname || !lm) {
    xsmem_snprintf(buf, cap, "?");
    xsmem_track_busy--;
    return buf;
  }
  frame_entry *c = &g_frames[(pc >> 2) * 0x9E3779B97F4A7C15ull >> 56];
  xsmem_spin_lock(&g_sym_lock);
  if (c->pc != pc) {
    const char *path = info.dli_fname;
    if (path == program_invocation_name || strcmp(path, program_invocation_name) == 0 || !*path) path = self_path();
    xsmem_sym_module *m = module_open(path);
    xsmem_sym_frame(m, xsmem_sym_basename(path), pc - lm->l_addr, NULL, c->text, sizeof(c->text));
    c->pc = pc;
  }
  xsmem_snprintf(buf, cap, "%s", c->text);
  xsmem_spin_unlock(&g_sym_lock);
  xsmem_track_busy--;
  return buf;
}

// Returns true for frames inside the allocation entry points themselves
// (malloc, the shim, the tracker), which every stack shares.
static bool allocator_frame(uintptr_t pc) {
  Dl_info info;
  memset(&info, 0, sizeof(info));
  xsmem_track_busy++;
  int ok = dladdr((void *)(pc - 1), &info);
  xsmem_track_busy--;
  if (!ok || !info.dli_sname) return false;
  static const char *const kEntry[] = {"malloc",
                                       "calloc",
                                       "realloc",
                                       "reallocarray",
                                       "free",
                                       "memalign",
                                       "posix_memalign",
                                       "aligned_alloc",
                                       "valloc",
                                       "pvalloc",
                                       "_Znwm",
                                       "_Znam",
                                       "_ZnwmRKSt9nothrow_t",
                                       "_ZnamRKSt9nothrow_t",
                                       "_ZnwmSt11align_val_t",
                                       "_ZnamSt11align_val_t"};
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(kEntry); i++) {
    if (strcmp(info.dli_sname, kEntry[i]) == 0) return true;
  }
  return strncmp(info.dli_sname, "xsmem_", 6) == 0;
}

// Returns the index of the first frame that belongs to the program.
static unsigned first_program_frame(const uintptr_t *frames, unsigned depth) {
  unsigned i = 0;
  while (i + 1 < depth && allocator_frame(frames[i])) i++;
  return i;
}

void tracker_print_frames(int fd, const char *title, const uintptr_t *frames, unsigned depth) {
  char sym[256];
  xsmem_dprintf(fd, "  %s:\n", title);
  unsigned first = first_program_frame(frames, depth);
  for (unsigned i = first; i < depth; i++) {
    xsmem_dprintf(fd, "    #%u %p %s\n", i - first, (void *)frames[i],
                  xsmem_tracker_symbolize(frames[i], sym, sizeof(sym)));
  }
  if (depth == 0) xsmem_dprintf(fd, "    (no frames)\n");
}

// Returns true when text contains one of the comma-separated patterns.
static bool matches_any(const char *text, const char *patterns) {
  while (patterns && *patterns) {
    const char *end = strchr(patterns, ',');
    size_t len = end ? (size_t)(end - patterns) : strlen(patterns);
    for (const char *p = text; len && *p; p++) {
      if (strncmp(p, patterns, len) == 0) return true;
    }
    patterns = end ? end + 1 : NULL;
  }
  return false;
}

// JSON string contents (symbols are plain, but be safe with quotes and backslashes).
static void json_escape(char *dst, size_t cap, const char *src) {
  size_t j = 0;
  for (size_t i = 0; src[i] && j + 2 < cap; i++) {
    char c = src[i];
    if (c == '"' || c == '\\') dst[j++] = '\\';
    dst[j++] = (c >= 0x20) ? c : '?';
  }
  dst[j] = 0;
}

// What a site's frames resolve to, cached by call-site hash (a hash stands
// for one stack): symbolizing is ~25 us a site (dladdr, .symtab scans), and
// snapshots ask for the same sites again and again. (A module unloaded and
// another loaded at its addresses would keep the old names: acceptable for
// a report.)
typedef struct leak_name {
  uint64_t hash;      // 0: empty
  uint64_t patterns;  // hash of the XSMEM_LEAK_SUPPRESS value the verdict is for
  uint32_t first;     // first program frame
  uint8_t suppressed;
  char sym[192];
} leak_name;
static leak_name g_leak_names[512];
static xsmem_spinlock g_leak_names_lock;

static uint64_t patterns_hash(const char *suppress) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (const char *c = suppress; c && *c; c++) h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
  return h;
}

static void site_name(const xsmem_track_site *s, const char *suppress, uint64_t patterns, leak_name *out) {
  leak_name *c = &g_leak_names[s->hash % XSMEM_ARRAY_SIZE(g_leak_names)];
  xsmem_spin_lock(&g_leak_names_lock);
  bool hit = c->hash == s->hash && c->patterns == patterns;
  if (hit) *out = *c;
  xsmem_spin_unlock(&g_leak_names_lock);
  if (hit) return;
  char sym[512];  // whole, so a long C++ name still ends in its module for the patterns
  sym[0] = 0;
  out->hash = s->hash;
  out->patterns = patterns;
  out->first = first_program_frame(s->frames, s->depth);
  if (s->depth) xsmem_tracker_symbolize(s->frames[out->first], sym, sizeof(sym));
  out->suppressed = matches_any(sym, suppress);
  xsmem_snprintf(out->sym, sizeof(out->sym), "%s", sym);
  xsmem_spin_lock(&g_leak_names_lock);
  *c = *out;
  xsmem_spin_unlock(&g_leak_names_lock);
}

// Fills sites (cap entries) with the live call sites largest first, then
// keeps in place those XSMEM_LEAK_SUPPRESS does not match (the C++ runtime's
// one-time pools, the loader's TLS blocks), by their first program frame,
// whose name goes to names[i] when names is not NULL. Returns how many were
// kept. With names, each kept site's frames also start at that first program
// frame. Runs with the re-entry flag set.
static size_t collect_leaks(xsmem_allocator *a, xsmem_track_site *sites, size_t cap, char (*names)[192],
                            xsmem_track_leak_totals *tot) {
  memset(tot, 0, sizeof(*tot));
  xsmem_track_busy++;
  size_t found = xsmem_tracker_top_sites(a, XSMEM_BY_LIVE_BYTES, sites, cap);
  const char *suppress = xsmem_option_str("XSMEM_LEAK_SUPPRESS");
  uint64_t patterns = patterns_hash(suppress);
  leak_name nm;
  size_t n = 0;
  for (size_t i = 0; i < found; i++) {
    site_name(&sites[i], suppress, patterns, &nm);
    unsigned f = nm.first;
    if (nm.suppressed) {
      tot->suppressed_sites++;
      tot->suppressed_bytes += sites[i].live_bytes;
      continue;
    }
    tot->bytes += sites[i].live_bytes;
    tot->count += sites[i].live_count;
    if (names) {
      memcpy(names[n], nm.sym, sizeof(nm.sym));
      sites[i].depth -= f;
      memmove(sites[i].frames, sites[i].frames + f, sites[i].depth * sizeof(uintptr_t));
    }
    sites[n++] = sites[i];
  }
  tot->sites = n;
  xsmem_track_busy--;
  return n;
}

size_t xsmem_tracker_leaks(xsmem_allocator *a, xsmem_track_leak *out, size_t max, xsmem_track_leak_totals *totals) {
  static xsmem_track_site sites[256];  // static: too big for every thread's stack
  static char names[256][192];
  static xsmem_spinlock lock;
  xsmem_track_leak_totals tot;
  xsmem_spin_lock(&lock);
  size_t n = collect_leaks(a, sites, XSMEM_ARRAY_SIZE(sites), names, &tot);
  if (n > max) n = max;
  for (size_t i = 0; i < n; i++) {
    out[i].bytes = sites[i].live_bytes;
    out[i].count = sites[i].live_count;
    out[i].site = sites[i].hash;
    out[i].depth = sites[i].depth;
    memcpy(out[i].frames, sites[i].frames, sizeof(out[i].frames));
    memcpy(out[i].symbol, names[i], sizeof(out[i].symbol));
  }
  xsmem_spin_unlock(&lock);
  if (totals) *totals = tot;
  return n;
}

size_t xsmem_tracker_leak_report(xsmem_allocator *a, int fd, int format, size_t max_sites) {
  xsmem_tracker *t = (xsmem_tracker *)a;
  static xsmem_track_site sites[256];  // static: reports may run on small stacks
  static xsmem_spinlock lock;
  if (max_sites > XSMEM_ARRAY_SIZE(sites)) max_sites = XSMEM_ARRAY_SIZE(sites);
  xsmem_spin_lock(&lock);
  xsmem_track_busy++;
  xsmem_track_leak_totals tot;
  size_t n = collect_leaks(a, sites, XSMEM_ARRAY_SIZE(sites), NULL, &tot);
  double bytes = tot.bytes, count = tot.count, sup_bytes = tot.suppressed_bytes;
  size_t sup_sites = tot.suppressed_sites;
  char sym[256], esc[512];
  const char *est = t->opt.mode == XSMEM_TRACK_SAMPLE ? "estimated " : "";
  if (format == XSMEM_REPORT_JSON) {
    xsmem_dprintf(fd,
                  "{\"allocator\":\"%s\",\"mode\":\"%s\",\"leaked_bytes\":%.0f,\"leaked_blocks\":%.0f,"
                  "\"sites\":%zu,\"leaks\":[",
                  t->name, t->opt.mode == XSMEM_TRACK_SAMPLE ? "sample" : "full", bytes, count, n);
    for (size_t i = 0; i < n && i < max_sites; i++) {
      xsmem_dprintf(fd, "%s{\"bytes\":%.0f,\"blocks\":%.0f,\"total_bytes\":%.0f,\"peak_bytes\":%.0f,\"frames\":[",
                    i ? "," : "", sites[i].live_bytes, sites[i].live_count, sites[i].total_bytes, sites[i].peak_bytes);
      unsigned first = first_program_frame(sites[i].frames, sites[i].depth);
      for (unsigned k = first; k < sites[i].depth; k++) {
        json_escape(esc, sizeof(esc), xsmem_tracker_symbolize(sites[i].frames[k], sym, sizeof(sym)));
        xsmem_dprintf(fd, "%s{\"pc\":\"%p\",\"symbol\":\"%s\"}", k > first ? "," : "", (void *)sites[i].frames[k], esc);
      }
      xsmem_dprintf(fd, "]}");
    }
    xsmem_dprintf(fd, "]}\n");
  } else if (n == 0) {
    xsmem_dprintf(fd, "xsmem: leak report for '%s' (pid %d): no leaks\n", t->name, (int)getpid());
  } else {
    xsmem_dprintf(fd,
                  "xsmem: leak report for '%s' (pid %d): %s%.0f bytes in %.0f blocks unfreed, from %zu call sites\n",
                  t->name, (int)getpid(), est, bytes, count, n);
    for (size_t i = 0; i < n && i < max_sites; i++) {
      char title[128];
      xsmem_snprintf(title, sizeof(title), "%s%.0f bytes in %.0f blocks allocated at", est, sites[i].live_bytes,
                     sites[i].live_count);
      tracker_print_frames(fd, title, sites[i].frames, sites[i].depth);
    }
    if (n > max_sites) xsmem_dprintf(fd, "  ... and %zu more call sites\n", n - max_sites);
  }
  if (sup_sites && format == XSMEM_REPORT_TEXT) {
    xsmem_dprintf(fd, "xsmem: (%s%.0f bytes from %zu call sites suppressed by XSMEM_LEAK_SUPPRESS)\n", est, sup_bytes,
                  sup_sites);
  }
  xsmem_track_busy--;
  xsmem_spin_unlock(&lock);
  return n;
}

// ---------------------------------------------------------------------------
// detail: the tracker's figures as labeled groups, after the inner allocator's.

void tracker_detail(const xsmem_allocator *ca, xsmem_stats_sink *sink) {
  xsmem_allocator *a = (xsmem_allocator *)ca;
  xsmem_tracker *t = (xsmem_tracker *)a;
  if (t->inner->ops->detail) t->inner->ops->detail(t->inner, sink);
  xsmem_track_busy++;
  xsmem_track_summary s;
  xsmem_tracker_summary(a, &s);
  const char *mode = s.mode == XSMEM_TRACK_FULL ? "full" : s.mode == XSMEM_TRACK_SAMPLE ? "sample" : "off";
  sink->value(sink, "tracker", mode, "records", "gauge", (double)s.records);
  sink->value(sink, "tracker", mode, "sites", "gauge", (double)s.sites);
  sink->value(sink, "tracker", mode, "live_bytes", "gauge", s.live_bytes);
  sink->value(sink, "tracker", mode, "live_blocks", "gauge", s.live_count);
  sink->value(sink, "tracker", mode, "total_bytes", "counter", s.total_bytes);
  sink->value(sink, "tracker", mode, "total_blocks", "counter", s.total_count);
  sink->value(sink, "tracker", mode, "sampled", "counter", (double)s.sampled);
  sink->value(sink, "tracker", mode, "quarantine_bytes", "gauge", (double)s.quarantine_bytes);
  sink->value(sink, "tracker", mode, "guarded_allocs", "counter", (double)s.guarded_allocs);
  sink->value(sink, "tracker", mode, "errors", "counter", (double)s.errors);
  sink->value(sink, "tracker", mode, "metadata_bytes", "gauge", (double)s.metadata_bytes);
  sink->value(sink, "tracker", mode, "alloc_rate", "gauge", s.alloc_rate);

  xsmem_stats in = xsmem_get_stats(t->inner);
  double external = in.bytes_reserved ? 1.0 - (double)in.bytes_in_use / (double)in.bytes_reserved : 0.0;
  sink->value(sink, "fragmentation", t->inner->name, "internal", "gauge", in.fragmentation);
  sink->value(sink, "fragmentation", t->inner->name, "reserved_unused", "gauge", external < 0 ? 0 : external);

  double counts[XSMEM_TRACK_HIST_BUCKETS], bytes[XSMEM_TRACK_HIST_BUCKETS];
  xsmem_tracker_histogram(a, counts, bytes);
  char label[64];
  for (int b = 0; b < XSMEM_TRACK_HIST_BUCKETS; b++) {
    if (counts[b] == 0) continue;
    xsmem_snprintf(label, sizeof(label), "%llu", b ? 1ull << b : 0ull);
    sink->value(sink, "size_histogram", label, "count", "counter", counts[b]);
    sink->value(sink, "size_histogram", label, "bytes", "counter", bytes[b]);
  }

  static xsmem_track_point pts[kTimelinePoints];
  static xsmem_track_site top[16];
  static xsmem_spinlock lock;
  xsmem_spin_lock(&lock);
  size_t n = xsmem_tracker_timeline(a, pts, 32);
  for (size_t i = 0; i < n; i++) {
    xsmem_snprintf(label, sizeof(label), "%llu", (unsigned long long)(pts[i].time_ns / 1000000));
    sink->value(sink, "timeline", label, "bytes_in_use", "gauge", (double)pts[i].bytes_in_use);
    sink->value(sink, "timeline", label, "allocs", "counter", (double)pts[i].allocs);
    sink->value(sink, "timeline", label, "frees", "counter", (double)pts[i].frees);
  }
  size_t k = xsmem_tracker_top_sites(a, XSMEM_BY_LIVE_BYTES, top, XSMEM_ARRAY_SIZE(top));
  const char *suppress = xsmem_option_str("XSMEM_LEAK_SUPPRESS");
  uint64_t patterns = patterns_hash(suppress);
  leak_name nm;
  for (size_t i = 0; i < k; i++) {
    site_name(&top[i], suppress, patterns, &nm);  // cached: every snapshot asks for these
    xsmem_snprintf(label, sizeof(label), "%.40s#%08llx", top[i].depth ? nm.sym : "?",
                   (unsigned long long)(top[i].hash & 0xffffffffu));
    sink->value(sink, "callsite", label, "live_bytes", "gauge", top[i].live_bytes);
    sink->value(sink, "callsite", label, "live_blocks", "gauge", top[i].live_count);
    sink->value(sink, "callsite", label, "total_bytes", "counter", top[i].total_bytes);
    sink->value(sink, "callsite", label, "total_blocks", "counter", top[i].total_count);
    sink->value(sink, "callsite", label, "peak_bytes", "gauge", top[i].peak_bytes);
  }
  xsmem_spin_unlock(&lock);
  xsmem_track_busy--;
}
