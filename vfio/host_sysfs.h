/* SPDX-License-Identifier: MIT */
#ifndef VFIO_HOST_SYSFS_H
#define VFIO_HOST_SYSFS_H

/*
 * The host's PCI devices as sysfs shows them (host_sysfs.c), read under a
 * sysroot. Below both `vmm run --vfio` (a group's viability, a function's
 * BARs) and `vmm host`, which builds its commands on it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pci_addr.h"

#define HOST_NAME_LEN 64

/* One PCI function, as sysfs shows it. */
struct host_dev {
	char bdf[HOST_BDF_LEN];
	char parent[HOST_BDF_LEN]; /* the upstream bridge; "" on a root bus */
	uint16_t vendor, device;
	uint32_t class;            /* base, sub-class, prog-if */
	int group;                 /* IOMMU group; -1 when there is none */
	char driver[HOST_NAME_LEN];   /* "" when no driver is bound */
	char override[HOST_NAME_LEN]; /* driver_override; "" when unset */
	bool boot_vga;
	char critical[96];         /* why the host needs it; "" if it does not */
};

/* Told the path of each file or link read under the sysroot: tests count them. */
typedef void host_read_fn(const char *path, void *arg);

/* The host's PCI devices, sorted by BDF. */
struct host {
	const char *root;          /* the sysroot, without a trailing '/' */
	struct host_dev *devs;
	size_t n;
	bool have_groups;          /* /sys/kernel/iommu_groups has entries */
	host_read_fn *on_read;     /* NULL but in tests */
	void *on_read_arg;
};

/*
 * 0, or -errno said on stderr: a device attribute that is not a number
 * (vendor, device, class, the iommu_group link's name) is -EINVAL naming
 * the file, not 0. On error nothing is kept (no host_free() needed).
 */
int host_load(struct host *h, const char *root) __attribute__((warn_unused_result));
/* host_load() with on_read told of every read, the load's own included. */
int host_load_traced(struct host *h, const char *root, host_read_fn *on_read, void *arg)
	__attribute__((warn_unused_result));
void host_free(struct host *h);
struct host_dev *host_find(const struct host *h, const char *bdf);
/* struct resource flags, as the kernel prints them in a device's resource file. */
#define RES_IO       0x00000100ul
#define RES_MEM      0x00000200ul
#define RES_PREFETCH 0x00002000ul
#define RES_MEM_64   0x00100000ul
/* A device's resource file: a line per BAR 0-5, then the ROM. */
#define HOST_NR_RESOURCES 7
#define HOST_ROM_RESOURCE 6
struct host_resource {
	uint64_t size;       /* 0: unused, or the upper half of a 64-bit BAR */
	unsigned long flags; /* RES_* */
};
/* bdf's resource file into res (sizes 0 where a line is missing or empty); 0 or -errno. */
int host_read_resources(const struct host *h, const char *bdf,
			struct host_resource res[HOST_NR_RESOURCES]);
bool host_is_bridge(const struct host_dev *d);
/* vfio-pci or one of its vendor variants (mlx5_vfio_pci, ...). */
bool host_on_vfio(const struct host_dev *d);
/*
 * Whether d, as a member of a group passed through, leaves DMA to the
 * group's owner: on vfio-pci (or a variant), on pci-stub, or on no driver.
 * The kernel refuses a group with any other endpoint driver in it.
 */
bool host_leaves_dma_to_owner(const struct host_dev *d);
const char *host_class_name(uint32_t class);
int host_path(const struct host *h, char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int host_read(const struct host *h, char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int host_link_name(const struct host *h, char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/*
 * A number that is the whole of a small sysfs file (its trailing newline
 * allowed): decimal (a '-' allowed) or, base 16, hexadecimal with or
 * without "0x". 0; -ENOENT for no such file (not said); -EINVAL for
 * anything else in it, said on stderr naming the file; other -errno, said.
 */
int host_read_number(const struct host *h, long long *v, int base, const char *fmt, ...)
	__attribute__((format(printf, 4, 5), warn_unused_result));
bool host_exists(const struct host *h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Marks the devices the host needs (host_critical.c); host_load() calls it. */
void host_mark_critical(struct host *h);

#endif
