// tools/symbolize.h: code addresses of an exited process to names, with the
// symbolizer the in-process leak report uses (tracking/symbolizer.h): each
// frame as "function+0xoff (module+0xOFFSET) file:line", C++ names demangled,
// debug files found by build-id and .gnu_debuglink under the debug root.
// Frames are placed in their module from the snapshot itself (its modules and
// per-frame module offsets) or, for snapshots written before those fields,
// from the process's saved /proc/PID/maps.
#ifndef XSMEM_TOOLS_SYMBOLIZE_H_
#define XSMEM_TOOLS_SYMBOLIZE_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "export/buf.h"
#include "export/xsmem_stats.pb-c.h"

typedef struct tool_symbolizer tool_symbolizer;

// The debug directories (':'-separated) every symbolizer made afterwards
// searches; NULL: the XSMEM_DEBUG_ROOT option (default /usr/lib/debug).
void tool_symbolizer_set_debug_root(const char *root);

// Returns a symbolizer over the mappings listed in maps_path (the format of
// /proc/PID/maps), or NULL when the file cannot be read.
tool_symbolizer *tool_symbolizer_load(const char *maps_path);
// Returns a symbolizer over the modules s records, or NULL when it records
// none (a snapshot written before they were).
tool_symbolizer *tool_symbolizer_for_snapshot(const Xsmem__Snapshot *s);
void tool_symbolizer_free(tool_symbolizer *z);

// Writes the text of the frame whose return address is addr (placed through
// the maps) into buf: "function+0xoff (module+0xOFFSET) file:line" or a part
// of it, "0xaddr" in no mapping; *module_path (optional) gets the module's
// path or NULL.
const char *tool_symbolize(tool_symbolizer *z, uint64_t addr, char *buf, size_t n, const char **module_path);

// Demangles a C++ symbol name (__cxa_demangle); false when name is not one.
bool tool_demangle(const char *name, char *buf, size_t cap);

// Symbolizes the stacks of s's call sites and leak records: each that can be
// named gets, as its symbol, its frames one per line without the leading
// frames inside xsmem's own preloaded libraries (malloc, tracker); the text
// is allocated in arena. A stack keeps the symbol it has when the new text
// names fewer functions (the files are gone, or were rebuilt since).
void tool_symbolize_snapshot(tool_symbolizer *z, Xsmem__Snapshot *s, xsmem_arena *arena);

// What report and stats do with a snapshot: symbolize it from its own
// modules when it records them. Returns whether it did.
bool tool_symbolize_loaded(Xsmem__Snapshot *s, xsmem_arena *arena);

#endif  // XSMEM_TOOLS_SYMBOLIZE_H_
