// platform/options.h: XSMEM_* options read from the environment without allocating.
//
// Every option is declared once in platform/options_list.h with its default
// and description. Lookups scan `environ` directly (getenv-free, so they work
// inside a preloaded malloc before libc is fully up); callers read an option
// once and keep the value. Asking for an undeclared name is a fatal error:
// the table stays complete.
#ifndef XSMEM_PLATFORM_OPTIONS_H_
#define XSMEM_PLATFORM_OPTIONS_H_

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsmem_option_info {
  const char *name;
  const char *default_value;
  const char *description;
} xsmem_option_info;

// Returns the declared options (count in *n).
const xsmem_option_info *xsmem_options_table(size_t *n);

// Returns the raw value of a declared option: the environment's if set, else
// its default. The string is not copied; do not free it.
const char *xsmem_option_str(const char *name);

// Returns the option as a size in bytes; accepts k, m, g suffixes (powers of 1024).
// A malformed value logs a warning and yields the default.
size_t xsmem_option_bytes(const char *name);

// Returns the option as an integer; malformed values log and yield the default.
long long xsmem_option_int(const char *name);

// Returns the option as a boolean (1/0, on/off, true/false, yes/no).
bool xsmem_option_bool(const char *name);

// Returns the index of the option's value in choices[0..n) (case-insensitive);
// an unknown value logs the accepted ones and yields the default's index.
int xsmem_option_choice(const char *name, const char *const *choices, int n);

// Looks a variable up in environ without allocating; NULL when unset.
const char *xsmem_getenv(const char *name);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_PLATFORM_OPTIONS_H_
