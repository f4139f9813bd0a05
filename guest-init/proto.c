/* The agent wire protocol: frame header encoding and an incremental frame decoder. */
#include <string.h>

#include "proto.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

void frame_header_encode(const struct frame_header *h, uint8_t *buf)
{
	put32(buf, h->len);
	buf[4] = h->type;
	buf[5] = h->channel;
	put16(buf + 6, h->flags);
	put32(buf + 8, h->stream);
}

enum frame_error frame_header_decode(const uint8_t *buf, struct frame_header *h)
{
	h->len = get32(buf);
	h->type = buf[4];
	h->channel = buf[5];
	h->flags = get16(buf + 6);
	h->stream = get32(buf + 8);

	if (h->len > FRAME_MAX_PAYLOAD)
		return FRAME_E_LEN;
	switch (h->type) {
	case FRAME_CTRL:
		if (h->len < 2)
			return FRAME_E_LEN;
		if (h->channel)
			return FRAME_E_CHANNEL;
		break;
	case FRAME_DATA:
		if (h->len < 1)
			return FRAME_E_LEN;
		break;
	case FRAME_CLOSE:
		if (h->len)
			return FRAME_E_LEN;
		break;
	case FRAME_CREDIT:
		if (h->len != 4)
			return FRAME_E_LEN;
		break;
	default:
		return FRAME_E_TYPE;
	}
	if (h->channel > CHAN_MAX)
		return FRAME_E_CHANNEL;
	if (h->flags)
		return FRAME_E_FLAGS;
	if (!h->stream && h->type != FRAME_CTRL)
		return FRAME_E_STREAM;
	return FRAME_OK;
}

const char *frame_error_str(enum frame_error e)
{
	switch (e) {
	case FRAME_OK:
		return "no error";
	case FRAME_E_TYPE:
		return "unknown frame type";
	case FRAME_E_LEN:
		return "bad frame length";
	case FRAME_E_CHANNEL:
		return "bad channel";
	case FRAME_E_FLAGS:
		return "reserved flags set";
	case FRAME_E_STREAM:
		return "stream 0 on a non-control frame";
	}
	return "unknown error";
}

uint32_t frame_credit_get(const uint8_t *payload)
{
	return get32(payload);
}

void frame_credit_put(uint8_t *payload, uint32_t credit)
{
	put32(payload, credit);
}

void frame_reader_init(struct frame_reader *r, uint8_t *payload_buf)
{
	memset(r, 0, sizeof(*r));
	r->payload = payload_buf;
}

size_t frame_reader_feed(struct frame_reader *r, const uint8_t *buf, size_t len, bool *ready)
{
	size_t used = 0, n;

	*ready = false;
	if (r->fatal)
		return 0;
	if (!r->in_payload && r->hdr_have == FRAME_HEADER_SIZE) {
		/* The previous call handed out a frame: start the next one. */
		r->hdr_have = 0;
		r->have = 0;
		r->bad = FRAME_OK;
	}
	if (!r->in_payload) {
		n = FRAME_HEADER_SIZE - r->hdr_have;
		if (n > len)
			n = len;
		memcpy(r->hdr + r->hdr_have, buf, n);
		r->hdr_have += n;
		used += n;
		if (r->hdr_have < FRAME_HEADER_SIZE)
			return used;
		r->bad = frame_header_decode(r->hdr, &r->h);
		if (r->h.len > FRAME_MAX_PAYLOAD) {
			r->fatal = FRAME_E_LEN;
			return used;
		}
		r->in_payload = true;
	}
	n = r->h.len - r->have;
	if (n > len - used)
		n = len - used;
	memcpy(r->payload + r->have, buf + used, n);
	r->have += n;
	used += n;
	if (r->have == r->h.len) {
		r->in_payload = false;
		*ready = true;
	}
	return used;
}
