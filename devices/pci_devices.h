/* SPDX-License-Identifier: MIT */
#ifndef DEVICES_PCI_DEVICES_H
#define DEVICES_PCI_DEVICES_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The PCI functions of the Q35-like platform.
 * Each model owns a struct pci_device (core/pci.h) that the VMM adds to
 * the PCI bus with pci_bus_add(). Config-space hooks run with the bus
 * lock held; the callbacks below are called from those hooks, so they
 * only note what changed (they must not call pci_cfg_*) and the VMM acts
 * on it afterwards.
 *
 * The getters and setters read or change config space: call them with
 * pci_bus.lock held, or while no vCPU runs.
 */

#include "../core/pci.h"
#include "../core/platform.h"

struct power_ctl;

/*
 * The Q35 host bridge (MCH) at 00:00.0: 8086:29c0, class 0600, with the
 * registers firmware programs: PCIEXBAR (the ECAM window, off at reset;
 * a change calls pci->ecam_changed), PAM0..6, SMRAM and ESMRAMC (plain
 * storage: guest RAM is always RAM here, and there is no SMM). It also
 * answers the ICH9 reset control register at 0xCF9 (a byte in the 0xCF8
 * window the PCI core decodes): RST_CPU asks power for a reset. power may
 * be NULL. The VMM adds &h->mch with pci_bus_add().
 */
struct q35_host {
	struct pci_device mch;
	struct pci_bus *pci;
	const struct power_ctl *power;
	uint8_t rcr; /* SYS_RST and FULL_RST as last written; atomic */
};

void q35_host_init(struct q35_host *h, struct pci_bus *pci, const struct power_ctl *power);

/*
 * ICH9 LPC/ISA bridge at 00:1f.0: 8086:2918, class 0601, multifunction
 * header, revision 2. What a Q35 guest programs here:
 *   0x40 PMBASE     bits 15:7 the base of the 128-port ACPI PM I/O block,
 *                   bit 0 reads 1 (I/O space)
 *   0x44 ACPI_CNTL  bit 7 ACPI_EN (decode PMBASE), bits 2:0 SCI IRQ
 *   0x60-0x63, 0x68-0x6b  PIRQ[A-H] routing: bit 7 disables, bits 3:0 IRQ
 *   0xa0-0xa2, 0xa4 GEN_PMCON_1..3, kept but without effect
 *   0xf0 RCBA       reads 0: no root complex register block
 * Everything else is read-only.
 */
#define LPC_ICH9_DEVFN     0xf8 /* 00:1f.0 */
#define LPC_ICH9_DEVICE_ID 0x2918
#define LPC_ICH9_PM_LEN    128  /* ports decoded at PMBASE */

struct lpc_ich9;

/*
 * pm_changed (may be NULL) is called when the decoded PM block changes:
 * when ACPI_EN flips, or when the base moves while ACPI_EN is set; never
 * for a write that changes neither. enabled is ACPI_EN, base is
 * PMBASE & 0xff80 (also while disabled). NULL with errno set on failure.
 */
struct lpc_ich9 *lpc_ich9_new(uint8_t devfn, void (*pm_changed)(void *opaque, bool enabled,
								 uint16_t base),
			      void *opaque);
struct pci_device *lpc_ich9_pci(struct lpc_ich9 *lpc);
/* ACPI_EN and PMBASE & 0xff80 as they are now. */
void lpc_ich9_pm_state(const struct lpc_ich9 *lpc, bool *enabled, uint16_t *base);
/*
 * The IRQ the SCI is routed to by ACPI_CNTL bits 2:0 (9, 10, 11, 20, 21,
 * 22 or 23), or -EINVAL for the reserved encoding 3.
 */
int lpc_ich9_sci_irq(const struct lpc_ich9 *lpc);
/*
 * Back to power-on values (PMBASE 1, ACPI_CNTL 0, PIRQs 0x80). Calls
 * pm_changed if that turns off a decoded PM block.
 */
void lpc_ich9_reset(struct lpc_ich9 *lpc);
/* NULL is a no-op. */
void lpc_ich9_free(struct lpc_ich9 *lpc);

/*
 * A PCI Express root port (type 1 header) on bus 0: 1b36:000c, class
 * 0604, interrupt pin INTA. Capabilities: power management (D0 and
 * D3hot), then PCI Express v2 (root port, slot implemented but not
 * hot-plug capable, 2.5 GT/s x1, link-active reporting), then the
 * bridge subsystem ids (1af4:1100); extended: ACS. A hot-plug port
 * (pcie_root_port_set_hotplug) goes on from SSVID to MSI at 0x8c and the
 * resource reservation capability at 0x9c.
 * The port number doubles as the physical slot number. I/O decoding is
 * 16-bit, the prefetchable window 64-bit.
 */
#define PCIE_ROOT_PORT_VENDOR_ID 0x1b36 /* Red Hat, Inc. */
#define PCIE_ROOT_PORT_DEVICE_ID 0x000c

struct pcie_root_port;

/*
 * bus_reset (may be NULL) is called once each time the guest asserts
 * Secondary Bus Reset (bridge control bit 6 going from 0 to 1): the
 * moment the devices below are reset. Clearing the bit calls nothing.
 * NULL with errno set on failure.
 */
struct pcie_root_port *pcie_root_port_new(uint8_t devfn, uint8_t port_number,
					  bool multifunction, void (*bus_reset)(void *opaque),
					  void *opaque);
struct pci_device *pcie_root_port_pci(struct pcie_root_port *rp);
uint8_t pcie_root_port_secondary_bus(const struct pcie_root_port *rp);
uint8_t pcie_root_port_subordinate_bus(const struct pcie_root_port *rp);
/*
 * Whether a device sits below the port: Presence Detect State in Slot
 * Status and, unless the guest set Link Disable (or switched a hot-plug
 * slot off), Data Link Layer Link Active in Link Status. The port starts
 * empty. This is wiring, before the guest looks: no event is recorded,
 * and a hot-plug slot's power follows as at reset. While the guest runs,
 * use pcie_root_port_hotplug_add/remove instead.
 */
void pcie_root_port_set_present(struct pcie_root_port *rp, bool present);
/*
 * The link to the device below, as Link Capabilities, Link Status and the
 * Supported Link Speeds Vector say: speed 1 (2.5 GT/s) to 6 (64 GT/s),
 * width 1 to 32 lanes; anything else is ignored. It starts at 2.5 GT/s x1
 * and, being wiring, survives a reset.
 */
void pcie_root_port_set_link(struct pcie_root_port *rp, unsigned speed, unsigned width);

/*
 * The windows the guest programmed, inclusive: [*base, *limit]. True when
 * the window is open, false when it is empty (limit < base). These are
 * the base/limit registers only: whether the port forwards at all is up
 * to the I/O and memory enables of its command register.
 */
bool pcie_root_port_io_window(const struct pcie_root_port *rp, uint64_t *base,
			      uint64_t *limit);
bool pcie_root_port_mem_window(const struct pcie_root_port *rp, uint64_t *base,
			       uint64_t *limit);
bool pcie_root_port_pref_window(const struct pcie_root_port *rp, uint64_t *base,
				uint64_t *limit);

/*
 * Native PCIe hot-plug, as Linux's pciehp drives it (PCIe base spec 6.7):
 * the slot capability with an attention button, a power controller,
 * attention and power indicators, presence detect and link-active
 * reporting; Slot Control and RW1C Slot Status; an MSI capability for the
 * port's hot-plug interrupt, INTA when MSI is off. The port also carries
 * the resource reservation capability (vendor-specific, Red Hat's layout,
 * the one QEMU's pcie-root-port has), which OVMF's PciHotPlugInitDxe reads
 * to leave bus numbers and windows for a device that is not there yet.
 *
 * Every call below, like a guest config access, runs under the PCI bus
 * lock; the hooks are called with it held and must not take it (nor call
 * pci_cfg_*): they note what happened, the VMM acts on it afterwards.
 *
 * The slot has no Hot-Plug Surprise and emulates Command Completed (every
 * Slot Control write completes at once). Linux's pciehp, given a button,
 * listens to the button and to link changes only, not to presence:
 *   hot-add: put the device behind the port, pcie_root_port_hotplug_add(),
 *     then pcie_root_port_attention_button(). About 5 s later the guest
 *     switches the slot on (power(on)), the link comes up and it scans.
 *   unplug: pcie_root_port_attention_button() once. About 5 s later the
 *     guest unbinds the driver and switches the slot off (power(off));
 *     then take the device away and call hotplug_remove(rp, false).
 *     A second press within those 5 s cancels the removal (pciehp's
 *     rule), so press once and wait for power(off).
 *   surprise: take the device away and call hotplug_remove(rp, true);
 *     the link-down event makes the guest drop the device, after which
 *     it switches the slot off too (power(off) for a device already gone).
 */
struct pcie_root_port_hotplug {
	/*
	 * The port's MSI, as the guest programmed it: the VMM injects it. One
	 * message per rise of the hot-plug interrupt condition, and one more
	 * when the guest's write to Slot Status leaves it raised. May be NULL.
	 */
	void (*msi)(void *opaque, uint64_t addr, uint32_t data);
	/* INTA's level while MSI is off (the port's pin through PCI0._PRT). */
	struct irq_line intx;
	/*
	 * The guest switched the slot's power: off is the guest letting go of
	 * the device below (after the attention button, or on its own). Also
	 * called when pcie_root_port_reset() changes it; not by set_hotplug
	 * or set_present (read pcie_root_port_powered() then). May be NULL.
	 */
	void (*power)(void *opaque, bool on);
	void *opaque;
	/* What OVMF keeps behind the port for a later device; 0: nothing of that kind. */
	uint32_t bus_reserve;   /* bus numbers below the port, its own secondary included */
	uint64_t io_reserve;    /* bytes of I/O window */
	uint32_t mem_reserve;   /* bytes of 32-bit non-prefetchable window */
	uint64_t pref64_reserve; /* bytes of 64-bit prefetchable window */
};

/*
 * Makes the slot hot-plug capable; before the guest runs (it rebuilds
 * config space as a reset does; *hp is copied). It is wiring: it survives
 * pcie_root_port_reset(), which also powers the slot on if a device is
 * present and off if not, as set_hotplug itself does.
 */
void pcie_root_port_set_hotplug(struct pcie_root_port *rp, const struct pcie_root_port_hotplug *hp);
/*
 * A device was put behind the port while the guest runs: presence (and
 * the link, while the slot is powered) come up, with Presence Detect
 * Changed and Data Link Layer State Changed events. The three calls below
 * do nothing on a port without set_hotplug.
 */
void pcie_root_port_hotplug_add(struct pcie_root_port *rp);
/* The attention button is pressed: the guest's pciehp then lets go of the device (about 5 s). */
void pcie_root_port_attention_button(struct pcie_root_port *rp);
/*
 * The device behind the port is gone: presence and link go down. surprise:
 * the guest did not power the slot off first, and is told with events as
 * for a card pulled out (Presence Detect Changed and Data Link Layer State
 * Changed); false, after the guest powered it off, it is told only what
 * it expects then (Presence Detect Changed: the link was down already).
 * The events follow from the slot's power, so a false surprise is told
 * the truth too.
 */
void pcie_root_port_hotplug_remove(struct pcie_root_port *rp, bool surprise);
/*
 * Whether the slot's power controller is on (Slot Control's Power
 * Controller Control); always true on a port without set_hotplug.
 */
bool pcie_root_port_powered(const struct pcie_root_port *rp);
/*
 * An empty hot-plug slot the guest is done with: switched off and its
 * power indicator off, as pciehp leaves a slot last when it tears one
 * down (and as a reset leaves an empty one). A card inserted before that
 * meets the guest's teardown half way: its pciehp takes the presence for
 * the new card and the button press after it for a removal request.
 */
bool pcie_root_port_slot_idle(const struct pcie_root_port *rp);

/* Back to power-on config space; the presence flag stays (it is wiring). */
void pcie_root_port_reset(struct pcie_root_port *rp);
/* NULL is a no-op. */
void pcie_root_port_free(struct pcie_root_port *rp);

#endif
