/* Restarting a child with exponential backoff: when the next start is due (pure, times in ms). */
#ifndef TORPOR_GUEST_INIT_RESPAWN_H
#define TORPOR_GUEST_INIT_RESPAWN_H

#include <stdbool.h>
#include <stdint.h>

struct respawn {
	unsigned base_ms;        /* the first delay, and the delay after a long run */
	unsigned max_ms;         /* the delay doubles up to this */
	unsigned reset_after_ms; /* a run at least this long resets the delay to base_ms */
	unsigned delay_ms;       /* the delay the next quick exit gets */
	int64_t started_ms;      /* when the current run started */
	int64_t due_ms;          /* when the next start is due; -1: none pending */
};

void respawn_init(struct respawn *r, unsigned base_ms, unsigned max_ms, unsigned reset_after_ms);

/* The child was started at now. */
void respawn_started(struct respawn *r, int64_t now);

/*
 * The child ended at now and should run again: schedule the start and
 * return its delay. A run shorter than reset_after_ms gets the current delay,
 * and the one after it twice that (at most max_ms); a longer run gets base_ms.
 */
unsigned respawn_exited(struct respawn *r, int64_t now);

/* A start is pending and its time has come. */
bool respawn_due(const struct respawn *r, int64_t now);

/* Forget a pending start (shutdown). */
void respawn_cancel(struct respawn *r);

#endif
