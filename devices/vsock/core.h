/*
 * virtio-vsock device core, independent of the transport and of the host
 * side: connection table, state machine, credit-based flow control and the
 * fair choice of what goes to the guest next.
 *
 * Guest side: the transport glue hands in each tx chain (vsock_core_tx) and
 * asks for packets to fill rx / event chains (vsock_core_rx, vsock_core_event).
 * Host side: a backend (host.c: Unix sockets) implements struct
 * vsock_host_ops and reports readiness (vsock_core_readable/_writable).
 * Not thread-safe: the caller serialises every call.
 */
#ifndef TORPOR_VSOCK_CORE_H
#define TORPOR_VSOCK_CORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "packet.h"

#define VSOCK_BUF_ALLOC	       (256u << 10) /* our receive buffer per connection (buf_alloc) */
#define VSOCK_CREDIT_THRESHOLD (64u << 10)  /* consumed bytes that trigger a CREDIT_UPDATE */
#define VSOCK_MAX_CONNS	       1024u	    /* connections at once, any state */
#define VSOCK_ORPHAN_RSTS      64u	    /* RSTs queued for packets with no connection */
#define VSOCK_MAX_SEGS	       64	    /* iovec segments passed to the host in one call */
#define VSOCK_LOCAL_PORT_BASE  (1u << 30)   /* host ports of host-initiated connections */

enum vsock_conn_state {
	VSOCK_CONN_CONNECTING, /* host-initiated: REQUEST queued or sent, awaiting RESPONSE */
	VSOCK_CONN_ESTABLISHED,
	VSOCK_CONN_RST_PENDING, /* host side gone; an RST is queued, then the entry goes */
	VSOCK_CONN_DRAINING,	/* guest reset after SHUTDOWN(SEND): flushing to the host */
};

/* One stream. Fields are owned by core.c; others only read them. */
struct vsock_conn {
	struct vsock_conn *hnext;	  /* hash chain */
	struct vsock_conn *rprev, *rnext; /* in a queue of connections with work for the guest */
	int queue;			  /* which (VSOCK_Q_*, core_int.h); 0: none */

	uint32_t guest_port, host_port;
	enum vsock_conn_state state;
	bool host_initiated;
	void *host;	      /* the backend's object; NULL once released */
	unsigned int pending; /* control packets to send (CONN_P_* in core.c) */

	/* guest → host: our buffer, advertised as buf_alloc = VSOCK_BUF_ALLOC */
	uint32_t rx_cnt;       /* payload bytes received from the guest */
	uint32_t fwd_cnt;      /* ... of which handed to the host */
	uint32_t fwd_cnt_sent; /* fwd_cnt as last told to the guest */
	uint8_t *ring;	       /* rx_cnt - fwd_cnt bytes not yet taken by the host */
	uint32_t ring_head, ring_len;
	bool host_writable;

	/* host → guest: the guest's buffer */
	uint32_t tx_cnt;	 /* payload bytes sent to the guest */
	uint32_t peer_buf_alloc; /* from the guest's last packet */
	uint32_t peer_fwd_cnt;
	bool host_readable;
	bool host_eof;	      /* the host stopped sending: SHUTDOWN(SEND) queued or sent */
	bool credit_req_sent; /* a CREDIT_REQUEST went out since credit was last 0 */

	uint32_t guest_shut; /* SHUTDOWN flags received */
	uint32_t shut_sent;  /* SHUTDOWN flags sent */
	bool host_wr_shut;   /* the host's socket was shut for writing */
};

struct vsock_core_stats {
	uint64_t pkts_from_guest, pkts_to_guest;
	uint64_t bytes_from_guest, bytes_to_guest;
	uint64_t bad_pkts; /* malformed or against the protocol */
	uint64_t rsts_sent;
	uint64_t orphan_drops; /* RSTs not queued: the orphan queue was full */
};

/*
 * What the core asks of the host side. host is the backend's object of one
 * connection. Callbacks run inside core calls and must not call the core.
 */
struct vsock_host_ops {
	/* The guest connects to host port: open the host end, set *host. 0 or -errno (→ RST). */
	int (*connect)(void *opaque, struct vsock_conn *c, uint32_t host_port, void **host);
	/* The guest accepted a host-initiated connection (RESPONSE). 0 or -errno (→ RST). */
	int (*established)(void *opaque, void *host, struct vsock_conn *c);
	/*
	 * Read host bytes into iov: >0 bytes, 0 at end of stream, -EAGAIN, or
	 * -errno (→ RST). Set *drained when no more bytes wait (a short read),
	 * so the core waits for vsock_core_readable() instead of reading again.
	 */
	ssize_t (*recv)(void *opaque, void *host, const struct iovec *iov, int n, bool *drained);
	/* Write bytes toward the host: >0 bytes taken, -EAGAIN, or -errno (→ RST). */
	ssize_t (*send)(void *opaque, void *host, const struct iovec *iov, int n);
	/* The guest will send (SHUT_WR) / receive (SHUT_RD) no more on this stream. */
	void (*shutdown)(void *opaque, void *host, int how);
	/*
	 * The core is done with host: close it. err is 0 after an orderly close,
	 * -ECONNREFUSED when the guest refused a host-initiated connection,
	 * -ECONNRESET when the guest or the device reset it, or what went wrong.
	 */
	void (*release)(void *opaque, void *host, int err);
};

struct vsock_core;

/* A core for a guest with CID guest_cid (> 2). Returns 0 or -errno. */
int vsock_core_init(uint64_t guest_cid, const struct vsock_host_ops *ops, void *opaque,
		    struct vsock_core **out);
/* Release every connection and free the core. */
void vsock_core_exit(struct vsock_core *core);
uint64_t vsock_core_cid(const struct vsock_core *core);

/* --- guest side (called by the transport glue) --- */

/* Take one packet the guest queued on tx: iov is the readable part of its chain. */
void vsock_core_tx(struct vsock_core *core, const struct iovec *iov, int n);
/* Whether vsock_core_rx() has a packet for the guest (it may still find none). */
bool vsock_core_rx_pending(const struct vsock_core *core);
/*
 * Write the next packet for the guest into one rx chain (its writable part).
 * Returns the bytes written (the used length), 0 when there was nothing to
 * send after all, or -EMSGSIZE when the chain is too short for a header.
 */
int vsock_core_rx(struct vsock_core *core, const struct iovec *iov, int n);
/* Whether an event (TRANSPORT_RESET) waits for an event-queue buffer. */
bool vsock_core_event_pending(const struct vsock_core *core);
/* Write the pending event into iov: bytes written, 0 if none, -EMSGSIZE if too short. */
int vsock_core_event(struct vsock_core *core, const struct iovec *iov, int n);
/* Device reset by the driver: drop every connection (host ends closed), no packets. */
void vsock_core_reset(struct vsock_core *core);
/*
 * Drop every connection and queue a TRANSPORT_RESET event, after which the
 * guest forgets its connections too (used after a snapshot restore).
 */
void vsock_core_transport_reset(struct vsock_core *core);

/* --- host side (called by the backend) --- */

/*
 * A host client wants the guest's port guest_port: pick a free local port,
 * queue a REQUEST. ops->established or ops->release tells the outcome.
 * Returns 0 with *out, -EMFILE at VSOCK_MAX_CONNS, -ENOMEM.
 */
int vsock_core_connect(struct vsock_core *core, uint32_t guest_port, void *host,
		       struct vsock_conn **out);
/*
 * The host end of c may have bytes (or EOF) to read / room to write. Reads
 * start only after the first vsock_core_readable(): call it when a new
 * host end already holds bytes.
 */
void vsock_core_readable(struct vsock_core *core, struct vsock_conn *c);
void vsock_core_writable(struct vsock_core *core, struct vsock_conn *c);
/* The host side gives up on c (timeout, hang-up): RST to the guest, ops->release(err). */
void vsock_core_abort(struct vsock_core *core, struct vsock_conn *c, int err);

unsigned int vsock_core_nr_conns(const struct vsock_core *core);
const struct vsock_core_stats *vsock_core_stats(const struct vsock_core *core);
/* The connection (guest_port, host_port), or NULL. */
struct vsock_conn *vsock_core_lookup(struct vsock_core *core, uint32_t guest_port,
				     uint32_t host_port);
/* Bytes the guest may still be sent on c (its credit). */
uint32_t vsock_conn_peer_credit(const struct vsock_conn *c);

#endif
