/* Unit tests: the virtio-mmio transport record (devices/virtio/persist.c) over fake guest memory.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fake_virtio.h"
#include "snapshot/buf.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Offsets in the record (docs/snapshot-format.md). */
#define OFF_VERSION   0
#define OFF_DEVICE_ID 4
#define OFF_NR_QUEUES 8
#define OFF_STATUS    12
#define OFF_HOST_F    16
#define OFF_GUEST_F   24
#define OFF_INT	      48
#define OFF_FLAGS     52
#define OFF_QUEUES    56
#define QREC	      40
#define Q_NUM	      0
#define Q_FLAGS	      4
#define Q_DESC	      8
#define Q_DRIVER      16
#define Q_DEVICE      24
#define Q_LAST_AVAIL  32
#define Q_USED	      34
#define Q_SIGNALLED   36
#define Q_RESERVED    38

#define F_FLUSH (1ull << 9) /* a device feature bit the fake device offers */

static int activations, activate_rc;

static int fake_activate(struct virtio_dev *d)
{
	activations++;
	return activate_rc;
}

static const struct virtio_dev_ops ops2 = {
    .name = "test",
    .device_id = VIRTIO_ID_BLOCK,
    .nr_queues = 2,
    .queue_max = 256,
    .activate = fake_activate,
};

static const struct virtio_dev_ops ops1 = {
    .name = "test",
    .device_id = VIRTIO_ID_BLOCK,
    .nr_queues = 1,
    .queue_max = 256,
    .activate = fake_activate,
};

static const struct virtio_dev_ops ops_net = {
    .name = "net",
    .device_id = VIRTIO_ID_NET,
    .nr_queues = 2,
    .queue_max = 256,
};

static struct virtio_dev src, dst;
static struct snap_buf out;
static char err[256];

static int setup(void **state)
{
	fake_ram_init();
	fake_dev_init(&src, &ops2, F_FLUSH);
	fake_dev_init(&dst, &ops2, F_FLUSH);
	snap_buf_init(&out);
	activations = 0;
	activate_rc = 0;
	err[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	snap_buf_free(&out);
	fake_dev_exit(&src);
	fake_dev_exit(&dst);
	fake_ram_free();
	return 0;
}

/* src: running, queue 0 ready with ring state, queue 1 set up in part but not ready. */
static void make_running(void)
{
	fake_dev_run(&src, (1ull << VIRTIO_F_RING_EVENT_IDX) | F_FLUSH);
	fake_queue_ready(&src, 0, FAKE_QSIZE);
	assert_true(src.queues[0].ready);
	src.queues[0].vq.last_avail = 5;
	src.queues[0].vq.used_idx = 3;
	src.queues[0].vq.signalled_used = 2;
	src.queues[0].vq.signalled_valid = true;
	src.queues[1].num = 4096; /* written by the driver, refused only at QueueReady */
	src.queues[1].desc = 0xdead0000;
	src.host_features_sel = 1;
	src.guest_features_sel = 1;
	src.queue_sel = 1;
	src.config_generation = 7;
	src.interrupt_status = VIRTIO_INT_VRING;
}

static int restore(struct virtio_dev *d, const void *data, size_t len)
{
	struct snap_buf in;

	err[0] = '\0';
	snap_buf_view(&in, data, len);
	return virtio_dev_restore(d, &in, err, sizeof(err));
}

static void save(struct virtio_dev *d)
{
	snap_buf_free(&out);
	snap_buf_init(&out);
	assert_int_equal(virtio_dev_save(d, &out), 0);
}

/* dst untouched by a refused restore. */
static void assert_pristine(struct virtio_dev *d)
{
	assert_int_equal(d->status, 0);
	assert_int_equal(d->guest_features, 0);
	assert_int_equal(d->interrupt_status, 0);
	assert_false(d->activated);
	for (unsigned int i = 0; i < d->ops->nr_queues; i++) {
		assert_false(d->queues[i].ready);
		assert_int_equal(d->queues[i].num, 0);
		assert_null(d->queues[i].vq.desc);
		assert_int_equal(fake_signalled(d->queues[i].kick_fd), 0);
	}
	assert_int_equal(fake_signalled(d->irq_fd), 0);
	assert_int_equal(activations, 0);
}

static void test_virtio_persist_layout(void **state)
{
	make_running();
	save(&src);
	assert_int_equal(out.len, OFF_QUEUES + 2 * QREC);
	assert_int_equal(snap_ld32(out.data + OFF_VERSION), VIRTIO_SNAP_VERSION);
	assert_int_equal(snap_ld32(out.data + OFF_DEVICE_ID), VIRTIO_ID_BLOCK);
	assert_int_equal(snap_ld32(out.data + OFF_NR_QUEUES), 2);
	assert_int_equal(snap_ld32(out.data + OFF_STATUS), 15);
	assert_int_equal(snap_ld64(out.data + OFF_HOST_F), src.host_features);
	assert_int_equal(snap_ld64(out.data + OFF_GUEST_F), src.guest_features);
	assert_int_equal(snap_ld32(out.data + 32), 1);
	assert_int_equal(snap_ld32(out.data + 36), 1);
	assert_int_equal(snap_ld32(out.data + 40), 1);
	assert_int_equal(snap_ld32(out.data + 44), 7);
	assert_int_equal(snap_ld32(out.data + OFF_INT), VIRTIO_INT_VRING);
	assert_int_equal(snap_ld32(out.data + OFF_FLAGS), 1);
	assert_int_equal(snap_ld32(out.data + OFF_QUEUES + Q_NUM), FAKE_QSIZE);
	assert_int_equal(snap_ld32(out.data + OFF_QUEUES + Q_FLAGS), 1 | 2 | 8);
	assert_int_equal(snap_ld64(out.data + OFF_QUEUES + Q_DESC), FAKE_DESC(0));
	assert_int_equal(snap_ld64(out.data + OFF_QUEUES + Q_DRIVER), FAKE_AVAIL(0));
	assert_int_equal(snap_ld64(out.data + OFF_QUEUES + Q_DEVICE), FAKE_USED(0));
	assert_int_equal(snap_ld16(out.data + OFF_QUEUES + Q_LAST_AVAIL), 5);
	assert_int_equal(snap_ld16(out.data + OFF_QUEUES + Q_USED), 3);
	assert_int_equal(snap_ld16(out.data + OFF_QUEUES + Q_SIGNALLED), 2);
	assert_int_equal(snap_ld16(out.data + OFF_QUEUES + Q_RESERVED), 0);
	assert_int_equal(snap_ld32(out.data + OFF_QUEUES + QREC + Q_NUM), 4096);
	assert_int_equal(snap_ld32(out.data + OFF_QUEUES + QREC + Q_FLAGS), 0);
	assert_int_equal(snap_ld64(out.data + OFF_QUEUES + QREC + Q_DESC), 0xdead0000);
}

static void test_virtio_persist_round_trip(void **state)
{
	struct snap_buf again;

	make_running();
	save(&src);
	assert_int_equal(restore(&dst, out.data, out.len), 0);
	assert_int_equal(dst.status, src.status);
	assert_int_equal(dst.guest_features, src.guest_features);
	assert_int_equal(dst.host_features_sel, 1);
	assert_int_equal(dst.guest_features_sel, 1);
	assert_int_equal(dst.queue_sel, 1);
	assert_int_equal(dst.config_generation, 7);
	assert_int_equal(dst.interrupt_status, VIRTIO_INT_VRING);
	assert_true(dst.activated);
	assert_int_equal(activations, 1);
	assert_true(dst.queues[0].ready);
	assert_int_equal(dst.queues[0].num, FAKE_QSIZE);
	assert_int_equal(dst.queues[0].vq.size, FAKE_QSIZE);
	assert_ptr_equal(dst.queues[0].vq.desc, src.queues[0].vq.desc);
	assert_ptr_equal(dst.queues[0].vq.avail, src.queues[0].vq.avail);
	assert_ptr_equal(dst.queues[0].vq.used, src.queues[0].vq.used);
	assert_true(dst.queues[0].vq.event_idx);
	assert_false(dst.queues[0].vq.indirect);
	assert_int_equal(dst.queues[0].vq.last_avail, 5);
	assert_int_equal(dst.queues[0].vq.used_idx, 3);
	assert_int_equal(dst.queues[0].vq.signalled_used, 2);
	assert_true(dst.queues[0].vq.signalled_valid);
	assert_false(dst.queues[1].ready);
	assert_int_equal(dst.queues[1].num, 4096);
	assert_int_equal(dst.queues[1].desc, 0xdead0000);
	/* The ready queue of the running device is kicked once; the line goes up. */
	assert_int_equal(fake_signalled(dst.queues[0].kick_fd), 1);
	assert_int_equal(fake_signalled(dst.queues[1].kick_fd), 0);
	assert_int_equal(fake_signalled(dst.irq_fd), 1);
	/* Saving the restored device gives the same bytes. */
	snap_buf_init(&again);
	assert_int_equal(virtio_dev_save(&dst, &again), 0);
	assert_int_equal(again.len, out.len);
	assert_memory_equal(again.data, out.data, out.len);
	snap_buf_free(&again);
}

/* The restored queue works: it pops what the driver offered at the saved index. */
static void test_virtio_persist_queue_usable(void **state)
{
	struct iovec iov[FAKE_QSIZE];
	struct virtq_chain c = {.cap = FAKE_QSIZE, .iov = iov};

	fake_dev_run(&src, 0);
	fake_queue_ready(&src, 0, FAKE_QSIZE);
	fake_offer(0, 3, FAKE_RAM_BASE + 0xc000, 64);
	assert_int_equal(virtio_queue_size(&src, 0), FAKE_QSIZE);
	assert_int_equal(virtq_pop(&src.queues[0].vq, &c, err, sizeof(err)), 1);
	fake_offer(0, 4, FAKE_RAM_BASE + 0xd000, 32);
	save(&src);
	assert_int_equal(restore(&dst, out.data, out.len), 0);
	assert_int_equal(virtq_pop(&dst.queues[0].vq, &c, err, sizeof(err)), 1);
	assert_int_equal(c.head, 4);
	assert_ptr_equal(c.iov[0].iov_base, fake_ram + 0xd000);
	assert_int_equal(virtq_pop(&dst.queues[0].vq, &c, err, sizeof(err)), 0);
}

/* A held chain is given back in the record, the live device unchanged. */
static void test_virtio_persist_held(void **state)
{
	struct iovec iov[FAKE_QSIZE];
	struct virtq_chain c = {.cap = FAKE_QSIZE, .iov = iov};
	unsigned int held[2] = {1, 0};

	fake_dev_run(&src, 0);
	fake_queue_ready(&src, 0, FAKE_QSIZE);
	fake_offer(0, 2, FAKE_RAM_BASE + 0xc000, 64);
	assert_int_equal(virtq_pop(&src.queues[0].vq, &c, err, sizeof(err)), 1);
	assert_int_equal(virtio_dev_save_held(&src, &out, held), 0);
	assert_int_equal(src.queues[0].vq.last_avail, 1);
	assert_int_equal(snap_ld16(out.data + OFF_QUEUES + Q_LAST_AVAIL), 0);
	assert_int_equal(restore(&dst, out.data, out.len), 0);
	assert_int_equal(virtq_pop(&dst.queues[0].vq, &c, err, sizeof(err)), 1);
	assert_int_equal(c.head, 2);
}

/* A device the driver has not started: state back, no activation, no kick. */
static void test_virtio_persist_not_running(void **state)
{
	src.status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
	src.guest_features = 0x12345; /* mid-negotiation: anything goes */
	fake_queue_ready(&src, 1, 4);
	save(&src);
	assert_int_equal(restore(&dst, out.data, out.len), 0);
	assert_int_equal(dst.status, src.status);
	assert_int_equal(dst.guest_features, 0x12345);
	assert_true(dst.queues[1].ready);
	assert_int_equal(dst.queues[1].vq.size, 4);
	assert_int_equal(activations, 0);
	assert_int_equal(fake_signalled(dst.queues[1].kick_fd), 0);
	assert_int_equal(fake_signalled(dst.irq_fd), 0);
}

/* A device that needed a reset still does; nothing is kicked. */
static void test_virtio_persist_needs_reset(void **state)
{
	make_running();
	src.status |= VIRTIO_STATUS_NEEDS_RESET;
	src.interrupt_status |= VIRTIO_INT_CONFIG;
	save(&src);
	assert_int_equal(restore(&dst, out.data, out.len), 0);
	assert_true(dst.status & VIRTIO_STATUS_NEEDS_RESET);
	assert_false(virtio_dev_running(&dst));
	assert_int_equal(fake_signalled(dst.queues[0].kick_fd), 0);
	assert_int_equal(fake_signalled(dst.irq_fd), 1);
}

/* Activation failing at restore ends as it would at DRIVER_OK. */
static void test_virtio_persist_activate_fails(void **state)
{
	make_running();
	src.interrupt_status = 0;
	save(&src);
	activate_rc = -ENOMEM;
	assert_int_equal(restore(&dst, out.data, out.len), 0);
	assert_int_equal(activations, 1);
	assert_true(dst.status & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(dst.interrupt_status, VIRTIO_INT_CONFIG);
	assert_int_equal(fake_signalled(dst.queues[0].kick_fd), 0);
	assert_int_equal(fake_signalled(dst.irq_fd), 1);
}

/* A fresh device saved and restored stays fresh. */
static void test_virtio_persist_fresh(void **state)
{
	save(&src);
	assert_int_equal(restore(&dst, out.data, out.len), 0);
	assert_pristine(&dst);
}

static void test_virtio_persist_truncated(void **state)
{
	make_running();
	save(&src);
	for (size_t len = 0; len < out.len; len++) {
		assert_int_equal(restore(&dst, out.data, len), -EINVAL);
		assert_non_null(strstr(err, "truncated"));
		assert_pristine(&dst);
	}
}

static void test_virtio_persist_trailing(void **state)
{
	make_running();
	save(&src);
	snap_put_u8(&out, 0);
	assert_int_equal(restore(&dst, out.data, out.len), -EINVAL);
	assert_string_equal(err, "1 unexpected bytes after the transport state");
	assert_pristine(&dst);
}

struct corrupt {
	size_t off;
	unsigned int size; /* 2, 4 or 8 */
	uint64_t value;
	const char *msg; /* the whole message, or a part of it when it starts with '~' */
};

static const struct corrupt corrupts[] = {
    {OFF_VERSION, 4, 2, "transport state version 2 is not supported (this build reads 1)"},
    {OFF_DEVICE_ID, 4, VIRTIO_ID_NET,
     "the saved transport is of virtio device id 1, this device is id 2 (test)"},
    {OFF_NR_QUEUES, 4, 9, "queue count 9 in the snapshot, at most 8"},
    {OFF_STATUS, 4, 0x10f, "status 0x10f has undefined bits"},
    {OFF_FLAGS, 4, 3, "unknown transport flags 0x3"},
    {OFF_INT, 4, 4, "interrupt status 0x4 has undefined bits"},
    {OFF_GUEST_F, 8, (1ull << VIRTIO_F_RING_EVENT_IDX), "FEATURES_OK without VIRTIO_F_VERSION_1"},
    {OFF_GUEST_F, 8, (1ull << VIRTIO_F_VERSION_1) | (1ull << 40), "~beyond the saved device's"},
    {OFF_HOST_F, 8, 0, "~beyond the saved device's"},
    {OFF_STATUS, 4, 0, "activated with status 0"},
    {OFF_FLAGS, 4, 0, "DRIVER_OK but never activated"},
    {OFF_QUEUES + Q_NUM, 4, 4096, "queue 0 size 4096 above the maximum 256"},
    {OFF_QUEUES + Q_NUM, 4, 6, "queue 0 size 6 is not a power of 2"},
    {OFF_QUEUES + Q_NUM, 4, 0, "queue 0 size 0 is not a power of 2"},
    {OFF_QUEUES + Q_FLAGS, 4, 0x11, "queue 0: unknown flags 0x11"},
    {OFF_QUEUES + Q_RESERVED, 2, 1, "queue 0: reserved bytes are not zero"},
    {OFF_QUEUES + Q_DESC, 8, FAKE_RAM_BASE + FAKE_RAM_SIZE - 64,
     "queue 0: ring area at 0x8000ffc0 is outside guest RAM"},
    {OFF_QUEUES + Q_DESC, 8, 0x1000, "queue 0: ring area at 0x1000 is outside guest RAM"},
    {OFF_QUEUES + Q_DEVICE, 8, UINT64_MAX - 3,
     "queue 0: ring area at 0xfffffffffffffffc is outside guest RAM"},
    {OFF_QUEUES + Q_DRIVER, 8, FAKE_AVAIL(0) + 1, "~queue 0: misaligned ring"},
    {OFF_QUEUES + QREC + Q_LAST_AVAIL, 2, 1, "queue 1 is not ready but has ring state"},
    {OFF_QUEUES + QREC + Q_FLAGS, 4, 2, "queue 1 is not ready but has ring state"},
    {OFF_QUEUES + QREC + Q_FLAGS, 4, 1, "queue 1 size 4096 above the maximum 256"},
};

static void patch(uint8_t *p, unsigned int size, uint64_t v)
{
	if (size == 2)
		snap_le16(p, (uint16_t)v);
	else if (size == 4)
		snap_le32(p, (uint32_t)v);
	else
		snap_le64(p, v);
}

static void test_virtio_persist_corrupt(void **state)
{
	uint8_t *copy;

	make_running();
	save(&src);
	copy = malloc(out.len);
	assert_non_null(copy);
	for (size_t i = 0; i < ARRAY_SIZE(corrupts); i++) {
		const struct corrupt *c = &corrupts[i];

		memcpy(copy, out.data, out.len);
		patch(copy + c->off, c->size, c->value);
		assert_int_equal(restore(&dst, copy, out.len), -EINVAL);
		if (c->msg[0] == '~') {
			if (!strstr(err, c->msg + 1))
				fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, c->msg + 1);
		} else if (strcmp(err, c->msg)) {
			fail_msg("case %zu: \"%s\", expected \"%s\"", i, err, c->msg);
		}
		assert_pristine(&dst);
	}
	free(copy);
}

/* Any single corrupted byte: refused with the device untouched, or restored without harm. */
static void test_virtio_persist_every_byte(void **state)
{
	static const uint8_t flips[] = { 0x01, 0x02, 0x10, 0x80, 0xff };
	unsigned int refused = 0;
	uint8_t *copy;

	make_running();
	save(&src);
	copy = malloc(out.len);
	assert_non_null(copy);
	for (size_t off = 0; off < out.len; off++) {
		for (size_t k = 0; k < sizeof(flips); k++) {
			memcpy(copy, out.data, out.len);
			copy[off] ^= flips[k];
			fake_dev_exit(&dst);
			fake_dev_init(&dst, &ops2, F_FLUSH);
			activations = 0;
			if (restore(&dst, copy, out.len) < 0) {
				assert_true(err[0] != '\0');
				assert_pristine(&dst);
				refused++;
			}
		}
	}
	assert_true(refused > 0);
	free(copy);
}

/* Another device type or queue count: refused. */
static void test_virtio_persist_other_device(void **state)
{
	struct virtio_dev one;

	fake_dev_init(&one, &ops1, F_FLUSH);
	save(&one);
	assert_int_equal(restore(&dst, out.data, out.len), -EINVAL);
	assert_string_equal(err, "queue count 1 in the snapshot, 2 in the device");
	assert_pristine(&dst);
	fake_dev_exit(&one);

	fake_dev_init(&one, &ops_net, 0);
	save(&one);
	assert_int_equal(restore(&dst, out.data, out.len), -EINVAL);
	assert_string_equal(err, "the saved transport is of virtio device id 1, this device is "
				 "id 2 (test)");
	fake_dev_exit(&one);
}

/* A driver using a feature the new device does not offer (configured differently). */
static void test_virtio_persist_feature_gone(void **state)
{
	make_running();
	save(&src);
	fake_dev_exit(&dst);
	fake_dev_init(&dst, &ops2, 0);
	assert_int_equal(restore(&dst, out.data, out.len), -EINVAL);
	assert_string_equal(err, "the driver uses features 0x200 this device does not offer (it "
				 "offers 0x130000000: configured differently from the snapshot's)");
	assert_pristine(&dst);
}

static void test_virtio_persist_busy(void **state)
{
	make_running();
	save(&src);
	dst.status = VIRTIO_STATUS_ACKNOWLEDGE;
	assert_int_equal(restore(&dst, out.data, out.len), -EBUSY);
	assert_non_null(strstr(err, "in use"));
	assert_int_equal(activations, 0);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(test_virtio_persist_##name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(layout),	    T(round_trip),     T(queue_usable), T(held),      T(not_running),
	    T(needs_reset), T(activate_fails), T(fresh),	T(truncated), T(every_byte), T(trailing),
	    T(corrupt),	    T(other_device),   T(feature_gone), T(busy),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
