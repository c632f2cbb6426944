// tracking/symbolizer.h: one frame of a module to "function+0xoff
// (module+0xOFFSET) file:line", from the module's ELF file and its separate
// debug file; shared by the in-process leak report (tracking/report.c) and
// the tools that symbolize a finished process (tools/symbolize.c).
//
// Model. A module is opened once: its file is mapped read-only (mmap, never
// malloc, so the in-process report can use it at exit), its GNU build-id read
// from the .note.gnu.build-id section (or a PT_NOTE), and its separate debug
// file searched as gdb does, in every debug directory of the root list (the
// XSMEM_DEBUG_ROOT option, ':'-separated, default /usr/lib/debug):
//   DIR/.build-id/ab/cdef....debug          (by build-id, which must match)
//   MODULEDIR/NAME, MODULEDIR/.debug/NAME, DIR/MODULEDIR/NAME
//                                           (by .gnu_debuglink NAME, CRC32 checked)
// Names come from the module's .symtab, then its .dynsym, then the debug
// file's .symtab; file:line from the .debug_line of the module, or else of the
// debug file (tracking/dwarf_line.h). Compressed sections (SHF_COMPRESSED,
// zlib, as Debian's -dbgsym and libc6-dbg files have them) are inflated once
// into anonymous mappings (zlib's state is mapped too: nothing goes through
// malloc).
//
// Addresses. OFFSET is the frame's link-time address: address - load bias
// (the bias is 0 for a non-PIE executable, the base address of a shared
// object or PIE). Frames are return addresses: the lookup is at OFFSET - 1
// (inside the call instruction), the printed OFFSET is the return address's
// own, so the same frame prints the same text in the preload report,
// `xsmem run`, report, stats and the dashboard.
//
// Every read of a file is bounds-checked: a truncated or corrupt file (module
// or debug file) gives fewer names, never a fault. Not thread-safe per
// module: callers lock around a module.
#ifndef XSMEM_TRACKING_SYMBOLIZER_H_
#define XSMEM_TRACKING_SYMBOLIZER_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  XSMEM_BUILD_ID_MAX = 64,  // bytes (GNU ld writes 20: SHA-1)
  XSMEM_SYM_PATH_MAX = 512,
};

// An ELF64 file mapped read-only.
typedef struct xsmem_elf {
  const uint8_t *map;  // NULL: none
  size_t size;
} xsmem_elf;

// A section's contents, maybe inflated into a mapping of its own.
typedef struct xsmem_elf_sect {
  const uint8_t *p;
  size_t n;
  bool mapped;  // p is an anonymous mapping of n bytes to unmap
} xsmem_elf_sect;

typedef struct xsmem_sym_module {
  char path[XSMEM_SYM_PATH_MAX];
  xsmem_elf file;   // the module
  xsmem_elf debug;  // its separate debug file (map NULL when none found)
  char debug_path[XSMEM_SYM_PATH_MAX];
  uint8_t build_id[XSMEM_BUILD_ID_MAX];
  size_t build_id_len;
  // The line table's sections, from the file that has .debug_line; read at
  // the first line lookup.
  bool dwarf_read;
  xsmem_elf_sect line, line_str, str;
} xsmem_sym_module;

// Maps path (and looks for its debug file under the directories of
// debug_root, ':'-separated; NULL or "" means /usr/lib/debug). Returns false
// when path is not a readable ELF64 file (m is then closed, safe to close
// again). expect_id (optional, expect_len bytes): the build-id the caller
// knows the module by (from a snapshot); a file with another build-id is
// refused, as it is not the module that ran.
bool xsmem_sym_open(xsmem_sym_module *m, const char *path, const char *debug_root, const uint8_t *expect_id,
                    size_t expect_len);
void xsmem_sym_close(xsmem_sym_module *m);

// The name of the function holding the link-time address vaddr (raw, as the
// symbol table has it: C++ names mangled) and its start. False when none.
bool xsmem_sym_function(const xsmem_sym_module *m, uint64_t vaddr, const char **name, uint64_t *start);

// Writes "file:line" of the link-time address vaddr. False when no line table covers it.
bool xsmem_sym_line(xsmem_sym_module *m, uint64_t vaddr, char *buf, size_t cap);

// Demangles a C++ name into buf; false to keep the name as it is.
typedef bool (*xsmem_demangle_fn)(const char *name, char *buf, size_t cap);

// Writes the frame whose return address has the link-time address offset in
// module m (NULL: module unknown, only "module_name+0xOFFSET") as
//   "function+0xoff (module_name+0xOFFSET) file:line"
// leaving out what is not known ("module_name+0xOFFSET file:line" without a
// function). demangle may be NULL. Returns buf.
const char *xsmem_sym_frame(xsmem_sym_module *m, const char *module_name, uint64_t offset, xsmem_demangle_fn demangle,
                            char *buf, size_t cap);

// The GNU build-id of an ELF image; its length (0 when none).
size_t xsmem_elf_build_id(const xsmem_elf *e, uint8_t *out, size_t cap);

// The GNU build-id in the ELF notes at [p, p+n) (a PT_NOTE segment or
// SHT_NOTE section, in a file or in memory); its length (0 when none).
size_t xsmem_notes_build_id(const uint8_t *p, size_t n, uint8_t *out, size_t cap);

// The last path component of path.
const char *xsmem_sym_basename(const char *path);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_TRACKING_SYMBOLIZER_H_
