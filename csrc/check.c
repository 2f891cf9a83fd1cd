/*
 * check.c: what a field's value must look like. Each check answers with
 * NULL (fine) or a phrase saying what was expected, for the error message.
 */
#include <string.h>
#include "mpns.h"
#include "scan.h"

/* Skips printable ASCII from `i`: the common case. */
static size_t ascii_run(const unsigned char *p, size_t i, size_t len) {
  i = (size_t)(mpns_scan(p, p + i, p + len, MPNS_SCAN_ASCII) - p);
  while (i < len && p[i] >= 0x20 && p[i] < 0x80) i++;
  return i;
}

/* Offset of the first byte that is not UTF-8 XML may carry, or -1. XML 1.0
 * forbids most C0 controls, surrogates, U+FFFE and U+FFFF. */
long mpns_utf8_check(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0, n, k;
  while (i < len) {
    unsigned long c, cp;
    i = ascii_run(p, i, len);  /* the common case */
    if (i == len) break;
    c = p[i];
    if (c < 0x80) {
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return (long)i;
      i++;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07; }
    else return (long)i;
    if (n >= len - i) return (long)i;
    for (k = 1; k <= n; k++) {
      if ((p[i + k] & 0xC0) != 0x80) return (long)i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF)
      return (long)i;
    i += n + 1;
  }
  return -1;
}

static int is_hex(int c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int mpns_uuid_check(const char *s, size_t len) {
  size_t i;
  if (len != 36) return 0;
  for (i = 0; i < len; i++) {
    int dash = (i == 8 || i == 13 || i == 18 || i == 23);
    if (dash ? s[i] != '-' : !is_hex((unsigned char)s[i])) return 0;
  }
  return 1;
}

static int is_color(const char *s, size_t len) {
  size_t i;
  if (len != 9 || s[0] != '#') return 0;
  for (i = 1; i < len; i++)
    if (!is_hex((unsigned char)s[i])) return 0;
  return 1;
}

static int is_count(const char *s, size_t len) {
  if (len == 1) return s[0] >= '0' && s[0] <= '9';
  return len == 2 && s[0] >= '1' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9';
}

static int is_header_value(const char *s, size_t len) {
  size_t i;
  for (i = 0; i < len; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 0;
  return len > 0;
}

/* "://" within the value's `len` bytes: a value need not end in NUL, and
 * what follows it must not decide its verdict (strstr would read on). */
static int has_scheme(const char *s, size_t len) {
  size_t i;
  for (i = 0; i + 3 <= len; i++)
    if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/') return 1;
  return 0;
}

/* Length of "http://" or "https://" (any case) at the start, or 0. */
static size_t http_scheme(const char *s, size_t len) {
  static const char *const ok[] = { "http://", "https://" };
  size_t i, k, n;
  for (i = 0; i < 2; i++) {
    n = strlen(ok[i]);
    for (k = 0; k < n && k < len; k++)
      if ((s[k] >= 'A' && s[k] <= 'Z' ? s[k] | 0x20 : s[k]) != ok[i][k]) break;
    if (k == n && len > n) return n;
  }
  return 0;
}

int mpns_url_check(const char *s, size_t len) {
  size_t i, start, auth;
  for (i = 0; i < len; i++)
    if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f) return MPNS_URL_CONTROL;
  if (!(start = http_scheme(s, len))) return MPNS_URL_SCHEME;
  for (auth = 0; start + auth < len; auth++) {  /* strcspn, within len */
    char ch = s[start + auth];
    if (ch == '/' || ch == '?' || ch == '#') break;
  }
  if (auth == 0) return MPNS_URL_NO_HOST;
  return memchr(s + start, '@', auth) ? MPNS_URL_CREDENTIALS : MPNS_URL_OK;
}

static int is_one_of(const char *s, size_t len, const char *const *words) {
  for (; *words; words++)
    if (strlen(*words) == len && memcmp(*words, s, len) == 0) return 1;
  return 0;
}

static const char *const bools[] = { "true", "false", NULL };
static const char *const delays[] = { "immediate", "450", "900", NULL };

/* What each kind of check expects, as error messages say it. */
static const char *const expects[] = {
  [MPNS_CHECK_TEXT] = "valid UTF-8 text without control characters",
  [MPNS_CHECK_LOCAL] = "a local image path such as /Images/1.png (cycle images must be in the app)",
  [MPNS_CHECK_NAV] = "a navigation URI starting with '/', such as /Tile.xaml?id=1",
  [MPNS_CHECK_COUNT] = "an integer from 0 to 99",
  [MPNS_CHECK_BOOL] = "a boolean",
  [MPNS_CHECK_COLOR] = "a colour written #AARRGGBB, such as #FF0000FF",
  [MPNS_CHECK_BYTES] = "a non-empty string",
  [MPNS_CHECK_HEADER] = "a header value without CR, LF or other control characters",
  [MPNS_CHECK_DELAY] = "\"immediate\", 450 or 900",
  [MPNS_CHECK_UUID] = "a UUID such as 6ba7b810-9dad-11d1-80b4-00c04fd430c8",
};

const char *mpns_field_expects(mpns_field f) { return expects[mpns_field_table[f].check]; }

static int passes(int check, const char *s, size_t len) {
  int text_ok = check > MPNS_CHECK_NAV || mpns_utf8_check(s, len) < 0;
  switch (check) {
  case MPNS_CHECK_TEXT: return text_ok;
  case MPNS_CHECK_LOCAL: return text_ok && len > 0 && !has_scheme(s, len);
  case MPNS_CHECK_NAV: return text_ok && len > 0 && s[0] == '/';
  case MPNS_CHECK_COUNT: return is_count(s, len);
  case MPNS_CHECK_BOOL: return is_one_of(s, len, bools);
  case MPNS_CHECK_COLOR: return is_color(s, len);
  case MPNS_CHECK_BYTES: return len > 0;
  case MPNS_CHECK_HEADER: return is_header_value(s, len);
  case MPNS_CHECK_DELAY: return is_one_of(s, len, delays);
  case MPNS_CHECK_UUID: return mpns_uuid_check(s, len);
  }
  return 0;
}

const char *mpns_field_check(mpns_field f, const mpns_value *v) {
  return passes(mpns_field_table[f].check, v->ptr, v->len) ? NULL : mpns_field_expects(f);
}
