/* Unit tests: the snapshot state file (snapshot/state*.c), snap_buf and crash-safe writes. */
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapshot/state.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ARCH	      SNAP_ARCH_AARCH64

static char dir[64], path[128];
static char err[512];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/torpor-test-snap-state.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state.bin", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void add(struct snap_writer *w, uint32_t id, uint32_t inst, const char *text)
{
	int rc = snap_writer_add(w, id, inst, 1, text, strlen(text), err, sizeof(err));

	if (rc)
		print_message("snap_writer_add: %s\n", err);
	assert_int_equal(rc, 0);
}

/* A writer with a typical set of sections, added out of order. */
static void sample(struct snap_writer *w)
{
	assert_int_equal(snap_writer_init(w, ARCH), 0);
	add(w, SNAP_SEC_VCPU, 1, "regs of vcpu1");
	add(w, SNAP_SEC_CONFIG, 0, "{\"mem_size\": 268435456}");
	add(w, SNAP_SEC_VCPU, 0, "regs of vcpu0 (longer)");
	add(w, SNAP_SEC_GIC, 0, "gic");
	add(w, SNAP_SEC_BLK, 0, "");
	add(w, SNAP_SEC_UART, 0, "uart state 12345");
}

static uint8_t *sample_bytes(size_t *len)
{
	struct snap_writer w;
	uint8_t *buf;

	sample(&w);
	assert_int_equal(snap_writer_encode(&w, &buf, len), 0);
	snap_writer_free(&w);
	return buf;
}

static void expect_section(const struct snap_state *s, uint32_t id, uint32_t inst, const char *text)
{
	const struct snap_section *c = snap_state_find(s, id, inst);

	assert_non_null(c);
	assert_int_equal(c->len, strlen(text));
	if (strlen(text))
		assert_memory_equal(c->data, text, strlen(text));
	assert_int_equal(c->version, 1);
}

static void check_sample(const struct snap_state *s)
{
	assert_string_equal(s->arch, ARCH);
	assert_int_equal(s->version, SNAP_STATE_VERSION);
	assert_int_equal(s->nr, 6);
	expect_section(s, SNAP_SEC_CONFIG, 0, "{\"mem_size\": 268435456}");
	expect_section(s, SNAP_SEC_VCPU, 0, "regs of vcpu0 (longer)");
	expect_section(s, SNAP_SEC_VCPU, 1, "regs of vcpu1");
	expect_section(s, SNAP_SEC_GIC, 0, "gic");
	expect_section(s, SNAP_SEC_BLK, 0, "");
	expect_section(s, SNAP_SEC_UART, 0, "uart state 12345");
	assert_null(snap_state_find(s, SNAP_SEC_VCPU, 2));
	assert_null(snap_state_find(s, SNAP_SEC_NET, 0));
	assert_int_equal(snap_state_count(s, SNAP_SEC_VCPU), 2);
	assert_int_equal(snap_state_count(s, SNAP_SEC_MEMORY), 0);
}

static void test_snap_state_roundtrip_file(void **state)
{
	struct snap_writer w;
	struct snap_state s;
	int rc;

	(void)state;
	sample(&w);
	assert_int_equal(snap_writer_commit(&w, path, NULL, err, sizeof(err)), 0);
	snap_writer_free(&w);
	rc = snap_state_load(&s, path, ARCH, err, sizeof(err));
	if (rc)
		print_message("load: %s\n", err);
	assert_int_equal(rc, 0);
	check_sample(&s);
	snap_state_free(&s);
	/* Any arch is accepted with NULL. */
	assert_int_equal(snap_state_load(&s, path, NULL, err, sizeof(err)), 0);
	snap_state_free(&s);
}

static void test_snap_state_roundtrip_empty(void **state)
{
	struct snap_writer w;
	struct snap_state s;
	uint8_t *buf;
	size_t len;

	(void)state;
	assert_int_equal(snap_writer_init(&w, ARCH), 0);
	assert_int_equal(snap_writer_encode(&w, &buf, &len), 0);
	assert_int_equal(len, SNAP_STATE_HEADER_SIZE);
	assert_int_equal(snap_state_parse(&s, buf, len, ARCH, "x", err, sizeof(err)), 0);
	assert_int_equal(s.nr, 0);
	assert_null(snap_state_find(&s, SNAP_SEC_CONFIG, 0));
	snap_state_free(&s);
	snap_writer_free(&w);
	free(buf);
}

static void test_snap_state_layout_is_documented(void **state)
{
	uint8_t *buf;
	size_t len;

	(void)state;
	buf = sample_bytes(&len);
	/* docs/snapshot-format.md: header fields and the first table entry. */
	assert_memory_equal(buf, "TORPSNAP", 8);
	assert_memory_equal(buf + 8, "aarch64\0", 8);
	assert_int_equal(snap_ld32(buf + 16), 1);
	assert_int_equal(snap_ld32(buf + 20), 64);
	assert_int_equal(snap_ld32(buf + 24), 6);
	assert_int_equal(snap_ld64(buf + 32), len);
	assert_int_equal(snap_ld32(buf + 60), snap_crc32c(0, buf, 60));
	assert_int_equal(snap_ld32(buf + 64), SNAP_SEC_CONFIG);
	assert_int_equal(snap_ld64(buf + 64 + 16), 64 + 6 * 32);
	assert_int_equal(len % 8, 0);
	/* The CRC32C check value. */
	assert_int_equal(snap_crc32c(0, "123456789", 9), 0xe3069283);
	free(buf);
}

static void test_snap_state_writer_refuses(void **state)
{
	struct snap_writer w;
	static uint8_t big[1 << 20];

	(void)state;
	assert_int_equal(snap_writer_init(&w, ""), -EINVAL);
	assert_int_equal(snap_writer_init(&w, "too-long-arch"), -EINVAL);
	assert_int_equal(snap_writer_init(&w, ARCH), 0);
	assert_int_equal(snap_writer_add(&w, 99, 0, 1, "x", 1, err, sizeof(err)), -EINVAL);
	assert_int_equal(snap_writer_add(&w, 0, 0, 1, "x", 1, err, sizeof(err)), -EINVAL);
	assert_int_equal(snap_writer_add(&w, SNAP_SEC_GIC, 0, 0, "x", 1, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(snap_writer_add(&w, SNAP_SEC_CONFIG, 1, 1, "x", 1, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(snap_writer_add(&w, SNAP_SEC_VCPU, 3, 1, "x", 1, err, sizeof(err)), 0);
	assert_int_equal(snap_writer_add(&w, SNAP_SEC_VCPU, 3, 1, "y", 1, err, sizeof(err)),
			 -EEXIST);
	assert_string_equal(err, "state: section vcpu3 added twice");
	for (int i = 0; i < 63; i++)
		assert_int_equal(snap_writer_add(&w, SNAP_SEC_BLK, (uint32_t)i, 1, big, sizeof(big),
						 err, sizeof(err)),
				 0);
	assert_int_equal(
	    snap_writer_add(&w, SNAP_SEC_BLK, 63, 1, big, sizeof(big), err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "larger than 64 MiB"));
	snap_writer_free(&w);
}

/* ---- Corruptions ---- */

static void fix_header_crc(uint8_t *b)
{
	snap_le32(b + 60, snap_crc32c(0, b, 60));
}

static void fix_table_crc(uint8_t *b)
{
	uint32_t n = snap_ld32(b + 24);

	snap_le32(b + 28, snap_crc32c(0, b + 64, (size_t)n * 32));
	fix_header_crc(b);
}

static uint8_t *entry(uint8_t *b, int i)
{
	return b + 64 + i * 32;
}

/* Entries of the sample, sorted: config, vcpu0, vcpu1, gic, blk0, uart. */
static void m_magic(uint8_t *b, size_t *len)
{
	b[0] = 'X';
}

static void m_version(uint8_t *b, size_t *len)
{
	snap_le32(b + 16, 2);
	fix_header_crc(b);
}

static void m_arch(uint8_t *b, size_t *len)
{
	memcpy(b + 8, "x86_64\0\0", 8);
	fix_header_crc(b);
}

static void m_arch_junk(uint8_t *b, size_t *len)
{
	memcpy(b + 8, "aarch64x", 8);
	fix_header_crc(b);
}

static void m_header_crc(uint8_t *b, size_t *len)
{
	b[33] ^= 1;
}

static void m_reserved(uint8_t *b, size_t *len)
{
	b[44] = 1;
	fix_header_crc(b);
}

static void m_header_size(uint8_t *b, size_t *len)
{
	snap_le32(b + 20, 65);
	fix_header_crc(b);
}

static void m_table_crc(uint8_t *b, size_t *len)
{
	entry(b, 2)[8] ^= 1;
}

static void m_payload(uint8_t *b, size_t *len)
{
	b[snap_ld64(entry(b, 2) + 16)] ^= 0x20;
}

static void m_payload_crc(uint8_t *b, size_t *len)
{
	entry(b, 1)[12] ^= 1;
	fix_table_crc(b);
}

static void m_unknown(uint8_t *b, size_t *len)
{
	snap_le32(entry(b, 5), 99);
	fix_table_crc(b);
}

static void m_instance(uint8_t *b, size_t *len)
{
	snap_le32(entry(b, 3) + 4, 2);
	fix_table_crc(b);
}

static void m_version0(uint8_t *b, size_t *len)
{
	snap_le32(entry(b, 3) + 8, 0);
	fix_table_crc(b);
}

static void m_order(uint8_t *b, size_t *len)
{
	snap_le32(entry(b, 2) + 4, 0);
	snap_le32(entry(b, 1) + 4, 1);
	fix_table_crc(b);
}

static void m_dup(uint8_t *b, size_t *len)
{
	snap_le32(entry(b, 2) + 4, 0);
	fix_table_crc(b);
}

static void m_overlap(uint8_t *b, size_t *len)
{
	uint8_t *e = entry(b, 2);

	snap_le64(e + 16, snap_ld64(entry(b, 1) + 16) + 8);
	fix_table_crc(b);
}

static void m_overlap_table(uint8_t *b, size_t *len)
{
	snap_le64(entry(b, 0) + 16, 64);
	fix_table_crc(b);
}

static void m_gap(uint8_t *b, size_t *len)
{
	uint8_t *e = entry(b, 3);

	snap_le64(e + 16, snap_ld64(e + 16) + 8);
	fix_table_crc(b);
}

static void m_past_end(uint8_t *b, size_t *len)
{
	snap_le64(entry(b, 5) + 24, 1ull << 62);
	fix_table_crc(b);
}

static void m_padding(uint8_t *b, size_t *len)
{
	/* vcpu1 is 13 bytes long: 3 bytes of padding follow it. */
	uint8_t *e = entry(b, 2);

	b[snap_ld64(e + 16) + snap_ld64(e + 24)] = 0xff;
}

static void m_count(uint8_t *b, size_t *len)
{
	snap_le32(b + 24, 9000);
	fix_header_crc(b);
}

static void m_trailing(uint8_t *b, size_t *len)
{
	*len += 8;
}

static void m_trailing_declared(uint8_t *b, size_t *len)
{
	*len += 8;
	snap_le64(b + 32, *len);
	fix_header_crc(b);
}

static const struct corruption {
	const char *name;
	void (*mutate)(uint8_t *b, size_t *len);
	const char *msg;
} corruptions[] = {
    {"magic", m_magic, "state.bin: not a torpor state file (bad magic)"},
    {"version", m_version, "state.bin: version 2 is not supported (this build reads 1)"},
    {"arch", m_arch, "state.bin: snapshot is for x86_64, this host is aarch64"},
    {"arch junk", m_arch_junk, "state.bin: bad arch tag"},
    {"header crc", m_header_crc, "state.bin: bad header checksum"},
    {"reserved", m_reserved, "state.bin: bad header"},
    {"header size", m_header_size, "state.bin: bad header"},
    {"table crc", m_table_crc, "state.bin: bad section table checksum"},
    {"payload", m_payload, "state.bin: bad checksum in section vcpu1"},
    {"payload crc", m_payload_crc, "state.bin: bad checksum in section vcpu0"},
    {"unknown id", m_unknown, "state.bin: unknown section 99.0"},
    {"instance", m_instance, "state.bin: section gic.2 may only have instance 0"},
    {"version 0", m_version0, "state.bin: section gic has version 0"},
    {"order", m_order, "state.bin: section table out of order at vcpu0"},
    {"duplicate", m_dup, "state.bin: duplicate section vcpu0"},
    {"overlap", m_overlap, "state.bin: sections vcpu0 and vcpu1 overlap"},
    {"overlap table", m_overlap_table, "state.bin: section config overlaps the section table"},
    {"gap", m_gap, "state.bin: unexpected gap of 8 bytes before section gic"},
    {"past end", m_past_end, "state.bin: section uart (4611686018427387904 bytes at "},
    {"padding", m_padding, "state.bin: non-zero padding after section vcpu1"},
    {"count", m_count, "state.bin: 9000 sections do not fit the file"},
    {"trailing", m_trailing, "(trailing bytes)"},
    {"trailing declared", m_trailing_declared, "but its last section ends at"},
};

static void test_snap_state_corruptions_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(corruptions); i++) {
		const struct corruption *c = &corruptions[i];
		struct snap_state s;
		size_t len;
		uint8_t *buf = sample_bytes(&len), *big = calloc(1, len + 64);
		int rc;

		memcpy(big, buf, len);
		c->mutate(big, &len);
		err[0] = '\0';
		rc = snap_state_parse(&s, big, len, ARCH, "state.bin", err, sizeof(err));
		if (rc != -EINVAL || !strstr(err, c->msg))
			print_message("%s: rc %d, \"%s\"\n", c->name, rc, err);
		assert_int_equal(rc, -EINVAL);
		assert_non_null(strstr(err, c->msg));
		assert_null(strchr(err, '\n'));
		assert_int_equal(s.nr, 0);
		assert_null(s.secs);
		free(buf);
		free(big);
	}
}

static void test_snap_state_truncated_everywhere(void **state)
{
	struct snap_state s;
	size_t len;
	uint8_t *buf = sample_bytes(&len);

	(void)state;
	for (size_t n = 0; n < len; n++) {
		uint8_t *cut = malloc(n ? n : 1);
		int rc;

		memcpy(cut, buf, n);
		rc = snap_state_parse(&s, cut, n, ARCH, "state.bin", err, sizeof(err));
		if (rc != -EINVAL || !strstr(err, "truncated"))
			print_message("%zu bytes: rc %d, \"%s\"\n", n, rc, err);
		assert_int_equal(rc, -EINVAL);
		assert_non_null(strstr(err, "truncated"));
		free(cut);
	}
	free(buf);
}

static void test_snap_state_oversized_refused(void **state)
{
	struct snap_state s;
	int fd;

	(void)state;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, SNAP_STATE_MAX + 1), 0); /* a hole: no disk used */
	close(fd);
	assert_int_equal(snap_state_load(&s, path, ARCH, err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "state.bin: too large (67108865 bytes, at most 64 MiB)"));
}

static void test_snap_state_load_errors(void **state)
{
	struct snap_state s;
	char missing[160];

	(void)state;
	snprintf(missing, sizeof(missing), "%s/missing.bin", dir);
	assert_int_equal(snap_state_load(&s, missing, ARCH, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "missing.bin: No such file or directory"));
	assert_int_equal(snap_state_load(&s, dir, ARCH, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
}

/* ---- Crash-safe writes ---- */

struct fault_at {
	int calls, fail_at;
	enum snap_step step; /* the step that failed */
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

static uint8_t *read_file(const char *p, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(p, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc(st.st_size + 1);
	assert_int_equal(read(fd, buf, st.st_size), st.st_size);
	close(fd);
	*len = st.st_size;
	return buf;
}

static void test_snap_state_write_failure_keeps_old(void **state)
{
	struct snap_writer old, w;
	uint8_t *before, *after;
	size_t blen, alen;
	int rc = -1;

	(void)state;
	assert_int_equal(snap_writer_init(&old, ARCH), 0);
	add(&old, SNAP_SEC_CONFIG, 0, "old");
	assert_int_equal(snap_writer_commit(&old, path, NULL, err, sizeof(err)), 0);
	snap_writer_free(&old);
	before = read_file(path, &blen);
	sample(&w);
	for (int at = 0; rc; at++) {
		struct fault_at f = {.fail_at = at};
		struct snap_fault hook = {.fn = fault_fn, .opaque = &f};

		rc = snap_writer_commit(&w, path, &hook, err, sizeof(err));
		assert_int_equal(count_tmp_files(), 0);
		after = read_file(path, &alen);
		if (rc == 0 || f.step == SNAP_STEP_FSYNC_DIR) {
			/* Renamed: the new file is whole. */
			struct snap_state s;

			assert_int_equal(
			    snap_state_parse(&s, after, alen, ARCH, "n", err, sizeof(err)), 0);
			check_sample(&s);
			snap_state_free(&s);
		} else {
			assert_int_equal(rc, -ENOSPC);
			assert_non_null(strstr(err, "No space left on device"));
			assert_int_equal(alen, blen);
			assert_memory_equal(after, before, blen);
		}
		free(after);
	}
	snap_writer_free(&w);
	free(before);
}

/* ---- snap_buf ---- */

static void test_snap_buf_roundtrip(void **state)
{
	struct snap_buf b, r;
	uint8_t raw[3] = {1, 2, 3}, got[3];
	char s[16];

	(void)state;
	snap_buf_init(&b);
	snap_put_u8(&b, 0xab);
	snap_put_u16(&b, 0xbeef);
	snap_put_u32(&b, 0xdeadbeef);
	snap_put_u64(&b, 0x0123456789abcdefull);
	snap_put_bytes(&b, raw, 3);
	snap_put_str(&b, "hello");
	snap_put_str(&b, NULL);
	assert_int_equal(snap_buf_error(&b), 0);
	assert_int_equal(b.len, 1 + 2 + 4 + 8 + 3 + 4 + 5 + 4);
	assert_int_equal(b.data[1], 0xef); /* little-endian */
	snap_buf_view(&r, b.data, b.len);
	assert_int_equal(snap_get_u8(&r), 0xab);
	assert_int_equal(snap_get_u16(&r), 0xbeef);
	assert_int_equal(snap_get_u32(&r), 0xdeadbeef);
	assert_true(snap_get_u64(&r) == 0x0123456789abcdefull);
	snap_get_bytes(&r, got, 3);
	assert_memory_equal(got, raw, 3);
	snap_get_str(&r, s, sizeof(s));
	assert_string_equal(s, "hello");
	snap_get_str(&r, s, sizeof(s));
	assert_string_equal(s, "");
	assert_int_equal(snap_buf_done(&r), 0);
	snap_buf_free(&b);
}

static void test_snap_buf_bounds(void **state)
{
	const uint8_t short_buf[3] = {1, 2, 3};
	const uint8_t long_str[] = {6, 0, 0, 0, 'a', 'b', 'c', 'd', 'e', 'f'};
	const uint8_t nul_str[] = {2, 0, 0, 0, 'a', 0};
	struct snap_buf r;
	char s[4] = "xyz";

	(void)state;
	snap_buf_view(&r, short_buf, sizeof(short_buf));
	assert_int_equal(snap_get_u32(&r), 0);
	assert_int_equal(snap_buf_error(&r), -EINVAL);
	assert_int_equal(snap_get_u8(&r), 0); /* sticky */
	assert_int_equal(snap_buf_done(&r), -EINVAL);

	snap_buf_view(&r, short_buf, sizeof(short_buf));
	assert_int_equal(snap_get_u16(&r), 0x0201);
	assert_int_equal(snap_buf_done(&r), -EINVAL); /* a byte left over */

	snap_buf_view(&r, long_str, sizeof(long_str));
	snap_get_str(&r, s, sizeof(s));
	assert_string_equal(s, "");
	assert_int_equal(snap_buf_error(&r), -EINVAL);

	snap_buf_view(&r, nul_str, sizeof(nul_str));
	snap_get_str(&r, s, sizeof(s));
	assert_string_equal(s, "");
	assert_int_equal(snap_buf_error(&r), -EINVAL);

	snap_buf_view(&r, NULL, 0);
	assert_int_equal(snap_buf_done(&r), 0);
}

static void test_snap_memory_roundtrip(void **state)
{
	struct snap_memory m = {.ram_base = 0x80000000, .ram_size = 256 << 20}, got;
	struct snap_section sec = {.id = SNAP_SEC_MEMORY, .version = SNAP_MEMORY_VERSION};
	struct snap_buf b;

	(void)state;
	memset(m.mem_id, 0x5a, sizeof(m.mem_id));
	snprintf(m.mem_file, sizeof(m.mem_file), "mem.diff");
	snap_buf_init(&b);
	assert_int_equal(snap_memory_encode(&m, &b), 0);
	sec.data = b.data;
	sec.len = b.len;
	assert_int_equal(snap_memory_decode(&got, &sec), 0);
	assert_true(got.ram_base == m.ram_base && got.ram_size == m.ram_size);
	assert_memory_equal(got.mem_id, m.mem_id, sizeof(m.mem_id));
	assert_string_equal(got.mem_file, "mem.diff");
	sec.version = 2;
	assert_int_equal(snap_memory_decode(&got, &sec), -EINVAL);
	sec.version = 1;
	sec.len--;
	assert_int_equal(snap_memory_decode(&got, &sec), -EINVAL);
	snap_buf_free(&b);
}

static void test_snap_section_labels(void **state)
{
	char l[48];

	(void)state;
	assert_string_equal(snap_section_label(SNAP_SEC_VCPU, 1, l, sizeof(l)), "vcpu1");
	assert_string_equal(snap_section_label(SNAP_SEC_CONFIG, 0, l, sizeof(l)), "config");
	assert_string_equal(snap_section_label(SNAP_SEC_VIRTIO_MMIO, 2, l, sizeof(l)),
			    "virtio-mmio2");
	assert_string_equal(snap_section_label(77, 3, l, sizeof(l)), "section 77.3");
	for (uint32_t id = 1; id < SNAP_SEC_NR; id++)
		assert_non_null(snap_section_name(id));
	assert_null(snap_section_name(0));
	assert_null(snap_section_name(SNAP_SEC_NR));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_snap_state_roundtrip_file, setup, teardown),
	    cmocka_unit_test(test_snap_state_roundtrip_empty),
	    cmocka_unit_test(test_snap_state_layout_is_documented),
	    cmocka_unit_test(test_snap_state_writer_refuses),
	    cmocka_unit_test(test_snap_state_corruptions_refused),
	    cmocka_unit_test(test_snap_state_truncated_everywhere),
	    cmocka_unit_test_setup_teardown(test_snap_state_oversized_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snap_state_load_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snap_state_write_failure_keeps_old, setup,
					    teardown),
	    cmocka_unit_test(test_snap_buf_roundtrip),
	    cmocka_unit_test(test_snap_buf_bounds),
	    cmocka_unit_test(test_snap_memory_roundtrip),
	    cmocka_unit_test(test_snap_section_labels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
