/*
 * poller.c: the epoll set curl's sockets live in. A keep-alive connection
 * goes idle after every answer (curl says "remove") and busy again with the
 * next send (curl says "watch"); deleting and re-adding it would cost two
 * syscalls per notification. Sockets we opened ourselves (opensocket
 * callback) therefore stay registered while idle: we know when they close
 * (closesocket callback), so their state can never belong to a reused fd
 * number. An idle socket that turns readable (the server closed it) is
 * dropped from the set when it fires, so it cannot spin the loop.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "client_int.h"

enum { OURS = 1, REG = 2, IN = 4, OUT = 8, WATCH = 16 };

int mpns_poller_init(mpns_poller *p) {
  memset(p, 0, sizeof *p);
  p->epfd = epoll_create1(EPOLL_CLOEXEC);
  return p->epfd < 0 ? -1 : 0;
}

void mpns_poller_free(mpns_poller *p) {
  if (p->epfd >= 0) close(p->epfd);
  free(p->st);
  memset(p, 0, sizeof *p);
  p->epfd = -1;
}

/* The state byte of fd, growing the table; NULL if out of memory. */
static unsigned char *state(mpns_poller *p, int fd) {
  if (fd < 0) return NULL;
  if ((size_t)fd >= p->cap) {
    size_t cap = p->cap ? p->cap : 64;
    unsigned char *st;
    while (cap <= (size_t)fd) cap *= 2;
    if (!(st = realloc(p->st, cap))) return NULL;
    memset(st + p->cap, 0, cap - p->cap);
    p->st = st;
    p->cap = cap;
  }
  return &p->st[fd];
}

void mpns_poller_opened(mpns_poller *p, int fd) {
  unsigned char *st = state(p, fd);
  if (st) *st = OURS;
}

/* Before one of our sockets closes: no state may outlive its fd number. */
void mpns_poller_closing(mpns_poller *p, int fd) {
  unsigned char *st = state(p, fd);
  if (st && (*st & REG)) epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
  if (st) *st = 0;
}

static int ctl(mpns_poller *p, int op, int fd, unsigned mask) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = (mask & IN ? EPOLLIN : 0u) | (mask & OUT ? EPOLLOUT : 0u);
  ev.data.fd = fd;
  return epoll_ctl(p->epfd, op, fd, &ev);
}

/* curl wants IN and/or OUT on fd, or nothing (mask 0: the socket idles). */
int mpns_poller_want(mpns_poller *p, int fd, unsigned in, unsigned out) {
  unsigned char *st = state(p, fd);
  unsigned mask = (in ? IN : 0u) | (out ? OUT : 0u);
  if (!st) return -1;
  if (!mask) {
    if ((*st & REG) && !(*st & OURS)) {      /* not ours: may close unseen */
      epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
      *st = 0;
    }
    *st &= (unsigned char)~WATCH;
    return 0;
  }
  if ((*st & REG) && (*st & (IN | OUT)) == mask) {
    *st |= WATCH;
    return 0;
  }
  if (*st & REG ? ctl(p, EPOLL_CTL_MOD, fd, mask) && ctl(p, EPOLL_CTL_ADD, fd, mask)
                : ctl(p, EPOLL_CTL_ADD, fd, mask) && ctl(p, EPOLL_CTL_MOD, fd, mask))
    return -1;
  *st = (unsigned char)((*st & OURS) | REG | WATCH | mask);
  return 0;
}

/* epoll_wait, keeping only events curl asked for. */
int mpns_poller_wait(mpns_poller *p, struct epoll_event *ev, int max, int ms) {
  int n = epoll_wait(p->epfd, ev, max, ms), i, kept = 0;
  for (i = 0; i < n; i++) {
    unsigned char *st = state(p, ev[i].data.fd);
    if (st && !(*st & WATCH)) {               /* idle and readable: closed */
      epoll_ctl(p->epfd, EPOLL_CTL_DEL, ev[i].data.fd, NULL);
      *st &= OURS;
      continue;
    }
    ev[kept++] = ev[i];
  }
  return kept;
}
