/* queue.c: queued sends. One malloc per send holds the entry and its URI,
 * so 100,000 queued sends cost about 100,000 * (56 + URI) bytes. */
#include <stdlib.h>
#include <string.h>
#include "client_int.h"

/* Copies the URI; takes a ref on `m` for as long as the entry lives. */
mpns_entry *mpns_entry_new(mpns_msg *m, const char *uri, size_t len,
                           mpns_done_fn done, void *ud) {
  mpns_entry *e = malloc(sizeof *e + len + 1);
  if (!e) return NULL;
  e->next = NULL;
  e->msg = mpns_msg_ref(m);
  e->done = done;
  e->ud = ud;
  e->invalid = NULL;
  e->attempts = 0;
  e->urilen = len;
  memcpy(e->uri, uri, len);
  e->uri[len] = '\0';
  return e;
}

void mpns_entry_free(mpns_entry *e) {
  if (!e) return;
  mpns_msg_unref(e->msg);
  free(e);
}

void mpns_queue_push(mpns_queue *q, mpns_entry *e) {
  e->next = NULL;
  if (q->tail) q->tail->next = e; else q->head = e;
  q->tail = e;
  q->n++;
}

mpns_entry *mpns_queue_pop(mpns_queue *q) {
  mpns_entry *e = q->head;
  if (!e) return NULL;
  q->head = e->next;
  if (!q->head) q->tail = NULL;
  e->next = NULL;
  q->n--;
  return e;
}
