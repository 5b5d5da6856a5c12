/* SPDX-License-Identifier: MIT */
#ifndef TESTS_FUZZ_FUZZ_VPCI_H
#define TESTS_FUZZ_FUZZ_VPCI_H

/*
 * A virtio device model behind the modern virtio-pci transport, as the
 * device targets (fuzz_virtio_blk, fuzz_virtio_net) give it to a guest:
 * an MMIO bus with ECAM on it, a PCI bus, the transport at FUZZ_VPCI_DEVFN
 * and a fake platform (irqfds as eventfds, MSI routes and ioeventfds
 * checked and recorded, INTx levels checked). Two spaces (fuzz_io.h):
 *
 *   "cfg"  the function's 4 KiB of config space through ECAM, so a BAR
 *          move runs as deferred work, as in the VMM
 *   "mmio" 64 KiB of the MMIO bus at FUZZ_VPCI_WINDOW, where the seeds
 *          put BAR 4: its registers answer only where the guest mapped it
 *
 * Any abort() here is a broken promise of the transport or the PCI core.
 */
#include <stdbool.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/pci.h"
#include "devices/virtio.h"
#include "fuzz_io.h"

#define FUZZ_VPCI_DEVFN  PCI_DEVFN(3, 0)
#define FUZZ_VPCI_ECAM   0xe0000000ULL
#define FUZZ_VPCI_WINDOW 0xfe000000ULL
#define FUZZ_VPCI_SPACES 2

struct virtio_pci;

struct fuzz_vpci {
	struct bus mmio;
	struct pci_bus pci;
	struct virtio_pci *vp;
	unsigned nr_gsi;
	bool refuse_ioeventfd; /* KVM says no (at the next BAR map): notifies go through the VMM */
	struct { uint64_t addr; int fd; } ioev[VIRTIO_MAX_QUEUES];
	unsigned nr_ioev;
	uint8_t last_status;
};

/* vdev behind the transport; aborts when that fails (a bug of the target). */
void fuzz_vpci_init(struct fuzz_vpci *v, struct virtio_device *vdev);
/* The two spaces above, into sp[0] and sp[1]. */
void fuzz_vpci_spaces(struct fuzz_vpci *v, struct fuzz_space sp[FUZZ_VPCI_SPACES]);
/* The device status as the driver reads it, checked: NEEDS_RESET only a reset clears. */
uint8_t fuzz_vpci_status(struct fuzz_vpci *v);
/* The transport and its device freed, the bus destroyed. */
void fuzz_vpci_free(struct fuzz_vpci *v);

#endif
