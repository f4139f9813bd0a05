/* Unit tests: the split-virtqueue walker and used ring (devices/virtio/virtq.c) over fake guest memory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/virtio/virtq.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Fake guest RAM: [MEM_BASE, MEM_BASE + MEM_SIZE). */
#define MEM_BASE 0x100000ull
#define MEM_SIZE 0x10000ull
#define QSIZE    8

#define DESC_AT  (MEM_BASE + 0x0000)
#define AVAIL_AT (MEM_BASE + 0x1000)
#define USED_AT  (MEM_BASE + 0x2000)
#define IND_AT   (MEM_BASE + 0x3000)
#define IND2_AT  (MEM_BASE + 0x3800)
#define BUF_AT   (MEM_BASE + 0x4000)

static uint8_t *mem;
static struct virtq q;
static struct iovec iov[QSIZE];
static struct virtq_chain chain = { .cap = QSIZE, .iov = iov };
static char err[256];

static void *xlate(void *opaque, uint64_t gpa, uint64_t len)
{
	(void)opaque;
	if (gpa < MEM_BASE || gpa - MEM_BASE > MEM_SIZE || len > MEM_SIZE - (gpa - MEM_BASE))
		return NULL;
	return mem + (gpa - MEM_BASE);
}

static struct virtq_desc *table(uint64_t at)
{
	return xlate(NULL, at, 16);
}

static void desc(uint64_t at, unsigned int i, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	table(at)[i] = (struct virtq_desc){ addr, len, flags, next };
}

static uint16_t *avail(void)
{
	return xlate(NULL, AVAIL_AT, 2);
}

static uint16_t *used16(void)
{
	return xlate(NULL, USED_AT, 2);
}

/* Offer head as the next available chain. */
static void offer(uint16_t head)
{
	uint16_t idx = avail()[1];

	avail()[2 + idx % QSIZE] = head;
	avail()[1] = (uint16_t)(idx + 1);
}

static int setup(void **state)
{
	(void)state;
	mem = aligned_alloc(4096, MEM_SIZE);
	assert_non_null(mem);
	memset(mem, 0, MEM_SIZE);
	assert_int_equal(virtq_init(&q, QSIZE, DESC_AT, AVAIL_AT, USED_AT, true, true, xlate, NULL,
				    err, sizeof(err)), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(mem);
	return 0;
}

static int pop(void)
{
	err[0] = '\0';
	return virtq_pop(&q, &chain, err, sizeof(err));
}

static void test_virtq_empty(void **state)
{
	assert_int_equal(pop(), 0);
}

static void test_virtq_simple_chain(void **state)
{
	desc(DESC_AT, 0, BUF_AT, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(DESC_AT, 1, BUF_AT + 512, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	desc(DESC_AT, 2, BUF_AT + 2048, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(0);
	assert_int_equal(pop(), 1);
	assert_int_equal(chain.head, 0);
	assert_int_equal(chain.nr_out, 1);
	assert_int_equal(chain.nr_in, 2);
	assert_int_equal(chain.out_len, 16);
	assert_int_equal(chain.in_len, 513);
	assert_ptr_equal(chain.iov[0].iov_base, mem + 0x4000);
	assert_ptr_equal(chain.iov[2].iov_base, mem + 0x4800);
	assert_int_equal(pop(), 0);
}

static void test_virtq_indirect_chain(void **state)
{
	desc(IND_AT, 0, BUF_AT, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(IND_AT, 1, BUF_AT + 512, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	desc(IND_AT, 2, BUF_AT + 2048, 1, VIRTQ_DESC_F_WRITE, 0);
	/* The WRITE flag on the indirect descriptor itself is ignored (2.7.5.3.2). */
	desc(DESC_AT, 5, IND_AT, 3 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	offer(5);
	assert_int_equal(pop(), 1);
	assert_int_equal(chain.head, 5);
	assert_int_equal(chain.nr_out, 1);
	assert_int_equal(chain.nr_in, 2);
}

/* A full-size indirect table (queue-size entries) is allowed. */
static void test_virtq_indirect_full_size(void **state)
{
	for (unsigned int i = 0; i < QSIZE; i++)
		desc(IND_AT, i, BUF_AT + 16 * i, 16, i < QSIZE - 1 ? VIRTQ_DESC_F_NEXT : 0,
		     (uint16_t)(i + 1));
	desc(DESC_AT, 0, IND_AT, QSIZE * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	assert_int_equal(pop(), 1);
	assert_int_equal(chain.nr_out, QSIZE);
}

/* Each malformed case: how to build it, and a word its message must contain. */
struct bad {
	const char *name;
	void (*build)(void);
	const char *msg;
};

static void bad_outside_ram(void)
{
	desc(DESC_AT, 0, 0x1000, 16, 0, 0);
	offer(0);
}

static void bad_straddles_ram_end(void)
{
	desc(DESC_AT, 0, MEM_BASE + MEM_SIZE - 8, 16, 0, 0);
	offer(0);
}

static void bad_wraps(void)
{
	desc(DESC_AT, 0, UINT64_MAX - 7, 16, 0, 0);
	offer(0);
}

static void bad_loop(void)
{
	desc(DESC_AT, 0, BUF_AT, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(DESC_AT, 1, BUF_AT, 16, VIRTQ_DESC_F_NEXT, 0);
	offer(0);
}

static void bad_self_loop(void)
{
	desc(DESC_AT, 3, BUF_AT, 16, VIRTQ_DESC_F_NEXT, 3);
	offer(3);
}

static void bad_indirect_loop(void)
{
	desc(IND_AT, 0, BUF_AT, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(IND_AT, 1, BUF_AT, 16, VIRTQ_DESC_F_NEXT, 0);
	desc(DESC_AT, 0, IND_AT, 32, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
}

static void bad_too_long(void)
{
	for (unsigned int i = 0; i < 2 * QSIZE; i++)
		desc(IND_AT, i, BUF_AT, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
	desc(IND_AT, 2 * QSIZE - 1, BUF_AT, 16, 0, 0);
	desc(DESC_AT, 0, IND_AT, 2 * QSIZE * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
}

static void bad_direct_then_indirect_too_long(void)
{
	/* 1 direct + QSIZE indirect buffers: more than QSIZE in all. */
	for (unsigned int i = 0; i < QSIZE; i++)
		desc(IND_AT, i, BUF_AT, 16, i < QSIZE - 1 ? VIRTQ_DESC_F_NEXT : 0,
		     (uint16_t)(i + 1));
	desc(DESC_AT, 0, BUF_AT, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(DESC_AT, 1, IND_AT, QSIZE * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
}

static void bad_wrong_direction(void)
{
	desc(DESC_AT, 0, BUF_AT, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	desc(DESC_AT, 1, BUF_AT, 16, 0, 0);
	offer(0);
}

static void bad_zero_length(void)
{
	desc(DESC_AT, 0, BUF_AT, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(DESC_AT, 1, BUF_AT, 0, VIRTQ_DESC_F_WRITE, 0);
	offer(0);
}

static void bad_nested_indirect(void)
{
	desc(IND2_AT, 0, BUF_AT, 16, 0, 0);
	desc(IND_AT, 0, BUF_AT, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(IND_AT, 1, IND2_AT, 16, VIRTQ_DESC_F_INDIRECT, 0);
	desc(DESC_AT, 0, IND_AT, 32, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
}

static void bad_indirect_len(void)
{
	desc(IND_AT, 0, BUF_AT, 16, 0, 0);
	desc(DESC_AT, 0, IND_AT, 24, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
}

static void bad_indirect_len_zero(void)
{
	desc(DESC_AT, 0, IND_AT, 0, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
}

static void bad_indirect_outside_ram(void)
{
	desc(DESC_AT, 0, MEM_BASE + MEM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
}

static void bad_indirect_with_next(void)
{
	desc(IND_AT, 0, BUF_AT, 16, 0, 0);
	desc(DESC_AT, 0, IND_AT, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	desc(DESC_AT, 1, BUF_AT, 16, 0, 0);
	offer(0);
}

static void bad_head_range(void)
{
	offer(QSIZE);
}

static void bad_next_range(void)
{
	desc(DESC_AT, 0, BUF_AT, 16, VIRTQ_DESC_F_NEXT, 0xffff);
	offer(0);
}

static void bad_indirect_next_range(void)
{
	desc(IND_AT, 0, BUF_AT, 16, VIRTQ_DESC_F_NEXT, 2);
	desc(IND_AT, 1, BUF_AT, 16, 0, 0);
	desc(DESC_AT, 0, IND_AT, 32, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
}

static void bad_avail_jump(void)
{
	desc(DESC_AT, 0, BUF_AT, 16, 0, 0);
	avail()[1] = QSIZE + 1;
}

static const struct bad bad_cases[] = {
	{ "outside_ram", bad_outside_ram, "outside guest RAM" },
	{ "straddles_ram_end", bad_straddles_ram_end, "outside guest RAM" },
	{ "wraps", bad_wraps, "outside guest RAM" },
	{ "loop", bad_loop, "loops" },
	{ "self_loop", bad_self_loop, "loops" },
	{ "indirect_loop", bad_indirect_loop, "loops" },
	{ "too_long", bad_too_long, "more than the queue size" },
	{ "direct_then_indirect_too_long", bad_direct_then_indirect_too_long, "longer than" },
	{ "wrong_direction", bad_wrong_direction, "readable after" },
	{ "zero_length", bad_zero_length, "length 0" },
	{ "nested_indirect", bad_nested_indirect, "inside an indirect" },
	{ "indirect_len", bad_indirect_len, "multiple of 16" },
	{ "indirect_len_zero", bad_indirect_len_zero, "multiple of 16" },
	{ "indirect_outside_ram", bad_indirect_outside_ram, "outside guest RAM" },
	{ "indirect_with_next", bad_indirect_with_next, "NEXT" },
	{ "head_range", bad_head_range, "out of range" },
	{ "next_range", bad_next_range, "out of range" },
	{ "indirect_next_range", bad_indirect_next_range, "out of range" },
	{ "avail_jump", bad_avail_jump, "ahead" },
};

static void test_virtq_malformed(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		const struct bad *b = &bad_cases[i];

		setup(state);
		b->build();
		print_message("%-32s ", b->name);
		assert_int_equal(pop(), -EINVAL);
		print_message("%s\n", err);
		assert_non_null(strstr(err, b->msg));
		assert_null(strchr(err, '\n'));
		teardown(state);
	}
}

static void test_virtq_indirect_not_negotiated(void **state)
{
	assert_int_equal(virtq_init(&q, QSIZE, DESC_AT, AVAIL_AT, USED_AT, true, false, xlate, NULL,
				    err, sizeof(err)), 0);
	desc(IND_AT, 0, BUF_AT, 16, 0, 0);
	desc(DESC_AT, 0, IND_AT, 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	assert_int_equal(pop(), -EINVAL);
	assert_non_null(strstr(err, "not negotiated"));
}

struct bad_init {
	const char *name;
	unsigned int size;
	uint64_t desc, avail, used;
	const char *msg;
};

static void test_virtq_init_rejects(void **state)
{
	static const struct bad_init cases[] = {
		{ "size_zero", 0, DESC_AT, AVAIL_AT, USED_AT, "power of 2" },
		{ "size_not_pow2", 6, DESC_AT, AVAIL_AT, USED_AT, "power of 2" },
		{ "size_huge", 65536, DESC_AT, AVAIL_AT, USED_AT, "power of 2" },
		{ "desc_misaligned", QSIZE, DESC_AT + 8, AVAIL_AT, USED_AT, "misaligned" },
		{ "avail_misaligned", QSIZE, DESC_AT, AVAIL_AT + 1, USED_AT, "misaligned" },
		{ "used_misaligned", QSIZE, DESC_AT, AVAIL_AT, USED_AT + 2, "misaligned" },
		{ "desc_outside", QSIZE, 0x1000, AVAIL_AT, USED_AT, "outside guest RAM" },
		{ "used_past_end", QSIZE, DESC_AT, AVAIL_AT, MEM_BASE + MEM_SIZE - 16,
		  "outside guest RAM" },
		{ "table_past_end", 8192, DESC_AT, AVAIL_AT, USED_AT, "outside guest RAM" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct bad_init *c = &cases[i];

		print_message("%-20s\n", c->name);
		assert_int_equal(virtq_init(&q, c->size, c->desc, c->avail, c->used, true, true,
					    xlate, NULL, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, c->msg));
		assert_int_equal(q.size, 0);
		assert_int_equal(pop(), -EINVAL); /* an unset queue never yields chains */
	}
}

static void test_virtq_push_and_event_idx(void **state)
{
	uint16_t *used_event = &avail()[2 + QSIZE];

	desc(DESC_AT, 0, BUF_AT, 16, 0, 0);
	desc(DESC_AT, 1, BUF_AT, 16, 0, 0);
	offer(0);
	offer(1);
	assert_int_equal(pop(), 1);
	virtq_push(&q, chain.head, 7);
	assert_int_equal(used16()[1], 1);
	assert_int_equal(used16()[2], 0);  /* id */
	assert_int_equal(used16()[4], 7);  /* len */
	assert_true(virtq_should_notify(&q)); /* the first decision always notifies */
	*used_event = 5;                   /* the driver wants an interrupt at 6 */
	assert_int_equal(pop(), 1);
	virtq_push(&q, chain.head, 0);
	assert_false(virtq_should_notify(&q));
	assert_false(virtq_enable_notify(&q));
	assert_int_equal(used16()[2 + 4 * QSIZE], 2); /* avail_event = last_avail */
	offer(0);
	assert_true(virtq_enable_notify(&q)); /* something arrived: pop again */
}

static void test_virtq_no_interrupt_flag(void **state)
{
	assert_int_equal(virtq_init(&q, QSIZE, DESC_AT, AVAIL_AT, USED_AT, false, true, xlate, NULL,
				    err, sizeof(err)), 0);
	desc(DESC_AT, 0, BUF_AT, 16, 0, 0);
	offer(0);
	assert_int_equal(pop(), 1);
	virtq_push(&q, 0, 0);
	assert_true(virtq_should_notify(&q));
	avail()[0] = VIRTQ_AVAIL_F_NO_INTERRUPT;
	assert_false(virtq_should_notify(&q));
}

/* The available index wraps at 65536. */
static void test_virtq_index_wrap(void **state)
{
	desc(DESC_AT, 0, BUF_AT, 16, 0, 0);
	q.last_avail = 0xffff;
	avail()[1] = 0xffff;
	offer(0);
	assert_int_equal(avail()[1], 0);
	assert_int_equal(pop(), 1);
	assert_int_equal(q.last_avail, 0);
	assert_int_equal(pop(), 0);
}

static void test_virtq_iov_helpers(void **state)
{
	uint8_t a[4] = { 1, 2, 3, 4 }, b[3] = { 5, 6, 7 }, out[7];
	struct iovec v[2] = { { a, 4 }, { b, 3 } }, s[3];

	assert_int_equal(iov_to_buf(v, 2, 2, out, 4), 4);
	assert_memory_equal(out, ((uint8_t[]){ 3, 4, 5, 6 }), 4);
	assert_int_equal(iov_to_buf(v, 2, 6, out, 4), 1);
	assert_int_equal(iov_from_buf(v, 2, 3, "xyz", 3), 3);
	assert_int_equal(a[3], 'x');
	assert_int_equal(b[1], 'z');
	assert_int_equal(iov_slice(v, 2, 3, 3, s, 3), 2);
	assert_ptr_equal(s[0].iov_base, a + 3);
	assert_int_equal(s[0].iov_len, 1);
	assert_int_equal(s[1].iov_len, 2);
	assert_int_equal(iov_slice(v, 2, 3, 3, s, 1), -E2BIG);
	assert_int_equal(iov_slice(v, 2, 5, 3, s, 3), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_virtq_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_virtq_simple_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_virtq_indirect_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_virtq_indirect_full_size, setup, teardown),
		cmocka_unit_test(test_virtq_malformed),
		cmocka_unit_test_setup_teardown(test_virtq_indirect_not_negotiated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_virtq_init_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_virtq_push_and_event_idx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_virtq_no_interrupt_flag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_virtq_index_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_virtq_iov_helpers, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
