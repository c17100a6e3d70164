/*
 * The spawn plan: a flat, ordered list of operations that TypeScript builds and
 * validates (native/plan.ts) and nsinit-init executes. This header is the one
 * definition of the format; native/plan.ts mirrors the numbers.
 *
 * Layout (little endian):
 *   u32 magic "NSI1", u32 total length,
 *   then records: u16 op, u16 nargs, u32 record length (header included),
 *   then nargs arguments: u32 length, bytes, padded to 4.
 * Integer arguments are 8-byte little-endian; strings are NUL-terminated.
 *
 * Ops below 64 run in the helper before clone (the "outside" stage); ops from
 * 64 run, in order, in the cloned child (the container's init or exec'd process).
 */
#ifndef NSI_PLAN_H
#define NSI_PLAN_H

#include <stddef.h>
#include <stdint.h>

#define NSI_PLAN_MAGIC 0x3149534eu /* "NSI1" */

enum nsi_op {
	/* helper stage */
	NSI_H_CLONE = 1,     /* u64 clone flags (CLONE_NEW*) */
	NSI_H_JOIN = 2,      /* str path, u64 nstype: setns before clone */
	NSI_H_TIMENS = 3,    /* str offsets: unshare(CLONE_NEWTIME) + timens_offsets */
	NSI_H_UIDMAP = 4,    /* str map: written to /proc/<child>/uid_map */
	NSI_H_GIDMAP = 5,    /* str map: written to /proc/<child>/gid_map */
	NSI_H_SETGROUPS = 6, /* str "allow"|"deny": /proc/<child>/setgroups */
	NSI_H_FIFO = 7,      /* str path: exec fifo, opened O_PATH for the child */
	NSI_H_MAPCMD = 8,    /* str tool, str args: run newuidmap/newgidmap <pid> args */

	/* child stage */
	NSI_C_SETSID = 64,     /* (none) */
	NSI_C_UNSHARE = 65,    /* u64 flags */
	NSI_C_ROOTFS = 66,     /* str path: bind the rootfs onto itself, remember it */
	NSI_C_MOUNT = 67,      /* str src, str dst, str fstype, u64 flags, str data,
	                          u64 create (0 none, 1 dir, 2 file), u64 inroot */
	NSI_C_REMOUNT = 68,    /* str dst, u64 flags, u64 inroot: MS_REMOUNT|MS_BIND|flags */
	NSI_C_PROPAGATE = 69,  /* str dst, u64 flags, u64 inroot */
	NSI_C_SETATTR = 70,    /* str dst, u64 set, u64 clr, u64 inroot: mount_setattr recursive */
	NSI_C_MKNOD = 71,      /* str dst, u64 mode, u64 dev, u64 uid, u64 gid (in root) */
	NSI_C_SYMLINK = 72,    /* str target, str linkpath (in root) */
	NSI_C_PIVOT = 73,      /* u64 nopivot: pivot_root, or MS_MOVE + chroot */
	NSI_C_MASK = 74,       /* str path: /dev/null over a file, read-only tmpfs over a dir */
	NSI_C_READONLY = 75,   /* str path: bind onto itself, remount read-only */
	NSI_C_WRITE = 76,      /* str path, str value */
	NSI_C_HOSTNAME = 77,   /* str name */
	NSI_C_DOMAINNAME = 78, /* str name */
	NSI_C_RLIMIT = 79,     /* u64 resource, u64 soft, u64 hard */
	NSI_C_BOUNDING = 80,   /* u64 mask of capabilities to keep in the bounding set */
	NSI_C_KEEPCAPS = 81,   /* u64 on */
	NSI_C_USER = 82,       /* u64 uid, u64 gid, u64 setgroups, bytes gids (u32 each) */
	NSI_C_CAPS = 83,       /* u64 effective, permitted, inheritable, ambient */
	NSI_C_UMASK = 84,      /* u64 mask */
	NSI_C_NNP = 85,        /* (none): PR_SET_NO_NEW_PRIVS */
	NSI_C_SECCOMP = 86,    /* bytes bpf (struct sock_filter[]), u64 flags */
	NSI_C_CHDIR = 87,      /* str path */
	NSI_C_TERMINAL = 88,   /* u64 rows, u64 cols, u64 uid, u64 gid: pty in the container,
	                          master sent out, slave becomes stdio and controlling tty */
	NSI_C_FINDEXEC = 89,   /* str file, str PATH: resolve now, remember for EXEC */
	NSI_C_READY = 90,      /* (none): report READY to the runtime */
	NSI_C_FIFOWAIT = 91,   /* (none): block on the exec fifo until start */
	NSI_C_CLOSEFDS = 92,   /* u64 first: close-on-exec every fd >= first */
	NSI_C_EXEC = 93,       /* bytes argv (NUL-separated), bytes envp (NUL-separated) */
	NSI_C_DUMPABLE = 94,   /* u64 on */
	NSI_C_PERSONALITY = 96, /* u64 persona */
	NSI_C_MKDIR = 97,      /* str dst, u64 mode (in root) */
	NSI_C_KEYRING = 98,    /* str name: join a new session keyring */
	NSI_C_BARRIER = 99,    /* (none): report BARRIER, wait for GO (runtime-side hooks run) */
	NSI_C_HOOK = 100,      /* str path, bytes argv, bytes envp, str stdin-before-pid,
	                          str stdin-after-pid, u64 timeout seconds (0: none) */
	NSI_C_LANDLOCK = 101,  /* u64 handled fs access, bytes paths (NUL-separated),
	                          bytes access per path (u64 each), bytes flags per path
	                          (u64 each; 1: skip a path that does not exist) */
	NSI_C_INIT = 102,      /* (none): fork; the parent stays as a signal-forwarding,
	                          reaping pid 1, the child goes on with the plan */
	NSI_C_LOOPBACK = 103,  /* (none): bring up "lo" in a new network namespace */
};

/* Messages on the sync socket (SOCK_SEQPACKET). */
enum nsi_msg_type {
	NSI_MSG_PID = 1,   /* helper -> runtime: child pid (after maps) */
	NSI_MSG_READY = 2, /* child -> runtime: set up, about to wait or exec */
	NSI_MSG_ERROR = 3, /* helper/child -> runtime: a step failed */
	NSI_MSG_PTY = 4,   /* child -> runtime: pty master attached as SCM_RIGHTS */
	NSI_MSG_GO = 5,    /* runtime -> child: continue (pid: the child's pid in the runtime's view) */
	NSI_MSG_BARRIER = 6, /* child -> runtime: at a barrier, waiting for GO */
};

struct nsi_msg {
	uint32_t type;
	int32_t err;       /* errno for NSI_MSG_ERROR */
	int32_t op_index;  /* record index in the plan that failed, -1 if none */
	uint32_t op;       /* its opcode */
	int64_t pid;
	char text[480];    /* syscall and path, e.g. "mount /proc" */
};

#endif
