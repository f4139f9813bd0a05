/* Unit tests for the disk settings of vmm/config.c: --disk, "disks" in JSON, checks, round trip. */
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

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_ARGS 48

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

	strcpy(path, "/tmp/torpor_test_config_disk_XXXXXX.json");
	fd = mkstemps(path, 5);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_config_disk_flags(void **state)
{
	struct vm_config c;

	config_init(&c);
	assert_int_equal(PARSE(&c, "--kernel", "k", "--disk", "path=root.img,overlay=vm.ovl,serial=r0",
			       "--disk=path=data.img,ro", "--disk", "ro,path=a,,b.img"),
			 CONFIG_RUN);
	assert_int_equal(c.nr_disks, 3);
	assert_string_equal(c.disks[0].path, "root.img");
	assert_string_equal(c.disks[0].overlay, "vm.ovl");
	assert_string_equal(c.disks[0].serial, "r0");
	assert_false(c.disks[0].read_only);
	assert_string_equal(c.disks[1].path, "data.img");
	assert_null(c.disks[1].overlay);
	assert_null(c.disks[1].serial);
	assert_true(c.disks[1].read_only);
	assert_string_equal(c.disks[2].path, "a,b.img"); /* ",," is a comma */
	assert_true(c.disks[2].read_only);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	config_free(&c);
	assert_int_equal(c.nr_disks, 0);
}

struct bad_flag {
	const char *value;
	const char *msg;
};

static void test_config_disk_flag_errors(void **state)
{
	static const struct bad_flag cases[] = {
		{ "overlay=x", "no path=IMG" },
		{ "", "no path=IMG" },
		{ "path=a,colour=blue", "unknown option \"colour=blue\"" },
		{ "path=a,path=b", "path given twice" },
		{ "path=a,serial=x,serial=y", "serial given twice" },
		{ "path=a,rw", "unknown option \"rw\"" },
		{ "path=a,", "" },
	};
	struct vm_config c;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int rc;

		config_init(&c);
		rc = PARSE(&c, "--kernel", "k", "--disk", cases[i].value);
		print_message("%-28s rc=%d %s\n", cases[i].value, rc, err);
		if (!*cases[i].msg) { /* a trailing comma is harmless */
			assert_int_equal(rc, CONFIG_RUN);
		} else {
			assert_int_equal(rc, -EINVAL);
			assert_non_null(strstr(err, "--disk"));
			assert_non_null(strstr(err, cases[i].msg));
		}
		config_free(&c);
	}
}

static void test_config_disk_too_many(void **state)
{
	const char *args[2 * (CONFIG_MAX_DISKS + 1) + 3];
	struct vm_config c;
	int n = 0;

	args[n++] = "--kernel";
	args[n++] = "k";
	for (int i = 0; i <= CONFIG_MAX_DISKS; i++) {
		args[n++] = "--disk";
		args[n++] = "path=x";
	}
	args[n] = NULL;
	config_init(&c);
	assert_int_equal(parse_list(&c, args), -EINVAL);
	assert_non_null(strstr(err, "at most 16"));
	config_free(&c);
}

struct bad_check {
	const char *spec;
	const char *msg;
};

static void test_config_disk_validate(void **state)
{
	static const struct bad_check cases[] = {
		{ "path=a,serial=123456789012345678901", "at most 20" },
		{ "path=a,overlay=a", "cannot be the image itself" },
		{ "path=a,overlay=", "empty path" },
		{ "path=", "empty path" },
	};
	struct vm_config c;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		config_init(&c);
		assert_int_equal(PARSE(&c, "--kernel", "k", "--disk", cases[i].spec), CONFIG_RUN);
		assert_int_equal(config_validate(&c, err, sizeof(err)), -EINVAL);
		print_message("%-40s %s\n", cases[i].spec, err);
		assert_non_null(strstr(err, cases[i].msg));
		config_free(&c);
	}
	config_init(&c);
	assert_int_equal(PARSE(&c, "--kernel", "k", "--disk", "path=a,serial=12345678901234567890"),
			 CONFIG_RUN);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	config_free(&c);
}

static void test_config_disk_json(void **state)
{
	char path[64];
	struct vm_config c;

	write_tmp(path, "{\"kernel\": \"k\", \"disks\": [{\"path\": \"r.img\", \"overlay\": \"r.ovl\", "
			"\"serial\": \"s\"}, {\"path\": \"d.img\", \"read_only\": true, "
			"\"overlay\": null, \"serial\": null}]}");
	config_init(&c);
	assert_int_equal(config_load_json(&c, path, err, sizeof(err)), 0);
	assert_int_equal(c.nr_disks, 2);
	assert_string_equal(c.disks[0].overlay, "r.ovl");
	assert_true(c.disks[1].read_only);
	assert_null(c.disks[1].overlay);
	config_free(&c);

	/* --disk flags replace the file's list, wherever they stand. */
	config_init(&c);
	assert_int_equal(PARSE(&c, "--disk", "path=flag.img", "--config", path), CONFIG_RUN);
	assert_int_equal(c.nr_disks, 1);
	assert_string_equal(c.disks[0].path, "flag.img");
	config_free(&c);
	unlink(path);
}

struct bad_json {
	const char *text;
	const char *msg;
};

static void test_config_disk_json_errors(void **state)
{
	static const struct bad_json cases[] = {
		{ "{\"disks\": {}}", "expected an array" },
		{ "{\"disks\": [\"a.img\"]}", "expected an object" },
		{ "{\"disks\": [{}]}", "no \"path\"" },
		{ "{\"disks\": [{\"path\": 1}]}", "disks[0].path: expected a string" },
		{ "{\"disks\": [{\"path\": null}]}", "disks[0].path: expected a string" },
		{ "{\"disks\": [{\"path\": \"a\", \"read_only\": \"yes\"}]}", "true or false" },
		{ "{\"disks\": [{\"path\": \"a\", \"overlay\": 3}]}", "string or null" },
		{ "{\"disks\": [{\"path\": \"a\", \"ro\": true}]}", "unknown field \"ro\"" },
		{ "{\"disks\": [{\"path\": \"a\"}, {\"path\": \"b\", \"size\": 1}]}", "disks[1]" },
	};
	char path[64];
	struct vm_config c;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		write_tmp(path, cases[i].text);
		config_init(&c);
		assert_int_equal(config_load_json(&c, path, err, sizeof(err)), -EINVAL);
		print_message("%-60s %s\n", cases[i].text, err);
		assert_non_null(strstr(err, cases[i].msg));
		assert_null(strchr(err, '\n'));
		config_free(&c);
		unlink(path);
	}
}

static void test_config_disk_roundtrip(void **state)
{
	struct vm_config a, b;
	char path[64];
	char *text;

	config_init(&a);
	assert_int_equal(PARSE(&a, "--kernel", "k", "--disk", "path=r.img,overlay=r.ovl,serial=s1",
			       "--disk", "path=d,,x.img,ro"),
			 CONFIG_RUN);
	text = config_to_json(&a);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"disks\":[{"));
	write_tmp(path, text);
	config_init(&b);
	assert_int_equal(config_load_json(&b, path, err, sizeof(err)), 0);
	assert_int_equal(b.nr_disks, 2);
	for (unsigned int i = 0; i < 2; i++) {
		assert_string_equal(a.disks[i].path, b.disks[i].path);
		assert_true(a.disks[i].read_only == b.disks[i].read_only);
		assert_true((!a.disks[i].overlay && !b.disks[i].overlay) ||
			    !strcmp(a.disks[i].overlay, b.disks[i].overlay));
		assert_true((!a.disks[i].serial && !b.disks[i].serial) ||
			    !strcmp(a.disks[i].serial, b.disks[i].serial));
	}
	free(text);
	unlink(path);
	config_free(&a);
	config_free(&b);
	/* No disks: an empty list. */
	config_init(&a);
	text = config_to_json(&a);
	assert_non_null(strstr(text, "\"disks\":[]"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_disk_flags),
		cmocka_unit_test(test_config_disk_flag_errors),
		cmocka_unit_test(test_config_disk_too_many),
		cmocka_unit_test(test_config_disk_validate),
		cmocka_unit_test(test_config_disk_json),
		cmocka_unit_test(test_config_disk_json_errors),
		cmocka_unit_test(test_config_disk_roundtrip),
	};

	log_level = LOG_ERR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
