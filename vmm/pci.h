/* SPDX-License-Identifier: MIT */
#ifndef VMM_PCI_H
#define VMM_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"

struct power_ctl;

/*
 * The PCI core: config space for every function on bus 0 and the
 * configuration mechanism #1 ports (0xCF8 address, 0xCFC..0xCFF data).
 * The byte-wide reset control register at 0xCF9 sits inside the 0xCF8
 * dword, so it lives here too: a 1-byte access at 0xCF9 is the reset
 * register, a 4-byte access at 0xCF8 the address register.
 * Register pci_conf_ops on the PIO bus at 0xCF8 with length 8.
 *
 * Devices plug in with a config space and optional hooks; later issues
 * add BARs, capabilities, ECAM and VFIO devices on the same hooks.
 */

#define PCI_CFG_SIZE 4096

struct pci_device;

struct pci_device_ops {
	const char *name;
	/* Both optional: by default reads come from cfg, writes go to the
	 * bytes of cfg that wmask allows. */
	uint32_t (*cfg_read)(struct pci_device *dev, unsigned offset, unsigned size);
	void (*cfg_write)(struct pci_device *dev, unsigned offset, unsigned size, uint32_t value);
};

struct pci_device {
	const struct pci_device_ops *ops;
	void *opaque;
	uint8_t devfn;           /* slot << 3 | function */
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE]; /* guest-writable bits */
};

struct pci_bus {
	struct pci_device *dev[256]; /* by devfn, bus 0 only for now */
	uint32_t conf_addr;          /* last value written to 0xCF8 */
	const struct power_ctl *power;
	uint8_t rcr;                 /* reset control register value */
};

extern const struct bus_ops pci_conf_ops;

void pci_bus_init(struct pci_bus *pci, const struct power_ctl *power);
/* -EEXIST if devfn is taken. */
int pci_bus_add(struct pci_bus *pci, struct pci_device *dev) __attribute__((warn_unused_result));

/* Config accesses for bus 0 (the mechanism-#1 and, later, ECAM paths). */
uint32_t pci_cfg_read(struct pci_bus *pci, uint8_t devfn, unsigned offset, unsigned size);
void pci_cfg_write(struct pci_bus *pci, uint8_t devfn, unsigned offset, unsigned size,
		   uint32_t value);

/* Header helpers for device models. */
void pci_set_ids(struct pci_device *dev, uint16_t vendor, uint16_t device, uint32_t class_code,
		 uint8_t header_type);

/* The Q35 host bridge (MCH) at 00:00.0: 8086:29c0, class 0600. */
void pci_host_bridge_init(struct pci_device *dev);

#endif
