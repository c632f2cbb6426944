"""xsmem's version: the one place it is written.

XSMEM_VERSION names the release (CHANGELOG.md, the dist tarball, the installed
libraries' file names, pkg-config's Version, CMake's package version).
XSMEM_SOVERSION is the major part of the shared libraries' SONAME
(libxsmem_NAME.so.XSMEM_SOVERSION): bump it with any change that breaks
programs linked against an earlier release (a removed or changed symbol, a
changed struct in allocators/allocator.h or allocators/registry.h).
"""

XSMEM_VERSION = "0.5.0"
XSMEM_SOVERSION = "0"
