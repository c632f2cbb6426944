// The symbolizer over untrusted files (tracking/symbolizer.h): the input is
// an ELF file, opened as a module (its build-id, debug link and the search
// for a debug file) and asked for names and lines at a few addresses, its
// debug sections inflated when compressed. Nothing may read outside the file
// or the inflated sections; ASan (--config=asan) checks that.
// Seeds: a small ELF64 file made here with .symtab/.strtab, a DWARF 4
// .debug_line, a build-id note and a .gnu_debuglink, once with .debug_line
// plain and once zlib-compressed (SHF_COMPRESSED).
#include <elf.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include <string>
#include <vector>

#include "tracking/symbolizer.h"

namespace {

template <typename T>
void Put(std::string *s, const T &v) {
  s->append(reinterpret_cast<const char *>(&v), sizeof(v));
}

// A DWARF 4 line program: file a.c, lines 10 and 12 over [0x1000, 0x1040).
std::string LineProgram() {
  std::string hdr;
  hdr += '\x01';  // minimum_instruction_length
  hdr += '\x01';  // maximum_operations_per_instruction
  hdr += '\x01';  // default_is_stmt
  hdr += static_cast<char>(-5);
  hdr += '\x0e';  // line_range
  hdr += '\x0d';  // opcode_base
  const char lens[12] = {0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1};
  hdr.append(lens, 12);
  hdr += '\0';                   // no include directories
  hdr.append("a.c\0\0\0\0", 7);  // a.c, dir 0, mtime 0, length 0
  hdr += '\0';                   // end of files
  std::string prog;
  prog.append("\x00\x09\x02", 3);  // DW_LNE_set_address
  Put(&prog, static_cast<uint64_t>(0x1000));
  prog += '\x03';  // advance_line 9 -> 10
  prog += '\x09';
  prog += '\x01';  // copy
  prog += '\x02';  // advance_pc 0x20
  prog += '\x20';
  prog += '\x03';  // advance_line 2 -> 12
  prog += '\x02';
  prog += '\x01';  // copy
  prog += '\x02';  // advance_pc 0x20
  prog += '\x20';
  prog.append("\x00\x01\x01", 3);  // DW_LNE_end_sequence
  std::string unit;
  Put(&unit, static_cast<uint16_t>(4));
  Put(&unit, static_cast<uint32_t>(hdr.size()));
  unit += hdr + prog;
  std::string out;
  Put(&out, static_cast<uint32_t>(unit.size()));
  return out + unit;
}

std::string Compressed(const std::string &raw) {
  uLongf n = compressBound(raw.size());
  std::string z(n, '\0');
  compress(reinterpret_cast<Bytef *>(&z[0]), &n, reinterpret_cast<const Bytef *>(raw.data()), raw.size());
  z.resize(n);
  Elf64_Chdr ch = {ELFCOMPRESS_ZLIB, 0, raw.size(), 1};
  std::string out;
  Put(&out, ch);
  return out + z;
}

std::string SeedElf(bool compress_line) {
  struct Sec {
    const char *name;
    uint32_t type;
    uint64_t flags;
    std::string data;
    uint32_t link;
    uint64_t entsize;
  };
  std::string strtab("\0main\0_Z12orphan_makerm\0", 24);
  std::string symtab(sizeof(Elf64_Sym), '\0');
  Elf64_Sym s1 = {1, ELF64_ST_INFO(STB_GLOBAL, STT_FUNC), 0, 1, 0x1000, 0x20};
  Elf64_Sym s2 = {6, ELF64_ST_INFO(STB_GLOBAL, STT_FUNC), 0, 1, 0x1020, 0x20};
  Put(&symtab, s1);
  Put(&symtab, s2);
  std::string note;
  Put(&note, static_cast<uint32_t>(4));
  Put(&note, static_cast<uint32_t>(8));
  Put(&note, static_cast<uint32_t>(NT_GNU_BUILD_ID));
  note.append("GNU\0\x12\x34\x56\x78\x9a\xbc\xde\xf0", 12);
  std::string link("x.debug\0", 8);
  Put(&link, static_cast<uint32_t>(0x12345678));
  std::string line = LineProgram();
  std::vector<Sec> secs = {
      {"", SHT_NULL, 0, "", 0, 0},
      {".shstrtab", SHT_STRTAB, 0, "", 0, 0},
      {".symtab", SHT_SYMTAB, 0, symtab, 3, sizeof(Elf64_Sym)},
      {".strtab", SHT_STRTAB, 0, strtab, 0, 0},
      {".note.gnu.build-id", SHT_NOTE, 0, note, 0, 0},
      {".gnu_debuglink", SHT_PROGBITS, 0, link, 0, 0},
      {".debug_line", SHT_PROGBITS, compress_line ? uint64_t{SHF_COMPRESSED} : uint64_t{0},
       compress_line ? Compressed(line) : line, 0, 0},
  };
  std::string shstr(1, '\0');
  std::vector<uint32_t> name_at;
  for (const Sec &s : secs) {
    name_at.push_back(s.name[0] ? static_cast<uint32_t>(shstr.size()) : 0);
    if (s.name[0]) shstr.append(s.name, strlen(s.name) + 1);
  }
  secs[1].data = shstr;
  std::string body;
  std::vector<uint64_t> at;
  for (const Sec &s : secs) {
    while ((sizeof(Elf64_Ehdr) + body.size()) % 8) body += '\0';
    at.push_back(sizeof(Elf64_Ehdr) + body.size());
    body += s.data;
  }
  while ((sizeof(Elf64_Ehdr) + body.size()) % 8) body += '\0';
  Elf64_Ehdr eh;
  memset(&eh, 0, sizeof(eh));
  memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_DYN;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_shoff = sizeof(Elf64_Ehdr) + body.size();
  eh.e_shentsize = sizeof(Elf64_Shdr);
  eh.e_shnum = static_cast<uint16_t>(secs.size());
  eh.e_shstrndx = 1;
  std::string out;
  Put(&out, eh);
  out += body;
  for (size_t i = 0; i < secs.size(); i++) {
    Elf64_Shdr sh;
    memset(&sh, 0, sizeof(sh));
    sh.sh_name = name_at[i];
    sh.sh_type = secs[i].type;
    sh.sh_flags = secs[i].flags;
    sh.sh_offset = i ? at[i] : 0;
    sh.sh_size = secs[i].data.size();
    sh.sh_link = secs[i].link;
    sh.sh_entsize = secs[i].entsize;
    Put(&out, sh);
  }
  return out;
}

}  // namespace

extern "C" void FuzzSeeds(std::vector<std::string> *out) {
  out->push_back(SeedElf(false));
  out->push_back(SeedElf(true));
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // The symbolizer opens paths: the input as a memfd's.
  int fd = memfd_create("symbolizer_fuzz", MFD_CLOEXEC);
  if (fd < 0) return 0;
  size_t done = 0;
  while (done < size) {
    ssize_t n = write(fd, data + done, size - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  xsmem_sym_module m;
  if (xsmem_sym_open(&m, path, "/nonexistent-debug-root", nullptr, 0)) {
    char buf[512], line[256];
    const char *name;
    uint64_t start;
    static const uint64_t kOffsets[] = {0, 1, 0x1001, 0x1010, 0x1021, 0x1040, 0x2000, ~0ull};
    for (uint64_t off : kOffsets) {
      xsmem_sym_frame(&m, "fuzz", off, nullptr, buf, sizeof(buf));
      if (xsmem_sym_function(&m, off, &name, &start)) (void)strlen(name);
      xsmem_sym_line(&m, off, line, sizeof(line));
    }
    uint8_t id[XSMEM_BUILD_ID_MAX];
    (void)xsmem_elf_build_id(&m.file, id, sizeof(id));
  }
  xsmem_sym_close(&m);
  close(fd);
  return 0;
}
