/*
 * image.h: tile images rendered in C with cairo, for the phone to download.
 * No lua_State and no cairo type in sight: limage.c, a C caller and the
 * C test use only this. The renderer never returns an image over `cap`
 * bytes (MPNS_TILE_MAX_BYTES: the phone refuses bigger ones).
 */
#ifndef MPNS_IMAGE_H
#define MPNS_IMAGE_H

#include <stddef.h>
#include "mpns.h"

#define MPNS_TILE_MAX_BYTES 81920  /* 80 KB: the phone's limit */

/* The fields of a tile image, in the order errors and docs list them. */
typedef enum {
  MPNS_IMG_SIZE, MPNS_IMG_BACKGROUND, MPNS_IMG_TEXT, MPNS_IMG_TITLE,
  MPNS_IMG_COUNT, MPNS_IMG_FONT_SIZE, MPNS_IMG_COLOR, MPNS_IMG_FIELD_COUNT
} mpns_img_field;

typedef struct {
  int set;
  const char *ptr;      /* string fields; may hold NUL bytes (then refused) */
  size_t len;
  double num;           /* count, font_size */
} mpns_img_value;

typedef struct { mpns_img_value field[MPNS_IMG_FIELD_COUNT]; } mpns_tile_spec;

/* Field names ("size", "background", ...) and whether each is a number. */
extern const char *const mpns_img_field_name[MPNS_IMG_FIELD_COUNT];
extern const unsigned char mpns_img_field_is_number[MPNS_IMG_FIELD_COUNT];
/* The field called `name` (`len` bytes), or -1. */
int mpns_img_field_find(const char *name, size_t len);

/* Validates `spec`, renders the tile and writes its PNG into `out`, at most
 * `cap` bytes (colours are reduced to a palette when the full-colour PNG
 * would be bigger). Returns 0 and sets `*len`, or -1 with `err` naming the
 * field at fault or saying why the image cannot fit. Thread-safe. */
int mpns_tile_render(const mpns_tile_spec *spec, unsigned char *out, size_t cap,
                     size_t *len, mpns_error *err);

#endif
