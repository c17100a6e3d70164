/*
 * Filesystem steps of the child: the rootfs, mounts, devices, pivot_root,
 * masked and read-only paths.
 *
 * Before pivot_root every destination is resolved inside the rootfs with
 * openat2(RESOLVE_IN_ROOT), so a symlink in the image cannot point a mount
 * outside it. The mount is made detached (open_tree for a bind, fsopen/fsmount
 * for a filesystem), with its flags, and moved onto the resolved fd; later
 * steps on the same destination act on the mount's own fd (see remember()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"

int g_rootfd = -1;
char g_rootpath[4096];

int fs_open_in_root(const char *path, int flags)
{
	struct open_how how;

	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(flags | O_CLOEXEC);
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	return (int)syscall(SYS_openat2, g_rootfd, path, &how, sizeof(how));
}

/* Opens the parent directory of `path` in the root (creating it), sets *base. */
int fs_parent_in_root(const char *path, const char **base)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	size_t len;
	int fd;

	if (!slash) {
		*base = path;
		return fs_open_in_root(".", O_PATH | O_DIRECTORY);
	}
	*base = slash + 1;
	len = (size_t)(slash - path);
	if (len == 0)
		return fs_open_in_root("/", O_PATH | O_DIRECTORY);
	if (len >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, path, len);
	dir[len] = 0;
	fd = fs_open_in_root(dir, O_PATH | O_DIRECTORY);
	if (fd < 0 && errno == ENOENT) {
		if (fs_create_in_root(dir, 1) < 0)
			return -1;
		fd = fs_open_in_root(dir, O_PATH | O_DIRECTORY);
	}
	return fd;
}

/*
 * Creates `path` (and its parents) inside the root as a directory or empty file.
 * A loop, not a recursion: a destination thousands of components deep must not
 * exhaust the stack. Each prefix is resolved from the root again (symlinks in the
 * image resolve inside the root, as everywhere), and the next component is made
 * in the directory that prefix resolved to.
 */
static int create_in_root(const char *path, int kind, int depth);

/*
 * `base` in `parent` exists: if it is a symlink whose target does not exist, creates
 * the target (resolved inside the root, as runc does for a mount destination that is a
 * dangling symlink). `dir` is the link's directory (in the root), for a relative target.
 */
static int create_link_target(int parent, const char *base, const char *dir, int kind, int depth)
{
	char target[4096], full[8192];
	struct stat st;
	ssize_t n;

	if (fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(st.st_mode))
		return 0;
	n = readlinkat(parent, base, target, sizeof(target) - 1);
	if (n < 0)
		return -1;
	target[n] = 0;
	if (target[0] == '/')
		snprintf(full, sizeof(full), "%s", target);
	else
		snprintf(full, sizeof(full), "%s/%s", dir, target);
	return create_in_root(full, kind, depth + 1);
}

int fs_create_in_root(const char *path, int kind)
{
	return create_in_root(path, kind, 0);
}

/* The recursion is over symlinks only (at most 40, as the kernel's), never over components. */
static int create_in_root(const char *path, int kind, int depth)
{
	char buf[4096];
	size_t len = strlen(path), i = 0;
	int parent, fd, saved;

	if (depth > 40) {
		errno = ELOOP;
		return -1;
	}
	if (len >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len + 1);
	parent = fs_open_in_root("/", O_PATH | O_DIRECTORY);
	if (parent < 0)
		return -1;
	while (i < len) {
		size_t start, end;
		int last;

		while (i < len && buf[i] == '/')
			i++;
		if (i >= len)
			break;
		start = i;
		while (i < len && buf[i] != '/')
			i++;
		end = i;
		while (i < len && buf[i] == '/')
			i++;
		last = i >= len;
		buf[end] = 0;
		if (strcmp(buf + start, ".") == 0) {
			buf[end] = end < len ? '/' : 0;
			continue;
		}
		if (strcmp(buf + start, "..") == 0) {
			errno = EINVAL;
			goto fail;
		}
		fd = fs_open_in_root(buf, O_PATH);
		if (fd < 0 && errno == ENOENT) {
			int made, k = last ? kind : 1;

			if (k == 2) {
				/* O_NOFOLLOW|O_EXCL: never create through a symlink. */
				made = openat(parent, buf + start,
					      O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644);
				if (made >= 0)
					close(made);
			} else {
				made = mkdirat(parent, buf + start, 0755);
			}
			if (made < 0) {
				if (errno != EEXIST)
					goto fail;
				/* A dangling symlink: make what it points to. */
				char dir[4096];
				size_t dl = start;

				while (dl > 0 && buf[dl - 1] == '/')
					dl--;
				memcpy(dir, buf, dl);
				dir[dl] = 0;
				if (create_link_target(parent, buf + start, dir, k, depth) < 0)
					goto fail;
			}
			fd = fs_open_in_root(buf, O_PATH);
		}
		if (fd < 0)
			goto fail;
		close(parent);
		parent = fd;
		if (end < len)
			buf[end] = '/';
	}
	close(parent);
	return 0;
fail:
	saved = errno;
	close(parent);
	errno = saved;
	return -1;
}

/* Resolves a destination: in the root (an O_PATH fd, via /proc/self/fd) or as is. */
static int resolve(const char *dst, int inroot, int create, char *buf, size_t size)
{
	int fd;

	if (!inroot) {
		snprintf(buf, size, "%s", dst);
		return -1;
	}
	fd = fs_open_in_root(dst, O_PATH);
	if (fd < 0 && errno == ENOENT && create) {
		if (fs_create_in_root(dst, create) < 0)
			nsi_fail(errno, "create %s in rootfs", dst);
		fd = fs_open_in_root(dst, O_PATH);
	}
	if (fd < 0)
		nsi_fail(errno, "open %s in rootfs", dst);
	snprintf(buf, size, "/proc/self/fd/%d", fd);
	return fd;
}

/*
 * The mounts this process made, by destination: later steps on the same destination
 * (read-only, propagation, recursive attributes) act on the mount that was made, through
 * its fd, and never resolve the destination path a second time. A path resolved twice
 * is the symlink-exchange race of CVE-2021-30465: a container sharing a volume swaps a
 * directory for a symlink between the two, and the second step lands elsewhere.
 */
static struct made {
	char *dst;
	int fd;
} *g_made;
static int g_nmade, g_maxmade;

/* mfd < 0: a mount made by mount(2) on the resolved fd, with no fd of its own. */
static void remember(const char *dst, int mfd)
{
	for (int i = 0; i < g_nmade; i++)
		if (strcmp(g_made[i].dst, dst) == 0) {
			if (g_made[i].fd >= 0)
				close(g_made[i].fd);
			g_made[i].fd = mfd;
			return;
		}
	if (g_nmade == g_maxmade) {
		struct made *m = realloc(g_made, sizeof(*m) * (size_t)(g_maxmade + 64));
		if (!m)
			nsi_fail(ENOMEM, "remember the mount on %s", dst);
		g_made = m;
		g_maxmade += 64;
	}
	if (!(g_made[g_nmade].dst = strdup(dst)))
		nsi_fail(ENOMEM, "remember the mount on %s", dst);
	g_made[g_nmade++].fd = mfd;
}

/* The fd of the mount made at dst; -1: none made there; -2: made by mount(2), no fd. */
static int made_fd(const char *dst)
{
	for (int i = g_nmade - 1; i >= 0; i--)
		if (strcmp(g_made[i].dst, dst) == 0)
			return g_made[i].fd >= 0 ? g_made[i].fd : -2;
	return -1;
}

/* MS_* per-mount flags as mount_setattr(2) attributes. */
static void to_attr(unsigned long flags, struct mount_attr *attr)
{
	memset(attr, 0, sizeof(*attr));
	if (flags & MS_RDONLY)
		attr->attr_set |= MOUNT_ATTR_RDONLY;
	if (flags & MS_NOSUID)
		attr->attr_set |= MOUNT_ATTR_NOSUID;
	if (flags & MS_NODEV)
		attr->attr_set |= MOUNT_ATTR_NODEV;
	if (flags & MS_NOEXEC)
		attr->attr_set |= MOUNT_ATTR_NOEXEC;
	if (flags & MS_NODIRATIME)
		attr->attr_set |= MOUNT_ATTR_NODIRATIME;
	if (flags & (MS_NOATIME | MS_RELATIME | MS_STRICTATIME)) {
		attr->attr_clr |= MOUNT_ATTR__ATIME;
		attr->attr_set |= (flags & MS_NOATIME)	   ? MOUNT_ATTR_NOATIME
				  : (flags & MS_STRICTATIME) ? MOUNT_ATTR_STRICTATIME
							     : MOUNT_ATTR_RELATIME;
	}
}

/* Flags a bind remount must keep, or the kernel refuses it in a user namespace. */
static uint64_t locked_attrs(int mfd)
{
	struct statvfs sf;
	uint64_t a = 0;

	if (fstatvfs(mfd, &sf) < 0)
		return 0;
	if (sf.f_flag & ST_NOSUID)
		a |= MOUNT_ATTR_NOSUID;
	if (sf.f_flag & ST_NODEV)
		a |= MOUNT_ATTR_NODEV;
	if (sf.f_flag & ST_NOEXEC)
		a |= MOUNT_ATTR_NOEXEC;
	return a;
}

/*
 * As MS_REMOUNT|MS_BIND|flags on the mount `mfd` refers to: the flags given are set and
 * the other per-mount flags cleared, except those the kernel keeps locked (a mount from
 * a more privileged user namespace), as runc does.
 */
static int setattr_fd(int mfd, unsigned long flags, unsigned int at)
{
	struct mount_attr attr;

	to_attr(flags, &attr);
	attr.attr_clr |= (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
			  MOUNT_ATTR_NOEXEC) & ~attr.attr_set;
	if (syscall(SYS_mount_setattr, mfd, "", AT_EMPTY_PATH | at, &attr, sizeof(attr)) == 0)
		return 0;
	if (errno != EPERM)
		return -1;
	attr.attr_clr &= ~locked_attrs(mfd);
	attr.attr_set |= locked_attrs(mfd);
	if (attr.attr_clr & MOUNT_ATTR__ATIME && !(flags & (MS_NOATIME | MS_RELATIME | MS_STRICTATIME)))
		attr.attr_clr &= ~MOUNT_ATTR__ATIME;
	return (int)syscall(SYS_mount_setattr, mfd, "", AT_EMPTY_PATH | at, &attr, sizeof(attr));
}

static void remount_target(const char *target, const char *shown, unsigned long flags)
{
	unsigned long f = MS_REMOUNT | MS_BIND | (flags & ~(unsigned long)(MS_REC | MS_BIND | MS_REMOUNT));
	struct statvfs sf;

	if (mount("", target, NULL, f, NULL) == 0)
		return;
	if (errno == EPERM && statvfs(target, &sf) == 0) {
		unsigned long keep = 0;
		if (sf.f_flag & ST_NOSUID)
			keep |= MS_NOSUID;
		if (sf.f_flag & ST_NODEV)
			keep |= MS_NODEV;
		if (sf.f_flag & ST_NOEXEC)
			keep |= MS_NOEXEC;
		if (mount("", target, NULL, f | keep, NULL) == 0)
			return;
	}
	nsi_fail(errno, "remount %s", shown);
}

/*
 * A bind mount through file descriptors (the new mount API): clone the source tree,
 * give the detached copy its flags, then attach it on the destination fd. The mount is
 * read-only (or nosuid, ...) before it is ever visible, and nothing is resolved twice.
 */
static int bind_fd(int srcdir, const char *src, unsigned int src_at, int dstfd, unsigned long flags)
{
	int tree, saved;

	tree = (int)syscall(SYS_open_tree, srcdir, src,
			    OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | src_at |
				    ((flags & MS_REC) ? AT_RECURSIVE : 0));
	if (tree < 0)
		return -1;
	if (flags & ~(unsigned long)(MS_BIND | MS_REC | MS_REMOUNT)) {
		if (setattr_fd(tree, flags, 0) < 0)
			goto fail;
	}
	if (syscall(SYS_move_mount, tree, "", dstfd, "",
		    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		goto fail;
	return tree;
fail:
	saved = errno;
	close(tree);
	errno = saved;
	return -1;
}

/* Sets one mount option of a filesystem context: "key" (a flag) or "key=value". */
static int fs_option(int fs, char *opt)
{
	char *eq = strchr(opt, '=');

	if (!*opt)
		return 0;
	if (!eq)
		return (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, opt, NULL, 0);
	*eq = 0;
	return (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, opt, eq + 1, 0);
}

/*
 * A new filesystem as a detached mount (fsopen, fsconfig, fsmount): the per-mount flags
 * are set before it is attached anywhere. Returns the mount fd, or -errno with the
 * kernel's own message (read from the context) in `why`. -ENOSYS: no fsopen(2) here;
 * -E2BIG: an option value longer than fsconfig(2) takes (255 bytes), mount(2) can.
 * The data string is split at commas outside double quotes (an SELinux context
 * "s0:c1,c2" keeps its comma), as mount(2) splits it.
 */
static int new_fs(const char *src, const char *fstype, unsigned long flags, const char *data,
		  char *why, size_t whysize)
{
	static const struct {
		unsigned long flag;
		const char *name;
	} sb_flags[] = {{MS_RDONLY, "ro"}, {MS_SYNCHRONOUS, "sync"}, {MS_DIRSYNC, "dirsync"},
			{MS_LAZYTIME, "lazytime"}, {MS_MANDLOCK, "mand"}};
	char opts[4096];
	struct mount_attr attr;
	int fs, mfd, err;
	size_t len = data ? strlen(data) : 0, start = 0, value = 0;
	int quoted = 0;

	*why = 0;
	if (len >= sizeof(opts) || (src && strlen(src) > 255))
		return -E2BIG;
	memcpy(opts, data ? data : "", len + 1);
	for (size_t i = 0; i <= len; i++) {
		if (opts[i] == '"')
			quoted = !quoted;
		if (opts[i] == '=' && value <= start)
			value = i + 1;
		if (opts[i] != 0 && (opts[i] != ',' || quoted))
			continue;
		if (i - (value > start ? value : start) > 255)
			return -E2BIG;
		start = i + 1;
	}
	fs = (int)syscall(SYS_fsopen, fstype, FSOPEN_CLOEXEC);
	if (fs < 0)
		return -errno;
	if (src && *src && syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "source", src, 0) < 0)
		goto fail;
	/* Superblock flags, as mount(2) takes them from the same MS_* bits. */
	for (size_t i = 0; i < sizeof(sb_flags) / sizeof(sb_flags[0]); i++)
		if ((flags & sb_flags[i].flag) &&
		    syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, sb_flags[i].name, NULL, 0) < 0)
			goto fail;
	quoted = 0;
	start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (opts[i] == '"')
			quoted = !quoted;
		if (opts[i] != 0 && (opts[i] != ',' || quoted))
			continue;
		opts[i] = 0;
		if (fs_option(fs, opts + start) < 0)
			goto fail;
		start = i + 1;
	}
	if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		goto fail;
	to_attr(flags, &attr);
	mfd = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, attr.attr_set);
	if (mfd < 0)
		goto fail;
	close(fs);
	return mfd;
fail:
	err = errno;
	{
		/* The kernel's explanation ("e tmpfs: Bad value for 'mode'"), if it left one. */
		ssize_t n = read(fs, why, whysize - 1);
		why[n > 0 ? n : 0] = 0;
		if (n > 0 && why[n - 1] == '\n')
			why[n - 1] = 0;
		if (n > 2 && why[1] == ' ')
			memmove(why, why + 2, strlen(why + 2) + 1);
	}
	close(fs);
	return -err;
}

void fs_mount(const char *src, const char *dst, const char *fstype, unsigned long flags,
	      const char *data, int create, int inroot)
{
	char target[4096];
	int fd = resolve(dst, inroot, create, target, sizeof(target));

	if (flags & MS_BIND) {
		if (fd >= 0) {
			int mfd = bind_fd(AT_FDCWD, src, 0, fd, flags);
			if (mfd < 0)
				nsi_fail(errno, "mount %s on %s (bind)", src, dst);
			remember(dst, mfd);
		} else {
			if (mount(src, target, NULL, MS_BIND | (flags & MS_REC), NULL) < 0)
				nsi_fail(errno, "mount %s on %s (bind)", src, dst);
			if (flags & ~(unsigned long)(MS_BIND | MS_REC | MS_REMOUNT))
				remount_target(target, dst, flags);
		}
	} else if (fd >= 0) {
		char why[256];
		int mfd = new_fs(src, fstype, flags, data, why, sizeof(why));

		if (mfd >= 0) {
			if (syscall(SYS_move_mount, mfd, "", fd, "",
				    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
				nsi_fail(errno, "mount %s on %s (%s): move_mount", src, dst, fstype);
			remember(dst, mfd);
		} else if (mfd == -ENOSYS || mfd == -E2BIG) {
			/* The kernel refuses the new API (or fsconfig(2) cannot take a value this
			 * long): one mount(2) on the resolved fd, flags applied as it is mounted.
			 * No fd refers to what it made, so a later step on this destination
			 * fails instead of resolving the path again (see mount_at). */
			if (mount(src, target, fstype, flags, data && *data ? data : NULL) < 0)
				nsi_fail(errno, "mount %s on %s (%s)", src, dst, fstype);
			remember(dst, -1);
		} else {
			nsi_fail(-mfd, "mount %s on %s (%s)%s%s", src, dst, fstype, *why ? ": " : "", why);
		}
	} else {
		if (mount(src, target, fstype, flags, data && *data ? data : NULL) < 0)
			nsi_fail(errno, "mount %s on %s (%s)", src, dst, fstype);
	}
	if (fd >= 0)
		close(fd);
	/* A mount on the rootfs itself (destination "/"): the root fd must see it. */
	if (inroot && dst[strspn(dst, "/")] == 0 && g_rootfd >= 0) {
		close(g_rootfd);
		g_rootfd = open(g_rootpath, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (g_rootfd < 0)
			nsi_fail(errno, "reopen rootfs %s", g_rootpath);
	}
}

/* An fd for the mount at `dst`: the one made there, else `dst` resolved now. */
static int mount_at(const char *dst, int inroot, char *target, size_t size, int *owned)
{
	int mfd = inroot ? made_fd(dst) : -1;

	*owned = 0;
	if (mfd == -2)
		nsi_fail(EOPNOTSUPP,
			 "%s was mounted with mount(2) (the kernel refused fsopen, or an option is "
			 "too long for fsconfig): a later step would resolve it a second time",
			 dst);
	if (mfd >= 0) {
		snprintf(target, size, "/proc/self/fd/%d", mfd);
		return mfd;
	}
	mfd = resolve(dst, inroot, 0, target, size);
	*owned = mfd >= 0;
	return mfd;
}

void fs_remount(const char *dst, unsigned long flags, int inroot)
{
	char target[4096];
	int owned, fd = mount_at(dst, inroot, target, sizeof(target), &owned);

	if (fd >= 0 && !owned) {
		if (setattr_fd(fd, flags, 0) < 0)
			nsi_fail(errno, "remount %s", dst);
		return;
	}
	remount_target(target, dst, flags);
	if (owned)
		close(fd);
}

void fs_propagate(const char *dst, unsigned long flags, int inroot)
{
	char target[4096];
	int owned, fd = mount_at(dst, inroot, target, sizeof(target), &owned);

	if (fd >= 0 && !owned) {
		struct mount_attr attr;
		memset(&attr, 0, sizeof(attr));
		attr.propagation = flags & (MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE);
		if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | ((flags & MS_REC) ? AT_RECURSIVE : 0),
			    &attr, sizeof(attr)) < 0)
			nsi_fail(errno, "set propagation of %s", dst);
		return;
	}
	if (mount("", target, NULL, flags, NULL) < 0)
		nsi_fail(errno, "set propagation of %s", dst);
	if (owned)
		close(fd);
}

/* Attaches a detached mount (an idmapped tree the helper made) at dst in the root. */
void fs_move_mount(int tree, const char *dst, int create)
{
	char target[4096];
	int fd = resolve(dst, 1, create, target, sizeof(target));

	if (syscall(SYS_move_mount, tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		nsi_fail(errno, "move_mount onto %s", dst);
	close(fd);
	remember(dst, tree); /* its flags are set next, on this fd */
}

/*
 * An idmapped copy of the mount tree at src, detached (open_tree + mount_setattr with
 * MOUNT_ATTR_IDMAP), made in the runtime's namespaces where that is allowed; the child
 * attaches it with fs_move_mount. The user namespace holding the mapping is made by a
 * short-lived child: unshare(CLONE_NEWUSER), maps written from here, its ns file opened.
 */
int fs_idmapped_tree(const char *src, const char *uidmap, const char *gidmap, int rtree, int ridmap)
{
	struct mount_attr attr;
	int ready[2], done[2], uns, tree, status;
	char path[64], b = 0;
	pid_t c;

	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(done, O_CLOEXEC) < 0)
		nsi_fail(errno, "pipe");
	c = fork();
	if (c < 0)
		nsi_fail(errno, "fork");
	if (c == 0) {
		close(ready[0]);
		close(done[1]); /* or the read below never sees the parent's close */
		if (unshare(CLONE_NEWUSER) < 0)
			_exit(1);
		if (write(ready[1], &b, 1) != 1 || read(done[0], &b, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(ready[1]);
	close(done[0]);
	if (read(ready[0], &b, 1) != 1)
		nsi_fail(EPERM, "create a user namespace for the idmapped mount of %s", src);
	snprintf(path, sizeof(path), "/proc/%d/uid_map", c);
	nsi_write_file(path, uidmap);
	snprintf(path, sizeof(path), "/proc/%d/gid_map", c);
	nsi_write_file(path, gidmap);
	snprintf(path, sizeof(path), "/proc/%d/ns/user", c);
	uns = open(path, O_RDONLY | O_CLOEXEC);
	if (uns < 0)
		nsi_fail(errno, "open %s", path);
	close(done[1]);
	close(ready[0]);
	waitpid(c, &status, 0);

	tree = (int)syscall(SYS_open_tree, AT_FDCWD, src,
			    OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (rtree ? AT_RECURSIVE : 0));
	if (tree < 0)
		nsi_fail(errno, "open_tree %s", src);
	memset(&attr, 0, sizeof(attr));
	attr.attr_set = MOUNT_ATTR_IDMAP;
	attr.userns_fd = (uint64_t)uns;
	if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | (ridmap ? AT_RECURSIVE : 0), &attr,
		    sizeof(attr)) < 0)
		nsi_fail(errno, "idmap the mount of %s", src);
	close(uns);
	return tree;
}

void fs_setattr(const char *dst, uint64_t set, uint64_t clr, int inroot)
{
	struct mount_attr attr;
	char target[4096];
	int owned, fd = mount_at(dst, inroot, target, sizeof(target), &owned);

	memset(&attr, 0, sizeof(attr));
	attr.attr_set = set;
	attr.attr_clr = clr;
	if (fd >= 0 && !owned) {
		if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
			nsi_fail(errno, "mount_setattr %s", dst);
		return;
	}
	if (syscall(SYS_mount_setattr, AT_FDCWD, target, AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		nsi_fail(errno, "mount_setattr %s", dst);
	if (owned)
		close(fd);
}

void fs_rootfs(const char *path)
{
	if (strlen(path) >= sizeof(g_rootpath))
		nsi_fail(ENAMETOOLONG, "rootfs %s", path);
	snprintf(g_rootpath, sizeof(g_rootpath), "%s", path);
	/* A mount point of its own, so pivot_root accepts it. */
	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
		nsi_fail(errno, "bind rootfs %s", path);
	g_rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (g_rootfd < 0)
		nsi_fail(errno, "open rootfs %s", path);
}

/*
 * As runc's reOpenDevNull: stdio that is a /dev/null (the runtime's, outside the
 * container) is reopened as the container's own /dev/null, so no fd of the init
 * refers to a file of the host's mount namespace (CRIU could not dump that). The
 * container's /dev/null is opened without following symlinks and checked on the fd
 * to be the null device (1:3), like the one masks use.
 */
static void reopen_dev_null(void)
{
	struct open_how how;
	struct stat null_st, st;
	int fd;

	memset(&how, 0, sizeof(how));
	how.flags = O_RDWR | O_NOFOLLOW | O_CLOEXEC;
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS;
	for (int i = 0; i < 3; i++) {
		if (fstat(i, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
			continue;
		fd = (int)syscall(SYS_openat2, AT_FDCWD, "/dev/null", &how, sizeof(how));
		if (fd < 0)
			return; /* no usable /dev/null in the container: keep the runtime's */
		if (fstat(fd, &null_st) < 0 || !S_ISCHR(null_st.st_mode) ||
		    null_st.st_rdev != makedev(1, 3)) {
			close(fd);
			return;
		}
		if (dup3(fd, i, 0) < 0)
			nsi_fail(errno, "reopen /dev/null as fd %d", i);
		close(fd);
	}
}

void fs_pivot(int nopivot)
{
	int oldroot, newroot;

	if (nopivot) {
		if (chdir(g_rootpath) < 0)
			nsi_fail(errno, "chdir %s", g_rootpath);
		if (mount(g_rootpath, "/", NULL, MS_MOVE, NULL) < 0)
			nsi_fail(errno, "move rootfs %s to /", g_rootpath);
		if (chroot(".") < 0)
			nsi_fail(errno, "chroot %s", g_rootpath);
	} else {
		oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
		if (oldroot < 0)
			nsi_fail(errno, "open /");
		newroot = open(g_rootpath, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
		if (newroot < 0)
			nsi_fail(errno, "open %s", g_rootpath);
		if (fchdir(newroot) < 0)
			nsi_fail(errno, "chdir %s", g_rootpath);
		if (syscall(SYS_pivot_root, ".", ".") < 0)
			nsi_fail(errno, "pivot_root %s", g_rootpath);
		/* The old root is now stacked under the new one at "."; detach it. */
		if (fchdir(oldroot) < 0)
			nsi_fail(errno, "chdir old root");
		if (mount("", ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
			nsi_fail(errno, "make old root rslave");
		if (umount2(".", MNT_DETACH) < 0)
			nsi_fail(errno, "unmount old root");
		close(oldroot);
		close(newroot);
	}
	if (chdir("/") < 0)
		nsi_fail(errno, "chdir /");
	if (g_rootfd >= 0)
		close(g_rootfd);
	g_rootfd = AT_FDCWD;
	reopen_dev_null();
}

/*
 * The container's /dev/null, checked to be the null device (character 1:3) on the very
 * fd that is then bound: masking by path would follow a /dev/null that a process in the
 * container (or sharing its /dev) replaced by a symlink to a host file, and bind that over
 * the masked path instead (CVE-2025-31133).
 */
static int null_device(const char *masked)
{
	struct open_how how;
	struct stat st;
	int fd;

	memset(&how, 0, sizeof(how));
	how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS;
	fd = (int)syscall(SYS_openat2, g_rootfd, "/dev/null", &how, sizeof(how));
	if (fd < 0)
		nsi_fail(errno, "open /dev/null in the container (to mask %s)", masked);
	if (fstat(fd, &st) < 0)
		nsi_fail(errno, "stat /dev/null (to mask %s)", masked);
	if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3)
		nsi_fail(EPERM, "/dev/null in the container is not the null device (1:3)");
	return fd;
}

void fs_mask(const char *path)
{
	struct stat st;
	int fd = fs_open_in_root(path, O_PATH);

	if (fd < 0) {
		if (errno == ENOENT)
			return;
		nsi_fail(errno, "open %s", path);
	}
	if (fstat(fd, &st) < 0)
		nsi_fail(errno, "stat %s", path);
	if (S_ISDIR(st.st_mode)) {
		/* A read-only tmpfs made as a detached mount, attached on the fd. */
		int fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC), mfd;
		if (fs < 0 || syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
			nsi_fail(errno, "mask %s (tmpfs)", path);
		mfd = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY);
		if (mfd < 0 || syscall(SYS_move_mount, mfd, "", fd, "",
				       MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
			nsi_fail(errno, "mask %s (tmpfs)", path);
		close(mfd);
		close(fs);
	} else {
		int null = null_device(path), mfd = bind_fd(null, "", AT_EMPTY_PATH, fd, MS_BIND);
		if (mfd < 0)
			nsi_fail(errno, "mask %s (bind /dev/null)", path);
		close(mfd);
		close(null);
	}
	close(fd);
}

void fs_readonly(const char *path)
{
	int fd = fs_open_in_root(path, O_PATH), mfd;

	if (fd < 0) {
		if (errno == ENOENT)
			return;
		nsi_fail(errno, "open %s", path);
	}
	mfd = bind_fd(fd, "", AT_EMPTY_PATH, fd, MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
	if (mfd < 0)
		nsi_fail(errno, "make %s read-only", path);
	close(mfd);
	close(fd);
}

void fs_mknod(const char *path, uint64_t mode, uint64_t dev, uint64_t uid, uint64_t gid)
{
	const char *base;
	int parent = fs_parent_in_root(path, &base);

	if (parent < 0)
		nsi_fail(errno, "open parent of %s in rootfs", path);
	if (mknodat(parent, base, (mode_t)mode, (dev_t)dev) < 0) {
		struct stat st;
		/* Something is there already: keep it only if it is this very device;
		 * never unlink it (it could be a file of a bind-mounted host directory). */
		if (errno != EEXIST)
			nsi_fail(errno, "mknod %s", path);
		if (fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
			nsi_fail(errno, "stat %s", path);
		if ((st.st_mode & S_IFMT) != ((mode_t)mode & S_IFMT) || st.st_rdev != (dev_t)dev)
			nsi_fail(EEXIST, "mknod %s: exists and is not the device", path);
	}
	if (fchmodat(parent, base, (mode_t)(mode & 07777), 0) < 0)
		nsi_fail(errno, "chmod %s", path);
	if (fchownat(parent, base, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW) < 0)
		nsi_fail(errno, "chown %s", path);
	close(parent);
}

void fs_symlink(const char *target, const char *linkpath)
{
	const char *base;
	int parent = fs_parent_in_root(linkpath, &base);

	if (parent < 0)
		nsi_fail(errno, "open parent of %s in rootfs", linkpath);
	if (symlinkat(target, parent, base) < 0 && errno != EEXIST)
		nsi_fail(errno, "symlink %s -> %s", linkpath, target);
	close(parent);
}

void fs_mkdir(const char *path, uint64_t mode)
{
	const char *base;
	int parent;

	if (fs_create_in_root(path, 1) < 0)
		nsi_fail(errno, "mkdir %s in rootfs", path);
	parent = fs_parent_in_root(path, &base);
	if (parent >= 0 && *base && fchmodat(parent, base, (mode_t)mode, 0) < 0)
		nsi_fail(errno, "chmod %s", path);
	if (parent >= 0)
		close(parent);
}
