/*
 * The child stage: wait for GO, then run the plan's child ops in order. Every
 * failure goes back to the runtime through nsi_fail() with the op's index.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/filter.h>
#include <net/if.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "init.h"

static char g_exec_path[4096];
/* /proc/<pid>/fd of the host's procfs, kept open across a chroot (no mount namespace),
 * where the rootfs has no /proc to reopen the exec fifo through. */
static int g_selffd = -1;

static void send_msg(uint32_t type, int fd)
{
	struct nsi_msg m;
	int rc;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.op_index = g_cur_index;
	m.op = g_cur_op;
	m.pid = getpid();
	rc = nsi_send_with_fd(g_sync, &m, sizeof(m), fd);
	if (rc < 0)
		nsi_fail(-rc, "send message %u", type);
}

static void wait_go(void)
{
	struct nsi_msg m;
	ssize_t n;

	do
		n = recv(g_sync, &m, sizeof(m), 0);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		_exit(1); /* the runtime went away: nothing to report to */
	if (n < 0)
		nsi_fail(errno, "recv go");
	if ((size_t)n < sizeof(uint32_t) || m.type != NSI_MSG_GO)
		nsi_fail(EPROTO, "expected go, got message %u", m.type);
	if (m.pid > 0)
		g_host_pid = (long)m.pid;
}

/* Runs a createContainer or startContainer hook with the state JSON on its stdin (the
 * child's pid, as the runtime sees it, between the two halves). Signals are blocked here,
 * SIGPIPE included, as nsi_run_hook needs. */
static void op_hook(const struct nsi_rec *r)
{
	const char *path = rec_str(r, 0), *pre = rec_str(r, 3), *post = rec_str(r, 4);
	uint32_t alen, elen;
	const uint8_t *a = rec_bytes(r, 1, &alen), *e = rec_bytes(r, 2, &elen);
	uint64_t timeout = rec_u64(r, 5);
	char **argv = nsi_split_nul(a, alen), **envp = nsi_split_nul(e, elen), pidstr[24];
	struct iovec in[3];
	int status;

	if (!argv || !envp)
		nsi_fail(ENOMEM, "hook %s: calloc", path);
	snprintf(pidstr, sizeof(pidstr), "%ld", g_host_pid);
	in[0] = (struct iovec){ (void *)pre, strlen(pre) };
	in[1] = (struct iovec){ pidstr, strlen(pidstr) };
	in[2] = (struct iovec){ (void *)post, strlen(post) };
	status = nsi_run_hook(path, argv, envp, in, 3, timeout > INT_MAX / 1000 ? INT_MAX : (int)timeout * 1000);
	if (status == -ETIMEDOUT)
		nsi_fail(ETIMEDOUT, "hook %s timed out after %llus", path, (unsigned long long)timeout);
	if (status < 0)
		nsi_fail(-status, "run hook %s", path);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		nsi_fail(ECANCELED, "hook %s failed: %s %d", path, WIFEXITED(status) ? "exit status" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	free(argv);
	free(envp);
}

static void op_user(const struct nsi_rec *r)
{
	uint64_t uid = rec_u64(r, 0), gid = rec_u64(r, 1), sg = rec_u64(r, 2);
	uint32_t len;
	const uint8_t *raw = rec_bytes(r, 3, &len);
	gid_t gids[256];
	size_t n = len / 4;

	if (n > 256)
		nsi_fail(E2BIG, "setgroups: %zu groups", n);
	for (size_t i = 0; i < n; i++) {
		uint32_t g;
		memcpy(&g, raw + 4 * i, 4);
		gids[i] = g;
	}
	if (sg && setgroups(n, gids) < 0)
		nsi_fail(errno, "setgroups");
	if (setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) < 0)
		nsi_fail(errno, "setresgid %llu", (unsigned long long)gid);
	if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0)
		nsi_fail(errno, "setresuid %llu", (unsigned long long)uid);
}

static void op_caps(const struct nsi_rec *r)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	uint64_t eff = rec_u64(r, 0), perm = rec_u64(r, 1), inh = rec_u64(r, 2), amb = rec_u64(r, 3);

	for (int i = 0; i < 2; i++) {
		data[i].effective = (uint32_t)(eff >> (32 * i));
		data[i].permitted = (uint32_t)(perm >> (32 * i));
		data[i].inheritable = (uint32_t)(inh >> (32 * i));
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		nsi_fail(errno, "capset");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		nsi_fail(errno, "prctl PR_CAP_AMBIENT_CLEAR_ALL");
	for (int c = 0; c < 64; c++)
		if ((amb >> c) & 1)
			if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
				nsi_fail(errno, "raise ambient capability %d", c);
}

static void op_bounding(uint64_t keep)
{
	for (int c = 0; c < 64; c++) {
		if ((keep >> c) & 1)
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break; /* past the kernel's last capability */
			nsi_fail(errno, "drop bounding capability %d", c);
		}
	}
}

static void op_terminal(const struct nsi_rec *r)
{
	struct winsize ws;
	int unlock = 0, master, slave;
	struct stat st;

	/* Opened by path in the container: check the fd is a pty multiplexer (5:2) before it
	 * becomes the console, so a /dev/ptmx swapped for something else is never used
	 * (the class of CVE-2025-52565). */
	master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		nsi_fail(errno, "open /dev/ptmx");
	if (fstat(master, &st) < 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 5 ||
	    minor(st.st_rdev) != 2)
		nsi_fail(EPERM, "open /dev/ptmx: not the pty multiplexer (5:2)");
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		nsi_fail(errno, "unlock pty");
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	if (slave < 0)
		nsi_fail(errno, "open pty peer");
	memset(&ws, 0, sizeof(ws));
	ws.ws_row = (unsigned short)rec_u64(r, 0);
	ws.ws_col = (unsigned short)rec_u64(r, 1);
	if ((ws.ws_row || ws.ws_col) && ioctl(slave, TIOCSWINSZ, &ws) < 0)
		nsi_fail(errno, "set pty size");
	if (fchown(slave, (uid_t)rec_u64(r, 2), (gid_t)rec_u64(r, 3)) < 0)
		nsi_fail(errno, "chown pty");
	send_msg(NSI_MSG_PTY, master);
	close(master);
	for (int i = 0; i < 3; i++)
		if (dup2(slave, i) < 0)
			nsi_fail(errno, "dup2 pty to %d", i);
	if (slave > 2)
		close(slave);
	if (ioctl(0, TIOCSCTTY, 0) < 0)
		nsi_fail(errno, "set controlling terminal");
}

static int is_executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static void op_findexec(const char *file, const char *pathenv)
{
	char buf[4096];

	if (strchr(file, '/')) {
		if (!is_executable(file))
			nsi_fail(errno ? errno : EACCES, "exec %s", file);
		snprintf(g_exec_path, sizeof(g_exec_path), "%s", file);
		return;
	}
	for (const char *p = pathenv; *p;) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, len ? p : ".", file);
		if (is_executable(buf)) {
			snprintf(g_exec_path, sizeof(g_exec_path), "%s", buf);
			return;
		}
		if (!end)
			break;
		p = end + 1;
	}
	nsi_fail(ENOENT, "exec: \"%s\": executable file not found in $PATH", file);
}

/* The exec step, split so that everything but execve itself can happen before the
 * seccomp filter is loaded (then nothing the runtime does depends on the profile). */
struct exec_args {
	const char *path;
	char **argv, **envp;
};

static struct exec_args exec_prepare(const struct nsi_rec *r)
{
	uint32_t alen, elen;
	const uint8_t *a = rec_bytes(r, 0, &alen), *e = rec_bytes(r, 1, &elen);
	struct exec_args x = { NULL, nsi_split_nul(a, alen), nsi_split_nul(e, elen) };

	if (!x.argv || !x.envp)
		nsi_fail(ENOMEM, "exec: calloc");
	if (!x.argv[0])
		nsi_fail(EINVAL, "exec: empty argv");
	x.path = g_exec_path[0] ? g_exec_path : x.argv[0];
	return x;
}

static void exec_now(struct exec_args x, int unmask)
{
	sigset_t none;

	if (unmask) {
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
	}
	execve(x.path, x.argv, x.envp);
	nsi_fail(errno, "exec %s", x.path);
}

static void op_seccomp(const struct nsi_rec *r, const struct nsi_rec *next)
{
	struct sock_fprog prog;
	struct exec_args x = { 0 };
	uint32_t blen;
	const uint8_t *b = rec_bytes(r, 0, &blen);
	unsigned flags = (unsigned)rec_u64(r, 1);
	sigset_t none;
	int listener;

	prog.len = (unsigned short)(blen / sizeof(struct sock_filter));
	prog.filter = (struct sock_filter *)b;
	if (blen % sizeof(struct sock_filter) || blen / sizeof(struct sock_filter) > 0xffff)
		nsi_fail(EINVAL, "seccomp: bad program length %u", blen);
	if (next && next->op == NSI_C_EXEC) {
		/* argv, envp (malloc) and the signal mask now: after the filter, only execve. */
		x = exec_prepare(next);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
	}
	listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
	if (listener < 0)
		nsi_fail(errno, "seccomp");
	if (flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) {
		/* The notify listener is the runtime's to hand to the seccomp agent; this
		 * process keeps no copy, and goes on once the agent has it. */
		send_msg(NSI_MSG_SECCOMP, listener);
		close(listener);
		wait_go();
	}
	if (x.path) {
		g_cur_index++;
		g_cur_op = NSI_C_EXEC;
		exec_now(x, 0);
	}
}

/* Brings up the loopback interface of a new network namespace (as bubblewrap does). */
static void op_loopback(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		nsi_fail(errno, "socket for lo");
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		nsi_fail(errno, "SIOCGIFFLAGS lo");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		nsi_fail(errno, "SIOCSIFFLAGS lo up");
	close(s);
}

static void op_fifowait(void)
{
	char path[64];
	int fd;

	if (g_fifo < 0)
		nsi_fail(EBADF, "exec fifo: not opened");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", g_fifo);
	if (g_selffd >= 0) {
		snprintf(path, sizeof(path), "%d", g_fifo);
		fd = openat(g_selffd, path, O_WRONLY | O_CLOEXEC);
	} else {
		fd = open(path, O_WRONLY | O_CLOEXEC);
	}
	if (fd < 0)
		nsi_fail(errno, "open exec fifo %s (is /proc mounted in the container?)", path);
	if (write(fd, "0", 1) != 1)
		nsi_fail(errno, "write exec fifo");
	close(g_fifo);
	g_fifo = -1;
	g_fifo_w = fd;
	/* fd stays open until exec closes it: the reader sees EOF once exec happened. */
}

static void op_chroot(const char *path)
{
	g_selffd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (g_selffd < 0)
		nsi_fail(errno, "open /proc/self/fd");
	if (chroot(path) < 0)
		nsi_fail(errno, "chroot %s", path);
	if (chdir("/") < 0)
		nsi_fail(errno, "chdir / in %s", path);
}

/* struct sched_attr of sched_setattr(2) (glibc has no wrapper before 2.41). */
struct nsi_sched_attr {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime;
	uint64_t sched_deadline;
	uint64_t sched_period;
};

static void op_sched(const struct nsi_rec *r)
{
	struct nsi_sched_attr a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.sched_policy = (uint32_t)rec_u64(r, 0);
	a.sched_flags = rec_u64(r, 1);
	a.sched_nice = (int32_t)rec_u64(r, 2);
	a.sched_priority = (uint32_t)rec_u64(r, 3);
	a.sched_runtime = rec_u64(r, 4);
	a.sched_deadline = rec_u64(r, 5);
	a.sched_period = rec_u64(r, 6);
	if (syscall(SYS_sched_setattr, 0, &a, 0) < 0)
		nsi_fail(errno, "sched_setattr policy %u", a.sched_policy);
}

static void op_affinity(const uint8_t *mask, uint32_t len)
{
	if (sched_setaffinity(0, len, (const cpu_set_t *)mask) < 0)
		nsi_fail(errno, "sched_setaffinity");
}

void nsi_set_affinity(const uint8_t *mask, uint32_t len)
{
	op_affinity(mask, len);
}

/* The container's id map as read from /proc/self/<name> ("in out count" lines), turned into
 * an identity over the same inside ranges ("in in count"), for a user namespace nested in it. */
static void identity_map(int self, const char *name, char *out, size_t size)
{
	char buf[16384], *line, *save = NULL;
	size_t used = 0, got = 0;
	ssize_t len;
	int fd = nsi_open_proc(self, name, O_RDONLY);

	/* procfs hands out a page per read: read to the end. */
	while ((len = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)len;
	if (len < 0 || got == 0 || got == sizeof(buf) - 1)
		nsi_fail(len < 0 ? errno : EINVAL, "lock mounts: read /proc/self/%s", name);
	close(fd);
	buf[got] = 0;
	out[0] = 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long in, host, count;
		if (sscanf(line, "%lu %lu %lu", &in, &host, &count) != 3)
			nsi_fail(EINVAL, "lock mounts: /proc/self/%s: bad line \"%s\"", name, line);
		used += (size_t)snprintf(out + used, size - used, "%lu %lu %lu\n", in, in, count);
		if (used >= size)
			nsi_fail(E2BIG, "lock mounts: /proc/self/%s is too long", name);
	}
}

/*
 * Locks every mount the container sees, flags included, as bubblewrap does: the kernel marks
 * the mounts MNT_LOCKED when it copies a mount namespace into one owned by a less privileged
 * user namespace (mount_namespaces(7)), so this process unshares a user namespace nested in
 * the container's together with a mount namespace. Then no capability in the container
 * unmounts, moves or remounts (read-write, suid, exec...) what the runtime mounted.
 * The nested namespace's maps (an identity over the container's ranges) can only be written
 * by a process of the parent user namespace with CAP_SETUID/CAP_SETGID there (user_namespaces
 * (7)), which this one no longer is after unshare: a child forked before does it, and exits.
 * It opens /proc/<us>/uid_map while we are dumpable: a non-dumpable process's /proc files
 * belong to the host's root, which the container cannot open.
 */
static void op_lock_mounts(void)
{
	static char uidmap[16384], gidmap[16384];
	int self, go[2], status, was, e;
	sigset_t chld;
	pid_t w;
	char c;

	self = nsi_open_proc(-1, "/proc/self", O_PATH | O_DIRECTORY);
	identity_map(self, "uid_map", uidmap, sizeof(uidmap));
	identity_map(self, "gid_map", gidmap, sizeof(gidmap));
	was = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	if (was < 0 || pipe2(go, O_CLOEXEC) < 0)
		nsi_fail(errno, "lock mounts: prctl PR_GET_DUMPABLE, pipe");
	w = fork();
	if (w < 0)
		nsi_fail(errno, "lock mounts: fork the id map writer");
	if (w == 0) {
		/* No go (EOF): unshare failed, and the init reports it. */
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(0);
		for (int i = 0; i < 2; i++) {
			const char *name = i ? "gid_map" : "uid_map", *map = i ? gidmap : uidmap;
			int fd = nsi_open_proc(self, name, O_WRONLY | O_NOFOLLOW);
			if (write(fd, map, strlen(map)) != (ssize_t)strlen(map))
				nsi_fail(errno, "lock mounts: write the nested user namespace's %s \"%s\"", name,
					 map);
			close(fd);
		}
		_exit(0);
	}
	close(go[0]);
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
		e = errno;
		close(go[1]);
		waitpid(w, NULL, 0);
		nsi_fail(e, "lock mounts: unshare(CLONE_NEWUSER|CLONE_NEWNS)");
	}
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0 || write(go[1], "g", 1) != 1)
		nsi_fail(errno, "lock mounts: let the id map writer go");
	close(go[1]);
	while (waitpid(w, &status, 0) < 0)
		if (errno != EINTR)
			nsi_fail(errno, "lock mounts: wait for the id map writer");
	nsi_hold_at_lock();
	if (prctl(PR_SET_DUMPABLE, was, 0, 0, 0) < 0)
		nsi_fail(errno, "lock mounts: prctl PR_SET_DUMPABLE");
	/* Its SIGCHLD (blocked here) must not reach the container's program after exec. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigtimedwait(&chld, NULL, &(struct timespec){ 0, 0 });
	if (WIFEXITED(status) && WEXITSTATUS(status) == 1)
		_exit(1); /* it reported what failed */
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		nsi_fail(ECHILD, "lock mounts: the id map writer ended with status 0x%x", status);
	close(self);
}

void nsi_child(const struct nsi_rec *recs, int n)
{
	sigset_t all;

	/* Signals stay blocked through setup; exec restores an empty mask. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	umask(0);
	wait_go();
	nsi_hold_at_start();
	for (int i = 0; i < n; i++) {
		const struct nsi_rec *r = &recs[i];
		uint32_t blen;
		const uint8_t *b;

		if (r->op < 64)
			continue;
		g_cur_index = i;
		g_cur_op = r->op;
		nsi_crash_point(i);
		if (r->op == NSI_C_SECCOMP || r->op == NSI_C_EXEC)
			nsi_hold_before_exec();
		switch (r->op) {
		case NSI_C_SETSID:
			if (setsid() < 0)
				nsi_fail(errno, "setsid");
			break;
		case NSI_C_UNSHARE:
			if (unshare((int)rec_u64(r, 0)) < 0)
				nsi_fail(errno, "unshare 0x%llx", (unsigned long long)rec_u64(r, 0));
			break;
		case NSI_C_ROOTFS:
			fs_rootfs(rec_str(r, 0));
			break;
		case NSI_C_MOUNT:
			fs_mount(rec_str(r, 0), rec_str(r, 1), rec_str(r, 2), (unsigned long)rec_u64(r, 3),
				 rec_str(r, 4), (int)rec_u64(r, 5), (int)rec_u64(r, 6));
			break;
		case NSI_C_REMOUNT:
			fs_remount(rec_str(r, 0), (unsigned long)rec_u64(r, 1), (int)rec_u64(r, 2));
			break;
		case NSI_C_PROPAGATE:
			fs_propagate(rec_str(r, 0), (unsigned long)rec_u64(r, 1), (int)rec_u64(r, 2));
			break;
		case NSI_C_SETATTR:
			fs_setattr(rec_str(r, 0), rec_u64(r, 1), rec_u64(r, 2), (int)rec_u64(r, 3));
			break;
		case NSI_C_MKNOD:
			fs_mknod(rec_str(r, 0), rec_u64(r, 1), rec_u64(r, 2), rec_u64(r, 3), rec_u64(r, 4));
			break;
		case NSI_C_SYMLINK:
			fs_symlink(rec_str(r, 0), rec_str(r, 1));
			break;
		case NSI_C_MKDIR:
			fs_mkdir(rec_str(r, 0), rec_u64(r, 1));
			break;
		case NSI_C_PIVOT:
			fs_pivot((int)rec_u64(r, 0));
			break;
		case NSI_C_MASK:
			fs_mask(rec_str(r, 0));
			break;
		case NSI_C_READONLY:
			fs_readonly(rec_str(r, 0));
			break;
		case NSI_C_WRITE:
			nsi_write_file(rec_str(r, 0), rec_str(r, 1));
			break;
		case NSI_C_HOSTNAME:
			if (sethostname(rec_str(r, 0), strlen(rec_str(r, 0))) < 0)
				nsi_fail(errno, "sethostname %s", rec_str(r, 0));
			break;
		case NSI_C_DOMAINNAME:
			if (setdomainname(rec_str(r, 0), strlen(rec_str(r, 0))) < 0)
				nsi_fail(errno, "setdomainname %s", rec_str(r, 0));
			break;
		case NSI_C_RLIMIT: {
			struct rlimit rl = { (rlim_t)rec_u64(r, 1), (rlim_t)rec_u64(r, 2) };
			if (setrlimit((int)rec_u64(r, 0), &rl) < 0)
				nsi_fail(errno, "setrlimit %llu", (unsigned long long)rec_u64(r, 0));
			break;
		}
		case NSI_C_BOUNDING:
			op_bounding(rec_u64(r, 0));
			break;
		case NSI_C_KEEPCAPS:
			if (prctl(PR_SET_KEEPCAPS, rec_u64(r, 0) ? 1 : 0, 0, 0, 0) < 0)
				nsi_fail(errno, "prctl PR_SET_KEEPCAPS");
			break;
		case NSI_C_USER:
			op_user(r);
			break;
		case NSI_C_CAPS:
			op_caps(r);
			break;
		case NSI_C_UMASK:
			umask((mode_t)rec_u64(r, 0));
			break;
		case NSI_C_NNP:
			if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
				nsi_fail(errno, "prctl PR_SET_NO_NEW_PRIVS");
			break;
		case NSI_C_SECCOMP:
			op_seccomp(r, i + 1 < n ? &recs[i + 1] : NULL);
			break;
		case NSI_C_CHDIR:
			if (chdir(rec_str(r, 0)) < 0)
				nsi_fail(errno, "chdir %s", rec_str(r, 0));
			break;
		case NSI_C_TERMINAL:
			op_terminal(r);
			break;
		case NSI_C_FINDEXEC:
			op_findexec(rec_str(r, 0), rec_str(r, 1));
			break;
		case NSI_C_READY:
			send_msg(NSI_MSG_READY, -1);
			break;
		case NSI_C_FIFOWAIT:
			op_fifowait();
			break;
		case NSI_C_CLOSEFDS:
			if (syscall(SYS_close_range, (unsigned)rec_u64(r, 0), ~0U, CLOSE_RANGE_CLOEXEC) < 0)
				nsi_fail(errno, "close_range");
			break;
		case NSI_C_EXEC:
			exec_now(exec_prepare(r), 1);
			break;
		case NSI_C_DUMPABLE:
			if (prctl(PR_SET_DUMPABLE, rec_u64(r, 0) ? 1 : 0, 0, 0, 0) < 0)
				nsi_fail(errno, "prctl PR_SET_DUMPABLE");
			break;
		case NSI_C_KEYRING:
			/* KEYCTL_JOIN_SESSION_KEYRING; kernels without keyrings are fine. */
			if (syscall(SYS_keyctl, 1, rec_str(r, 0), 0, 0, 0) < 0 && errno != ENOSYS)
				nsi_fail(errno, "join session keyring %s", rec_str(r, 0));
			break;
		case NSI_C_BARRIER:
			send_msg(NSI_MSG_BARRIER, -1);
			wait_go();
			break;
		case NSI_C_HOOK:
			op_hook(r);
			break;
		case NSI_C_LANDLOCK:
			nsi_landlock(r);
			break;
		case NSI_C_LOOPBACK:
			op_loopback();
			break;
		case NSI_C_INIT:
			nsi_reaper_init();
			break;
		case NSI_C_CHROOT:
			op_chroot(rec_str(r, 0));
			break;
		case NSI_C_SCHED:
			op_sched(r);
			break;
		case NSI_C_IOPRIO:
			/* IOPRIO_WHO_PROCESS, who 0: this process */
			if (syscall(SYS_ioprio_set, 1, 0, (int)rec_u64(r, 0)) < 0)
				nsi_fail(errno, "ioprio_set 0x%llx", (unsigned long long)rec_u64(r, 0));
			break;
		case NSI_C_MEMPOLICY:
			b = rec_bytes(r, 1, &blen);
			if (syscall(SYS_set_mempolicy, (int)rec_u64(r, 0), blen ? b : NULL,
				    (unsigned long)blen * 8 + (blen ? 1 : 0)) < 0)
				nsi_fail(errno, "set_mempolicy mode 0x%llx", (unsigned long long)rec_u64(r, 0));
			break;
		case NSI_C_MOVEMOUNT: {
			uint64_t k = rec_u64(r, 0);
			if (k >= (uint64_t)g_nidmount || g_idmount[k] < 0)
				nsi_fail(EINVAL, "plan: no idmapped mount %llu", (unsigned long long)k);
			fs_move_mount(g_idmount[k], rec_str(r, 1), (int)rec_u64(r, 2));
			g_idmount[k] = -1;
			break;
		}
		case NSI_C_LOCKMOUNTS:
			op_lock_mounts();
			break;
		case NSI_C_AFFINITY:
			b = rec_bytes(r, 0, &blen);
			op_affinity(b, blen);
			break;
		case NSI_C_PERSONALITY:
			if (personality((unsigned long)rec_u64(r, 0)) < 0)
				nsi_fail(errno, "personality");
			break;
		default:
			nsi_fail(EINVAL, "plan: unknown op %u", r->op);
		}
	}
	g_cur_index = -1;
	nsi_fail(EINVAL, "plan ended without exec");
}
