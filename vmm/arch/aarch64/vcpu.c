/* aarch64 vCPU: KVM_ARM_VCPU_INIT with PSCI 0.2, MPIDR, core registers. */
#include <errno.h>
#include <linux/kvm.h>
#include <stddef.h>

#include "arch/aarch64/arch_vm.h"
#include "arch/arch.h"
#include "kvm.h"
#include "log.h"
#include "vm.h"

#define MPIDR_EL1  ARM64_SYS_REG(3, 0, 0, 0, 5)
#define MPIDR_AFF  0xff00ffffffull

int aarch64_set_core_reg(struct vcpu *vcpu, uint64_t id, uint64_t value)
{
	struct kvm_one_reg reg = { .id = id, .addr = (uint64_t)(uintptr_t)&value };

	return kvm_ioctl(vcpu->fd, KVM_SET_ONE_REG, &reg);
}

static int get_reg(struct vcpu *vcpu, uint64_t id, uint64_t *value)
{
	struct kvm_one_reg reg = { .id = id, .addr = (uint64_t)(uintptr_t)value };

	return kvm_ioctl(vcpu->fd, KVM_GET_ONE_REG, &reg);
}

int arch_vcpu_init(struct vm *vm, struct vcpu *vcpu)
{
	struct kvm_vcpu_init init = { 0 };
	int rc;

	rc = kvm_ioctl(vm->vm_fd, KVM_ARM_PREFERRED_TARGET, &init);
	if (rc < 0)
		return rc;
	init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
	/* Secondaries start powered off and wait for PSCI CPU_ON. */
	if (vcpu->id > 0)
		init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
	rc = kvm_ioctl(vcpu->fd, KVM_ARM_VCPU_INIT, &init);
	if (rc < 0)
		return rc;
	rc = get_reg(vcpu, MPIDR_EL1, &vcpu->mpidr);
	if (rc < 0)
		return rc;
	vcpu->mpidr &= MPIDR_AFF;
	return 0;
}
