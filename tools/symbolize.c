// tools/symbolize.c: names for the code addresses of a process that is gone.
//
// Input: the process's /proc/PID/maps, saved at its exit by libxsmem_maps.so.
// An address is placed in its mapping (start, end, file offset, path), turned
// into a file offset, then into the module's link-time address through its
// PT_LOAD headers, and looked up in the module's .symtab (or .dynsym when
// stripped): the function containing it, "function+0xoff (module)", or
// "module+0xoff" when no symbol covers it, followed by " file:line" when the
// module has a DWARF line table (tracking/dwarf_line.h). Modules are read once each.
// tool_symbolize_snapshot applies it to a snapshot's call sites and leaks.
#include "tools/symbolize.h"

#include <elf.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tracking/dwarf_line.h"

typedef struct sym {
  uint64_t addr, size;
  const char *name;
} sym;

typedef struct module {
  char *path;
  unsigned char *map;  // the whole file, read-only
  size_t len;
  sym *syms;  // functions sorted by address
  size_t n_syms;
  const Elf64_Phdr *ph;
  int n_ph;
  bool loaded;
} module;

typedef struct mapping {
  uint64_t start, end, offset;
  module *mod;
} mapping;

struct tool_symbolizer {
  mapping *maps;
  size_t n_maps;
  module *mods;
  size_t n_mods;
};

static int cmp_sym(const void *a, const void *b) {
  const sym *x = a, *y = b;
  return x->addr < y->addr ? -1 : x->addr > y->addr;
}

// Reads the functions of the symbol table of type `want`. Returns false when none.
static bool load_syms(module *m, const Elf64_Ehdr *eh, const Elf64_Shdr *sh, Elf64_Word want) {
  for (int i = 0; i < eh->e_shnum; i++) {
    if (sh[i].sh_type != want || sh[i].sh_link >= eh->e_shnum) continue;
    const Elf64_Shdr *str = &sh[sh[i].sh_link];
    if (sh[i].sh_offset + sh[i].sh_size > m->len || str->sh_offset + str->sh_size > m->len) continue;
    const Elf64_Sym *s = (const Elf64_Sym *)(m->map + sh[i].sh_offset);
    size_t n = sh[i].sh_size / sizeof(*s);
    free(m->syms);
    m->syms = calloc(n + 1, sizeof(sym));
    m->n_syms = 0;
    for (size_t k = 0; k < n; k++) {
      if (ELF64_ST_TYPE(s[k].st_info) != STT_FUNC || !s[k].st_value || s[k].st_name >= str->sh_size) continue;
      m->syms[m->n_syms++] = (sym){s[k].st_value, s[k].st_size, (const char *)m->map + str->sh_offset + s[k].st_name};
    }
    qsort(m->syms, m->n_syms, sizeof(sym), cmp_sym);
    return m->n_syms > 0;
  }
  return false;
}

static void module_load(module *m) {
  m->loaded = true;
  int fd = open(m->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
    close(fd);
    return;
  }
  m->len = (size_t)st.st_size;
  m->map = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (m->map == MAP_FAILED) {
    m->map = NULL;
    return;
  }
  const Elf64_Ehdr *eh = (const Elf64_Ehdr *)m->map;
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64) return;
  if (eh->e_phoff + (size_t)eh->e_phnum * sizeof(Elf64_Phdr) <= m->len) {
    m->ph = (const Elf64_Phdr *)(m->map + eh->e_phoff);
    m->n_ph = eh->e_phnum;
  }
  if (!eh->e_shoff || eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > m->len) return;
  const Elf64_Shdr *sh = (const Elf64_Shdr *)(m->map + eh->e_shoff);
  // .symtab when present (complete), else .dynsym.
  if (!load_syms(m, eh, sh, SHT_SYMTAB)) load_syms(m, eh, sh, SHT_DYNSYM);
}

tool_symbolizer *tool_symbolizer_load(const char *maps_path) {
  FILE *f = fopen(maps_path, "r");
  if (!f) return NULL;
  tool_symbolizer *z = calloc(1, sizeof *z);
  size_t cap_maps = 0, cap_mods = 0;
  char line[4608];
  while (fgets(line, sizeof line, f)) {
    unsigned long long start, end, off;
    char perms[8];
    int path_at = 0;
    if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &start, &end, perms, &off, &path_at) < 4 || !path_at) continue;
    char *path = line + path_at;
    path[strcspn(path, "\n")] = 0;
    if (perms[2] != 'x' || path[0] != '/') continue;  // code mapped from a file
    module *m = NULL;
    for (size_t i = 0; i < z->n_mods && !m; i++)
      if (!strcmp(z->mods[i].path, path)) m = &z->mods[i];
    if (!m) {
      if (z->n_mods == cap_mods) {
        // Mappings hold indices until the table stops moving.
        cap_mods = cap_mods ? cap_mods * 2 : 32;
        z->mods = realloc(z->mods, cap_mods * sizeof(module));
      }
      m = &z->mods[z->n_mods++];
      memset(m, 0, sizeof *m);
      m->path = strdup(path);
    }
    if (z->n_maps == cap_maps) {
      cap_maps = cap_maps ? cap_maps * 2 : 64;
      z->maps = realloc(z->maps, cap_maps * sizeof(mapping));
    }
    z->maps[z->n_maps++] = (mapping){start, end, off, (module *)(uintptr_t)(m - z->mods)};
  }
  fclose(f);
  for (size_t i = 0; i < z->n_maps; i++) z->maps[i].mod = &z->mods[(uintptr_t)z->maps[i].mod];
  return z;
}

void tool_symbolizer_free(tool_symbolizer *z) {
  if (!z) return;
  for (size_t i = 0; i < z->n_mods; i++) {
    free(z->mods[i].path);
    free(z->mods[i].syms);
    if (z->mods[i].map) munmap(z->mods[i].map, z->mods[i].len);
  }
  free(z->mods);
  free(z->maps);
  free(z);
}

// Appends " file:line" for the link-time address vaddr of m where its debug info allows.
static const char *with_line(const module *m, uint64_t vaddr, char *buf, size_t n) {
  char line[256];
  size_t len = strlen(buf);
  if (m->map && len + 1 < n && xsmem_dwarf_line(m->map, m->len, vaddr, line, sizeof line)) {
    snprintf(buf + len, n - len, " %s", line);
  }
  return buf;
}

const char *tool_symbolize(tool_symbolizer *z, uint64_t addr, char *buf, size_t n, const char **module_path) {
  if (module_path) *module_path = NULL;
  const mapping *mp = NULL;
  for (size_t i = 0; z && i < z->n_maps && !mp; i++)
    if (addr >= z->maps[i].start && addr < z->maps[i].end) mp = &z->maps[i];
  if (!mp) {
    snprintf(buf, n, "0x%" PRIx64, addr);
    return buf;
  }
  module *m = mp->mod;
  if (!m->loaded) module_load(m);
  if (module_path) *module_path = m->path;
  const char *base = strrchr(m->path, '/') ? strrchr(m->path, '/') + 1 : m->path;
  uint64_t file_off = addr - mp->start + mp->offset, vaddr = file_off;
  for (int i = 0; i < m->n_ph; i++) {
    const Elf64_Phdr *p = &m->ph[i];
    if (p->p_type == PT_LOAD && file_off >= p->p_offset && file_off < p->p_offset + p->p_filesz) {
      vaddr = file_off - p->p_offset + p->p_vaddr;
      break;
    }
  }
  // The last function starting at or below vaddr.
  size_t lo = 0, hi = m->n_syms;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (m->syms[mid].addr <= vaddr) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0) {
    const sym *s = &m->syms[lo - 1];
    if (vaddr < s->addr + (s->size ? s->size : 1)) {
      snprintf(buf, n, "%s+0x%" PRIx64 " (%s)", s->name, vaddr - s->addr, base);
      return with_line(m, vaddr, buf, n);
    }
  }
  snprintf(buf, n, "%s+0x%" PRIx64, base, vaddr);
  return with_line(m, vaddr, buf, n);
}

// ---------------------------------------------------------------------------
// A snapshot's stacks.

// Returns the frames of a stack symbolized, one per line, without the
// leading frames inside xsmem's own preloaded libraries (malloc, tracker);
// NULL when nothing could be named.
static char *symbolize_stack(tool_symbolizer *z, const uint64_t *frames, size_t n, xsmem_arena *arena) {
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  bool skipping = true, named = false;
  for (size_t i = 0; i < n; i++) {
    char buf[512];
    const char *module;
    // Every frame is a return address (leak records start at the program's
    // first), which points after the call: look up the call instruction.
    tool_symbolize(z, frames[i] - 1, buf, sizeof buf, &module);
    // An address in no mapping ends the stack (a frame-pointer walk that ran
    // into code without frame pointers reads garbage).
    if (!module) break;
    if (skipping && strstr(module, "/libxsmem_")) continue;
    skipping = false;
    named = true;
    fprintf(f, "%s%s", len || ftell(f) ? "\n" : "", buf);
  }
  fclose(f);
  char *r = named ? xsmem_arena_strdup(arena, out) : NULL;
  free(out);
  return r;
}

void tool_symbolize_snapshot(tool_symbolizer *z, Xsmem__Snapshot *s, xsmem_arena *arena) {
  for (size_t i = 0; i < s->n_call_sites; i++) {
    char *st = symbolize_stack(z, s->call_sites[i]->frames, s->call_sites[i]->n_frames, arena);
    if (st) s->call_sites[i]->symbol = st;
  }
  for (size_t i = 0; i < s->n_leaks; i++) {
    char *st = symbolize_stack(z, s->leaks[i]->frames, s->leaks[i]->n_frames, arena);
    if (st) s->leaks[i]->symbol = st;
  }
}
