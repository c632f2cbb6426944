#!/bin/bash
# The option table (platform/options_list.h) and the packages' declarations
# (options.bzl beside each package's code) name the same options.
# usage: options_table_test.sh OPTIONS_LIST_H DECLARED...
set -uo pipefail
table=$1
shift
diff <(grep -oE '^XSMEM_OPTION\(XSMEM_[A-Z0-9_]+' "$table" | sed 's/XSMEM_OPTION(//' | sort -u) <(printf '%s\n' "$@" | sort -u) \
  && echo "$# options: every row declared by a package, every declaration a row" && exit 0
echo "FAIL: < a row no package declares it reads; > declared without a row in platform/options_list.h"
exit 1
