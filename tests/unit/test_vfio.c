// SPDX-License-Identifier: MIT
/*
 * Opening a VFIO device: the viability and memlock checks on fake hosts,
 * and the container/group/device code on a fake kernel that counts what is
 * taken and released, so that every error path can be driven without VFIO.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "test_host_tree.h"
#include "vfio/vfio.h"
#include "core/log.h"
#include "core/memory.h"

#define GiB (1ull << 30)
#define MiB (1ull << 20)

#define assert_has(s, sub) cr_assert(strstr((s), (sub)), "\"%s\" lacks \"%s\"", (s), (sub))
#define assert_lacks(s, sub) cr_assert(!strstr((s), (sub)), "\"%s\" has \"%s\"", (s), (sub))
#define assert_one_line(s) cr_assert(!strchr((s), '\n'), "not one line: \"%s\"", (s))

/* ---- The fake kernel. ---- */

enum { CONTAINER_FD = 100, GROUP_FD = 200, DEVICE_FD = 300, MAX_FD = 400, MAX_LIVE = 64 };

static struct fake {
	int api;
	bool type1, type1v2;
	int container_err, group_err;    /* what open() of the nodes returns, 0: succeed */
	uint32_t group_flags;            /* VFIO_GROUP_FLAGS_VIABLE or not */
	int set_iommu_err;
	const char *dev;                 /* the device bound to vfio-pci in every group */
	bool bad_chain;                  /* a capability chain that loops */
	bool bad_area;                   /* a sparse area past the region's end */
	int map_fail_at, map_err;        /* the Nth MAP_DMA fails with map_err */
	uint64_t clock, tick;            /* now_ns returns clock, then adds tick */
	char last_path[512];
	bool open[MAX_FD];
	int opens, closes, maps, unmaps, set_iommu, iommu_type;
	int groups_set, dropped;         /* dropped: mappings the kernel lost with the last group */
	struct { uint64_t iova, size, vaddr; } live[MAX_LIVE];
	int n_live;
} fk;

static int take_fd(int fd)
{
	cr_assert(fd < MAX_FD && !fk.open[fd], "fd %d opened twice", fd);
	fk.open[fd] = true;
	fk.opens++;
	return fd;
}

static int fake_open(const char *path, int flags)
{
	int group;

	snprintf(fk.last_path, sizeof(fk.last_path), "%s", path);
	const char *node = strstr(path, "/dev/vfio/");

	cr_assert_not_null(node, "open of %s", path);
	node += strlen("/dev/vfio/");
	if (!strcmp(node, "vfio"))
		return fk.container_err ? fk.container_err : take_fd(CONTAINER_FD);
	cr_assert_eq(sscanf(node, "%d", &group), 1);
	return fk.group_err ? fk.group_err : take_fd(GROUP_FD + group);
}

static int fake_close(int fd)
{
	cr_assert(fd >= 0 && fd < MAX_FD && fk.open[fd], "close of fd %d, which is not open", fd);
	fk.open[fd] = false;
	fk.closes++;
	/* As the kernel: the last group out takes the IOMMU and its mappings. */
	if (fd >= GROUP_FD && fd < DEVICE_FD && fk.groups_set && --fk.groups_set == 0) {
		fk.iommu_type = 0;
		fk.dropped += fk.n_live;
		fk.n_live = 0;
	}
	return 0;
}

static uint64_t fake_now(void)
{
	uint64_t now = fk.clock;

	fk.clock += fk.tick;
	return now;
}

/* BAR0 as a NIC has it: 16 MiB, with the MSI-X table's page cut out of the mmap. */
static void bar0_caps(struct vfio_region_info *info)
{
	struct vfio_region_info_cap_type type = {
		.header = { .id = VFIO_REGION_INFO_CAP_TYPE, .version = 1 },
	};
	struct vfio_region_info_cap_sparse_mmap sparse = {
		.header = { .id = VFIO_REGION_INFO_CAP_SPARSE_MMAP, .version = 1 }, .nr_areas = 2,
	};
	struct vfio_region_sparse_mmap_area areas[2] = {
		{ .offset = 0, .size = 0x2000 }, { .offset = 0x3000, .size = 0xffd000 },
	};
	uint32_t at_type = sizeof(*info), at_sparse = at_type + sizeof(type);
	uint32_t need = at_sparse + sizeof(sparse) + sizeof(areas);

	if (fk.bad_area)
		areas[1].size = 0x1000000;

	info->flags |= VFIO_REGION_INFO_FLAG_CAPS;
	if (info->argsz < need) {
		info->argsz = need;
		info->cap_offset = 0;
		return;
	}
	type.header.next = fk.bad_chain ? at_type : at_sparse;
	memcpy((char *)info + at_type, &type, sizeof(type));
	memcpy((char *)info + at_sparse, &sparse, sizeof(sparse));
	memcpy((char *)info + at_sparse + sizeof(sparse), areas, sizeof(areas));
	info->cap_offset = at_type;
}

static int region_info(struct vfio_region_info *info)
{
	static const uint64_t size[VFIO_PCI_NUM_REGIONS] = {
		16 * MiB, 256 * MiB, 0, 32 * MiB, 0, 128, 512 * 1024, 4096, 0,
	};
	const uint32_t rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;

	cr_assert(info->argsz >= sizeof(*info));
	if (info->index >= VFIO_PCI_NUM_REGIONS)
		return -EINVAL;
	info->size = size[info->index];
	info->offset = (uint64_t)info->index << 40;
	info->flags = !info->size ? 0 : info->index == VFIO_PCI_ROM_REGION_INDEX ?
		      VFIO_REGION_INFO_FLAG_READ : rw;
	if (info->index == 1 || info->index == 3)
		info->flags |= VFIO_REGION_INFO_FLAG_MMAP;
	if (info->index == 0) {
		info->flags |= VFIO_REGION_INFO_FLAG_MMAP;
		bar0_caps(info);
	}
	return 0;
}

static int irq_info(struct vfio_irq_info *irq)
{
	static const uint32_t count[VFIO_PCI_NUM_IRQS] = { 1, 1, 16, 1, 1 };

	if (irq->index >= VFIO_PCI_NUM_IRQS)
		return -EINVAL;
	irq->count = count[irq->index];
	irq->flags = VFIO_IRQ_INFO_EVENTFD | (irq->index == 0 ? VFIO_IRQ_INFO_MASKABLE : 0);
	return 0;
}

static int map_dma(struct vfio_iommu_type1_dma_map *m)
{
	fk.maps++;
	if (!fk.iommu_type)
		return -EINVAL;
	if (fk.map_fail_at == fk.maps)
		return fk.map_err;
	cr_assert(fk.n_live < MAX_LIVE);
	cr_assert_eq(m->flags, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
	fk.live[fk.n_live].iova = m->iova;
	fk.live[fk.n_live].size = m->size;
	fk.live[fk.n_live++].vaddr = m->vaddr;
	return 0;
}

static int unmap_dma(struct vfio_iommu_type1_dma_unmap *u)
{
	fk.unmaps++;
	for (int i = 0; i < fk.n_live; i++) {
		if (fk.live[i].iova == u->iova && fk.live[i].size == u->size) {
			fk.live[i] = fk.live[--fk.n_live];
			return 0;
		}
	}
	u->size = 0;
	return 0;
}

static int device_fd(const char *name)
{
	if (!fk.dev || strcmp(name, fk.dev))
		return -ENODEV;
	return take_fd(DEVICE_FD);
}

static int group_ioctl(unsigned long req, void *arg)
{
	switch (req) {
	case VFIO_GROUP_GET_STATUS:
		((struct vfio_group_status *)arg)->flags = fk.group_flags;
		return 0;
	case VFIO_GROUP_SET_CONTAINER:
		cr_assert_eq(*(int *)arg, CONTAINER_FD);
		fk.groups_set++;
		return 0;
	case VFIO_GROUP_GET_DEVICE_FD:
		return device_fd(arg);
	}
	return -ENOTTY;
}

static int container_ioctl(unsigned long req, void *arg)
{
	switch (req) {
	case VFIO_GET_API_VERSION:
		return fk.api;
	case VFIO_CHECK_EXTENSION:
		return (uintptr_t)arg == VFIO_TYPE1v2_IOMMU ? fk.type1v2 :
		       (uintptr_t)arg == VFIO_TYPE1_IOMMU ? fk.type1 : 0;
	case VFIO_SET_IOMMU:
		fk.set_iommu++;
		if (fk.set_iommu_err)
			return fk.set_iommu_err;
		if (!fk.groups_set || fk.iommu_type)
			return -EINVAL;
		fk.iommu_type = (int)(uintptr_t)arg;
		return 0;
	case VFIO_IOMMU_MAP_DMA:
		return map_dma(arg);
	case VFIO_IOMMU_UNMAP_DMA:
		return unmap_dma(arg);
	}
	return -ENOTTY;
}

static int device_ioctl(unsigned long req, void *arg)
{
	struct vfio_device_info *info = arg;

	switch (req) {
	case VFIO_DEVICE_GET_INFO:
		info->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
		info->num_regions = VFIO_PCI_NUM_REGIONS;
		info->num_irqs = VFIO_PCI_NUM_IRQS;
		return 0;
	case VFIO_DEVICE_GET_REGION_INFO:
		return region_info(arg);
	case VFIO_DEVICE_GET_IRQ_INFO:
		return irq_info(arg);
	}
	return -ENOTTY;
}

static int fake_ioctl(int fd, unsigned long req, void *arg)
{
	cr_assert(fd >= 0 && fd < MAX_FD && fk.open[fd], "ioctl on fd %d, which is not open", fd);
	if (fd == CONTAINER_FD)
		return container_ioctl(req, arg);
	if (fd >= DEVICE_FD)
		return device_ioctl(req, arg);
	return group_ioctl(req, arg);
}

static const struct vfio_sys fake_sys = {
	.open = fake_open, .ioctl = fake_ioctl, .close = fake_close, .now_ns = fake_now,
};

static void fake_reset(void)
{
	memset(&fk, 0, sizeof(fk));
	fk.api = VFIO_API_VERSION;
	fk.type1 = fk.type1v2 = true;
	fk.group_flags = VFIO_GROUP_FLAGS_VIABLE;
	fk.dev = "0000:01:00.0";
}

static void assert_all_released(void)
{
	cr_assert_eq(fk.opens, fk.closes, "%d opens, %d closes", fk.opens, fk.closes);
	for (int fd = 0; fd < MAX_FD; fd++)
		cr_assert(!fk.open[fd], "fd %d left open", fd);
	cr_assert_eq(fk.n_live, 0, "%d mappings left", fk.n_live);
	cr_assert_eq(fk.dropped, 0, "%d mappings dropped by closing, not unmapped", fk.dropped);
}

static char why[1024];

TestSuite(vfio, .init = fake_reset);

/* ---- Viability on fake hosts. ---- */

static struct tree t;
static struct host h;

static void host_setup(void)
{
	tree_init(&t);
	tree_iommu_on(&t);
	memset(why, 0, sizeof(why));
}

static void host_teardown(void)
{
	host_free(&h);
	tree_free(&t);
}

TestSuite(viable, .init = host_setup, .fini = host_teardown);

static void dev(const char *bdf, const char *under, unsigned class, const char *driver, int group)
{
	tree_dev(&t, &(struct fake_dev){ .bdf = bdf, .under = under, .vendor = 0x10de,
		 .device = 0x1234, .class = class, .driver = driver, .group = group });
}

static void load(void)
{
	cr_assert_eq(host_load(&h, t.root), 0);
}

/*
 * A cdev's PCI function from its char device number: sysfs's
 * /sys/dev/char/MAJ:MIN links to .../BDF/vfio-dev/vfioN.
 */
Test(viable, cdev_number_to_bdf)
{
	char bdf[HOST_BDF_LEN] = "", name[16] = "";

	dev("0000:00:01.0", NULL, 0x060400, "pcieport", 1);
	dev("0000:01:00.0", "0000:00:01.0", 0x030000, "vfio-pci", 1);
	tree_file(&t, "sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/vfio-dev/vfio3/dev",
		  "511:3\n");
	tree_symlink(&t, "sys/dev/char/511:3",
		     "sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/vfio-dev/vfio3");
	/* Not VFIO: /dev/null; a vfio-dev under something that is not a PCI function. */
	tree_file(&t, "sys/devices/virtual/mem/null/dev", "1:3\n");
	tree_symlink(&t, "sys/dev/char/1:3", "sys/devices/virtual/mem/null");
	tree_file(&t, "sys/devices/platform/fsl-mc/vfio-dev/vfio0/dev", "511:0\n");
	tree_symlink(&t, "sys/dev/char/511:0", "sys/devices/platform/fsl-mc/vfio-dev/vfio0");

	cr_assert_eq(vfio_cdev_bdf(t.root, 511, 3, bdf, sizeof(bdf), name, sizeof(name)), 0);
	cr_assert_str_eq(bdf, "0000:01:00.0");
	cr_assert_str_eq(name, "vfio3");
	cr_assert_eq(vfio_cdev_bdf(t.root, 1, 3, bdf, sizeof(bdf), NULL, 0), -ENODEV);
	cr_assert_eq(vfio_cdev_bdf(t.root, 511, 0, bdf, sizeof(bdf), NULL, 0), -ENODEV);
	cr_assert_eq(vfio_cdev_bdf(t.root, 511, 4, bdf, sizeof(bdf), NULL, 0), -ENOENT);
	/* What it found before stays: a refusal writes nothing. */
	cr_assert_str_eq(bdf, "0000:01:00.0");
	/* Too small a buffer is a refusal, not half a name. */
	cr_assert_eq(vfio_cdev_bdf(t.root, 511, 3, bdf, 5, NULL, 0), -ENODEV);
}

/* A GPU on vfio-pci, its audio function unbound, the root port above on pcieport. */
Test(viable, vfio_unbound_and_bridge)
{
	dev("0000:00:01.0", NULL, 0x060400, "pcieport", 1);
	dev("0000:01:00.0", "0000:00:01.0", 0x030000, "vfio-pci", 1);
	dev("0000:01:00.1", "0000:00:01.0", 0x040300, NULL, 1);
	dev("0000:02:00.0", NULL, 0x020000, "e1000e", 2);
	load();
	cr_assert_eq(vfio_check_viable(&h, "0000:01:00.0", why, sizeof(why)), 0, "%s", why);
	cr_assert_str_empty(why);
	cr_assert_eq(vfio_check_viable(&h, "01:00.0", why, sizeof(why)), 0, "%s", why);
}

Test(viable, sibling_on_host_driver)
{
	dev("0000:00:01.0", NULL, 0x060400, "pcieport", 1);
	dev("0000:01:00.0", "0000:00:01.0", 0x030000, "vfio-pci", 1);
	dev("0000:01:00.1", "0000:00:01.0", 0x040300, "snd_hda_intel", 1);
	load();
	cr_assert_eq(vfio_check_viable(&h, "0000:01:00.0", why, sizeof(why)), -EBUSY);
	assert_one_line(why);
	assert_has(why, "0000:01:00.0: IOMMU group 1 is not viable: 0000:01:00.1 (audio device) "
		   "is bound to snd_hda_intel");
	assert_has(why, "; bind it to vfio-pci: vmm host bind 0000:01:00.1");
	assert_lacks(why, "0000:00:01.0");
}

/* The device itself on its host driver, and an unrelated sibling too: both named, both to bind. */
Test(viable, device_and_sibling_on_host_drivers)
{
	dev("0000:01:00.0", NULL, 0x030000, "nvidia", 4);
	dev("0000:03:00.0", NULL, 0x0c0330, "xhci_hcd", 4);
	dev("0000:05:00.0", NULL, 0x020000, "e1000e", 5);
	load();
	cr_assert_eq(vfio_check_viable(&h, "0000:01:00.0", why, sizeof(why)), -EBUSY);
	assert_one_line(why);
	assert_has(why, "group 4 is not viable: 0000:01:00.0 (VGA controller) is bound to nvidia; 0000:03:00.0 (USB "
		   "controller) is bound to xhci_hcd; bind them to vfio-pci: vmm host bind "
		   "0000:01:00.0 0000:03:00.0");
	assert_lacks(why, "e1000e");
}

Test(viable, device_without_driver)
{
	dev("0000:01:00.0", NULL, 0x030000, NULL, 4);
	load();
	cr_assert_eq(vfio_check_viable(&h, "0000:01:00.0", why, sizeof(why)), -EBUSY);
	assert_has(why, "has no driver and must be on vfio-pci");
	assert_has(why, "vmm host bind 0000:01:00.0");
}

/* The root disk's controller in the group: binding it is not the fix, and not offered. */
Test(viable, group_holds_root_disk)
{
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:00:17.0", .vendor = 0x8086, .device = 0xa352,
		 .class = 0x010601, .driver = "ahci", .group = 7 });
	dev("0000:03:00.0", NULL, 0x030000, "vfio-pci", 7);
	tree_root_on_sata(&t, "0000:00:17.0");
	load();
	cr_assert_eq(vfio_check_viable(&h, "0000:03:00.0", why, sizeof(why)), -EBUSY);
	assert_has(why, "0000:00:17.0 (SATA controller) is bound to ahci and holds the root "
		   "filesystem: the host needs it, so group 7 cannot be passed through");
	assert_lacks(why, "vmm host bind");
}

Test(viable, bridge_on_other_driver)
{
	dev("0000:00:01.0", NULL, 0x060400, "shpchp", 1);
	dev("0000:01:00.0", "0000:00:01.0", 0x030000, "vfio-pci", 1);
	load();
	cr_assert_eq(vfio_check_viable(&h, "0000:01:00.0", why, sizeof(why)), -EBUSY);
	assert_has(why, "0000:00:01.0 (PCI bridge) is bound to shpchp, and VFIO accepts a bridge "
		   "only on pcieport");
	assert_lacks(why, "vmm host bind");
}

Test(viable, device_missing)
{
	dev("0000:02:00.0", NULL, 0x020000, "vfio-pci", 2);
	load();
	cr_assert_eq(vfio_check_viable(&h, "0000:01:00.0", why, sizeof(why)), -ENODEV);
	cr_assert_str_eq(why, "0000:01:00.0: no such PCI device (lspci -D lists them)");
	cr_assert_eq(vfio_check_viable(&h, "01:00", why, sizeof(why)), -EINVAL);
}

Test(viable, no_iommu_group)
{
	dev("0000:01:00.0", NULL, 0x030000, "vfio-pci", -1);
	load();
	cr_assert_eq(vfio_check_viable(&h, "0000:01:00.0", why, sizeof(why)), -ENOENT);
	assert_has(why, "0000:01:00.0: no IOMMU group: the IOMMU is off");
	assert_has(why, "vmm host check");
	assert_one_line(why);
}

/* A message cut short by a small buffer stays a terminated string. */
Test(viable, small_buffer)
{
	char small[16];

	dev("0000:01:00.0", NULL, 0x030000, "nvidia", 4);
	load();
	cr_assert_eq(vfio_check_viable(&h, "0000:01:00.0", small, sizeof(small)), -EBUSY);
	cr_assert_eq(strlen(small), sizeof(small) - 1);
}

/* ---- Locked memory. ---- */

Test(vfio, memlock_too_low)
{
	cr_assert_eq(vfio_memlock_verdict(4 * GiB, 8 * MiB, false, why, sizeof(why)), -ENOMEM);
	assert_one_line(why);
	assert_has(why, "guest RAM (4 GiB) is pinned");
	assert_has(why, "at least 4.1 GiB, but it is 8 MiB");
	assert_has(why, "`ulimit -l 4259840`");
	assert_has(why, "LimitMEMLOCK=infinity");
	assert_has(why, "/etc/security/limits.conf");
	/* Exactly guest RAM leaves nothing for anything else that locks pages. */
	cr_assert_eq(vfio_memlock_verdict(4 * GiB, 4 * GiB, false, why, sizeof(why)), -ENOMEM);
}

Test(vfio, memlock_infinity)
{
	cr_assert_eq(vfio_memlock_verdict(64 * GiB, RLIM_INFINITY, false, why, sizeof(why)), 0);
	cr_assert_str_empty(why);
}

Test(vfio, memlock_cap_ipc_lock)
{
	cr_assert_eq(vfio_memlock_verdict(64 * GiB, 64 * 1024, true, why, sizeof(why)), 0);
}

Test(vfio, memlock_enough)
{
	uint64_t need = vfio_memlock_needed(4 * GiB);

	cr_assert_gt(need, 4 * GiB);
	cr_assert_eq(vfio_memlock_verdict(4 * GiB, need, false, why, sizeof(why)), 0);
	cr_assert_eq(vfio_memlock_verdict(4 * GiB, need - 1, false, why, sizeof(why)), -ENOMEM);
}

/* Drops CAP_IPC_LOCK from this test's effective set (each test runs in its own process). */
static void drop_cap_ipc_lock(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	cr_assert_eq(syscall(SYS_capget, &hdr, data), 0);
	data[0].effective &= ~(1u << CAP_IPC_LOCK);
	cr_assert_eq(syscall(SYS_capset, &hdr, data), 0);
}

/* This process's own limit and capability, as the kernel will see them. */
Test(vfio, memlock_check_real)
{
	struct rlimit rl;

	cr_assert_eq(vfio_memlock_check(0, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(getrlimit(RLIMIT_MEMLOCK, &rl), 0);
	rl.rlim_cur = 1 * MiB;
	cr_assert_eq(setrlimit(RLIMIT_MEMLOCK, &rl), 0);
	drop_cap_ipc_lock();
	cr_assert_eq(vfio_memlock_check(4 * GiB, why, sizeof(why)), -ENOMEM);
	assert_has(why, "but it is 1 MiB");
	cr_assert_eq(vfio_memlock_check(0, why, sizeof(why)), -ENOMEM, "the slack is missing");
}

/* ---- Container and groups on the fake kernel. ---- */

static struct vfio_container c;
static struct vfio_group g, g2;
static struct vfio_device d;

static void open_container(void)
{
	cr_assert_eq(vfio_container_open_sys(&c, &fake_sys, "/tmp/root", why, sizeof(why)), 0,
		     "%s", why);
	cr_assert_str_eq(fk.last_path, "/tmp/root/dev/vfio/vfio");
}

static void open_group(struct vfio_group *grp, int n)
{
	cr_assert_eq(vfio_group_open(&c, grp, n, why, sizeof(why)), 0, "%s", why);
}

static void close_all(void)
{
	vfio_device_close(&d);
	vfio_group_close(&g2);
	vfio_group_close(&g);
	vfio_container_close(&c);
}

Test(vfio, container_missing_real)
{
	char root[] = "/tmp/vmm-vfio-test.XXXXXX";

	cr_assert_not_null(mkdtemp(root));
	cr_assert_eq(vfio_container_open(&c, root, why, sizeof(why)), -ENOENT);
	assert_has(why, "/dev/vfio/vfio: missing");
	assert_has(why, "modprobe vfio-pci");
	rmdir(root);
}

/* A plain file where the node should be: the real ioctl answers ENOTTY. */
Test(vfio, container_not_vfio_real)
{
	struct tree tr;

	tree_init(&tr);
	tree_iommu_on(&tr);
	cr_assert_eq(vfio_container_open(&c, tr.root, why, sizeof(why)), -ENOTTY);
	assert_has(why, "/dev/vfio/vfio: not a VFIO device");
	tree_free(&tr);
}

Test(vfio, container_permission_denied)
{
	fk.container_err = -EACCES;
	cr_assert_eq(vfio_container_open_sys(&c, &fake_sys, "/", why, sizeof(why)), -EACCES);
	cr_assert_str_eq(fk.last_path, "/dev/vfio/vfio");
	assert_has(why, "/dev/vfio/vfio: permission denied");
}

Test(vfio, container_wrong_api)
{
	fk.api = VFIO_API_VERSION + 1;
	cr_assert_eq(vfio_container_open_sys(&c, &fake_sys, "", why, sizeof(why)), -EPROTO);
	assert_has(why, "VFIO API version 1, this vmm speaks version 0");
	cr_assert_eq(fk.opens, 1);
	assert_all_released();
	vfio_container_close(&c);
	assert_all_released();
}

Test(vfio, container_no_type1)
{
	fk.type1 = fk.type1v2 = false;
	cr_assert_eq(vfio_container_open_sys(&c, &fake_sys, "", why, sizeof(why)), -ENOTSUP);
	assert_has(why, "modprobe vfio_iommu_type1");
	assert_all_released();
}

Test(vfio, group_busy)
{
	open_container();
	fk.group_err = -EBUSY;
	cr_assert_eq(vfio_group_open(&c, &g, 7, why, sizeof(why)), -EBUSY);
	assert_has(why, "group 7 is in use by another process (another VM?)");
	cr_assert_eq(fk.set_iommu, 0);
	close_all();
	assert_all_released();
}

Test(vfio, group_missing_node)
{
	open_container();
	fk.group_err = -ENOENT;
	cr_assert_eq(vfio_group_open(&c, &g, 7, why, sizeof(why)), -ENOENT);
	assert_has(why, "/tmp/root/dev/vfio/7: missing: no device of IOMMU group 7 is bound to vfio-pci");
	close_all();
	assert_all_released();
}

Test(vfio, group_not_viable)
{
	open_container();
	fk.group_flags = 0;
	cr_assert_eq(vfio_group_open(&c, &g, 7, why, sizeof(why)), -EBUSY);
	assert_has(why, "IOMMU group 7 is not viable");
	assert_has(why, "vmm host bind");
	cr_assert_eq(fk.groups_set, 0);
	cr_assert_not(fk.open[GROUP_FD + 7], "the group's fd was kept");
	close_all();
	assert_all_released();
}

Test(vfio, set_iommu_fails)
{
	open_container();
	fk.set_iommu_err = -EPERM;
	cr_assert_eq(vfio_group_open(&c, &g, 7, why, sizeof(why)), -EPERM);
	assert_has(why, "VFIO_SET_IOMMU (type1v2)");
	cr_assert_eq(c.iommu_type, 0);
	cr_assert_eq(c.groups, 0);
	close_all();
	assert_all_released();
}

/* The IOMMU type is set once, by the first group; v1 when v2 is not offered. */
Test(vfio, iommu_set_once)
{
	fk.type1v2 = false;
	open_container();
	open_group(&g, 7);
	open_group(&g2, 8);
	cr_assert_eq(fk.set_iommu, 1);
	cr_assert_eq(fk.iommu_type, VFIO_TYPE1_IOMMU);
	cr_assert_eq(c.iommu_type, VFIO_TYPE1_IOMMU);
	cr_assert_eq(c.groups, 2);
	close_all();
	assert_all_released();
}

/* ---- The device. ---- */

Test(vfio, device_infos)
{
	open_container();
	open_group(&g, 7);
	cr_assert_eq(vfio_device_open(&g, "0000:01:00.0", &d, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(fk.iommu_type, VFIO_TYPE1v2_IOMMU);
	cr_assert_eq(d.fd, DEVICE_FD);
	cr_assert_str_eq(vfio_iommu_name(&c), "type1");
	/* KVM and a hot reset are shown the group's node, which the device came from. */
	cr_assert_eq(vfio_device_owner_fd(&d), GROUP_FD + 7);

	const struct vfio_region *bar0 = &d.region[VFIO_PCI_BAR0_REGION_INDEX];

	cr_assert_eq(bar0->size, 16 * MiB);
	cr_assert(bar0->flags & VFIO_REGION_INFO_FLAG_MMAP);
	cr_assert(bar0->sparse);
	cr_assert_eq(bar0->nr_areas, 2);
	cr_assert_eq(bar0->areas[0].offset, 0);
	cr_assert_eq(bar0->areas[0].size, 0x2000);
	cr_assert_eq(bar0->areas[1].offset, 0x3000);
	cr_assert_eq(bar0->areas[1].size, 0xffd000);
	cr_assert_eq(d.region[1].size, 256 * MiB);
	cr_assert_not(d.region[1].sparse);
	cr_assert_eq(d.region[1].offset, 1ull << 40);
	cr_assert_eq(d.region[2].size, 0);
	cr_assert_eq(d.region[5].size, 128);
	cr_assert_eq(d.region[VFIO_PCI_ROM_REGION_INDEX].size, 512 * 1024);
	cr_assert_eq(d.region[VFIO_PCI_ROM_REGION_INDEX].flags, VFIO_REGION_INFO_FLAG_READ);
	cr_assert_eq(d.region[VFIO_PCI_CONFIG_REGION_INDEX].size, 4096);
	cr_assert_eq(d.region[VFIO_PCI_CONFIG_REGION_INDEX].offset, 7ull << 40);
	cr_assert_eq(d.irq[VFIO_PCI_INTX_IRQ_INDEX].count, 1);
	cr_assert(d.irq[VFIO_PCI_INTX_IRQ_INDEX].flags & VFIO_IRQ_INFO_MASKABLE);
	cr_assert_eq(d.irq[VFIO_PCI_MSIX_IRQ_INDEX].count, 16);
	cr_assert_eq(d.irq[VFIO_PCI_REQ_IRQ_INDEX].count, 1);
	close_all();
	assert_all_released();
}

Test(vfio, device_not_in_group)
{
	open_container();
	open_group(&g, 7);
	cr_assert_eq(vfio_device_open(&g, "0000:02:00.0", &d, why, sizeof(why)), -ENODEV);
	assert_has(why, "0000:02:00.0: not a vfio-pci device of IOMMU group 7");
	cr_assert_eq(vfio_device_open(&g, "1:0.0", &d, why, sizeof(why)), -EINVAL);
	/* The short form reaches the kernel as its full name. */
	cr_assert_eq(vfio_device_open(&g, "01:00.0", &d, why, sizeof(why)), 0, "%s", why);
	cr_assert_str_eq(d.bdf, "0000:01:00.0");
	close_all();
	assert_all_released();
}

/* A cdev fd a client passed cannot be used under type1: refused by name, and closed. */
Test(vfio, device_cdev_fd_refused_under_type1)
{
	int given = take_fd(DEVICE_FD + 9); /* as the client's fd, received */

	open_container();
	open_group(&g, 7);
	cr_assert_eq(vfio_device_open_fd(&g, "0000:01:00.0", given, &d, why, sizeof(why)),
		     -EOPNOTSUPP);
	assert_has(why, "0000:01:00.0: a device cdev fd needs --vfio-iommu iommufd (this vmm "
		   "holds its devices through the type1 container)");
	cr_assert_not(fk.open[given], "the fd given was not closed");
	cr_assert_not(fk.open[DEVICE_FD], "nothing asked of the group");
	close_all();
	assert_all_released();
}

Test(vfio, device_bad_cap_chain, .timeout = 10)
{
	fk.bad_chain = true;
	open_container();
	open_group(&g, 7);
	cr_assert_eq(vfio_device_open(&g, "0000:01:00.0", &d, why, sizeof(why)), -EPROTO);
	assert_has(why, "0000:01:00.0: region 0: the kernel's answer to VFIO_DEVICE_GET_REGION_INFO is malformed");
	cr_assert_not(fk.open[DEVICE_FD], "the device's fd was kept");
	close_all();
	assert_all_released();
}

Test(vfio, device_sparse_area_outside)
{
	fk.bad_area = true;
	open_container();
	open_group(&g, 7);
	cr_assert_eq(vfio_device_open(&g, "0000:01:00.0", &d, why, sizeof(why)), -EPROTO);
	close_all();
	assert_all_released();
}

/* Closing twice, or closing what was never opened, releases nothing more. */
Test(vfio, close_idempotent)
{
	static struct vfio_container never_c;
	static struct vfio_group never_g;
	static struct vfio_device never_d;

	vfio_device_close(&never_d);
	vfio_group_close(&never_g);
	vfio_container_close(&never_c);
	open_container();
	open_group(&g, 7);
	cr_assert_eq(vfio_device_open(&g, "0000:01:00.0", &d, why, sizeof(why)), 0, "%s", why);
	close_all();
	int closes = fk.closes;

	close_all();
	cr_assert_eq(fk.closes, closes);
	cr_assert_eq(fk.opens, 3);
	assert_all_released();
}

/* Closing the container first, against the order, still unmaps and leaks nothing. */
Test(vfio, container_closed_first)
{
	log_threshold = LOG_ERR; /* the warning about the order is expected */
	open_container();
	open_group(&g, 7);
	cr_assert_eq(vfio_dma_map(&c, 0x10000, (void *)0x1000, 0x4000), 0);
	vfio_container_close(&c);
	cr_assert_eq(fk.unmaps, 1);
	cr_assert_eq(fk.n_live, 0);
	close_all();
	assert_all_released();
}

/* ---- DMA mappings. ---- */

static struct guest_mem two_regions(uint64_t low, uint64_t high)
{
	struct guest_mem mem = { .nr = 2, .fd = -1 };

	/* Never touched: the fake kernel only records addresses. */
	mem.region[0] = (struct guest_region){ .gpa = 0, .size = low, .hva = (uint8_t *)0x7f0000000000 };
	mem.region[1] = (struct guest_region){ .gpa = 4 * GiB, .size = high,
					       .hva = (uint8_t *)0x7f0000000000 + low };
	mem.total = low + high;
	return mem;
}

static bool live(uint64_t iova, uint64_t size, uint64_t vaddr)
{
	for (int i = 0; i < fk.n_live; i++) {
		if (fk.live[i].iova == iova && fk.live[i].size == size && fk.live[i].vaddr == vaddr)
			return true;
	}
	return false;
}

Test(vfio, map_guest_ram_and_unmap_all)
{
	struct guest_mem mem = two_regions(3 * GiB, 2 * GiB + 512 * MiB);
	char *out = NULL;
	size_t len;

	open_container();
	open_group(&g, 7);
	c.progress = open_memstream(&out, &len);
	cr_assert_eq(vfio_map_guest_ram(&c, &mem, why, sizeof(why)), 0, "%s", why);
	fclose(c.progress);
	cr_assert_str_empty(out, "a fast mapping printed: %s", out);
	free(out);
	cr_assert_eq(fk.maps, 6);
	cr_assert_eq(fk.n_live, 6);
	cr_assert_eq(c.n_dma, 6);
	cr_assert(live(0, GiB, 0x7f0000000000));
	cr_assert(live(2 * GiB, GiB, 0x7f0000000000 + 2 * GiB));
	cr_assert(live(6 * GiB, 512 * MiB, 0x7f0000000000 + 5 * GiB));
	vfio_unmap_all(&c);
	cr_assert_eq(fk.unmaps, 6);
	cr_assert_eq(fk.n_live, 0);
	cr_assert_eq(c.n_dma, 0);
	close_all();
	assert_all_released();
}

/* A failure half-way leaves exactly what was mapped before the call. */
Test(vfio, map_guest_ram_fails_midway)
{
	struct guest_mem mem = two_regions(3 * GiB, 2 * GiB);

	open_container();
	open_group(&g, 7);
	cr_assert_eq(vfio_dma_map(&c, 0x100000000000, (void *)0x1000, 0x1000), 0);
	fk.map_fail_at = 5;
	fk.map_err = -ENOMEM;
	cr_assert_eq(vfio_map_guest_ram(&c, &mem, why, sizeof(why)), -ENOMEM);
	assert_has(why, "pinning guest RAM at 0x100000000 for DMA failed after 3 GiB");
	assert_has(why, "locked-memory limit");
	cr_assert_eq(fk.unmaps, 3);
	cr_assert_eq(fk.n_live, 1);
	cr_assert(live(0x100000000000, 0x1000, 0x1000));
	cr_assert_eq(c.n_dma, 1);
	close_all();
	assert_all_released();
}

Test(vfio, map_needs_a_group)
{
	struct guest_mem mem = two_regions(GiB, GiB);

	open_container();
	cr_assert_eq(vfio_map_guest_ram(&c, &mem, why, sizeof(why)), -EINVAL);
	cr_assert_eq(vfio_dma_map(&c, 0, (void *)0x1000, 0x1000), -EINVAL);
	cr_assert_eq(fk.maps, 0);
	close_all();
	assert_all_released();
}

Test(vfio, dma_unmap_exact)
{
	open_container();
	open_group(&g, 7);
	cr_assert_eq(vfio_dma_map(&c, 0x10000, (void *)0x1000, 0x4000), 0);
	cr_assert_eq(vfio_dma_map(&c, 0x20000, (void *)0x9000, 0x2000), 0);
	cr_assert_eq(vfio_dma_unmap(&c, 0x10000, 0x2000), -ENOENT);
	cr_assert_eq(vfio_dma_unmap(&c, 0x30000, 0x2000), -ENOENT);
	cr_assert_eq(fk.unmaps, 0);
	cr_assert_eq(vfio_dma_unmap(&c, 0x10000, 0x4000), 0);
	cr_assert_eq(fk.n_live, 1);
	cr_assert(live(0x20000, 0x2000, 0x9000));
	cr_assert_eq(c.n_dma, 1);
	cr_assert_eq(vfio_dma_unmap(&c, 0x10000, 0x4000), -ENOENT);
	close_all();
	cr_assert_eq(fk.unmaps, 2);
	assert_all_released();
}

/* Closing the last group unmaps first: the kernel would drop the mappings silently. */
Test(vfio, last_group_close_unmaps)
{
	open_container();
	open_group(&g, 7);
	open_group(&g2, 8);
	cr_assert_eq(vfio_dma_map(&c, 0x10000, (void *)0x1000, 0x4000), 0);
	vfio_group_close(&g2);
	cr_assert_eq(fk.n_live, 1, "a group that is not the last one unmapped");
	vfio_group_close(&g);
	cr_assert_eq(fk.unmaps, 1);
	cr_assert_eq(c.iommu_type, 0);
	/* A new group sets the type again and can map again. */
	open_group(&g, 9);
	cr_assert_eq(fk.set_iommu, 2);
	cr_assert_eq(vfio_dma_map(&c, 0x10000, (void *)0x1000, 0x4000), 0);
	close_all();
	assert_all_released();
}

/* Pinning that takes seconds says how far it is and, at the end, how long it took. */
Test(vfio, map_progress_line)
{
	struct guest_mem mem = two_regions(3 * GiB, 3 * GiB);
	char *out = NULL;
	size_t len;

	open_container();
	open_group(&g, 7);
	fk.tick = 600000000; /* each clock read: 0.6 s later */
	c.progress = open_memstream(&out, &len);
	cr_assert_eq(vfio_map_guest_ram(&c, &mem, why, sizeof(why)), 0, "%s", why);
	fclose(c.progress);
	assert_has(out, "vmm: vfio: pinning guest RAM for DMA: 2.0 of 6.0 GiB after 1.2 s\n");
	assert_has(out, "vmm: vfio: pinned 6.0 GiB of guest RAM for DMA in 4.2 s\n");
	free(out);
	close_all();
	assert_all_released();
}
