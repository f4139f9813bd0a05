/* vCPU threads: the KVM_RUN loop, MMIO and system-event exits, parking for pause. */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/arch.h"
#include "kvm.h"
#include "log.h"
#include "vcpu.h"
#include "vm.h"

static void kick_handler(int sig)
{
	(void)sig;
}

int vcpu_signals_init(void)
{
	struct sigaction sa = { .sa_handler = kick_handler };

	/* No SA_RESTART: KVM_RUN must return EINTR. */
	sigemptyset(&sa.sa_mask);
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return -errno;
	return 0;
}

int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned int id)
{
	int rc;

	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->fd = kvm_ioctl(vm->vm_fd, KVM_CREATE_VCPU, id);
	if (vcpu->fd < 0)
		return vcpu->fd;
	vcpu->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		rc = -errno;
		pr_err("vcpu%u: mmap kvm_run: %s", id, strerror(-rc));
		vcpu->run = NULL;
		goto err_close;
	}
	rc = arch_vcpu_init(vm, vcpu);
	if (rc < 0)
		goto err_unmap;
	return 0;

err_unmap:
	munmap(vcpu->run, vm->run_size);
	vcpu->run = NULL;
err_close:
	close(vcpu->fd);
	vcpu->fd = -1;
	return rc;
}

void vcpu_destroy(struct vm *vm, struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, vm->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}

void vcpu_kick(struct vcpu *vcpu)
{
	/* immediate_exit covers a kick that lands just before KVM_RUN. */
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (vcpu->started)
		pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

/* Park while a pause is requested. Returns false when the VM is stopping. */
static bool vcpu_check_park(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	bool go_on;

	pthread_mutex_lock(&vm->lock);
	while (vm->pause_requested && vm->state != VM_STATE_STOPPING) {
		if (!vcpu->parked) {
			vcpu->parked = true;
			vm->nr_parked++;
			pthread_cond_broadcast(&vm->cond);
		}
		pthread_cond_wait(&vm->cond, &vm->lock);
	}
	if (vcpu->parked) {
		vcpu->parked = false;
		vm->nr_parked--;
	}
	go_on = vm->state != VM_STATE_STOPPING;
	pthread_mutex_unlock(&vm->lock);
	return go_on;
}

static void vcpu_handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	unsigned int len = run->mmio.len;

	if (len > sizeof(run->mmio.data)) {
		pr_warn("vcpu%u: MMIO access of %u bytes at 0x%llx ignored", vcpu->id, len,
			(unsigned long long)run->mmio.phys_addr);
		return;
	}
	if (!vm_mmio_dispatch(vcpu->vm, run->mmio.phys_addr, run->mmio.data, len,
			      run->mmio.is_write)) {
		pr_debug("vcpu%u: unclaimed MMIO %s at 0x%llx", vcpu->id,
			 run->mmio.is_write ? "write" : "read",
			 (unsigned long long)run->mmio.phys_addr);
		if (!run->mmio.is_write)
			memset(run->mmio.data, 0, len);
	}
}

/* Returns 0 to keep running, >0 when the VM is to stop. */
static int vcpu_handle_system_event(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		pr_info("guest powered off (vcpu%u)", vcpu->id);
		vm_request_stop(vm, VM_EXIT_POWEROFF);
		return 1;
	case KVM_SYSTEM_EVENT_RESET:
		pr_info("guest requested reset (vcpu%u)", vcpu->id);
		vm_request_stop(vm, VM_EXIT_RESET);
		return 1;
	case KVM_SYSTEM_EVENT_CRASH:
		pr_err("guest reported a crash (vcpu%u)", vcpu->id);
		vm_request_stop(vm, VM_EXIT_CRASH);
		return 1;
	default:
		pr_err("vcpu%u: unknown system event %u", vcpu->id, vcpu->run->system_event.type);
		vm_request_stop(vm, VM_EXIT_CRASH);
		return 1;
	}
}

static int vcpu_handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	switch (run->exit_reason) {
	case KVM_EXIT_MMIO:
		vcpu_handle_mmio(vcpu);
		return 0;
	case KVM_EXIT_SYSTEM_EVENT:
		return vcpu_handle_system_event(vcpu);
	case KVM_EXIT_INTR:
		return 0;
	case KVM_EXIT_FAIL_ENTRY:
		pr_err("vcpu%u: KVM_EXIT_FAIL_ENTRY, reason 0x%llx", vcpu->id,
		       (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		pr_err("vcpu%u: KVM internal error, suberror %u", vcpu->id,
		       run->internal.suberror);
		break;
	default: {
		int rc = arch_handle_exit(vcpu);

		if (rc >= 0)
			return rc;
		pr_err("vcpu%u: unhandled exit reason %u", vcpu->id, run->exit_reason);
		break;
	}
	}
	vm_request_stop(vcpu->vm, VM_EXIT_CRASH);
	return 1;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	char name[16];

	snprintf(name, sizeof(name), "vcpu%u", vcpu->id);
	pthread_setname_np(pthread_self(), name);

	while (vcpu_check_park(vcpu)) {
		int rc = kvm_ioctl_raw(vcpu->fd, KVM_RUN, 0);

		if (rc < 0) {
			if (rc == -EINTR || rc == -EAGAIN) {
				__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
				continue;
			}
			pr_err("vcpu%u: KVM_RUN: %s", vcpu->id, strerror(-rc));
			vm_request_stop(vcpu->vm, VM_EXIT_ERROR);
			break;
		}
		if (vcpu_handle_exit(vcpu) > 0)
			break;
	}
	return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
	sigset_t set, old;
	int rc;

	/* The thread inherits this mask: only the kick signal is let through. */
	sigfillset(&set);
	sigdelset(&set, VCPU_KICK_SIGNAL);
	sigdelset(&set, SIGSEGV);
	sigdelset(&set, SIGBUS);
	pthread_sigmask(SIG_SETMASK, &set, &old);
	rc = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		pr_err("vcpu%u: pthread_create: %s", vcpu->id, strerror(rc));
		return -rc;
	}
	vcpu->started = true;
	return 0;
}
