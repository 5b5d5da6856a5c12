/* SPDX-License-Identifier: MIT */
#ifndef FIRMWARE_FIRMWARE_H
#define FIRMWARE_FIRMWARE_H

#include <stdbool.h>
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
 *
 *   [0, LAYOUT_EBDA)                  RAM
 *   [LAYOUT_EBDA, LAYOUT_LOWMEM_TOP)  reserved (EBDA)
 *   [LAYOUT_LOWMEM_TOP, LAYOUT_ACPI)  not listed: VGA and option-ROM hole
 *   [LAYOUT_ACPI, 1 MiB)              reserved (BIOS area, ACPI tables)
 *   [1 MiB, end of the region at 0)   RAM
 *   each other region                 RAM
 *
 * Returns the number of entries, -ENOSPC if max is too small, -EINVAL if
 * mem has no region at 0 reaching 1 MiB or has overlapping regions.
 */
int e820_build(const struct guest_mem *mem, struct e820_entry *out, unsigned max);

/* ---- Linux direct boot (64-bit boot protocol) ---- */

/* The kernel's first bytes a loader needs in memory: the boot sector and setup header. */
#define BOOT_HEADER_BYTES 4096

enum boot_part { BOOT_KERNEL, BOOT_INITRD };

/*
 * The files to boot. Only the kernel's header sits in memory; the bulk of
 * the kernel and the initrd come through read(), straight into guest RAM,
 * so the VMM never holds a second copy of them (it would count against
 * its own memory for the whole run).
 */
struct boot_image {
	const uint8_t *kernel;   /* the first min(kernel_size, BOOT_HEADER_BYTES) bytes */
	size_t kernel_size;      /* of the whole bzImage file */
	size_t initrd_size;      /* 0: no initrd */
	/* Copies len bytes at offset off of the kernel or initrd to dst; 0 or -errno. */
	int (*read)(void *ctx, enum boot_part part, uint64_t off, void *dst, size_t len);
	void *ctx;
	const char *cmdline;     /* may be NULL */
	uint64_t rsdp;           /* guest address of the ACPI RSDP, 0 if none */
};

/* A read() over whole files already in memory (tests, small tools): ctx is a struct boot_buffers. */
struct boot_buffers {
	const uint8_t *kernel;
	const uint8_t *initrd;
};
int boot_buffers_read(void *ctx, enum boot_part part, uint64_t off, void *dst, size_t len);

/*
 * Initial state of the boot vCPU: 64-bit mode, paging on, identity map of
 * the first 4 GiB, interrupts off. What the vCPU code does with it:
 *
 *   rip, rsi, rsp   KVM_SET_REGS; rsi points at the zero page. Every other
 *                   general register 0; rflags 0x2 (IF clear, as the boot
 *                   protocol requires).
 *   cr0, cr3, cr4,  KVM_SET_SREGS as they are (cr0 = PE|ET|NE|PG,
 *   efer            cr4 = PAE, efer = LME|LMA, cr3 = the PML4).
 *   gdt_*, idt_*    sregs.gdt/idt base and limit. The GDT in guest memory
 *                   holds the descriptors below; the IDT is empty (limit 0).
 *   cs_selector     sregs.cs: selector BOOT_CS, base 0, limit 0xffffffff,
 *                   type 0xb (execute/read, accessed), s 1, dpl 0,
 *                   present 1, l 1, db 0, g 1 -- BOOT_GDT_CODE64 decoded.
 *   ds_selector     sregs.ds, es, fs, gs, ss: selector BOOT_DS, base 0,
 *                   limit 0xffffffff, type 0x3 (read/write, accessed), s 1,
 *                   dpl 0, present 1, l 0, db 1, g 1 -- BOOT_GDT_DATA.
 *   (tr, ldt)       not the loader's: a busy 64-bit TSS (type 0xb) and an
 *                   unusable LDT, as KVM wants them for long mode.
 *
 * The cached segment state must equal the GDT's descriptors, since the
 * kernel reloads segment registers from the GDT.
 */
struct boot_regs {
	uint64_t rip, rsi, rsp;
	uint64_t cr0, cr3, cr4, efer;
	uint64_t gdt_base;
	uint16_t gdt_limit;
	uint64_t idt_base;
	uint16_t idt_limit;
	uint16_t cs_selector, ds_selector; /* byte offsets into the boot GDT */
};

/* The boot GDT at LAYOUT_GDT: null, null, code, data (boot protocol's __BOOT_CS/DS). */
#define BOOT_CS          0x10
#define BOOT_DS          0x18
#define BOOT_GDT_CODE64  0x00af9b000000ffffULL /* 64-bit code, DPL 0, G */
#define BOOT_GDT_DATA    0x00cf93000000ffffULL /* flat 4 GiB data, DPL 0, G, D/B */
#define BOOT_GDT_LIMIT   (4 * 8 - 1)

/*
 * Checks that image is a bzImage this loader can boot: "HdrS", boot
 * protocol 2.06 or later, loaded high, XLF_KERNEL_64 (so in practice 2.12
 * or later), not truncated. 0 or -ENOEXEC.
 * On failure *why says what is wrong with it, for the user: a static string
 * or one formatted into a per-thread buffer that the next call reuses.
 */
int bzimage_check(const uint8_t *kernel, size_t size, const char **why);

/*
 * Loads the kernel, initrd and command line into guest memory, writes the
 * zero page (boot_params with the e820 map and the RSDP), the boot GDT and
 * the identity-mapping page tables, and fills *regs for the boot vCPU.
 *
 * The protected-mode kernel goes to LAYOUT_KERNEL; the RAM it then uses
 * (it moves itself to max(pref_address, LAYOUT_KERNEL rounded up to
 * kernel_alignment) + init_size) must lie in the region at address 0. The
 * initrd goes as high as it can below that region's end and initrd_addr_max,
 * above the kernel. The command line may be as long as the kernel's
 * cmdline_size. img->rsdp goes into the zero page for protocol 2.14+;
 * older kernels find the RSDP by scanning LAYOUT_ACPI's area.
 *
 * -ENOEXEC for a file that is not a bootable bzImage, -ENOSPC when the
 * kernel, initrd or command line does not fit; *why then says which (see
 * bzimage_check). Nothing is written to guest memory unless all of it fits.
 */
int linux_boot_load(struct guest_mem *mem, const struct boot_image *img, struct boot_regs *regs,
		    const char **why) __attribute__((warn_unused_result));
/*
 * linux_boot_load()'s checks alone, writing nothing: mem needs only its
 * regions (guest_mem_layout()), so a kernel, initrd or command line that
 * will not fit is refused before any guest RAM exists. img->read is not called.
 */
int linux_boot_check(const struct guest_mem *mem, const struct boot_image *img, const char **why)
	__attribute__((warn_unused_result));

/* ---- ACPI ---- */

/* xAPIC IDs are 8 bits and 0xff is the broadcast ID. */
#define ACPI_MAX_CPUS 255

struct acpi_config {
	unsigned ncpus;          /* LAPIC IDs 0..ncpus-1, 1..ACPI_MAX_CPUS */
	uint16_t pm_base;        /* PM1a event block; control at +4, timer at +8 */
	uint8_t sci_irq;
	uint16_t reset_port;     /* FADT reset register (0xCF9), value 0x06 */
	uint16_t com1_port;      /* described in the DSDT; 0 to leave out */
	uint8_t com1_irq;
	uint64_t pci_mmio32_base, pci_mmio32_size; /* PCI0 _CRS windows */
	uint64_t pci_mmio64_base, pci_mmio64_size; /* size 0: none */
	/*
	 * The Q35 platform (firmware boots): ECAM for buses 0..ecam_end_bus
	 * at ecam_base (0: none) gets an MCFG table and a motherboard
	 * resource (PNP0C02) that reserves it, and pci_prt adds PCI0._PRT:
	 * INTA..INTD of every slot on bus 0 straight to IOAPIC GSIs
	 * ACPI_PRT_GSI_BASE + (slot + pin) % 8, level, active low.
	 */
	uint64_t ecam_base;
	uint8_t ecam_end_bus;
	bool pci_prt;
};

#define ACPI_PRT_GSI_BASE 16
/* The GSI that PCI0._PRT gives INTx pin (0 = INTA) of bus-0 slot. */
static inline unsigned acpi_prt_gsi(unsigned slot, unsigned pin)
{
	return ACPI_PRT_GSI_BASE + (slot + pin) % 8;
}

/*
 * Writes RSDP, XSDT, FADT, FACS, DSDT and MADT into [gpa, gpa + size) of
 * guest memory, with valid checksums; the rest of the area is zeroed. The
 * RSDP comes first, so gpa must be 16-byte aligned (for the RSDP scan);
 * returns its guest address in *rsdp.
 *
 * With ecam_base, the XSDT also lists an MCFG.
 * The DSDT has \_S5, and under \_SB: one ACPI0007 processor device per
 * CPU (C000, C001, ...; _UID = index), PCI0 (PNP0A03) with the 32-bit and
 * optional 64-bit MMIO windows, COM1 (when com1_port != 0) and the RTC
 * (PORT_RTC, IRQ_RTC). The FADT has a fixed-hardware power button, no
 * sleep button, no i8042, no VGA.
 *
 * Interrupts, as the MADT tells the guest (IOAPIC ID 0 at LAYOUT_IOAPIC,
 * GSI base 0): ISA IRQ 0 arrives on GSI 2, as on a PC, and the SCI is
 * level-triggered active-high on GSI sci_irq; every other ISA IRQ n is
 * GSI n, edge, active-high. KVM's default routing sends GSI 0 (the
 * in-kernel PIT) to IOAPIC pin 0, so the VMM must install its own with
 * KVM_SET_GSI_ROUTING: GSI 0 -> PIC master pin 0 and IOAPIC pin 2, GSI 2
 * to neither, other GSIs n < 16 -> PIC pin n and IOAPIC pin n, n < 24 ->
 * IOAPIC pin n. Otherwise Linux logs "MP-BIOS bug: 8254 timer not
 * connected to IO-APIC" and falls back to the PIC for its timer.
 *
 * -ENOSPC if the tables do not fit in size bytes, -EINVAL for a config
 * outside the limits above (sci_irq must be an ISA IRQ other than 0 and 2,
 * the 32-bit window non-empty and below 4 GiB), -EFAULT if the area is not
 * guest RAM, -ENOMEM.
 */
int acpi_build(struct guest_mem *mem, uint64_t gpa, uint64_t size, const struct acpi_config *cfg,
	       uint64_t *rsdp) __attribute__((warn_unused_result));


/*
 * Where acpi_build_blob() put things, for the fw_cfg table loader. Offsets
 * are into the blob; each pointer is a 64-bit little-endian field that holds
 * the offset (into the same blob) of the thing it points at. Pointers are
 * listed in the order the tables were built: a table's own pointers before
 * any pointer to it from the XSDT or RSDP.
 */
#define ACPI_LAYOUT_MAX_TABLES   16
#define ACPI_LAYOUT_MAX_POINTERS 32

struct acpi_table_extent {
	char signature[4];
	uint32_t offset, length;
	int has_checksum; /* a standard header with its checksum at +9 (all but the FACS) */
};

struct acpi_layout {
	uint32_t rsdp; /* offset of the 36-byte RSDP */
	struct acpi_table_extent table[ACPI_LAYOUT_MAX_TABLES];
	unsigned nr_tables;
	uint32_t pointer[ACPI_LAYOUT_MAX_POINTERS];
	unsigned nr_pointers;
	int overflow; /* more than the arrays hold: acpi_build_blob() fails with -ENOSPC */
};

/*
 * The same tables as acpi_build(), for firmware that places them itself
 * (OVMF, through fw_cfg): built into a malloc'ed host buffer as if at guest
 * address 0, so every pointer holds an offset into the blob. The RSDP
 * comes first. *blob is the caller's to free. 0, -EINVAL, -ENOSPC (also
 * when the layout arrays are too small for the tables) or -ENOMEM.
 */
int acpi_build_blob(const struct acpi_config *cfg, uint8_t **blob, size_t *len,
		    struct acpi_layout *layout) __attribute__((warn_unused_result));

/* ---- OVMF's fw_cfg files: the ACPI table loader, e820, the 64-bit PCI window ---- */

#define ACPI_LOADER_FILE        "etc/table-loader"
#define ACPI_LOADER_TABLES_FILE "etc/acpi/tables"
#define ACPI_LOADER_RSDP_FILE   "etc/acpi/rsdp"
#define OVMF_E820_FILE          "etc/e820"
#define OVMF_MMIO64_FILE        "opt/ovmf/X-PciMmio64Mb"

/*
 * The table loader's script (QEMU's bios-linker-loader, as OVMF's
 * AcpiPlatformDxe runs it): fixed 128-byte little-endian commands.
 *
 *   ALLOCATE       u32 type 1, file[56], u32 alignment, u8 zone
 *   ADD_POINTER    u32 type 2, pointer file[56], pointee file[56],
 *                  u32 offset, u8 size: add the pointee's address to the
 *                  size-byte field at offset in the pointer file
 *   ADD_CHECKSUM   u32 type 3, file[56], u32 result offset, u32 start,
 *                  u32 length: store the byte that makes [start, start +
 *                  length) sum to 0 (the result byte must be 0 beforehand)
 *   WRITE_POINTER  u32 type 4, pointer file[56], pointee file[56],
 *                  u32 offset, u32 pointee offset, u8 size: write the
 *                  pointee's address + pointee offset into the (writable)
 *                  fw_cfg file, through DMA
 *
 * The rest of each command is zero. Every command function returns 0,
 * -EINVAL (a file name empty or of ACPI_LOADER_NAME_MAX bytes or more, a
 * size not 1, 2, 4 or 8, an alignment not a power of two) or -ENOMEM.
 */
#define ACPI_LOADER_CMD_SIZE 128
#define ACPI_LOADER_NAME_MAX 56

enum acpi_loader_type {
	ACPI_LOADER_ALLOCATE = 1,
	ACPI_LOADER_ADD_POINTER = 2,
	ACPI_LOADER_ADD_CHECKSUM = 3,
	ACPI_LOADER_WRITE_POINTER = 4,
};

enum acpi_loader_zone {
	ACPI_LOADER_ZONE_HIGH = 1, /* anywhere (OVMF: below 4 GiB for narrow pointers) */
	ACPI_LOADER_ZONE_FSEG = 2, /* the BIOS F segment, where a BIOS RSDP scan looks */
};

struct acpi_loader {
	uint8_t *buf;
	size_t len, cap;
};

int acpi_loader_allocate(struct acpi_loader *l, const char *file, uint32_t align,
			 enum acpi_loader_zone zone) __attribute__((warn_unused_result));
int acpi_loader_add_pointer(struct acpi_loader *l, const char *pointer_file,
			    const char *pointee_file, uint32_t offset, uint8_t size)
	__attribute__((warn_unused_result));
int acpi_loader_add_checksum(struct acpi_loader *l, const char *file, uint32_t result,
			     uint32_t start, uint32_t length) __attribute__((warn_unused_result));
int acpi_loader_write_pointer(struct acpi_loader *l, const char *pointer_file,
			      const char *pointee_file, uint32_t offset, uint32_t pointee_offset,
			      uint8_t size) __attribute__((warn_unused_result));
void acpi_loader_free(struct acpi_loader *l);

/* The three files OVMF needs for its ACPI tables; each buffer is malloc'ed. */
struct acpi_fw_cfg_files {
	uint8_t *tables, *rsdp, *loader;
	size_t tables_len, rsdp_len, loader_len;
};

/*
 * Splits an acpi_build_blob() result into etc/acpi/rsdp (the RSDP) and
 * etc/acpi/tables (everything from the first 64-byte boundary after it),
 * with every pointer rewritten as an offset into etc/acpi/tables and every
 * checksum byte zeroed, and writes the script that puts them back
 * together: allocate both (the tables 64-byte aligned, the RSDP in the F
 * segment), add the tables' address to each pointer, then recompute each
 * table's checksum and the RSDP's two. -EINVAL when the layout does not fit
 * the blob or a pointer points outside the tables, -ENOMEM.
 */
int acpi_fw_cfg_files_split(const uint8_t *blob, size_t len, const struct acpi_layout *layout,
			    struct acpi_fw_cfg_files *out) __attribute__((warn_unused_result));
/* acpi_build_blob() then acpi_fw_cfg_files_split(). */
int acpi_fw_cfg_files_build(const struct acpi_config *cfg, struct acpi_fw_cfg_files *out)
	__attribute__((warn_unused_result));
void acpi_fw_cfg_files_free(struct acpi_fw_cfg_files *f);

/*
 * etc/e820 as OVMF reads it: the e820_build() map as packed 20-byte
 * entries (little-endian u64 address, u64 length, u32 type), less the
 * reserved entries below 1 MiB (the EBDA and BIOS area: OVMF lays out the
 * first MiB itself). Writes at most cap bytes to out; returns the bytes
 * written, or e820_build()'s error (-ENOSPC when cap is too small).
 */
int ovmf_e820_file(const struct guest_mem *mem, uint8_t *out, size_t cap);

/*
 * opt/ovmf/X-PciMmio64Mb: the size of the 64-bit PCI MMIO window OVMF
 * should give PCI0, as a decimal number of MiB without a NUL (as QEMU's
 * -fw_cfg string= passes it). Bytes are rounded up to whole MiB. Returns
 * the string's length, or -ENOSPC when it does not fit cap bytes (with its
 * NUL, which out also gets).
 */
int ovmf_mmio64_file(uint64_t bytes, char *out, size_t cap);

/*
 * The VARS template that comes with an OVMF CODE image: the same path with
 * "CODE" in the file name replaced by "VARS" (OVMF_CODE_4M.fd ->
 * OVMF_VARS_4M.fd). Writes it to out; returns its file name inside out,
 * or NULL when the name has no CODE or out is too small.
 */
const char *ovmf_vars_template(const char *code, char *out, size_t len);

/*
 * "bootorder": the boot devices in order, as QEMU gives them to firmware,
 * one OpenFirmware path a line and a NUL at the end. A virtio-blk function
 * at bus-0 slot s is "/pci@i0cf8/scsi@s/disk@0,0" (s in hex), which OVMF
 * maps to PciRoot(0x0)/Pci(s,0x0) and moves to the front of BootOrder.
 * Returns the length with the NUL, or -ENOSPC.
 */
#define OVMF_BOOTORDER_FILE "bootorder"
int ovmf_bootorder_file(const uint8_t *disk_slots, unsigned n, char *out, size_t cap);

/* What OVMF reads of the CPU to size the guest's physical address space. */
struct ovmf_cpu {
	unsigned phys_bits;  /* CPUID 0x80000008 EAX[7:0]; 0 when the leaf is missing */
	char vendor[13];     /* CPUID 0x80000000 EBX, EDX, ECX ("" when zeros) */
	bool page_1g;        /* CPUID 0x80000001 EDX[26] */
};

/*
 * Where OVMF (edk2-stable202211, PlatformAddressWidthInitialization) puts
 * the 64-bit PCI window, so that the DSDT can say the same: from ram_top
 * (the end of RAM, at least 4 GiB) and size (X-PciMmio64Mb), both rounded
 * up to 1 GiB, the base is aligned to the largest power of two not above
 * the size. When OVMF trusts the CPU's address width (41 bits or more;
 * 36 or 39 on "GenuineIntel"; 40 on "AuthenticAMD"), capped at 47 bits
 * (40 without 1 GiB pages), a window smaller than an eighth of that
 * space is replaced by that eighth, at its top. Also returns the address
 * width OVMF then assumes, in *phys_bits (the CPU's, or what the window
 * needs when OVMF does not trust the CPU). Returns 0, or -ERANGE, setting
 * nothing, when the window would not end below 2^64 (a size over 2^63
 * does not, nor does 2^63 itself), so that *base + *out_size never wraps.
 */
int ovmf_mmio64_window(uint64_t ram_top, uint64_t size, const struct ovmf_cpu *cpu,
		       uint64_t *base, uint64_t *out_size, unsigned *phys_bits)
	__attribute__((warn_unused_result));

/*
 * A 64-bit memory BAR that OVMF places in the 64-bit PCI window: one on
 * bus 0 (port -1), or a prefetchable one behind root port `port` (a
 * bridge's non-prefetchable window is 32-bit, so OVMF moves those below
 * 4 GiB). size is a power of two.
 */
struct ovmf_bar64 {
	int port;
	uint64_t size;
};

#define OVMF_MAX_PORTS 32

/*
 * How much of the 64-bit window OVMF's PCI bus driver takes for these
 * BARs, from a start aligned to *align (their largest alignment), as it
 * lays them out: behind each root port, the BARs largest first, the sum
 * rounded up to 1 MiB, aligned to the port's largest BAR (so a port with
 * a 128 GiB BAR and two small ones spans a little over 128 GiB but the
 * next such port starts 256 GiB further on); then the ports' windows and
 * bus 0's BARs, again largest alignment first, rounded up to 1 MiB.
 * Ports outside 0..OVMF_MAX_PORTS-1 count as bus 0.
 */
uint64_t ovmf_mmio64_need(const struct ovmf_bar64 *bars, unsigned n, uint64_t *align);

#endif
