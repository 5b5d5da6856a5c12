// SPDX-License-Identifier: MIT
/*
 * The type1 backend (vfio_iommu.h): the container /dev/vfio/vfio, each
 * IOMMU group's node /dev/vfio/N joined to it, the device fd asked of its
 * group, DMA mapped with VFIO_IOMMU_MAP_DMA. The container has no IOMMU
 * until its first group sets one, and loses it (with its mappings) when
 * its last group leaves.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "vfio/vfio.h"
#include "vfio/vfio_iommu.h"

static int check_api(const struct vfio_sys *sys, int fd, const char *path, char *why, size_t len)
{
	int ver = sys->ioctl(fd, VFIO_GET_API_VERSION, NULL);

	if (ver == -ENOTTY || ver == -EINVAL)
		return vfio_fail(why, len, ENOTTY, "%s: not a VFIO device (it does not answer "
				 "VFIO_GET_API_VERSION)", path);
	if (ver < 0)
		return vfio_fail(why, len, -ver, "%s: VFIO_GET_API_VERSION: %s", path, strerror(-ver));
	if (ver != VFIO_API_VERSION)
		return vfio_fail(why, len, EPROTO, "%s: the kernel speaks VFIO API version %d, this "
				 "vmm speaks version %d", path, ver, VFIO_API_VERSION);
	return 0;
}

/* The best type1 flavour the kernel offers: v2 unmaps whole mappings only, as vfio.c does. */
static int pick_iommu(const struct vfio_sys *sys, int fd)
{
	if (sys->ioctl(fd, VFIO_CHECK_EXTENSION, (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU) > 0)
		return VFIO_TYPE1v2_IOMMU;
	if (sys->ioctl(fd, VFIO_CHECK_EXTENSION, (void *)(uintptr_t)VFIO_TYPE1_IOMMU) > 0)
		return VFIO_TYPE1_IOMMU;
	return 0;
}

static int type1_open(struct vfio_container *c, char *why, size_t len)
{
	const struct vfio_sys *sys = c->sys;
	char path[300];
	int fd, ret;

	snprintf(path, sizeof(path), "%s/dev/vfio/vfio", c->root);
	fd = vfio_node_open(sys, path, "the VFIO modules are not loaded (load vfio-pci: "
			    "modprobe vfio-pci)", why, len);
	if (fd < 0)
		return fd;
	ret = check_api(sys, fd, path, why, len);
	if (ret)
		goto err_close;
	c->want_type = pick_iommu(sys, fd);
	if (!c->want_type) {
		ret = vfio_fail(why, len, ENOTSUP, "%s: no type1 IOMMU backend in the kernel "
				"(modprobe vfio_iommu_type1)", path);
		goto err_close;
	}
	c->fd = fd;
	return 0;

err_close:
	sys->close(fd);
	return ret;
}

/* The group's node: the kernel lets one opener at a time hold it. */
static int group_node_open(struct vfio_container *c, int group, char *why, size_t len)
{
	char path[300];
	int fd;

	snprintf(path, sizeof(path), "%s/dev/vfio/%d", c->root, group);
	fd = c->sys->open(path, O_RDWR | O_CLOEXEC);
	if (fd == -EBUSY)
		return vfio_fail(why, len, EBUSY, "IOMMU group %d is in use by another process "
				 "(another VM?): `fuser -v %s` shows which", group, path);
	if (fd == -ENOENT)
		return vfio_fail(why, len, ENOENT, "%s: missing: no device of IOMMU group %d is "
				 "bound to vfio-pci (vmm host bind BDF)", path, group);
	return fd < 0 ? vfio_open_fail(why, len, fd, path) : fd;
}

static int group_attach(struct vfio_container *c, struct vfio_group *g, char *why, size_t len)
{
	const struct vfio_sys *sys = c->sys;
	struct vfio_group_status st = { .argsz = sizeof(st) };
	int ret = sys->ioctl(g->fd, VFIO_GROUP_GET_STATUS, &st);

	if (ret < 0)
		return vfio_fail(why, len, -ret, "IOMMU group %d: VFIO_GROUP_GET_STATUS: %s",
				 g->group, strerror(-ret));
	g->viable = st.flags & VFIO_GROUP_FLAGS_VIABLE;
	if (!g->viable)
		return vfio_fail(why, len, EBUSY, "IOMMU group %d is not viable: some of its devices "
				 "are bound to host drivers (vmm host groups shows them; vmm host "
				 "bind moves them to vfio-pci)", g->group);
	ret = sys->ioctl(g->fd, VFIO_GROUP_SET_CONTAINER, &c->fd);
	if (ret < 0)
		return vfio_fail(why, len, -ret, "IOMMU group %d: cannot join the container: %s",
				 g->group, strerror(-ret));
	if (c->iommu_type)
		return 0;
	/* The container takes its IOMMU type once it has a group, and keeps it while it has one. */
	ret = sys->ioctl(c->fd, VFIO_SET_IOMMU, (void *)(uintptr_t)c->want_type);
	if (ret < 0)
		return vfio_fail(why, len, -ret, "IOMMU group %d: VFIO_SET_IOMMU (type1%s): %s",
				 g->group, c->want_type == VFIO_TYPE1v2_IOMMU ? "v2" : "",
				 strerror(-ret));
	c->iommu_type = c->want_type;
	return 0;
}

static int type1_group_open(struct vfio_container *c, struct vfio_group *g, char *why, size_t len)
{
	int ret = group_node_open(c, g->group, why, len);

	if (ret < 0)
		return ret;
	g->fd = ret;
	ret = group_attach(c, g, why, len);
	if (ret) {
		/* Closing the group's fd also takes it out of the container. */
		c->sys->close(g->fd);
		g->fd = -1;
	}
	return ret;
}

static void type1_group_close(struct vfio_container *c, struct vfio_group *g)
{
	/*
	 * The last group to leave takes the container's IOMMU, and the
	 * kernel's mappings, with it: unmap them first so the record and the
	 * kernel agree, and the next group sets the type again.
	 */
	bool last = c->groups == 1;

	if (c->sys && last)
		vfio_unmap_all(c);
	g->sys->close(g->fd);
	if (last)
		c->iommu_type = 0;
}

static int type1_device_open(struct vfio_group *g, struct vfio_device *d, char *why, size_t len)
{
	int fd = g->sys->ioctl(g->fd, VFIO_GROUP_GET_DEVICE_FD, d->bdf);

	if (fd == -ENODEV || fd == -EINVAL)
		return vfio_fail(why, len, -fd, "%s: not a vfio-pci device of IOMMU group %d "
				 "(vmm host bind %s)", d->bdf, g->group, d->bdf);
	if (fd < 0)
		return vfio_fail(why, len, -fd, "%s: VFIO_GROUP_GET_DEVICE_FD: %s", d->bdf,
				 strerror(-fd));
	return fd;
}

/* Mapping needs the IOMMU type, which a group sets. */
static bool type1_can_map(const struct vfio_container *c)
{
	return c->iommu_type != 0;
}

static int type1_map(struct vfio_container *c, uint64_t iova, void *hva, uint64_t size)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map), .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)hva, .iova = iova, .size = size,
	};

	return c->sys->ioctl(c->fd, VFIO_IOMMU_MAP_DMA, &map);
}

static int64_t type1_unmap(struct vfio_container *c, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap unmap = { .argsz = sizeof(unmap), .iova = iova, .size = size };
	int ret = c->sys->ioctl(c->fd, VFIO_IOMMU_UNMAP_DMA, &unmap);

	return ret < 0 ? ret : (int64_t)unmap.size;
}

static int type1_owner_fd(const struct vfio_device *d)
{
	return d->g->fd;
}

const struct vfio_iommu_ops vfio_iommu_type1 = {
	.name = "type1",
	.open = type1_open,
	.group_open = type1_group_open,
	.group_close = type1_group_close,
	.device_open = type1_device_open,
	.can_map = type1_can_map,
	.map = type1_map,
	.unmap = type1_unmap,
	.owner_fd = type1_owner_fd,
};
