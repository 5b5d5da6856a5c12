// SPDX-License-Identifier: MIT
/*
 * vmm bench vfio reads strace's ioctl lines: the DMA maps and the resets it
 * times in both VMMs, and nothing else, each only when it succeeded.
 */
#include <criterion/criterion.h>

#include "bench/bench_internal.h"

static enum bench_strace_call parse(const char *line, double *ms)
{
	*ms = -1;
	return bench_strace_line(line, ms);
}

Test(bench_strace, type1_map)
{
	double ms;

	/* VFIO_IOMMU_MAP_DMA and VFIO_DEVICE_PCI_HOT_RESET share a number. */
	cr_assert_eq(parse("ioctl(12</dev/vfio/vfio>, VFIO_DEVICE_PCI_HOT_RESET or "
			   "VFIO_IOMMU_MAP_DMA, 0x7ffd5a1c0f70) = 0 <1.234567>\n", &ms),
		     BENCH_STRACE_MAP);
	cr_assert_float_eq(ms, 1234.567, 1e-6);
	/* strace -f puts the pid first. */
	cr_assert_eq(parse("4711  ioctl(12</dev/vfio/vfio>, VFIO_DEVICE_PCI_HOT_RESET or "
			   "VFIO_IOMMU_MAP_DMA, 0x7ffd5a1c0f70) = 0 <0.000500>", &ms),
		     BENCH_STRACE_MAP);
	cr_assert_float_eq(ms, 0.5, 1e-9);
}

Test(bench_strace, iommufd_map)
{
	double ms;

	cr_assert_eq(parse("ioctl(9</dev/iommu>, _IOC(_IOC_NONE, 0x3b, 0x85, 0), 0x7ffc1) = 0 "
			   "<0.250000>", &ms), BENCH_STRACE_MAP);
	cr_assert_float_eq(ms, 250, 1e-9);
	cr_assert_eq(parse("ioctl(9</dev/iommu>, IOMMU_IOAS_MAP, 0x7ffc1) = 0 <0.1>", &ms),
		     BENCH_STRACE_MAP);
	/* Another iommufd command. */
	cr_assert_eq(parse("ioctl(9</dev/iommu>, _IOC(_IOC_NONE, 0x3b, 0x81, 0), 0x7ffc1) = 0 "
			   "<0.1>", &ms), BENCH_STRACE_OTHER);
}

Test(bench_strace, resets)
{
	double ms;

	cr_assert_eq(parse("ioctl(15<anon_inode:[vfio-device]>, VFIO_DEVICE_RESET) = 0 "
			   "<0.105900>", &ms), BENCH_STRACE_RESET);
	cr_assert_float_eq(ms, 105.9, 1e-9);
	/* On a device, the shared number is the hot reset. */
	cr_assert_eq(parse("ioctl(15<anon_inode:[vfio-device]>, VFIO_DEVICE_PCI_HOT_RESET or "
			   "VFIO_IOMMU_MAP_DMA, 0x55d0) = 0 <0.200000>", &ms), BENCH_STRACE_RESET);
	cr_assert_eq(parse("ioctl(7</dev/vfio/devices/vfio0>, VFIO_DEVICE_RESET) = 0 <0.1>", &ms),
		     BENCH_STRACE_RESET);
	cr_assert_eq(parse("ioctl(15<anon_inode:[vfio-device]>, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO,"
			   " 0x55d0) = 0 <0.000010>", &ms), BENCH_STRACE_OTHER);
}

Test(bench_strace, guest_ram_allocated_up_front)
{
	double ms;

	cr_assert_eq(parse("fallocate(5</memfd:guest-ram (deleted)>, 0, 0, 536870912) = 0 "
			   "<1.052000>", &ms), BENCH_STRACE_ALLOC);
	cr_assert_float_eq(ms, 1052, 1e-9);
	cr_assert_eq(parse("fallocate(5</memfd:guest-ram (deleted)>, 0, 0, 536870912) = -1 "
			   "ENOSPC (No space left on device) <0.01>", &ms), BENCH_STRACE_OTHER);
}

Test(bench_strace, not_counted)
{
	double ms;
	const char *lines[] = {
		/* Failed: no time counted. */
		"ioctl(12</dev/vfio/vfio>, VFIO_DEVICE_PCI_HOT_RESET or VFIO_IOMMU_MAP_DMA, "
		"0x7ffd) = -1 ENOMEM (Cannot allocate memory) <0.300000>",
		"ioctl(15<anon_inode:[vfio-device]>, VFIO_DEVICE_RESET) = -1 ENOTTY "
		"(Inappropriate ioctl for device) <0.000044>",
		/* Unmapping is not mapping. */
		"ioctl(12</dev/vfio/vfio>, VFIO_IOMMU_UNMAP_DMA, 0x7ffd) = 0 <0.5>",
		/* A map number on a file that is not a container. */
		"ioctl(3</dev/null>, VFIO_DEVICE_PCI_HOT_RESET or VFIO_IOMMU_MAP_DMA, 0x7) = 0 <0.1>",
		/* Returns an fd, and is no VFIO call. */
		"ioctl(10</dev/kvm>, KVM_CREATE_VM, 0) = 11<anon_inode:kvm-vm> <0.001000>",
		"ioctl(14<anon_inode:kvm-vcpu:0>, KVM_RUN, 0) = 0 <0.020000>",
		/* Interleaved halves of one call. */
		"ioctl(12</dev/vfio/vfio>, VFIO_DEVICE_PCI_HOT_RESET or VFIO_IOMMU_MAP_DMA, "
		"0x7ffd <unfinished ...>",
		/* Without -y there is no path to tell the container by. */
		"ioctl(12, VFIO_DEVICE_PCI_HOT_RESET or VFIO_IOMMU_MAP_DMA, 0x7ffd) = 0 <0.1>",
		"openat(AT_FDCWD</>, \"/dev/vfio/vfio\", O_RDWR) = 12</dev/vfio/vfio> <0.000020>",
		"",
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		cr_assert_eq(parse(lines[i], &ms), BENCH_STRACE_OTHER, "counted: %s", lines[i]);
}
