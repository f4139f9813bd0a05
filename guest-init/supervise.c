/* PID 1's main loop: signalfd, waitpid(-1) reaping, stop requests, killing all, power off. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "power.h"
#include "supervise.h"

struct sup {
	int sfd;
	pid_t main_pid;
	bool interactive; /* the main child is an interactive shell */
	bool main_done;   /* reaped and reported */
	bool stopping;    /* a stop request arrived, or the shutdown began */
	int64_t stop_deadline;
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

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

		if (pid == 0)
			return 0;
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			return -errno;
		if (pid == s->main_pid && !s->main_done) {
			s->main_done = true;
			report_exit(status);
		}
	}
}

static void on_signal(struct sup *s, uint32_t signo)
{
	if (signo == SIGCHLD || s->stopping)
		return;
	s->stopping = true;
	s->stop_deadline = now_ms() + SUPERVISE_STOP_GRACE_MS;
	if (s->main_done)
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
			on_signal(s, si[i].ssi_signo);
	}
}

/* Wait for signals until deadline (ms on CLOCK_MONOTONIC, -1: none); 0, -ETIMEDOUT or -errno. */
static int wait_signals(struct sup *s, int64_t deadline)
{
	struct pollfd pfd = { .fd = s->sfd, .events = POLLIN };
	int64_t left = deadline < 0 ? -1 : deadline - now_ms();
	int n;

	if (deadline >= 0 && left <= 0)
		return -ETIMEDOUT;
	n = poll(&pfd, 1, left < 0 ? -1 : (int)(left > INT_MAX ? INT_MAX : left));
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (n == 0)
		return -ETIMEDOUT;
	return drain_signals(s);
}

/* Reap until no child is left or the deadline passes. */
static void reap_until(struct sup *s, int64_t deadline)
{
	while (reap(s) == 0)
		if (wait_signals(s, deadline) < 0)
			return;
}

/* SIGTERM to every process but PID 1, a short grace, then SIGKILL. */
static void stop_all(struct sup *s)
{
	s->stopping = true; /* stop requests from now on change nothing */
	if (kill(-1, SIGTERM) == 0)
		reap_until(s, now_ms() + SUPERVISE_TERM_GRACE_MS);
	if (kill(-1, SIGKILL) == 0)
		reap_until(s, now_ms() + SUPERVISE_KILL_WAIT_MS);
	reap(s);
	if (!s->main_done)
		pr_warn("main child (pid %d) did not exit; powering off anyway", (int)s->main_pid);
}

noreturn void supervise(int sfd, pid_t main_pid, bool interactive)
{
	struct sup s = {
		.sfd = sfd,
		.main_pid = main_pid,
		.interactive = interactive,
		.stop_deadline = -1,
	};
	int rc;

	while (reap(&s) == 0 && !s.main_done) {
		rc = wait_signals(&s, s.stopping ? s.stop_deadline : -1);
		if (rc == -ETIMEDOUT)
			break;
		if (rc < 0) {
			pr_err("signalfd: %s; shutting down", strerror(-rc));
			break;
		}
	}
	stop_all(&s);
	power_off();
}
