// tracking/symbolizer.c: module files, their debug files, names and lines
// (model in symbolizer.h). No malloc anywhere: files and inflated sections
// are mappings, paths live in fixed buffers.
#include "tracking/symbolizer.h"

#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "platform/log.h"
#include "tracking/dwarf_line.h"

// The most a compressed section may claim to inflate to (Debian's largest
// .debug_line is tens of MiB; a corrupt header must not map gigabytes).
#define SECTION_MAX ((size_t)1 << 30)

const char *xsmem_sym_basename(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

// ---------------------------------------------------------------------------
// Mapped ELF64 files, bounds-checked.

static bool elf_map(xsmem_elf *e, const char *path) {
  e->map = NULL;
  e->size = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  void *m = MAP_FAILED;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= (off_t)sizeof(Elf64_Ehdr)) {
    m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  }
  close(fd);
  if (m == MAP_FAILED) return false;
  const Elf64_Ehdr *eh = m;
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_ident[EI_DATA] != ELFDATA2LSB) {
    munmap(m, (size_t)st.st_size);
    return false;
  }
  e->map = m;
  e->size = (size_t)st.st_size;
  return true;
}

static void elf_unmap(xsmem_elf *e) {
  if (e->map) munmap((void *)e->map, e->size);
  e->map = NULL;
  e->size = 0;
}

static bool in_file(const xsmem_elf *e, uint64_t off, uint64_t len) { return off <= e->size && len <= e->size - off; }

// The section headers, or NULL (then *n = 0).
static const Elf64_Shdr *elf_sections(const xsmem_elf *e, unsigned *n) {
  *n = 0;
  if (!e->map) return NULL;
  const Elf64_Ehdr *eh = (const Elf64_Ehdr *)e->map;
  if (!eh->e_shoff || eh->e_shentsize != sizeof(Elf64_Shdr) ||
      !in_file(e, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)) || eh->e_shoff % 8) {
    return NULL;
  }
  *n = eh->e_shnum;
  return (const Elf64_Shdr *)(e->map + eh->e_shoff);
}

// A NUL-terminated string at off of the section sh, or NULL.
static const char *sect_string(const xsmem_elf *e, const Elf64_Shdr *sh, uint64_t off) {
  if (sh->sh_type == SHT_NOBITS || !in_file(e, sh->sh_offset, sh->sh_size) || off >= sh->sh_size) return NULL;
  const char *s = (const char *)e->map + sh->sh_offset + off;
  return memchr(s, 0, sh->sh_size - off) ? s : NULL;
}

static const Elf64_Shdr *elf_find(const xsmem_elf *e, const char *want) {
  unsigned n;
  const Elf64_Shdr *sh = elf_sections(e, &n);
  const Elf64_Ehdr *eh = (const Elf64_Ehdr *)e->map;
  if (!sh || eh->e_shstrndx >= n) return NULL;
  for (unsigned i = 0; i < n; i++) {
    const char *nm = sect_string(e, &sh[eh->e_shstrndx], sh[i].sh_name);
    if (nm && strcmp(nm, want) == 0) return sh[i].sh_type == SHT_NOBITS ? NULL : &sh[i];
  }
  return NULL;
}

// zlib's memory from mappings (a size word in front of each).
static voidpf z_map(voidpf opaque, uInt items, uInt size) {
  (void)opaque;
  size_t n = (size_t)items * size + 16;
  void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return Z_NULL;
  *(size_t *)p = n;
  return (char *)p + 16;
}

static void z_unmap(voidpf opaque, voidpf address) {
  (void)opaque;
  if (!address) return;
  char *p = (char *)address - 16;
  munmap(p, *(size_t *)p);
}

// The contents of section name of e, inflated when compressed. False when
// missing, unreadable or not inflatable (zstd, corrupt).
static bool elf_section(const xsmem_elf *e, const char *name, xsmem_elf_sect *out) {
  memset(out, 0, sizeof(*out));
  const Elf64_Shdr *sh = elf_find(e, name);
  if (!sh || !in_file(e, sh->sh_offset, sh->sh_size)) return false;
  const uint8_t *p = e->map + sh->sh_offset;
  if (!(sh->sh_flags & SHF_COMPRESSED)) {
    *out = (xsmem_elf_sect){p, (size_t)sh->sh_size, false};
    return true;
  }
  Elf64_Chdr ch;
  if (sh->sh_size < sizeof(ch)) return false;
  memcpy(&ch, p, sizeof(ch));
  if (ch.ch_type != ELFCOMPRESS_ZLIB || ch.ch_size == 0 || ch.ch_size > SECTION_MAX) return false;
  size_t n = (size_t)ch.ch_size;
  void *dst = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (dst == MAP_FAILED) return false;
  z_stream z;
  memset(&z, 0, sizeof(z));
  z.zalloc = z_map;
  z.zfree = z_unmap;
  bool ok = false;
  if (inflateInit(&z) == Z_OK) {
    size_t in_left = (size_t)sh->sh_size - sizeof(ch);
    z.next_in = (Bytef *)(uintptr_t)(p + sizeof(ch));
    z.next_out = dst;
    int rc = Z_OK;
    // uInt counts: feed in chunks so sections over 4 GiB cannot wrap.
    while (rc == Z_OK) {
      if (z.avail_in == 0 && in_left) {
        z.avail_in = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
        in_left -= z.avail_in;
      }
      size_t out_left = n - (size_t)((uint8_t *)z.next_out - (uint8_t *)dst);
      z.avail_out = out_left > (1u << 30) ? (1u << 30) : (uInt)out_left;
      if (z.avail_out == 0) break;
      rc = inflate(&z, Z_NO_FLUSH);
    }
    ok = rc == Z_STREAM_END && (size_t)((uint8_t *)z.next_out - (uint8_t *)dst) == n;
    inflateEnd(&z);
  }
  if (!ok) {
    munmap(dst, n);
    return false;
  }
  mprotect(dst, n, PROT_READ);
  *out = (xsmem_elf_sect){dst, n, true};
  return true;
}

static void sect_release(xsmem_elf_sect *s) {
  if (s->mapped && s->p) munmap((void *)s->p, s->n);
  memset(s, 0, sizeof(*s));
}

// ---------------------------------------------------------------------------
// Build-id and debug link.

size_t xsmem_notes_build_id(const uint8_t *p, size_t n, uint8_t *out, size_t cap) {
  size_t at = 0;
  while (n - at >= 12 && at <= n) {
    uint32_t namesz, descsz, type;
    memcpy(&namesz, p + at, 4);
    memcpy(&descsz, p + at + 4, 4);
    memcpy(&type, p + at + 8, 4);
    at += 12;
    uint64_t name_pad = ((uint64_t)namesz + 3) & ~3ull, desc_pad = ((uint64_t)descsz + 3) & ~3ull;
    if (name_pad > n - at || desc_pad > n - at - name_pad) return 0;
    if (type == NT_GNU_BUILD_ID && namesz == 4 && memcmp(p + at, "GNU", 4) == 0 && descsz > 0 && descsz <= cap) {
      memcpy(out, p + at + name_pad, descsz);
      return descsz;
    }
    at += name_pad + desc_pad;
  }
  return 0;
}

size_t xsmem_elf_build_id(const xsmem_elf *e, uint8_t *out, size_t cap) {
  if (!e->map) return 0;
  unsigned n;
  const Elf64_Shdr *sh = elf_sections(e, &n);
  for (unsigned i = 0; i < n; i++) {
    if (sh[i].sh_type != SHT_NOTE || !in_file(e, sh[i].sh_offset, sh[i].sh_size)) continue;
    size_t len = xsmem_notes_build_id(e->map + sh[i].sh_offset, (size_t)sh[i].sh_size, out, cap);
    if (len) return len;
  }
  // No section headers (or no note section): the program headers' notes.
  const Elf64_Ehdr *eh = (const Elf64_Ehdr *)e->map;
  if (eh->e_phentsize != sizeof(Elf64_Phdr) || !in_file(e, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)) ||
      eh->e_phoff % 8) {
    return 0;
  }
  const Elf64_Phdr *ph = (const Elf64_Phdr *)(e->map + eh->e_phoff);
  for (unsigned i = 0; i < eh->e_phnum; i++) {
    if (ph[i].p_type != PT_NOTE || !in_file(e, ph[i].p_offset, ph[i].p_filesz)) continue;
    size_t len = xsmem_notes_build_id(e->map + ph[i].p_offset, (size_t)ph[i].p_filesz, out, cap);
    if (len) return len;
  }
  return 0;
}

// The .gnu_debuglink name and CRC of e.
static bool elf_debuglink(const xsmem_elf *e, const char **name, uint32_t *crc) {
  const Elf64_Shdr *sh = elf_find(e, ".gnu_debuglink");
  if (!sh || !in_file(e, sh->sh_offset, sh->sh_size)) return false;
  const char *s = (const char *)e->map + sh->sh_offset;
  const char *z = memchr(s, 0, (size_t)sh->sh_size);
  if (!z || z == s) return false;
  uint64_t crc_at = ((uint64_t)(z - s) + 1 + 3) & ~3ull;
  if (crc_at + 4 > sh->sh_size) return false;
  memcpy(crc, s + crc_at, 4);
  *name = s;
  return true;
}

// Maps candidate path as m's debug file when it is one: its build-id matches
// m's (when both have one) and, for a debug link, its CRC32 is crc.
static bool try_debug(xsmem_sym_module *m, const char *path, bool check_crc, uint32_t crc) {
  if (strcmp(path, m->path) == 0) return false;
  xsmem_elf d;
  if (!elf_map(&d, path)) return false;
  bool ok = true;
  uint8_t id[XSMEM_BUILD_ID_MAX];
  size_t idn = xsmem_elf_build_id(&d, id, sizeof(id));
  if (m->build_id_len && idn && (idn != m->build_id_len || memcmp(id, m->build_id, idn) != 0)) ok = false;
  if (ok && check_crc) {
    uLong c = crc32(0L, Z_NULL, 0);
    for (size_t at = 0; at < d.size;) {  // uInt lengths
      size_t chunk = d.size - at > (1u << 30) ? (1u << 30) : d.size - at;
      c = crc32(c, d.map + at, (uInt)chunk);
      at += chunk;
    }
    ok = (uint32_t)c == crc;
  }
  if (!ok) {
    elf_unmap(&d);
    return false;
  }
  m->debug = d;
  xsmem_snprintf(m->debug_path, sizeof(m->debug_path), "%s", path);
  return true;
}

// Appends n bytes of s to the string in dst (cap bytes), truncating.
static void append(char *dst, size_t cap, const char *s, size_t n) {
  size_t len = strlen(dst);
  if (len + 1 >= cap) return;
  if (n > cap - len - 1) n = cap - len - 1;
  memcpy(dst + len, s, n);
  dst[len + n] = 0;
}

// gdb's search: by build-id in each debug directory, then by debug link next
// to the module, in its .debug/, and under each debug directory.
static void find_debug(xsmem_sym_module *m, const char *root) {
  if (!root || !*root) root = "/usr/lib/debug";
  char path[XSMEM_SYM_PATH_MAX * 2];
  if (m->build_id_len >= 2) {
    char hex[2 * XSMEM_BUILD_ID_MAX + 1];
    for (size_t i = 0; i < m->build_id_len; i++) {
      static const char kHex[] = "0123456789abcdef";
      hex[2 * i] = kHex[m->build_id[i] >> 4];
      hex[2 * i + 1] = kHex[m->build_id[i] & 15];
    }
    hex[2 * m->build_id_len] = 0;
    for (const char *d = root; *d;) {
      size_t len = strcspn(d, ":");
      if (len) {
        path[0] = 0;
        append(path, sizeof(path), d, len);
        append(path, sizeof(path), "/.build-id/", 11);
        append(path, sizeof(path), hex, 2);
        append(path, sizeof(path), "/", 1);
        append(path, sizeof(path), hex + 2, strlen(hex + 2));
        append(path, sizeof(path), ".debug", 6);
        if (try_debug(m, path, false, 0)) return;
      }
      d += len + (d[len] == ':');
    }
  }
  const char *link;
  uint32_t crc;
  if (!elf_debuglink(&m->file, &link, &crc) || strchr(link, '/')) return;
  const char *base = xsmem_sym_basename(m->path);
  size_t dir_len = (size_t)(base - m->path);  // with its trailing '/'
  path[0] = 0;
  append(path, sizeof(path), m->path, dir_len);
  append(path, sizeof(path), link, strlen(link));
  if (try_debug(m, path, true, crc)) return;
  path[0] = 0;
  append(path, sizeof(path), m->path, dir_len);
  append(path, sizeof(path), ".debug/", 7);
  append(path, sizeof(path), link, strlen(link));
  if (try_debug(m, path, true, crc)) return;
  for (const char *d = root; *d;) {
    size_t len = strcspn(d, ":");
    if (len) {
      path[0] = 0;
      append(path, sizeof(path), d, len);
      if (m->path[0] != '/') append(path, sizeof(path), "/", 1);
      append(path, sizeof(path), m->path, dir_len);
      append(path, sizeof(path), link, strlen(link));
      if (try_debug(m, path, true, crc)) return;
    }
    d += len + (d[len] == ':');
  }
}

bool xsmem_sym_open(xsmem_sym_module *m, const char *path, const char *debug_root, const uint8_t *expect_id,
                    size_t expect_len) {
  memset(m, 0, sizeof(*m));
  xsmem_snprintf(m->path, sizeof(m->path), "%s", path);
  if (!elf_map(&m->file, path)) return false;
  m->build_id_len = xsmem_elf_build_id(&m->file, m->build_id, sizeof(m->build_id));
  if (expect_len && m->build_id_len && (expect_len != m->build_id_len || memcmp(expect_id, m->build_id, expect_len))) {
    xsmem_sym_close(m);  // rebuilt since the process ran: its names would be wrong
    return false;
  }
  find_debug(m, debug_root);
  return true;
}

void xsmem_sym_close(xsmem_sym_module *m) {
  elf_unmap(&m->file);
  elf_unmap(&m->debug);
  sect_release(&m->line);
  sect_release(&m->line_str);
  sect_release(&m->str);
  m->dwarf_read = false;
}

// ---------------------------------------------------------------------------
// Names and lines.

// The function of symbol table type `want` in e holding vaddr.
static bool table_lookup(const xsmem_elf *e, Elf64_Word want, uint64_t vaddr, const char **name, uint64_t *start) {
  unsigned n;
  const Elf64_Shdr *sh = elf_sections(e, &n);
  for (unsigned i = 0; i < n; i++) {
    if (sh[i].sh_type != want || sh[i].sh_link >= n || sh[i].sh_entsize != sizeof(Elf64_Sym)) continue;
    const Elf64_Shdr *str = &sh[sh[i].sh_link];
    if (!in_file(e, sh[i].sh_offset, sh[i].sh_size) || sh[i].sh_offset % 8) continue;
    const Elf64_Sym *sym = (const Elf64_Sym *)(e->map + sh[i].sh_offset);
    size_t count = (size_t)sh[i].sh_size / sizeof(Elf64_Sym);
    for (size_t k = 0; k < count; k++) {
      if ((ELF64_ST_TYPE(sym[k].st_info) != STT_FUNC && ELF64_ST_TYPE(sym[k].st_info) != STT_GNU_IFUNC) ||
          sym[k].st_shndx == SHN_UNDEF || vaddr < sym[k].st_value || vaddr - sym[k].st_value >= sym[k].st_size) {
        continue;
      }
      const char *s = sect_string(e, str, sym[k].st_name);
      if (!s || !*s) continue;
      *name = s;
      *start = sym[k].st_value;
      return true;
    }
  }
  return false;
}

bool xsmem_sym_function(const xsmem_sym_module *m, uint64_t vaddr, const char **name, uint64_t *start) {
  return table_lookup(&m->file, SHT_SYMTAB, vaddr, name, start) ||
      table_lookup(&m->file, SHT_DYNSYM, vaddr, name, start) || table_lookup(&m->debug, SHT_SYMTAB, vaddr, name, start);
}

bool xsmem_sym_line(xsmem_sym_module *m, uint64_t vaddr, char *buf, size_t cap) {
  if (!m->dwarf_read) {
    m->dwarf_read = true;
    const xsmem_elf *src = &m->file;
    if (!elf_section(src, ".debug_line", &m->line)) {
      src = &m->debug;
      if (!src->map || !elf_section(src, ".debug_line", &m->line)) return false;
    }
    elf_section(src, ".debug_line_str", &m->line_str);
    elf_section(src, ".debug_str", &m->str);
  }
  if (!m->line.p) return false;
  return xsmem_dwarf_line_sections(m->line.p, m->line.n, m->line_str.p, m->line_str.n, m->str.p, m->str.n, vaddr, buf,
                                   cap);
}

const char *xsmem_sym_frame(xsmem_sym_module *m, const char *module_name, uint64_t offset, xsmem_demangle_fn demangle,
                            char *buf, size_t cap) {
  if (cap == 0) return buf;
  buf[0] = 0;
  const char *name = NULL;
  uint64_t start = 0;
  // A return address points after the call: offset - 1 lies in it.
  uint64_t at = offset ? offset - 1 : 0;
  if (m && m->file.map && xsmem_sym_function(m, at, &name, &start)) {
    char plain[512];
    if (demangle && name[0] == '_' && name[1] == 'Z' && demangle(name, plain, sizeof(plain))) name = plain;
    xsmem_snprintf(buf, cap, "%s+0x%llx (%s+0x%llx)", name, (unsigned long long)(offset - start), module_name,
                   (unsigned long long)offset);
  } else {
    xsmem_snprintf(buf, cap, "%s+0x%llx", module_name, (unsigned long long)offset);
  }
  char line[256];
  size_t len = strlen(buf);
  if (m && m->file.map && len + 2 < cap && xsmem_sym_line(m, at, line, sizeof(line))) {
    xsmem_snprintf(buf + len, cap - len, " %s", line);
  }
  return buf;
}
