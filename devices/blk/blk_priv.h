/* virtio-blk internals shared by blk.c (the device) and blk_io.c (the io_uring engine). */
#ifndef TORPOR_BLK_PRIV_H
#define TORPOR_BLK_PRIV_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/blk/blk_req.h"
#include "devices/blk/overlay.h"
#include "devices/virtio/virtio.h"

#define BLK_QUEUE_MAX 256

struct blk_ioreq;

/* One SQE in flight: io_uring's user_data. */
struct blk_sub {
	struct blk_ioreq *req; /* NULL: a step of the flush machine */
	uint64_t expect;       /* bytes a read or write must move; 0 for other ops */
	bool zero_fallback;    /* a write-zeroes punch: on EOPNOTSUPP write zeros instead */
	int fd;
	uint64_t off, len;     /* its range (for zero_fallback and messages) */
	uint64_t set_first, set_count; /* overlay blocks to mark present on success */
};

/* One guest request, from pop to push. */
struct blk_ioreq {
	struct virtq_chain chain;
	struct blk_req r;
	unsigned int pending; /* SQEs in flight */
	int error;            /* first -errno */
	bool flush_after;     /* FLUSH not negotiated: write through before completing */
	struct blk_sub one;   /* the usual single SQE */
	struct blk_sub *subs; /* more of them (overlay reads, segments), or NULL */
	struct iovec *slices; /* iovecs for subs */
	struct blk_ioreq *next;
};

/* Flushes run one at a time; requests that arrive meanwhile wait for the next. */
enum flush_stage { FLUSH_IDLE, FLUSH_SYNC_DATA, FLUSH_WRITE_BITMAP, FLUSH_SYNC_BITMAP };

struct blk_flush {
	enum flush_stage stage;
	unsigned int pending;
	int error;
	struct overlay_flush staged;
	struct blk_ioreq *batch;                 /* completed by the running flush */
	struct blk_ioreq *wait_head, *wait_tail; /* for the next one */
	struct blk_sub sub;
};

struct blk {
	struct virtio_dev vdev;
	char name[8];          /* "vda": the guest's name for it, for messages */
	char path[256];        /* for messages */
	int fd;                /* the raw image, or the base under an overlay */
	uint64_t size;         /* bytes */
	uint64_t capacity;     /* 512-byte sectors */
	bool read_only;
	bool has_overlay;
	struct overlay ovl;
	char serial[VIRTIO_BLK_ID_BYTES];
	struct virtio_blk_config config;

	struct io_uring ring;
	bool ring_ok;
	int ring_efd;          /* the ring's completion eventfd, on the I/O loop */
	bool efd_watched;
	unsigned int inflight; /* SQEs submitted or queued, not yet completed */
	bool draining;         /* reset/exit: completions are not given back to the guest */

	struct blk_ioreq *reqs; /* pool: one per queue entry */
	unsigned int nr_reqs;
	struct blk_ioreq *free;
	struct iovec *iov_pool;
	bool stalled;          /* the pool ran dry with chains still available */
	bool pushed;           /* used entries await an interrupt decision */
	bool flush_negotiated;
	struct blk_flush flush;
};

/* blk_io.c: with b->vdev.lock held. */
void blk_io_start(struct blk *b, struct blk_ioreq *req);
/* Reap whatever completed; returns the number of CQEs handled. */
unsigned int blk_io_reap(struct blk *b);
/* Wait until nothing is in flight (reset, exit). */
void blk_io_drain(struct blk *b);
/*
 * Wait until nothing is in flight, giving every finished request back to the
 * guest (used ring, interrupt), without the I/O loop (a snapshot). 0, or
 * -EIO when waiting for completions failed.
 */
int blk_io_quiesce(struct blk *b);
/* Give a finished request back to the guest (unless draining) and to the pool. */
void blk_finish(struct blk *b, struct blk_ioreq *req, uint8_t status);

#endif
