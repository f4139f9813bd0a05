/* Unit tests: the agent frame header and the incremental frame reader (guest-init/proto.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guest-init/proto.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct hdr_case {
	const char *name;
	struct frame_header h;
	enum frame_error want;
};

static const struct hdr_case hdr_cases[] = {
    {"ctrl", {2, FRAME_CTRL, 0, 0, 1}, FRAME_OK},
    {"ctrl_stream0", {13, FRAME_CTRL, 0, 0, 0}, FRAME_OK},
    {"ctrl_max", {FRAME_MAX_PAYLOAD, FRAME_CTRL, 0, 0, 7}, FRAME_OK},
    {"data_in", {1, FRAME_DATA, CHAN_IN, 0, 1}, FRAME_OK},
    {"data_err_max", {FRAME_MAX_PAYLOAD, FRAME_DATA, CHAN_ERR, 0, 0xffffffffu}, FRAME_OK},
    {"close_out", {0, FRAME_CLOSE, CHAN_OUT, 0, 9}, FRAME_OK},
    {"credit", {4, FRAME_CREDIT, CHAN_OUT, 0, 9}, FRAME_OK},
    {"len_over", {FRAME_MAX_PAYLOAD + 1, FRAME_DATA, 0, 0, 1}, FRAME_E_LEN},
    {"len_huge", {0xffffffffu, FRAME_CTRL, 0, 0, 1}, FRAME_E_LEN},
    {"len_over_bad_type", {FRAME_MAX_PAYLOAD + 1, 9, 0, 0, 1}, FRAME_E_LEN},
    {"type_0", {2, 0, 0, 0, 1}, FRAME_E_TYPE},
    {"type_5", {2, 5, 0, 0, 1}, FRAME_E_TYPE},
    {"type_255", {2, 255, 0, 0, 1}, FRAME_E_TYPE},
    {"type_before_flags", {2, 7, 0, 1, 1}, FRAME_E_TYPE},
    {"ctrl_len_0", {0, FRAME_CTRL, 0, 0, 1}, FRAME_E_LEN},
    {"ctrl_len_1", {1, FRAME_CTRL, 0, 0, 1}, FRAME_E_LEN},
    {"ctrl_channel_1", {2, FRAME_CTRL, 1, 0, 1}, FRAME_E_CHANNEL},
    {"ctrl_channel_2", {2, FRAME_CTRL, 2, 0, 1}, FRAME_E_CHANNEL},
    {"data_len_0", {0, FRAME_DATA, 0, 0, 1}, FRAME_E_LEN},
    {"data_channel_3", {1, FRAME_DATA, 3, 0, 1}, FRAME_E_CHANNEL},
    {"data_channel_255", {1, FRAME_DATA, 255, 0, 1}, FRAME_E_CHANNEL},
    {"close_len_1", {1, FRAME_CLOSE, 0, 0, 1}, FRAME_E_LEN},
    {"close_channel_3", {0, FRAME_CLOSE, 3, 0, 1}, FRAME_E_CHANNEL},
    {"credit_len_0", {0, FRAME_CREDIT, 1, 0, 1}, FRAME_E_LEN},
    {"credit_len_3", {3, FRAME_CREDIT, 1, 0, 1}, FRAME_E_LEN},
    {"credit_len_5", {5, FRAME_CREDIT, 1, 0, 1}, FRAME_E_LEN},
    {"flags_1", {2, FRAME_CTRL, 0, 1, 1}, FRAME_E_FLAGS},
    {"flags_high", {1, FRAME_DATA, 0, 0x8000, 1}, FRAME_E_FLAGS},
    {"channel_before_flags", {1, FRAME_DATA, 4, 1, 1}, FRAME_E_CHANNEL},
    {"data_stream0", {1, FRAME_DATA, 0, 0, 0}, FRAME_E_STREAM},
    {"close_stream0", {0, FRAME_CLOSE, 0, 0, 0}, FRAME_E_STREAM},
    {"credit_stream0", {4, FRAME_CREDIT, 0, 0, 0}, FRAME_E_STREAM},
    {"flags_before_stream", {1, FRAME_DATA, 0, 2, 0}, FRAME_E_FLAGS},
};

/* Every case: encode, decode, same fields back, the expected verdict. */
static void test_proto_header_table(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(hdr_cases); i++) {
		const struct hdr_case *c = &hdr_cases[i];
		uint8_t buf[FRAME_HEADER_SIZE];
		struct frame_header h;
		enum frame_error e;

		memset(&h, 0xa5, sizeof(h));
		frame_header_encode(&c->h, buf);
		e = frame_header_decode(buf, &h);
		print_message("%-22s -> %d (%s)\n", c->name, e, frame_error_str(e));
		assert_int_equal(e, c->want);
		/* filled whatever the verdict, so an error reply can name the stream */
		assert_int_equal(h.len, c->h.len);
		assert_int_equal(h.type, c->h.type);
		assert_int_equal(h.channel, c->h.channel);
		assert_int_equal(h.flags, c->h.flags);
		assert_int_equal(h.stream, c->h.stream);
	}
}

static void test_proto_header_little_endian(void **state)
{
	const struct frame_header h = {0x00010000, FRAME_DATA, CHAN_ERR, 0x0102, 0x0a0b0c0d};
	const uint8_t want[FRAME_HEADER_SIZE] = {0x00, 0x00, 0x01, 0x00, 2,    2,
						 0x02, 0x01, 0x0d, 0x0c, 0x0b, 0x0a};
	uint8_t buf[FRAME_HEADER_SIZE];

	frame_header_encode(&h, buf);
	assert_memory_equal(buf, want, sizeof(want));
}

static void test_proto_error_strings(void **state)
{
	const char *seen[FRAME_E_STREAM + 1];

	for (int e = FRAME_OK; e <= FRAME_E_STREAM; e++) {
		seen[e] = frame_error_str((enum frame_error)e);
		assert_non_null(seen[e]);
		assert_string_not_equal(seen[e], "unknown error");
		for (int j = 0; j < e; j++)
			assert_string_not_equal(seen[e], seen[j]);
	}
	assert_string_equal(frame_error_str((enum frame_error)99), "unknown error");
}

static void test_proto_credit(void **state)
{
	uint8_t p[4];

	frame_credit_put(p, 0x01020304);
	assert_int_equal(p[0], 4);
	assert_int_equal(p[3], 1);
	assert_int_equal(frame_credit_get(p), 0x01020304);
	frame_credit_put(p, 0xffffffffu);
	assert_int_equal(frame_credit_get(p), 0xffffffffu);
}

/* A byte stream of frames, and what the reader must make of it. */
struct want_frame {
	struct frame_header h;
	enum frame_error bad;
	uint8_t fill; /* payload byte */
};

static const struct want_frame stream_frames[] = {
    {{13, FRAME_CTRL, 0, 0, 1}, FRAME_OK, '{'},
    {{300, FRAME_DATA, CHAN_IN, 0, 1}, FRAME_OK, 0x11},
    {{0, FRAME_CLOSE, CHAN_IN, 0, 1}, FRAME_OK, 0},
    {{4, FRAME_CREDIT, CHAN_OUT, 0, 1}, FRAME_OK, 0x22},
    {{7, 9, 0, 0, 2}, FRAME_E_TYPE, 0x33}, /* bad but delimited: skipped whole */
    {{3, FRAME_CREDIT, 1, 0, 2}, FRAME_E_LEN, 0x44},
    {{1, FRAME_DATA, 0, 0, 0}, FRAME_E_STREAM, 0x55},
    {{FRAME_MAX_PAYLOAD, FRAME_DATA, CHAN_IN, 0, 3}, FRAME_OK, 0x66},
    {{0, FRAME_CLOSE, CHAN_IN, 0, 3}, FRAME_OK, 0}, /* empty frame last */
};

static uint8_t *build_stream(size_t *len)
{
	size_t n = 0;
	uint8_t *buf;

	for (size_t i = 0; i < ARRAY_SIZE(stream_frames); i++)
		n += FRAME_HEADER_SIZE + stream_frames[i].h.len;
	buf = malloc(n);
	assert_non_null(buf);
	*len = n;
	n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(stream_frames); i++) {
		const struct want_frame *f = &stream_frames[i];

		frame_header_encode(&f->h, buf + n);
		memset(buf + n + FRAME_HEADER_SIZE, f->fill, f->h.len);
		n += FRAME_HEADER_SIZE + f->h.len;
	}
	return buf;
}

static void check_frame(const struct frame_reader *r, size_t i)
{
	const struct want_frame *f = &stream_frames[i];

	assert_true(i < ARRAY_SIZE(stream_frames));
	assert_int_equal(r->bad, f->bad);
	assert_int_equal(r->fatal, FRAME_OK);
	assert_int_equal(r->h.len, f->h.len);
	assert_int_equal(r->h.type, f->h.type);
	assert_int_equal(r->h.stream, f->h.stream);
	for (uint32_t k = 0; k < f->h.len; k++)
		if (r->payload[k] != f->fill)
			fail_msg("frame %zu: payload byte %u is 0x%x, want 0x%x", i, k,
				 r->payload[k], f->fill);
}

/* Feed buf in chunks of chunk bytes (and what each call leaves); all frames come out, in order. */
static void feed_in_chunks(const uint8_t *buf, size_t len, size_t chunk)
{
	static uint8_t payload[FRAME_MAX_PAYLOAD];
	struct frame_reader r;
	size_t off = 0, frames = 0;

	frame_reader_init(&r, payload);
	while (off < len) {
		size_t end = off + chunk < len ? off + chunk : len;

		while (off < end) {
			bool ready;
			size_t used = frame_reader_feed(&r, buf + off, end - off, &ready);

			assert_true(used <= end - off);
			off += used;
			if (ready)
				check_frame(&r, frames++);
			else
				assert_int_equal(off, end); /* only a whole frame stops it early */
		}
	}
	assert_int_equal(frames, ARRAY_SIZE(stream_frames));
}

static void test_proto_reader_bytewise(void **state)
{
	size_t len;
	uint8_t *buf = build_stream(&len);

	feed_in_chunks(buf, len, 1);
	free(buf);
}

static void test_proto_reader_chunks(void **state)
{
	static const size_t sizes[] = {2, 3, 5, 11, 12, 13, 24, 100, 4096, 65535, 65548, 1u << 20};
	size_t len;
	uint8_t *buf = build_stream(&len);

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
		feed_in_chunks(buf, len, sizes[i]);
	free(buf);
}

/* A len over the limit is fatal: nothing after the header is consumed, ever. */
static void test_proto_reader_oversized_fatal(void **state)
{
	static uint8_t payload[FRAME_MAX_PAYLOAD];
	const struct frame_header ok = {2, FRAME_CTRL, 0, 0, 1};
	const struct frame_header big = {FRAME_MAX_PAYLOAD + 1, FRAME_DATA, 0, 0, 1};
	uint8_t buf[2 * FRAME_HEADER_SIZE + 2 + 10] = {0};
	struct frame_reader r;
	size_t used;
	bool ready;

	frame_header_encode(&ok, buf);
	buf[12] = '{';
	buf[13] = '}';
	frame_header_encode(&big, buf + 14);
	frame_reader_init(&r, payload);
	used = frame_reader_feed(&r, buf, sizeof(buf), &ready);
	assert_true(ready);
	assert_int_equal(used, 14);
	assert_int_equal(r.bad, FRAME_OK);
	used = frame_reader_feed(&r, buf + 14, 5, &ready); /* the bad header split in two */
	assert_int_equal(used, 5);
	assert_false(ready);
	assert_int_equal(r.fatal, FRAME_OK);
	used = frame_reader_feed(&r, buf + 19, sizeof(buf) - 19, &ready);
	assert_int_equal(used, FRAME_HEADER_SIZE - 5);
	assert_false(ready);
	assert_int_equal(r.fatal, FRAME_E_LEN);
	assert_int_equal(r.h.len, FRAME_MAX_PAYLOAD + 1);
	used = frame_reader_feed(&r, buf, sizeof(buf), &ready);
	assert_int_equal(used, 0);
	assert_false(ready);
}

/* A call with no bytes after a frame changes nothing; the next frame starts clean. */
static void test_proto_reader_empty_feed(void **state)
{
	static uint8_t payload[FRAME_MAX_PAYLOAD];
	const struct frame_header bad = {1, FRAME_DATA, 0, 1, 1}, good = {0, FRAME_CLOSE, 0, 0, 4};
	uint8_t buf[FRAME_HEADER_SIZE + 1];
	struct frame_reader r;
	bool ready;

	frame_reader_init(&r, payload);
	frame_header_encode(&bad, buf);
	buf[12] = 'x';
	assert_int_equal(frame_reader_feed(&r, buf, sizeof(buf), &ready), sizeof(buf));
	assert_true(ready);
	assert_int_equal(r.bad, FRAME_E_FLAGS);
	assert_int_equal(frame_reader_feed(&r, buf, 0, &ready), 0);
	assert_false(ready);
	frame_header_encode(&good, buf);
	assert_int_equal(frame_reader_feed(&r, buf, FRAME_HEADER_SIZE, &ready), FRAME_HEADER_SIZE);
	assert_true(ready);
	assert_int_equal(r.bad, FRAME_OK);
	assert_int_equal(r.h.stream, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_proto_header_table),
	    cmocka_unit_test(test_proto_header_little_endian),
	    cmocka_unit_test(test_proto_error_strings),
	    cmocka_unit_test(test_proto_credit),
	    cmocka_unit_test(test_proto_reader_bytewise),
	    cmocka_unit_test(test_proto_reader_chunks),
	    cmocka_unit_test(test_proto_reader_oversized_fatal),
	    cmocka_unit_test(test_proto_reader_empty_feed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
