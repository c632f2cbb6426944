// export/runtime.c: links the exporter into a process (//export:runtime).
//
// A constructor starts it from the XSMEM_* options (service.h) and a
// destructor stops it at exit. Link it into a preloadable library or a
// program next to a configuration; without any export option set it starts
// nothing and costs one environment scan.
#include "export/service.h"
#include "platform/base.h"

// The options the exporter reads (export/options.bzl). The malloc shim refers
// to it weakly: its presence says the exporter is linked (XSMEM_HTTP and
// XSMEM_SNAPSHOT do something), and XSMEM_VERBOSE prints these options too.
XSMEM_EXPORT const char xsmem_export_options[] = XSMEM_EXPORT_OPTIONS;

__attribute__((constructor)) static void xsmem_export_runtime_start(void) { xsmem_export_start(); }

__attribute__((destructor)) static void xsmem_export_runtime_stop(void) { xsmem_export_stop(); }
