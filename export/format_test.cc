// export/format_test.cc: the text renderings of a snapshot: numbers and
// escapes in the buffer, each writer's escaping of arbitrary bytes, the
// Prometheus text (non-finite values, families, the chunk map left out) and
// JSON's nesting of the detail figures.
#include <math.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

extern "C" {
#include "export/buf.h"
#include "export/format.h"
#include "export/snapshot.h"
}
#include "export/testing/export_testing.h"

namespace {

using xsmem::testing::Arena;
using xsmem::testing::Buf;
using xsmem::testing::ExportTest;

// A snapshot of one allocator with the given detail figures, built by hand:
// what a reader could hand the writers, whatever an allocator reports.
class OneAllocator {
 public:
  struct Figure {
    const char *group, *label, *key;
    double value;
  };
  OneAllocator(const char *name, const char *config, std::vector<Figure> figures)
      : values_(figures.size()), pointers_(figures.size()) {
    for (size_t i = 0; i < figures.size(); i++) {
      xsmem__detail_value__init(&values_[i]);
      values_[i].group = const_cast<char *>(figures[i].group);
      values_[i].label = const_cast<char *>(figures[i].label);
      values_[i].key = const_cast<char *>(figures[i].key);
      values_[i].value = figures[i].value;
      pointers_[i] = &values_[i];
    }
    xsmem__allocator__init(&allocator_);
    allocator_.name = const_cast<char *>(name);
    allocator_.config = const_cast<char *>(config);
    allocator_.detail = pointers_.data();
    allocator_.n_detail = pointers_.size();
    xsmem__snapshot__init(&snapshot_);
    snapshot_.allocators = allocators_;
    snapshot_.n_allocators = 1;
  }
  OneAllocator(const OneAllocator &) = delete;
  OneAllocator &operator=(const OneAllocator &) = delete;

  const Xsmem__Allocator *allocator() const { return &allocator_; }
  // Returns the snapshot's Prometheus text.
  std::string Prometheus() const {
    Buf b;
    xsmem_prometheus(&snapshot_, &b.b);
    return b.str();
  }

 private:
  std::vector<Xsmem__DetailValue> values_;
  std::vector<Xsmem__DetailValue *> pointers_;
  Xsmem__Allocator allocator_;
  Xsmem__Allocator *allocators_[1] = {&allocator_};
  Xsmem__Snapshot snapshot_;
};

TEST(Buf, NumbersAndEscapes) {
  Buf b;
  xsmem_buf_number(&b.b, 3, "nan", "inf");
  xsmem_buf_puts(&b.b, " ");
  xsmem_buf_number(&b.b, 0.25, "nan", "inf");
  xsmem_buf_puts(&b.b, " ");
  xsmem_buf_number(&b.b, -1.5, "nan", "inf");
  xsmem_buf_puts(&b.b, " ");
  xsmem_buf_number(&b.b, NAN, "NaN", "+Inf");
  xsmem_buf_puts(&b.b, " ");
  xsmem_buf_number(&b.b, -INFINITY, "NaN", "Inf");
  xsmem_buf_puts(&b.b, " ");
  xsmem_buf_number(&b.b, 18446744073709551615.0, "NaN", "+Inf");
  EXPECT_EQ(b.str(), "3 0.25 -1.5 NaN -Inf 1.844674407e19");
  Buf j;
  xsmem_json_string(&j.b, "a\"b\\c\nd\x01");
  EXPECT_EQ(j.str(), "\"a\\\"b\\\\c\\nd\\u0001\"");
  Buf p;
  xsmem_prometheus_label(&p.b, "a\"b\\c\nd");
  EXPECT_EQ(p.str(), "a\\\"b\\\\c\\nd");
  Buf big;
  std::string expect;
  for (int i = 0; i < 20000; i++) {  // grows past the first mapping
    xsmem_buf_printf(&big.b, "%d,", i);
    expect += std::to_string(i) + ",";
  }
  EXPECT_EQ(big.str(), expect);
}

// Strings from a snapshot are any bytes: each writer escapes them by its own
// rules and keeps its output valid UTF-8.
TEST(Escaping, TerminalJsonAndPrometheus) {
  auto term = [](const char *s) {
    Buf b;
    xsmem_term_string(&b.b, s, (size_t)-1);
    return b.str();
  };
  EXPECT_EQ(term("plain text, caf\xc3\xa9 \xe2\x82\xac"), "plain text, caf\xc3\xa9 \xe2\x82\xac");  // UTF-8 passes
  EXPECT_EQ(term("\x1b[31mred\x07"), "\\x1b[31mred\\x07");
  EXPECT_EQ(term("a\\b\nc\td\re\x7f"), "a\\\\b\\nc\\td\\re\\x7f");
  EXPECT_EQ(term("\xff\xc0\x80\xed\xa0\x80x"), "\\xff\\xc0\\x80\\xed\\xa0\\x80x");  // invalid, overlong, surrogate
  EXPECT_EQ(term("\xc2\x9b"
                 "2J \xe2\x80\xae"
                 "abc \xe2\x81\xa6"),
            "\\u009b2J \\u202eabc \\u2066");  // C1, bidi
  EXPECT_EQ(term("\xe2\x82"), "\\xe2\\x82");  // cut short by the end
  Buf n;
  xsmem_term_string(&n.b, "ab\xe2\x82\xac", 4);  // a counted string ending inside a sequence
  EXPECT_EQ(n.str(), "ab\\xe2\\x82");
  Buf j;
  xsmem_json_string(&j.b, "ok \xc3\xa9 bad \xff\xfe \x1b");
  EXPECT_EQ(j.str(), "\"ok \xc3\xa9 bad \\ufffd\\ufffd \\u001b\"");
  Buf p;
  xsmem_prometheus_label(&p.b, "q\"\\\n\xff\xc3\xa9");
  EXPECT_EQ(p.str(), "q\\\"\\\\\\n\xef\xbf\xbd\xc3\xa9");
  EXPECT_EQ(xsmem_utf8_len("\xf4\x8f\xbf\xbf"), 4u);  // U+10FFFF
  EXPECT_EQ(xsmem_utf8_len("\xf4\x90\x80\x80"), 0u);  // beyond it
}

// -Inf was written "-+Inf", which made the whole page unparseable.
TEST(Prometheus, NonFiniteValuesAreSpelledAsTheFormatSays) {
  OneAllocator one("n", "c", {{"tier", "a", "x", -INFINITY}, {"tier", "b", "x", INFINITY}, {"tier", "c", "x", NAN}});
  std::string t = one.Prometheus();
  EXPECT_NE(t.find("tier=\"a\"} -Inf\n"), std::string::npos) << t;
  EXPECT_NE(t.find("tier=\"b\"} +Inf\n"), std::string::npos) << t;
  EXPECT_NE(t.find("tier=\"c\"} NaN\n"), std::string::npos) << t;
  EXPECT_EQ(t.find("-+Inf"), std::string::npos) << t;
}

TEST_F(ExportTest, PrometheusText) {
  Arena ar;
  Xsmem__Snapshot *s = xsmem_snapshot_collect(&ar.a);
  ASSERT_NE(s, nullptr);
  Buf b;
  xsmem_prometheus(s, &b.b);
  std::string t = b.str();
  EXPECT_NE(t.find("# TYPE xsmem_num_allocs_total counter\n"), std::string::npos);
  EXPECT_NE(t.find("# TYPE xsmem_bytes_in_use gauge\n"), std::string::npos);
  EXPECT_NE(t.find("xsmem_num_allocs_total{allocator=\"fake_bfc\",config=\"\"} 1000\n"), std::string::npos);
  EXPECT_NE(t.find("xsmem_fragmentation{allocator=\"fake_bfc\",config=\"\"} 0.25\n"), std::string::npos);
  EXPECT_NE(t.find("xsmem_tier_bytes_in_use{allocator=\"fake_bfc\",config=\"\",tier=\"small\"} 30000\n"),
            std::string::npos);
  EXPECT_NE(t.find("xsmem_node_bytes_in_use{allocator=\"fake_bfc\",config=\"\",node=\"1\"} 18400\n"),
            std::string::npos);
  EXPECT_NE(t.find("# TYPE xsmem_tier_allocs_total counter\n"), std::string::npos);
  EXPECT_NE(t.find("class=\"we\\\"ird\\\\la\\nbel\"} 1.5\n"), std::string::npos);
  EXPECT_NE(t.find("xsmem_alloc_size_bytes_bucket{le=\"+Inf\"} 391\n"), std::string::npos);
  EXPECT_NE(t.find("xsmem_leaks 1\n"), std::string::npos);
  // Each family's TYPE line appears once.
  size_t first = t.find("# TYPE xsmem_tier_bytes_in_use ");
  EXPECT_EQ(t.find("# TYPE xsmem_tier_bytes_in_use ", first + 1), std::string::npos);
}

TEST_F(ExportTest, JsonNestsDetail) {
  Arena ar;
  Xsmem__Snapshot *s = xsmem_snapshot_collect(&ar.a);
  ASSERT_NE(s, nullptr);
  Buf b;
  xsmem_json_allocator(xsmem_snapshot_find(s, "fake_bfc"), &b.b);
  std::string t = b.str();
  EXPECT_NE(t.find("\"detail\":{\"tier\":{\"small\":{\"bytes_in_use\":30000,\"allocs\":900},"
                   "\"large\":{\"bytes_in_use\":8400}},\"node\":{\"0\":{\"bytes_in_use\":20000},"
                   "\"1\":{\"bytes_in_use\":18400}}"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("\"fragmentation\":0.25"), std::string::npos);
}

// bfc's chunk map (group "chunk", one label per chunk address) is left out of
// /metrics, where each address would be a new series; its summary stays.
TEST(Prometheus, ChunkMapStaysOutOfMetrics) {
  OneAllocator one("bfc", "bfc",
                   {{"bin", "256", "free_bytes", 256},
                    {"chunk_summary", "map", "chunks", 256},
                    {"chunk", "0x7f0000001000", "size", 256},
                    {"chunk", "0x7f0000001000", "used", 256},
                    {"chunk", "0x7f0000001100", "size", 256}});
  std::string t = one.Prometheus();
  EXPECT_NE(t.find("xsmem_bin_free_bytes{allocator=\"bfc\",config=\"bfc\",bin=\"256\"} 256\n"), std::string::npos);
  EXPECT_NE(t.find("xsmem_chunk_summary_chunks{allocator=\"bfc\",config=\"bfc\",chunk_summary=\"map\"} 256\n"),
            std::string::npos);
  EXPECT_EQ(t.find("xsmem_chunk_size"), std::string::npos) << t;
  EXPECT_EQ(t.find("0x7f0000001000"), std::string::npos) << t;
  // JSON keeps the map.
  Buf j;
  xsmem_json_allocator(one.allocator(), &j.b);
  EXPECT_NE(
      j.str().find("\"chunk\":{\"0x7f0000001000\":{\"size\":256,\"used\":256},\"0x7f0000001100\":{\"size\":256}}"),
      std::string::npos)
      << j.str();
}

}  // namespace
