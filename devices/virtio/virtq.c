/* Split virtqueues: walking descriptor chains, filling the used ring, notification suppression. */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "devices/virtio/virtq.h"

/*
 * Guest memory changes under our feet (other vCPUs): every field is read
 * once into a local, checked there and used from there.
 */
#define AVAIL_FLAGS  0
#define AVAIL_IDX    2
#define AVAIL_RING   4
#define USED_FLAGS   0
#define USED_IDX     2
#define USED_RING    4
#define USED_ELEM_SZ 8

static int __attribute__((format(printf, 3, 4)))
bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static uint16_t load16(const uint8_t *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_ACQUIRE));
}

static void store16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, htole16(v), __ATOMIC_RELEASE);
}

static size_t avail_bytes(const struct virtq *q)
{
	return AVAIL_RING + 2u * q->size + (q->event_idx ? 2 : 0);
}

static size_t used_bytes(const struct virtq *q)
{
	return USED_RING + (size_t)USED_ELEM_SZ * q->size + (q->event_idx ? 2 : 0);
}

int virtq_init(struct virtq *q, unsigned int size, uint64_t desc, uint64_t avail, uint64_t used,
	       bool event_idx, bool indirect, virtq_xlate_fn xlate, void *opaque, char *err,
	       size_t errlen)
{
	memset(q, 0, sizeof(*q));
	if (!size || size > VIRTQ_MAX_SIZE || (size & (size - 1)))
		return bad(err, errlen, "queue size %u is not a power of 2 up to %u", size,
			   VIRTQ_MAX_SIZE);
	if (desc % 16 || avail % 2 || used % 4)
		return bad(err, errlen,
			   "misaligned ring: descriptors 0x%llx (16), driver area 0x%llx (2), "
			   "device area 0x%llx (4)",
			   (unsigned long long)desc, (unsigned long long)avail,
			   (unsigned long long)used);
	q->size = (uint16_t)size;
	q->event_idx = event_idx;
	q->indirect = indirect;
	q->xlate = xlate;
	q->opaque = opaque;
	q->desc = xlate(opaque, desc, (uint64_t)size * sizeof(struct virtq_desc));
	q->avail = xlate(opaque, avail, avail_bytes(q));
	q->used = xlate(opaque, used, used_bytes(q));
	if (!q->desc || !q->avail || !q->used) {
		uint64_t at = !q->desc ? desc : !q->avail ? avail : used;

		memset(q, 0, sizeof(*q));
		return bad(err, errlen, "ring area at 0x%llx is outside guest RAM",
			   (unsigned long long)at);
	}
	return 0;
}

static void read_desc(const uint8_t *table, unsigned int i, struct virtq_desc *d)
{
	struct virtq_desc raw;

	memcpy(&raw, table + (size_t)i * sizeof(raw), sizeof(raw));
	d->addr = le64toh(raw.addr);
	d->len = le32toh(raw.len);
	d->flags = le16toh(raw.flags);
	d->next = le16toh(raw.next);
}

/* Visited descriptors of the table being walked: catches loops precisely. */
struct seen {
	uint64_t bits[VIRTQ_MAX_SIZE / 64];
};

static void seen_clear(struct seen *s, unsigned int n)
{
	memset(s->bits, 0, ((n + 63) / 64) * sizeof(uint64_t));
}

static bool seen_test_set(struct seen *s, unsigned int i)
{
	uint64_t m = 1ull << (i % 64);
	bool was = s->bits[i / 64] & m;

	s->bits[i / 64] |= m;
	return was;
}

/* Walk the chain from head into c. 0 or -EINVAL with err. */
static int walk(struct virtq *q, uint16_t head, struct virtq_chain *c, char *err, size_t errlen)
{
	static __thread struct seen seen;
	const uint8_t *table = q->desc;
	unsigned int tsize = q->size, idx = head, count = 0;
	bool in_indirect = false;
	struct virtq_desc d;

	seen_clear(&seen, tsize);
	for (;;) {
		if (idx >= tsize)
			return bad(err, errlen, "descriptor index %u out of range (%s of %u)", idx,
				   in_indirect ? "indirect table" : "queue", tsize);
		if (seen_test_set(&seen, idx))
			return bad(err, errlen, "descriptor chain loops back to %s%u",
				   in_indirect ? "indirect " : "", idx);
		read_desc(table, idx, &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (!q->indirect)
				return bad(err, errlen,
					   "indirect descriptor %u, but INDIRECT_DESC was not "
					   "negotiated", idx);
			if (in_indirect)
				return bad(err, errlen,
					   "indirect descriptor %u inside an indirect table", idx);
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return bad(err, errlen, "indirect descriptor %u has NEXT set", idx);
			if (!d.len || d.len % sizeof(struct virtq_desc))
				return bad(err, errlen,
					   "indirect table of %u bytes: not a non-zero multiple of "
					   "16", d.len);
			if (d.len / sizeof(struct virtq_desc) > q->size)
				return bad(err, errlen,
					   "indirect table of %zu descriptors, more than the queue "
					   "size %u", d.len / sizeof(struct virtq_desc), q->size);
			table = q->xlate(q->opaque, d.addr, d.len);
			if (!table)
				return bad(err, errlen,
					   "indirect table [0x%llx, +%u) is outside guest RAM",
					   (unsigned long long)d.addr, d.len);
			tsize = d.len / sizeof(struct virtq_desc);
			in_indirect = true;
			idx = 0;
			seen_clear(&seen, tsize);
			continue;
		}
		if (++count > q->size || count > c->cap)
			return bad(err, errlen, "descriptor chain longer than the queue size %u",
				   q->size);
		if (!d.len)
			return bad(err, errlen, "descriptor %u has length 0", idx);
		c->iov[count - 1].iov_base = q->xlate(q->opaque, d.addr, d.len);
		if (!c->iov[count - 1].iov_base)
			return bad(err, errlen, "descriptor %u: [0x%llx, +%u) is outside guest RAM",
				   idx, (unsigned long long)d.addr, d.len);
		c->iov[count - 1].iov_len = d.len;
		if (d.flags & VIRTQ_DESC_F_WRITE) {
			c->nr_in++;
			c->in_len += d.len;
		} else {
			if (c->nr_in)
				return bad(err, errlen,
					   "descriptor %u is device-readable after a "
					   "device-writable one", idx);
			c->nr_out++;
			c->out_len += d.len;
		}
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		idx = d.next;
	}
}

int virtq_pop(struct virtq *q, struct virtq_chain *c, char *err, size_t errlen)
{
	uint16_t avail_idx, pending, head;

	if (!q->size)
		return bad(err, errlen, "queue is not set up");
	avail_idx = load16(q->avail + AVAIL_IDX);
	pending = (uint16_t)(avail_idx - q->last_avail);
	if (!pending)
		return 0;
	if (pending > q->size)
		return bad(err, errlen,
			   "available index %u is %u entries ahead of %u, more than the queue "
			   "size %u", avail_idx, pending, q->last_avail, q->size);
	/* The ring entry is read after the index (load16 acquires). */
	head = load16(q->avail + AVAIL_RING + 2u * (q->last_avail & (q->size - 1)));
	q->last_avail++;
	c->head = head;
	c->nr_out = c->nr_in = 0;
	c->out_len = c->in_len = 0;
	return walk(q, head, c, err, errlen) < 0 ? -EINVAL : 1;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
	uint8_t *elem = q->used + USED_RING + (size_t)USED_ELEM_SZ * (q->used_idx & (q->size - 1));
	uint32_t id = htole32(head), l = htole32(len);

	memcpy(elem, &id, 4);
	memcpy(elem + 4, &l, 4);
	q->used_idx++;
	store16(q->used + USED_IDX, q->used_idx); /* release: the element is visible first */
}

/* virtio 1.x 2.7.10: notify when new_idx has moved past event since old. */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

bool virtq_should_notify(struct virtq *q)
{
	uint16_t old = q->signalled_used;
	bool valid = q->signalled_valid;

	/* The used index store must be visible before the driver's flags are read. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!q->event_idx)
		return !(load16(q->avail + AVAIL_FLAGS) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	q->signalled_used = q->used_idx;
	q->signalled_valid = true;
	if (!valid)
		return true;
	return need_event(load16(q->avail + AVAIL_RING + 2u * q->size), q->used_idx, old);
}

bool virtq_enable_notify(struct virtq *q)
{
	if (q->event_idx)
		store16(q->used + USED_RING + (size_t)USED_ELEM_SZ * q->size, q->last_avail);
	/* Publish avail_event before looking at the available index again. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return load16(q->avail + AVAIL_IDX) != q->last_avail;
}

size_t iov_to_buf(const struct iovec *iov, unsigned int n, size_t off, void *dst, size_t len)
{
	size_t done = 0;

	for (unsigned int i = 0; i < n && done < len; i++) {
		size_t chunk;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		chunk = iov[i].iov_len - off;
		if (chunk > len - done)
			chunk = len - done;
		memcpy((uint8_t *)dst + done, (const uint8_t *)iov[i].iov_base + off, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

size_t iov_from_buf(const struct iovec *iov, unsigned int n, size_t off, const void *src,
		    size_t len)
{
	size_t done = 0;

	for (unsigned int i = 0; i < n && done < len; i++) {
		size_t chunk;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		chunk = iov[i].iov_len - off;
		if (chunk > len - done)
			chunk = len - done;
		memcpy((uint8_t *)iov[i].iov_base + off, (const uint8_t *)src + done, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

int iov_slice(const struct iovec *iov, unsigned int n, size_t off, size_t len, struct iovec *dst,
	      unsigned int max)
{
	unsigned int used = 0;

	for (unsigned int i = 0; i < n && len; i++) {
		size_t chunk;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		if (used == max)
			return -E2BIG;
		chunk = iov[i].iov_len - off;
		if (chunk > len)
			chunk = len;
		dst[used].iov_base = (uint8_t *)iov[i].iov_base + off;
		dst[used].iov_len = chunk;
		used++;
		len -= chunk;
		off = 0;
	}
	return len ? -E2BIG : (int)used;
}
