// SPDX-License-Identifier: MIT
/*
 * The host's own devices: the controller that holds the root filesystem and
 * the NIC that carries the default route. Part of the model (host_load()):
 * `vmm run --vfio` refuses a group with one of them, and `vmm host` calls
 * such a group unsafe.
 */
#include "host_sysfs.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The deepest PCI function on a sysfs device path: the controller. */
static struct host_dev *dev_on_path(const struct host *h, const char *real)
{
	struct host_dev *found = NULL;
	char comp[PATH_MAX];

	snprintf(comp, sizeof(comp), "%s", real);
	for (char *save = NULL, *tok = strtok_r(comp, "/", &save); tok;
	     tok = strtok_r(NULL, "/", &save)) {
		struct host_dev *d = host_find(h, tok);

		if (d)
			found = d;
	}
	return found;
}

static void mark(const struct host *h, const char *rel, const char *why)
{
	char path[PATH_MAX], real[PATH_MAX];

	if (host_path(h, path, sizeof(path), "%s", rel) || !realpath(path, real))
		return;
	struct host_dev *d = dev_on_path(h, real);

	if (d && !d->critical[0])
		snprintf(d->critical, sizeof(d->critical), "%s", why);
}

/* A block device and, for dm/md/LVM, the disks under it. */
static void mark_block(const struct host *h, const char *name, int depth)
{
	char rel[PATH_MAX], path[PATH_MAX];

	if (depth > 8 || strchr(name, '/'))
		return;
	snprintf(rel, sizeof(rel), "sys/class/block/%s", name);
	mark(h, rel, "holds the root filesystem");
	snprintf(rel, sizeof(rel), "sys/class/block/%s/slaves", name);
	if (host_path(h, path, sizeof(path), "%s", rel))
		return;
	DIR *dir = opendir(path);

	for (struct dirent *e; dir && (e = readdir(dir));) {
		if (e->d_name[0] != '.')
			mark_block(h, e->d_name, depth + 1);
	}
	if (dir)
		closedir(dir);
}

/* The last mount on "/" in mountinfo: "ID PARENT MAJ:MIN ROOT / ... - TYPE SOURCE ...". */
static void mark_root_disk(const struct host *h)
{
	char path[PATH_MAX], line[4096], devno[32] = "", source[256] = "";

	if (host_path(h, path, sizeof(path), "proc/self/mountinfo"))
		return;
	FILE *f = fopen(path, "re");

	while (f && fgets(line, sizeof(line), f)) {
		char mm[32], mnt[1024], *sep = strstr(line, " - ");
		char src[256];

		if (sscanf(line, "%*s %*s %31s %*s %1023s", mm, mnt) != 2 || strcmp(mnt, "/") || !sep)
			continue;
		snprintf(devno, sizeof(devno), "%s", mm);
		if (sscanf(sep + 3, "%*s %255s", src) == 1)
			snprintf(source, sizeof(source), "%s", src);
	}
	if (f)
		fclose(f);
	/* A block device's name is what sys/dev/block/MAJ:MIN points at. */
	char name[HOST_NAME_LEN];

	if (devno[0] && !host_link_name(h, name, sizeof(name), "sys/dev/block/%s", devno))
		mark_block(h, name, 0);
	else if (!strncmp(source, "/dev/", 5))
		mark_block(h, source + 5, 0);
}

static void mark_iface(const struct host *h, const char *iface)
{
	char rel[PATH_MAX];

	if (strchr(iface, '/') || !strcmp(iface, "lo"))
		return;
	snprintf(rel, sizeof(rel), "sys/class/net/%s/device", iface);
	mark(h, rel, "carries the default route");
}

/* The NICs of the IPv4 and IPv6 default routes. */
static void mark_route_nic(const struct host *h)
{
	char path[PATH_MAX], line[512], iface[64], dst[64], mask[64], plen[8];

	if (!host_path(h, path, sizeof(path), "proc/net/route")) {
		FILE *f = fopen(path, "re");

		while (f && fgets(line, sizeof(line), f)) {
			if (sscanf(line, "%63s %63s %*s %*s %*s %*s %*s %63s", iface, dst, mask) == 3 &&
			    !strcmp(dst, "00000000") && !strcmp(mask, "00000000"))
				mark_iface(h, iface);
		}
		if (f)
			fclose(f);
	}
	if (!host_path(h, path, sizeof(path), "proc/net/ipv6_route")) {
		FILE *f = fopen(path, "re");

		while (f && fgets(line, sizeof(line), f)) {
			if (sscanf(line, "%63s %7s %*s %*s %*s %*s %*s %*s %*s %63s", dst, plen, iface) == 3 &&
			    !strcmp(plen, "00") && strspn(dst, "0") == 32)
				mark_iface(h, iface);
		}
		if (f)
			fclose(f);
	}
}

void host_mark_critical(struct host *h)
{
	mark_root_disk(h);
	mark_route_nic(h);
}
