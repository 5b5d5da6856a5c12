/* SPDX-License-Identifier: MIT */
#ifndef DEVICES_FW_CFG_H
#define DEVICES_FW_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "../core/bus.h"

/*
 * QEMU's firmware configuration device, as OVMF and SeaBIOS find it on x86
 * (QEMU's docs/specs/fw_cfg.rst). Register it on the PIO bus at
 * FW_CFG_PORT_BASE with length FW_CFG_PORT_LEN:
 *
 *   0x510  selector, 16-bit write (little-endian): selects an item, offset 0
 *   0x511  data, 8-bit: the next byte of the selected item (0 past its end);
 *          writes are ignored, as in QEMU since 2.4
 *   0x514  DMA address, 64-bit big-endian, written as a 64-bit access or as
 *          two 32-bit ones (0x514 high half first, then 0x518); writing the
 *          low half starts the transfer. Reads give "QEMU CFG".
 *
 * A transfer reads a FWCfgDmaAccess (control, length, address; all
 * big-endian) at the written address and writes control back: 0 when done,
 * FW_CFG_DMA_ERROR when not. Guest memory is reached only through
 * guest_mem_ptr(), so a transfer that names memory outside guest RAM fails
 * with the error bit (or, when the FWCfgDmaAccess itself is not in RAM, is
 * dropped) and never touches anything else.
 */
#define FW_CFG_PORT_BASE 0x510
#define FW_CFG_PORT_LEN  0x0c

/* Item keys (selector values) QEMU defines on x86. */
#define FW_CFG_SIGNATURE      0x00
#define FW_CFG_ID             0x01
#define FW_CFG_RAM_SIZE       0x03
#define FW_CFG_NB_CPUS        0x05 /* u16 */
#define FW_CFG_KERNEL_SIZE    0x08 /* u32: the bzImage minus its setup sectors */
#define FW_CFG_INITRD_SIZE    0x0b /* u32 */
#define FW_CFG_MAX_CPUS       0x0f /* u16 */
#define FW_CFG_KERNEL_DATA    0x11
#define FW_CFG_INITRD_DATA    0x12
#define FW_CFG_CMDLINE_SIZE   0x14 /* u32, counting the NUL */
#define FW_CFG_CMDLINE_DATA   0x15
#define FW_CFG_SETUP_SIZE     0x17 /* u32: (setup_sects + 1) * 512 */
#define FW_CFG_SETUP_DATA     0x18
#define FW_CFG_FILE_DIR       0x19
#define FW_CFG_FILE_FIRST     0x20
#define FW_CFG_WRITE_CHANNEL  0x4000 /* ignored in a selector, as in QEMU */
#define FW_CFG_ARCH_LOCAL     0x8000

#define FW_CFG_ID_TRADITIONAL 0x1
#define FW_CFG_ID_DMA         0x2

/* FWCfgDmaAccess.control bits; the selector goes in bits 31:16. */
#define FW_CFG_DMA_ERROR      0x01
#define FW_CFG_DMA_READ       0x02
#define FW_CFG_DMA_SKIP       0x04
#define FW_CFG_DMA_SELECT     0x08
#define FW_CFG_DMA_WRITE      0x10

/* A file name, NUL included. */
#define FW_CFG_NAME_MAX       56

/* One entry of the file directory (item 0x19, after a be32 count). */
struct fw_cfg_dir_entry {
	uint32_t size_be;
	uint16_t select_be;
	uint16_t reserved;
	char name[FW_CFG_NAME_MAX];
} __attribute__((packed));
_Static_assert(sizeof(struct fw_cfg_dir_entry) == 64, "fw_cfg directory entry is 64 bytes");

struct fw_cfg;
struct guest_mem;
extern const struct bus_ops fw_cfg_ops;

/*
 * A device with the signature, the ID item and an empty file directory.
 * mem may be NULL: the DMA interface is then absent (the ID says so).
 */
struct fw_cfg *fw_cfg_new(const struct guest_mem *mem);
void fw_cfg_free(struct fw_cfg *fw);

/*
 * Adds or replaces a numbered item (the keys above, other keys below
 * FW_CFG_FILE_FIRST, or arch-local keys); the data is copied. The
 * signature, ID and directory are the device's own: -EINVAL for those, for
 * keys in the file range, and for items of 4 GiB or more. 0 or -errno.
 */
int fw_cfg_add_item(struct fw_cfg *fw, uint16_t key, const void *data, size_t len)
	__attribute__((warn_unused_result));
int fw_cfg_add_u16(struct fw_cfg *fw, uint16_t key, uint16_t value)
	__attribute__((warn_unused_result));
int fw_cfg_add_u32(struct fw_cfg *fw, uint16_t key, uint32_t value)
	__attribute__((warn_unused_result));
int fw_cfg_add_u64(struct fw_cfg *fw, uint16_t key, uint64_t value)
	__attribute__((warn_unused_result));

/*
 * An item whose bytes come from read() when the guest reads them, so that
 * the VMM need not hold a copy (a kernel, an initrd): read copies n bytes
 * at offset off to dst and returns 0, or non-zero on failure, which the
 * guest sees as a DMA error (or zeros through the data port). It runs with
 * fw_cfg's lock held. Such an item is read-only. Keys as fw_cfg_add_item;
 * -EINVAL also when len is 4 GiB or more.
 */
typedef int fw_cfg_read_fn(void *ctx, uint64_t off, void *dst, size_t n);
int fw_cfg_add_item_reader(struct fw_cfg *fw, uint16_t key, uint64_t len, fw_cfg_read_fn *read,
			   void *ctx) __attribute__((warn_unused_result));

/*
 * Adds a named file at the next free key from FW_CFG_FILE_FIRST and lists
 * it in the directory; the data is copied. -EEXIST for a name already
 * there, -EINVAL for an empty name or one of FW_CFG_NAME_MAX bytes or more.
 */
int fw_cfg_add_file(struct fw_cfg *fw, const char *name, const void *data, size_t len)
	__attribute__((warn_unused_result));

/*
 * A file the guest may overwrite through DMA writes (in place: it cannot
 * grow, and a write that would run past its end is refused whole), such as
 * the target of the table loader's WRITE_POINTER. on_write, if not NULL,
 * runs after each accepted write with fw_cfg's lock held: it must not call
 * back into fw_cfg.
 */
typedef void fw_cfg_write_cb(void *opaque, uint32_t offset, uint32_t len);
int fw_cfg_add_file_writable(struct fw_cfg *fw, const char *name, const void *data, size_t len,
			     fw_cfg_write_cb *on_write, void *opaque)
	__attribute__((warn_unused_result));

/* Copies up to len bytes of a named file to buf; its size, or -ENOENT. */
long fw_cfg_read_file(struct fw_cfg *fw, const char *name, void *buf, size_t len);

/*
 * The items OVMF's QemuKernelLoaderFsDxe reads to boot a kernel given on the
 * command line: the bzImage split into its setup part (SETUP_SIZE/DATA,
 * (setup_sects + 1) * 512 bytes, 4 sectors when the header says 0) and the
 * rest (KERNEL_SIZE/DATA), the initrd (INITRD_SIZE/DATA; size 0 when
 * initrd is NULL) and the command line with its NUL (CMDLINE_SIZE/DATA; ""
 * when cmdline is NULL). -ENOEXEC when the kernel is shorter than its
 * setup part says. Everything is copied; to serve a big kernel or initrd
 * from its file instead, replace FW_CFG_KERNEL_DATA or FW_CFG_INITRD_DATA
 * afterwards with fw_cfg_add_item_reader() (same size).
 */
int fw_cfg_add_linux(struct fw_cfg *fw, const uint8_t *kernel, size_t kernel_len,
		     const uint8_t *initrd, size_t initrd_len, const char *cmdline)
	__attribute__((warn_unused_result));

#endif
