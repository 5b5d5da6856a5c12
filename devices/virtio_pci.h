/* SPDX-License-Identifier: MIT */
#ifndef DEVICES_VIRTIO_PCI_H
#define DEVICES_VIRTIO_PCI_H

/*
 * Modern virtio-pci (virtio 1.2, 4.1): a PCI function whose BAR 4 (64-bit,
 * prefetchable, 32 KiB) holds every register region, found through
 * vendor-specific capabilities:
 *
 *   0x0000  common configuration (features, status, queues)
 *   0x1000  ISR status (read to acknowledge INTx)
 *   0x2000  device-specific configuration (the device model's)
 *   0x3000  notifications: queue q at 0x3000 + 4 * q, each an ioeventfd,
 *           so a driver's notify reaches the device's thread through an
 *           eventfd and never through the VMM
 *   0x4000  MSI-X table, 0x6000 the PBA: one vector per queue and one for
 *           configuration changes, each an irqfd
 *
 * plus the PCI configuration access capability (a window onto the BAR
 * through config space). INTx (pin A) is there for drivers without MSI-X.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "devices.h"
#include "virtio.h"

struct pci_device;
struct bus;

#define VIRTIO_PCI_BAR        4
#define VIRTIO_PCI_BAR_SIZE   0x8000
#define VIRTIO_PCI_COMMON     0x0000
#define VIRTIO_PCI_ISR        0x1000
#define VIRTIO_PCI_DEVICE     0x2000
#define VIRTIO_PCI_NOTIFY     0x3000
#define VIRTIO_PCI_NOTIFY_MUL 4u
#define VIRTIO_PCI_MSIX_TABLE 0x4000
#define VIRTIO_PCI_MSIX_PBA   0x6000
#define VIRTIO_PCI_NO_VECTOR  0xffff

/* What the transport needs of the VMM (ioeventfd, irqfd, msi_route, mmio, intx) is a pci_platform. */
struct virtio_pci;

/*
 * Wraps vdev as PCI function devfn; the device stays vdev's owner's until
 * virtio_pci_free(), which frees it too. NULL with errno set on failure.
 */
struct virtio_pci *virtio_pci_new(struct virtio_device *vdev, uint8_t devfn,
				  const struct pci_platform *plat);
struct pci_device *virtio_pci_dev(struct virtio_pci *vp);
/* Stops the device (a VMM reset or exit): no I/O after it returns. */
void virtio_pci_stop(struct virtio_pci *vp);
/*
 * vm.pause: the device's workers finish what they started and wait, until
 * virtio_pci_resume(); guest memory, the rings and the interrupts are left
 * alone meanwhile (virtio.h, quiesce()). 0, or -ETIMEDOUT after timeout_ms
 * (said in one line naming the device; it then runs on). Free for a device
 * without threads. The transport itself has no thread: a vCPU's notify
 * lands in an eventfd that the device reads after resume.
 */
int virtio_pci_quiesce(struct virtio_pci *vp, unsigned timeout_ms)
	__attribute__((warn_unused_result));
void virtio_pci_resume(struct virtio_pci *vp);
void virtio_pci_free(struct virtio_pci *vp);
/*
 * Writes the function's state to f: status, features, and per queue its
 * MSI-X vector (masked, pending) and ring indices, then the device's own.
 * For "kill -USR2": why did this device's I/O stop? (SIGUSR1 kicks vCPUs.)
 */
void virtio_pci_dump(struct virtio_pci *vp, FILE *f);

/* The register regions, for tests: offsets into BAR 4. */
uint64_t virtio_pci_bar_read(struct virtio_pci *vp, uint64_t offset, unsigned size);
void virtio_pci_bar_write(struct virtio_pci *vp, uint64_t offset, unsigned size, uint64_t value);

#endif
