// export/provider.c: the analysis provider slot and the observer-thread flag.
#include "export/provider.h"

#include <stdatomic.h>

static _Atomic(const xsmem_analysis_provider *) g_provider;
// initial-exec: no allocation on first access from a preloaded library.
static __thread int g_observer __attribute__((tls_model("initial-exec")));

void xsmem_export_set_provider(const xsmem_analysis_provider *p) { atomic_store(&g_provider, p); }

const xsmem_analysis_provider *xsmem_export_provider(void) { return atomic_load(&g_provider); }

bool xsmem_export_observer_thread(void) { return g_observer != 0; }

void xsmem_export_set_observer_thread(bool on) { g_observer = on; }
