// SPDX-License-Identifier: MIT
/*
 * The lines of `strace -qq -T -y -e trace=ioctl,fallocate` that "vmm bench
 * vfio" counts, apart so that a unit test can feed it strace's output.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"

enum bench_strace_call bench_strace_line(const char *line, double *ms)
{
	const char *p = line, *path, *end, *eq, *took;
	char fd_path[64];
	bool ioctl;
	size_t n;

	while (isdigit((unsigned char)*p) || *p == ' ')
		p++; /* a pid, with strace -f */
	if (strncmp(p, "ioctl(", 6) == 0)
		ioctl = true, p += 6;
	else if (strncmp(p, "fallocate(", 10) == 0)
		ioctl = false, p += 10;
	else
		return BENCH_STRACE_OTHER;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p != '<')
		return BENCH_STRACE_OTHER; /* not strace -y */
	path = p + 1;
	end = strchr(path, '>');
	if (!end || (n = (size_t)(end - path)) >= sizeof(fd_path))
		return BENCH_STRACE_OTHER;
	memcpy(fd_path, path, n);
	fd_path[n] = '\0';
	/* "... ) = 0 <0.001234>": succeeded, and how long it took. */
	eq = strstr(end, ") = ");
	took = strrchr(end, '<');
	if (!eq || !took || strtol(eq + 4, NULL, 10) != 0 || took < eq)
		return BENCH_STRACE_OTHER;
	*ms = strtod(took + 1, NULL) * 1e3;
	if (!ioctl)
		return BENCH_STRACE_ALLOC;
	if (strcmp(fd_path, "/dev/vfio/vfio") == 0)
		return strstr(end, "VFIO_IOMMU_MAP_DMA") ? BENCH_STRACE_MAP : BENCH_STRACE_OTHER;
	if (strcmp(fd_path, "/dev/iommu") == 0)
		return strstr(end, "IOMMU_IOAS_MAP") || strstr(end, "0x3b, 0x85") ?
			BENCH_STRACE_MAP : BENCH_STRACE_OTHER;
	if (strcmp(fd_path, "anon_inode:[vfio-device]") == 0 ||
	    strncmp(fd_path, "/dev/vfio/devices/", 18) == 0)
		return strstr(end, "VFIO_DEVICE_RESET") || strstr(end, "VFIO_DEVICE_PCI_HOT_RESET") ?
			BENCH_STRACE_RESET : BENCH_STRACE_OTHER;
	return BENCH_STRACE_OTHER;
}
