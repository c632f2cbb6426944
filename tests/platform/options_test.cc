#include "platform/options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace {

// Sets variables for one test and removes them after; starts every test as a
// fresh process would (nothing parsed, checked, reported or set yet).
class Env {
 public:
  Env() { xsmem_options_reset_for_testing(); }
  ~Env() {
    for (const std::string &n : names_) unsetenv(n.c_str());
    xsmem_options_reset_for_testing();
  }
  void Set(const char *name, const char *value) {
    setenv(name, value, 1);
    names_.push_back(name);
  }

 private:
  std::vector<std::string> names_;
};

// Runs fn and returns what it wrote to stderr.
template <typename F>
std::string Stderr(F fn) {
  testing::internal::CaptureStderr();
  fn();
  return testing::internal::GetCapturedStderr();
}

bool Contains(const std::string &s, const char *part) { return s.find(part) != std::string::npos; }

TEST(Options, DefaultsComeFromTheTable) {
  Env env;
  EXPECT_STREQ(xsmem_option_str("XSMEM_ON_ERROR"), "abort");
  size_t n;
  const xsmem_option_info *t = xsmem_options_table(&n);
  ASSERT_GT(n, 0u);
  for (size_t i = 0; i < n; i++) {
    EXPECT_EQ(strncmp(t[i].name, "XSMEM_", 6), 0) << t[i].name;
    EXPECT_GT(strlen(t[i].description), 10u) << t[i].name;
  }
}

// Each row's default is a value of its own kind and range, and a CHOICE row
// lists its choices: the table cannot contradict itself.
TEST(Options, EveryDefaultIsAccepted) {
  size_t n;
  const xsmem_option_info *t = xsmem_options_table(&n);
  for (size_t i = 0; i < n; i++) {
    Env env;
    env.Set(t[i].name, t[i].default_value);
    xsmem_option_state st;
    ASSERT_TRUE(xsmem_option_lookup(t[i].name, &st));
    EXPECT_TRUE(st.accepted) << t[i].name << "=" << t[i].default_value << " outside " << t[i].accepted;
    EXPECT_EQ(st.source, XSMEM_OPTION_FROM_ENV);
    if (t[i].kind == XSMEM_OPTION_CHOICE) {
      EXPECT_NE(strchr(t[i].accepted, '/'), nullptr) << t[i].name;
    }
    if (t[i].kind == XSMEM_OPTION_INT || t[i].kind == XSMEM_OPTION_BYTES) {
      EXPECT_NE(strstr(t[i].accepted, ".."), nullptr) << t[i].name;
    }
  }
}

TEST(Options, TypedParsing) {
  Env env;
  env.Set("XSMEM_STATS_AT_EXIT", "on");
  EXPECT_TRUE(xsmem_option_bool("XSMEM_STATS_AT_EXIT"));
  env.Set("XSMEM_STATS_AT_EXIT", "No");
  EXPECT_FALSE(xsmem_option_bool("XSMEM_STATS_AT_EXIT"));
  std::string err = Stderr([&] {
    env.Set("XSMEM_STATS_AT_EXIT", "maybe");  // malformed: reported, the default (0) used
    EXPECT_FALSE(xsmem_option_bool("XSMEM_STATS_AT_EXIT"));
  });
  EXPECT_TRUE(Contains(err, "XSMEM_STATS_AT_EXIT=maybe is not accepted")) << err;
  static const char *const kChoices[] = {"off", "thp", "explicit"};
  env.Set("XSMEM_HUGE_PAGES", "EXPLICIT");
  EXPECT_EQ(xsmem_option_choice("XSMEM_HUGE_PAGES", kChoices, 3), 2);
  err = Stderr([&] {
    env.Set("XSMEM_HUGE_PAGES", "bogus");
    EXPECT_EQ(xsmem_option_choice("XSMEM_HUGE_PAGES", kChoices, 3), 1);  // the default, thp
  });
  EXPECT_TRUE(Contains(err,
                       "XSMEM_HUGE_PAGES=bogus is not accepted: XSMEM_HUGE_PAGES takes one of off/thp/explicit; "
                       "using the default, thp"))
      << err;
  env.Set("XSMEM_TRACK_SAMPLE_BYTES", "3T");
  EXPECT_EQ(xsmem_option_bytes("XSMEM_TRACK_SAMPLE_BYTES"), (size_t)3 << 40);
  env.Set("XSMEM_ALERT_FRAGMENTATION", "0.25");
  EXPECT_DOUBLE_EQ(xsmem_option_number("XSMEM_ALERT_FRAGMENTATION"), 0.25);
  env.Set("XSMEM_ALERT_FRAGMENTATION", "");
  EXPECT_DOUBLE_EQ(xsmem_option_number("XSMEM_ALERT_FRAGMENTATION"), 0.0);
}

TEST(Options, UndeclaredNameIsFatal) { EXPECT_DEATH(xsmem_option_str("XSMEM_NOT_DECLARED"), "not declared"); }

TEST(Options, ReadingAsAnotherKindIsFatal) {
  EXPECT_DEATH(xsmem_option_int("XSMEM_SMALL_MAX"), "not read as its kind");
  static const char *const kWrong[] = {"off", "explicit", "thp"};
  EXPECT_DEATH(xsmem_option_choice("XSMEM_HUGE_PAGES", kWrong, 3), "choices read are not off/thp/explicit");
}

TEST(Options, GetenvDoesNotMatchPrefixes) {
  Env env;
  env.Set("XSMEM_CONFIGX", "a");
  unsetenv("XSMEM_CONFIG");
  EXPECT_EQ(xsmem_getenv("XSMEM_CONFIG"), nullptr);
  env.Set("XSMEM_CONFIG", "b");
  EXPECT_STREQ(xsmem_getenv("XSMEM_CONFIG"), "b");
}

// --- 1. XSMEM_OPTIONS -------------------------------------------------------

TEST(Options, XsmemOptionsSetsSeveral) {
  Env env;
  env.Set("XSMEM_OPTIONS", "track=full, TRACK_SAMPLE_BYTES=512k ,xsmem_small_max=64k,Xsmem_Track_Depth=4");
  std::string err = Stderr([] {
    EXPECT_STREQ(xsmem_option_str("XSMEM_TRACK"), "full");
    EXPECT_EQ(xsmem_option_bytes("XSMEM_TRACK_SAMPLE_BYTES"), 512u << 10);
    EXPECT_EQ(xsmem_option_bytes("XSMEM_SMALL_MAX"), 64u << 10);
    EXPECT_EQ(xsmem_option_int("XSMEM_TRACK_DEPTH"), 4);
    EXPECT_EQ(xsmem_option_bytes("XSMEM_TLS_CACHE_BYTES"), 32u << 10);  // not named: the default
  });
  EXPECT_EQ(err, "");
  xsmem_option_state st;
  ASSERT_TRUE(xsmem_option_lookup("XSMEM_SMALL_MAX", &st));
  EXPECT_EQ(st.source, XSMEM_OPTION_FROM_OPTIONS);
  ASSERT_TRUE(xsmem_option_lookup("XSMEM_TLS_CACHE_BYTES", &st));
  EXPECT_EQ(st.source, XSMEM_OPTION_FROM_DEFAULT);
}

TEST(Options, OwnVariableWinsOverXsmemOptions) {
  Env env;
  env.Set("XSMEM_OPTIONS", "small_max=64k,small_max=128k,decommit_delay_ms=5");
  env.Set("XSMEM_DECOMMIT_DELAY_MS", "7");
  EXPECT_EQ(xsmem_option_bytes("XSMEM_SMALL_MAX"), 128u << 10);  // the last setting of a name
  EXPECT_EQ(xsmem_option_int("XSMEM_DECOMMIT_DELAY_MS"), 7);
  xsmem_option_state st;
  ASSERT_TRUE(xsmem_option_lookup("decommit_delay_ms", &st));
  EXPECT_EQ(st.source, XSMEM_OPTION_FROM_ENV);
}

TEST(Options, XsmemOptionsListsContinueTextValues) {
  Env env;
  env.Set("XSMEM_OPTIONS", "leak_suppress=libfoo,libbar ,track=off,http_allow_hosts=a.example,b.example");
  EXPECT_STREQ(xsmem_option_str("XSMEM_LEAK_SUPPRESS"), "libfoo,libbar");
  EXPECT_STREQ(xsmem_option_str("XSMEM_TRACK"), "off");
  EXPECT_STREQ(xsmem_option_str("XSMEM_HTTP_ALLOW_HOSTS"), "a.example,b.example");
}

TEST(Options, XsmemOptionsMistakesAreReported) {
  Env env;
  env.Set("XSMEM_OPTIONS", "track=full,verbose,sample_bytes=512k,=3,small_max=5g");
  std::string err = Stderr([] {
    EXPECT_STREQ(xsmem_option_str("XSMEM_TRACK"), "full");  // a piece without '=' does not extend a choice
    EXPECT_EQ(xsmem_option_bytes("XSMEM_TRACK_SAMPLE_BYTES"), 2u << 20);
    EXPECT_EQ(xsmem_option_bytes("XSMEM_SMALL_MAX"), 1u << 20);
  });
  EXPECT_TRUE(Contains(err, "XSMEM_OPTIONS: 'verbose' is not name=value; ignored")) << err;
  EXPECT_TRUE(Contains(err,
                       "XSMEM_OPTIONS: 'sample_bytes' is not an option; ignored (the closest is "
                       "track_sample_bytes)"))
      << err;
  EXPECT_TRUE(Contains(err, "'=3' is not name=value")) << err;
  EXPECT_TRUE(Contains(err,
                       "XSMEM_SMALL_MAX=5g (in XSMEM_OPTIONS) is not accepted: XSMEM_SMALL_MAX takes a size "
                       "in 1k..1m"))
      << err;
}

TEST(Options, XsmemOptionsBounds) {
  Env env;
  std::string many;
  for (int i = 0; i < 70; i++) many += (i ? "," : "") + std::string(i == 69 ? "track=full" : "verbose=1");
  env.Set("XSMEM_OPTIONS", many.c_str());
  std::string err = Stderr([] { EXPECT_STREQ(xsmem_option_str("XSMEM_TRACK"), "sample"); });
  EXPECT_TRUE(Contains(err, "XSMEM_OPTIONS holds more than 64 settings; 'verbose' and those after it are ignored"))
      << err;
  xsmem_options_reset_for_testing();
  std::string longer = "track=full," + std::string(5000, 'x') + ",verbose=1";
  env.Set("XSMEM_OPTIONS", ("leak_suppress=" + longer).c_str());
  err = Stderr([] { EXPECT_FALSE(xsmem_option_bool("XSMEM_VERBOSE")); });
  EXPECT_TRUE(Contains(err, "XSMEM_OPTIONS is 5035 characters long; only the first 4095 are read")) << err;
  EXPECT_STREQ(xsmem_option_str("XSMEM_LEAK_SUPPRESS"), "track=full");  // cut at the last comma that fits
}

// --- 2. validation ----------------------------------------------------------

struct BadValue {
  const char *name, *value, *accepted, *used;
};

// The cases of issue 20: each is reported once, naming the option, the value,
// what is accepted and the value used; the default is what the reader gets.
TEST(Options, OutOfRangeValuesAreReportedOnceAndTheDefaultUsed) {
  const BadValue kCases[] = {
      {"XSMEM_SMALL_MAX", "5g", "a size in 1k..1m", "1m"},
      {"XSMEM_SMALL_MAX", "100", "a size in 1k..1m", "1m"},
      {"XSMEM_TLS_CACHE_BYTES", "10m", "a size in 0..4m", "32k"},
      {"XSMEM_DECOMMIT_DELAY_MS", "-5", "an integer in 0..86400000", "1000"},
      {"XSMEM_GUARD_SAMPLE_RATE", "-1", "an integer of at least 0", "0"},
      {"XSMEM_BUDDY_REGION", "3m", "a size in 4m..128t, a power of two", "1g"},
      {"XSMEM_TRACK_DEPTH", "99", "an integer in 1..64", "32"},
      {"XSMEM_TRACK_SAMPLE_BYTES", "0", "a size of at least 1", "2m"},
      {"XSMEM_ALERT_FRAGMENTATION", "1.5", "a number in 0..1", "(empty)"},
      {"XSMEM_NUMA_FAKE_NODES", "65", "an integer in 0..64", "0"},
  };
  for (const BadValue &c : kCases) {
    Env env;
    env.Set(c.name, c.value);
    std::string err = Stderr([&] {
      for (int i = 0; i < 3; i++) {
        const char *v = xsmem_option_str(c.name);
        EXPECT_STREQ(v, strcmp(c.used, "(empty)") ? c.used : "") << c.name;
      }
    });
    std::string want = std::string(c.name) + "=" + c.value + " is not accepted: " + c.name + " takes " + c.accepted +
        "; using the default, " + c.used + "\n";
    EXPECT_EQ(err, "xsmem: " + want) << c.name;  // once, though read three times
  }
}

// --- 3. unknown names -------------------------------------------------------

TEST(Options, UnknownVariablesAreReportedWithTheClosestOption) {
  Env env;
  env.Set("XSMEM_TRAK", "full");
  env.Set("xsmem_track", "full");
  env.Set("XSMEM_SAMPLE_BYTES", "512k");
  env.Set("XSMEM_TEST_CONFIG", "default");  // internal: set by the conformance tests
  env.Set("XSMEM_LIB_DIR", "/tmp");
  env.Set("XSMEM_HTTP_SERVER", "1 127.0.0.1:1");
  std::string err = Stderr([] {
    xsmem_option_bool("XSMEM_VERBOSE");
    xsmem_option_bool("XSMEM_VERBOSE");  // once per process
  });
  EXPECT_TRUE(Contains(err, "xsmem: XSMEM_TRAK is not an xsmem option; ignored (the closest is XSMEM_TRACK)\n")) << err;
  EXPECT_TRUE(Contains(err, "xsmem: xsmem_track is not read: option names are upper case (XSMEM_TRACK)\n")) << err;
  EXPECT_TRUE(Contains(err,
                       "XSMEM_SAMPLE_BYTES is not an xsmem option; ignored (the closest is "
                       "XSMEM_TRACK_SAMPLE_BYTES)"))
      << err;
  EXPECT_FALSE(Contains(err, "XSMEM_TEST_CONFIG")) << err;
  EXPECT_FALSE(Contains(err, "XSMEM_LIB_DIR")) << err;
  EXPECT_FALSE(Contains(err, "XSMEM_HTTP_SERVER")) << err;
  size_t lines = 0;
  for (char c : err) lines += c == '\n';
  EXPECT_EQ(lines, 3u) << err;
}

// --- 4. what XSMEM_VERBOSE prints --------------------------------------------

TEST(Options, PrintShowsEveryValueAndWhereItCameFrom) {
  Env env;
  env.Set("XSMEM_OPTIONS", "small_max=64k");
  env.Set("XSMEM_TRACK", "full");
  env.Set("XSMEM_TRACK_DEPTH", "99");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  xsmem_options_print(fds[1], "XSMEM_SMALL_MAX XSMEM_TRACK XSMEM_TRACK_DEPTH XSMEM_LARGE_MIN XSMEM_NO_SUCH");
  close(fds[1]);
  char buf[4096];
  ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
  close(fds[0]);
  ASSERT_GT(n, 0);
  buf[n] = 0;
  EXPECT_STREQ(buf,
               "  XSMEM_LARGE_MIN=512m (default)\n"
               "  XSMEM_SMALL_MAX=64k (XSMEM_OPTIONS)\n"
               "  XSMEM_TRACK=full (environment)\n"
               "  XSMEM_TRACK_DEPTH=32 (default: 99 from the environment is not accepted)\n");
}

// --- 6. run-time values -----------------------------------------------------

TEST(Options, SetAndGet) {
  Env env;
  env.Set("XSMEM_DECOMMIT_DELAY_MS", "50");
  EXPECT_STREQ(xsmem_option_get("XSMEM_DECOMMIT_DELAY_MS"), "50");
  EXPECT_STREQ(xsmem_option_get("decommit_delay_ms"), "50");
  EXPECT_EQ(xsmem_option_get("XSMEM_NO_SUCH"), nullptr);
  uint64_t gen = xsmem_options_generation();
  EXPECT_EQ(xsmem_option_set("XSMEM_NO_SUCH", "1"), ENOENT);
  EXPECT_EQ(xsmem_option_set("XSMEM_SMALL_MAX", "64k"), ENOTSUP);  // read once, when the small tier is built
  EXPECT_EQ(xsmem_option_set("XSMEM_DECOMMIT_DELAY_MS", "-5"), EINVAL);
  EXPECT_EQ(xsmem_option_set("XSMEM_DECOMMIT_DELAY_MS", "soon"), EINVAL);
  EXPECT_EQ(xsmem_options_generation(), gen);  // nothing changed
  EXPECT_EQ(xsmem_option_set("decommit_delay_ms", "0"), 0);
  EXPECT_GT(xsmem_options_generation(), gen);
  EXPECT_STREQ(xsmem_option_get("XSMEM_DECOMMIT_DELAY_MS"), "0");  // over the environment's 50
  EXPECT_EQ(xsmem_option_int("XSMEM_DECOMMIT_DELAY_MS"), 0);
  xsmem_option_state st;
  ASSERT_TRUE(xsmem_option_lookup("XSMEM_DECOMMIT_DELAY_MS", &st));
  EXPECT_EQ(st.source, XSMEM_OPTION_FROM_SET);
  EXPECT_EQ(xsmem_option_set("XSMEM_DECOMMIT_DELAY_MS", nullptr), 0);  // forgotten: the environment's again
  EXPECT_STREQ(xsmem_option_get("XSMEM_DECOMMIT_DELAY_MS"), "50");
  EXPECT_EQ(xsmem_option_set("XSMEM_LEAK_SUPPRESS", "libfoo,libbar"), 0);
  EXPECT_STREQ(xsmem_option_get("XSMEM_LEAK_SUPPRESS"), "libfoo,libbar");
  // The values live in a bounded static arena: once it is full, ENOMEM.
  std::string big(1000, 'x');
  int rc = 0;
  for (int i = 0; i < 20 && rc == 0; i++) rc = xsmem_option_set("XSMEM_LEAK_SUPPRESS", big.c_str());
  EXPECT_EQ(rc, ENOMEM);
  EXPECT_STREQ(xsmem_option_get("XSMEM_LEAK_SUPPRESS"), big.c_str());  // the last value that fitted
}

TEST(Options, OnlyLiveOptionsCanBeSet) {
  size_t n;
  const xsmem_option_info *t = xsmem_options_table(&n);
  for (size_t i = 0; i < n; i++) {
    Env env;
    int rc = xsmem_option_set(t[i].name, t[i].default_value);
    EXPECT_EQ(rc, t[i].live ? 0 : ENOTSUP) << t[i].name;
  }
}

}  // namespace
