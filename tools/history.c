// tools/history.c: `xsmem history`, snapshots kept in an SQLite database for
// trends across runs (issue 22).
//
//   xsmem history add SNAPSHOT...        store each (its last record, as `stats` reports)
//   xsmem history list                   the stored runs
//   xsmem history trend METRIC           a metric over time, per program and configuration
//   xsmem history diff RUN1 RUN2         two runs, per allocator and per call site
//
// The database is one file: --db PATH, else $XDG_DATA_HOME/xsmem/history.db,
// else ~/.local/share/xsmem/history.db (the XDG base directory default). Its
// tables (python/xsmem/history.py reads the
// same ones, so a change here is a change there and a new user_version):
//   runs(id, host, program, config, time_unix_ns, pid, cmdline, sequence,
//        source, added_unix_ns, snapshot)   snapshot: the packed xsmem.Snapshot
//   allocators(run, name, kind, config, process)
//   stats(run, allocator, metric, value)      every AllocatorStats field
//   call_sites(run, rank, symbol, count, bytes, live_count, live_bytes)
// A snapshot carries no host name: a run's host is the machine that adds it,
// unless --host says otherwise. Its program is the base name of the command
// line's first word (--program overrides), its time the snapshot's wall clock.
//
// One `add` is one transaction: every file is read and checked first, and a
// damaged one (unreadable, corrupt, or a stream with a damaged record) is
// refused by name before anything is written, so the database never holds half
// of an add. A snapshot already stored (same host, pid, time and sequence) is
// skipped with a note, so adding a directory's files again is harmless.
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "export/snapshot.h"
#include "tools/xsmem.h"

enum { SCHEMA_VERSION = 1 };

static const char kSchema[] =
    "CREATE TABLE IF NOT EXISTS runs ("
    "  id INTEGER PRIMARY KEY, host TEXT NOT NULL, program TEXT NOT NULL, config TEXT NOT NULL,"
    "  time_unix_ns INTEGER NOT NULL, pid INTEGER NOT NULL, cmdline TEXT NOT NULL,"
    "  sequence INTEGER NOT NULL, source TEXT NOT NULL, added_unix_ns INTEGER NOT NULL,"
    "  snapshot BLOB NOT NULL, UNIQUE (host, pid, time_unix_ns, sequence));"
    "CREATE TABLE IF NOT EXISTS allocators ("
    "  run INTEGER NOT NULL REFERENCES runs(id), name TEXT NOT NULL, kind TEXT NOT NULL,"
    "  config TEXT NOT NULL, process INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS stats ("
    "  run INTEGER NOT NULL REFERENCES runs(id), allocator TEXT NOT NULL, metric TEXT NOT NULL,"
    "  value REAL NOT NULL);"
    "CREATE TABLE IF NOT EXISTS call_sites ("
    "  run INTEGER NOT NULL REFERENCES runs(id), rank INTEGER NOT NULL, symbol TEXT NOT NULL,"
    "  count INTEGER NOT NULL, bytes INTEGER NOT NULL, live_count INTEGER NOT NULL,"
    "  live_bytes INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS runs_by_program ON runs (program, config, time_unix_ns);"
    "CREATE INDEX IF NOT EXISTS stats_by_run ON stats (run, metric);"
    "CREATE INDEX IF NOT EXISTS call_sites_by_run ON call_sites (run);";

// The AllocatorStats fields, in the proto's order (the X-macro's names).
static const char *const kMetrics[] = {
#define XSMEM_STAT_NAME(type, name, kind, help) #name,
    XSMEM_STAT_FIELDS(XSMEM_STAT_NAME)
#undef XSMEM_STAT_NAME
};

typedef struct options {
  const char *db, *host, *program, *config, *allocator;
  const char *args[64];
  size_t n_args;
} options;

// Parses argv[1..] (argv[0] is the action) into o; returns 0 or an exit status.
static int parse(int argc, char **argv, options *o) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char **slot = !strcmp(a, "--db") ? &o->db
        : !strcmp(a, "--host")             ? &o->host
        : !strcmp(a, "--program")          ? &o->program
        : !strcmp(a, "--config")           ? &o->config
        : !strcmp(a, "--allocator")        ? &o->allocator
                                           : NULL;
    if (slot) {
      if (i + 1 >= argc) {
        tool_error("history: %s needs a value", a);
        return XSMEM_EXIT_USAGE;
      }
      *slot = argv[++i];
    } else if (a[0] == '-' && a[1]) {
      return tool_usage_error("history", a);
    } else if (o->n_args < XSMEM_ARRAY_SIZE(o->args)) {
      o->args[o->n_args++] = a;
    } else {
      tool_error("history: more than %zu arguments (add them in several runs)", XSMEM_ARRAY_SIZE(o->args));
      return XSMEM_EXIT_USAGE;
    }
  }
  return 0;
}

// The default database path (see the file comment) in buf.
static const char *default_db(char *buf, size_t cap) {
  const char *xdg = getenv("XDG_DATA_HOME");
  // The XDG spec: a relative XDG_DATA_HOME is invalid and ignored.
  if (xdg && xdg[0] == '/') snprintf(buf, cap, "%s/xsmem/history.db", xdg);
  else snprintf(buf, cap, "%s/.local/share/xsmem/history.db", getenv("HOME") ? getenv("HOME") : ".");
  return buf;
}

// mkdir -p of path's directory (the default location may not exist yet).
static void make_parents(const char *path) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    mkdir(dir, 0755);  // an existing one is fine; a real failure shows at open
    *p = '/';
  }
}

// Opens the database; create: make it (and its directory) when missing.
static sqlite3 *open_db(const char *path, bool create) {
  if (create) make_parents(path);
  sqlite3 *db = NULL;
  int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
  if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
    if (!create && access(path, F_OK) != 0) {
      tool_error("history: no database at %s (xsmem history add creates it)", path);
    } else {
      tool_error("history: cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
    }
    sqlite3_close(db);
    return NULL;
  }
  sqlite3_busy_timeout(db, 5000);  // another `add` holding the lock: wait for it
  char *err = NULL;
  int version = -1;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    version = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  if (version == -1) {
    tool_error("history: %s is not an SQLite database: %s", path, sqlite3_errmsg(db));
    sqlite3_close(db);
    return NULL;
  }
  if (version > SCHEMA_VERSION) {
    tool_error("history: %s was written by a newer xsmem (schema %d; this one reads %d)", path, version,
               SCHEMA_VERSION);
    sqlite3_close(db);
    return NULL;
  }
  if (version == 0) {
    char sql[sizeof kSchema + 64];
    snprintf(sql, sizeof sql, "BEGIN;%sPRAGMA user_version=%d;COMMIT;", kSchema, SCHEMA_VERSION);
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
      tool_error("history: cannot create the tables in %s: %s", path, err);
      sqlite3_free(err);
      sqlite3_close(db);
      return NULL;
    }
  }
  return db;
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    tool_error("history: %s", sqlite3_errmsg(db));
    return NULL;
  }
  return st;
}

// The program's name from a command line: the first word's base name.
static void program_of(const char *cmdline, char *out, size_t cap) {
  size_t n = strcspn(cmdline, " ");
  const char *p = cmdline;
  for (const char *q = cmdline; q < cmdline + n; q++)
    if (*q == '/') p = q + 1;
  snprintf(out, cap, "%.*s", (int)(cmdline + n - p), p);
  if (!out[0]) snprintf(out, cap, "?");
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// Stores one snapshot in the open transaction; returns 1 stored, 0 already
// there, -1 on a database error (reported).
static int store(sqlite3 *db, const options *o, const char *host, const char *path, const Xsmem__Snapshot *s) {
  char program[256];
  if (o->program) snprintf(program, sizeof program, "%s", o->program);
  else program_of(s->cmdline, program, sizeof program);
  sqlite3_stmt *st = prepare(db, "SELECT id FROM runs WHERE host=? AND pid=? AND time_unix_ns=? AND sequence=?");
  if (!st) return -1;
  sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, s->pid);
  sqlite3_bind_int64(st, 3, (int64_t)s->time_unix_ns);
  sqlite3_bind_int64(st, 4, (int64_t)s->sequence);
  if (sqlite3_step(st) == SQLITE_ROW) {
    printf("%s: already stored as run %lld, skipped\n", tool_tty(path), (long long)sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    return 0;
  }
  sqlite3_finalize(st);

  xsmem_buf packed = XSMEM_BUF_INIT;
  if (!xsmem_snapshot_pack(s, false, &packed)) {
    tool_error("history: %s: cannot pack the snapshot again: out of memory", path);
    xsmem_buf_free(&packed);
    return -1;
  }
  st = prepare(db,
               "INSERT INTO runs (host, program, config, time_unix_ns, pid, cmdline, sequence, source, "
               "added_unix_ns, snapshot) VALUES (?,?,?,?,?,?,?,?,?,?)");
  if (!st) {
    xsmem_buf_free(&packed);
    return -1;
  }
  sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, program, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, s->config, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, (int64_t)s->time_unix_ns);
  sqlite3_bind_int64(st, 5, s->pid);
  sqlite3_bind_text(st, 6, s->cmdline, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 7, (int64_t)s->sequence);
  sqlite3_bind_text(st, 8, path, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 9, now_ns());
  sqlite3_bind_blob64(st, 10, packed.data ? packed.data : "", packed.len, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  xsmem_buf_free(&packed);
  if (rc != SQLITE_DONE) {
    tool_error("history: %s: %s", path, sqlite3_errmsg(db));
    return -1;
  }
  sqlite3_int64 run = sqlite3_last_insert_rowid(db);

  sqlite3_stmt *al = prepare(db, "INSERT INTO allocators VALUES (?,?,?,?,?)");
  sqlite3_stmt *sv = prepare(db, "INSERT INTO stats VALUES (?,?,?,?)");
  sqlite3_stmt *cs = prepare(db, "INSERT INTO call_sites VALUES (?,?,?,?,?,?,?)");
  bool ok = al && sv && cs;
  for (size_t i = 0; ok && i < s->n_allocators; i++) {
    const Xsmem__Allocator *a = s->allocators[i];
    sqlite3_reset(al);
    sqlite3_bind_int64(al, 1, run);
    sqlite3_bind_text(al, 2, a->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(al, 3, a->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(al, 4, a->config, -1, SQLITE_STATIC);
    sqlite3_bind_int(al, 5, a->process_allocator);
    ok = sqlite3_step(al) == SQLITE_DONE;
    for (size_t m = 0; ok && a->stats && m < XSMEM_ARRAY_SIZE(kMetrics); m++) {
      double v;
      if (!xsmem_snapshot_stat_get(a->stats, kMetrics[m], &v)) continue;
      sqlite3_reset(sv);
      sqlite3_bind_int64(sv, 1, run);
      sqlite3_bind_text(sv, 2, a->name, -1, SQLITE_STATIC);
      sqlite3_bind_text(sv, 3, kMetrics[m], -1, SQLITE_STATIC);
      sqlite3_bind_double(sv, 4, v);
      ok = sqlite3_step(sv) == SQLITE_DONE;
    }
  }
  for (size_t i = 0; ok && i < s->n_call_sites; i++) {
    const Xsmem__CallSite *c = s->call_sites[i];
    sqlite3_reset(cs);
    sqlite3_bind_int64(cs, 1, run);
    sqlite3_bind_int64(cs, 2, (int64_t)i + 1);
    sqlite3_bind_text(cs, 3, c->symbol, -1, SQLITE_STATIC);
    sqlite3_bind_int64(cs, 4, (int64_t)c->count);
    sqlite3_bind_int64(cs, 5, (int64_t)c->bytes);
    sqlite3_bind_int64(cs, 6, (int64_t)c->live_count);
    sqlite3_bind_int64(cs, 7, (int64_t)c->live_bytes);
    ok = sqlite3_step(cs) == SQLITE_DONE;
  }
  if (!ok) tool_error("history: %s: %s", path, sqlite3_errmsg(db));
  sqlite3_finalize(al);
  sqlite3_finalize(sv);
  sqlite3_finalize(cs);
  if (ok) {
    char b[32];
    printf("%s: stored as run %lld (%s, %s, %s in use)\n", tool_tty(path), (long long)run, tool_tty(program),
           s->config[0] ? tool_tty(s->config) : "no configuration",
           tool_bytes((double)(tool_process_allocator(s) && tool_process_allocator(s)->stats
                                   ? tool_process_allocator(s)->stats->bytes_in_use
                                   : 0),
                      b, sizeof b));
  }
  return ok ? 1 : -1;
}

static int cmd_add(const options *o, const char *db_path) {
  if (o->n_args == 0) {
    tool_error("history add: name at least one snapshot file");
    return XSMEM_EXIT_USAGE;
  }
  // Every file read and checked before the database is touched.
  tool_snapshot *snaps = calloc(o->n_args, sizeof(*snaps));
  int status = 0;
  size_t loaded = 0;
  for (; loaded < o->n_args; loaded++) {
    // tool_snapshot_load says what is wrong (with the byte offset); a stream
    // with a damaged record is refused too, though its other records read.
    bool ok = tool_snapshot_load(o->args[loaded], &snaps[loaded]);
    if (!ok || snaps[loaded].refused) {
      tool_error("history add: %s is damaged: nothing stored", o->args[loaded]);
      status = XSMEM_EXIT_FAIL;
      if (ok) loaded++;  // freed below
      break;
    }
  }
  char host[256] = "";
  if (o->host) snprintf(host, sizeof host, "%s", o->host);
  else if (gethostname(host, sizeof host - 1) != 0 || !host[0]) snprintf(host, sizeof host, "unknown");
  sqlite3 *db = status ? NULL : open_db(db_path, true);
  if (!status && !db) status = XSMEM_EXIT_FAIL;
  if (db) {
    // One transaction for the whole add: all of it is stored, or none.
    bool ok = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
    if (!ok) tool_error("history: %s: %s", db_path, sqlite3_errmsg(db));
    for (size_t i = 0; ok && i < o->n_args; i++) ok = store(db, o, host, o->args[i], snaps[i].last) >= 0;
    if (ok && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
      tool_error("history: %s: %s", db_path, sqlite3_errmsg(db));
      ok = false;
    }
    if (!ok) {
      sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
      tool_error("history add: nothing stored in %s", db_path);
      status = XSMEM_EXIT_FAIL;
    }
    sqlite3_close(db);
  }
  for (size_t i = 0; i < loaded; i++) tool_snapshot_free(&snaps[i]);
  free(snaps);
  return status;
}

static void format_time(int64_t unix_ns, char *buf, size_t cap) {
  time_t t = (time_t)(unix_ns / 1000000000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
}

// Binds the optional --program / --config filters as ?1 and ?2 (NULL: any).
static void bind_filters(sqlite3_stmt *st, const options *o) {
  if (o->program) sqlite3_bind_text(st, 1, o->program, -1, SQLITE_STATIC);
  if (o->config) sqlite3_bind_text(st, 2, o->config, -1, SQLITE_STATIC);
}

static const char *col(sqlite3_stmt *st, int i) {
  const unsigned char *t = sqlite3_column_text(st, i);
  return t ? (const char *)t : "";
}

static int cmd_list(sqlite3 *db, const options *o) {
  sqlite3_stmt *st =
      prepare(db,
              "SELECT r.id, r.time_unix_ns, r.host, r.program, r.config, r.pid,"
              "  (SELECT s.value FROM allocators a JOIN stats s ON s.run = a.run AND s.allocator = a.name"
              "   WHERE a.run = r.id AND s.metric = 'peak_bytes_in_use'"
              "   ORDER BY a.process DESC, a.rowid LIMIT 1), r.source"
              " FROM runs r WHERE (?1 IS NULL OR r.program = ?1) AND (?2 IS NULL OR r.config = ?2)"
              " ORDER BY r.time_unix_ns, r.id");
  if (!st) return XSMEM_EXIT_FAIL;
  bind_filters(st, o);
  printf("%5s  %-19s  %-12s  %-12s  %-14s %8s %10s  %s\n", "run", "time (UTC)", "host", "program", "config", "pid",
         "peak", "source");
  int n = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    char t[32], b[32];
    format_time(sqlite3_column_int64(st, 1), t, sizeof t);
    printf("%5lld  %-19s  %-12s  %-12s  %-14s %8lld %10s  %s\n", (long long)sqlite3_column_int64(st, 0), t,
           tool_tty(col(st, 2)), tool_tty(col(st, 3)), col(st, 4)[0] ? tool_tty(col(st, 4)) : "-",
           (long long)sqlite3_column_int64(st, 5), tool_bytes(sqlite3_column_double(st, 6), b, sizeof b),
           tool_tty(col(st, 7)));
    n++;
  }
  sqlite3_finalize(st);
  if (!n) printf("(no runs%s)\n", o->program || o->config ? " match" : " stored yet: xsmem history add SNAPSHOT");
  return 0;
}

static bool known_metric(const char *m) {
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(kMetrics); i++)
    if (!strcmp(kMetrics[i], m)) return true;
  return false;
}

static bool is_bytes(const char *metric) { return strstr(metric, "bytes") || strstr(metric, "size"); }

static int cmd_trend(sqlite3 *db, const options *o) {
  if (o->n_args != 1) {
    tool_error("history trend: name one METRIC (xsmem history --help lists them)");
    return XSMEM_EXIT_USAGE;
  }
  const char *metric = o->args[0];
  if (!known_metric(metric)) {
    const char *near = tool_closest(metric, kMetrics, XSMEM_ARRAY_SIZE(kMetrics));
    tool_error("history trend: unknown metric '%s'%s%s%s (xsmem history --help lists them)", metric,
               near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
    return XSMEM_EXIT_USAGE;
  }
  // Each run's figure for the chosen allocator, else the one serving malloc
  // (else its first), oldest first.
  sqlite3_stmt *st = prepare(db,
                             "SELECT r.id, r.time_unix_ns, r.program, r.config, a.name, s.value"
                             " FROM runs r JOIN allocators a ON a.run = r.id"
                             " JOIN stats s ON s.run = r.id AND s.allocator = a.name AND s.metric = ?3"
                             " WHERE (?1 IS NULL OR r.program = ?1) AND (?2 IS NULL OR r.config = ?2)"
                             "  AND a.rowid = (SELECT a2.rowid FROM allocators a2 WHERE a2.run = r.id"
                             "    AND (?4 IS NULL OR a2.name = ?4) ORDER BY a2.process DESC, a2.rowid LIMIT 1)"
                             " ORDER BY r.time_unix_ns, r.id");
  if (!st) return XSMEM_EXIT_FAIL;
  bind_filters(st, o);
  sqlite3_bind_text(st, 3, metric, -1, SQLITE_STATIC);
  if (o->allocator) sqlite3_bind_text(st, 4, o->allocator, -1, SQLITE_STATIC);
  printf("%5s  %-19s  %-12s  %-14s  %-16s %14s %10s\n", "run", "time (UTC)", "program", "config", "allocator", metric,
         "change");
  int n = 0;
  double prev = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    char t[32], b[32], v[48], d[32];
    format_time(sqlite3_column_int64(st, 1), t, sizeof t);
    double x = sqlite3_column_double(st, 5);
    if (is_bytes(metric)) snprintf(v, sizeof v, "%s", tool_bytes(x, b, sizeof b));
    else snprintf(v, sizeof v, "%.6g", x);
    if (n == 0) snprintf(d, sizeof d, "-");
    else if (prev != 0) snprintf(d, sizeof d, "%+.1f%%", 100.0 * (x - prev) / prev);
    else snprintf(d, sizeof d, x == 0 ? "0" : "new");
    printf("%5lld  %-19s  %-12s  %-14s  %-16s %14s %10s\n", (long long)sqlite3_column_int64(st, 0), t,
           tool_tty(col(st, 2)), col(st, 3)[0] ? tool_tty(col(st, 3)) : "-", tool_tty(col(st, 4)), v, d);
    prev = x;
    n++;
  }
  sqlite3_finalize(st);
  if (!n) printf("(no runs match)\n");
  return 0;
}

// Prints one row of a diff: two values and their difference.
static void diff_row(const char *what, const char *metric, double a, double b) {
  char x[32], y[32], z[32], p[16];
  bool bytes = is_bytes(metric);
  if (bytes) {
    tool_bytes(a, x, sizeof x);
    tool_bytes(b, y, sizeof y);
    char d[32];
    snprintf(z, sizeof z, "%s%s", b - a >= 0 ? "+" : "", tool_bytes(b - a, d, sizeof d));
  } else {
    snprintf(x, sizeof x, "%.6g", a);
    snprintf(y, sizeof y, "%.6g", b);
    snprintf(z, sizeof z, "%+.6g", b - a);
  }
  if (a != 0) snprintf(p, sizeof p, "%+.1f%%", 100.0 * (b - a) / a);
  else snprintf(p, sizeof p, b == 0 ? "" : "new");
  printf("  %-24s %-18s %12s %12s %13s %8s\n", what, metric, x, y, z, p);
}

static bool run_exists(sqlite3 *db, sqlite3_int64 id, const char *arg) {
  sqlite3_stmt *st = prepare(db, "SELECT 1 FROM runs WHERE id = ?");
  if (!st) return false;
  sqlite3_bind_int64(st, 1, id);
  bool ok = sqlite3_step(st) == SQLITE_ROW;
  sqlite3_finalize(st);
  if (!ok) tool_error("history diff: no run %s (xsmem history list names them)", arg);
  return ok;
}

static int cmd_diff(sqlite3 *db, const options *o) {
  if (o->n_args != 2) {
    tool_error("history diff: name two runs (xsmem history list names them)");
    return XSMEM_EXIT_USAGE;
  }
  sqlite3_int64 run[2];
  for (int i = 0; i < 2; i++) {
    char *end;
    errno = 0;
    long long v = strtoll(o->args[i], &end, 10);
    if (errno || *end || end == o->args[i] || v <= 0) {
      tool_error("history diff: '%s' is not a run id (a number from xsmem history list)", o->args[i]);
      return XSMEM_EXIT_USAGE;
    }
    run[i] = v;
    if (!run_exists(db, run[i], o->args[i])) return XSMEM_EXIT_FAIL;
  }
  printf("run %lld -> run %lld\n", (long long)run[0], (long long)run[1]);
  printf("  %-24s %-18s %12s %12s %13s %8s\n", "allocator", "figure", "run 1", "run 2", "change", "");
  // Per allocator, by name: every figure either run has (a missing one is 0).
  sqlite3_stmt *st =
      prepare(db,
              "WITH k AS (SELECT allocator, metric, MIN(rowid) AS o FROM stats WHERE run IN (?1, ?2)"
              "  GROUP BY allocator, metric)"
              " SELECT k.allocator, k.metric,"
              "  (SELECT value FROM stats WHERE run = ?1 AND allocator = k.allocator AND metric = k.metric),"
              "  (SELECT value FROM stats WHERE run = ?2 AND allocator = k.allocator AND metric = k.metric)"
              " FROM k ORDER BY k.allocator, k.o");
  if (!st) return XSMEM_EXIT_FAIL;
  sqlite3_bind_int64(st, 1, run[0]);
  sqlite3_bind_int64(st, 2, run[1]);
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *metric = col(st, 1);
    // Figures that say what changed; the rest (limits, metadata) stay in the database.
    static const char *const kShown[] = {"num_allocs",     "num_failed",   "bytes_in_use", "peak_bytes_in_use",
                                         "bytes_reserved", "bytes_cached", "fragmentation"};
    bool shown = false;
    for (size_t i = 0; i < XSMEM_ARRAY_SIZE(kShown); i++) shown |= !strcmp(metric, kShown[i]);
    if (shown) diff_row(tool_tty(col(st, 0)), metric, sqlite3_column_double(st, 2), sqlite3_column_double(st, 3));
  }
  sqlite3_finalize(st);
  // Per call site, by symbol (a site's address changes from run to run with
  // ASLR; its symbol does not): live bytes and bytes allocated.
  printf("  %-24s %-18s %12s %12s %13s %8s\n", "call site", "figure", "run 1", "run 2", "change", "");
  st = prepare(db,
               "WITH c AS (SELECT run, symbol, SUM(live_bytes) AS live, SUM(bytes) AS bytes, MIN(rank) AS rank"
               "   FROM call_sites WHERE run IN (?1, ?2) GROUP BY run, symbol),"
               " k AS (SELECT symbol, MIN(rank) AS rank FROM c GROUP BY symbol)"
               " SELECT k.symbol, a.live, b.live, a.bytes, b.bytes FROM k"
               " LEFT JOIN c a ON a.run = ?1 AND a.symbol = k.symbol"
               " LEFT JOIN c b ON b.run = ?2 AND b.symbol = k.symbol"
               " ORDER BY ABS(IFNULL(b.live, 0) - IFNULL(a.live, 0)) DESC, k.rank LIMIT 20");
  if (!st) return XSMEM_EXIT_FAIL;
  sqlite3_bind_int64(st, 1, run[0]);
  sqlite3_bind_int64(st, 2, run[1]);
  int n = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *sym = col(st, 0);
    char name[25];
    // The first line of a symbolized stack names the site; 24 columns of it.
    snprintf(name, sizeof name, "%.*s", (int)strcspn(sym, "\n"), sym[0] ? sym : "?");
    diff_row(tool_tty(name), "live_bytes", sqlite3_column_double(st, 1), sqlite3_column_double(st, 2));
    diff_row("", "bytes", sqlite3_column_double(st, 3), sqlite3_column_double(st, 4));
    n++;
  }
  sqlite3_finalize(st);
  if (!n) printf("  (no call sites in either run: they come from tracked configurations)\n");
  return 0;
}

int tool_cmd_history(int argc, char **argv) {
  if (argc < 2) {
    tool_error("history: name an action: add, list, trend or diff (xsmem history --help)");
    return XSMEM_EXIT_USAGE;
  }
  if (tool_is_help(argv[1])) return tool_help("history");
  const char *action = argv[1];
  options o = {0};
  int rc = parse(argc - 1, argv + 1, &o);
  if (rc) return rc;
  for (size_t i = 0; i < o.n_args; i++)
    if (tool_is_help(o.args[i])) return tool_help("history");
  char buf[PATH_MAX];
  const char *db_path = o.db ? o.db : default_db(buf, sizeof buf);
  if (!strcmp(action, "add")) return cmd_add(&o, db_path);
  int (*fn)(sqlite3 *, const options *) = !strcmp(action, "list") ? cmd_list
      : !strcmp(action, "trend")                                  ? cmd_trend
      : !strcmp(action, "diff")                                   ? cmd_diff
                                                                  : NULL;
  if (!fn) {
    static const char *const kActions[] = {"add", "list", "trend", "diff"};
    const char *near = tool_closest(action, kActions, XSMEM_ARRAY_SIZE(kActions));
    tool_error("history: unknown action '%s'%s%s%s (add, list, trend or diff)", action, near ? " (did you mean '" : "",
               near ? near : "", near ? "'?)" : "");
    return XSMEM_EXIT_USAGE;
  }
  sqlite3 *db = open_db(db_path, false);
  if (!db) return XSMEM_EXIT_FAIL;
  rc = fn(db, &o);
  sqlite3_close(db);
  return rc;
}
