/*
 * What a process in a container tries, one line per attempt: "NAME RET ERRNO".
 * Raw syscalls, so libc cannot mask a refusal. Static, so it runs in any rootfs.
 *
 *   probe [PID]   with PID: also PTRACE_SEIZE it (no stop; detached when the probe exits)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *name, long ret)
{
	printf("%s %ld %d\n", name, ret, ret < 0 ? errno : 0);
}

int main(int argc, char **argv)
{
	union bpf_attr attr;

	/*
	 * First: a successful unshare(CLONE_NEWUSER) below would move the probe into a new user
	 * namespace, where it holds no capability over anything outside, and the ptrace would
	 * fail whatever the container may do.
	 */
	if (argc > 1)
		report("ptrace", syscall(SYS_ptrace, PTRACE_SEIZE, atoi(argv[1]), 0, 0));
	/* KEYCTL_JOIN_SESSION_KEYRING: a new keyring shared with no one. */
	report("keyctl", syscall(SYS_keyctl, 1, "probe", 0, 0, 0));
	report("unshare-user", syscall(SYS_unshare, CLONE_NEWUSER));
	report("mount", syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL));
	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 4;
	attr.max_entries = 1;
	report("bpf", syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr)));
	return 0;
}
