/* SPDX-License-Identifier: MIT */
#ifndef CORE_LAYOUT_H
#define CORE_LAYOUT_H

/*
 * The guest-physical address map. Everything that places something in
 * guest memory takes its address from here, so the e820 map, the loader,
 * the ACPI tables and the memslots can never disagree.
 */

#define SZ_1K 0x400ULL
#define SZ_1M 0x100000ULL
#define SZ_1G 0x40000000ULL
#define SZ_4G 0x100000000ULL

/* Low memory (below 1 MiB) as the boot protocol and real-mode APs use it. */
#define LAYOUT_GDT          0x0500ULL   /* boot GDT */
#define LAYOUT_IDT          0x0520ULL   /* empty boot IDT */
#define LAYOUT_BOOT_STACK   0x7000ULL   /* boot vCPU's initial rsp: grows down, below the zero page */
#define LAYOUT_ZERO_PAGE    0x7000ULL   /* struct boot_params */
#define LAYOUT_PML4         0x9000ULL   /* boot page tables: PML4, PDPT, 4 PDs */
#define LAYOUT_PDPT         0xa000ULL
#define LAYOUT_PD           0xb000ULL   /* 4 pages: identity map of 0..4 GiB */
#define LAYOUT_CMDLINE      0x20000ULL
#define LAYOUT_CMDLINE_MAX  0x10000ULL
#define LAYOUT_EBDA         0x9fc00ULL  /* e820: reserved from here to 640 KiB */
#define LAYOUT_LOWMEM_TOP   0xa0000ULL
#define LAYOUT_ACPI         0xe0000ULL  /* ACPI tables and the RSDP, e820-reserved */
#define LAYOUT_ACPI_SIZE    0x20000ULL  /* up to 1 MiB */
#define LAYOUT_KERNEL       0x100000ULL /* protected-mode kernel */

/*
 * RAM below 4 GiB stops at LAYOUT_MMIO_HOLE; [hole, 4 GiB) is the 32-bit
 * MMIO window plus the fixed chipset ranges. RAM beyond that goes above
 * 4 GiB.
 */
#define LAYOUT_MMIO_HOLE    0x80000000ULL
#define LAYOUT_HIGHMEM      SZ_4G
/* The PCI 32-bit MMIO window the DSDT gives PCI0 (ECAM will sit below it). */
#define LAYOUT_PCI_MMIO32      0xc0000000ULL
#define LAYOUT_PCI_MMIO32_SIZE (LAYOUT_IOAPIC - LAYOUT_PCI_MMIO32)
#define LAYOUT_IOAPIC       0xfec00000ULL
#define LAYOUT_LAPIC        0xfee00000ULL

/* KVM's private pages (Intel needs them; harmless elsewhere): below the IOAPIC. */
#define LAYOUT_KVM_IDENTITY 0xfeffc000ULL
#define LAYOUT_KVM_TSS      0xfeffd000ULL

/* Fixed I/O ports. */
#define PORT_PM_BASE        0x600  /* ACPI PM1 event (4), PM1 control (2), PM timer (4) */
#define PORT_PM1_EVT        (PORT_PM_BASE + 0x0)
#define PORT_PM1_CNT        (PORT_PM_BASE + 0x4)
#define PORT_PM_TMR         (PORT_PM_BASE + 0x8)
#define PORT_PM_LEN         0x80
#define PORT_RESET_CF9      0xcf9
#define PORT_PCI_CONF_ADDR  0xcf8
#define PORT_PCI_CONF_DATA  0xcfc
#define PORT_COM1           0x3f8
#define PORT_RTC            0x70
#define PORT_I8042_DATA     0x60
#define PORT_I8042_CMD      0x64

/* Legacy ISA interrupt lines (GSIs through the in-kernel IOAPIC). */
#define IRQ_COM1            4
#define IRQ_RTC             8
#define IRQ_SCI             9

#endif
