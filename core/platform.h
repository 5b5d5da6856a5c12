/* SPDX-License-Identifier: MIT */
#ifndef CORE_PLATFORM_H
#define CORE_PLATFORM_H

/*
 * What the machine lends a device model, so that no model touches a KVM
 * fd: an interrupt line, and for a PCI function the machine services one
 * set of which vmm/ provides (vm_pci_platform()) and unit tests fake.
 */

#include <stdbool.h>
#include <stdint.h>

struct bus;

/* A level-triggered interrupt line (the VMM backs it with KVM_IRQ_LINE). */
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

/*
 * The machine's services for a PCI function, emulated or passed through.
 * Each returns 0 or -errno; a model uses those it needs (a test may leave
 * the others NULL).
 */
struct pci_platform {
	/*
	 * Maps [gpa, gpa + size) of guest physical memory to hva as a KVM
	 * memslot; size 0 removes *slot. *slot is -1 until the first map,
	 * which picks one.
	 */
	int (*memslot)(void *opaque, int *slot, uint64_t gpa, uint64_t size, void *hva);
	/* KVM_IOEVENTFD: fd signalled on a len-byte MMIO write at addr; assign or remove. */
	int (*ioeventfd)(void *opaque, uint64_t addr, unsigned len, int fd, bool assign);
	/* A fresh GSI with an irqfd on it: *efd is written to inject. */
	int (*irqfd)(void *opaque, unsigned *gsi, int *efd);
	/* Points GSI gsi at an MSI address and data (KVM GSI routing). */
	int (*msi_route)(void *opaque, unsigned gsi, uint64_t addr, uint32_t data);
	/*
	 * INTx through KVM alone: assign (or remove) an irqfd on gsi that
	 * trigger asserts and the guest's EOI (signalled on resample) deasserts.
	 */
	int (*intx_irqfd)(void *opaque, unsigned gsi, int trigger, int resample, bool assign);
	void *opaque;
	struct bus *mmio, *pio; /* where BARs decode */
	struct irq_line intx;   /* INTA, for a model that raises it itself */
	unsigned intx_gsi[4];   /* the GSI pin p (0 = INTA) reaches, for intx_irqfd */
};

#endif
