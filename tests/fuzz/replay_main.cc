// Runs the fuzz entry point over pseudo-random inputs (no libFuzzer needed),
// so every CI run exercises the harness against every linked configuration.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <random>
#include <vector>

#include "allocators/registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  const int kDefaultInputs = 40;  // the sanitizers slow every access 5-15x
#else
  const int kDefaultInputs = 400;
#endif
  int inputs = argc > 1 ? atoi(argv[1]) : kDefaultInputs;
  std::mt19937_64 rng(20261123);
  for (int i = 0; i < inputs; i++) {
    std::vector<uint8_t> in(64 + rng() % 8192);
    for (auto &b : in) b = (uint8_t)rng();
    in[0] = (uint8_t)i;  // cycle through the configurations
    LLVMFuzzerTestOneInput(in.data(), in.size());
  }
  printf("%d inputs over %zu configurations: no failure\n", inputs, xsmem_config_count());
  return 0;
}
