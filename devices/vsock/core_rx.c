/* virtio-vsock core toward the guest: the next packet for an rx buffer (round robin), events. */
#include <errno.h>
#include <string.h>

#include "core_int.h"

static int put_hdr(struct vsock_core *core, struct vsock_conn *c, const struct iovec *iov, int n,
		   uint16_t op, uint32_t flags, uint32_t len)
{
	uint8_t raw[VSOCK_HDR_SIZE];
	struct vsock_hdr h = {
	    .src_cid = VSOCK_CID_HOST,
	    .dst_cid = core->guest_cid,
	    .src_port = c->host_port,
	    .dst_port = c->guest_port,
	    .len = len,
	    .type = VSOCK_TYPE_STREAM,
	    .op = op,
	    .flags = flags,
	};

	if (op != VSOCK_OP_RST) {
		h.buf_alloc = VSOCK_BUF_ALLOC;
		h.fwd_cnt = c->fwd_cnt;
		c->fwd_cnt_sent = c->fwd_cnt;
		c->pending &= ~CONN_P_CREDIT_UPDATE; /* every packet carries the credit */
	} else {
		core->stats.rsts_sent++;
	}
	vsock_hdr_encode(&h, raw);
	vsock_iov_write(iov, n, 0, raw, sizeof(raw));
	core->stats.pkts_to_guest++;
	core->stats.bytes_to_guest += len;
	return (int)(VSOCK_HDR_SIZE + len);
}

/* Read host bytes into the payload part of the chain, up to the guest's credit. */
static int conn_produce_data(struct vsock_core *core, struct vsock_conn *c, const struct iovec *iov,
			     int n, size_t room)
{
	struct iovec seg[VSOCK_MAX_SEGS];
	size_t limit = vsock_conn_peer_credit(c), got;
	bool drained = false;
	int nseg;
	ssize_t r;

	if (limit > VSOCK_MAX_PKT)
		limit = VSOCK_MAX_PKT;
	if (limit > room)
		limit = room;
	nseg = vsock_iov_slice(iov, n, VSOCK_HDR_SIZE, limit, seg, VSOCK_MAX_SEGS, &got);
	r = core->ops->recv(core->opaque, c->host, seg, nseg, &drained);
	if (r > 0) {
		if ((size_t)r > got)
			r = (ssize_t)got;
		if (drained)
			c->host_readable = false;
		c->tx_cnt += (uint32_t)r;
		return put_hdr(core, c, iov, n, VSOCK_OP_RW, 0, (uint32_t)r);
	}
	c->host_readable = false;
	if (r == 0) {
		c->host_eof = true;
		c->pending |= CONN_P_SHUTDOWN;
	} else if (r != -EAGAIN && r != -EWOULDBLOCK && r != -EINTR) {
		vsock_conn_reset(core, c, (int)r);
	}
	return 0;
}

/* c's next control packet into the chain; 0 if none. *gone when c was freed (its RST went). */
static int conn_produce_ctl(struct vsock_core *core, struct vsock_conn *c, const struct iovec *iov,
			    int n, bool *gone)
{
	int w;

	if (c->state == VSOCK_CONN_ESTABLISHED && (c->pending & CONN_P_RESPONSE)) {
		c->pending &= ~CONN_P_RESPONSE;
		return put_hdr(core, c, iov, n, VSOCK_OP_RESPONSE, 0, 0);
	}
	if (c->state == VSOCK_CONN_CONNECTING && (c->pending & CONN_P_REQUEST)) {
		c->pending &= ~CONN_P_REQUEST;
		return put_hdr(core, c, iov, n, VSOCK_OP_REQUEST, 0, 0);
	}
	if (c->state == VSOCK_CONN_RST_PENDING) {
		w = put_hdr(core, c, iov, n, VSOCK_OP_RST, 0, 0);
		vsock_conn_free(core, c);
		*gone = true;
		return w;
	}
	if (c->pending & CONN_P_CREDIT_UPDATE)
		return put_hdr(core, c, iov, n, VSOCK_OP_CREDIT_UPDATE, 0, 0);
	if (c->pending & CONN_P_CREDIT_REQUEST) {
		c->pending &= ~CONN_P_CREDIT_REQUEST;
		return put_hdr(core, c, iov, n, VSOCK_OP_CREDIT_REQUEST, 0, 0);
	}
	/* SHUTDOWN(SEND) is queued only once the host's data ran out: nothing can follow it. */
	if (c->pending & CONN_P_SHUTDOWN) {
		c->pending &= ~CONN_P_SHUTDOWN;
		c->shut_sent |= VSOCK_SHUTDOWN_SEND;
		return put_hdr(core, c, iov, n, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_SEND, 0);
	}
	c->pending = 0; /* nothing left that this state may send */
	return 0;
}

/* The next packet of c into the chain: control first, then data; 0 if it had none after all. */
static int conn_produce(struct vsock_core *core, struct vsock_conn *c, const struct iovec *iov,
			int n, size_t room, bool *gone)
{
	int w;

	*gone = false;
	w = conn_produce_ctl(core, c, iov, n, gone);
	if (w || *gone)
		return w;
	if (vsock_conn_can_send_data(c) && room) {
		w = conn_produce_data(core, c, iov, n, room);
		if (w)
			return w;
		/* End of stream or a host error: a SHUTDOWN or an RST is due now. */
		return conn_produce_ctl(core, c, iov, n, gone);
	}
	return 0;
}

static int put_orphan_rst(struct vsock_core *core, const struct iovec *iov, int n)
{
	const struct orphan_rst *o = &core->orphans[core->orphan_head];
	uint8_t raw[VSOCK_HDR_SIZE];
	struct vsock_hdr h = {
	    .src_cid = o->src_cid,
	    .dst_cid = core->guest_cid,
	    .src_port = o->src_port,
	    .dst_port = o->dst_port,
	    .type = VSOCK_TYPE_STREAM,
	    .op = VSOCK_OP_RST,
	};

	core->orphan_head = (core->orphan_head + 1) % VSOCK_ORPHAN_RSTS;
	core->orphan_count--;
	vsock_hdr_encode(&h, raw);
	vsock_iov_write(iov, n, 0, raw, sizeof(raw));
	core->stats.rsts_sent++;
	core->stats.pkts_to_guest++;
	return VSOCK_HDR_SIZE;
}

bool vsock_core_rx_pending(const struct vsock_core *core)
{
	return core->orphan_count || core->ready[VSOCK_Q_CTL].head ||
	       core->ready[VSOCK_Q_DATA].head;
}

int vsock_core_rx(struct vsock_core *core, const struct iovec *iov, int n)
{
	size_t total = vsock_iov_len(iov, n);
	unsigned int budget = 2 * core->nr_conns + 2;

	if (total < VSOCK_HDR_SIZE)
		return -EMSGSIZE;
	if (core->orphan_count)
		return put_orphan_rst(core, iov, n);
	/*
	 * Control packets first, then data; in each queue the head sends one
	 * packet and goes to the back if it has more.
	 */
	for (int q = VSOCK_Q_CTL; q <= VSOCK_Q_DATA; q++) {
		while (core->ready[q].head && budget--) {
			struct vsock_conn *c = core->ready[q].head;
			bool gone;
			int w;

			vsock_ready_del(core, c);
			w = conn_produce(core, c, iov, n, total - VSOCK_HDR_SIZE, &gone);
			if (!gone)
				vsock_conn_update(core, c);
			if (w > 0)
				return w;
		}
	}
	return 0;
}

bool vsock_core_event_pending(const struct vsock_core *core)
{
	return core->event_pending;
}

int vsock_core_event(struct vsock_core *core, const struct iovec *iov, int n)
{
	uint8_t raw[VSOCK_EVENT_SIZE] = {VSOCK_EVENT_TRANSPORT_RESET, 0, 0, 0};

	if (!core->event_pending)
		return 0;
	if (vsock_iov_len(iov, n) < VSOCK_EVENT_SIZE)
		return -EMSGSIZE;
	vsock_iov_write(iov, n, 0, raw, sizeof(raw));
	core->event_pending = false;
	return VSOCK_EVENT_SIZE;
}
