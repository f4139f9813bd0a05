/*
 * The checks of torpor-test-agent (included by agent_host.c, which has the
 * client: cl_open, queue_frame, cl_next, expect, collect, send_in, ...).
 * Each returns 0, or -1 with why in g_why; *detail may get a short note.
 */

static int check_wait(char *detail)
{
	int64_t end = now_ms() + (int64_t)g_wait_s * 1000;
	int tries = 0;

	for (;;) {
		struct cl *c = cl_open();

		tries++;
		if (c && ping(c, 1) == 0) {
			cl_close(c);
			sprintf(detail, "tries=%d", tries);
			return 0;
		}
		cl_close(c);
		if (now_ms() >= end)
			return failf("no agent after %d s: %s", g_wait_s, g_why);
		usleep(200000);
	}
}

static int check_ping(char *detail)
{
	struct cl *c = cl_open();
	char buf[512];
	int rc = -1;

	if (!c)
		return -1;
	ctrl(c, 7, "{\"op\":\"ping\"}");
	if (expect(c, 7, "result", buf, sizeof(buf)) < 0)
		goto out;
	if (jnum(buf, "proto") != 1 || jnum(buf, "uptime_ms") < 0 || jnum(buf, "agent_pid") <= 1 ||
	    !strstr(buf, "\"version\":\"")) {
		failf("ping: %s", buf);
		goto out;
	}
	snprintf(detail, 200, "%.190s", buf);
	rc = 0;
out:
	cl_close(c);
	return rc;
}

static int exec_cases(struct cl *c)
{
	struct run r;
	char buf[512];
	int rc;

	rc = run_sh(c, 1, "exit 3", "", &r);
	CHECK(!rc && jis(r.final, "type", "exit") && jnum(r.final, "status") == 3,
	      "exit 3: %s %s", r.final, g_why);
	run_free(&r);
	CHECK(r.out_closed && r.err_closed, "exit 3: outputs not closed");
	rc = run_sh(c, 2, "echo out; echo err >&2; echo \"$FOO\"; pwd", ",\"env\":[\"FOO=bar\"],"
		    "\"cwd\":\"/tmp\"", &r);
	CHECK(!rc && r.out && !strcmp((char *)r.out, "out\nbar\n/tmp\n") && r.err &&
		      !strcmp((char *)r.err, "err\n") && jnum(r.final, "status") == 0,
	      "echo: out [%s] err [%s] %s %s", r.out ? (char *)r.out : "", r.err ? (char *)r.err : "",
	      r.final, g_why);
	run_free(&r);
	rc = run_sh(c, 3, "cat; echo done", ",\"stdin\":false", &r);
	CHECK(!rc && r.out && !strcmp((char *)r.out, "done\n"), "stdin false: %s", r.final);
	run_free(&r);
	ctrl(c, 4, "{\"op\":\"exec\",\"argv\":[\"/nonexistent/prog\"]}");
	CHECK(!expect(c, 4, "error", buf, sizeof(buf)) && jis(buf, "errno", "ENOENT"),
	      "exec enoent: %s %s", buf, g_why);
	ctrl(c, 5, "{\"op\":\"exec\",\"argv\":[\"true\"],\"cwd\":\"/nonexistent\"}");
	CHECK(!expect(c, 5, "error", buf, sizeof(buf)) && strstr(buf, "chdir"),
	      "exec bad cwd: %s %s", buf, g_why);
	return 0;
}

static int check_exec(char *detail)
{
	struct cl *c = cl_open();
	int rc;

	if (!c)
		return -1;
	rc = exec_cases(c);
	cl_close(c);
	return rc;
}

static int signal_cases(struct cl *c)
{
	struct run r;
	char buf[512];
	int rc;

	exec_sh(c, 1, "exec sleep 100", "");
	CHECK(!expect(c, 1, "started", buf, sizeof(buf)), "sleep: %s", g_why);
	ctrl(c, 1, "{\"op\":\"signal\",\"signal\":15}");
	rc = collect(c, 1, &r);
	CHECK(!rc && jnum(r.final, "signal") == 15, "signal 15: %s %s", r.final, g_why);
	run_free(&r);
	exec_sh(c, 2, "exec sleep 100", ",\"timeout_ms\":300");
	CHECK(!expect(c, 2, "started", buf, sizeof(buf)), "timeout: %s", g_why);
	rc = collect(c, 2, &r);
	CHECK(!rc && jnum(r.final, "signal") == 9 && jis(r.final, "timed_out", "true"),
	      "timeout: %s %s", r.final, g_why);
	run_free(&r);
	exec_sh(c, 3, "exec sleep 100", "");
	CHECK(!expect(c, 3, "started", buf, sizeof(buf)), "cancel: %s", g_why);
	ctrl(c, 3, "{\"op\":\"cancel\"}");
	CHECK(!expect(c, 3, "error", buf, sizeof(buf)) && jis(buf, "error", "cancelled"),
	      "cancel: %s %s", buf, g_why);
	return 0;
}

static int check_signal(char *detail)
{
	struct cl *c = cl_open();
	int rc;

	if (!c)
		return -1;
	rc = signal_cases(c);
	cl_close(c);
	return rc;
}

/* 1 MiB through cat and back: IN credit from the agent, OUT credit from us. */
static int check_stdin(char *detail)
{
	const size_t n = 1u << 20;
	uint8_t *data = malloc(n);
	struct cl *c = cl_open();
	struct run r = { 0 };
	char buf[512];
	int rc = -1;

	if (!c || !data)
		goto out;
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 2654435761u >> 13);
	ctrl(c, 9, "{\"op\":\"exec\",\"argv\":[\"cat\"]}");
	if (expect(c, 9, "started", buf, sizeof(buf)) < 0 || send_in(c, 9, data, n) < 0)
		goto out;
	queue_frame(c, FRAME_CLOSE, CHAN_IN, 9, NULL, 0);
	if (collect(c, 9, &r) < 0)
		goto out;
	if (r.out_len != n || memcmp(r.out, data, n) || jnum(r.final, "status") != 0) {
		failf("cat: %zu of %zu bytes back, %s", r.out_len, n,
		      r.out_len == n ? "different" : r.final);
		goto out;
	}
	sprintf(detail, "bytes=%zu", n);
	rc = 0;
out:
	run_free(&r);
	free(data);
	cl_close(c);
	return rc;
}

/* Without our credit the producer stops at the window; other streams go on. */
static int stall_cases(struct cl *c, char *detail)
{
	size_t got = 0;
	struct mail *m;
	struct run r;
	char buf[512];

	st_get(c, 1)->no_auto = true;
	exec_sh(c, 1, "head -c 1000000 /dev/zero", "");
	CHECK(!expect(c, 1, "started", buf, sizeof(buf)), "head: %s", g_why);
	while ((m = cl_next(c, 1, 1500))) {
		CHECK(m->h.type == FRAME_DATA, "stall: unexpected frame type %u", m->h.type);
		got += m->h.len;
		mail_free(m);
	}
	CHECK(got == FRAME_WINDOW, "stall: %zu bytes without credit, want %u", got, FRAME_WINDOW);
	CHECK(ping(c, 2) == 0, "ping while stalled: %s", g_why);
	st_get(c, 1)->no_auto = false;
	queue_credit(c, 1, CHAN_OUT, 1u << 30);
	CHECK(!collect(c, 1, &r), "after credit: %s", g_why);
	CHECK(got + r.out_len == 1000000 && jnum(r.final, "status") == 0, "after credit: %zu, %s",
	      got + r.out_len, r.final);
	run_free(&r);
	sprintf(detail, "stalled_at=%zu", got);
	return 0;
}

static int check_stall(char *detail)
{
	struct cl *c = cl_open();
	int rc;

	if (!c)
		return -1;
	rc = stall_cases(c, detail);
	cl_close(c);
	return rc;
}

struct bad_case {
	const char *name;
	struct frame_header h;
	const char *payload; /* its length is the header's; NULL: none */
	uint32_t reply_stream;
	const char *want; /* substring of the error */
};

static const struct bad_case bad_cases[] = {
	{ "unknown_type", { 0, 9, 0, 0, 5 }, NULL, 5, "unknown frame type" },
	{ "credit_len_3", { 3, FRAME_CREDIT, 1, 0, 5 }, "abc", 5, "bad frame length" },
	{ "close_with_payload", { 2, FRAME_CLOSE, 0, 0, 5 }, "ab", 5, "bad frame length" },
	{ "data_empty", { 0, FRAME_DATA, 0, 0, 5 }, NULL, 5, "bad frame length" },
	{ "ctrl_len_1", { 1, FRAME_CTRL, 0, 0, 5 }, "{", 5, "bad frame length" },
	{ "ctrl_channel", { 13, FRAME_CTRL, 1, 0, 5 }, "{\"op\":\"ping\"}", 5, "bad channel" },
	{ "channel_3", { 1, FRAME_DATA, 3, 0, 5 }, "x", 5, "bad channel" },
	{ "flags", { 13, FRAME_CTRL, 0, 1, 5 }, "{\"op\":\"ping\"}", 5, "reserved flags" },
	{ "data_stream_0", { 1, FRAME_DATA, 0, 0, 0 }, "x", 0, "stream 0" },
	{ "not_json", { 5, FRAME_CTRL, 0, 0, 6 }, "hello", 6, "bad JSON" },
	{ "json_array", { 5, FRAME_CTRL, 0, 0, 6 }, "[1,2]", 6, "JSON object" },
	{ "no_op", { 8, FRAME_CTRL, 0, 0, 6 }, "{\"a\":1}", 6, "op: required" },
	{ "unknown_op", { 14, FRAME_CTRL, 0, 0, 6 }, "{\"op\":\"nope\"}", 6, "unknown op" },
	{ "argv_type", { 27, FRAME_CTRL, 0, 0, 6 }, "{\"op\":\"exec\",\"argv\":\"ls\"}", 6, "argv" },
	{ "relative_path", { 29, FRAME_CTRL, 0, 0, 6 }, "{\"op\":\"stat\",\"path\":\"etc\"}", 6,
	  "absolute" },
	{ "ctrl_stream_0", { 13, FRAME_CTRL, 0, 0, 0 }, "{\"op\":\"ping\"}", 0, "stream 0" },
	{ "bad_utf8", { 16, FRAME_CTRL, 0, 0, 6 }, "{\"op\":\"p\xff\xfeng\"}", 6, "bad JSON" },
	{ "dup_key", { 25, FRAME_CTRL, 0, 0, 6 }, "{\"op\":\"ping\",\"op\":\"ping\"}", 6, "bad JSON" },
};

/* Each bad frame gets an error on its stream; the connection still answers a ping. */
static int bad_frame_cases(struct cl *c, char *detail)
{
	char buf[1024];
	unsigned n = 0;

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *b = &bad_cases[i];
		struct frame_header h = b->h;
		uint8_t hdr[FRAME_HEADER_SIZE];

		h.len = b->payload ? (uint32_t)strlen(b->payload) : 0;
		frame_header_encode(&h, hdr);
		queue(c, hdr, sizeof(hdr));
		if (h.len)
			queue(c, b->payload, h.len);
		CHECK(!expect(c, b->reply_stream, "error", buf, sizeof(buf)), "%s: %s", b->name,
		      g_why);
		CHECK(strstr(buf, b->want) && jis(buf, "errno", "EINVAL"), "%s: %s", b->name, buf);
		CHECK(ping(c, 100 + (uint32_t)i) == 0, "ping after %s: %s", b->name, g_why);
		n++;
	}
	/* DATA, CLOSE, CREDIT on a stream that is not open: dropped, no reply. */
	queue_frame(c, FRAME_DATA, CHAN_IN, 77, "x", 1);
	queue_frame(c, FRAME_CLOSE, CHAN_IN, 77, NULL, 0);
	queue_credit(c, 77, CHAN_OUT, 5);
	ctrl(c, 77, "{\"op\":\"cancel\"}");
	CHECK(ping(c, 78) == 0, "ping after frames on a closed stream: %s", g_why);
	CHECK(!c->head, "a reply to frames on a closed stream (stream %u)", c->head->h.stream);
	sprintf(detail, "cases=%u", n);
	return 0;
}

static int check_bad_frames(char *detail)
{
	struct cl *c = cl_open();
	int rc;

	if (!c)
		return -1;
	rc = bad_frame_cases(c, detail);
	cl_close(c);
	return rc;
}

/* Protocol errors on an open stream reset only it. */
static int stream_error_cases(struct cl *c)
{
	static uint8_t chunk[FRAME_MAX_PAYLOAD];
	char buf[1024];
	struct mail *m;

	exec_sh(c, 1, "exec sleep 100", "");
	CHECK(!expect(c, 1, "started", buf, sizeof(buf)), "sleep: %s", g_why);
	exec_sh(c, 2, "exec sleep 100", "");
	CHECK(!expect(c, 2, "started", buf, sizeof(buf)), "sleep 2: %s", g_why);
	for (int i = 0; i < 8; i++) /* 512 KiB at once: past the window and what the pipe took */
		queue_frame(c, FRAME_DATA, CHAN_IN, 1, chunk, sizeof(chunk));
	CHECK(!expect(c, 1, "error", buf, sizeof(buf)) && strstr(buf, "credit"),
	      "beyond credit: %s %s", buf, g_why);
	ctrl(c, 2, "{\"op\":\"ping\"}");
	CHECK(!expect(c, 2, "error", buf, sizeof(buf)) && strstr(buf, "in use"),
	      "op on an open stream: %s %s", buf, g_why);
	exec_sh(c, 3, "exec sleep 100", "");
	CHECK(!expect(c, 3, "started", buf, sizeof(buf)), "sleep 3: %s", g_why);
	queue_frame(c, FRAME_DATA, CHAN_OUT, 3, "x", 1);
	CHECK(!expect(c, 3, "error", buf, sizeof(buf)) && strstr(buf, "channel 1"),
	      "DATA on OUT: %s %s", buf, g_why);
	CHECK(ping(c, 4) == 0, "ping: %s", g_why);
	while ((m = cl_next(c, 1, 0)) || (m = cl_next(c, 2, 0)) || (m = cl_next(c, 3, 0))) {
		mail_free(m);
		return failf("a frame after a stream's final error");
	}
	return 0;
}

static int check_stream_errors(char *detail)
{
	struct cl *c = cl_open();
	int rc;

	if (!c)
		return -1;
	rc = stream_error_cases(c);
	cl_close(c);
	return rc;
}

/* A length over 65536: an error on stream 0, then EOF; a new connection works. */
static int check_oversized(char *detail)
{
	struct frame_header h = { .len = FRAME_MAX_PAYLOAD + 1, .type = FRAME_DATA, .stream = 1 };
	struct cl *c = cl_open();
	uint8_t hdr[FRAME_HEADER_SIZE];
	char buf[512];
	int64_t end;

	if (!c)
		return -1;
	frame_header_encode(&h, hdr);
	queue(c, hdr, sizeof(hdr));
	if (expect(c, 0, "error", buf, sizeof(buf)) < 0 || !strstr(buf, "over the limit")) {
		cl_close(c);
		return failf("oversized: %s %s", buf, g_why);
	}
	end = now_ms() + WAIT_MS;
	while (!c->eof && now_ms() < end)
		cl_io(c, 100);
	CHECK(c->eof, "oversized: the connection stayed open");
	cl_close(c);
	c = cl_open();
	CHECK(c && ping(c, 1) == 0, "ping on a new connection: %s", g_why);
	cl_close(c);
	return 0;
}

#include "agent_host_checks2.h"
