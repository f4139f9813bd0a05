/* aarch64 snapshot hooks: the vCPU and vGICv3 blobs of snap.h, read from and written to KVM. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "arch/aarch64/arch_vm.h"
#include "arch/aarch64/layout.h"
#include "arch/aarch64/snap.h"
#include "arch/arch.h"
#include "kvm.h"
#include "log.h"
#include "vm.h"

/* The codecs spell KVM's arm64 constants out; they must be the kernel's. */
_Static_assert(A64_REG_ARM64 == KVM_REG_ARM64, "KVM_REG_ARM64");
_Static_assert(A64_REG_SIZE_MASK == KVM_REG_SIZE_MASK, "KVM_REG_SIZE_MASK");
_Static_assert(A64_REG_SIZE_SHIFT == KVM_REG_SIZE_SHIFT, "KVM_REG_SIZE_SHIFT");
_Static_assert(A64_REG_SIZE_U64 == KVM_REG_SIZE_U64, "KVM_REG_SIZE_U64");
_Static_assert(A64_REG_CLASS_MASK == KVM_REG_ARM_COPROC_MASK, "KVM_REG_ARM_COPROC_MASK");
_Static_assert(A64_REG_CORE == KVM_REG_ARM_CORE, "KVM_REG_ARM_CORE");
_Static_assert(A64_REG_DEMUX == KVM_REG_ARM_DEMUX, "KVM_REG_ARM_DEMUX");
_Static_assert(A64_REG_SYSREG == KVM_REG_ARM64_SYSREG, "KVM_REG_ARM64_SYSREG");
_Static_assert(A64_REG_FW == KVM_REG_ARM_FW, "KVM_REG_ARM_FW");
_Static_assert(A64_REG_SVE == KVM_REG_ARM64_SVE, "KVM_REG_ARM64_SVE");
_Static_assert(A64_REG_FW_BMAP == KVM_REG_ARM_FW_FEAT_BMAP, "KVM_REG_ARM_FW_FEAT_BMAP");
_Static_assert(A64_REG_MPIDR_EL1 == ARM64_SYS_REG(3, 0, 0, 0, 5), "MPIDR_EL1");
_Static_assert(A64_REG_TIMER_CTL == KVM_REG_ARM_TIMER_CTL, "KVM_REG_ARM_TIMER_CTL");
_Static_assert(A64_REG_TIMER_CNT == KVM_REG_ARM_TIMER_CNT, "KVM_REG_ARM_TIMER_CNT");
_Static_assert(A64_REG_TIMER_CVAL == KVM_REG_ARM_TIMER_CVAL, "KVM_REG_ARM_TIMER_CVAL");
_Static_assert(A64_MP_RUNNABLE == KVM_MP_STATE_RUNNABLE, "KVM_MP_STATE_RUNNABLE");
_Static_assert(A64_MP_STOPPED == KVM_MP_STATE_STOPPED, "KVM_MP_STATE_STOPPED");
_Static_assert(A64_MP_SUSPENDED == KVM_MP_STATE_SUSPENDED, "KVM_MP_STATE_SUSPENDED");
/* The core register names of aarch64_reg_name(). */
_Static_assert(KVM_REG_ARM_CORE_REG(regs.pc) == 64, "core pc");
_Static_assert(KVM_REG_ARM_CORE_REG(spsr[0]) == 72, "core spsr");
_Static_assert(KVM_REG_ARM_CORE_REG(fp_regs.vregs[0]) == 84, "core vregs");
_Static_assert(KVM_REG_ARM_CORE_REG(fp_regs.fpsr) == 212, "core fpsr");

/* ---- vCPU ---- */

static int vcpu_reg_list(void *ctx, uint64_t **ids, size_t *n)
{
	struct vcpu *vcpu = ctx;
	struct kvm_reg_list probe = {.n = 0}, *list;
	int rc;

	/* With n = 0 KVM answers E2BIG and the count. */
	rc = kvm_ioctl_raw(vcpu->fd, KVM_GET_REG_LIST, (unsigned long)&probe);
	if (rc != -E2BIG) {
		pr_err("vcpu%u: KVM_GET_REG_LIST gave no register count: %s", vcpu->id,
		       rc < 0 ? strerror(-rc) : "no error");
		return rc < 0 ? rc : -EIO;
	}
	list = malloc(sizeof(*list) + probe.n * sizeof(list->reg[0]));
	*ids = malloc(probe.n * sizeof(**ids) + 1);
	rc = list && *ids ? 0 : -ENOMEM;
	if (rc == 0) {
		list->n = probe.n;
		rc = kvm_ioctl(vcpu->fd, KVM_GET_REG_LIST, list);
	}
	if (rc == 0) {
		memcpy(*ids, list->reg, list->n * sizeof(**ids));
		*n = list->n;
	} else {
		free(*ids);
		*ids = NULL;
	}
	free(list);
	return rc;
}

static int vcpu_get_reg(void *ctx, uint64_t id, void *val)
{
	struct kvm_one_reg reg = {.id = id, .addr = (uint64_t)(uintptr_t)val};

	return kvm_ioctl_raw(((struct vcpu *)ctx)->fd, KVM_GET_ONE_REG, (unsigned long)&reg);
}

static int vcpu_set_reg(void *ctx, uint64_t id, const void *val)
{
	struct kvm_one_reg reg = {.id = id, .addr = (uint64_t)(uintptr_t)val};

	return kvm_ioctl_raw(((struct vcpu *)ctx)->fd, KVM_SET_ONE_REG, (unsigned long)&reg);
}

static int vcpu_get_mp_state(void *ctx, uint32_t *state)
{
	struct kvm_mp_state mp;
	int rc = kvm_ioctl(((struct vcpu *)ctx)->fd, KVM_GET_MP_STATE, &mp);

	*state = mp.mp_state;
	return rc < 0 ? rc : 0;
}

static int vcpu_set_mp_state(void *ctx, uint32_t state)
{
	struct kvm_mp_state mp = {.mp_state = state};

	return kvm_ioctl_raw(((struct vcpu *)ctx)->fd, KVM_SET_MP_STATE, (unsigned long)&mp);
}

static const struct aarch64_vcpu_ops kvm_vcpu_ops = {
    .reg_list = vcpu_reg_list,
    .get_reg = vcpu_get_reg,
    .set_reg = vcpu_set_reg,
    .get_mp_state = vcpu_get_mp_state,
    .set_mp_state = vcpu_set_mp_state,
};

/*
 * KVM finishes an MMIO access (the loaded register, the step past the
 * instruction) only in the next KVM_RUN (api.rst, KVM_EXIT_MMIO). A vCPU
 * parked right after one has not got there: enter once with immediate_exit,
 * which finishes it and returns at once, so the saved registers are
 * consistent and the access does not run twice after a restore.
 */
static int vcpu_finish_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t old = run->immediate_exit;
	int rc;

	if (run->exit_reason != KVM_EXIT_MMIO)
		return 0;
	run->immediate_exit = 1;
	rc = kvm_ioctl_raw(vcpu->fd, KVM_RUN, 0);
	run->immediate_exit = old;
	if (rc == -EINTR)
		return 0;
	pr_err("vcpu%u: finishing an MMIO access before the save: %s", vcpu->id,
	       rc < 0 ? strerror(-rc) : "KVM_RUN entered the guest");
	return rc < 0 ? rc : -EIO;
}

int arch_vcpu_save(struct vcpu *vcpu, uint8_t **blob, size_t *len)
{
	int rc = vcpu_finish_mmio(vcpu);

	if (rc == 0)
		rc = aarch64_vcpu_snap_save(&kvm_vcpu_ops, vcpu, blob, len);
	if (rc < 0)
		pr_err("vcpu%u: cannot save its state: %s", vcpu->id, strerror(-rc));
	return rc;
}

int arch_vcpu_restore(struct vcpu *vcpu, const uint8_t *blob, size_t len, char *err, size_t errlen)
{
	if (vcpu->started)
		return aarch64_snap_errf(err, errlen, -EBUSY,
					 "vcpu%u is running: restore before the first KVM_RUN",
					 vcpu->id);
	return aarch64_vcpu_snap_restore(&kvm_vcpu_ops, vcpu, blob, len, vcpu->mpidr, err, errlen);
}

/* ---- vGICv3 ---- */

struct gic_ctx {
	int fd;
	const uint64_t *mpidr;
};

/* MPIDR_EL1 affinity as the vGIC attributes carry it: Aff3..Aff0 in bits 63..32. */
static uint64_t vgic_mpidr(uint64_t mpidr)
{
	uint64_t aff = (mpidr >> 32 & 0xff) << 24 | (mpidr & 0xffffff);

	return aff << KVM_DEV_ARM_VGIC_V3_MPIDR_SHIFT;
}

static int gic_access(void *ctx, const struct aarch64_gic_reg *r, void *val, bool set)
{
	struct gic_ctx *c = ctx;
	struct kvm_device_attr a = {.addr = (uint64_t)(uintptr_t)val};
	uint64_t cpu = vgic_mpidr(c->mpidr[r->vcpu]);
	uint64_t line_level = (uint64_t)VGIC_LEVEL_INFO_LINE_LEVEL
			      << KVM_DEV_ARM_VGIC_LINE_LEVEL_INFO_SHIFT;

	switch (r->space) {
	case A64_GIC_DIST:
		a.group = KVM_DEV_ARM_VGIC_GRP_DIST_REGS;
		a.attr = r->offset;
		break;
	case A64_GIC_REDIST:
		a.group = KVM_DEV_ARM_VGIC_GRP_REDIST_REGS;
		a.attr = cpu | r->offset;
		break;
	case A64_GIC_ICC:
		a.group = KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS;
		a.attr = cpu | r->offset;
		break;
	case A64_GIC_LEVEL:
		a.group = KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO;
		a.attr = cpu | line_level | r->offset;
		break;
	default:
		return -EINVAL;
	}
	return kvm_ioctl_raw(c->fd, set ? KVM_SET_DEVICE_ATTR : KVM_GET_DEVICE_ATTR,
			     (unsigned long)&a);
}

/* ICC registers are 64-bit, the others 32-bit. */
static int gic_get(void *ctx, const struct aarch64_gic_reg *r, uint64_t *val)
{
	uint32_t v32 = 0;
	int rc;

	if (r->space == A64_GIC_ICC)
		return gic_access(ctx, r, val, false);
	rc = gic_access(ctx, r, &v32, false);
	*val = v32;
	return rc;
}

static int gic_set(void *ctx, const struct aarch64_gic_reg *r, uint64_t val)
{
	uint32_t v32 = (uint32_t)val;

	return gic_access(ctx, r, r->space == A64_GIC_ICC ? (void *)&val : (void *)&v32, true);
}

static const struct aarch64_gic_ops kvm_gic_ops = {
    .get = gic_get,
    .set = gic_set,
};

/* The VM's vGIC shape; *mpidr is malloc'd (free it). */
static int gic_layout(struct vm *vm, struct aarch64_gic_layout *l, uint64_t **mpidr)
{
	*mpidr = malloc(vm->nr_vcpus * sizeof(**mpidr));
	if (!*mpidr)
		return -ENOMEM;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		(*mpidr)[i] = vm->vcpus[i].mpidr;
	*l = (struct aarch64_gic_layout){
	    .nr_vcpus = vm->nr_vcpus,
	    .nr_irqs = 32 + AARCH64_NR_SPIS, /* as arch_vm_finalize() sets it */
	    .mpidr = *mpidr,
	};
	return 0;
}

int arch_vm_save(struct vm *vm, uint8_t **blob, size_t *len)
{
	struct aarch64_gic_layout l;
	struct gic_ctx c;
	uint64_t *mpidr;
	int rc;

	if (!vm->arch || vm->arch->gic_fd < 0)
		return -ENODEV;
	rc = gic_layout(vm, &l, &mpidr);
	if (rc < 0)
		return rc;
	c = (struct gic_ctx){.fd = vm->arch->gic_fd, .mpidr = mpidr};
	rc = aarch64_gic_snap_save(&kvm_gic_ops, &c, &l, blob, len);
	if (rc < 0)
		pr_err("cannot save the vGIC state: %s", strerror(-rc));
	free(mpidr);
	return rc;
}

int arch_vm_restore(struct vm *vm, const uint8_t *blob, size_t len, char *err, size_t errlen)
{
	struct aarch64_gic_layout l;
	struct gic_ctx c;
	uint64_t *mpidr;
	int rc;

	if (!vm->arch || vm->arch->gic_fd < 0)
		return aarch64_snap_errf(err, errlen, -ENODEV, "the VM has no vGIC");
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].started)
			return aarch64_snap_errf(err, errlen, -EBUSY,
						 "vcpu%u is running: restore the vGIC before the"
						 " first KVM_RUN",
						 i);
	rc = gic_layout(vm, &l, &mpidr);
	if (rc < 0)
		return aarch64_snap_errf(err, errlen, rc, "vgic: out of memory");
	c = (struct gic_ctx){.fd = vm->arch->gic_fd, .mpidr = mpidr};
	rc = aarch64_gic_snap_restore(&kvm_gic_ops, &c, &l, blob, len, err, errlen);
	free(mpidr);
	return rc;
}
