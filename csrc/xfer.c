/*
 * xfer.c: one pooled easy handle. Configured once (TLS, timeouts, protocols,
 * callbacks); a send then sets only its URL, its body (the message's frame
 * and own bytes joined in the handle's buffer) and relinks its header list
 * to the message's lines. Response headers are
 * parsed in place into fixed buffers: no allocation per header.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "client_int.h"

/* The response headers a result carries, and where each one goes. */
static const struct {
  const char *name;
  size_t len, off, cap;
} wanted[] = {
#define W(name, field) { name, sizeof name - 1, offsetof(mpns_xfer, field), \
                         sizeof ((mpns_xfer *)0)->field }
  W("X-NotificationStatus", notification),
  W("X-DeviceConnectionStatus", device),
  W("X-SubscriptionStatus", subscription),
  W("X-MessageID", message_id),
#undef W
};
#define NWANTED (sizeof wanted / sizeof wanted[0])

static void clear_answer(mpns_xfer *x) {
  x->notification[0] = x->device[0] = x->subscription[0] = '\0';
  x->message_id[0] = '\0';
}

/* Keeps the value of a wanted header, trimmed; a new status line (another
 * response on the same transfer) starts over. */
static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  mpns_xfer *x = ud;
  size_t len = size * n, i, vlen;
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) { clear_answer(x); return len; }
  for (i = 0; i < NWANTED; i++) {
    const char *v = p + wanted[i].len + 1;
    char *out = (char *)x + wanted[i].off;
    if (len <= wanted[i].len || p[wanted[i].len] != ':' ||
        strncasecmp(p, wanted[i].name, wanted[i].len) != 0) continue;
    vlen = len - wanted[i].len - 1;
    while (vlen && (*v == ' ' || *v == '\t')) v++, vlen--;
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
                    v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) vlen--;
    if (vlen >= wanted[i].cap) vlen = wanted[i].cap - 1;
    memcpy(out, v, vlen);
    out[vlen] = '\0';
    break;
  }
  return len;
}

/* MPNS answers carry no body worth keeping. */
static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  (void)p; (void)ud;
  return size * n;
}

/* libcurl sends a request again, on a fresh connection, when a reused one
 * closes before any answer ("Connection died, retrying a fresh connect").
 * The server may have acted on the first: a push is never re-sent behind
 * the retry policy's back, so a second request aborts the attempt. */
#if LIBCURL_VERSION_NUM >= 0x075000       /* 7.80: CURLOPT_PREREQFUNCTION */
static int on_request(void *ud, char *ip, char *local_ip, int port,
                      int local_port) {
  mpns_xfer *x = ud;
  (void)ip; (void)local_ip; (void)port; (void)local_port;
  return x->requests++ ? CURL_PREREQFUNC_ABORT : CURL_PREREQFUNC_OK;
}
#endif

static long ms(double s) { return s > 0 ? (long)(s * 1000 + 0.5) : 0; }

/* Options every send of this client shares. */
static int setup_tls(CURL *h, const mpns_client_opts *o) {
  int bad = 0;
  if (o->cert) bad |= curl_easy_setopt(h, CURLOPT_SSLCERT, o->cert);
  if (o->key) bad |= curl_easy_setopt(h, CURLOPT_SSLKEY, o->key);
  if (o->key_password)
    bad |= curl_easy_setopt(h, CURLOPT_KEYPASSWD, o->key_password);
  if (o->ca) bad |= curl_easy_setopt(h, CURLOPT_CAINFO, o->ca);
  bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, o->verify ? 1L : 0L);
  bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, o->verify ? 2L : 0L);
  return bad;
}

static int setup_http(CURL *h, mpns_xfer *x, const mpns_client_opts *o) {
  int bad = 0;
#if LIBCURL_VERSION_NUM >= 0x075500
  bad |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  bad |= curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  bad |= curl_easy_setopt(h, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
  bad |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  /* A channel URI is opaque: send its path as given, and skip curl's
   * dot-segment pass ("/01.00/" would trigger it on every request). */
  bad |= curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
  bad |= curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  bad |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  bad |= curl_easy_setopt(h, CURLOPT_POST, 1L);
  bad |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms(o->timeout));
  bad |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ms(o->connect_timeout));
  bad |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  bad |= curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
  bad |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  bad |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
  /* MPNS answers are a few hundred bytes of headers: a 4 KB receive buffer
   * instead of 16 KB saves 600 KB across a pool of 50 handles. */
  bad |= curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 4096L);
  bad |= curl_easy_setopt(h, CURLOPT_PRIVATE, x);
  bad |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->headers);
#if LIBCURL_VERSION_NUM >= 0x075000
  bad |= curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_request);
  bad |= curl_easy_setopt(h, CURLOPT_PREREQDATA, x);
#endif
  /* Only the proxy option counts: "" stops curl reading *_proxy variables
   * from the environment for every request, and without a proxy no_proxy
   * has nothing to exempt (curl would read it twice per request). */
  bad |= curl_easy_setopt(h, CURLOPT_PROXY, o->proxy ? o->proxy : "");
  if (!o->proxy) bad |= curl_easy_setopt(h, CURLOPT_NOPROXY, "");
  if (o->user_agent) bad |= curl_easy_setopt(h, CURLOPT_USERAGENT, o->user_agent);
  return bad;
}

int mpns_xfer_init(mpns_xfer *x, const mpns_client_opts *o) {
  memset(x, 0, sizeof *x);
  x->easy = curl_easy_init();
  if (!x->easy) return -1;
  if (setup_http(x->easy, x, o) | setup_tls(x->easy, o)) {
    curl_easy_cleanup(x->easy);
    x->easy = NULL;
    return -1;
  }
  return 0;
}

/* Links the handle's own list nodes to "Accept:" (drops a header MPNS
 * never reads) and the message's lines. "Expect:" stops a 100-continue
 * wait, which libcurl releases before 7.59 used for bodies over 1 KB; below
 * that it would only cost a header scan. struct curl_slist is public and
 * libcurl only reads the list while a transfer runs, so the nodes point
 * into the message the entry holds until its transfer is done: a send
 * whose X-MessageID differs from the last one's costs no copy and no
 * allocation. */
static void set_headers(mpns_xfer *x, const mpns_msg *m, int expect) {
  const char *const *line = mpns_msg_header_lines(m);
  struct curl_slist *h = x->headers;
  h->data = (char *)"Accept:";
  if (expect) (++h)->data = (char *)"Expect:";
  for (; *line; line++) (++h)->data = (char *)*line;
  for (h->next = NULL; h != x->headers; h--) h[-1].next = h;
}

/* Joins the message's frame and own bytes in the handle's buffer, so curl
 * sends the request in one piece; the buffer grows, never shrinks. */
static const char *join_body(mpns_xfer *x, const mpns_msg *m, size_t *len) {
  *len = mpns_msg_body_len(m);
  if (*len >= x->body_cap) {
    char *p = realloc(x->body, *len + 1);
    if (!p) return NULL;
    x->body = p;
    x->body_cap = *len + 1;
  }
  mpns_msg_body_copy(m, x->body);
  return x->body;
}

int mpns_xfer_start(mpns_xfer *x, mpns_entry *e) {
  size_t len;
  const char *body = join_body(x, e->msg, &len);
  int expect = len > 1024;
  if (!body) return -1;
  set_headers(x, e->msg, expect);
  x->errbuf[0] = '\0';
  x->requests = 0;
  clear_answer(x);
  if (curl_easy_setopt(x->easy, CURLOPT_URL, (const char *)e->uri) ||
      curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)len) ||
      curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, body)) return -1;
  x->entry = e;
  return 0;
}

void mpns_xfer_cleanup(mpns_xfer *x) {
  if (x->easy) curl_easy_cleanup(x->easy);
  free(x->body);
  memset(x, 0, sizeof *x);
}
