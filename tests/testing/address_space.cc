// tests/testing/address_space.cc: see address_space.h.
#include "tests/testing/address_space.h"

#include <stdio.h>
#include <unistd.h>

namespace xsmem::testing {

uint64_t MappedBytes() {
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return 0;
  int got = fscanf(f, "%ld %ld", &pages, &resident);
  fclose(f);
  return got == 2 ? (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

AddressSpaceLimit::AddressSpaceLimit(uint64_t bytes) {
  if (getrlimit(RLIMIT_AS, &saved_) != 0) return;
  struct rlimit tight = saved_;
  tight.rlim_cur = (rlim_t)bytes;
  set_ = setrlimit(RLIMIT_AS, &tight) == 0;
}

bool AddressSpaceLimit::Restore() {
  if (!set_) return true;
  set_ = setrlimit(RLIMIT_AS, &saved_) != 0;
  return !set_;
}

}  // namespace xsmem::testing
