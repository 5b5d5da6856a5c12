/* SPDX-License-Identifier: MIT */
#ifndef FIRMWARE_FIRMWARE_H
#define FIRMWARE_FIRMWARE_H

#include <stddef.h>
#include <stdint.h>

struct guest_mem;

/* ---- e820 ---- */

#define E820_RAM      1
#define E820_RESERVED 2
#define E820_ACPI     3

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));
_Static_assert(sizeof(struct e820_entry) == 20, "e820 entry is 20 bytes");

/*
 * The guest's memory map for a machine with mem's RAM regions: RAM below
 * the EBDA, the EBDA and BIOS area reserved, RAM from 1 MiB to the MMIO
 * hole, and the rest above 4 GiB. Sorted, non-overlapping.
 * Returns the number of entries, or -ENOSPC if max is too small.
 */
int e820_build(const struct guest_mem *mem, struct e820_entry *out, unsigned max);

/* ---- Linux direct boot (64-bit boot protocol) ---- */

struct boot_image {
	const uint8_t *kernel;   /* the whole bzImage file */
	size_t kernel_size;
	const uint8_t *initrd;   /* may be NULL */
	size_t initrd_size;
	const char *cmdline;     /* may be NULL */
	uint64_t rsdp;           /* guest address of the ACPI RSDP, 0 if none */
};

/* Initial state of the boot vCPU: 64-bit mode, paging on, identity map. */
struct boot_regs {
	uint64_t rip, rsi, rsp;
	uint64_t cr0, cr3, cr4, efer;
	uint64_t gdt_base;
	uint16_t gdt_limit;
	uint64_t idt_base;
	uint16_t idt_limit;
	uint16_t cs_selector, ds_selector; /* index into the boot GDT */
};

/*
 * Checks that image is a bzImage this loader can boot; 0 or -ENOEXEC.
 * On failure *why says what is wrong with it, for the user.
 */
int bzimage_check(const uint8_t *kernel, size_t size, const char **why);

/*
 * Loads the kernel, initrd and command line into guest memory, writes the
 * zero page (boot_params with the e820 map and the RSDP), the boot GDT and
 * the identity-mapping page tables, and fills *regs for the boot vCPU.
 * -ENOEXEC for a file that is not a bootable bzImage, -ENOSPC when the
 * kernel, initrd or command line does not fit; *why then says which.
 */
int linux_boot_load(struct guest_mem *mem, const struct boot_image *img, struct boot_regs *regs,
		    const char **why) __attribute__((warn_unused_result));

/* ---- ACPI ---- */

struct acpi_config {
	unsigned ncpus;          /* LAPIC IDs 0..ncpus-1 */
	uint16_t pm_base;        /* PM1a event block; control at +4, timer at +8 */
	uint8_t sci_irq;
	uint16_t reset_port;     /* FADT reset register (0xCF9), value 0x06 */
	uint16_t com1_port;      /* described in the DSDT; 0 to leave out */
	uint8_t com1_irq;
	uint64_t pci_mmio32_base, pci_mmio32_size; /* PCI0 _CRS windows */
	uint64_t pci_mmio64_base, pci_mmio64_size; /* size 0: none */
};

/*
 * Writes RSDP, XSDT, FADT, FACS, DSDT and MADT into [gpa, gpa + size) of
 * guest memory, with valid checksums. Returns the RSDP's guest address in
 * *rsdp. -ENOSPC if the tables do not fit.
 */
int acpi_build(struct guest_mem *mem, uint64_t gpa, uint64_t size, const struct acpi_config *cfg,
	       uint64_t *rsdp) __attribute__((warn_unused_result));

#endif
