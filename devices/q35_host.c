// SPDX-License-Identifier: MIT
/*
 * The Q35 host bridge at 00:00.0 (the MCH: PCIEXBAR, PAM, SMRAM) and the
 * ICH9 reset control register at 0xCF9, which sits in the 0xCF8 window
 * of configuration mechanism #1 that the PCI core decodes and hands on.
 */
#include <string.h>

#include "pci_devices.h"
#include "../core/power.h"

/* ICH9 reset control register (0xCF9). */
#define RCR_SYS_RST  0x02 /* hard rather than soft reset */
#define RCR_RST_CPU  0x04 /* writing 1 resets */
#define RCR_FULL_RST 0x08 /* power-cycle on hard reset */

/* PCIEXBAR's size field, and the base bits each size leaves to the guest. */
static uint64_t pciexbar_size(uint64_t bar)
{
	switch ((bar & MCH_PCIEXBAR_LENGTH) >> 1) {
	case 0: return 256 * 0x100000ULL;
	case 1: return 128 * 0x100000ULL;
	case 2: return 64 * 0x100000ULL;
	default: return 0; /* reserved: decodes nothing */
	}
}

static struct pci_ecam pciexbar_decode(const struct pci_device *dev)
{
	uint64_t bar = 0, size;

	for (unsigned i = 0; i < 8; i++)
		bar |= (uint64_t)dev->cfg[MCH_PCIEXBAR + i] << (8 * i);
	size = pciexbar_size(bar);
	if (!(bar & MCH_PCIEXBAR_EN) || !size)
		return (struct pci_ecam){ 0 };
	/* Base bits 35:26; those below the size are ignored (read back as set). */
	return (struct pci_ecam){ .enabled = true, .base = bar & ((1ULL << 36) - 1) & ~(size - 1),
				  .size = size };
}

/* Runs with pci->lock held (every config write does). */
static void mch_cfg_write(struct pci_device *dev, unsigned offset, unsigned size, uint32_t value)
{
	struct q35_host *h = dev->opaque;
	struct pci_bus *pci = h->pci;
	struct pci_ecam now;

	pci_default_cfg_write(dev, offset, size, value);
	if (offset + size <= MCH_PCIEXBAR || offset >= MCH_PCIEXBAR + 8)
		return;
	now = pciexbar_decode(dev);
	if (now.enabled == pci->ecam.enabled && now.base == pci->ecam.base &&
	    now.size == pci->ecam.size)
		return;
	pci->ecam = now;
	if (pci->ecam_changed)
		pci->ecam_changed(pci->ecam_opaque);
}

static const struct pci_device_ops mch_ops = {
	.name = "q35-mch",
	.cfg_write = mch_cfg_write,
};

static uint8_t rcr_read(void *opaque)
{
	struct q35_host *h = opaque;

	return __atomic_load_n(&h->rcr, __ATOMIC_RELAXED);
}

/*
 * RST_CPU is self-clearing: it stands for the reset it starts, so it
 * never reads back as 1 and every write with it set asks for a reset.
 * (Linux writes SYS_RST first, then SYS_RST | RST_CPU.) Called with no
 * PCI lock held: the VMM's reset path may come back for it.
 */
static void rcr_write(void *opaque, uint8_t value)
{
	struct q35_host *h = opaque;

	__atomic_store_n(&h->rcr, value & (RCR_SYS_RST | RCR_FULL_RST), __ATOMIC_RELAXED);
	if ((value & RCR_RST_CPU) && h->power)
		power_request(h->power, POWER_RESET);
}

/*
 * The MCH's PCICMD: memory decode and bus mastering are hardwired on
 * (the host bridge always forwards CPU memory cycles and masters DMA
 * upstream); only the error-reporting enables are the guest's to set.
 */
void q35_host_init(struct q35_host *h, struct pci_bus *pci, const struct power_ctl *power)
{
	struct pci_device *dev = &h->mch;
	struct pci_config_header *hdr;

	h->pci = pci;
	h->power = power;
	h->rcr = 0;
	pci_device_init(dev, &mch_ops, h, PCI_DEVFN(0, 0));
	pci_set_ids(dev, PCI_VENDOR_INTEL, PCI_DEVICE_Q35_MCH, PCI_CLASS_HOST_BRIDGE,
		    PCI_HEADER_TYPE_NORMAL);
	hdr = pci_header(dev->cfg);
	hdr->command = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	hdr->subsystem_vendor_id = PCI_VMM_SUBSYS_VENDOR;
	hdr->subsystem_id = PCI_VMM_SUBSYS_ID;
	pci_header(dev->wmask)->command = PCI_COMMAND_PARITY | PCI_COMMAND_SERR;
	/* PCIEXBAR: base bits 35:26 (what the size leaves of them), size, enable. */
	dev->wmask[MCH_PCIEXBAR] = 0x07;
	dev->wmask[MCH_PCIEXBAR + 3] = 0xfc;
	dev->wmask[MCH_PCIEXBAR + 4] = 0x0f;
	memset(&dev->wmask[MCH_PAM0], 0xff, 7);
	dev->wmask[MCH_SMRAM] = 0xff;
	dev->wmask[MCH_ESMRAMC] = 0xff;
	pci_set_cf9_hook(pci, rcr_read, rcr_write, h);
}
