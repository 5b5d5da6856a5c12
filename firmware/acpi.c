// SPDX-License-Identifier: MIT
/*
 * The ACPI tables a direct-booted Linux needs on a PC without a BIOS:
 * RSDP -> XSDT -> {FADT -> {FACS, DSDT}, MADT}. Built in a host buffer
 * (tables point at each other by guest address, and checksums cover the
 * final bytes), then copied into guest memory in one piece.
 */
#include "firmware.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "acpi_tables.h"
#include "aml.h"
#include "devices/devices.h"
#include "core/layout.h"
#include "core/memory.h"

#define ACPI_OEM_ID      "VMMVMM"
#define ACPI_OEM_TABLE   "VMM"    /* + the table's signature, e.g. "VMMFACP " */
#define ACPI_CREATOR_ID  "VMM "
#define ACPI_OEM_REV     1

#define FADT_REVISION    6        /* ACPI 6.0: the 276-byte layout */
#define FADT_MINOR       0
#define MADT_REVISION    4        /* ACPI 6.0 */
#define DSDT_REVISION    2        /* 64-bit AML integers */
#define FACS_VERSION     2

/*
 * KVM's in-kernel IOAPIC resets its ID register to 0, so that is what the
 * MADT says; 64-bit Linux does not require IOAPIC IDs to differ from
 * LAPIC IDs.
 */
#define IOAPIC_ID        0

/* Host-side image of [gpa, gpa + limit): tables are placed by offset. */
struct acpi_buf {
	uint8_t *buf;
	size_t len, cap, limit;
	uint64_t gpa;
	struct acpi_layout *layout; /* NULL unless built for the fw_cfg table loader */
};

/* Notes where a table went, for acpi_build_blob()'s callers. */
static void layout_table(struct acpi_buf *b, size_t off, const char *sig, int has_checksum)
{
	struct acpi_layout *l = b->layout;
	const uint8_t *t = b->buf + off;

	if (!l)
		return;
	if (l->nr_tables == ACPI_LAYOUT_MAX_TABLES) {
		l->overflow = 1;
		return;
	}
	memcpy(l->table[l->nr_tables].signature, sig, 4);
	l->table[l->nr_tables].offset = (uint32_t)off;
	l->table[l->nr_tables].length = (uint32_t)t[4] | (uint32_t)t[5] << 8 |
					(uint32_t)t[6] << 16 | (uint32_t)t[7] << 24;
	l->table[l->nr_tables].has_checksum = has_checksum;
	l->nr_tables++;
}

/* A 64-bit field at off that holds the address of another table. */
static void layout_pointer(struct acpi_buf *b, size_t off)
{
	struct acpi_layout *l = b->layout;

	if (!l)
		return;
	if (l->nr_pointers == ACPI_LAYOUT_MAX_POINTERS)
		l->overflow = 1;
	else
		l->pointer[l->nr_pointers++] = (uint32_t)off;
}

static int abuf_grow(struct acpi_buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 4096;
	uint8_t *p;

	while (cap < need)
		cap *= 2;
	p = realloc(b->buf, cap);
	if (!p)
		return -ENOMEM;
	memset(p + b->cap, 0, cap - b->cap);
	b->buf = p;
	b->cap = cap;
	return 0;
}

/* Reserves n zeroed bytes aligned to align (a power of two); *off is where. */
static int abuf_alloc(struct acpi_buf *b, size_t n, size_t align, size_t *off)
{
	size_t start = (b->len + align - 1) & ~(align - 1);
	int ret;

	if (start > b->limit || n > b->limit - start)
		return -ENOSPC;
	if (start + n > b->cap) {
		ret = abuf_grow(b, start + n);
		if (ret)
			return ret;
	}
	b->len = start + n;
	*off = start;
	return 0;
}

static uint8_t acpi_checksum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (n--)
		sum = (uint8_t)(sum + *b++);
	return (uint8_t)-sum;
}

static void acpi_header_init(struct acpi_header *h, const char *sig, size_t len, uint8_t rev)
{
	memcpy(h->signature, sig, 4);
	h->length = (uint32_t)len;
	h->revision = rev;
	memcpy(h->oem_id, ACPI_OEM_ID, 6);
	memcpy(h->oem_table_id, ACPI_OEM_TABLE, 3);
	memcpy(h->oem_table_id + 3, sig, 4);
	h->oem_table_id[7] = ' ';
	h->oem_revision = ACPI_OEM_REV;
	memcpy(h->creator_id, ACPI_CREATOR_ID, 4);
	h->creator_revision = ACPI_OEM_REV;
}

/* Call last, when every byte of the table is final. */
static void acpi_header_checksum(struct acpi_header *h)
{
	h->checksum = 0;
	h->checksum = acpi_checksum(h, h->length);
}

/* ---- DSDT ---- */

static void dsdt_s5(struct aml *a)
{
	size_t pkg;

	/* SLP_TYPa, SLP_TYPb, then two reserved: what OSPM writes to PM1 control for S5. */
	aml_name(a, "_S5");
	pkg = aml_package_begin(a, 4);
	aml_integer(a, ACPI_S5_SLP_TYP);
	aml_integer(a, ACPI_S5_SLP_TYP);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_end(a, pkg);
}

/*
 * The host bridge's windows. 0xCF8-0xCFF is the bridge's own config
 * mechanism (a consumer range); everything else in I/O space is forwarded.
 */
static void dsdt_pci0_crs(struct aml *a, const struct acpi_config *cfg)
{
	size_t rt;

	aml_name(a, "_CRS");
	rt = aml_restemplate_begin(a);
	aml_res_word_bus(a, 0x00, 0xff);
	aml_res_io(a, PORT_PCI_CONF_ADDR, 8);
	aml_res_word_io(a, 0x0000, PORT_PCI_CONF_ADDR - 1);
	aml_res_word_io(a, PORT_PCI_CONF_ADDR + 8, 0xffff);
	aml_res_dword_mem(a, (uint32_t)cfg->pci_mmio32_base,
			  (uint32_t)(cfg->pci_mmio32_base + cfg->pci_mmio32_size - 1), false);
	if (cfg->pci_mmio64_size)
		aml_res_qword_mem(a, cfg->pci_mmio64_base,
				  cfg->pci_mmio64_base + cfg->pci_mmio64_size - 1, true);
	aml_restemplate_end(a, rt);
}

/* Package { Package { 0xSSSSFFFF, pin, 0, GSI }, ... } for slots 0..31. */
static void dsdt_pci0_prt(struct aml *a)
{
	size_t all, one;

	aml_name(a, "_PRT");
	all = aml_package_begin(a, 32 * 4);
	for (unsigned slot = 0; slot < 32; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			one = aml_package_begin(a, 4);
			aml_integer(a, (uint64_t)slot << 16 | 0xffff);
			aml_integer(a, pin);
			aml_integer(a, 0);
			aml_integer(a, acpi_prt_gsi(slot, pin));
			aml_end(a, one);
		}
	}
	aml_end(a, all);
}

/* _OSC's first DWORD, as the firmware returns it (ACPI 6.x, 6.2.11). */
#define OSC_UNKNOWN_UUID     0x04
#define OSC_UNKNOWN_REVISION 0x08
#define OSC_PCI_HOST_BRIDGE  "33DB4D5B-1FF7-401C-9657-7441C03DD766"

/* Or (CDW1, bits, CDW1) */
static void dsdt_or_cdw1(struct aml *a, uint32_t bits)
{
	aml_or(a);
	aml_namestring(a, "CDW1");
	aml_integer(a, bits);
	aml_namestring(a, "CDW1");
}

/*
 * A PCIe host bridge's _OSC (PCI Firmware spec, 4.5): Linux drives native
 * PCIe hot-plug, PME, AER and the PCIe capability only where the firmware
 * grants it here, so without it pciehp never binds the root ports. Every
 * control asked for is granted, since nothing on this machine handles any
 * of them firmware-first: Arg3 goes back as it came. Another UUID or
 * revision is flagged in the first DWORD, as the spec has it.
 *
 *   Method (_OSC, 4, Serialized) {
 *     CreateDWordField (Arg3, 0, CDW1)
 *     If (LEqual (Arg0, ToUUID (OSC_PCI_HOST_BRIDGE))) {
 *       If (LEqual (Arg1, One)) { Return (Arg3) }
 *       Or (CDW1, OSC_UNKNOWN_REVISION, CDW1)
 *     } Else {
 *       Or (CDW1, OSC_UNKNOWN_UUID, CDW1)
 *     }
 *     Return (Arg3)
 *   }
 *
 * Serialized: CreateDWordField makes a named object, which two threads
 * running the method at once would both try to create.
 */
static void dsdt_pci0_osc(struct aml *a)
{
	size_t m = aml_method_begin(a, "_OSC", 4, true), uuid_if, rev_if, other;

	aml_create_dword_field(a, 3, 0, "CDW1");
	uuid_if = aml_if_begin(a);
	aml_lequal(a);
	aml_arg(a, 0);
	aml_uuid(a, OSC_PCI_HOST_BRIDGE);
	rev_if = aml_if_begin(a);
	aml_lequal(a);
	aml_arg(a, 1);
	aml_integer(a, 1);
	aml_return(a);
	aml_arg(a, 3);
	aml_end(a, rev_if);
	dsdt_or_cdw1(a, OSC_UNKNOWN_REVISION);
	aml_end(a, uuid_if);
	other = aml_else_begin(a);
	dsdt_or_cdw1(a, OSC_UNKNOWN_UUID);
	aml_end(a, other);
	aml_return(a);
	aml_arg(a, 3);
	aml_end(a, m);
}

static void dsdt_pci0(struct aml *a, const struct acpi_config *cfg)
{
	size_t dev = aml_device_begin(a, "PCI0");

	/* PCI Express root bridge, compatible with a PCI one. */
	aml_name_eisaid(a, "_HID", cfg->ecam_base ? "PNP0A08" : "PNP0A03");
	if (cfg->ecam_base)
		aml_name_eisaid(a, "_CID", "PNP0A03");
	aml_name_integer(a, "_ADR", 0);
	aml_name_integer(a, "_UID", 0);
	aml_name_integer(a, "_BBN", 0);
	dsdt_pci0_crs(a, cfg);
	if (cfg->ecam_base)
		dsdt_pci0_osc(a);
	if (cfg->pci_prt)
		dsdt_pci0_prt(a);
	aml_end(a, dev);
}

/* The ECAM window as a motherboard resource, where Linux checks MMCONFIG is reserved. */
static void dsdt_ecam_resource(struct aml *a, const struct acpi_config *cfg)
{
	uint64_t size = ((uint64_t)cfg->ecam_end_bus + 1) << 20;
	size_t dev = aml_device_begin(a, "MCFG");
	size_t rt;

	aml_name_eisaid(a, "_HID", "PNP0C02");
	aml_name_integer(a, "_UID", 0x4d434647); /* "MCFG" */
	aml_name(a, "_CRS");
	rt = aml_restemplate_begin(a);
	aml_res_qword_mem(a, cfg->ecam_base, cfg->ecam_base + size - 1, false);
	aml_restemplate_end(a, rt);
	aml_end(a, dev);
}

static void dsdt_isa_device(struct aml *a, const char *name, const char *hid, uint64_t uid,
			    uint16_t port, uint8_t len, uint8_t irq)
{
	size_t dev = aml_device_begin(a, name);
	size_t rt;

	aml_name_eisaid(a, "_HID", hid);
	aml_name_integer(a, "_UID", uid);
	aml_name(a, "_CRS");
	rt = aml_restemplate_begin(a);
	aml_res_io(a, port, len);
	aml_res_irq_noflags(a, irq);
	aml_restemplate_end(a, rt);
	aml_end(a, dev);
}

/* Processor devices, matched to the MADT's entries by _UID = ACPI processor id. */
static void dsdt_cpus(struct aml *a, unsigned ncpus)
{
	static const char hex[] = "0123456789ABCDEF";
	char name[5] = "C000";
	size_t dev;

	for (unsigned i = 0; i < ncpus; i++) {
		name[1] = hex[(i >> 8) & 0xf];
		name[2] = hex[(i >> 4) & 0xf];
		name[3] = hex[i & 0xf];
		dev = aml_device_begin(a, name);
		aml_name_string(a, "_HID", "ACPI0007");
		aml_name_integer(a, "_UID", i);
		aml_end(a, dev);
	}
}

static void dsdt_body(struct aml *a, const struct acpi_config *cfg)
{
	size_t sb;

	dsdt_s5(a);
	sb = aml_scope_begin(a, "\\_SB");
	dsdt_cpus(a, cfg->ncpus);
	dsdt_pci0(a, cfg);
	if (cfg->ecam_base)
		dsdt_ecam_resource(a, cfg);
	if (cfg->com1_port)
		dsdt_isa_device(a, "COM1", "PNP0501", 1, cfg->com1_port, 8, cfg->com1_irq);
	dsdt_isa_device(a, "RTC", "PNP0B00", 0, PORT_RTC, 2, IRQ_RTC);
	aml_end(a, sb);
}

static int build_dsdt(struct acpi_buf *b, const struct acpi_config *cfg, uint64_t *gpa)
{
	struct acpi_header *h;
	struct aml a;
	size_t off;
	int ret;

	aml_init(&a);
	dsdt_body(&a, cfg);
	ret = aml_error(&a);
	if (ret)
		goto out;
	ret = abuf_alloc(b, sizeof(*h) + a.len, 8, &off);
	if (ret)
		goto out;
	h = (struct acpi_header *)(b->buf + off);
	acpi_header_init(h, "DSDT", sizeof(*h) + a.len, DSDT_REVISION);
	memcpy(h + 1, a.buf, a.len);
	acpi_header_checksum(h);
	*gpa = b->gpa + off;
	layout_table(b, off, "DSDT", 1);
out:
	aml_free(&a);
	return ret;
}

/* ---- FACS, FADT ---- */

static int build_facs(struct acpi_buf *b, uint64_t *gpa)
{
	struct acpi_facs *facs;
	size_t off;
	int ret;

	/* The spec wants the FACS 64-byte aligned. */
	ret = abuf_alloc(b, sizeof(*facs), 64, &off);
	if (ret)
		return ret;
	facs = (struct acpi_facs *)(b->buf + off);
	memcpy(facs->signature, "FACS", 4);
	facs->length = sizeof(*facs);
	facs->version = FACS_VERSION;
	*gpa = b->gpa + off;
	layout_table(b, off, "FACS", 0);
	return 0;
}

static struct acpi_gas gas_io(uint16_t port, uint8_t bytes, uint8_t access)
{
	return (struct acpi_gas){
		.space_id = ACPI_GAS_SYSTEM_IO,
		.bit_width = (uint8_t)(8 * bytes),
		.access_size = access,
		.address = port,
	};
}

/*
 * The fixed hardware lives at pm_base: PM1a event (status + enable, 2+2
 * bytes), PM1a control (2) at +4, the 24-bit PM timer (4) at +8. Each block
 * is given both as the legacy port field and as the X_ GAS, with equal
 * addresses and lengths, so ACPICA has no mismatch to warn about.
 */
static void fadt_pm_blocks(struct acpi_fadt *f, uint16_t base)
{
	f->pm1a_evt_blk = base;
	f->pm1_evt_len = 4;
	f->x_pm1a_evt_blk = gas_io(base, 4, ACPI_GAS_WORD);
	f->pm1a_cnt_blk = base + 4u;
	f->pm1_cnt_len = 2;
	f->x_pm1a_cnt_blk = gas_io((uint16_t)(base + 4), 2, ACPI_GAS_WORD);
	f->pm_tmr_blk = base + 8u;
	f->pm_tmr_len = 4;
	f->x_pm_tmr_blk = gas_io((uint16_t)(base + 8), 4, ACPI_GAS_DWORD);
}

/*
 * Flags: WBINVD works and C1 (hlt) is there, as on any x86. The power
 * button is fixed hardware (PWR_BUTTON clear: devices/acpi_pm.c raises
 * PWRBTN_STS, so the VMM can ask the guest to shut down); there is no sleep
 * button and no RTC wake status, so Linux does not enable those events.
 * The timer is 24-bit, so TMR_VAL_EXT stays clear. Reset through RESET_REG.
 *
 * Boot flags: the legacy ISA devices (COM1, RTC) are there; no i8042 (so
 * Linux does not probe for a PS/2 controller) and no VGA.
 */
static void fadt_fill(struct acpi_fadt *f, const struct acpi_config *cfg, uint64_t facs,
		      uint64_t dsdt)
{
	acpi_header_init(&f->header, "FACP", sizeof(*f), FADT_REVISION);
	f->minor_version = FADT_MINOR;
	/*
	 * Only the 64-bit pointers: with both set, Linux installs the FACS
	 * twice, and the spec has OSPM ignore the 32-bit one anyway.
	 */
	f->x_firmware_ctrl = facs;
	f->x_dsdt = dsdt;
	f->sci_int = cfg->sci_irq;
	f->smi_cmd = 0; /* no SMM: the machine is always in ACPI mode */
	fadt_pm_blocks(f, cfg->pm_base);
	f->p_lvl2_lat = 101;  /* > 100: no C2 */
	f->p_lvl3_lat = 1001; /* > 1000: no C3 */
	f->flags = FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON | FADT_F_FIX_RTC |
		   FADT_F_RESET_REG_SUP;
	f->iapc_boot_arch = FADT_BOOT_LEGACY_DEVICES | FADT_BOOT_NO_VGA;
	f->reset_reg = gas_io(cfg->reset_port, 1, ACPI_GAS_BYTE);
	f->reset_value = 0x06; /* full reset (bit 2) with system reset (bit 1) */
	acpi_header_checksum(&f->header);
}

static int build_fadt(struct acpi_buf *b, const struct acpi_config *cfg, uint64_t facs,
		      uint64_t dsdt, uint64_t *gpa)
{
	size_t off;
	int ret;

	ret = abuf_alloc(b, sizeof(struct acpi_fadt), 8, &off);
	if (ret)
		return ret;
	fadt_fill((struct acpi_fadt *)(b->buf + off), cfg, facs, dsdt);
	*gpa = b->gpa + off;
	layout_pointer(b, off + offsetof(struct acpi_fadt, x_firmware_ctrl));
	layout_pointer(b, off + offsetof(struct acpi_fadt, x_dsdt));
	layout_table(b, off, "FACP", 1);
	return 0;
}

/* ---- MADT ---- */

static size_t madt_size(unsigned ncpus)
{
	return sizeof(struct acpi_madt) + ncpus * sizeof(struct madt_lapic) +
	       sizeof(struct madt_ioapic) + 2 * sizeof(struct madt_iso) +
	       sizeof(struct madt_lapic_nmi);
}

static uint8_t *madt_iso(uint8_t *p, uint8_t irq, uint32_t gsi, uint16_t flags)
{
	struct madt_iso iso = {
		.type = MADT_ISO, .length = sizeof(iso), .bus = 0,
		.source = irq, .gsi = gsi, .flags = flags,
	};

	memcpy(p, &iso, sizeof(iso));
	return p + sizeof(iso);
}

/*
 * One enabled LAPIC per vCPU (ACPI id = APIC id = index), the IOAPIC with
 * GSIs from 0, and the two overrides a PC has: the PIT's IRQ 0 arrives on
 * GSI 2, and the SCI is level-triggered active-high (KVM's IOAPIC takes
 * the line level as the VMM sets it) rather than the ACPI default,
 * active-low.
 */
static void madt_fill(uint8_t *t, const struct acpi_config *cfg)
{
	struct acpi_madt *m = (struct acpi_madt *)t;
	struct madt_ioapic io = {
		.type = MADT_IOAPIC, .length = sizeof(io), .ioapic_id = IOAPIC_ID,
		.address = (uint32_t)LAYOUT_IOAPIC, .gsi_base = 0,
	};
	struct madt_lapic_nmi nmi = {
		.type = MADT_LAPIC_NMI, .length = sizeof(nmi), .acpi_id = 0xff,
		.flags = MPS_EDGE | MPS_ACTIVE_HIGH, .lint = 1,
	};
	uint8_t *p = t + sizeof(*m);

	acpi_header_init(&m->header, "APIC", madt_size(cfg->ncpus), MADT_REVISION);
	m->lapic_address = (uint32_t)LAYOUT_LAPIC;
	m->flags = MADT_PCAT_COMPAT;
	for (unsigned i = 0; i < cfg->ncpus; i++) {
		struct madt_lapic l = {
			.type = MADT_LAPIC, .length = sizeof(l),
			.acpi_id = (uint8_t)i, .apic_id = (uint8_t)i, .flags = 1,
		};

		memcpy(p, &l, sizeof(l));
		p += sizeof(l);
	}
	memcpy(p, &io, sizeof(io));
	p += sizeof(io);
	p = madt_iso(p, 0, 2, MPS_EDGE | MPS_ACTIVE_HIGH);
	p = madt_iso(p, cfg->sci_irq, cfg->sci_irq, MPS_LEVEL | MPS_ACTIVE_HIGH);
	memcpy(p, &nmi, sizeof(nmi));
	acpi_header_checksum(&m->header);
}

static int build_madt(struct acpi_buf *b, const struct acpi_config *cfg, uint64_t *gpa)
{
	size_t off;
	int ret;

	ret = abuf_alloc(b, madt_size(cfg->ncpus), 8, &off);
	if (ret)
		return ret;
	madt_fill(b->buf + off, cfg);
	*gpa = b->gpa + off;
	layout_table(b, off, "APIC", 1);
	return 0;
}

/* ---- XSDT, RSDP ---- */

/* MCFG: the header, 8 reserved bytes, one 16-byte allocation for segment 0. */
#define MCFG_SIZE (sizeof(struct acpi_header) + 8 + 16)

static int build_mcfg(struct acpi_buf *b, const struct acpi_config *cfg, uint64_t *gpa)
{
	struct acpi_header *h;
	uint8_t *e;
	size_t off;
	int ret;

	ret = abuf_alloc(b, MCFG_SIZE, 8, &off);
	if (ret)
		return ret;
	h = (struct acpi_header *)(b->buf + off);
	acpi_header_init(h, "MCFG", MCFG_SIZE, 1);
	e = b->buf + off + sizeof(*h) + 8;
	for (unsigned i = 0; i < 8; i++)
		e[i] = (uint8_t)(cfg->ecam_base >> (8 * i));
	/* e[8..9]: segment 0; e[10]: first bus 0 */
	e[11] = cfg->ecam_end_bus;
	acpi_header_checksum(h);
	*gpa = b->gpa + off;
	layout_table(b, off, "MCFG", 1);
	return 0;
}

static int build_xsdt(struct acpi_buf *b, const uint64_t *tables, unsigned n, uint64_t *gpa)
{
	struct acpi_header *h;
	size_t len = sizeof(*h) + n * sizeof(uint64_t);
	size_t off;
	int ret;

	ret = abuf_alloc(b, len, 8, &off);
	if (ret)
		return ret;
	h = (struct acpi_header *)(b->buf + off);
	acpi_header_init(h, "XSDT", len, 1);
	/* The entries start at offset 36: not 8-byte aligned. */
	memcpy(h + 1, tables, n * sizeof(uint64_t));
	acpi_header_checksum(h);
	*gpa = b->gpa + off;
	for (unsigned i = 0; i < n; i++)
		layout_pointer(b, off + sizeof(*h) + i * sizeof(uint64_t));
	layout_table(b, off, "XSDT", 1);
	return 0;
}

/* ACPI 2.0+ RSDP, XSDT only: every table is below 4 GiB but no OS we boot needs an RSDT. */
static void rsdp_fill(struct acpi_rsdp *r, uint64_t xsdt)
{
	memcpy(r->signature, "RSD PTR ", 8);
	memcpy(r->oem_id, ACPI_OEM_ID, 6);
	r->revision = 2;
	r->length = sizeof(*r);
	r->xsdt_address = xsdt;
	r->checksum = acpi_checksum(r, 20);
	r->ext_checksum = acpi_checksum(r, sizeof(*r));
}

static int acpi_config_check(const struct acpi_config *cfg, uint64_t gpa)
{
	uint64_t end32 = cfg->pci_mmio32_base + cfg->pci_mmio32_size;

	if (cfg->ncpus == 0 || cfg->ncpus > ACPI_MAX_CPUS)
		return -EINVAL;
	/* IRQ 0 and 2 are the timer's; the SCI must be an ISA IRQ for its override. */
	if (cfg->sci_irq >= 16 || cfg->sci_irq == 0 || cfg->sci_irq == 2)
		return -EINVAL;
	if (cfg->com1_port && cfg->com1_irq >= 16)
		return -EINVAL;
	if (cfg->pci_mmio32_size == 0 || end32 > SZ_4G || end32 < cfg->pci_mmio32_base)
		return -EINVAL;
	if (cfg->pci_mmio64_size &&
	    cfg->pci_mmio64_base + cfg->pci_mmio64_size < cfg->pci_mmio64_base)
		return -EINVAL;
	/* ECAM: 1 MiB per bus, aligned to its size as PCIEXBAR requires. */
	if (cfg->ecam_base &&
	    (cfg->ecam_base % (((uint64_t)cfg->ecam_end_bus + 1) << 20) ||
	     cfg->ecam_base + (((uint64_t)cfg->ecam_end_bus + 1) << 20) < cfg->ecam_base))
		return -EINVAL;
	/* The RSDP is found by a scan of 16-byte boundaries. */
	return gpa % 16 ? -EINVAL : 0;
}

static int acpi_build_tables(struct acpi_buf *b, const struct acpi_config *cfg)
{
	uint64_t facs, dsdt, sdt[3], xsdt;
	unsigned nsdt = 2;
	size_t rsdp;
	int ret;

	ret = abuf_alloc(b, sizeof(struct acpi_rsdp), 16, &rsdp);
	if (!ret)
		ret = build_facs(b, &facs);
	if (!ret)
		ret = build_dsdt(b, cfg, &dsdt);
	if (!ret)
		ret = build_fadt(b, cfg, facs, dsdt, &sdt[0]);
	if (!ret)
		ret = build_madt(b, cfg, &sdt[1]);
	if (!ret && cfg->ecam_base)
		ret = build_mcfg(b, cfg, &sdt[nsdt++]);
	if (!ret)
		ret = build_xsdt(b, sdt, nsdt, &xsdt);
	if (ret)
		return ret;
	rsdp_fill((struct acpi_rsdp *)(b->buf + rsdp), xsdt);
	if (b->layout) {
		b->layout->rsdp = (uint32_t)rsdp;
		layout_pointer(b, rsdp + offsetof(struct acpi_rsdp, xsdt_address));
	}
	return 0;
}

int acpi_build(struct guest_mem *mem, uint64_t gpa, uint64_t size, const struct acpi_config *cfg,
	       uint64_t *rsdp)
{
	struct acpi_buf b = { .gpa = gpa, .limit = size > SIZE_MAX ? SIZE_MAX : (size_t)size };
	uint8_t *dst;
	int ret;

	ret = acpi_config_check(cfg, gpa);
	if (ret)
		return ret;
	ret = acpi_build_tables(&b, cfg);
	if (ret)
		goto out;
	/* Clear the whole area: a stale RSDP from an earlier boot must not be found by a scan. */
	dst = guest_mem_ptr(mem, gpa, size);
	if (!dst) {
		ret = -EFAULT;
		goto out;
	}
	memset(dst, 0, size);
	memcpy(dst, b.buf, b.len);
	*rsdp = gpa; /* the RSDP is the first thing in the area */
out:
	free(b.buf);
	return ret;
}

/* Room for ACPI_MAX_CPUS: the tables stay far below this. */
#define ACPI_BLOB_MAX (1u << 20)

int acpi_build_blob(const struct acpi_config *cfg, uint8_t **blob, size_t *len,
		    struct acpi_layout *layout)
{
	struct acpi_buf b = { .gpa = 0, .limit = ACPI_BLOB_MAX, .layout = layout };
	int ret;

	memset(layout, 0, sizeof(*layout));
	ret = acpi_config_check(cfg, 0);
	if (!ret)
		ret = acpi_build_tables(&b, cfg);
	/* A table or pointer the loader would not know about: OVMF would lose it. */
	if (!ret && layout->overflow)
		ret = -ENOSPC;
	if (ret) {
		free(b.buf);
		return ret;
	}
	*blob = b.buf;
	*len = b.len;
	return 0;
}
