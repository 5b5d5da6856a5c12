// SPDX-License-Identifier: MIT
/*
 * Guest RAM: one shared file (a memfd, or a hugetlbfs file when huge
 * pages are asked for) mapped once, then cut into regions around the
 * 32-bit MMIO hole. Each region becomes one KVM memslot. Sharing the file
 * rather than anonymous memory lets later code hand the same pages to
 * VFIO for DMA and to other processes (vhost-user) without copies.
 */
#include "memory.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"

unsigned guest_mem_layout(uint64_t ram, struct guest_region out[GUEST_MEM_MAX_REGIONS])
{
	uint64_t low = ram < LAYOUT_MMIO_HOLE ? ram : LAYOUT_MMIO_HOLE;
	unsigned nr = 0;

	if (low) {
		out[nr].gpa = 0;
		out[nr].size = low;
		out[nr].hva = NULL;
		nr++;
	}
	if (ram > low) {
		out[nr].gpa = LAYOUT_HIGHMEM;
		out[nr].size = ram - low;
		out[nr].hva = NULL;
		nr++;
	}
	return nr;
}

void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < mem->nr; i++) {
		const struct guest_region *r = &mem->region[i];

		/* Written so that no sum can overflow whatever the guest passes. */
		if (gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		if (len > r->size - (gpa - r->gpa))
			return NULL;
		return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

static int open_backing(const struct mem_options *opt)
{
	unsigned flags = MFD_CLOEXEC;

	if (opt->hugepage_size == 2 * SZ_1M)
		flags |= MFD_HUGETLB | MFD_HUGE_2MB;
	else if (opt->hugepage_size == SZ_1G)
		flags |= MFD_HUGETLB | MFD_HUGE_1GB;
	else if (opt->hugepage_size)
		return -EINVAL;
	int fd = memfd_create("guest-ram", flags);

	return fd < 0 ? -errno : fd;
}

int guest_mem_alloc(struct guest_mem *mem, const struct mem_options *opt)
{
	uint64_t page = opt->hugepage_size ? opt->hugepage_size : 4096;
	int flags = MAP_SHARED | (opt->prefault ? MAP_POPULATE : 0);
	int ret;

	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
	if (opt->size == 0 || opt->size % page)
		return -EINVAL;
	ret = open_backing(opt);
	if (ret < 0)
		return ret;
	mem->fd = ret;
	/*
	 * With hugetlbfs, ftruncate succeeds even when the pool is too small;
	 * the shortage only shows as SIGBUS on first touch. fallocate reserves
	 * the pages now, so a short pool is an error at start, not a crash.
	 */
	if (opt->hugepage_size ? fallocate(mem->fd, 0, 0, (off_t)opt->size)
			       : ftruncate(mem->fd, (off_t)opt->size)) {
		ret = -errno;
		goto err_close;
	}
	mem->map = mmap(NULL, opt->size, PROT_READ | PROT_WRITE, flags, mem->fd, 0);
	if (mem->map == MAP_FAILED) {
		ret = -errno;
		mem->map = NULL;
		goto err_close;
	}
	mem->map_len = opt->size;
	mem->total = opt->size;
	mem->page_size = page;
	/* Guest RAM must not end up in a core dump of the VMM. */
	madvise(mem->map, opt->size, MADV_DONTDUMP);
	mem->nr = guest_mem_layout(opt->size, mem->region);
	uint64_t off = 0;

	for (unsigned i = 0; i < mem->nr; i++) {
		mem->region[i].hva = (uint8_t *)mem->map + off;
		off += mem->region[i].size;
	}
	return 0;

err_close:
	close(mem->fd);
	mem->fd = -1;
	return ret;
}

void guest_mem_free(struct guest_mem *mem)
{
	/*
	 * The fd is ours only while the mapping is: a zeroed struct (never
	 * allocated, or freed already) must not close fd 0.
	 */
	if (mem->map) {
		munmap(mem->map, mem->map_len);
		close(mem->fd);
	}
	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
}
