// tracking/dwarf_line.h: code address -> source file and line, from the DWARF
// line table (.debug_line) of an ELF image already mapped in memory.
//
// Model: the leak report names frames in-process, at exit, where nothing may
// allocate or call back into the allocator. The symbolizer maps each module
// file read-only (report.c); this reader walks that image: the section
// headers for .debug_line (and .debug_line_str / .debug_str, where DWARF 5
// keeps the file names), then every line-number program, running its state
// machine (DWARF 2..5, 32- and 64-bit) until a row range [row, next row) of
// one sequence holds the address. No allocation, no stores outside the
// caller's buffer; every read is bounds-checked, so a corrupt or truncated
// file yields "not found", never a fault. xsmem_dwarf_line skips compressed
// sections (SHF_COMPRESSED); tracking/symbolizer.c inflates them, finds
// separate debug files, and hands the sections to xsmem_dwarf_line_sections.
// Cost: one pass over .debug_line per lookup (a few ms for a MiB of it);
// report.c caches answers by address.
#ifndef XSMEM_TRACKING_DWARF_LINE_H_
#define XSMEM_TRACKING_DWARF_LINE_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Looks up addr (an address in the image's own terms: module-relative for a
// shared object or PIE, absolute for ET_EXEC) in the ELF64 image [elf,
// elf+size). On success writes "path:line" into buf (the path as the
// compiler recorded it, joined with its include directory unless that is the
// compilation directory) and returns true.
bool xsmem_dwarf_line(const uint8_t *elf, size_t size, uint64_t addr, char *buf, size_t cap);

// The same over the sections themselves: .debug_line, and .debug_line_str
// and .debug_str (either may be NULL) where DWARF 5 keeps file names.
bool xsmem_dwarf_line_sections(const uint8_t *debug_line, size_t line_n, const uint8_t *line_str, size_t line_str_n,
                               const uint8_t *str, size_t str_n, uint64_t addr, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_TRACKING_DWARF_LINE_H_
