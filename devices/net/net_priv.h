/* virtio-net internals shared by net.c (the device) and net_persist.c (its snapshot state). */
#ifndef TORPOR_NET_PRIV_H
#define TORPOR_NET_PRIV_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/net/tap.h"
#include "devices/virtio/virtio.h"

#define NET_QUEUE_MAX 256
#define NET_VQ_RX     0
#define NET_VQ_TX     1
/* Packets one pass of a queue handles before the I/O thread looks at other work. */
#define NET_BUDGET 256
/* RX packets between two interrupts while the TAP keeps delivering. */
#define NET_RX_BATCH 64

struct net {
	struct virtio_dev vdev;
	struct tap tap;
	struct virtio_net_config config;
	bool mac_from_config; /* config.mac was given by the config, not made up */
	bool watched;	      /* tap.fd is on the I/O loop */
	uint32_t events;      /* what the loop watches it for */
	bool tap_gone;	      /* the TAP hung up (deleted): no more TAP I/O */
	bool rx_no_bufs;      /* the RX queue ran dry: wait for a kick, not for the TAP */
	bool rx_have;	      /* rx holds a popped chain waiting for a packet */
	bool tx_blocked;      /* tx holds a packet the TAP could not take yet */
	struct virtq_chain rx, tx;
	struct iovec rx_iov[NET_QUEUE_MAX + 1], tx_iov[NET_QUEUE_MAX]; /* rx: + the spill */
	uint8_t rx_spill; /* a byte past the guest's buffer: a frame too big reaches it */
	struct virtio_net_hdr_v1 tx_hdr;	  /* the checked copy of tx's header */
	struct iovec tx_frame[NET_QUEUE_MAX + 1]; /* tx_hdr, then the frame */
	unsigned int tx_nframe;
	uint64_t rx_packets, rx_dropped, tx_packets, tx_dropped;
};

#endif
