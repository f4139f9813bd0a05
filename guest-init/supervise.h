/* PID 1's main loop: signals through a signalfd, reaping every child, the app and agent, shutdown. */
#ifndef TORPOR_GUEST_INIT_SUPERVISE_H
#define TORPOR_GUEST_INIT_SUPERVISE_H

#include <signal.h>
#include <stdbool.h>
#include <stdnoreturn.h>
#include <sys/types.h>

#include "app.h"
#include "run_agent.h"

#define SUPERVISE_STOP_GRACE_MS 5000 /* main child's time to exit after a forwarded SIGTERM */
#define SUPERVISE_TERM_GRACE_MS 1000 /* everyone's time to exit after SIGTERM, before SIGKILL */
#define SUPERVISE_KILL_WAIT_MS  1000 /* time to reap after SIGKILL, then power off regardless */

/* What PID 1 looks after. */
struct supervise_cfg {
	int sfd;               /* from supervise_signals() */
	pid_t main_pid;        /* torpor.run's command or the shell; 0 in app mode */
	bool interactive;      /* the main child is an interactive shell */
	struct app *app;       /* app mode: the app, started already; else NULL */
	struct run_agent *agent; /* the agent, started already (or not enabled) */
};

/*
 * Block the signals PID 1 handles (SIGCHLD; the stop requests SIGTERM,
 * SIGINT, SIGPWR, and SIGUSR1/SIGUSR2 which busybox halt/poweroff send) and
 * return a non-blocking signalfd for them, or -errno. *old_mask gets the
 * mask from before, for children to restore. Call before any child exists;
 * blocked signals to PID 1 are queued, not dropped, so none is lost.
 */
int supervise_signals(sigset_t *old_mask);

/*
 * Reap every child (orphans too), keep the agent running, move the app's
 * output, restart the app by its policy. With a main child: when it exits,
 * print "torpor-init: exit status=<n>" or "torpor-init: exit signal=<n>" and
 * shut down. In app mode the guest stays up until a stop request.
 *
 * A stop request forwards SIGTERM to the main child (and SIGHUP if it is an
 * interactive shell, which ignores SIGTERM) and waits up to
 * SUPERVISE_STOP_GRACE_MS for it; or stops the app (its stop signal, its
 * grace, SIGKILL). Then shutdown: no more agent restarts, SIGTERM to every
 * process, up to SUPERVISE_TERM_GRACE_MS, SIGKILL, the app's last output,
 * sync and power off. Never returns.
 */
noreturn void supervise(const struct supervise_cfg *cfg);

#endif
