/*
 * image_png.c: the tile as a PNG of at most `cap` bytes, written with
 * libpng down a ladder of settings until one fits: full colour written
 * fast (one filter, run-length zlib: flat tiles with text compress well
 * and quickly that way; cairo's own writer tries every filter on every
 * row and took 90 % of a render), full colour compressed hard, then the
 * pixels in a fixed palette of 256 and of 16 colours. A 16-colour PNG costs
 * at most half a byte a pixel before compression, so only a photo-like
 * wide tile can still fail, and then the error says so.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <png.h>
#include <zlib.h>
#include "image_int.h"

/* One way of writing the PNG. `levels` (alpha, red, green, blue) make a
 * palette, for opaque tiles and for tiles with transparency; 0: full colour. */
typedef struct {
  const char *name;
  int depth, zlevel, strategy, filters;
  unsigned char levels[2][4];
} rung;

static const rung ladder[] = {
  { "full colour", 8, 6, Z_RLE, PNG_FILTER_SUB, { { 0 } } },
  { "full colour", 8, 9, Z_DEFAULT_STRATEGY, PNG_ALL_FILTERS, { { 0 } } },
  { "256 colours", 8, 9, Z_DEFAULT_STRATEGY, PNG_FILTER_NONE, { { 1, 8, 8, 4 }, { 4, 4, 4, 4 } } },
  { "16 colours", 4, 9, Z_DEFAULT_STRATEGY, PNG_FILTER_NONE, { { 1, 2, 4, 2 }, { 2, 2, 2, 2 } } },
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

static unsigned level(unsigned v, unsigned n) { return (v * (n - 1) + 127) / 255; }

/* One cairo pixel (premultiplied, native-endian ARGB) as straight a, r, g, b. */
static void unpack(unsigned p, int opaque, unsigned c[4]) {
  unsigned a = opaque ? 255 : p >> 24, i;
  c[0] = a;
  for (i = 1; i < 4; i++) c[i] = (p >> (24 - 8 * i)) & 0xFF;
  if (a > 0 && a < 255)
    for (i = 1; i < 4; i++) c[i] = (c[i] * 255 + a / 2) / a;
}

/* Full colour: RGB for opaque tiles, else RGBA (cairo's are premultiplied). */
static void rgb_row(const unsigned *px, int w, int opaque, unsigned char *row) {
  int x;
  unsigned c[4];
  if (opaque) {
    for (x = 0; x < w; x++, row += 3)
      row[0] = (unsigned char)(px[x] >> 16), row[1] = (unsigned char)(px[x] >> 8), row[2] = (unsigned char)px[x];
    return;
  }
  for (x = 0; x < w; x++, row += 4) {
    unpack(px[x], 0, c);
    row[0] = (unsigned char)c[1], row[1] = (unsigned char)c[2], row[2] = (unsigned char)c[3];
    row[3] = (unsigned char)c[0];
  }
}

/* Row `px` in the rung's form: RGB, RGBA or packed palette indices. */
static void convert_row(const rung *r, const unsigned char *L, const unsigned *px, int w,
                        int opaque, unsigned char *row) {
  int x, per = 8 / r->depth;
  unsigned c[4];
  if (L[0] == 0) {
    rgb_row(px, w, opaque, row);
    return;
  }
  memset(row, 0, ((size_t)w + per - 1) / per);
  for (x = 0; x < w; x++) {
    unsigned i;
    unpack(px[x], opaque, c);
    i = ((level(c[0], L[0]) * L[1] + level(c[1], L[1])) * L[2] + level(c[2], L[2])) * L[3]
        + level(c[3], L[3]);
    row[x / per] |= (unsigned char)(i << (8 - r->depth * (x % per + 1)));
  }
}

/* The palette for levels L into the PNG: colours, and alphas if any. */
static void set_palette(png_structp png, png_infop info, const unsigned char *L) {
  png_color pal[256];
  png_byte trns[256];
  int n = L[0] * L[1] * L[2] * L[3], i;
  for (i = 0; i < n; i++) {
    int b = i % L[3], g = i / L[3] % L[2], r = i / (L[3] * L[2]) % L[1], a = i / (L[3] * L[2] * L[1]);
    pal[i].red = (png_byte)(r * 255 / (L[1] - 1));
    pal[i].green = (png_byte)(g * 255 / (L[2] - 1));
    pal[i].blue = (png_byte)(b * 255 / (L[3] - 1));
    trns[i] = (png_byte)(L[0] > 1 ? a * 255 / (L[0] - 1) : 255);
  }
  png_set_PLTE(png, info, pal, n);
  if (L[0] > 1) png_set_tRNS(png, info, trns, n, NULL);
}

static void write_rows(png_structp png, const rung *r, const unsigned char *L,
                       cairo_surface_t *s, unsigned char *row) {
  int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
  int stride = cairo_image_surface_get_stride(s), y;
  int opaque = cairo_image_surface_get_format(s) == CAIRO_FORMAT_RGB24;
  const unsigned char *data = cairo_image_surface_get_data(s);
  for (y = 0; y < h; y++) {
    convert_row(r, L, (const unsigned *)(data + (size_t)y * stride), w, opaque, row);
    png_write_row(png, row);
  }
}

/* Writes `s` the rung's way into k; 0 on success, -1 (k->over or k->text). */
static int write_png(cairo_surface_t *s, const rung *r, sink *k) {
  int opaque = cairo_image_surface_get_format(s) == CAIRO_FORMAT_RGB24;
  const unsigned char *L = r->levels[!opaque];
  int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
  int type = L[0] ? PNG_COLOR_TYPE_PALETTE : opaque ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGBA;
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
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, r->depth, type, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (L[0]) set_palette(png, info, L);
  png_set_compression_level(png, r->zlevel);
  png_set_compression_strategy(png, r->strategy);
  png_set_filter(png, PNG_FILTER_TYPE_BASE, r->filters);
  png_write_info(png, info);
  write_rows(png, r, L, s, row);
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  free(row);
  return 0;
}

int mpns_img_encode(cairo_surface_t *s, unsigned char *out, size_t cap, size_t *len,
                    mpns_error *err) {
  sink k;
  size_t r;
  memset(&k, 0, sizeof k);
  k.out = out, k.cap = cap;
  cairo_surface_flush(s);
  for (r = 0; r < RUNGS; r++) {
    if (write_png(s, &ladder[r], &k) == 0) return *len = k.len, 0;
    if (!k.over) {
      snprintf(err->text, sizeof err->text, "the tile could not be encoded: %s", k.text);
      return -1;
    }
  }
  snprintf(err->text, sizeof err->text, "the tile image is over %zu bytes even in %s (the "
           "phone refuses bigger ones): use a plainer background or a smaller size", cap,
           ladder[RUNGS - 1].name);
  return -1;
}
