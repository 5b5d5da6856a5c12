// SPDX-License-Identifier: MIT
/*
 * The loader against synthetic bzImages built here from the boot protocol
 * (Documentation/arch/x86/boot.rst), checked at the protocol's own offsets
 * rather than through the loader's structs.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "firmware/firmware.h"
#include "core/layout.h"
#include "core/memory.h"

#define KERNEL_RUN_ADDR 0x1000000ULL /* pref_address of the fake kernel */
#define KERNEL_INIT     0x2000000ULL /* its init_size */
#define KERNEL_END      (KERNEL_RUN_ADDR + KERNEL_INIT)

struct image {
	uint8_t *buf;
	size_t size;
};

static void put16(uint8_t *p, size_t off, uint16_t v)
{
	memcpy(p + off, &v, 2);
}

static void put32(uint8_t *p, size_t off, uint32_t v)
{
	memcpy(p + off, &v, 4);
}

static void put64(uint8_t *p, size_t off, uint64_t v)
{
	memcpy(p + off, &v, 8);
}

static uint16_t get16(const uint8_t *p, size_t off)
{
	uint16_t v;

	memcpy(&v, p + off, 2);
	return v;
}

static uint32_t get32(const uint8_t *p, size_t off)
{
	uint32_t v;

	memcpy(&v, p + off, 4);
	return v;
}

static uint64_t get64(const uint8_t *p, size_t off)
{
	uint64_t v;

	memcpy(&v, p + off, 8);
	return v;
}

static size_t setup_bytes(uint8_t setup_sects)
{
	return ((size_t)(setup_sects ? setup_sects : 4) + 1) * 512;
}

/* A bzImage as a 6.x kernel's build makes it, with a recognisable payload. */
static struct image make_image(uint16_t version, uint16_t xloadflags, uint8_t setup_sects,
			       size_t pm_size)
{
	size_t setup = setup_bytes(setup_sects);
	struct image img = { .size = setup + pm_size };

	img.buf = calloc(1, img.size);
	cr_assert_not_null(img.buf);
	img.buf[0x1f1] = setup_sects;
	put32(img.buf, 0x1f4, (uint32_t)(pm_size / 16));
	put16(img.buf, 0x1fa, 0xffff);          /* vid_mode: normal */
	put16(img.buf, 0x1fe, 0xaa55);
	img.buf[0x200] = 0xeb;                  /* jmp to the end of the header */
	img.buf[0x201] = 0x26c - 0x202;
	memcpy(img.buf + 0x202, "HdrS", 4);
	put16(img.buf, 0x206, version);
	img.buf[0x211] = 0x01;                  /* LOADED_HIGH */
	put32(img.buf, 0x22c, 0x7fffffff);      /* initrd_addr_max */
	put32(img.buf, 0x230, 0x200000);        /* kernel_alignment */
	img.buf[0x234] = 1;                     /* relocatable */
	put16(img.buf, 0x236, xloadflags);
	put32(img.buf, 0x238, 2047);            /* cmdline_size */
	put64(img.buf, 0x250, 0xdeadbeef);      /* setup_data: garbage the loader must clear */
	put64(img.buf, 0x258, KERNEL_RUN_ADDR);
	put32(img.buf, 0x260, (uint32_t)KERNEL_INIT);
	for (size_t i = 0; i < pm_size; i++)
		img.buf[setup + i] = (uint8_t)(i * 7 + 3);
	return img;
}

static struct image good_image(void)
{
	return make_image(0x020f, 0x0001 | 0x0002, 27, 64 * 1024);
}

/* Guest RAM: one region at 0, backed by calloc. */
static struct guest_mem mem_new(uint64_t size)
{
	struct guest_mem m = { .fd = -1, .nr = 1, .total = size, .page_size = 4096 };

	m.region[0] = (struct guest_region){ .gpa = 0, .size = size, .hva = calloc(1, size) };
	cr_assert_not_null(m.region[0].hva);
	return m;
}

static uint8_t *gp(const struct guest_mem *m, uint64_t gpa)
{
	return m->region[0].hva + gpa;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int load(struct guest_mem *m, const struct image *img, const char *cmdline,
		const uint8_t *initrd, size_t initrd_size, struct boot_regs *regs, const char **why)
{
	struct boot_buffers files = { .kernel = img->buf, .initrd = initrd };
	struct boot_image bi = {
		.kernel = img->buf, .kernel_size = img->size,
		.initrd_size = initrd ? initrd_size : 0,
		.read = boot_buffers_read, .ctx = &files,
		.cmdline = cmdline, .rsdp = LAYOUT_ACPI,
	};

	return linux_boot_load(m, &bi, regs, why);
}

Test(linux_boot, accepts_a_good_image)
{
	struct image img = good_image();
	const char *why = "unset";

	cr_assert_eq(bzimage_check(img.buf, img.size, &why), 0, "%s", why);
	free(img.buf);
}

Test(linux_boot, rejects_what_it_cannot_boot)
{
	struct {
		struct image img;
		const char *why_has;
	} cases[] = {
		{ make_image(0x0205, 0x0001, 27, 4096), "2.05" },
		{ make_image(0x020c, 0x0002, 27, 4096), "64-bit" },
		/* xloadflags did not exist before 2.12: whatever is at 0x236 means nothing. */
		{ make_image(0x020b, 0x0001, 27, 4096), "64-bit" },
		{ make_image(0x020f, 0x0001, 27, 4096), "HdrS" },
		{ make_image(0x020f, 0x0001, 27, 4096), "zImage" },
		{ make_image(0x020f, 0x0001, 27, 4096), "truncated" },
	};
	const char *why;

	memcpy(cases[3].img.buf + 0x202, "HdrX", 4);
	cases[4].img.buf[0x211] = 0;
	put32(cases[5].img.buf, 0x1f4, 4096 / 16 + 1); /* syssize beyond the file */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why = NULL;
		cr_assert_eq(bzimage_check(cases[i].img.buf, cases[i].img.size, &why), -ENOEXEC,
			     "case %zu accepted", i);
		cr_assert_not_null(why);
		cr_assert_not_null(strstr(why, cases[i].why_has), "case %zu: \"%s\"", i, why);
		free(cases[i].img.buf);
	}
}

Test(linux_boot, rejects_short_files)
{
	struct image img = good_image();
	const char *why = NULL;

	cr_assert_eq(bzimage_check(img.buf, 0x100, &why), -ENOEXEC);
	cr_assert_not_null(why);
	/* Setup sectors claimed but not there. */
	cr_assert_eq(bzimage_check(img.buf, setup_bytes(27), &why), -ENOEXEC);
	cr_assert_not_null(strstr(why, "truncated"), "%s", why);
	free(img.buf);
}

Test(linux_boot, load_fails_with_enoexec_and_writes_nothing)
{
	struct guest_mem m = mem_new(128 * SZ_1M);
	struct image img = make_image(0x0205, 0x0001, 27, 4096);
	struct boot_regs regs;
	const char *why = NULL;

	cr_assert_eq(load(&m, &img, "console=ttyS0", NULL, 0, &regs, &why), -ENOEXEC);
	cr_assert_not_null(strstr(why, "2.05"), "%s", why);
	cr_assert(all_zero(gp(&m, 0), 2 * SZ_1M));
	free(img.buf);
	free(m.region[0].hva);
}

Test(linux_boot, regs_enter_startup_64_in_long_mode)
{
	struct guest_mem m = mem_new(128 * SZ_1M);
	struct image img = good_image();
	struct boot_regs regs;
	const char *why = NULL;

	cr_assert_eq(load(&m, &img, NULL, NULL, 0, &regs, &why), 0, "%s", why);
	cr_assert_null(why);
	cr_assert_eq(regs.rip, LAYOUT_KERNEL + 0x200);
	cr_assert_eq(regs.rsi, LAYOUT_ZERO_PAGE);
	cr_assert_eq(regs.cr3, LAYOUT_PML4);
	cr_assert_eq(regs.cr0 & 0x80000001, 0x80000001, "PE and PG");
	cr_assert_eq(regs.cr4 & 0x20, 0x20, "PAE");
	cr_assert_eq(regs.efer & 0x500, 0x500, "LME and LMA");
	cr_assert_eq(regs.cs_selector, 0x10);
	cr_assert_eq(regs.ds_selector, 0x18);
	cr_assert_eq(regs.gdt_base, LAYOUT_GDT);
	cr_assert_eq(regs.gdt_limit, 31);
	cr_assert_eq(regs.idt_base, LAYOUT_IDT);
	/* The stack must be RAM that none of the boot structures use. */
	cr_assert(regs.rsp > 0x1000 && regs.rsp <= LAYOUT_ZERO_PAGE && regs.rsp % 16 == 0,
		  "rsp %#llx", (unsigned long long)regs.rsp);
	free(img.buf);
	free(m.region[0].hva);
}

static unsigned desc_type(uint64_t d)
{
	return (unsigned)(d >> 40) & 0xf;
}

Test(linux_boot, gdt_has_boot_cs_and_ds)
{
	struct guest_mem m = mem_new(128 * SZ_1M);
	struct image img = good_image();
	struct boot_regs regs;
	uint64_t cs, ds;

	cr_assert_eq(load(&m, &img, NULL, NULL, 0, &regs, NULL), 0);
	cs = get64(gp(&m, LAYOUT_GDT), 0x10);
	ds = get64(gp(&m, LAYOUT_GDT), 0x18);
	cr_assert_eq(get64(gp(&m, LAYOUT_GDT), 0), 0);
	cr_assert_eq(cs, BOOT_GDT_CODE64);
	cr_assert_eq(ds, BOOT_GDT_DATA);
	/* P, S, DPL 0; code: execute/read, L set, D clear; data: read/write, flat 4 GiB. */
	cr_assert_eq((cs >> 44) & 0xf, 0x9);
	cr_assert_eq(desc_type(cs) & 0xa, 0xa);
	cr_assert_eq((cs >> 53) & 3, 1, "L=1 D=0");
	cr_assert_eq((ds >> 44) & 0xf, 0x9);
	cr_assert_eq(desc_type(ds) & 0xa, 0x2);
	cr_assert_eq((ds >> 54) & 3, 3, "D/B=1 G=1");
	cr_assert_eq(ds & 0xffff, 0xffff);
	cr_assert_eq((ds >> 48) & 0xf, 0xf);
	free(img.buf);
	free(m.region[0].hva);
}

Test(linux_boot, page_tables_identity_map_4g)
{
	struct guest_mem m = mem_new(128 * SZ_1M);
	struct image img = good_image();
	struct boot_regs regs;

	cr_assert_eq(load(&m, &img, NULL, NULL, 0, &regs, NULL), 0);
	cr_assert_eq(get64(gp(&m, regs.cr3), 8), 0, "only PML4[0] is present");
	for (uint64_t va = 0; va < SZ_4G; va += 0x1f3456ULL * 7) {
		uint64_t pml4e = get64(gp(&m, regs.cr3), 8 * ((va >> 39) & 511));
		uint64_t pdpte, pde;

		cr_assert_eq(pml4e & 3, 3, "PML4E present and writable");
		pdpte = get64(gp(&m, pml4e & ~0xfffULL), 8 * ((va >> 30) & 511));
		cr_assert_eq(pdpte & 0x83, 3, "PDPTE points to a PD");
		pde = get64(gp(&m, pdpte & ~0xfffULL), 8 * ((va >> 21) & 511));
		cr_assert_eq(pde & 0x83, 0x83, "2 MiB page at %#llx", (unsigned long long)va);
		cr_assert_eq((pde & ~0x1fffffULL & ((1ULL << 52) - 1)) | (va & 0x1fffff), va,
			     "va %#llx not identity-mapped", (unsigned long long)va);
	}
	/* The last 2 MiB below 4 GiB (the LAPIC and IOAPIC live up there). */
	cr_assert_eq(get64(gp(&m, LAYOUT_PD), 8 * 2047) & ~0xfffULL, SZ_4G - 2 * SZ_1M);
	free(img.buf);
	free(m.region[0].hva);
}

Test(linux_boot, zero_page_and_kernel)
{
	struct guest_mem m = mem_new(128 * SZ_1M);
	struct image img = good_image();
	struct e820_entry e820[128];
	struct boot_regs regs;
	const uint8_t *zp;
	int n;

	cr_assert_eq(load(&m, &img, "console=ttyS0 quiet", NULL, 0, &regs, NULL), 0);
	zp = gp(&m, LAYOUT_ZERO_PAGE);
	cr_assert_eq(memcmp(gp(&m, LAYOUT_KERNEL), img.buf + setup_bytes(27), 64 * 1024), 0,
		     "protected-mode kernel at LAYOUT_KERNEL");
	/* The header is the image's ... */
	cr_assert_eq(memcmp(zp + 0x202, "HdrS", 4), 0);
	cr_assert_eq(get16(zp, 0x1fe), 0xaa55);
	cr_assert_eq(get16(zp, 0x206), 0x020f);
	cr_assert_eq(get32(zp, 0x260), KERNEL_INIT);
	/* ... with what a loader fills in. */
	cr_assert_eq(zp[0x210], 0xff, "type_of_loader");
	cr_assert_eq(zp[0x211] & 0x81, 0x81, "LOADED_HIGH | CAN_USE_HEAP");
	cr_assert_neq(get16(zp, 0x224), 0, "heap_end_ptr");
	cr_assert_eq(get32(zp, 0x228), LAYOUT_CMDLINE);
	cr_assert_str_eq((const char *)gp(&m, LAYOUT_CMDLINE), "console=ttyS0 quiet");
	cr_assert_eq(get32(zp, 0x218), 0, "no initrd");
	cr_assert_eq(get32(zp, 0x21c), 0);
	cr_assert_eq(get64(zp, 0x250), 0, "setup_data from the image must not survive");
	cr_assert_eq(get64(zp, 0x70), LAYOUT_ACPI, "acpi_rsdp_addr for 2.14+");
	n = e820_build(&m, e820, 128);
	cr_assert_eq(zp[0x1e8], n);
	cr_assert_eq(memcmp(zp + 0x2d0, e820, (size_t)n * 20), 0, "e820 table at 0x2d0");
	cr_assert_eq(zp[0x1ef], 0, "sentinel clear: the zero page is really zeroed");
	free(img.buf);
	free(m.region[0].hva);
}

Test(linux_boot, no_rsdp_field_before_2_14)
{
	struct guest_mem m = mem_new(128 * SZ_1M);
	struct image img = make_image(0x020d, 0x0001, 27, 4096);
	struct boot_regs regs;

	cr_assert_eq(load(&m, &img, NULL, NULL, 0, &regs, NULL), 0);
	cr_assert_eq(get64(gp(&m, LAYOUT_ZERO_PAGE), 0x70), 0);
	free(img.buf);
	free(m.region[0].hva);
}

Test(linux_boot, setup_sects_zero_means_four)
{
	struct guest_mem m = mem_new(128 * SZ_1M);
	struct image img = make_image(0x020f, 0x0001, 0, 4096);
	struct boot_regs regs;

	cr_assert_eq(load(&m, &img, NULL, NULL, 0, &regs, NULL), 0);
	cr_assert_eq(memcmp(gp(&m, LAYOUT_KERNEL), img.buf + 5 * 512, 4096), 0);
	free(img.buf);
	free(m.region[0].hva);
}

Test(linux_boot, initrd_at_the_top_of_low_ram)
{
	struct guest_mem m = mem_new(128 * SZ_1M);
	struct image img = good_image();
	size_t size = SZ_1M + 123;
	uint8_t *initrd = malloc(size);
	struct boot_regs regs;
	uint32_t addr;

	for (size_t i = 0; i < size; i++)
		initrd[i] = (uint8_t)(i * 13);
	cr_assert_eq(load(&m, &img, NULL, initrd, size, &regs, NULL), 0);
	addr = get32(gp(&m, LAYOUT_ZERO_PAGE), 0x218);
	cr_assert_eq(get32(gp(&m, LAYOUT_ZERO_PAGE), 0x21c), size);
	cr_assert_eq(addr % 4096, 0);
	cr_assert_eq(addr, (128 * SZ_1M - size) & ~0xfffULL, "highest page below RAM's end");
	cr_assert_eq(memcmp(gp(&m, addr), initrd, size), 0);
	free(initrd);
	free(img.buf);
	free(m.region[0].hva);
}

Test(linux_boot, initrd_respects_initrd_addr_max)
{
	struct guest_mem m = mem_new(128 * SZ_1M);
	struct image img = good_image();
	size_t size = 4096 * 3;
	uint8_t *initrd = calloc(1, size);
	struct boot_regs regs;

	put32(img.buf, 0x22c, 0x4000000 - 1);
	cr_assert_eq(load(&m, &img, NULL, initrd, size, &regs, NULL), 0);
	cr_assert_eq(get32(gp(&m, LAYOUT_ZERO_PAGE), 0x218), 0x4000000 - size);
	free(initrd);
	free(img.buf);
	free(m.region[0].hva);
}

/*
 * The kernel moves itself to pref_address and uses init_size bytes from
 * there: 64 MiB of RAM leaves 16 MiB above it, less one page of rounding.
 */
Test(linux_boot, initrd_must_not_overlap_the_running_kernel)
{
	struct guest_mem m = mem_new(64 * SZ_1M);
	struct image img = good_image();
	size_t fits = 64 * SZ_1M - KERNEL_END;
	uint8_t *initrd = calloc(1, fits + 1);
	struct boot_regs regs;
	const char *why = NULL;

	cr_assert_eq(load(&m, &img, NULL, initrd, fits, &regs, &why), 0, "%s", why);
	cr_assert_eq(get32(gp(&m, LAYOUT_ZERO_PAGE), 0x218), KERNEL_END);
	memset(m.region[0].hva, 0, 64 * SZ_1M);
	cr_assert_eq(load(&m, &img, NULL, initrd, fits + 1, &regs, &why), -ENOSPC);
	cr_assert_not_null(strstr(why, "initrd does not fit below"), "%s", why);
	cr_assert(all_zero(gp(&m, 0), 64 * SZ_1M), "nothing written on failure");
	free(initrd);
	free(img.buf);
	free(m.region[0].hva);
}

Test(linux_boot, non_relocatable_kernel_runs_at_pref_address)
{
	struct guest_mem m = mem_new(64 * SZ_1M);
	struct image img = good_image();
	size_t fits = 64 * SZ_1M - KERNEL_END;
	uint8_t *initrd = calloc(1, fits);
	struct boot_regs regs;

	img.buf[0x234] = 0;
	put32(img.buf, 0x230, 0x4000000); /* an alignment that would move a relocatable one */
	cr_assert_eq(load(&m, &img, NULL, initrd, fits, &regs, NULL), 0);
	img.buf[0x234] = 1;
	cr_assert_eq(load(&m, &img, NULL, initrd, fits, &regs, NULL), -ENOSPC,
		     "relocatable: 1 MiB rounds up to 64 MiB, past RAM");
	free(initrd);
	free(img.buf);
	free(m.region[0].hva);
}

Test(linux_boot, kernel_too_big_for_ram)
{
	struct guest_mem m = mem_new(KERNEL_END - 4096);
	struct image img = good_image();
	struct boot_regs regs;
	const char *why = NULL;

	cr_assert_eq(load(&m, &img, NULL, NULL, 0, &regs, &why), -ENOSPC);
	cr_assert_not_null(strstr(why, "kernel does not fit in guest RAM"), "%s", why);
	cr_assert(all_zero(gp(&m, 0), 4 * SZ_1M));
	free(img.buf);
	free(m.region[0].hva);
}

/*
 * A pref_address near the top of the address space: the RAM the kernel
 * runs in, pref_address + init_size, lies far past guest RAM even though
 * the sum wraps to a small number in 64 bits (found by fuzz_linux_boot).
 */
Test(linux_boot, kernel_run_area_that_wraps_is_refused)
{
	struct guest_mem m = mem_new(64 * SZ_1M);
	struct image img = good_image();
	struct boot_regs regs;
	const char *why = NULL;

	img.buf[0x234] = 0; /* runs at pref_address */
	put64(img.buf, 0x258, 0xffffffffffe00000ULL);
	put32(img.buf, 0x260, 0x300000); /* ends at 2^64 + 1 MiB */
	cr_assert_eq(load(&m, &img, NULL, NULL, 0, &regs, &why), -ENOSPC);
	cr_assert_not_null(strstr(why, "kernel does not fit in guest RAM"), "%s", why);
	cr_assert(all_zero(gp(&m, 0), 4 * SZ_1M), "nothing written on failure");
	img.buf[0x234] = 1; /* relocatable: still never below pref_address */
	cr_assert_eq(load(&m, &img, NULL, NULL, 0, &regs, &why), -ENOSPC);
	free(img.buf);
	free(m.region[0].hva);
}

Test(linux_boot, cmdline_up_to_cmdline_size)
{
	struct guest_mem m = mem_new(128 * SZ_1M);
	struct image img = good_image();
	char line[257];
	struct boot_regs regs;
	const char *why = NULL;

	put32(img.buf, 0x238, 255);
	memset(line, 'x', 255);
	line[255] = '\0';
	memset(gp(&m, LAYOUT_CMDLINE) + 255, 0xaa, 1);
	cr_assert_eq(load(&m, &img, line, NULL, 0, &regs, &why), 0, "%s", why);
	cr_assert_eq(strlen((const char *)gp(&m, LAYOUT_CMDLINE)), 255, "NUL-terminated");
	line[255] = 'y';
	line[256] = '\0';
	cr_assert_eq(load(&m, &img, line, NULL, 0, &regs, &why), -ENOSPC);
	cr_assert_str_eq(why, "command line longer than the kernel's limit of 255 bytes");
	free(img.buf);
	free(m.region[0].hva);
}

Test(linux_boot, no_cmdline_is_an_empty_one)
{
	struct guest_mem m = mem_new(128 * SZ_1M);
	struct image img = good_image();
	struct boot_regs regs;

	memset(gp(&m, LAYOUT_CMDLINE), 'z', 16);
	cr_assert_eq(load(&m, &img, NULL, NULL, 0, &regs, NULL), 0);
	cr_assert_eq(get32(gp(&m, LAYOUT_ZERO_PAGE), 0x228), LAYOUT_CMDLINE);
	cr_assert_eq(*gp(&m, LAYOUT_CMDLINE), 0);
	free(img.buf);
	free(m.region[0].hva);
}
