/*
 * dist/nsinit: runs the bundled CLI with Deno. `deno task build` (scripts/build.ts)
 * compiles this file statically with the command line it must run:
 *
 *   NSINIT_LAUNCH_ARGV   the Deno binary, its flags and the bundle's entry, as C
 *                        string literals separated by commas
 *   NSINIT_LAUNCH_LIBDIR the directory of libnsinit.so and nsinit-init, exported as
 *                        NSINIT_LIBDIR unless the caller set it (non-empty)
 *
 * and the caller's arguments follow. A shell script did the same at the cost of
 * starting /bin/sh for every command (~2 ms here, more than a static binary's exec).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if !defined(NSINIT_LAUNCH_ARGV) || !defined(NSINIT_LAUNCH_LIBDIR)
#error "built by scripts/build.ts, which defines NSINIT_LAUNCH_ARGV and NSINIT_LAUNCH_LIBDIR"
#endif

static const char *const prefix[] = { NSINIT_LAUNCH_ARGV };

int main(int argc, char **argv)
{
	const size_t n = sizeof(prefix) / sizeof(prefix[0]);
	const char *lib = getenv("NSINIT_LIBDIR");
	char **args;
	size_t i;

	if ((lib == NULL || *lib == '\0') &&
	    setenv("NSINIT_LIBDIR", NSINIT_LAUNCH_LIBDIR, 1) != 0) {
		fprintf(stderr, "nsinit: setenv NSINIT_LIBDIR: %s\n", strerror(errno));
		return 127;
	}
	args = calloc(n + (size_t)argc, sizeof(*args));
	if (args == NULL) {
		fprintf(stderr, "nsinit: out of memory\n");
		return 127;
	}
	for (i = 0; i < n; i++)
		args[i] = (char *)prefix[i];
	for (i = 1; i < (size_t)argc; i++)
		args[n + i - 1] = argv[i];
	execv(args[0], args);
	fprintf(stderr, "nsinit: cannot run %s: %s\n", args[0], strerror(errno));
	return 127;
}
