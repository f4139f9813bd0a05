/* Hooks each architecture provides; generic code calls only these. */
#ifndef TORPOR_ARCH_H
#define TORPOR_ARCH_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct vcpu;

/* Guest RAM base address and the largest RAM size the layout allows. */
uint64_t arch_ram_base(void);
uint64_t arch_ram_max(void);
/* Where the console UART sits: MMIO base, window size, interrupt (SPI number). */
uint64_t arch_uart_base(void);
uint64_t arch_uart_size(void);
unsigned int arch_uart_irq(void);
/* Window n (from 0) of the virtio-mmio area: base, size, SPI. -ENOSPC past the last. */
int arch_virtio_slot(unsigned int n, uint64_t *base, uint64_t *size, unsigned int *irq);
/* The most vCPUs the layout (interrupt controller) has room for. */
unsigned int arch_max_vcpus(void);
/* The VM type for KVM_CREATE_VM (e.g. IPA size), or -errno. */
int arch_vm_type(int kvm_fd, uint64_t ram_size);

/* After KVM_CREATE_VM and RAM: create the interrupt controller etc. */
int arch_vm_init(struct vm *vm);
/* Per vCPU, after KVM_CREATE_VCPU: initialise it (vCPU 0 boots, others wait). */
int arch_vcpu_init(struct vm *vm, struct vcpu *vcpu);
/* After every vCPU and device exists: finalise the interrupt controller. */
int arch_vm_finalize(struct vm *vm);
/* Load kernel, initrd and device tree into RAM; point vCPU 0 at the entry. */
int arch_load_guest(struct vm *vm);
/* Write the device tree the guest would get to path (for --dump-dtb). */
int arch_dump_dtb(struct vm *vm, const char *path);
void arch_vm_exit(struct vm *vm);

/* Drive a device interrupt line (SPI number, from 0) to level. */
int arch_irq_line(struct vm *vm, unsigned int irq, int level);

/* Handle an arch-specific exit; returns 0 to go on, >0 to stop, -errno on error. */
int arch_handle_exit(struct vcpu *vcpu);

/*
 * Snapshot state as opaque blobs: versioned little-endian bytes, malloc'd by
 * a save (the caller frees them). A save needs the VM paused (no vCPU in
 * KVM_RUN). A restore goes to a VM just built from the same config (vCPU
 * count, memory size), its interrupt controller finalised and no vCPU run
 * yet; it checks the whole blob before it writes anything to KVM, and says
 * why it failed in err (one line). A restore that fails part way leaves the
 * VM unusable: destroy it. Formats: docs/snapshot-arch-aarch64.md.
 */

/*
 * One vCPU: every register KVM lists and its run state. The guest's virtual
 * counter goes on from the saved value, so guest time stands still across
 * the snapshot. A save first finishes an MMIO access the vCPU is in the
 * middle of (one immediate KVM_RUN).
 */
int arch_vcpu_save(struct vcpu *vcpu, uint8_t **blob, size_t *len);
int arch_vcpu_restore(struct vcpu *vcpu, const uint8_t *blob, size_t len, char *err, size_t errlen);
/* VM-wide arch state: the interrupt controller, its CPU interfaces and line levels included. */
int arch_vm_save(struct vm *vm, uint8_t **blob, size_t *len);
int arch_vm_restore(struct vm *vm, const uint8_t *blob, size_t len, char *err, size_t errlen);

#endif
