#include "xsmem/memory_resource.hpp"

#include <stdint.h>

#include <list>
#include <memory>
#include <memory_resource>
#include <new>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using ::testing::HasSubstr;

// What the allocator holds for the program: every block served and not freed.
struct Live {
  uint64_t blocks, bytes;
};

Live LiveOf(xsmem_allocator *a) {
  xsmem_stats s = xsmem_get_stats(a);
  return {s.num_allocs - s.num_frees, s.bytes_in_use};
}

bool Aligned(const void *p, size_t align) { return reinterpret_cast<uintptr_t>(p) % align == 0; }

bool Owns(xsmem_allocator *a, const void *p) { return a->ops->owns(a, p); }

// While alive, the default resource refuses everything: a pmr container that
// does not use the resource it was given throws instead of passing silently.
class NoDefaultResource {
 public:
  NoDefaultResource() : old_(std::pmr::set_default_resource(std::pmr::null_memory_resource())) {}
  ~NoDefaultResource() { std::pmr::set_default_resource(old_); }

 private:
  std::pmr::memory_resource *old_;
};

// Each case runs over both linked configurations, found by name.
class MemoryResource : public ::testing::TestWithParam<const char *> {
 protected:
  xsmem::memory_resource r_ = xsmem::memory_resource::from_config(GetParam());
  xsmem_allocator *a_ = r_.get();
  Live before_ = LiveOf(a_);

  void ExpectAllFreed() {
    Live now = LiveOf(a_);
    EXPECT_EQ(now.blocks, before_.blocks) << "blocks left allocated in " << GetParam();
    EXPECT_EQ(now.bytes, before_.bytes) << "bytes left in use in " << GetParam();
  }
};

INSTANTIATE_TEST_SUITE_P(Configs, MemoryResource, ::testing::Values("bfc", "pool"),
                         [](const ::testing::TestParamInfo<const char *> &i) { return std::string(i.param); });

TEST_P(MemoryResource, IsTheNamedConfiguration) {
  EXPECT_EQ(a_, xsmem_config_instance(xsmem_config_find(GetParam())));
  EXPECT_STREQ(r_.name(), GetParam());
  EXPECT_EQ(r_.stats().num_allocs, xsmem_get_stats(a_).num_allocs);
}

TEST_P(MemoryResource, PmrVectorGrowsInTheAllocator) {
  NoDefaultResource guard;
  {
    std::pmr::vector<int> v(&r_);
    for (int i = 0; i < 100000; i++) {
      v.push_back(i);
      ASSERT_TRUE(Owns(a_, v.data())) << "element " << i << " lives outside " << GetParam();
    }
    for (int i = 0; i < 100000; i++) ASSERT_EQ(v[i], i);
    Live during = LiveOf(a_);
    EXPECT_EQ(during.blocks, before_.blocks + 1) << "the old buffers go back as the vector grows";
    EXPECT_GE(during.bytes - before_.bytes, 100000 * sizeof(int));
  }
  ExpectAllFreed();
}

TEST_P(MemoryResource, GrowthIsCountedByTheAllocator) {
  const uint64_t allocs0 = r_.stats().num_allocs;
  {
    std::pmr::vector<int> v(&r_);
    for (int i = 0; i < 1000; i++) v.push_back(i);
  }
  // libstdc++ doubles from 1 to 1024 elements: 11 buffers, each served by the allocator.
  EXPECT_EQ(r_.stats().num_allocs - allocs0, 11u);
  ExpectAllFreed();
}

TEST_P(MemoryResource, NestedContainersUseTheMapsResource) {
  NoDefaultResource guard;         // a string or vector on the default resource would throw
  const std::string pad(40, 'k');  // past the small-string buffer: every key allocates
  {
    std::pmr::unordered_map<std::pmr::string, std::pmr::vector<int>> m(&r_);
    for (int i = 0; i < 1000; i++) {
      // Constructed inside the node from a const char*, with the map's resource.
      auto it = m.emplace(std::piecewise_construct, std::forward_as_tuple((pad + std::to_string(i)).c_str()),
                          std::forward_as_tuple())
                    .first;
      for (int j = 0; j <= i % 10; j++) it->second.push_back(j);
    }
    ASSERT_EQ(m.size(), 1000u);
    Live during = LiveOf(a_);
    // Per entry a node, a key and a vector's buffer, plus the bucket array.
    EXPECT_GE(during.blocks - before_.blocks, 3 * 1000u);
    EXPECT_GE(during.bytes - before_.bytes, 1000 * (pad.size() + 1));
    for (const auto &[key, value] : m) {
      EXPECT_EQ(key.get_allocator().resource(), &r_);
      EXPECT_EQ(value.get_allocator().resource(), &r_);
      EXPECT_TRUE(Owns(a_, key.data())) << key;
      EXPECT_TRUE(Owns(a_, value.data())) << key;
    }
    std::pmr::string probe(pad + "7", &r_);
    ASSERT_NE(m.find(probe), m.end());
    EXPECT_EQ(m.find(probe)->second.size(), 8u);
  }
  ExpectAllFreed();
}

// Vectors and lists (whose nodes take a rebound allocator) filled and freed
// by several threads at once; each thread's last vector is freed by the main
// thread, so blocks also go back from a thread that did not allocate them.
TEST_P(MemoryResource, StlContainersFromSeveralThreads) {
  constexpr int kThreads = 4, kRounds = 20, kElems = 5000;
  using Vec = std::vector<uint64_t, xsmem::allocator<uint64_t>>;
  const xsmem::allocator<uint64_t> alloc = xsmem::allocator<uint64_t>::from_config(GetParam());
  std::vector<Vec> handed(kThreads, Vec(alloc));
  std::vector<int> bad(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; round++) {
        Vec v(alloc);
        std::list<int, xsmem::allocator<int>> l(alloc);
        for (int i = 0; i < kElems; i++) {
          v.push_back(static_cast<uint64_t>(t) << 32 | static_cast<uint64_t>(i));
          if (i % 5 == 0) l.push_back(i);
        }
        for (int i = 0; i < kElems; i++) bad[t] += v[i] != (static_cast<uint64_t>(t) << 32 | static_cast<uint64_t>(i));
        int expect = 0;
        for (int x : l) {
          bad[t] += x != expect;
          expect += 5;
        }
        if (round == kRounds - 1) handed[t] = std::move(v);
      }
    });
  }
  for (auto &th : threads) th.join();
  for (int t = 0; t < kThreads; t++) {
    EXPECT_EQ(bad[t], 0) << "thread " << t << " read back wrong values";
    ASSERT_EQ(handed[t].size(), static_cast<size_t>(kElems));
    EXPECT_TRUE(Owns(a_, handed[t].data()));
  }
  handed.clear();
  ExpectAllFreed();
}

struct alignas(64) Line {
  char bytes[64];
};
struct alignas(4096) Page {
  char bytes[4096];
};

TEST_P(MemoryResource, OverAlignedTypesAreAligned) {
  NoDefaultResource guard;
  {
    std::pmr::vector<Line> lines(&r_);
    std::pmr::vector<Page> pages(&r_);
    for (int i = 0; i < 100; i++) {
      lines.emplace_back();
      ASSERT_TRUE(Aligned(lines.data(), 64)) << i;
      if (i < 20) {
        pages.emplace_back();
        ASSERT_TRUE(Aligned(pages.data(), 4096)) << i;
      }
    }
    std::vector<Page, xsmem::allocator<Page>> stl{xsmem::allocator<Page>(r_)};
    for (int i = 0; i < 20; i++) {
      stl.emplace_back();
      ASSERT_TRUE(Aligned(stl.data(), 4096)) << i;
      ASSERT_TRUE(Owns(a_, stl.data()));
    }
    // allocate_shared rebinds to a control block that holds the Line (inside
    // the block, so owns(), which takes a block's start, cannot tell).
    const uint64_t blocks = LiveOf(a_).blocks;
    auto shared = std::allocate_shared<Line>(xsmem::allocator<Line>(r_));
    EXPECT_TRUE(Aligned(shared.get(), 64));
    EXPECT_EQ(LiveOf(a_).blocks, blocks + 1);
    // Alignments above a page, straight through the resource.
    for (size_t align : {size_t{64}, size_t{4096}, size_t{1} << 16, size_t{1} << 21}) {
      void *p = r_.allocate(100, align);
      EXPECT_TRUE(Aligned(p, align)) << align;
      r_.deallocate(p, 100, align);
    }
  }
  ExpectAllFreed();
}

TEST_P(MemoryResource, ImpossibleSizesThrowAndLeaveNothing) {
  EXPECT_THROW((void)r_.allocate(SIZE_MAX / 2), std::bad_alloc);
  EXPECT_THROW((void)r_.allocate(SIZE_MAX - 4096, 4096), std::bad_alloc);
  {
    NoDefaultResource guard;
    EXPECT_THROW(std::pmr::vector<char>(SIZE_MAX / 4, &r_), std::bad_alloc);
  }
  xsmem::allocator<int> alloc(r_);
  EXPECT_THROW((void)alloc.allocate(alloc.max_size() + 1), std::bad_array_new_length);
  EXPECT_THROW((void)alloc.allocate(alloc.max_size()), std::bad_alloc);
  // std::bad_array_new_length is a std::bad_alloc, as new[] throws.
  EXPECT_THROW((void)alloc.allocate(SIZE_MAX), std::bad_alloc);
  ExpectAllFreed();
}

TEST(MemoryResourceErrors, UnknownNameIsNamedWithTheLinkedOnes) {
  try {
    xsmem::memory_resource::from_config("nope");
    FAIL() << "no exception";
  } catch (const xsmem::config_error &e) {
    EXPECT_THAT(e.what(), HasSubstr("no configuration 'nope' is linked"));
    EXPECT_THAT(e.what(), HasSubstr("(linked: bfc, pool, unbuildable)"));
  }
  EXPECT_THROW(xsmem::allocator<int>::from_config("nope"), xsmem::config_error);
  EXPECT_THROW(xsmem::config_allocator(""), std::runtime_error);
}

TEST(MemoryResourceErrors, UnbuildableConfigurationIsNamed) {
  try {
    xsmem::memory_resource::from_config("unbuildable");
    FAIL() << "no exception";
  } catch (const xsmem::config_error &e) {
    EXPECT_THAT(e.what(), HasSubstr("configuration 'unbuildable' cannot be built now"));
    EXPECT_THAT(e.what(), HasSubstr("linked: bfc, pool, unbuildable"));
  }
}

TEST(MemoryResourceErrors, DefaultAllocatorNeedsAShim) {
  ASSERT_EQ(xsmem_process_allocator(), nullptr) << "this test links no malloc shim";
  try {
    xsmem::allocator<int> a;
    FAIL() << "no exception";
  } catch (const xsmem::config_error &e) {
    EXPECT_THAT(e.what(), HasSubstr("no process allocator"));
    EXPECT_THAT(e.what(), HasSubstr("//allocators:NAME"));
  }
}

TEST(Equality, ResourcesAreEqualOverTheSameAllocator) {
  auto bfc1 = xsmem::memory_resource::from_config("bfc");
  auto bfc2 = xsmem::memory_resource::from_config("bfc");
  auto pool = xsmem::memory_resource::from_config("pool");
  xsmem::memory_resource bfc3(xsmem_config_instance(xsmem_config_find("bfc")));
  EXPECT_TRUE(bfc1 == bfc2);
  EXPECT_TRUE(bfc1 == bfc3);
  EXPECT_TRUE(bfc1 != pool);
  EXPECT_TRUE(bfc1 != *std::pmr::new_delete_resource());
  EXPECT_TRUE(*std::pmr::new_delete_resource() != bfc1);
  EXPECT_TRUE(bfc1 != *std::pmr::null_memory_resource());

  // Equal resources let a move take the buffer; unequal ones copy the elements.
  std::pmr::vector<int> a(&bfc1), b(1000, 7, &bfc2), c(1000, 8, &pool);
  const int *buffer = b.data();
  a = std::move(b);
  EXPECT_EQ(a.data(), buffer) << "bfc1 and bfc2 are equal: the buffer moves";
  std::pmr::vector<int> d(&bfc1);
  buffer = c.data();
  d = std::move(c);
  EXPECT_NE(d.data(), buffer) << "bfc and pool are not equal: the elements are copied";
  EXPECT_TRUE(Owns(bfc1.get(), d.data()));
  EXPECT_EQ(d[999], 8);
}

TEST(Equality, AllocatorsAreEqualOverTheSameAllocator) {
  auto bfc = xsmem::allocator<int>::from_config("bfc");
  auto pool = xsmem::allocator<int>::from_config("pool");
  xsmem::allocator<double> bfc_double(bfc);  // rebinding keeps the allocator
  EXPECT_TRUE(bfc == bfc_double);
  EXPECT_FALSE(bfc != bfc_double);
  EXPECT_TRUE(bfc != pool);
  EXPECT_FALSE(bfc == pool);
  EXPECT_TRUE(bfc == xsmem::allocator<int>(xsmem::memory_resource::from_config("bfc")));
  EXPECT_EQ(bfc.get(), xsmem_config_instance(xsmem_config_find("bfc")));
  using Rebound = std::allocator_traits<xsmem::allocator<int>>::rebind_alloc<char>;
  static_assert(std::is_same_v<Rebound, xsmem::allocator<char>>);
  EXPECT_TRUE(Rebound(bfc) == bfc);
}

// The allocator follows the memory: after a move assignment, a swap or a
// copy assignment each container frees its blocks into the allocator that
// served them, which the live counts prove.
TEST(Equality, AllocatorsPropagateWithTheirBlocks) {
  using A = xsmem::allocator<int>;
  using Traits = std::allocator_traits<A>;
  static_assert(Traits::propagate_on_container_move_assignment::value);
  static_assert(Traits::propagate_on_container_copy_assignment::value);
  static_assert(Traits::propagate_on_container_swap::value);
  static_assert(!Traits::is_always_equal::value);
  static_assert(std::is_nothrow_copy_constructible_v<A> && std::is_nothrow_move_constructible_v<A>);
  static_assert(noexcept(std::declval<A &>().deallocate(nullptr, 1)));
  static_assert(!std::is_nothrow_default_constructible_v<A>, "the default one throws without a shim");
  static_assert(std::is_nothrow_move_assignable_v<std::vector<int, A>>);

  xsmem_allocator *bfc = xsmem_config_instance(xsmem_config_find("bfc"));
  xsmem_allocator *pool = xsmem_config_instance(xsmem_config_find("pool"));
  const Live bfc0 = LiveOf(bfc), pool0 = LiveOf(pool);
  {
    std::vector<int, A> x{A(bfc)};
    std::vector<int, A> y(1000, 1, A(pool));
    x.assign(10, 2);
    const int *buffer = y.data();
    x = std::move(y);
    EXPECT_EQ(x.get_allocator(), A(pool));
    EXPECT_EQ(x.data(), buffer);
    std::vector<int, A> z(5, 3, A(bfc));
    z.swap(x);
    EXPECT_EQ(z.get_allocator(), A(pool));
    EXPECT_EQ(x.get_allocator(), A(bfc));
    x = z;
    EXPECT_EQ(x.get_allocator(), A(pool));
    EXPECT_TRUE(Owns(pool, x.data()));
    EXPECT_EQ(x, z);
  }
  EXPECT_EQ(LiveOf(bfc).blocks, bfc0.blocks);
  EXPECT_EQ(LiveOf(bfc).bytes, bfc0.bytes);
  EXPECT_EQ(LiveOf(pool).blocks, pool0.blocks);
  EXPECT_EQ(LiveOf(pool).bytes, pool0.bytes);
}

}  // namespace
