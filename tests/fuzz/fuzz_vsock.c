/* libFuzzer target for devices/vsock: the packet parser and the connection state machine. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "devices/vsock/core.h"
#include "devices/vsock/line.h"
#include "devices/vsock/packet.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input: a program for a fake guest and a fake host side driving one
 * vsock core (guest CID 3). Each step is an opcode byte and its operands;
 * the input ends the program (missing operands read as 0):
 *   0  raw tx chain: u16 length, u8 split seed, then that many bytes as the
 *      chain (header and payload), cut into up to 4 segments
 *   1  guest packet: u8 op (values past 7 kept raw), u8 ports (guest port
 *      1000 + bits 0-1, host port from bits 2-4: 52, 53, or the first local
 *      ports), u8 flags, u16 len, u8 credit (buf_alloc and fwd_cnt choice),
 *      u8 damage (bit 0: bad src_cid, 1: bad dst_cid, 2: bad type,
 *      3: chain one byte short, 4-7: 0); RW payloads follow a per-stream pattern
 *   2  rx buffer: u16 size, u8 split seed: post it, check what comes out
 *   3  host connects: u8 guest port (1000 + bits 0-1)
 *   4  host readable: u8 stream, u16 bytes it offers, u8 bit 0 EOF, bit 1 error
 *   5  host writable: u8 stream, u16 room, u8 bit 0 error
 *   6  host gives up on a stream: u8 stream
 *   7  u8: 0 transport reset, 1 device reset, else an event buffer of that size
 *   8  CONNECT line: u8 length, then the bytes (vsock_line_end/_parse_connect)
 * Checked besides ASan/UBSan: every packet to the guest is well-formed and
 * addressed to it, never carries more data than the stream's credit, and its
 * data is the host's bytes in order; the host receives exactly the guest's
 * bytes in order; the core never calls a released host end, never writes
 * after shutting it, buffers at most buf_alloc and keeps its connection cap;
 * every host end is released exactly once by the end.
 */
#define CID	  3u
#define MAX_HOSTS 4096
#define MAX_STEPS 4096

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_vsock: %s:%d: check failed: %s\n", __FILE__,         \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct in *in)
{
	uint8_t v = 0;

	if (in->n) {
		v = *in->p++;
		in->n--;
	}
	return v;
}

static uint16_t u16(struct in *in)
{
	return (uint16_t)(u8(in) | (u8(in) << 8));
}

/* --- fake host --- */

struct fhost {
	struct vsock_conn *conn;
	uint32_t gport, hport; /* the stream's ports, kept after release */
	size_t offered, given; /* bytes the host has / handed to the guest */
	bool eof, shut_wr, released;
	bool raw; /* a raw chain may have sent it bytes off the pattern */
	int recv_err, send_err;
	size_t room;	 /* bytes send() takes before -EAGAIN */
	size_t received; /* bytes from the guest */
};

static struct {
	struct vsock_core *core;
	struct fhost *hosts[MAX_HOSTS];
	unsigned int nr_hosts;
	/* guest side: the next payload offset per (guest port, host port) */
	uint32_t gsent[4][8];
	bool accept_connect;
} F;

static uint8_t h2g_byte(const struct fhost *fh, size_t off)
{
	return (uint8_t)(fh->hport * 3 + fh->gport + off * 5 + (off >> 8));
}

static uint8_t g2h_byte(uint32_t gport, uint32_t hport, size_t off)
{
	return (uint8_t)(gport * 7 + hport + off * 11 + (off >> 7));
}

static const uint32_t hports[8] = {52,
				   53,
				   VSOCK_LOCAL_PORT_BASE,
				   VSOCK_LOCAL_PORT_BASE + 1,
				   VSOCK_LOCAL_PORT_BASE + 2,
				   VSOCK_LOCAL_PORT_BASE + 3,
				   54,
				   0xffffffff};

static int hport_index(uint32_t hport)
{
	for (int i = 0; i < 8; i++)
		if (hports[i] == hport)
			return i;
	return -1;
}

static struct fhost *fhost_new(uint32_t gport, uint32_t hport)
{
	struct fhost *fh;

	if (F.nr_hosts == MAX_HOSTS)
		return NULL;
	fh = calloc(1, sizeof(*fh));
	CHECK(fh);
	fh->gport = gport;
	fh->hport = hport;
	fh->room = SIZE_MAX;
	F.hosts[F.nr_hosts++] = fh;
	return fh;
}

static int op_connect(void *opaque, struct vsock_conn *c, uint32_t port, void **host)
{
	struct fhost *fh;

	CHECK(c->host_port == port);
	if (!F.accept_connect)
		return -ECONNREFUSED;
	fh = fhost_new(c->guest_port, port);
	if (!fh)
		return -EMFILE;
	/* A new stream: the guest's payload pattern starts over (raw REQUESTs too). */
	if (c->guest_port - 1000 < 4 && hport_index(port) >= 0)
		F.gsent[c->guest_port - 1000][hport_index(port)] = 0;
	fh->conn = c;
	*host = fh;
	return 0;
}

static int op_established(void *opaque, void *host, struct vsock_conn *c)
{
	struct fhost *fh = host;

	CHECK(!fh->released && fh->conn == c);
	return fh->send_err ? -EPIPE : 0;
}

static ssize_t op_recv(void *opaque, void *host, const struct iovec *iov, int n, bool *drained)
{
	struct fhost *fh = host;
	size_t want = vsock_iov_len(iov, n), got = 0;

	CHECK(!fh->released);
	if (fh->recv_err)
		return fh->recv_err;
	if (fh->given == fh->offered)
		return fh->eof ? 0 : -EAGAIN;
	for (int i = 0; i < n && fh->given < fh->offered; i++) {
		uint8_t *p = iov[i].iov_base;

		for (size_t j = 0; j < iov[i].iov_len && fh->given < fh->offered; j++)
			p[j] = h2g_byte(fh, fh->given++), got++;
	}
	*drained = got < want && !fh->eof;
	return (ssize_t)got;
}

static ssize_t op_send(void *opaque, void *host, const struct iovec *iov, int n)
{
	struct fhost *fh = host;
	size_t len = vsock_iov_len(iov, n), done = 0;

	CHECK(!fh->released && !fh->shut_wr);
	if (fh->send_err)
		return fh->send_err;
	if (len > fh->room)
		len = fh->room;
	if (!len)
		return -EAGAIN;
	for (int i = 0; i < n && done < len; i++) {
		const uint8_t *p = iov[i].iov_base;

		for (size_t j = 0; j < iov[i].iov_len && done < len; j++, done++)
			CHECK(fh->raw ||
			      p[j] == g2h_byte(fh->gport, fh->hport, fh->received + done));
	}
	fh->received += len;
	fh->room -= len;
	return (ssize_t)len;
}

static void op_shutdown(void *opaque, void *host, int how)
{
	struct fhost *fh = host;

	CHECK(!fh->released);
	CHECK(how == SHUT_RD || how == SHUT_WR);
	if (how == SHUT_WR)
		fh->shut_wr = true;
}

static void op_release(void *opaque, void *host, int err)
{
	struct fhost *fh = host;

	CHECK(!fh->released);
	CHECK(err <= 0);
	fh->released = true;
	fh->conn = NULL;
}

static const struct vsock_host_ops ops = {
    .connect = op_connect,
    .established = op_established,
    .recv = op_recv,
    .send = op_send,
    .shutdown = op_shutdown,
    .release = op_release,
};

/* --- the guest side --- */

/* Cut buf[0..len) into up to 4 segments at eighths picked by seed, each its own allocation. */
static int segments(const uint8_t *buf, size_t len, uint8_t seed, struct iovec *iov)
{
	size_t cut[5] = {0, len * (seed & 7) / 8, len * ((seed >> 3) & 7) / 8,
			 len * ((seed >> 6) * 2 + 1) / 8, len};
	int n = 0;

	/* Sort the three inner cuts. */
	for (int i = 1; i < 4; i++)
		for (int j = i + 1; j < 4; j++)
			if (cut[j] < cut[i]) {
				size_t t = cut[i];

				cut[i] = cut[j];
				cut[j] = t;
			}
	for (int i = 1; i <= 4; i++) {
		size_t a = cut[i - 1], b = cut[i];

		if (b == a && (len || n))
			continue;
		iov[n].iov_base = malloc(b - a ? b - a : 1);
		CHECK(iov[n].iov_base);
		if (buf)
			memcpy(iov[n].iov_base, buf + a, b - a);
		iov[n].iov_len = b - a;
		n++;
	}
	return n;
}

static void free_segments(struct iovec *iov, int n)
{
	for (int i = 0; i < n; i++)
		free(iov[i].iov_base);
}

static void guest_tx_chain(const uint8_t *buf, size_t len, uint8_t seed)
{
	struct iovec iov[4];
	int n = segments(buf, len, seed, iov);

	vsock_core_tx(F.core, iov, n);
	free_segments(iov, n);
}

static void step_raw(struct in *in)
{
	size_t len = u16(in);
	uint8_t seed = u8(in);

	if (len > in->n)
		len = in->n;
	for (unsigned int i = 0; i < F.nr_hosts; i++)
		F.hosts[i]->raw = true;
	guest_tx_chain(in->p, len, seed);
	in->p += len;
	in->n -= len;
}

static void step_packet(struct in *in)
{
	static uint8_t buf[VSOCK_HDR_SIZE + VSOCK_MAX_PKT + 2];
	uint8_t op = u8(in), ports = u8(in), flags = u8(in), credit, damage;
	uint32_t len = u16(in), gi = ports & 3, hi = (ports >> 2) & 7;
	struct vsock_hdr h = {
	    .src_cid = CID,
	    .dst_cid = VSOCK_CID_HOST,
	    .src_port = 1000 + gi,
	    .dst_port = hports[hi],
	    .type = VSOCK_TYPE_STREAM,
	    .flags = flags,
	};
	size_t chain;

	credit = u8(in);
	damage = u8(in);
	h.op = op <= 7 ? op : (op & 0x80 ? op : op % 8);
	if (h.op == VSOCK_OP_RW) {
		if (len > VSOCK_MAX_PKT)
			len = VSOCK_MAX_PKT + (len & 1);
	} else {
		len = len > 3 ? 0 : len;
	}
	h.len = len;
	/* Mostly sane credit, sometimes tiny or lying. */
	h.buf_alloc = credit & 0x80 ? (uint32_t)(credit & 0x7f) * 97 : 256u << 10;
	h.fwd_cnt = credit & 0x40 ? 0xfffff000u + credit : 0;
	if (damage & 1)
		h.src_cid = CID + 1;
	if (damage & 2)
		h.dst_cid = CID;
	if (damage & 4)
		h.type = VSOCK_TYPE_SEQPACKET;
	vsock_hdr_encode(&h, buf);
	for (uint32_t i = 0; i < len; i++)
		buf[VSOCK_HDR_SIZE + i] = g2h_byte(h.src_port, h.dst_port, F.gsent[gi][hi] + i);
	if (h.op == VSOCK_OP_RW && !(damage & 15))
		F.gsent[gi][hi] += len;
	chain = VSOCK_HDR_SIZE + len - (damage & 8 ? 1 : 0);
	guest_tx_chain(buf, chain, damage ^ op);
}

static struct fhost *host_of(struct vsock_conn *c)
{
	return c ? c->host : NULL;
}

/* Check one packet the core wrote for the guest. */
static void check_rx(const struct iovec *iov, int n, int w, size_t total)
{
	uint8_t raw[VSOCK_HDR_SIZE];
	struct vsock_hdr h;
	struct vsock_conn *c;
	struct fhost *fh;

	CHECK(w >= (int)VSOCK_HDR_SIZE && (size_t)w <= total);
	vsock_iov_read(iov, n, 0, raw, sizeof(raw));
	vsock_hdr_decode(raw, &h);
	CHECK(h.len == (uint32_t)w - VSOCK_HDR_SIZE);
	CHECK(h.len <= VSOCK_MAX_PKT);
	CHECK(h.dst_cid == CID);
	CHECK(h.type == VSOCK_TYPE_STREAM);
	CHECK(h.op >= VSOCK_OP_REQUEST && h.op <= VSOCK_OP_CREDIT_REQUEST);
	CHECK(h.src_cid == VSOCK_CID_HOST || h.op == VSOCK_OP_RST);
	CHECK(h.len == 0 || h.op == VSOCK_OP_RW);
	if (h.op == VSOCK_OP_SHUTDOWN)
		CHECK(h.flags == VSOCK_SHUTDOWN_SEND);
	if (h.op != VSOCK_OP_RST)
		CHECK(h.buf_alloc == VSOCK_BUF_ALLOC);
	if (h.op != VSOCK_OP_RW)
		return;
	c = vsock_core_lookup(F.core, h.dst_port, h.src_port);
	CHECK(c && c->state == VSOCK_CONN_ESTABLISHED);
	/* Never past the guest's credit: in flight at most its buf_alloc. */
	CHECK(c->tx_cnt - c->peer_fwd_cnt <= c->peer_buf_alloc);
	fh = host_of(c);
	CHECK(fh && fh->given >= h.len);
	for (uint32_t i = 0; i < h.len; i++) {
		uint8_t b;

		vsock_iov_read(iov, n, VSOCK_HDR_SIZE + i, &b, 1);
		CHECK(b == h2g_byte(fh, fh->given - h.len + i));
	}
}

static void step_rx(struct in *in)
{
	size_t size = u16(in) & 0x3fff;
	uint8_t seed = u8(in);
	struct iovec iov[4];
	int n, w;

	if (seed & 1)
		size = VSOCK_HDR_SIZE + 4096; /* Linux's rx buffers */
	n = segments(NULL, size, seed, iov);
	w = vsock_core_rx(F.core, iov, n);
	if (size < VSOCK_HDR_SIZE)
		CHECK(w == -EMSGSIZE);
	else if (w)
		check_rx(iov, n, w, size);
	else
		CHECK(w == 0);
	free_segments(iov, n);
}

/* The n-th host end still in use, if any. */
static struct fhost *live_host(uint8_t k)
{
	unsigned int live = 0, pick;

	for (unsigned int i = 0; i < F.nr_hosts; i++)
		live += !F.hosts[i]->released && F.hosts[i]->conn;
	if (!live)
		return NULL;
	pick = k % live;
	for (unsigned int i = 0; i < F.nr_hosts; i++)
		if (!F.hosts[i]->released && F.hosts[i]->conn && !pick--)
			return F.hosts[i];
	return NULL;
}

static void step_host_connect(struct in *in)
{
	uint32_t gi = u8(in) & 3;
	struct fhost *fh = fhost_new(1000 + gi, 0);
	struct vsock_conn *c;
	int rc, hi;

	if (!fh)
		return;
	rc = vsock_core_connect(F.core, 1000 + gi, fh, &c);
	if (rc < 0) {
		CHECK(rc == -EMFILE);
		fh->released = true;
		return;
	}
	CHECK(c->host_port >= VSOCK_LOCAL_PORT_BASE && c->host_port != 0xffffffff);
	fh->conn = c;
	fh->hport = c->host_port;
	hi = hport_index(c->host_port);
	if (hi >= 0)
		F.gsent[gi][hi] = 0;
}

static void step_host_readable(struct in *in)
{
	struct fhost *fh = live_host(u8(in));
	uint16_t more = u16(in);
	uint8_t how = u8(in);

	if (!fh)
		return;
	if (!fh->eof)
		fh->offered += more;
	fh->eof |= how & 1;
	if (how & 2)
		fh->recv_err = -ECONNRESET;
	vsock_core_readable(F.core, fh->conn);
}

static void step_host_writable(struct in *in)
{
	struct fhost *fh = live_host(u8(in));
	uint16_t room = u16(in);
	uint8_t how = u8(in);

	if (!fh)
		return;
	fh->room = room == 0xffff ? SIZE_MAX : room;
	if (how & 1)
		fh->send_err = -EPIPE;
	vsock_core_writable(F.core, fh->conn);
}

static void step_host_abort(struct in *in)
{
	struct fhost *fh = live_host(u8(in));

	if (fh)
		vsock_core_abort(F.core, fh->conn, -ETIMEDOUT);
}

static void step_reset(struct in *in)
{
	uint8_t v = u8(in);
	uint8_t *ev;
	struct iovec iov;
	int w;

	if (v == 0) {
		vsock_core_transport_reset(F.core);
		CHECK(vsock_core_event_pending(F.core));
	} else if (v == 1) {
		vsock_core_reset(F.core);
	} else {
		ev = malloc(v);
		CHECK(ev);
		iov = (struct iovec){ev, v};
		w = vsock_core_event(F.core, &iov, 1);
		CHECK(w == 0 || w == (int)VSOCK_EVENT_SIZE || (w == -EMSGSIZE && v < 4));
		if (w > 0)
			CHECK(!memcmp(ev, "\0\0\0\0", 4));
		free(ev);
	}
	if (v <= 1)
		CHECK(vsock_core_nr_conns(F.core) == 0);
}

static void step_line(struct in *in)
{
	size_t len = u8(in);
	char *line;
	uint32_t port;
	int end;

	if (len > in->n)
		len = in->n;
	line = malloc(len ? len : 1);
	CHECK(line);
	memcpy(line, in->p, len);
	in->p += len;
	in->n -= len;
	end = vsock_line_end(line, len);
	CHECK(end == -EMSGSIZE || (end >= 0 && (size_t)end <= len && end <= VSOCK_LINE_MAX));
	CHECK(end != -EMSGSIZE || len >= VSOCK_LINE_MAX);
	if (end > 0) {
		CHECK(line[end - 1] == '\n');
		if (!vsock_line_parse_connect(line, (size_t)end, &port)) {
			char back[32];
			int n = snprintf(back, sizeof(back), "CONNECT %u\n", port);

			CHECK(port != 0xffffffff);
			CHECK((size_t)n <= (size_t)end); /* leading zeros or \r make it longer */
		}
	}
	free(line);
}

/* Invariants that hold between any two steps. */
static void check_state(void)
{
	CHECK(vsock_core_nr_conns(F.core) <= VSOCK_MAX_CONNS);
	for (unsigned int i = 0; i < F.nr_hosts; i++) {
		struct fhost *fh = F.hosts[i];

		if (fh->released || !fh->conn)
			continue;
		CHECK(fh->conn->host == fh);
		CHECK(fh->conn->ring_len <= VSOCK_BUF_ALLOC);
		CHECK(fh->conn->rx_cnt - fh->conn->fwd_cnt == fh->conn->ring_len);
		CHECK(fh->conn->fwd_cnt == fh->received);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = {data, size};
	int steps = 0;

	memset(&F, 0, sizeof(F));
	log_level = -1;
	CHECK(vsock_core_init(CID, &ops, NULL, &F.core) == 0);
	F.accept_connect = size & 1;
	while (in.n && steps++ < MAX_STEPS) {
		switch (u8(&in) % 9) {
		case 0:
			step_raw(&in);
			break;
		case 1:
			step_packet(&in);
			break;
		case 2:
			step_rx(&in);
			break;
		case 3:
			step_host_connect(&in);
			break;
		case 4:
			step_host_readable(&in);
			break;
		case 5:
			step_host_writable(&in);
			break;
		case 6:
			step_host_abort(&in);
			break;
		case 7:
			step_reset(&in);
			break;
		case 8:
			step_line(&in);
			break;
		}
		check_state();
	}
	vsock_core_exit(F.core);
	for (unsigned int i = 0; i < F.nr_hosts; i++) {
		CHECK(F.hosts[i]->released);
		free(F.hosts[i]);
	}
	return 0;
}
