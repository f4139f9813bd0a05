/*
 * Unit tests: virtio-vsock snapshot state (devices/vsock/vsock.c) over fake
 * guest memory, the transport stubbed (no KVM): save, restore into a new
 * device, and the TRANSPORT_RESET event that follows a restore.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/vsock/packet.h"
#include "devices/vsock/vsock.h"
#include "evloop.h"
#include "fake_virtio.h"
#include "log.h"
#include "snapshot/buf.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define EVBUF(i)      (FAKE_RAM_BASE + 0xc000 + 0x100 * (i)) /* event buffers */

/* --- The transport, stubbed: what virtio_mmio_init() would set up, without KVM ------------ */

static struct virtio_dev *last_dev;

int virtio_mmio_init(struct virtio_dev *d, struct vm *vm, const struct virtio_dev_ops *ops,
		     uint64_t features)
{
	fake_dev_init(d, ops, features);
	last_dev = d;
	return 0;
}

void virtio_mmio_exit(struct virtio_dev *d)
{
	if (d->ops && d->ops->reset)
		d->ops->reset(d);
	fake_dev_exit(d);
}

/* --- Fixture ------------------------------------------------------------------------------ */

static char dir[64], path1[128], path2[128];
static struct evloop *el;
static struct vm vm;
static struct vsock *src, *dst;
static struct virtio_dev *sdev, *ddev;
static struct snap_buf out;
static char err[256];

static int setup(void **state)
{
	log_level = LOG_WARN;
	fake_ram_init();
	snprintf(dir, sizeof(dir), "/tmp/torpor-vsock-persist-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path1, sizeof(path1), "%s/v1.sock", dir);
	snprintf(path2, sizeof(path2), "%s/v2.sock", dir);
	assert_int_equal(evloop_init(&el), 0);
	vm.el = el;
	assert_int_equal(vsock_init(&vm, 3, path1, &src), 0);
	sdev = last_dev;
	assert_int_equal(vsock_init(&vm, 5, path2, &dst), 0);
	ddev = last_dev;
	snap_buf_init(&out);
	err[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	snap_buf_free(&out);
	vsock_exit(src);
	vsock_exit(dst);
	evloop_exit(el);
	rmdir(dir);
	fake_ram_free();
	return 0;
}

/* The guest driver after probe: features, three queues, DRIVER_OK, n event buffers. */
static void make_running(unsigned int n)
{
	fake_dev_run(sdev, 1ull << VIRTIO_F_RING_EVENT_IDX);
	for (unsigned int q = 0; q < VSOCK_NR_VQS; q++)
		fake_queue_ready(sdev, q, FAKE_QSIZE);
	for (unsigned int i = 0; i < n; i++) {
		memset(fake_ram + (EVBUF(i) - FAKE_RAM_BASE), 0xff, 8);
		fake_offer(VSOCK_VQ_EVENT, (uint16_t)i, EVBUF(i), 8);
	}
}

static int restore(const void *data, size_t len)
{
	err[0] = '\0';
	return vsock_restore(dst, data, len, err, sizeof(err));
}

static uint16_t used_idx(unsigned int q)
{
	uint16_t *u = vm_gpa_to_hva(fake_vm, FAKE_USED(q), 4);

	return u[1];
}

/* Used element i of queue q: id and len. */
static void used_elem(unsigned int q, unsigned int i, uint32_t *id, uint32_t *len)
{
	uint32_t *e = vm_gpa_to_hva(fake_vm, FAKE_USED(q) + 4 + 8 * i, 8);

	*id = e[0];
	*len = e[1];
}

/* --- Tests -------------------------------------------------------------------------------- */

static void test_vsock_persist_layout(void **state)
{
	make_running(2);
	assert_int_equal(vsock_save(src, &out), 0);
	assert_int_equal(out.len, 12 + 56 + 3 * 40);
	assert_int_equal(snap_ld32(out.data), VSOCK_SNAP_VERSION);
	assert_int_equal(snap_ld64(out.data + 4), 3);
	assert_int_equal(snap_ld32(out.data + 12), VIRTIO_SNAP_VERSION);
	assert_int_equal(snap_ld32(out.data + 16), VIRTIO_ID_VSOCK);
}

/* After a restore, the transport reset reaches the guest through the restored event queue. */
static void test_vsock_persist_transport_reset(void **state)
{
	uint64_t cid = 0;
	uint32_t id, len;

	make_running(2);
	assert_int_equal(vsock_save(src, &out), 0);
	assert_int_equal(restore(out.data, out.len), 0);
	assert_true(virtio_dev_running(ddev));
	for (unsigned int q = 0; q < VSOCK_NR_VQS; q++)
		assert_int_equal(fake_signalled(ddev->queues[q].kick_fd), 1);
	assert_int_equal(fake_signalled(ddev->irq_fd), 0);
	/* The config's CID, which the guest reads again at the reset. */
	ddev->ops->config_read(ddev, 0, &cid, sizeof(cid));
	assert_int_equal(cid, 5);

	vsock_transport_reset(dst);
	assert_int_equal(used_idx(VSOCK_VQ_EVENT), 1);
	used_elem(VSOCK_VQ_EVENT, 0, &id, &len);
	assert_int_equal(id, 0);
	assert_int_equal(len, 4);
	assert_int_equal(snap_ld32(fake_ram + (EVBUF(0) - FAKE_RAM_BASE)),
			 VSOCK_EVENT_TRANSPORT_RESET);
	assert_int_equal(fake_signalled(ddev->irq_fd), 1);
	assert_true(ddev->interrupt_status & VIRTIO_INT_VRING);
	/* One event: the second buffer stays with the device. */
	assert_int_equal(snap_ld32(fake_ram + (EVBUF(1) - FAKE_RAM_BASE)), 0xffffffff);
}

/* No event buffer at the reset: the event waits for the driver's next one. */
static void test_vsock_persist_reset_waits_for_buffer(void **state)
{
	uint32_t id, len;

	make_running(0);
	assert_int_equal(vsock_save(src, &out), 0);
	assert_int_equal(restore(out.data, out.len), 0);
	vsock_transport_reset(dst);
	assert_int_equal(used_idx(VSOCK_VQ_EVENT), 0);
	memset(fake_ram + (EVBUF(3) - FAKE_RAM_BASE), 0xff, 8);
	fake_offer(VSOCK_VQ_EVENT, 3, EVBUF(3), 8);
	pthread_mutex_lock(&ddev->lock);
	ddev->ops->notify(ddev, VSOCK_VQ_EVENT); /* the driver's kick */
	pthread_mutex_unlock(&ddev->lock);
	assert_int_equal(used_idx(VSOCK_VQ_EVENT), 1);
	used_elem(VSOCK_VQ_EVENT, 0, &id, &len);
	assert_int_equal(id, 3);
	assert_int_equal(len, 4);
}

static void test_vsock_persist_truncated(void **state)
{
	make_running(1);
	assert_int_equal(vsock_save(src, &out), 0);
	for (size_t n = 0; n < out.len; n++) {
		assert_int_equal(restore(out.data, n), -EINVAL);
		if (!strstr(err, "truncated"))
			fail_msg("length %zu: \"%s\"", n, err);
		assert_int_equal(ddev->status, 0);
	}
}

static void test_vsock_persist_corrupt(void **state)
{
	uint8_t *copy;

	make_running(1);
	assert_int_equal(vsock_save(src, &out), 0);
	copy = malloc(out.len);
	assert_non_null(copy);

	memcpy(copy, out.data, out.len);
	snap_le32(copy, 9);
	assert_int_equal(restore(copy, out.len), -EINVAL);
	assert_string_equal(err, "vsock: state version 9 is not supported (this build reads 1)");

	memcpy(copy, out.data, out.len);
	snap_le64(copy + 4, 2);
	assert_int_equal(restore(copy, out.len), -EINVAL);
	assert_string_equal(err, "vsock: saved guest CID 2 out of range");

	memcpy(copy, out.data, out.len);
	snap_le32(copy + 12 + 56 + 2 * 40, 512); /* the event queue's size */
	assert_int_equal(restore(copy, out.len), -EINVAL);
	assert_string_equal(err, "vsock: queue 2 size 512 above the maximum 256");

	assert_int_equal(ddev->status, 0);
	assert_false(ddev->queues[2].ready);
	free(copy);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(test_vsock_persist_##name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(layout), T(transport_reset), T(reset_waits_for_buffer), T(truncated), T(corrupt),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
