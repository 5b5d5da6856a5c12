// SPDX-License-Identifier: MIT
/*
 * The iommufd backend (vfio_iommu.h), Linux 6.6 and later: /dev/iommu with
 * one I/O address space (IOAS) that every device attaches to and all DMA
 * maps go to, each device opened on its own cdev /dev/vfio/devices/vfioN
 * and bound to the iommufd. Groups have no node to open here; the kernel
 * still claims a group whole when a member binds.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/pci_addr.h"
#include "vfio/iommufd_abi.h"
#include "vfio/vfio.h"
#include "vfio/vfio_iommu.h"

bool vfio_iommufd_present(const char *root)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/dev/iommu", strcmp(root, "/") ? root : "");
	return access(path, F_OK) == 0;
}

int vfio_cdev_name(const char *root, const char *bdf, char *name, size_t len)
{
	char path[400];
	struct dirent *e;
	DIR *dir;
	int ret = -ENOENT;

	snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s/vfio-dev",
		 strcmp(root, "/") ? root : "", bdf);
	dir = opendir(path);
	if (!dir)
		return -ENOENT;
	while ((e = readdir(dir))) {
		unsigned n;
		char end;

		if (sscanf(e->d_name, "vfio%u%c", &n, &end) != 1 || strlen(e->d_name) >= len)
			continue;
		strcpy(name, e->d_name);
		ret = 0;
		break;
	}
	closedir(dir);
	return ret;
}

int vfio_cdev_bdf(const char *root, unsigned major, unsigned minor, char *bdf, size_t bdf_len,
		  char *cdev, size_t cdev_len)
{
	char link[300], real[PATH_MAX], *name, *dir, *pci;
	char parsed[HOST_BDF_LEN];
	unsigned n;
	char end;

	snprintf(link, sizeof(link), "%s/sys/dev/char/%u:%u", strcmp(root, "/") ? root : "",
		 major, minor);
	/* sysfs links it to the device's directory: .../0000:01:00.0/vfio-dev/vfio3 */
	if (!realpath(link, real))
		return -ENOENT;
	name = strrchr(real, '/');
	*name++ = '\0';
	dir = strrchr(real, '/');
	if (sscanf(name, "vfio%u%c", &n, &end) != 1 || !dir || strcmp(dir + 1, "vfio-dev"))
		return -ENODEV;
	*dir = '\0';
	pci = strrchr(real, '/');
	if (!pci || host_parse_bdf(pci + 1, parsed) || strcmp(pci + 1, parsed) ||
	    strlen(parsed) >= bdf_len || (cdev && strlen(name) >= cdev_len))
		return -ENODEV;
	strcpy(bdf, parsed);
	if (cdev)
		strcpy(cdev, name);
	return 0;
}

static int iommufd_open(struct vfio_container *c, char *why, size_t len)
{
	const struct vfio_sys *sys = c->sys;
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	char path[300];
	int fd, ret;

	snprintf(path, sizeof(path), "%s/dev/iommu", c->root);
	fd = vfio_node_open(sys, path, "this kernel has no iommufd (it needs CONFIG_IOMMUFD "
			    "and CONFIG_VFIO_DEVICE_CDEV, Linux 6.6 or later, and modprobe "
			    "iommufd; Debian builds neither): use --vfio-iommu type1", why, len);
	if (fd < 0)
		return fd;
	ret = sys->ioctl(fd, IOMMU_IOAS_ALLOC, &alloc);
	if (ret < 0) {
		sys->close(fd);
		if (ret == -ENOTTY)
			return vfio_fail(why, len, ENOTTY, "%s: not iommufd (it does not answer "
					 "IOMMU_IOAS_ALLOC)", path);
		return vfio_fail(why, len, -ret, "%s: IOMMU_IOAS_ALLOC: %s", path, strerror(-ret));
	}
	c->fd = fd;
	c->ioas = alloc.out_ioas_id;
	return 0;
}

/* Nothing to open: each device binds on its own cdev, and the kernel claims the group then. */
static int iommufd_group_open(struct vfio_container *c, struct vfio_group *g, char *why, size_t len)
{
	(void)c, (void)why, (void)len;
	g->viable = true;
	return 0;
}

/* No node was opened; the IOAS and its mappings live until /dev/iommu closes. */
static void iommufd_group_close(struct vfio_container *c, struct vfio_group *g)
{
	(void)c, (void)g;
}

/* Binds the cdev's fd to the iommufd and attaches it to the IOAS: after this it is usable. */
static int cdev_attach(struct vfio_group *g, struct vfio_device *d, int fd, const char *path,
		       char *why, size_t len)
{
	struct vfio_container *c = g->c;
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind), .iommufd = c->fd };
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at), .pt_id = c->ioas };
	int ret = g->sys->ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind);

	/* One user at a time: a second bind of an open device is EINVAL, a claimed group EBUSY. */
	if (ret == -EINVAL || ret == -EBUSY)
		return vfio_fail(why, len, EBUSY, "%s (IOMMU group %d) is in use by another process "
				 "(another VM?): `fuser -v %s /dev/vfio/%d` shows which", d->bdf,
				 g->group, path, g->group);
	if (ret < 0)
		return vfio_fail(why, len, -ret, "%s: VFIO_DEVICE_BIND_IOMMUFD: %s", d->bdf,
				 strerror(-ret));
	ret = g->sys->ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at);
	if (ret < 0)
		return vfio_fail(why, len, -ret, "%s: attaching it to the IOMMU address space "
				 "(VFIO_DEVICE_ATTACH_IOMMUFD_PT): %s", d->bdf, strerror(-ret));
	return 0;
}

static int iommufd_device_open(struct vfio_group *g, struct vfio_device *d, char *why, size_t len)
{
	char path[320];
	int fd, ret;

	if (vfio_cdev_name(g->c->root, d->bdf, d->cdev, sizeof(d->cdev)))
		return vfio_fail(why, len, ENOENT, "%s: no VFIO device cdev (no %s/sys/bus/pci/"
				 "devices/%s/vfio-dev/): it is not on vfio-pci (vmm host bind %s), "
				 "or the kernel lacks CONFIG_VFIO_DEVICE_CDEV (use --vfio-iommu "
				 "type1)", d->bdf, g->c->root, d->bdf, d->bdf);
	snprintf(path, sizeof(path), "%s/dev/vfio/devices/%s", g->c->root, d->cdev);
	fd = g->sys->open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return vfio_open_fail(why, len, fd, path);
	ret = cdev_attach(g, d, fd, path, why, len);
	if (ret) {
		g->sys->close(fd);
		return ret;
	}
	return fd;
}

/* A cdev someone else opened: bound and attached as iommufd_device_open() does its own. */
static int iommufd_device_adopt(struct vfio_group *g, struct vfio_device *d, int fd, char *why,
				size_t len)
{
	char path[320] = "its cdev";
	int ret;

	/* Only for what the messages say: the fd is what is used. */
	if (!vfio_cdev_name(g->c->root, d->bdf, d->cdev, sizeof(d->cdev)))
		snprintf(path, sizeof(path), "%s/dev/vfio/devices/%s", g->c->root, d->cdev);
	ret = cdev_attach(g, d, fd, path, why, len);
	if (ret) {
		g->sys->close(fd);
		return ret;
	}
	return fd;
}

/* An IOAS maps from the start, before any device is attached. */
static bool iommufd_can_map(const struct vfio_container *c)
{
	(void)c;
	return true;
}

static int iommufd_map(struct vfio_container *c, uint64_t iova, void *hva, uint64_t size)
{
	struct iommu_ioas_map map = {
		.size = sizeof(map), .ioas_id = c->ioas, .user_va = (uintptr_t)hva,
		.length = size, .iova = iova,
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
	};

	return c->sys->ioctl(c->fd, IOMMU_IOAS_MAP, &map);
}

static int64_t iommufd_unmap(struct vfio_container *c, uint64_t iova, uint64_t size)
{
	struct iommu_ioas_unmap unmap = {
		.size = sizeof(unmap), .ioas_id = c->ioas, .iova = iova, .length = size,
	};
	int ret = c->sys->ioctl(c->fd, IOMMU_IOAS_UNMAP, &unmap);

	return ret < 0 ? ret : (int64_t)unmap.length;
}

static int iommufd_owner_fd(const struct vfio_device *d)
{
	return d->fd;
}

const struct vfio_iommu_ops vfio_iommu_iommufd = {
	.name = "iommufd",
	.open = iommufd_open,
	.group_open = iommufd_group_open,
	.group_close = iommufd_group_close,
	.device_open = iommufd_device_open,
	.device_adopt = iommufd_device_adopt,
	.can_map = iommufd_can_map,
	.map = iommufd_map,
	.unmap = iommufd_unmap,
	.owner_fd = iommufd_owner_fd,
};
