/* Writing memory files: full (sparse) and diff (dirty pages over a parent). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "snapshot/buf.h"
#include "snapshot/memfile.h"

#define RUN_MAX (4u << 20) /* bytes per pwrite of non-zero pages */

static int new_id(uint8_t *id)
{
	size_t done = 0;
	ssize_t n;

	while (done < MEMFILE_ID_LEN) {
		n = getrandom(id + done, MEMFILE_ID_LEN - done, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

static int zero_page(const uint8_t *p)
{
	return p[0] == 0 && !memcmp(p, p + 1, MEMFILE_PAGE - 1);
}

/* Write src[0..len) (a multiple of MEMFILE_PAGE) at off, leaving zero pages as holes. */
static int write_sparse(struct snap_file *f, const uint8_t *src, uint64_t len, uint64_t off,
			char *err, size_t errlen)
{
	uint64_t i = 0, run;
	int rc;

	while (i < len) {
		if (zero_page(src + i)) {
			i += MEMFILE_PAGE;
			continue;
		}
		run = MEMFILE_PAGE;
		while (i + run < len && run < RUN_MAX && !zero_page(src + i + run))
			run += MEMFILE_PAGE;
		rc = snap_file_pwrite(f, src + i, run, off + i, err, errlen);
		if (rc < 0)
			return rc;
		i += run;
	}
	return 0;
}

/* Create path's temporary file of h->file_size bytes and write head[0..head_len) at 0. */
static int start_file(struct snap_file *f, const char *path, const struct memfile_info *h,
		      const uint8_t *head, size_t head_len, const struct snap_fault *fault,
		      char *err, size_t errlen)
{
	int rc = snap_file_create(f, path, fault, err, errlen);

	if (rc < 0)
		return rc;
	rc = snap_file_truncate(f, h->file_size, err, errlen);
	if (!rc)
		rc = snap_file_pwrite(f, head, head_len, 0, err, errlen);
	if (rc < 0)
		snap_file_abort(f);
	return rc;
}

int memfile_write_full(const char *path, const void *ram, uint64_t ram_size,
		       const struct snap_fault *fault, struct memfile_info *info, char *err,
		       size_t errlen)
{
	struct memfile_info h = {.kind = MEMFILE_FULL, .page_size = MEMFILE_PAGE};
	uint8_t hdr[MEMFILE_HEADER_SIZE];
	struct snap_file f;
	int rc;

	if (!ram_size || ram_size % MEMFILE_PAGE || ram_size > MEMFILE_RAM_MAX)
		return snap_errf(err, errlen, -EINVAL, "%s: bad memory size %llu", path,
				 (unsigned long long)ram_size);
	h.ram_size = ram_size;
	h.file_size = MEMFILE_DATA_OFFSET + ram_size;
	rc = new_id(h.id);
	if (rc < 0)
		return snap_errf(err, errlen, rc, "%s: getrandom: %s", path, strerror(-rc));
	memfile_header_encode(&h, hdr);
	rc = start_file(&f, path, &h, hdr, sizeof(hdr), fault, err, errlen);
	if (rc < 0)
		return rc;
	rc = write_sparse(&f, ram, ram_size, MEMFILE_DATA_OFFSET, err, errlen);
	if (rc < 0) {
		snap_file_abort(&f);
		return rc;
	}
	rc = snap_file_commit(&f, err, errlen);
	if (!rc && info)
		*info = h;
	return rc;
}

static int dirty(const uint64_t *bitmap, uint64_t page)
{
	return (bitmap[page / 64] >> (page % 64)) & 1;
}

/* Runs of set bits in bitmap[0..pages) into a new array *out of *nr ranges. */
static int dirty_runs(const uint64_t *bitmap, uint64_t pages, struct memfile_range **out,
		      uint64_t *nr)
{
	struct memfile_range *r = NULL, *t;
	uint64_t n = 0, cap = 0, p = 0;

	while (p < pages) {
		if (!bitmap[p / 64] && p % 64 == 0) {
			p += 64;
			continue;
		}
		if (!dirty(bitmap, p)) {
			p++;
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			t = realloc(r, cap * sizeof(*r));
			if (!t) {
				free(r);
				return -ENOMEM;
			}
			r = t;
		}
		r[n].first = p;
		while (p < pages && dirty(bitmap, p))
			p++;
		r[n].count = p - r[n].first;
		n++;
	}
	*out = r;
	*nr = n;
	return 0;
}

/* Join neighbours closer than gap pages until at most MEMFILE_MAX_RANGES remain. */
static uint64_t coalesce(struct memfile_range *r, uint64_t n)
{
	for (uint64_t gap = 1; n > MEMFILE_MAX_RANGES; gap *= 2) {
		uint64_t k = 0;

		for (uint64_t i = 1; i < n; i++) {
			if (r[i].first - (r[k].first + r[k].count) <= gap)
				r[k].count = r[i].first + r[i].count - r[k].first;
			else
				r[++k] = r[i];
		}
		n = k + 1;
	}
	return n;
}

/* The parent's header, checked against what a diff over it needs, and its whole chain. */
static int probe_parent(const char *path, const char *parent, uint64_t ram_size,
			struct memfile_info *ph, char *err, size_t errlen)
{
	char ppath[PATH_MAX];
	int rc;

	if (!parent[0] || strlen(parent) > MEMFILE_PARENT_MAX ||
	    memfile_parent_path(path, parent, ppath, sizeof(ppath)) < 0)
		return snap_errf(err, errlen, -EINVAL, "%s: bad parent name", path);
	rc = memfile_probe(ppath, ph, err, errlen);
	if (rc < 0)
		return rc;
	if (ph->ram_size != ram_size)
		return snap_errf(err, errlen, -EINVAL,
				 "%s: parent %s holds %llu bytes of memory, the VM has %llu", path,
				 ppath, (unsigned long long)ph->ram_size,
				 (unsigned long long)ram_size);
	if (ph->depth >= MEMFILE_MAX_DEPTH)
		return snap_errf(err, errlen, -E2BIG,
				 "%s: parent %s is already %u diffs deep (merge the chain first)",
				 path, ppath, ph->depth);
	return memfile_check_parent(ppath, path, ram_size, err, errlen);
}

/* Header, range table and the dirty ranges' data. */
static int write_diff(const char *path, const struct memfile_info *h, const struct memfile_range *r,
		      const uint8_t *ram, const struct snap_fault *fault, char *err, size_t errlen)
{
	size_t head_len = MEMFILE_TABLE_OFF + (size_t)h->nr_ranges * MEMFILE_RANGE_SIZE;
	uint8_t *head = calloc(1, head_len);
	uint64_t off = MEMFILE_DATA_OFFSET;
	struct snap_file f;
	int rc;

	if (!head)
		return snap_errf(err, errlen, -ENOMEM, "%s: out of memory", path);
	memfile_header_encode(h, head);
	for (uint32_t i = 0; i < h->nr_ranges; i++) {
		snap_le64(head + MEMFILE_TABLE_OFF + i * MEMFILE_RANGE_SIZE, r[i].first);
		snap_le64(head + MEMFILE_TABLE_OFF + i * MEMFILE_RANGE_SIZE + 8, r[i].count);
	}
	rc = start_file(&f, path, h, head, head_len, fault, err, errlen);
	free(head);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < h->nr_ranges && !rc; i++) {
		rc = write_sparse(&f, ram + r[i].first * h->page_size, r[i].count * h->page_size,
				  off, err, errlen);
		off += r[i].count * h->page_size;
	}
	if (rc < 0) {
		snap_file_abort(&f);
		return rc;
	}
	return snap_file_commit(&f, err, errlen);
}

static int check_diff_args(const char *path, uint64_t ram_size, uint32_t ps, char *err,
			   size_t errlen)
{
	if (ps < MEMFILE_PAGE_MIN || ps > MEMFILE_PAGE_MAX || (ps & (ps - 1)))
		return snap_errf(err, errlen, -EINVAL, "%s: bad page size %u", path, ps);
	if (!ram_size || ram_size % ps || ram_size > MEMFILE_RAM_MAX)
		return snap_errf(err, errlen, -EINVAL, "%s: bad memory size %llu", path,
				 (unsigned long long)ram_size);
	return 0;
}

int memfile_write_diff(const char *path, const char *parent, const void *ram, uint64_t ram_size,
		       const uint64_t *bitmap, uint32_t page_size, const struct snap_fault *fault,
		       struct memfile_info *info, char *err, size_t errlen)
{
	struct memfile_info ph, h = {.kind = MEMFILE_DIFF, .page_size = page_size};
	struct memfile_range *r;
	uint64_t n, pages = 0;
	int rc;

	rc = check_diff_args(path, ram_size, page_size, err, errlen);
	if (!rc)
		rc = probe_parent(path, parent, ram_size, &ph, err, errlen);
	if (rc < 0)
		return rc;
	if (dirty_runs(bitmap, ram_size / page_size, &r, &n) < 0)
		return snap_errf(err, errlen, -ENOMEM, "%s: out of memory", path);
	n = coalesce(r, n);
	for (uint64_t i = 0; i < n; i++)
		pages += r[i].count;
	h.depth = ph.depth + 1;
	h.nr_ranges = (uint32_t)n;
	h.table_crc = memfile_ranges_crc(r, h.nr_ranges);
	h.ram_size = ram_size;
	h.file_size = MEMFILE_DATA_OFFSET + pages * page_size;
	memcpy(h.parent_id, ph.id, MEMFILE_ID_LEN);
	h.parent_size = ph.file_size;
	snprintf(h.parent, sizeof(h.parent), "%s", parent);
	rc = new_id(h.id);
	if (rc < 0)
		snap_errf(err, errlen, rc, "%s: getrandom: %s", path, strerror(-rc));
	else
		rc = write_diff(path, &h, r, ram, fault, err, errlen);
	free(r);
	if (!rc && info)
		*info = h;
	return rc;
}
