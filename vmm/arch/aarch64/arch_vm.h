/* aarch64 per-VM state shared by the files of vmm/arch/aarch64/. */
#ifndef TORPOR_AARCH64_ARCH_VM_H
#define TORPOR_AARCH64_ARCH_VM_H

#include <stddef.h>
#include <stdint.h>

struct vcpu;

struct arch_vm {
	int gic_fd;       /* vGICv3 device */
	void *dtb;        /* the device tree given to the guest (for --dump-dtb) */
	size_t dtb_size;
};

/* Set a 64-bit core register (PC, X0, ...) of a vCPU. 0 or -errno. */
int aarch64_set_core_reg(struct vcpu *vcpu, uint64_t id, uint64_t value);

#endif
