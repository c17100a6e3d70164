/*
 * libnsinit, cgroup notifications: cgroup v1 eventfd registration
 * (cgroup.event_control), inotify for cgroup v2 memory.events, PSI triggers on
 * cgroup v2 memory.pressure, and one cancellable poll over all of them.
 *
 * Every fd is close-on-exec and non-blocking; the only call that waits is
 * nsi_ev_poll (and nsi_ev_read built on it), which the TypeScript side makes
 * with `nonblocking: true` and always gives an eventfd it signals to cancel.
 * Every function returns >= 0 on success or -errno. Policy (which files, which
 * thresholds, when to stop) lives in cgroups/events.ts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#ifndef NSI_EXPORT
#define NSI_EXPORT __attribute__((visibility("default")))
#endif

#define NSI_EV_MAX_FDS 32

static int close_keep_errno(int fd)
{
	int saved = errno;

	if (fd >= 0)
		close(fd);
	errno = saved;
	return -saved;
}

/* "<dir>/<file>" into buf; -ENAMETOOLONG if it does not fit. */
static int join_path(char *buf, size_t size, const char *dir, const char *file)
{
	int n = snprintf(buf, size, "%s/%s", dir, file);

	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * Registers a cgroup v1 notification (memory.oom_control, memory.pressure_level,
 * memory.usage_in_bytes thresholds): opens <cgroup_dir>/<control_file>, makes an
 * eventfd and writes "<efd> <cfd> <args>" to <cgroup_dir>/cgroup.event_control.
 * The kernel keeps its own reference, so the control file is closed again.
 * Returns the eventfd (non-blocking, close-on-exec); the kernel signals it on
 * every event and once more when the cgroup is removed. Closing it unregisters.
 */
NSI_EXPORT int nsi_cg_event_register(const char *cgroup_dir, const char *control_file,
				     const char *args)
{
	char path[4096], line[512];
	int cfd = -1, efd = -1, ecfd = -1, r, n;

	r = join_path(path, sizeof(path), cgroup_dir, control_file);
	if (r < 0)
		return r;
	cfd = open(path, O_RDONLY | O_CLOEXEC);
	if (cfd < 0)
		return -errno;
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0)
		goto fail;
	r = join_path(path, sizeof(path), cgroup_dir, "cgroup.event_control");
	if (r < 0) {
		errno = -r;
		goto fail;
	}
	ecfd = open(path, O_WRONLY | O_CLOEXEC);
	if (ecfd < 0)
		goto fail;
	if (args && args[0])
		n = snprintf(line, sizeof(line), "%d %d %s", efd, cfd, args);
	else
		n = snprintf(line, sizeof(line), "%d %d", efd, cfd);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		errno = EINVAL;
		goto fail;
	}
	if (write(ecfd, line, n) != n) {
		if (errno == 0)
			errno = EIO;
		goto fail;
	}
	close(ecfd);
	close(cfd);
	return efd;
fail:
	r = -errno;
	close_keep_errno(ecfd);
	close_keep_errno(efd);
	close_keep_errno(cfd);
	return r;
}

/*
 * Waits until one of n fds is ready. fds holds n triples of int32:
 * { fd, events, revents }, where events is a poll(2) mask (POLLIN 0x1,
 * POLLPRI 0x2); revents is written back. Returns how many are ready, 0 on
 * timeout (timeout_ms < 0 waits forever). EINTR restarts the wait.
 */
NSI_EXPORT int nsi_ev_poll(int32_t *fds, int32_t n, int32_t timeout_ms)
{
	struct pollfd p[NSI_EV_MAX_FDS];
	int r;

	if (n < 0 || n > NSI_EV_MAX_FDS)
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		p[i].fd = fds[3 * i];
		p[i].events = (short)fds[3 * i + 1];
		p[i].revents = 0;
	}
	do
		r = poll(p, n, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	for (int i = 0; i < n; i++)
		fds[3 * i + 2] = p[i].revents;
	return r;
}

/*
 * Reads an eventfd's 8-byte counter without waiting: the counter (> 0), or 0
 * when it is not signalled.
 */
NSI_EXPORT int64_t nsi_ev_counter(int32_t efd)
{
	uint64_t v;
	ssize_t n;

	do
		n = read(efd, &v, sizeof(v));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (n != sizeof(v))
		return -EIO;
	return (int64_t)(v & INT64_MAX);
}

/*
 * The blocking 8-byte eventfd read, cancellable: waits until efd is signalled
 * and returns its counter, or returns -ECANCELED as soon as cancel_fd is
 * readable (cancel_fd < 0: no cancellation), or 0 after timeout_ms (< 0: no
 * timeout). POLLHUP/POLLERR on efd give -EPIPE.
 */
NSI_EXPORT int64_t nsi_ev_read(int32_t efd, int32_t cancel_fd, int32_t timeout_ms)
{
	int32_t fds[6] = { efd, POLLIN, 0, cancel_fd, POLLIN, 0 };

	for (;;) {
		int64_t v;
		int r = nsi_ev_poll(fds, cancel_fd >= 0 ? 2 : 1, timeout_ms);

		if (r < 0)
			return r;
		if (r == 0)
			return 0;
		if (cancel_fd >= 0 && fds[5])
			return -ECANCELED;
		if (fds[2] & (POLLERR | POLLHUP | POLLNVAL))
			return -EPIPE;
		v = nsi_ev_counter(efd);
		if (v != 0)
			return v;
		/* Someone else drained it first: wait again. */
	}
}

/* An inotify instance (non-blocking, close-on-exec). */
NSI_EXPORT int nsi_inotify_init(void)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* Watches path for the events in mask (e.g. IN_MODIFY 0x2); returns the watch descriptor. */
NSI_EXPORT int nsi_inotify_add(int32_t fd, const char *path, uint32_t mask)
{
	int wd = inotify_add_watch(fd, path, mask);

	return wd < 0 ? -errno : wd;
}

/*
 * Reads every queued inotify event without waiting, as (wd, mask) pairs into
 * out[2 * max]; names are dropped. Returns the number of events, 0 when none
 * are queued. Events beyond max are read and dropped, but their masks are ORed
 * into the last pair so no IN_IGNORED/IN_Q_OVERFLOW is lost.
 */
NSI_EXPORT int nsi_inotify_read(int32_t fd, uint32_t *out, int32_t max)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int count = 0;

	if (max <= 0)
		return -EINVAL;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return count;
			return -errno;
		}
		if (n == 0)
			return count;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (count < max) {
				out[2 * count] = (uint32_t)ev->wd;
				out[2 * count + 1] = ev->mask;
				count++;
			} else {
				out[2 * (max - 1) + 1] |= ev->mask;
			}
			p += sizeof(struct inotify_event) + ev->len;
		}
	}
}

/*
 * Opens a PSI pressure file (e.g. <cgroup>/memory.pressure) and registers the
 * trigger "<some|full> <stall us> <window us>" on it. Returns the fd; poll it
 * for POLLPRI (0x2): the kernel raises it when the stall threshold is crossed in
 * a window, and POLLERR when the cgroup is removed. Closing it removes the
 * trigger. Without CAP_SYS_RESOURCE the window must be a multiple of 2 s.
 */
NSI_EXPORT int nsi_psi_trigger(const char *path, const char *trigger)
{
	size_t len = strlen(trigger) + 1; /* the kernel wants the NUL too */
	int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (write(fd, trigger, len) != (ssize_t)len) {
		int r = errno ? -errno : -EIO;

		close(fd);
		return r;
	}
	return fd;
}
