// export/text.c: UTF-8 checking and terminal-safe strings (see format.h).
#include <stdint.h>
#include <string.h>

#include "export/format.h"

size_t xsmem_utf8_len(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  unsigned c = p[0];
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp, min;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2, cp = c & 0x1f, min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3, cp = c & 0x0f, min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;  // a continuation byte, an overlong lead (c0, c1) or beyond U+10FFFF
  }
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0;  // cut short (the NUL ends it too)
    cp = cp << 6 | (p[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

// Returns the code point of the valid sequence of length n at p.
static uint32_t code_point(const unsigned char *p, size_t n) {
  if (n == 1) return p[0];
  uint32_t cp = p[0] & (0x7f >> n);
  for (size_t i = 1; i < n; i++) cp = cp << 6 | (p[i] & 0x3f);
  return cp;
}

// Characters a terminal acts on or that reorder what it shows: C1 controls
// (U+0080..U+009F; some terminals take U+009B as CSI) and the bidirectional
// overrides and isolates ("Trojan Source").
static bool invisible_control(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

void xsmem_term_string(xsmem_buf *out, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  if (!s) n = 0;
  size_t i = 0;
  while (i < n && p[i]) {
    size_t run = i;  // printable ASCII goes in one append
    while (i < n && p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') i++;
    if (i > run) xsmem_buf_append(out, p + run, i - run);
    if (i >= n || !p[i]) break;
    unsigned c = p[i];
    if (c == '\\') {
      xsmem_buf_puts(out, "\\\\");
      i++;
    } else if (c < 0x80) {
      const char *named = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
      if (named) {
        xsmem_buf_puts(out, named);
      } else {
        char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
        xsmem_buf_append(out, e, 4);
      }
      i++;
    } else {
      size_t len = i + 4 <= n ? xsmem_utf8_len((const char *)p + i) : 0;
      if (!len && i + 4 > n) {  // a sequence near the end of a counted string
        char tmp[5] = {0};
        memcpy(tmp, p + i, n - i);
        len = xsmem_utf8_len(tmp);
      }
      if (!len) {
        char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
        xsmem_buf_append(out, e, 4);
        i++;
      } else if (invisible_control(code_point(p + i, len))) {
        uint32_t cp = code_point(p + i, len);
        char e[6] = {'\\', 'u', hex[cp >> 12], hex[(cp >> 8) & 15], hex[(cp >> 4) & 15], hex[cp & 15]};
        xsmem_buf_append(out, e, 6);
        i += len;
      } else {
        xsmem_buf_append(out, p + i, len);
        i += len;
      }
    }
  }
}
