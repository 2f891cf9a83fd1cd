/*
 * message.c: validate a message once, downgrade it for a device's OS, and
 * build its body and headers into one immutable, reference-counted block.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mpns.h"

mpns_limits mpns_default_limits = { 3072, 1024 };

/* The fields a spec sets or clears, as bits in table order: loops visit
 * only those, lowest (first in the XML) first. */
typedef unsigned long long fieldset;
typedef char fieldset_is_wide_enough[MPNS_FIELD_COUNT <= 64 ? 1 : -1];

/* A header list: a static one for the common case (no content_type, no
 * message_id), else one inside the message's block. */
typedef struct {
  int n;
  size_t bytes;             /* of the lines, each with its NUL */
  mpns_header header[MPNS_MAX_HEADERS];
  const char *line[MPNS_MAX_HEADERS + 1];
} header_set;

/* A given value as offsets into its message, so for_os and tostring can
 * rebuild the spec; off 0 means mpns.CLEAR (the struct sits at 0). */
typedef struct { uint32_t off, len; } given_value;

/* One block, sized exactly: this struct, the given values, the header set
 * if it is not a static one, the body's own bytes (without the frame its
 * kind shares, see frames[]), then the bytes of the given values that the
 * body does not already hold verbatim, then header lines. A toast's text
 * usually needs no escaping, so it is kept once. */
struct mpns_msg {
  int refs;
  unsigned char kind;         /* as built: a flip tile sent to 7.x is a tile */
  unsigned char os;
  unsigned char given_kind;   /* what the constructor was given, kept so */
  fieldset given_set;         /* that for_os can rebuild for any OS */
  const header_set *hs;
  uint32_t body_off, body_len;   /* the body's own bytes, between its frame */
  given_value given[];        /* one per bit of given_set */
};

#define XML_HEAD "<?xml version=\"1.0\" encoding=\"utf-8\"?>" \
                 "<wp:Notification xmlns:wp=\"WPNotification\""

/* The fixed head and tail every body of a kind starts and ends with
 * (about 120 of a short toast's 170 bytes): kept here once, not in each
 * message, so 100,000 queued toasts do not hold 100,000 copies. */
typedef struct { const char *head, *tail; size_t head_len, tail_len; } frame;
#define FRAME(h, t) { h, t, sizeof h - 1, sizeof t - 1 }
#define TILE_TAIL "</wp:Tile></wp:Notification>"
static const frame frames[MPNS_KIND_COUNT] = {
  [MPNS_TOAST] = FRAME(XML_HEAD "><wp:Toast>", "</wp:Toast></wp:Notification>"),
  [MPNS_TILE] = FRAME(XML_HEAD ">", TILE_TAIL),
  [MPNS_FLIP_TILE] = FRAME(XML_HEAD " Version=\"2.0\">", TILE_TAIL),
  [MPNS_ICONIC_TILE] = FRAME(XML_HEAD " Version=\"2.0\">", TILE_TAIL),
  [MPNS_CYCLE_TILE] = FRAME(XML_HEAD " Version=\"2.0\">", TILE_TAIL),
  [MPNS_RAW] = FRAME("", ""), [MPNS_CALLBACK] = FRAME("", "")
};

static const char *const template_name[MPNS_KIND_COUNT] = {
  [MPNS_FLIP_TILE] = "FlipTile", [MPNS_ICONIC_TILE] = "IconicTile",
  [MPNS_CYCLE_TILE] = "CycleTile"
};

#define BIT(f) (1ULL << (f))
#define FOR_EACH(f, set) \
  for (fieldset rest_ = (set); rest_ && ((f) = (mpns_field)__builtin_ctzll(rest_), 1); \
       rest_ &= rest_ - 1)
#define INFO(f) (&mpns_field_table[f])

/* Raw and callback bodies are the caller's bytes (`data`), not XML. */
static int is_xml(mpns_kind k) { return k < MPNS_RAW; }

/* A callback registration's caps (protocol: "Authenticated web services"). */
#define CALLBACK_MAX 1024

static fieldset fields_of(const mpns_spec *s) {
  fieldset set = 0;
  int f;
  for (f = 0; f < MPNS_FIELD_COUNT; f++)
    if (s->field[f].state != MPNS_UNSET) set |= BIT(f);
  return set;
}

static int has_field(mpns_kind k, mpns_field f) { return (INFO(f)->kinds >> k) & 1u; }

/* ---- errors ------------------------------------------------------------ */

static int fail(mpns_error *err, const mpns_spec *s, mpns_field f, const char *what) {
  char label[40];
  mpns_field_label(f, label, sizeof label);
  snprintf(err->text, sizeof err->text, "mpns.%s: field '%s' %s",
           mpns_kind_name(s->kind), label, what);
  return 0;
}

/* "expected X, got "value"", or where the value has a byte that cannot be
 * shown (invalid UTF-8, a control character), which byte it is. */
static void describe_bad(char *buf, size_t n, const char *expected, const mpns_value *v) {
  long bad = mpns_utf8_check(v->ptr, v->len);
  size_t i;
  for (i = 0; bad < 0 && i < v->len; i++)
    if ((unsigned char)v->ptr[i] < 0x20) bad = (long)i;
  if (bad >= 0)
    snprintf(buf, n, "expected %s (byte %ld is not allowed)", expected, bad + 1);
  else
    snprintf(buf, n, "expected %s, got \"%.*s%s\"", expected, v->len > 40 ? 37 : (int)v->len,
             v->ptr, v->len > 40 ? "..." : "");
}

/* "title, count, ..." for a kind: what an empty message could have set. */
static void content_names(mpns_kind k, char *buf, size_t n) {
  size_t used = 0;
  int f;
  buf[0] = '\0';
  for (f = 0; f < MPNS_FIELD_COUNT && used < n; f++) {
    const mpns_field_info *fi = INFO(f);
    if (!fi->xml || !has_field(k, (mpns_field)f)) continue;
    if (!fi->name && f != MPNS_F_CYCLE_IMAGE1) continue;
    used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? ", " : "",
                             fi->name ? fi->name : "cycle_images");
  }
}

/* ---- validation -------------------------------------------------------- */

static int has_content(const mpns_spec *s, fieldset set) {
  mpns_field f;
  if (s->kind == MPNS_RAW) return (set & BIT(MPNS_F_DATA)) != 0;
  if (s->kind == MPNS_CALLBACK) return (set & BIT(MPNS_F_CALLBACK_URI)) != 0;
  FOR_EACH(f, set)
    if (INFO(f)->xml) return 1;
  return 0;
}

static int clearable(mpns_field f) {
  return INFO(f)->xml && !(INFO(f)->kinds & (1u << MPNS_TOAST));
}

static int is_true(const mpns_spec *s, mpns_field f) {
  return s->field[f].state == MPNS_SET && s->field[f].ptr[0] == 't';
}

static int no_content(const mpns_spec *s, mpns_error *err) {
  char names[400];
  content_names(s->kind, names, sizeof names);
  snprintf(err->text, sizeof err->text, "mpns.%s: no field set (expected at least one of %s)",
           mpns_kind_name(s->kind), s->kind == MPNS_RAW ? "data" : names);
  return 0;
}

static int over_cap(const mpns_spec *s, mpns_field f, mpns_error *err) {
  char what[120];
  snprintf(what, sizeof what, "is %zu bytes; a callback registration allows at most %d",
           s->field[f].len, CALLBACK_MAX);
  return fail(err, s, f, what);
}

/* The uri is required, at most 1 KB and passes the rule channel URIs do
 * (mpns_url_check); data is at most 1 KB. */
static int callback_valid(const mpns_spec *s, fieldset set, mpns_error *err) {
  const mpns_value *uri = &s->field[MPNS_F_CALLBACK_URI];
  char what[300];
  if (!(set & BIT(MPNS_F_CALLBACK_URI)))
    return fail(err, s, MPNS_F_CALLBACK_URI, "is required (the service URL MPNS calls back)");
  if (uri->len > CALLBACK_MAX) return over_cap(s, MPNS_F_CALLBACK_URI, err);
  switch (mpns_url_check(uri->ptr, uri->len)) {  /* the channel URI's rule */
  case MPNS_URL_OK: break;
  case MPNS_URL_CREDENTIALS:
    return fail(err, s, MPNS_F_CALLBACK_URI,
                "must not carry credentials (user:password@): MPNS would hold them");
  default:
    describe_bad(what, sizeof what,
                 "an absolute http:// or https:// URL with a host and no spaces", uri);
    return fail(err, s, MPNS_F_CALLBACK_URI, what);
  }
  if ((set & BIT(MPNS_F_DATA)) && s->field[MPNS_F_DATA].len > CALLBACK_MAX)
    return over_cap(s, MPNS_F_DATA, err);
  return 1;
}

static int spec_valid(const mpns_spec *s, fieldset set, mpns_error *err) {
  mpns_field f;
  FOR_EACH(f, set) {
    const mpns_value *v = &s->field[f];
    const char *expected;
    char what[300];
    if (!has_field(s->kind, f))
      return fail(err, s, f, "does not belong to this kind of message");
    if (v->state == MPNS_CLEAR) {
      if (!clearable(f))
        return fail(err, s, f, "cannot be mpns.CLEAR (only tile properties can be cleared)");
    } else if ((expected = mpns_field_check(f, v))) {
      describe_bad(what, sizeof what, expected, v);
      return fail(err, s, f, what);
    }
  }
  if ((set & BIT(MPNS_F_SOUND)) && is_true(s, MPNS_F_SILENT))
    return fail(err, s, MPNS_F_SILENT, "cannot be true together with 'sound'");
  if (s->kind == MPNS_CALLBACK && !callback_valid(s, set, err)) return 0;
  return has_content(s, set) ? 1 : no_content(s, err);
}

/* ---- downgrade --------------------------------------------------------- */

/* What `given` becomes on an older `os`: WP8 tiles turn into plain tiles,
 * fields the OS does not know are dropped, a few move to what a 7.x tile
 * can show. Returns the fields `out` sets. */
static fieldset downgrade(const mpns_spec *given, fieldset set, mpns_os os, mpns_spec *out) {
  mpns_field f;
  fieldset kept = set;
  *out = *given;
  if (template_name[given->kind]) out->kind = MPNS_TILE;
  FOR_EACH(f, set) {
    const mpns_field_info *fi = INFO(f);
    if (fi->os <= os && has_field(out->kind, f)) continue;
    out->field[f].state = MPNS_UNSET;
    kept &= ~BIT(f);
    if (fi->fallback >= 0 && !(kept & BIT(fi->fallback)) && INFO(fi->fallback)->os <= os) {
      out->field[fi->fallback] = given->field[f];
      kept |= BIT(fi->fallback);
    }
  }
  return kept;
}

/* ---- the body ---------------------------------------------------------- */

/* Where the body holds a value verbatim (no byte needed escaping), so the
 * message can keep that value without a second copy. */
typedef struct { const char *src; size_t len, at; } verbatim;

/* One writer for both passes: with no buffer it only counts, so the size
 * pass and the write pass cannot disagree. */
typedef struct {
  char *p;
  size_t n;
  int nv;
  verbatim v[MPNS_FIELD_COUNT];
} writer;

static void put(writer *w, const char *s, size_t len) {
  if (w->p) memcpy(w->p + w->n, s, len);
  w->n += len;
}

#define PUT_LIT(w, lit) put(w, lit, sizeof(lit) - 1)

static void note_verbatim(writer *w, const mpns_value *v, size_t at) {
  if (!w->p || w->n - at != v->len || w->nv == MPNS_FIELD_COUNT) return;
  w->v[w->nv].src = v->ptr;
  w->v[w->nv].len = v->len;
  w->v[w->nv++].at = at;
}

static void put_text(writer *w, const mpns_value *v) {
  size_t at = w->n;
  if (w->p) w->n = (size_t)(mpns_xml_escape(w->p + w->n, v->ptr, v->len) - w->p);
  else w->n += mpns_xml_escaped_len(v->ptr, v->len);
  note_verbatim(w, v, at);
}

static void put_element(writer *w, const char *xml, size_t len, const mpns_value *v) {
  PUT_LIT(w, "<wp:");
  put(w, xml, len);
  if (v->state == MPNS_CLEAR) PUT_LIT(w, " Action=\"Clear\">");
  else { PUT_LIT(w, ">"); put_text(w, v); }
  PUT_LIT(w, "</wp:");
  put(w, xml, len);
  PUT_LIT(w, ">");
}

static void put_tile_open(writer *w, const mpns_spec *s, fieldset set) {
  PUT_LIT(w, "<wp:Tile");
  if (set & BIT(MPNS_F_ID)) {
    PUT_LIT(w, " Id=\"");
    put_text(w, &s->field[MPNS_F_ID]);
    PUT_LIT(w, "\"");
  }
  if (template_name[s->kind]) {
    PUT_LIT(w, " Template=\"");
    put(w, template_name[s->kind], strlen(template_name[s->kind]));
    PUT_LIT(w, "\"");
  }
  PUT_LIT(w, ">");
}

/* The body without its frame (frames[kind]): what a message keeps. */
static void put_own(writer *w, const mpns_spec *s, fieldset set) {
  mpns_field f;
  if (!is_xml(s->kind)) {  /* a callback's data is optional */
    if (!(set & BIT(MPNS_F_DATA))) return;
    put(w, s->field[MPNS_F_DATA].ptr, s->field[MPNS_F_DATA].len);
    note_verbatim(w, &s->field[MPNS_F_DATA], 0);
    return;
  }
  if (s->kind != MPNS_TOAST) put_tile_open(w, s, set);
  FOR_EACH(f, set) {
    if (INFO(f)->xml) put_element(w, INFO(f)->xml, INFO(f)->xml_len, &s->field[f]);
    else if (f == MPNS_F_SILENT && is_true(s, f)) PUT_LIT(w, "<wp:Sound Silent=\"true\"/>");
  }
}

/* ---- headers ----------------------------------------------------------- */

/* Header rows by kind: toast, tiles, raw (X-NotificationClass and target),
 * callback (neither: a registration is not a notification). */
static int header_row(mpns_kind k) {
  return k == MPNS_TOAST ? 0 : k == MPNS_RAW ? 2 : k == MPNS_CALLBACK ? 3 : 1;
}

static int delay_col(const mpns_spec *s, fieldset set) {
  const char *d = (set & BIT(MPNS_F_DELAY)) ? s->field[MPNS_F_DELAY].ptr : "i";
  return d[0] == 'i' ? 0 : d[0] == '4' ? 1 : 2;
}

/* The lines every message without content_type or message_id sends, by
 * row and delay (immediate, 450 s, 900 s): X-NotificationClass and target. */
#define CT_LINE "Content-Type: text/xml"
#define TARGET(t) "X-WindowsPhone-Target: " t
#define CLASS(c) "X-NotificationClass: " c
#define H(name, line) { name, &(line)[sizeof(name) + 1] }
#define WITH_TARGET(t, c) { 3, sizeof CT_LINE + sizeof TARGET(t) + sizeof CLASS(c), \
  { H("Content-Type", CT_LINE), H("X-WindowsPhone-Target", TARGET(t)), \
    H("X-NotificationClass", CLASS(c)) }, { CT_LINE, TARGET(t), CLASS(c), NULL } }
#define NO_TARGET(c) { 2, sizeof CT_LINE + sizeof CLASS(c), \
  { H("Content-Type", CT_LINE), H("X-NotificationClass", CLASS(c)) }, \
  { CT_LINE, CLASS(c), NULL } }
#define OCTET_LINE "Content-Type: application/octet-stream"
#define OCTETS { 1, sizeof OCTET_LINE, { H("Content-Type", OCTET_LINE) }, { OCTET_LINE, NULL } }
static const header_set plain_headers[4][3] = {
  { WITH_TARGET("toast", "2"), WITH_TARGET("toast", "12"), WITH_TARGET("toast", "22") },
  { WITH_TARGET("token", "1"), WITH_TARGET("token", "11"), WITH_TARGET("token", "21") },
  { NO_TARGET("3"), NO_TARGET("13"), NO_TARGET("23") },
  { OCTETS, OCTETS, OCTETS }  /* a callback has no delay: only the first is used */
};

/* The fields that add or replace a header line. */
#define HEADER_FIELDS \
  (BIT(MPNS_F_CONTENT_TYPE) | BIT(MPNS_F_MESSAGE_ID) | BIT(MPNS_F_CALLBACK_URI))

static int custom_headers(fieldset set) { return (set & HEADER_FIELDS) != 0; }

typedef struct { const char *name, *value; size_t len; } header_src;

static header_src header_of(const char *name, const char *value, size_t len) {
  header_src h;
  h.name = name;
  h.value = value;
  h.len = len;
  return h;
}

/* The plain headers with the given Content-Type, X-CallbackURI and X-MessageID. */
static int collect_headers(const mpns_spec *s, fieldset set, const header_set *plain,
                           header_src *h) {
  const mpns_value *ct = &s->field[MPNS_F_CONTENT_TYPE], *id = &s->field[MPNS_F_MESSAGE_ID];
  const mpns_value *cb = &s->field[MPNS_F_CALLBACK_URI];
  int n;
  for (n = 0; n < plain->n; n++)
    h[n] = header_of(plain->header[n].name, plain->header[n].value,
                     strlen(plain->header[n].value));
  if (set & BIT(MPNS_F_CONTENT_TYPE)) h[0] = header_of("Content-Type", ct->ptr, ct->len);
  if (set & BIT(MPNS_F_CALLBACK_URI)) h[n++] = header_of("X-CallbackURI", cb->ptr, cb->len);
  if (set & BIT(MPNS_F_MESSAGE_ID)) h[n++] = header_of("X-MessageID", id->ptr, id->len);
  return n;
}

/* Writes "Name: value\0" lines at `p`; each header's value points into its line. */
static char *copy_headers(header_set *hs, const header_src *h, int n, char *p) {
  int i;
  for (i = 0; i < n; i++) {
    size_t name_len = strlen(h[i].name);
    hs->line[i] = p;
    hs->header[i].name = h[i].name;
    memcpy(p, h[i].name, name_len);
    memcpy(p + name_len, ": ", 2);
    hs->header[i].value = p + name_len + 2;
    memcpy(p + name_len + 2, h[i].value, h[i].len);
    p += name_len + 2 + h[i].len;
    *p++ = '\0';
  }
  hs->line[n] = NULL;
  hs->n = n;
  hs->bytes = (size_t)(p - hs->line[0]);
  return p;
}

/* ---- the given values -------------------------------------------------- */

static const verbatim *find_verbatim(const writer *w, const mpns_value *v) {
  int i;
  for (i = 0; i < w->nv; i++)
    if (w->v[i].src == v->ptr && w->v[i].len == v->len) return &w->v[i];
  return NULL;
}

/* Where the body holds each given value verbatim (NULL: it does not), in
 * the order of `set`; returns the bytes of the values it does not hold.
 * Found once: the size and the copy both need it. */
static size_t find_in_body(const writer *w, const mpns_spec *s, fieldset set,
                           const verbatim **at) {
  size_t n = 0;
  mpns_field f;
  int i = 0;
  FOR_EACH(f, set) {
    const mpns_value *v = &s->field[f];
    at[i] = v->state == MPNS_SET ? find_verbatim(w, v) : NULL;
    if (v->state == MPNS_SET && !at[i]) n += v->len;
    i++;
  }
  return n;
}

/* Keeps the given values as offsets: into the body where it holds them
 * verbatim, else into copies written at `p`. Returns the end of the copies. */
static char *keep_values(mpns_msg *m, const verbatim *const *at, const mpns_spec *src,
                         fieldset set, char *p) {
  mpns_field f;
  int i = 0;
  m->given_kind = (unsigned char)src->kind;
  m->given_set = set;
  FOR_EACH(f, set) {
    const mpns_value *v = &src->field[f];
    const verbatim *in_body = at[i];
    given_value *g = &m->given[i++];
    g->off = 0;
    g->len = 0;
    if (v->state != MPNS_SET) continue;
    g->len = (uint32_t)v->len;
    if (in_body) {
      g->off = m->body_off + (uint32_t)in_body->at;
    } else {
      g->off = (uint32_t)(p - (char *)m);
      memcpy(p, v->ptr, v->len);
      p += v->len;
    }
  }
  return p;
}

void mpns_msg_given(const mpns_msg *m, mpns_spec *out) {
  mpns_field f;
  int i = 0;
  memset(out, 0, sizeof *out);
  out->kind = (mpns_kind)m->given_kind;
  FOR_EACH(f, m->given_set) {
    const given_value *g = &m->given[i++];
    out->field[f].state = g->off ? MPNS_SET : MPNS_CLEAR;
    out->field[f].ptr = g->off ? (const char *)m + g->off : NULL;
    out->field[f].len = g->len;
  }
}

/* ---- assembly ---------------------------------------------------------- */

static mpns_msg *too_big(mpns_error *err, const mpns_spec *s, const char *what,
                         size_t n, size_t limit, const char *key) {
  snprintf(err->text, sizeof err->text,
           "mpns.%s: %s is %zu bytes, over the %zu-byte limit (mpns.set_limits{ %s = N })",
           mpns_kind_name(s->kind), what, n, limit, key);
  return NULL;
}

static mpns_msg *no_memory(mpns_error *err, const mpns_spec *s) {
  snprintf(err->text, sizeof err->text, "mpns.%s: out of memory", mpns_kind_name(s->kind));
  return NULL;
}

/* At least the body's size: every character escaped to 6 bytes, every
 * element with its longest name and an Action attribute. */
static size_t body_bound(const mpns_spec *s, fieldset set) {
  size_t n = sizeof XML_HEAD + 128;
  mpns_field f;
  FOR_EACH(f, set) n += 6 * s->field[f].len + 80;
  return n;
}

/* Writes the body into `small`, or into a buffer of its exact size that
 * the caller frees when it is not `small`; NULL when out of memory. */
static char *write_body(writer *w, const mpns_spec *s, fieldset set, char *small, size_t cap) {
  w->nv = 0;
  w->n = 0;
  w->p = NULL;
  if (body_bound(s, set) > cap) {
    put_own(w, s, set);
    if (!(small = malloc(w->n + 1))) return NULL;
    w->n = 0;
  }
  w->p = small;
  put_own(w, s, set);
  return small;
}

/* Sizes the block exactly once the body is written, then fills it. */
static mpns_msg *assemble(const mpns_spec *given, fieldset given_set, const mpns_spec *eff,
                          fieldset set, mpns_os os, const mpns_limits *lim, mpns_error *err) {
  char small[2048];  /* most bodies are written here, then copied once */
  const frame *fr = &frames[eff->kind];
  writer w;
  const verbatim *at[MPNS_FIELD_COUNT];
  header_src h[MPNS_MAX_HEADERS];
  const header_set *plain = &plain_headers[header_row(eff->kind)][delay_col(eff, set)];
  int nh = 0, i, custom = custom_headers(set);
  size_t hbytes = plain->bytes, nvalues = (size_t)__builtin_popcountll(given_set), fixed, total;
  size_t body_len;
  mpns_msg *m = NULL;
  char *body = write_body(&w, eff, set, small, sizeof small), *p;
  if (!body) return no_memory(err, given);
  if (custom) {
    nh = collect_headers(eff, set, plain, h);
    for (hbytes = 0, i = 0; i < nh; i++) hbytes += strlen(h[i].name) + 2 + h[i].len + 1;
  }
  fixed = sizeof *m + sizeof(given_value) * nvalues + (custom ? sizeof(header_set) : 0);
  total = fixed + w.n + find_in_body(&w, given, given_set, at) + (custom ? hbytes : 0);
  body_len = fr->head_len + w.n + fr->tail_len;
  if (body_len > lim->payload) too_big(err, given, "the payload", body_len, lim->payload, "payload");
  else if (hbytes > lim->headers && eff->kind != MPNS_CALLBACK)  /* MPNS's cap on a
           notification's headers; a registration's uri has its own (callback_valid) */
    too_big(err, given, "the headers", hbytes, lim->headers, "headers");
  else if (total > UINT32_MAX) too_big(err, given, "the message", total, UINT32_MAX, "payload");
  else if (!(m = malloc(total))) no_memory(err, given);
  if (m) {
    m->refs = 1;
    m->kind = (unsigned char)eff->kind;
    m->os = (unsigned char)os;
    m->body_off = (uint32_t)fixed;
    m->body_len = (uint32_t)w.n;
    p = (char *)m + fixed;
    memcpy(p, body, w.n);
    p = keep_values(m, at, given, given_set, p + w.n);
    if (custom) {  /* after the given values: 8 bytes each, so aligned */
      header_set *hs = (header_set *)(void *)(m->given + nvalues);
      copy_headers(hs, h, nh, p);
      m->hs = hs;
    } else {
      m->hs = plain;
    }
  }
  if (body != small) free(body);
  return m;
}

static mpns_msg *build(const mpns_spec *given, fieldset set, mpns_os os,
                       const mpns_limits *lim, mpns_error *err) {
  mpns_spec older;
  fieldset kept;
  if (!lim) lim = &mpns_default_limits;
  if (os >= MPNS_OS_80) return assemble(given, set, given, set, os, lim, err);
  kept = downgrade(given, set, os, &older);
  if (!has_content(&older, kept)) {
    snprintf(err->text, sizeof err->text,
             "mpns.%s: nothing a %s device can show is left once the fields it lacks are dropped",
             mpns_kind_name(given->kind), mpns_os_name(os));
    return NULL;
  }
  return assemble(given, set, &older, kept, os, lim, err);
}

mpns_msg *mpns_msg_new(const mpns_spec *spec, mpns_os os, const mpns_limits *limits,
                       mpns_error *err) {
  fieldset set;
  if ((unsigned)spec->kind >= MPNS_KIND_COUNT) {
    snprintf(err->text, sizeof err->text, "mpns: unknown message kind %d", (int)spec->kind);
    return NULL;
  }
  set = fields_of(spec);
  return spec_valid(spec, set, err) ? build(spec, set, os, limits, err) : NULL;
}

mpns_msg *mpns_msg_for_os(const mpns_msg *m, mpns_os os, const mpns_limits *limits,
                          mpns_error *err) {
  mpns_spec given;
  mpns_msg_given(m, &given);
  return build(&given, m->given_set, os, limits, err);
}

/* Not atomic: a message belongs to one Lua state and its thread. */
mpns_msg *mpns_msg_ref(mpns_msg *m) {
  m->refs++;
  return m;
}

void mpns_msg_unref(mpns_msg *m) {
  if (m && --m->refs == 0) free(m);
}

mpns_kind mpns_msg_kind(const mpns_msg *m) { return (mpns_kind)m->kind; }
mpns_os mpns_msg_os(const mpns_msg *m) { return (mpns_os)m->os; }
const char *const *mpns_msg_header_lines(const mpns_msg *m) { return m->hs->line; }

size_t mpns_msg_body_parts(const mpns_msg *m, mpns_chunk part[3]) {
  const frame *fr = &frames[m->kind];
  part[0].ptr = fr->head;
  part[0].len = fr->head_len;
  part[1].ptr = (const char *)m + m->body_off;
  part[1].len = m->body_len;
  part[2].ptr = fr->tail;
  part[2].len = fr->tail_len;
  return fr->head_len + m->body_len + fr->tail_len;
}

size_t mpns_msg_body_len(const mpns_msg *m) {
  const frame *fr = &frames[m->kind];
  return fr->head_len + m->body_len + fr->tail_len;
}

size_t mpns_msg_body_copy(const mpns_msg *m, char *out) {
  mpns_chunk part[3];
  size_t len = mpns_msg_body_parts(m, part);
  int i;
  for (i = 0; i < 3; out += part[i].len, i++) memcpy(out, part[i].ptr, part[i].len);
  *out = '\0';
  return len;
}

int mpns_msg_headers(const mpns_msg *m, const mpns_header **out) {
  *out = m->hs->header;
  return m->hs->n;
}
