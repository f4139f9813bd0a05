/* Unit tests: the aarch64 vCPU snapshot blob, saved from and restored to a fake KVM vCPU. */
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

#define U32		0x0020000000000000ull
#define U64		A64_REG_SIZE_U64
#define U128		0x0040000000000000ull
#define CORE(size, off) (A64_REG_ARM64 | (size) | A64_REG_CORE | (off))
#define REG_X0		CORE(U64, 0)
#define REG_PC		CORE(U64, 64)
#define REG_V0		CORE(U128, 84)
#define REG_FPSR	CORE(U32, 212)
#define REG_PSCI	(A64_REG_ARM64 | U64 | A64_REG_FW | 0)
#define REG_MIDR	A64_SYSREG(3ull, 0ull, 0ull, 0ull, 0ull)
#define REG_SCTLR	A64_SYSREG(3ull, 0ull, 1ull, 0ull, 0ull)
#define REG_CCSIDR	(A64_REG_ARM64 | U32 | A64_REG_DEMUX | 2)
#define MPIDR1		0x80000001ull /* KVM's MPIDR_EL1 of vCPU 1 */

static const uint64_t reg_ids[] = {
    REG_X0,   REG_PC,	 REG_V0,     REG_FPSR, REG_PSCI, A64_REG_TIMER_CNT, A64_REG_MPIDR_EL1,
    REG_MIDR, REG_SCTLR, REG_CCSIDR,
};
#define NR_REGS (sizeof(reg_ids) / sizeof(reg_ids[0]))

/* A vCPU as KVM shows it: listed registers, values, refusals, and a log of the sets. */
struct fake_vcpu {
	uint64_t ids[NR_REGS + 1];
	uint8_t val[NR_REGS + 1][16];
	size_t n;
	uint32_t mp;
	uint64_t refuse_get, refuse_set; /* this id fails (0: none) */
	uint64_t set_log[NR_REGS + 2];
	size_t nr_sets;
	bool mp_set;
};

static size_t size_of(uint64_t id)
{
	return (size_t)1 << ((id & A64_REG_SIZE_MASK) >> A64_REG_SIZE_SHIFT);
}

static int find(struct fake_vcpu *f, uint64_t id)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->ids[i] == id)
			return (int)i;
	return -1;
}

static int fake_reg_list(void *ctx, uint64_t **ids, size_t *n)
{
	struct fake_vcpu *f = ctx;

	*ids = malloc(sizeof(f->ids));
	if (!*ids)
		return -ENOMEM;
	memcpy(*ids, f->ids, f->n * sizeof(uint64_t));
	*n = f->n;
	return 0;
}

static int fake_get_reg(void *ctx, uint64_t id, void *val)
{
	struct fake_vcpu *f = ctx;
	int i = find(f, id);

	if (i < 0 || id == f->refuse_get)
		return -ENOENT;
	memcpy(val, f->val[i], size_of(id));
	return 0;
}

static int fake_set_reg(void *ctx, uint64_t id, const void *val)
{
	struct fake_vcpu *f = ctx;
	int i = find(f, id);

	if (i < 0)
		return -ENOENT;
	if (id == f->refuse_set)
		return -EINVAL;
	assert_false(f->mp_set); /* registers before the mp_state */
	memcpy(f->val[i], val, size_of(id));
	f->set_log[f->nr_sets++] = id;
	return 0;
}

static int fake_get_mp_state(void *ctx, uint32_t *state)
{
	*state = ((struct fake_vcpu *)ctx)->mp;
	return 0;
}

static int fake_set_mp_state(void *ctx, uint32_t state)
{
	struct fake_vcpu *f = ctx;

	f->mp = state;
	f->mp_set = true;
	return 0;
}

static const struct aarch64_vcpu_ops fake_ops = {
    .reg_list = fake_reg_list,
    .get_reg = fake_get_reg,
    .set_reg = fake_set_reg,
    .get_mp_state = fake_get_mp_state,
    .set_mp_state = fake_set_mp_state,
};

/* A vCPU with every test register; values from seed (0: all zero), MPIDR always MPIDR1. */
static void fake_init(struct fake_vcpu *f, unsigned int seed)
{
	memset(f, 0, sizeof(*f));
	f->n = NR_REGS;
	memcpy(f->ids, reg_ids, sizeof(reg_ids));
	for (size_t i = 0; seed && i < NR_REGS; i++)
		for (size_t b = 0; b < 16; b++)
			f->val[i][b] = (uint8_t)(seed * 31 + i * 7 + b * 13);
	memcpy(f->val[find(f, A64_REG_MPIDR_EL1)], &(uint64_t){MPIDR1}, 8);
	f->mp = seed ? A64_MP_RUNNABLE : A64_MP_STOPPED;
}

static uint8_t *save(struct fake_vcpu *f, size_t *len)
{
	uint8_t *blob = NULL;

	assert_int_equal(aarch64_vcpu_snap_save(&fake_ops, f, &blob, len), 0);
	assert_non_null(blob);
	return blob;
}

static size_t expected_len(void)
{
	size_t len = A64_VCPU_HDR_LEN;

	for (size_t i = 0; i < NR_REGS; i++)
		len += A64_VCPU_REC_HDR + size_of(reg_ids[i]);
	return len;
}

static void test_arch_snap_vcpu_roundtrip(void **state)
{
	struct fake_vcpu a, b;
	char err[256] = "";
	uint8_t *blob;
	size_t len;

	(void)state;
	fake_init(&a, 3);
	fake_init(&b, 0);
	blob = save(&a, &len);
	assert_int_equal(len, expected_len());
	assert_int_equal(
	    aarch64_vcpu_snap_restore(&fake_ops, &b, blob, len, MPIDR1, err, sizeof(err)), 0);
	for (size_t i = 0; i < NR_REGS; i++)
		assert_memory_equal(a.val[i], b.val[i], size_of(reg_ids[i]));
	assert_int_equal(b.mp, A64_MP_RUNNABLE);
	assert_true(b.mp_set);
	/* Set in blob order, which is KVM's list order. */
	assert_int_equal(b.nr_sets, NR_REGS);
	assert_memory_equal(b.set_log, reg_ids, sizeof(reg_ids));
	free(blob);
}

static void test_arch_snap_vcpu_layout(void **state)
{
	struct fake_vcpu a;
	uint8_t *blob;
	size_t len;

	(void)state;
	fake_init(&a, 1);
	a.mp = A64_MP_STOPPED;
	blob = save(&a, &len);
	assert_memory_equal(blob, "TVCP\x01\x00\x00\x00\x05\x00\x00\x00", 12);
	assert_int_equal(a64_ld32(blob + 12), NR_REGS);
	/* First record: x0, 8 bytes, its value as KVM gave it. */
	assert_int_equal(a64_ld64(blob + 16), REG_X0);
	assert_int_equal(a64_ld16(blob + 24), 8);
	assert_memory_equal(blob + 26, a.val[0], 8);
	/* The third: v0, 16 bytes. */
	assert_int_equal(a64_ld64(blob + 16 + 18 + 18), REG_V0);
	assert_int_equal(a64_ld16(blob + 16 + 18 + 18 + 8), 16);
	free(blob);
}

/* Where record i starts in a blob saved from fake_init(). */
static size_t rec_off(unsigned int i)
{
	size_t off = A64_VCPU_HDR_LEN;

	for (unsigned int k = 0; k < i; k++)
		off += A64_VCPU_REC_HDR + size_of(reg_ids[k]);
	return off;
}

enum mutation {
	M_SHORT,
	M_MAGIC,
	M_VERSION,
	M_FLAGS,
	M_MP_STATE,
	M_TOO_MANY,
	M_COUNT_UP,
	M_SIZE,
	M_NOT_ARM64,
	M_CUT_VALUE,
	M_TRAILING,
	M_DUPLICATE,
	M_MPIDR
};

static const struct bad_case {
	const char *name;
	enum mutation m;
	const char *err; /* substring of the message */
} bad_cases[] = {
    {"short", M_SHORT, "shorter than its header"},
    {"magic", M_MAGIC, "bad magic"},
    {"version", M_VERSION, "version 2; this build reads version 1"},
    {"flags", M_FLAGS, "unknown flags 0x1"},
    {"mp_state", M_MP_STATE, "mp_state 3 is none"},
    {"too_many", M_TOO_MANY, "registers, more than"},
    {"count_past_end", M_COUNT_UP, "register 10 truncated"},
    {"size_vs_id", M_SIZE, "4 bytes, its id says 8"},
    {"not_arm64", M_NOT_ARM64, "is no arm64 register id"},
    {"cut_value", M_CUT_VALUE, "truncated"},
    {"trailing", M_TRAILING, "3 bytes after the last register"},
    {"duplicate", M_DUPLICATE, "appears twice"},
    {"mpidr", M_MPIDR, "MPIDR_EL1 0x80000002, this vCPU has 0x1"},
};

/* A saved blob spoilt as c says, in a buffer with room to grow; *len updated. */
static uint8_t *spoil(const struct bad_case *c, size_t *len)
{
	struct fake_vcpu a;
	uint8_t *blob, *b;

	fake_init(&a, 2);
	blob = save(&a, len);
	b = calloc(1, *len + 64);
	assert_non_null(b);
	memcpy(b, blob, *len);
	free(blob);
	switch (c->m) {
	case M_SHORT:
		*len = 15;
		break;
	case M_MAGIC:
		b[0] ^= 1;
		break;
	case M_VERSION:
		a64_st16(b + 4, 2);
		break;
	case M_FLAGS:
		a64_st16(b + 6, 1);
		break;
	case M_MP_STATE:
		a64_st32(b + 8, 3);
		break;
	case M_TOO_MANY:
		a64_st32(b + 12, 5000);
		break;
	case M_COUNT_UP:
		a64_st32(b + 12, NR_REGS + 1);
		break;
	case M_SIZE:
		a64_st16(b + rec_off(0) + 8, 4);
		break;
	case M_NOT_ARM64:
		a64_st64(b + rec_off(1), REG_PC ^ A64_REG_ARM64);
		break;
	case M_CUT_VALUE:
		*len -= 1;
		break;
	case M_TRAILING:
		*len += 3;
		break;
	case M_DUPLICATE:
		a64_st64(b + rec_off(1), REG_X0);
		break;
	case M_MPIDR:
		a64_st64(b + rec_off(6) + A64_VCPU_REC_HDR, 0x80000002);
		break;
	}
	return b;
}

static void test_arch_snap_vcpu_rejects_bad_blobs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct fake_vcpu b;
		char err[256] = "";
		size_t len;
		uint8_t *blob = spoil(c, &len);

		print_message("case %s\n", c->name);
		assert_int_equal(aarch64_vcpu_snap_check(blob, len, MPIDR1, err, sizeof(err)),
				 -EINVAL);
		if (!strstr(err, c->err))
			fail_msg("case %s: \"%s\" lacks \"%s\"", c->name, err, c->err);
		/* A restore of it sets nothing. */
		fake_init(&b, 0);
		assert_int_equal(
		    aarch64_vcpu_snap_restore(&fake_ops, &b, blob, len, MPIDR1, err, sizeof(err)),
		    -EINVAL);
		assert_int_equal(b.nr_sets, 0);
		assert_false(b.mp_set);
		free(blob);
	}
}

static void test_arch_snap_vcpu_unknown_register(void **state)
{
	struct fake_vcpu a, b;
	char err[256] = "";
	uint8_t *blob;
	size_t len;

	(void)state;
	fake_init(&a, 1);
	fake_init(&b, 0);
	blob = save(&a, &len);
	b.ids[find(&b, REG_SCTLR)] = REG_SCTLR + 1; /* this host lists another register */
	assert_int_equal(
	    aarch64_vcpu_snap_restore(&fake_ops, &b, blob, len, MPIDR1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "register S3_0_C1_C0_0 (0x603000000013c080) of the snapshot is"
				    " unknown to this host's KVM"));
	assert_int_equal(b.nr_sets, 0);
	free(blob);
}

static void test_arch_snap_vcpu_extra_register_keeps_value(void **state)
{
	struct fake_vcpu a, b;
	char err[256] = "";
	uint8_t *blob, want[16];
	size_t len;

	(void)state;
	fake_init(&a, 1);
	a.n--; /* the source lists one register fewer (an older kernel) */
	fake_init(&b, 0);
	memset(b.val[NR_REGS - 1], 0x5a, 16);
	memcpy(want, b.val[NR_REGS - 1], 16);
	blob = save(&a, &len);
	assert_int_equal(
	    aarch64_vcpu_snap_restore(&fake_ops, &b, blob, len, MPIDR1, err, sizeof(err)), 0);
	assert_int_equal(b.nr_sets, NR_REGS - 1);
	assert_memory_equal(b.val[NR_REGS - 1], want, 16);
	free(blob);
}

static void test_arch_snap_vcpu_refused_set(void **state)
{
	struct fake_vcpu a, b;
	char err[256] = "";
	uint8_t *blob;
	size_t len;

	(void)state;
	fake_init(&a, 1);
	fake_init(&b, 0);
	b.refuse_set = REG_MIDR;
	blob = save(&a, &len);
	assert_int_equal(
	    aarch64_vcpu_snap_restore(&fake_ops, &b, blob, len, MPIDR1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "setting MIDR_EL1 (0x603000000013c000): Invalid argument"
				    " (ID registers must match"));
	assert_false(b.mp_set);
	free(blob);
}

static void test_arch_snap_vcpu_refused_get(void **state)
{
	struct fake_vcpu a;
	uint8_t *blob = NULL;
	size_t len = 0;

	(void)state;
	fake_init(&a, 1);
	a.refuse_get = REG_V0;
	assert_int_equal(aarch64_vcpu_snap_save(&fake_ops, &a, &blob, &len), -ENOENT);
	assert_null(blob);
}

static void test_arch_snap_vcpu_mutations_never_crash(void **state)
{
	struct fake_vcpu a;
	uint8_t *blob, *b;
	size_t len;
	char err[256];

	(void)state;
	fake_init(&a, 5);
	blob = save(&a, &len);
	srand(1);
	for (int n = 0; n < 20000; n++) {
		size_t cut = (size_t)rand() % (len + 1);

		b = malloc(len);
		assert_non_null(b);
		memcpy(b, blob, len);
		for (int k = rand() % 4; k >= 0; k--)
			b[(size_t)rand() % len] ^= (uint8_t)(1u << (rand() % 8));
		int rc = aarch64_vcpu_snap_check(b, n % 2 ? cut : len, MPIDR1, err, sizeof(err));

		assert_true(rc == 0 || rc == -EINVAL);
		free(b);
	}
	free(blob);
}

static const struct {
	uint64_t id;
	const char *name;
} names[] = {
    {REG_X0, "x0"},
    {CORE(U64, 60), "x30"},
    {CORE(U64, 62), "sp"},
    {REG_PC, "pc"},
    {CORE(U64, 66), "pstate"},
    {CORE(U64, 80), "spsr[4]"},
    {CORE(U128, 84 + 31 * 4), "v31"},
    {REG_FPSR, "fpsr"},
    {CORE(U32, 213), "fpcr"},
    {A64_REG_MPIDR_EL1, "MPIDR_EL1"},
    {REG_SCTLR, "S3_0_C1_C0_0"},
    {A64_REG_TIMER_CNT, "TIMER_CNT (CNTVCT_EL0)"},
    {REG_CCSIDR, "CCSIDR[2]"},
    {REG_PSCI, "PSCI_VERSION"},
    {A64_REG_ARM64 | U64 | A64_REG_FW | 9, "fw[9]"},
    {A64_REG_ARM64 | U64 | A64_REG_FW_BMAP | 1, "fw_bmap[1]"},
};

static void test_arch_snap_vcpu_reg_names(void **state)
{
	char buf[48];

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		aarch64_reg_name(names[i].id, buf, sizeof(buf));
		assert_string_equal(buf, names[i].name);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_arch_snap_vcpu_roundtrip),
	    cmocka_unit_test(test_arch_snap_vcpu_layout),
	    cmocka_unit_test(test_arch_snap_vcpu_rejects_bad_blobs),
	    cmocka_unit_test(test_arch_snap_vcpu_unknown_register),
	    cmocka_unit_test(test_arch_snap_vcpu_extra_register_keeps_value),
	    cmocka_unit_test(test_arch_snap_vcpu_refused_set),
	    cmocka_unit_test(test_arch_snap_vcpu_refused_get),
	    cmocka_unit_test(test_arch_snap_vcpu_mutations_never_crash),
	    cmocka_unit_test(test_arch_snap_vcpu_reg_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
