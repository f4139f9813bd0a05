/* Transport internals shared by mmio.c (registers, KVM wiring), queue.c and persist.c. */
#ifndef TORPOR_VIRTIO_INT_H
#define TORPOR_VIRTIO_INT_H

#include <stdint.h>

#include "devices/virtio/virtio.h"

/* virtq_xlate_fn over a struct vm *: vm_gpa_to_hva(), the checked translation. */
void *virtio_xlate(void *opaque, uint64_t gpa, uint64_t len);
/*
 * Set bits in InterruptStatus and assert the line: the irqfd raises it, and
 * it stays up until the guest's EOI (bits 0: raise it again for what is set).
 */
void virtio_raise_irq(struct virtio_dev *d, uint32_t bits);
/* Make the I/O thread look at queue vq, as a guest notification would. */
void virtio_kick(struct virtio_queue *vq);

#endif
