/*
 * Unit tests: the host-side agent client (tools/torpor/agent_*.c) against a
 * fake agent in a thread, over a socketpair or a Unix socket standing in
 * for the VMM: the CONNECT handshake, credit both ways, stream dispatch,
 * protocol errors, exit codes, request building and cp's argument parsing.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "tools/torpor/agent_client.h"
#include "tools/torpor/cp_spec.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIB (1024 * 1024)

/* --- The fake agent's side ------------------------------------------------ */

struct fake {
	int fd;
	pthread_t thread;
	char failed[256]; /* the first problem the fake saw ("" if none) */
	/* what the scenario recorded */
	json_t *req;
	uint64_t bytes, granted, max_outstanding;
	uint32_t sum;
	int cancels;
	void *ctx;
};

static void fake_fail(struct fake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fake_fail(struct fake *f, const char *fmt, ...)
{
	va_list ap;

	if (f->failed[0])
		return;
	va_start(ap, fmt);
	vsnprintf(f->failed, sizeof(f->failed), fmt, ap);
	va_end(ap);
}

static int read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read one frame (payload into buf, FRAME_MAX_PAYLOAD bytes). 0, or -1 on EOF/bad. */
static int fake_read(struct fake *f, struct frame_header *h, uint8_t *buf)
{
	uint8_t hdr[FRAME_HEADER_SIZE];

	if (read_full(f->fd, hdr, sizeof(hdr)) < 0)
		return -1;
	if (frame_header_decode(hdr, h) != FRAME_OK) {
		fake_fail(f, "the client sent a bad header: %s",
			  frame_error_str(frame_header_decode(hdr, h)));
		return -1;
	}
	return h->len ? read_full(f->fd, buf, h->len) : 0;
}

/* Like fake_read, but -2 when nothing arrives within ms. */
static int fake_read_within(struct fake *f, struct frame_header *h, uint8_t *buf, int ms)
{
	struct pollfd p = { .fd = f->fd, .events = POLLIN };

	if (poll(&p, 1, ms) == 0)
		return -2;
	return fake_read(f, h, buf);
}

static void fake_send(struct fake *f, uint8_t type, uint8_t chan, uint32_t stream, const void *p,
		      size_t len)
{
	uint8_t hdr[FRAME_HEADER_SIZE];
	struct frame_header h = {
		.len = (uint32_t)len, .type = type, .channel = chan, .stream = stream,
	};

	frame_header_encode(&h, hdr);
	if (write_full(f->fd, hdr, sizeof(hdr)) < 0 || (len && write_full(f->fd, p, len) < 0))
		fake_fail(f, "send failed");
}

static void fake_json(struct fake *f, uint32_t stream, const char *text)
{
	fake_send(f, FRAME_CTRL, 0, stream, text, strlen(text));
}

/* Read the next CTRL request; returns its stream (0 on failure), f->req holds it. */
static uint32_t fake_request(struct fake *f, uint8_t *buf)
{
	struct frame_header h;

	if (fake_read(f, &h, buf) < 0 || h.type != FRAME_CTRL) {
		fake_fail(f, "expected a CTRL request");
		return 0;
	}
	json_decref(f->req);
	f->req = json_loadb((const char *)buf, h.len, 0, NULL);
	if (!json_is_object(f->req))
		fake_fail(f, "the request is not a JSON object");
	return h.stream;
}

static void fake_start(struct fake *f, void *(*fn)(void *), int *client_fd)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f->fd = sv[1];
	*client_fd = sv[0];
	assert_int_equal(pthread_create(&f->thread, NULL, fn, f), 0);
}

static void fake_join(struct fake *f)
{
	pthread_join(f->thread, NULL);
	close(f->fd);
	if (f->failed[0])
		fail_msg("fake agent: %s", f->failed);
}

static void fake_free(struct fake *f)
{
	json_decref(f->req);
	f->req = NULL;
}

static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i * 131 + (i >> 12));
}

/* A temporary file with n bytes of pattern(). */
static int pattern_file(size_t n)
{
	char path[] = "/tmp/torpor-test-agent.XXXXXX";
	int fd = mkstemp(path);
	uint8_t *buf = malloc(n);

	assert_true(fd >= 0);
	assert_non_null(buf);
	unlink(path);
	for (size_t i = 0; i < n; i++)
		buf[i] = pattern(i);
	assert_int_equal(write_full(fd, buf, n), 0);
	lseek(fd, 0, SEEK_SET);
	free(buf);
	return fd;
}

static int empty_file(void)
{
	char path[] = "/tmp/torpor-test-agent.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

/* --- Handshake ------------------------------------------------------------ */

static void test_agent_client_handshake_parse(void **state)
{
	static const struct {
		const char *line;
		int rc;
	} cases[] = {
		{ "OK 1073741824", 0 },
		{ "OK 1\r", 0 },
		{ "OK 4294967295", 0 },
		{ "OK ", -EPROTO },
		{ "OK", -EPROTO },
		{ "OK 12x", -EPROTO },
		{ "OK -1", -EPROTO },
		{ "OK 12345678901", -EPROTO },
		{ "ok 1", -EPROTO },
		{ "ERR connection refused", -ECONNRESET },
		{ "ERR timed out", -ETIMEDOUT },
		{ "ERR busy", -EAGAIN },
		{ "ERR too many connections", -EAGAIN },
		{ "ERR connection reset", -ECONNABORTED },
		{ "ERR something new", -ECONNABORTED },
		{ "HTTP/1.1 400 Bad Request", -EPROTO },
		{ "", -EPROTO },
		{ "\x01\x02garbage\xff", -EPROTO },
	};
	char err[256];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int rc;

		err[0] = '\0';
		rc = agent_handshake_parse(cases[i].line, strlen(cases[i].line), err, sizeof(err));
		print_message("%-28s rc=%d err=%s\n", cases[i].line, rc, err);
		assert_int_equal(rc, cases[i].rc);
		if (rc)
			assert_true(strlen(err) > 0);
		for (const char *p = err; *p; p++)
			assert_true(*p >= 0x20 && *p < 0x7f); /* no raw bytes echoed */
	}
	assert_int_equal(agent_handshake_parse("ERR connection refused", 22, err, sizeof(err)),
			 -ECONNRESET);
	assert_non_null(strstr(err, "port 1024"));
}

/* A stand-in for the VMM's vsock socket: accepts one client and runs a script. */
struct fake_vmm {
	char path[108];
	int lfd;
	pthread_t thread;
	const char *answer; /* written after the CONNECT line; NULL: never answer */
	size_t answer_len;
	char got[64];
	int hold_ms; /* keep the connection this long before closing */
};

static void *vmm_main(void *arg)
{
	struct fake_vmm *v = arg;
	int fd = accept(v->lfd, NULL, NULL);
	size_t n = 0;

	if (fd < 0)
		return NULL;
	while (n < sizeof(v->got) - 1 && read(fd, v->got + n, 1) == 1)
		if (v->got[n++] == '\n')
			break;
	if (v->answer)
		write_full(fd, v->answer, v->answer_len);
	if (v->hold_ms)
		usleep((useconds_t)v->hold_ms * 1000);
	close(fd);
	return NULL;
}

static void vmm_start(struct fake_vmm *v, const char *answer, size_t len, int hold_ms)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	snprintf(v->path, sizeof(v->path), "/tmp/torpor-test-vsock.%d", getpid());
	unlink(v->path);
	strcpy(a.sun_path, v->path);
	v->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(v->lfd >= 0);
	assert_int_equal(bind(v->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(v->lfd, 4), 0);
	v->answer = answer;
	v->answer_len = len;
	v->hold_ms = hold_ms;
	assert_int_equal(pthread_create(&v->thread, NULL, vmm_main, v), 0);
}

static void vmm_stop(struct fake_vmm *v)
{
	pthread_join(v->thread, NULL);
	close(v->lfd);
	unlink(v->path);
}

static void test_agent_client_connect_ok(void **state)
{
	/* OK line and, in the same write, a first frame: an error on stream 0. */
	static const char msg[] = "{\"type\":\"error\",\"error\":\"hello from the agent\"}";
	uint8_t answer[128];
	struct frame_header h = { .len = sizeof(msg) - 1, .type = FRAME_CTRL };
	struct fake_vmm v;
	struct agent_conn *c;
	char err[256];
	size_t n = strlen("OK 1073741824\n");

	memcpy(answer, "OK 1073741824\n", n);
	frame_header_encode(&h, answer + n);
	memcpy(answer + n + FRAME_HEADER_SIZE, msg, sizeof(msg) - 1);
	vmm_start(&v, (const char *)answer, n + FRAME_HEADER_SIZE + sizeof(msg) - 1, 100);
	assert_int_equal(agent_connect(v.path, 2000, &c, err, sizeof(err)), 0);
	assert_string_equal(agent_conn_error(c), "agent: hello from the agent");
	assert_int_equal(agent_conn_status(c), 0);
	agent_conn_close(c);
	vmm_stop(&v);
	assert_string_equal(v.got, "CONNECT 1024\n");
}

static void test_agent_client_connect_refused(void **state)
{
	struct fake_vmm v;
	struct agent_conn *c;
	char err[256];

	vmm_start(&v, "ERR connection refused\n", 23, 0);
	assert_int_equal(agent_connect(v.path, 2000, &c, err, sizeof(err)), -ECONNRESET);
	assert_null(c);
	assert_non_null(strstr(err, "refused vsock port 1024"));
	vmm_stop(&v);
}

static void test_agent_client_connect_garbage(void **state)
{
	struct fake_vmm v;
	struct agent_conn *c;
	char err[256];

	vmm_start(&v, "HTTP/1.1 400 Bad Request\r\n\r\n", 28, 0);
	assert_int_equal(agent_connect(v.path, 2000, &c, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "not a torpor vsock socket"));
	vmm_stop(&v);

	/* 100 bytes without a newline: not a line at all. */
	static char junk[100];
	memset(junk, 'x', sizeof(junk));
	vmm_start(&v, junk, sizeof(junk), 200);
	assert_int_equal(agent_connect(v.path, 2000, &c, err, sizeof(err)), -EPROTO);
	vmm_stop(&v);

	/* Closed without an answer. */
	vmm_start(&v, "", 0, 0);
	assert_int_equal(agent_connect(v.path, 2000, &c, err, sizeof(err)), -ECONNRESET);
	assert_non_null(strstr(err, "without an answer"));
	vmm_stop(&v);
}

static void test_agent_client_connect_timeout(void **state)
{
	struct fake_vmm v;
	struct agent_conn *c;
	char err[256];

	vmm_start(&v, NULL, 0, 600);
	assert_int_equal(agent_connect(v.path, 200, &c, err, sizeof(err)), -ETIMEDOUT);
	assert_non_null(strstr(err, "within 200 ms"));
	vmm_stop(&v);
}

static void test_agent_client_connect_no_socket(void **state)
{
	struct agent_conn *c;
	char err[256];

	assert_int_equal(agent_connect("/tmp/torpor-test-no-such-socket", 200, &c, err,
				       sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no such socket"));
}

/* --- Credit: host to guest ------------------------------------------------ */

/*
 * file_write: grant credit only once the whole window is outstanding, so a
 * client that sent a byte too many is caught; check every byte.
 */
static void *fake_upload(void *arg)
{
	struct fake *f = arg;
	uint8_t *buf = malloc(FRAME_MAX_PAYLOAD);
	uint64_t outstanding = 0;
	struct frame_header h;
	uint32_t stream = fake_request(f, buf);
	char reply[96];

	while (stream && !f->failed[0] && fake_read(f, &h, buf) == 0) {
		if (h.stream != stream || h.channel != CHAN_IN) {
			fake_fail(f, "a frame on stream %u channel %u", h.stream, h.channel);
			break;
		}
		if (h.type == FRAME_CLOSE)
			break;
		if (h.type != FRAME_DATA) {
			fake_fail(f, "unexpected frame type %u", h.type);
			break;
		}
		for (uint32_t i = 0; i < h.len; i++)
			if (buf[i] != pattern(f->bytes + i)) {
				fake_fail(f, "byte %llu differs", (unsigned long long)(f->bytes + i));
				break;
			}
		f->bytes += h.len;
		outstanding += h.len;
		if (outstanding > f->max_outstanding)
			f->max_outstanding = outstanding;
		if (outstanding > FRAME_WINDOW) {
			fake_fail(f, "%llu bytes outstanding, window %u",
				  (unsigned long long)outstanding, FRAME_WINDOW);
			break;
		}
		if (outstanding == FRAME_WINDOW) {
			uint8_t cr[4];

			usleep(20000); /* the client must be stuck now */
			frame_credit_put(cr, (uint32_t)outstanding);
			fake_send(f, FRAME_CREDIT, CHAN_IN, stream, cr, 4);
			f->granted += outstanding;
			outstanding = 0;
		}
	}
	snprintf(reply, sizeof(reply), "{\"type\":\"result\",\"size\":%llu}",
		 (unsigned long long)f->bytes);
	fake_json(f, stream, reply);
	free(buf);
	return NULL;
}

static void test_agent_client_credit_send(void **state)
{
	struct fake f = { 0 };
	struct agent_conn *c;
	char err[256];
	uint64_t size = 0;
	int cfd, in = pattern_file(MIB + 12345);

	fake_start(&f, fake_upload, &cfd);
	c = agent_conn_new(cfd, NULL, 0);
	assert_non_null(c);
	assert_int_equal(agent_file_write(c, "/tmp/x", in, 0751, -1, -1, 10000, &size, err,
					  sizeof(err)), 0);
	agent_conn_close(c);
	fake_join(&f);
	assert_int_equal(size, MIB + 12345);
	assert_int_equal(f.bytes, MIB + 12345);
	assert_int_equal(f.max_outstanding, FRAME_WINDOW);
	assert_int_equal(f.granted, 4 * FRAME_WINDOW);
	assert_string_equal(json_string_value(json_object_get(f.req, "op")), "file_write");
	assert_string_equal(json_string_value(json_object_get(f.req, "path")), "/tmp/x");
	assert_int_equal(json_integer_value(json_object_get(f.req, "mode")), 0751);
	assert_null(json_object_get(f.req, "uid"));
	fake_free(&f);
	close(in);
}

/* The core API: agent_stream_write() takes only what the credit allows. */
static void test_agent_client_write_short(void **state)
{
	static uint8_t data[FRAME_WINDOW + 1000];
	json_t *req = json_pack("{s:s,s:s}", "op", "file_write", "path", "/x");
	struct agent_conn *c;
	struct agent_stream *s;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	c = agent_conn_new(sv[0], NULL, 0);
	s = agent_stream_open(c, req, NULL, NULL);
	assert_non_null(s);
	assert_int_equal(agent_stream_credit(s), FRAME_WINDOW);
	assert_int_equal(agent_stream_write(s, data, sizeof(data)), FRAME_WINDOW);
	assert_int_equal(agent_stream_credit(s), 0);
	assert_int_equal(agent_stream_write(s, data, 10), 0);
	assert_int_equal(agent_stream_close_in(s), 0);
	assert_int_equal(agent_stream_write(s, data, 10), -EPIPE);
	agent_conn_close(c);
	close(sv[1]);
	json_decref(req);
}

/* --- Credit: guest to host ------------------------------------------------ */

#define DOWN_BYTES (MIB + 777)

/* exec: stdout within the client's credit, waiting for CREDIT when out of it. */
static void *fake_exec_out(void *arg)
{
	struct fake *f = arg;
	uint8_t *buf = malloc(FRAME_MAX_PAYLOAD), *chunk = malloc(40000);
	uint64_t avail = FRAME_WINDOW;
	struct frame_header h;
	uint32_t stream = fake_request(f, buf);

	fake_json(f, stream, "{\"type\":\"started\",\"pid\":42}");
	while (stream && !f->failed[0] && f->bytes < DOWN_BYTES) {
		size_t n = DOWN_BYTES - f->bytes;

		if (n > 40000)
			n = 40000;
		if (n > avail) {
			if (fake_read(f, &h, buf) < 0) {
				fake_fail(f, "EOF while waiting for credit");
				break;
			}
			if (h.type == FRAME_CREDIT && h.channel == CHAN_OUT && h.stream == stream) {
				avail += frame_credit_get(buf);
				f->granted += frame_credit_get(buf);
			} else if (h.type != FRAME_CLOSE) { /* CLOSE on IN: no stdin */
				fake_fail(f, "unexpected frame type %u channel %u", h.type,
					  h.channel);
			}
			continue;
		}
		for (size_t i = 0; i < n; i++)
			chunk[i] = pattern(f->bytes + i);
		fake_send(f, FRAME_DATA, CHAN_OUT, stream, chunk, n);
		f->bytes += n;
		avail -= n;
	}
	fake_send(f, FRAME_DATA, CHAN_ERR, stream, "oops\n", 5);
	fake_send(f, FRAME_CLOSE, CHAN_OUT, stream, NULL, 0);
	fake_send(f, FRAME_CLOSE, CHAN_ERR, stream, NULL, 0);
	fake_json(f, stream, "{\"type\":\"exit\",\"status\":3}");
	free(chunk);
	free(buf);
	return NULL;
}

static void test_agent_client_credit_grant(void **state)
{
	static const char *const argv[] = { "sh", "-c", "exit 3", NULL };
	static const char *const env[] = { "A=1", "B=two", NULL };
	struct agent_exec_opts o = {
		.argv = argv, .env = env, .cwd = "/tmp", .uid = 1000, .gid = -1,
		.timeout_ms = 5000,
	};
	struct fake f = { 0 };
	struct agent_conn *c;
	struct agent_end ex;
	char err[256], errbuf[16] = { 0 };
	uint8_t *got = malloc(DOWN_BYTES);
	int cfd, out = empty_file(), errfd = empty_file();

	fake_start(&f, fake_exec_out, &cfd);
	c = agent_conn_new(cfd, NULL, 0);
	assert_int_equal(agent_exec(c, &o, -1, out, errfd, 10000, &ex, err, sizeof(err)), 0);
	agent_conn_close(c);
	fake_join(&f);
	assert_int_equal(ex.kind, AGENT_END_EXIT);
	assert_int_equal(ex.status, 3);
	assert_int_equal(agent_end_exit_code(&ex), 3);
	/* Everything but the last window must have been granted back. */
	assert_true(f.granted >= DOWN_BYTES - FRAME_WINDOW);
	assert_int_equal(pread(out, got, DOWN_BYTES, 0), DOWN_BYTES);
	for (size_t i = 0; i < DOWN_BYTES; i++)
		if (got[i] != pattern(i))
			fail_msg("stdout byte %zu differs", i);
	assert_int_equal(pread(errfd, errbuf, sizeof(errbuf), 0), 5);
	assert_string_equal(errbuf, "oops\n");
	/* The request as sent. */
	assert_string_equal(json_string_value(json_object_get(f.req, "op")), "exec");
	assert_int_equal(json_array_size(json_object_get(f.req, "argv")), 3);
	assert_string_equal(json_string_value(json_array_get(json_object_get(f.req, "env"), 1)),
			    "B=two");
	assert_string_equal(json_string_value(json_object_get(f.req, "cwd")), "/tmp");
	assert_int_equal(json_integer_value(json_object_get(f.req, "uid")), 1000);
	assert_null(json_object_get(f.req, "gid"));
	assert_int_equal(json_integer_value(json_object_get(f.req, "timeout_ms")), 5000);
	assert_true(json_is_false(json_object_get(f.req, "stdin"))); /* in_fd -1 */
	fake_free(&f);
	free(got);
	close(out);
	close(errfd);
}

/* Manual credit: nothing is granted until the application consumes. */
struct manual {
	struct agent_stream *s;
	size_t got;
	bool ended;
	enum agent_end_kind kind;
};

static void manual_data(struct agent_stream *s, int chan, const uint8_t *buf, size_t len,
			void *arg)
{
	((struct manual *)arg)->got += len;
}

static void manual_end(struct agent_stream *s, const struct agent_end *e, void *arg)
{
	struct manual *m = arg;

	m->ended = true;
	m->kind = e->kind;
}

static const struct agent_stream_ops manual_ops = {
	.on_data = manual_data,
	.on_end = manual_end,
};

static void *fake_manual(void *arg)
{
	struct fake *f = arg;
	uint8_t *buf = calloc(1, FRAME_MAX_PAYLOAD);
	struct frame_header h;
	uint32_t stream = fake_request(f, buf);
	int rc;

	for (int i = 0; i < 4; i++)
		fake_send(f, FRAME_DATA, CHAN_OUT, stream, buf, FRAME_WINDOW / 4);
	/* The client has consumed nothing: no credit may come. */
	rc = fake_read_within(f, &h, buf, 300);
	if (rc != -2)
		fake_fail(f, "a frame (type %u) before anything was consumed", h.type);
	fake_json(f, 0, "{\"type\":\"error\",\"error\":\"marker\"}"); /* go on, consume */
	/* Then the test consumes it all: 256 KiB come back, in batches. */
	while (!f->failed[0] && f->granted < FRAME_WINDOW) {
		if (fake_read_within(f, &h, buf, 5000) < 0) {
			fake_fail(f, "no credit after consuming");
			break;
		}
		if (h.type == FRAME_CREDIT && h.channel == CHAN_OUT)
			f->granted += frame_credit_get(buf);
	}
	fake_json(f, stream, "{\"type\":\"result\"}");
	free(buf);
	return NULL;
}

static void test_agent_client_manual_credit(void **state)
{
	json_t *req = json_pack("{s:s,s:i}", "op", "relay", "port", 80);
	struct manual m = { 0 };
	struct fake f = { 0 };
	struct agent_conn *c;
	int cfd;

	fake_start(&f, fake_manual, &cfd);
	c = agent_conn_new(cfd, NULL, 0);
	m.s = agent_stream_open(c, req, &manual_ops, &m);
	assert_non_null(m.s);
	agent_stream_set_manual_credit(m.s, true);
	while (m.got < FRAME_WINDOW)
		assert_true(agent_conn_wait(c, 5000) == 0);
	/* Spin the loop until the fake has seen 300 ms without credit. */
	while (strcmp(agent_conn_error(c), "agent: marker"))
		assert_true(agent_conn_wait(c, 5000) == 0);
	assert_int_equal(agent_stream_consume(m.s, CHAN_OUT, 1000), 0); /* below a batch */
	assert_int_equal(agent_stream_consume(m.s, CHAN_OUT, FRAME_WINDOW), 0);
	assert_int_equal(agent_conn_run_until(c, &m.ended, 5000), 0);
	assert_int_equal(m.kind, AGENT_END_RESULT);
	agent_conn_close(c);
	fake_join(&f);
	assert_int_equal(f.granted, FRAME_WINDOW);
	fake_free(&f);
	json_decref(req);
}

/* --- Dispatch ------------------------------------------------------------- */

struct rec {
	char out[64], err[64];
	size_t nout, nerr;
	int eofs, replies;
	bool ended;
	struct agent_end end;
	char error[128];
	int exit_code;
	int order; /* when it ended, counted across streams */
};

static int end_order;

static void rec_reply(struct agent_stream *s, json_t *msg, void *arg)
{
	((struct rec *)arg)->replies++;
}

static void rec_data(struct agent_stream *s, int chan, const uint8_t *buf, size_t len, void *arg)
{
	struct rec *r = arg;
	char *dst = chan == CHAN_OUT ? r->out : r->err;
	size_t *n = chan == CHAN_OUT ? &r->nout : &r->nerr;

	if (*n + len < 64) {
		memcpy(dst + *n, buf, len);
		*n += len;
	}
}

static void rec_eof(struct agent_stream *s, int chan, void *arg)
{
	((struct rec *)arg)->eofs++;
}

static void rec_end(struct agent_stream *s, const struct agent_end *e, void *arg)
{
	struct rec *r = arg;

	assert_false(r->ended); /* exactly once */
	r->ended = true;
	r->end = *e;
	r->end.msg = NULL;
	r->end.error = NULL;
	if (e->error)
		snprintf(r->error, sizeof(r->error), "%s", e->error);
	r->exit_code = agent_end_exit_code(e);
	r->order = ++end_order;
}

static const struct agent_stream_ops rec_ops = {
	.on_reply = rec_reply,
	.on_data = rec_data,
	.on_eof = rec_eof,
	.on_end = rec_end,
};

static void *fake_two(void *arg)
{
	struct fake *f = arg;
	uint8_t *buf = malloc(FRAME_MAX_PAYLOAD);
	uint32_t a = fake_request(f, buf), b = fake_request(f, buf);

	fake_json(f, a, "{\"type\":\"started\",\"pid\":7}");
	fake_send(f, FRAME_DATA, CHAN_OUT, b, "bb-out", 6);
	fake_send(f, FRAME_DATA, CHAN_OUT, a, "aa-out", 6);
	fake_send(f, FRAME_DATA, CHAN_ERR, b, "bb-err", 6);
	fake_send(f, FRAME_DATA, CHAN_OUT, 999, "nobody", 6); /* no such stream: ignored */
	fake_json(f, 0, "{\"type\":\"error\",\"error\":\"bad frame on stream 0\"}");
	fake_send(f, FRAME_CLOSE, CHAN_OUT, a, NULL, 0);
	fake_json(f, b, "{\"type\":\"exit\",\"signal\":9}");
	fake_json(f, a, "{\"type\":\"error\",\"error\":\"open /x: No such file or directory\","
			"\"errno\":\"ENOENT\"}");
	/* After the final replies: frames for the finished streams are ignored. */
	fake_send(f, FRAME_DATA, CHAN_OUT, a, "late", 4);
	free(buf);
	return NULL;
}

static void test_agent_client_dispatch(void **state)
{
	json_t *req = json_pack("{s:s,s:[s]}", "op", "exec", "argv", "true");
	struct rec ra = { 0 }, rb = { 0 };
	struct fake f = { 0 };
	struct agent_conn *c;
	struct agent_stream *a, *b;
	bool both = false;
	int cfd;

	end_order = 0;
	fake_start(&f, fake_two, &cfd);
	c = agent_conn_new(cfd, NULL, 0);
	a = agent_stream_open(c, req, &rec_ops, &ra);
	b = agent_stream_open(c, req, &rec_ops, &rb);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_not_equal(agent_stream_id(a), agent_stream_id(b));
	assert_int_equal(agent_conn_nstreams(c), 2);
	while (!both) {
		assert_int_equal(agent_conn_wait(c, 5000), 0);
		both = ra.ended && rb.ended;
	}
	assert_string_equal(agent_conn_error(c), "agent: bad frame on stream 0");
	fake_join(&f);
	for (int i = 0; i < 3; i++)
		agent_conn_wait(c, 20);
	assert_int_equal(agent_conn_nstreams(c), 0);

	assert_int_equal(ra.nout, 6);
	assert_memory_equal(ra.out, "aa-out", 6);
	assert_int_equal(ra.nerr, 0);
	assert_int_equal(ra.replies, 1);
	assert_int_equal(ra.eofs, 1);
	assert_int_equal(ra.end.kind, AGENT_END_ERROR);
	assert_false(ra.end.local);
	assert_int_equal(ra.end.err, ENOENT);
	assert_string_equal(ra.error, "open /x: No such file or directory");
	assert_int_equal(ra.exit_code, 127);

	assert_memory_equal(rb.out, "bb-out", 6);
	assert_memory_equal(rb.err, "bb-err", 6);
	assert_int_equal(rb.end.kind, AGENT_END_EXIT);
	assert_int_equal(rb.end.signal, 9);
	assert_int_equal(rb.exit_code, 137);
	assert_int_equal(rb.order, 1);
	assert_int_equal(ra.order, 2);

	agent_conn_close(c);
	fake_free(&f);
	json_decref(req);
}

/* DATA beyond the credit fails that stream (and cancels it), not the others. */
static void *fake_overrun(void *arg)
{
	struct fake *f = arg;
	uint8_t *buf = calloc(1, FRAME_MAX_PAYLOAD);
	struct frame_header h;
	uint32_t a = fake_request(f, buf), b = fake_request(f, buf);

	for (int i = 0; i < 4; i++)
		fake_send(f, FRAME_DATA, CHAN_OUT, a, buf, FRAME_WINDOW / 4);
	fake_send(f, FRAME_DATA, CHAN_OUT, a, buf, 1); /* one byte too many */
	/* The client cancels a (credit frames may come first). */
	while (!f->failed[0]) {
		if (fake_read_within(f, &h, buf, 5000) < 0) {
			fake_fail(f, "no cancel for the overrunning stream");
			break;
		}
		if (h.type == FRAME_CTRL && h.stream == a) {
			json_t *m = json_loadb((const char *)buf, h.len, 0, NULL);

			if (!strcmp(json_string_value(json_object_get(m, "op")) ?: "", "cancel"))
				f->cancels++;
			json_decref(m);
			break;
		}
	}
	fake_json(f, a, "{\"type\":\"error\",\"error\":\"cancelled\"}");
	fake_send(f, FRAME_DATA, CHAN_OUT, b, "fine", 4);
	fake_json(f, b, "{\"type\":\"result\"}");
	free(buf);
	return NULL;
}

static void test_agent_client_overrun(void **state)
{
	json_t *req = json_pack("{s:s,s:i}", "op", "relay", "port", 80);
	struct rec ra = { 0 }, rb = { 0 };
	struct fake f = { 0 };
	struct agent_conn *c;
	struct agent_stream *a;
	int cfd;

	fake_start(&f, fake_overrun, &cfd);
	c = agent_conn_new(cfd, NULL, 0);
	a = agent_stream_open(c, req, &rec_ops, &ra);
	assert_non_null(a);
	agent_stream_set_manual_credit(a, true); /* never consumed: the window stays full */
	assert_non_null(agent_stream_open(c, req, &rec_ops, &rb));
	while (!(ra.ended && rb.ended))
		assert_int_equal(agent_conn_wait(c, 5000), 0);
	fake_join(&f);
	assert_int_equal(f.cancels, 1);
	assert_int_equal(ra.end.kind, AGENT_END_ERROR);
	assert_true(ra.end.local);
	assert_int_equal(ra.end.err, EPROTO);
	assert_non_null(strstr(ra.error, "credit"));
	assert_int_equal(rb.end.kind, AGENT_END_RESULT);
	assert_memory_equal(rb.out, "fine", 4);
	/* The cancelled stream's id stays taken until the agent's final reply, then is freed. */
	for (int i = 0; i < 3 && agent_conn_nstreams(c); i++)
		agent_conn_wait(c, 50);
	assert_int_equal(agent_conn_nstreams(c), 0);
	assert_int_equal(agent_conn_status(c), 0);
	agent_conn_close(c);
	fake_free(&f);
	json_decref(req);
}

/* The agent goes away: every open stream ends once, with a local error. */
static void *fake_vanish(void *arg)
{
	struct fake *f = arg;
	uint8_t *buf = malloc(FRAME_MAX_PAYLOAD);

	fake_request(f, buf);
	fake_request(f, buf);
	shutdown(f->fd, SHUT_RDWR);
	free(buf);
	return NULL;
}

static void test_agent_client_conn_lost(void **state)
{
	json_t *req = json_pack("{s:s}", "op", "ping");
	struct rec ra = { 0 }, rb = { 0 };
	struct fake f = { 0 };
	struct agent_conn *c;
	int cfd, rc = 0;

	fake_start(&f, fake_vanish, &cfd);
	c = agent_conn_new(cfd, NULL, 0);
	assert_non_null(agent_stream_open(c, req, &rec_ops, &ra));
	assert_non_null(agent_stream_open(c, req, &rec_ops, &rb));
	while (!rc)
		rc = agent_conn_wait(c, 5000);
	fake_join(&f);
	assert_int_equal(rc, -ECONNRESET);
	assert_true(ra.ended && rb.ended);
	assert_true(ra.end.local);
	assert_int_equal(ra.exit_code, 125);
	assert_non_null(strstr(ra.error, "connection to the agent lost"));
	assert_int_equal(agent_conn_status(c), -ECONNRESET);
	errno = 0;
	assert_null(agent_stream_open(c, req, &rec_ops, &ra));
	assert_int_equal(errno, ECONNRESET);
	assert_int_equal(agent_conn_wait(c, 10), -ECONNRESET);
	assert_int_equal(agent_conn_nstreams(c), 0);
	agent_conn_close(c);
	fake_free(&f);
	json_decref(req);
}

/* A frame longer than the limit: boundaries are lost, the connection fails. */
static void *fake_huge(void *arg)
{
	struct fake *f = arg;
	uint8_t *buf = malloc(FRAME_MAX_PAYLOAD), hdr[FRAME_HEADER_SIZE];
	struct frame_header h = { .len = FRAME_MAX_PAYLOAD + 1, .type = FRAME_DATA,
				  .channel = CHAN_OUT };

	h.stream = fake_request(f, buf);
	frame_header_encode(&h, hdr);
	write_full(f->fd, hdr, sizeof(hdr));
	/* A malformed but delimited frame first would only be skipped; this one is fatal. */
	usleep(100000);
	free(buf);
	return NULL;
}

static void test_agent_client_huge_frame(void **state)
{
	json_t *req = json_pack("{s:s}", "op", "ping");
	struct rec r = { 0 };
	struct fake f = { 0 };
	struct agent_conn *c;
	int cfd, rc = 0;

	fake_start(&f, fake_huge, &cfd);
	c = agent_conn_new(cfd, NULL, 0);
	assert_non_null(agent_stream_open(c, req, &rec_ops, &r));
	while (!rc)
		rc = agent_conn_wait(c, 5000);
	assert_int_equal(rc, -EPROTO);
	assert_true(r.ended);
	assert_non_null(strstr(agent_conn_error(c), "65537"));
	fake_join(&f);
	agent_conn_close(c);
	fake_free(&f);
	json_decref(req);
}

/* A well-delimited bad frame or bad JSON fails only its stream. */
static void *fake_bad_reply(void *arg)
{
	struct fake *f = arg;
	uint8_t *buf = malloc(FRAME_MAX_PAYLOAD), hdr[FRAME_HEADER_SIZE];
	uint32_t a = fake_request(f, buf), b = fake_request(f, buf);
	struct frame_header h = { .len = 1, .type = 9, .stream = b };

	fake_json(f, a, "[1,2,3]");
	frame_header_encode(&h, hdr);
	write_full(f->fd, hdr, sizeof(hdr));
	write_full(f->fd, "x", 1);
	fake_json(f, a, "{\"type\":\"error\",\"error\":\"cancelled\"}");
	fake_json(f, b, "{\"type\":\"error\",\"error\":\"cancelled\"}");
	usleep(100000);
	free(buf);
	return NULL;
}

static void test_agent_client_bad_reply(void **state)
{
	json_t *req = json_pack("{s:s}", "op", "ping");
	struct rec ra = { 0 }, rb = { 0 };
	struct fake f = { 0 };
	struct agent_conn *c;
	int cfd;

	fake_start(&f, fake_bad_reply, &cfd);
	c = agent_conn_new(cfd, NULL, 0);
	assert_non_null(agent_stream_open(c, req, &rec_ops, &ra));
	assert_non_null(agent_stream_open(c, req, &rec_ops, &rb));
	while (!(ra.ended && rb.ended))
		assert_int_equal(agent_conn_wait(c, 5000), 0);
	assert_true(ra.end.local);
	assert_non_null(strstr(ra.error, "not a JSON object"));
	assert_true(rb.end.local);
	assert_non_null(strstr(rb.error, "unknown frame type"));
	fake_join(&f);
	assert_int_equal(agent_conn_status(c), 0);
	agent_conn_close(c);
	fake_free(&f);
	json_decref(req);
}

/* agent_request() times out: the stream is cancelled, and freed once the agent answers. */
static void *fake_slow(void *arg)
{
	struct fake *f = arg;
	uint8_t *buf = malloc(FRAME_MAX_PAYLOAD);
	struct frame_header h;
	uint32_t s = fake_request(f, buf);

	if (fake_read_within(f, &h, buf, 5000) < 0 || h.type != FRAME_CTRL || h.stream != s)
		fake_fail(f, "expected a cancel");
	else
		f->cancels++;
	fake_json(f, s, "{\"type\":\"error\",\"error\":\"cancelled\"}");
	usleep(100000);
	free(buf);
	return NULL;
}

static void test_agent_client_request_timeout(void **state)
{
	json_t *req = json_pack("{s:s,s:i}", "op", "ready", "port", 80);
	struct fake f = { 0 };
	struct agent_conn *c;
	json_t *reply;
	char err[256];
	int cfd;

	fake_start(&f, fake_slow, &cfd);
	c = agent_conn_new(cfd, NULL, 0);
	assert_int_equal(agent_request(c, req, 100, &reply, err, sizeof(err)), -ETIMEDOUT);
	assert_null(reply);
	assert_non_null(strstr(err, "ready: no answer"));
	assert_int_equal(agent_conn_nstreams(c), 1);
	for (int i = 0; i < 10 && agent_conn_nstreams(c); i++)
		agent_conn_wait(c, 50);
	assert_int_equal(agent_conn_nstreams(c), 0);
	fake_join(&f);
	assert_int_equal(f.cancels, 1);
	agent_conn_close(c);
	fake_free(&f);
	json_decref(req);
}

/* agent_request() maps an error reply to -errno and its message. */
static void *fake_errors(void *arg)
{
	struct fake *f = arg;
	uint8_t *buf = malloc(FRAME_MAX_PAYLOAD);
	uint32_t s = fake_request(f, buf);

	fake_json(f, s, "{\"type\":\"error\",\"error\":\"stat /nope: No such file or directory\","
			"\"errno\":\"ENOENT\"}");
	s = fake_request(f, buf);
	fake_json(f, s, "{\"type\":\"result\",\"uptime_ms\":12345,\"version\":\"v9\",\"proto\":1}");
	s = fake_request(f, buf);
	fake_json(f, s, "{\"type\":\"result\",\"file_type\":\"dir\",\"mode\":493,\"size\":4096,"
			"\"uid\":1,\"gid\":2,\"mtime_ns\":1700000000123456789}");
	s = fake_request(f, buf);
	fake_json(f, s, "{\"type\":\"progress\"}"); /* not final: the client keeps waiting */
	usleep(50000);
	free(buf);
	return NULL;
}

static void test_agent_client_request_errors(void **state)
{
	struct fake f = { 0 };
	struct agent_conn *c;
	struct agent_ping p;
	struct agent_stat st;
	char err[256];
	int cfd;

	fake_start(&f, fake_errors, &cfd);
	c = agent_conn_new(cfd, NULL, 0);
	assert_int_equal(agent_stat(c, "/nope", 5000, &st, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "stat: stat /nope: No such file or directory");
	assert_int_equal(agent_ping(c, 5000, &p, err, sizeof(err)), 0);
	assert_int_equal(p.uptime_ms, 12345);
	assert_string_equal(p.version, "v9");
	assert_int_equal(p.proto, 1);
	assert_int_equal(agent_stat(c, "/", 5000, &st, err, sizeof(err)), 0);
	assert_string_equal(st.type, "dir");
	assert_int_equal(st.mode, 0755);
	assert_int_equal(st.size, 4096);
	assert_int_equal(st.uid, 1);
	assert_int_equal(st.gid, 2);
	assert_int_equal(st.mtime_ns, 1700000000123456789LL);
	assert_int_equal(agent_stat(c, "/", 300, &st, err, sizeof(err)), -ETIMEDOUT);
	fake_join(&f);
	agent_conn_close(c);
	fake_free(&f);
}

/* At most AGENT_MAX_STREAMS streams per connection. */
static void test_agent_client_stream_limit(void **state)
{
	json_t *req = json_pack("{s:s}", "op", "ping");
	struct agent_conn *c;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	c = agent_conn_new(sv[0], NULL, 0);
	for (int i = 0; i < AGENT_MAX_STREAMS; i++)
		assert_non_null(agent_stream_open(c, req, NULL, NULL));
	errno = 0;
	assert_null(agent_stream_open(c, req, NULL, NULL));
	assert_int_equal(errno, EMFILE);
	agent_conn_close(c);
	close(sv[1]);
	json_decref(req);
}

/* A bridged stream whose output pipe breaks: SIGPIPE goes to the remote process. */
static void *fake_sigpipe(void *arg)
{
	struct fake *f = arg;
	uint8_t *buf = calloc(1, FRAME_MAX_PAYLOAD);
	struct frame_header h;
	uint32_t s = fake_request(f, buf);

	fake_send(f, FRAME_DATA, CHAN_OUT, s, "data", 4);
	while (!f->failed[0]) {
		if (fake_read_within(f, &h, buf, 5000) < 0) {
			fake_fail(f, "no signal");
			break;
		}
		if (h.type == FRAME_CTRL) {
			json_t *m = json_loadb((const char *)buf, h.len, 0, NULL);

			if (json_integer_value(json_object_get(m, "signal")) == SIGPIPE)
				f->cancels++;
			json_decref(m);
			break;
		}
	}
	fake_json(f, s, "{\"type\":\"exit\",\"signal\":13}");
	free(buf);
	return NULL;
}

static void test_agent_client_sigpipe(void **state)
{
	static const char *const argv[] = { "yes", NULL };
	struct agent_exec_opts o = { .argv = argv, .uid = -1, .gid = -1 };
	struct fake f = { 0 };
	struct agent_conn *c;
	struct agent_end ex;
	char err[256];
	int cfd, p[2];

	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	fake_start(&f, fake_sigpipe, &cfd);
	c = agent_conn_new(cfd, NULL, 0);
	assert_int_equal(agent_exec(c, &o, -1, p[1], -1, 5000, &ex, err, sizeof(err)), 0);
	fake_join(&f);
	assert_int_equal(f.cancels, 1);
	assert_int_equal(ex.kind, AGENT_END_EXIT);
	assert_int_equal(agent_end_exit_code(&ex), 141);
	agent_conn_close(c);
	close(p[1]);
	fake_free(&f);
}

/* Hostile bytes: random frames, some well-formed, for open streams; no crash, every stream ends once. */
static void *fake_garbage(void *arg)
{
	struct fake *f = arg;
	uint8_t *buf = malloc(FRAME_MAX_PAYLOAD);
	uint32_t seed = 12345, ids[3];

	for (int i = 0; i < 3; i++)
		ids[i] = fake_request(f, buf);
	for (int i = 0; i < 3000 && !f->failed[0]; i++) {
		struct frame_header h;
		uint8_t hdr[FRAME_HEADER_SIZE];
		uint32_t len;

		seed = seed * 1103515245 + 12345;
		h.type = (uint8_t)(1 + (seed >> 8) % 5);
		h.channel = (uint8_t)((seed >> 12) % 4);
		h.flags = (seed >> 16) % 17 == 0;
		h.stream = (seed >> 4) % 7 == 0 ? 0 : ids[(seed >> 20) % 3] + (seed >> 27) % 2;
		len = h.type == FRAME_CREDIT ? 4 : h.type == FRAME_CLOSE ? 0 : (seed >> 14) % 300;
		h.len = len;
		for (uint32_t j = 0; j < len; j++)
			buf[j] = (uint8_t)(seed >> (j % 24));
		if (h.type == FRAME_CTRL && len > 20 && (seed & 3) == 0)
			len = h.len = (uint32_t)snprintf((char *)buf, 300,
							 "{\"type\":\"%s\",\"status\":%d}",
							 (seed & 4) ? "exit" : "started", (int)(seed >> 3));
		frame_header_encode(&h, hdr);
		if (write_full(f->fd, hdr, sizeof(hdr)) < 0 || write_full(f->fd, buf, len) < 0)
			break; /* the client may close on a protocol error: fine */
	}
	shutdown(f->fd, SHUT_WR);
	free(buf);
	return NULL;
}

static void test_agent_client_garbage(void **state)
{
	json_t *req = json_pack("{s:s,s:[s]}", "op", "exec", "argv", "x");
	struct rec r[3] = { 0 };
	struct fake f = { 0 };
	struct agent_conn *c;
	int cfd, rc = 0;

	fake_start(&f, fake_garbage, &cfd);
	c = agent_conn_new(cfd, NULL, 0);
	for (int i = 0; i < 3; i++)
		assert_non_null(agent_stream_open(c, req, &rec_ops, &r[i]));
	while (!rc)
		rc = agent_conn_wait(c, 5000);
	assert_int_not_equal(rc, -ETIMEDOUT);
	for (int i = 0; i < 3; i++)
		assert_true(r[i].ended); /* rec_end asserts once */
	fake_join(&f);
	agent_conn_close(c);
	fake_free(&f);
	json_decref(req);
}

/* --- Pure functions ------------------------------------------------------- */

static void test_agent_client_exit_code(void **state)
{
	static const struct {
		struct agent_end e;
		int code;
	} cases[] = {
		{ { .kind = AGENT_END_RESULT }, 0 },
		{ { .kind = AGENT_END_EXIT, .status = 0 }, 0 },
		{ { .kind = AGENT_END_EXIT, .status = 1 }, 1 },
		{ { .kind = AGENT_END_EXIT, .status = 255 }, 255 },
		{ { .kind = AGENT_END_EXIT, .status = -1, .signal = 9 }, 137 },
		{ { .kind = AGENT_END_EXIT, .status = -1, .signal = 15 }, 143 },
		{ { .kind = AGENT_END_EXIT, .status = -1, .signal = 9, .timed_out = true }, 124 },
		{ { .kind = AGENT_END_EXIT, .status = -1 }, 125 },
		{ { .kind = AGENT_END_ERROR, .err = ENOENT }, 127 },
		{ { .kind = AGENT_END_ERROR, .err = EACCES }, 126 },
		{ { .kind = AGENT_END_ERROR, .err = ENOEXEC }, 126 },
		{ { .kind = AGENT_END_ERROR, .err = EINVAL }, 125 },
		{ { .kind = AGENT_END_ERROR, .err = ENOENT, .local = true }, 125 },
		{ { .kind = AGENT_END_ERROR, .err = ECONNRESET, .local = true }, 125 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		print_message("case %zu: %d\n", i, agent_end_exit_code(&cases[i].e));
		assert_int_equal(agent_end_exit_code(&cases[i].e), cases[i].code);
	}
	assert_int_equal(agent_errno_from_name("ENOENT"), ENOENT);
	assert_int_equal(agent_errno_from_name("ENOTEMPTY"), ENOTEMPTY);
	assert_int_equal(agent_errno_from_name("EWHATEVER"), 0);
}

static void test_agent_client_exec_request(void **state)
{
	static const char *const argv[] = { "ls", "-l", NULL };
	struct agent_exec_opts o = { .argv = argv, .uid = -1, .gid = -1 };
	json_t *r = agent_exec_request(&o);
	char *text;

	text = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text, "{\"argv\":[\"ls\",\"-l\"],\"op\":\"exec\"}");
	free(text);
	json_decref(r);

	o = (struct agent_exec_opts){ .uid = 0, .gid = 5, .pty = true, .rows = 50, .cols = 132,
				      .term = "vt100", .timeout_ms = 10, .no_stdin = true };
	r = agent_exec_request(&o);
	text = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text, "{\"cols\":132,\"gid\":5,\"op\":\"pty\",\"rows\":50,"
				  "\"term\":\"vt100\",\"uid\":0}");
	free(text);
	json_decref(r);

	o = (struct agent_exec_opts){ .uid = -1, .gid = -1 }; /* exec needs argv */
	assert_null(agent_exec_request(&o));
}

static void test_agent_client_cp_parse(void **state)
{
	static const struct {
		const char *src, *dst;
		int rc;
		bool upload;
		const char *sock, *guest, *local;
	} cases[] = {
		{ "./a.txt", "guest:/run/vm.vsock:/etc/a.txt", 0, true, "/run/vm.vsock", "/etc/a.txt",
		  "./a.txt" },
		{ "guest:/run/vm.vsock:/var/log/x", ".", 0, false, "/run/vm.vsock", "/var/log/x",
		  "." },
		{ "-", "guest:vm.vsock:/tmp/", 0, true, "vm.vsock", "/tmp/", "-" },
		{ "guest:a:b.vsock:/x", "-", 0, false, "a:b.vsock", "/x", "-" },
		{ "guest:/s:/a:/b", "out", 0, false, "/s", "/a:/b", "out" },
		{ "a", "b", -EINVAL },
		{ "guest:/s:/a", "guest:/s:/b", -EINVAL },
		{ "a", "guest:/s", -EINVAL },          /* no path */
		{ "a", "guest:/s:rel/path", -EINVAL }, /* relative guest path */
		{ "a", "guest::/x", -EINVAL },         /* no socket */
		{ "", "guest:/s:/x", -EINVAL },
	};
	struct cp_spec cp;
	char err[256];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int rc;

		err[0] = '\0';
		rc = cp_spec_parse(cases[i].src, cases[i].dst, &cp, err, sizeof(err));
		print_message("%s %s -> %d %s\n", cases[i].src, cases[i].dst, rc, err);
		assert_int_equal(rc, cases[i].rc);
		if (rc) {
			assert_true(strlen(err) > 0);
			continue;
		}
		assert_int_equal(cp.upload, cases[i].upload);
		assert_string_equal(cp.sock, cases[i].sock);
		assert_string_equal(cp.guest_path, cases[i].guest);
		assert_string_equal(cp.local, cases[i].local);
	}
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_agent_client_handshake_parse),
		cmocka_unit_test(test_agent_client_connect_ok),
		cmocka_unit_test(test_agent_client_connect_refused),
		cmocka_unit_test(test_agent_client_connect_garbage),
		cmocka_unit_test(test_agent_client_connect_timeout),
		cmocka_unit_test(test_agent_client_connect_no_socket),
		cmocka_unit_test(test_agent_client_credit_send),
		cmocka_unit_test(test_agent_client_write_short),
		cmocka_unit_test(test_agent_client_credit_grant),
		cmocka_unit_test(test_agent_client_manual_credit),
		cmocka_unit_test(test_agent_client_dispatch),
		cmocka_unit_test(test_agent_client_overrun),
		cmocka_unit_test(test_agent_client_conn_lost),
		cmocka_unit_test(test_agent_client_huge_frame),
		cmocka_unit_test(test_agent_client_bad_reply),
		cmocka_unit_test(test_agent_client_request_timeout),
		cmocka_unit_test(test_agent_client_request_errors),
		cmocka_unit_test(test_agent_client_stream_limit),
		cmocka_unit_test(test_agent_client_sigpipe),
		cmocka_unit_test(test_agent_client_garbage),
		cmocka_unit_test(test_agent_client_exit_code),
		cmocka_unit_test(test_agent_client_exec_request),
		cmocka_unit_test(test_agent_client_cp_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
