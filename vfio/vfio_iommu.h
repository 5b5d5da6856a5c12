/* SPDX-License-Identifier: MIT */
#ifndef VFIO_VFIO_IOMMU_H
#define VFIO_VFIO_IOMMU_H

/*
 * The IOMMU backends behind vfio.h's calls, private to vfio/. vfio.c does
 * what both share (the record of DMA mappings, the device's regions and
 * interrupts, the order of opening and closing); each backend does only
 * what its kernel interface does differently:
 *   - iommu_type1.c: the container /dev/vfio/vfio, a node per group;
 *   - iommu_iommufd.c: /dev/iommu with one IOAS, a cdev per device.
 * A third (a second IOAS per NUMA node, say) is one more table.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vfio_container;
struct vfio_group;
struct vfio_device;
struct vfio_sys;

struct vfio_iommu_ops {
	const char *name; /* "type1", "iommufd": what logs and vm.info say */
	/* Opens the backend's node under c->root into c->fd with c->sys, and readies it. */
	int (*open)(struct vfio_container *c, char *why, size_t len);
	/* Joins group g (g->group set) to c; on failure nothing of it stays open. */
	int (*group_open)(struct vfio_container *c, struct vfio_group *g, char *why, size_t len);
	/* Undoes group_open; c->groups still counts g. */
	void (*group_close)(struct vfio_container *c, struct vfio_group *g);
	/* d->bdf's fd, usable for the device's ioctls, or -errno with why. */
	int (*device_open)(struct vfio_group *g, struct vfio_device *d, char *why, size_t len);
	/*
	 * The same with fd, d->bdf's node opened by someone else: fd readied,
	 * or -errno with why and fd closed. NULL: the backend cannot (type1
	 * opens devices through the group, not a node of their own).
	 */
	int (*device_adopt)(struct vfio_group *g, struct vfio_device *d, int fd, char *why,
			    size_t len);
	/* Whether DMA can be mapped yet. */
	bool (*can_map)(const struct vfio_container *c);
	int (*map)(struct vfio_container *c, uint64_t iova, void *hva, uint64_t size);
	/* What the kernel unmapped of [iova, iova + size), in bytes, or -errno. */
	int64_t (*unmap)(struct vfio_container *c, uint64_t iova, uint64_t size);
	/*
	 * The fd that proves ownership of d to KVM's VFIO device and to a
	 * hot reset: its group's node, or its own cdev.
	 */
	int (*owner_fd)(const struct vfio_device *d);
};

extern const struct vfio_iommu_ops vfio_iommu_type1;
extern const struct vfio_iommu_ops vfio_iommu_iommufd;

/* Shared by vfio.c and the backends: one line in why, and -err. */
int vfio_fail(char *why, size_t len, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/*
 * Opens the node at path read-write: its fd, or -errno with one line in why,
 * which says "PATH: missing: " and then missing when there is no such node.
 */
int vfio_node_open(const struct vfio_sys *sys, const char *path, const char *missing,
		   char *why, size_t len);
/* The line for a node that would not open (err is -errno): permission, no driver, or strerror. */
int vfio_open_fail(char *why, size_t len, int err, const char *path);

#endif
