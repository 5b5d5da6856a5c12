// SPDX-License-Identifier: MIT
/*
 * The first layer of passthrough: checks that say beforehand why the kernel
 * would refuse a device, and the container/group/device API, by type1 or by
 * iommufd (vfio.h); what differs between those two is in the backends
 * (vfio_iommu.h). The kernel's errors here are terse (EBUSY, EPERM,
 * ENOMEM), so each failure is turned into one line that names the cause and
 * the command that fixes it.
 */
#include "vfio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "vfio/host_sysfs.h"
#include "vfio/vfio_iommu.h"
#include "core/log.h"
#include "core/memory.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* Pinning is done a chunk at a time so that a long mapping can say how far it got. */
#define VFIO_MAP_CHUNK GiB
/* Room in RLIMIT_MEMLOCK for what else locks pages (io_uring rings on older kernels). */
#define VFIO_MEMLOCK_SLACK (64 * MiB)

static int sys_open(const char *path, int flags)
{
	int fd = open(path, flags);

	return fd < 0 ? -errno : fd;
}

static int sys_ioctl(int fd, unsigned long req, void *arg)
{
	int ret = ioctl(fd, req, arg);

	return ret < 0 ? -errno : ret;
}

static int sys_close(int fd)
{
	return close(fd) ? -errno : 0;
}

static uint64_t sys_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const struct vfio_sys vfio_sys_linux = {
	.open = sys_open, .ioctl = sys_ioctl, .close = sys_close, .now_ns = sys_now_ns,
};

__attribute__((format(printf, 3, 0)))
static void vappend(char *why, size_t len, const char *fmt, va_list ap)
{
	if (!why || !len)
		return;
	size_t used = strnlen(why, len);

	if (used < len)
		vsnprintf(why + used, len - used, fmt, ap);
}

/* Adds to a one-line message that why already holds. */
__attribute__((format(printf, 3, 4)))
static void append(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vappend(why, len, fmt, ap);
	va_end(ap);
}

/* Says why in why and returns -err (vfio_iommu.h). */
int vfio_fail(char *why, size_t len, int err, const char *fmt, ...)
{
	va_list ap;

	if (why && len)
		why[0] = '\0';
	va_start(ap, fmt);
	vappend(why, len, fmt, ap);
	va_end(ap);
	return -err;
}

/* This file's short name for it. */
#define fail vfio_fail

/* ---- Viability: what the kernel checks when the group is opened, said with names. ---- */

enum member { MEMBER_OK, MEMBER_BIND, MEMBER_BRIDGE, MEMBER_HOST };

/*
 * The kernel accepts a group whose members' drivers all leave DMA to the
 * owner (vfio-pci, pci-stub, pcieport on a bridge) or that have no driver;
 * the device to open must itself be on vfio-pci.
 */
static enum member member_state(const struct host_dev *m, const struct host_dev *target)
{
	if (m == target ? host_on_vfio(m) : host_leaves_dma_to_owner(m))
		return MEMBER_OK;
	if (host_is_bridge(m))
		return !strcmp(m->driver, "pcieport") || !m->driver[0] ? MEMBER_OK : MEMBER_BRIDGE;
	return m->critical[0] ? MEMBER_HOST : MEMBER_BIND;
}

static void say_member(const struct host_dev *m, enum member s, bool first, char *why, size_t len)
{
	append(why, len, "%s%s (%s) ", first ? ": " : "; ", m->bdf, host_class_name(m->class));
	if (m->driver[0])
		append(why, len, "is bound to %s", m->driver);
	else
		append(why, len, "has no driver and must be on vfio-pci to be opened");
	if (s == MEMBER_BRIDGE)
		append(why, len, ", and VFIO accepts a bridge only on pcieport or without a driver");
	else if (s == MEMBER_HOST)
		append(why, len, " and %s: the host needs it, so group %d cannot be passed through",
		       m->critical, m->group);
}

int vfio_check_viable(const struct host *h, const char *arg, char *why, size_t len)
{
	char bdf[HOST_BDF_LEN];
	const struct host_dev *d;
	unsigned bind = 0, other = 0;

	if (host_parse_bdf(arg, bdf))
		return fail(why, len, EINVAL, "%s: not a PCI address (DDDD:BB:DD.F, as lspci -D "
			    "shows)", arg);
	d = host_find(h, bdf);
	if (!d)
		return fail(why, len, ENODEV, "%s: no such PCI device (lspci -D lists them)", bdf);
	if (host_is_bridge(d))
		return fail(why, len, EINVAL, "%s: a PCI bridge cannot be passed through", bdf);
	if (d->group < 0)
		return fail(why, len, ENOENT, "%s: no IOMMU group: the IOMMU is off, so nothing can be "
			    "passed through (vmm host check says how to turn it on)", bdf);
	fail(why, len, 0, "%s: IOMMU group %d is not viable", bdf, d->group);
	for (size_t i = 0; i < h->n; i++) {
		const struct host_dev *m = &h->devs[i];
		enum member s = m->group == d->group ? member_state(m, d) : MEMBER_OK;

		if (s == MEMBER_OK)
			continue;
		say_member(m, s, !bind && !other, why, len);
		bind += s == MEMBER_BIND;
		other += s != MEMBER_BIND;
	}
	if (!bind && !other)
		return fail(why, len, 0, "%s", "");
	if (bind) {
		append(why, len, "; bind %s to vfio-pci: vmm host bind", bind > 1 ? "them" : "it");
		for (size_t i = 0; i < h->n; i++) {
			if (h->devs[i].group == d->group && member_state(&h->devs[i], d) == MEMBER_BIND)
				append(why, len, " %s", h->devs[i].bdf);
		}
	}
	return -EBUSY;
}

/* ---- Locked memory: type1 pins every mapped page against RLIMIT_MEMLOCK. ---- */

uint64_t vfio_memlock_needed(uint64_t guest_bytes)
{
	return guest_bytes + VFIO_MEMLOCK_SLACK;
}

int vfio_memlock_verdict(uint64_t guest_bytes, uint64_t limit, bool cap_ipc_lock,
			 char *why, size_t len)
{
	uint64_t need = vfio_memlock_needed(guest_bytes);
	char ram[32], have[32], want[32];

	/* RLIM_INFINITY is the largest limit there is: it passes as any other large one. */
	if (cap_ipc_lock || limit >= need)
		return fail(why, len, 0, "%s", "");
	log_fmt_size(ram, sizeof(ram), guest_bytes);
	log_fmt_size(have, sizeof(have), limit);
	log_fmt_size(want, sizeof(want), need);
	/* ulimit -l counts KiB; rounded up to whole MiB to read well. */
	return fail(why, len, ENOMEM, "guest RAM (%s) is pinned for passthrough DMA, so the "
		    "locked-memory limit must be at least %s, but it is %s: raise it with "
		    "`ulimit -l %llu` (or `ulimit -l unlimited`) in the shell, LimitMEMLOCK=infinity "
		    "in a systemd unit, or a memlock line in /etc/security/limits.conf; "
		    "or run the vmm with CAP_IPC_LOCK", ram, want, have,
		    (unsigned long long)((need + MiB - 1) / MiB * 1024));
}

/* CAP_IPC_LOCK (bit 14) in the effective set: the kernel then skips the limit. */
static bool have_cap_ipc_lock(void)
{
	char line[256];
	unsigned long long caps = 0;
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "CapEff:", 7))
			caps = strtoull(line + 7, NULL, 16);
	}
	if (f)
		fclose(f);
	return caps & (1ull << 14);
}

int vfio_memlock_check(uint64_t guest_bytes, char *why, size_t len)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl))
		return fail(why, len, errno, "cannot read RLIMIT_MEMLOCK: %s", strerror(errno));
	return vfio_memlock_verdict(guest_bytes, rl.rlim_cur, have_cap_ipc_lock(), why, len);
}

/* ---- Container and groups. ---- */

int vfio_open_fail(char *why, size_t len, int err, const char *path)
{
	if (err == -EACCES || err == -EPERM)
		return fail(why, len, -err, "%s: permission denied: run the vmm as root, or give "
			    "its user read-write access to the node (a udev rule keeps it)", path);
	if (err == -ENXIO || err == -ENODEV)
		return fail(why, len, -err, "%s: no VFIO driver behind the node: load vfio-pci: "
			    "modprobe vfio-pci", path);
	return fail(why, len, -err, "%s: %s", path, strerror(-err));
}

int vfio_node_open(const struct vfio_sys *sys, const char *path, const char *missing,
		   char *why, size_t len)
{
	int fd = sys->open(path, O_RDWR | O_CLOEXEC);

	if (fd == -ENOENT)
		return fail(why, len, ENOENT, "%s: missing: %s", path, missing);
	return fd < 0 ? vfio_open_fail(why, len, fd, path) : fd;
}

/* Opens c on the backend iommu: everything but the node is the same for both. */
static int container_open(struct vfio_container *c, const struct vfio_sys *sys, const char *root,
			  const struct vfio_iommu_ops *iommu, char *why, size_t len)
{
	int ret;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (!strcmp(root, "/"))
		root = "";
	if (strlen(root) >= sizeof(c->root))
		return fail(why, len, ENAMETOOLONG, "%s: path too long", root);
	strcpy(c->root, root);
	c->sys = sys;
	ret = iommu->open(c, why, len);
	if (ret) {
		c->sys = NULL;
		return ret;
	}
	c->iommu = iommu;
	return 0;
}

int vfio_container_open_sys(struct vfio_container *c, const struct vfio_sys *sys,
			    const char *root, char *why, size_t len)
{
	return container_open(c, sys, root, &vfio_iommu_type1, why, len);
}

int vfio_container_open(struct vfio_container *c, const char *root, char *why, size_t len)
{
	return vfio_container_open_sys(c, &vfio_sys_linux, root, why, len);
}

int vfio_iommufd_open_sys(struct vfio_container *c, const struct vfio_sys *sys,
			  const char *root, char *why, size_t len)
{
	return container_open(c, sys, root, &vfio_iommu_iommufd, why, len);
}

int vfio_iommufd_open(struct vfio_container *c, const char *root, char *why, size_t len)
{
	return vfio_iommufd_open_sys(c, &vfio_sys_linux, root, why, len);
}

const char *vfio_iommu_name(const struct vfio_container *c)
{
	return c->iommu ? c->iommu->name : "closed";
}

int vfio_group_open(struct vfio_container *c, struct vfio_group *g, int group,
		    char *why, size_t len)
{
	int ret;

	memset(g, 0, sizeof(*g));
	g->fd = -1;
	g->group = group;
	if (!c->sys)
		return fail(why, len, EBADF, "IOMMU group %d: the container is not open", group);
	if (group < 0)
		return fail(why, len, EINVAL, "no IOMMU group: the IOMMU is off (vmm host check)");
	ret = c->iommu->group_open(c, g, why, len);
	if (ret)
		return ret;
	g->c = c;
	g->sys = c->sys;
	g->iommu = c->iommu;
	c->groups++;
	return 0;
}

/* ---- The device: its regions (with sparse mmap areas) and interrupts. ---- */

static int sparse_cap(const uint8_t *buf, size_t have, uint32_t off, struct vfio_region *r)
{
	struct vfio_region_info_cap_sparse_mmap cap;
	size_t bytes;

	if (r->sparse || off + sizeof(cap) > have)
		return r->sparse ? 0 : -EPROTO; /* a second one is ignored */
	memcpy(&cap, buf + off, sizeof(cap));
	bytes = (size_t)cap.nr_areas * sizeof(*r->areas);
	if (cap.nr_areas > 1024 || off + sizeof(cap) + bytes > have)
		return -EPROTO;
	r->areas = calloc(cap.nr_areas ? cap.nr_areas : 1, sizeof(*r->areas));
	if (!r->areas)
		return -ENOMEM;
	memcpy(r->areas, buf + off + sizeof(cap), bytes);
	r->nr_areas = cap.nr_areas;
	r->sparse = true;
	for (uint32_t i = 0; i < r->nr_areas; i++) {
		if (r->areas[i].offset > r->size || r->areas[i].size > r->size - r->areas[i].offset)
			return -EPROTO;
	}
	return 0;
}

/* Offsets in the chain count from the start of the info; a malformed chain is the kernel's bug. */
static int region_caps(const uint8_t *buf, size_t have, uint32_t off, struct vfio_region *r)
{
	for (int hops = 0; off; hops++) {
		struct vfio_info_cap_header hdr;

		if (hops > 64 || off < sizeof(struct vfio_region_info) || off + sizeof(hdr) > have)
			return -EPROTO;
		memcpy(&hdr, buf + off, sizeof(hdr));
		if (hdr.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
			int ret = sparse_cap(buf, have, off, r);

			if (ret)
				return ret;
		}
		off = hdr.next;
	}
	return 0;
}

static int region_info(struct vfio_device *d, uint32_t index, struct vfio_region *r)
{
	const struct vfio_sys *sys = d->sys;
	size_t have = sizeof(struct vfio_region_info);
	struct vfio_region_info *info = NULL;
	int ret;

	/* A first call with no room for capabilities tells how much they need. */
	for (int pass = 0; pass < 2; pass++) {
		void *bigger = realloc(info, have);

		if (!bigger) {
			ret = -ENOMEM;
			goto out;
		}
		info = memset(bigger, 0, have);
		info->argsz = (uint32_t)have;
		info->index = index;
		ret = sys->ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, info);
		if (ret < 0 || info->argsz <= have)
			break;
		if (pass || info->argsz > 65536) {
			ret = -EPROTO;
			goto out;
		}
		have = info->argsz;
	}
	if (ret < 0)
		goto out;
	r->flags = info->flags;
	r->size = info->size;
	r->offset = info->offset;
	ret = 0;
	if ((info->flags & VFIO_REGION_INFO_FLAG_CAPS) && info->cap_offset)
		ret = region_caps((const uint8_t *)info, have, info->cap_offset, r);
out:
	free(info);
	return ret;
}

static int device_infos(struct vfio_device *d, char *why, size_t len)
{
	const struct vfio_sys *sys = d->sys;
	int ret;

	d->info.argsz = sizeof(d->info);
	ret = sys->ioctl(d->fd, VFIO_DEVICE_GET_INFO, &d->info);
	if (ret < 0)
		return fail(why, len, -ret, "%s: VFIO_DEVICE_GET_INFO: %s", d->bdf, strerror(-ret));
	if (!(d->info.flags & VFIO_DEVICE_FLAGS_PCI))
		return fail(why, len, ENODEV, "%s: VFIO says it is not a PCI device", d->bdf);
	for (uint32_t i = 0; i < d->info.num_regions && i < VFIO_DEV_REGIONS; i++) {
		ret = region_info(d, i, &d->region[i]);
		if (ret == -EPROTO)
			return fail(why, len, EPROTO, "%s: region %u: the kernel's answer to "
				    "VFIO_DEVICE_GET_REGION_INFO is malformed", d->bdf, i);
		if (ret)
			return fail(why, len, -ret, "%s: region %u: VFIO_DEVICE_GET_REGION_INFO: %s",
				    d->bdf, i, strerror(-ret));
	}
	for (uint32_t i = 0; i < d->info.num_irqs && i < VFIO_PCI_NUM_IRQS; i++) {
		struct vfio_irq_info irq = { .argsz = sizeof(irq), .index = i };

		ret = sys->ioctl(d->fd, VFIO_DEVICE_GET_IRQ_INFO, &irq);
		/* vfio-pci has no ERR or REQ interrupt for some devices (not PCIe): none of it. */
		if (ret == -EINVAL) {
			d->irq[i].flags = 0;
			d->irq[i].count = 0;
			continue;
		}
		if (ret < 0)
			return fail(why, len, -ret, "%s: interrupt index %u: "
				    "VFIO_DEVICE_GET_IRQ_INFO: %s", d->bdf, i, strerror(-ret));
		d->irq[i].flags = irq.flags;
		d->irq[i].count = irq.count;
	}
	return 0;
}

/* A given fd refused before the backend had it: closed, as vfio_device_open_fd() promises. */
static int given_fail(struct vfio_group *g, int given, int ret)
{
	if (given >= 0 && g->sys)
		g->sys->close(given);
	else if (given >= 0)
		close(given);
	return ret;
}

/* given: the device's node as a client opened it; -1: the backend opens it. */
static int device_open(struct vfio_group *g, const char *bdf, int given, struct vfio_device *d,
		       char *why, size_t len)
{
	int fd, ret;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	if (!g->c)
		return given_fail(g, given, fail(why, len, EBADF, "%s: its IOMMU group is not open",
						 bdf));
	/* The kernel knows the device by its full name: "0000:01:00.0", lower case. */
	if (host_parse_bdf(bdf, d->bdf))
		return given_fail(g, given, fail(why, len, EINVAL, "%s: not a PCI address "
						 "(DDDD:BB:DD.F)", bdf));
	if (given >= 0 && !g->iommu->device_adopt)
		return given_fail(g, given, fail(why, len, EOPNOTSUPP, "%s: %s", d->bdf,
						 VFIO_CDEV_FD_NEEDS_IOMMUFD));
	fd = given >= 0 ? g->iommu->device_adopt(g, d, given, why, len) :
			  g->iommu->device_open(g, d, why, len);
	if (fd < 0)
		return fd;
	d->fd = fd;
	d->g = g;
	d->sys = g->sys;
	ret = device_infos(d, why, len);
	if (ret) {
		vfio_device_close(d);
		return ret;
	}
	return 0;
}

int vfio_device_open(struct vfio_group *g, const char *bdf, struct vfio_device *d,
		     char *why, size_t len)
{
	return device_open(g, bdf, -1, d, why, len);
}

int vfio_device_open_fd(struct vfio_group *g, const char *bdf, int fd, struct vfio_device *d,
			char *why, size_t len)
{
	if (fd < 0)
		return fail(why, len, EBADF, "%s: no cdev fd given", bdf);
	return device_open(g, bdf, fd, d, why, len);
}

int vfio_device_owner_fd(const struct vfio_device *d)
{
	return d->g ? d->g->iommu->owner_fd(d) : -1;
}

/* The region's [off, off + n), or -EINVAL. */
static int region_span(const struct vfio_device *d, unsigned index, uint64_t off, size_t n,
		       off_t *at)
{
	const struct vfio_region *r;

	if (!d->g || index >= VFIO_DEV_REGIONS)
		return -EINVAL;
	r = &d->region[index];
	if (off > r->size || n > r->size - off)
		return -EINVAL;
	*at = (off_t)(r->offset + off);
	return 0;
}

int vfio_region_read(const struct vfio_device *d, unsigned index, uint64_t off, void *buf,
		     size_t n)
{
	off_t at;
	ssize_t got;

	if (region_span(d, index, off, n, &at))
		return -EINVAL;
	got = d->sys->pread ? d->sys->pread(d->fd, buf, n, at) : pread(d->fd, buf, n, at);
	if (got < 0)
		return d->sys->pread ? (int)got : -errno;
	return (size_t)got == n ? 0 : -EIO;
}

int vfio_region_write(const struct vfio_device *d, unsigned index, uint64_t off,
		      const void *buf, size_t n)
{
	off_t at;
	ssize_t put;

	if (region_span(d, index, off, n, &at))
		return -EINVAL;
	put = d->sys->pwrite ? d->sys->pwrite(d->fd, buf, n, at) : pwrite(d->fd, buf, n, at);
	if (put < 0)
		return d->sys->pwrite ? (int)put : -errno;
	return (size_t)put == n ? 0 : -EIO;
}

void vfio_device_close(struct vfio_device *d)
{
	if (!d->g)
		return;
	for (int i = 0; i < VFIO_DEV_REGIONS; i++) {
		free(d->region[i].areas);
		d->region[i].areas = NULL;
	}
	d->sys->close(d->fd);
	d->fd = -1;
	d->g = NULL;
}

/* ---- DMA mappings: recorded, so that unmapping undoes exactly what was done. ---- */

static bool can_map(const struct vfio_container *c)
{
	return c->sys && c->iommu->can_map(c);
}

int vfio_dma_map(struct vfio_container *c, uint64_t iova, void *hva, uint64_t size)
{
	int ret;

	if (!can_map(c) || !size)
		return -EINVAL;
	/* Room first: a mapping that cannot be recorded could never be undone. */
	if (c->n_dma == c->cap_dma) {
		size_t cap = c->cap_dma ? c->cap_dma * 2 : 16;
		struct vfio_dma *dma = realloc(c->dma, cap * sizeof(*dma));

		if (!dma)
			return -ENOMEM;
		c->dma = dma;
		c->cap_dma = cap;
	}
	ret = c->iommu->map(c, iova, hva, size);
	if (ret < 0)
		return ret;
	c->dma[c->n_dma++] = (struct vfio_dma){ .iova = iova, .size = size, .hva = hva };
	return 0;
}

static int unmap_one(struct vfio_container *c, const struct vfio_dma *m)
{
	int64_t done = c->iommu->unmap(c, m->iova, m->size);

	if (done < 0)
		return (int)done;
	/* The kernel reports how much it unmapped; less means the mapping was not ours. */
	if ((uint64_t)done != m->size)
		pr_warn("vfio: unmapping iova 0x%llx: 0x%llx of 0x%llx bytes unmapped",
			(unsigned long long)m->iova, (unsigned long long)done,
			(unsigned long long)m->size);
	return 0;
}

int vfio_dma_unmap(struct vfio_container *c, uint64_t iova, uint64_t size)
{
	for (size_t i = 0; c->sys && i < c->n_dma; i++) {
		if (c->dma[i].iova != iova || c->dma[i].size != size)
			continue;
		int ret = unmap_one(c, &c->dma[i]);

		if (ret)
			return ret;
		memmove(&c->dma[i], &c->dma[i + 1], (c->n_dma - i - 1) * sizeof(*c->dma));
		c->n_dma--;
		return 0;
	}
	return -ENOENT;
}

/* Newest first, so a partial failure leaves the oldest mappings, which others may rely on. */
static void unmap_down_to(struct vfio_container *c, size_t keep)
{
	while (c->n_dma > keep) {
		const struct vfio_dma *m = &c->dma[c->n_dma - 1];
		int ret = unmap_one(c, m);

		if (ret)
			pr_warn("vfio: unmapping iova 0x%llx size 0x%llx: %s",
				(unsigned long long)m->iova, (unsigned long long)m->size,
				strerror(-ret));
		c->n_dma--;
	}
}

void vfio_unmap_all(struct vfio_container *c)
{
	if (c->sys)
		unmap_down_to(c, 0);
}

static int map_fail(char *why, size_t len, int err, uint64_t gpa, uint64_t done)
{
	char pinned[32];

	log_fmt_size(pinned, sizeof(pinned), done);
	if (err == -ENOMEM)
		return fail(why, len, ENOMEM, "pinning guest RAM at 0x%llx for DMA failed after %s: "
			    "the locked-memory limit is below guest RAM (ulimit -l unlimited, or "
			    "LimitMEMLOCK=infinity) or the host is out of memory",
			    (unsigned long long)gpa, pinned);
	if (err == -ENOSPC)
		return fail(why, len, ENOSPC, "mapping guest RAM at 0x%llx for DMA: too many mappings "
			    "(vfio_iommu_type1's dma_entry_limit)", (unsigned long long)gpa);
	return fail(why, len, -err, "mapping guest RAM at 0x%llx for DMA: %s",
		    (unsigned long long)gpa, strerror(-err));
}

struct progress {
	FILE *out;
	uint64_t start, next, total;
};

/* Pinning tens of GiB takes seconds with nothing to see: say how far it got, once a second. */
static void report_progress(const struct vfio_container *c, struct progress *p, uint64_t done)
{
	uint64_t now = c->sys->now_ns();

	if (now < p->next || done == p->total)
		return;
	fprintf(p->out, "vmm: vfio: pinning guest RAM for DMA: %.1f of %.1f GiB after %.1f s\n",
		(double)done / GiB, (double)p->total / GiB, (double)(now - p->start) / 1e9);
	p->next = now + 1000000000ull;
}

int vfio_map_guest_ram(struct vfio_container *c, const struct guest_mem *mem,
		       char *why, size_t len)
{
	size_t keep = c->n_dma;
	struct progress p = { .out = c->progress ? c->progress : stderr };
	uint64_t done = 0, took;

	if (!can_map(c))
		return fail(why, len, EINVAL, "guest RAM cannot be mapped for DMA before a group "
			    "joins the container");
	for (unsigned i = 0; i < mem->nr; i++)
		p.total += mem->region[i].size;
	p.start = c->sys->now_ns();
	p.next = p.start + 1000000000ull;
	for (unsigned i = 0; i < mem->nr; i++) {
		const struct guest_region *r = &mem->region[i];

		for (uint64_t off = 0; off < r->size; off += VFIO_MAP_CHUNK) {
			uint64_t n = r->size - off < VFIO_MAP_CHUNK ? r->size - off : VFIO_MAP_CHUNK;
			int ret = vfio_dma_map(c, r->gpa + off, r->hva + off, n);

			if (ret) {
				unmap_down_to(c, keep);
				return map_fail(why, len, ret, r->gpa + off, done);
			}
			done += n;
			report_progress(c, &p, done);
		}
	}
	took = c->sys->now_ns() - p.start;
	if (took > 1000000000ull)
		fprintf(p.out, "vmm: vfio: pinned %.1f GiB of guest RAM for DMA in %.1f s\n",
			(double)done / GiB, (double)took / 1e9);
	return 0;
}

/* ---- Closing, in reverse: devices, groups, container. ---- */

void vfio_group_close(struct vfio_group *g)
{
	struct vfio_container *c = g->c;

	if (!c)
		return;
	g->iommu->group_close(c, g);
	if (c->groups)
		c->groups--;
	g->fd = -1;
	g->c = NULL;
}

void vfio_container_close(struct vfio_container *c)
{
	if (!c->sys)
		return;
	if (c->groups)
		pr_warn("vfio: closing the container with %u group(s) still open", c->groups);
	vfio_unmap_all(c);
	c->sys->close(c->fd);
	free(c->dma);
	c->dma = NULL;
	c->n_dma = c->cap_dma = 0;
	c->fd = -1;
	c->sys = NULL;
	c->iommu = NULL;
}
