/* SPDX-License-Identifier: MIT */
#ifndef CORE_BUS_H
#define CORE_BUS_H

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

/*
 * Work a device callback wants done to a bus map (register, move or remove
 * a range: the guest moved a BAR, the ECAM window, the ACPI PM block). A
 * callback runs under the bus's read lock, so it cannot take the write
 * lock itself; it queues the work instead, and the work runs on the same
 * thread as soon as the access that queued it has released its lock,
 * before the vCPU enters the guest again: to the guest the change is as
 * synchronous as on hardware. The PIO and MMIO buses of one machine share
 * one queue, so a port write can move an MMIO range and the other way
 * round.
 */
#define BUS_DEFER_MAX 32

struct bus_deferred {
	void (*fn)(void *arg);
	void *arg;
};

struct bus_defer_queue {
	pthread_mutex_t lock;
	_Atomic unsigned nr;
	struct bus_deferred item[BUS_DEFER_MAX];
};

struct bus {
	const char *name; /* "pio" or "mmio", for messages */
	pthread_rwlock_t lock;
	struct bus_range *ranges; /* sorted by base, never overlapping */
	unsigned nr, cap;
	struct bus_defer_queue own_queue;
	struct bus_defer_queue *defer; /* own_queue, or the one it shares */
};

int bus_init(struct bus *bus, const char *name) __attribute__((warn_unused_result));
void bus_destroy(struct bus *bus);

/* From now on other queues its deferred work on bus's queue. */
void bus_share_defer_queue(struct bus *bus, struct bus *other);
/*
 * Queues fn(arg) to run after the current access (see struct
 * bus_defer_queue). The same fn and arg already queued are not queued
 * twice: fn should apply the latest state, not a delta. -ENOSPC when the
 * queue is full (a bug: nothing queues more than a few).
 */
int bus_defer(struct bus *bus, void (*fn)(void *arg), void *arg)
	__attribute__((warn_unused_result));
/*
 * Runs and empties the queue; bus_read() and bus_write() call it after
 * every access that queued something. Must be called with no bus lock
 * held. Work that queues more work gets it run in the same call.
 */
void bus_run_deferred(struct bus *bus);

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
