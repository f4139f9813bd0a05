/*
 * The agent wire protocol (docs/agent-protocol.md): frame header, limits and
 * a frame decoder. Shared by guest-init's agent and the host-side client
 * library; plain C, no I/O, no allocation.
 */
#ifndef TORPOR_PROTO_H
#define TORPOR_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGENT_VSOCK_PORT 1024u /* the guest port the agent listens on */
#define AGENT_PROTO_VERSION 1

#define FRAME_HEADER_SIZE 12
#define FRAME_MAX_PAYLOAD 65536u /* control and data alike */
#define FRAME_WINDOW      262144u /* initial credit per stream and direction */
#define AGENT_MAX_STREAMS 256     /* open streams per connection */

enum frame_type {
	FRAME_CTRL = 1,   /* payload: one JSON object */
	FRAME_DATA = 2,   /* payload: bytes on a channel (1 byte or more) */
	FRAME_CLOSE = 3,  /* no payload: the sender's end of a channel is done (EOF) */
	FRAME_CREDIT = 4, /* payload: u32 LE, more bytes the receiver may take on a channel */
};

enum frame_channel {
	CHAN_IN = 0,  /* host to guest: stdin, file contents, relay to the guest port */
	CHAN_OUT = 1, /* guest to host: stdout, pty output, file contents, relay from the port */
	CHAN_ERR = 2, /* guest to host: stderr */
	CHAN_MAX = CHAN_ERR,
};

struct frame_header {
	uint32_t len;     /* payload bytes, at most FRAME_MAX_PAYLOAD */
	uint8_t type;     /* enum frame_type */
	uint8_t channel;  /* enum frame_channel; 0 for CTRL */
	uint16_t flags;   /* reserved, 0 */
	uint32_t stream;  /* 1 .. 2^32-1; 0 is the connection itself */
};

/* Why a header was refused: FRAME_OK or one of these. */
enum frame_error {
	FRAME_OK = 0,
	FRAME_E_TYPE,     /* unknown type */
	FRAME_E_LEN,      /* len over FRAME_MAX_PAYLOAD, or wrong for the type */
	FRAME_E_CHANNEL,  /* channel above CHAN_MAX, or not 0 on CTRL */
	FRAME_E_FLAGS,    /* reserved flags set */
	FRAME_E_STREAM,   /* stream 0 on anything but CTRL */
};

/* Write h into buf[FRAME_HEADER_SIZE] (little-endian). */
void frame_header_encode(const struct frame_header *h, uint8_t *buf);

/*
 * Parse buf[FRAME_HEADER_SIZE] into *h and check it: every field in range
 * and consistent with its type (CREDIT has len 4, CLOSE len 0, DATA len >= 1,
 * CTRL len >= 2). Returns FRAME_OK or the first problem found; *h is filled
 * either way, so a reply can name the stream.
 */
enum frame_error frame_header_decode(const uint8_t *buf, struct frame_header *h);

/* A short English phrase for e ("unknown frame type", ...). */
const char *frame_error_str(enum frame_error e);

/* Read/write the u32 LE payload of a CREDIT frame. */
uint32_t frame_credit_get(const uint8_t *payload);
void frame_credit_put(uint8_t *payload, uint32_t credit);

/*
 * Incremental decoder for a byte stream of frames: feed it whatever read(2)
 * returned; it hands out whole frames. The payload buffer is the caller's
 * (FRAME_MAX_PAYLOAD bytes), so no frame can make it allocate.
 */
struct frame_reader {
	uint8_t hdr[FRAME_HEADER_SIZE];
	size_t hdr_have;
	struct frame_header h;
	uint8_t *payload; /* FRAME_MAX_PAYLOAD bytes, set by frame_reader_init */
	size_t have;      /* payload bytes so far */
	bool in_payload;
	enum frame_error bad;   /* the ready frame is malformed (but whole): refuse it */
	enum frame_error fatal; /* sticky: len over the limit, frame boundaries are lost */
};

void frame_reader_init(struct frame_reader *r, uint8_t *payload_buf);

/*
 * Consume bytes from buf[0..len). Returns how many were used (<= len). When
 * a whole frame is ready, *ready is set true and consumption stops right
 * after it: r->h and r->payload[0..r->h.len) hold it until the next call,
 * and r->bad says whether it is well-formed (a malformed frame whose length
 * is within the limit is still delimited: answer it with an error and go
 * on). A length over FRAME_MAX_PAYLOAD sets r->fatal and consumes nothing
 * more: frame boundaries are lost and the connection must be closed.
 */
size_t frame_reader_feed(struct frame_reader *r, const uint8_t *buf, size_t len, bool *ready);

#endif
