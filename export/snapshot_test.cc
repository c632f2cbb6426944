// export/export_test.cc: snapshots, binary round trips, text writers, alerts,
// and the HTTP endpoint (over a real socket). export_test links the `os`
// configuration as the process allocator (so "no malloc" can be measured;
// no sanitizers, which bring their own malloc); export_registry_test links it
// registered only, and runs under the sanitizers.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <thread>
#include <type_traits>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

extern "C" {
#include "allocators/allocator.h"
#include "allocators/registry.h"
#include "export/buf.h"
#include "export/format.h"
#include "export/http.h"
#include "export/monitor.h"
#include "export/provider.h"
#include "export/service.h"
#include "export/snapshot.h"
#include "export/testing/fake_allocator.h"
}

namespace {

// Two fake allocators added once for the whole binary.
xsmem_fake_allocator *Bfc() {
  static xsmem_fake_allocator f;
  static bool init = [] {
    xsmem_fake_init(&f, "fake_bfc", "bfc");
    f.stats.num_allocs = 1000;
    f.stats.num_frees = 400;
    f.stats.bytes_in_use = 600 * 64;
    f.stats.peak_bytes_in_use = 700 * 64;
    f.stats.bytes_reserved = 1 << 20;
    f.stats.fragmentation = 0.25;
    f.detail[0] = {"tier", "small", "bytes_in_use", "gauge", 30000};
    f.detail[1] = {"tier", "large", "bytes_in_use", "gauge", 8400};
    f.detail[2] = {"node", "0", "bytes_in_use", "gauge", 20000};
    f.detail[3] = {"node", "1", "bytes_in_use", "gauge", 18400};
    f.detail[4] = {"tier", "small", "allocs", "counter", 900};
    f.detail[5] = {"class", "we\"ird\\la\nbel", "bytes_in_use", "gauge", 1.5};
    f.num_detail = 6;
    return xsmem_export_add_allocator(&f.base);
  }();
  EXPECT_TRUE(init);
  return &f;
}

xsmem_fake_allocator *Pool() {
  static xsmem_fake_allocator f;
  static bool init = [] {
    xsmem_fake_init(&f, "fake_pool", "pool");
    f.stats.num_allocs = 50;
    f.detail[0] = {"pool", "all", "hits", "counter", 10};
    f.detail[1] = {"pool", "all", "misses", "counter", 90};
    f.num_detail = 2;
    return xsmem_export_add_allocator(&f.base);
  }();
  EXPECT_TRUE(init);
  return &f;
}

// A provider with fixed figures, standing in for the tracker.
const uint64_t kFrames[3] = {0x401000, 0x402000, 0x403000};
void Hist(void *ctx, xsmem_analysis_sink *s) {
  for (uint64_t k = 4; k < 10; k++) {
    xsmem_hist_bucket b = {1ull << k, 1ull << (k + 1), 10 * k, 10 * k * (1ull << k), k, k << k};
    s->bucket(s, &b);
  }
  xsmem_hist_bucket last = {1024, 0, 1, 5000, 1, 5000};
  s->bucket(s, &last);
}
void Sites(void *ctx, size_t max, xsmem_analysis_sink *s) {
  for (size_t i = 0; i < 40 && i < max + 5; i++) {  // more than max: the sink must cap
    xsmem_call_site c = {kFrames, 3, i == 0 ? "parse_input+0x1c (a.out)" : NULL, 100 - i, 1000, 10, 640};
    s->call_site(s, &c);
  }
}
void Leaks(void *ctx, size_t max, xsmem_analysis_sink *s) {
  xsmem_leak l = {0x7f0000001000, 48, kFrames, 2, "leaky", 1};
  s->leak(s, &l);
}
const xsmem_analysis_provider kProvider = {"test", nullptr, Hist, nullptr, Sites, Leaks};

struct Arena {
  xsmem_arena a = XSMEM_ARENA_INIT;
  ~Arena() { xsmem_arena_free(&a); }
};
struct Buf {
  xsmem_buf b = XSMEM_BUF_INIT;
  ~Buf() { xsmem_buf_free(&b); }
  std::string str() const { return b.data ? std::string(b.data, b.len) : std::string(); }
};

xsmem_snapshot_stream Stream(const void *data, size_t len) {
  xsmem_snapshot_stream st;
  memset(&st, 0, sizeof(st));
  st.data = (const uint8_t *)data;
  st.len = len;
  return st;
}

std::string TmpPath(const char *name) {
  const char *d = getenv("TEST_TMPDIR");
  return std::string(d ? d : "/tmp") + "/" + name;
}

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Bfc();
    Pool();
    xsmem_export_set_provider(&kProvider);
  }
  void TearDown() override { xsmem_export_set_provider(nullptr); }
};

TEST(StatsProto, EveryStatFieldHasAProtoFieldOfItsType) {
#define CHECK_FIELD(ctype, name, kind, help)                                                   \
  {                                                                                           \
    const ProtobufCFieldDescriptor *f =                                                       \
        protobuf_c_message_descriptor_get_field_by_name(&xsmem__allocator_stats__descriptor, #name); \
    ASSERT_NE(f, nullptr) << "add `" #name "` to AllocatorStats in xsmem_stats.proto";        \
    EXPECT_EQ(f->type, std::is_floating_point<ctype>::value ? PROTOBUF_C_TYPE_DOUBLE           \
                                                           : PROTOBUF_C_TYPE_UINT64) << #name; \
    EXPECT_TRUE(xsmem_snapshot_stat_present(#name));                                          \
  }
  XSMEM_STAT_FIELDS(CHECK_FIELD)
#undef CHECK_FIELD
  EXPECT_FALSE(xsmem_snapshot_stat_present("no_such_stat"));
}

TEST_F(ExportTest, CollectsRegistryAddedAllocatorsAndProvider) {
  Arena ar;
  Xsmem__Snapshot *s = xsmem_snapshot_collect(&ar.a);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->pid, getpid());
  EXPECT_NE(std::string(s->cmdline).find("/export/export_"), std::string::npos) << s->cmdline;
  const Xsmem__Allocator *os = xsmem_snapshot_find(s, "os");
  ASSERT_NE(os, nullptr);  // every registered configuration is observed
  EXPECT_STREQ(os->config, "os");
  if (xsmem_process_allocator()) {
    EXPECT_STREQ(s->config, "os");  // the process allocator's configuration
    EXPECT_TRUE(os->process_allocator);
    EXPECT_GT(os->stats->num_allocs, 0u);  // gtest itself allocated through the shim
  } else {
    EXPECT_STREQ(s->config, "");
    EXPECT_FALSE(os->process_allocator);
  }
  const Xsmem__Allocator *bfc = xsmem_snapshot_find(s, "fake_bfc");
  ASSERT_NE(bfc, nullptr);
  EXPECT_STREQ(bfc->kind, "bfc");
  EXPECT_EQ(bfc->stats->num_allocs, 1000u);
  EXPECT_DOUBLE_EQ(bfc->stats->fragmentation, 0.25);
  ASSERT_EQ(bfc->n_detail, 6u);
  EXPECT_STREQ(bfc->detail[2]->group, "node");
  EXPECT_TRUE(bfc->detail[4]->counter);
  EXPECT_EQ(s->n_histogram, 7u);
  EXPECT_EQ(s->n_call_sites, (size_t)XSMEM_EXPORT_TOP_CALL_SITES);
  EXPECT_EQ(s->call_sites[0]->n_frames, 3u);
  EXPECT_STREQ(s->call_sites[1]->symbol, "");
  ASSERT_EQ(s->n_leaks, 1u);
  EXPECT_STREQ(s->analysis_source, "test");
  EXPECT_GT(s->os->bytes_reserved, 0u);
}

TEST_F(ExportTest, WithoutProviderTheSnapshotIsValidAndEmptyThere) {
  xsmem_export_set_provider(nullptr);
  Arena ar;
  Xsmem__Snapshot *s = xsmem_snapshot_collect(&ar.a);
  ASSERT_NE(s, nullptr);
  EXPECT_STREQ(s->analysis_source, "");
  EXPECT_EQ(s->n_histogram, 0u);
  EXPECT_EQ(s->n_call_sites, 0u);
  Buf b;
  ASSERT_TRUE(xsmem_snapshot_pack(s, false, &b.b));
  Arena ar2;
  Xsmem__Snapshot *r = xsmem_snapshot_unpack(&ar2.a, b.b.data, b.b.len);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->n_allocators, s->n_allocators);
}

TEST_F(ExportTest, CollectingAndRenderingNeverCallMalloc) {
  xsmem_allocator *proc = xsmem_process_allocator();
  if (!proc) GTEST_SKIP() << "needs the malloc shim (export_test links it)";
  Arena ar;
  Buf out;
  std::string one_path = TmpPath("nomalloc.pb"), series_path = TmpPath("nomalloc-series.pb");
  const char *one = one_path.c_str(), *series = series_path.c_str();
  xsmem_stats before = xsmem_get_stats(proc);
  for (int i = 0; i < 3; i++) {
    Xsmem__Snapshot *s = xsmem_snapshot_collect(&ar.a);
    ASSERT_NE(s, nullptr);
    xsmem_json_snapshot(s, &out.b);
    xsmem_prometheus(s, &out.b);
    xsmem_csv_timeline(s, &out.b);
    ASSERT_TRUE(xsmem_snapshot_pack(s, true, &out.b));
    ASSERT_TRUE(xsmem_snapshot_pack_record(s, &out.b));
    // The files, through export/output.c.
    ASSERT_TRUE(xsmem_snapshot_write_file(one, s)) << strerror(errno);
    ASSERT_TRUE(xsmem_snapshot_append_file(series, s)) << strerror(errno);
    Arena back;
    ASSERT_NE(xsmem_snapshot_unpack(&back.a, out.b.data, 0), nullptr);  // empty message is valid
  }
  xsmem_stats after = xsmem_get_stats(proc);
  EXPECT_EQ(after.num_allocs, before.num_allocs);
  EXPECT_EQ(after.num_frees, before.num_frees);
}

TEST_F(ExportTest, SingleFileRoundTrip) {
  Arena ar;
  Xsmem__Snapshot *s = xsmem_snapshot_collect(&ar.a);
  ASSERT_NE(s, nullptr);
  std::string path = TmpPath("one.pb");
  ASSERT_TRUE(xsmem_snapshot_write_file(path.c_str(), s)) << errno;
  Buf file;
  ASSERT_TRUE(xsmem_read_file(path.c_str(), &file.b));
  // Format 2: the file header, then one record.
  ASSERT_GT(file.b.len, 32u);
  EXPECT_EQ(memcmp(file.b.data, "\x89XSMEM\r\n\x02\0\0\0", 12), 0);
  EXPECT_EQ(memcmp(file.b.data + 16, "\xc7XSR", 4), 0);
  EXPECT_TRUE(xsmem_snapshot_is_framed(file.b.data, file.b.len));
  Arena ar2;
  xsmem_snapshot_stream st = Stream(file.b.data, file.b.len);
  Xsmem__Snapshot *r = nullptr;
  ASSERT_EQ(xsmem_snapshot_next(&st, &ar2.a, &r), 1);
  EXPECT_EQ(st.record_offset, 16u);
  Xsmem__Snapshot *none = nullptr;
  EXPECT_EQ(xsmem_snapshot_next(&st, &ar2.a, &none), 0);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->sequence, s->sequence);
  EXPECT_EQ(r->time_unix_ns, s->time_unix_ns);
  EXPECT_STREQ(r->cmdline, s->cmdline);
  ASSERT_EQ(r->n_allocators, s->n_allocators);
  for (size_t i = 0; i < s->n_allocators; i++) {
    EXPECT_STREQ(r->allocators[i]->name, s->allocators[i]->name);
    EXPECT_EQ(r->allocators[i]->n_detail, s->allocators[i]->n_detail);
#define SAME(type, name, kind, help) \
  EXPECT_EQ(r->allocators[i]->stats->name, s->allocators[i]->stats->name) << #name;
    XSMEM_STAT_FIELDS(SAME)
#undef SAME
  }
  const Xsmem__Allocator *bfc = xsmem_snapshot_find(r, "fake_bfc");
  ASSERT_NE(bfc, nullptr);
  EXPECT_STREQ(bfc->detail[5]->label, "we\"ird\\la\nbel");
  EXPECT_EQ(r->n_histogram, s->n_histogram);
  EXPECT_EQ(r->histogram[3]->bytes, s->histogram[3]->bytes);
  EXPECT_EQ(r->call_sites[0]->frames[2], 0x403000u);
  EXPECT_EQ(r->leaks[0]->address, 0x7f0000001000u);
  EXPECT_EQ(r->leaks[0]->count, 1u);
  // Re-packing the read message gives the same bytes.
  Buf again;
  xsmem_snapshot_file_header(&again.b);
  ASSERT_TRUE(xsmem_snapshot_pack_record(r, &again.b));
  EXPECT_EQ(again.str(), file.str());
}

TEST_F(ExportTest, StreamRoundTripAndCorruption) {
  std::string path = TmpPath("series.pb");
  unlink(path.c_str());
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 3; i++) {
    Arena ar;
    Xsmem__Snapshot *s = xsmem_snapshot_collect(&ar.a);
    ASSERT_NE(s, nullptr);
    seqs.push_back(s->sequence);
    ASSERT_TRUE(xsmem_snapshot_append_file(path.c_str(), s));
  }
  Buf file;
  ASSERT_TRUE(xsmem_read_file(path.c_str(), &file.b));
  EXPECT_EQ(memcmp(file.b.data, "\x89XSMEM\r\n", 8), 0);  // one file header, at the start
  EXPECT_EQ(std::string(file.b.data + 16, file.b.len - 16).find("\x89XSMEM"), std::string::npos);
  Arena ar;
  xsmem_snapshot_stream st = Stream(file.b.data, file.b.len);
  Xsmem__Snapshot *s;
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(xsmem_snapshot_next(&st, &ar.a, &s), 1);
    EXPECT_EQ(s->sequence, seqs[i]);
  }
  EXPECT_EQ(xsmem_snapshot_next(&st, &ar.a, &s), 0);
  // Cut: the last record loses its tail; the two before it are read, and the
  // cut is reported at the last record's offset.
  xsmem_snapshot_stream cut = Stream(file.b.data, file.b.len - 5);
  EXPECT_EQ(xsmem_snapshot_next(&cut, &ar.a, &s), 1);
  EXPECT_EQ(xsmem_snapshot_next(&cut, &ar.a, &s), 1);
  size_t third = cut.pos;
  errno = 0;
  EXPECT_EQ(xsmem_snapshot_next(&cut, &ar.a, &s), -1);
  EXPECT_EQ(errno, EBADMSG);
  EXPECT_TRUE(cut.cut);
  EXPECT_EQ(cut.error_offset, third);
  EXPECT_STREQ(cut.error, "record cut short");
  EXPECT_EQ(xsmem_snapshot_next(&cut, &ar.a, &s), 0);
  // Garbage where a record should be.
  const uint8_t junk[] = {0x05, 0xff, 0xff, 0xff, 0xff, 0xff};
  xsmem_snapshot_stream bad = Stream(junk, sizeof(junk));
  EXPECT_EQ(xsmem_snapshot_next(&bad, &ar.a, &s), -1);
  const uint8_t huge_len[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00};
  xsmem_snapshot_stream bad2 = Stream(huge_len, sizeof(huge_len));
  EXPECT_EQ(xsmem_snapshot_next(&bad2, &ar.a, &s), -1);
  EXPECT_EQ(xsmem_snapshot_unpack(&ar.a, junk + 1, 5), nullptr);
  Buf none;
  EXPECT_FALSE(xsmem_read_file(TmpPath("missing/none.pb").c_str(), &none.b));
  EXPECT_EQ(errno, ENOENT);
}

// What a reader makes of a file: the JSON of every intact record, and the
// offsets of what it refused (cut ones apart).
struct ReadBack {
  std::vector<std::string> json;
  std::vector<size_t> refused, cut;
};

ReadBack ReadAll(const char *data, size_t len) {
  ReadBack out;
  Arena ar;
  xsmem_snapshot_stream st = Stream(data, len);
  Xsmem__Snapshot *s;
  int r, guard = 0;
  while ((r = xsmem_snapshot_next(&st, &ar.a, &s)) != 0 && guard++ < 1000) {
    if (r < 0) {
      EXPECT_NE(st.error, nullptr);
      (st.cut ? out.cut : out.refused).push_back(st.error_offset);
      continue;
    }
    Buf j;
    xsmem_json_snapshot(s, &j.b);
    out.json.push_back(j.str());
  }
  EXPECT_LT(guard, 1000) << "the reader does not advance";
  return out;
}

// Three snapshots of different sizes in one stream (format 2).
std::string ThreeRecordStream(std::vector<size_t> *starts) {
  Buf b;
  xsmem_snapshot_file_header(&b.b);
  for (int i = 0; i < 3; i++) {
    Arena ar;
    Xsmem__Snapshot *s = xsmem_snapshot_collect(&ar.a);
    EXPECT_NE(s, nullptr);
    s->n_call_sites = 5 + 10 * (size_t)i;  // sizes differ (the provider gives 32)
    if (starts) starts->push_back(b.b.len);
    EXPECT_TRUE(xsmem_snapshot_pack_record(s, &b.b));
  }
  if (starts) starts->push_back(b.b.len);
  return b.str();
}

// A flipped bit used to change a figure silently (allocs 1507 became 1251):
// with a checksum per record, every single-bit flip of a snapshot file is
// either refused with the damaged record's offset or leaves the data as it was
// (a flip in the file header, which only the header's checksum notices).
TEST_F(ExportTest, EveryBitFlipOfASnapshotFileIsRefusedOrHarmless) {
  Arena ar;
  Xsmem__Snapshot *s = xsmem_snapshot_collect(&ar.a);
  ASSERT_NE(s, nullptr);
  std::string path = TmpPath("flip.pb");
  ASSERT_TRUE(xsmem_snapshot_write_file(path.c_str(), s));
  Buf file;
  ASSERT_TRUE(xsmem_read_file(path.c_str(), &file.b));
  std::string good = file.str();
  ReadBack clean = ReadAll(good.data(), good.size());
  ASSERT_EQ(clean.json.size(), 1u);
  ASSERT_TRUE(clean.refused.empty() && clean.cut.empty());
  size_t refused = 0, harmless = 0;
  for (size_t bit = 0; bit < good.size() * 8; bit++) {
    std::string bad = good;
    bad[bit / 8] ^= (char)(1 << (bit % 8));
    ReadBack got = ReadAll(bad.data(), bad.size());
    if (got.json.empty()) {
      ASSERT_EQ(got.refused.size() + got.cut.size(), 1u) << "bit " << bit;
      size_t at = got.refused.empty() ? got.cut[0] : got.refused[0];
      EXPECT_EQ(at, 16u) << "bit " << bit << ": the record starts at byte 16";
      refused++;
    } else {
      ASSERT_EQ(got.json, clean.json) << "bit " << bit << " changed the data silently";
      EXPECT_LT(bit, 16u * 8) << "bit " << bit << " outside the file header was not refused";
      EXPECT_EQ(got.refused, std::vector<size_t>{0}) << "bit " << bit << ": header damage not reported";
      harmless++;
    }
  }
  EXPECT_EQ(harmless, 16u * 8);
  EXPECT_EQ(refused, good.size() * 8 - harmless);
}

// In a stream, a flipped bit costs at most the record it hits: the others
// are read, and the damaged one is refused with its offset.
TEST_F(ExportTest, BitFlipsInAStreamCostOnlyTheRecordHit) {
  std::vector<size_t> starts;
  std::string good = ThreeRecordStream(&starts);
  ReadBack clean = ReadAll(good.data(), good.size());
  ASSERT_EQ(clean.json.size(), 3u);
  for (size_t bit = 0; bit < good.size() * 8; bit += 11) {  // a sample: every 11th bit (all 8 positions)
    std::string bad = good;
    size_t byte = bit / 8;
    bad[byte] ^= (char)(1 << (bit % 8));
    ReadBack got = ReadAll(bad.data(), bad.size());
    int hit = -1;  // the record holding the byte, -1 for the file header
    for (int r = 0; r < 3; r++)
      if (byte >= starts[r] && byte < starts[r + 1]) hit = r;
    std::vector<std::string> want = clean.json;
    if (hit >= 0) {
      want.erase(want.begin() + hit);
      EXPECT_EQ(got.refused, std::vector<size_t>{starts[hit]}) << "bit " << bit;
    } else {
      EXPECT_EQ(got.refused, std::vector<size_t>{0}) << "bit " << bit;
    }
    EXPECT_TRUE(got.cut.empty()) << "bit " << bit;
    ASSERT_EQ(got.json, want) << "bit " << bit;
  }
}

// A writer killed mid-record (or a full disk) leaves a cut tail: at every cut
// point, every record wholly before it is read, and the cut is reported
// (never as damage). One cut record used to make all the others unreadable.
TEST_F(ExportTest, AStreamCutAtEveryByteYieldsEveryIntactRecord) {
  std::vector<size_t> starts;
  std::string good = ThreeRecordStream(&starts);
  ReadBack clean = ReadAll(good.data(), good.size());
  ASSERT_EQ(clean.json.size(), 3u);
  for (size_t len = 0; len <= good.size(); len++) {
    ReadBack got = ReadAll(good.data(), len);
    size_t whole = 0;
    for (int r = 0; r < 3; r++) whole += starts[r + 1] <= len;
    ASSERT_EQ(got.json.size(), whole) << "cut at " << len;
    for (size_t i = 0; i < whole; i++) ASSERT_EQ(got.json[i], clean.json[i]) << "cut at " << len;
    EXPECT_TRUE(got.refused.empty()) << "cut at " << len << " reported as damage";
    bool boundary = len == 0 || len == starts[0] || len == starts[1] || len == starts[2] || len == starts[3];
    EXPECT_EQ(got.cut.size(), boundary ? 0u : 1u) << "cut at " << len;
    if (!boundary) {
      EXPECT_EQ(got.cut[0], len < starts[0] ? 0 : starts[whole]) << "cut at " << len;
    }
  }
}

// Files written before the format had a header (version 1) still read: one
// bare Snapshot, or a stream of varint-delimited ones (whose cut tail now
// yields the records before it too).
TEST_F(ExportTest, VersionOneFilesStillRead) {
  Arena ar;
  Xsmem__Snapshot *s = xsmem_snapshot_collect(&ar.a);
  ASSERT_NE(s, nullptr);
  Buf single;
  ASSERT_TRUE(xsmem_snapshot_pack(s, false, &single.b));
  EXPECT_FALSE(xsmem_snapshot_is_framed(single.b.data, single.b.len));
  EXPECT_EQ((uint8_t)single.b.data[0], 0x08);  // field 1's tag: never the file header
  EXPECT_NE(xsmem_snapshot_unpack(&ar.a, single.b.data, single.b.len), nullptr);
  Buf stream;
  for (int i = 0; i < 3; i++) ASSERT_TRUE(xsmem_snapshot_pack(s, true, &stream.b));
  EXPECT_FALSE(xsmem_snapshot_is_framed(stream.b.data, stream.b.len));
  ReadBack all = ReadAll(stream.b.data, stream.b.len);
  EXPECT_EQ(all.json.size(), 3u);
  EXPECT_TRUE(all.refused.empty() && all.cut.empty());
  ReadBack cut = ReadAll(stream.b.data, stream.b.len - 7);
  EXPECT_EQ(cut.json.size(), 2u);
  EXPECT_EQ(cut.cut.size(), 1u);
}

// protobuf-c accepts field number 0 written in two bytes and keeps it as an
// unknown field, which it then packs as the invalid 0x00: read, then written
// out unreadable (found by snapshot_fuzz). Such a message is refused; unknown
// fields with valid numbers are kept and written back.
TEST(SnapshotFormat, FieldZeroIsRefusedOtherUnknownFieldsKept) {
  Arena ar;
  errno = 0;
  EXPECT_EQ(xsmem_snapshot_unpack(&ar.a, "\x80\x00", 2), nullptr);
  EXPECT_EQ(errno, EBADMSG);
  EXPECT_EQ(xsmem_snapshot_unpack(&ar.a, "\x08\x01\x32\x02\x80\x00", 6), nullptr);  // inside an Allocator
  const char newer[] = "\x08\x01\x98\x06\x07";  // time_unix_ns 1, then field 99 = 7
  Xsmem__Snapshot *s = xsmem_snapshot_unpack(&ar.a, newer, sizeof(newer) - 1);
  ASSERT_NE(s, nullptr);
  Buf again;
  ASSERT_TRUE(xsmem_snapshot_pack(s, false, &again.b));
  EXPECT_EQ(again.str(), std::string(newer, sizeof(newer) - 1));
}

// What a reader accepts is bounded: a record header claiming more than
// XSMEM_SNAPSHOT_MAX_RECORD is refused; a file over the cap is refused from
// its size, and an endless device once the cap is read.
TEST(SnapshotFormat, ReadsAreCapped) {
  Buf b;
  xsmem_snapshot_file_header(&b.b);
  uint8_t h[16] = {0xc7, 'X', 'S', 'R'};
  uint32_t n = (uint32_t)XSMEM_SNAPSHOT_MAX_RECORD + 1;
  memcpy(h + 4, &n, 4);
  uint32_t hc = xsmem_crc32c(0, h, 12);
  memcpy(h + 12, &hc, 4);
  xsmem_buf_append(&b.b, h, sizeof(h));
  Arena ar;
  xsmem_snapshot_stream st = Stream(b.b.data, b.b.len);
  Xsmem__Snapshot *s;
  EXPECT_EQ(xsmem_snapshot_next(&st, &ar.a, &s), -1);
  EXPECT_STREQ(st.error, "record larger than 64 MiB");
  EXPECT_EQ(st.error_offset, 16u);
  EXPECT_EQ(xsmem_snapshot_next(&st, &ar.a, &s), 0);
  EXPECT_EQ(xsmem_crc32c(0, "123456789", 9), 0xe3069283u);  // the CRC32C check value

  std::string path = TmpPath("big.bin");
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 4096), 0);
  close(fd);
  Buf f;
  errno = 0;
  EXPECT_FALSE(xsmem_read_file_capped(path.c_str(), &f.b, 4095));
  EXPECT_EQ(errno, EFBIG);
  EXPECT_EQ(f.b.len, 0u);  // refused unread
  Buf f2;
  EXPECT_TRUE(xsmem_read_file_capped(path.c_str(), &f2.b, 4096));
  EXPECT_EQ(f2.b.len, 4096u);
  Buf z;
  errno = 0;
  EXPECT_FALSE(xsmem_read_file_capped("/dev/zero", &z.b, 1 << 20));
  EXPECT_EQ(errno, EFBIG);
  // A snapshot reader refuses /dev/zero from its first 16 bytes.
  Buf z2;
  errno = 0;
  EXPECT_FALSE(xsmem_snapshot_read_file("/dev/zero", &z2.b));
  EXPECT_EQ(errno, EBADMSG);
  EXPECT_LE(z2.b.len, 16u);
}

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
  EXPECT_EQ(term("\xc2\x9b" "2J \xe2\x80\xae" "abc \xe2\x81\xa6"), "\\u009b2J \\u202eabc \\u2066");  // C1, bidi
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
  Xsmem__DetailValue v[3];
  Xsmem__DetailValue *pv[3];
  const char *labels[3] = {"a", "b", "c"};
  const double values[3] = {-INFINITY, INFINITY, NAN};
  for (int i = 0; i < 3; i++) {
    xsmem__detail_value__init(&v[i]);
    v[i].group = const_cast<char *>("tier");
    v[i].label = const_cast<char *>(labels[i]);
    v[i].key = const_cast<char *>("x");
    v[i].value = values[i];
    pv[i] = &v[i];
  }
  Xsmem__Allocator a;
  xsmem__allocator__init(&a);
  a.name = const_cast<char *>("n");
  a.config = const_cast<char *>("c");
  a.detail = pv;
  a.n_detail = 3;
  Xsmem__Allocator *pa[1] = {&a};
  Xsmem__Snapshot s;
  xsmem__snapshot__init(&s);
  s.allocators = pa;
  s.n_allocators = 1;
  Buf b;
  xsmem_prometheus(&s, &b.b);
  std::string t = b.str();
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

const xsmem_alert_state *FindAlert(const std::vector<xsmem_alert_state> &v, const char *name,
                                   const char *allocator) {
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
  bfc->stats.fragmentation = 0.75;
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
  bfc->stats.fragmentation = 0.1;
  xsmem_monitor_sample(s0 + 2000000000ull);
  v = Alerts();
  EXPECT_FALSE(FindAlert(v, "fragmentation", "fake_bfc")->active);
  EXPECT_FALSE(FindAlert(v, "alloc_rate", "fake_bfc")->active);
  bfc->stats.fragmentation = 0.9;
  xsmem_monitor_sample(s0 + 3000000000ull);
  v = Alerts();
  EXPECT_EQ(FindAlert(v, "fragmentation", "fake_bfc")->raised_count, 2u);
  bfc->stats.fragmentation = 0.25;

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
  EXPECT_NE(b.str().find("xsmem_alert_active{alert=\"pool_hit_rate\",allocator=\"fake_pool\"} 1\n"),
            std::string::npos);
  xsmem_monitor_reset();
  xsmem_alert_thresholds none = {};
  xsmem_monitor_set_thresholds(&none);
}

// ---------------------------------------------------------------------------
// HTTP over a real socket.

struct Reply {
  int status = 0;
  std::string headers, body;
};

Reply Request(uint16_t port, const std::string &raw) {
  Reply r;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa = {};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (sockaddr *)&sa, sizeof(sa)) != 0) {
    close(fd);
    return r;
  }
  (void)!write(fd, raw.data(), raw.size());
  std::string all;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) all.append(buf, n);
  close(fd);
  size_t sp = all.find(' ');
  if (sp != std::string::npos) r.status = atoi(all.c_str() + sp + 1);
  size_t end = all.find("\r\n\r\n");
  if (end != std::string::npos) {
    r.headers = all.substr(0, end);
    r.body = all.substr(end + 4);
  }
  return r;
}

Reply Get(uint16_t port, const std::string &path, const char *method = "GET", const std::string &headers = "",
          const std::string &host = "127.0.0.1") {
  return Request(port, std::string(method) + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + headers +
                           "Connection: close\r\n\r\n");
}

int Connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa = {};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (sockaddr *)&sa, sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

TEST_F(ExportTest, HttpEndpoint) {
  xsmem_http_server *srv = xsmem_http_start("127.0.0.1:0");
  ASSERT_NE(srv, nullptr) << errno;
  uint16_t port = xsmem_http_port(srv);
  ASSERT_NE(port, 0);

  Reply m = Get(port, "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.headers.find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(m.body.find("# TYPE xsmem_num_allocs_total counter"), std::string::npos);
  EXPECT_NE(m.body.find("allocator=\"fake_bfc\""), std::string::npos);

  Reply a = Get(port, "/api/allocators");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body[0], '[');
  EXPECT_NE(a.body.find("\"name\":\"fake_pool\""), std::string::npos);

  Reply st = Get(port, "/api/stats/fake_bfc");
  EXPECT_EQ(st.status, 200);
  EXPECT_NE(st.body.find("\"tier\":{\"small\""), std::string::npos);
  Reply missing = Get(port, "/api/stats/nobody%22here");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("no allocator named nobody\\\"here"), std::string::npos) << missing.body;

  Reply pb = Get(port, "/api/snapshot");
  EXPECT_EQ(pb.status, 200);
  EXPECT_NE(pb.headers.find("application/x-protobuf"), std::string::npos);
  Arena ar;
  Xsmem__Snapshot *s = xsmem_snapshot_unpack(&ar.a, pb.body.data(), pb.body.size());
  ASSERT_NE(s, nullptr);
  EXPECT_NE(xsmem_snapshot_find(s, "fake_bfc"), nullptr);
  EXPECT_EQ(Get(port, "/api/snapshot?format=json").body.substr(0, 12), "{\"sequence\":");
  EXPECT_EQ(Get(port, "/api/snapshot?format=xml").status, 400);
  EXPECT_EQ(Get(port, "/api/snapshot.json").status, 200);
  Reply csv = Get(port, "/api/timeline.csv");
  EXPECT_EQ(csv.status, 200);
  EXPECT_EQ(csv.body.substr(0, 8), "time_ns,");

  Reply page = Get(port, "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("<canvas id=\"usage\""), std::string::npos);
  EXPECT_EQ(page.body.find("http://"), std::string::npos);  // no external assets
  EXPECT_EQ(page.body.find("https://"), std::string::npos);
  EXPECT_EQ(Get(port, "/", "HEAD").status, 200);

  // Bad requests: 4xx, and the server keeps serving.
  EXPECT_EQ(Get(port, "/nope").status, 404);
  EXPECT_EQ(Get(port, "/api/stats/").status, 404);
  EXPECT_EQ(Get(port, "/metrics", "POST").status, 405);
  EXPECT_EQ(Get(port, "/metrics", "DELETE").status, 405);
  int garbage = Request(port, "\x01\x02 nonsense\r\n\r\n").status;
  EXPECT_GE(garbage, 400);
  EXPECT_LT(garbage, 500);
  EXPECT_GE(Request(port, "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").status, 400);
  EXPECT_EQ(Get(port, "/metrics").status, 200);

  // A second server on the same port fails cleanly.
  std::string addr = "127.0.0.1:" + std::to_string(port);
  errno = 0;
  EXPECT_EQ(xsmem_http_start(addr.c_str()), nullptr);
  EXPECT_NE(errno, 0);
  xsmem_http_stop(srv);
  EXPECT_EQ(Get(port, "/metrics").status, 0);  // stopped: connection refused
}

TEST(Http, RejectsMalformedAddresses) {
  for (const char *bad : {"", "127.0.0.1:", "127.0.0.1:99999", "nohost.example:80", "[::1:80", "1.2.3.4:8x"}) {
    errno = 0;
    EXPECT_EQ(xsmem_http_start(bad), nullptr) << bad;
    EXPECT_EQ(errno, EINVAL) << bad;
  }
  xsmem_http_server *v6 = xsmem_http_start("[::1]:0");
  if (v6) xsmem_http_stop(v6);  // IPv6 loopback may be absent in containers
  xsmem_http_server *plain = xsmem_http_start("0");
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(Get(xsmem_http_port(plain), "/metrics").status, 200);  // loopback by default
  xsmem_http_stop(plain);
}

// DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1
// sends Host: evil.example. Only names of this server are answered.
TEST_F(ExportTest, HttpAnswersOnlyHostsNamingItself) {
  xsmem_http_config cfg = {};
  cfg.addr = "127.0.0.1:0";
  cfg.allow_hosts = "metrics.internal, Other.Example";
  char why[256] = "";
  xsmem_http_server *srv = xsmem_http_start_config(&cfg, why, sizeof why);
  ASSERT_NE(srv, nullptr) << why;
  uint16_t port = xsmem_http_port(srv);
  std::string p = ":" + std::to_string(port);
  for (std::string ok : std::vector<std::string>{"127.0.0.1", "127.0.0.1" + p, "localhost" + p, "LOCALHOST", "[::1]" + p, "127.0.0.2",
                         "metrics.internal" + p, "other.example", "127.0.0.1:1"}) {
    EXPECT_EQ(Get(port, "/metrics", "GET", "", ok).status, 200) << ok;
  }
  for (std::string bad : std::vector<std::string>{"evil.example", "evil.example" + p, "localhost.evil.example", "10.0.0.1", "[::2]",
                          "[::1", "metrics.internal.evil", ":" + std::to_string(port), "a:b:c"}) {
    Reply r = Get(port, "/metrics", "GET", "", bad);
    EXPECT_EQ(r.status, 403) << bad;
    EXPECT_NE(r.body.find("XSMEM_HTTP_ALLOW_HOSTS"), std::string::npos) << r.body;
  }
  // HTTP/1.0 without a Host header (no browser sends that).
  EXPECT_EQ(Request(port, "GET /metrics HTTP/1.0\r\n\r\n").status, 200);
  xsmem_http_stop(srv);
  cfg.allow_hosts = "*";
  srv = xsmem_http_start_config(&cfg, why, sizeof why);
  ASSERT_NE(srv, nullptr) << why;
  EXPECT_EQ(Get(xsmem_http_port(srv), "/metrics", "GET", "", "evil.example").status, 200);
  xsmem_http_stop(srv);
}

TEST_F(ExportTest, HttpTokenIsRequiredWhenSet) {
  xsmem_http_config cfg = {};
  cfg.addr = "127.0.0.1:0";
  cfg.token = "s3cret-token";
  char why[256] = "";
  xsmem_http_server *srv = xsmem_http_start_config(&cfg, why, sizeof why);
  ASSERT_NE(srv, nullptr) << why;
  uint16_t port = xsmem_http_port(srv);
  for (const char *path : {"/metrics", "/api/snapshot", "/", "/nope"}) {
    Reply r = Get(port, path);
    EXPECT_EQ(r.status, 401) << path;
    EXPECT_NE(r.headers.find("WWW-Authenticate: Bearer"), std::string::npos) << r.headers;
    EXPECT_EQ(r.body.find("fake_bfc"), std::string::npos);
  }
  EXPECT_EQ(Get(port, "/metrics", "GET", "Authorization: Bearer wrong\r\n").status, 401);
  EXPECT_EQ(Get(port, "/metrics", "GET", "Authorization: Bearer s3cret-toke\r\n").status, 401);
  EXPECT_EQ(Get(port, "/metrics", "GET", "Authorization: Bearer s3cret-tokenX\r\n").status, 401);
  EXPECT_EQ(Get(port, "/metrics?token=wrong").status, 401);
  EXPECT_EQ(Get(port, "/metrics", "GET", "Authorization: Bearer s3cret-token\r\n").status, 200);
  EXPECT_EQ(Get(port, "/metrics", "GET", "authorization: bearer s3cret-token\r\n").status, 200);
  EXPECT_EQ(Get(port, "/metrics?token=s3cret-token").status, 200);
  EXPECT_EQ(Get(port, "/?token=s3cret-token").status, 200);  // the dashboard, which passes it on
  EXPECT_EQ(Get(port, "/api/snapshot.json?token=s3cret-token").status, 200);
  // The Host check comes first: a rebinding page learns nothing either way.
  EXPECT_EQ(Get(port, "/metrics?token=s3cret-token", "GET", "", "evil.example").status, 403);
  xsmem_http_stop(srv);

  // From a file: its trailing newline is not part of the token.
  std::string file = TmpPath("token");
  FILE *f = fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("from-a-file\n", f);
  fclose(f);
  cfg.token = nullptr;
  cfg.token_file = file.c_str();
  srv = xsmem_http_start_config(&cfg, why, sizeof why);
  ASSERT_NE(srv, nullptr) << why;
  EXPECT_EQ(Get(xsmem_http_port(srv), "/metrics").status, 401);
  EXPECT_EQ(Get(xsmem_http_port(srv), "/metrics", "GET", "Authorization: Bearer from-a-file\r\n").status, 200);
  xsmem_http_stop(srv);
  // An unreadable or empty token file stops the endpoint from starting (it
  // never serves without the token it was asked for).
  cfg.token_file = "/no/such/token";
  errno = 0;
  EXPECT_EQ(xsmem_http_start_config(&cfg, why, sizeof why), nullptr);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_NE(std::string(why).find("cannot read the token file /no/such/token: No such file or directory"),
            std::string::npos)
      << why;
  f = fopen(file.c_str(), "w");
  fputs(" \n", f);
  fclose(f);
  cfg.token_file = file.c_str();
  EXPECT_EQ(xsmem_http_start_config(&cfg, why, sizeof why), nullptr);
  EXPECT_NE(std::string(why).find("is empty"), std::string::npos) << why;
}

// A slow client (slow loris) sends a header line every few hundred ms: it
// kept its connection as long as it liked (the idle timeout restarts on each
// byte), and 40 of them locked every GET out (the limit was 32). Now a
// request has a total time, and a new connection evicts the oldest one that
// has no request being answered. Functional, not timed: the GET must succeed
// while 40 slow clients trickle, and the slow ones must be closed.
TEST_F(ExportTest, HttpServesNewClientsPastFortySlowOnes) {
  xsmem_http_config cfg = {};
  cfg.addr = "127.0.0.1:0";
  cfg.request_timeout_ms = 2000;
  char why[256] = "";
  xsmem_http_server *srv = xsmem_http_start_config(&cfg, why, sizeof why);
  ASSERT_NE(srv, nullptr) << why;
  uint16_t port = xsmem_http_port(srv);
  std::vector<int> slow;
  for (int i = 0; i < 40; i++) {
    int fd = Connect(port);
    ASSERT_GE(fd, 0);
    const char start[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    ASSERT_EQ(write(fd, start, sizeof(start) - 1), (ssize_t)sizeof(start) - 1);
    slow.push_back(fd);
  }
  std::atomic<bool> done{false};
  std::thread trickle([&] {  // a header line every 300 ms on every slow connection
    while (!done) {
      for (int fd : slow) (void)!send(fd, "X-Slow: 1\r\n", 11, MSG_NOSIGNAL);
      usleep(300000);
    }
  });
  usleep(200000);
  for (int i = 0; i < 3; i++) EXPECT_EQ(Get(port, "/metrics").status, 200) << "GET " << i << " locked out";
  // Every slow connection is closed: evicted, or past its 2 s in all (it
  // would have lived as long as it kept sending).
  size_t closed = 0;
  for (int fd : slow) {
    timeval tv = {20, 0};  // generous: the server's limit is 2 s
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
    }
    closed += n == 0 || (n < 0 && errno == ECONNRESET);
  }
  done = true;
  trickle.join();
  for (int fd : slow) close(fd);
  EXPECT_EQ(closed, slow.size());
  EXPECT_EQ(Get(port, "/metrics").status, 200);
  xsmem_http_stop(srv);
}

// The option-driven service: sampler thread, periodic stream, HTTP, clean stop.
TEST_F(ExportTest, ServiceStartsFromOptionsAndStopsCleanly) {
  std::string path = TmpPath("service-%p.pb");
  std::string real = TmpPath(("service-" + std::to_string(getpid()) + ".pb").c_str());
  setenv("XSMEM_SNAPSHOT", path.c_str(), 1);
  setenv("XSMEM_SNAPSHOT_INTERVAL_MS", "20", 1);
  setenv("XSMEM_HTTP", "127.0.0.1:0", 1);
  ASSERT_TRUE(xsmem_export_start());
  EXPECT_TRUE(xsmem_export_start());  // idempotent
  uint16_t port = xsmem_export_http_port();
  ASSERT_NE(port, 0);
  for (int i = 0; i < 5; i++) {
    EXPECT_EQ(Get(port, "/metrics").status, 200);
    usleep(30000);
  }
  xsmem_export_stop();
  xsmem_export_stop();  // idempotent
  EXPECT_EQ(xsmem_export_http_port(), 0);
  EXPECT_EQ(Get(port, "/metrics").status, 0);
  unsetenv("XSMEM_SNAPSHOT");
  unsetenv("XSMEM_SNAPSHOT_INTERVAL_MS");
  unsetenv("XSMEM_HTTP");
  Buf file;
  ASSERT_TRUE(xsmem_read_file(real.c_str(), &file.b)) << real;
  Arena ar;
  xsmem_snapshot_stream st = Stream(file.b.data, file.b.len);
  Xsmem__Snapshot *s;
  int n = 0, r;
  size_t last_timeline = 0;
  while ((r = xsmem_snapshot_next(&st, &ar.a, &s)) == 1) {
    n++;
    last_timeline = s->n_timeline;
  }
  EXPECT_EQ(r, 0);
  EXPECT_GE(n, 3);  // periodic ones, then the exit one
  EXPECT_GE(last_timeline, 1u);
}

}  // namespace

// bfc's chunk map (group "chunk", one label per chunk address) is left out of
// /metrics, where each address would be a new series; its summary stays.
TEST(Prometheus, ChunkMapStaysOutOfMetrics) {
  Xsmem__DetailValue v[5];
  for (auto &d : v) xsmem__detail_value__init(&d);
  const char *groups[5] = {"bin", "chunk_summary", "chunk", "chunk", "chunk"};
  const char *labels[5] = {"256", "map", "0x7f0000001000", "0x7f0000001000", "0x7f0000001100"};
  const char *keys[5] = {"free_bytes", "chunks", "size", "used", "size"};
  Xsmem__DetailValue *pv[5];
  for (int i = 0; i < 5; i++) {
    v[i].group = const_cast<char *>(groups[i]);
    v[i].label = const_cast<char *>(labels[i]);
    v[i].key = const_cast<char *>(keys[i]);
    v[i].value = 256;
    pv[i] = &v[i];
  }
  Xsmem__Allocator a;
  xsmem__allocator__init(&a);
  a.name = const_cast<char *>("bfc");
  a.config = const_cast<char *>("bfc");
  a.detail = pv;
  a.n_detail = 5;
  Xsmem__Allocator *pa[1] = {&a};
  Xsmem__Snapshot s;
  xsmem__snapshot__init(&s);
  s.allocators = pa;
  s.n_allocators = 1;
  Buf b;
  xsmem_prometheus(&s, &b.b);
  std::string t = b.str();
  EXPECT_NE(t.find("xsmem_bin_free_bytes{allocator=\"bfc\",config=\"bfc\",bin=\"256\"} 256\n"), std::string::npos);
  EXPECT_NE(t.find("xsmem_chunk_summary_chunks{allocator=\"bfc\",config=\"bfc\",chunk_summary=\"map\"} 256\n"),
            std::string::npos);
  EXPECT_EQ(t.find("xsmem_chunk_size"), std::string::npos) << t;
  EXPECT_EQ(t.find("0x7f0000001000"), std::string::npos) << t;
  // JSON keeps the map.
  Buf j;
  xsmem_json_allocator(&a, &j.b);
  EXPECT_NE(j.str().find("\"chunk\":{\"0x7f0000001000\":{\"size\":256,\"used\":256},\"0x7f0000001100\":{\"size\":256}}"),
            std::string::npos)
      << j.str();
}
