/* virtio-vsock wire format: the packet header, and reading/writing it in guest buffers. */
#ifndef TORPOR_VSOCK_PACKET_H
#define TORPOR_VSOCK_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Virtqueues, in the order the spec numbers them. */
enum { VSOCK_VQ_RX = 0, VSOCK_VQ_TX = 1, VSOCK_VQ_EVENT = 2, VSOCK_NR_VQS = 3 };

#define VSOCK_CID_HOST	 2ull
#define VSOCK_HDR_SIZE	 44u	     /* struct virtio_vsock_hdr, packed */
#define VSOCK_MAX_PKT	 (64u << 10) /* payload cap of one packet, either way */
#define VSOCK_EVENT_SIZE 4u	     /* struct virtio_vsock_event */

enum vsock_type { VSOCK_TYPE_STREAM = 1, VSOCK_TYPE_SEQPACKET = 2 };

enum vsock_op {
	VSOCK_OP_INVALID = 0,
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};

/* SHUTDOWN flags: the sender will receive (RCV) / send (SEND) no more. */
#define VSOCK_SHUTDOWN_RCV  1u
#define VSOCK_SHUTDOWN_SEND 2u
#define VSOCK_SHUTDOWN_MASK 3u

#define VSOCK_EVENT_TRANSPORT_RESET 0u

/* The header in host byte order (on the wire: packed little-endian). */
struct vsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port;
	uint32_t len;
	uint16_t type, op;
	uint32_t flags;
	uint32_t buf_alloc, fwd_cnt;
};

/* Why a packet from the guest was refused (VSOCK_PKT_OK = 0 when accepted). */
enum vsock_pkt_err {
	VSOCK_PKT_OK = 0,
	VSOCK_PKT_SHORT,     /* chain shorter than a header: dropped */
	VSOCK_PKT_SRC_CID,   /* src_cid is not the guest's: dropped, never answered */
	VSOCK_PKT_DST_CID,   /* dst_cid is not the host */
	VSOCK_PKT_TYPE,	     /* not STREAM */
	VSOCK_PKT_OP,	     /* unknown op */
	VSOCK_PKT_TOO_LONG,  /* len over VSOCK_MAX_PKT */
	VSOCK_PKT_TRUNCATED, /* len larger than the chain holds */
	VSOCK_PKT_PAYLOAD,   /* a control op with payload */
	VSOCK_PKT__COUNT,
};

/* Total bytes in iov[0..n). */
size_t vsock_iov_len(const struct iovec *iov, int n);
/* Copy len bytes at offset off of the iov out to buf / in from buf; returns the bytes copied. */
size_t vsock_iov_read(const struct iovec *iov, int n, size_t off, void *buf, size_t len);
size_t vsock_iov_write(const struct iovec *iov, int n, size_t off, const void *buf, size_t len);
/*
 * Describe bytes [off, off+len) of iov as at most max segments in out.
 * Returns the number of segments; *got receives the bytes they cover
 * (less than len when the iov ends or max segments are not enough).
 */
int vsock_iov_slice(const struct iovec *iov, int n, size_t off, size_t len, struct iovec *out,
		    int max, size_t *got);

void vsock_hdr_decode(const uint8_t raw[VSOCK_HDR_SIZE], struct vsock_hdr *h);
void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t raw[VSOCK_HDR_SIZE]);

/*
 * Read and check the header of one packet the guest queued on tx (the
 * readable part of its chain, iov[0..n)). Fills *h as far as the chain holds
 * one. Returns VSOCK_PKT_OK or the reason to refuse it; the payload is
 * h->len bytes right after the header.
 */
enum vsock_pkt_err vsock_pkt_parse(const struct iovec *iov, int n, uint64_t guest_cid,
				   struct vsock_hdr *h);
/* Whether a refused packet is answered with RST (the header is sane enough to address one). */
bool vsock_pkt_err_wants_rst(enum vsock_pkt_err err, const struct vsock_hdr *h);
const char *vsock_pkt_strerror(enum vsock_pkt_err err);
const char *vsock_op_name(uint16_t op);

#endif
