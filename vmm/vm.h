/* One microVM: KVM VM, guest RAM, vCPU threads, MMIO bus, lifecycle. */
#ifndef TORPOR_VM_H
#define TORPOR_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct evloop;
struct arch_vm;
struct uart;
struct blk;
struct vsock;
struct net;
struct control;
struct kvm_run;
struct snap_vm;
struct snapshot_restore;

enum vm_state {
	VM_STATE_CREATED,  /* built, vCPUs not started */
	VM_STATE_RUNNING,
	VM_STATE_PAUSED,   /* every vCPU out of KVM_RUN and parked */
	VM_STATE_STOPPING, /* an exit reason is set; the VMM is tearing down */
};

enum vm_exit_reason {
	VM_EXIT_NONE,
	VM_EXIT_POWEROFF, /* guest PSCI SYSTEM_OFF */
	VM_EXIT_RESET,    /* guest PSCI SYSTEM_RESET */
	VM_EXIT_CRASH,    /* guest crash report, or an unhandled vCPU exit */
	VM_EXIT_STOP,     /* stop asked by the control socket or a signal */
	VM_EXIT_ERROR,    /* host-side failure */
};

typedef void (*mmio_fn)(void *opaque, uint64_t offset, void *data, unsigned int len,
			bool is_write);

struct mmio_region {
	uint64_t base, size;
	mmio_fn fn;
	void *opaque;
};

#define VM_MAX_MMIO_REGIONS 64
#define VM_MAX_VIRTIO       32

/* A virtio-mmio window handed to a device: in the device tree as a virtio,mmio node. */
struct vm_virtio_slot {
	uint64_t base, size;
	unsigned int irq; /* SPI, from 0 */
};

struct vcpu {
	struct vm *vm;
	unsigned int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	bool parked;
	uint64_t mpidr; /* filled by arch_vcpu_init */
};

struct vm {
	const struct vm_config *cfg;
	int kvm_fd;
	int vm_fd;
	size_t run_size;

	void *ram;          /* host mapping of guest RAM */
	uint64_t ram_base;  /* guest physical address of RAM */
	uint64_t ram_size;

	unsigned int nr_vcpus;
	struct vcpu *vcpus;

	struct mmio_region mmio[VM_MAX_MMIO_REGIONS];
	unsigned int nr_mmio;

	struct vm_virtio_slot virtio[VM_MAX_VIRTIO]; /* in creation order */
	unsigned int nr_virtio;
	struct blk **blks; /* one per cfg->disks[] */
	struct vsock *vsock; /* NULL: no vsock device */
	struct net *net;     /* NULL: no network device */

	struct evloop *el;
	struct arch_vm *arch;
	struct uart *uart;
	struct control *control;
	struct snap_vm *snap; /* snapshot bookkeeping (snapshot/), or NULL */

	pthread_mutex_t lock; /* guards the fields below */
	pthread_cond_t cond;
	enum vm_state state;
	bool pause_requested;
	unsigned int nr_parked;
	enum vm_exit_reason exit_reason;
};

/* Build a VM from cfg (RAM, vCPUs, GIC, devices, kernel, FDT). Returns 0 or -errno. */
int vm_create(const struct vm_config *cfg, struct evloop *el, struct vm **out);
/*
 * The one builder: as vm_create(), or, with rs (a loaded snapshot, cfg from
 * snapshot_load()), RAM mapped from its memory files, no kernel or FDT
 * written, and the saved vCPU, arch and device state put back.
 */
int vm_build(const struct vm_config *cfg, struct evloop *el, struct snapshot_restore *rs,
	     struct vm **out);
/* Start the vCPUs and run the I/O loop until the VM stops; returns the exit reason. */
enum vm_exit_reason vm_run(struct vm *vm);
/* Stop and join every thread, free everything. */
void vm_destroy(struct vm *vm);

/* Park every vCPU outside KVM_RUN; returns when all are parked. 0 or -errno. */
int vm_pause(struct vm *vm);
/* Release parked vCPUs. 0 or -errno. */
int vm_resume(struct vm *vm);
/* Ask the VM to stop with reason (first reason wins). Safe from any thread. */
void vm_request_stop(struct vm *vm, enum vm_exit_reason reason);
enum vm_state vm_get_state(struct vm *vm);
const char *vm_state_name(enum vm_state s);
const char *vm_exit_reason_name(enum vm_exit_reason r);

/*
 * Guest physical range [gpa, gpa+len) as a host pointer, or NULL when any
 * byte of it lies outside guest RAM (overflow-checked). The one way to turn
 * a guest address into a pointer.
 */
void *vm_gpa_to_hva(struct vm *vm, uint64_t gpa, uint64_t len);

/* Claim [base, base+size) of guest physical space for MMIO. Before vm_run. */
int vm_mmio_register(struct vm *vm, uint64_t base, uint64_t size, mmio_fn fn, void *opaque);
/* Take the next virtio-mmio window and interrupt for a device. Before the FDT is built. */
int vm_virtio_slot_alloc(struct vm *vm, struct vm_virtio_slot *out);
/* Dispatch a guest MMIO access; returns false if nothing claims it. */
bool vm_mmio_dispatch(struct vm *vm, uint64_t addr, void *data, unsigned int len, bool is_write);

#endif
