/* Unit tests: the app's output lines with a prefix, never blocking (guest-init/applog.c). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "guest-init/applog.h"

/* in[0] → applog → out[1]; the test writes in[1] and reads out[0]. */
struct rig {
	int in[2], out[2];
	struct applog l;
};

static void rig_open(struct rig *r, int out_size)
{
	assert_int_equal(pipe2(r->in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(r->out, O_CLOEXEC), 0);
	assert_int_equal(fcntl(r->in[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(fcntl(r->out[1], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(fcntl(r->out[0], F_SETFL, O_NONBLOCK), 0);
	if (out_size)
		assert_true(fcntl(r->out[1], F_SETPIPE_SZ, out_size) >= out_size);
	applog_init(&r->l, r->in[0], r->out[1], "app: ");
}

static void rig_close(struct rig *r)
{
	for (int i = 0; i < 2; i++) {
		if (r->in[i] >= 0)
			close(r->in[i]);
		if (r->out[i] >= 0)
			close(r->out[i]);
	}
}

static void put(struct rig *r, const char *s)
{
	assert_int_equal(write(r->in[1], s, strlen(s)), (ssize_t)strlen(s));
}

/* Everything on the console side so far, NUL-terminated (caller frees). */
static char *take(struct rig *r)
{
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap + 1);
	ssize_t n;

	assert_non_null(buf);
	while ((n = read(r->out[0], buf + len, cap - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return buf;
}

static void expect(struct rig *r, const char *want)
{
	char *got = take(r);

	assert_string_equal(got, want);
	free(got);
}

static void test_applog_lines_prefixed(void **state)
{
	struct rig r;

	rig_open(&r, 0);
	put(&r, "hello\nworld\n\ncrlf\r\n");
	assert_int_equal(applog_pump(&r.l), APPLOG_WANT_IN);
	expect(&r, "app: hello\napp: world\napp: \napp: crlf\n");
	assert_int_equal(applog_pending(&r.l), 0);
	rig_close(&r);
}

static void test_applog_partial_line_waits_for_flush(void **state)
{
	struct rig r;

	rig_open(&r, 0);
	put(&r, "one\ntw");
	assert_int_equal(applog_pump(&r.l), APPLOG_WANT_IN);
	expect(&r, "app: one\n");
	put(&r, "o\nthr");
	assert_int_equal(applog_pump(&r.l), APPLOG_WANT_IN);
	expect(&r, "app: two\n");
	assert_int_equal(applog_pending(&r.l), 3);
	applog_flush(&r.l); /* the app exited */
	assert_int_equal(applog_pump(&r.l), APPLOG_WANT_IN);
	expect(&r, "app: thr\n");
	/* The flush is one-shot: the next partial line waits again. */
	put(&r, "four");
	assert_int_equal(applog_pump(&r.l), APPLOG_WANT_IN);
	expect(&r, "");
	rig_close(&r);
}

static void test_applog_long_line_is_cut(void **state)
{
	char *line = malloc(APPLOG_LINE_MAX * 2 + 100), *want = malloc(APPLOG_LINE_MAX * 3);
	size_t n = APPLOG_LINE_MAX + 10;
	struct rig r;
	char *got;

	assert_non_null(line);
	assert_non_null(want);
	memset(line, 'x', n);
	strcpy(line + n, "\n");
	sprintf(want, "app: %.*s\napp: %.*s\n", APPLOG_LINE_MAX, line, 10, line);
	rig_open(&r, 0);
	put(&r, line);
	assert_int_equal(applog_pump(&r.l), APPLOG_WANT_IN);
	got = take(&r);
	assert_string_equal(got, want);
	free(got);
	free(line);
	free(want);
	rig_close(&r);
}

static void test_applog_eof_flushes(void **state)
{
	struct rig r;

	rig_open(&r, 0);
	put(&r, "last words");
	close(r.in[1]);
	r.in[1] = -1;
	assert_int_equal(applog_pump(&r.l), APPLOG_IDLE);
	expect(&r, "app: last words\n");
	rig_close(&r);
}

/* A console slower than the app: nothing blocks, nothing is lost, order is kept. */
static void test_applog_backpressure(void **state)
{
	size_t total = 0, sent = 0, cap = 300000;
	char *want = malloc(cap), *got = malloc(cap), chunk[512];
	int rounds = 0, saw_out = 0;
	struct rig r;

	assert_non_null(want);
	assert_non_null(got);
	rig_open(&r, 4096);
	assert_int_equal(fcntl(r.in[1], F_SETFL, O_NONBLOCK), 0); /* the app's side, for the test */
	want[0] = '\0';
	for (int i = 0; i < 3000; i++) {
		int n = snprintf(chunk, sizeof(chunk), "line %d %.*s\n", i, i % 60, "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghij");

		sent += strlen(want + sent);
		sprintf(want + sent, "app: %s", chunk);
		/* The app writes while it can; the pipe fills up; then the console drains a bit. */
		while (write(r.in[1], chunk, (size_t)n) != n) {
			enum applog_want w = applog_pump(&r.l);
			ssize_t k;

			saw_out |= w == APPLOG_WANT_OUT;
			k = read(r.out[0], got + total, 1000);
			if (k > 0)
				total += (size_t)k;
			rounds++;
		}
	}
	while (applog_pump(&r.l) == APPLOG_WANT_OUT || applog_pending(&r.l)) {
		ssize_t k = read(r.out[0], got + total, 1000);

		if (k > 0)
			total += (size_t)k;
	}
	for (ssize_t k; (k = read(r.out[0], got + total, cap - total)) > 0;)
		total += (size_t)k;
	got[total] = '\0';
	print_message("%zu bytes through, %d rounds, console full seen: %d\n", total, rounds,
		      saw_out);
	assert_true(saw_out);
	assert_int_equal(total, strlen(want));
	assert_string_equal(got, want);
	free(want);
	free(got);
	rig_close(&r);
}

/* A console that fails drops lines instead of wedging. */
static void test_applog_broken_console(void **state)
{
	struct rig r;

	signal(SIGPIPE, SIG_IGN);
	rig_open(&r, 0);
	close(r.out[0]);
	r.out[0] = -1;
	put(&r, "a\nb\nc\n");
	assert_int_equal(applog_pump(&r.l), APPLOG_WANT_IN);
	assert_int_equal(applog_pending(&r.l), 0);
	rig_close(&r);
}

static void test_applog_prefix_cut(void **state)
{
	struct applog l;

	applog_init(&l, -1, -1, "a-prefix-much-longer-than-the-limit-of-32-bytes: ");
	assert_int_equal(l.plen, APPLOG_PREFIX_MAX - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_applog_lines_prefixed),
		cmocka_unit_test(test_applog_partial_line_waits_for_flush),
		cmocka_unit_test(test_applog_long_line_is_cut),
		cmocka_unit_test(test_applog_eof_flushes),
		cmocka_unit_test(test_applog_backpressure),
		cmocka_unit_test(test_applog_broken_console),
		cmocka_unit_test(test_applog_prefix_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
