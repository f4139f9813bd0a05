/* Unit tests: the 16550A UART's snapshot state (devices/uart/uart.c), driven through its MMIO
 * handler. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/arch.h"
#include "config.h"
#include "devices/uart/uart.h"
#include "evloop.h"
#include "snapshot/buf.h"
#include "vm.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define FIFO	      4096

/* Registers. */
enum { RBR = 0, IER = 1, IIR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

/* --- Stubs for what uart.c needs of the VMM --------------------------------------------- */

static mmio_fn uart_fn;
static int irq_calls, irq_level_last = -1, evloop_mods;

uint64_t arch_uart_base(void)
{
	return 0x9000000;
}

uint64_t arch_uart_size(void)
{
	return 0x1000;
}

unsigned int arch_uart_irq(void)
{
	return 1;
}

int arch_irq_line(struct vm *vm, unsigned int irq, int level)
{
	irq_calls++;
	irq_level_last = level;
	return 0;
}

int vm_mmio_register(struct vm *vm, uint64_t base, uint64_t size, mmio_fn fn, void *opaque)
{
	uart_fn = fn;
	return 0;
}

int evloop_add(struct evloop *el, int fd, uint32_t events, evloop_cb cb, void *opaque)
{
	return 0;
}

int evloop_mod(struct evloop *el, int fd, uint32_t events)
{
	evloop_mods++;
	return 0;
}

int evloop_del(struct evloop *el, int fd)
{
	return 0;
}

/* --- Helpers ------------------------------------------------------------------------------ */

static struct vm_config cfg;
static struct vm vm = {.cfg = &cfg};
static struct uart *src, *dst;
static struct snap_buf out;
static char err[256];

static uint8_t rd(struct uart *u, uint64_t off)
{
	uint8_t v = 0xee;

	uart_fn(u, off, &v, 1, false);
	return v;
}

static void wr(struct uart *u, uint64_t off, uint8_t v)
{
	uart_fn(u, off, &v, 1, true);
}

static int setup(void **state)
{
	cfg.console_input = false;
	assert_int_equal(uart_init(&vm, &src), 0);
	assert_int_equal(uart_init(&vm, &dst), 0);
	snap_buf_init(&out);
	irq_calls = evloop_mods = 0;
	irq_level_last = -1;
	err[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	snap_buf_free(&out);
	uart_exit(src);
	uart_exit(dst);
	return 0;
}

static void save(struct uart *u)
{
	snap_buf_free(&out);
	snap_buf_init(&out);
	assert_int_equal(uart_save(u, &out), 0);
}

static int restore(struct uart *u, const void *data, size_t len)
{
	err[0] = '\0';
	return uart_restore(u, data, len, err, sizeof(err));
}

/* Queue bytes into u's receive FIFO through loopback, then leave loopback. */
static void loop_in(struct uart *u, const char *s, size_t n, uint8_t mcr_after)
{
	wr(u, MCR, 0x18);
	for (size_t i = 0; i < n; i++)
		wr(u, RBR, (uint8_t)s[i]);
	wr(u, MCR, mcr_after);
}

/* A UART as a driver leaves it: 115200-ish divisor, 8N1, FIFO on, RX and THRE interrupts. */
static void program(struct uart *u)
{
	wr(u, LCR, 0x83);
	wr(u, RBR, 0x01); /* DLL */
	wr(u, IER, 0x02); /* DLM */
	wr(u, LCR, 0x03);
	wr(u, IIR, 0xc1); /* FCR */
	wr(u, SCR, 0x5a);
	loop_in(u, "hello", 5, 0x0b);
	assert_int_equal(rd(u, RBR), 'h');
	wr(u, IER, 0x03);
}

/* u as uart_init() leaves it. */
static void assert_fresh(struct uart *u)
{
	assert_int_equal(rd(u, LCR), 0);
	assert_int_equal(rd(u, IER), 0);
	assert_int_equal(rd(u, MCR), 0x08);
	assert_int_equal(rd(u, SCR), 0);
	assert_int_equal(rd(u, LSR), 0x60);
	assert_int_equal(rd(u, IIR), 0x01);
}

/* --- Tests -------------------------------------------------------------------------------- */

static void test_uart_persist_layout(void **state)
{
	program(src);
	save(src);
	assert_int_equal(out.len, 16 + 4);
	assert_int_equal(snap_ld32(out.data), UART_SNAP_VERSION);
	assert_memory_equal(out.data + 4, ((uint8_t[]){0x03, 0x03, 0x0b, 0x5a, 0xc1, 0x01, 0x02}),
			    7);
	assert_int_equal(out.data[11], 1); /* THRE pending: IER.THRI was just enabled */
	assert_int_equal(snap_ld32(out.data + 12), 4);
	assert_memory_equal(out.data + 16, "ello", 4);
}

static void test_uart_persist_round_trip(void **state)
{
	struct snap_buf again;

	program(src);
	save(src);
	irq_calls = 0;
	assert_int_equal(restore(dst, out.data, out.len), 0);
	assert_int_equal(irq_calls, 1); /* the line driven to what the registers say */
	assert_int_equal(irq_level_last, 1);
	snap_buf_init(&again);
	assert_int_equal(uart_save(dst, &again), 0);
	assert_int_equal(again.len, out.len);
	assert_memory_equal(again.data, out.data, out.len);
	snap_buf_free(&again);

	assert_int_equal(rd(dst, LCR), 0x03);
	assert_int_equal(rd(dst, IER), 0x03);
	assert_int_equal(rd(dst, MCR), 0x0b);
	assert_int_equal(rd(dst, SCR), 0x5a);
	assert_int_equal(rd(dst, LSR), 0x61);
	assert_int_equal(rd(dst, IIR), 0xc4); /* received data first */
	for (const char *p = "ello"; *p; p++)
		assert_int_equal(rd(dst, RBR), *p);
	assert_int_equal(rd(dst, LSR), 0x60);
	assert_int_equal(rd(dst, IIR), 0xc2); /* then THR empty, cleared by this read */
	assert_int_equal(rd(dst, IIR), 0xc1);
	assert_int_equal(irq_level_last, 0);
	wr(dst, LCR, 0x83);
	assert_int_equal(rd(dst, RBR), 0x01);
	assert_int_equal(rd(dst, IER), 0x02);
}

/* A full FIFO that wraps around the end of the buffer comes back in order. */
static void test_uart_persist_fifo_wrap(void **state)
{
	static char bytes[FIFO + 3000];

	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (char)(i * 7 + 1);
	loop_in(src, bytes, FIFO, 0x08);
	for (size_t i = 0; i < 4000; i++)
		assert_int_equal(rd(src, RBR), (uint8_t)bytes[i]);
	loop_in(src, bytes + FIFO, 3000, 0x08);
	save(src);
	assert_int_equal(snap_ld32(out.data + 12), FIFO - 4000 + 3000);
	assert_int_equal(restore(dst, out.data, out.len), 0);
	for (size_t i = 4000; i < sizeof(bytes); i++)
		assert_int_equal(rd(dst, RBR), (uint8_t)bytes[i]);
	assert_int_equal(rd(dst, LSR) & 1, 0);
	assert_int_equal(irq_level_last, 0);
}

/* With console input, a full FIFO stops stdin being read, as at run time. */
static void test_uart_persist_full_fifo_pauses_stdin(void **state)
{
	static char bytes[FIFO];
	struct uart *u;

	loop_in(src, bytes, FIFO, 0x08);
	save(src);
	cfg.console_input = true;
	assert_int_equal(uart_init(&vm, &u), 0);
	assert_int_equal(restore(u, out.data, out.len), 0);
	assert_int_equal(evloop_mods, 1);
	rd(u, RBR);
	assert_int_equal(evloop_mods, 1); /* still more than half full */
	uart_exit(u);
}

static void test_uart_persist_truncated(void **state)
{
	program(src);
	save(src);
	irq_calls = 0;
	for (size_t len = 0; len < out.len; len++) {
		assert_int_equal(restore(dst, out.data, len), -EINVAL);
		assert_string_equal(err, "uart: state is truncated");
	}
	assert_int_equal(irq_calls, 0);
	assert_fresh(dst);
}

struct corrupt {
	size_t off;
	unsigned int size;
	uint32_t value;
	const char *msg;
};

static const struct corrupt corrupts[] = {
    {0, 4, 2, "uart: state version 2 is not supported (this build reads 1)"},
    {4, 1, 0x13, "uart: undefined bits set (IER 0x13, MCR 0x0b, FCR 0xc1, flags 0x01)"},
    {6, 1, 0x2b, "uart: undefined bits set (IER 0x03, MCR 0x2b, FCR 0xc1, flags 0x01)"},
    {8, 1, 0xc3, "uart: undefined bits set (IER 0x03, MCR 0x0b, FCR 0xc3, flags 0x01)"},
    {11, 1, 0x03, "uart: undefined bits set (IER 0x03, MCR 0x0b, FCR 0xc1, flags 0x03)"},
    {12, 4, FIFO + 1, "uart: 4097 bytes in a 4096-byte receive FIFO"},
    {12, 4, 5, "uart: state is truncated"},
    {12, 4, 3, "uart: 1 unexpected bytes at the end"},
};

static void test_uart_persist_corrupt(void **state)
{
	uint8_t copy[64];

	program(src);
	save(src);
	irq_calls = 0;
	assert_true(out.len <= sizeof(copy));
	for (size_t i = 0; i < ARRAY_SIZE(corrupts); i++) {
		const struct corrupt *c = &corrupts[i];

		memcpy(copy, out.data, out.len);
		if (c->size == 1)
			copy[c->off] = (uint8_t)c->value;
		else
			snap_le32(copy + c->off, c->value);
		assert_int_equal(restore(dst, copy, out.len), -EINVAL);
		if (strcmp(err, c->msg))
			fail_msg("case %zu: \"%s\", expected \"%s\"", i, err, c->msg);
	}
	assert_int_equal(irq_calls, 0);
	assert_fresh(dst);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(test_uart_persist_##name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(layout),	  T(round_trip), T(fifo_wrap), T(full_fifo_pauses_stdin),
	    T(truncated), T(corrupt),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
