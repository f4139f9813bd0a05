/* libFuzzer target for snapshot/: the state-file parser, memory-file header and ranges. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/memfile.h"
#include "snapshot/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input: one control byte, then a file's bytes.
 *   ctl bit 0  0: a state file (snap_state_parse)
 *              1: a memory file's first 64 KiB: header page + range table
 *                 (memfile_header_decode, memfile_ranges_decode); short
 *                 inputs are padded with zeros
 *   ctl bit 1  reseal: recompute every checksum the bytes call for before
 *              parsing, so mutations reach the checks behind them
 *   ctl bit 2  state file: accept any arch (NULL) instead of "aarch64"
 * Besides the sanitizers: errors are one line with a documented code; a
 * state file that parses re-encodes to the same bytes (the format is
 * canonical), its lookups find every section, and a memory section decodes
 * and re-encodes the same; a memory header that decodes re-encodes to the
 * same page, and its ranges are ordered, disjoint, inside RAM and fill the file.
 */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_snap_state: %s:%d: check failed: %s\n", __FILE__,    \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static void check_err(int rc, const char *err)
{
	CHECK(rc == -EINVAL || rc == -E2BIG || rc == -ENOMEM);
	CHECK(err[0] && !strchr(err, '\n'));
}

/* Fix the section CRCs that lie in the buffer, then the table and header CRCs. */
static void reseal_state(uint8_t *p, size_t len)
{
	uint32_t n;

	if (len < SNAP_STATE_HEADER_SIZE)
		return;
	n = snap_ld32(p + 24);
	if (n > SNAP_STATE_MAX_SECTIONS || SNAP_STATE_HEADER_SIZE + (uint64_t)n * 32 > len)
		n = (uint32_t)((len - SNAP_STATE_HEADER_SIZE) / 32);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t *e = p + SNAP_STATE_HEADER_SIZE + i * 32;
		uint64_t off = snap_ld64(e + 16), l = snap_ld64(e + 24);

		if (off <= len && l <= len - off)
			snap_le32(e + 12, snap_crc32c(0, p + off, l));
	}
	snap_le32(p + 28, snap_crc32c(0, p + SNAP_STATE_HEADER_SIZE, (size_t)n * 32));
	snap_le32(p + 60, snap_crc32c(0, p, 60));
}

static void check_memory_section(const struct snap_section *sec)
{
	struct snap_memory *m = malloc(sizeof(*m));
	struct snap_buf b;

	CHECK(m);
	if (snap_memory_decode(m, sec) == 0) {
		snap_buf_init(&b);
		CHECK(snap_memory_encode(m, &b) == 0);
		CHECK(b.len == sec->len && !memcmp(b.data, sec->data, b.len));
		snap_buf_free(&b);
	}
	free(m);
}

/* A parsed state: sections in order, found by lookup, and the same bytes re-encoded. */
static void check_state(const struct snap_state *s, const uint8_t *p, size_t len)
{
	struct snap_writer w;
	uint8_t *out;
	size_t out_len;

	CHECK(snap_writer_init(&w, s->arch) == 0);
	for (uint32_t i = 0; i < s->nr; i++) {
		const struct snap_section *c = &s->secs[i];

		CHECK(c->data >= p && c->len <= len && c->data + c->len <= p + len);
		CHECK(snap_state_find(s, c->id, c->instance) == c);
		CHECK(snap_writer_add(&w, c->id, c->instance, c->version, c->data, c->len, NULL,
				      0) == 0);
		if (c->id == SNAP_SEC_MEMORY)
			check_memory_section(c);
	}
	CHECK(snap_writer_encode(&w, &out, &out_len) == 0);
	CHECK(out_len == len && !memcmp(out, p, len));
	free(out);
	snap_writer_free(&w);
}

static void fuzz_state(uint8_t *p, size_t len, int ctl)
{
	const char *arch = ctl & 4 ? NULL : SNAP_ARCH_AARCH64;
	struct snap_state s;
	char err[256] = "";
	int rc;

	if (ctl & 2)
		reseal_state(p, len);
	rc = snap_state_parse(&s, p, len, arch, "state.bin", err, sizeof(err));
	if (rc < 0) {
		check_err(rc, err);
		CHECK(!s.secs && !s.nr);
		return;
	}
	CHECK(rc == 0);
	check_state(&s, p, len);
	snap_state_free(&s);
}

static void reseal_mem(uint8_t *p)
{
	uint32_t n = snap_ld32(p + 84);
	uint64_t max = (MEMFILE_DATA_OFFSET - MEMFILE_TABLE_OFF) / MEMFILE_RANGE_SIZE;

	n = n > max ? (uint32_t)max : n;
	snap_le32(p + 92, n ? snap_crc32c(0, p + MEMFILE_TABLE_OFF, n * MEMFILE_RANGE_SIZE) : 0);
	snap_le32(p + MEMFILE_HEADER_SIZE - 4, snap_crc32c(0, p, MEMFILE_HEADER_SIZE - 4));
}

static void check_ranges(const struct memfile_info *h, const struct memfile_range *r)
{
	uint64_t end = 0, pages = 0;

	for (uint32_t i = 0; i < h->nr_ranges; i++) {
		CHECK(r[i].count && r[i].first >= end);
		end = r[i].first + r[i].count;
		CHECK(end <= h->ram_size / h->page_size);
		pages += r[i].count;
	}
	CHECK(MEMFILE_DATA_OFFSET + pages * h->page_size == h->file_size);
}

static void fuzz_mem(uint8_t *p, int ctl)
{
	struct memfile_info h;
	struct memfile_range *r;
	uint8_t again[MEMFILE_HEADER_SIZE];
	char err[256] = "";
	int rc;

	if (ctl & 2)
		reseal_mem(p);
	rc = memfile_header_decode(&h, p, "mem", err, sizeof(err));
	if (rc < 0) {
		check_err(rc, err);
		return;
	}
	memfile_header_encode(&h, again);
	CHECK(!memcmp(again, p, MEMFILE_HEADER_SIZE));
	CHECK(h.ram_size && h.ram_size % h.page_size == 0 && h.file_size >= MEMFILE_DATA_OFFSET);
	if (h.kind == MEMFILE_FULL) {
		CHECK(h.file_size == MEMFILE_DATA_OFFSET + h.ram_size && !h.nr_ranges);
		return;
	}
	CHECK(h.kind == MEMFILE_DIFF && h.depth && h.depth <= MEMFILE_MAX_DEPTH && h.parent[0]);
	CHECK(h.nr_ranges <= MEMFILE_MAX_RANGES);
	r = malloc((h.nr_ranges ? h.nr_ranges : 1) * sizeof(*r));
	CHECK(r);
	rc = memfile_ranges_decode(&h, p + MEMFILE_TABLE_OFF,
				   MEMFILE_DATA_OFFSET - MEMFILE_TABLE_OFF, r, "mem", err,
				   sizeof(err));
	if (rc < 0)
		check_err(rc, err);
	else
		check_ranges(&h, r);
	free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int ctl = size ? data[0] : 0;
	size_t len = size ? size - 1 : 0;
	uint8_t *p;

	if (ctl & 1) {
		p = calloc(1, MEMFILE_DATA_OFFSET);
		CHECK(p);
		memcpy(p, data + 1, len < MEMFILE_DATA_OFFSET ? len : MEMFILE_DATA_OFFSET);
		fuzz_mem(p, ctl);
	} else {
		/* The file in an allocation of its exact size, so ASan sees any over-read. */
		p = malloc(len ? len : 1);
		CHECK(p);
		if (len)
			memcpy(p, data + 1, len);
		fuzz_state(p, len, ctl);
	}
	free(p);
	return 0;
}
