/*
 * intlimit.h: how large a double may be and still become an integer type
 * exactly. Plain C, so core_test checks it for every width without Lua.
 */
#ifndef MPNS_INTLIMIT_H
#define MPNS_INTLIMIT_H

/* For a signed type of `bits` bits: 2^(bits-1), the first magnitude the
 * type cannot hold (casting a double out of range is undefined), but at
 * most 2^53, beyond which a double no longer tells neighbouring integers
 * apart. 2^53 for a 64-bit lua_Integer; 2^31 where it is a 32-bit
 * ptrdiff_t (LuaJIT on a 32-bit target). A value v converts when
 * -limit <= v < limit. */
#define MPNS_INT_LIMIT(bits) \
  ((bits) > 53 ? 9007199254740992.0 : (double)(1ULL << ((bits) > 53 ? 0 : (bits) - 1)))

#endif
