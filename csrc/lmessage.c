/*
 * lmessage.c: message constructors and message objects for Lua. Turns a
 * Lua table into an mpns_spec (types are checked here, values in the core)
 * and wraps the built mpns_msg in a userdata.
 */
#include <stdio.h>
#include <string.h>
#include "lmpns.h"

#define CYCLE_IMAGES (-2)          /* the one list-valued key */
#define UV_FIELDS lua_upvalueindex(1)  /* a field_map: Lua name -> field id */
#define UV_CLEAR lua_upvalueindex(2)   /* the mpns.CLEAR sentinel */
#define UV_KIND lua_upvalueindex(3)
#define UV_MTS lua_upvalueindex(4)     /* the message metatables */

/* A message's metatable depends on its kind and OS, so that msg.kind and
 * msg.os are plain table lookups the VM does without calling C. Every one
 * of them holds `marker` (by address) at [1] to tell messages from other
 * data: msg:body() and __gc check it, and an array slot reads quicker than
 * a hashed key. */
static const char marker = 0;
static const char metatables_key = 0;

#define MT_INDEX(kind, os) ((int)(kind) * MPNS_OS_COUNT + (int)(os) + 1)

typedef struct { mpns_msg *msg; } msg_box;

/* A message needs no user value: in 5.4 that saves 16 bytes a message and
 * a slot the collector would traverse. */
#if LUA_VERSION_NUM >= 504
#define new_box(L) ((msg_box *)lua_newuserdatauv(L, sizeof(msg_box), 0))
#else
#define new_box(L) ((msg_box *)lua_newuserdata(L, sizeof(msg_box)))
#endif

/* Room for the numbers a constructor turns into text (count, delay). */
typedef struct { char text[2][24]; int used; } numbers;

static int kind_error(lua_State *L, mpns_kind kind, const char *fmt, const char *a,
                      const char *b) {
  return luaL_error(L, "mpns.%s: %s", mpns_kind_name(kind),
                    lua_pushfstring(L, fmt, a, b));
}

/* Counts, booleans and delays say what they expect; the rest are strings. */
static const char *type_expected(mpns_field f) {
  int check = mpns_field_table[f].check;
  return check == MPNS_CHECK_COUNT || check == MPNS_CHECK_BOOL || check == MPNS_CHECK_DELAY
         ? mpns_field_expects(f) : "a string";
}

static void bad_type(lua_State *L, mpns_kind kind, const char *label, int idx,
                     mpns_field f) {
  lua_pushfstring(L, "expected %s, got %s", type_expected(f), luaL_typename(L, idx));
  kind_error(L, kind, "field '%s' %s", label, lua_tostring(L, -1));
}

static void set_number(lua_State *L, mpns_value *v, int idx, numbers *nb) {
  lua_Integer i;
  char *buf = nb->text[nb->used++];
  if (mpns_isinteger(L, idx, &i)) snprintf(buf, 24, "%lld", (long long)i);
  else snprintf(buf, 24, "%.14g", (double)lua_tonumber(L, idx));
  v->ptr = buf;
  v->len = strlen(buf);
}

/* Converts the Lua value at `idx` for field `f`; checks only its type. */
static void set_value(lua_State *L, mpns_spec *s, mpns_field f, int idx,
                      const char *label, numbers *nb) {
  mpns_value *v = &s->field[f];
  int check = mpns_field_table[f].check, t = lua_type(L, idx);
  v->state = MPNS_SET;
  if (t == LUA_TTABLE && lua_rawequal(L, idx, UV_CLEAR)) v->state = MPNS_CLEAR;
  else if (t == LUA_TSTRING && check != MPNS_CHECK_COUNT && check != MPNS_CHECK_BOOL)
    v->ptr = lua_tolstring(L, idx, &v->len);
  else if (t == LUA_TNUMBER && (check == MPNS_CHECK_COUNT || check == MPNS_CHECK_DELAY))
    set_number(L, v, idx, nb);
  else if (t == LUA_TBOOLEAN && check == MPNS_CHECK_BOOL) {
    v->ptr = lua_toboolean(L, idx) ? "true" : "false";
    v->len = strlen(v->ptr);
  } else
    bad_type(L, s->kind, label, idx, f);
}

static void set_cycle_images(lua_State *L, mpns_spec *s, int idx, numbers *nb) {
  size_t n, i, keys = 0;
  char label[24];
  if (lua_type(L, idx) != LUA_TTABLE)
    bad_type(L, s->kind, "cycle_images", idx, MPNS_F_CYCLE_IMAGE1);
  n = mpns_rawlen(L, idx);
  for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) keys++;
  if (keys != n)
    kind_error(L, s->kind, "field '%s' %s", "cycle_images", "expected a list of image paths");
  if (n > 9)
    kind_error(L, s->kind, "field '%s' %s", "cycle_images",
               lua_pushfstring(L, "has %d images; a cycle tile shows at most 9", (int)n));
  for (i = 1; i <= n; i++) {
    mpns_field f = (mpns_field)(MPNS_F_CYCLE_IMAGE1 + i - 1);
    lua_rawgeti(L, idx, (int)i);
    mpns_field_label(f, label, sizeof label);
    set_value(L, s, f, lua_gettop(L), label, nb);
    lua_pop(L, 1);  /* the table still holds the string */
  }
}

/* Lua name -> field id, open addressing in C: a constructor looks up each
 * key without touching the Lua stack. One per Lua state (an upvalue). */
#define MAP_SLOTS 128
typedef struct { const char *name; size_t len; int field; } map_slot;
typedef struct { map_slot slot[MAP_SLOTS]; } field_map;
/* Every field plus cycle_images, and a free slot so a probe always ends. */
typedef char map_has_a_free_slot[MPNS_FIELD_COUNT + 2 <= MAP_SLOTS ? 1 : -1];

static size_t map_hash(const char *k, size_t len) {
  return (len * 31u + (unsigned char)k[0] * 7u + (unsigned char)k[len - 1] * 3u
          + (unsigned char)k[len / 2]) % MAP_SLOTS;
}

static void map_add(field_map *map, const char *name, int field) {
  size_t len = strlen(name), i = map_hash(name, len);
  while (map->slot[i].name) i = (i + 1) % MAP_SLOTS;
  map->slot[i].name = name;
  map->slot[i].len = len;
  map->slot[i].field = field;
}

/* The field id, CYCLE_IMAGES, or -1 when no field has that name. */
static int map_find(const field_map *map, const char *k, size_t len) {
  size_t i;
  if (len == 0) return -1;
  for (i = map_hash(k, len); map->slot[i].name; i = (i + 1) % MAP_SLOTS)
    if (map->slot[i].len == len && memcmp(map->slot[i].name, k, len) == 0)
      return map->slot[i].field;
  return -1;
}

/* Reads the constructor's table into `s`; strings stay owned by the table. */
static void read_fields(lua_State *L, mpns_spec *s, numbers *nb) {
  const field_map *map = (const field_map *)lua_touserdata(L, UV_FIELDS);
  luaL_checktype(L, 1, LUA_TTABLE);
  for (lua_pushnil(L); lua_next(L, 1); lua_pop(L, 1)) {
    size_t len;
    const char *key;
    int f;
    if (lua_type(L, -2) != LUA_TSTRING)
      kind_error(L, s->kind, "field names are strings, got %s", luaL_typename(L, -2), NULL);
    key = lua_tolstring(L, -2, &len);
    f = map_find(map, key, len);
    if (f == -1 || (f >= 0 && !((mpns_field_table[f].kinds >> s->kind) & 1u)))
      kind_error(L, s->kind, "unknown field '%s'", key, NULL);
    if (f == CYCLE_IMAGES) set_cycle_images(L, s, lua_gettop(L), nb);
    else set_value(L, s, (mpns_field)f, lua_gettop(L), key, nb);
  }
}

/* Wraps `m`, taking its metatable from the list at `mts`. */
static void push_msg(lua_State *L, mpns_msg *m, int mts) {
  msg_box *box = new_box(L);
  box->msg = m;
  lua_rawgeti(L, mts, MT_INDEX(mpns_msg_kind(m), mpns_msg_os(m)));
  lua_setmetatable(L, -2);
}

/* mpns.toast{...}, mpns.tile{...}, ..., mpns.raw{...} or mpns.raw(data) */
static int msg_new(lua_State *L) {
  mpns_spec spec;
  numbers nb;
  mpns_error err;
  mpns_msg *m;
  memset(&spec, 0, sizeof spec);
  nb.used = 0;
  spec.kind = (mpns_kind)lua_tointeger(L, UV_KIND);
  if (spec.kind == MPNS_RAW && lua_type(L, 1) == LUA_TSTRING) {
    spec.field[MPNS_F_DATA].state = MPNS_SET;
    spec.field[MPNS_F_DATA].ptr = lua_tolstring(L, 1, &spec.field[MPNS_F_DATA].len);
  } else {
    read_fields(L, &spec, &nb);
  }
  if (!(m = mpns_msg_new(&spec, MPNS_OS_80, NULL, &err)))
    return luaL_error(L, "%s", err.text);
  push_msg(L, m, UV_MTS);
  return 1;
}

/* ---- message objects --------------------------------------------------- */

/* The box at `idx` if it is a message's, else NULL. */
static msg_box *tobox(lua_State *L, int idx) {
  msg_box *box = (msg_box *)lua_touserdata(L, idx);
  int ours;
  if (!box || !lua_getmetatable(L, idx)) return NULL;
  lua_rawgeti(L, -1, 1);
  ours = lua_touserdata(L, -1) == (void *)&marker;
  lua_pop(L, 2);
  return ours ? box : NULL;
}

mpns_msg *mpns_checkmsg(lua_State *L, int idx) {
  msg_box *box = tobox(L, idx);
  if (!box || !box->msg)
    luaL_argerror(L, idx, lua_pushfstring(L, "mpns message expected, got %s",
                                          luaL_typename(L, idx)));
  return box->msg;
}

/* msg:body(): the frame and the message's own bytes as one string; a
 * usual body is joined on the C stack and pushed with one copy (measured:
 * 0.57-0.58x the floor against 0.54-0.55x through luaL_Buffer alone). */
static int msg_body(lua_State *L) {
  char small[1024];
  mpns_chunk part[3];
  mpns_msg *m = mpns_checkmsg(L, 1);
  luaL_Buffer b;
  int i;
  if (mpns_msg_body_len(m) < sizeof small) {
    lua_pushlstring(L, small, mpns_msg_body_copy(m, small));
    return 1;
  }
  mpns_msg_body_parts(m, part);
  luaL_buffinit(L, &b);
  for (i = 0; i < 3; i++) luaL_addlstring(&b, part[i].ptr, part[i].len);
  luaL_pushresult(&b);
  return 1;
}

static int msg_headers(lua_State *L) {
  const mpns_header *h;
  int i, n = mpns_msg_headers(mpns_checkmsg(L, 1), &h);
  lua_createtable(L, 0, n);
  for (i = 0; i < n; i++) {
    lua_pushstring(L, h[i].value);
    lua_setfield(L, -2, h[i].name);
  }
  return 1;
}

/* msg:for_os("7.0") -> message, or nil and why when nothing survives. */
static int msg_for_os(lua_State *L) {
  mpns_msg *m = mpns_checkmsg(L, 1), *d;
  size_t len;
  const char *v = luaL_checklstring(L, 2, &len);
  mpns_os os;
  mpns_error err;
  if (mpns_os_parse(v, len, &os) != 0)
    return luaL_argerror(L, 2, lua_pushfstring(L,
        "expected \"7.0\", \"7.1\" or \"8.0\", got %s",
        strlen(v) == len ? lua_pushfstring(L, "\"%s\"", v) : "a string with a NUL byte"));
  if (!(d = mpns_msg_for_os(m, os, NULL, &err))) {
    lua_pushnil(L);
    lua_pushstring(L, err.text);
    return 2;
  }
  lua_pushlightuserdata(L, (void *)&metatables_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  push_msg(L, d, lua_gettop(L));
  return 1;
}

/* Adds ` name="value"` to the buffer, values cut short for the REPL. */
static void describe_field(luaL_Buffer *b, const char *label, const mpns_value *v) {
  char line[96];
  if (v->state == MPNS_CLEAR) snprintf(line, sizeof line, " %s=CLEAR", label);
  else snprintf(line, sizeof line, " %s=\"%.*s%s\"", label, v->len > 40 ? 37 : (int)v->len,
                v->ptr, v->len > 40 ? "..." : "");
  luaL_addstring(b, line);
}

static int msg_tostring(lua_State *L) {
  mpns_msg *m = mpns_checkmsg(L, 1);
  mpns_spec given, *s = &given;
  luaL_Buffer b;
  size_t len = mpns_msg_body_len(m);
  int f;
  mpns_msg_given(m, &given);
  luaL_buffinit(L, &b);
  lua_pushfstring(L, "mpns.%s for %s, %d bytes:", mpns_kind_name(mpns_msg_kind(m)),
                  mpns_os_name(mpns_msg_os(m)), (int)len);
  luaL_addvalue(&b);
  for (f = 0; f < MPNS_FIELD_COUNT; f++) {
    char label[24];
    if (s->field[f].state == MPNS_UNSET) continue;
    if (f == MPNS_F_DATA) {
      lua_pushfstring(L, " data=<%d bytes>", (int)s->field[f].len);
      luaL_addvalue(&b);
    } else {
      mpns_field_label((mpns_field)f, label, sizeof label);
      describe_field(&b, label, &s->field[f]);
    }
  }
  luaL_pushresult(&b);
  return 1;
}

static int msg_gc(lua_State *L) {
  msg_box *box = tobox(L, 1);
  if (!box) return 0;
  mpns_msg_unref(box->msg);
  box->msg = NULL;
  return 0;
}

/* ---- limits ------------------------------------------------------------ */

/* mpns.set_limits{ payload = N, headers = N } -> the previous limits */
static int set_limits(lua_State *L) {
  mpns_limits next = mpns_default_limits;
  luaL_checktype(L, 1, LUA_TTABLE);
  for (lua_pushnil(L); lua_next(L, 1); lua_pop(L, 1)) {
    const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
    lua_Integer n;
    size_t *slot = strcmp(key, "payload") == 0 ? &next.payload
                 : strcmp(key, "headers") == 0 ? &next.headers : NULL;
    if (!slot) return luaL_error(L, "mpns.set_limits: unknown limit '%s' (payload, headers)", key);
    if (!mpns_isinteger(L, -1, &n) || n < 1)
      return luaL_error(L, "mpns.set_limits: '%s' expected a positive integer", key);
    *slot = (size_t)n;
  }
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, (lua_Integer)mpns_default_limits.payload);
  lua_setfield(L, -2, "payload");
  lua_pushinteger(L, (lua_Integer)mpns_default_limits.headers);
  lua_setfield(L, -2, "headers");
  mpns_default_limits = next;
  return 1;
}

/* ---- registration ------------------------------------------------------ */

static void push_field_map(lua_State *L) {
  field_map *map = (field_map *)mpns_newuserdata(L, sizeof *map);
  int f;
  memset(map, 0, sizeof *map);
  for (f = 0; f < MPNS_FIELD_COUNT; f++)
    if (mpns_field_table[f].name) map_add(map, mpns_field_table[f].name, f);
  map_add(map, "cycle_images", CYCLE_IMAGES);
}

static int clear_tostring(lua_State *L) {
  lua_pushliteral(L, "mpns.CLEAR");
  return 1;
}

static void push_clear(lua_State *L) {
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, clear_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_setmetatable(L, -2);
}

/* The metatable for messages of one kind built for one OS; its __index
 * table holds kind and os and falls back to the shared methods at -2. */
static void push_metatable(lua_State *L, mpns_kind k, mpns_os os) {
  lua_createtable(L, 1, 5);
  lua_createtable(L, 0, 2);
  lua_pushstring(L, mpns_kind_name(k));
  lua_setfield(L, -2, "kind");
  lua_pushstring(L, mpns_os_name(os));
  lua_setfield(L, -2, "os");
  lua_createtable(L, 0, 1);
  lua_pushvalue(L, -4);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, msg_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushcfunction(L, msg_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushliteral(L, MPNS_MSG_MT);
  lua_setfield(L, -2, "__name");
  lua_pushlightuserdata(L, (void *)&marker);
  lua_rawseti(L, -2, 1);
}

/* Leaves the list of metatables on the stack; the methods table becomes
 * module.message_methods, where Lua code may add methods. */
static void open_metatables(lua_State *L) {
  static const luaL_Reg methods[] = {
    { "body", msg_body }, { "headers", msg_headers }, { "for_os", msg_for_os },
    { NULL, NULL }
  };
  int k, os;
  lua_newtable(L);
  mpns_setfuncs(L, methods, 0);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "message_methods");
  lua_createtable(L, MPNS_KIND_COUNT * MPNS_OS_COUNT, 0);
  for (k = 0; k < MPNS_KIND_COUNT; k++)
    for (os = 0; os < MPNS_OS_COUNT; os++) {
      lua_pushvalue(L, -2);
      push_metatable(L, (mpns_kind)k, (mpns_os)os);
      lua_rawseti(L, -3, MT_INDEX(k, os));
      lua_pop(L, 1);
    }
  lua_remove(L, -2);
  lua_pushlightuserdata(L, (void *)&metatables_key);
  lua_pushvalue(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
}

/* mpns.core.message_id(job_id, uri) -> the UUID the queue sends with */
static int message_id(lua_State *L) {
  size_t jl, ul;
  const char *job = luaL_checklstring(L, 1, &jl), *uri = luaL_checklstring(L, 2, &ul);
  char id[MPNS_MESSAGE_ID_LEN + 1];
  mpns_message_id(job, jl, uri, ul, id);
  lua_pushlstring(L, id, MPNS_MESSAGE_ID_LEN);
  return 1;
}

/* Constructors share their upvalues: field map, CLEAR, kind, metatables. */
void mpns_open_message(lua_State *L) {
  int k;
  open_metatables(L);
  push_field_map(L);
  push_clear(L);
  for (k = 0; k < MPNS_KIND_COUNT; k++) {
    lua_pushvalue(L, -2);
    lua_pushvalue(L, -2);
    lua_pushinteger(L, k);
    lua_pushvalue(L, -6);
    lua_pushcclosure(L, msg_new, 4);
    lua_setfield(L, -5, mpns_kind_name((mpns_kind)k));
  }
  lua_setfield(L, -4, "CLEAR");
  lua_pop(L, 2);
  lua_pushcfunction(L, set_limits);
  lua_setfield(L, -2, "set_limits");
  lua_pushcfunction(L, message_id);
  lua_setfield(L, -2, "message_id");
}
