// SPDX-License-Identifier: MIT
/*
 * fw_cfg, driven the way OVMF drives it: a 16-bit selector write at 0x510,
 * byte reads at 0x511, and DMA through two big-endian 32-bit writes at
 * 0x514/0x518 naming a FWCfgDmaAccess in (fake) guest RAM. Layouts are
 * checked against QEMU's docs/specs/fw_cfg.rst, not against fw_cfg.h.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/fw_cfg.h"
#include "core/layout.h"
#include "core/log.h"
#include "core/memory.h"

#define RAM_LOW   (2 * SZ_1M)
#define RAM_HIGH  SZ_1M /* a second region at 4 GiB */
#define ACCESS    0x1000ULL /* where the tests put their FWCfgDmaAccess */
#define BUF       0x2000ULL

/* ---- a fake machine ---- */

static struct guest_mem mem;
static struct fw_cfg *fw;

static void setup(void)
{
	memset(&mem, 0, sizeof(mem));
	mem.fd = -1;
	mem.nr = 2;
	mem.total = RAM_LOW + RAM_HIGH;
	mem.region[0] = (struct guest_region){ .gpa = 0, .size = RAM_LOW, .hva = calloc(1, RAM_LOW) };
	mem.region[1] = (struct guest_region){ .gpa = SZ_4G, .size = RAM_HIGH,
					       .hva = calloc(1, RAM_HIGH) };
	cr_assert(mem.region[0].hva && mem.region[1].hva);
	fw = fw_cfg_new(&mem);
	cr_assert_not_null(fw);
}

static void teardown(void)
{
	fw_cfg_free(fw);
	free(mem.region[0].hva);
	free(mem.region[1].hva);
}

TestSuite(fw_cfg, .init = setup, .fini = teardown);

static uint8_t *ram(uint64_t gpa)
{
	uint8_t *p = guest_mem_ptr(&mem, gpa, 1);

	cr_assert_not_null(p);
	return p;
}

static void port_select(uint16_t key)
{
	fw_cfg_ops.write(fw, 0x510 - FW_CFG_PORT_BASE, 2, key);
}

static uint8_t port_data(void)
{
	return (uint8_t)fw_cfg_ops.read(fw, 0x511 - FW_CFG_PORT_BASE, 1);
}

static void port_read(uint16_t key, uint8_t *buf, size_t n)
{
	port_select(key);
	for (size_t i = 0; i < n; i++)
		buf[i] = port_data();
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* As OVMF's QemuFwCfgLib does it: IoWrite32 of the byte-swapped halves, high first. */
static void dma_kick(uint64_t gpa)
{
	fw_cfg_ops.write(fw, 0x514 - FW_CFG_PORT_BASE, 4, __builtin_bswap32((uint32_t)(gpa >> 32)));
	fw_cfg_ops.write(fw, 0x518 - FW_CFG_PORT_BASE, 4, __builtin_bswap32((uint32_t)gpa));
}

static void dma_access_at(uint64_t at, uint32_t control, uint32_t len, uint64_t addr)
{
	uint8_t *p = guest_mem_ptr(&mem, at, 16);

	cr_assert_not_null(p);
	put_be32(p, control);
	put_be32(p + 4, len);
	put_be32(p + 8, (uint32_t)(addr >> 32));
	put_be32(p + 12, (uint32_t)addr);
}

/* One transfer through the access structure at ACCESS; returns the control word written back. */
static uint32_t dma(uint32_t control, uint32_t len, uint64_t addr)
{
	dma_access_at(ACCESS, control, len, addr);
	dma_kick(ACCESS);
	return be32(ram(ACCESS));
}

static uint32_t sel(uint16_t key)
{
	return (uint32_t)key << 16 | FW_CFG_DMA_SELECT;
}

/* The selector key of a named file, from the directory read through the port. */
static uint16_t find_file(const char *name, uint32_t *size)
{
	uint8_t hdr[4], e[64];
	uint32_t count;

	port_read(0x19, hdr, 4);
	count = be32(hdr);
	for (uint32_t i = 0; i < count; i++) {
		for (size_t j = 0; j < sizeof(e); j++)
			e[j] = port_data();
		if (!strncmp((const char *)e + 8, name, 56)) {
			if (size)
				*size = be32(e);
			return (uint16_t)(e[4] << 8 | e[5]);
		}
	}
	cr_assert_fail("file %s not in the directory", name);
	return 0;
}

/* ---- identification ---- */

Test(fw_cfg, signature_through_the_port)
{
	uint8_t sig[5];

	port_read(0x0000, sig, 5);
	cr_assert_eq(memcmp(sig, "QEMU", 4), 0);
	cr_assert_eq(sig[4], 0, "past the end of an item reads 0");
	/* Bit 14 (the old write channel) does not change which item is selected. */
	port_read(0x4000, sig, 4);
	cr_assert_eq(memcmp(sig, "QEMU", 4), 0);
}

Test(fw_cfg, id_says_traditional_and_dma)
{
	uint8_t id[4];
	struct fw_cfg *nodma = fw_cfg_new(NULL);

	port_read(0x0001, id, 4);
	cr_assert_eq(le32(id), 3, "bit 0 traditional, bit 1 DMA");
	cr_assert_not_null(nodma);
	fw_cfg_ops.write(nodma, 0, 2, 0x0001);
	cr_assert_eq(fw_cfg_ops.read(nodma, 1, 1), 1, "no guest memory: no DMA");
	fw_cfg_free(nodma);
}

Test(fw_cfg, dma_register_reads_qemu_cfg)
{
	uint64_t v = fw_cfg_ops.read(fw, 0x514 - FW_CFG_PORT_BASE, 8);

	cr_assert_eq(__builtin_bswap64(v), 0x51454d5520434647ULL, "\"QEMU CFG\" big-endian");
	cr_assert_eq(__builtin_bswap32((uint32_t)fw_cfg_ops.read(fw, 4, 4)), 0x51454d55);
	cr_assert_eq(__builtin_bswap32((uint32_t)fw_cfg_ops.read(fw, 8, 4)), 0x20434647);
}

/* ---- the directory and files ---- */

Test(fw_cfg, directory_lists_files_big_endian)
{
	uint8_t d[4 + 3 * 64];

	cr_assert_eq(fw_cfg_add_file(fw, "etc/one", "abc", 3), 0);
	cr_assert_eq(fw_cfg_add_file(fw, "opt/ovmf/X-PciMmio64Mb", "32768", 5), 0);
	port_read(0x19, d, 4 + 2 * 64);
	cr_assert_eq(memcmp(d, "\0\0\0\2", 4), 0, "count, big-endian");
	/* size be32, select be16, reserved, name[56] */
	cr_assert_eq(memcmp(d + 4, "\0\0\0\3\0\x20\0\0etc/one\0", 16), 0);
	cr_assert_eq(memcmp(d + 68, "\0\0\0\5\0\x21\0\0opt/ovmf/X-PciMmio64Mb\0", 31), 0);
	for (size_t i = 68 + 8 + 23; i < 4 + 2 * 64; i++)
		cr_assert_eq(d[i], 0, "name padding");
	cr_assert_eq(fw_cfg_add_file(fw, "etc/three", NULL, 0), 0);
	port_read(0x19, d, sizeof(d));
	cr_assert_eq(be32(d), 3, "the directory follows additions");
	cr_assert_eq(memcmp(d + 4 + 128, "\0\0\0\0\0\x22\0\0etc/three", 17), 0);
}

Test(fw_cfg, bad_names_and_keys_are_refused)
{
	char longname[FW_CFG_NAME_MAX + 1];

	memset(longname, 'a', sizeof(longname));
	longname[FW_CFG_NAME_MAX] = '\0';
	cr_assert_eq(fw_cfg_add_file(fw, longname, "x", 1), -EINVAL);
	longname[FW_CFG_NAME_MAX - 1] = '\0'; /* 55 characters and the NUL: fits */
	cr_assert_eq(fw_cfg_add_file(fw, longname, "x", 1), 0);
	cr_assert_eq(fw_cfg_add_file(fw, "", "x", 1), -EINVAL);
	cr_assert_eq(fw_cfg_add_file(fw, "etc/x", "x", 1), 0);
	cr_assert_eq(fw_cfg_add_file(fw, "etc/x", "y", 1), -EEXIST);
	cr_assert_eq(fw_cfg_add_item(fw, FW_CFG_SIGNATURE, "EVIL", 4), -EINVAL);
	cr_assert_eq(fw_cfg_add_item(fw, FW_CFG_ID, "\0\0\0\0", 4), -EINVAL);
	cr_assert_eq(fw_cfg_add_item(fw, FW_CFG_FILE_DIR, "", 1), -EINVAL);
	cr_assert_eq(fw_cfg_add_item(fw, 0x20, "x", 1), -EINVAL, "the file range");
	cr_assert_eq(fw_cfg_add_item(fw, 0x4005, "x", 1), -EINVAL, "the write channel");
	cr_assert_eq(fw_cfg_add_item(fw, 0x8003, "x", 1), 0, "arch-local keys are fine");
}

Test(fw_cfg, file_byte_by_byte)
{
	uint8_t data[300], got[302];
	uint32_t size;
	uint16_t key;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 1);
	cr_assert_eq(fw_cfg_add_file(fw, "etc/acpi/tables", data, sizeof(data)), 0);
	key = find_file("etc/acpi/tables", &size);
	cr_assert_eq(size, sizeof(data));
	port_read(key, got, sizeof(got));
	cr_assert_eq(memcmp(got, data, sizeof(data)), 0);
	cr_assert_eq(got[300] | got[301], 0, "reads past the end give 0");
	/* Reselecting starts over. */
	port_select(key);
	cr_assert_eq(port_data(), data[0]);
}

Test(fw_cfg, file_by_dma)
{
	uint8_t data[5000];
	uint16_t key;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i ^ (i >> 8));
	cr_assert_eq(fw_cfg_add_file(fw, "etc/blob", data, sizeof(data)), 0);
	key = find_file("etc/blob", NULL);
	cr_assert_eq(dma(sel(key) | FW_CFG_DMA_READ, 3000, BUF), 0, "success is 0");
	cr_assert_eq(memcmp(ram(BUF), data, 3000), 0);
	/* No select: carries on at the offset the first transfer left. */
	cr_assert_eq(dma(FW_CFG_DMA_READ, 2000, BUF + 3000), 0);
	cr_assert_eq(memcmp(ram(BUF), data, sizeof(data)), 0);
	/* Past the end: zeros, and still success (QEMU does the same). */
	memset(ram(BUF), 0xaa, 16);
	cr_assert_eq(dma(FW_CFG_DMA_READ, 16, BUF), 0);
	for (int i = 0; i < 16; i++)
		cr_assert_eq(ram(BUF)[i], 0);
}

Test(fw_cfg, dma_64bit_access_and_high_memory)
{
	uint64_t hi = SZ_4G + 0x100;

	/* The access structure above 4 GiB: needs the high half. */
	dma_access_at(hi, sel(FW_CFG_SIGNATURE) | FW_CFG_DMA_READ, 4, hi + 0x40);
	dma_kick(hi);
	cr_assert_eq(be32(ram(hi)), 0);
	cr_assert_eq(memcmp(ram(hi + 0x40), "QEMU", 4), 0);
	/* The register is 0 after a transfer: a lone low-half write means high half 0. */
	dma_access_at(ACCESS, sel(FW_CFG_SIGNATURE) | FW_CFG_DMA_READ, 4, BUF + 8);
	fw_cfg_ops.write(fw, 8, 4, __builtin_bswap32((uint32_t)ACCESS));
	cr_assert_eq(be32(ram(ACCESS)), 0);
	cr_assert_eq(memcmp(ram(BUF + 8), "QEMU", 4), 0);
	/* One 64-bit write of the whole register works too. */
	dma_access_at(ACCESS, sel(FW_CFG_ID) | FW_CFG_DMA_READ, 4, BUF);
	fw_cfg_ops.write(fw, 4, 8, __builtin_bswap64(ACCESS));
	cr_assert_eq(be32(ram(ACCESS)), 0);
	cr_assert_eq(le32(ram(BUF)), 3);
}

/* ---- DMA errors: hostile addresses and lengths ---- */

Test(fw_cfg, dma_bad_addresses_set_the_error_bit)
{
	uint8_t *last = ram(RAM_LOW - 8);

	memset(last, 0x5a, 8);
	cr_assert_eq(dma(sel(0) | FW_CFG_DMA_READ, 4, RAM_LOW + 0x1000), FW_CFG_DMA_ERROR,
		     "address outside RAM");
	cr_assert_eq(dma(sel(0) | FW_CFG_DMA_READ, 4, LAYOUT_MMIO_HOLE), FW_CFG_DMA_ERROR,
		     "address in the MMIO hole");
	cr_assert_eq(dma(sel(0) | FW_CFG_DMA_READ, 16, RAM_LOW - 8), FW_CFG_DMA_ERROR,
		     "runs off the end of RAM");
	for (int i = 0; i < 8; i++)
		cr_assert_eq(last[i], 0x5a, "nothing written by a refused transfer");
	cr_assert_eq(dma(sel(0) | FW_CFG_DMA_READ, 0x20, 0xfffffffffffffff0ULL), FW_CFG_DMA_ERROR,
		     "address + length wraps");
	cr_assert_eq(dma(sel(0) | FW_CFG_DMA_READ, 0xffffffff, BUF), FW_CFG_DMA_ERROR,
		     "4 GiB into 2 MiB of RAM");
	cr_assert_eq(dma(sel(0) | FW_CFG_DMA_READ, 0x1000, RAM_LOW - 0x800), FW_CFG_DMA_ERROR,
		     "straddles the end of the low region");
	/* The device still works afterwards. */
	cr_assert_eq(dma(sel(0) | FW_CFG_DMA_READ, 4, BUF), 0);
	cr_assert_eq(memcmp(ram(BUF), "QEMU", 4), 0);
}

Test(fw_cfg, dma_structure_outside_ram_is_dropped)
{
	uint8_t *tail = ram(RAM_LOW - 8);

	memset(tail, 0x77, 8);
	dma_kick(RAM_LOW + 0x100);       /* nowhere */
	dma_kick(0xfffffffffffffff8ULL); /* wraps */
	dma_kick(RAM_LOW - 8);           /* half in RAM */
	for (int i = 0; i < 8; i++)
		cr_assert_eq(tail[i], 0x77, "a structure not wholly in RAM is not touched");
	cr_assert_eq(dma(sel(0) | FW_CFG_DMA_READ, 4, BUF), 0);
}

Test(fw_cfg, dma_over_its_own_structure)
{
	uint8_t data[64];

	memset(data, 0xee, sizeof(data));
	cr_assert_eq(fw_cfg_add_file(fw, "etc/x", data, sizeof(data)), 0);
	/* The guest asks for the data right on top of the access structure. */
	cr_assert_eq(dma(sel(0x20) | FW_CFG_DMA_READ, 64, ACCESS), 0,
		     "the control word is written last");
	cr_assert_eq(ram(ACCESS)[4], 0xee);
	cr_assert_eq(ram(ACCESS)[63], 0xee);
}

/* ---- skip, select, write ---- */

Test(fw_cfg, skip_and_select)
{
	cr_assert_eq(fw_cfg_add_file(fw, "etc/abc", "0123456789", 10), 0);
	cr_assert_eq(dma(sel(0x20) | FW_CFG_DMA_SKIP, 3, 0), 0);
	cr_assert_eq(dma(FW_CFG_DMA_READ, 2, BUF), 0);
	cr_assert_eq(memcmp(ram(BUF), "34", 2), 0, "read after a skip of 3");
	/* The port sees the same offset. */
	cr_assert_eq(port_data(), '5');
	cr_assert_eq(dma(FW_CFG_DMA_SKIP, 100, 0), 0, "skipping past the end is fine");
	cr_assert_eq(port_data(), 0);
	/* Select alone resets the offset. */
	cr_assert_eq(dma(sel(0x20), 0, 0), 0);
	cr_assert_eq(port_data(), '0');
	/* An absent item reads as zeros, by port and by DMA. */
	port_select(0x1234);
	cr_assert_eq(port_data(), 0);
	memset(ram(BUF), 0xff, 8);
	cr_assert_eq(dma(sel(0x1234) | FW_CFG_DMA_READ, 8, BUF), 0);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(ram(BUF)[i], 0);
}

Test(fw_cfg, writes_to_read_only_items_are_refused)
{
	uint8_t got[4];

	cr_assert_eq(fw_cfg_add_file(fw, "etc/ro", "abcd", 4), 0);
	memcpy(ram(BUF), "WXYZ", 4);
	cr_assert_eq(dma(sel(0x20) | FW_CFG_DMA_WRITE, 4, BUF), FW_CFG_DMA_ERROR);
	cr_assert_eq(dma(sel(FW_CFG_SIGNATURE) | FW_CFG_DMA_WRITE, 4, BUF), FW_CFG_DMA_ERROR);
	cr_assert_eq(dma(sel(0x1234) | FW_CFG_DMA_WRITE, 4, BUF), FW_CFG_DMA_ERROR, "absent item");
	/* Data-port writes are ignored, as in QEMU since 2.4. */
	port_select(0x20);
	fw_cfg_ops.write(fw, 1, 1, 'Q');
	port_read(0x20, got, 4);
	cr_assert_eq(memcmp(got, "abcd", 4), 0);
	port_read(FW_CFG_SIGNATURE, got, 4);
	cr_assert_eq(memcmp(got, "QEMU", 4), 0);
}

static uint32_t cb_offset, cb_len, cb_calls;

static void on_write(void *opaque, uint32_t offset, uint32_t len)
{
	cr_assert_eq(opaque, &cb_calls);
	cb_offset = offset;
	cb_len = len;
	cb_calls++;
}

Test(fw_cfg, writable_file_in_place)
{
	uint8_t got[8];

	cb_calls = 0;
	cr_assert_eq(fw_cfg_add_file_writable(fw, "etc/wp", "\0\0\0\0\0\0\0\0", 8, on_write,
					      &cb_calls), 0);
	memcpy(ram(BUF), "\x11\x22\x33\x44", 4);
	/* What OVMF does for WRITE_POINTER: select, skip to the field, write. */
	cr_assert_eq(dma(sel(0x20) | FW_CFG_DMA_SKIP, 2, 0), 0);
	cr_assert_eq(dma(FW_CFG_DMA_WRITE, 4, BUF), 0);
	cr_assert_eq(fw_cfg_read_file(fw, "etc/wp", got, sizeof(got)), 8);
	cr_assert_eq(memcmp(got, "\0\0\x11\x22\x33\x44\0\0", 8), 0);
	cr_assert_eq(cb_calls, 1);
	cr_assert_eq(cb_offset, 2);
	cr_assert_eq(cb_len, 4);
	/* Offset is now 6: 4 more bytes would run past the end, so nothing is written. */
	cr_assert_eq(dma(FW_CFG_DMA_WRITE, 4, BUF), FW_CFG_DMA_ERROR);
	cr_assert_eq(dma(sel(0x20) | FW_CFG_DMA_WRITE, 4, RAM_LOW + 0x10), FW_CFG_DMA_ERROR,
		     "source outside RAM");
	cr_assert_eq(fw_cfg_read_file(fw, "etc/wp", got, sizeof(got)), 8);
	cr_assert_eq(memcmp(got, "\0\0\x11\x22\x33\x44\0\0", 8), 0);
	cr_assert_eq(cb_calls, 1);
	cr_assert_eq(fw_cfg_read_file(fw, "etc/none", got, sizeof(got)), -ENOENT);
}

/* ---- numbered items and the Linux boot items ---- */

Test(fw_cfg, numbered_items_little_endian)
{
	uint8_t got[8];

	cr_assert_eq(fw_cfg_add_u16(fw, FW_CFG_NB_CPUS, 0x0102), 0);
	cr_assert_eq(fw_cfg_add_u16(fw, FW_CFG_MAX_CPUS, 8), 0);
	cr_assert_eq(fw_cfg_add_u64(fw, FW_CFG_RAM_SIZE, 0x1122334455667788ULL), 0);
	port_read(0x05, got, 3);
	cr_assert_eq(memcmp(got, "\x02\x01\0", 3), 0, "u16, then 0 past the end");
	port_read(0x0f, got, 2);
	cr_assert_eq(memcmp(got, "\x08\0", 2), 0);
	port_read(0x03, got, 8);
	cr_assert_eq(memcmp(got, "\x88\x77\x66\x55\x44\x33\x22\x11", 8), 0);
	/* Replacing an item replaces it. */
	cr_assert_eq(fw_cfg_add_u16(fw, FW_CFG_NB_CPUS, 4), 0);
	port_read(0x05, got, 2);
	cr_assert_eq(memcmp(got, "\x04\0", 2), 0);
}

static uint32_t item_u32(uint16_t key)
{
	uint8_t b[4];

	port_read(key, b, 4);
	return le32(b);
}

Test(fw_cfg, linux_items_round_trip)
{
	size_t klen = 10000, ilen = 70000;
	uint8_t *kernel = malloc(klen), *initrd = malloc(ilen), *whole = malloc(klen);
	const char *cmdline = "console=ttyS0 root=/dev/vda";

	cr_assert(kernel && initrd && whole);
	for (size_t i = 0; i < klen; i++)
		kernel[i] = (uint8_t)(i * 13);
	for (size_t i = 0; i < ilen; i++)
		initrd[i] = (uint8_t)(i * 31 + 5);
	kernel[0x1f1] = 3; /* setup_sects: the setup part is 4 sectors */
	cr_assert_eq(fw_cfg_add_linux(fw, kernel, klen, initrd, ilen, cmdline), 0);
	/* The numbers OVMF's QemuKernelLoaderFsDxe reads. */
	cr_assert_eq(item_u32(0x17), 4 * 512, "FW_CFG_SETUP_SIZE");
	cr_assert_eq(item_u32(0x08), klen - 4 * 512, "FW_CFG_KERNEL_SIZE");
	cr_assert_eq(item_u32(0x0b), ilen, "FW_CFG_INITRD_SIZE");
	cr_assert_eq(item_u32(0x14), strlen(cmdline) + 1, "FW_CFG_CMDLINE_SIZE");
	/* "kernel" is the setup part and then the rest: the file as given. */
	cr_assert_eq(dma(sel(0x18) | FW_CFG_DMA_READ, 4 * 512, BUF), 0);
	cr_assert_eq(dma(sel(0x11) | FW_CFG_DMA_READ, (uint32_t)(klen - 4 * 512), BUF + 4 * 512), 0);
	cr_assert_eq(memcmp(ram(BUF), kernel, klen), 0);
	cr_assert_eq(dma(sel(0x12) | FW_CFG_DMA_READ, (uint32_t)ilen, 0x100000), 0);
	cr_assert_eq(memcmp(ram(0x100000), initrd, ilen), 0);
	cr_assert_eq(dma(sel(0x15) | FW_CFG_DMA_READ, (uint32_t)strlen(cmdline) + 1, BUF), 0);
	cr_assert_str_eq((const char *)ram(BUF), cmdline);
	/* setup_sects 0 means 4; no initrd means size 0; no command line means "". */
	kernel[0x1f1] = 0;
	cr_assert_eq(fw_cfg_add_linux(fw, kernel, klen, NULL, 0, NULL), 0);
	cr_assert_eq(item_u32(0x17), 5 * 512);
	cr_assert_eq(item_u32(0x0b), 0);
	cr_assert_eq(item_u32(0x14), 1);
	kernel[0x1f1] = 200; /* 201 sectors: longer than the file */
	cr_assert_eq(fw_cfg_add_linux(fw, kernel, klen, NULL, 0, NULL), -ENOEXEC);
	cr_assert_eq(fw_cfg_add_linux(fw, kernel, 0x1f0, NULL, 0, NULL), -ENOEXEC);
	free(kernel);
	free(initrd);
	free(whole);
}

struct fake_file {
	const uint8_t *bytes;
	uint64_t fail_from; /* reads reaching this offset fail */
	unsigned calls;
};

static int fake_read(void *ctx, uint64_t off, void *dst, size_t n)
{
	struct fake_file *f = ctx;

	f->calls++;
	if (off + n > f->fail_from)
		return -EIO;
	memcpy(dst, f->bytes + off, n);
	return 0;
}

Test(fw_cfg, reader_items_are_read_on_demand)
{
	static uint8_t initrd[100000];
	struct fake_file f = { .bytes = initrd, .fail_from = UINT64_MAX };
	uint8_t got[4];

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i * 3 + i / 256);
	cr_assert_eq(fw_cfg_add_item_reader(fw, FW_CFG_INITRD_DATA, sizeof(initrd), fake_read, &f),
		     0);
	cr_assert_eq(f.calls, 0, "nothing read until the guest asks");
	cr_assert_eq(dma(sel(0x12) | FW_CFG_DMA_SKIP, 10, 0), 0);
	cr_assert_eq(dma(FW_CFG_DMA_READ, sizeof(initrd) - 10 + 6, 0x100000), 0);
	cr_assert_eq(memcmp(ram(0x100000), initrd + 10, sizeof(initrd) - 10), 0);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(ram(0x100000 + sizeof(initrd) - 10)[i], 0, "zeros past the end");
	port_read(0x12, got, 4);
	cr_assert_eq(memcmp(got, initrd, 4), 0, "the data port reads through it too");
	/* A failing read is a DMA error, and the offset stays where it was. */
	f.fail_from = 50000;
	cr_assert_eq(dma(sel(0x12) | FW_CFG_DMA_READ, 40000, BUF), 0);
	cr_assert_eq(dma(FW_CFG_DMA_READ, 20000, 0x100000), FW_CFG_DMA_ERROR);
	f.fail_from = UINT64_MAX;
	cr_assert_eq(dma(FW_CFG_DMA_READ, 4, BUF), 0);
	cr_assert_eq(memcmp(ram(BUF), initrd + 40000, 4), 0);
	cr_assert_eq(dma(sel(0x12) | FW_CFG_DMA_WRITE, 4, BUF), FW_CFG_DMA_ERROR, "read-only");
	cr_assert_eq(fw_cfg_add_item_reader(fw, 0x20, 4, fake_read, &f), -EINVAL);
	cr_assert_eq(fw_cfg_add_item_reader(fw, 0x12, SZ_4G, fake_read, &f), -EINVAL);
	/* Replacing it with plain data drops the reader. */
	cr_assert_eq(fw_cfg_add_item(fw, FW_CFG_INITRD_DATA, "abcd", 4), 0);
	f.calls = 0;
	port_read(0x12, got, 4);
	cr_assert_eq(memcmp(got, "abcd", 4), 0);
	cr_assert_eq(f.calls, 0);
}

/* ---- a hostile guest ---- */

static __thread uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	/* xorshift64*: the same sequence every run. */
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545f4914f6cdd1dULL;
}

static uint64_t rnd_gpa(void)
{
	switch (rnd() % 5) {
	case 0: return rnd() % RAM_LOW;
	case 1: return RAM_LOW - rnd() % 64;            /* at the end of RAM */
	case 2: return SZ_4G + RAM_HIGH - rnd() % 64;    /* at the end of high RAM */
	case 3: return rnd() % (SZ_4G + 2 * RAM_HIGH);
	default: return rnd();
	}
}

static void hostile_step(struct fw_cfg *dev)
{
	static const unsigned sizes[] = { 1, 2, 4, 8 };
	unsigned size = sizes[rnd() % 4];
	uint64_t off = rnd() % (FW_CFG_PORT_LEN + 2);
	uint64_t at = rnd() % (RAM_LOW - 16);
	uint8_t *p = mem.region[0].hva + at;

	switch (rnd() % 4) {
	case 0:
		fw_cfg_ops.write(dev, off, size, rnd());
		break;
	case 1:
		(void)fw_cfg_ops.read(dev, off, size);
		break;
	default:
		/* A well-placed structure with hostile contents, or a hostile pointer. */
		put_be32(p, (uint32_t)rnd());
		put_be32(p + 4, (uint32_t)(rnd() % 3 ? rnd() % 0x3000 : rnd()));
		put_be32(p + 8, (uint32_t)(rnd_gpa() >> 32));
		put_be32(p + 12, (uint32_t)rnd_gpa());
		if (rnd() % 2)
			memcpy(p + 8, (uint8_t[]){ 0, 0, 0, 0 }, 4);
		fw_cfg_ops.write(dev, 4, 4, __builtin_bswap32(rnd() % 4 ? 0 : (uint32_t)rnd()));
		fw_cfg_ops.write(dev, 8, 4, __builtin_bswap32(rnd() % 4 ? (uint32_t)at :
					   (uint32_t)rnd_gpa()));
		break;
	}
}

Test(fw_cfg, hostile_guest_never_crashes)
{
	uint8_t wp[32] = { 0 };

	cr_assert_eq(fw_cfg_add_file(fw, "etc/a", "0123456789", 10), 0);
	cr_assert_eq(fw_cfg_add_file_writable(fw, "etc/w", wp, sizeof(wp), NULL, NULL), 0);
	static uint8_t big[0x5000];
	static struct fake_file f = { .bytes = big, .fail_from = 0x4000 };

	cr_assert_eq(fw_cfg_add_u16(fw, FW_CFG_NB_CPUS, 2), 0);
	cr_assert_eq(fw_cfg_add_item_reader(fw, FW_CFG_KERNEL_DATA, sizeof(big), fake_read, &f), 0);
	log_threshold = LOG_ERR; /* the refused structures are expected here */
	for (int i = 0; i < 200000; i++)
		hostile_step(fw);
	/* Still a working device. */
	port_read(FW_CFG_SIGNATURE, wp, 4);
	cr_assert_eq(memcmp(wp, "QEMU", 4), 0);
	cr_assert_eq(dma(sel(0x20) | FW_CFG_DMA_READ, 10, BUF), 0);
	cr_assert_eq(memcmp(ram(BUF), "0123456789", 10), 0);
}

static void *hostile_thread(void *arg)
{
	for (int i = 0; i < 50000; i++)
		hostile_step(arg);
	return NULL;
}

/* Two vCPUs at once, while the VMM adds files: the lock keeps each access whole. */
Test(fw_cfg, concurrent_vcpus)
{
	pthread_t t[2];
	char name[32];

	log_threshold = LOG_ERR;
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, hostile_thread, fw), 0);
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "etc/file%d", i);
		cr_assert_eq(fw_cfg_add_file(fw, name, name, strlen(name)), 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(find_file("etc/file199", NULL), 0x20 + 199);
}
