/* Unit tests: the copy-on-write overlay format and bitmap (devices/blk/overlay.c), on temp files. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/blk/overlay.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BASE_SIZE     (1024 * 1024 + 512) /* 257 blocks, the last one partial */

static char dir[64], base_path[128], ovl_path[128];
static int base_fd = -1;
static char err[512];

/* A base image whose byte i is (i * 7) & 0xff. */
static int make_base(uint64_t size)
{
	uint8_t *buf = malloc(size);
	int fd;

	assert_non_null(buf);
	for (uint64_t i = 0; i < size; i++)
		buf[i] = (uint8_t)(i * 7);
	fd = open(base_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, size, 0), (ssize_t)size);
	free(buf);
	return fd;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/torpor-test-overlay.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(base_path, sizeof(base_path), "%s/base.img", dir);
	snprintf(ovl_path, sizeof(ovl_path), "%s/vm.ovl", dir);
	base_fd = make_base(BASE_SIZE);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	close(base_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void open_ok(struct overlay *o)
{
	int rc = overlay_open(o, ovl_path, base_fd, BASE_SIZE, false, err, sizeof(err));

	if (rc)
		print_message("overlay_open: %s\n", err);
	assert_int_equal(rc, 0);
}

/* Drop the overlay as a SIGKILL would: no persisting, no cleanup beyond the fd. */
static void crash(struct overlay *o)
{
	close(o->fd);
	free(o->bitmap);
	free(o->dirty);
	memset(o, 0, sizeof(*o));
}

static void test_overlay_header_roundtrip(void **state)
{
	struct overlay_header h, d;
	uint8_t buf[OVERLAY_HEADER_SIZE];

	overlay_header_init(&h, BASE_SIZE, 4096, 0x12345678);
	assert_int_equal(h.nr_blocks, 257);
	assert_int_equal(h.bitmap_offset, 4096);
	assert_int_equal(h.bitmap_bytes, 4096);
	assert_int_equal(h.data_offset, 8192);
	overlay_header_encode(&h, buf);
	assert_memory_equal(buf, "TORPOVL\0", 8);
	assert_int_equal(overlay_header_decode(buf, 1 << 30, &d, err, sizeof(err)), 0);
	assert_memory_equal(&h, &d, sizeof(h));
	/* A 1 TiB disk: 32 MiB of bitmap. */
	overlay_header_init(&h, 1ull << 40, 4096, 0);
	assert_int_equal(h.bitmap_bytes, 32ull << 20);
	assert_int_equal(h.data_offset, 4096 + (32ull << 20));
}

static void test_overlay_crc32_known(void **state)
{
	/* The standard check value of CRC-32/ISO-HDLC. */
	assert_int_equal(overlay_crc32(0, "123456789", 9), 0xcbf43926);
}

struct corrupt {
	const char *name;
	unsigned int off;  /* byte to change */
	uint32_t val;      /* new little-endian u32 there */
	bool fix_crc;
	uint64_t file_size;
	const char *msg;
};

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void test_overlay_header_rejects(void **state)
{
	static const struct corrupt cases[] = {
		{ "magic", 0, 0x41414141, true, 1 << 30, "bad magic" },
		{ "version", 8, 2, true, 1 << 30, "version 2" },
		{ "crc", 16, 1, false, 1 << 30, "checksum" },
		{ "block_size_odd", 12, 3000, true, 1 << 30, "power of 2" },
		{ "block_size_small", 12, 256, true, 1 << 30, "power of 2" },
		{ "block_size_huge", 12, 1u << 21, true, 1 << 30, "power of 2" },
		{ "nr_blocks", 24, 5, true, 1 << 30, "do not match" },
		{ "bitmap_misaligned", 32, 4097, true, 1 << 30, "inconsistent" },
		{ "bitmap_overlaps_header", 32, 0, true, 1 << 30, "inconsistent" },
		{ "data_inside_bitmap", 48, 4096, true, 1 << 30, "inconsistent" },
		{ "truncated", 0, 0, false, 5000, "truncated" },
	};
	struct overlay_header h, d;
	uint8_t buf[OVERLAY_HEADER_SIZE];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct corrupt *c = &cases[i];

		overlay_header_init(&h, BASE_SIZE, 4096, 1);
		overlay_header_encode(&h, buf);
		if (strcmp(c->name, "truncated"))
			put32(buf + c->off, c->val);
		if (c->fix_crc)
			put32(buf + 60, overlay_crc32(0, buf, 60));
		err[0] = '\0';
		assert_int_equal(overlay_header_decode(buf, c->file_size, &d, err, sizeof(err)),
				 -EINVAL);
		print_message("%-24s %s\n", c->name, err);
		assert_non_null(strstr(err, c->msg));
	}
}

static void test_overlay_create_and_reopen(void **state)
{
	struct overlay o;
	struct stat st;

	open_ok(&o);
	assert_int_equal(stat(ovl_path, &st), 0);
	assert_int_equal(st.st_size, 8192 + 257 * 4096);
	assert_true(st.st_blocks * 512 < 64 * 1024); /* sparse: no data blocks yet */
	assert_int_equal(o.h.disk_size, BASE_SIZE);
	for (uint64_t b = 0; b < o.h.nr_blocks; b++)
		assert_false(overlay_test(&o, b));
	overlay_close(&o);
	open_ok(&o);
	overlay_close(&o);
}

static void test_overlay_empty_file_is_formatted(void **state)
{
	struct overlay o;
	int fd = open(ovl_path, O_CREAT | O_WRONLY, 0600);

	assert_true(fd >= 0);
	close(fd);
	open_ok(&o);
	assert_int_equal(o.h.nr_blocks, 257);
	overlay_close(&o);
}

static void test_overlay_second_user_refused(void **state)
{
	struct overlay a, b;

	open_ok(&a);
	assert_int_equal(overlay_open(&b, ovl_path, base_fd, BASE_SIZE, false, err, sizeof(err)),
			 -EBUSY);
	assert_non_null(strstr(err, "in use"));
	overlay_close(&a);
}

static void test_overlay_other_base_refused(void **state)
{
	struct overlay o;
	uint8_t x = 0xee;

	open_ok(&o);
	overlay_close(&o);
	/* Same size, different content in the first 64 KiB. */
	assert_int_equal(pwrite(base_fd, &x, 1, 100), 1);
	assert_int_equal(overlay_open(&o, ovl_path, base_fd, BASE_SIZE, false, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "different base"));
	/* Another size. */
	assert_int_equal(overlay_open(&o, ovl_path, base_fd, BASE_SIZE - 512, false, err,
				      sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "different base"));
}

static void test_overlay_missing_read_only(void **state)
{
	struct overlay o;

	assert_int_equal(overlay_open(&o, ovl_path, base_fd, BASE_SIZE, true, err, sizeof(err)),
			 -ENOENT);
	assert_int_equal(access(ovl_path, F_OK), -1);
}

static void test_overlay_bits_persist_only_when_flushed(void **state)
{
	struct overlay o;

	open_ok(&o);
	overlay_set(&o, 3, 2);
	assert_true(overlay_test(&o, 3) && overlay_test(&o, 4) && !overlay_test(&o, 5));
	crash(&o); /* killed before any flush */
	open_ok(&o);
	assert_false(overlay_test(&o, 3));
	overlay_set(&o, 3, 2);
	overlay_set(&o, 256, 1);
	assert_int_equal(overlay_persist_sync(&o), 0);
	crash(&o);
	open_ok(&o);
	assert_true(overlay_test(&o, 3) && overlay_test(&o, 4) && overlay_test(&o, 256));
	assert_false(overlay_test(&o, 2) || overlay_test(&o, 5) || overlay_test(&o, 257));
	overlay_close(&o);
}

/* Bits set after a flush captured the bitmap wait for the next flush. */
static void test_overlay_flush_capture(void **state)
{
	struct overlay o;
	struct overlay_flush f;

	open_ok(&o);
	overlay_set(&o, 10, 1);
	assert_int_equal(overlay_flush_begin(&o, &f), 0);
	assert_int_equal(f.nr, 1);
	assert_int_equal(f.page[0], 0);
	overlay_set(&o, 11, 1); /* a write that completed while the flush runs */
	assert_int_equal(fdatasync(o.fd), 0);
	assert_int_equal(pwrite(o.fd, f.data, OVERLAY_PAGE, (off_t)overlay_page_pos(&o, 0)),
			 OVERLAY_PAGE);
	assert_int_equal(fdatasync(o.fd), 0);
	overlay_flush_end(&o, &f, true);
	crash(&o);
	open_ok(&o);
	assert_true(overlay_test(&o, 10));
	assert_false(overlay_test(&o, 11));
	overlay_close(&o);
}

static void test_overlay_failed_flush_retries(void **state)
{
	struct overlay o;
	struct overlay_flush f;

	open_ok(&o);
	overlay_set(&o, 7, 1);
	assert_int_equal(overlay_flush_begin(&o, &f), 0);
	assert_int_equal(f.nr, 1);
	overlay_flush_end(&o, &f, false); /* the write failed: the page is dirty again */
	assert_int_equal(overlay_flush_begin(&o, &f), 0);
	assert_int_equal(f.nr, 1);
	overlay_flush_end(&o, &f, true);
	assert_int_equal(overlay_flush_begin(&o, &f), 0);
	assert_int_equal(f.nr, 0); /* nothing left to write */
	overlay_flush_end(&o, &f, true);
	overlay_close(&o);
}

static void test_overlay_runs(void **state)
{
	struct overlay o;
	bool in;

	open_ok(&o);
	overlay_set(&o, 2, 3); /* blocks 2, 3, 4 */
	assert_int_equal(overlay_run(&o, 0, 1 << 20, &in), 2 * 4096);
	assert_false(in);
	assert_int_equal(overlay_run(&o, 2 * 4096 + 512, 1 << 20, &in), 3 * 4096 - 512);
	assert_true(in);
	assert_int_equal(overlay_run(&o, 3 * 4096, 1024, &in), 1024);
	assert_true(in);
	assert_int_equal(overlay_run(&o, 5 * 4096, 4096, &in), 4096);
	assert_false(in);
	assert_int_equal(overlay_data_pos(&o, 4096), 8192 + 4096);
	overlay_close(&o);
}

static void test_overlay_materialize(void **state)
{
	struct overlay o;
	uint8_t buf[4096];

	open_ok(&o);
	assert_int_equal(overlay_materialize(&o, base_fd, BASE_SIZE, 1), 0);
	assert_true(overlay_test(&o, 1));
	assert_int_equal(pread(o.fd, buf, 4096, (off_t)overlay_data_pos(&o, 4096)), 4096);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(buf[i], (uint8_t)((4096 + i) * 7));
	/* The last block: 512 bytes of base, then zeros. */
	assert_int_equal(overlay_materialize(&o, base_fd, BASE_SIZE, 256), 0);
	assert_int_equal(pread(o.fd, buf, 4096, (off_t)overlay_data_pos(&o, 256 * 4096)), 4096);
	assert_int_equal(buf[511], (uint8_t)((256 * 4096 + 511) * 7));
	assert_int_equal(buf[512], 0);
	assert_int_equal(buf[4095], 0);
	assert_int_equal(overlay_materialize(&o, base_fd, BASE_SIZE, 257), -EINVAL);
	overlay_close(&o);
}

static void test_overlay_bitmap_past_end_refused(void **state)
{
	struct overlay o;
	uint8_t bits = 0x02; /* bit 257: past the 257 blocks */
	int fd;

	open_ok(&o);
	overlay_close(&o);
	fd = open(ovl_path, O_RDWR);
	assert_int_equal(pwrite(fd, &bits, 1, 4096 + 32), 1);
	close(fd);
	assert_int_equal(overlay_open(&o, ovl_path, base_fd, BASE_SIZE, false, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "past the disk's end"));
}

static void test_overlay_damaged_header_refused(void **state)
{
	struct overlay o;
	uint8_t x = 0xff;
	int fd;

	open_ok(&o);
	overlay_close(&o);
	fd = open(ovl_path, O_RDWR);
	assert_int_equal(pwrite(fd, &x, 1, 20), 1);
	close(fd);
	assert_int_equal(overlay_open(&o, ovl_path, base_fd, BASE_SIZE, false, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "checksum"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overlay_header_roundtrip),
		cmocka_unit_test(test_overlay_crc32_known),
		cmocka_unit_test(test_overlay_header_rejects),
		cmocka_unit_test_setup_teardown(test_overlay_create_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlay_empty_file_is_formatted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_overlay_second_user_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlay_other_base_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlay_missing_read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlay_bits_persist_only_when_flushed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_overlay_flush_capture, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlay_failed_flush_retries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlay_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlay_materialize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlay_bitmap_past_end_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_overlay_damaged_header_refused, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
