/*
 * lsignal.c: a graceful stop for programs of one's own (bin/mpns-worker),
 * under both Lua ABIs. trap_signals() installs, on request only, a handler
 * for SIGTERM and SIGINT that sets a flag and nothing else (no Lua runs in
 * it); the program polls caught_signal() between rounds. The handler is
 * reset after it runs once, so a second signal ends the process at once.
 * Never call trap_signals inside nginx: the signals are nginx's.
 */
#include <signal.h>
#include <string.h>
#include "lmpns.h"

static volatile sig_atomic_t caught;

static void on_signal(int sig) {
  if (!caught) caught = sig;
}

/* core.trap_signals(): true, or nil, message if a handler was refused. */
static int trap_signals(lua_State *L) {
  static const int sigs[] = { SIGTERM, SIGINT };
  struct sigaction sa;
  size_t i;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART | SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
    if (sigaction(sigs[i], &sa, NULL) != 0) {
      lua_pushnil(L);
      lua_pushstring(L, "mpns: sigaction failed");
      return 2;
    }
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* core.caught_signal(): "TERM" or "INT" once one arrived, else nil. */
static int caught_signal(lua_State *L) {
  int sig = caught;
  if (!sig) lua_pushnil(L);
  else lua_pushstring(L, sig == SIGTERM ? "TERM" : "INT");
  return 1;
}

void mpns_open_signal(lua_State *L) {
  lua_pushcfunction(L, trap_signals);
  lua_setfield(L, -2, "trap_signals");
  lua_pushcfunction(L, caught_signal);
  lua_setfield(L, -2, "caught_signal");
}
