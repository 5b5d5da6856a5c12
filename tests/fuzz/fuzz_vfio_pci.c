// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: a passed-through PCI function (vfio/vfio_pci.c) whose
 * device is itself part of the input, so that the capability walker,
 * MSI, MSI-X and PCIe set-up and the BAR sizing all run on hostile
 * hardware, and then the guest's accesses to it.
 *
 * The device is fuzz_io's "guest RAM" bytes (fuzz_io.h; vfio_pci does no
 * DMA, so this target has no RAM of its own), zero-padded:
 *     0  u8   flags: bit 0 a 4 KiB config region (else 256 bytes), bit 1
 *             VFIO offers INTx, bit 2 mmap=off, bit 3 rom=off, bit 4 a
 *             multifunction slot, bit 5 rom=FILE (the ROM region's size,
 *             at most 64 KiB, of file bytes)
 *     4  7 regions (BAR 0-5, the ROM), 16 bytes each:
 *             u32 size; u8 flags: bit 0 mmappable, bit 1 sparse (the
 *             two areas below are all that may be mapped); 3 bytes pad;
 *             2 areas of u16 offset, u16 size, in KiB
 *   128  the config space as the device has it (256 or 4096 bytes)
 * The fake device fd is a memfd laid out like VFIO's: config space at 0,
 * region i at (i + 1) << 33, which pread, pwrite and mmap reach as they
 * reach the real one (tests/unit/test_vfio_pci.c fakes it the same way).
 *
 * Spaces: 0 the function's 4 KiB of config space through ECAM, 1 and 2
 * the MMIO bus below 4 GiB and at 512 GiB (where seeds put 64-bit BARs),
 * 3 the PIO bus, 4 the device: a write says it signals vector value (of
 * whichever interrupt kind it has on) into the eventfd VFIO was given.
 *
 * The fakes around it check the promises vfio_pci.h and platform.h make
 * and abort() on a broken one: memslots only inside a decoding BAR, whole
 * pages, never a slot mapped twice or removed unmapped; SET_IRQS built
 * right, with eventfds that are open, and one interrupt kind at a time
 * (refused with -EINVAL as the kernel does); routes only for GSIs the
 * platform gave; an interrupt the device signals lands where the guest's
 * view of MSI or MSI-X says, or waits while masked; the device's header
 * (but command and status) and extended config space never written;
 * nothing written past a region; and after vfio_pci_free() no memslot,
 * bus range, irqfd, interrupt or fd left.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/pci_regs.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/log.h"
#include "core/pci.h"
#include "devices/msix.h"
#include "fuzz_io.h"
#include "vfio/vfio_pci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PAGE         4096u
#define NR_REGIONS   7 /* BAR 0-5, the ROM */
#define REGION_SPAN  (1ULL << 33) /* a region of up to 4 GiB, and 4 GiB of nothing after it */
#define DEV_CFG      128
#define ECAM_BASE    0xe0000000ULL
#define HIGH_BASE    0x8000000000ULL
#define DEVFN        PCI_DEVFN(3, 0)
#define FIRST_GSI    24
#define MAX_SLOTS    64
#define MAX_GSIS     4096
#define MSI_VECTORS  32
#define FD_ROOM      4608 /* more than 2048 MSI-X vectors' two eventfds, and MSI's and INTx's */
#define ROM_FILE_MAX 65536

struct memslot {
	bool on;
	uint64_t gpa, size;
};

/* A GSI the platform gave: its irqfd and where KVM sends it. */
struct route {
	int efd;
	bool set;
	uint64_t addr;
	uint32_t data;
};

struct fake {
	struct bus mmio, pio;
	struct pci_bus pci;
	struct vfio_device dev;
	struct vfio_pci *vp;
	uint8_t cfg[PCI_CFG_SIZE]; /* the device's config space as it was made */
	struct memslot slots[MAX_SLOTS];
	unsigned gsis;             /* handed out from FIRST_GSI */
	struct route route[MAX_GSIS];
	bool intx_on;
	unsigned intx_gsi;
	int intx_trigger;
	/* the kernel's side: what the device signals, and into which eventfds */
	int active;                /* VFIO_PCI_*_IRQ_INDEX, or -1 */
	unsigned nr;
	int fd[MSIX_MAX_VECTORS];
};

static struct fake *F;
static int dev_fd = -1;
static struct pollfd fd_poll[FD_ROOM];
static bool was_open[FD_ROOM], now_open[FD_ROOM]; /* fds from the input's floor on */
static unsigned fd_limit = FD_ROOM;                /* RLIMIT_NOFILE's soft limit */

static uint64_t le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* ---- the platform ---- */

static bool inside_a_bar(struct fake *f, uint64_t gpa, uint64_t size)
{
	const struct pci_device *d = vfio_pci_dev(f->vp);

	for (unsigned i = 0; i < 6; i++) {
		const struct pci_bar *b = &d->bar[i];

		if ((b->kind == PCI_BAR_MEM32 || b->kind == PCI_BAR_MEM64) && b->applied_on &&
		    gpa >= b->applied_addr && gpa - b->applied_addr + size <= b->size)
			return true;
	}
	return false;
}

static int fake_memslot(void *opaque, int *slot, uint64_t gpa, uint64_t size, void *hva)
{
	struct fake *f = opaque;
	int n;

	if (!size) {
		if (*slot < 0 || *slot >= MAX_SLOTS || !f->slots[*slot].on)
			abort(); /* removing a slot it does not have */
		f->slots[*slot].on = false;
		*slot = -1;
		return 0;
	}
	if (*slot >= 0)
		abort(); /* mapping over a slot it still holds */
	if (gpa % PAGE || size % PAGE || !hva || (uintptr_t)hva % PAGE || gpa + size < gpa)
		abort(); /* KVM takes whole pages */
	if (!inside_a_bar(f, gpa, size))
		abort(); /* the guest's memory map outside the BAR that decodes there */
	for (n = 0; n < MAX_SLOTS; n++)
		if (f->slots[n].on && gpa < f->slots[n].gpa + f->slots[n].size &&
		    f->slots[n].gpa < gpa + size)
			return -EEXIST; /* as KVM refuses an overlap */
	for (n = 0; n < MAX_SLOTS && f->slots[n].on; n++)
		;
	if (n == MAX_SLOTS)
		return -ENOSPC;
	f->slots[n] = (struct memslot){ true, gpa, size };
	*slot = n;
	return 0;
}

static int fake_irqfd(void *opaque, unsigned *gsi, int *efd)
{
	struct fake *f = opaque;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (f->gsis == MAX_GSIS) {
		close(fd);
		return -ENOSPC;
	}
	f->route[f->gsis] = (struct route){ .efd = fd };
	*gsi = FIRST_GSI + f->gsis++;
	*efd = fd;
	return 0;
}

static int fake_msi_route(void *opaque, unsigned gsi, uint64_t addr, uint32_t data)
{
	struct fake *f = opaque;

	if (gsi < FIRST_GSI || gsi >= FIRST_GSI + f->gsis)
		abort(); /* a GSI the platform never gave */
	f->route[gsi - FIRST_GSI] = (struct route){ f->route[gsi - FIRST_GSI].efd, true, addr, data };
	return 0;
}

static bool fd_open(int fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

static int fake_intx_irqfd(void *opaque, unsigned gsi, int trigger, int resample, bool assign)
{
	struct fake *f = opaque;

	if (!assign) {
		if (!f->intx_on || gsi != f->intx_gsi || trigger != f->intx_trigger)
			abort(); /* removing an irqfd it did not assign */
		f->intx_on = false;
		return 0;
	}
	if (f->intx_on || !fd_open(trigger) || !fd_open(resample) || trigger == resample)
		abort();
	if (gsi < 20 || gsi > 23)
		abort(); /* not one of the platform's four lines */
	f->intx_on = true;
	f->intx_gsi = gsi;
	f->intx_trigger = trigger;
	return 0;
}

/* ---- the kernel: VFIO_DEVICE_SET_IRQS, as vfio-pci answers it ---- */

static unsigned irq_max(unsigned index)
{
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		return F->dev.irq[index].count;
	case VFIO_PCI_MSI_IRQ_INDEX:
		return MSI_VECTORS;
	default:
		return MSIX_MAX_VECTORS;
	}
}

static void kernel_off(struct fake *f)
{
	f->active = -1;
	f->nr = 0;
	for (unsigned v = 0; v < MSIX_MAX_VECTORS; v++)
		f->fd[v] = -1;
}

static int kernel_trigger(struct fake *f, const struct vfio_irq_set *set, const int *fds)
{
	int index = (int)set->index;

	if (!set->count) {
		if (f->active != index)
			return -EINVAL; /* nothing of that kind to turn off */
		kernel_off(f);
		return 0;
	}
	if (set->start + set->count > irq_max(set->index) ||
	    (index == VFIO_PCI_INTX_IRQ_INDEX && (set->start || set->count != 1)))
		return -EINVAL;
	if (f->active != -1 && f->active != index)
		return -EINVAL; /* one kind at a time */
	if (f->active == VFIO_PCI_MSI_IRQ_INDEX && set->start + set->count > f->nr)
		return -EINVAL; /* MSI's vector count is set once, from off */
	if (f->active == -1)
		f->nr = set->start + set->count;
	if (set->start + set->count > f->nr)
		f->nr = set->start + set->count;
	f->active = index;
	for (unsigned i = 0; i < set->count; i++)
		f->fd[set->start + i] = fds[i];
	return 0;
}

static int fake_ioctl(int fd, unsigned long req, void *arg)
{
	const struct vfio_irq_set *set = arg;
	uint32_t data = set->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	uint32_t action = set->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	const int *fds = (const int *)set->data;

	if (fd != dev_fd || req != VFIO_DEVICE_SET_IRQS)
		abort();
	/* set_irqs_action(): eventfds for a count, none for none */
	if (data != (set->count ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE) ||
	    set->argsz != sizeof(*set) + set->count * sizeof(int) ||
	    set->flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK))
		abort();
	for (unsigned i = 0; i < set->count; i++)
		if (!fd_open(fds[i]))
			abort(); /* an eventfd it closed or never made: a vector that never arrives */
	if (set->index == VFIO_PCI_INTX_IRQ_INDEX && action == VFIO_IRQ_SET_ACTION_UNMASK) {
		if (set->count != 1)
			abort();
		return F->active == VFIO_PCI_INTX_IRQ_INDEX ? 0 : -EINVAL;
	}
	if (action != VFIO_IRQ_SET_ACTION_TRIGGER ||
	    (set->index != VFIO_PCI_INTX_IRQ_INDEX && set->index != VFIO_PCI_MSI_IRQ_INDEX &&
	     set->index != VFIO_PCI_MSIX_IRQ_INDEX))
		abort();
	return kernel_trigger(F, set, fds);
}

static const struct vfio_sys fake_sys = { .ioctl = fake_ioctl };

/* ---- where an interrupt the device signals lands, against what the guest sees ---- */

static uint32_t guest_cfg(struct fake *f, unsigned off, unsigned size)
{
	return pci_cfg_read(&f->pci, DEVFN, off, size);
}

/* The capability id in the guest's list, as its driver finds it; 0: none. */
static unsigned guest_cap(struct fake *f, uint8_t id)
{
	unsigned pos = guest_cfg(f, PCI_CAPABILITY_LIST, 1) & ~3u;

	for (unsigned steps = 0; pos >= 0x40 && steps < 48; steps++) {
		if (guest_cfg(f, pos, 1) == id)
			return pos;
		pos = guest_cfg(f, pos + 1, 1) & ~3u;
	}
	return 0;
}

/* The route KVM has for the irqfd fd, or NULL: fd is none of the platform's (a pending eventfd). */
static const struct route *route_of(struct fake *f, int fd)
{
	for (unsigned i = 0; i < f->gsis; i++)
		if (f->route[i].efd == fd)
			return &f->route[i];
	return NULL;
}

/*
 * The vector reaches the guest at addr and data if it may (r not NULL),
 * or waits in its pending eventfd while it is masked: anything else is an
 * interrupt lost, sent where the guest did not say, or sent while masked.
 */
static void check_lands(const struct route *r, bool masked, uint64_t addr, uint32_t data)
{
	if (masked ? r != NULL : !r || !r->set || r->addr != addr || r->data != data)
		abort();
}

/* MSI on the device: the guest has it on, with that many vectors, and each where it said. */
static void check_msi(struct fake *f, unsigned v, const struct route *r)
{
	unsigned pos = guest_cap(f, PCI_CAP_ID_MSI), n, max;
	uint16_t ctrl;
	bool is64;
	uint64_t addr;
	uint32_t data, mask = 0;

	if (!pos)
		abort(); /* MSI on with no MSI capability for the guest to see */
	ctrl = (uint16_t)guest_cfg(f, pos + PCI_MSI_FLAGS, 2);
	n = 1u << ((ctrl & PCI_MSI_FLAGS_QSIZE) >> 4);
	max = 1u << ((ctrl & PCI_MSI_FLAGS_QMASK) >> 1);
	if (n > max)
		n = max;
	if (n > MSI_VECTORS)
		n = MSI_VECTORS;
	if (!(ctrl & PCI_MSI_FLAGS_ENABLE) || f->nr != n)
		abort(); /* on while the guest has it off, or not with the vectors it enabled */
	is64 = ctrl & PCI_MSI_FLAGS_64BIT;
	addr = guest_cfg(f, pos + PCI_MSI_ADDRESS_LO, 4);
	if (is64)
		addr |= (uint64_t)guest_cfg(f, pos + PCI_MSI_ADDRESS_HI, 4) << 32;
	data = guest_cfg(f, pos + (is64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32), 2);
	if (ctrl & PCI_MSI_FLAGS_MASKBIT)
		mask = guest_cfg(f, pos + (is64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32), 4);
	check_lands(r, mask >> v & 1, addr, (data & ~(n - 1)) | v);
}

/* The guest's address of BAR bar while it decodes memory, or 0. */
static uint64_t guest_bar(struct fake *f, unsigned bar)
{
	uint32_t lo = guest_cfg(f, PCI_BASE_ADDRESS_0 + 4 * bar, 4);
	uint64_t a = lo & ~15u;

	if (!(guest_cfg(f, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY) || lo & PCI_BASE_ADDRESS_SPACE_IO)
		return 0;
	if ((lo & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64 && bar < 5)
		a |= (uint64_t)guest_cfg(f, PCI_BASE_ADDRESS_0 + 4 * bar + 4, 4) << 32;
	return a;
}

/* Whether BAR bar's trapped range is what the MMIO bus has at base (and not another BAR). */
static bool trapped_at(struct fake *f, uint64_t base, unsigned bar)
{
	for (unsigned i = 0; i < f->mmio.nr; i++) {
		const struct bus_range *r = &f->mmio.ranges[i];

		if (r->base == base)
			return r->len == vfio_pci_dev(f->vp)->bar[bar].size &&
			       !strcmp(r->ops->name, "vfio-bar");
	}
	return false;
}

/* MSI-X on the device: the guest has it on, and vector v lands as its table entry says. */
static void check_msix(struct fake *f, unsigned v, const struct route *r)
{
	unsigned pos = guest_cap(f, PCI_CAP_ID_MSIX), nr;
	uint32_t ctrl, table, e[4];
	uint64_t base;

	if (!pos)
		abort(); /* MSI-X on with no MSI-X capability for the guest to see */
	ctrl = guest_cfg(f, pos + PCI_MSIX_FLAGS, 2);
	nr = (ctrl & PCI_MSIX_FLAGS_QSIZE) + 1;
	if (!(ctrl & PCI_MSIX_FLAGS_ENABLE) || f->nr > nr)
		abort(); /* on while the guest has it off, or with vectors it does not have */
	table = guest_cfg(f, pos + PCI_MSIX_TABLE, 4);
	if ((table & PCI_MSIX_TABLE_BIR) > 5)
		abort();
	base = guest_bar(f, table & PCI_MSIX_TABLE_BIR);
	if (!base || !trapped_at(f, base, table & PCI_MSIX_TABLE_BIR))
		return; /* the guest cannot read its table now: nothing to compare with */
	for (unsigned i = 0; i < 4; i++)
		if (!bus_read(&f->mmio, base + (table & PCI_MSIX_TABLE_OFFSET) + 16 * v + 4 * i,
			      &e[i], 4))
			abort(); /* a table entry past its BAR's end */
	check_lands(r, (ctrl & PCI_MSIX_FLAGS_MASKALL) || (e[3] & PCI_MSIX_ENTRY_CTRL_MASKBIT),
		    e[0] | (uint64_t)e[1] << 32, e[2]);
}

/*
 * The device signals vector v of what it has on: into the eventfd the
 * kernel holds, which must be open, and lands as the guest's view says.
 */
static void device_signal(struct fake *f, uint64_t value)
{
	uint64_t one = 1;
	unsigned v;
	int fd;

	if (f->active < 0 || !f->nr)
		return;
	v = (unsigned)(value % f->nr);
	fd = f->fd[v];
	if (fd < 0)
		return; /* MSI-X enabled from a start past 0: none below it */
	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		abort(); /* the kernel was left holding an eventfd vfio_pci closed */
	if (f->active == VFIO_PCI_MSI_IRQ_INDEX)
		check_msi(f, v, route_of(f, fd));
	else if (f->active == VFIO_PCI_MSIX_IRQ_INDEX)
		check_msix(f, v, route_of(f, fd));
	else if (!f->intx_on || fd != f->intx_trigger)
		abort(); /* INTx, but not into KVM's irqfd for the guest's line */
}

static uint64_t dev_space_read(void *opaque, uint64_t offset, unsigned size)
{
	return 0;
}

/*
 * Offsets 0-3: the device signals. 4-7: the bridge above it asserts
 * Secondary Bus Reset (the guest's write to the root port, as
 * pci_bus_reset_behind() passes it on).
 */
static void dev_space_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct fake *f = opaque;
	struct pci_device *d;

	if (offset < 4) {
		device_signal(f, value);
		return;
	}
	d = vfio_pci_dev(f->vp);
	d->ops->reset(d);
	pci_bus_apply_bars(&f->pci);
}

static const struct bus_ops dev_space_ops = { "device", dev_space_read, dev_space_write };

/* ---- the device, from the input ---- */

static void apply_bars(void *arg)
{
	pci_bus_apply_bars(arg);
}

static void bars_changed(void *opaque)
{
	struct fake *f = opaque;

	if (bus_defer(&f->mmio, apply_bars, &f->pci))
		abort();
}

static void put(const void *buf, size_t n, uint64_t off)
{
	if (pwrite(dev_fd, buf, n, (off_t)off) != (ssize_t)n)
		abort();
}

/* Regions and config space from the description at desc; the file made to match. */
static void describe(struct fake *f, const uint8_t *desc)
{
	uint8_t flags = desc[0];
	struct vfio_region *cr = &f->dev.region[VFIO_PCI_CONFIG_REGION_INDEX];

	if (ftruncate(dev_fd, 0) || ftruncate(dev_fd, (off_t)((NR_REGIONS + 2) * REGION_SPAN)))
		abort();
	memset(&f->dev, 0, sizeof(f->dev));
	f->dev.fd = dev_fd;
	f->dev.sys = &fake_sys;
	memcpy(f->dev.bdf, "0000:01:00.0", 13);
	f->dev.irq[VFIO_PCI_INTX_IRQ_INDEX].count = flags >> 1 & 1;
	*cr = (struct vfio_region){ .flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE,
				    .size = flags & 1 ? PCI_CFG_SIZE : 256 };
	memcpy(f->cfg, desc + DEV_CFG, cr->size);
	put(f->cfg, cr->size, 0);
	for (unsigned i = 0; i < NR_REGIONS; i++) {
		const uint8_t *r = desc + 4 + 16 * i;
		struct vfio_region *vr = &f->dev.region[i];

		*vr = (struct vfio_region){
			.flags = VFIO_REGION_INFO_FLAG_READ |
				 (i < 6 ? VFIO_REGION_INFO_FLAG_WRITE : 0) |
				 (r[4] & 1 ? VFIO_REGION_INFO_FLAG_MMAP : 0),
			.size = le(r, 4), .offset = (i + 1) * REGION_SPAN,
		};
		vr->sparse = r[4] >> 1 & 1;
		vr->nr_areas = vr->sparse ? 2 : 0;
		vr->areas = vr->sparse ? calloc(2, sizeof(*vr->areas)) : NULL;
		if (vr->sparse && !vr->areas)
			abort();
		for (unsigned a = 0; a < vr->nr_areas; a++)
			vr->areas[a] = (struct vfio_region_sparse_mmap_area){
				.offset = le(r + 8 + 4 * a, 2) << 10,
				.size = le(r + 10 + 4 * a, 2) << 10 };
	}
	put("\x55\xaa", 2, f->dev.region[VFIO_PCI_ROM_REGION_INDEX].offset);
}

/* What must be as it was: the device's header and extended space, what lies past each region. */
static void check_device(struct fake *f)
{
	static uint8_t now[PCI_CFG_SIZE], zero[PAGE], past[PAGE];
	const struct vfio_region *cr = &f->dev.region[VFIO_PCI_CONFIG_REGION_INDEX];
	uint16_t sig;

	if (pread(dev_fd, now, cr->size, 0) != (ssize_t)cr->size)
		abort();
	/* The header but command and status is emulated (vfio_pci.h): no write reaches it. */
	if (memcmp(now, f->cfg, PCI_COMMAND) ||
	    memcmp(now + PCI_REVISION_ID, f->cfg + PCI_REVISION_ID,
		   PCI_STD_HEADER_SIZEOF - PCI_REVISION_ID))
		abort(); /* the real BARs, say, keep the host's addresses */
	if (cr->size > 0x100 && memcmp(now + 0x100, f->cfg + 0x100, cr->size - 0x100))
		abort(); /* the extended capabilities are hidden: no write reaches them */
	if (pread(dev_fd, past, PAGE, (off_t)cr->size) != PAGE || memcmp(past, zero, PAGE))
		abort(); /* written past the config region */
	for (unsigned i = 0; i < NR_REGIONS; i++) {
		const struct vfio_region *r = &f->dev.region[i];
		uint64_t end = r->offset + r->size;

		/* The ROM's signature sits at its start, past the end of a ROM of under 2 bytes. */
		if (i == VFIO_PCI_ROM_REGION_INDEX && r->size < 2)
			end = r->offset + 2;
		if (pread(dev_fd, past, PAGE, (off_t)end) != PAGE || memcmp(past, zero, PAGE))
			abort(); /* written past the end of region i */
	}
	if (pread(dev_fd, &sig, 2, (off_t)f->dev.region[VFIO_PCI_ROM_REGION_INDEX].offset) != 2 ||
	    sig != 0xaa55)
		abort(); /* a ROM takes no writes */
}

/*
 * Which of the fds from floor on are open (one poll(): an fd that is not
 * says POLLNVAL), up to the fd limit, past which none can be and poll()
 * takes no more.
 */
static void open_fds(int floor, bool *open)
{
	unsigned n = fd_limit - (unsigned)floor < FD_ROOM ? fd_limit - (unsigned)floor : FD_ROOM;

	memset(open, 0, FD_ROOM * sizeof(*open));
	for (unsigned i = 0; i < n; i++)
		fd_poll[i] = (struct pollfd){ .fd = floor + (int)i };
	if (poll(fd_poll, n, 0) < 0)
		abort();
	for (unsigned i = 0; i < n; i++)
		open[i] = !(fd_poll[i].revents & POLLNVAL);
}

/* After vfio_pci_free(): nothing of it may be left anywhere. */
static void check_freed(struct fake *f, int fd_floor)
{
	for (unsigned n = 0; n < MAX_SLOTS; n++)
		if (f->slots[n].on)
			abort(); /* a memslot left behind */
	if (f->intx_on || f->active != -1)
		abort(); /* the INTx irqfd, or an interrupt kind still on */
	if (f->mmio.nr != 1 || f->pio.nr != 0)
		abort(); /* a BAR still on a bus (ECAM is the one range of ours) */
	if (fd_floor < 0)
		return;
	open_fds(fd_floor, now_open);
	for (unsigned i = 0; i < FD_ROOM; i++)
		if (now_open[i] && !was_open[i])
			abort(); /* an fd made for the device still open */
}

static void once(void)
{
	struct rlimit lim;

	dev_fd = memfd_create("fuzz-vfio-dev", MFD_CLOEXEC);
	if (dev_fd < 0)
		abort();
	/* Room for a 2048-vector MSI-X table's eventfds, as a host would give. */
	if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < 8192) {
		lim.rlim_cur = lim.rlim_max < 8192 ? lim.rlim_max : 8192;
		setrlimit(RLIMIT_NOFILE, &lim);
	}
	if (getrlimit(RLIMIT_NOFILE, &lim) == 0)
		fd_limit = lim.rlim_cur < 1u << 20 ? (unsigned)lim.rlim_cur : 1u << 20;
	/* What vfio_pci makes of each device: errors only, but when replaying with FUZZ_LOG=1. */
	log_threshold = getenv("FUZZ_LOG") ? LOG_DEBUG : LOG_ERR;
}

/*
 * The lowest fd number free now: everything the input opens lies at or
 * above it. -1 when none is: a leak that the last input's check found.
 */
static int fd_floor_now(void)
{
	int fd = eventfd(0, EFD_CLOEXEC);

	if (fd >= 0)
		close(fd);
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fake f;
	struct vfio_pci_opts opts = { 0 };
	struct fuzz_io io;
	uint8_t *rom = NULL;
	const uint8_t *desc;
	char why[256];
	int floor;

	if (dev_fd < 0)
		once();
	if (!fuzz_io_begin(&io, data, size))
		return 0;
	desc = io.mem.region[0].hva;
	F = &f;
	memset(f.slots, 0, sizeof(f.slots));
	f.gsis = 0;
	f.intx_on = false;
	kernel_off(&f);
	floor = fd_floor_now();
	if (floor >= 0)
		open_fds(floor, was_open);
	describe(&f, desc);
	opts.no_mmap = desc[0] >> 2 & 1;
	opts.rom_off = desc[0] >> 3 & 1;
	if (desc[0] >> 5 & 1) {
		opts.rom_len = f.dev.region[VFIO_PCI_ROM_REGION_INDEX].size % (ROM_FILE_MAX + 1);
		rom = malloc(opts.rom_len ? opts.rom_len : 1);
		if (!rom)
			abort();
		memset(rom, 0x5a, opts.rom_len);
		opts.rom = rom;
	}
	if (bus_init(&f.mmio, "mmio") || bus_init(&f.pio, "pio"))
		abort();
	bus_share_defer_queue(&f.mmio, &f.pio);
	pci_bus_init(&f.pci);
	pci_set_bars_hook(&f.pci, bars_changed, &f);
	if (bus_register(&f.mmio, ECAM_BASE, 1 << 20, &pci_ecam_ops, &f.pci))
		abort();

	const struct pci_platform plat = {
		.memslot = fake_memslot, .irqfd = fake_irqfd, .msi_route = fake_msi_route,
		.intx_irqfd = fake_intx_irqfd, .opaque = &f, .mmio = &f.mmio, .pio = &f.pio,
		.intx_gsi = { 20, 21, 22, 23 },
	};
	f.vp = vfio_pci_new(&f.dev, DEVFN, desc[0] >> 4 & 1, &plat, &opts, why, sizeof(why));
	if (f.vp) {
		const struct fuzz_space spaces[] = {
			{ .name = "config", .bus = &f.mmio, .base = ECAM_BASE + (DEVFN << 12),
			  .len = PCI_CFG_SIZE },
			{ .name = "mmio-low", .bus = &f.mmio, .base = 0, .len = 1ULL << 32 },
			{ .name = "mmio-high", .bus = &f.mmio, .base = HIGH_BASE, .len = 1ULL << 32 },
			{ .name = "pio", .bus = &f.pio, .base = 0, .len = 0x10000 },
			{ .name = "device", .ops = &dev_space_ops, .opaque = &f, .len = 8 },
		};

		if (pci_bus_add(&f.pci, vfio_pci_dev(f.vp)))
			abort();
		fuzz_io_run(&io, spaces, sizeof(spaces) / sizeof(spaces[0]), NULL, NULL);
		check_device(&f);
		vfio_pci_free(f.vp);
		f.vp = NULL;
	}
	check_freed(&f, floor);
	bus_destroy(&f.mmio);
	bus_destroy(&f.pio);
	for (unsigned i = 0; i < NR_REGIONS; i++)
		free(f.dev.region[i].areas);
	free(rom);
	fuzz_io_end(&io);
	return 0;
}
