/*
 * compat.h: the few Lua 5.4 API calls LuaJIT (5.1 ABI) lacks. Every shim is
 * static and carries the project's prefix: no global luaL_* symbols.
 */
#ifndef MPNS_COMPAT_H
#define MPNS_COMPAT_H

#include <limits.h>
#include <lua.h>
#include <lauxlib.h>
#include "intlimit.h"

#if LUA_VERSION_NUM < 502
static inline void mpns_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
  for (; l->name; l++) {
    int i;
    for (i = 0; i < nup; i++) lua_pushvalue(L, -nup);
    lua_pushcclosure(L, l->func, nup);
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}
#define mpns_newuserdata(L, sz) lua_newuserdata(L, sz)
#define mpns_rawlen(L, i) lua_objlen(L, i)
#define mpns_isinteger(L, i, out) mpns_isinteger51(L, i, out)
#define MPNS_INTEGER_LIMIT MPNS_INT_LIMIT((int)(sizeof(lua_Integer) * CHAR_BIT))
static inline int mpns_isinteger51(lua_State *L, int i, lua_Integer *out) {
  lua_Number n = lua_tonumber(L, i);
  /* range first: casting 1e300, NaN or (with a 32-bit ptrdiff_t) 2^40 to
   * lua_Integer is undefined */
  if (lua_type(L, i) != LUA_TNUMBER || !(n >= -MPNS_INTEGER_LIMIT && n < MPNS_INTEGER_LIMIT) ||
      n != (lua_Number)(lua_Integer)n) return 0;
  *out = (lua_Integer)n;
  return 1;
}
#else
#define mpns_setfuncs(L, l, nup) luaL_setfuncs(L, l, nup)
#define mpns_newuserdata(L, sz) lua_newuserdatauv(L, sz, 1)
#define mpns_rawlen(L, i) lua_rawlen(L, i)
#define mpns_isinteger(L, i, out) mpns_isinteger54(L, i, out)
static inline int mpns_isinteger54(lua_State *L, int i, lua_Integer *out) {
  int ok = 0;
  *out = lua_tointegerx(L, i, &ok);
  return ok && lua_type(L, i) == LUA_TNUMBER;
}
#endif

#endif
