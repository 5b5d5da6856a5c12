// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the CFI flash's command state machine (devices/pflash.c)
 * as OVMF reaches it, on a VARS-sized writable device and a read-only
 * (CODE) one, each backed by a memfd that the process makes once and
 * pflash_open() opens as /proc/self/fd/N. The VARS file is rewritten for
 * every input, 0xff (erased) but for the input's guest-RAM bytes at its
 * start (fuzz_io.h), so runs are independent.
 *
 * Spaces: 0 VARS and 1 CODE, each a window 8 KiB longer than its device
 * (an access there reaches past the end); 2 the host: a write at offset 0
 * flushes VARS (pflash_flush), at 1 closes and reopens it (the VMM killed
 * and started again), at 2 removes or puts back its mode hook.
 *
 * The target keeps its own model of each device, from devices.h (and, for
 * what devices.h leaves open, the "improper sequence" and block-crossing
 * rules of pflash.c's comments), and aborts when the device breaks a
 * promise:
 *   - a read that is not what the mode says: the array (and pflash_data())
 *     in read-array mode, the status register, the identifier codes, the
 *     CFI table's "QRY" and the erase-block region that matches the size,
 *     all ones outside the device;
 *   - pflash_data() or the file not holding what was programmed or erased
 *     (the file as soon as the write returns), a read-only device or its
 *     file changed, a reopened device that lost anything;
 *   - pflash_array_mode() not matching the model, or the mode hook called
 *     other than once per change, only from a guest write;
 *   - the statistics: a program or erase not counted, or an fdatasync()
 *     count other than one per run of programs and erases ended by a read
 *     or another command (the durability promise).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "devices/devices.h"
#include "fuzz_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define VARS_SIZE  (132 * PFLASH_SECTOR_SIZE) /* OVMF_VARS_4M.fd: 528 KiB */
#define CODE_SIZE  (8 * PFLASH_SECTOR_SIZE)
#define OUTSIDE    8192                       /* window bytes past each device */

#define SR_READY     0x80
#define SR_ERASE_ERR 0x20
#define SR_PROG_ERR  0x10
#define SR_LOCKED    0x02

#define check(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_pflash: %s:%d: broken: %s\n",    \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

enum mode { ARRAY, STATUS, ID, QUERY };
enum pending { NONE, PROGRAM, ERASE };

/* One device and the target's idea of it. */
struct flash {
	struct pflash *pf;
	int fd;          /* the memfd behind it */
	char path[32];
	bool readonly;
	uint64_t size;
	uint8_t *want;   /* the contents as they must be */
	enum mode mode;
	enum pending pending;
	uint8_t status;
	bool unsynced;
	struct pflash_stats stats;
	bool hooked;     /* the mode hook is installed */
	bool told_array; /* what the hook was last told */
	unsigned hook_calls;
	bool in_write;   /* a guest write is under way: the hook may run */
};

static struct flash vars = { .fd = -1, .size = VARS_SIZE };
static struct flash code = { .fd = -1, .size = CODE_SIZE, .readonly = true };

/* ---- set-up, once per process ---- */

static void make_file(struct flash *f, const char *name)
{
	f->fd = memfd_create(name, MFD_CLOEXEC);
	check(f->fd >= 0 && ftruncate(f->fd, (off_t)f->size) == 0);
	snprintf(f->path, sizeof(f->path), "/proc/self/fd/%d", f->fd);
	f->want = malloc(f->size);
	check(f->want);
}

static void file_write(const struct flash *f, const uint8_t *buf)
{
	check(pwrite(f->fd, buf, f->size, 0) == (ssize_t)f->size);
}

static void check_file(const struct flash *f, uint64_t off, uint64_t len)
{
	static uint8_t buf[VARS_SIZE];

	check(off + len <= f->size && pread(f->fd, buf, len, (off_t)off) == (ssize_t)len);
	check(!memcmp(buf, f->want + off, len));
}

static void setup_once(void)
{
	static bool done;

	if (done)
		return;
	/* The guest's misdeeds are logged, rate-limited; a fuzzer makes thousands a second. */
	log_threshold = LOG_ERR;
	make_file(&vars, "fuzz-vars");
	make_file(&code, "fuzz-code");
	for (uint64_t i = 0; i < CODE_SIZE; i++)
		code.want[i] = (uint8_t)(i * 7 + (i >> 12));
	file_write(&code, code.want);
	done = true;
}

/* ---- the mode hook ---- */

static void mode_hook(void *opaque, bool array_mode)
{
	struct flash *f = opaque;

	/* devices.h: called from a guest write, and only when the mode changes. */
	check(f->in_write && f->hooked && array_mode != f->told_array);
	f->told_array = array_mode;
	f->hook_calls++;
}

static bool model_array(const struct flash *f)
{
	return f->mode == ARRAY && f->pending == NONE;
}

static void flash_open(struct flash *f)
{
	const char *why = NULL;

	f->pf = pflash_open(f->path, f->readonly, &why);
	if (!f->pf) {
		fprintf(stderr, "fuzz_pflash: %s\n", why ? why : "pflash_open failed");
		abort();
	}
	check(pflash_size(f->pf) == f->size && pflash_readonly(f->pf) == f->readonly);
	f->mode = ARRAY;
	f->pending = NONE;
	f->status = 0;
	f->unsynced = false;
	memset(&f->stats, 0, sizeof(f->stats));
	/* The device starts in read-array mode, holding what the file holds. */
	check(pflash_array_mode(f->pf));
	check(!memcmp(pflash_data(f->pf), f->want, f->size));
	pflash_set_mode_hook(f->pf, mode_hook, f);
	f->hooked = true;
	f->told_array = true;
}

/* ---- the model ---- */

static void model_sync(struct flash *f)
{
	if (!f->unsynced)
		return;
	f->stats.syncs++;
	f->unsynced = false;
}

static bool model_refused_readonly(struct flash *f, uint8_t err)
{
	if (!f->readonly)
		return false;
	f->status |= SR_READY | SR_LOCKED | err;
	f->stats.errors++;
	return true;
}

/* Each returns true when it changed the contents. */
static bool model_program(struct flash *f, uint64_t off, unsigned size, uint64_t value)
{
	if (model_refused_readonly(f, SR_PROG_ERR))
		return false;
	if (off / PFLASH_SECTOR_SIZE != (off + size - 1) / PFLASH_SECTOR_SIZE) {
		f->status |= SR_READY | SR_PROG_ERR;
		f->stats.errors++;
		return false;
	}
	for (unsigned i = 0; i < size; i++)
		f->want[off + i] = (uint8_t)(value >> (8 * i));
	f->unsynced = true;
	f->status |= SR_READY;
	f->stats.programs++;
	return true;
}

static bool model_erase(struct flash *f, uint64_t off)
{
	if (model_refused_readonly(f, SR_ERASE_ERR))
		return false;
	memset(f->want + (off & ~(PFLASH_SECTOR_SIZE - 1)), 0xff, PFLASH_SECTOR_SIZE);
	f->unsynced = true;
	f->status |= SR_READY;
	f->stats.erases++;
	return true;
}

static void model_command(struct flash *f, uint8_t cmd)
{
	switch (cmd) {
	case 0x10:
	case 0x40:
		f->pending = PROGRAM;
		f->mode = STATUS;
		return;
	case 0x20:
		f->pending = ERASE;
		f->mode = STATUS;
		return;
	}
	model_sync(f);
	switch (cmd) {
	case 0x50:
		f->status = 0;
		f->mode = ARRAY;
		break;
	case 0x70:
		f->mode = STATUS;
		break;
	case 0x90:
		f->mode = ID;
		break;
	case 0x98:
		f->mode = QUERY;
		break;
	default: /* 0xff, and what the chip does not know */
		f->mode = ARRAY;
		break;
	}
}

static bool inside(const struct flash *f, uint64_t off, unsigned size)
{
	return off < f->size && size <= f->size - off;
}

/* A guest write the device has just taken; checks what it promised about it. */
static void model_write(struct flash *f, uint64_t off, unsigned size, uint64_t value)
{
	enum pending pending = f->pending;
	bool was_array = model_array(f), changed = false;
	uint64_t lo = off & ~(PFLASH_SECTOR_SIZE - 1);

	if (!inside(f, off, size)) {
		check(f->hook_calls == 0); /* dropped */
		return;
	}
	f->pending = NONE;
	switch (pending) {
	case PROGRAM:
		changed = model_program(f, off, size, value);
		lo = off;
		f->mode = STATUS;
		break;
	case ERASE:
		if ((uint8_t)value == 0xd0) {
			changed = model_erase(f, off);
			f->mode = STATUS;
		} else if ((uint8_t)value == 0xff) {
			f->mode = ARRAY; /* erase cancelled */
		} else {
			f->status |= SR_READY | SR_ERASE_ERR | SR_PROG_ERR;
			f->mode = STATUS;
		}
		break;
	case NONE:
		model_command(f, (uint8_t)value);
		break;
	}
	if (changed) {
		uint64_t len = pending == PROGRAM ? size : PFLASH_SECTOR_SIZE;

		/* In pflash_data() and in the file before the write returns. */
		check(!memcmp((const uint8_t *)pflash_data(f->pf) + lo, f->want + lo, len));
		check_file(f, lo, len);
	}
	check(f->hook_calls == (f->hooked && was_array != model_array(f)));
}

static uint8_t model_query_byte(const struct flash *f, uint64_t addr, uint8_t got)
{
	uint64_t blocks = f->size / PFLASH_SECTOR_SIZE;

	switch (addr & 0xff) {
	case 0x10: return 'Q';
	case 0x11: return 'R';
	case 0x12: return 'Y';
	case 0x13: return 0x01; /* Intel/Sharp command set */
	case 0x2c: return 0x01; /* one erase-block region: */
	case 0x2d: return (uint8_t)(blocks - 1);
	case 0x2e: return (uint8_t)((blocks - 1) >> 8);
	case 0x2f: return (uint8_t)(PFLASH_SECTOR_SIZE >> 8);
	case 0x30: return (uint8_t)(PFLASH_SECTOR_SIZE >> 16);
	}
	return got; /* the rest is the chip's timing and voltages */
}

static uint8_t model_byte(const struct flash *f, uint64_t addr, uint8_t got)
{
	switch (f->mode) {
	case ARRAY:
		return f->want[addr];
	case STATUS:
		return f->status;
	case ID:
		switch (addr & 0xff) {
		case 0: return PFLASH_VENDOR_ID;
		case 1: return PFLASH_DEVICE_ID;
		case 2: return f->readonly; /* the block's lock bit */
		default: return 0;
		}
	case QUERY:
		return model_query_byte(f, addr, got);
	}
	return 0;
}

static void model_read(struct flash *f, uint64_t off, unsigned size, uint64_t value)
{
	uint64_t want = 0;

	if (!inside(f, off, size)) {
		check(value == (size == 8 ? ~0ULL : (1ULL << (8 * size)) - 1));
		return;
	}
	/* A read is how the guest learns that a program or erase completed. */
	model_sync(f);
	for (unsigned i = 0; i < size; i++)
		want |= (uint64_t)model_byte(f, off + i, (uint8_t)(value >> (8 * i))) << (8 * i);
	check(value == want);
	/* What a memslot over pflash_data() would give the guest instead. */
	if (model_array(f)) {
		const uint8_t *mapped = (const uint8_t *)pflash_data(f->pf) + off;

		for (unsigned i = 0; i < size; i++)
			check(mapped[i] == (uint8_t)(value >> (8 * i)));
	}
}

static void check_state(struct flash *f)
{
	struct pflash_stats st;

	check(pflash_array_mode(f->pf) == model_array(f));
	if (f->hooked)
		check(f->told_array == model_array(f));
	pflash_get_stats(f->pf, &st);
	check(st.programs == f->stats.programs && st.erases == f->stats.erases &&
	      st.syncs == f->stats.syncs && st.errors == f->stats.errors);
}

/* ---- the host's side ---- */

static uint64_t host_read(void *opaque, uint64_t offset, unsigned size)
{
	return 0;
}

static void host_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	switch (offset) {
	case 0:
		check(pflash_flush(vars.pf) == 0);
		model_sync(&vars);
		check_file(&vars, 0, vars.size);
		break;
	case 1:
		pflash_close(vars.pf);
		flash_open(&vars); /* checks that nothing was lost */
		break;
	case 2:
		vars.hooked = !vars.hooked;
		pflash_set_mode_hook(vars.pf, vars.hooked ? mode_hook : NULL, &vars);
		vars.told_array = model_array(&vars);
		break;
	}
}

static const struct bus_ops host_ops = { "host", host_read, host_write };

/* Guest writes go through here, so the hook knows it runs inside one. */
static void flash_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct flash *f = opaque;

	f->in_write = true;
	f->hook_calls = 0;
	pflash_ops.write(f->pf, offset, size, value);
	f->in_write = false;
}

static uint64_t flash_read(void *opaque, uint64_t offset, unsigned size)
{
	struct flash *f = opaque;

	return pflash_ops.read(f->pf, offset, size);
}

static const struct bus_ops flash_ops = { "pflash", flash_read, flash_write };

static void after(void *arg, const struct fuzz_access *a)
{
	struct flash *f = a->space == 0 ? &vars : a->space == 1 ? &code : NULL;

	if (!f) {
		check_state(&vars);
		return;
	}
	if (a->write)
		model_write(f, a->offset, a->size, a->value);
	else
		model_read(f, a->offset, a->size, a->value);
	check_state(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_io io;
	size_t n;

	setup_once();
	if (!fuzz_io_begin(&io, data, size))
		return 0;
	/* Erased flash, but for the input's "RAM" bytes at its start. */
	n = io.pos - 2;
	memset(vars.want, 0xff, vars.size);
	memcpy(vars.want, data + 2, n);
	file_write(&vars, vars.want);
	flash_open(&vars);
	flash_open(&code);

	const struct fuzz_space spaces[] = {
		{ .name = "vars", .ops = &flash_ops, .opaque = &vars, .len = VARS_SIZE + OUTSIDE },
		{ .name = "code", .ops = &flash_ops, .opaque = &code, .len = CODE_SIZE + OUTSIDE },
		{ .name = "host", .ops = &host_ops, .len = 3 },
	};
	fuzz_io_run(&io, spaces, sizeof(spaces) / sizeof(spaces[0]), after, NULL);

	/* Whatever the guest did, a read-only device and its file never change. */
	check(!memcmp(pflash_data(code.pf), code.want, code.size));
	check_file(&code, 0, code.size);
	pflash_close(code.pf);
	pflash_close(vars.pf);
	/* Closing flushes: the file holds every completed program and erase. */
	check_file(&vars, 0, vars.size);
	fuzz_io_end(&io);
	return 0;
}
