/* Unit tests: virtio-net snapshot state (devices/net/net_persist.c) over fake guest memory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/net/net.h"
#include "devices/net/net_priv.h"
#include "fake_virtio.h"
#include "log.h"
#include "snapshot/buf.h"

#define F_MAC (1ull << VIRTIO_NET_F_MAC)

static const uint8_t MAC_A[6] = {0x02, 0, 0, 0, 0, 0xaa};
static const uint8_t MAC_B[6] = {0x02, 0, 0, 0, 0, 0xbb};

static int activations;

static int fake_activate(struct virtio_dev *d)
{
	activations++;
	return 0;
}

static const struct virtio_dev_ops ops = {
    .name = "net",
    .device_id = VIRTIO_ID_NET,
    .nr_queues = 2,
    .queue_max = NET_QUEUE_MAX,
    .activate = fake_activate,
};

static struct net *src, *dst;
static struct snap_buf out;
static char err[256];

static struct net *net_new(const uint8_t mac[6], bool from_config)
{
	struct net *n = calloc(1, sizeof(*n));

	assert_non_null(n);
	fake_dev_init(&n->vdev, &ops, F_MAC);
	memcpy(n->config.mac, mac, 6);
	n->mac_from_config = from_config;
	return n;
}

static void net_free(struct net *n)
{
	fake_dev_exit(&n->vdev);
	free(n);
}

static int setup(void **state)
{
	log_level = LOG_ERR;
	fake_ram_init();
	src = net_new(MAC_A, false);
	dst = net_new(MAC_B, false);
	snap_buf_init(&out);
	activations = 0;
	err[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	snap_buf_free(&out);
	net_free(src);
	net_free(dst);
	fake_ram_free();
	return 0;
}

static void make_running(void)
{
	fake_dev_run(&src->vdev, F_MAC);
	fake_queue_ready(&src->vdev, NET_VQ_RX, FAKE_QSIZE);
	fake_queue_ready(&src->vdev, NET_VQ_TX, FAKE_QSIZE);
}

static int restore(struct net *n, const void *data, size_t len)
{
	err[0] = '\0';
	return net_restore(n, data, len, err, sizeof(err));
}

static void test_net_persist_layout(void **state)
{
	make_running();
	assert_int_equal(net_save(src, &out), 0);
	assert_int_equal(out.len, 10 + 56 + 2 * 40);
	assert_int_equal(snap_ld32(out.data), NET_SNAP_VERSION);
	assert_memory_equal(out.data + 4, MAC_A, 6);
	assert_int_equal(snap_ld32(out.data + 10), VIRTIO_SNAP_VERSION);
	assert_int_equal(snap_ld32(out.data + 14), VIRTIO_ID_NET);
}

/* Without a MAC in the config, the guest's MAC comes back. */
static void test_net_persist_mac_restored(void **state)
{
	make_running();
	assert_int_equal(net_save(src, &out), 0);
	assert_int_equal(restore(dst, out.data, out.len), 0);
	assert_memory_equal(dst->config.mac, MAC_A, 6);
	assert_true(virtio_dev_running(&dst->vdev));
	assert_int_equal(activations, 1);
}

/* With a MAC in the config, config space shows it (the guest keeps its own until re-probed). */
static void test_net_persist_mac_from_config(void **state)
{
	make_running();
	assert_int_equal(net_save(src, &out), 0);
	dst->mac_from_config = true;
	assert_int_equal(restore(dst, out.data, out.len), 0);
	assert_memory_equal(dst->config.mac, MAC_B, 6);
}

/* A held RX buffer and a TX packet the TAP did not take are popped again after a restore. */
static void test_net_persist_held_chains(void **state)
{
	struct iovec iov[FAKE_QSIZE];
	struct virtq_chain c = {.cap = FAKE_QSIZE, .iov = iov};

	make_running();
	fake_offer(NET_VQ_RX, 1, FAKE_RAM_BASE + 0xc000, 2048);
	fake_offer(NET_VQ_TX, 2, FAKE_RAM_BASE + 0xd000, 64);
	assert_int_equal(virtio_queue_pop(&src->vdev, NET_VQ_RX, &c), 1);
	assert_int_equal(virtio_queue_pop(&src->vdev, NET_VQ_TX, &c), 1);
	src->rx_have = true;
	src->tx_blocked = true;
	assert_int_equal(net_save(src, &out), 0);
	/* The live device keeps them. */
	assert_true(src->rx_have);
	assert_true(src->tx_blocked);
	assert_int_equal(src->vdev.queues[NET_VQ_RX].vq.last_avail, 1);
	assert_int_equal(src->vdev.queues[NET_VQ_TX].vq.last_avail, 1);

	assert_int_equal(restore(dst, out.data, out.len), 0);
	assert_int_equal(virtio_queue_pop(&dst->vdev, NET_VQ_RX, &c), 1);
	assert_int_equal(c.head, 1);
	assert_int_equal(virtio_queue_pop(&dst->vdev, NET_VQ_TX, &c), 1);
	assert_int_equal(c.head, 2);
	/* Both queues are kicked, so the device looks at them when the I/O loop runs. */
	assert_int_equal(fake_signalled(dst->vdev.queues[NET_VQ_RX].kick_fd), 1);
	assert_int_equal(fake_signalled(dst->vdev.queues[NET_VQ_TX].kick_fd), 1);
}

static void test_net_persist_truncated(void **state)
{
	make_running();
	assert_int_equal(net_save(src, &out), 0);
	for (size_t n = 0; n < out.len; n++) {
		assert_int_equal(restore(dst, out.data, n), -EINVAL);
		if (!strstr(err, "truncated"))
			fail_msg("length %zu: \"%s\"", n, err);
		assert_int_equal(dst->vdev.status, 0);
		assert_memory_equal(dst->config.mac, MAC_B, 6);
	}
}

static void test_net_persist_corrupt(void **state)
{
	uint8_t *copy;

	make_running();
	assert_int_equal(net_save(src, &out), 0);
	copy = malloc(out.len);
	assert_non_null(copy);

	memcpy(copy, out.data, out.len);
	snap_le32(copy, 0);
	assert_int_equal(restore(dst, copy, out.len), -EINVAL);
	assert_string_equal(err, "net: state version 0 is not supported (this build reads 1)");

	memcpy(copy, out.data, out.len);
	copy[4] |= 1;
	assert_int_equal(restore(dst, copy, out.len), -EINVAL);
	assert_string_equal(err, "net: saved MAC 03:00:00:00:00:aa is not a unicast address");

	memcpy(copy, out.data, out.len);
	memset(copy + 4, 0, 6);
	assert_int_equal(restore(dst, copy, out.len), -EINVAL);
	assert_string_equal(err, "net: saved MAC 00:00:00:00:00:00 is not a unicast address");

	memcpy(copy, out.data, out.len);
	snap_le32(copy + 10 + 56 + 40, 4096); /* the TX queue's size */
	assert_int_equal(restore(dst, copy, out.len), -EINVAL);
	assert_string_equal(err, "net: queue 1 size 4096 above the maximum 256");

	assert_int_equal(dst->vdev.status, 0);
	assert_memory_equal(dst->config.mac, MAC_B, 6);
	assert_int_equal(activations, 0);
	free(copy);
}

/* The new TAP without offloads, a driver that negotiated them: refused. */
static void test_net_persist_offload_gone(void **state)
{
	fake_dev_run(&src->vdev, F_MAC | (1ull << VIRTIO_NET_F_GUEST_CSUM));
	src->vdev.host_features |= 1ull << VIRTIO_NET_F_GUEST_CSUM;
	assert_int_equal(net_save(src, &out), 0);
	assert_int_equal(restore(dst, out.data, out.len), -EINVAL);
	assert_string_equal(err, "net: the driver uses features 0x2 this device does not offer "
				 "(it offers 0x130000020: configured differently from the "
				 "snapshot's)");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(test_net_persist_##name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(layout),	  T(mac_restored), T(mac_from_config), T(held_chains),
	    T(truncated), T(corrupt),	   T(offload_gone),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
