// producer_consumer: a server-like producer/consumer pair.
//
// A client thread allocates requests (64 B to 1 KiB) and sends them in
// batches to a server thread; the server reads each request, builds a
// response (128 B to 4 KiB) with a few short-lived scratch strings, frees the
// request (allocated by the client) and sends the responses back; the client
// frees them (allocated by the server). Every long-lived block is freed by
// the other thread: the path sampled tracking pays for under threads.
// Usage: producer_consumer [scale]
#include <string.h>

#include "bench/workloads/common.h"
#include "bench/workloads/mailbox.h"

static mailbox g_to_server, g_to_client;
static long g_batches;

static void *server(void *arg) {
  uint64_t seed = 99, *sum = arg;
  for (mail_batch *list; (list = mailbox_take(&g_to_server, true)) != NULL;) {
    for (mail_batch *b = list, *next; b; b = next) {
      next = b->next;
      for (int i = 0; i < b->n; i++) {
        const char *req = b->items[i];
        size_t n = 128 + workload_rand(&seed) % 3969;
        char *resp = workload_check(malloc(n), n);
        for (int s = 0; s < 3; s++) {  // scratch strings, freed at once
          size_t m = 16 + workload_rand(&seed) % 113;
          char *t = workload_check(malloc(m), m);
          memcpy(t, req, 16);
          resp[s] = t[s];
          free(t);
        }
        *sum += (uint8_t)req[0] + b->sizes[i];
        resp[n - 1] = req[b->sizes[i] - 1];
        free(b->items[i]);
        b->items[i] = resp;
        b->sizes[i] = n;
      }
      mailbox_put(&g_to_client, b, true);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  double scale = workload_scale(argc, argv);
  g_batches = workload_scaled(40000, scale, 8);
  mailbox_init(&g_to_server);
  mailbox_init(&g_to_client);
  uint64_t server_sum = 0, client_sum = 0, seed = 3;
  pthread_t th;
  pthread_create(&th, NULL, server, &server_sum);
  long done = 0;
  for (long sent = 0; sent < g_batches || done < sent;) {
    // Keep up to 8 batches in flight; free the responses that came back.
    if (sent < g_batches && sent - done < 8) {
      mail_batch *b = workload_check(malloc(sizeof(mail_batch)), sizeof(mail_batch));
      b->n = kMailBatch;
      for (int i = 0; i < kMailBatch; i++) {
        size_t n = 64 + workload_rand(&seed) % 961;
        char *p = workload_check(malloc(n), n);
        memset(p, (int)i, 16);
        p[n - 1] = (char)sent;
        b->items[i] = p;
        b->sizes[i] = n;
      }
      mailbox_put(&g_to_server, b, true);
      sent++;
      continue;
    }
    for (mail_batch *b = mailbox_take(&g_to_client, true), *next; b; b = next) {
      next = b->next;
      for (int i = 0; i < b->n; i++) {
        client_sum += (uint8_t)((char *)b->items[i])[b->sizes[i] - 1];
        free(b->items[i]);
      }
      free(b);
      done++;
    }
  }
  mailbox_close(&g_to_server);
  pthread_join(th, NULL);
  printf("producer_consumer batches=%ld requests=%ld checksum=%llu peak_rss_kib=%ld\n", g_batches,
         g_batches * kMailBatch, (unsigned long long)(server_sum + client_sum), workload_peak_rss_kib());
  return 0;
}
