// tests/testing/corruption.cc: see corruption.h.
#include "tests/testing/corruption.h"

namespace xsmem::testing {

ForgeTarget g_forge_target;

__attribute__((no_sanitize_address)) void WriteWord(void *p, size_t i, uintptr_t v) {
  static_cast<volatile uintptr_t *>(p)[i] = v;
}

bool ForgeTarget::Untouched() const {
  for (char c : bytes) {
    if (c) return false;
  }
  return true;
}

}  // namespace xsmem::testing
