/*
 * message_fuzz.c: libFuzzer harness for the message builder. The input picks
 * a kind, an OS and up to 16 field values, each in a heap block of its exact
 * length with no NUL after it. Oracles, checked on every message built (and
 * on its copies for every OS):
 *   - a toast or tile body is well-formed XML (expat) with the structure the
 *     protocol gives: wp:Notification > wp:Toast|wp:Tile > wp: elements in
 *     field-table order, each holding exactly the value it was given
 *     (escaping round-trips), and at 8.0 every given element present;
 *   - a raw body is the given bytes; header lines have no control bytes;
 *   - mpns_utf8_check agrees with the reference decoder below;
 *   - any bytes escaped by mpns_xml_escape parse back to themselves, in text
 *     and in an attribute, whenever they are text XML can carry.
 */
#include <expat.h>
#include "mpns.h"
#include "fuzz_util.h"

/* ---- reference: the XML 1.0 Char production over UTF-8 ------------------ */

static int xml_char(unsigned long c) {
  return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
         (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

/* Offset of the first byte that does not start a well-formed UTF-8 encoding
 * of an XML Char, or -1: decoded the textbook way (RFC 3629, table 3-7). */
static long ref_utf8(const unsigned char *s, size_t len) {
  static const unsigned long min[4] = { 0, 0x80, 0x800, 0x10000 };
  size_t i = 0;
  while (i < len) {
    unsigned char b = s[i];
    size_t n = b < 0x80 ? 0 : (b & 0xE0) == 0xC0 ? 1 : (b & 0xF0) == 0xE0 ? 2
             : (b & 0xF8) == 0xF0 ? 3 : 4;
    unsigned long c = n == 0 ? b : n == 1 ? (b & 0x1Fu) : n == 2 ? (b & 0x0Fu) : (b & 0x07u);
    size_t k;
    if (n == 4 || i + n >= len + (n == 0)) return (long)i;
    for (k = 1; k <= n; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return (long)i;
      c = (c << 6) | (s[i + k] & 0x3Fu);
    }
    if (c < min[n] || !xml_char(c)) return (long)i;
    i += n + 1;
  }
  return -1;
}

/* ---- reading a body back with expat -------------------------------------- */

typedef struct {
  int depth, bad, count, last;
  int template_kind, toast;
  const mpns_spec *given;
  mpns_field cur;
  int clear;
  char text[8192];
  size_t tlen;
  int seen[MPNS_FIELD_COUNT];
} reader;

static const char *attr(const XML_Char **a, const char *name) {
  for (; a[0]; a += 2)
    if (strcmp(a[0], name) == 0) return a[1];
  return NULL;
}

static int nattrs(const XML_Char **a) {
  int n = 0;
  for (; a[0]; a += 2) n++;
  return n;
}

static int field_of_element(const char *name) {
  int f;
  if (strncmp(name, "wp:", 3) != 0) return -1;
  for (f = 0; f < MPNS_FIELD_COUNT; f++)
    if (mpns_field_table[f].xml && strcmp(mpns_field_table[f].xml, name + 3) == 0) return f;
  return -1;
}

/* The value the element of field f must hold: its own, or that of a field
 * a 7.x tile moved to it (a cycle tile's first image, an iconic icon). */
static const mpns_value *source_of(const mpns_spec *s, mpns_field f) {
  int g;
  if (s->field[f].state != MPNS_UNSET) return &s->field[f];
  for (g = 0; g < MPNS_FIELD_COUNT; g++)
    if (mpns_field_table[g].fallback == (int)f && s->field[g].state != MPNS_UNSET)
      return &s->field[g];
  return NULL;
}

static void check_tile_attrs(reader *r, const XML_Char **a) {
  const char *id = attr(a, "Id");
  const mpns_value *v = &r->given->field[MPNS_F_ID];
  if (id) FUZZ_ASSERT(v->state == MPNS_SET && strlen(id) == v->len && memcmp(id, v->ptr, v->len) == 0);
  FUZZ_ASSERT(nattrs(a) == (id != NULL) + (attr(a, "Template") != NULL));
  FUZZ_ASSERT((attr(a, "Template") != NULL) == r->template_kind);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **a) {
  reader *r = ud;
  int f;
  switch (r->depth++) {
  case 0:
    FUZZ_ASSERT(strcmp(name, "wp:Notification") == 0);
    FUZZ_ASSERT(attr(a, "xmlns:wp") && strcmp(attr(a, "xmlns:wp"), "WPNotification") == 0);
    FUZZ_ASSERT((attr(a, "Version") != NULL) == r->template_kind);
    return;
  case 1:
    FUZZ_ASSERT(strcmp(name, r->toast ? "wp:Toast" : "wp:Tile") == 0);
    if (!r->toast) check_tile_attrs(r, a);
    else FUZZ_ASSERT(nattrs(a) == 0);
    return;
  case 2:
    if (r->toast && strcmp(name, "wp:Sound") == 0 && attr(a, "Silent")) {
      FUZZ_ASSERT(strcmp(attr(a, "Silent"), "true") == 0);
      f = MPNS_F_SILENT;
    } else {
      f = field_of_element(name);
      FUZZ_ASSERT(f >= 0);
      r->clear = attr(a, "Action") != NULL;
      FUZZ_ASSERT(nattrs(a) == r->clear && (!r->clear || strcmp(attr(a, "Action"), "Clear") == 0));
    }
    FUZZ_ASSERT(f > r->last);  /* one order fits every kind: the table's */
    r->last = f;
    r->cur = (mpns_field)f;
    r->tlen = 0;
    return;
  default:
    FUZZ_ASSERT(!"elements nest only three deep");
  }
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len) {
  reader *r = ud;
  FUZZ_ASSERT(r->depth == 3);
  FUZZ_ASSERT(r->tlen + (size_t)len <= sizeof r->text);
  memcpy(r->text + r->tlen, s, (size_t)len);
  r->tlen += (size_t)len;
}

static void XMLCALL on_end(void *ud, const XML_Char *name) {
  reader *r = ud;
  const mpns_value *v;
  (void)name;
  if (--r->depth != 2) return;
  r->seen[r->cur] = 1;
  if (r->cur == MPNS_F_SILENT) return;
  v = source_of(r->given, r->cur);
  FUZZ_ASSERT(v != NULL);
  if (r->clear) {
    FUZZ_ASSERT(v->state == MPNS_CLEAR && r->tlen == 0);
  } else {
    FUZZ_ASSERT(v->state == MPNS_SET);
    FUZZ_ASSERT(r->tlen == v->len && memcmp(r->text, v->ptr, v->len) == 0);
  }
}

static void check_xml_body(const mpns_spec *given, const mpns_msg *m, const char *body,
                           size_t len) {
  reader r;
  XML_Parser p = XML_ParserCreate(NULL);
  int f, ok;
  memset(&r, 0, sizeof r);
  r.given = given;
  r.last = -1;
  r.toast = mpns_msg_kind(m) == MPNS_TOAST;
  r.template_kind = mpns_msg_kind(m) >= MPNS_FLIP_TILE && mpns_msg_kind(m) <= MPNS_CYCLE_TILE;
  XML_SetUserData(p, &r);
  XML_SetElementHandler(p, on_start, on_end);
  XML_SetCharacterDataHandler(p, on_text);
  ok = XML_Parse(p, body, (int)len, 1) == XML_STATUS_OK;
  if (!ok) fprintf(stderr, "not well-formed: %s\n%.*s\n", XML_ErrorString(XML_GetErrorCode(p)), (int)len, body);
  XML_ParserFree(p);
  FUZZ_ASSERT(ok && r.depth == 0);
  if (mpns_msg_os(m) != MPNS_OS_80) return;
  for (f = 0; f < MPNS_FIELD_COUNT; f++)  /* nothing given is lost at 8.0 */
    if (mpns_field_table[f].xml && given->field[f].state != MPNS_UNSET) FUZZ_ASSERT(r.seen[f]);
}

/* ---- the oracles on one built message ------------------------------------ */

static void check_headers(const mpns_msg *m) {
  const char *const *line = mpns_msg_header_lines(m);
  const mpns_header *h;
  int n = mpns_msg_headers(m, &h), i;
  const char *c;
  FUZZ_ASSERT(n >= 2 && n <= MPNS_MAX_HEADERS && line[n] == NULL);
  for (i = 0; i < n; i++)
    for (c = line[i]; *c; c++) FUZZ_ASSERT((unsigned char)*c >= 0x20 && *c != 0x7f);
}

/* The body is checked as sent: its frame and own bytes joined. */
static void check_msg(const mpns_spec *given, const mpns_msg *m) {
  size_t len = mpns_msg_body_len(m);
  char *body = malloc(len + 1);
  FUZZ_ASSERT(body != NULL && mpns_msg_body_copy(m, body) == len && body[len] == '\0');
  check_headers(m);
  if (given->kind == MPNS_RAW || given->kind == MPNS_CALLBACK) {  /* bytes as given */
    const mpns_value *d = &given->field[MPNS_F_DATA];
    FUZZ_ASSERT(len == d->len && (len == 0 || memcmp(body, d->ptr, len) == 0));
  } else {
    check_xml_body(given, m, body, len);
  }
  free(body);
}

/* Escaped text parses back to itself, as element text and as an attribute. */
typedef struct { char attr[1024], text[1024]; size_t alen, tlen; int ok; } echo;

static void XMLCALL echo_start(void *ud, const XML_Char *name, const XML_Char **a) {
  echo *e = ud;
  (void)name;
  e->ok = a[0] && strcmp(a[0], "b") == 0 && !a[2];
  if (e->ok && (e->alen = strlen(a[1])) < sizeof e->attr) memcpy(e->attr, a[1], e->alen);
}

static void XMLCALL echo_text(void *ud, const XML_Char *s, int len) {
  echo *e = ud;
  FUZZ_ASSERT(e->tlen + (size_t)len <= sizeof e->text);
  memcpy(e->text + e->tlen, s, (size_t)len);
  e->tlen += (size_t)len;
}

static void check_escape(const char *s, size_t len) {
  static const char open[] = "<a b=\"", mid[] = "\">", close[] = "</a>";
  size_t n = mpns_xml_escaped_len(s, len);
  char *doc = malloc(sizeof open + n + sizeof mid + n + sizeof close), *p = doc;
  echo e;
  XML_Parser parser = XML_ParserCreate(NULL);
  int ok;
  if (!doc || !parser) abort();
  memcpy(p, open, sizeof open - 1), p += sizeof open - 1;
  FUZZ_ASSERT(mpns_xml_escape(p, s, len) == p + n);
  p += n;
  memcpy(p, mid, sizeof mid - 1), p += sizeof mid - 1;
  p = mpns_xml_escape(p, s, len);
  memcpy(p, close, sizeof close - 1), p += sizeof close - 1;
  memset(&e, 0, sizeof e);
  XML_SetUserData(parser, &e);
  XML_SetStartElementHandler(parser, echo_start);
  XML_SetCharacterDataHandler(parser, echo_text);
  ok = XML_Parse(parser, doc, (int)(p - doc), 1) == XML_STATUS_OK;
  XML_ParserFree(parser);
  free(doc);
  FUZZ_ASSERT(ok && e.ok);
  FUZZ_ASSERT(e.tlen == len && memcmp(e.text, s, len) == 0);
  FUZZ_ASSERT(e.alen == len && memcmp(e.attr, s, len) == 0);
}

/* ---- the input ----------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = { data, size };
  mpns_spec spec;
  mpns_error err;
  mpns_limits lim = mpns_default_limits;
  char *owned[16];
  int nowned = 0, i;
  mpns_msg *m;
  memset(&spec, 0, sizeof spec);
  spec.kind = (mpns_kind)(fuzz_byte(&in) % MPNS_KIND_COUNT);
  if (fuzz_byte(&in) & 1) lim.payload = 200 + fuzz_byte(&in) * 4;
  while (in.n && nowned < 16) {
    unsigned b = fuzz_byte(&in);
    mpns_value *v = &spec.field[b % MPNS_FIELD_COUNT];
    size_t len;
    owned[nowned++] = fuzz_bytes(&in, fuzz_byte(&in) % 128, &len);
    v->state = (b & 0x80) ? MPNS_CLEAR : MPNS_SET;
    v->ptr = owned[nowned - 1];
    v->len = len;
    FUZZ_ASSERT(mpns_utf8_check(v->ptr, len) == ref_utf8((const unsigned char *)v->ptr, len));
    if (ref_utf8((const unsigned char *)v->ptr, len) < 0) check_escape(v->ptr, len);
  }
  if ((m = mpns_msg_new(&spec, MPNS_OS_80, &lim, &err))) {
    for (i = 0; i < MPNS_OS_COUNT; i++) {
      mpns_msg *d = mpns_msg_for_os(m, (mpns_os)i, &lim, &err);
      if (d) check_msg(&spec, d);
      mpns_msg_unref(d);
    }
    check_msg(&spec, m);
    mpns_msg_unref(m);
  } else {
    FUZZ_ASSERT(strncmp(err.text, "mpns.", 5) == 0);
  }
  for (i = 0; i < nowned; i++) free(owned[i]);
  return 0;
}
