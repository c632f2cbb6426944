// tools/json_scan.h: a few fields read out of a JSON document, in place.
//
// `xsmem bench` reads google benchmark's --benchmark_format=json output
// (the "benchmarks" array: each entry's "name" and "items_per_second"). This
// is the little it needs and no more: no tree is built and nothing is
// allocated; a value is a pointer to its first byte inside [text, end), and
// every function checks the grammar of what it walks (RFC 8259), never
// reading at or past end. Input need not be NUL-terminated.
#ifndef XSMEM_TOOLS_JSON_SCAN_H_
#define XSMEM_TOOLS_JSON_SCAN_H_

#include <stdbool.h>
#include <stddef.h>

// Returns the end of the one JSON value starting at p (after white space),
// or NULL when [p, end) does not start with a well-formed value. Nesting
// deeper than 64 arrays or objects is refused.
const char *json_skip(const char *p, const char *end);

// Returns the start of the value of the first member named key of the object
// at p, or NULL (no object at p, malformed, or no such member).
const char *json_member(const char *p, const char *end, const char *key);

// Iteration over the elements of an array:
//   json_iter it;
//   if (json_array_begin(&it, p, end))
//     for (const char *e; (e = json_array_next(&it));) ...
//   if (it.error) ... (malformed)
typedef struct json_iter {
  const char *p, *end;
  bool first;
  bool error;
} json_iter;

// Returns false when p holds no array.
bool json_array_begin(json_iter *it, const char *p, const char *end);
// Returns the start of the next element, or NULL at the end of the array
// (it->error set when the array is malformed).
const char *json_array_next(json_iter *it);

// Decodes the string at p into buf (n bytes, NUL-terminated, UTF-8; a longer
// string is cut at a character boundary). Returns false when p holds no
// well-formed string.
bool json_string(const char *p, const char *end, char *buf, size_t n);

// Reads the number at p into *out. Returns false when p holds no number.
bool json_number(const char *p, const char *end, double *out);

#endif  // XSMEM_TOOLS_JSON_SCAN_H_
