// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "core/bus.h"

/* A device that remembers its last access and answers reads with a tag. */
struct probe {
	uint64_t tag;
	uint64_t last_off;
	unsigned last_size;
	uint64_t last_val;
	unsigned reads, writes;
};

static uint64_t probe_read(void *opaque, uint64_t off, unsigned size)
{
	struct probe *p = opaque;

	p->reads++;
	p->last_off = off;
	p->last_size = size;
	return p->tag + off;
}

static void probe_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct probe *p = opaque;

	p->writes++;
	p->last_off = off;
	p->last_size = size;
	p->last_val = val;
}

static const struct bus_ops probe_ops = { "probe", probe_read, probe_write };
static struct bus bus;

static void setup(void)
{
	cr_assert_eq(bus_init(&bus, "test"), 0);
}

static void teardown(void)
{
	bus_destroy(&bus);
}

TestSuite(bus, .init = setup, .fini = teardown);

static uint32_t rd32(uint64_t addr, bool *hit)
{
	uint32_t v = 0;

	*hit = bus_read(&bus, addr, &v, 4);
	return v;
}

Test(bus, routes_to_the_device_with_its_offset)
{
	struct probe a = { .tag = 0x1000 }, b = { .tag = 0x2000 };
	bool hit;

	cr_assert_eq(bus_register(&bus, 0x3f8, 8, &probe_ops, &a), 0);
	cr_assert_eq(bus_register(&bus, 0x70, 2, &probe_ops, &b), 0);
	cr_assert_eq(rd32(0x3fa, &hit), 0x1002);
	cr_assert(hit);
	cr_assert_eq(a.last_off, 2);
	uint8_t byte = 0;

	cr_assert(bus_read(&bus, 0x71, &byte, 1));
	cr_assert_eq(byte, 0x01, "0x2001 truncated to the access size");
	cr_assert_eq(b.last_off, 1);
	cr_assert_eq(b.last_size, 1);

	uint16_t w = 0xbeef;

	cr_assert(bus_write(&bus, 0x3f9, &w, 2));
	cr_assert_eq(a.last_val, 0xbeef);
	cr_assert_eq(a.last_size, 2);
	cr_assert_eq(a.last_off, 1);
	cr_assert_eq(b.writes, 0);
}

Test(bus, unclaimed_reads_return_all_ones)
{
	struct probe a = { 0 };
	uint16_t v = 0;

	cr_assert_eq(bus_register(&bus, 0x100, 0x10, &probe_ops, &a), 0);
	cr_assert_not(bus_read(&bus, 0xff, &v, 2));
	cr_assert_eq(v, 0xffff);
	cr_assert_not(bus_read(&bus, 0x110, &v, 2));
	cr_assert_eq(a.reads, 0);
}

Test(bus, access_straddling_the_end_is_refused)
{
	struct probe a = { 0 };
	uint32_t v = 0;

	cr_assert_eq(bus_register(&bus, 0x100, 0x10, &probe_ops, &a), 0);
	cr_assert_not(bus_read(&bus, 0x10e, &v, 4));
	cr_assert_not(bus_write(&bus, 0x10d, &v, 4));
	cr_assert_eq(a.reads + a.writes, 0);
	cr_assert(bus_read(&bus, 0x10c, &v, 4));
}

Test(bus, bad_sizes_are_refused)
{
	struct probe a = { 0 };
	uint8_t buf[16];

	cr_assert_eq(bus_register(&bus, 0, 0x100, &probe_ops, &a), 0);
	cr_assert_not(bus_write(&bus, 0, buf, 3));
	cr_assert_not(bus_write(&bus, 0, buf, 16));
	cr_assert_not(bus_read(&bus, 0, buf, 0));
	cr_assert_eq(a.reads + a.writes, 0);
}

Test(bus, overlaps_and_zero_length_are_refused)
{
	struct probe a = { 0 };

	cr_assert_eq(bus_register(&bus, 0x100, 0x10, &probe_ops, &a), 0);
	cr_assert_eq(bus_register(&bus, 0x100, 0x10, &probe_ops, &a), -EEXIST);
	cr_assert_eq(bus_register(&bus, 0x10f, 1, &probe_ops, &a), -EEXIST);
	cr_assert_eq(bus_register(&bus, 0xf0, 0x11, &probe_ops, &a), -EEXIST);
	cr_assert_eq(bus_register(&bus, 0x0, 0x1000, &probe_ops, &a), -EEXIST);
	cr_assert_eq(bus_register(&bus, 0x200, 0, &probe_ops, &a), -EINVAL);
	cr_assert_eq(bus_register(&bus, UINT64_MAX - 1, 4, &probe_ops, &a), -EINVAL);
	/* Touching ends are fine. */
	cr_assert_eq(bus_register(&bus, 0xf0, 0x10, &probe_ops, &a), 0);
	cr_assert_eq(bus_register(&bus, 0x110, 0x10, &probe_ops, &a), 0);
	cr_assert_eq(bus.nr, 3);
	for (unsigned i = 1; i < bus.nr; i++)
		cr_assert_lt(bus.ranges[i - 1].base, bus.ranges[i].base, "ranges stay sorted");
}

Test(bus, a_range_up_to_the_top_of_the_address_space)
{
	struct probe a = { .tag = 7 };
	bool hit;

	cr_assert_eq(bus_register(&bus, UINT64_MAX - 0xfff, 0x1000, &probe_ops, &a), 0);
	cr_assert_eq(rd32(UINT64_MAX - 3, &hit), 7 + 0xffc);
	cr_assert(hit);
}

Test(bus, removal)
{
	struct probe a = { 0 }, b = { 0 };
	bool hit;

	cr_assert_eq(bus_register(&bus, 0x100, 0x10, &probe_ops, &a), 0);
	cr_assert_eq(bus_register(&bus, 0x200, 0x10, &probe_ops, &b), 0);
	cr_assert_eq(bus_unregister(&bus, 0x100), 0);
	cr_assert_eq(bus_unregister(&bus, 0x100), -ENOENT);
	cr_assert_eq(bus_unregister(&bus, 0x201), -ENOENT, "only by base");
	rd32(0x100, &hit);
	cr_assert_not(hit);
	rd32(0x200, &hit);
	cr_assert(hit);
	/* The freed span can be claimed again. */
	cr_assert_eq(bus_register(&bus, 0x108, 0x10, &probe_ops, &a), 0);
}

Test(bus, move_like_a_bar)
{
	struct probe a = { .tag = 0xa000 }, b = { .tag = 0xb000 };
	bool hit;

	cr_assert_eq(bus_register(&bus, 0xe0000000, 0x1000, &probe_ops, &a), 0);
	cr_assert_eq(bus_register(&bus, 0xe0001000, 0x1000, &probe_ops, &b), 0);
	/* Onto its neighbour: refused, and nothing changes. */
	cr_assert_eq(bus_move(&bus, 0xe0000000, 0xe0000800), -EEXIST);
	cr_assert_eq(rd32(0xe0000004, &hit), 0xa004);
	/* Past the neighbour: the old address is free, the new one routes. */
	cr_assert_eq(bus_move(&bus, 0xe0000000, 0xf0000000), 0);
	rd32(0xe0000004, &hit);
	cr_assert_not(hit);
	cr_assert_eq(rd32(0xf0000010, &hit), 0xa010);
	cr_assert(hit);
	cr_assert_eq(rd32(0xe0001000, &hit), 0xb000);
	cr_assert_lt(bus.ranges[0].base, bus.ranges[1].base);
	/* Back below the neighbour, and onto itself with overlap (allowed). */
	cr_assert_eq(bus_move(&bus, 0xf0000000, 0xd0000000), 0);
	cr_assert_eq(bus_move(&bus, 0xd0000000, 0xd0000800), 0);
	cr_assert_eq(rd32(0xd0000800, &hit), 0xa000);
	cr_assert_eq(bus.ranges[0].base, 0xd0000800);
	cr_assert_eq(bus_move(&bus, 0x1234, 0x5678), -ENOENT);
}

Test(bus, many_ranges_stay_searchable)
{
	static struct probe p[200];

	/* Registered out of order; lookups must find each one by bisection. */
	for (unsigned i = 0; i < 200; i++) {
		unsigned k = (i * 7) % 200;

		p[k].tag = (uint64_t)k << 16;
		cr_assert_eq(bus_register(&bus, 0x10000 + k * 0x100, 0x80, &probe_ops, &p[k]), 0);
	}
	for (unsigned k = 0; k < 200; k++) {
		bool hit;

		cr_assert_eq(rd32(0x10000 + k * 0x100 + 0x10, &hit), (k << 16) + 0x10);
		rd32(0x10000 + k * 0x100 + 0x80, &hit);
		cr_assert_not(hit, "gap after range %u", k);
	}
}

/*
 * A device that moves its own range from inside its write callback, the
 * way a BAR or the ECAM window moves: it must queue the move, which then
 * runs once the access is over (a direct bus_move() would deadlock on the
 * read lock its caller holds).
 */
struct mover {
	uint64_t base, want;
	unsigned moves;
	int defer_ret;
};

static void mover_apply(void *arg)
{
	struct mover *m = arg;

	if (m->want != m->base && bus_move(&bus, m->base, m->want) == 0)
		m->base = m->want;
	m->moves++;
}

static uint64_t mover_read(void *opaque, uint64_t off, unsigned size)
{
	const struct mover *m = opaque;

	(void)off;
	(void)size;
	return m->base;
}

static void mover_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct mover *m = opaque;

	(void)off;
	(void)size;
	m->want = val;
	m->defer_ret = bus_defer(&bus, mover_apply, m);
}

static const struct bus_ops mover_ops = { "mover", mover_read, mover_write };

Test(bus, a_device_moves_its_own_range_through_the_queue)
{
	struct mover m = { .base = 0x1000, .want = 0x1000 };
	uint32_t v = 0x8000;
	bool hit;

	cr_assert_eq(bus_register(&bus, 0x1000, 0x10, &mover_ops, &m), 0);
	cr_assert(bus_write(&bus, 0x1000, &v, 4));
	cr_assert_eq(m.defer_ret, 0);
	/* done by the time the write returned */
	cr_assert_eq(m.moves, 1);
	cr_assert_eq(m.base, 0x8000);
	cr_assert_eq(rd32(0x8004, &hit), 0x8000);
	cr_assert(hit);
	rd32(0x1000, &hit);
	cr_assert_not(hit);
	/* reads queue nothing, and nothing runs again */
	rd32(0x8000, &hit);
	cr_assert_eq(m.moves, 1);
}

static unsigned runs;
static void count_run(void *arg)
{
	(void)arg;
	runs++;
}

Test(bus, the_same_work_is_queued_once_and_a_full_queue_says_so)
{
	static int args[BUS_DEFER_MAX + 1];

	runs = 0;
	cr_assert_eq(bus_defer(&bus, count_run, &args[0]), 0);
	cr_assert_eq(bus_defer(&bus, count_run, &args[0]), 0);
	for (unsigned i = 1; i < BUS_DEFER_MAX; i++)
		cr_assert_eq(bus_defer(&bus, count_run, &args[i]), 0);
	cr_assert_eq(bus_defer(&bus, count_run, &args[BUS_DEFER_MAX]), -ENOSPC);
	bus_run_deferred(&bus);
	cr_assert_eq(runs, BUS_DEFER_MAX);
	bus_run_deferred(&bus);
	cr_assert_eq(runs, BUS_DEFER_MAX);
}

Test(bus, a_shared_queue_runs_after_an_access_on_either_bus)
{
	struct bus other;
	uint32_t v = 0;

	cr_assert_eq(bus_init(&other, "other"), 0);
	bus_share_defer_queue(&bus, &other);
	runs = 0;
	/* queued on one bus, run by an access (even an unclaimed one) on the other */
	cr_assert_eq(bus_defer(&other, count_run, NULL), 0);
	bus_read(&bus, 0x1234, &v, 4);
	cr_assert_eq(runs, 1);
	cr_assert_eq(bus_defer(&bus, count_run, NULL), 0);
	bus_write(&other, 0x1234, &v, 4);
	cr_assert_eq(runs, 2);
	bus_destroy(&other);
}
