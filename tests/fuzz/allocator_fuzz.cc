// Fuzzes every linked configuration through the xsmem_allocator interface.
//
// The input is a program: each step picks a configuration, an operation
// (alloc, aligned alloc, calloc, realloc, free) and a size; a shadow model
// keeps every live block's size and fill byte. Every block is checked on
// realloc and free, and the allocator's stats must balance at the end.
// Built as a libFuzzer target under --config=fuzz (clang); the same entry
// point is replayed over pseudo-random inputs by allocator_fuzz_replay_test.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

#include "allocators/allocator.h"
#include "allocators/registry.h"

namespace {

struct Block {
  uint8_t *p = nullptr;
  size_t n = 0;
  uint8_t fill = 0;
};

[[noreturn]] void Fail(const char *cfg, const char *what, size_t step) {
  fprintf(stderr, "allocator_fuzz: configuration '%s': %s at step %zu\n", cfg, what, step);
  abort();
}

// The bytes of a block the model writes and checks: all of a block up to
// 64 KiB; of a bigger one its first and last 16 KiB and one byte per 64 KiB
// between (overlaps show at the edges, and touching every page of a 4 MiB
// block costs ~13 ms in page faults on these VMs).
const size_t kEdge = 16 * 1024, kStride = 64 * 1024;

bool Modelled(size_t n, size_t i) { return n <= 4 * kEdge || i < kEdge || i >= n - kEdge || i % kStride == 0; }

template <typename F>
void ForEachModelled(size_t n, F f) {
  if (n <= 4 * kEdge) {
    for (size_t i = 0; i < n; i++) f(i);
    return;
  }
  for (size_t i = 0; i < kEdge; i++) f(i);
  for (size_t i = kStride; i < n - kEdge; i += kStride) f(i);
  for (size_t i = n - kEdge; i < n; i++) f(i);
}

bool Intact(const Block &b) {
  bool ok = true;
  ForEachModelled(b.n, [&](size_t i) { ok &= b.p[i] == b.fill; });
  return ok;
}

class Reader {
 public:
  Reader(const uint8_t *d, size_t n) : d_(d), n_(n) {}
  bool empty() const { return i_ >= n_; }
  uint8_t u8() { return i_ < n_ ? d_[i_++] : 0; }
  uint32_t u16() { return (uint32_t)u8() | (uint32_t)u8() << 8; }

 private:
  const uint8_t *d_;
  size_t n_, i_ = 0;
};

// Sizes: mostly small, sometimes up to 4 MiB, so every tier is reached.
size_t SizeFrom(Reader &r) {
  uint8_t kind = r.u8();
  uint32_t v = r.u16();
  switch (kind & 7) {
    case 0: return v % 17;
    case 1: case 2: case 3: return v % 512;
    case 4: case 5: return v % 65536;
    case 6: return (size_t)v * 16;  // up to 1 MiB
    default: return (size_t)v * 64;  // up to 4 MiB
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t nconfigs = xsmem_config_count();
  if (nconfigs == 0 || size == 0) return 0;
  Reader r(data, size);
  const xsmem_config *cfg = xsmem_config_at(r.u8() % nconfigs);
  xsmem_allocator *a = xsmem_config_instance(cfg);
  xsmem_stats before = xsmem_get_stats(a);
  std::vector<Block> live(64);
  size_t step = 0;
  while (!r.empty() && step < 4096) {
    step++;
    Block &b = live[r.u8() % live.size()];
    uint8_t op = r.u8() % 6;
    if (b.p) {
      if (!Intact(b)) Fail(cfg->name, "a live block was overwritten", step);
      if (op < 3) {
        xsmem_free(a, b.p);
        b = Block{};
        continue;
      }
      size_t n = SizeFrom(r);
      auto *q = static_cast<uint8_t *>(xsmem_realloc(a, b.p, n));
      if (n == 0) {
        b = Block{};
        continue;
      }
      if (!q) Fail(cfg->name, "realloc failed", step);
      ForEachModelled(n < b.n ? n : b.n, [&](size_t i) {
        if (Modelled(b.n, i) && q[i] != b.fill) Fail(cfg->name, "realloc lost data", step);
      });
      b.p = q;
      b.n = n;
    } else {
      size_t n = SizeFrom(r);
      size_t align = op == 1 ? (size_t)1 << (r.u8() % 17) : XSMEM_MIN_ALIGN;  // up to 64 KiB
      unsigned flags = op == 2 ? XSMEM_ALLOC_ZERO : 0;
      b.p = static_cast<uint8_t *>(xsmem_alloc(a, n, align, flags));
      if (!b.p) Fail(cfg->name, "allocation failed", step);
      if (((uintptr_t)b.p & (align - 1)) != 0) Fail(cfg->name, "misaligned block", step);
      if (xsmem_usable_size(a, b.p) < n) Fail(cfg->name, "usable size below the request", step);
      if (flags & XSMEM_ALLOC_ZERO) {
        for (size_t i = 0; i < n; i++) {
          if (b.p[i] != 0) Fail(cfg->name, "zeroed block is not zero", step);
        }
      }
      b.n = n;
    }
    b.fill = r.u8();
    ForEachModelled(b.n, [&](size_t i) { b.p[i] = b.fill; });
  }
  for (Block &b : live) {
    if (!b.p) continue;
    if (!Intact(b)) Fail(cfg->name, "a live block was overwritten", step);
    xsmem_free(a, b.p);
  }
  xsmem_stats after = xsmem_get_stats(a);
  if (after.num_allocs - before.num_allocs != after.num_frees - before.num_frees) {
    Fail(cfg->name, "allocations and frees do not balance", step);
  }
  if (after.bytes_in_use != before.bytes_in_use) Fail(cfg->name, "bytes_in_use did not return", step);
  return 0;
}
