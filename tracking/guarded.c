// tracking/guarded.c: guarded sampling (GWP-ASan's design).
//
// A pool of `guard_slots` data pages, each between two inaccessible guard
// pages: [guard][data 0][guard][data 1][guard]... One allocation in
// `guard_sample_rate` (a thread-local countdown) of at most a page is placed
// in a free slot, against the end of its page (so an overflow runs into the
// next guard page) or, every other time, against its start (so an underflow
// does). The slack between block and guard is filled with a pattern checked
// at free. On free the data page is made inaccessible and the slot joins the
// back of a FIFO, so it stays protected for as long as possible: a use after
// free faults. The SIGSEGV handler names the faulting address, the access
// (read or write, and its stack from the signal's context), the block and both
// call sites, then restores the previous handler and lets the fault recur, so
// core dumps and debuggers see the original fault.
//
// Which allocations: in sample mode, and with tracking off, a second clock on
// the sampler's byte countdown (tracker.c, sampled_alloc), so an unguarded
// malloc costs nothing more than an unsampled one; the pool is whole
// pagemap chunks tagged XSMEM_TAG_GUARD, so a shim that frees untagged or
// small-tier blocks inline sends guarded ones here. With a rate of 1 and in full mode, a thread-local countdown of
// allocations picks exactly one in N (tracker_guard_alloc).
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "platform/log.h"
#include "platform/once.h"
#include "platform/os_vm.h"
#include "platform/pagemap.h"
#include "tracking/tracker_fast.h"
#include "tracking/tracker_internal.h"

enum { kSlackByte = 0xAB };

XSMEM_TLS int64_t xsmem_guard_countdown;
static XSMEM_TLS unsigned t_guard_flip;

static xsmem_tracker *g_guarded[8];  // pools the signal handler knows
static struct sigaction g_old_segv, g_old_bus;
static xsmem_once g_handler;  // guard_signal installed

// The faulting access: its kind and stack, taken from the signal's context.
typedef struct guard_access {
  const char *kind;  // "read", "write" or "access"
  uintptr_t frames[XSMEM_TRACK_MAX_DEPTH];
  unsigned depth;
} guard_access;

static void guard_access_of(const void *uctx, unsigned depth, guard_access *out) {
  out->kind = "access";
  out->depth = 0;
#if defined(__x86_64__) && defined(REG_RIP)
  const ucontext_t *uc = uctx;
  if (!uc) return;
  // Page-fault error code: bit 1 set for a write.
  out->kind = uc->uc_mcontext.gregs[REG_ERR] & 2 ? "write" : "read";
  out->frames[0] = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
  out->depth = 1;
  if (depth > 1) {
    // The faulting function's frame record, where it keeps one; the frames
    // after the faulting instruction are return addresses, as in any stack.
    out->depth += tracker_walk_from((uintptr_t)uc->uc_mcontext.gregs[REG_RBP], out->frames + 1, depth - 1);
  }
#else
  (void)uctx;
  (void)depth;
#endif
}

static void guard_report_slot(xsmem_tracker *t, unsigned i, const char *what, uintptr_t addr, const guard_access *acc) {
  guard_slot *s = &t->guard.meta[i];
  xsmem_dprintf(2, "xsmem: tracker '%s': %s: %s of address %p: guarded block %p of %zu bytes (slot %u)\n", t->name,
                what, acc->kind, (void *)addr, (void *)s->user, s->size, i);
  if (acc->depth) tracker_print_frames(2, "accessed at", acc->frames, acc->depth);
  tracker_print_frames(2, "allocated at", s->alloc_frames, s->depth_alloc);
  if (s->state == 2) tracker_print_frames(2, "freed at", s->free_frames, s->depth_free);
}

// Explains a fault at addr inside t's pool.
static void guard_explain(xsmem_tracker *t, uintptr_t addr, const guard_access *acc) {
  guard_pool *g = &t->guard;
  size_t k = (addr - (uintptr_t)g->base) / g->page;  // odd: a data page, even: a guard page
  if (k & 1) {
    unsigned i = (unsigned)(k / 2);
    guard_report_slot(t, i, g->meta[i].state == 2 ? "use after free" : "access to an unused guarded page", addr, acc);
    return;
  }
  // A guard page: blame the nearer live (or freed) neighbour.
  unsigned left = k >= 2 ? (unsigned)(k / 2 - 1) : UINT32_MAX, right = (unsigned)(k / 2);
  uintptr_t guard_start = (uintptr_t)g->base + k * g->page;
  bool left_used = left != UINT32_MAX && g->meta[left].state != 0;
  bool right_used = right < g->slots && g->meta[right].state != 0;
  if (left_used && (!right_used || addr - guard_start < g->page / 2)) {
    guard_report_slot(t, left, "heap buffer overflow", addr, acc);
  } else if (right_used) {
    guard_report_slot(t, right, "heap buffer underflow", addr, acc);
  } else {
    xsmem_dprintf(2, "xsmem: tracker '%s': %s of address %p in a guard page with no block beside it\n", t->name,
                  acc->kind, (void *)addr);
    if (acc->depth) tracker_print_frames(2, "accessed at", acc->frames, acc->depth);
  }
}

static void guard_signal(int sig, siginfo_t *info, void *uctx) {
  uintptr_t addr = (uintptr_t)info->si_addr;
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(g_guarded); i++) {
    xsmem_tracker *t = __atomic_load_n(&g_guarded[i], __ATOMIC_ACQUIRE);
    if (t && addr - (uintptr_t)t->guard.base < t->guard.bytes) {
      atomic_fetch_add_explicit(&t->errors, 1, memory_order_relaxed);
      xsmem_track_busy++;
      guard_access acc;
      guard_access_of(uctx, t->opt.depth ? t->opt.depth : 1, &acc);
      guard_explain(t, addr, &acc);
      xsmem_track_busy--;
      break;
    }
  }
  // Hand the fault to whoever handled it before (by default: die with the signal).
  struct sigaction *old = sig == SIGBUS ? &g_old_bus : &g_old_segv;
  if (old->sa_flags & SA_SIGINFO) {
    if (old->sa_sigaction) {
      old->sa_sigaction(sig, info, uctx);
      return;
    }
  } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
    old->sa_handler(sig);
    return;
  }
  sigaction(sig, old, NULL);  // the faulting instruction runs again and the default action follows
}

static bool install_handler(void *ctx) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = guard_signal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &g_old_segv);
  sigaction(SIGBUS, &sa, &g_old_bus);
  return true;
}

bool tracker_guard_init(xsmem_tracker *t) {
  guard_pool *g = &t->guard;
  g->page = xsmem_os_page_size();
  g->slots = t->opt.guard_slots;
  g->bytes = (2 * (size_t)g->slots + 1) * g->page;
  size_t meta = xsmem_align_up(g->slots * (sizeof(guard_slot) + sizeof(unsigned)), g->page);
  g->meta = xsmem_os_map(meta, g->page, 0);
  if (!g->meta) return false;
  g->free_ring = (unsigned *)(g->meta + g->slots);
  for (unsigned i = 0; i < g->slots; i++) g->free_ring[i] = i;
  g->ring_count = g->slots;
  // Whole 4 MiB pagemap chunks, tagged: a shim that frees untagged memory
  // inline (system_tracked's) sends guarded blocks to the tracker by their tag.
  g->span = xsmem_align_up(g->bytes, XSMEM_PAGEMAP_CHUNK);
  uint8_t *base = xsmem_os_reserve(g->span, XSMEM_PAGEMAP_CHUNK);  // all inaccessible
  if (base && !xsmem_pagemap_set(base, g->span, XSMEM_TAG_GUARD)) {
    xsmem_os_release(base, g->span, 0);
    base = NULL;
  }
  if (!base) {
    xsmem_os_unmap(g->meta, meta);
    g->meta = NULL;
    return false;
  }
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(g_guarded); i++) {
    xsmem_tracker *expected = NULL;
    if (__atomic_compare_exchange_n(&g_guarded[i], &expected, t, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) break;
  }
  // Once per process; it chains to the previous handler (a sanitizer's, if any).
  xsmem_once_run(&g_handler, install_handler, NULL);
  __atomic_store_n(&g->base, base, __ATOMIC_RELEASE);
  return true;
}

XSMEM_TRACKER_TEXT void *tracker_guard_alloc(xsmem_tracker *t, size_t size, size_t align, unsigned flags) {
  // REQUIRES: the caller decremented xsmem_guard_countdown to <= 0.
  if (xsmem_guard_countdown < 0) {
    // First allocation of this thread: a random phase, in which this very
    // allocation is as likely to be picked as any (always, at a rate of 1).
    int64_t phase = (int64_t)((tracker_now_ns() >> 4) % t->opt.guard_sample_rate);
    if (phase) {
      xsmem_guard_countdown = phase;
      return NULL;
    }
  }
  xsmem_guard_countdown = (int64_t)t->opt.guard_sample_rate;
  return tracker_guard_place(t, size, align, flags);
}

XSMEM_TRACKER_TEXT void *tracker_guard_place(xsmem_tracker *t, size_t size, size_t align, unsigned flags) {
  guard_pool *g = &t->guard;
  if (size > g->page || align > g->page || xsmem_track_busy) return NULL;
  xsmem_spin_lock(&g->lock);
  if (g->ring_count == 0) {
    xsmem_spin_unlock(&g->lock);
    return NULL;
  }
  unsigned i = g->free_ring[g->ring_head];
  g->ring_head = (g->ring_head + 1) % g->slots;
  g->ring_count--;
  xsmem_spin_unlock(&g->lock);

  uint8_t *page = g->base + (2 * (size_t)i + 1) * g->page;
  if (mprotect(page, g->page, PROT_READ | PROT_WRITE) != 0) {
    xsmem_spin_lock(&g->lock);
    g->free_ring[(g->ring_head + g->ring_count++) % g->slots] = i;
    xsmem_spin_unlock(&g->lock);
    return NULL;
  }
  if (align < XSMEM_MIN_ALIGN) align = XSMEM_MIN_ALIGN;
  uint8_t *user;
  if ((t_guard_flip++ & 1) == 0) {
    user = page + xsmem_align_down(g->page - (size ? size : 1), align);  // against the next guard page
  } else {
    user = page;  // against the previous guard page
  }
  memset(page, kSlackByte, g->page);
  if (flags & XSMEM_ALLOC_ZERO) memset(user, 0, size);
  guard_slot *s = &g->meta[i];
  s->user = (uintptr_t)user;
  s->size = size;
  s->depth_alloc = tracker_capture(s->alloc_frames, t->opt.depth, t->opt.unwind);
  s->depth_free = 0;
  __atomic_store_n(&s->state, 1, __ATOMIC_RELEASE);
  atomic_fetch_add_explicit(&g->allocs, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&g->live_pages, 1, memory_order_relaxed);
  return user;
}

// Returns the first byte of [from, to) that lost the slack pattern, or NULL;
// eight bytes at a time where it can (a guarded free checks up to a page).
static const uint8_t *slack_damage(const uint8_t *from, const uint8_t *to) {
  const uint64_t pattern = 0x0101010101010101ull * kSlackByte;
  const uint8_t *b = from;
  for (; b < to && ((uintptr_t)b & 7); b++) {
    if (*b != kSlackByte) return b;
  }
  for (; b + 8 <= to; b += 8) {
    uint64_t w;
    memcpy(&w, b, 8);
    if (w != pattern) break;  // the byte loop below finds which
  }
  for (; b < to; b++) {
    if (*b != kSlackByte) return b;
  }
  return NULL;
}

XSMEM_TRACKER_TEXT void tracker_guard_free(xsmem_tracker *t, void *p) {
  guard_pool *g = &t->guard;
  size_t k = ((uintptr_t)p - (uintptr_t)g->base) / g->page;
  unsigned i = (unsigned)(k / 2);
  guard_slot *s = (k & 1) ? &g->meta[i] : NULL;
  if (!s || s->user != (uintptr_t)p || s->state != 1) {
    const char *what = s && s->user == (uintptr_t)p && s->state == 2
        ? "double free of a guarded block"
        : "free of a pointer inside the guarded pool that is not a block";
    atomic_fetch_add_explicit(&t->errors, 1, memory_order_relaxed);
    xsmem_track_busy++;
    static const guard_access kFree = {"free", {0}, 0};  // its stack follows
    if (s && s->state) guard_report_slot(t, i, what, (uintptr_t)p, &kFree);
    uintptr_t here[XSMEM_TRACK_MAX_DEPTH];
    unsigned n = tracker_capture(here, t->opt.depth, t->opt.unwind);
    tracker_print_frames(2, "freed again at", here, n);
    xsmem_track_busy--;
    xsmem_report_bad_pointer(t->name, "free", p, what);
    return;
  }
  // The slack around the block must still hold its pattern (overflows smaller
  // than the alignment do not reach the guard page).
  uint8_t *page = g->base + k * g->page;
  const uint8_t *b = slack_damage(page, (uint8_t *)p);
  if (!b) b = slack_damage((uint8_t *)p + s->size, page + g->page);
  if (b) {
    atomic_fetch_add_explicit(&t->errors, 1, memory_order_relaxed);
    xsmem_track_busy++;
    static const guard_access kFound = {"write (found when freed)", {0}, 0};
    guard_report_slot(
        t, i, b < (uint8_t *)p ? "heap buffer underflow (slack damaged)" : "heap buffer overflow (slack damaged)",
        (uintptr_t)b, &kFound);
    xsmem_track_busy--;
    xsmem_report_bad_pointer(t->name, "free", p, "guarded block's slack damaged");
  }
  s->depth_free = tracker_capture(s->free_frames, t->opt.depth, t->opt.unwind);
  __atomic_store_n(&s->state, 2, __ATOMIC_RELEASE);
  atomic_fetch_add_explicit(&g->frees, 1, memory_order_relaxed);
  atomic_fetch_sub_explicit(&g->live_pages, 1, memory_order_relaxed);
  // Protected, not decommitted: the slot's next use then costs one mprotect
  // and no page fault (at most guard_slots pages stay resident).
  xsmem_os_protect(page, g->page);
  xsmem_spin_lock(&g->lock);
  g->free_ring[(g->ring_head + g->ring_count++) % g->slots] = i;
  xsmem_spin_unlock(&g->lock);
}

size_t tracker_guard_usable(const xsmem_tracker *t, const void *p) {
  const guard_pool *g = &t->guard;
  size_t k = ((uintptr_t)p - (uintptr_t)g->base) / g->page;
  const guard_slot *s = &g->meta[k / 2];
  return (k & 1) && s->user == (uintptr_t)p && s->state == 1 ? s->size : 0;
}
