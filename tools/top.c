// tools/top.c: `xsmem top HOST:PORT`: a live view of a process serving
// XSMEM_HTTP.
//
// Every --interval seconds (default 1) the tool fetches /api/snapshot (the
// protobuf Snapshot) over plain HTTP/1.0 and redraws: the process's
// allocators, a sparkline of the malloc allocator's bytes in use over the
// last 60 refreshes, the allocation rate (difference of num_allocs between two
// refreshes), per-tier and per-node figures from the detail values, and the
// top call sites when the process is tracked. On a terminal the screen is
// cleared between frames; otherwise frames follow each other (for logs and
// tests). Lines longer than the terminal (80 columns off a terminal) wrap at
// a space, the rest indented. On a terminal, q quits (the terminal is put in
// non-canonical mode for the key and restored on exit). --count N stops
// after N frames. Exit status 1 when the process
// cannot be reached or refuses (its error is shown). A process serving with a
// token (XSMEM_HTTP_TOKEN) gets it from the same variables here:
// XSMEM_HTTP_TOKEN, or XSMEM_HTTP_TOKEN_FILE. Every string of the snapshot
// is escaped for the terminal (tool_tty).
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "export/snapshot.h"
#include "tools/xsmem.h"

// Returns the token for the server (XSMEM_HTTP_TOKEN, else the first line of
// XSMEM_HTTP_TOKEN_FILE), or NULL.
static const char *http_token(void) {
  static char buf[300];
  const char *t = getenv("XSMEM_HTTP_TOKEN");
  if (t && *t) return t;
  const char *file = getenv("XSMEM_HTTP_TOKEN_FILE");
  if (!file || !*file) return NULL;
  FILE *f = fopen(file, "r");
  if (!f) return NULL;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t')) n--;
  buf[n] = 0;
  return buf;
}

// Returns the body of GET path from host:port (malloc'ed, length in *len), or
// NULL after setting *err.
static char *http_get(const char *host, const char *port, const char *path, size_t *len, char *err, size_t n) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0) {
    snprintf(err, n, "%s", gai_strerror(rc));
    return NULL;
  }
  int fd = -1;
  for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      snprintf(err, n, "%s", strerror(errno));
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) return NULL;
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char req[1024], auth[400] = "";
  const char *token = http_token();
  if (token && *token) snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
  bool v6 = strchr(host, ':') != NULL;  // a numeric IPv6 address goes in brackets
  int rl = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s%s%s:%s\r\n%sConnection: close\r\n\r\n", path,
                    v6 ? "[" : "", host, v6 ? "]" : "", port, auth);
  if (rl < 0 || (size_t)rl >= sizeof req) {
    snprintf(err, n, "request too long");
    close(fd);
    return NULL;
  }
  if (write(fd, req, (size_t)rl) != rl) {
    snprintf(err, n, "write: %s", strerror(errno));
    close(fd);
    return NULL;
  }
  size_t cap = 65536, got = 0;
  char *buf = malloc(cap);
  ssize_t r;
  while ((r = read(fd, buf + got, cap - got)) > 0) {
    got += (size_t)r;
    if (cap - got < 4096) buf = realloc(buf, cap *= 2);
  }
  close(fd);
  char *body = memmem(buf, got, "\r\n\r\n", 4);
  if (!body || got < 12 || strncmp(buf + 9, "200", 3) != 0) {
    // The server's error is a JSON object {"error": "..."}: show its text.
    const char *e = body ? memmem(body, got - (size_t)(body - buf), "\"error\":\"", 9) : NULL;
    int elen = 0;
    if (e) {
      e += 9;
      while (e + elen < buf + got && e[elen] != '"') elen++;
    }
    snprintf(err, n, "HTTP %.3s%s%.*s%s", got >= 12 ? buf + 9 : "???", e ? " (" : "", elen, e ? e : "", e ? ")" : "");
    if (got >= 12 && !strncmp(buf + 9, "401", 3)) {
      size_t l = strlen(err);
      snprintf(err + l, n - l, "; set XSMEM_HTTP_TOKEN or XSMEM_HTTP_TOKEN_FILE to the process's token");
    }
    free(buf);
    return NULL;
  }
  body += 4;
  *len = got - (size_t)(body - buf);
  memmove(buf, body, *len);
  return buf;
}

// The last n values as bars between their lowest and highest, which follow
// as its scale ("lo..hi").
static void sparkline(FILE *f, const double *v, size_t n) {
  static const char *const kBars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  double lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < n; i++) lo = fmin(lo, v[i]), hi = fmax(hi, v[i]);
  for (size_t i = 0; i < n; i++) {
    int k = hi > lo ? (int)(7.999 * (v[i] - lo) / (hi - lo)) : 0;
    fputs(kBars[k], f);
  }
  char a[32], b[32];
  if (n) fprintf(f, " %s..%s", tool_bytes(lo, a, sizeof a), tool_bytes(hi, b, sizeof b));
}

// Writes text to f with every line fitted to width columns: a longer line
// breaks at its last space that fits (or at width when it has none), and
// what follows is indented by 4.
static void write_fitted(FILE *f, const char *text, size_t len, size_t width) {
  const char *end = text + len;
  while (text < end) {
    const char *nl = memchr(text, '\n', (size_t)(end - text));
    const char *line_end = nl ? nl : end;
    bool first = true;
    while (text < line_end) {
      size_t avail = first ? width : width - 4;
      const char *cut = text;
      size_t cols = 0;
      while (cut < line_end && cols < avail) {
        cols += ((unsigned char)*cut & 0xC0) != 0x80;
        cut++;
      }
      while (cut < line_end && ((unsigned char)*cut & 0xC0) == 0x80) cut++;  // never split a character
      if (cut < line_end) {
        const char *space = cut;
        while (space > text && *space != ' ') space--;
        if (space > text) cut = space;
      }
      if (!first) fputs("    ", f);
      fwrite(text, 1, (size_t)(cut - text), f);
      fputc('\n', f);
      text = cut;
      while (text < line_end && *text == ' ') text++;
      first = false;
    }
    if (nl && text == nl && first) fputc('\n', f);  // an empty line
    text = nl ? nl + 1 : end;
  }
}

// The terminal's width, or 80 off a terminal.
static size_t screen_width(bool tty) {
  struct winsize ws;
  if (tty && ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
  return 80;
}

static struct termios g_saved_tty;
static bool g_tty_raw;

static void restore_tty(void) {
  if (g_tty_raw) tcsetattr(0, TCSANOW, &g_saved_tty);
  g_tty_raw = false;
}

// Reads keys without Enter (non-canonical, no echo) when stdin is a terminal.
static void keys_unbuffered(void) {
  if (!isatty(0) || tcgetattr(0, &g_saved_tty) != 0) return;
  struct termios t = g_saved_tty;
  t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
  t.c_cc[VMIN] = 0;
  t.c_cc[VTIME] = 0;
  if (tcsetattr(0, TCSANOW, &t) == 0) {
    g_tty_raw = true;
    atexit(restore_tty);
  }
}

// Waits `seconds`; returns true when q (or Q) was pressed meanwhile.
static bool wait_or_quit(double seconds) {
  double until = tool_now_s() + seconds;
  for (;;) {
    double left = until - tool_now_s();
    if (left <= 0) return false;
    if (!g_tty_raw) {
      struct timespec ts = {(time_t)left, (long)((left - floor(left)) * 1e9)};
      nanosleep(&ts, NULL);
      return false;
    }
    struct pollfd p = {.fd = 0, .events = POLLIN};
    if (poll(&p, 1, (int)(left * 1000) + 1) > 0) {
      char c;
      if (read(0, &c, 1) == 1 && (c == 'q' || c == 'Q')) return true;
    }
  }
}

// One line per allocator with detail in group: each label's bytes in use,
// and "/second" (the detail key second, e.g. bytes_cached) where it has one.
static void detail_group(FILE *f, const Xsmem__Allocator *a, const char *group, const char *second, const char *title) {
  bool header = false;
  for (size_t i = 0; i < a->n_detail; i++) {
    const Xsmem__DetailValue *d = a->detail[i];
    if (strcmp(d->group, group) || strcmp(d->key, "bytes_in_use")) continue;
    if (!header) fprintf(f, "%s (%s):", title, tool_tty(a->name));
    header = true;
    char b[32];
    double v2 = second ? tool_detail(a, group, d->label, second) : NAN;
    fprintf(f, "  %s %s", tool_tty(d->label), tool_bytes(d->value, b, sizeof b));
    if (!isnan(v2)) fprintf(f, "/%s", tool_bytes(v2, b, sizeof b));
  }
  if (header) fputc('\n', f);
}

int tool_cmd_top(int argc, char **argv) {
  const char *addr = NULL;
  double interval = 1;
  long count = -1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--interval") && i + 1 < argc) interval = atof(argv[++i]);
    else if (!strcmp(argv[i], "--count") && i + 1 < argc) count = atol(argv[++i]);
    else if (tool_is_help(argv[i])) return tool_help("top");
    else if (argv[i][0] != '-' && !addr) addr = argv[i];
    else if (argv[i][0] == '-') return tool_usage_error("top", argv[i]);
    else {
      tool_error("top: one address at a time (got '%s' and '%s')", addr, argv[i]);
      return XSMEM_EXIT_USAGE;
    }
  }
  if (!addr || interval <= 0) {
    tool_error("usage: xsmem top HOST:PORT [--interval SECONDS] [--count N]");
    return XSMEM_EXIT_USAGE;
  }
  char host[256], port[16];
  const char *colon = strrchr(addr, ':');
  if (!colon) {
    snprintf(host, sizeof host, "127.0.0.1");
    snprintf(port, sizeof port, "%s", addr);
  } else {
    size_t hl = (size_t)(colon - addr);
    if (hl >= sizeof host) hl = sizeof host - 1;
    // [v6]:port
    if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') snprintf(host, sizeof host, "%.*s", (int)hl - 2, addr + 1);
    else if (hl == 0) snprintf(host, sizeof host, "127.0.0.1");
    else snprintf(host, sizeof host, "%.*s", (int)hl, addr);
    snprintf(port, sizeof port, "%s", colon + 1);
  }
  bool tty = isatty(1);
  if (tty) keys_unbuffered();
  enum { kHist = 60 };
  double hist[kHist], prev_allocs = -1, prev_t = 0;
  size_t nh = 0;
  for (long frame = 0; count < 0 || frame < count; frame++) {
    if (frame && wait_or_quit(interval)) break;
    char err[256];
    size_t len = 0;
    char *body = http_get(host, port, "/api/snapshot", &len, err, sizeof err);
    if (!body) {
      tool_error("top: cannot reach %s:%s: %s", host, port, err);
      return XSMEM_EXIT_FAIL;
    }
    xsmem_arena arena = XSMEM_ARENA_INIT;
    Xsmem__Snapshot *s = xsmem_snapshot_unpack(&arena, body, len);
    free(body);
    if (!s) {
      tool_error("top: %s:%s did not send a snapshot", host, port);
      return XSMEM_EXIT_FAIL;
    }
    const Xsmem__Allocator *pa = tool_process_allocator(s);
    double t = (double)s->time_ns / 1e9, in_use = pa && pa->stats ? (double)pa->stats->bytes_in_use : 0;
    double allocs = pa && pa->stats ? (double)pa->stats->num_allocs : 0;
    double rate = prev_allocs >= 0 && t > prev_t ? (allocs - prev_allocs) / (t - prev_t) : NAN;
    prev_allocs = allocs;
    prev_t = t;
    if (nh == kHist) memmove(hist, hist + 1, sizeof(double) * (kHist - 1)), nh--;
    hist[nh++] = in_use;

    // The frame is composed in memory, then written fitted to the screen.
    char *text = NULL;
    size_t text_len = 0;
    FILE *f = open_memstream(&text, &text_len);
    if (!f) return XSMEM_EXIT_FAIL;
    char b[32];
    fprintf(f, "xsmem top %s:%s  pid %lld  config '%s'  frame %ld\n%s\n", host, port, (long long)s->pid,
            tool_tty(s->config), frame + 1, tool_tty(s->cmdline));
    fprintf(f, "in use %s  last %zu: ", tool_bytes(in_use, b, sizeof b), nh);
    sparkline(f, hist, nh);
    if (isnan(rate)) fprintf(f, "  alloc rate: (next frame)\n");
    else fprintf(f, "  alloc rate %.0f/s\n", rate);
    tool_print_summary(f, s, 5, false);
    for (size_t i = 0; i < s->n_allocators; i++) {
      detail_group(f, s->allocators[i], "tier", "bytes_cached", "tiers, in use/cached");
      detail_group(f, s->allocators[i], "node", NULL, "nodes, in use");
    }
    fclose(f);
    if (tty) fputs("\033[H\033[2J", stdout);
    else if (frame) fputs("\n", stdout);
    write_fitted(stdout, text, text_len, screen_width(tty));
    if (tty) fputs("q quits\n", stdout);
    fflush(stdout);
    free(text);
    xsmem_arena_free(&arena);
  }
  return 0;
}
