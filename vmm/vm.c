/* One microVM: the single place a config becomes a running VM, and its lifecycle. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/arch.h"
#include "control.h"
#include "devices/blk/blk.h"
#include "devices/net/net.h"
#include "devices/uart/uart.h"
#include "devices/vsock/vsock.h"
#include "evloop.h"
#include "kvm.h"
#include "snapshot/snapshot.h"
#include "log.h"
#include "vcpu.h"
#include "vm.h"

#define MIB (1ull << 20)

static const char *const state_names[] = {
	[VM_STATE_CREATED] = "created",
	[VM_STATE_RUNNING] = "running",
	[VM_STATE_PAUSED] = "paused",
	[VM_STATE_STOPPING] = "stopping",
};

static const char *const exit_names[] = {
	[VM_EXIT_NONE] = "none",
	[VM_EXIT_POWEROFF] = "poweroff",
	[VM_EXIT_RESET] = "reset",
	[VM_EXIT_CRASH] = "crash",
	[VM_EXIT_STOP] = "stop",
	[VM_EXIT_ERROR] = "error",
};

const char *vm_state_name(enum vm_state s)
{
	return (unsigned int)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "?";
}

const char *vm_exit_reason_name(enum vm_exit_reason r)
{
	return (unsigned int)r < sizeof(exit_names) / sizeof(exit_names[0]) ? exit_names[r] : "?";
}

void *vm_gpa_to_hva(struct vm *vm, uint64_t gpa, uint64_t len)
{
	uint64_t off;

	if (gpa < vm->ram_base)
		return NULL;
	off = gpa - vm->ram_base;
	if (off > vm->ram_size || len > vm->ram_size - off)
		return NULL;
	return (uint8_t *)vm->ram + off;
}

int vm_mmio_register(struct vm *vm, uint64_t base, uint64_t size, mmio_fn fn, void *opaque)
{
	if (vm->nr_mmio == VM_MAX_MMIO_REGIONS)
		return -ENOSPC;
	if (!size || base + size < base)
		return -EINVAL;
	for (unsigned int i = 0; i < vm->nr_mmio; i++) {
		struct mmio_region *r = &vm->mmio[i];

		if (base < r->base + r->size && r->base < base + size)
			return -EEXIST;
	}
	vm->mmio[vm->nr_mmio++] = (struct mmio_region){ base, size, fn, opaque };
	return 0;
}

int vm_virtio_slot_alloc(struct vm *vm, struct vm_virtio_slot *out)
{
	struct vm_virtio_slot *s;
	int rc;

	if (vm->nr_virtio == VM_MAX_VIRTIO)
		return -ENOSPC;
	s = &vm->virtio[vm->nr_virtio];
	rc = arch_virtio_slot(vm->nr_virtio, &s->base, &s->size, &s->irq);
	if (rc < 0)
		return rc;
	vm->nr_virtio++;
	*out = *s;
	return 0;
}

bool vm_mmio_dispatch(struct vm *vm, uint64_t addr, void *data, unsigned int len, bool is_write)
{
	for (unsigned int i = 0; i < vm->nr_mmio; i++) {
		struct mmio_region *r = &vm->mmio[i];

		if (addr >= r->base && addr - r->base < r->size) {
			if (len > r->size - (addr - r->base))
				return false;
			r->fn(r->opaque, addr - r->base, data, len, is_write);
			return true;
		}
	}
	return false;
}

/* Host-dependent limits: vCPUs against KVM, RAM against the layout and the host. */
static int vm_check_limits(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	uint64_t host_ram = (uint64_t)pages * (uint64_t)psize;
	int max_vcpus;

	max_vcpus = kvm_ioctl_raw(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max_vcpus <= 0)
		max_vcpus = kvm_ioctl_raw(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max_vcpus <= 0)
		max_vcpus = 1;
	if ((unsigned int)max_vcpus > arch_max_vcpus())
		max_vcpus = (int)arch_max_vcpus();
	if (cfg->vcpus < 1 || cfg->vcpus > (unsigned int)max_vcpus) {
		pr_err("vcpus %u out of range: this host's KVM allows 1 to %d", cfg->vcpus, max_vcpus);
		return -EINVAL;
	}
	if (cfg->mem_size == 0 || cfg->mem_size > arch_ram_max()) {
		pr_err("memory %llu MiB out of range: the guest layout allows up to %llu MiB",
		       (unsigned long long)(cfg->mem_size / MIB),
		       (unsigned long long)(arch_ram_max() / MIB));
		return -EINVAL;
	}
	if (pages > 0 && psize > 0 && cfg->mem_size > host_ram) {
		pr_err("memory %llu MiB is more than this host has (%llu MiB)",
		       (unsigned long long)(cfg->mem_size / MIB),
		       (unsigned long long)(host_ram / MIB));
		return -ENOMEM;
	}
	return 0;
}

static int vm_open_kvm(struct vm *vm)
{
	int rc;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		rc = -errno;
		pr_err("cannot open /dev/kvm: %s", strerror(-rc));
		return rc;
	}
	rc = kvm_ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (rc != KVM_API_VERSION) {
		pr_err("/dev/kvm: API version %d, need %d", rc, KVM_API_VERSION);
		return -ENOTSUP;
	}
	return 0;
}

/* Anonymous RAM for a cold boot; a restore maps the snapshot's memory files (no copy). */
static int vm_create_ram(struct vm *vm, struct snapshot_restore *rs)
{
	struct kvm_userspace_memory_region region;
	int rc;

	vm->ram_base = arch_ram_base();
	vm->ram_size = vm->cfg->mem_size;
	if (rs) {
		rc = snapshot_map_ram(rs, vm->ram_size, &vm->ram);
		if (rc < 0) {
			vm->ram = NULL;
			return rc;
		}
	} else {
		vm->ram = mmap(NULL, vm->ram_size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	}
	if (vm->ram == MAP_FAILED) {
		rc = -errno;
		vm->ram = NULL;
		pr_err("cannot map %llu MiB of guest RAM: %s",
		       (unsigned long long)(vm->ram_size / MIB), strerror(-rc));
		return rc;
	}
	region = (struct kvm_userspace_memory_region){
		.slot = 0,
		.guest_phys_addr = vm->ram_base,
		.memory_size = vm->ram_size,
		.userspace_addr = (uint64_t)(uintptr_t)vm->ram,
	};
	return kvm_ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
}

static int vm_create_vcpus(struct vm *vm)
{
	int rc;

	vm->vcpus = calloc(vm->nr_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vm->vcpus[i].fd = -1;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		rc = vcpu_create(vm, &vm->vcpus[i], i);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int vm_create_disks(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	int rc;

	if (!cfg->nr_disks)
		return 0;
	vm->blks = calloc(cfg->nr_disks, sizeof(*vm->blks));
	if (!vm->blks)
		return -ENOMEM;
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		rc = blk_init(vm, &cfg->disks[i], &vm->blks[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int vm_create(const struct vm_config *cfg, struct evloop *el, struct vm **out)
{
	return vm_build(cfg, el, NULL, out);
}

int vm_build(const struct vm_config *cfg, struct evloop *el, struct snapshot_restore *rs,
	     struct vm **out)
{
	struct vm *vm;
	int rc, type;

	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->cfg = cfg;
	vm->el = el;
	vm->kvm_fd = vm->vm_fd = -1;
	vm->nr_vcpus = cfg->vcpus;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);

	rc = vm_open_kvm(vm);
	if (rc < 0)
		goto err;
	rc = vm_check_limits(vm);
	if (rc < 0)
		goto err;
	type = arch_vm_type(vm->kvm_fd, cfg->mem_size);
	if (type < 0) {
		rc = type;
		goto err;
	}
	vm->vm_fd = kvm_ioctl(vm->kvm_fd, KVM_CREATE_VM, type);
	if (vm->vm_fd < 0) {
		rc = vm->vm_fd;
		goto err;
	}
	rc = kvm_ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (rc < 0)
		goto err;
	vm->run_size = (size_t)rc;

	rc = vm_create_ram(vm, rs);
	if (rc < 0)
		goto err;
	rc = arch_vm_init(vm);
	if (rc < 0)
		goto err;
	rc = vm_create_vcpus(vm);
	if (rc < 0)
		goto err;
	rc = uart_init(vm, &vm->uart);
	if (rc < 0)
		goto err;
	rc = arch_vm_finalize(vm);
	if (rc < 0)
		goto err;
	/* virtio devices: after the vGIC is initialised (irqfd routing), before the FDT. */
	rc = vm_create_disks(vm);
	if (rc < 0)
		goto err;
	if (cfg->vsock.uds) {
		rc = vsock_init(vm, cfg->vsock.cid, cfg->vsock.uds, &vm->vsock);
		if (rc < 0)
			goto err;
	}
	if (cfg->net.tap) {
		rc = net_init(vm, &cfg->net, &vm->net);
		if (rc < 0)
			goto err;
	}
	rc = rs ? snapshot_restore_state(vm, rs) : arch_load_guest(vm);
	if (rc < 0)
		goto err;
	if (cfg->control) {
		rc = control_init(vm, cfg->control, &vm->control);
		if (rc < 0)
			goto err;
	}
	*out = vm;
	return 0;

err:
	vm_destroy(vm);
	return rc;
}

enum vm_exit_reason vm_run(struct vm *vm)
{
	bool paused = vm->cfg->start_paused && vm->snap; /* only a restore has vm->snap here */
	int rc;

	/* --paused: the vCPU threads park before their first KVM_RUN. */
	pthread_mutex_lock(&vm->lock);
	vm->state = paused ? VM_STATE_PAUSED : VM_STATE_RUNNING;
	vm->pause_requested = paused;
	pthread_mutex_unlock(&vm->lock);
	if (paused)
		pr_info("restored paused: resume with PATCH /vm {\"state\":\"running\"}");

	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		rc = vcpu_start(&vm->vcpus[i]);
		if (rc < 0) {
			vm_request_stop(vm, VM_EXIT_ERROR);
			break;
		}
	}
	if (!paused)
		snapshot_after_restore_run(vm);
	rc = evloop_run(vm->el);
	if (rc < 0) {
		pr_err("I/O loop failed: %s", strerror(-rc));
		vm_request_stop(vm, VM_EXIT_ERROR);
	}
	/* Every vCPU out of KVM_RUN and joined before anything is freed. */
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].started)
			vcpu_kick(&vm->vcpus[i]);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		if (vm->vcpus[i].started) {
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].started = false;
		}
	}
	return vm->exit_reason;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	control_exit(vm->control);
	/* Devices go while RAM and the VM fd still exist: in-flight I/O lands in RAM. */
	for (unsigned int i = 0; vm->blks && i < vm->cfg->nr_disks; i++)
		blk_exit(vm->blks[i]);
	free(vm->blks);
	vsock_exit(vm->vsock);
	net_exit(vm->net);
	uart_exit(vm->uart);
	if (vm->vcpus) {
		for (unsigned int i = 0; i < vm->nr_vcpus; i++)
			vcpu_destroy(vm, &vm->vcpus[i]);
		free(vm->vcpus);
	}
	arch_vm_exit(vm);
	snapshot_vm_free(vm);
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

static unsigned int vm_nr_started(struct vm *vm)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		n += vm->vcpus[i].started;
	return n;
}

int vm_pause(struct vm *vm)
{
	int rc = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->state == VM_STATE_PAUSED)
		goto out;
	if (vm->state != VM_STATE_RUNNING) {
		rc = -EBUSY;
		goto out;
	}
	vm->pause_requested = true;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	while (vm->nr_parked < vm_nr_started(vm) && vm->state != VM_STATE_STOPPING)
		pthread_cond_wait(&vm->cond, &vm->lock);
	if (vm->state == VM_STATE_STOPPING) {
		rc = -ESHUTDOWN;
		goto out;
	}
	vm->state = VM_STATE_PAUSED;
	pr_info("paused: %u vCPUs parked", vm->nr_parked);
out:
	pthread_mutex_unlock(&vm->lock);
	return rc;
}

int vm_resume(struct vm *vm)
{
	int rc = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->state == VM_STATE_RUNNING)
		goto out;
	if (vm->state != VM_STATE_PAUSED) {
		rc = -EBUSY;
		goto out;
	}
	vm->pause_requested = false;
	vm->state = VM_STATE_RUNNING;
	pthread_cond_broadcast(&vm->cond);
	pr_info("resumed");
out:
	pthread_mutex_unlock(&vm->lock);
	if (!rc)
		snapshot_after_restore_run(vm); /* a restore started with --paused */
	return rc;
}

void vm_request_stop(struct vm *vm, enum vm_exit_reason reason)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->exit_reason == VM_EXIT_NONE)
		vm->exit_reason = reason;
	vm->state = VM_STATE_STOPPING;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	evloop_stop(vm->el);
}

enum vm_state vm_get_state(struct vm *vm)
{
	enum vm_state s;

	pthread_mutex_lock(&vm->lock);
	s = vm->state;
	pthread_mutex_unlock(&vm->lock);
	return s;
}
