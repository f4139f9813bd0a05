/* virtio-blk I/O through io_uring: reads, writes, discard, write-zeroes and the flush sequence. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/blk/blk_priv.h"
#include "log.h"

static struct io_uring_sqe *get_sqe(struct blk *b)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);

	if (!sqe && io_uring_submit(&b->ring) >= 0)
		sqe = io_uring_get_sqe(&b->ring);
	return sqe;
}

static void set_error(struct blk_ioreq *req, int err)
{
	if (!req->error)
		req->error = err;
}

/* Queue sqe for sub of req. */
static void queued(struct blk *b, struct blk_ioreq *req, struct blk_sub *sub,
		   struct io_uring_sqe *sqe)
{
	sub->req = req;
	io_uring_sqe_set_data(sqe, sub);
	req->pending++;
	b->inflight++;
}

static void rw(struct blk *b, struct blk_ioreq *req, struct blk_sub *sub, int fd,
	       const struct iovec *iov, unsigned int n, uint64_t off, uint64_t bytes, bool write)
{
	struct io_uring_sqe *sqe = get_sqe(b);

	if (!sqe) {
		set_error(req, -EBUSY);
		return;
	}
	if (write)
		io_uring_prep_writev(sqe, fd, iov, n, off);
	else
		io_uring_prep_readv(sqe, fd, iov, n, off);
	sub->expect = bytes;
	sub->fd = fd;
	sub->off = off;
	sub->len = bytes;
	queued(b, req, sub, sqe);
}

/* Punch [off, off+len) out of fd: it reads as zeros afterwards. */
static void punch(struct blk *b, struct blk_ioreq *req, struct blk_sub *sub, int fd, uint64_t off,
		  uint64_t len, bool zero_fallback)
{
	struct io_uring_sqe *sqe = get_sqe(b);

	if (!sqe) {
		set_error(req, -EBUSY);
		return;
	}
	io_uring_prep_fallocate(sqe, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
	sub->zero_fallback = zero_fallback;
	sub->fd = fd;
	sub->off = off;
	sub->len = len;
	queued(b, req, sub, sqe);
}

/* Blocking zero-fill, for file systems that cannot punch holes. */
static int write_zeros(int fd, uint64_t off, uint64_t len)
{
	static const uint8_t zeros[65536];

	while (len) {
		size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
		ssize_t w = pwrite(fd, zeros, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		off += (uint64_t)w;
		len -= (uint64_t)w;
	}
	return 0;
}

static void wait_idle(struct blk *b);

/*
 * Copy block blk from the base into the overlay (blocking), for a write that
 * covers only part of it. In-flight I/O is finished first: a write of the
 * whole block may be in flight, and copying the base over it would undo the
 * part the new write does not cover. Rare: Linux, seeing 4 KiB logical
 * blocks, never writes part of a block.
 */
static int materialize(struct blk *b, uint64_t blk)
{
	if (b->inflight)
		wait_idle(b);
	if (overlay_test(&b->ovl, blk))
		return 0;
	return overlay_materialize(&b->ovl, b->fd, b->size, blk);
}

static void start_read(struct blk *b, struct blk_ioreq *req)
{
	struct blk_req *r = &req->r;
	uint64_t off = r->sector * BLK_SECTOR_SIZE, pos, run;
	unsigned int n = 0, used = 0, cap;
	bool in;

	if (!b->has_overlay) {
		rw(b, req, &req->one, b->fd, r->iov, r->nr_iov, off, r->len, false);
		return;
	}
	for (pos = 0; pos < r->len; pos += run, n++)
		run = overlay_run(&b->ovl, off + pos, r->len - pos, &in);
	if (n == 1) {
		rw(b, req, &req->one, in ? b->ovl.fd : b->fd, r->iov, r->nr_iov,
		   in ? overlay_data_pos(&b->ovl, off) : off, r->len, false);
		return;
	}
	/* Runs alternate between the overlay and the base: one readv each. */
	cap = r->nr_iov + n;
	req->subs = calloc(n, sizeof(*req->subs));
	req->slices = calloc(cap, sizeof(*req->slices));
	if (!req->subs || !req->slices) {
		set_error(req, -ENOMEM);
		return;
	}
	for (pos = 0, n = 0; pos < r->len; pos += run, n++) {
		int k;

		run = overlay_run(&b->ovl, off + pos, r->len - pos, &in);
		k = iov_slice(r->iov, r->nr_iov, pos, run, req->slices + used, cap - used);
		if (k < 0) {
			set_error(req, k);
			return;
		}
		rw(b, req, &req->subs[n], in ? b->ovl.fd : b->fd, req->slices + used,
		   (unsigned int)k, in ? overlay_data_pos(&b->ovl, off + pos) : off + pos, run,
		   false);
		used += (unsigned int)k;
	}
}

static void start_write(struct blk *b, struct blk_ioreq *req)
{
	struct blk_req *r = &req->r;
	uint64_t off = r->sector * BLK_SECTOR_SIZE, bs, first, last, copy = 0;
	int rc = 0;

	if (!b->has_overlay) {
		rw(b, req, &req->one, b->fd, r->iov, r->nr_iov, off, r->len, true);
		return;
	}
	/*
	 * A block the write covers only in part gets the base's data first
	 * (materialize()). Its bit is set at once, so a concurrent write to its
	 * other part does not copy the base again.
	 */
	bs = b->ovl.h.block_size;
	first = off / bs;
	last = (off + r->len - 1) / bs;
	if (off % bs && !overlay_test(&b->ovl, first))
		rc = materialize(b, copy = first);
	if (!rc && (off + r->len) % bs && !overlay_test(&b->ovl, last))
		rc = materialize(b, copy = last);
	if (rc < 0) {
		pr_warn("%s: copying block %llu from the base: %s", b->vdev.label,
			(unsigned long long)copy, strerror(-rc));
		set_error(req, rc);
		return;
	}
	req->one.set_first = first;
	req->one.set_count = last - first + 1;
	rw(b, req, &req->one, b->ovl.fd, r->iov, r->nr_iov, overlay_data_pos(&b->ovl, off), r->len,
	   true);
}

/* Write zeros over [from, to), which lies within one block of the overlay. */
static int zero_partial(struct blk *b, uint64_t from, uint64_t to)
{
	uint64_t blk = from / b->ovl.h.block_size;
	int rc = 0;

	if (from >= to)
		return 0;
	if (!overlay_test(&b->ovl, blk))
		rc = materialize(b, blk);
	return rc ? rc : write_zeros(b->ovl.fd, overlay_data_pos(&b->ovl, from), to - from);
}

/* The parts of a write-zeroes segment on the overlay that are not whole blocks (blocking). */
static int zero_overlay_partial(struct blk *b, uint64_t off, uint64_t len)
{
	uint64_t bs = b->ovl.h.block_size, end = off + len;
	uint64_t a = (off + bs - 1) / bs * bs, z = end / bs * bs;
	int rc;

	if (a >= z)
		return zero_partial(b, off, end);
	rc = zero_partial(b, off, a);
	return rc ? rc : zero_partial(b, z, end);
}

/* The whole blocks of a discard / write-zeroes segment on the overlay: punched, then present. */
static void zero_overlay_blocks(struct blk *b, struct blk_ioreq *req, struct blk_sub *sub,
				uint64_t off, uint64_t len, bool wz)
{
	uint64_t bs = b->ovl.h.block_size;
	uint64_t a = (off + bs - 1) / bs * bs, z = (off + len) / bs * bs;

	if (a >= z)
		return;
	sub->set_first = a / bs;
	sub->set_count = (z - a) / bs;
	punch(b, req, sub, b->ovl.fd, overlay_data_pos(&b->ovl, a), z - a, wz);
}

static void start_zero(struct blk *b, struct blk_ioreq *req)
{
	struct blk_req *r = &req->r;
	bool wz = r->type == VIRTIO_BLK_T_WRITE_ZEROES;
	int rc;

	req->subs = calloc(r->nr_segs, sizeof(*req->subs));
	if (!req->subs) {
		set_error(req, -ENOMEM);
		return;
	}
	/*
	 * First the blocking partial-block work (which may wait for in-flight
	 * I/O, so none of this request's may be queued yet; discard may leave
	 * partial blocks alone), then the punches.
	 */
	for (unsigned int i = 0; wz && b->has_overlay && i < r->nr_segs; i++) {
		rc = zero_overlay_partial(b, r->segs[i].sector * BLK_SECTOR_SIZE,
					  (uint64_t)r->segs[i].nr_sectors * BLK_SECTOR_SIZE);
		if (rc < 0) {
			set_error(req, rc);
			return;
		}
	}
	for (unsigned int i = 0; i < r->nr_segs && !req->error; i++) {
		uint64_t off = r->segs[i].sector * BLK_SECTOR_SIZE;
		uint64_t len = (uint64_t)r->segs[i].nr_sectors * BLK_SECTOR_SIZE;

		if (!len)
			continue;
		if (b->has_overlay)
			zero_overlay_blocks(b, req, &req->subs[i], off, len, wz);
		else
			punch(b, req, &req->subs[i], b->fd, off, len, wz);
	}
}

/* --- Flushes ------------------------------------------------------------------------------ */

static void flush_kick(struct blk *b);

static void flush_fsync(struct blk *b, int fd)
{
	struct blk_flush *f = &b->flush;
	struct io_uring_sqe *sqe = get_sqe(b);

	if (!sqe) {
		f->error = -EBUSY;
		return;
	}
	io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
	f->sub.req = NULL;
	io_uring_sqe_set_data(sqe, &f->sub);
	f->pending++;
	b->inflight++;
}

static void flush_write_bitmap(struct blk *b)
{
	struct blk_flush *f = &b->flush;

	for (uint64_t i = 0; i < f->staged.nr && !f->error; i++) {
		struct io_uring_sqe *sqe = get_sqe(b);

		if (!sqe) {
			f->error = -EBUSY;
			break;
		}
		io_uring_prep_write(sqe, b->ovl.fd, f->staged.data + i * OVERLAY_PAGE, OVERLAY_PAGE,
				    overlay_page_pos(&b->ovl, f->staged.page[i]));
		io_uring_sqe_set_data(sqe, &f->sub);
		f->pending++;
		b->inflight++;
	}
}

static void flush_finish(struct blk *b)
{
	struct blk_flush *f = &b->flush;
	struct blk_ioreq *req = f->batch;
	uint8_t status = f->error ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;

	if (b->has_overlay)
		overlay_flush_end(&b->ovl, &f->staged, !f->error);
	if (f->error)
		pr_warn("%s: flush of %s failed: %s", b->vdev.label, b->path, strerror(-f->error));
	f->batch = NULL;
	f->stage = FLUSH_IDLE;
	while (req) {
		struct blk_ioreq *next = req->next;

		blk_finish(b, req, status);
		req = next;
	}
	flush_kick(b);
}

/* The next stage once every SQE of the current one is done. */
static void flush_step_done(struct blk *b, int res)
{
	struct blk_flush *f = &b->flush;

	if (res < 0 && !f->error)
		f->error = res;
	if (res >= 0 && f->stage == FLUSH_WRITE_BITMAP && res != (int)OVERLAY_PAGE && !f->error)
		f->error = -EIO;
	if (--f->pending)
		return;
	if (!f->error && f->stage == FLUSH_SYNC_DATA && b->has_overlay && f->staged.nr) {
		f->stage = FLUSH_WRITE_BITMAP;
		flush_write_bitmap(b);
	} else if (!f->error && f->stage == FLUSH_WRITE_BITMAP) {
		f->stage = FLUSH_SYNC_BITMAP;
		flush_fsync(b, b->ovl.fd);
	} else {
		flush_finish(b);
		return;
	}
	if (!f->pending)
		flush_finish(b);
}

/* Start a flush for every waiting request, unless one is running. */
static void flush_kick(struct blk *b)
{
	struct blk_flush *f = &b->flush;
	int rc;

	if (f->stage != FLUSH_IDLE || !f->wait_head)
		return;
	f->batch = f->wait_head;
	f->wait_head = f->wait_tail = NULL;
	f->error = 0;
	f->pending = 0;
	f->stage = FLUSH_SYNC_DATA;
	if (b->has_overlay) {
		/* Captured now: only bits of writes that completed before this flush. */
		rc = overlay_flush_begin(&b->ovl, &f->staged);
		if (rc < 0) {
			f->error = rc;
			flush_finish(b);
			return;
		}
	}
	flush_fsync(b, b->has_overlay ? b->ovl.fd : b->fd);
	if (!f->pending)
		flush_finish(b);
}

static void flush_enqueue(struct blk *b, struct blk_ioreq *req)
{
	struct blk_flush *f = &b->flush;

	req->next = NULL;
	if (f->wait_tail)
		f->wait_tail->next = req;
	else
		f->wait_head = req;
	f->wait_tail = req;
	flush_kick(b);
}

/* --- Requests ----------------------------------------------------------------------------- */

static void req_done(struct blk *b, struct blk_ioreq *req)
{
	if (req->error) {
		blk_finish(b, req, VIRTIO_BLK_S_IOERR);
	} else if (req->flush_after) {
		req->flush_after = false;
		flush_enqueue(b, req);
	} else {
		blk_finish(b, req, VIRTIO_BLK_S_OK);
	}
}

void blk_io_start(struct blk *b, struct blk_ioreq *req)
{
	switch (req->r.type) {
	case VIRTIO_BLK_T_IN:
		start_read(b, req);
		break;
	case VIRTIO_BLK_T_OUT:
		req->flush_after = !b->flush_negotiated;
		start_write(b, req);
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		start_zero(b, req);
		break;
	case VIRTIO_BLK_T_FLUSH:
		flush_enqueue(b, req);
		return;
	default:
		set_error(req, -EOPNOTSUPP);
		break;
	}
	if (!req->pending)
		req_done(b, req);
}

static void sub_done(struct blk *b, struct blk_sub *sub, int res)
{
	struct blk_ioreq *req = sub->req;

	b->inflight--;
	if (!req) {
		flush_step_done(b, res);
		return;
	}
	if (res == -EOPNOTSUPP && sub->zero_fallback)
		res = write_zeros(sub->fd, sub->off, sub->len);
	if (res < 0 && req->r.type == VIRTIO_BLK_T_DISCARD) {
		res = 0; /* discarding is only advice */
		sub->set_count = 0;
	}
	if (res >= 0 && sub->expect && (uint64_t)res != sub->expect)
		res = -EIO; /* short: the file shrank under us */
	if (res < 0) {
		pr_warn("%s: %s: I/O at byte %llu (+%llu) failed: %s", b->vdev.label, b->path,
			(unsigned long long)sub->off, (unsigned long long)sub->len, strerror(-res));
		set_error(req, res);
	} else if (sub->set_count && b->has_overlay) {
		overlay_set(&b->ovl, sub->set_first, sub->set_count);
	}
	if (!--req->pending)
		req_done(b, req);
}

unsigned int blk_io_reap(struct blk *b)
{
	struct io_uring_cqe *cqe;
	unsigned int n = 0;

	while (io_uring_peek_cqe(&b->ring, &cqe) == 0) {
		struct blk_sub *sub = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&b->ring, cqe);
		sub_done(b, sub, res);
		n++;
	}
	io_uring_submit(&b->ring);
	return n;
}

/* Submit what is queued and handle completions until nothing is in flight. */
static void wait_idle(struct blk *b)
{
	io_uring_submit(&b->ring);
	while (b->inflight) {
		struct io_uring_cqe *cqe;
		int rc = io_uring_wait_cqe(&b->ring, &cqe);

		if (rc == -EINTR || rc == -EAGAIN)
			continue;
		if (rc < 0) {
			pr_err("%s: waiting for in-flight I/O: %s", b->vdev.label, strerror(-rc));
			break;
		}
		blk_io_reap(b);
	}
}

void blk_io_drain(struct blk *b)
{
	b->draining = true;
	wait_idle(b);
	b->draining = false;
}

int blk_io_quiesce(struct blk *b)
{
	if (!b->ring_ok)
		return 0;
	wait_idle(b);
	if (b->pushed) {
		b->pushed = false;
		virtio_queue_notify_guest(&b->vdev, 0);
	}
	return b->inflight ? -EIO : 0;
}
