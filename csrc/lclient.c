/*
 * lclient.c: the Lua face of mpns_client. Each client keeps one table as
 * its user value (its "env"; a callback that refers to its own client then
 * makes a cycle the collector can still free). The env holds the callbacks
 * of pending sends and timers under luaL_ref keys, the on_error callbacks
 * and the ctx values under the same key in env.errs and env.ctxs, and
 * on_callback_error. Callbacks run under
 * lua_pcall after curl has returned; the first error a callback raises is
 * re-raised from run/step/send once the engine is consistent, unless
 * client.on_callback_error takes it.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "lmpns.h"

#define CLIENT_MT "mpns.client"
#define SEND_ERROR_MT "mpns.send_error"
#define STATS_MT "mpns.client_stats"
#define BUSY "loop already running"

typedef struct {
  mpns_client *c;     /* NULL once freed */
  lua_State *L;       /* the thread driving the engine right now */
  int envidx;         /* stack index of the env in L's current frame */
  int err;            /* registry ref of a callback error to re-raise */
  int running;        /* inside run, step or send */
  int closed;
  int dropped;        /* sends a __gc / __close ended as "closed" */
} lclient;

static lclient *check_client(lua_State *L) {
  lclient *lc = (lclient *)luaL_checkudata(L, 1, CLIENT_MT);
  if (lc->closed) luaL_error(L, "mpns.client: used after close");
  return lc;
}

#if LUA_VERSION_NUM < 502
#define mpns_getuv(L, i) lua_getfenv(L, i)
#define mpns_setuv(L, i) lua_setfenv(L, i)
#else
#define mpns_getuv(L, i) ((void)lua_getiuservalue(L, i, 1))
#define mpns_setuv(L, i) ((void)lua_setiuservalue(L, i, 1))
#endif

/* Pushes the env of the client at index 1 (every method's self). */
static void push_env(lua_State *L) { mpns_getuv(L, 1); }

/* Stack room the callbacks need above the frame that drives the engine:
 * the env, on_done's call_done with 3 arguments (and LuaJIT's frame slot),
 * and the LUA_MINSTACK slots lua_pcall gives call_done. remember's 3 come
 * once that frame is gone; on_timer needs less. */
#define CALLBACK_ROOM (1 + 5 + LUA_MINSTACK)

/* Raises while that is still harmless if the callbacks would have no room:
 * they cannot raise, and must not drop an outcome. */
static void reserve(lua_State *L) {
  luaL_checkstack(L, CALLBACK_ROOM,
                  "mpns.client: no Lua stack room to run callbacks");
}

/* Runs under lua_pcall: on some LuaJIT 2.1 builds lua_checkstack itself
 * raises "stack overflow" when the whole stack is full. */
static int grow(lua_State *L) {
  lua_pushboolean(L, lua_checkstack(L, CALLBACK_ROOM));
  return 1;
}

/* reserve for __gc and __close: never raises, says if the callbacks have
 * room. The protected grow leaves room above this frame too. */
static int has_room(lua_State *L) {
  int ok;
  lua_pushcfunction(L, grow);
  ok = lua_pcall(L, 0, 1, 0) == 0 && lua_toboolean(L, -1);
  lua_pop(L, 1);
  return ok && lua_checkstack(L, CALLBACK_ROOM);
}

/* Points the callbacks at this frame, the one of the C function that
 * drives the engine: they find the env at envidx and run in the room the
 * caller made sure of. */
static void attach(lua_State *L, lclient *lc) {
  push_env(L);
  lc->L = L;
  lc->envidx = lua_gettop(L);
}

/* Before the engine may call back. May raise, before it changes anything. */
static void bind(lua_State *L, lclient *lc) {
  reserve(L);
  attach(L, lc);
}

/* Frees the engine and drops every callback once nothing is using them.
 * Called from a method, so the client is at index 1. */
static void release(lua_State *L, lclient *lc) {
  if (lc->running) return;
  mpns_client_free(lc->c);
  lc->c = NULL;
  lua_newtable(L);
  mpns_setuv(L, 1);
}

/* ---- callback errors ---------------------------------------------------- */

/* The error on top of the stack goes to on_callback_error, or is kept (the
 * first one) for the caller of run/step/send. Pops it. */
static void remember(lua_State *L, lclient *lc) {
  lua_pushvalue(L, lc->envidx);
  lua_getfield(L, -1, "on_callback_error");
  lua_remove(L, -2);
  if (lua_isfunction(L, -1)) {
    lua_insert(L, -2);
    if (lua_pcall(L, 1, 0, 0) == 0) return;
  } else {
    lua_pop(L, 1);
  }
  if (lc->err == LUA_NOREF) lc->err = luaL_ref(L, LUA_REGISTRYINDEX);
  else lua_pop(L, 1);
}

/* Called after the engine is consistent again: raises a kept error. */
static void reraise(lua_State *L, lclient *lc) {
  if (lc->err == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, lc->err);
  luaL_unref(L, LUA_REGISTRYINDEX, lc->err);
  lc->err = LUA_NOREF;
  lua_error(L);
}

/* ---- results ------------------------------------------------------------ */

static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

static void push_outcome(lua_State *L, const mpns_result *r) {
  if (r->fail == MPNS_FAIL_NONE) {
    mpns_push_result(L, r->status, r->notification, r->device,
                     r->subscription, r->message_id, r->advice);
  } else {
    /* kind, message, uri, attempts and maybe retry_after: sized exactly,
     * a 4-slot hash instead of 8 (a closed client's burst of them) */
    lua_createtable(L, 0, r->retry_after >= 0 ? 5 : 4);
    lua_pushstring(L, mpns_fail_name(r->fail));
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, r->message ? r->message : mpns_fail_name(r->fail));
    lua_setfield(L, -2, "message");
    if (r->retry_after >= 0) set_int(L, "retry_after", r->retry_after);
    luaL_getmetatable(L, SEND_ERROR_MT);
    lua_setmetatable(L, -2);
  }
  lua_pushlstring(L, r->uri, r->urilen);
  lua_setfield(L, -2, "uri");
  set_int(L, "attempts", r->attempts);
}

static int send_error_tostring(lua_State *L) {
  lua_getfield(L, 1, "kind");
  lua_getfield(L, 1, "message");
  lua_getfield(L, 1, "uri");
  lua_pushfstring(L, "%s: %s (%s)", luaL_optstring(L, 2, "?"),
                  luaL_optstring(L, 3, "?"), luaL_optstring(L, 4, "?"));
  return 1;
}

/* A send's ud: its ref, and whether env.ctxs holds a ctx for it. */
#define SEND_UD(ref, has_ctx) ((void *)((intptr_t)(ref) * 2 + ((has_ctx) ? 1 : 0)))

/* Pushes the ctx of send `ref` (nil if it has none) and clears its slot. */
static void take_ctx(lua_State *L, int env, int ref, int has_ctx) {
  if (!has_ctx) { lua_pushnil(L); return; }
  lua_getfield(L, env, "ctxs");
  lua_rawgeti(L, -1, ref);
  lua_pushnil(L);
  lua_rawseti(L, -3, ref);
  lua_remove(L, -2);
}

/* Runs under lua_pcall: (env, result, ud). A table under the ud's ref is the
 * slot of a blocking send; a function is on_result, with env.errs[ref]
 * on_error; with a ctx, each gets it as its last argument:
 * on_result(res, nil, ctx), on_result(nil, err, ctx), on_error(err, ctx). */
static int call_done(lua_State *L) {
  const mpns_result *r = (const mpns_result *)lua_touserdata(L, 2);
  lua_Integer ud = lua_tointeger(L, 3);
  int ref = (int)(ud / 2), has_ctx = (int)(ud % 2), fail = r->fail != MPNS_FAIL_NONE;
  lua_pushvalue(L, 1);                                /* 4 env */
  lua_rawgeti(L, 4, ref);                             /* 5 on_result/slot */
  lua_getfield(L, 4, "errs");                         /* 6 */
  lua_rawgeti(L, 6, ref);                             /* 7 on_error */
  lua_pushnil(L);
  lua_rawseti(L, 6, ref);
  take_ctx(L, 4, ref, has_ctx);                       /* 8 ctx */
  luaL_unref(L, 4, ref);
  push_outcome(L, r);                                 /* 9 */
  if (lua_istable(L, 5)) {
    lua_rawseti(L, 5, fail ? 2 : 1);
  } else if (!fail || lua_isnil(L, 7)) {
    int n = fail ? 2 : 1;
    lua_pushvalue(L, 5);
    if (fail) lua_pushnil(L);                        /* on_result(nil, err) */
    lua_pushvalue(L, 9);
    if (has_ctx) {                                   /* (res, nil, ctx) */
      if (!fail) lua_pushnil(L);
      lua_pushvalue(L, 8);
      n = 3;
    }
    lua_call(L, n, 0);
  } else {
    lua_pushvalue(L, 7);
    lua_pushvalue(L, 9);
    if (has_ctx) lua_pushvalue(L, 8);
    lua_call(L, has_ctx ? 2 : 1, 0);
  }
  return 0;
}

static void on_done(mpns_client *c, const mpns_result *r, void *ud) {
  lclient *lc = (lclient *)mpns_client_data(c);
  lua_State *L = lc->L;               /* bind reserved the room */
  if (r->fail == MPNS_FAIL_CLOSED) lc->dropped++;
  if (!L) return;                     /* dropped: see close_client */
  lua_pushcfunction(L, call_done);
  lua_pushvalue(L, lc->envidx);
  lua_pushlightuserdata(L, (void *)r);
  lua_pushinteger(L, (lua_Integer)(intptr_t)ud);
  if (lua_pcall(L, 3, 0, 0)) remember(L, lc);
}

/* Runs under lua_pcall: (env, ref) of a client:after callback. */
static int call_timer(lua_State *L) {
  int ref = (int)lua_tointeger(L, 2);
  lua_rawgeti(L, 1, ref);
  luaL_unref(L, 1, ref);
  lua_call(L, 0, 0);
  return 0;
}

static void on_timer(mpns_client *c, void *ud) {
  lclient *lc = (lclient *)mpns_client_data(c);
  lua_State *L = lc->L;               /* bind reserved the room */
  lua_pushcfunction(L, call_timer);
  lua_pushvalue(L, lc->envidx);
  lua_pushinteger(L, (lua_Integer)(intptr_t)ud);
  if (lua_pcall(L, 2, 0, 0)) remember(L, lc);
}

/* ---- driving the loop --------------------------------------------------- */

/* Binds first: if that raises, the client is not left running. */
static void enter(lua_State *L, lclient *lc) {
  bind(L, lc);
  lc->running = 1;
}

/* After a step: frees a client closed from a callback, raises a kept error. */
static void leave(lua_State *L, lclient *lc) {
  lc->running = 0;
  if (lc->closed) release(L, lc);
  reraise(L, lc);
}

static int busy(lua_State *L) {
  lua_pushnil(L);
  lua_pushliteral(L, BUSY);
  return 2;
}

/* client:run(): steps until nothing is pending. */
static int l_run(lua_State *L) {
  lclient *lc = check_client(L);
  if (lc->running) return busy(L);
  enter(L, lc);
  while (!lc->closed && lc->err == LUA_NOREF &&
         mpns_client_step(lc->c, 1.0) > 0) {}
  leave(L, lc);
  lua_pushboolean(L, 1);
  return 1;
}

/* client:step([seconds]): one bounded step; returns what is still pending. */
static int l_step(lua_State *L) {
  lclient *lc = check_client(L);
  double t = luaL_optnumber(L, 2, 0);
  int n;
  luaL_argcheck(L, t >= 0 && t <= 86400, 2, "seconds must be 0..86400");
  if (lc->running) return busy(L);
  enter(L, lc);
  n = mpns_client_step(lc->c, t);
  leave(L, lc);
  lua_pushinteger(L, n > 0 ? n : 0);
  return 1;
}

/* env[field][ref] = the value at index v of the frame (0: nil). */
static void set_slot(lua_State *L, const char *field, int ref, int v) {
  lua_getfield(L, -1, field);
  if (v) lua_pushvalue(L, v); else lua_pushnil(L);
  lua_rawseti(L, -2, ref);
  lua_pop(L, 1);
}

/* Queues msg (arg 2) to uri (arg 3); env[ref] = the value at `cb` (a
 * function, or a blocking send's slot), env.errs[ref] = the one at `eb` and
 * env.ctxs[ref] = the one at `xb` (0: none; a nil ctx is none). */
static void queue_send(lua_State *L, lclient *lc, int cb, int eb, int xb) {
  size_t len;
  mpns_msg *m = mpns_checkmsg(L, 2);
  const char *uri = luaL_checklstring(L, 3, &len);
  int ref, has_err = eb && !lua_isnoneornil(L, eb), has_ctx = xb && !lua_isnoneornil(L, xb);
  push_env(L);
  lua_pushvalue(L, cb);
  ref = luaL_ref(L, -2);
  /* the slots before the send is queued: a raise (out of memory) after it
   * would leave a send whose callback finds no on_error or ctx */
  if (has_err) set_slot(L, "errs", ref, eb);
  if (has_ctx) set_slot(L, "ctxs", ref, xb);
  if (mpns_client_send(lc->c, m, uri, len, on_done, SEND_UD(ref, has_ctx))) {
    if (has_err) set_slot(L, "errs", ref, 0);
    if (has_ctx) set_slot(L, "ctxs", ref, 0);
    luaL_unref(L, -1, ref);
    luaL_error(L, "mpns.client: out of memory");
  }
  lua_pop(L, 1);
}

/* client:send(msg, uri): blocks until this send is done; returns the result,
 * or nil and the error table. */
static int l_send(lua_State *L) {
  lclient *lc = check_client(L);
  int res;
  lua_settop(L, 3);
  if (lc->running) return busy(L);
  lua_newtable(L);                                   /* 4: the slot */
  reserve(L);                            /* as enter will: before queueing */
  queue_send(L, lc, 4, 0, 0);
  enter(L, lc);                                      /* 5: env */
  res = lua_gettop(L) + 1;                           /* res, err */
  for (;;) {
    lua_rawgeti(L, 4, 1);
    lua_rawgeti(L, 4, 2);
    if (!lua_isnil(L, res) || !lua_isnil(L, res + 1)) break;
    lua_pop(L, 2);
    if (lc->closed || mpns_client_step(lc->c, 1.0) < 0) {
      lua_pushnil(L);
      lua_pushliteral(L, "client closed");
      break;
    }
  }
  leave(L, lc);
  if (lua_isnil(L, res)) return 2;
  lua_pushvalue(L, res);
  return 1;
}

/* client:send_async(msg, uri, on_result[, on_error[, ctx]]). Without
 * on_error, a failure calls on_result(nil, err). A ctx comes back as the
 * callback's last argument: one function serves many sends, no closure each. */
static int l_send_async(lua_State *L) {
  lclient *lc = check_client(L);
  luaL_checktype(L, 4, LUA_TFUNCTION);
  if (!lua_isnoneornil(L, 5)) luaL_checktype(L, 5, LUA_TFUNCTION);
  lua_settop(L, 6);
  queue_send(L, lc, 4, 5, 6);
  lua_pushboolean(L, 1);
  return 1;
}

/* client:after(seconds, fn): fn() from a later step of this loop. */
static int l_after(lua_State *L) {
  lclient *lc = check_client(L);
  double s = luaL_checknumber(L, 2);
  int ref;
  luaL_argcheck(L, s >= 0 && s <= 1e9, 2, "seconds must be 0..1e9");
  luaL_checktype(L, 3, LUA_TFUNCTION);
  push_env(L);
  lua_pushvalue(L, 3);
  ref = luaL_ref(L, -2);
  if (mpns_client_after(lc->c, s, on_timer, (void *)(intptr_t)ref))
    luaL_error(L, "mpns.client: out of memory");
  lua_pushboolean(L, 1);
  return 1;
}

/* A script that forgets client:run() (or mpns.run()) would lose its sends
 * without a word: one line on stderr, since Lua 5.4's warn() is off by
 * default and LuaJIT has none. */
static void warn_dropped(int n) {
  fprintf(stderr, "mpns.client: %d pending send%s dropped (closed) when the "
          "client was collected or closed; call client:run() or mpns.run() "
          "first\n", n, n == 1 ? "" : "s");
}

/* Closes the engine: every pending send gets on_error{kind="closed"}.
 * From a callback, the engine is freed when the step returns. An open
 * client always has its engine. With `quiet` (__gc, __close) it never
 * raises: if the stack has no room for the callbacks, lc->L is NULL while
 * the engine closes, so on_done calls nothing and the pending outcomes are
 * dropped (their refs go with the env release replaces). The client is
 * going away and there is no stack to run them on. */
static lclient *close_client(lua_State *L, int quiet) {
  lclient *lc = (lclient *)luaL_checkudata(L, 1, CLIENT_MT);
  lua_State *prev = lc->L;
  int previdx = lc->envidx;
  if (lc->closed) return lc;
  if (!quiet) reserve(L);                 /* may raise: nothing changed yet */
  if (quiet && !has_room(L)) lc->L = NULL;
  else attach(L, lc);
  lc->closed = 1;
  lc->dropped = 0;
  mpns_client_close(lc->c);
  if (quiet && lc->dropped) warn_dropped(lc->dropped);
  if (lc->running) { lc->L = prev; lc->envidx = previdx; }
  release(L, lc);
  return lc;
}

/* client:close(): idempotent; raises what a closed-callback raised. */
static int l_close(lua_State *L) {
  lclient *lc = close_client(L, 0);
  if (!lc->running) reraise(L, lc);
  return 0;
}

/* __gc and __close: the same, but never raises and always closes; a kept
 * error is dropped, and so are the pending outcomes if the stack is full. */
static int l_gc(lua_State *L) {
  lclient *lc = close_client(L, 1);
  if (!lc->running) {
    luaL_unref(L, LUA_REGISTRYINDEX, lc->err);
    lc->err = LUA_NOREF;
  }
  return 0;
}

/* client:timeout(): seconds until step has work (0: now), nil if idle. */
static int l_timeout(lua_State *L) {
  long ms = mpns_client_timeout(check_client(L)->c);
  if (ms < 0) lua_pushnil(L); else lua_pushnumber(L, ms / 1000.0);
  return 1;
}

/* client:fd(): one fd that turns readable when the network has work. */
static int l_fd(lua_State *L) {
  lua_pushinteger(L, mpns_client_fd(check_client(L)->c));
  return 1;
}

static int l_pending(lua_State *L) {
  lua_pushinteger(L, mpns_client_pending(check_client(L)->c));
  return 1;
}

static int l_closed(lua_State *L) {
  lua_pushboolean(L, ((lclient *)luaL_checkudata(L, 1, CLIENT_MT))->closed);
  return 1;
}

static int l_stats(lua_State *L) {
  mpns_client_stats s = mpns_client_get_stats(check_client(L)->c);
  lua_createtable(L, 0, 4);
  set_int(L, "sent", (lua_Integer)s.sent);
  set_int(L, "done", (lua_Integer)s.done);
  set_int(L, "retries", (lua_Integer)s.retries);
  set_int(L, "connections", (lua_Integer)s.connections);
  luaL_getmetatable(L, STATS_MT);
  lua_setmetatable(L, -2);
  return 1;
}

/* What the REPL shows for client:stats(). */
static int stats_tostring(lua_State *L) {
  static const char *const keys[] = { "sent", "done", "retries", "connections" };
  luaL_Buffer b;
  size_t i;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "mpns.client stats:");
  for (i = 0; i < sizeof keys / sizeof *keys; i++) {
    lua_getfield(L, 1, keys[i]);
    lua_pushfstring(L, "%s %s %s", i ? "," : "", keys[i], luaL_optstring(L, -1, "?"));
    lua_remove(L, -2);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  return 1;
}

static int l_tostring(lua_State *L) {
  lclient *lc = (lclient *)luaL_checkudata(L, 1, CLIENT_MT);
  if (lc->closed) lua_pushfstring(L, "mpns.client (closed)");
  else lua_pushfstring(L, "mpns.client (%d pending)", mpns_client_pending(lc->c));
  return 1;
}

/* Methods first, then on_callback_error from the env. */
static int l_index(lua_State *L) {
  lclient *lc = (lclient *)luaL_checkudata(L, 1, CLIENT_MT);
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  (void)lc;
  if (!lua_isnil(L, -1)) return 1;
  if (lua_type(L, 2) != LUA_TSTRING ||
      strcmp(lua_tostring(L, 2), "on_callback_error") != 0) return 1;
  push_env(L);
  lua_getfield(L, -1, "on_callback_error");
  return 1;
}

static int l_newindex(lua_State *L) {
  const char *k;
  check_client(L);
  k = luaL_checkstring(L, 2);
  if (strcmp(k, "on_callback_error") != 0)
    return luaL_error(L, "mpns.client: cannot set field '%s'", k);
  if (!lua_isnil(L, 3)) luaL_checktype(L, 3, LUA_TFUNCTION);
  push_env(L);
  lua_pushvalue(L, 3);
  lua_setfield(L, -2, "on_callback_error");
  return 0;
}

/* ---- options ------------------------------------------------------------ */

typedef enum { OPT_LONG, OPT_INT, OPT_NUM, OPT_STR, OPT_BOOL, OPT_RETRY } opt_type;

/* `name` is the key; `shown` is what errors call it ("retry.base_delay"). */
typedef struct { const char *name, *shown; opt_type type; size_t off; } opt_info;

#define OPT(name, type) { #name, #name, type, offsetof(mpns_client_opts, name) }
#define RETRY_OPT(name, type) \
  { #name, "retry." #name, type, offsetof(mpns_client_opts, name) }
static const opt_info client_opts[] = {
  OPT(max_connections, OPT_LONG), OPT(max_per_host, OPT_LONG),
  OPT(timeout, OPT_NUM), OPT(connect_timeout, OPT_NUM),
  OPT(cert, OPT_STR), OPT(key, OPT_STR), OPT(key_password, OPT_STR),
  OPT(ca, OPT_STR), OPT(verify, OPT_BOOL), OPT(proxy, OPT_STR),
  OPT(user_agent, OPT_STR), { "retry", "retry", OPT_RETRY, 0 },
  { NULL, NULL, OPT_INT, 0 }
};
static const opt_info retry_opts[] = {
  RETRY_OPT(max_attempts, OPT_INT), RETRY_OPT(base_delay, OPT_NUM),
  RETRY_OPT(max_delay, OPT_NUM), { NULL, NULL, OPT_INT, 0 }
};
#undef OPT
#undef RETRY_OPT

static void parse_opts(lua_State *L, int t, const opt_info *list,
                       mpns_client_opts *o);

/* Clamped into the C type, never wrapped: mpns_client_new refuses values
 * out of its range, so a huge one still fails by name where long is 32 bits. */
static long clamp_long(lua_Integer n) {
#if LONG_MAX < LLONG_MAX
  if (n > (lua_Integer)LONG_MAX) return LONG_MAX;
  if (n < (lua_Integer)LONG_MIN) return LONG_MIN;
#endif
  return (long)n;
}

static int bad_opt(lua_State *L, const opt_info *info, const char *expected) {
  return luaL_error(L, "mpns.client: option '%s' must be %s", info->shown,
                    expected);
}

/* Stores the value on top of the stack as option `info` (strings stay
 * borrowed from the options table, which outlives mpns_client_new). */
static void set_opt(lua_State *L, const opt_info *info, mpns_client_opts *o) {
  char *p = (char *)o + info->off;
  lua_Integer n = 0;
  switch (info->type) {
  case OPT_LONG: case OPT_INT:
    if (!mpns_isinteger(L, -1, &n)) bad_opt(L, info, "an integer");
    if (info->type == OPT_LONG) *(long *)p = clamp_long(n);
    else *(int *)p = n > INT_MAX ? INT_MAX : n < INT_MIN ? INT_MIN : (int)n;
    break;
  case OPT_NUM:
    if (lua_type(L, -1) != LUA_TNUMBER) bad_opt(L, info, "a number");
    *(double *)p = lua_tonumber(L, -1);
    break;
  case OPT_STR: {
    size_t len;
    const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
    if (!v || strlen(v) != len) bad_opt(L, info, "a string without NUL bytes");
    *(const char **)p = v;
    break;
  }
  case OPT_BOOL:
    if (!lua_isboolean(L, -1)) bad_opt(L, info, "a boolean");
    *(int *)p = lua_toboolean(L, -1);
    break;
  case OPT_RETRY:
    if (!lua_istable(L, -1)) bad_opt(L, info, "a table");
    parse_opts(L, lua_gettop(L), retry_opts, o);
    break;
  }
}

/* Every key must be a known option: a typo is an error naming the key. */
static void parse_opts(lua_State *L, int t, const opt_info *list,
                       mpns_client_opts *o) {
  lua_pushnil(L);
  while (lua_next(L, t)) {
    const opt_info *i;
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
    for (i = list; i->name && strcmp(i->name, k) != 0; i++) {}
    if (!i->name) luaL_error(L, "mpns.client: unknown option '%s'", k);
    set_opt(L, i, o);
    lua_pop(L, 1);
  }
}

/* mpns.client([opts]) */
static int l_new(lua_State *L) {
  mpns_client_opts o;
  mpns_error err;
  lclient *lc;
  mpns_client_opts_init(&o);
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    parse_opts(L, 1, client_opts, &o);
  }
  if (o.max_per_host == 0) o.max_per_host = o.max_connections;
  lc = (lclient *)mpns_newuserdata(L, sizeof *lc);
  lc->c = NULL;
  lc->L = L;
  lc->envidx = 0;
  lc->err = LUA_NOREF;
  lc->running = 0;
  lc->dropped = 0;
  lc->closed = 1;                        /* until fully made */
  luaL_getmetatable(L, CLIENT_MT);
  lua_setmetatable(L, -2);
  lua_createtable(L, 0, 3);
  lua_newtable(L);
  lua_setfield(L, -2, "errs");
  lua_newtable(L);
  lua_setfield(L, -2, "ctxs");
  mpns_setuv(L, -2);
  if (!(lc->c = mpns_client_new(&o, &err)))
    return luaL_error(L, "mpns.client: %s", err.text);
  mpns_client_set_data(lc->c, lc);
  lc->closed = 0;
  if (!o.verify)                         /* said once, where it was made */
    fprintf(stderr, "mpns.client: verify = false: server certificates and "
            "names are not checked; use it only for testing\n");
  return 1;
}

void mpns_open_client(lua_State *L) {
  static const luaL_Reg methods[] = {
    { "send", l_send }, { "send_async", l_send_async }, { "run", l_run },
    { "step", l_step }, { "after", l_after }, { "close", l_close },
    { "timeout", l_timeout }, { "fd", l_fd }, { "pending", l_pending },
    { "stats", l_stats }, { "closed", l_closed }, { NULL, NULL }
  };
  luaL_newmetatable(L, SEND_ERROR_MT);
  lua_pushcfunction(L, send_error_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  luaL_newmetatable(L, STATS_MT);
  lua_pushcfunction(L, stats_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  luaL_newmetatable(L, CLIENT_MT);
  lua_newtable(L);
  mpns_setfuncs(L, methods, 0);
  lua_pushcclosure(L, l_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, l_gc);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__gc");
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, l_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_new);
  lua_setfield(L, -2, "client");
}
