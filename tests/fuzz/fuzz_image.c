/* libFuzzer target for vmm/arch/aarch64/image.c: the arm64 Image header and the boot layout. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/aarch64/image.h"
#include "arch/aarch64/layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input: one control byte, four little-endian u64 parameters, then the
 * kernel file's first bytes (what boot.c pread()s: up to 64 are used by the
 * VMM, all of them here). Short inputs read zeros.
 *   p0 RAM size, p1 initrd size, p2 file size, p3 RAM base
 *   ctl bit 0  RAM size   0: p0 as is          1: (p0 & 0xfffff) MiB
 *   ctl bit 1  initrd     0: p1 as is          1: (p1 & 0xfffff) KiB
 *   ctl bit 2  file size  0: the header's length + (p2 & 0xffffff)   1: p2 as is
 *   ctl bit 3  RAM base   0: AARCH64_RAM_BASE  1: p3 as is
 *   ctl bit 4  also lay out a struct arm64_image made of p0..p3 directly,
 *              whether or not the header parses
 * Every layout that succeeds must keep the promises in image.h.
 */
#define HDR_BYTES (1 + 4 * 8)

#define SZ_2M  (2ull << 20)
#define SZ_1G  (1ull << 30)
#define SZ_32G (32ull << 30)

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_image: %s:%d: check failed: %s\n", __FILE__,         \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static uint64_t get_u64(const uint8_t *data, size_t size, size_t off)
{
	uint8_t b[8] = {0};

	if (off < size)
		memcpy(b, data + off, size - off < 8 ? size - off : 8);
	return (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 24 |
	       (uint64_t)b[4] << 32 | (uint64_t)b[5] << 40 | (uint64_t)b[6] << 48 |
	       (uint64_t)b[7] << 56;
}

static void check_err(int rc, const char *err)
{
	CHECK(err[0] && memchr(err, '\0', 256) && !strchr(err, '\n'));
	CHECK(rc == -EINVAL || rc == -E2BIG);
}

static void check_image(const struct arm64_image *img, uint64_t file_size)
{
	CHECK(img->file_size == file_size);
	CHECK(img->text_offset % 4096 == 0);
	CHECK(img->image_size >= img->file_size);
	CHECK(!(img->flags & ARM64_IMAGE_FLAG_BE));
}

static void dump(uint64_t ram_base, uint64_t ram_size, const struct arm64_image *img,
		 uint64_t initrd_size, const struct boot_layout *l)
{
	fprintf(stderr,
		"fuzz_image: ram 0x%llx+0x%llx text_offset 0x%llx image_size 0x%llx "
		"file_size 0x%llx initrd_size 0x%llx -> kernel 0x%llx initrd 0x%llx+0x%llx "
		"fdt 0x%llx\n",
		(unsigned long long)ram_base, (unsigned long long)ram_size,
		(unsigned long long)img->text_offset, (unsigned long long)img->image_size,
		(unsigned long long)img->file_size, (unsigned long long)initrd_size,
		(unsigned long long)l->kernel_addr, (unsigned long long)l->initrd_addr,
		(unsigned long long)l->initrd_size, (unsigned long long)l->fdt_addr);
}

/* The placement rules of image.h and Documentation/arm64/booting.rst. */
#define LCHECK(cond)                                                                               \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			dump(ram_base, ram_size, img, initrd_size, l);                             \
			CHECK(cond);                                                               \
		}                                                                                  \
	} while (0)

static void check_layout(uint64_t ram_base, uint64_t ram_size, const struct arm64_image *img,
			 uint64_t initrd_size, const struct boot_layout *l)
{
	uint64_t ram_end = ram_base + ram_size; /* no wrap: the layout refuses that */
	uint64_t kbase = (ram_base + SZ_2M - 1) & ~(SZ_2M - 1);
	uint64_t kend = l->kernel_addr + img->image_size;
	uint64_t win = kbase & ~(SZ_1G - 1);

	LCHECK(ram_size && ram_end > ram_base);
	LCHECK(kbase >= ram_base);
	LCHECK(l->kernel_addr == kbase + img->text_offset);
	LCHECK(kend >= l->kernel_addr);
	LCHECK(l->fdt_addr % AARCH64_FDT_MAX == 0);
	LCHECK(l->fdt_addr >= kend);
	LCHECK(l->fdt_addr + AARCH64_FDT_MAX > l->fdt_addr);
	LCHECK(l->fdt_addr + AARCH64_FDT_MAX <= ram_end);
	/* The 1 GiB aligned window of up to 32 GiB covers kernel, initrd and DTB. */
	LCHECK(win <= l->kernel_addr);
	LCHECK(l->fdt_addr - win < SZ_32G);
	if (!initrd_size) {
		LCHECK(!l->initrd_addr && !l->initrd_size);
		return;
	}
	LCHECK(l->initrd_size == initrd_size);
	LCHECK(l->initrd_addr % AARCH64_INITRD_ALIGN == 0);
	LCHECK(l->initrd_addr >= kend);
	LCHECK(l->initrd_addr + initrd_size > l->initrd_addr);
	LCHECK(l->initrd_addr + initrd_size <= l->fdt_addr);
}

static void layout(uint64_t ram_base, uint64_t ram_size, const struct arm64_image *img,
		   uint64_t initrd_size)
{
	struct boot_layout l;
	char err[256] = "";
	int rc;

	rc = aarch64_boot_layout(ram_base, ram_size, img, initrd_size, &l, err, sizeof(err));
	if (rc < 0) {
		check_err(rc, err);
		return;
	}
	CHECK(rc == 0);
	check_layout(ram_base, ram_size, img, initrd_size, &l);
	/* err is optional, and a short one is cut, never overrun. */
	CHECK(aarch64_boot_layout(ram_base, ram_size, img, initrd_size, &l, NULL, 0) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t ctl = size ? data[0] : 0;
	uint64_t p0 = get_u64(data, size, 1), p1 = get_u64(data, size, 9);
	uint64_t p2 = get_u64(data, size, 17), p3 = get_u64(data, size, 25);
	uint64_t ram_size = ctl & 1 ? (p0 & 0xfffff) << 20 : p0;
	uint64_t initrd_size = ctl & 2 ? (p1 & 0xfffff) << 10 : p1;
	uint64_t ram_base = ctl & 8 ? p3 : AARCH64_RAM_BASE;
	size_t hdr_len = size > HDR_BYTES ? size - HDR_BYTES : 0;
	uint64_t file_size = ctl & 4 ? p2 : hdr_len + (p2 & 0xffffff);
	struct arm64_image img;
	char err[256] = "", tiny[4] = "";
	uint8_t *hdr;
	int rc;

	/* The header in its own exact-size allocation, so ASan sees any over-read. */
	hdr = malloc(hdr_len ? hdr_len : 1);
	CHECK(hdr);
	if (hdr_len)
		memcpy(hdr, data + HDR_BYTES, hdr_len);

	rc = arm64_image_parse(hdr_len ? hdr : NULL, hdr_len, file_size, &img, err, sizeof(err));
	CHECK(arm64_image_parse(hdr_len ? hdr : NULL, hdr_len, file_size, &img, NULL, 0) == rc);
	CHECK(arm64_image_parse(hdr_len ? hdr : NULL, hdr_len, file_size, &img, tiny,
				sizeof(tiny)) == rc);
	CHECK(memchr(tiny, '\0', sizeof(tiny)) || rc == 0);
	if (rc < 0) {
		check_err(rc, err);
		CHECK(rc == -EINVAL);
	} else {
		CHECK(rc == 0);
		check_image(&img, file_size);
		layout(ram_base, ram_size, &img, initrd_size);
	}

	if (ctl & 16) {
		struct arm64_image raw = {
		    .text_offset = p2, .image_size = p0, .flags = 0, .file_size = p3};

		layout(p3, p1, &raw, p0 >> 32);
		layout(ram_base, ram_size, &raw, initrd_size);
	}
	free(hdr);
	return 0;
}
