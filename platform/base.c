#include "platform/base.h"

const char *xsmem_status_str(xsmem_status s) {
  switch (s) {
    case XSMEM_OK: return "ok";
    case XSMEM_ENOMEM: return "out of memory";
    case XSMEM_EINVAL: return "invalid argument";
    case XSMEM_ENOTFOUND: return "not found";
    case XSMEM_EUNSUPPORTED: return "unsupported";
  }
  return "unknown status";
}

static char fold(char c) { return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c; }

size_t xsmem_edit_distance(const char *a, size_t la, const char *b, size_t lb) {
  size_t row[XSMEM_EDIT_DISTANCE_MAX + 1];
  la = XSMEM_MIN(la, (size_t)XSMEM_EDIT_DISTANCE_MAX);
  lb = XSMEM_MIN(lb, (size_t)XSMEM_EDIT_DISTANCE_MAX);
  for (size_t j = 0; j <= lb; j++) row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t sub = diag + (fold(a[i - 1]) != fold(b[j - 1]));
      row[j] = XSMEM_MIN(XSMEM_MIN(row[j - 1] + 1, up + 1), sub);
      diag = up;
    }
  }
  return row[lb];
}
