// export/testing/scoped.h: an exporter arena and buffer that free themselves,
// for tests and fuzzers of the snapshot and its renderings.
#ifndef XSMEM_EXPORT_TESTING_SCOPED_H_
#define XSMEM_EXPORT_TESTING_SCOPED_H_

#include <string>

extern "C" {
#include "export/buf.h"
}

namespace xsmem::testing {

struct Arena {
  xsmem_arena a = XSMEM_ARENA_INIT;
  Arena() = default;
  Arena(const Arena &) = delete;
  Arena &operator=(const Arena &) = delete;
  ~Arena() { xsmem_arena_free(&a); }
};

struct Buf {
  xsmem_buf b = XSMEM_BUF_INIT;
  Buf() = default;
  Buf(const Buf &) = delete;
  Buf &operator=(const Buf &) = delete;
  ~Buf() { xsmem_buf_free(&b); }
  // Returns what the buffer holds.
  std::string str() const { return b.data ? std::string(b.data, b.len) : std::string(); }
};

}  // namespace xsmem::testing

#endif  // XSMEM_EXPORT_TESTING_SCOPED_H_
