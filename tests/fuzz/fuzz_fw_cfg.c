// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: fw_cfg as a guest reaches it, through its I/O ports
 * (selector, data, the big-endian DMA address register) and through the
 * FWCfgDmaAccess structures that the guest puts in its RAM, so that the
 * control word, length and address of every transfer come from the
 * fuzzed guest RAM (fuzz_io.h), as do the addresses written to the DMA
 * register.
 *
 * The device holds what q35.c gives OVMF (CPU counts, RAM size, etc/e820,
 * the ACPI tables with their table-loader script, the 64-bit window, a
 * kernel with its command line and an initrd served by a reader, bootorder)
 * plus an arch-local item and two writable files, as a WRITE_POINTER
 * target would be.
 *
 * Spaces: 0 the 12 ports at 0x510 (as the bus delivers them, inside the
 * window); 1 the host, which meanwhile replaces items: a write at offset 0
 * replaces a numbered item (value bits 0-2 pick it, bits 8-19 give the new
 * length), at 1 makes the initrd a reader of (value & 0xffff) bytes, at 2
 * adds a file of (value & 0xfff) bytes.
 *
 * The target keeps its own model of the device, written from fw_cfg.h and
 * QEMU's docs/specs/fw_cfg.rst: the items, the selected one and the offset
 * into it, and a shadow of guest RAM. It aborts when the device breaks a
 * promise: a data-port read or a DMA read that is not the item's next bytes
 * (zeros past its end), a file directory that does not list the files in
 * the order they were added at keys from 0x20, a control word not written
 * back as 0 or FW_CFG_DMA_ERROR, a transfer that touches guest RAM outside
 * its buffer and control word (or anything when the structure itself is
 * not in RAM), a writable file that does not hold what was written, an
 * on_write call that does not describe the write, a reader asked for
 * bytes outside its item.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/layout.h"
#include "core/log.h"
#include "core/memory.h"
#include "devices/fw_cfg.h"
#include "firmware/firmware.h"
#include "fuzz_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SPACE_PORTS 0
#define SPACE_HOST  1

#define MAX_ITEMS   64
#define INITRD_LEN  0x1000
#define BAD_SECTOR  0x900 /* reading these 4 bytes of a reader item fails */

#define check(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_fw_cfg: %s:%d: broken: %s\n",    \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

/* The target's idea of one item. */
struct model_item {
	uint16_t key;
	bool writable;
	bool reader;   /* bytes from reader_byte(), not data */
	uint32_t len;
	uint8_t *data; /* len bytes, when !reader */
	char name[FW_CFG_NAME_MAX];
};

struct model {
	struct model_item item[MAX_ITEMS];
	unsigned nr, nr_files;
	int cur;          /* selected item, -1 for none */
	uint32_t offset;
	uint32_t dma_high;
	uint8_t *shadow[2]; /* guest RAM as it must be */
};

/* What on_write was told since the last check; one per writable file. */
struct write_log {
	struct target *t;
	const char *file;
	unsigned calls;
	uint32_t offset, len;
};

struct target {
	struct fw_cfg *fw;
	struct fuzz_io io;
	struct model m;
	struct write_log wlog[2];
	unsigned calls; /* on_write calls, all files */
	unsigned files_added;
};

/* ---- the items a real VM has, built once per process ---- */

struct vm_files {
	uint8_t e820[20 * 16];
	int e820_len;
	char mmio64[32];
	int mmio64_len;
	char bootorder[128];
	int bootorder_len;
	struct acpi_fw_cfg_files acpi;
	uint8_t kernel[2048 + 1000];
};

static const struct vm_files *vm_files(void)
{
	static struct vm_files f;
	static bool done;
	struct guest_region regions[GUEST_MEM_MAX_REGIONS];
	struct guest_mem mem = { .fd = -1 };
	static const uint8_t slots[] = { 3, 4 };
	struct acpi_config acpi = {
		.ncpus = 4, .pm_base = PORT_PM_BASE, .sci_irq = IRQ_SCI,
		.reset_port = PORT_RESET_CF9, .com1_port = PORT_COM1, .com1_irq = IRQ_COM1,
		.pci_mmio32_base = LAYOUT_PCI_MMIO32, .pci_mmio32_size = LAYOUT_PCI_MMIO32_SIZE,
		.pci_mmio64_base = 0x800000000ULL, .pci_mmio64_size = 0x800000000ULL,
		.ecam_base = 0xb0000000ULL, .ecam_end_bus = 0xff, .pci_prt = true,
	};

	if (done)
		return &f;
	/* A 4 GiB machine: the map, not the memory. */
	mem.nr = guest_mem_layout(4 * SZ_1G, regions);
	memcpy(mem.region, regions, sizeof(regions));
	mem.total = 4 * SZ_1G;
	f.e820_len = ovmf_e820_file(&mem, f.e820, sizeof(f.e820));
	f.mmio64_len = ovmf_mmio64_file(32 * SZ_1G, f.mmio64, sizeof(f.mmio64));
	f.bootorder_len = ovmf_bootorder_file(slots, 2, f.bootorder, sizeof(f.bootorder));
	if (f.e820_len <= 0 || f.mmio64_len <= 0 || f.bootorder_len <= 0 ||
	    acpi_fw_cfg_files_build(&acpi, &f.acpi))
		abort();
	/* A bzImage with setup_sects 3: the boot sector and 3 sectors of setup, 1000 bytes of kernel. */
	for (size_t i = 0; i < sizeof(f.kernel); i++)
		f.kernel[i] = (uint8_t)(i * 13 + 1);
	f.kernel[0x1f1] = 3;
	done = true;
	return &f;
}

/* ---- the model ---- */

static uint8_t reader_byte(uint64_t off)
{
	return (uint8_t)(off * 151 + 7 + (off >> 9));
}

static bool reader_fails(uint64_t off, uint64_t n)
{
	return off < BAD_SECTOR + 4 && off + n > BAD_SECTOR;
}

static int initrd_read(void *ctx, uint64_t off, void *dst, size_t n)
{
	const struct target *t = ctx;
	const struct model_item *it = NULL;

	for (unsigned i = 0; i < t->m.nr; i++)
		if (t->m.item[i].key == FW_CFG_INITRD_DATA)
			it = &t->m.item[i];
	/* fw_cfg.h: n bytes at offset off of an item of len bytes. */
	check(it && it->reader && n > 0 && off <= it->len && n <= it->len - off);
	if (reader_fails(off, n))
		return -1;
	for (size_t i = 0; i < n; i++)
		((uint8_t *)dst)[i] = reader_byte(off + i);
	return 0;
}

static struct model_item *model_find(struct model *m, uint16_t key)
{
	for (unsigned i = 0; i < m->nr; i++)
		if (m->item[i].key == key)
			return &m->item[i];
	return NULL;
}

static struct model_item *model_slot(struct model *m, uint16_t key)
{
	struct model_item *it = model_find(m, key);

	if (it)
		return it;
	check(m->nr < MAX_ITEMS);
	it = &m->item[m->nr++];
	memset(it, 0, sizeof(*it));
	it->key = key;
	return it;
}

static void model_set(struct model *m, uint16_t key, const void *data, uint32_t len)
{
	struct model_item *it = model_slot(m, key);

	free(it->data);
	it->data = malloc(len ? len : 1);
	check(it->data);
	if (len)
		memcpy(it->data, data, len);
	it->len = len;
	it->reader = false;
	/* The selected item may have shrunk: fw_cfg keeps the offset inside it. */
	if (m->cur >= 0 && &m->item[m->cur] == it && m->offset > len)
		m->offset = len;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* QEMU's docs/specs/fw_cfg.rst: a be32 count, then 64-byte entries. */
static void model_rebuild_dir(struct model *m)
{
	uint32_t len = 4 + m->nr_files * 64;
	uint8_t *dir = calloc(1, len);
	uint8_t *e = dir + 4;

	check(dir);
	put_be32(dir, m->nr_files);
	for (unsigned i = 0; i < m->nr; i++) {
		if (!m->item[i].name[0])
			continue;
		put_be32(e, m->item[i].len);
		e[4] = (uint8_t)(m->item[i].key >> 8);
		e[5] = (uint8_t)m->item[i].key;
		memcpy(e + 8, m->item[i].name, FW_CFG_NAME_MAX);
		e += 64;
	}
	model_set(m, FW_CFG_FILE_DIR, dir, len);
	free(dir);
}

/* The next free key from FW_CFG_FILE_FIRST, as fw_cfg.h promises. */
static void model_add_file(struct model *m, const char *name, const void *data, uint32_t len,
			   bool writable)
{
	struct model_item *it;

	model_set(m, (uint16_t)(FW_CFG_FILE_FIRST + m->nr_files), data, len);
	it = model_find(m, (uint16_t)(FW_CFG_FILE_FIRST + m->nr_files));
	snprintf(it->name, sizeof(it->name), "%s", name);
	it->writable = writable;
	m->nr_files++;
	model_rebuild_dir(m);
}

/* What the next n bytes of the selected item are; false when its reader fails. */
static bool model_take(struct model *m, uint8_t *dst, uint32_t n, uint32_t *got)
{
	struct model_item *it;
	uint32_t avail;

	*got = 0;
	if (m->cur < 0)
		return true;
	it = &m->item[m->cur];
	avail = it->len - m->offset;
	if (n > avail)
		n = avail;
	if (!n)
		return true;
	if (it->reader && reader_fails(m->offset, n))
		return false;
	for (uint32_t i = 0; i < n; i++)
		dst[i] = it->reader ? reader_byte(m->offset + i) : it->data[m->offset + i];
	m->offset += n;
	*got = n;
	return true;
}

static void model_select(struct model *m, uint16_t key)
{
	struct model_item *it = model_find(m, key & (uint16_t)~FW_CFG_WRITE_CHANNEL);

	m->cur = it ? (int)(it - m->item) : -1;
	m->offset = 0;
}

/* The shadow's bytes of [gpa, gpa + len) when they lie in one RAM block. */
static uint8_t *shadow_ptr(struct target *t, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < 2; i++) {
		const struct guest_region *r = &t->io.mem.region[i];

		if (gpa >= r->gpa && len <= r->size && gpa - r->gpa <= r->size - len)
			return t->m.shadow[i] + (gpa - r->gpa);
	}
	return NULL;
}

static void check_ram(struct target *t)
{
	for (unsigned i = 0; i < 2; i++)
		check(!memcmp(t->m.shadow[i], t->io.mem.region[i].hva, t->io.mem.region[i].size));
}

static bool model_dma_read(struct target *t, uint64_t addr, uint32_t len)
{
	uint8_t *dst = len ? shadow_ptr(t, addr, len) : NULL;
	uint32_t got;

	if (!len)
		return true;
	if (!dst)
		return false;
	if (!model_take(&t->m, dst, len, &got))
		return false;
	memset(dst + got, 0, len - got);
	return true;
}

static bool model_dma_write(struct target *t, uint64_t addr, uint32_t len)
{
	struct model *m = &t->m;
	struct model_item *it;
	const uint8_t *src;

	if (m->cur < 0)
		return false;
	it = &m->item[m->cur];
	if (!it->writable || it->reader || len > it->len - m->offset)
		return false;
	if (!len)
		return true;
	src = shadow_ptr(t, addr, len);
	if (!src)
		return false;
	memcpy(it->data + m->offset, src, len);
	m->offset += len;
	/* fw_cfg.h: on_write runs after each accepted write, and only then. */
	for (unsigned i = 0; i < 2; i++) {
		const struct write_log *w = &t->wlog[i];

		if (strcmp(w->file, it->name))
			continue;
		check(w->calls == 1 && w->offset == m->offset - len && w->len == len);
		check(t->calls == 1);
		t->calls = 0;
		t->wlog[i].calls = 0;
		return true;
	}
	check(!"a write accepted into a file that is not writable");
	return true;
}

static void model_skip(struct model *m, uint32_t len)
{
	uint32_t avail;

	if (m->cur < 0)
		return;
	avail = m->item[m->cur].len - m->offset;
	m->offset += len < avail ? len : avail;
}

static void model_dma(struct target *t, uint64_t gpa)
{
	uint8_t *access = shadow_ptr(t, gpa, 16);
	uint32_t control, len;
	uint64_t addr;
	bool ok = true;

	if (!access)
		return; /* dropped: nothing in RAM changes, nor the selection */
	control = get_be32(access);
	len = get_be32(access + 4);
	addr = (uint64_t)get_be32(access + 8) << 32 | get_be32(access + 12);
	if (control & FW_CFG_DMA_SELECT)
		model_select(&t->m, (uint16_t)(control >> 16));
	if (control & FW_CFG_DMA_READ)
		ok = model_dma_read(t, addr, len);
	else if (control & FW_CFG_DMA_WRITE)
		ok = model_dma_write(t, addr, len);
	else if (control & FW_CFG_DMA_SKIP)
		model_skip(&t->m, len);
	/* fw_cfg.rst: the device clears control when done, sets the error bit when not. */
	put_be32(access, ok ? 0 : FW_CFG_DMA_ERROR);
}

/* ---- the device under test, with the same items ---- */

static void on_write(void *opaque, uint32_t offset, uint32_t len)
{
	struct write_log *w = opaque;

	w->calls++;
	w->t->calls++;
	w->offset = offset;
	w->len = len;
}

static void add_file(struct target *t, const char *name, const void *data, size_t len)
{
	if (fw_cfg_add_file(t->fw, name, data, len))
		abort();
	model_add_file(&t->m, name, data, (uint32_t)len, false);
}

static void add_writable(struct target *t, unsigned i, const char *name, size_t len)
{
	static const uint8_t zero[16];

	t->wlog[i] = (struct write_log){ .t = t, .file = name };
	if (fw_cfg_add_file_writable(t->fw, name, zero, len, on_write, &t->wlog[i]))
		abort();
	model_add_file(&t->m, name, zero, (uint32_t)len, true);
}

static void add_item(struct target *t, uint16_t key, const void *data, size_t len)
{
	if (fw_cfg_add_item(t->fw, key, data, len))
		abort();
	model_set(&t->m, key, data, (uint32_t)len);
}

static void add_reader(struct target *t, uint16_t key, uint32_t len)
{
	struct model_item *it;

	model_set(&t->m, key, NULL, 0);
	it = model_find(&t->m, key);
	it->len = len;
	it->reader = true;
	if (fw_cfg_add_item_reader(t->fw, key, len, initrd_read, t))
		abort();
}

static uint8_t *le32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p;
}

static void build(struct target *t)
{
	const struct vm_files *f = vm_files();
	static const uint8_t cpus[2] = { 4, 0 }, ram[8] = { 0, 0, 0, 0, 1 };
	static const char cmdline[] = "console=ttyS0 root=/dev/vda1";
	uint8_t u32[4], zero[4] = { 0 }, e820_local[20] = { 0 };

	t->m.cur = -1;
	model_set(&t->m, FW_CFG_SIGNATURE, "QEMU", 4);
	model_set(&t->m, FW_CFG_ID, (uint8_t[4]){ FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA }, 4);
	model_rebuild_dir(&t->m);
	add_item(t, FW_CFG_NB_CPUS, cpus, 2);
	add_item(t, FW_CFG_MAX_CPUS, cpus, 2);
	add_item(t, FW_CFG_RAM_SIZE, ram, 8);
	add_file(t, OVMF_E820_FILE, f->e820, (size_t)f->e820_len);
	add_file(t, OVMF_MMIO64_FILE, f->mmio64, (size_t)f->mmio64_len);
	add_file(t, ACPI_LOADER_TABLES_FILE, f->acpi.tables, f->acpi.tables_len);
	add_file(t, ACPI_LOADER_RSDP_FILE, f->acpi.rsdp, f->acpi.rsdp_len);
	add_file(t, ACPI_LOADER_FILE, f->acpi.loader, f->acpi.loader_len);
	/* fw_cfg_add_linux()'s items, checked against what fw_cfg.h says they hold. */
	if (fw_cfg_add_linux(t->fw, f->kernel, sizeof(f->kernel), NULL, 0, cmdline))
		abort();
	model_set(&t->m, FW_CFG_SETUP_SIZE, le32(u32, 2048), 4);
	model_set(&t->m, FW_CFG_SETUP_DATA, f->kernel, 2048);
	model_set(&t->m, FW_CFG_KERNEL_SIZE, le32(u32, 1000), 4);
	model_set(&t->m, FW_CFG_KERNEL_DATA, f->kernel + 2048, 1000);
	model_set(&t->m, FW_CFG_INITRD_SIZE, zero, 4);
	model_set(&t->m, FW_CFG_INITRD_DATA, NULL, 0);
	model_set(&t->m, FW_CFG_CMDLINE_SIZE, le32(u32, sizeof(cmdline)), 4);
	model_set(&t->m, FW_CFG_CMDLINE_DATA, cmdline, sizeof(cmdline));
	/* The initrd from its file, as q35.c serves it. */
	add_item(t, FW_CFG_INITRD_SIZE, le32(u32, INITRD_LEN), 4);
	add_reader(t, FW_CFG_INITRD_DATA, INITRD_LEN);
	add_file(t, OVMF_BOOTORDER_FILE, f->bootorder, (size_t)f->bootorder_len);
	add_item(t, FW_CFG_ARCH_LOCAL | 0x03, e820_local, sizeof(e820_local));
	/* WRITE_POINTER targets: where the guest tells the host an address. */
	add_writable(t, 0, "etc/vmgenid_addr", 8);
	add_writable(t, 1, "etc/smi/requested-features", 8);
}

/* ---- the accesses ---- */

static uint64_t le_bytes(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void after_port_read(struct target *t, const struct fuzz_access *a)
{
	static const uint8_t sig[8] = "QEMU CFG";
	uint8_t want[8] = { 0 };
	uint32_t got;

	if (a->offset == 1) {
		if (!model_take(&t->m, want, a->size, &got))
			memset(want, 0, sizeof(want)); /* a failed reader reads as zeros */
	} else if (a->offset >= 4) {
		memcpy(want, sig + (a->offset - 4), a->size);
	}
	check(a->value == le_bytes(want, a->size));
}

static void after_port_write(struct target *t, const struct fuzz_access *a)
{
	struct model *m = &t->m;

	if (a->offset == 0 && a->size == 2) {
		model_select(m, (uint16_t)a->value);
	} else if (a->offset == 4 && a->size == 4) {
		m->dma_high = __builtin_bswap32((uint32_t)a->value);
	} else if (a->offset == 8 && a->size == 4) {
		model_dma(t, (uint64_t)m->dma_high << 32 | __builtin_bswap32((uint32_t)a->value));
		m->dma_high = 0;
	} else if (a->offset == 4 && a->size == 8) {
		model_dma(t, __builtin_bswap64(a->value));
		m->dma_high = 0;
	}
	/* No call of on_write that the model did not account for. */
	check(t->calls == 0);
	check_ram(t);
}

static uint64_t host_read(void *opaque, uint64_t offset, unsigned size)
{
	return 0;
}

static void host_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct target *t = opaque;
	static const uint16_t keys[8] = {
		FW_CFG_CMDLINE_DATA, FW_CFG_INITRD_DATA, FW_CFG_KERNEL_DATA, FW_CFG_NB_CPUS,
		FW_CFG_ARCH_LOCAL | 0x03, 0x0e, FW_CFG_SETUP_DATA, FW_CFG_RAM_SIZE,
	};
	uint8_t *buf;
	uint32_t len;
	char name[FW_CFG_NAME_MAX];

	switch (offset) {
	case 0:
		len = (uint32_t)(value >> 8) & 0xfff;
		buf = malloc(len + 1);
		check(buf);
		for (uint32_t i = 0; i < len; i++)
			buf[i] = (uint8_t)(value + i);
		add_item(t, keys[value & 7], buf, len);
		free(buf);
		break;
	case 1:
		add_reader(t, FW_CFG_INITRD_DATA, (uint32_t)value & 0xffff);
		break;
	case 2:
		if (t->files_added >= 8)
			break;
		snprintf(name, sizeof(name), "opt/fuzz/%u", t->files_added++);
		len = (uint32_t)value & 0xfff;
		buf = calloc(1, len + 1);
		check(buf);
		memset(buf, 0x5a, len);
		add_file(t, name, buf, len);
		free(buf);
		break;
	}
}

static const struct bus_ops host_ops = { "host", host_read, host_write };

static void after(void *arg, const struct fuzz_access *a)
{
	struct target *t = arg;

	if (a->space == SPACE_HOST)
		return;
	if (a->write)
		after_port_write(t, a);
	else
		after_port_read(t, a);
}

/* Every file holds what the model says, the writable ones what the guest wrote. */
static void check_files(struct target *t)
{
	static uint8_t buf[64 * 1024];

	for (unsigned i = 0; i < t->m.nr; i++) {
		const struct model_item *it = &t->m.item[i];

		if (!it->name[0])
			continue;
		check(it->len <= sizeof(buf));
		check(fw_cfg_read_file(t->fw, it->name, buf, sizeof(buf)) == it->len);
		check(!memcmp(buf, it->data, it->len));
	}
	check(fw_cfg_read_file(t->fw, "etc/no-such-file", buf, sizeof(buf)) == -ENOENT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct target t;

	/* The guest's misdeeds are logged, rate-limited; a fuzzer makes thousands a second. */
	log_threshold = LOG_ERR;
	memset(&t, 0, sizeof(t));
	if (!fuzz_io_begin(&t.io, data, size))
		return 0;
	t.fw = fw_cfg_new(&t.io.mem);
	if (!t.fw)
		abort();
	for (unsigned i = 0; i < 2; i++) {
		t.m.shadow[i] = malloc(t.io.mem.region[i].size);
		check(t.m.shadow[i]);
		memcpy(t.m.shadow[i], t.io.mem.region[i].hva, t.io.mem.region[i].size);
	}
	build(&t);

	const struct fuzz_space spaces[] = {
		[SPACE_PORTS] = { .name = "fw_cfg", .ops = &fw_cfg_ops, .opaque = t.fw,
				  .len = FW_CFG_PORT_LEN },
		[SPACE_HOST] = { .name = "host", .ops = &host_ops, .opaque = &t, .len = 3 },
	};

	fuzz_io_run(&t.io, spaces, sizeof(spaces) / sizeof(spaces[0]), after, &t);
	check_files(&t);

	fw_cfg_free(t.fw);
	for (unsigned i = 0; i < t.m.nr; i++)
		free(t.m.item[i].data);
	free(t.m.shadow[0]);
	free(t.m.shadow[1]);
	fuzz_io_end(&t.io);
	return 0;
}
