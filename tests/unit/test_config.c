/* Unit tests for vmm/config.c: flags, JSON files, sizes, validation, --help/--version. */
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

#define MIB (1ull << 20)
#define MAX_ARGS 32

/* Parse a NULL-terminated argument list (after "torpor-vmm"). */
static int parse_list(struct vm_config *c, char *err, size_t errlen, const char *const *args)
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
	rc = config_parse_args(c, argc, argv, err, errlen);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return rc;
}

#define PARSE(c, err, ...) \
	parse_list(c, err, sizeof(err), (const char *const[]){ __VA_ARGS__, NULL })

/* A temporary JSON file holding text; path must hold 64 bytes. */
static void write_tmp(char *path, const char *text)
{
	int fd;

	strcpy(path, "/tmp/torpor_test_config_XXXXXX.json");
	fd = mkstemps(path, 5);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_config_defaults(void **state)
{
	struct vm_config c;

	config_init(&c);
	assert_null(c.kernel);
	assert_null(c.initrd);
	assert_null(c.cmdline);
	assert_null(c.control);
	assert_null(c.dump_dtb);
	assert_int_equal(c.mem_size, CONFIG_DEFAULT_MEM);
	assert_int_equal(c.vcpus, CONFIG_DEFAULT_VCPUS);
	assert_int_equal(c.on_reboot, ON_REBOOT_EXIT);
	assert_true(c.console_input);
	assert_int_equal(c.log_level, LOG_INFO);
	config_free(&c);
}

static void test_config_flags(void **state)
{
	struct vm_config c;
	char err[256];

	config_init(&c);
	assert_int_equal(PARSE(&c, err, "--kernel", "/k/Image", "--initrd", "/k/initrd",
			       "--cmdline", "console=ttyS0 quiet", "--memory", "2G", "--vcpus",
			       "4", "--control", "/run/vm.sock", "--on-reboot", "restart",
			       "--dump-dtb", "/tmp/vm.dtb", "--log-level", "debug",
			       "--no-console-input"),
			 CONFIG_RUN);
	assert_string_equal(c.kernel, "/k/Image");
	assert_string_equal(c.initrd, "/k/initrd");
	assert_string_equal(c.cmdline, "console=ttyS0 quiet");
	assert_int_equal(c.mem_size, 2048 * MIB);
	assert_int_equal(c.vcpus, 4);
	assert_string_equal(c.control, "/run/vm.sock");
	assert_int_equal(c.on_reboot, ON_REBOOT_RESTART);
	assert_string_equal(c.dump_dtb, "/tmp/vm.dtb");
	assert_int_equal(c.log_level, LOG_DEBUG);
	assert_int_equal(log_level, LOG_DEBUG); /* applied on CONFIG_RUN */
	assert_false(c.console_input);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	config_free(&c);
	log_level = LOG_INFO;
}

static void test_config_flags_equals_form_and_repeats(void **state)
{
	struct vm_config c;
	char err[256];

	config_init(&c);
	assert_int_equal(PARSE(&c, err, "--kernel=/a", "--memory=512", "--vcpus", "2",
			       "--kernel", "/b", "--vcpus=3"),
			 CONFIG_RUN);
	assert_string_equal(c.kernel, "/b"); /* the last one wins */
	assert_int_equal(c.mem_size, 512 * MIB);
	assert_int_equal(c.vcpus, 3);
	/* Parsing again starts afresh (getopt state is reset). */
	assert_int_equal(PARSE(&c, err, "--vcpus", "5"), CONFIG_RUN);
	assert_int_equal(c.vcpus, 5);
	config_free(&c);
}

static void test_config_json_file(void **state)
{
	struct vm_config c;
	char path[64], err[256];

	write_tmp(path, "{\n"
			"  \"kernel\": \"/k/Image\",\n"
			"  \"initrd\": \"/k/rootfs.cpio.gz\",\n"
			"  \"cmdline\": \"console=ttyS0\",\n"
			"  \"memory\": \"1G\",\n"
			"  \"vcpus\": 2,\n"
			"  \"control\": \"/run/a.sock\",\n"
			"  \"on_reboot\": \"restart\",\n"
			"  \"console_input\": false,\n"
			"  \"log_level\": \"warn\"\n"
			"}\n");
	config_init(&c);
	assert_int_equal(PARSE(&c, err, "--config", path), CONFIG_RUN);
	assert_string_equal(c.kernel, "/k/Image");
	assert_string_equal(c.initrd, "/k/rootfs.cpio.gz");
	assert_string_equal(c.cmdline, "console=ttyS0");
	assert_int_equal(c.mem_size, 1024 * MIB);
	assert_int_equal(c.vcpus, 2);
	assert_string_equal(c.control, "/run/a.sock");
	assert_int_equal(c.on_reboot, ON_REBOOT_RESTART);
	assert_false(c.console_input);
	assert_int_equal(c.log_level, LOG_WARN);
	config_free(&c);
	unlink(path);
	log_level = LOG_INFO;
}

static void test_config_json_memory_integer_and_null(void **state)
{
	struct vm_config c;
	char path[64], err[256];

	write_tmp(path, "{\"kernel\": \"/k\", \"memory\": 384, \"initrd\": null}");
	config_init(&c);
	c.initrd = strdup("/old");
	assert_int_equal(config_load_json(&c, path, err, sizeof(err)), 0);
	assert_int_equal(c.mem_size, 384 * MIB);
	assert_null(c.initrd);
	config_free(&c);
	unlink(path);
}

static void test_config_flag_overrides_file(void **state)
{
	struct vm_config c;
	char path[64], err[256];

	write_tmp(path, "{\"kernel\": \"/file\", \"memory\": \"1G\", \"vcpus\": 2, "
			"\"console_input\": true}");
	/* Flags after --config. */
	config_init(&c);
	assert_int_equal(PARSE(&c, err, "--config", path, "--memory", "2G", "--no-console-input"),
			 CONFIG_RUN);
	assert_string_equal(c.kernel, "/file");
	assert_int_equal(c.mem_size, 2048 * MIB);
	assert_int_equal(c.vcpus, 2);
	assert_false(c.console_input);
	config_free(&c);
	/* Flags before --config win too. */
	config_init(&c);
	assert_int_equal(PARSE(&c, err, "--vcpus", "8", "--kernel", "/flag", "--config", path),
			 CONFIG_RUN);
	assert_string_equal(c.kernel, "/flag");
	assert_int_equal(c.vcpus, 8);
	assert_int_equal(c.mem_size, 1024 * MIB);
	config_free(&c);
	unlink(path);
}

struct size_case {
	const char *in;
	int rc;
	uint64_t out;
};

static const struct size_case sizes[] = {
	{ "512", 0, 512 * MIB },
	{ "0", 0, 0 },
	{ "512M", 0, 512 * MIB },
	{ "512m", 0, 512 * MIB },
	{ "512MiB", 0, 512 * MIB },
	{ "2G", 0, 2048 * MIB },
	{ "2GiB", 0, 2048 * MIB },
	{ "4096K", 0, 4 * MIB },
	{ "4100k", 0, 4100 * 1024ull },
	{ "1T", 0, 1024 * 1024 * MIB },
	{ "0001G", 0, 1024 * MIB },
	{ "17592186044415", 0, 17592186044415ull * MIB }, /* 2^44 - 1 MiB: fits */
	{ "16777215T", 0, 16777215ull << 40 },
	{ "17592186044416", -EINVAL, 0 },         /* 2^44 MiB = 2^64 bytes */
	{ "16777216T", -EINVAL, 0 },              /* 2^64 bytes */
	{ "18014398509481984K", -EINVAL, 0 },     /* 2^54 K = 2^64 bytes */
	{ "18446744073709551616", -EINVAL, 0 },   /* over 64 bits before the unit */
	{ "99999999999999999999999G", -EINVAL, 0 },
	{ "", -EINVAL, 0 },
	{ "M", -EINVAL, 0 },
	{ "abc", -EINVAL, 0 },
	{ "-1", -EINVAL, 0 },
	{ "+1", -EINVAL, 0 },
	{ " 1", -EINVAL, 0 },
	{ "1 ", -EINVAL, 0 },
	{ "1.5G", -EINVAL, 0 },
	{ "1X", -EINVAL, 0 },
	{ "1MB", -EINVAL, 0 },
	{ "1Mi", -EINVAL, 0 },
	{ "1GG", -EINVAL, 0 },
	{ "0x10", -EINVAL, 0 },
};

static void test_config_parse_size(void **state)
{
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t out = 12345;
		int rc = config_parse_size(sizes[i].in, &out);

		if (rc != sizes[i].rc)
			fail_msg("\"%s\": rc %d, want %d", sizes[i].in, rc, sizes[i].rc);
		if (rc == 0 && out != sizes[i].out)
			fail_msg("\"%s\": %llu, want %llu", sizes[i].in, (unsigned long long)out,
				 (unsigned long long)sizes[i].out);
		if (rc < 0 && out != 12345)
			fail_msg("\"%s\": output written on error", sizes[i].in);
	}
	assert_int_equal(config_parse_size(NULL, &(uint64_t){ 0 }), -EINVAL);
}

struct bad_args {
	const char *args[6];
	const char *msg; /* a piece of the error line */
};

static const struct bad_args bad_args[] = {
	{ { "--bogus" }, "--bogus" },
	{ { "--bogus=1" }, "--bogus=1" },
	{ { "-x" }, "-x" },
	{ { "--kernel" }, "--kernel needs a value" },
	{ { "--kernel", "/k", "stray" }, "unexpected argument \"stray\"" },
	{ { "--kernel", "/k", "--", "stray" }, "unexpected argument \"stray\"" },
	{ { "--help=yes" }, "--help takes no value" },
	{ { "--no-console-input=0" }, "takes no value" },
	{ { "--c", "x" }, "ambiguous" }, /* cmdline, config, control */
	{ { "--memory", "abc" }, "--memory: \"abc\" is not a size" },
	{ { "--memory", "" }, "--memory" },
	{ { "--memory", "99999999999999999999" }, "--memory" },
	{ { "--memory", "-512M" }, "--memory" },
	{ { "--vcpus", "-1" }, "--vcpus" },
	{ { "--vcpus", "2x" }, "--vcpus" },
	{ { "--vcpus", "" }, "--vcpus" },
	{ { "--vcpus", "4294967296" }, "--vcpus" },
	{ { "--on-reboot", "reboot" }, "--on-reboot: \"reboot\" is not exit or restart" },
	{ { "--log-level", "loud" }, "--log-level" },
};

static void test_config_bad_args(void **state)
{
	for (size_t i = 0; i < sizeof(bad_args) / sizeof(bad_args[0]); i++) {
		struct vm_config c;
		char err[256];
		int rc;

		config_init(&c);
		rc = parse_list(&c, err, sizeof(err), bad_args[i].args);
		if (rc != -EINVAL)
			fail_msg("case %zu (%s): rc %d, want -EINVAL", i, bad_args[i].args[0], rc);
		if (!strstr(err, bad_args[i].msg))
			fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err, bad_args[i].msg);
		if (strchr(err, '\n'))
			fail_msg("case %zu: error is not one line: \"%s\"", i, err);
		config_free(&c);
	}
}

struct bad_json {
	const char *text;
	const char *msg;
};

static const struct bad_json bad_json[] = {
	{ "", ":1:0: " },
	{ "{\"kernel\": \"/k\",}", ":1:17: " },
	{ "{\n  \"kernel\": \"/k\"\n  \"vcpus\": 2\n}", ":3:9: " },
	{ "{} trailing", ":1:" },
	{ "[1]", "top level" },
	{ "\"kernel\"", ":1:8: " }, /* jansson: an object or array first */
	{ "{\"bogus\": 1}", "unknown field \"bogus\"" },
	{ "{\"dump_dtb\": \"/x\"}", "unknown field \"dump_dtb\"" },
	{ "{\"Kernel\": \"/x\"}", "unknown field \"Kernel\"" },
	{ "{\"kernel\": \"/a\", \"kernel\": \"/b\"}", "duplicate" },
	{ "{\"kernel\": 1}", "kernel: expected a string" },
	{ "{\"kernel\": null}", "kernel: expected a string" },
	{ "{\"initrd\": [\"/x\"]}", "initrd: expected a string" },
	{ "{\"memory\": true}", "memory: expected a size" },
	{ "{\"memory\": 1.5}", "memory: expected a size" },
	{ "{\"memory\": -1}", "memory: -1 MiB is out of range" },
	{ "{\"memory\": 17592186044416}", "memory: 17592186044416 MiB is out of range" },
	{ "{\"memory\": \"lots\"}", "memory: \"lots\" is not a size" },
	{ "{\"memory\": \"1.5G\"}", "memory: \"1.5G\" is not a size" },
	{ "{\"vcpus\": \"2\"}", "vcpus: expected an integer" },
	{ "{\"vcpus\": 2.0}", "vcpus: expected an integer" },
	{ "{\"vcpus\": -1}", "vcpus: -1 is out of range" },
	{ "{\"vcpus\": 4294967296}", "vcpus: 4294967296 is out of range" },
	{ "{\"vcpus\": 99999999999999999999}", "too big" },
	{ "{\"console_input\": \"no\"}", "console_input: expected true or false" },
	{ "{\"console_input\": 0}", "console_input: expected true or false" },
	{ "{\"on_reboot\": \"reboot\"}", "on_reboot: \"reboot\" is not exit or restart" },
	{ "{\"log_level\": 3}", "log_level: expected a string" },
	{ "{\"log_level\": \"verbose\"}", "log_level: \"verbose\" is not" },
};

static void test_config_bad_json(void **state)
{
	for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
		struct vm_config c;
		char path[64], err[256];
		int rc;

		write_tmp(path, bad_json[i].text);
		config_init(&c);
		rc = PARSE(&c, err, "--config", path);
		unlink(path);
		if (rc != -EINVAL)
			fail_msg("case %zu (%s): rc %d, want -EINVAL", i, bad_json[i].text, rc);
		if (!strstr(err, bad_json[i].msg) || strncmp(err, path, strlen(path)))
			fail_msg("case %zu: error \"%s\" lacks the path or \"%s\"", i, err,
				 bad_json[i].msg);
		if (strchr(err, '\n'))
			fail_msg("case %zu: error is not one line: \"%s\"", i, err);
		config_free(&c);
	}
}

static void test_config_missing_file(void **state)
{
	struct vm_config c;
	char err[256];

	config_init(&c);
	assert_int_equal(PARSE(&c, err, "--config", "/nonexistent/vm.json"), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/vm.json"));
	config_free(&c);
}

struct validate_case {
	const char *kernel;
	const char *cmdline;
	uint64_t mem;
	unsigned int vcpus;
	const char *msg; /* NULL: valid */
};

static void test_config_validate(void **state)
{
	static char long_cmdline[CONFIG_MAX_CMDLINE + 1];
	const struct validate_case cases[] = {
		{ "/k", NULL, 256 * MIB, 1, NULL },
		{ "/k", "console=ttyS0", 4096, 64, NULL },
		{ NULL, NULL, 256 * MIB, 1, "no kernel" },
		{ "", NULL, 256 * MIB, 1, "kernel: empty path" },
		{ "/k\xff", NULL, 256 * MIB, 1, "kernel: path is not valid UTF-8" },
		{ "/k", NULL, 0, 1, "memory: must be more than 0" },
		{ "/k", NULL, 4097, 1, "not a multiple of 4 KiB" },
		{ "/k", NULL, 256 * MIB + 1024, 1, "not a multiple of 4 KiB" },
		{ "/k", NULL, 256 * MIB, 0, "vcpus: must be at least 1" },
		{ "/k", long_cmdline, 256 * MIB, 1, "cmdline: 2048 bytes" },
	};

	memset(long_cmdline, 'a', CONFIG_MAX_CMDLINE);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vm_config c;
		char err[256] = "";
		int rc;

		config_init(&c);
		c.kernel = cases[i].kernel ? strdup(cases[i].kernel) : NULL;
		c.cmdline = cases[i].cmdline ? strdup(cases[i].cmdline) : NULL;
		c.mem_size = cases[i].mem;
		c.vcpus = cases[i].vcpus;
		rc = config_validate(&c, err, sizeof(err));
		if (!cases[i].msg && rc != 0)
			fail_msg("case %zu: rc %d (%s), want 0", i, rc, err);
		if (cases[i].msg && (rc != -EINVAL || !strstr(err, cases[i].msg)))
			fail_msg("case %zu: rc %d \"%s\", want -EINVAL \"%s\"", i, rc, err,
				 cases[i].msg);
		config_free(&c);
	}
}

/* Run a parse with stdout captured into out. */
static int parse_captured(const char *flag, char *out, size_t outlen)
{
	struct vm_config c;
	char err[256];
	FILE *tmp = tmpfile();
	int saved, rc;
	size_t n;

	assert_non_null(tmp);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	dup2(fileno(tmp), STDOUT_FILENO);
	config_init(&c);
	rc = PARSE(&c, err, "--kernel", "/k", flag, "--bogus-after");
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, outlen - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
	config_free(&c);
	return rc;
}

static void test_config_help(void **state)
{
	static const char *const flags[] = {
		"--kernel PATH", "--initrd PATH", "--cmdline STR", "--memory SIZE",
		"--vcpus N", "--control SOCK", "--config FILE.json", "--on-reboot exit|restart",
		"--dump-dtb FILE", "--log-level LEVEL", "--no-console-input", "--help",
		"--version", "Exit status",
	};
	char out[8192];

	assert_int_equal(parse_captured("--help", out, sizeof(out)), CONFIG_HELP);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (!strstr(out, flags[i]))
			fail_msg("--help does not mention \"%s\"", flags[i]);
	assert_int_equal(parse_captured("-h", out, sizeof(out)), CONFIG_HELP);
	assert_non_null(strstr(out, "Usage: torpor-vmm"));
}

static void test_config_version(void **state)
{
	char out[256];

	assert_int_equal(parse_captured("--version", out, sizeof(out)), CONFIG_VERSION);
	assert_int_equal(strncmp(out, "torpor-vmm ", 11), 0);
	/* The version is the build's (git describe); one line, not empty. */
	assert_true(strlen(out) > 12);
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
}

/* What GET /vm reports loads back as a config file with the same meaning. */
static void test_config_to_json_roundtrip(void **state)
{
	struct vm_config a, b;
	char path[64], err[256];
	char *text;

	config_init(&a);
	assert_int_equal(PARSE(&a, err, "--kernel", "/k/Image", "--memory", "4100K", "--vcpus",
			       "3", "--control", "/run/x.sock", "--on-reboot", "restart",
			       "--no-console-input", "--log-level", "error"),
			 CONFIG_RUN);
	log_level = LOG_INFO;
	text = config_to_json(&a);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"memory\":\"4100K\""));
	assert_non_null(strstr(text, "\"initrd\":null"));
	assert_non_null(strstr(text, "\"cmdline\":\"" CONFIG_DEFAULT_CMDLINE "\""));
	write_tmp(path, text);
	config_init(&b);
	assert_int_equal(config_load_json(&b, path, err, sizeof(err)), 0);
	unlink(path);
	assert_string_equal(b.kernel, a.kernel);
	assert_null(b.initrd);
	assert_string_equal(b.cmdline, CONFIG_DEFAULT_CMDLINE);
	assert_int_equal(b.mem_size, a.mem_size);
	assert_int_equal(b.vcpus, 3);
	assert_string_equal(b.control, a.control);
	assert_int_equal(b.on_reboot, ON_REBOOT_RESTART);
	assert_false(b.console_input);
	assert_int_equal(b.log_level, LOG_ERR);
	free(text);

	a.mem_size = 2048 * MIB;
	text = config_to_json(&a);
	assert_non_null(strstr(text, "\"memory\":\"2G\""));
	free(text);
	config_free(&a);
	config_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_config_flags),
		cmocka_unit_test(test_config_flags_equals_form_and_repeats),
		cmocka_unit_test(test_config_json_file),
		cmocka_unit_test(test_config_json_memory_integer_and_null),
		cmocka_unit_test(test_config_flag_overrides_file),
		cmocka_unit_test(test_config_parse_size),
		cmocka_unit_test(test_config_bad_args),
		cmocka_unit_test(test_config_bad_json),
		cmocka_unit_test(test_config_missing_file),
		cmocka_unit_test(test_config_validate),
		cmocka_unit_test(test_config_help),
		cmocka_unit_test(test_config_version),
		cmocka_unit_test(test_config_to_json_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
