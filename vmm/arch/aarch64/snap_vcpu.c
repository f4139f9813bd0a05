/* The aarch64 vCPU snapshot blob: every KVM-listed register and the mp_state. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/aarch64/snap.h"
#include "log.h"

/*
 * Blob layout (version 1, little-endian):
 *   u32 magic "TVCP", u16 version, u16 flags (0), u32 mp_state, u32 nr_regs,
 *   then nr_regs records: u64 KVM register id, u16 size, size bytes of value
 *   (as KVM_GET_ONE_REG gives them on a little-endian host).
 */

struct rec {
	uint64_t id;
	uint16_t size;
	const uint8_t *val;
};

/* Bytes of the register's value, from the size field of its id. */
static size_t reg_size(uint64_t id)
{
	return (size_t)1 << ((id & A64_REG_SIZE_MASK) >> A64_REG_SIZE_SHIFT);
}

/* ID and cache-geometry registers: KVM takes back only the values it shows. */
static bool is_id_reg(uint64_t id)
{
	unsigned int e = (unsigned int)(id & 0xffff);

	if ((id & A64_REG_CLASS_MASK) == A64_REG_DEMUX)
		return true;
	return (id & A64_REG_CLASS_MASK) == A64_REG_SYSREG && e >> 14 == 3 && ((e >> 7) & 15) == 0;
}

static const char *set_hint(uint64_t id)
{
	if (is_id_reg(id))
		return " (ID registers must match: the snapshot comes from another CPU model or"
		       " kernel)";
	if ((id & A64_REG_CLASS_MASK) == A64_REG_FW || (id & A64_REG_CLASS_MASK) == A64_REG_FW_BMAP)
		return " (this host's kernel offers different firmware services)";
	return "";
}

/* Blob bytes for these registers; 0 when KVM lists one this format cannot hold. */
static size_t blob_size(const uint64_t *ids, size_t n)
{
	size_t size = A64_VCPU_HDR_LEN;

	if (n > A64_VCPU_MAX_REGS) {
		pr_err("vcpu snapshot: KVM lists %zu registers, more than %d", n,
		       A64_VCPU_MAX_REGS);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if ((ids[i] & A64_REG_ARCH_MASK) != A64_REG_ARM64 ||
		    reg_size(ids[i]) > A64_REG_MAX_BYTES) {
			pr_err(
			    "vcpu snapshot: KVM lists register 0x%llx, which is no arm64 register"
			    " of at most %d bytes",
			    (unsigned long long)ids[i], A64_REG_MAX_BYTES);
			return 0;
		}
		size += A64_VCPU_REC_HDR + reg_size(ids[i]);
	}
	return size;
}

/* Read each register into its record from p on; a refusal is logged by name. */
static int save_regs(const struct aarch64_vcpu_ops *ops, void *ctx, const uint64_t *ids, size_t n,
		     uint8_t *p)
{
	char name[48];
	int rc;

	for (size_t i = 0; i < n; i++) {
		a64_st64(p, ids[i]);
		a64_st16(p + 8, (uint16_t)reg_size(ids[i]));
		rc = ops->get_reg(ctx, ids[i], p + A64_VCPU_REC_HDR);
		if (rc < 0) {
			aarch64_reg_name(ids[i], name, sizeof(name));
			pr_err("vcpu snapshot: reading %s (0x%llx): %s", name,
			       (unsigned long long)ids[i], strerror(-rc));
			return rc;
		}
		p += A64_VCPU_REC_HDR + reg_size(ids[i]);
	}
	return 0;
}

int aarch64_vcpu_snap_save(const struct aarch64_vcpu_ops *ops, void *ctx, uint8_t **blob,
			   size_t *len)
{
	uint64_t *ids = NULL;
	size_t n = 0, size;
	uint8_t *out = NULL;
	uint32_t mp;
	int rc;

	rc = ops->reg_list(ctx, &ids, &n);
	if (rc < 0)
		return rc;
	size = blob_size(ids, n);
	rc = size ? -ENOMEM : -E2BIG;
	if (size)
		out = malloc(size);
	if (!out)
		goto out;
	rc = ops->get_mp_state(ctx, &mp);
	if (rc == 0)
		rc = save_regs(ops, ctx, ids, n, out + A64_VCPU_HDR_LEN);
	if (rc < 0)
		goto out;
	a64_st32(out, A64_VCPU_MAGIC);
	a64_st16(out + 4, A64_VCPU_VERSION);
	a64_st16(out + 6, 0);
	a64_st32(out + 8, mp);
	a64_st32(out + 12, (uint32_t)n);
	*blob = out;
	*len = size;
	out = NULL;
out:
	free(out);
	free(ids);
	return rc;
}

static int check_header(const uint8_t *blob, size_t len, uint32_t *nregs, char *err, size_t errlen)
{
	uint32_t mp;

	if (len < A64_VCPU_HDR_LEN)
		return aarch64_snap_errf(err, errlen, -EINVAL,
					 "vcpu state: %zu bytes, shorter than its header", len);
	if (a64_ld32(blob) != A64_VCPU_MAGIC)
		return aarch64_snap_errf(err, errlen, -EINVAL, "not a vcpu state (bad magic)");
	if (a64_ld16(blob + 4) != A64_VCPU_VERSION)
		return aarch64_snap_errf(err, errlen, -EINVAL,
					 "vcpu state version %u; this build reads version %d",
					 a64_ld16(blob + 4), A64_VCPU_VERSION);
	if (a64_ld16(blob + 6))
		return aarch64_snap_errf(err, errlen, -EINVAL, "vcpu state: unknown flags 0x%x",
					 a64_ld16(blob + 6));
	mp = a64_ld32(blob + 8);
	if (mp != A64_MP_RUNNABLE && mp != A64_MP_STOPPED && mp != A64_MP_SUSPENDED)
		return aarch64_snap_errf(err, errlen, -EINVAL,
					 "vcpu state: mp_state %u is none an arm64 vCPU has", mp);
	*nregs = a64_ld32(blob + 12);
	if (*nregs > A64_VCPU_MAX_REGS)
		return aarch64_snap_errf(err, errlen, -EINVAL,
					 "vcpu state: %u registers, more than %d", *nregs,
					 A64_VCPU_MAX_REGS);
	return 0;
}

/* The record i at *off: it must fit in the blob and its size must match its id. */
static int next_rec(const uint8_t *blob, size_t len, size_t *off, uint32_t i, struct rec *r,
		    char *err, size_t errlen)
{
	if (len - *off < A64_VCPU_REC_HDR)
		return aarch64_snap_errf(err, errlen, -EINVAL, "vcpu state: register %u truncated",
					 i);
	r->id = a64_ld64(blob + *off);
	r->size = a64_ld16(blob + *off + 8);
	if ((r->id & A64_REG_ARCH_MASK) != A64_REG_ARM64)
		return aarch64_snap_errf(err, errlen, -EINVAL,
					 "vcpu state: register %u: 0x%llx is no arm64 register id",
					 i, (unsigned long long)r->id);
	if (r->size != reg_size(r->id) || r->size > A64_REG_MAX_BYTES)
		return aarch64_snap_errf(
		    err, errlen, -EINVAL,
		    "vcpu state: register %u (0x%llx): %u bytes, its id says %zu", i,
		    (unsigned long long)r->id, r->size, reg_size(r->id));
	if (len - *off - A64_VCPU_REC_HDR < r->size)
		return aarch64_snap_errf(err, errlen, -EINVAL,
					 "vcpu state: register %u (0x%llx) truncated", i,
					 (unsigned long long)r->id);
	r->val = blob + *off + A64_VCPU_REC_HDR;
	*off += A64_VCPU_REC_HDR + r->size;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Walk the records (sizes, MPIDR, exact length), collecting their ids for the duplicate check. */
static int check_records(const uint8_t *blob, size_t len, uint32_t nregs, uint64_t mpidr,
			 uint64_t *ids, char *err, size_t errlen)
{
	size_t off = A64_VCPU_HDR_LEN;
	char name[48];
	struct rec r;
	int rc;

	for (uint32_t i = 0; i < nregs; i++) {
		rc = next_rec(blob, len, &off, i, &r, err, errlen);
		if (rc < 0)
			return rc;
		if (r.id == A64_REG_MPIDR_EL1 && ((a64_ld64(r.val) ^ mpidr) & A64_MPIDR_AFF_MASK))
			return aarch64_snap_errf(
			    err, errlen, -EINVAL,
			    "vcpu state: MPIDR_EL1 0x%llx, this vCPU has 0x%llx"
			    " (vCPUs out of order?)",
			    (unsigned long long)a64_ld64(r.val),
			    (unsigned long long)(mpidr & A64_MPIDR_AFF_MASK));
		ids[i] = r.id;
	}
	if (off != len)
		return aarch64_snap_errf(err, errlen, -EINVAL,
					 "vcpu state: %zu bytes after the last register",
					 len - off);
	if (nregs)
		qsort(ids, nregs, sizeof(*ids), cmp_u64);
	for (uint32_t i = 1; i < nregs; i++) {
		if (ids[i] == ids[i - 1]) {
			aarch64_reg_name(ids[i], name, sizeof(name));
			return aarch64_snap_errf(err, errlen, -EINVAL,
						 "vcpu state: register %s (0x%llx) appears twice",
						 name, (unsigned long long)ids[i]);
		}
	}
	return 0;
}

int aarch64_vcpu_snap_check(const uint8_t *blob, size_t len, uint64_t mpidr, char *err,
			    size_t errlen)
{
	uint64_t *ids;
	uint32_t nregs = 0;
	int rc;

	rc = check_header(blob, len, &nregs, err, errlen);
	if (rc < 0)
		return rc;
	ids = malloc(nregs ? nregs * sizeof(*ids) : 1);
	if (!ids)
		return aarch64_snap_errf(err, errlen, -ENOMEM, "vcpu state: out of memory");
	rc = check_records(blob, len, nregs, mpidr, ids, err, errlen);
	free(ids);
	return rc;
}

/* Every register in the (checked) blob must be one this vCPU lists. */
static int check_known(const struct aarch64_vcpu_ops *ops, void *ctx, const uint8_t *blob,
		       size_t len, uint32_t nregs, char *err, size_t errlen)
{
	size_t off = A64_VCPU_HDR_LEN, n = 0;
	uint64_t *ids = NULL;
	char name[48];
	struct rec r;
	int rc;

	rc = ops->reg_list(ctx, &ids, &n);
	if (rc < 0)
		return aarch64_snap_errf(err, errlen, rc, "listing this vCPU's registers: %s",
					 strerror(-rc));
	if (n)
		qsort(ids, n, sizeof(*ids), cmp_u64);
	for (uint32_t i = 0; i < nregs && rc == 0; i++) {
		next_rec(blob, len, &off, i, &r, NULL, 0);
		if (n && bsearch(&r.id, ids, n, sizeof(*ids), cmp_u64))
			continue;
		aarch64_reg_name(r.id, name, sizeof(name));
		rc = aarch64_snap_errf(err, errlen, -EINVAL,
				       "register %s (0x%llx) of the snapshot is unknown to this"
				       " host's KVM (another kernel, or other vCPU features)",
				       name, (unsigned long long)r.id);
	}
	if (rc == 0 && n > nregs)
		pr_warn("vcpu restore: %zu registers this host's KVM lists are not in the snapshot;"
			" they keep their reset values",
			n - nregs);
	free(ids);
	return rc;
}

/*
 * Set every register in blob order. TIMER_CNT is set like the others, to
 * the value read at save: the guest's virtual counter goes on from where it
 * stood, so guest time stands still across the snapshot (KVM applies the
 * counter to every vCPU of the VM; each saved value is at or past the pause).
 */
static int set_regs(const struct aarch64_vcpu_ops *ops, void *ctx, const uint8_t *blob, size_t len,
		    uint32_t nregs, char *err, size_t errlen)
{
	uint64_t val[A64_REG_MAX_BYTES / 8];
	size_t off = A64_VCPU_HDR_LEN;
	char name[48];
	struct rec r;
	int rc;

	for (uint32_t i = 0; i < nregs; i++) {
		next_rec(blob, len, &off, i, &r, NULL, 0);
		memcpy(val, r.val, r.size);
		rc = ops->set_reg(ctx, r.id, val);
		if (rc < 0) {
			aarch64_reg_name(r.id, name, sizeof(name));
			return aarch64_snap_errf(err, errlen, rc, "setting %s (0x%llx): %s%s", name,
						 (unsigned long long)r.id, strerror(-rc),
						 set_hint(r.id));
		}
	}
	return 0;
}

int aarch64_vcpu_snap_restore(const struct aarch64_vcpu_ops *ops, void *ctx, const uint8_t *blob,
			      size_t len, uint64_t mpidr, char *err, size_t errlen)
{
	uint32_t nregs, mp;
	int rc;

	rc = aarch64_vcpu_snap_check(blob, len, mpidr, err, errlen);
	if (rc < 0)
		return rc;
	nregs = a64_ld32(blob + 12);
	mp = a64_ld32(blob + 8);
	rc = check_known(ops, ctx, blob, len, nregs, err, errlen);
	if (rc == 0)
		rc = set_regs(ops, ctx, blob, len, nregs, err, errlen);
	if (rc < 0)
		return rc;
	rc = ops->set_mp_state(ctx, mp);
	if (rc < 0)
		return aarch64_snap_errf(err, errlen, rc, "setting mp_state %u: %s", mp,
					 strerror(-rc));
	return 0;
}
