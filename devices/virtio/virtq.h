/* Split virtqueues (virtio 1.x, 2.7): the chain walker and the used ring, pure (no KVM). */
#ifndef TORPOR_VIRTQ_H
#define TORPOR_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

/* The largest split queue the spec allows (Queue Size is 16 bits, a power of 2). */
#define VIRTQ_MAX_SIZE 32768

/* One descriptor as the guest lays it out (little-endian). */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/*
 * Turn guest physical [gpa, gpa+len) into a host pointer, or NULL when any
 * byte of it is not guest RAM (the callee checks bounds and overflow).
 */
typedef void *(*virtq_xlate_fn)(void *opaque, uint64_t gpa, uint64_t len);

/*
 * A popped descriptor chain: iov[0 .. nr_out) the device reads, then
 * iov[nr_out .. nr_out + nr_in) the device writes. Every iov_base is a host
 * pointer into guest memory that xlate vouched for, iov_len > 0.
 */
struct virtq_chain {
	uint16_t head;
	unsigned int nr_out, nr_in;
	uint64_t out_len, in_len; /* byte totals of each side */
	unsigned int cap;         /* room in iov; at least the queue size */
	struct iovec *iov;
};

struct virtq {
	uint16_t size; /* entries, a power of 2 */
	bool event_idx, indirect;
	virtq_xlate_fn xlate;
	void *opaque;
	uint8_t *desc, *avail, *used; /* host views of the three areas */
	uint16_t last_avail;          /* next avail ring slot to consume */
	uint16_t used_idx;            /* next used ring slot to fill */
	uint16_t signalled_used;      /* used_idx at the last notification decision */
	bool signalled_valid;
};

/*
 * Set q up over guest memory: size entries (a power of 2, 1..VIRTQ_MAX_SIZE),
 * the descriptor table at desc (16-byte aligned), the driver (avail) area at
 * avail (2-byte aligned) and the device (used) area at used (4-byte aligned),
 * each wholly in RAM by xlate. event_idx and indirect say what was
 * negotiated. Returns 0, or -EINVAL with a one-line reason in err.
 */
int virtq_init(struct virtq *q, unsigned int size, uint64_t desc, uint64_t avail, uint64_t used,
	       bool event_idx, bool indirect, virtq_xlate_fn xlate, void *opaque, char *err,
	       size_t errlen);

/*
 * Take the next available chain into c (c->cap >= q->size). Returns 1 with
 * c filled, 0 when the driver offered nothing new, or -EINVAL when the chain
 * or the ring is malformed, with a one-line reason in err: a head or next
 * index out of range, a loop, more descriptors than the queue size, an
 * address or length outside RAM, a zero length, a readable descriptor after
 * a writable one, an indirect descriptor that was not negotiated, has NEXT
 * set, sits inside an indirect table or whose table length is not a
 * non-zero multiple of 16, an available index that ran ahead by more than
 * the queue size. After -EINVAL the queue is unusable until reinitialised.
 */
int virtq_pop(struct virtq *q, struct virtq_chain *c, char *err, size_t errlen);

/* Return chain head to the driver with len bytes written into its buffers. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t len);

/*
 * After one or more virtq_push(): true if the driver wants an interrupt for
 * them (used_event with EVENT_IDX, else the avail NO_INTERRUPT flag).
 */
bool virtq_should_notify(struct virtq *q);

/*
 * Before going idle: ask for a notification at the next available buffer
 * (avail_event with EVENT_IDX). Returns true if buffers arrived meanwhile,
 * i.e. the caller must pop again instead of sleeping.
 */
bool virtq_enable_notify(struct virtq *q);

/* Copy up to len bytes starting at byte off of iov[0..n) into dst; returns bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned int n, size_t off, void *dst, size_t len);
/* Copy up to len bytes from src into iov[0..n) starting at byte off; returns bytes copied. */
size_t iov_from_buf(const struct iovec *iov, unsigned int n, size_t off, const void *src,
		    size_t len);
/*
 * Fill dst[0..max) with the part [off, off+len) of iov[0..n). Returns the
 * number of entries used, or -E2BIG when max is too small or iov is shorter
 * than off+len.
 */
int iov_slice(const struct iovec *iov, unsigned int n, size_t off, size_t len, struct iovec *dst,
	      unsigned int max);

#endif
