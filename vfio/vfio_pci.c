// SPDX-License-Identifier: MIT
/*
 * The guest's view of a passed-through PCI function (vfio_pci.h): its
 * config space, half emulated and half the device's, and its BARs as
 * memslots or trapped ranges, and its INTx, MSI and MSI-X through irqfds.
 */
#include "vfio_pci.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <poll.h>
#include <unistd.h>

#include "devices/msix.h"
#include "core/bus.h"
#include "core/log.h"
#include "core/pci.h"

#define PAGE 4096u
#define ROM_IDX VFIO_PCI_ROM_REGION_INDEX

/* The command bits the guest drives on the real device too. */
#define CMD_GUEST (PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | \
		   PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE)

/*
 * A page-aligned stretch of a BAR the guest reaches directly: the device's
 * region mmapped, and a memslot onto it while the BAR decodes.
 */
struct vfio_direct {
	uint64_t off, size;    /* within the BAR */
	void *map;
	int slot;              /* -1 while not mapped */
};

#define BAR_DIRECT_MAX 8

struct vfio_bar {
	struct vfio_pci *vp;
	unsigned idx;          /* 0-5, or ROM_IDX */
	bool io;
	uint64_t size;         /* as the guest sizes it: a power of two */
	uint64_t region_size;  /* what the device has, up to size */
	uint64_t offset;       /* the region's offset in the device fd */
	/* The direct stretches; whatever they leave out is trapped. */
	struct vfio_direct direct[BAR_DIRECT_MAX];
	unsigned nr_direct;
	bool trapped;          /* a bus range at addr forwards accesses */
	bool on;               /* decoding at addr */
	uint64_t addr;
	/* Guest accesses that reached the trap (vCPU threads, atomically): vm.counters. */
	uint64_t exits;
};

#define MSI_MAX 32

/* The MSI capability as the guest programs it, and what the device was given. */
struct vfio_msi {
	unsigned cap;          /* its offset; 0: the device has none */
	unsigned data_off;     /* where the data register is (after a 64-bit address or not) */
	bool is64;
	unsigned max;          /* vectors the device can ask for */
	unsigned on;           /* vectors the device signals now; 0: off */
	uint64_t addr;         /* what the routes say */
	uint32_t data;
	unsigned nr_fd;        /* GSIs and irqfds made so far (kept across enables) */
	unsigned gsi[MSI_MAX];
	int efd[MSI_MAX];
	/*
	 * Per-vector masking, when the device has it: mask_off is where the
	 * mask bits are (0: none); a masked vector signals pendfd[v] instead,
	 * which the pending bits show and unmasking delivers.
	 */
	unsigned mask_off;
	uint32_t masked;       /* the mask as the device was last pointed */
	int pendfd[MSI_MAX];
};

/* MSI-X: msix.c keeps the table and the masking; the device is told where to signal. */
struct vfio_msix {
	unsigned cap;          /* its offset; 0: none */
	unsigned nr;
	unsigned table_bar, pba_bar;
	uint64_t table_off, pba_off;
	struct msix m;
	bool on;               /* the device has MSI-X on (VFIO_DEVICE_SET_IRQS) */
	unsigned *gsi;         /* per vector: its GSI and irqfd, once routed */
	int *irqfd;
	int *pendfd;           /* per vector: where the device signals while it is masked */
};

/*
 * INTx: the device signals trigger, a KVM irqfd asserting the guest's line
 * until the guest's EOI, which KVM reports on resample; VFIO unmasks the
 * device's INTx on that same eventfd. Neither hop is through us.
 */
struct vfio_intx {
	bool avail;            /* the device has a pin and VFIO offers INTx */
	unsigned gsi;          /* the guest's line for the pin */
	int trigger, resample; /* -1 until made */
	bool routed;           /* the KVM irqfd is assigned */
	bool on;               /* the device signals it (VFIO_DEVICE_SET_IRQS) */
};

struct vfio_pci {
	struct pci_device pci;
	struct vfio_device *d;
	struct pci_platform plat;
	char name[24];
	uint32_t cfg_size;            /* the device's config space: 256 or 4096 */
	uint8_t emu[PCI_CFG_SIZE];    /* 1: the byte is served from pci.cfg */
	uint8_t cfg0[PCI_CFG_SIZE];   /* pci.cfg as made: what a reset puts back */
	struct vfio_bar bar[6];
	struct vfio_bar rom;          /* the core decodes its register (PCI_ROM_BAR) */
	struct vfio_msi msi;
	struct vfio_msix msix;
	struct vfio_intx intx;
	struct vfio_pci_opts opts;
	unsigned link_speed, link_width; /* of the link the guest sees; 0: no PCIe */
	struct log_ratelimit warn_rl;    /* vp_warn_rl()'s */
};

/* What a guest's accesses make go wrong: said, but a few times a second at most. */
#define vp_warn_rl(vp, ...) dev_warn_rl(&(vp)->warn_rl, (vp)->name, __VA_ARGS__)

static struct vfio_pci *to_vp(struct pci_device *dev)
{
	return dev->opaque;
}

/* ---- the device's own config space and regions ---- */

static int dev_pread(const struct vfio_pci *vp, void *buf, size_t n, uint64_t off)
{
	ssize_t got = pread(vp->d->fd, buf, n, (off_t)off);

	return got == (ssize_t)n ? 0 : got < 0 ? -errno : -EIO;
}

static int dev_pwrite(const struct vfio_pci *vp, const void *buf, size_t n, uint64_t off)
{
	ssize_t put = pwrite(vp->d->fd, buf, n, (off_t)off);

	return put == (ssize_t)n ? 0 : put < 0 ? -errno : -EIO;
}

static uint64_t cfg_region_off(const struct vfio_pci *vp)
{
	return vp->d->region[VFIO_PCI_CONFIG_REGION_INDEX].offset;
}

static uint32_t dev_cfg_read(struct vfio_pci *vp, unsigned off, unsigned size)
{
	uint32_t v = 0;

	if (dev_pread(vp, &v, size, cfg_region_off(vp) + off)) {
		vp_warn_rl(vp, "config read at 0x%x failed", off);
		return size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
	}
	return v;
}

static void dev_cfg_write(struct vfio_pci *vp, unsigned off, unsigned size, uint32_t v)
{
	if (dev_pwrite(vp, &v, size, cfg_region_off(vp) + off))
		vp_warn_rl(vp, "config write at 0x%x failed", off);
}

/* ---- config space as the guest sees it ---- */

static void emulate(struct vfio_pci *vp, unsigned off, unsigned len)
{
	memset(&vp->emu[off], 1, len);
}

static void msi_pending_refresh(struct vfio_pci *vp);

static uint32_t vp_cfg_read(struct pci_device *dev, unsigned offset, unsigned size)
{
	struct vfio_pci *vp = to_vp(dev);
	uint32_t live = 0, v = 0;
	bool any_live = false;

	for (unsigned i = 0; i < size; i++)
		any_live |= !vp->emu[offset + i];
	if (any_live)
		live = dev_cfg_read(vp, offset, size);
	if (vp->msi.mask_off && offset < vp->msi.mask_off + 8 && offset + size > vp->msi.mask_off + 4)
		msi_pending_refresh(vp);
	for (unsigned i = 0; i < size; i++) {
		uint8_t b = vp->emu[offset + i] ? dev->cfg[offset + i] : (uint8_t)(live >> (8 * i));

		v |= (uint32_t)b << (8 * i);
	}
	return v;
}

static void msi_update(struct vfio_pci *vp);
static void msix_ctrl_written(struct vfio_pci *vp);

static void vp_cfg_write(struct pci_device *dev, unsigned offset, unsigned size, uint32_t value)
{
	struct vfio_pci *vp = to_vp(dev);
	bool all_emu = true, any_emu = false;

	for (unsigned i = 0; i < size; i++) {
		all_emu &= vp->emu[offset + i];
		any_emu |= vp->emu[offset + i];
	}
	if (any_emu) {
		for (unsigned i = 0; i < size; i++) {
			uint8_t m = vp->emu[offset + i] ? dev->wmask[offset + i] : 0;
			uint8_t b = (uint8_t)(value >> (8 * i));

			dev->cfg[offset + i] = (uint8_t)((dev->cfg[offset + i] & ~m) | (b & m));
		}
	}
	if (!all_emu) {
		/* The device's bytes of the access; the emulated ones stay out of it. */
		for (unsigned i = 0; i < size; i++)
			if (!vp->emu[offset + i])
				dev_cfg_write(vp, offset + i, 1, (uint8_t)(value >> (8 * i)));
	}
	if (offset < PCI_COMMAND + 2 && offset + size > PCI_COMMAND) {
		uint16_t cmd;

		memcpy(&cmd, &dev->cfg[PCI_COMMAND], 2);
		dev_cfg_write(vp, PCI_COMMAND, 2, cmd & CMD_GUEST);
	}
	if (vp->msi.cap && offset < (vp->msi.mask_off ? vp->msi.mask_off + 4 : vp->msi.data_off + 2) &&
	    offset + size > vp->msi.cap + 2)
		msi_update(vp);
	if (vp->msix.cap && offset < vp->msix.cap + 4 && offset + size > vp->msix.cap + 2)
		msix_ctrl_written(vp);
}

/* ---- interrupts ---- */

/* VFIO_DEVICE_SET_IRQS: count eventfds from start for action, or (count 0) none. */
static int set_irqs_action(struct vfio_pci *vp, unsigned index, uint32_t action, unsigned start,
			   unsigned count, const int *fds)
{
	size_t sz = sizeof(struct vfio_irq_set) + count * sizeof(int);
	struct vfio_irq_set *set = calloc(1, sz);
	int ret;

	if (!set)
		return -ENOMEM;
	set->argsz = (uint32_t)sz;
	set->flags = action | (count ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE);
	set->index = index;
	set->start = start;
	set->count = count;
	if (count)
		memcpy(set->data, fds, count * sizeof(int));
	ret = vp->d->sys->ioctl(vp->d->fd, VFIO_DEVICE_SET_IRQS, set);
	free(set);
	return ret < 0 ? ret : 0;
}

/* The device signals count eventfds from start, or (count 0) that kind is off. */
static int set_irqs(struct vfio_pci *vp, unsigned index, unsigned start, unsigned count,
		    const int *fds)
{
	return set_irqs_action(vp, index, VFIO_IRQ_SET_ACTION_TRIGGER, start, count, fds);
}

/*
 * INTx on: the irqfd pair in KVM once, then the device told where to
 * signal and which eventfd unmasks it. The kernel takes one kind of
 * interrupt at a time, so this is while MSI and MSI-X are off.
 */
static void intx_on(struct vfio_pci *vp)
{
	struct vfio_intx *t = &vp->intx;
	int ret = 0;

	if (!t->avail || t->on)
		return;
	if (!t->routed) {
		ret = vp->plat.intx_irqfd(vp->plat.opaque, t->gsi, t->trigger, t->resample, true);
		t->routed = ret == 0;
	}
	if (!ret)
		ret = set_irqs(vp, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &t->trigger);
	if (!ret) {
		ret = set_irqs_action(vp, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK, 0,
				      1, &t->resample);
		if (ret)
			set_irqs(vp, VFIO_PCI_INTX_IRQ_INDEX, 0, 0, NULL);
	}
	if (ret)
		vp_warn_rl(vp, "INTx: cannot wire it to GSI %u: %s", t->gsi,
			   strerror(-ret));
	t->on = ret == 0;
}

static void intx_off(struct vfio_pci *vp)
{
	struct vfio_intx *t = &vp->intx;

	if (t->on && set_irqs(vp, VFIO_PCI_INTX_IRQ_INDEX, 0, 0, NULL))
		vp_warn_rl(vp, "cannot turn INTx off on the device");
	t->on = false;
}

/* pin: 1 (INTA) to 4, from config space; the platform says which GSI each reaches. */
static int intx_init(struct vfio_pci *vp)
{
	struct vfio_intx *t = &vp->intx;
	unsigned pin = vp->pci.cfg[PCI_INTERRUPT_PIN];

	t->trigger = t->resample = -1;
	if (!pin || pin > 4 || !vp->d->irq[VFIO_PCI_INTX_IRQ_INDEX].count ||
	    !vp->plat.intx_irqfd)
		return 0;
	t->gsi = vp->plat.intx_gsi[pin - 1];
	t->trigger = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	t->resample = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->trigger < 0 || t->resample < 0)
		return -errno;
	t->avail = true;
	intx_on(vp);
	return 0;
}

static void intx_free(struct vfio_pci *vp)
{
	struct vfio_intx *t = &vp->intx;

	intx_off(vp);
	if (t->routed)
		vp->plat.intx_irqfd(vp->plat.opaque, t->gsi, t->trigger, t->resample, false);
	t->routed = false;
	if (t->trigger >= 0)
		close(t->trigger);
	if (t->resample >= 0)
		close(t->resample);
	t->trigger = t->resample = -1;
	t->avail = false;
}

static uint32_t cfg32(const struct vfio_pci *vp, unsigned off)
{
	uint32_t v;

	memcpy(&v, &vp->pci.cfg[off], 4);
	return v;
}

static uint16_t cfg16(const struct vfio_pci *vp, unsigned off)
{
	uint16_t v;

	memcpy(&v, &vp->pci.cfg[off], 2);
	return v;
}

/* The eventfd vector v of MSI signals now: its pending one while the guest masks it. */
static int msi_fd(const struct vfio_msi *m, unsigned v, uint32_t mask)
{
	return mask & (1u << v) ? m->pendfd[v] : m->efd[v];
}

/*
 * The guest's mask bits (PCI lock held), applied to the n vectors the
 * device signals: each one whose bit changed is pointed at its
 * pending eventfd or back at its irqfd, and an interrupt that came while
 * it was masked is delivered on unmask.
 */
static void msi_mask_apply(struct vfio_pci *vp, unsigned n)
{
	struct vfio_msi *m = &vp->msi;
	uint32_t mask = m->mask_off ? cfg32(vp, m->mask_off) : 0;

	for (unsigned v = 0; v < n; v++) {
		uint32_t bit = 1u << v;
		uint64_t cnt = 0;
		int fd = msi_fd(m, v, mask);

		if (!((mask ^ m->masked) & bit))
			continue;
		if (set_irqs(vp, VFIO_PCI_MSI_IRQ_INDEX, v, 1, &fd))
			vp_warn_rl(vp, "MSI vector %u: the device refused its "
				   "eventfd", v);
		if (!(mask & bit) && read(m->pendfd[v], &cnt, sizeof(cnt)) == sizeof(cnt) && cnt) {
			uint64_t one = 1;

			if (write(m->efd[v], &one, sizeof(one)) < 0)
				vp_warn_rl(vp, "MSI vector %u: irqfd: %s", v,
					   strerror(errno));
		}
	}
	m->masked = mask;
}

/* The pending bits as the guest reads them: a vector is pending while its pendfd holds a count. */
static void msi_pending_refresh(struct vfio_pci *vp)
{
	struct vfio_msi *m = &vp->msi;
	uint32_t pending = 0;

	for (unsigned v = 0; v < m->nr_fd && m->on; v++) {
		struct pollfd p = { .fd = m->pendfd[v], .events = POLLIN };

		if ((m->masked & (1u << v)) && poll(&p, 1, 0) == 1)
			pending |= 1u << v;
	}
	memcpy(&vp->pci.cfg[m->mask_off + 4], &pending, 4);
}

/*
 * After the guest wrote the MSI capability (PCI lock held): the device
 * signals the vectors the guest enabled, each through an irqfd whose GSI
 * routes to the guest's address and data (the vector number in the low
 * bits of the data, as multiple-message MSI has it).
 */
static void msi_update(struct vfio_pci *vp)
{
	struct vfio_msi *m = &vp->msi;
	uint16_t ctrl = cfg16(vp, m->cap + PCI_MSI_FLAGS);
	unsigned mme = (ctrl & PCI_MSI_FLAGS_QSIZE) >> 4, n = 1u << mme;
	uint64_t addr = cfg32(vp, m->cap + PCI_MSI_ADDRESS_LO);
	uint32_t data = cfg16(vp, m->data_off);
	int ret = 0;

	if (m->is64)
		addr |= (uint64_t)cfg32(vp, m->cap + PCI_MSI_ADDRESS_HI) << 32;
	if (!(ctrl & PCI_MSI_FLAGS_ENABLE)) {
		if (m->on && set_irqs(vp, VFIO_PCI_MSI_IRQ_INDEX, 0, 0, NULL))
			vp_warn_rl(vp, "cannot turn MSI off on the device");
		if (m->on)
			intx_on(vp);
		m->on = 0;
		return;
	}
	if (n > m->max)
		n = m->max;
	while (m->nr_fd < n && !ret) {
		int pend = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

		ret = pend < 0 ? -errno :
		      vp->plat.irqfd(vp->plat.opaque, &m->gsi[m->nr_fd], &m->efd[m->nr_fd]);
		if (!ret)
			m->pendfd[m->nr_fd++] = pend;
		else if (pend >= 0)
			close(pend);
	}
	if (ret) {
		vp_warn_rl(vp, "MSI: no irqfd for vector %u: %s", m->nr_fd,
			   strerror(-ret));
		return;
	}
	if (m->on != n || addr != m->addr || data != m->data) {
		for (unsigned i = 0; i < n && !ret; i++)
			ret = vp->plat.msi_route(vp->plat.opaque, m->gsi[i], addr,
						 (data & ~(n - 1)) | i);
		if (ret)
			vp_warn_rl(vp, "MSI: cannot route it: %s", strerror(-ret));
		m->addr = addr;
		m->data = data;
	}
	if (m->on != n) {
		intx_off(vp);
		/* A new vector count: the kernel takes it only from off. */
		if (m->on && set_irqs(vp, VFIO_PCI_MSI_IRQ_INDEX, 0, 0, NULL))
			vp_warn_rl(vp, "cannot turn MSI off on the device");
		m->on = 0;
		{
			uint32_t mask = m->mask_off ? cfg32(vp, m->mask_off) : 0;
			int fds[MSI_MAX];

			for (unsigned v = 0; v < n; v++)
				fds[v] = msi_fd(m, v, mask);
			ret = set_irqs(vp, VFIO_PCI_MSI_IRQ_INDEX, 0, n, fds);
			m->masked = mask;
		}
		if (ret) {
			vp_warn_rl(vp, "MSI: the device refused %u vector(s): %s",
				   n, strerror(-ret));
			intx_on(vp);
			return;
		}
		m->on = n;
		return;
	}
	msi_mask_apply(vp, n);
}

/* The MSI capability at pos becomes ours: the guest programs it, we program the device. */
static void msi_init(struct vfio_pci *vp, unsigned pos)
{
	struct vfio_msi *m = &vp->msi;
	uint16_t ctrl = cfg16(vp, pos + PCI_MSI_FLAGS);
	bool pvm = ctrl & PCI_MSI_FLAGS_MASKBIT;
	unsigned len;
	uint8_t *wm = vp->pci.wmask;

	m->cap = pos;
	m->is64 = ctrl & PCI_MSI_FLAGS_64BIT;
	m->max = 1u << ((ctrl & PCI_MSI_FLAGS_QMASK) >> 1);
	if (m->max > MSI_MAX)
		m->max = MSI_MAX;
	m->data_off = pos + (m->is64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32);
	len = m->data_off + 2 - pos + (pvm ? 10 : 0);
	emulate(vp, pos + 2, len - 2);
	/* Off, one vector, nothing programmed; the capable bits stay the device's. */
	ctrl &= PCI_MSI_FLAGS_QMASK | PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT;
	memcpy(&vp->pci.cfg[pos + PCI_MSI_FLAGS], &ctrl, 2);
	memset(&vp->pci.cfg[pos + PCI_MSI_ADDRESS_LO], 0, len - PCI_MSI_ADDRESS_LO);
	wm[pos + PCI_MSI_FLAGS] = PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE;
	memset(&wm[pos + PCI_MSI_ADDRESS_LO], 0xff, 4);
	wm[pos + PCI_MSI_ADDRESS_LO] = 0xfc;
	if (m->is64)
		memset(&wm[pos + PCI_MSI_ADDRESS_HI], 0xff, 4);
	memset(&wm[m->data_off], 0xff, 2);
	if (pvm) { /* the mask bits of the vectors it has; the pending bits are read-only */
		m->mask_off = m->data_off + 4;
		memset(&wm[m->mask_off], 0, 4);
		for (unsigned v = 0; v < m->max; v++)
			wm[m->mask_off + v / 8] |= (uint8_t)(1u << (v % 8));
	}
	for (unsigned v = 0; v < MSI_MAX; v++)
		m->pendfd[v] = -1;
}

static void msi_free(struct vfio_pci *vp)
{
	struct vfio_msi *m = &vp->msi;

	if (m->on)
		set_irqs(vp, VFIO_PCI_MSI_IRQ_INDEX, 0, 0, NULL);
	m->on = 0;
	for (unsigned i = 0; i < m->nr_fd; i++) {
		close(m->efd[i]);
		close(m->pendfd[i]);
	}
	m->nr_fd = 0;
}

/*
 * MSI-X. msix.c emulates the capability, the table and the PBA; the
 * device signals vector v into its irqfd (routed to the guest's address
 * and data) while v is deliverable, and into pendfd[v] while it is
 * masked, which unmasking turns into the interrupt the guest missed.
 */
static void msix_point(struct vfio_pci *vp, unsigned v, int fd)
{
	if (vp->msix.on && set_irqs(vp, VFIO_PCI_MSIX_IRQ_INDEX, v, 1, &fd))
		vp_warn_rl(vp, "MSI-X vector %u: the device refused its eventfd", v);
}

static void msix_route(void *opaque, unsigned v, uint64_t addr, uint32_t data)
{
	struct vfio_pci *vp = opaque;
	struct vfio_msix *x = &vp->msix;
	int ret = 0;

	if (x->irqfd[v] < 0)
		ret = vp->plat.irqfd(vp->plat.opaque, &x->gsi[v], &x->irqfd[v]);
	if (!ret)
		ret = vp->plat.msi_route(vp->plat.opaque, x->gsi[v], addr, data);
	if (ret)
		vp_warn_rl(vp, "MSI-X vector %u: cannot route it: %s", v,
			   strerror(-ret));
}

static void msix_fire(void *opaque, unsigned v)
{
	struct vfio_pci *vp = opaque;
	uint64_t one = 1;

	if (vp->msix.irqfd[v] >= 0 && write(vp->msix.irqfd[v], &one, sizeof(one)) < 0)
		vp_warn_rl(vp, "MSI-X vector %u: irqfd: %s", v, strerror(errno));
}

static void msix_mask(void *opaque, unsigned v, bool masked)
{
	struct vfio_pci *vp = opaque;
	struct vfio_msix *x = &vp->msix;
	uint64_t n = 0;

	if (masked || x->irqfd[v] < 0) {
		msix_point(vp, v, x->pendfd[v]);
		return;
	}
	msix_point(vp, v, x->irqfd[v]);
	/* What the device signalled while the vector was masked is due now. */
	if (read(x->pendfd[v], &n, sizeof(n)) == sizeof(n) && n)
		msix_fire(vp, v);
}

static const struct msix_ops vfio_msix_ops = {
	.route = msix_route, .fire = msix_fire, .mask = msix_mask,
};

/*
 * The guest wrote MSI-X's message control (PCI lock held). On: the device
 * gets MSI-X with every vector pointed at its pending eventfd, then
 * msix.c opens those the guest left unmasked. Off: the other way round.
 */
static void msix_ctrl_written(struct vfio_pci *vp)
{
	struct vfio_msix *x = &vp->msix;
	bool on = cfg16(vp, x->cap + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_ENABLE;

	if (on && !x->on) {
		intx_off(vp);
		if (set_irqs(vp, VFIO_PCI_MSIX_IRQ_INDEX, 0, x->nr, x->pendfd)) {
			vp_warn_rl(vp, "the device refused MSI-X with %u vectors", x->nr);
			intx_on(vp);
		} else {
			x->on = true;
		}
	}
	msix_cfg_written(&x->m);
	if (!on && x->on) {
		set_irqs(vp, VFIO_PCI_MSIX_IRQ_INDEX, 0, 0, NULL);
		x->on = false;
		intx_on(vp);
	}
}

static void msix_free(struct vfio_pci *vp);

static int msix_init_vfio(struct vfio_pci *vp, unsigned pos)
{
	struct vfio_msix *x = &vp->msix;
	uint16_t ctrl = cfg16(vp, pos + PCI_MSIX_FLAGS);
	uint32_t table = cfg32(vp, pos + PCI_MSIX_TABLE), pba = cfg32(vp, pos + PCI_MSIX_PBA);
	int ret;

	x->nr = (ctrl & PCI_MSIX_FLAGS_QSIZE) + 1;
	x->table_bar = table & PCI_MSIX_TABLE_BIR;
	x->table_off = table & PCI_MSIX_TABLE_OFFSET;
	x->pba_bar = pba & PCI_MSIX_PBA_BIR;
	x->pba_off = pba & PCI_MSIX_PBA_OFFSET;
	/*
	 * A BAR that cannot be, or a table or PBA that does not fit in what
	 * the device has there (its entries out of the guest's reach, and
	 * msix.c's promise broken), is refused before up to 2048 eventfds
	 * are made for it.
	 */
	if (x->table_bar > 5 || x->pba_bar > 5 ||
	    x->table_off + (uint64_t)x->nr * MSIX_ENTRY_SIZE > vp->d->region[x->table_bar].size ||
	    x->pba_off + (x->nr + 63) / 64 * 8ull > vp->d->region[x->pba_bar].size) {
		ret = -EINVAL;
		goto fail;
	}
	x->gsi = calloc(x->nr, sizeof(*x->gsi));
	x->irqfd = malloc(x->nr * sizeof(int));
	x->pendfd = malloc(x->nr * sizeof(int));
	if (!x->gsi || !x->irqfd || !x->pendfd) {
		x->nr = 0; /* the arrays hold no fds to close yet */
		ret = -ENOMEM;
		goto fail;
	}
	/* All -1 first: a failure halfway leaves msix_free() only real fds to close. */
	for (unsigned v = 0; v < x->nr; v++)
		x->irqfd[v] = x->pendfd[v] = -1;
	for (unsigned v = 0; v < x->nr; v++) {
		x->pendfd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (x->pendfd[v] < 0) {
			ret = -errno;
			goto fail;
		}
	}
	ret = msix_init(&x->m, &vp->pci, pos, vp->pci.cfg[pos + 1], x->nr, x->table_bar,
			(uint32_t)x->table_off, (uint32_t)x->pba_off, &vfio_msix_ops, vp);
	if (ret)
		goto fail;
	/* msix_init puts the PBA in the table's BAR; the device's may be elsewhere. */
	memcpy(&vp->pci.cfg[pos + PCI_MSIX_PBA], &pba, 4);
	emulate(vp, pos + 2, MSIX_CAP_SIZE - 2);
	x->cap = pos;
	return 0;
fail:
	/* Nothing held for a capability the guest will not see (x->cap is still 0). */
	msix_free(vp);
	return ret;
}

static void msix_free(struct vfio_pci *vp)
{
	struct vfio_msix *x = &vp->msix;

	if (x->on)
		set_irqs(vp, VFIO_PCI_MSIX_IRQ_INDEX, 0, 0, NULL);
	x->on = false;
	if (x->cap)
		msix_destroy(&x->m);
	for (unsigned v = 0; v < x->nr; v++) {
		if (x->irqfd && x->irqfd[v] >= 0)
			close(x->irqfd[v]);
		if (x->pendfd && x->pendfd[v] >= 0)
			close(x->pendfd[v]);
	}
	free(x->gsi);
	free(x->irqfd);
	free(x->pendfd);
	memset(x, 0, sizeof(*x));
}

/* Whether [off, off + size) of BAR b touches the MSI-X table or PBA: those are msix.c's. */
static bool msix_owns(const struct vfio_pci *vp, unsigned bar, uint64_t off, unsigned size,
		      bool *pba, uint64_t *rel)
{
	const struct vfio_msix *x = &vp->msix;
	uint64_t tlen = (uint64_t)x->nr * MSIX_ENTRY_SIZE, plen = (x->nr + 63) / 64 * 8ull;

	if (!x->cap)
		return false;
	if (bar == x->table_bar && off < x->table_off + tlen && off + size > x->table_off) {
		*pba = false;
		*rel = off - x->table_off;
		return true;
	}
	if (bar == x->pba_bar && off < x->pba_off + plen && off + size > x->pba_off) {
		*pba = true;
		*rel = off - x->pba_off;
		return true;
	}
	return false;
}

/* ---- capabilities: what stays, what is hidden ---- */

static bool cap_kept(uint8_t id)
{
	switch (id) {
	case PCI_CAP_ID_PM:
	case PCI_CAP_ID_MSI:
	case PCI_CAP_ID_VNDR:
	case PCI_CAP_ID_EXP:
	case PCI_CAP_ID_MSIX:
		return true;
	default:
		return false;
	}
}

/*
 * The PCI Express capability at pos. Behind the vmm's root port the
 * function must be an endpoint with a link. A root complex integrated
 * endpoint (a function on the host's root bus: an iGPU, or any device of
 * a QEMU host) is neither, so it is shown as an endpoint with a 2.5 GT/s
 * x1 link of its own; a real endpoint keeps its registers, and its link
 * as the host trained it is what the root port above will report
 * (vfio_pci_link).
 */
static void exp_init(struct vfio_pci *vp, unsigned pos)
{
	uint16_t flags = cfg16(vp, pos + PCI_EXP_FLAGS), v16;
	uint32_t v32;
	uint8_t *wm = vp->pci.wmask;

	if (((flags & PCI_EXP_FLAGS_TYPE) >> 4) != PCI_EXP_TYPE_RC_END) {
		uint16_t sta = cfg16(vp, pos + PCI_EXP_LNKSTA);
		uint32_t cap = cfg32(vp, pos + PCI_EXP_LNKCAP);

		vp->link_speed = sta & PCI_EXP_LNKSTA_CLS;
		vp->link_width = (sta & PCI_EXP_LNKSTA_NLW) >> 4;
		if (!vp->link_speed || !vp->link_width) { /* not trained now: what it can do */
			vp->link_speed = cap & PCI_EXP_LNKCAP_SLS;
			vp->link_width = (cap & PCI_EXP_LNKCAP_MLW) >> 4;
		}
		dev_info(vp->name, "PCIe: an endpoint, its link at speed %u (1 = 2.5 GT/s, 4 = "
			 "16 GT/s) x%u, which its root port reports too", vp->link_speed,
			 vp->link_width);
		return;
	}
	dev_info(vp->name, "PCIe: a root complex integrated endpoint on the host, an endpoint "
		 "with a 2.5 GT/s x1 link behind its root port here");
	flags = (uint16_t)((flags & ~PCI_EXP_FLAGS_TYPE) | PCI_EXP_TYPE_ENDPOINT << 4);
	memcpy(&vp->pci.cfg[pos + PCI_EXP_FLAGS], &flags, 2);
	emulate(vp, pos + PCI_EXP_FLAGS, 2);
	v32 = PCI_EXP_LNKCAP_SLS_2_5GB | 1u << 4;
	memcpy(&vp->pci.cfg[pos + PCI_EXP_LNKCAP], &v32, 4);
	v16 = 0;
	memcpy(&vp->pci.cfg[pos + PCI_EXP_LNKCTL], &v16, 2);
	v16 = PCI_EXP_LNKCTL_ASPMC | PCI_EXP_LNKCTL_RCB | PCI_EXP_LNKCTL_CCC | PCI_EXP_LNKCTL_ES;
	memcpy(&wm[pos + PCI_EXP_LNKCTL], &v16, 2);
	v16 = PCI_EXP_LNKSTA_CLS_2_5GB | PCI_EXP_LNKSTA_NLW_X1 | PCI_EXP_LNKSTA_SLC;
	memcpy(&vp->pci.cfg[pos + PCI_EXP_LNKSTA], &v16, 2);
	emulate(vp, pos + PCI_EXP_LNKCAP, 8);
	if ((flags & PCI_EXP_FLAGS_VERS) >= 2 && pos + PCI_EXP_LNKSTA2 + 2 <= PCI_CFG_SPACE_SIZE) {
		v32 = PCI_EXP_LNKCAP2_SLS_2_5GB;
		memcpy(&vp->pci.cfg[pos + PCI_EXP_LNKCAP2], &v32, 4);
		v16 = 1; /* target link speed: 2.5 GT/s */
		memcpy(&vp->pci.cfg[pos + PCI_EXP_LNKCTL2], &v16, 2);
		memset(&vp->pci.cfg[pos + PCI_EXP_LNKSTA2], 0, 2);
		emulate(vp, pos + PCI_EXP_LNKCAP2, 8);
	}
	vp->link_speed = vp->link_width = 1;
}

/*
 * Sets up the capability at pos for the guest; false: the guest is not to
 * see it. taken: a bit per capability ID already given to the guest. A
 * second MSI, MSI-X or PCI Express capability is hidden: the VMM emulates
 * one of each, and a second would reach the device's own registers (a
 * guest's driver finds the first anyway). Vendor-specific ones come in
 * numbers (virtio has five) and PM is the device's own: those all stay.
 */
static bool cap_take(struct vfio_pci *vp, uint8_t id, unsigned pos, uint32_t *taken)
{
	int ret;

	if (!cap_kept(id)) {
		dev_info(vp->name, "capability 0x%02x at 0x%02x is hidden from the guest", id, pos);
		return false;
	}
	if ((id == PCI_CAP_ID_MSI || id == PCI_CAP_ID_MSIX || id == PCI_CAP_ID_EXP) &&
	    (*taken >> id & 1)) {
		dev_info(vp->name, "capability 0x%02x at 0x%02x is a second one of its kind; hidden "
			 "from the guest", id, pos);
		return false;
	}
	if (id == PCI_CAP_ID_MSI && !vp->msi.cap)
		msi_init(vp, pos);
	if (id == PCI_CAP_ID_EXP && !vp->link_speed)
		exp_init(vp, pos);
	if (id == PCI_CAP_ID_MSIX && !vp->msix.cap) {
		ret = msix_init_vfio(vp, pos);
		if (ret) {
			dev_warn(vp->name, "cannot emulate MSI-X at 0x%02x (%s); the guest gets none",
				 pos, strerror(-ret));
			return false;
		}
	}
	*taken |= 1u << id;
	return true;
}

/*
 * How many bytes from its header a capability spans, where its ID says
 * (linux/pci_regs.h's sizes of AGP, VPD, PCI-X, the bridge subsystem IDs,
 * SHPC, SATA, Advanced Features, MSI, PCI Express and MSI-X); otherwise
 * the header's dword, which every capability has.
 */
static unsigned cap_len(const uint8_t *cfg, uint8_t id, unsigned pos)
{
	uint16_t w;

	memcpy(&w, &cfg[pos + 2], 2); /* the register after the header, for those it sizes */
	switch (id) {
	case PCI_CAP_ID_MSI:
		return (w & PCI_MSI_FLAGS_64BIT ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32) + 2 +
		       (w & PCI_MSI_FLAGS_MASKBIT ? 10 : 0); /* and the mask and pending bits */
	case PCI_CAP_ID_EXP:
		return (w & PCI_EXP_FLAGS_VERS) >= 2 ? PCI_CAP_EXP_ENDPOINT_SIZEOF_V2 :
		       PCI_CAP_EXP_ENDPOINT_SIZEOF_V1;
	case PCI_CAP_ID_AGP:
		return PCI_AGP_SIZEOF;
	case PCI_CAP_ID_VPD:
		return PCI_CAP_VPD_SIZEOF;
	case PCI_CAP_ID_PCIX: /* w is the command register */
		return PCI_X_CMD_VERSION(w) ? PCI_CAP_PCIX_SIZEOF_V1 : PCI_CAP_PCIX_SIZEOF_V0;
	case PCI_CAP_ID_SSVID:
	case PCI_CAP_ID_SHPC:
		return 8;
	case PCI_CAP_ID_SATA:
		return (cfg[pos + PCI_SATA_REGS] & PCI_SATA_REGS_MASK) == PCI_SATA_REGS_INLINE ?
		       PCI_SATA_SIZEOF_LONG : PCI_SATA_SIZEOF_SHORT;
	case PCI_CAP_ID_AF:
		return PCI_CAP_AF_SIZEOF;
	case PCI_CAP_ID_MSIX:
		return PCI_CAP_MSIX_SIZEOF;
	default:
		return 4;
	}
}

/*
 * A hidden capability's bytes read as zeros and take no writes, as if
 * there were nothing there: unlinked alone it stays one offset away from
 * a guest that looks for it (a driver that knows where its device keeps
 * it, or one probing for trouble), and what the VMM leaves out, an
 * Advanced Features FLR, a PCI-X or HyperTransport setting, must not be
 * driven from the guest behind the VMM's back. It ends where the next
 * capability begins, so that no other capability's registers are lost;
 * bytes the VMM already emulates stay as they are.
 */
static void cap_hide(struct vfio_pci *vp, uint64_t seen, unsigned pos, uint8_t id)
{
	unsigned end = pos + cap_len(vp->pci.cfg, id, pos);

	for (unsigned d = pos + 4; d < end; d += 4)
		if (d >= 0x100 || (seen >> ((d - 0x40) / 4) & 1)) {
			end = d;
			break;
		}
	for (unsigned i = pos; i < end && i < 0x100; i++)
		if (!vp->emu[i]) {
			vp->pci.cfg[i] = 0;
			vp->emu[i] = 1;
		}
}

/*
 * Relinks the standard list over the kept capabilities; the IDs and links
 * become ours. Each capability is visited once: a list that loops back (a broken
 * or hostile device) ends where it loops, for the walk and for the guest.
 */
static void caps_filter(struct vfio_pci *vp)
{
	uint8_t *cfg = vp->pci.cfg;
	unsigned prev_link = PCI_CAPABILITY_LIST, pos, last = 0, nr_hidden = 0;
	uint64_t seen = 0; /* a bit per dword from 0x40 to 0xfc */
	uint32_t taken = 0;
	struct { uint8_t pos, id; } hidden[48]; /* at most one capability per dword */

	emulate(vp, PCI_CAPABILITY_LIST, 1);
	if (!(cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST)) {
		cfg[PCI_CAPABILITY_LIST] = 0;
		return;
	}
	pos = cfg[PCI_CAPABILITY_LIST] & ~3u;
	while (pos >= 0x40 && pos < 0x100) {
		uint8_t id = cfg[pos], next = cfg[pos + 1] & ~3u;
		uint64_t bit = 1ull << ((pos - 0x40) / 4);

		if (seen & bit) {
			dev_warn(vp->name, "the capability list loops back from 0x%02x to 0x%02x; "
				 "the guest's ends there", last, pos);
			break;
		}
		seen |= bit;
		if (cap_take(vp, id, pos, &taken)) {
			cfg[prev_link] = (uint8_t)pos;
			emulate(vp, pos, 2); /* its ID too: read-only, whatever the device does */
			prev_link = pos + 1;
		} else {
			hidden[nr_hidden].pos = (uint8_t)pos;
			hidden[nr_hidden++].id = id;
		}
		last = pos;
		pos = next;
	}
	cfg[prev_link] = 0;
	/* Once every capability's place is known: each hidden one ends where another begins. */
	for (unsigned i = 0; i < nr_hidden; i++)
		cap_hide(vp, seen, hidden[i].pos, hidden[i].id);
}

/*
 * Extended capabilities (AER, ACS, SR-IOV, resizable BAR, ...): none reach
 * the guest for now; they are only named, each once, even in a list that
 * loops back. The guest sees what a function without any has: a zero
 * header at 0x100 and zeros behind it that take no writes, so that no
 * extended register (a resizable BAR's size under its memslot, ACS, the
 * AER masks) is one offset away from it.
 */
static void ext_caps_hide(struct vfio_pci *vp)
{
	uint8_t *cfg = vp->pci.cfg;
	unsigned pos = 0x100, last = 0;
	uint64_t seen[(PCI_CFG_SIZE - 0x100) / 4 / 64] = { 0 }; /* a bit per dword from 0x100 */

	while (vp->cfg_size > 0x100 && pos >= 0x100 && pos + 4 <= vp->cfg_size) {
		unsigned d = (pos - 0x100) / 4;
		uint32_t h;

		memcpy(&h, &cfg[pos], 4);
		if (!h || h == 0xffffffffu)
			break;
		if (seen[d / 64] >> (d % 64) & 1) {
			dev_info(vp->name, "the extended capability list loops back from 0x%03x to "
				 "0x%03x", last, pos);
			break;
		}
		seen[d / 64] |= 1ull << (d % 64);
		dev_info(vp->name, "extended capability 0x%04x at 0x%03x is hidden from the guest",
			 h & 0xffff, pos);
		last = pos;
		pos = h >> 20 & ~3u; /* the low two bits are reserved */
	}
	memset(&cfg[0x100], 0, PCI_CFG_SIZE - 0x100);
	emulate(vp, 0x100, PCI_CFG_SIZE - 0x100);
}

/* ---- BARs ---- */

static uint64_t pow2_at_least(uint64_t v, uint64_t min)
{
	uint64_t p = min;

	while (p < v && p)
		p <<= 1;
	return p;
}

static uint64_t bar_read(void *opaque, uint64_t off, unsigned size)
{
	struct vfio_bar *b = opaque;
	uint64_t v = 0, rel;
	bool pba;

	__atomic_add_fetch(&b->exits, 1, __ATOMIC_RELAXED);
	if (msix_owns(b->vp, b->idx, off, size, &pba, &rel))
		return pba ? msix_pba_read(&b->vp->msix.m, rel, size) :
			     msix_table_read(&b->vp->msix.m, rel, size);
	if (off + size > b->region_size || dev_pread(b->vp, &v, size, b->offset + off))
		return size == 8 ? ~0ull : (1ull << (8 * size)) - 1;
	return v;
}

static void bar_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
	struct vfio_bar *b = opaque;
	uint64_t rel;
	bool pba;

	__atomic_add_fetch(&b->exits, 1, __ATOMIC_RELAXED);
	if (msix_owns(b->vp, b->idx, off, size, &pba, &rel)) {
		if (!pba) /* the PBA is read-only */
			msix_table_write(&b->vp->msix.m, rel, size, value);
		return;
	}

	if (off + size <= b->region_size && dev_pwrite(b->vp, &value, size, b->offset + off))
		vp_warn_rl(b->vp, "BAR %u: write at 0x%llx failed", b->idx,
			   (unsigned long long)off);
}

static const struct bus_ops bar_ops = { .name = "vfio-bar", .read = bar_read, .write = bar_write };

static void rom_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
	(void)opaque, (void)off, (void)size, (void)value; /* a ROM */
}

static uint64_t rom_read(void *opaque, uint64_t off, unsigned size)
{
	struct vfio_bar *b = opaque;
	const struct vfio_pci_opts *o = &b->vp->opts;
	uint64_t v = 0;

	__atomic_add_fetch(&b->exits, 1, __ATOMIC_RELAXED);
	if (o->rom) { /* rom=FILE; past its end, zeros up to the BAR's size */
		if (off < o->rom_len)
			memcpy(&v, (const uint8_t *)o->rom + off,
			       o->rom_len - off < size ? o->rom_len - off : size);
		return v;
	}

	if (off + size > b->region_size || dev_pread(b->vp, &v, size, b->offset + off))
		return size == 8 ? ~0ull : (1ull << (8 * size)) - 1;
	return v;
}

static const struct bus_ops rom_ops = { .name = "vfio-rom", .read = rom_read, .write = rom_write };

static struct bus *bar_bus(const struct vfio_bar *b)
{
	return b->io ? b->vp->plat.pio : b->vp->plat.mmio;
}

static void bar_unmap(struct vfio_bar *b)
{
	struct vfio_pci *vp = b->vp;

	for (unsigned i = 0; i < b->nr_direct; i++) {
		struct vfio_direct *p = &b->direct[i];

		if (p->slot >= 0 &&
		    vp->plat.memslot(vp->plat.opaque, &p->slot, b->addr + p->off, 0, NULL))
			vp_warn_rl(vp, "BAR %u: cannot remove its memslot", b->idx);
	}
	if (b->trapped)
		bus_unregister(bar_bus(b), b->addr);
	b->trapped = false;
	b->on = false;
}

/*
 * Decoding at addr: a memslot for each direct stretch, and a trapped range
 * under the whole BAR unless those cover all the device has (the guest's
 * accesses to a memslot never reach the trap).
 */
static void bar_map(struct vfio_bar *b, uint64_t addr, const struct bus_ops *ops)
{
	struct vfio_pci *vp = b->vp;
	uint64_t covered = 0;
	int ret;

	b->addr = addr;
	b->on = true;
	for (unsigned i = 0; i < b->nr_direct && addr % PAGE == 0; i++) {
		struct vfio_direct *p = &b->direct[i];

		ret = vp->plat.memslot(vp->plat.opaque, &p->slot, addr + p->off, p->size, p->map);
		if (!ret) {
			covered += p->size;
			continue;
		}
		vp_warn_rl(vp, "BAR %u: no memslot at 0x%llx (%s); trapping "
			   "its accesses", b->idx, (unsigned long long)(addr + p->off),
			   strerror(-ret));
	}
	if (covered == b->region_size)
		return;
	ret = bus_register(bar_bus(b), addr, b->size, ops, b);
	if (ret)
		vp_warn_rl(vp, "BAR %u: cannot place it at 0x%llx: %s", b->idx,
			   (unsigned long long)addr, strerror(-ret));
	b->trapped = ret == 0;
}

static void vp_bar_remap(struct pci_device *dev, unsigned bar, bool was_on, uint64_t old_addr,
			 bool on, uint64_t addr)
{
	struct vfio_pci *vp = to_vp(dev);
	struct vfio_bar *b = bar == PCI_ROM_BAR ? &vp->rom : &vp->bar[bar];

	(void)old_addr;
	if (was_on)
		bar_unmap(b);
	if (on)
		bar_map(b, addr, bar == PCI_ROM_BAR ? &rom_ops : &bar_ops);
}

static uint64_t page_down(uint64_t v)
{
	return v & ~(uint64_t)(PAGE - 1);
}

static uint64_t page_up(uint64_t v)
{
	return page_down(v + PAGE - 1);
}

/*
 * [off, end) of b becomes direct, less the pages of the MSI-X table and
 * PBA, which stay trapped so that msix.c sees every access to them.
 */
static void direct_add(struct vfio_pci *vp, struct vfio_bar *b, uint64_t off, uint64_t end)
{
	const struct vfio_msix *x = &vp->msix;
	uint64_t hole[2][2];
	unsigned nr_holes = 0;

	off = page_up(off);
	end = page_down(end);
	if (x->cap && x->table_bar == b->idx) {
		hole[nr_holes][0] = page_down(x->table_off);
		hole[nr_holes++][1] = page_up(x->table_off + (uint64_t)x->nr * MSIX_ENTRY_SIZE);
	}
	if (x->cap && x->pba_bar == b->idx) {
		hole[nr_holes][0] = page_down(x->pba_off);
		hole[nr_holes++][1] = page_up(x->pba_off + (x->nr + 63) / 64 * 8ull);
	}
	while (off < end) {
		uint64_t stop = end;
		bool skipped = false;

		for (unsigned h = 0; h < nr_holes && !skipped; h++)
			if (hole[h][0] <= off && off < hole[h][1]) {
				off = hole[h][1];
				skipped = true;
			}
		if (skipped)
			continue;
		for (unsigned h = 0; h < nr_holes; h++)
			if (hole[h][0] > off && hole[h][0] < stop)
				stop = hole[h][0];
		if (b->nr_direct == BAR_DIRECT_MAX)
			return; /* the rest stays trapped */
		b->direct[b->nr_direct++] = (struct vfio_direct){
			.off = off, .size = stop - off, .slot = -1 };
		off = stop;
	}
}

/*
 * The stretches of an mmappable BAR the guest reaches with no exit: all of
 * it, or the sparse areas the kernel allows, less the MSI-X pages; each
 * mmapped on its own. Whatever is left (a sub-page BAR among them) traps.
 */
static void bar_direct_init(struct vfio_pci *vp, struct vfio_bar *b, const struct vfio_region *r)
{
	unsigned kept = 0;

	/*
	 * An area is taken only as far as it lies in the region: past its end
	 * the memslot would cover whatever the guest put after the BAR.
	 */
	if (r->sparse)
		for (uint32_t i = 0; i < r->nr_areas; i++) {
			const struct vfio_region_sparse_mmap_area *a = &r->areas[i];

			if (a->offset < r->size)
				direct_add(vp, b, a->offset, a->offset +
					   (a->size < r->size - a->offset ? a->size :
					    r->size - a->offset));
		}
	else
		direct_add(vp, b, 0, r->size);
	for (unsigned i = 0; i < b->nr_direct; i++) {
		struct vfio_direct *p = &b->direct[i];

		p->map = mmap(NULL, p->size, PROT_READ | PROT_WRITE, MAP_SHARED, vp->d->fd,
			      (off_t)(r->offset + p->off));
		if (p->map == MAP_FAILED) {
			dev_warn(vp->name, "BAR %u: cannot mmap 0x%llx+0x%llx (%s); trapping it",
				 b->idx, (unsigned long long)p->off, (unsigned long long)p->size,
				 strerror(errno));
			continue;
		}
		b->direct[kept++] = *p;
	}
	b->nr_direct = kept;
}

/* One line per BAR, for -v: its kind and size, and what of it the guest reaches directly. */
static void bar_describe(const struct vfio_pci *vp, const struct vfio_bar *b,
			 enum pci_bar_kind kind, bool pref)
{
	char direct[160] = "";
	size_t n = 0;
	uint64_t covered = 0;

	for (unsigned i = 0; i < b->nr_direct && n < sizeof(direct); i++) {
		n += (size_t)snprintf(direct + n, sizeof(direct) - n, "%s0x%llx-0x%llx",
				      i ? ", " : "", (unsigned long long)b->direct[i].off,
				      (unsigned long long)(b->direct[i].off + b->direct[i].size));
		covered += b->direct[i].size;
	}
	dev_info(vp->name, "BAR %u: %s%s, 0x%llx bytes: %s%s%s%s", b->idx,
		 kind == PCI_BAR_IO ? "I/O" : kind == PCI_BAR_MEM64 ? "64-bit" : "32-bit",
		 pref ? " prefetchable" : "", (unsigned long long)b->size,
		 b->nr_direct ? "direct at " : "", direct,
		 covered == b->region_size ? "" : b->nr_direct ? ", the rest trapped" : "trapped",
		 vp->msix.cap && (vp->msix.table_bar == b->idx || vp->msix.pba_bar == b->idx) ?
		 " (MSI-X table or PBA)" : "");
}

/* BAR idx as the real register describes it, sized from its VFIO region. */
static int bar_init(struct vfio_pci *vp, unsigned idx, unsigned *next)
{
	const struct vfio_region *r = &vp->d->region[idx];
	struct vfio_bar *b = &vp->bar[idx];
	uint32_t reg;
	enum pci_bar_kind kind;
	bool pref = false;
	int ret;

	*next = idx + 1;
	*b = (struct vfio_bar){ .vp = vp, .idx = idx };
	memcpy(&reg, &vp->pci.cfg[PCI_BASE_ADDRESS_0 + 4 * idx], 4);
	memset(&vp->pci.cfg[PCI_BASE_ADDRESS_0 + 4 * idx], 0, 4);
	if (!r->size)
		return 0;
	if (reg & PCI_BASE_ADDRESS_SPACE_IO) {
		kind = PCI_BAR_IO;
		b->io = true;
	} else {
		kind = (reg & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64 ?
		       PCI_BAR_MEM64 : PCI_BAR_MEM32;
		pref = reg & PCI_BASE_ADDRESS_MEM_PREFETCH;
	}
	if (kind == PCI_BAR_MEM64) {
		memset(&vp->pci.cfg[PCI_BASE_ADDRESS_0 + 4 * idx + 4], 0, 4);
		*next = idx + 2;
	}
	b->size = pow2_at_least(r->size, b->io ? 4 : 16);
	b->region_size = r->size;
	b->offset = r->offset;
	ret = pci_device_add_bar(&vp->pci, idx, kind, b->size, pref);
	if (ret)
		return ret;
	if (!b->io && (r->flags & VFIO_REGION_INFO_FLAG_MMAP) && !vp->opts.no_mmap)
		bar_direct_init(vp, b, r);
	bar_describe(vp, b, kind, pref);
	return 0;
}

/* The ROM BAR: the device's ROM region, the user's file instead, or none. */
static int rom_init(struct vfio_pci *vp)
{
	const struct vfio_region *r = &vp->d->region[ROM_IDX];
	uint64_t size = vp->opts.rom ? vp->opts.rom_len : r->size;
	int ret;

	memset(&vp->pci.cfg[PCI_ROM_ADDRESS], 0, 4);
	vp->rom = (struct vfio_bar){ .vp = vp, .idx = ROM_IDX };
	if (vp->opts.rom_off || !size) {
		if (r->size)
			dev_info(vp->name, "ROM: hidden from the guest (rom=off)");
		return 0;
	}
	vp->rom.size = pow2_at_least(size, 2048);
	vp->rom.region_size = size;
	vp->rom.offset = r->offset;
	ret = pci_device_add_rom(&vp->pci, vp->rom.size);
	if (ret)
		return ret;
	dev_info(vp->name, "ROM: 0x%llx bytes%s, trapped", (unsigned long long)vp->rom.size,
		 vp->opts.rom ? " from rom=FILE" : "");
	return 0;
}

/* The command register the guest set, on the device too (its bits the device obeys). */
static void cmd_push(struct vfio_pci *vp)
{
	dev_cfg_write(vp, PCI_COMMAND, 2, cfg16(vp, PCI_COMMAND) & CMD_GUEST);
}

/*
 * Secondary Bus Reset above the function (pci_bus_reset_behind(), no lock
 * held). As a real function would: its emulated registers go back to how
 * they were made (BARs and ROM unassigned, decoding and bus mastering off,
 * MSI and MSI-X off with every vector masked), and the device is told to
 * stop DMA at once. Then the host resets it (opts.host_reset), and the
 * kernel, which puts back the command register it saved, is told again.
 * INTx is wired anew: VFIO may have dropped a pending unmask with the
 * reset. The core applies the BARs afterwards; the direct mappings stay
 * valid (VFIO zaps and refaults them around its reset).
 */
static void vp_reset(struct pci_device *dev)
{
	struct vfio_pci *vp = to_vp(dev);

	pci_device_lock(dev);
	for (unsigned i = 0; i < PCI_CFG_SIZE; i++)
		if (vp->emu[i])
			dev->cfg[i] = vp->cfg0[i];
	cmd_push(vp);
	if (vp->msi.cap)
		msi_update(vp);
	if (vp->msix.cap) {
		msix_reset(&vp->msix.m);
		msix_ctrl_written(vp);
	}
	pci_device_unlock(dev);
	/* No BAR decodes during the host's reset: the guest cannot reach it meanwhile. */
	pci_bus_apply_bars(dev->bus);
	if (vp->opts.host_reset)
		vp->opts.host_reset(vp->opts.host_reset_opaque);
	pci_device_lock(dev);
	cmd_push(vp);
	if (vp->intx.on) {
		intx_off(vp);
		intx_on(vp);
	}
	pci_device_unlock(dev);
}

static const struct pci_device_ops vfio_pci_ops = {
	.name = "vfio-pci",
	.cfg_read = vp_cfg_read,
	.cfg_write = vp_cfg_write,
	.bar_remap = vp_bar_remap,
	.reset = vp_reset,
};

struct vfio_pci *vfio_pci_new(struct vfio_device *d, uint8_t devfn, bool multifunction,
			      const struct pci_platform *plat,
			      const struct vfio_pci_opts *opts, char *why, size_t len)
{
	const struct vfio_region *cr = &d->region[VFIO_PCI_CONFIG_REGION_INDEX];
	struct vfio_pci *vp = calloc(1, sizeof(*vp));
	struct pci_config_header *wm;
	uint16_t cmd;
	int ret;

	if (!vp) {
		snprintf(why, len, "%s: out of memory", d->bdf);
		return NULL;
	}
	pci_device_init(&vp->pci, &vfio_pci_ops, vp, devfn);
	vp->intx.trigger = vp->intx.resample = -1;
	vp->d = d;
	vp->plat = *plat;
	if (opts)
		vp->opts = *opts;
	snprintf(vp->name, sizeof(vp->name), "vfio %s", d->bdf);
	vp->cfg_size = cr->size >= PCI_CFG_SIZE ? PCI_CFG_SIZE : 256;
	if (cr->size < 256 || dev_pread(vp, vp->pci.cfg, vp->cfg_size, cr->offset)) {
		snprintf(why, len, "%s: cannot read its config space", d->bdf);
		free(vp);
		return NULL;
	}
	for (unsigned i = 0; i < 6; i++)
		vp->bar[i] = (struct vfio_bar){ .vp = vp, .idx = i };
	/* The header is ours but for the live status register; extended space: ext_caps_hide(). */
	emulate(vp, 0, PCI_STD_HEADER_SIZEOF);
	vp->emu[PCI_STATUS] = vp->emu[PCI_STATUS + 1] = 0;
	vp->pci.cfg[PCI_HEADER_TYPE] = (uint8_t)((vp->pci.cfg[PCI_HEADER_TYPE] & 0x7f) |
						 (multifunction ? 0x80 : 0));
	caps_filter(vp);
	ext_caps_hide(vp);
	/* bar_init says where the next BAR starts (after a 64-bit pair): the error names this one. */
	for (unsigned i = 0, next; i < 6; i = next) {
		ret = bar_init(vp, i, &next);
		if (ret) {
			snprintf(why, len, "%s: BAR %u of %llu bytes cannot be given to the guest: %s",
				 d->bdf, i, (unsigned long long)d->region[i].size, strerror(-ret));
			vfio_pci_free(vp);
			return NULL;
		}
	}
	ret = rom_init(vp);
	if (ret) {
		snprintf(why, len, "%s: its ROM of %llu bytes cannot be given to the guest: a ROM "
			 "BAR holds 16 MiB at most (rom=off hides it)", d->bdf,
			 (unsigned long long)vp->rom.region_size);
		vfio_pci_free(vp);
		return NULL;
	}
	/* Decoding starts off, as after reset: firmware and the guest turn it on. */
	cmd = 0;
	memcpy(&vp->pci.cfg[PCI_COMMAND], &cmd, 2);
	wm = pci_header(vp->pci.wmask);
	wm->command = CMD_GUEST;
	wm->cache_line_size = 0xff;
	wm->latency_timer = 0xff;
	wm->interrupt_line = 0xff;
	dev_cfg_write(vp, PCI_COMMAND, 2, cmd);
	memcpy(vp->cfg0, vp->pci.cfg, sizeof(vp->cfg0));
	ret = intx_init(vp);
	if (ret) {
		snprintf(why, len, "%s: cannot make its INTx eventfds: %s", d->bdf, strerror(-ret));
		vfio_pci_free(vp);
		return NULL;
	}
	return vp;
}

struct pci_device *vfio_pci_dev(struct vfio_pci *vp)
{
	return &vp->pci;
}

void vfio_pci_bar_info(const struct vfio_pci *vp, unsigned idx, struct vfio_pci_bar_info *out)
{
	const struct vfio_bar *b = idx == PCI_ROM_BAR ? &vp->rom : idx < 6 ? &vp->bar[idx] : NULL;
	uint64_t at = 0, mapped = 0;

	memset(out, 0, sizeof(*out));
	if (!b || !b->size)
		return;
	out->present = true;
	out->io = b->io;
	out->on = b->on;
	out->addr = b->addr;
	out->size = b->size;
	out->exits = __atomic_load_n(&b->exits, __ATOMIC_RELAXED);
	/* What the memslots leave out of the device's part, page by page, traps. */
	for (unsigned i = 0; i <= b->nr_direct; i++) {
		const struct vfio_direct *d = i < b->nr_direct ? &b->direct[i] : NULL;
		uint64_t end = d ? d->off : b->region_size;
		bool slotted = d && b->on && d->slot >= 0;

		if (d && !slotted)
			continue; /* not mapped now: part of the trapped stretch around it */
		if (end > at && out->nr_trapped < VFIO_PCI_TRAPPED_MAX) {
			out->trapped[out->nr_trapped].off = at;
			out->trapped[out->nr_trapped].len = end - at;
			out->nr_trapped++;
		}
		if (d) {
			mapped += d->size;
			at = d->off + d->size;
		}
	}
	if (!b->on)
		out->nr_trapped = 0;
	out->mapping = !b->on ? "off" : !mapped ? "trapped" : out->nr_trapped ? "sparse" : "memslot";
}

bool vfio_pci_link(const struct vfio_pci *vp, unsigned *speed, unsigned *width)
{
	*speed = vp->link_speed;
	*width = vp->link_width;
	return vp->link_speed && vp->link_width;
}

void vfio_pci_free(struct vfio_pci *vp)
{
	if (!vp)
		return;
	msi_free(vp);
	msix_free(vp);
	intx_free(vp);
	for (unsigned i = 0; i < 6; i++) {
		struct vfio_bar *b = &vp->bar[i];

		if (b->on)
			bar_unmap(b);
		for (unsigned k = 0; k < b->nr_direct; k++)
			munmap(b->direct[k].map, b->direct[k].size);
	}
	if (vp->rom.on)
		bar_unmap(&vp->rom);
	free(vp);
}
