// SPDX-License-Identifier: MIT
/*
 * The iommufd path of vfio.c: /dev/iommu with one IOAS, each device on its
 * cdev, bound and attached, guest RAM mapped with IOMMU_IOAS_MAP. A fake
 * kernel answers the ioctls and records what is mapped; sysfs is a
 * directory made per test, with the vfio-dev/vfioN entry the kernel gives a
 * device on vfio-pci.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vfio/iommufd_abi.h"
#include "vfio/vfio.h"
#include "core/memory.h"

#define GiB (1ull << 30)

#define assert_has(s, sub) cr_assert(strstr((s), (sub)), "\"%s\" lacks \"%s\"", (s), (sub))

enum { IOMMU_FD = 50, CDEV_FD = 60, MAX_FD = 64, MAX_LIVE = 16, IOAS_ID = 7 };

static struct fake {
	bool open[MAX_FD];
	int opens, closes;
	int iommu_err;          /* what open("/dev/iommu") returns; 0: succeed */
	int bind_err, attach_err;
	int map_fail_at, map_err, maps, unmaps;
	bool bound, attached;
	uint32_t attached_to;
	char cdev_path[512];
	struct { uint64_t iova, len, va; } live[MAX_LIVE];
	int n_live;
} fk;

static char root[128];
static char why[1024];

static int take(int fd)
{
	cr_assert(!fk.open[fd], "fd %d opened twice", fd);
	fk.open[fd] = true;
	fk.opens++;
	return fd;
}

static int fake_open(const char *path, int flags)
{
	if (strstr(path, "/dev/iommu"))
		return fk.iommu_err ? fk.iommu_err : take(IOMMU_FD);
	if (strstr(path, "/dev/vfio/devices/")) {
		snprintf(fk.cdev_path, sizeof(fk.cdev_path), "%s", path);
		return take(CDEV_FD);
	}
	cr_assert_fail("open of %s under iommufd", path);
	return -ENOENT;
}

static int fake_close(int fd)
{
	cr_assert(fd >= 0 && fd < MAX_FD && fk.open[fd], "close of fd %d, not open", fd);
	fk.open[fd] = false;
	fk.closes++;
	if (fd == CDEV_FD)
		fk.bound = fk.attached = false;
	return 0;
}

static int ioas_map(struct iommu_ioas_map *m)
{
	fk.maps++;
	cr_assert_eq(m->size, sizeof(*m));
	cr_assert_eq(m->ioas_id, IOAS_ID);
	cr_assert_eq(m->flags, IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
		     IOMMU_IOAS_MAP_WRITEABLE);
	if (fk.map_fail_at == fk.maps)
		return fk.map_err;
	cr_assert(fk.n_live < MAX_LIVE);
	fk.live[fk.n_live].iova = m->iova;
	fk.live[fk.n_live].len = m->length;
	fk.live[fk.n_live++].va = m->user_va;
	return 0;
}

static int ioas_unmap(struct iommu_ioas_unmap *u)
{
	fk.unmaps++;
	cr_assert_eq(u->ioas_id, IOAS_ID);
	for (int i = 0; i < fk.n_live; i++) {
		if (fk.live[i].iova == u->iova && fk.live[i].len == u->length) {
			fk.live[i] = fk.live[--fk.n_live];
			return 0;
		}
	}
	return -ENOENT;
}

static int cdev_ioctl(unsigned long req, void *arg)
{
	switch (req) {
	case VFIO_DEVICE_BIND_IOMMUFD: {
		struct vfio_device_bind_iommufd *b = arg;

		cr_assert_eq(b->argsz, sizeof(*b));
		cr_assert_eq(b->iommufd, IOMMU_FD);
		if (fk.bind_err)
			return fk.bind_err;
		fk.bound = true;
		b->out_devid = 1;
		return 0;
	}
	case VFIO_DEVICE_ATTACH_IOMMUFD_PT: {
		struct vfio_device_attach_iommufd_pt *a = arg;

		cr_assert(fk.bound, "attached before it was bound");
		if (fk.attach_err)
			return fk.attach_err;
		fk.attached = true;
		fk.attached_to = a->pt_id;
		return 0;
	}
	case VFIO_DEVICE_GET_INFO: {
		struct vfio_device_info *info = arg;

		cr_assert(fk.attached, "device used before it was attached");
		info->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
		info->num_regions = 0;
		info->num_irqs = 0;
		return 0;
	}
	}
	return -ENOTTY;
}

static int fake_ioctl(int fd, unsigned long req, void *arg)
{
	cr_assert(fd >= 0 && fd < MAX_FD && fk.open[fd], "ioctl on fd %d, not open", fd);
	if (fd == CDEV_FD)
		return cdev_ioctl(req, arg);
	switch (req) {
	case IOMMU_IOAS_ALLOC:
		((struct iommu_ioas_alloc *)arg)->out_ioas_id = IOAS_ID;
		return 0;
	case IOMMU_IOAS_MAP:
		return ioas_map(arg);
	case IOMMU_IOAS_UNMAP:
		return ioas_unmap(arg);
	}
	/* A type1 request on /dev/iommu would be a bug here. */
	cr_assert_fail("ioctl 0x%lx on /dev/iommu", req);
	return -ENOTTY;
}

static uint64_t fake_now(void)
{
	return 0;
}

static const struct vfio_sys fake_sys = {
	.open = fake_open, .ioctl = fake_ioctl, .close = fake_close, .now_ns = fake_now,
};

static void mkdirs(const char *rel)
{
	char path[512], *p;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	cr_assert(!mkdir(path, 0755) || errno == EEXIST, "mkdir %s", path);
}

static void setup(void)
{
	memset(&fk, 0, sizeof(fk));
	memset(why, 0, sizeof(why));
	snprintf(root, sizeof(root), "/tmp/vmm-iommufd-XXXXXX");
	cr_assert_not_null(mkdtemp(root));
	/* What the kernel shows for a device on vfio-pci with CONFIG_VFIO_DEVICE_CDEV. */
	mkdirs("sys/bus/pci/devices/0000:01:00.0/vfio-dev/vfio3");
	mkdirs("dev/vfio/devices");
}

static void teardown(void)
{
	char cmd[200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(iommufd, .init = setup, .fini = teardown);

static struct vfio_container c;
static struct vfio_group g;
static struct vfio_device d;

static void open_all(void)
{
	cr_assert_eq(vfio_iommufd_open_sys(&c, &fake_sys, root, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(vfio_group_open(&c, &g, 12, why, sizeof(why)), 0, "%s", why);
}

static void close_all(void)
{
	vfio_device_close(&d);
	vfio_group_close(&g);
	vfio_container_close(&c);
}

static void assert_all_released(void)
{
	cr_assert_eq(fk.opens, fk.closes, "%d opens, %d closes", fk.opens, fk.closes);
	for (int fd = 0; fd < MAX_FD; fd++)
		cr_assert(!fk.open[fd], "fd %d left open", fd);
	cr_assert_eq(fk.n_live, 0, "%d mappings left", fk.n_live);
}

Test(iommufd, cdev_name_from_sysfs)
{
	char name[32];

	mkdirs("sys/bus/pci/devices/0000:02:00.0/vfio-dev");
	cr_assert_eq(vfio_cdev_name(root, "0000:01:00.0", name, sizeof(name)), 0);
	cr_assert_str_eq(name, "vfio3");
	cr_assert_eq(vfio_cdev_name(root, "0000:02:00.0", name, sizeof(name)), -ENOENT);
	cr_assert_eq(vfio_cdev_name(root, "0000:03:00.0", name, sizeof(name)), -ENOENT);
	/* A name too long for the buffer is not taken half. */
	cr_assert_eq(vfio_cdev_name(root, "0000:01:00.0", name, 5), -ENOENT);
}

Test(iommufd, present_follows_dev_iommu)
{
	char path[256];
	FILE *f;

	cr_assert_not(vfio_iommufd_present(root));
	snprintf(path, sizeof(path), "%s/dev/iommu", root);
	f = fopen(path, "w");

	cr_assert_not_null(f);
	fclose(f);
	cr_assert(vfio_iommufd_present(root));
}

/* The whole way: the cdev bound to this iommufd, attached to its IOAS, RAM mapped there. */
Test(iommufd, device_and_guest_ram)
{
	struct guest_mem mem = { .nr = 2, .fd = -1 };

	mem.region[0] = (struct guest_region){ .gpa = 0, .size = 2 * GiB,
					       .hva = (uint8_t *)0x7f0000000000 };
	mem.region[1] = (struct guest_region){ .gpa = 4 * GiB, .size = GiB / 2,
					       .hva = (uint8_t *)0x7f0080000000 };
	open_all();
	cr_assert_str_eq(vfio_iommu_name(&c), "iommufd");
	cr_assert_eq(c.ioas, IOAS_ID);
	cr_assert_eq(vfio_device_open(&g, "01:00.0", &d, why, sizeof(why)), 0, "%s", why);
	cr_assert_str_eq(d.cdev, "vfio3");
	cr_assert_str_eq(fk.cdev_path + strlen(fk.cdev_path) - strlen("/dev/vfio/devices/vfio3"),
			 "/dev/vfio/devices/vfio3");
	cr_assert(fk.attached);
	cr_assert_eq(fk.attached_to, IOAS_ID);
	cr_assert_eq(d.fd, CDEV_FD);
	/* KVM and a hot reset are shown the device's own cdev: there is no group node. */
	cr_assert_eq(vfio_device_owner_fd(&d), CDEV_FD);
	cr_assert_eq(vfio_map_guest_ram(&c, &mem, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(fk.n_live, 3);
	cr_assert_eq(fk.live[2].iova, 4 * GiB);
	cr_assert_eq(fk.live[2].len, GiB / 2);
	cr_assert_eq(fk.live[2].va, 0x7f0080000000);
	/* The group leaving does not take the IOAS's mappings: the container's close does. */
	vfio_device_close(&d);
	vfio_group_close(&g);
	cr_assert_eq(fk.n_live, 3);
	vfio_container_close(&c);
	cr_assert_eq(fk.unmaps, 3);
	assert_all_released();
}

Test(iommufd, no_dev_iommu)
{
	fk.iommu_err = -ENOENT;
	cr_assert_eq(vfio_iommufd_open_sys(&c, &fake_sys, root, why, sizeof(why)), -ENOENT);
	assert_has(why, "/dev/iommu: missing");
	assert_has(why, "CONFIG_IOMMUFD");
	assert_has(why, "--vfio-iommu type1");
	assert_all_released();
}

Test(iommufd, no_cdev)
{
	open_all();
	cr_assert_eq(vfio_device_open(&g, "0000:01:00.1", &d, why, sizeof(why)), -ENOENT);
	assert_has(why, "0000:01:00.1: no VFIO device cdev");
	assert_has(why, "vmm host bind 0000:01:00.1");
	assert_has(why, "CONFIG_VFIO_DEVICE_CDEV");
	close_all();
	assert_all_released();
}

/* Another process has the device (a second bind is EINVAL) or its group (EBUSY). */
Test(iommufd, device_in_use)
{
	int errs[] = { -EINVAL, -EBUSY };

	for (unsigned i = 0; i < 2; i++) {
		fk.bind_err = errs[i];
		open_all();
		cr_assert_eq(vfio_device_open(&g, "0000:01:00.0", &d, why, sizeof(why)), -EBUSY);
		assert_has(why, "0000:01:00.0 (IOMMU group 12) is in use by another process");
		assert_has(why, "/dev/vfio/devices/vfio3 /dev/vfio/12");
		cr_assert_not(fk.open[CDEV_FD], "the cdev stayed open");
		close_all();
		assert_all_released();
	}
}

/*
 * The cdev opened by someone else and passed in (fd CDEV_FD here): bound
 * and attached as if opened here, and the device's from then on.
 */
Test(iommufd, device_from_a_cdev_fd)
{
	int given = take(CDEV_FD);

	open_all();
	cr_assert_eq(vfio_device_open_fd(&g, "01:00.0", given, &d, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(fk.opens, 2, "/dev/iommu and the fd given: no node opened here");
	cr_assert_str_eq(fk.cdev_path, "", "nothing opened under /dev/vfio/devices");
	cr_assert(fk.bound);
	cr_assert(fk.attached);
	cr_assert_eq(fk.attached_to, IOAS_ID);
	cr_assert_eq(d.fd, CDEV_FD);
	cr_assert_str_eq(d.bdf, "0000:01:00.0");
	cr_assert_str_eq(d.cdev, "vfio3");
	cr_assert_eq(vfio_device_owner_fd(&d), CDEV_FD);
	/* The device's close is the fd's close. */
	vfio_device_close(&d);
	cr_assert_not(fk.open[CDEV_FD]);
	close_all();
	assert_all_released();
}

/* Refused at the bind (another process has it), at the attach, or before: the fd is closed. */
Test(iommufd, a_cdev_fd_refused_is_closed)
{
	open_all();
	fk.bind_err = -EBUSY;
	cr_assert_eq(vfio_device_open_fd(&g, "0000:01:00.0", take(CDEV_FD), &d, why, sizeof(why)),
		     -EBUSY);
	assert_has(why, "0000:01:00.0 (IOMMU group 12) is in use by another process");
	assert_has(why, "/dev/vfio/devices/vfio3");
	cr_assert_not(fk.open[CDEV_FD]);
	fk.bind_err = 0;
	fk.attach_err = -ENODEV;
	cr_assert_eq(vfio_device_open_fd(&g, "0000:01:00.0", take(CDEV_FD), &d, why, sizeof(why)),
		     -ENODEV);
	cr_assert_not(fk.open[CDEV_FD]);
	fk.attach_err = 0;
	cr_assert_eq(vfio_device_open_fd(&g, "1:0.0", take(CDEV_FD), &d, why, sizeof(why)),
		     -EINVAL);
	cr_assert_not(fk.open[CDEV_FD]);
	cr_assert_eq(vfio_device_open_fd(&g, "0000:01:00.0", -1, &d, why, sizeof(why)), -EBADF);
	close_all();
	assert_all_released();
}

Test(iommufd, attach_fails)
{
	fk.attach_err = -ENODEV;
	open_all();
	cr_assert_eq(vfio_device_open(&g, "0000:01:00.0", &d, why, sizeof(why)), -ENODEV);
	assert_has(why, "VFIO_DEVICE_ATTACH_IOMMUFD_PT");
	close_all();
	assert_all_released();
}

/* Pinning fails half-way (the memlock limit): what this call mapped is unmapped again. */
Test(iommufd, map_fails_midway)
{
	struct guest_mem mem = { .nr = 1, .fd = -1 };

	mem.region[0] = (struct guest_region){ .gpa = 0, .size = 3 * GiB,
					       .hva = (uint8_t *)0x7f0000000000 };
	open_all();
	fk.map_fail_at = 3;
	fk.map_err = -ENOMEM;
	cr_assert_eq(vfio_map_guest_ram(&c, &mem, why, sizeof(why)), -ENOMEM);
	assert_has(why, "after 2 GiB");
	cr_assert_eq(fk.n_live, 0);
	cr_assert_eq(fk.unmaps, 2);
	cr_assert_eq(c.n_dma, 0);
	close_all();
	assert_all_released();
}
