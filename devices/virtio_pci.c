// SPDX-License-Identifier: MIT
/*
 * The modern virtio-pci transport (virtio_pci.h). Register semantics follow
 * virtio 1.2, 4.1.4; everything the driver writes is checked before it is
 * used, and a driver that breaks the protocol gets DEVICE_NEEDS_RESET, not
 * a crash: a queue size that is not a power of two, rings outside RAM,
 * features the device never offered.
 *
 * Locking: vp->lock guards the common configuration (taken on vCPU
 * threads). The device's threads never take it: they read a queue's
 * vector with an atomic load and go through the MSI-X lock (or the ISR
 * and INTx line), so stopping the device under vp->lock cannot deadlock
 * with a device thread that is signalling. Lock order: PCI bus lock,
 * vp->lock, MSI-X lock.
 */
#include "virtio_pci.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "msix.h"
#include "../core/bus.h"
#include "../core/log.h"
#include "../core/pci.h"

/* Capability types (virtio 1.2, 4.1.4). */
#define CAP_COMMON  1
#define CAP_NOTIFY  2
#define CAP_ISR     3
#define CAP_DEVICE  4
#define CAP_PCI_CFG 5

/* Config-space layout: MSI-X, then the virtio capabilities. */
#define OFF_MSIX     0x40
#define OFF_COMMON   0x50
#define OFF_NOTIFY   0x60 /* 20 bytes: the cap and notify_off_multiplier */
#define OFF_ISR      0x74
#define OFF_DEVICE   0x84
#define OFF_PCI_CFG  0x94 /* 20 bytes: the cap and pci_cfg_data */
#define PCI_CFG_DATA (OFF_PCI_CFG + 16)

/* Common configuration registers (virtio 1.2, 4.1.4.3). */
#define CC_DFSELECT      0x00
#define CC_DF            0x04
#define CC_GFSELECT      0x08
#define CC_GF            0x0c
#define CC_MSIX_CONFIG   0x10
#define CC_NUM_QUEUES    0x12
#define CC_STATUS        0x14
#define CC_CFG_GEN       0x15
#define CC_Q_SELECT      0x16
#define CC_Q_SIZE        0x18
#define CC_Q_MSIX        0x1a
#define CC_Q_ENABLE      0x1c
#define CC_Q_NOFF        0x1e
#define CC_Q_DESC        0x20
#define CC_Q_AVAIL       0x28
#define CC_Q_USED        0x30
#define CC_SIZE          0x38

#define S_ACKNOWLEDGE 1
#define S_DRIVER      2
#define S_DRIVER_OK   4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 0x40
#define S_FAILED      0x80

#define ISR_QUEUE  1
#define ISR_CONFIG 2

struct vp_queue {
	uint16_t size;
	_Atomic uint16_t vector;
	uint16_t enable;
	uint64_t desc, avail, used;
};

struct virtio_pci {
	struct pci_device pci;
	struct virtio_device *vdev;
	struct pci_platform plat;
	char name[40];
	pthread_mutex_t lock;

	uint32_t dfselect, gfselect;
	uint64_t driver_features;
	_Atomic uint8_t status;
	uint8_t generation;
	uint16_t q_select;
	_Atomic uint16_t config_vector;
	struct vp_queue q[VIRTIO_MAX_QUEUES];
	bool started;
	_Atomic uint8_t isr;
	pthread_mutex_t intx_lock;

	struct msix msix;
	unsigned nr_vectors;
	unsigned gsi[VIRTIO_MAX_QUEUES + 1];
	int irqfd[VIRTIO_MAX_QUEUES + 1];
	int kick[VIRTIO_MAX_QUEUES];
	/* BAR 4 as mapped: its range on the MMIO bus, the notify ioeventfds. */
	bool bar_on;
	uint64_t bar_addr;
	bool ioeventfd[VIRTIO_MAX_QUEUES];
	struct log_ratelimit warn_rl; /* vp_warn_rl()'s */
};

/* What the driver gets wrong: said a few times a second at most. */
#define vp_warn_rl(vp, ...) dev_warn_rl(&(vp)->warn_rl, (vp)->name, __VA_ARGS__)

/* ---- interrupts ---- */

static void intx_update(struct virtio_pci *vp)
{
	pthread_mutex_lock(&vp->intx_lock);
	irq_line_set(&vp->plat.intx, atomic_load(&vp->isr) != 0 && !msix_enabled(&vp->msix));
	pthread_mutex_unlock(&vp->intx_lock);
}

static void vp_signal(struct virtio_pci *vp, uint16_t vector, uint8_t isr_bit)
{
	if (msix_enabled(&vp->msix)) {
		if (vector != VIRTIO_PCI_NO_VECTOR && vector < vp->nr_vectors)
			msix_notify(&vp->msix, vector);
		return;
	}
	atomic_fetch_or(&vp->isr, isr_bit);
	intx_update(vp);
}

/* The device's used-buffer notification (any thread). */
static void vp_interrupt(void *opaque, unsigned queue)
{
	struct virtio_pci *vp = opaque;

	if (queue < vp->vdev->nr_queues)
		vp_signal(vp, atomic_load(&vp->q[queue].vector), ISR_QUEUE);
}

static void vp_config_interrupt(struct virtio_pci *vp)
{
	vp_signal(vp, atomic_load(&vp->config_vector), ISR_CONFIG);
}

/* The device (or the transport) found the driver broken (any thread). */
static void vp_needs_reset(void *opaque)
{
	struct virtio_pci *vp = opaque;

	if (atomic_fetch_or(&vp->status, S_NEEDS_RESET) & S_NEEDS_RESET)
		return;
	vp_warn_rl(vp, "device needs reset: the driver broke the virtio protocol");
	vp_config_interrupt(vp);
}

static void msix_route(void *opaque, unsigned vector, uint64_t addr, uint32_t data)
{
	struct virtio_pci *vp = opaque;
	int ret = vp->plat.msi_route(vp->plat.opaque, vp->gsi[vector], addr, data);

	if (ret)
		vp_warn_rl(vp, "MSI-X vector %u: cannot route it: %s", vector,
			   strerror(-ret));
}

static void msix_fire(void *opaque, unsigned vector)
{
	struct virtio_pci *vp = opaque;
	uint64_t one = 1;

	if (write(vp->irqfd[vector], &one, sizeof(one)) < 0)
		vp_warn_rl(vp, "MSI-X vector %u: irqfd: %s", vector, strerror(errno));
}

static const struct msix_ops vp_msix_ops = { .route = msix_route, .fire = msix_fire };

/* ---- device status: reset, feature negotiation, start ---- */

/* With vp->lock held. */
static void vp_reset(struct virtio_pci *vp)
{
	struct virtio_device *vdev = vp->vdev;

	if (vp->started)
		vdev->ops->stop(vdev);
	vp->started = false;
	for (unsigned i = 0; i < vdev->nr_queues; i++) {
		virtq_reset(&vdev->vq[i]);
		vp->q[i] = (struct vp_queue){ .size = vdev->queue_max_size };
		atomic_store(&vp->q[i].vector, VIRTIO_PCI_NO_VECTOR);
	}
	atomic_store(&vp->config_vector, VIRTIO_PCI_NO_VECTOR);
	vp->dfselect = vp->gfselect = 0;
	vp->driver_features = 0;
	vp->q_select = 0;
	atomic_store(&vp->status, 0);
	atomic_store(&vp->isr, 0);
	intx_update(vp);
}

static bool features_ok(struct virtio_pci *vp)
{
	uint64_t extra = vp->driver_features & ~vp->vdev->device_features;

	if (extra) {
		vp_warn_rl(vp, "driver accepted features 0x%llx never offered",
			   (unsigned long long)extra);
		return false;
	}
	if (!virtio_has_feature(vp->driver_features, VIRTIO_F_VERSION_1)) {
		vp_warn_rl(vp, "driver did not accept VIRTIO_F_VERSION_1 "
			   "(a legacy driver: only modern virtio is offered)");
		return false;
	}
	return true;
}

/* DRIVER_OK: enable the queues the driver set up and start the device. With vp->lock held. */
static void vp_start(struct virtio_pci *vp)
{
	struct virtio_device *vdev = vp->vdev;
	int ret;

	vdev->driver_features = vp->driver_features;
	for (unsigned i = 0; i < vdev->nr_queues; i++) {
		struct virtq_config c = {
			.name = vp->name,
			.mem = vdev->mem,
			.size = vp->q[i].size,
			.desc_gpa = vp->q[i].desc,
			.avail_gpa = vp->q[i].avail,
			.used_gpa = vp->q[i].used,
			.features = vp->driver_features,
		};

		vdev->kick_fd[i] = vp->kick[i];
		if (!vp->q[i].enable)
			continue;
		ret = virtq_enable(&vdev->vq[i], &c);
		if (ret) {
			vp_warn_rl(vp, "queue %u: %s", i, virtq_strerror(ret));
			vp_needs_reset(vp);
			return;
		}
	}
	ret = vdev->ops->start(vdev);
	if (ret) {
		vp_warn_rl(vp, "cannot start: %s", strerror(-ret));
		vp_needs_reset(vp);
		return;
	}
	vp->started = true;
}

static void status_write(struct virtio_pci *vp, uint8_t v)
{
	uint8_t old = atomic_load(&vp->status);

	if (v == 0) {
		vp_reset(vp);
		return;
	}
	/*
	 * Only a reset clears bits (virtio 1.2, 2.1.2). Taking DRIVER_OK away
	 * and back would re-enable the queues under the device's running
	 * threads and start() it twice; the queue registers would be writable
	 * again while it serves them.
	 */
	if (old & ~v & ~S_NEEDS_RESET) {
		vp_warn_rl(vp, "driver cleared status bits %#x without a reset; kept",
			   old & ~v & ~S_NEEDS_RESET);
		v |= old;
	}
	if ((v & S_FEATURES_OK) && !(old & S_FEATURES_OK) && !features_ok(vp))
		v &= (uint8_t)~S_FEATURES_OK;
	/* NEEDS_RESET is the device's to set; only a reset clears it. */
	v = (uint8_t)((v & ~S_NEEDS_RESET) | (old & S_NEEDS_RESET));
	atomic_store(&vp->status, v);
	if ((v & S_DRIVER_OK) && !(old & S_DRIVER_OK) && !(v & S_NEEDS_RESET)) {
		if (!(v & S_FEATURES_OK)) {
			vp_warn_rl(vp, "DRIVER_OK without FEATURES_OK");
			vp_needs_reset(vp);
			return;
		}
		vp_start(vp);
	}
}

/* ---- common configuration ---- */

static struct vp_queue *selected(struct virtio_pci *vp)
{
	return vp->q_select < vp->vdev->nr_queues ? &vp->q[vp->q_select] : NULL;
}

/* The 64-bit queue address registers, also written as two 32-bit halves. */
static uint64_t *queue_addr(struct vp_queue *q, unsigned reg)
{
	return reg == CC_Q_DESC ? &q->desc : reg == CC_Q_AVAIL ? &q->avail : &q->used;
}

static uint64_t common_read(struct virtio_pci *vp, unsigned off, unsigned size)
{
	struct vp_queue *q = selected(vp);

	switch (off) {
	case CC_DFSELECT: return vp->dfselect;
	case CC_DF:
		return vp->dfselect < 2 ? (uint32_t)(vp->vdev->device_features >> (32 * vp->dfselect))
					: 0;
	case CC_GFSELECT: return vp->gfselect;
	case CC_GF:
		return vp->gfselect < 2 ? (uint32_t)(vp->driver_features >> (32 * vp->gfselect)) : 0;
	case CC_MSIX_CONFIG: return atomic_load(&vp->config_vector);
	case CC_NUM_QUEUES: return vp->vdev->nr_queues;
	case CC_STATUS: return atomic_load(&vp->status);
	case CC_CFG_GEN: return vp->generation;
	case CC_Q_SELECT: return vp->q_select;
	case CC_Q_SIZE: return q ? q->size : 0;
	case CC_Q_MSIX: return q ? atomic_load(&q->vector) : VIRTIO_PCI_NO_VECTOR;
	case CC_Q_ENABLE: return q ? q->enable : 0;
	case CC_Q_NOFF: return q ? vp->q_select : 0;
	case CC_Q_DESC: case CC_Q_AVAIL: case CC_Q_USED:
		return q ? (size == 8 ? *queue_addr(q, off) : (uint32_t)*queue_addr(q, off)) : 0;
	case CC_Q_DESC + 4: case CC_Q_AVAIL + 4: case CC_Q_USED + 4:
		return q ? (uint32_t)(*queue_addr(q, off - 4) >> 32) : 0;
	default: return 0;
	}
}

static uint16_t vector_or_none(struct virtio_pci *vp, uint64_t v)
{
	return v < vp->nr_vectors ? (uint16_t)v : VIRTIO_PCI_NO_VECTOR;
}

/* Queue registers change only before DRIVER_OK (virtio 1.2, 4.1.4.3.2). */
static bool queue_writable(struct virtio_pci *vp)
{
	return !(atomic_load(&vp->status) & S_DRIVER_OK);
}

static void common_write(struct virtio_pci *vp, unsigned off, unsigned size, uint64_t v)
{
	struct vp_queue *q = selected(vp);

	switch (off) {
	case CC_DFSELECT: vp->dfselect = (uint32_t)v; break;
	case CC_GFSELECT: vp->gfselect = (uint32_t)v; break;
	case CC_GF:
		if (vp->gfselect < 2 && !(atomic_load(&vp->status) & S_FEATURES_OK)) {
			unsigned sh = 32 * vp->gfselect;

			vp->driver_features = (vp->driver_features & ~(0xffffffffULL << sh)) |
					      ((v & 0xffffffffULL) << sh);
		}
		break;
	case CC_MSIX_CONFIG: atomic_store(&vp->config_vector, vector_or_none(vp, v)); break;
	case CC_STATUS: status_write(vp, (uint8_t)v); break;
	case CC_Q_SELECT: vp->q_select = (uint16_t)v; break;
	case CC_Q_SIZE:
		/* Checked at DRIVER_OK: not a power of two (or too big) is DEVICE_NEEDS_RESET. */
		if (q && queue_writable(vp))
			q->size = v > vp->vdev->queue_max_size ? 0 : (uint16_t)v;
		break;
	case CC_Q_MSIX: if (q) atomic_store(&q->vector, vector_or_none(vp, v)); break;
	case CC_Q_ENABLE: if (q && queue_writable(vp)) q->enable = v == 1; break;
	case CC_Q_DESC: case CC_Q_AVAIL: case CC_Q_USED:
		if (q && queue_writable(vp)) {
			uint64_t *a = queue_addr(q, off);

			*a = size == 8 ? v : (*a & ~0xffffffffULL) | (uint32_t)v;
		}
		break;
	case CC_Q_DESC + 4: case CC_Q_AVAIL + 4: case CC_Q_USED + 4:
		if (q && queue_writable(vp)) {
			uint64_t *a = queue_addr(q, off - 4);

			*a = (*a & 0xffffffffULL) | v << 32;
		}
		break;
	default: break; /* read-only or unknown: ignored */
	}
}

/* A register access must match the register: its offset and size (or a 64-bit half). */
static bool common_access_ok(unsigned off, unsigned size)
{
	static const uint8_t width[CC_SIZE] = {
		[CC_DFSELECT] = 4, [CC_DF] = 4, [CC_GFSELECT] = 4, [CC_GF] = 4,
		[CC_MSIX_CONFIG] = 2, [CC_NUM_QUEUES] = 2, [CC_STATUS] = 1, [CC_CFG_GEN] = 1,
		[CC_Q_SELECT] = 2, [CC_Q_SIZE] = 2, [CC_Q_MSIX] = 2, [CC_Q_ENABLE] = 2,
		[CC_Q_NOFF] = 2, [CC_Q_DESC] = 8, [CC_Q_AVAIL] = 8, [CC_Q_USED] = 8,
		[CC_Q_DESC + 4] = 4, [CC_Q_AVAIL + 4] = 4, [CC_Q_USED + 4] = 4,
	};

	if (off >= CC_SIZE || !width[off])
		return false;
	return size == width[off] || (width[off] == 8 && size == 4);
}

/* ---- BAR 4 ---- */

uint64_t virtio_pci_bar_read(struct virtio_pci *vp, uint64_t off, unsigned size)
{
	uint64_t v = 0;

	if (off < VIRTIO_PCI_ISR) {
		if (!common_access_ok((unsigned)off, size))
			return 0;
		pthread_mutex_lock(&vp->lock);
		v = common_read(vp, (unsigned)off, size);
		pthread_mutex_unlock(&vp->lock);
	} else if (off == VIRTIO_PCI_ISR && size == 1) {
		/* Reading acknowledges: the bits clear and INTx drops. */
		v = atomic_exchange(&vp->isr, 0);
		intx_update(vp);
	} else if (off >= VIRTIO_PCI_DEVICE && off < VIRTIO_PCI_DEVICE + vp->vdev->config_len) {
		uint32_t o = (uint32_t)(off - VIRTIO_PCI_DEVICE);

		if (size <= 8 && o + size <= vp->vdev->config_len && vp->vdev->ops->config_read)
			vp->vdev->ops->config_read(vp->vdev, o, &v, size);
	} else if (off >= VIRTIO_PCI_MSIX_TABLE && off < VIRTIO_PCI_MSIX_PBA) {
		v = msix_table_read(&vp->msix, off - VIRTIO_PCI_MSIX_TABLE, size);
	} else if (off >= VIRTIO_PCI_MSIX_PBA && off < VIRTIO_PCI_BAR_SIZE) {
		v = msix_pba_read(&vp->msix, off - VIRTIO_PCI_MSIX_PBA, size);
	}
	return v;
}

void virtio_pci_bar_write(struct virtio_pci *vp, uint64_t off, unsigned size, uint64_t value)
{
	if (off < VIRTIO_PCI_ISR) {
		if (!common_access_ok((unsigned)off, size))
			return;
		pthread_mutex_lock(&vp->lock);
		common_write(vp, (unsigned)off, size, value);
		pthread_mutex_unlock(&vp->lock);
	} else if (off >= VIRTIO_PCI_DEVICE && off < VIRTIO_PCI_DEVICE + vp->vdev->config_len) {
		uint32_t o = (uint32_t)(off - VIRTIO_PCI_DEVICE);

		if (size <= 8 && o + size <= vp->vdev->config_len && vp->vdev->ops->config_write)
			vp->vdev->ops->config_write(vp->vdev, o, &value, size);
	} else if (off >= VIRTIO_PCI_NOTIFY &&
		   off < VIRTIO_PCI_NOTIFY + VIRTIO_PCI_NOTIFY_MUL * vp->vdev->nr_queues) {
		/* Only without an ioeventfd (KVM refused one): pass the kick on. */
		unsigned q = (unsigned)((off - VIRTIO_PCI_NOTIFY) / VIRTIO_PCI_NOTIFY_MUL);
		uint64_t one = 1;

		if (write(vp->kick[q], &one, sizeof(one)) < 0)
			vp_warn_rl(vp, "queue %u: kick: %s", q, strerror(errno));
	} else if (off >= VIRTIO_PCI_MSIX_TABLE && off < VIRTIO_PCI_MSIX_PBA) {
		msix_table_write(&vp->msix, off - VIRTIO_PCI_MSIX_TABLE, size, value);
	}
	/* ISR, the PBA and the gaps are read-only. */
}

static uint64_t bar_read(void *opaque, uint64_t off, unsigned size)
{
	return virtio_pci_bar_read(opaque, off, size);
}

static void bar_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
	virtio_pci_bar_write(opaque, off, size, value);
}

static const struct bus_ops vp_bar_ops = { .name = "virtio-pci", .read = bar_read,
					   .write = bar_write };

/* BAR 4 moved, appeared or went: its bus range and the notify ioeventfds follow. */
static void vp_bar_remap(struct pci_device *dev, unsigned bar, bool was_on, uint64_t old_addr,
			 bool on, uint64_t addr)
{
	struct virtio_pci *vp = dev->opaque;
	int ret;

	if (bar != VIRTIO_PCI_BAR)
		return;
	if (was_on && vp->bar_on) {
		for (unsigned q = 0; q < vp->vdev->nr_queues; q++) {
			if (vp->ioeventfd[q])
				vp->plat.ioeventfd(vp->plat.opaque,
						   old_addr + VIRTIO_PCI_NOTIFY + VIRTIO_PCI_NOTIFY_MUL * q,
						   2, vp->kick[q], false);
			vp->ioeventfd[q] = false;
		}
		bus_unregister(vp->plat.mmio, old_addr);
		vp->bar_on = false;
	}
	if (!on)
		return;
	ret = bus_register(vp->plat.mmio, addr, VIRTIO_PCI_BAR_SIZE, &vp_bar_ops, vp);
	if (ret) {
		vp_warn_rl(vp, "BAR 4 at 0x%llx overlaps another device: not mapped",
			   (unsigned long long)addr);
		return;
	}
	vp->bar_on = true;
	vp->bar_addr = addr;
	for (unsigned q = 0; q < vp->vdev->nr_queues; q++) {
		ret = vp->plat.ioeventfd(vp->plat.opaque,
					 addr + VIRTIO_PCI_NOTIFY + VIRTIO_PCI_NOTIFY_MUL * q, 2,
					 vp->kick[q], true);
		vp->ioeventfd[q] = ret == 0;
		if (ret)
			vp_warn_rl(vp, "queue %u: no ioeventfd (%s): notifies go "
				   "through the VMM", q, strerror(-ret));
	}
}

/* ---- config space: MSI-X control and the PCI configuration access window ---- */

static uint32_t cfg_cap_u32(const struct pci_device *dev, unsigned off)
{
	uint32_t v;

	memcpy(&v, &dev->cfg[off], 4);
	return v;
}

/*
 * The window (VIRTIO_PCI_CAP_PCI_CFG): cap.bar, cap.offset and cap.length
 * pick a BAR 4 register that pci_cfg_data then reads or writes. Called
 * under the PCI bus lock.
 */
static bool window_target(const struct pci_device *dev, unsigned off, unsigned size,
			  uint64_t *bar_off, unsigned *len)
{
	uint32_t o = cfg_cap_u32(dev, OFF_PCI_CFG + 8), l = cfg_cap_u32(dev, OFF_PCI_CFG + 12);

	if (off != PCI_CFG_DATA || dev->cfg[OFF_PCI_CFG + 4] != VIRTIO_PCI_BAR)
		return false;
	/* o + l in 32 bits would wrap for an offset near 4 GiB. */
	if ((l != 1 && l != 2 && l != 4) || size < l || o % l || o >= VIRTIO_PCI_BAR_SIZE ||
	    l > VIRTIO_PCI_BAR_SIZE - o)
		return false;
	*bar_off = o;
	*len = l;
	return true;
}

static uint32_t vp_cfg_read(struct pci_device *dev, unsigned off, unsigned size)
{
	uint64_t bar_off;
	unsigned len;

	if (window_target(dev, off, size, &bar_off, &len))
		return (uint32_t)virtio_pci_bar_read(dev->opaque, bar_off, len);
	return pci_default_cfg_read(dev, off, size);
}

static void vp_cfg_write(struct pci_device *dev, unsigned off, unsigned size, uint32_t value)
{
	struct virtio_pci *vp = dev->opaque;
	uint64_t bar_off;
	unsigned len;

	if (window_target(dev, off, size, &bar_off, &len)) {
		virtio_pci_bar_write(vp, bar_off, len, value);
		return;
	}
	pci_default_cfg_write(dev, off, size, value);
	if (off < OFF_MSIX + MSIX_CAP_SIZE && off + size > OFF_MSIX) {
		msix_cfg_written(&vp->msix);
		intx_update(vp);
	}
}

static const struct pci_device_ops vp_pci_ops = {
	.name = "virtio-pci",
	.cfg_read = vp_cfg_read,
	.cfg_write = vp_cfg_write,
	.bar_remap = vp_bar_remap,
};

/* A virtio vendor capability: {vndr, next, len, type, bar, id, pad[2], offset, length}. */
static void put_cap(struct pci_device *dev, unsigned at, uint8_t next, uint8_t len, uint8_t type,
		    uint32_t offset, uint32_t length)
{
	uint8_t *c = &dev->cfg[at];

	c[0] = PCI_CAP_ID_VNDR;
	c[1] = next;
	c[2] = len;
	c[3] = type;
	c[4] = VIRTIO_PCI_BAR;
	memcpy(c + 8, &offset, 4);
	memcpy(c + 12, &length, 4);
}

static uint32_t class_of(uint16_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_NET: return 0x020000;   /* Ethernet */
	case VIRTIO_ID_BLOCK: return 0x018000; /* mass storage, other */
	default: return 0xff0000;
	}
}

static int setup_config_space(struct virtio_pci *vp, uint8_t devfn)
{
	struct pci_device *dev = &vp->pci;
	struct pci_config_header *h;
	uint32_t mul = VIRTIO_PCI_NOTIFY_MUL;
	int ret;

	pci_device_init(dev, &vp_pci_ops, vp, devfn);
	pci_set_ids(dev, 0x1af4, (uint16_t)(0x1040 + vp->vdev->device_id),
		    class_of(vp->vdev->device_id), PCI_HEADER_TYPE_NORMAL);
	h = pci_header(dev->cfg);
	h->revision = 1; /* modern only */
	h->subsystem_vendor_id = 0x1af4;
	h->subsystem_id = (uint16_t)(0x40 + vp->vdev->device_id);
	h->interrupt_pin = 1;
	h->status = PCI_STATUS_CAP_LIST;
	h->capabilities = OFF_MSIX;
	pci_header(dev->wmask)->command = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
					  PCI_COMMAND_INTX_DISABLE;
	pci_header(dev->wmask)->interrupt_line = 0xff;
	ret = pci_device_add_bar(dev, VIRTIO_PCI_BAR, PCI_BAR_MEM64, VIRTIO_PCI_BAR_SIZE, true);
	if (ret)
		return ret;
	ret = msix_init(&vp->msix, dev, OFF_MSIX, OFF_COMMON, vp->nr_vectors, VIRTIO_PCI_BAR,
			VIRTIO_PCI_MSIX_TABLE, VIRTIO_PCI_MSIX_PBA, &vp_msix_ops, vp);
	if (ret)
		return ret;
	put_cap(dev, OFF_COMMON, OFF_NOTIFY, 16, CAP_COMMON, VIRTIO_PCI_COMMON, CC_SIZE);
	put_cap(dev, OFF_NOTIFY, OFF_ISR, 20, CAP_NOTIFY, VIRTIO_PCI_NOTIFY,
		VIRTIO_PCI_NOTIFY_MUL * vp->vdev->nr_queues);
	memcpy(&dev->cfg[OFF_NOTIFY + 16], &mul, 4);
	put_cap(dev, OFF_ISR, OFF_DEVICE, 16, CAP_ISR, VIRTIO_PCI_ISR, 1);
	put_cap(dev, OFF_DEVICE, OFF_PCI_CFG, 16, CAP_DEVICE, VIRTIO_PCI_DEVICE,
		vp->vdev->config_len);
	put_cap(dev, OFF_PCI_CFG, 0, 20, CAP_PCI_CFG, 0, 0);
	/* The window's bar, offset and length are the driver's to set. */
	dev->wmask[OFF_PCI_CFG + 4] = 0xff;
	memset(&dev->wmask[OFF_PCI_CFG + 8], 0xff, 8);
	return 0;
}

struct virtio_pci *virtio_pci_new(struct virtio_device *vdev, uint8_t devfn,
				  const struct pci_platform *plat)
{
	struct virtio_pci *vp = calloc(1, sizeof(*vp));
	int ret = -ENOMEM;

	if (!vp)
		goto fail;
	vp->vdev = vdev;
	vp->plat = *plat;
	snprintf(vp->name, sizeof(vp->name), "%s", vdev->name);
	pthread_mutex_init(&vp->lock, NULL);
	pthread_mutex_init(&vp->intx_lock, NULL);
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		vp->kick[i] = -1;
	for (unsigned i = 0; i <= VIRTIO_MAX_QUEUES; i++)
		vp->irqfd[i] = -1;
	ret = -EINVAL;
	if (!vdev->nr_queues || vdev->nr_queues > VIRTIO_MAX_QUEUES || !vdev->ops ||
	    !vdev->ops->start || !vdev->ops->stop)
		goto fail;
	vp->nr_vectors = vdev->nr_queues + 1u;
	for (unsigned i = 0; i < vdev->nr_queues; i++) {
		vp->kick[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vp->kick[i] < 0) {
			ret = -errno;
			goto fail;
		}
	}
	for (unsigned i = 0; i < vp->nr_vectors; i++) {
		ret = plat->irqfd(plat->opaque, &vp->gsi[i], &vp->irqfd[i]);
		if (ret)
			goto fail;
	}
	ret = setup_config_space(vp, devfn);
	if (ret)
		goto fail;
	vdev->interrupt = vp_interrupt;
	vdev->needs_reset = vp_needs_reset;
	vdev->transport = vp;
	pthread_mutex_lock(&vp->lock);
	vp_reset(vp);
	pthread_mutex_unlock(&vp->lock);
	return vp;
fail:
	if (vp) {
		vp->vdev = NULL; /* still the caller's */
		virtio_pci_free(vp);
	}
	errno = -ret;
	return NULL;
}

struct pci_device *virtio_pci_dev(struct virtio_pci *vp)
{
	return &vp->pci;
}

void virtio_pci_stop(struct virtio_pci *vp)
{
	pthread_mutex_lock(&vp->lock);
	if (vp->started)
		vp->vdev->ops->stop(vp->vdev);
	vp->started = false;
	pthread_mutex_unlock(&vp->lock);
}

/* Under vp->lock: serialized with the start() and stop() a driver's status write makes. */
int virtio_pci_quiesce(struct virtio_pci *vp, unsigned timeout_ms)
{
	int ret = 0;

	pthread_mutex_lock(&vp->lock);
	if (vp->vdev->ops->quiesce)
		ret = vp->vdev->ops->quiesce(vp->vdev, timeout_ms);
	pthread_mutex_unlock(&vp->lock);
	return ret;
}

void virtio_pci_resume(struct virtio_pci *vp)
{
	pthread_mutex_lock(&vp->lock);
	if (vp->vdev->ops->resume)
		vp->vdev->ops->resume(vp->vdev);
	pthread_mutex_unlock(&vp->lock);
}

/* Vector v as "vector 3", with what stops it or waits in it. */
static void dump_vector(struct virtio_pci *vp, FILE *f, uint16_t v)
{
	bool masked, waiting;

	if (v == VIRTIO_PCI_NO_VECTOR || v >= vp->nr_vectors) {
		fprintf(f, "no vector");
		return;
	}
	msix_vector_state(&vp->msix, v, &masked, &waiting);
	fprintf(f, "vector %u%s%s", v, masked ? " masked" : "", waiting ? " pending" : "");
}

void virtio_pci_dump(struct virtio_pci *vp, FILE *f)
{
	struct virtio_device *vdev = vp->vdev;

	pthread_mutex_lock(&vp->lock);
	fprintf(f, "%s: status %#x, features %#llx, MSI-X %s, ISR %#x, config ", vp->name,
		atomic_load(&vp->status), (unsigned long long)vp->driver_features,
		msix_enabled(&vp->msix) ? "on" : "off", atomic_load(&vp->isr));
	dump_vector(vp, f, atomic_load(&vp->config_vector));
	fputc('\n', f);
	for (unsigned q = 0; q < vdev->nr_queues; q++) {
		if (!vdev->vq[q].enabled)
			continue;
		fprintf(f, "  queue %u: ", q);
		virtq_dump(&vdev->vq[q], f);
		fprintf(f, ", ");
		dump_vector(vp, f, atomic_load(&vp->q[q].vector));
		fputc('\n', f);
	}
	if (vp->started && vdev->ops->dump)
		vdev->ops->dump(vdev, f);
	pthread_mutex_unlock(&vp->lock);
	fflush(f);
}

void virtio_pci_free(struct virtio_pci *vp)
{
	if (!vp)
		return;
	if (vp->vdev) {
		virtio_pci_stop(vp);
		if (vp->vdev->ops->free)
			vp->vdev->ops->free(vp->vdev);
	}
	msix_destroy(&vp->msix);
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		if (vp->kick[i] >= 0)
			close(vp->kick[i]);
	for (unsigned i = 0; i <= VIRTIO_MAX_QUEUES; i++)
		if (vp->irqfd[i] >= 0)
			close(vp->irqfd[i]);
	pthread_mutex_destroy(&vp->lock);
	pthread_mutex_destroy(&vp->intx_lock);
	free(vp);
}
