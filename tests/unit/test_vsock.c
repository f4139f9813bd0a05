/* Unit tests for devices/vsock: packet parsing, the connection state machine, credit, CONNECT
 * lines. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "devices/vsock/core.h"
#include "devices/vsock/line.h"
#include "devices/vsock/packet.h"
#include "log.h"

#define CID	3u
#define RXBUF	4096u /* payload room of the rx buffers the fake guest posts */
#define MAXHOST 2048

/* --- a fake host side --- */

struct fhost {
	uint32_t port;
	struct vsock_conn *conn;
	uint8_t *in; /* bytes the host offers the guest */
	size_t in_len, in_off;
	bool in_eof;
	int recv_err;
	uint8_t *out; /* bytes the host received */
	size_t out_len;
	size_t send_room; /* bytes send() takes before -EAGAIN */
	int send_err;
	bool shut_rd, shut_wr, established, released;
	int release_err;
};

static struct {
	struct vsock_core *core;
	struct fhost *hosts[MAXHOST];
	unsigned int nr_hosts;
	int connect_rc;
	int established_rc;
	uint32_t guest_buf_alloc, guest_fwd_cnt;
} T;

static struct fhost *fhost_new(void)
{
	struct fhost *fh = calloc(1, sizeof(*fh));

	assert_non_null(fh);
	fh->out = malloc(4u << 20);
	assert_non_null(fh->out);
	fh->send_room = SIZE_MAX;
	assert_true(T.nr_hosts < MAXHOST);
	T.hosts[T.nr_hosts++] = fh;
	return fh;
}

/* Give the host len bytes of pattern to send to the guest. */
static void fhost_offer(struct fhost *fh, size_t len, uint8_t seed)
{
	fh->in = realloc(fh->in, fh->in_len + len);
	assert_non_null(fh->in);
	for (size_t i = 0; i < len; i++)
		fh->in[fh->in_len + i] = (uint8_t)(seed + (fh->in_len + i) * 7);
	fh->in_len += len;
}

static int op_connect(void *opaque, struct vsock_conn *c, uint32_t port, void **host)
{
	struct fhost *fh;

	if (T.connect_rc < 0)
		return T.connect_rc;
	fh = fhost_new();
	fh->port = port;
	fh->conn = c;
	*host = fh;
	return 0;
}

static int op_established(void *opaque, void *host, struct vsock_conn *c)
{
	struct fhost *fh = host;

	fh->established = true;
	return T.established_rc;
}

static ssize_t op_recv(void *opaque, void *host, const struct iovec *iov, int n, bool *drained)
{
	struct fhost *fh = host;
	size_t want = vsock_iov_len(iov, n), got;

	assert_false(fh->released);
	if (fh->recv_err)
		return fh->recv_err;
	if (fh->in_off == fh->in_len)
		return fh->in_eof ? 0 : -EAGAIN;
	got = fh->in_len - fh->in_off < want ? fh->in_len - fh->in_off : want;
	vsock_iov_write(iov, n, 0, fh->in + fh->in_off, got);
	fh->in_off += got;
	*drained = got < want && !fh->in_eof;
	return (ssize_t)got;
}

static ssize_t op_send(void *opaque, void *host, const struct iovec *iov, int n)
{
	struct fhost *fh = host;
	size_t len = vsock_iov_len(iov, n);

	assert_false(fh->released);
	assert_false(fh->shut_wr);
	if (fh->send_err)
		return fh->send_err;
	if (len > fh->send_room)
		len = fh->send_room;
	if (!len)
		return -EAGAIN;
	assert_true(fh->out_len + len <= (4u << 20));
	vsock_iov_read(iov, n, 0, fh->out + fh->out_len, len);
	fh->out_len += len;
	fh->send_room -= len;
	return (ssize_t)len;
}

static void op_shutdown(void *opaque, void *host, int how)
{
	struct fhost *fh = host;

	assert_false(fh->released);
	if (how == SHUT_RD)
		fh->shut_rd = true;
	else if (how == SHUT_WR)
		fh->shut_wr = true;
}

static void op_release(void *opaque, void *host, int err)
{
	struct fhost *fh = host;

	assert_false(fh->released);
	fh->released = true;
	fh->release_err = err;
	fh->conn = NULL;
}

static const struct vsock_host_ops fake_ops = {
    .connect = op_connect,
    .established = op_established,
    .recv = op_recv,
    .send = op_send,
    .shutdown = op_shutdown,
    .release = op_release,
};

static int setup(void **state)
{
	memset(&T, 0, sizeof(T));
	T.guest_buf_alloc = 256u << 10;
	assert_int_equal(vsock_core_init(CID, &fake_ops, NULL, &T.core), 0);
	return 0;
}

static int teardown(void **state)
{
	vsock_core_exit(T.core);
	for (unsigned int i = 0; i < T.nr_hosts; i++) {
		free(T.hosts[i]->in);
		free(T.hosts[i]->out);
		free(T.hosts[i]);
	}
	return 0;
}

/* --- the fake guest --- */

static struct vsock_hdr ghdr(uint16_t op, uint32_t gport, uint32_t hport)
{
	return (struct vsock_hdr){
	    .src_cid = CID,
	    .dst_cid = VSOCK_CID_HOST,
	    .src_port = gport,
	    .dst_port = hport,
	    .type = VSOCK_TYPE_STREAM,
	    .op = op,
	    .buf_alloc = T.guest_buf_alloc,
	    .fwd_cnt = T.guest_fwd_cnt,
	};
}

/* Queue header h and data[0..dlen) on tx, split in two segments at split (header+data offsets). */
static void tx_raw_split(const struct vsock_hdr *h, const void *data, size_t dlen, size_t split)
{
	size_t total = VSOCK_HDR_SIZE + dlen;
	uint8_t *buf = malloc(total);
	struct iovec iov[2];

	assert_non_null(buf);
	vsock_hdr_encode(h, buf);
	if (dlen)
		memcpy(buf + VSOCK_HDR_SIZE, data, dlen);
	if (split > total)
		split = total;
	iov[0] = (struct iovec){buf, split};
	iov[1] = (struct iovec){buf + split, total - split};
	vsock_core_tx(T.core, iov, split == total ? 1 : 2);
	free(buf);
}

static void tx_raw(const struct vsock_hdr *h, const void *data, size_t dlen)
{
	tx_raw_split(h, data, dlen, VSOCK_HDR_SIZE);
}

static void tx(uint16_t op, uint32_t gport, uint32_t hport, uint32_t flags)
{
	struct vsock_hdr h = ghdr(op, gport, hport);

	h.flags = flags;
	tx_raw(&h, NULL, 0);
}

static void tx_rw(uint32_t gport, uint32_t hport, const void *data, uint32_t len)
{
	struct vsock_hdr h = ghdr(VSOCK_OP_RW, gport, hport);

	h.len = len;
	tx_raw(&h, data, len);
}

/* Post one rx buffer (a header descriptor and a room-byte one, like Linux); decode the packet. */
static int rx_room(struct vsock_hdr *h, uint8_t *data, size_t room)
{
	uint8_t raw[VSOCK_HDR_SIZE];
	uint8_t *payload = malloc(room ? room : 1);
	struct iovec iov[2] = {{raw, sizeof(raw)}, {payload, room}};
	int w;

	assert_non_null(payload);
	memset(h, 0, sizeof(*h));
	w = vsock_core_rx(T.core, iov, room ? 2 : 1);
	if (w > 0) {
		assert_true(w >= (int)VSOCK_HDR_SIZE);
		vsock_hdr_decode(raw, h);
		assert_int_equal(h->len, w - VSOCK_HDR_SIZE);
		assert_int_equal(h->src_cid == VSOCK_CID_HOST || h->op == VSOCK_OP_RST, 1);
		assert_int_equal(h->dst_cid, CID);
		assert_int_equal(h->type, VSOCK_TYPE_STREAM);
		if (data)
			memcpy(data, payload, h->len);
	}
	free(payload);
	return w;
}

static int rx(struct vsock_hdr *h, uint8_t *data)
{
	return rx_room(h, data, RXBUF);
}

/* The next packet must be op between these ports; returns its header. */
static struct vsock_hdr rx_expect(uint16_t op, uint32_t gport, uint32_t hport)
{
	struct vsock_hdr h;
	int w = rx(&h, NULL);

	if (w <= 0 || h.op != op)
		fail_msg("expected %s, got %s (rx %d)", vsock_op_name(op),
			 w > 0 ? vsock_op_name(h.op) : "nothing", w);
	assert_int_equal(h.dst_port, gport);
	assert_int_equal(h.src_port, hport);
	return h;
}

static void rx_none(void)
{
	struct vsock_hdr h;
	int w = rx(&h, NULL);

	if (w != 0)
		fail_msg("expected no packet, got %s", vsock_op_name(h.op));
	assert_false(vsock_core_rx_pending(T.core));
}

/* Guest port gport connects to host port hport; returns the host's end. */
static struct fhost *guest_connect(uint32_t gport, uint32_t hport)
{
	struct vsock_hdr h;

	tx(VSOCK_OP_REQUEST, gport, hport, 0);
	h = rx_expect(VSOCK_OP_RESPONSE, gport, hport);
	assert_int_equal(h.buf_alloc, VSOCK_BUF_ALLOC);
	assert_int_equal(h.fwd_cnt, 0);
	assert_non_null(T.nr_hosts);
	assert_int_equal(T.hosts[T.nr_hosts - 1]->port, hport);
	return T.hosts[T.nr_hosts - 1];
}

/* A host client connects to guest port gport; the guest accepts. */
static struct fhost *host_connect(uint32_t gport, uint32_t *local)
{
	struct fhost *fh = fhost_new();
	struct vsock_conn *c;
	struct vsock_hdr h;

	assert_int_equal(vsock_core_connect(T.core, gport, fh, &c), 0);
	fh->conn = c;
	h = rx_expect(VSOCK_OP_REQUEST, gport, c->host_port);
	assert_true(h.src_port >= VSOCK_LOCAL_PORT_BASE);
	tx(VSOCK_OP_RESPONSE, gport, h.src_port, 0);
	assert_true(fh->established);
	*local = h.src_port;
	return fh;
}

static void fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 13);
}

/* ===== packet.c ===== */

static void test_vsock_hdr_layout(void **state)
{
	struct vsock_hdr h =
			     {
				 .src_cid = 0x0102030405060708ull,
				 .dst_cid = 2,
				 .src_port = 0x11223344,
				 .dst_port = 0x55667788,
				 .len = 0x99,
				 .type = 1,
				 .op = 5,
				 .flags = 0xaabbccdd,
				 .buf_alloc = 0x40000,
				 .fwd_cnt = 0xdeadbeef,
			     },
			 back;
	uint8_t raw[VSOCK_HDR_SIZE];

	vsock_hdr_encode(&h, raw);
	/* Little-endian, packed, in the order of struct virtio_vsock_hdr. */
	assert_int_equal(raw[0], 0x08);
	assert_int_equal(raw[7], 0x01);
	assert_int_equal(raw[8], 2);
	assert_int_equal(raw[16], 0x44);
	assert_int_equal(raw[20], 0x88);
	assert_int_equal(raw[24], 0x99);
	assert_int_equal(raw[28], 1);
	assert_int_equal(raw[30], 5);
	assert_int_equal(raw[32], 0xdd);
	assert_int_equal(raw[38], 0x04);
	assert_int_equal(raw[43], 0xde);
	vsock_hdr_decode(raw, &back);
	assert_memory_equal(&h, &back, sizeof(h));
}

struct parse_case {
	const char *name;
	uint64_t src_cid, dst_cid;
	uint16_t type, op;
	uint32_t len; /* header's len */
	size_t dlen;  /* payload bytes actually in the chain */
	size_t chain; /* 0: header + dlen; else total chain bytes */
	enum vsock_pkt_err want;
	bool rst;
};

static const struct parse_case parse_cases[] = {
    {"request", CID, 2, 1, VSOCK_OP_REQUEST, 0, 0, 0, VSOCK_PKT_OK, false},
    {"rw", CID, 2, 1, VSOCK_OP_RW, 100, 100, 0, VSOCK_PKT_OK, false},
    {"rw max", CID, 2, 1, VSOCK_OP_RW, VSOCK_MAX_PKT, VSOCK_MAX_PKT, 0, VSOCK_PKT_OK, false},
    {"rw shorter than chain", CID, 2, 1, VSOCK_OP_RW, 10, 100, 0, VSOCK_PKT_OK, false},
    {"empty chain", CID, 2, 1, VSOCK_OP_RW, 0, 0, 1, VSOCK_PKT_SHORT, false},
    {"43 bytes", CID, 2, 1, VSOCK_OP_RW, 0, 0, 43, VSOCK_PKT_SHORT, false},
    {"src cid host", 2, 2, 1, VSOCK_OP_REQUEST, 0, 0, 0, VSOCK_PKT_SRC_CID, false},
    {"src cid other", CID + 1, 2, 1, VSOCK_OP_RW, 0, 0, 0, VSOCK_PKT_SRC_CID, false},
    {"src cid high bits", CID | (1ull << 32), 2, 1, VSOCK_OP_RW, 0, 0, 0, VSOCK_PKT_SRC_CID, false},
    {"dst cid guest", CID, CID, 1, VSOCK_OP_REQUEST, 0, 0, 0, VSOCK_PKT_DST_CID, true},
    {"dst cid any", CID, 0xffffffff, 1, VSOCK_OP_REQUEST, 0, 0, 0, VSOCK_PKT_DST_CID, true},
    {"dst cid rst", CID, 7, 1, VSOCK_OP_RST, 0, 0, 0, VSOCK_PKT_DST_CID, false},
    {"seqpacket", CID, 2, 2, VSOCK_OP_REQUEST, 0, 0, 0, VSOCK_PKT_TYPE, true},
    {"type 0", CID, 2, 0, VSOCK_OP_REQUEST, 0, 0, 0, VSOCK_PKT_TYPE, true},
    {"type ffff", CID, 2, 0xffff, VSOCK_OP_RW, 0, 0, 0, VSOCK_PKT_TYPE, true},
    {"op invalid", CID, 2, 1, VSOCK_OP_INVALID, 0, 0, 0, VSOCK_PKT_OP, true},
    {"op 8", CID, 2, 1, 8, 0, 0, 0, VSOCK_PKT_OP, true},
    {"op ffff", CID, 2, 1, 0xffff, 0, 0, 0, VSOCK_PKT_OP, true},
    {"len over cap", CID, 2, 1, VSOCK_OP_RW, VSOCK_MAX_PKT + 1, VSOCK_MAX_PKT + 1, 0,
     VSOCK_PKT_TOO_LONG, true},
    {"len huge", CID, 2, 1, VSOCK_OP_RW, 0xffffffff, 0, 0, VSOCK_PKT_TOO_LONG, true},
    {"len past chain", CID, 2, 1, VSOCK_OP_RW, 101, 100, 0, VSOCK_PKT_TRUNCATED, true},
    {"len no payload", CID, 2, 1, VSOCK_OP_RW, 1, 0, 0, VSOCK_PKT_TRUNCATED, true},
    {"request payload", CID, 2, 1, VSOCK_OP_REQUEST, 4, 4, 0, VSOCK_PKT_PAYLOAD, true},
    {"credit payload", CID, 2, 1, VSOCK_OP_CREDIT_UPDATE, 1, 1, 0, VSOCK_PKT_PAYLOAD, true},
    {"rst payload", CID, 2, 1, VSOCK_OP_RST, 1, 1, 0, VSOCK_PKT_PAYLOAD, false},
};

static void test_vsock_pkt_parse_table(void **state)
{
	static uint8_t buf[VSOCK_HDR_SIZE + VSOCK_MAX_PKT + 1];

	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *pc = &parse_cases[i];
		struct vsock_hdr h = {.src_cid = pc->src_cid,
				      .dst_cid = pc->dst_cid,
				      .src_port = 1000,
				      .dst_port = 2000,
				      .len = pc->len,
				      .type = pc->type,
				      .op = pc->op},
				 got;
		size_t total = pc->chain ? pc->chain : VSOCK_HDR_SIZE + pc->dlen;
		enum vsock_pkt_err err;

		vsock_hdr_encode(&h, buf);
		/* Split the chain at every header byte boundary: the result must not change. */
		for (size_t split = 0; split <= VSOCK_HDR_SIZE && split <= total; split += 11) {
			struct iovec iov[3] = {
			    {buf, split}, {buf + split, total - split}, {buf, 0}};

			err = vsock_pkt_parse(iov, 3, CID, &got);
			if (err != pc->want)
				fail_msg("%s (split %zu): got %s, want %s", pc->name, split,
					 vsock_pkt_strerror(err), vsock_pkt_strerror(pc->want));
		}
		if (pc->want != VSOCK_PKT_OK && pc->want != VSOCK_PKT_SHORT)
			assert_int_equal(vsock_pkt_err_wants_rst(err, &got), pc->rst);
		if (pc->want == VSOCK_PKT_OK)
			assert_memory_equal(&got, &h, sizeof(h));
	}
	assert_string_equal(vsock_pkt_strerror(VSOCK_PKT__COUNT + 3), "unknown error");
	assert_string_equal(vsock_op_name(99), "?");
}

static void test_vsock_iov_helpers(void **state)
{
	uint8_t a[3] = {1, 2, 3}, b[1] = {4}, c[4] = {5, 6, 7, 8}, out[8];
	struct iovec iov[4] = {{a, 3}, {b, 0}, {b, 1}, {c, 4}}, sl[4];
	size_t got;
	int n;

	assert_int_equal(vsock_iov_len(iov, 4), 8);
	assert_int_equal(vsock_iov_read(iov, 4, 2, out, 5), 5);
	assert_memory_equal(out, ((uint8_t[]){3, 4, 5, 6, 7}), 5);
	assert_int_equal(vsock_iov_read(iov, 4, 7, out, 5), 1);
	assert_int_equal(vsock_iov_read(iov, 4, 9, out, 5), 0);
	n = vsock_iov_slice(iov, 4, 1, 6, sl, 4, &got);
	assert_int_equal(n, 3);
	assert_int_equal(got, 6);
	assert_ptr_equal(sl[0].iov_base, a + 1);
	assert_int_equal(sl[2].iov_len, 3);
	n = vsock_iov_slice(iov, 4, 0, 8, sl, 2, &got); /* not enough segments */
	assert_int_equal(n, 2);
	assert_int_equal(got, 4);
	assert_int_equal(vsock_iov_write(iov, 4, 6, ((uint8_t[]){9, 9, 9}), 3), 2);
	assert_int_equal(c[3], 9);
}

/* ===== line.c ===== */

struct line_case {
	const char *line;
	int rc;
	uint32_t port;
};

static const struct line_case line_cases[] = {
    {"CONNECT 52\n", 0, 52},
    {"CONNECT 52\r\n", 0, 52},
    {"CONNECT 0\n", 0, 0},
    {"CONNECT 007\n", 0, 7},
    {"CONNECT 4294967294\n", 0, 4294967294u},
    {"CONNECT 4294967295\n", -EINVAL, 0}, /* VMADDR_PORT_ANY */
    {"CONNECT 4294967296\n", -EINVAL, 0},
    {"CONNECT 99999999999\n", -EINVAL, 0},
    {"CONNECT 00000000001\n", -EINVAL, 0},
    {"connect 52\n", -EINVAL, 0},
    {"CONNECT52\n", -EINVAL, 0},
    {"CONNECT\n", -EINVAL, 0},
    {"CONNECT \n", -EINVAL, 0},
    {"CONNECT  52\n", -EINVAL, 0},
    {"CONNECT 52 \n", -EINVAL, 0},
    {"CONNECT -52\n", -EINVAL, 0},
    {"CONNECT +52\n", -EINVAL, 0},
    {"CONNECT 0x34\n", -EINVAL, 0},
    {"CONNECT 52", -EINVAL, 0},
    {"CONNECT 52\r", -EINVAL, 0},
    {"CONNECT 52\r\r\n", -EINVAL, 0},
    {"CONNECT 52\n\n", -EINVAL, 0},
    {" CONNECT 52\n", -EINVAL, 0},
    {"GET / HTTP/1.1\n", -EINVAL, 0},
    {"\n", -EINVAL, 0},
    {"", -EINVAL, 0},
};

static void test_vsock_line_parse_table(void **state)
{
	for (size_t i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]); i++) {
		const struct line_case *lc = &line_cases[i];
		uint32_t port = 12345;
		int rc = vsock_line_parse_connect(lc->line, strlen(lc->line), &port);

		if (rc != lc->rc)
			fail_msg("\"%s\": rc %d, want %d", lc->line, rc, lc->rc);
		if (!rc)
			assert_int_equal(port, lc->port);
	}
}

static void test_vsock_line_garbage(void **state)
{
	char line[VSOCK_LINE_MAX + 8];
	uint32_t port;

	/* A NUL in the middle, binary bytes. */
	assert_int_equal(vsock_line_parse_connect("CONNECT 5\0\n", 11, &port), -EINVAL);
	assert_int_equal(vsock_line_parse_connect("CONNECT \xff\n", 10, &port), -EINVAL);
	/* Overlong: whatever it says, more than VSOCK_LINE_MAX bytes is refused. */
	memset(line, '0', sizeof(line));
	memcpy(line, "CONNECT ", 8);
	line[sizeof(line) - 1] = '\n';
	assert_int_equal(vsock_line_parse_connect(line, sizeof(line), &port), -EINVAL);
}

static void test_vsock_line_end(void **state)
{
	char buf[VSOCK_LINE_MAX * 2];

	assert_int_equal(vsock_line_end("CONN", 4), 0);
	assert_int_equal(vsock_line_end("", 0), 0);
	assert_int_equal(vsock_line_end("CONNECT 5\nrest", 14), 10);
	assert_int_equal(vsock_line_end("\n", 1), 1);
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(vsock_line_end(buf, VSOCK_LINE_MAX - 1), 0);
	assert_int_equal(vsock_line_end(buf, VSOCK_LINE_MAX), -EMSGSIZE);
	buf[VSOCK_LINE_MAX - 1] = '\n';
	assert_int_equal(vsock_line_end(buf, sizeof(buf)), VSOCK_LINE_MAX);
	buf[VSOCK_LINE_MAX - 1] = 'x';
	buf[VSOCK_LINE_MAX] = '\n'; /* one past the limit */
	assert_int_equal(vsock_line_end(buf, sizeof(buf)), -EMSGSIZE);
}

static void test_vsock_line_format_ok(void **state)
{
	char buf[32];

	assert_int_equal(vsock_line_format_ok(buf, sizeof(buf), 1073741824u), 14);
	assert_string_equal(buf, "OK 1073741824\n");
}

/* ===== core.c: handshakes ===== */

static void test_vsock_init_bad_cid(void **state)
{
	struct vsock_core *c;

	assert_int_equal(vsock_core_init(0, &fake_ops, NULL, &c), -EINVAL);
	assert_int_equal(vsock_core_init(2, &fake_ops, NULL, &c), -EINVAL);
	assert_int_equal(vsock_core_init(0xffffffffull, &fake_ops, NULL, &c), -EINVAL);
	assert_int_equal(vsock_core_cid(T.core), CID);
}

static void test_vsock_guest_connect(void **state)
{
	struct fhost *fh = guest_connect(40000, 52);
	struct vsock_conn *c = vsock_core_lookup(T.core, 40000, 52);

	assert_non_null(c);
	assert_ptr_equal(fh->conn, c);
	assert_int_equal(c->state, VSOCK_CONN_ESTABLISHED);
	assert_int_equal(c->peer_buf_alloc, T.guest_buf_alloc);
	assert_int_equal(vsock_core_nr_conns(T.core), 1);
	rx_none();
}

static void test_vsock_guest_connect_refused(void **state)
{
	T.connect_rc = -ECONNREFUSED;
	tx(VSOCK_OP_REQUEST, 40000, 52, 0);
	assert_int_equal(vsock_core_nr_conns(T.core), 1); /* until the RST is out */
	rx_expect(VSOCK_OP_RST, 40000, 52);
	assert_int_equal(vsock_core_nr_conns(T.core), 0);
	rx_none();
	/* The guest may try again at once. */
	T.connect_rc = 0;
	guest_connect(40000, 52);
}

static void test_vsock_host_connect(void **state)
{
	uint32_t p1, p2;
	struct fhost *a = host_connect(5000, &p1), *b = host_connect(5000, &p2);

	assert_int_not_equal(p1, p2);
	assert_ptr_equal(vsock_core_lookup(T.core, 5000, p1), a->conn);
	assert_ptr_equal(vsock_core_lookup(T.core, 5000, p2), b->conn);
	assert_true(a->conn->host_initiated);
	rx_none();
}

static void test_vsock_host_connect_refused(void **state)
{
	struct fhost *fh = fhost_new();
	struct vsock_conn *c;
	struct vsock_hdr h;

	assert_int_equal(vsock_core_connect(T.core, 5000, fh, &c), 0);
	h = rx_expect(VSOCK_OP_REQUEST, 5000, c->host_port);
	tx(VSOCK_OP_RST, 5000, h.src_port, 0);
	assert_true(fh->released);
	assert_int_equal(fh->release_err, -ECONNREFUSED);
	assert_false(fh->established);
	assert_int_equal(vsock_core_nr_conns(T.core), 0);
	rx_none();
}

static void test_vsock_host_connect_timeout(void **state)
{
	struct fhost *fh = fhost_new();
	struct vsock_conn *c;
	uint32_t port;

	assert_int_equal(vsock_core_connect(T.core, 5000, fh, &c), 0);
	port = c->host_port;
	rx_expect(VSOCK_OP_REQUEST, 5000, port);
	vsock_core_abort(T.core, c, -ETIMEDOUT);
	assert_true(fh->released);
	assert_int_equal(fh->release_err, -ETIMEDOUT);
	rx_expect(VSOCK_OP_RST, 5000, port);
	/* A late RESPONSE finds no connection and is reset. */
	tx(VSOCK_OP_RESPONSE, 5000, port, 0);
	rx_expect(VSOCK_OP_RST, 5000, port);
	rx_none();
}

static void test_vsock_host_connect_client_gone(void **state)
{
	struct fhost *fh = fhost_new();
	struct vsock_conn *c;
	struct vsock_hdr h;

	T.established_rc = -EPIPE; /* the OK line could not be written */
	assert_int_equal(vsock_core_connect(T.core, 5000, fh, &c), 0);
	h = rx_expect(VSOCK_OP_REQUEST, 5000, c->host_port);
	tx(VSOCK_OP_RESPONSE, 5000, h.src_port, 0);
	assert_true(fh->released);
	rx_expect(VSOCK_OP_RST, 5000, h.src_port);
	rx_none();
}

static void test_vsock_max_conns(void **state)
{
	struct fhost *fh = fhost_new();
	struct vsock_conn *c;

	for (uint32_t i = 0; i < VSOCK_MAX_CONNS; i++) {
		tx(VSOCK_OP_REQUEST, 10000 + i, 52, 0);
		rx_expect(VSOCK_OP_RESPONSE, 10000 + i, 52);
	}
	assert_int_equal(vsock_core_nr_conns(T.core), VSOCK_MAX_CONNS);
	tx(VSOCK_OP_REQUEST, 9999, 52, 0);
	rx_expect(VSOCK_OP_RST, 9999, 52);
	assert_int_equal(vsock_core_connect(T.core, 1, fh, &c), -EMFILE);
	/* One closes: room again. */
	tx(VSOCK_OP_RST, 10000, 52, 0);
	guest_connect(9999, 52);
}

/* ===== core.c: data and credit ===== */

static void test_vsock_guest_to_host_data(void **state)
{
	struct fhost *fh = guest_connect(40000, 52);
	uint8_t data[3000];
	struct vsock_conn *c = fh->conn;

	fill(data, sizeof(data), 1);
	tx_rw(40000, 52, data, sizeof(data));
	assert_int_equal(fh->out_len, sizeof(data));
	assert_memory_equal(fh->out, data, sizeof(data));
	assert_int_equal(c->rx_cnt, 3000);
	assert_int_equal(c->fwd_cnt, 3000);
	/* Less than the threshold consumed: no CREDIT_UPDATE yet. */
	rx_none();
	/* An empty RW is harmless. */
	tx_rw(40000, 52, NULL, 0);
	rx_none();
}

static void test_vsock_credit_update_after_consumption(void **state)
{
	struct fhost *fh = guest_connect(40000, 52);
	static uint8_t data[VSOCK_MAX_PKT];
	struct vsock_hdr h;

	fill(data, sizeof(data), 3);
	tx_rw(40000, 52, data, 60000);
	rx_none();
	tx_rw(40000, 52, data, 60000); /* 120000 consumed > 64 KiB: tell the guest */
	h = rx_expect(VSOCK_OP_CREDIT_UPDATE, 40000, 52);
	assert_int_equal(h.fwd_cnt, 120000);
	assert_int_equal(h.buf_alloc, VSOCK_BUF_ALLOC);
	rx_none();
	assert_int_equal(fh->out_len, 120000);
}

static void test_vsock_guest_to_host_buffered(void **state)
{
	struct fhost *fh = guest_connect(40000, 52);
	struct vsock_conn *c = fh->conn;
	static uint8_t data[VSOCK_MAX_PKT];
	struct vsock_hdr h;

	fh->send_room = 1000; /* the host reader is slow */
	fill(data, sizeof(data), 5);
	for (int i = 0; i < 4; i++)
		tx_rw(40000, 52, data, VSOCK_MAX_PKT);
	/* 256 KiB sent, 1000 taken: the rest waits in our buffer, within the credit. */
	assert_int_equal(fh->out_len, 1000);
	assert_int_equal(c->ring_len, 4 * VSOCK_MAX_PKT - 1000);
	assert_int_equal(c->rx_cnt, 4 * VSOCK_MAX_PKT);
	rx_none();
	/* The host reads on: everything arrives in order, and the guest hears of it. */
	fh->send_room = SIZE_MAX;
	vsock_core_writable(T.core, c);
	assert_int_equal(fh->out_len, 4 * VSOCK_MAX_PKT);
	for (int i = 0; i < 4; i++)
		assert_memory_equal(fh->out + i * VSOCK_MAX_PKT, data, VSOCK_MAX_PKT);
	assert_int_equal(c->ring_len, 0);
	h = rx_expect(VSOCK_OP_CREDIT_UPDATE, 40000, 52);
	assert_int_equal(h.fwd_cnt, 4 * VSOCK_MAX_PKT);
}

static void test_vsock_guest_credit_violation(void **state)
{
	struct fhost *fh = guest_connect(40000, 52);
	static uint8_t data[VSOCK_MAX_PKT];

	fh->send_room = 0;
	for (int i = 0; i < 4; i++)
		tx_rw(40000, 52, data, VSOCK_MAX_PKT);
	rx_none();
	assert_false(fh->released);
	tx_rw(40000, 52, data, 1); /* one byte more than buf_alloc */
	assert_true(fh->released);
	assert_int_equal(fh->release_err, -EPROTO);
	rx_expect(VSOCK_OP_RST, 40000, 52);
	assert_int_equal(vsock_core_stats(T.core)->bad_pkts, 1);
	rx_none();
}

static void test_vsock_host_to_guest_data(void **state)
{
	struct fhost *fh = guest_connect(40000, 52);
	uint8_t got[RXBUF];
	struct vsock_hdr h;
	size_t off = 0;

	fhost_offer(fh, 10000, 9);
	vsock_core_readable(T.core, fh->conn);
	/* 4 KiB rx buffers: 4096 + 4096 + 1808. */
	while (off < 10000) {
		assert_true(rx(&h, got) > 0);
		assert_int_equal(h.op, VSOCK_OP_RW);
		assert_int_equal(h.dst_port, 40000);
		assert_int_equal(h.src_port, 52);
		assert_true(h.len <= RXBUF);
		assert_memory_equal(got, fh->in + off, h.len);
		off += h.len;
	}
	assert_int_equal(off, 10000);
	assert_int_equal(fh->conn->tx_cnt, 10000);
	/* The short read said the host is drained: nothing more until it is readable again. */
	rx_none();
}

static void test_vsock_host_to_guest_respects_credit(void **state)
{
	struct fhost *fh;
	struct vsock_hdr h;
	size_t sent = 0;

	T.guest_buf_alloc = 5000;
	fh = guest_connect(40000, 52);
	fhost_offer(fh, 20000, 1);
	vsock_core_readable(T.core, fh->conn);
	for (;;) {
		assert_true(rx(&h, NULL) > 0);
		if (h.op != VSOCK_OP_RW)
			break;
		sent += h.len;
	}
	assert_int_equal(sent, 5000);
	/* Out of credit: ask once, then wait. */
	assert_int_equal(h.op, VSOCK_OP_CREDIT_REQUEST);
	rx_none();
	/* The guest read 3000 bytes. */
	T.guest_fwd_cnt = 3000;
	tx(VSOCK_OP_CREDIT_UPDATE, 40000, 52, 0);
	assert_true(rx(&h, NULL) > 0);
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_int_equal(h.len, 3000);
	h = rx_expect(VSOCK_OP_CREDIT_REQUEST, 40000, 52);
	rx_none();
	/* The guest grows its buffer. */
	T.guest_buf_alloc = 1 << 20;
	tx(VSOCK_OP_CREDIT_UPDATE, 40000, 52, 0);
	for (sent = 8000; sent < 20000; sent += h.len) {
		assert_true(rx(&h, NULL) > 0);
		assert_int_equal(h.op, VSOCK_OP_RW);
	}
	assert_int_equal(sent, 20000);
	rx_none();
}

static void test_vsock_host_to_guest_lying_fwd_cnt(void **state)
{
	struct fhost *fh;
	struct vsock_hdr h;
	size_t sent = 0;

	T.guest_buf_alloc = 5000;
	T.guest_fwd_cnt = 0x80000000u; /* claims to have read 2 GiB it never got */
	fh = guest_connect(40000, 52);
	fhost_offer(fh, 100000, 1);
	vsock_core_readable(T.core, fh->conn);
	while (rx(&h, NULL) > 0 && h.op == VSOCK_OP_RW)
		sent += h.len;
	/* Never more than buf_alloc in flight, whatever fwd_cnt says. */
	assert_int_equal(sent, 0);
	assert_int_equal(vsock_conn_peer_credit(fh->conn), 0);
}

static void test_vsock_credit_request(void **state)
{
	struct fhost *fh = guest_connect(40000, 52);
	uint8_t data[100] = {0};
	struct vsock_hdr h;

	tx_rw(40000, 52, data, sizeof(data));
	tx(VSOCK_OP_CREDIT_REQUEST, 40000, 52, 0);
	h = rx_expect(VSOCK_OP_CREDIT_UPDATE, 40000, 52);
	assert_int_equal(h.fwd_cnt, 100);
	assert_int_equal(h.buf_alloc, VSOCK_BUF_ALLOC);
	rx_none();
	assert_int_equal(fh->out_len, 100);
}

static void test_vsock_rw_many_segments(void **state)
{
	struct fhost *fh = guest_connect(40000, 52);
	enum { NSEG = 200 };
	uint8_t raw[VSOCK_HDR_SIZE], data[NSEG];
	struct iovec iov[NSEG + 1];
	struct vsock_hdr h = ghdr(VSOCK_OP_RW, 40000, 52);

	h.len = NSEG;
	vsock_hdr_encode(&h, raw);
	fill(data, sizeof(data), 77);
	iov[0] = (struct iovec){raw, sizeof(raw)};
	for (int i = 0; i < NSEG; i++)
		iov[i + 1] = (struct iovec){data + i, 1};
	vsock_core_tx(T.core, iov, NSEG + 1);
	assert_int_equal(fh->out_len, NSEG);
	assert_memory_equal(fh->out, data, NSEG);
}

/* ===== core.c: close and reset ===== */

static void test_vsock_half_close_guest_first(void **state)
{
	struct fhost *fh = guest_connect(40000, 52);
	uint8_t got[RXBUF];
	struct vsock_hdr h;

	tx(VSOCK_OP_SHUTDOWN, 40000, 52, VSOCK_SHUTDOWN_SEND);
	assert_true(fh->shut_wr);
	assert_false(fh->shut_rd);
	assert_false(fh->released);
	rx_none();
	/* The host still talks, then ends its side. */
	fhost_offer(fh, 100, 4);
	fh->in_eof = true;
	vsock_core_readable(T.core, fh->conn);
	assert_true(rx(&h, got) > 0);
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_int_equal(h.len, 100);
	h = rx_expect(VSOCK_OP_SHUTDOWN, 40000, 52);
	assert_int_equal(h.flags, VSOCK_SHUTDOWN_SEND);
	/* Both sides done: an orderly close. */
	assert_true(fh->released);
	assert_int_equal(fh->release_err, 0);
	rx_expect(VSOCK_OP_RST, 40000, 52);
	assert_int_equal(vsock_core_nr_conns(T.core), 0);
	rx_none();
}

static void test_vsock_half_close_host_first(void **state)
{
	struct fhost *fh = guest_connect(40000, 52);
	uint8_t data[10] = "0123456789";
	struct vsock_hdr h;

	fh->in_eof = true;
	vsock_core_readable(T.core, fh->conn);
	h = rx_expect(VSOCK_OP_SHUTDOWN, 40000, 52);
	assert_int_equal(h.flags, VSOCK_SHUTDOWN_SEND);
	rx_none();
	/* The guest still sends. */
	tx_rw(40000, 52, data, sizeof(data));
	assert_int_equal(fh->out_len, 10);
	assert_false(fh->released);
	tx(VSOCK_OP_SHUTDOWN, 40000, 52, VSOCK_SHUTDOWN_SEND);
	assert_true(fh->shut_wr);
	assert_true(fh->released);
	assert_int_equal(fh->release_err, 0);
	rx_expect(VSOCK_OP_RST, 40000, 52);
	rx_none();
}

static void test_vsock_guest_close(void **state)
{
	struct fhost *fh = guest_connect(40000, 52);

	fhost_offer(fh, 100, 4); /* unread by the guest: dropped */
	tx(VSOCK_OP_SHUTDOWN, 40000, 52, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
	assert_true(fh->shut_rd);
	assert_true(fh->shut_wr);
	assert_true(fh->released);
	assert_int_equal(fh->release_err, 0);
	vsock_core_readable(T.core, vsock_core_lookup(T.core, 40000, 52));
	rx_expect(VSOCK_OP_RST, 40000, 52);
	rx_none();
}

static void test_vsock_guest_shutdown_rcv_only(void **state)
{
	struct fhost *fh = guest_connect(40000, 52);
	uint8_t data[5] = "hello";

	tx(VSOCK_OP_SHUTDOWN, 40000, 52, VSOCK_SHUTDOWN_RCV | 0xf0);
	assert_true(fh->shut_rd);
	fhost_offer(fh, 100, 4);
	vsock_core_readable(T.core, fh->conn);
	rx_none(); /* nothing more goes to a guest that will not receive */
	tx_rw(40000, 52, data, 5);
	assert_int_equal(fh->out_len, 5);
	tx(VSOCK_OP_SHUTDOWN, 40000, 52, VSOCK_SHUTDOWN_SEND);
	assert_true(fh->released);
	rx_expect(VSOCK_OP_RST, 40000, 52);
}

static void test_vsock_guest_shutdown_flushes_first(void **state)
{
	struct fhost *fh = guest_connect(40000, 52);
	uint8_t data[4000];

	fill(data, sizeof(data), 8);
	fh->send_room = 1000;
	tx_rw(40000, 52, data, sizeof(data));
	tx(VSOCK_OP_SHUTDOWN, 40000, 52, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
	/* 3000 bytes still buffered: the host's side is shut only after them. */
	assert_false(fh->shut_wr);
	assert_false(fh->released);
	rx_none();
	fh->send_room = SIZE_MAX;
	vsock_core_writable(T.core, fh->conn);
	assert_int_equal(fh->out_len, 4000);
	assert_memory_equal(fh->out, data, 4000);
	assert_true(fh->shut_wr);
	assert_true(fh->released);
	assert_int_equal(fh->release_err, 0);
	rx_expect(VSOCK_OP_RST, 40000, 52);
}

static void test_vsock_guest_rst(void **state)
{
	struct fhost *fh = guest_connect(40000, 52);

	tx(VSOCK_OP_RST, 40000, 52, 0);
	assert_true(fh->released);
	assert_int_equal(fh->release_err, -ECONNRESET);
	assert_int_equal(vsock_core_nr_conns(T.core), 0);
	rx_none(); /* an RST is never answered */
}

static void test_vsock_guest_rst_after_shutdown_drains(void **state)
{
	struct fhost *fh = guest_connect(40000, 52);
	struct vsock_conn *c = fh->conn;
	uint8_t data[4000];

	fill(data, sizeof(data), 2);
	fh->send_room = 0;
	tx_rw(40000, 52, data, sizeof(data));
	tx(VSOCK_OP_SHUTDOWN, 40000, 52, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
	tx(VSOCK_OP_RST, 40000, 52, 0); /* the guest's close timed out */
	assert_false(fh->released);
	assert_int_equal(c->state, VSOCK_CONN_DRAINING);
	/* Packets for it now are stale; a new REQUEST on its ports is refused. */
	tx_rw(40000, 52, data, 10);
	tx(VSOCK_OP_REQUEST, 40000, 52, 0);
	rx_expect(VSOCK_OP_RST, 40000, 52);
	rx_none();
	fh->send_room = SIZE_MAX;
	vsock_core_writable(T.core, c);
	assert_int_equal(fh->out_len, 4000);
	assert_memory_equal(fh->out, data, 4000);
	assert_true(fh->shut_wr);
	assert_true(fh->released);
	assert_int_equal(fh->release_err, 0);
	assert_int_equal(vsock_core_nr_conns(T.core), 0);
	rx_none();
}

static void test_vsock_host_errors_reset(void **state)
{
	struct fhost *a = guest_connect(1, 52), *b = guest_connect(2, 52);
	uint8_t data[10] = {0};

	a->recv_err = -ECONNRESET;
	vsock_core_readable(T.core, a->conn);
	rx_expect(VSOCK_OP_RST, 1, 52);
	assert_true(a->released);
	assert_int_equal(a->release_err, -ECONNRESET);

	b->send_err = -EPIPE;
	tx_rw(2, 52, data, sizeof(data));
	assert_true(b->released);
	assert_int_equal(b->release_err, -EPIPE);
	rx_expect(VSOCK_OP_RST, 2, 52);
	rx_none();
}

static void test_vsock_abort_established(void **state)
{
	struct fhost *fh = guest_connect(40000, 52);

	vsock_core_abort(T.core, fh->conn, -EPIPE);
	assert_true(fh->released);
	rx_expect(VSOCK_OP_RST, 40000, 52);
	rx_none();
}

/* ===== core.c: hostile and unexpected packets ===== */

static void test_vsock_unknown_connection(void **state)
{
	uint8_t data[8] = {0};
	struct vsock_hdr h;

	tx_rw(40000, 52, data, sizeof(data));
	h = rx_expect(VSOCK_OP_RST, 40000, 52);
	assert_int_equal(h.src_cid, VSOCK_CID_HOST);
	tx(VSOCK_OP_SHUTDOWN, 40000, 52, 3);
	rx_expect(VSOCK_OP_RST, 40000, 52);
	tx(VSOCK_OP_CREDIT_UPDATE, 40000, 52, 0);
	rx_expect(VSOCK_OP_RST, 40000, 52);
	tx(VSOCK_OP_RESPONSE, 40000, 52, 0);
	rx_expect(VSOCK_OP_RST, 40000, 52);
	tx(VSOCK_OP_RST, 40000, 52, 0);
	rx_none();
	assert_int_equal(vsock_core_nr_conns(T.core), 0);
}

struct bad_case {
	const char *name;
	uint64_t src_cid, dst_cid;
	uint16_t type, op;
	uint32_t len;
	size_t dlen;
	bool rst;
};

/* Each refused packet: answered with an RST from the address the guest used, or dropped. */
static const struct bad_case bad_cases[] = {
    {"short", 0, 0, 0, 0, 0, 0, false},
    {"spoofed src", CID + 1, 2, 1, VSOCK_OP_REQUEST, 0, 0, false},
    {"host src", 2, 2, 1, VSOCK_OP_RW, 0, 0, false},
    {"to another guest", CID, 9, 1, VSOCK_OP_REQUEST, 0, 0, true},
    {"to itself", CID, CID, 1, VSOCK_OP_REQUEST, 0, 0, true},
    {"rst to another guest", CID, 9, 1, VSOCK_OP_RST, 0, 0, false},
    {"seqpacket", CID, 2, 2, VSOCK_OP_REQUEST, 0, 0, true},
    {"type 7", CID, 2, 7, VSOCK_OP_RW, 0, 0, true},
    {"op 0", CID, 2, 1, 0, 0, 0, true},
    {"op 8", CID, 2, 1, 8, 0, 0, true},
    {"op 0xffff", CID, 2, 1, 0xffff, 0, 0, true},
    {"len over cap", CID, 2, 1, VSOCK_OP_RW, VSOCK_MAX_PKT + 1, VSOCK_MAX_PKT + 1, true},
    {"len past chain", CID, 2, 1, VSOCK_OP_RW, 100, 99, true},
    {"request with payload", CID, 2, 1, VSOCK_OP_REQUEST, 1, 1, true},
    {"shutdown with payload", CID, 2, 1, VSOCK_OP_SHUTDOWN, 8, 8, true},
    {"rst with payload", CID, 2, 1, VSOCK_OP_RST, 8, 8, false},
};

static void test_vsock_malformed_packets(void **state)
{
	static uint8_t data[VSOCK_MAX_PKT + 1];

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *bc = &bad_cases[i];
		struct vsock_hdr h = {.src_cid = bc->src_cid,
				      .dst_cid = bc->dst_cid,
				      .src_port = 700,
				      .dst_port = 52,
				      .len = bc->len,
				      .type = bc->type,
				      .op = bc->op},
				 r;
		uint64_t bad = vsock_core_stats(T.core)->bad_pkts;
		int w;

		if (!strcmp(bc->name, "short")) {
			uint8_t raw[VSOCK_HDR_SIZE - 1] = {0};
			struct iovec iov = {raw, sizeof(raw)};

			vsock_core_tx(T.core, &iov, 1);
			vsock_core_tx(T.core, NULL, 0);
		} else {
			tx_raw(&h, data, bc->dlen);
		}
		assert_true(vsock_core_stats(T.core)->bad_pkts > bad);
		w = rx(&r, NULL);
		if (!bc->rst) {
			if (w != 0)
				fail_msg("%s: answered with %s", bc->name, vsock_op_name(r.op));
			continue;
		}
		if (w <= 0 || r.op != VSOCK_OP_RST)
			fail_msg("%s: not answered with RST", bc->name);
		assert_int_equal(r.src_cid, bc->dst_cid);
		assert_int_equal(r.src_port, 52);
		assert_int_equal(r.dst_port, 700);
		assert_int_equal(r.dst_cid, CID);
		rx_none();
	}
	assert_int_equal(vsock_core_nr_conns(T.core), 0);
	assert_int_equal(T.nr_hosts, 0); /* nothing reached the host */
}

static void test_vsock_malformed_resets_connection(void **state)
{
	struct fhost *fh = guest_connect(40000, 52);
	struct vsock_hdr h = ghdr(VSOCK_OP_RW, 40000, 52);
	uint8_t data[16] = {0};

	h.len = 17; /* longer than the chain */
	tx_raw(&h, data, sizeof(data));
	assert_true(fh->released);
	assert_int_equal(fh->release_err, -EPROTO);
	assert_int_equal(fh->out_len, 0);
	rx_expect(VSOCK_OP_RST, 40000, 52);
	rx_none();
}

static void test_vsock_protocol_violations(void **state)
{
	uint8_t data[4] = {0};
	struct fhost *a = guest_connect(1, 52), *b = guest_connect(2, 52), *c;
	struct fhost *d = guest_connect(4, 52);
	uint32_t port;

	/* Data after the guest said it sends no more. */
	tx(VSOCK_OP_SHUTDOWN, 1, 52, VSOCK_SHUTDOWN_SEND);
	tx_rw(1, 52, data, sizeof(data));
	assert_true(a->released);
	rx_expect(VSOCK_OP_RST, 1, 52);
	/* A RESPONSE nobody asked for. */
	tx(VSOCK_OP_RESPONSE, 2, 52, 0);
	assert_true(b->released);
	rx_expect(VSOCK_OP_RST, 2, 52);
	/* Data before answering our REQUEST. */
	c = host_connect(3, &port);
	assert_true(c->established);
	c = fhost_new();
	{
		struct vsock_conn *conn;

		assert_int_equal(vsock_core_connect(T.core, 3, c, &conn), 0);
		port = conn->host_port;
	}
	rx_expect(VSOCK_OP_REQUEST, 3, port);
	tx_rw(3, port, data, sizeof(data));
	assert_true(c->released);
	rx_expect(VSOCK_OP_RST, 3, port);
	/* A second REQUEST on a connected port pair resets it. */
	tx(VSOCK_OP_REQUEST, 4, 52, 0);
	assert_true(d->released);
	rx_expect(VSOCK_OP_RST, 4, 52);
	rx_none();
}

static void test_vsock_orphan_rsts_bounded(void **state)
{
	uint8_t data[1] = {0};
	unsigned int n = 0;
	struct vsock_hdr h;

	for (uint32_t i = 0; i < 1000; i++)
		tx_rw(i, 52, data, 1);
	while (rx(&h, NULL) > 0)
		n++;
	assert_int_equal(n, VSOCK_ORPHAN_RSTS);
	assert_int_equal(vsock_core_stats(T.core)->orphan_drops, 1000 - VSOCK_ORPHAN_RSTS);
}

/* ===== core.c: rx scheduling ===== */

static void test_vsock_rx_buffer_too_small(void **state)
{
	uint8_t raw[VSOCK_HDR_SIZE];
	struct iovec iov = {raw, VSOCK_HDR_SIZE - 1};
	struct fhost *fh;
	struct vsock_hdr h;

	tx(VSOCK_OP_REQUEST, 1, 52, 0);
	assert_int_equal(vsock_core_rx(T.core, &iov, 1), -EMSGSIZE);
	/* A header-only buffer takes control packets, never data. */
	assert_int_equal(rx_room(&h, NULL, 0), VSOCK_HDR_SIZE);
	assert_int_equal(h.op, VSOCK_OP_RESPONSE);
	fh = T.hosts[0];
	fhost_offer(fh, 10, 1);
	vsock_core_readable(T.core, fh->conn);
	assert_int_equal(rx_room(&h, NULL, 0), 0);
	assert_true(rx(&h, NULL) > 0);
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_int_equal(h.len, 10);
}

static void test_vsock_fair_round_robin(void **state)
{
	enum { N = 5 };
	struct fhost *fh[N];
	unsigned int count[N] = {0}, last = N, switches = 0;
	struct vsock_hdr h;

	for (int i = 0; i < N; i++)
		fh[i] = guest_connect(100 + i, 52);
	for (int i = 0; i < N; i++) {
		fhost_offer(fh[i], 64 * RXBUF, (uint8_t)i);
		vsock_core_readable(T.core, fh[i]->conn);
	}
	/* 10 packets per stream: every stream gets exactly its share, in turn. */
	for (int k = 0; k < 10 * N; k++) {
		assert_true(rx(&h, NULL) > 0);
		assert_int_equal(h.op, VSOCK_OP_RW);
		assert_int_equal(h.len, RXBUF);
		count[h.dst_port - 100]++;
		if (h.dst_port - 100 != last)
			switches++;
		last = h.dst_port - 100;
	}
	for (int i = 0; i < N; i++)
		assert_int_equal(count[i], 10);
	assert_int_equal(switches, 10 * N);
}

static void test_vsock_control_before_data(void **state)
{
	struct fhost *fh[3];
	struct vsock_hdr h;

	for (int i = 0; i < 3; i++)
		fh[i] = guest_connect(100 + i, 52);
	for (int i = 0; i < 3; i++) {
		fhost_offer(fh[i], 64 * RXBUF, (uint8_t)i);
		vsock_core_readable(T.core, fh[i]->conn);
	}
	assert_true(rx(&h, NULL) > 0);
	assert_int_equal(h.op, VSOCK_OP_RW);
	/* A new stream, a refused one and a credit request do not wait behind the data. */
	tx(VSOCK_OP_REQUEST, 200, 52, 0);
	T.connect_rc = -ECONNREFUSED;
	tx(VSOCK_OP_REQUEST, 201, 53, 0);
	tx(VSOCK_OP_CREDIT_REQUEST, 101, 52, 0);
	rx_expect(VSOCK_OP_RESPONSE, 200, 52);
	rx_expect(VSOCK_OP_RST, 201, 53);
	rx_expect(VSOCK_OP_CREDIT_UPDATE, 101, 52);
	assert_true(rx(&h, NULL) > 0);
	assert_int_equal(h.op, VSOCK_OP_RW);
}

static void test_vsock_slow_guest_reader(void **state)
{
	struct fhost *slow, *fast;
	struct vsock_hdr h;
	size_t fast_bytes = 0;

	T.guest_buf_alloc = 8192;
	slow = guest_connect(1, 52);
	fast = guest_connect(2, 52);
	fhost_offer(slow, 1 << 20, 1);
	fhost_offer(fast, 1 << 20, 2);
	vsock_core_readable(T.core, slow->conn);
	vsock_core_readable(T.core, fast->conn);
	/* The guest reads stream 2 as it comes and never reads stream 1. */
	while (fast_bytes < (1 << 20)) {
		assert_true(rx(&h, NULL) > 0);
		if (h.dst_port == 2 && h.op == VSOCK_OP_RW) {
			fast_bytes += h.len;
			T.guest_fwd_cnt = (uint32_t)fast_bytes;
			tx(VSOCK_OP_CREDIT_UPDATE, 2, 52, 0);
		}
	}
	/* Stream 1 got its 8 KiB credit and no more; stream 2 all of its megabyte. */
	assert_int_equal(slow->conn->tx_cnt, 8192);
	assert_int_equal(fast->conn->tx_cnt, 1 << 20);
}

static void test_vsock_slow_host_reader(void **state)
{
	struct fhost *slow = guest_connect(1, 52), *fast = guest_connect(2, 52);
	static uint8_t data[VSOCK_MAX_PKT];

	slow->send_room = 0;
	for (int i = 0; i < 4; i++)
		tx_rw(1, 52, data, VSOCK_MAX_PKT); /* fills its buffer */
	for (int i = 0; i < 64; i++)
		tx_rw(2, 52, data, VSOCK_MAX_PKT); /* flows on */
	assert_int_equal(slow->out_len, 0);
	assert_int_equal(fast->out_len, 64 * VSOCK_MAX_PKT);
	assert_false(slow->released);
}

static void test_vsock_transport_reset(void **state)
{
	struct fhost *a = guest_connect(1, 52), *b;
	uint32_t port;
	uint8_t ev[8];
	struct iovec iov = {ev, 3};

	b = host_connect(2, &port);
	assert_false(vsock_core_event_pending(T.core));
	vsock_core_transport_reset(T.core);
	assert_true(a->released);
	assert_true(b->released);
	assert_int_equal(a->release_err, -ECONNRESET);
	assert_int_equal(vsock_core_nr_conns(T.core), 0);
	rx_none();
	assert_true(vsock_core_event_pending(T.core));
	assert_int_equal(vsock_core_event(T.core, &iov, 1), -EMSGSIZE);
	iov.iov_len = sizeof(ev);
	memset(ev, 0xff, sizeof(ev));
	assert_int_equal(vsock_core_event(T.core, &iov, 1), VSOCK_EVENT_SIZE);
	assert_memory_equal(ev, ((uint8_t[]){0, 0, 0, 0}), 4);
	assert_false(vsock_core_event_pending(T.core));
	assert_int_equal(vsock_core_event(T.core, &iov, 1), 0);
	/* The guest starts over. */
	guest_connect(1, 52);
}

static void test_vsock_device_reset(void **state)
{
	struct fhost *a = guest_connect(1, 52);
	uint8_t data[1] = {0};

	tx_rw(77, 52, data, 1); /* an orphan RST queued */
	vsock_core_reset(T.core);
	assert_true(a->released);
	assert_false(vsock_core_event_pending(T.core));
	rx_none();
}

#define VT(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vsock_hdr_layout),
	    cmocka_unit_test(test_vsock_pkt_parse_table),
	    cmocka_unit_test(test_vsock_iov_helpers),
	    cmocka_unit_test(test_vsock_line_parse_table),
	    cmocka_unit_test(test_vsock_line_garbage),
	    cmocka_unit_test(test_vsock_line_end),
	    cmocka_unit_test(test_vsock_line_format_ok),
	    VT(test_vsock_init_bad_cid),
	    VT(test_vsock_guest_connect),
	    VT(test_vsock_guest_connect_refused),
	    VT(test_vsock_host_connect),
	    VT(test_vsock_host_connect_refused),
	    VT(test_vsock_host_connect_timeout),
	    VT(test_vsock_host_connect_client_gone),
	    VT(test_vsock_max_conns),
	    VT(test_vsock_guest_to_host_data),
	    VT(test_vsock_credit_update_after_consumption),
	    VT(test_vsock_guest_to_host_buffered),
	    VT(test_vsock_guest_credit_violation),
	    VT(test_vsock_host_to_guest_data),
	    VT(test_vsock_host_to_guest_respects_credit),
	    VT(test_vsock_host_to_guest_lying_fwd_cnt),
	    VT(test_vsock_credit_request),
	    VT(test_vsock_rw_many_segments),
	    VT(test_vsock_half_close_guest_first),
	    VT(test_vsock_half_close_host_first),
	    VT(test_vsock_guest_close),
	    VT(test_vsock_guest_shutdown_rcv_only),
	    VT(test_vsock_guest_shutdown_flushes_first),
	    VT(test_vsock_guest_rst),
	    VT(test_vsock_guest_rst_after_shutdown_drains),
	    VT(test_vsock_host_errors_reset),
	    VT(test_vsock_abort_established),
	    VT(test_vsock_unknown_connection),
	    VT(test_vsock_malformed_packets),
	    VT(test_vsock_malformed_resets_connection),
	    VT(test_vsock_protocol_violations),
	    VT(test_vsock_orphan_rsts_bounded),
	    VT(test_vsock_rx_buffer_too_small),
	    VT(test_vsock_fair_round_robin),
	    VT(test_vsock_control_before_data),
	    VT(test_vsock_slow_guest_reader),
	    VT(test_vsock_slow_host_reader),
	    VT(test_vsock_transport_reset),
	    VT(test_vsock_device_reset),
	};

	log_level = LOG_ERR; /* the refused packets would each log */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
