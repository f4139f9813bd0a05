/* Starting processes for the agent: fork, credentials, stdio or a tty, exec; exit status. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_int.h"

/* Where the child failed, sent over a close-on-exec pipe (EOF means exec succeeded). */
enum spawn_stage {
	SP_SETSID,
	SP_TTY,
	SP_STDIO,
	SP_ENV,
	SP_GROUPS,
	SP_GID,
	SP_UID,
	SP_CHDIR,
	SP_EXEC,
};

struct spawn_fail {
	int stage;
	int err;
};

static noreturn void child_fail(int efd, int stage)
{
	struct spawn_fail f = {stage, errno};

	if (write(efd, &f, sizeof(f)) < 0)
		_exit(126);
	_exit(127);
}

/* fds 0-2 of the child: the given ones, /dev/null for -1. */
static int child_stdio(const struct spawn_req *r)
{
	int fds[3] = {r->fd_in, r->fd_out, r->fd_err}, null = -1;

	for (int i = 0; i < 3; i++) {
		if (fds[i] < 0 && null < 0) {
			null = open("/dev/null", O_RDWR | O_CLOEXEC);
			if (null < 0)
				return -1;
		}
		if (fds[i] < 0)
			fds[i] = null;
		if (fds[i] == i ? fcntl(i, F_SETFD, 0) < 0 : dup2(fds[i], i) < 0)
			return -1;
	}
	return 0;
}

static noreturn void child_run(const struct spawn_req *r, uint32_t gid, int efd)
{
	agent_child_reset();
	if (r->tty >= 0) {
		if (setsid() < 0)
			child_fail(efd, SP_SETSID);
		if (ioctl(r->tty, TIOCSCTTY, 0) < 0)
			child_fail(efd, SP_TTY);
	} else {
		setpgid(0, 0); /* its own group, so killing it reaches what it started */
	}
	if (child_stdio(r) < 0)
		child_fail(efd, SP_STDIO);
	for (size_t i = 0; r->env && r->env[i]; i++)
		if (putenv((char *)r->env[i]) < 0)
			child_fail(efd, SP_ENV);
	if (r->term && setenv("TERM", r->term, 1) < 0)
		child_fail(efd, SP_ENV);
	if ((r->has_uid || r->has_gid) && setgroups(0, NULL) < 0)
		child_fail(efd, SP_GROUPS);
	if ((r->has_uid || r->has_gid) && setgid(gid) < 0)
		child_fail(efd, SP_GID);
	if (r->has_uid && setuid(r->uid) < 0)
		child_fail(efd, SP_UID);
	if (r->cwd && chdir(r->cwd) < 0)
		child_fail(efd, SP_CHDIR);
	execvp(r->argv[0], (char *const *)r->argv);
	child_fail(efd, SP_EXEC);
}

static void fail_msg(const struct spawn_req *r, const struct spawn_fail *f, char *err, size_t len)
{
	const char *why = strerror(f->err);

	switch (f->stage) {
	case SP_SETSID:
		snprintf(err, len, "setsid: %s", why);
		break;
	case SP_TTY:
		snprintf(err, len, "TIOCSCTTY: %s", why);
		break;
	case SP_STDIO:
		snprintf(err, len, "stdio: %s", why);
		break;
	case SP_ENV:
		snprintf(err, len, "environment: %s", why);
		break;
	case SP_GROUPS:
		snprintf(err, len, "setgroups: %s", why);
		break;
	case SP_GID:
		snprintf(err, len, "setgid: %s", why);
		break;
	case SP_UID:
		snprintf(err, len, "setuid %u: %s", r->uid, why);
		break;
	case SP_CHDIR:
		snprintf(err, len, "chdir %s: %s", r->cwd, why);
		break;
	default:
		snprintf(err, len, "exec %s: %s", r->argv[0], why);
		break;
	}
}

/* uid's primary group from /etc/passwd (no NSS in a static binary), else gid = uid. */
static uint32_t passwd_gid(uint32_t uid)
{
	FILE *f = fopen("/etc/passwd", "re");
	uint32_t gid = uid;
	struct passwd *pw;

	if (!f)
		return gid;
	while ((pw = fgetpwent(f)))
		if (pw->pw_uid == uid) {
			gid = pw->pw_gid;
			break;
		}
	fclose(f);
	return gid;
}

pid_t agent_spawn(const struct spawn_req *r, char *err, size_t errlen)
{
	uint32_t gid = r->has_gid ? r->gid : r->has_uid ? passwd_gid(r->uid) : 0;
	struct spawn_fail f;
	int ep[2], status, rc;
	ssize_t n;
	pid_t pid;

	if (pipe2(ep, O_CLOEXEC) < 0) {
		rc = -errno;
		snprintf(err, errlen, "pipe: %s", strerror(-rc));
		return rc;
	}
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		snprintf(err, errlen, "fork: %s", strerror(-rc));
		close(ep[0]);
		close(ep[1]);
		return rc;
	}
	if (pid == 0) {
		close(ep[0]);
		child_run(r, gid, ep[1]);
	}
	close(ep[1]);
	do
		n = read(ep[0], &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	if (n != sizeof(f))
		return pid;	  /* exec'd: the pipe closed on exec */
	waitpid(pid, &status, 0); /* it is exiting at once */
	fail_msg(r, &f, err, errlen);
	return f.err > 0 ? -f.err : -EIO;
}

void agent_kill_tree(pid_t pid)
{
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
}

int agent_exit_json(json_t *obj, int status)
{
	if (WIFEXITED(status))
		return json_object_set_new(obj, "status", json_integer(WEXITSTATUS(status)));
	if (WIFSIGNALED(status))
		return json_object_set_new(obj, "signal", json_integer(WTERMSIG(status)));
	return json_object_set_new(obj, "status", json_integer(-1));
}
