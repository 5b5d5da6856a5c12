// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: PCI configuration space as a Q35 guest reaches it,
 * through 0xCF8/0xCFC on a real PIO bus and through the ECAM window on a
 * real MMIO bus, with everything config space places on those buses: the
 * ECAM window itself (PCIEXBAR) and the endpoints' BARs and ROMs.
 *
 * The machine, wired as vmm/vm.c and vmm/q35.c wire it:
 *   00:00.0  the Q35 MCH (devices/q35_host.c), 0xCF9 included
 *   00:01.0  root port 1, an endpoint wired below it (present)
 *   00:02.0  root port 2, empty, a hot-plug slot (pcie_root_port_set_hotplug):
 *            presence only, no function is ever put behind it
 *   00:03.0  endpoint A: BAR0 mem32 4 KiB, BAR1 I/O 32, BAR2 mem64
 *            prefetchable 1 MiB, BAR4 mem32 16 bytes, BAR5 I/O 256, ROM 64 KiB
 *   behind root port 1, 0.0: endpoint B: BAR0 mem64 prefetchable 16 MiB,
 *            BAR2 mem32 64 KiB, BAR3 I/O 16, ROM 2 KiB
 * The PIO and MMIO buses share one deferred-work queue, as in the VMM; a
 * BAR or ROM change queues pci_bus_apply_bars(), a PCIEXBAR change the
 * ECAM move, Secondary Bus Reset the reset of what is behind the port.
 *
 * Spaces (fuzz_io.h): 0 the 0xCF8 window (8 ports) of the PIO bus, 1 the
 * MMIO bus at 0xb0000000 for 256 MiB (where OVMF puts ECAM), 2 the MMIO bus
 * below 4 GiB, 3 the MMIO bus from 4 to 8 GiB, 4 the whole PIO bus, and
 * 5 the host: a write at offset 0 resets endpoint A as an FLR does (value
 * bit 0 set: endpoint B), at 1 sets root port 1's link (speed in value
 * bits 2:0, width in bits 8:3), at 2 resets root port 1 (value bit 0 set:
 * root port 2) as the VMM's reset does; on root port 2, at 3 a hot-add,
 * at 4 an attention button press, at 5 a removal (value bit 0: surprise).
 *
 * After every access the target checks what core/pci.h and
 * devices/pci_devices.h promise, and aborts when a promise breaks:
 *  - a read returns what the bus holds there: config bytes of the function
 *    the address reaches (all ones for none, or for a bad access), the
 *    address register, 0xCF9, a BAR's own bytes, or all ones;
 *  - bar_remap is called with no PCI or bus lock held, one call at a time,
 *    only for a change, with the state it last reported as the old one, at
 *    an address aligned to the BAR's size and inside the BAR's reach;
 *  - what bar_remap last reported is what config space decodes now (a
 *    second pci_bus_apply_bars() has nothing to do), and each BAR mapped
 *    answers at its address on the bus;
 *  - the BAR and ROM registers keep their type bits and read 0 below the
 *    size; PCIEXBAR keeps its reserved bits 0, and the ECAM window is what
 *    it decodes, mapped where it says;
 *  - a root port keeps its identity, capability chain, 16-bit I/O and
 *    64-bit prefetchable window types, windows on their granules,
 *    presence and link state as wired, and calls bus_reset exactly once
 *    per Secondary Bus Reset asserted, each resetting what is behind it;
 *  - the hot-plug port keeps its MSI and reservation capabilities, only
 *    its writable Slot Control bits and its events in Slot Status, a link
 *    up only while present and powered; its hooks run under the PCI lock,
 *    power() exactly at each change of Power Controller Control, msi()
 *    only while MSI and bus mastering are on with an enabled event
 *    pending, and INTA's level is the interrupt condition while MSI is off.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pci.h"
#include "devices/pci_devices.h"
#include "fuzz_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ECAM_SEED_BASE 0xb0000000ULL
#define ECAM_MAX_SIZE  (256ULL << 20)
#define CF8            0xcf8
#define PCIEXBAR_MASK  0xffc000007ULL /* enable, length, base bits 35:26 */
#define NR_EP          2
#define BCTL_WRITABLE  0x5f
#define NO_LIMIT       (1ULL << 52) /* where x86 physical addresses end */

struct fz;

struct ep_bar_spec {
	enum pci_bar_kind kind;
	uint64_t size;
	bool prefetchable;
};

/* One BAR as bar_remap last reported it, and whether our range is on the bus. */
struct ep_bar {
	struct ep *ep;
	unsigned idx;
	bool on, mapped;
	uint64_t addr;
};

struct ep {
	struct pci_device pci;
	struct fz *fz;
	unsigned id;
	struct ep_bar bar[7];
	unsigned resets;
};

struct fz {
	struct bus pio, mmio;
	struct pci_bus pci;
	struct q35_host host;
	struct pcie_root_port *rp[2];
	bool rp_present[2];
	uint16_t rp_bctl[2];
	unsigned rp_resets[2];
	unsigned host_ep_resets[NR_EP];
	struct ep ep[NR_EP];
	struct pci_ecam ecam_mapped;
	bool in_remap;
	uint8_t link_speed, link_width; /* root port 1's link, as the host last set it */
	uint32_t conf_addr; /* what the guest last wrote to 0xCF8, as the model sees it */
	uint8_t rcr;
	bool hp_powered; /* root port 2's slot power, as power() last said */
	int hp_level;    /* its INTA, as set_level() last said */
};

#define HP_RESV_BUS  2
#define HP_RESV_IO   0x1000
#define HP_RESV_MEM  (2u << 20)
#define HP_RESV_PREF (64ULL << 20)
#define HP_SLTCTL_WRITABLE 0x17f9 /* ABPE PDCE CCIE HPIE AIC PIC PCC DLLSCE */
#define HP_SLTSTA_BITS (PCI_EXP_SLTSTA_ABP | PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_CC | \
			PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_DLLSC)

static const struct ep_bar_spec ep_bars[NR_EP][7] = {
	{
		[0] = { PCI_BAR_MEM32, 4096, false },
		[1] = { PCI_BAR_IO, 32, false },
		[2] = { PCI_BAR_MEM64, 1 << 20, true },
		[4] = { PCI_BAR_MEM32, 16, false },
		[5] = { PCI_BAR_IO, 256, false },
		[PCI_ROM_BAR] = { PCI_BAR_ROM, 64 << 10, false },
	},
	{
		[0] = { PCI_BAR_MEM64, 16 << 20, true },
		[2] = { PCI_BAR_MEM32, 64 << 10, false },
		[3] = { PCI_BAR_IO, 16, false },
		[PCI_ROM_BAR] = { PCI_BAR_ROM, 2048, false },
	},
};

/*
 * The checks themselves carry no coverage instrumentation: their
 * branches are no new behaviour of the code under test, and would only
 * slow the search.
 */
#define CHECKER __attribute__((no_sanitize("coverage")))

/* The access being checked, named when a check fails. */
static const struct fuzz_access *current;

/* A broken promise: say which, and after what, for whoever replays the input. */
#define check(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "fuzz_pci: %s:%d: %s\n", __FILE__, __LINE__,    \
				#cond);                                              \
			if (current)                                                 \
				fprintf(stderr, "fuzz_pci: after %s of %u bytes at "    \
					"space %u offset 0x%llx value 0x%llx\n",        \
					current->write ? "a write" : "a read",       \
					current->size, current->space,               \
					(unsigned long long)current->offset,         \
					(unsigned long long)current->value);         \
			abort();                                                     \
		}                                                                    \
	} while (0)

static uint32_t cfg32(const uint8_t *cfg, unsigned off)
{
	uint32_t v;

	memcpy(&v, &cfg[off], 4);
	return v;
}

static uint16_t cfg16(const uint8_t *cfg, unsigned off)
{
	uint16_t v;

	memcpy(&v, &cfg[off], 2);
	return v;
}

static uint64_t ones(unsigned size)
{
	return size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
}

/* ---- the endpoints' BARs: what they hold, and bar_remap's checks ---- */

/* Byte k of a BAR reads as a pattern of whose BAR it is, so a read shows it reached the right one. */
CHECKER static uint8_t bar_byte(const struct ep_bar *b, uint64_t k)
{
	return (uint8_t)((0x10 * (b->ep->id + 1) + b->idx) ^ k);
}

CHECKER static uint64_t bar_bytes(const struct ep_bar *b, uint64_t off, unsigned size)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)bar_byte(b, off + i) << (8 * i);
	return v;
}

static uint64_t bar_read(void *opaque, uint64_t off, unsigned size)
{
	return bar_bytes(opaque, off, size);
}

static void bar_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
}

static const struct bus_ops bar_ops = { "fuzz-bar", bar_read, bar_write };

static struct bus *bar_bus(struct fz *fz, enum pci_bar_kind kind)
{
	return kind == PCI_BAR_IO ? &fz->pio : &fz->mmio;
}

/* The end of what a BAR of this kind can reach. */
CHECKER static uint64_t bar_reach(enum pci_bar_kind kind)
{
	switch (kind) {
	case PCI_BAR_IO: return 0x10000;
	case PCI_BAR_MEM32:
	case PCI_BAR_ROM: return 1ULL << 32;
	default: return NO_LIMIT;
	}
}

/*
 * What config space decodes for BAR idx, read from the registers as the
 * header describes them: the enable bits, the address above the size,
 * off at 0 and where the BAR would leave its reach.
 */
CHECKER static bool cfg_decode(const struct ep *e, unsigned idx, uint64_t *addr)
{
	const uint8_t *cfg = e->pci.cfg;
	const struct ep_bar_spec *s = &ep_bars[e->id][idx];
	uint16_t cmd = cfg16(cfg, PCI_COMMAND);
	uint64_t a;
	bool en;

	switch (s->kind) {
	case PCI_BAR_IO:
		a = cfg32(cfg, PCI_BASE_ADDRESS_0 + 4 * idx) & PCI_BASE_ADDRESS_IO_MASK;
		en = cmd & PCI_COMMAND_IO;
		break;
	case PCI_BAR_MEM32:
		a = cfg32(cfg, PCI_BASE_ADDRESS_0 + 4 * idx) & PCI_BASE_ADDRESS_MEM_MASK;
		en = cmd & PCI_COMMAND_MEMORY;
		break;
	case PCI_BAR_MEM64:
		a = (cfg32(cfg, PCI_BASE_ADDRESS_0 + 4 * idx) & PCI_BASE_ADDRESS_MEM_MASK) |
		    (uint64_t)cfg32(cfg, PCI_BASE_ADDRESS_0 + 4 * idx + 4) << 32;
		en = cmd & PCI_COMMAND_MEMORY;
		break;
	case PCI_BAR_ROM:
		a = cfg32(cfg, PCI_ROM_ADDRESS) & PCI_ROM_ADDRESS_MASK;
		en = (cmd & PCI_COMMAND_MEMORY) && (cfg32(cfg, PCI_ROM_ADDRESS) & PCI_ROM_ADDRESS_ENABLE);
		break;
	default:
		return false;
	}
	*addr = a;
	return en && a && a <= bar_reach(s->kind) - s->size;
}

static struct ep *ep_of(struct fz *fz, struct pci_device *dev)
{
	for (unsigned i = 0; i < NR_EP; i++)
		if (dev == &fz->ep[i].pci)
			return &fz->ep[i];
	abort(); /* bar_remap for a device that has no such hook */
}

/* Called with no PCI or bus lock held: each of them can be taken here. */
CHECKER static void check_unlocked(struct fz *fz)
{
	check(pthread_mutex_trylock(&fz->pci.lock) == 0);
	pthread_mutex_unlock(&fz->pci.lock);
	check(pthread_rwlock_trywrlock(&fz->mmio.lock) == 0);
	pthread_rwlock_unlock(&fz->mmio.lock);
	check(pthread_rwlock_trywrlock(&fz->pio.lock) == 0);
	pthread_rwlock_unlock(&fz->pio.lock);
}

CHECKER static void ep_remap_checks(struct ep *e, unsigned idx, bool was_on, uint64_t old_addr, bool on,
			    uint64_t addr)
{
	const struct ep_bar_spec *s;
	uint64_t now;

	check(idx <= PCI_ROM_BAR);
	s = &ep_bars[e->id][idx];
	check(s->kind != PCI_BAR_UNUSED);
	check(was_on == e->bar[idx].on && (!was_on || old_addr == e->bar[idx].addr));
	check(on != was_on || addr != old_addr);
	if (on) {
		check(addr && addr % s->size == 0 && addr <= bar_reach(s->kind) - s->size);
		check(cfg_decode(e, idx, &now) && now == addr);
	}
}

static void ep_bar_remap(struct pci_device *dev, unsigned idx, bool was_on, uint64_t old_addr,
			 bool on, uint64_t addr)
{
	struct ep *e = ep_of(dev->opaque, dev);
	struct fz *fz = e->fz;
	struct ep_bar *b;
	int ret;

	check(!fz->in_remap); /* one call at a time */
	fz->in_remap = true;
	check_unlocked(fz);
	ep_remap_checks(e, idx, was_on, old_addr, on, addr);
	b = &e->bar[idx];
	if (b->mapped)
		check(bus_unregister(bar_bus(fz, ep_bars[e->id][idx].kind), b->addr) == 0);
	b->mapped = false;
	b->on = on;
	b->addr = on ? addr : 0;
	if (on) {
		/* Over another range (the guest's choice) it stays unmapped, as in the VMM. */
		ret = bus_register(bar_bus(fz, ep_bars[e->id][idx].kind), addr,
				   ep_bars[e->id][idx].size, &bar_ops, b);
		check(ret == 0 || ret == -EEXIST);
		b->mapped = ret == 0;
	}
	fz->in_remap = false;
}

/* Power-on config space, as after an FLR or the reset of the bus above. */
static void ep_init_cfg(struct ep *e)
{
	struct pci_config_header *h = pci_header(e->pci.cfg);
	struct pci_config_header *w = pci_header(e->pci.wmask);
	const struct ep_bar_spec *s = ep_bars[e->id];

	pci_set_ids(&e->pci, 0x1b36, (uint16_t)(0x00f0 + e->id), 0x00ff00,
		    PCI_HEADER_TYPE_NORMAL);
	h->subsystem_vendor_id = PCI_VMM_SUBSYS_VENDOR;
	h->subsystem_id = PCI_VMM_SUBSYS_ID;
	h->interrupt_pin = 1;
	w->command = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
		     PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE;
	w->interrupt_line = 0xff;
	w->cache_line_size = 0xff;
	w->latency_timer = 0xff;
	for (unsigned i = 0; i < 6; i++)
		if (s[i].kind != PCI_BAR_UNUSED &&
		    pci_device_add_bar(&e->pci, i, s[i].kind, s[i].size, s[i].prefetchable))
			abort();
	if (pci_device_add_rom(&e->pci, s[PCI_ROM_BAR].size))
		abort();
}

static void ep_reset(struct pci_device *dev)
{
	struct ep *e = ep_of(dev->opaque, dev);
	struct fz *fz = e->fz;
	struct pci_device *parent = dev->parent;
	struct pci_bar applied[7];

	check_unlocked(fz);
	e->resets++;
	pthread_mutex_lock(&fz->pci.lock);
	memcpy(applied, dev->bar, sizeof(applied));
	pci_device_init(dev, dev->ops, fz, dev->devfn);
	dev->parent = parent;
	ep_init_cfg(e);
	/* What was applied stays applied: the core brings it in line below. */
	for (unsigned i = 0; i <= PCI_ROM_BAR; i++) {
		dev->bar[i].applied_on = applied[i].applied_on;
		dev->bar[i].applied_addr = applied[i].applied_addr;
	}
	pthread_mutex_unlock(&fz->pci.lock);
	pci_bus_apply_bars(&fz->pci);
}

static const struct pci_device_ops ep_ops = {
	.name = "fuzz-ep",
	.bar_remap = ep_bar_remap,
	.reset = ep_reset,
};

static void ep_init(struct fz *fz, struct ep *e, unsigned id, uint8_t devfn)
{
	e->fz = fz;
	e->id = id;
	pci_device_init(&e->pci, &ep_ops, fz, devfn);
	ep_init_cfg(e);
	for (unsigned i = 0; i <= PCI_ROM_BAR; i++)
		e->bar[i] = (struct ep_bar){ .ep = e, .idx = i };
}

/* ---- what the VMM does between exits: deferred ECAM moves, BAR remaps, bus resets ---- */

static void ecam_apply(void *arg)
{
	struct fz *fz = arg;
	struct pci_ecam want = pci_ecam_window(&fz->pci);

	if (want.enabled == fz->ecam_mapped.enabled && want.base == fz->ecam_mapped.base &&
	    want.size == fz->ecam_mapped.size)
		return;
	if (fz->ecam_mapped.enabled)
		check(bus_unregister(&fz->mmio, fz->ecam_mapped.base) == 0);
	fz->ecam_mapped = (struct pci_ecam){ 0 };
	if (want.enabled && bus_register(&fz->mmio, want.base, want.size, &pci_ecam_ops,
					 &fz->pci) == 0)
		fz->ecam_mapped = want;
}

static void defer(struct fz *fz, void (*fn)(void *arg), void *arg)
{
	/* "nothing queues more than a few" */
	check(bus_defer(&fz->mmio, fn, arg) == 0);
}

static void ecam_changed(void *opaque)
{
	defer(opaque, ecam_apply, opaque);
}

static void apply_bars(void *arg)
{
	struct fz *fz = arg;

	pci_bus_apply_bars(&fz->pci);
}

static void bars_changed(void *opaque)
{
	defer(opaque, apply_bars, opaque);
}

static void reset_behind_rp0(void *arg)
{
	struct fz *fz = arg;

	check(pci_bus_reset_behind(&fz->pci, pcie_root_port_pci(fz->rp[0])) == 1);
}

static void reset_behind_rp1(void *arg)
{
	struct fz *fz = arg;

	check(pci_bus_reset_behind(&fz->pci, pcie_root_port_pci(fz->rp[1])) == 0);
}

/* Secondary Bus Reset: called under the PCI lock, so the reset is deferred. */
static void rp_bus_reset(struct fz *fz, unsigned i)
{
	check(pthread_mutex_trylock(&fz->pci.lock) == EBUSY);
	fz->rp_resets[i]++;
	defer(fz, i ? reset_behind_rp1 : reset_behind_rp0, fz);
}

static void rp0_bus_reset(void *opaque)
{
	rp_bus_reset(opaque, 0);
}

static void rp1_bus_reset(void *opaque)
{
	rp_bus_reset(opaque, 1);
}

/* Root port 2's hot-plug interrupt condition, from its config space. */
CHECKER static bool hp_condition(struct fz *fz)
{
	const uint8_t *cfg = pcie_root_port_pci(fz->rp[1])->cfg;
	uint16_t ctl = cfg16(cfg, 0x48 + PCI_EXP_SLTCTL), sta = cfg16(cfg, 0x48 + PCI_EXP_SLTSTA);

	return (ctl & PCI_EXP_SLTCTL_HPIE) &&
	       ((sta & ctl & (PCI_EXP_SLTSTA_ABP | PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_CC)) ||
		((sta & PCI_EXP_SLTSTA_DLLSC) && (ctl & PCI_EXP_SLTCTL_DLLSCE)));
}

CHECKER static bool hp_msi_enabled(struct fz *fz)
{
	return cfg16(pcie_root_port_pci(fz->rp[1])->cfg, 0x8c + PCI_MSI_FLAGS) & PCI_MSI_FLAGS_ENABLE;
}

static void hp_msi(void *opaque, uint64_t addr, uint32_t data)
{
	struct fz *fz = opaque;
	const uint8_t *cfg = pcie_root_port_pci(fz->rp[1])->cfg;

	check(pthread_mutex_trylock(&fz->pci.lock) == EBUSY);
	check(hp_msi_enabled(fz) && (cfg16(cfg, PCI_COMMAND) & PCI_COMMAND_MASTER));
	check(hp_condition(fz));
	check(addr == (cfg32(cfg, 0x8c + PCI_MSI_ADDRESS_LO) |
		       (uint64_t)cfg32(cfg, 0x8c + PCI_MSI_ADDRESS_HI) << 32));
	check(addr % 4 == 0 && data == cfg16(cfg, 0x8c + PCI_MSI_DATA_64));
}

static void hp_power(void *opaque, bool on)
{
	struct fz *fz = opaque;

	check(pthread_mutex_trylock(&fz->pci.lock) == EBUSY);
	check(on != fz->hp_powered && on == pcie_root_port_powered(fz->rp[1]));
	fz->hp_powered = on;
}

static void hp_set_level(void *opaque, unsigned gsi, int level)
{
	struct fz *fz = opaque;

	check(pthread_mutex_trylock(&fz->pci.lock) == EBUSY);
	check(gsi == 17 && level != fz->hp_level);
	fz->hp_level = level;
}

/* ---- the host's side ---- */

static uint64_t host_read(void *opaque, uint64_t offset, unsigned size)
{
	return 0;
}

static void host_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct fz *fz = opaque;
	unsigned speed, width;

	switch (offset) {
	case 0:
		fz->host_ep_resets[value & 1]++;
		ep_reset(&fz->ep[value & 1].pci);
		break;
	case 1:
		speed = value & 7;
		width = (value >> 3) & 0x3f;
		pthread_mutex_lock(&fz->pci.lock);
		pcie_root_port_set_link(fz->rp[0], speed, width);
		pthread_mutex_unlock(&fz->pci.lock);
		if (speed >= 1 && speed <= 6 && width >= 1 && width <= 32) {
			fz->link_speed = (uint8_t)speed;
			fz->link_width = (uint8_t)width;
		}
		break;
	case 2:
		pthread_mutex_lock(&fz->pci.lock);
		pcie_root_port_reset(fz->rp[value & 1]);
		fz->rp_bctl[value & 1] = 0;
		pthread_mutex_unlock(&fz->pci.lock);
		break;
	case 3:
	case 4:
	case 5:
		pthread_mutex_lock(&fz->pci.lock);
		if (offset == 3)
			pcie_root_port_hotplug_add(fz->rp[1]);
		else if (offset == 4)
			pcie_root_port_attention_button(fz->rp[1]);
		else
			pcie_root_port_hotplug_remove(fz->rp[1], value & 1);
		if (offset != 4)
			fz->rp_present[1] = offset == 3;
		pthread_mutex_unlock(&fz->pci.lock);
		break;
	}
}

static const struct bus_ops host_ops = { "host", host_read, host_write };

/* ---- the model of what a read returns ---- */

/* The function a config access to bus:devfn reaches, by the bridges' bus numbers. */
CHECKER static const struct pci_device *route(struct fz *fz, unsigned bus, unsigned devfn)
{
	if (bus == 0) {
		switch (devfn) {
		case PCI_DEVFN(0, 0): return &fz->host.mch;
		case PCI_DEVFN(1, 0): return pcie_root_port_pci(fz->rp[0]);
		case PCI_DEVFN(2, 0): return pcie_root_port_pci(fz->rp[1]);
		case PCI_DEVFN(3, 0): return &fz->ep[0].pci;
		default: return NULL;
		}
	}
	if (devfn == 0 && pcie_root_port_secondary_bus(fz->rp[0]) == bus)
		return &fz->ep[1].pci;
	return NULL;
}

CHECKER static uint64_t expect_cfg(struct fz *fz, unsigned bus, unsigned devfn, unsigned reg,
			   unsigned size)
{
	const struct pci_device *d = route(fz, bus, devfn);
	uint64_t v = 0;

	if (!d || (size != 1 && size != 2 && size != 4) || reg % size || reg + size > PCI_CFG_SIZE)
		return ones(size);
	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)d->cfg[reg + i] << (8 * i);
	return v;
}

CHECKER static uint64_t expect_conf_port(struct fz *fz, unsigned off, unsigned size)
{
	uint32_t a = fz->conf_addr;

	if (off >= 4) {
		if (!(a & 0x80000000u))
			return ones(size);
		return expect_cfg(fz, (a >> 16) & 0xff, (a >> 8) & 0xff,
				  ((a & 0xfc) | ((a >> 16) & 0xf00)) + off - 4, size);
	}
	if (off == 0 && size == 4)
		return a;
	if (off == 1 && size == 1)
		return fz->rcr;
	return ones(size);
}

/* Whether [addr, addr + size) is in [base, base + len): partly is a refused access. */
CHECKER static int inside(uint64_t addr, unsigned size, uint64_t base, uint64_t len)
{
	if (addr < base || addr - base >= len)
		return 0;
	return size <= len - (addr - base) ? 1 : -1;
}

CHECKER static bool expect_bar(struct fz *fz, bool pio, uint64_t addr, unsigned size, uint64_t *v)
{
	for (unsigned n = 0; n < NR_EP; n++) {
		for (unsigned i = 0; i <= PCI_ROM_BAR; i++) {
			const struct ep_bar *b = &fz->ep[n].bar[i];
			const struct ep_bar_spec *s = &ep_bars[n][i];
			int in;

			if (!b->mapped || (s->kind == PCI_BAR_IO) != pio)
				continue;
			in = inside(addr, size, b->addr, s->size);
			if (in) {
				*v = in > 0 ? bar_bytes(b, addr - b->addr, size) : ones(size);
				return true;
			}
		}
	}
	return false;
}

CHECKER static uint64_t expect_read(struct fz *fz, bool pio, uint64_t addr, unsigned size)
{
	struct pci_ecam *e = &fz->ecam_mapped;
	uint64_t v, off;
	int in;

	if (pio && (in = inside(addr, size, CF8, 8)))
		return in > 0 ? expect_conf_port(fz, (unsigned)(addr - CF8), size) : ones(size);
	if (!pio && e->enabled && (in = inside(addr, size, e->base, e->size))) {
		off = addr - e->base;
		if (in < 0 || size == 8)
			return ones(size);
		return expect_cfg(fz, (unsigned)(off >> 20), (unsigned)(off >> 12) & 0xff,
				  (unsigned)off & 0xfff, size);
	}
	if (expect_bar(fz, pio, addr, size, &v))
		return v;
	return ones(size);
}

/* ---- the checks after each access ---- */

CHECKER static void check_bar_registers(const struct ep *e)
{
	const uint8_t *cfg = e->pci.cfg;

	for (unsigned i = 0; i < 6; i++) {
		const struct ep_bar_spec *s = &ep_bars[e->id][i];
		uint32_t r = cfg32(cfg, PCI_BASE_ADDRESS_0 + 4 * i), type;

		if (s->kind == PCI_BAR_UNUSED) {
			/* the upper half of a 64-bit BAR takes any address bits above the size */
			check(r == 0 || (i > 0 && ep_bars[e->id][i - 1].kind == PCI_BAR_MEM64));
			continue;
		}
		if (s->kind == PCI_BAR_IO) {
			check((r & 3) == PCI_BASE_ADDRESS_SPACE_IO);
			check((r & ~3u & (uint32_t)(s->size - 1)) == 0 && r >> 16 == 0);
			continue;
		}
		type = s->kind == PCI_BAR_MEM64 ? PCI_BASE_ADDRESS_MEM_TYPE_64 : 0;
		if (s->prefetchable)
			type |= PCI_BASE_ADDRESS_MEM_PREFETCH;
		check((r & 15) == type && (r & ~15u & (uint32_t)(s->size - 1)) == 0);
		if (s->kind == PCI_BAR_MEM64 && s->size > (1ULL << 32))
			check((cfg32(cfg, PCI_BASE_ADDRESS_0 + 4 * i + 4) &
			       (uint32_t)((s->size - 1) >> 32)) == 0);
	}
	check((cfg32(cfg, PCI_ROM_ADDRESS) & ~(uint32_t)PCI_ROM_ADDRESS_ENABLE &
	       (uint32_t)(ep_bars[e->id][PCI_ROM_BAR].size - 1)) == 0);
}

/* What bar_remap reported is what config space decodes, and a mapped BAR answers. */
CHECKER static void check_ep(struct fz *fz, const struct ep *e)
{
	check_bar_registers(e);
	for (unsigned i = 0; i <= PCI_ROM_BAR; i++) {
		const struct ep_bar *b = &e->bar[i];
		const struct ep_bar_spec *s = &ep_bars[e->id][i];
		uint64_t addr, v = 0;
		bool on;

		if (s->kind == PCI_BAR_UNUSED)
			continue;
		on = cfg_decode(e, i, &addr);
		check(on == b->on && (!on || addr == b->addr));
		/* and so what the core applied: a second pci_bus_apply_bars() has nothing to do */
		check(e->pci.bar[i].applied_on == on && (!on || e->pci.bar[i].applied_addr == addr));
		if (b->mapped) {
			check(bus_read(bar_bus(fz, s->kind), b->addr + s->size - 1, &v, 1));
			check(v == bar_byte(b, s->size - 1));
		}
	}
}

CHECKER static void check_ecam(struct fz *fz)
{
	const uint8_t *cfg = fz->host.mch.cfg;
	uint64_t bar = cfg32(cfg, MCH_PCIEXBAR) | (uint64_t)cfg32(cfg, MCH_PCIEXBAR + 4) << 32;
	static const uint64_t sizes[4] = { 256ULL << 20, 128ULL << 20, 64ULL << 20, 0 };
	uint64_t size = sizes[(bar >> 1) & 3];
	struct pci_ecam now = fz->pci.ecam;

	check((bar & ~PCIEXBAR_MASK) == 0);
	check(now.enabled == ((bar & 1) && size));
	if (now.enabled)
		check(now.size == size && now.base == (bar & ~(size - 1) & ((1ULL << 36) - 1)));
	/* Mapped where PCIEXBAR says, unless the guest put it over a BAR. */
	if (fz->ecam_mapped.enabled)
		check(fz->ecam_mapped.base == now.base && fz->ecam_mapped.size == now.size &&
		      now.enabled);
}

CHECKER static void check_window(bool open, uint64_t base, uint64_t limit, uint64_t granule,
			 uint64_t max)
{
	check(base % granule == 0 && limit % granule == granule - 1 && limit <= max);
	check(open == (limit >= base));
}

CHECKER static void check_rp_caps(const uint8_t *cfg, bool hotplug)
{
	check(cfg16(cfg, PCI_VENDOR_ID) == PCIE_ROOT_PORT_VENDOR_ID &&
	      cfg16(cfg, PCI_DEVICE_ID) == PCIE_ROOT_PORT_DEVICE_ID);
	check((cfg32(cfg, PCI_CLASS_REVISION) >> 8) == 0x060400);
	check((cfg[PCI_HEADER_TYPE] & 0x7f) == PCI_HEADER_TYPE_BRIDGE);
	check(cfg16(cfg, PCI_STATUS) & PCI_STATUS_CAP_LIST);
	check(cfg[PCI_CAPABILITY_LIST] == 0x40 && cfg[0x40] == PCI_CAP_ID_PM && cfg[0x41] == 0x48);
	check(cfg[0x48] == PCI_CAP_ID_EXP && cfg[0x49] == 0x84);
	check((cfg32(cfg, 0x100) & 0xffff) == PCI_EXT_CAP_ID_ACS && cfg32(cfg, 0x100) >> 20 == 0);
	check(cfg16(cfg, 0x48 + PCI_EXP_FLAGS) ==
	      (2 | PCI_EXP_TYPE_ROOT_PORT << 4 | PCI_EXP_FLAGS_SLOT));
	check(cfg[0x84] == PCI_CAP_ID_SSVID && cfg[0x85] == (hotplug ? 0x8c : 0));
	if (!hotplug)
		return;
	check(cfg[0x8c] == PCI_CAP_ID_MSI && cfg[0x8d] == 0x9c);
	check((cfg16(cfg, 0x8c + PCI_MSI_FLAGS) & ~PCI_MSI_FLAGS_ENABLE) == PCI_MSI_FLAGS_64BIT);
	check(cfg[0x9c] == PCI_CAP_ID_VNDR && cfg[0x9d] == 0 && cfg[0x9e] == 32 && cfg[0x9f] == 1);
	check(cfg32(cfg, 0x9c + 4) == HP_RESV_BUS && cfg32(cfg, 0x9c + 8) == HP_RESV_IO &&
	      cfg32(cfg, 0x9c + 12) == 0 && cfg32(cfg, 0x9c + 16) == HP_RESV_MEM &&
	      cfg32(cfg, 0x9c + 20) == 0 && cfg32(cfg, 0x9c + 24) == (uint32_t)HP_RESV_PREF &&
	      cfg32(cfg, 0x9c + 28) == (uint32_t)(HP_RESV_PREF >> 32));
}

/* The slot of root port 2: registers, link, power and INTA as its state says. */
CHECKER static void check_hotplug_slot(struct fz *fz)
{
	const uint8_t *cfg = pcie_root_port_pci(fz->rp[1])->cfg;
	unsigned exp = 0x48;
	uint16_t sltctl = cfg16(cfg, exp + PCI_EXP_SLTCTL), sltsta = cfg16(cfg, exp + PCI_EXP_SLTSTA);
	uint16_t cmd = cfg16(cfg, PCI_COMMAND);
	bool powered = !(sltctl & PCI_EXP_SLTCTL_PCC), cond = hp_condition(fz);

	check((cfg32(cfg, exp + PCI_EXP_SLTCAP) & 0x7ffff) ==
	      (PCI_EXP_SLTCAP_ABP | PCI_EXP_SLTCAP_PCP | PCI_EXP_SLTCAP_AIP | PCI_EXP_SLTCAP_PIP |
	       PCI_EXP_SLTCAP_HPC));
	check((sltctl & ~HP_SLTCTL_WRITABLE) == 0 && (sltsta & ~HP_SLTSTA_BITS) == 0);
	check(powered == pcie_root_port_powered(fz->rp[1]) && powered == fz->hp_powered);
	check(!!(cfg16(cfg, exp + PCI_EXP_LNKSTA) & PCI_EXP_LNKSTA_DLLLA) ==
	      (fz->rp_present[1] && powered && !(cfg16(cfg, exp + PCI_EXP_LNKCTL) & PCI_EXP_LNKCTL_LD)));
	check(fz->hp_level == (cond && !hp_msi_enabled(fz) && !(cmd & PCI_COMMAND_INTX_DISABLE)));
	check(!!(cfg16(cfg, PCI_STATUS) & PCI_STATUS_INTERRUPT) == (cond && !hp_msi_enabled(fz)));
}

CHECKER static void check_rp(struct fz *fz, unsigned i)
{
	const struct pcie_root_port *rp = fz->rp[i];
	const uint8_t *cfg = pcie_root_port_pci(fz->rp[i])->cfg;
	unsigned exp = 0x48, pm = cfg16(cfg, 0x40 + PCI_PM_CTRL) & PCI_PM_CTRL_STATE_MASK;
	uint16_t lnkctl = cfg16(cfg, exp + PCI_EXP_LNKCTL), lnksta = cfg16(cfg, exp + PCI_EXP_LNKSTA);
	uint16_t bctl = cfg16(cfg, PCI_BRIDGE_CONTROL);
	uint64_t base, limit;

	check_rp_caps(cfg, i == 1);
	check(cfg32(cfg, exp + PCI_EXP_SLTCAP) >> 19 == i + 1 && cfg[exp + PCI_EXP_LNKCAP + 3] == i + 1);
	check(!!(cfg16(cfg, exp + PCI_EXP_SLTSTA) & PCI_EXP_SLTSTA_PDS) == fz->rp_present[i]);
	if (i == 1) {
		check_hotplug_slot(fz);
	} else {
		check(!(cfg32(cfg, exp + PCI_EXP_SLTCAP) & PCI_EXP_SLTCAP_HPC));
		check(cfg16(cfg, exp + PCI_EXP_SLTSTA) == PCI_EXP_SLTSTA_PDS);
		check(!!(lnksta & PCI_EXP_LNKSTA_DLLLA) ==
		      (fz->rp_present[i] && !(lnkctl & PCI_EXP_LNKCTL_LD)));
	}
	/* The link is wiring: what the host set, through any reset. */
	check((lnksta & PCI_EXP_LNKSTA_CLS) == (i ? 1 : fz->link_speed) &&
	      ((lnksta & PCI_EXP_LNKSTA_NLW) >> 4) == (i ? 1 : fz->link_width));
	check(pm == 0 || pm == 3);
	check((cfg[PCI_IO_BASE] & 0xf) == PCI_IO_RANGE_TYPE_16 &&
	      (cfg[PCI_IO_LIMIT] & 0xf) == PCI_IO_RANGE_TYPE_16);
	check(cfg32(cfg, PCI_IO_BASE_UPPER16) == 0);
	check((cfg16(cfg, PCI_PREF_MEMORY_BASE) & 0xf) == PCI_PREF_RANGE_TYPE_64 &&
	      (cfg16(cfg, PCI_PREF_MEMORY_LIMIT) & 0xf) == PCI_PREF_RANGE_TYPE_64);
	check((cfg16(cfg, PCI_MEMORY_BASE) & 0xf) == 0 && (cfg16(cfg, PCI_MEMORY_LIMIT) & 0xf) == 0);
	check((bctl & ~BCTL_WRITABLE) == 0);
	check(pcie_root_port_secondary_bus(rp) == cfg[PCI_SECONDARY_BUS] &&
	      pcie_root_port_subordinate_bus(rp) == cfg[PCI_SUBORDINATE_BUS]);
	check_window(pcie_root_port_io_window(rp, &base, &limit), base, limit, 0x1000, 0xffff);
	check_window(pcie_root_port_mem_window(rp, &base, &limit), base, limit, 1 << 20, 0xffffffff);
	check_window(pcie_root_port_pref_window(rp, &base, &limit), base, limit, 1 << 20, ~0ULL);
	check(limit == ((uint64_t)cfg32(cfg, PCI_PREF_LIMIT_UPPER32) << 32 |
			(uint64_t)(cfg16(cfg, PCI_PREF_MEMORY_LIMIT) & 0xfff0) << 16 | 0xfffff));
}

/* Secondary Bus Reset: once per assertion, and the endpoint behind port 1 reset with it. */
CHECKER static void check_bus_resets(struct fz *fz, const unsigned old_resets[2], unsigned old_ep1)
{
	for (unsigned i = 0; i < 2; i++) {
		uint16_t bctl = cfg16(pcie_root_port_pci(fz->rp[i])->cfg, PCI_BRIDGE_CONTROL);
		bool asserted = (bctl & ~fz->rp_bctl[i]) & PCI_BRIDGE_CTL_BUS_RESET;

		check(fz->rp_resets[i] == old_resets[i] + asserted);
		fz->rp_bctl[i] = bctl;
	}
	check(fz->ep[1].resets - fz->host_ep_resets[1] ==
	      old_ep1 + (fz->rp_resets[0] - old_resets[0]));
}

CHECKER static void model_write(struct fz *fz, bool pio, uint64_t addr, unsigned size, uint64_t value)
{
	if (!pio)
		return;
	if (addr == CF8 && size == 4)
		fz->conf_addr = (uint32_t)value & 0x8ffffffcu;
	else if (addr == CF8 + 1 && size == 1)
		fz->rcr = (uint8_t)value & 0x0a;
}

struct after_state {
	struct fz *fz;
	const struct fuzz_space *spaces;
	unsigned resets[2], ep1_resets;
};

CHECKER static void after(void *arg, const struct fuzz_access *a)
{
	struct after_state *st = arg;
	struct fz *fz = st->fz;
	const struct fuzz_space *s = &st->spaces[a->space];
	bool pio = s->bus == &fz->pio;

	current = a;
	if (s->bus && !a->write)
		check(a->value == expect_read(fz, pio, s->base + a->offset, a->size));
	if (s->bus && a->write)
		model_write(fz, pio, s->base + a->offset, a->size, a->value);
	check(fz->host.rcr == fz->rcr);
	for (unsigned i = 0; i < NR_EP; i++)
		check_ep(fz, &fz->ep[i]);
	check_ecam(fz);
	check_rp(fz, 0);
	check_rp(fz, 1);
	check_bus_resets(fz, st->resets, st->ep1_resets);
	memcpy(st->resets, fz->rp_resets, sizeof(st->resets));
	st->ep1_resets = fz->ep[1].resets - fz->host_ep_resets[1];
	current = NULL;
}

/* ---- the machine ---- */

static void fz_init(struct fz *fz)
{
	if (bus_init(&fz->pio, "pio") || bus_init(&fz->mmio, "mmio"))
		abort();
	bus_share_defer_queue(&fz->mmio, &fz->pio);
	pci_bus_init(&fz->pci);
	pci_set_ecam_hook(&fz->pci, ecam_changed, fz);
	pci_set_bars_hook(&fz->pci, bars_changed, fz);
	q35_host_init(&fz->host, &fz->pci, &fuzz_power);
	fz->rp[0] = pcie_root_port_new(PCI_DEVFN(1, 0), 1, false, rp0_bus_reset, fz);
	fz->rp[1] = pcie_root_port_new(PCI_DEVFN(2, 0), 2, false, rp1_bus_reset, fz);
	if (!fz->rp[0] || !fz->rp[1])
		abort();
	fz->rp_present[0] = true;
	fz->link_speed = fz->link_width = 1;
	pcie_root_port_set_present(fz->rp[0], true);
	pcie_root_port_set_hotplug(fz->rp[1], &(const struct pcie_root_port_hotplug){
		.msi = hp_msi, .power = hp_power, .opaque = fz,
		.intx = { .set_level = hp_set_level, .opaque = fz, .gsi = 17 },
		.bus_reserve = HP_RESV_BUS, .io_reserve = HP_RESV_IO,
		.mem_reserve = HP_RESV_MEM, .pref64_reserve = HP_RESV_PREF });
	fz->hp_powered = pcie_root_port_powered(fz->rp[1]);
	ep_init(fz, &fz->ep[0], 0, PCI_DEVFN(3, 0));
	ep_init(fz, &fz->ep[1], 1, PCI_DEVFN(0, 0));
	if (pci_bus_add(&fz->pci, &fz->host.mch) ||
	    pci_bus_add(&fz->pci, pcie_root_port_pci(fz->rp[0])) ||
	    pci_bus_add(&fz->pci, pcie_root_port_pci(fz->rp[1])) ||
	    pci_bus_add(&fz->pci, &fz->ep[0].pci) ||
	    pci_bus_add_behind(&fz->pci, pcie_root_port_pci(fz->rp[0]), &fz->ep[1].pci) ||
	    bus_register(&fz->pio, CF8, 8, &pci_conf_ops, &fz->pci))
		abort();
}

static void fz_free(struct fz *fz)
{
	pcie_root_port_free(fz->rp[0]);
	pcie_root_port_free(fz->rp[1]);
	bus_destroy(&fz->pio);
	bus_destroy(&fz->mmio);
	pthread_mutex_destroy(&fz->pci.lock);
	pthread_mutex_destroy(&fz->pci.apply_lock);
	free(fz);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz *fz;
	struct fuzz_io io;
	struct after_state st;

	if (!fuzz_io_begin(&io, data, size))
		return 0;
	fz = calloc(1, sizeof(*fz));
	if (!fz)
		abort();
	fz_init(fz);

	const struct fuzz_space spaces[] = {
		{ .name = "cf8", .bus = &fz->pio, .base = CF8, .len = 8 },
		{ .name = "ecam", .bus = &fz->mmio, .base = ECAM_SEED_BASE, .len = ECAM_MAX_SIZE },
		{ .name = "mmio", .bus = &fz->mmio, .base = 0, .len = 1ULL << 32 },
		{ .name = "mmio-high", .bus = &fz->mmio, .base = 1ULL << 32, .len = 1ULL << 32 },
		{ .name = "pio", .bus = &fz->pio, .base = 0, .len = 0x10000 },
		{ .name = "host", .ops = &host_ops, .opaque = fz, .len = 6 },
	};
	st = (struct after_state){ .fz = fz, .spaces = spaces };
	fuzz_io_run(&io, spaces, sizeof(spaces) / sizeof(spaces[0]), after, &st);

	fz_free(fz);
	fuzz_io_end(&io);
	return 0;
}
