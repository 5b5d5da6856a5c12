// SPDX-License-Identifier: MIT
/*
 * A PCI Express root port: a PCI-to-PCI bridge header whose registers
 * decide which bus numbers and address windows reach the slot below it,
 * plus the capabilities Linux's pcieport and OVMF's PciBusDxe look at.
 *
 * Writable masks follow the PCIe base spec for a root port: registers
 * that "do not apply to PCI Express" (secondary latency timer, master
 * abort mode) are hardwired to 0, and RW1C status bits read 0 because no
 * error or event is ever recorded. The slot is not hot-plug capable:
 * whether a device is present is fixed by the VMM before the guest looks.
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

/* The standard list runs PM -> PCI Express -> SSVID, packed after the header. */
#define RP_PM_CAP    0x40
#define RP_EXP_CAP   0x48
#define RP_SSVID_CAP 0x84
#define RP_EXT_CAP   0x100 /* extended capabilities always start here */

struct root_port_config {
	struct pci_bridge_header hdr;
	struct pci_pm_cap pm;
	struct pcie_cap exp;
	struct pci_ssvid_cap ssvid;
	uint8_t reserved[RP_EXT_CAP - RP_SSVID_CAP - sizeof(struct pci_ssvid_cap)];
	struct pcie_acs_cap acs;
} __attribute__((packed));

_Static_assert(offsetof(struct root_port_config, pm) == RP_PM_CAP, "PM cap offset");
_Static_assert(offsetof(struct root_port_config, exp) == RP_EXP_CAP, "PCIe cap offset");
_Static_assert(offsetof(struct root_port_config, ssvid) == RP_SSVID_CAP, "SSVID cap offset");
_Static_assert(offsetof(struct root_port_config, acs) == RP_EXT_CAP, "ACS offset");
_Static_assert(RP_PM_CAP % 4 == 0 && RP_EXP_CAP % 4 == 0 && RP_SSVID_CAP % 4 == 0,
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

struct pcie_root_port {
	struct pci_device pci;
	void (*bus_reset)(void *opaque);
	void *opaque;
	uint8_t port_number;
	bool multifunction;
	bool present; /* a device is wired below */
	/* The link to what is below: speed (1 = 2.5 GT/s ... 6 = 64 GT/s) and lanes. */
	uint8_t link_speed, link_width;
};

static struct root_port_config *rp_config(uint8_t *space)
{
	return (struct root_port_config *)space;
}

static const struct root_port_config *rp_config_const(const uint8_t *space)
{
	return (const struct root_port_config *)space;
}

/* The link is up while something is wired below and the guest has not disabled it. */
static void rp_update_link(struct pcie_root_port *rp)
{
	struct pcie_cap *exp = &rp_config(rp->pci.cfg)->exp;
	bool up = rp->present && !(exp->lnkctl & PCI_EXP_LNKCTL_LD);

	exp->lnksta = (uint16_t)((exp->lnksta & ~PCI_EXP_LNKSTA_DLLLA) |
				 (up ? PCI_EXP_LNKSTA_DLLLA : 0));
	exp->sltsta = (uint16_t)((exp->sltsta & ~PCI_EXP_SLTSTA_PDS) |
				 (rp->present ? PCI_EXP_SLTSTA_PDS : 0));
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

	pci_default_cfg_write(dev, offset, size, value);
	rp_fix_power_state(rp, old_pmcsr);
	rp_update_link(rp);
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
	rp_update_link(rp);
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
	rp_update_link(rp);
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
	rp_init_config(rp, rp->pci.devfn);
}

void pcie_root_port_free(struct pcie_root_port *rp)
{
	free(rp);
}
