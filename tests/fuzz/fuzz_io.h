/* SPDX-License-Identifier: MIT */
#ifndef TESTS_FUZZ_FUZZ_IO_H
#define TESTS_FUZZ_FUZZ_IO_H

/*
 * The input every device fuzz target shares: the guest's memory, then a
 * sequence of register accesses, as a guest makes them.
 *
 * Layout (little-endian):
 *   0  u16  n: how many bytes of guest RAM follow (at most FUZZ_RAM_SIZE)
 *   2  n bytes copied to guest RAM at gpa 0 (the rest of it stays zero)
 *   then records of FUZZ_REC bytes each, until the input ends:
 *      0  u8   op: bit 0 write; bits 1-2 size (1 << n bytes);
 *              bits 3-7 space (taken modulo the target's number of spaces)
 *      1  u32  offset inside the space (taken modulo its length)
 *      5  u64  value written (ignored by reads)
 *
 * A space is a window the target gives the guest: a range of a real bus
 * (PIO or MMIO, reached through bus_read()/bus_write(), so deferred work
 * such as a BAR move runs as in the VMM), or one device's bus_ops called
 * directly, with an access always inside the window as the bus promises.
 *
 * Guest RAM is two exactly-sized heap blocks: FUZZ_RAM_SIZE bytes at gpa 0
 * and FUZZ_HIGH_SIZE bytes at FUZZ_HIGH_GPA, with a hole between, so ASan
 * sees a device that strays outside guest memory. tests/fuzz/seeds.py
 * writes inputs in this layout.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/memory.h"

#define FUZZ_RAM_SIZE  (64 * 1024)
#define FUZZ_HIGH_GPA  0x100000ULL
#define FUZZ_HIGH_SIZE 4096
#define FUZZ_REC       13

struct fuzz_space {
	const char *name;
	struct bus *bus;           /* through this bus at base + offset, or */
	const struct bus_ops *ops; /* straight to the device (bus NULL) */
	void *opaque;
	uint64_t base, len;
};

struct fuzz_access {
	unsigned space;
	uint64_t offset; /* inside the space */
	unsigned size;   /* 1, 2, 4 or 8 */
	bool write;
	uint64_t value;  /* written, or what the read returned */
};

struct fuzz_io {
	const uint8_t *data;
	size_t size, pos;
	struct guest_mem mem;
};

/*
 * Sets up guest RAM from the input's head. false when the input is too
 * short to hold even that (the target then returns at once). Never fails
 * otherwise: a heap failure aborts, as libFuzzer expects.
 */
bool fuzz_io_begin(struct fuzz_io *io, const uint8_t *data, size_t size);
/* The next access decoded against nr spaces; false at the end of the input. */
bool fuzz_io_next(struct fuzz_io *io, const struct fuzz_space *spaces, unsigned nr,
		  struct fuzz_access *a);
/* Performs a; a read stores what it read in a->value. */
void fuzz_io_do(const struct fuzz_space *spaces, struct fuzz_access *a);
/*
 * Every remaining access, in order; after (may be NULL) is called after
 * each, for checks and for work the VMM would do between exits.
 */
void fuzz_io_run(struct fuzz_io *io, const struct fuzz_space *spaces, unsigned nr,
		 void (*after)(void *arg, const struct fuzz_access *a), void *arg);
/* Frees guest RAM. */
void fuzz_io_end(struct fuzz_io *io);

/* A counter-free irq_line sink and a power_ctl sink for targets that need one. */
struct irq_line;
struct power_ctl;
extern const struct irq_line fuzz_irq;
extern const struct power_ctl fuzz_power;

#endif
