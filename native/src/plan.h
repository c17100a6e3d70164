/*
 * The spawn plan: a flat, ordered list of operations that TypeScript builds and
 * validates (native/plan.ts) and nsinit-init executes. This header is the one
 * definition of the format; native/plan.ts mirrors it and a test keeps the two equal.
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

/*
 * The ops, X(name, number, arguments). The arguments are spelled one letter each, in
 * order: u an integer (u64), s a string, b bytes. nsinit-init checks every record's
 * argument count and kinds against this table before it runs any (init.c), and
 * native/plan.ts holds the same table for TypeScript (native/plan_contract_test.ts
 * parses this one and fails when they disagree).
 */
#define NSI_OPS(X) \
	/* helper stage */ \
	X(NSI_H_CLONE, 1, "u")          /* clone flags (CLONE_NEW*) */ \
	X(NSI_H_JOIN, 2, "su")          /* path, nstype: setns before clone */ \
	X(NSI_H_TIMENS, 3, "s")         /* offsets: unshare(CLONE_NEWTIME) + timens_offsets */ \
	X(NSI_H_UIDMAP, 4, "s")         /* map: written to /proc/<child>/uid_map */ \
	X(NSI_H_GIDMAP, 5, "s")         /* map: written to /proc/<child>/gid_map */ \
	X(NSI_H_SETGROUPS, 6, "s")      /* "allow"|"deny": /proc/<child>/setgroups */ \
	X(NSI_H_FIFO, 7, "s")           /* path: exec fifo, opened O_PATH for the child */ \
	X(NSI_H_MAPCMD, 8, "ss")        /* tool, args: run newuidmap/newgidmap <pid> args */ \
	X(NSI_H_AFFINITY, 9, "b")       /* cpu mask: the helper's affinity before clone \
	                                   (inherited by the child) */ \
	X(NSI_H_NETDEV, 10, "sss")      /* device, new name, netns path ("" the child's): move \
	                                   a network device, its permanent addresses, set it up */ \
	X(NSI_H_IDMOUNT, 11, "sssuu")   /* source, uid map, gid map, recursive tree, recursive \
	                                   idmap: an idmapped detached mount (open_tree + \
	                                   mount_setattr), for C_MOVEMOUNT */ \
	X(NSI_H_CGROUP, 12, "s")        /* cgroup v2 dir: clone3 straight into it (CLONE_INTO_CGROUP); \
	                                   where the kernel refuses, clone without it and say so \
	                                   in the PID message (err: the errno) */ \
	X(NSI_H_DUMPABLE, 13, "")       /* clone the child dumpable (an unprivileged id-map \
	                                   writer needs /proc/<child> to be its own) */ \
	X(NSI_H_JOINOWNER, 14, "s")     /* path of a namespace: setns into the user namespace \
	                                   owning it (NS_GET_USERNS), in order with H_JOIN */ \
	X(NSI_H_OOMSCOREADJ, 15, "s")   /* value: the helper's own oom_score_adj, written before \
	                                   it makes itself non-dumpable (the clone inherits it) */ \
	/* child stage */ \
	X(NSI_C_SETSID, 64, "")         /* setsid */ \
	X(NSI_C_UNSHARE, 65, "u")       /* flags */ \
	X(NSI_C_ROOTFS, 66, "s")        /* path: bind the rootfs onto itself, remember it */ \
	X(NSI_C_MOUNT, 67, "sssusuu")   /* src, dst, fstype, flags, data, create (0 none, \
	                                   1 dir, 2 file), inroot: in the root, a bind is \
	                                   open_tree'd, a filesystem fsmount'ed, then moved \
	                                   onto dst resolved once; REMOUNT, PROPAGATE and \
	                                   SETATTR on that dst act on the mount's fd */ \
	X(NSI_C_REMOUNT, 68, "suu")     /* dst, flags, inroot: MS_REMOUNT|MS_BIND|flags */ \
	X(NSI_C_PROPAGATE, 69, "suu")   /* dst, flags, inroot */ \
	X(NSI_C_SETATTR, 70, "suuu")    /* dst, set, clr, inroot: mount_setattr recursive */ \
	X(NSI_C_MKNOD, 71, "suuuu")     /* dst, mode, dev, uid, gid (in root) */ \
	X(NSI_C_SYMLINK, 72, "ss")      /* target, linkpath (in root) */ \
	X(NSI_C_PIVOT, 73, "u")         /* nopivot: pivot_root, or MS_MOVE + chroot */ \
	X(NSI_C_MASK, 74, "s")          /* path: /dev/null over a file, ro tmpfs over a dir */ \
	X(NSI_C_READONLY, 75, "s")      /* path: bind onto itself, remount read-only */ \
	X(NSI_C_WRITE, 76, "ss")        /* path, value */ \
	X(NSI_C_HOSTNAME, 77, "s")      /* name */ \
	X(NSI_C_DOMAINNAME, 78, "s")    /* name */ \
	X(NSI_C_RLIMIT, 79, "uuu")      /* resource, soft, hard */ \
	X(NSI_C_BOUNDING, 80, "u")      /* mask of capabilities to keep in the bounding set */ \
	X(NSI_C_KEEPCAPS, 81, "u")      /* on */ \
	X(NSI_C_USER, 82, "uuub")       /* uid, gid, setgroups, gids (u32 each) */ \
	X(NSI_C_CAPS, 83, "uuuu")       /* effective, permitted, inheritable, ambient */ \
	X(NSI_C_UMASK, 84, "u")         /* mask */ \
	X(NSI_C_NNP, 85, "")            /* PR_SET_NO_NEW_PRIVS */ \
	X(NSI_C_SECCOMP, 86, "bu")      /* bpf (struct sock_filter[]), flags; with \
	                                   SECCOMP_FILTER_FLAG_NEW_LISTENER the listener fd \
	                                   is sent out (NSI_MSG_SECCOMP), then wait for GO */ \
	X(NSI_C_CHDIR, 87, "s")         /* path */ \
	X(NSI_C_TERMINAL, 88, "uuuu")   /* rows, cols, uid, gid: pty in the container, master \
	                                   sent out, slave becomes stdio and controlling tty */ \
	X(NSI_C_FINDEXEC, 89, "ss")     /* file, PATH: resolve now, remember for EXEC */ \
	X(NSI_C_READY, 90, "")          /* report READY to the runtime */ \
	X(NSI_C_FIFOWAIT, 91, "")       /* block on the exec fifo until start */ \
	X(NSI_C_CLOSEFDS, 92, "u")      /* first: close-on-exec every fd >= first */ \
	X(NSI_C_EXEC, 93, "bb")         /* argv, envp (NUL-separated) */ \
	X(NSI_C_DUMPABLE, 94, "u")      /* on */ \
	X(NSI_C_PERSONALITY, 96, "u")   /* persona */ \
	X(NSI_C_MKDIR, 97, "su")        /* dst, mode (in root) */ \
	X(NSI_C_KEYRING, 98, "s")       /* name: join a new session keyring */ \
	X(NSI_C_BARRIER, 99, "")        /* report BARRIER, wait for GO (runtime-side hooks) */ \
	X(NSI_C_HOOK, 100, "sbbssu")    /* path, argv, envp, stdin before the pid, stdin after \
	                                   the pid, timeout seconds (0: none) */ \
	X(NSI_C_CHROOT, 101, "s")       /* path: chroot into it (no mount namespace) */ \
	X(NSI_C_SCHED, 102, "uuuuuuu")  /* policy, flags, nice, priority, runtime, deadline, \
	                                   period: sched_setattr */ \
	X(NSI_C_IOPRIO, 103, "u")       /* class << 13 | level: ioprio_set on itself */ \
	X(NSI_C_MEMPOLICY, 104, "ub")   /* mode | flags, node mask (u64 words): set_mempolicy */ \
	X(NSI_C_AFFINITY, 105, "b")     /* cpu mask: sched_setaffinity on itself */ \
	X(NSI_C_LANDLOCK, 106, "ubbb")  /* handled fs access, paths (NUL-separated), access \
	                                   per path (u64 each), flags per path (u64 each; 1: \
	                                   skip a path that does not exist) */ \
	X(NSI_C_INIT, 107, "")          /* fork: the parent stays as a signal-forwarding, \
	                                   reaping pid 1, the child goes on with the plan */ \
	X(NSI_C_LOOPBACK, 108, "")      /* bring up "lo" in a new network namespace */ \
	X(NSI_C_MOVEMOUNT, 109, "usu")  /* index of the H_IDMOUNT mount, dst, create (1 dir, \
	                                   2 file): move_mount it there (in root) */ \
	X(NSI_C_LOCKMOUNTS, 110, "")    /* unshare a user namespace (identity maps over the \
	                                   container's, written by a forked child) and a mount \
	                                   namespace: every mount becomes locked (MNT_LOCKED) */

enum nsi_op {
#define NSI_OP_ENUM(name, number, args) name = number,
	NSI_OPS(NSI_OP_ENUM)
#undef NSI_OP_ENUM
};

/*
 * A helper started ahead of its plan (nsi_helper_start, argv[1] "-") receives, on its fd 0,
 * one message: an int32 n and, as SCM_RIGHTS, n fds (its fds 0..n-1 to be) and the plan's
 * memfd. At most this many fds in all (the kernel's SCM_MAX_FD); more go through nsi_spawn.
 * One started with namespace flags (argv[2]) clones them at once, reports the child's pid and
 * exits; the child receives that message, and takes only a plan whose helper steps are that
 * clone (NSI_H_CLONE, the same flags) and NSI_H_FIFO.
 */
#define NSI_PASS_FDS_MAX 253

/* Messages on the sync socket (SOCK_SEQPACKET). */
enum nsi_msg_type {
	NSI_MSG_PID = 1,   /* helper -> runtime: child pid (after maps); err: see NSI_H_CGROUP */
	NSI_MSG_READY = 2, /* child -> runtime: set up, about to wait or exec */
	NSI_MSG_ERROR = 3, /* helper/child -> runtime: a step failed */
	NSI_MSG_PTY = 4,   /* child -> runtime: pty master attached as SCM_RIGHTS */
	NSI_MSG_GO = 5,    /* runtime -> child: continue (pid: the child's pid in the runtime's view) */
	NSI_MSG_BARRIER = 6, /* child -> runtime: at a barrier, waiting for GO */
	NSI_MSG_SECCOMP = 7, /* child -> runtime: seccomp notify listener as SCM_RIGHTS; waits for GO */
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
