// Replays a fuzz harness over its seeds and over pseudo-random mutations of
// them (bit flips, cut tails, bytes inserted, deleted and overwritten, two
// seeds spliced), so every test run exercises the harness without libFuzzer.
// The harness provides LLVMFuzzerTestOneInput and FuzzSeeds.
//   NAME_replay_test [N]                 N mutated inputs after the seeds
//   NAME_replay_test --write-seeds DIR   writes the seeds as a libFuzzer corpus
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <random>
#include <string>
#include <vector>

#include "tests/fuzz/replay.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern "C" void FuzzSeeds(std::vector<std::string> *out);

namespace {

std::string Mutate(const std::vector<std::string> &seeds, std::mt19937_64 &rng) {
  std::string s = seeds[rng() % seeds.size()];
  int edits = 1 + (int)(rng() % 4);
  for (int e = 0; e < edits; e++) {
    size_t n = s.size();
    switch (rng() % 6) {
      case 0:  // flip a bit
        if (n) s[rng() % n] ^= (char)(1 << (rng() % 8));
        break;
      case 1:  // cut the tail
        if (n) s.resize(rng() % n);
        break;
      case 2:  // insert random bytes
        s.insert(n ? rng() % n : 0, std::string(1 + rng() % 8, (char)rng()));
        break;
      case 3:  // delete a run
        if (n) s.erase(rng() % n, 1 + rng() % 16);
        break;
      case 4:  // overwrite a byte
        if (n) s[rng() % n] = (char)rng();
        break;
      default: {  // splice another seed's tail onto this one's head
        const std::string &o = seeds[rng() % seeds.size()];
        if (n && !o.empty()) s = s.substr(0, rng() % n) + o.substr(rng() % o.size());
      }
    }
  }
  return s;
}

}  // namespace

int main(int argc, char **argv) {
  std::vector<std::string> seeds;
  FuzzSeeds(&seeds);
  if (argc > 2 && !strcmp(argv[1], "--write-seeds")) {
    for (size_t i = 0; i < seeds.size(); i++) {
      std::string path = std::string(argv[2]) + "/seed-" + std::to_string(i);
      FILE *f = fopen(path.c_str(), "wb");
      if (!f || fwrite(seeds[i].data(), 1, seeds[i].size(), f) != seeds[i].size()) {
        perror(path.c_str());
        return 1;
      }
      fclose(f);
    }
    printf("%zu seeds written to %s\n", seeds.size(), argv[2]);
    return 0;
  }
  int inputs = ReplayInputs(argc, argv, 5000);
  for (const std::string &s : seeds) LLVMFuzzerTestOneInput((const uint8_t *)s.data(), s.size());
  std::mt19937_64 rng(20261207);
  for (int i = 0; i < inputs; i++) {
    std::string s = Mutate(seeds, rng);
    LLVMFuzzerTestOneInput((const uint8_t *)s.data(), s.size());
  }
  printf("%zu seeds and %d mutated inputs: no failure\n", seeds.size(), inputs);
  return 0;
}
