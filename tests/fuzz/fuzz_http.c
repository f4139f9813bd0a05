/* libFuzzer target for vmm/http.c: requests and responses, whole and in random chunk splits. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input: one control byte, four bytes of chunking seed, then the byte
 * stream a peer sends on one connection.
 *   ctl bit 0     0: requests (control socket), 1: responses (torpor CLI)
 *   ctl bits 1-2  body cap: HTTP_MAX_BODY, 0, 16, 1 MiB (the CLI's)
 * The stream is parsed the way control.c and client.c read a connection
 * (pipelined messages, EOF at the end) twice: in one piece and in chunks
 * whose sizes come from the seed. Both must give the same messages.
 */
#define HDR_BYTES  5
#define MAX_EVENTS 64

static const size_t body_caps[] = {HTTP_MAX_BODY, 0, 16, 1 << 20};

/* One outcome on the connection: a complete message, or the error that ends it. */
struct event {
	int rc;
	enum http_method method;
	char path[HTTP_MAX_PATH + 1];
	int status;
	size_t body_len;
	uint64_t body_hash;
	bool keep_alive;
};

struct run {
	struct event ev[MAX_EVENTS];
	int n;
	bool done; /* an error ended the connection */
};

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_http: %s:%d: check failed: %s\n", __FILE__,          \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static uint64_t hash(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
	return h;
}

/* What the contract in http.h promises about a finished message or an error. */
static void check_msg(const struct http_msg *m, int rc)
{
	/* Past a cap, parsing goes on (unstored) until the head ends: see over_cap(). */
	CHECK(m->head_bytes <= HTTP_MAX_HEAD || m->over_err || m->err);
	CHECK(m->url_len <= HTTP_MAX_PATH && m->url[m->url_len] == '\0');
	if (rc < 0) {
		CHECK(rc == m->err && m->errmsg);
		CHECK(rc == -EMSGSIZE || rc == -ENAMETOOLONG || rc == -E2BIG ||
		      rc == -EPROTONOSUPPORT || rc == -EINVAL || rc == -ENOMEM || rc == -EPIPE);
		CHECK(http_error_status(rc) >= 400 && http_error_status(rc) <= 505);
		return;
	}
	CHECK(m->complete && !m->err && !m->over_err);
	CHECK(m->body_len <= m->body_max);
	CHECK(!m->body_len || (m->body && m->body[m->body_len] == '\0'));
	if (m->parser.type == HTTP_REQUEST) {
		size_t plen = strnlen(m->path, sizeof(m->path));

		CHECK(plen >= 1 && plen <= HTTP_MAX_PATH);
		CHECK(memmem(m->url, m->url_len, m->path, plen) || !strcmp(m->path, "/"));
	} else {
		CHECK(m->status >= 0 && m->status <= 999);
		CHECK(http_reason(m->status) != NULL);
	}
}

static void record(struct run *r, const struct http_msg *m, int rc)
{
	struct event *e;

	check_msg(m, rc);
	if (r->n == MAX_EVENTS) {
		r->done = true;
		return;
	}
	e = &r->ev[r->n++];
	memset(e, 0, sizeof(*e));
	e->rc = rc;
	if (rc < 0) {
		r->done = true;
		return;
	}
	e->method = m->method;
	memcpy(e->path, m->path, sizeof(e->path));
	e->status = m->status;
	e->body_len = m->body_len;
	e->body_hash = hash(m->body, m->body_len);
	e->keep_alive = m->keep_alive;
}

/*
 * Feed one read()'s worth, like control.c's conn_process(): after each
 * complete message reset and go on with the bytes it did not use. The bytes
 * live in their own exact-size allocation so ASan sees any over-read.
 */
static void feed(struct run *r, struct http_msg *m, const uint8_t *data, size_t len)
{
	char *buf = malloc(len ? len : 1);
	size_t off = 0;

	CHECK(buf);
	memcpy(buf, data, len);
	while (!r->done && off < len) {
		size_t used = 0;
		int rc = http_msg_feed(m, buf + off, len - off, &used);

		CHECK(used <= len - off);
		off += used;
		if (rc == 0) {
			CHECK(off == len);
			break;
		}
		record(r, m, rc);
		/* Done or failed: the message stays so, and takes nothing more. */
		CHECK(http_msg_feed(m, buf + off, len - off, &used) == rc && used == 0);
		http_msg_reset(m);
	}
	free(buf);
}

/* The peer closed: len 0, like client.c's recv_response() at EOF. */
static void feed_eof(struct run *r, struct http_msg *m)
{
	int rc;

	if (r->done)
		return;
	rc = http_msg_feed(m, NULL, 0, NULL);
	CHECK(rc != 0);
	record(r, m, rc);
}

static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* A quarter single bytes, an eighth up to 4 KiB, the rest up to 32 bytes. */
static size_t chunk_size(uint32_t x)
{
	if ((x & 3) == 0)
		return 1;
	if ((x & 7) == 1)
		return (x >> 8) % 4096 + 1;
	return (x >> 8) % 32 + 1;
}

static void parse_stream(struct run *r, enum http_parser_type type, size_t body_max,
			 const uint8_t *data, size_t len, uint32_t seed)
{
	struct http_msg m;
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	http_msg_init(&m, type, body_max);
	if (!seed) {
		feed(r, &m, data, len);
	} else {
		while (off < len && !r->done) {
			size_t n = chunk_size(next_rand(&seed));

			if (n > len - off)
				n = len - off;
			feed(r, &m, data + off, n);
			off += n;
		}
	}
	feed_eof(r, &m);
	http_msg_free(&m);
}

static void compare(const struct run *a, const struct run *b)
{
	CHECK(a->n == b->n);
	for (int i = 0; i < a->n; i++) {
		const struct event *x = &a->ev[i], *y = &b->ev[i];

		if (x->rc != y->rc)
			fprintf(stderr, "fuzz_http: message %d: rc %d in one piece, %d in chunks\n",
				i, x->rc, y->rc);
		CHECK(x->rc == y->rc);
		CHECK(x->method == y->method);
		CHECK(!strcmp(x->path, y->path));
		CHECK(x->status == y->status);
		CHECK(x->body_len == y->body_len && x->body_hash == y->body_hash);
		CHECK(x->keep_alive == y->keep_alive);
	}
}

/* What the writers produce, the parser must read back unchanged. */
static void check_writers(const struct http_msg *m)
{
	bool text_body = m->body_len && strlen(m->body) == m->body_len;
	const char *body = text_body ? m->body : NULL;
	struct http_msg back;
	size_t len, used;
	char *out;
	int rc;

	if (m->parser.type == HTTP_REQUEST) {
		if (m->method == HTTP_CONNECT) /* its target is host:port, not a path */
			return;
		out = http_request_format(http_method_str(m->method), m->path, body, &len);
		http_msg_init(&back, HTTP_REQUEST, HTTP_MAX_BODY);
	} else {
		if (m->status < 100 || m->status > 599)
			return;
		out = http_response_format(m->status, body, true, &len);
		http_msg_init(&back, HTTP_RESPONSE, 1 << 20);
	}
	CHECK(out);
	rc = http_msg_feed(&back, out, len, &used);
	if (rc != 1)
		fprintf(stderr, "fuzz_http: writer output not read back (rc %d: %s):\n%.*s\n", rc,
			back.errmsg ? back.errmsg : "incomplete", (int)len, out);
	CHECK(rc == 1 && used == len);
	if (m->parser.type == HTTP_REQUEST) {
		CHECK(back.method == m->method);
		CHECK(!strcmp(back.path, m->path));
	} else {
		CHECK(back.status == m->status);
	}
	/* 1xx, 204 and 304 responses carry no body. */
	if (m->parser.type == HTTP_RESPONSE &&
	    (m->status < 200 || m->status == 204 || m->status == 304))
		body = NULL;
	CHECK(back.body_len == (body ? m->body_len : 0));
	CHECK(!body || !memcmp(back.body, body, m->body_len));
	http_msg_free(&back);
	free(out);
}

/* Parse the first message of the stream again and write it back out. */
static void roundtrip_first(enum http_parser_type type, size_t body_max, const uint8_t *data,
			    size_t len)
{
	char *buf = malloc(len ? len : 1);
	struct http_msg m;

	CHECK(buf);
	memcpy(buf, data, len);
	http_msg_init(&m, type, body_max);
	if (http_msg_feed(&m, buf, len, NULL) == 1)
		check_writers(&m);
	http_msg_free(&m);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run whole, chunked;
	enum http_parser_type type;
	size_t body_max;
	uint32_t seed;

	if (size < HDR_BYTES)
		return 0;
	type = data[0] & 1 ? HTTP_RESPONSE : HTTP_REQUEST;
	body_max = body_caps[(data[0] >> 1) & 3];
	memcpy(&seed, data + 1, sizeof(seed));
	data += HDR_BYTES;
	size -= HDR_BYTES;

	parse_stream(&whole, type, body_max, data, size, 0);
	parse_stream(&chunked, type, body_max, data, size, seed ? seed : 1);
	compare(&whole, &chunked);
	roundtrip_first(type, body_max, data, size);
	return 0;
}
