// tracking/dwarf_line_test.cc: the DWARF line-table reader over this test's
// own executable (built with -g).
#include "tracking/dwarf_line.h"

#include <elf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

// The executable's bytes.
std::vector<uint8_t> ReadSelf() {
  std::vector<uint8_t> v;
  int fd = open("/proc/self/exe", O_RDONLY);
  if (fd < 0) return v;
  struct stat st;
  if (fstat(fd, &st) == 0) {
    v.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < v.size()) {
      ssize_t n = read(fd, v.data() + got, v.size() - got);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    v.resize(got);
  }
  close(fd);
  return v;
}

// The load bias of the executable (0 for a non-PIE one).
uintptr_t SelfBias() {
  uintptr_t bias = 0;
  dl_iterate_phdr(
      [](dl_phdr_info *info, size_t, void *data) {
        *static_cast<uintptr_t *>(data) = info->dlpi_addr;
        return 1;  // the first entry is the executable
      },
      &bias);
  return bias;
}

// Offset and size of .debug_line in the image.
std::pair<size_t, size_t> DebugLine(const std::vector<uint8_t> &elf) {
  const auto *eh = reinterpret_cast<const Elf64_Ehdr *>(elf.data());
  const auto *sh = reinterpret_cast<const Elf64_Shdr *>(elf.data() + eh->e_shoff);
  const char *names = reinterpret_cast<const char *>(elf.data() + sh[eh->e_shstrndx].sh_offset);
  for (unsigned i = 0; i < eh->e_shnum; i++) {
    if (strcmp(names + sh[i].sh_name, ".debug_line") == 0) return {sh[i].sh_offset, sh[i].sh_size};
  }
  return {0, 0};
}

__attribute__((noinline)) uintptr_t ReturnAddress() {
  uintptr_t ra = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  asm volatile("" ::: "memory");
  return ra;
}

TEST(DwarfLine, NamesTheCallingLine) {
  std::vector<uint8_t> self = ReadSelf();
  ASSERT_FALSE(self.empty());
  // clang-format off
  const int line = __LINE__; uintptr_t ra = ReturnAddress();  // both on one line
  // clang-format on
  char buf[256];
  ASSERT_TRUE(xsmem_dwarf_line(self.data(), self.size(), ra - SelfBias() - 1, buf, sizeof(buf)));
  EXPECT_EQ(std::string(buf), "tracking/dwarf_line_test.cc:" + std::to_string(line));
}

TEST(DwarfLine, UnknownAddressesAndSmallBuffers) {
  std::vector<uint8_t> self = ReadSelf();
  ASSERT_FALSE(self.empty());
  char buf[256];
  EXPECT_FALSE(xsmem_dwarf_line(self.data(), self.size(), 0x10, buf, sizeof(buf)));
  EXPECT_FALSE(xsmem_dwarf_line(self.data(), self.size(), ~uint64_t{0} - 100, buf, sizeof(buf)));
  EXPECT_FALSE(xsmem_dwarf_line(nullptr, 0, 0x1000, buf, sizeof(buf)));
  uintptr_t ra = ReturnAddress();
  char tiny[8];
  memset(tiny, 'x', sizeof(tiny));
  ASSERT_TRUE(xsmem_dwarf_line(self.data(), self.size(), ra - SelfBias() - 1, tiny, sizeof(tiny)));
  EXPECT_EQ(strnlen(tiny, sizeof(tiny)), sizeof(tiny) - 1);  // truncated, terminated
}

// Corrupted and truncated images: never a fault (under ASan: never a read out
// of bounds), whatever the answer.
TEST(DwarfLine, SurvivesCorruptImages) {
  std::vector<uint8_t> self = ReadSelf();
  ASSERT_FALSE(self.empty());
  uintptr_t addr = ReturnAddress() - SelfBias() - 1;
  std::pair<size_t, size_t> line = DebugLine(self);
  ASSERT_GT(line.second, 0u);
  std::mt19937_64 rng(42);
  char buf[128];
  for (int i = 0; i < 300; i++) {  // half in the first units' headers, half anywhere in the table
    std::vector<uint8_t> bad = self;
    // Mostly inside the line table (its header fields, opcodes, lengths), some anywhere.
    for (int k = 0; k < 8; k++) {
      bad[line.first + rng() % std::min<size_t>(line.second, i < 150 ? 64 : line.second)] = static_cast<uint8_t>(rng());
    }
    for (int k = 0; k < 8; k++) bad[rng() % bad.size()] = static_cast<uint8_t>(rng());
    size_t size = i % 3 == 0 ? rng() % bad.size() : bad.size();
    // A copy of exactly size bytes, so ASan sees any read past it.
    std::vector<uint8_t> img(bad.begin(), bad.begin() + static_cast<ptrdiff_t>(size));
    xsmem_dwarf_line(img.data(), img.size(), addr, buf, sizeof(buf));
  }
}

}  // namespace
