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
