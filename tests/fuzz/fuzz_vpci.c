// SPDX-License-Identifier: MIT
/* A virtio device behind the virtio-pci transport for the device targets: see fuzz_vpci.h. */
#include "fuzz_vpci.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>

#include "core/platform.h"
#include "devices/virtio_pci.h"

#define FIRST_GSI 24

static int plat_ioeventfd(void *opaque, uint64_t addr, unsigned len, int fd, bool assign)
{
	struct fuzz_vpci *v = opaque;
	unsigned i;

	if (len != 2)
		abort();
	for (i = 0; i < v->nr_ioev; i++)
		if (v->ioev[i].addr == addr && v->ioev[i].fd == fd)
			break;
	if (assign) {
		if (i < v->nr_ioev || v->nr_ioev == VIRTIO_MAX_QUEUES)
			abort(); /* assigned twice, or more than one per queue */
		if (v->refuse_ioeventfd)
			return -ENOSPC;
		v->ioev[v->nr_ioev].addr = addr;
		v->ioev[v->nr_ioev++].fd = fd;
		return 0;
	}
	if (i == v->nr_ioev)
		abort(); /* KVM would refuse: never assigned */
	v->ioev[i] = v->ioev[--v->nr_ioev];
	return 0;
}

static int plat_irqfd(void *opaque, unsigned *gsi, int *efd)
{
	struct fuzz_vpci *v = opaque;

	if (v->nr_gsi == VIRTIO_MAX_QUEUES + 1)
		abort(); /* one per queue and one for configuration changes, at most */
	*efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (*efd < 0)
		abort();
	*gsi = FIRST_GSI + v->nr_gsi++;
	return 0;
}

static int plat_msi_route(void *opaque, unsigned gsi, uint64_t addr, uint32_t data)
{
	struct fuzz_vpci *v = opaque;

	if (gsi < FIRST_GSI || gsi >= FIRST_GSI + v->nr_gsi)
		abort(); /* a GSI the platform never gave */
	return 0;
}

static void plat_intx(void *opaque, unsigned gsi, int level)
{
	if (level != 0 && level != 1)
		abort();
}

static void apply_bars(void *arg)
{
	pci_bus_apply_bars(arg);
}

static void bars_changed(void *opaque)
{
	struct fuzz_vpci *v = opaque;

	if (bus_defer(&v->mmio, apply_bars, &v->pci))
		abort();
}

void fuzz_vpci_init(struct fuzz_vpci *v, struct virtio_device *vdev)
{
	struct pci_platform plat = {
		.ioeventfd = plat_ioeventfd, .irqfd = plat_irqfd, .msi_route = plat_msi_route,
		.opaque = v, .mmio = &v->mmio, .intx = { .set_level = plat_intx, .gsi = 16 },
	};

	if (bus_init(&v->mmio, "mmio"))
		abort();
	pci_bus_init(&v->pci);
	pci_set_bars_hook(&v->pci, bars_changed, v);
	if (bus_register(&v->mmio, FUZZ_VPCI_ECAM, 1 << 20, &pci_ecam_ops, &v->pci))
		abort();
	v->vp = virtio_pci_new(vdev, FUZZ_VPCI_DEVFN, &plat);
	if (!v->vp || pci_bus_add(&v->pci, virtio_pci_dev(v->vp)))
		abort();
}

void fuzz_vpci_spaces(struct fuzz_vpci *v, struct fuzz_space sp[FUZZ_VPCI_SPACES])
{
	sp[0] = (struct fuzz_space){ .name = "cfg", .bus = &v->mmio,
				     .base = FUZZ_VPCI_ECAM + ((uint64_t)FUZZ_VPCI_DEVFN << 12),
				     .len = PCI_CFG_SIZE };
	sp[1] = (struct fuzz_space){ .name = "mmio", .bus = &v->mmio, .base = FUZZ_VPCI_WINDOW,
				     .len = 0x10000 };
}

uint8_t fuzz_vpci_status(struct fuzz_vpci *v)
{
	uint8_t status = (uint8_t)virtio_pci_bar_read(v->vp, 0x14, 1);

	if ((v->last_status & 0x40) && !(status & 0x40) && status != 0)
		abort(); /* DEVICE_NEEDS_RESET: only a reset clears it */
	v->last_status = status;
	return status;
}

void fuzz_vpci_free(struct fuzz_vpci *v)
{
	virtio_pci_free(v->vp);
	bus_destroy(&v->mmio);
}
