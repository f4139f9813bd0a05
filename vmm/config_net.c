/* The net settings of the VM configuration: --net, "net" in JSON, their checks (docs/net.md). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_net.h"

static int __attribute__((format(printf, 3, 4)))
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

void config_net_free(struct net_config *n)
{
	free(n->tap);
	memset(n, 0, sizeof(*n));
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int config_parse_mac(const char *s, uint8_t mac[6])
{
	char sep = 0;

	for (int i = 0; i < 6; i++) {
		int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);

		if (lo < 0)
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
		s += 2;
		if (i == 5)
			break;
		if (*s != ':' && *s != '-')
			return -EINVAL;
		if (sep && *s != sep) /* one separator throughout */
			return -EINVAL;
		sep = *s++;
	}
	return *s ? -EINVAL : 0;
}

void config_format_mac(const uint8_t mac[6], char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

/*
 * An interface name: Linux's rule (dev_valid_name), narrowed to printable
 * ASCII (names go into JSON and messages) without ',' (the --net separator).
 */
static bool ifname_ok(const char *s)
{
	size_t len = strlen(s);

	if (!len || len > CONFIG_NET_IFNAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~' || *s == '/' || *s == ':' || *s == ',')
			return false;
	return true;
}

/* "A.B.C.D/LEN": dotted decimal (inet_pton's strict form) and a prefix 1 .. 32. */
static int parse_ipv4_prefix(const char *s, uint8_t ip[4], unsigned int *prefix)
{
	const char *slash = strchr(s, '/');
	char addr[INET_ADDRSTRLEN];
	unsigned int p = 0;
	const char *q;

	if (!slash || (size_t)(slash - s) >= sizeof(addr) || !slash[1])
		return -EINVAL;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (inet_pton(AF_INET, addr, ip) != 1)
		return -EINVAL;
	for (q = slash + 1; *q; q++) {
		if (*q < '0' || *q > '9' || q - slash > 2)
			return -EINVAL;
		p = p * 10 + (unsigned int)(*q - '0');
	}
	if (p < 1 || p > 32 || (slash[1] == '0'))
		return -EINVAL;
	*prefix = p;
	return 0;
}

static bool mac_ok(const uint8_t mac[6])
{
	static const uint8_t zero[6];

	return !(mac[0] & 1) && memcmp(mac, zero, 6);
}

/* The value checks shared by the flag and the file; what prefixes the message. */
static int check_tap(const char *v, const char *what, char *err, size_t errlen)
{
	if (!ifname_ok(v))
		return errf(err, errlen,
			    "%s: tap name \"%.32s\" is not an interface name (1 to %d printable "
			    "ASCII characters, no '/', ':', ',' or spaces)",
			    what, v, CONFIG_NET_IFNAME_MAX);
	return 0;
}

static int set_mac(struct net_config *n, const char *v, const char *what, char *err, size_t errlen)
{
	if (config_parse_mac(v, n->mac) < 0)
		return errf(err, errlen,
			    "%s: mac \"%.32s\" is not a MAC address like 02:00:00:00:00:01", what,
			    v);
	if (!mac_ok(n->mac))
		return errf(err, errlen, "%s: mac %.32s is %s; the guest needs a unicast address",
			    what, v, n->mac[0] & 1 ? "a multicast address" : "all zeros");
	n->has_mac = true;
	return 0;
}

static int set_host_ip(struct net_config *n, const char *v, const char *what, char *err,
		       size_t errlen)
{
	if (parse_ipv4_prefix(v, n->host_ip, &n->host_prefix) < 0)
		return errf(err, errlen,
			    "%s: host_ip \"%.40s\" is not an IPv4 address with a prefix length "
			    "like 10.0.0.1/24",
			    what, v);
	n->has_host_ip = true;
	return 0;
}

int config_parse_net(const char *spec, struct net_config *n, char *err, size_t errlen)
{
	char *copy = strdup(spec), *item, *save = NULL;
	bool seen_mac = false, seen_ip = false;
	int rc = 0;

	memset(n, 0, sizeof(*n));
	if (!copy)
		return errf(err, errlen, "--net: out of memory");
	for (item = strtok_r(copy, ",", &save); item && !rc; item = strtok_r(NULL, ",", &save)) {
		if (!strncmp(item, "tap=", 4)) {
			if (n->tap)
				rc = errf(err, errlen, "--net: tap given twice");
			else if (!(rc = check_tap(item + 4, "--net", err, errlen)) &&
				 !(n->tap = strdup(item + 4)))
				rc = errf(err, errlen, "--net: out of memory");
		} else if (!strncmp(item, "mac=", 4)) {
			rc = seen_mac ? errf(err, errlen, "--net: mac given twice")
				      : set_mac(n, item + 4, "--net", err, errlen);
			seen_mac = true;
		} else if (!strncmp(item, "host_ip=", 8)) {
			rc = seen_ip ? errf(err, errlen, "--net: host_ip given twice")
				     : set_host_ip(n, item + 8, "--net", err, errlen);
			seen_ip = true;
		} else {
			rc = errf(err, errlen,
				  "--net: unknown option \"%.64s\" (expected tap=NAME, mac=MAC, "
				  "host_ip=ADDR/LEN)",
				  item);
		}
	}
	free(copy);
	if (!rc && !n->tap)
		rc = errf(err, errlen, "--net: no tap=NAME in \"%.64s\"", spec);
	if (rc < 0)
		config_net_free(n);
	return rc;
}

/* One string field of "net" (null allowed unless required). */
static int json_str(json_t *v, bool required, const char **out, const char *what, char *err,
		    size_t errlen)
{
	*out = NULL;
	if (!required && json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return errf(err, errlen, "%s: expected a string%s", what,
			    required ? "" : " or null");
	*out = json_string_value(v);
	return 0;
}

int config_net_from_json(struct net_config *n, json_t *v, const char *what, char *err,
			 size_t errlen)
{
	struct net_config t = {0};
	const char *key, *s;
	char sub[300];
	json_t *x;
	int rc = 0;

	if (json_is_null(v)) {
		config_net_free(n);
		return 0;
	}
	if (!json_is_object(v))
		return errf(err, errlen, "%s: expected an object like {\"tap\": \"tap0\"} or null",
			    what);
	json_object_foreach(v, key, x)
	{
		snprintf(sub, sizeof(sub), "%s.%.32s", what, key);
		if (!strcmp(key, "tap")) {
			rc = json_str(x, true, &s, sub, err, errlen);
			if (!rc)
				rc = check_tap(s, what, err, errlen);
			if (!rc && !(t.tap = strdup(s)))
				rc = errf(err, errlen, "%s: out of memory", sub);
		} else if (!strcmp(key, "mac")) {
			rc = json_str(x, false, &s, sub, err, errlen);
			if (!rc && s)
				rc = set_mac(&t, s, what, err, errlen);
		} else if (!strcmp(key, "host_ip")) {
			rc = json_str(x, false, &s, sub, err, errlen);
			if (!rc && s)
				rc = set_host_ip(&t, s, what, err, errlen);
		} else {
			rc = errf(err, errlen,
				  "%s: unknown field \"%.64s\" (known: tap, mac, host_ip)", what,
				  key);
		}
		if (rc < 0)
			break;
	}
	if (!rc && !t.tap)
		rc = errf(err, errlen, "%s: no \"tap\"", what);
	if (rc < 0) {
		config_net_free(&t);
		return rc;
	}
	config_net_free(n);
	*n = t;
	return 0;
}

json_t *config_net_to_json(const struct net_config *n)
{
	char mac[18], ip[INET_ADDRSTRLEN + 4];

	if (!n->tap)
		return json_null();
	config_format_mac(n->mac, mac, sizeof(mac));
	snprintf(ip, sizeof(ip), "%u.%u.%u.%u/%u", n->host_ip[0], n->host_ip[1], n->host_ip[2],
		 n->host_ip[3], n->host_prefix);
	return json_pack("{s:s, s:o, s:o}", "tap", n->tap, "mac",
			 n->has_mac ? json_string(mac) : json_null(), "host_ip",
			 n->has_host_ip ? json_string(ip) : json_null());
}

int config_net_validate(const struct net_config *n, char *err, size_t errlen)
{
	int rc;

	if (!n->tap) {
		if (n->has_mac || n->has_host_ip)
			return errf(err, errlen, "net: mac or host_ip without a tap");
		return 0;
	}
	if ((rc = check_tap(n->tap, "net", err, errlen)) < 0)
		return rc;
	if (n->has_mac && !mac_ok(n->mac))
		return errf(err, errlen, "net: mac is not a unicast address");
	if (n->has_host_ip && (n->host_prefix < 1 || n->host_prefix > 32))
		return errf(err, errlen, "net: host_ip prefix /%u is not from 1 to 32",
			    n->host_prefix);
	return 0;
}
