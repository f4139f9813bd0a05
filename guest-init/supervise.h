/* PID 1's main loop: signals through a signalfd, reaping every child, stopping, shutting down. */
#ifndef TORPOR_GUEST_INIT_SUPERVISE_H
#define TORPOR_GUEST_INIT_SUPERVISE_H

#include <signal.h>
#include <stdbool.h>
#include <stdnoreturn.h>
#include <sys/types.h>

#define SUPERVISE_STOP_GRACE_MS 5000 /* main child's time to exit after a forwarded SIGTERM */
#define SUPERVISE_TERM_GRACE_MS 1000 /* everyone's time to exit after SIGTERM, before SIGKILL */
#define SUPERVISE_KILL_WAIT_MS  1000 /* time to reap after SIGKILL, then power off regardless */

/*
 * Block the signals PID 1 handles (SIGCHLD; the stop requests SIGTERM,
 * SIGINT, SIGPWR, and SIGUSR1/SIGUSR2 which busybox halt/poweroff send) and
 * return a non-blocking signalfd for them, or -errno. *old_mask gets the
 * mask from before, for children to restore. Call before any child exists;
 * blocked signals to PID 1 are queued, not dropped, so none is lost.
 */
int supervise_signals(sigset_t *old_mask);

/*
 * Reap every child (orphans too) until the main child exits, then print
 * "torpor-init: exit status=<n>" or "torpor-init: exit signal=<n>". A stop
 * request forwards SIGTERM to the main child (and SIGHUP if it is an
 * interactive shell, which ignores SIGTERM) and waits up to
 * SUPERVISE_STOP_GRACE_MS for it. Then SIGTERM to every process, up to
 * SUPERVISE_TERM_GRACE_MS, SIGKILL, sync and power off (the main child's
 * exit line is printed whenever it is reaped). Never returns.
 */
noreturn void supervise(int sfd, pid_t main_pid, bool interactive);

#endif
