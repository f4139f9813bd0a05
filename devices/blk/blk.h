/* virtio-blk: a raw image or a copy-on-write overlay over a shared base, I/O through io_uring. */
#ifndef TORPOR_BLK_H
#define TORPOR_BLK_H

#include <stddef.h>

struct vm;
struct blk;
struct disk_config;
struct snap_buf;

/*
 * Open the disk cfg describes (image, and its overlay if any, created when
 * missing), set up its io_uring and put a virtio-blk device for it on the
 * virtio-mmio transport. After arch_vm_finalize(), before the device tree is
 * built. Returns 0 or -errno after one error line.
 */
int blk_init(struct vm *vm, const struct disk_config *cfg, struct blk **out);
/* Finish in-flight I/O, persist the overlay bitmap, close everything. NULL is fine. */
void blk_exit(struct blk *b);

/* Snapshot state (blk_persist.c; bytes in docs/snapshot-format.md, section blk). */
#define BLK_SNAP_VERSION 1

/*
 * With the VM paused (may run on the I/O thread; does not need the loop):
 * wait for every request in flight and give it back to the guest (used
 * ring, interrupt), make the disk durable as a FLUSH would (the image's or
 * overlay's data, then the overlay bitmap), then append the payload: the
 * disk's identity (capacity, read-only, serial) and the virtio transport.
 * Returns 0, or -errno after one error line (the snapshot must fail: the
 * disk may not hold what the guest believes it wrote).
 */
int blk_save(struct blk *b, struct snap_buf *out);
/*
 * Restore a payload of blk_save() into b, fresh from blk_init() over RAM that
 * holds the snapshot's memory, before any vCPU runs. The whole payload is
 * checked first: the disk must have the snapshot's capacity, read-only mode
 * and serial (a different or reordered disk is refused; the image and
 * overlay files themselves are the config's). Returns 0, or -EINVAL with one
 * line in err ("blk vda: queue 0 size 4096 above the maximum 256").
 */
int blk_restore(struct blk *b, const void *data, size_t len, char *err, size_t errlen);

#endif
