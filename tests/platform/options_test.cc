#include "platform/options.h"

#include <stdlib.h>
#include <string.h>

#include "gtest/gtest.h"

namespace {

TEST(Options, DefaultsComeFromTheTable) {
  unsetenv("XSMEM_ON_ERROR");
  EXPECT_STREQ(xsmem_option_str("XSMEM_ON_ERROR"), "abort");
  size_t n;
  const xsmem_option_info *t = xsmem_options_table(&n);
  ASSERT_GT(n, 0u);
  for (size_t i = 0; i < n; i++) {
    EXPECT_EQ(strncmp(t[i].name, "XSMEM_", 6), 0) << t[i].name;
    EXPECT_GT(strlen(t[i].description), 10u) << t[i].name;
  }
}

TEST(Options, TypedParsing) {
  setenv("XSMEM_STATS_AT_EXIT", "on", 1);
  EXPECT_TRUE(xsmem_option_bool("XSMEM_STATS_AT_EXIT"));
  setenv("XSMEM_STATS_AT_EXIT", "No", 1);
  EXPECT_FALSE(xsmem_option_bool("XSMEM_STATS_AT_EXIT"));
  setenv("XSMEM_STATS_AT_EXIT", "maybe", 1);  // malformed: warns, uses the default (0)
  EXPECT_FALSE(xsmem_option_bool("XSMEM_STATS_AT_EXIT"));
  static const char *const kChoices[] = {"off", "thp", "explicit"};
  setenv("XSMEM_HUGE_PAGES", "EXPLICIT", 1);
  EXPECT_EQ(xsmem_option_choice("XSMEM_HUGE_PAGES", kChoices, 3), 2);
  setenv("XSMEM_HUGE_PAGES", "bogus", 1);
  EXPECT_EQ(xsmem_option_choice("XSMEM_HUGE_PAGES", kChoices, 3), 1);  // the default, thp
  unsetenv("XSMEM_HUGE_PAGES");
}

TEST(Options, UndeclaredNameIsFatal) { EXPECT_DEATH(xsmem_option_str("XSMEM_NOT_DECLARED"), "not declared"); }

TEST(Options, GetenvDoesNotMatchPrefixes) {
  setenv("XSMEM_CONFIGX", "a", 1);
  unsetenv("XSMEM_CONFIG");
  EXPECT_EQ(xsmem_getenv("XSMEM_CONFIG"), nullptr);
  setenv("XSMEM_CONFIG", "b", 1);
  EXPECT_STREQ(xsmem_getenv("XSMEM_CONFIG"), "b");
}

}  // namespace
