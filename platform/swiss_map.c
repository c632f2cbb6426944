// platform/swiss_map.c: the sharded SwissTable (model in swiss_map.h).
#include "platform/swiss_map.h"

#include <errno.h>
#include <string.h>

#include "platform/log.h"
#include "platform/os_vm.h"

#if defined(__SSE2__) && !defined(XSMEM_SWISS_PORTABLE)
#include <emmintrin.h>
#define SWISS_SSE2 1
#endif

enum {
  kEmpty = 0x80,    // never used: ends a probe
  kDeleted = 0xFE,  // a tombstone: probes continue past it
  kGroup = 16,      // control bytes matched at once
  kCloned = kGroup - 1,
  kMinCapacity = 16,
};

// ---------------------------------------------------------------------------
// Group matching: bit i of each mask stands for ctrl[pos + i].

#ifdef SWISS_SSE2
typedef __m128i group_t;
XSMEM_INLINE group_t group_load(const uint8_t *c) { return _mm_loadu_si128((const __m128i *)c); }
XSMEM_INLINE uint32_t group_match(group_t g, uint8_t h2) {
  return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_set1_epi8((char)h2), g));
}
XSMEM_INLINE uint32_t group_empty(group_t g) {
  return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_set1_epi8((char)kEmpty), g));
}
XSMEM_INLINE uint32_t group_free(group_t g) { return (uint32_t)_mm_movemask_epi8(g); }  // high bit: empty/deleted
#else
// SWAR over two little-endian 64-bit words (abseil's portable group).
typedef struct {
  uint64_t w[2];
} group_t;
static const uint64_t kLsbs = 0x0101010101010101ULL, kMsbs = 0x8080808080808080ULL;
XSMEM_INLINE group_t group_load(const uint8_t *c) {
  group_t g;
  memcpy(g.w, c, 16);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  g.w[0] = __builtin_bswap64(g.w[0]);
  g.w[1] = __builtin_bswap64(g.w[1]);
#endif
  return g;
}
// Packs the high bit of each byte into 8 bits (byte i -> bit i).
XSMEM_INLINE uint32_t gather(uint64_t msbs) { return (uint32_t)(((msbs >> 7) * 0x0102040810204080ULL) >> 56); }
XSMEM_INLINE uint32_t group_match(group_t g, uint8_t h2) {
  uint32_t out = 0;
  for (int i = 0; i < 2; i++) {
    uint64_t x = g.w[i] ^ (kLsbs * h2);
    // Zero bytes of x; may flag a byte after a true zero (false positives are
    // harmless: the key is compared).
    out |= gather((x - kLsbs) & ~x & kMsbs) << (8 * i);
  }
  return out;
}
XSMEM_INLINE uint32_t group_empty(group_t g) {
  // 0x80 has bit 7 set and bit 1 clear; 0xFE has both; full bytes lack bit 7. Exact.
  return gather(g.w[0] & ~(g.w[0] << 6) & kMsbs) | gather(g.w[1] & ~(g.w[1] << 6) & kMsbs) << 8;
}
XSMEM_INLINE uint32_t group_free(group_t g) { return gather(g.w[0] & kMsbs) | gather(g.w[1] & kMsbs) << 8; }
#endif

const char *xsmem_swiss_map_impl(void) {
#ifdef SWISS_SSE2
  return "sse2";
#else
  return "portable";
#endif
}

// ---------------------------------------------------------------------------
// Shard internals (REQUIRES: the shard's lock is held).

XSMEM_INLINE uint8_t h2_of(uint64_t h) { return (uint8_t)(h & 0x7f); }
XSMEM_INLINE size_t h1_of(uint64_t h) { return (size_t)(h >> 7); }
XSMEM_INLINE xsmem_swiss_shard *shard_of(xsmem_swiss_map *m, uint64_t h) {
  return &m->shards[h >> 58];  // top 6 bits: 64 shards
}
XSMEM_INLINE uint8_t *slot_at(const xsmem_swiss_shard *s, size_t i) { return s->slots + i * s->slot_bytes; }
XSMEM_INLINE uint64_t slot_key(const uint8_t *slot) {
  uint64_t k;
  memcpy(&k, slot, 8);
  return k;
}

XSMEM_INLINE void set_ctrl(xsmem_swiss_shard *s, size_t i, uint8_t c) {
  s->ctrl[i] = c;
  s->ctrl[((i - kCloned) & s->mask) + kCloned] = c;  // the clone after the end (or i itself)
}

// Returns the slot index of key, or SIZE_MAX.
static size_t shard_find(const xsmem_swiss_shard *s, uint64_t key, uint64_t h) {
  if (!s->ctrl) return SIZE_MAX;
  size_t pos = h1_of(h) & s->mask, step = 0;
  for (;;) {
    group_t g = group_load(s->ctrl + pos);
    for (uint32_t m = group_match(g, h2_of(h)); m; m &= m - 1) {
      size_t i = (pos + (size_t)__builtin_ctz(m)) & s->mask;
      if (slot_key(slot_at(s, i)) == key) return i;
    }
    if (group_empty(g)) return SIZE_MAX;
    step += kGroup;  // triangular probing visits every group once
    pos = (pos + step) & s->mask;
  }
}

// Returns the first empty or deleted slot on key's probe sequence.
static size_t shard_find_free(const xsmem_swiss_shard *s, uint64_t h) {
  size_t pos = h1_of(h) & s->mask, step = 0;
  for (;;) {
    uint32_t m = group_free(group_load(s->ctrl + pos));
    if (m) return (pos + (size_t)__builtin_ctz(m)) & s->mask;
    step += kGroup;
    pos = (pos + step) & s->mask;
  }
}

static size_t table_bytes(size_t cap, size_t slot_bytes) { return xsmem_align_up(cap + kGroup, 64) + cap * slot_bytes; }

// The bytes of one shard's slice of the nursery (a first table, 64-aligned).
static size_t nursery_slice(const xsmem_swiss_map *m) {
  return xsmem_align_up(table_bytes(kMinCapacity, m->shards[0].slot_bytes), 64);
}

// Shard s's first table, in the nursery (made on first use). NULL on ENOMEM.
static uint8_t *nursery_table(xsmem_swiss_map *m, const xsmem_swiss_shard *s) {
  xsmem_spin_lock(&m->nursery_lock);
  if (!m->nursery) {
    size_t bytes = xsmem_align_up(XSMEM_SWISS_SHARDS * nursery_slice(m), xsmem_os_page_size());
    m->nursery = xsmem_os_map(bytes, xsmem_os_page_size(), 0);
    if (m->nursery) m->nursery_bytes = bytes;
  }
  uint8_t *base = m->nursery;
  xsmem_spin_unlock(&m->nursery_lock);
  return base ? base + (size_t)(s - m->shards) * nursery_slice(m) : NULL;
}

// Rebuilds the shard with capacity cap (purging tombstones). Returns false on ENOMEM.
static bool shard_rehash(xsmem_swiss_map *m, xsmem_swiss_shard *s, size_t cap) {
  bool first = !s->ctrl && cap == kMinCapacity;
  size_t bytes = first ? 0 : xsmem_align_up(table_bytes(cap, s->slot_bytes), xsmem_os_page_size());
  uint8_t *mem = first ? nursery_table(m, s) : xsmem_os_map(bytes, xsmem_os_page_size(), 0);
  if (!mem) return false;
  xsmem_swiss_shard old = *s;
  s->ctrl = mem;
  s->slots = mem + xsmem_align_up(cap + kGroup, 64);
  s->mask = cap - 1;
  s->tombstones = 0;
  s->mapped = bytes;
  s->rehashes++;
  memset(s->ctrl, kEmpty, cap + kCloned);
  if (old.ctrl) {
    for (size_t i = 0; i <= old.mask; i++) {
      if (old.ctrl[i] & 0x80) continue;
      const uint8_t *src = slot_at(&old, i);
      uint64_t h = xsmem_swiss_hash(slot_key(src));
      size_t j = shard_find_free(s, h);
      set_ctrl(s, j, h2_of(h));
      memcpy(slot_at(s, j), src, s->slot_bytes);
    }
    if (old.mapped) xsmem_os_unmap(old.ctrl, old.mapped);  // a nursery table stays (the nursery is one mapping)
  }
  return true;
}

// Returns a slot for a new key (after making room), or SIZE_MAX on ENOMEM.
static size_t shard_prepare_insert(xsmem_swiss_map *m, xsmem_swiss_shard *s, uint64_t h) {
  size_t cap = s->ctrl ? s->mask + 1 : 0;
  if (s->size + s->tombstones + 1 > cap - cap / 8) {
    // Grow when live entries would pass 7/16; otherwise only purge tombstones.
    size_t want = cap == 0 ? kMinCapacity : (s->size + 1 > cap * 7 / 16 ? cap * 2 : cap);
    if (!shard_rehash(m, s, want)) return SIZE_MAX;
  }
  size_t i = shard_find_free(s, h);
  if (s->ctrl[i] == kDeleted) s->tombstones--;
  set_ctrl(s, i, h2_of(h));
  s->size++;
  return i;
}

// Empties slot i. A tombstone is needed only if some probe may have passed
// over i while it was full, i.e. if i lies in a run of kGroup or more
// non-empty slots (abseil's test); otherwise the slot becomes empty again, so
// churn at low load leaves no tombstones and needs no rehash.
static void shard_erase_at(xsmem_swiss_shard *s, size_t i) {
  uint32_t after = group_empty(group_load(s->ctrl + i));
  uint32_t before = group_empty(group_load(s->ctrl + ((i - kGroup) & s->mask)));
  unsigned full_after = after ? (unsigned)__builtin_ctz(after) : kGroup;
  unsigned full_before = before ? (unsigned)__builtin_clz(before) - (32 - kGroup) : kGroup;
  bool was_never_full = after && before && full_after + full_before < kGroup;
  set_ctrl(s, i, was_never_full ? kEmpty : kDeleted);
  s->size--;
  s->tombstones += !was_never_full;
}

// ---------------------------------------------------------------------------
// The API.

void xsmem_swiss_map_init(xsmem_swiss_map *m, size_t value_size) {
  if (value_size == 0 || value_size > XSMEM_SWISS_MAX_VALUE) {
    xsmem_fatal("swiss_map: value size %zu out of range (1..%d)", value_size, XSMEM_SWISS_MAX_VALUE);
  }
  memset(m, 0, sizeof(*m));
  m->value_size = (uint32_t)value_size;
  for (int i = 0; i < XSMEM_SWISS_SHARDS; i++) {
    m->shards[i].slot_bytes = (uint32_t)(8 + xsmem_align_up(value_size, 8));
  }
}

void xsmem_swiss_map_destroy(xsmem_swiss_map *m) {
  for (int i = 0; i < XSMEM_SWISS_SHARDS; i++) {
    xsmem_swiss_shard *s = &m->shards[i];
    xsmem_spin_lock(&s->lock);
    if (s->ctrl && s->mapped) xsmem_os_unmap(s->ctrl, s->mapped);
    s->ctrl = s->slots = NULL;
    s->mask = s->size = s->tombstones = s->mapped = 0;
    xsmem_spin_unlock(&s->lock);
  }
  xsmem_spin_lock(&m->nursery_lock);
  if (m->nursery) xsmem_os_unmap(m->nursery, m->nursery_bytes);
  m->nursery = NULL;
  m->nursery_bytes = 0;
  xsmem_spin_unlock(&m->nursery_lock);
}

// Stores value under key; known_absent skips the lookup for an existing key.
static bool map_put(xsmem_swiss_map *m, uint64_t key, const void *value, bool known_absent) {
  uint64_t h = xsmem_swiss_hash(key);
  xsmem_swiss_shard *s = shard_of(m, h);
  xsmem_spin_lock(&s->lock);
  size_t i = known_absent ? SIZE_MAX : shard_find(s, key, h);
  if (i == SIZE_MAX) {
    i = shard_prepare_insert(m, s, h);
    if (XSMEM_UNLIKELY(i == SIZE_MAX)) {
      xsmem_spin_unlock(&s->lock);
      errno = ENOMEM;
      return false;
    }
    memcpy(slot_at(s, i), &key, 8);
  }
  memcpy(slot_at(s, i) + 8, value, m->value_size);
  xsmem_spin_unlock(&s->lock);
  return true;
}

bool xsmem_swiss_map_insert(xsmem_swiss_map *m, uint64_t key, const void *value) {
  return map_put(m, key, value, false);
}

bool xsmem_swiss_map_insert_new(xsmem_swiss_map *m, uint64_t key, const void *value) {
  return map_put(m, key, value, true);
}

bool xsmem_swiss_map_find(xsmem_swiss_map *m, uint64_t key, void *out) {
  uint64_t h = xsmem_swiss_hash(key);
  xsmem_swiss_shard *s = shard_of(m, h);
  xsmem_spin_lock(&s->lock);
  size_t i = shard_find(s, key, h);
  if (i != SIZE_MAX && out) memcpy(out, slot_at(s, i) + 8, m->value_size);
  xsmem_spin_unlock(&s->lock);
  return i != SIZE_MAX;
}

bool xsmem_swiss_map_erase(xsmem_swiss_map *m, uint64_t key, void *out) {
  uint64_t h = xsmem_swiss_hash(key);
  xsmem_swiss_shard *s = shard_of(m, h);
  xsmem_spin_lock(&s->lock);
  size_t i = shard_find(s, key, h);
  if (i != SIZE_MAX) {
    if (out) memcpy(out, slot_at(s, i) + 8, m->value_size);
    shard_erase_at(s, i);
  }
  xsmem_spin_unlock(&s->lock);
  return i != SIZE_MAX;
}

bool xsmem_swiss_map_with(xsmem_swiss_map *m, uint64_t key, bool create,
                          void (*fn)(void *value, bool created, void *ctx), void *ctx) {
  uint64_t h = xsmem_swiss_hash(key);
  xsmem_swiss_shard *s = shard_of(m, h);
  xsmem_spin_lock(&s->lock);
  size_t i = shard_find(s, key, h);
  bool created = false;
  if (i == SIZE_MAX && create) {
    i = shard_prepare_insert(m, s, h);
    if (i != SIZE_MAX) {
      memcpy(slot_at(s, i), &key, 8);
      memset(slot_at(s, i) + 8, 0, s->slot_bytes - 8);
      created = true;
    }
  }
  if (i != SIZE_MAX) fn(slot_at(s, i) + 8, created, ctx);
  xsmem_spin_unlock(&s->lock);
  return i != SIZE_MAX;
}

void xsmem_swiss_map_for_each(xsmem_swiss_map *m, void (*fn)(uint64_t key, const void *value, void *ctx), void *ctx) {
  for (int k = 0; k < XSMEM_SWISS_SHARDS; k++) {
    xsmem_swiss_shard *s = &m->shards[k];
    xsmem_spin_lock(&s->lock);
    if (s->ctrl) {
      for (size_t i = 0; i <= s->mask; i++) {
        if (s->ctrl[i] & 0x80) continue;
        const uint8_t *slot = slot_at(s, i);
        fn(slot_key(slot), slot + 8, ctx);
      }
    }
    xsmem_spin_unlock(&s->lock);
  }
}

size_t xsmem_swiss_map_size(xsmem_swiss_map *m) {
  size_t n = 0;
  for (int k = 0; k < XSMEM_SWISS_SHARDS; k++) n += __atomic_load_n(&m->shards[k].size, __ATOMIC_RELAXED);
  return n;
}

void xsmem_swiss_map_stats(xsmem_swiss_map *m, xsmem_swiss_stats *out) {
  memset(out, 0, sizeof(*out));
  for (int k = 0; k < XSMEM_SWISS_SHARDS; k++) {
    xsmem_swiss_shard *s = &m->shards[k];
    xsmem_spin_lock(&s->lock);
    out->size += s->size;
    out->capacity += s->ctrl ? s->mask + 1 : 0;
    out->tombstones += s->tombstones;
    out->bytes += s->mapped;
    out->rehashes += s->rehashes;
    xsmem_spin_unlock(&s->lock);
  }
  out->bytes += __atomic_load_n(&m->nursery_bytes, __ATOMIC_RELAXED);
}

void xsmem_swiss_map_lock_all(xsmem_swiss_map *m) {
  for (int k = 0; k < XSMEM_SWISS_SHARDS; k++) xsmem_spin_lock(&m->shards[k].lock);
  xsmem_spin_lock(&m->nursery_lock);  // taken under a shard lock: last
}

void xsmem_swiss_map_unlock_all(xsmem_swiss_map *m) {
  xsmem_spin_unlock(&m->nursery_lock);
  for (int k = 0; k < XSMEM_SWISS_SHARDS; k++) xsmem_spin_unlock(&m->shards[k].lock);
}
