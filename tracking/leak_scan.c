// tracking/leak_scan.c: which unfreed full-mode blocks are leaks, as
// LeakSanitizer and memcheck classify them.
//
// A block is still reachable when a pointer to it (its start or anywhere
// inside it: interior pointers count, as in LeakSanitizer) lies in a root or
// in a reachable block. Roots:
//   - the writable PT_LOAD segments of every loaded module (dl_iterate_phdr:
//     .data, .bss and the GOT of the program and its libraries),
//   - the calling thread's stack from the frame of the public call that asked
//     for the report up (the report's own frames below it are left out: their
//     unused slots keep what an earlier scan read), with the callee-saved
//     registers that call's entry spilled there (__builtin_unwind_init;
//     caller-saved ones hold nothing live across a call); not once the
//     thread has called exit() (g_exiting_tid below),
//   - every other registered thread's whole stack (their stack pointers and
//     registers are unknown without stopping them, so the dead area below
//     their stack pointer counts too, conservatively; a pointer held only in
//     another running thread's registers is missed),
//   - thread-local storage: the calling thread's TLS block of every module
//     (dl_iterate_phdr's dlpi_tls_data) and its thread control block's first
//     words (the DTV, through which dlopen'ed modules' TLS blocks are
//     reached); another thread's static TLS lies in its stack block (glibc
//     puts it above the stack), so scanning its whole stack covers it; the
//     main thread's, when another thread scans, is found at the same offset
//     from its TLS anchor (a variable of ours) as in the calling thread.
// Unreached blocks are definitely lost when no other unreached block points
// to them, and indirectly lost when one does (a lost list's head is
// definitely lost, its other nodes indirectly), as LeakSanitizer and memcheck
// say; of a lost cycle with no entry, the block first in address order is
// definitely lost and the others indirectly (memcheck's answer, where
// LeakSanitizer calls them all indirect).
//
// Threads register themselves (stack bounds, TLS anchor) the first time they
// use a full-mode tracker (tracker_tally_claim); a thread that never
// allocates nor frees through it is not known and its stack is not scanned.
// An entry whose thread has exited is skipped (tgkill(tid, 0) says ESRCH).
//
// Never faults: every root range is cut to the readable mappings of
// /proc/self/maps (no [vvar]), and blocks are read only within their
// requested bytes while the live set's walk is held open, so no block goes
// back to its allocator meanwhile (frees on other threads wait; this thread
// neither allocates nor frees between begin and end: the roots, the maps and
// the thread bounds are gathered before). The loads skip ASan's and TSan's
// checks: roots hold redzones (global and stack) and other threads write
// what is read.
//
// Memory: the block table (24 bytes a live block), the work stack and the
// root list come from os_vm and are unmapped when the caller is done.
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <link.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "platform/os_vm.h"
#include "tracking/tracker_internal.h"

// ---------------------------------------------------------------------------
// The thread registry.

typedef struct thread_entry {
  _Atomic uint32_t tid;  // 0: free
  uintptr_t lo, hi;      // the stack (with its block's TLS above it for threads glibc made)
  uintptr_t anchor;      // the address of this thread's xsmem_track_tid (static TLS)
} thread_entry;

enum { kThreads = 4096 };
static thread_entry g_threads[kThreads];

static bool tid_gone(uint32_t tid) {
  int saved = errno;
  bool gone = syscall(SYS_tgkill, (long)getpid(), (long)tid, 0) != 0 && errno == ESRCH;
  errno = saved;
  return gone;
}

void tracker_thread_note(void) {
  uint32_t tid = thread_id();
  if (XSMEM_UNLIKELY(!xsmem_track_stack_lo)) tracker_stack_bounds();
  if (xsmem_track_stack_lo > xsmem_track_stack_top) return;  // bounds unknown
  thread_entry *slot = NULL;
  for (int pass = 0; pass < 3 && !slot; pass++) {
    for (int i = 0; i < kThreads && !slot; i++) {
      uint32_t owner = atomic_load_explicit(&g_threads[i].tid, memory_order_relaxed);
      bool take = pass == 0 ? owner == tid : pass == 1 ? owner == 0 : tid_gone(owner);
      if (!take) continue;
      if (pass == 0) {
        slot = &g_threads[i];
      } else if (atomic_compare_exchange_strong(&g_threads[i].tid, &owner, UINT32_MAX)) {
        slot = &g_threads[i];  // held (UINT32_MAX) while its bounds are written
      }
    }
  }
  if (!slot) return;
  slot->lo = xsmem_track_stack_lo;
  slot->hi = xsmem_track_stack_top + 16;
  slot->anchor = (uintptr_t)&xsmem_track_tid;
  atomic_store_explicit(&slot->tid, tid, memory_order_release);
}

// The thread that called exit(): from then on its stack is no root. Its
// frames are exit handlers', and below them, in their unused slots, lies
// what main's and its callees' dead frames held (main has returned, or
// called exit and will not resume), which would keep lost blocks reachable
// by chance. Set by an atexit handler, which runs before any destructor (the
// exporter's last snapshot, the tracker's report at exit).
static _Atomic uint32_t g_exiting_tid;

static void note_exit(void) { atomic_store_explicit(&g_exiting_tid, thread_id(), memory_order_release); }

__attribute__((constructor)) static void watch_exit(void) { atexit(note_exit); }

// ---------------------------------------------------------------------------
// Ranges: the readable mappings, and the roots cut to them.

typedef struct range {
  uintptr_t lo, hi;
} range;

typedef struct range_list {
  range *r;
  size_t n, cap, mapped;
} range_list;

static bool ranges_init(range_list *l, size_t cap) {
  l->mapped = xsmem_align_up(cap * sizeof(range), xsmem_os_page_size());
  l->r = xsmem_os_map(l->mapped, xsmem_os_page_size(), 0);
  l->n = 0;
  l->cap = l->r ? l->mapped / sizeof(range) : 0;
  return l->r != NULL;
}

static void ranges_free(range_list *l) {
  if (l->r) xsmem_os_unmap(l->r, l->mapped);
  l->r = NULL;
}

static void ranges_add(range_list *l, uintptr_t lo, uintptr_t hi) {
  if (lo < hi && l->n < l->cap) l->r[l->n++] = (range){lo, hi};
}

static uintptr_t parse_hex(const char **p, const char *end) {
  uintptr_t v = 0;
  for (; *p < end; (*p)++) {
    char c = **p;
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) break;
    v = v << 4 | (uintptr_t)d;
  }
  return v;
}

// One line of /proc/self/maps: "lo-hi perms offset dev inode [name]".
static void maps_line(range_list *l, const char *s, const char *end) {
  uintptr_t lo = parse_hex(&s, end);
  if (s >= end || *s != '-') return;
  s++;
  uintptr_t hi = parse_hex(&s, end);
  if (s + 2 > end || s[1] != 'r') return;  // " r..." : readable
  for (const char *q = s; q + 6 <= end; q++) {
    if (memcmp(q, "[vvar", 5) == 0 || memcmp(q, "[vsysc", 6) == 0) return;  // reading may fault
  }
  // Adjacent readable mappings merge (a module's segments, a stack and its TLS).
  if (l->n && l->r[l->n - 1].hi == lo) {
    l->r[l->n - 1].hi = hi;
  } else {
    ranges_add(l, lo, hi);
  }
}

// The readable mappings, in address order (as the kernel lists them).
static bool read_maps(range_list *l) {
  if (!ranges_init(l, 1 << 16)) return false;
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t cap = 1 << 16, have = 0;
  char *buf = xsmem_os_map(cap, xsmem_os_page_size(), 0);
  if (!buf) {
    close(fd);
    return false;
  }
  for (;;) {
    ssize_t got = read(fd, buf + have, cap - have);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    have += (size_t)got;
    size_t start = 0;
    for (size_t i = 0; i < have; i++) {
      if (buf[i] != '\n') continue;
      maps_line(l, buf + start, buf + i);
      start = i + 1;
    }
    memmove(buf, buf + start, have - start);
    have -= start;
    if (have == cap) have = 0;  // a line longer than the buffer: dropped
  }
  if (have) maps_line(l, buf, buf + have);
  xsmem_os_unmap(buf, cap);
  close(fd);
  return l->n > 0;
}

// Adds [lo, hi) cut to the readable mappings.
static void add_root(range_list *roots, const range_list *maps, uintptr_t lo, uintptr_t hi) {
  // The first mapping ending above lo (binary search), then on while they start below hi.
  size_t a = 0, b = maps->n;
  while (a < b) {
    size_t m = (a + b) / 2;
    if (maps->r[m].hi <= lo) a = m + 1;
    else b = m;
  }
  for (size_t i = a; i < maps->n && maps->r[i].lo < hi; i++) {
    ranges_add(roots, XSMEM_MAX(lo, maps->r[i].lo), XSMEM_MIN(hi, maps->r[i].hi));
  }
}

typedef struct module_roots {
  range_list *roots;
  const range_list *maps;
  uintptr_t own_anchor;
  range tls[64];  // the calling thread's static TLS blocks (near its anchor)
  size_t n_tls;
} module_roots;

static int module_cb(struct dl_phdr_info *info, size_t size, void *ctx) {
  (void)size;
  module_roots *m = ctx;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W)) {
      uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
      add_root(m->roots, m->maps, lo, lo + ph->p_memsz);
    } else if (ph->p_type == PT_TLS && info->dlpi_tls_data && ph->p_memsz) {
      uintptr_t lo = (uintptr_t)info->dlpi_tls_data;
      add_root(m->roots, m->maps, lo, lo + ph->p_memsz);
      // Static TLS lies at a fixed offset from every thread's anchor (a
      // dlopen'ed module's dynamic TLS is a heap block, far away).
      uintptr_t d = lo > m->own_anchor ? lo - m->own_anchor : m->own_anchor - lo;
      if (d < ((uintptr_t)1 << 20) && m->n_tls < XSMEM_ARRAY_SIZE(m->tls))
        m->tls[m->n_tls++] = (range){lo, lo + ph->p_memsz};
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------
// The scan.

enum { kScanUnreached = 0, kScanIndirect = 1, kScanReached = 2 };

typedef struct scan_ctx {
  tracker_scan_result *s;
  uint32_t *work;
  size_t top;
  uintptr_t min, span;  // [min, min + span): the blocks' extent
  int phase;            // 0: from roots (marks reached), 1: from an unreached block (marks indirect)
  size_t self;          // phase 1: the block scanned from (not marked by its own pointers)
} scan_ctx;

// Appends a live block (during the walk: os_vm only, no malloc). The array
// doubles as it fills (no count first: counting reads every chunk's map
// once more, page faults and all); a block that finds no room is left
// unclassified.
static void collect_block(uintptr_t p, void *arg) {
  tracker_scan_result *s = arg;
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 65536;
    size_t bytes = xsmem_align_up(cap * sizeof(tracker_scan_block), xsmem_os_page_size());
    tracker_scan_block *b = xsmem_os_map(bytes, xsmem_os_page_size(), 0);
    if (!b) return;
    if (s->blocks) {
      memcpy(b, s->blocks, s->n * sizeof(*b));
      xsmem_os_unmap(s->blocks, s->mapped);
    }
    s->blocks = b;
    s->cap = cap;
    s->mapped = bytes;
  }
  const block_header *h = header_of((const void *)p);
  s->blocks[s->n++] = (tracker_scan_block){p, h->requested, h->site_index, kScanUnreached};
}

// The block holding address w, or SIZE_MAX. A block of 0 bytes holds its start.
static size_t find_block(const scan_ctx *c, uintptr_t w) {
  const tracker_scan_block *b = c->s->blocks;
  size_t lo = 0, hi = c->s->n;  // the last block starting at or below w
  while (lo < hi) {
    size_t m = (lo + hi) / 2;
    if (b[m].beg <= w) lo = m + 1;
    else hi = m;
  }
  if (lo == 0) return SIZE_MAX;
  const tracker_scan_block *k = &b[lo - 1];
  return w - k->beg < (k->size ? k->size : 1) ? lo - 1 : SIZE_MAX;
}

// Reads [lo, hi) a word at a time (aligned words only, as LeakSanitizer),
// marking the blocks the words point into. No ASan or TSan checks: roots
// hold redzones, and other threads may be writing.
__attribute__((no_sanitize_address, no_sanitize_thread, noinline)) static void scan_range(scan_ctx *c, uintptr_t lo,
                                                                                          uintptr_t hi) {
  tracker_scan_block *b = c->s->blocks;
  for (uintptr_t p = xsmem_align_up(lo, sizeof(uintptr_t)); p + sizeof(uintptr_t) <= hi; p += sizeof(uintptr_t)) {
    uintptr_t w = *(const volatile uintptr_t *)p;
    if (w - c->min >= c->span) continue;
    size_t k = find_block(c, w);
    if (k == SIZE_MAX || b[k].state != kScanUnreached) continue;
    if (c->phase == 1 && k == c->self) continue;
    b[k].state = c->phase == 0 ? kScanReached : kScanIndirect;
    c->work[c->top++] = (uint32_t)k;
  }
}

static void drain(scan_ctx *c) {
  while (c->top) {
    const tracker_scan_block *k = &c->s->blocks[c->work[--c->top]];
    scan_range(c, k->beg, k->beg + k->size);
  }
}

bool tracker_leak_scan(xsmem_tracker *t, tracker_scan_result *s, uintptr_t from) {
  memset(s, 0, sizeof(*s));
  if (t->opt.mode != XSMEM_TRACK_FULL) return false;
  // Everything that may allocate or take the loader's lock comes first:
  // while the walk is open, this thread must not free (its quiesce would
  // wait on itself), and another thread freeing under the loader's lock
  // would wait on it.
  xsmem_track_busy++;
  if (!xsmem_track_stack_lo) tracker_stack_bounds();
  xsmem_track_busy--;
  thread_id();
  range_list maps = {0}, roots = {0};
  bool ok = read_maps(&maps) && ranges_init(&roots, 1 << 14);
  if (ok) {
    module_roots m = {&roots, &maps, (uintptr_t)&xsmem_track_tid, {{0, 0}}, 0};
    dl_iterate_phdr(module_cb, &m);
    // The thread control block's first words (glibc x86-64: tcb, dtv, self).
#if defined(__x86_64__)
    uintptr_t tp;
    __asm__("mov %%fs:0, %0" : "=r"(tp));
    add_root(&roots, &maps, tp, tp + 4 * sizeof(uintptr_t));
#endif
    uint32_t self = xsmem_track_tid;
    for (int i = 0; i < kThreads; i++) {
      uint32_t tid = atomic_load_explicit(&g_threads[i].tid, memory_order_acquire);
      if (!tid || tid == UINT32_MAX || tid == self || tid_gone(tid)) continue;
      thread_entry *e = &g_threads[i];
      add_root(&roots, &maps, e->lo, e->hi);
      s->threads++;
      // Its static TLS where the stack block does not hold it (the main thread's).
      for (size_t k = 0; k < m.n_tls; k++) {
        uintptr_t lo = m.tls[k].lo - m.own_anchor + e->anchor, hi = m.tls[k].hi - m.own_anchor + e->anchor;
        if (lo < e->lo || hi > e->hi) add_root(&roots, &maps, lo, hi);
      }
    }
  }
  if (!ok) {
    ranges_free(&maps);
    ranges_free(&roots);
    return false;
  }
  scan_ctx c = {s, NULL, 0, 0, 0, 0, 0};
  live_set_walk_begin(&t->live);
  live_set_visit_ordered(&t->live, collect_block, s);
  if (s->n) {
    s->work_mapped = xsmem_align_up(s->n * sizeof(uint32_t), xsmem_os_page_size());
    s->work = c.work = xsmem_os_map(s->work_mapped, xsmem_os_page_size(), 0);
    if (!s->work) {
      live_set_walk_end(&t->live);
      ranges_free(&maps);
      ranges_free(&roots);
      tracker_leak_scan_release(s);
      return false;
    }
  }
  if (s->n) {
    c.min = s->blocks[0].beg;
    const tracker_scan_block *last = &s->blocks[s->n - 1];
    c.span = last->beg + (last->size ? last->size : 1) - c.min;
    // Blocks may be larger than the gap to the next: the extent is the
    // furthest end, not the last block's.
    for (size_t i = 0; i < s->n; i++) {
      uintptr_t end = s->blocks[i].beg + (s->blocks[i].size ? s->blocks[i].size : 1);
      if (end - c.min > c.span) c.span = end - c.min;
    }
    for (size_t i = 0; i < roots.n; i++) {
      s->root_bytes += roots.r[i].hi - roots.r[i].lo;
      scan_range(&c, roots.r[i].lo, roots.r[i].hi);
      drain(&c);
    }
    // The calling thread's stack above the report's own frames (whose
    // unused slots keep what an earlier scan read: a pointer seen on
    // another thread's stack would be found again in them).
    uintptr_t top = xsmem_track_stack_top + 16;
    bool exiting = atomic_load_explicit(&g_exiting_tid, memory_order_acquire) == xsmem_track_tid;
    if (!exiting && xsmem_track_stack_lo <= xsmem_track_stack_top && from < top) {
      if (from < xsmem_track_stack_lo) from = xsmem_track_stack_lo;
      scan_range(&c, from, top);
      drain(&c);
    }
    // What no root reaches: pointed to by another unreached block, indirectly lost.
    c.phase = 1;
    for (size_t i = 0; i < s->n; i++) {
      if (s->blocks[i].state != kScanUnreached) continue;
      c.self = i;
      scan_range(&c, s->blocks[i].beg, s->blocks[i].beg + s->blocks[i].size);
      drain(&c);
    }
  }
  live_set_walk_end(&t->live);
  ranges_free(&maps);
  ranges_free(&roots);
  return true;
}

void tracker_leak_scan_release(tracker_scan_result *s) {
  if (s->blocks) xsmem_os_unmap(s->blocks, s->mapped);
  if (s->work) xsmem_os_unmap(s->work, s->work_mapped);
  memset(s, 0, sizeof(*s));
}

xsmem_leak_kind tracker_scan_kind(const tracker_scan_block *b) {
  return b->state == kScanReached ? XSMEM_LEAK_REACHABLE
      : b->state == kScanIndirect ? XSMEM_LEAK_INDIRECT
                                  : XSMEM_LEAK_DEFINITE;
}
