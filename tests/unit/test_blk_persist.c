/*
 * Unit tests: virtio-blk snapshot state (devices/blk/blk_persist.c) over fake
 * guest memory and real files; the io_uring engine is stubbed (the save's
 * quiesce step).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/blk/blk.h"
#include "devices/blk/blk_priv.h"
#include "fake_virtio.h"
#include "log.h"
#include "snapshot/buf.h"

#define CAPACITY 2048 /* sectors: 1 MiB */
#define F_FLUSH	 (1ull << VIRTIO_BLK_F_FLUSH)

/* --- The I/O engine, stubbed ---------------------------------------------------------------- */

static int quiesces, quiesce_rc;

int blk_io_quiesce(struct blk *b)
{
	quiesces++;
	return quiesce_rc;
}

/* --- Fixture ------------------------------------------------------------------------------ */

static int activations;

static int fake_activate(struct virtio_dev *d)
{
	activations++;
	return 0;
}

static const struct virtio_dev_ops ops = {
    .name = "blk",
    .device_id = VIRTIO_ID_BLOCK,
    .nr_queues = 1,
    .queue_max = BLK_QUEUE_MAX,
    .activate = fake_activate,
};

static char dir[64], image[128], ovl_path[128];
static struct blk *src, *dst;
static struct snap_buf out;
static char err[256];

static struct blk *blk_new(const char *serial, bool ro)
{
	struct blk *b = calloc(1, sizeof(*b));

	assert_non_null(b);
	fake_dev_init(&b->vdev, &ops, F_FLUSH);
	snprintf(b->name, sizeof(b->name), "vda");
	snprintf(b->path, sizeof(b->path), "%s", image);
	b->fd = open(image, ro ? O_RDONLY : O_RDWR);
	assert_true(b->fd >= 0);
	b->ovl.fd = -1;
	b->size = CAPACITY * 512ull;
	b->capacity = CAPACITY;
	b->read_only = ro;
	memcpy(b->serial, serial, strlen(serial));
	return b;
}

static void blk_free(struct blk *b)
{
	if (b->has_overlay)
		overlay_close(&b->ovl);
	close(b->fd);
	fake_dev_exit(&b->vdev);
	free(b);
}

static int setup(void **state)
{
	int fd;

	log_level = LOG_ERR;
	fake_ram_init();
	snprintf(dir, sizeof(dir), "/tmp/torpor-blk-persist-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(image, sizeof(image), "%s/disk.img", dir);
	snprintf(ovl_path, sizeof(ovl_path), "%s/disk.ovl", dir);
	fd = open(image, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, CAPACITY * 512), 0);
	close(fd);
	src = blk_new("disk-1", false);
	dst = blk_new("disk-1", false);
	snap_buf_init(&out);
	quiesces = quiesce_rc = activations = 0;
	err[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	snap_buf_free(&out);
	blk_free(src);
	blk_free(dst);
	unlink(ovl_path);
	unlink(image);
	rmdir(dir);
	fake_ram_free();
	return 0;
}

static void make_running(struct blk *b)
{
	fake_dev_run(&b->vdev, F_FLUSH);
	fake_queue_ready(&b->vdev, 0, FAKE_QSIZE);
}

static int restore(struct blk *b, const void *data, size_t len)
{
	err[0] = '\0';
	return blk_restore(b, data, len, err, sizeof(err));
}

/* --- Tests -------------------------------------------------------------------------------- */

static void test_blk_persist_layout(void **state)
{
	make_running(src);
	assert_int_equal(blk_save(src, &out), 0);
	assert_int_equal(quiesces, 1);
	assert_int_equal(out.len, 40 + 56 + 40);
	assert_int_equal(snap_ld32(out.data), BLK_SNAP_VERSION);
	assert_int_equal(snap_ld64(out.data + 4), CAPACITY);
	assert_int_equal(snap_ld32(out.data + 12), 0);
	assert_int_equal(snap_ld32(out.data + 16), 512);
	assert_memory_equal(out.data + 20, "disk-1\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
	assert_int_equal(snap_ld32(out.data + 40), VIRTIO_SNAP_VERSION);
}

static void test_blk_persist_round_trip(void **state)
{
	make_running(src);
	src->vdev.queues[0].vq.last_avail = 9;
	src->vdev.queues[0].vq.used_idx = 9;
	assert_int_equal(blk_save(src, &out), 0);
	assert_int_equal(restore(dst, out.data, out.len), 0);
	assert_true(virtio_dev_running(&dst->vdev));
	assert_int_equal(activations, 1);
	assert_int_equal(dst->vdev.queues[0].vq.last_avail, 9);
	assert_int_equal(dst->vdev.queues[0].vq.used_idx, 9);
	assert_int_equal(fake_signalled(dst->vdev.queues[0].kick_fd), 1);
}

/* The save fails when in-flight I/O cannot be finished or the disk cannot be flushed. */
static void test_blk_persist_save_failures(void **state)
{
	int p[2];

	quiesce_rc = -EIO;
	assert_int_equal(blk_save(src, &out), -EIO);
	assert_int_equal(out.len, 0);
	quiesce_rc = 0;
	assert_int_equal(pipe(p), 0);
	close(src->fd);
	src->fd = p[0]; /* fdatasync refuses a pipe */
	assert_int_equal(blk_save(src, &out), -EINVAL);
	assert_int_equal(out.len, 0);
	close(p[1]);
}

/* A read-only disk is not flushed (its fd could not be). */
static void test_blk_persist_read_only(void **state)
{
	struct blk *ro = blk_new("disk-1", true), *ro2;

	close(ro->fd);
	ro->fd = open("/dev/null", O_RDONLY);
	assert_int_equal(blk_save(ro, &out), 0);
	assert_int_equal(snap_ld32(out.data + 12), 1);
	assert_int_equal(restore(dst, out.data, out.len), -EINVAL);
	assert_string_equal(err, "blk vda: the disk is read-write, the snapshot's was read-only");
	ro2 = blk_new("disk-1", true);
	assert_int_equal(restore(ro2, out.data, out.len), 0);
	blk_free(ro2);
	blk_free(ro);
}

/* With an overlay, the save makes the bitmap of completed writes durable. */
static void test_blk_persist_overlay_flushed(void **state)
{
	uint8_t bit = 0;
	int fd;

	assert_int_equal(
	    overlay_open(&src->ovl, ovl_path, src->fd, src->size, false, err, sizeof(err)), 0);
	src->has_overlay = true;
	overlay_set(&src->ovl, 3, 1);
	assert_int_equal(src->ovl.dirty[0], 1);
	assert_int_equal(blk_save(src, &out), 0);
	assert_int_equal(src->ovl.dirty[0], 0);
	assert_int_equal(snap_ld32(out.data + 12), 2);
	assert_int_equal(snap_ld32(out.data + 16), 4096);
	fd = open(ovl_path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &bit, 1, src->ovl.h.bitmap_offset), 1);
	assert_int_equal(bit, 1u << 3);
	close(fd);
	/* Restored without an overlay: accepted (an image launched with a new overlay). */
	assert_int_equal(restore(dst, out.data, out.len), 0);
}

static void test_blk_persist_identity(void **state)
{
	struct blk *other;
	char want[256];

	assert_int_equal(blk_save(src, &out), 0);

	dst->capacity = CAPACITY * 2;
	assert_int_equal(restore(dst, out.data, out.len), -EINVAL);
	snprintf(want, sizeof(want),
		 "blk vda: %s has 4096 sectors, the snapshot's disk had 2048 (another image?)",
		 image);
	assert_string_equal(err, want);
	dst->capacity = CAPACITY;

	other = blk_new("disk-2\x01", false);
	assert_int_equal(restore(other, out.data, out.len), -EINVAL);
	assert_string_equal(err, "blk vda: serial \"disk-2?\" differs from the snapshot's "
				 "\"disk-1\" (disks in another order?)");
	assert_int_equal(other->vdev.status, 0);
	blk_free(other);
}

static void test_blk_persist_truncated(void **state)
{
	make_running(src);
	assert_int_equal(blk_save(src, &out), 0);
	for (size_t n = 0; n < out.len; n++) {
		assert_int_equal(restore(dst, out.data, n), -EINVAL);
		if (!strstr(err, "truncated") || strncmp(err, "blk vda: ", 9))
			fail_msg("length %zu: \"%s\"", n, err);
		assert_int_equal(dst->vdev.status, 0);
	}
	assert_int_equal(activations, 0);
}

static void test_blk_persist_corrupt(void **state)
{
	uint8_t *copy;

	make_running(src);
	assert_int_equal(blk_save(src, &out), 0);
	copy = malloc(out.len + 1);
	assert_non_null(copy);

	memcpy(copy, out.data, out.len);
	snap_le32(copy, 2);
	assert_int_equal(restore(dst, copy, out.len), -EINVAL);
	assert_string_equal(err, "blk vda: state version 2 is not supported (this build reads 1)");

	memcpy(copy, out.data, out.len);
	snap_le32(copy + 12, 4);
	assert_int_equal(restore(dst, copy, out.len), -EINVAL);
	assert_string_equal(err, "blk vda: unknown flags 0x4");

	memcpy(copy, out.data, out.len);
	snap_le32(copy + 16, 768);
	assert_int_equal(restore(dst, copy, out.len), -EINVAL);
	assert_string_equal(err, "blk vda: bad block size 768");

	memcpy(copy, out.data, out.len);
	snap_le32(copy + 40 + 56, 4096);
	assert_int_equal(restore(dst, copy, out.len), -EINVAL);
	assert_string_equal(err, "blk vda: queue 0 size 4096 above the maximum 256");

	memcpy(copy, out.data, out.len);
	copy[out.len] = 0;
	assert_int_equal(restore(dst, copy, out.len + 1), -EINVAL);
	assert_string_equal(err, "blk vda: 1 unexpected bytes after the transport state");

	assert_int_equal(dst->vdev.status, 0);
	assert_int_equal(activations, 0);
	free(copy);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(test_blk_persist_##name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(layout),		T(round_trip), T(save_failures), T(read_only),
	    T(overlay_flushed), T(identity),   T(truncated),	 T(corrupt),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
