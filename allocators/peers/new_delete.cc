// The C++ allocation functions, routed through malloc and free.
//
// Debian's jemalloc, mimalloc and tcmalloc each export their own operator
// new/delete. Linked into a program together with the xsmem shim, a peer's
// operator new would serve C++ allocations behind the shim's back: the xsmem
// statistics would miss them, and a block from `new` released by `free` would
// be counted as a free of something never allocated. These replacements
// (defined in the program, so they win over both the peer's and libstdc++'s)
// send every C++ allocation through malloc, i.e. through the configuration,
// with the standard's new-handler loop and exceptions.
#include <stdlib.h>

#include <new>

namespace {

void *AllocOrThrow(std::size_t n) {
  if (n == 0) n = 1;
  for (;;) {
    if (void *p = malloc(n)) return p;
    std::new_handler handler = std::get_new_handler();
    if (!handler) throw std::bad_alloc();
    handler();
  }
}

void *AlignedAllocOrThrow(std::size_t n, std::align_val_t align) {
  std::size_t a = static_cast<std::size_t>(align);
  if (a < sizeof(void *)) a = sizeof(void *);
  if (n == 0) n = 1;
  for (;;) {
    void *p = nullptr;
    if (posix_memalign(&p, a, n) == 0) return p;
    std::new_handler handler = std::get_new_handler();
    if (!handler) throw std::bad_alloc();
    handler();
  }
}

}  // namespace

void *operator new(std::size_t n) { return AllocOrThrow(n); }
void *operator new[](std::size_t n) { return AllocOrThrow(n); }
void *operator new(std::size_t n, std::align_val_t a) { return AlignedAllocOrThrow(n, a); }
void *operator new[](std::size_t n, std::align_val_t a) { return AlignedAllocOrThrow(n, a); }

void *operator new(std::size_t n, const std::nothrow_t &) noexcept {
  try {
    return AllocOrThrow(n);
  } catch (...) {
    return nullptr;
  }
}
void *operator new[](std::size_t n, const std::nothrow_t &) noexcept {
  try {
    return AllocOrThrow(n);
  } catch (...) {
    return nullptr;
  }
}
void *operator new(std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept {
  try {
    return AlignedAllocOrThrow(n, a);
  } catch (...) {
    return nullptr;
  }
}
void *operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept {
  try {
    return AlignedAllocOrThrow(n, a);
  } catch (...) {
    return nullptr;
  }
}

void operator delete(void *p) noexcept { free(p); }
void operator delete[](void *p) noexcept { free(p); }
void operator delete(void *p, std::size_t) noexcept { free(p); }
void operator delete[](void *p, std::size_t) noexcept { free(p); }
void operator delete(void *p, std::align_val_t) noexcept { free(p); }
void operator delete[](void *p, std::align_val_t) noexcept { free(p); }
void operator delete(void *p, std::size_t, std::align_val_t) noexcept { free(p); }
void operator delete[](void *p, std::size_t, std::align_val_t) noexcept { free(p); }
void operator delete(void *p, const std::nothrow_t &) noexcept { free(p); }
void operator delete[](void *p, const std::nothrow_t &) noexcept { free(p); }
void operator delete(void *p, std::align_val_t, const std::nothrow_t &) noexcept { free(p); }
void operator delete[](void *p, std::align_val_t, const std::nothrow_t &) noexcept { free(p); }
