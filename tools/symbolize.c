// tools/symbolize.c: names for the code addresses of a process that is gone.
//
// Two ways to place a frame in its module: the snapshot's own modules (path,
// build-id, load bias) and per-frame (module, link-time address), written by
// export/snapshot.c; or, for snapshots older than those fields, the process's
// /proc/PID/maps saved at its exit by libxsmem_maps.so: the address is placed
// in its mapping, turned into a file offset, then into the module's link-time
// address through its PT_LOAD headers. Either way the frame is then named by
// tracking/symbolizer.h (the in-process report's code: .symtab, .dynsym, the
// separate debug file, file:line), with C++ names demangled here. A module
// whose file has another build-id than the one that ran is not read (its
// frames keep module+0xOFFSET). Modules are opened once each.
#include "tools/symbolize.h"

#include <elf.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "platform/options.h"
#include "tracking/symbolizer.h"

// libstdc++'s demangler (the tool links libstdc++).
extern char *__cxa_demangle(const char *mangled, char *out, size_t *len, int *status);

typedef struct module {
  char *path;
  uint8_t id[XSMEM_BUILD_ID_MAX];  // the build-id that ran (snapshot), id_len 0 when unknown
  size_t id_len;
  xsmem_sym_module sym;
  bool tried, ok;
} module;

typedef struct mapping {
  uint64_t start, end, offset;
  size_t mod;
} mapping;

struct tool_symbolizer {
  mapping *maps;
  size_t n_maps;
  module **mods;
  size_t n_mods;
  bool from_snapshot;  // mods are the snapshot's modules, in order
};

static const char *g_debug_root;

void tool_symbolizer_set_debug_root(const char *root) { g_debug_root = root; }

bool tool_demangle(const char *name, char *buf, size_t cap) {
  int status = -1;
  char *d = __cxa_demangle(name, NULL, NULL, &status);
  if (!d || status != 0) {
    free(d);
    return false;
  }
  snprintf(buf, cap, "%s", d);
  free(d);
  return true;
}

static module *add_module(tool_symbolizer *z, const char *path, size_t *cap) {
  if (z->n_mods == *cap) {
    *cap = *cap ? *cap * 2 : 32;
    z->mods = realloc(z->mods, *cap * sizeof(module *));
  }
  module *m = calloc(1, sizeof *m);
  m->path = strdup(path);
  z->mods[z->n_mods++] = m;
  return m;
}

// Opens m's file (once); false when it cannot be read or is not the one that ran.
static bool module_ready(module *m) {
  if (!m->tried) {
    m->tried = true;
    const char *root = g_debug_root ? g_debug_root : xsmem_option_str("XSMEM_DEBUG_ROOT");
    m->ok = m->path[0] == '/' && xsmem_sym_open(&m->sym, m->path, root, m->id, m->id_len);
  }
  return m->ok;
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
    size_t mod = z->n_mods;
    for (size_t i = 0; i < z->n_mods && mod == z->n_mods; i++)
      if (!strcmp(z->mods[i]->path, path)) mod = i;
    if (mod == z->n_mods) add_module(z, path, &cap_mods);
    if (z->n_maps == cap_maps) {
      cap_maps = cap_maps ? cap_maps * 2 : 64;
      z->maps = realloc(z->maps, cap_maps * sizeof(mapping));
    }
    z->maps[z->n_maps++] = (mapping){start, end, off, mod};
  }
  fclose(f);
  return z;
}

tool_symbolizer *tool_symbolizer_for_snapshot(const Xsmem__Snapshot *s) {
  if (!s->n_modules) return NULL;
  tool_symbolizer *z = calloc(1, sizeof *z);
  z->from_snapshot = true;
  size_t cap = 0;
  for (size_t i = 0; i < s->n_modules; i++) {
    module *m = add_module(z, s->modules[i]->path ? s->modules[i]->path : "", &cap);
    // The build-id in hex; one that does not parse is not checked.
    const char *hex = s->modules[i]->build_id ? s->modules[i]->build_id : "";
    size_t len = strlen(hex);
    if (len % 2 == 0 && len / 2 <= sizeof m->id) {
      m->id_len = len / 2;
      for (size_t k = 0; k < m->id_len; k++) {
        unsigned v;
        if (sscanf(hex + 2 * k, "%2x", &v) != 1) m->id_len = 0;
        else m->id[k] = (uint8_t)v;
      }
    }
  }
  return z;
}

void tool_symbolizer_free(tool_symbolizer *z) {
  if (!z) return;
  for (size_t i = 0; i < z->n_mods; i++) {
    xsmem_sym_close(&z->mods[i]->sym);
    free(z->mods[i]->path);
    free(z->mods[i]);
  }
  free(z->mods);
  free(z->maps);
  free(z);
}

// The frame at link-time address offset of module m.
static const char *frame_text(module *m, uint64_t offset, char *buf, size_t n) {
  return xsmem_sym_frame(module_ready(m) ? &m->sym : NULL, xsmem_sym_basename(m->path), offset, tool_demangle, buf, n);
}

const char *tool_symbolize(tool_symbolizer *z, uint64_t addr, char *buf, size_t n, const char **module_path) {
  if (module_path) *module_path = NULL;
  const mapping *mp = NULL;
  // A return address may end its mapping: place the call, addr - 1.
  for (size_t i = 0; z && i < z->n_maps && !mp; i++)
    if (addr - 1 >= z->maps[i].start && addr - 1 < z->maps[i].end) mp = &z->maps[i];
  if (!mp) {
    snprintf(buf, n, "0x%" PRIx64, addr);
    return buf;
  }
  module *m = z->mods[mp->mod];
  if (module_path) *module_path = m->path;
  uint64_t file_off = addr - mp->start + mp->offset, vaddr = file_off;
  if (module_ready(m)) {
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)m->sym.file.map;
    if (eh->e_phentsize == sizeof(Elf64_Phdr) && eh->e_phoff <= m->sym.file.size &&
        (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) <= m->sym.file.size - eh->e_phoff && eh->e_phoff % 8 == 0) {
      const Elf64_Phdr *ph = (const Elf64_Phdr *)(m->sym.file.map + eh->e_phoff);
      for (int i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *p = &ph[i];
        if (p->p_type == PT_LOAD && file_off - 1 >= p->p_offset && file_off - 1 < p->p_offset + p->p_filesz) {
          vaddr = file_off - p->p_offset + p->p_vaddr;
          break;
        }
      }
    }
  }
  return frame_text(m, vaddr, buf, n);
}

// ---------------------------------------------------------------------------
// A snapshot's stacks.

// How many frames of a symbol text name a function.
static size_t named_frames(const char *text) {
  size_t k = 0;
  for (const char *line = text; line && *line;) {
    const char *end = strchr(line, '\n');
    const char *open = strstr(line, " (");
    if (open && (!end || open < end)) k++;
    line = end ? end + 1 : NULL;
  }
  return k;
}

// Returns the frames of a stack symbolized, one per line, without the
// leading frames inside xsmem's own preloaded libraries (malloc, tracker);
// NULL when nothing could be placed. *named: frames named with a function.
// From the snapshot's modules (n_placed == n) or through the maps.
static char *symbolize_stack(tool_symbolizer *z, const uint64_t *frames, size_t n, const uint32_t *fmods,
                             const uint64_t *foffs, size_t n_placed, xsmem_arena *arena, size_t *named) {
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  bool skipping = true, any = false;
  *named = 0;
  for (size_t i = 0; i < n; i++) {
    char buf[1024];
    const char *mpath = NULL;
    if (z->from_snapshot) {
      // The snapshot placed every frame: module 0 is none.
      if (fmods[i] == 0 || fmods[i] > z->n_mods) break;
      module *m = z->mods[fmods[i] - 1];
      mpath = m->path;
      frame_text(m, foffs[i], buf, sizeof buf);
    } else {
      // Every frame is a return address (leak records start at the program's first).
      tool_symbolize(z, frames[i], buf, sizeof buf, &mpath);
    }
    // An address in no module ends the stack (a frame-pointer walk that ran
    // into code without frame pointers reads garbage).
    if (!mpath) break;
    if (skipping && strstr(mpath, "/libxsmem_")) continue;
    skipping = false;
    any = true;
    *named += named_frames(buf);
    fprintf(f, "%s%s", ftell(f) ? "\n" : "", buf);
  }
  fclose(f);
  char *r = any ? xsmem_arena_strdup(arena, out) : NULL;
  free(out);
  return r;
}

// The new text wins when it names more frames, or as many over a longer
// stack (a provider's own single names stay when the files add nothing).
static void replace_symbol(char **symbol, char *text, size_t named) {
  if (!text) return;
  size_t old = named_frames(*symbol);
  if (named > old || (named == old && strchr(text, '\n') && !strchr(*symbol, '\n'))) *symbol = text;
}

void tool_symbolize_snapshot(tool_symbolizer *z, Xsmem__Snapshot *s, xsmem_arena *arena) {
  size_t named;
  for (size_t i = 0; i < s->n_call_sites; i++) {
    Xsmem__CallSite *c = s->call_sites[i];
    size_t placed = c->n_frame_modules == c->n_frames && c->n_frame_offsets == c->n_frames ? c->n_frames : 0;
    if (z->from_snapshot && !placed) continue;  // written without its frames placed
    char *st = symbolize_stack(z, c->frames, c->n_frames, c->frame_modules, c->frame_offsets, placed, arena, &named);
    replace_symbol(&c->symbol, st, named);
  }
  for (size_t i = 0; i < s->n_leaks; i++) {
    Xsmem__Leak *l = s->leaks[i];
    size_t placed = l->n_frame_modules == l->n_frames && l->n_frame_offsets == l->n_frames ? l->n_frames : 0;
    if (z->from_snapshot && !placed) continue;
    char *st = symbolize_stack(z, l->frames, l->n_frames, l->frame_modules, l->frame_offsets, placed, arena, &named);
    replace_symbol(&l->symbol, st, named);
  }
}

bool tool_symbolize_loaded(Xsmem__Snapshot *s, xsmem_arena *arena) {
  tool_symbolizer *z = tool_symbolizer_for_snapshot(s);
  if (!z) return false;
  tool_symbolize_snapshot(z, s, arena);
  tool_symbolizer_free(z);
  return true;
}
