/* SPDX-License-Identifier: MIT */
#ifndef CORE_MEMORY_H
#define CORE_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 4

/* One contiguous piece of guest RAM, backed by one host mapping (one memslot). */
struct guest_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
};

struct guest_mem {
	struct guest_region region[GUEST_MEM_MAX_REGIONS];
	unsigned nr;
	uint64_t total;     /* bytes of RAM */
	int fd;             /* memfd or hugetlbfs file; -1 for test memory */
	uint64_t page_size; /* 4 KiB, 2 MiB or 1 GiB */
	void *map;          /* the whole file mapping, munmapped on free */
	size_t map_len;
};

/*
 * Splits ram bytes into regions around the 32-bit MMIO hole (layout.h):
 * [0, min(ram, hole)) and, for the rest, [4 GiB, ...). Returns the count.
 */
unsigned guest_mem_layout(uint64_t ram, struct guest_region out[GUEST_MEM_MAX_REGIONS]);

/*
 * Host pointer to [gpa, gpa + len) when that span lies wholly inside one
 * region; NULL otherwise. Every access to guest memory on behalf of the
 * guest goes through this check.
 */
void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

struct mem_options {
	uint64_t size;
	uint64_t hugepage_size; /* 0: ordinary pages (memfd) */
	int prefault;
};

int guest_mem_alloc(struct guest_mem *mem, const struct mem_options *opt)
	__attribute__((warn_unused_result));
void guest_mem_free(struct guest_mem *mem);

#endif
