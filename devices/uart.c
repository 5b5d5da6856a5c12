// SPDX-License-Identifier: MIT
/*
 * 16550A UART, as Linux's 8250 driver probes and drives it.
 *
 * Transmission is instantaneous: a byte written to THR is on out_fd before
 * the write returns, so THR and the transmitter are always empty (LSR THRE
 * and TEMT always set). What matters is the THRE interrupt: it is a latch
 * that is set whenever THR becomes empty (after every THR write, and when
 * IER.ETBEI goes 0->1 while THR is empty), cleared by writing THR or by
 * reading IIR while THRE is the reported source. Linux tests exactly that
 * at startup and falls back to polling a UART that gets it wrong.
 */
#include "devices.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/log.h"

enum {
	UART_RBR = 0, /* read, DLAB=0; THR on write; DLL with DLAB=1 */
	UART_IER = 1, /* DLM with DLAB=1 */
	UART_IIR = 2, /* read; FCR on write */
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
	UART_NR_REGS = 8,
};

#define IER_ERBFI 0x01 /* received data available */
#define IER_ETBEI 0x02 /* THR empty */
#define IER_ELSI  0x04 /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */
#define IER_MASK  0x0f /* the upper bits do not exist on a 16550A */

#define IIR_MSI     0x00
#define IIR_NO_INT  0x01
#define IIR_THRI    0x02
#define IIR_RDI     0x04
#define IIR_RLSI    0x06
#define IIR_FIFO_ON 0xc0

#define FCR_ENABLE    0x01
#define FCR_CLEAR_RX  0x02
#define FCR_CLEAR_TX  0x04
#define FCR_KEPT      0xc9 /* enable, DMA mode, RX trigger level */

#define LCR_DLAB 0x80

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR   0x01
#define LSR_OE   0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS  0x01
#define MSR_DDSR  0x02
#define MSR_TERI  0x04
#define MSR_DDCD  0x08
#define MSR_CTS   0x10
#define MSR_DSR   0x20
#define MSR_RI    0x40
#define MSR_DCD   0x80
/* Outside loopback: a terminal that is always there and always ready. */
#define MSR_LINES_CONNECTED (MSR_CTS | MSR_DSR | MSR_DCD)

#define UART_RX_SIZE 4096

struct uart {
	pthread_mutex_t lock;
	char name[32];
	struct irq_line irq;
	int out_fd;

	uint8_t ier, fcr, lcr, mcr, scr, dll, dlm;
	uint8_t lsr_errors; /* LSR_OE; cleared by reading LSR */
	uint8_t msr_deltas; /* MSR bits 3:0; cleared by reading MSR */
	uint8_t rbr_last;   /* what RBR reads when the FIFO is empty */
	bool thri_pending;
	bool irq_level;     /* what we last drove onto the line */

	uint8_t rx[UART_RX_SIZE];
	size_t rx_head, rx_count;
	struct log_ratelimit warn_rl; /* dev_warn_rl()'s, for warnings a guest can drive */
};

static bool uart_loopback(const struct uart *u)
{
	return u->mcr & MCR_LOOP;
}

/* The modem input lines; in loopback they are wired to the MCR outputs. */
static uint8_t uart_msr_lines(uint8_t mcr)
{
	uint8_t lines = 0;

	if (!(mcr & MCR_LOOP))
		return MSR_LINES_CONNECTED;
	if (mcr & MCR_RTS)
		lines |= MSR_CTS;
	if (mcr & MCR_DTR)
		lines |= MSR_DSR;
	if (mcr & MCR_OUT1)
		lines |= MSR_RI;
	if (mcr & MCR_OUT2)
		lines |= MSR_DCD;
	return lines;
}

/* The highest-priority pending source, as IIR bits 3:0 report it. */
static uint8_t uart_iir_source(const struct uart *u)
{
	if ((u->ier & IER_ELSI) && u->lsr_errors)
		return IIR_RLSI;
	if ((u->ier & IER_ERBFI) && u->rx_count)
		return IIR_RDI;
	if ((u->ier & IER_ETBEI) && u->thri_pending)
		return IIR_THRI;
	if ((u->ier & IER_EDSSI) && u->msr_deltas)
		return IIR_MSI;
	return IIR_NO_INT;
}

/*
 * Drives the line only when its level changes: ISA IRQ 4 is edge-triggered
 * at the IOAPIC, and a redundant 0/1 pair would be a spurious interrupt.
 * A PC gates the UART's interrupt output with MCR.OUT2; Linux sets it.
 * (A real PC also loses the line in loopback, where the OUT2 pin is forced
 * inactive; we follow the register bit so loopback self-tests can still
 * use interrupts.) Called with the lock held so that levels from
 * different threads reach the irqchip in the order they were computed.
 */
static void uart_update_irq(struct uart *u)
{
	bool level = uart_iir_source(u) != IIR_NO_INT && (u->mcr & MCR_OUT2);

	if (level == u->irq_level)
		return;
	u->irq_level = level;
	irq_line_set(&u->irq, level);
}

static bool uart_rx_push(struct uart *u, uint8_t byte)
{
	if (u->rx_count == UART_RX_SIZE)
		return false;
	u->rx[(u->rx_head + u->rx_count) % UART_RX_SIZE] = byte;
	u->rx_count++;
	return true;
}

static uint8_t uart_rx_pop(struct uart *u)
{
	if (u->rx_count == 0)
		return u->rbr_last;
	u->rbr_last = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % UART_RX_SIZE;
	u->rx_count--;
	return u->rbr_last;
}

static void uart_rx_clear(struct uart *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
}

/*
 * One write(2) per byte: console output is a trickle and each byte already
 * cost the guest a VM exit. A byte that cannot be written is dropped: the
 * guest must never stall or see an error because the host's terminal went
 * away (the VMM ignores SIGPIPE, so a closed pipe is EPIPE here).
 */
static void uart_emit(struct uart *u, uint8_t byte)
{
	ssize_t n;

	if (u->out_fd < 0)
		return;
	do
		n = write(u->out_fd, &byte, 1);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		dev_warn_rl(&u->warn_rl, u->name, "output dropped: %s", strerror(errno));
}

static void uart_write_thr(struct uart *u, uint8_t byte)
{
	u->thri_pending = false;
	if (uart_loopback(u)) {
		/* A real receiver overruns when its FIFO is full. */
		if (!uart_rx_push(u, byte))
			u->lsr_errors |= LSR_OE;
	} else {
		uart_emit(u, byte);
	}
	/* The byte left THR at once: THR is empty again. */
	u->thri_pending = true;
}

static void uart_write_ier(struct uart *u, uint8_t val)
{
	uint8_t old = u->ier;

	u->ier = val & IER_MASK;
	/* Enabling ETBEI while THR is empty (it always is) raises THRI. */
	if (!(old & IER_ETBEI) && (u->ier & IER_ETBEI))
		u->thri_pending = true;
}

static void uart_write_fcr(struct uart *u, uint8_t val)
{
	/* Turning the FIFOs on or off resets them, as on the chip. */
	if ((val ^ u->fcr) & FCR_ENABLE)
		uart_rx_clear(u);
	if (val & FCR_CLEAR_RX)
		uart_rx_clear(u);
	/* FCR_CLEAR_TX: nothing to clear, transmission is instantaneous. */
	u->fcr = val & FCR_KEPT;
}

static void uart_write_mcr(struct uart *u, uint8_t val)
{
	uint8_t before = uart_msr_lines(u->mcr);
	uint8_t after = uart_msr_lines(val & MCR_MASK);
	uint8_t changed = before ^ after;

	u->mcr = val & MCR_MASK;
	if (changed & MSR_CTS)
		u->msr_deltas |= MSR_DCTS;
	if (changed & MSR_DSR)
		u->msr_deltas |= MSR_DDSR;
	if (changed & MSR_DCD)
		u->msr_deltas |= MSR_DDCD;
	/* TERI flags the trailing edge of RI only. */
	if ((before & MSR_RI) && !(after & MSR_RI))
		u->msr_deltas |= MSR_TERI;
}

static void uart_write_reg(struct uart *u, unsigned reg, uint8_t val)
{
	bool dlab = u->lcr & LCR_DLAB;

	switch (reg) {
	case UART_RBR:
		if (dlab)
			u->dll = val;
		else
			uart_write_thr(u, val);
		break;
	case UART_IER:
		if (dlab)
			u->dlm = val;
		else
			uart_write_ier(u, val);
		break;
	case UART_IIR:
		uart_write_fcr(u, val);
		break;
	case UART_LCR:
		u->lcr = val;
		break;
	case UART_MCR:
		uart_write_mcr(u, val);
		break;
	case UART_SCR:
		u->scr = val;
		break;
	default: /* LSR and MSR are read-only; anything past the window */
		dev_warn_rl(&u->warn_rl, u->name, "write 0x%02x to read-only/unknown register %u",
			    val, reg);
		break;
	}
}

static uint8_t uart_read_iir(struct uart *u)
{
	uint8_t source = uart_iir_source(u);

	/* Reading IIR acknowledges THRI, but only when it is what IIR says. */
	if (source == IIR_THRI)
		u->thri_pending = false;
	return source | ((u->fcr & FCR_ENABLE) ? IIR_FIFO_ON : 0);
}

static uint8_t uart_read_lsr(struct uart *u)
{
	uint8_t lsr = LSR_THRE | LSR_TEMT | u->lsr_errors;

	if (u->rx_count)
		lsr |= LSR_DR;
	u->lsr_errors = 0;
	return lsr;
}

static uint8_t uart_read_msr(struct uart *u)
{
	uint8_t msr = uart_msr_lines(u->mcr) | u->msr_deltas;

	u->msr_deltas = 0;
	return msr;
}

static uint8_t uart_read_reg(struct uart *u, unsigned reg)
{
	bool dlab = u->lcr & LCR_DLAB;

	switch (reg) {
	case UART_RBR:
		return dlab ? u->dll : uart_rx_pop(u);
	case UART_IER:
		return dlab ? u->dlm : u->ier;
	case UART_IIR:
		return uart_read_iir(u);
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		return uart_read_lsr(u);
	case UART_MSR:
		return uart_read_msr(u);
	case UART_SCR:
		return u->scr;
	default:
		return 0xff; /* nothing decodes there */
	}
}

/* Register of byte i of an access; UART_NR_REGS past the window. */
static unsigned uart_reg(uint64_t offset, unsigned i)
{
	if (offset >= UART_NR_REGS || offset + i >= UART_NR_REGS)
		return UART_NR_REGS;
	return (unsigned)(offset + i);
}

/*
 * The UART is an 8-bit ISA device: a wider access reaches consecutive
 * registers one byte at a time, lowest address first, as the bus would
 * split it. The whole access happens under the lock, so it is atomic
 * with respect to other vCPUs and the console thread.
 */
static uint64_t uart_read(void *opaque, uint64_t offset, unsigned size)
{
	struct uart *u = opaque;
	uint64_t val = 0;

	if (size > 8)
		size = 8;
	pthread_mutex_lock(&u->lock);
	for (unsigned i = 0; i < size; i++) {
		unsigned reg = uart_reg(offset, i);
		uint8_t byte = reg < UART_NR_REGS ? uart_read_reg(u, reg) : 0xff;

		val |= (uint64_t)byte << (8 * i);
	}
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return val;
}

static void uart_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct uart *u = opaque;

	if (size > 8)
		size = 8;
	pthread_mutex_lock(&u->lock);
	for (unsigned i = 0; i < size; i++) {
		uart_write_reg(u, uart_reg(offset, i), (uint8_t)(value >> (8 * i)));
	}
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

const struct bus_ops uart_ops = {
	.name = "uart",
	.read = uart_read,
	.write = uart_write,
};

size_t uart_input(struct uart *u, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&u->lock);
	/* In loopback the receiver listens to the transmitter only. */
	if (!uart_loopback(u)) {
		while (n < len && uart_rx_push(u, buf[n]))
			n++;
		uart_update_irq(u);
	}
	pthread_mutex_unlock(&u->lock);
	return n;
}

struct uart *uart_new(const char *name, const struct irq_line *irq, int out_fd)
{
	struct uart *u = calloc(1, sizeof(*u));
	int err;

	if (!u)
		return NULL;
	err = pthread_mutex_init(&u->lock, NULL);
	if (err) {
		free(u);
		errno = err;
		return NULL;
	}
	snprintf(u->name, sizeof(u->name), "%s", name ? name : "uart");
	if (irq)
		u->irq = *irq;
	u->out_fd = out_fd;
	/*
	 * FIFOs off, IER and MCR clear, as after reset; 9600 8N1 (divisor 12
	 * from 1.8432 MHz) is what a BIOS would have left for the loader.
	 */
	u->lcr = 0x03;
	u->dll = 0x0c;
	return u;
}

void uart_free(struct uart *u)
{
	if (!u)
		return;
	pthread_mutex_destroy(&u->lock);
	free(u);
}
