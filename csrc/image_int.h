/*
 * image_int.h: what the tile renderer's files (image*.c) share; the only
 * header that names cairo. image.c checks a spec and drives the other three.
 */
#ifndef MPNS_IMAGE_INT_H
#define MPNS_IMAGE_INT_H

#include <cairo.h>
#include "image.h"

/* What is drawn over the background, already checked. */
typedef struct {
  char *text, *title;         /* NUL-terminated UTF-8 (ours: cut in place), or NULL */
  int count;                  /* 1..99 draws the badge */
  double font_size;           /* the text's size in pixels */
  double rgba[4];             /* text, title and count colour */
} mpns_img_layout;

/* image_load.c: the PNG or JPEG file at `path`, decoded (a JPEG at the
 * smallest libjpeg scale still covering w x h); NULL and `err` if not. */
cairo_surface_t *mpns_img_load(const char *path, int w, int h, mpns_error *err);

/* image_draw.c: draws the text, count badge and title onto `cr`. */
void mpns_img_draw(cairo_t *cr, int w, int h, const mpns_img_layout *lay);
/* The default text size for a tile `h` pixels high. */
double mpns_img_default_font(int h);

/* image_palette.c: the tile's pixels as indices into at most 256 colours. */
typedef struct {
  int w, h, opaque, n;          /* n colours */
  unsigned char rgba[256][4];   /* straight (not premultiplied) colours */
  unsigned char *index;         /* w * h indices, row by row */
} mpns_img_palette;
/* The tile's own colours: 1, or 0 when it has more than 256, -1 without memory. */
int mpns_img_exact_palette(cairo_surface_t *s, mpns_img_palette *p);
/* Evenly spaced levels per channel (alpha, red, green, blue): 1, or -1. */
int mpns_img_fixed_palette(cairo_surface_t *s, const unsigned char L[4], mpns_img_palette *p);
void mpns_img_palette_free(mpns_img_palette *p);
/* A cairo pixel (premultiplied, native-endian) as straight r, g, b, a. */
void mpns_img_unpack(unsigned px, int opaque, unsigned char rgba[4]);

/* image_png.c: `s` as a PNG of at most `cap` bytes; -1 and `err` if even
 * the smallest palette does not fit. */
int mpns_img_encode(cairo_surface_t *s, unsigned char *out, size_t cap, size_t *len,
                    mpns_error *err);

/* Formats "field '<name>' <what>" into `err`; returns -1. */
int mpns_img_fail(mpns_error *err, mpns_img_field f, const char *fmt, ...);

#endif
