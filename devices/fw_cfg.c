// SPDX-License-Identifier: MIT
/*
 * QEMU's fw_cfg device: how OVMF learns the machine (CPUs, memory map,
 * ACPI tables, the kernel to boot) before it has any ACPI of its own.
 *
 * One selector and one offset for the whole device, as in QEMU: firmware
 * drives it from one CPU at a time. Items are append-only, so the selected
 * item is kept as an index that stays valid when items are added.
 */
#include "fw_cfg.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "../core/memory.h"

#define FW_CFG_NAME "fw_cfg"

/* Offsets inside the register window. */
#define REG_SELECTOR 0
#define REG_DATA     1
#define REG_DMA_HIGH 4
#define REG_DMA_LOW  8
#define REG_DMA_END  12

#define DMA_ACCESS_SIZE 16 /* be32 control, be32 length, be64 address */

static const uint8_t dma_signature[8] = "QEMU CFG";

struct fw_cfg_item {
	uint16_t key;
	bool writable;
	uint8_t *data;
	uint32_t len;
	char name[FW_CFG_NAME_MAX]; /* "" for numbered items */
	fw_cfg_write_cb *on_write;
	void *opaque;
	fw_cfg_read_fn *read; /* instead of data, for items too big to copy */
	void *read_ctx;
};

struct fw_cfg {
	pthread_mutex_t lock;
	const struct guest_mem *mem; /* NULL: no DMA interface */
	struct fw_cfg_item *items;
	unsigned nr, cap, nr_files;
	int cur;           /* index of the selected item, -1 for none */
	uint32_t offset;   /* into the selected item; never past its end */
	uint32_t dma_high; /* high half of the DMA address, until the low half comes */
	struct log_ratelimit warn_rl; /* dev_warn_rl()'s, for warnings a guest can drive */
};

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static int fw_cfg_find(const struct fw_cfg *fw, uint16_t key)
{
	for (unsigned i = 0; i < fw->nr; i++)
		if (fw->items[i].key == key)
			return (int)i;
	return -1;
}

static int fw_cfg_find_name(const struct fw_cfg *fw, const char *name)
{
	for (unsigned i = 0; i < fw->nr; i++)
		if (fw->items[i].name[0] && !strcmp(fw->items[i].name, name))
			return (int)i;
	return -1;
}

/* ---- the items (lock held) ---- */

static int fw_cfg_slot(struct fw_cfg *fw, uint16_t key, struct fw_cfg_item **out)
{
	int i = fw_cfg_find(fw, key);
	struct fw_cfg_item *p;

	if (i >= 0) {
		*out = &fw->items[i];
		return 0;
	}
	if (fw->nr == fw->cap) {
		unsigned cap = fw->cap ? 2 * fw->cap : 32;

		p = realloc(fw->items, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		fw->items = p;
		fw->cap = cap;
	}
	p = &fw->items[fw->nr++];
	memset(p, 0, sizeof(*p));
	p->key = key;
	*out = p;
	return 0;
}

/* Replaces the data of key's item, creating the item if needed. */
static int fw_cfg_set(struct fw_cfg *fw, uint16_t key, const void *data, size_t len)
{
	struct fw_cfg_item *it;
	uint8_t *copy;
	int ret;

	if (len > UINT32_MAX)
		return -EINVAL;
	copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	if (len)
		memcpy(copy, data, len);
	ret = fw_cfg_slot(fw, key, &it);
	if (ret) {
		free(copy);
		return ret;
	}
	free(it->data);
	it->data = copy;
	it->len = (uint32_t)len;
	it->read = NULL;
	/* The selected item may have shrunk: keep the offset inside it. */
	if (fw->cur >= 0 && &fw->items[fw->cur] == it && fw->offset > it->len)
		fw->offset = it->len;
	return 0;
}

/* The directory: be32 count, then one entry per file in the order they were added. */
static int fw_cfg_rebuild_dir(struct fw_cfg *fw)
{
	size_t len = 4 + (size_t)fw->nr_files * sizeof(struct fw_cfg_dir_entry);
	uint8_t *dir = calloc(1, len);
	struct fw_cfg_dir_entry *e = (struct fw_cfg_dir_entry *)(dir + 4);
	int ret;

	if (!dir)
		return -ENOMEM;
	put_be32(dir, fw->nr_files);
	for (unsigned i = 0; i < fw->nr; i++) {
		const struct fw_cfg_item *it = &fw->items[i];

		if (!it->name[0])
			continue;
		put_be32((uint8_t *)&e->size_be, it->len);
		e->select_be = (uint16_t)(it->key >> 8 | it->key << 8);
		memcpy(e->name, it->name, sizeof(e->name));
		e++;
	}
	ret = fw_cfg_set(fw, FW_CFG_FILE_DIR, dir, len);
	free(dir);
	return ret;
}

static bool fw_cfg_key_reserved(uint16_t key)
{
	uint16_t index = key & (uint16_t)~(FW_CFG_ARCH_LOCAL | FW_CFG_WRITE_CHANNEL);

	if (key & FW_CFG_WRITE_CHANNEL)
		return true;
	if (key & FW_CFG_ARCH_LOCAL)
		return false;
	return index == FW_CFG_SIGNATURE || index == FW_CFG_ID || index == FW_CFG_FILE_DIR ||
	       index >= FW_CFG_FILE_FIRST;
}

/* ---- the API ---- */

struct fw_cfg *fw_cfg_new(const struct guest_mem *mem)
{
	struct fw_cfg *fw = calloc(1, sizeof(*fw));
	uint8_t id[4] = { FW_CFG_ID_TRADITIONAL | (mem ? FW_CFG_ID_DMA : 0), 0, 0, 0 };

	if (!fw)
		return NULL;
	pthread_mutex_init(&fw->lock, NULL);
	fw->mem = mem;
	fw->cur = -1;
	if (fw_cfg_set(fw, FW_CFG_SIGNATURE, "QEMU", 4) || fw_cfg_set(fw, FW_CFG_ID, id, 4) ||
	    fw_cfg_rebuild_dir(fw)) {
		fw_cfg_free(fw);
		return NULL;
	}
	return fw;
}

void fw_cfg_free(struct fw_cfg *fw)
{
	if (!fw)
		return;
	for (unsigned i = 0; i < fw->nr; i++)
		free(fw->items[i].data);
	free(fw->items);
	pthread_mutex_destroy(&fw->lock);
	free(fw);
}

int fw_cfg_add_item(struct fw_cfg *fw, uint16_t key, const void *data, size_t len)
{
	int ret;

	if (fw_cfg_key_reserved(key))
		return -EINVAL;
	pthread_mutex_lock(&fw->lock);
	ret = fw_cfg_set(fw, key, data, len);
	pthread_mutex_unlock(&fw->lock);
	return ret;
}

int fw_cfg_add_item_reader(struct fw_cfg *fw, uint16_t key, uint64_t len, fw_cfg_read_fn *read,
			   void *ctx)
{
	int ret;

	if (fw_cfg_key_reserved(key) || len > UINT32_MAX || !read)
		return -EINVAL;
	pthread_mutex_lock(&fw->lock);
	ret = fw_cfg_set(fw, key, NULL, 0);
	if (!ret) {
		struct fw_cfg_item *it = &fw->items[fw_cfg_find(fw, key)];

		it->len = (uint32_t)len;
		it->read = read;
		it->read_ctx = ctx;
	}
	pthread_mutex_unlock(&fw->lock);
	return ret;
}

int fw_cfg_add_u16(struct fw_cfg *fw, uint16_t key, uint16_t value)
{
	uint8_t le[2] = { (uint8_t)value, (uint8_t)(value >> 8) };

	return fw_cfg_add_item(fw, key, le, sizeof(le));
}

int fw_cfg_add_u32(struct fw_cfg *fw, uint16_t key, uint32_t value)
{
	uint8_t le[4];

	for (unsigned i = 0; i < 4; i++)
		le[i] = (uint8_t)(value >> (8 * i));
	return fw_cfg_add_item(fw, key, le, sizeof(le));
}

int fw_cfg_add_u64(struct fw_cfg *fw, uint16_t key, uint64_t value)
{
	uint8_t le[8];

	for (unsigned i = 0; i < 8; i++)
		le[i] = (uint8_t)(value >> (8 * i));
	return fw_cfg_add_item(fw, key, le, sizeof(le));
}

static int fw_cfg_add_file_locked(struct fw_cfg *fw, const char *name, const void *data,
				  size_t len, bool writable, fw_cfg_write_cb *cb, void *opaque)
{
	uint16_t key = (uint16_t)(FW_CFG_FILE_FIRST + fw->nr_files);
	struct fw_cfg_item *it;
	int ret;

	if (fw_cfg_find_name(fw, name) >= 0)
		return -EEXIST;
	if (key >= FW_CFG_WRITE_CHANNEL)
		return -ENOSPC;
	ret = fw_cfg_set(fw, key, data, len);
	if (ret)
		return ret;
	it = &fw->items[fw_cfg_find(fw, key)];
	strcpy(it->name, name);
	it->writable = writable;
	it->on_write = cb;
	it->opaque = opaque;
	fw->nr_files++;
	ret = fw_cfg_rebuild_dir(fw);
	if (ret) {
		/* Leave the file unnamed, so the directory and the files agree. */
		it->name[0] = '\0';
		fw->nr_files--;
	}
	return ret;
}

int fw_cfg_add_file_writable(struct fw_cfg *fw, const char *name, const void *data, size_t len,
			     fw_cfg_write_cb *on_write, void *opaque)
{
	int ret;

	if (!name || !name[0] || strlen(name) >= FW_CFG_NAME_MAX)
		return -EINVAL;
	pthread_mutex_lock(&fw->lock);
	ret = fw_cfg_add_file_locked(fw, name, data, len, true, on_write, opaque);
	pthread_mutex_unlock(&fw->lock);
	return ret;
}

int fw_cfg_add_file(struct fw_cfg *fw, const char *name, const void *data, size_t len)
{
	int ret;

	if (!name || !name[0] || strlen(name) >= FW_CFG_NAME_MAX)
		return -EINVAL;
	pthread_mutex_lock(&fw->lock);
	ret = fw_cfg_add_file_locked(fw, name, data, len, false, NULL, NULL);
	pthread_mutex_unlock(&fw->lock);
	return ret;
}

long fw_cfg_read_file(struct fw_cfg *fw, const char *name, void *buf, size_t len)
{
	long ret = -ENOENT;
	int i;

	pthread_mutex_lock(&fw->lock);
	i = fw_cfg_find_name(fw, name);
	if (i >= 0) {
		const struct fw_cfg_item *it = &fw->items[i];

		memcpy(buf, it->data, len < it->len ? len : it->len);
		ret = it->len;
	}
	pthread_mutex_unlock(&fw->lock);
	return ret;
}

int fw_cfg_add_linux(struct fw_cfg *fw, const uint8_t *kernel, size_t kernel_len,
		     const uint8_t *initrd, size_t initrd_len, const char *cmdline)
{
	size_t setup, sects;
	int ret;

	if (kernel_len <= 0x1f1)
		return -ENOEXEC;
	sects = kernel[0x1f1] ? kernel[0x1f1] : 4;
	setup = (sects + 1) * 512;
	if (setup > kernel_len || kernel_len - setup > UINT32_MAX || initrd_len > UINT32_MAX)
		return -ENOEXEC;
	if (!cmdline)
		cmdline = "";
	if (!initrd)
		initrd_len = 0;
	ret = fw_cfg_add_u32(fw, FW_CFG_SETUP_SIZE, (uint32_t)setup);
	if (!ret)
		ret = fw_cfg_add_item(fw, FW_CFG_SETUP_DATA, kernel, setup);
	if (!ret)
		ret = fw_cfg_add_u32(fw, FW_CFG_KERNEL_SIZE, (uint32_t)(kernel_len - setup));
	if (!ret)
		ret = fw_cfg_add_item(fw, FW_CFG_KERNEL_DATA, kernel + setup, kernel_len - setup);
	if (!ret)
		ret = fw_cfg_add_u32(fw, FW_CFG_INITRD_SIZE, (uint32_t)initrd_len);
	if (!ret)
		ret = fw_cfg_add_item(fw, FW_CFG_INITRD_DATA, initrd, initrd_len);
	if (!ret)
		ret = fw_cfg_add_u32(fw, FW_CFG_CMDLINE_SIZE, (uint32_t)(strlen(cmdline) + 1));
	if (!ret)
		ret = fw_cfg_add_item(fw, FW_CFG_CMDLINE_DATA, cmdline, strlen(cmdline) + 1);
	return ret;
}

/* ---- the guest's side (lock held) ---- */

static void fw_cfg_select(struct fw_cfg *fw, uint16_t key)
{
	/* Bit 14 asked for write access through the data port, which QEMU no longer has. */
	fw->cur = fw_cfg_find(fw, key & (uint16_t)~FW_CFG_WRITE_CHANNEL);
	fw->offset = 0;
}

/*
 * Copies up to n bytes of the selected item from the offset on into *got;
 * false when the item's reader failed (nothing is consumed then).
 */
static bool fw_cfg_take(struct fw_cfg *fw, uint8_t *dst, uint32_t n, uint32_t *got)
{
	const struct fw_cfg_item *it;
	uint32_t avail;

	*got = 0;
	if (fw->cur < 0)
		return true;
	it = &fw->items[fw->cur];
	avail = it->len - fw->offset;
	if (n > avail)
		n = avail;
	if (!n)
		return true;
	if (it->read) {
		if (it->read(it->read_ctx, fw->offset, dst, n)) {
			dev_warn_rl(&fw->warn_rl, FW_CFG_NAME, "item %#x: read at %u failed",
				    it->key, fw->offset);
			return false;
		}
	} else {
		memcpy(dst, it->data + fw->offset, n);
	}
	fw->offset += n;
	*got = n;
	return true;
}

static bool fw_cfg_dma_read(struct fw_cfg *fw, uint64_t gpa, uint32_t len)
{
	uint8_t *dst;
	uint32_t got;

	if (!len)
		return true;
	dst = guest_mem_ptr(fw->mem, gpa, len);
	if (!dst)
		return false;
	if (!fw_cfg_take(fw, dst, len, &got))
		return false;
	/* Past the end of the item (or with no item), the guest gets zeros. */
	memset(dst + got, 0, len - got);
	return true;
}

/* In place only: a write that would run past the end is refused whole, as in QEMU. */
static bool fw_cfg_dma_write(struct fw_cfg *fw, uint64_t gpa, uint32_t len)
{
	struct fw_cfg_item *it;
	const uint8_t *src;

	if (fw->cur < 0)
		return false;
	it = &fw->items[fw->cur];
	if (!it->writable || it->read || len > it->len - fw->offset)
		return false;
	if (!len)
		return true;
	src = guest_mem_ptr(fw->mem, gpa, len);
	if (!src)
		return false;
	memcpy(it->data + fw->offset, src, len);
	fw->offset += len;
	if (it->on_write)
		it->on_write(it->opaque, fw->offset - len, len);
	return true;
}

static void fw_cfg_dma_skip(struct fw_cfg *fw, uint32_t len)
{
	uint32_t avail;

	if (fw->cur < 0)
		return;
	avail = fw->items[fw->cur].len - fw->offset;
	fw->offset += len < avail ? len : avail;
}

static void fw_cfg_dma(struct fw_cfg *fw, uint64_t gpa)
{
	uint8_t *access = guest_mem_ptr(fw->mem, gpa, DMA_ACCESS_SIZE);
	uint8_t raw[DMA_ACCESS_SIZE];
	uint32_t control, len;
	uint64_t addr;
	bool ok = true;

	if (!access) {
		/* Nowhere to report the error: drop it, as a bus would the master abort. */
		dev_warn_rl(&fw->warn_rl, FW_CFG_NAME,
			    "DMA access structure at %#llx is not in RAM", (unsigned long long)gpa);
		return;
	}
	/* One fetch: another vCPU may change the structure while we work. */
	memcpy(raw, access, sizeof(raw));
	control = get_be32(raw);
	len = get_be32(raw + 4);
	addr = get_be64(raw + 8);
	if (control & FW_CFG_DMA_SELECT)
		fw_cfg_select(fw, (uint16_t)(control >> 16));
	if (control & FW_CFG_DMA_READ)
		ok = fw_cfg_dma_read(fw, addr, len);
	else if (control & FW_CFG_DMA_WRITE)
		ok = fw_cfg_dma_write(fw, addr, len);
	else if (control & FW_CFG_DMA_SKIP)
		fw_cfg_dma_skip(fw, len);
	/* The transfer may have overwritten the structure; control is written last. */
	put_be32(raw, ok ? 0 : FW_CFG_DMA_ERROR);
	memcpy(access, raw, 4);
}

static uint64_t fw_cfg_read(void *opaque, uint64_t offset, unsigned size)
{
	struct fw_cfg *fw = opaque;
	uint8_t bytes[8] = { 0 };
	uint64_t value = 0;
	uint32_t got;

	if (size > sizeof(bytes))
		return 0;
	pthread_mutex_lock(&fw->lock);
	if (offset == REG_DATA && !fw_cfg_take(fw, bytes, size, &got))
		memset(bytes, 0, sizeof(bytes));
	else if (fw->mem && offset >= REG_DMA_HIGH && offset + size <= REG_DMA_END)
		memcpy(bytes, dma_signature + (offset - REG_DMA_HIGH), size);
	pthread_mutex_unlock(&fw->lock);
	for (unsigned i = 0; i < size; i++)
		value |= (uint64_t)bytes[i] << (8 * i);
	return value;
}

/* The address register holds big-endian bytes; the bus gives them as a little-endian value. */
static void fw_cfg_write_dma_reg(struct fw_cfg *fw, uint64_t offset, unsigned size,
				 uint64_t value)
{
	if (offset == REG_DMA_HIGH && size == 4) {
		fw->dma_high = __builtin_bswap32((uint32_t)value);
	} else if (offset == REG_DMA_LOW && size == 4) {
		fw_cfg_dma(fw, (uint64_t)fw->dma_high << 32 | __builtin_bswap32((uint32_t)value));
		fw->dma_high = 0;
	} else if (offset == REG_DMA_HIGH && size == 8) {
		fw_cfg_dma(fw, __builtin_bswap64(value));
		fw->dma_high = 0;
	}
}

static void fw_cfg_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct fw_cfg *fw = opaque;

	pthread_mutex_lock(&fw->lock);
	if (offset == REG_SELECTOR && size == 2)
		fw_cfg_select(fw, (uint16_t)value);
	else if (fw->mem && offset >= REG_DMA_HIGH)
		fw_cfg_write_dma_reg(fw, offset, size, value);
	/* Data port writes are ignored, as in QEMU since 2.4: writes go through DMA. */
	pthread_mutex_unlock(&fw->lock);
}

const struct bus_ops fw_cfg_ops = {
	.name = FW_CFG_NAME,
	.read = fw_cfg_read,
	.write = fw_cfg_write,
};
