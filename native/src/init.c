/*
 * nsinit-init: the small program the runtime spawns (from a sealed memfd) to
 * create a container's init or an exec'd process. It is a fresh, single-threaded
 * process, so unlike a raw clone of Deno it may use libc freely.
 *
 * Stage 1 (here, outside): read the plan, join namespaces, unshare the time
 * namespace, clone3(CLONE_PARENT | CLONE_NEW*) so the child becomes the
 * runtime's own child, write the child's uid/gid maps, report its pid, exit.
 * Stage 2 (child.c, inside): wait for GO (the runtime has placed the child in
 * its cgroups), then run the child ops in order and exec.
 *
 * fds on entry: 0..n-1 the container's stdio and preserved fds, n the sync
 * socket, n+1 a memfd holding the plan. argv[1] is n. Started ahead of its plan (argv[1]
 * "-", nsi_helper_start), fd 0 is the sync socket, on which those fds and the plan arrive
 * first (receive_fds below), put in the same places.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "init.h"

int g_sync = -1;
static int g_crash_at = -1;
static int g_runtime_pidfd = -1;
static pid_t g_helper_pid;
static int g_crash_pipe[2] = { -1, -1 }; /* child -> agent: "at the step" */
static int g_crash_ack[2] = { -1, -1 };  /* agent -> child: "the runtime is dead" */

static long g_hold_ms, g_hold_start_ms, g_hold_lock_ms;

static void hold(long *ms)
{
	struct timespec ts;

	if (*ms <= 0)
		return;
	ts.tv_sec = *ms / 1000;
	ts.tv_nsec = (*ms % 1000) * 1000000L;
	*ms = 0;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
		/* the rest of it */
	}
}

/*
 * A debug knob for the helper-probe escape tests: NSINIT_HOLD_BEFORE_EXEC_MS=<ms> makes the
 * process the helper clones wait that long (once) before it loads its seccomp filter and
 * execs, still the helper, so that a test's attacker in the container reliably finds it
 * there instead of winning a race only now and then (tests/security/escape_test.ts).
 */
void nsi_hold_before_exec(void)
{
	hold(&g_hold_ms);
}

/*
 * The same for the start of the child: NSINIT_HOLD_AT_START_MS=<ms> makes it wait that long
 * once it has its GO (its id maps are written, it is in its cgroups), before its first plan
 * step: where a new user namespace's init used to be dumpable for every runtime
 * (tests/security/dumpable_window_test.ts).
 */
void nsi_hold_at_start(void)
{
	hold(&g_hold_start_ms);
}

/*
 * And for the second window of a rootless init: NSINIT_HOLD_AT_LOCK_MS=<ms> makes it wait that
 * long while it is dumpable for its map writer in C_LOCKMOUNTS (child.c op_lock_mounts).
 */
void nsi_hold_at_lock(void)
{
	hold(&g_hold_lock_ms);
}

static long hold_ms(const char *name)
{
	const char *v = getenv(name);
	long ms = v ? strtol(v, NULL, 10) : 0;

	return ms > 1000 ? 1000 : ms;
}

/*
 * A debug knob for crash tests: NSINIT_CRASH_AT=helper:<N> makes the runtime die by SIGKILL
 * just before plan step N runs, so a test can stop the runtime at every step and prove
 * `nsinit delete --force` recovers (tests/security/crash_steps_test.ts). The library's own
 * steps use util/trace.ts marks. The helper signals the runtime through a pidfd; a child in
 * a new pid namespace cannot, so a small agent outside (forked by the helper) does it for
 * the child when asked over a pipe.
 */
static void crash_setup(void)
{
	const char *at = getenv("NSINIT_CRASH_AT");

	g_hold_ms = hold_ms("NSINIT_HOLD_BEFORE_EXEC_MS");
	g_hold_start_ms = hold_ms("NSINIT_HOLD_AT_START_MS");
	g_hold_lock_ms = hold_ms("NSINIT_HOLD_AT_LOCK_MS");

	if (!at || strncmp(at, "helper:", 7) != 0)
		return;
	g_crash_at = atoi(at + 7);
	g_helper_pid = getpid();
	g_runtime_pidfd = (int)syscall(SYS_pidfd_open, getppid(), 0);
	if (pipe2(g_crash_pipe, O_CLOEXEC) < 0 || pipe2(g_crash_ack, O_CLOEXEC) < 0)
		g_crash_at = -1;
}

/* In the helper, after clone: the agent that kills the runtime when the child asks. */
static void crash_agent(void)
{
	char c;

	if (g_crash_at < 0)
		return;
	if (fork() == 0) {
		for (int fd = 0; fd < 1024; fd++)
			if (fd != g_crash_pipe[0] && fd != g_crash_ack[1] && fd != g_runtime_pidfd)
				close(fd);
		if (read(g_crash_pipe[0], &c, 1) == 1) {
			syscall(SYS_pidfd_send_signal, g_runtime_pidfd, SIGKILL, NULL, 0);
			if (write(g_crash_ack[1], "k", 1) < 0) {
				/* the child is gone */
			}
		}
		_exit(0);
	}
	close(g_crash_pipe[0]);
	close(g_crash_ack[1]);
}

void nsi_crash_point(int index)
{
	char c;

	if (index != g_crash_at || g_runtime_pidfd < 0)
		return;
	if (getpid() == g_helper_pid) {
		syscall(SYS_pidfd_send_signal, g_runtime_pidfd, SIGKILL, NULL, 0);
		return;
	}
	if (write(g_crash_pipe[1], "c", 1) == 1 && read(g_crash_ack[0], &c, 1) == 1) {
		/* the runtime is dead: go on as a real crash would find us */
	}
}
int g_fifo = -1;
int g_fifo_w = -1;
long g_host_pid = 0;
int g_cur_index = -1;
uint32_t g_cur_op = 0;
static pid_t g_child = 0;
int g_idmount[16];
int g_nidmount = 0;

void nsi_fail(int err, const char *fmt, ...)
{
	struct nsi_msg m;
	va_list ap;

	memset(&m, 0, sizeof(m));
	m.type = NSI_MSG_ERROR;
	m.err = err;
	m.op_index = g_cur_index;
	m.op = g_cur_op;
	m.pid = g_child;
	va_start(ap, fmt);
	vsnprintf(m.text, sizeof(m.text), fmt, ap);
	va_end(ap);
	if (g_sync >= 0)
		send(g_sync, &m, sizeof(m), MSG_NOSIGNAL);
	/* After start, nobody reads the sync socket: `start` reads the exec fifo. */
	if (g_fifo_w >= 0) {
		char line[600];
		int n = snprintf(line, sizeof(line), "E%d %s", err, m.text);
		if (n > 0 && write(g_fifo_w, line, (size_t)n) < 0) {
			/* nothing more to report to */
		}
	}
	_exit(1);
}

static void bad_arg(const struct nsi_rec *r, int i, const char *what)
{
	nsi_fail(EINVAL, "plan: op %u argument %d: %s", r->op, i, what);
}

const char *rec_str(const struct nsi_rec *r, int i)
{
	if (i >= r->nargs)
		bad_arg(r, i, "missing");
	if (r->len[i] == 0 || r->arg[i][r->len[i] - 1] != 0)
		bad_arg(r, i, "not a string");
	return (const char *)r->arg[i];
}

uint64_t rec_u64(const struct nsi_rec *r, int i)
{
	uint64_t v;

	if (i >= r->nargs)
		bad_arg(r, i, "missing");
	if (r->len[i] != 8)
		bad_arg(r, i, "not an integer");
	memcpy(&v, r->arg[i], 8);
	return v;
}

const uint8_t *rec_bytes(const struct nsi_rec *r, int i, uint32_t *len)
{
	if (i >= r->nargs)
		bad_arg(r, i, "missing");
	*len = r->len[i];
	return r->arg[i];
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* The argument kinds of an op (plan.h's NSI_OPS), or NULL for an unknown op. */
static const char *op_args(uint16_t op)
{
	switch (op) {
#define NSI_OP_ARGS(name, number, args) \
	case name:                       \
		return args;
		NSI_OPS(NSI_OP_ARGS)
#undef NSI_OP_ARGS
	}
	return NULL;
}

/* Checks a record's arguments against its op's kinds before anything runs. */
static void check_record(const struct nsi_rec *r)
{
	const char *kinds = op_args(r->op);

	if (!kinds)
		nsi_fail(EINVAL, "plan: unknown op %u", r->op);
	if (strlen(kinds) != r->nargs)
		nsi_fail(EINVAL, "plan: op %u takes %zu arguments, got %u", r->op, strlen(kinds), r->nargs);
	for (int i = 0; i < r->nargs; i++) {
		if (kinds[i] == 'u')
			(void)rec_u64(r, i);
		else if (kinds[i] == 's')
			(void)rec_str(r, i);
	}
}

/* Splits the plan into records, checking every length against the buffer and every
 * record against its op's argument kinds. */
static int parse_plan(const uint8_t *buf, size_t size, struct nsi_rec **out)
{
	size_t off = 8, cap = 64;
	int n = 0;
	struct nsi_rec *recs;

	if (size < 8 || get_u32(buf) != NSI_PLAN_MAGIC || get_u32(buf + 4) != size)
		nsi_fail(EINVAL, "plan: bad header");
	recs = calloc(cap, sizeof(*recs));
	if (!recs)
		nsi_fail(ENOMEM, "plan: calloc");
	while (off < size) {
		struct nsi_rec *r;
		uint32_t reclen, aoff;

		if (size - off < 8)
			nsi_fail(EINVAL, "plan: truncated record at %zu", off);
		if ((size_t)n == cap) {
			cap *= 2;
			recs = realloc(recs, cap * sizeof(*recs));
			if (!recs)
				nsi_fail(ENOMEM, "plan: realloc");
		}
		r = &recs[n];
		memcpy(&r->op, buf + off, 2);
		memcpy(&r->nargs, buf + off + 2, 2);
		reclen = get_u32(buf + off + 4);
		if (reclen < 8 || reclen > size - off || r->nargs > NSI_MAX_ARGS)
			nsi_fail(EINVAL, "plan: bad record %d", n);
		aoff = 8;
		for (int i = 0; i < r->nargs; i++) {
			uint32_t alen;
			if (reclen - aoff < 4)
				nsi_fail(EINVAL, "plan: record %d truncated", n);
			alen = get_u32(buf + off + aoff);
			aoff += 4;
			if (alen > reclen - aoff)
				nsi_fail(EINVAL, "plan: record %d argument %d too long", n, i);
			r->arg[i] = buf + off + aoff;
			r->len[i] = alen;
			aoff += (alen + 3) & ~3u;
		}
		g_cur_index = n;
		g_cur_op = r->op;
		check_record(r);
		off += reclen;
		n++;
	}
	g_cur_index = -1;
	g_cur_op = 0;
	*out = recs;
	return n;
}

/*
 * Opens a file under /proc through a verified procfs: /proc must be a procfs mount (not a
 * directory or symlink of the image), and the walk below it (or below `dir`, a procfs
 * directory opened this way) may cross no mount point, leave it, or follow a magic link.
 * A procfs file that something was bind-mounted over, or a /proc replaced by another
 * filesystem, is refused instead of written (the class of CVE-2025-52881: procfs writes
 * redirected elsewhere). `path` is relative to `dir`, or absolute under /proc for dir < 0.
 */
int nsi_open_proc(int dir, const char *path, int flags)
{
	struct open_how how;
	struct statfs sfs;
	const char *rel = path;
	int proc = dir, fd, saved;

	if (dir < 0) {
		proc = open("/proc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (proc < 0)
			nsi_fail(errno, "open /proc (to open %s)", path);
		if (fstatfs(proc, &sfs) < 0 || sfs.f_type != PROC_SUPER_MAGIC)
			nsi_fail(EXDEV, "open %s: /proc is not a procfs mount", path);
		rel = path + strlen("/proc/");
	}
	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)flags | O_CLOEXEC;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS;
	fd = (int)syscall(SYS_openat2, proc, rel, &how, sizeof(how));
	saved = errno;
	if (proc != dir)
		close(proc);
	if (fd < 0) {
		if (saved == EXDEV)
			nsi_fail(saved, "open %s: a mount covers it (refusing to write through it)", path);
		nsi_fail(saved, "open %s", path);
	}
	if (fstatfs(fd, &sfs) < 0 || sfs.f_type != PROC_SUPER_MAGIC)
		nsi_fail(EXDEV, "open %s: not a procfs file", path);
	return fd;
}

void nsi_write_file(const char *path, const char *value)
{
	int fd = strncmp(path, "/proc/", 6) == 0 ? nsi_open_proc(-1, path, O_WRONLY | O_NOFOLLOW)
						 : open(path, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(value);

	if (fd < 0)
		nsi_fail(errno, "open %s", path);
	if (write(fd, value, len) != (ssize_t)len)
		nsi_fail(errno, "write %s", path);
	close(fd);
}

/* Runs newuidmap/newgidmap (rootless with several ranges): tool <pid> args... */
static void run_map_tool(const char *tool, const char *args, pid_t pid)
{
	char pidstr[24], *copy, *argv[64], *save = NULL;
	int argc = 0, status;
	pid_t p;

	snprintf(pidstr, sizeof(pidstr), "%d", pid);
	copy = strdup(args);
	argv[argc++] = (char *)tool;
	argv[argc++] = pidstr;
	for (char *t = strtok_r(copy, " ", &save); t && argc < 63; t = strtok_r(NULL, " ", &save))
		argv[argc++] = t;
	argv[argc] = NULL;
	p = fork();
	if (p < 0)
		nsi_fail(errno, "fork %s", tool);
	if (p == 0) {
		int nul = open("/dev/null", O_RDWR);
		dup2(nul, 0);
		dup2(nul, 1);
		execv(tool, argv);
		_exit(127);
	}
	if (waitpid(p, &status, 0) < 0)
		nsi_fail(errno, "waitpid %s", tool);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		nsi_fail(EPERM, "%s %s %s: exit status %d", tool, pidstr, args,
			 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	free(copy);
}

/*
 * A helper started ahead of its plan: waits on fd 0 (the sync socket) for the container's
 * fds and the plan's memfd (see NSI_PASS_FDS_MAX), and puts them where a helper spawned with
 * them has them: fds 0..n-1, the sync socket at n, the plan at n+1. Returns n. The runtime
 * closing the socket instead (it did not need this helper) ends it quietly.
 */
static int receive_fds(void)
{
	int32_t n = -1;
	int got[NSI_PASS_FDS_MAX], high[NSI_PASS_FDS_MAX + 1], count = 0, sync;
	char cbuf[CMSG_SPACE(sizeof(got))];
	struct iovec iov = { &n, sizeof(n) };
	struct msghdr mh;
	struct cmsghdr *c;
	ssize_t r;

	g_sync = 0; /* where nsi_fail reports until the fds are in place */
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	do
		r = recvmsg(0, &mh, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		_exit(0);
	if (r < 0)
		nsi_fail(errno, "receive the plan");
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(got, CMSG_DATA(c), sizeof(int) * count);
			break;
		}
	if (r != sizeof(n) || (mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) || n < 0 || count != n + 1)
		nsi_fail(EPROTO, "receive the plan: %d fds for n = %d", count, (int)n);
	/* Every fd above the target range first, so that no dup2 below clobbers another. */
	for (int i = 0; i <= n; i++) {
		high[i] = fcntl(got[i], F_DUPFD_CLOEXEC, n + 2);
		if (high[i] < 0)
			nsi_fail(errno, "dup received fd");
		close(got[i]);
	}
	sync = fcntl(0, F_DUPFD_CLOEXEC, n + 2);
	if (sync < 0)
		nsi_fail(errno, "dup sync socket");
	g_sync = sync;
	for (int i = 0; i < n; i++)
		if (dup2(high[i], i) < 0)
			nsi_fail(errno, "dup2 fd %d", i);
	if (dup2(sync, n) < 0 || dup2(high[n], n + 1) < 0)
		nsi_fail(errno, "dup2 sync and plan");
	g_sync = n;
	for (int i = 0; i <= n; i++)
		close(high[i]);
	close(sync);
	for (int fd = n + 2; fd < 3; fd++)
		close(fd); /* the /dev/null it was started with, where n + 2 fds do not cover 0..2 */
	return n;
}

/* Reads the plan from its memfd (closed) and splits it into checked records. */
static int read_plan(int planfd, struct nsi_rec **recs)
{
	struct stat st;
	uint8_t *plan;

	if (fstat(planfd, &st) < 0)
		nsi_fail(errno, "fstat plan");
	plan = malloc(st.st_size ? st.st_size : 1);
	if (!plan || pread(planfd, plan, st.st_size, 0) != st.st_size)
		nsi_fail(errno ? errno : EIO, "read plan");
	close(planfd);
	return parse_plan(plan, st.st_size, recs);
}

/* The namespaces an early clone may make: none whose setup needs the helper after the clone. */
#define NSI_EARLY_NS \
	((uint64_t)(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET))

/*
 * The child of an early clone: it receives the container's fds and the plan itself (the
 * helper has exited), takes only a plan whose helper steps are that clone and the exec
 * fifo's opening (TypeScript hands any other plan to a helper started with it), and goes on
 * as a child cloned after reading its plan. Everything else it does is nsi_child's.
 */
__attribute__((noreturn)) static void early_child(uint64_t flags)
{
	struct nsi_rec *recs;
	int n, nfds, cloned = 0;

	nfds = receive_fds();
	g_sync = nfds;
	if (fcntl(g_sync, F_SETFD, FD_CLOEXEC) < 0 || fcntl(nfds + 1, F_SETFD, FD_CLOEXEC) < 0)
		nsi_fail(errno, "fcntl FD_CLOEXEC");
	n = read_plan(nfds + 1, &recs);
	for (int i = 0; i < n && recs[i].op < 64; i++) {
		const struct nsi_rec *r = &recs[i];
		g_cur_index = i;
		g_cur_op = r->op;
		nsi_crash_point(i);
		switch (r->op) {
		case NSI_H_CLONE:
			if (rec_u64(r, 0) != flags || cloned++)
				nsi_fail(EINVAL, "plan: cloned with 0x%llx ahead of the plan, which asks 0x%llx",
					 (unsigned long long)flags, (unsigned long long)rec_u64(r, 0));
			break;
		case NSI_H_FIFO:
			/* The same file as from the runtime's namespaces: this mount namespace is a copy
			 * of its own, and no other process is in it. */
			g_fifo = open(rec_str(r, 0), O_PATH | O_CLOEXEC);
			if (g_fifo < 0)
				nsi_fail(errno, "open %s", rec_str(r, 0));
			break;
		default:
			nsi_fail(EINVAL, "plan: op %u needs a helper that has not cloned yet", r->op);
		}
	}
	if (!cloned)
		nsi_fail(EINVAL, "plan: no clone step for a helper that cloned ahead of it");
	g_cur_index = -1;
	g_cur_op = 0;
	nsi_child(recs, n);
}

/*
 * Started ahead of its plan with the namespaces to make (argv[2], from nsi_helper_start):
 * clones now, so that the kernel makes them (a network namespace costs milliseconds) while
 * the runtime builds the plan, reports the child's pid and exits. The child waits on the
 * socket for the plan (early_child), then for its go, as any other.
 */
__attribute__((noreturn)) static void early_clone(const char *arg)
{
	struct clone_args ca;
	struct nsi_msg m;
	char *end;
	uint64_t flags;
	long pid;

	g_sync = 0;
	errno = 0;
	flags = strtoull(arg, &end, 10);
	if (errno || *arg == '\0' || *end != '\0' || (flags & ~NSI_EARLY_NS) != 0)
		nsi_fail(EINVAL, "early clone: bad namespace flags %s", arg);
	/* No process in the container may open /proc/<us>/exe (CVE-2019-5736). */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		nsi_fail(errno, "prctl PR_SET_DUMPABLE");
	crash_setup();
	g_cur_op = NSI_H_CLONE;
	memset(&ca, 0, sizeof(ca));
	/* CLONE_PARENT: the child is the runtime's child (exit_signal must be 0). */
	ca.flags = flags | CLONE_PARENT;
	ca.exit_signal = 0;
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0)
		nsi_fail(errno, "clone3");
	if (pid == 0)
		early_child(flags);
	g_child = (pid_t)pid;
	crash_agent();
	memset(&m, 0, sizeof(m));
	m.type = NSI_MSG_PID;
	m.op_index = -1;
	m.pid = g_child;
	if (send(g_sync, &m, sizeof(m), MSG_NOSIGNAL) < 0)
		nsi_fail(errno, "send pid");
	_exit(0);
}

int main(int argc, char **argv)
{
	struct nsi_rec *recs;
	uint64_t clone_flags = 0;
	const char *uidmap = NULL, *gidmap = NULL, *setgroups = NULL;
	int n, nfds, planfd, joinfd[16], njoin = 0, nlfd = -1, netnsfd[16], nnet = 0;
	int cgroupfd = -1, not_placed = 0, dumpable = 0;
	struct clone_args ca;
	struct nsi_msg m;
	long pid;

	if (argc < 2)
		return 2;
	if (argc > 2 && strcmp(argv[1], "-") == 0)
		early_clone(argv[2]);
	nfds = strcmp(argv[1], "-") == 0 ? receive_fds() : atoi(argv[1]);
	g_sync = nfds;
	planfd = nfds + 1;
	if (fcntl(g_sync, F_SETFD, FD_CLOEXEC) < 0 || fcntl(planfd, F_SETFD, FD_CLOEXEC) < 0)
		return 2;
	/* The plan is read in the runtime's namespaces, before anything joins or sees us. */
	n = read_plan(planfd, &recs);
	/* While we are still dumpable, /proc/self is the caller's own: an unprivileged caller may
	 * write our oom_score_adj, which the clone inherits (non-dumpable, /proc/self is root's). */
	for (int i = 0; i < n && recs[i].op < 64; i++) {
		if (recs[i].op != NSI_H_OOMSCOREADJ)
			continue;
		g_cur_index = i;
		g_cur_op = recs[i].op;
		nsi_write_file("/proc/self/oom_score_adj", rec_str(&recs[i], 0));
	}
	/* No process in the container may open /proc/<us>/exe (CVE-2019-5736). */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		nsi_fail(errno, "prctl PR_SET_DUMPABLE");
	crash_setup();

	for (int i = 0; i < n && recs[i].op < 64; i++) {
		const struct nsi_rec *r = &recs[i];
		g_cur_index = i;
		g_cur_op = r->op;
		nsi_crash_point(i);
		switch (r->op) {
		case NSI_H_CLONE:
			clone_flags = rec_u64(r, 0);
			break;
		case NSI_H_JOIN:
			if (njoin == 16)
				nsi_fail(E2BIG, "too many namespaces to join");
			joinfd[njoin] = open(rec_str(r, 0), O_RDONLY | O_CLOEXEC);
			if (joinfd[njoin] < 0)
				nsi_fail(errno, "open %s", rec_str(r, 0));
			njoin++;
			break;
		case NSI_H_JOINOWNER: {
			/* The user namespace owning a namespace (NS_GET_USERNS), opened now like a join. */
			int ns;
			if (njoin == 16)
				nsi_fail(E2BIG, "too many namespaces to join");
			ns = open(rec_str(r, 0), O_RDONLY | O_CLOEXEC);
			if (ns < 0)
				nsi_fail(errno, "open %s", rec_str(r, 0));
			joinfd[njoin] = ioctl(ns, NS_GET_USERNS);
			if (joinfd[njoin] < 0)
				nsi_fail(errno, "ioctl NS_GET_USERNS %s", rec_str(r, 0));
			close(ns);
			njoin++;
			break;
		}
		case NSI_H_CGROUP:
			/* Opened before any setns: the path is the runtime's. */
			cgroupfd = open(rec_str(r, 0), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (cgroupfd < 0)
				nsi_fail(errno, "open %s", rec_str(r, 0));
			break;
		case NSI_H_FIFO:
			g_fifo = open(rec_str(r, 0), O_PATH | O_CLOEXEC);
			if (g_fifo < 0)
				nsi_fail(errno, "open %s", rec_str(r, 0));
			break;
		case NSI_H_UIDMAP:
			uidmap = rec_str(r, 0);
			break;
		case NSI_H_GIDMAP:
			gidmap = rec_str(r, 0);
			break;
		case NSI_H_SETGROUPS:
			setgroups = rec_str(r, 0);
			break;
		case NSI_H_AFFINITY: {
			uint32_t len;
			const uint8_t *mask = rec_bytes(r, 0, &len);
			nsi_set_affinity(mask, len);
			break;
		}
		case NSI_H_IDMOUNT:
			/* Before any join: made with the runtime's privileges over the source. */
			if (g_nidmount == 16)
				nsi_fail(E2BIG, "too many idmapped mounts");
			g_idmount[g_nidmount++] = fs_idmapped_tree(rec_str(r, 0), rec_str(r, 1), rec_str(r, 2),
								   (int)rec_u64(r, 3), (int)rec_u64(r, 4));
			break;
		case NSI_H_NETDEV:
			/* Before any join: the device is named in the runtime's network namespace,
			 * and a namespace given by path is opened from the runtime's mount namespace. */
			if (nlfd < 0)
				nlfd = nsi_netlink_open();
			if (nnet == 16)
				nsi_fail(E2BIG, "too many network devices");
			netnsfd[nnet] = -1;
			if (*rec_str(r, 2)) {
				netnsfd[nnet] = open(rec_str(r, 2), O_RDONLY | O_CLOEXEC);
				if (netnsfd[nnet] < 0)
					nsi_fail(errno, "open %s", rec_str(r, 2));
			}
			nnet++;
			break;
		case NSI_H_DUMPABLE:
			dumpable = 1;
			break;
		case NSI_H_TIMENS:
		case NSI_H_MAPCMD:
		case NSI_H_OOMSCOREADJ:
			break; /* handled below, after joins / after clone; at the start */
		default:
			nsi_fail(EINVAL, "plan: unknown op %u", r->op);
		}
	}
	/* Join in plan order (TypeScript orders them: the user namespace first, or the one owning
	 * the other namespaces first when the init nested its own; see buildExecPlan). */
	for (int i = 0, j = 0; i < n && recs[i].op < 64; i++) {
		int owner = recs[i].op == NSI_H_JOINOWNER;
		if (recs[i].op != NSI_H_JOIN && !owner)
			continue;
		g_cur_index = i;
		g_cur_op = recs[i].op;
		if (setns(joinfd[j], owner ? CLONE_NEWUSER : (int)rec_u64(&recs[i], 1)) < 0)
			nsi_fail(errno, "setns %s%s", owner ? "the user namespace owning " : "",
				 rec_str(&recs[i], 0));
		close(joinfd[j++]);
	}
	for (int i = 0; i < n && recs[i].op < 64; i++) {
		if (recs[i].op != NSI_H_TIMENS)
			continue;
		g_cur_index = i;
		g_cur_op = recs[i].op;
		if (unshare(CLONE_NEWTIME) < 0)
			nsi_fail(errno, "unshare CLONE_NEWTIME");
		/* No offsets: the namespace alone (the clocks as the host's). */
		if (*rec_str(&recs[i], 0))
			nsi_write_file("/proc/self/timens_offsets", rec_str(&recs[i], 0));
	}

	g_cur_index = -1;
	g_cur_op = NSI_H_CLONE;
	memset(&ca, 0, sizeof(ca));
	/* CLONE_PARENT: the child is the runtime's child (exit_signal must be 0). */
	ca.flags = clone_flags | CLONE_PARENT;
	ca.exit_signal = 0;
	if (cgroupfd >= 0) {
		/* Born in its cgroup: no cgroup.procs write, no RCU grace period for it. */
		ca.flags |= CLONE_INTO_CGROUP;
		ca.cgroup = (uint64_t)cgroupfd;
	}
	/* Only when the plan says so (an unprivileged writer of the child's id maps):
	 * dumpable, /proc/<child> is the writer's own; a C_DUMPABLE step undoes it. */
	if (dumpable && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		nsi_fail(errno, "prctl PR_SET_DUMPABLE");
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0 && cgroupfd >= 0 &&
	    (errno == EINVAL || errno == EOPNOTSUPP || errno == E2BIG || errno == EACCES ||
	     errno == EPERM || errno == EBUSY)) {
		/* A kernel before 5.7, or a cgroup that cannot take it now: clone as before and
		 * let the runtime move the child (its cgroup.procs write reports what is wrong). */
		not_placed = errno;
		ca.flags &= ~(uint64_t)CLONE_INTO_CGROUP;
		ca.cgroup = 0;
		pid = syscall(SYS_clone3, &ca, sizeof(ca));
	}
	if (pid < 0)
		nsi_fail(errno, "clone3");
	if (pid == 0)
		nsi_child(recs, n);
	g_child = (pid_t)pid;
	crash_agent();
	if (dumpable && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		nsi_fail(errno, "prctl PR_SET_DUMPABLE");

	for (int i = 0; i < n && recs[i].op < 64; i++) {
		if (recs[i].op != NSI_H_MAPCMD)
			continue;
		g_cur_index = i;
		g_cur_op = recs[i].op;
		run_map_tool(rec_str(&recs[i], 0), rec_str(&recs[i], 1), g_child);
	}
	if (setgroups || uidmap || gidmap) {
		char path[64];
		g_cur_op = NSI_H_UIDMAP;
		if (setgroups) {
			snprintf(path, sizeof(path), "/proc/%d/setgroups", g_child);
			nsi_write_file(path, setgroups);
		}
		if (uidmap) {
			snprintf(path, sizeof(path), "/proc/%d/uid_map", g_child);
			nsi_write_file(path, uidmap);
		}
		if (gidmap) {
			snprintf(path, sizeof(path), "/proc/%d/gid_map", g_child);
			nsi_write_file(path, gidmap);
		}
	}
	for (int i = 0, j = 0; i < n && recs[i].op < 64; i++) {
		int enter;
		if (recs[i].op != NSI_H_NETDEV)
			continue;
		g_cur_index = i;
		g_cur_op = recs[i].op;
		enter = netnsfd[j];
		if (enter < 0) {
			enter = (int)syscall(SYS_pidfd_open, g_child, 0);
			if (enter < 0)
				nsi_fail(errno, "pidfd_open %d", g_child);
		}
		nsi_netdev_move(nlfd, rec_str(&recs[i], 0), rec_str(&recs[i], 1), netnsfd[j], g_child,
				enter);
		if (enter != netnsfd[j])
			close(enter);
		j++;
	}
	memset(&m, 0, sizeof(m));
	m.type = NSI_MSG_PID;
	m.op_index = -1;
	m.pid = g_child;
	m.err = not_placed; /* with NSI_H_CGROUP: 0 when the child was born in the cgroup */
	if (send(g_sync, &m, sizeof(m), MSG_NOSIGNAL) < 0)
		nsi_fail(errno, "send pid");
	_exit(0);
}
