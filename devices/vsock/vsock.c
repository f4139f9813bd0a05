/* virtio-vsock on virtio-mmio: queues, config space, init/exit (logic in core*.c, host.c). */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/virtio.h"
#include "devices/vsock/core.h"
#include "devices/vsock/host.h"
#include "devices/vsock/vsock.h"
#include "log.h"
#include "snapshot/buf.h"
#include "vm.h"

#define VSOCK_QUEUE_MAX 256

struct vsock {
	struct virtio_dev vdev;
	struct vsock_host *host;
	struct vsock_core *core;
	struct iovec iov[VSOCK_QUEUE_MAX]; /* the chain being handled */
};

static struct vsock *to_vsock(struct virtio_dev *d)
{
	return (struct vsock *)((char *)d - offsetof(struct vsock, vdev));
}

static struct virtq_chain chain_of(struct vsock *vs)
{
	return (struct virtq_chain){.cap = VSOCK_QUEUE_MAX, .iov = vs->iov};
}

/* Fill rx buffers while the core has packets; a too-short buffer is a broken driver. */
static void service_rx(struct vsock *vs)
{
	struct virtio_dev *d = &vs->vdev;
	struct virtq_chain c = chain_of(vs);
	bool pushed = false;

	while (vsock_core_rx_pending(vs->core)) {
		int w;

		if (!virtio_queue_pop(d, VSOCK_VQ_RX, &c)) {
			if (virtio_queue_enable_notify(d, VSOCK_VQ_RX))
				continue;
			break;
		}
		w = vsock_core_rx(vs->core, c.iov + c.nr_out, (int)c.nr_in);
		if (w < 0) {
			virtio_dev_fail(d,
					"rx buffer of %llu writable bytes is shorter than a "
					"packet header",
					(unsigned long long)c.in_len);
			break;
		}
		/* 0: nothing after all (a spurious wakeup); Linux drops an empty buffer. */
		virtio_queue_push(d, VSOCK_VQ_RX, c.head, (uint32_t)w);
		pushed = true;
		if (!w)
			break;
	}
	if (pushed)
		virtio_queue_notify_guest(d, VSOCK_VQ_RX);
}

static void service_tx(struct vsock *vs)
{
	struct virtio_dev *d = &vs->vdev;
	struct virtq_chain c = chain_of(vs);
	bool pushed = false;

	do {
		while (virtio_queue_pop(d, VSOCK_VQ_TX, &c)) {
			vsock_core_tx(vs->core, c.iov, (int)c.nr_out);
			virtio_queue_push(d, VSOCK_VQ_TX, c.head, 0);
			pushed = true;
		}
	} while (virtio_queue_enable_notify(d, VSOCK_VQ_TX));
	if (pushed)
		virtio_queue_notify_guest(d, VSOCK_VQ_TX);
}

static void service_event(struct vsock *vs)
{
	struct virtio_dev *d = &vs->vdev;
	struct virtq_chain c = chain_of(vs);

	while (vsock_core_event_pending(vs->core)) {
		int w;

		if (!virtio_queue_pop(d, VSOCK_VQ_EVENT, &c)) {
			if (virtio_queue_enable_notify(d, VSOCK_VQ_EVENT))
				continue;
			break;
		}
		w = vsock_core_event(vs->core, c.iov + c.nr_out, (int)c.nr_in);
		if (w < 0) {
			virtio_dev_fail(d, "event buffer of %llu writable bytes is too short",
					(unsigned long long)c.in_len);
			break;
		}
		virtio_queue_push(d, VSOCK_VQ_EVENT, c.head, (uint32_t)w);
		virtio_queue_notify_guest(d, VSOCK_VQ_EVENT);
	}
}

/* The host side has packets for the guest (d->lock held). */
static void on_host_kick(void *opaque)
{
	struct vsock *vs = opaque;

	if (!virtio_dev_running(&vs->vdev))
		return;
	service_rx(vs);
	service_event(vs);
}

static void vsock_notify(struct virtio_dev *d, unsigned int q)
{
	struct vsock *vs = to_vsock(d);

	if (q == VSOCK_VQ_TX)
		service_tx(vs);
	service_rx(vs);
	service_event(vs);
}

static int vsock_activate(struct virtio_dev *d)
{
	struct vsock *vs = to_vsock(d);

	service_rx(vs);
	service_event(vs);
	return 0;
}

static void vsock_reset(struct virtio_dev *d)
{
	struct vsock *vs = to_vsock(d);

	if (vs->core)
		vsock_core_reset(vs->core);
}

static void vsock_config_read(struct virtio_dev *d, uint32_t off, void *data, unsigned int len)
{
	struct vsock *vs = to_vsock(d);
	uint64_t cid = htole64(vs->core ? vsock_core_cid(vs->core) : 0);

	memcpy(data, (const uint8_t *)&cid + off, len); /* the transport checked off+len <= 8 */
}

static void vsock_config_write(struct virtio_dev *d, uint32_t off, const void *data,
			       unsigned int len)
{
	pr_debug("%s: write to read-only config at %u ignored", d->label, off);
}

static const struct virtio_dev_ops vsock_ops = {
    .name = "vsock",
    .device_id = VIRTIO_ID_VSOCK,
    .nr_queues = VSOCK_NR_VQS,
    .queue_max = VSOCK_QUEUE_MAX,
    .config_size = sizeof(uint64_t), /* struct virtio_vsock_config: le64 guest_cid */
    .config_read = vsock_config_read,
    .config_write = vsock_config_write,
    .activate = vsock_activate,
    .reset = vsock_reset,
    .notify = vsock_notify,
};

int vsock_init(struct vm *vm, uint64_t guest_cid, const char *uds_path, struct vsock **out)
{
	struct vsock *vs;
	int rc;

	if (guest_cid <= VSOCK_CID_HOST || guest_cid >= 0xffffffffull) {
		pr_err("vsock: guest CID %llu out of range (3 .. 4294967294)",
		       (unsigned long long)guest_cid);
		return -EINVAL;
	}
	vs = calloc(1, sizeof(*vs));
	if (!vs)
		return -ENOMEM;
	rc = virtio_mmio_init(&vs->vdev, vm, &vsock_ops, 0);
	if (rc < 0)
		goto err_free;
	rc = vsock_host_init(vm->el, uds_path, guest_cid, &vs->vdev.lock, on_host_kick, vs,
			     &vs->host);
	if (rc < 0)
		goto err_mmio;
	vs->core = vsock_host_core(vs->host);
	*out = vs;
	return 0;

err_mmio:
	virtio_mmio_exit(&vs->vdev);
err_free:
	free(vs);
	return rc;
}

void vsock_exit(struct vsock *vs)
{
	if (!vs)
		return;
	virtio_mmio_exit(&vs->vdev); /* resets the device: every stream closes */
	vsock_host_exit(vs->host);
	free(vs);
}

void vsock_transport_reset(struct vsock *vs)
{
	pthread_mutex_lock(&vs->vdev.lock);
	vsock_core_transport_reset(vs->core);
	if (virtio_dev_running(&vs->vdev))
		service_event(vs);
	pthread_mutex_unlock(&vs->vdev.lock);
}

int vsock_save(struct vsock *vs, struct snap_buf *out)
{
	int rc;

	pthread_mutex_lock(&vs->vdev.lock);
	snap_put_u32(out, VSOCK_SNAP_VERSION);
	snap_put_u64(out, vsock_core_cid(vs->core));
	rc = virtio_dev_save(&vs->vdev, out);
	pthread_mutex_unlock(&vs->vdev.lock);
	if (rc < 0)
		pr_err("vsock: snapshot: %s", strerror(-rc));
	return rc;
}

int vsock_restore(struct vsock *vs, const void *data, size_t len, char *err, size_t errlen)
{
	uint64_t cid, now = vsock_core_cid(vs->core);
	struct snap_buf in;
	uint32_t version;
	char why[256];
	int rc;

	snap_buf_view(&in, data, len);
	version = snap_get_u32(&in);
	if (!snap_buf_error(&in) && version != VSOCK_SNAP_VERSION)
		return snap_errf(err, errlen, -EINVAL,
				 "vsock: state version %u is not supported (this build reads %u)",
				 version, VSOCK_SNAP_VERSION);
	cid = snap_get_u64(&in);
	if (snap_buf_error(&in))
		return snap_errf(err, errlen, -EINVAL, "vsock: state is truncated");
	if (cid <= VSOCK_CID_HOST || cid >= 0xffffffffull)
		return snap_errf(err, errlen, -EINVAL, "vsock: saved guest CID %llu out of range",
				 (unsigned long long)cid);
	pthread_mutex_lock(&vs->vdev.lock);
	rc = virtio_dev_restore(&vs->vdev, &in, why, sizeof(why));
	pthread_mutex_unlock(&vs->vdev.lock);
	if (rc < 0)
		return snap_errf(err, errlen, rc, "vsock: %s", why);
	if (cid != now)
		pr_info("vsock: guest CID %llu (the snapshot's was %llu): the guest takes it at "
			"the transport reset", (unsigned long long)now, (unsigned long long)cid);
	return 0;
}
