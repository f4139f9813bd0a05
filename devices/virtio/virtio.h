/* The virtio-mmio transport (version 2) that every virtio device sits on; see docs/virtio.md. */
#ifndef TORPOR_VIRTIO_H
#define TORPOR_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/virtio/virtq.h"

struct vm;
struct virtio_dev;
struct snap_buf;

/* Device status bits (virtio 1.x 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE  1
#define VIRTIO_STATUS_DRIVER       2
#define VIRTIO_STATUS_DRIVER_OK    4
#define VIRTIO_STATUS_FEATURES_OK  8
#define VIRTIO_STATUS_NEEDS_RESET  64
#define VIRTIO_STATUS_FAILED       128

/* Transport feature bits every device may offer. */
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX     29
#define VIRTIO_F_VERSION_1          32

/* InterruptStatus bits. */
#define VIRTIO_INT_VRING  1
#define VIRTIO_INT_CONFIG 2

/* Device IDs (virtio 1.x 5). */
#define VIRTIO_ID_NET   1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_VSOCK 19

#define VIRTIO_MAX_QUEUES 8

/*
 * What a device tells the transport. Every callback runs with d->lock held;
 * notify runs on the I/O thread, the others on the vCPU thread whose MMIO
 * access caused them.
 */
struct virtio_dev_ops {
	const char *name;        /* "blk", "vsock": log prefix virtio-<name>@<base> */
	uint32_t device_id;      /* VIRTIO_ID_* */
	unsigned int nr_queues;  /* 1..VIRTIO_MAX_QUEUES */
	uint16_t queue_max;      /* QueueNumMax of every queue (a power of 2) */
	uint32_t config_size;    /* bytes of device config space */
	/* Read/write [off, off+len) of the config space (already range-checked). */
	void (*config_read)(struct virtio_dev *d, uint32_t off, void *data, unsigned int len);
	void (*config_write)(struct virtio_dev *d, uint32_t off, const void *data,
			     unsigned int len);
	/* DRIVER_OK: features and ready queues are final. 0, or -errno: needs reset. */
	int (*activate)(struct virtio_dev *d);
	/* Reset (status 0) or teardown: stop using the queues; in-flight work ends first. */
	void (*reset)(struct virtio_dev *d);
	/* The driver notified queue q (the device is running and q is ready). */
	void (*notify)(struct virtio_dev *d, unsigned int q);
};

struct virtio_queue {
	struct virtio_dev *dev;
	unsigned int index;
	struct virtq vq;      /* valid while ready */
	uint32_t num;         /* QueueNum */
	bool ready;
	uint64_t desc, driver, device; /* guest addresses of the three areas */
	int kick_fd;          /* ioeventfd on QueueNotify == index */
	bool kick_watched;
};

/* The transport state; a device embeds it and finds itself with container_of. */
struct virtio_dev {
	struct vm *vm;
	const struct virtio_dev_ops *ops;
	char label[48];        /* virtio-blk@40010000 */
	uint64_t base, size;   /* MMIO window */
	unsigned int irq;      /* SPI */

	pthread_mutex_t lock;  /* guards everything below and the device's queue state */
	uint64_t host_features, guest_features;
	uint32_t host_features_sel, guest_features_sel;
	uint32_t status, interrupt_status, config_generation;
	uint32_t queue_sel;
	bool activated;
	struct virtio_queue queues[VIRTIO_MAX_QUEUES];

	int irq_fd, resample_fd; /* KVM irqfd with resampling: a level-triggered SPI */
	bool resample_watched;
	bool irqfd_assigned;
};

/*
 * Put d on the transport: take the next virtio-mmio window and SPI of vm,
 * claim the MMIO range, one KVM ioeventfd per queue and a KVM irqfd with a
 * resamplefd, watched on vm's I/O loop. features are the device's own bits;
 * VERSION_1, EVENT_IDX and INDIRECT_DESC are added. Call after
 * arch_vm_finalize() and before the device tree is built. 0 or -errno.
 */
int virtio_mmio_init(struct virtio_dev *d, struct vm *vm, const struct virtio_dev_ops *ops,
		     uint64_t features);
/* Reset the device (ops->reset), release the ioeventfds, irqfd and window state. */
void virtio_mmio_exit(struct virtio_dev *d);

/* The rest: with d->lock held. */

/* DRIVER_OK is set and DEVICE_NEEDS_RESET is not. */
bool virtio_dev_running(const struct virtio_dev *d);
bool virtio_has_feature(const struct virtio_dev *d, unsigned int bit);

/*
 * The device met a guest error it cannot go on from: set DEVICE_NEEDS_RESET,
 * raise a configuration-change interrupt and log one warning (the first time
 * only). The device then takes no new requests until the driver resets it.
 */
void virtio_dev_fail(struct virtio_dev *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Pop the next chain of queue q into c (c->cap >= the queue size). 1 with a
 * chain, 0 when there is none or the device is not running; a malformed
 * chain fails the device (virtio_dev_fail) and returns 0.
 */
int virtio_queue_pop(struct virtio_dev *d, unsigned int q, struct virtq_chain *c);
/* Return a chain to the driver (no interrupt yet: see virtio_queue_notify_guest). */
void virtio_queue_push(struct virtio_dev *d, unsigned int q, uint16_t head, uint32_t len);
/* After pushes: interrupt the guest if it asked for it. */
void virtio_queue_notify_guest(struct virtio_dev *d, unsigned int q);
/* Before idling: re-arm guest notifications; true if more chains arrived meanwhile. */
bool virtio_queue_enable_notify(struct virtio_dev *d, unsigned int q);
/* The negotiated size of queue q (0 when not ready). */
unsigned int virtio_queue_size(const struct virtio_dev *d, unsigned int q);

/*
 * Snapshot state of the transport (devices/virtio/persist.c; the bytes are
 * in docs/snapshot-format.md, "virtio-mmio transport record"). A device's
 * own save/restore embeds this record at the end of its payload. Both run
 * with d->lock held. No host pointer or fd is saved: restore maps the rings
 * again through the checked guest-address translation.
 */
#define VIRTIO_SNAP_VERSION 1

/*
 * Append the transport record of d to out: registers, feature words and
 * selectors, status (DEVICE_NEEDS_RESET included), interrupt status, and
 * each queue's size, readiness, ring addresses and ring indexes. 0 or out's
 * error (-ENOMEM).
 */
int virtio_dev_save(struct virtio_dev *d, struct snap_buf *out);
/*
 * The same, for a device that holds popped chains it has not answered yet
 * (net: an RX buffer waiting for a packet, a TX packet the TAP would not
 * take): held[q] chains, the last ones popped from queue q, are given back
 * in the record (its next-available index is moved back by held[q]), so the
 * restored device pops them again. The live device is not changed. held may
 * be NULL (none); it has d->ops->nr_queues entries.
 */
int virtio_dev_save_held(struct virtio_dev *d, struct snap_buf *out, const unsigned int *held);
/*
 * Read a transport record from in, which must end with it, into d, a device
 * fresh from its init (status 0). Everything is checked before d changes:
 * the record's version, device id and queue count; status, interrupt status
 * and flags hold no undefined bits; with FEATURES_OK the driver's features
 * are VERSION_1 and a subset of what d offers now (a device configured
 * differently is refused); each ready queue's size is a power of 2 up to
 * QueueNumMax and its rings are aligned and inside guest RAM; a queue that
 * is not ready has no ring state; every byte of in is used. Then the state
 * is applied, ops->activate runs again for a device the driver had
 * activated (a failure there makes the device need a reset, as it would at
 * run time), every ready queue of a running device is kicked once (buffers
 * made available before the snapshot are looked at when the I/O loop runs)
 * and the interrupt line is raised again when the interrupt status is not
 * zero. The ioeventfds and the irqfd were registered by virtio_mmio_init()
 * already. Returns 0, or -EINVAL (-EBUSY for a device already in use) with
 * one line in err without a prefix ("queue 0 size 4096 above the maximum
 * 256"); the caller names the device.
 */
int virtio_dev_restore(struct virtio_dev *d, struct snap_buf *in, char *err, size_t errlen);

#endif
