/* Unit tests: kernel command line splitting, unquoting and guest-init's parameters (guest-init/cmdline.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guest-init/cmdline.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct parse_case {
	const char *name;
	const char *text;
	int rc;
	int has_run;
	const char *run; /* expected value when has_run */
};

/* Parse from an exact-size heap copy with no NUL, so ASan catches any read past len. */
static int parse_exact(const char *text, size_t len, struct cmdline *cl)
{
	char *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, text, len);
	rc = cmdline_parse(copy, len, cl);
	free(copy);
	return rc;
}

static void check_cases(const struct parse_case *cases, size_t n)
{
	static struct cmdline cl;

	for (size_t i = 0; i < n; i++) {
		const struct parse_case *c = &cases[i];
		int rc = parse_exact(c->text, strlen(c->text), &cl);

		print_message("%-34s rc=%d has_run=%d run=[%s]\n", c->name, rc, cl.has_run,
			      cl.run);
		assert_int_equal(rc, c->rc);
		assert_int_equal(cl.has_run, c->has_run);
		if (c->has_run)
			assert_string_equal(cl.run, c->run);
		else
			assert_string_equal(cl.run, "");
	}
}

static const struct parse_case quoted_cases[] = {
	{ "quoted_value", "torpor.run=\"echo a b\"", 0, 1, "echo a b" },
	{ "quoted_value_between", "console=ttyS0 torpor.run=\"echo a  b\" quiet", 0, 1,
	  "echo a  b" },
	{ "quoted_whole_param", "\"torpor.run=echo a b\"", 0, 1, "echo a b" },
	{ "quoted_tabs_newlines", "torpor.run=\"a\tb\nc\"", 0, 1, "a\tb\nc" },
	{ "quoted_keeps_nbsp", "torpor.run=\"a\xa0" "b\"", 0, 1, "a\xa0" "b" },
	{ "quoted_single_quotes_kept", "torpor.run=\"echo 'x y'\"", 0, 1, "echo 'x y'" },
	{ "quote_mid_value_kept", "torpor.run=a\"b c\"", 0, 1, "a\"b c\"" },
	{ "quote_then_text_kept", "torpor.run=\"b c\"d", 0, 1, "b c\"d" },
	{ "quoted_key_and_value", "\"torpor.run=\"x y\"\"", 0, 1, "x" },
	{ "empty_quotes", "torpor.run=\"\"", 0, 1, "" },
	{ "lone_quote_value", "torpor.run=\"", 0, 1, "" },
};

static void test_cmdline_quoted(void **state)
{
	check_cases(quoted_cases, ARRAY_SIZE(quoted_cases));
}

static const struct parse_case unquoted_cases[] = {
	{ "unquoted_alone", "torpor.run=uname", 0, 1, "uname" },
	{ "unquoted_ends_at_space", "torpor.run=echo a b", 0, 1, "echo" },
	{ "unquoted_ends_at_tab", "torpor.run=ls\t-l", 0, 1, "ls" },
	{ "unquoted_ends_at_newline", "torpor.run=ls\n", 0, 1, "ls" },
	{ "unquoted_ends_at_nbsp", "torpor.run=a\xa0" "b", 0, 1, "a" }, /* 0xA0: kernel isspace() */
	{ "unquoted_keeps_equals", "torpor.run=a=b=c", 0, 1, "a=b=c" },
	{ "unquoted_leading_spaces", "   \t torpor.run=x   ", 0, 1, "x" },
};

static void test_cmdline_unquoted(void **state)
{
	check_cases(unquoted_cases, ARRAY_SIZE(unquoted_cases));
}

static const struct parse_case missing_cases[] = {
	{ "empty_text", "", 0, 0, NULL },
	{ "only_spaces", " \t\n ", 0, 0, NULL },
	{ "other_params", "console=ttyS0 panic=-1 quiet", 0, 0, NULL },
	{ "no_equals_ignored", "torpor.run", 0, 0, NULL },
	{ "prefix_key", "torpor.runx=a xtorpor.run=b torpor.ru=c", 0, 0, NULL },
	{ "case_sensitive", "TORPOR.RUN=a", 0, 0, NULL },
	{ "inside_other_value", "foo=\"torpor.run=x\"", 0, 0, NULL },
	{ "after_double_dash", "quiet -- torpor.run=x", 0, 0, NULL },
	{ "leading_equals_key", "=torpor.run=x", 0, 0, NULL },
};

static void test_cmdline_missing(void **state)
{
	check_cases(missing_cases, ARRAY_SIZE(missing_cases));
}

static const struct parse_case empty_cases[] = {
	{ "empty_unquoted", "torpor.run=", 0, 1, "" },
	{ "empty_unquoted_then_more", "torpor.run= quiet", 0, 1, "" },
	{ "empty_quoted", "torpor.run=\"\" quiet", 0, 1, "" },
};

static void test_cmdline_empty(void **state)
{
	check_cases(empty_cases, ARRAY_SIZE(empty_cases));
}

static const struct parse_case unterminated_cases[] = {
	{ "unterminated_runs_to_end", "torpor.run=\"echo a b", 0, 1, "echo a b" },
	{ "unterminated_swallows_params", "torpor.run=\"echo a quiet=1 x", 0, 1,
	  "echo a quiet=1 x" },
	{ "unterminated_keeps_trailing_space", "torpor.run=\"a  ", 0, 1, "a  " },
	{ "unterminated_in_earlier_param", "foo=\"bar torpor.run=x", 0, 0, NULL },
	{ "unterminated_whole_param", "\"torpor.run=a b", 0, 1, "a b" },
	{ "stray_quote_in_value", "torpor.run=a\"b c", 0, 1, "a\"b c" },
};

static void test_cmdline_unterminated_quote(void **state)
{
	check_cases(unterminated_cases, ARRAY_SIZE(unterminated_cases));
}

static const struct parse_case several_cases[] = {
	{ "among_others", "console=ttyS0 torpor.run=\"uname -a\" panic=-1 quiet", 0, 1,
	  "uname -a" },
	{ "last_wins", "torpor.run=first torpor.run=\"second one\"", 0, 1, "second one" },
	{ "last_wins_empty", "torpor.run=first torpor.run=", 0, 1, "" },
	{ "bare_key_keeps_earlier", "torpor.run=first torpor.run", 0, 1, "first" },
	{ "before_double_dash_counts", "torpor.run=a -- torpor.run=b", 0, 1, "a" },
	{ "quoted_double_dash_ends_too", "torpor.run=a \"--\" torpor.run=b", 0, 1, "a" },
	{ "double_dash_value_not_end", "--=x torpor.run=b", 0, 1, "b" },
	{ "quoted_neighbours", "a=\"1 2\" torpor.run=\"3 4\" b=\"5 6\"", 0, 1, "3 4" },
};

static void test_cmdline_several_params(void **state)
{
	check_cases(several_cases, ARRAY_SIZE(several_cases));
}

/* "torpor.run=" followed by n bytes of 'x', optionally quoted; caller frees. */
static char *make_run(size_t n, int quoted, const char *tail)
{
	size_t len = 11 + n + 2 + strlen(tail) + 1;
	char *s = malloc(len);
	char *p = s;

	assert_non_null(s);
	p += sprintf(p, "torpor.run=%s", quoted ? "\"" : "");
	memset(p, 'x', n);
	p += n;
	sprintf(p, "%s%s", quoted ? "\"" : "", tail);
	return s;
}

static void test_cmdline_overlong(void **state)
{
	static const struct {
		const char *name;
		size_t n;
		int quoted;
		const char *tail;
		int rc;
	} cases[] = {
		{ "longest_unquoted", CMDLINE_RUN_MAX - 1, 0, "", 0 },
		{ "longest_quoted", CMDLINE_RUN_MAX - 1, 1, " quiet", 0 },
		{ "one_too_long", CMDLINE_RUN_MAX, 0, "", -E2BIG },
		{ "one_too_long_quoted", CMDLINE_RUN_MAX, 1, "", -E2BIG },
		{ "far_too_long", 100000, 0, " x=1", -E2BIG },
		{ "too_long_then_valid", CMDLINE_RUN_MAX, 0, " torpor.run=ok", -E2BIG },
	};
	static struct cmdline cl;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *s = make_run(cases[i].n, cases[i].quoted, cases[i].tail);
		int rc = parse_exact(s, strlen(s), &cl);

		print_message("%-34s n=%zu rc=%d\n", cases[i].name, cases[i].n, rc);
		assert_int_equal(rc, cases[i].rc);
		if (rc == 0) {
			assert_true(cl.has_run);
			assert_int_equal(strlen(cl.run), cases[i].n);
		} else {
			assert_false(cl.has_run);
			assert_string_equal(cl.run, "");
		}
		free(s);
	}
}

static void test_cmdline_overlong_other_param_ignored(void **state)
{
	static struct cmdline cl;
	size_t n = 200000;
	char *s = malloc(n + 32);

	assert_non_null(s);
	memcpy(s, "junk=", 5);
	memset(s + 5, 'y', n);
	strcpy(s + 5 + n, " torpor.run=ok");
	assert_int_equal(parse_exact(s, strlen(s), &cl), 0);
	assert_true(cl.has_run);
	assert_string_equal(cl.run, "ok");
	free(s);
}

static void test_cmdline_len_bounds_and_nul(void **state)
{
	static const char text[] = "torpor.run=abc\0torpor.run=hidden";
	static struct cmdline cl;

	/* len cuts the value short: nothing past len is read. */
	assert_int_equal(parse_exact(text, 13, &cl), 0);
	assert_string_equal(cl.run, "ab");
	/* A NUL byte ends the text even when len goes past it. */
	assert_int_equal(parse_exact(text, sizeof(text) - 1, &cl), 0);
	assert_string_equal(cl.run, "abc");
	assert_int_equal(parse_exact(text, 0, &cl), 0);
	assert_false(cl.has_run);
}

/* The splitter itself: keys, values and NULL values, as the kernel's next_arg() gives them. */
static void test_cmdline_next_splits_like_kernel(void **state)
{
	static const char text[] = " a b=1 \"c=2 3\" d=\"4 5\" \"e f\" g= == -- h=\"\" ";
	static const struct {
		const char *key, *val; /* val NULL: no '=' */
	} want[] = {
		{ "a", NULL },     { "b", "1" },  { "c", "2 3" }, { "d", "4 5" }, { "e f", NULL },
		{ "g", "" },       { "=", "" },   { "--", NULL }, { "h", "" },
	};
	struct cmdline_iter it;
	struct cmdline_param p;
	size_t i = 0;

	cmdline_iter_init(&it, text, sizeof(text) - 1);
	while (cmdline_next(&it, &p)) {
		assert_true(i < ARRAY_SIZE(want));
		assert_int_equal(p.key_len, strlen(want[i].key));
		assert_memory_equal(p.key, want[i].key, p.key_len);
		if (!want[i].val) {
			assert_null(p.val);
		} else {
			assert_non_null(p.val);
			assert_int_equal(p.val_len, strlen(want[i].val));
			assert_memory_equal(p.val, want[i].val, p.val_len);
		}
		i++;
	}
	assert_int_equal(i, ARRAY_SIZE(want));
	assert_false(cmdline_next(&it, &p)); /* stays at the end */
}

static void test_cmdline_key_is_dash_underscore(void **state)
{
	static const struct {
		const char *key, *name;
		int eq;
	} cases[] = {
		{ "torpor.vsock_port", "torpor.vsock-port", 1 },
		{ "torpor.vsock-port", "torpor.vsock_port", 1 },
		{ "torpor.run", "torpor.run", 1 },
		{ "torpor.ru", "torpor.run", 0 },
		{ "torpor.runs", "torpor.run", 0 },
		{ "", "torpor.run", 0 },
		{ "", "", 1 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct cmdline_param p = { .key = cases[i].key, .key_len = strlen(cases[i].key) };

		assert_int_equal(cmdline_key_is(&p, cases[i].name), cases[i].eq);
	}
}

/* Hostile input: random bytes from a quote-heavy alphabet never break the invariants. */
static void test_cmdline_random_input_is_safe(void **state)
{
	static const char alphabet[] = "  \t\n\"\"==-_.ab torpor.run=\"\0\xff";
	static struct cmdline cl;
	uint32_t seed = 12345;
	char buf[512];

	for (int round = 0; round < 100000; round++) {
		size_t len = 0, n;

		seed = seed * 1103515245u + 12345u;
		n = (seed >> 8) % sizeof(buf);
		if ((seed >> 4) & 1)
			len = (size_t)sprintf(buf, "torpor.run=");
		for (; len < n; len++) {
			seed = seed * 1103515245u + 12345u;
			buf[len] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		assert_int_equal(parse_exact(buf, len, &cl), 0);
		assert_true(strlen(cl.run) < CMDLINE_RUN_MAX);
		assert_true(strlen(cl.run) <= len);
		if (!cl.has_run)
			assert_string_equal(cl.run, "");
	}
}

/* torpor.hostname/ip/gw/dns: taken like torpor.run, refused (and named) when too long. */
static void test_cmdline_net_params(void **state)
{
	static struct cmdline cl;
	char *s;

	assert_int_equal(parse_exact("console=ttyS0 torpor.hostname=vm1 torpor.ip=10.0.0.2/24 "
				     "torpor.gw=10.0.0.1 torpor.dns=1.1.1.1,8.8.8.8 torpor.run=x",
				     114, &cl), 0);
	assert_string_equal(cl.hostname, "vm1");
	assert_string_equal(cl.ip, "10.0.0.2/24");
	assert_string_equal(cl.gw, "10.0.0.1");
	assert_string_equal(cl.dns, "1.1.1.1,8.8.8.8");
	assert_string_equal(cl.run, "x");
	assert_null(cl.too_long);

	assert_int_equal(parse_exact("torpor.hostname=a torpor.hostname=\"b\" torpor.ip torpor.gw=",
				     58, &cl), 0);
	assert_string_equal(cl.hostname, "b"); /* the last one, quotes removed */
	assert_string_equal(cl.ip, "");        /* no '=': ignored */
	assert_string_equal(cl.gw, "");
	assert_false(cl.has_run);

	assert_int_equal(parse_exact("torpor-hostname=x torpor.hostnam=y", 34, &cl), 0);
	assert_string_equal(cl.hostname, ""); /* '.' is not '-'; no prefix match */

	assert_int_equal(parse_exact("torpor.ip=1.2.3.4/8 -- torpor.ip=5.6.7.8/8", 42, &cl), 0);
	assert_string_equal(cl.ip, "1.2.3.4/8");

	s = malloc(CMDLINE_VAL_MAX + 64);
	assert_non_null(s);
	strcpy(s, "torpor.hostname=ok torpor.hostname=");
	memset(s + strlen(s), 'h', CMDLINE_VAL_MAX);
	strcpy(s + 35 + CMDLINE_VAL_MAX, " torpor.run=y");
	assert_int_equal(parse_exact(s, strlen(s), &cl), 0);
	assert_string_equal(cl.hostname, "ok"); /* the long one is ignored */
	assert_non_null(cl.too_long);
	assert_string_equal(cl.too_long, "torpor.hostname");
	assert_string_equal(cl.run, "y");
	s[35 + CMDLINE_VAL_MAX - 1] = ' '; /* CMDLINE_VAL_MAX - 1 bytes: fits */
	assert_int_equal(parse_exact(s, strlen(s), &cl), 0);
	assert_int_equal(strlen(cl.hostname), CMDLINE_VAL_MAX - 1);
	assert_null(cl.too_long);
	free(s);
}

static void test_cmdline_root_ro_rw(void **state)
{
	static const struct {
		const char *text;
		int ro;
	} cases[] = {
		{ "root=/dev/vda", -1 }, { "root=/dev/vda ro", 1 }, { "root=/dev/vda rw", 0 },
		{ "ro rw", 0 },          { "rw ro", 1 },            { "ro=1 rw=0", -1 },
		{ "ro -- rw", 1 },       { "\"ro\"", 1 },           { "rox", -1 },
	};
	static struct cmdline cl;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(parse_exact(cases[i].text, strlen(cases[i].text), &cl), 0);
		print_message("%-20s root_ro=%d\n", cases[i].text, cl.root_ro);
		assert_int_equal(cl.root_ro, cases[i].ro);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmdline_quoted),
		cmocka_unit_test(test_cmdline_unquoted),
		cmocka_unit_test(test_cmdline_missing),
		cmocka_unit_test(test_cmdline_empty),
		cmocka_unit_test(test_cmdline_overlong),
		cmocka_unit_test(test_cmdline_overlong_other_param_ignored),
		cmocka_unit_test(test_cmdline_unterminated_quote),
		cmocka_unit_test(test_cmdline_several_params),
		cmocka_unit_test(test_cmdline_len_bounds_and_nul),
		cmocka_unit_test(test_cmdline_next_splits_like_kernel),
		cmocka_unit_test(test_cmdline_key_is_dash_underscore),
		cmocka_unit_test(test_cmdline_random_input_is_safe),
		cmocka_unit_test(test_cmdline_net_params),
		cmocka_unit_test(test_cmdline_root_ro_rw),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
