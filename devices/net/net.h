/* virtio-net device (virtio id 1) on a host TAP; see docs/net.md. */
#ifndef TORPOR_NET_H
#define TORPOR_NET_H

#include <stddef.h>

struct vm;
struct net;
struct net_config;
struct snap_buf;

/*
 * Open (or create) the TAP cfg names, set its address and link up, and put a
 * virtio-net device for it on vm's virtio-mmio transport: RX queue 0, TX
 * queue 1, cfg's MAC (or a random locally administered one), checksum and
 * TSO offload when the TAP takes them. After arch_vm_finalize(), before the
 * device tree is built. Returns 0 or -errno after one error line.
 */
int net_init(struct vm *vm, const struct net_config *cfg, struct net **out);
/* Stop the device and close the TAP (one torpor created goes away). NULL is a no-op. */
void net_exit(struct net *n);

/* Snapshot state (net_persist.c; bytes in docs/snapshot-format.md, section net). */
#define NET_SNAP_VERSION 1

/*
 * Append the payload: the guest's MAC and the virtio transport. A receive
 * buffer held for the next packet and a packet the TAP has not taken yet
 * are given back to their queues in the saved state (popped again after a
 * restore; nothing is lost or sent twice). No TAP state is saved. 0 or
 * -ENOMEM.
 */
int net_save(struct net *n, struct snap_buf *out);
/*
 * Restore a payload of net_save() into n, fresh from net_init() on the
 * config's TAP, over RAM that holds the snapshot's memory, before any vCPU
 * runs; the whole payload is checked first. The MAC: when the config names
 * one (mac=), config space shows it, but the guest's driver keeps the MAC
 * it read at probe until it probes again (a warning says so when they
 * differ); otherwise the snapshot's MAC replaces the random one net_init()
 * made. Returns 0, or -EINVAL with one line in err ("net: ...").
 */
int net_restore(struct net *n, const void *data, size_t len, char *err, size_t errlen);

#endif
