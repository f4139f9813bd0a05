/* Unit tests: the aarch64 vGICv3 snapshot blob, saved from and restored to a fake KVM vGIC. */
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

#include "arch/aarch64/snap.h"

#define NR_VCPUS 2
#define NR_IRQS	 96
#define MAX_REGS 1024
#define MAX_LOG	 2048

#define ICC_CTLR  A64_SYSREG_ENC(3u, 0u, 12u, 12u, 4u)
#define ICC_AP0R0 A64_SYSREG_ENC(3u, 0u, 12u, 8u, 4u)
#define ICC_AP1R0 A64_SYSREG_ENC(3u, 0u, 12u, 9u, 0u)
#define GICD_IIDR 0x0008
#define GICD_CTLR 0x0000

static const uint64_t mpidr[NR_VCPUS] = {0x80000000, 0x80000001};
static const struct aarch64_gic_layout layout = {NR_VCPUS, NR_IRQS, mpidr};

struct key { /* no padding: compared with memcmp */
	uint32_t space, vcpu, offset;
};

/*
 * A vGIC as KVM's uaccess shows it: enable and active bits set through
 * IS*R and cleared through the IC*R 0x80 above; the active-priority registers
 * a CPU interface's PRIbits allows, and no more PRIbits than the host has.
 */
struct fake_gic {
	struct key keys[MAX_REGS];
	uint64_t vals[MAX_REGS];
	unsigned int n;
	unsigned int seed; /* unwritten registers read as a hash of this (0: as zero) */
	unsigned int host_pribits;
	struct key log[MAX_LOG]; /* the sets, in order */
	unsigned int nr_log;
};

static bool is_clear(const struct key *k)
{
	uint32_t o = k->offset;

	if (k->space == A64_GIC_DIST)
		return (o >= 0x180 && o < 0x200) || (o >= 0x380 && o < 0x400);
	return k->space == A64_GIC_REDIST && (o == 0x10180 || o == 0x10380);
}

static uint64_t *slot(struct fake_gic *g, struct key k)
{
	for (unsigned int i = 0; i < g->n; i++)
		if (!memcmp(&g->keys[i], &k, sizeof(k)))
			return &g->vals[i];
	assert_true(g->n < MAX_REGS);
	g->keys[g->n] = k;
	g->vals[g->n] = 0;
	if (g->seed) {
		uint64_t h =
		    (k.space * 1000003u + k.vcpu * 7919u + k.offset) * 2654435761u * g->seed;

		g->vals[g->n] = k.space == A64_GIC_ICC ? h % 256 : (uint32_t)(h ^ h >> 29);
	}
	if (!g->seed && k.space == A64_GIC_REDIST && k.offset == 0x10100)
		g->vals[g->n] = 0xffff; /* KVM resets SGIs enabled */
	if (k.space == A64_GIC_ICC && k.offset == ICC_CTLR)
		g->vals[g->n] = (uint64_t)(g->host_pribits - 1) << 8 | (g->vals[g->n] & 3);
	return &g->vals[g->n++];
}

static struct key key_of(const struct aarch64_gic_reg *r)
{
	return (struct key){r->space, r->vcpu, r->offset};
}

/* Active-priority register n of a group is there only for enough PRIbits. */
static bool ap_ok(struct fake_gic *g, const struct key *k)
{
	bool ap0 = k->offset >= ICC_AP0R0 && k->offset < ICC_AP0R0 + 4;
	bool ap1 = k->offset >= ICC_AP1R0 && k->offset < ICC_AP1R0 + 4;
	unsigned int idx, pribits;

	if (k->space != A64_GIC_ICC || !(ap0 || ap1))
		return true;
	idx = k->offset - (ap0 ? ICC_AP0R0 : ICC_AP1R0);
	pribits =
	    (unsigned int)((*slot(g, (struct key){A64_GIC_ICC, k->vcpu, ICC_CTLR}) >> 8) & 7) + 1;
	return idx <= (pribits == 7 ? 3u : pribits == 6 ? 1u : 0u);
}

static int fake_get(void *ctx, const struct aarch64_gic_reg *r, uint64_t *val)
{
	struct fake_gic *g = ctx;
	struct key k = key_of(r);

	if (!ap_ok(g, &k))
		return -EINVAL;
	*val = *slot(g, k);
	return 0;
}

static int fake_set(void *ctx, const struct aarch64_gic_reg *r, uint64_t val)
{
	struct fake_gic *g = ctx;
	struct key k = key_of(r);

	assert_true(g->nr_log < MAX_LOG);
	g->log[g->nr_log++] = k;
	if (!ap_ok(g, &k))
		return -EINVAL;
	if (k.space == A64_GIC_ICC && k.offset == ICC_CTLR &&
	    ((val >> 8) & 7) + 1 > g->host_pribits)
		return -EINVAL;
	if (is_clear(&k)) {
		k.offset -= 0x80;
		*slot(g, k) &= ~val;
	} else if (k.space != A64_GIC_LEVEL &&
		   (k.offset == 0x10100 || k.offset == 0x10300 ||
		    (k.space == A64_GIC_DIST && ((k.offset >= 0x100 && k.offset < 0x180) ||
						 (k.offset >= 0x300 && k.offset < 0x380))))) {
		*slot(g, k) |= val; /* set-enable, set-active: only adds */
	} else {
		*slot(g, k) = val;
	}
	return 0;
}

static const struct aarch64_gic_ops fake_ops = {.get = fake_get, .set = fake_set};

static void fake_init(struct fake_gic *g, unsigned int seed, unsigned int pribits)
{
	memset(g, 0, sizeof(*g));
	g->seed = seed;
	g->host_pribits = pribits;
}

static uint8_t *save(struct fake_gic *g, size_t *len)
{
	uint8_t *blob = NULL;

	assert_int_equal(aarch64_gic_snap_save(&fake_ops, g, &layout, &blob, len), 0);
	assert_non_null(blob);
	return blob;
}

/* Records: distributor head, redistributors, SPI words, CPU interfaces (7 + 2 * APs). */
static size_t nr_records(unsigned int aps)
{
	size_t spi_words = (NR_IRQS - 32) * (1 + 1 + 64 + 2 + 1 + 1 + 1 + 8) / 32;

	return 2 + NR_VCPUS * 15 + spi_words + NR_VCPUS * (7 + 2 * aps);
}

static void test_arch_snap_gic_roundtrip(void **state)
{
	static struct fake_gic a, b;
	uint8_t *blob, *again;
	size_t len, len2;
	char err[256] = "";

	(void)state;
	fake_init(&a, 7, 5);
	fake_init(&b, 0, 5);
	blob = save(&a, &len);
	assert_int_equal(len, A64_GIC_HDR_LEN + 8 * NR_VCPUS + 16 * nr_records(1));
	assert_int_equal(
	    aarch64_gic_snap_restore(&fake_ops, &b, &layout, blob, len, err, sizeof(err)), 0);
	/* What B holds now saves to the same bytes: every register came over, SGI enables too. */
	again = save(&b, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(again, blob, len);
	free(again);
	free(blob);
}

static void test_arch_snap_gic_layout_bytes(void **state)
{
	static struct fake_gic a;
	uint8_t *blob;
	size_t len;

	(void)state;
	fake_init(&a, 3, 5);
	blob = save(&a, &len);
	assert_memory_equal(blob, "TGI3\x01\x00\x00\x00\x02\x00\x00\x00\x60\x00\x00\x00", 16);
	assert_int_equal(a64_ld32(blob + 16), nr_records(1));
	assert_int_equal(a64_ld32(blob + 20), 0);
	assert_int_equal(a64_ld64(blob + 24), 0);
	assert_int_equal(a64_ld64(blob + 32), 1);
	/* Record 0: GICD_IIDR of the distributor. */
	assert_int_equal(blob[40], A64_GIC_DIST);
	assert_int_equal(a64_ld16(blob + 42), 0);
	assert_int_equal(a64_ld32(blob + 44), GICD_IIDR);
	free(blob);
}

static void test_arch_snap_gic_apr_follow_pribits(void **state)
{
	static struct fake_gic a, b;
	static const unsigned int aps[8] = {[5] = 1, [6] = 2, [7] = 4};
	char err[256] = "";

	(void)state;
	for (unsigned int pribits = 5; pribits <= 7; pribits++) {
		uint8_t *blob;
		size_t len;

		fake_init(&a, 11, pribits);
		fake_init(&b, 0, 7);
		blob = save(&a, &len);
		assert_int_equal(a64_ld32(blob + 16), nr_records(aps[pribits]));
		/* A host with more PRIbits takes fewer (KVM lowers its own to match). */
		assert_int_equal(
		    aarch64_gic_snap_restore(&fake_ops, &b, &layout, blob, len, err, sizeof(err)),
		    0);
		free(blob);
	}
}

static unsigned int log_index(const struct fake_gic *g, struct key k)
{
	for (unsigned int i = 0; i < g->nr_log; i++)
		if (!memcmp(&g->log[i], &k, sizeof(k)))
			return i;
	fail_msg("no set of space %u vcpu %u offset 0x%x", k.space, k.vcpu, k.offset);
	return 0;
}

static void test_arch_snap_gic_restore_order(void **state)
{
	static struct fake_gic a, b;
	unsigned int first_spi = 0, last_redist = 0, first_icc = 0;
	char err[256] = "";
	uint8_t *blob;
	size_t len;

	(void)state;
	fake_init(&a, 5, 6);
	fake_init(&b, 0, 6);
	blob = save(&a, &len);
	assert_int_equal(
	    aarch64_gic_snap_restore(&fake_ops, &b, &layout, blob, len, err, sizeof(err)), 0);
	/* GICD_IIDR first, then GICD_CTLR. */
	assert_int_equal(b.log[0].offset, GICD_IIDR);
	assert_int_equal(b.log[1].offset, GICD_CTLR);
	for (unsigned int i = 2; i < b.nr_log; i++) {
		if (b.log[i].space == A64_GIC_REDIST)
			last_redist = i;
		if (!first_spi && b.log[i].space == A64_GIC_DIST)
			first_spi = i;
		if (!first_icc && b.log[i].space == A64_GIC_ICC)
			first_icc = i;
	}
	/* Redistributors, then the distributor's SPIs, then the CPU interfaces, last. */
	assert_true(last_redist < first_spi);
	assert_true(first_spi < first_icc);
	for (unsigned int i = first_icc; i < b.nr_log; i++)
		assert_int_equal(b.log[i].space, A64_GIC_ICC);
	for (uint32_t v = 0; v < NR_VCPUS; v++) {
		/* Clear-enable just before set-enable; ICC_CTLR before the APRs it sizes. */
		assert_int_equal(log_index(&b, (struct key){A64_GIC_REDIST, v, 0x10180}) + 1,
				 log_index(&b, (struct key){A64_GIC_REDIST, v, 0x10100}));
		assert_true(log_index(&b, (struct key){A64_GIC_ICC, v, ICC_CTLR}) <
			    log_index(&b, (struct key){A64_GIC_ICC, v, ICC_AP1R0 + 1}));
	}
	/* Line levels before the pending latches they combine with. */
	assert_true(log_index(&b, (struct key){A64_GIC_LEVEL, 0, 32}) <
		    log_index(&b, (struct key){A64_GIC_DIST, 0, 0x204}));
	free(blob);
}

static void test_arch_snap_gic_host_refuses(void **state)
{
	static struct fake_gic a, b;
	char err[256] = "";
	uint8_t *blob;
	size_t len;

	(void)state;
	fake_init(&a, 5, 7);
	fake_init(&b, 0, 5); /* fewer PRIbits than the snapshot's: KVM says EINVAL */
	blob = save(&a, &len);
	assert_int_equal(
	    aarch64_gic_snap_restore(&fake_ops, &b, &layout, blob, len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "restoring ICC_CTLR_EL1 of vcpu0 = 0x6"));
	assert_non_null(strstr(err, "Invalid argument"));
	free(blob);
}

enum mutation {
	M_SHORT,
	M_MAGIC,
	M_VERSION,
	M_FLAGS,
	M_RESERVED,
	M_VCPUS,
	M_IRQS,
	M_MPIDR,
	M_CUT,
	M_EXTRA_BYTES,
	M_EXTRA_RECORD,
	M_SWAP,
	M_WIDE,
	M_REC_RESERVED,
	M_PRIBITS,
	M_HUGE_COUNT
};

static const struct bad_case {
	const char *name;
	enum mutation m;
	const char *err;
} bad_cases[] = {
    {"short", M_SHORT, "shorter than its header"},
    {"magic", M_MAGIC, "bad magic"},
    {"version", M_VERSION, "version 9; this build reads version 1"},
    {"flags", M_FLAGS, "unknown flags"},
    {"reserved", M_RESERVED, "unknown flags"},
    {"vcpus", M_VCPUS, "vgic state for 3 vCPUs, this VM has 2"},
    {"irqs", M_IRQS, "for 128 interrupts, this VM's vGIC has 96"},
    {"mpidr", M_MPIDR, "vcpu1 has MPIDR 0x2, this VM's 0x1"},
    {"cut", M_CUT, "do not hold 2 vCPUs"},
    {"extra_bytes", M_EXTRA_BYTES, "do not hold 2 vCPUs"},
    {"extra_record", M_EXTRA_RECORD, "1 records after the last register"},
    {"swapped", M_SWAP,
     "record 3 is space 2 vcpu 0 offset 0x10100, not GICR_IGROUPR0 of"
     " vcpu0 (GICR+0x10080)"},
    {"wide_value", M_WIDE, "GICD_IIDR (GICD+0x8) = 0x100000000 does not fit its 32 bits"},
    {"record_reserved", M_REC_RESERVED, "record 0 has its reserved byte set"},
    {"pribits", M_PRIBITS, "not ICC_AP0R1_EL1 of vcpu0"},
    {"huge_count", M_HUGE_COUNT, "do not hold"},
};

static size_t rec(unsigned int i)
{
	return A64_GIC_HDR_LEN + 8 * NR_VCPUS + 16 * (size_t)i;
}

/* Index of the first record of (space, vcpu, offset) in a blob. */
static unsigned int find_rec(const uint8_t *b, uint8_t space, uint16_t vcpu, uint32_t off)
{
	for (unsigned int i = 0;; i++)
		if (b[rec(i)] == space && a64_ld16(b + rec(i) + 2) == vcpu &&
		    a64_ld32(b + rec(i) + 4) == off)
			return i;
}

static uint8_t *spoil(const struct bad_case *c, size_t *len)
{
	static struct fake_gic a;
	uint8_t *blob, *b, tmp[16];

	fake_init(&a, 9, 5);
	blob = save(&a, len);
	b = calloc(1, *len + 64);
	assert_non_null(b);
	memcpy(b, blob, *len);
	free(blob);
	switch (c->m) {
	case M_SHORT:
		*len = 23;
		break;
	case M_MAGIC:
		b[3] = 'x';
		break;
	case M_VERSION:
		a64_st16(b + 4, 9);
		break;
	case M_FLAGS:
		a64_st16(b + 6, 1);
		break;
	case M_RESERVED:
		a64_st32(b + 20, 1);
		break;
	case M_VCPUS:
		a64_st32(b + 8, 3);
		break;
	case M_IRQS:
		a64_st32(b + 12, 128);
		break;
	case M_MPIDR:
		a64_st64(b + 32, 2);
		break;
	case M_CUT:
		*len -= 8;
		break;
	case M_EXTRA_BYTES:
		*len += 16;
		break;
	case M_EXTRA_RECORD:
		a64_st32(b + 16, a64_ld32(b + 16) + 1);
		memcpy(b + *len, b + rec(0), 16);
		*len += 16;
		break;
	case M_SWAP: /* GICR_IGROUPR0 and GICR_ISENABLER0 of vcpu0 */
		memcpy(tmp, b + rec(3), 16);
		memcpy(b + rec(3), b + rec(4), 16);
		memcpy(b + rec(4), tmp, 16);
		break;
	case M_WIDE:
		a64_st64(b + rec(0) + 8, 1ull << 32);
		break;
	case M_REC_RESERVED:
		b[rec(0) + 1] = 1;
		break;
	case M_PRIBITS: /* vcpu0's ICC_CTLR says 6 PRIbits: two APRs per group expected */
		b[rec(find_rec(b, A64_GIC_ICC, 0, ICC_CTLR)) + 9] = 5;
		break;
	case M_HUGE_COUNT:
		a64_st32(b + 16, 0xffffffffu);
		break;
	}
	return b;
}

static void test_arch_snap_gic_rejects_bad_blobs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		static struct fake_gic b;
		char err[256] = "";
		size_t len;
		uint8_t *blob = spoil(c, &len);

		print_message("case %s\n", c->name);
		assert_int_equal(aarch64_gic_snap_check(&layout, blob, len, err, sizeof(err)),
				 -EINVAL);
		if (!strstr(err, c->err))
			fail_msg("case %s: \"%s\" lacks \"%s\"", c->name, err, c->err);
		fake_init(&b, 0, 7);
		assert_int_equal(
		    aarch64_gic_snap_restore(&fake_ops, &b, &layout, blob, len, err, sizeof(err)),
		    -EINVAL);
		assert_int_equal(b.nr_log, 0); /* nothing written */
		free(blob);
	}
}

static void test_arch_snap_gic_mutations_never_crash(void **state)
{
	static struct fake_gic a;
	uint8_t *blob, *b;
	size_t len;
	char err[256];

	(void)state;
	fake_init(&a, 4, 7);
	blob = save(&a, &len);
	srand(2);
	for (int n = 0; n < 5000; n++) {
		size_t cut = (size_t)rand() % (len + 1);
		int rc;

		b = malloc(len);
		assert_non_null(b);
		memcpy(b, blob, len);
		for (int k = rand() % 3; k >= 0; k--)
			b[(size_t)rand() % len] ^= (uint8_t)(1u << (rand() % 8));
		rc = aarch64_gic_snap_check(&layout, b, n % 2 ? cut : len, err, sizeof(err));
		assert_true(rc == 0 || rc == -EINVAL);
		free(b);
	}
	free(blob);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_arch_snap_gic_roundtrip),
	    cmocka_unit_test(test_arch_snap_gic_layout_bytes),
	    cmocka_unit_test(test_arch_snap_gic_apr_follow_pribits),
	    cmocka_unit_test(test_arch_snap_gic_restore_order),
	    cmocka_unit_test(test_arch_snap_gic_host_refuses),
	    cmocka_unit_test(test_arch_snap_gic_rejects_bad_blobs),
	    cmocka_unit_test(test_arch_snap_gic_mutations_never_crash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
