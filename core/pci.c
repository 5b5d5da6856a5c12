// SPDX-License-Identifier: MIT
#include "pci.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/*
 * CONFIG_ADDRESS (0xCF8, dword only). Bits 27:24 carry register bits
 * 11:8: AMD's extension, which Linux uses for extended config space
 * through mechanism #1 on family 10h+ guests that have no ECAM (it sets
 * PCI_HAS_IO_ECS). Honouring it keeps 0x100+ from aliasing 0x00+.
 * Bits 30:28 and 1:0 are reserved and read 0.
 */
#define CONF_ADDR_ENABLE   0x80000000u
#define CONF_ADDR_WRITABLE 0x8ffffffcu

/* Window offsets from 0xCF8. */
#define CONF_ADDR_OFF 0
#define CF9_OFF       1 /* 0xCF9: the reset control register, not ours */
#define CONF_DATA_OFF 4 /* 0xCFC */
#define CONF_WINDOW   8

_Static_assert(sizeof(((struct pci_bus *)0)->dev) / sizeof(struct pci_device *) == 256,
	       "one slot per devfn, so any uint8_t devfn is in range");

static uint64_t all_ones(unsigned size)
{
	if (size >= 8)
		return UINT64_MAX;
	return (1ULL << (8 * size)) - 1;
}

static bool cfg_access_ok(unsigned offset, unsigned size)
{
	if (size != 1 && size != 2 && size != 4)
		return false;
	return offset <= PCI_CFG_SIZE - size && offset % size == 0;
}

static const char *pci_dev_name(const struct pci_device *dev)
{
	return dev->ops && dev->ops->name ? dev->ops->name : "pci";
}

uint32_t pci_default_cfg_read(const struct pci_device *dev, unsigned offset, unsigned size)
{
	uint32_t v = 0;

	if (!cfg_access_ok(offset, size))
		return (uint32_t)all_ones(size);
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)dev->cfg[offset + i] << (8 * i);
	return v;
}

void pci_default_cfg_write(struct pci_device *dev, unsigned offset, unsigned size,
			   uint32_t value)
{
	if (!cfg_access_ok(offset, size))
		return;
	for (unsigned i = 0; i < size; i++) {
		uint8_t m = dev->wmask[offset + i];
		uint8_t b = (uint8_t)(value >> (8 * i));

		dev->cfg[offset + i] = (uint8_t)((dev->cfg[offset + i] & ~m) | (b & m));
	}
}

/*
 * The function at bus:devfn, with pci->lock held: bus 0's own, or one
 * behind the bridge whose secondary bus is bus. A bridge not numbered yet
 * (secondary 0) leads nowhere.
 */
static struct pci_device *find_locked(struct pci_bus *pci, uint8_t bus, uint8_t devfn)
{
	if (bus == 0)
		return pci->dev[devfn];
	for (unsigned i = 0; i < pci->nr_behind; i++) {
		struct pci_device *d = pci->behind[i];

		if (d->devfn == devfn && d->parent->cfg[PCI_SECONDARY_BUS] == bus)
			return d;
	}
	return NULL;
}

/* Both with pci->lock held. */
static uint32_t cfg_read_locked(struct pci_bus *pci, uint8_t bus, uint8_t devfn,
				unsigned offset, unsigned size)
{
	struct pci_device *dev = find_locked(pci, bus, devfn);

	if (!dev)
		return (uint32_t)all_ones(size);
	if (!cfg_access_ok(offset, size)) {
		dev_warn_rl(&dev->warn_rl, pci_dev_name(dev), "%02x.%x: bad config read at 0x%x size %u",
				     PCI_SLOT(devfn), PCI_FUNC(devfn), offset, size);
		return (uint32_t)all_ones(size);
	}
	if (dev->ops && dev->ops->cfg_read)
		return dev->ops->cfg_read(dev, offset, size) & (uint32_t)all_ones(size);
	return pci_default_cfg_read(dev, offset, size);
}

static bool has_bars(const struct pci_device *dev)
{
	for (unsigned i = 0; i <= PCI_ROM_BAR; i++)
		if (dev->bar[i].kind != PCI_BAR_UNUSED)
			return true;
	return false;
}

/* A write that may change what a BAR decodes: the command register, a BAR or the ROM register. */
static bool touches_bars(unsigned offset, unsigned size)
{
	return (offset < PCI_COMMAND + 2 && offset + size > PCI_COMMAND) ||
	       (offset < PCI_BASE_ADDRESS_5 + 4 && offset + size > PCI_BASE_ADDRESS_0) ||
	       (offset < PCI_ROM_ADDRESS + 4 && offset + size > PCI_ROM_ADDRESS);
}

static void cfg_write_locked(struct pci_bus *pci, uint8_t bus, uint8_t devfn, unsigned offset,
			     unsigned size, uint32_t value)
{
	struct pci_device *dev = find_locked(pci, bus, devfn);

	if (!dev)
		return;
	if (!cfg_access_ok(offset, size)) {
		dev_warn_rl(&dev->warn_rl, pci_dev_name(dev), "%02x.%x: bad config write at 0x%x size %u",
				     PCI_SLOT(devfn), PCI_FUNC(devfn), offset, size);
		return;
	}
	value &= (uint32_t)all_ones(size);
	if (dev->ops && dev->ops->cfg_write)
		dev->ops->cfg_write(dev, offset, size, value);
	else
		pci_default_cfg_write(dev, offset, size, value);
	if (pci->bars_changed && touches_bars(offset, size) && has_bars(dev))
		pci->bars_changed(pci->bars_opaque);
}

uint32_t pci_cfg_read_bus(struct pci_bus *pci, uint8_t bus, uint8_t devfn, unsigned offset,
			  unsigned size)
{
	uint32_t v;

	pthread_mutex_lock(&pci->lock);
	v = cfg_read_locked(pci, bus, devfn, offset, size);
	pthread_mutex_unlock(&pci->lock);
	return v;
}

void pci_cfg_write_bus(struct pci_bus *pci, uint8_t bus, uint8_t devfn, unsigned offset,
		       unsigned size, uint32_t value)
{
	pthread_mutex_lock(&pci->lock);
	cfg_write_locked(pci, bus, devfn, offset, size, value);
	pthread_mutex_unlock(&pci->lock);
}

uint32_t pci_cfg_read(struct pci_bus *pci, uint8_t devfn, unsigned offset, unsigned size)
{
	return pci_cfg_read_bus(pci, 0, devfn, offset, size);
}

void pci_cfg_write(struct pci_bus *pci, uint8_t devfn, unsigned offset, unsigned size,
		   uint32_t value)
{
	pci_cfg_write_bus(pci, 0, devfn, offset, size, value);
}

/* Which function and register CONFIG_ADDRESS selects. */
static bool conf_target(uint32_t addr, uint8_t *bus, uint8_t *devfn, unsigned *reg)
{
	if (!(addr & CONF_ADDR_ENABLE))
		return false;
	*bus = (uint8_t)(addr >> 16);
	*devfn = (uint8_t)(addr >> 8);
	*reg = (addr & 0xfc) | ((addr >> 16) & 0xf00);
	return true;
}

/* n is the offset inside the data dword: 0xCFC + n reaches register + n. */
static uint32_t conf_data_read(struct pci_bus *pci, unsigned n, unsigned size)
{
	uint32_t v = (uint32_t)all_ones(size);
	uint8_t bus, devfn;
	unsigned reg;

	pthread_mutex_lock(&pci->lock);
	if (conf_target(pci->conf_addr, &bus, &devfn, &reg))
		v = cfg_read_locked(pci, bus, devfn, reg + n, size);
	pthread_mutex_unlock(&pci->lock);
	return v;
}

static void conf_data_write(struct pci_bus *pci, unsigned n, unsigned size, uint32_t value)
{
	uint8_t bus, devfn;
	unsigned reg;

	pthread_mutex_lock(&pci->lock);
	if (conf_target(pci->conf_addr, &bus, &devfn, &reg))
		cfg_write_locked(pci, bus, devfn, reg + n, size, value);
	pthread_mutex_unlock(&pci->lock);
}

static uint64_t pci_conf_read(void *opaque, uint64_t offset, unsigned size)
{
	struct pci_bus *pci = opaque;
	uint64_t v = all_ones(size);

	if (offset >= CONF_DATA_OFF && offset < CONF_WINDOW)
		return conf_data_read(pci, (unsigned)(offset - CONF_DATA_OFF), size);
	if (offset == CF9_OFF && size == 1)
		return pci->cf9.read ? pci->cf9.read(pci->cf9.opaque) : 0xff;
	pthread_mutex_lock(&pci->lock);
	if (offset == CONF_ADDR_OFF && size == 4)
		v = pci->conf_addr;
	pthread_mutex_unlock(&pci->lock);
	return v;
}

static void pci_conf_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct pci_bus *pci = opaque;

	if (offset >= CONF_DATA_OFF && offset < CONF_WINDOW) {
		conf_data_write(pci, (unsigned)(offset - CONF_DATA_OFF), size, (uint32_t)value);
	} else if (offset == CONF_ADDR_OFF && size == 4) {
		pthread_mutex_lock(&pci->lock);
		pci->conf_addr = (uint32_t)value & CONF_ADDR_WRITABLE;
		pthread_mutex_unlock(&pci->lock);
	} else if (offset == CF9_OFF && size == 1) {
		if (pci->cf9.write)
			pci->cf9.write(pci->cf9.opaque, (uint8_t)value);
	} else {
		/* Not the address register: Linux's type-1 probe writes 0xCFB
		 * on every boot, so this is no cause for a warning. */
		dev_debug("pci", "ignored %u-byte write of 0x%llx at 0xcf8+%llu", size,
			  (unsigned long long)value, (unsigned long long)offset);
	}
}

const struct bus_ops pci_conf_ops = {
	.name = "pci-conf",
	.read = pci_conf_read,
	.write = pci_conf_write,
};

void pci_bus_init(struct pci_bus *pci)
{
	memset(pci, 0, sizeof(*pci));
	pthread_mutex_init(&pci->lock, NULL);
	pthread_mutex_init(&pci->apply_lock, NULL);
}

int pci_bus_add(struct pci_bus *pci, struct pci_device *dev)
{
	int ret = 0;

	if (!dev)
		return -EINVAL;
	pthread_mutex_lock(&pci->lock);
	if (pci->dev[dev->devfn])
		ret = -EEXIST;
	else
		pci->dev[dev->devfn] = dev;
	if (!ret)
		dev->bus = pci;
	pthread_mutex_unlock(&pci->lock);
	return ret;
}

int pci_bus_add_behind(struct pci_bus *pci, struct pci_device *bridge, struct pci_device *dev)
{
	int ret = 0;

	if (!dev || !bridge || PCI_SLOT(dev->devfn) != 0 ||
	    (bridge->cfg[PCI_HEADER_TYPE] & 0x7f) != PCI_HEADER_TYPE_BRIDGE)
		return -EINVAL;
	pthread_mutex_lock(&pci->lock);
	if (pci->dev[bridge->devfn] != bridge) {
		ret = -EINVAL;
		goto out;
	}
	for (unsigned i = 0; i < pci->nr_behind; i++)
		if (pci->behind[i]->parent == bridge && pci->behind[i]->devfn == dev->devfn)
			ret = -EEXIST;
	if (!ret && pci->nr_behind == PCI_MAX_BEHIND)
		ret = -ENOSPC;
	if (!ret) {
		dev->parent = bridge;
		dev->bus = pci;
		pci->behind[pci->nr_behind++] = dev;
	}
out:
	pthread_mutex_unlock(&pci->lock);
	return ret;
}

int pci_bus_remove_behind(struct pci_bus *pci, struct pci_device *dev)
{
	int ret = -ENOENT;

	/* apply_lock first: a BAR walk in progress indexes the list it would shift. */
	pthread_mutex_lock(&pci->apply_lock);
	pthread_mutex_lock(&pci->lock);
	/* A bus reset holds what it collected, and applies the BARs at its end: it goes first. */
	while (atomic_load(&pci->resetting)) {
		pthread_mutex_unlock(&pci->lock);
		pthread_mutex_unlock(&pci->apply_lock);
		usleep(1000);
		pthread_mutex_lock(&pci->apply_lock);
		pthread_mutex_lock(&pci->lock);
	}
	for (unsigned i = 0; i < pci->nr_behind; i++) {
		if (pci->behind[i] != dev)
			continue;
		memmove(&pci->behind[i], &pci->behind[i + 1],
			(pci->nr_behind - i - 1) * sizeof(pci->behind[0]));
		pci->behind[--pci->nr_behind] = NULL;
		dev->parent = NULL;
		ret = 0;
		break;
	}
	pthread_mutex_unlock(&pci->lock);
	pthread_mutex_unlock(&pci->apply_lock);
	return ret;
}

void pci_device_init(struct pci_device *dev, const struct pci_device_ops *ops, void *opaque,
		     uint8_t devfn)
{
	memset(dev, 0, sizeof(*dev));
	dev->ops = ops;
	dev->opaque = opaque;
	dev->devfn = devfn;
}

void pci_set_ids(struct pci_device *dev, uint16_t vendor, uint16_t device, uint32_t class_code,
		 uint8_t header_type)
{
	struct pci_config_header *h = pci_header(dev->cfg);
	struct pci_config_header *w = pci_header(dev->wmask);

	h->vendor_id = vendor;
	h->device_id = device;
	h->class_prog = (uint8_t)class_code;
	h->class_sub = (uint8_t)(class_code >> 8);
	h->class_base = (uint8_t)(class_code >> 16);
	h->header_type = header_type;
	/* Identity never changes, whatever a model did to wmask before. */
	w->vendor_id = w->device_id = 0;
	w->class_prog = w->class_sub = w->class_base = 0;
	w->header_type = 0;
}

void pci_set_cf9_hook(struct pci_bus *pci, uint8_t (*read)(void *opaque),
		      void (*write)(void *opaque, uint8_t value), void *opaque)
{
	pthread_mutex_lock(&pci->lock);
	pci->cf9.read = read;
	pci->cf9.write = write;
	pci->cf9.opaque = opaque;
	pthread_mutex_unlock(&pci->lock);
}

void pci_set_ecam_hook(struct pci_bus *pci, void (*changed)(void *opaque), void *opaque)
{
	pthread_mutex_lock(&pci->lock);
	pci->ecam_changed = changed;
	pci->ecam_opaque = opaque;
	pthread_mutex_unlock(&pci->lock);
}

struct pci_ecam pci_ecam_window(struct pci_bus *pci)
{
	struct pci_ecam e;

	pthread_mutex_lock(&pci->lock);
	e = pci->ecam;
	pthread_mutex_unlock(&pci->lock);
	return e;
}

static bool ecam_target(uint64_t offset, unsigned size, uint8_t *bus, uint8_t *devfn,
			unsigned *reg)
{
	if (size != 1 && size != 2 && size != 4)
		return false;
	if ((offset >> 20) > 0xff)
		return false;
	*bus = (uint8_t)(offset >> 20);
	*devfn = (uint8_t)(offset >> 12);
	*reg = (unsigned)(offset & 0xfff);
	return true;
}

static uint64_t pci_ecam_read(void *opaque, uint64_t offset, unsigned size)
{
	struct pci_bus *pci = opaque;
	uint8_t bus, devfn;
	unsigned reg;

	if (!ecam_target(offset, size, &bus, &devfn, &reg))
		return all_ones(size);
	return pci_cfg_read_bus(pci, bus, devfn, reg, size);
}

static void pci_ecam_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct pci_bus *pci = opaque;
	uint8_t bus, devfn;
	unsigned reg;

	if (ecam_target(offset, size, &bus, &devfn, &reg))
		pci_cfg_write_bus(pci, bus, devfn, reg, size, (uint32_t)value);
}

const struct bus_ops pci_ecam_ops = {
	.name = "pci-ecam",
	.read = pci_ecam_read,
	.write = pci_ecam_write,
};

void pci_set_bars_hook(struct pci_bus *pci, void (*changed)(void *opaque), void *opaque)
{
	pthread_mutex_lock(&pci->lock);
	pci->bars_changed = changed;
	pci->bars_opaque = opaque;
	pthread_mutex_unlock(&pci->lock);
}

static uint32_t cfg_dword(const struct pci_device *dev, unsigned off)
{
	uint32_t v;

	memcpy(&v, &dev->cfg[off], 4);
	return v;
}

int pci_device_add_bar(struct pci_device *dev, unsigned idx, enum pci_bar_kind kind,
		       uint64_t size, bool prefetchable)
{
	unsigned off = PCI_BASE_ADDRESS_0 + 4 * idx;
	uint64_t mask = ~(size - 1);
	uint32_t type;

	if (idx >= 6 || !size || size & (size - 1) || dev->bar[idx].kind != PCI_BAR_UNUSED ||
	    (idx > 0 && dev->bar[idx - 1].kind == PCI_BAR_MEM64))
		return -EINVAL;
	switch (kind) {
	case PCI_BAR_IO:
		if (size < 4 || size > 256 || prefetchable)
			return -EINVAL;
		type = PCI_BASE_ADDRESS_SPACE_IO;
		break;
	case PCI_BAR_MEM32:
		if (size < 16 || size > (2ULL << 30))
			return -EINVAL;
		type = PCI_BASE_ADDRESS_MEM_TYPE_32;
		break;
	case PCI_BAR_MEM64:
		if (size < 16 || idx == 5 || dev->bar[idx + 1].kind != PCI_BAR_UNUSED)
			return -EINVAL;
		type = PCI_BASE_ADDRESS_MEM_TYPE_64;
		break;
	default:
		return -EINVAL;
	}
	if (prefetchable)
		type |= PCI_BASE_ADDRESS_MEM_PREFETCH;
	dev->bar[idx] = (struct pci_bar){ .kind = kind, .prefetchable = prefetchable, .size = size };
	memcpy(&dev->cfg[off], &type, 4);
	/* The low type bits stay read-only; the address bits above the size are the guest's. */
	for (unsigned i = 0; i < 4; i++)
		dev->wmask[off + i] = (uint8_t)((uint32_t)mask >> (8 * i)) &
				      (uint8_t)((kind == PCI_BAR_IO ? ~3u : ~15u) >> (8 * i));
	if (kind == PCI_BAR_IO) /* 16-bit I/O decode: bits 31:16 read 0 */
		dev->wmask[off + 2] = dev->wmask[off + 3] = 0;
	if (kind == PCI_BAR_MEM64) {
		dev->bar[idx + 1].kind = PCI_BAR_UNUSED;
		for (unsigned i = 0; i < 4; i++)
			dev->wmask[off + 4 + i] = (uint8_t)((mask >> 32) >> (8 * i));
		memset(&dev->cfg[off + 4], 0, 4);
	}
	return 0;
}

int pci_device_add_rom(struct pci_device *dev, uint64_t size)
{
	uint32_t mask = (uint32_t)~(size - 1) & PCI_ROM_ADDRESS_MASK, zero = 0;

	if (size < 2048 || size > (16u << 20) || size & (size - 1) ||
	    (dev->cfg[PCI_HEADER_TYPE] & 0x7f) != PCI_HEADER_TYPE_NORMAL ||
	    dev->bar[PCI_ROM_BAR].kind != PCI_BAR_UNUSED)
		return -EINVAL;
	dev->bar[PCI_ROM_BAR] = (struct pci_bar){ .kind = PCI_BAR_ROM, .size = size };
	memcpy(&dev->cfg[PCI_ROM_ADDRESS], &zero, 4);
	mask |= PCI_ROM_ADDRESS_ENABLE;
	memcpy(&dev->wmask[PCI_ROM_ADDRESS], &mask, 4);
	return 0;
}

void pci_device_set_bar_addr(struct pci_device *dev, unsigned idx, uint64_t addr)
{
	unsigned off = PCI_BASE_ADDRESS_0 + 4 * idx;
	uint32_t lo;

	if (idx >= 6 || dev->bar[idx].kind == PCI_BAR_UNUSED)
		return;
	lo = (cfg_dword(dev, off) & (dev->bar[idx].kind == PCI_BAR_IO ? 3u : 15u)) |
	     ((uint32_t)addr & ~(uint32_t)(dev->bar[idx].size - 1) &
	      (dev->bar[idx].kind == PCI_BAR_IO ? 0xfffcu : ~15u));
	memcpy(&dev->cfg[off], &lo, 4);
	if (dev->bar[idx].kind == PCI_BAR_MEM64) {
		uint32_t hi = (uint32_t)(addr >> 32);

		memcpy(&dev->cfg[off + 4], &hi, 4);
	}
}

/* What BAR idx decodes now: whether it is on, and where. */
static bool bar_decode(const struct pci_device *dev, unsigned idx, uint64_t *addr)
{
	const struct pci_bar *b = &dev->bar[idx];
	unsigned off = PCI_BASE_ADDRESS_0 + 4 * idx;
	uint16_t cmd;
	uint64_t a;

	memcpy(&cmd, &dev->cfg[PCI_COMMAND], 2);
	switch (b->kind) {
	case PCI_BAR_ROM:
		a = cfg_dword(dev, PCI_ROM_ADDRESS) & PCI_ROM_ADDRESS_MASK;
		*addr = a;
		return (cmd & PCI_COMMAND_MEMORY) &&
		       (cfg_dword(dev, PCI_ROM_ADDRESS) & PCI_ROM_ADDRESS_ENABLE) && a &&
		       a + b->size - 1 <= 0xffffffffULL;
	case PCI_BAR_IO:
		a = cfg_dword(dev, off) & ~3u & 0xffffu;
		*addr = a;
		return (cmd & PCI_COMMAND_IO) && a && a + b->size <= 0x10000;
	case PCI_BAR_MEM32:
		a = cfg_dword(dev, off) & ~15u;
		*addr = a;
		return (cmd & PCI_COMMAND_MEMORY) && a && a + b->size - 1 <= 0xffffffffULL;
	case PCI_BAR_MEM64:
		a = (cfg_dword(dev, off) & ~15ULL) | (uint64_t)cfg_dword(dev, off + 4) << 32;
		*addr = a;
		/*
		 * Beyond x86's 52-bit physical addresses nothing can decode: that
		 * is a BAR the guest is sizing (all ones written) with decode on.
		 */
		return (cmd & PCI_COMMAND_MEMORY) && a && a + b->size - 1 < (1ULL << 52);
	default:
		*addr = 0;
		return false;
	}
}

/* Bus 0's functions by devfn (0..255), then those behind bridges. */
static struct pci_device *nth_locked(struct pci_bus *pci, unsigned n)
{
	if (n < 256)
		return pci->dev[n];
	n -= 256;
	return n < pci->nr_behind ? pci->behind[n] : NULL;
}

unsigned pci_bus_reset_behind(struct pci_bus *pci, struct pci_device *bridge)
{
	struct pci_device *below[PCI_MAX_BEHIND];
	unsigned n = 0;

	/* Collected under the lock, reset outside it: a reset may take long (a host FLR). */
	pthread_mutex_lock(&pci->lock);
	for (unsigned i = 0; i < pci->nr_behind; i++)
		if (pci->behind[i]->parent == bridge)
			below[n++] = pci->behind[i];
	/* None of them leaves meanwhile: pci_bus_remove_behind() waits for this. */
	atomic_fetch_add(&pci->resetting, 1);
	pthread_mutex_unlock(&pci->lock);
	for (unsigned i = 0; i < n; i++)
		if (below[i]->ops && below[i]->ops->reset)
			below[i]->ops->reset(below[i]);
	/* What the resets turned off (command, BARs) stops decoding. */
	if (n)
		pci_bus_apply_bars(pci);
	atomic_fetch_sub(&pci->resetting, 1);
	return n;
}

void pci_device_lock(struct pci_device *dev)
{
	pthread_mutex_lock(&dev->bus->lock);
}

void pci_device_unlock(struct pci_device *dev)
{
	pthread_mutex_unlock(&dev->bus->lock);
}

void pci_bus_apply_bars(struct pci_bus *pci)
{
	pthread_mutex_lock(&pci->apply_lock);
	for (unsigned n = 0; n < 256 + PCI_MAX_BEHIND; n++) {
		for (unsigned i = 0; i <= PCI_ROM_BAR; i++) {
			struct pci_device *dev;
			struct pci_bar *b;
			uint64_t addr, old_addr;
			bool on, was_on;

			pthread_mutex_lock(&pci->lock);
			dev = nth_locked(pci, n);
			if (!dev || dev->bar[i].kind == PCI_BAR_UNUSED) {
				pthread_mutex_unlock(&pci->lock);
				if (!dev)
					break;
				continue;
			}
			b = &dev->bar[i];
			on = bar_decode(dev, i, &addr);
			if (!on)
				addr = 0;
			was_on = b->applied_on;
			old_addr = b->applied_addr;
			b->applied_on = on;
			b->applied_addr = addr;
			pthread_mutex_unlock(&pci->lock);
			if ((on != was_on || addr != old_addr) && dev->ops && dev->ops->bar_remap)
				dev->ops->bar_remap(dev, i, was_on, old_addr, on, addr);
		}
	}
	pthread_mutex_unlock(&pci->apply_lock);
}
