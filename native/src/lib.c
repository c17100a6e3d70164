/*
 * libnsinit: what the Deno runtime calls through Deno.dlopen. Only nsi_*
 * symbols are exported. Every function returns >= 0 on success or -errno.
 *
 * nsi_spawn starts nsinit-init from a sealed memfd copy (so no process in a
 * container can reach the host binary through /proc/<pid>/exe), hands it the
 * plan and the fds, and returns once the container's process exists.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <linux/nsfs.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "plan.h"

#define NSI_EXPORT __attribute__((visibility("default")))

extern char **environ;

struct nsi_spawn_out {
	int32_t sync_fd;     /* runtime's end of the sync socket, -1 on failure */
	int32_t helper;      /* the helper's wait status */
	struct nsi_msg msg;  /* NSI_MSG_PID, or NSI_MSG_ERROR with details */
	uint64_t start_time; /* the reported process's start time (see proc_stat); 0 if unread */
};

static int proc_stat(int32_t pid, char *state, uint64_t *start_time);

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_helper_fd = -1;
static char g_helper_path[4096];

/* A sealed, executable memfd copy of the helper binary, made once per path. */
static int sealed_helper(const char *path)
{
	int src, fd = -1;
	struct stat st;
	off_t off = 0;

	pthread_mutex_lock(&g_lock);
	if (g_helper_fd >= 0 && strcmp(g_helper_path, path) == 0) {
		fd = g_helper_fd;
		goto out;
	}
	src = open(path, O_RDONLY | O_CLOEXEC);
	if (src < 0) {
		fd = -errno;
		goto out;
	}
	if (fstat(src, &st) < 0)
		goto fail;
	fd = memfd_create("nsinit-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		goto fail;
	while (off < st.st_size) {
		ssize_t n = sendfile(fd, src, &off, st.st_size - off);
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			goto fail;
		}
	}
	if (fchmod(fd, 0555) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
		goto fail;
	close(src);
	if (g_helper_fd >= 0)
		close(g_helper_fd);
	g_helper_fd = fd;
	snprintf(g_helper_path, sizeof(g_helper_path), "%s", path);
	goto out;
fail: {
	int err = -errno;
	close(src);
	if (fd >= 0)
		close(fd);
	fd = err;
}
out:
	pthread_mutex_unlock(&g_lock);
	return fd;
}

static void local_error(struct nsi_spawn_out *out, int err, const char *what)
{
	out->msg.type = NSI_MSG_ERROR;
	out->msg.err = err;
	out->msg.op_index = -1;
	snprintf(out->msg.text, sizeof(out->msg.text), "%s", what);
}

/*
 * Waits for the helper's one message on the sync socket sync (its PID report, or an error);
 * notices if it dies without one. Reaps the helper. Returns 0 with out->msg NSI_MSG_PID and
 * out->sync_fd = sync (the caller's then), or 1 / a negative errno with out->msg saying why
 * (sync is then closed).
 */
static int await_report(int sync, pid_t helper, struct nsi_spawn_out *out)
{
	ssize_t got = 0;
	int status;

	for (;;) {
		struct pollfd pfd = { sync, POLLIN, 0 };
		int pr = poll(&pfd, 1, 100);
		if (pr < 0 && errno != EINTR) {
			local_error(out, errno, "poll sync socket");
			got = -1;
			break;
		}
		if (pr > 0) {
			got = recv(sync, &out->msg, sizeof(out->msg), 0);
			if (got < 0 && errno == EINTR)
				continue;
			break;
		}
		if (waitpid(helper, &status, WNOHANG) == helper) {
			out->helper = status;
			helper = -1;
			/* It may have sent its message just before exiting. */
			got = recv(sync, &out->msg, sizeof(out->msg), MSG_DONTWAIT);
			break;
		}
	}
	if (helper > 0) {
		while (waitpid(helper, &status, 0) < 0 && errno == EINTR)
			;
		out->helper = status;
	}
	if (got != (ssize_t)sizeof(out->msg)) {
		if (out->msg.type != NSI_MSG_ERROR)
			local_error(out, got < 0 ? errno : EPIPE, "nsinit-init exited without a report");
		close(sync);
		return 1;
	}
	if (out->msg.type != NSI_MSG_PID) {
		close(sync);
		return 1;
	}
	/*
	 * Its start time, which the state records to know the process again: read here, while
	 * it waits for its go, off the event loop (0 if it cannot be read: TypeScript reads it).
	 */
	{
		char st;
		uint64_t t;

		if (proc_stat((int32_t)out->msg.pid, &st, &t) == 0)
			out->start_time = t;
	}
	out->sync_fd = sync;
	return 0;
}

/* A memfd holding the plan (close-on-exec); -errno. */
static int plan_memfd(const uint8_t *plan, uint32_t plan_len)
{
	int fd = memfd_create("nsinit-plan", MFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (write(fd, plan, plan_len) != (ssize_t)plan_len) {
		int err = errno ? errno : EIO;
		close(fd);
		return -err;
	}
	return fd;
}

/*
 * fds[i] becomes fd i of the container process (stdio and preserved fds).
 * Returns 0 with out->msg.type NSI_MSG_PID, or a negative errno / 1 with
 * out->msg describing the failure.
 */
NSI_EXPORT int nsi_spawn(const char *helper_path, const uint8_t *plan, uint32_t plan_len,
			 const int32_t *fds, int32_t nfds, struct nsi_spawn_out *out)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int sp[2] = { -1, -1 }, planfd = -1, exe, exe_fd, tmp[260], ntmp = 0, rc;
	char exepath[64], nstr[16];
	char *argv[] = { "nsinit-init", nstr, NULL };
	pid_t helper = -1;

	memset(out, 0, sizeof(*out));
	out->sync_fd = -1;
	if (nfds < 0 || nfds > 256)
		return -EINVAL;
	exe = sealed_helper(helper_path);
	if (exe < 0) {
		local_error(out, -exe, helper_path);
		return exe;
	}
	planfd = plan_memfd(plan, plan_len);
	if (planfd < 0) {
		rc = planfd;
		local_error(out, -rc, "write plan");
		goto done;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		rc = -errno;
		local_error(out, errno, "socketpair");
		goto done;
	}
	/* Move every source above the target range first, so no dup2 clobbers another. */
	for (int i = 0; i < nfds + 2; i++) {
		int src = i < nfds ? fds[i] : (i == nfds ? sp[1] : planfd);
		tmp[i] = fcntl(src, F_DUPFD_CLOEXEC, nfds + 2);
		if (tmp[i] < 0) {
			rc = -errno;
			snprintf(exepath, sizeof(exepath), "dup fd %d", src);
			local_error(out, errno, exepath);
			goto done;
		}
		ntmp++;
	}
	/*
	 * The helper is exec'd through /proc/self/fd/N in the child, after the dup2s: an N in
	 * the target range (many preserved fds) would name one of them by then.
	 */
	exe_fd = exe;
	if (exe < nfds + 2) {
		exe_fd = fcntl(exe, F_DUPFD_CLOEXEC, nfds + 2);
		if (exe_fd < 0) {
			rc = -errno;
			local_error(out, errno, "dup the helper's fd");
			goto done;
		}
	}
	posix_spawn_file_actions_init(&fa);
	for (int i = 0; i < nfds + 2; i++)
		posix_spawn_file_actions_adddup2(&fa, tmp[i], i);
	nsi_spawnattr_clean(&attr);
	snprintf(exepath, sizeof(exepath), "/proc/self/fd/%d", exe_fd);
	snprintf(nstr, sizeof(nstr), "%d", nfds);
	rc = posix_spawn(&helper, exepath, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (exe_fd != exe)
		close(exe_fd);
	if (rc != 0) {
		local_error(out, rc, "posix_spawn nsinit-init");
		rc = -rc;
		goto done;
	}
	for (int i = 0; i < ntmp; i++)
		close(tmp[i]);
	ntmp = 0;
	close(sp[1]);
	sp[1] = -1;
	close(planfd);
	planfd = -1;
	rc = await_report(sp[0], helper, out);
	sp[0] = -1; /* the caller's, or closed */
done:
	for (int i = 0; i < ntmp; i++)
		close(tmp[i]);
	if (sp[0] >= 0)
		close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
	if (planfd >= 0)
		close(planfd);
	return rc;
}

struct nsi_helper_out {
	int32_t fd;  /* the runtime's end of the helper's socket (its sync socket later) */
	int32_t pid; /* the helper's pid */
};

/*
 * Starts nsinit-init ahead of its plan: it waits on its socket (its fd 0) for the plan and
 * the container's fds (nsi_spawn_on), so that its exec overlaps the runtime's work on the
 * container. Closing out->fd instead makes it exit; the caller reaps it either way.
 */
NSI_EXPORT int nsi_helper_start(const char *helper_path, uint64_t clone_flags,
			       struct nsi_helper_out *out)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int sp[2], exe, rc;
	char exepath[64], flags[24];
	char *argv[] = { "nsinit-init", "-", NULL, NULL };
	pid_t helper = -1;

	out->fd = -1;
	out->pid = -1;
	if (clone_flags) {
		/* It clones these namespaces now (init.c early_clone); the child takes the plan. */
		snprintf(flags, sizeof(flags), "%llu", (unsigned long long)clone_flags);
		argv[2] = flags;
	}
	exe = sealed_helper(helper_path);
	if (exe < 0)
		return exe;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	if (sp[1] <= 2) {
		/* A runtime started with its stdio closed: the end must not be one the actions below
		 * replace (or a dup2 onto itself, which would keep it close-on-exec). */
		int high = fcntl(sp[1], F_DUPFD_CLOEXEC, 3);
		if (high < 0) {
			rc = -errno;
			close(sp[0]);
			close(sp[1]);
			return rc;
		}
		close(sp[1]);
		sp[1] = high;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sp[1], 0);
	/* Nothing of the runtime's stdio: its fds 0..n-1 come with the plan. */
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_RDWR, 0);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	nsi_spawnattr_clean(&attr);
	snprintf(exepath, sizeof(exepath), "/proc/self/fd/%d", exe);
	rc = posix_spawn(&helper, exepath, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(sp[1]);
	if (rc != 0) {
		close(sp[0]);
		return -rc;
	}
	out->fd = sp[0];
	out->pid = helper;
	return 0;
}

/*
 * Ends a helper from nsi_helper_start that got no plan: closes its socket and reaps it. One
 * that cloned ahead of its plan (`early`) reports its child first, which is this process's
 * (CLONE_PARENT) and exits once the socket is closed: reaped too.
 */
NSI_EXPORT int nsi_helper_stop(int32_t fd, int32_t helper, int32_t early)
{
	struct nsi_spawn_out o;
	int status;

	if (helper <= 0) {
		close(fd);
		return -EINVAL;
	}
	if (early) {
		/* Its report (a pid, or an error naming the child it made): the helper is reaped. */
		memset(&o, 0, sizeof(o));
		if (await_report(fd, helper, &o) == 0)
			close(o.sync_fd);
		if (o.msg.pid > 0)
			while (waitpid((pid_t)o.msg.pid, &status, 0) < 0 && errno == EINTR)
				;
		return 0;
	}
	close(fd);
	while (waitpid(helper, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/*
 * Hands a helper from nsi_helper_start (its socket fd, its pid) the plan and the fds that
 * become its fds 0..nfds-1, then waits for its report as nsi_spawn does. The socket becomes
 * the sync socket (out->sync_fd) or is closed; the helper is reaped either way.
 */
NSI_EXPORT int nsi_spawn_on(int32_t fd, int32_t helper, const uint8_t *plan, uint32_t plan_len,
			    const int32_t *fds, int32_t nfds, struct nsi_spawn_out *out)
{
	int planfd, all[NSI_PASS_FDS_MAX], status;
	int32_t n = nfds;
	char cbuf[CMSG_SPACE(sizeof(all))];
	struct iovec iov = { &n, sizeof(n) };
	struct msghdr mh;
	struct cmsghdr *c;
	ssize_t sent;

	memset(out, 0, sizeof(*out));
	out->sync_fd = -1;
	if (nfds < 0 || nfds + 1 > NSI_PASS_FDS_MAX || helper <= 0) {
		close(fd);
		if (helper > 0)
			while (waitpid(helper, &status, 0) < 0 && errno == EINTR)
				;
		local_error(out, EINVAL, "spawn on a started helper");
		return -EINVAL;
	}
	planfd = plan_memfd(plan, plan_len);
	if (planfd < 0) {
		local_error(out, -planfd, "write plan");
		close(fd);
		while (waitpid(helper, &status, 0) < 0 && errno == EINTR)
			;
		return planfd;
	}
	for (int i = 0; i < nfds; i++)
		all[i] = fds[i];
	all[nfds] = planfd;
	memset(&mh, 0, sizeof(mh));
	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = CMSG_SPACE(sizeof(int) * (nfds + 1));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * (nfds + 1));
	memcpy(CMSG_DATA(c), all, sizeof(int) * (nfds + 1));
	do
		sent = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (sent < 0 && errno == EINTR);
	close(planfd);
	if (sent < 0) {
		int err = errno;
		local_error(out, err, "hand nsinit-init its plan");
		close(fd);
		while (waitpid(helper, &status, 0) < 0 && errno == EINTR)
			;
		out->helper = status;
		return -err;
	}
	return await_report(fd, helper, out);
}

/* Receives one message; a passed fd (SCM_RIGHTS) goes to *fd_out. 0 means EOF. */
NSI_EXPORT int nsi_recv(int32_t fd, struct nsi_msg *m, int32_t *fd_out)
{
	return (int)nsi_recv_with_fd(fd, m, sizeof(*m), fd_out);
}

NSI_EXPORT int nsi_send_go(int32_t fd, int32_t pid)
{
	struct nsi_msg m;

	memset(&m, 0, sizeof(m));
	m.type = NSI_MSG_GO;
	m.op_index = -1;
	m.pid = pid;
	return send(fd, &m, sizeof(m), MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/*
 * The inode of the user namespace that owns the namespace file at path (NS_GET_USERNS), or,
 * with parent set, of the parent of the user namespace at path (NS_GET_PARENT); -errno.
 * TypeScript compares them to order joins (a nested user namespace, core/init_plan.ts).
 */
NSI_EXPORT int64_t nsi_ns_owner(const char *path, int32_t parent)
{
	struct stat st;
	int64_t ret;
	int ns = open(path, O_RDONLY | O_CLOEXEC), owner;

	if (ns < 0)
		return -errno;
	owner = ioctl(ns, parent ? NS_GET_PARENT : NS_GET_USERNS);
	ret = owner < 0 ? -errno : 0;
	close(ns);
	if (owner < 0)
		return ret;
	ret = fstat(owner, &st) < 0 ? -errno : (int64_t)st.st_ino;
	close(owner);
	return ret;
}

NSI_EXPORT int nsi_close(int32_t fd)
{
	return close(fd) < 0 ? -errno : 0;
}

NSI_EXPORT int nsi_pidfd_open(int32_t pid)
{
	long fd;

	if (pid <= 0)
		return -EINVAL;
	fd = syscall(SYS_pidfd_open, pid, 0);
	return fd < 0 ? -errno : (int)fd;
}

NSI_EXPORT int nsi_pidfd_signal(int32_t pidfd, int32_t sig)
{
	return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

/*
 * The state letter (field 3) and start time (field 22, clock ticks after boot) of
 * /proc/<pid>/stat; -ESRCH when it cannot be read.
 */
static int proc_stat(int32_t pid, char *state, uint64_t *start_time)
{
	char path[40], buf[1024], *p;
	int sfd, field;
	ssize_t n;

	if (pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	sfd = open(path, O_RDONLY | O_CLOEXEC);
	n = sfd < 0 ? -1 : read(sfd, buf, sizeof(buf) - 1);
	if (sfd >= 0)
		close(sfd);
	p = n > 0 ? (buf[n] = 0, strrchr(buf, ')')) : NULL;
	/* ") S ppid ...": the state is field 3, the start time field 22. */
	if (!p || p[1] != ' ' || p[2] == 0)
		return -ESRCH;
	*state = p[2];
	for (p += 2, field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p)
		return -ESRCH;
	*start_time = strtoull(p, NULL, 10);
	return 0;
}

/*
 * A pidfd for pid, if pid is still the process that started at start_time (field 22 of
 * /proc/<pid>/stat, clock ticks after boot) and is neither a zombie nor dead; -ESRCH
 * otherwise. The identity is checked after pidfd_open: the pidfd pins one process, so a pid
 * reused before it was opened is caught, and none can be after. TypeScript says which
 * process (pid and start time, from the container's state); this only executes the check.
 */
static int pidfd_of(int32_t pid, uint64_t start_time)
{
	char state;
	uint64_t t;
	int fd;

	if (pid <= 0)
		return -EINVAL;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return -errno;
	if (proc_stat(pid, &state, &t) < 0 || state == 'Z' || state == 'X' || t != start_time) {
		close(fd);
		return -ESRCH;
	}
	return fd;
}

/*
 * Signals a container's init through a pidfd, after the identity check of pidfd_of (a CLI
 * kill binds one symbol instead of three: each costs a fresh process ~0.15-0.5 ms).
 */
NSI_EXPORT int nsi_init_signal(int32_t pid, uint64_t start_time, int32_t sig)
{
	int fd = pidfd_of(pid, start_time), rc;

	if (fd < 0)
		return fd;
	rc = syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

/* kill(2) that refuses pid <= 0: never a process group, never every process. */
NSI_EXPORT int nsi_kill(int32_t pid, int32_t sig)
{
	if (pid <= 0)
		return -EINVAL;
	return kill(pid, sig) < 0 ? -errno : 0;
}

/*
 * Reaps a child through its pidfd. out[0] = si_code (CLD_EXITED 1, CLD_KILLED 2,
 * CLD_DUMPED 3), out[1] = exit status or signal. Returns 1 if `nohang` and it
 * has not exited yet.
 */
NSI_EXPORT int nsi_waitid(int32_t pidfd, int32_t nohang, int32_t *out)
{
	siginfo_t si;
	int r;

	memset(&si, 0, sizeof(si));
	do
		r = waitid((idtype_t)3 /* P_PIDFD */, (id_t)pidfd, &si, WEXITED | (nohang ? WNOHANG : 0));
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (si.si_pid == 0)
		return 1;
	out[0] = si.si_code;
	out[1] = si.si_status;
	return 0;
}

NSI_EXPORT int nsi_epoll_create(void)
{
	int fd = epoll_create1(EPOLL_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Watches fd for `events` (EPOLLIN, EPOLLOUT, EPOLLONESHOT ...); a watch that exists is replaced. */
NSI_EXPORT int nsi_epoll_watch(int32_t ep, int32_t fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0)
		return 0;
	if (errno == EEXIST && epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) == 0)
		return 0;
	return -errno;
}

NSI_EXPORT int nsi_epoll_del(int32_t ep, int32_t fd)
{
	return epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

/* Waits for events; writes each ready fd's data word to out. */
NSI_EXPORT int nsi_epoll_wait(int32_t ep, uint64_t *out, int32_t max, int32_t timeout_ms)
{
	struct epoll_event ev[64];
	int n;

	if (max > 64)
		max = 64;
	do
		n = epoll_wait(ep, ev, max, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++)
		out[i] = ev[i].data.u64;
	return n;
}

NSI_EXPORT int nsi_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

NSI_EXPORT int nsi_eventfd_signal(int32_t fd)
{
	uint64_t one = 1;
	return write(fd, &one, 8) < 0 ? -errno : 0;
}

NSI_EXPORT int nsi_eventfd_drain(int32_t fd)
{
	uint64_t v;
	return read(fd, &v, 8) < 0 ? -errno : 0;
}

/* A pipe; both ends close-on-exec. */
NSI_EXPORT int nsi_pipe(int32_t *out)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	out[0] = p[0];
	out[1] = p[1];
	return 0;
}

NSI_EXPORT int nsi_open(const char *path, int32_t flags, int32_t mode)
{
	int fd = open(path, flags | O_CLOEXEC, mode);
	return fd < 0 ? -errno : fd;
}

NSI_EXPORT int nsi_dup(int32_t fd)
{
	int r = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	return r < 0 ? -errno : r;
}

NSI_EXPORT int64_t nsi_read(int32_t fd, uint8_t *buf, uint64_t len)
{
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

NSI_EXPORT int64_t nsi_write(int32_t fd, const uint8_t *buf, uint64_t len)
{
	ssize_t n;

	do
		n = write(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/*
 * Starts a created container: opens its exec fifo for reading, which lets the
 * init's blocked open return; reads its "0", then everything until EOF (the
 * init's exec closed the fifo). Anything after the "0" is an error report
 * ("E<errno> <text>") of a step that failed after start; it is copied to
 * `err` (NUL-terminated) and its length returned. -ESRCH: the process exited
 * before it was started.
 */
static int fifo_start(const char *path, int32_t pidfd, char *err, int32_t cap)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), got = 0, rc = 0, elen = 0;

	if (fd < 0)
		return -errno;
	if (cap > 0)
		err[0] = 0;
	for (;;) {
		struct pollfd p[2] = { { fd, POLLIN, 0 }, { pidfd, POLLIN, 0 } };
		char b[512];
		ssize_t n;

		if (poll(p, 2, got ? 50 : -1) < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (p[0].revents & (POLLIN | POLLHUP)) {
			n = read(fd, b, sizeof(b));
			if (n > 0) {
				int skip = got ? 0 : 1;

				/* The init is released: the fifo goes now, while it execs (a status
				 * says running from here), not after, on the start's path. */
				if (!got)
					unlink(path);
				got = 1;
				for (ssize_t i = skip; i < n && elen < cap - 1; i++)
					err[elen++] = b[i];
				if (cap > 0)
					err[elen] = 0;
				continue;
			}
			if (n == 0 && got)
				break; /* exec happened, or the init failed and said why */
			if (n < 0 && errno != EAGAIN) {
				rc = -errno;
				break;
			}
		}
		if (p[1].revents & POLLIN) {
			if (!got)
				rc = -ESRCH;
			break;
		}
	}
	close(fd);
	return rc < 0 ? rc : elen;
}

/*
 * Starts a created container's init: the exec fifo protocol (fifo_start) on a pidfd of the
 * init checked by pidfd_of. Returns 0 once the init exec'd, the length of the error text it
 * wrote (a failed startContainer hook or exec), or -errno (-ESRCH: the init is gone).
 */
NSI_EXPORT int nsi_init_start(const char *path, int32_t pid, uint64_t start_time, char *err, int32_t cap)
{
	int fd = pidfd_of(pid, start_time), rc;

	if (fd < 0)
		return fd;
	rc = fifo_start(path, fd, err, cap);
	close(fd);
	return rc;
}

/*
 * Runs a runtime-side hook: argv/envp as NUL-separated lists, `input` on its
 * stdin, killed after timeout_ms (<= 0: no timeout). Returns the wait status,
 * -ETIMEDOUT, or -errno. (Deno ignores SIGPIPE, as nsi_run_hook needs.)
 */
NSI_EXPORT int nsi_hook(const char *path, const uint8_t *argv_buf, uint32_t argv_len,
			const uint8_t *envp_buf, uint32_t envp_len, const uint8_t *input,
			uint32_t input_len, int32_t timeout_ms)
{
	char **argv = nsi_split_nul(argv_buf, argv_len), **envp = nsi_split_nul(envp_buf, envp_len);
	struct iovec in = { (void *)input, input_len };
	int rc = argv && envp ? nsi_run_hook(path, argv, envp, &in, 1, timeout_ms) : -ENOMEM;

	free(argv);
	free(envp);
	return rc;
}

/* Sends fd over a unix socket at path (runc's --console-socket protocol). */
NSI_EXPORT int nsi_send_fd(const char *sock_path, int32_t fd, const char *name)
{
	struct sockaddr_un addr;
	int s, rc = 0;

	if (strlen(sock_path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, sock_path);
	if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		rc = -errno;
		goto out;
	}
	rc = nsi_send_with_fd(s, name, strlen(name), fd);
out:
	close(s);
	return rc;
}

/* Sets a terminal's window size (the runtime's side of a container's pty). */
NSI_EXPORT int nsi_set_winsize(int32_t fd, int32_t rows, int32_t cols)
{
	struct winsize ws;

	memset(&ws, 0, sizeof(ws));
	ws.ws_row = (unsigned short)rows;
	ws.ws_col = (unsigned short)cols;
	return ioctl(fd, TIOCSWINSZ, &ws) < 0 ? -errno : 0;
}

NSI_EXPORT int nsi_mkfifo(const char *path, int32_t mode)
{
	return mkfifo(path, (mode_t)mode) < 0 ? -errno : 0;
}

NSI_EXPORT int nsi_sizeof_msg(void)
{
	return (int)sizeof(struct nsi_msg);
}
