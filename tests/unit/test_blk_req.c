/* Unit tests: virtio-blk request parsing (devices/blk/blk_req.c) on hand-made chains. */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "devices/blk/blk_req.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CAPACITY 2048 /* sectors: 1 MiB */

static uint8_t hdr[32], data[8192], status[4], seg[64];
static struct iovec iov[8];
static struct virtq_chain chain = { .cap = 8, .iov = iov };
static struct blk_req r;
static char err[256];

static void set_hdr(uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = { .type = htole32(type), .sector = htole64(sector) };

	memcpy(hdr, &h, sizeof(h));
}

/* Chain: out buffers (ptr, len) ..., then in buffers. */
static void build(unsigned int nr_out, unsigned int nr_in, ...)
{
	va_list ap;

	va_start(ap, nr_in);
	chain.nr_out = nr_out;
	chain.nr_in = nr_in;
	chain.out_len = chain.in_len = 0;
	for (unsigned int i = 0; i < nr_out + nr_in; i++) {
		iov[i].iov_base = va_arg(ap, void *);
		iov[i].iov_len = va_arg(ap, size_t);
		if (i < nr_out)
			chain.out_len += iov[i].iov_len;
		else
			chain.in_len += iov[i].iov_len;
	}
	va_end(ap);
}

static int parse(bool ro)
{
	err[0] = '\0';
	return blk_req_parse(&chain, CAPACITY, ro, &r, err, sizeof(err));
}

static void test_blk_req_read(void **state)
{
	set_hdr(VIRTIO_BLK_T_IN, 8);
	build(1, 2, hdr, (size_t)16, data, (size_t)4096, status, (size_t)1);
	assert_int_equal(parse(false), 0);
	assert_int_equal(r.early_status, -1);
	assert_int_equal(r.type, VIRTIO_BLK_T_IN);
	assert_int_equal(r.sector, 8);
	assert_int_equal(r.len, 4096);
	assert_int_equal(r.nr_iov, 1);
	assert_ptr_equal(r.status, status);
	assert_int_equal(blk_req_used_len(&r, true), 4097);
}

/* Status byte at the end of the data buffer; header split over two buffers. */
static void test_blk_req_status_in_data_buffer(void **state)
{
	set_hdr(VIRTIO_BLK_T_IN, 0);
	build(2, 1, hdr, (size_t)10, hdr + 10, (size_t)6, data, (size_t)513);
	assert_int_equal(parse(false), 0);
	assert_int_equal(r.early_status, -1);
	assert_int_equal(r.len, 512);
	assert_ptr_equal(r.status, data + 512);
	assert_int_equal(r.iov[0].iov_len, 512);
}

/* OUT data may start inside the header's buffer. */
static void test_blk_req_write_shared_buffer(void **state)
{
	uint8_t buf[16 + 1024];

	set_hdr(VIRTIO_BLK_T_OUT, 2);
	memcpy(buf, hdr, 16);
	build(1, 1, buf, sizeof(buf), status, (size_t)1);
	assert_int_equal(parse(false), 0);
	assert_int_equal(r.early_status, -1);
	assert_int_equal(r.len, 1024);
	assert_int_equal(r.nr_iov, 1);
	assert_ptr_equal(r.iov[0].iov_base, buf + 16);
	assert_int_equal(r.iov[0].iov_len, 1024);
}

static void test_blk_req_segments(void **state)
{
	struct virtio_blk_discard_write_zeroes s[2] = {
		{ htole64(0), htole32(8), htole32(0) },
		{ htole64(100), htole32(16), htole32(VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) },
	};

	set_hdr(VIRTIO_BLK_T_WRITE_ZEROES, 0);
	memcpy(seg, s, sizeof(s));
	build(2, 1, hdr, (size_t)16, seg, sizeof(s), status, (size_t)1);
	assert_int_equal(parse(false), 0);
	assert_int_equal(r.early_status, -1);
	assert_int_equal(r.nr_segs, 2);
	assert_int_equal(r.segs[1].sector, 100);
	assert_int_equal(r.segs[1].nr_sectors, 16);
}

struct early {
	const char *name;
	uint32_t type;
	uint64_t sector;
	size_t data_len;
	bool data_writable;
	bool ro;
	int status;
};

static void test_blk_req_early_status(void **state)
{
	static const struct early cases[] = {
		{ "read_past_end", VIRTIO_BLK_T_IN, CAPACITY - 1, 1024, true, false, VIRTIO_BLK_S_IOERR },
		{ "read_sector_overflow", VIRTIO_BLK_T_IN, UINT64_MAX, 512, true, false, VIRTIO_BLK_S_IOERR },
		{ "read_not_sectors", VIRTIO_BLK_T_IN, 0, 1000, true, false, VIRTIO_BLK_S_IOERR },
		{ "read_into_readable", VIRTIO_BLK_T_IN, 0, 512, false, false, VIRTIO_BLK_S_IOERR },
		{ "write_from_writable", VIRTIO_BLK_T_OUT, 0, 512, true, false, VIRTIO_BLK_S_IOERR },
		{ "write_read_only", VIRTIO_BLK_T_OUT, 0, 512, false, true, VIRTIO_BLK_S_IOERR },
		{ "write_no_data", VIRTIO_BLK_T_OUT, 0, 0, false, false, VIRTIO_BLK_S_IOERR },
		{ "write_last_sector_ok", VIRTIO_BLK_T_OUT, CAPACITY - 1, 512, false, false, -1 },
		{ "discard_read_only", VIRTIO_BLK_T_DISCARD, 0, 16, false, true, VIRTIO_BLK_S_IOERR },
		{ "discard_bad_len", VIRTIO_BLK_T_DISCARD, 0, 24, false, false, VIRTIO_BLK_S_IOERR },
		{ "unknown_type", 77, 0, 0, false, false, VIRTIO_BLK_S_UNSUPP },
		{ "scsi_cmd", 2, 0, 0, false, false, VIRTIO_BLK_S_UNSUPP },
		{ "flush", VIRTIO_BLK_T_FLUSH, 0, 0, false, true, -1 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct early *c = &cases[i];

		set_hdr(c->type, c->sector);
		memset(seg, 0, sizeof(seg));
		if (!c->data_len)
			build(1, 1, hdr, (size_t)16, status, (size_t)1);
		else if (c->data_writable)
			build(1, 2, hdr, (size_t)16, data, c->data_len, status, (size_t)1);
		else
			build(2, 1, hdr, (size_t)16, c->type == VIRTIO_BLK_T_DISCARD ? seg : data,
			      c->data_len, status, (size_t)1);
		print_message("%-24s\n", c->name);
		assert_int_equal(parse(c->ro), 0);
		assert_int_equal(r.early_status, c->status);
	}
}

static void test_blk_req_discard_unmap_unsupported(void **state)
{
	struct virtio_blk_discard_write_zeroes s = { 0, htole32(8),
						     htole32(VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) };

	set_hdr(VIRTIO_BLK_T_DISCARD, 0);
	memcpy(seg, &s, sizeof(s));
	build(2, 1, hdr, (size_t)16, seg, sizeof(s), status, (size_t)1);
	assert_int_equal(parse(false), 0);
	assert_int_equal(r.early_status, VIRTIO_BLK_S_UNSUPP);
}

/* No header or no status byte: not a request; the device needs a reset. */
static void test_blk_req_malformed(void **state)
{
	set_hdr(VIRTIO_BLK_T_IN, 0);
	build(1, 1, hdr, (size_t)8, status, (size_t)1);
	assert_int_equal(parse(false), -EINVAL);
	assert_non_null(strstr(err, "16-byte header"));
	build(1, 0, hdr, (size_t)16);
	assert_int_equal(parse(false), -EINVAL);
	assert_non_null(strstr(err, "no writable status byte"));
}

static void test_blk_req_get_id(void **state)
{
	set_hdr(VIRTIO_BLK_T_GET_ID, 0);
	build(1, 1, hdr, (size_t)16, data, (size_t)21);
	assert_int_equal(parse(true), 0);
	assert_int_equal(r.early_status, -1);
	assert_int_equal(r.len, 20);
	assert_ptr_equal(r.status, data + 20);
	assert_int_equal(blk_req_used_len(&r, true), 21);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blk_req_read),
		cmocka_unit_test(test_blk_req_status_in_data_buffer),
		cmocka_unit_test(test_blk_req_write_shared_buffer),
		cmocka_unit_test(test_blk_req_segments),
		cmocka_unit_test(test_blk_req_early_status),
		cmocka_unit_test(test_blk_req_discard_unmap_unsupported),
		cmocka_unit_test(test_blk_req_malformed),
		cmocka_unit_test(test_blk_req_get_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
