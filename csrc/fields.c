/* fields.c: the message field table (rows in fields.h) and its lookups. */
#include <stdio.h>
#include <string.h>
#include "mpns.h"

#define KT   (1u << MPNS_TOAST)
#define KP   (1u << MPNS_TILE)
#define KF   (1u << MPNS_FLIP_TILE)
#define KI   (1u << MPNS_ICONIC_TILE)
#define KC   (1u << MPNS_CYCLE_TILE)
#define KR   (1u << MPNS_RAW)
#define KB   (1u << MPNS_CALLBACK)
#define KALL ((1u << MPNS_KIND_COUNT) - 1)
#define KPUSH (KALL & ~KB)  /* a callback registration is not delivered: no delay */
#define OS70 MPNS_OS_70
#define OS71 MPNS_OS_71
#define OS80 MPNS_OS_80
#define MPNS_F_NONE (-1)

const mpns_field_info mpns_field_table[MPNS_FIELD_COUNT] = {
#define MPNS_FIELD(id, name, xml, kinds, os, check, fallback) \
  { name, xml, (xml) ? sizeof(xml) - 1 : 0, kinds, os, MPNS_CHECK_##check, MPNS_F_##fallback },
#include "fields.h"
#undef MPNS_FIELD
};

static const char *const kind_names[MPNS_KIND_COUNT] = {
  "toast", "tile", "flip_tile", "iconic_tile", "cycle_tile", "raw", "callback"
};

static const char *const os_names[MPNS_OS_COUNT] = { "7.0", "7.1", "8.0" };

/* "back_title", or "cycle_images[3]" for the images a list holds. */
void mpns_field_label(mpns_field f, char *buf, size_t n) {
  if (f >= MPNS_F_CYCLE_IMAGE1 && f <= MPNS_F_CYCLE_IMAGE9)
    snprintf(buf, n, "cycle_images[%d]", (int)(f - MPNS_F_CYCLE_IMAGE1) + 1);
  else
    snprintf(buf, n, "%s", mpns_field_table[f].name);
}

const char *mpns_kind_name(mpns_kind k) { return kind_names[k]; }

const char *mpns_os_name(mpns_os os) { return os_names[os]; }

/* Linear: the binding keeps its own hash; this serves C callers. */
int mpns_field_lookup(const char *name, size_t len) {
  int f;
  for (f = 0; f < MPNS_FIELD_COUNT; f++)
    if (mpns_field_table[f].name && strlen(mpns_field_table[f].name) == len &&
        memcmp(mpns_field_table[f].name, name, len) == 0)
      return f;
  return -1;
}

/* Exactly "7.0", "7.1" or "8.0": a NUL inside `len` is a mismatch. */
int mpns_os_parse(const char *s, size_t len, mpns_os *os) {
  int i;
  for (i = 0; i < MPNS_OS_COUNT; i++)
    if (len == strlen(os_names[i]) && memcmp(s, os_names[i], len) == 0) {
      *os = (mpns_os)i;
      return 0;
    }
  return -1;
}
