/*
 * The Landlock step of the child stage: one ruleset that handles the access
 * rights TypeScript chose for the negotiated ABI, one path-beneath rule per
 * allowed path, then landlock_restrict_self. The system headers may predate
 * the kernel's ABI, so the few definitions needed are spelled out here; the
 * rights are plain bit masks computed in sandbox/landlock.ts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

struct nsi_ll_ruleset_attr {
	uint64_t handled_access_fs;
};

struct nsi_ll_path_beneath {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

#define NSI_LL_RULE_PATH_BENEATH 1

/* Rights a rule on a file may hold (execute, write, read, truncate, ioctl_dev); the
 * others concern directories, and the kernel refuses them on a file. */
#define NSI_LL_DIR_ONLY (~((1ULL << 0) | (1ULL << 1) | (1ULL << 2) | (1ULL << 14) | (1ULL << 15)))

void nsi_landlock(const struct nsi_rec *r)
{
	uint64_t handled = rec_u64(r, 0);
	uint32_t plen, alen, flen;
	const uint8_t *paths = rec_bytes(r, 1, &plen);
	const uint8_t *acc = rec_bytes(r, 2, &alen);
	const uint8_t *flags = rec_bytes(r, 3, &flen);
	struct nsi_ll_ruleset_attr attr = { handled };
	uint32_t off = 0, i = 0;
	int rs;

	if (alen != flen || alen % 8)
		nsi_fail(EINVAL, "landlock: bad rule lists");
	rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (rs < 0)
		nsi_fail(errno, "landlock_create_ruleset");
	while (off < plen) {
		const char *path = (const char *)paths + off;
		size_t len = strnlen(path, plen - off);
		struct nsi_ll_path_beneath pb;
		struct stat st;
		uint64_t allowed, flag;

		if (off + len >= plen || (i + 1) * 8 > alen)
			nsi_fail(EINVAL, "landlock: rule %u malformed", i);
		memcpy(&allowed, acc + i * 8, 8);
		memcpy(&flag, flags + i * 8, 8);
		pb.parent_fd = open(path, O_PATH | O_CLOEXEC);
		if (pb.parent_fd < 0) {
			if (errno == ENOENT && (flag & 1))
				goto next;
			nsi_fail(errno, "landlock: open %s", path);
		}
		if (fstat(pb.parent_fd, &st) < 0)
			nsi_fail(errno, "landlock: fstat %s", path);
		pb.allowed_access = allowed & handled;
		if (!S_ISDIR(st.st_mode))
			pb.allowed_access &= ~NSI_LL_DIR_ONLY;
		if (syscall(SYS_landlock_add_rule, rs, NSI_LL_RULE_PATH_BENEATH, &pb, 0) < 0)
			nsi_fail(errno, "landlock_add_rule %s", path);
		close(pb.parent_fd);
	next:
		off += (uint32_t)len + 1;
		i++;
	}
	if (syscall(SYS_landlock_restrict_self, rs, 0) < 0)
		nsi_fail(errno, "landlock_restrict_self (is no_new_privs set?)");
	close(rs);
}
