// SPDX-License-Identifier: MIT
/*
 * Direct boot of a Linux bzImage through the 64-bit boot protocol
 * (Documentation/arch/x86/boot.rst): the protected-mode kernel at
 * LAYOUT_KERNEL, the zero page, the command line and the initrd in guest
 * RAM, a GDT with __BOOT_CS/__BOOT_DS, identity-mapping page tables, and
 * the vCPU entering at the kernel's startup_64 in long mode.
 */
#include "firmware.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/layout.h"
#include "core/memory.h"

/* The setup header, at offset 0x1f1 of both the bzImage and the zero page. */
struct setup_header {
	uint8_t setup_sects;
	uint16_t root_flags;
	uint32_t syssize;
	uint16_t ram_size;
	uint16_t vid_mode;
	uint16_t root_dev;
	uint16_t boot_flag;
	uint16_t jump;
	uint32_t header;
	uint16_t version;
	uint32_t realmode_swtch;
	uint16_t start_sys_seg;
	uint16_t kernel_version;
	uint8_t type_of_loader;
	uint8_t loadflags;
	uint16_t setup_move_size;
	uint32_t code32_start;
	uint32_t ramdisk_image;
	uint32_t ramdisk_size;
	uint32_t bootsect_kludge;
	uint16_t heap_end_ptr;
	uint8_t ext_loader_ver;
	uint8_t ext_loader_type;
	uint32_t cmd_line_ptr;
	uint32_t initrd_addr_max;
	uint32_t kernel_alignment;
	uint8_t relocatable_kernel;
	uint8_t min_alignment;
	uint16_t xloadflags;
	uint32_t cmdline_size;
	uint32_t hardware_subarch;
	uint64_t hardware_subarch_data;
	uint32_t payload_offset;
	uint32_t payload_length;
	uint64_t setup_data;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t handover_offset;
	uint32_t kernel_info_offset;
} __attribute__((packed));

#define SETUP_HDR_OFFSET 0x1f1
#define hdr_off(f) (SETUP_HDR_OFFSET + offsetof(struct setup_header, f))
_Static_assert(hdr_off(header) == 0x202, "setup header magic");
_Static_assert(hdr_off(version) == 0x206, "setup header version");
_Static_assert(hdr_off(type_of_loader) == 0x210, "setup header type_of_loader");
_Static_assert(hdr_off(ramdisk_image) == 0x218, "setup header ramdisk_image");
_Static_assert(hdr_off(heap_end_ptr) == 0x224, "setup header heap_end_ptr");
_Static_assert(hdr_off(cmd_line_ptr) == 0x228, "setup header cmd_line_ptr");
_Static_assert(hdr_off(xloadflags) == 0x236, "setup header xloadflags");
_Static_assert(hdr_off(cmdline_size) == 0x238, "setup header cmdline_size");
_Static_assert(hdr_off(setup_data) == 0x250, "setup header setup_data");
_Static_assert(hdr_off(pref_address) == 0x258, "setup header pref_address");
_Static_assert(hdr_off(init_size) == 0x260, "setup header init_size");
_Static_assert(hdr_off(kernel_info_offset) == 0x268, "setup header kernel_info_offset");
_Static_assert(sizeof(struct setup_header) == 0x7b, "setup header ends at 0x26c");

#define E820_ZERO_PAGE_MAX 128

/* The zero page, with only the fields this loader fills named. */
struct boot_params {
	uint8_t screen_info[0x40];
	uint8_t apm_bios_info[0x14];
	uint8_t pad0[0x70 - 0x54];
	uint64_t acpi_rsdp_addr;
	uint8_t pad1[0x1e8 - 0x78];
	uint8_t e820_entries;
	uint8_t pad2[SETUP_HDR_OFFSET - 0x1e9];
	struct setup_header hdr;
	uint8_t pad3[0x2d0 - 0x26c];
	struct e820_entry e820_table[E820_ZERO_PAGE_MAX];
	uint8_t pad4[0x1000 - 0xcd0];
} __attribute__((packed));
_Static_assert(offsetof(struct boot_params, acpi_rsdp_addr) == 0x70, "zero page acpi_rsdp_addr");
_Static_assert(offsetof(struct boot_params, e820_entries) == 0x1e8, "zero page e820_entries");
_Static_assert(offsetof(struct boot_params, hdr) == SETUP_HDR_OFFSET, "zero page hdr");
_Static_assert(offsetof(struct boot_params, e820_table) == 0x2d0, "zero page e820_table");
_Static_assert(sizeof(struct boot_params) == 0x1000, "the zero page is one page");

#define HDRS_MAGIC         0x53726448 /* "HdrS" */
#define LOADED_HIGH        0x01
#define CAN_USE_HEAP       0x80
#define XLF_KERNEL_64      0x0001
#define LOADER_UNDEFINED   0xff
#define BOOT_MIN_VERSION   0x0206     /* cmdline_size */
#define XLF_MIN_VERSION    0x020c     /* xloadflags */
#define RSDP_ADDR_VERSION  0x020e     /* acpi_rsdp_addr */
#define SETUP_SECT_SIZE    512
#define KERNEL_ENTRY_64    0x200      /* startup_64, from the protected-mode start */
/* What real-mode setup code would see as the end of its heap; unused on the 64-bit path. */
#define SETUP_HEAP_END     0xe000

#define PAGE_SIZE_4K       0x1000ULL
#define PTE_P              (1ULL << 0)
#define PTE_RW             (1ULL << 1)
#define PTE_PS             (1ULL << 7)
#define PD_PAGES           4          /* 4 x 1 GiB: the first 4 GiB */

#define X86_CR0_PE         (1ULL << 0)
#define X86_CR0_ET         (1ULL << 4)
#define X86_CR0_NE         (1ULL << 5)
#define X86_CR0_PG         (1ULL << 31)
#define X86_CR4_PAE        (1ULL << 5)
#define EFER_LME           (1ULL << 8)
#define EFER_LMA           (1ULL << 10)

/*
 * *why strings that carry a number are formatted here: one per thread,
 * valid until that thread's next call into the loader.
 */
static _Thread_local char why_buf[160];

/* Says why the kernel cannot be booted; returns err. */
static int reject(const char **why, int err, const char *msg)
{
	if (why)
		*why = msg;
	return err;
}

__attribute__((format(printf, 3, 4))) static int rejectf(const char **why, int err,
							 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why_buf, sizeof(why_buf), fmt, ap);
	va_end(ap);
	return reject(why, err, why_buf);
}

_Static_assert(SETUP_HDR_OFFSET + sizeof(struct setup_header) <= BOOT_HEADER_BYTES,
	       "the setup header lies inside the bytes callers keep in memory");

static void hdr_read(const uint8_t *kernel, struct setup_header *h)
{
	memcpy(h, kernel + SETUP_HDR_OFFSET, sizeof(*h));
}

static size_t setup_size(const struct setup_header *h)
{
	/* The boot sector plus setup_sects sectors; 0 means 4, for old images. */
	return ((size_t)(h->setup_sects ? h->setup_sects : 4) + 1) * SETUP_SECT_SIZE;
}

static int check_header(const struct setup_header *h, const char **why)
{
	if (h->header != HDRS_MAGIC)
		return reject(why, -ENOEXEC,
			      "not a bzImage: no 'HdrS' boot signature at offset 0x202");
	if (h->version < BOOT_MIN_VERSION)
		return rejectf(why, -ENOEXEC,
			       "kernel uses boot protocol %u.%02u, 2.06 or later is needed",
			       h->version >> 8, h->version & 0xff);
	if (!(h->loadflags & LOADED_HIGH))
		return reject(why, -ENOEXEC,
			      "not a bzImage: a zImage (loaded below 1 MiB) cannot be booted");
	/* xloadflags only exists from 2.12 on. */
	if (h->version < XLF_MIN_VERSION || !(h->xloadflags & XLF_KERNEL_64))
		return reject(why, -ENOEXEC,
			      "kernel has no 64-bit entry point (XLF_KERNEL_64 not set)");
	return 0;
}

int bzimage_check(const uint8_t *kernel, size_t size, const char **why)
{
	struct setup_header h;
	size_t setup;
	int ret;

	if (size < SETUP_HDR_OFFSET + sizeof(h))
		return reject(why, -ENOEXEC, "not a bzImage: file too small for a setup header");
	hdr_read(kernel, &h);
	ret = check_header(&h, why);
	if (ret)
		return ret;
	setup = setup_size(&h);
	if (setup >= size)
		return rejectf(why, -ENOEXEC,
			       "bzImage truncated: %zu bytes of setup code, file is %zu bytes",
			       setup, size);
	if ((uint64_t)h.syssize * 16 > size - setup)
		return rejectf(why, -ENOEXEC,
			       "bzImage truncated: the protected-mode kernel needs %llu bytes, "
			       "file has %zu",
			       (unsigned long long)h.syssize * 16, size - setup);
	return 0;
}

/* Where everything goes, worked out before anything is written. */
struct boot_plan {
	struct setup_header hdr;
	size_t pm_offset;          /* protected-mode kernel in the file */
	size_t pm_size;
	uint64_t kernel_end;       /* guest RAM the kernel may touch ends here */
	uint64_t low_end;          /* end of the RAM region at 0 */
	uint64_t initrd_addr;
	size_t cmdline_len;
	struct e820_entry e820[E820_ZERO_PAGE_MAX];
	int e820_entries;
};

static uint64_t align_up(uint64_t v, uint64_t align)
{
	return align ? (v + align - 1) / align * align : v;
}

/*
 * startup_64 copies the compressed kernel to the end of a buffer of
 * init_size bytes and decompresses from there. A relocatable kernel puts
 * that buffer at its load address rounded up to kernel_alignment, but
 * never below pref_address (LOAD_PHYSICAL_ADDR); others use pref_address.
 */
static uint64_t kernel_run_end(const struct setup_header *h, size_t pm_size)
{
	uint64_t run = h->pref_address;
	uint64_t end;

	if (h->relocatable_kernel && align_up(LAYOUT_KERNEL, h->kernel_alignment) > run)
		run = align_up(LAYOUT_KERNEL, h->kernel_alignment);
	/* pref_address comes from the file: an end past 2^64 must not wrap into RAM. */
	if (__builtin_add_overflow(run, h->init_size, &end))
		return UINT64_MAX;
	return end > LAYOUT_KERNEL + pm_size ? end : LAYOUT_KERNEL + pm_size;
}

static int low_ram_end(const struct guest_mem *mem, uint64_t *end)
{
	for (unsigned i = 0; i < mem->nr; i++) {
		if (mem->region[i].gpa == 0) {
			*end = mem->region[i].size;
			return 0;
		}
	}
	return -EINVAL;
}

/* Highest page-aligned spot below RAM's end and initrd_addr_max, above the kernel. */
static int plan_initrd(struct boot_plan *p, const struct boot_image *img, const char **why)
{
	uint64_t limit = (uint64_t)p->hdr.initrd_addr_max + 1;
	uint64_t addr = 0;

	if (!img->initrd_size)
		return 0;
	if (limit > p->low_end)
		limit = p->low_end;
	if (img->initrd_size <= limit)
		addr = (limit - img->initrd_size) & ~(PAGE_SIZE_4K - 1);
	if (addr < p->kernel_end)
		return rejectf(why, -ENOSPC,
			       "initrd does not fit below 0x%llx: %zu bytes, with the kernel "
			       "using RAM up to 0x%llx", (unsigned long long)limit,
			       img->initrd_size, (unsigned long long)p->kernel_end);
	p->initrd_addr = addr;
	return 0;
}

static int plan_cmdline(struct boot_plan *p, const struct boot_image *img, const char **why)
{
	/* cmdline_size excludes the terminating NUL. */
	uint64_t max = p->hdr.cmdline_size;

	if (max > LAYOUT_CMDLINE_MAX - 1)
		max = LAYOUT_CMDLINE_MAX - 1;
	p->cmdline_len = img->cmdline ? strlen(img->cmdline) : 0;
	if (p->cmdline_len > max)
		return rejectf(why, -ENOSPC,
			       "command line longer than the kernel's limit of %llu bytes",
			       (unsigned long long)max);
	return 0;
}

static int plan_boot(struct boot_plan *p, const struct guest_mem *mem,
		     const struct boot_image *img, const char **why)
{
	size_t setup;
	int ret;

	ret = bzimage_check(img->kernel, img->kernel_size, why);
	if (ret)
		return ret;
	hdr_read(img->kernel, &p->hdr);
	setup = setup_size(&p->hdr);
	p->pm_offset = setup;
	p->pm_size = img->kernel_size - setup;
	p->kernel_end = kernel_run_end(&p->hdr, p->pm_size);
	if (low_ram_end(mem, &p->low_end) || p->kernel_end > p->low_end)
		return rejectf(why, -ENOSPC,
			       "kernel does not fit in guest RAM: it needs RAM up to 0x%llx",
			       (unsigned long long)p->kernel_end);
	ret = plan_cmdline(p, img, why);
	if (!ret)
		ret = plan_initrd(p, img, why);
	if (ret)
		return ret;
	p->e820_entries = e820_build(mem, p->e820, E820_ZERO_PAGE_MAX);
	if (p->e820_entries < 0)
		return reject(why, p->e820_entries, "guest RAM layout has no e820 map");
	return 0;
}

static int guest_write(struct guest_mem *mem, uint64_t gpa, const void *src, size_t len)
{
	void *dst = guest_mem_ptr(mem, gpa, len);

	if (!dst)
		return -ENOSPC;
	memcpy(dst, src, len);
	return 0;
}

int boot_buffers_read(void *ctx, enum boot_part part, uint64_t off, void *dst, size_t len)
{
	const struct boot_buffers *b = ctx;

	memcpy(dst, (part == BOOT_KERNEL ? b->kernel : b->initrd) + off, len);
	return 0;
}

/* A file's bytes straight into guest RAM, bounds-checked like every guest write. */
static int guest_read_in(struct guest_mem *mem, uint64_t gpa, const struct boot_image *img,
			 enum boot_part part, uint64_t off, size_t len)
{
	void *dst = guest_mem_ptr(mem, gpa, len);

	if (!dst)
		return -ENOSPC;
	return img->read(img->ctx, part, off, dst, len);
}

static int load_images(struct guest_mem *mem, const struct boot_plan *p,
		       const struct boot_image *img)
{
	char nul = 0;
	int ret;

	ret = guest_read_in(mem, LAYOUT_KERNEL, img, BOOT_KERNEL, p->pm_offset, p->pm_size);
	if (!ret && p->initrd_addr)
		ret = guest_read_in(mem, p->initrd_addr, img, BOOT_INITRD, 0, img->initrd_size);
	if (!ret && p->cmdline_len)
		ret = guest_write(mem, LAYOUT_CMDLINE, img->cmdline, p->cmdline_len);
	if (!ret)
		ret = guest_write(mem, LAYOUT_CMDLINE + p->cmdline_len, &nul, 1);
	return ret;
}

/* How much of the image's setup header to take: its own end is 0x202 + the byte at 0x201. */
static size_t hdr_copy_len(const uint8_t *kernel)
{
	size_t end = 0x202 + kernel[0x201];

	if (end > SETUP_HDR_OFFSET + sizeof(struct setup_header))
		end = SETUP_HDR_OFFSET + sizeof(struct setup_header);
	return end - SETUP_HDR_OFFSET;
}

static int write_zero_page(struct guest_mem *mem, const struct boot_plan *p,
			   const struct boot_image *img)
{
	struct boot_params bp;

	memset(&bp, 0, sizeof(bp));
	memcpy(&bp.hdr, img->kernel + SETUP_HDR_OFFSET, hdr_copy_len(img->kernel));
	bp.hdr.type_of_loader = LOADER_UNDEFINED;
	bp.hdr.loadflags |= LOADED_HIGH | CAN_USE_HEAP;
	bp.hdr.heap_end_ptr = SETUP_HEAP_END - 0x200;
	bp.hdr.cmd_line_ptr = (uint32_t)LAYOUT_CMDLINE;
	bp.hdr.ramdisk_image = (uint32_t)p->initrd_addr;
	bp.hdr.ramdisk_size = p->initrd_addr ? (uint32_t)img->initrd_size : 0;
	bp.hdr.setup_data = 0; /* the loader's to fill: this one passes no setup_data list */
	memcpy(bp.e820_table, p->e820, sizeof(p->e820));
	bp.e820_entries = (uint8_t)p->e820_entries;
	if (img->rsdp && p->hdr.version >= RSDP_ADDR_VERSION)
		bp.acpi_rsdp_addr = img->rsdp;
	return guest_write(mem, LAYOUT_ZERO_PAGE, &bp, sizeof(bp));
}

static int write_gdt_idt(struct guest_mem *mem)
{
	const uint64_t gdt[] = { 0, 0, BOOT_GDT_CODE64, BOOT_GDT_DATA };
	const uint64_t idt = 0;
	int ret;

	_Static_assert(sizeof(gdt) == BOOT_GDT_LIMIT + 1, "boot GDT size");
	_Static_assert(LAYOUT_GDT + sizeof(gdt) <= LAYOUT_IDT, "boot GDT overlaps the IDT");
	ret = guest_write(mem, LAYOUT_GDT, gdt, sizeof(gdt));
	if (!ret)
		ret = guest_write(mem, LAYOUT_IDT, &idt, sizeof(idt));
	return ret;
}

/* PML4[0] -> PDPT, PDPT[0..3] -> four PDs of 2 MiB pages: 0..4 GiB mapped to itself. */
static int write_page_tables(struct guest_mem *mem)
{
	uint64_t *pml4 = guest_mem_ptr(mem, LAYOUT_PML4, PAGE_SIZE_4K);
	uint64_t *pdpt = guest_mem_ptr(mem, LAYOUT_PDPT, PAGE_SIZE_4K);
	uint64_t *pd = guest_mem_ptr(mem, LAYOUT_PD, PD_PAGES * PAGE_SIZE_4K);

	_Static_assert(LAYOUT_PDPT >= LAYOUT_PML4 + PAGE_SIZE_4K, "PML4 overlaps the PDPT");
	_Static_assert(LAYOUT_PD >= LAYOUT_PDPT + PAGE_SIZE_4K, "PDPT overlaps the PDs");
	if (!pml4 || !pdpt || !pd)
		return -ENOSPC;
	memset(pml4, 0, PAGE_SIZE_4K);
	memset(pdpt, 0, PAGE_SIZE_4K);
	pml4[0] = LAYOUT_PDPT | PTE_P | PTE_RW;
	for (unsigned i = 0; i < PD_PAGES; i++)
		pdpt[i] = (LAYOUT_PD + i * PAGE_SIZE_4K) | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < PD_PAGES * 512; i++)
		pd[i] = (i << 21) | PTE_P | PTE_RW | PTE_PS;
	return 0;
}

static void fill_regs(struct boot_regs *regs)
{
	*regs = (struct boot_regs){
		.rip = LAYOUT_KERNEL + KERNEL_ENTRY_64,
		.rsi = LAYOUT_ZERO_PAGE,
		.rsp = LAYOUT_BOOT_STACK,
		.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE | X86_CR0_PG,
		.cr3 = LAYOUT_PML4,
		.cr4 = X86_CR4_PAE,
		.efer = EFER_LME | EFER_LMA,
		.gdt_base = LAYOUT_GDT,
		.gdt_limit = BOOT_GDT_LIMIT,
		.idt_base = LAYOUT_IDT,
		.idt_limit = 0,
		.cs_selector = BOOT_CS,
		.ds_selector = BOOT_DS,
	};
}

int linux_boot_check(const struct guest_mem *mem, const struct boot_image *img, const char **why)
{
	struct boot_plan plan = { 0 };

	if (why)
		*why = NULL;
	return plan_boot(&plan, mem, img, why);
}

int linux_boot_load(struct guest_mem *mem, const struct boot_image *img, struct boot_regs *regs,
		    const char **why)
{
	struct boot_plan plan = { 0 };
	int ret;

	if (why)
		*why = NULL;
	ret = plan_boot(&plan, mem, img, why);
	if (ret)
		return ret;
	ret = load_images(mem, &plan, img);
	if (!ret)
		ret = write_zero_page(mem, &plan, img);
	if (!ret)
		ret = write_gdt_idt(mem);
	if (!ret)
		ret = write_page_tables(mem);
	if (ret) {
		/* The plan checked the kernel and initrd; this is low memory missing. */
		return reject(why, ret, "guest RAM does not hold the boot structures below 1 MiB");
	}
	fill_regs(regs);
	return 0;
}
