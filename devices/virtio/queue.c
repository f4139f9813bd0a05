/* Device-side virtio helpers: status checks, failing a device, popping and pushing chains,
 * interrupts (no KVM). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>

#include "devices/virtio/virtio.h"
#include "devices/virtio/virtio_int.h"
#include "log.h"
#include "vm.h"

void *virtio_xlate(void *opaque, uint64_t gpa, uint64_t len)
{
	return vm_gpa_to_hva(opaque, gpa, len);
}

bool virtio_dev_running(const struct virtio_dev *d)
{
	return (d->status & VIRTIO_STATUS_DRIVER_OK) && !(d->status & VIRTIO_STATUS_NEEDS_RESET);
}

bool virtio_has_feature(const struct virtio_dev *d, unsigned int bit)
{
	return bit < 64 && (d->guest_features & (1ull << bit));
}

unsigned int virtio_queue_size(const struct virtio_dev *d, unsigned int q)
{
	return q < d->ops->nr_queues && d->queues[q].ready ? d->queues[q].vq.size : 0;
}

void virtio_raise_irq(struct virtio_dev *d, uint32_t bits)
{
	d->interrupt_status |= bits;
	if (eventfd_write(d->irq_fd, 1) < 0)
		pr_warn("%s: irqfd write: %s", d->label, strerror(errno));
}

void virtio_dev_fail(struct virtio_dev *d, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (d->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_warn("%s: %s; device needs reset", d->label, msg);
	d->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (d->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_raise_irq(d, VIRTIO_INT_CONFIG);
}

int virtio_queue_pop(struct virtio_dev *d, unsigned int q, struct virtq_chain *c)
{
	char err[200];
	int rc;

	if (!virtio_dev_running(d) || q >= d->ops->nr_queues || !d->queues[q].ready)
		return 0;
	rc = virtq_pop(&d->queues[q].vq, c, err, sizeof(err));
	if (rc < 0) {
		virtio_dev_fail(d, "queue %u: %s", q, err);
		return 0;
	}
	return rc;
}

void virtio_queue_push(struct virtio_dev *d, unsigned int q, uint16_t head, uint32_t len)
{
	if (q < d->ops->nr_queues && d->queues[q].ready)
		virtq_push(&d->queues[q].vq, head, len);
}

void virtio_queue_notify_guest(struct virtio_dev *d, unsigned int q)
{
	if (q < d->ops->nr_queues && d->queues[q].ready && virtq_should_notify(&d->queues[q].vq))
		virtio_raise_irq(d, VIRTIO_INT_VRING);
}

bool virtio_queue_enable_notify(struct virtio_dev *d, unsigned int q)
{
	if (!virtio_dev_running(d) || q >= d->ops->nr_queues || !d->queues[q].ready)
		return false;
	return virtq_enable_notify(&d->queues[q].vq);
}

void virtio_kick(struct virtio_queue *vq)
{
	if (eventfd_write(vq->kick_fd, 1) < 0)
		pr_warn("%s: queue %u: kick: %s", vq->dev->label, vq->index, strerror(errno));
}
