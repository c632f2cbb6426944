// Fuzzes the snapshot reader (export/snapshot.c) and every writer of what it
// reads (export/json.c, prometheus.c, text.c).
//
// The input's first byte picks what the rest is:
//   0  a whole file as it lies on disk (format 2 or 1, damaged or not);
//   1  the payload of one format-2 record, framed here with valid checksums
//      (so the fuzzer reaches protobuf-c's parser behind the CRC);
//   2  the same as a format-1 delimited stream, and as a bare snapshot.
// Every snapshot read is rendered as JSON, Prometheus text, CSV and terminal
// text, and checked: the reader always advances and reports offsets inside
// the file; JSON and Prometheus text are valid UTF-8 with no raw control
// byte but the line ends Prometheus uses; terminal text has no control byte,
// C1 control or bidirectional override at all; a record packed again from
// what was read reads back to the same JSON.
// Built as a libFuzzer target under --config=fuzz; replayed over mutated
// seeds by snapshot_fuzz_replay_test.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

extern "C" {
#include "export/buf.h"
#include "export/format.h"
#include "export/snapshot.h"
}
#include "export/testing/scoped.h"

namespace {

[[noreturn]] void Fail(const char *what, const std::string &detail) {
  fprintf(stderr, "snapshot_fuzz: %s\n%s\n", what, detail.c_str());
  abort();
}

using xsmem::testing::Arena;
using xsmem::testing::Buf;

// Checks UTF-8 validity; allowed_controls lists the control bytes that may appear raw.
void CheckText(const std::string &s, const char *allowed_controls, const char *what) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f) {
      if (!c || !strchr(allowed_controls, c)) Fail(what, "raw control byte in: " + s);
      i++;
      continue;
    }
    if (c < 0x80) {
      i++;
      continue;
    }
    std::string seq = s.substr(i, 4);
    size_t n = xsmem_utf8_len(seq.c_str());
    if (!n) Fail(what, "invalid UTF-8 in: " + s);
    i += n;
  }
}

// Terminal text: no control byte, C1 control or bidirectional override.
void CheckTerminal(const char *s) {
  Buf b;
  xsmem_term_string(&b.b, s, (size_t)-1);
  std::string t = b.str();
  CheckText(t, "", "terminal text");
  for (const char *bidi : {"\xe2\x80\xaa", "\xe2\x80\xab", "\xe2\x80\xac", "\xe2\x80\xad", "\xe2\x80\xae",
                           "\xe2\x81\xa6", "\xe2\x81\xa7", "\xe2\x81\xa8", "\xe2\x81\xa9"}) {
    if (t.find(bidi) != std::string::npos) Fail("terminal text", "bidirectional control in: " + t);
  }
  for (size_t i = 0; i < t.size(); i++) {  // C1 controls (U+0080..U+009F)
    if ((unsigned char)t[i] == 0xc2 && i + 1 < t.size() && (unsigned char)t[i + 1] >= 0x80 &&
        (unsigned char)t[i + 1] <= 0x9f)
      Fail("terminal text", "C1 control in: " + t);
  }
}

std::string Json(const Xsmem__Snapshot *s) {
  Buf b;
  xsmem_json_snapshot(s, &b.b);
  return b.str();
}

void CheckSnapshot(const Xsmem__Snapshot *s) {
  std::string json = Json(s);
  CheckText(json, "", "JSON");
  Buf prom;
  xsmem_prometheus(s, &prom.b);
  // The format escapes only \\, \" and newline in label values: other
  // control bytes may stand raw there, but the text must be UTF-8.
  static const std::string kControls = [] {
    std::string c;
    for (int i = 1; i < 0x20; i++) c.push_back((char)i);
    return c + "\x7f";
  }();
  std::string page = prom.str();
  CheckText(page, kControls.c_str(), "Prometheus text");
  // Every sample line ends in a value the format allows (-Inf was "-+Inf").
  for (size_t at = 0; at < page.size();) {
    size_t end = page.find('\n', at);
    if (end == std::string::npos) Fail("Prometheus text", "the last line has no newline");
    std::string line = page.substr(at, end - at);
    at = end + 1;
    if (line.empty() || line[0] == '#') continue;
    std::string v = line.substr(line.rfind(' ') + 1);
    bool ok = v == "NaN" || v == "+Inf" || v == "-Inf";
    if (!ok) {
      char *e = nullptr;
      strtod(v.c_str(), &e);
      ok = !v.empty() && *e == '\0' && v.find_first_of("iInN") == std::string::npos;
    }
    if (!ok) Fail("Prometheus text", "bad value '" + v + "' in: " + line);
  }
  Buf csv;
  xsmem_csv_timeline(s, &csv.b);
  CheckText(csv.str(), "\n", "CSV");
  for (size_t i = 0; i < s->n_allocators; i++) {
    Buf one;
    xsmem_json_allocator(s->allocators[i], &one.b);
    CheckText(one.str(), "", "JSON allocator");
  }
  // Every string a terminal summary prints.
  CheckTerminal(s->cmdline);
  CheckTerminal(s->config);
  CheckTerminal(s->analysis_source);
  for (size_t i = 0; i < s->n_allocators; i++) {
    CheckTerminal(s->allocators[i]->name);
    for (size_t j = 0; j < s->allocators[i]->n_detail; j++) CheckTerminal(s->allocators[i]->detail[j]->label);
  }
  for (size_t i = 0; i < s->n_call_sites; i++) CheckTerminal(s->call_sites[i]->symbol);
  for (size_t i = 0; i < s->n_leaks; i++) CheckTerminal(s->leaks[i]->symbol);
  for (size_t i = 0; i < s->n_alerts; i++) CheckTerminal(s->alerts[i]->recommendation);
  // Packed again and read back: the same JSON.
  Buf file;
  xsmem_snapshot_file_header(&file.b);
  if (!xsmem_snapshot_pack_record(s, &file.b)) return;  // over the record cap
  Arena ar;
  xsmem_snapshot_stream st;
  memset(&st, 0, sizeof(st));
  st.data = (const uint8_t *)file.b.data;
  st.len = file.b.len;
  Xsmem__Snapshot *back = nullptr;
  if (xsmem_snapshot_next(&st, &ar.a, &back) != 1) Fail("round trip", "a record written could not be read");
  if (Json(back) != json) Fail("round trip", json + "\n!=\n" + Json(back));
}

// Reads every record of data[0..len) as a stream.
void ReadStream(const uint8_t *data, size_t len) {
  Arena ar;
  xsmem_snapshot_stream st;
  memset(&st, 0, sizeof(st));
  st.data = data;
  st.len = len;
  Xsmem__Snapshot *s;
  int r;
  size_t last_pos = 0, calls = 0;
  while ((r = xsmem_snapshot_next(&st, &ar.a, &s)) != 0) {
    if (++calls > len + 2) Fail("reader", "does not advance");
    if (st.pos > len) Fail("reader", "position past the end");
    if (r < 0) {
      if (!st.error || st.error_offset > len) Fail("reader", "an issue without a message or offset");
    } else {
      if (!s) Fail("reader", "a record without a snapshot");
      CheckSnapshot(s);
    }
    if (st.pos < last_pos) Fail("reader", "went backwards");
    last_pos = st.pos;
  }
}

void Varint(std::string *out, uint64_t v) {
  do {
    out->push_back((char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0)));
    v >>= 7;
  } while (v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t mode = data[0] % 3;
  const uint8_t *rest = data + 1;
  size_t n = size - 1;
  if (mode == 0) {
    (void)xsmem_snapshot_is_framed(rest, n);
    ReadStream(rest, n);
    return 0;
  }
  if (mode == 1) {
    // One record with valid checksums around the payload.
    std::string file;
    Buf header;
    xsmem_snapshot_file_header(&header.b);
    file = header.str();
    uint8_t h[16] = {0xc7, 'X', 'S', 'R'};
    uint32_t len = (uint32_t)n, crc = xsmem_crc32c(0, rest, n);
    memcpy(h + 4, &len, 4);
    memcpy(h + 8, &crc, 4);
    uint32_t hc = xsmem_crc32c(0, h, 12);
    memcpy(h + 12, &hc, 4);
    file.append((const char *)h, 16);
    file.append((const char *)rest, n);
    ReadStream((const uint8_t *)file.data(), file.size());
    return 0;
  }
  // Format 1: a delimited stream of the payload, and the payload alone.
  std::string stream;
  Varint(&stream, n);
  stream.append((const char *)rest, n);
  ReadStream((const uint8_t *)stream.data(), stream.size());
  Arena ar;
  Xsmem__Snapshot *s = xsmem_snapshot_unpack(&ar.a, rest, n);
  if (s) CheckSnapshot(s);
  return 0;
}

// Seeds for the replay test (and for a libFuzzer corpus): a real-looking
// snapshot with awkward strings and values, in every mode.
extern "C" void FuzzSeeds(std::vector<std::string> *out) {
  static const char kNasty[] = "ev\x1bil\xff\xc2\x9b\xe2\x80\xae\"q\\\n";
  Xsmem__AllocatorStats st;
  xsmem__allocator_stats__init(&st);
  st.num_allocs = 1507;
  st.bytes_in_use = 4096;
  st.fragmentation = -1.0 / 0.0;
  Xsmem__DetailValue d[3];
  Xsmem__DetailValue *pd[3];
  const char *groups[3] = {"tier", "chunk", "node"};
  for (int i = 0; i < 3; i++) {
    xsmem__detail_value__init(&d[i]);
    d[i].group = const_cast<char *>(groups[i]);
    d[i].label = const_cast<char *>(i ? "0x1000" : kNasty);
    d[i].key = const_cast<char *>("bytes_in_use");
    d[i].value = i == 2 ? 0.0 / 0.0 : 12.5 * i;
    pd[i] = &d[i];
  }
  Xsmem__Allocator a;
  xsmem__allocator__init(&a);
  a.name = const_cast<char *>(kNasty);
  a.kind = const_cast<char *>("os");
  a.config = const_cast<char *>("os");
  a.stats = &st;
  a.detail = pd;
  a.n_detail = 3;
  Xsmem__Allocator *pa[1] = {&a};
  uint64_t frames[2] = {0x401000, 0x402000};
  Xsmem__CallSite site;
  xsmem__call_site__init(&site);
  site.frames = frames;
  site.n_frames = 2;
  site.symbol = const_cast<char *>(kNasty);
  site.live_bytes = 64;
  Xsmem__CallSite *ps[1] = {&site};
  Xsmem__HistogramBucket hb;
  xsmem__histogram_bucket__init(&hb);
  hb.lower = 16;
  hb.upper = 32;
  hb.count = 3;
  Xsmem__HistogramBucket *ph[1] = {&hb};
  Xsmem__TimelinePoint tp;
  xsmem__timeline_point__init(&tp);
  tp.time_ns = 5;
  tp.bytes_in_use = 100;
  Xsmem__TimelinePoint *pt[1] = {&tp};
  Xsmem__Snapshot s;
  xsmem__snapshot__init(&s);
  s.time_unix_ns = 1700000000000000000ull;
  s.pid = 42;
  s.cmdline = const_cast<char *>(kNasty);
  s.config = const_cast<char *>("os");
  s.analysis_source = const_cast<char *>("tracker");
  s.allocators = pa;
  s.n_allocators = 1;
  s.call_sites = ps;
  s.n_call_sites = 1;
  s.histogram = ph;
  s.n_histogram = 1;
  s.timeline = pt;
  s.n_timeline = 1;
  Buf bare, file;
  xsmem_snapshot_pack(&s, false, &bare.b);
  xsmem_snapshot_file_header(&file.b);
  for (int i = 0; i < 2; i++) xsmem_snapshot_pack_record(&s, &file.b);
  out->push_back(std::string(1, '\0') + file.str());
  out->push_back(std::string(1, '\1') + bare.str());
  out->push_back(std::string(1, '\2') + bare.str());
  Buf v1;
  xsmem_snapshot_pack(&s, true, &v1.b);
  xsmem_snapshot_pack(&s, true, &v1.b);
  out->push_back(std::string(1, '\0') + v1.str());
  // Found by this fuzzer: field number 0 in two bytes, which protobuf-c read
  // and then wrote out unreadable (now refused).
  out->push_back(std::string("\x80\x80\x00\x00", 4));
}
