/*
 * image.c: mpns_tile_render. Checks a tile spec field by field (each error
 * names its field), paints the background and hands over to image_draw.c
 * (text, badge, title) and image_png.c (the 80 KB-bounded PNG).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "image_int.h"

const char *const mpns_img_field_name[MPNS_IMG_FIELD_COUNT] = {
  "size", "background", "text", "title", "count", "font_size", "color" };
const unsigned char mpns_img_field_is_number[MPNS_IMG_FIELD_COUNT] = { 0, 0, 0, 0, 1, 1, 0 };

/* Tile sizes in pixels: WP8's three, and WP7's one. */
static const struct { const char *name; int w, h; } sizes[] = {
  { "small", 159, 159 }, { "medium", 336, 336 }, { "wide", 691, 336 }, { "wp7", 173, 173 },
};
#define SIZE_COUNT (sizeof sizes / sizeof sizes[0])
#define DEFAULT_SIZE 1                      /* medium */
#define FONT_MIN 8.0
#define FONT_MAX 96.0

int mpns_img_field_find(const char *name, size_t len) {
  int f;
  for (f = 0; f < MPNS_IMG_FIELD_COUNT; f++)
    if (strlen(mpns_img_field_name[f]) == len && memcmp(mpns_img_field_name[f], name, len) == 0)
      return f;
  return -1;
}

int mpns_img_fail(mpns_error *err, mpns_img_field f, const char *fmt, ...) {
  va_list ap;
  int n = snprintf(err->text, sizeof err->text, "field '%s' ", mpns_img_field_name[f]);
  va_start(ap, fmt);
  vsnprintf(err->text + n, sizeof err->text - (size_t)n, fmt, ap);
  va_end(ap);
  return -1;
}

/* "expected <what>, got "<value>"" with the value cut at 40 bytes. */
static int bad_value(mpns_error *err, mpns_img_field f, const char *what,
                     const mpns_img_value *v) {
  int n = v->len > 40 ? 40 : (int)v->len;
  return mpns_img_fail(err, f, "expected %s, got \"%.*s%s\"", what, n, v->ptr,
                       v->len > 40 ? "..." : "");
}

static int hex(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* "#AARRGGBB" or "#RRGGBB" (opaque) into rgba[0..3]; 0 if neither. */
static int parse_color(const char *s, size_t len, double rgba[4]) {
  unsigned char b[4] = { 255, 0, 0, 0 };     /* a, r, g, b */
  size_t i, first = len == 7 ? 1 : 0;
  if ((len != 9 && len != 7) || s[0] != '#') return 0;
  for (i = 1; i < len; i += 2) {
    int hi = hex((unsigned char)s[i]), lo = hex((unsigned char)s[i + 1]);
    if (hi < 0 || lo < 0) return 0;
    b[first + (i - 1) / 2] = (unsigned char)(hi * 16 + lo);
  }
  for (i = 0; i < 4; i++) rgba[i] = b[(i + 1) % 4] / 255.0;
  return 1;
}

#define COLOR_WANTED "a colour written #AARRGGBB or #RRGGBB, such as #FF1BA1E2"

/* A NUL-terminated copy of text or title: UTF-8, tabs and CRs as spaces,
 * and (for the one-line title) newlines too. NULL with `err` if refused. */
static char *text_copy(const mpns_img_value *v, mpns_img_field f, mpns_error *err) {
  long bad = mpns_utf8_check(v->ptr, v->len);
  char *s;
  size_t i;
  if (bad >= 0) {
    mpns_img_fail(err, f, "expected valid UTF-8 text without control characters "
                  "(byte %ld is not allowed)", bad + 1);
    return NULL;
  }
  if (!(s = malloc(v->len + 1))) {
    mpns_img_fail(err, f, "could not be copied: out of memory");
    return NULL;
  }
  for (i = 0; i < v->len; i++) {
    char c = v->ptr[i];
    s[i] = (c == '\t' || c == '\r' || (c == '\n' && f == MPNS_IMG_TITLE)) ? ' ' : c;
  }
  s[v->len] = '\0';
  return s;
}

/* The checked size (index into `sizes`), or -1. */
static int check_size(const mpns_img_value *v, mpns_error *err) {
  size_t i;
  if (!v->set) return DEFAULT_SIZE;
  for (i = 0; i < SIZE_COUNT; i++)
    if (strlen(sizes[i].name) == v->len && memcmp(sizes[i].name, v->ptr, v->len) == 0)
      return (int)i;
  return bad_value(err, MPNS_IMG_SIZE, "\"small\" (159x159), \"medium\" (336x336), "
                   "\"wide\" (691x336) or \"wp7\" (173x173)", v);
}

/* Count, font size and colour into `lay`; -1 and `err` on a bad one. */
static int check_numbers(const mpns_tile_spec *spec, int h, mpns_img_layout *lay,
                         mpns_error *err) {
  const mpns_img_value *c = &spec->field[MPNS_IMG_COUNT], *fs = &spec->field[MPNS_IMG_FONT_SIZE];
  const mpns_img_value *col = &spec->field[MPNS_IMG_COLOR];
  if (c->set && !(c->num >= 0 && c->num <= 99 && c->num == floor(c->num)))
    return mpns_img_fail(err, MPNS_IMG_COUNT, "expected an integer from 0 to 99, got %g", c->num);
  if (fs->set && !(fs->num >= FONT_MIN && fs->num <= FONT_MAX))
    return mpns_img_fail(err, MPNS_IMG_FONT_SIZE,
                         "expected a size in pixels from %g to %g, got %g", FONT_MIN, FONT_MAX, fs->num);
  lay->count = c->set ? (int)c->num : 0;
  lay->font_size = fs->set ? fs->num : mpns_img_default_font(h);
  if (!col->set) { lay->rgba[0] = lay->rgba[1] = lay->rgba[2] = lay->rgba[3] = 1.0; return 0; }
  if (!parse_color(col->ptr, col->len, lay->rgba))
    return bad_value(err, MPNS_IMG_COLOR, COLOR_WANTED, col);
  return 0;
}

/* Scales `img` to cover w x h, centred (the overflow is cut, as WP did). */
static void cover(cairo_t *cr, cairo_surface_t *img, int w, int h) {
  int iw = cairo_image_surface_get_width(img), ih = cairo_image_surface_get_height(img);
  double sc = fmax((double)w / iw, (double)h / ih);
  cairo_save(cr);
  cairo_translate(cr, (w - iw * sc) / 2, (h - ih * sc) / 2);
  cairo_scale(cr, sc, sc);
  cairo_set_source_surface(cr, img, 0, 0);
  cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD);
  cairo_paint(cr);
  cairo_restore(cr);
}

#define BACKGROUND_WANTED COLOR_WANTED ", or the path of a PNG or JPEG file"

/* A colour, or a file read with mpns_img_load; *img stays NULL for a colour. */
static int read_background(const mpns_img_value *v, int w, int h, double rgba[4],
                           cairo_surface_t **img, mpns_error *err) {
  char path[4096];
  if (v->len == 0 || memchr(v->ptr, '\0', v->len) || v->len >= sizeof path)
    return bad_value(err, MPNS_IMG_BACKGROUND, BACKGROUND_WANTED, v);
  if (v->ptr[0] == '#')
    return parse_color(v->ptr, v->len, rgba) ? 0 : bad_value(err, MPNS_IMG_BACKGROUND, COLOR_WANTED, v);
  memcpy(path, v->ptr, v->len);
  path[v->len] = '\0';
  return (*img = mpns_img_load(path, w, h, err)) ? 0 : -1;
}

/* A context on a w x h surface with the background painted; unset is
 * transparent (the phone's accent colour shows through). An opaque tile is
 * RGB24, which makes a smaller PNG. NULL and `err` on a bad background. */
static cairo_t *background(const mpns_img_value *v, int w, int h, mpns_error *err) {
  double rgba[4] = { 0, 0, 0, 0 };
  cairo_surface_t *img = NULL, *s;
  cairo_t *cr;
  int opaque;
  if (v->set && read_background(v, w, h, rgba, &img, err) != 0) return NULL;
  opaque = img ? cairo_image_surface_get_format(img) == CAIRO_FORMAT_RGB24 : rgba[3] == 1.0;
  s = cairo_image_surface_create(opaque ? CAIRO_FORMAT_RGB24 : CAIRO_FORMAT_ARGB32, w, h);
  cr = cairo_create(s);
  cairo_surface_destroy(s);                 /* cr holds it */
  if (img) {
    cover(cr, img, w, h);
    cairo_surface_destroy(img);
  } else if (v->set) {
    cairo_set_source_rgba(cr, rgba[0], rgba[1], rgba[2], rgba[3]);
    cairo_set_operator(cr, CAIRO_OPERATOR_SOURCE);
    cairo_paint(cr);
    cairo_set_operator(cr, CAIRO_OPERATOR_OVER);
  }
  return cr;
}

/* Text and title as checked NUL-terminated copies in `lay`. */
static int read_texts(const mpns_tile_spec *spec, mpns_img_layout *lay, char **text,
                      char **title, mpns_error *err) {
  if (spec->field[MPNS_IMG_TEXT].set &&
      !(*text = text_copy(&spec->field[MPNS_IMG_TEXT], MPNS_IMG_TEXT, err)))
    return -1;
  if (spec->field[MPNS_IMG_TITLE].set &&
      !(*title = text_copy(&spec->field[MPNS_IMG_TITLE], MPNS_IMG_TITLE, err)))
    return -1;
  lay->text = *text;
  lay->title = *title;
  return 0;
}

int mpns_tile_render(const mpns_tile_spec *spec, unsigned char *out, size_t cap,
                     size_t *len, mpns_error *err) {
  mpns_img_layout lay;
  char *text = NULL, *title = NULL;
  cairo_t *cr;
  int sz, rc = -1;
  memset(&lay, 0, sizeof lay);
  if ((sz = check_size(&spec->field[MPNS_IMG_SIZE], err)) < 0 ||
      check_numbers(spec, sizes[sz].h, &lay, err) != 0 ||
      read_texts(spec, &lay, &text, &title, err) != 0 ||
      !(cr = background(&spec->field[MPNS_IMG_BACKGROUND], sizes[sz].w, sizes[sz].h, err))) {
    free(text);
    free(title);
    return -1;
  }
  mpns_img_draw(cr, sizes[sz].w, sizes[sz].h, &lay);
  if (cairo_status(cr) != CAIRO_STATUS_SUCCESS)
    snprintf(err->text, sizeof err->text, "the tile could not be drawn: %s",
             cairo_status_to_string(cairo_status(cr)));
  else
    rc = mpns_img_encode(cairo_get_target(cr), out, cap, len, err);
  cairo_destroy(cr);
  free(text);
  free(title);
  return rc;
}
