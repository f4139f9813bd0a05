/* The agent client's fd bridges and poll loop: streams tied to file descriptors. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent_int.h"

#define IN_CHUNK FRAME_MAX_PAYLOAD

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int agent_stream_bridge(struct agent_stream *s, int in_fd, int out_fd, int err_fd,
			unsigned flags)
{
	struct agent_bridge *b;

	if (s->io || s->ended)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->in_fd = in_fd;
	b->in_done = in_fd < 0;
	b->fd[CHAN_IN] = -1;
	b->fd[CHAN_OUT] = out_fd;
	b->fd[CHAN_ERR] = err_fd;
	b->flags = flags;
	s->io = b;
	s->manual_credit = true;
	return 0;
}

void agent__bridge_free(struct agent_stream *s)
{
	if (!s->io)
		return;
	for (int ch = 0; ch < AGENT_NCHAN; ch++)
		free(s->io->out[ch].buf);
	free(s->io);
	s->io = NULL;
}

bool agent__bridge_pending(const struct agent_stream *s)
{
	if (!s->io)
		return false;
	for (int ch = CHAN_OUT; ch <= CHAN_ERR; ch++)
		if (s->io->out[ch].len > s->io->out[ch].off && !s->io->out[ch].broken)
			return true;
	return false;
}

bool agent__bridge_data(struct agent_stream *s, int chan, const uint8_t *buf, size_t len)
{
	struct agent_outbuf *o;

	if (!s->io || s->io->fd[chan] < 0)
		return false;
	o = &s->io->out[chan];
	if (o->broken) {
		agent_stream_consume(s, chan, len);
		return true;
	}
	if (o->off && o->off == o->len)
		o->off = o->len = 0;
	if (o->len + len > o->cap) {
		size_t cap = o->cap ? o->cap : 65536;
		uint8_t *p;

		if (o->off) {
			memmove(o->buf, o->buf + o->off, o->len - o->off);
			o->len -= o->off;
			o->off = 0;
		}
		while (cap < o->len + len)
			cap *= 2;
		p = cap > o->cap ? realloc(o->buf, cap) : o->buf;
		if (!p) {
			agent__fail_stream(s, -ENOMEM, "out of memory");
			return true;
		}
		o->buf = p;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, buf, len);
	o->len += len;
	return true;
}

static void bridge_in(struct agent_stream *s)
{
	struct agent_bridge *b = s->io;
	size_t want = agent_stream_credit(s);
	uint8_t *buf;
	ssize_t n;

	if (want > IN_CHUNK)
		want = IN_CHUNK;
	if (!want || b->in_done)
		return;
	buf = malloc(want);
	if (!buf)
		return;
	n = read(b->in_fd, buf, want);
	if (n > 0) {
		b->in_total += (uint64_t)n;
		agent_stream_write(s, buf, (size_t)n);
	} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
		/* EOF, or an error we treat as one (EIO from a hung-up terminal). */
		b->in_done = true;
		agent_stream_close_in(s);
	}
	free(buf);
}

static void bridge_out(struct agent_stream *s, int chan)
{
	struct agent_bridge *b = s->io;
	struct agent_outbuf *o = &b->out[chan];
	ssize_t n;
	char msg[160];
	int rc;

	if (o->len <= o->off || o->broken)
		return;
	n = write(b->fd[chan], o->buf + o->off, o->len - o->off);
	if (n > 0) {
		o->off += (size_t)n;
		b->out_total[chan] += (uint64_t)n;
		agent_stream_consume(s, chan, (size_t)n);
		if (o->off == o->len)
			o->off = o->len = 0;
		agent__end_if_flushed(s);
		return;
	}
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	rc = n < 0 ? -errno : -EIO;
	o->broken = true;
	agent_stream_consume(s, chan, o->len - o->off);
	o->off = o->len = 0;
	if (rc == -EPIPE && (b->flags & AGENT_BRIDGE_SIGPIPE) && !s->final_seen) {
		agent_stream_signal(s, SIGPIPE);
		agent__end_if_flushed(s);
		return;
	}
	if (rc == -EPIPE && (b->flags & AGENT_BRIDGE_SIGPIPE)) {
		agent__end_if_flushed(s);
		return;
	}
	snprintf(msg, sizeof(msg), "writing the %s: %s", chan == CHAN_ERR ? "error output" : "output",
		 strerror(-rc));
	agent__fail_stream(s, rc, msg);
}

size_t agent_conn_npollfds(const struct agent_conn *c)
{
	return 1 + 3 * c->nstreams;
}

static bool grow_pmap(struct agent_conn *c, size_t n)
{
	struct agent_pollmap *m;

	if (n <= c->pmap_cap)
		return true;
	m = realloc(c->pmap, n * sizeof(*m));
	if (!m)
		return false;
	c->pmap = m;
	c->pmap_cap = n;
	return true;
}

static void add(struct agent_conn *c, struct pollfd *p, size_t *k, int fd, short ev, uint32_t id,
		int role)
{
	p[*k] = (struct pollfd){ .fd = fd, .events = ev };
	c->pmap[*k] = (struct agent_pollmap){ .id = id, .role = role };
	(*k)++;
}

size_t agent_conn_pollfds(struct agent_conn *c, struct pollfd *p, size_t max)
{
	size_t k = 0;

	if (!max || !grow_pmap(c, agent_conn_npollfds(c)))
		return 0;
	if (max > agent_conn_npollfds(c))
		max = agent_conn_npollfds(c);
	add(c, p, &k, c->status ? -1 : c->fd,
	    (short)(POLLIN | (agent_conn_want_write(c) ? POLLOUT : 0)), 0, -1);
	for (size_t i = 0; i < c->nstreams && k < max; i++) {
		struct agent_stream *s = c->streams[i];
		struct agent_bridge *b = s->io;

		if (!b || (s->ended && !s->end_held))
			continue;
		if (!b->in_done && agent_stream_credit(s) && !c->status)
			add(c, p, &k, b->in_fd, POLLIN, s->id, CHAN_IN);
		for (int ch = CHAN_OUT; ch <= CHAN_ERR && k < max; ch++)
			if (b->out[ch].len > b->out[ch].off && !b->out[ch].broken)
				add(c, p, &k, b->fd[ch], POLLOUT, s->id, ch);
	}
	return k;
}

int agent_conn_dispatch(struct agent_conn *c, const struct pollfd *p, size_t n)
{
	for (size_t i = 1; i < n && i < c->pmap_cap; i++) {
		struct agent_stream *s;

		if (!p[i].revents)
			continue;
		s = agent__find(c, c->pmap[i].id);
		if (!s || !s->io || (s->ended && !s->end_held))
			continue;
		if (c->pmap[i].role == CHAN_IN && p[i].fd == s->io->in_fd)
			bridge_in(s);
		else if (c->pmap[i].role != CHAN_IN && p[i].fd == s->io->fd[c->pmap[i].role])
			bridge_out(s, c->pmap[i].role);
	}
	return agent_conn_handle(c, n && (p[0].revents & (POLLIN | POLLHUP | POLLERR)),
				 n && (p[0].revents & POLLOUT));
}

int agent_conn_wait(struct agent_conn *c, int timeout_ms)
{
	size_t max = agent_conn_npollfds(c), k;
	struct pollfd *p = calloc(max, sizeof(*p));
	int n, rc;

	if (!p)
		return -ENOMEM;
	k = agent_conn_pollfds(c, p, max);
	if (c->status && k <= 1) {
		free(p);
		agent_conn_handle(c, false, false); /* reap */
		return c->status;
	}
	n = poll(p, k, timeout_ms);
	if (n < 0) {
		rc = -errno;
		free(p);
		return rc;
	}
	rc = agent_conn_dispatch(c, p, n ? k : 0);
	free(p);
	if (!n && !rc)
		return -ETIMEDOUT;
	return rc;
}

int agent_conn_run_until(struct agent_conn *c, const bool *done, int timeout_ms)
{
	long long deadline = timeout_ms < 0 ? 0 : now_ms() + timeout_ms;

	while (!*done) {
		long long left = -1;
		int rc;

		if (timeout_ms >= 0) {
			left = deadline - now_ms();
			if (left < 0)
				return -ETIMEDOUT;
		}
		rc = agent_conn_wait(c, (int)left);
		if (*done)
			break;
		if (rc == -EINTR || rc == -ETIMEDOUT)
			continue;
		if (rc < 0)
			return rc;
	}
	return 0;
}
