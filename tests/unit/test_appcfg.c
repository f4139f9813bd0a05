/* Unit tests: /etc/torpor/app.json parsing and checks (guest-init/appcfg.c). */
#include <errno.h>
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

#include "guest-init/appcfg.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static int parse(const char *text, struct appcfg *c, char *err, size_t errlen)
{
	/* An exact-size copy without NUL, so ASan sees any read past len. */
	size_t len = strlen(text);
	char *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, text, len);
	rc = appcfg_parse(copy, len, c, err, errlen);
	free(copy);
	return rc;
}

static void test_appcfg_minimal_defaults(void **state)
{
	struct appcfg c;
	char err[256] = "";

	assert_int_equal(parse("{\"argv\": [\"/bin/server\"]}", &c, err, sizeof(err)), 0);
	assert_string_equal(c.argv[0], "/bin/server");
	assert_null(c.argv[1]);
	assert_non_null(c.env);
	assert_null(c.env[0]);
	assert_string_equal(c.cwd, "/");
	assert_false(c.has_user);
	assert_int_equal(c.port, 0);
	assert_int_equal(c.restart, APPCFG_RESTART_NEVER);
	assert_int_equal(c.stop_signal, SIGTERM);
	assert_int_equal(c.stop_grace_ms, APPCFG_GRACE_DEFAULT_MS);
	assert_null(c.hook_restored);
	appcfg_free(&c);
}

static void test_appcfg_full(void **state)
{
	static const char text[] =
		"{\"argv\": [\"server\", \"--port\", \"8080\", \"\"],\n"
		" \"env\": [\"MODE=prod\", \"EMPTY=\", \"A=b=c\"],\n"
		" \"cwd\": \"/srv/app\", \"user\": \"app:staff\", \"port\": 8080,\n"
		" \"restart\": \"on-failure\", \"stop_signal\": \"SIGINT\", \"stop_grace_ms\": 250,\n"
		" \"hooks\": {\"restored\": [\"/bin/sh\", \"-c\", \"echo restored\"]}}";
	struct appcfg c;
	char err[256] = "";

	assert_int_equal(parse(text, &c, err, sizeof(err)), 0);
	assert_string_equal(c.argv[0], "server");
	assert_string_equal(c.argv[3], ""); /* later arguments may be empty */
	assert_null(c.argv[4]);
	assert_string_equal(c.env[0], "MODE=prod");
	assert_string_equal(c.env[1], "EMPTY=");
	assert_string_equal(c.env[2], "A=b=c");
	assert_null(c.env[3]);
	assert_string_equal(c.cwd, "/srv/app");
	assert_true(c.has_user);
	assert_string_equal(c.user.name, "app");
	assert_true(c.user.has_group);
	assert_string_equal(c.user.group, "staff");
	assert_int_equal(c.port, 8080);
	assert_int_equal(c.restart, APPCFG_RESTART_ON_FAILURE);
	assert_int_equal(c.stop_signal, SIGINT);
	assert_int_equal(c.stop_grace_ms, 250);
	assert_string_equal(c.hook_restored[2], "echo restored");
	assert_null(c.hook_restored[3]);
	appcfg_free(&c);
}

static void test_appcfg_nulls_are_defaults(void **state)
{
	static const char text[] = "{\"argv\": [\"x\"], \"env\": null, \"cwd\": null, \"user\": null,"
				   " \"port\": null, \"restart\": null, \"stop_signal\": null,"
				   " \"stop_grace_ms\": null, \"hooks\": {\"restored\": null}}";
	struct appcfg c;
	char err[256] = "";

	assert_int_equal(parse(text, &c, err, sizeof(err)), 0);
	assert_string_equal(c.cwd, "/");
	assert_null(c.env[0]);
	assert_false(c.has_user);
	assert_int_equal(c.stop_signal, SIGTERM);
	assert_null(c.hook_restored);
	appcfg_free(&c);
}

static void test_appcfg_user(void **state)
{
	static const struct {
		const char *user;
		int ok;
		const char *name, *group; /* NULL: numeric */
		uint32_t uid, gid;
		int has_group;
	} cases[] = {
		{ "root", 1, "root", NULL, 0, 0, 0 },
		{ "1000", 1, NULL, NULL, 1000, 0, 0 },
		{ "0", 1, NULL, NULL, 0, 0, 0 },
		{ "1000:1001", 1, NULL, NULL, 1000, 1001, 1 },
		{ "app:100", 1, "app", NULL, 0, 100, 1 },
		{ "1000:staff", 1, NULL, "staff", 1000, 0, 1 },
		{ "4294967294", 1, NULL, NULL, 4294967294u, 0, 0 },
		{ "4294967295", 0, NULL, NULL, 0, 0, 0 },
		{ "99999999999999999999", 0, NULL, NULL, 0, 0, 0 },
		{ "", 0, NULL, NULL, 0, 0, 0 },
		{ ":", 0, NULL, NULL, 0, 0, 0 },
		{ "app:", 0, NULL, NULL, 0, 0, 0 },
		{ ":staff", 0, NULL, NULL, 0, 0, 0 },
		{ "a:b:c", 0, NULL, NULL, 0, 0, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char text[256], err[256] = "";
		struct appcfg c;
		int rc;

		snprintf(text, sizeof(text), "{\"argv\": [\"x\"], \"user\": \"%s\"}", cases[i].user);
		rc = parse(text, &c, err, sizeof(err));
		print_message("%-22s rc=%d %s\n", cases[i].user, rc, err);
		assert_int_equal(rc, cases[i].ok ? 0 : -EINVAL);
		if (cases[i].ok) {
			assert_true(c.has_user);
			if (cases[i].name)
				assert_string_equal(c.user.name, cases[i].name);
			else
				assert_null(c.user.name), assert_int_equal(c.user.uid, cases[i].uid);
			assert_int_equal(c.user.has_group, cases[i].has_group);
			if (cases[i].group)
				assert_string_equal(c.user.group, cases[i].group);
			else if (cases[i].has_group)
				assert_int_equal(c.user.gid, cases[i].gid);
		} else {
			assert_non_null(strstr(err, "user:"));
		}
		appcfg_free(&c);
	}
}

static void test_appcfg_restart_and_signal(void **state)
{
	static const struct {
		const char *field;
		int ok;
		int restart, sig;
	} cases[] = {
		{ "\"restart\": \"never\"", 1, APPCFG_RESTART_NEVER, SIGTERM },
		{ "\"restart\": \"on-failure\"", 1, APPCFG_RESTART_ON_FAILURE, SIGTERM },
		{ "\"restart\": \"always\"", 1, APPCFG_RESTART_ALWAYS, SIGTERM },
		{ "\"restart\": \"on_failure\"", 0, 0, 0 },
		{ "\"restart\": \"Always\"", 0, 0, 0 },
		{ "\"restart\": true", 0, 0, 0 },
		{ "\"stop_signal\": \"SIGINT\"", 1, APPCFG_RESTART_NEVER, SIGINT },
		{ "\"stop_signal\": \"QUIT\"", 1, APPCFG_RESTART_NEVER, SIGQUIT },
		{ "\"stop_signal\": \"SIGUSR1\"", 1, APPCFG_RESTART_NEVER, SIGUSR1 },
		{ "\"stop_signal\": \"10\"", 1, APPCFG_RESTART_NEVER, 10 },
		{ "\"stop_signal\": 9", 1, APPCFG_RESTART_NEVER, SIGKILL },
		{ "\"stop_signal\": 0", 0, 0, 0 },
		{ "\"stop_signal\": 32", 0, 0, 0 },
		{ "\"stop_signal\": \"SIG15\"", 0, 0, 0 },
		{ "\"stop_signal\": \"SIGFOO\"", 0, 0, 0 },
		{ "\"stop_signal\": \"sigterm\"", 0, 0, 0 },
		{ "\"stop_signal\": \"\"", 0, 0, 0 },
		{ "\"stop_signal\": \"015\"", 0, 0, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char text[256], err[256] = "";
		struct appcfg c;
		int rc;

		snprintf(text, sizeof(text), "{\"argv\": [\"x\"], %s}", cases[i].field);
		rc = parse(text, &c, err, sizeof(err));
		print_message("%-28s rc=%d %s\n", cases[i].field, rc, err);
		assert_int_equal(rc, cases[i].ok ? 0 : -EINVAL);
		if (cases[i].ok) {
			assert_int_equal(c.restart, cases[i].restart);
			assert_int_equal(c.stop_signal, cases[i].sig);
		}
		appcfg_free(&c);
	}
}

/* Bad files: each refused with a message that names the problem. */
static void test_appcfg_errors(void **state)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "", "line 1" },
		{ "{\"argv\": [\"x\"]", "line 1" },
		{ "{\"argv\": [\"x\"],\n \"port\": 80,,}", "line 2" },
		{ "[\"x\"]", "JSON object" },
		{ "{}", "argv: missing" },
		{ "{\"argv\": []}", "argv: must be a non-empty array" },
		{ "{\"argv\": \"/bin/server\"}", "argv: must be a non-empty array" },
		{ "{\"argv\": [\"\"]}", "argv[0]: must not be empty" },
		{ "{\"argv\": [\"x\", 1]}", "argv[1]: must be a string" },
		{ "{\"argv\": [\"x\\u0000y\"]}", "line 1" },
		{ "{\"argv\": [\"x\"], \"argv\": [\"y\"]}", "duplicate" },
		{ "{\"argv\": [\"x\"], \"args\": []}", "unknown field \"args\"" },
		{ "{\"argv\": [\"x\"], \"env\": [\"FOO\"]}", "env[0]: \"FOO\" is not NAME=VALUE" },
		{ "{\"argv\": [\"x\"], \"env\": [\"=x\"]}", "env[0]" },
		{ "{\"argv\": [\"x\"], \"env\": [\"\"]}", "env[0]" },
		{ "{\"argv\": [\"x\"], \"env\": {\"A\": \"b\"}}", "env: must be an array" },
		{ "{\"argv\": [\"x\"], \"cwd\": \"srv\"}", "cwd: \"srv\" is not an absolute path" },
		{ "{\"argv\": [\"x\"], \"cwd\": \"\"}", "cwd: must not be empty" },
		{ "{\"argv\": [\"x\"], \"cwd\": 1}", "cwd: must be a string" },
		{ "{\"argv\": [\"x\"], \"user\": 1000}", "user:" },
		{ "{\"argv\": [\"x\"], \"port\": 0}", "port: must be an integer from 1 to 65535" },
		{ "{\"argv\": [\"x\"], \"port\": 65536}", "port:" },
		{ "{\"argv\": [\"x\"], \"port\": \"8080\"}", "port:" },
		{ "{\"argv\": [\"x\"], \"port\": 80.5}", "port:" },
		{ "{\"argv\": [\"x\"], \"stop_grace_ms\": -1}", "stop_grace_ms:" },
		{ "{\"argv\": [\"x\"], \"stop_grace_ms\": 600001}", "stop_grace_ms:" },
		{ "{\"argv\": [\"x\"], \"hooks\": []}", "hooks: must be an object" },
		{ "{\"argv\": [\"x\"], \"hooks\": {\"started\": [\"y\"]}}", "unknown hook \"started\"" },
		{ "{\"argv\": [\"x\"], \"hooks\": {\"restored\": []}}", "hooks.restored" },
		{ "{\"argv\": [\"x\"], \"hooks\": {\"restored\": \"y\"}}", "hooks.restored" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char err[256] = "";
		struct appcfg c;
		int rc = parse(cases[i].text, &c, err, sizeof(err));

		print_message("%-50.50s -> %d %s\n", cases[i].text, rc, err);
		assert_int_equal(rc, -EINVAL);
		if (!strstr(err, cases[i].msg))
			fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, err, cases[i].msg);
		appcfg_free(&c);
	}
}

static void test_appcfg_limits(void **state)
{
	size_t n = 64 + APPCFG_LIST_MAX * 6 + APPCFG_STR_MAX * 2;
	char *text = malloc(n), *p, err[256];
	struct appcfg c;

	assert_non_null(text);
	/* APPCFG_LIST_MAX entries are fine, one more is not. */
	for (int extra = 0; extra < 2; extra++) {
		p = text + sprintf(text, "{\"argv\": [\"x\"");
		for (int i = 1; i < APPCFG_LIST_MAX + extra; i++)
			p += sprintf(p, ",\"a\"");
		strcpy(p, "]}");
		assert_int_equal(parse(text, &c, err, sizeof(err)), extra ? -EINVAL : 0);
		if (extra)
			assert_non_null(strstr(err, "more than"));
		appcfg_free(&c);
	}
	/* A string of APPCFG_STR_MAX bytes is fine, one more is not. */
	for (int extra = 0; extra < 2; extra++) {
		p = text + sprintf(text, "{\"argv\": [\"");
		memset(p, 'y', APPCFG_STR_MAX + extra);
		strcpy(p + APPCFG_STR_MAX + extra, "\"]}");
		assert_int_equal(parse(text, &c, err, sizeof(err)), extra ? -EINVAL : 0);
		if (extra)
			assert_non_null(strstr(err, "longer than"));
		appcfg_free(&c);
	}
	free(text);
}

static void test_appcfg_signal_names(void **state)
{
	assert_int_equal(appcfg_signal_parse("SIGTERM"), SIGTERM);
	assert_int_equal(appcfg_signal_parse("TERM"), SIGTERM);
	assert_int_equal(appcfg_signal_parse("15"), 15);
	assert_int_equal(appcfg_signal_parse("31"), 31);
	assert_int_equal(appcfg_signal_parse("32"), -EINVAL);
	assert_int_equal(appcfg_signal_parse("0"), -EINVAL);
	assert_int_equal(appcfg_signal_parse("SIG"), -EINVAL);
	assert_int_equal(appcfg_signal_parse("15x"), -EINVAL);
	assert_string_equal(appcfg_signal_name(SIGTERM), "SIGTERM");
	assert_string_equal(appcfg_signal_name(SIGWINCH), "SIGWINCH");
	assert_string_equal(appcfg_signal_name(SIGRTMIN), "SIG34");
	assert_string_equal(appcfg_restart_name(APPCFG_RESTART_ON_FAILURE), "on-failure");
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void test_appcfg_load(void **state)
{
	char dir[] = "/tmp/test_appcfg.XXXXXX", path[64], err[512];
	struct appcfg c;
	char *big;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/app.json", dir);

	assert_int_equal(appcfg_load(path, &c, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "No such file"));
	appcfg_free(&c);

	write_file(path, "{\"argv\": [\"/bin/true\"], \"port\": 9000}", 37);
	assert_int_equal(appcfg_load(path, &c, err, sizeof(err)), 0);
	assert_string_equal(c.argv[0], "/bin/true");
	assert_int_equal(c.port, 9000);
	appcfg_free(&c);

	write_file(path, "{\"argv\": 1}", 11);
	assert_int_equal(appcfg_load(path, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "/app.json: argv: must be"));
	appcfg_free(&c);

	big = malloc(APPCFG_FILE_MAX + 1);
	assert_non_null(big);
	memset(big, ' ', APPCFG_FILE_MAX + 1);
	write_file(path, big, APPCFG_FILE_MAX + 1);
	assert_int_equal(appcfg_load(path, &c, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "larger than"));
	appcfg_free(&c);
	free(big);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_appcfg_minimal_defaults),
		cmocka_unit_test(test_appcfg_full),
		cmocka_unit_test(test_appcfg_nulls_are_defaults),
		cmocka_unit_test(test_appcfg_user),
		cmocka_unit_test(test_appcfg_restart_and_signal),
		cmocka_unit_test(test_appcfg_errors),
		cmocka_unit_test(test_appcfg_limits),
		cmocka_unit_test(test_appcfg_signal_names),
		cmocka_unit_test(test_appcfg_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
