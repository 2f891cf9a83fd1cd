/* connect_count.c: an LD_PRELOAD shim for bench/delivery that counts the
 * TCP connections a process opens (connect() on an AF_INET/AF_INET6
 * socket) and appends the count to $CONNECT_COUNT_FILE at exit. It sees
 * exactly one client, unlike the kernel's system-wide counters. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

static long opened;
static int (*real_connect)(int, const struct sockaddr *, socklen_t);

int connect(int fd, const struct sockaddr *sa, socklen_t len) {
  if (!real_connect)
    real_connect = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
  if (sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6))
    __atomic_add_fetch(&opened, 1, __ATOMIC_RELAXED);
  return real_connect(fd, sa, len);
}

__attribute__((destructor)) static void report(void) {
  const char *path = getenv("CONNECT_COUNT_FILE");
  FILE *f = path ? fopen(path, "a") : NULL;
  if (!f) return;
  fprintf(f, "%ld\n", opened);
  fclose(f);
}
