/*
 * client.c: the delivery engine. A curl multi handle driven through its
 * socket API and one epoll fd (poller.c; a host loop watches just it), a pool
 * of at most max_connections easy handles, a FIFO of queued sends and a heap
 * of timers (retries and client:after). Done calls are made only after curl
 * has returned, and every accepted send gets exactly one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "client_int.h"

struct mpns_client {
  CURLM *multi;
  mpns_poller poller;
  mpns_client_opts opts;      /* its strings are the client's own copies */
  mpns_xfer *xfers;           /* pool, created lazily up to max_connections */
  long nxfers;
  mpns_xfer *idle;            /* free list */
  long inflight;
  mpns_queue queue;           /* waiting for an easy handle */
  mpns_queue ready;           /* refused before sending; reported next step */
  mpns_timers timers;
  long user_timers, retrying;
  double curl_due;            /* when curl wants its timeout action, or -1 */
  int stepping, closed;
  unsigned long long rng;
  mpns_client_stats stats;
  void *data;
};

double mpns_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void mpns_client_opts_init(mpns_client_opts *o) {
  memset(o, 0, sizeof *o);
  o->max_connections = 50;
  o->timeout = 15;
  o->connect_timeout = 10;
  o->verify = 1;
  o->max_attempts = 3;
  o->base_delay = 1;
  o->max_delay = 60;
}

/* ---- curl's socket and timer callbacks: they only record ---------------- */

static int on_socket(CURL *easy, curl_socket_t s, int what, void *ud,
                     void *sockp) {
  mpns_client *c = ud;
  (void)easy; (void)sockp;
  return mpns_poller_want(&c->poller, s,
                          what == CURL_POLL_IN || what == CURL_POLL_INOUT,
                          what == CURL_POLL_OUT || what == CURL_POLL_INOUT);
}

/* Connection sockets are made and closed here so the poller knows their
 * whole life (and they do not leak into child processes). */
static curl_socket_t on_open(void *ud, curlsocktype purpose,
                             struct curl_sockaddr *a) {
  mpns_client *c = ud;
  curl_socket_t s = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
  (void)purpose;
  if (s != CURL_SOCKET_BAD) mpns_poller_opened(&c->poller, s);
  return s;
}

static int on_close(void *ud, curl_socket_t s) {
  mpns_client *c = ud;
  mpns_poller_closing(&c->poller, s);
  return close(s);
}

static int on_timer(CURLM *multi, long ms, void *ud) {
  mpns_client *c = ud;
  (void)multi;
  c->curl_due = ms < 0 ? -1 : mpns_now() + ms / 1000.0;
  return 0;
}

/* ---- creating and freeing ----------------------------------------------- */

/* Seconds: NaN, infinities and what a long count of milliseconds cannot
 * hold (1e300 would be undefined behaviour in the cast) are refused. */
static int bad_seconds(mpns_error *e, const char *name, double v, int zero_ok) {
  if ((zero_ok ? v >= 0 : v > 0) && v <= 86400) return 0;
  snprintf(e->text, sizeof e->text, "option '%s' must be a number of seconds "
           "%s 86400, got %g", name, zero_ok ? "from 0 to" : "above 0, at most", v);
  return 1;
}

/* A value that goes into a request header: a CR or LF would start a header
 * of its own (header injection), so no control character at all. */
static int bad_header(mpns_error *e, const char *name, const char *v) {
  size_t i;
  for (i = 0; v && v[i]; i++)
    if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) {
      snprintf(e->text, sizeof e->text, "option '%s' must not contain CR, LF "
               "or other control characters (byte %u is 0x%02x)", name,
               (unsigned)(i + 1), (unsigned char)v[i]);
      return 1;
    }
  return 0;
}

/* A PEM file curl will read for every connection: checked once, here,
 * rather than failing every send with "tls". */
static int bad_file(mpns_error *e, const char *name, const char *path) {
  FILE *f;
  if (!path) return 0;
  if ((f = fopen(path, "r"))) { fclose(f); return 0; }
  snprintf(e->text, sizeof e->text, "option '%s': cannot read file '%.300s' (%s)",
           name, path, strerror(errno));
  return 1;
}

static int bad_range(mpns_error *e, const char *name, long v, long lo, long hi) {
  if (v >= lo && v <= hi) return 0;
  snprintf(e->text, sizeof e->text, "option '%s' must be an integer from %ld "
           "to %ld, got %ld", name, lo, hi, v);
  return 1;
}

/* 0, or 1 with `e` naming the option and what was expected. */
static int check_opts(const mpns_client_opts *o, mpns_error *e) {
  if (bad_range(e, "max_connections", o->max_connections, 1, 100000) ||
      bad_range(e, "max_per_host", o->max_per_host, 0, 100000) ||
      bad_range(e, "retry.max_attempts", o->max_attempts, 1, 1000000) ||
      bad_seconds(e, "timeout", o->timeout, 0) ||
      bad_seconds(e, "connect_timeout", o->connect_timeout, 1) ||
      bad_seconds(e, "retry.base_delay", o->base_delay, 1) ||
      bad_seconds(e, "retry.max_delay", o->max_delay, 1) ||
      bad_header(e, "user_agent", o->user_agent) ||
      bad_header(e, "proxy", o->proxy) ||
      bad_file(e, "cert", o->cert) || bad_file(e, "key", o->key) ||
      bad_file(e, "ca", o->ca)) return 1;
  if (o->max_delay >= o->base_delay) return 0;
  snprintf(e->text, sizeof e->text,
           "option 'retry.max_delay' must be at least retry.base_delay");
  return 1;
}

static char *copy(const char *s) {
  char *d;
  if (!s) return NULL;
  if ((d = malloc(strlen(s) + 1))) strcpy(d, s);
  return d;
}

/* The option strings are the client's own copies. */
static int copy_strings(mpns_client_opts *o) {
  const char **s[] = { &o->cert, &o->key, &o->key_password, &o->ca,
                       &o->proxy, &o->user_agent };
  size_t i;
  int bad = 0;
  for (i = 0; i < sizeof s / sizeof *s; i++)
    if (*s[i] && !(*s[i] = copy(*s[i]))) bad = 1;
  return bad ? -1 : 0;
}

static void free_strings(mpns_client_opts *o) {
  char *s[] = { (char *)o->cert, (char *)o->key, (char *)o->key_password,
                (char *)o->ca, (char *)o->proxy, (char *)o->user_agent };
  size_t i;
  if (s[2]) memset(s[2], 0, strlen(s[2]));      /* no password left behind */
  for (i = 0; i < sizeof s / sizeof *s; i++) free(s[i]);
}

static int setup_multi(mpns_client *c) {
  CURLM *m = c->multi;
  long per_host = c->opts.max_per_host;
  return curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket) |
         curl_multi_setopt(m, CURLMOPT_SOCKETDATA, c) |
         curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timer) |
         curl_multi_setopt(m, CURLMOPT_TIMERDATA, c) |
         curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                           c->opts.max_connections) |
         curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, per_host) |
         curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, c->opts.max_connections);
}

static void fail(mpns_error *err, const char *what) {
  if (err) snprintf(err->text, sizeof err->text, "%s", what);
}

mpns_client *mpns_client_new(const mpns_client_opts *o, mpns_error *err) {
  static int curl_ready;
  mpns_error bad;
  mpns_client *c;
  if (check_opts(o, &bad)) { fail(err, bad.text); return NULL; }
  if (!curl_ready && curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK)
    curl_ready = 1;
  if (!(c = calloc(1, sizeof *c))) { fail(err, "out of memory"); return NULL; }
  c->opts = *o;
  c->poller.epfd = -1;
  c->curl_due = -1;
  c->rng = ((unsigned long long)(mpns_now() * 1e9) ^ (unsigned long long)(size_t)c) | 1;
  if (copy_strings(&c->opts) ||
      !(c->xfers = calloc((size_t)o->max_connections, sizeof *c->xfers)) ||
      mpns_poller_init(&c->poller) ||
      !(c->multi = curl_multi_init()) || setup_multi(c)) {
    fail(err, "cannot start libcurl (out of memory or file descriptors)");
    c->closed = 1;
    mpns_client_free(c);
    return NULL;
  }
  return c;
}

/* Releases curl and the fd; the client stays a closed shell until freed. */
static void teardown(mpns_client *c) {
  long i;
  for (i = 0; i < c->nxfers; i++) mpns_xfer_cleanup(&c->xfers[i]);
  c->nxfers = 0;
  c->idle = NULL;
  if (c->multi) curl_multi_cleanup(c->multi);   /* closes through on_close */
  c->multi = NULL;
  mpns_poller_free(&c->poller);
}

void mpns_client_free(mpns_client *c) {
  if (!c) return;
  mpns_client_close(c);
  teardown(c);
  free_strings(&c->opts);
  mpns_timers_free(&c->timers);
  free(c->xfers);
  free(c);
}

/* ---- queueing ----------------------------------------------------------- */

/* Only queues: a refused URI waits in `ready` so that its done call, like
 * every other, comes from a step and never from inside send. */
int mpns_client_send(mpns_client *c, mpns_msg *m, const char *uri,
                     size_t urilen, mpns_done_fn done, void *ud) {
  mpns_entry *e;
  if (c->closed || !(e = mpns_entry_new(m, uri, urilen, done, ud))) return -1;
  e->invalid = mpns_uri_check(uri, urilen);
  mpns_queue_push(e->invalid ? &c->ready : &c->queue, e);
  return 0;
}

int mpns_client_after(mpns_client *c, double seconds, mpns_timer_fn fn,
                      void *ud) {
  mpns_timer t;
  memset(&t, 0, sizeof t);
  t.due = mpns_now() + (seconds > 0 ? seconds : 0);   /* NaN: now */
  t.fn = fn;
  t.ud = ud;
  if (c->closed || mpns_timers_push(&c->timers, t)) return -1;
  c->user_timers++;
  return 0;
}

int mpns_client_pending(const mpns_client *c) {
  if (c->closed) return 0;
  return (int)(c->queue.n + c->ready.n + (size_t)c->inflight +
               (size_t)c->retrying + (size_t)c->user_timers);
}

/* ---- completing --------------------------------------------------------- */

static void deliver(mpns_client *c, mpns_entry *e, mpns_result *r) {
  c->stats.done++;
  e->done(c, r, e->ud);
  mpns_entry_free(e);
}

/* Ends `e` without an HTTP answer. */
static void deliver_fail(mpns_client *c, mpns_entry *e, mpns_fail f,
                         const char *why) {
  mpns_result r;
  memset(&r, 0, sizeof r);
  r.fail = f;
  r.message = why;
  r.retry_after = -1;
  r.attempts = e->attempts;
  r.uri = e->uri;
  r.urilen = e->urilen;
  r.msg = e->msg;
  deliver(c, e, &r);
}

/* Uniform in [0, 1), xorshift64*: cheap, and no global rand() state. */
static double rand01(mpns_client *c) {
  c->rng ^= c->rng >> 12;
  c->rng ^= c->rng << 25;
  c->rng ^= c->rng >> 27;
  return (double)((c->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* Exponential backoff for the retry after `attempts` attempts. */
static double backoff(const mpns_client *c, int attempts) {
  double d = c->opts.base_delay;
  while (--attempts > 0 && d < c->opts.max_delay) d *= 2;
  return d < c->opts.max_delay ? d : c->opts.max_delay;
}

/* Whole units, rounding up (no libm needed). */
static long up(double x) {
  long n = (long)x;
  return n < x ? n + 1 : n;
}

/* What the protocol says is worth retrying soon: unavailable, queue_full
 * and transport failures other than TLS (a certificate does not heal). */
static int retryable(mpns_result *r) {
  if (r->fail == MPNS_FAIL_NONE) {
    r->retry_after = r->advice.retry_after;
    return r->advice.outcome == MPNS_UNAVAILABLE ||
           r->advice.outcome == MPNS_QUEUE_FULL;
  }
  return r->fail == MPNS_FAIL_TIMEOUT || r->fail == MPNS_FAIL_CONNECT ||
         r->fail == MPNS_FAIL_DNS || r->fail == MPNS_FAIL_PROTOCOL;
}

/* Parks `e` on the timer heap; 0 if it will be retried. Equal jitter:
 * half the delay fixed, half random, so retries of a burst spread out. */
static int schedule_retry(mpns_client *c, mpns_entry *e) {
  mpns_timer t;
  double d = backoff(c, e->attempts);
  memset(&t, 0, sizeof t);
  t.due = mpns_now() + d * (0.5 + 0.5 * rand01(c));
  t.entry = e;
  if (mpns_timers_push(&c->timers, t)) return -1;
  c->retrying++;
  c->stats.retries++;
  return 0;
}

/* A transfer ended: free its handle, then retry the send or report it. */
static void finish(mpns_client *c, mpns_xfer *x, CURLcode rc) {
  mpns_result r;
  mpns_entry *e = x->entry;
  long conns = 0;
  curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &conns);
  c->stats.connections += (unsigned long)conns;
  curl_multi_remove_handle(c->multi, x->easy);
  mpns_xfer_result(x, rc, &r);
  x->entry = NULL;
  x->next_free = c->idle;          /* its buffers stay intact until restarted */
  c->idle = x;
  c->inflight--;
  if (retryable(&r)) {
    if (e->attempts < c->opts.max_attempts && !schedule_retry(c, e)) return;
    if (r.fail != MPNS_FAIL_NONE) r.retry_after = (int)up(backoff(c, e->attempts));
  }
  deliver(c, e, &r);
}

/* Reads curl's finished transfers; a done call may close the client. */
static void collect(mpns_client *c) {
  CURLMsg *m;
  int left;
  while (!c->closed && (m = curl_multi_info_read(c->multi, &left))) {
    char *x = NULL;
    if (m->msg != CURLMSG_DONE) continue;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &x);
    finish(c, (mpns_xfer *)x, m->data.result);
  }
}

/* ---- starting ----------------------------------------------------------- */

/* An idle easy handle, creating one while the pool is below its size. */
static mpns_xfer *take_xfer(mpns_client *c) {
  mpns_xfer *x = c->idle;
  if (x) { c->idle = x->next_free; return x; }
  if (c->nxfers == c->opts.max_connections) return NULL;
  x = &c->xfers[c->nxfers];
  if (mpns_xfer_init(x, &c->opts) ||
      curl_easy_setopt(x->easy, CURLOPT_OPENSOCKETFUNCTION, on_open) ||
      curl_easy_setopt(x->easy, CURLOPT_OPENSOCKETDATA, c) ||
      curl_easy_setopt(x->easy, CURLOPT_CLOSESOCKETFUNCTION, on_close) ||
      curl_easy_setopt(x->easy, CURLOPT_CLOSESOCKETDATA, c)) {
    mpns_xfer_cleanup(x);
    return NULL;
  }
  c->nxfers++;
  return x;
}

static int can_start(const mpns_client *c) {
  return c->queue.n && (c->idle || c->nxfers < c->opts.max_connections);
}

/* Moves queued sends onto free easy handles: at most max_connections are
 * ever in flight, the rest wait as plain queue entries. */
static void start_queued(mpns_client *c) {
  mpns_xfer *x;
  while (!c->closed && c->queue.n && (x = take_xfer(c))) {
    mpns_entry *e = mpns_queue_pop(&c->queue);
    e->attempts++;
    if (mpns_xfer_start(x, e) || curl_multi_add_handle(c->multi, x->easy)) {
      x->entry = NULL;
      x->next_free = c->idle;
      c->idle = x;
      deliver_fail(c, e, MPNS_FAIL_PROTOCOL, "cannot start the transfer");
      continue;
    }
    c->inflight++;
    c->stats.sent++;
  }
}

/* Runs the timers due when the step began (not ones they add), and moves
 * retries back to the queue. */
static void run_timers(mpns_client *c) {
  double now = mpns_now();
  unsigned long end = c->timers.seq;
  const mpns_timer *t;
  while (!c->closed && (t = mpns_timers_peek(&c->timers)) && t->due <= now &&
         t->seq < end) {
    mpns_timer x = mpns_timers_pop(&c->timers);
    if (x.entry) {
      c->retrying--;
      mpns_queue_push(&c->queue, x.entry);
    } else {
      c->user_timers--;
      x.fn(c, x.ud);
    }
  }
}

static void report_ready(mpns_client *c) {
  while (!c->closed && c->ready.n) {
    mpns_entry *e = mpns_queue_pop(&c->ready);
    deliver_fail(c, e, MPNS_FAIL_INVALID_URI, e->invalid);
  }
}

/* ---- waiting ------------------------------------------------------------ */

/* Seconds until something is due, capped at `cap`; 0 if work is ready or
 * none is left (a step that just reported the last outcome, say an invalid
 * URI, must not then sleep: a synchronous send would take `cap` seconds). */
static double wait_for(mpns_client *c, double cap) {
  double now = mpns_now(), w = cap;
  const mpns_timer *t = mpns_timers_peek(&c->timers);
  if (c->ready.n || can_start(c) || !mpns_client_pending(c)) return 0;
  if (c->curl_due >= 0 && c->curl_due - now < w) w = c->curl_due - now;
  if (t && t->due - now < w) w = t->due - now;
  return w > 0 ? w : 0;
}

/* curl's timeout action, if it is due; 1 if it ran. */
static int kick_if_due(mpns_client *c) {
  int running;
  if (c->closed || c->curl_due < 0 || mpns_now() < c->curl_due) return 0;
  curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  return 1;
}

/* Ends what finished, starts what waits and sends it at once, so the
 * server never idles while a whole batch of answers is processed. Any
 * socket_action may finish transfers (a fast answer on a reused
 * connection, a timeout), and nothing but this read will ever report
 * them: curl has no timer left for a finished transfer and its socket is
 * quiet. So a kick is always followed by a read, and the step ends only
 * after one; otherwise the host sleeps until an idle connection closes. */
static void turnover(mpns_client *c) {
  int rounds = 0;
  do {
    collect(c);
    start_queued(c);
  } while (kick_if_due(c) && ++rounds < 64);
  collect(c);
}

/* Waits on the epoll fd and hands what is ready to curl, turning finished
 * transfers over every few sockets; then curl's own timeout if due. */
static void act(mpns_client *c, double timeout) {
  struct epoll_event ev[64];
  int n, i, running;
  long left = -1;
  n = mpns_poller_wait(&c->poller, ev, 64, (int)up(wait_for(c, timeout) * 1000));
  for (i = 0; i < n && !c->closed; i++) {
    int f = (ev[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
            (ev[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
            (ev[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
    curl_multi_socket_action(c->multi, ev[i].data.fd, f, &running);
    if (i % 8 == 7) turnover(c);
  }
  turnover(c);
  if (c->closed) return;
  curl_multi_timeout(c->multi, &left);   /* curl may not call on_timer again */
  c->curl_due = left < 0 ? -1 : mpns_now() + left / 1000.0;
}

int mpns_client_step(mpns_client *c, double timeout) {
  if (c->closed || c->stepping) return -1;
  c->stepping = 1;
  run_timers(c);
  report_ready(c);
  start_queued(c);
  if (!c->closed) act(c, timeout > 0 ? (timeout < 86400 ? timeout : 86400) : 0);
  c->stepping = 0;
  if (c->closed) { teardown(c); return 0; }
  return mpns_client_pending(c);
}

long mpns_client_timeout(mpns_client *c) {
  double w;
  if (c->closed || !mpns_client_pending(c)) return -1;
  w = wait_for(c, 3600);
  return up(w * 1000);
}

int mpns_client_fd(const mpns_client *c) { return c->poller.epfd; }

/* ---- closing ------------------------------------------------------------ */

void mpns_client_close(mpns_client *c) {
  long i;
  if (c->closed) return;
  c->closed = 1;
  for (i = 0; i < c->nxfers; i++) {
    mpns_entry *e = c->xfers[i].entry;
    if (!e) continue;
    curl_multi_remove_handle(c->multi, c->xfers[i].easy);
    c->xfers[i].entry = NULL;
    c->inflight--;
    deliver_fail(c, e, MPNS_FAIL_CLOSED, "client closed");
  }
  while (c->queue.n)
    deliver_fail(c, mpns_queue_pop(&c->queue), MPNS_FAIL_CLOSED, "client closed");
  while (c->ready.n) {
    mpns_entry *e = mpns_queue_pop(&c->ready);
    deliver_fail(c, e, MPNS_FAIL_INVALID_URI, e->invalid);
  }
  while (c->timers.n) {
    mpns_timer t = mpns_timers_pop(&c->timers);
    if (t.entry) deliver_fail(c, t.entry, MPNS_FAIL_CLOSED, "client closed");
  }
  c->retrying = c->user_timers = 0;
  if (!c->stepping) teardown(c);
}

int mpns_client_closed(const mpns_client *c) { return c->closed; }
void mpns_client_set_data(mpns_client *c, void *data) { c->data = data; }
void *mpns_client_data(const mpns_client *c) { return c->data; }
mpns_client_stats mpns_client_get_stats(const mpns_client *c) { return c->stats; }
