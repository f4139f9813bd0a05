/* PID 1's main loop: signalfd, waitpid(-1) reaping, app and agent, stop requests, power off. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "power.h"
#include "supervise.h"

struct sup {
	int sfd;
	pid_t main_pid;   /* 0: none (app mode) */
	bool interactive; /* the main child is an interactive shell */
	bool main_done;   /* reaped and reported */
	struct app *app;
	struct run_agent *agent;
	bool stopping;    /* a stop request arrived, or the shutdown began */
	int64_t stop_deadline; /* the main child's grace */
};

static const int handled_signals[] = { SIGCHLD, SIGTERM, SIGINT, SIGPWR, SIGUSR1, SIGUSR2 };

int supervise_signals(sigset_t *old_mask)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(handled_signals) / sizeof(handled_signals[0]); i++)
		sigaddset(&set, handled_signals[i]);
	if (sigprocmask(SIG_BLOCK, &set, old_mask) < 0)
		return -errno;
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static void report_exit(int status)
{
	if (WIFEXITED(status))
		pr_info("exit status=%d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		pr_info("exit signal=%d", WTERMSIG(status));
}

/* Reap every child that has exited. Returns 0, or -ECHILD once no child is left. */
static int reap(struct sup *s)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		int64_t now = clock_now_ms();

		if (pid == 0)
			return 0;
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			return -errno;
		if (pid == s->main_pid && !s->main_done) {
			s->main_done = true;
			report_exit(status);
		} else if (s->app && app_reaped(s->app, pid, status, now)) {
			continue;
		} else if (run_agent_reaped(s->agent, pid, status, now)) {
			continue;
		}
		/* Anything else is an orphan: reaped, nothing more. */
	}
}

static void begin_stop(struct sup *s)
{
	int64_t now = clock_now_ms();

	if (s->stopping)
		return;
	s->stopping = true;
	s->stop_deadline = now + SUPERVISE_STOP_GRACE_MS;
	run_agent_stop(s->agent);
	if (s->app)
		app_stop(s->app, now);
	if (!s->main_pid || s->main_done)
		return;
	kill(s->main_pid, SIGTERM);
	if (s->interactive)
		kill(s->main_pid, SIGHUP); /* it ignores SIGTERM; hang up as a terminal would */
}

/* Read and handle every queued signal. Returns 0 or -errno. */
static int drain_signals(struct sup *s)
{
	struct signalfd_siginfo si[8];

	for (;;) {
		ssize_t n = read(s->sfd, si, sizeof(si));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		for (size_t i = 0; i < (size_t)n / sizeof(si[0]); i++)
			if (si[i].ssi_signo != SIGCHLD)
				begin_stop(s);
	}
}

/* The earlier of two deadlines (-1: none). */
static int64_t earlier(int64_t a, int64_t b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/* Wait for signals and the app's output until deadline (-1: none); 0, -ETIMEDOUT or -errno. */
static int wait_events(struct sup *s, int64_t deadline)
{
	struct pollfd pfds[1 + APP_POLLFDS] = { { .fd = s->sfd, .events = POLLIN } };
	int64_t left = deadline < 0 ? -1 : deadline - clock_now_ms();
	int n, nfds = 1;

	if (deadline >= 0 && left <= 0)
		return -ETIMEDOUT;
	if (s->app)
		nfds += app_pollfds(s->app, pfds + 1);
	n = poll(pfds, (nfds_t)nfds, left < 0 ? -1 : (int)(left > INT_MAX ? INT_MAX : left));
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (s->app && n > 0)
		app_pump(s->app);
	if (n == 0)
		return -ETIMEDOUT;
	return pfds[0].revents ? drain_signals(s) : 0;
}

/* Reap until no child is left or the deadline passes. */
static void reap_until(struct sup *s, int64_t deadline)
{
	while (reap(s) == 0)
		if (wait_events(s, deadline) < 0)
			return;
}

/* SIGTERM to every process but PID 1, a short grace, then SIGKILL. */
static void stop_all(struct sup *s)
{
	s->stopping = true; /* stop requests from now on change nothing */
	run_agent_stop(s->agent);
	if (s->app)
		app_stop(s->app, clock_now_ms());
	if (kill(-1, SIGTERM) == 0)
		reap_until(s, clock_now_ms() + SUPERVISE_TERM_GRACE_MS);
	if (kill(-1, SIGKILL) == 0)
		reap_until(s, clock_now_ms() + SUPERVISE_KILL_WAIT_MS);
	reap(s);
	if (s->main_pid && !s->main_done)
		pr_warn("main child (pid %d) did not exit; powering off anyway", (int)s->main_pid);
}

/* Everything the stop request waits for has ended (or its time is up). */
static bool stop_done(struct sup *s, int64_t now)
{
	bool main_over = !s->main_pid || s->main_done || now >= s->stop_deadline;

	return main_over && (!s->app || app_stopped(s->app, now));
}

/* The next deadline of the loop: restarts, graces. */
static int64_t next_deadline(struct sup *s)
{
	int64_t d = run_agent_deadline(s->agent);

	if (s->app)
		d = earlier(d, app_deadline(s->app));
	if (s->stopping && s->main_pid && !s->main_done)
		d = earlier(d, s->stop_deadline);
	return d;
}

noreturn void supervise(const struct supervise_cfg *cfg)
{
	struct sup s = {
		.sfd = cfg->sfd,
		.main_pid = cfg->main_pid,
		.interactive = cfg->interactive,
		.app = cfg->app,
		.agent = cfg->agent,
		.stop_deadline = -1,
	};
	int rc;

	for (;;) {
		int64_t now;

		rc = reap(&s);
		if (rc < 0 && rc != -ECHILD) {
			pr_err("waitpid: %s; shutting down", strerror(-rc));
			break;
		}
		if (s.main_pid && s.main_done)
			break;
		now = clock_now_ms();
		if (s.stopping && stop_done(&s, now))
			break;
		if (s.app)
			app_tick(s.app, now);
		run_agent_tick(s.agent, now);
		rc = wait_events(&s, next_deadline(&s));
		if (rc < 0 && rc != -ETIMEDOUT) {
			pr_err("signalfd: %s; shutting down", strerror(-rc));
			break;
		}
	}
	stop_all(&s);
	if (s.app)
		app_drain(s.app, clock_now_ms() + SUPERVISE_KILL_WAIT_MS);
	power_off();
}
