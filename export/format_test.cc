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
    bool counter = false;
  };
  OneAllocator(const char *name, const char *config, std::vector<Figure> figures)
      : values_(figures.size()), pointers_(figures.size()) {
    for (size_t i = 0; i < figures.size(); i++) {
      xsmem__detail_value__init(&values_[i]);
      values_[i].group = const_cast<char *>(figures[i].group);
      values_[i].label = const_cast<char *>(figures[i].label);
      values_[i].key = const_cast<char *>(figures[i].key);
      values_[i].value = figures[i].value;
      values_[i].counter = figures[i].counter;
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
  Xsmem__Snapshot *snapshot() { return &snapshot_; }
  // Returns the snapshot's Prometheus text (with the top call_sites call sites).
  std::string Prometheus(size_t call_sites = 0) const {
    Buf b;
    xsmem_prometheus_ex(&snapshot_, call_sites, &b.b);
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
  EXPECT_NE(t.find("# TYPE xsmem_allocations_total counter\n"), std::string::npos);
  EXPECT_NE(t.find("# TYPE xsmem_in_use_bytes gauge\n"), std::string::npos);
  EXPECT_NE(t.find("xsmem_allocations_total{allocator=\"fake_bfc\",config=\"\"} 1000\n"), std::string::npos);
  EXPECT_NE(t.find("xsmem_fragmentation_ratio{allocator=\"fake_bfc\",config=\"\"} 0.25\n"), std::string::npos);
  EXPECT_NE(t.find("xsmem_tier_in_use_bytes{allocator=\"fake_bfc\",config=\"\",tier=\"small\"} 30000\n"),
            std::string::npos);
  EXPECT_NE(t.find("xsmem_node_in_use_bytes{allocator=\"fake_bfc\",config=\"\",node=\"1\"} 18400\n"),
            std::string::npos);
  EXPECT_NE(t.find("# TYPE xsmem_tier_allocations_total counter\n"), std::string::npos);
  EXPECT_NE(t.find("class=\"we\\\"ird\\\\la\\nbel\"} 1.5\n"), std::string::npos);
  EXPECT_NE(t.find("xsmem_leaked_blocks 1\n"), std::string::npos);
  // The provider's histogram has no allocator: /metrics has the tracker's per
  // allocator (xsmem_request_size_bytes), and the snapshot's stays in JSON.
  EXPECT_EQ(t.find("_bucket{"), std::string::npos) << t;
  // Each family's TYPE line appears once.
  size_t first = t.find("# TYPE xsmem_tier_in_use_bytes ");
  EXPECT_NE(first, std::string::npos);
  EXPECT_EQ(t.find("# TYPE xsmem_tier_in_use_bytes ", first + 1), std::string::npos);
}

// Names by Prometheus' naming guide (promtool check metrics passes them): the
// unit last, counters in _total, no type name or histogram suffix outside a
// histogram, no rate computed in advance, nothing whose labels change between
// scrapes. Each was measured failing before (issue 22).
TEST(Prometheus, NamesFollowTheNamingGuide) {
  OneAllocator one("t", "c",
                   {{"tracker", "sample", "alloc_rate", 5000},
                    {"tracker", "sample", "total_blocks", 7, true},
                    {"pool", "cache", "hit_rate", 0.5},
                    {"pool", "cache", "hits", 3, true},
                    {"timeline", "859034", "bytes_in_use", 1},
                    {"callsite", "main#0badcafe", "live_bytes", 1},
                    {"bfc", "regions", "count", 2},
                    {"chunk_summary", "map", "chunks", 9},
                    {"node", "0", "small_bytes_in_use", 64},
                    {"tier", "small", "bytes_decommitted", 4096, true},
                    {"peer", "jemalloc", "resident", 8192},
                    {"peer", "mimalloc", "process_page_faults", 3, true}});
  std::string t = one.Prometheus();
  EXPECT_NE(t.find("xsmem_tracker_allocations_total{allocator=\"t\",config=\"c\",mode=\"sample\"} 7\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("xsmem_pool_hits_total{allocator=\"t\",config=\"c\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("xsmem_bfc_regions{allocator=\"t\",config=\"c\"} 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find("xsmem_chunk_map_chunks{allocator=\"t\",config=\"c\"} 9\n"), std::string::npos) << t;
  EXPECT_NE(t.find("xsmem_node_small_in_use_bytes{allocator=\"t\",config=\"c\",node=\"0\"} 64\n"), std::string::npos)
      << t;
  EXPECT_NE(t.find("# TYPE xsmem_tier_decommitted_bytes_total counter\n"), std::string::npos) << t;
  EXPECT_NE(t.find("xsmem_peer_resident_bytes{allocator=\"t\",config=\"c\",peer=\"jemalloc\"} 8192\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("xsmem_peer_process_page_faults_total{"), std::string::npos) << t;
  for (const char *gone : {"alloc_rate", "hit_rate", "timeline", "859034", "callsite", "0badcafe",
                           "xsmem_chunk_summary", "xsmem_bfc_count"}) {
    EXPECT_EQ(t.find(gone), std::string::npos) << gone << " in\n" << t;
  }
}

// The tracker's size buckets make one histogram per allocator, cumulative,
// with every bucket written (a bucket that fills later is no new series) and
// le the bucket's exact upper bound: a request of 512 bytes is in le="1023",
// not in le="511".
TEST(Prometheus, RequestSizeHistogramHasEveryBucket) {
  OneAllocator one("t", "c",
                   {{"size_histogram", "0", "count", 2, true},
                    {"size_histogram", "0", "bytes", 1, true},
                    {"size_histogram", "512", "count", 3, true},
                    {"size_histogram", "512", "bytes", 1600, true},
                    {"size_histogram", "4096", "count", 1, true},
                    {"size_histogram", "4096", "bytes", 5000, true}});
  std::string t = one.Prometheus();
  EXPECT_NE(t.find("# TYPE xsmem_request_size_bytes histogram\n"), std::string::npos) << t;
  const char *lines[] = {"le=\"1\"} 2\n",    "le=\"511\"} 2\n",           "le=\"1023\"} 5\n", "le=\"4095\"} 5\n",
                         "le=\"8191\"} 6\n", "le=\"1099511627775\"} 6\n", "le=\"+Inf\"} 6\n"};
  for (const char *l : lines) {
    EXPECT_NE(t.find(std::string("xsmem_request_size_bytes_bucket{allocator=\"t\",config=\"c\",") + l),
              std::string::npos)
        << l << " in\n"
        << t;
  }
  EXPECT_NE(t.find("xsmem_request_size_bytes_sum{allocator=\"t\",config=\"c\"} 6601\n"), std::string::npos) << t;
  EXPECT_NE(t.find("xsmem_request_size_bytes_count{allocator=\"t\",config=\"c\"} 6\n"), std::string::npos) << t;
  size_t buckets = 0;
  for (size_t p = t.find("_bucket{"); p != std::string::npos; p = t.find("_bucket{", p + 1)) buckets++;
  EXPECT_EQ(buckets, 41u);
  // A tracker that saw nothing yet writes the same series.
  OneAllocator idle("t", "c", {{"tracker", "full", "records", 0}});
  EXPECT_NE(idle.Prometheus().find("xsmem_request_size_bytes_bucket{allocator=\"t\",config=\"c\",le=\"+Inf\"} 0\n"),
            std::string::npos);
  OneAllocator off("t", "c", {{"tracker", "off", "records", 0}});
  EXPECT_EQ(off.Prometheus().find("xsmem_request_size_bytes"), std::string::npos);
}

// Call sites only when asked for, labelled by symbol (never by rank or
// address), those ending in the same symbol summed into one series.
TEST(Prometheus, CallSitesBySymbolWhenAsked) {
  OneAllocator one("t", "c", {});
  uint64_t frames[] = {0x7f00deadbeefULL};
  Xsmem__CallSite sites[3];
  Xsmem__CallSite *ptrs[3];
  const char *symbols[] = {"parse+0x10", "build+0x4", "parse+0x10"};
  for (int i = 0; i < 3; i++) {
    xsmem__call_site__init(&sites[i]);
    sites[i].symbol = const_cast<char *>(symbols[i]);
    sites[i].frames = frames;
    sites[i].n_frames = 1;
    sites[i].live_bytes = 100u * (3 - i);
    sites[i].live_count = 1;
    ptrs[i] = &sites[i];
  }
  one.snapshot()->call_sites = ptrs;
  one.snapshot()->n_call_sites = 3;
  EXPECT_EQ(one.Prometheus().find("call_site"), std::string::npos);
  std::string t = one.Prometheus(1);
  EXPECT_NE(t.find("xsmem_call_site_live_bytes{site=\"parse+0x10\"} 400\n"), std::string::npos) << t;
  EXPECT_NE(t.find("xsmem_call_site_live_blocks{site=\"parse+0x10\"} 2\n"), std::string::npos) << t;
  EXPECT_EQ(t.find("build"), std::string::npos) << t;
  EXPECT_EQ(t.find("rank"), std::string::npos) << t;
  EXPECT_EQ(t.find("deadbeef"), std::string::npos) << t;
  EXPECT_NE(one.Prometheus(5).find("xsmem_call_site_live_bytes{site=\"build+0x4\"} 200\n"), std::string::npos);
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
  EXPECT_NE(t.find("xsmem_chunk_map_chunks{allocator=\"bfc\",config=\"bfc\"} 256\n"), std::string::npos);
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
