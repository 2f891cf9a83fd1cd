/*
 * image_draw.c: what a Windows Phone tile shows over its background: the
 * text wrapped in the middle, the count badge top right and the title
 * bottom left, in DejaVu Sans (fonts-dejavu-core) through cairo's toy font
 * API. The face is resolved through fontconfig once per process, not per
 * render: fontconfig's matching costs more than a tile.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "image_int.h"

#define PI 3.14159265358979323846
#define MAX_LINES 64
#define LONGEST_WORD 1024  /* bytes: wider than any tile, so never measured whole */

/* Proportions of the tile's height, read off WP8's medium tile. */
#define PAD 0.045       /* the margin */
#define TITLE 0.075     /* the title's size */
#define BADGE 0.09      /* the count badge's radius */
#define BADGE_FONT 0.11 /* the count's size */
#define TEXT 0.085      /* the text's default size */

static cairo_font_face_t *face;
static cairo_font_options_t *options;
static pthread_once_t font_once = PTHREAD_ONCE_INIT;

static void load_font(void) {
  face = cairo_toy_font_face_create("DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                                    CAIRO_FONT_WEIGHT_NORMAL);
  options = cairo_font_options_create();
  cairo_font_options_set_antialias(options, CAIRO_ANTIALIAS_GRAY);
  cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_OFF);
}

double mpns_img_default_font(int h) { return TEXT * h; }

static void use_font(cairo_t *cr, double size, const double rgba[4]) {
  cairo_set_font_face(cr, face);
  cairo_set_font_options(cr, options);
  cairo_set_font_size(cr, size);
  cairo_set_source_rgba(cr, rgba[0], rgba[1], rgba[2], rgba[3]);
}

/* The advance of s[0..n); s is ours, so it is cut with a NUL for cairo. */
static double width_of(cairo_t *cr, char *s, size_t n) {
  cairo_text_extents_t e;
  char c = s[n];
  s[n] = '\0';
  cairo_text_extents(cr, s, &e);
  s[n] = c;
  return e.x_advance;
}

static size_t next_char(const char *s, size_t i) {
  for (i++; (s[i] & 0xC0) == 0x80; i++) {}
  return i;
}

/* The end of the longest run from `s` that fits `maxw`: after a whole word
 * when one fits, else at a character boundary (a word longer than a line). */
static size_t fit(cairo_t *cr, char *s, double maxw) {
  size_t end = 0, i = 0, j;
  for (;;) {
    for (j = i; s[j] && s[j] != ' ' && s[j] != '\n'; j++) {}
    if (j - i > LONGEST_WORD || width_of(cr, s, j) > maxw) break;
    end = j;
    if (s[j] != ' ') return end;
    i = j + 1;
  }
  if (end > 0) return end;
  end = next_char(s, 0);
  while (s[end] && s[end] != ' ' && s[end] != '\n') {
    size_t n = next_char(s, end);
    if (width_of(cr, s, n) > maxw) break;
    end = n;
  }
  return end;
}

typedef struct { char *s; size_t len; } line;

/* Breaks `s` into at most `max` lines of `maxw`; newlines break too. */
static int wrap(cairo_t *cr, char *s, double maxw, line *lines, int max) {
  int n = 0;
  while (n < max) {
    size_t end;
    while (*s == ' ') s++;
    if (!*s) break;
    end = fit(cr, s, maxw);
    lines[n].s = s;
    for (lines[n].len = end; lines[n].len > 0 && s[lines[n].len - 1] == ' '; lines[n].len--) {}
    n++;
    s += end;
    if (*s == '\n') s++;
  }
  return n;
}

/* The text, centred line by line and as a block between top and bottom;
 * what does not fit is cut. */
static void draw_text(cairo_t *cr, int w, double top, double bottom, const mpns_img_layout *lay) {
  line lines[MAX_LINES];
  cairo_font_extents_t fe;
  double pad = PAD * cairo_image_surface_get_height(cairo_get_target(cr)), y;
  int i, n, max;
  use_font(cr, lay->font_size, lay->rgba);
  cairo_font_extents(cr, &fe);
  max = (int)((bottom - top) / fe.height);
  max = max < 1 ? 1 : max > MAX_LINES ? MAX_LINES : max;
  n = wrap(cr, lay->text, w - 2 * pad, lines, max);
  y = top + ((bottom - top) - n * fe.height) / 2 + fe.ascent;
  for (i = 0; i < n; i++, y += fe.height) {
    char c = lines[i].s[lines[i].len];
    lines[i].s[lines[i].len] = '\0';
    cairo_move_to(cr, (w - width_of(cr, lines[i].s, lines[i].len)) / 2, y);
    cairo_show_text(cr, lines[i].s);
    lines[i].s[lines[i].len] = c;
  }
}

/* The count in a translucent dark disc, top right. */
static void draw_count(cairo_t *cr, int w, int h, const mpns_img_layout *lay) {
  double r = BADGE * h, cx = w - PAD * h - r, cy = PAD * h + r;
  cairo_text_extents_t e;
  char num[12];
  snprintf(num, sizeof num, "%d", lay->count);
  cairo_new_path(cr);
  cairo_arc(cr, cx, cy, r, 0, 2 * PI);
  cairo_set_source_rgba(cr, 0, 0, 0, 0.35);
  cairo_fill(cr);
  use_font(cr, BADGE_FONT * h, lay->rgba);
  cairo_text_extents(cr, num, &e);
  cairo_move_to(cr, cx - e.x_bearing - e.width / 2, cy - e.y_bearing - e.height / 2);
  cairo_show_text(cr, num);
}

/* The title on one line, bottom left, cut at the right margin. */
static void draw_title(cairo_t *cr, int w, int h, const mpns_img_layout *lay) {
  cairo_font_extents_t fe;
  use_font(cr, TITLE * h, lay->rgba);
  cairo_font_extents(cr, &fe);
  cairo_save(cr);
  cairo_rectangle(cr, PAD * h, 0, w - 2 * PAD * h, h);
  cairo_clip(cr);
  cairo_move_to(cr, PAD * h, h - PAD * h - fe.descent);
  cairo_show_text(cr, lay->title);
  cairo_restore(cr);
}

void mpns_img_draw(cairo_t *cr, int w, int h, const mpns_img_layout *lay) {
  double top = PAD * h, bottom = h - PAD * h;
  pthread_once(&font_once, load_font);
  if (lay->count > 0) {
    draw_count(cr, w, h, lay);
    top += 2 * BADGE * h + PAD * h / 2;
  }
  if (lay->title && *lay->title) {
    draw_title(cr, w, h, lay);
    bottom -= 1.4 * TITLE * h;
  }
  if (lay->text && *lay->text) draw_text(cr, w, top, bottom, lay);
}
