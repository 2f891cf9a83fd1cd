/*
 * lua_asan.c: a minimal lua5.4 for `make check-asan`. Built with ASan and
 * UBSan and linked to liblua5.4, it loads mpns/core.so built the same way,
 * so the sanitizers' runtime lives in this executable, not in LD_PRELOAD:
 * the curl and nginx children the specs start stay uninstrumented (a
 * preloaded libasan deadlocked them). Runs `lua_asan script [args]` as
 * lua5.4 does: `arg` set, the script's errors on stderr, status 1.
 */
#include <stdio.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>

static lua_State *state;  /* a root for LeakSanitizer when a script calls os.exit */

static int traceback(lua_State *L) {
  luaL_traceback(L, L, lua_tostring(L, 1), 1);
  return 1;
}

/* arg[0] is the script, arg[1..] what follows it, arg[-1] this program. */
static void set_arg(lua_State *L, int argc, char **argv) {
  int i;
  lua_createtable(L, argc - 2, 2);
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - 1);
  }
  lua_setglobal(L, "arg");
}

int main(int argc, char **argv) {
  int i, rc;
  if (argc < 2) {
    fprintf(stderr, "usage: %s script.lua [args]\n", argv[0]);
    return 2;
  }
  state = luaL_newstate();
  if (!state) return 1;
  luaL_openlibs(state);
  set_arg(state, argc, argv);
  lua_pushcfunction(state, traceback);
  rc = luaL_loadfile(state, argv[1]);
  if (rc == LUA_OK) {
    for (i = 2; i < argc; i++) lua_pushstring(state, argv[i]);
    rc = lua_pcall(state, argc - 2, 0, 1);
  }
  if (rc != LUA_OK) fprintf(stderr, "%s: %s\n", argv[0], lua_tostring(state, -1));
  lua_close(state);
  return rc == LUA_OK ? 0 : 1;
}
