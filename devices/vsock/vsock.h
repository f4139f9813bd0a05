/* virtio-vsock device (virtio id 19): a guest CID and a Unix-socket host side; see docs/vsock.md.
 */
#ifndef TORPOR_VSOCK_H
#define TORPOR_VSOCK_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct vsock;
struct snap_buf;

/*
 * Put a virtio-vsock device for guest CID guest_cid (3 .. 0xfffffffe) on vm's
 * virtio-mmio transport, with its host side listening on uds_path (host
 * clients: "CONNECT <port>\n"; guest connections to host port P go to
 * "<uds_path>_<P>"). Call after arch_vm_finalize() and before the device
 * tree is built. Returns 0 or -errno (logged).
 */
int vsock_init(struct vm *vm, uint64_t guest_cid, const char *uds_path, struct vsock **out);
/* Close every stream and the listening socket (its file is removed), free. NULL is a no-op. */
void vsock_exit(struct vsock *vs);

/*
 * Drop every connection and send the guest a TRANSPORT_RESET event, after
 * which it drops its own (after a snapshot restore). Safe from any thread.
 */
void vsock_transport_reset(struct vsock *vs);

/* Snapshot state (bytes in docs/snapshot-format.md, section vsock). */
#define VSOCK_SNAP_VERSION 1

/*
 * Append the payload: the guest CID and the virtio transport (the event
 * queue's buffers included). No stream is saved: a restored VM starts with
 * none, and the guest drops its own at the TRANSPORT_RESET that
 * vsock_transport_reset() sends once its vCPUs run. 0 or -ENOMEM.
 */
int vsock_save(struct vsock *vs, struct snap_buf *out);
/*
 * Restore a payload of vsock_save() into vs, fresh from vsock_init() with the
 * config's CID and socket, over RAM that holds the snapshot's memory, before
 * any vCPU runs; the whole payload is checked first. The config's CID is
 * kept: the guest reads it again at the transport reset. Returns 0, or
 * -EINVAL with one line in err ("vsock: ...").
 */
int vsock_restore(struct vsock *vs, const void *data, size_t len, char *err, size_t errlen);

#endif
