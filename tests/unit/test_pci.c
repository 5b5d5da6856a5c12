// SPDX-License-Identifier: MIT
/*
 * The PCI core as the guest reaches it: mechanism #1 through the
 * 0xCF8..0xCFF window (offsets relative to 0xCF8), the 0xCF9 reset
 * register, and config space of the Q35 host bridge.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/devices.h"
#include "devices/pci_devices.h"
#include "core/pci.h"

static struct pci_bus pci;
static struct q35_host host;
static struct pci_device *const mch = &host.mch;
static unsigned resets, poweroffs;

static void record_power(void *opaque, enum power_event ev)
{
	(void)opaque;
	if (ev == POWER_RESET)
		resets++;
	else
		poweroffs++;
}

static const struct power_ctl power = { .request = record_power };

static void setup(void)
{
	resets = poweroffs = 0;
	pci_bus_init(&pci);
	q35_host_init(&host, &pci, &power);
	cr_assert_eq(pci_bus_add(&pci, mch), 0);
}

TestSuite(pci, .init = setup);

/* Port accesses, as the PIO bus would hand them over. */
static void out(unsigned port, unsigned size, uint32_t v)
{
	pci_conf_ops.write(&pci, port - 0xcf8, size, v);
}

static uint32_t in(unsigned port, unsigned size)
{
	return (uint32_t)pci_conf_ops.read(&pci, port - 0xcf8, size);
}

static uint32_t conf1(unsigned bus, unsigned devfn, unsigned reg)
{
	return 0x80000000u | bus << 16 | devfn << 8 | (reg & 0xfc);
}

/* What Linux's pci_conf1_read does. */
static uint32_t cfg_in(unsigned devfn, unsigned reg, unsigned size)
{
	out(0xcf8, 4, conf1(0, devfn, reg));
	return in(0xcfc + (reg & 3), size);
}

static void cfg_out(unsigned devfn, unsigned reg, unsigned size, uint32_t v)
{
	out(0xcf8, 4, conf1(0, devfn, reg));
	out(0xcfc + (reg & 3), size, v);
}

Test(pci, linux_type1_detection)
{
	uint32_t saved;

	/* arch/x86/pci/direct.c: pci_check_type1 */
	out(0xcfb, 1, 0x01);
	saved = in(0xcf8, 4);
	out(0xcf8, 4, 0x80000000);
	cr_assert_eq(in(0xcf8, 4), 0x80000000);
	/* pci_sanity_check: a host bridge class on bus 0 */
	cr_assert_eq(cfg_in(0, PCI_CLASS_DEVICE, 2), 0x0600);
	cr_assert_eq(cfg_in(0, PCI_VENDOR_ID, 2), 0x8086);
	cr_assert_eq(cfg_in(0, PCI_DEVICE_ID, 2), 0x29c0);
	cr_assert_eq(cfg_in(0, PCI_VENDOR_ID, 4), 0x29c08086);
	cr_assert_eq(cfg_in(0, PCI_CLASS_REVISION, 4) >> 8, 0x060000);
	cr_assert_eq(cfg_in(0, PCI_HEADER_TYPE, 1), PCI_HEADER_TYPE_NORMAL);
	out(0xcf8, 4, saved);
	cr_assert_eq(in(0xcf8, 4), saved);
}

Test(pci, host_bridge_header)
{
	uint16_t svid = (uint16_t)cfg_in(0, PCI_SUBSYSTEM_VENDOR_ID, 2);
	uint16_t sid = (uint16_t)cfg_in(0, PCI_SUBSYSTEM_ID, 2);

	cr_assert(svid != 0 && svid != 0xffff);
	cr_assert(sid != 0 && sid != 0xffff);
	cr_assert_eq(cfg_in(0, PCI_COMMAND, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	/* No capability list yet, so the status bit must not claim one. */
	cr_assert_eq(cfg_in(0, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);
}

Test(pci, config_address_readback)
{
	out(0xcf8, 4, 0xffffffff);
	/* reserved bits 30:28 and 1:0 read 0 */
	cr_assert_eq(in(0xcf8, 4), 0x8ffffffc);
	out(0xcf8, 4, 0);
	cr_assert_eq(in(0xcf8, 4), 0);
}

Test(pci, absent_device_reads_all_ones)
{
	cr_assert_eq(cfg_in(PCI_DEVFN(1, 0), 0, 4), 0xffffffff);
	cr_assert_eq(cfg_in(PCI_DEVFN(31, 7), 0, 2), 0xffff);
	cr_assert_eq(cfg_in(PCI_DEVFN(0, 1), 0, 1), 0xff);
	cr_assert_eq(pci_cfg_read(&pci, PCI_DEVFN(2, 0), 0, 4), 0xffffffff);
	/* bus 1 does not exist (yet) even where bus 0 has 00.0 */
	out(0xcf8, 4, conf1(1, 0, 0));
	cr_assert_eq(in(0xcfc, 4), 0xffffffff);
	/* writes to nothing are dropped without touching 00.0 */
	out(0xcfc, 4, 0);
	cr_assert_eq(cfg_in(0, 0, 4), 0x29c08086);
}

Test(pci, enable_bit_clear_reads_all_ones)
{
	out(0xcf8, 4, conf1(0, 0, 0) & ~0x80000000u);
	cr_assert_eq(in(0xcfc, 4), 0xffffffff);
	cr_assert_eq(in(0xcfe, 2), 0xffff);
	cr_assert_eq(in(0xcfd, 1), 0xff);
	/* and writes with it clear change nothing */
	out(0xcf8, 4, conf1(0, 0, PCI_COMMAND) & ~0x80000000u);
	out(0xcfc, 2, PCI_COMMAND_SERR);
	cr_assert_eq(cfg_in(0, PCI_COMMAND, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

Test(pci, data_port_bytes_and_words)
{
	/* dword at 0x08: revision 0, class 06 00 00 */
	out(0xcf8, 4, conf1(0, 0, 0));
	cr_assert_eq(in(0xcfc, 1), 0x86);
	cr_assert_eq(in(0xcfd, 1), 0x80);
	cr_assert_eq(in(0xcfe, 1), 0xc0);
	cr_assert_eq(in(0xcff, 1), 0x29);
	cr_assert_eq(in(0xcfc, 2), 0x8086);
	cr_assert_eq(in(0xcfe, 2), 0x29c0);
	/* the low address bits are ignored: register 0x0b is in dword 0x08 */
	out(0xcf8, 4, conf1(0, 0, 0x08) | 3);
	cr_assert_eq(in(0xcff, 1), 0x06);
	cr_assert_eq(in(0xcfe, 1), 0x00);
	/* a misaligned word reads all ones */
	out(0xcf8, 4, conf1(0, 0, 0));
	cr_assert_eq(in(0xcfd, 2), 0xffff);
}

Test(pci, read_only_fields_survive_all_ones)
{
	for (unsigned reg = 0; reg < 0x40; reg += 4)
		cfg_out(0, reg, 4, 0xffffffff);
	for (unsigned reg = 0; reg < 0x40; reg++)
		cfg_out(0, reg, 1, 0xff);
	for (unsigned reg = 0; reg < 0x40; reg += 2)
		cfg_out(0, reg, 2, 0xffff);
	cr_assert_eq(cfg_in(0, PCI_VENDOR_ID, 4), 0x29c08086);
	cr_assert_eq(cfg_in(0, PCI_CLASS_REVISION, 4), 0x06000000);
	cr_assert_eq(cfg_in(0, PCI_HEADER_TYPE, 1), 0);
	cr_assert_eq(cfg_in(0, PCI_STATUS, 2), 0);
	cr_assert_eq(cfg_in(0, PCI_BASE_ADDRESS_0, 4), 0);
	cr_assert_eq(cfg_in(0, PCI_SUBSYSTEM_VENDOR_ID, 4),
		     (uint32_t)PCI_VMM_SUBSYS_ID << 16 | PCI_VMM_SUBSYS_VENDOR);
	cr_assert_eq(cfg_in(0, PCI_CAPABILITY_LIST, 1), 0);
}

Test(pci, command_register_writable_bits)
{
	const uint16_t fixed = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;

	cfg_out(0, PCI_COMMAND, 2, 0xffff);
	cr_assert_eq(cfg_in(0, PCI_COMMAND, 2), fixed | PCI_COMMAND_PARITY | PCI_COMMAND_SERR);
	cfg_out(0, PCI_COMMAND, 2, 0);
	cr_assert_eq(cfg_in(0, PCI_COMMAND, 2), fixed);
	cfg_out(0, PCI_COMMAND, 1, PCI_COMMAND_PARITY);
	cr_assert_eq(cfg_in(0, PCI_COMMAND, 2), fixed | PCI_COMMAND_PARITY);
	/* byte 0x05 carries SERR# enable (bit 8) */
	cfg_out(0, PCI_COMMAND + 1, 1, PCI_COMMAND_SERR >> 8);
	cr_assert_eq(cfg_in(0, PCI_COMMAND, 2), fixed | PCI_COMMAND_PARITY | PCI_COMMAND_SERR);
	/* a dword write at 0x04 reaches command but not status */
	cfg_out(0, PCI_COMMAND, 4, 0xffff0000);
	cr_assert_eq(cfg_in(0, PCI_COMMAND, 4), fixed);
}

Test(pci, reset_control_register)
{
	out(0xcf9, 1, 0x02);
	cr_assert_eq(resets, 0);
	cr_assert_eq(in(0xcf9, 1), 0x02);
	out(0xcf9, 1, 0x06);
	cr_assert_eq(resets, 1);
	/* RST_CPU does not stay set: the next write with it resets again */
	cr_assert_eq(in(0xcf9, 1), 0x02);
	out(0xcf9, 1, 0x0e);
	cr_assert_eq(resets, 2);
	cr_assert_eq(in(0xcf9, 1), 0x0a);
	cr_assert_eq(poweroffs, 0);
}

Test(pci, reset_only_from_byte_write_at_cf9)
{
	/* the dword at 0xCF8 is the address register, whatever byte 1 says */
	out(0xcf8, 4, 0x80000600);
	out(0xcf8, 2, 0x0600);
	out(0xcfa, 2, 0x0606);
	out(0xcfc, 4, 0x06060606);
	cr_assert_eq(resets, 0);
	cr_assert_eq(in(0xcf8, 4), 0x80000600);
	/* and 0xCF9 is not part of the address */
	out(0xcf9, 1, 0x02);
	cr_assert_eq(in(0xcf8, 4), 0x80000600);
}

Test(pci, narrow_writes_to_cf8_are_not_the_address)
{
	out(0xcf8, 4, 0x80000010);
	out(0xcf8, 1, 0x00);
	out(0xcfb, 1, 0x01);
	out(0xcfa, 1, 0x12);
	out(0xcf8, 2, 0x1234);
	out(0xcfa, 2, 0x8000);
	cr_assert_eq(in(0xcf8, 4), 0x80000010);
	/* nor do narrow reads there alias the address register */
	cr_assert_eq(in(0xcf8, 1), 0xff);
	cr_assert_eq(in(0xcf8, 2), 0xffff);
}

Test(pci, duplicate_devfn_rejected)
{
	struct pci_device *other = calloc(1, sizeof(*other));
	struct pci_device *second = calloc(1, sizeof(*second));

	pci_device_init(other, NULL, NULL, PCI_DEVFN(0, 0));
	cr_assert_eq(pci_bus_add(&pci, other), -EEXIST);
	cr_assert_eq(pci_bus_add(&pci, mch), -EEXIST);
	cr_assert_eq(pci_bus_add(&pci, NULL), -EINVAL);
	/* the bridge is still the one answering */
	cr_assert_eq(cfg_in(0, 0, 4), 0x29c08086);
	pci_device_init(second, NULL, NULL, PCI_DEVFN(31, 7));
	pci_set_ids(second, 0x1234, 0x5678, 0xff0000, 0);
	cr_assert_eq(pci_bus_add(&pci, second), 0);
	cr_assert_eq(cfg_in(PCI_DEVFN(31, 7), 0, 4), 0x56781234);
	free(other);
	free(second);
}

/* A device with hooks: the core hands them the decoded, checked access. */
static unsigned hook_offset, hook_size, hook_writes;
static uint32_t hook_value;

static uint32_t hook_read(struct pci_device *dev, unsigned offset, unsigned size)
{
	hook_offset = offset;
	hook_size = size;
	if (offset >= 0x40 && offset < 0x44)
		return 0xdeadbeef; /* sloppy: the core must cut it to size */
	return pci_default_cfg_read(dev, offset, size);
}

static void hook_write(struct pci_device *dev, unsigned offset, unsigned size, uint32_t v)
{
	hook_offset = offset;
	hook_size = size;
	hook_value = v;
	hook_writes++;
	pci_default_cfg_write(dev, offset, size, v);
}

static const struct pci_device_ops hooked_ops = {
	.name = "hooked",
	.cfg_read = hook_read,
	.cfg_write = hook_write,
};

Test(pci, hooks_override_defaults)
{
	struct pci_device *dev = calloc(1, sizeof(*dev));
	unsigned devfn = PCI_DEVFN(3, 0);

	pci_device_init(dev, &hooked_ops, NULL, (uint8_t)devfn);
	pci_set_ids(dev, 0x1af4, 0x1000, 0x020000, 0);
	pci_header(dev->wmask)->interrupt_line = 0xff;
	cr_assert_eq(pci_bus_add(&pci, dev), 0);

	cr_assert_eq(cfg_in(devfn, 0x42, 2), 0xbeef);
	cr_assert_eq(hook_offset, 0x42);
	cr_assert_eq(hook_size, 2);
	cr_assert_eq(cfg_in(devfn, 0x43, 1), 0xef);
	cr_assert_eq(hook_offset, 0x43);
	cr_assert_eq(hook_size, 1);
	cr_assert_eq(cfg_in(devfn, PCI_VENDOR_ID, 4), 0x10001af4);

	cfg_out(devfn, PCI_INTERRUPT_LINE, 1, 0x1b);
	cr_assert_eq(hook_writes, 1);
	cr_assert_eq(hook_offset, PCI_INTERRUPT_LINE);
	cr_assert_eq(hook_value, 0x1b);
	cr_assert_eq(cfg_in(devfn, PCI_INTERRUPT_LINE, 1), 0x1b);
	/* a misaligned access never reaches the hook */
	cfg_out(devfn, 0x3d, 2, 0xffff);
	cr_assert_eq(hook_writes, 1);
	free(dev);
}

Test(pci, wmask_limits_default_writes)
{
	struct pci_device *dev = calloc(1, sizeof(*dev));

	pci_device_init(dev, NULL, NULL, PCI_DEVFN(4, 0));
	dev->wmask[0x50] = 0x0f;
	dev->cfg[0x50] = 0xa0;
	dev->cfg[0x51] = 0x55;
	cr_assert_eq(pci_bus_add(&pci, dev), 0);
	pci_cfg_write(&pci, PCI_DEVFN(4, 0), 0x50, 2, 0xffff);
	cr_assert_eq(pci_cfg_read(&pci, PCI_DEVFN(4, 0), 0x50, 2), 0x55af);
	pci_cfg_write(&pci, PCI_DEVFN(4, 0), 0x50, 1, 0x00);
	cr_assert_eq(pci_cfg_read(&pci, PCI_DEVFN(4, 0), 0x50, 1), 0xa0);
	free(dev);
}

Test(pci, amd_extended_register_bits_do_not_alias)
{
	mch->cfg[0x100] = 0x5a;
	/* bits 27:24 are register bits 11:8: register 0x100, not 0x00 */
	out(0xcf8, 4, conf1(0, 0, 0) | 1u << 24);
	cr_assert_eq(in(0xcfc, 4), 0x0000005a);
	out(0xcf8, 4, conf1(0, 0, 0xfc) | 0xfu << 24);
	cr_assert_eq(in(0xcff, 1), 0x00);
}

Test(pci, cfg_bounds)
{
	cr_assert_eq(pci_cfg_read(&pci, 0, PCI_CFG_SIZE - 4, 4), 0);
	cr_assert_eq(pci_cfg_read(&pci, 0, PCI_CFG_SIZE - 2, 4), 0xffffffff);
	cr_assert_eq(pci_cfg_read(&pci, 0, PCI_CFG_SIZE, 1), 0xff);
	cr_assert_eq(pci_cfg_read(&pci, 0, 0xffffffffu, 4), 0xffffffff);
	cr_assert_eq(pci_cfg_read(&pci, 0, 1, 2), 0xffff);
	cr_assert_eq(pci_cfg_read(&pci, 0, 2, 4), 0xffffffff);
	cr_assert_eq(pci_cfg_read(&pci, 0, 0, 3), 0xffffff);
	cr_assert_eq(pci_cfg_read(&pci, 0, 0, 0), 0);
	cr_assert_eq(pci_default_cfg_read(mch, PCI_CFG_SIZE - 1, 2), 0xffff);
}

Test(pci, hostile_port_accesses)
{
	static const uint32_t values[] = { 0, 0xffffffff, 0x80000000, 0x8000fffc, 0x06,
					   0x8f00ff00, 0x7fffffff };
	static const unsigned sizes[] = { 0, 1, 2, 3, 4, 8 };

	for (unsigned v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
		for (unsigned off = 0; off <= 8; off++) {
			for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
				out(0xcf8, 4, values[v]);
				pci_conf_ops.write(&pci, off, sizes[s], values[v]);
				(void)pci_conf_ops.read(&pci, off, sizes[s]);
			}
		}
	}
	pci_conf_ops.write(&pci, UINT64_MAX, 4, 0);
	(void)pci_conf_ops.read(&pci, UINT64_MAX - 3, 4);
	/* only 0xCF9 byte writes of 0x06 (and 0xffffffff's low byte) reset */
	cr_assert_gt(resets, 0);
	cr_assert_eq(cfg_in(0, 0, 4), 0x29c08086);
	cr_assert_eq(cfg_in(0, PCI_CLASS_REVISION, 4), 0x06000000);
}

Test(pci, hostile_config_offsets)
{
	for (unsigned off = 0; off < PCI_CFG_SIZE + 64; off++) {
		for (unsigned size = 0; size <= 8; size++) {
			pci_cfg_write(&pci, 0, off, size, 0xffffffff);
			(void)pci_cfg_read(&pci, 0, off, size);
		}
	}
	for (unsigned off = 0xfffffff0u; off != 0; off++) {
		pci_cfg_write(&pci, 0, off, 4, 0xffffffff);
		(void)pci_cfg_read(&pci, 0, off, 4);
	}
	cr_assert_eq(pci_cfg_read(&pci, 0, 0, 4), 0x29c08086);
	cr_assert_eq(pci_cfg_read(&pci, 0, PCI_COMMAND, 2),
		     PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |
			     PCI_COMMAND_SERR);
	/* past the header, only the MCH's own registers took the ones */
	for (unsigned off = 0x40; off < PCI_CFG_SIZE; off += 4) {
		uint32_t want = 0;

		if (off == MCH_PCIEXBAR)
			want = 0xfc000007;
		else if (off == MCH_PCIEXBAR + 4)
			want = 0xf;
		else if (off == MCH_PAM0)
			want = 0xffffffff; /* PAM0..3 */
		else if (off == MCH_PAM0 + 4)
			want = 0x00ffffff; /* PAM4..6 */
		else if (off == 0x9c)
			want = 0x00ffff00; /* SMRAM, ESMRAMC */
		cr_assert_eq(pci_cfg_read(&pci, 0, off, 4), want, "offset 0x%x", off);
	}
}

Test(pci, no_power_ctl_is_safe)
{
	pci_bus_init(&pci);
	q35_host_init(&host, &pci, NULL);
	out(0xcf9, 1, 0x06);
	cr_assert_eq(in(0xcf9, 1), 0x02);
}

Test(pci, cf9_without_a_chipset_is_no_register)
{
	pci_bus_init(&pci);
	out(0xcf9, 1, 0x06);
	cr_assert_eq(in(0xcf9, 1), 0xff, "nothing answers 0xCF9");
	cr_assert_eq(resets, 0);
}

static unsigned ecam_changes;
static void count_ecam_change(void *opaque)
{
	(void)opaque;
	ecam_changes++;
}

/* What OVMF's PlatformPei does on Q35: PCIEXBAR at 0xB0000000, 256 MiB, enabled. */
Test(pci, pciexbar_opens_the_ecam_window)
{
	struct pci_ecam e;

	ecam_changes = 0;
	pci_set_ecam_hook(&pci, count_ecam_change, NULL);
	e = pci_ecam_window(&pci);
	cr_assert_not(e.enabled, "ECAM is off at reset");
	cfg_out(0, MCH_PCIEXBAR + 4, 4, 0);
	cfg_out(0, MCH_PCIEXBAR, 4, 0xb0000000 | MCH_PCIEXBAR_EN);
	e = pci_ecam_window(&pci);
	cr_assert(e.enabled);
	cr_assert_eq(e.base, 0xb0000000);
	cr_assert_eq(e.size, 256 << 20);
	cr_assert_eq(ecam_changes, 1);
	cr_assert_eq(cfg_in(0, MCH_PCIEXBAR, 4), 0xb0000001);
	/* the same value again is no change */
	cfg_out(0, MCH_PCIEXBAR, 4, 0xb0000000 | MCH_PCIEXBAR_EN);
	cr_assert_eq(ecam_changes, 1);
	/* 64 MiB above 4 GiB, through the high dword */
	cfg_out(0, MCH_PCIEXBAR + 4, 4, 0x1);
	cfg_out(0, MCH_PCIEXBAR, 4, 0x0c000000 | 2 << 1 | MCH_PCIEXBAR_EN);
	e = pci_ecam_window(&pci);
	cr_assert_eq(e.base, 0x10c000000ULL);
	cr_assert_eq(e.size, 64 << 20);
	/* bits above 35 and the low reserved bits stay 0 */
	cfg_out(0, MCH_PCIEXBAR + 4, 4, 0xffffffff);
	cr_assert_eq(cfg_in(0, MCH_PCIEXBAR + 4, 4), 0xf);
	/* disabled, and the reserved size: no window */
	cfg_out(0, MCH_PCIEXBAR, 4, 0xb0000000);
	cr_assert_not(pci_ecam_window(&pci).enabled);
	cfg_out(0, MCH_PCIEXBAR, 4, 0xb0000000 | 3 << 1 | MCH_PCIEXBAR_EN);
	cr_assert_not(pci_ecam_window(&pci).enabled);
	cr_assert_geq(ecam_changes, 4);
}

Test(pci, pam_and_smram_registers_keep_what_firmware_writes)
{
	for (unsigned r = MCH_PAM0; r <= MCH_PAM0 + 6; r++) {
		cfg_out(0, r, 1, 0x33);
		cr_assert_eq(cfg_in(0, r, 1), 0x33, "PAM at 0x%x", r);
	}
	cfg_out(0, MCH_SMRAM, 1, 0x0a);
	cr_assert_eq(cfg_in(0, MCH_SMRAM, 1), 0x0a);
	/* a neighbour that is not a register stays 0 */
	cfg_out(0, 0xa0, 4, 0xffffffff);
	cr_assert_eq(cfg_in(0, 0xa0, 4), 0);
}

static uint32_t ecam_rd(uint64_t off, unsigned size)
{
	return (uint32_t)pci_ecam_ops.read(&pci, off, size);
}

Test(pci, ecam_reaches_the_same_config_space_as_cf8)
{
	/* bus 0, 00.0: ids, and the extended space that 0xCF8 cannot reach without AMD's bits */
	cr_assert_eq(ecam_rd(0, 4), 0x29c08086);
	cr_assert_eq(ecam_rd(PCI_CLASS_DEVICE, 2), 0x0600);
	cr_assert_eq(ecam_rd(0x100, 4), 0, "extended space of the MCH: no capabilities");
	/* writes land where 0xCF8/0xCFC reads them */
	pci_ecam_ops.write(&pci, PCI_COMMAND, 2, PCI_COMMAND_SERR);
	cr_assert_eq(cfg_in(0, PCI_COMMAND, 2),
		     PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_SERR);
	/* an absent function, another bus, an 8-byte access: all ones */
	cr_assert_eq(ecam_rd(PCI_DEVFN(3, 0) << 12, 4), 0xffffffff);
	cr_assert_eq(ecam_rd(1 << 20, 4), 0xffffffff);
	cr_assert_eq(pci_ecam_ops.read(&pci, 0, 8), UINT64_MAX);
	/* misaligned: all ones, and a misaligned write changes nothing */
	cr_assert_eq(ecam_rd(1, 2), 0xffff);
	pci_ecam_ops.write(&pci, PCI_COMMAND + 1, 2, 0xffff);
	cr_assert_eq(cfg_in(0, PCI_COMMAND, 2),
		     PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_SERR);
	/* and the PCIEXBAR can be set through ECAM itself */
	pci_ecam_ops.write(&pci, MCH_PCIEXBAR, 4, 0xe0000000 | MCH_PCIEXBAR_EN);
	cr_assert_eq(pci_ecam_window(&pci).base, 0xe0000000);
}

/* ---- BARs ---- */

struct remap {
	unsigned bar;
	bool was_on, on;
	uint64_t old_addr, addr;
};
static struct remap remaps[16];
static unsigned nr_remaps, bars_hooks;

static void record_remap(struct pci_device *dev, unsigned bar, bool was_on, uint64_t old_addr,
			 bool on, uint64_t addr)
{
	(void)dev;
	cr_assert_lt(nr_remaps, 16);
	remaps[nr_remaps++] = (struct remap){ bar, was_on, on, old_addr, addr };
}

static void count_bars_hook(void *opaque)
{
	(void)opaque;
	bars_hooks++;
}

static const struct pci_device_ops bar_dev_ops = { .name = "bars", .bar_remap = record_remap };
static struct pci_device bar_dev;

static void add_bar_dev(void)
{
	nr_remaps = bars_hooks = 0;
	pci_device_init(&bar_dev, &bar_dev_ops, NULL, PCI_DEVFN(5, 0));
	pci_set_ids(&bar_dev, 0x1af4, 0x1042, 0x010000, PCI_HEADER_TYPE_NORMAL);
	pci_header(bar_dev.wmask)->command = PCI_COMMAND_IO | PCI_COMMAND_MEMORY;
	cr_assert_eq(pci_device_add_bar(&bar_dev, 0, PCI_BAR_IO, 32, false), 0);
	cr_assert_eq(pci_device_add_bar(&bar_dev, 1, PCI_BAR_MEM32, 4096, false), 0);
	cr_assert_eq(pci_device_add_bar(&bar_dev, 2, PCI_BAR_MEM64, 0x4000, true), 0);
	cr_assert_eq(pci_bus_add(&pci, &bar_dev), 0);
	pci_set_bars_hook(&pci, count_bars_hook, NULL);
}

Test(pci, bars_size_the_usual_way)
{
	unsigned d = PCI_DEVFN(5, 0);

	add_bar_dev();
	for (unsigned r = PCI_BASE_ADDRESS_0; r <= PCI_BASE_ADDRESS_5; r += 4)
		cfg_out(d, r, 4, 0xffffffff);
	cr_assert_eq(cfg_in(d, PCI_BASE_ADDRESS_0, 4), 0x0000ffe1, "32 ports, I/O space");
	cr_assert_eq(cfg_in(d, PCI_BASE_ADDRESS_1, 4), 0xfffff000, "4 KiB, 32-bit memory");
	cr_assert_eq(cfg_in(d, PCI_BASE_ADDRESS_2, 4), 0xffffc00c, "16 KiB, 64-bit, prefetchable");
	cr_assert_eq(cfg_in(d, PCI_BASE_ADDRESS_3, 4), 0xffffffff, "upper half");
	cr_assert_eq(cfg_in(d, PCI_BASE_ADDRESS_4, 4), 0, "unused");
	cr_assert_eq(cfg_in(d, PCI_BASE_ADDRESS_5, 4), 0, "unused");
	/* decoding is off: nothing to map, whatever the registers hold */
	pci_bus_apply_bars(&pci);
	cr_assert_eq(nr_remaps, 0);
}

Test(pci, bad_bar_declarations_are_refused)
{
	struct pci_device d;

	pci_device_init(&d, &bar_dev_ops, NULL, PCI_DEVFN(6, 0));
	cr_assert_eq(pci_device_add_bar(&d, 0, PCI_BAR_MEM32, 3000, false), -EINVAL);
	cr_assert_eq(pci_device_add_bar(&d, 0, PCI_BAR_IO, 512, false), -EINVAL);
	cr_assert_eq(pci_device_add_bar(&d, 5, PCI_BAR_MEM64, 4096, false), -EINVAL);
	cr_assert_eq(pci_device_add_bar(&d, 6, PCI_BAR_MEM32, 4096, false), -EINVAL);
	cr_assert_eq(pci_device_add_bar(&d, 0, PCI_BAR_MEM64, 4096, false), 0);
	cr_assert_eq(pci_device_add_bar(&d, 1, PCI_BAR_MEM32, 4096, false), -EINVAL,
		     "the upper half of a 64-bit BAR is taken");
	cr_assert_eq(pci_device_add_bar(&d, 0, PCI_BAR_MEM32, 4096, false), -EINVAL, "taken");
}

Test(pci, bars_map_when_decoding_and_move_when_the_guest_moves_them)
{
	unsigned d = PCI_DEVFN(5, 0);

	add_bar_dev();
	cfg_out(d, PCI_BASE_ADDRESS_0, 4, 0xc000);
	cfg_out(d, PCI_BASE_ADDRESS_1, 4, 0xc0001000);
	cfg_out(d, PCI_BASE_ADDRESS_2, 4, 0x00004000);
	cfg_out(d, PCI_BASE_ADDRESS_3, 4, 0x80);
	cr_assert_gt(bars_hooks, 0, "BAR writes ask for an apply");
	/* memory decode on: the two memory BARs map, the I/O BAR does not */
	cfg_out(d, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	pci_bus_apply_bars(&pci);
	cr_assert_eq(nr_remaps, 2);
	cr_assert_eq(remaps[0].bar, 1);
	cr_assert(remaps[0].on && !remaps[0].was_on);
	cr_assert_eq(remaps[0].addr, 0xc0001000);
	cr_assert_eq(remaps[1].bar, 2);
	cr_assert_eq(remaps[1].addr, 0x8000004000ULL);
	/* nothing changed: nothing to do */
	pci_bus_apply_bars(&pci);
	cr_assert_eq(nr_remaps, 2);
	/* the guest moves BAR 1 */
	cfg_out(d, PCI_BASE_ADDRESS_1, 4, 0xd0000000);
	pci_bus_apply_bars(&pci);
	cr_assert_eq(nr_remaps, 3);
	cr_assert_eq(remaps[2].old_addr, 0xc0001000);
	cr_assert_eq(remaps[2].addr, 0xd0000000);
	cr_assert(remaps[2].was_on && remaps[2].on);
	/* I/O decode too, then both off */
	cfg_out(d, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	pci_bus_apply_bars(&pci);
	cr_assert_eq(nr_remaps, 4);
	cr_assert_eq(remaps[3].bar, 0);
	cr_assert_eq(remaps[3].addr, 0xc000);
	cfg_out(d, PCI_COMMAND, 2, 0);
	pci_bus_apply_bars(&pci);
	cr_assert_eq(nr_remaps, 7);
	for (unsigned i = 4; i < 7; i++)
		cr_assert(!remaps[i].on && remaps[i].was_on);
}

Test(pci, a_bar_at_zero_or_being_sized_does_not_decode)
{
	unsigned d = PCI_DEVFN(5, 0);

	add_bar_dev();
	cfg_out(d, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	pci_bus_apply_bars(&pci);
	cr_assert_eq(nr_remaps, 0, "all BARs at 0: unassigned");
	/* a 64-bit BAR with all ones written, decode on */
	cfg_out(d, PCI_BASE_ADDRESS_2, 4, 0xffffffff);
	cfg_out(d, PCI_BASE_ADDRESS_3, 4, 0xffffffff);
	pci_bus_apply_bars(&pci);
	cr_assert_eq(nr_remaps, 0, "0xffffffffffffc000 + 16 KiB wraps");
	/* set by the VMM as firmware would */
	pci_device_set_bar_addr(&bar_dev, 1, 0xc0002000);
	cr_assert_eq(cfg_in(d, PCI_BASE_ADDRESS_1, 4), 0xc0002000);
	pci_device_set_bar_addr(&bar_dev, 0, 0x1234);
	cr_assert_eq(cfg_in(d, PCI_BASE_ADDRESS_0, 4), 0x1221, "aligned down to 32, I/O bit kept");
}

/* The expansion ROM: sized, enabled and placed like a BAR, but only with its own enable bit. */
Test(pci, a_rom_decodes_with_its_enable_bit_and_memory_decode_both_on)
{
	unsigned d = PCI_DEVFN(5, 0);

	add_bar_dev();
	cr_assert_eq(pci_device_add_rom(&bar_dev, 0x8000), 0);
	cfg_out(d, PCI_ROM_ADDRESS, 4, 0xffffffff);
	cr_assert_eq(cfg_in(d, PCI_ROM_ADDRESS, 4), 0xffff8001, "32 KiB, and the enable bit");
	cfg_out(d, PCI_ROM_ADDRESS, 4, 0xfffffffe);
	cr_assert_eq(cfg_in(d, PCI_ROM_ADDRESS, 4), 0xffff8000, "sized with enable off");
	bars_hooks = 0;
	cfg_out(d, PCI_ROM_ADDRESS, 4, 0xd0000000);
	cr_assert_gt(bars_hooks, 0, "a ROM register write asks for an apply");
	cfg_out(d, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	pci_bus_apply_bars(&pci);
	cr_assert_eq(nr_remaps, 0, "memory decode alone leaves the ROM off");
	cfg_out(d, PCI_ROM_ADDRESS, 4, 0xd0000000 | PCI_ROM_ADDRESS_ENABLE);
	pci_bus_apply_bars(&pci);
	cr_assert_eq(nr_remaps, 1);
	cr_assert_eq(remaps[0].bar, PCI_ROM_BAR);
	cr_assert(remaps[0].on && !remaps[0].was_on);
	cr_assert_eq(remaps[0].addr, 0xd0000000);
	cfg_out(d, PCI_ROM_ADDRESS, 4, 0xd0010000 | PCI_ROM_ADDRESS_ENABLE);
	pci_bus_apply_bars(&pci);
	cr_assert_eq(nr_remaps, 2);
	cr_assert(remaps[1].was_on && remaps[1].on, "moved");
	cr_assert_eq(remaps[1].old_addr, 0xd0000000);
	cr_assert_eq(remaps[1].addr, 0xd0010000);
	cfg_out(d, PCI_COMMAND, 2, 0);
	pci_bus_apply_bars(&pci);
	cr_assert_eq(nr_remaps, 3);
	cr_assert(remaps[2].was_on && !remaps[2].on, "memory decode off takes the ROM too");
	cr_assert_eq(remaps[2].bar, PCI_ROM_BAR);
}

Test(pci, bad_rom_declarations_are_refused)
{
	struct pci_device d;

	pci_device_init(&d, &bar_dev_ops, NULL, PCI_DEVFN(6, 0));
	cr_assert_eq(pci_device_add_rom(&d, 1024), -EINVAL, "under 2 KiB");
	cr_assert_eq(pci_device_add_rom(&d, 3000), -EINVAL, "not a power of two");
	cr_assert_eq(pci_device_add_rom(&d, 32u << 20), -EINVAL, "over 16 MiB");
	cr_assert_eq(pci_device_add_rom(&d, 2048), 0);
	cr_assert_eq(pci_device_add_rom(&d, 2048), -EINVAL, "a second ROM");
	pci_device_init(&d, &bar_dev_ops, NULL, PCI_DEVFN(6, 0));
	pci_set_ids(&d, 0x1b36, 0x000c, 0x060400, PCI_HEADER_TYPE_BRIDGE);
	cr_assert_eq(pci_device_add_rom(&d, 2048), -EINVAL, "a bridge's ROM register is at 0x38");
}

/* ---- functions behind a bridge (a root port and what sits below it) ---- */

static struct pci_device bridge, child;

static void add_bridge_and_child(void)
{
	nr_remaps = 0;
	pci_device_init(&bridge, NULL, NULL, PCI_DEVFN(1, 0));
	pci_set_ids(&bridge, 0x1b36, 0x000c, 0x060400, PCI_HEADER_TYPE_BRIDGE);
	bridge.wmask[PCI_PRIMARY_BUS] = bridge.wmask[PCI_SECONDARY_BUS] = 0xff;
	bridge.wmask[PCI_SUBORDINATE_BUS] = 0xff;
	cr_assert_eq(pci_bus_add(&pci, &bridge), 0);
	/* function 1 of the device below: a multifunction slot's second half */
	pci_device_init(&child, &bar_dev_ops, NULL, PCI_DEVFN(0, 1));
	pci_set_ids(&child, 0x1234, 0x11e8, 0x00ff00, PCI_HEADER_TYPE_NORMAL);
	pci_header(child.wmask)->command = PCI_COMMAND_MEMORY;
	cr_assert_eq(pci_device_add_bar(&child, 0, PCI_BAR_MEM32, 4096, false), 0);
	cr_assert_eq(pci_bus_add_behind(&pci, &bridge, &child), 0);
}

Test(pci, functions_behind_a_bridge_answer_on_its_secondary_bus)
{
	const unsigned fn = PCI_DEVFN(0, 1);

	add_bridge_and_child();
	/* not numbered yet: no bus leads there */
	out(0xcf8, 4, conf1(1, fn, 0));
	cr_assert_eq(in(0xcfc, 4), 0xffffffff);
	/* firmware gives the bridge bus 3 */
	cfg_out(PCI_DEVFN(1, 0), PCI_SECONDARY_BUS, 1, 3);
	out(0xcf8, 4, conf1(3, fn, 0));
	cr_assert_eq(in(0xcfc, 4), 0x11e81234, "through 0xCF8");
	cr_assert_eq(ecam_rd(3 << 20 | fn << 12, 4), 0x11e81234, "through ECAM");
	/* not function 0 of that bus, not bus 4, not bus 0's 00.1 */
	cr_assert_eq(ecam_rd(3 << 20 | PCI_DEVFN(0, 0) << 12, 4), 0xffffffff);
	cr_assert_eq(ecam_rd(4 << 20 | fn << 12, 4), 0xffffffff);
	cr_assert_eq(cfg_in(fn, PCI_VENDOR_ID, 4), 0xffffffff);
	/* its BAR decodes and maps like one on bus 0 */
	pci_ecam_ops.write(&pci, 3 << 20 | fn << 12 | PCI_BASE_ADDRESS_0, 4, 0xc0002000);
	pci_cfg_write_bus(&pci, 3, fn, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	pci_bus_apply_bars(&pci);
	cr_assert_eq(nr_remaps, 1);
	cr_assert(remaps[0].on);
	cr_assert_eq(remaps[0].addr, 0xc0002000);
	/* renumbered: it follows its bridge */
	cfg_out(PCI_DEVFN(1, 0), PCI_SECONDARY_BUS, 1, 5);
	cr_assert_eq(pci_cfg_read_bus(&pci, 5, fn, PCI_VENDOR_ID, 2), 0x1234);
	cr_assert_eq(pci_cfg_read_bus(&pci, 3, fn, PCI_VENDOR_ID, 2), 0xffff);
}

Test(pci, bad_placements_behind_a_bridge_are_refused)
{
	static struct pci_device other, stray;

	add_bridge_and_child();
	pci_device_init(&other, NULL, NULL, PCI_DEVFN(1, 0));
	cr_assert_eq(pci_bus_add_behind(&pci, &bridge, &other), -EINVAL,
		     "a link leads to device 0 only");
	other.devfn = PCI_DEVFN(0, 1);
	cr_assert_eq(pci_bus_add_behind(&pci, &bridge, &other), -EEXIST);
	other.devfn = PCI_DEVFN(0, 0);
	cr_assert_eq(pci_bus_add_behind(&pci, mch, &other), -EINVAL, "the MCH is no bridge");
	pci_device_init(&stray, NULL, NULL, PCI_DEVFN(2, 0));
	pci_set_ids(&stray, 0x1b36, 0x000c, 0x060400, PCI_HEADER_TYPE_BRIDGE);
	cr_assert_eq(pci_bus_add_behind(&pci, &stray, &other), -EINVAL,
		     "a bridge that is not on bus 0");
	cr_assert_eq(pci_bus_add_behind(&pci, &bridge, &other), 0);
}

Test(pci, a_function_taken_off_its_bridge_answers_no_more_and_its_place_is_free)
{
	static struct pci_device second;
	const unsigned fn = PCI_DEVFN(0, 1);
	unsigned before;

	add_bridge_and_child();
	pci_device_init(&second, &bar_dev_ops, NULL, PCI_DEVFN(0, 0));
	pci_set_ids(&second, 0x1234, 0x0002, 0x00ff00, PCI_HEADER_TYPE_NORMAL);
	cr_assert_eq(pci_bus_add_behind(&pci, &bridge, &second), 0);
	cfg_out(PCI_DEVFN(1, 0), PCI_SECONDARY_BUS, 1, 3);
	pci_cfg_write_bus(&pci, 3, fn, PCI_BASE_ADDRESS_0, 4, 0xc0002000);
	pci_cfg_write_bus(&pci, 3, fn, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	pci_bus_apply_bars(&pci);
	cr_assert_eq(nr_remaps, 1);

	before = pci.nr_behind;
	cr_assert_eq(pci_bus_remove_behind(&pci, &child), 0);
	cr_assert_null(child.parent);
	cr_assert_eq(pci.nr_behind, before - 1, "its place is given back, not left as a copy");
	cr_assert_eq(pci_cfg_read_bus(&pci, 3, fn, PCI_VENDOR_ID, 2), 0xffff, "gone");
	cr_assert_eq(pci_cfg_read_bus(&pci, 3, PCI_DEVFN(0, 0), PCI_DEVICE_ID, 2), 0x0002,
		     "the function beside it stays");
	/* no BAR walk reaches it any more, even when its decoding would change */
	pci_header(child.cfg)->command = 0;
	pci_bus_apply_bars(&pci);
	cr_assert_eq(nr_remaps, 1);
	cr_assert_eq(pci_bus_remove_behind(&pci, &child), -ENOENT, "not there twice");
	cr_assert_eq(pci_bus_remove_behind(&pci, &bridge), -ENOENT, "bus 0's are not taken off");
	/* the place is free for the next one */
	cr_assert_eq(pci_bus_add_behind(&pci, &bridge, &child), 0);
	cr_assert_eq(pci_cfg_read_bus(&pci, 3, fn, PCI_VENDOR_ID, 2), 0x1234);
}

/* ---- secondary bus reset: the core's reset hook ---- */

static struct pci_device *reset_fns[4];
static unsigned nr_resets;

static void record_reset(struct pci_device *dev)
{
	if (nr_resets < 4)
		reset_fns[nr_resets] = dev;
	nr_resets++;
}

static const struct pci_device_ops resettable_ops = { .name = "resettable", .reset = record_reset };

Test(pci, a_bus_reset_reaches_every_function_behind_that_bridge_and_no_other)
{
	static struct pci_device other_bridge, fn0, fn1, elsewhere, on_bus0;

	add_bridge_and_child(); /* child has no reset hook: it is counted, not called */
	pci_device_init(&fn0, &resettable_ops, NULL, PCI_DEVFN(0, 0));
	pci_device_init(&fn1, &resettable_ops, NULL, PCI_DEVFN(0, 2));
	cr_assert_eq(pci_bus_add_behind(&pci, &bridge, &fn0), 0);
	cr_assert_eq(pci_bus_add_behind(&pci, &bridge, &fn1), 0);
	pci_device_init(&other_bridge, NULL, NULL, PCI_DEVFN(2, 0));
	pci_set_ids(&other_bridge, 0x1b36, 0x000c, 0x060400, PCI_HEADER_TYPE_BRIDGE);
	cr_assert_eq(pci_bus_add(&pci, &other_bridge), 0);
	pci_device_init(&elsewhere, &resettable_ops, NULL, PCI_DEVFN(0, 0));
	cr_assert_eq(pci_bus_add_behind(&pci, &other_bridge, &elsewhere), 0);
	pci_device_init(&on_bus0, &resettable_ops, NULL, PCI_DEVFN(5, 0));
	cr_assert_eq(pci_bus_add(&pci, &on_bus0), 0);

	nr_resets = 0;
	cr_assert_eq(pci_bus_reset_behind(&pci, &bridge), 3, "child, fn0 and fn1 sit behind it");
	cr_assert_eq(nr_resets, 2);
	cr_assert(reset_fns[0] == &fn0 && reset_fns[1] == &fn1,
		  "each once, in the order they were added");

	nr_resets = 0;
	cr_assert_eq(pci_bus_reset_behind(&pci, &other_bridge), 1);
	cr_assert_eq(nr_resets, 1);
	cr_assert(reset_fns[0] == &elsewhere);

	nr_resets = 0;
	cr_assert_eq(pci_bus_reset_behind(&pci, &on_bus0), 0, "not a bridge: nothing behind it");
	cr_assert_eq(nr_resets, 0);
}

/*
 * A reset hook as a device's would be: it takes the config lock (as
 * vfio_pci.c's does) to turn decoding off, then takes its time, as a host
 * FLR does.
 */
static atomic_int hook_state; /* 1: in the hook, 2: out of it */

static void slow_reset(struct pci_device *dev)
{
	atomic_store(&hook_state, 1);
	pci_device_lock(dev);
	dev->cfg[PCI_COMMAND] = 0;
	pci_device_unlock(dev);
	usleep(200 * 1000);
	atomic_store(&hook_state, 2);
}

static const struct pci_device_ops slow_ops = {
	.name = "slow", .reset = slow_reset, .bar_remap = record_remap,
};

static void *bus_reset_thread(void *arg)
{
	(void)arg;
	pci_bus_reset_behind(&pci, &bridge);
	return NULL;
}

Test(pci, a_bus_reset_turns_off_what_the_function_decoded_and_holds_it_until_done)
{
	static struct pci_device fn;
	pthread_t t;

	add_bridge_and_child();
	pci_device_init(&fn, &slow_ops, NULL, PCI_DEVFN(0, 2));
	pci_header(fn.wmask)->command = PCI_COMMAND_MEMORY;
	cr_assert_eq(pci_device_add_bar(&fn, 0, PCI_BAR_MEM32, 4096, false), 0);
	cr_assert_eq(pci_bus_add_behind(&pci, &bridge, &fn), 0);
	cfg_out(PCI_DEVFN(1, 0), PCI_SECONDARY_BUS, 1, 3);
	pci_cfg_write_bus(&pci, 3, fn.devfn, PCI_BASE_ADDRESS_0, 4, 0xc0004000);
	pci_cfg_write_bus(&pci, 3, fn.devfn, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	pci_bus_apply_bars(&pci);
	nr_remaps = 0;
	atomic_store(&hook_state, 0);
	cr_assert_eq(pthread_create(&t, NULL, bus_reset_thread, NULL), 0);
	while (atomic_load(&hook_state) == 0)
		usleep(1000);
	/* The removal waits for the reset that holds the function. */
	cr_assert_eq(pci_bus_remove_behind(&pci, &fn), 0);
	cr_assert_eq(atomic_load(&hook_state), 2, "removed while its reset still ran");
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(nr_remaps, 1, "the BAR the reset turned off stopped decoding");
	cr_assert(remaps[0].was_on && !remaps[0].on);
}
