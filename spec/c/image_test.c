/*
 * image_test.c: the tile renderer (image.h) from C, with no Lua. Run with
 * no argument it is a suite (spec/run runs it under valgrind) and prints
 * "N passed, N failed". spec/image_spec.lua also uses it as a tool:
 *   image_test --fixtures DIR               noise.png, alpha.png, photo.jpg
 *   image_test --diff A.png B.png X Y W H   pixels that differ in a box
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cairo.h>
#include <jpeglib.h>
#include "image_int.h"  /* mpns_img_encode and the palettes, tested here too */

static int passed, failed;

#define CHECK(cond) do { \
    if (cond) passed++; \
    else { failed++; fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); } \
  } while (0)

/* ---- fixtures ----------------------------------------------------------- */

static unsigned rnd(void) {  /* a fixed LCG: the same noise every run */
  static unsigned long x = 12345;
  x = (x * 1103515245ul + 12345ul) & 0x7FFFFFFFul;
  return (unsigned)(x >> 8);
}

/* Random pixels: incompressible, the worst case for the 80 KB limit. */
static int write_noise(const char *path, cairo_format_t fmt, int w, int h) {
  cairo_surface_t *s = cairo_image_surface_create(fmt, w, h);
  unsigned char *d = cairo_image_surface_get_data(s);
  int x, y, rc;
  for (y = 0; y < h; y++)
    for (x = 0; x < w; x++) {
      unsigned a = fmt == CAIRO_FORMAT_RGB24 ? 255 : rnd() & 0xFF, p = 0, c;
      for (c = 0; c < 3; c++) p = p << 8 | (rnd() & 0xFF) * a / 255;
      ((unsigned *)(d + y * cairo_image_surface_get_stride(s)))[x] = a << 24 | p;
    }
  cairo_surface_mark_dirty(s);
  rc = cairo_surface_write_to_png(s, path) == CAIRO_STATUS_SUCCESS ? 0 : -1;
  cairo_surface_destroy(s);
  return rc;
}

/* An 800x600 JPEG of one colour, #C82828: a background to find again. */
static int write_jpeg(const char *path) {
  struct jpeg_compress_struct j;
  struct jpeg_error_mgr e;
  JSAMPLE row[800 * 3];
  FILE *f = fopen(path, "wb");
  int x;
  if (!f) return -1;
  for (x = 0; x < 800; x++) row[3 * x] = 200, row[3 * x + 1] = 40, row[3 * x + 2] = 40;
  j.err = jpeg_std_error(&e);
  jpeg_create_compress(&j);
  jpeg_stdio_dest(&j, f);
  j.image_width = 800, j.image_height = 600, j.input_components = 3, j.in_color_space = JCS_RGB;
  jpeg_set_defaults(&j);
  jpeg_start_compress(&j, TRUE);
  while (j.next_scanline < 600) {
    JSAMPROW r = row;
    jpeg_write_scanlines(&j, &r, 1);
  }
  jpeg_finish_compress(&j);
  jpeg_destroy_compress(&j);
  return fclose(f);
}

static int fixtures(const char *dir) {
  char p[3][1024];
  snprintf(p[0], sizeof p[0], "%s/noise.png", dir);
  snprintf(p[1], sizeof p[1], "%s/alpha.png", dir);
  snprintf(p[2], sizeof p[2], "%s/photo.jpg", dir);
  return write_noise(p[0], CAIRO_FORMAT_RGB24, 691, 336) || write_noise(p[1], CAIRO_FORMAT_ARGB32, 336, 336)
         || write_jpeg(p[2]) ? 1 : 0;
}

/* ---- reading a PNG back --------------------------------------------------- */

typedef struct { const unsigned char *p; size_t left; } reader;

static cairo_status_t read_mem(void *c, unsigned char *data, unsigned int n) {
  reader *r = (reader *)c;
  if (n > r->left) return CAIRO_STATUS_READ_ERROR;
  memcpy(data, r->p, n);
  r->p += n, r->left -= n;
  return CAIRO_STATUS_SUCCESS;
}

static cairo_surface_t *decode(const unsigned char *png, size_t len) {
  reader r;
  r.p = png, r.left = len;
  return cairo_image_surface_create_from_png_stream(read_mem, &r);
}

/* Pixels of a and b that differ inside the box x, y, w, h. */
static long differ(cairo_surface_t *a, cairo_surface_t *b, int x0, int y0, int w, int h) {
  long n = 0;
  int x, y, sa = cairo_image_surface_get_stride(a), sb = cairo_image_surface_get_stride(b);
  unsigned char *da = cairo_image_surface_get_data(a), *db = cairo_image_surface_get_data(b);
  for (y = y0; y < y0 + h; y++)
    for (x = x0; x < x0 + w; x++)
      n += ((unsigned *)(da + y * sa))[x] != ((unsigned *)(db + y * sb))[x];
  return n;
}

static int diff_files(char **argv) {
  cairo_surface_t *a = cairo_image_surface_create_from_png(argv[0]);
  cairo_surface_t *b = cairo_image_surface_create_from_png(argv[1]);
  int rc = 1, x = atoi(argv[2]), y = atoi(argv[3]), w = atoi(argv[4]), h = atoi(argv[5]);
  if (!cairo_surface_status(a) && !cairo_surface_status(b) && x >= 0 && y >= 0 && w >= 0 && h >= 0
      && x + w <= cairo_image_surface_get_width(a) && x + w <= cairo_image_surface_get_width(b)
      && y + h <= cairo_image_surface_get_height(a) && y + h <= cairo_image_surface_get_height(b)) {
    printf("%ld\n", differ(a, b, x, y, w, h));
    rc = 0;
  }
  cairo_surface_destroy(a);
  cairo_surface_destroy(b);
  return rc;
}

/* ---- the suite ------------------------------------------------------------ */

static unsigned char out[MPNS_TILE_MAX_BYTES];
static char dir[] = "/tmp/mpns-image-XXXXXX";

static void str(mpns_tile_spec *s, mpns_img_field f, const char *v) {
  s->field[f].set = 1, s->field[f].ptr = v, s->field[f].len = strlen(v);
}
static void num(mpns_tile_spec *s, mpns_img_field f, double v) {
  s->field[f].set = 1, s->field[f].num = v;
}

/* Renders `s`; the decoded surface, or NULL with the error in `err`. */
static cairo_surface_t *render(const mpns_tile_spec *s, size_t *len, mpns_error *err) {
  size_t n = 0;
  if (mpns_tile_render(s, out, sizeof out, &n, err) != 0) return NULL;
  if (len) *len = n;
  return decode(out, n);
}

static void test_sizes(void) {
  static const struct { const char *name; int w, h; } want[] = {
    { "small", 159, 159 }, { "medium", 336, 336 }, { "wide", 691, 336 }, { "wp7", 173, 173 } };
  mpns_error err;
  size_t i;
  for (i = 0; i < sizeof want / sizeof want[0]; i++) {
    mpns_tile_spec s;
    cairo_surface_t *img;
    memset(&s, 0, sizeof s);
    str(&s, MPNS_IMG_SIZE, want[i].name);
    str(&s, MPNS_IMG_BACKGROUND, "#1BA1E2");
    str(&s, MPNS_IMG_TEXT, "Hello");
    img = render(&s, NULL, &err);
    CHECK(img && cairo_image_surface_get_width(img) == want[i].w
          && cairo_image_surface_get_height(img) == want[i].h);
    cairo_surface_destroy(img);
  }
}

/* Text, count and title each change pixels in their own part of the tile. */
static void test_layout(void) {
  mpns_tile_spec s;
  mpns_error err;
  cairo_surface_t *plain, *full;
  memset(&s, 0, sizeof s);
  str(&s, MPNS_IMG_BACKGROUND, "#FF1BA1E2");
  plain = render(&s, NULL, &err);
  str(&s, MPNS_IMG_TEXT, "Three new messages from Ana");
  str(&s, MPNS_IMG_TITLE, "Inbox");
  num(&s, MPNS_IMG_COUNT, 5);
  full = render(&s, NULL, &err);
  CHECK(plain && full);
  if (plain && full) {
    CHECK(differ(plain, full, 20, 120, 296, 100) > 200);  /* text, mid tile */
    CHECK(differ(plain, full, 256, 0, 80, 80) > 200);     /* badge, top right */
    CHECK(differ(plain, full, 0, 290, 120, 46) > 100);    /* title, bottom left */
    CHECK(differ(plain, full, 0, 0, 150, 60) == 0);       /* nothing top left */
  }
  cairo_surface_destroy(plain);
  cairo_surface_destroy(full);
}

/* Each bad field is refused with its name in the error. */
static void test_errors(void) {
  static const struct { mpns_img_field f; const char *v; double n; const char *want; } bad[] = {
    { MPNS_IMG_SIZE, "huge", 0, "field 'size' expected \"small\"" },
    { MPNS_IMG_COLOR, "#12", 0, "field 'color' expected a colour written #AARRGGBB or #RRGGBB" },
    { MPNS_IMG_BACKGROUND, "#GG0000", 0, "field 'background' expected a colour" },
    { MPNS_IMG_BACKGROUND, "/nonexistent/bg.png", 0, "field 'background' expected a PNG or JPEG file, got '/nonexistent/bg.png' (No such" },
    { MPNS_IMG_BACKGROUND, "spec/c/image_test.c", 0, "field 'background' expected a PNG or JPEG file" },
    { MPNS_IMG_TEXT, "ok \xff", 0, "field 'text' expected valid UTF-8 text without control characters (byte 4" },
    { MPNS_IMG_TITLE, "a\x01", 0, "field 'title' expected valid UTF-8" },
    { MPNS_IMG_COUNT, NULL, 100, "field 'count' expected an integer from 0 to 99, got 100" },
    { MPNS_IMG_COUNT, NULL, 1.5, "field 'count' expected an integer from 0 to 99, got 1.5" },
    { MPNS_IMG_FONT_SIZE, NULL, 4, "field 'font_size' expected a size in pixels from 8 to 96, got 4" },
  };
  size_t i;
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    mpns_tile_spec s;
    mpns_error err;
    size_t len;
    memset(&s, 0, sizeof s);
    if (bad[i].v) str(&s, bad[i].f, bad[i].v);
    else num(&s, bad[i].f, bad[i].n);
    err.text[0] = '\0';
    CHECK(mpns_tile_render(&s, out, sizeof out, &len, &err) == -1);
    CHECK(strncmp(err.text, bad[i].want, strlen(bad[i].want)) == 0);
    if (strncmp(err.text, bad[i].want, strlen(bad[i].want)) != 0) fprintf(stderr, "  got: %s\n", err.text);
  }
  CHECK(mpns_img_field_find("font_size", 9) == MPNS_IMG_FONT_SIZE && mpns_img_field_find("titel", 5) == -1);
}

/* Noise is incompressible: the renderer falls back to a palette to stay
 * under the limit, or says it cannot; it never returns more. */
static void test_size_limit(void) {
  static const struct { const char *size, *file; } cases[] = {
    { "medium", "noise.png" }, { "medium", "alpha.png" }, { "wide", "noise.png" } };
  char path[1024];
  size_t i;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mpns_tile_spec s;
    mpns_error err;
    size_t len = 0;
    int rc;
    memset(&s, 0, sizeof s);
    snprintf(path, sizeof path, "%s/%s", dir, cases[i].file);
    str(&s, MPNS_IMG_SIZE, cases[i].size);
    str(&s, MPNS_IMG_BACKGROUND, path);
    rc = mpns_tile_render(&s, out, sizeof out, &len, &err);
    CHECK(rc == 0 ? len <= MPNS_TILE_MAX_BYTES && out[25] == 3 /* palette */
                  : strstr(err.text, "over 81920 bytes even in 16 colours") != NULL);
    if (i < 2) CHECK(rc == 0);  /* a medium tile of noise fits in 16 colours */
  }
}

/* A JPEG background covers the tile: its colour is found in the middle. */
static void test_jpeg(void) {
  mpns_tile_spec s;
  mpns_error err;
  cairo_surface_t *img;
  char path[1024];
  memset(&s, 0, sizeof s);
  snprintf(path, sizeof path, "%s/photo.jpg", dir);
  str(&s, MPNS_IMG_BACKGROUND, path);
  img = render(&s, NULL, &err);
  CHECK(img != NULL);
  if (img) {
    unsigned p = ((unsigned *)(cairo_image_surface_get_data(img) + 168 * cairo_image_surface_get_stride(img)))[168];
    CHECK(abs((int)(p >> 16 & 0xFF) - 200) < 8 && abs((int)(p >> 8 & 0xFF) - 40) < 8);
  }
  cairo_surface_destroy(img);
}

/* An opaque picture of `n` colours (n <= 256: blocks) or a gradient. */
static cairo_surface_t *picture_of(int n) {
  cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 336, 336);
  unsigned char *d = cairo_image_surface_get_data(s);
  int x, y;
  for (y = 0; y < 336; y++)
    for (x = 0; x < 336; x++)
      ((unsigned *)(d + y * cairo_image_surface_get_stride(s)))[x] = 0xFF000000u | (n <= 256
        ? ((unsigned)((x / 8 + y / 8 * 7) % n) * 0x4F1BBDu) & 0xFFFFFFu
        : (unsigned)(x * 255 / 335) << 16 | (unsigned)(y * 255 / 335) << 8 | 128u);
  cairo_surface_mark_dirty(s);
  return s;
}

/* The rungs that keep colours lose nothing: the tile's own palette when it
 * has at most 256 colours, else full colour; decoded, every pixel is back. */
static void test_lossless(void) {
  static const struct { int n, type; } cases[] = { { 200, 3 }, { 257, 2 }, { 65536, 2 } };
  size_t i;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cairo_surface_t *s = picture_of(cases[i].n), *back;
    mpns_img_palette pal;
    mpns_error err;
    size_t len = 0;
    CHECK(mpns_img_exact_palette(s, &pal) == (cases[i].n <= 256));
    if (cases[i].n <= 256) {
      CHECK(pal.n == cases[i].n);
      mpns_img_palette_free(&pal);
    }
    CHECK(mpns_img_encode(s, out, sizeof out, &len, &err) == 0);
    back = decode(out, len);
    CHECK(out[25] == cases[i].type);  /* PNG colour type: 3 palette, 2 RGB */
    CHECK(cairo_surface_status(back) == CAIRO_STATUS_SUCCESS && differ(s, back, 0, 0, 336, 336) == 0);
    cairo_surface_destroy(back);
    cairo_surface_destroy(s);
  }
}

int main(int argc, char **argv) {
  char cmd[1100];
  if (argc == 3 && strcmp(argv[1], "--fixtures") == 0) return fixtures(argv[2]);
  if (argc == 8 && strcmp(argv[1], "--diff") == 0) return diff_files(argv + 2);
  if (!mkdtemp(dir) || fixtures(dir) != 0) return fprintf(stderr, "no fixtures in %s\n", dir), 1;
  test_sizes();
  test_layout();
  test_errors();
  test_size_limit();
  test_jpeg();
  test_lossless();
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
