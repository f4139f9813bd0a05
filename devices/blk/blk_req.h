/* virtio-blk requests: parsing a descriptor chain into a checked request, pure (no I/O). */
#ifndef TORPOR_BLK_REQ_H
#define TORPOR_BLK_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/virtio_blk.h>

#include "devices/virtio/virtq.h"

#define BLK_SECTOR_SIZE  512u
#define BLK_HDR_SIZE     16u
/* The largest data transfer of one request; longer ones fail with IOERR. */
#define BLK_MAX_REQ_BYTES (1u << 30)
/* Discard / write-zeroes segments per request, and sectors per segment. */
#define BLK_MAX_DWZ_SEGS    16u
#define BLK_MAX_DWZ_SECTORS (1u << 22) /* 2 GiB */

/* What a parsed request asks for. */
struct blk_seg {
	uint64_t sector;
	uint32_t nr_sectors;
	uint32_t flags; /* VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP */
};

struct blk_req {
	uint32_t type;   /* VIRTIO_BLK_T_* */
	uint64_t sector; /* IN / OUT: first sector */
	uint8_t *status; /* host pointer to the status byte (the last writable byte) */
	/*
	 * Data: for IN and GET_ID the writable buffers without the status byte,
	 * for OUT the readable ones after the header. Points into the chain's
	 * iov array (which parsing trims in place).
	 */
	struct iovec *iov;
	unsigned int nr_iov;
	uint64_t len;
	/* DISCARD / WRITE_ZEROES ranges. */
	struct blk_seg segs[BLK_MAX_DWZ_SEGS];
	unsigned int nr_segs;
	/*
	 * -1: to be carried out; otherwise the status to return at once
	 * (VIRTIO_BLK_S_IOERR for a bad range or size, VIRTIO_BLK_S_UNSUPP for an
	 * unknown type or a write to a read-only disk... see blk_req_parse).
	 */
	int early_status;
};

/*
 * Parse chain c of a disk of capacity sectors (read_only: refuse writes) into
 * r. Returns 0, with r->early_status >= 0 when the request ends here with that
 * status: IOERR for a range beyond the capacity, a length that is not a
 * multiple of 512, data in the wrong direction or too long, bad
 * discard/write-zeroes segments, a write, discard or write-zeroes to a
 * read-only disk; UNSUPP for an unknown type or a discard with the UNMAP
 * flag. Returns -EINVAL with a one-line reason in err when the chain cannot
 * be a request at all (no 16-byte header, no writable status byte): the
 * device needs a reset. c->iov is trimmed (the status byte is taken off the
 * last writable buffer).
 */
int blk_req_parse(struct virtq_chain *c, uint64_t capacity, bool read_only, struct blk_req *r,
		  char *err, size_t errlen);

/* Bytes of the chain's writable part the request wrote (the used length), status included. */
uint32_t blk_req_used_len(const struct blk_req *r, bool ok);

#endif
