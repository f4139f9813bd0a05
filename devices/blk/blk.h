/* virtio-blk: a raw image or a copy-on-write overlay over a shared base, I/O through io_uring. */
#ifndef TORPOR_BLK_H
#define TORPOR_BLK_H

struct vm;
struct blk;
struct disk_config;

/*
 * Open the disk cfg describes (image, and its overlay if any, created when
 * missing), set up its io_uring and put a virtio-blk device for it on the
 * virtio-mmio transport. After arch_vm_finalize(), before the device tree is
 * built. Returns 0 or -errno after one error line.
 */
int blk_init(struct vm *vm, const struct disk_config *cfg, struct blk **out);
/* Finish in-flight I/O, persist the overlay bitmap, close everything. NULL is fine. */
void blk_exit(struct blk *b);

#endif
