/* failure.c: how a send can fail without an HTTP answer: URI checks before
 * sending, and libcurl's result codes mapped to the failure kinds. */
#include <string.h>
#include <strings.h>
#include "client_int.h"

static const char *const fail_names[] = {
  "none", "timeout", "connect", "dns", "tls", "protocol", "closed",
  "invalid_uri"
};

const char *mpns_fail_name(mpns_fail f) {
  return (unsigned)f < sizeof fail_names / sizeof *fail_names
         ? fail_names[f] : "protocol";
}

/* libcurl codes that mean something more precise than "protocol". */
static const struct { CURLcode code; mpns_fail fail; } fail_map[] = {
  { CURLE_OPERATION_TIMEDOUT, MPNS_FAIL_TIMEOUT },
  { CURLE_COULDNT_CONNECT, MPNS_FAIL_CONNECT },
  { CURLE_COULDNT_RESOLVE_HOST, MPNS_FAIL_DNS },
  { CURLE_COULDNT_RESOLVE_PROXY, MPNS_FAIL_DNS },
  { CURLE_SSL_CONNECT_ERROR, MPNS_FAIL_TLS },
  { CURLE_PEER_FAILED_VERIFICATION, MPNS_FAIL_TLS },
  { CURLE_SSL_CERTPROBLEM, MPNS_FAIL_TLS },
  { CURLE_SSL_CIPHER, MPNS_FAIL_TLS },
  { CURLE_SSL_CACERT_BADFILE, MPNS_FAIL_TLS },
  { CURLE_SSL_ENGINE_NOTFOUND, MPNS_FAIL_TLS },
  { CURLE_SSL_ENGINE_SETFAILED, MPNS_FAIL_TLS },
  { CURLE_SSL_CRL_BADFILE, MPNS_FAIL_TLS },
  { CURLE_SSL_ISSUER_ERROR, MPNS_FAIL_TLS },
  { CURLE_SSL_PINNEDPUBKEYNOTMATCH, MPNS_FAIL_TLS },
  { CURLE_SSL_INVALIDCERTSTATUS, MPNS_FAIL_TLS },
  { CURLE_USE_SSL_FAILED, MPNS_FAIL_TLS },
  { CURLE_URL_MALFORMAT, MPNS_FAIL_INVALID_URI },
};
/* Not listed: CURLE_UNSUPPORTED_PROTOCOL. mpns_uri_check has refused every
 * scheme but http and https before a send starts, so curl says it only of
 * the server's answer (HTTP/0.9 noise, a status out of range): protocol. */

/* A TLS 1.3 server rejects a client certificate after the handshake, so
 * curl reports it as a receive error; the message names the TLS layer. */
static mpns_fail classify(CURLcode rc, const char *msg) {
  size_t i;
  for (i = 0; i < sizeof fail_map / sizeof *fail_map; i++)
    if (fail_map[i].code == rc) return fail_map[i].fail;
  if ((rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR) &&
      (strstr(msg, "SSL") || strstr(msg, "alert"))) return MPNS_FAIL_TLS;
  return MPNS_FAIL_PROTOCOL;
}

void mpns_xfer_result(mpns_xfer *x, CURLcode rc, mpns_result *r) {
  long status = 0;
  mpns_entry *e = x->entry;
  memset(r, 0, sizeof *r);
  r->retry_after = -1;
  r->attempts = e->attempts;
  r->uri = e->uri;
  r->urilen = e->urilen;
  r->msg = e->msg;
  if (rc == CURLE_ABORTED_BY_CALLBACK && x->requests > 1) {
    r->message = "the server closed a reused connection without answering";
    r->fail = MPNS_FAIL_PROTOCOL;
    return;
  }
  if (rc != CURLE_OK) {
    r->message = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
    r->fail = classify(rc, r->message);
    return;
  }
  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
  r->status = (int)status;
  r->notification = x->notification[0] ? x->notification : NULL;
  r->device = x->device[0] ? x->device : NULL;
  r->subscription = x->subscription[0] ? x->subscription : NULL;
  r->message_id = x->message_id[0] ? x->message_id : NULL;
  r->advice = mpns_answer_advise(r->status, r->notification, r->subscription);
}

/* What curl's own parser sees: the same verdict as the transfer's. */
static const char *curl_verdict(const char *uri, size_t len) {
  const char *why = NULL;
  char *user = NULL, copy[MPNS_URI_MAX + 1];
  CURLU *u;
  memcpy(copy, uri, len);               /* `uri` need not end in a NUL */
  copy[len] = '\0';
  if (!(u = curl_url())) return "out of memory checking the channel URI";
  if (curl_url_set(u, CURLUPART_URL, copy, 0) != CURLUE_OK)
    why = "channel URI is not a valid URL";
  else if (curl_url_get(u, CURLUPART_USER, &user, 0) != CURLUE_NO_USER)
    why = "channel URI must not carry credentials (user:password@)";
  curl_free(user);
  curl_url_cleanup(u);
  return why;
}

/* Credentials in a channel URI would go
 * out as an Authorization header, in clear over http: refused. */
const char *mpns_uri_check(const char *uri, size_t len) {
  static const char *const why[] = {
    [MPNS_URL_CONTROL] = "channel URI contains a control character or space",
    [MPNS_URL_SCHEME] = "channel URI must be http:// or https:// with a host",
    [MPNS_URL_NO_HOST] = "channel URI has no host",
    [MPNS_URL_CREDENTIALS] = "channel URI must not carry credentials (user:password@)"
  };
  int bad;
  if (len > MPNS_URI_MAX) return "channel URI longer than 1024 characters";
  if ((bad = mpns_url_check(uri, len)) != MPNS_URL_OK) return why[bad];
  /* Credentials need an '@': only then ask curl's parser too (it costs
   * microseconds, and its authority ends where ours does). */
  return memchr(uri, '@', len) ? curl_verdict(uri, len) : NULL;
}
