// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "vmm/bus.h"

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
