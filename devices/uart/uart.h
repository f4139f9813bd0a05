/* 16550A UART on MMIO: guest console to stdout, stdin to the guest. */
#ifndef TORPOR_UART_H
#define TORPOR_UART_H

#include <stddef.h>

struct vm;
struct uart;
struct snap_buf;

/*
 * Create the UART at the arch's console address, claim its MMIO window and,
 * when the config asks for console input, watch stdin on the VM's I/O loop.
 * Returns 0 or -errno.
 */
int uart_init(struct vm *vm, struct uart **out);
/* Stop watching stdin and free the UART. NULL is fine. */
void uart_exit(struct uart *u);

/* Snapshot state (bytes in docs/snapshot-format.md, section uart). */
#define UART_SNAP_VERSION 1

/* Append the payload: the registers and the receive FIFO's bytes. 0 or -ENOMEM. */
int uart_save(struct uart *u, struct snap_buf *out);
/*
 * Restore a payload of uart_save() into u, fresh from uart_init(), before
 * any vCPU runs: registers and the unread input, and the interrupt line
 * driven to what they imply. The whole payload is checked first. Returns 0,
 * or -EINVAL with one line in err ("uart: ...").
 */
int uart_restore(struct uart *u, const void *data, size_t len, char *err, size_t errlen);

#endif
