// SPDX-License-Identifier: MIT
/*
 * The fw_cfg files through which OVMF gets what QEMU would give it: the
 * ACPI tables with the table-loader script that places and links them, the
 * memory map, and the size of the 64-bit PCI window.
 *
 * OVMF's AcpiPlatformDxe runs the script in order: ALLOCATE copies a file
 * into fresh pages, ADD_POINTER adds a file's new address to a field that
 * holds an offset into it, ADD_CHECKSUM stores the byte that makes a range
 * sum to zero (counting that byte, so it must be zero until then). Then it
 * installs every table that some ADD_POINTER points at the start of, except
 * the RSDT and XSDT, and builds its own RSDP and XSDT around them; a table
 * is only taken when its checksum is right at that point.
 */
#include "firmware.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/layout.h"

#define RSDP_SIZE        36
#define RSDP_CSUM        8   /* over the first 20 bytes */
#define RSDP_CSUM_LEN    20
#define RSDP_EXT_CSUM    32  /* over all 36 */
#define HEADER_CSUM      9
#define TABLES_ALIGN     64  /* the FACS must be 64-byte aligned */
#define RSDP_ALIGN       16

/* ---- the script ---- */

static void put_le32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int loader_name(uint8_t *dst, const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= ACPI_LOADER_NAME_MAX)
		return -EINVAL;
	memcpy(dst, name, n);
	return 0;
}

/* A zeroed command of the given type at the end of the script. */
static int loader_cmd(struct acpi_loader *l, enum acpi_loader_type type, uint8_t **cmd)
{
	if (l->len + ACPI_LOADER_CMD_SIZE > l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16 * ACPI_LOADER_CMD_SIZE;
		uint8_t *p = realloc(l->buf, cap);

		if (!p)
			return -ENOMEM;
		l->buf = p;
		l->cap = cap;
	}
	*cmd = l->buf + l->len;
	memset(*cmd, 0, ACPI_LOADER_CMD_SIZE);
	put_le32(*cmd, type);
	return 0;
}

static int pointer_size_ok(uint8_t size)
{
	return size == 1 || size == 2 || size == 4 || size == 8;
}

int acpi_loader_allocate(struct acpi_loader *l, const char *file, uint32_t align,
			 enum acpi_loader_zone zone)
{
	uint8_t *c;
	int ret;

	if (align == 0 || (align & (align - 1)))
		return -EINVAL;
	ret = loader_cmd(l, ACPI_LOADER_ALLOCATE, &c);
	if (!ret)
		ret = loader_name(c + 4, file);
	if (ret)
		return ret;
	put_le32(c + 60, align);
	c[64] = (uint8_t)zone;
	l->len += ACPI_LOADER_CMD_SIZE;
	return 0;
}

int acpi_loader_add_pointer(struct acpi_loader *l, const char *pointer_file,
			    const char *pointee_file, uint32_t offset, uint8_t size)
{
	uint8_t *c;
	int ret;

	if (!pointer_size_ok(size))
		return -EINVAL;
	ret = loader_cmd(l, ACPI_LOADER_ADD_POINTER, &c);
	if (!ret)
		ret = loader_name(c + 4, pointer_file);
	if (!ret)
		ret = loader_name(c + 60, pointee_file);
	if (ret)
		return ret;
	put_le32(c + 116, offset);
	c[120] = size;
	l->len += ACPI_LOADER_CMD_SIZE;
	return 0;
}

int acpi_loader_add_checksum(struct acpi_loader *l, const char *file, uint32_t result,
			     uint32_t start, uint32_t length)
{
	uint8_t *c;
	int ret;

	ret = loader_cmd(l, ACPI_LOADER_ADD_CHECKSUM, &c);
	if (!ret)
		ret = loader_name(c + 4, file);
	if (ret)
		return ret;
	put_le32(c + 60, result);
	put_le32(c + 64, start);
	put_le32(c + 68, length);
	l->len += ACPI_LOADER_CMD_SIZE;
	return 0;
}

int acpi_loader_write_pointer(struct acpi_loader *l, const char *pointer_file,
			      const char *pointee_file, uint32_t offset, uint32_t pointee_offset,
			      uint8_t size)
{
	uint8_t *c;
	int ret;

	if (!pointer_size_ok(size))
		return -EINVAL;
	ret = loader_cmd(l, ACPI_LOADER_WRITE_POINTER, &c);
	if (!ret)
		ret = loader_name(c + 4, pointer_file);
	if (!ret)
		ret = loader_name(c + 60, pointee_file);
	if (ret)
		return ret;
	put_le32(c + 116, offset);
	put_le32(c + 120, pointee_offset);
	c[124] = size;
	l->len += ACPI_LOADER_CMD_SIZE;
	return 0;
}

void acpi_loader_free(struct acpi_loader *l)
{
	free(l->buf);
	l->buf = NULL;
	l->len = l->cap = 0;
}

/* ---- the ACPI files ---- */

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

struct split {
	const uint8_t *blob;
	size_t len;
	size_t tstart; /* where etc/acpi/tables begins in the blob */
	const struct acpi_layout *layout;
};

static int split_check(const struct split *s)
{
	const struct acpi_layout *l = s->layout;

	if (l->rsdp > s->len || s->len - l->rsdp < RSDP_SIZE || s->tstart >= s->len ||
	    l->nr_tables > ACPI_LAYOUT_MAX_TABLES || l->nr_pointers > ACPI_LAYOUT_MAX_POINTERS)
		return -EINVAL;
	for (unsigned i = 0; i < l->nr_tables; i++) {
		const struct acpi_table_extent *t = &l->table[i];

		if (t->offset < s->tstart || t->offset > s->len || t->length < HEADER_CSUM + 1 ||
		    s->len - t->offset < t->length)
			return -EINVAL;
	}
	return 0;
}

/*
 * Rewrites the pointer at blob offset p (in the file that starts at blob
 * offset base, copied to file) as an offset into the tables file, and adds
 * the ADD_POINTER that turns it back into an address.
 */
static int split_pointer(const struct split *s, struct acpi_loader *l, uint32_t p,
			 uint8_t *file, size_t base, size_t file_len, const char *name)
{
	uint64_t target;

	if (p < base || p - base > file_len || file_len - (p - base) < 8)
		return -EINVAL;
	target = get_le64(s->blob + p);
	if (target < s->tstart || target >= s->len)
		return -EINVAL;
	put_le64(file + (p - base), target - s->tstart);
	return acpi_loader_add_pointer(l, name, ACPI_LOADER_TABLES_FILE, (uint32_t)(p - base), 8);
}

static int split_pointers(const struct split *s, struct acpi_fw_cfg_files *out,
			  struct acpi_loader *l)
{
	const struct acpi_layout *lay = s->layout;
	int ret = 0;

	for (unsigned i = 0; i < lay->nr_pointers && !ret; i++) {
		uint32_t p = lay->pointer[i];

		if (p >= lay->rsdp && p < lay->rsdp + RSDP_SIZE)
			ret = split_pointer(s, l, p, out->rsdp, lay->rsdp, RSDP_SIZE,
					    ACPI_LOADER_RSDP_FILE);
		else
			ret = split_pointer(s, l, p, out->tables, s->tstart, out->tables_len,
					    ACPI_LOADER_TABLES_FILE);
	}
	return ret;
}

/* After every pointer is patched: each table's checksum, then the RSDP's two in order. */
static int split_checksums(const struct split *s, struct acpi_fw_cfg_files *out,
			   struct acpi_loader *l)
{
	const struct acpi_layout *lay = s->layout;
	int ret = 0;

	for (unsigned i = 0; i < lay->nr_tables && !ret; i++) {
		const struct acpi_table_extent *t = &lay->table[i];
		uint32_t off = (uint32_t)(t->offset - s->tstart);

		if (!t->has_checksum)
			continue;
		out->tables[off + HEADER_CSUM] = 0;
		ret = acpi_loader_add_checksum(l, ACPI_LOADER_TABLES_FILE, off + HEADER_CSUM, off,
					       t->length);
	}
	out->rsdp[RSDP_CSUM] = 0;
	out->rsdp[RSDP_EXT_CSUM] = 0;
	if (!ret)
		ret = acpi_loader_add_checksum(l, ACPI_LOADER_RSDP_FILE, RSDP_CSUM, 0,
					       RSDP_CSUM_LEN);
	if (!ret)
		ret = acpi_loader_add_checksum(l, ACPI_LOADER_RSDP_FILE, RSDP_EXT_CSUM, 0,
					       RSDP_SIZE);
	return ret;
}

static int split_script(const struct split *s, struct acpi_fw_cfg_files *out)
{
	struct acpi_loader l = { 0 };
	int ret;

	ret = acpi_loader_allocate(&l, ACPI_LOADER_TABLES_FILE, TABLES_ALIGN,
				   ACPI_LOADER_ZONE_HIGH);
	if (!ret)
		ret = acpi_loader_allocate(&l, ACPI_LOADER_RSDP_FILE, RSDP_ALIGN,
					   ACPI_LOADER_ZONE_FSEG);
	if (!ret)
		ret = split_pointers(s, out, &l);
	if (!ret)
		ret = split_checksums(s, out, &l);
	if (ret) {
		acpi_loader_free(&l);
		return ret;
	}
	out->loader = l.buf;
	out->loader_len = l.len;
	return 0;
}

void acpi_fw_cfg_files_free(struct acpi_fw_cfg_files *f)
{
	free(f->tables);
	free(f->rsdp);
	free(f->loader);
	memset(f, 0, sizeof(*f));
}

int acpi_fw_cfg_files_split(const uint8_t *blob, size_t len, const struct acpi_layout *layout,
			    struct acpi_fw_cfg_files *out)
{
	struct split s = { .blob = blob, .len = len, .layout = layout };
	int ret;

	memset(out, 0, sizeof(*out));
	s.tstart = ((size_t)layout->rsdp + RSDP_SIZE + TABLES_ALIGN - 1) & ~(size_t)(TABLES_ALIGN - 1);
	ret = split_check(&s);
	if (ret)
		return ret;
	out->rsdp_len = RSDP_SIZE;
	out->tables_len = len - s.tstart;
	out->rsdp = malloc(out->rsdp_len);
	out->tables = malloc(out->tables_len);
	if (!out->rsdp || !out->tables) {
		acpi_fw_cfg_files_free(out);
		return -ENOMEM;
	}
	memcpy(out->rsdp, blob + layout->rsdp, RSDP_SIZE);
	memcpy(out->tables, blob + s.tstart, out->tables_len);
	ret = split_script(&s, out);
	if (ret)
		acpi_fw_cfg_files_free(out);
	return ret;
}

int acpi_fw_cfg_files_build(const struct acpi_config *cfg, struct acpi_fw_cfg_files *out)
{
	struct acpi_layout layout;
	uint8_t *blob;
	size_t len;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = acpi_build_blob(cfg, &blob, &len, &layout);
	if (ret)
		return ret;
	ret = acpi_fw_cfg_files_split(blob, len, &layout, out);
	free(blob);
	return ret;
}

/* ---- etc/e820, X-PciMmio64Mb ---- */

#define OVMF_E820_ENTRY 20
#define SZ_1MIB         0x100000ULL

/*
 * OVMF owns the first MiB (it maps the legacy areas itself, with RAM from
 * 0 to 640 KiB): it takes only the end of the RAM below 4 GiB from this
 * map, and turns every reserved entry into a reserved resource HOB, which
 * for the EBDA would overlap its own RAM there. So the reserved entries
 * below 1 MiB, which only a direct-booted kernel needs, are left out.
 */
static int ovmf_e820_wanted(const struct e820_entry *e)
{
	return e->type == E820_RAM || e->addr + e->size > SZ_1MIB;
}

int ovmf_e820_file(const struct guest_mem *mem, uint8_t *out, size_t cap)
{
	struct e820_entry map[16];
	int n = e820_build(mem, map, sizeof(map) / sizeof(map[0]));
	size_t len = 0;

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		if (!ovmf_e820_wanted(&map[i]))
			continue;
		if (cap - len < OVMF_E820_ENTRY)
			return -ENOSPC;
		put_le64(out + len, map[i].addr);
		put_le64(out + len + 8, map[i].size);
		put_le32(out + len + 16, map[i].type);
		len += OVMF_E820_ENTRY;
	}
	return (int)len;
}

int ovmf_mmio64_file(uint64_t bytes, char *out, size_t cap)
{
	uint64_t mib = bytes / (1024 * 1024) + (bytes % (1024 * 1024) != 0);
	int n = snprintf(out, cap, "%llu", (unsigned long long)mib);

	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}

int ovmf_bootorder_file(const uint8_t *disk_slots, unsigned n, char *out, size_t cap)
{
	size_t len = 0;

	if (!cap)
		return -ENOSPC;
	out[0] = '\0';
	for (unsigned i = 0; i < n; i++) {
		int w = snprintf(out + len, cap - len, "/pci@i0cf8/scsi@%x/disk@0,0\n",
				 disk_slots[i]);

		if (w < 0 || (size_t)w >= cap - len)
			return -ENOSPC;
		len += (size_t)w;
	}
	return (int)len + 1;
}

const char *ovmf_vars_template(const char *code, char *out, size_t len)
{
	char *base, *c;

	if ((size_t)snprintf(out, len, "%s", code) >= len)
		return NULL;
	base = strrchr(out, '/');
	base = base ? base + 1 : out;
	c = strstr(base, "CODE");
	if (!c)
		return NULL;
	memcpy(c, "VARS", 4);
	return base;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* v rounded up to a multiple of a (a power of two) in *out; false where that passes 2^64. */
static bool round_up(uint64_t v, uint64_t a, uint64_t *out)
{
	if (v > UINT64_MAX - (a - 1))
		return false;
	*out = align_up(v, a);
	return true;
}

static unsigned log2_ceil(uint64_t v)
{
	unsigned n = 0;

	while (n < 64 && (1ULL << n) < v)
		n++;
	return n;
}

static bool ovmf_trusts(const struct ovmf_cpu *cpu, unsigned phys)
{
	if (phys >= 41)
		return true;
	if (!strcmp(cpu->vendor, "GenuineIntel"))
		return phys == 36 || phys == 39;
	if (!strcmp(cpu->vendor, "AuthenticAMD"))
		return phys == 40;
	return false;
}

int ovmf_mmio64_window(uint64_t ram_top, uint64_t size, const struct ovmf_cpu *cpu,
		       uint64_t *base, uint64_t *out_size, unsigned *phys_bits)
{
	unsigned phys = cpu->phys_bits ? cpu->phys_bits : 36;
	uint64_t top = ram_top < SZ_4G ? SZ_4G : ram_top, b = 0;

	/* Each step checked: near 2^64 a size rounds up to 0, and 2^63 at 2^63 ends at 0. */
	if (size) {
		if (!round_up(size, SZ_1G, &size) || !round_up(top, SZ_1G, &b) ||
		    !round_up(b, 1ULL << (63 - __builtin_clzll(size)), &b) || size > UINT64_MAX - b)
			return -ERANGE;
		top = b + size;
	}
	if (ovmf_trusts(cpu, phys)) {
		uint64_t eighth;

		if (phys > 47)
			phys = 47;
		if (!cpu->page_1g && phys > 40)
			phys = 40;
		eighth = 1ULL << (phys - 3);
		if (size < eighth && b < (1ULL << phys) - eighth) {
			b = (1ULL << phys) - eighth;
			size = eighth;
		}
	} else {
		phys = log2_ceil(top);
		if (phys < 36)
			phys = 36;
	}
	*base = b;
	*out_size = size;
	*phys_bits = phys;
	return 0;
}

struct span {
	uint64_t len, align;
};

/* Packs spans largest alignment first; returns the end, rounded up to 1 MiB. */
static uint64_t pack(struct span *s, unsigned n)
{
	uint64_t end = 0;

	for (unsigned i = 1; i < n; i++) /* insertion sort, by alignment, largest first */
		for (unsigned j = i; j > 0 && s[j].align > s[j - 1].align; j--) {
			struct span t = s[j];

			s[j] = s[j - 1];
			s[j - 1] = t;
		}
	for (unsigned i = 0; i < n; i++)
		end = align_up(end, s[i].align) + s[i].len;
	return align_up(end, SZ_1M);
}

uint64_t ovmf_mmio64_need(const struct ovmf_bar64 *bars, unsigned n, uint64_t *align)
{
	struct span *top = calloc(n + 1, sizeof(*top)), *port = calloc(n + 1, sizeof(*port));
	unsigned ntop = 0;
	uint64_t need = 0;

	*align = SZ_1M;
	if (!top || !port)
		goto out;
	for (int p = -1; p < OVMF_MAX_PORTS; p++) {
		unsigned nport = 0;

		for (unsigned i = 0; i < n; i++) {
			bool on_bus0 = bars[i].port < 0 || bars[i].port >= OVMF_MAX_PORTS;
			unsigned l = log2_ceil(bars[i].size ? bars[i].size : 1);
			uint64_t a = 1ULL << (l > 63 ? 63 : l); /* no shift by 64 for a bogus size */

			if (p < 0 && on_bus0)
				top[ntop++] = (struct span){ bars[i].size, a };
			else if (p >= 0 && bars[i].port == p)
				port[nport++] = (struct span){ bars[i].size, a };
		}
		if (!nport)
			continue;
		/* A bridge window's granularity is 1 MiB; pack() puts the largest first. */
		top[ntop].len = pack(port, nport);
		top[ntop++].align = port[0].align > SZ_1M ? port[0].align : SZ_1M;
	}
	need = ntop ? pack(top, ntop) : 0;
	if (ntop && top[0].align > *align)
		*align = top[0].align;
out:
	free(top);
	free(port);
	return need;
}

