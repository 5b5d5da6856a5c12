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
 * at 2 resets the LPC bridge as a guest reset does.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/layout.h"
#include "core/pci.h"
#include "devices/devices.h"
#include "devices/pci_devices.h"
#include "fuzz_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct legacy {
	struct uart *uart;
	struct acpi_pm *pm;
	struct lpc_ich9 *lpc;
	struct pci_bus pci;
};

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
	}
}

static const struct bus_ops host_ops = { "host", host_read, host_write };

static void pm_changed(void *opaque, bool enabled, uint16_t base)
{
	if (base & 0x7f)
		abort(); /* the header promises PMBASE & 0xff80 */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int null_fd = -1;
	struct legacy l = { 0 };
	struct rtc *rtc;
	struct i8042 *kbd;
	struct fuzz_io io;

	if (null_fd < 0)
		null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (!fuzz_io_begin(&io, data, size))
		return 0;
	pci_bus_init(&l.pci);
	l.uart = uart_new("ttyS0", &fuzz_irq, null_fd);
	rtc = rtc_new(&fuzz_irq);
	kbd = i8042_new(&fuzz_power);
	l.pm = acpi_pm_new(&fuzz_irq, &fuzz_power);
	l.lpc = lpc_ich9_new(LPC_ICH9_DEVFN, pm_changed, &l);
	if (!l.uart || !rtc || !kbd || !l.pm || !l.lpc || pci_bus_add(&l.pci, lpc_ich9_pci(l.lpc)))
		abort();
	rtc_set_ram_size(rtc, 0x7ff00000ULL, 0x80000000ULL);

	const struct fuzz_space spaces[] = {
		{ .name = "uart", .ops = &uart_ops, .opaque = l.uart, .len = 8 },
		{ .name = "rtc", .ops = &rtc_ops, .opaque = rtc, .len = 2 },
		{ .name = "i8042", .ops = &i8042_ops, .opaque = kbd, .len = 5 },
		{ .name = "acpi-pm", .ops = &acpi_pm_ops, .opaque = l.pm, .len = PORT_PM_LEN },
		{ .name = "lpc-cfg", .ops = &lpc_cfg_ops, .opaque = &l, .len = 256 },
		{ .name = "host", .ops = &host_ops, .opaque = &l, .len = 3 },
	};
	fuzz_io_run(&io, spaces, sizeof(spaces) / sizeof(spaces[0]), NULL, NULL);

	lpc_ich9_free(l.lpc);
	acpi_pm_free(l.pm);
	i8042_free(kbd);
	rtc_free(rtc);
	uart_free(l.uart);
	fuzz_io_end(&io);
	return 0;
}
