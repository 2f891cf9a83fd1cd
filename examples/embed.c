/*
 * embed.c: the delivery engine inside a host's own poll() loop, from C with
 * no Lua. The host watches one fd (mpns_client_fd) beside its own, wakes up
 * after mpns_client_timeout() ms at the latest, and calls
 * mpns_client_step(c, 0), which never blocks. The same three calls embed
 * the engine in libuv, libevent or an nginx timer.
 *
 *   make && cc -std=c99 -Icsrc examples/embed.c build/libmpns.a -lcurl -o build/embed
 *   build/embed http://127.0.0.1:8080/throttledthirdparty/01.00/embed- 100
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mpns.h"

static void done(mpns_client *c, const mpns_result *r, void *ud) {
  int *ok = ud;
  (void)c;
  if (r->fail != MPNS_FAIL_NONE) {
    printf("%.*s: %s: %s\n", (int)r->urilen, r->uri, mpns_fail_name(r->fail), r->message);
    return;
  }
  if (r->advice.ok)
    (*ok)++;
  else
    printf("%.*s: HTTP %d %s\n", (int)r->urilen, r->uri, r->status,
           r->notification ? r->notification : "-");
}

static mpns_msg *make_toast(void) {
  mpns_spec s;
  mpns_error err;
  mpns_msg *m;
  memset(&s, 0, sizeof s);
  s.kind = MPNS_TOAST;
  s.field[MPNS_F_TEXT1] = (mpns_value){ MPNS_SET, "Hello", 5 };
  s.field[MPNS_F_TEXT2] = (mpns_value){ MPNS_SET, "from C", 6 };
  if (!(m = mpns_msg_new(&s, MPNS_OS_80, NULL, &err))) fprintf(stderr, "%s\n", err.text);
  return m;
}

int main(int argc, char **argv) {
  mpns_client_opts o;
  mpns_error err;
  mpns_client *c;
  mpns_msg *m = make_toast();
  int i, n = argc > 2 ? atoi(argv[2]) : 10, ok = 0, ticks = 0;
  char uri[MPNS_URI_MAX + 1];
  if (argc < 2 || !m) { fprintf(stderr, "usage: embed CHANNEL_URI_PREFIX [N]\n"); return 2; }
  mpns_client_opts_init(&o);
  o.max_connections = 8;
  if (!(c = mpns_client_new(&o, &err))) { fprintf(stderr, "%s\n", err.text); return 1; }
  for (i = 1; i <= n; i++) {
    int len = snprintf(uri, sizeof uri, "%s%d", argv[1], i);
    mpns_client_send(c, m, uri, (size_t)len, done, &ok);
  }
  mpns_msg_unref(m);                   /* each queued send holds its own ref */

  /* The host's loop: its own fds would sit in this array too. */
  while (mpns_client_pending(c) > 0) {
    struct pollfd p = { mpns_client_fd(c), POLLIN, 0 };
    poll(&p, 1, (int)mpns_client_timeout(c));
    mpns_client_step(c, 0);
    ticks++;
  }
  printf("%d of %d received in %d loop turns\n", ok, n, ticks);
  mpns_client_free(c);
  return ok == n ? 0 : 1;
}
