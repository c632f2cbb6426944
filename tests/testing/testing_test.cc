// tests/testing/testing_test.cc: the shared test helpers do what the tests
// that use them rely on.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/address_space.h"
#include "tests/testing/corruption.h"
#include "tests/testing/detail.h"
#include "tests/testing/shadow.h"

namespace {

using xsmem::testing::Coverage;
using xsmem::testing::Detail;
using xsmem::testing::DetailValue;
using xsmem::testing::Shadow;
using xsmem::testing::ShadowBlock;

// An allocator with nothing but a detail op reporting fixed figures.
void FakeDetail(const xsmem_allocator *, xsmem_stats_sink *sink) {
  sink->value(sink, "tier", "small", "bytes_in_use", "gauge", 4096);
  sink->value(sink, "tier", "small", "allocs", "counter", 3);
  sink->value(sink, "class", "64", "stack_batches", "gauge", 2);
  sink->value(sink, "class", "128", "stack_batches", "gauge", 5);
  sink->value(sink, "class", "128", "allocs", "counter", 7);
  sink->value(sink, "tier", "small", "bytes_in_use", "gauge", 8192);  // reported again: the last counts
}
const xsmem_allocator_ops kOps = [] {
  xsmem_allocator_ops o = {};
  o.kind = "fake";
  o.detail = FakeDetail;
  return o;
}();
const xsmem_allocator kFake = {&kOps, "fake"};

TEST(Detail, CollectsEveryFigure) {
  Detail d(&kFake);
  EXPECT_EQ(d.Get("tier", "small", "bytes_in_use"), 8192);
  EXPECT_EQ(d.Get("tier", "small", "allocs"), 3);
  EXPECT_EQ(d.Get("tier", "large", "allocs"), 0);  // not reported
  EXPECT_TRUE(d.Has("class", "64", "stack_batches"));
  EXPECT_FALSE(d.Has("class", "64", "allocs"));
  EXPECT_TRUE(d.HasGroup("class"));
  EXPECT_FALSE(d.HasGroup("node"));
  EXPECT_EQ(d.Labels("class"), (std::set<std::string>{"128", "64"}));
  EXPECT_EQ(d.ByLabel("class", "stack_batches"), (std::map<std::string, double>{{"64", 2}, {"128", 5}}));
  EXPECT_EQ(d.Figures("tier", "small"), (std::map<std::string, double>{{"bytes_in_use", 8192}, {"allocs", 3}}));
  EXPECT_EQ(d.map().size(), 5u);
  EXPECT_EQ(d.map().at("class/128/allocs"), 7);
  ASSERT_EQ(d.values().size(), 6u);
  EXPECT_EQ(d.values()[1].key, "allocs");
  EXPECT_EQ(d.values()[1].kind, "counter");
  EXPECT_EQ(xsmem::testing::DetailMap(&kFake), d.map());
}

TEST(Detail, CallsOnValueInsideTheDetailOp) {
  std::vector<std::string> seen;
  size_t recorded_before_first = 99;
  Detail *self = nullptr;
  Detail d(&kFake, [&](const DetailValue &v) {
    seen.push_back(v.group + "/" + v.label + "/" + v.key);
    if (seen.size() == 1) recorded_before_first = self ? self->values().size() : 0;
  });
  self = &d;
  EXPECT_EQ(recorded_before_first, 0u);
  ASSERT_EQ(seen.size(), 6u);
  EXPECT_EQ(seen[2], "class/64/stack_batches");
}

TEST(Shadow, PatternShowsOverwritesAndShifts) {
  std::vector<uint8_t> b(1000);
  xsmem::testing::Fill(b.data(), b.size(), 5);
  EXPECT_EQ(xsmem::testing::Check(b.data(), b.size(), 5), 1000u);
  EXPECT_EQ(xsmem::testing::Check(b.data(), b.size(), 6), 0u);
  EXPECT_EQ(xsmem::testing::Check(b.data() + 1, 999, 5), 0u);  // shifted by one byte
  b[700] ^= 1;
  EXPECT_EQ(xsmem::testing::Check(b.data(), b.size(), 5), 700u);
}

TEST(Shadow, EveryByteIsChecked) {
  Shadow s(2);
  std::vector<uint8_t> mem(200000);
  s.Set(s[0], mem.data(), mem.size(), 9);
  EXPECT_TRUE(s.Intact(s[0]));
  mem[100000] ^= 0x40;
  EXPECT_EQ(s.Check(s[0]), 100000u);
  EXPECT_EQ(s[1].p, nullptr);
}

TEST(Shadow, EdgesAndStrideCheckThePartsTheyCover) {
  Shadow s(1, Coverage::kEdgesAndStride);
  const size_t n = 1 << 20;
  std::vector<uint8_t> mem(n, 0xee);
  s.Set(s[0], mem.data(), n, 3);
  EXPECT_EQ(mem[20000], 0xee);  // between the edges, off the stride: not written
  EXPECT_TRUE(s.Intact(s[0]));
  mem[20000] ^= 1;
  EXPECT_TRUE(s.Intact(s[0]));  // nor checked
  for (size_t at : {size_t{0}, size_t{16383}, size_t{65536}, size_t{7 * 65536}, n - 16384, n - 1}) {
    mem[at] ^= 1;
    EXPECT_EQ(s.Check(s[0]), at);
    mem[at] ^= 1;
  }
  Shadow small(1, Coverage::kEdgesAndStride);
  std::vector<uint8_t> m2(65536);
  small.Set(small[0], m2.data(), m2.size(), 1);
  m2[30000] ^= 1;
  EXPECT_EQ(small.Check(small[0]), 30000u);  // up to 64 KiB: every byte
}

TEST(Shadow, CheckMovedComparesTheKeptPrefix) {
  for (Coverage c : {Coverage::kEveryByte, Coverage::kEdgesAndStride}) {
    Shadow s(1, c);
    std::vector<uint8_t> old(300000), moved;
    s.Set(s[0], old.data(), old.size(), 77);
    moved = old;
    EXPECT_EQ(s.CheckMoved(s[0], moved.data(), 100), 100u);  // shrunk
    EXPECT_EQ(s.CheckMoved(s[0], moved.data(), old.size()), old.size());
    moved[3] ^= 1;
    EXPECT_EQ(s.CheckMoved(s[0], moved.data(), 100), 3u);
    std::vector<uint8_t> grown(400000);
    memcpy(grown.data(), old.data(), old.size());
    EXPECT_EQ(s.CheckMoved(s[0], grown.data(), grown.size()), old.size());  // grown: the old size is kept
    grown[old.size() - 1] ^= 1;
    EXPECT_EQ(s.CheckMoved(s[0], grown.data(), grown.size()), old.size() - 1);
  }
}

size_t Extent100(void *) { return 100; }

TEST(Shadow, DisjointSeesOverlaps) {
  Shadow s(3);
  std::vector<uint8_t> mem(1000);
  s.Set(s[0], mem.data(), 10, 1);
  s.Set(s[2], mem.data() + 100, 10, 2);
  EXPECT_TRUE(s.Disjoint(Extent100));  // [0, 100) and [100, 200)
  s.Set(s[1], mem.data() + 150, 10, 3);
  EXPECT_FALSE(s.Disjoint(Extent100));
}

TEST(AddressSpaceLimit, RefusesMappingsUntilRestored) {
  const size_t kBig = size_t{1} << 30;
  uint64_t mapped = xsmem::testing::MappedBytes();
  ASSERT_GT(mapped, 0u);
  struct rlimit before;
  ASSERT_EQ(getrlimit(RLIMIT_AS, &before), 0);
  {
    xsmem::testing::AddressSpaceLimit limit(mapped + (64 << 20));
    ASSERT_TRUE(limit.ok());
    void *p = mmap(nullptr, kBig, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    int err = errno;
    ASSERT_TRUE(limit.Restore());
    EXPECT_EQ(p, MAP_FAILED);
    EXPECT_EQ(err, ENOMEM);
    EXPECT_TRUE(limit.Restore());  // once is enough
  }
  {
    xsmem::testing::AddressSpaceLimit limit(mapped + (64 << 20));
    ASSERT_TRUE(limit.ok());
  }  // put back by the destructor
  struct rlimit after;
  ASSERT_EQ(getrlimit(RLIMIT_AS, &after), 0);
  EXPECT_EQ(after.rlim_cur, before.rlim_cur);
  void *p = mmap(nullptr, kBig, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  munmap(p, kBig);
}

TEST(Corruption, WriteWordWritesAndTheTargetSeesIt) {
  EXPECT_TRUE(xsmem::testing::g_forge_target.Untouched());
  EXPECT_TRUE(xsmem::testing::g_forge_target.Holds(xsmem::testing::g_forge_target.at(8191)));
  EXPECT_FALSE(xsmem::testing::g_forge_target.Holds(xsmem::testing::g_forge_target.at(8192)));
  uintptr_t words[4] = {};
  xsmem::testing::WriteWord(words, 2, 0x5a);
  EXPECT_EQ(words[2], 0x5au);
  xsmem::testing::WriteWord(xsmem::testing::g_forge_target.at(64), 0, 1);
  EXPECT_FALSE(xsmem::testing::g_forge_target.Untouched());
  xsmem::testing::WriteWord(xsmem::testing::g_forge_target.at(64), 0, 0);
  EXPECT_TRUE(xsmem::testing::g_forge_target.Untouched());
}

}  // namespace
