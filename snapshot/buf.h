/*
 * Snapshot byte helpers: little-endian encoding of versioned plain structs
 * (snap_buf), CRC32C, and the one-line error strings snapshot code returns.
 */
#ifndef TORPOR_SNAP_BUF_H
#define TORPOR_SNAP_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A growable output buffer (snap_buf_init) or a bounded view of input bytes
 * (snap_buf_view). Errors are sticky: after the first one every put/get is a
 * no-op (gets return 0) and snap_buf_error() reports it, so persist code can
 * put or get a whole struct and check once at the end.
 */
struct snap_buf {
	uint8_t *data;
	size_t len; /* bytes written (output) or available (view) */
	size_t cap; /* allocated bytes; 0 for a view */
	size_t pos; /* read position (view) */
	int err;    /* 0, -ENOMEM (output) or -EINVAL (read past the end, bad string) */
};

/* An empty output buffer. Free with snap_buf_free(). */
void snap_buf_init(struct snap_buf *b);
/* A read view over data[0..len) (not copied, not freed). */
void snap_buf_view(struct snap_buf *b, const void *data, size_t len);
void snap_buf_free(struct snap_buf *b);
/* 0 or the first error. */
int snap_buf_error(const struct snap_buf *b);
/* For a view: 0 when no error and every byte was read, else -EINVAL. */
int snap_buf_done(const struct snap_buf *b);

void snap_put_u8(struct snap_buf *b, uint8_t v);
void snap_put_u16(struct snap_buf *b, uint16_t v);
void snap_put_u32(struct snap_buf *b, uint32_t v);
void snap_put_u64(struct snap_buf *b, uint64_t v);
void snap_put_bytes(struct snap_buf *b, const void *p, size_t n);
/* A string as u32 length + bytes (no NUL). NULL is written as length 0. */
void snap_put_str(struct snap_buf *b, const char *s);

uint8_t snap_get_u8(struct snap_buf *b);
uint16_t snap_get_u16(struct snap_buf *b);
uint32_t snap_get_u32(struct snap_buf *b);
uint64_t snap_get_u64(struct snap_buf *b);
/* Copy n bytes into p (zeroed on error). */
void snap_get_bytes(struct snap_buf *b, void *p, size_t n);
/*
 * A string put by snap_put_str() into dst[cap], NUL-terminated. A length
 * of cap or more, or a NUL inside, is an error (-EINVAL) and leaves "".
 */
void snap_get_str(struct snap_buf *b, char *dst, size_t cap);

/* Little-endian loads and stores on raw bytes. */
void snap_le16(uint8_t *p, uint16_t v);
void snap_le32(uint8_t *p, uint32_t v);
void snap_le64(uint8_t *p, uint64_t v);
uint16_t snap_ld16(const uint8_t *p);
uint32_t snap_ld32(const uint8_t *p);
uint64_t snap_ld64(const uint8_t *p);

/* CRC32C (Castagnoli, as iSCSI/ext4) of buf, continuing from crc (0 to start). */
uint32_t snap_crc32c(uint32_t crc, const void *buf, size_t len);

/* Format a one-line message into err[errlen] (if err) and return rc. */
int snap_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
