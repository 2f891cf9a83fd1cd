/*
 * scan.h: how far a run of bytes that need no attention goes, sixteen at
 * a time (GCC and Clang vector extensions: SSE2 on x86-64, NEON on ARM,
 * plain words elsewhere). A value's last bytes are tested as one block
 * that overlaps the one before, so a 20-byte text costs two block tests.
 * The scan only skips: callers settle the rest with their byte loop.
 */
#ifndef MPNS_SCAN_H
#define MPNS_SCAN_H

#include <string.h>

typedef unsigned char mpns_v16 __attribute__((vector_size(16)));
typedef signed char mpns_m16 __attribute__((vector_size(16)));

enum {
  MPNS_SCAN_ASCII,  /* stops near a byte that is not printable ASCII */
  MPNS_SCAN_XML     /* near one below 0x20 or " # & ' < = > (a superset of
                       what escaping changes: 0x22-0x27 masked by 0xfa,
                       0x3c-0x3e by 0xfd) */
};

static inline mpns_m16 mpns_scan_flags(mpns_v16 x, int what) {
  const mpns_v16 lo = (mpns_v16)(x - (unsigned char)0x20);  /* wraps below 0x20 */
  if (what == MPNS_SCAN_ASCII) return lo >= (unsigned char)0x60;
  return ((x & (unsigned char)0xfa) == (unsigned char)0x22) |
         ((x & (unsigned char)0xfd) == (unsigned char)0x3c) | (x < (unsigned char)0x20);
}

/* Whether a byte of `x` from lane `from` on is flagged. */
static inline int mpns_scan_hit(mpns_v16 x, int what, int from) {
  const mpns_v16 lane = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
  mpns_m16 m = mpns_scan_flags(x, what) & (lane >= (unsigned char)from);
  unsigned long long w[2];
  memcpy(w, &m, sizeof w);
  return (w[0] | w[1]) != 0;
}

/* Where a run of unflagged bytes from `p` may end: the start of the first
 * block with a flagged byte, or `end`. `start` is where the value begins:
 * its last bytes are tested as one block that overlaps ones already seen,
 * so no byte outside the value is read. Values under 8 bytes are left to
 * the caller's byte loop. */
static inline const unsigned char *mpns_scan(const unsigned char *start, const unsigned char *p,
                                             const unsigned char *end, int what) {
  mpns_v16 x;
  for (; end - p >= 16; p += 16) {
    memcpy(&x, p, 16);
    if (mpns_scan_hit(x, what, 0)) return p;
  }
  if (p == end) return p;
  if (end - start >= 16) {  /* lanes before `p` were seen clean */
    memcpy(&x, end - 16, 16);
    return mpns_scan_hit(x, what, (int)(16 - (end - p))) ? p : end;
  } else if (end - start >= 8) {
    unsigned char two[16];
    memcpy(two, end - p > 8 ? p : end - 8, 8);
    memcpy(two + 8, end - 8, 8);
    memcpy(&x, two, 16);
  } else {
    return p;
  }
  return mpns_scan_hit(x, what, 0) ? p : end;
}

#endif
