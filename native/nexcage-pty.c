/*
 * nexcage-pty: exec with a terminal, on a pty that belongs to the container. Node.js can neither
 * listen for a file descriptor on a unix socket (SCM_RIGHTS) nor reap reparented processes, so:
 *
 *   nexcage-pty [-i] -s SOCKET -p PIDFILE COLS ROWS RUNTIME [ARGS...]
 *
 * listens on SOCKET, runs RUNTIME ARGS (`runc ... exec --process P --detach --console-socket
 * SOCKET --pid-file PIDFILE ID` for a process with terminal: true: the runtime creates the pty
 * inside the container, from its own /dev/pts, and sends the master here), then relays the master:
 * its output to fd 1, and with -i fd 0 to it (an EOF on fd 0 becomes the terminal's EOF character).
 * COLS ROWS (unless 0) size it on arrival, for runtimes that ignore the spec's consoleSize;
 * "COLS ROWS\n" lines on fd 3 resize it (TIOCSWINSZ on the master: the kernel sends SIGWINCH to
 * the foreground job).
 * The runtime's own stdout/stderr go to fd 2. SIGTERM kills the exec'd process.
 *
 * This helper is a child subreaper: the detached runtime exits once the process runs, and the
 * process is reparented here. When it exits, its remaining output is drained and one line goes to
 * fd 4: "exit N" (N = exit code, 128+signal when killed), or "runtime N" when the runtime failed
 * (exit code N) and the process never ran. Exit code 0 after a report, 125 on a setup failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

#define CTL_FD 3
#define STATUS_FD 4
/* Orphans reaped before the pid file names the process: remembered to match it afterwards. */
#define MAX_EARLY 32

static int out_open = 1;

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

/* Terminal output to fd 1; once the reader is gone it is dropped, so the process never blocks. */
static void output(const char *p, size_t n) {
  if (out_open && write_all(1, p, n) < 0) out_open = 0;
}

static void set_size(int master, unsigned cols, unsigned rows) {
  if (master < 0 || cols == 0 || rows == 0) return;
  struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
  ioctl(master, TIOCSWINSZ, &ws);
}

static int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

static pid_t read_pid(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long pid = -1;
  if (fscanf(f, "%ld", &pid) != 1) pid = -1;
  fclose(f);
  return (pid_t)pid;
}

static int listen_on(const char *path) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) {
    fprintf(stderr, "nexcage-pty: console socket path too long (max %zu bytes): %s\n", sizeof addr.sun_path - 1, path);
    return -1;
  }
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  unlink(path);
  if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || chmod(path, 0600) < 0 || listen(fd, 1) < 0) {
    fprintf(stderr, "nexcage-pty: listen on %s: %s\n", path, strerror(errno));
    return -1;
  }
  return fd;
}

/* The runtime's console protocol: one message carrying the master as SCM_RIGHTS (data: its name). */
static int receive_master(int conn) {
  char name[4096];
  char control[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {.iov_base = name, .iov_len = sizeof name};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  ssize_t n;
  do n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int))) {
      int fd;
      memcpy(&fd, CMSG_DATA(c), sizeof fd);
      return fd;
    }
  }
  errno = EPROTO;
  return -1;
}

/* Whatever the process wrote before it exited (a read waits for the tty's pending flush). */
static void drain(int master) {
  if (master < 0) return;
  char buf[32768];
  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  for (;;) {
    ssize_t n = read(master, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    output(buf, (size_t)n);
  }
}

static void report(const char *what, int code) {
  char line[64];
  int n = snprintf(line, sizeof line, "%s %d\n", what, code);
  write_all(STATUS_FD, line, (size_t)n);
}

int main(int argc, char **argv) {
  int relay_stdin = 0;
  const char *sock_path = NULL, *pidfile = NULL;
  int opt;
  while ((opt = getopt(argc, argv, "+is:p:")) != -1) {
    if (opt == 'i') relay_stdin = 1;
    else if (opt == 's') sock_path = optarg;
    else if (opt == 'p') pidfile = optarg;
    else return 125;
  }
  if (!sock_path || !pidfile || argc - optind < 3) {
    fprintf(stderr, "usage: nexcage-pty [-i] -s SOCKET -p PIDFILE COLS ROWS RUNTIME [ARGS...]\n");
    return 125;
  }
  unsigned cols = (unsigned)strtoul(argv[optind], NULL, 10), rows = (unsigned)strtoul(argv[optind + 1], NULL, 10);
  char **command = argv + optind + 2;
  /* Before anything else opens fds: is the resize pipe there? */
  int ctl_open = fcntl(CTL_FD, F_GETFD) != -1;
  /* The daemon gone means nobody relays this terminal: go too (the process then gets a hangup). */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
    perror("nexcage-pty: PR_SET_CHILD_SUBREAPER");
    return 125;
  }
  signal(SIGPIPE, SIG_IGN);
  sigset_t mask, old;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGTERM);
  sigprocmask(SIG_BLOCK, &mask, &old);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  int listener = listen_on(sock_path);
  if (sfd < 0 || listener < 0) {
    if (sfd < 0) perror("nexcage-pty: signalfd");
    return 125;
  }

  pid_t runtime = fork();
  if (runtime < 0) {
    perror("nexcage-pty: fork");
    return 125;
  }
  if (runtime == 0) {
    sigprocmask(SIG_SETMASK, &old, NULL);
    signal(SIGPIPE, SIG_DFL);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(2, 1);
    close(CTL_FD);
    close(STATUS_FD);
    execvp(command[0], command);
    fprintf(stderr, "nexcage-pty: exec %s: %s\n", command[0], strerror(errno));
    _exit(127);
  }

  int conn = -1, master = -1, peer = -1;
  int in_open = relay_stdin;
  int runtime_status = -1, terminate = 0;
  pid_t target = -1;
  pid_t early_pid[MAX_EARLY];
  int early_status[MAX_EARLY], n_early = 0;
  char buf[32768];
  char ctl[256];
  size_t ctl_len = 0;
  for (;;) {
    struct pollfd p[6] = {
        {.fd = sfd, .events = POLLIN},
        {.fd = listener, .events = POLLIN},
        {.fd = conn, .events = POLLIN},
        {.fd = master, .events = POLLIN},
        /* Input waits in the pipe until there is a terminal to type it into. */
        {.fd = in_open && master >= 0 ? 0 : -1, .events = POLLIN},
        {.fd = ctl_open ? CTL_FD : -1, .events = POLLIN},
    };
    if (poll(p, 6, -1) < 0) {
      if (errno == EINTR) continue;
      perror("nexcage-pty: poll");
      return 125;
    }
    if (p[1].revents) {
      conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
      if (conn >= 0) {
        close(listener);
        listener = -1;
        unlink(sock_path);
      }
    }
    if (conn >= 0 && p[2].revents) {
      master = receive_master(conn);
      if (master < 0) fprintf(stderr, "nexcage-pty: no terminal from the runtime: %s\n", strerror(errno));
      close(conn);
      conn = -1;
      if (master >= 0) {
        set_size(master, cols, rows);
        /* Holding the slave too: until the process opens it, a master alone reads EIO (hangup). */
        peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
      }
    }
    if (master >= 0 && p[3].revents) {
      ssize_t n = read(master, buf, sizeof buf);
      if (n > 0) output(buf, (size_t)n);
      else if (n < 0 && errno != EINTR && errno != EAGAIN && peer < 0) usleep(20000); /* no peer: the slave is not open yet */
    }
    if (in_open && p[4].revents) {
      ssize_t n = read(0, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        in_open = 0;
        struct termios t;
        char eof = tcgetattr(master, &t) == 0 ? (char)t.c_cc[VEOF] : 4;
        write_all(master, &eof, 1);
      } else if (write_all(master, buf, (size_t)n) < 0) {
        in_open = 0;
      }
    }
    if (ctl_open && p[5].revents) {
      ssize_t n = read(CTL_FD, ctl + ctl_len, sizeof ctl - ctl_len - 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ctl_open = 0;
      } else {
        ctl_len += (size_t)n;
        ctl[ctl_len] = 0;
        char *line = ctl, *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
          *nl = 0;
          if (sscanf(line, "%u %u", &cols, &rows) == 2) set_size(master, cols, rows);
          line = nl + 1;
        }
        ctl_len = strlen(line);
        memmove(ctl, line, ctl_len);
        if (ctl_len >= sizeof ctl - 1) ctl_len = 0; /* an over-long line is garbage */
      }
    }
    if (!p[0].revents) continue;

    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
      if (si.ssi_signo == SIGTERM) terminate = 1;
    }
    int status;
    pid_t got;
    int target_status = -1;
    while ((got = waitpid(-1, &status, WNOHANG)) > 0) {
      if (got == runtime) {
        runtime_status = status;
        if (exit_code(status) == 0) target = read_pid(pidfile);
        for (int i = 0; i < n_early; i++) {
          if (early_pid[i] == target) target_status = early_status[i];
        }
      } else if (target > 0 && got == target) {
        target_status = status;
      } else if (target <= 0 && n_early < MAX_EARLY) {
        early_pid[n_early] = got;
        early_status[n_early++] = status;
      }
    }
    if (terminate && target > 0 && target_status < 0) kill(target, SIGKILL);
    if (target_status >= 0) {
      drain(master);
      report("exit", exit_code(target_status));
      return 0;
    }
    if (runtime_status >= 0 && target <= 0) {
      drain(master);
      int code = exit_code(runtime_status);
      if (code == 0) fprintf(stderr, "nexcage-pty: the runtime wrote no pid to %s\n", pidfile);
      report("runtime", code == 0 ? 1 : code);
      return 0;
    }
  }
}
