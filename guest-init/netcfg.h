/*
 * The guest's network identity from the kernel command line: parsing and
 * checking torpor.ip, torpor.gw, torpor.dns and torpor.hostname (pure), and
 * applying them (lo, eth0, default route, /etc/resolv.conf, hostname).
 */
#ifndef TORPOR_GUEST_INIT_NETCFG_H
#define TORPOR_GUEST_INIT_NETCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NETCFG_IFNAME "eth0"      /* the interface torpor.ip configures */
#define NETCFG_DNS_MAX 3          /* name servers in resolv.conf (the resolver's MAXNS) */
#define NETCFG_HOSTNAME_MAX 64    /* bytes, as the kernel's HOST_NAME_MAX */
#define NETCFG_DEFAULT_HOSTNAME "torpor"
#define NETCFG_RESOLV_CONF "/etc/resolv.conf"

/* An IPv4 interface address with its prefix length. Bytes in network order. */
struct netcfg_addr {
	uint8_t ip[4];
	unsigned prefix; /* 1 .. 32 */
};

/*
 * Parse a dotted quad "A.B.C.D": four decimal numbers 0..255, no sign, no
 * leading zeros (so "010" cannot mean octal 8), nothing before or after.
 * Returns 0 or -EINVAL.
 */
int netcfg_parse_ipv4(const char *s, uint8_t ip[4]);

/*
 * Parse torpor.ip, "A.B.C.D/N" (N 1..32), as a host address: not 0.0.0.0,
 * loopback (127/8), multicast or reserved (224/3), and for N <= 30 neither
 * the subnet's network nor its broadcast address. Returns 0, or -EINVAL
 * with *why set to a short reason ("no /prefix length", ...).
 */
int netcfg_parse_addr(const char *s, struct netcfg_addr *a, const char **why);

/*
 * Parse torpor.gw, "A.B.C.D", as the default gateway for address a: inside
 * a's subnet, not a itself, not the subnet's network or broadcast address.
 * Returns 0, or -EINVAL with *why set.
 */
int netcfg_parse_gw(const char *s, const struct netcfg_addr *a, uint8_t gw[4], const char **why);

/*
 * Parse torpor.dns, 1 to NETCFG_DNS_MAX dotted quads separated by commas,
 * into dns[] (*n of them). Returns 0, or -EINVAL with *why set.
 */
int netcfg_parse_dns(const char *s, uint8_t dns[][4], unsigned *n, const char **why);

/*
 * Write /etc/resolv.conf's text for n servers into buf ("nameserver A.B.C.D\n"
 * each, after a comment line). Returns the length, or -ENOSPC if it does not
 * fit (buf is then an empty string).
 */
int netcfg_resolv_conf(const uint8_t dns[][4], unsigned n, char *buf, size_t size);

/*
 * True if s is a host name to give sethostname(): 1 to NETCFG_HOSTNAME_MAX
 * bytes, dot-separated labels of letters, digits and '-', each 1 to 63 bytes,
 * not starting or ending with '-' (RFC 1123).
 */
bool netcfg_hostname_valid(const char *s);

/*
 * Apply the command line's values (each "" when not given): set the host
 * name (torpor.hostname, else NETCFG_DEFAULT_HOSTNAME); bring lo up with
 * 127.0.0.1/8; with ip, put it on eth0, bring eth0 up and, with gw, add the
 * default route; with dns, write /etc/resolv.conf. Each step that fails
 * prints one warning line and the others go on. Needs CAP_NET_ADMIN (PID 1).
 */
void netcfg_apply(const char *hostname, const char *ip, const char *gw, const char *dns);

#endif
