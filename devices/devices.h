/* SPDX-License-Identifier: MIT */
#ifndef DEVICES_DEVICES_H
#define DEVICES_DEVICES_H

#include <stdint.h>
#include <stddef.h>

#include "../vmm/bus.h"

/*
 * What a device may ask of the machine. Devices never touch a KVM fd:
 * the VMM fills these in (KVM_IRQ_LINE, a shutdown request), and unit
 * tests fill them with recorders.
 */
struct irq_line {
	void (*set_level)(void *opaque, unsigned gsi, int level);
	void *opaque;
	unsigned gsi;
};

static inline void irq_line_set(const struct irq_line *irq, int level)
{
	if (irq->set_level)
		irq->set_level(irq->opaque, irq->gsi, level);
}

enum power_event {
	POWER_OFF,   /* ACPI S5 */
	POWER_RESET, /* 0xCF9, i8042 pulse, ACPI reset register */
};

struct power_ctl {
	void (*request)(void *opaque, enum power_event ev);
	void *opaque;
};

static inline void power_request(const struct power_ctl *p, enum power_event ev)
{
	if (p->request)
		p->request(p->opaque, ev);
}

/*
 * 16550A UART. Transmitted bytes go to out_fd. Received bytes come from
 * uart_input() (called from the VMM's console thread), and raise the
 * interrupt the guest enabled: the guest never has to poll. The VMM must
 * ignore SIGPIPE: a vanished reader of out_fd is then EPIPE, and the byte
 * is dropped.
 * Register window: 8 ports.
 */
struct uart;
extern const struct bus_ops uart_ops;
struct uart *uart_new(const char *name, const struct irq_line *irq, int out_fd);
/*
 * Queues input; returns how many bytes fitted in the receive FIFO (4096
 * bytes, far more than a real 16550A's 16, so the console thread rarely
 * has to retry). Returns 0 while the guest has the UART in loopback mode:
 * the receive pin is disconnected then, as on the real chip.
 */
size_t uart_input(struct uart *uart, const uint8_t *buf, size_t len);
void uart_free(struct uart *uart);

/*
 * MC146818 CMOS RTC with its 128 bytes of CMOS RAM, on ports 0x70/0x71.
 * Time comes from the host's clock (UTC) at read time.
 */
struct rtc;
extern const struct bus_ops rtc_ops;
struct rtc *rtc_new(const struct irq_line *irq);
/*
 * CMOS byte setter for the VMM (memory-size bytes and the like). Sets the
 * raw byte; the clock registers (0-9, century 0x32) are computed at read
 * time, so setting them here has no visible effect.
 */
void rtc_cmos_set(struct rtc *rtc, uint8_t index, uint8_t value);
/*
 * Fills the memory-size bytes firmware reads: base memory (0x15/0x16),
 * extended memory above 1 MiB in KiB (0x17/0x18, 0x30/0x31), memory
 * above 16 MiB below 4 GiB in 64 KiB units (0x34/0x35) and memory above
 * 4 GiB in 64 KiB units (0x5b..0x5d). Each field is capped at its width.
 */
void rtc_set_ram_size(struct rtc *rtc, uint64_t below_4g, uint64_t above_4g);
void rtc_free(struct rtc *rtc);

/*
 * The i8042 keyboard controller, only as far as the reset line: command
 * 0xFE on port 0x64 pulses reset. Register it at 0x60 with length 5
 * (0x60..0x64); offset 0 is data, offset 4 is command/status.
 */
struct i8042;
extern const struct bus_ops i8042_ops;
struct i8042 *i8042_new(const struct power_ctl *power);
void i8042_free(struct i8042 *kbd);

/*
 * ACPI fixed hardware at PORT_PM_BASE: PM1a event block (status, enable),
 * PM1a control block (SCI_EN, SLP_TYP, SLP_EN), PM timer (3.579545 MHz,
 * 24-bit). Writing SLP_EN with SLP_TYP == ACPI_S5_SLP_TYP requests
 * power-off. Register window: PORT_PM_LEN ports.
 */
#define ACPI_S5_SLP_TYP 5
struct acpi_pm;
extern const struct bus_ops acpi_pm_ops;
struct acpi_pm *acpi_pm_new(const struct irq_line *sci, const struct power_ctl *power);
/*
 * Presses the fixed-hardware power button: sets PWRBTN_STS, so a guest
 * that enabled PWRBTN_EN gets an SCI and shuts down gracefully.
 */
void acpi_pm_power_button(struct acpi_pm *pm);
void acpi_pm_free(struct acpi_pm *pm);

#endif
