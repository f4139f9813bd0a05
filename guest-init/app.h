/*
 * The image's application (/etc/torpor/app.json) as PID 1 runs it: start it
 * in its own session with its user, directory and environment, its stdout
 * and stderr on the console with a prefix, restart it by its policy with
 * backoff, and stop it with its stop signal, grace period and SIGKILL.
 */
#ifndef TORPOR_GUEST_INIT_APP_H
#define TORPOR_GUEST_INIT_APP_H

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "appcfg.h"
#include "applog.h"
#include "respawn.h"

#define APP_PREFIX_OUT "app: "
#define APP_PREFIX_ERR "app[err]: "
#define APP_BACKOFF_BASE_MS 100
#define APP_BACKOFF_MAX_MS 30000
#define APP_BACKOFF_RESET_MS 10000 /* a run this long resets the backoff */
#define APP_KILL_WAIT_MS 1000      /* after SIGKILL, how long to wait before giving up */
#define APP_POLLFDS 2              /* app_pollfds() fills at most this many */

struct app {
	struct appcfg cfg;
	const sigset_t *child_mask;
	pid_t pid;              /* 0: not running */
	struct respawn respawn;
	int out_w, err_w;       /* the pipes' write ends, kept open for every run */
	int con_fd;             /* the console, O_NONBLOCK, for the output */
	struct applog log[2];   /* stdout, stderr */
	enum applog_want want[2];
	bool stopping;          /* app_stop() was called: no more starts */
	int64_t kill_at;        /* stopping: when to send SIGKILL; -1 once sent or none */
	int64_t give_up_at;     /* stopping: when to stop waiting after SIGKILL */
};

/*
 * Take cfg (moved into a; the caller must not free it) and set up the pipes
 * and the console fd. Returns 0 or -errno (a is then unusable and cfg freed).
 */
int app_init(struct app *a, struct appcfg *cfg, const sigset_t *child_mask);

/* Start the app now. Prints "torpor-init: app started pid=<n>". 0 or -errno (fork). */
int app_start(struct app *a, int64_t now);

/*
 * If pid is the app's, report its end ("torpor-init: app exited ...") and
 * schedule a restart as the policy says; returns true. False for other pids.
 */
bool app_reaped(struct app *a, pid_t pid, int status, int64_t now);

/* Start a restart that is due; SIGKILL the app when its grace is over. */
void app_tick(struct app *a, int64_t now);

/* The next time app_tick() has something to do, or -1. */
int64_t app_deadline(const struct app *a);

/*
 * Stop: no more restarts; if running, the stop signal to its process group
 * and SIGKILL after stop_grace_ms.
 */
void app_stop(struct app *a, int64_t now);

/* True once app_stop() was called and the app has exited, or could not be killed in time. */
bool app_stopped(const struct app *a, int64_t now);

/* Fill pfds with what the output needs; returns how many (<= APP_POLLFDS). */
int app_pollfds(struct app *a, struct pollfd *pfds);

/* Move output after a poll (call whatever poll returned). */
void app_pump(struct app *a);

/* Last output before power off: pump until nothing is pending or deadline_ms passes. */
void app_drain(struct app *a, int64_t deadline_ms);

#endif
