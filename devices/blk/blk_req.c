/* virtio-blk request parsing (virtio 1.x 5.2.6): header, data, status byte, segments. */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "devices/blk/blk_req.h"

static int __attribute__((format(printf, 3, 4)))
bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* sector + nr within capacity, without overflow. */
static bool in_range(uint64_t sector, uint64_t nr, uint64_t capacity)
{
	return sector <= capacity && nr <= capacity - sector;
}

static int parse_segs(struct virtq_chain *c, uint64_t capacity, struct blk_req *r)
{
	uint64_t bytes = c->out_len - BLK_HDR_SIZE;

	if (!bytes || bytes % sizeof(struct virtio_blk_discard_write_zeroes) ||
	    bytes / sizeof(struct virtio_blk_discard_write_zeroes) > BLK_MAX_DWZ_SEGS)
		return VIRTIO_BLK_S_IOERR;
	r->nr_segs = (unsigned int)(bytes / sizeof(struct virtio_blk_discard_write_zeroes));
	for (unsigned int i = 0; i < r->nr_segs; i++) {
		struct virtio_blk_discard_write_zeroes s;

		iov_to_buf(c->iov, c->nr_out, BLK_HDR_SIZE + i * sizeof(s), &s, sizeof(s));
		r->segs[i] = (struct blk_seg){
			.sector = le64toh(s.sector),
			.nr_sectors = le32toh(s.num_sectors),
			.flags = le32toh(s.flags),
		};
		if (r->segs[i].flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
			return VIRTIO_BLK_S_UNSUPP;
		if (r->type == VIRTIO_BLK_T_DISCARD && r->segs[i].flags)
			return VIRTIO_BLK_S_UNSUPP;
		if (r->segs[i].nr_sectors > BLK_MAX_DWZ_SECTORS ||
		    !in_range(r->segs[i].sector, r->segs[i].nr_sectors, capacity))
			return VIRTIO_BLK_S_IOERR;
	}
	return -1;
}

/* The request's early status, or -1 to carry it out. */
static int check(struct virtq_chain *c, uint64_t capacity, bool read_only, struct blk_req *r)
{
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		if (c->out_len != BLK_HDR_SIZE)
			return VIRTIO_BLK_S_IOERR; /* data must be device-writable */
		r->iov = c->iov + c->nr_out;
		r->nr_iov = c->nr_in;
		r->len = c->in_len - 1;
		break;
	case VIRTIO_BLK_T_OUT:
		if (c->in_len != 1)
			return VIRTIO_BLK_S_IOERR; /* data must be device-readable */
		if (read_only)
			return VIRTIO_BLK_S_IOERR;
		r->len = c->out_len - BLK_HDR_SIZE;
		break;
	case VIRTIO_BLK_T_FLUSH:
		return -1;
	case VIRTIO_BLK_T_GET_ID:
		r->iov = c->iov + c->nr_out;
		r->nr_iov = c->nr_in;
		r->len = c->in_len - 1;
		return -1;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (read_only)
			return VIRTIO_BLK_S_IOERR;
		return parse_segs(c, capacity, r);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
	/* IN and OUT. */
	if (!r->len || r->len % BLK_SECTOR_SIZE || r->len > BLK_MAX_REQ_BYTES ||
	    !in_range(r->sector, r->len / BLK_SECTOR_SIZE, capacity))
		return VIRTIO_BLK_S_IOERR;
	return -1;
}

/* OUT data: the readable buffers after the header, which may end mid-buffer. */
static void out_data(struct virtq_chain *c, struct blk_req *r)
{
	size_t skip = BLK_HDR_SIZE;
	unsigned int i = 0;

	while (i < c->nr_out && skip >= c->iov[i].iov_len)
		skip -= c->iov[i++].iov_len;
	r->iov = c->iov + i;
	r->nr_iov = c->nr_out - i;
	if (r->nr_iov) {
		r->iov[0].iov_base = (uint8_t *)r->iov[0].iov_base + skip;
		r->iov[0].iov_len -= skip;
	}
}

int blk_req_parse(struct virtq_chain *c, uint64_t capacity, bool read_only, struct blk_req *r,
		  char *err, size_t errlen)
{
	struct virtio_blk_outhdr hdr;
	struct iovec *last;

	memset(r, 0, sizeof(*r));
	r->early_status = -1;
	if (c->out_len < BLK_HDR_SIZE)
		return bad(err, errlen, "request %u: %llu readable bytes, no room for the 16-byte "
			   "header", c->head, (unsigned long long)c->out_len);
	if (!c->nr_in)
		return bad(err, errlen, "request %u: no writable status byte", c->head);
	iov_to_buf(c->iov, c->nr_out, 0, &hdr, sizeof(hdr));
	r->type = le32toh(hdr.type);
	r->sector = le64toh(hdr.sector);

	/* The status byte is the last writable byte; take it off the data. */
	last = &c->iov[c->nr_out + c->nr_in - 1];
	r->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	last->iov_len--;
	r->early_status = check(c, capacity, read_only, r);
	if (r->type == VIRTIO_BLK_T_OUT && r->early_status < 0)
		out_data(c, r);
	/* Writable buffers emptied by taking the status byte off are dropped. */
	if (r->nr_iov && r->iov == c->iov + c->nr_out && !last->iov_len)
		r->nr_iov--;
	return 0;
}

uint32_t blk_req_used_len(const struct blk_req *r, bool ok)
{
	if (!ok)
		return 1;
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		return (uint32_t)r->len + 1;
	case VIRTIO_BLK_T_GET_ID:
		return (uint32_t)(r->len < VIRTIO_BLK_ID_BYTES ? r->len : VIRTIO_BLK_ID_BYTES) + 1;
	default:
		return 1;
	}
}
