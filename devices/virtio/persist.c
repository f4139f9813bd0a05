/* virtio-mmio snapshot state: the transport record every virtio device's payload ends with. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "devices/virtio/virtio.h"
#include "devices/virtio/virtio_int.h"
#include "log.h"
#include "snapshot/buf.h"
#include "vm.h"

/* Transport flags. */
#define SF_ACTIVATED 0x1u
#define SF_ALL	     SF_ACTIVATED

/* Queue flags. */
#define QF_READY     0x1u
#define QF_EVENT_IDX 0x2u
#define QF_INDIRECT  0x4u
#define QF_SIGNALLED 0x8u /* the event-idx shadow (signalled_used) is valid */
#define QF_ALL	     0xfu

#define STATUS_BITS 0xffu /* the status register is 8 bits wide */
#define INT_BITS    (VIRTIO_INT_VRING | VIRTIO_INT_CONFIG)

/* The record, decoded: a plain struct, checked before any of it reaches the device. */
struct qsnap {
	uint32_t num, flags;
	uint64_t desc, driver, device;
	uint16_t last_avail, used_idx, signalled_used, reserved;
};

struct vsnap {
	uint32_t version, device_id, nr_queues, status;
	uint64_t host_features, guest_features;
	uint32_t host_features_sel, guest_features_sel, queue_sel;
	uint32_t config_generation, interrupt_status, flags;
	struct qsnap q[VIRTIO_MAX_QUEUES];
};

/* --- Save --------------------------------------------------------------------------------- */

static void put_queue(struct snap_buf *out, const struct virtio_queue *q, unsigned int held)
{
	const struct virtq *vq = &q->vq;
	uint32_t flags = 0;

	if (q->ready)
		flags = QF_READY | (vq->event_idx ? QF_EVENT_IDX : 0) |
			(vq->indirect ? QF_INDIRECT : 0) | (vq->signalled_valid ? QF_SIGNALLED : 0);
	else
		held = 0; /* a queue that is not ready has no ring state */
	snap_put_u32(out, q->num);
	snap_put_u32(out, flags);
	snap_put_u64(out, q->desc);
	snap_put_u64(out, q->driver);
	snap_put_u64(out, q->device);
	snap_put_u16(out, (uint16_t)(vq->last_avail - held));
	snap_put_u16(out, vq->used_idx);
	snap_put_u16(out, vq->signalled_used);
	snap_put_u16(out, 0);
}

int virtio_dev_save_held(struct virtio_dev *d, struct snap_buf *out, const unsigned int *held)
{
	snap_put_u32(out, VIRTIO_SNAP_VERSION);
	snap_put_u32(out, d->ops->device_id);
	snap_put_u32(out, d->ops->nr_queues);
	snap_put_u32(out, d->status);
	snap_put_u64(out, d->host_features);
	snap_put_u64(out, d->guest_features);
	snap_put_u32(out, d->host_features_sel);
	snap_put_u32(out, d->guest_features_sel);
	snap_put_u32(out, d->queue_sel);
	snap_put_u32(out, d->config_generation);
	snap_put_u32(out, d->interrupt_status);
	snap_put_u32(out, d->activated ? SF_ACTIVATED : 0);
	for (unsigned int i = 0; i < d->ops->nr_queues; i++)
		put_queue(out, &d->queues[i], held ? held[i] : 0);
	return snap_buf_error(out);
}

int virtio_dev_save(struct virtio_dev *d, struct snap_buf *out)
{
	return virtio_dev_save_held(d, out, NULL);
}

/* --- Restore: decode ---------------------------------------------------------------------- */

static int trunc_or_trailing(const struct snap_buf *in, char *err, size_t errlen)
{
	if (snap_buf_error(in))
		return snap_errf(err, errlen, -EINVAL, "transport state is truncated");
	return snap_errf(err, errlen, -EINVAL, "%zu unexpected bytes after the transport state",
			 in->len - in->pos);
}

static int decode(struct snap_buf *in, struct vsnap *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->version = snap_get_u32(in);
	if (snap_buf_error(in))
		return trunc_or_trailing(in, err, errlen);
	if (s->version != VIRTIO_SNAP_VERSION)
		return snap_errf(
		    err, errlen, -EINVAL,
		    "transport state version %u is not supported (this build reads %u)", s->version,
		    VIRTIO_SNAP_VERSION);
	s->device_id = snap_get_u32(in);
	s->nr_queues = snap_get_u32(in);
	if (snap_buf_error(in))
		return trunc_or_trailing(in, err, errlen);
	if (s->nr_queues > VIRTIO_MAX_QUEUES)
		return snap_errf(err, errlen, -EINVAL, "queue count %u in the snapshot, at most %u",
				 s->nr_queues, VIRTIO_MAX_QUEUES);
	s->status = snap_get_u32(in);
	s->host_features = snap_get_u64(in);
	s->guest_features = snap_get_u64(in);
	s->host_features_sel = snap_get_u32(in);
	s->guest_features_sel = snap_get_u32(in);
	s->queue_sel = snap_get_u32(in);
	s->config_generation = snap_get_u32(in);
	s->interrupt_status = snap_get_u32(in);
	s->flags = snap_get_u32(in);
	for (unsigned int i = 0; i < s->nr_queues; i++) {
		struct qsnap *q = &s->q[i];

		q->num = snap_get_u32(in);
		q->flags = snap_get_u32(in);
		q->desc = snap_get_u64(in);
		q->driver = snap_get_u64(in);
		q->device = snap_get_u64(in);
		q->last_avail = snap_get_u16(in);
		q->used_idx = snap_get_u16(in);
		q->signalled_used = snap_get_u16(in);
		q->reserved = snap_get_u16(in);
	}
	if (snap_buf_done(in))
		return trunc_or_trailing(in, err, errlen);
	return 0;
}

/* --- Restore: check against the device ---------------------------------------------------- */

static int check_status(const struct virtio_dev *d, const struct vsnap *s, char *err, size_t errlen)
{
	uint64_t g = s->guest_features;

	if (s->status & ~STATUS_BITS)
		return snap_errf(err, errlen, -EINVAL, "status 0x%x has undefined bits", s->status);
	if (s->flags & ~SF_ALL)
		return snap_errf(err, errlen, -EINVAL, "unknown transport flags 0x%x", s->flags);
	if (s->interrupt_status & ~INT_BITS)
		return snap_errf(err, errlen, -EINVAL, "interrupt status 0x%x has undefined bits",
				 s->interrupt_status);
	if ((s->flags & SF_ACTIVATED) && !s->status)
		return snap_errf(err, errlen, -EINVAL, "activated with status 0");
	/* DRIVER_OK either activated the device or failed it. */
	if ((s->status & VIRTIO_STATUS_DRIVER_OK) && !(s->flags & SF_ACTIVATED) &&
	    !(s->status & VIRTIO_STATUS_NEEDS_RESET))
		return snap_errf(err, errlen, -EINVAL, "DRIVER_OK but never activated");
	if (!(s->status & VIRTIO_STATUS_FEATURES_OK))
		return 0; /* features still being negotiated: checked at FEATURES_OK */
	if (!(g & (1ull << VIRTIO_F_VERSION_1)))
		return snap_errf(err, errlen, -EINVAL, "FEATURES_OK without VIRTIO_F_VERSION_1");
	if (g & ~s->host_features)
		return snap_errf(err, errlen, -EINVAL,
				 "driver features 0x%llx beyond the saved device's 0x%llx",
				 (unsigned long long)g, (unsigned long long)s->host_features);
	if (g & ~d->host_features)
		return snap_errf(err, errlen, -EINVAL,
				 "the driver uses features 0x%llx this device does not offer (it "
				 "offers 0x%llx: configured differently from the snapshot's)",
				 (unsigned long long)(g & ~d->host_features),
				 (unsigned long long)d->host_features);
	return 0;
}

/* A ready queue: its size and rings, mapped into vq through the checked translation. */
static int check_queue(const struct virtio_dev *d, unsigned int i, const struct qsnap *q,
		       struct virtq *vq, char *err, size_t errlen)
{
	char why[200];

	if (q->flags & ~QF_ALL)
		return snap_errf(err, errlen, -EINVAL, "queue %u: unknown flags 0x%x", i, q->flags);
	if (q->reserved)
		return snap_errf(err, errlen, -EINVAL, "queue %u: reserved bytes are not zero", i);
	if (!(q->flags & QF_READY)) {
		memset(vq, 0, sizeof(*vq));
		if (q->flags || q->last_avail || q->used_idx || q->signalled_used)
			return snap_errf(err, errlen, -EINVAL,
					 "queue %u is not ready but has ring state", i);
		return 0;
	}
	if (!q->num || (q->num & (q->num - 1)))
		return snap_errf(err, errlen, -EINVAL, "queue %u size %u is not a power of 2", i,
				 q->num);
	if (q->num > d->ops->queue_max)
		return snap_errf(err, errlen, -EINVAL, "queue %u size %u above the maximum %u", i,
				 q->num, d->ops->queue_max);
	if ((q->flags & QF_EVENT_IDX) && !(d->host_features & (1ull << VIRTIO_F_RING_EVENT_IDX)))
		return snap_errf(err, errlen, -EINVAL,
				 "queue %u uses EVENT_IDX, which the device does not offer", i);
	if ((q->flags & QF_INDIRECT) && !(d->host_features & (1ull << VIRTIO_F_RING_INDIRECT_DESC)))
		return snap_errf(err, errlen, -EINVAL,
				 "queue %u uses INDIRECT_DESC, which the device does not offer", i);
	if (virtq_init(vq, q->num, q->desc, q->driver, q->device, q->flags & QF_EVENT_IDX,
		       q->flags & QF_INDIRECT, virtio_xlate, d->vm, why, sizeof(why)) < 0)
		return snap_errf(err, errlen, -EINVAL, "queue %u: %s", i, why);
	vq->last_avail = q->last_avail;
	vq->used_idx = q->used_idx;
	vq->signalled_used = q->signalled_used;
	vq->signalled_valid = q->flags & QF_SIGNALLED;
	return 0;
}

static int check(const struct virtio_dev *d, const struct vsnap *s, struct virtq *vqs, char *err,
		 size_t errlen)
{
	int rc;

	if (s->device_id != d->ops->device_id)
		return snap_errf(err, errlen, -EINVAL,
				 "the saved transport is of virtio device id %u, this device is "
				 "id %u (%s)",
				 s->device_id, d->ops->device_id, d->ops->name);
	if (s->nr_queues != d->ops->nr_queues)
		return snap_errf(err, errlen, -EINVAL,
				 "queue count %u in the snapshot, %u in the device", s->nr_queues,
				 d->ops->nr_queues);
	rc = check_status(d, s, err, errlen);
	for (unsigned int i = 0; !rc && i < s->nr_queues; i++)
		rc = check_queue(d, i, &s->q[i], &vqs[i], err, errlen);
	return rc;
}

/* --- Restore: apply ----------------------------------------------------------------------- */

/* Run ops->activate again; a failure ends as it would at DRIVER_OK: the device needs a reset. */
static void reactivate(struct virtio_dev *d)
{
	int rc = d->ops->activate ? d->ops->activate(d) : 0;

	if (rc >= 0)
		return;
	if (d->status & VIRTIO_STATUS_NEEDS_RESET) {
		pr_debug("%s: not restarted after the restore (%s); it already needed a reset",
			 d->label, strerror(-rc));
		return;
	}
	pr_warn("%s: cannot restart after the restore: %s; device needs reset", d->label,
		strerror(-rc));
	d->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (d->status & VIRTIO_STATUS_DRIVER_OK)
		d->interrupt_status |= VIRTIO_INT_CONFIG;
}

static void apply(struct virtio_dev *d, const struct vsnap *s, const struct virtq *vqs)
{
	d->guest_features = s->guest_features;
	d->host_features_sel = s->host_features_sel;
	d->guest_features_sel = s->guest_features_sel;
	d->queue_sel = s->queue_sel;
	d->config_generation = s->config_generation;
	d->status = s->status;
	d->interrupt_status = s->interrupt_status;
	for (unsigned int i = 0; i < d->ops->nr_queues; i++) {
		struct virtio_queue *q = &d->queues[i];

		q->num = s->q[i].num;
		q->desc = s->q[i].desc;
		q->driver = s->q[i].driver;
		q->device = s->q[i].device;
		q->ready = s->q[i].flags & QF_READY;
		q->vq = vqs[i];
	}
	d->activated = s->flags & SF_ACTIVATED;
	if (d->activated)
		reactivate(d);
	if (virtio_dev_running(d))
		for (unsigned int i = 0; i < d->ops->nr_queues; i++)
			if (d->queues[i].ready)
				virtio_kick(&d->queues[i]);
	if (d->interrupt_status)
		virtio_raise_irq(d, 0);
}

int virtio_dev_restore(struct virtio_dev *d, struct snap_buf *in, char *err, size_t errlen)
{
	struct virtq vqs[VIRTIO_MAX_QUEUES];
	struct vsnap s;
	int rc;

	rc = decode(in, &s, err, errlen);
	if (rc < 0)
		return rc;
	if (d->status || d->activated)
		return snap_errf(err, errlen, -EBUSY,
				 "the device is in use (status 0x%x): a restore needs a device "
				 "fresh from its init",
				 d->status);
	rc = check(d, &s, vqs, err, errlen);
	if (rc < 0)
		return rc;
	apply(d, &s, vqs);
	return 0;
}
