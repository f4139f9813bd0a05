/* The device tree the aarch64 guest boots with. */
#ifndef TORPOR_AARCH64_FDT_H
#define TORPOR_AARCH64_FDT_H

#include <stddef.h>
#include <stdint.h>

/* Phandle of the GICv3 node: every interrupt in the tree goes to it. */
#define AARCH64_FDT_GIC_PHANDLE 1
/* MPIDR_EL1 affinity fields (Aff3, Aff2, Aff1, Aff0): a cpu node's reg. */
#define AARCH64_MPIDR_AFF_MASK  0xff00ffffffull
/* Bytes of rng_seed that become /chosen/kaslr-seed; the rest is rng-seed. */
#define AARCH64_FDT_KASLR_SEED_LEN 8
#define AARCH64_FDT_SEED_MIN       16

struct fdt_virtio_dev {
	uint64_t base, size; /* MMIO window */
	unsigned int spi;    /* SPI number from 0 (INTID 32 + spi), level-high */
};

struct fdt_params {
	uint64_t ram_base, ram_size;
	unsigned int nr_cpus;  /* 1..AARCH64_GICR_MAX_VCPUS */
	const uint64_t *mpidr; /* MPIDR_EL1 per vCPU; reg = mpidr & AARCH64_MPIDR_AFF_MASK */
	const char *bootargs;  /* NULL: no bootargs property */
	uint64_t initrd_start, initrd_size; /* size 0: no initrd */
	/*
	 * Fresh random bytes: 0 (no seeds) or at least AARCH64_FDT_SEED_MIN.
	 * The first 8 become kaslr-seed and the rest rng-seed, so the two never
	 * share bytes.
	 */
	const uint8_t *rng_seed;
	size_t rng_seed_len;
	unsigned int nr_virtio; /* at most AARCH64_VIRTIO_MAX */
	const struct fdt_virtio_dev *virtio;
};

/*
 * Build the DTB into buf (size bytes, 8-byte aligned; a tree is never larger
 * than AARCH64_FDT_MAX). fdt_totalsize(buf) is its size afterwards.
 * Returns 0; -EINVAL for bad parameters (no vCPUs or more than the GIC holds,
 * duplicate MPIDRs, initrd outside RAM, an SPI beyond AARCH64_NR_SPIS, too
 * short a seed, misaligned buf); -ENOSPC when the tree does not fit in size.
 */
int aarch64_fdt_build(const struct fdt_params *p, void *buf, size_t size);

#endif
