/* Memory file format: header and range table encoding and checks, probing one file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot/buf.h"
#include "snapshot/memfile.h"

/* Header field offsets (docs/snapshot-format.md). */
enum {
	H_MAGIC = 0,
	H_VERSION = 8,
	H_KIND = 12,
	H_RAM_SIZE = 16,
	H_FILE_SIZE = 24,
	H_ID = 32,
	H_PARENT_ID = 48,
	H_PARENT_SIZE = 64,
	H_DATA_OFFSET = 72,
	H_PAGE_SIZE = 80,
	H_NR_RANGES = 84,
	H_DEPTH = 88,
	H_TABLE_CRC = 92,
	H_PARENT_LEN = 96,
	H_RESERVED = 100, /* to H_PARENT, zero */
	H_PARENT = 128,
	H_CRC = MEMFILE_HEADER_SIZE - 4,
};

uint32_t memfile_ranges_crc(const struct memfile_range *r, uint32_t n)
{
	uint8_t e[MEMFILE_RANGE_SIZE];
	uint32_t crc = 0;

	for (uint32_t i = 0; i < n; i++) {
		snap_le64(e, r[i].first);
		snap_le64(e + 8, r[i].count);
		crc = snap_crc32c(crc, e, sizeof(e));
	}
	return crc;
}

void memfile_header_encode(const struct memfile_info *h, uint8_t *buf)
{
	size_t plen = strnlen(h->parent, MEMFILE_PARENT_MAX);

	memset(buf, 0, MEMFILE_HEADER_SIZE);
	memcpy(buf + H_MAGIC, MEMFILE_MAGIC, 8);
	snap_le32(buf + H_VERSION, MEMFILE_VERSION);
	snap_le32(buf + H_KIND, h->kind);
	snap_le64(buf + H_RAM_SIZE, h->ram_size);
	snap_le64(buf + H_FILE_SIZE, h->file_size);
	memcpy(buf + H_ID, h->id, MEMFILE_ID_LEN);
	memcpy(buf + H_PARENT_ID, h->parent_id, MEMFILE_ID_LEN);
	snap_le64(buf + H_PARENT_SIZE, h->parent_size);
	snap_le64(buf + H_DATA_OFFSET, MEMFILE_DATA_OFFSET);
	snap_le32(buf + H_PAGE_SIZE, h->page_size);
	snap_le32(buf + H_NR_RANGES, h->nr_ranges);
	snap_le32(buf + H_DEPTH, h->depth);
	snap_le32(buf + H_TABLE_CRC, h->table_crc);
	snap_le32(buf + H_PARENT_LEN, (uint32_t)plen);
	memcpy(buf + H_PARENT, h->parent, plen);
	snap_le32(buf + H_CRC, snap_crc32c(0, buf, H_CRC));
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* Fields every file must get right. */
static int check_common(const struct memfile_info *h, const uint8_t *buf, const char *name,
			char *err, size_t errlen)
{
	uint32_t ps = h->page_size;

	if (snap_ld64(buf + H_DATA_OFFSET) != MEMFILE_DATA_OFFSET)
		return snap_errf(err, errlen, -EINVAL, "%s: bad data offset", name);
	if (ps < MEMFILE_PAGE_MIN || ps > MEMFILE_PAGE_MAX || (ps & (ps - 1)))
		return snap_errf(err, errlen, -EINVAL, "%s: bad page size %u", name, ps);
	if (!h->ram_size || h->ram_size > MEMFILE_RAM_MAX || h->ram_size % ps)
		return snap_errf(err, errlen, -EINVAL,
				 "%s: bad memory size %llu (not a multiple of %u, or 0, or over "
				 "1 TiB)",
				 name, (unsigned long long)h->ram_size, ps);
	if (!all_zero(buf + H_RESERVED, H_PARENT - H_RESERVED))
		return snap_errf(err, errlen, -EINVAL, "%s: bad header (reserved bytes)", name);
	return 0;
}

static int check_full(const struct memfile_info *h, const uint8_t *buf, const char *name, char *err,
		      size_t errlen)
{
	if (h->depth || h->nr_ranges || h->parent_size || snap_ld32(buf + H_PARENT_LEN) ||
	    h->table_crc || !all_zero(h->parent_id, MEMFILE_ID_LEN))
		return snap_errf(err, errlen, -EINVAL, "%s: full file with diff fields set", name);
	if (h->file_size != MEMFILE_DATA_OFFSET + h->ram_size)
		return snap_errf(err, errlen, -EINVAL,
				 "%s: header says %llu bytes, a full file of %llu bytes of memory "
				 "has %llu",
				 name, (unsigned long long)h->file_size,
				 (unsigned long long)h->ram_size,
				 (unsigned long long)(MEMFILE_DATA_OFFSET + h->ram_size));
	return 0;
}

static int check_diff(struct memfile_info *h, const uint8_t *buf, const char *name, char *err,
		      size_t errlen)
{
	uint32_t plen = snap_ld32(buf + H_PARENT_LEN);

	if (!h->depth || h->depth > MEMFILE_MAX_DEPTH)
		return snap_errf(err, errlen, -EINVAL, "%s: depth %u is not 1..%u", name, h->depth,
				 MEMFILE_MAX_DEPTH);
	if (h->nr_ranges > MEMFILE_MAX_RANGES)
		return snap_errf(err, errlen, -EINVAL, "%s: %u ranges, at most %u", name,
				 h->nr_ranges, MEMFILE_MAX_RANGES);
	if (!plen || plen > MEMFILE_PARENT_MAX || memchr(buf + H_PARENT, '\0', plen) ||
	    !all_zero(buf + H_PARENT + plen, H_CRC - H_PARENT - plen))
		return snap_errf(err, errlen, -EINVAL, "%s: bad parent name", name);
	memcpy(h->parent, buf + H_PARENT, plen);
	h->parent[plen] = '\0';
	if (h->parent_size < MEMFILE_DATA_OFFSET)
		return snap_errf(err, errlen, -EINVAL, "%s: bad parent size", name);
	if (h->file_size < MEMFILE_DATA_OFFSET ||
	    (h->file_size - MEMFILE_DATA_OFFSET) % h->page_size ||
	    h->file_size - MEMFILE_DATA_OFFSET > h->ram_size)
		return snap_errf(err, errlen, -EINVAL, "%s: bad file size %llu in the header", name,
				 (unsigned long long)h->file_size);
	return 0;
}

int memfile_header_decode(struct memfile_info *h, const uint8_t *buf, const char *name, char *err,
			  size_t errlen)
{
	uint32_t version = snap_ld32(buf + H_VERSION);
	int rc;

	memset(h, 0, sizeof(*h));
	if (memcmp(buf + H_MAGIC, MEMFILE_MAGIC, 8))
		return snap_errf(err, errlen, -EINVAL, "%s: not a torpor memory file (bad magic)",
				 name);
	if (version != MEMFILE_VERSION)
		return snap_errf(
		    err, errlen, -EINVAL,
		    "%s: memory file version %u is not supported (this build reads %u)", name,
		    version, MEMFILE_VERSION);
	if (snap_ld32(buf + H_CRC) != snap_crc32c(0, buf, H_CRC))
		return snap_errf(err, errlen, -EINVAL, "%s: bad header checksum", name);
	h->kind = snap_ld32(buf + H_KIND);
	h->ram_size = snap_ld64(buf + H_RAM_SIZE);
	h->file_size = snap_ld64(buf + H_FILE_SIZE);
	memcpy(h->id, buf + H_ID, MEMFILE_ID_LEN);
	memcpy(h->parent_id, buf + H_PARENT_ID, MEMFILE_ID_LEN);
	h->parent_size = snap_ld64(buf + H_PARENT_SIZE);
	h->page_size = snap_ld32(buf + H_PAGE_SIZE);
	h->nr_ranges = snap_ld32(buf + H_NR_RANGES);
	h->depth = snap_ld32(buf + H_DEPTH);
	h->table_crc = snap_ld32(buf + H_TABLE_CRC);
	rc = check_common(h, buf, name, err, errlen);
	if (rc < 0)
		return rc;
	if (h->kind == MEMFILE_FULL)
		return check_full(h, buf, name, err, errlen);
	if (h->kind == MEMFILE_DIFF)
		return check_diff(h, buf, name, err, errlen);
	return snap_errf(err, errlen, -EINVAL, "%s: unknown kind %u", name, h->kind);
}

int memfile_ranges_decode(const struct memfile_info *h, const uint8_t *buf, size_t len,
			  struct memfile_range *r, const char *name, char *err, size_t errlen)
{
	uint64_t pages = h->ram_size / h->page_size, end = 0, data = 0;

	if (len / MEMFILE_RANGE_SIZE < h->nr_ranges)
		return snap_errf(err, errlen, -EINVAL, "%s: truncated range table", name);
	for (uint32_t i = 0; i < h->nr_ranges; i++) {
		r[i].first = snap_ld64(buf + i * MEMFILE_RANGE_SIZE);
		r[i].count = snap_ld64(buf + i * MEMFILE_RANGE_SIZE + 8);
	}
	if (h->table_crc != memfile_ranges_crc(r, h->nr_ranges))
		return snap_errf(err, errlen, -EINVAL, "%s: bad range table checksum", name);
	for (uint32_t i = 0; i < h->nr_ranges; i++) {
		if (!r[i].count || r[i].first > pages || r[i].count > pages - r[i].first)
			return snap_errf(
			    err, errlen, -EINVAL,
			    "%s: range %u (pages %llu+%llu) is empty or outside memory", name, i,
			    (unsigned long long)r[i].first, (unsigned long long)r[i].count);
		if (r[i].first < end)
			return snap_errf(err, errlen, -EINVAL,
					 "%s: range %u overlaps or precedes range %u", name, i,
					 i - 1);
		end = r[i].first + r[i].count;
		data += r[i].count; /* no overflow: disjoint ranges inside memory */
	}
	if (MEMFILE_DATA_OFFSET + data * h->page_size != h->file_size)
		return snap_errf(err, errlen, -EINVAL,
				 "%s: ranges hold %llu bytes, the header says %llu", name,
				 (unsigned long long)(data * h->page_size),
				 (unsigned long long)(h->file_size - MEMFILE_DATA_OFFSET));
	return 0;
}

static int read_at(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n = pread(fd, buf, len, off);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

int memfile_open(const char *path, int *fd, struct memfile_info *h, struct memfile_range **r,
		 char *err, size_t errlen)
{
	uint8_t *buf = malloc(MEMFILE_DATA_OFFSET);
	struct stat st;
	int rc;

	*r = NULL;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (!buf || *fd < 0) {
		rc = buf ? -errno : -ENOMEM;
		snap_errf(err, errlen, rc, "%s: %s", path, strerror(-rc));
		goto out;
	}
	if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = snap_errf(err, errlen, -EINVAL, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size < MEMFILE_DATA_OFFSET) {
		rc = snap_errf(err, errlen, -EINVAL, "%s: truncated (%lld bytes)", path,
			       (long long)st.st_size);
		goto out;
	}
	rc = read_at(*fd, buf, MEMFILE_DATA_OFFSET, 0);
	if (rc < 0) {
		snap_errf(err, errlen, rc, "%s: read: %s", path, strerror(-rc));
		goto out;
	}
	rc = memfile_header_decode(h, buf, path, err, errlen);
	if (!rc && (uint64_t)st.st_size != h->file_size)
		rc = snap_errf(
		    err, errlen, -EINVAL, "%s: file is %lld bytes, its header says %llu (%s)", path,
		    (long long)st.st_size, (unsigned long long)h->file_size,
		    (uint64_t)st.st_size < h->file_size ? "truncated" : "trailing bytes");
	if (!rc && h->kind == MEMFILE_DIFF) {
		*r = calloc(h->nr_ranges ? h->nr_ranges : 1, sizeof(**r));
		rc = *r ? memfile_ranges_decode(h, buf + MEMFILE_TABLE_OFF,
						MEMFILE_DATA_OFFSET - MEMFILE_TABLE_OFF, *r, path,
						err, errlen)
			: snap_errf(err, errlen, -ENOMEM, "%s: out of memory", path);
	}
out:
	free(buf);
	if (rc < 0) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		free(*r);
		*r = NULL;
	}
	return rc;
}

int memfile_probe(const char *path, struct memfile_info *info, char *err, size_t errlen)
{
	struct memfile_range *r;
	int fd, rc;

	rc = memfile_open(path, &fd, info, &r, err, errlen);
	if (rc < 0)
		return rc;
	close(fd);
	free(r);
	return 0;
}

int memfile_parent_path(const char *child, const char *parent, char *out, size_t len)
{
	const char *slash = strrchr(child, '/');
	int n;

	if (parent[0] == '/' || !slash)
		n = snprintf(out, len, "%s", parent);
	else
		n = snprintf(out, len, "%.*s/%s", (int)(slash - child), child, parent);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
