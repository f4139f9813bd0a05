/* 16550A UART: registers, RX FIFO fed from stdin, TX to stdout, a level-triggered SPI, snapshot state. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "arch/arch.h"
#include "evloop.h"
#include "log.h"
#include "snapshot/buf.h"
#include "uart.h"
#include "vm.h"

/* Register offsets (reg-shift 0, 1-byte registers). */
enum {
	UART_RBR_THR = 0, /* DLL when LCR.DLAB */
	UART_IER = 1,     /* DLM when LCR.DLAB */
	UART_IIR_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

#define IER_MASK   0x0f
#define IER_RDI    0x01
#define IER_THRI   0x02
#define IIR_NO_INT 0x01
#define IIR_THRI   0x02
#define IIR_RDI    0x04
#define IIR_FIFO   0xc0
#define FCR_FIFO   0x01
#define FCR_CLR_RX 0x02
#define FCR_KEPT   (FCR_FIFO | 0xc0) /* the bits FCR keeps (trigger level, enable) */
#define LCR_DLAB   0x80
#define MCR_OUT2   0x08
#define MCR_LOOP   0x10
#define MCR_MASK   0x1f
#define LSR_DR     0x01
#define LSR_THRE   0x20
#define LSR_TEMT   0x40
#define MSR_CTS    0x10
#define MSR_DSR    0x20
#define MSR_RI     0x40
#define MSR_DCD    0x80

#define RX_FIFO_SIZE 4096

struct uart {
	struct vm *vm;
	pthread_mutex_t lock;
	unsigned int irq;
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thri_pending; /* THR empty and not yet reported through IIR */
	bool irq_level;
	uint8_t rx[RX_FIFO_SIZE];
	unsigned int rx_head, rx_count;
	bool stdin_watched;
	bool stdin_paused; /* not reading stdin while the FIFO is full */
};

static uint8_t uart_iir(const struct uart *u)
{
	uint8_t fifo = (u->fcr & FCR_FIFO) ? IIR_FIFO : 0;

	if ((u->ier & IER_RDI) && u->rx_count)
		return IIR_RDI | fifo;
	if ((u->ier & IER_THRI) && u->thri_pending)
		return IIR_THRI | fifo;
	return IIR_NO_INT | fifo;
}

/* With the lock held, after any change: drive the line to match IIR. */
static void uart_update_irq(struct uart *u)
{
	bool level = !(uart_iir(u) & IIR_NO_INT);

	if (level == u->irq_level)
		return;
	u->irq_level = level;
	if (arch_irq_line(u->vm, u->irq, level) < 0)
		pr_warn("uart: cannot drive SPI %u", u->irq);
}

static void uart_tx(struct uart *u, uint8_t c)
{
	if (u->mcr & MCR_LOOP) {
		if (u->rx_count < RX_FIFO_SIZE)
			u->rx[(u->rx_head + u->rx_count++) % RX_FIFO_SIZE] = c;
	} else {
		/* The console is best effort: a closed stdout drops output. */
		while (write(STDOUT_FILENO, &c, 1) < 0 && errno == EINTR)
			;
	}
	/* The byte left at once: THR is empty again. */
	u->thri_pending = true;
}

static uint8_t uart_rx(struct uart *u)
{
	uint8_t c;

	if (!u->rx_count)
		return 0;
	c = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % RX_FIFO_SIZE;
	u->rx_count--;
	if (u->stdin_paused && u->rx_count < RX_FIFO_SIZE / 2) {
		u->stdin_paused = false;
		evloop_mod(u->vm->el, STDIN_FILENO, EPOLLIN);
	}
	return c;
}

static uint8_t uart_read_reg(struct uart *u, uint64_t off)
{
	bool dlab = u->lcr & LCR_DLAB;
	uint8_t v;

	switch (off) {
	case UART_RBR_THR:
		return dlab ? u->dll : uart_rx(u);
	case UART_IER:
		return dlab ? u->dlm : u->ier;
	case UART_IIR_FCR:
		v = uart_iir(u);
		/* Reading IIR while it reports THRE clears that source. */
		if ((v & 0x0f) == IIR_THRI)
			u->thri_pending = false;
		return v;
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		return LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0);
	case UART_MSR:
		if (u->mcr & MCR_LOOP) /* loopback: outputs feed the inputs */
			return (uint8_t)(((u->mcr & 0x01) << 5) | ((u->mcr & 0x02) << 3) |
					 ((u->mcr & 0x04) << 4) | ((u->mcr & MCR_OUT2) << 4));
		return MSR_DCD | MSR_DSR | MSR_CTS;
	case UART_SCR:
		return u->scr;
	default:
		return 0;
	}
}

static void uart_write_reg(struct uart *u, uint64_t off, uint8_t v)
{
	bool dlab = u->lcr & LCR_DLAB;

	switch (off) {
	case UART_RBR_THR:
		if (dlab)
			u->dll = v;
		else
			uart_tx(u, v);
		break;
	case UART_IER:
		if (dlab) {
			u->dlm = v;
			break;
		}
		/* Enabling THRE interrupts with THR empty raises one at once. */
		if (!(u->ier & IER_THRI) && (v & IER_THRI))
			u->thri_pending = true;
		u->ier = v & IER_MASK;
		break;
	case UART_IIR_FCR:
		u->fcr = v & FCR_KEPT;
		if (v & FCR_CLR_RX)
			u->rx_count = 0;
		break;
	case UART_LCR:
		u->lcr = v;
		break;
	case UART_MCR:
		u->mcr = v & MCR_MASK;
		break;
	case UART_SCR:
		u->scr = v;
		break;
	default: /* LSR and MSR are read-only */
		break;
	}
}

static void uart_mmio(void *opaque, uint64_t off, void *data, unsigned int len, bool is_write)
{
	struct uart *u = opaque;
	uint8_t *bytes = data;

	/* Byte registers: wider accesses touch only the addressed one. */
	pthread_mutex_lock(&u->lock);
	if (is_write) {
		uart_write_reg(u, off, bytes[0]);
	} else {
		memset(data, 0, len);
		bytes[0] = uart_read_reg(u, off);
	}
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

static void uart_stdin_ready(void *opaque, uint32_t events)
{
	struct uart *u = opaque;
	uint8_t buf[256];
	ssize_t n;
	size_t room;

	pthread_mutex_lock(&u->lock);
	room = RX_FIFO_SIZE - u->rx_count;
	if (room > sizeof(buf))
		room = sizeof(buf);
	n = room ? read(STDIN_FILENO, buf, room) : 0;
	if (n > 0) {
		for (ssize_t i = 0; i < n; i++)
			u->rx[(u->rx_head + u->rx_count++) % RX_FIFO_SIZE] = buf[i];
		uart_update_irq(u);
	} else if (room && (n == 0 || (errno != EAGAIN && errno != EINTR))) {
		/* End of input: keep the guest running, stop watching. */
		evloop_del(u->vm->el, STDIN_FILENO);
		u->stdin_watched = false;
	}
	if (u->stdin_watched && u->rx_count == RX_FIFO_SIZE) {
		u->stdin_paused = true;
		evloop_mod(u->vm->el, STDIN_FILENO, 0);
	}
	pthread_mutex_unlock(&u->lock);
}

int uart_init(struct vm *vm, struct uart **out)
{
	struct uart *u;
	int rc;

	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->vm = vm;
	u->irq = arch_uart_irq();
	u->mcr = MCR_OUT2;
	pthread_mutex_init(&u->lock, NULL);
	rc = vm_mmio_register(vm, arch_uart_base(), arch_uart_size(), uart_mmio, u);
	if (rc < 0)
		goto err_free;
	if (vm->cfg->console_input) {
		rc = evloop_add(vm->el, STDIN_FILENO, EPOLLIN, uart_stdin_ready, u);
		if (rc == -EPERM) {
			/* A regular file or /dev/null: epoll can't watch it; no console input. */
			pr_debug("uart: stdin cannot be watched; console input off");
		} else if (rc < 0) {
			pr_err("uart: watching stdin: %s", strerror(-rc));
			goto err_free;
		} else {
			u->stdin_watched = true;
		}
	}
	*out = u;
	return 0;

err_free:
	pthread_mutex_destroy(&u->lock);
	free(u);
	return rc;
}

void uart_exit(struct uart *u)
{
	if (!u)
		return;
	if (u->stdin_watched)
		evloop_del(u->vm->el, STDIN_FILENO);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

/* --- Snapshot state ---------------------------------------------------------------------- */

#define SNAP_F_THRI 0x01u /* thri_pending */

/* The payload, decoded. */
struct uart_snap {
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm, flags;
	uint32_t rx_count;
	uint8_t rx[RX_FIFO_SIZE]; /* oldest first */
};

int uart_save(struct uart *u, struct snap_buf *out)
{
	int rc;

	pthread_mutex_lock(&u->lock);
	snap_put_u32(out, UART_SNAP_VERSION);
	snap_put_u8(out, u->ier);
	snap_put_u8(out, u->lcr);
	snap_put_u8(out, u->mcr);
	snap_put_u8(out, u->scr);
	snap_put_u8(out, u->fcr);
	snap_put_u8(out, u->dll);
	snap_put_u8(out, u->dlm);
	snap_put_u8(out, u->thri_pending ? SNAP_F_THRI : 0);
	snap_put_u32(out, u->rx_count);
	for (unsigned int i = 0; i < u->rx_count; i++)
		snap_put_u8(out, u->rx[(u->rx_head + i) % RX_FIFO_SIZE]);
	pthread_mutex_unlock(&u->lock);
	rc = snap_buf_error(out);
	if (rc < 0)
		pr_err("uart: snapshot: %s", strerror(-rc));
	return rc;
}

static int uart_snap_decode(struct uart_snap *s, const void *data, size_t len, char *err,
			    size_t errlen)
{
	struct snap_buf in;
	uint32_t version;

	snap_buf_view(&in, data, len);
	version = snap_get_u32(&in);
	if (!snap_buf_error(&in) && version != UART_SNAP_VERSION)
		return snap_errf(err, errlen, -EINVAL,
				 "uart: state version %u is not supported (this build reads %u)",
				 version, UART_SNAP_VERSION);
	s->ier = snap_get_u8(&in);
	s->lcr = snap_get_u8(&in);
	s->mcr = snap_get_u8(&in);
	s->scr = snap_get_u8(&in);
	s->fcr = snap_get_u8(&in);
	s->dll = snap_get_u8(&in);
	s->dlm = snap_get_u8(&in);
	s->flags = snap_get_u8(&in);
	s->rx_count = snap_get_u32(&in);
	if (!snap_buf_error(&in) && s->rx_count > RX_FIFO_SIZE)
		return snap_errf(err, errlen, -EINVAL, "uart: %u bytes in a %u-byte receive FIFO",
				 s->rx_count, RX_FIFO_SIZE);
	snap_get_bytes(&in, s->rx, s->rx_count);
	if (snap_buf_error(&in))
		return snap_errf(err, errlen, -EINVAL, "uart: state is truncated");
	if (snap_buf_done(&in))
		return snap_errf(err, errlen, -EINVAL, "uart: %zu unexpected bytes at the end",
				 in.len - in.pos);
	if (s->ier & ~IER_MASK || s->mcr & ~MCR_MASK || s->fcr & ~FCR_KEPT ||
	    s->flags & ~SNAP_F_THRI)
		return snap_errf(err, errlen, -EINVAL,
				 "uart: undefined bits set (IER 0x%02x, MCR 0x%02x, FCR 0x%02x, "
				 "flags 0x%02x)", s->ier, s->mcr, s->fcr, s->flags);
	return 0;
}

int uart_restore(struct uart *u, const void *data, size_t len, char *err, size_t errlen)
{
	struct uart_snap *s;
	bool level;
	int rc;

	s = malloc(sizeof(*s));
	if (!s)
		return snap_errf(err, errlen, -ENOMEM, "uart: out of memory");
	rc = uart_snap_decode(s, data, len, err, errlen);
	if (rc < 0) {
		free(s);
		return rc;
	}
	pthread_mutex_lock(&u->lock);
	u->ier = s->ier;
	u->lcr = s->lcr;
	u->mcr = s->mcr;
	u->scr = s->scr;
	u->fcr = s->fcr;
	u->dll = s->dll;
	u->dlm = s->dlm;
	u->thri_pending = s->flags & SNAP_F_THRI;
	memcpy(u->rx, s->rx, s->rx_count);
	u->rx_head = 0;
	u->rx_count = s->rx_count;
	if (u->stdin_watched && u->rx_count == RX_FIFO_SIZE && !u->stdin_paused) {
		u->stdin_paused = true;
		evloop_mod(u->vm->el, STDIN_FILENO, 0);
	}
	/* The line as the registers say, whatever the vGIC's restored level was. */
	level = !(uart_iir(u) & IIR_NO_INT);
	u->irq_level = level;
	if (arch_irq_line(u->vm, u->irq, level) < 0)
		pr_warn("uart: cannot drive SPI %u", u->irq);
	pthread_mutex_unlock(&u->lock);
	free(s);
	return 0;
}
