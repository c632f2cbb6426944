// tools/run_internal.h: what `xsmem run` (run.c) shares with the files it
// was split into: the checks made on a program before an allocator is
// preloaded into it (program_check.c) and the perf_event_open counters of
// --counters (counters.c). Private to tools/.
#ifndef XSMEM_TOOLS_RUN_INTERNAL_H_
#define XSMEM_TOOLS_RUN_INTERNAL_H_

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

// ---------------------------------------------------------------------------
// Checking the program (program_check.c).

// Returns the executable path of cmd (searching PATH when it has no '/'),
// malloc'ed, or NULL.
char *run_resolve_program(const char *cmd);

// Returns the sanitizer ("asan", "tsan", ...) whose runtime `name` (a
// DT_NEEDED entry, a symbol or an LD_PRELOAD value) names, or NULL. The text
// lives until the next call.
const char *run_sanitizer_in(const char *name);

// Returns NULL when `path` can run with a preloaded allocator, else why not
// (in why, n bytes): a static binary never reads LD_PRELOAD, and a sanitizer
// runtime replaces malloc itself. `#!` scripts are checked through their
// interpreter (through env as well).
const char *run_check_program(const char *path, char *why, size_t n);

// ---------------------------------------------------------------------------
// Hardware and software counters (counters.c).

// Opens the counters on child, a process that has not exec'ed yet
// (enable_on_exec, inherited by its threads and children). A counter the
// machine refuses stays closed and is shown as "not available".
void run_counters_open(pid_t child);

// Prints every counter's value to f, then closes them.
void run_counters_print(FILE *f);

#endif  // XSMEM_TOOLS_RUN_INTERNAL_H_
