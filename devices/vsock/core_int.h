/* Internals of the vsock core shared by core.c (state, packets from the guest) and core_rx.c. */
#ifndef TORPOR_VSOCK_CORE_INT_H
#define TORPOR_VSOCK_CORE_INT_H

#include "core.h"

#define VSOCK_HASH_SIZE 1024u /* connection table buckets */

/* Control packets a connection has queued for the guest. */
#define CONN_P_REQUEST	      0x01u
#define CONN_P_RESPONSE	      0x02u
#define CONN_P_CREDIT_UPDATE  0x04u
#define CONN_P_CREDIT_REQUEST 0x08u
#define CONN_P_SHUTDOWN	      0x10u

struct orphan_rst {
	uint64_t src_cid; /* the address the guest used */
	uint32_t src_port, dst_port;
};

/*
 * Connections with something for the guest wait in one of two queues:
 * control packets (RESPONSE, RST, credit, SHUTDOWN) go before data, so a
 * new stream or a credit update never waits behind other streams' data.
 */
enum { VSOCK_Q_NONE, VSOCK_Q_CTL, VSOCK_Q_DATA };

struct vsock_ready_q {
	struct vsock_conn *head, *tail;
};

struct vsock_core {
	uint64_t guest_cid;
	const struct vsock_host_ops *ops;
	void *opaque;
	struct vsock_conn *hash[VSOCK_HASH_SIZE];
	unsigned int nr_conns;
	struct vsock_ready_q ready[VSOCK_Q_DATA + 1]; /* round robin within each */
	struct orphan_rst orphans[VSOCK_ORPHAN_RSTS];
	unsigned int orphan_head, orphan_count;
	uint32_t next_local_port;
	bool event_pending;
	bool warned;
	struct vsock_core_stats stats;
};

/* Take c out of its ready queue, if any. */
void vsock_ready_del(struct vsock_core *core, struct vsock_conn *c);
/* Whether c may send the guest data now (established, readable, credit left). */
bool vsock_conn_can_send_data(const struct vsock_conn *c);
/* After any change to c: finish it if both sides are done, (un)queue it for the guest. */
void vsock_conn_update(struct vsock_core *core, struct vsock_conn *c);
/* Close the host end with err and queue an RST; the entry goes once that is sent. */
void vsock_conn_reset(struct vsock_core *core, struct vsock_conn *c, int err);
/* Unlink and free c (its host end released first if still held). */
void vsock_conn_free(struct vsock_core *core, struct vsock_conn *c);

#endif
