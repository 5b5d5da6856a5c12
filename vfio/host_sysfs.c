// SPDX-License-Identifier: MIT
/*
 * The host's PCI devices as sysfs and procfs show them, read under a sysroot
 * so that tests can point it at a tree they built. Only links and small text
 * files are read: what `ls -l` and `cat` would show a person following a
 * passthrough guide.
 */
#include "host_sysfs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

__attribute__((format(printf, 4, 0)))
static int vpath(const struct host *h, char *buf, size_t len, const char *fmt, va_list ap)
{
	int n = snprintf(buf, len, "%s/", h->root);

	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	int m = vsnprintf(buf + n, len - n, fmt, ap);

	return m < 0 || (size_t)m >= len - n ? -ENAMETOOLONG : 0;
}

int host_path(const struct host *h, char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int ret = vpath(h, buf, len, fmt, ap);
	va_end(ap);
	return ret;
}

static void told(const struct host *h, const char *path)
{
	if (h->on_read)
		h->on_read(path, h->on_read_arg);
}

static int read_path(const struct host *h, const char *path, char *buf, size_t len)
{
	told(h, path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	int err = errno;

	close(fd);
	if (n < 0)
		return -err;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return (int)n;
}

/* Reads a small file under the sysroot, without its trailing newline. */
int host_read(const struct host *h, char *buf, size_t len, const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	int ret = vpath(h, path, sizeof(path), fmt, ap);
	va_end(ap);
	if (ret)
		return ret;
	return read_path(h, path, buf, len);
}

/* The last component of a symlink's target: a driver's or group's name. */
int host_link_name(const struct host *h, char *buf, size_t len, const char *fmt, ...)
{
	char path[PATH_MAX], target[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	int ret = vpath(h, path, sizeof(path), fmt, ap);
	va_end(ap);
	if (ret)
		return ret;
	told(h, path);
	ssize_t n = readlink(path, target, sizeof(target) - 1);

	if (n < 0)
		return -errno;
	target[n] = '\0';
	const char *base = strrchr(target, '/');

	base = base ? base + 1 : target;
	if (strlen(base) >= len)
		return -ENAMETOOLONG;
	strcpy(buf, base);
	return 0;
}

bool host_exists(const struct host *h, const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	int ret = vpath(h, path, sizeof(path), fmt, ap);
	va_end(ap);
	return !ret && access(path, F_OK) == 0;
}

int host_read_resources(const struct host *h, const char *bdf,
			struct host_resource res[HOST_NR_RESOURCES])
{
	char path[PATH_MAX], line[256];
	int ret;

	memset(res, 0, sizeof(*res) * HOST_NR_RESOURCES);
	ret = host_path(h, path, sizeof(path), "sys/bus/pci/devices/%s/resource", bdf);
	if (ret)
		return ret;
	told(h, path);
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	/* "start end flags" in hex; an unused BAR is all zeros, so end <= start. */
	for (int i = 0; i < HOST_NR_RESOURCES && fgets(line, sizeof(line), f); i++) {
		unsigned long long start, end, flags;

		if (sscanf(line, "%llx %llx %llx", &start, &end, &flags) != 3 || end <= start)
			continue;
		res[i].size = end - start + 1;
		res[i].flags = (unsigned long)flags;
	}
	fclose(f);
	return 0;
}

bool host_on_vfio(const struct host_dev *d)
{
	return strstr(d->driver, "vfio-pci") || strstr(d->driver, "vfio_pci");
}

bool host_leaves_dma_to_owner(const struct host_dev *d)
{
	return !d->driver[0] || host_on_vfio(d) || !strcmp(d->driver, "pci-stub");
}

bool host_is_bridge(const struct host_dev *d)
{
	unsigned sub = d->class >> 8;

	return sub == 0x0604 || sub == 0x0609 || sub == 0x0607;
}

const char *host_class_name(uint32_t class)
{
	static const struct { uint16_t sub; const char *name; } names[] = {
		{ 0x0100, "SCSI controller" }, { 0x0101, "IDE controller" },
		{ 0x0104, "RAID controller" }, { 0x0106, "SATA controller" },
		{ 0x0107, "SAS controller" }, { 0x0108, "NVMe controller" },
		{ 0x0180, "storage controller" }, { 0x0780, "communication controller" },
		{ 0x0200, "Ethernet controller" }, { 0x0280, "network controller" },
		{ 0x0300, "VGA controller" }, { 0x0302, "3D controller" },
		{ 0x0380, "display controller" }, { 0x0401, "audio device" },
		{ 0x0403, "audio device" }, { 0x0600, "host bridge" },
		{ 0x0601, "ISA bridge" }, { 0x0604, "PCI bridge" },
		{ 0x0c03, "USB controller" }, { 0x0c05, "SMBus" },
		{ 0x0c80, "serial bus controller" }, { 0x0880, "system peripheral" },
		{ 0x00ff, "unclassified device" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i].sub == class >> 8)
			return names[i].name;
	}
	return "device";
}

/*
 * s, all of it, as a number in base (16: with or without "0x"): no sign
 * unless a '-' in base 10, no space, nothing after it. 0 or -EINVAL.
 * atoi() and strtoul() would make garbage 0: IOMMU group 0, vendor 0.
 */
static int parse_number(const char *s, int base, long long *v)
{
	char *end;

	if (!s[0] || isspace((unsigned char)s[0]) || s[0] == '+' || (s[0] == '-' && base != 10))
		return -EINVAL;
	errno = 0;
	*v = strtoll(s, &end, base);
	return end == s || *end || errno ? -EINVAL : 0;
}

int host_read_number(const struct host *h, long long *v, int base, const char *fmt, ...)
{
	char path[PATH_MAX], buf[64];
	va_list ap;

	va_start(ap, fmt);
	int ret = vpath(h, path, sizeof(path), fmt, ap);
	va_end(ap);
	if (ret)
		return ret;
	/* One byte more than a number needs: a longer file is not one. */
	ret = read_path(h, path, buf, sizeof(buf));
	if (ret == -ENOENT)
		return ret;
	if (ret < 0) {
		pr_err("%s: %s", path, strerror(-ret));
		return ret;
	}
	if ((size_t)ret >= sizeof(buf) - 1 || parse_number(buf, base, v)) {
		pr_err("%s: '%s' is not a %s number", path, buf, base == 16 ? "hexadecimal" : "decimal");
		return -EINVAL;
	}
	return 0;
}

/* A device's ID attribute (vendor, device, class), at most max; 0 when there is no such file. */
static int read_id(const struct host *h, const char *bdf, const char *attr, long long max,
		   uint32_t *out)
{
	long long v = 0;
	int ret = host_read_number(h, &v, 16, "sys/bus/pci/devices/%s/%s", bdf, attr);

	if (ret == -ENOENT)
		v = 0;
	else if (ret)
		return ret;
	if (v < 0 || v > max) {
		pr_err("%s/sys/bus/pci/devices/%s/%s: %#llx is out of range", h->root, bdf, attr, v);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

/* The number the iommu_group link names; -1 when there is none. */
static int read_group(const struct host *h, const char *bdf, int *group)
{
	char name[HOST_NAME_LEN];
	long long v;
	int ret = host_link_name(h, name, sizeof(name), "sys/bus/pci/devices/%s/iommu_group", bdf);

	*group = -1;
	if (ret == -ENOENT)
		return 0;
	if (ret) {
		pr_err("%s/sys/bus/pci/devices/%s/iommu_group: %s", h->root, bdf, strerror(-ret));
		return ret;
	}
	if (parse_number(name, 10, &v) || v < 0 || v > INT_MAX) {
		pr_err("%s/sys/bus/pci/devices/%s/iommu_group: names group '%s', not a group number",
		       h->root, bdf, name);
		return -EINVAL;
	}
	*group = (int)v;
	return 0;
}

/* The upstream bridge is the directory above the device's real one. */
static void find_parent(const struct host *h, struct host_dev *d)
{
	char path[PATH_MAX], real[PATH_MAX];

	d->parent[0] = '\0';
	if (host_path(h, path, sizeof(path), "sys/bus/pci/devices/%s", d->bdf))
		return;
	told(h, path);
	if (!realpath(path, real))
		return;
	char *slash = strrchr(real, '/');

	if (!slash)
		return;
	*slash = '\0';
	slash = strrchr(real, '/');
	if (slash && host_is_bdf(slash + 1))
		memcpy(d->parent, slash + 1, HOST_BDF_LEN);
}

static int load_dev(const struct host *h, struct host_dev *d, const char *bdf)
{
	char buf[HOST_NAME_LEN];
	uint32_t vendor = 0, device = 0;
	int ret;

	memset(d, 0, sizeof(*d));
	memcpy(d->bdf, bdf, HOST_BDF_LEN);
	ret = read_id(h, bdf, "vendor", 0xffff, &vendor);
	if (!ret)
		ret = read_id(h, bdf, "device", 0xffff, &device);
	if (!ret)
		ret = read_id(h, bdf, "class", 0xffffff, &d->class);
	if (!ret)
		ret = read_group(h, bdf, &d->group);
	if (ret)
		return ret;
	d->vendor = (uint16_t)vendor;
	d->device = (uint16_t)device;
	if (host_link_name(h, d->driver, sizeof(d->driver), "sys/bus/pci/devices/%s/driver", bdf))
		d->driver[0] = '\0';
	/* The kernel shows an unset override as "(null)". */
	if (host_read(h, d->override, sizeof(d->override),
		      "sys/bus/pci/devices/%s/driver_override", bdf) < 0 ||
	    !strcmp(d->override, "(null)"))
		d->override[0] = '\0';
	d->boot_vga = host_read(h, buf, sizeof(buf), "sys/bus/pci/devices/%s/boot_vga", bdf) > 0 &&
		      !strcmp(buf, "1");
	find_parent(h, d);
	return 0;
}

static int bdf_filter(const struct dirent *e)
{
	return host_is_bdf(e->d_name);
}

static bool dir_has_entries(const struct host *h, const char *rel)
{
	char path[PATH_MAX];
	struct dirent **list;

	if (host_path(h, path, sizeof(path), "%s", rel))
		return false;
	int n = scandir(path, &list, NULL, NULL), real = 0;

	for (int i = 0; i < n; i++) {
		real += strcmp(list[i]->d_name, ".") && strcmp(list[i]->d_name, "..");
		free(list[i]);
	}
	if (n >= 0)
		free(list);
	return real > 0;
}

int host_load(struct host *h, const char *root)
{
	return host_load_traced(h, root, NULL, NULL);
}

int host_load_traced(struct host *h, const char *root, host_read_fn *on_read, void *arg)
{
	char path[PATH_MAX];
	struct dirent **list;
	size_t rlen = strlen(root);

	memset(h, 0, sizeof(*h));
	/* Kept without a trailing slash: paths are root + "/" + "sys/...". */
	h->root = rlen == 1 && root[0] == '/' ? "" : root;
	h->on_read = on_read;
	h->on_read_arg = arg;
	if (host_path(h, path, sizeof(path), "sys/bus/pci/devices"))
		return -ENAMETOOLONG;
	int n = scandir(path, &list, bdf_filter, alphasort);

	if (n < 0) {
		int err = -errno;

		pr_err("%s: cannot list PCI devices: %s", path, strerror(-err));
		return err;
	}
	h->devs = calloc(n ? (size_t)n : 1, sizeof(*h->devs));
	int ret = h->devs ? 0 : -ENOMEM;

	for (int i = 0; i < n; i++) {
		if (!ret)
			ret = load_dev(h, &h->devs[i], list[i]->d_name);
		free(list[i]);
	}
	free(list);
	if (ret) {
		/* A device read wrong would be judged wrong (garbage is not group 0): none is used. */
		host_free(h);
		return ret;
	}
	h->n = (size_t)n;
	h->have_groups = dir_has_entries(h, "sys/kernel/iommu_groups");
	host_mark_critical(h);
	return 0;
}

void host_free(struct host *h)
{
	free(h->devs);
	h->devs = NULL;
	h->n = 0;
}

struct host_dev *host_find(const struct host *h, const char *bdf)
{
	for (size_t i = 0; i < h->n; i++) {
		if (!strcmp(h->devs[i].bdf, bdf))
			return &h->devs[i];
	}
	return NULL;
}
