/* SPDX-License-Identifier: MIT */
#ifndef DEVICES_MSIX_H
#define DEVICES_MSIX_H

/*
 * MSI-X for an emulated PCI function (PCI Local Bus 3.0, 6.8.2): the
 * capability in config space, the vector table and the pending bit array
 * in a memory BAR, and the masking rules between them.
 *
 * Delivery stays out of userspace: the VMM gives each vector a GSI whose
 * KVM route is the vector's address and data, and an irqfd; fire() writes
 * that eventfd. A vector that is masked (per vector, by the function mask,
 * or because MSI-X is off) is not fired but marked pending in the PBA,
 * and fired the moment it is unmasked, as the spec wants. route() is
 * called whenever a vector that can deliver gets an address and data it
 * did not have (the guest programs vectors masked, then unmasks them, so
 * that is about once per vector).
 *
 * Locking: the table, the PBA and the cached control bits are under the
 * msix's own lock. msix_cfg_written() runs with the PCI bus lock held
 * (lock order: PCI bus, then msix); msix_notify() from any thread; the
 * table and PBA accessors from vCPU threads. route() and fire() run under
 * the msix lock: they must not call back into this msix.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct pci_device;

#define MSIX_MAX_VECTORS   2048
#define MSIX_ENTRY_SIZE    16
#define MSIX_CAP_SIZE      12

struct msix_ops {
	void (*route)(void *opaque, unsigned vector, uint64_t addr, uint32_t data);
	void (*fire)(void *opaque, unsigned vector);
	/*
	 * Optional: the vector just became masked (per vector, by the
	 * function mask, or MSI-X off) or deliverable again (after route()).
	 * For a device that signals on its own, a passed-through one, which
	 * must be told where to signal while masked.
	 */
	void (*mask)(void *opaque, unsigned vector, bool masked);
};

struct msix {
	struct pci_device *dev;
	unsigned cap;              /* offset of the capability in config space */
	unsigned nr;               /* vectors */
	const struct msix_ops *ops;
	void *opaque;
	pthread_mutex_t lock;
	uint8_t *table;            /* nr * 16 bytes, as the guest sees it */
	uint64_t *pba;             /* (nr + 63) / 64 words */
	bool *routed;              /* address/data last given to route() still hold */
	bool *open;                /* deliverable when mask() was last told */
	bool enabled, function_masked;
};

/*
 * Writes the capability at config offset cap (next: the next capability,
 * 0 for none) with a table of nr vectors at table_off and the PBA at
 * pba_off, both in BAR bir (offsets 8-byte aligned; the caller sizes the
 * BAR to hold nr * 16 and (nr + 63) / 64 * 8 bytes there). Every vector
 * starts masked. 0, -EINVAL or -ENOMEM.
 */
int msix_init(struct msix *m, struct pci_device *dev, unsigned cap, uint8_t next, unsigned nr,
	      unsigned bir, uint32_t table_off, uint32_t pba_off, const struct msix_ops *ops,
	      void *opaque) __attribute__((warn_unused_result));
void msix_destroy(struct msix *m);

/*
 * Back to reset: MSI-X off, every vector masked with address and data 0,
 * nothing pending. mask() hears of each vector that was open.
 */
void msix_reset(struct msix *m);

/*
 * The device's cfg_write hook calls this after any write that touches
 * [cap, cap + MSIX_CAP_SIZE): it picks up the enable and function-mask
 * bits and fires what they unmasked. The wmask for them is set by
 * msix_init().
 */
void msix_cfg_written(struct msix *m);

/* Accesses inside the table and the PBA (offset from their start; 4 or 8 bytes). */
uint64_t msix_table_read(struct msix *m, uint64_t offset, unsigned size);
void msix_table_write(struct msix *m, uint64_t offset, unsigned size, uint64_t value);
uint64_t msix_pba_read(struct msix *m, uint64_t offset, unsigned size);

/* The device wants to signal vector: fired now, or left pending while masked. */
void msix_notify(struct msix *m, unsigned vector);

bool msix_enabled(struct msix *m);

/* For state dumps: whether vector v is masked (by any means) and pending. */
void msix_vector_state(struct msix *m, unsigned v, bool *masked, bool *is_pending);

#endif
