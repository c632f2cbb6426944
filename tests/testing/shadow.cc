// tests/testing/shadow.cc: see shadow.h.
#include "tests/testing/shadow.h"

#include <algorithm>
#include <utility>

namespace xsmem::testing {
namespace {

const size_t kEdge = 16 * 1024, kStride = 64 * 1024;

uint8_t Pattern(uint8_t seed, size_t i) { return static_cast<uint8_t>(seed + i * 7); }

}  // namespace

void Fill(void *p, size_t n, uint8_t seed) {
  auto *b = static_cast<uint8_t *>(p);
  for (size_t i = 0; i < n; i++) b[i] = Pattern(seed, i);
}

size_t Check(const void *p, size_t n, uint8_t seed) {
  auto *b = static_cast<const uint8_t *>(p);
  for (size_t i = 0; i < n; i++) {
    if (b[i] != Pattern(seed, i)) return i;
  }
  return n;
}

Shadow::Shadow(size_t slots, Coverage coverage) : coverage_(coverage), slots_(slots) {}

bool Shadow::Covered(size_t n, size_t i) const {
  return coverage_ == Coverage::kEveryByte || n <= 4 * kEdge || i < kEdge || i >= n - kEdge || i % kStride == 0;
}

// Calls f(i) for each covered index of a block of n bytes, in order.
template <typename F>
void Shadow::ForEachCovered(size_t n, F f) const {
  if (coverage_ == Coverage::kEveryByte || n <= 4 * kEdge) {
    for (size_t i = 0; i < n; i++) f(i);
    return;
  }
  for (size_t i = 0; i < kEdge; i++) f(i);
  for (size_t i = kStride; i < n - kEdge; i += kStride) f(i);
  for (size_t i = n - kEdge; i < n; i++) f(i);
}

void Shadow::Set(ShadowBlock &b, void *p, size_t n, uint8_t seed) const {
  b.p = static_cast<uint8_t *>(p);
  b.n = n;
  b.seed = seed;
  if (coverage_ == Coverage::kEveryByte) {
    Fill(p, n, seed);
    return;
  }
  ForEachCovered(n, [&](size_t i) { b.p[i] = Pattern(seed, i); });
}

size_t Shadow::Check(const ShadowBlock &b) const {
  if (coverage_ == Coverage::kEveryByte) return xsmem::testing::Check(b.p, b.n, b.seed);
  size_t bad = b.n;
  ForEachCovered(b.n, [&](size_t i) {
    if (bad == b.n && b.p[i] != Pattern(b.seed, i)) bad = i;
  });
  return bad;
}

size_t Shadow::CheckMoved(const ShadowBlock &b, const void *q, size_t n) const {
  const size_t kept = std::min(n, b.n);
  auto *bytes = static_cast<const uint8_t *>(q);
  size_t bad = kept;
  ForEachCovered(kept, [&](size_t i) {
    if (bad == kept && Covered(b.n, i) && bytes[i] != Pattern(b.seed, i)) bad = i;
  });
  return bad;
}

bool Shadow::Disjoint(size_t (*extent)(void *p)) const {
  std::vector<std::pair<uintptr_t, uintptr_t>> ranges;
  for (const ShadowBlock &b : slots_) {
    if (b.p) ranges.emplace_back((uintptr_t)b.p, (uintptr_t)b.p + std::max<size_t>(extent(b.p), 1));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); i++) {
    if (ranges[i - 1].second > ranges[i].first) return false;
  }
  return true;
}

}  // namespace xsmem::testing
