// export/buf.c: os_vm-backed buffers and arenas (see buf.h).
#include "export/buf.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "platform/atomics.h"
#include "platform/log.h"
#include "platform/os_vm.h"

// ---------------------------------------------------------------------------
// A small cache of mappings: a scrape or a dashboard poll maps and unmaps the
// same few regions each time, and on virtual machines the page faults and
// munmap cost more than the work. Up to CACHE_SLOTS mappings of at most
// CACHE_MAX bytes are kept (at most 1 MiB held while idle). Arena chunks go
// back zeroed over the bytes they used, so a cached chunk is as clean as a
// fresh mapping; buffer mappings need no zeroing.

enum { CACHE_SLOTS = 4, CACHE_MAX = 256 * 1024 };

typedef struct cached_map {
  void *p;
  size_t size;
  bool zeroed;
} cached_map;

static cached_map g_cache[CACHE_SLOTS];
static xsmem_spinlock g_cache_lock;

static void *map_cached(size_t size, bool need_zero) {
  void *p = NULL;
  xsmem_spin_lock(&g_cache_lock);
  for (int i = 0; i < CACHE_SLOTS; i++) {
    if (g_cache[i].p && g_cache[i].size == size && (g_cache[i].zeroed || !need_zero)) {
      p = g_cache[i].p;
      g_cache[i].p = NULL;
      break;
    }
  }
  xsmem_spin_unlock(&g_cache_lock);
  return p ? p : xsmem_os_map(size, xsmem_os_page_size(), 0);
}

static void unmap_cached(void *p, size_t size, bool zeroed) {
  if (size <= CACHE_MAX) {
    xsmem_spin_lock(&g_cache_lock);
    for (int i = 0; i < CACHE_SLOTS; i++) {
      if (!g_cache[i].p) {
        g_cache[i] = (cached_map){p, size, zeroed};
        xsmem_spin_unlock(&g_cache_lock);
        return;
      }
    }
    xsmem_spin_unlock(&g_cache_lock);
  }
  xsmem_os_unmap(p, size);
}

bool xsmem_buf_reserve(xsmem_buf *b, size_t extra) {
  if (b->failed) return false;
  if (b->len + extra + 1 <= b->cap) return true;
  size_t want = b->cap ? b->cap : 16 * 1024;
  while (want < b->len + extra + 1) {
    if (want > (SIZE_MAX >> 2)) {
      b->failed = true;
      return false;
    }
    want *= 2;
  }
  want = xsmem_align_up(want, xsmem_os_page_size());
  char *p = map_cached(want, false);
  if (!p) {
    b->failed = true;
    return false;
  }
  if (b->data) {
    memcpy(p, b->data, b->len);
    unmap_cached(b->data, b->cap, false);
  }
  b->data = p;
  b->cap = want;
  return true;
}

void xsmem_buf_append(xsmem_buf *b, const void *p, size_t n) {
  if (!xsmem_buf_reserve(b, n)) return;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void xsmem_buf_puts(xsmem_buf *b, const char *s) { xsmem_buf_append(b, s, strlen(s)); }

void xsmem_buf_printf(xsmem_buf *b, const char *fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  size_t n = xsmem_vsnprintf(small, sizeof(small), fmt, ap);
  va_end(ap);
  if (n < sizeof(small)) {
    xsmem_buf_append(b, small, n);
    return;
  }
  if (!xsmem_buf_reserve(b, n)) return;
  va_start(ap, fmt);
  xsmem_vsnprintf(b->data + b->len, n + 1, fmt, ap);
  va_end(ap);
  b->len += n;
}

void xsmem_buf_number(xsmem_buf *b, double v, const char *nan_text, const char *inf_text) {
  if (isnan(v)) {
    xsmem_buf_puts(b, nan_text);
    return;
  }
  if (isinf(v)) {
    if (v < 0) xsmem_buf_puts(b, "-");
    xsmem_buf_puts(b, inf_text);
    return;
  }
  if (v == floor(v) && fabs(v) < 9.0e15) {  // exact in a double: print as integer
    xsmem_buf_printf(b, "%lld", (long long)v);
    return;
  }
  if (fabs(v) >= 1e18) {  // beyond xsmem_snprintf's %f: scientific by hand
    int e = 0;
    double m = fabs(v);
    while (m >= 10.0) {
      m /= 10.0;
      e++;
    }
    xsmem_buf_printf(b, "%s%.9fe%d", v < 0 ? "-" : "", m, e);
    return;
  }
  char tmp[64];
  size_t n = xsmem_snprintf(tmp, sizeof(tmp), "%.9f", v);
  while (n > 0 && tmp[n - 1] == '0') n--;
  if (n > 0 && tmp[n - 1] == '.') n--;
  xsmem_buf_append(b, tmp, n);
}

void xsmem_buf_free(xsmem_buf *b) {
  if (b->data) unmap_cached(b->data, b->cap, false);
  b->data = NULL;
  b->len = b->cap = 0;
  b->failed = false;
}

char *xsmem_buf_take(xsmem_buf *b, size_t *len, size_t *cap) {
  char *d = b->data;
  *len = b->len;
  *cap = b->cap;
  b->data = NULL;
  b->len = b->cap = 0;
  b->failed = false;
  return d;
}

void xsmem_buf_release_data(char *data, size_t cap) {
  if (data) unmap_cached(data, cap, false);
}

// ---------------------------------------------------------------------------
// Arena.

struct xsmem_arena_chunk {
  xsmem_arena_chunk *next;
  size_t size;  // bytes mapped, header included
  size_t used;  // bytes used, header included
};

enum { ARENA_CHUNK = 256 * 1024, ARENA_HEADER = 32 };

void *xsmem_arena_alloc(xsmem_arena *a, size_t n) {
  if (a->failed) return NULL;
  n = xsmem_align_up(n ? n : 1, 16);
  xsmem_arena_chunk *c = a->head;
  if (!c || c->size - c->used < n) {
    size_t size = ARENA_CHUNK;
    if (n + ARENA_HEADER > size) size = xsmem_align_up(n + ARENA_HEADER, xsmem_os_page_size());
    c = map_cached(size, true);
    if (!c) {
      a->failed = true;
      return NULL;
    }
    c->size = size;
    c->used = ARENA_HEADER;
    c->next = a->head;
    a->head = c;
    a->bytes_mapped += size;
  }
  void *p = (char *)c + c->used;  // fresh mappings read as zero
  c->used += n;
  return p;
}

char *xsmem_arena_strdup(xsmem_arena *a, const char *s) {
  if (!s) s = "";
  size_t n = strlen(s);
  char *p = xsmem_arena_alloc(a, n + 1);
  if (p) memcpy(p, s, n + 1);
  return p;
}

void xsmem_arena_free(xsmem_arena *a) {
  xsmem_arena_chunk *c = a->head;
  while (c) {
    xsmem_arena_chunk *next = c->next;
    size_t size = c->size, used = c->used;
    if (size <= CACHE_MAX) {
      memset(c, 0, used);  // as clean as a fresh mapping for the next arena
      unmap_cached(c, size, true);
    } else {
      xsmem_os_unmap(c, size);
    }
    c = next;
  }
  a->head = NULL;
  a->bytes_mapped = 0;
  a->failed = false;
}

static void *arena_pb_alloc(void *ctx, size_t n) { return xsmem_arena_alloc(ctx, n); }
static void arena_pb_free(void *ctx, void *p) {}

ProtobufCAllocator xsmem_arena_pb(xsmem_arena *a) {
  ProtobufCAllocator pa = {arena_pb_alloc, arena_pb_free, a};
  return pa;
}
