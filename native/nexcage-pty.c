/*
 * nexcage-pty: run a command on a new pseudo-terminal and relay the terminal over plain pipes,
 * because Node.js cannot allocate a pty itself. Used for exec with a TTY:
 *
 *   nexcage-pty [-p PIDFILE] COLS ROWS COMMAND [ARGS...]
 *
 * stdin -> pty master, pty master -> stdout. Resize requests "COLS ROWS\n" arrive on fd 3 (if it
 * is open). The command runs as a session leader with the pty as its controlling terminal. On
 * stdin EOF an EOF character (^D) is written so canonical-mode readers see end of input. Exits
 * with the command's exit code, or 128+N when it was killed by signal N.
 *
 * With -p, COMMAND is expected to start a process that outlives it and write that process's pid
 * to PIDFILE (`runc exec --detach --pid-file`: only a detached runc hands its own stdio, the pty,
 * straight to the process). This helper is a child subreaper, so that process is reparented to
 * it when runc exits, and its exit status is the one reported.
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
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

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

static void set_size(int fd, unsigned cols, unsigned rows) {
  if (cols == 0 || rows == 0) return;
  struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
  ioctl(fd, TIOCSWINSZ, &ws);
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

int main(int argc, char **argv) {
  const char *pidfile = NULL;
  if (argc > 2 && strcmp(argv[1], "-p") == 0) {
    pidfile = argv[2];
    argv += 2;
    argc -= 2;
  }
  if (argc < 4) {
    fprintf(stderr, "usage: nexcage-pty [-p PIDFILE] COLS ROWS COMMAND [ARGS...]\n");
    return 125;
  }
  if (pidfile && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
    perror("nexcage-pty: PR_SET_CHILD_SUBREAPER");
    return 125;
  }
  /* Before anything else opens fds: is the resize pipe there? */
  int ctl_open = fcntl(3, F_GETFD) != -1;
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
    perror("nexcage-pty: posix_openpt");
    return 125;
  }
  const char *name = ptsname(master);
  /* Open the slave before forking so the master never sees "no slave open" (EIO) early. */
  int slave = name ? open(name, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
  if (slave < 0) {
    perror("nexcage-pty: open slave");
    return 125;
  }
  set_size(master, (unsigned)strtoul(argv[1], NULL, 10), (unsigned)strtoul(argv[2], NULL, 10));

  /* This helper, not the command, leads the session and owns the terminal: with -p the command
   * (runc) exits early, and a dying controlling process would hang up the terminal (SIGHUP) under
   * the process it started. The command gets its own foreground process group. */
  if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0) {
    perror("nexcage-pty: setsid/TIOCSCTTY");
    return 125;
  }
  signal(SIGTTOU, SIG_IGN);
  pid_t pid = fork();
  if (pid < 0) {
    perror("nexcage-pty: fork");
    return 125;
  }
  if (pid == 0) {
    setpgid(0, 0);
    signal(SIGTTOU, SIG_DFL);
    dup2(slave, 0);
    dup2(slave, 1);
    dup2(slave, 2);
    if (ctl_open) close(3);
    execvp(argv[3], argv + 3);
    fprintf(stderr, "nexcage-pty: exec %s: %s\r\n", argv[3], strerror(errno));
    _exit(127);
  }
  setpgid(pid, pid);
  tcsetpgrp(slave, pid);
  close(slave);
  signal(SIGPIPE, SIG_IGN);

  char buf[32768];
  char ctl[256];
  size_t ctl_len = 0;
  int in_open = 1;
  for (;;) {
    struct pollfd p[3] = {
        {.fd = master, .events = POLLIN},
        {.fd = in_open ? 0 : -1, .events = POLLIN},
        {.fd = ctl_open ? 3 : -1, .events = POLLIN},
    };
    if (poll(p, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[0].revents) {
      ssize_t n = read(master, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break; /* EIO: every slave fd is closed, the command is done */
      if (write_all(1, buf, (size_t)n) < 0) break;
    }
    if (in_open && p[1].revents) {
      ssize_t n = read(0, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        in_open = 0;
        char eof = 4;
        write_all(master, &eof, 1);
      } else if (write_all(master, buf, (size_t)n) < 0) {
        in_open = 0;
      }
    }
    if (ctl_open && p[2].revents) {
      ssize_t n = read(3, ctl + ctl_len, sizeof ctl - ctl_len - 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ctl_open = 0;
        continue;
      }
      ctl_len += (size_t)n;
      ctl[ctl_len] = 0;
      char *line = ctl, *nl;
      while ((nl = strchr(line, '\n')) != NULL) {
        unsigned cols = 0, rows = 0;
        *nl = 0;
        if (sscanf(line, "%u %u", &cols, &rows) == 2) set_size(master, cols, rows);
        line = nl + 1;
      }
      ctl_len = strlen(line);
      memmove(ctl, line, ctl_len);
      if (ctl_len >= sizeof ctl - 1) ctl_len = 0; /* an over-long line is garbage */
    }
  }
  /* Every slave fd is closed: the command (and with -p the process it started) is done. Reap
   * everything; report the process from the pid file if there is one, else our direct child. */
  int child_status = 0, target_status = -1;
  pid_t target = pidfile ? read_pid(pidfile) : -1;
  for (;;) {
    int status;
    pid_t got = waitpid(-1, &status, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      break; /* ECHILD */
    }
    if (got == pid) child_status = status;
    if (target > 0 && got == target) target_status = status;
    if (target <= 0 && pidfile && got == pid) target = read_pid(pidfile);
  }
  if (target_status >= 0 && exit_code(child_status) == 0) return exit_code(target_status);
  return exit_code(child_status);
}
