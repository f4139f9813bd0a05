/* arm64 Image header parsing and boot placement (Documentation/arm64/booting.rst). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "arch/aarch64/image.h"
#include "arch/aarch64/layout.h"

#define SZ_KIB (1ull << 10)
#define SZ_MIB (1ull << 20)

/* Header field offsets. */
#define HDR_TEXT_OFFSET 8
#define HDR_IMAGE_SIZE  16
#define HDR_FLAGS       24
#define HDR_MAGIC       56

#define TEXT_OFFSET_ALIGN 0x1000ull

__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static uint64_t get_le(const uint8_t *p, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = bytes; i--;)
		v = (v << 8) | p[i];
	return v;
}

static bool add_ovf(uint64_t a, uint64_t b, uint64_t *sum)
{
	return __builtin_add_overflow(a, b, sum);
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	uint64_t s;

	return add_ovf(a, b, &s) ? UINT64_MAX : s;
}

static uint64_t align_down(uint64_t v, uint64_t a)
{
	return v & ~(a - 1);
}

/* v rounded up to a, saturating at the highest multiple of a. */
static uint64_t align_up_sat(uint64_t v, uint64_t a)
{
	uint64_t s;

	if (add_ovf(v, a - 1, &s))
		return align_down(UINT64_MAX, a);
	return align_down(s, a);
}

/* A size for messages: KiB below 1 MiB, else MiB; rounded up or down. */
static const char *fmt_size(char *buf, size_t len, uint64_t bytes, bool round_up)
{
	uint64_t unit = bytes < SZ_MIB ? SZ_KIB : SZ_MIB;
	uint64_t n = bytes / unit + (round_up && bytes % unit ? 1 : 0);

	snprintf(buf, len, "%llu %s", (unsigned long long)n, unit == SZ_KIB ? "KiB" : "MiB");
	return buf;
}

int arm64_image_parse(const void *hdr, size_t hdr_len, uint64_t file_size, struct arm64_image *out,
		      char *err, size_t errlen)
{
	const uint8_t *h = hdr;
	struct arm64_image img;

	memset(out, 0, sizeof(*out));
	if (!hdr || hdr_len < ARM64_IMAGE_HDR_SIZE || file_size < ARM64_IMAGE_HDR_SIZE)
		return fail(err, errlen, -EINVAL, "kernel: truncated header (%llu bytes)",
			    (unsigned long long)(hdr && hdr_len < file_size ? hdr_len : file_size));
	if (get_le(h + HDR_MAGIC, 4) != ARM64_IMAGE_MAGIC)
		return fail(err, errlen, -EINVAL, "kernel: not an arm64 Image (bad magic)");

	img.text_offset = get_le(h + HDR_TEXT_OFFSET, 8);
	img.image_size = get_le(h + HDR_IMAGE_SIZE, 8);
	img.flags = get_le(h + HDR_FLAGS, 8);
	img.file_size = file_size;
	if (img.flags & ARM64_IMAGE_FLAG_BE)
		return fail(err, errlen, -EINVAL,
			    "kernel: big-endian Image, the guest must be little-endian");
	if (img.image_size == 0) {
		/* Before v3.17: text_offset in kernel endianness, always 0x80000. */
		img.text_offset = ARM64_IMAGE_OLD_TEXT_OFFSET;
		img.image_size = file_size;
	}
	if (img.text_offset % TEXT_OFFSET_ALIGN)
		return fail(err, errlen, -EINVAL, "kernel: text_offset 0x%llx is not 4 KiB aligned",
			    (unsigned long long)img.text_offset);
	if (img.image_size < file_size)
		return fail(err, errlen, -EINVAL,
			    "kernel: image_size %llu is smaller than the file (%llu bytes)",
			    (unsigned long long)img.image_size, (unsigned long long)file_size);
	*out = img;
	return 0;
}

/* Refuse a kernel that leaves no whole 2 MiB block for the DTB below top. */
static int kernel_too_big(uint64_t ram_base, uint64_t ram_size, uint64_t kend, bool windowed,
			  char *err, size_t errlen)
{
	uint64_t need = sat_add(align_up_sat(kend, AARCH64_FDT_MAX), AARCH64_FDT_MAX) - ram_base;
	char a[32], b[32];

	fmt_size(a, sizeof(a), need, true);
	if (windowed)
		return fail(err, errlen, -E2BIG,
			    "kernel needs %s, more than the 32 GiB boot window above its base", a);
	return fail(err, errlen, -E2BIG, "kernel needs %s but guest RAM is %s", a,
		    fmt_size(b, sizeof(b), ram_size, false));
}

static int initrd_too_big(uint64_t ram_size, uint64_t initrd_size, bool windowed, char *err,
			  size_t errlen)
{
	char a[32], b[32];

	fmt_size(a, sizeof(a), initrd_size, true);
	if (windowed)
		return fail(err, errlen, -E2BIG,
			    "initrd (%s) does not fit beside the kernel in the 32 GiB boot window",
			    a);
	return fail(err, errlen, -E2BIG,
		    "initrd (%s) does not fit in guest RAM (%s) beside the kernel", a,
		    fmt_size(b, sizeof(b), ram_size, false));
}

int aarch64_boot_layout(uint64_t ram_base, uint64_t ram_size, const struct arm64_image *img,
			uint64_t initrd_size, struct boot_layout *out, char *err, size_t errlen)
{
	uint64_t ram_end, kbase, kaddr, kend, win_end, top, fdt, lo;
	bool windowed;

	memset(out, 0, sizeof(*out));
	if (!ram_size || add_ovf(ram_base, ram_size, &ram_end))
		return fail(err, errlen, -EINVAL,
			    "guest RAM at 0x%llx of 0x%llx bytes wraps or is empty",
			    (unsigned long long)ram_base, (unsigned long long)ram_size);
	if (img->image_size < img->file_size)
		return fail(err, errlen, -EINVAL, "kernel: image_size is smaller than the file");
	kbase = align_up_sat(ram_base, AARCH64_KERNEL_ALIGN);
	if (kbase < ram_base || add_ovf(kbase, img->text_offset, &kaddr) ||
	    add_ovf(kaddr, img->image_size, &kend))
		return fail(err, errlen, -EINVAL,
			    "kernel: text_offset 0x%llx + image_size 0x%llx overflows",
			    (unsigned long long)img->text_offset,
			    (unsigned long long)img->image_size);

	/* The initrd must share a 1 GiB aligned, 32 GiB window with the kernel. */
	win_end = sat_add(align_down(kbase, ARM64_INITRD_WINDOW_ALIGN), ARM64_INITRD_WINDOW_SIZE);
	windowed = ram_end > win_end;
	top = windowed ? win_end : ram_end;

	/* The DTB owns the highest whole 2 MiB block below top. */
	fdt = align_down(top, AARCH64_FDT_MAX);
	if (fdt < AARCH64_FDT_MAX || fdt - AARCH64_FDT_MAX < kend)
		return kernel_too_big(ram_base, ram_size, kend, windowed, err, errlen);
	fdt -= AARCH64_FDT_MAX;

	lo = align_up_sat(kend, AARCH64_INITRD_ALIGN);
	if (initrd_size && (lo > fdt || fdt - lo < initrd_size))
		return initrd_too_big(ram_size, initrd_size, windowed, err, errlen);

	out->kernel_addr = kaddr;
	out->fdt_addr = fdt;
	if (initrd_size) {
		out->initrd_addr = align_down(fdt - initrd_size, AARCH64_INITRD_ALIGN);
		out->initrd_size = initrd_size;
	}
	return 0;
}
