// platform/swiss_map.h: a sharded open-addressing hash map (SwissTable design)
// from 64-bit keys to fixed-size values, for allocator metadata.
//
// Model: each shard is one table of `capacity` slots (a power of two, >= 16)
// plus one control byte per slot: 0x80 empty, 0xFE deleted (a tombstone), or
// 0..127 for a full slot holding the low 7 bits of its key's hash (H2). A
// lookup hashes the key, picks the shard from the top bits, and probes groups
// of 16 control bytes starting at H1 = the remaining bits: one SSE2 compare
// finds the slots whose H2 matches (about one in 128 false positives), one
// more finds the empties that end the probe. Without SSE2 the same group is
// matched eight bytes at a time with SWAR arithmetic. The first 15 control
// bytes are cloned after the end so a group load never wraps.
//
// Erase leaves a tombstone; insertions reuse tombstones, and a rehash (to
// twice the capacity, or the same capacity when mostly tombstones) purges
// them once live + tombstones reach 7/8 of the capacity.
//
// Memory: every table comes from os_vm (never malloc), so the map can record
// the allocations of the allocator that serves malloc. A map's struct can live
// in static storage: zero it (or call xsmem_swiss_map_init) and it is usable.
//
// Concurrency: 64 shards, each with its own spinlock, cache-line aligned; keys
// that hash to different shards never contend. Every function is thread-safe.
// Callbacks run with the shard's lock held: they must not call back into the
// same map (or allocate through an allocator that does).
#ifndef XSMEM_PLATFORM_SWISS_MAP_H_
#define XSMEM_PLATFORM_SWISS_MAP_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/atomics.h"
#include "platform/base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XSMEM_SWISS_SHARDS 64
#define XSMEM_SWISS_MAX_VALUE 512

typedef struct xsmem_swiss_shard {
  xsmem_spinlock lock;
  uint32_t slot_bytes;  // 8 (key) + value size rounded up to 8
  uint8_t *ctrl;        // capacity + 15 control bytes; NULL before first insert
  uint8_t *slots;       // capacity slots of slot_bytes
  size_t mask;          // capacity - 1
  size_t size;          // full slots
  size_t tombstones;    // deleted slots
  size_t mapped;        // bytes of the os_vm mapping (0: a first table in the map's nursery)
  uint64_t rehashes;
} XSMEM_CACHE_ALIGNED xsmem_swiss_shard;

typedef struct xsmem_swiss_map {
  xsmem_swiss_shard shards[XSMEM_SWISS_SHARDS];
  uint32_t value_size;  // bytes per value (0 < value_size <= XSMEM_SWISS_MAX_VALUE)
  // Every shard's first table, side by side in one mapping made at the map's
  // first insert: a lightly used map (a few sampled records spread over all
  // shards) costs one mmap and the pages its tables share, not one each.
  uint8_t *nursery;
  size_t nursery_bytes;
  xsmem_spinlock nursery_lock;
} xsmem_swiss_map;

typedef struct xsmem_swiss_stats {
  size_t size;        // live entries
  size_t capacity;    // slots over all shards
  size_t tombstones;  // deleted slots not yet purged
  size_t bytes;       // os_vm bytes mapped for tables
  uint64_t rehashes;  // table rebuilds since init
} xsmem_swiss_stats;

// Prepares an empty map whose values have value_size bytes. Nothing is mapped
// until the first insert. REQUIRES: 0 < value_size <= XSMEM_SWISS_MAX_VALUE.
void xsmem_swiss_map_init(xsmem_swiss_map *m, size_t value_size);

// Releases every table; the map is empty (and reusable) afterwards.
void xsmem_swiss_map_destroy(xsmem_swiss_map *m);

// Inserts key -> *value or overwrites the value of an existing key. Returns
// false (errno = ENOMEM) only when os_vm refuses a table.
bool xsmem_swiss_map_insert(xsmem_swiss_map *m, uint64_t key, const void *value);

// As insert, for a key the caller knows is absent (one probe instead of two:
// no search for an existing entry). Inserting a key that is present leaves
// two entries. Returns false with errno = ENOMEM when the table cannot grow.
bool xsmem_swiss_map_insert_new(xsmem_swiss_map *m, uint64_t key, const void *value);

// Copies the value of key into *out (when out != NULL). Returns false if absent.
bool xsmem_swiss_map_find(xsmem_swiss_map *m, uint64_t key, void *out);

// Removes key, copying its value into *out (when out != NULL). Returns false if absent.
bool xsmem_swiss_map_erase(xsmem_swiss_map *m, uint64_t key, void *out);

// Runs fn(value, created, ctx) on key's value with the shard locked. When the
// key is absent and create is true, a zeroed value is inserted first (created
// = true); when absent and create is false, fn is not called. Returns whether
// fn ran (false on ENOMEM too). fn may modify the value in place.
bool xsmem_swiss_map_with(xsmem_swiss_map *m, uint64_t key, bool create,
                          void (*fn)(void *value, bool created, void *ctx), void *ctx);

// Calls fn(key, value, ctx) for every entry, one shard locked at a time.
// Entries inserted or erased concurrently may or may not be seen.
void xsmem_swiss_map_for_each(xsmem_swiss_map *m, void (*fn)(uint64_t key, const void *value, void *ctx), void *ctx);

// Returns the number of entries (a sum over shards; approximate under concurrent updates).
size_t xsmem_swiss_map_size(xsmem_swiss_map *m);

// Fills *out with the size, capacity and memory of the map.
void xsmem_swiss_map_stats(xsmem_swiss_map *m, xsmem_swiss_stats *out);

// Takes every shard lock (around fork) / releases them / resets them in the child.
void xsmem_swiss_map_lock_all(xsmem_swiss_map *m);
void xsmem_swiss_map_unlock_all(xsmem_swiss_map *m);

// Returns the group-matching implementation compiled in: "sse2" or "portable".
const char *xsmem_swiss_map_impl(void);

// Returns the 64-bit mix used to hash keys (exposed for sharding elsewhere).
XSMEM_INLINE uint64_t xsmem_swiss_hash(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_PLATFORM_SWISS_MAP_H_
