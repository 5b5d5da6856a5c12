// SPDX-License-Identifier: MIT
/*
 * The fw_cfg files OVMF reads: the table-loader script byte for byte, and
 * then the whole path end to end: the files go into a fw_cfg device, a
 * small emulation of OVMF's AcpiPlatformDxe reads them through DMA into
 * fake guest RAM, runs the script with OVMF's checks, and the tables it
 * leaves must chain RSDP -> XSDT -> FADT -> DSDT/FACS with good checksums.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/fw_cfg.h"
#include "firmware/firmware.h"
#include "core/layout.h"
#include "core/memory.h"

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static struct acpi_config config(unsigned ncpus)
{
	return (struct acpi_config){
		.ncpus = ncpus,
		.pm_base = PORT_PM_BASE,
		.sci_irq = IRQ_SCI,
		.reset_port = PORT_RESET_CF9,
		.com1_port = PORT_COM1,
		.com1_irq = IRQ_COM1,
		.pci_mmio32_base = LAYOUT_PCI_MMIO32,
		.pci_mmio32_size = LAYOUT_PCI_MMIO32_SIZE,
		.pci_mmio64_base = 0x8000000000ULL,
		.pci_mmio64_size = 0x4000000000ULL,
	};
}

/* ---- the commands, byte for byte ---- */

static void expect_name(const uint8_t *p, const char *name)
{
	size_t n = strlen(name);

	cr_assert_eq(memcmp(p, name, n), 0);
	for (size_t i = n; i < 56; i++)
		cr_assert_eq(p[i], 0, "name padding at %zu", i);
}

static void expect_zero(const uint8_t *c, size_t from)
{
	for (size_t i = from; i < 128; i++)
		cr_assert_eq(c[i], 0, "byte %zu of the command", i);
}

Test(acpi_loader, allocate_bytes)
{
	struct acpi_loader l = { 0 };

	cr_assert_eq(acpi_loader_allocate(&l, "etc/acpi/rsdp", 16, ACPI_LOADER_ZONE_FSEG), 0);
	cr_assert_eq(acpi_loader_allocate(&l, "etc/acpi/tables", 4096, ACPI_LOADER_ZONE_HIGH), 0);
	cr_assert_eq(l.len, 256);
	cr_assert_eq(memcmp(l.buf, "\1\0\0\0", 4), 0, "command 1, little-endian");
	expect_name(l.buf + 4, "etc/acpi/rsdp");
	cr_assert_eq(memcmp(l.buf + 60, "\x10\0\0\0\x02", 5), 0, "align 16, zone FSEG (2)");
	expect_zero(l.buf, 65);
	cr_assert_eq(memcmp(l.buf + 128 + 60, "\0\x10\0\0\x01", 5), 0, "align 4096, zone HIGH (1)");
	acpi_loader_free(&l);
}

Test(acpi_loader, add_pointer_bytes)
{
	struct acpi_loader l = { 0 };

	cr_assert_eq(acpi_loader_add_pointer(&l, "etc/acpi/rsdp", "etc/acpi/tables", 0x18, 8), 0);
	cr_assert_eq(l.len, 128);
	cr_assert_eq(memcmp(l.buf, "\2\0\0\0", 4), 0);
	expect_name(l.buf + 4, "etc/acpi/rsdp");
	expect_name(l.buf + 60, "etc/acpi/tables");
	cr_assert_eq(memcmp(l.buf + 116, "\x18\0\0\0\x08", 5), 0, "offset, size");
	expect_zero(l.buf, 121);
	acpi_loader_free(&l);
}

Test(acpi_loader, add_checksum_bytes)
{
	struct acpi_loader l = { 0 };

	cr_assert_eq(acpi_loader_add_checksum(&l, "etc/acpi/tables", 0x1234 + 9, 0x1234, 0x10203),
		     0);
	cr_assert_eq(memcmp(l.buf, "\3\0\0\0", 4), 0);
	expect_name(l.buf + 4, "etc/acpi/tables");
	cr_assert_eq(memcmp(l.buf + 60, "\x3d\x12\0\0" "\x34\x12\0\0" "\x03\x02\x01\0", 12), 0,
		     "result offset, start, length");
	expect_zero(l.buf, 72);
	acpi_loader_free(&l);
}

Test(acpi_loader, write_pointer_bytes)
{
	struct acpi_loader l = { 0 };

	cr_assert_eq(acpi_loader_write_pointer(&l, "etc/vmgenid_addr", "etc/vmgenid_guid", 0, 40, 8),
		     0);
	cr_assert_eq(memcmp(l.buf, "\4\0\0\0", 4), 0);
	expect_name(l.buf + 4, "etc/vmgenid_addr");
	expect_name(l.buf + 60, "etc/vmgenid_guid");
	cr_assert_eq(memcmp(l.buf + 116, "\0\0\0\0" "\x28\0\0\0" "\x08", 9), 0,
		     "offset, pointee offset, size");
	expect_zero(l.buf, 125);
	acpi_loader_free(&l);
}

Test(acpi_loader, bad_arguments_are_einval)
{
	struct acpi_loader l = { 0 };
	char name[57];

	memset(name, 'n', 56);
	name[56] = '\0';
	cr_assert_eq(acpi_loader_allocate(&l, name, 16, ACPI_LOADER_ZONE_HIGH), -EINVAL,
		     "56 characters leave no room for the NUL");
	name[55] = '\0';
	cr_assert_eq(acpi_loader_allocate(&l, name, 16, ACPI_LOADER_ZONE_HIGH), 0);
	cr_assert_eq(l.buf[4 + 55], 0, "NUL-terminated, as OVMF checks");
	cr_assert_eq(acpi_loader_allocate(&l, "", 16, ACPI_LOADER_ZONE_HIGH), -EINVAL);
	cr_assert_eq(acpi_loader_allocate(&l, "f", 24, ACPI_LOADER_ZONE_HIGH), -EINVAL);
	cr_assert_eq(acpi_loader_allocate(&l, "f", 0, ACPI_LOADER_ZONE_HIGH), -EINVAL);
	cr_assert_eq(acpi_loader_add_pointer(&l, "a", "b", 0, 3), -EINVAL);
	cr_assert_eq(acpi_loader_add_pointer(&l, "a", name + 1, 0, 8), 0);
	cr_assert_eq(acpi_loader_add_pointer(&l, "a", "", 0, 8), -EINVAL);
	cr_assert_eq(acpi_loader_add_checksum(&l, NULL, 0, 0, 1), -EINVAL);
	cr_assert_eq(acpi_loader_write_pointer(&l, "a", "b", 0, 0, 16), -EINVAL);
	cr_assert_eq(l.len, 2 * 128, "refused commands leave nothing behind");
	acpi_loader_free(&l);
}

/* ---- the blob and its layout ---- */

Test(acpi_loader, blob_layout)
{
	struct acpi_config cfg = config(2);
	struct acpi_layout lay;
	uint8_t *blob;
	size_t len;
	static const char *const order[] = { "FACS", "DSDT", "FACP", "APIC", "XSDT" };

	cr_assert_eq(acpi_build_blob(&cfg, &blob, &len, &lay), 0);
	cr_assert_eq(lay.rsdp, 0);
	cr_assert_eq(memcmp(blob, "RSD PTR ", 8), 0);
	cr_assert_eq(lay.nr_tables, 5);
	for (unsigned i = 0; i < lay.nr_tables; i++) {
		const struct acpi_table_extent *t = &lay.table[i];

		cr_assert_eq(memcmp(t->signature, order[i], 4), 0, "table %u", i);
		cr_assert_eq(memcmp(blob + t->offset, order[i], 4), 0);
		cr_assert_eq(le32(blob + t->offset + 4), t->length);
		cr_assert_leq(t->offset + t->length, len);
		cr_assert_eq(t->has_checksum, i != 0, "all but the FACS");
	}
	/* FADT's X_FIRMWARE_CTRL and X_DSDT, XSDT's two entries, RSDP's XSDT address. */
	cr_assert_eq(lay.nr_pointers, 5);
	cr_assert_eq(lay.pointer[0], lay.table[2].offset + 132);
	cr_assert_eq(lay.pointer[1], lay.table[2].offset + 140);
	cr_assert_eq(lay.pointer[2], lay.table[4].offset + 36);
	cr_assert_eq(lay.pointer[3], lay.table[4].offset + 44);
	cr_assert_eq(lay.pointer[4], 24);
	cr_assert_eq(le64(blob + lay.pointer[1]), lay.table[1].offset, "built at address 0");
	cr_assert_eq(le64(blob + 24), lay.table[4].offset);
	free(blob);
	cr_assert_eq(acpi_build_blob(&(struct acpi_config){ 0 }, &blob, &len, &lay), -EINVAL);
}

Test(acpi_loader, split_rejects_bad_layouts)
{
	struct acpi_config cfg = config(1);
	struct acpi_fw_cfg_files f;
	struct acpi_layout lay, bad;
	uint8_t *blob;
	size_t len;

	cr_assert_eq(acpi_build_blob(&cfg, &blob, &len, &lay), 0);
	bad = lay;
	bad.rsdp = (uint32_t)len - 8;
	cr_assert_eq(acpi_fw_cfg_files_split(blob, len, &bad, &f), -EINVAL, "RSDP off the end");
	bad = lay;
	bad.table[1].length = (uint32_t)len;
	cr_assert_eq(acpi_fw_cfg_files_split(blob, len, &bad, &f), -EINVAL, "table off the end");
	bad = lay;
	bad.pointer[0] = (uint32_t)len - 4;
	cr_assert_eq(acpi_fw_cfg_files_split(blob, len, &bad, &f), -EINVAL, "pointer off the end");
	/* A pointer whose value points outside the tables. */
	memset(blob + lay.pointer[1], 0xff, 8);
	cr_assert_eq(acpi_fw_cfg_files_split(blob, len, &lay, &f), -EINVAL);
	free(blob);
}

/* ---- OVMF, in miniature ---- */

#define RAM       (2 * SZ_1M)
#define SCRATCH   0x10000ULL /* directory and script land here */
#define ACCESS    0x8000ULL
#define FSEG      0xf0000ULL
#define HIGH_BASE 0x100000ULL

struct blob {
	char name[56];
	uint64_t base;
	uint32_t size;
	bool opaque;
};

struct ovmf {
	struct guest_mem mem;
	struct fw_cfg *fw;
	struct blob blob[8];
	unsigned nr;
	uint64_t high, fseg;
	char installed[8][5];
	unsigned nr_installed;
};

static uint8_t *gp(struct ovmf *o, uint64_t gpa, uint64_t len)
{
	uint8_t *p = guest_mem_ptr(&o->mem, gpa, len);

	cr_assert_not_null(p, "%#llx+%#llx is not guest RAM", (unsigned long long)gpa,
			   (unsigned long long)len);
	return p;
}

/* QemuFwCfgSelectItem + QemuFwCfgReadBytes, by DMA. */
static void fw_read(struct ovmf *o, uint16_t key, uint32_t len, uint64_t dst)
{
	uint8_t *a = gp(o, ACCESS, 16);
	uint32_t control = (uint32_t)key << 16 | FW_CFG_DMA_SELECT | FW_CFG_DMA_READ;

	for (int i = 0; i < 4; i++) {
		a[i] = (uint8_t)(control >> (24 - 8 * i));
		a[4 + i] = (uint8_t)(len >> (24 - 8 * i));
		a[8 + i] = 0;
		a[12 + i] = (uint8_t)(dst >> (24 - 8 * i));
	}
	fw_cfg_ops.write(o->fw, 4, 4, 0);
	fw_cfg_ops.write(o->fw, 8, 4, __builtin_bswap32((uint32_t)ACCESS));
	cr_assert_eq(be32(a), 0, "DMA read of item %#x failed", key);
}

/* QemuFwCfgFindFile. */
static bool find_file(struct ovmf *o, const char *name, uint16_t *key, uint32_t *size)
{
	const uint8_t *d;
	uint32_t count;

	fw_read(o, FW_CFG_FILE_DIR, 4, SCRATCH);
	count = be32(gp(o, SCRATCH, 4));
	fw_read(o, FW_CFG_FILE_DIR, 4 + count * 64, SCRATCH);
	d = gp(o, SCRATCH, 4 + count * 64);
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *e = d + 4 + 64 * i;

		if (!strcmp((const char *)e + 8, name)) {
			*size = be32(e);
			*key = (uint16_t)(e[4] << 8 | e[5]);
			return true;
		}
	}
	return false;
}

static struct blob *blob_find(struct ovmf *o, const uint8_t *name)
{
	cr_assert_eq(name[55], 0, "malformed file name");
	for (unsigned i = 0; i < o->nr; i++)
		if (!strcmp(o->blob[i].name, (const char *)name))
			return &o->blob[i];
	return NULL;
}

static void cmd_allocate(struct ovmf *o, const uint8_t *c)
{
	uint32_t align = le32(c + 60);
	struct blob *b = &o->blob[o->nr];
	uint64_t *next = c[64] == ACPI_LOADER_ZONE_FSEG ? &o->fseg : &o->high;
	uint16_t key;

	cr_assert_null(blob_find(o, c + 4), "duplicated file");
	cr_assert(align && align <= 4096 && !(align & (align - 1)), "alignment %u", align);
	cr_assert(find_file(o, (const char *)c + 4, &key, &b->size), "no file %s", c + 4);
	cr_assert_lt(o->nr, 8);
	memcpy(b->name, c + 4, 56);
	/* OVMF takes whole pages; a BIOS packs the F segment: align as asked. */
	b->base = (*next + align - 1) & ~(uint64_t)(align - 1);
	*next = b->base + b->size;
	if (c[64] == ACPI_LOADER_ZONE_FSEG)
		cr_assert_leq(*next, SZ_1M, "F segment overflow");
	fw_read(o, key, b->size, b->base);
	o->nr++;
}

static void cmd_add_pointer(struct ovmf *o, const uint8_t *c)
{
	struct blob *ptr = blob_find(o, c + 4), *pointee = blob_find(o, c + 60);
	uint32_t off = le32(c + 116);
	uint8_t size = c[120];
	uint64_t v = 0;
	uint8_t *field;

	cr_assert(ptr && pointee, "ADD_POINTER to a file not allocated");
	cr_assert(size == 1 || size == 2 || size == 4 || size == 8);
	cr_assert(ptr->size >= size && ptr->size - size >= off, "pointer outside its file");
	field = gp(o, ptr->base + off, size);
	memcpy(&v, field, size);
	cr_assert_lt(v, pointee->size, "pointer value outside the pointee");
	v += pointee->base;
	cr_assert(size == 8 || (v >> (8 * size)) == 0, "unrepresentable");
	memcpy(field, &v, size);
}

static void cmd_add_checksum(struct ovmf *o, const uint8_t *c)
{
	struct blob *b = blob_find(o, c + 4);
	uint32_t result = le32(c + 60), start = le32(c + 64), length = le32(c + 68);

	cr_assert_not_null(b);
	cr_assert(result < b->size && length <= b->size && start <= b->size - length,
		  "checksum range outside the file");
	gp(o, b->base, b->size)[result] = (uint8_t)-sum8(gp(o, b->base + start, length), length);
}

/* The second pass: every ADD_POINTER target that is a whole table gets installed. */
static void second_pass_pointer(struct ovmf *o, const uint8_t *c)
{
	struct blob *ptr = blob_find(o, c + 4), *pointee = blob_find(o, c + 60);
	uint64_t v = 0, remaining;
	const uint8_t *t;
	uint32_t len;

	memcpy(&v, gp(o, ptr->base + le32(c + 116), c[120]), c[120]);
	cr_assert(v >= pointee->base && v < pointee->base + pointee->size);
	remaining = pointee->base + pointee->size - v;
	t = gp(o, v, remaining);
	len = remaining >= 8 ? le32(t + 4) : 0;
	if (remaining >= 64 && !memcmp(t, "FACS", 4) && len >= 64 && len <= remaining) {
		/* the FACS: no checksum */
	} else if (remaining >= 36 && len >= 36 && len <= remaining && sum8(t, len) == 0) {
		if (!memcmp(t, "XSDT", 4) || !memcmp(t, "RSDT", 4))
			return;
	} else {
		pointee->opaque = true;
		return;
	}
	for (unsigned i = 0; i < o->nr_installed; i++)
		if (!memcmp(o->installed[i], t, 4))
			return; /* the same table pointed at twice */
	cr_assert_lt(o->nr_installed, 8);
	memcpy(o->installed[o->nr_installed++], t, 4);
}

static void run_script(struct ovmf *o)
{
	uint16_t key;
	uint32_t size;
	uint8_t *script;

	cr_assert(find_file(o, "etc/table-loader", &key, &size));
	cr_assert_eq(size % 128, 0);
	script = malloc(size);
	fw_read(o, key, size, SCRATCH);
	memcpy(script, gp(o, SCRATCH, size), size);
	for (uint32_t off = 0; off < size; off += 128) {
		const uint8_t *c = script + off;

		switch (le32(c)) {
		case ACPI_LOADER_ALLOCATE: cmd_allocate(o, c); break;
		case ACPI_LOADER_ADD_POINTER: cmd_add_pointer(o, c); break;
		case ACPI_LOADER_ADD_CHECKSUM: cmd_add_checksum(o, c); break;
		default: cr_assert_fail("unexpected command %u", le32(c));
		}
	}
	for (uint32_t off = 0; off < size; off += 128)
		if (le32(script + off) == ACPI_LOADER_ADD_POINTER)
			second_pass_pointer(o, script + off);
	free(script);
}

static void ovmf_init(struct ovmf *o, const struct acpi_config *cfg, struct acpi_fw_cfg_files *f)
{
	memset(o, 0, sizeof(*o));
	o->mem = (struct guest_mem){ .fd = -1, .nr = 1, .total = RAM, .page_size = 4096 };
	o->mem.region[0] = (struct guest_region){ .size = RAM, .hva = calloc(1, RAM) };
	cr_assert_not_null(o->mem.region[0].hva);
	o->fw = fw_cfg_new(&o->mem);
	o->high = HIGH_BASE;
	o->fseg = FSEG;
	cr_assert_eq(acpi_fw_cfg_files_build(cfg, f), 0);
	/* Other files around them, as on a real machine. */
	cr_assert_eq(fw_cfg_add_file(o->fw, "etc/boot-fail-wait", "\5\0\0\0", 4), 0);
	cr_assert_eq(fw_cfg_add_file(o->fw, ACPI_LOADER_TABLES_FILE, f->tables, f->tables_len), 0);
	cr_assert_eq(fw_cfg_add_file(o->fw, ACPI_LOADER_RSDP_FILE, f->rsdp, f->rsdp_len), 0);
	cr_assert_eq(fw_cfg_add_file(o->fw, ACPI_LOADER_FILE, f->loader, f->loader_len), 0);
}

static void ovmf_free(struct ovmf *o, struct acpi_fw_cfg_files *f)
{
	fw_cfg_free(o->fw);
	free(o->mem.region[0].hva);
	acpi_fw_cfg_files_free(f);
}

/* A table reached by a pointer: inside one of the allocated blobs, checksum valid. */
static const uint8_t *table(struct ovmf *o, uint64_t gpa, const char *sig)
{
	const uint8_t *t;
	uint32_t len;
	bool inside = false;

	t = gp(o, gpa, 36);
	cr_assert_eq(memcmp(t, sig, 4), 0, "expected %s at %#llx", sig, (unsigned long long)gpa);
	len = le32(t + 4);
	for (unsigned i = 0; i < o->nr; i++)
		inside |= gpa >= o->blob[i].base && gpa + len <= o->blob[i].base + o->blob[i].size;
	cr_assert(inside, "%s is not inside an allocated file", sig);
	if (strcmp(sig, "FACS"))
		cr_assert_eq(sum8(gp(o, gpa, len), len), 0, "%s checksum", sig);
	return t;
}

/* The RSDP the way a BIOS-style scan finds it: 16-byte boundaries of 0xe0000-0xfffff. */
static const uint8_t *scan_rsdp(struct ovmf *o)
{
	const uint8_t *found = NULL;

	for (uint64_t a = 0xe0000; a < SZ_1M; a += 16) {
		const uint8_t *p = gp(o, a, 16);

		if (!memcmp(p, "RSD PTR ", 8)) {
			cr_assert_null(found, "two RSDPs");
			found = p;
		}
	}
	cr_assert_not_null(found, "no RSDP in the F segment");
	return found;
}

/* acpi_build()'s DSDT, found the way an OS finds it: RSDP -> XSDT[0] (the FADT) -> X_DSDT. */
static void check_same_dsdt(const struct acpi_config *cfg, const uint8_t *dsdt)
{
	struct guest_mem m = { .fd = -1, .nr = 1, .total = RAM };
	const uint8_t *rsdp, *xsdt, *fadt, *d;
	uint64_t r;

	m.region[0] = (struct guest_region){ .size = RAM, .hva = calloc(1, RAM) };
	cr_assert_eq(acpi_build(&m, LAYOUT_ACPI, LAYOUT_ACPI_SIZE, cfg, &r), 0);
	rsdp = guest_mem_ptr(&m, r, 36);
	xsdt = guest_mem_ptr(&m, le64(rsdp + 24), 44);
	fadt = guest_mem_ptr(&m, le64(xsdt + 36), 276);
	cr_assert_eq(memcmp(fadt, "FACP", 4), 0);
	d = guest_mem_ptr(&m, le64(fadt + 140), le32(dsdt + 4));
	cr_assert_not_null(d);
	cr_assert_eq(le32(d + 4), le32(dsdt + 4));
	cr_assert_eq(memcmp(d, dsdt, le32(d + 4)), 0, "same DSDT as the direct boot");
	free(m.region[0].hva);
}

static void check_end_to_end(unsigned ncpus)
{
	struct acpi_config cfg = config(ncpus);
	struct acpi_fw_cfg_files f;
	struct ovmf o;
	const uint8_t *rsdp, *xsdt, *fadt = NULL, *madt = NULL, *dsdt, *facs;
	uint32_t n;

	ovmf_init(&o, &cfg, &f);
	run_script(&o);
	rsdp = scan_rsdp(&o);
	cr_assert_eq(sum8(rsdp, 20), 0, "RSDP checksum");
	cr_assert_eq(sum8(rsdp, 36), 0, "RSDP extended checksum");
	cr_assert_eq(rsdp[15], 2);
	xsdt = table(&o, le64(rsdp + 24), "XSDT");
	n = (le32(xsdt + 4) - 36) / 8;
	cr_assert_eq(n, 2);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t a = le64(xsdt + 36 + 8 * i);

		if (!memcmp(gp(&o, a, 4), "FACP", 4))
			fadt = table(&o, a, "FACP");
		else
			madt = table(&o, a, "APIC");
	}
	cr_assert(fadt && madt);
	dsdt = table(&o, le64(fadt + 140), "DSDT");
	facs = table(&o, le64(fadt + 132), "FACS");
	cr_assert_eq(le64(fadt + 132) % 64, 0, "FACS 64-byte aligned");
	cr_assert_eq(le32(fadt + 36) | le32(fadt + 40), 0, "only the 64-bit pointers");
	cr_assert_eq(le32(facs + 4), 64);
	cr_assert_eq(le32(madt + 36), LAYOUT_LAPIC);
	cr_assert_eq(le32(madt + 4), 44 + 8 * ncpus + 12 + 2 * 10 + 6, "one LAPIC per CPU");
	/* What OVMF would install: each table once, RSDT/XSDT left to its own code. */
	cr_assert_eq(o.nr_installed, 4);
	for (unsigned i = 0; i < o.nr; i++)
		cr_assert(!o.blob[i].opaque, "%s: a pointer into the middle of a table",
			  o.blob[i].name);
	/* The DSDT is the very one acpi_build() writes for a direct boot. */
	check_same_dsdt(&cfg, dsdt);
	ovmf_free(&o, &f);
}

Test(acpi_loader, end_to_end_1_cpu)
{
	check_end_to_end(1);
}

Test(acpi_loader, end_to_end_max_cpus)
{
	check_end_to_end(ACPI_MAX_CPUS);
}

Test(acpi_loader, script_shape)
{
	struct acpi_config cfg = config(2);
	struct acpi_fw_cfg_files f;
	unsigned count[5] = { 0 };
	bool seen_checksum = false;

	cr_assert_eq(acpi_fw_cfg_files_build(&cfg, &f), 0);
	cr_assert_eq(f.rsdp_len, 36);
	cr_assert_eq(memcmp(f.rsdp, "RSD PTR ", 8), 0);
	cr_assert_eq(f.rsdp[8] | f.rsdp[32], 0, "checksums left to the script");
	cr_assert_eq(le64(f.rsdp + 24) % 8, 0);
	cr_assert_lt(le64(f.rsdp + 24), f.tables_len, "an offset into etc/acpi/tables");
	cr_assert_eq(f.loader_len % 128, 0);
	for (size_t off = 0; off < f.loader_len; off += 128) {
		const uint8_t *c = f.loader + off;
		uint32_t type = le32(c);

		cr_assert(type >= 1 && type <= 3);
		count[type]++;
		if (type == ACPI_LOADER_ADD_CHECKSUM)
			seen_checksum = true;
		else
			cr_assert(!seen_checksum, "a pointer patched after a checksum");
		if (type == ACPI_LOADER_ALLOCATE && !strcmp((const char *)c + 4, "etc/acpi/rsdp"))
			cr_assert_eq(c[64], ACPI_LOADER_ZONE_FSEG, "the RSDP goes in the F segment");
		if (type == ACPI_LOADER_ALLOCATE && !strcmp((const char *)c + 4, "etc/acpi/tables"))
			cr_assert_eq(le32(c + 60), 64, "tables aligned for the FACS");
	}
	cr_assert_eq(count[1], 2, "two files to allocate");
	cr_assert_eq(count[2], 5, "five pointers");
	cr_assert_eq(count[3], 4 + 2, "four table checksums and the RSDP's two");
	/* The last two: RSDP's 20-byte checksum, then the 36-byte one that covers it. */
	cr_assert_eq(memcmp(f.loader + f.loader_len - 256 + 60, "\x08\0\0\0\0\0\0\0\x14\0\0\0", 12),
		     0);
	cr_assert_eq(memcmp(f.loader + f.loader_len - 128 + 60, "\x20\0\0\0\0\0\0\0\x24\0\0\0", 12),
		     0);
	acpi_fw_cfg_files_free(&f);
}

/* ---- etc/e820 and X-PciMmio64Mb ---- */

Test(acpi_loader, e820_file)
{
	struct guest_mem m = { .fd = -1, .nr = 2, .total = 3 * SZ_1G };
	struct e820_entry map[16];
	uint8_t out[16 * 20];
	int n, bytes, k = 0;

	m.region[0] = (struct guest_region){ .gpa = 0, .size = 2 * SZ_1G };
	m.region[1] = (struct guest_region){ .gpa = SZ_4G, .size = SZ_1G };
	n = e820_build(&m, map, 16);
	cr_assert_gt(n, 0);
	bytes = ovmf_e820_file(&m, out, sizeof(out));
	cr_assert_gt(bytes, 0);
	cr_assert_eq(bytes % 20, 0, "20 bytes an entry, no header");
	/* e820_build()'s entries in order, less the reserved ones below 1 MiB. */
	for (int i = 0; i < n; i++) {
		if (map[i].type != E820_RAM && map[i].addr + map[i].size <= SZ_1M)
			continue;
		cr_assert_lt(20 * k, bytes);
		cr_assert_eq(le64(out + 20 * k), map[i].addr);
		cr_assert_eq(le64(out + 20 * k + 8), map[i].size);
		cr_assert_eq(le32(out + 20 * k + 16), map[i].type);
		k++;
	}
	cr_assert_eq(20 * k, bytes);
	/* Low RAM from 0, RAM from 1 MiB to 2 GiB, the GiB above 4 GiB: nothing else. */
	cr_assert_eq(k, 3);
	cr_assert_eq(memcmp(out, "\0\0\0\0\0\0\0\0", 8), 0, "RAM at 0");
	cr_assert_eq(le32(out + 16), E820_RAM);
	cr_assert_eq(memcmp(out + 40, "\0\0\0\0\1\0\0\0" "\0\0\0\x40\0\0\0\0" "\1\0\0\0", 20),
		     0, "4 GiB + 1 GiB of RAM, little-endian");
	cr_assert_eq(ovmf_e820_file(&m, out, (size_t)bytes - 1), -ENOSPC);
	cr_assert_eq(ovmf_e820_file(&m, out, (size_t)bytes), bytes);
	m.region[0].gpa = SZ_1M * 8; /* nothing at 0 */
	cr_assert_eq(ovmf_e820_file(&m, out, sizeof(out)), -EINVAL);
}

Test(acpi_loader, mmio64_string)
{
	char s[24];

	cr_assert_eq(ovmf_mmio64_file(32 * SZ_1G, s, sizeof(s)), 5);
	cr_assert_str_eq(s, "32768");
	cr_assert_eq(ovmf_mmio64_file(1, s, sizeof(s)), 1, "rounded up to a whole MiB");
	cr_assert_str_eq(s, "1");
	cr_assert_eq(ovmf_mmio64_file(0x4000000000ULL, s, sizeof(s)), 6);
	cr_assert_str_eq(s, "262144");
	cr_assert_eq(ovmf_mmio64_file(0x4000000000ULL, s, 6), -ENOSPC, "no room for the NUL");
}

/*
 * Where OVMF put a 64-bit BAR under QEMU 7.2 (q35, 128 MiB of RAM, so RAM
 * ends below 4 GiB) for these CPU models: the window ovmf_mmio64_window()
 * computes must start there.
 */
Test(ovmf, mmio64_window_matches_what_ovmf_did)
{
	static const struct {
		struct ovmf_cpu cpu;
		uint64_t size, want_base, want_size;
		unsigned want_bits;
	} seen[] = {
		/* qemu64: AMD, 40 bits, trusted: the top eighth */
		{ { 40, "AuthenticAMD", false }, 32 * SZ_1G, 0xe000000000ULL, 128 * SZ_1G, 40 },
		/* Skylake-Client, 40 bits: not trusted on Intel, the 32 GiB default */
		{ { 40, "GenuineIntel", true }, 32 * SZ_1G, 0x800000000ULL, 32 * SZ_1G, 36 },
		/* Skylake-Client, 39 bits: trusted */
		{ { 39, "GenuineIntel", true }, 32 * SZ_1G, 0x7000000000ULL, 64 * SZ_1G, 39 },
		/* EPYC, 43 bits */
		{ { 43, "AuthenticAMD", true }, 32 * SZ_1G, 0x70000000000ULL, 1024 * SZ_1G, 43 },
		/* qemu64 with X-PciMmio64Mb=262144: larger than the eighth, kept */
		{ { 40, "AuthenticAMD", false }, 256 * SZ_1G, 0x4000000000ULL, 256 * SZ_1G, 40 },
	};

	for (unsigned i = 0; i < sizeof(seen) / sizeof(seen[0]); i++) {
		uint64_t base, size;
		unsigned bits;

		cr_assert_eq(ovmf_mmio64_window(128 << 20, seen[i].size, &seen[i].cpu, &base, &size,
						&bits), 0);
		cr_assert_eq(base, seen[i].want_base, "case %u: base 0x%llx", i,
			     (unsigned long long)base);
		cr_assert_eq(size, seen[i].want_size, "case %u: size", i);
		cr_assert_eq(bits, seen[i].want_bits, "case %u: address width %u", i, bits);
	}
}

Test(ovmf, mmio64_window_edges)
{
	struct ovmf_cpu wide = { 52, "GenuineIntel", true }, no1g = { 46, "AuthenticAMD", false };
	struct ovmf_cpu none = { 0, "", false };
	uint64_t base, size;
	unsigned bits;

	/* 52 bits is capped at 47: the top eighth of 128 TiB */
	cr_assert_eq(ovmf_mmio64_window(SZ_4G, 32 * SZ_1G, &wide, &base, &size, &bits), 0);
	cr_assert_eq(bits, 47);
	cr_assert_eq(base, (1ULL << 47) - (1ULL << 44));
	/* without 1 GiB pages, at most 40 bits */
	cr_assert_eq(ovmf_mmio64_window(SZ_4G, 32 * SZ_1G, &no1g, &base, &size, &bits), 0);
	cr_assert_eq(bits, 40);
	cr_assert_eq(base, 0xe000000000ULL);
	/* RAM above 4 GiB pushes the window up to the next multiple of its size */
	cr_assert_eq(ovmf_mmio64_window(SZ_4G + 40 * SZ_1G, 32 * SZ_1G, &none, &base, &size, &bits), 0);
	cr_assert_eq(base, 64 * SZ_1G);
	cr_assert_eq(size, 32 * SZ_1G);
	cr_assert_eq(bits, 37, "no leaf: as wide as the window needs");
	/* a size that is not a power of two aligns to the power below it */
	cr_assert_eq(ovmf_mmio64_window(SZ_4G, 48 * SZ_1G, &none, &base, &size, &bits), 0);
	cr_assert_eq(base, 32 * SZ_1G);
	cr_assert_eq(size, 48 * SZ_1G);
}

/*
 * Any size is answered without wrapping: 0 (no window asked for), 2^63
 * (aligned to 2^63, it would end at 2^64: base + size was 0) and sizes
 * near 2^64 (rounded up to 1 GiB they were 0, and clz(0) followed).
 */
Test(ovmf, mmio64_window_of_any_size_never_wraps)
{
	static const uint64_t too_large[] = {
		UINT64_MAX - SZ_1M + 1 /* 17592186044415M */, UINT64_MAX - SZ_1G + 2, UINT64_MAX,
		1ULL << 63, (1ULL << 63) + 1,
	};
	struct ovmf_cpu cpus[] = { { 0, "", false }, { 52, "GenuineIntel", true },
				   { 40, "AuthenticAMD", false } };
	uint64_t base = 7, size = 7;
	unsigned bits = 7;

	cr_assert_eq(ovmf_mmio64_window(SZ_4G, 0, &cpus[0], &base, &size, &bits), 0);
	cr_assert(base == 0 && size == 0, "none asked, none trusted: none");
	cr_assert_eq(ovmf_mmio64_window(SZ_4G, 0, &cpus[1], &base, &size, &bits), 0);
	cr_assert(base == (1ULL << 47) - (1ULL << 44) && size == 1ULL << 44, "the top eighth");
	for (unsigned c = 0; c < 3; c++)
		for (unsigned i = 0; i < sizeof(too_large) / sizeof(too_large[0]); i++) {
			base = size = 7;
			cr_assert_eq(ovmf_mmio64_window(SZ_4G, too_large[i], &cpus[c], &base, &size,
							&bits), -ERANGE,
				     "cpu %u, size 0x%llx: placed at 0x%llx, 0x%llx bytes", c,
				     (unsigned long long)too_large[i], (unsigned long long)base,
				     (unsigned long long)size);
			cr_assert(base == 7 && size == 7, "nothing set");
		}
	/* the largest that still ends below 2^64: 2^63 - 1 GiB, aligned to 2^62 */
	cr_assert_eq(ovmf_mmio64_window(SZ_4G, (1ULL << 63) - SZ_1G, &cpus[0], &base, &size,
					&bits), 0);
	cr_assert_eq(base, 1ULL << 62);
	cr_assert_eq(size, (1ULL << 63) - SZ_1G);
	cr_assert_eq(bits, 64, "an untrusted CPU: as wide as the window needs");
	/* RAM that ends near 2^64 leaves no room above it either */
	cr_assert_eq(ovmf_mmio64_window(UINT64_MAX - SZ_1M, 32 * SZ_1G, &cpus[0], &base, &size,
					&bits), -ERANGE);
}

/*
 * The 64-bit window OVMF's PCI bus driver needs. The GPU is an H100 as
 * its sysfs read on a real machine: BAR0 16 MiB, BAR2 128 GiB, BAR4 32
 * MiB, all 64-bit prefetchable; a virtio function has one 32 KiB BAR.
 */
#define H100(p) { p, 16 * SZ_1M }, { p, 128 * SZ_1G }, { p, 32 * SZ_1M }

Test(ovmf, mmio64_need_one_h100)
{
	struct ovmf_bar64 bars[] = { H100(0), { -1, 32 << 10 }, { -1, 32 << 10 } };
	uint64_t align;

	/* behind its port: 128 GiB, then 32 and 16 MiB; then the two virtio BARs, to 1 MiB */
	cr_assert_eq(ovmf_mmio64_need(bars, 5, &align), 128 * SZ_1G + 49 * SZ_1M);
	cr_assert_eq(align, 128 * SZ_1G);
	/* without virtio: the port's 48 MiB, nothing more */
	cr_assert_eq(ovmf_mmio64_need(bars, 3, &align), 128 * SZ_1G + 48 * SZ_1M);
}

Test(ovmf, mmio64_need_ports_align_to_their_largest_bar)
{
	struct ovmf_bar64 two[] = { H100(0), H100(1) };
	struct ovmf_bar64 four[] = { H100(0), H100(1), H100(2), H100(3) };
	uint64_t align;

	/* the second port's window starts at 256 GiB: a 1 TiB window holds four, not more */
	cr_assert_eq(ovmf_mmio64_need(two, 6, &align), 384 * SZ_1G + 48 * SZ_1M);
	cr_assert_eq(ovmf_mmio64_need(four, 12, &align), 896 * SZ_1G + 48 * SZ_1M);
	cr_assert_eq(align, 128 * SZ_1G);
	/* the same BARs on bus 0 pack with no gap */
	for (unsigned i = 0; i < 6; i++)
		two[i].port = -1;
	cr_assert_eq(ovmf_mmio64_need(two, 6, &align), 256 * SZ_1G + 96 * SZ_1M);
}

/*
 * --hotplug-reserve pref64: OVMF pads each free root port's window by it,
 * which lays out as one BAR of that size behind the port (vmm/q35.c).
 */
Test(ovmf, mmio64_need_counts_the_reservation_of_each_free_port)
{
	struct ovmf_bar64 bars[] = { H100(0), { 1, 64 * SZ_1G }, { 2, 64 * SZ_1G },
				     { 3, 64 * SZ_1G } };
	uint64_t align;

	/* the H100's port ends 48 MiB past 128 GiB: the three 64 GiB windows start at 192 GiB */
	cr_assert_eq(ovmf_mmio64_need(bars, 6, &align), 384 * SZ_1G);
	cr_assert_eq(align, 128 * SZ_1G);
	/* no --vfio: four free ports, packed with no gap */
	bars[0] = (struct ovmf_bar64){ 0, 64 * SZ_1G };
	cr_assert_eq(ovmf_mmio64_need(bars, 1, &align), 64 * SZ_1G);
	memmove(bars + 1, bars + 3, 3 * sizeof(bars[0]));
	cr_assert_eq(ovmf_mmio64_need(bars, 4, &align), 256 * SZ_1G);
	cr_assert_eq(align, 64 * SZ_1G);
}

Test(ovmf, mmio64_need_small_and_none)
{
	struct ovmf_bar64 bars[] = { { 2, 16 << 10 }, { 3, 256 * SZ_1M }, { 3, 64 << 10 },
				     { OVMF_MAX_PORTS, 32 << 10 } };
	uint64_t align;

	cr_assert_eq(ovmf_mmio64_need(bars, 0, &align), 0);
	/* a port's window is at least 1 MiB and 1 MiB aligned */
	cr_assert_eq(ovmf_mmio64_need(bars, 1, &align), SZ_1M);
	cr_assert_eq(align, SZ_1M);
	/* 256 MiB + 64 KiB rounds to 257 MiB; then the 1 MiB port, then bus 0's 32 KiB */
	cr_assert_eq(ovmf_mmio64_need(bars, 4, &align), 259 * SZ_1M);
	cr_assert_eq(align, 256 * SZ_1M);
}

Test(ovmf, vars_template_next_to_code)
{
	char out[64];

	cr_assert_str_eq(ovmf_vars_template("/usr/share/OVMF/OVMF_CODE_4M.fd", out, sizeof(out)),
			 "OVMF_VARS_4M.fd");
	cr_assert_str_eq(out, "/usr/share/OVMF/OVMF_VARS_4M.fd");
	cr_assert_str_eq(ovmf_vars_template("OVMF_CODE.fd", out, sizeof(out)), "OVMF_VARS.fd");
	/* CODE only counts in the file name, not in a directory */
	cr_assert_null(ovmf_vars_template("/CODE/firmware.bin", out, sizeof(out)));
	cr_assert_null(ovmf_vars_template("/usr/share/OVMF/OVMF_CODE_4M.fd", out, 10), "too long");
}

Test(ovmf, bootorder_lists_virtio_disks_as_qemu_does)
{
	const uint8_t slots[] = { 8, 0x1f };
	char out[128];

	cr_assert_eq(ovmf_bootorder_file(slots, 2, out, sizeof(out)), 56);
	cr_assert_str_eq(out, "/pci@i0cf8/scsi@8/disk@0,0\n/pci@i0cf8/scsi@1f/disk@0,0\n");
	cr_assert_eq(ovmf_bootorder_file(slots, 0, out, sizeof(out)), 1, "just the NUL");
	cr_assert_eq(ovmf_bootorder_file(slots, 2, out, 30), -ENOSPC);
}
