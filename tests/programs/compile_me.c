// Compiled by gcc (and then run) under each preloaded configuration in
// tests/programs: enough code for the compiler to allocate in earnest
// (inlining, several functions, a table), output fixed by its input.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
  char key[24];
  unsigned value;
  struct entry *next;
} entry;

enum { kBuckets = 257 };

static unsigned hash(const char *s) {
  unsigned h = 2166136261u;
  while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
  return h;
}

static entry *table[kBuckets];

static void put(const char *key, unsigned value) {
  unsigned b = hash(key) % kBuckets;
  for (entry *e = table[b]; e; e = e->next) {
    if (strcmp(e->key, key) == 0) {
      e->value += value;
      return;
    }
  }
  entry *e = calloc(1, sizeof(*e));
  if (!e) abort();
  snprintf(e->key, sizeof(e->key), "%s", key);
  e->value = value;
  e->next = table[b];
  table[b] = e;
}

static int by_value(const void *a, const void *b) {
  const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
  if (x->value != y->value) return x->value < y->value ? 1 : -1;
  return strcmp(x->key, y->key);
}

int main(void) {
  unsigned state = 7;
  char key[24];
  for (int i = 0; i < 200000; i++) {
    state = state * 1103515245u + 12345u;
    snprintf(key, sizeof(key), "k%u", (state >> 8) % 5000);
    put(key, state & 0xff);
  }
  size_t n = 0;
  for (int b = 0; b < kBuckets; b++) {
    for (entry *e = table[b]; e; e = e->next) n++;
  }
  entry **all = malloc(n * sizeof(*all));
  if (!all) abort();
  size_t i = 0;
  for (int b = 0; b < kBuckets; b++) {
    for (entry *e = table[b]; e; e = e->next) all[i++] = e;
  }
  qsort(all, n, sizeof(*all), by_value);
  printf("keys %zu\n", n);
  for (size_t k = 0; k < 5; k++) printf("%s %u\n", all[k]->key, all[k]->value);
  for (int b = 0; b < kBuckets; b++) {
    while (table[b]) {
      entry *next = table[b]->next;
      free(table[b]);
      table[b] = next;
    }
  }
  free(all);
  return 0;
}
