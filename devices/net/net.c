/* virtio-net on a TAP: config space, features, the RX and TX queues, the TAP on the I/O loop. */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "devices/net/net.h"
#include "devices/net/net_hdr.h"
#include "devices/net/net_priv.h"
#include "devices/net/tap.h"
#include "devices/virtio/virtio.h"
#include "evloop.h"
#include "log.h"
#include "vm.h"

static struct net *net_of(struct virtio_dev *d)
{
	return (struct net *)((char *)d - offsetof(struct net, vdev));
}

/* I/O thread only: watch the TAP for what the device can use now. */
static void set_watch(struct net *n)
{
	uint32_t want = 0;

	if (!n->watched)
		return;
	if (virtio_dev_running(&n->vdev)) {
		if (!n->rx_no_bufs)
			want |= EPOLLIN;
		if (n->tx_blocked)
			want |= EPOLLOUT;
	}
	if (want != n->events && evloop_mod(n->vdev.vm->el, n->tap.fd, want) == 0)
		n->events = want;
}

/* The TAP reported an error or hang-up (its interface was deleted): stop using it. */
static void tap_lost(struct net *n)
{
	pr_warn("%s: TAP %s hung up (was it deleted?); the guest's network is down", n->vdev.label,
		n->tap.name);
	evloop_del(n->vdev.vm->el, n->tap.fd);
	n->watched = false;
	n->tap_gone = true;
}

/* A packet the TAP wrote into n->rx (r bytes): fix its header and give it to the guest. */
static bool rx_deliver(struct net *n, size_t r)
{
	struct virtq_chain *c = &n->rx;
	struct virtio_net_hdr_v1 h;

	if (r < NET_HDR_LEN || r > c->in_len) { /* it reached the spill byte */
		pr_debug("%s: dropped a received frame: too big for a %llu-byte buffer",
			 n->vdev.label, (unsigned long long)c->in_len);
		return false;
	}
	iov_to_buf(c->iov, c->nr_in, 0, &h, NET_HDR_LEN);
	if (!net_rx_fix_hdr(&h, n->vdev.guest_features)) {
		pr_debug("%s: dropped a received frame needing an offload the driver did not "
			 "accept (flags 0x%x, gso 0x%x)",
			 n->vdev.label, h.flags, h.gso_type);
		return false;
	}
	iov_from_buf(c->iov, c->nr_in, 0, &h, NET_HDR_LEN);
	virtio_queue_push(&n->vdev, NET_VQ_RX, c->head, (uint32_t)r);
	return true;
}

/* Move packets from the TAP into the guest's receive buffers. */
static void rx_service(struct net *n)
{
	struct virtio_dev *d = &n->vdev;
	unsigned int done = 0, unsignalled = 0;
	char err[200];

	while (!n->tap_gone && done < NET_BUDGET) {
		ssize_t r;

		if (!n->rx_have) {
			if (!virtio_queue_pop(d, NET_VQ_RX, &n->rx)) {
				if (virtio_queue_enable_notify(d, NET_VQ_RX))
					continue;
				n->rx_no_bufs = true;
				break;
			}
			if (net_rx_check(&n->rx, err, sizeof(err)) < 0) {
				virtio_dev_fail(d, "queue %u: %s", NET_VQ_RX, err);
				break;
			}
			n->rx_have = true;
		}
		/*
		 * A read returns at most the room it was given, whatever the
		 * frame's size: one byte more than the guest's buffer tells a
		 * frame that did not fit (it is dropped) from one that did.
		 */
		n->rx.iov[n->rx.nr_in] = (struct iovec){.iov_base = &n->rx_spill, .iov_len = 1};
		r = readv(n->tap.fd, n->rx.iov, (int)n->rx.nr_in + 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				pr_debug("%s: TAP read: %s", d->label, strerror(errno));
			break;
		}
		done++;
		if (!rx_deliver(n, (size_t)r)) {
			n->rx_dropped++; /* the chain stays for the next packet */
			continue;
		}
		n->rx_have = false;
		n->rx_packets++;
		if (++unsignalled == NET_RX_BATCH) {
			virtio_queue_notify_guest(d, NET_VQ_RX);
			unsignalled = 0;
		}
	}
	if (unsignalled)
		virtio_queue_notify_guest(d, NET_VQ_RX);
}

/* Write the prepared tx packet. false: the TAP cannot take it yet; else the chain is used. */
static bool tx_send(struct net *n)
{
	ssize_t w = -1;

	if (!n->tap_gone) {
		do
			w = writev(n->tap.fd, n->tx_frame, (int)n->tx_nframe);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno == EAGAIN)
			return false;
		if (w < 0)
			pr_debug("%s: TAP write: %s; packet dropped", n->vdev.label,
				 strerror(errno));
	}
	if (w < 0)
		n->tx_dropped++;
	else
		n->tx_packets++;
	n->tx_blocked = false;
	virtio_queue_push(&n->vdev, NET_VQ_TX, n->tx.head, 0);
	return true;
}

/* Take the guest's packets to the TAP. */
static void tx_service(struct net *n)
{
	struct virtio_dev *d = &n->vdev;
	unsigned int done = 0;
	bool pushed = false;
	char err[200];

	if (n->tx_blocked) {
		if (!tx_send(n))
			return;
		pushed = true;
	}
	do {
		while (done < NET_BUDGET && virtio_queue_pop(d, NET_VQ_TX, &n->tx)) {
			int k = net_tx_parse(&n->tx, d->guest_features, &n->tx_hdr, n->tx_frame + 1,
					     NET_QUEUE_MAX, err, sizeof(err));

			done++;
			if (k == -EINVAL) {
				virtio_dev_fail(d, "queue %u: %s", NET_VQ_TX, err);
				goto out;
			}
			if (k < 0) {
				pr_debug("%s: dropped a packet %s", d->label,
					 k == -EMSGSIZE ? "that is empty or too long"
							: "asking for an offload not negotiated");
				n->tx_dropped++;
				virtio_queue_push(d, NET_VQ_TX, n->tx.head, 0);
				pushed = true;
				continue;
			}
			n->tx_frame[0] =
			    (struct iovec){.iov_base = &n->tx_hdr, .iov_len = NET_HDR_LEN};
			n->tx_nframe = (unsigned int)k + 1;
			if (!tx_send(n)) {
				n->tx_blocked = true; /* resumed on EPOLLOUT */
				goto out;
			}
			pushed = true;
		}
		if (done == NET_BUDGET) {
			/* More may wait: come back after the other work of the I/O thread. */
			if (eventfd_write(d->queues[NET_VQ_TX].kick_fd, 1) < 0)
				pr_warn("%s: re-kicking the TX queue: %s", d->label,
					strerror(errno));
			break;
		}
	} while (virtio_queue_enable_notify(d, NET_VQ_TX));
out:
	if (pushed)
		virtio_queue_notify_guest(d, NET_VQ_TX);
}

/* I/O thread: the TAP is readable, writable, or gone. */
static void on_tap(void *opaque, uint32_t events)
{
	struct net *n = opaque;

	pthread_mutex_lock(&n->vdev.lock);
	if (events & (EPOLLERR | EPOLLHUP)) {
		tap_lost(n);
	} else if (virtio_dev_running(&n->vdev)) {
		if ((events & EPOLLOUT) && n->tx_blocked)
			tx_service(n);
		if (events & EPOLLIN)
			rx_service(n);
	}
	set_watch(n);
	pthread_mutex_unlock(&n->vdev.lock);
}

static void net_notify(struct virtio_dev *d, unsigned int q)
{
	struct net *n = net_of(d);

	if (q == NET_VQ_TX) {
		tx_service(n);
	} else if (q == NET_VQ_RX) {
		n->rx_no_bufs = false;
		rx_service(n);
	}
	set_watch(n);
}

/* DRIVER_OK: let the TAP hand over what the driver accepted. */
static int net_activate(struct virtio_dev *d)
{
	struct net *n = net_of(d);
	int rc;

	n->rx_have = n->tx_blocked = n->rx_no_bufs = false;
	if (n->tap.offload) {
		rc = tap_set_offloads(&n->tap, net_tun_offloads(d->guest_features));
		if (rc < 0)
			return rc;
	}
	pr_debug("%s: running: features 0x%llx, TAP offloads 0x%x", d->label,
		 (unsigned long long)d->guest_features,
		 n->tap.offload ? net_tun_offloads(d->guest_features) : 0);
	return 0;
}

/* Reset: held chains are forgotten; the next driver starts without offloads. */
static void net_reset(struct virtio_dev *d)
{
	struct net *n = net_of(d);

	n->rx_have = n->tx_blocked = n->rx_no_bufs = false;
	if (n->tap.offload && n->tap.fd >= 0)
		tap_set_offloads(&n->tap, 0);
}

static void net_config_read(struct virtio_dev *d, uint32_t off, void *data, unsigned int len)
{
	memcpy(data, (const uint8_t *)&net_of(d)->config + off, len);
}

static void net_config_write(struct virtio_dev *d, uint32_t off, const void *data, unsigned int len)
{
	pr_debug("%s: write to read-only config at %u ignored", d->label, off);
}

static const struct virtio_dev_ops net_ops = {
    .name = "net",
    .device_id = VIRTIO_ID_NET,
    .nr_queues = 2,
    .queue_max = NET_QUEUE_MAX,
    /* mac, status, max_virtqueue_pairs: what MAC and STATUS need. */
    .config_size = offsetof(struct virtio_net_config, mtu),
    .config_read = net_config_read,
    .config_write = net_config_write,
    .activate = net_activate,
    .reset = net_reset,
    .notify = net_notify,
};

/* A random locally administered unicast MAC. */
static void random_mac(uint8_t mac[6])
{
	if (getrandom(mac, 6, GRND_NONBLOCK) != 6) {
		uint64_t v = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 24);

		memcpy(mac, &v, 6);
	}
	mac[0] = (uint8_t)((mac[0] & 0xfe) | 0x02);
}

int net_init(struct vm *vm, const struct net_config *cfg, struct net **out)
{
	char mac[18];
	struct net *n;
	int rc;

	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->tap.fd = -1;
	n->rx = (struct virtq_chain){.cap = NET_QUEUE_MAX, .iov = n->rx_iov};
	n->tx = (struct virtq_chain){.cap = NET_QUEUE_MAX, .iov = n->tx_iov};
	rc = tap_open(&n->tap, cfg);
	if (rc < 0)
		goto err;
	n->mac_from_config = cfg->has_mac;
	if (cfg->has_mac)
		memcpy(n->config.mac, cfg->mac, 6);
	else
		random_mac(n->config.mac);
	n->config.status = htole16(VIRTIO_NET_S_LINK_UP);
	n->config.max_virtqueue_pairs = htole16(1);
	rc = virtio_mmio_init(&n->vdev, vm, &net_ops, net_features(n->tap.offload));
	if (rc < 0)
		goto err;
	rc = evloop_add(vm->el, n->tap.fd, 0, on_tap, n);
	if (rc < 0) {
		pr_err("%s: watching TAP %s: %s", n->vdev.label, n->tap.name, strerror(-rc));
		goto err;
	}
	n->watched = true;
	config_format_mac(n->config.mac, mac, sizeof(mac));
	pr_debug("%s: TAP %s, MAC %s, checksum/TSO offload %s", n->vdev.label, n->tap.name, mac,
		 n->tap.offload ? "offered" : "not supported by the TAP");
	*out = n;
	return 0;

err:
	net_exit(n);
	return rc;
}

void net_exit(struct net *n)
{
	if (!n)
		return;
	if (n->watched)
		evloop_del(n->vdev.vm->el, n->tap.fd);
	virtio_mmio_exit(&n->vdev); /* resets the device */
	if (n->vdev.label[0])
		pr_debug("%s: rx %llu packets (%llu dropped), tx %llu (%llu dropped)",
			 n->vdev.label, (unsigned long long)n->rx_packets,
			 (unsigned long long)n->rx_dropped, (unsigned long long)n->tx_packets,
			 (unsigned long long)n->tx_dropped);
	tap_close(&n->tap);
	free(n);
}
