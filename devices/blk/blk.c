/* virtio-blk device: image and overlay files, config space, the request queue (docs/blk.md). */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "devices/blk/blk.h"
#include "devices/blk/blk_priv.h"
#include "evloop.h"
#include "log.h"
#include "vm.h"

#define blk_of(d) ((struct blk *)((char *)(d) - offsetof(struct blk, vdev)))

void blk_finish(struct blk *b, struct blk_ioreq *req, uint8_t status)
{
	*req->r.status = status;
	if (!b->draining) {
		virtio_queue_push(&b->vdev, 0, req->chain.head,
				  blk_req_used_len(&req->r, status == VIRTIO_BLK_S_OK));
		b->pushed = true;
	}
	free(req->subs);
	free(req->slices);
	req->subs = NULL;
	req->slices = NULL;
	req->one = (struct blk_sub){ 0 };
	req->pending = 0;
	req->error = 0;
	req->flush_after = false;
	req->next = b->free;
	b->free = req;
}

/* A popped chain: parse it, answer what needs no I/O, start the rest. */
static void start_request(struct blk *b, struct blk_ioreq *req)
{
	struct blk_req *r = &req->r;
	char err[200];

	if (blk_req_parse(&req->chain, b->capacity, b->read_only, r, err, sizeof(err)) < 0) {
		virtio_dev_fail(&b->vdev, "queue 0: %s", err);
		req->next = b->free; /* never given back: the device needs a reset */
		b->free = req;
		return;
	}
	if (r->early_status >= 0) {
		blk_finish(b, req, (uint8_t)r->early_status);
		return;
	}
	if (r->type == VIRTIO_BLK_T_GET_ID) {
		iov_from_buf(r->iov, r->nr_iov, 0, b->serial,
			     r->len < VIRTIO_BLK_ID_BYTES ? r->len : VIRTIO_BLK_ID_BYTES);
		blk_finish(b, req, VIRTIO_BLK_S_OK);
		return;
	}
	if (r->type == VIRTIO_BLK_T_FLUSH && b->read_only) {
		blk_finish(b, req, VIRTIO_BLK_S_OK);
		return;
	}
	blk_io_start(b, req);
}

/* Take every available chain (as far as the pool allows), then submit the batch. */
static void process_queue(struct blk *b)
{
	struct virtio_dev *d = &b->vdev;

	for (;;) {
		while (b->free) {
			struct blk_ioreq *req = b->free;

			if (virtio_queue_pop(d, 0, &req->chain) <= 0)
				break;
			b->free = req->next;
			start_request(b, req);
		}
		if (!b->free) {
			b->stalled = true; /* resumed when a request completes */
			break;
		}
		if (!virtio_queue_enable_notify(d, 0))
			break;
	}
	io_uring_submit(&b->ring);
	if (b->pushed) {
		b->pushed = false;
		virtio_queue_notify_guest(d, 0);
	}
}

/* I/O thread: the ring posted completions. */
static void on_ring(void *opaque, uint32_t events)
{
	struct blk *b = opaque;
	eventfd_t n;

	if (eventfd_read(b->ring_efd, &n) < 0)
		return;
	pthread_mutex_lock(&b->vdev.lock);
	blk_io_reap(b);
	if (b->stalled && b->free && virtio_dev_running(&b->vdev)) {
		b->stalled = false;
		process_queue(b);
	} else if (b->pushed) {
		b->pushed = false;
		virtio_queue_notify_guest(&b->vdev, 0);
	}
	pthread_mutex_unlock(&b->vdev.lock);
}

static void blk_notify(struct virtio_dev *d, unsigned int q)
{
	process_queue(blk_of(d));
}

static void free_pool(struct blk *b)
{
	free(b->reqs);
	free(b->iov_pool);
	b->reqs = NULL;
	b->iov_pool = NULL;
	b->free = NULL;
	b->nr_reqs = 0;
}

static int blk_activate(struct virtio_dev *d)
{
	struct blk *b = blk_of(d);
	unsigned int n = virtio_queue_size(d, 0);

	if (!n)
		return -EINVAL;
	free_pool(b);
	b->reqs = calloc(n, sizeof(*b->reqs));
	b->iov_pool = calloc((size_t)n * n, sizeof(*b->iov_pool));
	if (!b->reqs || !b->iov_pool) {
		free_pool(b);
		return -ENOMEM;
	}
	b->nr_reqs = n;
	for (unsigned int i = n; i-- > 0;) {
		b->reqs[i].chain.cap = n;
		b->reqs[i].chain.iov = b->iov_pool + (size_t)i * n;
		b->reqs[i].next = b->free;
		b->free = &b->reqs[i];
	}
	b->stalled = b->pushed = false;
	b->flush_negotiated = virtio_has_feature(d, VIRTIO_BLK_F_FLUSH);
	return 0;
}

/* Status 0 or teardown: every request in flight ends (its answer dropped) before this returns. */
static void blk_reset(struct virtio_dev *d)
{
	struct blk *b = blk_of(d);

	if (b->ring_ok)
		blk_io_drain(b);
	if (!b->inflight) /* else the kernel may still use them: leak rather than corrupt */
		free_pool(b);
	b->stalled = b->pushed = false;
}

static void blk_config_read(struct virtio_dev *d, uint32_t off, void *data, unsigned int len)
{
	memcpy(data, (const uint8_t *)&blk_of(d)->config + off, len);
}

static const struct virtio_dev_ops blk_ops = {
	.name = "blk",
	.device_id = VIRTIO_ID_BLOCK,
	.nr_queues = 1,
	.queue_max = BLK_QUEUE_MAX,
	.config_size = sizeof(struct virtio_blk_config),
	.config_read = blk_config_read,
	.activate = blk_activate,
	.reset = blk_reset,
	.notify = blk_notify,
};

/* The image: size, and a lock that keeps writers and readers of it apart. */
static int open_image(struct blk *b, const struct disk_config *cfg)
{
	bool rw = !cfg->read_only && !cfg->overlay;
	struct stat st;
	int rc;

	b->fd = open(cfg->path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (b->fd < 0) {
		rc = -errno;
		pr_err("disk %s: %s", cfg->path, strerror(-rc));
		return rc;
	}
	if (fstat(b->fd, &st) < 0) {
		rc = -errno;
		pr_err("disk %s: %s", cfg->path, strerror(-rc));
		return rc;
	}
	if (S_ISREG(st.st_mode)) {
		b->size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(b->fd, BLKGETSIZE64, &b->size) < 0) {
			rc = -errno;
			pr_err("disk %s: BLKGETSIZE64: %s", cfg->path, strerror(-rc));
			return rc;
		}
	} else {
		pr_err("disk %s: not a regular file or a block device", cfg->path);
		return -EINVAL;
	}
	if (flock(b->fd, (rw ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) {
		rc = -errno;
		if (rc == -EWOULDBLOCK)
			pr_err("disk %s: in use by another VM %s", cfg->path,
			       rw ? "(it is locked)" : "that writes to it (it is locked)");
		else
			pr_err("disk %s: flock: %s", cfg->path, strerror(-rc));
		return rc == -EWOULDBLOCK ? -EBUSY : rc;
	}
	b->capacity = b->size / BLK_SECTOR_SIZE;
	if (!b->capacity) {
		pr_err("disk %s: smaller than one 512-byte sector", cfg->path);
		return -EINVAL;
	}
	return 0;
}

static int open_ring(struct blk *b)
{
	int rc = io_uring_queue_init(BLK_QUEUE_MAX, &b->ring, 0);

	if (rc < 0) {
		pr_err("disk %s: io_uring is not available: %s (io_uring_setup failed: disabled "
		       "by the kernel.io_uring_disabled sysctl, a seccomp filter or the kernel "
		       "build?)", b->path, strerror(-rc));
		return rc;
	}
	b->ring_ok = true;
	b->ring_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->ring_efd < 0)
		return -errno;
	rc = io_uring_register_eventfd(&b->ring, b->ring_efd);
	if (rc < 0) {
		pr_err("disk %s: io_uring_register_eventfd: %s", b->path, strerror(-rc));
		return rc;
	}
	return 0;
}

static void fill_config(struct blk *b)
{
	struct virtio_blk_config *c = &b->config;
	uint32_t bs = b->has_overlay ? b->ovl.h.block_size : BLK_SECTOR_SIZE;

	memset(c, 0, sizeof(*c));
	c->capacity = htole64(b->capacity);
	c->seg_max = htole32(BLK_QUEUE_MAX - 2);
	c->blk_size = htole32(bs);
	c->num_queues = htole16(1);
	c->max_discard_sectors = htole32(BLK_MAX_DWZ_SECTORS);
	c->max_discard_seg = htole32(BLK_MAX_DWZ_SEGS);
	c->discard_sector_alignment = htole32(bs / BLK_SECTOR_SIZE);
	c->max_write_zeroes_sectors = htole32(BLK_MAX_DWZ_SECTORS);
	c->max_write_zeroes_seg = htole32(BLK_MAX_DWZ_SEGS);
	c->write_zeroes_may_unmap = 1;
}

static uint64_t features(const struct blk *b)
{
	uint64_t f = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
		     (1ull << VIRTIO_BLK_F_FLUSH);

	if (b->read_only)
		f |= 1ull << VIRTIO_BLK_F_RO;
	else
		f |= (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES);
	return f;
}

int blk_init(struct vm *vm, const struct disk_config *cfg, struct blk **out)
{
	char err[512];
	ptrdiff_t idx;
	struct blk *b;
	int rc;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->fd = b->ring_efd = -1;
	b->ovl.fd = -1;
	b->read_only = cfg->read_only;
	snprintf(b->path, sizeof(b->path), "%s", cfg->path);
	idx = cfg - vm->cfg->disks; /* vm.c passes &vm->cfg->disks[i] */
	snprintf(b->name, sizeof(b->name), "vd%c",
		 idx >= 0 && idx < CONFIG_MAX_DISKS ? (char)('a' + idx) : '?');
	if (cfg->serial)
		memcpy(b->serial, cfg->serial, strnlen(cfg->serial, sizeof(b->serial)));
	rc = open_image(b, cfg);
	if (rc < 0)
		goto err;
	if (cfg->overlay) {
		rc = overlay_open(&b->ovl, cfg->overlay, b->fd, b->size, cfg->read_only, err,
				  sizeof(err));
		if (rc < 0) {
			pr_err("disk %s: overlay %s", cfg->path, err);
			goto err;
		}
		b->has_overlay = true;
	}
	rc = open_ring(b);
	if (rc < 0)
		goto err;
	fill_config(b);
	rc = virtio_mmio_init(&b->vdev, vm, &blk_ops, features(b));
	if (rc < 0)
		goto err;
	rc = evloop_add(vm->el, b->ring_efd, EPOLLIN, on_ring, b);
	if (rc < 0) {
		pr_err("%s: watching the ring: %s", b->vdev.label, strerror(-rc));
		goto err;
	}
	b->efd_watched = true;
	pr_debug("%s: %s, %llu sectors%s%s%s", b->vdev.label, cfg->path,
		 (unsigned long long)b->capacity, cfg->read_only ? ", read-only" : "",
		 cfg->overlay ? ", overlay " : "", cfg->overlay ? cfg->overlay : "");
	*out = b;
	return 0;

err:
	blk_exit(b);
	return rc;
}

void blk_exit(struct blk *b)
{
	if (!b)
		return;
	if (b->efd_watched)
		evloop_del(b->vdev.vm->el, b->ring_efd);
	virtio_mmio_exit(&b->vdev); /* resets: in-flight I/O ends */
	free_pool(b);
	if (b->ring_ok)
		io_uring_queue_exit(&b->ring);
	if (b->ring_efd >= 0)
		close(b->ring_efd);
	if (b->has_overlay)
		overlay_close(&b->ovl); /* persists the bitmap of every completed write */
	if (b->fd >= 0)
		close(b->fd);
	free(b);
}
