// SPDX-License-Identifier: MIT
/*
 * 16550A UART, as Linux's 8250 driver probes and drives it.
 *
 * The transmitter: a byte written to THR goes into a 4 KiB buffer and is
 * written to out_fd at once, as far as the host stream takes it, never
 * waiting for it. While the stream keeps up the buffer stays empty and
 * the UART looks as it always did: THRE and TEMT set. When the reader is
 * slow (`vmm run | less`, a stalled SSH terminal or log pipe) the buffer
 * fills, and the guest sees a busy transmitter: LSR.THRE clears while
 * there is no room for a FIFO's worth (16 bytes: what Linux writes after
 * seeing THRE, in its console and its interrupt path alike), TEMT while
 * anything waits (OVMF's SerialPortLib waits for TEMT, then fills the
 * FIFO). What drains it is the host: the next THR write or LSR read, or
 * the VMM's loop through uart_tx_drain() when the stream becomes
 * writable. THRE then comes back, with its interrupt.
 *
 * A reader that takes nothing for tx_stall_ns (2 s) is taken to be gone
 * for now: THRE and TEMT read as set again, as on a real UART whose line
 * nobody listens to, so that the guest runs on. The buffer keeps the
 * oldest bytes, which still arrive in order if the reader comes back;
 * the bytes that find it full are dropped (counted). The first byte the
 * stream takes again ends the stall, and back-pressure with it.
 *
 * The THRE interrupt is a latch that is set whenever THRE goes from clear
 * to set, after every THR write that leaves THRE set, and when IER.ETBEI
 * goes 0->1 while THRE is set; it is cleared by writing THR or by reading
 * IIR while THRE is the reported source. Linux tests exactly that at
 * startup and falls back to polling a UART that gets it wrong.
 */
#include "devices.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
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
#define UART_TX_SIZE 4096
/* Room THRE promises: a 16550A's transmit FIFO, Linux's tx_loadsz for it. */
#define UART_TX_FIFO 16
#define UART_TX_STALL_MS 2000

/* How the transmitter writes to the host stream without ever waiting on it. */
enum uart_tx_how {
	UART_TX_WRITE,  /* write(2): a non-blocking description, or a regular file */
	UART_TX_SEND,   /* a socket: send(2) with MSG_DONTWAIT */
	UART_TX_POLLED, /* a blocking description we could not reopen: poll first */
};

struct uart {
	pthread_mutex_t lock;
	char name[32];
	struct irq_line irq;
	int out_fd;         /* the caller's; -1: output goes nowhere */
	int tx_fd;          /* what we write to: out_fd, or our own description of it */
	bool tx_fd_owned;
	enum uart_tx_how tx_how;
	int wake_efd;       /* tells the VMM's loop that output started waiting */
	bool wake_sent;     /* ... and it has not seen the buffer empty since */
	bool log_stalls;    /* stderr is another stream than out_fd, which a stall blocks */

	uint8_t tx[UART_TX_SIZE];
	size_t tx_head, tx_count;
	uint64_t tx_progress_ns; /* the stream last took a byte, or output started waiting */
	uint64_t tx_stall_ns;
	bool tx_stalled;
	uint64_t tx_dropped;     /* since the last stall began */

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

static uint64_t uart_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Room for a FIFO's worth: what the guest may write without losing a byte. */
static bool uart_thre(const struct uart *u)
{
	return u->tx_stalled || UART_TX_SIZE - u->tx_count >= UART_TX_FIFO;
}

static bool uart_temt(const struct uart *u)
{
	return u->tx_stalled || u->tx_count == 0;
}

/* One non-blocking write of up to two pieces of the buffer; as write(2). */
static ssize_t uart_tx_out(struct uart *u, struct iovec *iov, int n)
{
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)n };
	struct pollfd p = { .fd = u->tx_fd, .events = POLLOUT };
	int ready;

	switch (u->tx_how) {
	case UART_TX_SEND:
		return sendmsg(u->tx_fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	case UART_TX_POLLED:
		/*
		 * Ready for writing means room for at least one byte (a pipe
		 * has a free page, a terminal some write room): one byte then
		 * does not wait, unless another writer fills the stream first.
		 */
		ready = poll(&p, 1, 0);
		if (ready <= 0) {
			if (ready == 0)
				errno = EAGAIN;
			return -1;
		}
		return write(u->tx_fd, iov[0].iov_base, 1);
	case UART_TX_WRITE:
		break;
	}
	return writev(u->tx_fd, iov, n);
}

static void uart_tx_consume(struct uart *u, size_t n)
{
	u->tx_head = (u->tx_head + n) % UART_TX_SIZE;
	u->tx_count -= n;
	if (u->tx_count == 0) {
		u->tx_head = 0;
		u->wake_sent = false;
	}
}

/* The stream took bytes again after a stall: back-pressure resumes. */
static void uart_tx_progress(struct uart *u)
{
	u->tx_progress_ns = uart_now_ns();
	if (!u->tx_stalled)
		return;
	u->tx_stalled = false;
	if (u->log_stalls)
		dev_warn_rl(&u->warn_rl, u->name, "the console's reader is back; %llu bytes of "
			    "output were dropped meanwhile", (unsigned long long)u->tx_dropped);
}

/*
 * Writes what the stream takes now. A reader that is gone for good (EPIPE:
 * the VMM ignores SIGPIPE) or a stream that fails otherwise costs the
 * buffered bytes, as it did when each byte was written at once: the guest
 * never stalls or sees an error because the host's terminal went away.
 */
static void uart_tx_write_out(struct uart *u)
{
	while (u->tx_count) {
		size_t first = UART_TX_SIZE - u->tx_head;
		struct iovec iov[2] = {
			{ u->tx + u->tx_head, first < u->tx_count ? first : u->tx_count },
			{ u->tx, first < u->tx_count ? u->tx_count - first : 0 },
		};
		ssize_t n = uart_tx_out(u, iov, iov[1].iov_len ? 2 : 1);

		if (n > 0) {
			uart_tx_consume(u, (size_t)n);
			uart_tx_progress(u);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		dev_warn_rl(&u->warn_rl, u->name, "output dropped: %s",
			    n < 0 ? strerror(errno) : "the stream took nothing");
		uart_tx_consume(u, u->tx_count);
		return;
	}
}

/*
 * Output waits: the stall clock runs, and the VMM's loop, which polls
 * the eventfd while nothing waits, is told to poll the stream instead.
 */
static void uart_tx_note_waiting(struct uart *u)
{
	uint64_t one = 1;

	if (!u->tx_count || u->wake_sent)
		return;
	u->wake_sent = true;
	if (u->wake_efd >= 0 && write(u->wake_efd, &one, sizeof(one)) < 0)
		dev_warn_rl(&u->warn_rl, u->name, "cannot wake the console loop: %s",
			    strerror(errno));
}

static void uart_tx_check_stall(struct uart *u)
{
	if (u->tx_stalled || !u->tx_count || uart_now_ns() - u->tx_progress_ns < u->tx_stall_ns)
		return;
	u->tx_stalled = true;
	u->tx_dropped = 0;
	if (u->log_stalls)
		dev_warn_rl(&u->warn_rl, u->name, "nobody has taken console output for %llu ms: "
			    "dropping what does not fit in %u bytes until they do",
			    (unsigned long long)(u->tx_stall_ns / 1000000), UART_TX_SIZE);
}

/* The host's turn: write out, give up on a stalled reader, and raise THRI when THRE comes back. */
static void uart_tx_service(struct uart *u)
{
	bool thre = uart_thre(u);

	uart_tx_write_out(u);
	uart_tx_check_stall(u);
	if (!thre && uart_thre(u))
		u->thri_pending = true;
	else if (!uart_thre(u))
		u->thri_pending = false;
}

/*
 * A byte that finds the buffer full is dropped, as a 16550A loses a byte
 * written to a full FIFO: the guest ignored THRE (Linux's console does
 * so after waiting 10 ms per byte), or the reader stalled.
 */
static void uart_tx_push(struct uart *u, uint8_t byte)
{
	if (u->out_fd < 0)
		return;
	if (u->tx_count == UART_TX_SIZE) {
		u->tx_dropped++;
		return;
	}
	if (u->tx_count == 0)
		u->tx_progress_ns = uart_now_ns(); /* the stall clock starts */
	u->tx[(u->tx_head + u->tx_count) % UART_TX_SIZE] = byte;
	u->tx_count++;
}

static void uart_write_thr(struct uart *u, uint8_t byte)
{
	if (uart_loopback(u)) {
		/* A real receiver overruns when its FIFO is full. */
		if (!uart_rx_push(u, byte))
			u->lsr_errors |= LSR_OE;
	} else {
		uart_tx_push(u, byte);
	}
	uart_tx_write_out(u);
	uart_tx_check_stall(u);
	uart_tx_note_waiting(u);
	/* Writing THR acknowledges THRI; it is back at once while there is room. */
	u->thri_pending = uart_thre(u);
}

static void uart_write_ier(struct uart *u, uint8_t val)
{
	uint8_t old = u->ier;

	u->ier = val & IER_MASK;
	/* Enabling ETBEI while THRE is set raises THRI. */
	if (!(old & IER_ETBEI) && (u->ier & IER_ETBEI) && uart_thre(u))
		u->thri_pending = true;
}

static void uart_write_fcr(struct uart *u, uint8_t val)
{
	/* Turning the FIFOs on or off resets them, as on the chip. */
	if ((val ^ u->fcr) & FCR_ENABLE)
		uart_rx_clear(u);
	if (val & FCR_CLEAR_RX)
		uart_rx_clear(u);
	/*
	 * FCR_CLEAR_TX drops nothing: a byte written to THR is the host's.
	 * Linux clears the FIFOs when it opens the port, and would otherwise
	 * lose boot output that a slow reader has not taken yet.
	 */
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
	uint8_t lsr = u->lsr_errors;

	/* A guest polling THRE drains the buffer itself, interrupts or not. */
	if (u->tx_count)
		uart_tx_service(u);
	if (uart_thre(u))
		lsr |= LSR_THRE;
	if (uart_temt(u))
		lsr |= LSR_TEMT;
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

/*
 * A way to write to out_fd that never waits for its reader, without
 * touching out_fd's own flags: stdout is often one file description with
 * stdin and the user's shell (a terminal's), and O_NONBLOCK set on it
 * would change their reads too, and stay set if we died. So a pipe, FIFO
 * or terminal gets a description of its own, opened through
 * /proc/self/fd with O_NONBLOCK (the same pipe or terminal, its settings
 * shared); a socket is written with MSG_DONTWAIT; a regular file never
 * waits for a reader and is written as it is, as is a description that
 * is non-blocking already.
 */
static void uart_open_writer(struct uart *u)
{
	char path[40];
	struct stat st;
	int flags = fcntl(u->out_fd, F_GETFL), fd;

	u->tx_fd = u->out_fd;
	u->tx_how = UART_TX_WRITE;
	if (u->out_fd < 0 || flags < 0 || fstat(u->out_fd, &st) < 0)
		return; /* a bad fd: each write fails and the byte is dropped */
	if ((flags & O_NONBLOCK) || S_ISREG(st.st_mode))
		return;
	if (S_ISSOCK(st.st_mode)) {
		u->tx_how = UART_TX_SEND;
		return;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", u->out_fd);
	fd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0) {
		u->tx_fd = fd;
		u->tx_fd_owned = true;
		return;
	}
	/* ENXIO: a pipe nobody reads any more; its writes fail at once. */
	if (errno != ENXIO)
		dev_warn(u->name, "cannot reopen its output non-blocking (%s): polling it before "
			 "each byte instead", strerror(errno));
	u->tx_how = UART_TX_POLLED;
}

/* Whether fd is another stream than stderr, which a warning about a stall may then use. */
static bool uart_other_than_stderr(int fd)
{
	struct stat a, b;

	if (fstat(fd, &a) < 0 || fstat(STDERR_FILENO, &b) < 0)
		return false;
	return a.st_dev != b.st_dev || a.st_ino != b.st_ino;
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
	u->wake_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (u->wake_efd < 0) {
		err = errno;
		pthread_mutex_destroy(&u->lock);
		free(u);
		errno = err;
		return NULL;
	}
	snprintf(u->name, sizeof(u->name), "%s", name ? name : "uart");
	if (irq)
		u->irq = *irq;
	u->out_fd = out_fd;
	uart_open_writer(u);
	u->log_stalls = out_fd >= 0 && uart_other_than_stderr(out_fd);
	u->tx_stall_ns = UART_TX_STALL_MS * 1000000ull;
	/*
	 * FIFOs off, IER and MCR clear, as after reset; 9600 8N1 (divisor 12
	 * from 1.8432 MHz) is what a BIOS would have left for the loader.
	 */
	u->lcr = 0x03;
	u->dll = 0x0c;
	return u;
}

void uart_set_tx_stall_ms(struct uart *u, unsigned ms)
{
	pthread_mutex_lock(&u->lock);
	u->tx_stall_ns = (uint64_t)ms * 1000000ull;
	pthread_mutex_unlock(&u->lock);
}

int uart_tx_poll(struct uart *u, struct pollfd *p)
{
	uint64_t waited, left;
	int ms = -1;

	pthread_mutex_lock(&u->lock);
	if (u->tx_count) {
		*p = (struct pollfd){ .fd = u->tx_fd, .events = POLLOUT };
		waited = uart_now_ns() - u->tx_progress_ns;
		left = waited < u->tx_stall_ns ? u->tx_stall_ns - waited : 0;
		if (!u->tx_stalled)
			ms = left / 1000000 >= INT_MAX ? INT_MAX : (int)((left + 999999) / 1000000);
	} else {
		*p = (struct pollfd){ .fd = u->wake_efd, .events = POLLIN };
	}
	pthread_mutex_unlock(&u->lock);
	return ms;
}

void uart_tx_drain(struct uart *u)
{
	uint64_t count;

	pthread_mutex_lock(&u->lock);
	if (read(u->wake_efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		dev_warn_rl(&u->warn_rl, u->name, "console wake-up: %s", strerror(errno));
	uart_tx_service(u);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

void uart_tx_finish(struct uart *u, unsigned timeout_ms)
{
	uint64_t deadline = uart_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	size_t left;

	pthread_mutex_lock(&u->lock);
	for (;;) {
		struct pollfd p = { .fd = u->tx_fd, .events = POLLOUT };
		uint64_t now;

		uart_tx_write_out(u);
		uart_tx_check_stall(u);
		now = uart_now_ns();
		if (!u->tx_count || u->tx_stalled || now >= deadline)
			break;
		/*
		 * Unlocked while it waits; at most 100 ms at a time, so that
		 * the stall is noticed without a write to wake us.
		 */
		pthread_mutex_unlock(&u->lock);
		poll(&p, 1, deadline - now > 100000000ull ? 100 :
			    (int)((deadline - now + 999999) / 1000000));
		pthread_mutex_lock(&u->lock);
	}
	left = u->tx_count;
	uart_tx_consume(u, left);
	pthread_mutex_unlock(&u->lock);
	if (left && u->log_stalls)
		dev_warn(u->name, "%zu bytes of console output dropped: nobody took them", left);
}

void uart_free(struct uart *u)
{
	if (!u)
		return;
	if (u->tx_fd_owned)
		close(u->tx_fd);
	close(u->wake_efd);
	pthread_mutex_destroy(&u->lock);
	free(u);
}
