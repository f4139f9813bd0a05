/* Restart backoff: doubling delays, reset by a long enough run. */
#include "respawn.h"

void respawn_init(struct respawn *r, unsigned base_ms, unsigned max_ms, unsigned reset_after_ms)
{
	r->base_ms = base_ms;
	r->max_ms = max_ms < base_ms ? base_ms : max_ms;
	r->reset_after_ms = reset_after_ms;
	r->delay_ms = base_ms;
	r->started_ms = 0;
	r->due_ms = -1;
}

void respawn_started(struct respawn *r, int64_t now)
{
	r->started_ms = now;
	r->due_ms = -1;
}

unsigned respawn_exited(struct respawn *r, int64_t now)
{
	unsigned delay;

	if (now - r->started_ms >= (int64_t)r->reset_after_ms)
		r->delay_ms = r->base_ms;
	delay = r->delay_ms;
	r->delay_ms = delay > r->max_ms / 2 ? r->max_ms : delay * 2;
	r->due_ms = now + delay;
	return delay;
}

bool respawn_due(const struct respawn *r, int64_t now)
{
	return r->due_ms >= 0 && now >= r->due_ms;
}

void respawn_cancel(struct respawn *r)
{
	r->due_ms = -1;
}
