// tools/program_check.c: whether a program can run under a preloaded
// allocator, checked by `xsmem run` before it starts anything.
//
// The program must exist and be executable, be dynamically linked (a static
// binary never loads LD_PRELOAD), and carry no sanitizer runtime (ASan,
// TSan, MSan, HWASan and LSan replace malloc themselves). `#!` scripts are
// checked through their interpreter. Read from the file's ELF headers and
// dynamic section, never by running it.
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/run_internal.h"

char *run_resolve_program(const char *cmd) {
  if (strchr(cmd, '/')) return access(cmd, F_OK) == 0 ? strdup(cmd) : NULL;
  const char *path = getenv("PATH");
  if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
  char *copy = strdup(path), *save = NULL, *found = NULL;
  for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
    char *p = NULL;
    if (asprintf(&p, "%s/%s", *d ? d : ".", cmd) < 0) break;
    struct stat st;
    if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0) found = p;
    else free(p);
  }
  free(copy);
  return found;
}

static const char *const kSanitizers[] = {"asan", "tsan", "msan", "hwasan", "lsan"};

const char *run_sanitizer_in(const char *name) {
  static char found[16];
  for (size_t i = 0; i < sizeof(kSanitizers) / sizeof(kSanitizers[0]); i++) {
    char lib[32], sym[32];
    snprintf(lib, sizeof lib, "lib%s.so", kSanitizers[i]);
    snprintf(sym, sizeof sym, "__%s_init", kSanitizers[i]);
    if (strstr(name, lib) || !strcmp(name, sym)) {
      snprintf(found, sizeof found, "%s", kSanitizers[i]);
      return found;
    }
  }
  return NULL;
}

// Checks an ELF file: dynamically linked, no sanitizer runtime. Returns NULL
// when preloading can work, else why not (static text).
static const char *check_elf(const unsigned char *m, size_t len, char *why, size_t n) {
  const Elf64_Ehdr *eh = (const Elf64_Ehdr *)m;
  if (len < sizeof(*eh) || eh->e_ident[EI_CLASS] != ELFCLASS64) return NULL;  // cannot tell: let it run
  if (eh->e_phoff + (size_t)eh->e_phnum * sizeof(Elf64_Phdr) > len) return "a truncated ELF file";
  bool interp = false;
  const Elf64_Phdr *ph = (const Elf64_Phdr *)(m + eh->e_phoff);
  for (int i = 0; i < eh->e_phnum; i++) interp |= ph[i].p_type == PT_INTERP;
  if (!interp) {
    snprintf(why, n,
             "it is statically linked (no program interpreter), so LD_PRELOAD is never read; "
             "link it against //allocators:NAME instead");
    return why;
  }
  if (eh->e_shoff == 0 || eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > len) return NULL;
  const Elf64_Shdr *sh = (const Elf64_Shdr *)(m + eh->e_shoff);
  for (int i = 0; i < eh->e_shnum; i++) {
    if (sh[i].sh_type != SHT_DYNAMIC && sh[i].sh_type != SHT_DYNSYM) continue;
    if (sh[i].sh_link >= eh->e_shnum) continue;
    const Elf64_Shdr *strs = &sh[sh[i].sh_link];
    if (sh[i].sh_offset + sh[i].sh_size > len || strs->sh_offset + strs->sh_size > len) continue;
    const char *str = (const char *)m + strs->sh_offset;
    const char *san = NULL;
    if (sh[i].sh_type == SHT_DYNAMIC) {
      const Elf64_Dyn *d = (const Elf64_Dyn *)(m + sh[i].sh_offset);
      for (size_t k = 0; k < sh[i].sh_size / sizeof(*d) && !san; k++)
        if (d[k].d_tag == DT_NEEDED && d[k].d_un.d_val < strs->sh_size) san = run_sanitizer_in(str + d[k].d_un.d_val);
    } else {
      const Elf64_Sym *s = (const Elf64_Sym *)(m + sh[i].sh_offset);
      for (size_t k = 0; k < sh[i].sh_size / sizeof(*s) && !san; k++)
        if (s[k].st_name && s[k].st_name < strs->sh_size) san = run_sanitizer_in(str + s[k].st_name);
    }
    if (san) {
      snprintf(why, n,
               "it carries the %s runtime, which replaces malloc itself; "
               "build it without -fsanitize to observe it under xsmem",
               san);
      return why;
    }
  }
  return NULL;
}

// check_program at a depth of #! indirections (at most 3 are followed).
static const char *check_at(const char *path, int depth, char *why, size_t n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(why, n, "cannot open it: %s", strerror(errno));
    return why;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 4) {
    close(fd);
    snprintf(why, n, "it is not a regular executable file");
    return why;
  }
  size_t len = (size_t)st.st_size;
  unsigned char *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (m == MAP_FAILED) return NULL;
  const char *r = NULL;
  if (!memcmp(m, ELFMAG, SELFMAG)) {
    r = check_elf(m, len, why, n);
  } else if (m[0] == '#' && m[1] == '!' && depth < 3) {
    // The interpreter is what gets loaded: check it (through env as well).
    char line[256];
    size_t k = 0;
    for (size_t i = 2; i < len && m[i] != '\n' && k + 1 < sizeof line; i++) line[k++] = (char)m[i];
    line[k] = 0;
    char *save = NULL, *interp = strtok_r(line, " \t", &save), *arg = strtok_r(NULL, " \t", &save);
    char *target = NULL;
    if (interp && !strcmp(interp, "/usr/bin/env") && arg) target = run_resolve_program(arg);
    else if (interp) target = strdup(interp);
    if (target) r = check_at(target, depth + 1, why, n);
    free(target);
  }
  munmap(m, len);
  return r;
}

const char *run_check_program(const char *path, char *why, size_t n) { return check_at(path, 0, why, n); }
