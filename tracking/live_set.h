// tracking/live_set.h: the set of live full-mode blocks (user pointers).
//
// Full mode keeps each block's record in a header before the block
// (tracker_internal.h, block_header); this set only answers "did the tracker
// hand out this pointer and is it still live?" before any of the block's
// memory is read (so a foreign or stale pointer is reported, never
// dereferenced), and lets the leak report, the summary and the canary check
// enumerate the live blocks.
//
// Model: 64 shards chosen by the top bits of a multiplicative hash, each an
// open-addressing table of pointers with linear probing (0 = empty) under
// its own spinlock, at most a quarter full (short runs: an erase rarely has
// entries to move). Erase shifts the following entries of the probe run
// back (no tombstones), so a table never needs purging; it doubles when a
// quarter full (32 to 64 bytes of slots per live block). A pointer costs one
// multiply, one uncontended lock and about one slot each way, against a
// SwissTable's group match and value copy. Tables come from os_vm, never
// from malloc.
//
// Thread-safety: every function may be called from any thread; for_each runs
// fn with the shard's lock held (fn must not call back into the set).
#ifndef XSMEM_TRACKING_LIVE_SET_H_
#define XSMEM_TRACKING_LIVE_SET_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/atomics.h"
#include "platform/base.h"

enum { kLiveShards = 64 };

typedef struct live_shard {
  xsmem_spinlock lock;
  uintptr_t *slots;  // capacity pointers (os_vm); NULL before the first insert
  size_t mask;       // capacity - 1
  size_t size;       // pointers held
} XSMEM_CACHE_ALIGNED live_shard;

typedef struct live_set {
  live_shard shards[kLiveShards];
} live_set;

// Adds p, which must be absent. Returns false (errno = ENOMEM) when os_vm
// refuses a table.
bool live_set_insert(live_set *s, uintptr_t p);

// Removes p; returns false when p was not in the set.
bool live_set_erase(live_set *s, uintptr_t p);

bool live_set_contains(live_set *s, uintptr_t p);

// Pointers held, and os_vm bytes of the tables.
size_t live_set_size(live_set *s);
size_t live_set_bytes(live_set *s);

void live_set_for_each(live_set *s, void (*fn)(uintptr_t p, void *ctx), void *ctx);

// For fork: hold every shard's lock across it.
void live_set_lock_all(live_set *s);
void live_set_unlock_all(live_set *s);

// Releases every table (the set is empty and reusable).
void live_set_destroy(live_set *s);

#endif  // XSMEM_TRACKING_LIVE_SET_H_
