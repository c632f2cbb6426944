// tracking/dwarf_line.c: the DWARF line-table reader (model in dwarf_line.h).
#include "tracking/dwarf_line.h"

#include <elf.h>
#include <string.h>

#include "platform/log.h"

// DWARF constants (dwarf.h is not among the build's headers).
enum {
  LNS_copy = 1,
  LNS_advance_pc,
  LNS_advance_line,
  LNS_set_file,
  LNS_set_column,
  LNS_negate_stmt,
  LNS_set_basic_block,
  LNS_const_add_pc,
  LNS_fixed_advance_pc,
  LNS_set_prologue_end,
  LNS_set_epilogue_begin,
  LNS_set_isa,
  LNE_end_sequence = 1,
  LNE_set_address = 2,
  LNCT_path = 1,
  LNCT_directory_index = 2,
  FORM_block2 = 0x03,
  FORM_block4 = 0x04,
  FORM_data2 = 0x05,
  FORM_data4 = 0x06,
  FORM_data8 = 0x07,
  FORM_string = 0x08,
  FORM_block = 0x09,
  FORM_block1 = 0x0a,
  FORM_data1 = 0x0b,
  FORM_sdata = 0x0d,
  FORM_strp = 0x0e,
  FORM_udata = 0x0f,
  FORM_strx = 0x1a,
  FORM_data16 = 0x1e,
  FORM_line_strp = 0x1f,
  FORM_strx1 = 0x25,
  FORM_strx2 = 0x26,
  FORM_strx3 = 0x27,
  FORM_strx4 = 0x28,
};

// ---------------------------------------------------------------------------
// A bounds-checked reader: past the end it reads zeros and sets bad.

typedef struct rd {
  const uint8_t *p, *end;
  bool bad;
} rd;

static void rd_fail(rd *r) {
  r->bad = true;
  r->p = r->end;
}

static uint64_t rd_u(rd *r, unsigned n) {
  if (n > 8 || (size_t)(r->end - r->p) < n) {
    rd_fail(r);
    return 0;
  }
  uint64_t v = 0;
  for (unsigned i = 0; i < n; i++) v |= (uint64_t)r->p[i] << (8 * i);
  r->p += n;
  return v;
}

static void rd_skip(rd *r, uint64_t n) {
  if ((uint64_t)(r->end - r->p) < n) rd_fail(r);
  else r->p += n;
}

static uint64_t rd_uleb(rd *r) {
  uint64_t v = 0;
  for (unsigned shift = 0;; shift += 7) {
    if (r->p >= r->end) {
      rd_fail(r);
      return 0;
    }
    uint8_t b = *r->p++;
    if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
}

static int64_t rd_sleb(rd *r) {
  uint64_t v = 0;
  unsigned shift = 0;
  uint8_t b;
  do {
    if (r->p >= r->end) {
      rd_fail(r);
      return 0;
    }
    b = *r->p++;
    if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
    shift += 7;
  } while (b & 0x80);
  if (shift < 64 && (b & 0x40)) v |= ~(uint64_t)0 << shift;
  return (int64_t)v;
}

static const char *rd_str(rd *r) {
  const uint8_t *z = memchr(r->p, 0, (size_t)(r->end - r->p));
  if (!z) {
    rd_fail(r);
    return NULL;
  }
  const char *s = (const char *)r->p;
  r->p = z + 1;
  return s;
}

typedef struct sect {
  const uint8_t *p;
  size_t n;
} sect;

static const char *sect_str(const sect *s, uint64_t off) {
  if (!s->p || off >= s->n || !memchr(s->p + off, 0, s->n - off)) return NULL;
  return (const char *)s->p + off;
}

// ---------------------------------------------------------------------------
// One line-number program's header.

typedef struct unit {
  unsigned version;
  bool dwarf64;
  uint8_t min_inst, line_range, opcode_base;
  int8_t line_base;
  const uint8_t *std_lens;  // opcode_base - 1 operand counts
  rd dirs, files;           // v2-4: the two lists; v5: from the directory format on
  rd program;               // the opcodes, to the unit's end
  const sect *line_str, *str;
} unit;

// Parses the header at r (which then points past the unit). False: unusable.
static bool unit_parse(rd *r, unit *u) {
  uint64_t len = rd_u(r, 4);
  u->dwarf64 = len == 0xffffffffu;
  if (u->dwarf64) len = rd_u(r, 8);
  if (r->bad || len > (uint64_t)(r->end - r->p)) {
    rd_fail(r);
    return false;
  }
  rd body = {r->p, r->p + len, false};
  r->p += len;
  u->version = (unsigned)rd_u(&body, 2);
  if (u->version < 2 || u->version > 5) return false;
  if (u->version >= 5) rd_skip(&body, 2);  // address_size, segment_selector_size
  uint64_t hlen = rd_u(&body, u->dwarf64 ? 8 : 4);
  if (body.bad || hlen > (uint64_t)(body.end - body.p)) return false;
  u->program = (rd){body.p + hlen, body.end, false};
  rd h = {body.p, body.p + hlen, false};
  u->min_inst = (uint8_t)rd_u(&h, 1);
  if (u->version >= 4) rd_skip(&h, 1);  // maximum_operations_per_instruction (VLIW only)
  rd_skip(&h, 1);                       // default_is_stmt
  u->line_base = (int8_t)rd_u(&h, 1);
  u->line_range = (uint8_t)rd_u(&h, 1);
  u->opcode_base = (uint8_t)rd_u(&h, 1);
  if (h.bad || u->line_range == 0 || u->opcode_base == 0) return false;
  u->std_lens = h.p;
  rd_skip(&h, u->opcode_base - 1u);
  u->dirs = h;
  if (u->version < 5) {  // skip the directory strings to find the file list
    const char *s;
    while ((s = rd_str(&h)) != NULL && *s) {}
    u->files = h;
  }
  return !h.bad;
}

// Reads one v5 attribute: a string form into *s, a constant into *num.
static void read_form(rd *r, const unit *u, uint64_t form, const char **s, uint64_t *num) {
  *s = NULL;
  *num = 0;
  switch (form) {
    case FORM_string: *s = rd_str(r); break;
    case FORM_line_strp: *s = sect_str(u->line_str, rd_u(r, u->dwarf64 ? 8 : 4)); break;
    case FORM_strp: *s = sect_str(u->str, rd_u(r, u->dwarf64 ? 8 : 4)); break;
    case FORM_udata: *num = rd_uleb(r); break;
    case FORM_sdata: (void)rd_sleb(r); break;
    case FORM_data1: *num = rd_u(r, 1); break;
    case FORM_data2: *num = rd_u(r, 2); break;
    case FORM_data4: *num = rd_u(r, 4); break;
    case FORM_data8: *num = rd_u(r, 8); break;
    case FORM_data16: rd_skip(r, 16); break;
    case FORM_block: rd_skip(r, rd_uleb(r)); break;
    case FORM_block1: rd_skip(r, rd_u(r, 1)); break;
    case FORM_block2: rd_skip(r, rd_u(r, 2)); break;
    case FORM_block4: rd_skip(r, rd_u(r, 4)); break;
    case FORM_strx: (void)rd_uleb(r); break;  // needs .debug_str_offsets: no name
    case FORM_strx1:
    case FORM_strx2:
    case FORM_strx3:
    case FORM_strx4: rd_skip(r, form - FORM_strx1 + 1u); break;
    default: rd_fail(r);
  }
}

// v5: walks an entry list (format, count, entries) at r to entry idx; gets its
// path and directory index. r ends past the list.
static bool v5_entry(rd *r, const unit *u, uint64_t idx, const char **path, uint64_t *dir) {
  unsigned nfmt = (unsigned)rd_u(r, 1);
  const uint8_t *fmt = r->p;
  for (unsigned i = 0; i < 2 * nfmt; i++) (void)rd_uleb(r);
  uint64_t count = rd_uleb(r);
  bool found = false;
  for (uint64_t e = 0; e < count && !r->bad; e++) {
    rd f = {fmt, r->end, false};
    for (unsigned i = 0; i < nfmt && !r->bad; i++) {
      uint64_t type = rd_uleb(&f), form = rd_uleb(&f);
      const char *s;
      uint64_t num;
      read_form(r, u, form, &s, &num);
      if (e != idx) continue;
      if (type == LNCT_path) *path = s;
      if (type == LNCT_directory_index) *dir = num;
      found = true;
    }
  }
  return found && !r->bad && *path;
}

// Writes file number idx of u, joined with its directory, into buf.
static bool unit_file(const unit *u, uint64_t idx, char *buf, size_t cap) {
  const char *name = NULL, *dir = NULL;
  uint64_t d = 0;
  if (u->version >= 5) {
    rd r = u->dirs;
    const char *ignored = NULL;
    uint64_t unused = 0;
    v5_entry(&r, u, UINT64_MAX, &ignored, &unused);  // skip the directories
    if (!v5_entry(&r, u, idx, &name, &d)) return false;
    if (d != 0) {
      rd dr = u->dirs;
      if (!v5_entry(&dr, u, d, &dir, &unused)) dir = NULL;
    }
  } else {
    rd r = u->files;
    for (uint64_t i = 1; !r.bad; i++) {
      const char *s = rd_str(&r);
      if (!s || !*s) return false;  // DW_LNE_define_file entries are not kept
      uint64_t di = rd_uleb(&r);
      (void)rd_uleb(&r);
      (void)rd_uleb(&r);
      if (i == idx) {
        name = s;
        d = di;
        break;
      }
    }
    if (!name) return false;
    rd dr = u->dirs;
    for (uint64_t i = 1; d && i <= d; i++) {
      const char *s = rd_str(&dr);
      if (!s || !*s) break;
      if (i == d) dir = s;
    }
  }
  // Directory 0 is the compilation directory: paths relative to it read best as they are.
  if (name[0] != '/' && d != 0 && dir && *dir) {
    xsmem_snprintf(buf, cap, "%s/%s", dir, name);
  } else {
    xsmem_snprintf(buf, cap, "%s", name);
  }
  return true;
}

// Runs u's program; on the row range holding addr, writes "file:line".
static bool unit_lookup(const unit *u, uint64_t addr, char *buf, size_t cap) {
  rd r = u->program;
  uint64_t a = 0, file = 1;
  int64_t line = 1;
  bool have_prev = false;
  uint64_t pa = 0, pfile = 0;
  int64_t pline = 0;
  const uint64_t const_add = (uint64_t)((255u - u->opcode_base) / u->line_range) * u->min_inst;
  while (r.p < r.end && !r.bad) {
    uint8_t op = *r.p++;
    bool emit = false, end_seq = false;
    if (op >= u->opcode_base) {
      unsigned adj = op - u->opcode_base;
      a += (uint64_t)(adj / u->line_range) * u->min_inst;
      line += u->line_base + (int)(adj % u->line_range);
      emit = true;
    } else if (op == 0) {
      uint64_t len = rd_uleb(&r);
      if (r.bad || len == 0 || len > (uint64_t)(r.end - r.p)) return false;
      const uint8_t *next = r.p + len;
      uint8_t sub = *r.p++;
      if (sub == LNE_end_sequence) {
        emit = end_seq = true;
      } else if (sub == LNE_set_address) {
        a = rd_u(&r, (unsigned)(len - 1));
      }
      r.p = next;
    } else {
      switch (op) {
        case LNS_copy: emit = true; break;
        case LNS_advance_pc: a += rd_uleb(&r) * u->min_inst; break;
        case LNS_advance_line: line += rd_sleb(&r); break;
        case LNS_set_file: file = rd_uleb(&r); break;
        case LNS_const_add_pc: a += const_add; break;
        case LNS_fixed_advance_pc: a += rd_u(&r, 2); break;
        case LNS_negate_stmt:
        case LNS_set_basic_block:
        case LNS_set_prologue_end:
        case LNS_set_epilogue_begin: break;
        default:  // set_column, set_isa and opcodes this reader does not know: skip their operands
          for (unsigned i = 0; i < u->std_lens[op - 1]; i++) (void)rd_uleb(&r);
      }
    }
    if (!emit) continue;
    if (have_prev && pa <= addr && addr < a) {
      if (!unit_file(u, pfile, buf, cap)) return false;
      size_t n = strlen(buf);
      xsmem_snprintf(buf + n, cap > n ? cap - n : 0, ":%lld", (long long)pline);
      return true;
    }
    if (end_seq) {
      have_prev = false;
      a = 0;
      file = 1;
      line = 1;
    } else {
      have_prev = true;
      pa = a;
      pfile = file;
      pline = line;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------

static sect find_section(const uint8_t *elf, size_t size, const Elf64_Shdr *sh, unsigned n, const sect *names,
                         const char *want) {
  for (unsigned i = 0; i < n; i++) {
    const char *nm = sect_str(names, sh[i].sh_name);
    if (!nm || strcmp(nm, want) != 0) continue;
    if (sh[i].sh_type == SHT_NOBITS || (sh[i].sh_flags & SHF_COMPRESSED) || sh[i].sh_offset > size ||
        sh[i].sh_size > size - sh[i].sh_offset) {
      break;
    }
    return (sect){elf + sh[i].sh_offset, (size_t)sh[i].sh_size};
  }
  return (sect){NULL, 0};
}

bool xsmem_dwarf_line(const uint8_t *elf, size_t size, uint64_t addr, char *buf, size_t cap) {
  if (!elf || size < sizeof(Elf64_Ehdr) || cap == 0) return false;
  const Elf64_Ehdr *eh = (const Elf64_Ehdr *)elf;
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff > size ||
      (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > size - eh->e_shoff || eh->e_shstrndx >= eh->e_shnum) {
    return false;
  }
  const Elf64_Shdr *sh = (const Elf64_Shdr *)(elf + eh->e_shoff);
  const Elf64_Shdr *ns = &sh[eh->e_shstrndx];
  if (ns->sh_offset > size || ns->sh_size > size - ns->sh_offset) return false;
  sect names = {elf + ns->sh_offset, (size_t)ns->sh_size};
  sect line = find_section(elf, size, sh, eh->e_shnum, &names, ".debug_line");
  if (!line.p) return false;
  sect line_str = find_section(elf, size, sh, eh->e_shnum, &names, ".debug_line_str");
  sect str = find_section(elf, size, sh, eh->e_shnum, &names, ".debug_str");
  return xsmem_dwarf_line_sections(line.p, line.n, line_str.p, line_str.n, str.p, str.n, addr, buf, cap);
}

bool xsmem_dwarf_line_sections(const uint8_t *debug_line, size_t line_n, const uint8_t *line_str_p, size_t line_str_n,
                               const uint8_t *str_p, size_t str_n, uint64_t addr, char *buf, size_t cap) {
  if (!debug_line || cap == 0) return false;
  sect line_str = {line_str_p, line_str_p ? line_str_n : 0};
  sect str = {str_p, str_p ? str_n : 0};
  rd r = {debug_line, debug_line + line_n, false};
  while (r.p < r.end && !r.bad) {
    unit u;
    memset(&u, 0, sizeof(u));
    u.line_str = &line_str;
    u.str = &str;
    if (unit_parse(&r, &u) && unit_lookup(&u, addr, buf, cap)) return true;
  }
  return false;
}
