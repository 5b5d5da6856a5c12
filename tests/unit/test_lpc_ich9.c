// SPDX-License-Identifier: MIT
/*
 * The ICH9 LPC bridge as OVMF's PlatformPei and Linux program it, all
 * through the PCI core's config path: identity, the registers a guest
 * may write and the ones it may not, and the PM block notification.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "devices/pci_devices.h"
#include "core/pci.h"

#define DEVFN LPC_ICH9_DEVFN

#define PMBASE    0x40
#define ACPI_CNTL 0x44
#define ACPI_EN   0x80
#define GEN_PMCON 0xa0
#define RCBA      0xf0

struct pm_event {
	bool enabled;
	uint16_t base;
};

struct recorder {
	unsigned calls;
	struct pm_event last;
};

static struct pci_bus bus;
static struct lpc_ich9 *lpc;
static struct recorder rec;

static void record_pm(void *opaque, bool enabled, uint16_t base)
{
	struct recorder *r = opaque;

	r->calls++;
	r->last.enabled = enabled;
	r->last.base = base;
}

static void setup(void)
{
	memset(&rec, 0, sizeof(rec));
	pci_bus_init(&bus);
	lpc = lpc_ich9_new(DEVFN, record_pm, &rec);
	cr_assert_not_null(lpc);
	cr_assert_eq(pci_bus_add(&bus, lpc_ich9_pci(lpc)), 0);
}

static void teardown(void)
{
	lpc_ich9_free(lpc);
}

TestSuite(lpc_ich9, .init = setup, .fini = teardown);

static uint32_t rd(unsigned offset, unsigned size)
{
	return pci_cfg_read(&bus, DEVFN, offset, size);
}

static void wr(unsigned offset, unsigned size, uint32_t value)
{
	pci_cfg_write(&bus, DEVFN, offset, size, value);
}

static void snapshot(uint8_t out[PCI_CFG_SIZE])
{
	for (unsigned off = 0; off < PCI_CFG_SIZE; off += 4) {
		uint32_t v = rd(off, 4);

		memcpy(&out[off], &v, sizeof(v));
	}
}

static void assert_pm_event(unsigned calls, bool enabled, uint16_t base)
{
	cr_assert_eq(rec.calls, calls, "pm_changed calls: %u, expected %u", rec.calls, calls);
	cr_assert_eq(rec.last.enabled, enabled);
	cr_assert_eq(rec.last.base, base, "base 0x%x, expected 0x%x", rec.last.base, base);
}

Test(lpc_ich9, identity)
{
	cr_assert_eq(DEVFN, PCI_DEVFN(31, 0));
	cr_assert_eq(rd(PCI_VENDOR_ID, 2), 0x8086);
	cr_assert_eq(rd(PCI_DEVICE_ID, 2), 0x2918);
	cr_assert_eq(rd(PCI_CLASS_REVISION, 4), 0x06010002, "class 060100, revision 2");
	cr_assert_eq(rd(PCI_HEADER_TYPE, 1), 0x80, "type 0, multifunction");
	cr_assert_eq(rd(PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	cr_assert_eq(rd(PCI_SUBSYSTEM_ID, 2), 0x1100);
	cr_assert_eq(rd(PCI_COMMAND, 2), PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	cr_assert_eq(rd(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, 0, "no capability list");
	cr_assert_eq(rd(PCI_STATUS, 2) & PCI_STATUS_DEVSEL_MASK, PCI_STATUS_DEVSEL_MEDIUM);
	/* the other functions of slot 31 are not this device */
	cr_assert_eq(pci_cfg_read(&bus, PCI_DEVFN(31, 3), 0, 4), 0xffffffff);
}

Test(lpc_ich9, power_on_values)
{
	bool enabled = true;
	uint16_t base = 0xffff;

	cr_assert_eq(rd(PMBASE, 4), 0x00000001);
	cr_assert_eq(rd(ACPI_CNTL, 1), 0);
	for (unsigned i = 0; i < 4; i++) {
		cr_assert_eq(rd(0x60 + i, 1), 0x80, "PIRQ%c_ROUT", 'A' + i);
		cr_assert_eq(rd(0x68 + i, 1), 0x80, "PIRQ%c_ROUT", 'E' + i);
		cr_assert_eq(rd(0x64 + i, 1), 0, "reserved between the PIRQ banks");
	}
	cr_assert_eq(rd(GEN_PMCON, 4), 0);
	cr_assert_eq(rd(GEN_PMCON + 4, 1), 0);
	cr_assert_eq(rd(RCBA, 4), 0);
	lpc_ich9_pm_state(lpc, &enabled, &base);
	cr_assert_not(enabled);
	cr_assert_eq(base, 0);
	cr_assert_eq(rec.calls, 0, "nothing to report at power-on");
}

Test(lpc_ich9, pmbase_mask)
{
	wr(PMBASE, 4, 0xffffffff);
	cr_assert_eq(rd(PMBASE, 4), 0x0000ff81, "bits 15:7 writable, bit 0 reads 1");
	wr(PMBASE, 4, 0);
	cr_assert_eq(rd(PMBASE, 4), 0x00000001, "bit 0 stays 1");
	wr(PMBASE, 2, 0x0601);
	cr_assert_eq(rd(PMBASE, 4), 0x00000601);
	wr(PMBASE + 2, 2, 0xffff);
	cr_assert_eq(rd(PMBASE, 4), 0x00000601, "bits 31:16 are read-only");
}

Test(lpc_ich9, acpi_cntl_mask)
{
	wr(ACPI_CNTL, 1, 0xff);
	cr_assert_eq(rd(ACPI_CNTL, 1), 0x87, "ACPI_EN and SCI_IRQ_SEL");
	wr(ACPI_CNTL, 1, 0);
	cr_assert_eq(rd(ACPI_CNTL, 1), 0);
	/* a dword write reaches only ACPI_CNTL, not the reserved bytes after it */
	wr(ACPI_CNTL, 4, 0xffffffff);
	cr_assert_eq(rd(ACPI_CNTL, 4), 0x00000087);
}

Test(lpc_ich9, pirq_routing)
{
	/* OVMF's PciAcpiInitialization on Q35 */
	static const uint8_t ovmf[8] = { 0x0a, 0x0a, 0x0b, 0x0b, 0x0a, 0x0a, 0x0b, 0x0b };

	for (unsigned i = 0; i < 4; i++) {
		wr(0x60 + i, 1, ovmf[i]);
		wr(0x68 + i, 1, ovmf[4 + i]);
	}
	cr_assert_eq(rd(0x60, 4), 0x0b0b0a0a);
	cr_assert_eq(rd(0x68, 4), 0x0b0b0a0a);
	wr(0x60, 4, 0xffffffff);
	cr_assert_eq(rd(0x60, 4), 0x8f8f8f8f, "IRQEN and the IRQ; bits 6:4 reserved");
	cr_assert_eq(rd(0x68, 4), 0x0b0b0a0a, "PIRQ[E-H] untouched");
	wr(0x68, 4, 0xffffffff);
	cr_assert_eq(rd(0x68, 4), 0x8f8f8f8f);
	wr(0x64, 4, 0xffffffff);
	cr_assert_eq(rd(0x64, 4), 0, "0x64..0x67 are not PIRQ registers");
	wr(0x61, 1, 0x05);
	cr_assert_eq(rd(0x60, 4), 0x8f8f058f, "one byte at a time");
}

Test(lpc_ich9, gen_pmcon_mask)
{
	wr(GEN_PMCON, 4, 0xffffffff);
	wr(GEN_PMCON + 4, 1, 0xff);
	cr_assert_eq(rd(GEN_PMCON, 2), 0xffff, "GEN_PMCON_1");
	cr_assert_eq(rd(GEN_PMCON + 2, 1), 0xff, "GEN_PMCON_2");
	cr_assert_eq(rd(GEN_PMCON + 3, 1), 0, "0xa3 is reserved");
	cr_assert_eq(rd(GEN_PMCON + 4, 1), 0xff, "GEN_PMCON_3");
	cr_assert_eq(rd(GEN_PMCON + 5, 1), 0);
	wr(GEN_PMCON, 4, 0);
	wr(GEN_PMCON + 4, 1, 0);
	cr_assert_eq(rd(GEN_PMCON, 4), 0);
	cr_assert_eq(rd(GEN_PMCON + 4, 1), 0);
}

Test(lpc_ich9, command_mask)
{
	/* what OVMF does before setting ACPI_EN: PciOr8 (PCI_COMMAND, IO) */
	wr(PCI_COMMAND, 1, rd(PCI_COMMAND, 1) | PCI_COMMAND_IO);
	cr_assert_eq(rd(PCI_COMMAND, 2), 0x0007);
	wr(PCI_COMMAND, 2, 0xffff);
	cr_assert_eq(rd(PCI_COMMAND, 2), 0x0007 | PCI_COMMAND_PARITY | PCI_COMMAND_SERR);
	wr(PCI_COMMAND, 2, 0);
	cr_assert_eq(rd(PCI_COMMAND, 2), 0x0007, "decode and bus mastering cannot be disabled");
}

static bool lpc_writable_byte(unsigned off)
{
	return off == PCI_COMMAND || off == PCI_COMMAND + 1 || off == PMBASE ||
	       off == PMBASE + 1 || off == ACPI_CNTL || (off >= 0x60 && off <= 0x63) ||
	       (off >= 0x68 && off <= 0x6b) || (off >= GEN_PMCON && off <= GEN_PMCON + 2) ||
	       off == GEN_PMCON + 4;
}

Test(lpc_ich9, everything_else_read_only)
{
	uint8_t before[PCI_CFG_SIZE], after[PCI_CFG_SIZE];
	unsigned skipped = 0;

	snapshot(before);
	for (unsigned off = 0; off < PCI_CFG_SIZE; off++) {
		if (lpc_writable_byte(off)) {
			skipped++;
			continue;
		}
		wr(off, 1, 0xff);
		wr(off, 1, 0x00);
	}
	/* OVMF's RCBA write: base and enable bit, and nothing sticks */
	wr(RCBA, 4, 0xfed1c001);
	snapshot(after);
	cr_assert_eq(skipped, 17, "command 2, PMBASE 2, ACPI_CNTL 1, PIRQ 8, GEN_PMCON 4");
	for (unsigned off = 0; off < PCI_CFG_SIZE; off++)
		cr_assert_eq(after[off], before[off], "byte 0x%x changed: 0x%02x -> 0x%02x", off,
			     before[off], after[off]);
	cr_assert_eq(rec.calls, 0);
}

Test(lpc_ich9, pm_notification_ovmf_sequence)
{
	bool enabled;
	uint16_t base;

	/* PlatformPei: PciAndThenOr32 (PMBASE, ~0xff80, 0x600) while ACPI_EN is clear */
	wr(PMBASE, 4, (rd(PMBASE, 4) & ~0xff80u) | 0x600);
	cr_assert_eq(rec.calls, 0, "moving a block that does not decode changes nothing");
	lpc_ich9_pm_state(lpc, &enabled, &base);
	cr_assert_not(enabled);
	cr_assert_eq(base, 0x600);
	/* PciOr8 (ACPI_CNTL, ACPI_EN) */
	wr(ACPI_CNTL, 1, rd(ACPI_CNTL, 1) | ACPI_EN);
	assert_pm_event(1, true, 0x600);
	lpc_ich9_pm_state(lpc, &enabled, &base);
	cr_assert(enabled);
	cr_assert_eq(base, 0x600);
}

Test(lpc_ich9, pm_notification_only_on_change)
{
	wr(PMBASE, 4, 0x601);
	wr(ACPI_CNTL, 1, ACPI_EN);
	assert_pm_event(1, true, 0x600);
	/* rewriting the same values, or bits outside the decoded state */
	wr(PMBASE, 4, 0x601);
	wr(ACPI_CNTL, 1, ACPI_EN);
	wr(ACPI_CNTL, 1, ACPI_EN | 0x02);
	wr(PMBASE, 1, 0x7f);
	wr(0x60, 1, 0x0b);
	wr(GEN_PMCON, 2, 0xffff);
	cr_assert_eq(rec.calls, 1, "no change, no call");
	cr_assert_eq(rd(PMBASE, 4), 0x601, "bits 6:1 are not address bits");
	/* moving it while it decodes */
	wr(PMBASE, 4, 0xb001);
	assert_pm_event(2, true, 0xb000);
	wr(PMBASE + 1, 1, 0x06);
	assert_pm_event(3, true, 0x0600);
	wr(PMBASE, 1, 0x80);
	assert_pm_event(4, true, 0x0680);
	/* turning it off reports where it was */
	wr(ACPI_CNTL, 1, 0x02);
	assert_pm_event(5, false, 0x0680);
	/* and while off, moves are not news */
	wr(PMBASE, 4, 0x1001);
	cr_assert_eq(rec.calls, 5);
	wr(ACPI_CNTL, 4, ACPI_EN);
	assert_pm_event(6, true, 0x1000);
}

Test(lpc_ich9, sci_irq_select)
{
	static const int expect[8] = { 9, 10, 11, -EINVAL, 20, 21, 22, 23 };

	cr_assert_eq(lpc_ich9_sci_irq(lpc), 9, "power-on SCI is IRQ 9");
	for (unsigned sel = 0; sel < 8; sel++) {
		wr(ACPI_CNTL, 1, sel);
		cr_assert_eq(lpc_ich9_sci_irq(lpc), expect[sel], "SCI_IRQ_SEL %u", sel);
		wr(ACPI_CNTL, 1, ACPI_EN | sel);
		cr_assert_eq(lpc_ich9_sci_irq(lpc), expect[sel], "SCI_IRQ_SEL %u with ACPI_EN", sel);
	}
}

Test(lpc_ich9, reset_restores_power_on_values)
{
	struct lpc_ich9 *fresh = lpc_ich9_new(DEVFN, NULL, NULL);
	const struct pci_device *f = lpc_ich9_pci(fresh);
	uint8_t after[PCI_CFG_SIZE];

	cr_assert_not_null(fresh);
	wr(PMBASE, 4, 0xb001);
	wr(ACPI_CNTL, 1, ACPI_EN | 5);
	wr(0x60, 4, 0x0b0b0a0a);
	wr(0x68, 4, 0x0b0b0a0a);
	wr(GEN_PMCON, 4, 0x00ffffff);
	wr(PCI_COMMAND, 2, PCI_COMMAND_SERR);
	assert_pm_event(1, true, 0xb000);
	lpc_ich9_reset(lpc);
	assert_pm_event(2, false, 0);
	snapshot(after);
	for (unsigned off = 0; off < PCI_CFG_SIZE; off++)
		cr_assert_eq(after[off], f->cfg[off], "byte 0x%x: 0x%02x, power-on 0x%02x", off,
			     after[off], f->cfg[off]);
	cr_assert_eq(lpc_ich9_sci_irq(lpc), 9);
	/* still writable as before */
	wr(0x60, 1, 0x0a);
	cr_assert_eq(rd(0x60, 1), 0x0a);
	/* a reset that changes nothing decoded is not news */
	lpc_ich9_reset(lpc);
	cr_assert_eq(rec.calls, 2);
	lpc_ich9_free(fresh);
}

Test(lpc_ich9, no_callback_and_free_null)
{
	struct pci_bus b;
	struct lpc_ich9 *quiet = lpc_ich9_new(DEVFN, NULL, NULL);
	bool enabled = false;
	uint16_t base = 0;

	cr_assert_not_null(quiet);
	pci_bus_init(&b);
	cr_assert_eq(pci_bus_add(&b, lpc_ich9_pci(quiet)), 0);
	pci_cfg_write(&b, DEVFN, PMBASE, 4, 0x0601);
	pci_cfg_write(&b, DEVFN, ACPI_CNTL, 1, ACPI_EN);
	lpc_ich9_pm_state(quiet, &enabled, &base);
	cr_assert(enabled);
	cr_assert_eq(base, 0x600);
	lpc_ich9_reset(quiet);
	lpc_ich9_pm_state(quiet, &enabled, &base);
	cr_assert_not(enabled);
	lpc_ich9_free(quiet);
	lpc_ich9_free(NULL);
}
