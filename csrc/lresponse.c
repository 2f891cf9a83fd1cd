/* lresponse.c: mpns.parse_response(status, headers) and the result table
 * every send also returns. */
#include <strings.h>
#include "lmpns.h"

#define RESULT_MT "mpns.result"

static void set_string(lua_State *L, const char *key, const char *value) {
  if (!value) return;
  lua_pushstring(L, value);
  lua_setfield(L, -2, key);
}

void mpns_push_result(lua_State *L, int status, const char *notification,
                      const char *device, const char *subscription,
                      const char *message_id, mpns_advice a) {
  lua_createtable(L, 0, 10);
  luaL_getmetatable(L, RESULT_MT);
  lua_setmetatable(L, -2);
  lua_pushinteger(L, status);
  lua_setfield(L, -2, "status");
  set_string(L, "notification_status", notification);
  set_string(L, "device_connection_status", device);
  set_string(L, "subscription_status", subscription);
  set_string(L, "message_id", message_id);
  lua_pushstring(L, mpns_outcome_name(a.outcome));
  lua_setfield(L, -2, "outcome");
  lua_pushboolean(L, a.ok);
  lua_setfield(L, -2, "ok");
  lua_pushboolean(L, a.delete_channel);
  lua_setfield(L, -2, "delete_channel");
  if (a.retry_after >= 0) {
    lua_pushinteger(L, a.retry_after);
    lua_setfield(L, -2, "retry_after");
  }
}

/* "expired: HTTP 404, Dropped/Connected/Expired (uri)", "-" for a header
 * MPNS did not send; the uri when a send added it. */
static int result_tostring(lua_State *L) {
  static const char *const keys[] = {
    "outcome", "status", "notification_status", "device_connection_status",
    "subscription_status", "uri"
  };
  int i;
  luaL_checktype(L, 1, LUA_TTABLE);
  for (i = 0; i < 6; i++) lua_getfield(L, 1, keys[i]);
  lua_pushfstring(L, "%s: HTTP %s, %s/%s/%s", luaL_optstring(L, 2, "?"),
                  luaL_optstring(L, 3, "?"), luaL_optstring(L, 4, "-"),
                  luaL_optstring(L, 5, "-"), luaL_optstring(L, 6, "-"));
  if (lua_type(L, 7) == LUA_TSTRING)
    lua_pushfstring(L, "%s (%s)", lua_tostring(L, -1), lua_tostring(L, 7));
  return 1;
}

static const char *const wanted[] = {
  "X-NotificationStatus", "X-DeviceConnectionStatus", "X-SubscriptionStatus",
  "X-MessageID"
};

/* A header's value: a string, or the first of a list of strings. */
static const char *header_value(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TTABLE) {
    lua_rawgeti(L, idx, 1);
    lua_replace(L, idx);
  }
  return lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : NULL;
}

/* mpns.parse_response(status, headers): names match case-insensitively. */
static int parse_response(lua_State *L) {
  const char *value[4] = { NULL, NULL, NULL, NULL };
  lua_Number n = luaL_checknumber(L, 1);
  int status, i;
  /* Compared as a number first: a cast of 4294967496 would read as 200. */
  if (!(n >= 100 && n <= 599) || n != (lua_Number)(int)n)
    return luaL_argerror(L, 1, lua_pushfstring(L, "expected an HTTP status from 100 to 599, got %s",
                                               lua_tostring(L, 1)));
  status = (int)n;
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  lua_newtable(L);  /* index 3 keeps the values alive */
  for (lua_pushnil(L); !lua_isnil(L, 2) && lua_next(L, 2); lua_pop(L, 1)) {
    const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    for (i = 0; name && i < 4; i++) {
      if (strcasecmp(name, wanted[i]) != 0) continue;
      lua_pushvalue(L, -1);
      value[i] = header_value(L, lua_gettop(L));
      lua_rawseti(L, 3, i + 1);
    }
  }
  mpns_push_result(L, status, value[0], value[1], value[2], value[3],
                   mpns_answer_advise(status, value[0], value[2]));
  return 1;
}

void mpns_open_response(lua_State *L) {
  luaL_newmetatable(L, RESULT_MT);
  lua_pushcfunction(L, result_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  lua_pushcfunction(L, parse_response);
  lua_setfield(L, -2, "parse_response");
}
