/* An LD_PRELOAD shim for experiments only: sets TCP_NODELAY on every TCP connection a
 * process accepts. bench_e2e --host-nodelay-preload loads it into signal-delivery-host to
 * measure what disabling Nagle's algorithm on the event listener would change, without
 * touching the host's code. Never used in production. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static void SetNoDelay(int fd) {
  if (fd < 0) return;
  int yes = 1;
  /* Fails harmlessly (ENOTSUP/EOPNOTSUPP) on sockets that are not TCP. */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
}

int accept(int fd, struct sockaddr* addr, socklen_t* len) {
  static int (*real_accept)(int, struct sockaddr*, socklen_t*);
  if (real_accept == 0) {
    real_accept = (int (*)(int, struct sockaddr*, socklen_t*))dlsym(RTLD_NEXT, "accept");
  }
  int client = real_accept(fd, addr, len);
  SetNoDelay(client);
  return client;
}

int accept4(int fd, struct sockaddr* addr, socklen_t* len, int flags) {
  static int (*real_accept4)(int, struct sockaddr*, socklen_t*, int);
  if (real_accept4 == 0) {
    real_accept4 = (int (*)(int, struct sockaddr*, socklen_t*, int))dlsym(RTLD_NEXT, "accept4");
  }
  int client = real_accept4(fd, addr, len, flags);
  SetNoDelay(client);
  return client;
}
