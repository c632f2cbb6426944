// The leak program with known sites (issue 21, item 6): every way a C or C++
// program commonly loses memory, each at a line marked `TRUTH name`.
// leak_truth_test.sh runs it under full tracking and checks the report at
// exit against leak_truth.txt (site, kind, bytes, blocks). Built twice: with
// frame pointers and without (-fomit-frame-pointer).
//
// Each leak is made inside a function of its own that returns nothing, and
// the dead stack is scrubbed afterwards, so no stale copy of a pointer is
// left where a conservative scan would find it.
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <new>

#define NOINLINE __attribute__((noinline))

struct Gadget {
  long id;
  char name[40];
};  // 48 bytes

struct Node {
  Node *next;
  char payload[56];
};  // 64 bytes

void *volatile g_held;  // still reachable: a global holds it

// Overwrites what the returned helpers left below the caller's frame.
NOINLINE void scrub_stack() {
  volatile char buf[32768];
  memset((char *)buf, 0, sizeof(buf));
  __asm__ volatile("" : : "r"(buf) : "memory");
}

extern "C" NOINLINE void leak_malloc() {
  char *p = (char *)malloc(1000);  // TRUTH malloc
  memset(p, 1, 1000);
  __asm__ volatile("" : : "r"(p) : "memory");
}

extern "C" NOINLINE void leak_calloc() {
  int *p = (int *)calloc(250, 8);  // TRUTH calloc
  __asm__ volatile("" : : "r"(p) : "memory");
}

// A chain of reallocs: the block lost is the last one, made by the last realloc.
extern "C" NOINLINE void leak_realloc_chain() {
  char *p = (char *)malloc(100);
  p = (char *)realloc(p, 5000);
  p = (char *)realloc(p, 3000);  // TRUTH realloc
  __asm__ volatile("" : : "r"(p) : "memory");
}

// Two `new`s in one function: two sites, each at its own line.
extern "C" NOINLINE void leak_new() {
  Gadget *g = new Gadget();  // TRUTH new
  int *a = new int[1000];    // TRUTH new_array
  __asm__ volatile("" : : "r"(g), "r"(a) : "memory");
}

// 10,000 small blocks from one line.
extern "C" NOINLINE void leak_many() {
  for (int i = 0; i < 10000; i++) {
    void *p = malloc(216);  // TRUTH many
    __asm__ volatile("" : : "r"(p) : "memory");
  }
}

// A list of three nodes whose head is lost: the head definitely, the others
// indirectly (they are pointed to only from the lost head and each other).
extern "C" NOINLINE void leak_list() {
  Node *head = nullptr;
  for (int i = 0; i < 3; i++) {
    Node *n = (Node *)malloc(sizeof(Node));  // TRUTH list
    n->next = head;
    head = n;
  }
  __asm__ volatile("" : : "r"(head) : "memory");
}

// Held by a global at exit: still reachable, not a leak.
extern "C" NOINLINE void hold_global() {
  g_held = malloc(4096);  // TRUTH global
}

// A thread that leaks, and ends before the report.
extern "C" NOINLINE void *thread_body(void *) {
  void *p = malloc(777);  // TRUTH thread
  __asm__ volatile("" : : "r"(p) : "memory");
  scrub_stack();
  return nullptr;
}

extern "C" NOINLINE void leak_from_thread() {
  pthread_t t;
  pthread_create(&t, nullptr, thread_body, nullptr);
  pthread_join(t, nullptr);
}

// Allocated and freed: never reported.
extern "C" NOINLINE void no_leak() {
  void *p = malloc(12345);
  __asm__ volatile("" : : "r"(p) : "memory");
  free(p);
  Gadget *g = new Gadget();
  delete g;
  // An impossible new still throws std::bad_alloc (the shim's operator new
  // hands failures to libstdc++'s), leaking nothing.
  volatile size_t huge = SIZE_MAX / 4;
  try {
    char *q = new char[huge];
    __asm__ volatile("" : : "r"(q) : "memory");
    abort();
  } catch (const std::bad_alloc &) {}
}

int main() {
  leak_malloc();
  leak_calloc();
  leak_realloc_chain();
  leak_new();
  leak_many();
  leak_list();
  hold_global();
  leak_from_thread();
  no_leak();
  scrub_stack();
  return 0;
}
