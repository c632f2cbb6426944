#include "platform/options.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "platform/log.h"

extern char **environ;

static const xsmem_option_info kOptions[] = {
#define XSMEM_OPTION(name, def, desc) {#name, def, desc},
#include "platform/options_list.h"
#undef XSMEM_OPTION
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

static const xsmem_option_info *find(const char *name) {
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(kOptions); i++) {
    if (strcmp(kOptions[i].name, name) == 0) return &kOptions[i];
  }
  xsmem_fatal("option %s is not declared in platform/options_list.h", name);
}

const char *xsmem_option_str(const char *name) {
  const xsmem_option_info *o = find(name);
  const char *v = xsmem_getenv(name);
  return v ? v : o->default_value;
}

// Parses an unsigned number with an optional k/m/g suffix; false when malformed.
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
    case 'K':
      shift = 10;
      p++;
      break;
    case 'm':
    case 'M':
      shift = 20;
      p++;
      break;
    case 'g':
    case 'G':
      shift = 30;
      p++;
      break;
    default: return false;
  }
  if (*p == 'b' || *p == 'B') p++;
  if (*p != '\0') return false;
  if (shift && v > (SIZE_MAX >> shift)) return false;
  *out = (size_t)(v << shift);
  return true;
}

size_t xsmem_option_bytes(const char *name) {
  const xsmem_option_info *o = find(name);
  size_t v;
  const char *s = xsmem_option_str(name);
  if (parse_bytes(s, &v)) return v;
  if (s != o->default_value) xsmem_log("option %s=%s is not a size; using %s", name, s, o->default_value);
  return parse_bytes(o->default_value, &v) ? v : 0;
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

long long xsmem_option_int(const char *name) {
  const xsmem_option_info *o = find(name);
  long long v;
  const char *s = xsmem_option_str(name);
  if (parse_int(s, &v)) return v;
  if (s != o->default_value) xsmem_log("option %s=%s is not an integer; using %s", name, s, o->default_value);
  return parse_int(o->default_value, &v) ? v : 0;
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

bool xsmem_option_bool(const char *name) {
  const xsmem_option_info *o = find(name);
  const char *s = xsmem_option_str(name);
  int v = parse_bool(s);
  if (v >= 0) return v;
  xsmem_log("option %s=%s is not a boolean; using %s", name, s, o->default_value);
  return parse_bool(o->default_value) == 1;
}

int xsmem_option_choice(const char *name, const char *const *choices, int n) {
  const xsmem_option_info *o = find(name);
  const char *s = xsmem_option_str(name);
  int def = 0;
  for (int i = 0; i < n; i++) {
    if (strcasecmp(s, choices[i]) == 0) return i;
    if (strcasecmp(o->default_value, choices[i]) == 0) def = i;
  }
  char list[256];
  size_t len = 0;
  for (int i = 0; i < n && len < sizeof(list); i++) {
    len += xsmem_snprintf(list + len, sizeof(list) - len, i ? "|%s" : "%s", choices[i]);
  }
  xsmem_log("option %s=%s is not one of %s; using %s", name, s, list, choices[def]);
  return def;
}
