// SPDX-License-Identifier: MIT
#include "firmware.h"

#include <errno.h>

#include "core/layout.h"
#include "core/memory.h"

struct e820_out {
	struct e820_entry *e;
	unsigned n, max;
};

static int e820_add(struct e820_out *o, uint64_t addr, uint64_t end, uint32_t type)
{
	if (end <= addr)
		return 0;
	if (o->n == o->max)
		return -ENOSPC;
	o->e[o->n++] = (struct e820_entry){ .addr = addr, .size = end - addr, .type = type };
	return 0;
}

/*
 * The region at address 0 as a PC firmware reports it: conventional memory
 * up to the EBDA, the EBDA reserved, nothing for the VGA and option-ROM
 * hole [640 KiB, LAYOUT_ACPI), the BIOS area (where the ACPI tables are)
 * reserved, then RAM from 1 MiB on.
 */
static int e820_low(struct e820_out *o, const struct guest_region *r)
{
	uint64_t end = r->gpa + r->size;
	int ret;

	if (end < SZ_1M)
		return -EINVAL;
	ret = e820_add(o, 0, LAYOUT_EBDA, E820_RAM);
	if (!ret)
		ret = e820_add(o, LAYOUT_EBDA, LAYOUT_LOWMEM_TOP, E820_RESERVED);
	if (!ret)
		ret = e820_add(o, LAYOUT_ACPI, SZ_1M, E820_RESERVED);
	if (!ret)
		ret = e820_add(o, SZ_1M, end, E820_RAM);
	return ret;
}

/* Region indices by address: the map must come out sorted whatever order mem has. */
static void regions_sorted(const struct guest_mem *mem, unsigned idx[GUEST_MEM_MAX_REGIONS])
{
	for (unsigned i = 0; i < mem->nr; i++) {
		unsigned j = i;

		while (j > 0 && mem->region[idx[j - 1]].gpa > mem->region[i].gpa) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = i;
	}
}

int e820_build(const struct guest_mem *mem, struct e820_entry *out, unsigned max)
{
	struct e820_out o = { .e = out, .max = max };
	unsigned idx[GUEST_MEM_MAX_REGIONS];
	uint64_t prev_end = 0;
	int ret;

	if (mem->nr == 0 || mem->nr > GUEST_MEM_MAX_REGIONS)
		return -EINVAL;
	regions_sorted(mem, idx);
	if (mem->region[idx[0]].gpa != 0)
		return -EINVAL;
	for (unsigned i = 0; i < mem->nr; i++) {
		const struct guest_region *r = &mem->region[idx[i]];

		if (i > 0 && r->gpa < prev_end)
			return -EINVAL;
		if (i == 0)
			ret = e820_low(&o, r);
		else
			ret = e820_add(&o, r->gpa, r->gpa + r->size, E820_RAM);
		if (ret)
			return ret;
		prev_end = r->gpa + r->size;
	}
	return (int)o.n;
}
