/*
 * nexcage-idmap: idmapped mounts for user-namespaced pods, because Node.js cannot call
 * open_tree(2), mount_setattr(2) or move_mount(2). runc 1.1 cannot idmap mounts itself, so the
 * daemon prepares idmapped views of a pod's image layers and bind sources and hands those to runc.
 *
 *   nexcage-idmap check --uid-map C:H:L --gid-map C:H:L PATH...
 *   nexcage-idmap mount [-r] --uid-map C:H:L --gid-map C:H:L SOURCE TARGET [SOURCE TARGET]...
 *
 * An idmap mount takes its mapping from a user namespace: a short-lived child is cloned into a new
 * one with the given mappings (the same mapping as the pod's own namespace, so the result is the
 * same), its /proc/<pid>/ns/user is opened and the child is let go.
 *
 * check: whether the filesystem of each PATH can be idmapped (a detached clone is idmapped and
 * dropped; nothing is mounted). Prints "PATH: reason" for each that cannot; exit 1 if any.
 * mount: an idmapped clone of each SOURCE (file or directory; with -r its submounts too, as a
 * recursive bind) is attached at TARGET, which must exist and be of the same kind. All or nothing:
 * on a failure the mounts attached so far are detached again and "SOURCE: step: reason" is printed.
 * Exit status: 0 done, 1 a failure (message on stderr), 2 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_LINES 32

struct idmap {
  char uid[MAX_LINES * 40];
  char gid[MAX_LINES * 40];
  int uid_lines;
  int gid_lines;
};

static int usage(void) {
  fprintf(stderr,
          "usage: nexcage-idmap check --uid-map C:H:L --gid-map C:H:L PATH...\n"
          "       nexcage-idmap mount [-r] --uid-map C:H:L --gid-map C:H:L SOURCE TARGET...\n");
  return 2;
}

/* "C:H:L" (container id, host id, length) appended to a uid_map/gid_map text as "C H L\n". */
static int add_line(char *buf, size_t size, int *lines, const char *arg) {
  unsigned long c, h, l;
  char end;
  if (*lines >= MAX_LINES || sscanf(arg, "%lu:%lu:%lu%c", &c, &h, &l, &end) != 3) return -1;
  if (c > UINT_MAX || h > UINT_MAX || l == 0 || l > UINT_MAX) return -1;
  size_t used = strlen(buf);
  int n = snprintf(buf + used, size - used, "%lu %lu %lu\n", c, h, l);
  if (n < 0 || (size_t)n >= size - used) return -1;
  (*lines)++;
  return 0;
}

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t len = strlen(text);
  ssize_t w = write(fd, text, len);
  int saved = errno;
  close(fd);
  errno = saved;
  return w == (ssize_t)len ? 0 : -1;
}

/* A user namespace with the mappings, as an fd; -1 with a message on failure. */
static int make_userns(const struct idmap *m) {
  int hold[2];
  if (pipe2(hold, O_CLOEXEC) != 0) {
    perror("nexcage-idmap: pipe");
    return -1;
  }
  /* Born in the new namespace; it waits for the pipe to close, so its namespace exists until then. */
  pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid < 0) {
    perror("nexcage-idmap: clone(CLONE_NEWUSER)");
    close(hold[0]);
    close(hold[1]);
    return -1;
  }
  if (pid == 0) {
    char c;
    close(hold[1]);
    while (read(hold[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  close(hold[0]);
  char path[64];
  int fd = -1;
  snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
  if (write_file(path, m->uid) != 0) {
    fprintf(stderr, "nexcage-idmap: writing uid_map: %s\n", strerror(errno));
  } else {
    snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
    if (write_file(path, m->gid) != 0) {
      fprintf(stderr, "nexcage-idmap: writing gid_map: %s\n", strerror(errno));
    } else {
      snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
      fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) fprintf(stderr, "nexcage-idmap: opening %s: %s\n", path, strerror(errno));
    }
  }
  close(hold[1]);
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
  }
  return fd;
}

/* A detached idmapped clone of `source`; -1 with errno and *step naming what failed. */
static int idmapped_clone(const char *source, int userns, int recursive, const char **step) {
  unsigned int flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
  int tree = open_tree(AT_FDCWD, source, flags);
  if (tree < 0) {
    *step = "open_tree";
    return -1;
  }
  struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (unsigned long long)userns};
  if (mount_setattr(tree, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr) != 0) {
    int saved = errno;
    *step = "mount_setattr(MOUNT_ATTR_IDMAP)";
    close(tree);
    errno = saved;
    return -1;
  }
  return tree;
}

int main(int argc, char **argv) {
  if (argc < 2) return usage();
  const char *cmd = argv[1];
  int is_check = strcmp(cmd, "check") == 0;
  if (!is_check && strcmp(cmd, "mount") != 0) return usage();
  struct idmap m;
  memset(&m, 0, sizeof m);
  int recursive = 0;
  int i = 2;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "-r") == 0 && !is_check) {
      recursive = 1;
    } else if (strcmp(argv[i], "--uid-map") == 0 && i + 1 < argc) {
      if (add_line(m.uid, sizeof m.uid, &m.uid_lines, argv[++i]) != 0) return usage();
    } else if (strcmp(argv[i], "--gid-map") == 0 && i + 1 < argc) {
      if (add_line(m.gid, sizeof m.gid, &m.gid_lines, argv[++i]) != 0) return usage();
    } else {
      break;
    }
  }
  int rest = argc - i;
  if (m.uid_lines == 0 || m.gid_lines == 0 || rest == 0 || (!is_check && rest % 2 != 0)) return usage();

  int userns = make_userns(&m);
  if (userns < 0) return 1;

  if (is_check) {
    int failed = 0;
    for (; i < argc; i++) {
      const char *step = "";
      int tree = idmapped_clone(argv[i], userns, 0, &step);
      if (tree < 0) {
        fprintf(stderr, "%s: %s: %s\n", argv[i], step, strerror(errno));
        failed = 1;
      } else {
        close(tree);
      }
    }
    close(userns);
    return failed;
  }

  int first = i;
  for (; i < argc; i += 2) {
    const char *source = argv[i], *target = argv[i + 1], *step = "";
    int tree = idmapped_clone(source, userns, recursive, &step);
    int err = errno;
    if (tree >= 0) {
      if (move_mount(tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) != 0) {
        err = errno;
        step = "move_mount";
      } else {
        step = NULL;
      }
      close(tree);
    }
    if (step != NULL) {
      fprintf(stderr, "%s: %s%s%s: %s\n", source, step, strcmp(step, "move_mount") == 0 ? " to " : "",
              strcmp(step, "move_mount") == 0 ? target : "", strerror(err));
      for (int j = i - 2; j >= first; j -= 2) umount2(argv[j + 1], MNT_DETACH);
      close(userns);
      return 1;
    }
  }
  close(userns);
  return 0;
}
