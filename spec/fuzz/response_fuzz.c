/*
 * response_fuzz.c: libFuzzer harness for what the C core reads from the far
 * end, which may be anyone's server: response header lines (xfer.c's curl
 * header callback, included below to reach it), the advice drawn from the
 * status and headers (response.c), and the channel URI check (failure.c).
 * Input: 4 bytes of status (any int), then header lines split at '\n', each
 * handed over in a heap block of its exact size, as libcurl does.
 */
#include "../../csrc/xfer.c"
#include "fuzz_util.h"

/* ---- reference: what a header line sets ---------------------------------- */

typedef struct { char v[4][64]; } ref_answer;

static const size_t ref_cap[4] = { 32, 32, 32, 64 };

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static void ref_header(ref_answer *r, const char *p, size_t len) {
  size_t i, k, b, e;
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) { memset(r, 0, sizeof *r); return; }
  for (i = 0; i < 4; i++) {
    size_t n = strlen(wanted[i].name);
    if (len <= n || p[n] != ':') continue;
    for (k = 0; k < n && lower((unsigned char)p[k]) == lower(wanted[i].name[k]); k++) {}
    if (k < n) continue;
    for (b = n + 1; b < len && (p[b] == ' ' || p[b] == '\t'); b++) {}
    for (e = len; e > b && strchr("\r\n \t", p[e - 1]) && p[e - 1]; e--) {}
    if (e - b > ref_cap[i] - 1) e = b + ref_cap[i] - 1;
    memcpy(r->v[i], p + b, e - b);
    r->v[i][e - b] = '\0';
    return;
  }
}

static const char *field_of(mpns_xfer *x, int i) {
  return i == 0 ? x->notification : i == 1 ? x->device : i == 2 ? x->subscription : x->message_id;
}

/* ---- oracles on the advice ------------------------------------------------ */

static int same(const char *a, const char *b) { return a && strcasecmp(a, b) == 0; }

static void check_advice(int status, const char *n, const char *s) {
  mpns_advice a = mpns_answer_advise(status, n, s);
  mpns_advice two = mpns_answer_advise(status, n, NULL);
  FUZZ_ASSERT((unsigned)a.outcome < MPNS_OUTCOME_COUNT && mpns_outcome_name(a.outcome));
  FUZZ_ASSERT(a.ok == (status == 200 && same(n, "Received")));
  FUZZ_ASSERT(a.delete_channel == (status == 404 && same(s, "Expired")));
  FUZZ_ASSERT(a.retry_after == -1 || a.retry_after == 60 || a.retry_after == 3600);
  if (status < 100 || status > 599) FUZZ_ASSERT(a.outcome == MPNS_UNEXPECTED);
  if (a.outcome == MPNS_NOT_MPNS)
    FUZZ_ASSERT(status == 200 || status == 404 || status == 406 || status == 412);
  /* Without X-SubscriptionStatus nothing is ever deleted. */
  FUZZ_ASSERT(!two.delete_channel && two.ok == a.ok);
}

/* Whatever passes the URI check is short, http(s) and free of controls. */
static void check_uri(const char *uri, size_t len) {
  size_t i;
  if (mpns_uri_check(uri, len)) return;
  FUZZ_ASSERT(len <= 1024);
  FUZZ_ASSERT((len > 7 && strncasecmp(uri, "http://", 7) == 0) ||
              (len > 8 && strncasecmp(uri, "https://", 8) == 0));
  for (i = 0; i < len; i++) FUZZ_ASSERT((unsigned char)uri[i] > 0x20 && uri[i] != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = { data, size };
  mpns_xfer *x = calloc(1, sizeof *x);
  ref_answer ref;
  int status = 0, i;
  size_t len;
  char *block;
  if (!x) abort();
  for (i = 0; i < 4; i++) status = (int)((unsigned)status << 8 | fuzz_byte(&in));
  block = fuzz_bytes(&in, in.n, &len);
  check_uri(block, len);
  free(block);
  in.p = data + (size < 4 ? size : 4);
  in.n = size < 4 ? 0 : size - 4;
  memset(&ref, 0, sizeof ref);
  while (in.n) {
    const uint8_t *nl = memchr(in.p, '\n', in.n);
    char *line = fuzz_bytes(&in, nl ? (size_t)(nl - in.p) + 1 : in.n, &len);
    FUZZ_ASSERT(on_header(line, 1, len, x) == len);
    ref_header(&ref, line, len);
    free(line);
  }
  for (i = 0; i < 4; i++) {
    const char *v = field_of(x, i);
    FUZZ_ASSERT(strnlen(v, ref_cap[i]) < ref_cap[i] && strcmp(v, ref.v[i]) == 0);
  }
  check_advice(status, x->notification[0] ? x->notification : NULL,
               x->subscription[0] ? x->subscription : NULL);
  check_advice(status & 0x3ff, x->notification[0] ? x->notification : NULL,
               x->subscription[0] ? x->subscription : NULL);
  free(x);
  return 0;
}
