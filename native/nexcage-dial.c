/*
 * nexcage-dial: open a TCP connection to localhost:PORT from inside a pod's network namespace and
 * hand the connected socket to the Node.js parent, which then reads and writes it itself (Node
 * cannot setns(): that needs a thread of its own). Used for CRI PortForward:
 *
 *   nexcage-dial NETNS_PATH PORT
 *
 * The parent spawns it with an 'ipc' stdio entry: Node's channel (NODE_CHANNEL_FD) is a unix
 * stream socket speaking newline-delimited JSON, on which a handle travels as a message
 * {"cmd":"NODE_HANDLE","type":"net.Native","msg":...} with the fd attached (SCM_RIGHTS) to the
 * same sendmsg(); the parent answers {"cmd":"NODE_HANDLE_ACK"} and delivers the handle to its
 * 'message' listener. We wait for that answer so the parent's ACK never meets a closed channel.
 *
 * As kubelet's and containerd's port forwarding do, 127.0.0.1 is tried first, then ::1, each
 * bounded by a connect timeout. Exits 0 once the socket was handed over; otherwise 1 with one
 * line on stderr ("IPv4: connect 127.0.0.1:80: Connection refused IPv6: ..."), 2 for bad usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_MS 5000
#define ACK_TIMEOUT_MS 10000

/* Connect a non-blocking socket within CONNECT_TIMEOUT_MS; fd, or -1 with errno set. */
static int dial(const struct sockaddr *addr, socklen_t len) {
  int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (connect(fd, addr, len) == 0) return fd;
  if (errno != EINPROGRESS) goto fail;
  struct pollfd p = {.fd = fd, .events = POLLOUT};
  int n;
  do n = poll(&p, 1, CONNECT_TIMEOUT_MS);
  while (n < 0 && errno == EINTR);
  if (n < 0) goto fail;
  if (n == 0) {
    errno = ETIMEDOUT;
    goto fail;
  }
  int soerr = 0;
  socklen_t sl = sizeof soerr;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) goto fail;
  if (soerr != 0) {
    errno = soerr;
    goto fail;
  }
  return fd;
fail: {
  int e = errno;
  close(fd);
  errno = e;
  return -1;
}
}

/* Send the handle message with `fd` attached in one sendmsg(), as libuv expects to read it. */
static int send_handle(int channel, int fd, const char *family) {
  char line[128];
  int n = snprintf(line, sizeof line, "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":{\"family\":\"%s\"}}\n", family);
  struct iovec iov = {.iov_base = line, .iov_len = (size_t)n};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  ssize_t w;
  do w = sendmsg(channel, &msg, MSG_NOSIGNAL);
  while (w < 0 && errno == EINTR);
  /* A short write cannot happen for one small message on a fresh channel; treat it as failure. */
  return w == n ? 0 : -1;
}

/* Wait for the parent's answer line (its ACK), its end of the channel, or the timeout. */
static void await_ack(int channel) {
  char buf[256];
  for (;;) {
    struct pollfd p = {.fd = channel, .events = POLLIN};
    int n = poll(&p, 1, ACK_TIMEOUT_MS);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    ssize_t r = read(channel, buf, sizeof buf);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r <= 0 || memchr(buf, '\n', (size_t)r) != NULL) return;
  }
}

int main(int argc, char **argv) {
  const char *chan = getenv("NODE_CHANNEL_FD");
  char *end = NULL;
  long port = argc == 3 ? strtol(argv[2], &end, 10) : 0;
  if (argc != 3 || chan == NULL || end == argv[2] || *end != '\0' || port < 1 || port > 65535) {
    fprintf(stderr, "usage: nexcage-dial NETNS_PATH PORT (spawned by Node.js with an ipc channel)\n");
    return 2;
  }
  int channel = atoi(chan);
  /* The channel must not reach anything else; the socket we pass is CLOEXEC as well. */
  (void)fcntl(channel, F_SETFD, FD_CLOEXEC);

  int ns = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (ns < 0) {
    fprintf(stderr, "open network namespace %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  if (setns(ns, CLONE_NEWNET) < 0) {
    fprintf(stderr, "enter network namespace %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  close(ns);

  struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = {htonl(INADDR_LOOPBACK)}};
  int fd = dial((const struct sockaddr *)&v4, sizeof v4);
  const char *family = "IPv4";
  if (fd < 0) {
    int e4 = errno;
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    fd = dial((const struct sockaddr *)&v6, sizeof v6);
    family = "IPv6";
    if (fd < 0) {
      fprintf(stderr, "IPv4: connect 127.0.0.1:%ld: %s IPv6: connect [::1]:%ld: %s\n", port, strerror(e4), port, strerror(errno));
      return 1;
    }
  }
  if (send_handle(channel, fd, family) < 0) {
    fprintf(stderr, "hand the connection to the daemon: %s\n", strerror(errno));
    return 1;
  }
  close(fd);
  await_ack(channel);
  return 0;
}
