/*
 * libnsinit, plain processes for the OCI runtime client (client/): start a
 * program with given fds as its 0..n-1, a pidfd from the clone itself, an
 * optional new process group and parent-death signal; and the receiving end
 * of a console or pidfd socket (runc's --console-socket protocol: one
 * connection, one fd in SCM_RIGHTS).
 *
 * The child is a CLONE_VM|CLONE_VFORK clone on a private stack: between clone
 * and execve it makes raw syscalls only (no malloc, no stdio, no glibc
 * wrappers that touch other threads), as native/src/lib.c's notes require.
 * Every function returns >= 0 on success or -errno.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#ifndef NSI_EXPORT
#define NSI_EXPORT __attribute__((visibility("default")))
#endif

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

#define NSI_PROC_SETPGID 1

struct proc_args {
	const char *path;
	char **argv;
	char **envp;
	const char *cwd;
	const int *tmp; /* tmp[i] becomes fd i */
	int nfds;
	int flags;
	int pdeathsig;
	volatile int err; /* set by the child when a step fails */
};

/* The kernel's struct sigaction for rt_sigaction(2). */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

static int proc_child(void *p)
{
	struct proc_args *a = p;
	struct ksigaction dfl = { 0 };
	uint64_t none = 0;

	for (int sig = 1; sig < 65; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, 8);
	for (int i = 0; i < a->nfds; i++)
		if (syscall(SYS_dup3, a->tmp[i], i, 0) < 0)
			goto fail;
	if ((a->flags & NSI_PROC_SETPGID) && syscall(SYS_setpgid, 0, 0) < 0)
		goto fail;
	if (a->pdeathsig > 0 && syscall(SYS_prctl, PR_SET_PDEATHSIG, a->pdeathsig, 0, 0, 0) < 0)
		goto fail;
	if (a->cwd[0] && syscall(SYS_chdir, a->cwd) < 0)
		goto fail;
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, 8);
	syscall(SYS_execve, a->path, a->argv, a->envp);
fail:
	a->err = errno ? errno : EIO;
	syscall(SYS_exit_group, 127);
	return 0;
}

/*
 * Starts `path` (absolute) with argv/envp as NUL-separated lists, fds[i] as
 * its fd i (every other fd of this process is close-on-exec), in `cwd` if not
 * empty. flags: NSI_PROC_SETPGID. pdeathsig > 0: the signal it gets when the
 * calling thread ends (call this from the main thread). out = { pid, pidfd }.
 * A failed exec is reported as its errno, and the child is reaped.
 */
NSI_EXPORT int nsi_proc_spawn(const char *path, const uint8_t *argv_buf, uint32_t argv_len,
			      const uint8_t *envp_buf, uint32_t envp_len, const char *cwd,
			      const int32_t *fds, int32_t nfds, int32_t flags, int32_t pdeathsig,
			      int32_t *out)
{
	struct proc_args a = { 0 };
	int tmp[256], ntmp = 0, pidfd = -1, rc = 0, saved;
	size_t stack_size = 64 * 1024;
	char *stack = NULL;
	sigset_t all, old;
	pid_t pid;

	if (nfds < 0 || nfds > 256)
		return -EINVAL;
	a.argv = nsi_split_nul(argv_buf, argv_len);
	a.envp = nsi_split_nul(envp_buf, envp_len);
	stack = malloc(stack_size);
	if (!a.argv || !a.envp || !stack) {
		rc = -ENOMEM;
		goto out;
	}
	/* Move every source above the target range, so no dup3 clobbers another. */
	for (; ntmp < nfds; ntmp++) {
		tmp[ntmp] = fcntl(fds[ntmp], F_DUPFD_CLOEXEC, nfds);
		if (tmp[ntmp] < 0) {
			rc = -errno;
			goto out;
		}
	}
	a.path = path;
	a.cwd = cwd;
	a.tmp = tmp;
	a.nfds = nfds;
	a.flags = flags;
	a.pdeathsig = pdeathsig;
	saved = errno;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = clone(proc_child, stack + stack_size, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD,
		    &a, &pidfd);
	if (pid < 0)
		rc = -errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	if (rc < 0)
		goto out;
	if (a.err) {
		int status;

		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		close(pidfd);
		rc = -a.err;
		goto out;
	}
	out[0] = pid;
	out[1] = pidfd;
out:
	for (int i = 0; i < ntmp; i++)
		close(tmp[i]);
	free(stack);
	free(a.argv);
	free(a.envp);
	return rc;
}

/* A listening unix socket at path (non-blocking, close-on-exec). */
NSI_EXPORT int nsi_unix_listen(const char *path)
{
	struct sockaddr_un addr;
	int s;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -errno;
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, path);
	if (bind(s, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(s, 4) < 0) {
		int err = -errno;
		close(s);
		return err;
	}
	return s;
}

/*
 * Accepts one connection on a listening socket that poll found readable and
 * receives one fd (SCM_RIGHTS, close-on-exec) into *fd_out. -EAGAIN: no
 * connection yet; -EBADMSG: the peer sent no fd.
 */
NSI_EXPORT int nsi_unix_recv_fd(int32_t listen_fd, int32_t *fd_out)
{
	char data[256];
	struct timeval tv = { 5, 0 };
	int conn, rc;
	ssize_t n;

	conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		return -errno;
	setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* The data is not looked at: a message cut short still brings its fd. */
	n = nsi_recv_with_fd(conn, data, sizeof(data), fd_out);
	if (n < 0 && n != -EMSGSIZE)
		rc = (int)n;
	else
		rc = *fd_out >= 0 ? 0 : -EBADMSG;
	close(conn);
	return rc;
}

NSI_EXPORT int nsi_fchown(int32_t fd, int32_t uid, int32_t gid)
{
	return fchown(fd, (uid_t)uid, (gid_t)gid) < 0 ? -errno : 0;
}

NSI_EXPORT int nsi_set_nonblock(int32_t fd, int32_t on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

/*
 * Connects to a unix socket at path; seqpacket != 0 for SOCK_SEQPACKET (conmon's
 * attach socket). Returns the fd (close-on-exec, blocking).
 */
NSI_EXPORT int nsi_unix_connect(const char *path, int32_t seqpacket)
{
	struct sockaddr_un addr;
	int s;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	s = socket(AF_UNIX, (seqpacket ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, path);
	if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int err = -errno;
		close(s);
		return err;
	}
	return s;
}

/*
 * Sends buf with fd in SCM_RIGHTS over a connected unix socket (runc's
 * --pidfd-socket and a seccomp agent's listenerPath: one message, one fd).
 */
NSI_EXPORT int nsi_unix_send_fd(int32_t sock, const uint8_t *buf, uint32_t len, int32_t fd)
{
	return nsi_send_with_fd(sock, buf, len, fd);
}

/* shutdown(2) of the writing side: the peer reads EOF (an attach client's stdin ended). */
NSI_EXPORT int nsi_shutdown_write(int32_t fd)
{
	return shutdown(fd, SHUT_WR) < 0 ? -errno : 0;
}
