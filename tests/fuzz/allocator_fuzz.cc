// Fuzzes every linked configuration through the xsmem_allocator interface.
//
// The input is a program: each step picks a configuration, an operation
// (alloc, aligned alloc, calloc, realloc, free) and a size; the shadow model
// (tests/testing/shadow.h) keeps every live block's size and pattern seed.
// Every block is checked on realloc and free, and the allocator's stats must
// balance at the end.
// Built as a libFuzzer target under --config=fuzz (clang); the same entry
// point is replayed over pseudo-random inputs by allocator_fuzz_replay_test.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

#include "allocators/allocator.h"
#include "allocators/registry.h"
#include "tests/testing/shadow.h"

namespace {

using xsmem::testing::Coverage;
using xsmem::testing::Shadow;
using xsmem::testing::ShadowBlock;

[[noreturn]] void Fail(const char *cfg, const char *what, size_t step) {
  fprintf(stderr, "allocator_fuzz: configuration '%s': %s at step %zu\n", cfg, what, step);
  abort();
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
    case 1:
    case 2:
    case 3: return v % 512;
    case 4:
    case 5: return v % 65536;
    case 6: return (size_t)v * 16;   // up to 1 MiB
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
  Shadow live(64, Coverage::kEdgesAndStride);
  size_t step = 0;
  while (!r.empty() && step < 4096) {
    step++;
    ShadowBlock &b = live[r.u8() % live.size()];
    uint8_t op = r.u8() % 6;
    uint8_t *p;
    size_t n;
    if (b.p) {
      if (!live.Intact(b)) Fail(cfg->name, "a live block was overwritten", step);
      if (op < 3) {
        xsmem_free(a, b.p);
        b = ShadowBlock{};
        continue;
      }
      n = SizeFrom(r);
      p = static_cast<uint8_t *>(xsmem_realloc(a, b.p, n));
      if (n == 0) {
        b = ShadowBlock{};
        continue;
      }
      if (!p) Fail(cfg->name, "realloc failed", step);
      if (live.CheckMoved(b, p, n) != (n < b.n ? n : b.n)) Fail(cfg->name, "realloc lost data", step);
    } else {
      n = SizeFrom(r);
      size_t align = op == 1 ? (size_t)1 << (r.u8() % 17) : XSMEM_MIN_ALIGN;  // up to 64 KiB
      unsigned flags = op == 2 ? XSMEM_ALLOC_ZERO : 0;
      p = static_cast<uint8_t *>(xsmem_alloc(a, n, align, flags));
      if (!p) Fail(cfg->name, "allocation failed", step);
      if (((uintptr_t)p & (align - 1)) != 0) Fail(cfg->name, "misaligned block", step);
      if (xsmem_usable_size(a, p) < n) Fail(cfg->name, "usable size below the request", step);
      if (flags & XSMEM_ALLOC_ZERO) {
        for (size_t i = 0; i < n; i++) {
          if (p[i] != 0) Fail(cfg->name, "zeroed block is not zero", step);
        }
      }
    }
    live.Set(b, p, n, r.u8());
  }
  for (ShadowBlock &b : live) {
    if (!b.p) continue;
    if (!live.Intact(b)) Fail(cfg->name, "a live block was overwritten", step);
    xsmem_free(a, b.p);
  }
  xsmem_stats after = xsmem_get_stats(a);
  if (after.num_allocs - before.num_allocs != after.num_frees - before.num_frees) {
    Fail(cfg->name, "allocations and frees do not balance", step);
  }
  if (after.bytes_in_use != before.bytes_in_use) Fail(cfg->name, "bytes_in_use did not return", step);
  return 0;
}
