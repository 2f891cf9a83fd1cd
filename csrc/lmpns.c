/* lmpns.c: luaopen_mpns_core, the module's C entry point. */
#include "lmpns.h"

#if defined(__GNUC__)
#define MPNS_EXPORT __attribute__((visibility("default")))
#else
#define MPNS_EXPORT
#endif

MPNS_EXPORT int luaopen_mpns_core(lua_State *L) {
  lua_newtable(L);
  mpns_open_message(L);
  mpns_open_response(L);
  mpns_open_client(L);
  mpns_open_signal(L);
  return 1;
}
