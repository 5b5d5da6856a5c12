// SPDX-License-Identifier: MIT
/*
 * CFI parallel flash with the Intel/Sharp command set, one x8 chip per
 * backing file, as OVMF's QemuFlashFvbServicesRuntimeDxe drives it.
 *
 * What OVMF needs, and so what shapes this model:
 * - Its probe (QemuFlashDetected) picks a byte of block 0 that is not
 *   0x00, 0x50 or 0x70, writes 0x50 and reads: it must not read 0x50 (that
 *   is RAM), so clear status returns to read-array mode. It writes 0x70
 *   and reads: it must read exactly 0x00 (anything else is ROM or RAM), so
 *   a cleared status register has no ready bit, unlike real parts. Newer
 *   builds then program the byte over itself and read status: bit 4 set
 *   means write-protected, and OVMF keeps its variables in RAM instead.
 * - Writes are 0x10 + data per byte, ended by one 0xFF; erases are 0x20,
 *   0xD0 per 4 KiB block. OVMF never polls status: every operation must be
 *   complete when the write that issues it returns.
 * - Reads outside a command are plain memory copies.
 *
 * Programming overwrites rather than clearing bits as NOR would: that is
 * what OVMF was developed against, and it always erases before it writes.
 *
 * The contents live in an anonymous mapping that is always current (the
 * VMM may map it into the guest); the file is written through with pwrite
 * as each operation happens, and fdatasync()ed lazily but before the
 * guest can observe completion: see devices.h.
 *
 * A failed fdatasync must not pass unnoticed, and the status bits alone
 * would: OVMF's QemuFlashWrite and QemuFlashEraseBlock never read status
 * and never read back (edk2 OvmfPkg/QemuFlashFvbServicesRuntimeDxe/
 * QemuFlash.c returns EFI_SUCCESS unconditionally), and its variable
 * driver carries on from its own cache. So the operations the sync
 * covered fail as a flash that did not take them would: the blocks they
 * touched read back as before (the array and the file), and the device
 * fails every later program and erase (status bit 4/5), as a write-
 * protected part does. The one check OVMF does make, its probe at every
 * boot (programming a byte over itself, bit 4 = write-protected), then
 * finds the flash write-protected at the guest's next reset and keeps the
 * variables in RAM rather than trusting a store that lost a write.
 */
#include "devices.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/log.h"

enum {
	CMD_PROGRAM = 0x10,
	CMD_ERASE = 0x20,
	CMD_PROGRAM_ALT = 0x40,
	CMD_CLEAR_STATUS = 0x50,
	CMD_READ_STATUS = 0x70,
	CMD_READ_ID = 0x90,
	CMD_QUERY = 0x98,
	CMD_CONFIRM = 0xd0,
	CMD_READ_ARRAY = 0xff,
};

#define SR_READY      0x80
#define SR_ERASE_ERR  0x20
#define SR_PROG_ERR   0x10
#define SR_LOCKED     0x02

/* What reads return. */
enum pflash_mode { MODE_ARRAY, MODE_STATUS, MODE_ID, MODE_QUERY };
/* The second cycle a two-cycle command is waiting for. */
enum pflash_pending { PENDING_NONE, PENDING_PROGRAM, PENDING_ERASE };

/* Operations written to the file but not yet fdatasync()ed. */
#define UNSYNCED_PROGRAM 0x1
#define UNSYNCED_ERASE   0x2

#define CFI_LEN 0x40 /* through the end of the version 1.0 primary table */

struct pflash {
	pthread_mutex_t lock;
	char *path;
	int fd;
	bool readonly;
	bool warned_readonly;
	bool failed;       /* a sync failed: every later program and erase fails */
	/*
	 * The blocks changed since the last good sync, as they were before:
	 * what a failed sync puts back. undo is a sparse anonymous mapping
	 * of the device's size (only blocks saved use memory).
	 */
	uint8_t *undo;
	bool *saved;       /* per block: its old content is in undo */
	size_t n_saved;
	uint8_t *data;
	uint64_t size;
	enum pflash_mode mode;
	enum pflash_pending pending;
	uint8_t status;
	unsigned unsynced;
	struct pflash_stats stats;
	uint8_t cfi[CFI_LEN];
	void (*mode_hook)(void *opaque, bool array_mode);
	void *mode_opaque;
	bool hook_array; /* what the hook was last told */
	struct log_ratelimit warn_rl; /* pf_warn_rl()'s */
};

/* What the guest gets wrong, or the image file: said a few times a second at most. */
#define pf_warn_rl(pf, ...) dev_warn_rl(&(pf)->warn_rl, "pflash", __VA_ARGS__)

/* ---- the CFI query table (x8 byte addresses) ---- */

static unsigned ceil_log2(uint64_t v)
{
	unsigned n = 0;

	while ((1ULL << n) < v)
		n++;
	return n;
}

static void pflash_build_cfi(struct pflash *pf)
{
	uint8_t *t = pf->cfi;
	uint64_t blocks = pf->size / PFLASH_SECTOR_SIZE;

	memset(t, 0, CFI_LEN);
	t[0x10] = 'Q';
	t[0x11] = 'R';
	t[0x12] = 'Y';
	t[0x13] = 0x01; /* primary command set: Intel/Sharp extended */
	t[0x15] = 0x31; /* its extended table at 0x31 */
	t[0x1b] = 0x27; /* Vcc 2.7 V .. 3.6 V, no Vpp */
	t[0x1c] = 0x36;
	t[0x1f] = 0x04; /* typical byte program 2^4 us */
	t[0x21] = 0x06; /* typical block erase 2^6 ms */
	t[0x23] = 0x04; /* maxima 2^4 times typical */
	t[0x25] = 0x04;
	/* Size as a power of two; the erase region below gives the exact size. */
	t[0x27] = (uint8_t)ceil_log2(pf->size);
	t[0x28] = 0x00; /* x8 only */
	t[0x2a] = 0x00; /* no write buffer */
	t[0x2c] = 0x01; /* one uniform erase block region */
	t[0x2d] = (uint8_t)(blocks - 1);
	t[0x2e] = (uint8_t)((blocks - 1) >> 8);
	t[0x2f] = (uint8_t)(PFLASH_SECTOR_SIZE >> 8);
	t[0x30] = (uint8_t)(PFLASH_SECTOR_SIZE >> 16);
	t[0x31] = 'P';
	t[0x32] = 'R';
	t[0x33] = 'I';
	t[0x34] = '1';
	t[0x35] = '0';
	/* 0x36..0x3a: no optional features (no suspend, no lock commands). */
	t[0x3b] = 0x01; /* block status register: lock bit */
	t[0x3d] = 0x33; /* Vcc optimum 3.3 V */
}
_Static_assert(PFLASH_SECTOR_SIZE >= 256 && PFLASH_SECTOR_SIZE % 256 == 0,
	       "the CFI table gives block sizes in 256-byte units");
_Static_assert(PFLASH_MAX_SIZE / PFLASH_SECTOR_SIZE <= 0x10000,
	       "the CFI table counts at most 65536 blocks");

/* ---- the file ---- */

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA; /* shrank under us */
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Keeps block's content from before this sync period, the first time it is changed in it. */
static void pflash_save_block(struct pflash *pf, uint64_t block)
{
	uint64_t i = block / PFLASH_SECTOR_SIZE;

	if (pf->saved[i])
		return;
	memcpy(pf->undo + block, pf->data + block, PFLASH_SECTOR_SIZE);
	pf->saved[i] = true;
	pf->n_saved++;
}

/*
 * Puts every block changed since the last good sync back as it was, in
 * the array and (as far as the file still takes writes) in the file.
 */
static void pflash_undo(struct pflash *pf)
{
	uint64_t blocks = pf->size / PFLASH_SECTOR_SIZE;

	for (uint64_t i = 0; i < blocks && pf->n_saved; i++) {
		uint64_t off = i * PFLASH_SECTOR_SIZE;

		if (!pf->saved[i])
			continue;
		memcpy(pf->data + off, pf->undo + off, PFLASH_SECTOR_SIZE);
		(void)pwrite_all(pf->fd, pf->data + off, PFLASH_SECTOR_SIZE, off);
		pf->saved[i] = false;
		pf->n_saved--;
	}
}

static void pflash_forget_undo(struct pflash *pf)
{
	if (!pf->n_saved)
		return;
	memset(pf->saved, 0, pf->size / PFLASH_SECTOR_SIZE * sizeof(*pf->saved));
	pf->n_saved = 0;
}

/*
 * Makes every operation since the last sync durable. A failure undoes
 * them (see the top of the file) and sets the error bits of those it
 * covers, before the guest can look. Called with the lock held.
 */
static int pflash_sync_locked(struct pflash *pf)
{
	int ret = 0;

	if (!pf->unsynced)
		return 0;
	pf->stats.syncs++;
	if (fdatasync(pf->fd) < 0) {
		ret = -errno;
		pf_warn_rl(pf, "%s: fdatasync failed (%s): the guest's last firmware variable change "
			   "is undone and not on disk; the flash fails every write from now on and "
			   "the firmware will find it write-protected", pf->path, strerror(-ret));
		pflash_undo(pf);
		pf->failed = true;
		if (pf->unsynced & UNSYNCED_PROGRAM)
			pf->status |= SR_PROG_ERR;
		if (pf->unsynced & UNSYNCED_ERASE)
			pf->status |= SR_ERASE_ERR;
		pf->stats.errors++;
	} else {
		pflash_forget_undo(pf);
	}
	pf->unsynced = 0;
	return ret;
}

/* ---- operations ---- */

/* A read-only device, or one whose sync failed, fails programs and erases; true if refused. */
static bool pflash_refuse_write(struct pflash *pf, uint8_t err_bit)
{
	if (pf->failed) {
		/* Said when the sync failed; the guest may try many times. */
		pf->status |= SR_READY | err_bit;
		pf->stats.errors++;
		return true;
	}
	if (!pf->readonly)
		return false;
	pf->status |= SR_READY | SR_LOCKED | err_bit;
	pf->stats.errors++;
	if (!pf->warned_readonly) {
		pf->warned_readonly = true;
		dev_warn("pflash", "%s: the guest tried to %s read-only flash; refused "
			 "(further attempts are not logged)", pf->path,
			 err_bit == SR_PROG_ERR ? "program" : "erase");
	}
	return true;
}

/* offset and size were checked against the device by the caller. */
static void pflash_program(struct pflash *pf, uint64_t offset, unsigned size, uint64_t value)
{
	uint8_t bytes[8];
	int ret;

	if (pflash_refuse_write(pf, SR_PROG_ERR))
		return;
	/* A wide, unaligned program may not reach into the next block. */
	if ((offset ^ (offset + size - 1)) & ~(PFLASH_SECTOR_SIZE - 1)) {
		pf_warn_rl(pf, "%s: program of %u bytes at %#llx crosses a block "
			   "boundary; refused", pf->path, size,
			   (unsigned long long)offset);
		pf->status |= SR_READY | SR_PROG_ERR;
		pf->stats.errors++;
		return;
	}
	for (unsigned i = 0; i < size; i++)
		bytes[i] = (uint8_t)(value >> (8 * i));
	pflash_save_block(pf, offset & ~(PFLASH_SECTOR_SIZE - 1));
	ret = pwrite_all(pf->fd, bytes, size, offset);
	if (ret < 0) {
		pf_warn_rl(pf, "%s: program of %u bytes at %#llx: %s", pf->path,
			   size, (unsigned long long)offset, strerror(-ret));
		pf->status |= SR_READY | SR_PROG_ERR;
		pf->stats.errors++;
		return;
	}
	memcpy(pf->data + offset, bytes, size);
	pf->unsynced |= UNSYNCED_PROGRAM;
	pf->status |= SR_READY;
	pf->stats.programs++;
}

static void pflash_erase(struct pflash *pf, uint64_t offset)
{
	static const uint8_t erased[PFLASH_SECTOR_SIZE] = {
		[0 ... PFLASH_SECTOR_SIZE - 1] = 0xff,
	};
	uint64_t block = offset & ~(PFLASH_SECTOR_SIZE - 1);
	int ret;

	if (pflash_refuse_write(pf, SR_ERASE_ERR))
		return;
	pflash_save_block(pf, block);
	ret = pwrite_all(pf->fd, erased, sizeof(erased), block);
	if (ret < 0) {
		pf_warn_rl(pf, "%s: erase of block %#llx: %s", pf->path,
			   (unsigned long long)block, strerror(-ret));
		pf->status |= SR_READY | SR_ERASE_ERR;
		pf->stats.errors++;
		return;
	}
	memset(pf->data + block, 0xff, PFLASH_SECTOR_SIZE);
	pf->unsynced |= UNSYNCED_ERASE;
	pf->status |= SR_READY;
	pf->stats.erases++;
}

/* The second write of 0x20 ... 0xD0. */
static void pflash_erase_cycle(struct pflash *pf, uint64_t offset, uint8_t cmd)
{
	if (cmd == CMD_CONFIRM) {
		pflash_erase(pf, offset);
		pf->mode = MODE_STATUS;
	} else if (cmd == CMD_READ_ARRAY) {
		pf->mode = MODE_ARRAY; /* the erase is cancelled */
	} else {
		/* Intel's "improper command sequence": both error bits. */
		pf->status |= SR_READY | SR_ERASE_ERR | SR_PROG_ERR;
		pf->mode = MODE_STATUS;
	}
}

/* A write with no command in progress. */
static void pflash_command(struct pflash *pf, uint64_t offset, uint8_t cmd)
{
	switch (cmd) {
	case CMD_PROGRAM:
	case CMD_PROGRAM_ALT:
		pf->pending = PENDING_PROGRAM;
		pf->mode = MODE_STATUS;
		return;
	case CMD_ERASE:
		pf->pending = PENDING_ERASE;
		pf->mode = MODE_STATUS;
		return;
	}
	/*
	 * Every other command may let the guest look at the array or the
	 * status next (through a memslot, even): make it durable first.
	 */
	pflash_sync_locked(pf);
	switch (cmd) {
	case CMD_READ_ARRAY:
		pf->mode = MODE_ARRAY;
		break;
	case CMD_CLEAR_STATUS:
		pf->status = 0;
		pf->mode = MODE_ARRAY;
		break;
	case CMD_READ_STATUS:
		pf->mode = MODE_STATUS;
		break;
	case CMD_READ_ID:
		pf->mode = MODE_ID;
		break;
	case CMD_QUERY:
		pf->mode = MODE_QUERY;
		break;
	default:
		pf_warn_rl(pf, "%s: unsupported command %#x at %#llx; read array",
			   pf->path, cmd, (unsigned long long)offset);
		pf->mode = MODE_ARRAY;
		break;
	}
}

/* ---- the bus ---- */

static bool pflash_array_mode_locked(const struct pflash *pf)
{
	return pf->mode == MODE_ARRAY && pf->pending == PENDING_NONE;
}

static void pflash_tell_mode(struct pflash *pf)
{
	bool array = pflash_array_mode_locked(pf);

	if (pf->mode_hook && array != pf->hook_array) {
		pf->hook_array = array;
		pf->mode_hook(pf->mode_opaque, array);
	}
}

static bool pflash_access_ok(const struct pflash *pf, uint64_t offset, unsigned size)
{
	return size >= 1 && size <= 8 && offset < pf->size && size <= pf->size - offset;
}

static uint8_t pflash_read_byte(const struct pflash *pf, uint64_t addr)
{
	switch (pf->mode) {
	case MODE_ARRAY:
		return pf->data[addr];
	case MODE_STATUS:
		return pf->status;
	case MODE_ID:
		/* The chip decodes only the low address lines here. */
		switch (addr & 0xff) {
		case 0:
			return PFLASH_VENDOR_ID;
		case 1:
			return PFLASH_DEVICE_ID;
		case 2: /* the lock bit of the block addressed */
			return pf->readonly ? 0x01 : 0x00;
		default:
			return 0;
		}
	case MODE_QUERY:
		return (addr & 0xff) < CFI_LEN ? pf->cfi[addr & 0xff] : 0;
	}
	return 0xff;
}

static uint64_t pflash_mmio_read(void *opaque, uint64_t offset, unsigned size)
{
	struct pflash *pf = opaque;
	uint64_t val = 0;

	if (!pflash_access_ok(pf, offset, size)) {
		pf_warn_rl(pf, "%s: read of %u bytes at %#llx outside the device",
			   pf->path, size, (unsigned long long)offset);
		return size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
	}
	pthread_mutex_lock(&pf->lock);
	/* A read is how the guest learns an operation completed. */
	pflash_sync_locked(pf);
	for (unsigned i = 0; i < size; i++)
		val |= (uint64_t)pflash_read_byte(pf, offset + i) << (8 * i);
	pthread_mutex_unlock(&pf->lock);
	return val;
}

static void pflash_mmio_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct pflash *pf = opaque;
	enum pflash_pending pending;

	if (!pflash_access_ok(pf, offset, size)) {
		pf_warn_rl(pf, "%s: write of %u bytes at %#llx outside the device",
			   pf->path, size, (unsigned long long)offset);
		return;
	}
	if (size < 8)
		value &= (1ULL << (8 * size)) - 1;
	pthread_mutex_lock(&pf->lock);
	pending = pf->pending;
	pf->pending = PENDING_NONE;
	switch (pending) {
	case PENDING_PROGRAM:
		pflash_program(pf, offset, size, value);
		pf->mode = MODE_STATUS;
		break;
	case PENDING_ERASE:
		pflash_erase_cycle(pf, offset, (uint8_t)value);
		break;
	case PENDING_NONE:
		pflash_command(pf, offset, (uint8_t)value);
		break;
	}
	pflash_tell_mode(pf);
	pthread_mutex_unlock(&pf->lock);
}

const struct bus_ops pflash_ops = {
	.name = "pflash",
	.read = pflash_mmio_read,
	.write = pflash_mmio_write,
};

/* ---- setup ---- */

/* Opens path, falling back to read-only where writing is not allowed. */
static int pflash_open_fd(const char *path, bool *readonly)
{
	int fd;

	if (*readonly)
		return open(path, O_RDONLY | O_CLOEXEC);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && (errno == EACCES || errno == EPERM || errno == EROFS)) {
		int err = errno;

		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			dev_warn("pflash", "%s: not writable (%s): the flash is read-only and "
				 "firmware variables will not be kept", path, strerror(err));
			*readonly = true;
		} else {
			errno = err;
		}
	}
	return fd;
}

/* The size a flash image may have; 0, or -errno with *why set. */
static int pflash_check_size(const char *path, int fd, uint64_t *size, const char **why)
{
	struct stat st;
	off_t end;

	if (fstat(fd, &st) < 0)
		return log_why(why, errno, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return log_why(why, EINVAL, "%s: not a regular file or block device", path);
	end = lseek(fd, 0, SEEK_END);
	if (end < 0)
		return log_why(why, errno, "%s: cannot find its size: %s", path, strerror(errno));
	*size = (uint64_t)end;
	if (*size == 0)
		return log_why(why, EINVAL, "%s: empty file; a flash image is a multiple of %llu bytes",
			      path, PFLASH_SECTOR_SIZE);
	if (*size % PFLASH_SECTOR_SIZE)
		return log_why(why, EINVAL,
			      "%s: size %llu bytes is not a multiple of the %llu-byte flash "
			      "sector (truncated or not a flash image?)",
			      path, (unsigned long long)*size, PFLASH_SECTOR_SIZE);
	if (*size > PFLASH_MAX_SIZE)
		return log_why(why, EFBIG, "%s: size %llu bytes is larger than the %llu MiB of "
			      "flash below 4 GiB", path, (unsigned long long)*size,
			      PFLASH_MAX_SIZE >> 20);
	return 0;
}

static int pflash_lock_file(const char *path, int fd, bool readonly, const char **why)
{
	if (flock(fd, (readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK)
		return log_why(why, EBUSY, "%s: in use by another process (locked)", path);
	return 0; /* no locking on this filesystem: go on without */
}

static void pflash_free(struct pflash *pf)
{
	if (pf->data && pf->data != MAP_FAILED)
		munmap(pf->data, pf->size);
	if (pf->undo && pf->undo != MAP_FAILED)
		munmap(pf->undo, pf->size);
	free(pf->saved);
	if (pf->fd >= 0)
		close(pf->fd);
	pthread_mutex_destroy(&pf->lock);
	free(pf->path);
	free(pf);
}

/* Reads the contents into a fresh page-aligned mapping. */
static int pflash_load(struct pflash *pf, const char **why)
{
	int ret;

	pf->data = mmap(NULL, pf->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pf->data == MAP_FAILED) {
		pf->data = NULL;
		return log_why(why, ENOMEM, "%s: no memory for %llu bytes", pf->path,
			      (unsigned long long)pf->size);
	}
	ret = pread_all(pf->fd, pf->data, pf->size, 0);
	if (ret < 0)
		return log_why(why, -ret, "%s: read: %s", pf->path, strerror(-ret));
	if (pf->readonly && mprotect(pf->data, pf->size, PROT_READ) < 0)
		return log_why(why, errno, "%s: mprotect: %s", pf->path, strerror(errno));
	if (pf->readonly)
		return 0;
	/* Touched only as blocks are saved: most of it never uses memory. */
	pf->undo = mmap(NULL, pf->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pf->saved = calloc(pf->size / PFLASH_SECTOR_SIZE, sizeof(*pf->saved));
	if (pf->undo == MAP_FAILED || !pf->saved)
		return log_why(why, ENOMEM, "%s: no memory for %llu bytes", pf->path,
			      (unsigned long long)pf->size);
	return 0;
}

int pflash_check(const char *path, bool readonly, const char **why)
{
	int fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	uint64_t size;
	int ret;

	/* Not writable is pflash_open()'s warning to give, once, not an error. */
	if (fd < 0 && !readonly && (errno == EACCES || errno == EPERM || errno == EROFS)) {
		readonly = true;
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return log_why(why, errno, "%s: %s", path, strerror(errno));
	ret = pflash_check_size(path, fd, &size, why);
	if (!ret)
		ret = pflash_lock_file(path, fd, readonly, why);
	close(fd); /* and with it the lock: pflash_open() takes it again */
	return ret;
}

struct pflash *pflash_open(const char *path, bool readonly, const char **why)
{
	struct pflash *pf;
	int ret;

	pf = calloc(1, sizeof(*pf));
	if (!pf) {
		errno = -log_why(why, ENOMEM, "%s: out of memory", path);
		return NULL;
	}
	pf->fd = -1;
	ret = -pthread_mutex_init(&pf->lock, NULL);
	if (ret) {
		free(pf);
		errno = -log_why(why, -ret, "%s: %s", path, strerror(-ret));
		return NULL;
	}
	pf->path = strdup(path);
	if (!pf->path) {
		ret = log_why(why, ENOMEM, "%s: out of memory", path);
		goto fail;
	}
	pf->fd = pflash_open_fd(path, &readonly);
	if (pf->fd < 0) {
		ret = log_why(why, errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	pf->readonly = readonly;
	ret = pflash_check_size(path, pf->fd, &pf->size, why);
	if (!ret)
		ret = pflash_lock_file(path, pf->fd, readonly, why);
	if (!ret)
		ret = pflash_load(pf, why);
	if (ret)
		goto fail;
	pflash_build_cfi(pf);
	pf->mode = MODE_ARRAY;
	return pf;

fail:
	pflash_free(pf);
	errno = -ret;
	return NULL;
}

uint64_t pflash_size(const struct pflash *pf)
{
	return pf->size;
}

bool pflash_readonly(const struct pflash *pf)
{
	return pf->readonly;
}

const void *pflash_data(const struct pflash *pf)
{
	return pf->data;
}

bool pflash_array_mode(struct pflash *pf)
{
	bool array;

	pthread_mutex_lock(&pf->lock);
	array = pflash_array_mode_locked(pf);
	pthread_mutex_unlock(&pf->lock);
	return array;
}

void pflash_set_mode_hook(struct pflash *pf, void (*hook)(void *opaque, bool array_mode),
			  void *opaque)
{
	pthread_mutex_lock(&pf->lock);
	pf->mode_hook = hook;
	pf->mode_opaque = opaque;
	pf->hook_array = pflash_array_mode_locked(pf);
	pthread_mutex_unlock(&pf->lock);
}

int pflash_flush(struct pflash *pf)
{
	int ret;

	pthread_mutex_lock(&pf->lock);
	ret = pflash_sync_locked(pf);
	pthread_mutex_unlock(&pf->lock);
	return ret;
}

void pflash_get_stats(struct pflash *pf, struct pflash_stats *st)
{
	pthread_mutex_lock(&pf->lock);
	*st = pf->stats;
	pthread_mutex_unlock(&pf->lock);
}

void pflash_close(struct pflash *pf)
{
	if (!pf)
		return;
	pflash_flush(pf);
	pflash_free(pf);
}
