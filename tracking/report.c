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
#include "platform/os_vm.h"
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
// (malloc, the shim, the tracker, operator new and new[] in any module),
// which every stack shares: a site is named by the frame that called them,
// so `new Gadget` and `new int[1000]` in one function are two sites, and
// operator new's module (libstdc++) is never the site.
static bool allocator_frame(uintptr_t pc) {
  Dl_info info;
  memset(&info, 0, sizeof(info));
  xsmem_track_busy++;
  int ok = dladdr((void *)(pc - 1), &info);
  xsmem_track_busy--;
  if (!ok || !info.dli_sname) return false;
  static const char *const kEntry[] = {"malloc",   "calloc",         "realloc",       "reallocarray", "free",
                                       "memalign", "posix_memalign", "aligned_alloc", "valloc",       "pvalloc"};
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(kEntry); i++) {
    if (strcmp(info.dli_sname, kEntry[i]) == 0) return true;
  }
  // operator new / new[] in every form (_Znwm, _Znam, nothrow, aligned).
  if (strncmp(info.dli_sname, "_Znwm", 5) == 0 || strncmp(info.dli_sname, "_Znam", 5) == 0) return true;
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

// Names a site by its first program frame and decides whether the
// suppressions match it: runtime code (the loader, a library's one-time
// setup) calling the allocator itself. A site whose frames are all entry
// points (operator new reached from code the walk could not see) is the
// program's and never suppressed: libstdc++ is operator new's module, not
// the allocation's owner.
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
  bool entry_only = s->depth && allocator_frame(s->frames[out->first]);
  out->suppressed = !entry_only && matches_any(sym, suppress);
  xsmem_snprintf(out->sym, sizeof(out->sym), "%s", sym);
  xsmem_spin_lock(&g_leak_names_lock);
  *c = *out;
  xsmem_spin_unlock(&g_leak_names_lock);
}

const char *xsmem_leak_kind_name(xsmem_leak_kind k) {
  switch (k) {
    case XSMEM_LEAK_DEFINITE: return "definitely lost";
    case XSMEM_LEAK_INDIRECT: return "indirectly lost";
    case XSMEM_LEAK_REACHABLE: return "still reachable";
    default: return "unfreed";
  }
}

static const char *kind_key(xsmem_leak_kind k) {
  static const char *const kKeys[] = {"unclassified", "definite", "indirect", "reachable"};
  return (unsigned)k < 4 ? kKeys[k] : "unclassified";
}

// A group of the report: a call site's unfreed blocks of one kind (their
// bytes and count in live_bytes and live_count; the site's other figures as
// top_sites gives them).
typedef struct leak_group {
  xsmem_track_site s;
  xsmem_leak_kind kind;
} leak_group;

// Definitely lost first, then indirectly, then still reachable; largest
// bytes first within a kind.
static bool group_before(const leak_group *a, const leak_group *b) {
  int ra = a->kind == XSMEM_LEAK_REACHABLE ? 2 : a->kind == XSMEM_LEAK_INDIRECT ? 1 : 0;
  int rb = b->kind == XSMEM_LEAK_REACHABLE ? 2 : b->kind == XSMEM_LEAK_INDIRECT ? 1 : 0;
  return ra != rb ? ra < rb : a->s.live_bytes > b->s.live_bytes;
}

// Inserts g into the sorted array out (n of cap used).
static void group_insert(leak_group *out, size_t *n, size_t cap, const leak_group *g) {
  size_t i = *n < cap ? (*n)++ : cap;
  if (i == cap && (cap == 0 || !group_before(g, &out[cap - 1]))) return;
  if (i == cap) i = cap - 1;
  while (i > 0 && group_before(g, &out[i - 1])) {
    out[i] = out[i - 1];
    i--;
  }
  out[i] = *g;
}

// Per-site sums of a scan, by kind (definite, indirect, reachable).
typedef struct kind_sums {
  double bytes[3], count[3];
} kind_sums;

// Fills out (cap entries) with the largest groups of full-mode tracker t by
// a scan of its blocks; totals by kind go to tot. Returns how many were
// written, or SIZE_MAX when the scan could not run (no memory for it).
static size_t scan_groups(xsmem_tracker *t, leak_group *out, size_t cap, bool reachable, xsmem_track_leak_totals *tot,
                          uintptr_t from) {
  tracker_scan_result scan;
  if (!tracker_leak_scan(t, &scan, from)) return SIZE_MAX;
  uint32_t used = sites_used(t);
  size_t bytes = xsmem_align_up(((size_t)used + 1) * sizeof(kind_sums), xsmem_os_page_size());
  kind_sums *sums = xsmem_os_map(bytes, xsmem_os_page_size(), 0);
  if (!sums) {
    tracker_leak_scan_release(&scan);
    return SIZE_MAX;
  }
  for (size_t i = 0; i < scan.n; i++) {
    const tracker_scan_block *b = &scan.blocks[i];
    if (b->site_index == kSiteInternal) continue;                // the tracker's own (re-entrant) allocations
    uint32_t index = b->site_index <= used ? b->site_index : 0;  // 0: no site counted
    int k = (int)tracker_scan_kind(b) - 1;
    sums[index].bytes[k] += (double)b->size;
    sums[index].count[k] += 1;
  }
  tracker_leak_scan_release(&scan);
  size_t n = 0;
  for (uint32_t index = 0; index <= used; index++) {
    for (int k = 0; k < 3; k++) {
      if (sums[index].count[k] == 0) continue;
      leak_group g;
      memset(&g, 0, sizeof(g));
      g.kind = (xsmem_leak_kind)(k + 1);
      if (index) tracker_site_figures(t, index, &g.s);  // else: no site (the arena was full)
      g.s.live_bytes = sums[index].bytes[k];
      g.s.live_count = sums[index].count[k];
      if (g.kind == XSMEM_LEAK_REACHABLE) {
        tot->reachable_bytes += g.s.live_bytes;
        tot->reachable_count += g.s.live_count;
        tot->reachable_sites++;
        if (!reachable) continue;
      }
      group_insert(out, &n, cap, &g);
    }
  }
  xsmem_os_unmap(sums, bytes);
  tot->classified = true;
  return n;
}

// Fills groups (cap entries) with the groups of unfreed blocks, in report
// order, then keeps in place those XSMEM_LEAK_SUPPRESS does not match (the
// loader's TLS blocks, the exporter's TLS library), by their first program
// frame, whose name goes to names[i] when names is not NULL. Returns how many
// were kept. With names, each kept group's frames also start at that first
// program frame. Full mode classifies the blocks by a scan (leak_scan.c);
// sample mode's groups are its live sites, unclassified. Runs with the
// re-entry flag set.
static size_t collect_leaks(xsmem_allocator *a, leak_group *groups, size_t cap, char (*names)[192],
                            xsmem_track_leak_totals *tot, uintptr_t from) {
  xsmem_tracker *t = (xsmem_tracker *)a;
  memset(tot, 0, sizeof(*tot));
  xsmem_track_busy++;
  bool reachable = xsmem_option_bool("XSMEM_LEAK_SHOW_REACHABLE");
  size_t found = SIZE_MAX;
  if (t->opt.mode == XSMEM_TRACK_FULL) found = scan_groups(t, groups, cap, reachable, tot, from);
  if (found == SIZE_MAX) {  // sample mode (or no memory to scan): the live sites
    static xsmem_track_site sites[256];
    static xsmem_spinlock lock;
    xsmem_spin_lock(&lock);
    found = xsmem_tracker_top_sites(a, XSMEM_BY_LIVE_BYTES, sites, XSMEM_MIN(cap, XSMEM_ARRAY_SIZE(sites)));
    for (size_t i = 0; i < found; i++) groups[i] = (leak_group){sites[i], XSMEM_LEAK_UNCLASSIFIED};
    xsmem_spin_unlock(&lock);
  }
  const char *suppress = xsmem_option_str("XSMEM_LEAK_SUPPRESS");
  uint64_t patterns = patterns_hash(suppress);
  leak_name nm;
  size_t n = 0;
  for (size_t i = 0; i < found; i++) {
    xsmem_track_site *s = &groups[i].s;
    if (s->depth) {
      site_name(s, suppress, patterns, &nm);
    } else {
      memset(&nm, 0, sizeof(nm));
    }
    unsigned f = nm.first;
    if (nm.suppressed) {
      tot->suppressed_sites++;
      tot->suppressed_bytes += s->live_bytes;
      if (groups[i].kind == XSMEM_LEAK_REACHABLE) {
        tot->reachable_bytes -= s->live_bytes;
        tot->reachable_count -= s->live_count;
        tot->reachable_sites--;
      }
      continue;
    }
    tot->bytes += s->live_bytes;
    tot->count += s->live_count;
    if (groups[i].kind == XSMEM_LEAK_DEFINITE) {
      tot->definite_bytes += s->live_bytes;
      tot->definite_count += s->live_count;
    } else if (groups[i].kind == XSMEM_LEAK_INDIRECT) {
      tot->indirect_bytes += s->live_bytes;
      tot->indirect_count += s->live_count;
    }
    if (names) {
      memcpy(names[n], nm.sym, sizeof(nm.sym));
      s->depth -= f;
      memmove(s->frames, s->frames + f, s->depth * sizeof(uintptr_t));
    }
    groups[n++] = groups[i];
  }
  tot->sites = n;
  xsmem_track_busy--;
  return n;
}

size_t xsmem_tracker_leaks(xsmem_allocator *a, xsmem_track_leak *out, size_t max, xsmem_track_leak_totals *totals) {
  uintptr_t from = TRACKER_STACK_ENTRY();
  static leak_group groups[256];  // static: too big for every thread's stack
  static char names[256][192];
  static xsmem_spinlock lock;
  xsmem_track_leak_totals tot;
  xsmem_spin_lock(&lock);
  size_t n = collect_leaks(a, groups, XSMEM_ARRAY_SIZE(groups), names, &tot, from);
  if (n > max) n = max;
  for (size_t i = 0; i < n; i++) {
    const xsmem_track_site *s = &groups[i].s;
    out[i].bytes = s->live_bytes;
    out[i].count = s->live_count;
    out[i].site = s->hash;
    out[i].depth = s->depth;
    memcpy(out[i].frames, s->frames, sizeof(out[i].frames));
    memcpy(out[i].symbol, names[i], sizeof(out[i].symbol));
    out[i].kind = groups[i].kind;
  }
  xsmem_spin_unlock(&lock);
  if (totals) *totals = tot;
  return n;
}

size_t xsmem_tracker_leak_report(xsmem_allocator *a, int fd, int format, size_t max_sites) {
  uintptr_t from = TRACKER_STACK_ENTRY();
  xsmem_tracker *t = (xsmem_tracker *)a;
  static leak_group groups[256];  // static: reports may run on small stacks
  static xsmem_spinlock lock;
  if (max_sites > XSMEM_ARRAY_SIZE(groups)) max_sites = XSMEM_ARRAY_SIZE(groups);
  xsmem_spin_lock(&lock);
  xsmem_track_busy++;
  xsmem_track_leak_totals tot;
  size_t n = collect_leaks(a, groups, XSMEM_ARRAY_SIZE(groups), NULL, &tot, from);
  size_t lost = 0;  // groups of lost (or, in sample mode, unclassified) blocks
  while (lost < n && groups[lost].kind != XSMEM_LEAK_REACHABLE) lost++;
  double lost_bytes = tot.classified ? tot.definite_bytes + tot.indirect_bytes : tot.bytes;
  double lost_count = tot.classified ? tot.definite_count + tot.indirect_count : tot.count;
  char sym[256], esc[512];
  bool sample = t->opt.mode == XSMEM_TRACK_SAMPLE;
  const char *est = sample ? "estimated " : "";
  if (format == XSMEM_REPORT_JSON) {
    xsmem_dprintf(fd,
                  "{\"allocator\":\"%s\",\"mode\":\"%s\",\"leaked_bytes\":%.0f,\"leaked_blocks\":%.0f,"
                  "\"sites\":%zu,\"classified\":%s,\"definitely_lost_bytes\":%.0f,\"definitely_lost_blocks\":%.0f,"
                  "\"indirectly_lost_bytes\":%.0f,\"indirectly_lost_blocks\":%.0f,\"reachable_bytes\":%.0f,"
                  "\"reachable_blocks\":%.0f,\"reachable_sites\":%zu,\"leaks\":[",
                  t->name, sample ? "sample" : "full", lost_bytes, lost_count, lost, tot.classified ? "true" : "false",
                  tot.definite_bytes, tot.definite_count, tot.indirect_bytes, tot.indirect_count, tot.reachable_bytes,
                  tot.reachable_count, tot.reachable_sites);
    for (size_t i = 0; i < n && i < max_sites; i++) {
      const xsmem_track_site *s = &groups[i].s;
      xsmem_dprintf(fd,
                    "%s{\"kind\":\"%s\",\"bytes\":%.0f,\"blocks\":%.0f,\"total_bytes\":%.0f,\"peak_bytes\":%.0f,"
                    "\"frames\":[",
                    i ? "," : "", kind_key(groups[i].kind), s->live_bytes, s->live_count, s->total_bytes,
                    s->peak_bytes);
      unsigned first = first_program_frame(s->frames, s->depth);
      for (unsigned k = first; k < s->depth; k++) {
        json_escape(esc, sizeof(esc), xsmem_tracker_symbolize(s->frames[k], sym, sizeof(sym)));
        xsmem_dprintf(fd, "%s{\"pc\":\"%p\",\"symbol\":\"%s\"}", k > first ? "," : "", (void *)s->frames[k], esc);
      }
      xsmem_dprintf(fd, "]}");
    }
    xsmem_dprintf(fd, "]}\n");
  } else {
    if (lost == 0) {
      xsmem_dprintf(fd, "xsmem: leak report for '%s' (pid %d): no leaks\n", t->name, (int)getpid());
    } else if (!tot.classified) {
      xsmem_dprintf(fd,
                    "xsmem: leak report for '%s' (pid %d): %s%.0f bytes in %.0f blocks unfreed, from %zu call sites\n",
                    t->name, (int)getpid(), est, lost_bytes, lost_count, lost);
    } else {
      xsmem_dprintf(fd,
                    "xsmem: leak report for '%s' (pid %d): %.0f bytes in %.0f blocks lost, from %zu groups: "
                    "definitely lost %.0f bytes in %.0f blocks, indirectly lost %.0f bytes in %.0f blocks\n",
                    t->name, (int)getpid(), lost_bytes, lost_count, lost, tot.definite_bytes, tot.definite_count,
                    tot.indirect_bytes, tot.indirect_count);
    }
    for (size_t i = 0; i < n && i < max_sites; i++) {
      const xsmem_track_site *s = &groups[i].s;
      char title[160];
      if (groups[i].kind == XSMEM_LEAK_UNCLASSIFIED) {
        xsmem_snprintf(title, sizeof(title), "%s%.0f bytes in %.0f blocks allocated at", est, s->live_bytes,
                       s->live_count);
      } else {
        xsmem_snprintf(title, sizeof(title), "%s: %.0f bytes in %.0f blocks allocated at",
                       xsmem_leak_kind_name(groups[i].kind), s->live_bytes, s->live_count);
      }
      tracker_print_frames(fd, title, s->frames, s->depth);
    }
    if (n > max_sites) xsmem_dprintf(fd, "  ... and %zu more groups\n", n - max_sites);
    if (tot.classified && tot.reachable_count > 0) {
      xsmem_dprintf(fd,
                    "xsmem: still reachable: %.0f bytes in %.0f blocks from %zu call sites (pointed to by globals, "
                    "stacks or TLS; %s)\n",
                    tot.reachable_bytes, tot.reachable_count, tot.reachable_sites,
                    n > lost ? "listed above" : "XSMEM_LEAK_SHOW_REACHABLE=1 lists them");
    } else if (sample) {
      xsmem_dprintf(fd,
                    "xsmem: sample mode estimates unfreed memory from sampled blocks and does not tell lost from "
                    "reachable; XSMEM_TRACK=full gives exact, classified figures\n");
    }
  }
  if (tot.suppressed_sites && format == XSMEM_REPORT_TEXT) {
    xsmem_dprintf(fd, "xsmem: (%s%.0f bytes from %zu call sites suppressed by XSMEM_LEAK_SUPPRESS)\n", est,
                  tot.suppressed_bytes, tot.suppressed_sites);
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
