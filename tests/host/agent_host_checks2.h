/* More checks of torpor-test-agent (many streams, files, pty, relay, disconnect) and main(). */
#include <signal.h>

/* 16 connections × 16 streams at once, each its own process and output. */
static int check_many(char *detail)
{
	enum { NC = 16, NS = 16 };
	struct cl *c[NC] = { 0 };
	char script[64], want[64];
	struct run r;
	int rc = -1;

	for (int i = 0; i < NC; i++)
		if (!(c[i] = cl_open()))
			goto out;
	for (int i = 0; i < NC; i++)
		for (int j = 0; j < NS; j++) {
			snprintf(script, sizeof(script), "echo c%ds%d", i, j);
			exec_sh(c[i], (uint32_t)j + 1, script, ",\"stdin\":false");
		}
	for (int i = 0; i < NC; i++) {
		for (int j = 0; j < NS; j++) {
			if (collect(c[i], (uint32_t)j + 1, &r) < 0)
				goto out;
			snprintf(want, sizeof(want), "c%ds%d\n", i, j);
			if (!r.out || strcmp((char *)r.out, want) || jnum(r.final, "status")) {
				failf("conn %d stream %d: [%s] %s", i, j, r.out ? (char *)r.out : "",
				      r.final);
				run_free(&r);
				goto out;
			}
			run_free(&r);
		}
	}
	sprintf(detail, "streams=%d", NC * NS);
	rc = 0;
out:
	for (int i = 0; i < NC; i++)
		cl_close(c[i]);
	return rc;
}

/* 256 open streams (pending file_writes); the 257th is refused; cancel removes their temp files. */
static int limit_cases(struct cl *c)
{
	char req[256], buf[1024];

	for (uint32_t i = 1; i <= AGENT_MAX_STREAMS; i++) {
		snprintf(req, sizeof(req), "{\"op\":\"file_write\",\"path\":\"/tmp/agent-lim-%u\"}", i);
		ctrl(c, i, req);
	}
	ctrl(c, 1001, "{\"op\":\"ping\"}");
	CHECK(!expect(c, 1001, "error", buf, sizeof(buf)) && jis(buf, "errno", "EBUSY"),
	      "stream 257: %s %s", buf, g_why);
	for (uint32_t i = 1; i <= AGENT_MAX_STREAMS; i++)
		ctrl(c, i, "{\"op\":\"cancel\"}");
	for (uint32_t i = 1; i <= AGENT_MAX_STREAMS; i++)
		CHECK(!expect(c, i, "error", buf, sizeof(buf)) && jis(buf, "error", "cancelled"),
		      "cancel %u: %s %s", i, buf, g_why);
	ctrl(c, 1002, "{\"op\":\"list\",\"path\":\"/tmp\"}");
	CHECK(!expect(c, 1002, "result", buf, sizeof(buf)) && !strstr(buf, "agent-lim"),
	      "temp files left: %.200s", buf);
	return 0;
}

static int check_limits(char *detail)
{
	struct cl *c = cl_open();
	int rc;

	if (!c)
		return -1;
	rc = limit_cases(c);
	cl_close(c);
	return rc;
}

static int file_rw(struct cl *c, const uint8_t *data, size_t n)
{
	struct run r;
	char buf[1024];

	ctrl(c, 1, "{\"op\":\"file_write\",\"path\":\"/tmp/agent-f.bin\",\"mode\":384}");
	CHECK(!send_in(c, 1, data, n), "file_write: %s", g_why);
	queue_frame(c, FRAME_CLOSE, CHAN_IN, 1, NULL, 0);
	CHECK(!expect(c, 1, "result", buf, sizeof(buf)) && jnum(buf, "size") == (long long)n,
	      "file_write: %s %s", buf, g_why);
	ctrl(c, 2, "{\"op\":\"stat\",\"path\":\"/tmp/agent-f.bin\"}");
	CHECK(!expect(c, 2, "result", buf, sizeof(buf)) && jis(buf, "file_type", "file") &&
		      jnum(buf, "mode") == 0600 && jnum(buf, "size") == (long long)n,
	      "stat: %s %s", buf, g_why);
	ctrl(c, 3, "{\"op\":\"file_read\",\"path\":\"/tmp/agent-f.bin\"}");
	CHECK(!collect(c, 3, &r), "file_read: %s", g_why);
	CHECK(r.out_len == n && !memcmp(r.out, data, n) && r.out_closed &&
		      jnum(r.final, "size") == (long long)n,
	      "file_read: %zu bytes, %s", r.out_len, r.final);
	run_free(&r);
	ctrl(c, 4, "{\"op\":\"list\",\"path\":\"/tmp\"}");
	CHECK(!expect(c, 4, "result", buf, sizeof(buf)) && strstr(buf, "\"name\":\"agent-f.bin\""),
	      "list: %.300s", buf);
	return 0;
}

static int file_errors(struct cl *c)
{
	struct run r;
	char buf[1024];

	ctrl(c, 5, "{\"op\":\"file_write\",\"path\":\"/nonexistent/x\"}");
	CHECK(!expect(c, 5, "error", buf, sizeof(buf)) && jis(buf, "errno", "ENOENT"),
	      "file_write in a missing dir: %s", buf);
	ctrl(c, 6, "{\"op\":\"file_read\",\"path\":\"/tmp\"}");
	CHECK(!expect(c, 6, "error", buf, sizeof(buf)) && jis(buf, "errno", "EISDIR"),
	      "file_read of a dir: %s", buf);
	CHECK(!run_sh(c, 7, "mkdir -p /tmp/agent-d/a/b && touch /tmp/agent-d/a/b/c", "", &r),
	      "mkdir: %s", g_why);
	run_free(&r);
	ctrl(c, 8, "{\"op\":\"remove\",\"path\":\"/tmp/agent-d\"}");
	CHECK(!expect(c, 8, "error", buf, sizeof(buf)) && jis(buf, "errno", "ENOTEMPTY"),
	      "remove non-empty: %s", buf);
	ctrl(c, 9, "{\"op\":\"remove\",\"path\":\"/tmp/agent-d\",\"recursive\":true}");
	CHECK(!expect(c, 9, "result", buf, sizeof(buf)), "remove -r: %s %s", buf, g_why);
	ctrl(c, 10, "{\"op\":\"stat\",\"path\":\"/tmp/agent-d\"}");
	CHECK(!expect(c, 10, "error", buf, sizeof(buf)) && jis(buf, "errno", "ENOENT"),
	      "stat after remove: %s", buf);
	ctrl(c, 11, "{\"op\":\"remove\",\"path\":\"/\",\"recursive\":true}");
	CHECK(!expect(c, 11, "error", buf, sizeof(buf)) && jis(buf, "errno", "EINVAL"),
	      "remove /: %s", buf);
	ctrl(c, 12, "{\"op\":\"remove\",\"path\":\"/tmp/agent-f.bin\"}");
	CHECK(!expect(c, 12, "result", buf, sizeof(buf)), "remove file: %s", buf);
	return 0;
}

static int check_files(char *detail)
{
	const size_t n = 300000;
	uint8_t *data = malloc(n);
	struct cl *c = cl_open();
	int rc = -1;

	if (c && data) {
		for (size_t i = 0; i < n; i++)
			data[i] = (uint8_t)(i * 7 + (i >> 9));
		rc = file_rw(c, data, n);
		if (!rc)
			rc = file_errors(c);
	}
	if (!rc)
		sprintf(detail, "bytes=%zu", n);
	free(data);
	cl_close(c);
	return rc;
}

static int pty_cases(struct cl *c)
{
	struct run r;
	char buf[1024];

	ctrl(c, 1, "{\"op\":\"pty\",\"argv\":[\"/bin/sh\",\"-c\",\"stty size; echo $TERM; tty; "
		   "exit 7\"],\"rows\":30,\"cols\":100}");
	CHECK(!expect(c, 1, "started", buf, sizeof(buf)), "pty: %s", g_why);
	CHECK(!collect(c, 1, &r), "pty: %s", g_why);
	CHECK(r.out && strstr((char *)r.out, "30 100") && strstr((char *)r.out, "xterm-256color") &&
		      strstr((char *)r.out, "/dev/pts/") && jnum(r.final, "status") == 7,
	      "pty: [%s] %s", r.out ? (char *)r.out : "", r.final);
	run_free(&r);
	ctrl(c, 2, "{\"op\":\"pty\",\"argv\":[\"/bin/sh\",\"-c\",\"read x; stty size\"]}");
	CHECK(!expect(c, 2, "started", buf, sizeof(buf)), "pty 2: %s", g_why);
	ctrl(c, 2, "{\"op\":\"resize\",\"rows\":40,\"cols\":120}");
	queue_frame(c, FRAME_DATA, CHAN_IN, 2, "go\n", 3);
	CHECK(!collect(c, 2, &r), "pty resize: %s", g_why);
	CHECK(r.out && strstr((char *)r.out, "40 120") && jnum(r.final, "status") == 0,
	      "pty resize: [%s] %s", r.out ? (char *)r.out : "", r.final);
	run_free(&r);
	return 0;
}

static int check_pty(char *detail)
{
	struct cl *c = cl_open();
	int rc;

	if (!c)
		return -1;
	rc = pty_cases(c);
	cl_close(c);
	return rc;
}

/* relay on stream *id to port: retried (new ids) while nothing listens yet. */
static int relay_open(struct cl *c, uint32_t *id, int port)
{
	int64_t end = now_ms() + WAIT_MS;
	char req[128], buf[1024];

	snprintf(req, sizeof(req), "{\"op\":\"relay\",\"port\":%d}", port);
	for (;; (*id)++) {
		ctrl(c, *id, req);
		if (!expect(c, *id, "started", buf, sizeof(buf)))
			return 0;
		CHECK(jis(buf, "errno", "ECONNREFUSED") && now_ms() < end, "relay: %s %s", buf, g_why);
		usleep(100000);
	}
}

static int relay_cases(struct cl *c)
{
	uint32_t rid = 100;
	struct run r, s;
	struct mail *m;
	char buf[1024];

	ctrl(c, 1, "{\"op\":\"ready\",\"port\":7999,\"timeout_ms\":300}");
	CHECK(!expect(c, 1, "error", buf, sizeof(buf)) && jis(buf, "error", "timeout") &&
		      jis(buf, "errno", "ETIMEDOUT"),
	      "ready on a closed port: %s %s", buf, g_why);
	exec_sh(c, 2, "exec nc -l -p 7001", "");
	CHECK(!expect(c, 2, "started", buf, sizeof(buf)), "nc: %s", g_why);
	CHECK(!relay_open(c, &rid, 7001), "%s", g_why);
	queue_frame(c, FRAME_DATA, CHAN_IN, rid, "ping\n", 5);
	while ((m = cl_next(c, 2, WAIT_MS)) && m->h.type != FRAME_DATA)
		mail_free(m);
	CHECK(m && m->h.len == 5 && !memcmp(m->p, "ping\n", 5), "relay to nc: %s",
	      m ? (char *)m->p : "nothing");
	mail_free(m);
	queue_frame(c, FRAME_DATA, CHAN_IN, 2, "pong\n", 5);
	while ((m = cl_next(c, rid, WAIT_MS)) && m->h.type != FRAME_DATA)
		mail_free(m);
	CHECK(m && m->h.len == 5 && !memcmp(m->p, "pong\n", 5), "relay from nc: %s",
	      m ? (char *)m->p : "nothing");
	mail_free(m);
	queue_frame(c, FRAME_CLOSE, CHAN_IN, rid, NULL, 0); /* nc reads EOF and exits */
	CHECK(!collect(c, rid, &r), "relay: %s", g_why);
	CHECK(r.out_closed && jnum(r.final, "sent") == 5 && jnum(r.final, "received") == 5,
	      "relay: %s", r.final);
	run_free(&r);
	queue_frame(c, FRAME_CLOSE, CHAN_IN, 2, NULL, 0);
	CHECK(!collect(c, 2, &s), "nc exit: %s", g_why);
	run_free(&s);
	exec_sh(c, 3, "exec nc -l -p 7002", ",\"stdin\":false");
	CHECK(!expect(c, 3, "started", buf, sizeof(buf)), "nc 2: %s", g_why);
	ctrl(c, 4, "{\"op\":\"ready\",\"port\":7002,\"timeout_ms\":20000}");
	CHECK(!expect(c, 4, "result", buf, sizeof(buf)) && jnum(buf, "port") == 7002,
	      "ready: %s %s", buf, g_why);
	ctrl(c, 3, "{\"op\":\"cancel\"}");
	return 0;
}

static int check_relay(char *detail)
{
	struct cl *c = cl_open();
	int rc;

	if (!c)
		return -1;
	rc = relay_cases(c);
	cl_close(c);
	return rc;
}

static const char census_sh[] =
	"a=$PPID; n=$((1000+7)); z=0; k=0; l=0; "
	"for d in /proc/[0-9]*; do "
	"p=$(sed -n 's/^PPid:[[:space:]]*//p' $d/status 2>/dev/null); "
	"if [ \"$p\" = \"$a\" ]; then k=$((k+1)); "
	"grep -q '^State:[[:space:]]*Z' $d/status 2>/dev/null && z=$((z+1)); fi; "
	"case \"$(tr '\\0' ' ' < $d/cmdline 2>/dev/null)\" in \"sleep $n\"*) l=$((l+1));; esac; "
	"done; echo \"kids=$k zombies=$z left=$l fds=$(ls /proc/$a/fd | wc -l)\"";

/* The agent's children, zombies, leftover "sleep 1007"s and open fds, from inside the guest. */
static int census(char *out, size_t n)
{
	struct cl *c = cl_open();
	struct run r;
	int rc;

	if (!c)
		return -1;
	rc = run_sh(c, 1, census_sh, "", &r);
	cl_close(c);
	if (!rc && r.out) {
		snprintf(out, n, "%s", (char *)r.out);
		out[strcspn(out, "\n")] = 0;
	}
	if (!rc && !r.out)
		rc = -1;
	run_free(&r);
	return rc ? failf("census: %s", g_why) : 0;
}

/* A client that vanishes mid-stream: its processes die, are reaped, and its fds are closed. */
static int check_disconnect(char *detail)
{
	char base[256], now[256], buf[512], want[256];
	static uint8_t junk[100000];
	struct cl *c;
	int64_t end;

	CHECK(!census(base, sizeof(base)), "%s", g_why);
	CHECK(strstr(base, "kids=1 zombies=0 left=0 "), "before: %s", base);
	c = cl_open();
	CHECK(c, "%s", g_why);
	exec_sh(c, 1, "sleep $((1000+7))", "");
	st_get(c, 2)->no_auto = true;
	exec_sh(c, 2, "yes", "");
	exec_sh(c, 3, "cat", "");
	ctrl(c, 4, "{\"op\":\"pty\",\"argv\":[\"/bin/sh\",\"-c\",\"sleep $((1000+7))\"]}");
	ctrl(c, 5, "{\"op\":\"file_write\",\"path\":\"/tmp/agent-disc\"}");
	for (uint32_t i = 1; i <= 4; i++)
		if (expect(c, i, "started", buf, sizeof(buf)) < 0) {
			cl_close(c);
			return -1;
		}
	send_in(c, 3, junk, sizeof(junk));
	queue_frame(c, FRAME_DATA, CHAN_IN, 5, junk, 1000);
	cl_flush(c);
	usleep(300000);
	cl_close(c); /* gone, mid-everything */
	snprintf(want, sizeof(want), "kids=1 zombies=0 left=0 %s", strstr(base, "fds="));
	for (end = now_ms() + 15000;;) {
		CHECK(!census(now, sizeof(now)), "%s", g_why);
		if (!strcmp(now, want))
			break;
		CHECK(now_ms() < end, "after the disconnect: %s (before: %s)", now, base);
		usleep(300000);
	}
	sprintf(detail, "%s", now);
	return 0;
}

/* What changes the guest (not run against unix:, a test agent on the build machine). */
static int guest_cases(struct cl *c, char *detail)
{
	static const char app_json[] =
		"{\"argv\":[\"sleep\",\"1\"],\"port\":7003,\"hooks\":{\"restored\":"
		"[\"/bin/sh\",\"-c\",\"echo hooked >/tmp/agent-hook\"]}}";
	char entropy[64], buf[1024];
	struct run r;

	CHECK(!run_sh(c, 1, "id -u; id -g", ",\"uid\":1000", &r), "uid: %s", g_why);
	CHECK(r.out && !strcmp((char *)r.out, "1000\n1000\n"), "uid 1000: [%s] %s",
	      r.out ? (char *)r.out : "", r.final);
	run_free(&r);
	ctrl(c, 2, "{\"op\":\"quiesce\"}");
	CHECK(!expect(c, 2, "result", buf, sizeof(buf)), "quiesce: %s %s", buf, g_why);
	ctrl(c, 3, "{\"op\":\"ready\"}");
	CHECK(!expect(c, 3, "error", buf, sizeof(buf)) && jis(buf, "errno", "EINVAL"),
	      "ready without app.json: %s %s", buf, g_why);
	memset(entropy, 'Q', 43);
	strcpy(entropy + 43, "=");
	snprintf(buf, sizeof(buf), "{\"op\":\"restored\",\"entropy\":\"%s\","
		 "\"time_ns\":1800000000000000000}", entropy);
	ctrl(c, 4, buf);
	CHECK(!expect(c, 4, "result", buf, sizeof(buf)) && !strstr(buf, "hook"),
	      "restored: %s %s", buf, g_why);
	CHECK(!run_sh(c, 5, "date +%s; mkdir -p /etc/torpor", "", &r), "date: %s", g_why);
	CHECK(r.out && atoll((char *)r.out) >= 1800000000LL && atoll((char *)r.out) < 1800000600LL,
	      "clock after restored: [%s]", r.out ? (char *)r.out : "");
	run_free(&r);
	ctrl(c, 6, "{\"op\":\"file_write\",\"path\":\"/etc/torpor/app.json\"}");
	queue_frame(c, FRAME_DATA, CHAN_IN, 6, app_json, strlen(app_json));
	queue_frame(c, FRAME_CLOSE, CHAN_IN, 6, NULL, 0);
	CHECK(!expect(c, 6, "result", buf, sizeof(buf)), "app.json: %s %s", buf, g_why);
	exec_sh(c, 7, "exec nc -l -p 7003", ",\"stdin\":false");
	CHECK(!expect(c, 7, "started", buf, sizeof(buf)), "nc: %s", g_why);
	ctrl(c, 8, "{\"op\":\"ready\",\"timeout_ms\":20000}");
	CHECK(!expect(c, 8, "result", buf, sizeof(buf)) && jnum(buf, "port") == 7003,
	      "ready with app.json's port: %s %s", buf, g_why);
	ctrl(c, 7, "{\"op\":\"cancel\"}");
	ctrl(c, 9, "{\"op\":\"restored\"}");
	CHECK(!expect(c, 9, "result", buf, sizeof(buf)) && strstr(buf, "\"hook\":{\"status\":0}"),
	      "restored with a hook: %s %s", buf, g_why);
	ctrl(c, 10, "{\"op\":\"file_read\",\"path\":\"/tmp/agent-hook\"}");
	CHECK(!collect(c, 10, &r) && r.out && !strcmp((char *)r.out, "hooked\n"),
	      "the hook did not run: %s", r.final);
	run_free(&r);
	ctrl(c, 11, "{\"op\":\"remove\",\"path\":\"/etc/torpor/app.json\"}");
	CHECK(!expect(c, 11, "result", buf, sizeof(buf)), "remove app.json: %s", buf);
	sprintf(detail, "uid, quiesce, restored, app.json port and hook");
	return 0;
}

static int check_guest(char *detail)
{
	struct cl *c = cl_open();
	int rc;

	if (!c)
		return -1;
	rc = guest_cases(c, detail);
	cl_close(c);
	return rc;
}

/*
 * A connection that answers a ping. The agent learns of closed connections
 * a little after the client closed them: one refused as the 65th is retried.
 */
static struct cl *cl_open_ping(void)
{
	int64_t end = now_ms() + WAIT_MS;

	for (;;) {
		struct cl *c = cl_open();

		if (c && ping(c, 1) == 0)
			return c;
		cl_close(c);
		if (now_ms() >= end)
			return NULL;
		usleep(100000);
	}
}

/* 64 connections are served; the 65th gets EBUSY on stream 0 and EOF. */
static int check_conn_limit(char *detail)
{
	struct cl *c[65] = { 0 }, *extra;
	char buf[512];
	int rc = -1, n;

	for (n = 0; n < 64; n++)
		if (!(c[n] = cl_open_ping()))
			goto out;
	extra = cl_open();
	if (!extra)
		goto out;
	c[n++] = extra;
	if (expect(extra, 0, "error", buf, sizeof(buf)) < 0 || !jis(buf, "errno", "EBUSY")) {
		failf("65th connection: %s %s", buf, g_why);
		goto out;
	}
	for (int64_t end = now_ms() + WAIT_MS; !extra->eof && now_ms() < end;)
		cl_io(extra, 100);
	if (!extra->eof) {
		failf("the 65th connection stayed open");
		goto out;
	}
	cl_close(c[0]);
	c[0] = cl_open_ping(); /* a place is free again */
	if (!c[0])
		goto out;
	rc = 0;
out:
	for (int i = 0; i < n; i++)
		cl_close(c[i]);
	return rc;
}

/* The agent's resident memory in kB, from a census-like exec on c. */
static long agent_rss_kb(struct cl *c, uint32_t stream)
{
	struct run r;
	long kb = -1;

	if (!run_sh(c, stream, "sed -n 's/^VmRSS:[[:space:]]*\\([0-9]*\\).*/\\1/p' /proc/$PPID/status",
		    "", &r) && r.out)
		kb = atol((char *)r.out);
	run_free(&r);
	return kb;
}

/* A client that grants credit and does not read: the agent's memory stays bounded. */
static int check_backpressure(char *detail)
{
	const size_t total = 8000000;
	struct cl *a = cl_open(), *b = cl_open();
	long base, during;
	struct run r = { 0 };
	char buf[512];
	int rc = -1;

	if (!a || !b || (base = agent_rss_kb(a, 1)) < 0)
		goto out;
	exec_sh(b, 1, "head -c 8000000 /dev/zero", ",\"stdin\":false");
	queue_credit(b, 1, CHAN_OUT, 1u << 30);
	cl_flush(b);
	usleep(2000000); /* not reading b */
	during = agent_rss_kb(a, 2);
	if (during < 0 || during > base + 4096) {
		failf("agent RSS %ld kB while a client does not read (%ld kB before)", during, base);
		goto out;
	}
	if (ping(a, 3) < 0 || expect(b, 1, "started", buf, sizeof(buf)) < 0 || collect(b, 1, &r) < 0)
		goto out;
	if (r.out_len != total || jnum(r.final, "status") != 0) {
		failf("after reading: %zu bytes, %s", r.out_len, r.final);
		goto out;
	}
	sprintf(detail, "rss_kb=%ld..%ld", base, during);
	rc = 0;
out:
	run_free(&r);
	cl_close(a);
	cl_close(b);
	return rc;
}

static int check_shutdown(char *detail)
{
	struct cl *c = cl_open();
	char buf[256];
	int rc;

	if (!c)
		return -1;
	ctrl(c, 1, "{\"op\":\"shutdown\"}");
	rc = expect(c, 1, "result", buf, sizeof(buf));
	cl_close(c);
	return rc;
}

struct check {
	const char *name;
	int (*fn)(char *detail);
	bool in_all;
};

static const struct check checks[] = {
	{ "wait", check_wait, false },
	{ "ping", check_ping, true },
	{ "exec", check_exec, true },
	{ "signal", check_signal, true },
	{ "stdin", check_stdin, true },
	{ "stall", check_stall, true },
	{ "bad_frames", check_bad_frames, true },
	{ "stream_errors", check_stream_errors, true },
	{ "oversized", check_oversized, true },
	{ "many", check_many, true },
	{ "conn_limit", check_conn_limit, true },
	{ "backpressure", check_backpressure, true },
	{ "limits", check_limits, true },
	{ "files", check_files, true },
	{ "pty", check_pty, true },
	{ "relay", check_relay, true },
	{ "disconnect", check_disconnect, true },
	{ "guest", check_guest, true }, /* "all" runs it through vsock: only */
	{ "shutdown", check_shutdown, false },
};

static int run_check(const struct check *k, int *nok, int *nfail)
{
	char detail[512] = "";
	int64_t t0 = now_ms();
	int rc;

	g_why[0] = 0;
	rc = k->fn(detail);
	if (rc == 0) {
		printf("AGENT-CHECK %s ok ms=%lld %s\n", k->name, (long long)(now_ms() - t0), detail);
		(*nok)++;
	} else {
		printf("AGENT-CHECK %s FAIL %s\n", k->name, g_why[0] ? g_why : "(no reason)");
		(*nfail)++;
	}
	fflush(stdout);
	return rc;
}

int main(int argc, char **argv)
{
	int nok = 0, nfail = 0, i = 2;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 3 || (strncmp(argv[1], "vsock:", 6) && strncmp(argv[1], "unix:", 5))) {
		fprintf(stderr, "usage: torpor-test-agent vsock:UDS|unix:PATH [-t SECONDS] CHECK...\n");
		return 2;
	}
	g_addr = argv[1];
	if (!strcmp(argv[i], "-t") && i + 1 < argc) {
		g_wait_s = atoi(argv[i + 1]);
		i += 2;
	}
	for (; i < argc; i++) {
		bool all = !strcmp(argv[i], "all"), found = all;

		for (size_t k = 0; k < sizeof(checks) / sizeof(checks[0]); k++) {
			bool local = !strncmp(g_addr, "unix:", 5) && checks[k].fn == check_guest;

			if (all ? checks[k].in_all && !local : !strcmp(argv[i], checks[k].name)) {
				found = true;
				run_check(&checks[k], &nok, &nfail);
			}
		}
		if (!found) {
			printf("AGENT-CHECK %s FAIL no such check\n", argv[i]);
			nfail++;
		}
	}
	printf("AGENT-DONE ok=%d fail=%d\n", nok, nfail);
	return nfail ? 1 : 0;
}
