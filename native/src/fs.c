/*
 * Filesystem steps of the child: the rootfs, mounts, devices, pivot_root,
 * masked and read-only paths.
 *
 * Before pivot_root every destination is resolved inside the rootfs with
 * openat2(RESOLVE_IN_ROOT), so a symlink in the image cannot point a mount
 * outside it; the mount then targets the resolved fd through /proc/self/fd.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
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

static int create_in_root(const char *path, int kind, int depth);

/*
 * `base` in `parent` exists: if it is a symlink whose target does not exist, creates
 * the target (resolved inside the root, as runc does for a mount destination that is a
 * dangling symlink). `path` is the whole path, for a relative target's directory.
 */
static int create_link_target(int parent, const char *base, const char *path, int kind, int depth)
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
	if (target[0] == '/') {
		snprintf(full, sizeof(full), "%s", target);
	} else {
		/* relative to the link's directory */
		snprintf(full, sizeof(full), "%.*s/%s", (int)(base - path), path, target);
	}
	return create_in_root(full, kind, depth + 1);
}

/* Creates `path` (and its parents) inside the root as a directory or empty file. */
int fs_create_in_root(const char *path, int kind)
{
	return create_in_root(path, kind, 0);
}

static int create_in_root(const char *path, int kind, int depth)
{
	const char *base;
	int parent, fd, saved;

	if (depth > 40) {
		errno = ELOOP;
		return -1;
	}

	while (*path == '/')
		path++;
	if (*path == 0)
		return 0;
	parent = fs_parent_in_root(path, &base);
	if (parent < 0)
		return -1;
	if (*base == 0 || strcmp(base, ".") == 0) {
		close(parent);
		return 0;
	}
	if (strcmp(base, "..") == 0) {
		close(parent);
		errno = EINVAL;
		return -1;
	}
	if (kind == 1) {
		if (mkdirat(parent, base, 0755) < 0) {
			if (errno != EEXIST)
				goto fail;
			if (create_link_target(parent, base, path, kind, depth) < 0)
				goto fail;
		}
	} else {
		/* O_NOFOLLOW|O_EXCL: never create through a symlink. */
		fd = openat(parent, base, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0) {
			if (errno != EEXIST)
				goto fail;
			if (create_link_target(parent, base, path, kind, depth) < 0)
				goto fail;
		}
		if (fd >= 0)
			close(fd);
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

/* Flags a bind remount must keep, or the kernel refuses it in a user namespace. */
static unsigned long locked_flags(const char *target)
{
	struct statvfs sf;
	unsigned long f = 0;

	if (statvfs(target, &sf) < 0)
		return 0;
	if (sf.f_flag & ST_NOSUID)
		f |= MS_NOSUID;
	if (sf.f_flag & ST_NODEV)
		f |= MS_NODEV;
	if (sf.f_flag & ST_NOEXEC)
		f |= MS_NOEXEC;
	if (sf.f_flag & ST_RDONLY)
		f |= MS_RDONLY;
	if (sf.f_flag & ST_NOATIME)
		f |= MS_NOATIME;
	if (sf.f_flag & ST_NODIRATIME)
		f |= MS_NODIRATIME;
	if (sf.f_flag & ST_RELATIME)
		f |= MS_RELATIME;
	return f;
}

static void remount_target(const char *target, const char *shown, unsigned long flags)
{
	unsigned long f = MS_REMOUNT | MS_BIND | (flags & ~(unsigned long)(MS_REC | MS_BIND | MS_REMOUNT));

	if (mount("", target, NULL, f, NULL) == 0)
		return;
	if (errno == EPERM) {
		unsigned long keep = locked_flags(target) & ~(unsigned long)MS_RDONLY;
		if (mount("", target, NULL, f | keep, NULL) == 0)
			return;
	}
	nsi_fail(errno, "remount %s", shown);
}

void fs_mount(const char *src, const char *dst, const char *fstype, unsigned long flags,
	      const char *data, int create, int inroot)
{
	char target[4096];
	int fd = resolve(dst, inroot, create, target, sizeof(target));

	if (flags & MS_BIND) {
		if (mount(src, target, NULL, MS_BIND | (flags & MS_REC), NULL) < 0)
			nsi_fail(errno, "mount %s on %s (bind)", src, dst);
		if (fd >= 0)
			close(fd);
		/* Other flags apply only through a remount of the new mount. */
		if (flags & ~(unsigned long)(MS_BIND | MS_REC | MS_REMOUNT)) {
			fd = resolve(dst, inroot, 0, target, sizeof(target));
			remount_target(target, dst, flags);
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

void fs_remount(const char *dst, unsigned long flags, int inroot)
{
	char target[4096];
	int fd = resolve(dst, inroot, 0, target, sizeof(target));

	remount_target(target, dst, flags);
	if (fd >= 0)
		close(fd);
}

void fs_propagate(const char *dst, unsigned long flags, int inroot)
{
	char target[4096];
	int fd = resolve(dst, inroot, 0, target, sizeof(target));

	if (mount("", target, NULL, flags, NULL) < 0)
		nsi_fail(errno, "set propagation of %s", dst);
	if (fd >= 0)
		close(fd);
}

void fs_setattr(const char *dst, uint64_t set, uint64_t clr, int inroot)
{
	struct mount_attr attr;
	char target[4096];
	int fd = resolve(dst, inroot, 0, target, sizeof(target));

	memset(&attr, 0, sizeof(attr));
	attr.attr_set = set;
	attr.attr_clr = clr;
	if (syscall(SYS_mount_setattr, AT_FDCWD, target, AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		nsi_fail(errno, "mount_setattr %s", dst);
	if (fd >= 0)
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
 * refers to a file of the host's mount namespace (CRIU could not dump that).
 */
static void reopen_dev_null(void)
{
	struct stat null_st, st;
	int fd;

	if (stat("/dev/null", &null_st) < 0 || !S_ISCHR(null_st.st_mode))
		return;
	for (int i = 0; i < 3; i++) {
		if (fstat(i, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != null_st.st_rdev)
			continue;
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (fd < 0)
			nsi_fail(errno, "reopen /dev/null as fd %d", i);
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

void fs_mask(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return;
		nsi_fail(errno, "stat %s", path);
	}
	if (S_ISDIR(st.st_mode)) {
		if (mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL) < 0)
			nsi_fail(errno, "mask %s (tmpfs)", path);
	} else if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0) {
		nsi_fail(errno, "mask %s (bind /dev/null)", path);
	}
}

void fs_readonly(const char *path)
{
	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
		if (errno == ENOENT)
			return;
		nsi_fail(errno, "bind %s", path);
	}
	remount_target(path, path, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
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
