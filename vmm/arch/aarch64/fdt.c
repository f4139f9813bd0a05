/* The guest device tree, written with libfdt's sequential-write API. */
#include <errno.h>
#include <libfdt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "arch/aarch64/fdt.h"
#include "arch/aarch64/layout.h"

/* GIC interrupt specifier: <type number flags> (bindings/interrupt-controller/arm,gic-v3). */
#define GIC_SPI             0
#define GIC_PPI             1
#define IRQ_TYPE_LEVEL_HIGH 4

/* Architected timer PPIs: secure, non-secure physical, virtual, hypervisor. */
static const uint32_t timer_ppis[] = { 13, 14, 11, 10 };

/* Tree writer with a sticky error: once a libfdt call fails, the rest do nothing. */
struct fdtw {
	void *fdt;
	int err; /* first libfdt error (-FDT_ERR_*), or 0 */
};

static void check(struct fdtw *w, int rc)
{
	if (rc < 0 && !w->err)
		w->err = rc;
}

static void begin_node(struct fdtw *w, const char *name)
{
	if (!w->err)
		check(w, fdt_begin_node(w->fdt, name));
}

/* A node named <prefix>@<unit address in hex>. */
static void begin_node_at(struct fdtw *w, const char *prefix, uint64_t addr)
{
	char name[64];

	snprintf(name, sizeof(name), "%s@%llx", prefix, (unsigned long long)addr);
	begin_node(w, name);
}

static void end_node(struct fdtw *w)
{
	if (!w->err)
		check(w, fdt_end_node(w->fdt));
}

static void prop(struct fdtw *w, const char *name, const void *val, size_t len)
{
	if (len > AARCH64_FDT_MAX) /* libfdt takes an int: refuse before it wraps */
		check(w, -FDT_ERR_NOSPACE);
	if (!w->err)
		check(w, fdt_property(w->fdt, name, val, (int)len));
}

static void prop_str(struct fdtw *w, const char *name, const char *s)
{
	prop(w, name, s, strlen(s) + 1);
}

static void prop_u32(struct fdtw *w, const char *name, uint32_t v)
{
	if (!w->err)
		check(w, fdt_property_u32(w->fdt, name, v));
}

static void prop_u64(struct fdtw *w, const char *name, uint64_t v)
{
	if (!w->err)
		check(w, fdt_property_u64(w->fdt, name, v));
}

static void prop_empty(struct fdtw *w, const char *name)
{
	prop(w, name, "", 0);
}

/* reg = <base size> with #address-cells = #size-cells = 2. */
static void prop_reg(struct fdtw *w, uint64_t base, uint64_t size)
{
	fdt64_t reg[2] = { cpu_to_fdt64(base), cpu_to_fdt64(size) };

	prop(w, "reg", reg, sizeof(reg));
}

static void prop_spi(struct fdtw *w, unsigned int spi)
{
	fdt32_t irq[3] = { cpu_to_fdt32(GIC_SPI), cpu_to_fdt32(spi),
			   cpu_to_fdt32(IRQ_TYPE_LEVEL_HIGH) };

	prop(w, "interrupts", irq, sizeof(irq));
}

static void add_cpus(struct fdtw *w, const struct fdt_params *p)
{
	static const char compat[] = "arm,arm-v8";
	bool wide = false;

	for (unsigned int i = 0; i < p->nr_cpus; i++)
		wide |= (p->mpidr[i] & AARCH64_MPIDR_AFF_MASK) > UINT32_MAX;

	begin_node(w, "cpus");
	prop_u32(w, "#address-cells", wide ? 2 : 1);
	prop_u32(w, "#size-cells", 0);
	for (unsigned int i = 0; i < p->nr_cpus; i++) {
		uint64_t reg = p->mpidr[i] & AARCH64_MPIDR_AFF_MASK;

		begin_node_at(w, "cpu", reg);
		prop_str(w, "device_type", "cpu");
		prop(w, "compatible", compat, sizeof(compat));
		prop_str(w, "enable-method", "psci");
		if (wide)
			prop_u64(w, "reg", reg);
		else
			prop_u32(w, "reg", (uint32_t)reg);
		end_node(w);
	}
	end_node(w);
}

static void add_memory(struct fdtw *w, const struct fdt_params *p)
{
	begin_node_at(w, "memory", p->ram_base);
	prop_str(w, "device_type", "memory");
	prop_reg(w, p->ram_base, p->ram_size);
	end_node(w);
}

static void add_chosen(struct fdtw *w, const struct fdt_params *p)
{
	char stdout_path[32];

	snprintf(stdout_path, sizeof(stdout_path), "/uart@%llx",
		 (unsigned long long)AARCH64_UART_BASE);
	begin_node(w, "chosen");
	if (p->bootargs)
		prop_str(w, "bootargs", p->bootargs);
	if (p->initrd_size) {
		prop_u64(w, "linux,initrd-start", p->initrd_start);
		prop_u64(w, "linux,initrd-end", p->initrd_start + p->initrd_size);
	}
	prop_str(w, "stdout-path", stdout_path);
	if (p->rng_seed_len) {
		prop(w, "kaslr-seed", p->rng_seed, AARCH64_FDT_KASLR_SEED_LEN);
		prop(w, "rng-seed", p->rng_seed + AARCH64_FDT_KASLR_SEED_LEN,
		     p->rng_seed_len - AARCH64_FDT_KASLR_SEED_LEN);
	}
	end_node(w);
}

static void add_gic(struct fdtw *w, const struct fdt_params *p)
{
	fdt64_t reg[4] = {
		cpu_to_fdt64(AARCH64_GICD_BASE),
		cpu_to_fdt64(AARCH64_GICD_SIZE),
		cpu_to_fdt64(AARCH64_GICR_BASE),
		cpu_to_fdt64((uint64_t)p->nr_cpus * AARCH64_GICR_STRIDE),
	};

	begin_node_at(w, "intc", AARCH64_GICD_BASE);
	prop_str(w, "compatible", "arm,gic-v3");
	prop_u32(w, "#interrupt-cells", 3);
	prop_empty(w, "interrupt-controller");
	prop(w, "reg", reg, sizeof(reg));
	prop_u32(w, "#redistributor-regions", 1);
	prop_u32(w, "#address-cells", 2);
	prop_u32(w, "#size-cells", 2);
	prop_empty(w, "ranges");
	prop_u32(w, "phandle", AARCH64_FDT_GIC_PHANDLE);
	end_node(w);
}

static void add_timer(struct fdtw *w)
{
	fdt32_t irq[3 * 4];

	for (unsigned int i = 0; i < 4; i++) {
		irq[3 * i] = cpu_to_fdt32(GIC_PPI);
		irq[3 * i + 1] = cpu_to_fdt32(timer_ppis[i]);
		irq[3 * i + 2] = cpu_to_fdt32(IRQ_TYPE_LEVEL_HIGH);
	}
	begin_node(w, "timer");
	prop_str(w, "compatible", "arm,armv8-timer");
	prop(w, "interrupts", irq, sizeof(irq));
	prop_empty(w, "always-on");
	end_node(w);
}

static void add_psci(struct fdtw *w)
{
	static const char compat[] = "arm,psci-1.0\0arm,psci-0.2";

	begin_node(w, "psci");
	prop(w, "compatible", compat, sizeof(compat));
	prop_str(w, "method", "hvc");
	end_node(w);
}

static void add_uart(struct fdtw *w)
{
	begin_node_at(w, "uart", AARCH64_UART_BASE);
	prop_str(w, "compatible", "ns16550a");
	prop_reg(w, AARCH64_UART_BASE, AARCH64_UART_SIZE);
	prop_spi(w, AARCH64_UART_SPI);
	prop_u32(w, "clock-frequency", AARCH64_UART_CLOCK);
	prop_u32(w, "reg-shift", 0);
	prop_u32(w, "reg-io-width", 1);
	end_node(w);
}

static void add_virtio(struct fdtw *w, const struct fdt_virtio_dev *d)
{
	begin_node_at(w, "virtio_mmio", d->base);
	prop_str(w, "compatible", "virtio,mmio");
	prop_reg(w, d->base, d->size);
	prop_spi(w, d->spi);
	prop_empty(w, "dma-coherent");
	end_node(w);
}

static bool params_valid(const struct fdt_params *p)
{
	uint64_t ram_end, initrd_end;

	if (!p->nr_cpus || p->nr_cpus > AARCH64_GICR_MAX_VCPUS || !p->mpidr)
		return false;
	for (unsigned int i = 0; i < p->nr_cpus; i++)
		for (unsigned int j = 0; j < i; j++)
			if (!((p->mpidr[i] ^ p->mpidr[j]) & AARCH64_MPIDR_AFF_MASK))
				return false;
	if (!p->ram_size || __builtin_add_overflow(p->ram_base, p->ram_size, &ram_end))
		return false;
	if (p->initrd_size &&
	    (p->initrd_start < p->ram_base ||
	     __builtin_add_overflow(p->initrd_start, p->initrd_size, &initrd_end) ||
	     initrd_end > ram_end))
		return false;
	if (p->rng_seed_len && (p->rng_seed_len < AARCH64_FDT_SEED_MIN || !p->rng_seed))
		return false;
	if (p->nr_virtio > AARCH64_VIRTIO_MAX || (p->nr_virtio && !p->virtio))
		return false;
	for (unsigned int i = 0; i < p->nr_virtio; i++) {
		const struct fdt_virtio_dev *d = &p->virtio[i];

		if (!d->size || d->spi >= AARCH64_NR_SPIS || d->spi == AARCH64_UART_SPI)
			return false;
		for (unsigned int j = 0; j < i; j++)
			if (d->spi == p->virtio[j].spi || d->base == p->virtio[j].base)
				return false;
	}
	return true;
}

int aarch64_fdt_build(const struct fdt_params *p, void *buf, size_t size)
{
	static const char compat[] = "linux,dummy-virt";
	struct fdtw w = { .fdt = buf };

	if (!params_valid(p) || !buf || (uintptr_t)buf % 8)
		return -EINVAL;
	if (size > AARCH64_FDT_MAX)
		size = AARCH64_FDT_MAX;

	check(&w, fdt_create(buf, (int)size));
	if (!w.err)
		check(&w, fdt_finish_reservemap(buf));
	begin_node(&w, "");
	prop(&w, "compatible", compat, sizeof(compat));
	prop_str(&w, "model", "torpor");
	prop_u32(&w, "#address-cells", 2);
	prop_u32(&w, "#size-cells", 2);
	prop_u32(&w, "interrupt-parent", AARCH64_FDT_GIC_PHANDLE);

	add_cpus(&w, p);
	add_memory(&w, p);
	add_chosen(&w, p);
	add_gic(&w, p);
	add_timer(&w);
	add_psci(&w);
	add_uart(&w);
	for (unsigned int i = 0; i < p->nr_virtio; i++)
		add_virtio(&w, &p->virtio[i]);
	end_node(&w);
	if (!w.err)
		check(&w, fdt_finish(buf));

	switch (w.err) {
	case 0:
		return 0;
	case -FDT_ERR_NOSPACE:
		return -ENOSPC;
	default:
		return -EINVAL;
	}
}
