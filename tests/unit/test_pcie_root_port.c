// SPDX-License-Identifier: MIT
/*
 * A PCIe root port as Linux's pcieport and OVMF's PciBusDxe see it,
 * through the PCI core's config path: identity, capability lists,
 * writable masks, bus numbers and windows, presence and link state,
 * secondary bus reset.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "devices/pci_devices.h"
#include "core/pci.h"

#define DEVFN PCI_DEVFN(1, 0)
#define PORT  3

static struct pci_bus bus;
static struct pcie_root_port *rp;
static unsigned bus_resets;

static void record_bus_reset(void *opaque)
{
	cr_assert_eq(opaque, &bus_resets, "the opaque given at creation");
	bus_resets++;
}

static void setup(void)
{
	bus_resets = 0;
	pci_bus_init(&bus);
	rp = pcie_root_port_new(DEVFN, PORT, false, record_bus_reset, &bus_resets);
	cr_assert_not_null(rp);
	cr_assert_eq(pci_bus_add(&bus, pcie_root_port_pci(rp)), 0);
}

static void teardown(void)
{
	pcie_root_port_free(rp);
}

TestSuite(pcie_root_port, .init = setup, .fini = teardown);

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

/*
 * Walks the standard list as Linux's __pci_find_next_cap_ttl does, but
 * fails on anything a real walker would trip over: unaligned pointers,
 * pointers into the header, loops.
 */
static unsigned cap_list(uint8_t ids[], unsigned offs[], unsigned max)
{
	unsigned n = 0;
	unsigned pos;

	cr_assert(rd(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, "status says there is a list");
	pos = rd(PCI_CAPABILITY_LIST, 1);
	while (pos) {
		cr_assert_eq(pos % 4, 0, "capability at 0x%x is not dword-aligned", pos);
		cr_assert(pos >= 0x40 && pos <= 0xfc, "capability at 0x%x", pos);
		cr_assert_lt(n, max, "list does not terminate");
		ids[n] = (uint8_t)rd(pos, 1);
		offs[n++] = pos;
		pos = rd(pos + PCI_CAP_LIST_NEXT, 1);
	}
	return n;
}

static unsigned find_cap(uint8_t id)
{
	uint8_t ids[48];
	unsigned offs[48];
	unsigned n = cap_list(ids, offs, 48);

	for (unsigned i = 0; i < n; i++)
		if (ids[i] == id)
			return offs[i];
	cr_assert_fail("no capability 0x%02x", id);
	return 0;
}

static unsigned exp_cap(void)
{
	return find_cap(PCI_CAP_ID_EXP);
}

static uint16_t lnksta(void)
{
	return (uint16_t)rd(exp_cap() + PCI_EXP_LNKSTA, 2);
}

static uint16_t sltsta(void)
{
	return (uint16_t)rd(exp_cap() + PCI_EXP_SLTSTA, 2);
}

Test(pcie_root_port, identity)
{
	cr_assert_eq(rd(PCI_VENDOR_ID, 4), 0x000c1b36);
	cr_assert_eq(rd(PCI_CLASS_REVISION, 4) >> 8, 0x060400, "PCI-to-PCI bridge");
	cr_assert_eq(rd(PCI_HEADER_TYPE, 1), PCI_HEADER_TYPE_BRIDGE);
	cr_assert_eq(rd(PCI_INTERRUPT_PIN, 1), 1, "INTA");
	cr_assert_eq(rd(PCI_BASE_ADDRESS_0, 4), 0, "no BARs");
	cr_assert_eq(rd(PCI_BASE_ADDRESS_1, 4), 0);
	cr_assert_eq(rd(PCI_COMMAND, 2), 0, "decoding off at power-on");
}

Test(pcie_root_port, multifunction_header)
{
	struct pcie_root_port *mf = pcie_root_port_new(PCI_DEVFN(2, 0), 0, true, NULL, NULL);

	cr_assert_not_null(mf);
	cr_assert_eq(pcie_root_port_pci(mf)->cfg[PCI_HEADER_TYPE], 0x81);
	cr_assert_eq(pcie_root_port_pci(mf)->devfn, PCI_DEVFN(2, 0));
	pcie_root_port_free(mf);
	pcie_root_port_free(NULL);
}

Test(pcie_root_port, subsystem_ids)
{
	unsigned ssvid = find_cap(PCI_CAP_ID_SSVID);

	cr_assert_eq(rd(ssvid + PCI_SSVID_VENDOR_ID, 2), 0x1af4);
	cr_assert_eq(rd(ssvid + PCI_SSVID_DEVICE_ID, 2), 0x1100);
}

Test(pcie_root_port, capability_list)
{
	uint8_t ids[48];
	unsigned offs[48];
	unsigned n = cap_list(ids, offs, 48);

	cr_assert_eq(n, 3);
	cr_assert_eq(ids[0], PCI_CAP_ID_PM, "power management first");
	cr_assert_eq(ids[1], PCI_CAP_ID_EXP, "then PCI Express");
	cr_assert_eq(ids[2], PCI_CAP_ID_SSVID);
	/* no two capabilities overlap: PM is 8 bytes, PCIe v2 0x3c */
	cr_assert_geq(offs[1], offs[0] + PCI_PM_SIZEOF);
	cr_assert(offs[2] >= offs[1] + PCI_EXP_SLTSTA2 + 2 || offs[2] + 8 <= offs[1]);
}

Test(pcie_root_port, extended_capability_list)
{
	unsigned pos = 0x100, n = 0;
	uint32_t acs = rd(0x100, 4);

	cr_assert_eq(PCI_EXT_CAP_ID(acs), PCI_EXT_CAP_ID_ACS);
	cr_assert_eq(PCI_EXT_CAP_VER(acs), 1);
	while (pos) {
		uint32_t h = rd(pos, 4);

		cr_assert_neq(h, 0, "an empty header at 0x%x", pos);
		cr_assert_lt(n++, 16, "extended list does not terminate");
		pos = PCI_EXT_CAP_NEXT(h);
		cr_assert(pos == 0 || pos >= 0x100, "next 0x%x", pos);
	}
	cr_assert_eq(n, 1, "ACS only");
}

Test(pcie_root_port, acs)
{
	const uint16_t features = PCI_ACS_SV | PCI_ACS_TB | PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_UF;

	cr_assert_eq(rd(0x100 + PCI_ACS_CAP, 2), features);
	cr_assert_eq(rd(0x100 + PCI_ACS_CTRL, 2), 0, "off at power-on");
	/* what Linux's pci_std_enable_acs asks for */
	wr(0x100 + PCI_ACS_CTRL, 2, PCI_ACS_SV | PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_UF);
	cr_assert_eq(rd(0x100 + PCI_ACS_CTRL, 2),
		     PCI_ACS_SV | PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_UF);
	wr(0x100 + PCI_ACS_CTRL, 2, 0xffff);
	cr_assert_eq(rd(0x100 + PCI_ACS_CTRL, 2), features, "only what the port has");
	wr(0x100 + PCI_ACS_CAP, 2, 0);
	cr_assert_eq(rd(0x100 + PCI_ACS_CAP, 2), features, "capability is read-only");
}

Test(pcie_root_port, pcie_capability_fields)
{
	unsigned exp = exp_cap();
	uint16_t flags = (uint16_t)rd(exp + PCI_EXP_FLAGS, 2);
	uint32_t devcap = rd(exp + PCI_EXP_DEVCAP, 4);
	uint32_t lnkcap = rd(exp + PCI_EXP_LNKCAP, 4);
	uint32_t sltcap = rd(exp + PCI_EXP_SLTCAP, 4);

	cr_assert_eq(flags & PCI_EXP_FLAGS_VERS, 2);
	cr_assert_eq((flags & PCI_EXP_FLAGS_TYPE) >> 4, PCI_EXP_TYPE_ROOT_PORT);
	cr_assert(flags & PCI_EXP_FLAGS_SLOT);
	cr_assert_eq(devcap & PCI_EXP_DEVCAP_PAYLOAD, 0, "128-byte max payload");
	cr_assert(devcap & PCI_EXP_DEVCAP_RBER);
	cr_assert_eq(rd(exp + PCI_EXP_DEVCTL, 2), 0x2810, "spec power-on: RO, NS, MRRS 512");
	cr_assert_eq(lnkcap & PCI_EXP_LNKCAP_SLS, PCI_EXP_LNKCAP_SLS_2_5GB);
	cr_assert_eq((lnkcap & PCI_EXP_LNKCAP_MLW) >> 4, 1, "x1");
	cr_assert(lnkcap & PCI_EXP_LNKCAP_DLLLARC);
	cr_assert_eq(lnkcap >> 24, PORT, "port number");
	cr_assert_eq(lnksta() & PCI_EXP_LNKSTA_CLS, PCI_EXP_LNKSTA_CLS_2_5GB);
	cr_assert_eq(lnksta() & PCI_EXP_LNKSTA_NLW, PCI_EXP_LNKSTA_NLW_X1);
	cr_assert_eq(sltcap >> 19, PORT, "physical slot number");
	cr_assert_eq(sltcap & (PCI_EXP_SLTCAP_ABP | PCI_EXP_SLTCAP_PCP | PCI_EXP_SLTCAP_MRLSP |
			       PCI_EXP_SLTCAP_AIP | PCI_EXP_SLTCAP_PIP | PCI_EXP_SLTCAP_HPS |
			       PCI_EXP_SLTCAP_HPC),
		     0, "no hot-plug");
	cr_assert_eq(rd(exp + PCI_EXP_RTCAP, 2), 0);
	cr_assert_eq(rd(exp + PCI_EXP_RTSTA, 4), 0);
	cr_assert_eq(rd(exp + PCI_EXP_DEVCAP2, 4), 0);
	cr_assert_eq(rd(exp + PCI_EXP_LNKCAP2, 4), PCI_EXP_LNKCAP2_SLS_2_5GB, "speeds: 2.5 GT/s");
	cr_assert_eq(rd(exp + PCI_EXP_SLTCAP2, 4), 0);
}

Test(pcie_root_port, the_link_says_what_is_below)
{
	unsigned exp = exp_cap();
	uint32_t lnkcap;

	pcie_root_port_set_present(rp, true);
	pcie_root_port_set_link(rp, 4, 16); /* 16 GT/s x16, a GPU's */
	lnkcap = rd(exp + PCI_EXP_LNKCAP, 4);
	cr_assert_eq(lnkcap & PCI_EXP_LNKCAP_SLS, PCI_EXP_LNKCAP_SLS_16_0GB);
	cr_assert_eq((lnkcap & PCI_EXP_LNKCAP_MLW) >> 4, 16);
	cr_assert_eq(lnkcap >> 24, PORT, "the port number stays");
	cr_assert_eq(lnksta() & PCI_EXP_LNKSTA_CLS, PCI_EXP_LNKSTA_CLS_16_0GB);
	cr_assert_eq((lnksta() & PCI_EXP_LNKSTA_NLW) >> 4, 16);
	cr_assert(lnksta() & PCI_EXP_LNKSTA_DLLLA, "still up");
	cr_assert_eq(rd(exp + PCI_EXP_LNKCAP2, 4), 0x1e, "2.5, 5, 8 and 16 GT/s");
	/* wiring: a reset keeps it */
	pcie_root_port_reset(rp);
	cr_assert_eq(lnksta() & PCI_EXP_LNKSTA_CLS, PCI_EXP_LNKSTA_CLS_16_0GB);
	/* nonsense is ignored */
	pcie_root_port_set_link(rp, 7, 16);
	pcie_root_port_set_link(rp, 1, 0);
	cr_assert_eq((lnksta() & PCI_EXP_LNKSTA_NLW) >> 4, 16);
}

Test(pcie_root_port, power_management)
{
	unsigned pm = find_cap(PCI_CAP_ID_PM);
	uint16_t pmc = (uint16_t)rd(pm + PCI_PM_PMC, 2);

	cr_assert_eq(pmc & PCI_PM_CAP_VER_MASK, 3);
	cr_assert_eq(pmc & (PCI_PM_CAP_D1 | PCI_PM_CAP_D2 | PCI_PM_CAP_PME_MASK), 0,
		     "no D1, D2 or PME");
	cr_assert_eq(rd(pm + PCI_PM_CTRL, 2), PCI_PM_CTRL_NO_SOFT_RESET, "D0");
	/* D1 and D2 are not supported: the write completes, nothing changes */
	wr(pm + PCI_PM_CTRL, 2, 1);
	cr_assert_eq(rd(pm + PCI_PM_CTRL, 2) & PCI_PM_CTRL_STATE_MASK, 0);
	wr(pm + PCI_PM_CTRL, 2, 2);
	cr_assert_eq(rd(pm + PCI_PM_CTRL, 2) & PCI_PM_CTRL_STATE_MASK, 0);
	/* D3hot is mandatory for every function */
	wr(pm + PCI_PM_CTRL, 2, 3);
	cr_assert_eq(rd(pm + PCI_PM_CTRL, 2), PCI_PM_CTRL_NO_SOFT_RESET | 3);
	wr(pm + PCI_PM_CTRL, 1, 2);
	cr_assert_eq(rd(pm + PCI_PM_CTRL, 2) & PCI_PM_CTRL_STATE_MASK, 3, "D2 from D3hot refused");
	wr(pm + PCI_PM_CTRL, 2, 0);
	cr_assert_eq(rd(pm + PCI_PM_CTRL, 2), PCI_PM_CTRL_NO_SOFT_RESET);
}

Test(pcie_root_port, presence_and_link)
{
	unsigned exp = exp_cap();

	cr_assert_eq(sltsta() & PCI_EXP_SLTSTA_PDS, 0, "empty at creation");
	cr_assert_eq(lnksta() & PCI_EXP_LNKSTA_DLLLA, 0);
	pcie_root_port_set_present(rp, true);
	cr_assert(sltsta() & PCI_EXP_SLTSTA_PDS);
	cr_assert(lnksta() & PCI_EXP_LNKSTA_DLLLA);
	cr_assert_eq(lnksta() & PCI_EXP_LNKSTA_NLW, PCI_EXP_LNKSTA_NLW_X1, "width kept");
	/* the guest takes the link down and up again */
	wr(exp + PCI_EXP_LNKCTL, 2, PCI_EXP_LNKCTL_LD);
	cr_assert_eq(lnksta() & PCI_EXP_LNKSTA_DLLLA, 0, "link disabled");
	cr_assert(sltsta() & PCI_EXP_SLTSTA_PDS, "the card is still there");
	wr(exp + PCI_EXP_LNKCTL, 2, 0);
	cr_assert(lnksta() & PCI_EXP_LNKSTA_DLLLA);
	pcie_root_port_set_present(rp, false);
	cr_assert_eq(sltsta() & PCI_EXP_SLTSTA_PDS, 0);
	cr_assert_eq(lnksta() & PCI_EXP_LNKSTA_DLLLA, 0);
	/* status bits are read-only to the guest */
	pcie_root_port_set_present(rp, true);
	wr(exp + PCI_EXP_LNKSTA, 2, 0);
	wr(exp + PCI_EXP_SLTSTA, 2, 0xffff);
	cr_assert(lnksta() & PCI_EXP_LNKSTA_DLLLA);
	cr_assert_eq(sltsta(), PCI_EXP_SLTSTA_PDS);
}

/* Every register of the header: all ones, then all zeros, read back. */
Test(pcie_root_port, header_masks)
{
	static const struct {
		unsigned off, size;
		uint32_t ones, zeros;
	} regs[] = {
		{ PCI_COMMAND, 2, 0x0547, 0 }, /* IO, MEM, master, parity, SERR, INTx disable */
		{ PCI_STATUS, 2, PCI_STATUS_CAP_LIST, PCI_STATUS_CAP_LIST },
		{ PCI_CACHE_LINE_SIZE, 1, 0xff, 0 },
		{ PCI_LATENCY_TIMER, 1, 0, 0 },
		{ PCI_BASE_ADDRESS_0, 4, 0, 0 },
		{ PCI_BASE_ADDRESS_1, 4, 0, 0 },
		{ PCI_PRIMARY_BUS, 1, 0xff, 0 },
		{ PCI_SECONDARY_BUS, 1, 0xff, 0 },
		{ PCI_SUBORDINATE_BUS, 1, 0xff, 0 },
		{ PCI_SEC_LATENCY_TIMER, 1, 0, 0 }, /* does not apply to PCIe */
		{ PCI_IO_BASE, 1, 0xf0, 0x00 },     /* 16-bit I/O decoding */
		{ PCI_IO_LIMIT, 1, 0xf0, 0x00 },
		{ PCI_SEC_STATUS, 2, 0, 0 },
		{ PCI_MEMORY_BASE, 2, 0xfff0, 0 },
		{ PCI_MEMORY_LIMIT, 2, 0xfff0, 0 },
		{ PCI_PREF_MEMORY_BASE, 2, 0xfff1, 0x0001 }, /* 64-bit */
		{ PCI_PREF_MEMORY_LIMIT, 2, 0xfff1, 0x0001 },
		{ PCI_PREF_BASE_UPPER32, 4, 0xffffffff, 0 },
		{ PCI_PREF_LIMIT_UPPER32, 4, 0xffffffff, 0 },
		{ PCI_IO_BASE_UPPER16, 2, 0, 0 },
		{ PCI_IO_LIMIT_UPPER16, 2, 0, 0 },
		{ PCI_ROM_ADDRESS1, 4, 0, 0 },
		{ PCI_INTERRUPT_LINE, 1, 0xff, 0 },
		{ PCI_INTERRUPT_PIN, 1, 1, 1 },
		{ PCI_BRIDGE_CONTROL, 2, 0x005f, 0 }, /* bits 0-4 and 6 */
	};
	uint8_t cap_ptr = (uint8_t)rd(PCI_CAPABILITY_LIST, 1);

	for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		unsigned off = regs[i].off, size = regs[i].size;

		wr(off, size, 0xffffffff);
		cr_assert_eq(rd(off, size), regs[i].ones, "0x%02x after all ones: 0x%x, want 0x%x",
			     off, rd(off, size), regs[i].ones);
		wr(off, size, 0);
		cr_assert_eq(rd(off, size), regs[i].zeros, "0x%02x after zeros: 0x%x, want 0x%x",
			     off, rd(off, size), regs[i].zeros);
	}
	wr(PCI_CAPABILITY_LIST, 4, 0);
	cr_assert_eq(rd(PCI_CAPABILITY_LIST, 1), cap_ptr);
	cr_assert_eq(rd(PCI_VENDOR_ID, 4), 0x000c1b36, "identity unchanged");
}

/* The writable bits of every byte, found by walking the lists. */
static uint8_t expected_wmask(unsigned off, unsigned pm, unsigned exp)
{
	static const struct { unsigned off; uint8_t mask; } hdr[] = {
		{ 0x04, 0x47 }, { 0x05, 0x05 }, { 0x0c, 0xff }, { 0x18, 0xff }, { 0x19, 0xff },
		{ 0x1a, 0xff }, { 0x1c, 0xf0 }, { 0x1d, 0xf0 }, { 0x20, 0xf0 }, { 0x21, 0xff },
		{ 0x22, 0xf0 }, { 0x23, 0xff }, { 0x24, 0xf0 }, { 0x25, 0xff }, { 0x26, 0xf0 },
		{ 0x27, 0xff }, { 0x28, 0xff }, { 0x29, 0xff }, { 0x2a, 0xff }, { 0x2b, 0xff },
		{ 0x2c, 0xff }, { 0x2d, 0xff }, { 0x2e, 0xff }, { 0x2f, 0xff }, { 0x3c, 0xff },
		{ 0x3e, 0x5f },
	};

	for (unsigned i = 0; i < sizeof(hdr) / sizeof(hdr[0]); i++)
		if (hdr[i].off == off)
			return hdr[i].mask;
	if (off == pm + PCI_PM_CTRL)
		return PCI_PM_CTRL_STATE_MASK;
	if (off == exp + PCI_EXP_DEVCTL)
		return 0xff;            /* error enables, relaxed ordering, MPS */
	if (off == exp + PCI_EXP_DEVCTL + 1)
		return 0x78;            /* no snoop, MRRS */
	if (off == exp + PCI_EXP_LNKCTL)
		return 0xd3;            /* ASPM, link disable, common clock, ext synch */
	if (off == exp + PCI_EXP_SLTCTL + 1)
		return 0x10;            /* DLL state changed enable */
	if (off == exp + PCI_EXP_RTCTL)
		return 0x0f;            /* SERR enables, PME interrupt enable */
	if (off == 0x100 + PCI_ACS_CTRL)
		return 0x1f;
	return 0;
}

/* Writes 0xff then 0x00 to every byte of config space, one at a time. */
Test(pcie_root_port, every_byte_mask)
{
	unsigned pm = find_cap(PCI_CAP_ID_PM), exp = exp_cap();
	uint8_t before[PCI_CFG_SIZE];

	snapshot(before);
	for (unsigned off = 0; off < PCI_CFG_SIZE; off++) {
		uint8_t m = expected_wmask(off, pm, exp);
		uint8_t ones = (uint8_t)(before[off] | m);
		uint8_t zeros = (uint8_t)(before[off] & ~m);

		/* D3hot is the one power state 0xff selects that the port has */
		wr(off, 1, 0xff);
		cr_assert_eq(rd(off, 1), ones, "0x%03x after 0xff: 0x%02x, want 0x%02x", off,
			     rd(off, 1), ones);
		wr(off, 1, 0x00);
		cr_assert_eq(rd(off, 1), zeros, "0x%03x after 0x00: 0x%02x, want 0x%02x", off,
			     rd(off, 1), zeros);
	}
}

Test(pcie_root_port, root_and_device_control)
{
	unsigned exp = exp_cap();

	wr(exp + PCI_EXP_RTCTL, 2, 0xffff);
	cr_assert_eq(rd(exp + PCI_EXP_RTCTL, 2), 0x000f, "no CRS visibility without the cap");
	wr(exp + PCI_EXP_DEVCTL, 2, 0xffff);
	cr_assert_eq(rd(exp + PCI_EXP_DEVCTL, 2), 0x78ff);
	wr(exp + PCI_EXP_DEVCTL, 2, 0);
	cr_assert_eq(rd(exp + PCI_EXP_DEVCTL, 2), 0);
	wr(exp + PCI_EXP_LNKCTL, 2, 0xffff);
	cr_assert_eq(rd(exp + PCI_EXP_LNKCTL, 2), 0x00d3, "retrain link reads 0, RCB fixed");
	wr(exp + PCI_EXP_DEVCTL2, 2, 0xffff);
	wr(exp + PCI_EXP_LNKCTL2, 2, 0xffff);
	wr(exp + PCI_EXP_SLTCTL2, 2, 0xffff);
	cr_assert_eq(rd(exp + PCI_EXP_DEVCTL2, 2), 0);
	cr_assert_eq(rd(exp + PCI_EXP_LNKCTL2, 2), 0);
	cr_assert_eq(rd(exp + PCI_EXP_SLTCTL2, 2), 0);
}

Test(pcie_root_port, bus_numbers)
{
	cr_assert_eq(pcie_root_port_secondary_bus(rp), 0);
	cr_assert_eq(pcie_root_port_subordinate_bus(rp), 0);
	/* Linux's pci_scan_bridge writes the three numbers and the latency in one dword */
	wr(PCI_PRIMARY_BUS, 4, 0xff070500);
	cr_assert_eq(rd(PCI_PRIMARY_BUS, 4), 0x00070500, "secondary latency stays 0");
	cr_assert_eq(pcie_root_port_secondary_bus(rp), 5);
	cr_assert_eq(pcie_root_port_subordinate_bus(rp), 7);
	wr(PCI_SUBORDINATE_BUS, 1, 0x09);
	cr_assert_eq(pcie_root_port_secondary_bus(rp), 5);
	cr_assert_eq(pcie_root_port_subordinate_bus(rp), 9);
}

Test(pcie_root_port, io_window)
{
	uint64_t base, limit;

	wr(PCI_IO_BASE, 2, 0x3020);
	cr_assert(pcie_root_port_io_window(rp, &base, &limit));
	cr_assert_eq(base, 0x2000);
	cr_assert_eq(limit, 0x3fff);
	wr(PCI_IO_BASE, 2, 0xf0f0);
	cr_assert(pcie_root_port_io_window(rp, &base, &limit));
	cr_assert_eq(base, 0xf000);
	cr_assert_eq(limit, 0xffff);
	/* how Linux and OVMF close an unused window */
	wr(PCI_IO_BASE, 1, 0xf0);
	wr(PCI_IO_LIMIT, 1, 0x00);
	cr_assert_not(pcie_root_port_io_window(rp, &base, &limit));
	cr_assert_eq(base, 0xf000);
	cr_assert_eq(limit, 0x0fff);
}

Test(pcie_root_port, mem_window)
{
	uint64_t base, limit;

	wr(PCI_MEMORY_BASE, 4, 0xfe10fe00);
	cr_assert(pcie_root_port_mem_window(rp, &base, &limit));
	cr_assert_eq(base, 0xfe000000);
	cr_assert_eq(limit, 0xfe1fffff);
	/* the low nibble is not address */
	wr(PCI_MEMORY_BASE, 2, 0xc00f);
	wr(PCI_MEMORY_LIMIT, 2, 0xc00f);
	cr_assert(pcie_root_port_mem_window(rp, &base, &limit));
	cr_assert_eq(base, 0xc0000000);
	cr_assert_eq(limit, 0xc00fffff, "one megabyte");
	wr(PCI_MEMORY_BASE, 2, 0xfff0);
	wr(PCI_MEMORY_LIMIT, 2, 0x0000);
	cr_assert_not(pcie_root_port_mem_window(rp, &base, &limit));
}

Test(pcie_root_port, pref_window_64bit)
{
	uint64_t base, limit;

	wr(PCI_PREF_MEMORY_BASE, 2, 0x8000);
	wr(PCI_PREF_MEMORY_LIMIT, 2, 0x8ff0);
	cr_assert(pcie_root_port_pref_window(rp, &base, &limit));
	cr_assert_eq(base, 0x80000000);
	cr_assert_eq(limit, 0x8fffffff);
	wr(PCI_PREF_BASE_UPPER32, 4, 0x00000008);
	wr(PCI_PREF_LIMIT_UPPER32, 4, 0x00000008);
	cr_assert(pcie_root_port_pref_window(rp, &base, &limit));
	cr_assert_eq(base, 0x880000000ULL);
	cr_assert_eq(limit, 0x88fffffffULL);
	/* a window across a 4 GiB boundary */
	wr(PCI_PREF_LIMIT_UPPER32, 4, 0x00000009);
	wr(PCI_PREF_MEMORY_LIMIT, 2, 0x0000);
	cr_assert(pcie_root_port_pref_window(rp, &base, &limit));
	cr_assert_eq(limit, 0x9000fffffULL);
	/* upper base above upper limit: empty, whatever the low halves say */
	wr(PCI_PREF_BASE_UPPER32, 4, 0x0000000a);
	wr(PCI_PREF_MEMORY_LIMIT, 2, 0xfff0);
	cr_assert_not(pcie_root_port_pref_window(rp, &base, &limit));
	cr_assert_eq(base, 0xa80000000ULL);
	cr_assert_eq(limit, 0x9ffffffffULL);
}

Test(pcie_root_port, windows_at_power_on)
{
	uint64_t base, limit;

	/* all-zero registers decode as the lowest granule, as on hardware */
	cr_assert(pcie_root_port_io_window(rp, &base, &limit));
	cr_assert_eq(base, 0);
	cr_assert_eq(limit, 0xfff);
	cr_assert(pcie_root_port_mem_window(rp, &base, &limit));
	cr_assert_eq(limit, 0xfffff);
	cr_assert(pcie_root_port_pref_window(rp, &base, &limit));
	cr_assert_eq(limit, 0xfffff);
	/* which is why forwarding waits for the command register */
	cr_assert_eq(rd(PCI_COMMAND, 2) & (PCI_COMMAND_IO | PCI_COMMAND_MEMORY), 0);
}

Test(pcie_root_port, secondary_bus_reset)
{
	/* Linux's pci_reset_secondary_bus: set, wait, clear */
	uint16_t ctl = (uint16_t)rd(PCI_BRIDGE_CONTROL, 2);

	wr(PCI_BRIDGE_CONTROL, 2, ctl | PCI_BRIDGE_CTL_BUS_RESET);
	cr_assert_eq(bus_resets, 1, "called as the reset asserts");
	cr_assert(rd(PCI_BRIDGE_CONTROL, 2) & PCI_BRIDGE_CTL_BUS_RESET);
	wr(PCI_BRIDGE_CONTROL, 2, ctl | PCI_BRIDGE_CTL_BUS_RESET | PCI_BRIDGE_CTL_SERR);
	cr_assert_eq(bus_resets, 1, "still asserted: not a new reset");
	wr(PCI_BRIDGE_CONTROL, 2, ctl);
	cr_assert_eq(bus_resets, 1, "deasserting calls nothing");
	wr(PCI_BRIDGE_CONTROL, 2, PCI_BRIDGE_CTL_ISA | PCI_BRIDGE_CTL_VGA);
	cr_assert_eq(bus_resets, 1, "other bits are not a reset");
	/* a byte write, and a dword write from 0x3c, reach it too */
	wr(PCI_BRIDGE_CONTROL, 1, PCI_BRIDGE_CTL_BUS_RESET);
	cr_assert_eq(bus_resets, 2);
	wr(PCI_BRIDGE_CONTROL, 1, 0);
	wr(PCI_INTERRUPT_LINE, 4, (uint32_t)PCI_BRIDGE_CTL_BUS_RESET << 16 | 0x0b);
	cr_assert_eq(bus_resets, 3);
	cr_assert_eq(rd(PCI_INTERRUPT_LINE, 1), 0x0b);
}

Test(pcie_root_port, secondary_bus_reset_without_callback)
{
	struct pci_bus b;
	struct pcie_root_port *quiet = pcie_root_port_new(DEVFN, 1, false, NULL, NULL);

	cr_assert_not_null(quiet);
	pci_bus_init(&b);
	cr_assert_eq(pci_bus_add(&b, pcie_root_port_pci(quiet)), 0);
	pci_cfg_write(&b, DEVFN, PCI_BRIDGE_CONTROL, 2, PCI_BRIDGE_CTL_BUS_RESET);
	cr_assert_eq(pci_cfg_read(&b, DEVFN, PCI_BRIDGE_CONTROL, 2), PCI_BRIDGE_CTL_BUS_RESET);
	cr_assert_eq(bus_resets, 0);
	pcie_root_port_free(quiet);
}

Test(pcie_root_port, reset_restores_power_on_values)
{
	struct pcie_root_port *fresh = pcie_root_port_new(DEVFN, PORT, false, NULL, NULL);
	const struct pci_device *f = pcie_root_port_pci(fresh);
	unsigned pm = find_cap(PCI_CAP_ID_PM), exp = exp_cap();
	uint8_t after[PCI_CFG_SIZE];
	uint64_t base, limit;

	cr_assert_not_null(fresh);
	pcie_root_port_set_present(fresh, true);
	pcie_root_port_set_present(rp, true);
	wr(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	wr(PCI_PRIMARY_BUS, 4, 0x00020100);
	wr(PCI_MEMORY_BASE, 4, 0xfe10fe00);
	wr(PCI_IO_BASE, 2, 0x1010);
	wr(PCI_PREF_BASE_UPPER32, 4, 1);
	wr(PCI_INTERRUPT_LINE, 1, 0x0a);
	wr(PCI_BRIDGE_CONTROL, 2, PCI_BRIDGE_CTL_BUS_RESET | PCI_BRIDGE_CTL_SERR);
	wr(pm + PCI_PM_CTRL, 2, 3);
	wr(exp + PCI_EXP_DEVCTL, 2, 0x000f);
	wr(exp + PCI_EXP_LNKCTL, 2, PCI_EXP_LNKCTL_LD);
	wr(exp + PCI_EXP_RTCTL, 2, PCI_EXP_RTCTL_PMEIE);
	wr(0x100 + PCI_ACS_CTRL, 2, 0x1f);
	cr_assert_eq(bus_resets, 1);

	pcie_root_port_reset(rp);
	snapshot(after);
	for (unsigned off = 0; off < PCI_CFG_SIZE; off++)
		cr_assert_eq(after[off], f->cfg[off], "byte 0x%x: 0x%02x, power-on 0x%02x", off,
			     after[off], f->cfg[off]);
	cr_assert_eq(bus_resets, 1, "a port reset is not a secondary bus reset");
	cr_assert(sltsta() & PCI_EXP_SLTSTA_PDS, "presence is wiring, it survives");
	cr_assert(lnksta() & PCI_EXP_LNKSTA_DLLLA, "link disable cleared, link back up");
	cr_assert_eq(pcie_root_port_secondary_bus(rp), 0);
	cr_assert(pcie_root_port_mem_window(rp, &base, &limit));
	cr_assert_eq(base, 0);
	/* the masks are back too */
	wr(PCI_SECONDARY_BUS, 1, 4);
	cr_assert_eq(pcie_root_port_secondary_bus(rp), 4);
	wr(PCI_BRIDGE_CONTROL, 2, PCI_BRIDGE_CTL_BUS_RESET);
	cr_assert_eq(bus_resets, 2);
	pcie_root_port_free(fresh);
}

/*
 * A hot-plug port (pcie_root_port_set_hotplug), driven as Linux's pciehp
 * and OVMF drive it, its hooks recorded.
 */
#define HP_DEVFN  PCI_DEVFN(2, 0)
#define HP_PORT   5
#define HP_GSI    16
#define MSI_ADDR  0x00000001fee01000ULL
#define MSI_DATA  0x4041
#define RESV_BUS  3
#define RESV_IO   0x2000
#define RESV_MEM  (8u << 20)
#define RESV_PREF (1ULL << 33)

static struct pcie_root_port *hp;
static struct {
	unsigned msis;
	uint64_t addr;
	uint32_t data;
	unsigned powers, power_on, power_off;
	int level;
	unsigned level_changes;
} seen;

static void record_msi(void *opaque, uint64_t addr, uint32_t data)
{
	cr_assert_eq(opaque, &seen);
	seen.msis++;
	seen.addr = addr;
	seen.data = data;
}

static void record_power(void *opaque, bool on)
{
	cr_assert_eq(opaque, &seen);
	seen.powers++;
	if (on)
		seen.power_on++;
	else
		seen.power_off++;
}

static void record_level(void *opaque, unsigned gsi, int level)
{
	cr_assert_eq(opaque, &seen);
	cr_assert_eq(gsi, HP_GSI);
	cr_assert_neq(level, seen.level, "only changes reach the line");
	seen.level = level;
	seen.level_changes++;
}

static const struct pcie_root_port_hotplug hooks = {
	.msi = record_msi,
	.intx = { .set_level = record_level, .opaque = &seen, .gsi = HP_GSI },
	.power = record_power,
	.opaque = &seen,
	.bus_reserve = RESV_BUS,
	.io_reserve = RESV_IO,
	.mem_reserve = RESV_MEM,
	.pref64_reserve = RESV_PREF,
};

static void hp_setup(void)
{
	memset(&seen, 0, sizeof(seen));
	pci_bus_init(&bus);
	hp = pcie_root_port_new(HP_DEVFN, HP_PORT, false, NULL, NULL);
	cr_assert_not_null(hp);
	pcie_root_port_set_hotplug(hp, &hooks);
	cr_assert_eq(pci_bus_add(&bus, pcie_root_port_pci(hp)), 0);
}

static void hp_teardown(void)
{
	pcie_root_port_free(hp);
}

TestSuite(pcie_hotplug, .init = hp_setup, .fini = hp_teardown);

static uint32_t hrd(unsigned offset, unsigned size)
{
	return pci_cfg_read(&bus, HP_DEVFN, offset, size);
}

static void hwr(unsigned offset, unsigned size, uint32_t value)
{
	pci_cfg_write(&bus, HP_DEVFN, offset, size, value);
}

/* Walks the hot-plug port's list; 0 if id is not there. */
static unsigned hp_find_cap(uint8_t id)
{
	unsigned pos = hrd(PCI_CAPABILITY_LIST, 1), n = 0;

	while (pos) {
		cr_assert_eq(pos % 4, 0);
		cr_assert_lt(n++, 48, "list does not terminate");
		if (hrd(pos, 1) == id)
			return pos;
		pos = hrd(pos + PCI_CAP_LIST_NEXT, 1);
	}
	return 0;
}

#define EXP 0x48 /* where the PCIe capability is, checked in capabilities_with_hotplug */

static uint16_t hp_sltsta(void)
{
	return (uint16_t)hrd(EXP + PCI_EXP_SLTSTA, 2);
}

static uint16_t hp_sltctl(void)
{
	return (uint16_t)hrd(EXP + PCI_EXP_SLTCTL, 2);
}

static bool hp_link_up(void)
{
	return hrd(EXP + PCI_EXP_LNKSTA, 2) & PCI_EXP_LNKSTA_DLLLA;
}

/* What pciehp writes to Slot Control: a read-modify-write of the bits in mask. */
static void slot_cmd(uint16_t cmd, uint16_t mask)
{
	hwr(EXP + PCI_EXP_SLTCTL, 2, (hp_sltctl() & ~mask) | (cmd & mask));
}

static void clear_events(void)
{
	hwr(EXP + PCI_EXP_SLTSTA, 2, 0xffff);
}

/* MSI on as Linux's portdrv sets it up: address, data, enable, bus mastering. */
static void msi_on(void)
{
	unsigned msi = hp_find_cap(PCI_CAP_ID_MSI);

	hwr(msi + PCI_MSI_ADDRESS_LO, 4, (uint32_t)MSI_ADDR);
	hwr(msi + PCI_MSI_ADDRESS_HI, 4, (uint32_t)(MSI_ADDR >> 32));
	hwr(msi + PCI_MSI_DATA_64, 2, MSI_DATA);
	hwr(msi + PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE);
	hwr(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

/* pciehp's pcie_enable_notification on a slot with a button. */
static void notifications_on(void)
{
	slot_cmd(PCI_EXP_SLTCTL_DLLSCE | PCI_EXP_SLTCTL_ABPE | PCI_EXP_SLTCTL_HPIE |
		 PCI_EXP_SLTCTL_CCIE,
		 PCI_EXP_SLTCTL_PDCE | PCI_EXP_SLTCTL_ABPE | PCI_EXP_SLTCTL_PFDE |
		 PCI_EXP_SLTCTL_HPIE | PCI_EXP_SLTCTL_CCIE | PCI_EXP_SLTCTL_DLLSCE);
}

Test(pcie_hotplug, capabilities_with_hotplug)
{
	static const uint8_t want[] = { PCI_CAP_ID_PM, PCI_CAP_ID_EXP, PCI_CAP_ID_SSVID,
					PCI_CAP_ID_MSI, PCI_CAP_ID_VNDR };
	static const unsigned at[] = { 0x40, 0x48, 0x84, 0x8c, 0x9c };
	unsigned pos = hrd(PCI_CAPABILITY_LIST, 1), n = 0;
	uint32_t sltcap;

	for (; pos; pos = hrd(pos + PCI_CAP_LIST_NEXT, 1), n++) {
		cr_assert_lt(n, 5, "more capabilities than expected");
		cr_assert_eq(hrd(pos, 1), want[n], "capability %u: 0x%x", n, hrd(pos, 1));
		cr_assert_eq(pos, at[n]);
	}
	cr_assert_eq(n, 5);
	sltcap = hrd(EXP + PCI_EXP_SLTCAP, 4);
	cr_assert_eq(sltcap & 0x7ffff, PCI_EXP_SLTCAP_ABP | PCI_EXP_SLTCAP_PCP |
					PCI_EXP_SLTCAP_AIP | PCI_EXP_SLTCAP_PIP |
					PCI_EXP_SLTCAP_HPC,
		     "button, power controller, indicators; no HPS, no MRL, NCCS clear: 0x%x",
		     sltcap);
	cr_assert_eq(sltcap >> 19, HP_PORT, "physical slot number");
	cr_assert(hrd(EXP + PCI_EXP_FLAGS, 2) & PCI_EXP_FLAGS_SLOT);
}

Test(pcie_hotplug, none_of_it_without_set_hotplug)
{
	struct pcie_root_port *plain = pcie_root_port_new(PCI_DEVFN(3, 0), 1, false, NULL, NULL);
	const uint8_t *cfg = pcie_root_port_pci(plain)->cfg;
	uint32_t sltcap;

	memcpy(&sltcap, &cfg[EXP + PCI_EXP_SLTCAP], 4);
	cr_assert_eq(cfg[0x84 + PCI_CAP_LIST_NEXT], 0, "SSVID ends the list");
	cr_assert_eq(sltcap & PCI_EXP_SLTCAP_HPC, 0);
	cr_assert(pcie_root_port_powered(plain), "no power controller: always powered");
	pcie_root_port_set_present(plain, true);
	pcie_root_port_attention_button(plain);
	pcie_root_port_hotplug_remove(plain, true);
	cr_assert_eq(cfg[EXP + PCI_EXP_SLTSTA], PCI_EXP_SLTSTA_PDS,
		     "no events, and remove ignored on a plain port");
	cr_assert_eq(cfg[EXP + PCI_EXP_SLTSTA + 1], 0, "no DLLSC");
	pcie_root_port_free(plain);
}

/* The resource reservation capability, read as OVMF's QueryReservationHint does. */
Test(pcie_hotplug, reservation_capability_as_ovmf_reads_it)
{
	unsigned r = hp_find_cap(PCI_CAP_ID_VNDR);

	cr_assert_eq(hrd(PCI_VENDOR_ID, 2), 0x1b36, "OVMF only looks at Red Hat bridges");
	cr_assert_eq(r, 0x9c);
	cr_assert_eq(hrd(r + 2, 1), 32, "length: exactly the structure's");
	cr_assert_eq(hrd(r + 3, 1), 1, "type: resource reservation");
	cr_assert_eq(hrd(r + 4, 4), RESV_BUS);
	cr_assert_eq(hrd(r + 8, 4), RESV_IO);
	cr_assert_eq(hrd(r + 12, 4), 0);
	cr_assert_eq(hrd(r + 16, 4), RESV_MEM);
	cr_assert_eq(hrd(r + 20, 4), 0, "no 32-bit prefetchable: OVMF then takes the 64-bit");
	cr_assert_eq(hrd(r + 24, 4), (uint32_t)RESV_PREF);
	cr_assert_eq(hrd(r + 28, 4), (uint32_t)(RESV_PREF >> 32));
	for (unsigned off = r; off < r + 32; off += 4) {
		uint32_t v = hrd(off, 4);

		hwr(off, 4, ~v);
		cr_assert_eq(hrd(off, 4), v, "read-only at 0x%x", off);
	}
	cr_assert_eq(hrd(0xbc, 4), 0, "nothing after it");
}

Test(pcie_hotplug, msi_capability)
{
	unsigned msi = hp_find_cap(PCI_CAP_ID_MSI);

	cr_assert_eq(msi, 0x8c);
	cr_assert_eq(hrd(msi + PCI_MSI_FLAGS, 2), PCI_MSI_FLAGS_64BIT,
		     "64-bit, one vector, no masking, off");
	hwr(msi + PCI_MSI_FLAGS, 2, 0xffff);
	cr_assert_eq(hrd(msi + PCI_MSI_FLAGS, 2), PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_ENABLE,
		     "only enable is writable");
	hwr(msi + PCI_MSI_ADDRESS_LO, 4, 0xffffffff);
	hwr(msi + PCI_MSI_ADDRESS_HI, 4, 0xffffffff);
	hwr(msi + PCI_MSI_DATA_64, 4, 0xffffffff);
	cr_assert_eq(hrd(msi + PCI_MSI_ADDRESS_LO, 4), 0xfffffffc, "dword-aligned");
	cr_assert_eq(hrd(msi + PCI_MSI_ADDRESS_HI, 4), 0xffffffff);
	cr_assert_eq(hrd(msi + PCI_MSI_DATA_64, 4), 0xffff, "16-bit data, reserved after");
}

Test(pcie_hotplug, slot_control_writable_bits)
{
	hwr(EXP + PCI_EXP_SLTCTL, 2, 0xffff);
	cr_assert_eq(hp_sltctl(), 0x17f9, "ABPE PDCE CCIE HPIE AIC PIC PCC DLLSCE: 0x%x",
		     hp_sltctl());
	hwr(EXP + PCI_EXP_SLTCTL, 2, 0);
	cr_assert_eq(hp_sltctl(), 0);
}

Test(pcie_hotplug, empty_slot_starts_off)
{
	cr_assert_not(pcie_root_port_powered(hp));
	cr_assert_eq(hp_sltctl() & (PCI_EXP_SLTCTL_PCC | PCI_EXP_SLTCTL_PIC | PCI_EXP_SLTCTL_AIC),
		     PCI_EXP_SLTCTL_PWR_OFF | PCI_EXP_SLTCTL_PWR_IND_OFF |
			     PCI_EXP_SLTCTL_ATTN_IND_OFF);
	cr_assert_eq(hp_sltsta(), 0, "no presence, no events");
	cr_assert_not(hp_link_up());
	cr_assert_eq(seen.powers, 0, "set_hotplug calls no hook");
}

Test(pcie_hotplug, occupied_slot_starts_on)
{
	pcie_root_port_set_present(hp, true);
	cr_assert(pcie_root_port_powered(hp));
	cr_assert_eq(hp_sltctl() & (PCI_EXP_SLTCTL_PCC | PCI_EXP_SLTCTL_PIC | PCI_EXP_SLTCTL_AIC),
		     PCI_EXP_SLTCTL_PWR_IND_ON | PCI_EXP_SLTCTL_ATTN_IND_OFF);
	cr_assert_eq(hp_sltsta(), PCI_EXP_SLTSTA_PDS, "cold-plugged: no event");
	cr_assert(hp_link_up());
	cr_assert_eq(seen.powers, 0);
}

Test(pcie_hotplug, slot_status_events_are_rw1c)
{
	pcie_root_port_hotplug_add(hp);
	pcie_root_port_attention_button(hp);
	slot_cmd(0, PCI_EXP_SLTCTL_PCC); /* on: CC, and the link comes up */
	cr_assert_eq(hp_sltsta(), PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_ABP |
				  PCI_EXP_SLTSTA_CC | PCI_EXP_SLTSTA_DLLSC,
		     "0x%x", hp_sltsta());
	hwr(EXP + PCI_EXP_SLTSTA, 2, 0);
	cr_assert_eq(hp_sltsta() & PCI_EXP_SLTSTA_ABP, PCI_EXP_SLTSTA_ABP, "0 leaves them");
	hwr(EXP + PCI_EXP_SLTSTA, 2, PCI_EXP_SLTSTA_ABP | PCI_EXP_SLTSTA_PDS);
	cr_assert_eq(hp_sltsta(), PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_CC |
				  PCI_EXP_SLTSTA_DLLSC,
		     "ABP cleared alone, PDS is not RW1C: 0x%x", hp_sltsta());
	hwr(EXP + PCI_EXP_SLTSTA + 1, 1, PCI_EXP_SLTSTA_DLLSC >> 8);
	cr_assert_eq(hp_sltsta() & PCI_EXP_SLTSTA_DLLSC, 0, "a byte write reaches bit 8");
	/* a dword write from Slot Control clears status too, and is a command */
	hwr(EXP + PCI_EXP_SLTCTL, 4, (uint32_t)0xffff << 16 | hp_sltctl());
	cr_assert_eq(hp_sltsta(), PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_CC,
		     "cleared, then the command completed: 0x%x", hp_sltsta());
	clear_events();
	cr_assert_eq(hp_sltsta(), PCI_EXP_SLTSTA_PDS);
}

Test(pcie_hotplug, command_completed_after_every_slot_control_write)
{
	hwr(EXP + PCI_EXP_SLTCTL, 2, hp_sltctl());
	cr_assert(hp_sltsta() & PCI_EXP_SLTSTA_CC, "even a write that changes nothing");
	clear_events();
	hwr(EXP + PCI_EXP_SLTCTL + 1, 1, hrd(EXP + PCI_EXP_SLTCTL + 1, 1));
	cr_assert(hp_sltsta() & PCI_EXP_SLTSTA_CC, "a byte write too");
	clear_events();
	hwr(EXP + PCI_EXP_LNKCTL, 2, 0);
	hwr(EXP + PCI_EXP_SLTSTA, 2, 0);
	cr_assert_eq(hp_sltsta() & PCI_EXP_SLTSTA_CC, 0, "other registers are no commands");
	/* pciehp with interrupts: one MSI per command, once CC is cleared each time */
	msi_on();
	notifications_on();
	cr_assert_eq(seen.msis, 1, "the enabling command completes with an MSI");
	clear_events();
	slot_cmd(PCI_EXP_SLTCTL_PWR_IND_BLINK, PCI_EXP_SLTCTL_PIC);
	cr_assert_eq(seen.msis, 2);
	slot_cmd(PCI_EXP_SLTCTL_PWR_IND_ON, PCI_EXP_SLTCTL_PIC);
	cr_assert_eq(seen.msis, 2, "CC was still set: no new edge");
	clear_events();
	slot_cmd(PCI_EXP_SLTCTL_CCIE, PCI_EXP_SLTCTL_CCIE);
	cr_assert_eq(seen.msis, 3);
	clear_events();
	slot_cmd(0, PCI_EXP_SLTCTL_CCIE);
	cr_assert_eq(seen.msis, 3, "completion without CCIE raises nothing");
	cr_assert(hp_sltsta() & PCI_EXP_SLTSTA_CC, "but is still reported, for polling");
}

Test(pcie_hotplug, power_controller_calls_the_hook)
{
	pcie_root_port_hotplug_add(hp);
	cr_assert_not(hp_link_up(), "slot off: no link");
	slot_cmd(PCI_EXP_SLTCTL_PWR_ON, PCI_EXP_SLTCTL_PCC);
	cr_assert_eq(seen.power_on, 1);
	cr_assert_eq(seen.powers, 1);
	cr_assert(pcie_root_port_powered(hp));
	cr_assert(hp_link_up(), "powered with a card: link up");
	cr_assert(hp_sltsta() & PCI_EXP_SLTSTA_DLLSC);
	slot_cmd(PCI_EXP_SLTCTL_PWR_ON, PCI_EXP_SLTCTL_PCC);
	slot_cmd(PCI_EXP_SLTCTL_PWR_IND_ON | PCI_EXP_SLTCTL_ATTN_IND_OFF,
		 PCI_EXP_SLTCTL_PIC | PCI_EXP_SLTCTL_AIC);
	hwr(EXP + PCI_EXP_LNKCTL, 2, 0);
	hwr(EXP + PCI_EXP_SLTSTA, 2, 0xffff);
	hwr(PCI_COMMAND, 2, PCI_COMMAND_MASTER);
	cr_assert_eq(seen.powers, 1, "no call for writes that do not switch power");
	slot_cmd(PCI_EXP_SLTCTL_PWR_OFF, PCI_EXP_SLTCTL_PCC);
	cr_assert_eq(seen.power_off, 1);
	cr_assert_eq(seen.powers, 2);
	cr_assert_not(pcie_root_port_powered(hp));
	cr_assert_not(hp_link_up(), "off: link down");
	cr_assert(hp_sltsta() & PCI_EXP_SLTSTA_DLLSC, "link down is an event too");
	cr_assert(hp_sltsta() & PCI_EXP_SLTSTA_PDS, "the card is still there");
}

Test(pcie_hotplug, link_disable_on_a_powered_slot)
{
	pcie_root_port_set_present(hp, true);
	hwr(EXP + PCI_EXP_LNKCTL, 2, PCI_EXP_LNKCTL_LD);
	cr_assert_not(hp_link_up());
	cr_assert(hp_sltsta() & PCI_EXP_SLTSTA_DLLSC);
	clear_events();
	hwr(EXP + PCI_EXP_LNKCTL, 2, 0);
	cr_assert(hp_link_up());
	cr_assert(hp_sltsta() & PCI_EXP_SLTSTA_DLLSC);
}

Test(pcie_hotplug, one_msi_per_event)
{
	msi_on();
	notifications_on();
	clear_events();
	seen.msis = 0;
	pcie_root_port_attention_button(hp);
	cr_assert_eq(seen.msis, 1);
	cr_assert_eq(seen.addr, MSI_ADDR);
	cr_assert_eq(seen.data, MSI_DATA);
	pcie_root_port_attention_button(hp);
	cr_assert_eq(seen.msis, 1, "condition already true: no edge");
	clear_events();
	cr_assert_eq(seen.msis, 1, "clearing everything sends nothing");
	pcie_root_port_attention_button(hp);
	cr_assert_eq(seen.msis, 2);
	/* an event between the ISR's read and its write-back still gets an MSI */
	slot_cmd(PCI_EXP_SLTCTL_PWR_ON, PCI_EXP_SLTCTL_PCC); /* CC, while ABP is pending */
	cr_assert_eq(seen.msis, 2);
	hwr(EXP + PCI_EXP_SLTSTA, 2, PCI_EXP_SLTSTA_ABP);
	cr_assert_eq(seen.msis, 3, "CC still pending after the write: another MSI");
	hwr(EXP + PCI_EXP_SLTSTA, 2, PCI_EXP_SLTSTA_CC);
	cr_assert_eq(seen.msis, 3);
	cr_assert_eq(seen.level_changes, 0, "INTA untouched while MSI is on");
	/* events that are not enabled raise nothing */
	pcie_root_port_hotplug_add(hp); /* PDC (not enabled by pciehp), DLLSC (enabled) */
	cr_assert_eq(seen.msis, 4, "the link coming up");
	hwr(EXP + PCI_EXP_SLTSTA, 2, PCI_EXP_SLTSTA_DLLSC);
	cr_assert_eq(seen.msis, 4, "PDC alone is not enabled");
}

Test(pcie_hotplug, no_msi_while_disabled)
{
	unsigned msi = hp_find_cap(PCI_CAP_ID_MSI);

	msi_on();
	notifications_on();
	clear_events();
	seen.msis = 0;
	hwr(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	pcie_root_port_attention_button(hp);
	cr_assert_eq(seen.msis, 0, "no bus mastering, no MSI");
	hwr(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	cr_assert_eq(seen.msis, 1, "sent once it may be");
	clear_events();
	hwr(msi + PCI_MSI_FLAGS, 2, 0);
	hwr(EXP + PCI_EXP_SLTCTL, 2, hp_sltctl() & ~PCI_EXP_SLTCTL_HPIE);
	cr_assert_eq(seen.msis, 1);
	clear_events();
	hwr(msi + PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE);
	pcie_root_port_attention_button(hp);
	cr_assert_eq(seen.msis, 1, "HPIE off: no interrupt");
	hwr(EXP + PCI_EXP_SLTCTL, 2, hp_sltctl() | PCI_EXP_SLTCTL_HPIE);
	cr_assert_eq(seen.msis, 2, "HPIE on with the button pending");
}

Test(pcie_hotplug, intx_follows_the_condition_with_msi_off)
{
	notifications_on();
	cr_assert_eq(seen.level, 1, "the enabling command completed");
	cr_assert(hrd(PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	clear_events();
	cr_assert_eq(seen.level, 0);
	cr_assert_eq(hrd(PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
	pcie_root_port_attention_button(hp);
	cr_assert_eq(seen.level, 1);
	hwr(PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
	cr_assert_eq(seen.level, 0, "Interrupt Disable");
	cr_assert(hrd(PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, "still pending inside");
	hwr(PCI_COMMAND, 2, 0);
	cr_assert_eq(seen.level, 1);
	msi_on();
	cr_assert_eq(seen.level, 0, "MSI on: INTA released");
	cr_assert_eq(seen.msis, 1, "and the pending event is sent as an MSI");
	cr_assert_eq(seen.level_changes, 6);
}

Test(pcie_hotplug, hot_add_then_button_as_pciehp_sees_it)
{
	msi_on();
	notifications_on();
	clear_events();
	seen.msis = 0;
	pcie_root_port_hotplug_add(hp);
	cr_assert_eq(hp_sltsta(), PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_PDC, "slot off: no link");
	cr_assert_eq(seen.msis, 0, "PDCE is off with a button");
	pcie_root_port_attention_button(hp);
	cr_assert_eq(seen.msis, 1);
	clear_events();
	/* 5 s later, board_added: power on, indicator blinking */
	slot_cmd(PCI_EXP_SLTCTL_PWR_ON, PCI_EXP_SLTCTL_PCC);
	cr_assert_eq(seen.power_on, 1);
	cr_assert(hp_link_up());
	cr_assert(hp_sltsta() & PCI_EXP_SLTSTA_DLLSC);
	cr_assert(hrd(EXP + PCI_EXP_LNKSTA, 2) & PCI_EXP_LNKSTA_NLW, "no training error");
	cr_assert_eq(hrd(EXP + PCI_EXP_LNKSTA, 2) & PCI_EXP_LNKSTA_LT, 0);
}

Test(pcie_hotplug, surprise_removal)
{
	pcie_root_port_set_present(hp, true);
	msi_on();
	notifications_on();
	clear_events();
	seen.msis = 0;
	pcie_root_port_hotplug_remove(hp, true);
	cr_assert_eq(hp_sltsta(), PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC, "0x%x", hp_sltsta());
	cr_assert_not(hp_link_up());
	cr_assert_eq(seen.msis, 1, "link down reaches pciehp");
	cr_assert(pcie_root_port_powered(hp), "power is the guest's to switch off");
	cr_assert_eq(seen.powers, 0);
}

Test(pcie_hotplug, removal_after_the_guest_let_go)
{
	pcie_root_port_set_present(hp, true);
	msi_on();
	notifications_on();
	clear_events();
	pcie_root_port_attention_button(hp);
	clear_events();
	/* remove_board: power off, then it ignores link changes it caused */
	slot_cmd(PCI_EXP_SLTCTL_PWR_OFF, PCI_EXP_SLTCTL_PCC);
	slot_cmd(PCI_EXP_SLTCTL_PWR_IND_OFF, PCI_EXP_SLTCTL_PIC);
	cr_assert_eq(seen.power_off, 1);
	clear_events();
	seen.msis = 0;
	pcie_root_port_hotplug_remove(hp, false);
	cr_assert_eq(hp_sltsta(), PCI_EXP_SLTSTA_PDC, "presence only: 0x%x", hp_sltsta());
	cr_assert_eq(seen.msis, 0, "nothing pciehp listens to");
	cr_assert_eq(seen.powers, 1);
}

Test(pcie_hotplug, attention_button_event)
{
	pcie_root_port_attention_button(hp);
	cr_assert_eq(hp_sltsta(), PCI_EXP_SLTSTA_ABP);
	cr_assert_eq(seen.level, 0, "nothing enabled yet");
	cr_assert_eq(seen.msis, 0);
}

Test(pcie_hotplug, reset_restores_power_state)
{
	pcie_root_port_set_present(hp, true);
	notifications_on();
	slot_cmd(PCI_EXP_SLTCTL_PWR_OFF | PCI_EXP_SLTCTL_PWR_IND_BLINK,
		 PCI_EXP_SLTCTL_PCC | PCI_EXP_SLTCTL_PIC);
	cr_assert_eq(seen.level, 1);
	cr_assert_eq(seen.power_off, 1);
	pcie_root_port_reset(hp);
	cr_assert(pcie_root_port_powered(hp), "occupied: on again");
	cr_assert_eq(seen.power_on, 1, "and the VMM is told");
	cr_assert_eq(hp_sltctl(), PCI_EXP_SLTCTL_PWR_IND_ON | PCI_EXP_SLTCTL_ATTN_IND_OFF);
	cr_assert_eq(hp_sltsta(), PCI_EXP_SLTSTA_PDS, "events cleared");
	cr_assert(hp_link_up());
	cr_assert_eq(seen.level, 0, "INTA released");
	cr_assert_eq(hp_find_cap(PCI_CAP_ID_VNDR), 0x9c, "hot-plug survives a reset");
	/* empty and switched on by the guest: off after reset */
	pcie_root_port_hotplug_remove(hp, true);
	pcie_root_port_reset(hp);
	cr_assert_not(pcie_root_port_powered(hp));
	cr_assert_eq(seen.power_off, 2);
	slot_cmd(PCI_EXP_SLTCTL_PWR_ON, PCI_EXP_SLTCTL_PCC);
	cr_assert_eq(seen.power_on, 2);
	pcie_root_port_reset(hp);
	cr_assert_not(pcie_root_port_powered(hp));
	cr_assert_eq(seen.power_off, 3);
	pcie_root_port_reset(hp);
	cr_assert_eq(seen.powers, 5, "a reset that changes nothing calls nothing");
}

/* A slot is offered for the next card only once pciehp is done tearing the last one down. */
Test(pcie_hotplug, a_slot_is_idle_once_off_and_dark)
{
	struct pcie_root_port *plain;

	cr_assert(pcie_root_port_slot_idle(hp), "an empty slot comes out of reset off and dark");
	pcie_root_port_set_present(hp, true);
	cr_assert_not(pcie_root_port_slot_idle(hp), "a card is in it");
	msi_on();
	notifications_on();
	/* a surprise removal: the card goes, the guest's pciehp still has the slot on */
	pcie_root_port_hotplug_remove(hp, true);
	cr_assert_not(pcie_root_port_slot_idle(hp), "switched on still");
	/* remove_board: power off, a second's wait, then the indicator */
	slot_cmd(PCI_EXP_SLTCTL_PWR_OFF, PCI_EXP_SLTCTL_PCC);
	cr_assert_not(pcie_root_port_slot_idle(hp), "off, but its light is on: pciehp is not done");
	slot_cmd(PCI_EXP_SLTCTL_PWR_IND_OFF, PCI_EXP_SLTCTL_PIC);
	cr_assert(pcie_root_port_slot_idle(hp));
	plain = pcie_root_port_new(PCI_DEVFN(3, 0), 6, false, NULL, NULL);
	cr_assert_not_null(plain);
	cr_assert_not(pcie_root_port_slot_idle(plain), "a port that is no hot-plug slot is never offered");
	pcie_root_port_free(plain);
}
