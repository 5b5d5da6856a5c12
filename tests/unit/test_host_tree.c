// SPDX-License-Identifier: MIT
/* Fake hosts for the `vmm host` tests (see test_host_tree.h). */
#include "test_host_tree.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void mkdirs(const char *path)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		cr_assert(!mkdir(dir, 0755) || errno == EEXIST, "mkdir %s: %s", dir, strerror(errno));
		*p = '/';
	}
}

static void abs_path(const struct tree *t, const char *rel, char *buf)
{
	int n = snprintf(buf, PATH_MAX, "%s/%s", t->root, rel);

	cr_assert(n > 0 && n < PATH_MAX, "path too long: %s", rel);
}

void tree_file(struct tree *t, const char *rel, const char *content)
{
	char path[PATH_MAX];

	abs_path(t, rel, path);
	mkdirs(path);
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(content, f);
	fclose(f);
}

/* A relative link, as sysfs makes them: rel -> target_rel, both from the root. */
void tree_symlink(struct tree *t, const char *rel, const char *target_rel)
{
	char path[PATH_MAX], target[PATH_MAX] = "";

	for (const char *p = rel; *p; p++) {
		if (*p == '/')
			strcat(target, "../");
	}
	strcat(target, target_rel);
	abs_path(t, rel, path);
	mkdirs(path);
	cr_assert(!symlink(target, path), "symlink %s: %s", path, strerror(errno));
}

void tree_remove(struct tree *t, const char *rel)
{
	char path[PATH_MAX];

	abs_path(t, rel, path);
	cr_assert(!remove(path), "remove %s: %s", path, strerror(errno));
}

char *tree_read(struct tree *t, const char *rel)
{
	char path[PATH_MAX], *buf = NULL;
	size_t len = 0;

	abs_path(t, rel, path);
	FILE *f = fopen(path, "r");

	if (!f)
		return NULL;
	getdelim(&buf, &len, '\0', f);
	fclose(f);
	return buf ? buf : strdup("");
}

char *tree_link(struct tree *t, const char *rel)
{
	char path[PATH_MAX], target[PATH_MAX];

	abs_path(t, rel, path);
	ssize_t n = readlink(path, target, sizeof(target) - 1);

	if (n < 0)
		return NULL;
	target[n] = '\0';
	return strdup(target);
}

/* The device's real directory under sys/devices, from the bus's link to it. */
static void dev_dir(struct tree *t, const char *bdf, char *buf)
{
	char rel[PATH_MAX];

	snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s", bdf);
	char *target = tree_link(t, rel);

	cr_assert_not_null(target, "no device %s in the fake tree", bdf);
	snprintf(buf, PATH_MAX, "sys/%s", strstr(target, "devices/"));
	free(target);
}

static void driver_dir(struct tree *t, const char *name)
{
	char rel[PATH_MAX];

	snprintf(rel, sizeof(rel), "sys/bus/pci/drivers/%s/unbind", name);
	tree_file(t, rel, "");
	snprintf(rel, sizeof(rel), "sys/bus/pci/drivers/%s/bind", name);
	tree_file(t, rel, "");
}

static void link_driver(struct tree *t, const char *bdf, const char *name)
{
	char dir[PATH_MAX], rel[PATH_MAX + 16], target[PATH_MAX];

	dev_dir(t, bdf, dir);
	snprintf(rel, sizeof(rel), "%s/driver", dir);
	snprintf(target, sizeof(target), "sys/bus/pci/drivers/%s", name);
	tree_symlink(t, rel, target);
}

static void dev_attr(struct tree *t, const char *dir, const char *attr, const char *value)
{
	char rel[PATH_MAX + 64];

	snprintf(rel, sizeof(rel), "%s/%s", dir, attr);
	tree_file(t, rel, value);
}

/* BARs as a GPU has them: 16 MiB registers, 256 MiB and 32 MiB prefetchable 64-bit, I/O, a ROM. */
static const char resource[] =
	"0x00000000f6000000 0x00000000f6ffffff 0x0000000000040200\n"
	"0x00000000e0000000 0x00000000efffffff 0x000000000014220c\n"
	"0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
	"0x00000000f0000000 0x00000000f1ffffff 0x000000000014220c\n"
	"0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
	"0x000000000000e000 0x000000000000e07f 0x0000000000040101\n"
	"0x00000000f7000000 0x00000000f707ffff 0x0000000000046200\n";

static void dev_attrs(struct tree *t, const char *dir, const struct fake_dev *d)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "0x%04x\n", d->vendor);
	dev_attr(t, dir, "vendor", buf);
	snprintf(buf, sizeof(buf), "0x%04x\n", d->device);
	dev_attr(t, dir, "device", buf);
	snprintf(buf, sizeof(buf), "0x%06x\n", d->class);
	dev_attr(t, dir, "class", buf);
	dev_attr(t, dir, "driver_override", "(null)\n");
	dev_attr(t, dir, "numa_node", "0\n");
	dev_attr(t, dir, "local_cpulist", "0-7\n");
	dev_attr(t, dir, "current_link_speed", "2.5 GT/s PCIe\n");
	dev_attr(t, dir, "current_link_width", "16\n");
	dev_attr(t, dir, "max_link_speed", "16.0 GT/s PCIe\n");
	dev_attr(t, dir, "max_link_width", "16\n");
	dev_attr(t, dir, "resource", resource);
	if (d->reset)
		dev_attr(t, dir, "reset_method", d->reset);
	if (d->class >> 8 == 0x0300) {
		dev_attr(t, dir, "boot_vga", d->boot_vga ? "1\n" : "0\n");
		dev_attr(t, dir, "resource1_resize", "0000000000003f00\n");
	}
}

void tree_dev(struct tree *t, const struct fake_dev *d)
{
	char dir[PATH_MAX], rel[PATH_MAX + 64], parent[PATH_MAX] = "sys/devices/pci0000:00";

	if (d->under)
		dev_dir(t, d->under, parent);
	snprintf(dir, sizeof(dir), "%s/%s", parent, d->bdf);
	dev_attrs(t, dir, d);
	snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s", d->bdf);
	tree_symlink(t, rel, dir);
	if (d->driver) {
		driver_dir(t, d->driver);
		link_driver(t, d->bdf, d->driver);
		cr_assert(t->n_native < 32);
		snprintf(t->native[t->n_native].bdf, HOST_BDF_LEN, "%s", d->bdf);
		snprintf(t->native[t->n_native++].driver, HOST_NAME_LEN, "%s", d->driver);
	}
	if (d->group >= 0) {
		char group[64];

		snprintf(group, sizeof(group), "sys/kernel/iommu_groups/%d", d->group);
		snprintf(rel, sizeof(rel), "%s/iommu_group", dir);
		tree_symlink(t, rel, group);
		snprintf(rel, sizeof(rel), "%s/devices/%s", group, d->bdf);
		tree_symlink(t, rel, dir);
		snprintf(rel, sizeof(rel), "%s/type", group);
		tree_file(t, rel, "identity\n");
	}
}

void tree_init(struct tree *t)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->root, sizeof(t->root), "/tmp/vmm-host-test.XXXXXX");
	cr_assert_not_null(mkdtemp(t->root));
	tree_file(t, "sys/bus/pci/drivers_probe", "");
	driver_dir(t, "vfio-pci");
	char groups[PATH_MAX];

	abs_path(t, "sys/kernel/iommu_groups/", groups);
	mkdirs(groups);
	abs_path(t, "sys/bus/pci/devices/", groups);
	mkdirs(groups);
	tree_file(t, "proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/sda2 ro quiet\n");
	tree_file(t, "proc/cpuinfo", "processor\t: 0\nvendor_id\t: GenuineIntel\n"
		  "flags\t\t: fpu vme de pse msr vmx ept\n\n");
	tree_file(t, "proc/self/limits", "Max locked memory         8388608              8388608    bytes\n");
	tree_file(t, "proc/self/status", "Name:\tvmm\nCapEff:\t0000000000000000\n");
	tree_file(t, "proc/meminfo", "MemTotal:       32000000 kB\nHugePages_Total:       0\n"
		  "HugePages_Free:        0\nHugepagesize:       2048 kB\n");
	tree_file(t, "proc/interrupts", "  0:  10  IO-APIC   2-edge      timer\n");
	tree_file(t, "proc/self/mountinfo", "");
	tree_file(t, "dev/kvm", "");
	tree_file(t, "etc/default/grub", "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n"
		  "GRUB_CMDLINE_LINUX=\"\"\n");
}

void tree_iommu_on(struct tree *t)
{
	tree_file(t, "sys/firmware/acpi/tables/DMAR", "DMAR");
	tree_file(t, "proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/sda2 ro quiet intel_iommu=on iommu=pt\n");
	tree_file(t, "proc/interrupts", "  0:  10  IR-IO-APIC   2-edge      timer\n"
		  " 24:  0  IR-PCI-MSI 512000-edge  ahci\n");
	tree_file(t, "sys/module/vfio/refcnt", "1\n");
	tree_file(t, "sys/module/vfio_pci/refcnt", "0\n");
	tree_file(t, "sys/module/vfio_iommu_type1/refcnt", "0\n");
	tree_file(t, "sys/module/iommufd/refcnt", "0\n");
	tree_file(t, "dev/vfio/vfio", "");
}

void tree_root_on_sata(struct tree *t, const char *bdf)
{
	char dir[PATH_MAX], disk[PATH_MAX + 128];

	dev_dir(t, bdf, dir);
	snprintf(disk, sizeof(disk), "%s/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda2", dir);
	tree_file(t, "proc/self/mountinfo",
		  "1 0 0:2 / / rw - rootfs rootfs rw\n"
		  "22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw,errors=remount-ro\n"
		  "23 22 0:21 / /proc rw - proc proc rw\n");
	tree_symlink(t, "sys/dev/block/8:2", disk);
	tree_symlink(t, "sys/class/block/sda2", disk);
	snprintf(disk + strlen(disk), sizeof(disk) - strlen(disk), "/dev");
	tree_file(t, disk, "8:2\n");
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path);
}

void tree_free(struct tree *t)
{
	nftw(t->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(t->log);
	free(t->out);
	t->log = t->out = NULL;
}

/* The kernel's side: unbind drops the driver link, drivers_probe makes one. */
static void sim(const char *root, const char *rel, const char *value, void *arg)
{
	struct tree *t = arg;
	char bdf[HOST_BDF_LEN], link[PATH_MAX], path[PATH_MAX];

	snprintf(bdf, sizeof(bdf), "%s", value);
	snprintf(link, sizeof(link), "sys/bus/pci/devices/%s/driver", bdf);
	abs_path(t, link, path);
	size_t len = strlen(rel);

	if (len > 14 && !strcmp(rel + len - 14, "/driver/unbind")) {
		cr_assert(!unlink(path), "unbind %s: not bound", bdf);
		return;
	}
	if (strcmp(rel, "sys/bus/pci/drivers_probe") || !access(path, F_OK))
		return;
	char ovr_rel[PATH_MAX], *ovr;

	snprintf(ovr_rel, sizeof(ovr_rel), "sys/bus/pci/devices/%s/driver_override", bdf);
	ovr = tree_read(t, ovr_rel);
	ovr[strcspn(ovr, "\n")] = '\0';
	if (ovr[0] && strcmp(ovr, "(null)")) {
		link_driver(t, bdf, ovr);
	} else {
		for (size_t i = 0; i < t->n_native; i++) {
			if (!strcmp(t->native[i].bdf, bdf))
				link_driver(t, bdf, t->native[i].driver);
		}
	}
	free(ovr);
}

int tree_run(struct tree *t, const char *args)
{
	char line[1024], *argv[32];
	int argc = 0;
	size_t out_len, log_len;

	snprintf(line, sizeof(line), "host %s", args);
	for (char *save = NULL, *tok = strtok_r(line, " ", &save); tok && argc < 29;
	     tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	argv[argc++] = "--sysroot";
	argv[argc++] = t->root;
	argv[argc] = NULL;
	free(t->out);
	free(t->log);
	struct host_io io = { .out = open_memstream(&t->out, &out_len),
			      .log = open_memstream(&t->log, &log_len), .sim = sim, .sim_arg = t };
	int ret = host_cmd(argc, argv, &io);

	fclose(io.out);
	fclose(io.log);
	return ret;
}

static FILE *snap;
static size_t snap_root_len;

static int snap_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	const char *rel = path + snap_root_len;
	char target[PATH_MAX];

	if (type == FTW_SL) {
		ssize_t n = readlink(path, target, sizeof(target) - 1);

		target[n < 0 ? 0 : n] = '\0';
		fprintf(snap, "%s -> %s\n", rel, target);
	} else if (type == FTW_F) {
		FILE *f = fopen(path, "r");
		int c;

		fprintf(snap, "%s = ", rel);
		while (f && (c = fgetc(f)) != EOF)
			fputs(c == '\n' ? "\\n" : (char[]){ (char)c, 0 }, snap);
		if (f)
			fclose(f);
		fputc('\n', snap);
	}
	return 0;
}

char *tree_snapshot(struct tree *t)
{
	char *buf = NULL;
	size_t len;

	snap = open_memstream(&buf, &len);
	snap_root_len = strlen(t->root);
	nftw(t->root, snap_one, 16, FTW_PHYS);
	fclose(snap);
	return buf;
}

char *tree_diff(const char *a, const char *b)
{
	char *out = NULL;
	size_t len;
	FILE *f = open_memstream(&out, &len);

	for (const char *line = b; *line;) {
		size_t n = strcspn(line, "\n");
		bool found = false;

		for (const char *p = a; *p && !found;) {
			size_t m = strcspn(p, "\n");

			found = m == n && !strncmp(p, line, n);
			p += m + (p[m] == '\n');
		}
		if (!found)
			fprintf(f, "%.*s\n", (int)n, line);
		line += n + (line[n] == '\n');
	}
	fclose(f);
	return out;
}
