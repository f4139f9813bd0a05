/* virtio-net device (virtio id 1) on a host TAP; see docs/net.md. */
#ifndef TORPOR_NET_H
#define TORPOR_NET_H

struct vm;
struct net;
struct net_config;

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

#endif
