/* Unit tests for devices/vsock/host.c: the Unix-socket host side over real sockets, with a fake
 * guest. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/vsock/core.h"
#include "devices/vsock/host.h"
#include "devices/vsock/packet.h"
#include "evloop.h"
#include "log.h"

#define CID	  3u
#define GBUF	  (64u << 10) /* the fake guest's buf_alloc */
#define MAXGCONNS 512

/*
 * The fake guest: a virtio-vsock driver reduced to what the tests need. It
 * answers host REQUESTs on listening ports, keeps what it receives per
 * stream (consumed = told to the host only when the test says so, or echoed
 * back when echo is on), and sends within the host's credit.
 */
struct gconn {
	bool used, open, connecting, rst, shutdown_rcvd;
	uint32_t gport, hport;
	uint8_t *buf; /* received, not yet consumed */
	size_t len;
	uint32_t rx_cnt, fwd_cnt; /* bytes received / consumed */
	uint32_t tx_cnt, peer_buf_alloc, peer_fwd_cnt;
	size_t total_rcvd;
};

static struct {
	char dir[64], path[128];
	struct evloop *el;
	struct vsock_host *vh;
	struct vsock_core *core;
	struct gconn g[MAXGCONNS];
	bool listening; /* the guest accepts every REQUEST */
	bool echo;	/* the guest echoes what it receives, and closes when the host does */
	bool frozen;	/* the guest takes no packets */
	uint32_t next_gport;
} T;

static struct gconn *g_find(uint32_t gport, uint32_t hport)
{
	for (int i = 0; i < MAXGCONNS; i++)
		if (T.g[i].used && T.g[i].gport == gport && T.g[i].hport == hport)
			return &T.g[i];
	return NULL;
}

static struct gconn *g_new(uint32_t gport, uint32_t hport)
{
	for (int i = 0; i < MAXGCONNS; i++) {
		if (!T.g[i].used) {
			struct gconn *g = &T.g[i];

			memset(g, 0, sizeof(*g));
			g->used = true;
			g->gport = gport;
			g->hport = hport;
			g->buf = malloc(GBUF);
			assert_non_null(g->buf);
			return g;
		}
	}
	fail_msg("fake guest: out of connections");
	return NULL;
}

static void g_tx(struct gconn *g, uint16_t op, uint32_t flags, const void *data, uint32_t len)
{
	struct vsock_hdr h = {
	    .src_cid = CID,
	    .dst_cid = VSOCK_CID_HOST,
	    .src_port = g->gport,
	    .dst_port = g->hport,
	    .len = len,
	    .type = VSOCK_TYPE_STREAM,
	    .op = op,
	    .flags = flags,
	    .buf_alloc = GBUF,
	    .fwd_cnt = g->fwd_cnt,
	};
	uint8_t raw[VSOCK_HDR_SIZE];
	struct iovec iov[2] = {{raw, sizeof(raw)}, {(void *)data, len}};

	vsock_hdr_encode(&h, raw);
	vsock_core_tx(T.core, iov, len ? 2 : 1);
	if (op == VSOCK_OP_RW)
		g->tx_cnt += len;
}

/* The guest reads len bytes of stream g: they leave its buffer, and the host may learn it. */
static void g_consume(struct gconn *g, size_t len, bool tell)
{
	memmove(g->buf, g->buf + len, g->len - len);
	g->len -= len;
	g->fwd_cnt += (uint32_t)len;
	if (tell)
		g_tx(g, VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0);
}

static uint32_t g_credit(const struct gconn *g)
{
	uint32_t in_flight = g->tx_cnt - g->peer_fwd_cnt;

	return in_flight >= g->peer_buf_alloc ? 0 : g->peer_buf_alloc - in_flight;
}

static void g_handle(const struct vsock_hdr *h, const uint8_t *data)
{
	struct gconn *g = g_find(h->dst_port, h->src_port);

	assert_int_equal(h->dst_cid, CID);
	if (!g) {
		if (h->op == VSOCK_OP_REQUEST && T.listening) {
			g = g_new(h->dst_port, h->src_port);
			g->open = true;
			g->peer_buf_alloc = h->buf_alloc;
			g->peer_fwd_cnt = h->fwd_cnt;
			g_tx(g, VSOCK_OP_RESPONSE, 0, NULL, 0);
		} else if (h->op == VSOCK_OP_REQUEST) {
			struct gconn tmp = {.gport = h->dst_port, .hport = h->src_port};

			g_tx(&tmp, VSOCK_OP_RST, 0, NULL, 0);
		}
		return;
	}
	g->peer_buf_alloc = h->buf_alloc;
	g->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case VSOCK_OP_RESPONSE:
		assert_true(g->connecting);
		g->connecting = false;
		g->open = true;
		break;
	case VSOCK_OP_RW:
		/* The host must never send past the credit we gave. */
		assert_true(g->len + h->len <= GBUF);
		memcpy(g->buf + g->len, data, h->len);
		g->len += h->len;
		g->rx_cnt += h->len;
		g->total_rcvd += h->len;
		break;
	case VSOCK_OP_SHUTDOWN:
		g->shutdown_rcvd = true;
		if (T.echo)
			g_tx(g, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_MASK, NULL, 0);
		break;
	case VSOCK_OP_RST:
		g->rst = true;
		g->open = false;
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		g_tx(g, VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0);
		break;
	}
}

/* Take every packet the device has for the guest; echo streams send back what they can. */
static int g_run(void)
{
	static uint8_t raw[VSOCK_HDR_SIZE], data[4096];
	struct iovec iov[2] = {{raw, sizeof(raw)}, {data, sizeof(data)}};
	int n = 0, w;

	if (T.frozen)
		return 0;
	while ((w = vsock_core_rx(T.core, iov, 2)) > 0) {
		struct vsock_hdr h;

		vsock_hdr_decode(raw, &h);
		assert_int_equal(h.len, w - VSOCK_HDR_SIZE);
		g_handle(&h, data);
		n++;
	}
	if (!T.echo)
		return n;
	for (int i = 0; i < MAXGCONNS; i++) {
		struct gconn *g = &T.g[i];

		while (g->used && g->open && g->len && g_credit(g)) {
			uint32_t len = g->len < g_credit(g) ? (uint32_t)g->len : g_credit(g);

			if (len > VSOCK_MAX_PKT)
				len = VSOCK_MAX_PKT;
			g_tx(g, VSOCK_OP_RW, 0, g->buf, len);
			g_consume(g, len, false);
			n++;
		}
		/* Tell the host what was consumed now and then (as Linux does). */
		if (g->used && g->open && g->fwd_cnt - g->peer_fwd_cnt)
			g_tx(g, VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0);
	}
	return n;
}

/* Let the host side and the guest run until neither has anything to do. */
static void pump(void)
{
	for (int i = 0; i < 1000; i++) {
		vsock_host_poll(T.vh);
		if (!g_run())
			return;
	}
}

/* Pump for up to ms, or until done() says so. */
static bool pump_until(bool (*done)(void *), void *arg, int ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		vsock_host_poll(T.vh);
		g_run();
		if (done(arg))
			return true;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > ms)
			return false;
		usleep(200);
	}
}

static int setup(void **state)
{
	memset(&T, 0, sizeof(T));
	strcpy(T.dir, "/tmp/torpor_test_vsock_XXXXXX");
	assert_non_null(mkdtemp(T.dir));
	snprintf(T.path, sizeof(T.path), "%s/v.sock", T.dir);
	assert_int_equal(evloop_init(&T.el), 0);
	assert_int_equal(vsock_host_init(T.el, T.path, CID, NULL, NULL, NULL, &T.vh), 0);
	T.core = vsock_host_core(T.vh);
	T.listening = true;
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	vsock_host_exit(T.vh);
	evloop_exit(T.el);
	for (int i = 0; i < MAXGCONNS; i++)
		free(T.g[i].buf);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", T.dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* --- host clients --- */

static int uds_connect(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

static int uds_listen(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 16), 0);
	return fd;
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void put(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Read what fd has within ms (pumping meanwhile), up to len bytes or EOF. Returns bytes, -1 = EOF.
 */
static ssize_t get(int fd, char *buf, size_t len, int ms)
{
	size_t got = 0;

	set_nonblock(fd);
	for (int i = 0; i < ms * 5 && got < len; i++) {
		ssize_t r = read(fd, buf + got, len - got);

		if (r == 0)
			return got ? (ssize_t)got : -1;
		if (r > 0) {
			got += (size_t)r;
			if (memchr(buf, '\n', got))
				break;
			continue;
		}
		if (errno != EAGAIN)
			return got ? (ssize_t)got : -1;
		pump();
		usleep(200);
	}
	if (got < len)
		buf[got] = '\0';
	return (ssize_t)got;
}

/* Expect exactly the line want, then (if eof) the end of the stream. */
static void expect_line(int fd, const char *want, bool eof)
{
	char buf[128] = {0};
	ssize_t n = get(fd, buf, sizeof(buf) - 1, 2000);

	if (n < 0 || strcmp(buf, want))
		fail_msg("expected \"%s\", got \"%s\" (%zd)", want, n < 0 ? "EOF" : buf, n);
	if (eof)
		assert_int_equal(get(fd, buf, sizeof(buf) - 1, 2000), -1);
}

static struct gconn *last_gconn(void)
{
	struct gconn *last = NULL;

	for (int i = 0; i < MAXGCONNS; i++)
		if (T.g[i].used)
			last = &T.g[i];
	return last;
}

/* ===== tests ===== */

static void test_vsock_host_connect_ok(void **state)
{
	int fd = uds_connect(T.path);
	char line[64], buf[64];
	struct gconn *g;

	assert_true(fd >= 0);
	put(fd, "CONNECT 1234\n");
	pump();
	g = last_gconn();
	assert_non_null(g);
	assert_int_equal(g->gport, 1234);
	assert_true(g->hport >= VSOCK_LOCAL_PORT_BASE);
	snprintf(line, sizeof(line), "OK %u\n", g->hport);
	expect_line(fd, line, false);

	put(fd, "ping");
	pump();
	assert_int_equal(g->len, 4);
	assert_memory_equal(g->buf, "ping", 4);
	g_consume(g, 4, true);
	g_tx(g, VSOCK_OP_RW, 0, "pong", 4);
	pump();
	assert_int_equal(get(fd, buf, 4, 2000), 4);
	assert_memory_equal(buf, "pong", 4);

	/* The client is done sending: the guest hears of it and closes. */
	shutdown(fd, SHUT_WR);
	pump();
	assert_true(g->shutdown_rcvd);
	assert_false(g->rst);
	g_tx(g, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND, NULL, 0);
	pump();
	assert_true(g->rst);
	assert_int_equal(get(fd, buf, sizeof(buf), 2000), -1);
	assert_int_equal(vsock_core_nr_conns(T.core), 0);
	close(fd);
}

static void test_vsock_host_connect_with_data(void **state)
{
	int fd = uds_connect(T.path);
	struct gconn *g;
	char buf[64];

	put(fd, "CONNECT 7\r\nhello, guest");
	pump();
	g = last_gconn();
	assert_non_null(g);
	assert_int_equal(g->len, 12);
	assert_memory_equal(g->buf, "hello, guest", 12);
	assert_true(get(fd, buf, sizeof(buf), 2000) > 0);
	assert_memory_equal(buf, "OK ", 3);
	close(fd);
	pump();
	assert_true(g->shutdown_rcvd);
}

static void test_vsock_host_connect_refused(void **state)
{
	int fd = uds_connect(T.path);

	T.listening = false;
	put(fd, "CONNECT 99\n");
	pump();
	expect_line(fd, "ERR connection refused\n", true);
	assert_int_equal(vsock_core_nr_conns(T.core), 0);
	close(fd);
}

struct bad_line {
	const char *send;
	const char *reply;
};

static void test_vsock_host_bad_lines(void **state)
{
	static const struct bad_line cases[] = {
	    {"HELLO\n", "ERR expected CONNECT <port>\n"},
	    {"CONNECT\n", "ERR expected CONNECT <port>\n"},
	    {"CONNECT 4294967295\n", "ERR expected CONNECT <port>\n"},
	    {"CONNECT -1\n", "ERR expected CONNECT <port>\n"},
	    {"CONNECT 12 34\n", "ERR expected CONNECT <port>\n"},
	    {"\n", "ERR expected CONNECT <port>\n"},
	    {"CONNECT 1111111111111111111111111111111111111111111111111111111111111111111",
	     "ERR line too long\n"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = uds_connect(T.path);

		put(fd, cases[i].send);
		pump();
		expect_line(fd, cases[i].reply, true);
		close(fd);
	}
	/* Nothing reached the guest. */
	assert_null(last_gconn());
	assert_int_equal(vsock_core_nr_conns(T.core), 0);
}

static void test_vsock_host_line_byte_by_byte(void **state)
{
	const char *line = "CONNECT 4321\n";
	int fd = uds_connect(T.path);
	char buf[64];

	for (size_t i = 0; i < strlen(line); i++) {
		assert_int_equal(write(fd, line + i, 1), 1);
		pump();
	}
	assert_non_null(last_gconn());
	assert_int_equal(last_gconn()->gport, 4321);
	assert_true(get(fd, buf, sizeof(buf), 2000) > 0);
	assert_memory_equal(buf, "OK ", 3);
	close(fd);
}

static void test_vsock_host_client_gone_early(void **state)
{
	int fd = uds_connect(T.path);

	put(fd, "CONNEC");
	close(fd);
	pump();
	assert_null(last_gconn());
	/* After the line, before the guest answered. */
	T.listening = false;
	fd = uds_connect(T.path);
	put(fd, "CONNECT 5\n");
	close(fd);
	pump();
	assert_int_equal(vsock_core_nr_conns(T.core), 0);
}

static void test_vsock_host_handshake_cap(void **state)
{
	int idle[VSOCK_MAX_HANDSHAKES], fd, ok;
	char buf[64];

	T.frozen = true; /* connecting clients do not count against the cap */
	ok = uds_connect(T.path);
	put(ok, "CONNECT 5\n");
	for (int i = 0; i < VSOCK_MAX_HANDSHAKES; i++) {
		idle[i] = uds_connect(T.path);
		assert_true(idle[i] >= 0);
		if (i % 16 == 0)
			pump();
	}
	pump();
	fd = uds_connect(T.path);
	pump();
	expect_line(fd, "ERR busy\n", true);
	close(fd);
	/* One idle client leaves: room for one more. */
	close(idle[0]);
	pump();
	idle[0] = uds_connect(T.path);
	put(idle[0], "CONNECT 6\n");
	pump();
	assert_int_equal(vsock_core_nr_conns(T.core), 2);
	T.frozen = false;
	pump();
	assert_true(get(ok, buf, sizeof(buf) - 1, 2000) > 0);
	assert_memory_equal(buf, "OK ", 3);
	for (int i = 0; i < VSOCK_MAX_HANDSHAKES; i++)
		close(idle[i]);
	close(ok);
}

static bool no_conns(void *arg)
{
	return vsock_core_nr_conns(T.core) == 0;
}

static void test_vsock_host_timeouts(void **state)
{
	int quiet, unanswered;

	vsock_host_set_timeouts(T.vh, 100, 300);
	T.frozen = true;
	quiet = uds_connect(T.path); /* never sends its line */
	unanswered = uds_connect(T.path);
	put(unanswered, "CONNECT 5\n");
	vsock_host_poll(T.vh); /* the REQUEST is queued; the guest is not running */
	assert_int_equal(vsock_core_nr_conns(T.core), 1);
	expect_line(quiet, "ERR timed out\n", true);
	expect_line(unanswered, "ERR timed out\n", true);
	/* The withdrawn REQUEST becomes an RST for the guest once it runs again. */
	assert_int_equal(vsock_core_nr_conns(T.core), 1);
	T.frozen = false;
	pump();
	assert_int_equal(vsock_core_nr_conns(T.core), 0);
	close(quiet);
	close(unanswered);
}

static void test_vsock_guest_connects_to_host(void **state)
{
	char path[160], buf[64];
	int lfd, afd;
	struct gconn *g;

	snprintf(path, sizeof(path), "%s_5000", T.path);
	lfd = uds_listen(path);
	g = g_new(777, 5000);
	g->connecting = true;
	g_tx(g, VSOCK_OP_REQUEST, 0, NULL, 0);
	pump();
	assert_true(g->open);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	g_tx(g, VSOCK_OP_RW, 0, "from guest", 10);
	assert_int_equal(get(afd, buf, 10, 2000), 10);
	assert_memory_equal(buf, "from guest", 10);
	put(afd, "from host");
	pump();
	assert_int_equal(g->len, 9);
	assert_memory_equal(g->buf, "from host", 9);
	/* The host closes; the guest closes; nothing is left. */
	close(afd);
	pump();
	assert_true(g->shutdown_rcvd);
	g_tx(g, VSOCK_OP_SHUTDOWN, 3, NULL, 0);
	pump();
	assert_true(g->rst);
	assert_int_equal(vsock_core_nr_conns(T.core), 0);
	close(lfd);
}

static void test_vsock_guest_connect_nobody_listens(void **state)
{
	struct gconn *g = g_new(778, 5001);
	char path[160];
	int fd;

	g->connecting = true;
	g_tx(g, VSOCK_OP_REQUEST, 0, NULL, 0);
	pump();
	assert_true(g->rst);
	assert_false(g->open);
	/* A stale socket file with no listener is refused the same way. */
	snprintf(path, sizeof(path), "%s_5002", T.path);
	fd = uds_listen(path);
	close(fd);
	g = g_new(779, 5002);
	g->connecting = true;
	g_tx(g, VSOCK_OP_REQUEST, 0, NULL, 0);
	pump();
	assert_true(g->rst);
	assert_int_equal(vsock_core_nr_conns(T.core), 0);
}

static void test_vsock_host_socket_path(void **state)
{
	struct vsock_host *vh;
	char path[200];
	int fd;

	log_level = -1; /* the refusals below are logged as errors */
	/* In use by a live listener (ours). */
	assert_int_equal(vsock_host_init(T.el, T.path, CID, NULL, NULL, NULL, &vh), -EADDRINUSE);
	/* A stale socket is replaced. */
	snprintf(path, sizeof(path), "%s/stale.sock", T.dir);
	fd = uds_listen(path);
	close(fd);
	assert_int_equal(vsock_host_init(T.el, path, CID, NULL, NULL, NULL, &vh), 0);
	fd = uds_connect(path);
	assert_true(fd >= 0);
	close(fd);
	vsock_host_exit(vh);
	assert_int_equal(access(path, F_OK), -1); /* removed at exit */
	/* Not a socket. */
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	assert_int_equal(vsock_host_init(T.el, path, CID, NULL, NULL, NULL, &vh), -EEXIST);
	/* Too long for sun_path once "_<port>" is added. */
	memset(path, 'a', 100);
	path[0] = '/';
	path[100] = '\0';
	assert_int_equal(vsock_host_init(T.el, path, CID, NULL, NULL, NULL, &vh), -ENAMETOOLONG);
	assert_int_equal(vsock_host_init(T.el, "", CID, NULL, NULL, NULL, &vh), -EINVAL);
	log_level = LOG_ERR;
}

/* --- many streams at once, some readers that stall --- */

struct client {
	int fd;
	bool ok_seen, done, stalled; /* stalled: never reads */
	size_t sent, rcvd, per;
	char line[32];
	size_t line_len;
};

struct run {
	struct client *cl;
	size_t n;
};

static uint8_t pattern(size_t stream, size_t i)
{
	return (uint8_t)(stream * 31 + i * 7 + (i >> 9));
}

static void client_step(struct client *c, size_t idx)
{
	uint8_t buf[16384];
	ssize_t r;

	if (!c->ok_seen) {
		r = read(c->fd, c->line + c->line_len, 1);
		if (r == 1 && c->line[c->line_len++] == '\n') {
			assert_memory_equal(c->line, "OK ", 3);
			c->ok_seen = true;
		}
		return;
	}
	if (c->sent < c->per) {
		size_t n = c->per - c->sent < sizeof(buf) ? c->per - c->sent : sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(idx, c->sent + i);
		r = write(c->fd, buf, n);
		if (r > 0)
			c->sent += (size_t)r;
	}
	if (c->stalled)
		return;
	r = read(c->fd, buf, sizeof(buf));
	for (ssize_t i = 0; i < r; i++)
		if (buf[i] != pattern(idx, c->rcvd + (size_t)i))
			fail_msg("stream %zu: byte %zu differs", idx, c->rcvd + (size_t)i);
	if (r > 0)
		c->rcvd += (size_t)r;
	if (c->rcvd == c->per)
		c->done = true;
}

static bool all_done(void *arg)
{
	struct run *run = arg;
	bool done = true;

	for (size_t i = 0; i < run->n; i++) {
		struct client *c = &run->cl[i];

		if (!c->stalled && !c->done) {
			client_step(c, i);
			done = false;
		} else if (c->stalled && c->ok_seen && c->sent < c->per) {
			client_step(c, i);
		}
		if (c->stalled && !c->ok_seen)
			client_step(c, i);
	}
	return done;
}

/*
 * n host clients connect, each writes per bytes and reads them back from
 * the echoing guest; every stall_every-th one (0: none) never reads. Every
 * stream that reads must complete intact.
 */
static void run_streams(size_t n, size_t per, size_t stall_every)
{
	struct run run = {.cl = calloc(n, sizeof(struct client)), .n = n};
	char line[32];

	T.echo = true;
	assert_non_null(run.cl);
	for (size_t i = 0; i < n; i++) {
		struct client *c = &run.cl[i];

		c->fd = uds_connect(T.path);
		assert_true(c->fd >= 0);
		c->per = per;
		c->stalled = stall_every && i % stall_every == 1;
		snprintf(line, sizeof(line), "CONNECT %zu\n", 10000 + i);
		put(c->fd, line);
		set_nonblock(c->fd);
		if (i % 20 == 0)
			pump(); /* the listen backlog is finite */
	}
	if (!pump_until(all_done, &run, 60000)) {
		size_t done = 0;

		for (size_t i = 0; i < n; i++)
			done += run.cl[i].done;
		fail_msg("only %zu of %zu streams done", done, n);
	}
	for (size_t i = 0; i < n; i++) {
		if (run.cl[i].stalled) /* held back by flow control: its writer is blocked too */
			assert_true(run.cl[i].sent < per);
		close(run.cl[i].fd);
	}
	free(run.cl);
	assert_true(pump_until(no_conns, NULL, 5000));
}

static void test_vsock_host_many_streams(void **state)
{
	run_streams(200, 64u << 10, 0);
}

static void test_vsock_host_stalled_readers(void **state)
{
	run_streams(8, 3u << 20, 3);
}

#define VT(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    VT(test_vsock_host_connect_ok),	   VT(test_vsock_host_connect_with_data),
	    VT(test_vsock_host_connect_refused),   VT(test_vsock_host_bad_lines),
	    VT(test_vsock_host_line_byte_by_byte), VT(test_vsock_host_client_gone_early),
	    VT(test_vsock_host_timeouts),	   VT(test_vsock_host_handshake_cap),
	    VT(test_vsock_guest_connects_to_host), VT(test_vsock_guest_connect_nobody_listens),
	    VT(test_vsock_host_socket_path),	   VT(test_vsock_host_many_streams),
	    VT(test_vsock_host_stalled_readers),
	};

	log_level = LOG_ERR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
