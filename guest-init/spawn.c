/*
 * The main child: a new session and an exec of /bin/sh. Only the interactive
 * shell gets the console as its controlling tty (job control, ^C): when a
 * session leader with a controlling tty exits, the kernel hangs the tty up
 * and drops output not yet sent, which would cut off a command's last lines.
 */
#include <errno.h>
#include <stdnoreturn.h>
#include <string.h>
#include <unistd.h>

#include "console.h"
#include "log.h"
#include "spawn.h"

/* Runs in the child; never returns. */
noreturn static void exec_child(const char *cmd, const sigset_t *child_mask)
{
	char *const argv_cmd[] = { (char *)"sh", (char *)"-c", (char *)cmd, NULL };
	char *const argv_shell[] = { (char *)"sh", NULL };
	int rc;

	sigprocmask(SIG_SETMASK, child_mask, NULL);
	if (setsid() < 0)
		pr_warn("setsid: %s", strerror(errno));
	if (!cmd) {
		rc = console_take_ctty();
		if (rc < 0)
			pr_warn("console as controlling tty: %s", strerror(-rc));
	}
	execv(SPAWN_SHELL, cmd ? argv_cmd : argv_shell);
	pr_err("exec %s: %s", SPAWN_SHELL, strerror(errno));
	_exit(127);
}

pid_t spawn_main(const char *cmd, const sigset_t *child_mask)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0)
		exec_child(cmd, child_mask);
	return pid;
}
