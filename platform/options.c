// platform/options.c: the option table, XSMEM_OPTIONS, validation, run-time values.
//
// Nothing here allocates: this runs inside a preloaded malloc, possibly
// before libc is up. Strings are parsed in place in static buffers, messages
// go through platform/log.h.
#include "platform/options.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>

#include "platform/log.h"
#include "platform/once.h"

extern char **environ;

#define KIND_STR XSMEM_OPTION_STR
#define KIND_BOOL XSMEM_OPTION_BOOL
#define KIND_INT XSMEM_OPTION_INT
#define KIND_BYTES XSMEM_OPTION_BYTES
#define KIND_NUMBER XSMEM_OPTION_NUMBER
#define KIND_CHOICE XSMEM_OPTION_CHOICE
#define WHEN_START false
#define WHEN_LIVE true

static const xsmem_option_info kOptions[] = {
#define XSMEM_OPTION(name, def, kind, accepted, when, desc) {#name, def, KIND_##kind, accepted, WHEN_##when, desc},
#define XSMEM_INTERNAL_NAME(name, why)
#include "platform/options_list.h"
#undef XSMEM_INTERNAL_NAME
#undef XSMEM_OPTION
};

// Variables xsmem's tools and tests use that are not options.
static const char *const kInternalNames[] = {
#define XSMEM_OPTION(name, def, kind, accepted, when, desc)
#define XSMEM_INTERNAL_NAME(name, why) #name,
#include "platform/options_list.h"
#undef XSMEM_INTERNAL_NAME
#undef XSMEM_OPTION
};

enum {
  kNumOptions = (int)XSMEM_ARRAY_SIZE(kOptions),
  kOptionsChars = 4096,   // XSMEM_OPTIONS is copied into this (NUL included)
  kOptionsEntries = 64,   // settings kept from XSMEM_OPTIONS
  kSetArenaBytes = 8192,  // values given to xsmem_option_set, all together
  kNameMax = 64,          // names compared for suggestions are cut here
};

const xsmem_option_info *xsmem_options_table(size_t *n) {
  *n = XSMEM_ARRAY_SIZE(kOptions);
  return kOptions;
}

const char *xsmem_getenv(const char *name) {
  size_t len = strlen(name);
  char **env = environ;
  if (!env) return NULL;
  for (; *env; env++) {
    if (strncmp(*env, name, len) == 0 && (*env)[len] == '=') return *env + len + 1;
  }
  return NULL;
}

// Returns the index of the option called `name` (len characters; with or
// without the XSMEM_ prefix when loose, in any case), or -1.
static int find_index(const char *name, size_t len, bool loose) {
  if (loose && len >= 6 && strncasecmp(name, "XSMEM_", 6) == 0) {
    name += 6;
    len -= 6;
  }
  for (int i = 0; i < kNumOptions; i++) {
    const char *n = kOptions[i].name;
    if (loose) {
      n += 6;
      if (strlen(n) == len && strncasecmp(n, name, len) == 0) return i;
    } else if (strncmp(n, name, len) == 0 && n[len] == '\0') {
      return i;
    }
  }
  return -1;
}

static int find_declared(const char *name) {
  int i = find_index(name, strlen(name), false);
  if (i < 0) xsmem_fatal("option %s is not declared in platform/options_list.h", name);
  return i;
}

// ---------------------------------------------------------------------------
// Parsing values.

// Parses an unsigned number with an optional k/m/g/t suffix (and a trailing
// b); false when malformed or past SIZE_MAX.
static bool parse_bytes(const char *s, size_t *out) {
  if (!*s) return false;
  unsigned long long v = 0;
  const char *p = s;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (v > (UINT64_MAX - 9) / 10) return false;
    v = v * 10 + (unsigned)(*p - '0');
  }
  if (p == s) return false;
  unsigned shift = 0;
  switch (*p) {
    case '\0': break;
    case 'k':
    case 'K': shift = 10; break;
    case 'm':
    case 'M': shift = 20; break;
    case 'g':
    case 'G': shift = 30; break;
    case 't':
    case 'T': shift = 40; break;
    default: return false;
  }
  if (shift) p++;
  if (*p == 'b' || *p == 'B') p++;
  if (*p != '\0') return false;
  if (v > (SIZE_MAX >> shift)) return false;
  *out = (size_t)(v << shift);
  return true;
}

static bool parse_int(const char *s, long long *out) {
  if (!*s) return false;
  bool neg = *s == '-';
  if (neg || *s == '+') s++;
  if (!*s) return false;
  long long v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10) return false;
    v = v * 10 + (*s - '0');
  }
  *out = neg ? -v : v;
  return true;
}

// A decimal number: [+-]digits[.digits][e[+-]digits], or empty (0). No
// strtod: it may allocate for long inputs and follows the locale.
static bool parse_number(const char *s, double *out) {
  if (!*s) {
    *out = 0;
    return true;
  }
  bool neg = *s == '-';
  if (neg || *s == '+') s++;
  double v = 0;
  int digits = 0;
  for (; *s >= '0' && *s <= '9'; s++, digits++) v = v * 10 + (*s - '0');
  if (*s == '.') {
    double scale = 0.1;
    for (s++; *s >= '0' && *s <= '9'; s++, digits++, scale /= 10) v += (*s - '0') * scale;
  }
  if (!digits) return false;
  if (*s == 'e' || *s == 'E') {
    s++;
    bool eneg = *s == '-';
    if (eneg || *s == '+') s++;
    if (!(*s >= '0' && *s <= '9')) return false;
    int e = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
      if (e < 400) e = e * 10 + (*s - '0');
    }
    for (int i = 0; i < e; i++) v = eneg ? v / 10 : v * 10;
  }
  if (*s) return false;
  *out = neg ? -v : v;
  return true;
}

static int parse_bool(const char *s) {
  static const char *const kTrue[] = {"1", "on", "true", "yes"};
  static const char *const kFalse[] = {"0", "off", "false", "no", ""};
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(kTrue); i++) {
    if (strcasecmp(s, kTrue[i]) == 0) return 1;
  }
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(kFalse); i++) {
    if (strcasecmp(s, kFalse[i]) == 0) return 0;
  }
  return -1;
}

// Returns the index of s among the "a/b/c" words of accepted, or -1.
static int choice_index(const char *accepted, const char *s) {
  size_t len = strlen(s);
  int i = 0;
  for (const char *w = accepted;; i++) {
    const char *end = strchr(w, '/');
    size_t wl = end ? (size_t)(end - w) : strlen(w);
    if (wl == len && strncasecmp(w, s, len) == 0) return i;
    if (!end) return -1;
    w = end + 1;
  }
}

// An option's range, from its "MIN..MAX" / "MIN.." accepted text.
typedef struct range {
  char lo[32], hi[32];  // hi empty: no upper bound
  bool pow2;
} range;

static void parse_range(const xsmem_option_info *o, range *r) {
  const char *a = o->accepted, *dots = strstr(a, "..");
  memset(r, 0, sizeof(*r));
  if (!dots) return;
  size_t n = XSMEM_MIN((size_t)(dots - a), sizeof(r->lo) - 1);
  memcpy(r->lo, a, n);
  const char *hi = dots + 2, *end = strchr(hi, ',');
  n = XSMEM_MIN(end ? (size_t)(end - hi) : strlen(hi), sizeof(r->hi) - 1);
  memcpy(r->hi, hi, n);
  r->pow2 = end && strstr(end, "power of 2") != NULL;
}

// Returns whether s is a value the option accepts.
static bool value_fits(const xsmem_option_info *o, const char *s) {
  range r;
  switch (o->kind) {
    case XSMEM_OPTION_STR: return true;
    case XSMEM_OPTION_BOOL: return parse_bool(s) >= 0;
    case XSMEM_OPTION_CHOICE: return choice_index(o->accepted, s) >= 0;
    case XSMEM_OPTION_INT: {
      long long v, lo, hi;
      parse_range(o, &r);
      if (!parse_int(s, &v)) return false;
      if (r.lo[0] && parse_int(r.lo, &lo) && v < lo) return false;
      return !(r.hi[0] && parse_int(r.hi, &hi) && v > hi);
    }
    case XSMEM_OPTION_BYTES: {
      size_t v, lo, hi;
      parse_range(o, &r);
      if (!parse_bytes(s, &v)) return false;
      if (r.lo[0] && parse_bytes(r.lo, &lo) && v < lo) return false;
      if (r.hi[0] && parse_bytes(r.hi, &hi) && v > hi) return false;
      return !r.pow2 || xsmem_is_pow2(v);
    }
    case XSMEM_OPTION_NUMBER: {
      double v, lo, hi;
      parse_range(o, &r);
      if (!parse_number(s, &v) || v != v) return false;
      if (r.lo[0] && parse_number(r.lo, &lo) && v < lo) return false;
      return !(r.hi[0] && parse_number(r.hi, &hi) && v > hi);
    }
  }
  return false;
}

void xsmem_option_describe_accepted(const xsmem_option_info *o, char *buf, size_t cap) {
  range r;
  const char *what = "an integer";
  switch (o->kind) {
    case XSMEM_OPTION_STR: xsmem_snprintf(buf, cap, "%s", o->accepted[0] ? o->accepted : "any text"); return;
    case XSMEM_OPTION_BOOL: xsmem_snprintf(buf, cap, "1/0, on/off, true/false or yes/no"); return;
    case XSMEM_OPTION_CHOICE: xsmem_snprintf(buf, cap, "one of %s", o->accepted); return;
    case XSMEM_OPTION_BYTES: what = "a size"; break;
    case XSMEM_OPTION_NUMBER: what = "a number"; break;
    case XSMEM_OPTION_INT: break;
  }
  parse_range(o, &r);
  xsmem_snprintf(buf, cap, r.hi[0] ? "%s in %s..%s%s" : "%s of at least %s%.0s%s", what, r.lo, r.hi,
                 r.pow2 ? ", a power of two" : "");
}

const char *xsmem_option_source_name(xsmem_option_source s) {
  switch (s) {
    case XSMEM_OPTION_FROM_ENV: return "environment";
    case XSMEM_OPTION_FROM_OPTIONS: return "XSMEM_OPTIONS";
    case XSMEM_OPTION_FROM_SET: return "xsmem_option_set";
    case XSMEM_OPTION_FROM_DEFAULT: break;
  }
  return "default";
}

// ---------------------------------------------------------------------------
// Suggestions: the option nearest an unknown name (edit distance).

_Static_assert(kNameMax == XSMEM_EDIT_DISTANCE_MAX, "suggestions compare names as long as they are kept");

// Returns the option nearest name[0..len) (with or without XSMEM_, any
// case): one whose name holds it whole (the shortest such), else the one at
// the smallest edit distance.
static const xsmem_option_info *closest(const char *name, size_t len) {
  if (len >= 6 && strncasecmp(name, "XSMEM_", 6) == 0) {
    name += 6;
    len -= 6;
  }
  const xsmem_option_info *best = &kOptions[0];
  int best_d = 1 << 30;
  for (int i = 0; i < kNumOptions; i++) {
    const char *n = kOptions[i].name + 6;
    size_t nl = strlen(n);
    int d = -1;
    for (size_t at = 0; len && at + len <= nl && d < 0; at++) {
      if (strncasecmp(n + at, name, len) == 0) d = -(1 << 20) + (int)nl;  // holds it: before any distance
    }
    if (d == -1) d = (int)xsmem_edit_distance(name, len, n, nl);
    if (d < best_d) {
      best_d = d;
      best = &kOptions[i];
    }
  }
  return best;
}

// Copies s[0..len) into buf, cut to fit (messages quote pieces of variables).
static const char *quote(char *buf, size_t cap, const char *s, size_t len) {
  len = XSMEM_MIN(len, cap - 1);
  memcpy(buf, s, len);
  buf[len] = '\0';
  return buf;
}

// Writes the option's name without XSMEM_, in lower case (XSMEM_OPTIONS's spelling).
static void short_name(const xsmem_option_info *o, char *buf, size_t cap) {
  size_t i = 0;
  for (const char *p = o->name + 6; *p && i + 1 < cap; p++) buf[i++] = *p >= 'A' && *p <= 'Z' ? (char)(*p + 32) : *p;
  buf[i] = '\0';
}

// ---------------------------------------------------------------------------
// XSMEM_OPTIONS and the environment check, once per process.

typedef struct options_entry {
  int option;         // index in kOptions, -1 when unknown
  const char *value;  // in g_options_buf
} options_entry;

static xsmem_once g_ready;
static char g_options_buf[kOptionsChars];
static options_entry g_entries[kOptionsEntries];
static int g_num_entries;

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Returns s[0..*len) without white space around it (*len updated).
static char *trim(char *s, size_t *len) {
  while (*len && is_space(*s)) s++, (*len)--;
  while (*len && is_space(s[*len - 1])) (*len)--;
  return s;
}

static bool is_name(const char *s, size_t len) {
  if (!len) return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// Ends the value of the last entry at `end` (exclusive), without trailing
// white space.
static void end_value(char *end) {
  if (!g_num_entries) return;
  options_entry *e = &g_entries[g_num_entries - 1];
  if (!e->value) return;
  char *v = (char *)e->value;
  while (end > v && is_space(end[-1])) end--;
  *end = '\0';
}

// Splits g_options_buf into entries, in place: "name=value" pieces separated
// by commas. A piece without '=' continues the value before it when that is
// a text option's (a comma-separated list), else it is reported.
static void parse_options(void) {
  const char *env = xsmem_getenv("XSMEM_OPTIONS");
  if (!env) return;
  size_t len = strlen(env);
  if (len >= sizeof(g_options_buf)) {
    xsmem_log("XSMEM_OPTIONS is %zu characters long; only the first %zu are read (up to the last comma in them)", len,
              sizeof(g_options_buf) - 1);
    len = sizeof(g_options_buf) - 1;
    while (len && env[len] != ',') len--;  // no setting cut in two
  }
  memcpy(g_options_buf, env, len);
  g_options_buf[len] = '\0';
  bool continues = false;  // the last entry is a text option's: a piece without '=' extends it
  bool full = false;
  for (char *p = g_options_buf; p;) {
    char *comma = strchr(p, ',');
    size_t plen = comma ? (size_t)(comma - p) : strlen(p);
    char *eq = memchr(p, '=', plen);
    size_t klen = eq ? (size_t)(eq - p) : 0;
    char *key = eq ? trim(p, &klen) : NULL;
    if (!eq || !is_name(key, klen)) {
      size_t tlen = plen;
      char *text = trim(p, &tlen);
      if (!continues && tlen) {
        char q[200];
        xsmem_log("XSMEM_OPTIONS: '%s' is not name=value; ignored", quote(q, sizeof(q), text, tlen));
      }
      if (!continues && p > g_options_buf) end_value(p - 1);
      p = comma ? comma + 1 : NULL;
      continue;
    }
    // A new setting: the value before it ends at the comma before it.
    if (p > g_options_buf) end_value(p - 1);
    continues = false;
    if (g_num_entries == kOptionsEntries) {
      if (!full) {
        char q[kNameMax];
        xsmem_log("XSMEM_OPTIONS holds more than %d settings; '%s' and those after it are ignored", kOptionsEntries,
                  quote(q, sizeof(q), key, klen));
      }
      full = true;
      break;
    }
    key[klen] = '\0';
    int idx = find_index(key, klen, true);
    if (idx < 0) {
      char want[kNameMax];
      short_name(closest(key, klen), want, sizeof(want));
      xsmem_log("XSMEM_OPTIONS: '%s' is not an option; ignored (the closest is %s)", key, want);
    }
    options_entry *e = &g_entries[g_num_entries++];
    e->option = idx;
    size_t vlen = comma ? (size_t)(comma - (eq + 1)) : strlen(eq + 1);
    e->value = trim(eq + 1, &vlen);
    continues = idx >= 0 && kOptions[idx].kind == XSMEM_OPTION_STR;
    p = comma ? comma + 1 : NULL;
  }
  if (!full) end_value(g_options_buf + len);
}

static bool is_internal(const char *name, size_t len) {
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(kInternalNames); i++) {
    if (strncmp(kInternalNames[i], name, len) == 0 && kInternalNames[i][len] == '\0') return true;
  }
  return false;
}

// Reports XSMEM_* variables that are not options (nor internal names) and
// xsmem_* ones in another case.
static void check_environment(void) {
  char **env = environ;
  if (!env) return;
  for (; *env; env++) {
    const char *e = *env, *eq = strchr(e, '=');
    if (strncasecmp(e, "XSMEM_", 6) != 0 || !eq) continue;
    size_t len = (size_t)(eq - e);
    bool exact_case = strncmp(e, "XSMEM_", 6) == 0;
    for (size_t i = 6; exact_case && i < len; i++) exact_case = !(e[i] >= 'a' && e[i] <= 'z');
    if (exact_case && (find_index(e, len, false) >= 0 || is_internal(e, len))) continue;
    int idx = find_index(e, len, true);
    char q[200];
    quote(q, sizeof(q), e, len);
    if (!exact_case && idx >= 0) {
      xsmem_log("%s is not read: option names are upper case (%s)", q, kOptions[idx].name);
    } else {
      xsmem_log("%s is not an xsmem option; ignored (the closest is %s)", q, closest(e, len)->name);
    }
  }
}

static bool first_read(void *ctx) {
  (void)ctx;
  parse_options();
  check_environment();
  return true;
}

static void ensure_ready(void) {
  if (XSMEM_LIKELY(xsmem_once_done(&g_ready))) return;
  // A recursive call (a message's write cannot malloc, so none is expected)
  // reads without XSMEM_OPTIONS rather than wait for itself.
  xsmem_once_run(&g_ready, first_read, NULL);
}

// ---------------------------------------------------------------------------
// Values set at run time.

static char g_arena[kSetArenaBytes];
static _Atomic size_t g_arena_used;
static const char *_Atomic g_set[kNumOptions];
static _Atomic uint64_t g_generation;
static _Atomic unsigned char g_reported[kNumOptions];

uint64_t xsmem_options_generation(void) { return atomic_load_explicit(&g_generation, memory_order_acquire); }

// ---------------------------------------------------------------------------
// Lookups.

static void state_of(int idx, xsmem_option_state *out) {
  const xsmem_option_info *o = &kOptions[idx];
  ensure_ready();
  out->info = o;
  out->source = XSMEM_OPTION_FROM_DEFAULT;
  out->given = NULL;
  const char *v = atomic_load_explicit(&g_set[idx], memory_order_acquire);
  if (v) {
    out->source = XSMEM_OPTION_FROM_SET;
    out->given = v;
  } else if ((v = xsmem_getenv(o->name)) != NULL) {
    out->source = XSMEM_OPTION_FROM_ENV;
    out->given = v;
  } else if (xsmem_once_done(&g_ready)) {
    for (int i = g_num_entries - 1; i >= 0; i--) {
      if (g_entries[i].option == idx) {
        out->source = XSMEM_OPTION_FROM_OPTIONS;
        out->given = g_entries[i].value;
        break;
      }
    }
  }
  out->accepted = !out->given || value_fits(o, out->given);
  out->value = out->given && out->accepted ? out->given : o->default_value;
}

bool xsmem_option_lookup(const char *name, xsmem_option_state *out) {
  int idx = find_index(name, strlen(name), true);
  if (idx < 0) return false;
  state_of(idx, out);
  return true;
}

// Returns the value in effect of a declared option of kind `kind`, reporting
// (once per option) a value given that does not fit.
static const char *read_value(const char *name, int kind) {
  int idx = find_declared(name);
  const xsmem_option_info *o = &kOptions[idx];
  if (kind >= 0 && (int)o->kind != kind)
    xsmem_fatal("option %s is not read as its kind in platform/options_list.h", name);
  xsmem_option_state st;
  state_of(idx, &st);
  if (!st.accepted && !atomic_exchange(&g_reported[idx], 1)) {
    char accepted[160];
    xsmem_option_describe_accepted(o, accepted, sizeof(accepted));
    const char *from = st.source == XSMEM_OPTION_FROM_OPTIONS ? " (in XSMEM_OPTIONS)" : "";
    xsmem_log("%s=%s%s is not accepted: %s takes %s; using the default, %s", name, st.given, from, name, accepted,
              o->default_value[0] ? o->default_value : "(empty)");
  }
  return st.value;
}

const char *xsmem_option_str(const char *name) { return read_value(name, -1); }

size_t xsmem_option_bytes(const char *name) {
  size_t v = 0;
  parse_bytes(read_value(name, XSMEM_OPTION_BYTES), &v);
  return v;
}

long long xsmem_option_int(const char *name) {
  long long v = 0;
  parse_int(read_value(name, XSMEM_OPTION_INT), &v);
  return v;
}

bool xsmem_option_bool(const char *name) { return parse_bool(read_value(name, XSMEM_OPTION_BOOL)) == 1; }

double xsmem_option_number(const char *name) {
  double v = 0;
  parse_number(read_value(name, XSMEM_OPTION_NUMBER), &v);
  return v;
}

int xsmem_option_choice(const char *name, const char *const *choices, int n) {
  const char *s = read_value(name, XSMEM_OPTION_CHOICE);
  const char *accepted = kOptions[find_declared(name)].accepted;
  int words = 1;
  for (const char *p = accepted; *p; p++) words += *p == '/';
  bool same = words == n;
  for (int i = 0; same && i < n; i++) same = choice_index(accepted, choices[i]) == i;
  if (!same) xsmem_fatal("option %s: the choices read are not %s, as platform/options_list.h declares", name, accepted);
  return choice_index(accepted, s);  // validated: the value given or the default
}

void xsmem_options_print(int fd, const char *names) {
  for (int i = 0; i < kNumOptions; i++) {
    const xsmem_option_info *o = &kOptions[i];
    if (names) {  // is o named in the space-separated list?
      size_t len = strlen(o->name);
      const char *p = names;
      bool named = false;
      while (!named && (p = strstr(p, o->name)) != NULL) {
        named = (p == names || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0');
        p += len;
      }
      if (!named) continue;
    }
    xsmem_option_state st;
    state_of(i, &st);
    if (st.accepted) {
      xsmem_dprintf(fd, "  %s=%s (%s)\n", o->name, st.value, xsmem_option_source_name(st.source));
    } else {
      xsmem_dprintf(fd, "  %s=%s (default: %s from %s%s is not accepted)\n", o->name, st.value, st.given,
                    st.source == XSMEM_OPTION_FROM_ENV ? "the " : "", xsmem_option_source_name(st.source));
    }
  }
}

// ---------------------------------------------------------------------------
// Run time.

int xsmem_option_set(const char *name, const char *value) {
  if (!name) return EINVAL;
  int idx = find_index(name, strlen(name), true);
  if (idx < 0) return ENOENT;
  const xsmem_option_info *o = &kOptions[idx];
  if (!o->live) return ENOTSUP;
  ensure_ready();
  const char *copy = NULL;
  if (value) {
    if (!value_fits(o, value)) return EINVAL;
    size_t len = strlen(value) + 1;
    size_t at = atomic_fetch_add(&g_arena_used, len);
    if (len > sizeof(g_arena) || at > sizeof(g_arena) - len) return ENOMEM;  // the arena stays used up
    memcpy(g_arena + at, value, len);
    copy = g_arena + at;
  }
  atomic_store_explicit(&g_set[idx], copy, memory_order_release);
  atomic_fetch_add_explicit(&g_generation, 1, memory_order_acq_rel);
  return 0;
}

const char *xsmem_option_get(const char *name) {
  if (!name) return NULL;
  int idx = find_index(name, strlen(name), true);
  if (idx < 0) return NULL;
  xsmem_option_state st;
  state_of(idx, &st);
  return st.value;
}

void xsmem_options_reset_for_testing(void) {
  memset(&g_ready, 0, sizeof(g_ready));
  memset(g_options_buf, 0, sizeof(g_options_buf));
  memset(g_entries, 0, sizeof(g_entries));
  g_num_entries = 0;
  atomic_store(&g_arena_used, 0);
  for (int i = 0; i < kNumOptions; i++) {
    atomic_store(&g_set[i], NULL);
    atomic_store(&g_reported[i], 0);
  }
  atomic_fetch_add(&g_generation, 1);
}
