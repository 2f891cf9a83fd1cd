/*
 * lmpns.h: what the binding files (l*.c) share. Each adds its functions to
 * the module table on top of the stack.
 */
#ifndef MPNS_LMPNS_H
#define MPNS_LMPNS_H

#include "compat.h"
#include "mpns.h"

#define MPNS_MSG_MT "mpns.message"

void mpns_open_message(lua_State *L);   /* lmessage.c: constructors, CLEAR */
void mpns_open_response(lua_State *L);  /* lresponse.c: parse_response */
void mpns_open_client(lua_State *L);    /* lclient.c: client objects */
void mpns_open_signal(lua_State *L);    /* lsignal.c: trap_signals, caught_signal */

/* The built message at `idx`; raises a type error naming argument `idx`. */
mpns_msg *mpns_checkmsg(lua_State *L, int idx);
/* Pushes the table parse_response returns for an HTTP answer whose
 * advice `a` the caller has computed (a send's result carries it). */
void mpns_push_result(lua_State *L, int status, const char *notification,
                      const char *device, const char *subscription,
                      const char *message_id, mpns_advice a);

#endif
