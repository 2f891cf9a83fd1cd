/*
 * message.c: validate a message once, downgrade it for a device's OS, and
 * build its body and headers into one immutable, reference-counted block.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mpns.h"

mpns_limits mpns_default_limits = { 3072, 1024 };

struct mpns_msg {
  int refs;
  mpns_kind kind;         /* as built: a flip tile sent to 7.x is a tile */
  mpns_os os;
  mpns_spec given;        /* as constructed (values copied below), so that
                             for_os can rebuild for any OS */
  int nheaders;
  mpns_header header[MPNS_MAX_HEADERS];
  const char *line[MPNS_MAX_HEADERS + 1];
  size_t body_len;
  const char *body;
  char data[];            /* copied values, header lines, body */
};

#define XML_HEAD "<?xml version=\"1.0\" encoding=\"utf-8\"?>" \
                 "<wp:Notification xmlns:wp=\"WPNotification\""

static const char *const template_name[MPNS_KIND_COUNT] = {
  [MPNS_FLIP_TILE] = "FlipTile", [MPNS_ICONIC_TILE] = "IconicTile",
  [MPNS_CYCLE_TILE] = "CycleTile"
};
static const int class_base[MPNS_KIND_COUNT] = { 2, 1, 1, 1, 1, 3 };

static int is_set(const mpns_spec *s, mpns_field f) {
  return s->field[f].state != MPNS_UNSET;
}

static int has_field(mpns_kind k, mpns_field f) {
  return (mpns_field_get(f)->kinds >> k) & 1u;
}

/* ---- errors ------------------------------------------------------------ */

static void field_label(mpns_field f, char *buf, size_t n) {
  if (f >= MPNS_F_CYCLE_IMAGE1 && f <= MPNS_F_CYCLE_IMAGE9)
    snprintf(buf, n, "cycle_images[%d]", (int)(f - MPNS_F_CYCLE_IMAGE1) + 1);
  else
    snprintf(buf, n, "%s", mpns_field_get(f)->name);
}

static int fail(mpns_error *err, const mpns_spec *s, mpns_field f, const char *what) {
  char label[40];
  field_label(f, label, sizeof label);
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
    const mpns_field_info *fi = mpns_field_get((mpns_field)f);
    if (!fi->xml || !has_field(k, (mpns_field)f)) continue;
    if (!fi->name && f != MPNS_F_CYCLE_IMAGE1) continue;
    used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? ", " : "",
                             fi->name ? fi->name : "cycle_images");
  }
}

/* ---- validation -------------------------------------------------------- */

static int has_content(const mpns_spec *s) {
  int f;
  if (s->kind == MPNS_RAW) return is_set(s, MPNS_F_DATA);
  for (f = 0; f < MPNS_FIELD_COUNT; f++)
    if (mpns_field_get((mpns_field)f)->xml && is_set(s, (mpns_field)f)) return 1;
  return 0;
}

static int clearable(mpns_field f) {
  const mpns_field_info *fi = mpns_field_get(f);
  return fi->xml && !(fi->kinds & (1u << MPNS_TOAST));
}

static int spec_valid(const mpns_spec *s, mpns_error *err) {
  int f;
  for (f = 0; f < MPNS_FIELD_COUNT; f++) {
    const mpns_value *v = &s->field[f];
    const char *expected;
    if (v->state == MPNS_UNSET) continue;
    if (!has_field(s->kind, (mpns_field)f))
      return fail(err, s, (mpns_field)f, "does not belong to this kind of message");
    if (v->state == MPNS_CLEAR) {
      if (!clearable((mpns_field)f))
        return fail(err, s, (mpns_field)f,
                     "cannot be mpns.CLEAR (only tile properties can be cleared)");
      continue;
    }
    if ((expected = mpns_field_check((mpns_field)f, v))) {
      char what[300];
      describe_bad(what, sizeof what, expected, v);
      return fail(err, s, (mpns_field)f, what);
    }
  }
  if (is_set(s, MPNS_F_SOUND) && is_set(s, MPNS_F_SILENT) &&
      s->field[MPNS_F_SILENT].ptr[0] == 't')
    return fail(err, s, MPNS_F_SILENT, "cannot be true together with 'sound'");
  if (!has_content(s)) {
    char names[400];
    content_names(s->kind, names, sizeof names);
    snprintf(err->text, sizeof err->text, "mpns.%s: no field set (expected at least one of %s)",
             mpns_kind_name(s->kind), s->kind == MPNS_RAW ? "data" : names);
    return 0;
  }
  return 1;
}

/* ---- downgrade --------------------------------------------------------- */

/* What `given` becomes on `os`: WP8 tiles turn into plain tiles, fields the
 * OS does not know are dropped, a few move to what a 7.x tile can show. */
static void downgrade(const mpns_spec *given, mpns_os os, mpns_spec *out) {
  int f;
  *out = *given;
  if (os < MPNS_OS_80 && template_name[given->kind]) out->kind = MPNS_TILE;
  for (f = 0; f < MPNS_FIELD_COUNT; f++) {
    const mpns_field_info *fi = mpns_field_get((mpns_field)f);
    if (!is_set(given, (mpns_field)f)) continue;
    if (fi->os <= os && has_field(out->kind, (mpns_field)f)) continue;
    out->field[f].state = MPNS_UNSET;
    if (fi->fallback >= 0 && !is_set(out, (mpns_field)fi->fallback) &&
        mpns_field_get((mpns_field)fi->fallback)->os <= os)
      out->field[fi->fallback] = given->field[f];
  }
}

/* ---- the body ---------------------------------------------------------- */

/* One writer for both passes: with no buffer it only counts, so the size
 * pass and the write pass cannot disagree. */
typedef struct { char *p; size_t n; } writer;

static void put(writer *w, const char *s, size_t len) {
  if (w->p) memcpy(w->p + w->n, s, len);
  w->n += len;
}

#define PUT_LIT(w, lit) put(w, lit, sizeof(lit) - 1)

static void put_text(writer *w, const mpns_value *v) {
  if (w->p) w->n = (size_t)(mpns_xml_escape(w->p + w->n, v->ptr, v->len) - w->p);
  else w->n += mpns_xml_escaped_len(v->ptr, v->len);
}

static void put_element(writer *w, const char *xml, const mpns_value *v) {
  size_t len = strlen(xml);
  PUT_LIT(w, "<wp:");
  put(w, xml, len);
  if (v->state == MPNS_CLEAR) PUT_LIT(w, " Action=\"Clear\">");
  else { PUT_LIT(w, ">"); put_text(w, v); }
  PUT_LIT(w, "</wp:");
  put(w, xml, len);
  PUT_LIT(w, ">");
}

static void put_tile_open(writer *w, const mpns_spec *s) {
  PUT_LIT(w, "<wp:Tile");
  if (is_set(s, MPNS_F_ID)) {
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

static void put_body(writer *w, const mpns_spec *s) {
  int f, toast = s->kind == MPNS_TOAST;
  if (s->kind == MPNS_RAW) {
    put(w, s->field[MPNS_F_DATA].ptr, s->field[MPNS_F_DATA].len);
    return;
  }
  PUT_LIT(w, XML_HEAD);
  if (template_name[s->kind]) PUT_LIT(w, " Version=\"2.0\"");
  PUT_LIT(w, ">");
  if (toast) PUT_LIT(w, "<wp:Toast>");
  else put_tile_open(w, s);
  for (f = 0; f < MPNS_FIELD_COUNT; f++) {
    const char *xml = mpns_field_get((mpns_field)f)->xml;
    if (xml && is_set(s, (mpns_field)f)) put_element(w, xml, &s->field[f]);
    else if (f == MPNS_F_SILENT && is_set(s, (mpns_field)f) && s->field[f].ptr[0] == 't')
      PUT_LIT(w, "<wp:Sound Silent=\"true\"/>");
  }
  if (toast) PUT_LIT(w, "</wp:Toast></wp:Notification>");
  else PUT_LIT(w, "</wp:Tile></wp:Notification>");
}

/* ---- headers ----------------------------------------------------------- */

typedef struct { const char *name, *value; size_t len; } header_src;

static int collect_headers(const mpns_spec *s, header_src *h, char *class_buf) {
  static const char *const target[MPNS_KIND_COUNT] = {
    "toast", "token", "token", "token", "token", NULL
  };
  const mpns_value *ct = &s->field[MPNS_F_CONTENT_TYPE];
  const mpns_value *delay = &s->field[MPNS_F_DELAY];
  int n = 0, cls = class_base[s->kind];
  if (is_set(s, MPNS_F_DELAY) && delay->ptr[0] != 'i')
    cls += delay->ptr[0] == '4' ? 10 : 20;
  snprintf(class_buf, 4, "%d", cls);
  h[n++] = (header_src){ "Content-Type", is_set(s, MPNS_F_CONTENT_TYPE) ? ct->ptr : "text/xml",
                         is_set(s, MPNS_F_CONTENT_TYPE) ? ct->len : 8 };
  if (target[s->kind])
    h[n++] = (header_src){ "X-WindowsPhone-Target", target[s->kind], strlen(target[s->kind]) };
  h[n++] = (header_src){ "X-NotificationClass", class_buf, strlen(class_buf) };
  if (is_set(s, MPNS_F_MESSAGE_ID))
    h[n++] = (header_src){ "X-MessageID", s->field[MPNS_F_MESSAGE_ID].ptr,
                           s->field[MPNS_F_MESSAGE_ID].len };
  return n;
}

/* ---- assembly ---------------------------------------------------------- */

static size_t values_size(const mpns_spec *s) {
  size_t n = 0;
  int f;
  for (f = 0; f < MPNS_FIELD_COUNT; f++)
    if (s->field[f].state == MPNS_SET) n += s->field[f].len + 1;
  return n;
}

static char *copy_values(mpns_spec *dst, const mpns_spec *src, char *p) {
  int f;
  *dst = *src;
  for (f = 0; f < MPNS_FIELD_COUNT; f++) {
    mpns_value *v = &dst->field[f];
    if (v->state != MPNS_SET) continue;
    memcpy(p, v->ptr, v->len);
    p[v->len] = '\0';
    v->ptr = p;
    p += v->len + 1;
  }
  return p;
}

/* Writes "Name: value\0" lines; each header's value points into its line. */
static char *copy_headers(mpns_msg *m, const header_src *h, int n, char *p) {
  int i;
  for (i = 0; i < n; i++) {
    size_t name_len = strlen(h[i].name);
    m->line[i] = p;
    m->header[i].name = h[i].name;
    memcpy(p, h[i].name, name_len);
    memcpy(p + name_len, ": ", 2);
    m->header[i].value = p + name_len + 2;
    memcpy(p + name_len + 2, h[i].value, h[i].len);
    p += name_len + 2 + h[i].len;
    *p++ = '\0';
  }
  m->line[n] = NULL;
  m->nheaders = n;
  return p;
}

static mpns_msg *too_big(mpns_error *err, const mpns_spec *s, const char *what,
                         size_t n, size_t limit, const char *key) {
  snprintf(err->text, sizeof err->text,
           "mpns.%s: %s is %zu bytes, over the %zu-byte limit (mpns.set_limits{ %s = N })",
           mpns_kind_name(s->kind), what, n, limit, key);
  return NULL;
}

static mpns_msg *assemble(const mpns_spec *given, const mpns_spec *eff, mpns_os os,
                          const mpns_limits *lim, mpns_error *err) {
  writer w = { NULL, 0 };
  header_src h[MPNS_MAX_HEADERS];
  char cls[4];
  int nh = collect_headers(eff, h, cls), i;
  size_t hbytes = 0;
  mpns_msg *m;
  char *p;
  put_body(&w, eff);
  if (w.n > lim->payload) return too_big(err, given, "the payload", w.n, lim->payload, "payload");
  for (i = 0; i < nh; i++) hbytes += strlen(h[i].name) + 2 + h[i].len + 1;
  if (hbytes > lim->headers) return too_big(err, given, "the headers", hbytes, lim->headers, "headers");
  m = malloc(sizeof *m + values_size(given) + hbytes + w.n + 1);
  if (!m) {
    snprintf(err->text, sizeof err->text, "mpns.%s: out of memory", mpns_kind_name(given->kind));
    return NULL;
  }
  m->refs = 1;
  m->kind = eff->kind;
  m->os = os;
  p = copy_values(&m->given, given, m->data);
  p = copy_headers(m, h, nh, p);
  w.p = p;
  w.n = 0;
  put_body(&w, eff);
  p[w.n] = '\0';
  m->body = p;
  m->body_len = w.n;
  return m;
}

static mpns_msg *build(const mpns_spec *given, mpns_os os, const mpns_limits *lim,
                       mpns_error *err) {
  mpns_spec eff;
  downgrade(given, os, &eff);
  if (!has_content(&eff)) {
    snprintf(err->text, sizeof err->text,
             "mpns.%s: nothing a %s device can show is left once the fields it lacks are dropped",
             mpns_kind_name(given->kind), mpns_os_name(os));
    return NULL;
  }
  return assemble(given, &eff, os, lim ? lim : &mpns_default_limits, err);
}

mpns_msg *mpns_msg_new(const mpns_spec *spec, mpns_os os, const mpns_limits *limits,
                       mpns_error *err) {
  if ((unsigned)spec->kind >= MPNS_KIND_COUNT) {
    snprintf(err->text, sizeof err->text, "mpns: unknown message kind %d", (int)spec->kind);
    return NULL;
  }
  return spec_valid(spec, err) ? build(spec, os, limits, err) : NULL;
}

mpns_msg *mpns_msg_for_os(const mpns_msg *m, mpns_os os, const mpns_limits *limits,
                          mpns_error *err) {
  return build(&m->given, os, limits, err);
}

/* Not atomic: a message belongs to one Lua state and its thread. */
mpns_msg *mpns_msg_ref(mpns_msg *m) {
  m->refs++;
  return m;
}

void mpns_msg_unref(mpns_msg *m) {
  if (m && --m->refs == 0) free(m);
}

mpns_kind mpns_msg_kind(const mpns_msg *m) { return m->kind; }
mpns_os mpns_msg_os(const mpns_msg *m) { return m->os; }
const mpns_spec *mpns_msg_spec(const mpns_msg *m) { return &m->given; }
const char *const *mpns_msg_header_lines(const mpns_msg *m) { return m->line; }

const char *mpns_msg_body(const mpns_msg *m, size_t *len) {
  if (len) *len = m->body_len;
  return m->body;
}

int mpns_msg_headers(const mpns_msg *m, const mpns_header **out) {
  *out = m->header;
  return m->nheaders;
}
