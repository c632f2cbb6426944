// tests/testing/shadow.h: a shadow model of live blocks, the reference an
// allocator is checked against (the conformance suite's random sequences,
// the allocator fuzzer).
//
// Each block the model holds is filled with a pattern of its own: byte i of
// a block with seed s holds (uint8_t)(s + 7 i), so a block overwritten by
// another, or copied shifted by realloc, breaks it. Free of gtest and of any
// allocator: the caller allocates, frees and asserts; the model fills,
// checks and remembers.
#ifndef XSMEM_TESTS_TESTING_SHADOW_H_
#define XSMEM_TESTS_TESTING_SHADOW_H_

#include <stddef.h>
#include <stdint.h>

#include <vector>

namespace xsmem::testing {

// Fills n bytes at p with the pattern of seed.
void Fill(void *p, size_t n, uint8_t seed);
// Returns the first index below n where p breaks the pattern of seed, or n.
size_t Check(const void *p, size_t n, uint8_t seed);

// Which bytes of a block the model writes and checks.
enum class Coverage {
  kEveryByte,
  // Every byte of a block up to 64 KiB; of a bigger one its first and last
  // 16 KiB and one byte per 64 KiB between (overlaps show at the edges, and
  // touching every page of a 4 MiB block costs ~13 ms in page faults on
  // these VMs).
  kEdgesAndStride,
};

// One slot of the model: empty (p == nullptr) or a live block of n bytes.
struct ShadowBlock {
  uint8_t *p = nullptr;
  size_t n = 0;
  uint8_t seed = 0;
};

class Shadow {
 public:
  explicit Shadow(size_t slots, Coverage coverage = Coverage::kEveryByte);

  size_t size() const { return slots_.size(); }
  ShadowBlock &operator[](size_t i) { return slots_[i]; }
  std::vector<ShadowBlock>::iterator begin() { return slots_.begin(); }
  std::vector<ShadowBlock>::iterator end() { return slots_.end(); }

  // Records the block p of n bytes in b and fills it with seed's pattern.
  void Set(ShadowBlock &b, void *p, size_t n, uint8_t seed) const;
  // Returns the first covered index at which b's block breaks its pattern,
  // or b.n when it is intact.
  size_t Check(const ShadowBlock &b) const;
  bool Intact(const ShadowBlock &b) const { return Check(b) == b.n; }
  // b's block was reallocated to q, n bytes: returns the first index below
  // min(n, b.n), covered for both sizes, where q lost b's pattern, or that
  // minimum when nothing was lost.
  size_t CheckMoved(const ShadowBlock &b, const void *q, size_t n) const;
  // Returns true when no two live blocks overlap, each taken as extent(p)
  // bytes (at least 1) from its start.
  bool Disjoint(size_t (*extent)(void *p)) const;

 private:
  bool Covered(size_t n, size_t i) const;
  template <typename F>
  void ForEachCovered(size_t n, F f) const;

  Coverage coverage_;
  std::vector<ShadowBlock> slots_;
};

}  // namespace xsmem::testing

#endif  // XSMEM_TESTS_TESTING_SHADOW_H_
