/* virtio-vsock core: connection table, state machine, packets from the guest, credit. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core_int.h"
#include "log.h"

static unsigned int hash_key(uint32_t guest_port, uint32_t host_port)
{
	return ((guest_port * 2654435761u) ^ (host_port * 40503u)) % VSOCK_HASH_SIZE;
}

struct vsock_conn *vsock_core_lookup(struct vsock_core *core, uint32_t guest_port,
				     uint32_t host_port)
{
	struct vsock_conn *c = core->hash[hash_key(guest_port, host_port)];

	while (c && (c->guest_port != guest_port || c->host_port != host_port))
		c = c->hnext;
	return c;
}

uint32_t vsock_conn_peer_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	/* A guest claiming more forwarded than was sent gets no more than buf_alloc. */
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* One line per device at warn level, the rest at debug: a guest cannot flood the log. */
static void protocol_error(struct vsock_core *core, const struct vsock_hdr *h, const char *why)
{
	core->stats.bad_pkts++;
	if (!core->warned) {
		core->warned = true;
		pr_warn("vsock: guest packet %s %u->%u refused: %s (further ones at debug level)",
			vsock_op_name(h->op), h->src_port, h->dst_port, why);
	} else {
		pr_debug("vsock: guest packet %s %u->%u refused: %s", vsock_op_name(h->op),
			 h->src_port, h->dst_port, why);
	}
}

void vsock_ready_del(struct vsock_core *core, struct vsock_conn *c)
{
	struct vsock_ready_q *q = &core->ready[c->queue];

	if (!c->queue)
		return;
	if (c->rprev)
		c->rprev->rnext = c->rnext;
	else
		q->head = c->rnext;
	if (c->rnext)
		c->rnext->rprev = c->rprev;
	else
		q->tail = c->rprev;
	c->rprev = c->rnext = NULL;
	c->queue = VSOCK_Q_NONE;
}

/* Put c at the back of queue which (leaving the other one). */
static void ready_add_tail(struct vsock_core *core, struct vsock_conn *c, int which)
{
	struct vsock_ready_q *q = &core->ready[which];

	if (c->queue == which)
		return;
	vsock_ready_del(core, c);
	c->rnext = NULL;
	c->rprev = q->tail;
	if (q->tail)
		q->tail->rnext = c;
	else
		q->head = c;
	q->tail = c;
	c->queue = which;
}

bool vsock_conn_can_send_data(const struct vsock_conn *c)
{
	return c->state == VSOCK_CONN_ESTABLISHED && c->host_readable && !c->host_eof &&
	       !(c->guest_shut & VSOCK_SHUTDOWN_RCV) && vsock_conn_peer_credit(c) > 0;
}

/* The queue c belongs in: control packets first, then data, else none. */
static int conn_queue(const struct vsock_conn *c)
{
	if (c->state == VSOCK_CONN_RST_PENDING || c->pending)
		return VSOCK_Q_CTL;
	return vsock_conn_can_send_data(c) ? VSOCK_Q_DATA : VSOCK_Q_NONE;
}

static void conn_release_host(struct vsock_core *core, struct vsock_conn *c, int err)
{
	void *host = c->host;

	if (!host)
		return;
	c->host = NULL;
	core->ops->release(core->opaque, host, err);
}

void vsock_conn_free(struct vsock_core *core, struct vsock_conn *c)
{
	struct vsock_conn **pp = &core->hash[hash_key(c->guest_port, c->host_port)];

	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
	vsock_ready_del(core, c);
	conn_release_host(core, c, -ECONNRESET);
	core->nr_conns--;
	free(c->ring);
	free(c);
}

/* Close the host end with err and queue an RST for the guest; the entry goes once it is sent. */
void vsock_conn_reset(struct vsock_core *core, struct vsock_conn *c, int err)
{
	conn_release_host(core, c, err);
	free(c->ring);
	c->ring = NULL;
	c->ring_len = 0;
	c->pending = 0;
	c->state = VSOCK_CONN_RST_PENDING;
	vsock_conn_update(core, c);
}

/* Both directions finished: flush-then-shut the host's side, then RST ends the stream. */
static void conn_check_done(struct vsock_core *core, struct vsock_conn *c)
{
	bool guest_done, host_done;

	if (c->state != VSOCK_CONN_ESTABLISHED)
		return;
	guest_done = (c->guest_shut & VSOCK_SHUTDOWN_SEND) && !c->ring_len;
	if (guest_done && !c->host_wr_shut) {
		c->host_wr_shut = true;
		core->ops->shutdown(core->opaque, c->host, SHUT_WR);
	}
	host_done = (c->guest_shut & VSOCK_SHUTDOWN_RCV) || (c->shut_sent & VSOCK_SHUTDOWN_SEND);
	if (guest_done && host_done)
		vsock_conn_reset(core, c, 0);
}

/* After any change to c: finish it if both sides are done, (un)queue it for the guest. */
void vsock_conn_update(struct vsock_core *core, struct vsock_conn *c)
{
	conn_check_done(core, c);
	if (c->state == VSOCK_CONN_ESTABLISHED && c->host_readable && !c->host_eof &&
	    !(c->guest_shut & VSOCK_SHUTDOWN_RCV) && !vsock_conn_peer_credit(c) &&
	    !c->credit_req_sent) {
		/* Blocked on the guest's credit: ask once in case an update was lost. */
		c->credit_req_sent = true;
		c->pending |= CONN_P_CREDIT_REQUEST;
	}
	if (conn_queue(c))
		ready_add_tail(core, c, conn_queue(c));
	else
		vsock_ready_del(core, c);
}

static struct vsock_conn *conn_new(struct vsock_core *core, uint32_t guest_port, uint32_t host_port)
{
	struct vsock_conn *c = calloc(1, sizeof(*c));
	unsigned int b = hash_key(guest_port, host_port);

	if (!c)
		return NULL;
	c->guest_port = guest_port;
	c->host_port = host_port;
	c->hnext = core->hash[b];
	core->hash[b] = c;
	core->nr_conns++;
	return c;
}

static void orphan_rst(struct vsock_core *core, const struct vsock_hdr *h)
{
	struct orphan_rst *o;

	if (core->orphan_count == VSOCK_ORPHAN_RSTS) {
		core->stats.orphan_drops++;
		return;
	}
	o = &core->orphans[(core->orphan_head + core->orphan_count++) % VSOCK_ORPHAN_RSTS];
	o->src_cid = h->dst_cid;
	o->src_port = h->dst_port;
	o->dst_port = h->src_port;
}

/* --- toward the host --- */

static bool ring_alloc(struct vsock_conn *c)
{
	if (!c->ring)
		c->ring = malloc(VSOCK_BUF_ALLOC);
	return c->ring != NULL;
}

/* Append payload bytes [off, off+len) of iov to c's ring (room checked by the caller). */
static void ring_append(struct vsock_conn *c, const struct iovec *iov, int n, size_t off,
			uint32_t len)
{
	uint32_t tail = (c->ring_head + c->ring_len) % VSOCK_BUF_ALLOC;
	uint32_t first = VSOCK_BUF_ALLOC - tail;

	if (first > len)
		first = len;
	vsock_iov_read(iov, n, off, c->ring + tail, first);
	vsock_iov_read(iov, n, off + first, c->ring, len - first);
	c->ring_len += len;
}

static void note_forwarded(struct vsock_core *core, struct vsock_conn *c, uint32_t n)
{
	c->fwd_cnt += n;
	core->stats.bytes_from_guest += n;
	if (c->fwd_cnt - c->fwd_cnt_sent >= VSOCK_CREDIT_THRESHOLD &&
	    !(c->guest_shut & VSOCK_SHUTDOWN_SEND))
		c->pending |= CONN_P_CREDIT_UPDATE;
}

static bool send_would_block(ssize_t r)
{
	return r == 0 || r == -EAGAIN || r == -EWOULDBLOCK || r == -EINTR;
}

/* Hand the ring to the host while it takes bytes. Returns 0, or -errno when c was reset or freed.
 */
static int conn_flush(struct vsock_core *core, struct vsock_conn *c)
{
	while (c->ring_len && c->host_writable) {
		struct iovec iov[2];
		uint32_t first = VSOCK_BUF_ALLOC - c->ring_head;
		int n = 1;
		ssize_t r;

		if (first > c->ring_len)
			first = c->ring_len;
		iov[0].iov_base = c->ring + c->ring_head;
		iov[0].iov_len = first;
		if (c->ring_len > first) {
			iov[1].iov_base = c->ring;
			iov[1].iov_len = c->ring_len - first;
			n = 2;
		}
		r = core->ops->send(core->opaque, c->host, iov, n);
		if (send_would_block(r)) {
			c->host_writable = false;
		} else if (r < 0) {
			if (c->state == VSOCK_CONN_DRAINING) {
				conn_release_host(core, c, (int)r);
				vsock_conn_free(core, c);
			} else {
				vsock_conn_reset(core, c, (int)r);
			}
			return (int)r;
		} else {
			if ((size_t)r > c->ring_len)
				r = c->ring_len;
			c->ring_head = (uint32_t)((c->ring_head + (size_t)r) % VSOCK_BUF_ALLOC);
			c->ring_len -= (uint32_t)r;
			note_forwarded(core, c, (uint32_t)r);
		}
	}
	return 0;
}

/* An RW payload (len bytes after the header): straight to the host, the rest into the ring. */
static void conn_deliver(struct vsock_core *core, struct vsock_conn *c, const struct iovec *iov,
			 int n, uint32_t len)
{
	size_t off = VSOCK_HDR_SIZE, end = VSOCK_HDR_SIZE + (size_t)len;

	while (off < end && !c->ring_len && c->host_writable) {
		struct iovec seg[VSOCK_MAX_SEGS];
		size_t got;
		int nseg = vsock_iov_slice(iov, n, off, end - off, seg, VSOCK_MAX_SEGS, &got);
		ssize_t r = core->ops->send(core->opaque, c->host, seg, nseg);

		if (send_would_block(r)) {
			c->host_writable = false;
		} else if (r < 0) {
			vsock_conn_reset(core, c, (int)r);
			return;
		} else {
			if ((size_t)r > got)
				r = (ssize_t)got;
			off += (size_t)r;
			note_forwarded(core, c, (uint32_t)r);
		}
	}
	if (off < end) {
		if (!ring_alloc(c)) {
			pr_err("vsock: out of memory buffering port %u->%u", c->guest_port,
			       c->host_port);
			vsock_conn_reset(core, c, -ENOMEM);
			return;
		}
		ring_append(c, iov, n, off, (uint32_t)(end - off));
	}
}

/* --- packets from the guest --- */

static void guest_request(struct vsock_core *core, const struct vsock_hdr *h)
{
	struct vsock_conn *c;
	void *host = NULL;
	int rc;

	if (core->nr_conns >= VSOCK_MAX_CONNS) {
		pr_debug("vsock: refusing guest port %u -> host port %u: %u connections",
			 h->src_port, h->dst_port, core->nr_conns);
		orphan_rst(core, h);
		return;
	}
	c = conn_new(core, h->src_port, h->dst_port);
	if (!c) {
		orphan_rst(core, h);
		return;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	rc = core->ops->connect(core->opaque, c, h->dst_port, &host);
	if (rc < 0) {
		pr_debug("vsock: guest port %u -> host port %u refused: %s", h->src_port,
			 h->dst_port, strerror(-rc));
		c->state = VSOCK_CONN_RST_PENDING;
	} else {
		c->host = host;
		c->state = VSOCK_CONN_ESTABLISHED;
		c->pending = CONN_P_RESPONSE;
		c->host_writable = true;
	}
	vsock_conn_update(core, c);
}

/* The guest reset c. Returns false when c is gone. */
static bool guest_rst(struct vsock_core *core, struct vsock_conn *c)
{
	switch (c->state) {
	case VSOCK_CONN_CONNECTING:
		conn_release_host(core, c, -ECONNREFUSED);
		break;
	case VSOCK_CONN_ESTABLISHED:
		if ((c->guest_shut & VSOCK_SHUTDOWN_SEND) && c->ring_len) {
			/* An orderly close whose data the host has not taken yet: keep it. */
			c->state = VSOCK_CONN_DRAINING;
			c->pending = 0;
			vsock_ready_del(core, c);
			return true;
		}
		conn_release_host(core, c, -ECONNRESET);
		break;
	default:
		break;
	}
	vsock_conn_free(core, c);
	return false;
}

static void guest_shutdown(struct vsock_core *core, struct vsock_conn *c, uint32_t flags)
{
	uint32_t added = flags & VSOCK_SHUTDOWN_MASK & ~c->guest_shut;

	c->guest_shut |= added;
	if (added & VSOCK_SHUTDOWN_RCV)
		core->ops->shutdown(core->opaque, c->host, SHUT_RD);
	if (added & VSOCK_SHUTDOWN_SEND)
		c->pending &= ~CONN_P_CREDIT_UPDATE;
}

static void guest_rw(struct vsock_core *core, struct vsock_conn *c, const struct vsock_hdr *h,
		     const struct iovec *iov, int n)
{
	if (c->guest_shut & VSOCK_SHUTDOWN_SEND) {
		protocol_error(core, h, "data after SHUTDOWN(SEND)");
		vsock_conn_reset(core, c, -EPROTO);
		return;
	}
	if (h->len > VSOCK_BUF_ALLOC - c->ring_len) {
		protocol_error(core, h, "more data than the credit given");
		vsock_conn_reset(core, c, -EPROTO);
		return;
	}
	c->rx_cnt += h->len;
	conn_deliver(core, c, iov, n, h->len);
}

/* A well-formed packet for an existing connection. */
static void guest_pkt(struct vsock_core *core, struct vsock_conn *c, const struct vsock_hdr *h,
		      const struct iovec *iov, int n)
{
	uint32_t old_credit = vsock_conn_peer_credit(c);

	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	if (vsock_conn_peer_credit(c) > old_credit)
		c->credit_req_sent = false;

	if (c->state == VSOCK_CONN_CONNECTING && h->op != VSOCK_OP_RESPONSE &&
	    h->op != VSOCK_OP_RST && h->op != VSOCK_OP_CREDIT_UPDATE) {
		protocol_error(core, h, "not a RESPONSE to our REQUEST");
		vsock_conn_reset(core, c, -EPROTO);
		return;
	}
	switch (h->op) {
	case VSOCK_OP_REQUEST:
		protocol_error(core, h, "REQUEST for a connected port pair");
		vsock_conn_reset(core, c, -ECONNRESET);
		return;
	case VSOCK_OP_RESPONSE:
		if (c->state != VSOCK_CONN_CONNECTING) {
			protocol_error(core, h, "unexpected RESPONSE");
			vsock_conn_reset(core, c, -EPROTO);
			return;
		}
		c->state = VSOCK_CONN_ESTABLISHED;
		c->pending &= ~CONN_P_REQUEST;
		c->host_writable = true;
		if (core->ops->established(core->opaque, c->host, c) < 0) {
			vsock_conn_reset(core, c, -EPIPE);
			return;
		}
		break;
	case VSOCK_OP_RST:
		if (!guest_rst(core, c))
			return;
		break;
	case VSOCK_OP_SHUTDOWN:
		guest_shutdown(core, c, h->flags);
		break;
	case VSOCK_OP_RW:
		guest_rw(core, c, h, iov, n);
		if (c->state == VSOCK_CONN_RST_PENDING)
			return;
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		c->pending |= CONN_P_CREDIT_UPDATE;
		break;
	}
	vsock_conn_update(core, c);
}

void vsock_core_tx(struct vsock_core *core, const struct iovec *iov, int n)
{
	struct vsock_hdr h;
	enum vsock_pkt_err err = vsock_pkt_parse(iov, n, core->guest_cid, &h);
	struct vsock_conn *c;

	core->stats.pkts_from_guest++;
	if (err) {
		protocol_error(core, &h, vsock_pkt_strerror(err));
		if (!vsock_pkt_err_wants_rst(err, &h))
			return;
		c = err == VSOCK_PKT_DST_CID ? NULL
					     : vsock_core_lookup(core, h.src_port, h.dst_port);
		if (c && c->state != VSOCK_CONN_RST_PENDING && c->state != VSOCK_CONN_DRAINING)
			vsock_conn_reset(core, c, -EPROTO);
		else if (!c)
			orphan_rst(core, &h);
		return;
	}
	c = vsock_core_lookup(core, h.src_port, h.dst_port);
	if (!c) {
		if (h.op == VSOCK_OP_REQUEST)
			guest_request(core, &h);
		else if (h.op != VSOCK_OP_RST)
			orphan_rst(core, &h);
		return;
	}
	if (c->state == VSOCK_CONN_RST_PENDING || c->state == VSOCK_CONN_DRAINING) {
		/* Going away: an RST from the guest saves ours; anything else is stale. */
		if (h.op == VSOCK_OP_RST && c->state == VSOCK_CONN_RST_PENDING)
			vsock_conn_free(core, c);
		else if (h.op == VSOCK_OP_REQUEST)
			orphan_rst(core, &h);
		return;
	}
	guest_pkt(core, c, &h, iov, n);
}

static void drop_all(struct vsock_core *core)
{
	for (unsigned int b = 0; b < VSOCK_HASH_SIZE; b++)
		while (core->hash[b])
			vsock_conn_free(core, core->hash[b]);
	core->orphan_head = core->orphan_count = 0;
}

void vsock_core_reset(struct vsock_core *core)
{
	drop_all(core);
	core->event_pending = false;
}

void vsock_core_transport_reset(struct vsock_core *core)
{
	drop_all(core);
	core->event_pending = true;
}

/* --- host side --- */

int vsock_core_connect(struct vsock_core *core, uint32_t guest_port, void *host,
		       struct vsock_conn **out)
{
	struct vsock_conn *c;
	uint32_t port;

	if (core->nr_conns >= VSOCK_MAX_CONNS)
		return -EMFILE;
	/* At most VSOCK_MAX_CONNS ports are taken, so this ends within that many tries. */
	do {
		port = core->next_local_port++;
		if (core->next_local_port < VSOCK_LOCAL_PORT_BASE || core->next_local_port == ~0u)
			core->next_local_port = VSOCK_LOCAL_PORT_BASE;
	} while (vsock_core_lookup(core, guest_port, port));
	c = conn_new(core, guest_port, port);
	if (!c)
		return -ENOMEM;
	c->state = VSOCK_CONN_CONNECTING;
	c->host_initiated = true;
	c->host = host;
	c->pending = CONN_P_REQUEST;
	vsock_conn_update(core, c);
	*out = c;
	return 0;
}

void vsock_core_readable(struct vsock_core *core, struct vsock_conn *c)
{
	if (c->state != VSOCK_CONN_ESTABLISHED && c->state != VSOCK_CONN_CONNECTING)
		return;
	c->host_readable = true;
	vsock_conn_update(core, c);
}

void vsock_core_writable(struct vsock_core *core, struct vsock_conn *c)
{
	if (c->state != VSOCK_CONN_ESTABLISHED && c->state != VSOCK_CONN_DRAINING)
		return;
	c->host_writable = true;
	if (conn_flush(core, c) < 0)
		return;
	if (c->state == VSOCK_CONN_DRAINING) {
		if (!c->ring_len) {
			core->ops->shutdown(core->opaque, c->host, SHUT_WR);
			conn_release_host(core, c, 0);
			vsock_conn_free(core, c);
		}
		return;
	}
	vsock_conn_update(core, c);
}

void vsock_core_abort(struct vsock_core *core, struct vsock_conn *c, int err)
{
	if (c->state == VSOCK_CONN_DRAINING) {
		conn_release_host(core, c, err);
		vsock_conn_free(core, c);
	} else if (c->state != VSOCK_CONN_RST_PENDING) {
		vsock_conn_reset(core, c, err);
	}
}

/* --- lifetime --- */

int vsock_core_init(uint64_t guest_cid, const struct vsock_host_ops *ops, void *opaque,
		    struct vsock_core **out)
{
	struct vsock_core *core;

	if (guest_cid <= VSOCK_CID_HOST || guest_cid >= 0xffffffffull)
		return -EINVAL;
	core = calloc(1, sizeof(*core));
	if (!core)
		return -ENOMEM;
	core->guest_cid = guest_cid;
	core->ops = ops;
	core->opaque = opaque;
	core->next_local_port = VSOCK_LOCAL_PORT_BASE;
	*out = core;
	return 0;
}

void vsock_core_exit(struct vsock_core *core)
{
	if (!core)
		return;
	drop_all(core);
	free(core);
}

uint64_t vsock_core_cid(const struct vsock_core *core)
{
	return core->guest_cid;
}

unsigned int vsock_core_nr_conns(const struct vsock_core *core)
{
	return core->nr_conns;
}

const struct vsock_core_stats *vsock_core_stats(const struct vsock_core *core)
{
	return &core->stats;
}
