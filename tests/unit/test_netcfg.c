/* Unit tests: torpor.ip/gw/dns/hostname parsing and checks (guest-init/netcfg.c, pure part). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guest-init/netcfg.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void test_netcfg_parse_ipv4(void **state)
{
	static const struct {
		const char *s;
		int ok;
		uint8_t ip[4];
	} cases[] = {
		{ "10.0.0.2", 1, { 10, 0, 0, 2 } },
		{ "0.0.0.0", 1, { 0, 0, 0, 0 } },
		{ "255.255.255.255", 1, { 255, 255, 255, 255 } },
		{ "192.168.100.1", 1, { 192, 168, 100, 1 } },
		{ "256.0.0.1", 0, { 0 } },
		{ "1.2.3", 0, { 0 } },
		{ "1.2.3.4.5", 0, { 0 } },
		{ "1.2.3.", 0, { 0 } },
		{ ".1.2.3", 0, { 0 } },
		{ "01.2.3.4", 0, { 0 } },   /* leading zero: octal to inet_aton */
		{ "1.2.3.04", 0, { 0 } },
		{ "1.2.3.4 ", 0, { 0 } },
		{ " 1.2.3.4", 0, { 0 } },
		{ "+1.2.3.4", 0, { 0 } },
		{ "-1.2.3.4", 0, { 0 } },
		{ "1..3.4", 0, { 0 } },
		{ "0x1.2.3.4", 0, { 0 } },
		{ "1.2.3.4/24", 0, { 0 } },
		{ "99999999999.1.1.1", 0, { 0 } },
		{ "", 0, { 0 } },
		{ "a.b.c.d", 0, { 0 } },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint8_t ip[4] = { 0 };
		int rc = netcfg_parse_ipv4(cases[i].s, ip);

		print_message("%-22s rc=%d\n", cases[i].s, rc);
		assert_int_equal(rc, cases[i].ok ? 0 : -EINVAL);
		if (cases[i].ok)
			assert_memory_equal(ip, cases[i].ip, 4);
	}
}

static void test_netcfg_parse_addr(void **state)
{
	static const struct {
		const char *s;
		int ok;
		uint8_t ip[4];
		unsigned prefix;
		const char *why; /* a word of the reason when refused */
	} cases[] = {
		{ "10.0.0.2/24", 1, { 10, 0, 0, 2 }, 24, NULL },
		{ "172.16.5.9/12", 1, { 172, 16, 5, 9 }, 12, NULL },
		{ "10.0.0.1/8", 1, { 10, 0, 0, 1 }, 8, NULL },
		{ "192.168.1.1/32", 1, { 192, 168, 1, 1 }, 32, NULL },
		{ "192.168.1.0/31", 1, { 192, 168, 1, 0 }, 31, NULL }, /* RFC 3021: both usable */
		{ "192.168.1.1/31", 1, { 192, 168, 1, 1 }, 31, NULL },
		{ "192.168.1.2/30", 1, { 192, 168, 1, 2 }, 30, NULL },
		{ "1.2.3.4/1", 1, { 1, 2, 3, 4 }, 1, NULL },
		{ "10.0.0.2", 0, { 0 }, 0, "no /prefix" },
		{ "10.0.0.2/", 0, { 0 }, 0, "prefix length" },
		{ "10.0.0.2/0", 0, { 0 }, 0, "prefix length" },
		{ "10.0.0.2/33", 0, { 0 }, 0, "prefix length" },
		{ "10.0.0.2/024", 0, { 0 }, 0, "prefix length" },
		{ "10.0.0.2/24x", 0, { 0 }, 0, "prefix length" },
		{ "10.0.0.2/-1", 0, { 0 }, 0, "prefix length" },
		{ "10.0.0.2/24/24", 0, { 0 }, 0, "prefix length" },
		{ "10.0.0.2x/24", 0, { 0 }, 0, "A.B.C.D/N" },
		{ "10.0.0/24", 0, { 0 }, 0, "A.B.C.D/N" },
		{ "0.0.0.0/24", 0, { 0 }, 0, "host address" },
		{ "127.0.0.2/8", 0, { 0 }, 0, "loopback" },
		{ "224.0.0.1/24", 0, { 0 }, 0, "multicast" },
		{ "240.0.0.1/24", 0, { 0 }, 0, "reserved" },
		{ "255.255.255.255/32", 0, { 0 }, 0, "reserved" },
		{ "10.0.0.0/24", 0, { 0 }, 0, "network" },
		{ "10.0.0.255/24", 0, { 0 }, 0, "broadcast" },
		{ "192.168.1.3/30", 0, { 0 }, 0, "broadcast" },
		{ "", 0, { 0 }, 0, "A.B.C.D/N" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct netcfg_addr a = { { 0 }, 0 };
		const char *why = NULL;
		int rc = netcfg_parse_addr(cases[i].s, &a, &why);

		print_message("%-22s rc=%d why=%s\n", cases[i].s, rc, rc ? why : "");
		assert_int_equal(rc, cases[i].ok ? 0 : -EINVAL);
		if (cases[i].ok) {
			assert_memory_equal(a.ip, cases[i].ip, 4);
			assert_int_equal(a.prefix, cases[i].prefix);
		} else {
			assert_non_null(why);
			assert_non_null(strstr(why, cases[i].why));
		}
	}
}

static void test_netcfg_parse_gw(void **state)
{
	static const struct {
		const char *addr, *gw;
		int ok;
		const char *why;
	} cases[] = {
		{ "10.0.0.2/24", "10.0.0.1", 1, NULL },
		{ "10.0.0.2/24", "10.0.0.254", 1, NULL },
		{ "10.0.5.2/16", "10.0.0.1", 1, NULL },
		{ "192.168.1.0/31", "192.168.1.1", 1, NULL },
		{ "10.0.0.2/24", "10.0.1.1", 0, "not inside" },
		{ "10.0.0.2/24", "10.0.0.2", 0, "same" },
		{ "10.0.0.2/24", "10.0.0.0", 0, "network" },
		{ "10.0.0.2/24", "10.0.0.255", 0, "broadcast" },
		{ "10.0.0.2/32", "10.0.0.1", 0, "not inside" },
		{ "10.0.0.2/24", "10.0.0.1/24", 0, "A.B.C.D" },
		{ "10.0.0.2/24", "gateway", 0, "A.B.C.D" },
		{ "10.0.0.2/24", "", 0, "A.B.C.D" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct netcfg_addr a;
		const char *why = NULL;
		uint8_t gw[4];
		int rc;

		assert_int_equal(netcfg_parse_addr(cases[i].addr, &a, &why), 0);
		rc = netcfg_parse_gw(cases[i].gw, &a, gw, &why);
		print_message("%-16s via %-14s rc=%d why=%s\n", cases[i].addr, cases[i].gw, rc,
			      rc ? why : "");
		assert_int_equal(rc, cases[i].ok ? 0 : -EINVAL);
		if (!cases[i].ok)
			assert_non_null(strstr(why, cases[i].why));
	}
}

static void test_netcfg_parse_dns(void **state)
{
	static const struct {
		const char *s;
		int ok;
		unsigned n;
	} cases[] = {
		{ "1.1.1.1", 1, 1 },
		{ "1.1.1.1,8.8.8.8", 1, 2 },
		{ "1.1.1.1,8.8.8.8,9.9.9.9", 1, 3 },
		{ "1.1.1.1,8.8.8.8,9.9.9.9,1.0.0.1", 0, 0 },
		{ "1.1.1.1,", 0, 0 },
		{ ",1.1.1.1", 0, 0 },
		{ "1.1.1.1,,8.8.8.8", 0, 0 },
		{ "1.1.1.1 8.8.8.8", 0, 0 },
		{ "1.1.1.1;8.8.8.8", 0, 0 },
		{ "dns.example", 0, 0 },
		{ "", 0, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint8_t dns[NETCFG_DNS_MAX][4];
		const char *why = NULL;
		unsigned n = 99;
		int rc = netcfg_parse_dns(cases[i].s, dns, &n, &why);

		print_message("%-34s rc=%d n=%u\n", cases[i].s, rc, n);
		assert_int_equal(rc, cases[i].ok ? 0 : -EINVAL);
		if (cases[i].ok) {
			assert_int_equal(n, cases[i].n);
			assert_int_equal(dns[0][0], 1);
		} else {
			assert_non_null(why);
		}
	}
}

static void test_netcfg_resolv_conf(void **state)
{
	static const uint8_t dns[2][4] = { { 1, 1, 1, 1 }, { 10, 0, 0, 53 } };
	char buf[256], tiny[40];
	int len;

	len = netcfg_resolv_conf(dns, 2, buf, sizeof(buf));
	assert_int_equal(len, (int)strlen(buf));
	assert_non_null(strstr(buf, "\nnameserver 1.1.1.1\nnameserver 10.0.0.53\n"));
	assert_int_equal(buf[0], '#');
	assert_int_equal(netcfg_resolv_conf(dns, 2, tiny, sizeof(tiny)), -ENOSPC);
	assert_string_equal(tiny, "");
	len = netcfg_resolv_conf(dns, 0, buf, sizeof(buf));
	assert_int_equal(len, (int)strlen(buf));
	assert_null(strstr(buf, "nameserver"));
}

static void test_netcfg_hostname_valid(void **state)
{
	static const struct {
		const char *s;
		int ok;
	} cases[] = {
		{ "torpor", 1 },
		{ "vm-1", 1 },
		{ "a", 1 },
		{ "9lives", 1 },
		{ "session-42.example.com", 1 },
		{ "A.B", 1 },
		{ "", 0 },
		{ "-vm", 0 },
		{ "vm-", 0 },
		{ "vm.-a", 0 },
		{ "vm..a", 0 },
		{ ".vm", 0 },
		{ "vm.", 0 },
		{ "vm_1", 0 },
		{ "vm 1", 0 },
		{ "vm/1", 0 },
		{ "vm\xc3\xa9", 0 },
		{ "vm\n", 0 },
	};
	char label63[80], label64[80], long65[80];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		print_message("[%s] -> %d\n", cases[i].s, netcfg_hostname_valid(cases[i].s));
		assert_int_equal(netcfg_hostname_valid(cases[i].s), cases[i].ok);
	}
	memset(label63, 'a', 63);
	label63[63] = '\0';
	assert_true(netcfg_hostname_valid(label63));
	memset(label64, 'a', 64);
	label64[64] = '\0';
	assert_false(netcfg_hostname_valid(label64)); /* a label is at most 63 */
	memset(long65, 'a', 65);
	for (int i = 10; i < 65; i += 10)
		long65[i] = '.';
	long65[65] = '\0';
	assert_false(netcfg_hostname_valid(long65)); /* over HOST_NAME_MAX */
	long65[64] = '\0';
	assert_true(netcfg_hostname_valid(long65));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_netcfg_parse_ipv4),
		cmocka_unit_test(test_netcfg_parse_addr),
		cmocka_unit_test(test_netcfg_parse_gw),
		cmocka_unit_test(test_netcfg_parse_dns),
		cmocka_unit_test(test_netcfg_resolv_conf),
		cmocka_unit_test(test_netcfg_hostname_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
