/* Internals of the agent client shared by agent_client.c, agent_io.c and agent_ops.c. */
#ifndef TORPOR_AGENT_INT_H
#define TORPOR_AGENT_INT_H

#include "agent_client.h"

#define AGENT_NCHAN (CHAN_MAX + 1)

/* Received data of one guest-to-host channel (OUT or ERR). */
struct agent_rx {
	uint32_t avail;      /* bytes the agent may still send (its credit) */
	uint32_t unconsumed; /* delivered, not yet consumed */
	uint32_t ungranted;  /* consumed, not yet granted back */
	bool eof;            /* CLOSE received */
};

/* A bridge's output buffer for one channel. */
struct agent_outbuf {
	uint8_t *buf;
	size_t len, off, cap;
	bool broken; /* the fd failed: discard what comes */
};

struct agent_bridge {
	int in_fd, fd[AGENT_NCHAN]; /* fd[CHAN_OUT], fd[CHAN_ERR] */
	unsigned flags;
	bool in_done;
	uint64_t in_total, out_total[AGENT_NCHAN]; /* bytes sent / written */
	struct agent_outbuf out[AGENT_NCHAN];
};

struct agent_stream {
	struct agent_conn *conn;
	uint32_t id;
	const struct agent_stream_ops *ops;
	void *arg;
	uint64_t tx_credit; /* IN bytes we may send */
	bool tx_closed;     /* CLOSE on IN sent */
	bool tx_blocked;    /* a write fell short: tell on_writable when credit comes */
	bool manual_credit;
	struct agent_rx rx[AGENT_NCHAN];
	bool final_seen; /* the agent's final reply came: the id is free */
	bool ended;      /* on_end was called (or is due), or detached: no more callbacks */
	bool detached;
	bool cancel_sent;
	/* A final reply held back until the bridge has written everything. */
	bool end_held;
	struct agent_end held;
	json_t *held_msg;
	char *held_error;
	struct agent_bridge *io;
};

/* What the n-th pollfd filled by agent_conn_pollfds() stands for. */
struct agent_pollmap {
	uint32_t id;
	int role; /* -1 the connection, CHAN_IN the input fd, CHAN_OUT/CHAN_ERR an output fd */
};

struct agent_conn {
	int fd;
	int status; /* 0, or -errno once failed */
	char err[256];
	struct frame_reader rd;
	uint8_t *payload; /* FRAME_MAX_PAYLOAD */
	uint8_t *inbuf;   /* AGENT_INBUF */
	size_t pre_len, pre_off; /* bytes in inbuf still to decode */
	uint8_t *out;
	size_t out_len, out_off, out_cap;
	struct agent_stream *streams[AGENT_MAX_STREAMS];
	size_t nstreams;
	uint32_t next_id;
	struct agent_pollmap *pmap;
	size_t pmap_cap;
};

#define AGENT_INBUF (FRAME_MAX_PAYLOAD + FRAME_HEADER_SIZE)

struct agent_stream *agent__find(struct agent_conn *c, uint32_t id);
/* Queue one frame and try to send it. Returns 0 or the connection's -errno. */
int agent__send(struct agent_conn *c, uint8_t type, uint8_t chan, uint32_t stream,
		const void *payload, size_t len);
/* Try to send what is queued. */
int agent__flush(struct agent_conn *c);
/* End s locally with an error (-rc) and message, cancelling it at the agent. */
void agent__fail_stream(struct agent_stream *s, int rc, const char *msg);
/* Deliver a held end once the bridge has nothing left to write. */
void agent__end_if_flushed(struct agent_stream *s);
/* A bridge's view of incoming data: take it (returns true) or leave it to on_data. */
bool agent__bridge_data(struct agent_stream *s, int chan, const uint8_t *buf, size_t len);
bool agent__bridge_pending(const struct agent_stream *s);
void agent__bridge_free(struct agent_stream *s);
/* Fill err with "message" from a final reply. */
void agent__errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
