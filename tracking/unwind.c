// tracking/unwind.c: stacks from .eh_frame through per-module rule tables
// (tracking/unwind.h).
//
// A module's table is built once, by the first thread whose walk meets it:
// each FDE's call-frame program (the CIE's initial instructions, then the
// FDE's) is run once, and every range of code with its own rule becomes a
// row {offset from the load bias, rule}, sorted because .eh_frame_hdr lists
// the FDEs by address; ranges no FDE covers get a stop row. A rule is 30
// bits: how the CFA is found (rsp+N or rbp+N, N < 2^20), and in which slot
// below the CFA the caller's rbp is saved (none: rbp is unchanged). A row
// that cannot be expressed so (the return address not at CFA-8 or not
// recoverable, a CFA or an rbp given by a DWARF expression or another
// register, a signal frame) is a stop row: the walk keeps that frame's
// address and goes no further.
//
// The cache in front of the tables maps a return address to its rule in one
// 64-bit word (the address's top bits as a tag, the rule): a hit is a load
// and a compare; relaxed atomics, so racing threads see an old entry or a
// new one, never half of one. Only addresses in executable segments are
// cached, so a hit also says the frame is code.
#include "tracking/unwind.h"

#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "platform/base.h"
#include "platform/os_vm.h"

enum {
  kMaxModules = 1024,  // modules ever seen (a dlopen/dlclose churn past it leaves new ones unwound no further)
  kMaxExec = 4,        // executable segments kept per module
  kCacheBits = 15,     // rule cache: 2^15 words (256 KiB)
  kTagShift = 15,      // the cache index's bits of the address, recovered from the index and the tag
  kRuleBits = 30,
  kStates = 16,  // DW_CFA_remember_state nesting followed
};

// A rule: bits 0-1 how the CFA is found, 2-21 its offset, 22-29 the slot of
// the saved rbp (k: at CFA - 8k; 0: rbp unchanged).
enum { kStop = 0, kCfaSp = 1, kCfaBp = 2 };
#define RULE(kind, off, k) ((uint32_t)(kind) | (uint32_t)(off) << 2 | (uint32_t)(k) << 22)
#define RULE_KIND(r) ((r)&3u)
#define RULE_OFF(r) (((r) >> 2) & 0xFFFFFu)
#define RULE_BP(r) (((r) >> 22) & 0xFFu)
#define kNotCode 0xFFFFFFFFu  // no rule: the address is in no executable segment (never cached)

typedef struct row {
  uint32_t off;  // address - load bias where the rule starts
  uint32_t rule;
} row;

typedef struct module {
  uintptr_t bias;
  uintptr_t exec[kMaxExec][2];  // executable segments [lo, hi)
  unsigned nexec;
  uintptr_t lo, hi;           // extent of the executable segments (the index's key)
  uintptr_t hdr;              // .eh_frame_hdr as mapped (0: none)
  uintptr_t seg_lo, seg_hi;   // the segment holding it: every read of the CFI stays inside
  _Atomic int state;          // kUnbuilt, kBuilding, kBuilt, kNoTable
  _Atomic uintptr_t builder;  // pthread_self() of the building thread
  _Atomic int builder_pid;    // its process: a fork() amid the build leaves the child a build nobody ends
  const row *rows;
  uint32_t nrows;
  size_t mapped;  // bytes of the rows' mapping
} module;

enum { kUnbuilt = 0, kBuilding = 1, kBuilt = 2, kNoTable = 3 };

// The loaded modules sorted by address (immutable once published; a rescan
// publishes a new one and keeps the old, which a walk may still read).
typedef struct module_index {
  unsigned n;
  module *m[];
} module_index;

static struct {
  _Atomic int state;  // 0 not set up, 1 setting up, 2 ready, 3 failed
  _Atomic(uint64_t) *cache;
  module *pool;  // kMaxModules, os_vm
  _Atomic unsigned pool_used;
  _Atomic(module_index *) index;
  _Atomic uintptr_t scan_owner;   // pthread_self() of the thread scanning the modules
  _Atomic int scan_pid;           // its process while it scans (0 otherwise)
  unsigned long long adds, subs;  // dl_iterate_phdr's counters at the last scan
  _Atomic uint64_t index_bytes;   // mappings of the indexes published
} g;

static bool setup(void) {
  int s = atomic_load_explicit(&g.state, memory_order_acquire);
  if (XSMEM_LIKELY(s == 2)) return true;
  if (s == 0 && atomic_compare_exchange_strong(&g.state, &s, 1)) {
    g.cache = xsmem_os_map(sizeof(uint64_t) << kCacheBits, 4096, 0);
    g.pool = xsmem_os_map(sizeof(module) * kMaxModules, 4096, 0);
    atomic_store_explicit(&g.state, g.cache && g.pool ? 2 : 3, memory_order_release);
  }
  while ((s = atomic_load_explicit(&g.state, memory_order_acquire)) == 1) sched_yield();
  return s == 2;
}

// ---------------------------------------------------------------------------
// The loaded modules.

typedef struct scan {
  module_index *ix;
  unsigned cap;
} scan;

static int count_cb(struct dl_phdr_info *info, size_t size, void *arg) {
  unsigned long long *c = arg;
  if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
    c[0] = info->dlpi_adds;
    c[1] = info->dlpi_subs;
  }
  return 1;  // the counters are the same in every entry: one is enough
}

static int scan_cb(struct dl_phdr_info *info, size_t size, void *arg) {
  scan *s = arg;
  module m;
  memset(&m, 0, sizeof(m));
  m.bias = info->dlpi_addr;
  uintptr_t hdr_vaddr = 0;
  bool has_hdr = false;
  for (unsigned i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && ph->p_memsz && m.nexec < kMaxExec) {
      m.exec[m.nexec][0] = m.bias + ph->p_vaddr;
      m.exec[m.nexec][1] = m.bias + ph->p_vaddr + ph->p_memsz;
      m.nexec++;
    } else if (ph->p_type == PT_GNU_EH_FRAME) {
      hdr_vaddr = ph->p_vaddr;
      has_hdr = true;
    }
  }
  if (!m.nexec || s->ix->n == s->cap) return 0;
  m.lo = m.exec[0][0];
  m.hi = m.exec[0][1];
  for (unsigned i = 1; i < m.nexec; i++) {
    if (m.exec[i][0] < m.lo) m.lo = m.exec[i][0];
    if (m.exec[i][1] > m.hi) m.hi = m.exec[i][1];
  }
  for (unsigned i = 0; has_hdr && i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_LOAD && hdr_vaddr - ph->p_vaddr < ph->p_filesz) {
      m.hdr = m.bias + hdr_vaddr;
      m.seg_lo = m.bias + ph->p_vaddr;
      m.seg_hi = m.bias + ph->p_vaddr + ph->p_filesz;
    }
  }
  // The same module as before (its table stays), or a new one.
  module *found = NULL;
  unsigned used = atomic_load_explicit(&g.pool_used, memory_order_relaxed);
  for (unsigned i = 0; i < used && !found; i++) {
    module *o = &g.pool[i];
    if (o->bias == m.bias && o->lo == m.lo && o->hi == m.hi && o->hdr == m.hdr) found = o;
  }
  if (!found) {
    if (used == kMaxModules) return 0;
    found = &g.pool[used];
    memcpy(found, &m, sizeof(m));
    atomic_store_explicit(&g.pool_used, used + 1, memory_order_release);
  }
  // Insertion by lo (the loader's list is nearly in address order anyway).
  unsigned j = s->ix->n++;
  while (j > 0 && s->ix->m[j - 1]->lo > found->lo) {
    s->ix->m[j] = s->ix->m[j - 1];
    j--;
  }
  s->ix->m[j] = found;
  return 0;
}

// The scan's lock. Its owner may be a thread of the parent process that
// forked this one amid a scan: that thread is gone here, so its lock is
// taken over.
static bool scan_lock(void) {
  uintptr_t self = (uintptr_t)pthread_self();
  for (;;) {
    uintptr_t owner = 0;
    if (atomic_compare_exchange_weak(&g.scan_owner, &owner, self)) break;
    int pid = atomic_load(&g.scan_pid);
    if (pid && pid != getpid()) {
      if (atomic_compare_exchange_strong(&g.scan_owner, &owner, self)) break;
      continue;
    }
    if (owner == self) return false;  // re-entered (a signal handler's walk): give up
    sched_yield();
  }
  atomic_store(&g.scan_pid, getpid());
  return true;
}

static void scan_unlock(void) {
  atomic_store(&g.scan_pid, 0);
  atomic_store_explicit(&g.scan_owner, 0, memory_order_release);
}

// Scans the loaded modules again when the loader's list changed since the
// last scan (or there was none); the new index is published.
static void rescan(void) {
  if (!scan_lock()) return;
  unsigned long long c[2] = {~0ull, ~0ull};
  dl_iterate_phdr(count_cb, c);
  if (!atomic_load_explicit(&g.index, memory_order_relaxed) || c[0] != g.adds || c[1] != g.subs) {
    size_t bytes = offsetof(module_index, m) + sizeof(module *) * kMaxModules;
    scan s = {xsmem_os_map(bytes, 4096, 0), kMaxModules};
    if (s.ix) {
      dl_iterate_phdr(scan_cb, &s);
      g.adds = c[0];
      g.subs = c[1];
      atomic_store_explicit(&g.index, s.ix, memory_order_release);
      atomic_fetch_add_explicit(&g.index_bytes, bytes, memory_order_relaxed);
    }
  }
  scan_unlock();
}

static module *module_in(const module_index *ix, uintptr_t pc) {
  if (!ix) return NULL;
  unsigned lo = 0, hi = ix->n;  // the last module with m->lo <= pc
  while (lo < hi) {
    unsigned mid = (lo + hi) / 2;
    if (ix->m[mid]->lo <= pc) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  // Modules' extents may interleave: look back over those starting below pc.
  for (unsigned i = lo; i-- > 0;) {
    module *m = ix->m[i];
    for (unsigned k = 0; k < m->nexec; k++) {
      if (pc - m->exec[k][0] < m->exec[k][1] - m->exec[k][0]) return m;
    }
    if (lo - i >= 4) break;
  }
  return NULL;
}

static module *find_module(uintptr_t pc) {
  module *m = module_in(atomic_load_explicit(&g.index, memory_order_acquire), pc);
  if (m) return m;
  rescan();
  return module_in(atomic_load_explicit(&g.index, memory_order_acquire), pc);
}

// ---------------------------------------------------------------------------
// Reading the CFI (bounded by the segment holding it).

typedef struct cursor {
  const uint8_t *p, *end;
  bool bad;
} cursor;

static uint64_t u8(cursor *c) {
  if (c->p >= c->end) {
    c->bad = true;
    return 0;
  }
  return *c->p++;
}

static uint64_t fixed(cursor *c, unsigned n) {
  if ((size_t)(c->end - c->p) < n) {
    c->bad = true;
    c->p = c->end;
    return 0;
  }
  uint64_t v = 0;
  memcpy(&v, c->p, n);  // little-endian
  c->p += n;
  return v;
}

static uint64_t uleb(cursor *c) {
  uint64_t v = 0;
  for (unsigned shift = 0;; shift += 7) {
    uint64_t b = u8(c);
    if (shift < 64) v |= (b & 0x7f) << shift;
    if (!(b & 0x80) || c->bad) return v;
  }
}

static int64_t sleb(cursor *c) {
  uint64_t v = 0, b;
  unsigned shift = 0;
  do {
    b = u8(c);
    if (shift < 64) v |= (b & 0x7f) << shift;
    shift += 7;
  } while ((b & 0x80) && !c->bad);
  if (shift < 64 && (b & 0x40)) v |= ~0ull << shift;
  return (int64_t)v;
}

// A pointer encoded as DW_EH_PE `enc` (pc-relative or absolute; data- and
// text-relative forms are not used in .eh_frame's FDEs on x86-64).
static uintptr_t encoded(cursor *c, uint8_t enc) {
  if (enc == 0xff) return 0;  // DW_EH_PE_omit
  uintptr_t at = (uintptr_t)c->p;
  uint64_t v;
  switch (enc & 0x0f) {
    case 0x00: v = fixed(c, 8); break;
    case 0x01: v = uleb(c); break;
    case 0x02: v = fixed(c, 2); break;
    case 0x03: v = fixed(c, 4); break;
    case 0x04: v = fixed(c, 8); break;
    case 0x09: v = (uint64_t)sleb(c); break;
    case 0x0a: v = (uint64_t)(int64_t)(int16_t)fixed(c, 2); break;
    case 0x0b: v = (uint64_t)(int64_t)(int32_t)fixed(c, 4); break;
    case 0x0c: v = fixed(c, 8); break;
    default: c->bad = true; return 0;
  }
  switch (enc & 0x70) {
    case 0x00: break;
    case 0x10: v += at; break;
    default: c->bad = true; return 0;
  }
  if (enc & 0x80) c->bad = true;  // indirect: only for personality pointers, which are skipped
  return (uintptr_t)v;
}

// The registers the rules follow (DWARF numbers on x86-64).
enum { kRegRbp = 6, kRegRsp = 7, kRegRa = 16 };
enum { kSame = 0, kAt = 1, kOther = 2, kUndefined = 3 };  // a register's rule

typedef struct cfi_state {
  int64_t cfa_off;
  int64_t bp_off, ra_off;  // offsets from the CFA (kAt)
  uint8_t cfa_reg;
  bool cfa_expr;
  uint8_t bp_how, ra_how;
} cfi_state;

typedef struct cie_info {
  const uint8_t *at;  // the CIE (cache key)
  const uint8_t *insns, *end;
  uint64_t code_align;
  int64_t data_align;
  uint64_t ra_reg;
  uint8_t fde_enc;
  bool has_aug_data, signal, ok;
} cie_info;

static bool parse_cie(const uint8_t *at, const module *m, cie_info *ci) {
  memset(ci, 0, sizeof(*ci));
  ci->at = at;
  cursor c = {at, (const uint8_t *)m->seg_hi, false};
  if (at < (const uint8_t *)m->seg_lo) return false;
  uint64_t len = fixed(&c, 4);
  if (len == 0 || len >= 0xfffffff0u || (uint64_t)(c.end - c.p) < len) return false;
  c.end = c.p + len;
  if (fixed(&c, 4) != 0) return false;  // a CIE's id is 0 in .eh_frame
  uint64_t version = u8(&c);
  if (version != 1 && version != 3) return false;
  const char *aug = (const char *)c.p;
  size_t alen = strnlen(aug, (size_t)(c.end - c.p));
  if (alen == (size_t)(c.end - c.p)) return false;
  c.p += alen + 1;
  if (aug[0] && aug[0] != 'z') return false;  // "eh" and other old forms
  ci->code_align = uleb(&c);
  ci->data_align = sleb(&c);
  ci->ra_reg = version == 1 ? u8(&c) : uleb(&c);
  if (aug[0] == 'z') {
    ci->has_aug_data = true;
    uint64_t n = uleb(&c);
    if (c.bad || (uint64_t)(c.end - c.p) < n) return false;
    cursor a = {c.p, c.p + n, false};
    for (size_t i = 1; i < alen && !a.bad; i++) {
      switch (aug[i]) {
        case 'R': ci->fde_enc = (uint8_t)u8(&a); break;
        case 'P': {
          uint8_t enc = (uint8_t)u8(&a);
          (void)encoded(&a, enc & 0x0f);  // the personality routine: skipped (only its size matters)
          break;
        }
        case 'L': u8(&a); break;
        case 'S': ci->signal = true; break;
        case 'B': break;
        default: i = alen; break;  // unknown: the data's length lets the rest be skipped
      }
    }
    c.p += n;
  }
  if (c.bad || ci->ra_reg != kRegRa) return false;
  ci->insns = c.p;
  ci->end = c.end;
  ci->ok = true;
  return true;
}

typedef struct builder {
  const module *m;
  row *rows;
  uint32_t n, cap;
} builder;

static uint32_t rule_of(const cfi_state *s, bool signal) {
  if (signal || s->cfa_expr || s->ra_how != kAt || s->ra_off != -8) return kStop;
  unsigned kind = s->cfa_reg == kRegRsp ? kCfaSp : s->cfa_reg == kRegRbp ? kCfaBp : kStop;
  if (kind == kStop || s->cfa_off < 8 || s->cfa_off > 0xFFFFF) return kStop;
  unsigned k = 0;
  if (s->bp_how == kAt) {
    if (s->bp_off >= 0 || (s->bp_off & 7) || -s->bp_off / 8 > 255) return kStop;
    k = (unsigned)(-s->bp_off / 8);
  } else if (s->bp_how == kOther) {
    return kStop;
  }
  return RULE(kind, s->cfa_off, k);
}

// Adds the row {addr, rule}: replaces a row at the same address, merges
// into a previous one with the same rule, refuses to go backwards.
static void emit(builder *b, uintptr_t addr, uint32_t rule) {
  uintptr_t off = addr - b->m->bias;
  if (off > UINT32_MAX) return;
  if (b->n && b->rows[b->n - 1].off == off) {
    b->n--;
  } else if (b->n && b->rows[b->n - 1].off > off) {
    return;
  }
  if (b->n && b->rows[b->n - 1].rule == rule) return;
  if (b->n == b->cap) return;
  b->rows[b->n].off = (uint32_t)off;
  b->rows[b->n].rule = rule;
  b->n++;
}

// Runs call-frame instructions over s from loc; with b set, emits a row at
// every advance. init: the CIE's state (for DW_CFA_restore). Returns false
// on an instruction it cannot follow (the rest of the FDE is then unknown).
static bool run_cfi(cursor *c, const cie_info *ci, cfi_state *s, const cfi_state *init, uintptr_t *loc,
                    uintptr_t end_pc, builder *b, bool signal) {
  cfi_state stack[kStates];
  unsigned depth = 0;
  while (c->p < c->end && !c->bad) {
    uint8_t op = (uint8_t)u8(c);
    uint64_t reg = 0, delta = 0;
    int64_t off = 0;
    bool advance = false;
    switch (op >> 6) {
      case 1:
        delta = op & 0x3f;
        advance = true;
        break;
      case 2:
        reg = op & 0x3f;
        off = (int64_t)uleb(c) * ci->data_align;
        goto set_at;
      case 3: reg = op & 0x3f; goto restore;
      default: break;
    }
    if (!advance) {
      switch (op) {
        case 0x00: break;  // nop
        case 0x01: {       // set_loc
          uintptr_t to = encoded(c, ci->fde_enc);
          if (b && to > *loc) emit(b, *loc, rule_of(s, signal));
          *loc = to;
          break;
        }
        case 0x02:
          delta = fixed(c, 1);
          advance = true;
          break;
        case 0x03:
          delta = fixed(c, 2);
          advance = true;
          break;
        case 0x04:
          delta = fixed(c, 4);
          advance = true;
          break;
        case 0x05:  // offset_extended
          reg = uleb(c);
          off = (int64_t)uleb(c) * ci->data_align;
          goto set_at;
        case 0x11:  // offset_extended_sf
          reg = uleb(c);
          off = sleb(c) * ci->data_align;
          goto set_at;
        case 0x2f:  // GNU_negative_offset_extended
          reg = uleb(c);
          off = -(int64_t)uleb(c) * ci->data_align;
          goto set_at;
        case 0x06:  // restore_extended
          reg = uleb(c);
          goto restore;
        case 0x07:  // undefined
          reg = uleb(c);
          if (reg == kRegRbp) s->bp_how = kSame;  // its value is lost; the walk keeps what it had
          if (reg == kRegRa) s->ra_how = kUndefined;
          break;
        case 0x08:  // same_value
          reg = uleb(c);
          if (reg == kRegRbp) s->bp_how = kSame;
          if (reg == kRegRa) s->ra_how = kOther;
          break;
        case 0x09:  // register
          reg = uleb(c);
          uleb(c);
          if (reg == kRegRbp) s->bp_how = kOther;
          if (reg == kRegRa) s->ra_how = kOther;
          break;
        case 0x0a:  // remember_state
          if (depth == kStates) return false;
          stack[depth++] = *s;
          break;
        case 0x0b:  // restore_state
          if (!depth) return false;
          *s = stack[--depth];
          break;
        case 0x0c:  // def_cfa
          s->cfa_reg = (uint8_t)uleb(c);
          s->cfa_off = (int64_t)uleb(c);
          s->cfa_expr = false;
          break;
        case 0x12:  // def_cfa_sf
          s->cfa_reg = (uint8_t)uleb(c);
          s->cfa_off = sleb(c) * ci->data_align;
          s->cfa_expr = false;
          break;
        case 0x0d:  // def_cfa_register
          s->cfa_reg = (uint8_t)uleb(c);
          s->cfa_expr = false;
          break;
        case 0x0e: s->cfa_off = (int64_t)uleb(c); break;          // def_cfa_offset
        case 0x13: s->cfa_off = sleb(c) * ci->data_align; break;  // def_cfa_offset_sf
        case 0x0f: {                                              // def_cfa_expression
          uint64_t n = uleb(c);
          if ((uint64_t)(c->end - c->p) < n) return false;
          c->p += n;
          s->cfa_expr = true;
          break;
        }
        case 0x10:    // expression
        case 0x16: {  // val_expression
          reg = uleb(c);
          uint64_t n = uleb(c);
          if ((uint64_t)(c->end - c->p) < n) return false;
          c->p += n;
          if (reg == kRegRbp) s->bp_how = kOther;
          if (reg == kRegRa) s->ra_how = kOther;
          break;
        }
        case 0x14:  // val_offset
        case 0x15:  // val_offset_sf
          reg = uleb(c);
          if (op == 0x14) {
            uleb(c);
          } else {
            sleb(c);
          }
          if (reg == kRegRbp) s->bp_how = kOther;
          if (reg == kRegRa) s->ra_how = kOther;
          break;
        case 0x2e: uleb(c); break;  // GNU_args_size
        default: return false;
      }
    }
    if (advance) {
      uintptr_t to = *loc + delta * ci->code_align;
      if (b && to > *loc) emit(b, *loc, rule_of(s, signal));
      *loc = to;
      if (*loc >= end_pc) return !c->bad;
    }
    continue;
  set_at:
    if (reg == kRegRbp) {
      s->bp_how = kAt;
      s->bp_off = off;
    } else if (reg == kRegRa) {
      s->ra_how = kAt;
      s->ra_off = off;
    }
    continue;
  restore:
    if (reg == kRegRbp) {
      s->bp_how = init->bp_how;
      s->bp_off = init->bp_off;
    } else if (reg == kRegRa) {
      s->ra_how = init->ra_how;
      s->ra_off = init->ra_off;
    }
  }
  return !c->bad;
}

// Emits the rows of one FDE (at fde, describing code from pc_begin).
static void add_fde(builder *b, const uint8_t *fde, cie_info *ci) {
  const module *m = b->m;
  cursor c = {fde, (const uint8_t *)m->seg_hi, false};
  if (fde < (const uint8_t *)m->seg_lo) return;
  uint64_t len = fixed(&c, 4);
  if (len == 0 || len >= 0xfffffff0u || (uint64_t)(c.end - c.p) < len) return;
  c.end = c.p + len;
  const uint8_t *id_at = c.p;
  uint64_t id = fixed(&c, 4);
  if (id == 0 || c.bad) return;  // a CIE
  const uint8_t *cie = id_at - id;
  if (ci->at != cie && !parse_cie(cie, m, ci)) return;
  if (!ci->ok) return;
  uintptr_t begin = encoded(&c, ci->fde_enc);
  uintptr_t range = encoded(&c, ci->fde_enc & 0x0f);
  if (ci->has_aug_data) {
    uint64_t n = uleb(&c);
    if ((uint64_t)(c.end - c.p) < n) return;
    c.p += n;
  }
  if (c.bad || !range || begin + range < begin) return;
  uintptr_t end_pc = begin + range;
  cfi_state init;
  memset(&init, 0, sizeof(init));
  init.cfa_reg = kRegRsp;
  init.ra_how = kUndefined;
  uintptr_t loc = begin;
  cursor ic = {ci->insns, ci->end, false};
  if (!run_cfi(&ic, ci, &init, &init, &loc, end_pc, NULL, ci->signal)) return;
  cfi_state s = init;
  loc = begin;
  bool ok = run_cfi(&c, ci, &s, &init, &loc, end_pc, b, ci->signal);
  if (loc < end_pc) emit(b, loc, ok ? rule_of(&s, ci->signal) : kStop);
  emit(b, end_pc, kStop);
}

static void build(module *m) {
  const uint8_t *hdr = (const uint8_t *)m->hdr;
  cursor c = {hdr, (const uint8_t *)m->seg_hi, false};
  if (!hdr || fixed(&c, 1) != 1) return;
  uint8_t ptr_enc = (uint8_t)u8(&c), count_enc = (uint8_t)u8(&c), table_enc = (uint8_t)u8(&c);
  (void)encoded(&c, ptr_enc);
  uint64_t count = encoded(&c, count_enc);
  // The binary-search table: pairs of (initial location, FDE address), each
  // a signed 4-byte offset from the header (DW_EH_PE_datarel | sdata4).
  if (c.bad || table_enc != 0x3b || count == 0 || (uint64_t)(c.end - c.p) / 8 < count) return;
  const uint8_t *table = c.p;
  // At most a row per instruction byte, and two per FDE.
  uint64_t cap = 1;
  for (uint64_t i = 0; i < count; i++) {
    int32_t fde_off;
    memcpy(&fde_off, table + 8 * i + 4, 4);
    const uint8_t *fde = hdr + fde_off;
    uint32_t len = 0;
    if (fde >= (const uint8_t *)m->seg_lo && (uintptr_t)fde + 4 <= m->seg_hi) memcpy(&len, fde, 4);
    cap += 2 + (len < 0xfffffff0u ? len : 0);
  }
  if (cap > UINT32_MAX) return;
  size_t page = xsmem_os_page_size();
  size_t bytes = ((size_t)cap * sizeof(row) + page - 1) & ~(page - 1);
  row *rows = xsmem_os_map(bytes, 4096, 0);
  if (!rows) return;
  builder b = {m, rows, 0, (uint32_t)cap};
  cie_info ci;
  memset(&ci, 0, sizeof(ci));
  for (uint64_t i = 0; i < count; i++) {
    int32_t fde_off;
    memcpy(&fde_off, table + 8 * i + 4, 4);
    add_fde(&b, hdr + fde_off, &ci);
  }
  // Give back the pages the rows did not need.
  size_t used = ((size_t)b.n * sizeof(row) + page - 1) & ~(page - 1);
  if (used < page) used = page;
  if (used < bytes) {
    row *kept = xsmem_os_remap(rows, bytes, used, NULL);  // shrinks in place
    if (kept) {
      rows = kept;
    } else {
      used = bytes;
    }
  }
  m->rows = rows;
  m->nrows = b.n;
  m->mapped = used;
}

static bool build_now(module *m, uintptr_t self) {
  atomic_store_explicit(&m->builder, self, memory_order_relaxed);
  atomic_store(&m->builder_pid, getpid());
  build(m);
  atomic_store_explicit(&m->state, m->rows ? kBuilt : kNoTable, memory_order_release);
  return m->rows != NULL;
}

// Whether m's table is ready (building it if nobody has); false when it
// cannot be built, or is being built by this thread (a re-entered walk).
// *final: the answer will not change (it may be cached).
static bool module_ready(module *m, bool *final) {
  int s = atomic_load_explicit(&m->state, memory_order_acquire);
  *final = true;
  if (XSMEM_LIKELY(s == kBuilt)) return true;
  if (s == kNoTable) return false;
  uintptr_t self = (uintptr_t)pthread_self();
  if (s == kUnbuilt && atomic_compare_exchange_strong(&m->state, &s, kBuilding)) return build_now(m, self);
  if (atomic_load_explicit(&m->builder, memory_order_relaxed) == self && atomic_load(&m->builder_pid) == getpid()) {
    *final = false;
    return false;
  }
  while ((s = atomic_load_explicit(&m->state, memory_order_acquire)) == kBuilding) {
    // A builder of the parent process, gone in this child: build it here.
    int pid = atomic_load(&m->builder_pid), me = getpid();
    if (pid && pid != me && atomic_compare_exchange_strong(&m->builder_pid, &pid, me)) return build_now(m, self);
    sched_yield();
  }
  return s == kBuilt;
}

// The rule at a return address of module m (the call is the byte before).
static uint32_t table_rule(const module *m, uintptr_t pc) {
  uintptr_t off = pc - 1 - m->bias;
  if (off > UINT32_MAX) return kStop;
  uint32_t lo = 0, hi = m->nrows;  // the last row with row.off <= off
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (m->rows[mid].off <= off) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo ? m->rows[lo - 1].rule : kStop;
}

XSMEM_INLINE size_t cache_slot(uintptr_t pc) {
  return (pc ^ (pc >> kTagShift) ^ (pc >> (2 * kTagShift))) & ((1u << kCacheBits) - 1);
}

XSMEM_NOINLINE static uint32_t rule_slow(uintptr_t pc) {
  module *m = find_module(pc);
  if (!m) return kNotCode;
  bool final;
  uint32_t rule = module_ready(m, &final) ? table_rule(m, pc) : kStop;
  if (final && pc >> 47 == 0) {
    uint64_t e = (uint64_t)(pc >> kTagShift) << kRuleBits | rule;
    atomic_store_explicit(&g.cache[cache_slot(pc)], e, memory_order_relaxed);
  }
  return rule;
}

// The rule at return address pc, or kNotCode.
XSMEM_INLINE uint32_t rule_at(uintptr_t pc) {
  if (XSMEM_UNLIKELY(pc < 65536)) return kNotCode;  // also keeps tag 0 (an empty slot) unmatched
  uint64_t e = atomic_load_explicit(&g.cache[cache_slot(pc)], memory_order_relaxed);
  if (XSMEM_LIKELY(e >> kRuleBits == pc >> kTagShift && pc >> 47 == 0)) return (uint32_t)(e & ((1u << kRuleBits) - 1));
  return rule_slow(pc);
}

XSMEM_INLINE uintptr_t load_word(uintptr_t a) {
  uintptr_t v;
  memcpy(&v, (const void *)a, sizeof(v));
  return v;
}

unsigned xsmem_unwind(uintptr_t pc, uintptr_t sp, uintptr_t bp, uintptr_t stack_lo, uintptr_t stack_hi, uintptr_t *out,
                      unsigned max) {
  if (XSMEM_UNLIKELY(!setup())) return 0;
  unsigned n = 0;
  if (sp < stack_lo || sp > stack_hi) return 0;
  while (n < max) {
    uint32_t rule = rule_at(pc);
    if (rule == kNotCode) break;  // not code: garbage, never kept
    out[n++] = pc;
    if (RULE_KIND(rule) == kStop || n == max) break;
    uintptr_t cfa = (RULE_KIND(rule) == kCfaSp ? sp : bp) + RULE_OFF(rule);
    // The return address at cfa - 8 must lie in the stack, above this frame's sp.
    if (cfa <= sp || cfa > stack_hi) break;
    uintptr_t ra = load_word(cfa - 8);
    unsigned k = RULE_BP(rule);
    if (k) {
      uintptr_t slot = cfa - 8 * (uintptr_t)k;
      if (slot < sp || slot > cfa - 8) break;
      bp = load_word(slot);
    }
    sp = cfa;
    pc = ra;
  }
  return n;
}

bool xsmem_unwind_executable(uintptr_t pc) {
  if (!setup() || pc < 65536) return false;
  return find_module(pc) != NULL;
}

void xsmem_unwind_stats_get(xsmem_unwind_stats *out) {
  memset(out, 0, sizeof(*out));
  if (!setup()) return;
  const module_index *ix = atomic_load_explicit(&g.index, memory_order_acquire);
  out->modules = ix ? ix->n : 0;
  out->bytes = (sizeof(uint64_t) << kCacheBits) + sizeof(module) * kMaxModules +
      atomic_load_explicit(&g.index_bytes, memory_order_relaxed);
  unsigned used = atomic_load_explicit(&g.pool_used, memory_order_acquire);
  for (unsigned i = 0; i < used; i++) {
    module *m = &g.pool[i];
    if (atomic_load_explicit(&m->state, memory_order_acquire) != kBuilt) continue;
    out->built++;
    out->rows += m->nrows;
    out->bytes += m->mapped;
  }
}
