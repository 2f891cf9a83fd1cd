/*
 * image_png.c: the tile as a PNG of at most `cap` bytes, written with
 * libpng down a ladder until one fits: the tile's own colours (when it has
 * at most 256: lossless, and a third of the bytes for zlib), full colour
 * written fast (one filter, zlib level 1; cairo's own writer tries every
 * filter on every row and took 90 % of a render), full colour compressed
 * hard, then fixed palettes of 256 and 16 colours. A 16-colour PNG costs at
 * most half a byte a pixel before compression, so only a photo-like wide
 * tile can still fail, and then the error says so.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <png.h>
#include <zlib.h>
#include "image_int.h"

enum { OWN, FULL, FIXED };

/* One way of writing the PNG; FIXED palettes have `levels` (alpha, red,
 * green, blue) for opaque tiles and for tiles with transparency. */
typedef struct {
  const char *name;
  int kind, zlevel, strategy, filters;
  unsigned char levels[2][4];
} rung;

static const rung ladder[] = {
  { "its own colours", OWN, 1, Z_DEFAULT_STRATEGY, PNG_FILTER_NONE, { { 0 } } },
  { "full colour", FULL, 1, Z_DEFAULT_STRATEGY, PNG_FILTER_SUB, { { 0 } } },
  { "full colour", FULL, 9, Z_DEFAULT_STRATEGY, PNG_ALL_FILTERS, { { 0 } } },
  { "256 colours", FIXED, 9, Z_DEFAULT_STRATEGY, PNG_FILTER_NONE, { { 1, 8, 8, 4 }, { 4, 4, 4, 4 } } },
  { "16 colours", FIXED, 9, Z_DEFAULT_STRATEGY, PNG_FILTER_NONE, { { 1, 2, 4, 2 }, { 2, 2, 2, 2 } } },
};
#define RUNGS (sizeof ladder / sizeof ladder[0])

typedef struct {
  unsigned char *out;
  size_t cap, len;
  int over;                 /* stopped because `cap` was reached */
  char text[200];           /* libpng's error, if it had one */
} sink;

static void png_sink(png_structp png, png_bytep data, png_size_t n) {
  sink *k = (sink *)png_get_io_ptr(png);
  if (n > k->cap - k->len) {
    k->over = 1;
    png_error(png, "over the size limit");
  }
  memcpy(k->out + k->len, data, n);
  k->len += n;
}
static void png_flush(png_structp png) { (void)png; }
static void png_fail(png_structp png, png_const_charp msg) {
  sink *k = (sink *)png_get_error_ptr(png);
  snprintf(k->text, sizeof k->text, "%s", msg);
  png_longjmp(png, 1);
}
static void png_warn(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

/* What is written: the surface in full colour, or a palette (pal->index). */
typedef struct {
  cairo_surface_t *s;
  const mpns_img_palette *pal;
  int depth;                /* bits a palette index takes: 1, 2, 4 or 8 */
} picture;

/* Row y in PNG form: RGB (opaque), RGBA, or packed palette indices. */
static void convert_row(const picture *p, int y, unsigned char *row) {
  int w = cairo_image_surface_get_width(p->s), x;
  const unsigned *px = (const unsigned *)(cairo_image_surface_get_data(p->s)
                                          + (size_t)y * cairo_image_surface_get_stride(p->s));
  if (p->pal && p->depth == 8) {
    memcpy(row, p->pal->index + (size_t)y * w, (size_t)w);
  } else if (p->pal) {
    const unsigned char *ix = p->pal->index + (size_t)y * w;
    int per = 8 / p->depth;
    memset(row, 0, ((size_t)w + per - 1) / per);
    for (x = 0; x < w; x++) row[x / per] |= (unsigned char)(ix[x] << (8 - p->depth * (x % per + 1)));
  } else if (cairo_image_surface_get_format(p->s) == CAIRO_FORMAT_RGB24) {
    for (x = 0; x < w; x++, row += 3)
      row[0] = (unsigned char)(px[x] >> 16), row[1] = (unsigned char)(px[x] >> 8), row[2] = (unsigned char)px[x];
  } else {
    for (x = 0; x < w; x++, row += 4) mpns_img_unpack(px[x], 0, row);
  }
}

/* The palette into the PNG: colours, and alphas when any is not opaque. */
static void set_palette(png_structp png, png_infop info, const mpns_img_palette *pal) {
  png_color col[256];
  png_byte alpha[256];
  int i, translucent = 0;
  memset(col, 0, sizeof col);
  for (i = 0; i < pal->n; i++) {
    col[i].red = pal->rgba[i][0], col[i].green = pal->rgba[i][1], col[i].blue = pal->rgba[i][2];
    alpha[i] = pal->rgba[i][3];
    translucent |= alpha[i] != 255;
  }
  png_set_PLTE(png, info, col, pal->n);
  if (translucent) png_set_tRNS(png, info, alpha, pal->n, NULL);
}

/* Writes the picture the rung's way into k; 0, or -1 (k->over or k->text). */
static int write_png(const picture *p, const rung *r, sink *k) {
  int w = cairo_image_surface_get_width(p->s), h = cairo_image_surface_get_height(p->s), y;
  int opaque = cairo_image_surface_get_format(p->s) == CAIRO_FORMAT_RGB24;
  int type = p->pal ? PNG_COLOR_TYPE_PALETTE : opaque ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGBA;
  unsigned char *row = malloc(4 * (size_t)w);
  png_structp png = row ? png_create_write_struct(PNG_LIBPNG_VER_STRING, k, png_fail, png_warn) : NULL;
  png_infop info = png ? png_create_info_struct(png) : NULL;
  k->len = 0, k->over = 0;
  snprintf(k->text, sizeof k->text, "out of memory");
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    free(row);
    return -1;
  }
  png_set_write_fn(png, k, png_sink, png_flush);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, p->pal ? p->depth : 8, type,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (p->pal) set_palette(png, info, p->pal);
  png_set_compression_level(png, r->zlevel);
  png_set_compression_strategy(png, r->strategy);
  png_set_filter(png, PNG_FILTER_TYPE_BASE, r->filters);
  png_write_info(png, info);
  for (y = 0; y < h; y++) {
    convert_row(p, y, row);
    png_write_row(png, row);
  }
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  free(row);
  return 0;
}

/* Tries one rung: 1 written, 0 too big (or not for this tile), -1 failed. */
static int try_rung(cairo_surface_t *s, const rung *r, sink *k) {
  mpns_img_palette pal;
  picture p;
  int rc = 1;
  p.s = s, p.pal = NULL, p.depth = 8;
  if (r->kind == OWN) rc = mpns_img_exact_palette(s, &pal);
  if (r->kind == FIXED)
    rc = mpns_img_fixed_palette(s, r->levels[cairo_image_surface_get_format(s) != CAIRO_FORMAT_RGB24], &pal);
  if (rc <= 0) {
    snprintf(k->text, sizeof k->text, "out of memory");
    return rc == 0 ? (k->over = 1, 0) : -1;
  }
  if (r->kind != FULL) p.pal = &pal, p.depth = pal.n <= 2 ? 1 : pal.n <= 4 ? 2 : pal.n <= 16 ? 4 : 8;
  rc = write_png(&p, r, k) == 0 ? 1 : k->over ? 0 : -1;
  if (p.pal) mpns_img_palette_free(&pal);
  return rc;
}

int mpns_img_encode(cairo_surface_t *s, unsigned char *out, size_t cap, size_t *len,
                    mpns_error *err) {
  sink k;
  size_t r;
  memset(&k, 0, sizeof k);
  k.out = out, k.cap = cap;
  cairo_surface_flush(s);
  for (r = 0; r < RUNGS; r++) {
    int rc = try_rung(s, &ladder[r], &k);
    if (rc > 0) return *len = k.len, 0;
    if (rc < 0) {
      snprintf(err->text, sizeof err->text, "the tile could not be encoded: %s", k.text);
      return -1;
    }
  }
  snprintf(err->text, sizeof err->text, "the tile image is over %zu bytes even in %s (the "
           "phone refuses bigger ones): use a plainer background or a smaller size", cap,
           ladder[RUNGS - 1].name);
  return -1;
}
