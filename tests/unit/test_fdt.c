/* Unit tests: the guest device tree, built then read back with libfdt. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libfdt.h>

#include "arch/aarch64/fdt.h"
#include "arch/aarch64/layout.h"

#define MIB (1ull << 20)
#define GIB (1ull << 30)

#define INITRD_START (AARCH64_RAM_BASE + 2 * GIB - 66 * MIB)
#define INITRD_SIZE  (64 * MIB - 12345)
#define BOOTARGS     "console=ttyS0 earlycon panic=-1 quiet"
#define SEED_LEN     64

static uint64_t buf_words[65536 / 8]; /* 8-byte aligned */
static void *const fdt = buf_words;

static uint64_t mpidr[AARCH64_GICR_MAX_VCPUS + 1];
static uint8_t seed[SEED_LEN];
static struct fdt_virtio_dev virtio[AARCH64_VIRTIO_MAX + 1];

/* KVM's default MPIDR for vCPU i: Aff0 = i % 16, Aff1 = i / 16, RES1 bit 31. */
static uint64_t kvm_mpidr(unsigned int i)
{
	return (1ull << 31) | ((uint64_t)(i / 16) << 8) | (i % 16);
}

static struct fdt_params params(unsigned int nr_cpus, bool initrd, unsigned int nr_virtio)
{
	struct fdt_params p = {
		.ram_base = AARCH64_RAM_BASE,
		.ram_size = 2 * GIB,
		.nr_cpus = nr_cpus,
		.mpidr = mpidr,
		.bootargs = BOOTARGS,
		.initrd_start = initrd ? INITRD_START : 0,
		.initrd_size = initrd ? INITRD_SIZE : 0,
		.rng_seed = seed,
		.rng_seed_len = sizeof(seed),
		.nr_virtio = nr_virtio,
		.virtio = virtio,
	};

	for (unsigned int i = 0; i < sizeof(mpidr) / sizeof(mpidr[0]); i++)
		mpidr[i] = kvm_mpidr(i);
	for (unsigned int i = 0; i < sizeof(seed); i++)
		seed[i] = (uint8_t)(i * 7 + 3);
	for (unsigned int i = 0; i < sizeof(virtio) / sizeof(virtio[0]); i++)
		virtio[i] = (struct fdt_virtio_dev){
			.base = AARCH64_VIRTIO_BASE + i * AARCH64_VIRTIO_SIZE,
			.size = AARCH64_VIRTIO_SIZE,
			.spi = AARCH64_VIRTIO_SPI + i,
		};
	return p;
}

static void build(const struct fdt_params *p)
{
	memset(buf_words, 0xee, sizeof(buf_words));
	assert_int_equal(aarch64_fdt_build(p, fdt, sizeof(buf_words)), 0);
	assert_int_equal(fdt_check_header(fdt), 0);
	assert_true(fdt_totalsize(fdt) <= sizeof(buf_words));
}

static int node(const char *path)
{
	int off = fdt_path_offset(fdt, path);

	if (off < 0)
		fail_msg("node %s: %s", path, fdt_strerror(off));
	return off;
}

static const void *getprop(const char *path, const char *name, int *len)
{
	const void *v = fdt_getprop(fdt, node(path), name, len);

	if (!v)
		fail_msg("%s:%s missing", path, name);
	return v;
}

static bool hasprop(const char *path, const char *name)
{
	return fdt_getprop(fdt, node(path), name, NULL) != NULL;
}

static uint32_t get_u32(const char *path, const char *name)
{
	int len;
	const fdt32_t *v = getprop(path, name, &len);

	assert_int_equal(len, 4);
	return fdt32_to_cpu(*v);
}

static uint64_t get_u64(const char *path, const char *name)
{
	int len;
	const void *v = getprop(path, name, &len);
	fdt64_t x;

	assert_int_equal(len, 8);
	memcpy(&x, v, sizeof(x));
	return fdt64_to_cpu(x);
}

/* A property of 32-bit cells, compared with want[0..n). */
static void assert_cells(const char *path, const char *name, const uint32_t *want, int n)
{
	int len;
	const fdt32_t *v = getprop(path, name, &len);

	assert_int_equal(len, 4 * n);
	for (int i = 0; i < n; i++)
		assert_int_equal(fdt32_to_cpu(v[i]), want[i]);
}

/* reg = <base size> in 2 + 2 cells. */
static void assert_reg(const char *path, uint64_t base, uint64_t size)
{
	uint32_t want[4] = { (uint32_t)(base >> 32), (uint32_t)base, (uint32_t)(size >> 32),
			     (uint32_t)size };

	assert_cells(path, "reg", want, 4);
}

static void assert_str(const char *path, const char *name, const char *want)
{
	int len;
	const char *v = getprop(path, name, &len);

	assert_int_equal(len, (int)strlen(want) + 1);
	assert_string_equal(v, want);
}

static void assert_compatible(const char *path, const char *want)
{
	assert_int_equal(fdt_node_check_compatible(fdt, node(path), want), 0);
}

static void assert_spi(const char *path, unsigned int spi)
{
	uint32_t want[3] = { 0 /* GIC_SPI */, spi, 4 /* level high */ };

	assert_cells(path, "interrupts", want, 3);
}

static void test_fdt_header_and_size(void **state)
{
	struct fdt_params p = params(4, true, 3);

	build(&p);
	assert_int_equal(fdt_magic(fdt), FDT_MAGIC);
	assert_true(fdt_totalsize(fdt) < 8192);
	assert_int_equal(fdt_num_mem_rsv(fdt), 0);
}

static void test_fdt_root_node(void **state)
{
	struct fdt_params p = params(1, false, 0);
	int gic;

	build(&p);
	assert_compatible("/", "linux,dummy-virt");
	assert_str("/", "model", "torpor");
	assert_int_equal(get_u32("/", "#address-cells"), 2);
	assert_int_equal(get_u32("/", "#size-cells"), 2);
	gic = fdt_node_offset_by_phandle(fdt, get_u32("/", "interrupt-parent"));
	assert_int_equal(gic, node("/intc@8000000"));
	assert_int_equal(fdt_get_phandle(fdt, gic), AARCH64_FDT_GIC_PHANDLE);
}

static void check_cpus(unsigned int n)
{
	struct fdt_params p = params(n, false, 0);
	unsigned int count = 0;
	int cpus, off;

	build(&p);
	cpus = node("/cpus");
	assert_int_equal(get_u32("/cpus", "#address-cells"), 1);
	assert_int_equal(get_u32("/cpus", "#size-cells"), 0);
	fdt_for_each_subnode(off, fdt, cpus) {
		char path[64];
		uint64_t want = mpidr[count] & AARCH64_MPIDR_AFF_MASK;

		snprintf(path, sizeof(path), "/cpus/cpu@%llx", (unsigned long long)want);
		assert_int_equal(off, node(path));
		assert_str(path, "device_type", "cpu");
		assert_compatible(path, "arm,arm-v8");
		assert_str(path, "enable-method", "psci");
		assert_int_equal(get_u32(path, "reg"), want);
		count++;
	}
	assert_int_equal(count, n);
}

static void test_fdt_cpus_1_2_4(void **state)
{
	check_cpus(1);
	check_cpus(2);
	check_cpus(4);
}

static void test_fdt_cpus_max(void **state)
{
	struct fdt_params p = params(AARCH64_GICR_MAX_VCPUS, true, AARCH64_VIRTIO_MAX);
	void *big = aligned_alloc(8, AARCH64_FDT_MAX);
	int off, count = 0;

	assert_non_null(big);
	assert_int_equal(aarch64_fdt_build(&p, big, AARCH64_FDT_MAX), 0);
	fdt_for_each_subnode(off, big, fdt_path_offset(big, "/cpus"))
		count++;
	assert_int_equal(count, AARCH64_GICR_MAX_VCPUS);
	/* 16 per Aff1 group: the last vCPU's node. */
	assert_true(fdt_path_offset(big, "/cpus/cpu@3f07") >= 0);
	free(big);

	p.nr_cpus = AARCH64_GICR_MAX_VCPUS + 1;
	assert_int_equal(aarch64_fdt_build(&p, fdt, sizeof(buf_words)), -EINVAL);
}

/* An Aff3 field needs 2 address cells; bit 31 (RES1) and the U/MT bits are not in reg. */
static void test_fdt_cpus_wide_affinity(void **state)
{
	struct fdt_params p = params(2, false, 0);

	mpidr[0] = (1ull << 31) | (1ull << 30) | (1ull << 24);    /* MT + U bits, Aff0..2 = 0 */
	mpidr[1] = (1ull << 31) | (0x5aull << 32) | 0x010203ull;  /* Aff3 = 0x5a */
	build(&p);
	assert_int_equal(get_u32("/cpus", "#address-cells"), 2);
	assert_int_equal(get_u64("/cpus/cpu@0", "reg"), 0);
	assert_int_equal(get_u64("/cpus/cpu@5a00010203", "reg"), 0x5a00010203ull);
}

static void test_fdt_cpu_reg_masks_non_affinity_bits(void **state)
{
	struct fdt_params p = params(1, false, 0);

	mpidr[0] = 0xffffff00ff000000ull | (1ull << 31) | 0x000102ull;
	build(&p);
	assert_int_equal(get_u32("/cpus", "#address-cells"), 1);
	assert_int_equal(get_u32("/cpus/cpu@102", "reg"), 0x102);
}

static void test_fdt_memory(void **state)
{
	struct fdt_params p = params(1, false, 0);

	build(&p);
	assert_str("/memory@80000000", "device_type", "memory");
	assert_reg("/memory@80000000", AARCH64_RAM_BASE, 2 * GIB);

	p.ram_size = 1000 * GIB;
	build(&p);
	assert_reg("/memory@80000000", AARCH64_RAM_BASE, 1000 * GIB);
}

static void test_fdt_chosen_with_initrd(void **state)
{
	struct fdt_params p = params(2, true, 0);

	build(&p);
	assert_str("/chosen", "bootargs", BOOTARGS);
	assert_int_equal(get_u64("/chosen", "linux,initrd-start"), INITRD_START);
	assert_int_equal(get_u64("/chosen", "linux,initrd-end"), INITRD_START + INITRD_SIZE);
}

static void test_fdt_chosen_without_initrd(void **state)
{
	struct fdt_params p = params(2, false, 0);

	build(&p);
	assert_str("/chosen", "bootargs", BOOTARGS);
	assert_false(hasprop("/chosen", "linux,initrd-start"));
	assert_false(hasprop("/chosen", "linux,initrd-end"));
}

static void test_fdt_bootargs_absent_or_empty(void **state)
{
	struct fdt_params p = params(1, false, 0);

	p.bootargs = NULL;
	build(&p);
	assert_false(hasprop("/chosen", "bootargs"));
	p.bootargs = "";
	build(&p);
	assert_str("/chosen", "bootargs", "");
}

static void test_fdt_stdout_path_resolves_to_uart(void **state)
{
	struct fdt_params p = params(1, false, 2);
	int len;
	const char *path;

	build(&p);
	path = getprop("/chosen", "stdout-path", &len);
	assert_string_equal(path, "/uart@40000000");
	assert_int_equal(fdt_path_offset(fdt, path), node("/uart@40000000"));
	assert_compatible(path, "ns16550a");
}

static void test_fdt_rng_and_kaslr_seed(void **state)
{
	struct fdt_params p = params(1, false, 0);
	const uint8_t *v;
	int len;

	build(&p);
	v = getprop("/chosen", "kaslr-seed", &len);
	assert_int_equal(len, AARCH64_FDT_KASLR_SEED_LEN);
	assert_memory_equal(v, seed, AARCH64_FDT_KASLR_SEED_LEN);
	v = getprop("/chosen", "rng-seed", &len);
	assert_int_equal(len, SEED_LEN - AARCH64_FDT_KASLR_SEED_LEN);
	assert_memory_equal(v, seed + AARCH64_FDT_KASLR_SEED_LEN, (size_t)len);

	p.rng_seed_len = AARCH64_FDT_SEED_MIN;
	build(&p);
	getprop("/chosen", "rng-seed", &len);
	assert_int_equal(len, AARCH64_FDT_SEED_MIN - AARCH64_FDT_KASLR_SEED_LEN);

	p.rng_seed = NULL;
	p.rng_seed_len = 0;
	build(&p);
	assert_false(hasprop("/chosen", "rng-seed"));
	assert_false(hasprop("/chosen", "kaslr-seed"));
}

static void test_fdt_gic_scales_with_vcpus(void **state)
{
	static const unsigned int counts[] = { 1, 2, 4, 64 };

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		struct fdt_params p = params(counts[i], false, 0);
		fdt64_t reg[4]; /* properties are only 4-byte aligned: copy */
		int len;

		build(&p);
		memcpy(reg, getprop("/intc@8000000", "reg", &len), sizeof(reg));
		assert_int_equal(len, 4 * 8);
		assert_int_equal(fdt64_to_cpu(reg[0]), AARCH64_GICD_BASE);
		assert_int_equal(fdt64_to_cpu(reg[1]), AARCH64_GICD_SIZE);
		assert_int_equal(fdt64_to_cpu(reg[2]), AARCH64_GICR_BASE);
		assert_int_equal(fdt64_to_cpu(reg[3]), counts[i] * 128 * 1024);
	}
}

static void test_fdt_gic_node(void **state)
{
	struct fdt_params p = params(2, false, 0);
	int len;

	build(&p);
	assert_compatible("/intc@8000000", "arm,gic-v3");
	assert_int_equal(get_u32("/intc@8000000", "#interrupt-cells"), 3);
	assert_non_null(getprop("/intc@8000000", "interrupt-controller", &len));
	assert_int_equal(len, 0);
	assert_int_equal(get_u32("/intc@8000000", "#redistributor-regions"), 1);
	assert_int_equal(get_u32("/intc@8000000", "#address-cells"), 2);
	assert_int_equal(get_u32("/intc@8000000", "#size-cells"), 2);
	assert_non_null(getprop("/intc@8000000", "ranges", &len));
	assert_int_equal(len, 0);
	assert_int_equal(get_u32("/intc@8000000", "phandle"), AARCH64_FDT_GIC_PHANDLE);
}

static void test_fdt_timer(void **state)
{
	static const uint32_t want[] = { 1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4 };
	struct fdt_params p = params(1, false, 0);
	int len;

	build(&p);
	assert_compatible("/timer", "arm,armv8-timer");
	assert_non_null(getprop("/timer", "always-on", &len));
	assert_int_equal(len, 0);
	assert_cells("/timer", "interrupts", want, 12);
}

static void test_fdt_psci(void **state)
{
	struct fdt_params p = params(1, false, 0);
	int len, psci;
	const char *compat;

	build(&p);
	compat = getprop("/psci", "compatible", &len);
	psci = node("/psci");
	assert_int_equal(fdt_stringlist_search(fdt, psci, "compatible", "arm,psci-1.0"), 0);
	assert_int_equal(fdt_stringlist_search(fdt, psci, "compatible", "arm,psci-0.2"), 1);
	assert_int_equal(len, (int)sizeof("arm,psci-1.0\0arm,psci-0.2"));
	assert_string_equal(compat, "arm,psci-1.0");
	assert_str("/psci", "method", "hvc");
}

static void test_fdt_uart(void **state)
{
	struct fdt_params p = params(1, false, 0);

	build(&p);
	assert_str("/uart@40000000", "compatible", "ns16550a");
	assert_reg("/uart@40000000", AARCH64_UART_BASE, AARCH64_UART_SIZE);
	assert_spi("/uart@40000000", AARCH64_UART_SPI);
	assert_int_equal(get_u32("/uart@40000000", "clock-frequency"), AARCH64_UART_CLOCK);
	assert_int_equal(get_u32("/uart@40000000", "reg-shift"), 0);
	assert_int_equal(get_u32("/uart@40000000", "reg-io-width"), 1);
}

static void test_fdt_virtio_nodes(void **state)
{
	struct fdt_params p = params(2, true, 3);
	int off, count = 0, len;

	build(&p);
	for (unsigned int i = 0; i < 3; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/virtio_mmio@%llx",
			 (unsigned long long)virtio[i].base);
		assert_compatible(path, "virtio,mmio");
		assert_reg(path, virtio[i].base, virtio[i].size);
		assert_spi(path, virtio[i].spi);
		assert_non_null(getprop(path, "dma-coherent", &len));
		assert_int_equal(len, 0);
	}
	assert_string_equal(fdt_get_name(fdt, node("/virtio_mmio@40011000"), NULL),
			    "virtio_mmio@40011000");
	for (off = fdt_node_offset_by_compatible(fdt, -1, "virtio,mmio"); off >= 0;
	     off = fdt_node_offset_by_compatible(fdt, off, "virtio,mmio"))
		count++;
	assert_int_equal(count, 3);
}

static void test_fdt_no_virtio(void **state)
{
	struct fdt_params p = params(1, false, 0);

	p.virtio = NULL;
	build(&p);
	assert_int_equal(fdt_node_offset_by_compatible(fdt, -1, "virtio,mmio"), -FDT_ERR_NOTFOUND);
}

static void test_fdt_buffer_too_small(void **state)
{
	struct fdt_params p = params(4, true, 3);
	size_t total;
	char *big, *args;

	build(&p);
	total = fdt_totalsize(fdt);
	assert_int_equal(aarch64_fdt_build(&p, fdt, total - 1), -ENOSPC);
	assert_int_equal(aarch64_fdt_build(&p, fdt, 0), -ENOSPC);
	assert_int_equal(aarch64_fdt_build(&p, fdt, 16), -ENOSPC);
	assert_int_equal(aarch64_fdt_build(&p, fdt, 256), -ENOSPC);
	assert_int_equal(aarch64_fdt_build(&p, fdt, total), 0);
	assert_int_equal(fdt_totalsize(fdt), total);
	assert_int_equal(fdt_check_header(fdt), 0);

	/* A tree never grows past AARCH64_FDT_MAX, however large the buffer. */
	big = aligned_alloc(8, 4 * MIB);
	args = malloc(3 * MIB);
	assert_non_null(big);
	assert_non_null(args);
	memset(args, 'x', 3 * MIB);
	args[AARCH64_FDT_MAX] = '\0';
	p.bootargs = args;
	assert_int_equal(aarch64_fdt_build(&p, big, 4 * MIB), -ENOSPC);
	args[AARCH64_FDT_MAX - 8192] = '\0';
	assert_int_equal(aarch64_fdt_build(&p, big, 4 * MIB), 0);
	assert_true(fdt_totalsize(big) <= AARCH64_FDT_MAX);
	free(args);
	free(big);
}

struct bad_case {
	const char *name;
	void (*spoil)(struct fdt_params *p);
};

static void no_cpus(struct fdt_params *p)
{
	p->nr_cpus = 0;
}
static void no_mpidr(struct fdt_params *p)
{
	p->mpidr = NULL;
}
static void dup_mpidr(struct fdt_params *p)
{
	mpidr[1] = mpidr[0] | (1ull << 30); /* differs only outside the affinity */
}
static void ram_empty(struct fdt_params *p)
{
	p->ram_size = 0;
}
static void ram_wraps(struct fdt_params *p)
{
	p->ram_base = UINT64_MAX - MIB;
}
static void initrd_below_ram(struct fdt_params *p)
{
	p->initrd_start = AARCH64_RAM_BASE - 4096;
}
static void initrd_past_ram(struct fdt_params *p)
{
	p->initrd_size = 2 * GIB;
}
static void initrd_wraps(struct fdt_params *p)
{
	p->initrd_size = UINT64_MAX;
}
static void seed_short(struct fdt_params *p)
{
	p->rng_seed_len = AARCH64_FDT_SEED_MIN - 1;
}
static void seed_null(struct fdt_params *p)
{
	p->rng_seed = NULL;
}
static void virtio_null(struct fdt_params *p)
{
	p->virtio = NULL;
}
static void virtio_too_many(struct fdt_params *p)
{
	p->nr_virtio = AARCH64_VIRTIO_MAX + 1;
}
static void virtio_spi_range(struct fdt_params *p)
{
	virtio[1].spi = AARCH64_NR_SPIS;
}
static void virtio_spi_uart(struct fdt_params *p)
{
	virtio[1].spi = AARCH64_UART_SPI;
}
static void virtio_spi_dup(struct fdt_params *p)
{
	virtio[1].spi = virtio[0].spi;
}
static void virtio_base_dup(struct fdt_params *p)
{
	virtio[1].base = virtio[0].base;
}
static void virtio_size_zero(struct fdt_params *p)
{
	virtio[1].size = 0;
}

static void test_fdt_invalid_params(void **state)
{
	static const struct bad_case cases[] = {
		{ "no_cpus", no_cpus },
		{ "no_mpidr", no_mpidr },
		{ "dup_mpidr", dup_mpidr },
		{ "ram_empty", ram_empty },
		{ "ram_wraps", ram_wraps },
		{ "initrd_below_ram", initrd_below_ram },
		{ "initrd_past_ram", initrd_past_ram },
		{ "initrd_wraps", initrd_wraps },
		{ "seed_short", seed_short },
		{ "seed_null", seed_null },
		{ "virtio_null", virtio_null },
		{ "virtio_too_many", virtio_too_many },
		{ "virtio_spi_range", virtio_spi_range },
		{ "virtio_spi_uart", virtio_spi_uart },
		{ "virtio_spi_dup", virtio_spi_dup },
		{ "virtio_base_dup", virtio_base_dup },
		{ "virtio_size_zero", virtio_size_zero },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fdt_params p = params(2, true, 3);

		cases[i].spoil(&p);
		print_message("%s\n", cases[i].name);
		assert_int_equal(aarch64_fdt_build(&p, fdt, sizeof(buf_words)), -EINVAL);
	}
	/* The buffer must be 8-byte aligned. */
	{
		struct fdt_params p = params(1, false, 0);

		assert_int_equal(aarch64_fdt_build(&p, (char *)fdt + 4, 4096), -EINVAL);
		assert_int_equal(aarch64_fdt_build(&p, NULL, 4096), -EINVAL);
	}
}

/* Every node the guest gets, and nothing else at the top level. */
static void test_fdt_top_level_nodes(void **state)
{
	static const char *const want[] = {
		"cpus", "memory@80000000", "chosen", "intc@8000000", "timer", "psci",
		"uart@40000000", "virtio_mmio@40010000",
	};
	struct fdt_params p = params(1, false, 1);
	size_t n = 0;
	int off;

	build(&p);
	fdt_for_each_subnode(off, fdt, 0) {
		assert_true(n < sizeof(want) / sizeof(want[0]));
		assert_string_equal(fdt_get_name(fdt, off, NULL), want[n]);
		n++;
	}
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fdt_header_and_size),
		cmocka_unit_test(test_fdt_root_node),
		cmocka_unit_test(test_fdt_cpus_1_2_4),
		cmocka_unit_test(test_fdt_cpus_max),
		cmocka_unit_test(test_fdt_cpus_wide_affinity),
		cmocka_unit_test(test_fdt_cpu_reg_masks_non_affinity_bits),
		cmocka_unit_test(test_fdt_memory),
		cmocka_unit_test(test_fdt_chosen_with_initrd),
		cmocka_unit_test(test_fdt_chosen_without_initrd),
		cmocka_unit_test(test_fdt_bootargs_absent_or_empty),
		cmocka_unit_test(test_fdt_stdout_path_resolves_to_uart),
		cmocka_unit_test(test_fdt_rng_and_kaslr_seed),
		cmocka_unit_test(test_fdt_gic_scales_with_vcpus),
		cmocka_unit_test(test_fdt_gic_node),
		cmocka_unit_test(test_fdt_timer),
		cmocka_unit_test(test_fdt_psci),
		cmocka_unit_test(test_fdt_uart),
		cmocka_unit_test(test_fdt_virtio_nodes),
		cmocka_unit_test(test_fdt_no_virtio),
		cmocka_unit_test(test_fdt_buffer_too_small),
		cmocka_unit_test(test_fdt_invalid_params),
		cmocka_unit_test(test_fdt_top_level_nodes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
