/*
 * image_png.c: the tile as a PNG of at most `cap` bytes. Full colour first
 * (cairo's writer); when that is too big, the same pixels in a fixed
 * palette of 256, then 16 colours (libpng: cairo writes no palettes). A
 * 16-colour PNG costs at most half a byte a pixel before compression, so
 * only a photo-like wide tile can still fail, and then the error says so.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <png.h>
#include "image_int.h"

typedef struct {
  unsigned char *out;
  size_t cap, len;
  int over;                 /* stopped because `cap` was reached */
  char text[200];           /* libpng's error, if it had one */
} sink;

static int take(sink *k, const unsigned char *data, size_t n) {
  if (n > k->cap - k->len) return k->over = 1, 0;
  memcpy(k->out + k->len, data, n);
  k->len += n;
  return 1;
}

static cairo_status_t cairo_sink(void *k, const unsigned char *data, unsigned int n) {
  return take((sink *)k, data, n) ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

/* Palettes, as levels per channel (alpha, red, green, blue): for opaque
 * tiles and for tiles with transparency. */
static const struct { int depth; unsigned char levels[2][4]; const char *name; } ladder[] = {
  { 8, { { 1, 8, 8, 4 }, { 4, 4, 4, 4 } }, "256 colours" },
  { 4, { { 1, 2, 4, 2 }, { 2, 2, 2, 2 } }, "16 colours" },
};
#define RUNGS (sizeof ladder / sizeof ladder[0])

static unsigned level(unsigned v, unsigned n) { return (v * (n - 1) + 127) / 255; }

/* Palette index of one cairo pixel (premultiplied ARGB). */
static unsigned index_of(unsigned p, int opaque, const unsigned char *L) {
  unsigned a = opaque ? 255 : p >> 24, c[3], i;
  for (i = 0; i < 3; i++) {
    c[i] = (p >> (16 - 8 * i)) & 0xFF;
    if (a > 0 && a < 255) c[i] = (c[i] * 255 + a / 2) / a;
  }
  return ((level(a, L[0]) * L[1] + level(c[0], L[1])) * L[2] + level(c[1], L[2])) * L[3]
         + level(c[2], L[3]);
}

/* The palette for levels L: colours into pal, alphas into trns; its size. */
static int make_palette(const unsigned char *L, png_color *pal, png_byte *trns) {
  int n = L[0] * L[1] * L[2] * L[3], i;
  for (i = 0; i < n; i++) {
    int b = i % L[3], g = i / L[3] % L[2], r = i / (L[3] * L[2]) % L[1], a = i / (L[3] * L[2] * L[1]);
    pal[i].red = (png_byte)(r * 255 / (L[1] - 1));
    pal[i].green = (png_byte)(g * 255 / (L[2] - 1));
    pal[i].blue = (png_byte)(b * 255 / (L[3] - 1));
    trns[i] = (png_byte)(L[0] > 1 ? a * 255 / (L[0] - 1) : 255);
  }
  return n;
}

/* The surface's pixels as packed palette indices, `depth` bits each. */
static unsigned char *quantise(cairo_surface_t *s, int depth, const unsigned char *L,
                               size_t *rowbytes) {
  int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s), x, y;
  int stride = cairo_image_surface_get_stride(s), per = 8 / depth;
  int opaque = cairo_image_surface_get_format(s) == CAIRO_FORMAT_RGB24;
  const unsigned char *data = cairo_image_surface_get_data(s);
  unsigned char *rows;
  *rowbytes = ((size_t)w + per - 1) / per;
  if (!(rows = calloc(*rowbytes, (size_t)h))) return NULL;
  for (y = 0; y < h; y++) {
    const unsigned *px = (const unsigned *)(data + (size_t)y * stride);
    unsigned char *row = rows + (size_t)y * *rowbytes;
    for (x = 0; x < w; x++)
      row[x / per] |= (unsigned char)(index_of(px[x], opaque, L) << (8 - depth * (x % per + 1)));
  }
  return rows;
}

static void png_sink(png_structp png, png_bytep data, png_size_t n) {
  if (!take((sink *)png_get_io_ptr(png), data, n)) png_error(png, "over the size limit");
}
static void png_flush(png_structp png) { (void)png; }
static void png_fail(png_structp png, png_const_charp msg) {
  sink *k = (sink *)png_get_error_ptr(png);
  snprintf(k->text, sizeof k->text, "%s", msg);
  png_longjmp(png, 1);
}
static void png_warn(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

/* Writes packed rows as a palette PNG into k; 0 on success. */
static int write_palette(cairo_surface_t *s, int r, const unsigned char *rows, size_t rowbytes,
                         sink *k) {
  const unsigned char *L = ladder[r].levels[cairo_image_surface_get_format(s) != CAIRO_FORMAT_RGB24];
  int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s), y, n;
  png_color pal[256];
  png_byte trns[256];
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, k, png_fail, png_warn);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return -1;
  }
  png_set_write_fn(png, k, png_sink, png_flush);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, ladder[r].depth, PNG_COLOR_TYPE_PALETTE,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  n = make_palette(L, pal, trns);
  png_set_PLTE(png, info, pal, n);
  if (L[0] > 1) png_set_tRNS(png, info, trns, n, NULL);
  png_set_compression_level(png, 9);
  png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);  /* what palettes compress best with */
  png_write_info(png, info);
  for (y = 0; y < h; y++) png_write_row(png, (png_const_bytep)(rows + (size_t)y * rowbytes));
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return 0;
}

/* Tries palette rung r: 1 written, 0 too big, -1 failed with `err`. */
static int try_palette(cairo_surface_t *s, int r, sink *k, mpns_error *err) {
  const unsigned char *L = ladder[r].levels[cairo_image_surface_get_format(s) != CAIRO_FORMAT_RGB24];
  size_t rowbytes;
  unsigned char *rows = quantise(s, ladder[r].depth, L, &rowbytes);
  int rc;
  k->len = 0, k->over = 0, k->text[0] = '\0';
  if (!rows) return snprintf(err->text, sizeof err->text, "the tile could not be encoded: out of memory"), -1;
  rc = write_palette(s, r, rows, rowbytes, k);
  free(rows);
  if (rc == 0) return 1;
  if (k->over) return 0;
  snprintf(err->text, sizeof err->text, "the tile could not be encoded: %s", k->text);
  return -1;
}

int mpns_img_encode(cairo_surface_t *s, unsigned char *out, size_t cap, size_t *len,
                    mpns_error *err) {
  sink k;
  cairo_status_t st;
  size_t r;
  memset(&k, 0, sizeof k);
  k.out = out, k.cap = cap;
  cairo_surface_flush(s);
  st = cairo_surface_write_to_png_stream(s, cairo_sink, &k);
  for (r = 0; st != CAIRO_STATUS_SUCCESS && k.over && r < RUNGS; r++) {
    int rc = try_palette(s, (int)r, &k, err);
    if (rc < 0) return -1;
    if (rc > 0) st = CAIRO_STATUS_SUCCESS;
  }
  if (st == CAIRO_STATUS_SUCCESS) return *len = k.len, 0;
  if (k.over)
    snprintf(err->text, sizeof err->text, "the tile image is over %zu bytes even in %s (the "
             "phone refuses bigger ones): use a plainer background or a smaller size", cap,
             ladder[RUNGS - 1].name);
  else
    snprintf(err->text, sizeof err->text, "the tile could not be encoded: %s", cairo_status_to_string(st));
  return -1;
}
