/*
 * client.h: delivery over libcurl's multi interface (client.c, queue.c,
 * timers.c). Included by mpns.h; part of the one public header.
 *
 * A client owns one curl multi handle and a pool of at most max_connections
 * easy handles. mpns_client_send only queues (a message ref, a copy of the
 * URI and the callback data); mpns_client_step starts what fits, drives
 * curl and calls each send's done function exactly once, outside curl.
 *
 *   mpns_client_opts o; mpns_client_opts_init(&o);
 *   mpns_client *c = mpns_client_new(&o, &err);
 *   mpns_client_send(c, msg, uri, strlen(uri), on_done, ctx);
 *   while (mpns_client_step(c, 1.0) > 0) {}
 *   mpns_client_free(c);
 *
 * Embedding in another loop: watch mpns_client_fd(c) for input and wake up
 * after mpns_client_timeout(c) ms at the latest; then call
 * mpns_client_step(c, 0). See examples/embed.c.
 */
#ifndef MPNS_CLIENT_H
#define MPNS_CLIENT_H

#define MPNS_URI_MAX 1024

typedef struct mpns_client mpns_client;

typedef struct {
  long max_connections;     /* in flight and open, default 50 */
  long max_per_host;        /* default: max_connections */
  double timeout;           /* seconds per attempt, default 15 */
  double connect_timeout;   /* seconds, default 10 */
  const char *cert, *key, *key_password, *ca;  /* PEM files, or NULL */
  int verify;               /* verify the server, default 1 */
  const char *proxy, *user_agent;              /* or NULL */
  int max_attempts;         /* retry: attempts in all, default 3 */
  double base_delay;        /* first retry delay, default 1 s */
  double max_delay;         /* longest retry delay, default 60 s */
} mpns_client_opts;

/* Why a send got no HTTP answer. */
typedef enum {
  MPNS_FAIL_NONE, MPNS_FAIL_TIMEOUT, MPNS_FAIL_CONNECT, MPNS_FAIL_DNS,
  MPNS_FAIL_TLS, MPNS_FAIL_PROTOCOL, MPNS_FAIL_CLOSED, MPNS_FAIL_INVALID_URI
} mpns_fail;

/* What one send ended with; valid only during the done call. */
typedef struct {
  int status;               /* HTTP status, or 0 with `fail` set */
  const char *notification, *device, *subscription, *message_id; /* or NULL */
  mpns_advice advice;       /* what the answer means (mpns_answer_advise),
                               computed once; unset with `fail` set */
  mpns_fail fail;           /* MPNS_FAIL_NONE when there was an answer */
  const char *message;      /* what went wrong, for a failure */
  int retry_after;          /* seconds for a failure worth retrying, else -1 */
  int attempts;             /* 1 + retries made */
  const char *uri;
  size_t urilen;
  mpns_msg *msg;            /* borrowed */
} mpns_result;

typedef void (*mpns_done_fn)(mpns_client *c, const mpns_result *r, void *ud);
typedef void (*mpns_timer_fn)(mpns_client *c, void *ud);

typedef struct {
  unsigned long sent;        /* attempts started */
  unsigned long done;        /* done calls made */
  unsigned long retries;
  unsigned long connections; /* TCP connections curl opened */
} mpns_client_stats;

void mpns_client_opts_init(mpns_client_opts *o);
/* NULL with `err` filled (naming the option) on bad options: numbers out of
 * range, a control character in user_agent or proxy, a cert, key or ca
 * file that cannot be read; or when curl cannot start. */
mpns_client *mpns_client_new(const mpns_client_opts *o, mpns_error *err);
/* Closes (see below) and frees. Not from inside a done or timer call. */
void mpns_client_free(mpns_client *c);

/* Queues one send; refs `m` until done. An invalid URI still ends in a done
 * call (MPNS_FAIL_INVALID_URI) from the next step, so every accepted send has
 * exactly one. Returns 0, or -1 when the client is closed (nothing queued). */
int mpns_client_send(mpns_client *c, mpns_msg *m, const char *uri,
                     size_t urilen, mpns_done_fn done, void *ud);
/* Calls fn(c, ud) from a step after `seconds`. Returns 0 or -1 (closed). */
int mpns_client_after(mpns_client *c, double seconds, mpns_timer_fn fn,
                      void *ud);

/* Does what is due, waiting at most `timeout` seconds for the network, and
 * makes the done and timer calls. Returns sends + timers still pending, or
 * -1 when closed or already stepping (callbacks must not step). */
int mpns_client_step(mpns_client *c, double timeout);
int mpns_client_pending(const mpns_client *c);
/* Milliseconds until mpns_client_step has work (0: now; -1: nothing). */
long mpns_client_timeout(mpns_client *c);
/* One fd (epoll) that becomes readable when a step has network work. */
int mpns_client_fd(const mpns_client *c);

/* Ends every pending send with MPNS_FAIL_CLOSED (done calls are made before
 * it returns) and drops the timers. Idempotent; allowed from a callback. */
void mpns_client_close(mpns_client *c);
int mpns_client_closed(const mpns_client *c);

void mpns_client_set_data(mpns_client *c, void *data);
void *mpns_client_data(const mpns_client *c);
mpns_client_stats mpns_client_get_stats(const mpns_client *c);
const char *mpns_fail_name(mpns_fail f);     /* "timeout", ... */
/* NULL if `uri` (len bytes, no NUL needed) is fit to send, else why not:
 * not http(s), over 1024 bytes, a control character, no host, or
 * credentials (user:password@), which would go out in clear. */
const char *mpns_uri_check(const char *uri, size_t len);

#endif
