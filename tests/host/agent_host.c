/*
 * Host-side test client for the guest agent (static aarch64,
 * build/aarch64/torpor-test-agent): raw frames of docs/agent-protocol.md,
 * well-formed and malformed, through the VMM's vsock socket, and checks of
 * every reply. No JSON library: the agent's replies are compact JSON, read
 * with a small key lookup.
 *
 * usage: torpor-test-agent ADDR [-t SECONDS] CHECK...
 *   ADDR   vsock:UDS  the VMM's socket ("CONNECT 1024\n", expects "OK <n>\n")
 *          unix:PATH  a Unix socket the agent listens on itself (a test build)
 *   CHECK  one of the names in checks[] (agent_host_checks2.h), or "all"
 *          (every one but "wait" and "shutdown"; with unix:, not "guest"
 *          either: it sets the clock); "wait" retries a ping for up to -t
 *          seconds (default 60) until the agent answers.
 * Output: "AGENT-CHECK <name> ok [detail]" or "AGENT-CHECK <name> FAIL <why>"
 * per check, then "AGENT-DONE ok=N fail=N". Exit status 0 iff none failed.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "guest-init/proto.c" /* the decoder under test's twin: one file per host tool */

#define WAIT_MS      30000 /* a reply under nested emulation */
#define MAX_STREAMS  1024
#define OUT_HIGH     (1u << 20)

struct mail {
	struct mail *next;
	struct frame_header h;
	uint8_t *p; /* h.len bytes, NUL-terminated */
};

struct sstate {
	uint32_t id;
	uint32_t in_credit; /* IN bytes we may still send */
	bool no_auto;       /* do not grant OUT/ERR credit on receipt */
	uint64_t held;      /* OUT/ERR bytes received but not granted (no_auto) */
};

struct cl {
	int fd;
	bool eof;
	struct frame_reader rd;
	uint8_t payload[FRAME_MAX_PAYLOAD];
	uint8_t *out;
	size_t out_off, out_len, out_cap;
	struct mail *head, **tail;
	struct sstate st[MAX_STREAMS];
	unsigned nst;
};

static const char *g_addr;
static int g_wait_s = 60;
static char g_why[512];

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int failf(const char *fmt, ...)
{
	char why[sizeof(g_why)]; /* the arguments may be g_why itself */
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	memcpy(g_why, why, sizeof(g_why));
	return -1;
}

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			return failf(__VA_ARGS__);                                                 \
	} while (0)

/* ---- JSON, the little we need ---- */

/* The value of "key" in compact JSON: a string's bytes (escapes kept) or a literal. */
static const char *jval(const char *json, const char *key, char *out, size_t n)
{
	char pat[80];
	const char *p;
	size_t i = 0;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	if (*p == '"') {
		for (p++; *p && *p != '"' && i + 2 < n; p++) {
			if (*p == '\\' && p[1])
				out[i++] = *p++;
			out[i++] = *p;
		}
	} else {
		while (*p && *p != ',' && *p != '}' && *p != ']' && i + 1 < n)
			out[i++] = *p++;
	}
	out[i] = '\0';
	return out;
}

static bool jis(const char *json, const char *key, const char *want)
{
	char buf[256];

	return jval(json, key, buf, sizeof(buf)) && !strcmp(buf, want);
}

static long long jnum(const char *json, const char *key)
{
	char buf[64];

	return jval(json, key, buf, sizeof(buf)) ? strtoll(buf, NULL, 10) : -1;
}

/* ---- connection ---- */

static struct sstate *st_get(struct cl *c, uint32_t id)
{
	for (unsigned i = 0; i < c->nst; i++)
		if (c->st[i].id == id)
			return &c->st[i];
	if (c->nst == MAX_STREAMS)
		abort();
	c->st[c->nst] = (struct sstate){ .id = id, .in_credit = FRAME_WINDOW };
	return &c->st[c->nst++];
}

static void queue(struct cl *c, const void *p, size_t n)
{
	if (c->out_cap - c->out_len < n) {
		if (c->out)
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
		while (c->out_cap - c->out_len < n)
			c->out_cap = c->out_cap ? 2 * c->out_cap : 65536;
		c->out = realloc(c->out, c->out_cap);
		if (!c->out)
			abort();
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

static void queue_frame(struct cl *c, uint8_t type, uint8_t chan, uint32_t stream,
			const void *p, size_t n)
{
	struct frame_header h = { .len = (uint32_t)n, .type = type, .channel = chan, .stream = stream };
	uint8_t hdr[FRAME_HEADER_SIZE];

	frame_header_encode(&h, hdr);
	queue(c, hdr, sizeof(hdr));
	if (n)
		queue(c, p, n);
}

static void queue_credit(struct cl *c, uint32_t stream, uint8_t chan, uint32_t n)
{
	uint8_t b[4];

	frame_credit_put(b, n);
	queue_frame(c, FRAME_CREDIT, chan, stream, b, 4);
}

static void on_frame(struct cl *c)
{
	struct mail *m = calloc(1, sizeof(*m));
	struct sstate *s;

	if (!m || !(m->p = malloc(c->rd.h.len + 1)))
		abort();
	m->h = c->rd.h;
	memcpy(m->p, c->rd.payload, m->h.len);
	m->p[m->h.len] = 0;
	if (m->h.type == FRAME_CREDIT && m->h.len == 4 && m->h.channel == CHAN_IN)
		st_get(c, m->h.stream)->in_credit += frame_credit_get(m->p);
	if (m->h.type == FRAME_DATA) {
		s = st_get(c, m->h.stream);
		if (s->no_auto)
			s->held += m->h.len;
		else
			queue_credit(c, m->h.stream, m->h.channel, m->h.len);
	}
	*c->tail = m;
	c->tail = &m->next;
}

/* One round of I/O: write what is queued, read and decode what came. */
static int cl_io(struct cl *c, int timeout_ms)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	uint8_t buf[65536];
	ssize_t n;

	if (c->out_off < c->out_len)
		p.events |= POLLOUT;
	if (poll(&p, 1, timeout_ms) <= 0)
		return 0;
	if (p.revents & POLLOUT) {
		n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n > 0)
			c->out_off += (size_t)n;
		else if (n < 0 && errno != EAGAIN)
			c->eof = true;
	}
	if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
		return 0;
	n = read(c->fd, buf, sizeof(buf));
	if (n <= 0) {
		c->eof = true;
		return -1;
	}
	for (size_t off = 0; off < (size_t)n;) {
		bool ready;

		off += frame_reader_feed(&c->rd, buf + off, (size_t)n - off, &ready);
		if (c->rd.fatal) {
			c->eof = true;
			return failf("the agent sent a frame over the length limit");
		}
		if (ready)
			on_frame(c);
	}
	return 0;
}

static int cl_flush(struct cl *c)
{
	int64_t end = now_ms() + WAIT_MS;

	while (c->out_off < c->out_len && !c->eof && now_ms() < end)
		cl_io(c, 100);
	return c->out_off == c->out_len ? 0 : failf("could not send (peer gone or stuck)");
}

/* The next frame on stream (taken off the mailbox; free with mail_free), or NULL at timeout/EOF. */
static struct mail *cl_next(struct cl *c, uint32_t stream, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	for (;;) {
		for (struct mail **pp = &c->head; *pp; pp = &(*pp)->next) {
			struct mail *m = *pp;

			if (m->h.stream != stream)
				continue;
			*pp = m->next;
			if (!*pp)
				c->tail = pp;
			return m;
		}
		if (c->eof || now_ms() >= end)
			return NULL;
		cl_io(c, 50);
	}
}

static void mail_free(struct mail *m)
{
	if (m) {
		free(m->p);
		free(m);
	}
}

static int unix_connect(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* "CONNECT 1024\n" and the VMM's "OK <n>\n", a byte at a time (nothing after it is ours). */
static int vsock_handshake(int fd)
{
	char line[80];
	size_t n = 0;
	char ch;

	if (write(fd, "CONNECT 1024\n", 13) != 13)
		return -1;
	while (n + 1 < sizeof(line)) {
		if (read(fd, &ch, 1) != 1)
			return -1;
		if (ch == '\n')
			break;
		line[n++] = ch;
	}
	line[n] = 0;
	return strncmp(line, "OK ", 3) ? failf("handshake: \"%s\"", line) : 0;
}

static struct cl *cl_open(void)
{
	bool vsock = !strncmp(g_addr, "vsock:", 6);
	struct cl *c;
	int fd;

	fd = unix_connect(g_addr + (vsock ? 6 : 5));
	if (fd < 0) {
		failf("connect %s: %s", g_addr, strerror(errno));
		return NULL;
	}
	if (vsock && vsock_handshake(fd) < 0) {
		if (!g_why[0])
			failf("handshake with %s failed", g_addr);
		close(fd);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->fd = fd;
	c->tail = &c->head;
	frame_reader_init(&c->rd, c->payload);
	return c;
}

static void cl_close(struct cl *c)
{
	if (!c)
		return;
	while (c->head) {
		struct mail *m = c->head;

		c->head = m->next;
		mail_free(m);
	}
	close(c->fd);
	free(c->out);
	free(c);
}

static void ctrl(struct cl *c, uint32_t stream, const char *json)
{
	queue_frame(c, FRAME_CTRL, 0, stream, json, strlen(json));
}

/* The next CTRL reply on stream, skipping DATA/CLOSE (counted in *data if given). */
static struct mail *next_ctrl(struct cl *c, uint32_t stream, int timeout_ms)
{
	struct mail *m;

	while ((m = cl_next(c, stream, timeout_ms)) && m->h.type != FRAME_CTRL)
		mail_free(m);
	return m;
}

/* Expect a CTRL reply of type want on stream; copies its JSON to out. */
static int expect(struct cl *c, uint32_t stream, const char *want, char *out, size_t n)
{
	struct mail *m = next_ctrl(c, stream, WAIT_MS);

	if (!m)
		return failf("stream %u: no reply (wanted %s)%s", stream, want, c->eof ? ", EOF" : "");
	snprintf(out, n, "%s", (char *)m->p);
	mail_free(m);
	CHECK(jis(out, "type", want), "stream %u: wanted %s, got %s", stream, want, out);
	return 0;
}

struct run {
	uint8_t *out, *err; /* accumulated DATA */
	size_t out_len, err_len;
	bool out_closed, err_closed;
	char final[4096]; /* the final reply */
};

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* Collect a stream's DATA and CLOSEs until its final reply. */
static int collect(struct cl *c, uint32_t stream, struct run *r)
{
	struct mail *m;

	memset(r, 0, sizeof(*r));
	while ((m = cl_next(c, stream, WAIT_MS))) {
		if (m->h.type == FRAME_DATA) {
			uint8_t **b = m->h.channel == CHAN_ERR ? &r->err : &r->out;
			size_t *l = m->h.channel == CHAN_ERR ? &r->err_len : &r->out_len;

			*b = realloc(*b, *l + m->h.len + 1);
			memcpy(*b + *l, m->p, m->h.len);
			*l += m->h.len;
			(*b)[*l] = 0;
		} else if (m->h.type == FRAME_CLOSE) {
			*(m->h.channel == CHAN_ERR ? &r->err_closed : &r->out_closed) = true;
		} else if (m->h.type == FRAME_CTRL && !jis((char *)m->p, "type", "started")) {
			snprintf(r->final, sizeof(r->final), "%s", (char *)m->p);
			mail_free(m);
			return 0;
		}
		mail_free(m);
	}
	return failf("stream %u: no final reply%s", stream, c->eof ? " (EOF)" : "");
}

/* Send n IN bytes within the credit the agent grants, reading meanwhile. */
static int send_in(struct cl *c, uint32_t stream, const uint8_t *p, size_t n)
{
	struct sstate *s = st_get(c, stream);
	int64_t end = now_ms() + WAIT_MS;

	while (n) {
		size_t k = n < FRAME_MAX_PAYLOAD ? n : FRAME_MAX_PAYLOAD;

		if (k > s->in_credit)
			k = s->in_credit;
		if (!k || c->out_len - c->out_off > OUT_HIGH) {
			CHECK(!c->eof && now_ms() < end, "stream %u: no IN credit (%u)", stream,
			      s->in_credit);
			cl_io(c, 50);
			s = st_get(c, stream);
			continue;
		}
		queue_frame(c, FRAME_DATA, CHAN_IN, stream, p, k);
		s->in_credit -= (uint32_t)k;
		p += k;
		n -= k;
		end = now_ms() + WAIT_MS;
	}
	return 0;
}

/* argv as JSON: "a","b" from a NULL-terminated list. */
static void json_argv(char *buf, size_t n, const char *const *argv)
{
	size_t off = 0;

	for (int i = 0; argv[i]; i++) {
		off += (size_t)snprintf(buf + off, n - off, "%s\"", i ? "," : "");
		for (const char *q = argv[i]; *q && off + 3 < n; q++) {
			if (*q == '"' || *q == '\\')
				buf[off++] = '\\';
			buf[off++] = *q;
		}
		off += (size_t)snprintf(buf + off, n - off, "\"");
	}
}

/* Open an exec stream running sh -c script; more: extra fields (",\"k\":v...", or ""). */
static void exec_sh(struct cl *c, uint32_t stream, const char *script, const char *more)
{
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	char a[8192], req[9000];

	json_argv(a, sizeof(a), argv);
	snprintf(req, sizeof(req), "{\"op\":\"exec\",\"argv\":[%s]%s}", a, more);
	ctrl(c, stream, req);
}

/* Run a script to its end on a new stream; r gets the outputs and the final reply. */
static int run_sh(struct cl *c, uint32_t stream, const char *script, const char *more,
		  struct run *r)
{
	char buf[512];

	exec_sh(c, stream, script, more);
	if (expect(c, stream, "started", buf, sizeof(buf)) < 0)
		return -1;
	queue_frame(c, FRAME_CLOSE, CHAN_IN, stream, NULL, 0);
	return collect(c, stream, r);
}

static int ping(struct cl *c, uint32_t stream)
{
	char buf[512];

	ctrl(c, stream, "{\"op\":\"ping\"}");
	if (expect(c, stream, "result", buf, sizeof(buf)) < 0)
		return -1;
	CHECK(jnum(buf, "proto") == 1, "ping: proto: %s", buf);
	return 0;
}

#include "agent_host_checks.h"
