/*
 * fuzz_util.h: what the harnesses share: a reader over the fuzzer's bytes
 * and a stop that ASan reports with a stack (__builtin_trap).
 */
#ifndef MPNS_FUZZ_UTIL_H
#define MPNS_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(cond) do { \
    if (!(cond)) { fprintf(stderr, "%s:%d: oracle failed: %s\n", __FILE__, __LINE__, #cond); \
                   __builtin_trap(); } \
  } while (0)

typedef struct { const uint8_t *p; size_t n; } fuzz_in;

static inline unsigned fuzz_byte(fuzz_in *in) {
  if (!in->n) return 0;
  in->n--;
  return *in->p++;
}

/* Up to `max` bytes, copied to a heap block of exactly that size and not
 * NUL-terminated, so any read past the end is an ASan report. */
static inline char *fuzz_bytes(fuzz_in *in, size_t want, size_t *len) {
  char *out;
  if (want > in->n) want = in->n;
  out = malloc(want ? want : 1);
  if (!out) abort();
  memcpy(out, in->p, want);
  in->p += want;
  in->n -= want;
  *len = want;
  return out;
}

#endif
