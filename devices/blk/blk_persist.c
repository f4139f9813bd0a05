/* virtio-blk snapshot state: quiesce and flush at save, the disk's identity, the transport. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "devices/blk/blk.h"
#include "devices/blk/blk_priv.h"
#include "log.h"
#include "snapshot/buf.h"

#define SNAP_F_READ_ONLY 0x1u
#define SNAP_F_OVERLAY	 0x2u /* the saved disk had an overlay (not required to match) */
#define SNAP_F_ALL	 (SNAP_F_READ_ONLY | SNAP_F_OVERLAY)

#define BLK_SIZE_MIN 512u
#define BLK_SIZE_MAX (1u << 20)

/* The payload before the transport record, decoded. */
struct blk_snap {
	uint32_t version;
	uint64_t capacity;
	uint32_t flags;
	uint32_t blk_size;
	char serial[VIRTIO_BLK_ID_BYTES];
};

static uint32_t blk_size(const struct blk *b)
{
	return b->has_overlay ? b->ovl.h.block_size : BLK_SECTOR_SIZE;
}

/* Data, then the overlay's bitmap, on stable storage: what a FLUSH request does. */
static int sync_disk(struct blk *b)
{
	if (b->read_only)
		return 0;
	if (fdatasync(b->has_overlay ? b->ovl.fd : b->fd) < 0)
		return -errno;
	return b->has_overlay ? overlay_persist_sync(&b->ovl) : 0;
}

int blk_save(struct blk *b, struct snap_buf *out)
{
	int rc;

	pthread_mutex_lock(&b->vdev.lock);
	rc = blk_io_quiesce(b);
	if (rc < 0) {
		pr_err("blk %s: snapshot: in-flight I/O did not finish", b->name);
		goto out;
	}
	rc = sync_disk(b);
	if (rc < 0) {
		pr_err("blk %s: snapshot: flushing %s: %s", b->name, b->path, strerror(-rc));
		goto out;
	}
	snap_put_u32(out, BLK_SNAP_VERSION);
	snap_put_u64(out, b->capacity);
	snap_put_u32(out,
		     (b->read_only ? SNAP_F_READ_ONLY : 0) | (b->has_overlay ? SNAP_F_OVERLAY : 0));
	snap_put_u32(out, blk_size(b));
	snap_put_bytes(out, b->serial, sizeof(b->serial));
	rc = virtio_dev_save(&b->vdev, out);
	if (rc < 0)
		pr_err("blk %s: snapshot: %s", b->name, strerror(-rc));
out:
	pthread_mutex_unlock(&b->vdev.lock);
	return rc;
}

/* s as a quoted string for a message: bytes up to the first NUL, others as '?'. */
static const char *quoted(const char *s, size_t n, char *buf, size_t cap)
{
	size_t j = 0;

	buf[j++] = '"';
	for (size_t i = 0; i < n && s[i] && j + 2 < cap; i++)
		buf[j++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[j++] = '"';
	buf[j] = '\0';
	return buf;
}

static int decode(struct snap_buf *in, struct blk_snap *s, const struct blk *b, char *err,
		  size_t errlen)
{
	s->version = snap_get_u32(in);
	if (!snap_buf_error(in) && s->version != BLK_SNAP_VERSION)
		return snap_errf(err, errlen, -EINVAL,
				 "blk %s: state version %u is not supported (this build reads %u)",
				 b->name, s->version, BLK_SNAP_VERSION);
	s->capacity = snap_get_u64(in);
	s->flags = snap_get_u32(in);
	s->blk_size = snap_get_u32(in);
	snap_get_bytes(in, s->serial, sizeof(s->serial));
	if (snap_buf_error(in))
		return snap_errf(err, errlen, -EINVAL, "blk %s: state is truncated", b->name);
	if (s->flags & ~SNAP_F_ALL)
		return snap_errf(err, errlen, -EINVAL, "blk %s: unknown flags 0x%x", b->name,
				 s->flags);
	if (s->blk_size < BLK_SIZE_MIN || s->blk_size > BLK_SIZE_MAX ||
	    (s->blk_size & (s->blk_size - 1)))
		return snap_errf(err, errlen, -EINVAL, "blk %s: bad block size %u", b->name,
				 s->blk_size);
	return 0;
}

/* Is the disk the one the guest knew? */
static int check_identity(const struct blk_snap *s, const struct blk *b, char *err, size_t errlen)
{
	bool ro = s->flags & SNAP_F_READ_ONLY;
	char q1[48], q2[48];

	if (s->capacity != b->capacity)
		return snap_errf(err, errlen, -EINVAL,
				 "blk %s: %s has %llu sectors, the snapshot's disk had %llu "
				 "(another image?)",
				 b->name, b->path, (unsigned long long)b->capacity,
				 (unsigned long long)s->capacity);
	if (ro != b->read_only)
		return snap_errf(
		    err, errlen, -EINVAL, "blk %s: the disk is %s, the snapshot's was %s", b->name,
		    b->read_only ? "read-only" : "read-write", ro ? "read-only" : "read-write");
	if (memcmp(s->serial, b->serial, sizeof(s->serial)))
		return snap_errf(
		    err, errlen, -EINVAL,
		    "blk %s: serial %s differs from the snapshot's %s (disks in another "
		    "order?)",
		    b->name, quoted(b->serial, sizeof(b->serial), q1, sizeof(q1)),
		    quoted(s->serial, sizeof(s->serial), q2, sizeof(q2)));
	return 0;
}

int blk_restore(struct blk *b, const void *data, size_t len, char *err, size_t errlen)
{
	struct blk_snap s;
	struct snap_buf in;
	char why[256];
	int rc;

	snap_buf_view(&in, data, len);
	rc = decode(&in, &s, b, err, errlen);
	if (!rc)
		rc = check_identity(&s, b, err, errlen);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&b->vdev.lock);
	rc = virtio_dev_restore(&b->vdev, &in, why, sizeof(why));
	pthread_mutex_unlock(&b->vdev.lock);
	if (rc < 0)
		return snap_errf(err, errlen, rc, "blk %s: %s", b->name, why);
	if (s.blk_size != blk_size(b))
		pr_info("blk %s: block size %u, the guest saw %u before the snapshot (it keeps "
			"using %u until its driver probes the disk again)",
			b->name, blk_size(b), s.blk_size, s.blk_size);
	return 0;
}
