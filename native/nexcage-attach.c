/*
 * nexcage-attach: bridge conmon's attach socket to plain pipes, because Node.js cannot open a
 * SOCK_SEQPACKET unix socket. Used for CRI Attach:
 *
 *   nexcage-attach [-d] SOCKET
 *
 * conmon sends one packet per read of the container's output: a pipe byte (2 = stdout,
 * 3 = stderr) followed by the data; what we send it goes to the container's stdin. Here stdin
 * (fd 0) is sent to the socket; stdout packets go to fd 1 and stderr packets to fd 3 (fd 2 stays
 * for this helper's own errors). On stdin EOF the socket's write side is shut down, and conmon
 * then closes the container's stdin unless it runs with --leave-stdin-open (stdin_once); with -d
 * the helper exits there instead (the client detached: the session ends, the container runs on).
 * Exits 0 when conmon closes the socket (the container exited) or on -d's EOF, 125 when it
 * cannot connect.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BUF_SIZE 8192
#define STDOUT_PIPE 2
#define STDERR_PIPE 3

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int main(int argc, char **argv) {
  int detach_on_eof = argc == 3 && strcmp(argv[1], "-d") == 0;
  if (detach_on_eof) {
    argv++;
    argc--;
  }
  if (argc != 2) {
    fprintf(stderr, "usage: nexcage-attach [-d] SOCKET\n");
    return 125;
  }
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  const char *path = argv[1];
  if (strlen(path) >= sizeof addr.sun_path) {
    /* sun_path holds 108 bytes: connect relative to the socket's directory instead */
    char *slash = strrchr(argv[1], '/');
    if (slash == NULL || slash == argv[1]) {
      fprintf(stderr, "nexcage-attach: socket path too long: %s\n", argv[1]);
      return 125;
    }
    *slash = '\0';
    if (chdir(argv[1]) < 0) {
      fprintf(stderr, "nexcage-attach: chdir %s: %s\n", argv[1], strerror(errno));
      return 125;
    }
    *slash = '/';
    path = slash + 1;
    if (strlen(path) >= sizeof addr.sun_path) {
      fprintf(stderr, "nexcage-attach: socket name too long: %s\n", path);
      return 125;
    }
  }
  strcpy(addr.sun_path, path);
  int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0) {
    fprintf(stderr, "nexcage-attach: connect %s: %s\n", argv[1], strerror(errno));
    return 125;
  }
  signal(SIGPIPE, SIG_IGN);
  int err_fd = fcntl(3, F_GETFD) != -1 ? 3 : -1;
  char buf[BUF_SIZE + 1];
  int in_open = 1;
  for (;;) {
    struct pollfd p[2] = {{.fd = sock, .events = POLLIN}, {.fd = in_open ? 0 : -1, .events = POLLIN}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[0].revents) {
      ssize_t n = recv(sock, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      int fd = buf[0] == STDERR_PIPE ? err_fd : buf[0] == STDOUT_PIPE ? 1 : -1;
      if (fd >= 0 && n > 1) write_all(fd, buf + 1, (size_t)n - 1);
    }
    if (in_open && p[1].revents) {
      ssize_t n = read(0, buf, BUF_SIZE);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (detach_on_eof) break; /* what was sent before is queued on the socket: conmon reads it, then EOF */
        in_open = 0;
        shutdown(sock, SHUT_WR);
      } else if (send(sock, buf, (size_t)n, 0) < 0) {
        in_open = 0;
      }
    }
  }
  return 0;
}
