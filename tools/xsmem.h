// tools/xsmem.h: the pieces the `xsmem` command's subcommands share.
//
// The tool runs outside the process it observes, so unlike the allocators and
// the exporter it uses malloc and stdio freely. It reads snapshots through
// export/snapshot.h (protobuf-c), finds the preloadable libraries in its
// Bazel runfiles (or only in XSMEM_LIB_DIR when that is set), symbolizes the
// stacks of a finished run from the mappings libxsmem_maps.so saved at its
// exit (symbolize.h), and writes every output file through export/output.h
// (a regular file to a temporary name renamed into place, so a failure never
// leaves a file written half-way; a device or FIFO in place).
//
// Exit statuses: 2 for usage errors (unknown subcommand, option or
// configuration), 1 for other failures (unreadable or corrupt snapshot,
// missing program, write error); `run` otherwise returns the program's own.
#ifndef XSMEM_TOOLS_XSMEM_H_
#define XSMEM_TOOLS_XSMEM_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "export/buf.h"
#include "export/xsmem_stats.pb-c.h"

#define XSMEM_EXIT_USAGE 2
#define XSMEM_EXIT_FAIL 1

// ---------------------------------------------------------------------------
// Messages: "xsmem: " + text on stderr (xsmem.c).
void tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// Returns s (at most n bytes of it) escaped for a terminal
// (xsmem_term_string: a snapshot's strings are any bytes, escape sequences
// included). The text lives until 16 more calls.
const char *tool_tty_n(const char *s, size_t n);
const char *tool_tty(const char *s);

// Returns "12.3 MiB"-style text in buf.
const char *tool_bytes(double bytes, char *buf, size_t n);
// Formats a count with a decimal unit (1234567 -> "1.23M").
const char *tool_count(double n, char *buf, size_t cap);

// Returns seconds from a monotonic clock.
double tool_now_s(void);

// ---------------------------------------------------------------------------
// Snapshots (snapshot_load.c; the text summary in stats.c).

// A loaded snapshot file: one snapshot, or a stream (series) of them; `last`
// is the one reported, `series` every record in order (for timelines).
typedef struct tool_snapshot {
  const char *path;
  xsmem_arena arena;
  Xsmem__Snapshot **series;
  size_t n_series;
  Xsmem__Snapshot *last;
  size_t refused;  // damaged records left out (each reported with its offset)
} tool_snapshot;

// Loads path into *out: every intact snapshot of the file. A damaged record
// is reported with its byte offset and left out (counted in refused: stats and
// report then exit 1 after their output); a stream cut short (its writer was
// killed, or the disk filled) is read up to the cut, with a warning. Returns
// false after printing why when nothing intact is left (unreadable, empty,
// corrupt, not an xsmem snapshot, over the size cap).
bool tool_snapshot_load(const char *path, tool_snapshot *out);
void tool_snapshot_free(tool_snapshot *s);

// Returns the allocator serving malloc in s (else the first one), or NULL.
const Xsmem__Allocator *tool_process_allocator(const Xsmem__Snapshot *s);

// Returns the detail value (group, label, key) of a, or NAN.
double tool_detail(const Xsmem__Allocator *a, const char *group, const char *label, const char *key);

// Prints the short text summary of s (allocators, call sites, leaks) to f;
// `top` call sites and leaks at most. at_exit: s was taken at exit, so what
// is still live is leaked. Leak records (the tracker's leak report by call
// site) are listed whenever present; without them an exit snapshot's leak
// line is summed from the live call sites, and a live one shows none.
void tool_print_summary(FILE *f, const Xsmem__Snapshot *s, size_t top, bool at_exit);

// ---------------------------------------------------------------------------
// Files (xsmem.c).

// Writes data to path by export/output.h's rules: a regular or new file
// through a temporary file in the same directory renamed into place, a link's
// target the same way, a device or FIFO in place, a directory refused.
// Returns false after printing why.
bool tool_write_atomic(const char *path, const void *data, size_t len);

// Copies src to dst atomically.
bool tool_copy_atomic(const char *src, const char *dst);

// ---------------------------------------------------------------------------
// Preload libraries and runfiles (libraries.c).

// Returns the path of libxsmem_<stem>.so (malloc'ed) or NULL when missing.
// Looks only in $XSMEM_LIB_DIR when it is set, else in PREFIX/lib for an
// installed PREFIX/bin/xsmem (//:install), in the runfiles of this binary,
// then beside it in bazel-bin.
char *tool_find_library(const char *stem);

// Fills names (malloc'ed strings, count returned) with the configurations
// that have a plain preload library (libxsmem_NAME.so), sorted.
size_t tool_list_configs(char ***names);

// Returns the path of a runfile (e.g. "tools/demo_workload.py"), or NULL.
// An installed PREFIX/bin/xsmem (//:install) looks for the file of that name
// in PREFIX/libexec/xsmem first; outside Bazel's runfiles (a copy of the
// tool), the file of that name beside the binary.
char *tool_find_runfile(const char *rel);

// ---------------------------------------------------------------------------
// HTML report (report.c).

// Renders the snapshots side by side into one self-contained HTML page
// (inline SVG and CSS, no scripts or network) appended to out.
void tool_render_report(FILE *out, tool_snapshot *snaps, size_t n);

// ---------------------------------------------------------------------------
// Subcommands, each in its own file (run.c, report.c, stats.c, bench.c,
// top.c, list.c).
// Help and usage errors, shared by the subcommands (xsmem.c).
// True for --help and -h.
bool tool_is_help(const char *arg);
// Prints cmd's usage on stdout; returns 0 (the exit status of --help).
int tool_help(const char *cmd);
// Says that arg is not an option of cmd, with the closest one (did you mean)
// and where the list is; returns the usage exit status.
int tool_usage_error(const char *cmd, const char *arg);
// Returns the word of words[0..n) closest to word (case-insensitive edit
// distance), or NULL when none is close enough to be a slip.
const char *tool_closest(const char *word, const char *const *words, size_t n);

int tool_cmd_run(int argc, char **argv);
int tool_cmd_report(int argc, char **argv);
int tool_cmd_stats(int argc, char **argv);
int tool_cmd_bench(int argc, char **argv);
int tool_cmd_top(int argc, char **argv);
int tool_cmd_list(int argc, char **argv);
int tool_cmd_history(int argc, char **argv);
// Returns whether name is a workload built into this binary (workloads.c),
// run as `xsmem __workload NAME [SCALE]`.
bool tool_is_builtin_workload(const char *name);
// Hidden helpers run in child processes (list.c: __describe, workloads.c:
// __workload).
int tool_cmd_describe(int argc, char **argv);
int tool_cmd_workload(int argc, char **argv);

#endif  // XSMEM_TOOLS_XSMEM_H_
