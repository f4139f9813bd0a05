/* torpor.ip/gw/dns/hostname: pure parsing and checks, then applying them (rtnl.c, sethostname). */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "netcfg.h"
#include "rtnl.h"

static uint32_t ip_u32(const uint8_t ip[4])
{
	return (uint32_t)ip[0] << 24 | (uint32_t)ip[1] << 16 | (uint32_t)ip[2] << 8 | ip[3];
}

static uint32_t prefix_mask(unsigned prefix)
{
	return prefix ? ~(uint32_t)0 << (32 - prefix) : 0;
}

/* A decimal number 0..max without sign or leading zeros from *s; advances *s. -EINVAL if none. */
static int parse_dec(const char **s, unsigned max, unsigned *out)
{
	const char *p = *s;
	unsigned v = 0;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	if (*p == '0' && p[1] >= '0' && p[1] <= '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned)(*p - '0');
		if (v > max)
			return -EINVAL;
	}
	*s = p;
	*out = v;
	return 0;
}

/* A dotted quad at *s, advancing past it; what follows is the caller's business. */
static int parse_quad(const char **s, uint8_t ip[4])
{
	for (int i = 0; i < 4; i++) {
		unsigned v;

		if (i && *(*s)++ != '.')
			return -EINVAL;
		if (parse_dec(s, 255, &v) < 0)
			return -EINVAL;
		ip[i] = (uint8_t)v;
	}
	return 0;
}

int netcfg_parse_ipv4(const char *s, uint8_t ip[4])
{
	if (parse_quad(&s, ip) < 0 || *s)
		return -EINVAL;
	return 0;
}

int netcfg_parse_addr(const char *s, struct netcfg_addr *a, const char **why)
{
	uint32_t v, host;

	*why = "not an IPv4 address A.B.C.D/N";
	if (parse_quad(&s, a->ip) < 0)
		return -EINVAL;
	if (*s != '/') {
		*why = *s ? "not an IPv4 address A.B.C.D/N" : "no /prefix length (e.g. /24)";
		return -EINVAL;
	}
	s++;
	*why = "the prefix length is not a number from 1 to 32";
	if (parse_dec(&s, 32, &a->prefix) < 0 || *s || a->prefix == 0)
		return -EINVAL;
	v = ip_u32(a->ip);
	host = v & ~prefix_mask(a->prefix);
	*why = "not a host address (0.0.0.0, loopback, multicast or reserved)";
	if (v == 0 || a->ip[0] == 127 || a->ip[0] >= 224)
		return -EINVAL;
	*why = "the subnet's network or broadcast address, not a host's";
	if (a->prefix <= 30 && (host == 0 || host == ~prefix_mask(a->prefix)))
		return -EINVAL;
	return 0;
}

int netcfg_parse_gw(const char *s, const struct netcfg_addr *a, uint8_t gw[4], const char **why)
{
	uint32_t mask = prefix_mask(a->prefix), g, host;

	*why = "not an IPv4 address A.B.C.D";
	if (netcfg_parse_ipv4(s, gw) < 0)
		return -EINVAL;
	g = ip_u32(gw);
	host = g & ~mask;
	*why = "not inside the subnet of torpor.ip";
	if ((g & mask) != (ip_u32(a->ip) & mask))
		return -EINVAL;
	*why = "the same as torpor.ip";
	if (g == ip_u32(a->ip))
		return -EINVAL;
	*why = "the subnet's network or broadcast address";
	if (a->prefix <= 30 && (host == 0 || host == ~mask))
		return -EINVAL;
	return 0;
}

int netcfg_parse_dns(const char *s, uint8_t dns[][4], unsigned *n, const char **why)
{
	*n = 0;
	for (;;) {
		*why = "more than 3 servers";
		if (*n == NETCFG_DNS_MAX)
			return -EINVAL;
		*why = "not a comma-separated list of IPv4 addresses";
		if (parse_quad(&s, dns[*n]) < 0)
			return -EINVAL;
		(*n)++;
		if (!*s)
			return 0;
		if (*s++ != ',')
			return -EINVAL;
	}
}

int netcfg_resolv_conf(const uint8_t dns[][4], unsigned n, char *buf, size_t size)
{
	size_t len;
	int w;

	w = snprintf(buf, size, "# written by torpor-init from torpor.dns\n");
	if (w < 0 || (size_t)w >= size)
		goto nospace;
	len = (size_t)w;
	for (unsigned i = 0; i < n; i++) {
		w = snprintf(buf + len, size - len, "nameserver %u.%u.%u.%u\n", dns[i][0], dns[i][1],
			     dns[i][2], dns[i][3]);
		if (w < 0 || (size_t)w >= size - len)
			goto nospace;
		len += (size_t)w;
	}
	return (int)len;
nospace:
	if (size)
		buf[0] = '\0';
	return -ENOSPC;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool netcfg_hostname_valid(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > NETCFG_HOSTNAME_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = s[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!is_alnum(c) && c != '-')
			return false;
		if (c == '-' && label == 0)
			return false;
		label++;
	}
	return true;
}

/* --- Applying (I/O) --------------------------------------------------------- */

static void set_hostname(const char *name)
{
	if (!*name) {
		name = NETCFG_DEFAULT_HOSTNAME;
	} else if (!netcfg_hostname_valid(name)) {
		pr_warn("torpor.hostname=%.80s: not a valid host name (letters, digits, '-' and "
			"'.', at most %d bytes); using \"%s\"",
			name, NETCFG_HOSTNAME_MAX, NETCFG_DEFAULT_HOSTNAME);
		name = NETCFG_DEFAULT_HOSTNAME;
	}
	if (sethostname(name, strlen(name)) < 0)
		pr_warn("sethostname %s: %s", name, strerror(errno));
}

static void lo_up(int fd)
{
	static const uint8_t lo_ip[4] = { 127, 0, 0, 1 };
	int idx = (int)if_nametoindex("lo"), rc;

	if (idx == 0) {
		pr_warn("lo: %s", strerror(errno));
		return;
	}
	rc = rtnl_addr_add(fd, idx, lo_ip, 8);
	if (rc < 0 && rc != -EEXIST)
		pr_warn("lo: add 127.0.0.1/8: %s", strerror(-rc));
	rc = rtnl_link_up(fd, idx);
	if (rc < 0)
		pr_warn("lo: up: %s", strerror(-rc));
}

static void eth_up(int fd, const char *ip, const char *gw)
{
	struct netcfg_addr a;
	const char *why;
	uint8_t gw_ip[4];
	int idx, rc;

	if (netcfg_parse_addr(ip, &a, &why) < 0) {
		pr_warn("torpor.ip=%.40s: %s; %s not configured", ip, why, NETCFG_IFNAME);
		return;
	}
	idx = (int)if_nametoindex(NETCFG_IFNAME);
	if (idx == 0) {
		pr_warn("torpor.ip: %s: %s (no network device; start the VM with --net)",
			NETCFG_IFNAME, strerror(errno));
		return;
	}
	rc = rtnl_addr_add(fd, idx, a.ip, a.prefix);
	if (rc < 0 && rc != -EEXIST) {
		pr_warn("%s: add %s: %s", NETCFG_IFNAME, ip, strerror(-rc));
		return;
	}
	rc = rtnl_link_up(fd, idx);
	if (rc < 0) {
		pr_warn("%s: up: %s", NETCFG_IFNAME, strerror(-rc));
		return;
	}
	if (!*gw)
		return;
	if (netcfg_parse_gw(gw, &a, gw_ip, &why) < 0) {
		pr_warn("torpor.gw=%.40s: %s; no default route", gw, why);
		return;
	}
	rc = rtnl_route_add_default(fd, idx, gw_ip);
	if (rc < 0 && rc != -EEXIST)
		pr_warn("%s: default route via %s: %s", NETCFG_IFNAME, gw, strerror(-rc));
}

/* Write /etc/resolv.conf through a temporary file and rename, so readers never see half of it. */
static void write_resolv_conf(const char *dns)
{
	static const char tmp[] = NETCFG_RESOLV_CONF ".torpor-tmp";
	uint8_t servers[NETCFG_DNS_MAX][4];
	char text[256];
	const char *why;
	unsigned n;
	int len, fd, rc = 0;

	if (netcfg_parse_dns(dns, servers, &n, &why) < 0) {
		pr_warn("torpor.dns=%.80s: %s; %s not written", dns, why, NETCFG_RESOLV_CONF);
		return;
	}
	len = netcfg_resolv_conf(servers, n, text, sizeof(text));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		pr_warn("%s: %s (is the root read-only?)", NETCFG_RESOLV_CONF, strerror(errno));
		return;
	}
	errno = 0;
	if (len < 0)
		rc = len;
	else if (write(fd, text, (size_t)len) != (ssize_t)len)
		rc = errno ? -errno : -EIO;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, NETCFG_RESOLV_CONF) < 0)
		rc = -errno;
	if (rc) {
		pr_warn("%s: %s", NETCFG_RESOLV_CONF, strerror(-rc));
		unlink(tmp);
	}
}

void netcfg_apply(const char *hostname, const char *ip, const char *gw, const char *dns)
{
	int fd;

	set_hostname(hostname);
	fd = rtnl_open();
	if (fd < 0) {
		pr_warn("rtnetlink: %s; lo and %s not configured", strerror(-fd), NETCFG_IFNAME);
	} else {
		lo_up(fd);
		if (*ip)
			eth_up(fd, ip, gw);
		else if (*gw)
			pr_warn("torpor.gw without torpor.ip; ignored");
		close(fd);
	}
	if (*dns)
		write_resolv_conf(dns);
}
