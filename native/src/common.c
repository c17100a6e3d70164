/* What both binaries need (see common.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

void nsi_spawnattr_clean(posix_spawnattr_t *attr)
{
	sigset_t none, all;

	posix_spawnattr_init(attr);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(attr, &none);
	posix_spawnattr_setsigdefault(attr, &all);
	posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}

int nsi_send_with_fd(int sock, const void *buf, size_t len, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd >= 0) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

ssize_t nsi_recv_with_fd(int sock, void *buf, size_t len, int *fd_out)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { buf, len };
	struct msghdr mh;
	struct cmsghdr *c;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	*fd_out = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len >= CMSG_LEN(sizeof(int))) {
			memcpy(fd_out, CMSG_DATA(c), sizeof(int));
			break;
		}
	if (mh.msg_flags & MSG_TRUNC)
		return -EMSGSIZE;
	return n;
}

char **nsi_split_nul(const uint8_t *buf, uint32_t len)
{
	size_t n = 0, k = 0;
	char **v;

	for (uint32_t i = 0; i < len; i++)
		if (buf[i] == 0)
			n++;
	v = calloc(n + 1, sizeof(char *));
	if (!v)
		return NULL;
	for (uint32_t i = 0, start = 0; i < len; i++)
		if (buf[i] == 0) {
			v[k++] = (char *)buf + start;
			start = i + 1;
		}
	return v;
}

static void write_input(int fd, const struct iovec *input, int ninput)
{
	for (int i = 0; i < ninput; i++)
		for (size_t off = 0; off < input[i].iov_len;) {
			ssize_t n = write(fd, (const char *)input[i].iov_base + off, input[i].iov_len - off);
			if (n <= 0)
				return; /* the hook does not read its stdin: its exit status decides */
			off += (size_t)n;
		}
}

int nsi_run_hook(const char *path, char *const argv[], char *const envp[],
		 const struct iovec *input, int ninput, int timeout_ms)
{
	char *const just_path[] = { (char *)path, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int p[2], status, pidfd = -1, rc;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[0], 0);
	nsi_spawnattr_clean(&attr);
	rc = posix_spawn(&pid, path, &fa, &attr, argv[0] ? argv : just_path, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(p[0]);
	if (rc != 0) {
		close(p[1]);
		return -rc;
	}
	if (timeout_ms > 0)
		pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	write_input(p[1], input, ninput);
	close(p[1]);
	if (pidfd >= 0) {
		struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
		int n;

		while ((n = poll(&pfd, 1, timeout_ms)) < 0 && errno == EINTR) {
		}
		if (n == 0) {
			syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
			close(pidfd);
			waitpid(pid, &status, 0);
			return -ETIMEDOUT;
		}
		close(pidfd);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return status;
}
