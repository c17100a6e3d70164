/*
 * What both binaries need, linked into each: the one hook runner (libnsinit.so runs the
 * runtime-side hooks with it, nsi_hook: prestart, createRuntime, poststart, poststop;
 * nsinit-init the container-side ones, createContainer and startContainer), spawn
 * attributes for a clean child, and sending a message with an fd.
 */
#ifndef NSI_COMMON_H
#define NSI_COMMON_H

#include <spawn.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Initializes attr so the spawned program starts with no signal blocked and every
 * signal at its default disposition (the caller destroys attr). */
void nsi_spawnattr_clean(posix_spawnattr_t *attr);

/* Sends buf on a unix socket with fd attached (SCM_RIGHTS) when fd >= 0.
 * Returns 0 or -errno. */
int nsi_send_with_fd(int sock, const void *buf, size_t len, int fd);

/* Receives one message into buf; an fd passed with it (SCM_RIGHTS, close-on-exec)
 * goes to *fd_out (else -1). Returns its length, 0 at EOF, -EMSGSIZE if it did not
 * fit (a passed fd is still in *fd_out), or -errno. */
ssize_t nsi_recv_with_fd(int sock, void *buf, size_t len, int *fd_out);

/* Splits NUL-terminated entries into a NULL-terminated vector (malloc'd; the strings
 * stay in buf). NULL when out of memory. */
char **nsi_split_nul(const uint8_t *buf, uint32_t len);

/*
 * Runs the program at path with argv (empty: just path) and envp, with no signal
 * blocked or ignored, the input parts written to its stdin one after the other, and
 * kills it after timeout_ms (<= 0: no timeout). Returns its wait status (>= 0),
 * -ETIMEDOUT, or -errno. The caller ignores or blocks SIGPIPE: a hook that closes its
 * stdin unread makes the write fail with EPIPE, and then its exit status decides.
 */
int nsi_run_hook(const char *path, char *const argv[], char *const envp[],
		 const struct iovec *input, int ninput, int timeout_ms);

#endif /* NSI_COMMON_H */
