/*
 * The C_INIT step: a minimal pid 1 for a sandbox (what bubblewrap, tini and
 * `docker --init` put in front of the command). The process forks; the child
 * continues the plan (it is the command, in a process group of its own and, on
 * a terminal, the foreground one), the parent stays as pid 1 of the pid
 * namespace: it forwards the signals the runtime sends it to the child, reaps
 * every orphan, and exits with the child's status (128 + signal if a signal
 * ended it). A command as pid 1 would otherwise ignore SIGTERM and SIGINT.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "init.h"

void nsi_reaper_init(void)
{
	sigset_t all;
	pid_t child;

	/* Signals are blocked through setup; sigwaitinfo below takes them in order. */
	sigfillset(&all);
	child = fork();
	if (child < 0)
		nsi_fail(errno, "fork the command under the sandbox init");
	if (child == 0) {
		if (setpgid(0, 0) < 0)
			nsi_fail(errno, "setpgid");
		if (isatty(0) && tcsetpgrp(0, getpid()) < 0 && errno != ENOTTY)
			nsi_fail(errno, "tcsetpgrp");
		return;
	}
	/* pid 1 from here on: nothing is reported to the runtime any more, and no fd
	 * but stdio stays open (the runtime sees the sync socket close once the
	 * command has exec'd). */
	g_sync = -1;
	g_fifo_w = -1;
	syscall(SYS_close_range, 3U, ~0U, 0U);
	for (;;) {
		siginfo_t si;
		int status, sig;
		pid_t p;

		while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
			if (p != child)
				continue;
			if (WIFSIGNALED(status))
				_exit(128 + WTERMSIG(status));
			_exit(WEXITSTATUS(status));
		}
		if (p < 0 && errno == ECHILD)
			_exit(1);
		sig = sigwaitinfo(&all, &si);
		if (sig < 0 || sig == SIGCHLD)
			continue;
		/* Job-control stops of pid 1 itself make no sense: pass them on too. */
		kill(child, sig);
	}
}
