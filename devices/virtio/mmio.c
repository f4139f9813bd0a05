/* virtio-mmio version 2: registers, feature negotiation, queues, ioeventfd kicks, irqfd interrupts. */
#include <endian.h>
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/virtio/virtio.h"
#include "devices/virtio/virtio_int.h"
#include "evloop.h"
#include "kvm.h"
#include "log.h"
#include "vm.h"

/* Register offsets (virtio 1.x 4.2.2). */
enum {
	REG_MAGIC = 0x000,
	REG_VERSION = 0x004,
	REG_DEVICE_ID = 0x008,
	REG_VENDOR_ID = 0x00c,
	REG_DEVICE_FEATURES = 0x010,
	REG_DEVICE_FEATURES_SEL = 0x014,
	REG_DRIVER_FEATURES = 0x020,
	REG_DRIVER_FEATURES_SEL = 0x024,
	REG_QUEUE_SEL = 0x030,
	REG_QUEUE_NUM_MAX = 0x034,
	REG_QUEUE_NUM = 0x038,
	REG_QUEUE_READY = 0x044,
	REG_QUEUE_NOTIFY = 0x050,
	REG_INTERRUPT_STATUS = 0x060,
	REG_INTERRUPT_ACK = 0x064,
	REG_STATUS = 0x070,
	REG_QUEUE_DESC_LOW = 0x080,
	REG_QUEUE_DESC_HIGH = 0x084,
	REG_QUEUE_DRIVER_LOW = 0x090,
	REG_QUEUE_DRIVER_HIGH = 0x094,
	REG_QUEUE_DEVICE_LOW = 0x0a0,
	REG_QUEUE_DEVICE_HIGH = 0x0a4,
	REG_SHM_SEL = 0x0ac,
	REG_SHM_LEN_LOW = 0x0b0,
	REG_SHM_LEN_HIGH = 0x0b4,
	REG_SHM_BASE_LOW = 0x0b8,
	REG_SHM_BASE_HIGH = 0x0bc,
	REG_CONFIG_GENERATION = 0x0fc,
	REG_CONFIG = 0x100,
};

#define VIRTIO_MMIO_MAGIC   0x74726976 /* "virt" */
#define VIRTIO_MMIO_VERSION 2
#define VIRTIO_VENDOR_ID    0x50524f54 /* "TORP" */

#define TRANSPORT_FEATURES                                                           \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_RING_EVENT_IDX) |          \
	 (1ull << VIRTIO_F_RING_INDIRECT_DESC))

static void reset(struct virtio_dev *d)
{
	if (d->ops->reset)
		d->ops->reset(d);
	d->guest_features = 0;
	d->host_features_sel = d->guest_features_sel = 0;
	d->status = 0;
	d->interrupt_status = 0;
	d->queue_sel = 0;
	d->activated = false;
	for (unsigned int i = 0; i < d->ops->nr_queues; i++) {
		struct virtio_queue *q = &d->queues[i];

		q->ready = false;
		q->num = 0;
		q->desc = q->driver = q->device = 0;
		memset(&q->vq, 0, sizeof(q->vq));
	}
}

static void queue_set_ready(struct virtio_dev *d, struct virtio_queue *q, uint32_t v)
{
	char err[200];
	int rc;

	if (!v) {
		q->ready = false;
		memset(&q->vq, 0, sizeof(q->vq));
		return;
	}
	if (q->ready)
		return;
	if (q->num > d->ops->queue_max) {
		virtio_dev_fail(d, "queue %u: size %u is more than the maximum %u", q->index, q->num,
				d->ops->queue_max);
		return;
	}
	rc = virtq_init(&q->vq, q->num, q->desc, q->driver, q->device,
			virtio_has_feature(d, VIRTIO_F_RING_EVENT_IDX),
			virtio_has_feature(d, VIRTIO_F_RING_INDIRECT_DESC), virtio_xlate, d->vm, err,
			sizeof(err));
	if (rc < 0) {
		virtio_dev_fail(d, "queue %u: %s", q->index, err);
		return;
	}
	q->ready = true;
}

static void set_status(struct virtio_dev *d, uint32_t v)
{
	uint32_t rising = v & ~d->status;

	if (!v) {
		reset(d);
		return;
	}
	if (v > 0xff) { /* the status is 8 bits (virtio 1.x 2.1) */
		pr_debug("%s: status write 0x%x with undefined bits ignored", d->label, v);
		return;
	}
	v &= ~(uint32_t)VIRTIO_STATUS_NEEDS_RESET; /* the device's bit, not the driver's */
	if (rising & VIRTIO_STATUS_FEATURES_OK) {
		uint64_t extra = d->guest_features & ~d->host_features;

		if (!(d->guest_features & (1ull << VIRTIO_F_VERSION_1))) {
			pr_warn("%s: driver did not accept VIRTIO_F_VERSION_1 (legacy drivers are "
				"not supported); FEATURES_OK refused", d->label);
			v &= ~(uint32_t)VIRTIO_STATUS_FEATURES_OK;
		} else if (extra) {
			pr_warn("%s: driver accepted features 0x%llx the device does not offer; "
				"FEATURES_OK refused", d->label, (unsigned long long)extra);
			v &= ~(uint32_t)VIRTIO_STATUS_FEATURES_OK;
		}
	}
	d->status = v | (d->status & VIRTIO_STATUS_NEEDS_RESET);
	if ((rising & VIRTIO_STATUS_DRIVER_OK) && !d->activated) {
		int rc;

		if (!(d->status & VIRTIO_STATUS_FEATURES_OK)) {
			virtio_dev_fail(d, "DRIVER_OK without FEATURES_OK");
			return;
		}
		d->activated = true;
		rc = d->ops->activate ? d->ops->activate(d) : 0;
		if (rc < 0) {
			virtio_dev_fail(d, "cannot start: %s", strerror(-rc));
			return;
		}
		/* Buffers made available before DRIVER_OK are looked at now. */
		for (unsigned int i = 0; i < d->ops->nr_queues; i++)
			if (d->queues[i].ready)
				virtio_kick(&d->queues[i]);
	}
}

static uint32_t reg_read(struct virtio_dev *d, uint64_t off)
{
	struct virtio_queue *q = d->queue_sel < d->ops->nr_queues ? &d->queues[d->queue_sel] : NULL;

	switch (off) {
	case REG_MAGIC:
		return VIRTIO_MMIO_MAGIC;
	case REG_VERSION:
		return VIRTIO_MMIO_VERSION;
	case REG_DEVICE_ID:
		return d->ops->device_id;
	case REG_VENDOR_ID:
		return VIRTIO_VENDOR_ID;
	case REG_DEVICE_FEATURES:
		if (d->host_features_sel > 1)
			return 0;
		return (uint32_t)(d->host_features >> (32 * d->host_features_sel));
	case REG_QUEUE_NUM_MAX:
		return q ? d->ops->queue_max : 0;
	case REG_QUEUE_READY:
		return q ? q->ready : 0;
	case REG_INTERRUPT_STATUS:
		return d->interrupt_status;
	case REG_STATUS:
		return d->status;
	case REG_SHM_LEN_LOW:
	case REG_SHM_LEN_HIGH:
		return 0xffffffff; /* no shared memory regions */
	case REG_CONFIG_GENERATION:
		return d->config_generation;
	default:
		return 0;
	}
}

static void set_half(uint64_t *v, bool high, uint32_t val)
{
	if (high)
		*v = (*v & 0xffffffffull) | ((uint64_t)val << 32);
	else
		*v = (*v & ~0xffffffffull) | val;
}

/* Writes to a queue's setup registers once it is ready are ignored (4.2.3.2). */
static void queue_reg_write(struct virtio_dev *d, struct virtio_queue *q, uint64_t off,
			    uint32_t v)
{
	if (off == REG_QUEUE_READY) {
		queue_set_ready(d, q, v);
		return;
	}
	if (q->ready) {
		pr_debug("%s: queue %u: setup register 0x%llx written while ready; ignored",
			 d->label, q->index, (unsigned long long)off);
		return;
	}
	switch (off) {
	case REG_QUEUE_NUM:
		q->num = v;
		break;
	case REG_QUEUE_DESC_LOW:
	case REG_QUEUE_DESC_HIGH:
		set_half(&q->desc, off == REG_QUEUE_DESC_HIGH, v);
		break;
	case REG_QUEUE_DRIVER_LOW:
	case REG_QUEUE_DRIVER_HIGH:
		set_half(&q->driver, off == REG_QUEUE_DRIVER_HIGH, v);
		break;
	case REG_QUEUE_DEVICE_LOW:
	case REG_QUEUE_DEVICE_HIGH:
		set_half(&q->device, off == REG_QUEUE_DEVICE_HIGH, v);
		break;
	}
}

static void reg_write(struct virtio_dev *d, uint64_t off, uint32_t v)
{
	struct virtio_queue *q = d->queue_sel < d->ops->nr_queues ? &d->queues[d->queue_sel] : NULL;

	switch (off) {
	case REG_DEVICE_FEATURES_SEL:
		d->host_features_sel = v;
		break;
	case REG_DRIVER_FEATURES:
		if (d->status & VIRTIO_STATUS_FEATURES_OK || d->guest_features_sel > 1)
			break;
		set_half(&d->guest_features, d->guest_features_sel == 1, v);
		break;
	case REG_DRIVER_FEATURES_SEL:
		d->guest_features_sel = v;
		break;
	case REG_QUEUE_SEL:
		d->queue_sel = v;
		break;
	case REG_QUEUE_NUM:
	case REG_QUEUE_READY:
	case REG_QUEUE_DESC_LOW:
	case REG_QUEUE_DESC_HIGH:
	case REG_QUEUE_DRIVER_LOW:
	case REG_QUEUE_DRIVER_HIGH:
	case REG_QUEUE_DEVICE_LOW:
	case REG_QUEUE_DEVICE_HIGH:
		if (q)
			queue_reg_write(d, q, off, v);
		break;
	case REG_QUEUE_NOTIFY:
		/* Only when no ioeventfd matched (e.g. an index we do not have). */
		if (v < d->ops->nr_queues)
			virtio_kick(&d->queues[v]);
		break;
	case REG_INTERRUPT_ACK:
		d->interrupt_status &= ~v;
		break;
	case REG_STATUS:
		set_status(d, v);
		break;
	default:
		pr_debug("%s: write 0x%x to read-only or unknown register 0x%llx ignored", d->label,
			 v, (unsigned long long)off);
		break;
	}
}

static void mmio_access(void *opaque, uint64_t off, void *data, unsigned int len, bool is_write)
{
	struct virtio_dev *d = opaque;
	uint32_t v;

	pthread_mutex_lock(&d->lock);
	if (off >= REG_CONFIG) {
		uint64_t coff = off - REG_CONFIG;

		if (coff < d->ops->config_size && len <= d->ops->config_size - coff) {
			if (is_write && d->ops->config_write)
				d->ops->config_write(d, (uint32_t)coff, data, len);
			else if (!is_write && d->ops->config_read)
				d->ops->config_read(d, (uint32_t)coff, data, len);
			else if (!is_write)
				memset(data, 0, len);
		} else if (!is_write) {
			memset(data, 0, len);
		}
	} else if (len != 4 || off % 4) {
		/* The registers below the config space are 32-bit wide and aligned. */
		pr_debug("%s: %u-byte access at 0x%llx ignored", d->label, len,
			 (unsigned long long)off);
		if (!is_write)
			memset(data, 0, len);
	} else if (is_write) {
		memcpy(&v, data, 4);
		reg_write(d, off, le32toh(v));
	} else {
		v = htole32(reg_read(d, off));
		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&d->lock);
}

/* I/O thread: queue q was kicked (ioeventfd, or a QueueNotify that reached us). */
static void on_kick(void *opaque, uint32_t events)
{
	struct virtio_queue *q = opaque;
	struct virtio_dev *d = q->dev;
	eventfd_t n;

	if (eventfd_read(q->kick_fd, &n) < 0)
		return;
	pthread_mutex_lock(&d->lock);
	if (virtio_dev_running(d) && q->ready && d->ops->notify)
		d->ops->notify(d, q->index);
	pthread_mutex_unlock(&d->lock);
}

/* I/O thread: the guest EOI'd our interrupt and KVM lowered the line; raise it again if due. */
static void on_resample(void *opaque, uint32_t events)
{
	struct virtio_dev *d = opaque;
	eventfd_t n;

	if (eventfd_read(d->resample_fd, &n) < 0)
		return;
	pthread_mutex_lock(&d->lock);
	if (d->interrupt_status)
		virtio_raise_irq(d, 0);
	pthread_mutex_unlock(&d->lock);
}

static int ioeventfd(struct virtio_dev *d, struct virtio_queue *q, bool assign)
{
	struct kvm_ioeventfd io = {
		.datamatch = q->index,
		.addr = d->base + REG_QUEUE_NOTIFY,
		.len = 4,
		.fd = q->kick_fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	return kvm_ioctl(d->vm->vm_fd, KVM_IOEVENTFD, &io);
}

static int irqfd(struct virtio_dev *d, bool assign)
{
	struct kvm_irqfd f = {
		.fd = (uint32_t)d->irq_fd,
		.gsi = d->irq, /* arm64: GSI n is SPI n */
		.flags = assign ? KVM_IRQFD_FLAG_RESAMPLE : KVM_IRQFD_FLAG_DEASSIGN,
		.resamplefd = assign ? (uint32_t)d->resample_fd : 0,
	};

	return kvm_ioctl(d->vm->vm_fd, KVM_IRQFD, &f);
}

static int setup_queues(struct virtio_dev *d)
{
	int rc;

	for (unsigned int i = 0; i < d->ops->nr_queues; i++) {
		struct virtio_queue *q = &d->queues[i];

		q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (q->kick_fd < 0)
			return -errno;
		rc = ioeventfd(d, q, true);
		if (rc < 0) {
			close(q->kick_fd);
			q->kick_fd = -1;
			return rc;
		}
		rc = evloop_add(d->vm->el, q->kick_fd, EPOLLIN, on_kick, q);
		if (rc < 0)
			return rc;
		q->kick_watched = true;
	}
	return 0;
}

static int setup_irq(struct virtio_dev *d)
{
	int rc;

	d->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->resample_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->irq_fd < 0 || d->resample_fd < 0)
		return -errno;
	rc = irqfd(d, true);
	if (rc < 0)
		return rc;
	d->irqfd_assigned = true;
	rc = evloop_add(d->vm->el, d->resample_fd, EPOLLIN, on_resample, d);
	if (rc < 0)
		return rc;
	d->resample_watched = true;
	return 0;
}

int virtio_mmio_init(struct virtio_dev *d, struct vm *vm, const struct virtio_dev_ops *ops,
		     uint64_t features)
{
	struct vm_virtio_slot slot;
	int rc;

	if (!ops->nr_queues || ops->nr_queues > VIRTIO_MAX_QUEUES || !ops->queue_max ||
	    (ops->queue_max & (ops->queue_max - 1)))
		return -EINVAL;
	d->vm = vm;
	d->ops = ops;
	d->irq_fd = d->resample_fd = -1;
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		d->queues[i] = (struct virtio_queue){ .dev = d, .index = i, .kick_fd = -1 };
	pthread_mutex_init(&d->lock, NULL);
	d->host_features = features | TRANSPORT_FEATURES;

	rc = vm_virtio_slot_alloc(vm, &slot);
	if (rc < 0) {
		pr_err("virtio-%s: no free virtio-mmio window (at most %u devices)", ops->name,
		       VM_MAX_VIRTIO);
		goto err;
	}
	d->base = slot.base;
	d->size = slot.size;
	d->irq = slot.irq;
	snprintf(d->label, sizeof(d->label), "virtio-%s@%llx", ops->name,
		 (unsigned long long)d->base);
	rc = vm_mmio_register(vm, d->base, d->size, mmio_access, d);
	if (rc < 0) {
		pr_err("%s: cannot claim its MMIO window: %s", d->label, strerror(-rc));
		goto err;
	}
	rc = setup_queues(d);
	if (rc == 0)
		rc = setup_irq(d);
	if (rc < 0) {
		pr_err("%s: ioeventfd/irqfd setup: %s", d->label, strerror(-rc));
		goto err;
	}
	return 0;

err:
	virtio_mmio_exit(d);
	return rc;
}

void virtio_mmio_exit(struct virtio_dev *d)
{
	if (!d->ops)
		return;
	pthread_mutex_lock(&d->lock);
	reset(d);
	pthread_mutex_unlock(&d->lock);
	for (unsigned int i = 0; i < d->ops->nr_queues; i++) {
		struct virtio_queue *q = &d->queues[i];

		if (q->kick_watched)
			evloop_del(d->vm->el, q->kick_fd);
		if (q->kick_fd >= 0) {
			ioeventfd(d, q, false);
			close(q->kick_fd);
		}
		q->kick_fd = -1;
		q->kick_watched = false;
	}
	if (d->resample_watched)
		evloop_del(d->vm->el, d->resample_fd);
	if (d->irqfd_assigned)
		irqfd(d, false);
	if (d->irq_fd >= 0)
		close(d->irq_fd);
	if (d->resample_fd >= 0)
		close(d->resample_fd);
	d->irq_fd = d->resample_fd = -1;
	d->resample_watched = d->irqfd_assigned = false;
	pthread_mutex_destroy(&d->lock);
	d->ops = NULL;
}
