// tests/fuzz/replay.h: what the two replay mains (replay_main.cc,
// seeded_replay_main.cc) share.
#ifndef XSMEM_TESTS_FUZZ_REPLAY_H_
#define XSMEM_TESTS_FUZZ_REPLAY_H_

#include <stdlib.h>

// Returns how many inputs a replay runs: the count given as argv[1], or else
// `normal`, a tenth of it under ASan or TSan (they slow every access 5-15x).
inline int ReplayInputs(int argc, char **argv, int normal) {
  if (argc > 1) return atoi(argv[1]);
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  return normal / 10;
#else
  return normal;
#endif
}

#endif  // XSMEM_TESTS_FUZZ_REPLAY_H_
