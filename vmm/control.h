/*
 * The control socket: torpor-vmm's HTTP/1.1 + JSON API on a Unix stream
 * socket, served from the VM's I/O loop (docs/api-vmm.md).
 */
#ifndef TORPOR_CONTROL_H
#define TORPOR_CONTROL_H

struct vm;
struct control;

#define CONTROL_MAX_CONNS  16    /* more at once get 503 and are closed */
#define CONTROL_TIMEOUT_MS 10000 /* to send a whole request, or to read the reply */

/*
 * Bind and listen on path (mode 0600) and serve it on vm->el. A stale socket
 * at path (nobody listening) is replaced; a live one (-EADDRINUSE) or a path
 * that is not a socket (-EEXIST) is refused. Returns 0 or -errno, logged.
 */
int control_init(struct vm *vm, const char *path, struct control **out);

/* Close every connection and the socket, and unlink it. On the I/O thread, or
 * once the loop has stopped. NULL is a no-op. */
void control_exit(struct control *c);

#endif
