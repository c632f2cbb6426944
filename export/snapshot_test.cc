// export/snapshot_test.cc: collecting a snapshot (every registered and added
// allocator, the analysis provider), the stats schema, and the binary forms
// written and read back whole: one file, a stream of records.
// Built into export_test, which links the `os` configuration as the process
// allocator (so "no malloc" can be measured; no sanitizers, which bring their
// own malloc), and export_registry_test, which links it registered only and
// runs under the sanitizers (see export/testing/export_testing.h).
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <type_traits>
#include <vector>

#include "gtest/gtest.h"

extern "C" {
#include "allocators/allocator.h"
#include "allocators/registry.h"
#include "export/buf.h"
#include "export/format.h"
#include "export/snapshot.h"
}
#include "export/testing/export_testing.h"

namespace {

using xsmem::testing::Arena;
using xsmem::testing::Buf;
using xsmem::testing::ExportTest;
using xsmem::testing::Stream;
using xsmem::testing::TmpPath;

TEST(StatsProto, EveryStatFieldHasAProtoFieldOfItsType) {
#define CHECK_FIELD(ctype, name, kind, help)                                                                   \
  {                                                                                                            \
    const ProtobufCFieldDescriptor *f =                                                                        \
        protobuf_c_message_descriptor_get_field_by_name(&xsmem__allocator_stats__descriptor, #name);           \
    ASSERT_NE(f, nullptr) << "add `" #name "` to AllocatorStats in xsmem_stats.proto";                         \
    EXPECT_EQ(f->type, std::is_floating_point<ctype>::value ? PROTOBUF_C_TYPE_DOUBLE : PROTOBUF_C_TYPE_UINT64) \
        << #name;                                                                                              \
    EXPECT_TRUE(xsmem_snapshot_stat_present(#name));                                                           \
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
#define SAME(type, name, kind, help) EXPECT_EQ(r->allocators[i]->stats->name, s->allocators[i]->stats->name) << #name;
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
  EXPECT_STREQ(r->leaks[0]->kind, "definite");  // the classification survives the round trip
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

}  // namespace
