// bench/workloads/mailbox.h: batches of blocks handed between threads, for
// the workloads whose blocks are freed by a thread that did not allocate them.
//
// A mailbox is a mutex-protected list of batches with a bound: a sender whose
// peer lags finds it full and keeps (frees) its blocks itself, so memory stays
// bounded whatever the scheduler does.
#ifndef XSMEM_BENCH_WORKLOADS_MAILBOX_H_
#define XSMEM_BENCH_WORKLOADS_MAILBOX_H_

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

enum { kMailBatch = 32, kMailMaxPending = 64 };

typedef struct mail_batch {
  struct mail_batch *next;
  int n;
  void *items[kMailBatch];
  size_t sizes[kMailBatch];
} mail_batch;

typedef struct mailbox {
  pthread_mutex_t mu;
  pthread_cond_t ready;
  mail_batch *head, *tail;
  int pending;
  bool closed;
} mailbox;

static inline void mailbox_init(mailbox *m) {
  pthread_mutex_init(&m->mu, NULL);
  pthread_cond_init(&m->ready, NULL);
  m->head = m->tail = NULL;
  m->pending = 0;
  m->closed = false;
}

// Appends b unless the mailbox holds kMailMaxPending batches (unless force).
// Returns whether b was taken.
static inline bool mailbox_put(mailbox *m, mail_batch *b, bool force) {
  pthread_mutex_lock(&m->mu);
  bool ok = force || m->pending < kMailMaxPending;
  if (ok) {
    b->next = NULL;
    if (m->tail) m->tail->next = b;
    else m->head = b;
    m->tail = b;
    m->pending++;
    pthread_cond_signal(&m->ready);
  }
  pthread_mutex_unlock(&m->mu);
  return ok;
}

// Takes every pending batch (a list, oldest first); with wait, blocks until
// there is one or the mailbox is closed.
static inline mail_batch *mailbox_take(mailbox *m, bool wait) {
  pthread_mutex_lock(&m->mu);
  while (wait && !m->head && !m->closed) pthread_cond_wait(&m->ready, &m->mu);
  mail_batch *b = m->head;
  m->head = m->tail = NULL;
  m->pending = 0;
  pthread_mutex_unlock(&m->mu);
  return b;
}

static inline void mailbox_close(mailbox *m) {
  pthread_mutex_lock(&m->mu);
  m->closed = true;
  pthread_cond_broadcast(&m->ready);
  pthread_mutex_unlock(&m->mu);
}

#endif  // XSMEM_BENCH_WORKLOADS_MAILBOX_H_
