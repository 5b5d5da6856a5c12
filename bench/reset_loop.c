// SPDX-License-Identifier: MIT
/*
 * The reset loop of "vmm bench reset" (reset_loop.h).
 *
 * "Back" is judged through the VFIO config region, as a VMM sees the
 * device. vfio-pci answers the vendor and device IDs, the BARs and part of
 * the command register from its own copy, so besides those the loop reads
 * the class and revision dword, which comes from the device itself and
 * reads all ones from a function that is gone; the link's status and the
 * AER status registers come from the device too. AER's status bits are
 * sticky (a reset keeps them): a bit already set before the first reset is
 * not the reset's doing, so only new ones count.
 */
#include "bench/reset_loop.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vfio/iommufd_abi.h"
#include "vfio/reset_method.h"

#define CFG_HDR      0x40   /* the type 0 header */
#define CFG_STATUS_CAPS 0x10
#define CAP_PCIE     0x10
#define EXT_CAP_AER  0x0001
#define PCIE_TYPE_RCIEP 0x9
#define PCIE_TYPE_RCEC  0xa
#define LNKCAP_DLLLA 0x00100000u
#define LNKSTA_WIDTH 0x03f0
#define LNKSTA_TRAINING 0x0800
#define LNKSTA_DLLLA 0x2000

__attribute__((format(printf, 4, 5)))
static int say(char *why, size_t len, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -err;
}

__attribute__((format(printf, 3, 4)))
static void add(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strnlen(buf, len);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

/* ---- --probe ---- */

static int parse_u32(const char *s, const char *end, uint32_t *out)
{
	char buf[24], *e;
	unsigned long long v;

	if (end - s <= 0 || end - s >= (long)sizeof(buf) || *s == '-' || *s == '+')
		return -EINVAL;
	memcpy(buf, s, (size_t)(end - s));
	buf[end - s] = '\0';
	errno = 0;
	v = strtoull(buf, &e, 0);
	if (errno || *e || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

#define PROBE_EXAMPLE "as in bar0+0x0=0x010000ed or bar0+0x4:w=0x5a5aa5a5,r=0xa5a55a5a"

/* After "barN+OFF": "=VALUE" or ":w=VALUE,r=EXPECT". */
static int probe_values(const char *spec, const char *p, struct bench_reset_probe *pr,
			char *why, size_t len)
{
	const char *comma;

	if (*p == '=') {
		if (parse_u32(p + 1, p + strlen(p), &pr->expect))
			return say(why, len, EINVAL, "--probe '%s': '%s' is not a 32-bit number",
				   spec, p + 1);
		return 0;
	}
	if (strncmp(p, ":w=", 3))
		return say(why, len, EINVAL, "--probe '%s': after the offset comes =VALUE or "
			   ":w=VALUE,r=EXPECT, %s", spec, PROBE_EXAMPLE);
	comma = strchr(p, ',');
	if (!comma || strncmp(comma, ",r=", 3))
		return say(why, len, EINVAL, "--probe '%s': a write needs what to read back: "
			   ":w=VALUE,r=EXPECT", spec);
	pr->write = true;
	if (parse_u32(p + 3, comma, &pr->value))
		return say(why, len, EINVAL, "--probe '%s': '%.*s' is not a 32-bit number", spec,
			   (int)(comma - p - 3), p + 3);
	if (parse_u32(comma + 3, comma + strlen(comma), &pr->expect))
		return say(why, len, EINVAL, "--probe '%s': '%s' is not a 32-bit number", spec,
			   comma + 3);
	return 0;
}

int bench_reset_probe_parse(const char *spec, struct bench_reset_probe *p, char *why, size_t len)
{
	const char *s = spec, *plus, *end;
	uint32_t off;

	memset(p, 0, sizeof(*p));
	if (strlen(spec) >= sizeof(p->spec))
		return say(why, len, EINVAL, "--probe '%.20s...': too long", spec);
	memcpy(p->spec, spec, strlen(spec) + 1); /* fits: checked just above */
	if (strncmp(s, "bar", 3) || s[3] < '0' || s[3] > '9')
		return say(why, len, EINVAL, "--probe '%s': starts with the BAR, bar0 to bar5, %s",
			   spec, PROBE_EXAMPLE);
	p->bar = (unsigned)(s[3] - '0');
	if (p->bar > 5 || (s[4] >= '0' && s[4] <= '9'))
		return say(why, len, EINVAL, "--probe '%s': a BAR is bar0 to bar5", spec);
	plus = s + 4;
	if (*plus != '+')
		return say(why, len, EINVAL, "--probe '%s': the BAR's offset comes next, as bar%u+0x10",
			   spec, p->bar);
	end = plus + 1 + strcspn(plus + 1, "=:");
	if (parse_u32(plus + 1, end, &off))
		return say(why, len, EINVAL, "--probe '%s': offset '%.*s' is not a number", spec,
			   (int)(end - plus - 1), plus + 1);
	if (off % 4)
		return say(why, len, EINVAL, "--probe '%s': offset 0x%x is not a multiple of 4 (a "
			   "probe reads 32 bits)", spec, off);
	p->off = off;
	return probe_values(spec, end, p, why, len);
}

/* ---- Statistics ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void bench_reset_stats_of(const double *v, unsigned n, struct bench_reset_stats *s)
{
	double *sorted;
	unsigned rank;

	*s = (struct bench_reset_stats){ .n = n, .min = -1, .median = -1, .p99 = -1, .max = -1 };
	if (!n)
		return;
	sorted = malloc(n * sizeof(*sorted));
	if (!sorted)
		return;
	memcpy(sorted, v, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_double);
	s->min = sorted[0];
	s->max = sorted[n - 1];
	s->median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
	/* Nearest rank: the smallest sample that at least 99% of them do not exceed. */
	rank = (unsigned)((99ull * n + 99) / 100);
	s->p99 = sorted[rank - 1];
	free(sorted);
}

/* ---- Config space ---- */

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int cfg_read(const struct bench_reset_dev *v, uint64_t off, void *buf, size_t n)
{
	return vfio_region_read(&v->d, VFIO_PCI_CONFIG_REGION_INDEX, off, buf, n);
}

/* The header, and where the link's status and AER's are (found before any reset). */
static void look(const struct bench_reset_dev *v, struct bench_reset_look *l)
{
	uint8_t hdr[CFG_HDR], buf[0x14];

	memset(l, 0, sizeof(*l));
	l->err = cfg_read(v, 0, hdr, sizeof(hdr));
	if (l->err)
		return;
	l->vendor = le16(hdr);
	l->command = le16(hdr + 4);
	l->class_rev = le32(hdr + 8);
	for (unsigned i = 0; i < 6; i++)
		l->bar[i] = le32(hdr + 0x10 + 4 * i);
	if (v->has_link && !(l->err = cfg_read(v, v->pcie + 0x12u, buf, 2)))
		l->lnksta = le16(buf);
	if (v->aer && !l->err && !(l->err = cfg_read(v, v->aer, buf, 0x14))) {
		l->aer_uncor = le32(buf + 4);
		l->aer_cor = le32(buf + 0x10);
	}
}

/* The capabilities, from the config space as it is before any reset. */
static int find_caps(struct bench_reset_dev *v, char *why, size_t len)
{
	uint8_t hdr[CFG_HDR], cap[0x10];
	unsigned at, hops;

	if (cfg_read(v, 0, hdr, sizeof(hdr)))
		return say(why, len, EIO, "%s: its config space cannot be read through VFIO", v->bdf);
	at = le16(hdr + 6) & CFG_STATUS_CAPS ? hdr[0x34] & 0xfc : 0;
	for (hops = 0; at >= CFG_HDR && hops < 48; hops++) {
		if (cfg_read(v, at, cap, sizeof(cap)))
			break;
		if (cap[0] == CAP_PCIE) {
			unsigned type = (cap[2] >> 4) & 0xf;

			v->pcie = (uint16_t)at;
			v->has_link = type != PCIE_TYPE_RCIEP && type != PCIE_TYPE_RCEC;
			v->dllla = le32(cap + 0xc) & LNKCAP_DLLLA;
			break;
		}
		at = cap[1] & 0xfc;
	}
	/* Extended capabilities: only a PCIe function with 4 KiB of config space has them. */
	at = v->pcie && v->d.region[VFIO_PCI_CONFIG_REGION_INDEX].size >= 4096 ? 0x100 : 0;
	for (hops = 0; at >= 0x100 && hops < 64; hops++) {
		uint32_t h;

		if (cfg_read(v, at, cap, 4))
			break;
		h = le32(cap);
		if (h == 0 || h == UINT32_MAX)
			break;
		if ((h & 0xffff) == EXT_CAP_AER) {
			v->aer = (uint16_t)at;
			break;
		}
		at = (h >> 20) & 0xffc;
	}
	return 0;
}

/* What l shows, in a few words, for the failure line. */
static void say_look(const struct bench_reset_dev *v, const struct bench_reset_look *l, char *buf,
		     size_t len)
{
	if (l->err) {
		add(buf, len, "config space unreadable (%s)", strerror(-l->err));
		return;
	}
	add(buf, len, "vendor 0x%04x command 0x%04x class/revision 0x%08x BAR0 0x%08x", l->vendor,
	    l->command, l->class_rev, l->bar[0]);
	if (v->has_link)
		add(buf, len, " Link Status 0x%04x", l->lnksta);
	if (v->aer)
		add(buf, len, " AER uncorrectable 0x%08x correctable 0x%08x", l->aer_uncor, l->aer_cor);
}

/* "" when l shows v as before the first reset; else what differs, in why. */
static bool look_back(const struct bench_reset_dev *v, const struct bench_reset_look *l,
		      char *why, size_t len)
{
	const struct bench_reset_look *b = &v->before;

	why[0] = '\0';
	if (l->err)
		add(why, len, "its config space cannot be read: %s", strerror(-l->err));
	else if (l->vendor == 0xffff || l->class_rev == UINT32_MAX)
		add(why, len, "config space reads all ones");
	else if (l->class_rev != b->class_rev)
		add(why, len, "class/revision 0x%08x, was 0x%08x", l->class_rev, b->class_rev);
	else if (l->command != b->command)
		add(why, len, "command 0x%04x, was 0x%04x", l->command, b->command);
	for (unsigned i = 0; !why[0] && i < 6; i++)
		if (l->bar[i] != b->bar[i])
			add(why, len, "BAR%u 0x%08x, was 0x%08x", i, l->bar[i], b->bar[i]);
	if (!why[0] && v->has_link &&
	    (l->lnksta == 0xffff || !(l->lnksta & LNKSTA_WIDTH) || (l->lnksta & LNKSTA_TRAINING) ||
	     (v->dllla && !(l->lnksta & LNKSTA_DLLLA))))
		add(why, len, "its link is not up (Link Status 0x%04x)", l->lnksta);
	if (!why[0] && v->aer && ((l->aer_uncor & ~b->aer_uncor) || (l->aer_cor & ~b->aer_cor)))
		add(why, len, "AER reports new errors (uncorrectable 0x%08x, correctable 0x%08x; "
		    "before: 0x%08x, 0x%08x)", l->aer_uncor, l->aer_cor, b->aer_uncor, b->aer_cor);
	return !why[0];
}

/* Each probe of the first function; false with what it read in why. */
static bool probes_pass(const struct bench_reset *b, char *why, size_t len)
{
	const struct vfio_device *d = &b->dev[0].d;

	for (unsigned i = 0; i < b->nr_probes; i++) {
		const struct bench_reset_probe *p = &b->probe[i];
		uint32_t got = 0;
		int err = 0;

		if (p->write)
			err = vfio_region_write(d, p->bar, p->off, &p->value, 4);
		if (!err)
			err = vfio_region_read(d, p->bar, p->off, &got, 4);
		if (err) {
			snprintf(why, len, "probe %s: %s", p->spec, strerror(-err));
			return false;
		}
		if (got != p->expect) {
			snprintf(why, len, "probe %s read 0x%08x", p->spec, got);
			return false;
		}
	}
	return true;
}

/* ---- Opening ---- */

static int read_group(const struct bench_reset *b, struct bench_reset_dev *v, char *why, size_t len)
{
	char path[PATH_MAX], link[PATH_MAX];
	const char *name;
	char *end;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s", b->root, v->bdf);
	if (access(path, F_OK))
		return say(why, len, ENODEV, "%s: no such PCI device (lspci -D lists them)", v->bdf);
	snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s/iommu_group", b->root, v->bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return say(why, len, ENOENT, "%s: no IOMMU group: the IOMMU is off, so VFIO cannot "
			   "have it (vmm host check says how to turn it on)", v->bdf);
	link[n] = '\0';
	name = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
	v->group = (int)strtol(name, &end, 10);
	if (*end || end == name)
		return say(why, len, EINVAL, "%s: iommu_group link %s has no group number", v->bdf,
			   link);
	return 0;
}

static int open_container(struct bench_reset *b, char *why, size_t len)
{
	bool iommufd = b->iommu == BENCH_RESET_IOMMU_IOMMUFD;
	char name[32];

	if (b->iommu == BENCH_RESET_IOMMU_AUTO) {
		iommufd = vfio_iommufd_present(b->root);
		for (unsigned i = 0; i < b->nr_devs && iommufd; i++)
			iommufd = !vfio_cdev_name(b->root, b->dev[i].bdf, name, sizeof(name));
	}
	return iommufd ? vfio_iommufd_open_sys(&b->c, b->sys, b->root, why, len) :
			 vfio_container_open_sys(&b->c, b->sys, b->root, why, len);
}

/* v's group, opened once for all its functions. */
static int open_group(struct bench_reset *b, struct bench_reset_dev *v, char *why, size_t len)
{
	for (unsigned i = 0; i < b->nr_groups; i++)
		if (b->groups[i].group == v->group) {
			v->g = &b->groups[i];
			return 0;
		}
	v->g = &b->groups[b->nr_groups];
	if (vfio_group_open(&b->c, v->g, v->group, why, len))
		return -EIO;
	b->nr_groups++;
	return 0;
}

static int check_probes(const struct bench_reset *b, char *why, size_t len)
{
	const struct vfio_device *d = &b->dev[0].d;

	for (unsigned i = 0; i < b->nr_probes; i++) {
		const struct bench_reset_probe *p = &b->probe[i];
		const struct vfio_region *r = &d->region[p->bar];

		if (!r->size)
			return say(why, len, EINVAL, "--probe %s: %s has no BAR%u", p->spec,
				   b->dev[0].bdf, p->bar);
		if (p->off + 4 > r->size)
			return say(why, len, EINVAL, "--probe %s: BAR%u of %s is 0x%llx bytes",
				   p->spec, p->bar, b->dev[0].bdf, (unsigned long long)r->size);
	}
	return 0;
}

static int open_dev(struct bench_reset *b, struct bench_reset_dev *v, char *why, size_t len)
{
	int ret = open_group(b, v, why, len);

	if (!ret)
		ret = vfio_device_open(v->g, v->bdf, &v->d, why, len);
	if (ret)
		return ret;
	v->methods_err = vfio_reset_methods_read_at(b->root, v->bdf, v->methods,
						    sizeof(v->methods));
	ret = find_caps(v, why, len);
	if (ret)
		return ret;
	look(v, &v->before);
	if (v->before.err || v->before.vendor == 0xffff || v->before.class_rev == UINT32_MAX)
		return say(why, len, EIO, "%s reads all ones before any reset: it is gone already "
			   "(a reset of the bridge above it or a reboot of the host may bring it "
			   "back)", v->bdf);
	return 0;
}

int bench_reset_open(struct bench_reset *b, char *why, size_t len)
{
	int ret;

	if (!b->root)
		b->root = "";
	/* A function that is not there is said before VFIO is: it is the likelier mistake. */
	for (unsigned i = 0; i < b->nr_devs; i++) {
		ret = read_group(b, &b->dev[i], why, len);
		if (ret)
			return ret;
	}
	ret = open_container(b, why, len);
	for (unsigned i = 0; i < b->nr_devs && !ret; i++)
		ret = open_dev(b, &b->dev[i], why, len);
	if (!ret)
		ret = check_probes(b, why, len);
	if (ret)
		bench_reset_close(b);
	return ret;
}

void bench_reset_close(struct bench_reset *b)
{
	for (unsigned i = 0; i < b->nr_devs; i++)
		vfio_device_close(&b->dev[i].d);
	for (unsigned i = 0; i < b->nr_groups; i++)
		vfio_group_close(&b->groups[i]);
	b->nr_groups = 0;
	vfio_container_close(&b->c);
	for (unsigned i = 0; i < b->nr_methods; i++) {
		free(b->m[i].ioctl_ms);
		free(b->m[i].back_ms);
		b->m[i].ioctl_ms = b->m[i].back_ms = NULL;
	}
}

/* ---- The hot reset: which functions it takes, and the proof that they are ours ---- */

struct hot {
	int fds[BENCH_RESET_MAX_DEVS]; /* type1: the groups' nodes */
	unsigned nr;
};

static struct vfio_pci_hot_reset_info *hot_info(const struct bench_reset_dev *v, int *err)
{
	struct vfio_pci_hot_reset_info probe = { .argsz = sizeof(probe) }, *info;
	size_t size;

	/* The kernel says how many functions in count, with ENOSPC, when there is no room. */
	*err = v->d.sys->ioctl(v->d.fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, &probe);
	if (*err && *err != -ENOSPC)
		return NULL;
	size = sizeof(*info) + (size_t)probe.count * sizeof(info->devices[0]);
	info = calloc(1, size);
	if (!info) {
		*err = -ENOMEM;
		return NULL;
	}
	info->argsz = (uint32_t)size;
	*err = v->d.sys->ioctl(v->d.fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, info);
	if (*err) {
		free(info);
		return NULL;
	}
	return info;
}

static void dep_bdf(const struct vfio_pci_dependent_device *dep, char *out, size_t len)
{
	snprintf(out, len, "%04x:%02x:%02x.%x", dep->segment, dep->bus, dep->devfn >> 3,
		 dep->devfn & 7);
}

/* Under type1: every affected function's group must be one of ours; its node is the proof. */
static int hot_type1(const struct bench_reset *b, const struct vfio_pci_hot_reset_info *info,
		     struct hot *h, char *why, size_t len)
{
	h->nr = 0;
	for (uint32_t i = 0; i < info->count; i++) {
		const struct vfio_pci_dependent_device *dep = &info->devices[i];
		const struct vfio_group *g = NULL;
		bool have = false;
		char bdf[HOST_BDF_LEN];

		for (unsigned k = 0; k < b->nr_groups && !g; k++)
			if (b->groups[k].group == (int)dep->group_id)
				g = &b->groups[k];
		if (!g) {
			dep_bdf(dep, bdf, sizeof(bdf));
			return say(why, len, EPERM, "bus: a hot reset of %s's bus also resets %s (IOMMU "
				   "group %u), which is not among the functions given: bind it to "
				   "vfio-pci (vmm host bind %s) and give it too", b->dev[0].bdf, bdf,
				   dep->group_id, bdf);
		}
		for (unsigned k = 0; k < h->nr; k++)
			have = have || h->fds[k] == g->fd;
		if (!have && h->nr < BENCH_RESET_MAX_DEVS)
			h->fds[h->nr++] = g->fd;
	}
	return 0;
}

/* Under iommufd: the kernel checks that every affected function is bound to our iommufd. */
static int hot_iommufd(const struct bench_reset *b, const struct vfio_pci_hot_reset_info *info,
		       char *why, size_t len)
{
	char bdf[HOST_BDF_LEN];

	if (info->flags & VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED)
		return 0;
	for (uint32_t i = 0; i < info->count; i++) {
		/* devid where group_id is: the same 32 bits, also in older headers. */
		if ((int32_t)info->devices[i].group_id != VFIO_PCI_DEVID_NOT_OWNED)
			continue;
		dep_bdf(&info->devices[i], bdf, sizeof(bdf));
		return say(why, len, EPERM, "bus: a hot reset of %s's bus also resets %s, which is "
			   "not opened here: bind it to vfio-pci (vmm host bind %s) and give it too",
			   b->dev[0].bdf, bdf, bdf);
	}
	return say(why, len, EPERM, "bus: the kernel says not every function on %s's bus is "
		   "ours, naming none", b->dev[0].bdf);
}

static int hot_prepare(const struct bench_reset *b, struct hot *h, char *why, size_t len)
{
	struct vfio_pci_hot_reset_info *info;
	int err, ret;

	info = hot_info(&b->dev[0], &err);
	if (!info)
		return say(why, len, -err, "bus: VFIO cannot hot-reset %s's bus or slot "
			   "(VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: %s)", b->dev[0].bdf,
			   strerror(-err));
	h->nr = 0;
	ret = info->flags & VFIO_PCI_HOT_RESET_FLAG_DEV_ID ? hot_iommufd(b, info, why, len) :
							      hot_type1(b, info, h, why, len);
	free(info);
	return ret;
}

static int hot_reset(const struct bench_reset *b, const struct hot *h)
{
	size_t size = sizeof(struct vfio_pci_hot_reset) + h->nr * sizeof(int32_t);
	struct vfio_pci_hot_reset *r = calloc(1, size);
	int ret;

	if (!r)
		return -ENOMEM;
	/* Under iommufd, no fds: the device's own iommufd is the proof. */
	r->argsz = (uint32_t)size;
	r->count = h->nr;
	for (unsigned i = 0; i < h->nr; i++)
		r->group_fds[i] = h->fds[i];
	ret = b->dev[0].d.sys->ioctl(b->dev[0].d.fd, VFIO_DEVICE_PCI_HOT_RESET, r);
	free(r);
	return ret;
}

/* ---- Choosing the methods ---- */

static bool listed(const char *methods, const char *word)
{
	char copy[128], *save = NULL;

	snprintf(copy, sizeof(copy), "%s", methods);
	for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
		if (!strcmp(w, word))
			return true;
	return false;
}

/* Whether every function lists word. */
static bool all_list(const struct bench_reset *b, const char *word)
{
	for (unsigned i = 0; i < b->nr_devs; i++)
		if (!listed(b->dev[i].methods, word))
			return false;
	return true;
}

static void add_method(struct bench_reset *b, const char *name, bool hot)
{
	struct bench_reset_method *m = &b->m[b->nr_methods];

	if (b->nr_methods == BENCH_RESET_MAX_METHODS)
		return;
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->hot = hot;
	b->nr_methods++;
}

static bool can_hot_reset(const struct bench_reset *b)
{
	int err;
	struct vfio_pci_hot_reset_info *info = hot_info(&b->dev[0], &err);

	free(info);
	return info != NULL;
}

/* Every method the kernel lists for all functions; bus as the hot reset. */
static void choose_all(struct bench_reset *b)
{
	char copy[128], *save = NULL;

	snprintf(copy, sizeof(copy), "%s", b->dev[0].methods);
	for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
		if (strcmp(w, "bus") && all_list(b, w))
			add_method(b, w, false);
	if (can_hot_reset(b))
		add_method(b, "bus", true);
}

static int none_offered(const struct bench_reset *b, const char *want, char *why, size_t len)
{
	const struct bench_reset_dev *v = &b->dev[0];
	char offered[192];

	/*
	 * Linux 5.15 and later show reset_method only for a device they can
	 * reset; older ones never: either way, nothing the kernel would use.
	 */
	if (v->methods_err)
		snprintf(offered, sizeof(offered), "offers no reset method (%s/sys/bus/pci/devices/"
			 "%s has no reset_method)", b->root, v->bdf);
	else
		snprintf(offered, sizeof(offered), "offers %s%s%s", v->methods[0] ? "only \"" : "",
			 v->methods[0] ? v->methods : "no reset method", v->methods[0] ? "\"" : "");
	if (!strcmp(want, "all"))
		return say(why, len, ENOTSUP, "%s: the kernel %s for it and VFIO cannot reset its bus: "
			   "nothing to measure; such a device comes back clean only from a reset of "
			   "the bridge above it or a host reboot (put it alone behind a root port "
			   "for a bus reset, or choose a device with FLR: lspci -vv shows FLReset+)",
			   v->bdf, offered);
	return say(why, len, ENOTSUP, "%s: the kernel %s for it, not %s: --method all measures "
		   "what it offers", v->bdf, offered, want);
}

int bench_reset_choose(struct bench_reset *b, const char *want, char *why, size_t len)
{
	b->nr_methods = 0;
	if (!strcmp(want, "all"))
		choose_all(b);
	else if (!strcmp(want, "bus")) {
		if (can_hot_reset(b))
			add_method(b, "bus", true);
	} else if (!strcmp(want, "flr")) {
		if (all_list(b, "flr"))
			add_method(b, "flr", false);
		else if (all_list(b, "af_flr"))
			add_method(b, "af_flr", false);
	} else if (all_list(b, want)) {
		add_method(b, want, false);
	}
	return b->nr_methods ? 0 : none_offered(b, want, why, len);
}

/* ---- One method's cycles ---- */

static double ms_between(uint64_t from, uint64_t to)
{
	return (double)(to - from) / 1e6;
}

/* Narrows each function's list to m alone, or puts the lists back (m NULL). */
static int narrow(const struct bench_reset *b, const char *m, char *why, size_t len)
{
	int first = 0;

	for (unsigned i = 0; i < b->nr_devs; i++) {
		const struct bench_reset_dev *v = &b->dev[i];
		const char *want = m ? m : v->methods;
		char now[128];
		int err = vfio_reset_methods_write_at(b->root, v->bdf, want);

		/* Putting back goes on past a failure: every function gets its list. */
		if (!err && vfio_reset_methods_read_at(b->root, v->bdf, now, sizeof(now)))
			err = -EIO;
		if (!err && strcmp(now, want))
			err = -EIO;
		if (err && !first) {
			first = say(why, len, -err, "%s: cannot %s \"%s\" in %s/sys/bus/pci/devices/%s/"
				    "reset_method: %s%s", v->bdf, m ? "write" : "put back", want,
				    b->root, v->bdf, strerror(-err), m ? "" : " (write it there by hand)");
			if (m)
				return first;
		}
	}
	return first;
}

/* One cycle's reset of every function: the ioctls, timed. */
static int reset_once(const struct bench_reset *b, const struct bench_reset_method *m,
		      const struct hot *h, char *why, size_t len)
{
	for (unsigned i = 0; i < (m->hot ? 1 : b->nr_devs); i++) {
		const struct bench_reset_dev *v = &b->dev[i];
		int err = m->hot ? hot_reset(b, h) : v->d.sys->ioctl(v->d.fd, VFIO_DEVICE_RESET, NULL);

		if (err)
			return say(why, len, -err, "%s failed on %s: %s", m->hot ?
				   "VFIO_DEVICE_PCI_HOT_RESET" : "VFIO_DEVICE_RESET", v->bdf,
				   strerror(-err));
	}
	return 0;
}

/* Polls until every function is back and the probes pass, or the wait is over. */
static int wait_back(const struct bench_reset *b, uint64_t until, char *why, size_t len,
		     struct bench_reset_look *last, unsigned *which)
{
	const struct vfio_sys *sys = b->sys;

	for (;;) {
		bool back = true;

		for (unsigned i = 0; i < b->nr_devs && back; i++) {
			look(&b->dev[i], last);
			*which = i;
			back = look_back(&b->dev[i], last, why, len);
		}
		if (back && probes_pass(b, why, len))
			return 0;
		if (sys->now_ns() >= until)
			return -ETIMEDOUT;
		usleep(100);
	}
}

static void cycle_failed(const struct bench_reset *b, struct bench_reset_method *m, unsigned cycle,
			 const char *what, const struct bench_reset_look *last, unsigned which)
{
	snprintf(m->failure, sizeof(m->failure), "%s, cycle %u of %u: %s", m->name, cycle,
		 b->cycles, what);
	m->failed_cycle = cycle;
	if (!last)
		return;
	add(m->failure, sizeof(m->failure), "; %s read at the end: ", b->dev[which].bdf);
	say_look(&b->dev[which], last, m->failure, sizeof(m->failure));
	add(m->failure, sizeof(m->failure), " (before the first reset: ");
	say_look(&b->dev[which], &b->dev[which].before, m->failure, sizeof(m->failure));
	add(m->failure, sizeof(m->failure), ")");
}

static int cycles(struct bench_reset *b, struct bench_reset_method *m, const struct hot *h)
{
	const struct vfio_sys *sys = b->sys;
	char what[512];

	for (unsigned c = 1; c <= b->cycles; c++) {
		struct bench_reset_look last;
		unsigned which = 0;
		uint64_t t0, t1, t2;
		int err;

		if (b->stop && *b->stop) {
			m->interrupted = true;
			return -EINTR;
		}
		t0 = sys->now_ns();
		err = reset_once(b, m, h, what, sizeof(what));
		t1 = sys->now_ns();
		if (err) {
			cycle_failed(b, m, c, what, NULL, 0);
			return -EIO;
		}
		err = wait_back(b, t1 + (uint64_t)(b->wait_ms * 1e6), what, sizeof(what), &last,
				&which);
		t2 = sys->now_ns();
		if (err) {
			char said[600];

			snprintf(said, sizeof(said), "%s did not come back within %.0f ms after the "
				 "ioctl: %s", b->dev[which].bdf, b->wait_ms, what);
			cycle_failed(b, m, c, said, &last, which);
			return -EIO;
		}
		m->ioctl_ms[m->done] = ms_between(t0, t1);
		m->back_ms[m->done++] = ms_between(t0, t2);
	}
	return 0;
}

int bench_reset_run(struct bench_reset *b, struct bench_reset_method *m, char *why, size_t len)
{
	struct hot h = { .nr = 0 };
	int ret, put;

	m->done = m->failed_cycle = 0;
	m->interrupted = false;
	m->failure[0] = '\0';
	free(m->ioctl_ms);
	free(m->back_ms);
	m->ioctl_ms = calloc(b->cycles, sizeof(double));
	m->back_ms = calloc(b->cycles, sizeof(double));
	if (!m->ioctl_ms || !m->back_ms)
		return say(why, len, ENOMEM, "%s: out of memory for %u cycles", m->name, b->cycles);
	ret = m->hot ? hot_prepare(b, &h, why, len) : narrow(b, m->name, why, len);
	if (!ret)
		ret = cycles(b, m, &h);
	/* The kernel's own lists back, whatever became of the cycles. */
	if (!m->hot) {
		char put_why[512];

		put = narrow(b, NULL, put_why, sizeof(put_why));
		if (put && (!ret || ret == -EIO || ret == -EINTR)) {
			snprintf(why, len, "%s", put_why);
			ret = put;
		}
	}
	bench_reset_stats_of(m->ioctl_ms, m->done, &m->ioctl);
	bench_reset_stats_of(m->back_ms, m->done, &m->back);
	return ret;
}
