/*
 * libnsinit, Landlock: the kernel's Landlock ABI version, so TypeScript can
 * negotiate which access rights to handle (sandbox/landlock.ts). Returns the
 * version (>= 1), or -errno: -ENOSYS (kernel built without Landlock) or
 * -EOPNOTSUPP (built in but not enabled at boot).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef NSI_EXPORT
#define NSI_EXPORT __attribute__((visibility("default")))
#endif

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#define NSI_LL_CREATE_RULESET_VERSION (1U << 0)

NSI_EXPORT int nsi_landlock_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0, NSI_LL_CREATE_RULESET_VERSION);
	return v < 0 ? -errno : (int)v;
}
