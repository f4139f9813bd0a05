/* Keeping the vsock agent (agent.h) running: a child of PID 1, restarted with backoff. */
#ifndef TORPOR_GUEST_INIT_RUN_AGENT_H
#define TORPOR_GUEST_INIT_RUN_AGENT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "respawn.h"

#define RUN_AGENT_BACKOFF_BASE_MS 100
#define RUN_AGENT_BACKOFF_MAX_MS 5000
#define RUN_AGENT_BACKOFF_RESET_MS 10000

struct run_agent {
	bool enabled;       /* the guest has a vsock device */
	bool stopping;      /* no more restarts */
	pid_t pid;          /* 0: not running */
	struct respawn respawn;
	const sigset_t *child_mask;
};

/*
 * Decide whether the agent runs: only with a virtio-vsock device (a local
 * CID from /dev/vsock). Does not start it.
 */
void run_agent_init(struct run_agent *ra, const sigset_t *child_mask);

/*
 * Fork the agent: the child restores child_mask, starts a new session,
 * closes every fd but 0-2 and calls agent_main(). Failure to fork schedules
 * a retry. No-op when not enabled.
 */
void run_agent_start(struct run_agent *ra, int64_t now);

/* If pid is the agent's: report its end and schedule a restart; returns true. */
bool run_agent_reaped(struct run_agent *ra, pid_t pid, int status, int64_t now);

/* Start a restart that is due. */
void run_agent_tick(struct run_agent *ra, int64_t now);

/* When run_agent_tick() has something to do next, or -1. */
int64_t run_agent_deadline(const struct run_agent *ra);

/* No more restarts (the agent itself is stopped with everyone else). */
void run_agent_stop(struct run_agent *ra);

#endif
