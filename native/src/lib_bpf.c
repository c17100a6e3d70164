/*
 * libnsinit, the cgroup v2 device filter: load a BPF_PROG_TYPE_CGROUP_DEVICE
 * program (built in TypeScript by cgroups/devicefilter.ts) and attach it to,
 * list, or detach it from a cgroup directory. Every function returns >= 0 on
 * success or -errno; the policy (which programs to replace) is the caller's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NSI_EXPORT __attribute__((visibility("default")))

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

/*
 * BPF_PROG_LOAD with this thread's signals blocked: the verifier gives up with EAGAIN when a
 * signal is pending for the thread (a profiler's SIGPROF, any timer), which says nothing of
 * the program, and a blocked signal waits without making one pending. Still EAGAIN (a
 * signal that cannot be blocked): a few more tries, as cilium/ebpf (runc's loader) retries.
 */
static long prog_load(union bpf_attr *attr)
{
	sigset_t all, old;
	long fd;
	int tries = 0, err;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	do
		fd = sys_bpf(BPF_PROG_LOAD, attr);
	while (fd < 0 && errno == EAGAIN && ++tries < 10);
	err = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = err;
	return fd;
}

/*
 * Loads `len` bytes of struct bpf_insn as a cgroup device program and returns
 * its fd (close-on-exec). When the kernel refuses it and `log` is given, the
 * load is repeated with the verifier's log written into `log` (NUL-terminated).
 */
NSI_EXPORT int nsi_bpf_prog_load_dev(const uint8_t *insns, uint32_t len, const char *license,
				     char *log, uint32_t log_size)
{
	union bpf_attr attr;
	long fd;
	int err;

	if (insns == NULL || len == 0 || len % sizeof(struct bpf_insn) != 0 || license == NULL)
		return -EINVAL;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	attr.insns = (uint64_t)(uintptr_t)insns;
	attr.insn_cnt = len / sizeof(struct bpf_insn);
	attr.license = (uint64_t)(uintptr_t)license;
	strncpy(attr.prog_name, "nsinit_devices", sizeof(attr.prog_name) - 1);
	fd = prog_load(&attr);
	if (fd >= 0)
		return (int)fd;
	err = errno;
	if (log != NULL && log_size > 1 && (err == EACCES || err == EINVAL)) {
		log[0] = '\0';
		attr.log_level = 1;
		attr.log_buf = (uint64_t)(uintptr_t)log;
		attr.log_size = log_size;
		fd = prog_load(&attr);
		if (fd >= 0) /* loads when logging: keep it */
			return (int)fd;
		log[log_size - 1] = '\0';
	}
	return -err;
}

/*
 * Writes the ids of the device programs attached to the cgroup `cgroup_fd` into
 * `ids` (room for `max`) and returns how many there are; -ENOSPC when more than
 * `max` are attached.
 */
NSI_EXPORT int nsi_bpf_prog_query_dev(int32_t cgroup_fd, uint32_t *ids, uint32_t max)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.query.target_fd = cgroup_fd;
	attr.query.attach_type = BPF_CGROUP_DEVICE;
	attr.query.prog_ids = (uint64_t)(uintptr_t)ids;
	attr.query.prog_cnt = max;
	if (sys_bpf(BPF_PROG_QUERY, &attr) < 0)
		return -errno;
	return (int)attr.query.prog_cnt;
}

/*
 * Attaches the program `prog_fd` to the cgroup `cgroup_fd` with
 * BPF_F_ALLOW_MULTI, in place of the attached program `replace_fd` when it is
 * >= 0 (BPF_F_REPLACE).
 */
NSI_EXPORT int nsi_bpf_prog_attach_dev(int32_t cgroup_fd, int32_t prog_fd, int32_t replace_fd)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.target_fd = cgroup_fd;
	attr.attach_bpf_fd = prog_fd;
	attr.attach_type = BPF_CGROUP_DEVICE;
	attr.attach_flags = BPF_F_ALLOW_MULTI;
	if (replace_fd >= 0) {
		attr.attach_flags |= BPF_F_REPLACE;
		attr.replace_bpf_fd = replace_fd;
	}
	return sys_bpf(BPF_PROG_ATTACH, &attr) < 0 ? -errno : 0;
}

/* An fd (close-on-exec) for the loaded program with id `prog_id`. */
NSI_EXPORT int nsi_bpf_prog_get_fd(uint32_t prog_id)
{
	union bpf_attr attr;
	long fd;

	memset(&attr, 0, sizeof(attr));
	attr.prog_id = prog_id;
	fd = sys_bpf(BPF_PROG_GET_FD_BY_ID, &attr);
	return fd < 0 ? -errno : (int)fd;
}

/* Detaches the device program `prog_fd` from the cgroup `cgroup_fd`. */
NSI_EXPORT int nsi_bpf_prog_detach_dev(int32_t cgroup_fd, int32_t prog_fd)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.target_fd = cgroup_fd;
	attr.attach_bpf_fd = prog_fd;
	attr.attach_type = BPF_CGROUP_DEVICE;
	return sys_bpf(BPF_PROG_DETACH, &attr) < 0 ? -errno : 0;
}
