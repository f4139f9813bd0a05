/* virtio-vsock device (virtio id 19): a guest CID and a Unix-socket host side; see docs/vsock.md.
 */
#ifndef TORPOR_VSOCK_H
#define TORPOR_VSOCK_H

#include <stdint.h>

struct vm;
struct vsock;

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

#endif
