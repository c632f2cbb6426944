// tests/testing/corruption.h: writes after free, as a program's would be, for
// tests that an allocator reports a forged link in a free block and never
// follows it or writes through it.
//
//   WriteWord(freed, 0, reinterpret_cast<uintptr_t>(g_forge_target.at(1024)));
//   ... the allocator must report it, hand out no block inside the target,
//   and leave g_forge_target.Untouched().
#ifndef XSMEM_TESTS_TESTING_CORRUPTION_H_
#define XSMEM_TESTS_TESTING_CORRUPTION_H_

#include <stddef.h>
#include <stdint.h>

namespace xsmem::testing {

// Writes v into word i of p through a volatile pointer, past ASan, which would
// report the write itself (the fronts poison the free memory they hold): the
// allocator's own checks are what is under test.
void WriteWord(void *p, size_t i, uintptr_t v);

// Static memory a forged link points into: no allocator hands out a block
// inside it nor writes to it.
struct ForgeTarget {
  alignas(4096) char bytes[8192];

  char *at(size_t offset) { return bytes + offset; }
  // Returns true when p lies inside the target.
  bool Holds(const void *p) const {
    return static_cast<const char *>(p) >= bytes && static_cast<const char *>(p) < bytes + sizeof(bytes);
  }
  // Returns true when nothing wrote to the target (it starts zeroed).
  bool Untouched() const;
};

extern ForgeTarget g_forge_target;

}  // namespace xsmem::testing

#endif  // XSMEM_TESTS_TESTING_CORRUPTION_H_
