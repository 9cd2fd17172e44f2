/*
 * nexcage-mount: mount(2) and umount2(2) for container root filesystems and pod /dev/shm, without
 * mount(8)'s libmount (which parses the whole mount table on every call). Node.js cannot call
 * mount(2) itself.
 *
 *   nexcage-mount overlay DIR TARGET OPTIONS   overlay at TARGET, OPTIONS' relative paths resolved in DIR
 *   nexcage-mount tmpfs TARGET OPTIONS         tmpfs "shm" at TARGET, nosuid,nodev,noexec
 *   nexcage-mount umount TARGET                unmount; lazily (MNT_DETACH) when it is busy
 *
 * Exit status: 0 done, 1 a failure ("step: reason" on stderr), 2 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

static int fail(const char *step, const char *what) {
  /* One write, so the line is not split among other output. */
  char line[4096];
  snprintf(line, sizeof line, "%s %s: %s\n", step, what, strerror(errno));
  fputs(line, stderr);
  return 1;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "overlay") == 0) {
    if (chdir(argv[2]) != 0) return fail("chdir", argv[2]);
    if (mount("overlay", argv[3], "overlay", 0, argv[4]) != 0) return fail("mount overlay at", argv[3]);
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "tmpfs") == 0) {
    if (mount("shm", argv[2], "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, argv[3]) != 0) return fail("mount tmpfs at", argv[2]);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "umount") == 0) {
    if (umount2(argv[2], UMOUNT_NOFOLLOW) == 0) return 0;
    if (errno == EBUSY && umount2(argv[2], MNT_DETACH | UMOUNT_NOFOLLOW) == 0) return 0;
    return fail("umount", argv[2]);
  }
  fprintf(stderr, "usage: nexcage-mount overlay DIR TARGET OPTIONS | tmpfs TARGET OPTIONS | umount TARGET\n");
  return 2;
}
