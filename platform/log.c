#include "platform/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *xsmem_strerror(int err) {
  const char *d = strerrordesc_np(err);
  return d ? d : "unknown error";
}

// ---------------------------------------------------------------------------
// A tiny printf: enough for error reports and stats text, no allocation.

typedef struct out_buf {
  char *buf;
  size_t cap;
  size_t len;  // length of the full output, even past cap
} out_buf;

static void put_char(out_buf *o, char c) {
  if (o->len + 1 < o->cap) o->buf[o->len] = c;
  o->len++;
}

static void put_padded(out_buf *o, const char *s, size_t n, int width, bool left, char pad) {
  int fill = width > (int)n ? width - (int)n : 0;
  if (!left) {
    // Zero padding goes after a sign.
    if (pad == '0' && n > 0 && s[0] == '-') {
      put_char(o, '-');
      s++;
      n--;
    }
    while (fill-- > 0) put_char(o, pad);
  }
  for (size_t i = 0; i < n; i++) put_char(o, s[i]);
  if (left) {
    while (fill-- > 0) put_char(o, ' ');
  }
}

// Formats v in base into tmp (right to left); returns the start.
static char *format_unsigned(char *end, unsigned long long v, unsigned base, bool upper) {
  const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char *p = end;
  do {
    *--p = digits[v % base];
    v /= base;
  } while (v != 0);
  return p;
}

size_t xsmem_vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap) {
  out_buf o = {buf, cap, 0};
  for (const char *f = fmt; *f; f++) {
    if (*f != '%') {
      put_char(&o, *f);
      continue;
    }
    f++;
    bool left = false;
    char pad = ' ';
    for (;; f++) {
      if (*f == '-') left = true;
      else if (*f == '0') pad = '0';
      else break;
    }
    int width = 0;
    while (*f >= '0' && *f <= '9') width = width * 10 + (*f++ - '0');
    int prec = -1;
    if (*f == '.') {
      f++;
      prec = 0;
      while (*f >= '0' && *f <= '9') prec = prec * 10 + (*f++ - '0');
    }
    int lng = 0;  // 0 int, 1 long, 2 long long, 3 size_t
    if (*f == 'z') {
      lng = 3;
      f++;
    } else if (*f == 'l') {
      lng = 1;
      f++;
      if (*f == 'l') {
        lng = 2;
        f++;
      }
    }
    char tmp[72];
    char *end = tmp + sizeof(tmp);
    switch (*f) {
      case '%': put_char(&o, '%'); break;
      case 'c': {
        char c = (char)va_arg(ap, int);
        put_padded(&o, &c, 1, width, left, ' ');
        break;
      }
      case 's': {
        const char *s = va_arg(ap, const char *);
        if (!s) s = "(null)";
        size_t n = strlen(s);
        if (prec >= 0 && (size_t)prec < n) n = (size_t)prec;
        put_padded(&o, s, n, width, left, ' ');
        break;
      }
      case 'd':
      case 'i': {
        long long v = lng == 0 ? va_arg(ap, int)
            : lng == 1         ? va_arg(ap, long)
            : lng == 2         ? va_arg(ap, long long)
                               : (long long)va_arg(ap, ptrdiff_t);
        unsigned long long mag = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
        char *p = format_unsigned(end, mag, 10, false);
        if (v < 0) *--p = '-';
        put_padded(&o, p, (size_t)(end - p), width, left, pad);
        break;
      }
      case 'u':
      case 'x':
      case 'X': {
        unsigned long long v = lng == 0 ? va_arg(ap, unsigned)
            : lng == 1                  ? va_arg(ap, unsigned long)
            : lng == 2                  ? va_arg(ap, unsigned long long)
                                        : va_arg(ap, size_t);
        char *p = format_unsigned(end, v, *f == 'u' ? 10 : 16, *f == 'X');
        put_padded(&o, p, (size_t)(end - p), width, left, pad);
        break;
      }
      case 'p': {
        char *p = format_unsigned(end, (uintptr_t)va_arg(ap, void *), 16, false);
        *--p = 'x';
        *--p = '0';
        put_padded(&o, p, (size_t)(end - p), width, left, ' ');
        break;
      }
      case 'f': {
        double v = va_arg(ap, double);
        if (prec < 0) prec = 3;
        if (prec > 9) prec = 9;
        char *p = end;
        if (v != v) {
          p -= 3;
          memcpy(p, "nan", 3);
        } else if (v > 1e18 || v < -1e18) {
          p -= 3;
          memcpy(p, "inf", 3);
          if (v < 0) *--p = '-';
        } else {
          bool neg = v < 0;
          if (neg) v = -v;
          unsigned long long scale = 1;
          for (int i = 0; i < prec; i++) scale *= 10;
          unsigned long long whole = (unsigned long long)v;
          unsigned long long frac = (unsigned long long)((v - (double)whole) * (double)scale + 0.5);
          if (frac >= scale) {
            whole++;
            frac -= scale;
          }
          if (prec > 0) {
            for (int i = 0; i < prec; i++) {
              *--p = (char)('0' + frac % 10);
              frac /= 10;
            }
            *--p = '.';
          }
          p = format_unsigned(p, whole, 10, false);
          if (neg) *--p = '-';
        }
        put_padded(&o, p, (size_t)(end - p), width, left, pad);
        break;
      }
      case '\0': f--; break;
      default:
        put_char(&o, '%');
        put_char(&o, *f);
        break;
    }
  }
  if (cap > 0) buf[o.len < cap ? o.len : cap - 1] = '\0';
  return o.len;
}

size_t xsmem_snprintf(char *buf, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t n = xsmem_vsnprintf(buf, cap, fmt, ap);
  va_end(ap);
  return n;
}

void xsmem_write_all(int fd, const char *buf, size_t len) {
  int saved = errno;  // reporting must not disturb the caller's errno
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    buf += n;
    len -= (size_t)n;
  }
  errno = saved;
}

static void vlog(int fd, const char *prefix, const char *fmt, va_list ap) {
  char buf[4096];
  size_t n = xsmem_snprintf(buf, sizeof(buf), "%s", prefix);
  if (n < sizeof(buf)) n += xsmem_vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
  if (n > sizeof(buf) - 2) n = sizeof(buf) - 2;
  buf[n++] = '\n';
  xsmem_write_all(fd, buf, n);
}

void xsmem_dprintf(int fd, const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  size_t n = xsmem_vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  xsmem_write_all(fd, buf, n < sizeof(buf) ? n : sizeof(buf) - 1);
}

void xsmem_log(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(2, "xsmem: ", fmt, ap);
  va_end(ap);
}

void xsmem_fatal(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(2, "xsmem: fatal: ", fmt, ap);
  va_end(ap);
  abort();
}
