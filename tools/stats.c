// tools/stats.c: a snapshot's figures on the terminal: the text summary
// (`xsmem run` prints it after the program ends) and `xsmem stats`, which
// prints that summary or one of export's formats (JSON, Prometheus, CSV).
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "export/format.h"
#include "tools/symbolize.h"
#include "tools/xsmem.h"

// ---------------------------------------------------------------------------
// The text summary.

static const Xsmem__AllocatorStats kNoStats = XSMEM__ALLOCATOR_STATS__INIT;

void tool_print_summary(FILE *f, const Xsmem__Snapshot *s, size_t top, bool at_exit) {
  char b1[32], b2[32], b3[32], b4[32], b5[32];
  // Every string of a snapshot is escaped for the terminal (tool_tty).
  fprintf(f, "snapshot of pid %lld (%s), configuration '%s'\n", (long long)s->pid,
          s->cmdline[0] ? tool_tty(s->cmdline) : "?", s->config[0] ? tool_tty(s->config) : "none");
  // 80 columns: counts in k/M/G, bytes with binary units. Reserved address
  // space is no memory: it is shown apart, below the table.
  fprintf(f, "  %-15s %7s %7s %9s %9s %9s %9s %5s\n", "allocator", "allocs", "frees", "in use", "peak", "cached",
          "committed", "frag");
  char c1[16], c2[16];
  for (size_t i = 0; i < s->n_allocators; i++) {
    const Xsmem__Allocator *a = s->allocators[i];
    const Xsmem__AllocatorStats *st = a->stats ? a->stats : &kNoStats;
    fprintf(
        f, "%c %-15s %7s %7s %9s %9s %9s %9s %4.1f%%\n", a->process_allocator ? '*' : ' ', tool_tty(a->name),
        tool_count((double)st->num_allocs, c1, sizeof c1), tool_count((double)st->num_frees, c2, sizeof c2),
        tool_bytes((double)st->bytes_in_use, b1, sizeof b1), tool_bytes((double)st->peak_bytes_in_use, b2, sizeof b2),
        tool_bytes((double)st->bytes_cached, b4, sizeof b4),
        st->bytes_committed ? tool_bytes((double)st->bytes_committed, b5, sizeof b5) : "-", 100.0 * st->fragmentation);
  }
  // Within 80 columns, broken between allocators, never inside a figure.
  int col = fprintf(f, "  reserved address space (not memory):");
  for (size_t i = 0; i < s->n_allocators; i++) {
    const Xsmem__AllocatorStats *st = s->allocators[i]->stats ? s->allocators[i]->stats : &kNoStats;
    char item[96];
    int n = snprintf(item, sizeof item, "%s %s", tool_tty(s->allocators[i]->name),
                     tool_bytes((double)st->bytes_reserved, b3, sizeof b3));
    if (i && col + 2 + n > 80) col = fprintf(f, ",\n    %s", item) - 2;
    else col += fprintf(f, "%s %s", i ? "," : "", item);
  }
  fputc('\n', f);
  if (s->os) {
    // os_vm counts address space: its read-write part is not all touched, so
    // it is no memory figure (the table's committed column is).
    fprintf(f, "  os_vm address space: %s mapped, %s of it read-write, %llu maps, %llu unmaps\n",
            tool_bytes((double)s->os->bytes_reserved, b1, sizeof b1),
            tool_bytes((double)s->os->bytes_committed, b2, sizeof b2), (unsigned long long)s->os->num_maps,
            (unsigned long long)s->os->num_unmaps);
  }
  for (size_t i = 0; i < s->n_alerts; i++) {
    const Xsmem__Alert *al = s->alerts[i];
    if (al->active)
      fprintf(f, "  ALERT %s on %s: %g > %g. %s\n", tool_tty(al->name), tool_tty(al->allocator), al->value,
              al->threshold, tool_tty(al->recommendation));
  }
  if (!s->analysis_source[0]) {
    fprintf(f, "  call sites and leaks: not tracked (use a *_tracked configuration or --track sample|full)\n");
    return;
  }
  fprintf(f, "  top call sites by live bytes (%s):\n", tool_tty(s->analysis_source));
  if (s->n_call_sites == 0) fprintf(f, "    none\n");
  for (size_t i = 0; i < s->n_call_sites && i < top; i++) {
    const Xsmem__CallSite *c = s->call_sites[i];
    // A symbolized stack holds one frame per line: the first names the site.
    fprintf(f, "    %10s live in %6llu blocks, %10s in %8llu allocations  %s\n",
            tool_bytes((double)c->live_bytes, b1, sizeof b1), (unsigned long long)c->live_count,
            tool_bytes((double)c->bytes, b2, sizeof b2), (unsigned long long)c->count,
            c->symbol[0] ? tool_tty_n(c->symbol, strcspn(c->symbol, "\n")) : "?");
  }
  // Leak records: the tracker's leak report (one per call site, largest
  // first), or single blocks (count 0 or 1 with an address) from other providers.
  double leaked = 0, leaked_blocks = 0;
  for (size_t i = 0; i < s->n_leaks; i++) {
    leaked += (double)s->leaks[i]->size;
    leaked_blocks += (double)(s->leaks[i]->count ? s->leaks[i]->count : 1);
  }
  if (s->n_leaks) {
    fprintf(f, "  %s: %s in %.0f blocks from %zu %s\n",
            at_exit ? "leaks (unfreed at exit)" : "unfreed when the snapshot was taken",
            tool_bytes(leaked, b3, sizeof b3), leaked_blocks, s->n_leaks,
            s->leaks[0]->address ? "records" : "call sites");
    for (size_t i = 0; i < s->n_leaks && i < top; i++) {
      const Xsmem__Leak *l = s->leaks[i];
      char at[40] = "";
      if (l->address) snprintf(at, sizeof at, " at 0x%llx", (unsigned long long)l->address);
      // The tracker's classification, where the snapshot has one.
      const char *kind = !l->kind         ? ""
          : !strcmp(l->kind, "definite")  ? "  (definitely lost)"
          : !strcmp(l->kind, "indirect")  ? "  (indirectly lost)"
          : !strcmp(l->kind, "reachable") ? "  (still reachable)"
                                          : "";
      fprintf(f, "    %10s in %6llu blocks%s  %s%s\n", tool_bytes((double)l->size, b4, sizeof b4),
              (unsigned long long)(l->count ? l->count : 1), at,
              l->symbol[0] ? tool_tty_n(l->symbol, strcspn(l->symbol, "\n")) : "?", kind);
    }
    if (s->n_leaks > top) fprintf(f, "    ... and %zu more\n", s->n_leaks - top);
    return;
  }
  if (!at_exit) return;
  // The exit snapshot's live call sites are the unfreed blocks by call site.
  double live = 0, blocks = 0;
  size_t sites = 0;
  for (size_t i = 0; i < s->n_call_sites; i++) {
    if (!s->call_sites[i]->live_count) continue;
    live += (double)s->call_sites[i]->live_bytes;
    blocks += (double)s->call_sites[i]->live_count;
    sites++;
  }
  fprintf(f, "  leaks (unfreed when the snapshot was taken, by call site): %s in %.0f blocks from %zu sites%s\n",
          tool_bytes(live, b3, sizeof b3), blocks, sites, sites ? " (largest above)" : "");
}

// ---------------------------------------------------------------------------
// stats SNAPSHOT [--format text|json|prometheus|csv]

int tool_cmd_stats(int argc, char **argv) {
  const char *path = NULL, *fmt = "text";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--format") && i + 1 < argc) fmt = argv[++i];
    else if (!strncmp(argv[i], "--format=", 9)) fmt = argv[i] + 9;
    else if (!strcmp(argv[i], "--debug-root") && i + 1 < argc) tool_symbolizer_set_debug_root(argv[++i]);
    else if (tool_is_help(argv[i])) return tool_help("stats");
    else if (argv[i][0] == '-' && argv[i][1]) return tool_usage_error("stats", argv[i]);
    else if (!path) path = argv[i];
    else {
      tool_error("stats: one snapshot at a time (got '%s' and '%s')", path, argv[i]);
      return XSMEM_EXIT_USAGE;
    }
  }
  if (!path) {
    tool_error("usage: xsmem stats SNAPSHOT [--format text|json|prometheus|csv]");
    return XSMEM_EXIT_USAGE;
  }
  if (strcmp(fmt, "text") && strcmp(fmt, "json") && strcmp(fmt, "prometheus") && strcmp(fmt, "csv")) {
    tool_error("stats: unknown format '%s' (text, json, prometheus, csv)", fmt);
    return XSMEM_EXIT_USAGE;
  }
  tool_snapshot snap;
  if (!tool_snapshot_load(path, &snap)) return XSMEM_EXIT_FAIL;
  tool_symbolize_loaded(snap.last, &snap.arena);  // names from the recorded modules' files
  if (!strcmp(fmt, "text")) {
    tool_print_summary(stdout, snap.last, 10, true);
  } else {
    xsmem_buf b = XSMEM_BUF_INIT;
    if (!strcmp(fmt, "json")) {
      xsmem_json_snapshot(snap.last, &b);
      xsmem_buf_puts(&b, "\n");
    } else if (!strcmp(fmt, "prometheus")) {
      xsmem_prometheus(snap.last, &b);
    } else {
      xsmem_csv_timeline(snap.last, &b);
    }
    if (b.failed) {
      tool_error("stats: out of memory rendering %s", fmt);
      xsmem_buf_free(&b);
      tool_snapshot_free(&snap);
      return XSMEM_EXIT_FAIL;
    }
    fwrite(b.data ? b.data : "", 1, b.len, stdout);
    xsmem_buf_free(&b);
  }
  size_t refused = snap.refused;
  tool_snapshot_free(&snap);
  // A full disk or a closed stdout: fwrite of a large block writes through
  // and only sets the error flag, which fflush alone does not report.
  if (fflush(stdout) != 0 || ferror(stdout)) {
    tool_error("stats: cannot write the output: %s", strerror(errno ? errno : EIO));
    return XSMEM_EXIT_FAIL;
  }
  return refused ? XSMEM_EXIT_FAIL : 0;
}
