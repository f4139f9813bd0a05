/* The agent's relay (a stream to a TCP port in the guest) and ready (wait until a port accepts). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent_int.h"
#include "agent_req.h"
#include "appcfg.h"

#define READY_RETRY_MS 20 /* between refused connects */

union sockaddr_any {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

static socklen_t make_addr(union sockaddr_any *a, const char *host, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, host, &a->in.sin_addr) == 1) {
		a->in.sin_family = AF_INET;
		a->in.sin_port = htons(port);
		return sizeof(a->in);
	}
	inet_pton(AF_INET6, host, &a->in6.sin6_addr); /* checked by req_relay_parse() */
	a->in6.sin6_family = AF_INET6;
	a->in6.sin6_port = htons(port);
	return sizeof(a->in6);
}

/* A non-blocking connect: the socket, connected (*done) or in progress; -errno if refused. */
static int tcp_connect(const union sockaddr_any *a, socklen_t len, bool *done)
{
	int rc, fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	*done = connect(fd, &a->sa, len) == 0;
	if (*done || errno == EINPROGRESS)
		return fd;
	rc = -errno;
	close(fd);
	return rc;
}

/* The outcome of a connect that was in progress: 0 or -errno. */
static int sock_error(int fd)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return -err;
}

/* ---- relay ---- */

struct relay_stream {
	struct agent_stream s;
	struct agent_watch connecting; /* the socket until it is connected */
	char where[64];		       /* host:port, for messages */
};

static void relay_check_done(struct agent_stream *s)
{
	if (!stream_src_done(s, CHAN_OUT) || !s->in_closed || !s->sink.closed)
		return;
	stream_final(s,
		     json_pack("{s:s,s:I,s:I}", "type", "result", "sent", (json_int_t)s->sink.bytes,
			       "received", (json_int_t)s->src[0].bytes));
}

static void relay_src_done(struct agent_stream *s, struct agent_src *src, int err)
{
	struct relay_stream *x = container_of(s, struct relay_stream, s);

	if (err)
		stream_fail(s, -err, "relay %s: %s", x->where, strerror(-err));
	else
		relay_check_done(s);
}

static void relay_release(struct agent_stream *s)
{
	agent_watch_close(&container_of(s, struct relay_stream, s)->connecting);
}

static const struct stream_ops relay_ops = {
    .op = "relay",
    .in_closed = relay_check_done,
    .src_done = relay_src_done,
    .release = relay_release,
};

/* Connected: the socket becomes the OUT source; IN bytes held so far go out. */
static void relay_connected(struct relay_stream *x, int fd)
{
	int rc = stream_src_open(&x->s, CHAN_OUT, fd, false);

	if (rc < 0) {
		stream_fail(&x->s, -rc, "relay %s: %s", x->where, strerror(-rc));
		return;
	}
	stream_reply(&x->s, json_pack("{s:s}", "type", "started"));
	stream_sink_release(&x->s);
}

static void relay_connect_event(struct agent_watch *w, uint32_t events)
{
	struct relay_stream *x = container_of(w, struct relay_stream, connecting);
	int fd = w->fd, rc = sock_error(fd);

	if (rc < 0) {
		stream_fail(&x->s, -rc, "connect %s: %s", x->where, strerror(-rc));
		return;
	}
	agent_watch_del(w);
	w->fd = -1; /* the source owns it now */
	relay_connected(x, fd);
}

void op_relay(struct agent_conn *c, uint32_t id, json_t *req)
{
	struct relay_stream *x;
	union sockaddr_any a;
	struct req_relay r;
	struct req_err e;
	socklen_t alen;
	int fd, dup, rc;
	bool done;

	if (req_relay_parse(req, &r, &e)) {
		conn_reply_error(c, id, EINVAL, "relay: %s", e.msg);
		return;
	}
	alen = make_addr(&a, r.host, r.port);
	x = stream_new(c, id, &relay_ops, sizeof(*x));
	if (!x)
		return;
	agent_watch_init(&x->connecting);
	snprintf(x->where, sizeof(x->where), a.sa.sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u",
		 r.host, r.port);
	fd = tcp_connect(&a, alen, &done);
	if (fd < 0) {
		stream_fail(&x->s, -fd, "connect %s: %s", x->where, strerror(-fd));
		return;
	}
	dup = fcntl(fd, F_DUPFD_CLOEXEC, 3); /* the sink's fd: half-closes with SHUT_WR */
	rc = dup < 0 ? -errno : stream_sink_open(&x->s, dup, true, true);
	if (!rc && !done)
		rc = agent_watch_add(&x->connecting, fd, EPOLLOUT, relay_connect_event);
	if (rc < 0) {
		close(fd);
		stream_fail(&x->s, -rc, "relay %s: %s", x->where, strerror(-rc));
		return;
	}
	if (done)
		relay_connected(x, fd);
}

/* ---- ready ---- */

struct ready_stream {
	struct agent_stream s;
	struct agent_watch sock;
	struct agent_timer timer;
	union sockaddr_any addr;
	int64_t start, deadline;
};

static void ready_release(struct agent_stream *s)
{
	struct ready_stream *x = container_of(s, struct ready_stream, s);

	agent_watch_close(&x->sock);
	agent_timer_close(&x->timer);
}

static const struct stream_ops ready_ops = {
    .op = "ready",
    .release = ready_release,
};

static void ready_ok(struct ready_stream *x)
{
	stream_final(&x->s, json_pack("{s:s,s:i,s:I}", "type", "result", "port",
				      (int)ntohs(x->addr.in.sin_port), "waited_ms",
				      (json_int_t)(agent_now_ms() - x->start)));
}

/* Refused (or failed): try again in a moment, or give up at the deadline. */
static void ready_again(struct ready_stream *x)
{
	int64_t left = x->deadline - agent_now_ms();

	agent_watch_close(&x->sock);
	if (left <= 0) {
		stream_fail(&x->s, ETIMEDOUT, "timeout");
		return;
	}
	agent_timer_arm(&x->timer, (uint64_t)(left < READY_RETRY_MS ? left : READY_RETRY_MS));
}

static void ready_sock_event(struct agent_watch *w, uint32_t events)
{
	struct ready_stream *x = container_of(w, struct ready_stream, sock);

	if (sock_error(w->fd) == 0)
		ready_ok(x);
	else
		ready_again(x);
}

static void ready_try(struct ready_stream *x)
{
	bool done;
	int fd = tcp_connect(&x->addr, sizeof(x->addr.in), &done);

	if (fd >= 0 && done) {
		close(fd);
		ready_ok(x);
		return;
	}
	if (fd >= 0 && agent_watch_add(&x->sock, fd, EPOLLOUT, ready_sock_event) == 0) {
		/* A connect that hangs (a full backlog) is cut at the deadline. */
		agent_timer_arm(&x->timer, (uint64_t)(x->deadline - agent_now_ms()));
		return;
	}
	if (fd >= 0)
		close(fd);
	ready_again(x);
}

static void ready_timer(struct agent_timer *t)
{
	struct ready_stream *x = container_of(t, struct ready_stream, timer);

	if (agent_now_ms() >= x->deadline)
		stream_fail(&x->s, ETIMEDOUT, "timeout");
	else if (x->sock.fd < 0)
		ready_try(x);
}

/* The port to wait for: the request's, or the app's from app.json. 0 after an error reply. */
static uint16_t ready_port(struct agent_conn *c, uint32_t id, const struct req_ready *r)
{
	struct appcfg app;
	char err[512];
	uint16_t port;
	int rc;

	if (r->has_port)
		return r->port;
	rc = appcfg_load(APPCFG_PATH, &app, err, sizeof(err));
	port = rc < 0 ? 0 : (uint16_t)app.port;
	appcfg_free(&app);
	if (rc == -ENOENT)
		conn_reply_error(c, id, EINVAL, "ready: no port given and no %s", APPCFG_PATH);
	else if (rc < 0)
		conn_reply_error(c, id, -rc, "ready: %s", err);
	else if (!port)
		conn_reply_error(c, id, EINVAL, "ready: no port given and %s has none",
				 APPCFG_PATH);
	return port;
}

void op_ready(struct agent_conn *c, uint32_t id, json_t *req)
{
	struct ready_stream *x;
	struct req_ready r;
	struct req_err e;
	uint16_t port;
	int rc;

	if (req_ready_parse(req, &r, &e)) {
		conn_reply_error(c, id, EINVAL, "ready: %s", e.msg);
		return;
	}
	port = ready_port(c, id, &r);
	if (!port)
		return;
	x = stream_new(c, id, &ready_ops, sizeof(*x));
	if (!x)
		return;
	agent_watch_init(&x->sock);
	make_addr(&x->addr, "127.0.0.1", port);
	x->start = agent_now_ms();
	x->deadline = x->start + (int64_t)r.timeout_ms;
	rc = agent_timer_open(&x->timer, ready_timer);
	if (rc < 0) {
		stream_fail(&x->s, -rc, "ready: timer: %s", strerror(-rc));
		return;
	}
	ready_try(x);
}
