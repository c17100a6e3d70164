/*
 * libnsinit, checkpoint/restore: what driving `criu swrk <fd>` needs that Deno
 * cannot do itself. Deno.Command cannot hand a child extra fds, so the
 * SOCK_SEQPACKET socketpair is made here and its child end (with stdio and any
 * inherited fds) is placed at fixed numbers by posix_spawn. CRIU opens the
 * images directory through /proc/<peer pid>/fd/N, so the peer of the socket must
 * be this (the Deno) process, which also holds that fd.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

#define NSI_EXPORT __attribute__((visibility("default")))

extern char **environ;

/* A SOCK_SEQPACKET unix socketpair; both ends close-on-exec. */
NSI_EXPORT int nsi_seqpacket_pair(int32_t *out)
{
	int sp[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	out[0] = sp[0];
	out[1] = sp[1];
	return 0;
}

/*
 * Starts `path` with argv (NUL-separated) and the caller's environment;
 * fds[i] becomes fd i of the child (-1: /dev/null), every other fd is closed by
 * close-on-exec. Signal mask and dispositions are reset. out[0] = pid,
 * out[1] = a pidfd for it. Returns 0 or -errno.
 */
NSI_EXPORT int nsi_spawn_fds(const char *path, const uint8_t *argv_buf, uint32_t argv_len,
			     const int32_t *fds, int32_t nfds, int32_t *out)
{
	char *const just_path[] = { (char *)path, NULL };
	char **argv;
	int tmp[64], ntmp = 0, rc, null = -1;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	pid_t pid;

	if (nfds < 0 || nfds > 64)
		return -EINVAL;
	argv = nsi_split_nul(argv_buf, argv_len);
	if (!argv)
		return -ENOMEM;
	/* Sources above the target range first, so no dup2 clobbers another source. */
	for (int i = 0; i < nfds; i++) {
		int src = fds[i];
		if (src < 0) {
			if (null < 0)
				null = open("/dev/null", O_RDWR | O_CLOEXEC);
			src = null;
		}
		tmp[i] = fcntl(src, F_DUPFD_CLOEXEC, nfds);
		if (tmp[i] < 0) {
			rc = -errno;
			goto done;
		}
		ntmp++;
	}
	posix_spawn_file_actions_init(&fa);
	for (int i = 0; i < nfds; i++)
		posix_spawn_file_actions_adddup2(&fa, tmp[i], i);
	nsi_spawnattr_clean(&attr);
	rc = -posix_spawn(&pid, path, &fa, &attr, argv[0] ? argv : just_path, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc == 0) {
		long pidfd = syscall(SYS_pidfd_open, pid, 0);
		if (pidfd < 0) {
			/* Cannot happen for our own fresh child; never leave it unwaited. */
			rc = -errno;
			kill(pid, SIGKILL);
		}
		out[0] = pid;
		out[1] = (int32_t)pidfd;
	}
done:
	for (int i = 0; i < ntmp; i++)
		close(tmp[i]);
	if (null >= 0)
		close(null);
	free(argv);
	return rc;
}

/*
 * Receives one packet into buf; an fd passed with it (SCM_RIGHTS) goes to
 * *fd_out (else -1). Returns its length, 0 at EOF, -EMSGSIZE if it did not fit.
 */
NSI_EXPORT int64_t nsi_recv_packet(int32_t fd, uint8_t *buf, uint64_t len, int32_t *fd_out)
{
	return nsi_recv_with_fd(fd, buf, len, fd_out);
}

/* A recursive bind mount (CRIU's restore root must be a mount point). */
NSI_EXPORT int nsi_bind_mount(const char *src, const char *dst)
{
	return mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0 ? -errno : 0;
}

/* umount2(path, MNT_DETACH). */
NSI_EXPORT int nsi_umount_detach(const char *path)
{
	return umount2(path, MNT_DETACH) < 0 ? -errno : 0;
}
