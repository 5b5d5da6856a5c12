// SPDX-License-Identifier: MIT
/*
 * The 16550A as Linux's 8250 driver sees it: probe, startup tests, THRE
 * and receive interrupts, loopback, and output on out_fd.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "devices/devices.h"

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3,
       MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

#define IER_RDI  0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IER_MSI  0x08
#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define LSR_DR   0x01
#define LSR_OE   0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

/* Records every level the device drives onto its interrupt line. */
struct irq_rec {
	int level;
	int raises; /* 0->1 transitions */
	int calls;
};

static void irq_rec_set(void *opaque, unsigned gsi, int level)
{
	struct irq_rec *r = opaque;

	cr_assert_eq(gsi, 4);
	if (level && !r->level)
		r->raises++;
	r->level = level;
	r->calls++;
}

static struct irq_rec rec;
static int out_pipe[2];
static struct uart *u;

static void setup(void)
{
	struct irq_line irq = { .set_level = irq_rec_set, .opaque = &rec, .gsi = 4 };

	memset(&rec, 0, sizeof(rec));
	cr_assert_eq(pipe2(out_pipe, O_NONBLOCK | O_CLOEXEC), 0);
	u = uart_new("ttyS0", &irq, out_pipe[1]);
	cr_assert_not_null(u);
}

static void teardown(void)
{
	uart_free(u);
	close(out_pipe[0]);
	if (out_pipe[1] >= 0)
		close(out_pipe[1]);
}

TestSuite(uart, .init = setup, .fini = teardown);

static uint8_t in(unsigned reg)
{
	return (uint8_t)uart_ops.read(u, reg, 1);
}

static void out(unsigned reg, uint8_t val)
{
	uart_ops.write(u, reg, 1, val);
}

/* Everything written to out_fd so far. */
static size_t drain_output(char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;

	while (n < cap && (r = read(out_pipe[0], buf + n, cap - n)) > 0)
		n += (size_t)r;
	return n;
}

Test(uart, ier_readback_existence_test)
{
	uint8_t saved = in(IER);

	out(IER, 0);
	cr_assert_eq(in(IER) & 0x0f, 0);
	out(IER, 0x0f);
	cr_assert_eq(in(IER) & 0x0f, 0x0f);
	/* IER bits 7:4 do not exist: UUE (bit 6) must not stick (not an XScale). */
	out(IER, 0xff);
	cr_assert_eq(in(IER), 0x0f);
	out(IER, saved);
	cr_assert_eq(in(IER), saved);
}

Test(uart, loopback_msr_test)
{
	uint8_t save_mcr = in(MCR);

	out(MCR, MCR_LOOP | 0x0a);
	cr_assert_eq(in(MSR) & 0xf0, 0x90);
	out(MCR, save_mcr);
	cr_assert_eq(in(MSR) & 0xf0, 0xb0, "outside loopback: CTS, DSR and DCD up");
}

/* Linux's autoconfig(), with the 16550A variant probes. */
Test(uart, detected_as_16550a)
{
	uint8_t status1, status2, iersave;

	/* Initialise the EFR (there is none) through LCR 0xBF, then probe the FIFO. */
	out(LCR, 0xbf);
	out(FCR, 0);
	out(LCR, 0);
	out(FCR, 0x01);
	cr_assert_eq(in(IIR) >> 6, 3, "FIFO bits say 16550A");

	/* EFR with DLAB: offset 2 reads IIR, never 0, so no ST16C650. */
	out(LCR, 0x80);
	cr_assert_neq(in(IIR), 0);
	out(LCR, 0xbf);
	cr_assert_neq(in(IIR), 0);

	/* National SuperIO: EXCR1 at LCR 0xE0 must not follow MCR.LOOP. */
	out(LCR, 0);
	status1 = in(MCR);
	out(LCR, 0xe0);
	status2 = in(2);
	if (!((status2 ^ status1) & MCR_LOOP)) {
		out(LCR, 0);
		out(MCR, status1 ^ MCR_LOOP);
		out(LCR, 0xe0);
		status2 = in(2);
		out(LCR, 0);
		out(MCR, status1);
		cr_assert_eq((status2 ^ status1) & MCR_LOOP, 0, "not a NatSemi");
	}

	/* 16750: the 64-byte FIFO bit must not show in IIR. */
	out(LCR, 0x80);
	out(FCR, 0x01 | 0x20);
	status1 = in(IIR) & 0xe0;
	out(FCR, 0x01);
	out(LCR, 0);
	out(FCR, 0x01 | 0x20);
	status2 = in(IIR) & 0xe0;
	out(FCR, 0x01);
	cr_assert_eq(status1, 0xc0);
	cr_assert_eq(status2, 0xc0, "not a 16750");

	iersave = in(IER);
	out(IER, iersave | 0x40);
	cr_assert_eq(in(IER) & 0x40, 0);
	out(IER, iersave);

	/* FIFO disabled: IIR bits 7:6 clear again. */
	out(FCR, 0);
	cr_assert_eq(in(IIR) & 0xc0, 0);
}

/* Linux's size_fifo(): a U6_16550A would count exactly 64. */
Test(uart, size_fifo_not_64)
{
	unsigned count;

	out(FCR, 0x07);
	out(FCR, 0x01);
	out(MCR, MCR_LOOP);
	out(LCR, 0x80);
	out(DLL, 1);
	out(DLM, 0);
	out(LCR, 0x03);
	for (unsigned i = 0; i < 256; i++)
		out(THR, (uint8_t)i);
	for (count = 0; (in(LSR) & LSR_DR) && count < 256; count++)
		cr_assert_eq(in(RBR), (uint8_t)count, "loopback keeps order");
	cr_assert_eq(count, 256);
	out(MCR, 0);
	char buf[8];
	cr_assert_eq(drain_output(buf, sizeof(buf)), 0, "loopback bytes never reach out_fd");
}

Test(uart, scratch_register)
{
	out(SCR, 0x5a);
	cr_assert_eq(in(SCR), 0x5a);
	out(SCR, 0xa5);
	cr_assert_eq(in(SCR), 0xa5);
}

Test(uart, dlab_divisor)
{
	out(IER, 0x05);
	out(LCR, 0x83);
	out(DLL, 0x01);
	out(DLM, 0x02);
	cr_assert_eq(in(DLL), 0x01);
	cr_assert_eq(in(DLM), 0x02);
	/* A 16-bit write reaches both divisor latches. */
	uart_ops.write(u, DLL, 2, 0x3412);
	cr_assert_eq(uart_ops.read(u, DLL, 2), 0x3412);
	cr_assert_eq(in(LCR), 0x83);
	out(LCR, 0x03);
	cr_assert_eq(in(IER), 0x05, "divisor writes did not touch IER");

	char buf[8];
	cr_assert_eq(drain_output(buf, sizeof(buf)), 0, "DLL writes are not output");
	out(THR, 'x');
	cr_assert_eq(drain_output(buf, sizeof(buf)), 1);
	cr_assert_eq(buf[0], 'x');
}

/* serial8250_do_startup(): the THRE re-assertion test, then the TXEN test. */
Test(uart, thre_interrupt_as_linux_tests_it)
{
	uint8_t iir1, iir;

	out(FCR, 0x01);
	cr_assert(in(LSR) & LSR_THRE);
	out(IER, IER_THRI);
	iir1 = in(IIR);
	out(IER, 0);
	out(IER, IER_THRI);
	iir = in(IIR);
	out(IER, 0);
	cr_assert_eq(iir1, 0xc2, "THRI pending once ETBEI is set");
	cr_assert_eq(iir, 0xc2, "THRI re-asserted when ETBEI goes 0->1 again");
	cr_assert_eq(rec.raises, 0, "no interrupt without OUT2");

	out(LCR, 0x03);
	out(MCR, MCR_DTR | MCR_RTS | MCR_OUT2);
	out(IER, IER_THRI);
	uint8_t lsr = in(LSR);
	iir = in(IIR);
	out(IER, 0);
	cr_assert((lsr & LSR_TEMT) && !(iir & 0x01), "no UART_BUG_TXEN");
	cr_assert_eq(rec.raises, 1);
	cr_assert_eq(rec.level, 0);
}

Test(uart, thre_cleared_by_iir_read_and_rearmed_by_thr_write)
{
	out(MCR, MCR_OUT2);
	out(IER, IER_THRI);
	cr_assert_eq(rec.level, 1);
	cr_assert_eq(in(IIR) & 0x0f, 0x02);
	cr_assert_eq(rec.level, 0, "reading IIR acknowledged THRI");
	cr_assert_eq(in(IIR) & 0x0f, 0x01);
	/* Rewriting IER with ETBEI still set does not re-raise it. */
	out(IER, IER_THRI);
	cr_assert_eq(in(IIR) & 0x0f, 0x01);
	cr_assert_eq(rec.level, 0);

	/* Writing THR empties at once: THR-empty is pending again. */
	out(THR, 'a');
	cr_assert_eq(rec.level, 1);
	cr_assert_eq(rec.raises, 2);
	/* A burst of writes keeps the line up without extra edges. */
	for (int i = 0; i < 16; i++)
		out(THR, 'b');
	cr_assert_eq(rec.raises, 2);
	cr_assert_eq(rec.level, 1);
	/* The driver's stop_tx: clearing ETBEI drops the line. */
	out(IER, 0);
	cr_assert_eq(rec.level, 0);
	cr_assert_eq(in(IIR) & 0x0f, 0x01);
}

Test(uart, out2_gates_the_line)
{
	out(IER, IER_THRI);
	cr_assert_eq(in(IIR) & 0x0f, 0x02, "pending in IIR even without OUT2");
	cr_assert_eq(rec.calls, 0);
	out(THR, 'z');
	out(MCR, MCR_OUT2);
	cr_assert_eq(rec.level, 1, "OUT2 lets the pending interrupt through");
	out(MCR, 0);
	cr_assert_eq(rec.level, 0);
}

Test(uart, rx_interrupt_on_input)
{
	out(MCR, MCR_OUT2);
	out(IER, IER_RDI);
	cr_assert_eq(rec.level, 0);
	cr_assert_eq(in(LSR) & LSR_DR, 0);
	cr_assert_eq(uart_input(u, (const uint8_t *)"ok", 2), 2);
	cr_assert_eq(rec.level, 1);
	cr_assert_eq(in(IIR) & 0x0f, 0x04);
	cr_assert(in(LSR) & LSR_DR);
	cr_assert_eq(in(RBR), 'o');
	cr_assert_eq(rec.level, 1, "still data");
	cr_assert_eq(in(RBR), 'k');
	cr_assert_eq(in(LSR) & LSR_DR, 0);
	cr_assert_eq(rec.level, 0);
	cr_assert_eq(in(IIR) & 0x0f, 0x01);
}

Test(uart, rx_without_ier_sets_dr_only)
{
	out(MCR, MCR_OUT2);
	cr_assert_eq(uart_input(u, (const uint8_t *)"x", 1), 1);
	cr_assert(in(LSR) & LSR_DR);
	cr_assert_eq(rec.calls, 0);
	out(IER, IER_RDI);
	cr_assert_eq(rec.level, 1, "enabling RDI with data waiting raises it");
}

Test(uart, rx_buffer_is_4096)
{
	uint8_t buf[5000];

	memset(buf, 'q', sizeof(buf));
	cr_assert_eq(uart_input(u, buf, sizeof(buf)), 4096);
	cr_assert_eq(uart_input(u, buf, 1), 0);
	in(RBR);
	cr_assert_eq(uart_input(u, buf, 10), 1);
	/* Turning the FIFO on resets it, as on the chip. */
	out(FCR, 0x01);
	cr_assert_eq(in(LSR) & LSR_DR, 0);
	cr_assert_eq(uart_input(u, buf, 10), 10);
	out(FCR, 0x01);
	cr_assert(in(LSR) & LSR_DR, "rewriting FCR alone keeps the data");
	out(FCR, 0x03);
	cr_assert_eq(in(LSR) & LSR_DR, 0, "FCR bit 1 clears the receive FIFO");
}

Test(uart, no_external_input_in_loopback)
{
	out(MCR, MCR_LOOP);
	cr_assert_eq(uart_input(u, (const uint8_t *)"x", 1), 0);
	out(MCR, 0);
	cr_assert_eq(uart_input(u, (const uint8_t *)"x", 1), 1);
}

Test(uart, loopback_echo)
{
	char buf[8];

	out(MCR, MCR_LOOP | MCR_OUT2);
	out(IER, IER_RDI);
	out(THR, 'L');
	cr_assert_eq(in(IIR) & 0x0f, 0x04);
	cr_assert_eq(rec.level, 1);
	cr_assert_eq(in(RBR), 'L');
	cr_assert_eq(rec.level, 0);
	cr_assert_eq(drain_output(buf, sizeof(buf)), 0);
}

Test(uart, interrupt_priority)
{
	out(MCR, MCR_LOOP | MCR_OUT2);
	for (unsigned i = 0; i < 4097; i++)
		out(THR, (uint8_t)i); /* the 4097th overruns */
	out(IER, 0x0f);
	cr_assert_eq(in(IIR) & 0x0f, 0x06, "RLS first");
	cr_assert_eq(in(LSR) & (LSR_OE | LSR_DR), LSR_OE | LSR_DR);
	cr_assert_eq(in(LSR) & LSR_OE, 0, "reading LSR clears OE");
	cr_assert_eq(in(IIR) & 0x0f, 0x04, "then RDA");
	while (in(LSR) & LSR_DR)
		in(RBR);
	cr_assert_eq(in(IIR) & 0x0f, 0x02, "then THRE");
	cr_assert_eq(in(IIR) & 0x0f, 0x00, "then modem status (loopback changed the lines)");
	/* Loopback with only OUT2 up: CTS and DSR dropped, DCD stayed. */
	cr_assert_eq(in(MSR), 0x80 | 0x03, "DCD up; DCTS, DDSR");
	cr_assert_eq(in(MSR) & 0x0f, 0, "reading MSR clears the deltas");
	cr_assert_eq(in(IIR) & 0x0f, 0x01);
	cr_assert_eq(rec.level, 0);
}

Test(uart, output_exact_bytes)
{
	const char msg[] = "Linux version 6.1\r\n\0\xff";
	char buf[64];

	out(LCR, 0x03);
	for (size_t i = 0; i < sizeof(msg) - 1; i++)
		out(THR, (uint8_t)msg[i]);
	cr_assert_eq(drain_output(buf, sizeof(buf)), sizeof(msg) - 1);
	cr_assert_arr_eq(buf, msg, sizeof(msg) - 1);
	cr_assert_eq(in(LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
}

Test(uart, closed_output_is_not_fatal)
{
	struct sigaction ign = { .sa_handler = SIG_IGN };

	/* The VMM ignores SIGPIPE; then a vanished reader is just EPIPE. */
	sigaction(SIGPIPE, &ign, NULL);
	close(out_pipe[0]);
	out_pipe[0] = open("/dev/null", O_RDONLY);
	for (int i = 0; i < 100; i++)
		out(THR, 'x');
	cr_assert_eq(in(LSR) & LSR_THRE, LSR_THRE);
}

Test(uart, no_output_fd)
{
	struct uart *quiet = uart_new("ttyS1", NULL, -1);

	cr_assert_not_null(quiet);
	uart_ops.write(quiet, THR, 1, 'x');
	cr_assert_eq(uart_ops.read(quiet, LSR, 1) & LSR_THRE, LSR_THRE);
	uart_free(quiet);
}

Test(uart, wide_read_of_byte_registers)
{
	out(SCR, 0x11);
	out(LCR, 0x03);
	out(MCR, 0x03);
	/* LCR, MCR in one 16-bit read; past the window reads 0xff. */
	cr_assert_eq(uart_ops.read(u, LCR, 2), 0x0303);
	cr_assert_eq(uart_ops.read(u, SCR, 4), 0xffffff11);
	cr_assert_eq(uart_ops.read(u, 8, 1), 0xff);
	cr_assert_eq(uart_ops.read(u, UINT64_MAX, 2), 0xffff);
}

Test(uart, garbage_everywhere)
{
	static const uint64_t vals[] = { 0, 0xff, 0x80, 0x1f, 0xdeadbeefcafef00dULL, ~0ULL };
	static const unsigned sizes[] = { 1, 2, 4, 8 };
	char buf[4096];

	out(MCR, MCR_OUT2);
	for (unsigned v = 0; v < sizeof(vals) / sizeof(vals[0]); v++)
		for (unsigned s = 0; s < 4; s++)
			for (uint64_t off = 0; off < 12; off++) {
				uart_ops.write(u, off, sizes[s], vals[v]);
				uart_ops.read(u, off, sizes[s]);
				uart_input(u, (const uint8_t *)"g", 1);
			}
	uart_ops.write(u, UINT64_MAX, 8, ~0ULL);
	drain_output(buf, sizeof(buf));

	/* Still a working UART once the driver sets it up again. */
	out(LCR, 0x03);
	out(MCR, MCR_OUT2);
	out(FCR, 0x07);
	out(IER, 0);
	in(LSR);
	in(MSR);
	cr_assert_eq(in(IIR), 0xc1);
	cr_assert_eq(rec.level, 0);
	out(THR, '!');
	cr_assert_eq(drain_output(buf, sizeof(buf)), 1);
	cr_assert_eq(buf[0], '!');
}

struct feeder {
	struct uart *u;
	unsigned total;
};

static void *feed(void *arg)
{
	struct feeder *f = arg;

	for (unsigned sent = 0; sent < f->total;) {
		uint8_t byte = (uint8_t)sent;

		sent += (unsigned)uart_input(f->u, &byte, 1);
	}
	return NULL;
}

/* The console thread and a vCPU at once: nothing lost, nothing reordered. */
Test(uart, concurrent_input_and_reads)
{
	struct feeder f = { .u = u, .total = 100000 };
	pthread_t t;
	unsigned got = 0;

	out(MCR, MCR_OUT2);
	out(IER, IER_RDI);
	cr_assert_eq(pthread_create(&t, NULL, feed, &f), 0);
	while (got < f.total) {
		if (!(in(LSR) & LSR_DR))
			continue;
		cr_assert_eq(in(RBR), (uint8_t)got);
		got++;
	}
	pthread_join(t, NULL);
	cr_assert_eq(in(LSR) & LSR_DR, 0);
	cr_assert_eq(rec.level, 0);
}

/* ---- the transmitter against a host stream that does not keep up ---- */

/* Fills a pipe (or socket) whose reader reads nothing, leaving its flags as they were. */
static size_t fill_stream(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	char junk[4096];
	size_t total = 0;
	ssize_t n;

	memset(junk, '#', sizeof(junk));
	cr_assert_eq(fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
	while ((n = write(fd, junk, sizeof(junk))) > 0)
		total += (size_t)n;
	cr_assert(n < 0 && errno == EAGAIN);
	/* A socket takes less than a page at the end; fill it byte by byte. */
	while ((n = write(fd, junk, 1)) > 0)
		total += (size_t)n;
	cr_assert_eq(fcntl(fd, F_SETFL, flags), 0);
	return total;
}

/* Reads and checks the '#' filler, then up to cap bytes of what came after it. */
static size_t read_after_filler(int fd, size_t filler, uint8_t *buf, size_t cap)
{
	uint8_t chunk[4096];
	size_t got = 0;
	ssize_t n;

	while (filler) {
		n = read(fd, chunk, filler < sizeof(chunk) ? filler : sizeof(chunk));
		cr_assert_gt(n, 0);
		for (ssize_t i = 0; i < n; i++)
			cr_assert_eq(chunk[i], '#');
		filler -= (size_t)n;
	}
	while (got < cap && (n = read(fd, buf + got, cap - got)) > 0)
		got += (size_t)n;
	return got;
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i % 251);
}

/* A guest that writes THR without looking at LSR, on a thread of its own: it must come back. */
struct blind_writer {
	struct uart *u;
	size_t len;
	_Atomic bool done;
};

static void *write_blind(void *arg)
{
	struct blind_writer *w = arg;

	for (size_t i = 0; i < w->len; i++)
		uart_ops.write(w->u, THR, 1, pattern(i));
	atomic_store(&w->done, true);
	return NULL;
}

/* Runs the writer for up to 10 s; a writer stuck in the UART fails the test (and is left behind). */
static void write_blind_promptly(struct uart *dev, size_t len)
{
	struct blind_writer w = { .u = dev, .len = len };
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, write_blind, &w), 0);
	for (int ms = 0; ms < 10000 && !atomic_load(&w.done); ms++)
		usleep(1000);
	cr_assert(atomic_load(&w.done), "a guest writing %zu bytes to THR is stuck in the UART",
		  len);
	pthread_join(t, NULL);
}

/*
 * `vmm run | less`: stdout is a blocking pipe that nobody reads. The
 * guest's writes come back, LSR says the transmitter is full, and once
 * the reader reads and the VMM's loop drains, THRE and its interrupt are
 * back, with every byte the buffer had room for, in order.
 */
Test(uart, full_blocking_pipe_never_blocks_the_guest)
{
	struct irq_line irq = { .set_level = irq_rec_set, .opaque = &rec, .gsi = 4 };
	int bp[2];
	uint8_t got[8192];
	size_t filler, n;
	struct uart *dev;

	cr_assert_eq(pipe2(bp, O_CLOEXEC), 0);
	/* Only the reader's end is non-blocking: the test reads without waiting. */
	cr_assert_eq(fcntl(bp[0], F_SETFL, O_NONBLOCK), 0);
	filler = fill_stream(bp[1]);
	dev = uart_new("ttyS1", &irq, bp[1]);
	cr_assert_not_null(dev);
	cr_assert_eq(fcntl(bp[1], F_GETFL) & O_NONBLOCK, 0, "out_fd's own flags are untouched");
	uart_ops.write(dev, MCR, 1, MCR_OUT2);
	uart_ops.write(dev, IER, 1, IER_THRI);
	cr_assert_eq(rec.level, 1);

	write_blind_promptly(dev, 100 * 1024);
	cr_assert_eq(uart_ops.read(dev, LSR, 1) & (LSR_THRE | LSR_TEMT), 0,
		     "a full transmitter shows THRE and TEMT clear");
	cr_assert_eq(uart_ops.read(dev, IIR, 1) & 0x0f, 0x01, "no THRE interrupt while full");
	cr_assert_eq(rec.level, 0);

	/* The reader catches up; the loop's drain writes the rest and raises THRI. */
	n = read_after_filler(bp[0], filler, got, sizeof(got));
	cr_assert_eq(n, 0, "nothing got past the filler before the drain");
	uart_tx_drain(dev);
	cr_assert_eq(uart_ops.read(dev, LSR, 1) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
	cr_assert_eq(rec.level, 1, "THRE interrupt once the transmitter drained");
	cr_assert_eq(rec.raises, 2);
	cr_assert_eq(uart_ops.read(dev, IIR, 1) & 0x0f, 0x02);

	n = read_after_filler(bp[0], 0, got, sizeof(got));
	cr_assert_eq(n, 4096, "the buffer's 4 KiB, then the bytes that found it full dropped");
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(got[i], pattern(i), "byte %zu out of order", i);
	uart_free(dev);
	close(bp[0]);
	close(bp[1]);
}

/* The same with a socket (a log collector's stream socket): send without waiting. */
Test(uart, full_socket_never_blocks_the_guest)
{
	int sv[2];
	struct uart *dev;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fill_stream(sv[1]);
	dev = uart_new("ttyS1", NULL, sv[1]);
	cr_assert_not_null(dev);
	write_blind_promptly(dev, 100 * 1024);
	cr_assert_eq(uart_ops.read(dev, LSR, 1) & LSR_THRE, 0);
	uart_free(dev);
	close(sv[0]);
	close(sv[1]);
}

/* Reads what a pty's master has, until it has been quiet for 200 ms. */
static size_t read_until_quiet(int fd, uint8_t *buf, size_t cap)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;
	ssize_t n;

	while (got < cap && poll(&p, 1, 200) == 1 && (n = read(fd, buf + got, cap - got)) > 0)
		got += (size_t)n;
	return got;
}

/*
 * A stalled SSH session: stdout is a terminal (a pty's blocking slave)
 * whose master nobody reads. The guest's writes come back, the slave's
 * own flags stay as they were (the user's shell shares them), and what
 * went out or waited in the buffer arrives, in order, once the master
 * reads again.
 */
Test(uart, full_terminal_never_blocks_the_guest)
{
	static uint8_t got[1 << 20];
	struct termios t;
	size_t n, i;
	int master, slave;
	struct uart *dev;

	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	cr_assert_geq(master, 0);
	cr_assert_eq(grantpt(master), 0);
	cr_assert_eq(unlockpt(master), 0);
	slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
	cr_assert_geq(slave, 0);
	cr_assert_eq(tcgetattr(slave, &t), 0);
	cfmakeraw(&t);
	cr_assert_eq(tcsetattr(slave, TCSANOW, &t), 0);
	fill_stream(slave);
	dev = uart_new("ttyS1", NULL, slave);
	cr_assert_not_null(dev);
	uart_set_tx_stall_ms(dev, 60000);
	write_blind_promptly(dev, 100 * 1024);
	cr_assert_eq(fcntl(slave, F_GETFL) & O_NONBLOCK, 0, "the terminal's flags are untouched");
	cr_assert_eq(uart_ops.read(dev, LSR, 1) & LSR_THRE, 0);

	/* The master reads again: the filler, then the buffer's bytes in order. */
	n = read_until_quiet(master, got, sizeof(got));
	for (int tries = 0; tries < 50 && !(uart_ops.read(dev, LSR, 1) & LSR_TEMT); tries++) {
		uart_tx_drain(dev);
		n += read_until_quiet(master, got + n, sizeof(got) - n);
	}
	cr_assert(uart_ops.read(dev, LSR, 1) & LSR_TEMT, "the terminal took the whole buffer");
	/* An LSR read drains too: the last of it may have gone out just now. */
	n += read_until_quiet(master, got + n, sizeof(got) - n);
	for (i = 0; i < n && got[i] == '#'; i++)
		;
	/* A pty makes room as it moves bytes to the master: more may have gone out. */
	cr_assert_geq(n - i, 4096, "at least the buffer's 4 KiB after the filler: %zu", n - i);
	for (size_t k = 0; k < n - i; k++)
		cr_assert_eq(got[i + k], pattern(k), "byte %zu", k);
	uart_free(dev);
	close(slave);
	close(master);
}

/* OVMF's SerialPortWrite: wait for TEMT, then fill the 16-byte FIFO. */
static void ovmf_write(struct uart *dev, const uint8_t *buf, size_t len)
{
	while (len) {
		while (!(uart_ops.read(dev, LSR, 1) & LSR_TEMT))
			;
		for (unsigned i = 0; i < 16 && len; i++, len--)
			uart_ops.write(dev, THR, 1, *buf++);
	}
}

/* Linux's serial8250_console_fifo_write(): wait for THRE (10 ms a byte at most), then 16 bytes. */
static void linux_console_write(struct uart *dev, const uint8_t *buf, size_t len)
{
	while (len) {
		for (int us = 0; us < 16 * 10000 && !(uart_ops.read(dev, LSR, 1) & LSR_THRE); us++)
			usleep(1);
		for (unsigned i = 0; i < 16 && len; i++, len--)
			uart_ops.write(dev, THR, 1, *buf++);
	}
}

struct slow_reader {
	int fd;
	size_t len;
	uint8_t *got;
	size_t n;
};

/* A slow terminal: 512 bytes at a time, a millisecond apart. */
static void *read_slowly(void *arg)
{
	struct slow_reader *r = arg;
	struct pollfd p = { .fd = r->fd, .events = POLLIN };

	while (r->n < r->len) {
		ssize_t n;

		/* Two seconds without a byte: the rest is not coming. */
		if (poll(&p, 1, 2000) == 0)
			break;
		n = read(r->fd, r->got + r->n, r->len - r->n < 512 ? r->len - r->n : 512);
		if (n == 0)
			break;
		if (n > 0)
			r->n += (size_t)n;
		usleep(1000);
	}
	return NULL;
}

static void slow_reader_gets_everything(void (*guest_write)(struct uart *, const uint8_t *, size_t))
{
	enum { LEN = 256 * 1024 };
	static uint8_t sent[LEN], got[LEN];
	struct slow_reader r = { .fd = out_pipe[0], .len = LEN, .got = got };
	pthread_t t;

	for (size_t i = 0; i < LEN; i++)
		sent[i] = pattern(i * 7);
	cr_assert_eq(fcntl(out_pipe[1], F_SETPIPE_SZ, 4096), 4096);
	cr_assert_eq(pthread_create(&t, NULL, read_slowly, &r), 0);
	guest_write(u, sent, LEN);
	uart_tx_finish(u, 10000);
	pthread_join(t, NULL);
	cr_assert_eq(r.n, LEN, "the slow reader got %zu of %d bytes", r.n, LEN);
	cr_assert_arr_eq(got, sent, LEN);
}

/* A reader slower than the guest: back-pressure, nothing lost, nothing reordered. */
Test(uart, slow_reader_loses_nothing_ovmf)
{
	slow_reader_gets_everything(ovmf_write);
}

Test(uart, slow_reader_loses_nothing_linux_console)
{
	slow_reader_gets_everything(linux_console_write);
}

/*
 * Linux's tty path: 16 bytes per THRE interrupt, nobody polling LSR. The
 * VMM's loop drains when the reader has read, and the interrupt that
 * follows lets the guest go on.
 */
Test(uart, interrupt_driven_writer_resumes_after_drain)
{
	uint8_t got[64 * 1024];
	size_t written = 0, filler, n;

	filler = fill_stream(out_pipe[1]);
	out(MCR, MCR_OUT2);
	out(IER, IER_THRI);
	while (rec.level && written < 100000) {
		for (unsigned i = 0; i < 16; i++)
			out(THR, pattern(written++));
	}
	cr_assert_eq(rec.level, 0, "the line drops once the transmitter is full");
	cr_assert_eq(written, 4096, "THRE promised room for every burst of 16, none more");
	cr_assert_eq(in(IIR) & 0x0f, 0x01);
	uart_tx_drain(u);
	cr_assert_eq(rec.level, 0, "nothing read yet: still full");

	n = read_after_filler(out_pipe[0], filler, got, sizeof(got));
	cr_assert_eq(n, 0);
	uart_tx_drain(u);
	cr_assert_eq(rec.level, 1, "THRE interrupt after the drain");
	cr_assert_eq(in(IIR) & 0x0f, 0x02);
	n = read_after_filler(out_pipe[0], 0, got, sizeof(got));
	cr_assert_eq(n, written);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(got[i], pattern(i));
}

/* The VMM's loop sleeps on the eventfd while nothing waits, and is woken when output starts to. */
Test(uart, tx_poll_wakes_the_loop_when_output_waits)
{
	struct pollfd p, q;

	cr_assert_eq(uart_tx_poll(u, &p), -1);
	cr_assert_eq(p.events, POLLIN);
	cr_assert_eq(poll(&p, 1, 0), 0, "nothing to do while nothing waits");
	out(THR, 'a');
	cr_assert_eq(poll(&p, 1, 0), 0, "a byte the stream took at once wakes nobody");

	fill_stream(out_pipe[1]);
	out(THR, 'b');
	cr_assert_eq(poll(&p, 1, 0), 1, "the loop is woken: output waits");
	int ms = uart_tx_poll(u, &q);

	cr_assert_eq(q.fd, out_pipe[1]);
	cr_assert_eq(q.events, POLLOUT);
	cr_assert(ms > 0 && ms <= 2000, "the stall deadline, 2 s at most: %d", ms);
	uart_tx_drain(u);
	cr_assert_eq(poll(&p, 1, 0), 0, "the drain consumed the wake-up");
}

/*
 * Nobody reads for longer than the stall time: the guest is let go
 * (THRE, TEMT and the interrupt back, bytes that do not fit dropped),
 * and when the reader returns it gets the buffered bytes in order, and
 * back-pressure resumes.
 */
Test(uart, stalled_reader_is_given_up_then_resumed)
{
	uint8_t got[16384];
	size_t filler, n, i;
	struct pollfd p;

	/* A long stall time while the buffer fills, however slow this machine is... */
	uart_set_tx_stall_ms(u, 60000);
	filler = fill_stream(out_pipe[1]);
	out(MCR, MCR_OUT2);
	out(IER, IER_THRI);
	for (i = 0; i < 100000 && (in(LSR) & LSR_THRE); i++)
		out(THR, pattern(i));
	cr_assert_eq(i, 4096 - 15, "THRE stays while 16 bytes fit, and only then");
	cr_assert_eq(rec.level, 0);
	cr_assert_eq(in(LSR) & LSR_TEMT, 0);

	/* ... then a short one, long since run out. */
	uart_set_tx_stall_ms(u, 50);
	usleep(60 * 1000);
	cr_assert_eq(uart_tx_poll(u, &p), 0, "the stall time is up");
	uart_tx_drain(u);
	cr_assert_eq(rec.level, 1, "THRE interrupt: the guest is let go");
	cr_assert_eq(in(LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
	cr_assert_eq(uart_tx_poll(u, &p), -1, "no deadline once given up");
	cr_assert_eq(p.events, POLLOUT, "but the stream is still watched");
	for (unsigned k = 0; k < 1000; k++)
		out(THR, '!'); /* the first few fill the buffer, the rest are dropped */
	cr_assert(in(LSR) & LSR_THRE);

	/* The reader is back. */
	n = read_after_filler(out_pipe[0], filler, got, sizeof(got));
	cr_assert_eq(n, 0);
	uart_tx_drain(u);
	n = read_after_filler(out_pipe[0], 0, got, sizeof(got));
	cr_assert_eq(n, 4096, "the buffer's 4 KiB: %zu", n);
	for (size_t k = 0; k < i; k++)
		cr_assert_eq(got[k], pattern(k), "byte %zu", k);
	for (size_t k = i; k < n; k++)
		cr_assert_eq(got[k], '!', "byte %zu", k);
	/* Back-pressure again: a full stream holds THRE back. */
	uart_set_tx_stall_ms(u, 60000);
	filler = fill_stream(out_pipe[1]);
	for (i = 0; i < 8192 && (in(LSR) & LSR_THRE); i++)
		out(THR, 'x');
	cr_assert_lt(i, 8192, "THRE clears again once full");
}

/* At the end of a run, a stalled reader does not hold the exit up... */
Test(uart, finish_gives_up_on_a_stalled_reader)
{
	struct timespec a, b;
	size_t filler = fill_stream(out_pipe[1]);
	uint8_t got[8192];

	uart_set_tx_stall_ms(u, 100);
	for (unsigned i = 0; i < 100; i++)
		out(THR, pattern(i));
	cr_assert_eq(in(LSR) & LSR_TEMT, 0, "100 bytes wait");
	clock_gettime(CLOCK_MONOTONIC, &a);
	uart_tx_finish(u, 10000);
	clock_gettime(CLOCK_MONOTONIC, &b);
	cr_assert_lt((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000, 2000,
		     "a stalled reader is given up on after the stall time, not the timeout");
	cr_assert_eq(in(LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
	cr_assert_eq(read_after_filler(out_pipe[0], filler, got, sizeof(got)), 0,
		     "finish dropped what was left");
}

struct late_reader {
	int fd;
	size_t filler;
	uint8_t got[8192];
	size_t n;
};

static void *read_late(void *arg)
{
	struct late_reader *r = arg;
	struct pollfd p = { .fd = r->fd, .events = POLLIN };

	usleep(300 * 1000);
	r->n = read_after_filler(r->fd, r->filler, r->got, sizeof(r->got));
	while (poll(&p, 1, 2000) == 1 && r->n < sizeof(r->got)) {
		ssize_t n = read(r->fd, r->got + r->n, sizeof(r->got) - r->n);

		if (n <= 0)
			break;
		r->n += (size_t)n;
	}
	return NULL;
}

/* ... and a reader that takes its time still gets the machine's last words. */
Test(uart, finish_waits_for_a_slow_reader)
{
	struct late_reader r = { .fd = out_pipe[0] };
	pthread_t t;

	r.filler = fill_stream(out_pipe[1]);
	for (unsigned i = 0; i < 100; i++)
		out(THR, pattern(i));
	cr_assert_eq(pthread_create(&t, NULL, read_late, &r), 0);
	uart_tx_finish(u, 10000);
	pthread_join(t, NULL);
	cr_assert_eq(r.n, 100);
	for (size_t i = 0; i < r.n; i++)
		cr_assert_eq(r.got[i], pattern(i));
}
