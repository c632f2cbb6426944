// xsmem/memory_resource.hpp: xsmem allocators for C++ containers (C++17).
//
// Two types over one xsmem_allocator (allocators/allocator.h):
//   xsmem::memory_resource  a std::pmr::memory_resource: give its address to
//                           std::pmr containers; nested pmr containers (the
//                           strings in a pmr map) get it through
//                           uses-allocator construction.
//   xsmem::allocator<T>     an allocator for std:: containers
//                           (std::vector<T, xsmem::allocator<T>>): one pointer.
// Both are views: neither owns nor destroys the allocator. A configuration's
// allocator (xsmem_config_instance) lives as long as the process; one a
// program composes itself must outlive every resource and container over it.
// Both are as thread-safe as the allocator (every configuration is).
//
// Alignment: requests pass their alignment through unchanged; every xsmem
// allocator honours any power of two (the conformance suite checks up to
// 1 GiB), so over-aligned types need nothing more.
#ifndef XSMEM_CPP_MEMORY_RESOURCE_HPP_
#define XSMEM_CPP_MEMORY_RESOURCE_HPP_

#if !defined(__cplusplus) || __cplusplus < 201703L
// C++17 for std::pmr: this message alone (the body is skipped), not pages of errors.
#error "xsmem/memory_resource.hpp needs C++17: add copts = [\"-std=c++17\"] to the target, or --cxxopt=-std=c++17"
#else

#include <cerrno>
#include <cstddef>
#include <limits>
#include <memory_resource>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>

#include "allocators/allocator.h"
#include "allocators/registry.h"

namespace xsmem {

// Thrown when a configuration cannot be had by name: none is linked under
// that name, or it cannot be built now (an address-space limit). The message
// names it and lists the configurations linked into the program.
class config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

inline std::string linked_configs() {
  std::string s;
  for (size_t i = 0, n = xsmem_config_count(); i < n; i++) {
    if (i) s += ", ";
    s += xsmem_config_at(i)->name;
  }
  return s.empty() ? "none" : s;
}

}  // namespace detail

// Returns the process-wide allocator of configuration `name`, building it on
// first use. The configuration's library (//allocators:NAME_config, or NAME
// with its malloc shim) must be linked into the program, statically.
// Throws config_error when it is not linked or cannot be built now.
inline xsmem_allocator *config_allocator(const std::string &name) {
  const xsmem_config *c = xsmem_config_find(name.c_str());
  if (!c) {
    throw config_error("xsmem: no configuration '" + name + "' is linked into this program (linked: " +
                       detail::linked_configs() + "); link //allocators:" + name + "_config");
  }
  xsmem_allocator *a = xsmem_config_instance(c);
  if (!a) {
    const int e = errno;  // read before building the message, which may allocate
    throw config_error("xsmem: configuration '" + name + "' cannot be built now (" +
                       std::generic_category().message(e) + "; linked: " + detail::linked_configs() + ")");
  }
  return a;
}

// A std::pmr::memory_resource over an xsmem allocator.
class memory_resource : public std::pmr::memory_resource {
 public:
  // REQUIRES: a != nullptr, and it outlives this resource and its blocks.
  explicit memory_resource(xsmem_allocator *a) noexcept : a_(a) {}

  // The resource of configuration `name` (config_allocator says what it
  // throws).
  static memory_resource from_config(const std::string &name) { return memory_resource(config_allocator(name)); }

  xsmem_allocator *get() const noexcept { return a_; }
  const char *name() const noexcept { return a_->name; }
  xsmem_stats stats() const noexcept { return xsmem_get_stats(a_); }

 protected:
  void *do_allocate(std::size_t bytes, std::size_t alignment) override {
    void *p = a_->ops->alloc(a_, bytes, alignment, 0);
    if (!p) throw std::bad_alloc();
    return p;
  }

  // The size lets allocators that keep no per-block size skip a lookup.
  void do_deallocate(void *p, std::size_t bytes, std::size_t /*alignment*/) noexcept override {
    a_->ops->free(a_, p, bytes);
  }

  // Blocks can go back through any resource over the same allocator.
  bool do_is_equal(const std::pmr::memory_resource &other) const noexcept override {
    if (this == &other) return true;
    const auto *o = dynamic_cast<const memory_resource *>(&other);
    return o && o->a_ == a_;
  }

 private:
  xsmem_allocator *a_;
};

// An allocator for std:: containers over an xsmem allocator: a pointer that
// travels with the blocks it served.
template <class T>
class allocator {
 public:
  using value_type = T;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  // The allocator follows the memory on copy and move assignment and swap: a
  // block must go back to the allocator that served it, moves and swaps stay
  // O(1) without copying elements, and swapping containers over different
  // allocators is never undefined. (std::pmr chose the opposite, for arenas
  // scoped to a container; here every allocator lives as long as its blocks.)
  using propagate_on_container_copy_assignment = std::true_type;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;
  using is_always_equal = std::false_type;

  // Over the allocator that serves malloc: the configuration whose malloc
  // shim is linked (//allocators:NAME). Throws config_error when there is
  // none: no shim is linked (a program that links only NAME_config names its
  // allocator instead), or its configuration cannot be built now.
  allocator() : a_(xsmem_process_allocator()) {
    if (!a_) {
      throw config_error(
          "xsmem::allocator: no process allocator (no malloc shim is linked, or its configuration cannot be built); "
          "link a configuration with its shim (//allocators:NAME), or construct the allocator from an "
          "xsmem_allocator*, a memory_resource or allocator<T>::from_config(name) (linked: " +
          detail::linked_configs() + ")");
    }
  }
  // REQUIRES: a != nullptr, and it outlives every block it serves.
  explicit allocator(xsmem_allocator *a) noexcept : a_(a) {}
  explicit allocator(const memory_resource &r) noexcept : a_(r.get()) {}
  template <class U>
  allocator(const allocator<U> &other) noexcept : a_(other.get()) {}  // rebinding: the same allocator

  // Over configuration `name` (config_allocator says what it throws).
  static allocator from_config(const std::string &name) { return allocator(config_allocator(name)); }

  // Throws std::bad_array_new_length when n * sizeof(T) overflows, and
  // std::bad_alloc when the allocator has no such block.
  [[nodiscard]] T *allocate(size_type n) {
    if (n > max_size()) throw std::bad_array_new_length();
    void *p = a_->ops->alloc(a_, n * sizeof(T), alignof(T), 0);
    if (!p) throw std::bad_alloc();
    return static_cast<T *>(p);
  }

  void deallocate(T *p, size_type n) noexcept { a_->ops->free(a_, p, n * sizeof(T)); }

  size_type max_size() const noexcept { return std::numeric_limits<size_type>::max() / sizeof(T); }

  xsmem_allocator *get() const noexcept { return a_; }
  xsmem_stats stats() const noexcept { return xsmem_get_stats(a_); }

 private:
  xsmem_allocator *a_;
};

// Equal when one can free what the other served: the same xsmem allocator.
template <class T, class U>
bool operator==(const allocator<T> &a, const allocator<U> &b) noexcept {
  return a.get() == b.get();
}

template <class T, class U>
bool operator!=(const allocator<T> &a, const allocator<U> &b) noexcept {
  return a.get() != b.get();
}

}  // namespace xsmem

#endif  // C++17
#endif  // XSMEM_CPP_MEMORY_RESOURCE_HPP_
