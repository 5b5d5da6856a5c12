// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the legacy devices a guest reaches through port I/O,
 * each at its own window, plus the host's side of them interleaved.
 *
 * Spaces (fuzz_io.h): 0 the UART's 8 ports, 1 the RTC's 2 (0x70/0x71),
 * 2 the i8042's 5 (0x60..0x64), 3 the ACPI PM block (PORT_PM_LEN ports),
 * 4 the ICH9 LPC bridge's 256 bytes of config space (as 0xCF8/0xCFC
 * deliver them), and 5 the host: a write at offset 0 presses the power
 * button, at 1 types the value's low bytes (size of them) into the UART,
 * at 2 resets the LPC bridge as a guest reset does; and the UART's output
 * stream, a 4 KiB pipe (blocking, as stdout is): at 3 its reader reads
 * (value & 0x1fff) bytes, at 4 the VMM's loop drains (uart_tx_drain()),
 * at 5 the guest writes a burst of (value & 0xfff) bytes to THR without
 * looking at LSR (Linux's console after its 10 ms a byte), at 6 the stall
 * time runs out, at 7 the machine stops (uart_tx_finish() with no wait).
 *
 * What the reader reads must be bytes the guest wrote to THR outside
 * loopback, in order: some may be dropped, none invented, repeated or
 * reordered. Once the reader has taken everything and the loop drained,
 * nothing may wait (the pipe holds the whole buffer), nor after a finish;
 * and LSR never shows TEMT without THRE.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/layout.h"
#include "core/pci.h"
#include "devices/devices.h"
#include "devices/pci_devices.h"
#include "fuzz_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every byte the guest sent out of THR this input, for the reader's check. */
#define THR_LOG_MAX (2u << 20)

struct legacy {
	struct uart *uart;
	struct acpi_pm *pm;
	struct lpc_ich9 *lpc;
	struct pci_bus pci;
	int out_rd;          /* the reader's end of the UART's output pipe */
	uint8_t lcr, mcr;    /* the UART's, before the next access */
	uint8_t *thr_log;
	size_t thr_len, thr_seen; /* written; matched by the reader so far */
};

enum { UART_THR = 0, UART_LCR = 3, UART_MCR = 4, UART_LSR = 5 };

static void thr_logged(struct legacy *l, uint8_t byte)
{
	if (l->thr_len < THR_LOG_MAX)
		l->thr_log[l->thr_len++] = byte;
}

/* Each byte read must come later in the THR log than the one before it. */
static void reader_reads(struct legacy *l, size_t want)
{
	uint8_t buf[8192];
	ssize_t n = read(l->out_rd, buf, want < sizeof(buf) ? want : sizeof(buf));

	for (ssize_t i = 0; i < n && l->thr_len < THR_LOG_MAX; i++) {
		while (l->thr_seen < l->thr_len && l->thr_log[l->thr_seen] != buf[i])
			l->thr_seen++;
		if (l->thr_seen == l->thr_len)
			abort(); /* a byte the guest never wrote there: invented or reordered */
		l->thr_seen++;
	}
}

/* Nothing waits: uart_tx_poll() says so by handing out the eventfd. */
static void nothing_waits(struct legacy *l)
{
	struct pollfd p;

	if (uart_tx_poll(l->uart, &p) != -1 || p.events != POLLIN)
		abort();
}

static void uart_burst(struct legacy *l, uint64_t value)
{
	unsigned len = value & 0xfff;

	for (unsigned i = 0; i < len; i++) {
		uint8_t byte = (uint8_t)((value >> 16) + i);

		uart_ops.write(l->uart, UART_THR, 1, byte);
		if (!(l->lcr & 0x80) && !(l->mcr & 0x10))
			thr_logged(l, byte);
	}
}

static uint64_t lpc_cfg_read(void *opaque, uint64_t offset, unsigned size)
{
	struct legacy *l = opaque;

	return size > 4 ? ~0ULL : pci_cfg_read(&l->pci, LPC_ICH9_DEVFN, (unsigned)offset, size);
}

static void lpc_cfg_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct legacy *l = opaque;

	if (size <= 4)
		pci_cfg_write(&l->pci, LPC_ICH9_DEVFN, (unsigned)offset, size, (uint32_t)value);
}

static const struct bus_ops lpc_cfg_ops = { "lpc-cfg", lpc_cfg_read, lpc_cfg_write };

static uint64_t host_read(void *opaque, uint64_t offset, unsigned size)
{
	return 0;
}

static void host_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct legacy *l = opaque;
	uint8_t bytes[8];

	switch (offset) {
	case 0:
		acpi_pm_power_button(l->pm);
		break;
	case 1:
		for (unsigned i = 0; i < size; i++)
			bytes[i] = (uint8_t)(value >> (8 * i));
		uart_input(l->uart, bytes, size);
		break;
	case 2:
		lpc_ich9_reset(l->lpc);
		break;
	case 3:
		reader_reads(l, value & 0x1fff);
		break;
	case 4:
		uart_tx_drain(l->uart);
		/* The reader took everything: the whole buffer fits in the pipe. */
		if (value & 1) {
			reader_reads(l, 8192);
			uart_tx_drain(l->uart);
			nothing_waits(l);
		}
		break;
	case 5:
		uart_burst(l, value);
		break;
	case 6:
		uart_set_tx_stall_ms(l->uart, 0);
		uart_tx_drain(l->uart);
		uart_set_tx_stall_ms(l->uart, 60000);
		break;
	case 7:
		uart_tx_finish(l->uart, 0);
		nothing_waits(l);
		break;
	}
}

/* After each access: the THR log, LSR's promise, and LCR/MCR for the next access. */
static void after_access(void *arg, const struct fuzz_access *a)
{
	struct legacy *l = arg;

	if (a->space != 0)
		return;
	if (a->write && a->offset == UART_THR && !(l->lcr & 0x80) && !(l->mcr & 0x10))
		thr_logged(l, (uint8_t)a->value);
	for (unsigned i = 0; !a->write && i < a->size; i++) {
		uint8_t lsr = (uint8_t)(a->value >> (8 * i));

		if (a->offset + i == UART_LSR && (lsr & 0x40) && !(lsr & 0x20))
			abort(); /* TEMT without THRE */
	}
	l->lcr = (uint8_t)uart_ops.read(l->uart, UART_LCR, 1);
	l->mcr = (uint8_t)uart_ops.read(l->uart, UART_MCR, 1);
}

static const struct bus_ops host_ops = { "host", host_read, host_write };

static void pm_changed(void *opaque, bool enabled, uint16_t base)
{
	if (base & 0x7f)
		abort(); /* the header promises PMBASE & 0xff80 */
}

/* The UART's output: a one-page pipe, its write end blocking as stdout is, its reader not. */
static void output_pipe(int out[2])
{
	static int p[2] = { -1, -1 };
	uint8_t buf[8192];

	if (p[0] < 0) {
		if (pipe2(p, O_CLOEXEC) || fcntl(p[1], F_SETPIPE_SZ, 4096) != 4096 ||
		    fcntl(p[0], F_SETFL, O_NONBLOCK))
			abort();
	}
	/* What the last input's UART left behind. */
	while (read(p[0], buf, sizeof(buf)) > 0)
		;
	out[0] = p[0];
	out[1] = p[1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *thr_log;
	struct legacy l = { .lcr = 0x03 };
	struct rtc *rtc;
	struct i8042 *kbd;
	struct fuzz_io io;
	int out[2];

	if (!thr_log && !(thr_log = malloc(THR_LOG_MAX)))
		abort();
	if (!fuzz_io_begin(&io, data, size))
		return 0;
	output_pipe(out);
	l.out_rd = out[0];
	l.thr_log = thr_log;
	pci_bus_init(&l.pci);
	l.uart = uart_new("ttyS0", &fuzz_irq, out[1]);
	rtc = rtc_new(&fuzz_irq);
	kbd = i8042_new(&fuzz_power);
	l.pm = acpi_pm_new(&fuzz_irq, &fuzz_power);
	l.lpc = lpc_ich9_new(LPC_ICH9_DEVFN, pm_changed, &l);
	if (!l.uart || !rtc || !kbd || !l.pm || !l.lpc || pci_bus_add(&l.pci, lpc_ich9_pci(l.lpc)))
		abort();
	rtc_set_ram_size(rtc, 0x7ff00000ULL, 0x80000000ULL);
	/* Time never runs out on its own here: host offset 6 says when. */
	uart_set_tx_stall_ms(l.uart, 60000);

	const struct fuzz_space spaces[] = {
		{ .name = "uart", .ops = &uart_ops, .opaque = l.uart, .len = 8 },
		{ .name = "rtc", .ops = &rtc_ops, .opaque = rtc, .len = 2 },
		{ .name = "i8042", .ops = &i8042_ops, .opaque = kbd, .len = 5 },
		{ .name = "acpi-pm", .ops = &acpi_pm_ops, .opaque = l.pm, .len = PORT_PM_LEN },
		{ .name = "lpc-cfg", .ops = &lpc_cfg_ops, .opaque = &l, .len = 256 },
		{ .name = "host", .ops = &host_ops, .opaque = &l, .len = 8 },
	};
	fuzz_io_run(&io, spaces, sizeof(spaces) / sizeof(spaces[0]), after_access, &l);

	lpc_ich9_free(l.lpc);
	acpi_pm_free(l.pm);
	i8042_free(kbd);
	rtc_free(rtc);
	uart_free(l.uart);
	fuzz_io_end(&io);
	return 0;
}
