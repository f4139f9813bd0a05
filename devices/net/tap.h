/* The host side of virtio-net: a TAP interface (/dev/net/tun) and its setup through libnl. */
#ifndef TORPOR_TAP_H
#define TORPOR_TAP_H

#include <stdbool.h>

struct net_config;

struct tap {
	int fd;	       /* non-blocking; -1 when closed */
	char name[16]; /* IFNAMSIZ */
	int ifindex;
	bool created; /* it did not exist before: it goes away with fd */
	bool offload; /* TUNSETOFFLOAD accepts NET_TUN_OFFLOADS */
};

/*
 * Open the TAP cfg names, creating it when it does not exist, with a 12-byte
 * little-endian virtio-net header on every packet; find out whether it takes
 * checksum and TSO offload (left off until tap_set_offloads()). Then put
 * cfg's host_ip on it (if any) and bring it up (tap_nl.c). Returns 0 or
 * -errno after one error line.
 */
int tap_open(struct tap *t, const struct net_config *cfg);
/* TUNSETOFFLOAD: what the TAP may hand us (TUN_F_* flags). 0 or -errno. */
int tap_set_offloads(struct tap *t, unsigned int tun_flags);
/* Close the fd (a TAP we created goes away with it). */
void tap_close(struct tap *t);

/* tap_nl.c: add the address (if asked) and set the link up, through rtnetlink. 0 or -errno. */
int tap_nl_setup(const struct tap *t, const struct net_config *cfg);

#endif
