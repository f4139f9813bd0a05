/*
 * libFuzzer target for the agent's wire input: the frame reader
 * (guest-init/proto.c), checked against a whole-buffer model, and the
 * request checking (guest-init/agent_req.c) run on every CTRL payload, with
 * base64 checked by re-encoding.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest-init/agent_req.h"
#include "guest-init/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_agent_frame: %s:%d: check failed: %s\n", __FILE__,   \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Model: the frames of buf[0..len) read all at once. */
struct model {
	size_t pos; /* where the next frame starts */
	bool fatal;
};

/* The next whole frame at m->pos (true), or false at a partial frame, the end or a fatal length. */
static bool model_next(struct model *m, const uint8_t *buf, size_t len, struct frame_header *h,
		       enum frame_error *bad)
{
	if (m->fatal || len - m->pos < FRAME_HEADER_SIZE)
		return false;
	*bad = frame_header_decode(buf + m->pos, h);
	if (h->len > FRAME_MAX_PAYLOAD) {
		m->fatal = true;
		m->pos += FRAME_HEADER_SIZE;
		return false;
	}
	if (len - m->pos - FRAME_HEADER_SIZE < h->len)
		return false;
	m->pos += FRAME_HEADER_SIZE + h->len;
	return true;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Whatever b64_decode() accepts re-encodes to the input (padding aside). */
static void check_b64(const uint8_t *p, size_t n)
{
	static uint8_t out[FRAME_MAX_PAYLOAD];
	static char enc[FRAME_MAX_PAYLOAD * 2];
	size_t e = 0, in_len = n;
	long rc = b64_decode((const char *)p, n, out, sizeof(out));

	if (rc < 0) {
		CHECK(rc == -EINVAL || rc == -E2BIG);
		return;
	}
	for (long i = 0; i < rc; i += 3) {
		uint32_t v = (uint32_t)out[i] << 16;
		long left = rc - i;

		v |= left > 1 ? (uint32_t)out[i + 1] << 8 : 0;
		v |= left > 2 ? out[i + 2] : 0;
		enc[e++] = b64_alphabet[v >> 18 & 63];
		enc[e++] = b64_alphabet[v >> 12 & 63];
		if (left > 1)
			enc[e++] = b64_alphabet[v >> 6 & 63];
		if (left > 2)
			enc[e++] = b64_alphabet[v & 63];
	}
	while (in_len && p[in_len - 1] == '=')
		in_len--;
	CHECK(e == in_len && !memcmp(enc, p, e));
}

static void check_requests(json_t *req)
{
	static const char *const file_ops[] = {"file_write", "file_read", "stat", "list", "remove"};
	struct req_restored *rs = malloc(sizeof(*rs));
	struct req_err e;
	struct req_exec x;
	struct req_file f;
	struct req_relay rl;
	struct req_ready rd;
	unsigned rows, cols;
	int sig;

	CHECK(rs);
	for (int pty = 0; pty < 2; pty++) {
		if (req_exec_parse(req, pty, &x, &e) == 0) {
			CHECK(x.argv && x.argv[0] && x.argv[0][0]);
			CHECK(!x.cwd || x.cwd[0] == '/');
			CHECK(!pty || (x.rows >= 1 && x.cols >= 1 && x.term && x.term[0]));
			for (size_t i = 0; x.env && x.env[i]; i++)
				CHECK(strchr(x.env[i], '=') && x.env[i][0] != '=');
			req_exec_free(&x);
		} else {
			CHECK(!x.argv && !x.env && e.msg[0]);
		}
	}
	if (req_signal_parse(req, &sig, &e) == 0)
		CHECK(sig >= 1 && sig <= 64);
	if (req_resize_parse(req, &rows, &cols, &e) == 0)
		CHECK(rows >= 1 && rows <= 65535 && cols >= 1 && cols <= 65535);
	for (size_t i = 0; i < sizeof(file_ops) / sizeof(file_ops[0]); i++)
		if (req_file_parse(req, file_ops[i], &f, &e) == 0)
			CHECK(f.path[0] == '/' && strlen(f.path) <= REQ_PATH_MAX &&
			      f.mode <= 07777);
	if (req_relay_parse(req, &rl, &e) == 0)
		CHECK(rl.port && rl.host);
	if (req_ready_parse(req, &rd, &e) == 0)
		CHECK(!rd.has_port || rd.port);
	if (req_restored_parse(req, rs, &e) == 0)
		CHECK(!rs->has_entropy ||
		      (rs->entropy_len >= REQ_ENTROPY_MIN && rs->entropy_len <= REQ_ENTROPY_MAX));
	free(rs);
}

static void on_frame(const struct frame_reader *r)
{
	const char *op;
	struct req_err e;
	json_t *req;

	if (r->bad)
		return;
	if (r->h.type == FRAME_DATA)
		check_b64(r->payload, r->h.len);
	if (r->h.type != FRAME_CTRL)
		return;
	req = req_load(r->payload, r->h.len, &op, &e);
	if (!req) {
		CHECK(e.msg[0]);
		return;
	}
	CHECK(op && json_is_object(req));
	check_requests(req);
	json_decref(req);
}

/*
 * Input: byte 0 picks the chunk size the bytes after it are fed in (0: all
 * at once); the rest is the byte stream from a client.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t payload[FRAME_MAX_PAYLOAD];
	struct model m = {0};
	struct frame_reader r;
	struct frame_header mh;
	enum frame_error mbad;
	size_t chunk, off = 0;

	if (size < 1)
		return 0;
	chunk = data[0] ? data[0] : size;
	data++;
	size--;
	frame_reader_init(&r, payload);
	while (off < size && !r.fatal) {
		size_t end = off + chunk < size ? off + chunk : size;

		while (off < end && !r.fatal) {
			bool ready;
			size_t used = frame_reader_feed(&r, data + off, end - off, &ready);

			CHECK(used <= end - off);
			off += used;
			if (!ready)
				continue;
			CHECK(model_next(&m, data, size, &mh, &mbad));
			CHECK(off == m.pos);
			CHECK(r.bad == mbad && r.h.len == mh.len && r.h.type == mh.type);
			CHECK(r.h.stream == mh.stream && r.h.channel == mh.channel);
			CHECK(!memcmp(r.payload, data + off - r.h.len, r.h.len));
			on_frame(&r);
		}
	}
	CHECK(!model_next(&m, data, size, &mh, &mbad)); /* no whole frame was missed */
	CHECK(!!r.fatal == m.fatal);
	if (r.fatal)
		CHECK(off == m.pos && r.h.len > FRAME_MAX_PAYLOAD);
	return 0;
}
