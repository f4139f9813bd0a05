/* Running the app: fork/exec with its settings, output through applog, restart, stop. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app.h"
#include "clock.h"
#include "log.h"

#define EXIT_SETUP 125  /* the app's user or directory could not be set up */
#define EXIT_NOEXEC 126 /* exec failed other than with ENOENT */
#define EXIT_NOTFOUND 127

extern char **environ;

int app_init(struct app *a, struct appcfg *cfg, const sigset_t *child_mask)
{
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, rc;

	memset(a, 0, sizeof(*a));
	a->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	a->child_mask = child_mask;
	a->kill_at = a->give_up_at = -1;
	respawn_init(&a->respawn, APP_BACKOFF_BASE_MS, APP_BACKOFF_MAX_MS, APP_BACKOFF_RESET_MS);
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
		goto err_errno;
	if (fcntl(out[0], F_SETFL, O_NONBLOCK) < 0 || fcntl(err[0], F_SETFL, O_NONBLOCK) < 0)
		goto err_errno;
	/* Its own open file: O_NONBLOCK here must not reach the fds 0-2 children share. */
	a->con_fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (a->con_fd < 0)
		goto err_errno;
	a->out_w = out[1];
	a->err_w = err[1];
	applog_init(&a->log[0], out[0], a->con_fd, APP_PREFIX_OUT);
	applog_init(&a->log[1], err[0], a->con_fd, APP_PREFIX_ERR);
	a->want[0] = a->want[1] = APPLOG_WANT_IN;
	return 0;
err_errno:
	rc = -errno;
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	appcfg_free(&a->cfg);
	return rc;
}

/* Look up the app's user in /etc/passwd (and group in /etc/group); 0 or -ENOENT. */
static int resolve_user(const struct appcfg_user *u, uid_t *uid, gid_t *gid, char *home,
			size_t homelen, char *name, size_t namelen)
{
	struct passwd *pw = NULL;
	struct group *gr;
	bool found = false;
	FILE *f;

	*uid = u->uid;
	*gid = 0;
	f = fopen("/etc/passwd", "re");
	while (f && (pw = fgetpwent(f))) {
		if (u->name ? !strcmp(pw->pw_name, u->name) : pw->pw_uid == u->uid) {
			found = true;
			*uid = pw->pw_uid;
			*gid = pw->pw_gid;
			snprintf(home, homelen, "%s", pw->pw_dir);
			snprintf(name, namelen, "%s", pw->pw_name);
			break;
		}
	}
	if (f)
		fclose(f);
	if (u->name && !found) {
		pr_err("app: user \"%s\": not in /etc/passwd", u->name);
		return -ENOENT;
	}
	if (!u->has_group)
		return 0;
	*gid = u->gid;
	if (!u->group)
		return 0;
	f = fopen("/etc/group", "re");
	while (f && (gr = fgetgrent(f)))
		if (!strcmp(gr->gr_name, u->group))
			break;
	if (f)
		fclose(f);
	if (!f || !gr) {
		pr_err("app: group \"%s\": not in /etc/group", u->group);
		return -ENOENT;
	}
	*gid = gr->gr_gid;
	return 0;
}

/* User, group, environment and directory; in the child. Exits EXIT_SETUP on failure. */
static void child_setup(const struct appcfg *c)
{
	char home[256] = "", name[64] = "";
	uid_t uid = 0;
	gid_t gid = 0;

	if (c->has_user) {
		if (resolve_user(&c->user, &uid, &gid, home, sizeof(home), name, sizeof(name)) < 0)
			_exit(EXIT_SETUP);
		if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
			pr_err("app: switch to uid %u gid %u: %s", (unsigned)uid, (unsigned)gid,
			       strerror(errno));
			_exit(EXIT_SETUP);
		}
		if (*home)
			setenv("HOME", home, 1);
		if (*name) {
			setenv("USER", name, 1);
			setenv("LOGNAME", name, 1);
		}
	}
	for (char **e = c->env; *e; e++)
		if (putenv(*e) < 0)
			pr_warn("app: env %.40s: %s", *e, strerror(errno));
	if (chdir(c->cwd) < 0) {
		pr_err("app: cwd %s: %s", c->cwd, strerror(errno));
		_exit(EXIT_SETUP);
	}
}

noreturn static void exec_app(struct app *a)
{
	int null_fd, con, e;

	sigprocmask(SIG_SETMASK, a->child_mask, NULL);
	if (setsid() < 0)
		pr_warn("app: setsid: %s", strerror(errno));
	child_setup(&a->cfg);
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	con = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3); /* to say why exec failed */
	if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(a->out_w, STDOUT_FILENO) < 0 ||
	    dup2(a->err_w, STDERR_FILENO) < 0) {
		if (con >= 0)
			dup2(con, STDERR_FILENO);
		pr_err("app: stdin/stdout/stderr: %s", strerror(errno));
		_exit(EXIT_SETUP);
	}
	/* Nothing of PID 1's but fds 0-2 reaches the app. */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	execvp(a->cfg.argv[0], a->cfg.argv);
	e = errno;
	if (con >= 0)
		dup2(con, STDERR_FILENO);
	pr_err("app: exec %s: %s", a->cfg.argv[0], strerror(e));
	_exit(e == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC);
}

int app_start(struct app *a, int64_t now)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0)
		exec_app(a);
	a->pid = pid;
	respawn_started(&a->respawn, now);
	pr_info("app started pid=%d", (int)pid);
	return 0;
}

static bool wants_restart(const struct app *a, int status)
{
	switch (a->cfg.restart) {
	case APPCFG_RESTART_ALWAYS:
		return true;
	case APPCFG_RESTART_ON_FAILURE:
		return !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	case APPCFG_RESTART_NEVER:
		break;
	}
	return false;
}

bool app_reaped(struct app *a, pid_t pid, int status, int64_t now)
{
	char what[32];

	if (!a || pid != a->pid || pid <= 0)
		return false;
	a->pid = 0;
	applog_flush(&a->log[0]);
	applog_flush(&a->log[1]);
	app_pump(a); /* its last lines before the exit line, as far as the console takes them */
	if (WIFEXITED(status))
		snprintf(what, sizeof(what), "status=%d", WEXITSTATUS(status));
	else
		snprintf(what, sizeof(what), "signal=%d", WTERMSIG(status));
	if (a->stopping)
		pr_info("app exited %s", what);
	else if (wants_restart(a, status))
		pr_info("app exited %s; restarting in %u ms (restart %s)", what,
			respawn_exited(&a->respawn, now), appcfg_restart_name(a->cfg.restart));
	else
		pr_info("app exited %s; not restarting (restart %s)", what,
			appcfg_restart_name(a->cfg.restart));
	return true;
}

void app_tick(struct app *a, int64_t now)
{
	int rc;

	if (a->stopping) {
		if (a->pid > 0 && a->kill_at >= 0 && now >= a->kill_at) {
			pr_warn("app did not exit within %u ms of %s; SIGKILL", a->cfg.stop_grace_ms,
				appcfg_signal_name(a->cfg.stop_signal));
			kill(-a->pid, SIGKILL);
			kill(a->pid, SIGKILL);
			a->kill_at = -1;
			a->give_up_at = now + APP_KILL_WAIT_MS;
		}
		return;
	}
	if (!respawn_due(&a->respawn, now))
		return;
	rc = app_start(a, now);
	if (rc < 0) {
		pr_err("app: fork: %s; retrying", strerror(-rc));
		respawn_exited(&a->respawn, now);
	}
}

int64_t app_deadline(const struct app *a)
{
	if (a->stopping)
		return a->pid > 0 ? (a->kill_at >= 0 ? a->kill_at : a->give_up_at) : -1;
	return a->respawn.due_ms;
}

void app_stop(struct app *a, int64_t now)
{
	if (a->stopping)
		return;
	a->stopping = true;
	respawn_cancel(&a->respawn);
	if (a->pid <= 0)
		return;
	pr_info("app stopping: %s to its process group, grace %u ms",
		appcfg_signal_name(a->cfg.stop_signal), a->cfg.stop_grace_ms);
	/* The group reaches a shell wrapper's children; the pid, an app that left its group. */
	kill(-a->pid, a->cfg.stop_signal);
	kill(a->pid, a->cfg.stop_signal);
	kill(-a->pid, SIGCONT); /* a stopped process could not act on it */
	a->kill_at = now + a->cfg.stop_grace_ms;
}

bool app_stopped(const struct app *a, int64_t now)
{
	if (!a->stopping)
		return false;
	return a->pid <= 0 || (a->give_up_at >= 0 && now >= a->give_up_at);
}

int app_pollfds(struct app *a, struct pollfd *pfds)
{
	int n = 0;
	bool out = false;

	for (int i = 0; i < 2; i++) {
		if (a->want[i] == APPLOG_WANT_IN)
			pfds[n++] = (struct pollfd){ .fd = a->log[i].in_fd, .events = POLLIN };
		else if (a->want[i] == APPLOG_WANT_OUT)
			out = true;
	}
	if (out)
		pfds[n++] = (struct pollfd){ .fd = a->con_fd, .events = POLLOUT };
	return n;
}

void app_pump(struct app *a)
{
	for (int i = 0; i < 2; i++)
		a->want[i] = applog_pump(&a->log[i]);
}

void app_drain(struct app *a, int64_t deadline_ms)
{
	struct pollfd pfds[APP_POLLFDS];

	applog_flush(&a->log[0]);
	applog_flush(&a->log[1]);
	for (;;) {
		int n, left;

		app_pump(a);
		if (a->want[0] != APPLOG_WANT_OUT && a->want[1] != APPLOG_WANT_OUT &&
		    !applog_pending(&a->log[0]) && !applog_pending(&a->log[1]))
			return;
		left = (int)(deadline_ms - clock_now_ms());
		if (left <= 0)
			return;
		n = app_pollfds(a, pfds);
		if (poll(pfds, (nfds_t)n, left) < 0 && errno != EINTR)
			return;
	}
}
