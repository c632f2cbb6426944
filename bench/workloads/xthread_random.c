// xthread_random: two threads, random sizes 16 B-16 KiB, blocks handed
// between the threads (after the rptest pattern).
//
// Each thread keeps a table of 8000 slots and replaces a random one with a
// block of random size (16 B to 16 KiB, small ones most often). Every 32
// operations it moves 32 of its blocks, in one batch, into the other thread's
// table, where each lands in a random slot and frees the block it displaces:
// about half of all frees release a block the other thread allocated, of any
// size class. Fixed work (the programs this follows report operations per CPU
// second: compare the wall time here, user+sys in the run's figures). The
// checksum covers every block once, when it is freed, so it does not depend
// on how the two threads interleave.
// Usage: xthread_random [scale]
#include <string.h>

#include "bench/workloads/common.h"
#include "bench/workloads/mailbox.h"

enum { kThreads = 2, kSlots = 8000, kMinSize = 16, kMaxSize = 16384 };

typedef struct worker {
  long ops;
  uint64_t seed, slot_seed, checksum;  // slot_seed: the slots (which depend on the peer's timing)
  char **slots;
  size_t *sizes;
  mailbox box;
  struct worker *peer;
} worker;

static size_t random_size(uint64_t r) {
  uint64_t a = (r >> 16) & 0xffff, b = (r >> 32) & 0xffff;  // small sizes most often
  return kMinSize + (size_t)((a * b) >> 18) % (kMaxSize - kMinSize + 1);
}

// Puts block p (n bytes) into a random slot, freeing the one there.
static void place(worker *w, char *p, size_t n) {
  long k = (long)(workload_rand(&w->slot_seed) % kSlots);
  if (w->slots[k]) {
    w->checksum += (uint8_t)w->slots[k][0] + (uint8_t)w->slots[k][w->sizes[k] - 1];
    free(w->slots[k]);
  }
  w->slots[k] = p;
  w->sizes[k] = n;
}

static void drain(worker *w, bool wait) {
  for (mail_batch *b = mailbox_take(&w->box, wait), *next; b; b = next) {
    next = b->next;
    for (int i = 0; i < b->n; i++) place(w, b->items[i], b->sizes[i]);
    free(b);
  }
}

static void *work(void *arg) {
  worker *w = arg;
  for (long i = 0; i < w->ops; i++) {
    uint64_t r = workload_rand(&w->seed);
    size_t n = random_size(r);
    char *p = workload_check(malloc(n), n);
    p[0] = (char)i;
    p[n - 1] = (char)(r >> 8);
    place(w, p, n);
    if ((i & (kMailBatch - 1)) == kMailBatch - 1) {
      mail_batch *b = workload_check(malloc(sizeof(mail_batch)), sizeof(mail_batch));
      b->n = 0;
      for (int j = 0; j < kMailBatch; j++) {
        long k = (long)(workload_rand(&w->slot_seed) % kSlots);
        if (!w->slots[k]) continue;
        b->items[b->n] = w->slots[k];
        b->sizes[b->n++] = w->sizes[k];
        w->slots[k] = NULL;
      }
      if (!mailbox_put(&w->peer->box, b, false)) {
        for (int j = 0; j < b->n; j++) place(w, b->items[j], b->sizes[j]);
        free(b);
      }
      drain(w, false);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  double scale = workload_scale(argc, argv);
  long ops = workload_scaled(1500000, scale, 1000);
  static worker workers[kThreads];
  pthread_t threads[kThreads];
  for (int t = 0; t < kThreads; t++) {
    worker *w = &workers[t];
    *w = (worker){.ops = ops,
                  .seed = 0x5bd1e995ull * (uint64_t)(t + 7),
                  .slot_seed = 0x27d4eb2full * (uint64_t)(t + 3),
                  .peer = &workers[(t + 1) % kThreads]};
    w->slots = workload_check(calloc(kSlots, sizeof(char *)), kSlots * sizeof(char *));
    w->sizes = workload_check(calloc(kSlots, sizeof(size_t)), kSlots * sizeof(size_t));
    mailbox_init(&w->box);
  }
  for (int t = 0; t < kThreads; t++) pthread_create(&threads[t], NULL, work, &workers[t]);
  for (int t = 0; t < kThreads; t++) pthread_join(threads[t], NULL);
  uint64_t checksum = 0;
  for (int t = 0; t < kThreads; t++) {
    worker *w = &workers[t];
    drain(w, false);
    for (long k = 0; k < kSlots; k++)
      if (w->slots[k]) {
        w->checksum += (uint8_t)w->slots[k][0] + (uint8_t)w->slots[k][w->sizes[k] - 1];
        free(w->slots[k]);
      }
    free(w->slots);
    free(w->sizes);
    checksum += w->checksum;
  }
  printf("xthread_random threads=%d ops=%ld checksum=%llu peak_rss_kib=%ld\n", kThreads, ops * kThreads,
         (unsigned long long)checksum, workload_peak_rss_kib());
  return 0;
}
