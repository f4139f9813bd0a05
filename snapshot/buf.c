/* Snapshot byte helpers: snap_buf encoding, little-endian access, CRC32C, error strings. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/buf.h"

void snap_buf_init(struct snap_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void snap_buf_view(struct snap_buf *b, const void *data, size_t len)
{
	memset(b, 0, sizeof(*b));
	b->data = (uint8_t *)data; /* never written through: cap is 0 */
	b->len = len;
}

void snap_buf_free(struct snap_buf *b)
{
	if (b->cap)
		free(b->data);
	memset(b, 0, sizeof(*b));
}

int snap_buf_error(const struct snap_buf *b)
{
	return b->err;
}

int snap_buf_done(const struct snap_buf *b)
{
	if (b->err)
		return b->err;
	return b->pos == b->len ? 0 : -EINVAL;
}

/* Room for n more output bytes; sets the sticky error when there is none. */
static uint8_t *put_room(struct snap_buf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 64;
	uint8_t *p;

	if (b->err || !n)
		return NULL;
	if (n > SIZE_MAX / 2 - b->len) {
		b->err = -ENOMEM;
		return NULL;
	}
	if (b->len + n > b->cap) {
		while (cap < b->len + n)
			cap *= 2;
		p = realloc(b->cap ? b->data : NULL, cap);
		if (!p) {
			b->err = -ENOMEM;
			return NULL;
		}
		b->data = p;
		b->cap = cap;
	}
	p = b->data + b->len;
	b->len += n;
	return p;
}

/* The next n input bytes, or NULL (and the sticky error) when fewer remain. */
static const uint8_t *get_room(struct snap_buf *b, size_t n)
{
	const uint8_t *p;

	if (b->err)
		return NULL;
	if (n > b->len - b->pos) {
		b->err = -EINVAL;
		return NULL;
	}
	if (!n)
		return NULL;
	p = b->data + b->pos;
	b->pos += n;
	return p;
}

void snap_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

void snap_le32(uint8_t *p, uint32_t v)
{
	snap_le16(p, (uint16_t)v);
	snap_le16(p + 2, (uint16_t)(v >> 16));
}

void snap_le64(uint8_t *p, uint64_t v)
{
	snap_le32(p, (uint32_t)v);
	snap_le32(p + 4, (uint32_t)(v >> 32));
}

uint16_t snap_ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

uint32_t snap_ld32(const uint8_t *p)
{
	return snap_ld16(p) | (uint32_t)snap_ld16(p + 2) << 16;
}

uint64_t snap_ld64(const uint8_t *p)
{
	return snap_ld32(p) | (uint64_t)snap_ld32(p + 4) << 32;
}

void snap_put_u8(struct snap_buf *b, uint8_t v)
{
	uint8_t *p = put_room(b, 1);

	if (p)
		*p = v;
}

void snap_put_u16(struct snap_buf *b, uint16_t v)
{
	uint8_t *p = put_room(b, 2);

	if (p)
		snap_le16(p, v);
}

void snap_put_u32(struct snap_buf *b, uint32_t v)
{
	uint8_t *p = put_room(b, 4);

	if (p)
		snap_le32(p, v);
}

void snap_put_u64(struct snap_buf *b, uint64_t v)
{
	uint8_t *p = put_room(b, 8);

	if (p)
		snap_le64(p, v);
}

void snap_put_bytes(struct snap_buf *b, const void *src, size_t n)
{
	uint8_t *p = put_room(b, n);

	if (p && n)
		memcpy(p, src, n);
}

void snap_put_str(struct snap_buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n > UINT32_MAX) {
		b->err = b->err ? b->err : -EINVAL;
		return;
	}
	snap_put_u32(b, (uint32_t)n);
	snap_put_bytes(b, s, n);
}

uint8_t snap_get_u8(struct snap_buf *b)
{
	const uint8_t *p = get_room(b, 1);

	return p ? *p : 0;
}

uint16_t snap_get_u16(struct snap_buf *b)
{
	const uint8_t *p = get_room(b, 2);

	return p ? snap_ld16(p) : 0;
}

uint32_t snap_get_u32(struct snap_buf *b)
{
	const uint8_t *p = get_room(b, 4);

	return p ? snap_ld32(p) : 0;
}

uint64_t snap_get_u64(struct snap_buf *b)
{
	const uint8_t *p = get_room(b, 8);

	return p ? snap_ld64(p) : 0;
}

void snap_get_bytes(struct snap_buf *b, void *dst, size_t n)
{
	const uint8_t *p = get_room(b, n);

	if (p)
		memcpy(dst, p, n);
	else if (n)
		memset(dst, 0, n);
}

void snap_get_str(struct snap_buf *b, char *dst, size_t cap)
{
	uint32_t n = snap_get_u32(b);
	const uint8_t *p;

	if (cap)
		dst[0] = '\0';
	if (b->err)
		return;
	if (n >= cap) {
		b->err = -EINVAL;
		return;
	}
	p = get_room(b, n);
	if (b->err)
		return;
	if (n && memchr(p, '\0', n)) {
		b->err = -EINVAL;
		return;
	}
	if (n)
		memcpy(dst, p, n);
	dst[n] = '\0';
}

uint32_t snap_crc32c(uint32_t crc, const void *buf, size_t len)
{
	/* Reflected polynomial 0x82f63b78, four bits at a time. */
	static const uint32_t t[16] = {
	    0x00000000, 0x105ec76f, 0x20bd8ede, 0x30e349b1, 0x417b1dbc, 0x5125dad3,
	    0x61c69362, 0x7198540d, 0x82f63b78, 0x92a8fc17, 0xa24bb5a6, 0xb21572c9,
	    0xc38d26c4, 0xd3d3e1ab, 0xe330a81a, 0xf36e6f75,
	};
	const uint8_t *p = buf;

	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		crc = (crc >> 4) ^ t[crc & 15];
		crc = (crc >> 4) ^ t[crc & 15];
	}
	return ~crc;
}

int snap_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}
