// tests/testing/address_space.h: the process's address-space limit (the soft
// RLIMIT_AS, ulimit -v) lowered for a test's critical step and put back, for
// tests of what an allocator does when the kernel refuses a mapping.
//
//   xsmem::testing::AddressSpaceLimit limit(xsmem::testing::MappedBytes() + 32 * kMiB);
//   ASSERT_TRUE(limit.ok());
//   void *p = ...;                    // the step that must cope
//   ASSERT_TRUE(limit.Restore());     // before anything that asserts
#ifndef XSMEM_TESTS_TESTING_ADDRESS_SPACE_H_
#define XSMEM_TESTS_TESTING_ADDRESS_SPACE_H_

#include <stdint.h>
#include <sys/resource.h>

namespace xsmem::testing {

// Returns the bytes of address space the process has mapped now
// (/proc/self/statm), or 0 when it cannot be read.
uint64_t MappedBytes();

class AddressSpaceLimit {
 public:
  // Lowers the soft limit to `bytes` (a limit below what the process has
  // mapped refuses every new mapping).
  explicit AddressSpaceLimit(uint64_t bytes);
  AddressSpaceLimit(const AddressSpaceLimit &) = delete;
  AddressSpaceLimit &operator=(const AddressSpaceLimit &) = delete;
  // Puts the limit back unless Restore did.
  ~AddressSpaceLimit() { Restore(); }

  // Returns true when the lower limit is in force.
  bool ok() const { return set_; }
  // Puts the saved limit back; returns true when it took (or was not lowered).
  bool Restore();

 private:
  struct rlimit saved_;
  bool set_ = false;
};

}  // namespace xsmem::testing

#endif  // XSMEM_TESTS_TESTING_ADDRESS_SPACE_H_
