/*
 * image_palette.c: a tile's pixels as palette indices, for PNG's indexed
 * colour: one byte a pixel instead of three or four, so a third of the
 * work for zlib. Either the tile's own colours, when it has at most 256 (a
 * flat tile with text usually does: nothing is lost), or a fixed palette
 * of evenly spaced levels (a photo that is too big otherwise).
 */
#include <stdlib.h>
#include <string.h>
#include "image_int.h"

#define SLOTS 1024  /* hash slots for 256 colours: mostly one probe */

void mpns_img_unpack(unsigned p, int opaque, unsigned char c[4]) {
  unsigned a = opaque ? 255 : p >> 24, i;
  c[3] = (unsigned char)a;
  for (i = 0; i < 3; i++) {
    unsigned v = (p >> (16 - 8 * i)) & 0xFF;
    c[i] = (unsigned char)(a > 0 && a < 255 ? (v * 255 + a / 2) / a : v);
  }
}

static int start(cairo_surface_t *s, mpns_img_palette *p) {
  memset(p, 0, sizeof *p);
  p->w = cairo_image_surface_get_width(s);
  p->h = cairo_image_surface_get_height(s);
  p->opaque = cairo_image_surface_get_format(s) == CAIRO_FORMAT_RGB24;
  return (p->index = malloc((size_t)p->w * p->h)) ? 0 : -1;
}

static const unsigned *row_of(cairo_surface_t *s, int y) {
  return (const unsigned *)(cairo_image_surface_get_data(s) + (size_t)y * cairo_image_surface_get_stride(s));
}

/* The index of colour `px` in p, added if new; -1 past 256 colours. */
static int lookup(mpns_img_palette *p, unsigned *keys, short *slot, unsigned px) {
  unsigned h = (px * 2654435761u) >> 22;
  for (;; h = (h + 1) & (SLOTS - 1)) {
    if (slot[h] < 0) {
      if (p->n == 256) return -1;
      keys[h] = px, slot[h] = (short)p->n;
      mpns_img_unpack(px, p->opaque, p->rgba[p->n]);
      return p->n++;
    }
    if (keys[h] == px) return slot[h];
  }
}

int mpns_img_exact_palette(cairo_surface_t *s, mpns_img_palette *p) {
  unsigned keys[SLOTS], last = 0;
  short slot[SLOTS];
  int x, y, i = -1;
  if (start(s, p) != 0) return -1;
  memset(slot, 0xFF, sizeof slot);
  for (y = 0; y < p->h; y++) {
    const unsigned *px = row_of(s, y);
    unsigned char *out = p->index + (size_t)y * p->w;
    for (x = 0; x < p->w; x++) {
      unsigned v = p->opaque ? px[x] & 0xFFFFFF : px[x];
      if (i < 0 || v != last) {
        if ((i = lookup(p, keys, slot, v)) < 0) return mpns_img_palette_free(p), 0;
        last = v;
      }
      out[x] = (unsigned char)i;
    }
  }
  return 1;
}

static unsigned level(unsigned v, unsigned n) { return (v * (n - 1) + 127) / 255; }

int mpns_img_fixed_palette(cairo_surface_t *s, const unsigned char L[4], mpns_img_palette *p) {
  int x, y, i;
  if (start(s, p) != 0) return -1;
  p->n = L[0] * L[1] * L[2] * L[3];
  for (i = 0; i < p->n; i++) {  /* index = ((a * L1 + r) * L2 + g) * L3 + b */
    int b = i % L[3], g = i / L[3] % L[2], r = i / (L[3] * L[2]) % L[1], a = i / (L[3] * L[2] * L[1]);
    p->rgba[i][0] = (unsigned char)(r * 255 / (L[1] - 1));
    p->rgba[i][1] = (unsigned char)(g * 255 / (L[2] - 1));
    p->rgba[i][2] = (unsigned char)(b * 255 / (L[3] - 1));
    p->rgba[i][3] = (unsigned char)(L[0] > 1 ? a * 255 / (L[0] - 1) : 255);
  }
  for (y = 0; y < p->h; y++) {
    const unsigned *px = row_of(s, y);
    for (x = 0; x < p->w; x++) {
      unsigned char c[4];
      mpns_img_unpack(px[x], p->opaque, c);
      p->index[(size_t)y * p->w + x] = (unsigned char)(((level(c[3], L[0]) * L[1]
        + level(c[0], L[1])) * L[2] + level(c[1], L[2])) * L[3] + level(c[2], L[3]));
    }
  }
  return 1;
}

void mpns_img_palette_free(mpns_img_palette *p) {
  free(p->index);
  p->index = NULL;
}
