/* Unit tests: arm64 Image header parsing and kernel/initrd/FDT placement. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "arch/aarch64/image.h"
#include "arch/aarch64/layout.h"

#define MIB (1ull << 20)
#define GIB (1ull << 30)

static void put_le(uint8_t *p, uint64_t v, unsigned int bytes)
{
	for (unsigned int i = 0; i < bytes; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static void make_hdr(uint8_t *h, uint32_t magic, uint64_t text_offset, uint64_t image_size,
		     uint64_t flags)
{
	memset(h, 0xa5, ARM64_IMAGE_HDR_SIZE); /* code0/code1, reserved: never read */
	put_le(h + 8, text_offset, 8);
	put_le(h + 16, image_size, 8);
	put_le(h + 24, flags, 8);
	put_le(h + 56, magic, 4);
}

/* ---- arm64_image_parse ---- */

struct parse_case {
	const char *name;
	uint32_t magic;
	uint64_t text_offset, image_size, flags;
	size_t hdr_len;
	uint64_t file_size;
	int rc;
	const char *err; /* expected message (exact) or NULL */
	uint64_t want_text_offset, want_image_size;
};

#define OK_MAGIC ARM64_IMAGE_MAGIC

static const struct parse_case parse_cases[] = {
	{ "valid", OK_MAGIC, 0, 20 * MIB, 0xa, 64, 15 * MIB, 0, NULL, 0, 20 * MIB },
	{ "valid_text_offset_80000", OK_MAGIC, 0x80000, 20 * MIB, 0x2, 64, 15 * MIB, 0, NULL,
	  0x80000, 20 * MIB },
	{ "image_size_equals_file", OK_MAGIC, 0, 15 * MIB, 0, 64, 15 * MIB, 0, NULL, 0, 15 * MIB },
	{ "bad_magic", 0x12345678, 0, 20 * MIB, 0, 64, 15 * MIB, -EINVAL,
	  "kernel: not an arm64 Image (bad magic)" },
	{ "zero_magic", 0, 0, 20 * MIB, 0, 64, 15 * MIB, -EINVAL,
	  "kernel: not an arm64 Image (bad magic)" },
	{ "truncated_header", OK_MAGIC, 0, 20 * MIB, 0, 40, 15 * MIB, -EINVAL,
	  "kernel: truncated header (40 bytes)" },
	{ "no_header", OK_MAGIC, 0, 20 * MIB, 0, 0, 15 * MIB, -EINVAL,
	  "kernel: truncated header (0 bytes)" },
	{ "truncated_file", OK_MAGIC, 0, 20 * MIB, 0, 64, 32, -EINVAL,
	  "kernel: truncated header (32 bytes)" },
	{ "empty_file", OK_MAGIC, 0, 20 * MIB, 0, 64, 0, -EINVAL,
	  "kernel: truncated header (0 bytes)" },
	{ "big_endian", OK_MAGIC, 0, 20 * MIB, 0x1, 64, 15 * MIB, -EINVAL,
	  "kernel: big-endian Image, the guest must be little-endian" },
	{ "big_endian_other_flags", OK_MAGIC, 0, 20 * MIB, 0xf, 64, 15 * MIB, -EINVAL, NULL },
	{ "old_kernel", OK_MAGIC, 0x0000080000000000ull, 0, 0, 64, 9 * MIB, 0, NULL, 0x80000,
	  9 * MIB },
	{ "image_size_below_file", OK_MAGIC, 0, 1 * MIB, 0, 64, 2 * MIB, -EINVAL,
	  "kernel: image_size 1048576 is smaller than the file (2097152 bytes)" },
	{ "text_offset_unaligned", OK_MAGIC, 0x80001, 20 * MIB, 0, 64, 15 * MIB, -EINVAL,
	  "kernel: text_offset 0x80001 is not 4 KiB aligned" },
	/* Parsing takes huge values; placement refuses them. */
	{ "huge_values", OK_MAGIC, 0xfffffffffffff000ull, UINT64_MAX, 0, 64, 15 * MIB, 0, NULL,
	  0xfffffffffffff000ull, UINT64_MAX },
};

static void test_image_parse_table(void **state)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		uint8_t h[ARM64_IMAGE_HDR_SIZE];
		struct arm64_image img;
		char err[160] = "";
		int rc;

		make_hdr(h, c->magic, c->text_offset, c->image_size, c->flags);
		rc = arm64_image_parse(h, c->hdr_len, c->file_size, &img, err, sizeof(err));
		print_message("%-28s rc=%d %s\n", c->name, rc, err);
		assert_int_equal(rc, c->rc);
		if (rc) {
			assert_true(err[0] != '\0');
			assert_null(strchr(err, '\n'));
			if (c->err)
				assert_string_equal(err, c->err);
			continue;
		}
		assert_int_equal(img.text_offset, c->want_text_offset);
		assert_int_equal(img.image_size, c->want_image_size);
		assert_int_equal(img.file_size, c->file_size);
		assert_int_equal(img.flags & ARM64_IMAGE_FLAG_BE, 0);
	}
}

static void test_image_parse_null_err_buffer(void **state)
{
	uint8_t h[ARM64_IMAGE_HDR_SIZE];
	struct arm64_image img;
	char err[8];

	make_hdr(h, 0, 0, 0, 0);
	assert_int_equal(arm64_image_parse(h, sizeof(h), MIB, &img, NULL, 0), -EINVAL);
	assert_int_equal(arm64_image_parse(NULL, 0, MIB, &img, NULL, 0), -EINVAL);
	/* A short buffer truncates the message, still NUL-terminated. */
	assert_int_equal(arm64_image_parse(h, sizeof(h), MIB, &img, err, sizeof(err)), -EINVAL);
	assert_int_equal(strlen(err), sizeof(err) - 1);
}

/* ---- aarch64_boot_layout ---- */

static void check_layout(uint64_t ram_base, uint64_t ram_size, const struct arm64_image *img,
			 uint64_t initrd_size, const struct boot_layout *l)
{
	uint64_t ram_end = ram_base + ram_size;
	uint64_t kbase = (ram_base + AARCH64_KERNEL_ALIGN - 1) & ~(AARCH64_KERNEL_ALIGN - 1);
	uint64_t kend = l->kernel_addr + img->image_size;
	uint64_t win_lo = kbase & ~(ARM64_INITRD_WINDOW_ALIGN - 1);
	uint64_t win_end = win_lo > UINT64_MAX - ARM64_INITRD_WINDOW_SIZE ?
				   UINT64_MAX : win_lo + ARM64_INITRD_WINDOW_SIZE;
	uint64_t top = ram_end < win_end ? ram_end : win_end;

	/* Kernel: 2 MiB aligned base (the lowest in RAM) + text_offset. */
	assert_int_equal(l->kernel_addr, kbase + img->text_offset);
	assert_int_equal((l->kernel_addr - img->text_offset) % AARCH64_KERNEL_ALIGN, 0);
	assert_true(kbase >= ram_base && kbase - ram_base < AARCH64_KERNEL_ALIGN);

	/* FDT: a whole 2 MiB block, the top one of RAM (or of the window), above the kernel. */
	assert_int_equal(l->fdt_addr % 8, 0);
	assert_int_equal(l->fdt_addr % AARCH64_FDT_MAX, 0);
	assert_true(l->fdt_addr >= kend);
	assert_true(l->fdt_addr + AARCH64_FDT_MAX <= top);
	assert_true(top - (l->fdt_addr + AARCH64_FDT_MAX) < AARCH64_FDT_MAX);
	if (ram_end <= win_end && ram_end % AARCH64_FDT_MAX == 0)
		assert_int_equal(l->fdt_addr, ram_end - AARCH64_FDT_MAX);

	if (!initrd_size) {
		assert_int_equal(l->initrd_addr, 0);
		assert_int_equal(l->initrd_size, 0);
		return;
	}
	/* Initrd: page aligned, just below the FDT, above the kernel, inside the window. */
	assert_int_equal(l->initrd_size, initrd_size);
	assert_int_equal(l->initrd_addr % AARCH64_INITRD_ALIGN, 0);
	assert_true(l->initrd_addr >= kend);
	assert_true(l->initrd_addr + initrd_size <= l->fdt_addr);
	assert_true(l->fdt_addr - (l->initrd_addr + initrd_size) < AARCH64_INITRD_ALIGN);
	assert_true(l->initrd_addr >= win_lo && l->initrd_addr + initrd_size <= win_end);
}

struct layout_case {
	const char *name;
	uint64_t ram_base, ram_size;
	uint64_t text_offset, image_size, file_size;
	uint64_t initrd_size;
	int rc;
	const char *err; /* expected message (exact) or NULL */
	uint64_t want_kernel, want_fdt, want_initrd; /* 0: not checked */
};

#define RB AARCH64_RAM_BASE

static const struct layout_case layout_cases[] = {
	{ "default_no_initrd", RB, 2 * GIB, 0, 20 * MIB, 15 * MIB, 0, 0, NULL, RB,
	  RB + 2 * GIB - 2 * MIB },
	{ "default_initrd", RB, 2 * GIB, 0, 20 * MIB, 15 * MIB, 64 * MIB, 0, NULL, RB,
	  RB + 2 * GIB - 2 * MIB, RB + 2 * GIB - 66 * MIB },
	{ "initrd_odd_size", RB, 2 * GIB, 0, 20 * MIB, 15 * MIB, 12345, 0, NULL, RB,
	  RB + 2 * GIB - 2 * MIB, RB + 2 * GIB - 2 * MIB - 0x4000 },
	{ "old_kernel_text_offset", RB, 512 * MIB, 0x80000, 9 * MIB, 9 * MIB, 4 * MIB, 0, NULL,
	  RB + 0x80000, RB + 510 * MIB },
	{ "kernel_bigger_than_ram", RB, 16 * MIB, 0, 32 * MIB, 30 * MIB, 0, -E2BIG,
	  "kernel needs 34 MiB but guest RAM is 16 MiB" },
	{ "kernel_fills_ram_but_fdt", RB, 34 * MIB, 0, 32 * MIB, 30 * MIB, 0, 0, NULL, RB,
	  RB + 32 * MIB },
	{ "no_room_for_fdt", RB, 33 * MIB, 0, 32 * MIB, 30 * MIB, 0, -E2BIG,
	  "kernel needs 34 MiB but guest RAM is 33 MiB" },
	{ "tiny_ram", RB, 4096, 0, 1 * MIB, 1 * MIB, 0, -E2BIG,
	  "kernel needs 4 MiB but guest RAM is 4 KiB" },
	{ "initrd_does_not_fit", RB, 64 * MIB, 0, 20 * MIB, 15 * MIB, 60 * MIB, -E2BIG,
	  "initrd (60 MiB) does not fit in guest RAM (64 MiB) beside the kernel" },
	{ "initrd_fits_exactly", RB, 64 * MIB, 0, 20 * MIB, 15 * MIB, 42 * MIB, 0, NULL, RB,
	  RB + 62 * MIB, RB + 20 * MIB },
	{ "initrd_one_byte_too_big", RB, 64 * MIB, 0, 20 * MIB, 15 * MIB, 42 * MIB + 1, -E2BIG,
	  NULL },
	{ "initrd_huge", RB, 2 * GIB, 0, 20 * MIB, 15 * MIB, UINT64_MAX, -E2BIG, NULL },
	{ "initrd_no_room_at_all", RB, 22 * MIB, 0, 20 * MIB, 15 * MIB, 1, -E2BIG,
	  "initrd (1 KiB) does not fit in guest RAM (22 MiB) beside the kernel" },
	{ "text_offset_overflow", RB, 2 * GIB, 0xfffffffffffff000ull, 1 * MIB, 1 * MIB, 0,
	  -EINVAL, NULL },
	{ "image_size_overflow", RB, 2 * GIB, 0, UINT64_MAX, 1 * MIB, 0, -EINVAL, NULL },
	{ "image_size_huge", RB, 2 * GIB, 0, 1ull << 62, 1 * MIB, 0, -E2BIG, NULL },
	{ "text_offset_beyond_ram", RB, 2 * GIB, 4 * GIB, 1 * MIB, 1 * MIB, 0, -E2BIG, NULL },
	{ "image_below_file", RB, 2 * GIB, 0, 1 * MIB, 2 * MIB, 0, -EINVAL, NULL },
	{ "ram_wraps", 0xffffffff80000000ull, 4 * GIB, 0, 1 * MIB, 1 * MIB, 0, -EINVAL, NULL },
	{ "ram_ends_at_top", 0xffffffff00000000ull, 4 * GIB, 0, 1 * MIB, 1 * MIB, 0, -EINVAL,
	  NULL },
	{ "ram_empty", RB, 0, 0, 1 * MIB, 1 * MIB, 0, -EINVAL, NULL },
	{ "ram_base_unaligned", RB + MIB, 2 * GIB, 0, 20 * MIB, 15 * MIB, 8 * MIB, 0, NULL,
	  RB + 2 * MIB, RB + 2 * GIB - 2 * MIB },
	{ "ram_size_not_2mib_multiple", RB, 2 * GIB + MIB, 0, 20 * MIB, 15 * MIB, 8 * MIB, 0,
	  NULL, RB, RB + 2 * GIB - 2 * MIB },
	{ "ram_at_zero", 0, 1 * GIB, 0, 20 * MIB, 15 * MIB, 8 * MIB, 0, NULL, 0,
	  1 * GIB - 2 * MIB },
	/* Above 32 GiB, initrd and FDT stay in the window that covers the kernel. */
	{ "ram_64g_window", RB, 64 * GIB, 0, 20 * MIB, 15 * MIB, 64 * MIB, 0, NULL, RB,
	  RB + 32 * GIB - 2 * MIB, RB + 32 * GIB - 66 * MIB },
	{ "initrd_beyond_window", RB, 64 * GIB, 0, 20 * MIB, 15 * MIB, 33 * GIB, -E2BIG,
	  "initrd (33792 MiB) does not fit beside the kernel in the 32 GiB boot window" },
	{ "ram_max", RB, AARCH64_RAM_MAX, 0, 40 * MIB, 30 * MIB, 512 * MIB, 0, NULL, RB,
	  RB + 32 * GIB - 2 * MIB },
};

static void test_image_layout_table(void **state)
{
	for (size_t i = 0; i < sizeof(layout_cases) / sizeof(layout_cases[0]); i++) {
		const struct layout_case *c = &layout_cases[i];
		struct arm64_image img = {
			.text_offset = c->text_offset,
			.image_size = c->image_size,
			.file_size = c->file_size,
		};
		struct boot_layout l, zero = { 0 };
		char err[160] = "";
		int rc;

		memset(&l, 0x5a, sizeof(l));
		rc = aarch64_boot_layout(c->ram_base, c->ram_size, &img, c->initrd_size, &l, err,
					 sizeof(err));
		print_message("%-28s rc=%d %s\n", c->name, rc, err);
		assert_int_equal(rc, c->rc);
		if (rc) {
			assert_true(err[0] != '\0');
			assert_null(strchr(err, '\n'));
			assert_memory_equal(&l, &zero, sizeof(l));
			if (c->err)
				assert_string_equal(err, c->err);
			continue;
		}
		check_layout(c->ram_base, c->ram_size, &img, c->initrd_size, &l);
		assert_int_equal(l.kernel_addr, c->want_kernel);
		assert_int_equal(l.fdt_addr, c->want_fdt);
		if (c->want_initrd)
			assert_int_equal(l.initrd_addr, c->want_initrd);
	}
}

/* A parsed header flows into a layout that matches it. */
static void test_image_parse_then_layout(void **state)
{
	uint8_t h[ARM64_IMAGE_HDR_SIZE];
	struct arm64_image img;
	struct boot_layout l;
	char err[160];

	make_hdr(h, ARM64_IMAGE_MAGIC, 0, 0, 0); /* old kernel: 0x80000, file size */
	assert_int_equal(arm64_image_parse(h, sizeof(h), 7 * MIB, &img, err, sizeof(err)), 0);
	assert_int_equal(aarch64_boot_layout(RB, 256 * MIB, &img, 3 * MIB, &l, err, sizeof(err)),
			 0);
	assert_int_equal(l.kernel_addr, RB + 0x80000);
	check_layout(RB, 256 * MIB, &img, 3 * MIB, &l);
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* Values around powers of two, and plain random ones. */
static uint64_t rnd_value(void)
{
	uint64_t v = 1ull << (rnd() % 64);

	switch (rnd() % 4) {
	case 0:
		return v;
	case 1:
		return v - 1;
	case 2:
		return v + (rnd() % 4096);
	default:
		return rnd() >> (rnd() % 64);
	}
}

/* Every input either fails cleanly or yields a layout that keeps every invariant. */
static void test_image_layout_random_inputs(void **state)
{
	unsigned int ok = 0;

	for (int i = 0; i < 200000; i++) {
		uint64_t ram_base = i % 2 ? RB : rnd_value();
		uint64_t ram_size = rnd_value(), initrd = i % 3 ? rnd_value() : 0;
		struct arm64_image img = {
			.text_offset = (i % 5 ? rnd_value() % (2 * MIB) : rnd_value()) & ~0xfffull,
			.image_size = rnd_value(),
		};
		struct boot_layout l;
		char err[160] = "";
		int rc;

		img.file_size = img.image_size ? img.image_size - rnd() % img.image_size : 0;
		rc = aarch64_boot_layout(ram_base, ram_size, &img, initrd, &l, err, sizeof(err));
		if (rc) {
			assert_true(rc == -EINVAL || rc == -E2BIG);
			assert_true(err[0] != '\0');
			continue;
		}
		assert_false(ram_base + ram_size < ram_base);
		check_layout(ram_base, ram_size, &img, initrd, &l);
		ok++;
	}
	print_message("%u of 200000 random layouts succeeded\n", ok);
	assert_true(ok > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_image_parse_table),
		cmocka_unit_test(test_image_parse_null_err_buffer),
		cmocka_unit_test(test_image_layout_table),
		cmocka_unit_test(test_image_parse_then_layout),
		cmocka_unit_test(test_image_layout_random_inputs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
