// tracking/unwind.h: call stacks through code built without frame pointers,
// from the call-frame information (.eh_frame) of each loaded module.
//
// x86-64 only. On a module's first use its .eh_frame (found through the
// loader's PT_GNU_EH_FRAME, as mapped in memory) is turned into a table of
// rows, one per range of code with the same unwind rule: the canonical frame
// address (CFA) as rsp+N or rbp+N, the return address at CFA-8, and where
// the caller's rbp is saved (or that rbp is unchanged). A step is then a
// lookup and two loads, no DWARF interpreted; a direct-mapped cache of
// return address -> rule, shared by every thread, answers most lookups
// without touching the tables. Everything lives in os_vm memory, never in
// malloc's, and nothing here calls malloc, so it runs inside an allocator
// (the tracker's recording paths) and under its re-entry flag.
//
// Every return address is checked against the executable PT_LOAD segments
// of the loaded modules before it is kept, and every stack read lies within
// the bounds the caller gives: a frame the tables do not describe (code
// without CFI, a signal frame, a PLT stub, a CFA given by a DWARF
// expression, a realigned stack) ends the walk instead of producing a
// garbage frame.
//
// Modules loaded later (dlopen) are found when an address outside every
// known module is met (dl_iterate_phdr's counters of added and removed
// objects say whether the list changed). A module unloaded by dlclose keeps
// its table: a later module mapped over the same addresses could be
// unwound by stale rules, which the stack bounds and the executable check
// keep harmless (a wrong frame, never a fault).
#ifndef XSMEM_TRACKING_UNWIND_H_
#define XSMEM_TRACKING_UNWIND_H_

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Unwinds from a frame state: pc, the return address of the innermost frame
// to keep (the caller's code right after its call), sp and bp the values of
// rsp and rbp on return there. Stores up to max return addresses, pc first,
// into out, and returns how many. Stack reads stay within [stack_lo,
// stack_hi). Thread-safe; async-signal-safe only once the modules met are
// built (a module is built by the first thread that meets it; a thread that
// meets a module another thread is building waits for it).
unsigned xsmem_unwind(uintptr_t pc, uintptr_t sp, uintptr_t bp, uintptr_t stack_lo, uintptr_t stack_hi, uintptr_t *out,
                      unsigned max);

// Whether pc lies in an executable segment of a loaded module (rescanning
// the loaded modules once when they changed).
bool xsmem_unwind_executable(uintptr_t pc);

// Figures for tests and reports: modules known, modules whose table is
// built, rows over those tables, bytes of os_vm memory held.
typedef struct xsmem_unwind_stats {
  unsigned modules, built;
  uint64_t rows, bytes;
} xsmem_unwind_stats;
void xsmem_unwind_stats_get(xsmem_unwind_stats *out);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_TRACKING_UNWIND_H_
