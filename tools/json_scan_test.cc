// tools/json_scan_test.cc: the JSON reader `xsmem bench` reads google
// benchmark's output with: the fields of a real output, escapes and
// surrogate pairs decoded to UTF-8, strings cut at a character boundary,
// and every malformed or truncated input refused without reading past its
// end (each input is copied into a buffer of exactly its length, so ASan
// builds catch a read beyond it).
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

extern "C" {
#include "tools/json_scan.h"
}

namespace {

// An exact-length copy of s (no terminating NUL). Not inlined: GCC's access
// analysis would otherwise take `end`, one past the block, for a read of it.
class Text {
 public:
  __attribute__((noinline)) explicit Text(const std::string &s)
      : p_(static_cast<char *>(malloc(s.size() ? s.size() : 1))), n_(s.size()) {
    memcpy(p_, s.data(), s.size());
  }
  ~Text() { free(p_); }
  const char *begin() const { return p_; }
  const char *end() const { return p_ + n_; }

 private:
  char *p_;
  size_t n_;
};

const char kBenchmarkOutput[] = R"({
  "context": {
    "date": "2026-12-07T21:15:44+00:00",
    "caches": [{"type": "Data", "level": 1, "size": 32768}],
    "load_avg": [4.81885,2.5249,2.70508],
    "library_build_type": "debug"
  },
  "benchmarks": [
    {
      "name": "BM_MallocFree/16",
      "run_type": "iteration",
      "iterations": 178190,
      "real_time": 5.3224445813345234e+01,
      "time_unit": "ns",
      "items_per_second": 1.2100054460091349e+08
    },
    {
      "name": "BM_CrossThreadFree/64/real_time",
      "items_per_second": 4.5e+07,
      "label": "x\"y"
    },
    {"name": "BM_NoItems", "real_time": 1}
  ]
})";

TEST(JsonScan, ReadsGoogleBenchmarkOutput) {
  Text t(kBenchmarkOutput);
  const char *list = json_member(t.begin(), t.end(), "benchmarks");
  ASSERT_NE(list, nullptr);
  json_iter it;
  ASSERT_TRUE(json_array_begin(&it, list, t.end()));
  std::vector<std::string> names;
  std::vector<double> ips;
  for (const char *b; (b = json_array_next(&it));) {
    char name[64];
    const char *v = json_member(b, t.end(), "name");
    ASSERT_NE(v, nullptr);
    ASSERT_TRUE(json_string(v, t.end(), name, sizeof name));
    names.push_back(name);
    double x = -1;
    v = json_member(b, t.end(), "items_per_second");
    if (v) {
      ASSERT_TRUE(json_number(v, t.end(), &x));
    }
    ips.push_back(x);
  }
  EXPECT_FALSE(it.error);
  EXPECT_EQ(names, (std::vector<std::string>{"BM_MallocFree/16", "BM_CrossThreadFree/64/real_time", "BM_NoItems"}));
  EXPECT_DOUBLE_EQ(ips[0], 1.2100054460091349e+08);
  EXPECT_DOUBLE_EQ(ips[1], 4.5e+07);
  EXPECT_EQ(ips[2], -1);  // no such member
  // A key inside a nested object is not a member of the outer one.
  EXPECT_EQ(json_member(t.begin(), t.end(), "level"), nullptr);
  EXPECT_EQ(json_skip(t.begin(), t.end()), t.end());
}

TEST(JsonScan, DecodesEscapesToUtf8) {
  Text t(R"("a\"b\\c\/d\n\t\u00e9\ud83d\ude00\ud800x\udc00")");
  char buf[64];
  ASSERT_TRUE(json_string(t.begin(), t.end(), buf, sizeof buf));
  // A lone surrogate, high or low, becomes U+FFFD.
  EXPECT_STREQ(buf, "a\"b\\c/d\n\t\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbdx\xef\xbf\xbd");
}

TEST(JsonScan, CutsLongStringsAtACharacterBoundary) {
  const std::string abee = "\"ab\xc3\xa9\xc3\xa9\"";  // "abéé"
  Text t(abee);
  char buf[5] = {0};  // room for "ab" + one é + NUL
  ASSERT_TRUE(json_string(t.begin(), t.end(), buf, sizeof buf));
  EXPECT_STREQ(buf, "ab\xc3\xa9");
  char small[4] = {0};  // "ab" + NUL: the é does not fit whole
  ASSERT_TRUE(json_string(t.begin(), t.end(), small, sizeof small));
  EXPECT_STREQ(small, "ab");
}

TEST(JsonScan, Numbers) {
  struct {
    const char *text;
    bool ok;
    double value;
  } cases[] = {{"0", true, 0},   {"-12.5e2", true, -1250}, {"1E+3", true, 1000}, {"3.25", true, 3.25},
               {"-", false, 0},  {"1.", false, 0},         {"1e", false, 0},     {".5", false, 0},
               {"+1", false, 0}, {"\"1\"", false, 0},      {"", false, 0}};
  for (const auto &c : cases) {
    Text t(c.text);
    double v = -99;
    EXPECT_EQ(json_number(t.begin(), t.end(), &v), c.ok) << c.text;
    if (c.ok) {
      EXPECT_DOUBLE_EQ(v, c.value) << c.text;
    }
  }
}

TEST(JsonScan, RefusesMalformedInput) {
  const char *bad[] = {"{",           "{\"a\"}",   "{\"a\":}", "{\"a\":1,}", "[1,]", "[1 2]",
                       "{a:1}",       "\"\x01\"",  "\"\\x\"",  "\"\\u12\"",  "tru",  "nul",
                       "[\"a\" : 1]", "{\"a\" 1}", "\"abc",    "[",          "]"};
  for (const char *s : bad) {
    Text t(s);
    EXPECT_EQ(json_skip(t.begin(), t.end()), nullptr) << s;
  }
  // An array whose elements go wrong midway: the good ones, then an error.
  Text t("[1, 2 3]");
  json_iter it;
  ASSERT_TRUE(json_array_begin(&it, t.begin(), t.end()));
  int n = 0;
  while (json_array_next(&it)) n++;
  EXPECT_EQ(n, 2);
  EXPECT_TRUE(it.error);
  Text empty("[ ]");
  ASSERT_TRUE(json_array_begin(&it, empty.begin(), empty.end()));
  EXPECT_EQ(json_array_next(&it), nullptr);
  EXPECT_FALSE(it.error);
  Text not_array("{}");
  EXPECT_FALSE(json_array_begin(&it, not_array.begin(), not_array.end()));
}

TEST(JsonScan, EveryTruncationIsRefused) {
  std::string doc(kBenchmarkOutput);
  for (size_t n = 0; n < doc.size(); n++) {
    Text t(doc.substr(0, n));
    ASSERT_EQ(json_skip(t.begin(), t.end()), nullptr) << n;
    // The lookups stop at the end too (ASan checks they never read past it).
    const char *list = json_member(t.begin(), t.end(), "benchmarks");
    json_iter it;
    if (list && json_array_begin(&it, list, t.end())) {
      for (const char *b; (b = json_array_next(&it));) {
        char name[64];
        double x;
        const char *v = json_member(b, t.end(), "name");
        if (v) (void)json_string(v, t.end(), name, sizeof name);
        v = json_member(b, t.end(), "items_per_second");
        if (v) (void)json_number(v, t.end(), &x);
      }
    }
  }
}

TEST(JsonScan, RefusesDeepNesting) {
  std::string ok = std::string(64, '[') + std::string(64, ']');
  std::string deep = std::string(65, '[') + std::string(65, ']');
  Text a(ok), b(deep);
  EXPECT_EQ(json_skip(a.begin(), a.end()), a.end());
  EXPECT_EQ(json_skip(b.begin(), b.end()), nullptr);
}

}  // namespace
