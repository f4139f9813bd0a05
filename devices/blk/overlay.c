/* Copy-on-write overlay files: header, block bitmap, crash-safe persistence (docs/blk.md). */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/blk/overlay.h"

/* Header field offsets. */
enum {
	H_MAGIC = 0,
	H_VERSION = 8,
	H_BLOCK_SIZE = 12,
	H_DISK_SIZE = 16,
	H_NR_BLOCKS = 24,
	H_BITMAP_OFFSET = 32,
	H_BITMAP_BYTES = 40,
	H_DATA_OFFSET = 48,
	H_FINGERPRINT = 56,
	H_CRC = 60,
	H_END = 64,
};

static int __attribute__((format(printf, 3, 4)))
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

uint32_t overlay_crc32(uint32_t crc, const void *buf, size_t len)
{
	static uint32_t table[256];
	const uint8_t *p = buf;

	if (!table[1]) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	}
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

void overlay_header_init(struct overlay_header *h, uint64_t disk_size, uint32_t block_size,
			 uint32_t base_fingerprint)
{
	uint64_t bitmap = 0;

	memset(h, 0, sizeof(*h));
	h->version = OVERLAY_VERSION;
	h->block_size = block_size;
	h->disk_size = disk_size;
	h->nr_blocks = (disk_size + block_size - 1) / block_size;
	h->bitmap_offset = OVERLAY_HEADER_SIZE;
	bitmap = round_up((h->nr_blocks + 7) / 8, OVERLAY_PAGE);
	h->bitmap_bytes = bitmap ? bitmap : OVERLAY_PAGE;
	h->data_offset = round_up(h->bitmap_offset + h->bitmap_bytes,
				  block_size > OVERLAY_PAGE ? block_size : OVERLAY_PAGE);
	h->base_fingerprint = base_fingerprint;
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

void overlay_header_encode(const struct overlay_header *h, uint8_t *buf)
{
	memset(buf, 0, OVERLAY_HEADER_SIZE);
	memcpy(buf + H_MAGIC, OVERLAY_MAGIC, 8);
	put32(buf + H_VERSION, h->version);
	put32(buf + H_BLOCK_SIZE, h->block_size);
	put64(buf + H_DISK_SIZE, h->disk_size);
	put64(buf + H_NR_BLOCKS, h->nr_blocks);
	put64(buf + H_BITMAP_OFFSET, h->bitmap_offset);
	put64(buf + H_BITMAP_BYTES, h->bitmap_bytes);
	put64(buf + H_DATA_OFFSET, h->data_offset);
	put32(buf + H_FINGERPRINT, h->base_fingerprint);
	put32(buf + H_CRC, overlay_crc32(0, buf, H_CRC));
}

int overlay_header_decode(const uint8_t *buf, uint64_t file_size, struct overlay_header *h,
			  char *err, size_t errlen)
{
	uint64_t data_bytes, end;

	memset(h, 0, sizeof(*h)); /* padding too: headers compare with memcmp */
	if (memcmp(buf + H_MAGIC, OVERLAY_MAGIC, 8))
		return errf(err, errlen, "not a torpor overlay (bad magic)");
	h->version = get32(buf + H_VERSION);
	if (h->version != OVERLAY_VERSION)
		return errf(err, errlen, "overlay format version %u, this torpor-vmm reads %u",
			    h->version, OVERLAY_VERSION);
	if (get32(buf + H_CRC) != overlay_crc32(0, buf, H_CRC))
		return errf(err, errlen, "overlay header checksum mismatch (damaged header)");
	h->block_size = get32(buf + H_BLOCK_SIZE);
	h->disk_size = get64(buf + H_DISK_SIZE);
	h->nr_blocks = get64(buf + H_NR_BLOCKS);
	h->bitmap_offset = get64(buf + H_BITMAP_OFFSET);
	h->bitmap_bytes = get64(buf + H_BITMAP_BYTES);
	h->data_offset = get64(buf + H_DATA_OFFSET);
	h->base_fingerprint = get32(buf + H_FINGERPRINT);

	if (h->block_size < 512 || h->block_size > (1u << 20) ||
	    (h->block_size & (h->block_size - 1)))
		return errf(err, errlen, "overlay block size %u is not a power of 2 from 512 to "
			    "1 MiB", h->block_size);
	if (h->nr_blocks != h->disk_size / h->block_size + !!(h->disk_size % h->block_size))
		return errf(err, errlen, "overlay header: %llu blocks do not match a %llu-byte "
			    "disk", (unsigned long long)h->nr_blocks,
			    (unsigned long long)h->disk_size);
	if (h->bitmap_offset < OVERLAY_HEADER_SIZE || h->bitmap_offset % OVERLAY_PAGE ||
	    h->bitmap_bytes % OVERLAY_PAGE || h->bitmap_bytes < (h->nr_blocks + 7) / 8 ||
	    h->bitmap_bytes > (1ull << 40) ||
	    h->data_offset < h->bitmap_offset + h->bitmap_bytes ||
	    h->data_offset % h->block_size)
		return errf(err, errlen, "overlay header: inconsistent bitmap/data offsets");
	if (__builtin_mul_overflow(h->nr_blocks, (uint64_t)h->block_size, &data_bytes) ||
	    __builtin_add_overflow(h->data_offset, data_bytes, &end) || end > (1ull << 62))
		return errf(err, errlen, "overlay header: disk of %llu bytes is too large",
			    (unsigned long long)h->disk_size);
	if (file_size < h->data_offset)
		return errf(err, errlen, "overlay file is %llu bytes, shorter than its bitmap "
			    "(truncated?)", (unsigned long long)file_size);
	return 0;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int overlay_fingerprint(int base_fd, uint64_t size, uint32_t *out)
{
	size_t len = size < OVERLAY_FP_BYTES ? (size_t)size : OVERLAY_FP_BYTES;
	uint8_t *buf = malloc(OVERLAY_FP_BYTES);
	int rc;

	if (!buf)
		return -ENOMEM;
	rc = pread_full(base_fd, buf, len, 0);
	if (!rc)
		*out = overlay_crc32(0, buf, len);
	free(buf);
	return rc == -ENODATA ? -EIO : rc;
}

/* fsync the directory holding path, so a new name in it is durable. */
static int sync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = 0;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	free(copy);
	return rc;
}

/* Write a fresh overlay (header, empty bitmap, sparse data area) into fd and make it durable. */
static int format(int fd, const struct overlay_header *h)
{
	uint8_t *buf = calloc(1, OVERLAY_HEADER_SIZE);
	int rc;

	if (!buf)
		return -ENOMEM;
	overlay_header_encode(h, buf);
	rc = ftruncate(fd, (off_t)(h->data_offset + h->nr_blocks * h->block_size)) < 0 ? -errno : 0;
	if (!rc)
		rc = pwrite_full(fd, buf, OVERLAY_HEADER_SIZE, 0);
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	free(buf);
	return rc;
}

/* Create path atomically: a temporary file, formatted and synced, renamed into place. */
static int create(const char *path, const struct overlay_header *h, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	int fd, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return errf(err, errlen, "%s: path too long", path);
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		errf(err, errlen, "cannot create %s: %s", tmp, strerror(-rc));
		return rc;
	}
	rc = format(fd, h);
	close(fd);
	if (!rc && link(tmp, path) < 0) /* link, not rename: never replace an overlay */
		rc = -errno;
	unlink(tmp);
	if (!rc)
		rc = sync_dir(path);
	if (rc < 0 && rc != -EEXIST)
		errf(err, errlen, "cannot create %s: %s", path, strerror(-rc));
	return rc;
}

static int load_bitmap(struct overlay *o, char *err, size_t errlen)
{
	uint64_t tail_bit = o->h.nr_blocks;
	int rc;

	o->nr_pages = o->h.bitmap_bytes / OVERLAY_PAGE;
	o->bitmap = malloc(o->h.bitmap_bytes);
	o->dirty = calloc(1, (o->nr_pages + 7) / 8);
	if (!o->bitmap || !o->dirty) {
		errf(err, errlen, "out of memory for a %llu-byte bitmap",
		     (unsigned long long)o->h.bitmap_bytes);
		return -ENOMEM;
	}
	rc = pread_full(o->fd, o->bitmap, o->h.bitmap_bytes, o->h.bitmap_offset);
	if (rc < 0) {
		errf(err, errlen, "reading the overlay bitmap: %s", strerror(-rc));
		return rc == -ENODATA ? -EIO : rc;
	}
	/* Bits past the last block mean the file is not what its header says. */
	for (uint64_t b = tail_bit; b < (tail_bit + 7) / 8 * 8; b++)
		if (o->bitmap[b / 8] & (1u << (b % 8)))
			return errf(err, errlen, "overlay bitmap claims blocks past the disk's end");
	for (uint64_t i = (tail_bit + 7) / 8; i < o->h.bitmap_bytes; i++)
		if (o->bitmap[i])
			return errf(err, errlen, "overlay bitmap claims blocks past the disk's end");
	return 0;
}

/* Open (and when new, create) the file; returns the fd or -errno with err set. */
static int open_file(const char *path, bool read_only, const struct overlay_header *fresh,
		     char *err, size_t errlen)
{
	struct stat st;
	int fd, rc;

	for (int tries = 0; tries < 2; tries++) {
		fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (fd >= 0)
			break;
		rc = -errno;
		if (rc != -ENOENT || read_only) {
			errf(err, errlen, "cannot open %s: %s", path, strerror(-rc));
			return rc;
		}
		rc = create(path, fresh, err, errlen);
		if (rc < 0 && rc != -EEXIST)
			return rc;
	}
	if (fd < 0)
		return errf(err, errlen, "cannot open %s", path);
	if (flock(fd, (read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		rc = -errno;
		close(fd);
		if (rc == -EWOULDBLOCK)
			errf(err, errlen, "%s is in use by another VM (locked)", path);
		else
			errf(err, errlen, "cannot lock %s: %s", path, strerror(-rc));
		return rc == -EWOULDBLOCK ? -EBUSY : rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return errf(err, errlen, "%s is not a regular file", path);
	}
	/* An empty file (made by the caller, e.g. mktemp) becomes a new overlay. */
	if (st.st_size == 0 && !read_only) {
		rc = format(fd, fresh);
		if (rc < 0) {
			close(fd);
			errf(err, errlen, "cannot format %s: %s", path, strerror(-rc));
			return rc;
		}
	}
	return fd;
}

int overlay_open(struct overlay *o, const char *path, int base_fd, uint64_t base_size,
		 bool read_only, char *err, size_t errlen)
{
	struct overlay_header fresh;
	uint8_t *hdr = NULL;
	uint32_t fp;
	struct stat st;
	char why[160];
	int rc;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	o->read_only = read_only;
	rc = overlay_fingerprint(base_fd, base_size, &fp);
	if (rc < 0) {
		errf(err, errlen, "reading the base image: %s", strerror(-rc));
		return rc;
	}
	overlay_header_init(&fresh, base_size, OVERLAY_BLOCK_SIZE, fp);
	rc = open_file(path, read_only, &fresh, err, errlen);
	if (rc < 0)
		return rc;
	o->fd = rc;
	hdr = malloc(OVERLAY_HEADER_SIZE);
	rc = hdr ? 0 : -ENOMEM;
	if (!rc && fstat(o->fd, &st) < 0)
		rc = -errno;
	if (!rc)
		rc = pread_full(o->fd, hdr, OVERLAY_HEADER_SIZE, 0);
	if (rc < 0) {
		errf(err, errlen, "%s: cannot read the header: %s", path,
		     rc == -ENODATA ? "file too short" : strerror(-rc));
		goto err;
	}
	rc = overlay_header_decode(hdr, (uint64_t)st.st_size, &o->h, why, sizeof(why));
	if (rc < 0) {
		errf(err, errlen, "%s: %s", path, why);
		goto err;
	}
	if (o->h.disk_size != base_size || o->h.base_fingerprint != fp) {
		rc = errf(err, errlen, "%s was made over a different base image (%llu bytes, "
			  "fingerprint %08x; this base: %llu bytes, %08x)", path,
			  (unsigned long long)o->h.disk_size, o->h.base_fingerprint,
			  (unsigned long long)base_size, fp);
		goto err;
	}
	rc = load_bitmap(o, why, sizeof(why));
	if (rc < 0) {
		errf(err, errlen, "%s: %s", path, why);
		goto err;
	}
	free(hdr);
	return 0;

err:
	free(hdr);
	free(o->bitmap);
	free(o->dirty);
	close(o->fd);
	memset(o, 0, sizeof(*o));
	o->fd = -1;
	return rc;
}

void overlay_close(struct overlay *o)
{
	if (o->fd < 0)
		return;
	if (!o->read_only)
		overlay_persist_sync(o);
	close(o->fd);
	free(o->bitmap);
	free(o->dirty);
	memset(o, 0, sizeof(*o));
	o->fd = -1;
}

bool overlay_test(const struct overlay *o, uint64_t b)
{
	return b < o->h.nr_blocks && (o->bitmap[b / 8] & (1u << (b % 8)));
}

void overlay_set(struct overlay *o, uint64_t b, uint64_t n)
{
	for (uint64_t i = b; i < b + n && i < o->h.nr_blocks; i++) {
		uint8_t m = (uint8_t)(1u << (i % 8));
		uint64_t page = (i / 8) / OVERLAY_PAGE;

		if (o->bitmap[i / 8] & m)
			continue;
		o->bitmap[i / 8] |= m;
		o->dirty[page / 8] |= (uint8_t)(1u << (page % 8));
	}
}

uint64_t overlay_run(const struct overlay *o, uint64_t off, uint64_t len, bool *in_overlay)
{
	uint64_t bs = o->h.block_size, b = off / bs, done;
	bool first = overlay_test(o, b);

	*in_overlay = first;
	done = (b + 1) * bs - off;
	while (done < len && overlay_test(o, ++b) == first)
		done += bs;
	return done < len ? done : len;
}

uint64_t overlay_data_pos(const struct overlay *o, uint64_t off)
{
	return o->h.data_offset + off;
}

uint64_t overlay_page_pos(const struct overlay *o, uint64_t page)
{
	return o->h.bitmap_offset + page * OVERLAY_PAGE;
}

int overlay_flush_begin(struct overlay *o, struct overlay_flush *f)
{
	uint64_t n = 0;

	memset(f, 0, sizeof(*f));
	for (uint64_t p = 0; p < o->nr_pages; p++)
		n += !!(o->dirty[p / 8] & (1u << (p % 8)));
	if (!n)
		return 0;
	f->page = malloc(n * sizeof(*f->page));
	f->data = malloc(n * OVERLAY_PAGE);
	if (!f->page || !f->data) {
		free(f->page);
		free(f->data);
		memset(f, 0, sizeof(*f));
		return -ENOMEM;
	}
	for (uint64_t p = 0; p < o->nr_pages; p++) {
		if (!(o->dirty[p / 8] & (1u << (p % 8))))
			continue;
		o->dirty[p / 8] &= (uint8_t)~(1u << (p % 8));
		f->page[f->nr] = p;
		memcpy(f->data + f->nr * OVERLAY_PAGE, o->bitmap + p * OVERLAY_PAGE, OVERLAY_PAGE);
		f->nr++;
	}
	return 0;
}

void overlay_flush_end(struct overlay *o, struct overlay_flush *f, bool ok)
{
	if (!ok)
		for (uint64_t i = 0; i < f->nr; i++)
			o->dirty[f->page[i] / 8] |= (uint8_t)(1u << (f->page[i] % 8));
	free(f->page);
	free(f->data);
	memset(f, 0, sizeof(*f));
}

int overlay_persist_sync(struct overlay *o)
{
	struct overlay_flush f;
	int rc;

	rc = overlay_flush_begin(o, &f);
	if (rc < 0 || !f.nr)
		return rc;
	rc = fdatasync(o->fd) < 0 ? -errno : 0;
	for (uint64_t i = 0; !rc && i < f.nr; i++)
		rc = pwrite_full(o->fd, f.data + i * OVERLAY_PAGE, OVERLAY_PAGE,
				 overlay_page_pos(o, f.page[i]));
	if (!rc && fdatasync(o->fd) < 0)
		rc = -errno;
	overlay_flush_end(o, &f, rc == 0);
	return rc;
}

int overlay_materialize(struct overlay *o, int base_fd, uint64_t base_size, uint64_t b)
{
	uint64_t bs = o->h.block_size, off = b * bs, len = bs;
	uint8_t *buf;
	int rc = 0;

	if (b >= o->h.nr_blocks)
		return -EINVAL;
	buf = calloc(1, bs);
	if (!buf)
		return -ENOMEM;
	if (off + len > base_size)
		len = base_size - off;
	rc = pread_full(base_fd, buf, len, off);
	if (rc == -ENODATA)
		rc = -EIO;
	if (!rc)
		rc = pwrite_full(o->fd, buf, bs, overlay_data_pos(o, off));
	if (!rc)
		overlay_set(o, b, 1);
	free(buf);
	return rc;
}
