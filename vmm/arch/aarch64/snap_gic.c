/* The aarch64 vGICv3 snapshot blob: distributor, redistributors, CPU interfaces, line levels. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/aarch64/snap.h"
#include "log.h"

/*
 * Blob layout (version 1, little-endian):
 *   u32 magic "TGI3", u16 version, u16 flags (0), u32 nr_vcpus, u32 nr_irqs,
 *   u32 nr_records, u32 reserved (0), u64 mpidr[nr_vcpus],
 *   then nr_records records of 16 bytes: u8 space, u8 reserved (0),
 *   u16 vcpu, u32 offset, u64 value.
 * The records come in restore order, and that order is fixed: walk() below
 * yields it from (nr_vcpus, nr_irqs) and each vCPU's ICC_CTLR_EL1.PRIbits,
 * so a check compares every record with the register it has to be.
 */

#define GICD_CTLR		0x0000
#define GICD_IIDR		0x0008
#define GICD_IGROUPR		0x0080
#define GICD_ISENABLER		0x0100
#define GICD_ICENABLER		0x0180
#define GICD_ISPENDR		0x0200
#define GICD_ISACTIVER		0x0300
#define GICD_ICACTIVER		0x0380
#define GICD_IPRIORITYR		0x0400
#define GICD_ICFGR		0x0c00
#define GICD_IROUTER		0x6000
#define GICR_CTLR		0x0000
#define GICR_SGI		0x10000 /* the SGI/PPI frame, 64 KiB into a redistributor */
#define GICR_IGROUPR0		(GICR_SGI + 0x0080)
#define GICR_ISENABLER0		(GICR_SGI + 0x0100)
#define GICR_ICENABLER0		(GICR_SGI + 0x0180)
#define GICR_ISPENDR0		(GICR_SGI + 0x0200)
#define GICR_ISACTIVER0		(GICR_SGI + 0x0300)
#define GICR_ICACTIVER0		(GICR_SGI + 0x0380)
#define GICR_IPRIORITYR0	(GICR_SGI + 0x0400)
#define GICR_ICFGR1		(GICR_SGI + 0x0c04)
#define ICC(op1, crn, crm, op2) A64_SYSREG_ENC(3u, op1, crn, crm, op2)
#define ICC_CTLR_EL1		ICC(0u, 12u, 12u, 4u)
#define ICC_AP0R_EL1(n)		ICC(0u, 12u, 8u, 4u + (n))
#define ICC_AP1R_EL1(n)		ICC(0u, 12u, 9u, (n))
#define ICC_CTLR_PRIBITS(v)	((unsigned int)(((v) >> 8) & 7) + 1)

#define MAX_RECORDS (1u << 20)

/* One register, or count consecutive 32-bit words of one. */
struct reg_run {
	uint8_t space;
	uint32_t offset, clear;
	unsigned int count;
	const char *name;
};

/* GICD_IIDR first: its revision selects KVM's behaviour (arm-vgic-v3.rst). */
static const struct reg_run dist_head[] = {
    {A64_GIC_DIST, GICD_IIDR, 0, 1, "GICD_IIDR"},
    {A64_GIC_DIST, GICD_CTLR, 0, 1, "GICD_CTLR"},
};

/* Each redistributor: configuration before pending and active state. */
static const struct reg_run redist_regs[] = {
    {A64_GIC_REDIST, GICR_CTLR, 0, 1, "GICR_CTLR"},
    {A64_GIC_REDIST, GICR_IGROUPR0, 0, 1, "GICR_IGROUPR0"},
    {A64_GIC_REDIST, GICR_ISENABLER0, GICR_ICENABLER0, 1, "GICR_ISENABLER0"},
    {A64_GIC_REDIST, GICR_ICFGR1, 0, 1, "GICR_ICFGR1"},
    {A64_GIC_LEVEL, 0, 0, 1, "line levels"},
    {A64_GIC_REDIST, GICR_ISPENDR0, 0, 1, "GICR_ISPENDR0"},
    {A64_GIC_REDIST, GICR_ISACTIVER0, GICR_ICACTIVER0, 1, "GICR_ISACTIVER0"},
    {A64_GIC_REDIST, GICR_IPRIORITYR0, 0, 8, "GICR_IPRIORITYR"},
};

/* Per-interrupt distributor registers: bits per SPI; routing before pending state. */
static const struct spi_reg {
	uint8_t space;
	uint32_t base, clear;
	unsigned int bits;
	const char *name;
} dist_spi_regs[] = {
    {A64_GIC_DIST, GICD_IGROUPR, 0, 1, "GICD_IGROUPR"},
    {A64_GIC_DIST, GICD_ISENABLER, GICD_ICENABLER, 1, "GICD_ISENABLER"},
    {A64_GIC_DIST, GICD_IROUTER, 0, 64, "GICD_IROUTER"},
    {A64_GIC_DIST, GICD_ICFGR, 0, 2, "GICD_ICFGR"},
    {A64_GIC_LEVEL, 0, 0, 1, "line levels"},
    {A64_GIC_DIST, GICD_ISPENDR, 0, 1, "GICD_ISPENDR"},
    {A64_GIC_DIST, GICD_ISACTIVER, GICD_ICACTIVER, 1, "GICD_ISACTIVER"},
    {A64_GIC_DIST, GICD_IPRIORITYR, 0, 8, "GICD_IPRIORITYR"},
};

/* Each CPU interface: ICC_CTLR_EL1 (PRIbits) before the active-priority registers. */
static const struct reg_run icc_regs[] = {
    {A64_GIC_ICC, ICC(0u, 12u, 12u, 5u), 0, 1, "ICC_SRE_EL1"},
    {A64_GIC_ICC, ICC_CTLR_EL1, 0, 1, "ICC_CTLR_EL1"},
    {A64_GIC_ICC, ICC(0u, 12u, 12u, 6u), 0, 1, "ICC_IGRPEN0_EL1"},
    {A64_GIC_ICC, ICC(0u, 12u, 12u, 7u), 0, 1, "ICC_IGRPEN1_EL1"},
    {A64_GIC_ICC, ICC(0u, 4u, 6u, 0u), 0, 1, "ICC_PMR_EL1"},
    {A64_GIC_ICC, ICC(0u, 12u, 8u, 3u), 0, 1, "ICC_BPR0_EL1"},
    {A64_GIC_ICC, ICC(0u, 12u, 12u, 3u), 0, 1, "ICC_BPR1_EL1"},
};

static const char *const ap_names[2][4] = {
    {"ICC_AP0R0_EL1", "ICC_AP0R1_EL1", "ICC_AP0R2_EL1", "ICC_AP0R3_EL1"},
    {"ICC_AP1R0_EL1", "ICC_AP1R1_EL1", "ICC_AP1R2_EL1", "ICC_AP1R3_EL1"},
};

typedef int (*visit_fn)(void *arg, const struct aarch64_gic_reg *r, uint64_t *val);

/* Active-priority registers per group that PRIbits implies (GICv3 spec, ICC_AP0R<n>_EL1). */
static unsigned int nr_apr(uint64_t icc_ctlr)
{
	unsigned int pribits = ICC_CTLR_PRIBITS(icc_ctlr);

	return pribits >= 7 ? 4 : pribits == 6 ? 2 : 1;
}

static int visit_runs(const struct reg_run *runs, size_t n, unsigned int vcpu, visit_fn fn,
		      void *arg, uint64_t *icc_ctlr)
{
	for (size_t i = 0; i < n; i++) {
		for (unsigned int k = 0; k < runs[i].count; k++) {
			struct aarch64_gic_reg r = {
			    .space = runs[i].space,
			    .vcpu = (uint16_t)vcpu,
			    .offset = runs[i].offset + 4 * k,
			    .clear = runs[i].clear ? runs[i].clear + 4 * k : 0,
			    .name = runs[i].name,
			};
			uint64_t val = 0;
			int rc = fn(arg, &r, &val);

			if (rc < 0)
				return rc;
			if (r.space == A64_GIC_ICC && r.offset == ICC_CTLR_EL1)
				*icc_ctlr = val;
		}
	}
	return 0;
}

/* The distributor's per-SPI registers, 32-bit word by word, for SPIs 32..nr_irqs-1. */
static int visit_spis(unsigned int nr_irqs, visit_fn fn, void *arg)
{
	for (size_t i = 0; i < sizeof(dist_spi_regs) / sizeof(dist_spi_regs[0]); i++) {
		const struct spi_reg *s = &dist_spi_regs[i];
		uint32_t first = s->base + 32 * s->bits / 8;
		unsigned int words = (nr_irqs - 32) * s->bits / 32;

		for (unsigned int k = 0; k < words; k++) {
			struct aarch64_gic_reg r = {
			    .space = s->space,
			    .offset = s->space == A64_GIC_LEVEL ? 32 + 32 * k : first + 4 * k,
			    .clear = s->clear ? s->clear + 32 * s->bits / 8 + 4 * k : 0,
			    .name = s->name,
			};
			uint64_t val = 0;
			int rc = fn(arg, &r, &val);

			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int visit_icc(unsigned int vcpu, visit_fn fn, void *arg)
{
	uint64_t ctlr = 0;
	struct reg_run ap[8];
	unsigned int n;
	int rc;

	rc = visit_runs(icc_regs, sizeof(icc_regs) / sizeof(icc_regs[0]), vcpu, fn, arg, &ctlr);
	if (rc < 0)
		return rc;
	n = nr_apr(ctlr);
	for (unsigned int i = 0; i < n; i++) {
		ap[i] = (struct reg_run){A64_GIC_ICC, ICC_AP0R_EL1(i), 0, 1, ap_names[0][i]};
		ap[n + i] = (struct reg_run){A64_GIC_ICC, ICC_AP1R_EL1(i), 0, 1, ap_names[1][i]};
	}
	return visit_runs(ap, 2 * n, vcpu, fn, arg, &ctlr);
}

/*
 * Every register of the layout, in restore order: distributor control,
 * redistributors, the distributor's SPIs, CPU interfaces (the order of QEMU's
 * kvm_arm_gicv3_put()).
 */
static int walk(const struct aarch64_gic_layout *l, visit_fn fn, void *arg)
{
	uint64_t unused;
	int rc;

	rc = visit_runs(dist_head, sizeof(dist_head) / sizeof(dist_head[0]), 0, fn, arg, &unused);
	for (unsigned int v = 0; v < l->nr_vcpus && rc == 0; v++)
		rc = visit_runs(redist_regs, sizeof(redist_regs) / sizeof(redist_regs[0]), v, fn,
				arg, &unused);
	if (rc == 0)
		rc = visit_spis(l->nr_irqs, fn, arg);
	for (unsigned int v = 0; v < l->nr_vcpus && rc == 0; v++)
		rc = visit_icc(v, fn, arg);
	return rc;
}

/* "GICR_ISPENDR0 of vcpu1 (GICR+0x10200)", for messages. */
static void describe(const struct aarch64_gic_reg *r, char *buf, size_t size)
{
	switch (r->space) {
	case A64_GIC_DIST:
		snprintf(buf, size, "%s (GICD+0x%x)", r->name, r->offset);
		break;
	case A64_GIC_REDIST:
		snprintf(buf, size, "%s of vcpu%u (GICR+0x%x)", r->name, r->vcpu, r->offset);
		break;
	case A64_GIC_ICC:
		snprintf(buf, size, "%s of vcpu%u", r->name, r->vcpu);
		break;
	default:
		snprintf(buf, size, "%s of INTIDs %u..%u (vcpu%u)", r->name, r->offset,
			 r->offset + 31, r->vcpu);
	}
}

static bool layout_ok(const struct aarch64_gic_layout *l)
{
	return l->nr_vcpus >= 1 && l->nr_vcpus <= A64_GIC_MAX_VCPUS && l->nr_irqs >= 64 &&
	       l->nr_irqs <= 1024 && !(l->nr_irqs % 32);
}

/* ---- save ---- */

struct saver {
	const struct aarch64_gic_ops *ops;
	void *ctx;
	uint8_t *buf;
	size_t len, cap;
	uint32_t nr;
};

static int save_visit(void *arg, const struct aarch64_gic_reg *r, uint64_t *val)
{
	struct saver *s = arg;
	char name[96];
	uint8_t *p;
	int rc;

	rc = s->ops->get(s->ctx, r, val);
	if (rc < 0) {
		describe(r, name, sizeof(name));
		pr_err("vgic snapshot: reading %s: %s", name, strerror(-rc));
		return rc;
	}
	if (s->len + A64_GIC_REC_LEN > s->cap) {
		p = realloc(s->buf, s->cap * 2);
		if (!p)
			return -ENOMEM;
		s->buf = p;
		s->cap *= 2;
	}
	p = s->buf + s->len;
	p[0] = r->space;
	p[1] = 0;
	a64_st16(p + 2, r->vcpu);
	a64_st32(p + 4, r->offset);
	a64_st64(p + 8, *val);
	s->len += A64_GIC_REC_LEN;
	s->nr++;
	return 0;
}

int aarch64_gic_snap_save(const struct aarch64_gic_ops *ops, void *ctx,
			  const struct aarch64_gic_layout *l, uint8_t **blob, size_t *len)
{
	size_t head = A64_GIC_HDR_LEN + 8 * (size_t)l->nr_vcpus;
	struct saver s = {.ops = ops, .ctx = ctx, .len = head, .cap = head + 256 * A64_GIC_REC_LEN};
	int rc;

	if (!layout_ok(l))
		return -EINVAL;
	s.buf = malloc(s.cap);
	if (!s.buf)
		return -ENOMEM;
	rc = walk(l, save_visit, &s);
	if (rc < 0) {
		free(s.buf);
		return rc;
	}
	a64_st32(s.buf, A64_GIC_MAGIC);
	a64_st16(s.buf + 4, A64_GIC_VERSION);
	a64_st16(s.buf + 6, 0);
	a64_st32(s.buf + 8, l->nr_vcpus);
	a64_st32(s.buf + 12, l->nr_irqs);
	a64_st32(s.buf + 16, s.nr);
	a64_st32(s.buf + 20, 0);
	for (unsigned int v = 0; v < l->nr_vcpus; v++)
		a64_st64(s.buf + A64_GIC_HDR_LEN + 8 * v, l->mpidr[v] & A64_MPIDR_AFF_MASK);
	*blob = s.buf;
	*len = s.len;
	return 0;
}

/* ---- check and restore ---- */

struct reader {
	const struct aarch64_gic_ops *ops; /* NULL: check only */
	void *ctx;
	const uint8_t *recs;
	uint32_t nr, next;
	char *err;
	size_t errlen;
};

static int check_header(const struct aarch64_gic_layout *l, const uint8_t *blob, size_t len,
			char *err, size_t errlen)
{
	uint32_t nr_vcpus, nr_irqs, nr;

	if (len < A64_GIC_HDR_LEN)
		return aarch64_snap_errf(err, errlen, -EINVAL,
					 "vgic state: %zu bytes, shorter than its header", len);
	if (a64_ld32(blob) != A64_GIC_MAGIC)
		return aarch64_snap_errf(err, errlen, -EINVAL, "not a vgic state (bad magic)");
	if (a64_ld16(blob + 4) != A64_GIC_VERSION)
		return aarch64_snap_errf(err, errlen, -EINVAL,
					 "vgic state version %u; this build reads version %d",
					 a64_ld16(blob + 4), A64_GIC_VERSION);
	if (a64_ld16(blob + 6) || a64_ld32(blob + 20))
		return aarch64_snap_errf(err, errlen, -EINVAL, "vgic state: unknown flags");
	nr_vcpus = a64_ld32(blob + 8);
	nr_irqs = a64_ld32(blob + 12);
	nr = a64_ld32(blob + 16);
	if (nr_vcpus != l->nr_vcpus)
		return aarch64_snap_errf(err, errlen, -EINVAL,
					 "vgic state for %u vCPUs, this VM has %u", nr_vcpus,
					 l->nr_vcpus);
	if (nr_irqs != l->nr_irqs)
		return aarch64_snap_errf(err, errlen, -EINVAL,
					 "vgic state for %u interrupts, this VM's vGIC has %u",
					 nr_irqs, l->nr_irqs);
	if (nr > MAX_RECORDS ||
	    len != A64_GIC_HDR_LEN + 8 * (size_t)nr_vcpus + A64_GIC_REC_LEN * (size_t)nr)
		return aarch64_snap_errf(
		    err, errlen, -EINVAL,
		    "vgic state: %zu bytes do not hold %u vCPUs and %u records", len, nr_vcpus, nr);
	for (unsigned int v = 0; v < nr_vcpus; v++) {
		uint64_t m = a64_ld64(blob + A64_GIC_HDR_LEN + 8 * v);

		if ((m ^ l->mpidr[v]) & A64_MPIDR_AFF_MASK)
			return aarch64_snap_errf(
			    err, errlen, -EINVAL,
			    "vgic state: vcpu%u has MPIDR 0x%llx, this VM's"
			    " 0x%llx",
			    v, (unsigned long long)m,
			    (unsigned long long)(l->mpidr[v] & A64_MPIDR_AFF_MASK));
	}
	return 0;
}

/* The next record must be r; its value goes to *val. */
static int read_visit(void *arg, const struct aarch64_gic_reg *r, uint64_t *val)
{
	struct reader *rd = arg;
	const uint8_t *p = rd->recs + (size_t)rd->next * A64_GIC_REC_LEN;
	char name[96];

	if (rd->next == rd->nr) {
		describe(r, name, sizeof(name));
		return aarch64_snap_errf(rd->err, rd->errlen, -EINVAL,
					 "vgic state: ends after %u records, before %s", rd->nr,
					 name);
	}
	if (p[1])
		return aarch64_snap_errf(rd->err, rd->errlen, -EINVAL,
					 "vgic state: record %u has its reserved byte set",
					 rd->next);
	if (p[0] != r->space || a64_ld16(p + 2) != r->vcpu || a64_ld32(p + 4) != r->offset) {
		describe(r, name, sizeof(name));
		return aarch64_snap_errf(rd->err, rd->errlen, -EINVAL,
					 "vgic state: record %u is space %u vcpu %u offset 0x%x,"
					 " not %s",
					 rd->next, p[0], a64_ld16(p + 2), a64_ld32(p + 4), name);
	}
	*val = a64_ld64(p + 8);
	if (r->space != A64_GIC_ICC && *val > UINT32_MAX) {
		describe(r, name, sizeof(name));
		return aarch64_snap_errf(rd->err, rd->errlen, -EINVAL,
					 "vgic state: %s = 0x%llx does not fit its 32 bits", name,
					 (unsigned long long)*val);
	}
	rd->next++;
	return 0;
}

/* Write r (and first its clear companion, so only the saved bits stay set). */
static int restore_visit(void *arg, const struct aarch64_gic_reg *r, uint64_t *val)
{
	struct reader *rd = arg;
	struct aarch64_gic_reg clear = *r;
	char name[96];
	int rc;

	rc = read_visit(rd, r, val);
	if (rc < 0)
		return rc;
	clear.offset = r->clear;
	rc = r->clear ? rd->ops->set(rd->ctx, &clear, ~*val & UINT32_MAX) : 0;
	if (rc == 0)
		rc = rd->ops->set(rd->ctx, r, *val);
	if (rc < 0) {
		describe(r, name, sizeof(name));
		return aarch64_snap_errf(rd->err, rd->errlen, rc, "restoring %s = 0x%llx: %s", name,
					 (unsigned long long)*val, strerror(-rc));
	}
	return 0;
}

static int read_all(struct reader *rd, const struct aarch64_gic_layout *l, const uint8_t *blob,
		    size_t len)
{
	int rc;

	if (!layout_ok(l))
		return aarch64_snap_errf(rd->err, rd->errlen, -EINVAL, "vgic: bad VM layout");
	rc = check_header(l, blob, len, rd->err, rd->errlen);
	if (rc < 0)
		return rc;
	rd->recs = blob + A64_GIC_HDR_LEN + 8 * (size_t)l->nr_vcpus;
	rd->nr = a64_ld32(blob + 16);
	rc = walk(l, rd->ops ? restore_visit : read_visit, rd);
	if (rc == 0 && rd->next != rd->nr)
		rc = aarch64_snap_errf(rd->err, rd->errlen, -EINVAL,
				       "vgic state: %u records after the last register",
				       rd->nr - rd->next);
	return rc;
}

int aarch64_gic_snap_check(const struct aarch64_gic_layout *l, const uint8_t *blob, size_t len,
			   char *err, size_t errlen)
{
	struct reader rd = {.err = err, .errlen = errlen};

	return read_all(&rd, l, blob, len);
}

int aarch64_gic_snap_restore(const struct aarch64_gic_ops *ops, void *ctx,
			     const struct aarch64_gic_layout *l, const uint8_t *blob, size_t len,
			     char *err, size_t errlen)
{
	struct reader rd = {.ops = ops, .ctx = ctx, .err = err, .errlen = errlen};
	int rc;

	rc = aarch64_gic_snap_check(l, blob, len, err, errlen);
	if (rc < 0)
		return rc;
	return read_all(&rd, l, blob, len);
}
