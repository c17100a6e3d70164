/*
 * Test helper for seccomp/compile_test.ts: loads a BPF program and probes a few syscalls.
 *
 * usage: seccomp_probe BPF_FILE FLAGS DIR
 * Reads struct sock_filter[] from BPF_FILE, sets no_new_privs, loads it with
 * seccomp(SECCOMP_SET_MODE_FILTER, FLAGS, &prog), then makes raw syscalls and prints one
 * line per probe: "NAME RET ERRNO". Uses only write(2) after the filter is loaded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *name, long ret, int err) {
  char line[128];
  int n = snprintf(line, sizeof line, "%s %ld %d\n", name, ret, ret < 0 ? err : 0);
  if (write(1, line, (size_t)n) != n) _exit(3);
}

int main(int argc, char **argv) {
  static struct sock_filter insns[BPF_MAXINSNS];
  char path1[4096], path2[4096];
  if (argc != 4) {
    fprintf(stderr, "usage: %s BPF_FILE FLAGS DIR\n", argv[0]);
    return 2;
  }
  int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    perror("open");
    return 2;
  }
  ssize_t n = read(fd, insns, sizeof insns);
  close(fd);
  if (n <= 0 || n % (ssize_t)sizeof insns[0] != 0) {
    fprintf(stderr, "bad BPF file size %zd\n", n);
    return 2;
  }
  snprintf(path1, sizeof path1, "%s/by-mkdir", argv[3]);
  snprintf(path2, sizeof path2, "%s/by-mkdirat", argv[3]);
  struct sock_fprog prog = {.len = (unsigned short)(n / sizeof insns[0]), .filter = insns};
  unsigned long flags = strtoul(argv[2], NULL, 0);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    perror("prctl(PR_SET_NO_NEW_PRIVS)");
    return 2;
  }
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  report("seccomp", rc, errno);
  if (rc != 0) return 1;

  errno = 0;
  rc = syscall(SYS_mkdir, path1, 0700);
  report("mkdir", rc, errno);
  errno = 0;
  rc = syscall(SYS_mkdirat, AT_FDCWD, path2, 0700);
  report("mkdirat", rc, errno);
  errno = 0;
  rc = syscall(SYS_getpid);
  report("getpid", rc > 0 ? 0 : rc, errno);
  errno = 0;
  rc = syscall(SYS_umask, 022);
  report("umask022", rc < 0 ? rc : 0, errno);
  errno = 0;
  rc = syscall(SYS_umask, 077);
  report("umask077", rc < 0 ? rc : 0, errno);
  _exit(0);
}
