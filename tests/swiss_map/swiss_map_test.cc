// Tests of platform/swiss_map against std::unordered_map as the oracle.
#include "platform/swiss_map.h"

#include <stdint.h>
#include <string.h>

#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include "gtest/gtest.h"

namespace {

struct Value {
  uint64_t a;
  uint32_t b;
};

TEST(SwissMap, ImplementationIsNamed) {
  std::string impl = xsmem_swiss_map_impl();
  EXPECT_TRUE(impl == "sse2" || impl == "portable") << impl;
}

TEST(SwissMap, InsertFindEraseSingle) {
  static xsmem_swiss_map m;  // static storage, as the tracker keeps it
  xsmem_swiss_map_init(&m, sizeof(Value));
  Value v{7, 8}, out{};
  EXPECT_FALSE(xsmem_swiss_map_find(&m, 42, &out));
  EXPECT_TRUE(xsmem_swiss_map_insert(&m, 42, &v));
  EXPECT_TRUE(xsmem_swiss_map_find(&m, 42, &out));
  EXPECT_EQ(out.a, 7u);
  EXPECT_EQ(out.b, 8u);
  v.a = 9;
  EXPECT_TRUE(xsmem_swiss_map_insert(&m, 42, &v));  // overwrite, no duplicate
  EXPECT_EQ(xsmem_swiss_map_size(&m), 1u);
  EXPECT_TRUE(xsmem_swiss_map_erase(&m, 42, &out));
  EXPECT_EQ(out.a, 9u);
  EXPECT_FALSE(xsmem_swiss_map_erase(&m, 42, &out));
  EXPECT_FALSE(xsmem_swiss_map_find(&m, 42, nullptr));
  EXPECT_EQ(xsmem_swiss_map_size(&m), 0u);
  // Key 0 and all-ones are ordinary keys.
  EXPECT_TRUE(xsmem_swiss_map_insert(&m, 0, &v));
  EXPECT_TRUE(xsmem_swiss_map_insert(&m, UINT64_MAX, &v));
  EXPECT_TRUE(xsmem_swiss_map_find(&m, 0, nullptr));
  EXPECT_TRUE(xsmem_swiss_map_find(&m, UINT64_MAX, nullptr));
  xsmem_swiss_map_destroy(&m);
  EXPECT_FALSE(xsmem_swiss_map_find(&m, 0, nullptr));
}

// Random operations checked against std::unordered_map, with pointer-like keys
// (16-byte aligned, clustered), which is what the tracker stores.
TEST(SwissMap, MatchesOracleUnderRandomOperations) {
  static xsmem_swiss_map m;
  xsmem_swiss_map_init(&m, sizeof(Value));
  std::unordered_map<uint64_t, Value> oracle;
  std::mt19937_64 rng(1234);
  std::vector<uint64_t> keys;
  for (int i = 0; i < 200000; i++) {
    int op = rng() % 10;
    if (op < 5 || keys.empty()) {
      uint64_t k = 0x7f0000000000ULL + (rng() % (1 << 22)) * 16;
      Value v{rng(), static_cast<uint32_t>(i)};
      ASSERT_TRUE(xsmem_swiss_map_insert(&m, k, &v));
      if (!oracle.count(k)) keys.push_back(k);
      oracle[k] = v;
    } else if (op < 8) {
      size_t idx = rng() % keys.size();
      uint64_t k = keys[idx];
      Value out{};
      bool present = oracle.count(k) != 0;
      ASSERT_EQ(xsmem_swiss_map_erase(&m, k, &out), present);
      if (present) {
        EXPECT_EQ(out.a, oracle[k].a);
        oracle.erase(k);
      }
      keys[idx] = keys.back();
      keys.pop_back();
    } else {
      uint64_t k = keys[rng() % keys.size()];
      Value out{};
      ASSERT_EQ(xsmem_swiss_map_find(&m, k, &out), oracle.count(k) != 0);
      if (oracle.count(k)) {
        EXPECT_EQ(out.b, oracle[k].b);
      }
    }
  }
  EXPECT_EQ(xsmem_swiss_map_size(&m), oracle.size());
  // for_each visits exactly the oracle's entries.
  struct Ctx {
    std::unordered_map<uint64_t, Value> *oracle;
    size_t seen, wrong;
  } ctx{&oracle, 0, 0};
  xsmem_swiss_map_for_each(
      &m,
      [](uint64_t k, const void *v, void *c) {
        auto *x = static_cast<Ctx *>(c);
        x->seen++;
        auto it = x->oracle->find(k);
        if (it == x->oracle->end() || it->second.a != static_cast<const Value *>(v)->a) x->wrong++;
      },
      &ctx);
  EXPECT_EQ(ctx.seen, oracle.size());
  EXPECT_EQ(ctx.wrong, 0u);
  xsmem_swiss_stats st;
  xsmem_swiss_map_stats(&m, &st);
  EXPECT_EQ(st.size, oracle.size());
  EXPECT_GT(st.rehashes, 0u);
  EXPECT_LE(st.size + st.tombstones, st.capacity - st.capacity / 8);
  EXPECT_GT(st.bytes, 0u);
  xsmem_swiss_map_destroy(&m);
}

// Churn on a fixed-size working set: tombstones must be purged, not grow the table.
// insert_new (the key is known absent) makes the same map as insert, through
// growth and churn.
TEST(SwissMap, InsertNewMatchesInsert) {
  static xsmem_swiss_map m;
  xsmem_swiss_map_init(&m, sizeof(Value));
  constexpr uint64_t kKeys = 20000;
  for (uint64_t k = 0; k < kKeys; k++) {
    Value v{k, static_cast<decltype(Value::b)>(~k)};
    ASSERT_TRUE(xsmem_swiss_map_insert_new(&m, 0x7f0000000000ull + 16 * k, &v));
  }
  EXPECT_EQ(xsmem_swiss_map_size(&m), kKeys);
  for (uint64_t k = 0; k < kKeys; k += 2) ASSERT_TRUE(xsmem_swiss_map_erase(&m, 0x7f0000000000ull + 16 * k, nullptr));
  for (uint64_t k = 0; k < kKeys; k++) {
    Value out{};
    bool found = xsmem_swiss_map_find(&m, 0x7f0000000000ull + 16 * k, &out);
    ASSERT_EQ(found, k % 2 == 1) << k;
    if (found) {
      EXPECT_EQ(out.a, k);
      EXPECT_EQ(out.b, static_cast<decltype(Value::b)>(~k));
    }
  }
  Value v{1, 2};
  for (uint64_t k = 0; k < kKeys; k += 2) ASSERT_TRUE(xsmem_swiss_map_insert_new(&m, 0x7f0000000000ull + 16 * k, &v));
  EXPECT_EQ(xsmem_swiss_map_size(&m), kKeys);
  xsmem_swiss_map_destroy(&m);
}

TEST(SwissMap, TombstonesArePurgedWithoutGrowth) {
  static xsmem_swiss_map m;
  xsmem_swiss_map_init(&m, 8);
  uint64_t v = 1;
  constexpr uint64_t kLive = 64000;  // about 1000 per shard, so shard sizes stay near the mean
  for (uint64_t k = 0; k < kLive; k++) ASSERT_TRUE(xsmem_swiss_map_insert(&m, k, &v));
  xsmem_swiss_stats before;
  xsmem_swiss_map_stats(&m, &before);
  for (uint64_t round = 1; round < 20; round++) {
    for (uint64_t k = 0; k < kLive; k++) {
      uint64_t prev = round == 1 ? k : (round - 1) * 100000 + k;
      ASSERT_TRUE(xsmem_swiss_map_erase(&m, prev, nullptr)) << round << " " << k;
      ASSERT_TRUE(xsmem_swiss_map_insert(&m, round * 100000 + k, &v));
    }
  }
  xsmem_swiss_stats after;
  xsmem_swiss_map_stats(&m, &after);
  EXPECT_EQ(after.size, kLive);
  EXPECT_GT(after.rehashes, before.rehashes) << "tombstones must have been purged";
  EXPECT_LE(after.capacity, 2 * before.capacity) << "churn must not grow the table";
  xsmem_swiss_map_destroy(&m);
}

// A few keys in every shard: the first tables come from one nursery mapping
// (a page holds several), not one page-rounded mapping per shard; tables
// grow out of it with every entry kept, and the map is reusable after destroy.
TEST(SwissMap, FirstTablesShareOneMapping) {
  static xsmem_swiss_map m;
  xsmem_swiss_map_init(&m, 56);  // the tracker's record size: 64-byte slots
  uint8_t value[56] = {0};
  for (int round = 0; round < 2; round++) {
    uint64_t k = 0;
    xsmem_swiss_stats st;
    auto all_shards_used = [] {
      for (const xsmem_swiss_shard &s : m.shards) {
        if (!s.ctrl) return false;
      }
      return true;
    };
    for (; !all_shards_used(); k++) {
      ASSERT_TRUE(xsmem_swiss_map_insert(&m, k, value));
      ASSERT_LT(k, 100000u);
    }
    xsmem_swiss_map_stats(&m, &st);
    // The shards that grew already (7 keys) have a mapping of their own.
    size_t own = 0;
    for (const xsmem_swiss_shard &s : m.shards) own += s.mapped;
    EXPECT_GT(m.nursery_bytes, 0u);
    EXPECT_LT(m.nursery_bytes, XSMEM_SWISS_SHARDS * 4096u / 2) << "first tables must share pages";
    EXPECT_EQ(st.bytes, m.nursery_bytes + own);
    for (uint64_t j = k; j < 20000; j++) ASSERT_TRUE(xsmem_swiss_map_insert(&m, j, value));
    for (uint64_t j = 0; j < 20000; j++) {
      value[0] = 0xFF;
      ASSERT_TRUE(xsmem_swiss_map_find(&m, j, value)) << j;
      ASSERT_EQ(value[0], 0);
    }
    xsmem_swiss_map_stats(&m, &st);
    EXPECT_EQ(st.size, 20000u);
    EXPECT_GT(st.capacity, 16u * XSMEM_SWISS_SHARDS);
    xsmem_swiss_map_destroy(&m);
    xsmem_swiss_map_stats(&m, &st);
    EXPECT_EQ(st.bytes, 0u);
    EXPECT_EQ(st.size, 0u);
  }
}

TEST(SwissMap, WithCreatesAndUpdatesInPlace) {
  static xsmem_swiss_map m;
  xsmem_swiss_map_init(&m, sizeof(uint64_t) * 2);
  auto add = [](void *v, bool created, void *ctx) {
    auto *c = static_cast<uint64_t *>(v);
    if (created) c[1] = 100;
    c[0] += *static_cast<uint64_t *>(ctx);
  };
  uint64_t d = 5;
  EXPECT_FALSE(xsmem_swiss_map_with(&m, 9, false, add, &d));
  EXPECT_TRUE(xsmem_swiss_map_with(&m, 9, true, add, &d));
  EXPECT_TRUE(xsmem_swiss_map_with(&m, 9, true, add, &d));
  uint64_t out[2];
  ASSERT_TRUE(xsmem_swiss_map_find(&m, 9, out));
  EXPECT_EQ(out[0], 10u);
  EXPECT_EQ(out[1], 100u);
  xsmem_swiss_map_destroy(&m);
}

TEST(SwissMap, ConcurrentThreadsOnDisjointKeys) {
  static xsmem_swiss_map m;
  xsmem_swiss_map_init(&m, 8);
  constexpr int kThreads = 4, kN = 50000;
  std::vector<std::thread> ts;
  std::atomic<int> errors{0};
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([t, &errors] {
      for (uint64_t i = 0; i < kN; i++) {
        uint64_t k = (uint64_t(t) << 40) | (i * 16), v = k ^ 1;
        if (!xsmem_swiss_map_insert(&m, k, &v)) errors++;
      }
      for (uint64_t i = 0; i < kN; i += 2) {
        uint64_t k = (uint64_t(t) << 40) | (i * 16), v = 0;
        if (!xsmem_swiss_map_erase(&m, k, &v) || v != (k ^ 1)) errors++;
      }
    });
  }
  for (auto &t : ts) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(xsmem_swiss_map_size(&m), size_t(kThreads) * kN / 2);
  xsmem_swiss_map_destroy(&m);
}

TEST(SwissMapDeathTest, BadValueSizeIsFatal) {
  static xsmem_swiss_map m;
  EXPECT_DEATH(xsmem_swiss_map_init(&m, 0), "value size 0 out of range");
  EXPECT_DEATH(xsmem_swiss_map_init(&m, XSMEM_SWISS_MAX_VALUE + 1), "out of range");
}

}  // namespace
