/*
 * A test process for checkpoint/restore: fills N MiB of heap with a known
 * pseudo-random pattern, then on each SIGUSR1 checksums its memory again and
 * writes "<checksum>" to /tmp/sum (atomically: a temp file renamed). /tmp/ready
 * says the memory is filled.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t asked;

static void on_usr1(int sig)
{
	(void)sig;
	asked = 1;
}

static void report(const char *path, uint64_t *p, size_t words)
{
	uint64_t sum = 1469598103934665603ULL;
	FILE *f;

	for (size_t i = 0; i < words; i++)
		sum = (sum ^ p[i]) * 1099511628211ULL;
	f = fopen("/tmp/.sum", "w");
	if (!f)
		exit(2);
	fprintf(f, "%016llx\n", (unsigned long long)sum);
	fclose(f);
	rename("/tmp/.sum", path);
}

int main(int argc, char **argv)
{
	size_t words = (size_t)atoi(argc > 1 ? argv[1] : "1") << 17; /* MiB / 8 */
	uint64_t *p = malloc(words * 8), x = 88172645463325252ULL;

	if (!p)
		return 1;
	for (size_t i = 0; i < words; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x;
	}
	signal(SIGUSR1, on_usr1);
	report("/tmp/ready", p, words);
	for (;;) {
		pause();
		if (asked) {
			asked = 0;
			report("/tmp/sum", p, words);
		}
	}
}
