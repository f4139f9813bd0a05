/* vCPU threads: creation, the KVM_RUN exit loop, kicks out of KVM_RUN. */
#ifndef TORPOR_VCPU_H
#define TORPOR_VCPU_H

struct vm;
struct vcpu;

/* Signal used to kick a vCPU thread out of KVM_RUN. */
#define VCPU_KICK_SIGNAL SIGUSR1

/* Install the (empty) kick signal handler. Once per process, before any vCPU runs. */
int vcpu_signals_init(void);
/* KVM_CREATE_VCPU, map its kvm_run, arch init. Returns 0 or -errno. */
int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned int id);
void vcpu_destroy(struct vm *vm, struct vcpu *vcpu);
/* Start the vCPU's thread. */
int vcpu_start(struct vcpu *vcpu);
/* Make the vCPU leave KVM_RUN soon (it then checks for pause/stop). */
void vcpu_kick(struct vcpu *vcpu);

#endif
