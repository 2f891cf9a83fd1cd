/*
 * client_int.h: what the delivery files (client.c, xfer.c, queue.c,
 * timers.c) share. Not part of the public API.
 */
#ifndef MPNS_CLIENT_INT_H
#define MPNS_CLIENT_INT_H

#include <curl/curl.h>
#include <sys/epoll.h>
#include "mpns.h"

/* A queued send: all it costs is this struct and the URI after it. */
typedef struct mpns_entry {
  struct mpns_entry *next;
  mpns_msg *msg;              /* a ref, dropped when done */
  mpns_done_fn done;
  void *ud;
  const char *invalid;        /* why the URI was refused, or NULL */
  int attempts;
  size_t urilen;
  char uri[];                 /* NUL-terminated copy */
} mpns_entry;

typedef struct { mpns_entry *head, *tail; size_t n; } mpns_queue;

mpns_entry *mpns_entry_new(mpns_msg *m, const char *uri, size_t len,
                           mpns_done_fn done, void *ud);
void mpns_entry_free(mpns_entry *e);
void mpns_queue_push(mpns_queue *q, mpns_entry *e);
mpns_entry *mpns_queue_pop(mpns_queue *q);

/* A timer: a user callback, or (entry != NULL) a send waiting to retry. */
typedef struct {
  double due;
  unsigned long seq;          /* ties run in the order they were set */
  mpns_timer_fn fn;
  void *ud;
  mpns_entry *entry;
} mpns_timer;

typedef struct { mpns_timer *v; size_t n, cap; unsigned long seq; } mpns_timers;

int mpns_timers_push(mpns_timers *t, mpns_timer x);   /* 0, or -1 no memory */
const mpns_timer *mpns_timers_peek(const mpns_timers *t);
mpns_timer mpns_timers_pop(mpns_timers *t);
void mpns_timers_free(mpns_timers *t);

/* One easy handle of the pool and what its current response said. */
typedef struct mpns_xfer {
  CURL *easy;
  mpns_entry *entry;          /* NULL while idle */
  /* The request's header list, our own nodes: "Accept:", maybe "Expect:",
   * then the current message's lines, pointed at, not copied. */
  struct curl_slist headers[MPNS_MAX_HEADERS + 2];
  char *body;                 /* the body being sent: frame and own bytes */
  size_t body_cap;
  struct mpns_xfer *next_free;
  int requests;               /* HTTP requests this attempt has begun */
  char notification[32], device[32], subscription[32], message_id[64];
  char errbuf[CURL_ERROR_SIZE];
} mpns_xfer;

int mpns_xfer_init(mpns_xfer *x, const mpns_client_opts *o);
int mpns_xfer_start(mpns_xfer *x, mpns_entry *e);    /* 0 or -1 */
/* Fills `r` from the finished transfer; strings point into `x`. */
void mpns_xfer_result(mpns_xfer *x, CURLcode rc, mpns_result *r);
void mpns_xfer_cleanup(mpns_xfer *x);

/* The epoll set of curl's sockets (poller.c): one state byte per fd. */
typedef struct { int epfd; unsigned char *st; size_t cap; } mpns_poller;

int mpns_poller_init(mpns_poller *p);
void mpns_poller_free(mpns_poller *p);
void mpns_poller_opened(mpns_poller *p, int fd);     /* a socket we made */
void mpns_poller_closing(mpns_poller *p, int fd);    /* ... about to close */
int mpns_poller_want(mpns_poller *p, int fd, unsigned in, unsigned out);
int mpns_poller_wait(mpns_poller *p, struct epoll_event *ev, int max, int ms);

double mpns_now(void);      /* monotonic seconds */

#endif
