/* The agent's connections: reading frames, the bounded output queue, stream table, closing. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent_int.h"

#define OUT_MIN_CAP  (2 * (FRAME_HEADER_SIZE + FRAME_MAX_PAYLOAD))
#define OUT_KEEP_CAP (4 * (FRAME_HEADER_SIZE + FRAME_MAX_PAYLOAD)) /* free an empty queue above */

static struct list conns = {&conns, &conns};
static struct list pokes = {&pokes, &pokes};
static unsigned nconns;

static void conn_event(struct agent_watch *w, uint32_t events);
static void conn_process(struct agent_conn *c);

static void conn_poke(struct agent_conn *c)
{
	if (list_empty(&c->poke_link))
		list_add_tail(&pokes, &c->poke_link);
}

static bool conn_paused(const struct agent_conn *c)
{
	return c->out_full || c->in_held > AGENT_IN_MAX;
}

/* Read unless paused; write while output waits on a full socket; RDHUP: the peer left. */
static void conn_update_watch(struct agent_conn *c)
{
	uint32_t ev = EPOLLRDHUP;

	if (c->dead)
		return;
	if (!conn_paused(c) && c->in_off >= c->in_len)
		ev |= EPOLLIN;
	if (c->write_blocked)
		ev |= EPOLLOUT;
	agent_watch_set(&c->w, ev);
}

static json_t *utf8_string(const char *s)
{
	json_t *j = json_string(s);

	return j ? j : json_string("(message not valid UTF-8)");
}

json_t *agent_error_json(int err, const char *msg)
{
	json_t *o = json_object();
	const char *name = err ? strerrorname_np(err) : NULL;

	if (!o)
		return NULL;
	if (json_object_set_new(o, "type", json_string("error")) ||
	    json_object_set_new(o, "error", utf8_string(msg)) ||
	    (name && json_object_set_new(o, "errno", json_string(name)))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Make room for need bytes at the end of the output queue. */
static int out_reserve(struct agent_conn *c, size_t need)
{
	size_t cap;
	uint8_t *p;

	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_cap - c->out_len >= need)
		return 0;
	if (c->out_off) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
		if (c->out_cap - c->out_len >= need)
			return 0;
	}
	cap = c->out_cap ? c->out_cap : OUT_MIN_CAP;
	while (cap - c->out_len < need)
		cap *= 2;
	p = realloc(c->out, cap);
	if (!p)
		return -ENOMEM;
	c->out = p;
	c->out_cap = cap;
	return 0;
}

uint8_t *conn_frame_begin(struct agent_conn *c, size_t max)
{
	if (out_reserve(c, FRAME_HEADER_SIZE + max) < 0) {
		c->broken = true;
		conn_poke(c);
		return NULL;
	}
	return c->out + c->out_len + FRAME_HEADER_SIZE;
}

void conn_frame_commit(struct agent_conn *c, uint8_t type, uint8_t chan, uint32_t stream,
		       size_t len)
{
	struct frame_header h = {
	    .len = (uint32_t)len,
	    .type = type,
	    .channel = chan,
	    .stream = stream,
	};

	frame_header_encode(&h, c->out + c->out_len);
	c->out_len += FRAME_HEADER_SIZE + len;
	if (c->out_len - c->out_off >= AGENT_OUT_HIGH)
		c->out_full = true;
	conn_poke(c);
}

int conn_send(struct agent_conn *c, uint8_t type, uint8_t chan, uint32_t stream, const void *p,
	      size_t len)
{
	uint8_t *dst = conn_frame_begin(c, len);

	if (!dst)
		return -ENOMEM;
	if (len)
		memcpy(dst, p, len);
	conn_frame_commit(c, type, chan, stream, len);
	return 0;
}

void conn_send_json(struct agent_conn *c, uint32_t stream, json_t *obj)
{
	static const char too_big[] =
	    "{\"type\":\"error\",\"error\":\"reply too large\",\"errno\":\"E2BIG\"}";
	char *p = (char *)conn_frame_begin(c, FRAME_MAX_PAYLOAD);
	size_t n;

	if (!obj)
		obj = agent_error_json(ENOMEM, "out of memory");
	if (!p || !obj) {
		json_decref(obj);
		c->broken = true; /* a reply is lost: the client could wait forever */
		conn_poke(c);
		return;
	}
	n = json_dumpb(obj, p, FRAME_MAX_PAYLOAD, JSON_COMPACT);
	json_decref(obj);
	if (n < 2 || n > FRAME_MAX_PAYLOAD) {
		memcpy(p, too_big, sizeof(too_big) - 1);
		n = sizeof(too_big) - 1;
	}
	conn_frame_commit(c, FRAME_CTRL, 0, stream, n);
}

void conn_reply_error(struct agent_conn *c, uint32_t stream, int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conn_send_json(c, stream, agent_error_json(err, msg));
}

bool conn_out_room(const struct agent_conn *c)
{
	return !c->out_full && !c->dead;
}

void conn_in_held(struct agent_conn *c, long delta)
{
	bool was = conn_paused(c);

	c->in_held = (size_t)((long)c->in_held + delta);
	if (was && !conn_paused(c))
		conn_poke(c);
}

void conn_flush(struct agent_conn *c)
{
	ssize_t n;

	while (!c->dead && c->out_off < c->out_len) {
		n = send(c->w.fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			conn_close(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	c->write_blocked = c->out_off < c->out_len;
	if (!c->write_blocked && c->out_cap > OUT_KEEP_CAP) {
		free(c->out);
		c->out = NULL;
		c->out_cap = c->out_off = c->out_len = 0;
	}
	if (c->out_full && c->out_len - c->out_off <= AGENT_OUT_LOW) {
		c->out_full = false;
		stream_update_sources(c);
		if (c->in_off < c->in_len)
			conn_poke(c);
	}
	conn_update_watch(c);
}

struct agent_stream *conn_stream(struct agent_conn *c, uint32_t id)
{
	unsigned seen = 0;

	for (unsigned i = 0; i < AGENT_MAX_STREAMS && seen < c->nstreams; i++) {
		if (!c->streams[i])
			continue;
		if (c->streams[i]->id == id)
			return c->streams[i];
		seen++;
	}
	return NULL;
}

int conn_stream_add(struct agent_conn *c, struct agent_stream *s)
{
	for (unsigned i = 0; i < AGENT_MAX_STREAMS; i++) {
		if (!c->streams[i]) {
			c->streams[i] = s;
			c->nstreams++;
			return 0;
		}
	}
	return -EBUSY;
}

void conn_stream_del(struct agent_conn *c, struct agent_stream *s)
{
	for (unsigned i = 0; i < AGENT_MAX_STREAMS; i++) {
		if (c->streams[i] == s) {
			c->streams[i] = NULL;
			c->nstreams--;
			return;
		}
	}
}

static void conn_free(void *obj)
{
	struct agent_conn *c = obj;

	free(c->out);
	free(c->in);
	free(c->payload);
	free(c);
}

void conn_close(struct agent_conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	for (unsigned i = 0; i < AGENT_MAX_STREAMS && c->nstreams; i++)
		if (c->streams[i])
			stream_end(c->streams[i]);
	agent_watch_close(&c->w);
	list_del(&c->link);
	list_del(&c->poke_link);
	nconns--;
	agent_bury(&c->grave, c, conn_free);
}

/* A header that is not valid but delimited: an error on its stream (resetting it if open). */
static void conn_bad_frame(struct agent_conn *c)
{
	const struct frame_header *h = &c->rd.h;
	struct agent_stream *s = h->stream ? conn_stream(c, h->stream) : NULL;
	char msg[160];

	snprintf(msg, sizeof(msg), "bad frame (type %u, channel %u, flags 0x%x, length %u): %s",
		 h->type, h->channel, h->flags, h->len, frame_error_str(c->rd.bad));
	if (s)
		stream_fail(s, EINVAL, "%s", msg);
	else
		conn_reply_error(c, h->stream, EINVAL, "%s", msg);
}

static void conn_frame(struct agent_conn *c)
{
	const struct frame_header *h = &c->rd.h;
	struct agent_stream *s;

	if (c->rd.bad) {
		conn_bad_frame(c);
		return;
	}
	if (h->type == FRAME_CTRL) {
		agent_ctrl(c, h->stream, c->payload, h->len);
		return;
	}
	s = conn_stream(c, h->stream);
	if (!s)
		return; /* the stream has ended: its late frames are dropped */
	if (h->type == FRAME_DATA)
		stream_in_data(s, h->channel, c->payload, h->len);
	else if (h->type == FRAME_CLOSE)
		stream_in_close(s, h->channel);
	else if (h->type == FRAME_CREDIT)
		stream_credit(s, h->channel, frame_credit_get(c->payload));
}

/* A length over the limit: frame boundaries are lost. Say so, then close. */
static void conn_fatal(struct agent_conn *c)
{
	conn_reply_error(c, 0, EINVAL,
			 "bad frame: length %u over the limit of %u; closing the connection",
			 c->rd.h.len, FRAME_MAX_PAYLOAD);
	conn_flush(c);
	conn_close(c);
}

/* Hand the bytes read to the frame reader, frame by frame, until paused. */
static void conn_process(struct agent_conn *c)
{
	while (!c->dead && !c->broken && c->in_off < c->in_len && !conn_paused(c)) {
		bool ready;

		c->in_off +=
		    frame_reader_feed(&c->rd, c->in + c->in_off, c->in_len - c->in_off, &ready);
		if (c->rd.fatal) {
			conn_fatal(c);
			return;
		}
		if (ready)
			conn_frame(c);
	}
	conn_update_watch(c);
}

static void conn_read(struct agent_conn *c)
{
	ssize_t n = read(c->w.fd, c->in, AGENT_READ_BUF);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) { /* EOF is a disconnect: a client's streams end with it */
		conn_close(c);
		return;
	}
	c->in_off = 0;
	c->in_len = (size_t)n;
	conn_process(c);
}

static void conn_event(struct agent_watch *w, uint32_t events)
{
	struct agent_conn *c = container_of(w, struct agent_conn, w);

	if (events & EPOLLOUT)
		conn_flush(c);
	if (c->dead)
		return;
	if (conn_paused(c) || c->in_off < c->in_len) {
		if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			conn_close(c); /* gone while we could not read: nobody is left to answer */
		return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		conn_read(c);
}

static int conn_new(int fd)
{
	struct agent_conn *c = calloc(1, sizeof(*c));
	int rc = -ENOMEM;

	if (!c)
		return rc;
	c->payload = malloc(FRAME_MAX_PAYLOAD);
	c->in = malloc(AGENT_READ_BUF);
	if (!c->payload || !c->in)
		goto err_free;
	frame_reader_init(&c->rd, c->payload);
	list_init(&c->poke_link);
	rc = agent_watch_add(&c->w, fd, EPOLLIN | EPOLLRDHUP, conn_event);
	if (rc < 0)
		goto err_free;
	list_add_tail(&conns, &c->link);
	nconns++;
	return 0;
err_free:
	conn_free(c);
	return rc;
}

/* Over the connection limit: one error frame, best effort, and close. */
static void conn_refuse(int fd, const char *why)
{
	uint8_t buf[FRAME_HEADER_SIZE + 160];
	struct frame_header h = {.type = FRAME_CTRL};
	int n;

	n = snprintf((char *)buf + FRAME_HEADER_SIZE, sizeof(buf) - FRAME_HEADER_SIZE,
		     "{\"type\":\"error\",\"error\":\"%s\",\"errno\":\"EBUSY\"}", why);
	h.len = (uint32_t)n;
	frame_header_encode(&h, buf);
	send(fd, buf, FRAME_HEADER_SIZE + (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

int agent_conn_accept(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				return -errno;
			continue; /* ECONNABORTED and the like: that one is gone */
		}
		if (nconns >= AGENT_MAX_CONNS)
			conn_refuse(fd, "too many connections");
		else if (conn_new(fd) < 0)
			conn_refuse(fd, "out of memory");
	}
}

void agent_conn_run_pokes(void)
{
	while (!list_empty(&pokes)) {
		struct agent_conn *c = container_of(pokes.next, struct agent_conn, poke_link);

		list_del(&c->poke_link);
		if (c->broken) {
			conn_close(c);
			continue;
		}
		if (!conn_paused(c) && c->in_off < c->in_len)
			conn_process(c);
		if (!c->dead)
			conn_flush(c);
	}
}
