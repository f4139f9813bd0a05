/* virtio-net packets: feature sets, TAP offloads, checks of chains and headers; pure (no I/O). */
#ifndef TORPOR_NET_HDR_H
#define TORPOR_NET_HDR_H

#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/virtio/virtq.h"

/* struct virtio_net_hdr_v1: with VERSION_1 every packet starts with it (num_buffers included). */
#define NET_HDR_LEN 12u
/* The longest frame after the header: a 64 KiB TSO packet, its Ethernet and VLAN headers. */
#define NET_MAX_FRAME (65536u + 18u)

/* The offloads a TAP must accept (TUNSETOFFLOAD) for the device to offer its offload features. */
#define NET_TUN_OFFLOADS (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)

/*
 * The device's feature bits: MAC and STATUS always; with offload (the TAP
 * accepts NET_TUN_OFFLOADS) also checksum offload and TSO both ways:
 * CSUM, GUEST_CSUM, HOST_TSO4/6, HOST_ECN, GUEST_TSO4/6, GUEST_ECN.
 */
uint64_t net_features(bool offload);

/*
 * The TUN_F_* flags that let the TAP hand the guest what the driver accepted
 * (guest_features): checksum-pending packets with GUEST_CSUM, TSO packets
 * with GUEST_TSO4/6 (and ECN with GUEST_ECN). 0 when the driver takes
 * neither: the host then finishes checksums and segments itself.
 */
unsigned int net_tun_offloads(uint64_t guest_features);

/*
 * Check a popped RX chain: only device-writable buffers, room for at least
 * the header. 0, or -EINVAL with the reason in err (a malformed chain).
 */
int net_rx_check(const struct virtq_chain *c, char *err, size_t errlen);

/*
 * Make the header the TAP wrote into h fit what the driver accepted
 * (guest_features): num_buffers is 1, DATA_VALID is dropped without
 * GUEST_CSUM. false when the packet needs an offload the driver did not
 * accept (checksum pending, a TSO type): it must be dropped.
 */
bool net_rx_fix_hdr(struct virtio_net_hdr_v1 *h, uint64_t guest_features);

/*
 * Take a popped TX chain apart: the header is copied into *h (the guest
 * cannot change it after the checks), the frame behind it is described by
 * frame[0 .. return value) (max entries). Returns the number of entries, or:
 *   -EINVAL   a malformed chain (a device-writable buffer, shorter than the
 *             header): the device needs a reset; reason in err
 *   -EMSGSIZE the frame is empty or longer than NET_MAX_FRAME: drop it
 *   -EPROTO   the header asks for an offload the driver did not negotiate
 *             (guest_features) or has unknown flags: drop it
 */
int net_tx_parse(const struct virtq_chain *c, uint64_t guest_features, struct virtio_net_hdr_v1 *h,
		 struct iovec *frame, unsigned int max, char *err, size_t errlen);

#endif
