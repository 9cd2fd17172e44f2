/*
 * nexcage-pageout: hands a process's clean file-backed pages back to the kernel with
 * process_madvise(MADV_PAGEOUT). The daemon runs it on itself once it has been quiet: most of the
 * Node binary it maps (start-up code, the embedded snapshot, ICU data, code paths of pulls and pod
 * starts) is touched in bursts and then only held, never read; what is used again is read back
 * from the file on first touch. Node.js cannot call madvise(2) itself.
 *
 *   nexcage-pageout PID    page out PID's read-only file mappings; prints "advised BYTES RANGES"
 *
 * Writable mappings are left alone (their changed pages are anonymous memory, and there is no
 * swap to page them out to). The kernel only pages out pages no other process maps.
 * Exit status: 0 done, 1 a failure ("step: reason" on stderr), 2 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif

#define BATCH 512

static int fail(const char *step, const char *what) {
  /* One write, so the line is not split among other output. */
  char line[512];
  snprintf(line, sizeof line, "%s %s: %s\n", step, what, strerror(errno));
  fputs(line, stderr);
  return 1;
}

/* Advise every range of `iov`; a range that went away since maps was read (ENOMEM) is skipped. */
static int advise(int pidfd, struct iovec *iov, int n, unsigned long long *advised) {
  int i = 0;
  while (i < n) {
    ssize_t r = syscall(SYS_process_madvise, pidfd, iov + i, (size_t)(n - i), MADV_PAGEOUT, 0u);
    if (r < 0) {
      if (errno == ENOMEM) {
        i++;
        continue;
      }
      return -1;
    }
    *advised += (unsigned long long)r;
    /* A short count stops inside a range that failed: skip past it. */
    size_t left = (size_t)r;
    while (i < n && left >= iov[i].iov_len) left -= iov[i++].iov_len;
    if (i < n && left > 0) i++;
    else if (i < n && r == 0) i++;
  }
  return 0;
}

int main(int argc, char **argv) {
  char *end = NULL;
  long pid = argc == 2 ? strtol(argv[1], &end, 10) : 0;
  if (argc != 2 || pid <= 0 || *end != '\0') {
    fprintf(stderr, "usage: nexcage-pageout PID\n");
    return 2;
  }
  int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0u);
  if (pidfd < 0) return fail("pidfd_open", argv[1]);
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/maps", pid);
  FILE *maps = fopen(path, "re");
  if (!maps) return fail("open", path);

  struct iovec iov[BATCH];
  int n = 0, ranges = 0;
  unsigned long long advised = 0;
  char line[4096];
  while (fgets(line, sizeof line, maps)) {
    unsigned long start, stop;
    char perms[8], name[2];
    /* Only the first character of the path matters: file mappings start with '/'. */
    if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %1s", &start, &stop, perms, name) != 4) continue;
    if (name[0] != '/' || perms[1] == 'w') continue;
    iov[n].iov_base = (void *)start;
    iov[n].iov_len = stop - start;
    n++;
    ranges++;
    if (n == BATCH) {
      if (advise(pidfd, iov, n, &advised) != 0) return fail("process_madvise", argv[1]);
      n = 0;
    }
  }
  fclose(maps);
  if (n > 0 && advise(pidfd, iov, n, &advised) != 0) return fail("process_madvise", argv[1]);
  printf("advised %llu %d\n", advised, ranges);
  return 0;
}
