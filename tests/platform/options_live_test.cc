// The LIVE options' readers see xsmem_option_set: the decommit delay (buddy,
// large), XSMEM_ON_ERROR, and the tracker's leak report at exit. (The alert
// thresholds: export/monitor_test.cc.)
#include <stdlib.h>
#include <string.h>

#include "allocators/allocator.h"
#include "allocators/buddy/buddy.h"
#include "allocators/large/large.h"
#include "allocators/system/system.h"
#include "gtest/gtest.h"
#include "platform/options.h"
#include "platform/os_vm.h"
#include "tracking/tracker.h"

namespace {

// Parts built from the environment with an hour's delay: nothing they keep
// goes back by itself during the test; only a delay set to 0 sends it back.
class Live : public testing::Test {
 protected:
  void SetUp() override {
    setenv("XSMEM_DECOMMIT_DELAY_MS", "3600000", 1);
    xsmem_options_reset_for_testing();
  }
  void TearDown() override {
    unsetenv("XSMEM_DECOMMIT_DELAY_MS");
    xsmem_options_reset_for_testing();
  }
};

TEST_F(Live, LargeFollowsTheDecommitDelay) {
  xsmem_large_options o = xsmem_large_options_from_env();
  ASSERT_TRUE(o.follow_options);
  xsmem_allocator *a = xsmem_large_create("live_large", NULL, &o);
  ASSERT_NE(a, nullptr);
  void *p = xsmem_alloc(a, 8 << 20, 16, 0);
  ASSERT_NE(p, nullptr);
  xsmem_free(a, p);
  xsmem_large_purge(a);
  EXPECT_GE(xsmem_get_stats(a).bytes_cached, 8u << 20);  // kept for an hour
  ASSERT_EQ(xsmem_option_set("XSMEM_DECOMMIT_DELAY_MS", "0"), 0);
  xsmem_large_purge(a);
  EXPECT_EQ(xsmem_get_stats(a).bytes_cached, 0u);
  a->ops->destroy(a);
}

TEST_F(Live, BuddyFollowsTheDecommitDelay) {
  xsmem_buddy_options o = xsmem_buddy_options_from_env();
  ASSERT_TRUE(o.follow_options);
  o.region_size = 4 << 20;
  xsmem_allocator *a = xsmem_buddy_create("live_buddy", xsmem_os_source(), &o);
  ASSERT_NE(a, nullptr);
  void *p = xsmem_alloc(a, 64 << 10, 16, 0);
  ASSERT_NE(p, nullptr);
  size_t metadata = xsmem_get_stats(a).bytes_metadata;
  xsmem_free(a, p);  // the region is empty now, and kept
  xsmem_buddy_purge(a);
  EXPECT_GE(xsmem_get_stats(a).bytes_reserved, metadata + (4 << 20));
  ASSERT_EQ(xsmem_option_set("XSMEM_DECOMMIT_DELAY_MS", "0"), 0);
  xsmem_buddy_purge(a);
  EXPECT_LT(xsmem_get_stats(a).bytes_reserved, metadata + (4 << 20));  // the region went back
  a->ops->destroy(a);
}

TEST_F(Live, PartsGivenTheirOptionsDoNotFollow) {
  xsmem_large_options o = xsmem_large_options_from_env();
  o.follow_options = false;  // a program's own options
  xsmem_allocator *a = xsmem_large_create("fixed_large", NULL, &o);
  ASSERT_NE(a, nullptr);
  xsmem_free(a, xsmem_alloc(a, 8 << 20, 16, 0));
  ASSERT_EQ(xsmem_option_set("XSMEM_DECOMMIT_DELAY_MS", "0"), 0);
  xsmem_large_purge(a);
  EXPECT_GE(xsmem_get_stats(a).bytes_cached, 8u << 20);
  a->ops->destroy(a);
}

TEST_F(Live, OnErrorFollowsTheOption) {
  int x;
  EXPECT_DEATH(xsmem_report_bad_pointer("test", "free", &x, "not ours"), "set XSMEM_ON_ERROR=warn to continue");
  ASSERT_EQ(xsmem_option_set("XSMEM_ON_ERROR", "warn"), 0);
  testing::internal::CaptureStderr();
  xsmem_report_bad_pointer("test", "free", &x, "not ours");  // reported, and the test goes on
  EXPECT_NE(testing::internal::GetCapturedStderr().find("ignored: XSMEM_ON_ERROR=warn"), std::string::npos);
  ASSERT_EQ(xsmem_option_set("XSMEM_ON_ERROR", "abort"), 0);
  EXPECT_DEATH(xsmem_report_bad_pointer("test", "free", &x, "not ours"), "set XSMEM_ON_ERROR=warn to continue");
}

// A tracker built from the environment without a leak report prints one at
// exit when XSMEM_LEAK_REPORT was set on meanwhile. (The block stays
// reachable from here, so LeakSanitizer does not count it.)
void *volatile g_unfreed;

TEST_F(Live, TrackerLeakReportFollowsTheOption) {
  EXPECT_EXIT(
      {
        setenv("XSMEM_TRACK", "full", 1);
        xsmem_tracker_options o;
        xsmem_tracker_options_from_env(&o);
        xsmem_allocator *t = xsmem_tracker_create(xsmem_system_allocator(), &o, "live_tracker");
        if (!t || o.leak_report_at_exit) abort();
        if (!(g_unfreed = xsmem_alloc(t, 4000, 16, 0))) abort();  // unfreed at exit
        if (xsmem_option_set("XSMEM_LEAK_REPORT", "1") != 0) abort();
        exit(0);
      },
      testing::ExitedWithCode(0), "leak report for 'live_tracker'");
}

}  // namespace
