/* SPDX-License-Identifier: MIT */
#ifndef VMM_BUS_H
#define VMM_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * One bus type, used twice: the port-I/O bus and the MMIO bus.
 * A device sees only the offset of an access inside its own range,
 * never where the range sits in the address space, so the guest can
 * move it (a BAR) without the device knowing.
 */
struct bus_ops {
	const char *name;
	/* size is 1, 2, 4 or 8; the result is zero-extended. */
	uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
	void (*write)(void *opaque, uint64_t offset, unsigned size, uint64_t value);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *opaque;
};

struct bus {
	const char *name; /* "pio" or "mmio", for messages */
	pthread_rwlock_t lock;
	struct bus_range *ranges; /* sorted by base, never overlapping */
	unsigned nr, cap;
};

int bus_init(struct bus *bus, const char *name) __attribute__((warn_unused_result));
void bus_destroy(struct bus *bus);

/* -EINVAL for zero length or wrap-around, -EEXIST for an overlap. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *opaque) __attribute__((warn_unused_result));
/* Removes the range that starts at base; -ENOENT if none does. */
int bus_unregister(struct bus *bus, uint64_t base);
/* Moves the range at old_base to new_base; on -EEXIST nothing changes. */
int bus_move(struct bus *bus, uint64_t old_base, uint64_t new_base)
	__attribute__((warn_unused_result));

/*
 * Dispatch an access. data is the guest's little-endian bytes, as KVM
 * hands them over. Returns false when no device claims addr; reads of
 * unclaimed addresses then return all ones, as on a real bus.
 * An access that straddles the end of a range is refused the same way.
 */
bool bus_read(struct bus *bus, uint64_t addr, void *data, unsigned size);
bool bus_write(struct bus *bus, uint64_t addr, const void *data, unsigned size);

#endif
