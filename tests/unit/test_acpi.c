// SPDX-License-Identifier: MIT
/*
 * ACPI tables and the AML encoder. The tables are read back the way an OS
 * reads them: from the RSDP, through guest addresses, at the offsets the
 * ACPI 6.x spec gives (not through acpi_tables.h), and the DSDT is walked
 * by a small AML parser that trusts nothing but the PkgLengths.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firmware/aml.h"
#include "firmware/firmware.h"
#include "core/layout.h"
#include "core/memory.h"

/* ---- helpers ---- */

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static struct guest_mem mem_new(void)
{
	struct guest_mem m = { .fd = -1, .nr = 1, .total = 2 * SZ_1M, .page_size = 4096 };

	m.region[0] = (struct guest_region){ .size = 2 * SZ_1M, .hva = calloc(1, 2 * SZ_1M) };
	cr_assert_not_null(m.region[0].hva);
	return m;
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
		.pci_mmio32_base = 0xc0000000,
		.pci_mmio32_size = 0x3ec00000,
		.pci_mmio64_base = 0x8000000000ULL,
		.pci_mmio64_size = 0x4000000000ULL,
	};
}

struct tables {
	struct guest_mem mem;
	const uint8_t *rsdp, *xsdt, *fadt, *facs, *dsdt, *madt, *mcfg;
};

/* A table's bytes, checked to lie wholly inside the ACPI area and to have a valid checksum. */
static const uint8_t *table_at(const struct tables *t, uint64_t gpa, const char *sig)
{
	const uint8_t *p;
	uint32_t len;

	cr_assert(gpa >= LAYOUT_ACPI && gpa + 36 <= LAYOUT_ACPI + LAYOUT_ACPI_SIZE,
		  "%s at %#llx is outside the ACPI area", sig, (unsigned long long)gpa);
	p = guest_mem_ptr(&t->mem, gpa, 36);
	cr_assert_eq(memcmp(p, sig, 4), 0, "expected %s at %#llx", sig, (unsigned long long)gpa);
	len = get32(p + 4);
	cr_assert(gpa + len <= LAYOUT_ACPI + LAYOUT_ACPI_SIZE, "%s runs off the area", sig);
	cr_assert_eq(sum(p, len), 0, "%s checksum", sig);
	return p;
}

static struct tables build(const struct acpi_config *cfg)
{
	struct tables t = { .mem = mem_new() };
	uint64_t rsdp = 0, xsdt;
	uint32_t n;

	cr_assert_eq(acpi_build(&t.mem, LAYOUT_ACPI, LAYOUT_ACPI_SIZE, cfg, &rsdp), 0);
	cr_assert(rsdp >= LAYOUT_ACPI && rsdp < LAYOUT_ACPI + LAYOUT_ACPI_SIZE && rsdp % 16 == 0);
	t.rsdp = guest_mem_ptr(&t.mem, rsdp, 36);
	cr_assert_eq(memcmp(t.rsdp, "RSD PTR ", 8), 0);
	cr_assert_eq(sum(t.rsdp, 20), 0, "RSDP checksum");
	cr_assert_eq(t.rsdp[15], 2, "RSDP revision");
	cr_assert_eq(get32(t.rsdp + 20), 36, "RSDP length");
	cr_assert_eq(sum(t.rsdp, 36), 0, "RSDP extended checksum");
	xsdt = get64(t.rsdp + 24);
	t.xsdt = table_at(&t, xsdt, "XSDT");
	n = (get32(t.xsdt + 4) - 36) / 8;
	cr_assert_eq(get32(t.xsdt + 4), 36 + 8 * n);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t gpa = get64(t.xsdt + 36 + 8 * i);
		const uint8_t *p = guest_mem_ptr(&t.mem, gpa, 4);

		cr_assert_not_null(p);
		if (!memcmp(p, "FACP", 4))
			t.fadt = table_at(&t, gpa, "FACP");
		else if (!memcmp(p, "APIC", 4))
			t.madt = table_at(&t, gpa, "APIC");
		else if (!memcmp(p, "MCFG", 4) && cfg->ecam_base)
			t.mcfg = table_at(&t, gpa, "MCFG");
		else
			cr_assert_fail("unexpected table %.4s in the XSDT", (const char *)p);
	}
	cr_assert_not_null(t.fadt, "no FADT");
	cr_assert_not_null(t.madt, "no MADT");
	/* Only the X_ pointers: a 32-bit one that disagrees, or repeats, confuses ACPICA. */
	cr_assert_eq(get32(t.fadt + 40), 0, "DSDT: X_DSDT only");
	cr_assert_eq(get32(t.fadt + 36), 0, "FIRMWARE_CTRL: X_FIRMWARE_CTRL only");
	t.dsdt = table_at(&t, get64(t.fadt + 140), "DSDT");
	t.facs = guest_mem_ptr(&t.mem, get64(t.fadt + 132), 64);
	cr_assert_not_null(t.facs);
	cr_assert_eq(memcmp(t.facs, "FACS", 4), 0);
	cr_assert_eq(get32(t.facs + 4), 64);
	cr_assert_eq(get64(t.fadt + 132) % 64, 0, "FACS is 64-byte aligned");
	return t;
}

static void tables_free(struct tables *t)
{
	free(t->mem.region[0].hva);
}

/* ---- the tables ---- */

Test(acpi, rsdp_xsdt_fadt_dsdt_facs_madt_chain)
{
	struct acpi_config cfg = config(2);
	struct tables t = build(&cfg);

	cr_assert_eq(get32(t.fadt + 4), 276, "FADT length for revision 6");
	cr_assert_eq(t.fadt[8], 6, "FADT revision");
	cr_assert_eq(t.dsdt[8], 2, "DSDT revision 2: 64-bit integers");
	tables_free(&t);
}

static void check_gas(const uint8_t *g, uint8_t bits, uint64_t port)
{
	cr_assert_eq(g[0], 1, "system I/O");
	cr_assert_eq(g[1], bits);
	cr_assert_eq(g[2], 0);
	cr_assert_eq(get64(g + 4), port);
}

Test(acpi, fadt_fields)
{
	struct acpi_config cfg = config(1);
	struct tables t = build(&cfg);
	const uint8_t *f = t.fadt;
	uint32_t flags = get32(f + 112);
	uint16_t boot = get16(f + 109);

	cr_assert_eq(get16(f + 46), IRQ_SCI, "SCI_INT");
	cr_assert_eq(get32(f + 48), 0, "SMI_CMD: always in ACPI mode");
	cr_assert_eq(get32(f + 56), PORT_PM_BASE, "PM1a_EVT_BLK");
	cr_assert_eq(get32(f + 64), PORT_PM_BASE + 4, "PM1a_CNT_BLK");
	cr_assert_eq(get32(f + 76), PORT_PM_BASE + 8, "PM_TMR_BLK");
	cr_assert_eq(get32(f + 60) | get32(f + 68) | get32(f + 72), 0, "no PM1b, no PM2");
	cr_assert_eq(f[88], 4, "PM1_EVT_LEN");
	cr_assert_eq(f[89], 2, "PM1_CNT_LEN");
	cr_assert_eq(f[91], 4, "PM_TMR_LEN");
	check_gas(f + 148, 32, PORT_PM_BASE);
	check_gas(f + 172, 16, PORT_PM_BASE + 4);
	check_gas(f + 208, 32, PORT_PM_BASE + 8);
	check_gas(f + 116, 8, PORT_RESET_CF9);
	cr_assert_eq(f[128], 0x06, "RESET_VALUE");
	cr_assert(flags & (1u << 10), "RESET_REG_SUP");
	cr_assert(flags & (1u << 0), "WBINVD");
	cr_assert(!(flags & (1u << 8)), "TMR_VAL_EXT: the timer is 24-bit");
	cr_assert(!(flags & (1u << 20)), "not hardware-reduced");
	cr_assert(!(flags & (1u << 4)), "fixed-hardware power button");
	cr_assert(flags & (1u << 5), "no sleep button");
	cr_assert(!(boot & (1u << 1)), "no 8042");
	cr_assert(boot & (1u << 2), "VGA not present");
	cr_assert(!(boot & (1u << 5)), "CMOS RTC present");
	cr_assert_gt(get16(f + 96), 100, "no C2");
	cr_assert_gt(get16(f + 98), 1000, "no C3");
	tables_free(&t);
}

struct madt_seen {
	unsigned lapics, ioapics, nmis;
	uint32_t apic_id_mask[8];
	bool irq0_to_gsi2, sci_level_high;
};

static void madt_entry(struct madt_seen *s, const uint8_t *e, unsigned ncpus)
{
	switch (e[0]) {
	case 0: /* processor local APIC */
		cr_assert_eq(e[1], 8);
		cr_assert_eq(e[2], e[3], "ACPI id = APIC id");
		cr_assert_lt(e[3], ncpus);
		cr_assert_eq(get32(e + 4) & 1, 1, "enabled");
		cr_assert_eq(s->apic_id_mask[e[3] / 32] & (1u << (e[3] % 32)), 0,
			     "duplicate APIC id");
		s->apic_id_mask[e[3] / 32] |= 1u << (e[3] % 32);
		s->lapics++;
		break;
	case 1: /* IOAPIC */
		cr_assert_eq(e[1], 12);
		cr_assert_eq(get32(e + 4), LAYOUT_IOAPIC);
		cr_assert_eq(get32(e + 8), 0, "GSI base");
		s->ioapics++;
		break;
	case 2: /* interrupt source override */
		cr_assert_eq(e[1], 10);
		cr_assert_eq(e[2], 0, "ISA");
		if (e[3] == 0)
			s->irq0_to_gsi2 = get32(e + 4) == 2 && (get16(e + 8) & 0xc) != 0xc;
		if (e[3] == IRQ_SCI)
			s->sci_level_high = get32(e + 4) == IRQ_SCI && get16(e + 8) == 0x000d;
		break;
	case 4: /* LAPIC NMI */
		cr_assert_eq(e[1], 6);
		cr_assert_eq(e[5], 1, "LINT1");
		s->nmis++;
		break;
	default:
		cr_assert_fail("unexpected MADT entry type %u", e[0]);
	}
}

static void check_madt(unsigned ncpus)
{
	struct acpi_config cfg = config(ncpus);
	struct tables t = build(&cfg);
	struct madt_seen s = { 0 };
	uint32_t len = get32(t.madt + 4);
	uint32_t off = 44;

	cr_assert_eq(get32(t.madt + 36), LAYOUT_LAPIC);
	cr_assert_eq(get32(t.madt + 40) & 1, 1, "PCAT_COMPAT");
	while (off < len) {
		cr_assert_geq(t.madt[off + 1], 2);
		cr_assert_leq(off + t.madt[off + 1], len, "entry runs off the table");
		madt_entry(&s, t.madt + off, ncpus);
		off += t.madt[off + 1];
	}
	cr_assert_eq(off, len);
	cr_assert_eq(s.lapics, ncpus);
	cr_assert_eq(s.ioapics, 1);
	cr_assert_eq(s.nmis, 1);
	cr_assert(s.irq0_to_gsi2, "IRQ0 -> GSI2 override");
	cr_assert(s.sci_level_high, "SCI level, active high");
	tables_free(&t);
}

Test(acpi, madt_1_cpu)
{
	check_madt(1);
}

Test(acpi, madt_2_cpus)
{
	check_madt(2);
}

Test(acpi, madt_64_cpus)
{
	check_madt(64);
}

Test(acpi, madt_max_cpus)
{
	check_madt(ACPI_MAX_CPUS);
}

Test(acpi, bad_config_is_einval)
{
	struct guest_mem m = mem_new();
	struct acpi_config cfg = config(0);
	uint64_t rsdp;

	cr_assert_eq(acpi_build(&m, LAYOUT_ACPI, LAYOUT_ACPI_SIZE, &cfg, &rsdp), -EINVAL);
	cfg = config(ACPI_MAX_CPUS + 1);
	cr_assert_eq(acpi_build(&m, LAYOUT_ACPI, LAYOUT_ACPI_SIZE, &cfg, &rsdp), -EINVAL);
	cfg = config(1);
	cfg.pci_mmio32_size = SZ_4G; /* crosses 4 GiB */
	cr_assert_eq(acpi_build(&m, LAYOUT_ACPI, LAYOUT_ACPI_SIZE, &cfg, &rsdp), -EINVAL);
	cfg = config(1);
	cr_assert_eq(acpi_build(&m, LAYOUT_ACPI + 8, LAYOUT_ACPI_SIZE, &cfg, &rsdp), -EINVAL,
		     "RSDP must be 16-byte aligned");
	free(m.region[0].hva);
}

static uint64_t end_of(const struct tables *t, const uint8_t *table, uint64_t len)
{
	return (uint64_t)(table - t->mem.region[0].hva) + len - LAYOUT_ACPI;
}

/* How many bytes of the area the tables take: the furthest end of any of them. */
static uint64_t tables_used(const struct tables *t)
{
	const uint8_t *sized[] = { t->xsdt, t->fadt, t->dsdt, t->madt };
	uint64_t used = end_of(t, t->rsdp, 36);

	if (end_of(t, t->facs, 64) > used)
		used = end_of(t, t->facs, 64);
	for (size_t i = 0; i < sizeof(sized) / sizeof(sized[0]); i++)
		if (end_of(t, sized[i], get32(sized[i] + 4)) > used)
			used = end_of(t, sized[i], get32(sized[i] + 4));
	return used;
}

Test(acpi, too_small_is_enospc)
{
	struct acpi_config cfg = config(4);
	struct tables t = build(&cfg);
	uint64_t used = tables_used(&t);
	uint64_t rsdp;

	cr_assert_eq(acpi_build(&t.mem, LAYOUT_ACPI, used, &cfg, &rsdp), 0, "exactly enough");
	cr_assert_eq(acpi_build(&t.mem, LAYOUT_ACPI, used - 1, &cfg, &rsdp), -ENOSPC);
	cr_assert_eq(acpi_build(&t.mem, LAYOUT_ACPI, 36, &cfg, &rsdp), -ENOSPC);
	cr_assert_eq(acpi_build(&t.mem, LAYOUT_ACPI, 0, &cfg, &rsdp), -ENOSPC);
	tables_free(&t);
	/* 255 CPUs still fit the layout's area. */
	cfg = config(ACPI_MAX_CPUS);
	t = build(&cfg);
	cr_assert_leq(tables_used(&t), LAYOUT_ACPI_SIZE);
	tables_free(&t);
}

Test(acpi, area_outside_ram_is_efault)
{
	struct guest_mem m = mem_new();
	struct acpi_config cfg = config(1);
	uint64_t rsdp;

	cr_assert_eq(acpi_build(&m, 2 * SZ_1M - 4096, 0x10000, &cfg, &rsdp), -EFAULT);
	free(m.region[0].hva);
}

Test(acpi, stale_rsdp_is_wiped)
{
	struct guest_mem m = mem_new();
	struct acpi_config cfg = config(1);
	uint8_t *area = guest_mem_ptr(&m, LAYOUT_ACPI, LAYOUT_ACPI_SIZE);
	uint64_t rsdp;
	unsigned found = 0;

	memset(area, 0xa5, LAYOUT_ACPI_SIZE);
	memcpy(area + 0x10000, "RSD PTR ", 8);
	cr_assert_eq(acpi_build(&m, LAYOUT_ACPI, LAYOUT_ACPI_SIZE, &cfg, &rsdp), 0);
	for (uint64_t off = 0; off < LAYOUT_ACPI_SIZE; off += 16)
		found += !memcmp(area + off, "RSD PTR ", 8);
	cr_assert_eq(found, 1, "exactly one RSDP for the scan to find");
	cr_assert_eq(area[LAYOUT_ACPI_SIZE - 1], 0);
	free(m.region[0].hva);
}

/* ---- a small AML reader ---- */

static uint32_t pkglen_decode(const uint8_t *p, unsigned *nbytes)
{
	unsigned follow = p[0] >> 6;
	uint32_t v;

	if (!follow) {
		*nbytes = 1;
		return p[0] & 0x3f;
	}
	cr_assert_eq(p[0] & 0x30, 0, "PkgLength reserved bits");
	v = p[0] & 0x0f;
	for (unsigned i = 0; i < follow; i++)
		v |= (uint32_t)p[1 + i] << (4 + 8 * i);
	*nbytes = follow + 1;
	return v;
}

/* Parses a NameString into "\\_SB_.PCI0"-style text relative to scope. */
static size_t namestring(const uint8_t *p, const char *scope, char *out, size_t outlen)
{
	const uint8_t *start = p;
	char rel[256] = "";
	bool root = false;
	unsigned nsegs = 1;

	if (*p == '\\') {
		root = true;
		p++;
	}
	if (*p == 0x2e) {
		nsegs = 2;
		p++;
	} else if (*p == 0x2f) {
		nsegs = p[1];
		p += 2;
	} else if (*p == 0) {
		nsegs = 0;
		p++;
	}
	for (unsigned i = 0; i < nsegs; i++) {
		if (i)
			strcat(rel, ".");
		strncat(rel, (const char *)p, 4);
		p += 4;
	}
	if (root)
		snprintf(out, outlen, "\\%s", rel);
	else
		snprintf(out, outlen, "%s%s%s", scope, strcmp(scope, "\\") ? "." : "", rel);
	return (size_t)(p - start);
}

/* Length of a DataRefObject: integer, string, Buffer or Package. */
static size_t data_len(const uint8_t *p)
{
	unsigned n;

	switch (p[0]) {
	case 0x00: case 0x01: case 0xff: return 1;
	case 0x0a: return 2;
	case 0x0b: return 3;
	case 0x0c: return 5;
	case 0x0e: return 9;
	case 0x0d: return 2 + strlen((const char *)p + 1);
	case 0x11: case 0x12: return 1 + pkglen_decode(p + 1, &n);
	}
	cr_assert_fail("unknown data object %#x", p[0]);
	return 0;
}

static uint64_t int_value(const uint8_t *p)
{
	switch (p[0]) {
	case 0x00: return 0;
	case 0x01: return 1;
	case 0xff: return UINT64_MAX;
	case 0x0a: return p[1];
	case 0x0b: return get16(p + 1);
	case 0x0c: return get32(p + 1);
	case 0x0e: return get64(p + 1);
	}
	cr_assert_fail("not an integer: %#x", p[0]);
	return 0;
}

struct aml_name {
	char path[64];
	const uint8_t *data;   /* NULL for a Device, Scope or Method */
	const uint8_t *method; /* a Method's MethodFlags, then its body */
	size_t method_len;
};

struct aml_walk {
	struct aml_name names[1024];
	unsigned n;
};

static void walk(struct aml_walk *w, const char *scope, const uint8_t *p, size_t len);

/* Scope or Device: PkgLength, NameString, then a TermList to the package's end. */
static size_t walk_package_obj(struct aml_walk *w, const char *scope, const uint8_t *p,
			       size_t room)
{
	struct aml_name *nm = &w->names[w->n++];
	unsigned n;
	uint32_t plen = pkglen_decode(p, &n);
	size_t name_len;

	cr_assert_leq(plen, room, "package overruns its parent");
	name_len = namestring(p + n, scope, nm->path, sizeof(nm->path));
	nm->data = NULL;
	nm->method = NULL;
	walk(w, nm->path, p + n + name_len, plen - n - name_len);
	return plen;
}

/* Method: PkgLength, NameString, MethodFlags, a body walked by asl() instead. */
static size_t walk_method(struct aml_walk *w, const char *scope, const uint8_t *p, size_t room)
{
	struct aml_name *nm = &w->names[w->n++];
	unsigned n;
	uint32_t plen = pkglen_decode(p, &n);
	size_t name_len;

	cr_assert_leq(plen, room, "method overruns its parent");
	name_len = namestring(p + n, scope, nm->path, sizeof(nm->path));
	nm->data = NULL;
	nm->method = p + n + name_len;
	nm->method_len = plen - n - name_len;
	return plen;
}

static void walk(struct aml_walk *w, const char *scope, const uint8_t *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		const uint8_t *q = p + off;

		cr_assert_lt(w->n, 1024);
		if (q[0] == 0x08) {
			struct aml_name *nm = &w->names[w->n++];
			size_t nl = namestring(q + 1, scope, nm->path, sizeof(nm->path));

			nm->data = q + 1 + nl;
			nm->method = NULL;
			off += 1 + nl + data_len(nm->data);
		} else if (q[0] == 0x10) {
			off += 1 + walk_package_obj(w, scope, q + 1, len - off - 1);
		} else if (q[0] == 0x5b && q[1] == 0x82) {
			off += 2 + walk_package_obj(w, scope, q + 2, len - off - 2);
		} else if (q[0] == 0x14) {
			off += 1 + walk_method(w, scope, q + 1, len - off - 1);
		} else {
			cr_assert_fail("unknown opcode %#x at %zu", q[0], off);
		}
	}
	cr_assert_eq(off, len, "term list does not end where its package does");
}

static const struct aml_name *find(const struct aml_walk *w, const char *path)
{
	for (unsigned i = 0; i < w->n; i++)
		if (!strcmp(w->names[i].path, path))
			return &w->names[i];
	return NULL;
}

/* Devices \_SB_.Cxxx with xxx hex: the processor devices. */
static unsigned count_cpus(const struct aml_walk *w)
{
	unsigned n = 0;

	for (unsigned i = 0; i < w->n; i++) {
		const char *p = w->names[i].path;

		if (!w->names[i].data && strlen(p) == 10 && !strncmp(p, "\\_SB_.C", 7) &&
		    isxdigit(p[7]) && isxdigit(p[8]) && isxdigit(p[9]))
			n++;
	}
	return n;
}

static void walk_dsdt(struct aml_walk *w, const struct tables *t)
{
	w->n = 0;
	walk(w, "\\", t->dsdt + 36, get32(t->dsdt + 4) - 36);
}

/* A Buffer's contents: the BufferSize must match the package. */
static const uint8_t *buffer_data(const uint8_t *p, size_t *len)
{
	unsigned n;
	uint32_t plen;
	size_t size_len;

	cr_assert_eq(p[0], 0x11, "not a Buffer");
	plen = pkglen_decode(p + 1, &n);
	size_len = data_len(p + 1 + n);
	*len = int_value(p + 1 + n);
	cr_assert_eq(n + size_len + *len, plen, "BufferSize disagrees with PkgLength");
	return p + 1 + n + size_len;
}

/* ---- the DSDT ---- */

/*
 * A method body back to ASL-like text, for the terms our methods use:
 * each PkgLength must end exactly where its terms do.
 */
struct asl {
	const uint8_t *p, *end;
	char out[1024];
};

static void asl_put(struct asl *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void asl_put(struct asl *d, const char *fmt, ...)
{
	size_t used = strlen(d->out);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->out + used, sizeof(d->out) - used, fmt, ap);
	va_end(ap);
}

static void asl_term(struct asl *d);

/* "Op(" term, term... ")" for an operator of nargs operands. */
static void asl_op(struct asl *d, const char *name, unsigned nargs)
{
	asl_put(d, "%s(", name);
	for (unsigned i = 0; i < nargs; i++) {
		if (i)
			asl_put(d, ",");
		asl_term(d);
	}
	asl_put(d, ")");
}

/* A PkgLength'd block: its TermList, up to the end it gives, in braces. */
static void asl_block(struct asl *d, const char *name, bool predicate)
{
	unsigned n;
	const uint8_t *end = d->p + pkglen_decode(d->p, &n), *outer = d->end;

	cr_assert_leq(end, outer, "%s overruns its parent", name);
	d->p += n;
	d->end = end;
	asl_put(d, "%s", name);
	if (predicate)
		asl_op(d, "", 1);
	asl_put(d, "{");
	while (d->p < end)
		asl_term(d);
	cr_assert_eq(d->p, end, "%s's terms do not end where its PkgLength does", name);
	asl_put(d, "}");
	d->end = outer;
}

static void asl_buffer(struct asl *d)
{
	size_t len;
	const uint8_t *b = buffer_data(d->p, &len);
	unsigned n;

	asl_put(d, "Buffer(");
	for (size_t i = 0; i < len; i++)
		asl_put(d, "%02X", b[i]);
	asl_put(d, ")");
	d->p += 1 + pkglen_decode(d->p + 1, &n);
}

static void asl_term(struct asl *d)
{
	uint8_t op = *d->p;
	char name[64];

	cr_assert_lt(d->p, d->end, "a term is missing");
	if (op == 0x11) {
		asl_buffer(d);
		return;
	}
	if (op <= 0x01 || op == 0x0a || op == 0x0b || op == 0x0c || op == 0x0e) {
		asl_put(d, "%#llx", (unsigned long long)int_value(d->p));
		d->p += data_len(d->p);
		return;
	}
	if ((op >= 'A' && op <= 'Z') || op == '_' || op == '\\' || op == '^') {
		d->p += namestring(d->p, "", name, sizeof(name));
		asl_put(d, "%s", name + (name[0] == '.')); /* relative: no scope before it */
		return;
	}
	d->p++;
	switch (op) {
	case 0x68: case 0x69: case 0x6a: case 0x6b: case 0x6c: case 0x6d: case 0x6e:
		asl_put(d, "Arg%d", op - 0x68); break;
	case 0x7d: asl_op(d, "Or", 3); break;
	case 0x8a: asl_op(d, "CreateDWordField", 3); break;
	case 0x93: asl_op(d, "LEqual", 2); break;
	case 0xa4: asl_op(d, "Return", 1); break;
	case 0xa0: asl_block(d, "If", true); break;
	case 0xa1: asl_block(d, "Else", false); break;
	default: cr_assert_fail("opcode %#x is not one our methods use", op);
	}
}

static const char *asl(const struct aml_name *method)
{
	static struct asl d;

	cr_assert_not_null(method);
	cr_assert_not_null(method->method, "%s is not a method", method->path);
	d = (struct asl){ .p = method->method + 1, .end = method->method + method->method_len };
	while (d.p < d.end)
		asl_term(&d);
	return d.out;
}

Test(acpi, dsdt_s5)
{
	static const uint8_t s5[] = {
		0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00,
	};
	struct acpi_config cfg = config(1);
	struct tables t = build(&cfg);
	uint32_t len = get32(t.dsdt + 4);

	cr_assert_not_null(memmem(t.dsdt + 36, len - 36, s5, sizeof(s5)),
			   "Name(_S5, Package(4){5, 5, 0, 0})");
	tables_free(&t);
}

Test(acpi, dsdt_walks_and_names_resolve)
{
	struct acpi_config cfg = config(64);
	struct tables t = build(&cfg);
	static struct aml_walk w;
	const struct aml_name *nm;

	walk_dsdt(&w, &t);
	cr_assert_not_null(find(&w, "\\_S5_"));
	cr_assert_not_null(find(&w, "\\_SB_"));
	cr_assert_not_null(find(&w, "\\_SB_.PCI0"));
	nm = find(&w, "\\_SB_.PCI0._HID");
	cr_assert_not_null(nm);
	cr_assert_eq(int_value(nm->data), 0x030ad041, "EISAID(PNP0A03)");
	cr_assert_eq(int_value(find(&w, "\\_SB_.PCI0._BBN")->data), 0);
	cr_assert_eq(int_value(find(&w, "\\_SB_.PCI0._UID")->data), 0);
	cr_assert_eq(int_value(find(&w, "\\_SB_.PCI0._ADR")->data), 0);
	nm = find(&w, "\\_SB_.COM1._HID");
	cr_assert_not_null(nm);
	cr_assert_eq(int_value(nm->data), 0x0105d041, "EISAID(PNP0501)");
	cr_assert_eq(int_value(find(&w, "\\_SB_.COM1._UID")->data), 1);
	cr_assert_eq(int_value(find(&w, "\\_SB_.RTC_._HID")->data), 0x000bd041, "PNP0B00");
	cr_assert_eq(count_cpus(&w), 64, "one processor device per CPU");
	nm = find(&w, "\\_SB_.C03F._UID");
	cr_assert_not_null(nm);
	cr_assert_eq(int_value(nm->data), 63);
	cr_assert_str_eq((const char *)find(&w, "\\_SB_.C03F._HID")->data + 1, "ACPI0007");
	tables_free(&t);
}

/* Resource descriptors of a _CRS, one call per descriptor. */
struct res_iter {
	const uint8_t *p, *end;
};

static const uint8_t *res_next(struct res_iter *it, size_t *len)
{
	const uint8_t *d = it->p;

	cr_assert_lt(d, it->end);
	*len = d[0] & 0x80 ? 3u + get16(d + 1) : 1u + (d[0] & 7u);
	cr_assert_leq(d + *len, it->end);
	it->p += *len;
	return d;
}

static void check_space(const uint8_t *d, uint8_t tag, uint8_t type, unsigned w, uint64_t min,
			uint64_t max)
{
	uint64_t v[5] = { 0 };

	cr_assert_eq(d[0], tag);
	cr_assert_eq(get16(d + 1), 3 + 5 * w);
	cr_assert_eq(d[3], type);
	cr_assert_eq(d[4] & 0x0d, 0x0c, "producer, fixed min and max");
	for (unsigned i = 0; i < 5; i++)
		memcpy(&v[i], d + 6 + i * w, w);
	cr_assert_eq(v[1], min);
	cr_assert_eq(v[2], max);
	cr_assert_eq(v[3], 0, "no translation");
	cr_assert_eq(v[4], max - min + 1, "length");
}

static void check_pci0_crs(const struct aml_walk *w, const struct acpi_config *cfg)
{
	const struct aml_name *crs = find(w, "\\_SB_.PCI0._CRS");
	struct res_iter it;
	const uint8_t *d;
	size_t len;

	cr_assert_not_null(crs);
	it.p = buffer_data(crs->data, &len);
	it.end = it.p + len;
	check_space(res_next(&it, &len), 0x88, 2, 2, 0, 0xff);
	d = res_next(&it, &len);
	cr_assert_eq(len, 8);
	cr_assert_eq(d[0], 0x47);
	cr_assert_eq(get16(d + 2), 0xcf8);
	cr_assert_eq(get16(d + 4), 0xcf8);
	cr_assert_eq(d[7], 8);
	check_space(res_next(&it, &len), 0x88, 1, 2, 0, 0xcf7);
	check_space(res_next(&it, &len), 0x88, 1, 2, 0xd00, 0xffff);
	check_space(res_next(&it, &len), 0x87, 0, 4, cfg->pci_mmio32_base,
		    cfg->pci_mmio32_base + cfg->pci_mmio32_size - 1);
	if (cfg->pci_mmio64_size)
		check_space(res_next(&it, &len), 0x8a, 0, 8, cfg->pci_mmio64_base,
			    cfg->pci_mmio64_base + cfg->pci_mmio64_size - 1);
	d = res_next(&it, &len);
	cr_assert_eq(d[0], 0x79, "EndTag last");
	cr_assert_eq(it.p, it.end);
}

Test(acpi, dsdt_pci0_crs)
{
	struct acpi_config cfg = config(2);
	struct tables t = build(&cfg);
	static struct aml_walk w;

	walk_dsdt(&w, &t);
	check_pci0_crs(&w, &cfg);
	tables_free(&t);
}

Test(acpi, dsdt_pci0_crs_without_64bit_window)
{
	struct acpi_config cfg = config(2);
	struct tables t;
	static struct aml_walk w;

	cfg.pci_mmio64_size = 0;
	t = build(&cfg);
	walk_dsdt(&w, &t);
	check_pci0_crs(&w, &cfg);
	tables_free(&t);
}

Test(acpi, dsdt_com1)
{
	struct acpi_config cfg = config(1);
	struct tables t;
	static struct aml_walk w;
	struct res_iter it;
	const uint8_t *d;
	size_t len;

	cfg.com1_port = 0x2f8;
	cfg.com1_irq = 3;
	t = build(&cfg);
	walk_dsdt(&w, &t);
	it.p = buffer_data(find(&w, "\\_SB_.COM1._CRS")->data, &len);
	it.end = it.p + len;
	d = res_next(&it, &len);
	cr_assert_eq(d[0], 0x47);
	cr_assert_eq(get16(d + 2), 0x2f8);
	cr_assert_eq(d[7], 8);
	d = res_next(&it, &len);
	cr_assert_eq(d[0], 0x22);
	cr_assert_eq(get16(d + 1), 1u << 3);
	tables_free(&t);

	cfg.com1_port = 0;
	t = build(&cfg);
	walk_dsdt(&w, &t);
	cr_assert_null(find(&w, "\\_SB_.COM1"), "no COM1 when com1_port is 0");
	tables_free(&t);
}

/* ---- the AML encoder ---- */

Test(aml, pkglen_boundaries)
{
	static const struct {
		uint32_t value;
		int n;
		uint8_t bytes[4];
	} cases[] = {
		{ 0, 1, { 0x00 } },
		{ 63, 1, { 0x3f } },
		{ 64, 2, { 0x40, 0x04 } },
		{ 4095, 2, { 0x4f, 0xff } },
		{ 4096, 3, { 0x80, 0x00, 0x01 } },
		{ 0xfffff, 3, { 0x8f, 0xff, 0xff } },
		{ 0x100000, 4, { 0xc0, 0x00, 0x00, 0x01 } },
		{ 0xfffffff, 4, { 0xcf, 0xff, 0xff, 0xff } },
	};
	uint8_t out[4];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 0xee, sizeof(out));
		cr_assert_eq(aml_pkglen_encode(cases[i].value, out), cases[i].n, "value %#x",
			     cases[i].value);
		cr_assert_eq(memcmp(out, cases[i].bytes, (size_t)cases[i].n), 0, "value %#x",
			     cases[i].value);
	}
	cr_assert_eq(aml_pkglen_encode(0x10000000, out), -E2BIG);
}

/* A Scope around body bytes: the PkgLength must count itself and the body. */
static void scope_with_body(size_t body, unsigned want_n)
{
	struct aml a;
	uint8_t *fill = calloc(1, body);
	size_t mark;
	unsigned n;

	aml_init(&a);
	mark = aml_scope_begin(&a, "\\");
	aml_bytes(&a, fill, body - 2); /* "\" and NullName are 2 bytes of the body */
	aml_end(&a, mark);
	cr_assert_eq(aml_error(&a), 0);
	cr_assert_eq(a.buf[0], 0x10);
	cr_assert_eq(pkglen_decode(a.buf + 1, &n), a.len - 1, "body %zu", body);
	cr_assert_eq(n, want_n, "body %zu: %u-byte PkgLength", body, n);
	cr_assert_eq(a.buf[1 + n], '\\');
	aml_free(&a);
	free(fill);
}

Test(aml, pkglen_fixup_at_the_boundaries)
{
	scope_with_body(62, 1);     /* 63 with the PkgLength */
	scope_with_body(63, 2);     /* 64 does not fit one byte */
	scope_with_body(4093, 2);   /* 4095 */
	scope_with_body(4094, 3);   /* 4096 */
	scope_with_body(0xffffc, 3);
	scope_with_body(0xffffd, 4);
}

Test(aml, nested_objects_get_their_lengths)
{
	struct aml a;
	static struct aml_walk w;
	size_t s1, d1, d2, pkg;
	char name[5];

	aml_init(&a);
	s1 = aml_scope_begin(&a, "\\_SB");
	d1 = aml_device_begin(&a, "PCI0");
	aml_name_eisaid(&a, "_HID", "PNP0A03");
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "D%03d", i);
		d2 = aml_device_begin(&a, name);
		aml_name_integer(&a, "_ADR", (uint64_t)i << 16);
		aml_name(&a, "PKG");
		pkg = aml_package_begin(&a, 2);
		aml_integer(&a, 0x123456789ULL);
		aml_string(&a, "x");
		aml_end(&a, pkg);
		aml_end(&a, d2);
	}
	aml_end(&a, d1);
	aml_end(&a, s1);
	cr_assert_eq(aml_error(&a), 0);
	cr_assert_gt(a.len, 4096, "big enough for a 3-byte PkgLength outside");
	w.n = 0;
	walk(&w, "\\", a.buf, a.len);
	cr_assert_not_null(find(&w, "\\_SB_.PCI0._HID"));
	cr_assert_eq(int_value(find(&w, "\\_SB_.PCI0.D199._ADR")->data), 199u << 16);
	cr_assert_eq(int_value(find(&w, "\\_SB_.PCI0.D000._ADR")->data), 0);
	aml_free(&a);
}

static void check_bytes(void (*emit)(struct aml *), const uint8_t *want, size_t n)
{
	struct aml a;

	aml_init(&a);
	emit(&a);
	cr_assert_eq(aml_error(&a), 0);
	cr_assert_eq(a.len, n, "length %zu, want %zu", a.len, n);
	cr_assert_eq(memcmp(a.buf, want, n), 0);
	aml_free(&a);
}

static void emit_paths(struct aml *a)
{
	aml_namestring(a, "\\_SB.PCI0");
	aml_namestring(a, "_S5");
	aml_namestring(a, "\\_SB.PCI0.COM1");
	aml_namestring(a, "^^FOO");
	aml_namestring(a, "\\");
}

Test(aml, namestrings)
{
	static const uint8_t want[] = {
		'\\', 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0',
		'_', 'S', '5', '_',
		'\\', 0x2f, 3, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 'C', 'O', 'M', '1',
		'^', '^', 'F', 'O', 'O', '_',
		'\\', 0x00,
	};

	check_bytes(emit_paths, want, sizeof(want));
}

Test(aml, bad_names_are_einval)
{
	static const char *const bad[] = { "1ABC", "ABCDE", "abc", "A..B", "\\_SB.", ".A", "" };
	struct aml a;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&a);
		aml_name_integer(&a, bad[i], 1);
		if (bad[i][0] == '\0') /* an empty relative path is a NullName: fine */
			cr_assert_eq(aml_error(&a), 0);
		else
			cr_assert_eq(aml_error(&a), -EINVAL, "\"%s\" accepted", bad[i]);
		aml_free(&a);
	}
}

static void emit_integers(struct aml *a)
{
	aml_integer(a, 0);
	aml_integer(a, 1);
	aml_integer(a, UINT64_MAX);
	aml_integer(a, 2);
	aml_integer(a, 0xff);
	aml_integer(a, 0x100);
	aml_integer(a, 0x10000);
	aml_integer(a, 0x100000000ULL);
	aml_string(a, "ab");
	aml_eisaid(a, "PNP0A03");
}

Test(aml, integers_strings_eisaid)
{
	static const uint8_t want[] = {
		0x00, 0x01, 0xff, 0x0a, 0x02, 0x0a, 0xff, 0x0b, 0x00, 0x01,
		0x0c, 0x00, 0x00, 0x01, 0x00,
		0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
		0x0d, 'a', 'b', 0x00,
		0x0c, 0x41, 0xd0, 0x0a, 0x03,
	};

	check_bytes(emit_integers, want, sizeof(want));
}

static void emit_small_buffer(struct aml *a)
{
	size_t b = aml_buffer_begin(a);

	aml_bytes(a, "xyz", 3);
	aml_buffer_end(a, b);
}

static void emit_restemplate(struct aml *a)
{
	size_t rt = aml_restemplate_begin(a);

	aml_res_io(a, 0x3f8, 8);
	aml_res_irq_noflags(a, 4);
	aml_res_interrupt(a, false, false, true, 9);
	aml_restemplate_end(a, rt);
}

Test(aml, buffers_and_resource_templates)
{
	static const uint8_t small[] = { 0x11, 0x06, 0x0a, 0x03, 'x', 'y', 'z' };
	static const uint8_t rt[] = {
		0x11, 0x19, 0x0a, 0x16,
		0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,
		0x22, 0x10, 0x00,
		0x89, 0x06, 0x00, 0x09, 0x01, 0x09, 0x00, 0x00, 0x00,
		0x79, 0x00,
	};

	check_bytes(emit_small_buffer, small, sizeof(small));
	check_bytes(emit_restemplate, rt, sizeof(rt));
}

static void emit_method(struct aml *a)
{
	size_t m = aml_method_begin(a, "_OSC", 4, true), i, e;

	i = aml_if_begin(a);
	aml_lequal(a);
	aml_arg(a, 1);
	aml_integer(a, 1);
	aml_return(a);
	aml_arg(a, 3);
	aml_end(a, i);
	e = aml_else_begin(a);
	aml_or(a);
	aml_namestring(a, "CDW1");
	aml_integer(a, 4);
	aml_namestring(a, "CDW1");
	aml_end(a, e);
	aml_create_dword_field(a, 3, 4, "CDW2");
	aml_end(a, m);
}

static void emit_uuid(struct aml *a)
{
	aml_uuid(a, "33db4d5b-1ff7-401c-9657-7441c03dd766");
}

/* ACPI 6.x, 20.2.5: each If, Else and Method has its PkgLength right after its opcode. */
Test(aml, methods_and_their_terms)
{
	static const uint8_t method[] = {
		0x14, 0x22, '_', 'O', 'S', 'C', 0x0c,            /* Method, 4 args, Serialized */
		0xa0, 0x06, 0x93, 0x69, 0x01, 0xa4, 0x6b,        /* If (LEqual (Arg1, One)) { Return (Arg3) } */
		0xa1, 0x0c, 0x7d, 'C', 'D', 'W', '1', 0x0a, 0x04, 'C', 'D', 'W', '1', /* Else { Or } */
		0x8a, 0x6b, 0x0a, 0x04, 'C', 'D', 'W', '2',      /* CreateDWordField (Arg3, 4, CDW2) */
	};
	/* ToUUID: the first three groups byte-swapped, the rest as written */
	static const uint8_t uuid[] = {
		0x11, 0x13, 0x0a, 0x10, 0x5b, 0x4d, 0xdb, 0x33, 0xf7, 0x1f, 0x1c, 0x40,
		0x96, 0x57, 0x74, 0x41, 0xc0, 0x3d, 0xd7, 0x66,
	};

	check_bytes(emit_method, method, sizeof(method));
	check_bytes(emit_uuid, uuid, sizeof(uuid));
}

Test(aml, bad_uuids_args_and_arg_counts_are_einval)
{
	static const char *const bad[] = {
		"33DB4D5B-1FF7-401C-9657-7441C03DD76", "33DB4D5B-1FF7-401C-9657-7441C03DD7666",
		"33DB4D5B+1FF7-401C-9657-7441C03DD766", "G3DB4D5B-1FF7-401C-9657-7441C03DD766",
		"33DB4D5B-1FF7-401C-9657-7441C03DD7 6",
	};
	struct aml a;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&a);
		aml_uuid(&a, bad[i]);
		cr_assert_eq(aml_error(&a), -EINVAL, "\"%s\" accepted", bad[i]);
		aml_free(&a);
	}
	aml_init(&a);
	aml_arg(&a, 7);
	cr_assert_eq(aml_error(&a), -EINVAL, "there is no Arg7");
	aml_free(&a);
	aml_init(&a);
	aml_method_begin(&a, "M", 8, false);
	cr_assert_eq(aml_error(&a), -EINVAL, "a method takes at most 7 arguments");
	aml_free(&a);
}

Test(aml, big_buffer_gets_word_size_and_2_byte_pkglen)
{
	struct aml a;
	uint8_t data[300];
	size_t b, len;
	const uint8_t *p;

	memset(data, 0x5a, sizeof(data));
	aml_init(&a);
	b = aml_buffer_begin(&a);
	aml_bytes(&a, data, sizeof(data));
	aml_buffer_end(&a, b);
	cr_assert_eq(aml_error(&a), 0);
	cr_assert_eq(a.len, 1 + 2 + 3 + 300);
	cr_assert_eq(a.buf[3], 0x0b, "WordPrefix size");
	p = buffer_data(a.buf, &len);
	cr_assert_eq(len, 300);
	cr_assert_eq(memcmp(p, data, 300), 0);
	aml_free(&a);
}

Test(aml, bad_descriptors_are_einval)
{
	struct aml a;

	aml_init(&a);
	aml_res_irq_noflags(&a, 16);
	cr_assert_eq(aml_error(&a), -EINVAL);
	aml_free(&a);
	aml_init(&a);
	aml_res_word_io(&a, 0, 0xffff); /* length 0x10000 does not fit a word */
	cr_assert_eq(aml_error(&a), -EINVAL);
	aml_free(&a);
	aml_init(&a);
	aml_eisaid(&a, "PNP0A0");
	cr_assert_eq(aml_error(&a), -EINVAL);
	aml_free(&a);
}

/* ---- the Q35 additions: MCFG, PCIe root bridge, _PRT ---- */

static struct acpi_config q35_config(void)
{
	struct acpi_config cfg = config(2);

	cfg.ecam_base = 0xb0000000;
	cfg.ecam_end_bus = 255;
	cfg.pci_prt = true;
	return cfg;
}

Test(acpi, mcfg_describes_the_ecam_window)
{
	struct acpi_config cfg = q35_config();
	struct tables t = build(&cfg);

	cr_assert_not_null(t.mcfg, "no MCFG in the XSDT");
	cr_assert_eq(get32(t.mcfg + 4), 36 + 8 + 16);
	cr_assert_eq(get64(t.mcfg + 44), 0xb0000000, "base");
	cr_assert_eq(get16(t.mcfg + 52), 0, "segment");
	cr_assert_eq(t.mcfg[54], 0, "first bus");
	cr_assert_eq(t.mcfg[55], 255, "last bus");
	tables_free(&t);
	/* and none without ECAM */
	cfg = config(2);
	t = build(&cfg);
	cr_assert_null(t.mcfg);
	tables_free(&t);
}

Test(acpi, ecam_must_be_aligned_to_its_size)
{
	struct acpi_config cfg = q35_config();
	struct guest_mem mem = mem_new();
	uint64_t rsdp;

	cfg.ecam_base = 0xb8000000; /* 256 buses need 256 MiB alignment */
	cr_assert_eq(acpi_build(&mem, LAYOUT_ACPI, LAYOUT_ACPI_SIZE, &cfg, &rsdp), -EINVAL);
	cfg.ecam_end_bus = 63; /* 64 MiB */
	cr_assert_eq(acpi_build(&mem, LAYOUT_ACPI, LAYOUT_ACPI_SIZE, &cfg, &rsdp), 0);
	free(mem.region[0].hva);
}

/* A Package's elements: the count, and the first element. */
static const uint8_t *package_elems(const uint8_t *p, unsigned *count)
{
	unsigned n;

	cr_assert_eq(p[0], 0x12, "not a Package");
	pkglen_decode(p + 1, &n);
	*count = p[1 + n];
	return p + 2 + n;
}

Test(acpi, q35_dsdt_has_a_pcie_root_bridge_prt_and_reserved_ecam)
{
	struct acpi_config cfg = q35_config();
	struct tables t = build(&cfg);
	static struct aml_walk w;
	const struct aml_name *nm;
	const uint8_t *e, *f;
	unsigned n, m, seen[32][4] = { { 0 } };
	struct res_iter it;
	size_t len;

	walk_dsdt(&w, &t);
	cr_assert_eq(int_value(find(&w, "\\_SB_.PCI0._HID")->data), 0x080ad041, "PNP0A08");
	cr_assert_eq(int_value(find(&w, "\\_SB_.PCI0._CID")->data), 0x030ad041, "PNP0A03");
	check_pci0_crs(&w, &cfg);
	nm = find(&w, "\\_SB_.PCI0._PRT");
	cr_assert_not_null(nm, "no _PRT");
	e = package_elems(nm->data, &n);
	cr_assert_eq(n, 128, "4 pins of 32 slots");
	for (unsigned i = 0; i < n; i++) {
		uint64_t addr, pin, src, gsi;

		f = package_elems(e, &m);
		cr_assert_eq(m, 4);
		addr = int_value(f);
		f += data_len(f);
		pin = int_value(f);
		f += data_len(f);
		src = int_value(f);
		f += data_len(f);
		gsi = int_value(f);
		cr_assert_eq(addr & 0xffff, 0xffff, "any function");
		cr_assert_lt(addr >> 16, 32);
		cr_assert_lt(pin, 4);
		cr_assert_eq(src, 0, "a GSI, not a link device");
		cr_assert(gsi >= 16 && gsi < 24, "an IOAPIC pin no ISA device uses");
		cr_assert_eq(gsi, acpi_prt_gsi((unsigned)(addr >> 16), (unsigned)pin));
		seen[addr >> 16][pin]++;
		e += data_len(e);
	}
	for (unsigned s = 0; s < 32; s++)
		for (unsigned p = 0; p < 4; p++)
			cr_assert_eq(seen[s][p], 1, "slot %u pin %u once", s, p);
	/* neighbouring slots' INTA land on different GSIs (the swizzle) */
	cr_assert_neq(acpi_prt_gsi(1, 0), acpi_prt_gsi(2, 0));
	/* the ECAM window reserved as a motherboard resource */
	cr_assert_eq(int_value(find(&w, "\\_SB_.MCFG._HID")->data), 0x020cd041, "PNP0C02");
	nm = find(&w, "\\_SB_.MCFG._CRS");
	cr_assert_not_null(nm);
	it.p = buffer_data(nm->data, &len);
	it.end = it.p + len;
	check_space(res_next(&it, &len), 0x8a, 0, 8, 0xb0000000, 0xbfffffff);
	tables_free(&t);
}

/*
 * Linux binds pciehp, AER and PME only if the host bridge's _OSC grants
 * them: for the PCI host bridge UUID (in ToUUID's byte order) and revision
 * 1, Arg3 back as it came, every control asked for granted; bit 3 of the
 * first DWORD for another revision, bit 2 for another UUID (ACPI 6.2.11).
 */
Test(acpi, q35_host_bridge_osc_grants_what_the_os_asks)
{
	struct acpi_config cfg = q35_config();
	struct tables t = build(&cfg);
	static struct aml_walk w;
	const struct aml_name *osc;

	walk_dsdt(&w, &t);
	osc = find(&w, "\\_SB_.PCI0._OSC");
	cr_assert_not_null(osc, "no _OSC");
	cr_assert_not_null(osc->method, "_OSC is not a method");
	cr_assert_eq(osc->method[0], 0x0c, "4 arguments, Serialized (it creates CDW1)");
	cr_assert_str_eq(asl(osc),
			 "CreateDWordField(Arg3,0,CDW1)"
			 "If(LEqual(Arg0,Buffer(5B4DDB33F71F1C4096577441C03DD766))){"
			 "If(LEqual(Arg1,0x1)){Return(Arg3)}"
			 "Or(CDW1,0x8,CDW1)}"
			 "Else{Or(CDW1,0x4,CDW1)}"
			 "Return(Arg3)");
	tables_free(&t);
}

Test(acpi, the_direct_boot_dsdt_stays_without_q35_parts)
{
	struct acpi_config cfg = config(2);
	struct tables t = build(&cfg);
	static struct aml_walk w;

	walk_dsdt(&w, &t);
	cr_assert_null(find(&w, "\\_SB_.PCI0._PRT"));
	cr_assert_null(find(&w, "\\_SB_.PCI0._CID"));
	cr_assert_null(find(&w, "\\_SB_.PCI0._OSC"), "a PCI host bridge's _OSC is for PCIe's");
	cr_assert_null(find(&w, "\\_SB_.MCFG"));
	tables_free(&t);
}
