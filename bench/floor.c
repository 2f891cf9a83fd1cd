/*
 * floor.c: the cheapest a table-taking constructor can be in this VM. It
 * walks the table, returns a userdata with a __gc metatable whose body()
 * returns a 234-byte string (the same one each time), and builds nothing. bench/messages.lua
 * measures it beside the real constructor, so the gap is the C core's work.
 */
#include <string.h>
#include <lua.h>
#include <lauxlib.h>

static char body[234];

static int floor_gc(lua_State *L) { (void)L; return 0; }

static int floor_body(lua_State *L) {
  lua_pushlstring(L, body, sizeof body);
  return 1;
}

static int floor_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  for (lua_pushnil(L); lua_next(L, 1); lua_pop(L, 1)) lua_tostring(L, -1);
  lua_newuserdata(L, sizeof(void *));
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_setmetatable(L, -2);
  return 1;
}

int luaopen_floor(lua_State *L) {
  memset(body, 'x', sizeof body);
  lua_createtable(L, 0, 2);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, floor_body);
  lua_setfield(L, -2, "body");
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, floor_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcclosure(L, floor_new, 1);
  return 1;
}
