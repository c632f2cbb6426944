"""Preloadable libraries with the exporter linked in, one per configuration."""

load("//allocators:configs.bzl", "xsmem_malloc_config_names", "xsmem_public_config_names", "xsmem_soname", "xsmem_tracked_config")

def xsmem_export_libraries(names = None):
    """libxsmem_NAME_export.so: //allocators:NAME + //export:runtime, for each configuration.

    LD_PRELOAD one of them and set XSMEM_HTTP / XSMEM_SNAPSHOT to observe any
    program. The filegroup :preload_libraries lists them all, :public_libraries
    those //:install ships.
    """
    names = names or xsmem_malloc_config_names()
    for name in names:
        native.cc_binary(
            name = "libxsmem_%s_export.so" % name,
            linkshared = 1,
            # The SONAME: see //allocators:libxsmem_NAME.so.
            linkopts = [
                "-Wl,-Bsymbolic-functions",
                "-Wl,-z,nodelete",
                "-Wl,-soname,%s" % xsmem_soname("libxsmem_%s_export.so" % name),
            ],
            # Tracked configurations also get the tracker's analyses.
            deps = [
                "//allocators:" + name,
                ":runtime",
            ] + ([":tracker_provider"] if xsmem_tracked_config(name) else []),
            visibility = ["//visibility:public"],
        )
    native.filegroup(
        name = "preload_libraries",
        srcs = ["libxsmem_%s_export.so" % n for n in names],
        visibility = ["//visibility:public"],
    )
    native.filegroup(
        name = "public_libraries",
        srcs = ["libxsmem_%s_export.so" % n for n in names if n in xsmem_public_config_names()],
        visibility = ["//visibility:public"],
    )
