/* Unit tests: memory files (snapshot/memfile*.c): full, diff, chains mapped by mmap, merge. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapshot/buf.h"
#include "snapshot/memfile.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PG	      4096u
#define RAM	      (4u << 20) /* 1024 pages */
#define NPAGES	      (RAM / PG)

static char dir[64], full_path[128], d1_path[128], d2_path[128], out_path[128];
static char err[512];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/torpor-test-memfile.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(full_path, sizeof(full_path), "%s/base.mem", dir);
	snprintf(d1_path, sizeof(d1_path), "%s/d1.mem", dir);
	snprintf(d2_path, sizeof(d2_path), "%s/d2.mem", dir);
	snprintf(out_path, sizeof(out_path), "%s/out.mem", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static uint8_t *ram_new(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

static uint8_t *ram_copy(const uint8_t *ram, uint64_t size)
{
	uint8_t *c = ram_new(size);

	memcpy(c, ram, size);
	return c;
}

/* Fill page p with a pattern of non-zero bytes that depends on seed. */
static void fill(uint8_t *ram, uint64_t p, unsigned int seed)
{
	for (unsigned int i = 0; i < PG; i++)
		ram[p * PG + i] = (uint8_t)(1 + (p * 31 + seed * 7 + i) % 255);
}

static void dirty(uint64_t *bm, uint8_t *ram, uint64_t p, unsigned int seed)
{
	bm[p / 64] |= 1ull << (p % 64);
	if (seed)
		fill(ram, p, seed);
	else
		memset(ram + p * PG, 0, PG);
}

static void ok(int rc, const char *what)
{
	if (rc)
		print_message("%s: %s\n", what, err);
	assert_int_equal(rc, 0);
}

static void expect_err(int rc, int want, const char *msg)
{
	if (rc != want || !strstr(err, msg))
		print_message("rc %d (want %d), \"%s\" (want \"%s\")\n", rc, want, err, msg);
	assert_int_equal(rc, want);
	assert_non_null(strstr(err, msg));
	assert_null(strchr(err, '\n'));
}

/* Map path and compare it with ram. */
static void expect_maps_to(const char *path, const uint8_t *ram, uint64_t size)
{
	void *m = NULL;

	ok(memfile_map(path, size, &m, err, sizeof(err)), path);
	assert_int_equal(memcmp(m, ram, size), 0);
	memfile_unmap(m, size);
}

/* A base RAM image: pages 0..9 and 500 filled. */
static uint8_t *base_ram(void)
{
	uint8_t *ram = ram_new(RAM);

	for (int p = 0; p < 10; p++)
		fill(ram, p, 1);
	fill(ram, 500, 1);
	return ram;
}

static void test_memfile_full_roundtrip(void **state)
{
	uint8_t *ram = base_ram();
	struct memfile_info info, probed;

	(void)state;
	ok(memfile_write_full(full_path, ram, RAM, NULL, &info, err, sizeof(err)), "write");
	ok(memfile_probe(full_path, &probed, err, sizeof(err)), "probe");
	assert_int_equal(probed.kind, MEMFILE_FULL);
	assert_int_equal(probed.ram_size, RAM);
	assert_int_equal(probed.file_size, MEMFILE_DATA_OFFSET + RAM);
	assert_int_equal(probed.depth, 0);
	assert_memory_equal(probed.id, info.id, MEMFILE_ID_LEN);
	ok(memfile_check(full_path, RAM, err, sizeof(err)), "check");
	ok(memfile_check(full_path, 0, err, sizeof(err)), "check any size");
	expect_maps_to(full_path, ram, RAM);
	munmap(ram, RAM);
}

static void test_memfile_full_is_sparse(void **state)
{
	const uint64_t size = 64u << 20;
	uint8_t *ram = ram_new(size);
	struct stat st;

	(void)state;
	fill(ram, 0, 3);
	fill(ram, 7000, 3);
	fill(ram, size / PG - 1, 3);
	ok(memfile_write_full(full_path, ram, size, NULL, NULL, err, sizeof(err)), "write");
	assert_int_equal(stat(full_path, &st), 0);
	assert_int_equal(st.st_size, MEMFILE_DATA_OFFSET + size);
	if ((uint64_t)st.st_blocks * 512 >= (1u << 20))
		print_message("st_blocks %lld\n", (long long)st.st_blocks);
	assert_true((uint64_t)st.st_blocks * 512 < (1u << 20));
	expect_maps_to(full_path, ram, size);
	munmap(ram, size);
}

/* Build full -> d1 -> d2; r1 and r2 are RAM at the two diffs. */
static void build_chain(uint8_t **r1, uint8_t **r2)
{
	uint8_t *ram = base_ram();
	uint64_t bm[NPAGES / 64];

	ok(memfile_write_full(full_path, ram, RAM, NULL, NULL, err, sizeof(err)), "full");
	memset(bm, 0, sizeof(bm));
	dirty(bm, ram, 3, 2);
	dirty(bm, ram, 4, 2);
	dirty(bm, ram, 5, 0); /* dirtied back to zero: must still override the base */
	dirty(bm, ram, 100, 2);
	dirty(bm, ram, NPAGES - 1, 2);
	ok(memfile_write_diff(d1_path, full_path, ram, RAM, bm, PG, NULL, NULL, err, sizeof(err)),
	   "d1");
	*r1 = ram_copy(ram, RAM);
	memset(bm, 0, sizeof(bm));
	dirty(bm, ram, 0, 3);
	dirty(bm, ram, 4, 3);
	dirty(bm, ram, 500, 0);
	for (int p = 700; p <= 710; p++)
		dirty(bm, ram, p, 3);
	dirty(bm, ram, NPAGES - 1, 0);
	ok(memfile_write_diff(d2_path, d1_path, ram, RAM, bm, PG, NULL, NULL, err, sizeof(err)),
	   "d2");
	*r2 = ram;
}

static void test_memfile_diff_chain_equals_full(void **state)
{
	uint8_t *r1, *r2, *m = NULL;
	struct memfile_info h;

	(void)state;
	build_chain(&r1, &r2);
	ok(memfile_probe(d2_path, &h, err, sizeof(err)), "probe");
	assert_int_equal(h.kind, MEMFILE_DIFF);
	assert_int_equal(h.depth, 2);
	assert_int_equal(h.nr_ranges, 5); /* 0, 4, 500, 700-710, 1023 */
	assert_int_equal(h.file_size, MEMFILE_DATA_OFFSET + 15 * PG);
	expect_maps_to(d1_path, r1, RAM);
	expect_maps_to(d2_path, r2, RAM);
	/* A full snapshot taken at the same moment maps to the same bytes. */
	ok(memfile_write_full(out_path, r2, RAM, NULL, NULL, err, sizeof(err)), "full");
	expect_maps_to(out_path, r2, RAM);
	/* Writes to the mapping stay private. */
	ok(memfile_map(d2_path, RAM, (void **)&m, err, sizeof(err)), "map");
	memset(m, 0x77, RAM);
	memfile_unmap(m, RAM);
	expect_maps_to(d2_path, r2, RAM);
	munmap(r1, RAM);
	munmap(r2, RAM);
}

static void test_memfile_merge_equals_chain(void **state)
{
	uint8_t *r1, *r2;
	struct memfile_info h;

	(void)state;
	build_chain(&r1, &r2);
	ok(memfile_merge(d2_path, out_path, NULL, NULL, err, sizeof(err)), "merge");
	ok(memfile_probe(out_path, &h, err, sizeof(err)), "probe");
	assert_int_equal(h.kind, MEMFILE_FULL);
	expect_maps_to(out_path, r2, RAM);
	/* Merging a chain onto its own top replaces it with a full file. */
	ok(memfile_merge(d1_path, d1_path, NULL, NULL, err, sizeof(err)), "merge in place");
	ok(memfile_probe(d1_path, &h, err, sizeof(err)), "probe");
	assert_int_equal(h.kind, MEMFILE_FULL);
	expect_maps_to(d1_path, r1, RAM);
	/* ... which d2, taken over the old d1, sees as a changed parent. */
	expect_err(memfile_check(d2_path, RAM, err, sizeof(err)), -EINVAL,
		   "has changed since the diff was taken");
	munmap(r1, RAM);
	munmap(r2, RAM);
}

static void test_memfile_tool(void **state)
{
	uint8_t *r1, *r2;
	char merge_flag[] = "--merge-mem", info_flag[] = "--mem-info";
	char *merge[] = {merge_flag, out_path, d2_path};
	char *info[] = {info_flag, d2_path};
	char *bad[] = {merge_flag, out_path};

	(void)state;
	build_chain(&r1, &r2);
	assert_int_equal(memfile_tool_main(3, merge), 0);
	expect_maps_to(out_path, r2, RAM);
	assert_int_equal(memfile_tool_main(2, info), 0);
	assert_int_equal(memfile_tool_main(2, bad), 2);
	unlink(full_path);
	assert_int_equal(memfile_tool_main(2, info), 1);
	munmap(r1, RAM);
	munmap(r2, RAM);
}

static void test_memfile_parent_changed_refused(void **state)
{
	uint8_t *r1, *r2;
	void *m = (void *)1;

	(void)state;
	build_chain(&r1, &r2);
	/* A new base at the same path, same bytes even: a different file. */
	ok(memfile_write_full(full_path, r1, RAM, NULL, NULL, err, sizeof(err)), "rewrite");
	expect_err(memfile_map(d2_path, RAM, &m, err, sizeof(err)), -EINVAL, "d1.mem: parent ");
	assert_non_null(strstr(err, "base.mem has changed since the diff was taken"));
	assert_true(m == (void *)1);
	munmap(r1, RAM);
	munmap(r2, RAM);
}

static void test_memfile_parent_missing_refused(void **state)
{
	uint8_t *r1, *r2;
	void *m = NULL;

	(void)state;
	build_chain(&r1, &r2);
	assert_int_equal(unlink(d1_path), 0);
	expect_err(memfile_map(d2_path, RAM, &m, err, sizeof(err)), -ENOENT, "d2.mem: parent ");
	assert_non_null(strstr(err, "d1.mem is missing"));
	munmap(r1, RAM);
	munmap(r2, RAM);
}

static void test_memfile_wrong_size_refused(void **state)
{
	uint8_t *ram = base_ram();
	uint64_t bm[2 * NPAGES / 64] = {0};
	void *m = NULL;

	(void)state;
	ok(memfile_write_full(full_path, ram, RAM, NULL, NULL, err, sizeof(err)), "write");
	expect_err(memfile_map(full_path, 2 * RAM, &m, err, sizeof(err)), -EINVAL,
		   "base.mem: holds 4194304 bytes of memory, the VM has 8388608");
	munmap(ram, RAM);
	ram = ram_new(2 * RAM);
	expect_err(memfile_write_diff(d1_path, full_path, ram, 2 * RAM, bm, PG, NULL, NULL, err,
				      sizeof(err)),
		   -EINVAL, "holds 4194304 bytes of memory, the VM has 8388608");
	expect_err(memfile_write_full(full_path, ram, RAM + 1, NULL, NULL, err, sizeof(err)),
		   -EINVAL, "bad memory size");
	munmap(ram, 2 * RAM);
}

/* ---- Corrupted files ---- */

static void patch(const char *p, uint64_t off, const void *bytes, size_t n)
{
	int fd = open(p, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, bytes, n, (off_t)off), (ssize_t)n);
	close(fd);
}

static void patch64(const char *p, uint64_t off, uint64_t v)
{
	uint8_t b[8];

	snap_le64(b, v);
	patch(p, off, b, 8);
}

/* Recompute the range table CRC (header 92) and the header CRC (4092). */
static void fix_crcs(const char *p)
{
	uint8_t *h = malloc(MEMFILE_DATA_OFFSET);
	int fd = open(p, O_RDWR);
	uint32_t n;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, h, MEMFILE_DATA_OFFSET, 0), MEMFILE_DATA_OFFSET);
	n = snap_ld32(h + 84);
	snap_le32(h + 92, n ? snap_crc32c(0, h + 4096, n * 16) : 0);
	snap_le32(h + 4092, snap_crc32c(0, h, 4092));
	assert_int_equal(pwrite(fd, h, 4096, 0), 4096);
	close(fd);
	free(h);
}

static void c_magic(const char *p)
{
	patch(p, 0, "X", 1);
}

static void c_version(const char *p)
{
	patch(p, 8, "\2", 1);
}

static void c_crc(const char *p)
{
	patch(p, 16, "\1", 1);
}

static void c_kind(const char *p)
{
	patch(p, 12, "\7", 1);
	fix_crcs(p);
}

static void c_table_crc(const char *p)
{
	patch(p, 4096, "\1", 1);
}

static void c_overlap(const char *p)
{
	patch64(p, 4096 + 16, 0);
	fix_crcs(p);
}

static void c_outside(const char *p)
{
	patch64(p, 4096 + 4 * 16, NPAGES);
	fix_crcs(p);
}

static void c_empty(const char *p)
{
	patch64(p, 4096 + 8, 0);
	fix_crcs(p);
}

static void c_depth(const char *p)
{
	patch(p, 88, "\21", 1);
	fix_crcs(p);
}

static void c_parent_len(const char *p)
{
	patch(p, 96, "\0", 1);
	fix_crcs(p);
}

static void c_file_size(const char *p)
{
	patch64(p, 24, MEMFILE_DATA_OFFSET + 16 * PG);
	fix_crcs(p);
}

static void c_truncated(const char *p)
{
	assert_int_equal(truncate(p, MEMFILE_DATA_OFFSET + PG), 0);
}

static void c_tiny(const char *p)
{
	assert_int_equal(truncate(p, 100), 0);
}

static void c_trailing(const char *p)
{
	patch(p, MEMFILE_DATA_OFFSET + 15 * PG, "x", 1);
}

static const struct {
	const char *name;
	void (*corrupt)(const char *p);
	int rc;
	const char *msg;
} corruptions[] = {
    {"magic", c_magic, -EINVAL, "d2.mem: not a torpor memory file (bad magic)"},
    {"version", c_version, -EINVAL, "d2.mem: memory file version 2 is not supported"},
    {"header crc", c_crc, -EINVAL, "d2.mem: bad header checksum"},
    {"kind", c_kind, -EINVAL, "d2.mem: unknown kind 7"},
    {"table crc", c_table_crc, -EINVAL, "d2.mem: bad range table checksum"},
    {"overlap", c_overlap, -EINVAL, "d2.mem: range 1 overlaps or precedes range 0"},
    {"outside", c_outside, -EINVAL, "d2.mem: range 4 (pages 1024+1) is empty or outside memory"},
    {"empty", c_empty, -EINVAL, "d2.mem: range 0 (pages 0+0) is empty or outside memory"},
    {"depth", c_depth, -EINVAL, "d2.mem: depth 17 is not 1..16"},
    {"parent len", c_parent_len, -EINVAL, "d2.mem: bad parent name"},
    {"file size", c_file_size, -EINVAL, "d2.mem: file is 126976 bytes, its header says 131072"},
    {"truncated", c_truncated, -EINVAL, "(truncated)"},
    {"tiny", c_tiny, -EINVAL, "d2.mem: truncated (100 bytes)"},
    {"trailing", c_trailing, -EINVAL, "(trailing bytes)"},
};

static void test_memfile_corruptions_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(corruptions); i++) {
		uint8_t *r1, *r2;
		void *m = NULL;

		build_chain(&r1, &r2);
		corruptions[i].corrupt(d2_path);
		err[0] = '\0';
		print_message("%s\n", corruptions[i].name);
		expect_err(memfile_map(d2_path, RAM, &m, err, sizeof(err)), corruptions[i].rc,
			   corruptions[i].msg);
		assert_null(m);
		munmap(r1, RAM);
		munmap(r2, RAM);
	}
}

static void test_memfile_corrupt_parent_refused(void **state)
{
	uint8_t *r1, *r2;
	void *m = NULL;

	(void)state;
	build_chain(&r1, &r2);
	assert_int_equal(truncate(full_path, MEMFILE_DATA_OFFSET + RAM - PG), 0);
	expect_err(memfile_map(d2_path, RAM, &m, err, sizeof(err)), -EINVAL,
		   "base.mem: file is 4255744 bytes, its header says 4259840 (truncated)");
	munmap(r1, RAM);
	munmap(r2, RAM);
}

/* ---- Diff writing ---- */

static void test_memfile_diff_coalesces_ranges(void **state)
{
	const uint64_t size = 32u << 20, pages = size / PG;
	uint8_t *ram = ram_new(size);
	uint64_t *bm = calloc(pages / 64, 8);
	struct memfile_info h;

	(void)state;
	ok(memfile_write_full(full_path, ram, size, NULL, NULL, err, sizeof(err)), "full");
	for (uint64_t p = 0; p < pages; p += 2)
		dirty(bm, ram, p, 5); /* 4096 separate runs */
	ok(memfile_write_diff(d1_path, full_path, ram, size, bm, PG, NULL, &h, err, sizeof(err)),
	   "diff");
	assert_true(h.nr_ranges <= MEMFILE_MAX_RANGES);
	expect_maps_to(d1_path, ram, size);
	free(bm);
	munmap(ram, size);
}

static void test_memfile_empty_diff(void **state)
{
	uint8_t *ram = base_ram();
	uint64_t bm[NPAGES / 64] = {0};
	struct memfile_info h;
	struct stat st;

	(void)state;
	ok(memfile_write_full(full_path, ram, RAM, NULL, NULL, err, sizeof(err)), "full");
	ok(memfile_write_diff(d1_path, full_path, ram, RAM, bm, PG, NULL, &h, err, sizeof(err)),
	   "diff");
	assert_int_equal(h.nr_ranges, 0);
	assert_int_equal(stat(d1_path, &st), 0);
	assert_int_equal(st.st_size, MEMFILE_DATA_OFFSET);
	expect_maps_to(d1_path, ram, RAM);
	munmap(ram, RAM);
}

static void test_memfile_relative_parent_moves_with_dir(void **state)
{
	uint8_t *ram = base_ram();
	uint64_t bm[NPAGES / 64] = {0};
	char moved[160], top[200];
	struct memfile_info h;

	(void)state;
	ok(memfile_write_full(full_path, ram, RAM, NULL, NULL, err, sizeof(err)), "full");
	dirty(bm, ram, 42, 9);
	ok(memfile_write_diff(d1_path, "base.mem", ram, RAM, bm, PG, NULL, &h, err, sizeof(err)),
	   "diff");
	assert_string_equal(h.parent, "base.mem");
	snprintf(moved, sizeof(moved), "%s.moved", dir);
	assert_int_equal(rename(dir, moved), 0);
	snprintf(top, sizeof(top), "%s/d1.mem", moved);
	expect_maps_to(top, ram, RAM);
	assert_int_equal(rename(moved, dir), 0);
	munmap(ram, RAM);
}

static void test_memfile_diff_refuses_bad_args(void **state)
{
	uint8_t *ram = base_ram();
	uint64_t bm[NPAGES / 64] = {0};
	char missing[160];

	(void)state;
	ok(memfile_write_full(full_path, ram, RAM, NULL, NULL, err, sizeof(err)), "full");
	expect_err(memfile_write_diff(full_path, "base.mem", ram, RAM, bm, PG, NULL, NULL, err,
				      sizeof(err)),
		   -EINVAL, "part of the diff's chain");
	expect_err(memfile_write_diff(d1_path, full_path, ram, RAM, bm, 3000, NULL, NULL, err,
				      sizeof(err)),
		   -EINVAL, "bad page size 3000");
	expect_err(memfile_write_diff(d1_path, "", ram, RAM, bm, PG, NULL, NULL, err, sizeof(err)),
		   -EINVAL, "bad parent name");
	/* Nor any file further down the chain. */
	bm[0] = 1;
	ok(memfile_write_diff(d1_path, "base.mem", ram, RAM, bm, PG, NULL, NULL, err, sizeof(err)),
	   "d1");
	ok(memfile_write_diff(d2_path, "d1.mem", ram, RAM, bm, PG, NULL, NULL, err, sizeof(err)),
	   "d2");
	expect_err(
	    memfile_write_diff(full_path, "d2.mem", ram, RAM, bm, PG, NULL, NULL, err, sizeof(err)),
	    -EINVAL, "base.mem: writing here would replace ");
	ok(memfile_check(d2_path, RAM, err, sizeof(err)), "chain intact");
	/* And a diff over a broken chain would never restore: refused now. */
	assert_int_equal(unlink(full_path), 0);
	expect_err(
	    memfile_write_diff(out_path, "d2.mem", ram, RAM, bm, PG, NULL, NULL, err, sizeof(err)),
	    -ENOENT, "base.mem is missing");
	snprintf(missing, sizeof(missing), "%s/nope.mem", dir);
	expect_err(
	    memfile_write_diff(d1_path, missing, ram, RAM, bm, PG, NULL, NULL, err, sizeof(err)),
	    -ENOENT, "nope.mem: No such file or directory");
	munmap(ram, RAM);
}

static void test_memfile_depth_cap(void **state)
{
	uint8_t *ram = base_ram();
	uint64_t bm[NPAGES / 64] = {0};
	char prev[160], cur[160];

	(void)state;
	ok(memfile_write_full(full_path, ram, RAM, NULL, NULL, err, sizeof(err)), "full");
	snprintf(prev, sizeof(prev), "%s", full_path);
	for (unsigned int d = 1; d <= MEMFILE_MAX_DEPTH; d++) {
		snprintf(cur, sizeof(cur), "%s/d%u.mem", dir, d);
		memset(bm, 0, sizeof(bm));
		dirty(bm, ram, d * 3, d + 10);
		ok(memfile_write_diff(cur, prev, ram, RAM, bm, PG, NULL, NULL, err, sizeof(err)),
		   cur);
		snprintf(prev, sizeof(prev), "%s", cur);
	}
	expect_maps_to(prev, ram, RAM);
	expect_err(
	    memfile_write_diff(out_path, prev, ram, RAM, bm, PG, NULL, NULL, err, sizeof(err)),
	    -E2BIG, "is already 16 diffs deep (merge the chain first)");
	munmap(ram, RAM);
}

static void test_memfile_diff_large_pages(void **state)
{
	const uint32_t ps = 16384;
	uint8_t *ram = base_ram();
	uint64_t bm[NPAGES / 64] = {0};
	struct memfile_info h;

	(void)state;
	if (sysconf(_SC_PAGESIZE) > ps)
		skip();
	ok(memfile_write_full(full_path, ram, RAM, NULL, NULL, err, sizeof(err)), "full");
	bm[0] = 1ull << 3; /* 16 KiB page 3: bytes 48 KiB..64 KiB */
	fill(ram, 12, 4);
	fill(ram, 15, 4);
	ok(memfile_write_diff(d1_path, full_path, ram, RAM, bm, ps, NULL, &h, err, sizeof(err)),
	   "diff");
	assert_int_equal(h.page_size, ps);
	assert_int_equal(h.file_size, MEMFILE_DATA_OFFSET + ps);
	expect_maps_to(d1_path, ram, RAM);
	munmap(ram, RAM);
}

/* ---- Failures while writing ---- */

struct fault_at {
	int calls, fail_at;
	enum snap_step step;
};

static int fault_fn(void *opaque, enum snap_step step)
{
	struct fault_at *f = opaque;

	if (f->calls++ == f->fail_at) {
		f->step = step;
		return -ENOSPC;
	}
	return 0;
}

static int count_tmp_files(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strstr(e->d_name, ".tmp-") != NULL;
	closedir(d);
	return n;
}

/* What each_fault() writes: a full file of ram, or a diff of ram's bm pages over base.mem. */
struct writer {
	const char *path;
	uint8_t *ram;
	uint64_t *bm; /* NULL: full file */
};

static int do_write(const struct writer *w, const struct snap_fault *fault)
{
	if (!w->bm)
		return memfile_write_full(w->path, w->ram, RAM, fault, NULL, err, sizeof(err));
	return memfile_write_diff(w->path, "base.mem", w->ram, RAM, w->bm, PG, fault, NULL, err,
				  sizeof(err));
}

/* Write with a fault at each step in turn: until it succeeds, the file keeps old. */
static void each_fault(const struct writer *w, const uint8_t *old)
{
	int rc = -1, steps = 0;

	for (int at = 0; rc; at++) {
		struct fault_at f = {.fail_at = at};
		struct snap_fault hook = {.fn = fault_fn, .opaque = &f};

		err[0] = '\0';
		rc = do_write(w, &hook);
		assert_int_equal(count_tmp_files(), 0);
		if (rc == 0 || f.step == SNAP_STEP_FSYNC_DIR) {
			expect_maps_to(w->path, w->ram, RAM);
		} else {
			assert_int_equal(rc, -ENOSPC);
			assert_non_null(strstr(err, "No space left on device"));
			ok(memfile_check(w->path, RAM, err, sizeof(err)), "old file");
			expect_maps_to(w->path, old, RAM);
		}
		steps++;
	}
	assert_true(steps >= 8); /* create, size, header, data, fsync, rename, dir; success */
}

static void test_memfile_write_failure_keeps_old(void **state)
{
	uint8_t *old = base_ram(), *now = base_ram(), *d1;
	uint64_t bm[NPAGES / 64] = {0};
	struct writer full = {.path = full_path, .ram = now};
	struct writer diff = {.path = d1_path, .ram = now, .bm = bm};

	(void)state;
	ok(memfile_write_full(full_path, old, RAM, NULL, NULL, err, sizeof(err)), "old full");
	fill(now, 77, 6);
	fill(now, 78, 6);
	each_fault(&full, old);

	/* A diff over the new base, then a failing rewrite of that diff. */
	dirty(bm, now, 300, 7);
	ok(do_write(&diff, NULL), "old diff");
	d1 = ram_copy(now, RAM);
	dirty(bm, now, 301, 8);
	dirty(bm, now, 900, 8);
	each_fault(&diff, d1);
	munmap(old, RAM);
	munmap(now, RAM);
	munmap(d1, RAM);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_memfile_full_roundtrip),
	    T(test_memfile_full_is_sparse),
	    T(test_memfile_diff_chain_equals_full),
	    T(test_memfile_merge_equals_chain),
	    T(test_memfile_tool),
	    T(test_memfile_parent_changed_refused),
	    T(test_memfile_parent_missing_refused),
	    T(test_memfile_wrong_size_refused),
	    T(test_memfile_corruptions_refused),
	    T(test_memfile_corrupt_parent_refused),
	    T(test_memfile_diff_coalesces_ranges),
	    T(test_memfile_empty_diff),
	    T(test_memfile_relative_parent_moves_with_dir),
	    T(test_memfile_diff_refuses_bad_args),
	    T(test_memfile_depth_cap),
	    T(test_memfile_diff_large_pages),
	    T(test_memfile_write_failure_keeps_old),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
