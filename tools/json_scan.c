// tools/json_scan.c: reading a few fields out of a JSON document in place
// (json_scan.h). Every step checks the bytes it walks against RFC 8259's
// grammar and stops at end; nothing is allocated.
#include "tools/json_scan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { kMaxDepth = 64 };

static const char *ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads the 4 hex digits of a \u escape at p. Returns -1 when they are not.
static long hex4(const char *p, const char *end) {
  if (end - p < 4) return -1;
  long v = 0;
  for (int i = 0; i < 4; i++) {
    int d = hex_digit(p[i]);
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

// Output of a decoded string: at most n - 1 bytes and a NUL, cut before a
// character that does not fit whole.
typedef struct out {
  char *buf;
  size_t n, len;
  bool cut;
} out;

static void put(out *o, const char *bytes, size_t k) {
  if (!o->buf || o->cut) return;
  if (o->len + k >= o->n) {
    o->cut = true;
    return;
  }
  memcpy(o->buf + o->len, bytes, k);
  o->len += k;
}

static void put_code_point(out *o, uint32_t c) {
  char b[4];
  size_t k;
  if (c < 0x80) {
    b[0] = (char)c;
    k = 1;
  } else if (c < 0x800) {
    b[0] = (char)(0xC0 | c >> 6);
    b[1] = (char)(0x80 | (c & 0x3F));
    k = 2;
  } else if (c < 0x10000) {
    b[0] = (char)(0xE0 | c >> 12);
    b[1] = (char)(0x80 | (c >> 6 & 0x3F));
    b[2] = (char)(0x80 | (c & 0x3F));
    k = 3;
  } else {
    b[0] = (char)(0xF0 | c >> 18);
    b[1] = (char)(0x80 | (c >> 12 & 0x3F));
    b[2] = (char)(0x80 | (c >> 6 & 0x3F));
    b[3] = (char)(0x80 | (c & 0x3F));
    k = 4;
  }
  put(o, b, k);
}

// Returns the end of the string starting at p (at its '"'), decoding it into
// o; NULL when it is not a well-formed string.
static const char *scan_string(const char *p, const char *end, out *o) {
  if (p >= end || *p != '"') return NULL;
  p++;
  while (p < end) {
    unsigned char c = (unsigned char)*p;
    if (c == '"') {
      if (o->buf) o->buf[o->len] = 0;
      return p + 1;
    }
    if (c < 0x20) return NULL;  // control characters must be escaped
    if (c != '\\') {
      // A raw UTF-8 sequence is copied whole or not at all.
      size_t k = 1;
      if (c >= 0xC0) k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      if ((size_t)(end - p) < k) return NULL;
      for (size_t i = 1; i < k; i++)
        if (p[i] == '"' || p[i] == '\\' || (unsigned char)p[i] < 0x20) return NULL;
      put(o, p, k);
      p += k;
      continue;
    }
    if (++p >= end) return NULL;
    char e = *p++;
    static const char kFrom[] = "\"\\/bfnrt", kTo[] = "\"\\/\b\f\n\r\t";
    const char *simple = e ? strchr(kFrom, e) : NULL;
    if (simple) {
      put(o, &kTo[simple - kFrom], 1);
      continue;
    }
    if (e != 'u') return NULL;
    long u = hex4(p, end);
    if (u < 0) return NULL;
    p += 4;
    uint32_t cp = (uint32_t)u;
    if (cp >= 0xD800 && cp < 0xDC00) {  // a high surrogate: its low half must follow
      long lo = end - p >= 6 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2, end) : -1;
      if (lo >= 0xDC00 && lo < 0xE000) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (uint32_t)(lo - 0xDC00);
        p += 6;
      } else {
        cp = 0xFFFD;
      }
    } else if (cp >= 0xDC00 && cp < 0xE000) {
      cp = 0xFFFD;  // a lone low surrogate
    }
    put_code_point(o, cp);
  }
  return NULL;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Returns the end of the number starting at p, or NULL.
static const char *scan_number(const char *p, const char *end) {
  if (p < end && *p == '-') p++;
  if (p >= end || !is_digit(*p)) return NULL;
  if (*p == '0') p++;
  else
    while (p < end && is_digit(*p)) p++;
  if (p < end && *p == '.') {
    if (++p >= end || !is_digit(*p)) return NULL;
    while (p < end && is_digit(*p)) p++;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    if (p >= end || !is_digit(*p)) return NULL;
    while (p < end && is_digit(*p)) p++;
  }
  return p;
}

static const char *skip_at(const char *p, const char *end, int depth) {
  p = ws(p, end);
  if (p >= end) return NULL;
  out none = {0};
  switch (*p) {
    case '"': return scan_string(p, end, &none);
    case '{':
    case '[': {
      if (depth >= kMaxDepth) return NULL;
      char close = *p == '{' ? '}' : ']';
      bool object = *p == '{';
      p = ws(p + 1, end);
      if (p < end && *p == close) return p + 1;
      for (;;) {
        if (object) {
          p = scan_string(ws(p, end), end, &none);
          if (!p) return NULL;
          p = ws(p, end);
          if (p >= end || *p != ':') return NULL;
          p++;
        }
        p = skip_at(p, end, depth + 1);
        if (!p) return NULL;
        p = ws(p, end);
        if (p >= end) return NULL;
        if (*p == close) return p + 1;
        if (*p != ',') return NULL;
        p++;
      }
    }
    case 't': return end - p >= 4 && !memcmp(p, "true", 4) ? p + 4 : NULL;
    case 'f': return end - p >= 5 && !memcmp(p, "false", 5) ? p + 5 : NULL;
    case 'n': return end - p >= 4 && !memcmp(p, "null", 4) ? p + 4 : NULL;
    default: return scan_number(p, end);
  }
}

const char *json_skip(const char *p, const char *end) { return skip_at(p, end, 0); }

const char *json_member(const char *p, const char *end, const char *key) {
  p = ws(p, end);
  if (p >= end || *p != '{') return NULL;
  p = ws(p + 1, end);
  if (p < end && *p == '}') return NULL;
  size_t key_len = strlen(key);
  for (;;) {
    char name[256];
    out o = {name, sizeof name, 0, false};
    p = scan_string(ws(p, end), end, &o);
    if (!p) return NULL;
    p = ws(p, end);
    if (p >= end || *p != ':') return NULL;
    p = ws(p + 1, end);
    if (!o.cut && o.len == key_len && !memcmp(name, key, key_len)) return p < end ? p : NULL;
    p = json_skip(p, end);
    if (!p) return NULL;
    p = ws(p, end);
    if (p >= end || *p != ',') return NULL;  // '}' or malformed: no such member
    p++;
  }
}

bool json_array_begin(json_iter *it, const char *p, const char *end) {
  p = ws(p, end);
  *it = (json_iter){NULL, end, true, false};
  if (p >= end || *p != '[') return false;
  it->p = p + 1;
  return true;
}

const char *json_array_next(json_iter *it) {
  const char *p = it->p;
  if (!p) return NULL;
  if (it->first) {
    it->first = false;
    p = ws(p, it->end);
    if (p < it->end && *p == ']') {
      it->p = NULL;
      return NULL;
    }
  } else {
    p = json_skip(p, it->end);  // the element returned last
    p = p ? ws(p, it->end) : NULL;
    if (p && p < it->end && *p == ']') {
      it->p = NULL;
      return NULL;
    }
    if (!p || p >= it->end || *p != ',') {
      it->error = true;
      it->p = NULL;
      return NULL;
    }
    p = ws(p + 1, it->end);
  }
  if (p >= it->end) {
    it->error = true;
    it->p = NULL;
    return NULL;
  }
  it->p = p;
  return p;
}

bool json_string(const char *p, const char *end, char *buf, size_t n) {
  if (n == 0) return false;
  out o = {buf, n, 0, false};
  buf[0] = 0;
  return scan_string(ws(p, end), end, &o) != NULL;
}

bool json_number(const char *p, const char *end, double *out_value) {
  p = ws(p, end);
  const char *e = scan_number(p, end);
  if (!e) return false;
  // strtod wants a terminated string; a JSON number never needs locale
  // handling (the tool never calls setlocale, so "." is the decimal point).
  char num[64];
  if ((size_t)(e - p) >= sizeof num) return false;
  memcpy(num, p, (size_t)(e - p));
  num[e - p] = 0;
  *out_value = strtod(num, NULL);
  return true;
}
