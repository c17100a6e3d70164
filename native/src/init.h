/* Internal declarations shared by nsinit-init's source files. */
#ifndef NSI_INIT_H
#define NSI_INIT_H

#include <sys/types.h>

#include "plan.h"

#define NSI_MAX_ARGS 8

struct nsi_rec {
	uint16_t op;
	uint16_t nargs;
	const uint8_t *arg[NSI_MAX_ARGS];
	uint32_t len[NSI_MAX_ARGS];
};

/* The sync socket to the runtime, and which record is executing (for errors). */
extern int g_sync;
extern int g_fifo;
extern int g_fifo_w;   /* the exec fifo opened for writing: errors after start go there */
extern long g_host_pid; /* the child's pid as the runtime sees it (from GO) */
extern int g_cur_index;
extern uint32_t g_cur_op;

/* Reports an error to the runtime and exits. `fmt` names the syscall and path. */
__attribute__((noreturn, format(printf, 2, 3))) void nsi_fail(int err, const char *fmt, ...);

/* NSINIT_CRASH_AT=helper:<N>: SIGKILL the runtime before plan step N (crash tests). */
void nsi_crash_point(int index);
void nsi_hold_before_exec(void);
void nsi_hold_at_start(void);
void nsi_hold_at_lock(void);

/* Writes value to an existing file (procfs, sysfs) in one write, or fails the plan. */
void nsi_write_file(const char *path, const char *value);
/* Opens path below a verified procfs: relative to dir (a procfs directory it returned), or an
 * absolute /proc path for dir < 0; no mount crossed, no magic link. Fails the plan. */
int nsi_open_proc(int dir, const char *path, int flags);

/* Argument accessors: they fail the plan if the record is malformed. */
const char *rec_str(const struct nsi_rec *r, int i);
uint64_t rec_u64(const struct nsi_rec *r, int i);
const uint8_t *rec_bytes(const struct nsi_rec *r, int i, uint32_t *len);

/* child.c */
__attribute__((noreturn)) void nsi_child(const struct nsi_rec *recs, int n);
void nsi_set_affinity(const uint8_t *mask, uint32_t len);

/* net.c: moves a network device into a network namespace (netlink, as `ip link set netns`).
 * nlfd: a NETLINK_ROUTE socket of the namespace the device is in now; the target is the
 * netns file nsfd, or (nsfd < 0) process pid's; enter: an fd setns(2) takes for it. */
int nsi_netlink_open(void);
void nsi_netdev_move(int nlfd, const char *dev, const char *newname, int nsfd, pid_t pid,
		     int enter);

/* landlock.c */
void nsi_landlock(const struct nsi_rec *r);

/* reaper_init.c: returns in the forked command; the parent never returns. */
void nsi_reaper_init(void);

/* fs.c: paths resolved inside the rootfs without escaping it. */
extern int g_rootfd;
extern char g_rootpath[4096];
int fs_open_in_root(const char *path, int flags);
int fs_create_in_root(const char *path, int kind /* 1 dir, 2 file */);
int fs_parent_in_root(const char *path, const char **base);
void fs_mount(const char *src, const char *dst, const char *fstype, unsigned long flags,
	      const char *data, int create, int inroot);
void fs_remount(const char *dst, unsigned long flags, int inroot);
void fs_propagate(const char *dst, unsigned long flags, int inroot);
void fs_setattr(const char *dst, uint64_t set, uint64_t clr, int inroot);
void fs_move_mount(int tree, const char *dst, int create);
int fs_idmapped_tree(const char *src, const char *uidmap, const char *gidmap, int rtree, int ridmap);
/* Detached idmapped mounts the helper made (H_IDMOUNT), by index, for C_MOVEMOUNT. */
extern int g_idmount[16];
extern int g_nidmount;
void fs_rootfs(const char *path);
void fs_pivot(int nopivot);
void fs_mask(const char *path);
void fs_readonly(const char *path);
void fs_mknod(const char *path, uint64_t mode, uint64_t dev, uint64_t uid, uint64_t gid);
void fs_symlink(const char *target, const char *linkpath);
void fs_mkdir(const char *path, uint64_t mode);

#endif
