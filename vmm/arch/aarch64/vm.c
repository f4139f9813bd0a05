/* aarch64 VM: IPA size, the in-kernel vGICv3, interrupt lines, layout hooks. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <unistd.h>

#include "arch/aarch64/arch_vm.h"
#include "arch/aarch64/layout.h"
#include "arch/arch.h"
#include "kvm.h"
#include "log.h"
#include "vm.h"

uint64_t arch_ram_base(void)
{
	return AARCH64_RAM_BASE;
}

uint64_t arch_ram_max(void)
{
	return AARCH64_RAM_MAX;
}

unsigned int arch_max_vcpus(void)
{
	return AARCH64_GICR_MAX_VCPUS;
}

uint64_t arch_uart_base(void)
{
	return AARCH64_UART_BASE;
}

uint64_t arch_uart_size(void)
{
	return AARCH64_UART_SIZE;
}

unsigned int arch_uart_irq(void)
{
	return AARCH64_UART_SPI;
}

int arch_virtio_slot(unsigned int n, uint64_t *base, uint64_t *size, unsigned int *irq)
{
	if (n >= AARCH64_VIRTIO_MAX)
		return -ENOSPC;
	*base = AARCH64_VIRTIO_BASE + n * AARCH64_VIRTIO_SIZE;
	*size = AARCH64_VIRTIO_SIZE;
	*irq = AARCH64_VIRTIO_SPI + n;
	return 0;
}

int arch_vm_type(int kvm_fd, uint64_t ram_size)
{
	int max_bits = kvm_ioctl_raw(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_VM_IPA_SIZE);
	uint64_t end = AARCH64_RAM_BASE + ram_size;
	int bits;

	if (max_bits <= 0)
		return 0; /* only the default 40-bit IPA space */
	bits = max_bits < 40 ? max_bits : 40;
	if (end > (1ull << bits)) {
		pr_err("guest RAM ends at 0x%llx, beyond this host's %d-bit guest address space",
		       (unsigned long long)end, bits);
		return -E2BIG;
	}
	return (int)KVM_VM_TYPE_ARM_IPA_SIZE(bits);
}

static int gic_set_attr(struct vm *vm, uint32_t group, uint64_t attr, void *val)
{
	struct kvm_device_attr a = {
		.group = group,
		.attr = attr,
		.addr = (uint64_t)(uintptr_t)val,
	};

	return kvm_ioctl(vm->arch->gic_fd, KVM_SET_DEVICE_ATTR, &a);
}

int arch_vm_init(struct vm *vm)
{
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_ARM_VGIC_V3 };
	uint64_t dist = AARCH64_GICD_BASE, redist = AARCH64_GICR_BASE;
	int rc;

	vm->arch = calloc(1, sizeof(*vm->arch));
	if (!vm->arch)
		return -ENOMEM;
	vm->arch->gic_fd = -1;
	rc = kvm_ioctl_raw(vm->vm_fd, KVM_CREATE_DEVICE, (unsigned long)&cd);
	if (rc < 0) {
		pr_err("this host's KVM offers no in-kernel GICv3 (KVM_CREATE_DEVICE: %s)",
		       strerror(-rc));
		return rc;
	}
	vm->arch->gic_fd = (int)cd.fd;
	rc = gic_set_attr(vm, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &dist);
	if (rc < 0)
		return rc;
	return gic_set_attr(vm, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &redist);
}

int arch_vm_finalize(struct vm *vm)
{
	uint32_t nr_irqs = 32 + AARCH64_NR_SPIS;
	int rc;

	rc = gic_set_attr(vm, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs);
	if (rc < 0)
		return rc;
	/* Needs every vCPU created. */
	return gic_set_attr(vm, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL);
}

void arch_vm_exit(struct vm *vm)
{
	if (!vm->arch)
		return;
	if (vm->arch->gic_fd >= 0)
		close(vm->arch->gic_fd);
	free(vm->arch->dtb);
	free(vm->arch);
	vm->arch = NULL;
}

int arch_irq_line(struct vm *vm, unsigned int irq, int level)
{
	struct kvm_irq_level l = {
		.irq = (KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | (32 + irq),
		.level = (uint32_t)level,
	};

	if (irq >= AARCH64_NR_SPIS)
		return -EINVAL;
	return kvm_ioctl(vm->vm_fd, KVM_IRQ_LINE, &l);
}

int arch_handle_exit(struct vcpu *vcpu)
{
	(void)vcpu;
	return -ENOSYS;
}
