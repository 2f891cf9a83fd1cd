/* timers.c: a binary min-heap of timers ordered by (due, seq), so retries
 * and client:after() callbacks cost O(log n) and fire in order. */
#include <stdlib.h>
#include "client_int.h"

static int earlier(const mpns_timer *a, const mpns_timer *b) {
  return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void swap(mpns_timer *a, mpns_timer *b) {
  mpns_timer t = *a; *a = *b; *b = t;
}

int mpns_timers_push(mpns_timers *t, mpns_timer x) {
  size_t i;
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    mpns_timer *v = realloc(t->v, cap * sizeof *v);
    if (!v) return -1;
    t->v = v;
    t->cap = cap;
  }
  x.seq = t->seq++;
  i = t->n++;
  t->v[i] = x;
  while (i > 0 && earlier(&t->v[i], &t->v[(i - 1) / 2])) {
    swap(&t->v[i], &t->v[(i - 1) / 2]);
    i = (i - 1) / 2;
  }
  return 0;
}

const mpns_timer *mpns_timers_peek(const mpns_timers *t) {
  return t->n ? &t->v[0] : NULL;
}

/* Removes and returns the earliest timer; the heap must not be empty. */
mpns_timer mpns_timers_pop(mpns_timers *t) {
  mpns_timer top = t->v[0];
  size_t i = 0;
  t->v[0] = t->v[--t->n];
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < t->n && earlier(&t->v[l], &t->v[m])) m = l;
    if (r < t->n && earlier(&t->v[r], &t->v[m])) m = r;
    if (m == i) break;
    swap(&t->v[i], &t->v[m]);
    i = m;
  }
  return top;
}

void mpns_timers_free(mpns_timers *t) {
  free(t->v);
  t->v = NULL;
  t->n = t->cap = 0;
}
