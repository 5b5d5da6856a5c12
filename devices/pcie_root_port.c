// SPDX-License-Identifier: MIT
/*
 * A PCI Express root port: a PCI-to-PCI bridge header whose registers
 * decide which bus numbers and address windows reach the slot below it,
 * plus the capabilities Linux's pcieport and OVMF's PciBusDxe look at.
 *
 * Writable masks follow the PCIe base spec for a root port: registers
 * that "do not apply to PCI Express" (secondary latency timer, master
 * abort mode) are hardwired to 0, and RW1C error status bits read 0
 * because no error is ever recorded.
 *
 * By default the slot is not hot-plug capable: whether a device is present
 * is fixed by the VMM before the guest looks. pcie_root_port_set_hotplug()
 * turns it into a native hot-plug slot as Linux's pciehp drives it: an
 * attention button, a power controller, both indicators, presence and
 * link events in RW1C Slot Status, Command Completed after every Slot
 * Control write, and the port's interrupt through MSI (or INTA).
 */
#include "pci_devices.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "../core/log.h"
#include "../core/pci.h"

#define RP_NAME "pcie-root-port"
#define rp_debug(rp, fmt, ...)                                                    \
	dev_debug(RP_NAME, "%02x.%x: " fmt, PCI_SLOT((rp)->pci.devfn),            \
		  PCI_FUNC((rp)->pci.devfn), __VA_ARGS__)

#define HEADER_MULTIFUNCTION 0x80
#define RP_CLASS_PCI_BRIDGE  0x060400
#define RP_INTERRUPT_PIN     1 /* INTA */

/* Type 1 (PCI-to-PCI bridge) header. */
struct pci_bridge_header {
	uint16_t vendor_id;
	uint16_t device_id;
	uint16_t command;
	uint16_t status;
	uint8_t revision;
	uint8_t class_prog;
	uint8_t class_sub;
	uint8_t class_base;
	uint8_t cache_line_size;
	uint8_t latency_timer;
	uint8_t header_type;
	uint8_t bist;
	uint32_t bar[2];
	uint8_t primary_bus;
	uint8_t secondary_bus;
	uint8_t subordinate_bus;
	uint8_t secondary_latency;
	uint8_t io_base;
	uint8_t io_limit;
	uint16_t secondary_status;
	uint16_t mem_base;
	uint16_t mem_limit;
	uint16_t pref_base;
	uint16_t pref_limit;
	uint32_t pref_base_upper32;
	uint32_t pref_limit_upper32;
	uint16_t io_base_upper16;
	uint16_t io_limit_upper16;
	uint8_t capabilities;
	uint8_t reserved[3];
	uint32_t rom_address;
	uint8_t interrupt_line;
	uint8_t interrupt_pin;
	uint16_t bridge_control;
} __attribute__((packed));

_Static_assert(sizeof(struct pci_bridge_header) == PCI_STD_HEADER_SIZEOF, "type 1 header");
_Static_assert(offsetof(struct pci_bridge_header, primary_bus) == PCI_PRIMARY_BUS, "buses");
_Static_assert(offsetof(struct pci_bridge_header, io_base) == PCI_IO_BASE, "I/O base");
_Static_assert(offsetof(struct pci_bridge_header, secondary_status) == PCI_SEC_STATUS, "ssts");
_Static_assert(offsetof(struct pci_bridge_header, mem_base) == PCI_MEMORY_BASE, "mem base");
_Static_assert(offsetof(struct pci_bridge_header, pref_base) == PCI_PREF_MEMORY_BASE, "pref");
_Static_assert(offsetof(struct pci_bridge_header, pref_base_upper32) == PCI_PREF_BASE_UPPER32,
	       "pref upper");
_Static_assert(offsetof(struct pci_bridge_header, io_base_upper16) == PCI_IO_BASE_UPPER16,
	       "I/O upper");
_Static_assert(offsetof(struct pci_bridge_header, capabilities) == PCI_CAPABILITY_LIST, "caps");
_Static_assert(offsetof(struct pci_bridge_header, rom_address) == PCI_ROM_ADDRESS1, "ROM");
_Static_assert(offsetof(struct pci_bridge_header, bridge_control) == PCI_BRIDGE_CONTROL, "bctl");

struct pci_pm_cap {
	uint8_t id;
	uint8_t next;
	uint16_t pmc;
	uint16_t pmcsr;
	uint8_t bridge_ext;
	uint8_t data;
} __attribute__((packed));

_Static_assert(sizeof(struct pci_pm_cap) == PCI_PM_SIZEOF, "PM capability");
_Static_assert(offsetof(struct pci_pm_cap, pmcsr) == PCI_PM_CTRL, "PMCSR");

/* The PCI Express capability, version 2, all of it. */
struct pcie_cap {
	uint8_t id;
	uint8_t next;
	uint16_t flags;
	uint32_t devcap;
	uint16_t devctl;
	uint16_t devsta;
	uint32_t lnkcap;
	uint16_t lnkctl;
	uint16_t lnksta;
	uint32_t sltcap;
	uint16_t sltctl;
	uint16_t sltsta;
	uint16_t rtctl;
	uint16_t rtcap;
	uint32_t rtsta;
	uint32_t devcap2;
	uint16_t devctl2;
	uint16_t devsta2;
	uint32_t lnkcap2;
	uint16_t lnkctl2;
	uint16_t lnksta2;
	uint32_t sltcap2;
	uint16_t sltctl2;
	uint16_t sltsta2;
} __attribute__((packed));

_Static_assert(sizeof(struct pcie_cap) == PCI_EXP_SLTSTA2 + 2, "PCIe capability v2");
_Static_assert(offsetof(struct pcie_cap, devcap) == PCI_EXP_DEVCAP, "DevCap");
_Static_assert(offsetof(struct pcie_cap, lnkcap) == PCI_EXP_LNKCAP, "LnkCap");
_Static_assert(offsetof(struct pcie_cap, lnksta) == PCI_EXP_LNKSTA, "LnkSta");
_Static_assert(offsetof(struct pcie_cap, sltcap) == PCI_EXP_SLTCAP, "SltCap");
_Static_assert(offsetof(struct pcie_cap, sltsta) == PCI_EXP_SLTSTA, "SltSta");
_Static_assert(offsetof(struct pcie_cap, rtctl) == PCI_EXP_RTCTL, "RootCtl");
_Static_assert(offsetof(struct pcie_cap, rtsta) == PCI_EXP_RTSTA, "RootSta");
_Static_assert(offsetof(struct pcie_cap, devcap2) == PCI_EXP_DEVCAP2, "DevCap2");
_Static_assert(offsetof(struct pcie_cap, lnkcap2) == PCI_EXP_LNKCAP2, "LnkCap2");
_Static_assert(offsetof(struct pcie_cap, sltctl2) == PCI_EXP_SLTCTL2, "SltCtl2");

struct pcie_acs_cap {
	uint32_t header;
	uint16_t cap;
	uint16_t ctrl;
} __attribute__((packed));

_Static_assert(offsetof(struct pcie_acs_cap, cap) == PCI_ACS_CAP, "ACS cap");
_Static_assert(offsetof(struct pcie_acs_cap, ctrl) == PCI_ACS_CTRL, "ACS ctrl");

/* A bridge's subsystem ids: the type 1 header has no room for them. */
struct pci_ssvid_cap {
	uint8_t id;
	uint8_t next;
	uint16_t reserved;
	uint16_t subsystem_vendor_id;
	uint16_t subsystem_id;
} __attribute__((packed));

_Static_assert(offsetof(struct pci_ssvid_cap, subsystem_vendor_id) == PCI_SSVID_VENDOR_ID,
	       "SSVID vendor");
_Static_assert(offsetof(struct pci_ssvid_cap, subsystem_id) == PCI_SSVID_DEVICE_ID, "SSVID");

/* MSI with a 64-bit address, one vector, no per-vector masking. */
struct pci_msi64_cap {
	uint8_t id;
	uint8_t next;
	uint16_t flags;
	uint32_t address_lo;
	uint32_t address_hi;
	uint16_t data;
	uint16_t reserved; /* pads the next capability to a dword */
} __attribute__((packed));

_Static_assert(offsetof(struct pci_msi64_cap, flags) == PCI_MSI_FLAGS, "MSI control");
_Static_assert(offsetof(struct pci_msi64_cap, address_lo) == PCI_MSI_ADDRESS_LO, "MSI addr");
_Static_assert(offsetof(struct pci_msi64_cap, address_hi) == PCI_MSI_ADDRESS_HI, "MSI hi");
_Static_assert(offsetof(struct pci_msi64_cap, data) == PCI_MSI_DATA_64, "MSI data");

/*
 * Red Hat's resource reservation hint, a vendor-specific capability (QEMU's
 * docs/pcie_pci_bridge.txt): OVMF's PciHotPlugInitDxe takes it from a 1b36
 * bridge whose capability is exactly this long and of type 1. Per field,
 * 0 reserves nothing and all ones leaves the firmware's default.
 */
struct rp_resv_cap {
	uint8_t id;
	uint8_t next;
	uint8_t len;
	uint8_t type;
	uint32_t bus;
	uint64_t io;
	uint32_t mem;
	uint32_t pref32;
	uint64_t pref64;
} __attribute__((packed));

_Static_assert(sizeof(struct rp_resv_cap) == 32, "the length OVMF insists on");
_Static_assert(offsetof(struct rp_resv_cap, bus) == 4, "bus numbers");
_Static_assert(offsetof(struct rp_resv_cap, io) == 8, "I/O");
_Static_assert(offsetof(struct rp_resv_cap, mem) == 16, "32-bit memory");
_Static_assert(offsetof(struct rp_resv_cap, pref32) == 20, "32-bit prefetchable");
_Static_assert(offsetof(struct rp_resv_cap, pref64) == 24, "64-bit prefetchable");

#define RESV_CAP_TYPE_RESOURCE 1

/*
 * The standard list runs PM -> PCI Express -> SSVID, packed after the
 * header; a hot-plug port goes on to MSI -> resource reservation. The
 * bytes of those two are there, zero and read-only, on other ports.
 */
#define RP_PM_CAP    0x40
#define RP_EXP_CAP   0x48
#define RP_SSVID_CAP 0x84
#define RP_MSI_CAP   0x8c
#define RP_RESV_CAP  0x9c
#define RP_EXT_CAP   0x100 /* extended capabilities always start here */

struct root_port_config {
	struct pci_bridge_header hdr;
	struct pci_pm_cap pm;
	struct pcie_cap exp;
	struct pci_ssvid_cap ssvid;
	struct pci_msi64_cap msi;
	struct rp_resv_cap resv;
	uint8_t reserved[RP_EXT_CAP - RP_RESV_CAP - sizeof(struct rp_resv_cap)];
	struct pcie_acs_cap acs;
} __attribute__((packed));

_Static_assert(offsetof(struct root_port_config, pm) == RP_PM_CAP, "PM cap offset");
_Static_assert(offsetof(struct root_port_config, exp) == RP_EXP_CAP, "PCIe cap offset");
_Static_assert(offsetof(struct root_port_config, ssvid) == RP_SSVID_CAP, "SSVID cap offset");
_Static_assert(offsetof(struct root_port_config, msi) == RP_MSI_CAP, "MSI cap offset");
_Static_assert(offsetof(struct root_port_config, resv) == RP_RESV_CAP, "reservation offset");
_Static_assert(offsetof(struct root_port_config, acs) == RP_EXT_CAP, "ACS offset");
_Static_assert(RP_PM_CAP % 4 == 0 && RP_EXP_CAP % 4 == 0 && RP_SSVID_CAP % 4 == 0 &&
	       RP_MSI_CAP % 4 == 0 && RP_RESV_CAP % 4 == 0,
	       "capability pointers are dword-aligned");
_Static_assert(sizeof(struct root_port_config) <= PCI_CFG_SIZE, "fits config space");

#define PM_CAP_VERSION 3 /* PCI PM 1.2 */
#define PM_STATE_D3HOT 3
#define EXP_CAP_VERSION 2
#define EXT_CAP_HEADER(id, ver, next) ((uint32_t)(id) | (uint32_t)(ver) << 16 | \
				       (uint32_t)(next) << 20)

#define CMD_WRITABLE (PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | \
		      PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE)
#define BCTL_VGA_16BIT 0x10
#define BCTL_WRITABLE (PCI_BRIDGE_CTL_PARITY | PCI_BRIDGE_CTL_SERR | PCI_BRIDGE_CTL_ISA | \
		       PCI_BRIDGE_CTL_VGA | BCTL_VGA_16BIT | PCI_BRIDGE_CTL_BUS_RESET)
#define IO_WINDOW_WRITABLE  0xf0   /* address bits 15:12 */
#define MEM_WINDOW_WRITABLE 0xfff0 /* address bits 31:20 */

/* Error reporting enables, relaxed ordering, MPS, no snoop, MRRS. */
#define DEVCTL_WRITABLE 0x78ff
/* The spec's power-on value: relaxed ordering and no snoop on, MRRS 512. */
#define DEVCTL_RESET (PCI_EXP_DEVCTL_RELAX_EN | PCI_EXP_DEVCTL_NOSNOOP_EN | \
		      PCI_EXP_DEVCTL_READRQ_512B)
/* Retrain Link is write-only (reads 0) and RCB is fixed for a root port. */
#define LNKCTL_WRITABLE (PCI_EXP_LNKCTL_ASPMC | PCI_EXP_LNKCTL_LD | PCI_EXP_LNKCTL_CCC | \
			 PCI_EXP_LNKCTL_ES)
#define RTCTL_WRITABLE (PCI_EXP_RTCTL_SECEE | PCI_EXP_RTCTL_SENFEE | PCI_EXP_RTCTL_SEFEE | \
			PCI_EXP_RTCTL_PMEIE)
#define ACS_FEATURES (PCI_ACS_SV | PCI_ACS_TB | PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_UF)
#define LNKCAP_MLW_X1    0x00000010u
#define LNKCAP_PN_SHIFT  24
#define SLTCAP_PSN_SHIFT 19

/*
 * A hot-plug slot: no MRL, no power fault detection, no interlock.
 * Hot-Plug Surprise stays clear, so Linux uses the button (and its 5 s
 * of grace) rather than taking presence alone as a removal; a card pulled
 * without asking still reaches it as a link-down event. No Command
 * Completed Support stays clear too: every Slot Control write completes
 * at once, so pciehp's wait before its next command returns at once.
 */
#define SLTCAP_HOTPLUG (PCI_EXP_SLTCAP_ABP | PCI_EXP_SLTCAP_PCP | PCI_EXP_SLTCAP_AIP | \
			PCI_EXP_SLTCAP_PIP | PCI_EXP_SLTCAP_HPC)
#define SLTCTL_HOTPLUG_WRITABLE (PCI_EXP_SLTCTL_ABPE | PCI_EXP_SLTCTL_PDCE | \
				 PCI_EXP_SLTCTL_CCIE | PCI_EXP_SLTCTL_HPIE | \
				 PCI_EXP_SLTCTL_AIC | PCI_EXP_SLTCTL_PIC | PCI_EXP_SLTCTL_PCC | \
				 PCI_EXP_SLTCTL_DLLSCE)
/* The events this slot records; each is cleared by writing 1 to it. */
#define SLTSTA_EVENTS (PCI_EXP_SLTSTA_ABP | PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_CC | \
		       PCI_EXP_SLTSTA_DLLSC)
#define MSI_ADDRESS_LO_WRITABLE 0xfffffffcu

struct pcie_root_port {
	struct pci_device pci;
	void (*bus_reset)(void *opaque);
	void *opaque;
	uint8_t port_number;
	bool multifunction;
	bool present; /* a device is wired below */
	/* The link to what is below: speed (1 = 2.5 GT/s ... 6 = 64 GT/s) and lanes. */
	uint8_t link_speed, link_width;
	bool hotplug; /* pcie_root_port_set_hotplug() was called: hp holds the hooks */
	struct pcie_root_port_hotplug hp;
	/* The interrupt as last delivered: INTA's level, and whether an MSI is outstanding. */
	bool intx_level;
	bool msi_fired;
};

static struct root_port_config *rp_config(uint8_t *space)
{
	return (struct root_port_config *)space;
}

static const struct root_port_config *rp_config_const(const uint8_t *space)
{
	return (const struct root_port_config *)space;
}

/* A slot without a power controller is always powered. */
static bool rp_slot_powered(const struct pcie_root_port *rp)
{
	return !rp->hotplug ||
	       !(rp_config_const(rp->pci.cfg)->exp.sltctl & PCI_EXP_SLTCTL_PCC);
}

/*
 * The link is up while something is wired below, the slot is powered and
 * the guest has not disabled the link. events: on a hot-plug slot, record
 * a change of presence or of the link as Slot Status events (not when
 * config space is being built: nothing changed then).
 */
static void rp_update_link(struct pcie_root_port *rp, bool events)
{
	struct pcie_cap *exp = &rp_config(rp->pci.cfg)->exp;
	bool up = rp->present && rp_slot_powered(rp) && !(exp->lnkctl & PCI_EXP_LNKCTL_LD);
	bool was_up = exp->lnksta & PCI_EXP_LNKSTA_DLLLA;
	bool was_present = exp->sltsta & PCI_EXP_SLTSTA_PDS;
	uint16_t ev = 0;

	if (events && rp->hotplug) {
		ev |= up != was_up ? PCI_EXP_SLTSTA_DLLSC : 0;
		ev |= rp->present != was_present ? PCI_EXP_SLTSTA_PDC : 0;
	}
	exp->lnksta = (uint16_t)((exp->lnksta & ~PCI_EXP_LNKSTA_DLLLA) |
				 (up ? PCI_EXP_LNKSTA_DLLLA : 0));
	exp->sltsta = (uint16_t)((exp->sltsta & ~PCI_EXP_SLTSTA_PDS) |
				 (rp->present ? PCI_EXP_SLTSTA_PDS : 0) | ev);
}

/* The hot-plug interrupt condition (PCIe base spec 6.7.3.4). */
static bool rp_hotplug_condition(const struct pcie_cap *exp)
{
	uint16_t on = exp->sltctl, ev = exp->sltsta;

	if (!(on & PCI_EXP_SLTCTL_HPIE))
		return false;
	/* ABP, PDC and CC sit at the bits of their enables; DLLSC does not. */
	return (ev & on & (PCI_EXP_SLTSTA_ABP | PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_CC)) ||
	       ((ev & PCI_EXP_SLTSTA_DLLSC) && (on & PCI_EXP_SLTCTL_DLLSCE));
}

static void rp_send_msi(struct pcie_root_port *rp)
{
	const struct pci_msi64_cap *msi = &rp_config_const(rp->pci.cfg)->msi;

	if (rp->hp.msi)
		rp->hp.msi(rp->hp.opaque, (uint64_t)msi->address_hi << 32 | msi->address_lo,
			   msi->data);
}

/*
 * Delivers the hot-plug interrupt as the condition and the guest's
 * settings now say. MSI is an edge: one message each time the condition
 * becomes true while MSI and bus mastering are on. rewritten: the guest
 * has just written Slot Status; if the condition is still true after that
 * (an event arrived between its read and its write-back), it gets another
 * message, so that no event waits for one that never comes. With MSI off,
 * INTA's level follows the condition, unless Interrupt Disable is set.
 */
static void rp_update_irq(struct pcie_root_port *rp, bool rewritten)
{
	struct root_port_config *c = rp_config(rp->pci.cfg);
	bool cond, msi_on, fire, level;

	if (!rp->hotplug)
		return;
	cond = rp_hotplug_condition(&c->exp);
	msi_on = c->msi.flags & PCI_MSI_FLAGS_ENABLE;
	fire = cond && msi_on && (c->hdr.command & PCI_COMMAND_MASTER);
	if (fire && (!rp->msi_fired || rewritten))
		rp_send_msi(rp);
	rp->msi_fired = fire;
	c->hdr.status = (uint16_t)((c->hdr.status & ~PCI_STATUS_INTERRUPT) |
				   (cond && !msi_on ? PCI_STATUS_INTERRUPT : 0));
	level = cond && !msi_on && !(c->hdr.command & PCI_COMMAND_INTX_DISABLE);
	if (level != rp->intx_level)
		irq_line_set(&rp->hp.intx, level);
	rp->intx_level = level;
}

static bool rp_touches(unsigned offset, unsigned size, unsigned reg, unsigned reg_size)
{
	return offset < reg + reg_size && offset + size > reg;
}

/* The bits an access of size bytes at offset wrote to the 16-bit register at reg. */
static uint16_t rp_written16(unsigned offset, unsigned size, uint32_t value, unsigned reg)
{
	uint16_t bits = 0;

	for (unsigned i = 0; i < 2; i++)
		if (rp_touches(offset, size, reg + i, 1))
			bits |= (uint16_t)(((value >> (8 * (reg + i - offset))) & 0xff) << (8 * i));
	return bits;
}

/*
 * Slot Status events are RW1C; any write to Slot Control is a command,
 * which completes at once (Command Completed), and a change of Power
 * Controller Control is the guest switching the slot (1 is off).
 */
static void rp_slot_write(struct pcie_root_port *rp, unsigned offset, unsigned size,
			  uint32_t value, uint16_t old_sltctl)
{
	struct pcie_cap *exp = &rp_config(rp->pci.cfg)->exp;
	unsigned sltsta = RP_EXP_CAP + PCI_EXP_SLTSTA, sltctl = RP_EXP_CAP + PCI_EXP_SLTCTL;
	bool on = !(exp->sltctl & PCI_EXP_SLTCTL_PCC);

	if (rp_touches(offset, size, sltsta, 2))
		exp->sltsta &= (uint16_t)~(rp_written16(offset, size, value, sltsta) & SLTSTA_EVENTS);
	if (!rp_touches(offset, size, sltctl, 2))
		return;
	exp->sltsta |= PCI_EXP_SLTSTA_CC;
	if ((exp->sltctl ^ old_sltctl) & PCI_EXP_SLTCTL_PCC) {
		rp_debug(rp, "slot power %s", on ? "on" : "off");
		if (rp->hp.power)
			rp->hp.power(rp->hp.opaque, on);
	}
}

/*
 * Only D0 and D3hot exist (D1 and D2 are not advertised): the spec has
 * a write of an unsupported state complete with no state change.
 */
static void rp_fix_power_state(struct pcie_root_port *rp, uint16_t old_pmcsr)
{
	struct pci_pm_cap *pm = &rp_config(rp->pci.cfg)->pm;
	unsigned state = pm->pmcsr & PCI_PM_CTRL_STATE_MASK;

	if (state == 0 || state == PM_STATE_D3HOT)
		return;
	rp_debug(rp, "D%u is not supported, staying in D%u", state,
		 old_pmcsr & PCI_PM_CTRL_STATE_MASK);
	pm->pmcsr = (uint16_t)((pm->pmcsr & ~PCI_PM_CTRL_STATE_MASK) |
			       (old_pmcsr & PCI_PM_CTRL_STATE_MASK));
}

static void rp_cfg_write(struct pci_device *dev, unsigned offset, unsigned size,
			 uint32_t value)
{
	struct pcie_root_port *rp = dev->opaque;
	struct root_port_config *c = rp_config(dev->cfg);
	uint16_t old_bctl = c->hdr.bridge_control;
	uint16_t old_pmcsr = c->pm.pmcsr;
	uint16_t old_sltctl = c->exp.sltctl;

	pci_default_cfg_write(dev, offset, size, value);
	rp_fix_power_state(rp, old_pmcsr);
	if (rp->hotplug)
		rp_slot_write(rp, offset, size, value, old_sltctl);
	rp_update_link(rp, true);
	rp_update_irq(rp, rp_touches(offset, size, RP_EXP_CAP + PCI_EXP_SLTSTA, 2));
	if ((c->hdr.bridge_control & ~old_bctl & PCI_BRIDGE_CTL_BUS_RESET) && rp->bus_reset)
		rp->bus_reset(rp->opaque);
}

static const struct pci_device_ops pcie_root_port_ops = {
	.name = RP_NAME,
	.cfg_write = rp_cfg_write,
};

static void rp_init_header(struct pcie_root_port *rp)
{
	struct pci_bridge_header *h = &rp_config(rp->pci.cfg)->hdr;
	struct pci_bridge_header *w = &rp_config(rp->pci.wmask)->hdr;

	pci_set_ids(&rp->pci, PCIE_ROOT_PORT_VENDOR_ID, PCIE_ROOT_PORT_DEVICE_ID,
		    RP_CLASS_PCI_BRIDGE,
		    PCI_HEADER_TYPE_BRIDGE | (rp->multifunction ? HEADER_MULTIFUNCTION : 0));
	w->command = CMD_WRITABLE;
	h->status = PCI_STATUS_CAP_LIST;
	w->cache_line_size = 0xff;
	w->primary_bus = w->secondary_bus = w->subordinate_bus = 0xff;
	h->io_base = h->io_limit = PCI_IO_RANGE_TYPE_16;
	w->io_base = w->io_limit = IO_WINDOW_WRITABLE;
	w->mem_base = w->mem_limit = MEM_WINDOW_WRITABLE;
	h->pref_base = h->pref_limit = PCI_PREF_RANGE_TYPE_64;
	w->pref_base = w->pref_limit = MEM_WINDOW_WRITABLE;
	w->pref_base_upper32 = w->pref_limit_upper32 = 0xffffffff;
	h->capabilities = RP_PM_CAP;
	w->interrupt_line = 0xff;
	h->interrupt_pin = RP_INTERRUPT_PIN;
	w->bridge_control = BCTL_WRITABLE;
}

static void rp_init_pm(struct pcie_root_port *rp)
{
	struct pci_pm_cap *pm = &rp_config(rp->pci.cfg)->pm;

	pm->id = PCI_CAP_ID_PM;
	pm->next = RP_EXP_CAP;
	pm->pmc = PM_CAP_VERSION;
	/* Config space survives D3hot: nothing is reset on the way back. */
	pm->pmcsr = PCI_PM_CTRL_NO_SOFT_RESET;
	rp_config(rp->pci.wmask)->pm.pmcsr = PCI_PM_CTRL_STATE_MASK;
}

static void rp_init_exp(struct pcie_root_port *rp)
{
	struct pcie_cap *exp = &rp_config(rp->pci.cfg)->exp;
	struct pcie_cap *w = &rp_config(rp->pci.wmask)->exp;

	exp->id = PCI_CAP_ID_EXP;
	exp->next = RP_SSVID_CAP;
	exp->flags = EXP_CAP_VERSION | PCI_EXP_TYPE_ROOT_PORT << 4 | PCI_EXP_FLAGS_SLOT;
	exp->devcap = PCI_EXP_DEVCAP_RBER; /* max payload 128 bytes */
	exp->devctl = DEVCTL_RESET;
	w->devctl = DEVCTL_WRITABLE;
	exp->lnkcap = rp->link_speed | (uint32_t)rp->link_width << 4 |
		      PCI_EXP_LNKCAP_DLLLARC | (uint32_t)rp->port_number << LNKCAP_PN_SHIFT;
	w->lnkctl = LNKCTL_WRITABLE;
	exp->lnksta = (uint16_t)(rp->link_speed | rp->link_width << 4);
	/* Supported Link Speeds Vector: every speed up to the link's. */
	exp->lnkcap2 = (uint32_t)((1u << rp->link_speed) - 1) << 1;
	exp->sltcap = (uint32_t)rp->port_number << SLTCAP_PSN_SHIFT;
	w->sltctl = PCI_EXP_SLTCTL_DLLSCE;
	w->rtctl = RTCTL_WRITABLE;
}

static void rp_init_ssvid(struct pcie_root_port *rp)
{
	struct pci_ssvid_cap *ssvid = &rp_config(rp->pci.cfg)->ssvid;

	ssvid->id = PCI_CAP_ID_SSVID;
	ssvid->next = 0;
	ssvid->subsystem_vendor_id = PCI_VMM_SUBSYS_VENDOR;
	ssvid->subsystem_id = PCI_VMM_SUBSYS_ID;
}

static void rp_init_msi(struct pcie_root_port *rp)
{
	struct pci_msi64_cap *msi = &rp_config(rp->pci.cfg)->msi;
	struct pci_msi64_cap *w = &rp_config(rp->pci.wmask)->msi;

	msi->id = PCI_CAP_ID_MSI;
	msi->next = RP_RESV_CAP;
	/* One vector: Multiple Message Enable stays 0, as software must leave it. */
	msi->flags = PCI_MSI_FLAGS_64BIT;
	w->flags = PCI_MSI_FLAGS_ENABLE;
	w->address_lo = MSI_ADDRESS_LO_WRITABLE;
	w->address_hi = 0xffffffff;
	w->data = 0xffff;
}

/* A 64-bit prefetchable reservation, never a 32-bit one: OVMF takes one or the other. */
static void rp_init_resv(struct pcie_root_port *rp)
{
	struct rp_resv_cap *r = &rp_config(rp->pci.cfg)->resv;

	r->id = PCI_CAP_ID_VNDR;
	r->next = 0;
	r->len = sizeof(*r);
	r->type = RESV_CAP_TYPE_RESOURCE;
	r->bus = rp->hp.bus_reserve;
	r->io = rp->hp.io_reserve;
	r->mem = rp->hp.mem_reserve;
	r->pref32 = 0;
	r->pref64 = rp->hp.pref64_reserve;
}

/*
 * Power-on state of the slot, as Linux's pciehp expects to find it: an
 * occupied slot powered with its power indicator on, an empty one off
 * (pciehp would switch an empty powered slot off itself); attention off.
 */
static void rp_init_slot_power(struct pcie_root_port *rp)
{
	struct pcie_cap *exp = &rp_config(rp->pci.cfg)->exp;

	exp->sltctl = (uint16_t)((exp->sltctl & ~(PCI_EXP_SLTCTL_AIC | PCI_EXP_SLTCTL_PIC |
						  PCI_EXP_SLTCTL_PCC)) |
				 PCI_EXP_SLTCTL_ATTN_IND_OFF |
				 (rp->present ? PCI_EXP_SLTCTL_PWR_IND_ON :
						PCI_EXP_SLTCTL_PWR_IND_OFF | PCI_EXP_SLTCTL_PWR_OFF));
}

static void rp_init_hotplug(struct pcie_root_port *rp)
{
	rp_config(rp->pci.cfg)->ssvid.next = RP_MSI_CAP;
	rp_init_msi(rp);
	rp_init_resv(rp);
	rp_config(rp->pci.cfg)->exp.sltcap |= SLTCAP_HOTPLUG;
	rp_config(rp->pci.wmask)->exp.sltctl = SLTCTL_HOTPLUG_WRITABLE;
	rp_init_slot_power(rp);
}

static void rp_init_acs(struct pcie_root_port *rp)
{
	struct pcie_acs_cap *acs = &rp_config(rp->pci.cfg)->acs;

	acs->header = EXT_CAP_HEADER(PCI_EXT_CAP_ID_ACS, 1, 0);
	acs->cap = ACS_FEATURES;
	rp_config(rp->pci.wmask)->acs.ctrl = ACS_FEATURES;
}

static void rp_init_config(struct pcie_root_port *rp, uint8_t devfn)
{
	pci_device_init(&rp->pci, &pcie_root_port_ops, rp, devfn);
	rp_init_header(rp);
	rp_init_pm(rp);
	rp_init_exp(rp);
	rp_init_ssvid(rp);
	rp_init_acs(rp);
	if (rp->hotplug)
		rp_init_hotplug(rp);
	rp_update_link(rp, false);
}

struct pcie_root_port *pcie_root_port_new(uint8_t devfn, uint8_t port_number,
					  bool multifunction, void (*bus_reset)(void *opaque),
					  void *opaque)
{
	struct pcie_root_port *rp = calloc(1, sizeof(*rp));

	if (!rp)
		return NULL;
	rp->bus_reset = bus_reset;
	rp->opaque = opaque;
	rp->port_number = port_number;
	rp->multifunction = multifunction;
	rp->link_speed = 1; /* 2.5 GT/s x1 until told what is below */
	rp->link_width = 1;
	rp_init_config(rp, devfn);
	return rp;
}

struct pci_device *pcie_root_port_pci(struct pcie_root_port *rp)
{
	return &rp->pci;
}

uint8_t pcie_root_port_secondary_bus(const struct pcie_root_port *rp)
{
	return rp_config_const(rp->pci.cfg)->hdr.secondary_bus;
}

uint8_t pcie_root_port_subordinate_bus(const struct pcie_root_port *rp)
{
	return rp_config_const(rp->pci.cfg)->hdr.subordinate_bus;
}

void pcie_root_port_set_link(struct pcie_root_port *rp, unsigned speed, unsigned width)
{
	struct pcie_cap *exp = &rp_config(rp->pci.cfg)->exp;

	if (speed < 1 || speed > 6 || width < 1 || width > 32)
		return;
	rp->link_speed = (uint8_t)speed;
	rp->link_width = (uint8_t)width;
	exp->lnkcap = (exp->lnkcap & ~(uint32_t)(PCI_EXP_LNKCAP_SLS | PCI_EXP_LNKCAP_MLW)) |
		      speed | (uint32_t)width << 4;
	exp->lnksta = (uint16_t)((exp->lnksta & ~(PCI_EXP_LNKSTA_CLS | PCI_EXP_LNKSTA_NLW)) |
				 speed | width << 4);
	exp->lnkcap2 = (uint32_t)((1u << speed) - 1) << 1;
}

void pcie_root_port_set_present(struct pcie_root_port *rp, bool present)
{
	rp->present = present;
	if (rp->hotplug)
		rp_init_slot_power(rp);
	rp_update_link(rp, false);
}

void pcie_root_port_set_hotplug(struct pcie_root_port *rp,
				const struct pcie_root_port_hotplug *hp)
{
	if (!hp)
		return;
	rp->hp = *hp;
	rp->hotplug = true;
	rp_init_config(rp, rp->pci.devfn);
	rp->intx_level = rp->msi_fired = false;
}

void pcie_root_port_hotplug_add(struct pcie_root_port *rp)
{
	if (!rp->hotplug)
		return;
	rp->present = true;
	rp_update_link(rp, true);
	rp_update_irq(rp, false);
}

void pcie_root_port_attention_button(struct pcie_root_port *rp)
{
	if (!rp->hotplug)
		return;
	rp_config(rp->pci.cfg)->exp.sltsta |= PCI_EXP_SLTSTA_ABP;
	rp_update_irq(rp, false);
}

/*
 * Which events the guest sees follows from the slot's state, not from
 * surprise: a powered slot loses its link too (DLLSC, the event pciehp
 * listens to when the slot has a button), one the guest switched off
 * only its presence (PDC, which pciehp then ignores).
 */
void pcie_root_port_hotplug_remove(struct pcie_root_port *rp, bool surprise)
{
	if (!rp->hotplug)
		return;
	if (!surprise && rp_slot_powered(rp))
		rp_debug(rp, "removed while the slot is powered: %s", "a surprise to the guest");
	rp->present = false;
	rp_update_link(rp, true);
	rp_update_irq(rp, false);
}

bool pcie_root_port_powered(const struct pcie_root_port *rp)
{
	return rp_slot_powered(rp);
}

bool pcie_root_port_slot_idle(const struct pcie_root_port *rp)
{
	uint16_t ctl = rp_config_const(rp->pci.cfg)->exp.sltctl;

	return rp->hotplug && !rp->present && (ctl & PCI_EXP_SLTCTL_PCC) &&
	       (ctl & PCI_EXP_SLTCTL_PIC) == PCI_EXP_SLTCTL_PWR_IND_OFF;
}

static bool rp_window(uint64_t base, uint64_t limit, uint64_t *base_out, uint64_t *limit_out)
{
	*base_out = base;
	*limit_out = limit;
	return limit >= base;
}

/* 4 KiB granules; the upper-16 registers are hardwired 0 (16-bit decoding). */
bool pcie_root_port_io_window(const struct pcie_root_port *rp, uint64_t *base,
			      uint64_t *limit)
{
	const struct pci_bridge_header *h = &rp_config_const(rp->pci.cfg)->hdr;

	return rp_window((uint64_t)(h->io_base & IO_WINDOW_WRITABLE) << 8,
			 (uint64_t)(h->io_limit & IO_WINDOW_WRITABLE) << 8 | 0xfff, base, limit);
}

/* 1 MiB granules. */
bool pcie_root_port_mem_window(const struct pcie_root_port *rp, uint64_t *base,
			       uint64_t *limit)
{
	const struct pci_bridge_header *h = &rp_config_const(rp->pci.cfg)->hdr;

	return rp_window((uint64_t)(h->mem_base & MEM_WINDOW_WRITABLE) << 16,
			 (uint64_t)(h->mem_limit & MEM_WINDOW_WRITABLE) << 16 | 0xfffff, base,
			 limit);
}

bool pcie_root_port_pref_window(const struct pcie_root_port *rp, uint64_t *base,
				uint64_t *limit)
{
	const struct pci_bridge_header *h = &rp_config_const(rp->pci.cfg)->hdr;
	uint64_t lo_base = (uint64_t)(h->pref_base & MEM_WINDOW_WRITABLE) << 16;
	uint64_t lo_limit = (uint64_t)(h->pref_limit & MEM_WINDOW_WRITABLE) << 16 | 0xfffff;

	return rp_window((uint64_t)h->pref_base_upper32 << 32 | lo_base,
			 (uint64_t)h->pref_limit_upper32 << 32 | lo_limit, base, limit);
}

void pcie_root_port_reset(struct pcie_root_port *rp)
{
	bool was_powered = rp_slot_powered(rp);

	rp_init_config(rp, rp->pci.devfn);
	rp_update_irq(rp, false);
	if (rp_slot_powered(rp) != was_powered && rp->hp.power)
		rp->hp.power(rp->hp.opaque, !was_powered);
}

void pcie_root_port_free(struct pcie_root_port *rp)
{
	free(rp);
}
