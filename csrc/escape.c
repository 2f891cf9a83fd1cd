/*
 * escape.c: XML escaping through a table, as lua-cjson does it: one pass
 * sizes the output exactly, the next writes without bounds checks.
 * Tab, LF and CR are character references: a parser turns a raw CR in text
 * into LF and all three into spaces in an attribute (XML 1.0, 2.11 and
 * 3.3.3), so only references reach the phone as they were given.
 */
#include <string.h>
#include "mpns.h"
#include "scan.h"

/* Extra bytes each character costs once escaped; 0 means copied as is. */
static const unsigned char extra[256] = {
  ['&'] = 4, ['<'] = 3, ['>'] = 3, ['"'] = 5, ['\''] = 5,
  ['\t'] = 3, ['\n'] = 4, ['\r'] = 4
};

static const char *const entity[256] = {
  ['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;",
  ['\''] = "&apos;", ['\t'] = "&#9;", ['\n'] = "&#10;", ['\r'] = "&#13;"
};

/* The end of the run of bytes from `p` that are copied as they are, in
 * the value that starts at `start`. */
static const unsigned char *plain_run(const unsigned char *start, const unsigned char *p,
                                      const unsigned char *end) {
  p = mpns_scan(start, p, end, MPNS_SCAN_XML);
  while (p < end && !extra[*p]) p++;
  return p;
}

size_t mpns_xml_escaped_len(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  size_t n = len;
  while ((p = plain_run((const unsigned char *)s, p, end)) < end) n += extra[*p++];
  return n;
}

/* Copies runs of plain bytes whole: most text has nothing to escape. */
char *mpns_xml_escape(char *out, const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  for (;;) {
    const unsigned char *run = p;
    p = plain_run((const unsigned char *)s, p, end);
    memcpy(out, run, (size_t)(p - run));
    out += p - run;
    if (p == end) return out;
    memcpy(out, entity[*p], extra[*p] + 1u);
    out += extra[*p++] + 1u;
  }
}
