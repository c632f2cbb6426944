// Runs the fuzz entry point over pseudo-random inputs (no libFuzzer needed),
// so every CI run exercises the harness against every linked configuration.
#include <stdint.h>
#include <stdio.h>

#include <random>
#include <vector>

#include "allocators/registry.h"
#include "tests/fuzz/replay.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
  int inputs = ReplayInputs(argc, argv, 400);
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
