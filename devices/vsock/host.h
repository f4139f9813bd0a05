/*
 * vsock host side on Unix sockets: the listening socket with its
 * "CONNECT <port>\n" / "OK <port>\n" handshake, "<path>_<port>" for
 * connections the guest opens, one non-blocking socket per stream, all on
 * one epoll set of our own that sits on the VMM's I/O loop.
 */
#ifndef TORPOR_VSOCK_HOST_H
#define TORPOR_VSOCK_HOST_H

#include <pthread.h>
#include <stdint.h>

#include "core.h"

struct evloop;
struct vsock_host;

#define VSOCK_MAX_HANDSHAKES	 128   /* clients that have not sent their CONNECT line yet */
#define VSOCK_LINE_TIMEOUT_MS	 5000  /* to send the CONNECT line */
#define VSOCK_CONNECT_TIMEOUT_MS 10000 /* for the guest to accept or refuse */

/* Called (lock held) after host events left packets or an event for the guest. */
typedef void (*vsock_kick_fn)(void *opaque);

/*
 * Listen on uds_path (a stale socket there is replaced; one in use is
 * -EADDRINUSE) and create the core for guest_cid. Every callback on el
 * takes *lock (NULL: none) around its work, then calls kick if the guest
 * has something to receive. Returns 0 or -errno, logged.
 */
int vsock_host_init(struct evloop *el, const char *uds_path, uint64_t guest_cid,
		    pthread_mutex_t *lock, vsock_kick_fn kick, void *kick_opaque,
		    struct vsock_host **out);
/* Close every socket, remove the listening socket's file, free. */
void vsock_host_exit(struct vsock_host *vh);

struct vsock_core *vsock_host_core(struct vsock_host *vh);

/* The I/O loop callback, for tests that drive the host side without running the loop. */
void vsock_host_poll(struct vsock_host *vh);
/* Change VSOCK_LINE_TIMEOUT_MS / VSOCK_CONNECT_TIMEOUT_MS for this host side (tests). */
void vsock_host_set_timeouts(struct vsock_host *vh, unsigned int line_ms, unsigned int connect_ms);

#endif
