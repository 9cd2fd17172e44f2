/*
 * nexcage-netns: a new network namespace for a pod, with `lo` up, pinned by a bind mount, in one
 * short-lived process (Node.js cannot call unshare(2)). It stands for `unshare --net=PATH true`
 * followed by the CNI loopback plugin: two process spawns fewer per pod.
 *
 *   nexcage-netns [--private-dir DIR] PATH
 *
 * PATH (created here; exit status 3 when it exists) must be on a private mount (the kernel refuses nsfs bind mounts into a
 * shared one); with --private-dir, DIR (PATH's directory) is first bind-mounted onto itself and
 * made private, as `mount --bind DIR DIR; mount --make-private DIR` would. The process unshares its network namespace, sets IFF_UP on lo (what the loopback
 * plugin does: the kernel then gives it 127.0.0.1/8 and ::1), and bind-mounts its own
 * /proc/self/ns/net onto PATH; the mount is made in the caller's mount namespace, so the
 * namespace outlives this process. Nothing is mounted when a step fails.
 * Exit status: 0 done, 1 a failure ("step: reason" on stderr), 2 usage, 3 PATH exists.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(const char *step) {
  fprintf(stderr, "%s: %s\n", step, strerror(errno));
  return 1;
}

static int loopback_up(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
  if (rc == 0 && !(ifr.ifr_flags & IFF_UP)) {
    ifr.ifr_flags |= IFF_UP;
    rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
  }
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

int main(int argc, char **argv) {
  const char *dir = NULL;
  const char *path = NULL;
  if (argc == 4 && strcmp(argv[1], "--private-dir") == 0) {
    dir = argv[2];
    path = argv[3];
  } else if (argc == 2) {
    path = argv[1];
  }
  if (path == NULL || path[0] != '/' || (dir != NULL && dir[0] != '/')) {
    fprintf(stderr, "usage: nexcage-netns [--private-dir DIR] PATH\n");
    return 2;
  }
  if (dir != NULL) {
    if (mount(dir, dir, NULL, MS_BIND, NULL) != 0) return fail("private dir: bind mount");
    if (mount(NULL, dir, NULL, MS_PRIVATE, NULL) != 0) return fail("private dir: make private");
  }
  /* The pin file is made here (one Node round trip fewer); an existing one is another pod's pin. */
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0) {
    int saved = errno;
    fail("pin file");
    return saved == EEXIST ? 3 : 1;
  }
  close(fd);
  if (unshare(CLONE_NEWNET) != 0) return fail("unshare");
  if (loopback_up() != 0) return fail("lo up");
  if (mount("/proc/self/ns/net", path, NULL, MS_BIND, NULL) != 0) return fail("bind mount");
  return 0;
}
