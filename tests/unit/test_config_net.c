/* Unit tests for the net settings of vmm/config.c: --net, "net" in JSON, checks, round trip. */
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
#define MAX_ARGS      16

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

#define PARSE(c, ...) parse_list(c, (const char *const[]){__VA_ARGS__, NULL})

static void write_tmp(char *path, const char *text)
{
	int fd;

	strcpy(path, "/tmp/torpor_test_config_net_XXXXXX.json");
	fd = mkstemps(path, 5);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_config_net_flag(void **state)
{
	static const uint8_t mac[6] = {0x02, 0x00, 0x0a, 0x00, 0x00, 0xfe};
	struct vm_config c;

	config_init(&c);
	assert_null(c.net.tap); /* no network unless asked */
	assert_int_equal(PARSE(&c, "--kernel", "k", "--net",
			       "tap=tap0,mac=02:00:0A:00:00:fe,host_ip=10.0.0.1/24"),
			 CONFIG_RUN);
	assert_string_equal(c.net.tap, "tap0");
	assert_true(c.net.has_mac);
	assert_memory_equal(c.net.mac, mac, 6);
	assert_true(c.net.has_host_ip);
	assert_int_equal(c.net.host_ip[0], 10);
	assert_int_equal(c.net.host_ip[3], 1);
	assert_int_equal(c.net.host_prefix, 24);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	config_free(&c);
	assert_null(c.net.tap);

	/* Only the name: a random MAC, the TAP's addresses left alone; the last flag wins. */
	config_init(&c);
	assert_int_equal(PARSE(&c, "--kernel", "k", "--net", "tap=a,mac=02:00:00:00:00:01",
			       "--net=tap=vm-1.tap"),
			 CONFIG_RUN);
	assert_string_equal(c.net.tap, "vm-1.tap");
	assert_false(c.net.has_mac);
	assert_false(c.net.has_host_ip);
	config_free(&c);
}

struct bad_flag {
	const char *value;
	const char *msg;
};

static void test_config_net_flag_errors(void **state)
{
	static const struct bad_flag cases[] = {
	    {"", "no tap=NAME"},
	    {"mac=02:00:00:00:00:01", "no tap=NAME"},
	    {"tap=", "is not an interface name"},
	    {"tap=0123456789abcdef", "is not an interface name"},
	    {"tap=a b", "is not an interface name"},
	    {"tap=a/b", "is not an interface name"},
	    {"tap=a:1", "is not an interface name"},
	    {"tap=..", "is not an interface name"},
	    {"tap=caf\xc3\xa9", "is not an interface name"},
	    {"tap=a,tap=b", "tap given twice"},
	    {"tap=a,mac=02:00:00:00:00:01,mac=02:00:00:00:00:02", "mac given twice"},
	    {"tap=a,mac=02:00:00:00:00", "is not a MAC address"},
	    {"tap=a,mac=02:00:00:00:00:001", "is not a MAC address"},
	    {"tap=a,mac=02:00:00:00:00:0g", "is not a MAC address"},
	    {"tap=a,mac=02-00:00:00:00:01", "is not a MAC address"},
	    {"tap=a,mac=2:0:0:0:0:1", "is not a MAC address"},
	    {"tap=a,mac=01:00:5e:00:00:01", "multicast"},
	    {"tap=a,mac=ff:ff:ff:ff:ff:ff", "multicast"},
	    {"tap=a,mac=00:00:00:00:00:00", "all zeros"},
	    {"tap=a,host_ip=10.0.0.1", "with a prefix length"},
	    {"tap=a,host_ip=10.0.0.1/", "with a prefix length"},
	    {"tap=a,host_ip=10.0.0.1/0", "with a prefix length"},
	    {"tap=a,host_ip=10.0.0.1/33", "with a prefix length"},
	    {"tap=a,host_ip=10.0.0.1/024", "with a prefix length"},
	    {"tap=a,host_ip=10.0.0.1/24x", "with a prefix length"},
	    {"tap=a,host_ip=10.0.0/24", "with a prefix length"},
	    {"tap=a,host_ip=10.0.0.256/24", "with a prefix length"},
	    {"tap=a,host_ip=fd00::1/64", "with a prefix length"},
	    {"tap=a,host_ip=10.0.0.1/24,host_ip=10.0.0.2/24", "host_ip given twice"},
	    {"tap=a,bridge=br0", "unknown option \"bridge=br0\""},
	    {"tap=a,TAP=b", "unknown option \"TAP=b\""},
	};
	struct vm_config c;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int rc;

		config_init(&c);
		rc = PARSE(&c, "--kernel", "k", "--net", cases[i].value);
		print_message("%-50s rc=%d %s\n", cases[i].value, rc, err);
		assert_int_equal(rc, -EINVAL);
		assert_non_null(strstr(err, "--net"));
		assert_non_null(strstr(err, cases[i].msg));
		assert_null(strchr(err, '\n'));
		assert_null(c.net.tap);
		config_free(&c);
	}
}

static void test_config_net_mac(void **state)
{
	uint8_t mac[6];
	char buf[18];

	assert_int_equal(config_parse_mac("02-AB-cd-00-11-ff", mac), 0);
	config_format_mac(mac, buf, sizeof(buf));
	assert_string_equal(buf, "02:ab:cd:00:11:ff");
	assert_int_equal(config_parse_mac("02:ab:cd:00:11:ff:", mac), -EINVAL);
	assert_int_equal(config_parse_mac("", mac), -EINVAL);
	assert_int_equal(config_parse_mac("02:ab:cd:00:11", mac), -EINVAL);
}

static void test_config_net_json(void **state)
{
	char path[64];
	struct vm_config c;

	write_tmp(path, "{\"kernel\": \"k\", \"net\": {\"tap\": \"tap7\", \"mac\": "
			"\"02:00:00:00:00:07\", \"host_ip\": \"192.168.7.1/30\"}}");
	config_init(&c);
	assert_int_equal(config_load_json(&c, path, err, sizeof(err)), 0);
	assert_string_equal(c.net.tap, "tap7");
	assert_true(c.net.has_mac);
	assert_int_equal(c.net.mac[5], 7);
	assert_int_equal(c.net.host_ip[0], 192);
	assert_int_equal(c.net.host_prefix, 30);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);

	/* A --net flag replaces the file's net, wherever it stands. */
	assert_int_equal(PARSE(&c, "--net", "tap=flag0", "--config", path), CONFIG_RUN);
	assert_string_equal(c.net.tap, "flag0");
	assert_false(c.net.has_mac);
	config_free(&c);
	unlink(path);

	/* Optional fields may be null; "net": null is no device. */
	write_tmp(path, "{\"net\": {\"tap\": \"t\", \"mac\": null, \"host_ip\": null}}");
	config_init(&c);
	assert_int_equal(config_load_json(&c, path, err, sizeof(err)), 0);
	assert_string_equal(c.net.tap, "t");
	assert_false(c.net.has_mac || c.net.has_host_ip);
	unlink(path);
	write_tmp(path, "{\"net\": null}");
	assert_int_equal(config_load_json(&c, path, err, sizeof(err)), 0);
	assert_null(c.net.tap);
	config_free(&c);
	unlink(path);
}

struct bad_json {
	const char *text;
	const char *msg;
};

static void test_config_net_json_errors(void **state)
{
	static const struct bad_json cases[] = {
	    {"{\"net\": \"tap0\"}", "expected an object"},
	    {"{\"net\": []}", "expected an object"},
	    {"{\"net\": {}}", "no \"tap\""},
	    {"{\"net\": {\"mac\": \"02:00:00:00:00:01\"}}", "no \"tap\""},
	    {"{\"net\": {\"tap\": null}}", "net.tap: expected a string"},
	    {"{\"net\": {\"tap\": 3}}", "net.tap: expected a string"},
	    {"{\"net\": {\"tap\": \"a/b\"}}", "is not an interface name"},
	    {"{\"net\": {\"tap\": \"t\", \"mac\": 2}}", "net.mac: expected a string or null"},
	    {"{\"net\": {\"tap\": \"t\", \"mac\": \"x\"}}", "is not a MAC address"},
	    {"{\"net\": {\"tap\": \"t\", \"mac\": \"03:00:00:00:00:01\"}}", "multicast"},
	    {"{\"net\": {\"tap\": \"t\", \"host_ip\": \"10.0.0.1\"}}", "with a prefix length"},
	    {"{\"net\": {\"tap\": \"t\", \"host_ip\": true}}", "string or null"},
	    {"{\"net\": {\"tap\": \"t\", \"ip\": \"10.0.0.1/24\"}}", "unknown field \"ip\""},
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
		assert_null(c.net.tap);
		config_free(&c);
		unlink(path);
	}
}

static void test_config_net_validate(void **state)
{
	struct vm_config c;

	/* What a caller can put in the struct by hand is checked too. */
	config_init(&c);
	c.kernel = strdup("k");
	c.net.has_mac = true;
	c.net.mac[0] = 2;
	assert_int_equal(config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "without a tap"));
	c.net.tap = strdup("t0");
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	c.net.mac[0] = 1;
	assert_int_equal(config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unicast"));
	c.net.mac[0] = 2;
	c.net.has_host_ip = true;
	c.net.host_prefix = 0;
	assert_int_equal(config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "prefix"));
	config_free(&c);
}

static void test_config_net_roundtrip(void **state)
{
	struct vm_config a, b;
	char path[64];
	char *text;

	config_init(&a);
	assert_int_equal(PARSE(&a, "--kernel", "k", "--net",
			       "tap=tap0,mac=02:00:0a:00:00:02,host_ip=10.0.0.1/24"),
			 CONFIG_RUN);
	text = config_to_json(&a);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"net\":{\"tap\":\"tap0\",\"mac\":\"02:00:0a:00:00:02\","
				     "\"host_ip\":\"10.0.0.1/24\"}"));
	write_tmp(path, text);
	config_init(&b);
	assert_int_equal(config_load_json(&b, path, err, sizeof(err)), 0);
	assert_string_equal(a.net.tap, b.net.tap);
	assert_memory_equal(a.net.mac, b.net.mac, 6);
	assert_memory_equal(a.net.host_ip, b.net.host_ip, 4);
	assert_int_equal(a.net.host_prefix, b.net.host_prefix);
	free(text);
	unlink(path);
	config_free(&a);
	config_free(&b);

	/* Without the options, nulls; without a device, "net": null. */
	config_init(&a);
	assert_int_equal(PARSE(&a, "--kernel", "k", "--net", "tap=t"), CONFIG_RUN);
	text = config_to_json(&a);
	assert_non_null(strstr(text, "\"net\":{\"tap\":\"t\",\"mac\":null,\"host_ip\":null}"));
	free(text);
	config_free(&a);
	config_init(&a);
	text = config_to_json(&a);
	assert_non_null(strstr(text, "\"net\":null"));
	free(text);
}

static void test_config_net_help(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	FILE *saved = stdout;
	struct vm_config c;

	assert_non_null(f);
	stdout = f;
	config_init(&c);
	assert_int_equal(PARSE(&c, "--help"), CONFIG_HELP);
	stdout = saved;
	fclose(f);
	assert_non_null(strstr(buf, "--net SPEC"));
	assert_non_null(strstr(buf, "tap=NAME[,mac=MAC][,host_ip=ADDR/LEN]"));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_net_flag),
	    cmocka_unit_test(test_config_net_flag_errors),
	    cmocka_unit_test(test_config_net_mac),
	    cmocka_unit_test(test_config_net_json),
	    cmocka_unit_test(test_config_net_json_errors),
	    cmocka_unit_test(test_config_net_validate),
	    cmocka_unit_test(test_config_net_roundtrip),
	    cmocka_unit_test(test_config_net_help),
	};

	log_level = LOG_ERR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
