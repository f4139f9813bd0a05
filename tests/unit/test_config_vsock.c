/* Unit tests for the vsock settings of vmm/config.c: --vsock, "vsock" in JSON, checks, round trip. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"

#define MAX_ARGS 16

static char err[512];

static int parse_list(struct vm_config *c, const char *const *args)
{
	char *argv[MAX_ARGS + 1];
	int argc = 0, rc;

	argv[argc++] = strdup("torpor-vmm");
	for (; *args; args++) {
		assert_true(argc < MAX_ARGS);
		argv[argc++] = strdup(*args);
	}
	argv[argc] = NULL;
	err[0] = '\0';
	rc = config_parse_args(c, argc, argv, err, sizeof(err));
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return rc;
}

#define PARSE(c, ...) parse_list(c, (const char *const[]){ __VA_ARGS__, NULL })

static void write_tmp(char *path, const char *text)
{
	int fd;

	strcpy(path, "/tmp/torpor_test_config_vsock_XXXXXX.json");
	fd = mkstemps(path, 5);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_vsock_flag(void **state)
{
	struct vm_config c;

	config_init(&c);
	assert_int_equal(PARSE(&c, "--kernel", "k", "--vsock", "cid=4294967294,uds=/run/a,,b"),
			 CONFIG_RUN);
	assert_int_equal(c.vsock.cid, 4294967294ull);
	assert_string_equal(c.vsock.uds, "/run/a,b");
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	/* The last flag wins, and nothing leaks (ASan). */
	assert_int_equal(PARSE(&c, "--kernel", "k", "--vsock", "uds=x,cid=3", "--vsock", "cid=7,uds=y"),
			 CONFIG_RUN);
	assert_int_equal(c.vsock.cid, 7);
	assert_string_equal(c.vsock.uds, "y");
	config_free(&c);
}

static void test_vsock_flag_errors(void **state)
{
	static const char *const bad[][2] = {
		{ "cid=2,uds=x", "cid \"2\" is not a number from 3" },
		{ "cid=4294967295,uds=x", "is not a number from 3" },
		{ "cid=99999999999999999999,uds=x", "is not a number from 3" },
		{ "cid=-3,uds=x", "is not a number from 3" },
		{ "cid=3x,uds=x", "is not a number from 3" },
		{ "cid=3", "give both cid=N and uds=PATH" },
		{ "uds=x", "give both cid=N and uds=PATH" },
		{ "", "give both cid=N and uds=PATH" },
		{ "cid=3,cid=4,uds=x", "cid given twice" },
		{ "cid=3,uds=x,uds=y", "uds given twice" },
		{ "cid=3,uds=x,port=5", "unknown option \"port=5\"" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vm_config c;

		config_init(&c);
		assert_int_equal(PARSE(&c, "--kernel", "k", "--vsock", bad[i][0]), -EINVAL);
		if (!strstr(err, bad[i][1]))
			fail_msg("--vsock %s: error \"%s\" lacks \"%s\"", bad[i][0], err, bad[i][1]);
		assert_ptr_equal(strstr(err, "--vsock"), err);
		config_free(&c);
	}
}

static void test_vsock_validate(void **state)
{
	char path[200];
	struct vm_config c;

	config_init(&c);
	c.kernel = strdup("k");
	memset(path, 'a', 96);
	path[96] = '\0';
	c.vsock.cid = 3;
	c.vsock.uds = strdup(path);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	free(c.vsock.uds);
	path[96] = 'a';
	path[97] = '\0';
	c.vsock.uds = strdup(path);
	assert_int_equal(config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "97 bytes, at most 96"));
	free(c.vsock.uds);
	c.vsock.uds = strdup("");
	assert_int_equal(config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "empty path"));
	config_free(&c);
}

static void test_vsock_json(void **state)
{
	char path[64];
	struct vm_config c;

	write_tmp(path, "{\"kernel\": \"k\", \"vsock\": {\"cid\": 42, \"uds\": \"/run/v.sock\"}}");
	config_init(&c);
	assert_int_equal(config_load_json(&c, path, err, sizeof(err)), 0);
	assert_int_equal(c.vsock.cid, 42);
	assert_string_equal(c.vsock.uds, "/run/v.sock");
	/* The flag replaces the file's device. */
	assert_int_equal(PARSE(&c, "--config", path, "--vsock", "cid=5,uds=/run/w"), CONFIG_RUN);
	assert_int_equal(c.vsock.cid, 5);
	assert_string_equal(c.vsock.uds, "/run/w");
	config_free(&c);
	unlink(path);

	write_tmp(path, "{\"vsock\": null}");
	config_init(&c);
	c.vsock.cid = 3;
	c.vsock.uds = strdup("x");
	assert_int_equal(config_load_json(&c, path, err, sizeof(err)), 0);
	assert_int_equal(c.vsock.cid, 0);
	assert_null(c.vsock.uds);
	config_free(&c);
	unlink(path);
}

static void test_vsock_json_errors(void **state)
{
	static const char *const bad[][2] = {
		{ "{\"vsock\": 3}", "expected an object" },
		{ "{\"vsock\": {\"cid\": 2, \"uds\": \"x\"}}", "vsock.cid: expected an integer from 3" },
		{ "{\"vsock\": {\"cid\": 4294967295, \"uds\": \"x\"}}", "from 3 to 4294967294" },
		{ "{\"vsock\": {\"cid\": \"3\", \"uds\": \"x\"}}", "expected an integer" },
		{ "{\"vsock\": {\"cid\": 3, \"uds\": 5}}", "vsock.uds: expected a string" },
		{ "{\"vsock\": {\"cid\": 3}}", "give both" },
		{ "{\"vsock\": {\"cid\": 3, \"uds\": \"x\", \"port\": 1}}", "unknown field \"port\"" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char path[64];
		struct vm_config c;

		write_tmp(path, bad[i][0]);
		config_init(&c);
		assert_int_equal(config_load_json(&c, path, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i][1]))
			fail_msg("%s: error \"%s\" lacks \"%s\"", bad[i][0], err, bad[i][1]);
		assert_null(c.vsock.uds);
		config_free(&c);
		unlink(path);
	}
}

static void test_vsock_roundtrip(void **state)
{
	char path[64];
	struct vm_config c, d;
	char *text;
	int fd;

	config_init(&c);
	assert_int_equal(PARSE(&c, "--kernel", "k", "--vsock", "cid=9,uds=/run/r.sock"), CONFIG_RUN);
	text = config_to_json(&c);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"vsock\":{\"cid\":9,\"uds\":\"/run/r.sock\"}"));
	strcpy(path, "/tmp/torpor_test_config_vsock_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	config_init(&d);
	assert_int_equal(config_load_json(&d, path, err, sizeof(err)), 0);
	assert_int_equal(d.vsock.cid, 9);
	assert_string_equal(d.vsock.uds, "/run/r.sock");
	free(text);
	config_free(&d);
	config_free(&c);
	unlink(path);

	/* No device: "vsock": null. */
	config_init(&c);
	text = config_to_json(&c);
	assert_non_null(strstr(text, "\"vsock\":null"));
	free(text);
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vsock_flag),
		cmocka_unit_test(test_vsock_flag_errors),
		cmocka_unit_test(test_vsock_validate),
		cmocka_unit_test(test_vsock_json),
		cmocka_unit_test(test_vsock_json_errors),
		cmocka_unit_test(test_vsock_roundtrip),
	};

	log_level = LOG_ERR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
