// platform/options.h: XSMEM_* options read from the environment without allocating.
//
// Every option is declared once in platform/options_list.h with its default,
// its kind (text, switch, integer, size, number, choice), the values it
// accepts and whether it may change while the process runs. An option's
// value comes from, first to last:
//   1. xsmem_option_set (run time; LIVE options only),
//   2. the variable XSMEM_NAME,
//   3. the variable XSMEM_OPTIONS="name=value,name=value" (names with or
//      without the XSMEM_ prefix, in any case; the last setting of a name
//      wins; a piece without '=' continues the value before it when that is
//      a text option, so comma-separated lists can be given),
//   4. the default.
// Every read validates the value: one that does not fit the option's kind and
// range is reported once on stderr (the option, the value given, what is
// accepted, the value used instead) and the default is used; nothing aborts.
// At the first read the process's environment is checked once: XSMEM_*
// variables that are not options (nor names xsmem's tools use), lowercase
// xsmem_* variables and XSMEM_OPTIONS names that are not options are reported
// with the closest option's name.
//
// Lookups scan `environ` directly (getenv-free, so they work inside a
// preloaded malloc before libc is fully up) and nothing here calls malloc:
// XSMEM_OPTIONS is copied into static storage (at most 4095 characters and 64
// settings: the rest is reported and ignored), values set at run time into a
// static 8 KiB arena (xsmem_option_set returns ENOMEM when it is full).
// Callers read an option once, when they are built, and keep the value.
// Asking for an undeclared name, or reading an option as a kind it is not, is
// a fatal error: the table stays complete and right.
//
// xsmem_option_set and xsmem_option_get are public API (stable for programs
// that link xsmem); the rest serves xsmem's own parts and tools.
#ifndef XSMEM_PLATFORM_OPTIONS_H_
#define XSMEM_PLATFORM_OPTIONS_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum xsmem_option_kind {
  XSMEM_OPTION_STR,     // any text
  XSMEM_OPTION_BOOL,    // 1/0, on/off, true/false, yes/no
  XSMEM_OPTION_INT,     // a decimal integer within the accepted range
  XSMEM_OPTION_BYTES,   // a size, k/m/g/t suffixes, within the accepted range
  XSMEM_OPTION_NUMBER,  // a decimal number within the accepted range (empty: 0)
  XSMEM_OPTION_CHOICE,  // one of the accepted words ("a/b/c"), any case
} xsmem_option_kind;

typedef struct xsmem_option_info {
  const char *name;           // XSMEM_...
  const char *default_value;  // "" for none
  xsmem_option_kind kind;
  const char *accepted;     // "MIN..MAX", "MIN..", "a/b/c", or a description for text
  bool live;                // xsmem_option_set may change it while the process runs
  const char *description;  // one line
} xsmem_option_info;

// Where an option's value came from.
typedef enum xsmem_option_source {
  XSMEM_OPTION_FROM_DEFAULT,
  XSMEM_OPTION_FROM_ENV,      // its own variable, XSMEM_NAME
  XSMEM_OPTION_FROM_OPTIONS,  // XSMEM_OPTIONS
  XSMEM_OPTION_FROM_SET,      // xsmem_option_set
} xsmem_option_source;

// An option's state in this process.
typedef struct xsmem_option_state {
  const xsmem_option_info *info;
  xsmem_option_source source;  // where `given` came from (FROM_DEFAULT: nothing given)
  const char *given;           // the value given, NULL when none
  bool accepted;               // given fits the option (true when nothing was given)
  const char *value;           // the value in effect: given when accepted, else the default
} xsmem_option_state;

// Returns the declared options (count in *n).
const xsmem_option_info *xsmem_options_table(size_t *n);

// Returns the raw value in effect of a declared option (validated as below:
// the default when the value given does not fit). The string is not copied;
// do not free it.
const char *xsmem_option_str(const char *name);

// Returns the option as a size in bytes; accepts k, m, g, t suffixes (powers of 1024).
size_t xsmem_option_bytes(const char *name);

// Returns the option as an integer.
long long xsmem_option_int(const char *name);

// Returns the option as a boolean (1/0, on/off, true/false, yes/no).
bool xsmem_option_bool(const char *name);

// Returns the option as a number (an empty value is 0).
double xsmem_option_number(const char *name);

// Returns the index of the option's value in choices[0..n) (case-insensitive).
// REQUIRES: choices are the option's accepted words, in the table's order.
int xsmem_option_choice(const char *name, const char *const *choices, int n);

// Fills *out with the option's state without reporting anything (for
// listings). Returns false for a name that is not declared. name may omit the
// XSMEM_ prefix and is matched in any case.
bool xsmem_option_lookup(const char *name, xsmem_option_state *out);

// Writes what the option accepts, in words ("a size in 1k..1m"), into buf.
void xsmem_option_describe_accepted(const xsmem_option_info *o, char *buf, size_t cap);

// Returns "default", "environment", "XSMEM_OPTIONS" or "xsmem_option_set".
const char *xsmem_option_source_name(xsmem_option_source s);

// Writes one line per option, "  XSMEM_NAME=value (where from)", to fd: the
// options named in `names` (space-separated), or every option when NULL.
void xsmem_options_print(int fd, const char *names);

// Returns a counter that xsmem_option_set increments on every change: a part
// that follows LIVE options compares it with the value it last saw (off its
// hot path) and reads its options again when it moved.
uint64_t xsmem_options_generation(void);

// Sets a LIVE option for the rest of the process (it takes precedence over
// the environment); value NULL forgets a value set before. name may omit the
// XSMEM_ prefix, in any case. Returns 0, or ENOENT (no such option), ENOTSUP
// (the option is read once, when its part is built: set it in the environment
// instead), EINVAL (the value does not fit; nothing changed) or ENOMEM (the
// 8 KiB of storage for values set at run time is used up). Thread-safe.
// docs/OPTIONS.md says when each LIVE option's readers see the change.
int xsmem_option_set(const char *name, const char *value);

// Returns the value in effect of an option (as the readers see it: set,
// environment, XSMEM_OPTIONS or default; validated), or NULL for a name that
// is not an option. The string stays valid for the life of the process.
const char *xsmem_option_get(const char *name);

// Looks a variable up in environ without allocating; NULL when unset.
const char *xsmem_getenv(const char *name);

// Tests only: forgets XSMEM_OPTIONS's parse, the environment check, the
// reports made and the values set, as if no option had been read yet.
// REQUIRES: no other thread reads options meanwhile.
void xsmem_options_reset_for_testing(void);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_PLATFORM_OPTIONS_H_
