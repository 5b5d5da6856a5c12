// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "firmware/firmware.h"
#include "core/layout.h"
#include "core/memory.h"

/* e820 never touches guest memory, so the regions need no backing. */
static struct guest_mem mem_of(uint64_t ram)
{
	struct guest_mem m = { .fd = -1, .total = ram, .page_size = 4096 };
	uint64_t low = ram < LAYOUT_MMIO_HOLE ? ram : LAYOUT_MMIO_HOLE;

	m.region[m.nr++] = (struct guest_region){ .gpa = 0, .size = low };
	if (ram > low)
		m.region[m.nr++] = (struct guest_region){ .gpa = SZ_4G, .size = ram - low };
	return m;
}

static uint64_t sum_type(const struct e820_entry *e, int n, uint32_t type)
{
	uint64_t sum = 0;

	for (int i = 0; i < n; i++)
		if (e[i].type == type)
			sum += e[i].size;
	return sum;
}

static bool covers(const struct e820_entry *e, int n, uint64_t addr, uint64_t end, uint32_t type)
{
	for (int i = 0; i < n; i++)
		if (e[i].type == type && e[i].addr <= addr && e[i].addr + e[i].size >= end)
			return true;
	return false;
}

static bool touches(const struct e820_entry *e, int n, uint64_t addr, uint64_t end)
{
	for (int i = 0; i < n; i++)
		if (e[i].addr < end && addr < e[i].addr + e[i].size)
			return true;
	return false;
}

/* What every map must satisfy, whatever the RAM size. */
static int check_map(uint64_t ram, struct e820_entry *e)
{
	struct guest_mem m = mem_of(ram);
	int n = e820_build(&m, e, 128);

	cr_assert_gt(n, 0, "e820_build(%#llx) = %d", (unsigned long long)ram, n);
	for (int i = 0; i < n; i++) {
		cr_assert_gt(e[i].size, 0, "entry %d is empty", i);
		cr_assert(e[i].type == E820_RAM || e[i].type == E820_RESERVED, "entry %d type %u",
			  i, e[i].type);
		if (i > 0)
			cr_assert_geq(e[i].addr, e[i - 1].addr + e[i - 1].size,
				      "entry %d overlaps or is out of order", i);
	}
	/* RAM is everything configured except [EBDA, 1 MiB), which the map takes back. */
	cr_assert_eq(sum_type(e, n, E820_RAM), ram - (SZ_1M - LAYOUT_EBDA));
	cr_assert(covers(e, n, 0, LAYOUT_EBDA, E820_RAM));
	cr_assert(covers(e, n, LAYOUT_EBDA, LAYOUT_LOWMEM_TOP, E820_RESERVED));
	cr_assert(covers(e, n, LAYOUT_ACPI, SZ_1M, E820_RESERVED));
	cr_assert(!touches(e, n, LAYOUT_LOWMEM_TOP, LAYOUT_ACPI), "VGA hole is in the map");
	cr_assert(!touches(e, n, LAYOUT_MMIO_HOLE, SZ_4G), "MMIO hole is in the map");
	return n;
}

Test(e820, ram_512m)
{
	struct e820_entry e[128];
	int n = check_map(512 * SZ_1M, e);

	cr_assert_eq(n, 4);
	cr_assert_eq(e[3].addr, SZ_1M);
	cr_assert_eq(e[3].addr + e[3].size, 512 * SZ_1M);
	cr_assert_eq(e[3].type, E820_RAM);
}

Test(e820, ram_exactly_at_the_hole)
{
	struct e820_entry e[128];
	int n = check_map(LAYOUT_MMIO_HOLE, e);

	cr_assert_eq(n, 4, "no region above 4 GiB when RAM ends at the hole");
	cr_assert_eq(e[n - 1].addr + e[n - 1].size, LAYOUT_MMIO_HOLE);
}

Test(e820, ram_3g_splits_around_the_hole)
{
	struct e820_entry e[128];
	int n = check_map(3 * SZ_1G, e);

	cr_assert_eq(n, 5);
	cr_assert_eq(e[3].addr + e[3].size, LAYOUT_MMIO_HOLE);
	cr_assert_eq(e[4].addr, SZ_4G);
	cr_assert_eq(e[4].size, 3 * SZ_1G - LAYOUT_MMIO_HOLE);
	cr_assert_eq(e[4].type, E820_RAM);
}

Test(e820, ram_6g)
{
	struct e820_entry e[128];
	int n = check_map(6 * SZ_1G, e);

	cr_assert_eq(n, 5);
	cr_assert_eq(e[4].addr, SZ_4G);
	cr_assert_eq(e[4].addr + e[4].size, SZ_4G + 6 * SZ_1G - LAYOUT_MMIO_HOLE);
}

Test(e820, regions_out_of_order_come_out_sorted)
{
	struct guest_mem m = mem_of(6 * SZ_1G);
	struct guest_region tmp = m.region[0];
	struct e820_entry e[128];
	int n;

	m.region[0] = m.region[1];
	m.region[1] = tmp;
	n = e820_build(&m, e, 128);
	cr_assert_eq(n, 5);
	cr_assert_eq(e[0].addr, 0);
	cr_assert_eq(e[4].addr, SZ_4G);
}

Test(e820, too_small_table_is_enospc)
{
	struct guest_mem m = mem_of(3 * SZ_1G);
	struct e820_entry e[5];

	cr_assert_eq(e820_build(&m, e, 4), -ENOSPC);
	cr_assert_eq(e820_build(&m, e, 0), -ENOSPC);
	cr_assert_eq(e820_build(&m, e, 5), 5);
}

Test(e820, malformed_memory_is_einval)
{
	struct guest_mem m = mem_of(3 * SZ_1G);
	struct e820_entry e[8];

	m.region[0].size = 512 * SZ_1K; /* below 1 MiB: nothing to boot */
	cr_assert_eq(e820_build(&m, e, 8), -EINVAL);
	m = mem_of(3 * SZ_1G);
	m.region[0].gpa = SZ_1M; /* no RAM at 0 */
	cr_assert_eq(e820_build(&m, e, 8), -EINVAL);
	m = mem_of(3 * SZ_1G);
	m.region[1].gpa = SZ_1G; /* overlaps the low region */
	cr_assert_eq(e820_build(&m, e, 8), -EINVAL);
}
