/* libFuzzer target for devices/blk/blk_req.c: virtio-blk requests from chains in fake guest memory. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/blk/blk_req.h"
#include "devices/virtio/virtq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input: a control byte, 8 bytes of disk capacity (sectors, little-endian),
 * then guest memory as in fuzz_virtq (64 KiB at 0x10000; descriptors at
 * 0x10000, avail ring at 0x10800, used ring at 0x10c00; queue size 2^(bits
 * 0-3 of control, at most 8); bit 4: EVENT_IDX, bit 5: INDIRECT_DESC,
 * bit 6: read-only disk). Each chain the walker accepts goes through
 * blk_req_parse(). A request it accepts must have its status byte at the
 * end of the last writable buffer (and taken off it), and data that fits the
 * disk, is whole sectors, lies in guest RAM and adds up to its length (the
 * guest may make buffers overlap: its own business); a request it ends early
 * must have a valid status; writes to a read-only disk never go through.
 */
#define MEM_BASE 0x10000ull
#define MEM_SIZE 0x10000ull
#define MAX_POPS 256

#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "fuzz_blk: %s:%d: check failed: %s\n", __FILE__,    \
				__LINE__, #cond);                                        \
			abort();                                                         \
		}                                                                        \
	} while (0)

static uint8_t *mem;

static void *xlate(void *opaque, uint64_t gpa, uint64_t len)
{
	(void)opaque;
	if (gpa < MEM_BASE || gpa - MEM_BASE > MEM_SIZE || len > MEM_SIZE - (gpa - MEM_BASE))
		return NULL;
	return mem + (gpa - MEM_BASE);
}

static bool in_mem(const void *p, size_t len)
{
	const uint8_t *b = p;

	return b >= mem && b <= mem + MEM_SIZE && len <= (size_t)(mem + MEM_SIZE - b);
}

static void check_req(const struct virtq_chain *c, const struct blk_req *r, uint64_t capacity,
		      bool ro)
{
	uint64_t sum = 0;

	CHECK(in_mem(r->status, 1));
	/* The status byte is the last byte of the last writable buffer, taken off it. */
	CHECK(r->status == (uint8_t *)c->iov[c->nr_out + c->nr_in - 1].iov_base +
				   c->iov[c->nr_out + c->nr_in - 1].iov_len);
	if (r->early_status >= 0) {
		CHECK(r->early_status == VIRTIO_BLK_S_IOERR || r->early_status == VIRTIO_BLK_S_UNSUPP);
		return;
	}
	CHECK(!ro || (r->type != VIRTIO_BLK_T_OUT && r->type != VIRTIO_BLK_T_DISCARD &&
		      r->type != VIRTIO_BLK_T_WRITE_ZEROES));
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		CHECK(r->len && r->len % BLK_SECTOR_SIZE == 0 && r->len <= BLK_MAX_REQ_BYTES);
		CHECK(r->sector <= capacity && r->len / BLK_SECTOR_SIZE <= capacity - r->sector);
		/* fall through */
	case VIRTIO_BLK_T_GET_ID:
		CHECK(r->nr_iov <= c->nr_out + c->nr_in);
		CHECK(r->iov >= c->iov && r->iov + r->nr_iov <= c->iov + c->nr_out + c->nr_in);
		for (unsigned int i = 0; i < r->nr_iov; i++) {
			CHECK(in_mem(r->iov[i].iov_base, r->iov[i].iov_len));
			sum += r->iov[i].iov_len;
		}
		CHECK(sum == r->len);
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		CHECK(r->nr_segs >= 1 && r->nr_segs <= BLK_MAX_DWZ_SEGS);
		for (unsigned int i = 0; i < r->nr_segs; i++)
			CHECK(r->segs[i].sector <= capacity &&
			      r->segs[i].nr_sectors <= capacity - r->segs[i].sector);
		break;
	case VIRTIO_BLK_T_FLUSH:
		break;
	default:
		CHECK(!"an unknown type was accepted");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct iovec iov[256];
	struct virtq_chain c = { .cap = 256, .iov = iov };
	uint64_t capacity = 0;
	unsigned int log2;
	struct virtq q;
	struct blk_req r;
	char err[256];
	bool ro;

	if (size < 9)
		return 0;
	if (!mem) {
		mem = aligned_alloc(4096, MEM_SIZE);
		CHECK(mem);
	}
	for (int i = 0; i < 8; i++)
		capacity |= (uint64_t)data[1 + i] << (8 * i);
	memset(mem, 0, MEM_SIZE);
	memcpy(mem, data + 9, size - 9 < MEM_SIZE ? size - 9 : MEM_SIZE);
	log2 = data[0] & 15;
	if (log2 > 8)
		log2 = 8;
	ro = data[0] & 64;
	CHECK(virtq_init(&q, 1u << log2, MEM_BASE, MEM_BASE + 0x800, MEM_BASE + 0xc00,
			 data[0] & 16, data[0] & 32, xlate, NULL, err, sizeof(err)) == 0);
	for (unsigned int n = 0; n < MAX_POPS; n++) {
		int rc = virtq_pop(&q, &c, err, sizeof(err));

		if (rc <= 0)
			break;
		err[0] = '\0';
		rc = blk_req_parse(&c, capacity, ro, &r, err, sizeof(err));
		if (rc < 0) {
			CHECK(rc == -EINVAL && err[0] && !strchr(err, '\n'));
			break;
		}
		check_req(&c, &r, capacity, ro);
		*r.status = (uint8_t)(r.early_status >= 0 ? r.early_status : 0);
		virtq_push(&q, c.head, blk_req_used_len(&r, r.early_status < 0));
	}
	return 0;
}
