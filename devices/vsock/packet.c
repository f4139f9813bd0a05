/* virtio-vsock wire format: header encoding and the checks on packets from the guest. */
#include <endian.h>
#include <string.h>

#include "packet.h"

size_t vsock_iov_len(const struct iovec *iov, int n)
{
	size_t total = 0;

	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	return total;
}

/* Walk [off, off+len) of iov, copying to or from buf. */
static size_t iov_copy(const struct iovec *iov, int n, size_t off, void *buf, size_t len,
		       bool to_iov)
{
	uint8_t *p = buf;
	size_t done = 0;

	for (int i = 0; i < n && done < len; i++) {
		size_t seg = iov[i].iov_len, chunk;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		chunk = seg - off;
		if (chunk > len - done)
			chunk = len - done;
		if (to_iov)
			memcpy((uint8_t *)iov[i].iov_base + off, p + done, chunk);
		else
			memcpy(p + done, (const uint8_t *)iov[i].iov_base + off, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

size_t vsock_iov_read(const struct iovec *iov, int n, size_t off, void *buf, size_t len)
{
	return iov_copy(iov, n, off, buf, len, false);
}

size_t vsock_iov_write(const struct iovec *iov, int n, size_t off, const void *buf, size_t len)
{
	return iov_copy(iov, n, off, (void *)buf, len, true);
}

int vsock_iov_slice(const struct iovec *iov, int n, size_t off, size_t len, struct iovec *out,
		    int max, size_t *got)
{
	int nout = 0;
	size_t done = 0;

	for (int i = 0; i < n && done < len && nout < max; i++) {
		size_t seg = iov[i].iov_len, chunk;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		chunk = seg - off;
		if (chunk > len - done)
			chunk = len - done;
		out[nout].iov_base = (uint8_t *)iov[i].iov_base + off;
		out[nout].iov_len = chunk;
		nout++;
		done += chunk;
		off = 0;
	}
	*got = done;
	return nout;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint16_t get_le16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static void put_le16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

/* Field offsets in struct virtio_vsock_hdr. */
enum {
	OFF_SRC_CID = 0,
	OFF_DST_CID = 8,
	OFF_SRC_PORT = 16,
	OFF_DST_PORT = 20,
	OFF_LEN = 24,
	OFF_TYPE = 28,
	OFF_OP = 30,
	OFF_FLAGS = 32,
	OFF_BUF_ALLOC = 36,
	OFF_FWD_CNT = 40,
};

void vsock_hdr_decode(const uint8_t raw[VSOCK_HDR_SIZE], struct vsock_hdr *h)
{
	h->src_cid = get_le64(raw + OFF_SRC_CID);
	h->dst_cid = get_le64(raw + OFF_DST_CID);
	h->src_port = get_le32(raw + OFF_SRC_PORT);
	h->dst_port = get_le32(raw + OFF_DST_PORT);
	h->len = get_le32(raw + OFF_LEN);
	h->type = get_le16(raw + OFF_TYPE);
	h->op = get_le16(raw + OFF_OP);
	h->flags = get_le32(raw + OFF_FLAGS);
	h->buf_alloc = get_le32(raw + OFF_BUF_ALLOC);
	h->fwd_cnt = get_le32(raw + OFF_FWD_CNT);
}

void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t raw[VSOCK_HDR_SIZE])
{
	put_le64(raw + OFF_SRC_CID, h->src_cid);
	put_le64(raw + OFF_DST_CID, h->dst_cid);
	put_le32(raw + OFF_SRC_PORT, h->src_port);
	put_le32(raw + OFF_DST_PORT, h->dst_port);
	put_le32(raw + OFF_LEN, h->len);
	put_le16(raw + OFF_TYPE, h->type);
	put_le16(raw + OFF_OP, h->op);
	put_le32(raw + OFF_FLAGS, h->flags);
	put_le32(raw + OFF_BUF_ALLOC, h->buf_alloc);
	put_le32(raw + OFF_FWD_CNT, h->fwd_cnt);
}

enum vsock_pkt_err vsock_pkt_parse(const struct iovec *iov, int n, uint64_t guest_cid,
				   struct vsock_hdr *h)
{
	uint8_t raw[VSOCK_HDR_SIZE];
	size_t total = vsock_iov_len(iov, n);

	memset(h, 0, sizeof(*h));
	if (total < VSOCK_HDR_SIZE)
		return VSOCK_PKT_SHORT;
	vsock_iov_read(iov, n, 0, raw, sizeof(raw));
	vsock_hdr_decode(raw, h);
	if (h->src_cid != guest_cid)
		return VSOCK_PKT_SRC_CID;
	if (h->dst_cid != VSOCK_CID_HOST)
		return VSOCK_PKT_DST_CID;
	if (h->type != VSOCK_TYPE_STREAM)
		return VSOCK_PKT_TYPE;
	if (h->op < VSOCK_OP_REQUEST || h->op > VSOCK_OP_CREDIT_REQUEST)
		return VSOCK_PKT_OP;
	if (h->len > VSOCK_MAX_PKT)
		return VSOCK_PKT_TOO_LONG;
	if (h->len > total - VSOCK_HDR_SIZE)
		return VSOCK_PKT_TRUNCATED;
	if (h->len && h->op != VSOCK_OP_RW)
		return VSOCK_PKT_PAYLOAD;
	return VSOCK_PKT_OK;
}

bool vsock_pkt_err_wants_rst(enum vsock_pkt_err err, const struct vsock_hdr *h)
{
	/* Never answer an RST, nor a packet whose sender is unknown or forged. */
	if (err == VSOCK_PKT_SHORT || err == VSOCK_PKT_SRC_CID)
		return false;
	return h->op != VSOCK_OP_RST;
}

const char *vsock_pkt_strerror(enum vsock_pkt_err err)
{
	static const char *const msg[VSOCK_PKT__COUNT] = {
	    [VSOCK_PKT_OK] = "ok",
	    [VSOCK_PKT_SHORT] = "chain shorter than a packet header",
	    [VSOCK_PKT_SRC_CID] = "src_cid is not the guest's CID",
	    [VSOCK_PKT_DST_CID] = "dst_cid is not the host (2)",
	    [VSOCK_PKT_TYPE] = "socket type is not STREAM",
	    [VSOCK_PKT_OP] = "unknown op",
	    [VSOCK_PKT_TOO_LONG] = "payload longer than 64 KiB",
	    [VSOCK_PKT_TRUNCATED] = "len larger than the descriptor chain",
	    [VSOCK_PKT_PAYLOAD] = "payload on a control packet",
	};

	return (unsigned int)err < VSOCK_PKT__COUNT ? msg[err] : "unknown error";
}

const char *vsock_op_name(uint16_t op)
{
	static const char *const names[] = {
	    [VSOCK_OP_INVALID] = "INVALID",
	    [VSOCK_OP_REQUEST] = "REQUEST",
	    [VSOCK_OP_RESPONSE] = "RESPONSE",
	    [VSOCK_OP_RST] = "RST",
	    [VSOCK_OP_SHUTDOWN] = "SHUTDOWN",
	    [VSOCK_OP_RW] = "RW",
	    [VSOCK_OP_CREDIT_UPDATE] = "CREDIT_UPDATE",
	    [VSOCK_OP_CREDIT_REQUEST] = "CREDIT_REQUEST",
	};

	return op < sizeof(names) / sizeof(names[0]) ? names[op] : "?";
}
