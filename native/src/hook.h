/*
 * The one hook runner, linked into both binaries: libnsinit.so runs the runtime-side
 * hooks with it (nsi_hook: prestart, createRuntime, poststart, poststop) and
 * nsinit-init the container-side ones (createContainer, startContainer).
 */
#ifndef NSI_HOOK_H
#define NSI_HOOK_H

#include <stdint.h>
#include <sys/uio.h>

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

#endif
