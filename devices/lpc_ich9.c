// SPDX-License-Identifier: MIT
/*
 * The ICH9 LPC/ISA bridge (D31:F0), as far as a Q35 guest configures it:
 * where the ACPI PM I/O block sits and whether it decodes, which IRQ the
 * SCI uses, and the PIRQ routing bytes firmware fills in for the _PRT.
 * Register layout and reset values follow the ICH9 datasheet; the
 * registers with no effect here (GEN_PMCON) only keep what is written.
 */
#include "pci_devices.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../core/pci.h"

#define LPC_NAME "lpc-ich9"

#define HEADER_MULTIFUNCTION 0x80
#define LPC_REVISION         0x02
#define LPC_CLASS_ISA_BRIDGE 0x060100

#define PMBASE_IO     0x00000001u /* RTE: the block is in I/O space */
#define PMBASE_ADDR   0x0000ff80u /* bits 15:7 */
#define ACPI_CNTL_EN  0x80        /* ACPI_EN: decode the PM block */
#define ACPI_CNTL_SCI 0x07        /* SCI_IRQ_SEL */
#define PIRQ_DISABLED 0x80        /* IRQEN: 1 = not routed */
#define PIRQ_WRITABLE 0x8f        /* bits 6:4 are reserved */

/* Config space of D31:F0; the reserved gaps read 0. */
struct lpc_ich9_config {
	struct pci_config_header hdr;
	uint32_t pmbase;
	uint8_t acpi_cntl;
	uint8_t reserved0[0x1b];
	uint8_t pirq_a_d[4];
	uint8_t reserved1[4];
	uint8_t pirq_e_h[4];
	uint8_t reserved2[0x34];
	uint16_t gen_pmcon_1;
	uint8_t gen_pmcon_2;
	uint8_t reserved3;
	uint8_t gen_pmcon_3;
	uint8_t reserved4[0x4b];
	uint32_t rcba;
	uint8_t reserved5[0x0c];
} __attribute__((packed));

_Static_assert(sizeof(struct lpc_ich9_config) == 256, "type 0 config space");
_Static_assert(offsetof(struct lpc_ich9_config, pmbase) == 0x40, "PMBASE");
_Static_assert(offsetof(struct lpc_ich9_config, acpi_cntl) == 0x44, "ACPI_CNTL");
_Static_assert(offsetof(struct lpc_ich9_config, pirq_a_d) == 0x60, "PIRQA_ROUT");
_Static_assert(offsetof(struct lpc_ich9_config, pirq_e_h) == 0x68, "PIRQE_ROUT");
_Static_assert(offsetof(struct lpc_ich9_config, gen_pmcon_1) == 0xa0, "GEN_PMCON_1");
_Static_assert(offsetof(struct lpc_ich9_config, gen_pmcon_3) == 0xa4, "GEN_PMCON_3");
_Static_assert(offsetof(struct lpc_ich9_config, rcba) == 0xf0, "RCBA");

struct lpc_ich9 {
	struct pci_device pci;
	void (*pm_changed)(void *opaque, bool enabled, uint16_t base);
	void *opaque;
	/* The PM block as last reported, to report changes only. */
	bool pm_enabled;
	uint16_t pm_base;
};

static struct lpc_ich9_config *lpc_config(uint8_t *space)
{
	return (struct lpc_ich9_config *)space;
}

static const struct lpc_ich9_config *lpc_config_const(const uint8_t *space)
{
	return (const struct lpc_ich9_config *)space;
}

void lpc_ich9_pm_state(const struct lpc_ich9 *lpc, bool *enabled, uint16_t *base)
{
	const struct lpc_ich9_config *c = lpc_config_const(lpc->pci.cfg);

	*enabled = (c->acpi_cntl & ACPI_CNTL_EN) != 0;
	*base = (uint16_t)(c->pmbase & PMBASE_ADDR);
}

/* Where the PM block is matters only while it decodes. */
static void lpc_update_pm(struct lpc_ich9 *lpc)
{
	bool enabled;
	uint16_t base;

	lpc_ich9_pm_state(lpc, &enabled, &base);
	if (enabled == lpc->pm_enabled && (!enabled || base == lpc->pm_base))
		return;
	lpc->pm_enabled = enabled;
	lpc->pm_base = base;
	if (lpc->pm_changed)
		lpc->pm_changed(lpc->opaque, enabled, base);
}

static void lpc_cfg_write(struct pci_device *dev, unsigned offset, unsigned size,
			  uint32_t value)
{
	pci_default_cfg_write(dev, offset, size, value);
	lpc_update_pm(dev->opaque);
}

static const struct pci_device_ops lpc_ich9_ops = {
	.name = LPC_NAME,
	.cfg_write = lpc_cfg_write,
};

/*
 * PCICMD: the LPC bridge always decodes I/O and memory and masters DMA
 * (the datasheet hardwires these to 1); only the error enables are the
 * guest's. No capability list: status has only DEVSEL timing.
 */
static void lpc_init_header(struct pci_device *dev)
{
	struct pci_config_header *h = pci_header(dev->cfg);
	struct pci_config_header *w = pci_header(dev->wmask);

	pci_set_ids(dev, PCI_VENDOR_INTEL, LPC_ICH9_DEVICE_ID, LPC_CLASS_ISA_BRIDGE,
		    PCI_HEADER_TYPE_NORMAL | HEADER_MULTIFUNCTION);
	h->command = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	w->command = PCI_COMMAND_PARITY | PCI_COMMAND_SERR;
	h->status = PCI_STATUS_DEVSEL_MEDIUM;
	h->revision = LPC_REVISION;
	h->subsystem_vendor_id = PCI_VMM_SUBSYS_VENDOR;
	h->subsystem_id = PCI_VMM_SUBSYS_ID;
}

/* Power-on config space; RCBA stays 0 and read-only. */
static void lpc_init_config(struct lpc_ich9 *lpc, uint8_t devfn)
{
	struct lpc_ich9_config *c, *w;

	pci_device_init(&lpc->pci, &lpc_ich9_ops, lpc, devfn);
	lpc_init_header(&lpc->pci);
	c = lpc_config(lpc->pci.cfg);
	w = lpc_config(lpc->pci.wmask);
	c->pmbase = PMBASE_IO;
	w->pmbase = PMBASE_ADDR;
	w->acpi_cntl = ACPI_CNTL_EN | ACPI_CNTL_SCI;
	memset(c->pirq_a_d, PIRQ_DISABLED, sizeof(c->pirq_a_d));
	memset(c->pirq_e_h, PIRQ_DISABLED, sizeof(c->pirq_e_h));
	memset(w->pirq_a_d, PIRQ_WRITABLE, sizeof(w->pirq_a_d));
	memset(w->pirq_e_h, PIRQ_WRITABLE, sizeof(w->pirq_e_h));
	w->gen_pmcon_1 = 0xffff;
	w->gen_pmcon_2 = 0xff;
	w->gen_pmcon_3 = 0xff;
}

int lpc_ich9_sci_irq(const struct lpc_ich9 *lpc)
{
	/* ICH9 datasheet, ACPI_CNTL SCI_IRQ_SEL; 3 is reserved. */
	static const int irq[8] = { 9, 10, 11, -EINVAL, 20, 21, 22, 23 };

	return irq[lpc_config_const(lpc->pci.cfg)->acpi_cntl & ACPI_CNTL_SCI];
}

struct pci_device *lpc_ich9_pci(struct lpc_ich9 *lpc)
{
	return &lpc->pci;
}

void lpc_ich9_reset(struct lpc_ich9 *lpc)
{
	lpc_init_config(lpc, lpc->pci.devfn);
	lpc_update_pm(lpc);
}

struct lpc_ich9 *lpc_ich9_new(uint8_t devfn, void (*pm_changed)(void *opaque, bool enabled,
								 uint16_t base),
			      void *opaque)
{
	struct lpc_ich9 *lpc = calloc(1, sizeof(*lpc));

	if (!lpc)
		return NULL;
	lpc->pm_changed = pm_changed;
	lpc->opaque = opaque;
	lpc_init_config(lpc, devfn);
	/* Nothing decodes at power-on, so there is nothing to report yet. */
	lpc_ich9_pm_state(lpc, &lpc->pm_enabled, &lpc->pm_base);
	return lpc;
}

void lpc_ich9_free(struct lpc_ich9 *lpc)
{
	free(lpc);
}
