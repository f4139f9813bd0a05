/* The arm64 Image header and where kernel, initrd and device tree go in guest RAM. */
#ifndef TORPOR_AARCH64_IMAGE_H
#define TORPOR_AARCH64_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define ARM64_IMAGE_HDR_SIZE    64
#define ARM64_IMAGE_MAGIC       0x644d5241u /* "ARM\x64", little endian, at offset 56 */
#define ARM64_IMAGE_FLAG_BE     (1ull << 0)
/* text_offset of kernels older than v3.17 (image_size 0 in their header). */
#define ARM64_IMAGE_OLD_TEXT_OFFSET 0x80000ull
/* The initrd must sit in a 1 GiB aligned window of up to 32 GiB that covers the kernel. */
#define ARM64_INITRD_WINDOW_ALIGN   (1ull << 30)
#define ARM64_INITRD_WINDOW_SIZE    (32ull << 30)

struct arm64_image {
	uint64_t text_offset; /* load offset from a 2 MiB aligned base */
	uint64_t image_size;  /* bytes the kernel occupies from its load address, BSS included */
	uint64_t flags;       /* header flags (bit 0 is always 0 here: little endian) */
	uint64_t file_size;   /* bytes to copy from the file */
};

/*
 * Parse the 64-byte Image header at hdr (hdr_len bytes readable; file_size is
 * the size of the whole file) as Documentation/arm64/booting.rst describes.
 * An old header (image_size 0) gets text_offset 0x80000 and image_size =
 * file_size. Returns 0 and fills *out, or -EINVAL with a one-line reason in
 * err (errlen bytes; err may be NULL): truncated header, bad magic, big-endian
 * kernel, text_offset not 4 KiB aligned, image_size smaller than the file.
 */
int arm64_image_parse(const void *hdr, size_t hdr_len, uint64_t file_size, struct arm64_image *out,
		      char *err, size_t errlen);

struct boot_layout {
	uint64_t kernel_addr;              /* load address = entry point */
	uint64_t initrd_addr, initrd_size; /* both 0 when there is no initrd */
	uint64_t fdt_addr;                 /* start of a 2 MiB block reserved for the DTB */
};

/*
 * Place the kernel, initrd (initrd_size 0: none) and the device tree in the
 * guest RAM [ram_base, ram_base + ram_size):
 *   - kernel at ram_base rounded up to 2 MiB, plus text_offset; it owns
 *     image_size bytes from there;
 *   - the DTB in the top 2 MiB aligned block of RAM (of the 32 GiB window
 *     above, when RAM is larger): 8-byte aligned, room for AARCH64_FDT_MAX
 *     bytes without crossing a 2 MiB boundary;
 *   - the initrd just below the DTB block, 4 KiB aligned, above the kernel's
 *     image_size.
 * Returns 0 and fills *out; -E2BIG when something does not fit in RAM;
 * -EINVAL for an empty or wrapping RAM range or header values that overflow
 * the address space. The reason goes in err as one line.
 */
int aarch64_boot_layout(uint64_t ram_base, uint64_t ram_size, const struct arm64_image *img,
			uint64_t initrd_size, struct boot_layout *out, char *err, size_t errlen);

#endif
