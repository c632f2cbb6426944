// tracking/testdata/unwind_lib.c: functions of a shared library built
// without frame pointers, between two of unwind_test's (the walk must cross
// the library both ways).
#include "tracking/testdata/unwind_lib.h"

static _Thread_local volatile int sink;  // per thread: the racing threads write it too

__attribute__((noinline)) int unwind_lib_inner(int (*back)(int), int x) {
  volatile char pad[40];  // an rsp-based frame of its own
  pad[0] = (char)x;
  int r = back(x + pad[0]);
  sink = r;
  return r + 1;
}

__attribute__((noinline)) int unwind_lib_outer(int (*back)(int), int x) {
  int r = unwind_lib_inner(back, x + 1);
  sink = r;
  return r + 1;
}
