/* The agent's streams: sources and sinks, credit both ways, replies, ending a stream. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent_int.h"

#define SINK_MIN_CAP 65536

static struct list pumps = {&pumps, &pumps};

void *stream_new(struct agent_conn *c, uint32_t id, const struct stream_ops *ops, size_t size)
{
	struct agent_stream *s = calloc(1, size);

	if (!s) {
		conn_reply_error(c, id, ENOMEM, "%s: out of memory", ops->op);
		return NULL;
	}
	s->conn = c;
	s->ops = ops;
	s->id = id;
	s->credit[CHAN_OUT] = s->credit[CHAN_ERR] = FRAME_WINDOW;
	s->in_window = FRAME_WINDOW;
	for (int i = 0; i < 2; i++) {
		agent_watch_init(&s->src[i].w);
		list_init(&s->src[i].pump_link);
		s->src[i].s = s;
		s->src[i].chan = (uint8_t)(CHAN_OUT + i);
	}
	agent_watch_init(&s->sink.w);
	s->sink.s = s;
	if (conn_stream_add(c, s) < 0) {
		conn_reply_error(c, id, EBUSY, "too many streams on this connection (%d)",
				 AGENT_MAX_STREAMS);
		free(s);
		return NULL;
	}
	return s;
}

/* ---- sources: guest fd → DATA on OUT/ERR, within the host's credit ---- */

static bool src_can(const struct agent_src *src)
{
	return src->used && !src->eof && src->s->credit[src->chan] && conn_out_room(src->s->conn);
}

static void src_update(struct agent_src *src)
{
	bool can = src_can(src);

	if (src->pumped) {
		if (can && list_empty(&src->pump_link))
			list_add_tail(&pumps, &src->pump_link);
		else if (!can)
			list_del(&src->pump_link);
	} else if (src->used && !src->eof) {
		agent_watch_set(&src->w, can ? EPOLLIN : 0);
	}
}

static void src_end(struct agent_src *src, int err)
{
	struct agent_stream *s = src->s;

	agent_watch_close(&src->w);
	list_del(&src->pump_link);
	src->eof = true;
	conn_send(s->conn, FRAME_CLOSE, src->chan, s->id, NULL, 0);
	if (s->ops->src_done)
		s->ops->src_done(s, src, err);
}

/* One read of at most one frame's worth, straight into the output queue. */
static void src_read(struct agent_src *src)
{
	struct agent_stream *s = src->s;
	size_t max = s->credit[src->chan];
	uint8_t *p;
	ssize_t n;

	if (max > FRAME_MAX_PAYLOAD)
		max = FRAME_MAX_PAYLOAD;
	p = conn_frame_begin(s->conn, max);
	if (!p)
		return; /* the connection closes */
	n = read(src->w.fd, p, max);
	if (n > 0) {
		conn_frame_commit(s->conn, FRAME_DATA, src->chan, s->id, (size_t)n);
		s->credit[src->chan] -= (uint32_t)n;
		src->bytes += (uint64_t)n;
		src_update(src);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/* A pty master reads EIO once every slave fd is closed: that is its EOF. */
	src_end(src, n < 0 && !(src->pty && errno == EIO) ? -errno : 0);
}

static void src_event(struct agent_watch *w, uint32_t events)
{
	struct agent_src *src = container_of(w, struct agent_src, w);

	if (src_can(src))
		src_read(src);
	else
		src_update(src);
}

int stream_src_open(struct agent_stream *s, uint8_t chan, int fd, bool pty)
{
	struct agent_src *src = &s->src[chan - CHAN_OUT];
	int rc;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	rc = agent_watch_add(&src->w, fd, EPOLLIN, src_event);
	if (rc == -EPERM) { /* a regular file: always readable, pumped by the loop */
		src->pumped = true;
		src->w.fd = fd;
		rc = 0;
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	src->used = true;
	src->pty = pty;
	src_update(src);
	return 0;
}

bool stream_src_done(const struct agent_stream *s, uint8_t chan)
{
	const struct agent_src *src = &s->src[chan - CHAN_OUT];

	return !src->used || src->eof;
}

void stream_update_sources(struct agent_conn *c)
{
	for (unsigned i = 0; i < AGENT_MAX_STREAMS; i++) {
		struct agent_stream *s = c->streams[i];

		if (s && !s->ended) {
			src_update(&s->src[0]);
			src_update(&s->src[1]);
		}
	}
}

void stream_pump(void)
{
	struct list batch;

	if (list_empty(&pumps))
		return;
	batch = pumps; /* move every entry to batch */
	batch.next->prev = &batch;
	batch.prev->next = &batch;
	list_init(&pumps);
	while (!list_empty(&batch)) {
		struct agent_src *src = container_of(batch.next, struct agent_src, pump_link);

		list_del(&src->pump_link);
		list_add_tail(&pumps,
			      &src->pump_link); /* src_update() takes it off if it must wait */
		if (src_can(src))
			src_read(src);
		else
			src_update(src);
	}
}

bool stream_pumping(void)
{
	return !list_empty(&pumps);
}

/* ---- the sink: IN bytes → guest fd; credit granted as the fd takes them ---- */

void stream_consumed(struct agent_stream *s, size_t n)
{
	uint8_t credit[4];

	if (s->ended || s->in_closed)
		return;
	s->in_unacked += (uint32_t)n;
	if (s->in_unacked < AGENT_CREDIT_BATCH)
		return;
	frame_credit_put(credit, s->in_unacked);
	conn_send(s->conn, FRAME_CREDIT, CHAN_IN, s->id, credit, sizeof(credit));
	s->in_window += s->in_unacked;
	s->in_unacked = 0;
}

static void sink_drop_buf(struct agent_sink *k)
{
	if (k->len > k->off)
		conn_in_held(k->s->conn, -(long)(k->len - k->off));
	free(k->buf);
	k->buf = NULL;
	k->off = k->len = k->cap = 0;
}

/* The fd is done: closed, for sockets after a half-close. */
static void sink_finish(struct agent_sink *k, bool shut)
{
	struct agent_stream *s = k->s;

	if (shut && k->sock)
		shutdown(k->w.fd, SHUT_WR);
	agent_watch_close(&k->w);
	sink_drop_buf(k);
	k->closed = true;
	if (k->closing && s->ops->in_closed)
		s->ops->in_closed(s);
}

/* The reader went away (EPIPE...): what is held and what comes is dropped, as consumed. */
static void sink_broken(struct agent_sink *k)
{
	stream_consumed(k->s, k->len - k->off);
	sink_finish(k, false);
}

/* Write what the fd takes. Returns bytes written, or -errno (not EAGAIN). */
static ssize_t sink_write(struct agent_sink *k, const uint8_t *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = write(k->w.fd, p + done, n - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w < 0)
			return -errno;
		done += (size_t)w;
	}
	k->bytes += done;
	return (ssize_t)done;
}

static void sink_flush(struct agent_sink *k)
{
	struct agent_stream *s = k->s;
	ssize_t n = 0;

	if (k->len > k->off && !k->hold) {
		n = sink_write(k, k->buf + k->off, k->len - k->off);
		if (n < 0) {
			sink_broken(k);
			return;
		}
		k->off += (size_t)n;
		conn_in_held(s->conn, -(long)n);
		stream_consumed(s, (size_t)n);
	}
	if (k->off == k->len)
		k->off = k->len = 0;
	if (!k->len && k->closing && !k->hold) {
		sink_finish(k, true);
		return;
	}
	agent_watch_set(&k->w, k->len && !k->hold ? EPOLLOUT : 0);
}

static void sink_event(struct agent_watch *w, uint32_t events)
{
	sink_flush(container_of(w, struct agent_sink, w));
}

static int sink_append(struct agent_sink *k, const uint8_t *p, size_t n)
{
	if (k->off && k->cap - k->len < n) {
		memmove(k->buf, k->buf + k->off, k->len - k->off);
		k->len -= k->off;
		k->off = 0;
	}
	if (k->cap - k->len < n) {
		size_t cap = k->cap ? k->cap : SINK_MIN_CAP;
		uint8_t *b;

		while (cap - k->len < n)
			cap *= 2;
		b = realloc(k->buf, cap);
		if (!b)
			return -ENOMEM;
		k->buf = b;
		k->cap = cap;
	}
	memcpy(k->buf + k->len, p, n);
	k->len += n;
	conn_in_held(k->s->conn, (long)n);
	return 0;
}

static void sink_push(struct agent_sink *k, const uint8_t *p, size_t n)
{
	struct agent_stream *s = k->s;
	ssize_t done = 0;

	if (!k->closed && !k->len && !k->hold) {
		done = sink_write(k, p, n);
		if (done < 0)
			sink_broken(k);
	}
	if (k->closed) { /* dropped: the reader is gone, or there never was one */
		stream_consumed(s, n);
		return;
	}
	if ((size_t)done < n && sink_append(k, p + done, n - (size_t)done) < 0) {
		stream_fail(s, ENOMEM, "%s: out of memory for input", s->ops->op);
		return;
	}
	if (done)
		stream_consumed(s, (size_t)done);
	agent_watch_set(&k->w, k->len && !k->hold ? EPOLLOUT : 0);
}

int stream_sink_open(struct agent_stream *s, int fd, bool sock, bool hold)
{
	struct agent_sink *k = &s->sink;
	int rc;

	k->used = true;
	if (fd < 0) { /* no reader: IN bytes are dropped */
		k->closed = true;
		return 0;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	rc = agent_watch_add(&k->w, fd, 0, sink_event);
	if (rc < 0) {
		close(fd);
		k->closed = true;
		return rc;
	}
	k->sock = sock;
	k->hold = hold;
	return 0;
}

void stream_sink_release(struct agent_stream *s)
{
	s->sink.hold = false;
	if (!s->sink.closed)
		sink_flush(&s->sink);
}

/* ---- frames from the host ---- */

void stream_in_data(struct agent_stream *s, uint8_t chan, const uint8_t *p, size_t n)
{
	if (chan != CHAN_IN) {
		stream_fail(s, EINVAL, "DATA on channel %u: the host sends on IN (0) only", chan);
	} else if (s->in_closed) {
		stream_fail(s, EINVAL, "DATA on IN after its CLOSE");
	} else if (n > s->in_window) {
		stream_fail(s, EINVAL, "DATA beyond the credit: %zu bytes with %u granted", n,
			    s->in_window);
	} else if (s->sink.used) {
		s->in_window -= (uint32_t)n;
		sink_push(&s->sink, p, n);
	} else if (s->ops->in_data) {
		s->in_window -= (uint32_t)n;
		s->ops->in_data(s, p, n);
		stream_consumed(s, n);
	} else {
		stream_fail(s, EINVAL, "%s takes no DATA", s->ops->op);
	}
}

void stream_in_close(struct agent_stream *s, uint8_t chan)
{
	struct agent_sink *k = &s->sink;

	if (chan != CHAN_IN) {
		stream_fail(s, EINVAL, "CLOSE on channel %u: the host closes IN (0) only", chan);
		return;
	}
	if (s->in_closed) {
		stream_fail(s, EINVAL, "CLOSE on IN twice");
		return;
	}
	s->in_closed = true;
	if (k->used && !k->closed) {
		k->closing = true;
		if (!k->len && !k->hold) /* a held socket is still connecting: later */
			sink_finish(k, true);
	} else if (s->ops->in_closed) {
		s->ops->in_closed(s);
	}
}

void stream_credit(struct agent_stream *s, uint8_t chan, uint32_t n)
{
	uint64_t v;

	if (chan == CHAN_IN) {
		stream_fail(s, EINVAL, "CREDIT on IN: the agent grants IN credit");
		return;
	}
	v = (uint64_t)s->credit[chan] + n;
	s->credit[chan] = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	src_update(&s->src[chan - CHAN_OUT]);
}

/* ---- replies and the end ---- */

void stream_reply(struct agent_stream *s, json_t *obj)
{
	if (s->ended) {
		json_decref(obj);
		return;
	}
	conn_send_json(s->conn, s->id, obj);
}

void stream_final(struct agent_stream *s, json_t *obj)
{
	stream_reply(s, obj);
	stream_end(s);
}

void stream_fail(struct agent_stream *s, int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	stream_final(s, agent_error_json(err, msg));
}

void stream_end(struct agent_stream *s)
{
	if (s->ended)
		return;
	s->ended = true;
	if (s->ops->release)
		s->ops->release(s);
	for (int i = 0; i < 2; i++) {
		agent_watch_close(&s->src[i].w);
		list_del(&s->src[i].pump_link);
	}
	agent_watch_close(&s->sink.w);
	sink_drop_buf(&s->sink);
	conn_stream_del(s->conn, s);
	agent_bury(&s->grave, s, NULL);
}
