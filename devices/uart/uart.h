/* 16550A UART on MMIO: guest console to stdout, stdin to the guest. */
#ifndef TORPOR_UART_H
#define TORPOR_UART_H

struct vm;
struct uart;

/*
 * Create the UART at the arch's console address, claim its MMIO window and,
 * when the config asks for console input, watch stdin on the VM's I/O loop.
 * Returns 0 or -errno.
 */
int uart_init(struct vm *vm, struct uart **out);
/* Stop watching stdin and free the UART. NULL is fine. */
void uart_exit(struct uart *u);

#endif
