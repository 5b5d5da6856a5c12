/* SPDX-License-Identifier: MIT */
#ifndef CORE_PCI_H
#define CORE_PCI_H

#include <linux/pci.h> /* PCI_* register offsets and bits, PCI_DEVFN */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "log.h" /* struct log_ratelimit */


/*
 * The PCI core: config space for every function, on bus 0 and behind
 * its root ports, and the configuration mechanism #1 ports (0xCF8 address, 0xCFC..0xCFF data).
 * The byte-wide reset control register at 0xCF9 sits inside the 0xCF8
 * dword, so it lives here too: a 1-byte access at 0xCF9 is the reset
 * register, a 4-byte access at 0xCF8 the address register.
 * Register pci_conf_ops on the PIO bus at 0xCF8 with length 8.
 *
 * Devices plug in with a config space and optional hooks (config read
 * and write, BAR remap): emulated devices and passed-through VFIO ones
 * alike. ECAM reaches the same config spaces (pci_ecam_ops below).
 */

#define PCI_CFG_SIZE 4096

/* The subsystem ids of the devices this VMM models itself. */
#define PCI_VMM_SUBSYS_VENDOR 0x1af4 /* Red Hat, Inc., the usual virtual-PC subsystem */
#define PCI_VMM_SUBSYS_ID     0x1100

/* The Q35 host bridge (Intel 82Q35/G33 MCH) ids. */
#define PCI_VENDOR_INTEL      0x8086
#define PCI_DEVICE_Q35_MCH    0x29c0
#define PCI_CLASS_HOST_BRIDGE 0x060000 /* base class, subclass, prog-if */

/* The common part of a type 0 (endpoint) header, as the guest sees it. */
struct pci_config_header {
	uint16_t vendor_id;
	uint16_t device_id;
	uint16_t command;
	uint16_t status;
	uint8_t revision;
	uint8_t class_prog;  /* class code, bits 7:0 */
	uint8_t class_sub;   /* class code, bits 15:8 */
	uint8_t class_base;  /* class code, bits 23:16 */
	uint8_t cache_line_size;
	uint8_t latency_timer;
	uint8_t header_type;
	uint8_t bist;
	uint32_t bar[6];
	uint32_t cardbus_cis;
	uint16_t subsystem_vendor_id;
	uint16_t subsystem_id;
	uint32_t rom_address;
	uint8_t capabilities;
	uint8_t reserved[7];
	uint8_t interrupt_line;
	uint8_t interrupt_pin;
	uint8_t min_gnt;
	uint8_t max_lat;
} __attribute__((packed));

_Static_assert(sizeof(struct pci_config_header) == 64, "type 0 header is 64 bytes");
_Static_assert(offsetof(struct pci_config_header, command) == PCI_COMMAND, "command");
_Static_assert(offsetof(struct pci_config_header, revision) == PCI_REVISION_ID, "revision");
_Static_assert(offsetof(struct pci_config_header, class_prog) == PCI_CLASS_PROG, "class");
_Static_assert(offsetof(struct pci_config_header, class_sub) == PCI_CLASS_DEVICE, "class");
_Static_assert(offsetof(struct pci_config_header, header_type) == PCI_HEADER_TYPE, "hdr type");
_Static_assert(offsetof(struct pci_config_header, bar) == PCI_BASE_ADDRESS_0, "BAR 0");
_Static_assert(offsetof(struct pci_config_header, subsystem_vendor_id) ==
	       PCI_SUBSYSTEM_VENDOR_ID, "subsystem vendor");
_Static_assert(offsetof(struct pci_config_header, capabilities) == PCI_CAPABILITY_LIST, "caps");
_Static_assert(offsetof(struct pci_config_header, interrupt_line) == PCI_INTERRUPT_LINE, "irq");
/* Config space is little-endian and the header is overlaid on it. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "little-endian host");

struct pci_device;

/* A BAR as the device model declares it (pci_device_add_bar()). */
enum pci_bar_kind {
	PCI_BAR_UNUSED = 0,
	PCI_BAR_IO,
	PCI_BAR_MEM32,
	PCI_BAR_MEM64, /* takes this BAR register and the next */
	PCI_BAR_ROM,   /* the expansion ROM (PCI_ROM_ADDRESS), always bar[PCI_ROM_BAR] */
};

/* The expansion ROM's index in pci_device.bar and in ops->bar_remap, after BAR0-5. */
#define PCI_ROM_BAR 6

struct pci_bar {
	enum pci_bar_kind kind;
	bool prefetchable;
	uint64_t size; /* a power of two */
	/*
	 * What the device last mapped: pci_bus_apply_bars() brings it in
	 * line with what config space decodes now (the command register's
	 * enables and the BAR registers), outside every lock.
	 */
	bool applied_on;
	uint64_t applied_addr;
};

struct pci_device_ops {
	const char *name;
	/*
	 * Both optional: by default reads come from cfg, writes go to the
	 * bytes of cfg that wmask allows. The core only calls them with
	 * size 1, 2 or 4, naturally aligned and inside PCI_CFG_SIZE, and
	 * with pci_bus.lock held: a hook must not call back into pci_cfg_*.
	 */
	uint32_t (*cfg_read)(struct pci_device *dev, unsigned offset, unsigned size);
	void (*cfg_write)(struct pci_device *dev, unsigned offset, unsigned size, uint32_t value);
	/*
	 * BAR bar (0-5, or PCI_ROM_BAR) started or stopped decoding, or
	 * moved (on: whether it decodes now, at addr). Called by pci_bus_apply_bars() with no PCI
	 * or bus lock held, one call at a time per bus: the place to
	 * register, move or remove bus ranges, memslots and ioeventfds.
	 */
	void (*bar_remap)(struct pci_device *dev, unsigned bar, bool was_on, uint64_t old_addr,
			  bool on, uint64_t addr);
	/*
	 * The bridge above the function asserted Secondary Bus Reset
	 * (pci_bus_reset_behind()): reset it as the wire would. Called with
	 * no PCI or bus lock held, outside any config access, so that it may
	 * take long (a host reset); it takes pci_device_lock() to touch cfg.
	 * The BARs are applied after it (pci_bus_apply_bars()). Optional.
	 */
	void (*reset)(struct pci_device *dev);
};

struct pci_device {
	const struct pci_device_ops *ops;
	void *opaque;
	uint8_t devfn;           /* slot << 3 | function */
	struct pci_device *parent; /* the bridge it sits behind; NULL on bus 0 */
	struct pci_bus *bus;       /* the bus it was added to (its lock guards cfg); NULL before */
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE]; /* guest-writable bits */
	struct pci_bar bar[7]; /* BAR0-5, then the ROM (PCI_ROM_BAR) */
	struct log_ratelimit warn_rl; /* the guest's bad config accesses to this function */
};

/* The MCH's PCIEXBAR (Q35/ICH9 datasheets): where the ECAM window sits. */
#define MCH_PCIEXBAR         0x60 /* 64-bit: low dword at 0x60, high at 0x64 */
#define MCH_PCIEXBAR_EN      0x1
#define MCH_PCIEXBAR_LENGTH  0x6  /* bits 2:1: 00 256 MiB, 01 128 MiB, 10 64 MiB */
#define MCH_PAM0             0x90 /* PAM0..PAM6: 0x90..0x96 */
#define MCH_SMRAM            0x9d
#define MCH_ESMRAMC          0x9e

struct pci_ecam {
	bool enabled;
	uint64_t base, size; /* size: 1 MiB per bus decoded */
};

#define PCI_MAX_BEHIND 64

struct pci_bus {
	struct pci_device *dev[256]; /* bus 0, by devfn */
	/*
	 * Functions behind bridges on bus 0 (the root ports): each reached
	 * at the bus number its parent's secondary bus register holds, as
	 * firmware and the guest number them.
	 */
	struct pci_device *behind[PCI_MAX_BEHIND];
	unsigned nr_behind;
	uint32_t conf_addr;          /* last value written to 0xCF8 */
	/*
	 * 0xCF9, a byte inside the 0xCF8 window that is no PCI register (the
	 * chipset's reset control): handed to whoever set it, with no lock
	 * held; unset, it reads 0xff and ignores writes. Set once, at setup.
	 */
	struct {
		uint8_t (*read)(void *opaque);
		void (*write)(void *opaque, uint8_t value);
		void *opaque;
	} cf9;
	struct pci_ecam ecam;        /* as PCIEXBAR last set it */
	/*
	 * Called with lock held each time the guest changes the ECAM
	 * window: it may only record or queue work (bus_defer()), which
	 * then reads the window with pci_ecam_window().
	 */
	void (*ecam_changed)(void *opaque);
	void *ecam_opaque;
	/* Likewise when a BAR's decoding changes: queue pci_bus_apply_bars(). */
	void (*bars_changed)(void *opaque);
	void *bars_opaque;
	pthread_mutex_t apply_lock; /* one pci_bus_apply_bars() at a time */
	/*
	 * pci_bus_reset_behind() calls in progress (counted under lock, ended
	 * without it): pci_bus_remove_behind() waits for none to be left, as
	 * they hold functions they collected.
	 */
	atomic_uint resetting;
	/*
	 * vCPU threads reach config space at the same time (0xCF8/0xCFC
	 * from one, ECAM from another later): this serialises the address
	 * latch and every device's cfg.
	 */
	pthread_mutex_t lock;
};

extern const struct bus_ops pci_conf_ops;
/*
 * ECAM (enhanced configuration access, "MMCONFIG"): register it on the
 * MMIO bus where pci_ecam_window() says, with that length. Offset bits
 * 27:20 are the bus, 19:12 the devfn, 11:0 the register; a bus no bridge
 * leads to reads all ones. 1-, 2- and 4-byte accesses as
 * through 0xCFC; 8-byte ones read all ones and write nothing, as the
 * MCH answers them.
 */
extern const struct bus_ops pci_ecam_ops;

void pci_bus_init(struct pci_bus *pci);
void pci_set_cf9_hook(struct pci_bus *pci, uint8_t (*read)(void *opaque),
		      void (*write)(void *opaque, uint8_t value), void *opaque);
/* -EEXIST if devfn is taken, -EINVAL for a NULL device. */
int pci_bus_add(struct pci_bus *pci, struct pci_device *dev) __attribute__((warn_unused_result));
/*
 * dev behind bridge (a type-1 function already on bus 0): on the
 * bridge's secondary bus, at dev->devfn, whose device number must be 0
 * (a PCIe link leads to one device; its functions are 0..7). -EINVAL
 * for anything else, -EEXIST if taken, -ENOSPC past PCI_MAX_BEHIND.
 */
int pci_bus_add_behind(struct pci_bus *pci, struct pci_device *bridge, struct pci_device *dev)
	__attribute__((warn_unused_result));

/*
 * Takes dev, which pci_bus_add_behind() put behind a bridge, off the bus:
 * no config access reaches it after this returns, and no
 * pci_bus_apply_bars() or pci_bus_reset_behind() is running or will
 * call its bar_remap or reset. What its
 * BARs mapped stays for its owner to undo (it knows what is on). -ENOENT
 * if dev is not behind a bridge.
 */
int pci_bus_remove_behind(struct pci_bus *pci, struct pci_device *dev);

/*
 * For an op called with no lock held (reset): the lock that guards dev's
 * cfg, its bus's. dev must be on a bus.
 */
void pci_device_lock(struct pci_device *dev);
void pci_device_unlock(struct pci_device *dev);

/*
 * Resets every function behind bridge (its ops->reset), as a secondary
 * bus reset of that bridge does: the bridge model asks for it under the
 * PCI lock, so it runs later from deferred work (bus_defer()), with no
 * lock held. Returns how many functions sit behind bridge.
 */
unsigned pci_bus_reset_behind(struct pci_bus *pci, struct pci_device *bridge);

/*
 * Config accesses, as the mechanism-#1 and ECAM paths make them.
 * An absent function reads all ones; a misaligned, straddling or
 * out-of-range access reads all ones and writes nothing. The _bus forms
 * reach any bus; the others bus 0.
 */
uint32_t pci_cfg_read(struct pci_bus *pci, uint8_t devfn, unsigned offset, unsigned size);
void pci_cfg_write(struct pci_bus *pci, uint8_t devfn, unsigned offset, unsigned size,
		   uint32_t value);
uint32_t pci_cfg_read_bus(struct pci_bus *pci, uint8_t bus, uint8_t devfn, unsigned offset,
			  unsigned size);
void pci_cfg_write_bus(struct pci_bus *pci, uint8_t bus, uint8_t devfn, unsigned offset,
		       unsigned size, uint32_t value);

/*
 * What a device without hooks gets; hooks call these for the registers
 * they do not virtualise themselves. Bounds-checked like pci_cfg_read.
 */
uint32_t pci_default_cfg_read(const struct pci_device *dev, unsigned offset, unsigned size);
void pci_default_cfg_write(struct pci_device *dev, unsigned offset, unsigned size,
			   uint32_t value);

/* The header overlaid on dev->cfg (values) or dev->wmask (writable bits). */
static inline struct pci_config_header *pci_header(uint8_t *space)
{
	return (struct pci_config_header *)space;
}

/* Zeroes cfg and wmask (all read-only) and sets who the device is. */
void pci_device_init(struct pci_device *dev, const struct pci_device_ops *ops, void *opaque,
		     uint8_t devfn);

/* Header helpers for device models; the fields they set stay read-only. */
void pci_set_ids(struct pci_device *dev, uint16_t vendor, uint16_t device, uint32_t class_code,
		 uint8_t header_type);


void pci_set_ecam_hook(struct pci_bus *pci, void (*changed)(void *opaque), void *opaque);
void pci_set_bars_hook(struct pci_bus *pci, void (*changed)(void *opaque), void *opaque);

/*
 * Declares BAR idx (0..5; a 64-bit BAR also takes idx + 1): the type bits
 * read-only in cfg, the address bits above the size guest-writable, so
 * the guest sizes it the usual way (write all ones, read back). size is a
 * power of two: at least 16 bytes for memory (4 KiB is what a BAR that
 * may be mapped into a guest page wants), 4 for I/O, at most 256 for I/O
 * and 2 GiB for a 32-bit memory BAR. -EINVAL otherwise, or when the
 * registers are taken.
 */
int pci_device_add_bar(struct pci_device *dev, unsigned idx, enum pci_bar_kind kind,
		       uint64_t size, bool prefetchable) __attribute__((warn_unused_result));
/*
 * Declares the expansion ROM of a type 0 function: size a power of two
 * from 2 KiB to 16 MiB (bits 31:11 of the register). The address bits
 * above the size and the enable bit become guest-writable; it decodes,
 * read-only memory below 4 GiB, while the enable bit and the command
 * register's memory decode are both on (PCI 3.0, 6.2.5.2), and reaches
 * the device as ops->bar_remap(dev, PCI_ROM_BAR, ...) like any BAR.
 * -EINVAL for another size, a bridge's header, or a second ROM.
 */
int pci_device_add_rom(struct pci_device *dev, uint64_t size) __attribute__((warn_unused_result));
/* Sets a BAR's address as firmware would (the VMM's own BAR assignment). */
void pci_device_set_bar_addr(struct pci_device *dev, unsigned idx, uint64_t addr);
/*
 * Calls ops->bar_remap for every BAR whose decoding differs from what was
 * last applied. Runs with no lock held (a bus_defer() callback, or the
 * VMM before the vCPUs start).
 */
void pci_bus_apply_bars(struct pci_bus *pci);
/* The ECAM window as the guest last programmed it. */
struct pci_ecam pci_ecam_window(struct pci_bus *pci);

#endif
