// tracking/testdata/unwind_lib.h: a shared library for unwind_test.
#ifndef XSMEM_TRACKING_TESTDATA_UNWIND_LIB_H_
#define XSMEM_TRACKING_TESTDATA_UNWIND_LIB_H_

// Calls unwind_lib_inner, which calls back(x'): two frames of the library
// between the caller and back.
int unwind_lib_outer(int (*back)(int), int x);
int unwind_lib_inner(int (*back)(int), int x);

#endif  // XSMEM_TRACKING_TESTDATA_UNWIND_LIB_H_
