/*
 * Unit-test helpers for snapshot code of virtio devices: fake guest RAM
 * behind vm_gpa_to_hva(), and a struct virtio_dev set up by hand as
 * virtio_mmio_init() would (eventfds for kicks and the interrupt, no KVM).
 * Included by one test file each (it defines vm_gpa_to_hva()).
 */
#ifndef TORPOR_TEST_FAKE_VIRTIO_H
#define TORPOR_TEST_FAKE_VIRTIO_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/virtio/virtio.h"
#include "vm.h"

/* Fake guest RAM: [FAKE_RAM_BASE, FAKE_RAM_BASE + FAKE_RAM_SIZE). */
#define FAKE_RAM_BASE 0x80000000ull
#define FAKE_RAM_SIZE 0x10000ull
#define FAKE_QSIZE    8u
/* Queue q's rings. */
#define FAKE_DESC(q)  (FAKE_RAM_BASE + 0x1000ull * (3 * (q)))
#define FAKE_AVAIL(q) (FAKE_RAM_BASE + 0x1000ull * (3 * (q) + 1))
#define FAKE_USED(q)  (FAKE_RAM_BASE + 0x1000ull * (3 * (q) + 2))

#define FAKE_FEATURES                                                                              \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_RING_EVENT_IDX) |                        \
	 (1ull << VIRTIO_F_RING_INDIRECT_DESC))

static uint8_t *fake_ram;
static struct vm *const fake_vm = (struct vm *)&fake_ram; /* only compared, never used */

void *vm_gpa_to_hva(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (vm != fake_vm || gpa < FAKE_RAM_BASE || gpa - FAKE_RAM_BASE > FAKE_RAM_SIZE ||
	    len > FAKE_RAM_SIZE - (gpa - FAKE_RAM_BASE))
		return NULL;
	return fake_ram + (gpa - FAKE_RAM_BASE);
}

static inline void *fake_xlate(void *opaque, uint64_t gpa, uint64_t len)
{
	return vm_gpa_to_hva(opaque, gpa, len);
}

static inline void fake_ram_init(void)
{
	fake_ram = aligned_alloc(4096, FAKE_RAM_SIZE);
	memset(fake_ram, 0, FAKE_RAM_SIZE);
}

static inline void fake_ram_free(void)
{
	free(fake_ram);
	fake_ram = NULL;
}

/* d as virtio_mmio_init(d, vm, ops, features) leaves it, with eventfds instead of KVM. */
static inline void fake_dev_init(struct virtio_dev *d, const struct virtio_dev_ops *ops,
				 uint64_t features)
{
	memset(d, 0, sizeof(*d));
	d->vm = fake_vm;
	d->ops = ops;
	snprintf(d->label, sizeof(d->label), "virtio-%s@test", ops->name);
	pthread_mutex_init(&d->lock, NULL);
	d->host_features = features | FAKE_FEATURES;
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		d->queues[i] = (struct virtio_queue){.dev = d, .index = i, .kick_fd = -1};
	for (unsigned int i = 0; i < ops->nr_queues; i++)
		d->queues[i].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->resample_fd = -1;
}

static inline void fake_dev_exit(struct virtio_dev *d)
{
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		if (d->queues[i].kick_fd >= 0)
			close(d->queues[i].kick_fd);
	if (d->irq_fd >= 0)
		close(d->irq_fd);
	pthread_mutex_destroy(&d->lock);
	memset(d, 0, sizeof(*d));
}

/* How many times fd was signalled since the last call (0 if never). */
static inline uint64_t fake_signalled(int fd)
{
	eventfd_t v = 0;

	if (eventfd_read(fd, &v) < 0)
		return 0;
	return v;
}

/* Make queue q ready over its fake rings, as a driver would through the registers. */
static inline void fake_queue_ready(struct virtio_dev *d, unsigned int q, unsigned int size)
{
	struct virtio_queue *vq = &d->queues[q];
	char err[200];

	vq->num = size;
	vq->desc = FAKE_DESC(q);
	vq->driver = FAKE_AVAIL(q);
	vq->device = FAKE_USED(q);
	if (virtq_init(&vq->vq, size, vq->desc, vq->driver, vq->device,
		       d->guest_features & (1ull << VIRTIO_F_RING_EVENT_IDX),
		       d->guest_features & (1ull << VIRTIO_F_RING_INDIRECT_DESC), fake_xlate, d->vm,
		       err, sizeof(err)) == 0)
		vq->ready = true;
}

/* A running device: features negotiated, DRIVER_OK, activated. */
static inline void fake_dev_run(struct virtio_dev *d, uint64_t guest_features)
{
	d->guest_features = guest_features | (1ull << VIRTIO_F_VERSION_1);
	d->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		    VIRTIO_STATUS_DRIVER_OK;
	d->activated = true;
}

/* Offer descriptor head (one writable buffer of len bytes at gpa) on queue q's avail ring. */
static inline void fake_offer(unsigned int q, uint16_t head, uint64_t gpa, uint32_t len)
{
	struct virtq_desc *t = vm_gpa_to_hva(fake_vm, FAKE_DESC(q), 16ull * FAKE_QSIZE);
	uint16_t *avail = vm_gpa_to_hva(fake_vm, FAKE_AVAIL(q), 4 + 2 * FAKE_QSIZE);
	uint16_t idx = avail[1];

	t[head] = (struct virtq_desc){.addr = gpa, .len = len, .flags = VIRTQ_DESC_F_WRITE};
	avail[2 + idx % FAKE_QSIZE] = head;
	avail[1] = (uint16_t)(idx + 1);
}

#endif
