/*
 * core_test.c: the C core used from C, with no Lua anywhere: what a C
 * caller, a fuzzer or another transport sees. Run under valgrind by
 * spec/run; prints "N passed, N failed" like every suite.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mpns.h"
#include "intlimit.h"

static int passed, failed;

#define CHECK(cond) do { \
    if (cond) passed++; \
    else { failed++; fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); } \
  } while (0)

static void set(mpns_spec *s, mpns_field f, const char *v) {
  s->field[f].state = MPNS_SET;
  s->field[f].ptr = v;
  s->field[f].len = strlen(v);
}

static mpns_spec spec_of(mpns_kind kind) {
  mpns_spec s;
  memset(&s, 0, sizeof s);
  s.kind = kind;
  return s;
}

/* The whole body, joined in a static buffer (valid until the next call). */
static const char *body_of(const mpns_msg *m, size_t *len) {
  static char buf[16384];
  size_t n = mpns_msg_body_len(m);
  if (n >= sizeof buf) n = 0, buf[0] = '\0';
  else mpns_msg_body_copy(m, buf);
  if (len) *len = n;
  return buf;
}

/* Two toasts share their frame: the head and tail are static, and only
 * the part between them is each message's own. */
static void test_shared_frame(void) {
  static const char *const texts[2] = { "Alice", "Bob" };
  mpns_chunk part[2][3];
  mpns_msg *m[2];
  mpns_error err;
  size_t len;
  int i;
  for (i = 0; i < 2; i++) {
    mpns_spec s = spec_of(MPNS_TOAST);
    set(&s, MPNS_F_TEXT1, texts[i]);
    m[i] = mpns_msg_new(&s, MPNS_OS_80, NULL, &err);
    CHECK(m[i] != NULL);
    if (!m[i]) return;
    len = mpns_msg_body_parts(m[i], part[i]);
    CHECK(len == part[i][0].len + part[i][1].len + part[i][2].len);
    CHECK(len == mpns_msg_body_len(m[i]));
  }
  CHECK(part[0][0].ptr == part[1][0].ptr && part[0][2].ptr == part[1][2].ptr);
  CHECK(strncmp(part[0][0].ptr, "<?xml", 5) == 0);
  CHECK(part[0][1].len == strlen("<wp:Text1>Alice</wp:Text1>") &&
        memcmp(part[0][1].ptr, "<wp:Text1>Alice</wp:Text1>", part[0][1].len) == 0);
  CHECK(strcmp(body_of(m[1], &len), "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
               "<wp:Notification xmlns:wp=\"WPNotification\"><wp:Toast>"
               "<wp:Text1>Bob</wp:Text1></wp:Toast></wp:Notification>") == 0);
  for (i = 0; i < 2; i++) mpns_msg_unref(m[i]);
}

static void test_toast(void) {
  mpns_spec s = spec_of(MPNS_TOAST);
  mpns_error err;
  mpns_msg *m;
  const mpns_header *h;
  size_t len;
  int n;
  set(&s, MPNS_F_TEXT1, "a&b");
  set(&s, MPNS_F_PARAM, "/P.xaml?x=1&y=2");
  m = mpns_msg_new(&s, MPNS_OS_80, NULL, &err);
  CHECK(m != NULL);
  if (!m) return;
  CHECK(strstr(body_of(m, &len), "<wp:Text1>a&amp;b</wp:Text1>") != NULL);
  CHECK(len == strlen(body_of(m, NULL)));
  n = mpns_msg_headers(m, &h);
  CHECK(n == 3 && strcmp(h[1].name, "X-WindowsPhone-Target") == 0 && strcmp(h[1].value, "toast") == 0);
  CHECK(strcmp(mpns_msg_header_lines(m)[2], "X-NotificationClass: 2") == 0);
  CHECK(mpns_msg_header_lines(m)[3] == NULL);
  mpns_msg_unref(mpns_msg_ref(m));  /* a ref taken and dropped leaves it alive */
  CHECK(mpns_msg_kind(m) == MPNS_TOAST);
  mpns_msg_unref(m);
}

static void test_downgrade(void) {
  mpns_spec s = spec_of(MPNS_CYCLE_TILE);
  mpns_error err;
  mpns_msg *m, *old;
  set(&s, MPNS_F_TITLE, "t");
  set(&s, MPNS_F_CYCLE_IMAGE1, "/1.png");
  m = mpns_msg_new(&s, MPNS_OS_80, NULL, &err);
  CHECK(m != NULL);
  if (!m) return;
  old = mpns_msg_for_os(m, MPNS_OS_70, NULL, &err);
  CHECK(old != NULL && mpns_msg_kind(old) == MPNS_TILE && mpns_msg_os(old) == MPNS_OS_70);
  if (old) CHECK(strstr(body_of(old, NULL), "<wp:BackgroundImage>/1.png<") != NULL);
  mpns_msg_unref(m);  /* the downgraded copy owns its own bytes */
  if (old) CHECK(strstr(body_of(old, NULL), "Template") == NULL);
  mpns_msg_unref(old);
}

static void test_errors_build_nothing(void) {
  mpns_spec s = spec_of(MPNS_TILE);
  mpns_error err;
  mpns_limits small = { 100, 1024 };
  set(&s, MPNS_F_COUNT, "100");
  CHECK(mpns_msg_new(&s, MPNS_OS_80, NULL, &err) == NULL);
  CHECK(strstr(err.text, "'count'") != NULL);
  s = spec_of(MPNS_TILE);
  CHECK(mpns_msg_new(&s, MPNS_OS_80, NULL, &err) == NULL);
  CHECK(strstr(err.text, "no field set") != NULL);
  set(&s, MPNS_F_TITLE, "a long enough title to pass one hundred bytes of payload");
  CHECK(mpns_msg_new(&s, MPNS_OS_80, &small, &err) == NULL);
  CHECK(strstr(err.text, "over the 100-byte limit") != NULL);
  s.kind = (mpns_kind)42;
  CHECK(mpns_msg_new(&s, MPNS_OS_80, NULL, &err) == NULL);
}

/* Random bytes in every text field of every kind: either an error or a body
 * the size it claims; valgrind watches every read and write. */
static void test_random_fields(void) {
  char pool[64][48];
  int i, k, f, built = 0;
  srand(7);
  for (i = 0; i < 64; i++) {
    int j, n = 1 + rand() % 46;
    for (j = 0; j < n; j++) pool[i][j] = (char)(rand() % 2 ? 'a' + rand() % 26 : rand() % 256);
    pool[i][n] = '\0';
  }
  for (i = 0; i < 2000; i++) {
    mpns_spec s = spec_of((mpns_kind)(i % MPNS_KIND_COUNT));
    mpns_error err;
    mpns_msg *m;
    for (k = 0; k < 4; k++) {
      f = rand() % MPNS_FIELD_COUNT;
      if (mpns_field_table[f].kinds & (1u << s.kind)) set(&s, (mpns_field)f, pool[rand() % 64]);
    }
    if ((m = mpns_msg_new(&s, (mpns_os)(i % MPNS_OS_COUNT), NULL, &err))) {
      size_t len;
      const char *body = body_of(m, &len);
      built += body[len] == '\0' && strlen(body) == len;
      mpns_msg_unref(m);
    }
  }
  CHECK(built > 0);
}

/* A value is its `len` bytes: what follows it must not change the verdict
 * (a C caller's values need not end in NUL; the bytes after are not ours). */
static void test_checks_honour_len(void) {
  static const char buf[] = "/1.png://x";
  mpns_value v;
  char os_name[4] = { '7', '.', '0', 'x' };
  mpns_os os;
  v.state = MPNS_SET;
  v.ptr = buf;
  v.len = 6;  /* "/1.png" */
  CHECK(mpns_field_check(MPNS_F_CYCLE_IMAGE1, &v) == NULL);
  v.len = sizeof buf - 1;
  CHECK(mpns_field_check(MPNS_F_CYCLE_IMAGE1, &v) != NULL);
  CHECK(mpns_os_parse(os_name, 3, &os) == 0 && os == MPNS_OS_70);
  CHECK(mpns_os_parse(os_name, 4, &os) != 0);
  CHECK(mpns_os_parse("7.0\0x", 5, &os) != 0);
}

/* The queue's message ids: a UUID the checker accepts, only `len` bytes of
 * each input read, and the id the Lua version gave for "job1", "http://h/1". */
static void test_message_id(void) {
  char id[MPNS_MESSAGE_ID_LEN + 1], again[MPNS_MESSAGE_ID_LEN + 1];
  mpns_message_id("job1", 4, "http://h/1", 10, id);
  CHECK(strcmp(id, "22077217-eaf5-8c95-b268-b549378fcc93") == 0);
  CHECK(mpns_uuid_check(id, MPNS_MESSAGE_ID_LEN));
  mpns_message_id("job1x", 4, "http://h/1/2", 10, again);
  CHECK(strcmp(id, again) == 0);
  mpns_message_id("job1", 4, "http://h/2", 10, again);
  CHECK(strcmp(id, again) != 0 && strncmp(id, again, 19) == 0);
}

/* One byte `b` at `at` in `len` plain bytes: escaped as a byte at a time
 * would (its entity, or itself), sized alike, and judged as UTF-8 alike. */
static int one_byte_ok(int b, size_t at, size_t len) {
  static const char *const entity[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&apos;",
                                        "&#9;", "&#10;", "&#13;" };
  static const char special[] = "&<>\"'\t\n\r";
  const char *hit = b ? strchr(special, b) : NULL;
  const char *e = hit ? entity[hit - special] : NULL;
  size_t elen = e ? strlen(e) : 1, n;
  char in[64], out[64 * 6], want[64 * 6];
  long bad = (b < 0x20 && !(b == '\t' || b == '\n' || b == '\r')) || b >= 0x80 ? (long)at : -1;
  memset(in, 'a', len);
  in[at] = (char)b;
  memcpy(want, in, at);
  if (e) memcpy(want + at, e, elen);
  else want[at] = (char)b;
  memcpy(want + at + elen, in + at + 1, len - at - 1);
  n = (size_t)(mpns_xml_escape(out, in, len) - out);
  return n == len - 1 + elen && memcmp(out, want, n) == 0 &&
         mpns_xml_escaped_len(in, len) == n && mpns_utf8_check(in, len) == bad;
}

/* The escaper and the UTF-8 check skip plain bytes 16 at a time and test
 * a value's last bytes as one overlapping block: every byte value, at
 * every offset of values from 1 to 40 bytes, gets the byte-wise verdict. */
static void test_scan_every_byte(void) {
  int b, bad = 0;
  size_t len, at;
  for (len = 1; len <= 40; len++)
    for (at = 0; at < len; at++)
      for (b = 0; b < 256; b++) bad += !one_byte_ok(b, at, len);
  CHECK(bad == 0);
}

/* LuaJIT's lua_Integer is ptrdiff_t: a double converts only below the
 * type's own bound where that is under 2^53 (32-bit targets). No 32-bit
 * build runs here, so the bound is checked for each width. */
static void test_int_limit(void) {
  CHECK(MPNS_INT_LIMIT(64) == 9007199254740992.0);
  CHECK(MPNS_INT_LIMIT(32) == 2147483648.0);
  CHECK(MPNS_INT_LIMIT(16) == 32768.0);
}

static void test_advice(void) {
  mpns_advice a = mpns_answer_advise(200, "received", NULL);
  CHECK(a.outcome == MPNS_RECEIVED && a.ok && a.retry_after == -1);
  a = mpns_answer_advise(404, "Dropped", "expired");
  CHECK(a.delete_channel && strcmp(mpns_outcome_name(a.outcome), "expired") == 0);
  /* Only X-SubscriptionStatus: Expired proves a channel gone. */
  a = mpns_answer_advise(404, "Dropped", NULL);
  CHECK(a.outcome == MPNS_NOT_MPNS && !a.delete_channel && a.retry_after == -1);
  a = mpns_answer_advise(404, NULL, "Active");
  CHECK(a.outcome == MPNS_NOT_MPNS && !a.delete_channel);
  a = mpns_answer_advise(406, "Dropped", "Active");
  CHECK(a.outcome == MPNS_THROTTLED && a.retry_after == 3600);
  a = mpns_answer_advise(406, NULL, NULL);
  CHECK(a.outcome == MPNS_NOT_MPNS && a.retry_after == -1);
  a = mpns_answer_advise(200, NULL, "Active");
  CHECK(a.outcome == MPNS_NOT_MPNS && !a.ok);
  a = mpns_answer_advise(503, NULL, NULL);
  CHECK(a.outcome == MPNS_UNAVAILABLE && a.retry_after == 60);
  /* Statuses outside 100..599 have a defined answer: unexpected. */
  CHECK(mpns_answer_advise(-200, "Received", NULL).outcome == MPNS_UNEXPECTED);
  CHECK(mpns_answer_advise(1 << 30, "Received", NULL).outcome == MPNS_UNEXPECTED);
  CHECK(mpns_field_lookup("back_title", 10) == MPNS_F_BACK_TITLE);
  CHECK(mpns_field_lookup("titel", 5) == -1);
}

/* The URI check honours `len`: a buffer with no NUL after the URI (a heap
 * copy, so valgrind sees any read past it), credentials and empty hosts. */
static void test_uri_check(void) {
  static const struct { const char *uri; const char *why; } cases[] = {
    { "http://127.0.0.1/x", NULL },
    { "http://user:secret@127.0.0.1/x", "credentials" },
    { "http://@127.0.0.1/x", "credentials" },
    { "http:///x", "no host" },
    { "https://h/a@b", NULL },
    { "https://h:99999/a@b", "not a valid URL" },
    { "ftp://h/x", "http://" },
  };
  size_t i;
  for (i = 0; i < sizeof cases / sizeof *cases; i++) {
    size_t len = strlen(cases[i].uri);
    char *p = malloc(len);
    const char *why;
    memcpy(p, cases[i].uri, len);
    why = mpns_uri_check(p, len);
    CHECK(cases[i].why ? why && strstr(why, cases[i].why) : why == NULL);
    free(p);
  }
}

/* Options that would end up in a header, or files curl would read, are
 * checked when the client is made; the error names the option. */
static void test_client_options(void) {
  mpns_client_opts o;
  mpns_error err;
  mpns_client_opts_init(&o);
  o.user_agent = "ua\r\nX-Injected: 1";
  CHECK(mpns_client_new(&o, &err) == NULL && strstr(err.text, "'user_agent'"));
  mpns_client_opts_init(&o);
  o.ca = "/nonexistent/ca.pem";
  CHECK(mpns_client_new(&o, &err) == NULL && strstr(err.text, "/nonexistent/ca.pem"));
  mpns_client_opts_init(&o);
  o.timeout = 1e300;
  CHECK(mpns_client_new(&o, &err) == NULL && strstr(err.text, "'timeout'"));
  mpns_client_opts_init(&o);
  o.base_delay = 0.0 / 0.0;
  CHECK(mpns_client_new(&o, &err) == NULL && strstr(err.text, "'retry.base_delay'"));
}

/* A callback registration: X-CallbackURI from a value that is not
 * NUL-terminated, an octet-stream body that may be empty, no class. */
static void test_callback(void) {
  mpns_spec s = spec_of(MPNS_CALLBACK);
  mpns_error err;
  mpns_msg *m, *old;
  const char *const *line;
  const mpns_header *h;
  size_t len;
  s.field[MPNS_F_CALLBACK_URI].state = MPNS_SET;
  s.field[MPNS_F_CALLBACK_URI].ptr = "http://h/cb\nX-Evil: 1";
  s.field[MPNS_F_CALLBACK_URI].len = 11;  /* "http://h/cb": the rest is not ours */
  m = mpns_msg_new(&s, MPNS_OS_80, NULL, &err);
  CHECK(m != NULL);
  if (!m) return;
  line = mpns_msg_header_lines(m);
  CHECK(strcmp(line[0], "Content-Type: application/octet-stream") == 0);
  CHECK(strcmp(line[1], "X-CallbackURI: http://h/cb") == 0 && line[2] == NULL);
  CHECK(body_of(m, &len)[0] == '\0' && len == 0);
  old = mpns_msg_for_os(m, MPNS_OS_70, NULL, &err);
  CHECK(old && mpns_msg_kind(old) == MPNS_CALLBACK && mpns_msg_headers(old, &h) == 2);
  mpns_msg_unref(m);
  mpns_msg_unref(old);
  s.field[MPNS_F_CALLBACK_URI].state = MPNS_UNSET;
  set(&s, MPNS_F_DATA, "d");
  CHECK(mpns_msg_new(&s, MPNS_OS_80, NULL, &err) == NULL && strstr(err.text, "'uri' is required"));
  set(&s, MPNS_F_CALLBACK_URI, "mailto:x@h");
  CHECK(mpns_msg_new(&s, MPNS_OS_80, NULL, &err) == NULL && strstr(err.text, "absolute http"));
}

int main(void) {
  test_toast();
  test_shared_frame();
  test_downgrade();
  test_errors_build_nothing();
  test_random_fields();
  test_callback();
  test_checks_honour_len();
  test_message_id();
  test_scan_every_byte();
  test_int_limit();
  test_advice();
  test_uri_check();
  test_client_options();
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
