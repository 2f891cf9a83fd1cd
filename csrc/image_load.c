/*
 * image_load.c: a tile's background file, PNG (cairo's reader) or JPEG
 * (libjpeg), told apart by their signatures rather than by name. libjpeg's
 * errors come back through a longjmp, never through its default exit().
 */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include "image_int.h"

#define MAX_PIXELS (16ul << 20)  /* 64 MB decoded, after JPEG scaling; cairo's own limit */
#define MAX_SIDE 32767            /* is 32767 a side */

/* 1 (and `err`) when a w x h background is too big to decode. */
static int refuse_size(const char *path, unsigned long w, unsigned long h, mpns_error *err) {
  if (w <= MAX_SIDE && h <= MAX_SIDE && w * h <= MAX_PIXELS) return 0;
  mpns_img_fail(err, MPNS_IMG_BACKGROUND, "expected an image of at most %lu pixels and %d a "
                "side, got '%s' (%lux%lu)", MAX_PIXELS, MAX_SIDE, path, w, h);
  return 1;
}

static cairo_status_t read_file(void *f, unsigned char *data, unsigned int len) {
  return fread(data, 1, len, (FILE *)f) == len ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_READ_ERROR;
}

static cairo_surface_t *load_png(FILE *f, const char *path, mpns_error *err) {
  cairo_surface_t *s = cairo_image_surface_create_from_png_stream(read_file, f);
  if (cairo_surface_status(s) == CAIRO_STATUS_SUCCESS) return s;
  mpns_img_fail(err, MPNS_IMG_BACKGROUND, "expected a PNG cairo can read, got '%s' (%s)", path,
                cairo_status_to_string(cairo_surface_status(s)));
  cairo_surface_destroy(s);
  return NULL;
}

typedef struct {
  struct jpeg_error_mgr mgr;
  jmp_buf jump;
  char text[JMSG_LENGTH_MAX];
} jpeg_failure;

static void jpeg_fail(j_common_ptr c) {
  jpeg_failure *f = (jpeg_failure *)c->err;
  c->err->format_message(c, f->text);
  longjmp(f->jump, 1);
}

static void jpeg_quiet(j_common_ptr c) { (void)c; }  /* no warnings on stderr */

/* The smallest 1/d (d = 8, 4, 2, 1) at which the image still covers w x h. */
static void pick_scale(struct jpeg_decompress_struct *j, int w, int h) {
  unsigned d;
  for (d = 8; d > 1; d /= 2)
    if (j->image_width / d >= (unsigned)w && j->image_height / d >= (unsigned)h) break;
  j->scale_num = 1;
  j->scale_denom = d;
}

/* Decodes into `*s` (RGB24), row by row through `row`. */
static void decode_rows(struct jpeg_decompress_struct *j, cairo_surface_t *s, JSAMPLE *row) {
  unsigned char *data = cairo_image_surface_get_data(s);
  int stride = cairo_image_surface_get_stride(s);
  cairo_surface_flush(s);
  while (j->output_scanline < j->output_height) {
    unsigned *px = (unsigned *)(data + (size_t)j->output_scanline * stride);
    JDIMENSION x;
    jpeg_read_scanlines(j, &row, 1);
    for (x = 0; x < j->output_width; x++)
      px[x] = 0xFF000000u | (unsigned)row[3 * x] << 16 | (unsigned)row[3 * x + 1] << 8 | row[3 * x + 2];
  }
  cairo_surface_mark_dirty(s);
}

static cairo_surface_t *load_jpeg(FILE *f, const char *path, int w, int h, mpns_error *err) {
  struct jpeg_decompress_struct j;
  jpeg_failure fail;
  cairo_surface_t *volatile s = NULL;
  JSAMPLE *volatile row = NULL;
  j.err = jpeg_std_error(&fail.mgr);
  fail.mgr.error_exit = jpeg_fail;
  fail.mgr.output_message = jpeg_quiet;
  if (setjmp(fail.jump)) {
    mpns_img_fail(err, MPNS_IMG_BACKGROUND, "expected a JPEG libjpeg can read, got '%s' (%s)",
                  path, fail.text);
    jpeg_destroy_decompress(&j);
    free(row);
    if (s) cairo_surface_destroy(s);
    return NULL;
  }
  jpeg_create_decompress(&j);
  jpeg_stdio_src(&j, f);
  jpeg_read_header(&j, TRUE);
  j.out_color_space = JCS_RGB;
  pick_scale(&j, w, h);
  jpeg_calc_output_dimensions(&j);
  if (refuse_size(path, j.output_width, j.output_height, err)) {
    jpeg_destroy_decompress(&j);
    return NULL;
  }
  jpeg_start_decompress(&j);
  s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)j.output_width, (int)j.output_height);
  if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS || !(row = malloc(3 * (size_t)j.output_width))) {
    snprintf(fail.text, sizeof fail.text, "out of memory");
    longjmp(fail.jump, 1);
  }
  decode_rows(&j, s, row);
  jpeg_finish_decompress(&j);
  jpeg_destroy_decompress(&j);
  free(row);
  return s;
}

static unsigned long be32(const unsigned char *p) {
  return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 | p[3];
}

cairo_surface_t *mpns_img_load(const char *path, int w, int h, mpns_error *err) {
  static const unsigned char png_sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n' };
  unsigned char sig[24] = { 0 };  /* a PNG's signature and IHDR's size */
  cairo_surface_t *s = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    mpns_img_fail(err, MPNS_IMG_BACKGROUND, "expected a PNG or JPEG file, got '%s' (%s)", path,
                  strerror(errno));
    return NULL;
  }
  if (fread(sig, 1, sizeof sig, f) == sizeof sig && memcmp(sig, png_sig, 8) == 0) {
    rewind(f);
    if (!refuse_size(path, be32(sig + 16), be32(sig + 20), err)) s = load_png(f, path, err);
  } else if (sig[0] == 0xFF && sig[1] == 0xD8 && sig[2] == 0xFF) {
    rewind(f);
    s = load_jpeg(f, path, w, h, err);
  } else {
    mpns_img_fail(err, MPNS_IMG_BACKGROUND, "expected a PNG or JPEG file, got '%s' "
                  "(its first bytes are neither signature)", path);
  }
  fclose(f);
  return s;
}
