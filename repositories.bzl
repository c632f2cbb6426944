"""xsmem_dependencies(): every external repository xsmem needs, offline.

Bazel 4.2.3 (Debian's bazel-bootstrap) would download @rules_cc, @rules_java,
@platforms and @remote_coverage_tools; each is replaced here by a local one.
Third-party libraries come from Debian packages (installed by ./bazelw): headers
are on the compiler's default include path, so //third_party/<lib> are plain
cc_library wrappers with linkopts; googletest is compiled from /usr/src. Paths are resolved relative to this
repository so a consumer workspace can call this macro too.
"""

def _xsmem_path(label):
    # A label of this repository, valid from any workspace that calls the macro.
    return Label("//" + label)

def _maybe(rule, name, **kwargs):
    if name not in native.existing_rules():
        rule(name = name, **kwargs)

def _local_dir_repo_impl(rctx):
    # A repository whose files are symlinked from a folder of xsmem itself.
    src = rctx.path(rctx.attr.marker).dirname
    for f in src.readdir():
        rctx.symlink(f, f.basename)

_local_dir_repo = repository_rule(
    implementation = _local_dir_repo_impl,
    attrs = {"marker": attr.label(allow_single_file = True)},
    local = True,
)

def xsmem_dependencies():
    """Declares every repository xsmem needs; call it from WORKSPACE."""
    _maybe(_local_dir_repo, "rules_cc", marker = _xsmem_path("third_party/rules_cc:WORKSPACE"))
    _maybe(_local_dir_repo, "remote_coverage_tools", marker = _xsmem_path("third_party/remote_coverage_tools:WORKSPACE"))
    _maybe(native.local_repository, "rules_java", path = "/usr/share/bazel/rules/java")
    _maybe(native.local_repository, "platforms", path = "/usr/share/bazel/tools/platforms")

    # googletest is built from the sources of Debian's `googletest` package.
    _maybe(
        native.new_local_repository,
        "com_google_googletest",
        path = "/usr/src/googletest",
        build_file = str(_xsmem_path("third_party/googletest:googletest.BUILD")),
    )
