/*
 * libnsinit, cgroup files in batches: a container's cgroup directories made or
 * removed, and its control files written, in every hierarchy with one call that
 * TypeScript makes with `nonblocking: true` (one trip to a worker thread instead
 * of one per file, and nothing of it on the event loop: a cgroup write can sleep
 * in the kernel). Policy (which directories, which files, what values, what a
 * failure means) lives in cgroups/fs.ts; this only runs the list.
 *
 * The list is records of [u8 op][path NUL][arg NUL]:
 *   'd'  mkdir(path, 0777): the umask applies, as to Deno.mkdir
 *   'r'  rmdir(path)
 *   'w'  write arg to path: open(O_WRONLY|O_TRUNC, never creating it), one write(2)
 *   'f'  fill: when path holds only whitespace, write the content of the file arg
 *        names (whitespace trimmed) to it; a path or arg that does not exist, or an
 *        arg that is empty too, is left alone (cgroup v1's cpuset.cpus/mems)
 *   'e'  enable: path is a cgroup v2 directory; each controller its cgroup.controllers
 *        lists and its cgroup.subtree_control does not is written there with a '+'
 *        (all in one write; when that fails, each on its own, a refusal left alone);
 *        a directory or file that does not exist is left alone
 * For record i, res[2i] is 0 (done) or -errno, res[2i+1] the stage that failed:
 * NSI_CGF_OPEN, _WRITE, _SHORT (res[2i] is then the count written), _READ (of
 * path), _READ_ARG, _DIR (mkdir or rmdir). With `stop`, the first failure ends
 * the run. Returns how many records ran, or -EINVAL for a malformed list.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef NSI_EXPORT
#define NSI_EXPORT __attribute__((visibility("default")))
#endif

enum { NSI_CGF_OPEN = 1, NSI_CGF_WRITE = 2, NSI_CGF_SHORT = 3, NSI_CGF_READ = 4,
       NSI_CGF_READ_ARG = 5, NSI_CGF_DIR = 6 };

#define NSI_CGF_BUF 65536

/* One write of len bytes into an existing file. 0, or -errno with *stage set. */
static int32_t write_file(const char *path, const char *data, size_t len, int32_t *stage)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		*stage = NSI_CGF_OPEN;
		return -errno;
	}
	n = write(fd, data, len);
	if (n < 0) {
		int err = errno;

		close(fd);
		*stage = NSI_CGF_WRITE;
		return -err;
	}
	close(fd);
	if ((size_t)n != len) {
		*stage = NSI_CGF_SHORT;
		return (int32_t)n;
	}
	return 0;
}

/* The whole file, whitespace trimmed, NUL-terminated in buf; its length or -errno. */
static int32_t read_trimmed(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0, start = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n;

		if (len == cap - 1) {
			close(fd);
			return -EFBIG;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0) {
			int err = errno;

			if (err == EINTR)
				continue;
			close(fd);
			return -err;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	while (len > 0 && isspace((unsigned char)buf[len - 1]))
		len--;
	while (start < len && isspace((unsigned char)buf[start]))
		start++;
	memmove(buf, buf + start, len - start);
	buf[len - start] = 0;
	return (int32_t)(len - start);
}

static int32_t fill_file(const char *path, const char *src, int32_t *stage)
{
	static __thread char buf[NSI_CGF_BUF];
	int32_t n = read_trimmed(path, buf, sizeof(buf));

	if (n == -ENOENT)
		return 0;
	if (n < 0) {
		*stage = NSI_CGF_READ;
		return n;
	}
	if (n > 0)
		return 0;
	n = read_trimmed(src, buf, sizeof(buf));
	if (n == -ENOENT || n == 0)
		return 0;
	if (n < 0) {
		*stage = NSI_CGF_READ_ARG;
		return n;
	}
	return write_file(path, buf, (size_t)n, stage);
}

/* Whether the space-separated list has the word w of length n. */
static int has_word(const char *list, const char *w, size_t n)
{
	for (const char *p = list; *p;) {
		size_t len;

		while (*p == ' ' || *p == '\n' || *p == '\t')
			p++;
		len = strcspn(p, " \n\t");
		if (len == n && strncmp(p, w, n) == 0)
			return 1;
		p += len;
	}
	return 0;
}

static int32_t enable_controllers(const char *dir, int32_t *stage)
{
	static __thread char avail[4096], on[4096], want[8192], path[4096 + 32];
	size_t wlen = 0;
	int32_t n;

	if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.controllers", dir) >= sizeof(path)) {
		*stage = NSI_CGF_READ;
		return -ENAMETOOLONG;
	}
	n = read_trimmed(path, avail, sizeof(avail));
	if (n == -ENOENT)
		return 0;
	if (n < 0) {
		*stage = NSI_CGF_READ;
		return n;
	}
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir);
	n = read_trimmed(path, on, sizeof(on));
	if (n == -ENOENT)
		return 0;
	if (n < 0) {
		*stage = NSI_CGF_READ;
		return n;
	}
	for (const char *p = avail; *p;) {
		size_t len;

		while (*p == ' ' || *p == '\n' || *p == '\t')
			p++;
		len = strcspn(p, " \n\t");
		if (len > 0 && !has_word(on, p, len) && wlen + len + 3 < sizeof(want)) {
			if (wlen > 0)
				want[wlen++] = ' ';
			want[wlen++] = '+';
			memcpy(want + wlen, p, len);
			wlen += len;
		}
		p += len;
	}
	if (wlen == 0)
		return 0;
	want[wlen] = 0;
	if (write_file(path, want, wlen, stage) == 0)
		return 0;
	/* One at a time: a controller the kernel refuses here does not keep the others off. */
	for (char *p = want; *p;) {
		size_t len = strcspn(p, " ");
		int32_t ignored = 0;

		write_file(path, p, len, &ignored);
		p += len;
		while (*p == ' ')
			p++;
	}
	*stage = 0;
	return 0;
}

NSI_EXPORT int32_t nsi_cg_files(const uint8_t *list, uint32_t len, int32_t *res, int32_t n,
				int32_t stop)
{
	uint32_t off = 0;
	int32_t i;

	for (i = 0; i < n; i++) {
		const char *path, *arg;
		const void *nul;
		uint8_t op;
		int32_t rc = 0, stage = 0;

		if (off >= len)
			return -EINVAL;
		op = list[off++];
		path = (const char *)list + off;
		nul = memchr(path, 0, len - off);
		if (!nul)
			return -EINVAL;
		off = (uint32_t)((const uint8_t *)nul - list) + 1;
		arg = (const char *)list + off;
		nul = memchr(arg, 0, len - off);
		if (!nul)
			return -EINVAL;
		off = (uint32_t)((const uint8_t *)nul - list) + 1;
		switch (op) {
		case 'd':
			if (mkdir(path, 0777) < 0) {
				rc = -errno;
				stage = NSI_CGF_DIR;
			}
			break;
		case 'r':
			if (rmdir(path) < 0) {
				rc = -errno;
				stage = NSI_CGF_DIR;
			}
			break;
		case 'w':
			rc = write_file(path, arg, strlen(arg), &stage);
			break;
		case 'f':
			rc = fill_file(path, arg, &stage);
			break;
		case 'e':
			rc = enable_controllers(path, &stage);
			break;
		default:
			return -EINVAL;
		}
		res[2 * i] = rc;
		res[2 * i + 1] = stage;
		if (stop && stage != 0)
			return i + 1;
	}
	return i;
}
