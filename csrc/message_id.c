/*
 * message_id.c: the X-MessageID a queued job sends to one channel, a UUID
 * (version 8) derived from the job id and the channel URI, so a send
 * repeated after a crash carries the same id. Two 32-bit FNV-1a hashes of
 * each (two seeds), as the queue first did in Lua, where the loop over the
 * URI's bytes cost about 28,000 instructions a send under Lua 5.4 (4,300
 * under LuaJIT), of the worker's 316,000 a notification.
 */
#include <stdint.h>
#include <string.h>
#include "mpns.h"

/* FNV-1a over `s` from two seeds at once. */
static void fnv2(const char *s, size_t len, uint32_t h[2]) {
  size_t i;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    h[0] = (h[0] ^ c) * 16777619u;
    h[1] = (h[1] ^ c) * 16777619u;
  }
}

static void hex8(char *p, uint32_t v) {
  static const char digits[] = "0123456789abcdef";
  int i;
  for (i = 7; i >= 0; i--, v >>= 4) p[i] = digits[v & 15];
}

/* job hash a-b, URI hash c-d: aaaaaaaa-bbbb-8bbb-Vccc-ccccdddddddd, where
 * b's fifth digit gives way to the version and V is 8 + c's first digit % 4
 * (the RFC 4122 variant). */
void mpns_message_id(const char *job, size_t job_len, const char *uri,
                     size_t uri_len, char out[MPNS_MESSAGE_ID_LEN + 1]) {
  uint32_t j[2] = { 2166136261u, 84696351u }, u[2] = { 2166136261u, 3735928559u };
  char h[32];
  fnv2(job, job_len, j);
  fnv2(uri, uri_len, u);
  hex8(h, j[0]), hex8(h + 8, j[1]), hex8(h + 16, u[0]), hex8(h + 24, u[1]);
  memcpy(out, h, 8);
  out[8] = '-';
  memcpy(out + 9, h + 8, 4);
  out[13] = '-', out[14] = '8';
  memcpy(out + 15, h + 13, 3);
  out[18] = '-';
  out[19] = "89ab"[(u[0] >> 28) & 3];
  memcpy(out + 20, h + 17, 3);
  out[23] = '-';
  memcpy(out + 24, h + 20, 4);
  memcpy(out + 28, h + 24, 8);
  out[36] = '\0';
}
