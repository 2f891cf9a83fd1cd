/*
 * limage.c: luaopen_mpns_image, the Lua face of the tile renderer
 * (image*.c). A module of its own, so that cairo is loaded only by those
 * who render: mpns.core (and every nginx worker) stays free of it.
 */
#include <string.h>
#include "compat.h"
#include "image.h"

#if defined(__GNUC__)
#define MPNS_EXPORT __attribute__((visibility("default")))
#else
#define MPNS_EXPORT
#endif

#define UV_OUT lua_upvalueindex(1)   /* an 80 KB userdata the PNG is written into */

static int field_error(lua_State *L, const char *fmt, const char *a, const char *b) {
  return luaL_error(L, "mpns.image.tile: %s", lua_pushfstring(L, fmt, a, b));
}

/* Reads the table at 1 into `spec`; strings stay owned by the table. */
static void read_fields(lua_State *L, mpns_tile_spec *spec) {
  luaL_checktype(L, 1, LUA_TTABLE);
  for (lua_pushnil(L); lua_next(L, 1); lua_pop(L, 1)) {
    mpns_img_value *v;
    size_t len;
    const char *name;
    int f, t = lua_type(L, -1);
    if (lua_type(L, -2) != LUA_TSTRING)
      field_error(L, "field names are strings, got %s", luaL_typename(L, -2), NULL);
    name = lua_tolstring(L, -2, &len);
    if ((f = mpns_img_field_find(name, len)) < 0) field_error(L, "unknown field '%s'", name, NULL);
    if (t != (mpns_img_field_is_number[f] ? LUA_TNUMBER : LUA_TSTRING))
      field_error(L, "field '%s' expected %s", name, lua_pushfstring(L, "%s, got %s",
                  mpns_img_field_is_number[f] ? "a number" : "a string", luaL_typename(L, -1)));
    v = &spec->field[f];
    v->set = 1;
    if (t == LUA_TNUMBER) v->num = (double)lua_tonumber(L, -1);
    else v->ptr = lua_tolstring(L, -1, &v->len);
  }
}

/***
 * Renders a tile image (README "Tile images"). Bad input raises, naming the field.
 * @function tile
 * @tparam table spec `size` ("small", "medium", "wide", "wp7"), `background`
 *   ("#AARRGGBB", "#RRGGBB" or a PNG/JPEG path), `text`, `title`, `count`
 *   (0..99), `font_size` (8..96 pixels), `color`
 * @treturn string the PNG's bytes, at most 81,920 (`mpns.image.MAX_BYTES`)
 */
static int image_tile(lua_State *L) {
  mpns_tile_spec spec;
  mpns_error err;
  size_t len;
  memset(&spec, 0, sizeof spec);
  read_fields(L, &spec);
  if (mpns_tile_render(&spec, (unsigned char *)lua_touserdata(L, UV_OUT), MPNS_TILE_MAX_BYTES,
                       &len, &err) != 0)
    return luaL_error(L, "mpns.image.tile: %s", err.text);
  lua_pushlstring(L, (const char *)lua_touserdata(L, UV_OUT), len);
  return 1;
}

MPNS_EXPORT int luaopen_mpns_image(lua_State *L) {
  lua_newtable(L);
  mpns_newuserdata(L, MPNS_TILE_MAX_BYTES);
  lua_pushcclosure(L, image_tile, 1);
  lua_setfield(L, -2, "tile");
  lua_pushinteger(L, MPNS_TILE_MAX_BYTES);
  lua_setfield(L, -2, "MAX_BYTES");
  return 1;
}
