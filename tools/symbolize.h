// tools/symbolize.h: code addresses of an exited process to function names,
// from its saved /proc/PID/maps and the ELF symbol tables of its modules.
#ifndef XSMEM_TOOLS_SYMBOLIZE_H_
#define XSMEM_TOOLS_SYMBOLIZE_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "export/buf.h"
#include "export/xsmem_stats.pb-c.h"

typedef struct tool_symbolizer tool_symbolizer;

// Returns a symbolizer over the mappings listed in maps_path (the format of
// /proc/PID/maps), or NULL when the file cannot be read.
tool_symbolizer *tool_symbolizer_load(const char *maps_path);
void tool_symbolizer_free(tool_symbolizer *z);

// Writes "function+0xoff (module)", "module+0xoff" or "0xaddr" into buf, the
// first two followed by " file:line" where the module has a DWARF line
// table, and returns buf; *module_path (optional) gets the module's path or NULL.
const char *tool_symbolize(tool_symbolizer *z, uint64_t addr, char *buf, size_t n, const char **module_path);

// Symbolizes the stacks of s's call sites and leak records: each that can be
// named gets, as its symbol, its frames one per line without the leading
// frames inside xsmem's own preloaded libraries (malloc, tracker); the text
// is allocated in arena.
void tool_symbolize_snapshot(tool_symbolizer *z, Xsmem__Snapshot *s, xsmem_arena *arena);

#endif  // XSMEM_TOOLS_SYMBOLIZE_H_
