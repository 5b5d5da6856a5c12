/* SPDX-License-Identifier: MIT */
#ifndef VFIO_VFIO_PCI_H
#define VFIO_VFIO_PCI_H

/*
 * A passed-through PCI function as the guest sees it: a pci_device whose
 * config space is the real one with the parts that must stay the VMM's
 * virtualised, and whose BARs reach the real ones.
 *
 * Config space. Read from the device, except what is emulated here:
 *  - the header's identity (ids, class, header type, subsystem, pin) as
 *    snapshot at open; the BARs and the ROM BAR, sized from the regions
 *    VFIO reports and placed wherever the guest puts them (the real
 *    registers keep the host's addresses); the interrupt line;
 *  - the command register, whose I/O, memory, bus-master and INTx-disable
 *    bits also go to the device, which must decode and master for real;
 *  - the capability list: PM, MSI, vendor-specific, PCI Express and MSI-X
 *    stay in it, one of each; every other capability is unlinked and its
 *    bytes read as zeros and take no writes, and the extended capabilities
 *    are hidden, all of extended config space reading as zeros as on a
 *    function that has none; each hidden one is logged once;
 *  - in the PCI Express capability of a root complex integrated endpoint,
 *    the type (an endpoint here, behind a root port) and a link.
 * Writes to the rest (e.g. PCIe device control) go to the device.
 *
 * Interrupts. MSI is emulated: when the guest enables it, each vector
 * gets a GSI routed to the guest's address and data and an irqfd, and
 * VFIO_DEVICE_SET_IRQS hands the device those very eventfds, so the
 * device's interrupt reaches the guest with no userspace hop. MSI-X the
 * same, with msix.c keeping the table, the PBA and the masking: a masked
 * vector signals its own pending eventfd instead, and unmasking delivers
 * what it caught. INTx, while neither is on, is a KVM irqfd with a
 * resample eventfd: the device asserts the guest's line, the guest's EOI
 * unmasks the device, both inside the kernel. MSI's per-vector mask bits,
 * on a device that has them, work like MSI-X's: a masked vector signals a
 * pending eventfd, shown in the pending bits and delivered on unmask.
 *
 * BARs. The whole pages of an mmappable region (or of its sparse areas)
 * become KVM memslots at the guest's address, so the guest reaches the
 * device with no exit, except the pages holding the MSI-X table or PBA.
 * Everything else (those pages, a sub-page BAR, a region VFIO does not let
 * us mmap, an I/O BAR) is trapped and forwarded with pread/pwrite on the
 * device fd. The ROM is read the same way while its BAR decodes, from the
 * device or from the bytes opts gives.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vfio.h"
#include "../core/platform.h"

struct bus;
struct pci_device;
struct vfio_pci;

/* What the user chose for the device; all zero: its own ROM. */
struct vfio_pci_opts {
	bool rom_off;            /* no ROM BAR at all */
	bool no_mmap;            /* no BAR mapped into the guest: every access traps */
	const void *rom;         /* the ROM BAR serves these bytes instead of the device's */
	size_t rom_len;
	/*
	 * The guest reset the function (Secondary Bus Reset on the bridge
	 * above it): reset the device on the host, with no lock held, once
	 * the guest's view of it is back to power-on and it was told to stop
	 * DMA. NULL: the host device is left as it is.
	 */
	void (*host_reset)(void *opaque);
	void *host_reset_opaque;
};

/*
 * Builds the guest's view of the open device d at devfn. multifunction:
 * the guest's slot has other functions (sets the header type's bit 7).
 * opts may be NULL; its ROM bytes must outlive the device. NULL with why
 * filled on failure; d stays the caller's and must outlive the returned
 * device.
 */
struct vfio_pci *vfio_pci_new(struct vfio_device *d, uint8_t devfn, bool multifunction,
			      const struct pci_platform *plat,
			      const struct vfio_pci_opts *opts, char *why, size_t len);
struct pci_device *vfio_pci_dev(struct vfio_pci *vp);
/*
 * The PCIe link the guest sees below the function's root port: speed (1 =
 * 2.5 GT/s ...) and lanes, which the root port should report too. False
 * for a function without a PCI Express capability.
 */
bool vfio_pci_link(const struct vfio_pci *vp, unsigned *speed, unsigned *width);
/*
 * BAR idx (0-5, or PCI_ROM_BAR) as it is now: where it decodes and how,
 * for vm.info and vm.counters. mapping is "memslot" (all of it mapped
 * into the guest), "trapped" (every access exits to the vmm), "sparse"
 * (memslots with trapped stretches between: trapped[], offsets in the BAR,
 * such as the MSI-X table's pages) or "off" (not decoding). exits counts
 * the guest's accesses that reached the trap. Call it with the PCI bus's
 * apply_lock held: BARs move under it.
 */
#define VFIO_PCI_TRAPPED_MAX 9
struct vfio_pci_bar_info {
	bool present, io, on;
	uint64_t addr, size;
	const char *mapping;
	struct {
		uint64_t off, len;
	} trapped[VFIO_PCI_TRAPPED_MAX];
	unsigned nr_trapped;
	uint64_t exits;
};
void vfio_pci_bar_info(const struct vfio_pci *vp, unsigned idx, struct vfio_pci_bar_info *out);
/* Unmaps and unregisters everything it mapped; the device itself stays open. */
void vfio_pci_free(struct vfio_pci *vp);

#endif
