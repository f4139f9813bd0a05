/* libFuzzer target for devices/virtio/virtq.c: the descriptor chain walker over fake guest memory. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/virtq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input: one control byte, then guest memory.
 *   control bits 0-3: queue size 2^n (n = 0..8, larger values wrap to 8),
 *           bit 4: EVENT_IDX negotiated, bit 5: INDIRECT_DESC negotiated,
 *           bits 6-7: how many chains to pop before each batch of pushes (1-4)
 *   the rest: the first bytes of the 64 KiB of fake RAM at 0x10000 (the
 *           rest is zero); the descriptor table is at 0x10000, the avail
 *           ring at 0x11000, the used ring at 0x12000.
 * Every chain the walker hands out must lie inside the fake RAM, hold at
 * most queue-size buffers of non-zero length, readable ones first, with
 * totals that add up; every refusal must come with a one-line reason.
 */
#define MEM_BASE 0x10000ull
#define MEM_SIZE 0x10000ull
#define MAX_POPS 512

#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "fuzz_virtq: %s:%d: check failed: %s\n", __FILE__,  \
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

static void check_chain(const struct virtq *q, const struct virtq_chain *c)
{
	uint64_t out = 0, in = 0;

	CHECK(c->head < q->size);
	CHECK(c->nr_out + c->nr_in >= 1 && c->nr_out + c->nr_in <= q->size);
	for (unsigned int i = 0; i < c->nr_out + c->nr_in; i++) {
		const uint8_t *p = c->iov[i].iov_base;

		CHECK(c->iov[i].iov_len > 0);
		CHECK(p >= mem && p + c->iov[i].iov_len <= mem + MEM_SIZE);
		if (i < c->nr_out)
			out += c->iov[i].iov_len;
		else
			in += c->iov[i].iov_len;
	}
	CHECK(out == c->out_len && in == c->in_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct iovec iov[256];
	struct virtq_chain c = { .cap = 256, .iov = iov };
	unsigned int log2, batch;
	struct virtq q;
	char err[256];
	int rc = 0;

	if (size < 1)
		return 0;
	if (!mem) {
		mem = aligned_alloc(4096, MEM_SIZE);
		CHECK(mem);
	}
	memset(mem, 0, MEM_SIZE);
	memcpy(mem, data + 1, size - 1 < MEM_SIZE ? size - 1 : MEM_SIZE);
	log2 = data[0] & 15;
	if (log2 > 8)
		log2 = 8;
	batch = 1 + (data[0] >> 6);
	CHECK(virtq_init(&q, 1u << log2, MEM_BASE, MEM_BASE + 0x800, MEM_BASE + 0xc00,
			 data[0] & 16, data[0] & 32, xlate, NULL, err, sizeof(err)) == 0);
	for (unsigned int n = 0; n < MAX_POPS && rc >= 0;) {
		uint16_t heads[4];
		unsigned int got = 0;

		for (; got < batch && n < MAX_POPS; n++) {
			err[0] = '\0';
			rc = virtq_pop(&q, &c, err, sizeof(err));
			if (rc <= 0)
				break;
			check_chain(&q, &c);
			heads[got++] = c.head;
		}
		if (rc < 0) {
			CHECK(rc == -EINVAL);
			CHECK(err[0] && !strchr(err, '\n') && memchr(err, '\0', sizeof(err)));
		}
		for (unsigned int i = 0; i < got; i++)
			virtq_push(&q, heads[i], (uint32_t)i);
		(void)virtq_should_notify(&q);
		if (rc == 0 && !virtq_enable_notify(&q))
			break;
		if (rc == 0)
			n++;
	}
	return 0;
}
