/*
 * mpns.h: the plain C core of lua-mpns. No lua_State in sight, so the same
 * code serves both Lua ABIs, a C caller, a fuzzer and any transport.
 *
 *   messages  build, validate, escape and downgrade MPNS payloads (message.c)
 *   responses map an MPNS answer to an outcome and advice   (response.c)
 *   client    deliver messages over libcurl's multi interface (client.c)
 */
#ifndef MPNS_H
#define MPNS_H

#include <stddef.h>

/* ---- message kinds, OS versions, fields ------------------------------- */

typedef enum {
  MPNS_TOAST, MPNS_TILE, MPNS_FLIP_TILE, MPNS_ICONIC_TILE, MPNS_CYCLE_TILE,
  MPNS_RAW, MPNS_CALLBACK, MPNS_KIND_COUNT
} mpns_kind;

typedef enum { MPNS_OS_70, MPNS_OS_71, MPNS_OS_80, MPNS_OS_COUNT } mpns_os;

/* One id per message field; the table itself is in fields.h. */
typedef enum {
#define MPNS_FIELD(id, name, xml, kinds, os, check, fallback) MPNS_F_##id,
#include "fields.h"
#undef MPNS_FIELD
  MPNS_FIELD_COUNT
} mpns_field;

typedef enum { MPNS_UNSET = 0, MPNS_SET, MPNS_CLEAR } mpns_state;

typedef struct {
  mpns_state state;
  const char *ptr;      /* text (count and silent too: "7", "true") */
  size_t len;
} mpns_value;

/* What a constructor was given: every value is text ("7" for a count,
 * "true" for silent, "450" for delay). Values are borrowed, not copied. */
typedef struct {
  mpns_kind kind;
  mpns_value field[MPNS_FIELD_COUNT];
} mpns_spec;

/* Everything a caller may want to know about one field. */
typedef struct {
  const char *name;     /* the Lua key, e.g. "back_title" */
  const char *xml;      /* element without "wp:", or NULL: not an element */
  size_t xml_len;
  unsigned kinds;       /* bit (1u << kind) for each kind that has it */
  mpns_os os;           /* first OS that shows it */
  int check;            /* MPNS_CHECK_* */
  int fallback;         /* field a 7.x plain tile moves it to, or -1 */
} mpns_field_info;

enum {
  MPNS_CHECK_TEXT,      /* UTF-8 that XML can carry (and so the next two) */
  MPNS_CHECK_LOCAL,     /* TEXT naming an image in the app, not a URL */
  MPNS_CHECK_NAV,       /* TEXT: a navigation URI starting with '/' */
  MPNS_CHECK_COUNT,     /* an integer 0..99 */
  MPNS_CHECK_BOOL,      /* "true" or "false" */
  MPNS_CHECK_COLOR,     /* #AARRGGBB */
  MPNS_CHECK_BYTES,     /* anything, non-empty */
  MPNS_CHECK_HEADER,    /* a header value: printable, no CR or LF */
  MPNS_CHECK_DELAY,     /* "immediate", "450" or "900" */
  MPNS_CHECK_UUID       /* 8-4-4-4-12 hex digits */
};

extern const mpns_field_info mpns_field_table[MPNS_FIELD_COUNT];
/* "back_title", or "cycle_images[3]" for the images a list holds. */
void mpns_field_label(mpns_field f, char *buf, size_t n);
int mpns_field_lookup(const char *name, size_t len);     /* -1 if unknown */
/* Checks one value of field `f`; returns NULL or what was expected. */
const char *mpns_field_check(mpns_field f, const mpns_value *v);
/* What field `f` expects, as an error message says it. */
const char *mpns_field_expects(mpns_field f);
const char *mpns_kind_name(mpns_kind k);                 /* "flip_tile" */
const char *mpns_os_name(mpns_os os);                    /* "7.1" */
int mpns_os_parse(const char *s, size_t len, mpns_os *os); /* 0 on success */

/* ---- limits ----------------------------------------------------------- */

typedef struct {
  size_t payload;       /* body bytes, default 3072 */
  size_t headers;       /* custom header bytes, default 1024 */
} mpns_limits;

extern mpns_limits mpns_default_limits;

/* ---- built messages ---------------------------------------------------- */

/* A built message is immutable and reference-counted, so one message can be
 * queued for a million channels without copies and outlive its Lua object. */
typedef struct mpns_msg mpns_msg;

typedef struct { const char *name, *value; } mpns_header;
#define MPNS_MAX_HEADERS 4

typedef struct { char text[512]; } mpns_error;

/* Validates `spec` and builds it for `os`. Returns NULL and fills `err`
 * (naming the field and what was expected) on bad input; nothing leaks. */
mpns_msg *mpns_msg_new(const mpns_spec *spec, mpns_os os,
                       const mpns_limits *limits, mpns_error *err);
/* The same message downgraded for an older (or newer) device; NULL with
 * `err` when nothing the target OS can show survives the downgrade. */
mpns_msg *mpns_msg_for_os(const mpns_msg *m, mpns_os os,
                          const mpns_limits *limits, mpns_error *err);
mpns_msg *mpns_msg_ref(mpns_msg *m);
void mpns_msg_unref(mpns_msg *m);

mpns_kind mpns_msg_kind(const mpns_msg *m);
mpns_os mpns_msg_os(const mpns_msg *m);
/* The body in three pieces: a head and a tail in static storage that
 * every message of its kind shares (the XML declaration and the
 * <wp:Notification> frame; empty for raw and callback), and the message's
 * own bytes between them, so a queued message does not hold the frame.
 * Returns the body's length, the sum of the three. */
typedef struct { const char *ptr; size_t len; } mpns_chunk;
size_t mpns_msg_body_parts(const mpns_msg *m, mpns_chunk part[3]);
size_t mpns_msg_body_len(const mpns_msg *m);
/* Writes the body and a NUL to `out` (mpns_msg_body_len + 1 bytes);
 * returns the body's length. */
size_t mpns_msg_body_copy(const mpns_msg *m, char *out);
/* Header count; `*out` points at the message's own array. */
int mpns_msg_headers(const mpns_msg *m, const mpns_header **out);
/* "Name: value" lines ready for curl_slist, NULL-terminated. */
const char *const *mpns_msg_header_lines(const mpns_msg *m);
/* What the message was constructed from; values point into the message
 * and are not NUL-terminated (often they are the body's own bytes). */
void mpns_msg_given(const mpns_msg *m, mpns_spec *out);

/* ---- escaping and checks (exposed for tests and other transports) ------ */

size_t mpns_xml_escaped_len(const char *s, size_t len);
char *mpns_xml_escape(char *out, const char *s, size_t len);  /* returns end */
long mpns_utf8_check(const char *s, size_t len); /* -1 ok, else bad offset */
int mpns_uuid_check(const char *s, size_t len);  /* 1 if a UUID */
/* The one rule for a URL MPNS is sent to (a channel URI) or calls back
 * (a callback registration's uri): http:// or https:// (any case), a host,
 * no control character or space, no credentials (user:password@), which
 * would travel in clear or to a third party. Lengths are each caller's cap;
 * the client also asks curl's parser, as curl connects there. */
enum {
  MPNS_URL_OK, MPNS_URL_CONTROL, MPNS_URL_SCHEME, MPNS_URL_NO_HOST, MPNS_URL_CREDENTIALS
};
int mpns_url_check(const char *s, size_t len);

/* The X-MessageID of a queued job's send to one channel (message_id.c):
 * a UUID derived from both, the same every time. */
#define MPNS_MESSAGE_ID_LEN 36
void mpns_message_id(const char *job, size_t job_len, const char *uri,
                     size_t uri_len, char out[MPNS_MESSAGE_ID_LEN + 1]);

/* ---- responses --------------------------------------------------------- */

typedef enum {
#define MPNS_OUTCOME(id, name) MPNS_##id,
#include "outcomes.h"
#undef MPNS_OUTCOME
  MPNS_OUTCOME_COUNT
} mpns_outcome;

typedef struct {
  mpns_outcome outcome;
  int ok;               /* received */
  int delete_channel;   /* expired */
  int retry_after;      /* seconds, or -1 when the sender must not retry */
} mpns_advice;

/* The HTTP status, X-NotificationStatus and X-SubscriptionStatus (NULL
 * when absent; values matched case-insensitively) decide every row of the
 * response table. A status the table lacks (any int, 100..599 or not) is
 * MPNS_UNEXPECTED; one without the MPNS header it needs is MPNS_NOT_MPNS
 * (a 200 without X-NotificationStatus, a 404 without "Expired", a 406 or
 * 412 without X-NotificationStatus). */
mpns_advice mpns_answer_advise(int status, const char *notification,
                               const char *subscription);
const char *mpns_outcome_name(mpns_outcome o);

/* ---- client: delivery over libcurl (client.c) -------------------------- */

#include "client.h"

#endif
