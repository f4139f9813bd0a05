/* The agent client's core: frames in and out, streams, their replies and their credit. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent_int.h"

#define TX_CREDIT_MAX (1ull << 40) /* more than any honest agent grants */
#define READS_PER_HANDLE 16

void agent__errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* --- Connection ----------------------------------------------------------- */

static void conn_fail(struct agent_conn *c, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void handle_frame(struct agent_conn *c);

static int decode(struct agent_conn *c, const uint8_t *buf, size_t len)
{
	while (len && !c->status) {
		bool ready;
		size_t used = frame_reader_feed(&c->rd, buf, len, &ready);

		if (c->rd.fatal) {
			conn_fail(c, -EPROTO, "the agent sent a frame of %u bytes (at most %u): "
				  "protocol error", c->rd.h.len, FRAME_MAX_PAYLOAD);
			return c->status;
		}
		buf += used;
		len -= used;
		if (ready)
			handle_frame(c);
	}
	return c->status;
}

struct agent_conn *agent_conn_new(int fd, const void *pre, size_t pre_len)
{
	struct agent_conn *c = calloc(1, sizeof(*c));
	int fl;

	if (c) {
		c->payload = malloc(FRAME_MAX_PAYLOAD);
		c->inbuf = malloc(AGENT_INBUF);
	}
	if (!c || !c->payload || !c->inbuf || pre_len > AGENT_INBUF) {
		if (c) {
			free(c->payload);
			free(c->inbuf);
		}
		free(c);
		close(fd);
		return NULL;
	}
	c->fd = fd;
	fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	frame_reader_init(&c->rd, c->payload);
	if (pre_len) {
		/* Before any stream exists: only stream-0 messages can matter. */
		memcpy(c->inbuf, pre, pre_len);
		decode(c, c->inbuf, pre_len);
	}
	return c;
}

int agent_conn_fd(const struct agent_conn *c)
{
	return c->fd;
}

bool agent_conn_want_write(const struct agent_conn *c)
{
	return !c->status && c->out_len > c->out_off;
}

int agent_conn_status(const struct agent_conn *c)
{
	return c->status;
}

const char *agent_conn_error(const struct agent_conn *c)
{
	return c->err;
}

size_t agent_conn_nstreams(const struct agent_conn *c)
{
	return c->nstreams;
}

struct agent_stream *agent__find(struct agent_conn *c, uint32_t id)
{
	for (size_t i = 0; i < c->nstreams; i++)
		if (c->streams[i]->id == id)
			return c->streams[i];
	return NULL;
}

static void stream_free(struct agent_stream *s)
{
	agent__bridge_free(s);
	json_decref(s->held_msg);
	free(s->held_error);
	free(s);
}

/* Free the streams that are over; never called from inside a callback. */
static void reap(struct agent_conn *c)
{
	size_t i = 0;

	while (i < c->nstreams) {
		struct agent_stream *s = c->streams[i];

		if (s->ended && !s->end_held && (s->final_seen || c->status)) {
			c->streams[i] = c->streams[--c->nstreams];
			stream_free(s);
		} else {
			i++;
		}
	}
}

/* Call on_end once (unless detached); the stream is reaped later. */
static void deliver_end(struct agent_stream *s, const struct agent_end *e)
{
	if (s->ended)
		return;
	s->ended = true;
	s->end_held = false;
	if (!s->detached && s->ops && s->ops->on_end)
		s->ops->on_end(s, e, s->arg);
}

static void end_local(struct agent_stream *s, int rc, const char *msg)
{
	struct agent_end e = {
		.kind = AGENT_END_ERROR, .err = -rc, .error = msg, .local = true,
	};

	deliver_end(s, &e);
}

static void conn_fail(struct agent_conn *c, int rc, const char *fmt, ...)
{
	char msg[sizeof(c->err) + 40];
	va_list ap;

	if (c->status)
		return;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	c->status = rc;
	shutdown(c->fd, SHUT_RDWR);
	snprintf(msg, sizeof(msg), "connection to the agent lost: %s", c->err);
	/* Streams whose end is only waiting for their output to be written keep it. */
	for (size_t i = 0; i < c->nstreams; i++)
		if (!c->streams[i]->end_held)
			end_local(c->streams[i], rc, msg);
}

void agent_conn_close(struct agent_conn *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nstreams; i++) {
		struct agent_stream *s = c->streams[i];

		if (s->end_held)
			deliver_end(s, &s->held);
		else
			end_local(s, -ECONNABORTED, "the connection was closed");
	}
	for (size_t i = 0; i < c->nstreams; i++)
		stream_free(c->streams[i]);
	close(c->fd);
	free(c->out);
	free(c->inbuf);
	free(c->payload);
	free(c->pmap);
	free(c);
}

/* --- Sending -------------------------------------------------------------- */

int agent__flush(struct agent_conn *c)
{
	while (!c->status && c->out_len > c->out_off) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			int rc = -errno;

			conn_fail(c, rc, "sending: %s", strerror(-rc));
			break;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	return c->status;
}

static int out_reserve(struct agent_conn *c, size_t more)
{
	size_t cap;
	uint8_t *p;

	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_off > c->out_cap / 2) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_len + more <= c->out_cap)
		return 0;
	cap = c->out_cap ? c->out_cap : 65536;
	while (cap < c->out_len + more)
		cap *= 2;
	p = realloc(c->out, cap);
	if (!p)
		return -ENOMEM;
	c->out = p;
	c->out_cap = cap;
	return 0;
}

int agent__send(struct agent_conn *c, uint8_t type, uint8_t chan, uint32_t stream,
		const void *payload, size_t len)
{
	struct frame_header h = {
		.len = (uint32_t)len, .type = type, .channel = chan, .stream = stream,
	};

	if (c->status)
		return c->status;
	if (len > FRAME_MAX_PAYLOAD)
		return -EINVAL;
	if (out_reserve(c, FRAME_HEADER_SIZE + len) < 0)
		return -ENOMEM;
	frame_header_encode(&h, c->out + c->out_len);
	if (len)
		memcpy(c->out + c->out_len + FRAME_HEADER_SIZE, payload, len);
	c->out_len += FRAME_HEADER_SIZE + len;
	return agent__flush(c);
}

static int send_json(struct agent_conn *c, uint32_t stream, const json_t *msg)
{
	char *text;
	size_t len;
	int rc;

	if (!json_is_object(msg))
		return -EINVAL;
	text = json_dumps(msg, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	len = strlen(text);
	rc = len > FRAME_MAX_PAYLOAD ? -EINVAL : agent__send(c, FRAME_CTRL, 0, stream, text, len);
	free(text);
	return rc;
}

/* --- Receiving ------------------------------------------------------------ */

void agent__fail_stream(struct agent_stream *s, int rc, const char *msg)
{
	if (!s->final_seen && !s->cancel_sent) {
		json_t *m = json_pack("{s:s}", "op", "cancel");

		s->cancel_sent = true;
		if (m)
			send_json(s->conn, s->id, m);
		json_decref(m);
	}
	s->end_held = false;
	end_local(s, rc, msg);
}

static void bad_stream(struct agent_stream *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void bad_stream(struct agent_stream *s, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	agent__fail_stream(s, -EPROTO, msg);
}

static const char *end_type(const json_t *msg)
{
	return json_string_value(json_object_get(msg, "type"));
}

/* Fill e from a final reply; e->error points into msg. */
static void end_from_msg(json_t *msg, struct agent_end *e)
{
	const char *type = end_type(msg);
	json_t *v;

	memset(e, 0, sizeof(*e));
	e->msg = msg;
	if (!strcmp(type, "result")) {
		e->kind = AGENT_END_RESULT;
	} else if (!strcmp(type, "exit")) {
		e->kind = AGENT_END_EXIT;
		e->status = -1;
		v = json_object_get(msg, "status");
		if (json_is_integer(v) && json_integer_value(v) >= 0 &&
		    json_integer_value(v) <= 255)
			e->status = (int)json_integer_value(v);
		v = json_object_get(msg, "signal");
		if (json_is_integer(v) && json_integer_value(v) > 0 &&
		    json_integer_value(v) < 128)
			e->signal = (int)json_integer_value(v);
		e->timed_out = json_is_true(json_object_get(msg, "timed_out"));
	} else {
		const char *en = json_string_value(json_object_get(msg, "errno"));

		e->kind = AGENT_END_ERROR;
		e->error = json_string_value(json_object_get(msg, "error"));
		if (!e->error)
			e->error = "the agent reported an error without a message";
		e->err = en ? agent_errno_from_name(en) : 0;
		if (!e->err && !strcmp(e->error, "cancelled"))
			e->err = ECANCELED;
		if (!e->err && !strcmp(e->error, "timeout"))
			e->err = ETIMEDOUT;
		if (!e->err)
			e->err = EREMOTEIO;
	}
}

static void handle_final(struct agent_stream *s, json_t *msg)
{
	struct agent_end e;

	s->final_seen = true;
	if (s->ended)
		return;
	end_from_msg(msg, &e);
	if (agent__bridge_pending(s)) {
		/* Deliver once the bridge has written out what came before it. */
		s->held = e;
		s->held_msg = json_incref(msg);
		s->held.msg = msg;
		if (e.error) {
			s->held_error = strdup(e.error);
			s->held.error = s->held_error ? s->held_error : "out of memory";
		}
		s->end_held = true;
		return;
	}
	deliver_end(s, &e);
}

void agent__end_if_flushed(struct agent_stream *s)
{
	if (s->end_held && !agent__bridge_pending(s))
		deliver_end(s, &s->held);
}

static void handle_ctrl(struct agent_conn *c, struct agent_stream *s, uint32_t id)
{
	json_t *msg = json_loadb((const char *)c->payload, c->rd.h.len, 0, NULL);
	const char *type = end_type(msg);

	if (!json_is_object(msg) || !type) {
		if (s && !s->ended && !s->final_seen)
			bad_stream(s, "the agent sent a reply that is not a JSON object with "
				   "a \"type\"");
		else if (!id)
			snprintf(c->err, sizeof(c->err), "the agent sent a malformed message");
		json_decref(msg);
		return;
	}
	if (!id) {
		const char *e = json_string_value(json_object_get(msg, "error"));

		snprintf(c->err, sizeof(c->err), "agent: %s", e ? e : type);
	} else if (s && !s->final_seen) {
		if (!strcmp(type, "result") || !strcmp(type, "exit") || !strcmp(type, "error"))
			handle_final(s, msg);
		else if (!s->ended && s->ops && s->ops->on_reply)
			s->ops->on_reply(s, msg, s->arg);
	}
	json_decref(msg);
}

static void handle_data(struct agent_stream *s, uint8_t chan, const uint8_t *buf, size_t len)
{
	struct agent_rx *rx = &s->rx[chan];

	if (s->ended || s->final_seen)
		return; /* a stream we gave up on: drop */
	if (chan == CHAN_IN) {
		bad_stream(s, "the agent sent DATA on the IN channel");
		return;
	}
	if (rx->eof) {
		bad_stream(s, "the agent sent DATA on channel %u after its CLOSE", chan);
		return;
	}
	if (len > rx->avail) {
		bad_stream(s, "the agent sent %zu bytes on channel %u with %u of credit", len,
			   chan, rx->avail);
		return;
	}
	rx->avail -= (uint32_t)len;
	rx->unconsumed += (uint32_t)len;
	if (agent__bridge_data(s, chan, buf, len))
		return;
	if (s->ops && s->ops->on_data)
		s->ops->on_data(s, chan, buf, len, s->arg);
	if (!s->manual_credit && !s->ended)
		agent_stream_consume(s, chan, len);
}

static void handle_frame(struct agent_conn *c)
{
	const struct frame_header *h = &c->rd.h;
	struct agent_stream *s = h->stream ? agent__find(c, h->stream) : NULL;

	if (c->rd.bad) {
		if (s && !s->ended && !s->final_seen)
			bad_stream(s, "the agent sent a bad frame: %s", frame_error_str(c->rd.bad));
		else
			snprintf(c->err, sizeof(c->err), "the agent sent a bad frame: %s",
				 frame_error_str(c->rd.bad));
		return;
	}
	if (h->type == FRAME_CTRL) {
		handle_ctrl(c, s, h->stream);
		return;
	}
	if (!s)
		return; /* a stream that is gone (or never was): nothing to do */
	switch (h->type) {
	case FRAME_DATA:
		handle_data(s, h->channel, c->payload, h->len);
		break;
	case FRAME_CLOSE:
		if (h->channel == CHAN_IN || s->rx[h->channel].eof || s->ended || s->final_seen)
			break;
		s->rx[h->channel].eof = true;
		if (s->io && s->io->fd[h->channel] >= 0)
			break;
		if (s->ops && s->ops->on_eof)
			s->ops->on_eof(s, h->channel, s->arg);
		break;
	case FRAME_CREDIT:
		if (h->channel != CHAN_IN || s->ended || s->final_seen)
			break;
		s->tx_credit += frame_credit_get(c->payload);
		if (s->tx_credit > TX_CREDIT_MAX)
			s->tx_credit = TX_CREDIT_MAX;
		if (s->tx_blocked && s->tx_credit && !s->tx_closed) {
			s->tx_blocked = false;
			if (s->ops && s->ops->on_writable)
				s->ops->on_writable(s, s->arg);
		}
		break;
	}
}

int agent_conn_handle(struct agent_conn *c, bool readable, bool writable)
{
	reap(c);
	if (c->status)
		return c->status;
	if (writable)
		agent__flush(c);
	for (int i = 0; readable && i < READS_PER_HANDLE && !c->status; i++) {
		ssize_t n = read(c->fd, c->inbuf, AGENT_INBUF);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			int rc = -errno;

			conn_fail(c, rc, "reading: %s", strerror(-rc));
			break;
		}
		if (n == 0) {
			conn_fail(c, -ECONNRESET, "the agent closed the connection");
			break;
		}
		decode(c, c->inbuf, (size_t)n);
	}
	agent__flush(c);
	reap(c);
	return c->status;
}

/* --- Streams -------------------------------------------------------------- */

struct agent_stream *agent_stream_open(struct agent_conn *c, const json_t *req,
				       const struct agent_stream_ops *ops, void *arg)
{
	struct agent_stream *s;
	int rc;

	if (c->status) {
		errno = -c->status;
		return NULL;
	}
	if (c->nstreams >= AGENT_MAX_STREAMS) {
		errno = EMFILE;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	do {
		c->next_id++;
	} while (!c->next_id || agent__find(c, c->next_id));
	s->conn = c;
	s->id = c->next_id;
	s->ops = ops;
	s->arg = arg;
	s->tx_credit = FRAME_WINDOW;
	s->rx[CHAN_OUT].avail = s->rx[CHAN_ERR].avail = FRAME_WINDOW;
	rc = send_json(c, s->id, req);
	if (rc < 0) {
		free(s);
		errno = -rc;
		return NULL;
	}
	c->streams[c->nstreams++] = s;
	return s;
}

uint32_t agent_stream_id(const struct agent_stream *s)
{
	return s->id;
}

struct agent_conn *agent_stream_conn(const struct agent_stream *s)
{
	return s->conn;
}

size_t agent_stream_credit(const struct agent_stream *s)
{
	return s->tx_closed || s->ended || s->final_seen ? 0 : (size_t)s->tx_credit;
}

ssize_t agent_stream_write(struct agent_stream *s, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t done = 0;

	if (s->conn->status)
		return s->conn->status;
	if (s->tx_closed || s->ended || s->final_seen)
		return -EPIPE;
	while (done < len && s->tx_credit) {
		size_t n = len - done;
		int rc;

		if (n > FRAME_MAX_PAYLOAD)
			n = FRAME_MAX_PAYLOAD;
		if (n > s->tx_credit)
			n = (size_t)s->tx_credit;
		rc = agent__send(s->conn, FRAME_DATA, CHAN_IN, s->id, p + done, n);
		if (rc < 0)
			return done ? (ssize_t)done : rc;
		s->tx_credit -= n;
		done += n;
	}
	if (done < len)
		s->tx_blocked = true;
	return (ssize_t)done;
}

int agent_stream_close_in(struct agent_stream *s)
{
	if (s->tx_closed || s->final_seen)
		return 0;
	s->tx_closed = true;
	return agent__send(s->conn, FRAME_CLOSE, CHAN_IN, s->id, NULL, 0);
}

void agent_stream_set_manual_credit(struct agent_stream *s, bool manual)
{
	s->manual_credit = manual;
}

int agent_stream_consume(struct agent_stream *s, int chan, size_t n)
{
	struct agent_rx *rx;
	uint8_t buf[4];

	if (chan != CHAN_OUT && chan != CHAN_ERR)
		return -EINVAL;
	rx = &s->rx[chan];
	if (n > rx->unconsumed)
		n = rx->unconsumed;
	rx->unconsumed -= (uint32_t)n;
	rx->ungranted += (uint32_t)n;
	if (rx->ungranted < AGENT_CREDIT_BATCH || rx->eof || s->final_seen || s->ended)
		return 0;
	frame_credit_put(buf, rx->ungranted);
	rx->avail += rx->ungranted;
	rx->ungranted = 0;
	return agent__send(s->conn, FRAME_CREDIT, (uint8_t)chan, s->id, buf, sizeof(buf));
}

int agent_stream_ctrl(struct agent_stream *s, const json_t *msg)
{
	if (s->final_seen)
		return -ESRCH;
	return send_json(s->conn, s->id, msg);
}

static int send_op(struct agent_stream *s, json_t *msg)
{
	int rc = msg ? agent_stream_ctrl(s, msg) : -ENOMEM;

	json_decref(msg);
	return rc;
}

int agent_stream_signal(struct agent_stream *s, int sig)
{
	return send_op(s, json_pack("{s:s,s:i}", "op", "signal", "signal", sig));
}

int agent_stream_resize(struct agent_stream *s, unsigned rows, unsigned cols)
{
	return send_op(s, json_pack("{s:s,s:I,s:I}", "op", "resize", "rows", (json_int_t)rows,
				    "cols", (json_int_t)cols));
}

int agent_stream_cancel(struct agent_stream *s)
{
	if (s->cancel_sent || s->final_seen)
		return 0;
	s->cancel_sent = true;
	return send_op(s, json_pack("{s:s}", "op", "cancel"));
}

void agent_stream_detach(struct agent_stream *s)
{
	agent_stream_cancel(s);
	s->detached = true;
	s->ended = true;
	s->end_held = false;
}
