// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the bzImage loader (firmware/linux_boot.c) on a bzImage
 * of fuzzed bytes, into a small guest RAM whose shape the input picks.
 *
 * Input: an 8-byte prefix, then the bzImage file itself.
 *   0  u32  initrd size (its bytes are a pattern the target's read() makes)
 *   4  u16  command line length ("console=ttyS0 " repeated)
 *   6  u8   RAM: bits 0-3 the region at 0 is 1 MiB + n * 512 KiB;
 *           bit 4 it is 640 KiB instead; bit 5 a 64 KiB region at 4 GiB
 *           too; bit 6 no region at 0 at all; bit 7 an RSDP is given
 *   7  u8   ignored
 *
 * Each RAM region is a mapping between two inaccessible pages, so a write
 * outside guest RAM faults. The kernel's first bytes reach the loader as an
 * exactly-sized heap copy of min(size, BOOT_HEADER_BYTES), as the VMM gives
 * them; the rest only through read().
 *
 * linux_boot_check() runs first with guest RAM read-only (it writes
 * nothing); when it refuses, linux_boot_load() runs with RAM still
 * read-only and must refuse the same way, writing nothing. The target
 * aborts when a promise of firmware.h breaks:
 *   - the verdict: -ENOEXEC exactly when bzimage_check() refuses, which it
 *     must for no "HdrS", a protocol before 2.06, no LOADED_HIGH, no
 *     XLF_KERNEL_64, or a file shorter than its header says; otherwise
 *     -ENOSPC exactly when the kernel's RAM (from LAYOUT_KERNEL, and
 *     max(pref_address, LAYOUT_KERNEL aligned) + init_size), the command
 *     line (cmdline_size) or the initrd (page-aligned, above the kernel,
 *     below initrd_addr_max and the end of low RAM) does not fit, computed here
 *     without overflow; a refusal without *why; check and load disagreeing;
 *   - read() asked for bytes outside a file, or called by the check;
 *   - after a load: the protected-mode kernel not at LAYOUT_KERNEL, the
 *     initrd not as high as it fits, the command line, zero page (header copied, loader fields set,
 *     e820 map, RSDP for 2.14+), GDT or identity page tables not what they
 *     must be, or the registers not as firmware.h lists them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/layout.h"
#include "core/memory.h"
#include "firmware/firmware.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFIX  8
#define GUARD   4096ULL
#define HIGH_SIZE (64 * SZ_1K)

#define check(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_linux_boot: %s:%d: broken: %s\n", \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

struct files {
	const uint8_t *kernel; /* the whole file */
	size_t kernel_size, initrd_size;
	bool reads_allowed;
};

static uint64_t get(const uint8_t *p, size_t off, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[off + i] << (8 * i);
	return v;
}

static uint8_t initrd_byte(uint64_t off)
{
	return (uint8_t)(off * 31 + 5 + (off >> 12));
}

static int files_read(void *ctx, enum boot_part part, uint64_t off, void *dst, size_t len)
{
	const struct files *f = ctx;
	size_t file = part == BOOT_KERNEL ? f->kernel_size : f->initrd_size;

	check(f->reads_allowed);
	check(part == BOOT_KERNEL || part == BOOT_INITRD);
	check(off <= file && len <= file - off);
	for (size_t i = 0; i < len; i++)
		((uint8_t *)dst)[i] = part == BOOT_KERNEL ? f->kernel[off + i] : initrd_byte(off + i);
	return 0;
}

/* ---- guest RAM between guard pages ---- */

static void region_map(struct guest_region *r, uint64_t gpa, uint64_t size)
{
	uint8_t *base = mmap(NULL, size + 2 * GUARD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	check(base != MAP_FAILED);
	*r = (struct guest_region){ .gpa = gpa, .size = size, .hva = base + GUARD };
}

static void mem_protect(const struct guest_mem *mem, int prot)
{
	for (unsigned i = 0; i < mem->nr; i++)
		check(!mprotect(mem->region[i].hva, mem->region[i].size, prot));
}

static void mem_build(struct guest_mem *mem, uint8_t shape)
{
	uint64_t low = (shape & 0x10) ? 640 * SZ_1K : SZ_1M + (shape & 0xf) * 512 * SZ_1K;

	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
	mem->page_size = 4096;
	if (!(shape & 0x40))
		region_map(&mem->region[mem->nr++], 0, low);
	if (shape & 0x20)
		region_map(&mem->region[mem->nr++], SZ_4G, HIGH_SIZE);
	for (unsigned i = 0; i < mem->nr; i++)
		mem->total += mem->region[i].size;
}

static void mem_free(struct guest_mem *mem)
{
	for (unsigned i = 0; i < mem->nr; i++)
		munmap(mem->region[i].hva - GUARD, mem->region[i].size + 2 * GUARD);
}

static uint64_t low_end(const struct guest_mem *mem)
{
	for (unsigned i = 0; i < mem->nr; i++)
		if (mem->region[i].gpa == 0)
			return mem->region[i].size;
	return 0;
}

/* ---- what the header says, worked out here ---- */

struct expect {
	bool bootable;             /* bzimage_check() must accept it */
	bool fits;
	size_t setup, pm_size;
	unsigned __int128 kernel_end;
	uint64_t initrd_limit;     /* the initrd ends at or below this */
};

static size_t setup_bytes(const uint8_t *k)
{
	return ((size_t)(k[0x1f1] ? k[0x1f1] : 4) + 1) * 512;
}

/* The boot protocol's own checks, at its own offsets (Documentation/arch/x86/boot.rst). */
static bool bootable(const uint8_t *k, size_t size)
{
	uint16_t version;

	if (size < 0x26c || get(k, 0x202, 4) != 0x53726448)
		return false;
	version = (uint16_t)get(k, 0x206, 2);
	if (version < 0x020c || !(k[0x211] & 0x01) || !(get(k, 0x236, 2) & 0x0001))
		return false;
	return setup_bytes(k) < size && get(k, 0x1f4, 4) * 16 <= size - setup_bytes(k);
}

static unsigned __int128 kernel_end(const uint8_t *k, size_t pm_size)
{
	uint64_t align = get(k, 0x230, 4);
	unsigned __int128 run = get(k, 0x258, 8), aligned;

	aligned = align ? (LAYOUT_KERNEL + align - 1) / align * align : LAYOUT_KERNEL;
	if (k[0x234] && aligned > run)
		run = aligned;
	run += get(k, 0x260, 4);
	return run > LAYOUT_KERNEL + pm_size ? run : LAYOUT_KERNEL + pm_size;
}

static void expect(struct expect *e, const uint8_t *k, size_t size, const struct guest_mem *mem,
		   size_t cmdline_len, size_t initrd_size)
{
	uint64_t end = low_end(mem), limit, addr;

	memset(e, 0, sizeof(*e));
	e->bootable = bootable(k, size);
	if (!e->bootable)
		return;
	e->setup = setup_bytes(k);
	e->pm_size = size - e->setup;
	e->kernel_end = kernel_end(k, e->pm_size);
	e->fits = end && e->kernel_end <= end && cmdline_len <= get(k, 0x238, 4);
	limit = get(k, 0x22c, 4) + 1;
	e->initrd_limit = limit < end ? limit : end;
	if (initrd_size) {
		/* The highest page-aligned spot that ends below the limit, above the kernel. */
		addr = initrd_size <= e->initrd_limit ?
		       (e->initrd_limit - initrd_size) & ~0xfffULL : 0;
		e->fits = e->fits && initrd_size <= e->initrd_limit && addr >= e->kernel_end;
	}
}

/* ---- after a load ---- */

static const uint8_t *gp(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	const uint8_t *p = guest_mem_ptr(mem, gpa, len);

	check(p);
	return p;
}

static void check_tables(const struct guest_mem *mem, const struct boot_regs *r)
{
	const uint64_t gdt[4] = { 0, 0, BOOT_GDT_CODE64, BOOT_GDT_DATA };
	const uint8_t *pml4 = gp(mem, LAYOUT_PML4, 4096), *pdpt = gp(mem, LAYOUT_PDPT, 4096);

	check(r->rip == LAYOUT_KERNEL + 0x200 && r->rsi == LAYOUT_ZERO_PAGE &&
	      r->rsp == LAYOUT_BOOT_STACK);
	check(r->cr0 == 0x80000031 && r->cr4 == 0x20 && r->efer == 0x500 && r->cr3 == LAYOUT_PML4);
	check(r->gdt_base == LAYOUT_GDT && r->gdt_limit == BOOT_GDT_LIMIT && r->idt_limit == 0);
	check(r->cs_selector == BOOT_CS && r->ds_selector == BOOT_DS);
	check(!memcmp(gp(mem, LAYOUT_GDT, sizeof(gdt)), gdt, sizeof(gdt)));
	/* 0..4 GiB mapped to itself with 2 MiB pages. */
	check(get(pml4, 0, 8) == (LAYOUT_PDPT | 3));
	for (unsigned g = 0; g < 4; g++) {
		uint64_t pde = get(pdpt, 8 * g, 8);
		const uint8_t *pd = gp(mem, pde & ~0xfffULL, 4096);

		check((pde & 3) == 3);
		for (unsigned i = 0; i < 512; i++)
			check(get(pd, 8 * i, 8) == ((((uint64_t)g << 30) | ((uint64_t)i << 21)) | 0x83));
	}
}

/* The setup header bytes the loader fills in itself (boot.rst: "write" fields). */
static bool loader_field(size_t off)
{
	return off == 0x210 || off == 0x211 || (off >= 0x218 && off < 0x220) ||
	       (off >= 0x224 && off < 0x226) || (off >= 0x228 && off < 0x22c) ||
	       (off >= 0x250 && off < 0x258);
}

static bool disjoint(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a + alen <= b || b + blen <= a;
}

static void check_zero_page(const struct guest_mem *mem, const uint8_t *k, const char *cmdline,
			    size_t initrd_size, uint64_t rsdp, const struct expect *e)
{
	const uint8_t *zp = gp(mem, LAYOUT_ZERO_PAGE, 4096);
	size_t hdr_end = 0x202 + k[0x201] < 0x26c ? 0x202 + k[0x201] : 0x26c;
	size_t cmd_len = strlen(cmdline) + 1;
	struct e820_entry map[128];
	int n = e820_build(mem, map, 128);
	uint64_t ramdisk = get(zp, 0x218, 4), cmd = get(zp, 0x228, 4);

	/* The header as the kernel gave it, up to its own end, but for the loader's fields. */
	for (size_t i = 0x1f1; i < 0x26c; i++)
		check(loader_field(i) || zp[i] == (i < hdr_end ? k[i] : 0));
	check(zp[0x210] == 0xff && (zp[0x211] & 0x01) && get(zp, 0x250, 8) == 0);
	/* The command line, NUL-terminated, within the kernel's limit, clear of the rest. */
	check(!memcmp(gp(mem, cmd, cmd_len), cmdline, cmd_len) && cmd_len - 1 <= get(k, 0x238, 4));
	check(disjoint(cmd, cmd_len, LAYOUT_ZERO_PAGE, 4096) &&
	      disjoint(cmd, cmd_len, LAYOUT_GDT, 0x528 - LAYOUT_GDT) &&
	      disjoint(cmd, cmd_len, LAYOUT_PML4, LAYOUT_PD + 4 * 4096 - LAYOUT_PML4) &&
	      cmd + cmd_len <= LAYOUT_KERNEL);
	/* The initrd: where the header says, whole, above the kernel, below both limits. */
	check(get(zp, 0x21c, 4) == initrd_size && (initrd_size || ramdisk == 0));
	if (initrd_size) {
		const uint8_t *p = gp(mem, ramdisk, initrd_size);

		/* firmware.h: as high as it can go, page-aligned, above the kernel. */
		check(ramdisk == ((e->initrd_limit - initrd_size) & ~0xfffULL) &&
		      ramdisk >= e->kernel_end);
		for (size_t i = 0; i < initrd_size; i++)
			check(p[i] == initrd_byte(i));
	}
	check(n > 0 && zp[0x1e8] == n && !memcmp(zp + 0x2d0, map, (size_t)n * sizeof(map[0])));
	check(get(zp, 0x70, 8) == (get(k, 0x206, 2) >= 0x020e ? rsdp : 0));
}

static void check_loaded(const struct guest_mem *mem, const uint8_t *k, const char *cmdline,
			 size_t initrd_size, uint64_t rsdp, const struct expect *e,
			 const struct boot_regs *regs)
{
	/* The protected-mode kernel at LAYOUT_KERNEL, in guest RAM the kernel may use. */
	check(e->kernel_end <= low_end(mem));
	check(!memcmp(gp(mem, LAYOUT_KERNEL, e->pm_size), k + e->setup, e->pm_size));
	check_zero_page(mem, k, cmdline, initrd_size, rsdp, e);
	check_tables(mem, regs);
}

/* ---- one input ---- */

static char *make_cmdline(size_t len)
{
	static const char words[] = "console=ttyS0 ";
	char *s = malloc(len + 1);

	check(s);
	for (size_t i = 0; i < len; i++)
		s[i] = words[i % (sizeof(words) - 1)];
	s[len] = '\0';
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct files f;
	struct guest_mem mem;
	struct boot_regs regs;
	struct boot_image img;
	struct expect e;
	const char *why_check = NULL, *why_load = NULL;
	uint8_t *head;
	char *cmdline;
	int check_ret, load_ret;

	if (size < PREFIX)
		return 0;
	f = (struct files){ .kernel = data + PREFIX, .kernel_size = size - PREFIX,
			    .initrd_size = (size_t)get(data, 0, 4) };
	cmdline = make_cmdline((size_t)get(data, 4, 2));
	mem_build(&mem, data[6]);
	/* The VMM keeps the first BOOT_HEADER_BYTES in memory; nothing past them. */
	head = malloc(f.kernel_size < BOOT_HEADER_BYTES ? f.kernel_size + !f.kernel_size
							: BOOT_HEADER_BYTES);
	check(head);
	memcpy(head, f.kernel, f.kernel_size < BOOT_HEADER_BYTES ? f.kernel_size : BOOT_HEADER_BYTES);
	img = (struct boot_image){
		.kernel = head, .kernel_size = f.kernel_size, .initrd_size = f.initrd_size,
		.read = files_read, .ctx = &f, .cmdline = cmdline,
		.rsdp = (data[6] & 0x80) ? LAYOUT_ACPI : 0,
	};
	expect(&e, f.kernel, f.kernel_size, &mem, strlen(cmdline), f.initrd_size);
	check((bzimage_check(head, f.kernel_size, &why_check) == 0) == e.bootable);

	mem_protect(&mem, PROT_READ);
	check_ret = linux_boot_check(&mem, &img, &why_check);
	if (check_ret) {
		/* Refused: load must say the same, writing nothing (RAM is read-only). */
		f.reads_allowed = true;
		load_ret = linux_boot_load(&mem, &img, &regs, &why_load);
		check(load_ret == check_ret && why_check && why_load);
		check(load_ret == -ENOEXEC || load_ret == -ENOSPC || load_ret == -EINVAL);
		check((load_ret == -ENOEXEC) == !e.bootable);
		check(!e.fits);
	} else {
		check(e.bootable && e.fits);
		mem_protect(&mem, PROT_READ | PROT_WRITE);
		f.reads_allowed = true;
		load_ret = linux_boot_load(&mem, &img, &regs, &why_load);
		check(load_ret == 0);
		check_loaded(&mem, f.kernel, cmdline, f.initrd_size, img.rsdp, &e, &regs);
	}
	mem_free(&mem);
	free(head);
	free(cmdline);
	return 0;
}
