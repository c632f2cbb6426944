// export/monitor_test.cc: the monitor's alerts (raised, counted, cleared,
// carried by the snapshot and the Prometheus text) and its number parser.
#include <string.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

extern "C" {
#include "export/buf.h"
#include "export/format.h"
#include "export/monitor.h"
#include "export/snapshot.h"
#include "platform/options.h"
}
#include "export/testing/export_testing.h"

namespace {

using xsmem::testing::Arena;
using xsmem::testing::Bfc;
using xsmem::testing::Buf;
using xsmem::testing::ExportTest;

TEST(Monitor, ParseDouble) {
  double v;
  EXPECT_TRUE(xsmem_parse_double("0.5", &v));
  EXPECT_DOUBLE_EQ(v, 0.5);
  EXPECT_TRUE(xsmem_parse_double("1e3", &v));
  EXPECT_DOUBLE_EQ(v, 1000);
  EXPECT_TRUE(xsmem_parse_double("-2.25", &v));
  EXPECT_DOUBLE_EQ(v, -2.25);
  EXPECT_FALSE(xsmem_parse_double("", &v));
  EXPECT_FALSE(xsmem_parse_double("abc", &v));
  EXPECT_FALSE(xsmem_parse_double("1.5x", &v));
  EXPECT_FALSE(xsmem_parse_double("1e", &v));
}

// The XSMEM_ALERT_* options are LIVE: thresholds from the options follow
// xsmem_option_set; thresholds a caller set stay as set.
TEST(Monitor, ThresholdsFollowTheOptionsSetAtRunTime) {
  xsmem_monitor_reset();
  EXPECT_FALSE(xsmem_monitor_alerts_enabled());
  ASSERT_EQ(xsmem_option_set("XSMEM_ALERT_BYTES_IN_USE", "1m"), 0);
  EXPECT_TRUE(xsmem_monitor_alerts_enabled());
  EXPECT_EQ(xsmem_monitor_thresholds_from_options().value[XSMEM_ALERT_BYTES_IN_USE], 1 << 20);
  ASSERT_EQ(xsmem_option_set("alert_bytes_in_use", nullptr), 0);  // back to the default: off
  EXPECT_FALSE(xsmem_monitor_alerts_enabled());
  xsmem_alert_thresholds t = {};
  t.value[XSMEM_ALERT_FRAGMENTATION] = 0.5;
  xsmem_monitor_set_thresholds(&t);
  ASSERT_EQ(xsmem_option_set("XSMEM_ALERT_FRAGMENTATION", "0"), 0);
  EXPECT_TRUE(xsmem_monitor_alerts_enabled());  // the caller's thresholds, not the option's
  ASSERT_EQ(xsmem_option_set("XSMEM_ALERT_FRAGMENTATION", nullptr), 0);
  xsmem_monitor_reset();
}

const xsmem_alert_state *FindAlert(const std::vector<xsmem_alert_state> &v, const char *name, const char *allocator) {
  for (auto &a : v) {
    if (!strcmp(a.name, name) && !strcmp(a.allocator, allocator)) return &a;
  }
  return nullptr;
}

std::vector<xsmem_alert_state> Alerts() {
  std::vector<xsmem_alert_state> v(XSMEM_MONITOR_MAX_ALERTS);
  v.resize(xsmem_monitor_alerts(v.data(), v.size()));
  return v;
}

TEST_F(ExportTest, AlertsRaiseCountAndClear) {
  xsmem_monitor_reset();
  xsmem_alert_thresholds t = {};
  t.value[XSMEM_ALERT_FRAGMENTATION] = 0.5;
  t.value[XSMEM_ALERT_POOL_HIT_RATE] = 0.5;
  t.value[XSMEM_ALERT_ALLOC_RATE] = 1000;
  t.value[XSMEM_ALERT_BYTES_IN_USE] = 1 << 30;
  xsmem_monitor_set_thresholds(&t);
  EXPECT_TRUE(xsmem_monitor_alerts_enabled());
  xsmem_fake_allocator *bfc = Bfc();
  const xsmem_stats saved = bfc->stats;                   // put back at the end: other tests read fake_bfc's figures
  bfc->stats.bytes_cached = 3 * bfc->stats.bytes_in_use;  // fragmentation 0.75
  const uint64_t s0 = 1000000000ull;
  xsmem_monitor_sample(s0);
  auto v = Alerts();
  const xsmem_alert_state *frag = FindAlert(v, "fragmentation", "fake_bfc");
  ASSERT_NE(frag, nullptr);
  EXPECT_TRUE(frag->active);
  EXPECT_EQ(frag->raised_count, 1u);
  EXPECT_NE(std::string(frag->recommendation).find("bfc"), std::string::npos);
  EXPECT_NE(std::string(frag->recommendation).find("garbage collection"), std::string::npos);
  const xsmem_alert_state *hit = FindAlert(v, "pool_hit_rate", "fake_pool");
  ASSERT_NE(hit, nullptr);
  EXPECT_TRUE(hit->active);
  EXPECT_DOUBLE_EQ(hit->value, 0.1);
  EXPECT_NE(std::string(hit->recommendation).find("raise its limit"), std::string::npos);
  EXPECT_FALSE(FindAlert(v, "bytes_in_use", "fake_bfc")->active);
  EXPECT_FALSE(FindAlert(v, "alloc_rate", "fake_bfc")->active);  // no rate from one sample

  // Still high: stays active, not raised again. 5000 allocations in 1 s > 1000/s.
  bfc->stats.num_allocs += 5000;
  xsmem_monitor_sample(s0 + 1000000000ull);
  v = Alerts();
  EXPECT_EQ(FindAlert(v, "fragmentation", "fake_bfc")->raised_count, 1u);
  EXPECT_TRUE(FindAlert(v, "alloc_rate", "fake_bfc")->active);
  EXPECT_NEAR(FindAlert(v, "alloc_rate", "fake_bfc")->value, 5000, 1);

  // Back to normal, then high again: the counter goes to 2.
  bfc->stats.bytes_cached = bfc->stats.bytes_in_use / 9;  // 0.1
  xsmem_monitor_sample(s0 + 2000000000ull);
  v = Alerts();
  EXPECT_FALSE(FindAlert(v, "fragmentation", "fake_bfc")->active);
  EXPECT_FALSE(FindAlert(v, "alloc_rate", "fake_bfc")->active);
  bfc->stats.bytes_cached = 9 * bfc->stats.bytes_in_use;  // 0.9
  xsmem_monitor_sample(s0 + 3000000000ull);
  v = Alerts();
  EXPECT_EQ(FindAlert(v, "fragmentation", "fake_bfc")->raised_count, 2u);
  bfc->stats = saved;

  // The snapshot and the Prometheus text carry them.
  Arena ar;
  Xsmem__Snapshot *s = xsmem_snapshot_collect(&ar.a);
  ASSERT_NE(s, nullptr);
  EXPECT_GE(s->n_alerts, 8u);
  EXPECT_GE(s->n_timeline, 4u);  // the sampler's timeline (the provider has none)
  Buf b;
  xsmem_prometheus(s, &b.b);
  EXPECT_NE(b.str().find("xsmem_alerts_raised_total{alert=\"fragmentation\",allocator=\"fake_bfc\"} 2\n"),
            std::string::npos);
  EXPECT_NE(b.str().find("xsmem_alert_active{alert=\"pool_hit_rate\",allocator=\"fake_pool\"} 1\n"), std::string::npos);
  xsmem_monitor_reset();
  xsmem_alert_thresholds none = {};
  xsmem_monitor_set_thresholds(&none);
}

}  // namespace
