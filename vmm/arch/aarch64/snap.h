/*
 * aarch64 snapshot blobs: the vCPU registers and the vGICv3 as versioned
 * little-endian byte strings (docs/snapshot-arch-aarch64.md). The codecs here
 * touch no KVM: they read and write through small ops tables, which
 * snap_kvm.c fills with ioctls and the unit tests with fakes.
 */
#ifndef TORPOR_AARCH64_SNAP_H
#define TORPOR_AARCH64_SNAP_H

#include <stddef.h>
#include <stdint.h>

/*
 * KVM register ids for arm64 (uapi asm/kvm.h), spelled out so the codecs
 * build on any host; snap_kvm.c checks them against the kernel's headers.
 */
#define A64_REG_ARCH_MASK  0xff00000000000000ull
#define A64_REG_ARM64	   0x6000000000000000ull
#define A64_REG_SIZE_MASK  0x00f0000000000000ull
#define A64_REG_SIZE_SHIFT 52
#define A64_REG_SIZE_U64   0x0030000000000000ull
#define A64_REG_CLASS_MASK 0x000000000fff0000ull
#define A64_REG_CORE	   (0x0010ull << 16)
#define A64_REG_DEMUX	   (0x0011ull << 16)
#define A64_REG_SYSREG	   (0x0013ull << 16)
#define A64_REG_FW	   (0x0014ull << 16)
#define A64_REG_SVE	   (0x0015ull << 16)
#define A64_REG_FW_BMAP	   (0x0016ull << 16)
#define A64_SYSREG_ENC(op0, op1, crn, crm, op2)                                                    \
	(((op0) << 14) | ((op1) << 11) | ((crn) << 7) | ((crm) << 3) | (op2))
#define A64_SYSREG(op0, op1, crn, crm, op2)                                                        \
	(A64_REG_ARM64 | A64_REG_SIZE_U64 | A64_REG_SYSREG |                                       \
	 A64_SYSREG_ENC(op0, op1, crn, crm, op2))
#define A64_REG_MPIDR_EL1 A64_SYSREG(3ull, 0ull, 0ull, 0ull, 5ull)
/* KVM's timer ids: TIMER_CNT and TIMER_CVAL carry each other's encodings (an old ABI slip). */
#define A64_REG_TIMER_CTL  A64_SYSREG(3ull, 3ull, 14ull, 3ull, 1ull)
#define A64_REG_TIMER_CNT  A64_SYSREG(3ull, 3ull, 14ull, 3ull, 2ull)
#define A64_REG_TIMER_CVAL A64_SYSREG(3ull, 3ull, 14ull, 0ull, 2ull)
#define A64_MPIDR_AFF_MASK 0xff00ffffffull

/* KVM_MP_STATE_* values an arm64 vCPU can be in. */
#define A64_MP_RUNNABLE	 0
#define A64_MP_STOPPED	 5
#define A64_MP_SUSPENDED 10

/* ---- vCPU blob ----------------------------------------------------------- */

#define A64_VCPU_MAGIC	  0x50435654u /* "TVCP" */
#define A64_VCPU_VERSION  1
#define A64_VCPU_HDR_LEN  16
#define A64_VCPU_REC_HDR  10   /* u64 id, u16 size */
#define A64_VCPU_MAX_REGS 4096 /* KVM lists about 250 */
#define A64_REG_MAX_BYTES 256  /* KVM_REG_SIZE_U2048, the largest (SVE) */

struct aarch64_vcpu_ops {
	/* Every register id KVM lists for the vCPU (KVM_GET_REG_LIST), malloc'd. */
	int (*reg_list)(void *ctx, uint64_t **ids, size_t *n);
	/* KVM_GET/SET_ONE_REG; val holds the register's size (from its id). */
	int (*get_reg)(void *ctx, uint64_t id, void *val);
	int (*set_reg)(void *ctx, uint64_t id, const void *val);
	int (*get_mp_state)(void *ctx, uint32_t *state);
	int (*set_mp_state)(void *ctx, uint32_t state);
};

/*
 * Read every listed register and the mp_state into a new blob (*blob
 * malloc'd, the caller frees it). 0 or -errno; a register KVM refuses to
 * read is logged by name and fails the save.
 */
int aarch64_vcpu_snap_save(const struct aarch64_vcpu_ops *ops, void *ctx, uint8_t **blob,
			   size_t *len);
/*
 * Check a blob without touching any vCPU: header, record sizes against
 * their ids, no duplicates, exact length, MPIDR_EL1 (if present) equal to
 * mpidr's affinity. 0, or -EINVAL with one line in err.
 */
int aarch64_vcpu_snap_check(const uint8_t *blob, size_t len, uint64_t mpidr, char *err,
			    size_t errlen);
/*
 * Check the blob, check that this vCPU lists every register in it, then set
 * them all in blob order and the mp_state last. Registers the vCPU lists
 * but the blob lacks keep their reset values. 0, or -errno with one line in
 * err (nothing is set when the checks fail).
 */
int aarch64_vcpu_snap_restore(const struct aarch64_vcpu_ops *ops, void *ctx, const uint8_t *blob,
			      size_t len, uint64_t mpidr, char *err, size_t errlen);

/* ---- vGICv3 blob ---------------------------------------------------------- */

#define A64_GIC_MAGIC	  0x33494754u /* "TGI3" */
#define A64_GIC_VERSION	  1
#define A64_GIC_HDR_LEN	  24
#define A64_GIC_REC_LEN	  16
#define A64_GIC_MAX_VCPUS 4096

/* Where a vGIC register lives (the record's space byte). */
enum aarch64_gic_space {
	A64_GIC_DIST = 1,   /* distributor, 32-bit, offset from GICD base */
	A64_GIC_REDIST = 2, /* a vCPU's redistributor, 32-bit, offset from its RD base */
	A64_GIC_ICC = 3,    /* a vCPU's CPU interface sysreg, 64-bit, offset = op0..op2 */
	A64_GIC_LEVEL = 4,  /* input line levels of 32 interrupts from vINTID offset */
};

struct aarch64_gic_reg {
	uint8_t space; /* enum aarch64_gic_space */
	uint16_t vcpu; /* vCPU index for REDIST, ICC and PPI levels; 0 otherwise */
	uint32_t offset;
	uint32_t clear;	  /* restore writes ~value here first (ICENABLER, ICACTIVER); 0: none */
	const char *name; /* "GICR_ISPENDR0", for messages */
};

struct aarch64_gic_layout {
	unsigned int nr_vcpus;
	unsigned int nr_irqs;  /* SGIs + PPIs + SPIs: 64..1024, a multiple of 32 */
	const uint64_t *mpidr; /* MPIDR_EL1 affinity of each vCPU */
};

struct aarch64_gic_ops {
	int (*get)(void *ctx, const struct aarch64_gic_reg *r, uint64_t *val);
	int (*set)(void *ctx, const struct aarch64_gic_reg *r, uint64_t val);
};

/* Read every vGIC register of the layout into a new blob (malloc'd). 0 or -errno. */
int aarch64_gic_snap_save(const struct aarch64_gic_ops *ops, void *ctx,
			  const struct aarch64_gic_layout *l, uint8_t **blob, size_t *len);
/*
 * Check a blob against the layout without touching the vGIC: header, vCPU
 * count, interrupt count, MPIDRs, and each record naming exactly the
 * register the restore order expects next. 0, or -EINVAL with one line in err.
 */
int aarch64_gic_snap_check(const struct aarch64_gic_layout *l, const uint8_t *blob, size_t len,
			   char *err, size_t errlen);
/* Check the blob, then write every register in restore order. 0, or -errno with err. */
int aarch64_gic_snap_restore(const struct aarch64_gic_ops *ops, void *ctx,
			     const struct aarch64_gic_layout *l, const uint8_t *blob, size_t len,
			     char *err, size_t errlen);

/* ---- messages (snap_msg.c) ------------------------------------------------ */

/* A register id as text: "x3", "v31", "MPIDR_EL1", "S3_0_C1_C0_0", "CCSIDR[2]", "fw[9]"... */
void aarch64_reg_name(uint64_t id, char *buf, size_t size);
/* Format one line into err[errlen] (err may be NULL) and return rc. */
int aarch64_snap_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- little-endian bytes -------------------------------------------------- */

static inline void a64_st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void a64_st32(uint8_t *p, uint32_t v)
{
	a64_st16(p, (uint16_t)v);
	a64_st16(p + 2, (uint16_t)(v >> 16));
}

static inline void a64_st64(uint8_t *p, uint64_t v)
{
	a64_st32(p, (uint32_t)v);
	a64_st32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t a64_ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t a64_ld32(const uint8_t *p)
{
	return a64_ld16(p) | (uint32_t)a64_ld16(p + 2) << 16;
}

static inline uint64_t a64_ld64(const uint8_t *p)
{
	return a64_ld32(p) | (uint64_t)a64_ld32(p + 4) << 32;
}

#endif
