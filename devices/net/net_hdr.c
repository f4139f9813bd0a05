/* virtio-net packets: feature sets, TAP offloads, checks of chains and headers (pure). */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "devices/net/net_hdr.h"

#define BIT(n) (1ull << (n))

static int __attribute__((format(printf, 3, 4))) bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

uint64_t net_features(bool offload)
{
	uint64_t f = BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS);

	if (offload)
		f |= BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_CSUM) |
		     BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6) |
		     BIT(VIRTIO_NET_F_HOST_ECN) | BIT(VIRTIO_NET_F_GUEST_TSO4) |
		     BIT(VIRTIO_NET_F_GUEST_TSO6) | BIT(VIRTIO_NET_F_GUEST_ECN);
	return f;
}

unsigned int net_tun_offloads(uint64_t f)
{
	unsigned int t;

	if (!(f & BIT(VIRTIO_NET_F_GUEST_CSUM)))
		return 0;
	t = TUN_F_CSUM;
	if (f & BIT(VIRTIO_NET_F_GUEST_TSO4))
		t |= TUN_F_TSO4;
	if (f & BIT(VIRTIO_NET_F_GUEST_TSO6))
		t |= TUN_F_TSO6;
	if ((t & (TUN_F_TSO4 | TUN_F_TSO6)) && (f & BIT(VIRTIO_NET_F_GUEST_ECN)))
		t |= TUN_F_TSO_ECN;
	return t;
}

int net_rx_check(const struct virtq_chain *c, char *err, size_t errlen)
{
	if (c->nr_out)
		return bad(err, errlen, "receive buffer has %u device-readable descriptors",
			   c->nr_out);
	if (c->in_len < NET_HDR_LEN)
		return bad(err, errlen,
			   "receive buffer of %llu bytes cannot hold the %u-byte header",
			   (unsigned long long)c->in_len, NET_HDR_LEN);
	return 0;
}

/* May a packet with this gso_type go to (tso4, tso6, ecn: what the receiver accepted)? */
static bool gso_ok(uint8_t gso_type, bool tso4, bool tso6, bool ecn)
{
	if ((gso_type & VIRTIO_NET_HDR_GSO_ECN) && !ecn)
		return false;
	switch (gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return !(gso_type & VIRTIO_NET_HDR_GSO_ECN);
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return tso4;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return tso6;
	default:
		return false;
	}
}

bool net_rx_fix_hdr(struct virtio_net_hdr_v1 *h, uint64_t f)
{
	h->num_buffers = htole16(1);
	if (!(f & BIT(VIRTIO_NET_F_GUEST_CSUM))) {
		if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
			return false;
		h->flags &= (uint8_t)~VIRTIO_NET_HDR_F_DATA_VALID;
	}
	return gso_ok(h->gso_type, f & BIT(VIRTIO_NET_F_GUEST_TSO4),
		      f & BIT(VIRTIO_NET_F_GUEST_TSO6), f & BIT(VIRTIO_NET_F_GUEST_ECN));
}

int net_tx_parse(const struct virtq_chain *c, uint64_t f, struct virtio_net_hdr_v1 *h,
		 struct iovec *frame, unsigned int max, char *err, size_t errlen)
{
	uint64_t len;
	int n;

	if (c->nr_in)
		return bad(err, errlen, "transmit buffer has %u device-writable descriptors",
			   c->nr_in);
	if (c->out_len < NET_HDR_LEN)
		return bad(err, errlen,
			   "transmit buffer of %llu bytes is shorter than the %u-byte "
			   "header",
			   (unsigned long long)c->out_len, NET_HDR_LEN);
	iov_to_buf(c->iov, c->nr_out, 0, h, NET_HDR_LEN);
	len = c->out_len - NET_HDR_LEN;
	if (!len || len > NET_MAX_FRAME)
		return -EMSGSIZE;
	if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return -EPROTO;
	if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !(f & BIT(VIRTIO_NET_F_CSUM)))
		return -EPROTO;
	if (!gso_ok(h->gso_type, f & BIT(VIRTIO_NET_F_HOST_TSO4), f & BIT(VIRTIO_NET_F_HOST_TSO6),
		    f & BIT(VIRTIO_NET_F_HOST_ECN)))
		return -EPROTO;
	n = iov_slice(c->iov, c->nr_out, NET_HDR_LEN, (size_t)len, frame, max);
	return n < 0 ? -EMSGSIZE : n;
}
