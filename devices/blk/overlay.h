/*
 * Copy-on-write overlay files: the on-disk format (docs/blk.md), the block
 * bitmap, and the crash-safe order in which it is persisted.
 */
#ifndef TORPOR_OVERLAY_H
#define TORPOR_OVERLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OVERLAY_MAGIC        "TORPOVL\0"
#define OVERLAY_VERSION      1
#define OVERLAY_HEADER_SIZE  4096u
#define OVERLAY_BLOCK_SIZE   4096u   /* what new overlays use */
#define OVERLAY_PAGE         4096u   /* the bitmap is written in pages of this size */
#define OVERLAY_FP_BYTES     65536u  /* the base fingerprint covers this much of it */

/* The header, decoded (on disk: little-endian, see docs/blk.md). */
struct overlay_header {
	uint32_t version;
	uint32_t block_size;
	uint64_t disk_size;
	uint64_t nr_blocks;
	uint64_t bitmap_offset;
	uint64_t bitmap_bytes;
	uint64_t data_offset;
	uint32_t base_fingerprint;
};

struct overlay {
	int fd;
	bool read_only;
	struct overlay_header h;
	uint8_t *bitmap;      /* bit b: block b is in the overlay (1) or the base (0) */
	uint8_t *dirty;       /* bit p: bitmap page p differs from what is on disk */
	uint64_t nr_pages;    /* bitmap_bytes / OVERLAY_PAGE */
};

/* Bitmap pages captured for one flush; see overlay_flush_begin(). */
struct overlay_flush {
	uint64_t nr;          /* pages captured */
	uint64_t *page;       /* their indexes */
	uint8_t *data;        /* nr * OVERLAY_PAGE bytes: their contents at capture time */
};

/* CRC-32 (IEEE 802.3, as zlib's crc32()) of buf, continuing from crc (0 to start). */
uint32_t overlay_crc32(uint32_t crc, const void *buf, size_t len);

/* The header for a new overlay over a base of disk_size bytes. */
void overlay_header_init(struct overlay_header *h, uint64_t disk_size, uint32_t block_size,
			 uint32_t base_fingerprint);
/* Encode h into buf[OVERLAY_HEADER_SIZE] (magic, fields, CRC, zero padding). */
void overlay_header_encode(const struct overlay_header *h, uint8_t *buf);
/*
 * Decode and check buf[OVERLAY_HEADER_SIZE] from a file of file_size bytes:
 * magic, version, CRC, a power-of-2 block size of 512 B to 1 MiB, and
 * offsets and sizes that agree with each other and fit the file. Returns 0
 * or -EINVAL with a one-line reason in err.
 */
int overlay_header_decode(const uint8_t *buf, uint64_t file_size, struct overlay_header *h,
			  char *err, size_t errlen);

/* The fingerprint of a base image: CRC-32 of its first min(size, 64 KiB) bytes. 0 or -errno. */
int overlay_fingerprint(int base_fd, uint64_t size, uint32_t *out);

/*
 * Open the overlay at path over a base (base_fd, base_size bytes), creating
 * it when path does not exist or is an empty file. Takes an exclusive
 * flock on it (a second VM on the same overlay is refused). Checks that it
 * was made for a base of this size and fingerprint. Returns 0 or -errno
 * with a one-line reason in err.
 */
int overlay_open(struct overlay *o, const char *path, int base_fd, uint64_t base_size,
		 bool read_only, char *err, size_t errlen);
/* Persist the bitmap (overlay_persist_sync) unless read-only, then close. */
void overlay_close(struct overlay *o);

/* Is block b in the overlay? */
bool overlay_test(const struct overlay *o, uint64_t b);
/* Mark blocks [b, b+n) as in the overlay (in memory; durable at the next flush). */
void overlay_set(struct overlay *o, uint64_t b, uint64_t n);
/*
 * From byte off, how many bytes (at most len) lie in blocks that are all in
 * the overlay or all in the base; *in_overlay says which.
 */
uint64_t overlay_run(const struct overlay *o, uint64_t off, uint64_t len, bool *in_overlay);
/* Byte offset in the overlay file of disk byte off. */
uint64_t overlay_data_pos(const struct overlay *o, uint64_t off);

/*
 * A flush, in three steps, so that the bitmap on disk only ever claims
 * blocks whose data is durable:
 *   1. overlay_flush_begin(): capture the dirty bitmap pages (their bits
 *      belong to writes that already completed) and mark them clean;
 *   2. fdatasync the overlay (the data of those writes becomes durable),
 *      then write the captured pages at overlay_page_pos() and fdatasync
 *      again;
 *   3. overlay_flush_end(): ok, or on failure the pages are marked dirty
 *      again for the next flush.
 * Bits only ever go from 0 to 1, so a crash between any two writes leaves
 * a bitmap that claims a subset of durable blocks.
 */
int overlay_flush_begin(struct overlay *o, struct overlay_flush *f);
void overlay_flush_end(struct overlay *o, struct overlay_flush *f, bool ok);
uint64_t overlay_page_pos(const struct overlay *o, uint64_t page);

/* Steps 1-3 with blocking calls (used at close). 0 or -errno. */
int overlay_persist_sync(struct overlay *o);

/*
 * Copy block b from the base into the overlay with blocking I/O (the base
 * past its end reads as zeros) and mark it present: before a write that
 * covers only part of a block that is not in the overlay yet. 0 or -errno.
 */
int overlay_materialize(struct overlay *o, int base_fd, uint64_t base_size, uint64_t b);

#endif
