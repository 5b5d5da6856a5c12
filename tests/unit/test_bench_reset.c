// SPDX-License-Identifier: MIT
/*
 * vmm bench reset's loop (bench/reset_loop.c) on a fake kernel: a struct
 * vfio_sys whose device answers config-space and BAR reads from arrays,
 * counts its resets and can go dead (all ones) after the Nth, over a fake
 * sysfs tree that holds each function's reset_method.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "test_host_tree.h"
#include "bench/reset_loop.h"
#include "vfio/iommufd_abi.h"
#include "vfio/reset_method.h"

#define assert_has(s, sub) cr_assert(strstr((s), (sub)), "\"%s\" lacks \"%s\"", (s), (sub))
#define assert_one_line(s) cr_assert(!strchr((s), '\n'), "not one line: \"%s\"", (s))

enum { CONTAINER_FD = 100, GROUP_FD = 200, DEVICE_FD = 300, MAX_FD = 400, NDEV = 2 };

static const char *const bdfs[NDEV] = { "0000:01:00.0", "0000:01:00.1" };

static struct fake {
	bool open[MAX_FD];
	int opens, closes;
	uint8_t cfg[NDEV][4096];
	uint32_t bar0[NDEV][1024];
	unsigned dead_after;       /* reads all ones after this many resets; 0: never */
	unsigned probe_wrong_after; /* BAR0's ID reads wrong after this many; 0: never */
	bool no_reset;             /* VFIO_DEVICE_FLAGS_RESET not given */
	unsigned resets, hot_resets;
	char method_at_reset[64];  /* reset_method of function 0 at the last reset */
	/* hot reset info: the functions a bus reset takes */
	bool hot;
	uint32_t hot_flags;
	struct vfio_pci_dependent_device deps[4];
	unsigned nr_deps;
	int hot_fds[8];
	unsigned hot_count;
	unsigned stop_at;          /* sets the stop flag at this reset */
	uint64_t clock;
} fk;

static struct tree t;
static volatile sig_atomic_t stop;

static int fake_open(const char *path, int flags)
{
	const char *node = strstr(path, "/dev/vfio/");
	int fd;

	cr_assert_not_null(node, "open of %s", path);
	node += strlen("/dev/vfio/");
	fd = !strcmp(node, "vfio") ? CONTAINER_FD : GROUP_FD + atoi(node);
	cr_assert(!fk.open[fd], "fd %d opened twice", fd);
	fk.open[fd] = true;
	fk.opens++;
	return fd;
}

static int fake_close(int fd)
{
	cr_assert(fk.open[fd], "close of fd %d, which is not open", fd);
	fk.open[fd] = false;
	fk.closes++;
	return 0;
}

static uint64_t fake_now(void)
{
	return fk.clock += 1000000; /* a millisecond a look */
}

static int device_fd(const char *name)
{
	for (int i = 0; i < NDEV; i++)
		if (!strcmp(name, bdfs[i])) {
			cr_assert(!fk.open[DEVICE_FD + i]);
			fk.open[DEVICE_FD + i] = true;
			fk.opens++;
			return DEVICE_FD + i;
		}
	return -ENODEV;
}

static int region_info(struct vfio_region_info *info)
{
	if (info->index >= VFIO_PCI_NUM_REGIONS)
		return -EINVAL;
	info->offset = (uint64_t)info->index << 40;
	info->size = info->index == 0 ? 4096 : info->index == VFIO_PCI_CONFIG_REGION_INDEX ? 4096 : 0;
	info->flags = info->size ? VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE : 0;
	return 0;
}

static int hot_info(struct vfio_pci_hot_reset_info *info)
{
	if (!fk.hot)
		return -ENODEV;
	if (info->argsz < sizeof(*info) + fk.nr_deps * sizeof(info->devices[0])) {
		info->count = fk.nr_deps;
		return -ENOSPC;
	}
	info->flags = fk.hot_flags;
	info->count = fk.nr_deps;
	memcpy(info->devices, fk.deps, fk.nr_deps * sizeof(fk.deps[0]));
	return 0;
}

static void count_reset(void)
{
	char *m;

	fk.resets++;
	m = tree_read(&t, "sys/bus/pci/devices/0000:01:00.0/reset_method");
	snprintf(fk.method_at_reset, sizeof(fk.method_at_reset), "%s", m ? m : "(none)");
	free(m);
	if (fk.stop_at && fk.resets == fk.stop_at)
		stop = 1;
}

static int device_ioctl(unsigned long req, void *arg)
{
	struct vfio_device_info *info = arg;
	struct vfio_pci_hot_reset *hr = arg;

	switch (req) {
	case VFIO_DEVICE_GET_INFO:
		info->flags = VFIO_DEVICE_FLAGS_PCI | (fk.no_reset ? 0 : VFIO_DEVICE_FLAGS_RESET);
		info->num_regions = VFIO_PCI_NUM_REGIONS;
		info->num_irqs = 0;
		return 0;
	case VFIO_DEVICE_GET_REGION_INFO:
		return region_info(arg);
	case VFIO_DEVICE_RESET:
		count_reset();
		return 0;
	case VFIO_DEVICE_GET_PCI_HOT_RESET_INFO:
		return hot_info(arg);
	case VFIO_DEVICE_PCI_HOT_RESET:
		cr_assert(hr->argsz >= sizeof(*hr) + hr->count * sizeof(int32_t));
		fk.hot_count = hr->count;
		memcpy(fk.hot_fds, hr->group_fds, hr->count * sizeof(int32_t));
		fk.hot_resets++;
		count_reset();
		return 0;
	}
	return -ENOTTY;
}

static int fake_ioctl(int fd, unsigned long req, void *arg)
{
	cr_assert(fk.open[fd], "ioctl on fd %d, which is not open", fd);
	if (fd >= DEVICE_FD)
		return device_ioctl(req, arg);
	switch (req) {
	case VFIO_GET_API_VERSION:
		return VFIO_API_VERSION;
	case VFIO_CHECK_EXTENSION:
		return (uintptr_t)arg == VFIO_TYPE1v2_IOMMU;
	case VFIO_GROUP_GET_STATUS:
		((struct vfio_group_status *)arg)->flags = VFIO_GROUP_FLAGS_VIABLE;
		return 0;
	case VFIO_GROUP_GET_DEVICE_FD:
		return device_fd(arg);
	}
	return 0; /* SET_CONTAINER, SET_IOMMU, UNSET_CONTAINER */
}

static bool dead(void)
{
	return fk.dead_after && fk.resets >= fk.dead_after;
}

static ssize_t fake_pread(int fd, void *buf, size_t n, off_t off)
{
	unsigned dev = (unsigned)(fd - DEVICE_FD), index = (unsigned)(off >> 40);
	uint64_t at = (uint64_t)off & ((1ull << 40) - 1);

	cr_assert(dev < NDEV && fk.open[fd]);
	if (dead()) {
		memset(buf, 0xff, n);
		return (ssize_t)n;
	}
	if (index == VFIO_PCI_CONFIG_REGION_INDEX)
		memcpy(buf, &fk.cfg[dev][at], n);
	else if (index == 0)
		memcpy(buf, (uint8_t *)fk.bar0[dev] + at, n);
	else
		return -EINVAL;
	if (index == 0 && at == 0 && fk.probe_wrong_after && fk.resets >= fk.probe_wrong_after)
		memset(buf, 0, n);
	return (ssize_t)n;
}

/* BAR0 at 0x4 as edu's liveness register: it reads back what was written, inverted. */
static ssize_t fake_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	unsigned dev = (unsigned)(fd - DEVICE_FD);
	uint64_t at = (uint64_t)off & ((1ull << 40) - 1);
	uint32_t v;

	cr_assert(dev < NDEV && (off >> 40) == 0 && n == 4);
	memcpy(&v, buf, 4);
	fk.bar0[dev][at / 4] = at == 4 ? ~v : v;
	return (ssize_t)n;
}

static const struct vfio_sys fake_sys = {
	.open = fake_open, .ioctl = fake_ioctl, .close = fake_close, .now_ns = fake_now,
	.pread = fake_pread, .pwrite = fake_pwrite,
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

/* An edu-like PCIe endpoint: a link at x1, AER, BAR0 with its ID register. */
static void fake_config(unsigned dev)
{
	uint8_t *c = fk.cfg[dev];

	put16(c, 0x1234);
	put16(c + 2, 0x11e8);
	put16(c + 4, 0x0006);
	put16(c + 6, 0x0010);
	put32(c + 8, 0x00ff0010);
	put32(c + 0x10, 0xfe000000);
	c[0x34] = 0x40;
	c[0x40] = 0x10;                /* PCI Express, the list's last */
	c[0x42] = 0x02;                /* an endpoint, version 2 */
	put16(c + 0x52, 0x0011);       /* Link Status: 2.5 GT/s x1 */
	put32(c + 0x100, 0x00020001);  /* AER, the last extended capability */
	fk.bar0[dev][0] = 0x010000ed;
}

static void setup(void)
{
	memset(&fk, 0, sizeof(fk));
	stop = 0;
	tree_init(&t);
	for (unsigned i = 0; i < NDEV; i++) {
		tree_dev(&t, &(struct fake_dev){ .bdf = bdfs[i], .vendor = 0x1234, .device = 0x11e8,
						 .class = 0x00ff00, .driver = "vfio-pci", .group = 5 + (int)i,
						 .reset = "flr bus\n" });
		fake_config(i);
	}
}

static void teardown(void)
{
	tree_free(&t);
}

TestSuite(bench_reset, .init = setup, .fini = teardown);

static struct bench_reset b;
static char why[1024];

/* b over the fake kernel and tree with the first n functions, opened. */
static void open_bench(unsigned n, unsigned cycles)
{
	b = (struct bench_reset){ .sys = &fake_sys, .root = t.root, .cycles = cycles, .wait_ms = 50,
				  .nr_devs = n, .stop = &stop };
	for (unsigned i = 0; i < n; i++)
		snprintf(b.dev[i].bdf, sizeof(b.dev[i].bdf), "%s", bdfs[i]);
	cr_assert_eq(bench_reset_open(&b, why, sizeof(why)), 0, "%s", why);
}

static void add_probe(const char *spec)
{
	cr_assert_eq(bench_reset_probe_parse(spec, &b.probe[b.nr_probes++], why, sizeof(why)), 0,
		     "%s", why);
}

static void assert_methods_back(void)
{
	char now[128];

	for (unsigned i = 0; i < b.nr_devs; i++) {
		cr_assert_eq(vfio_reset_methods_read_at(t.root, bdfs[i], now, sizeof(now)), 0);
		cr_assert_str_eq(now, "flr bus", "%s: reset_method left as \"%s\"", bdfs[i], now);
	}
}

static void close_bench(void)
{
	bench_reset_close(&b);
	cr_assert_eq(fk.opens, fk.closes, "%d opens, %d closes", fk.opens, fk.closes);
}

/* Acceptance 3: the device reads all ones from the 7th reset on. */
Test(bench_reset, stops_at_the_cycle_that_did_not_come_back)
{
	open_bench(1, 100);
	fk.dead_after = 7;
	cr_assert_eq(bench_reset_choose(&b, "flr", why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(bench_reset_run(&b, &b.m[0], why, sizeof(why)), -EIO);
	cr_assert_eq(fk.resets, 7, "went on after the failure: %u resets", fk.resets);
	cr_assert_eq(b.m[0].failed_cycle, 7);
	cr_assert_eq(b.m[0].done, 6);
	assert_one_line(b.m[0].failure);
	assert_has(b.m[0].failure, "flr, cycle 7 of 100");
	assert_has(b.m[0].failure, "0000:01:00.0 did not come back");
	assert_has(b.m[0].failure, "config space reads all ones");
	/* What it read, and what it was before. */
	assert_has(b.m[0].failure, "vendor 0xffff command 0xffff class/revision 0xffffffff");
	assert_has(b.m[0].failure, "Link Status 0xffff");
	assert_has(b.m[0].failure, "before the first reset: vendor 0x1234 command 0x0006");
	cr_assert_eq(b.m[0].back.n, 6);
	assert_methods_back();
	close_bench();
}

Test(bench_reset, narrows_reset_method_for_the_cycles_and_puts_it_back)
{
	open_bench(1, 20);
	add_probe("bar0+0x0=0x010000ed");
	add_probe("bar0+0x4:w=0x5a5aa5a5,r=0xa5a55a5a");
	cr_assert_eq(bench_reset_choose(&b, "all", why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(b.nr_methods, 1, "bus without a hot reset: only flr");
	cr_assert_str_eq(b.m[0].name, "flr");
	cr_assert_eq(bench_reset_run(&b, &b.m[0], why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(fk.resets, 20);
	cr_assert_eq(b.m[0].done, 20);
	cr_assert_str_eq(fk.method_at_reset, "flr", "reset with reset_method \"%s\"",
			 fk.method_at_reset);
	assert_methods_back();
	/* The fake clock: a millisecond for each look at the clock. */
	cr_assert_eq(b.m[0].ioctl.median, 1.0);
	cr_assert(b.m[0].back.min >= b.m[0].ioctl.max);
	close_bench();
}

Test(bench_reset, a_probe_that_reads_wrong_fails_its_cycle)
{
	open_bench(1, 10);
	add_probe("bar0+0x0=0x010000ed");
	fk.probe_wrong_after = 3;
	cr_assert_eq(bench_reset_choose(&b, "flr", why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(bench_reset_run(&b, &b.m[0], why, sizeof(why)), -EIO);
	cr_assert_eq(b.m[0].failed_cycle, 3);
	assert_has(b.m[0].failure, "probe bar0+0x0=0x010000ed read 0x00000000");
	assert_methods_back();
	close_bench();
}

Test(bench_reset, a_stop_ends_the_method_and_puts_the_list_back)
{
	open_bench(1, 100);
	fk.stop_at = 3;
	cr_assert_eq(bench_reset_choose(&b, "flr", why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(bench_reset_run(&b, &b.m[0], why, sizeof(why)), -EINTR);
	cr_assert(b.m[0].interrupted);
	cr_assert_eq(b.m[0].done, 3);
	assert_methods_back();
	close_bench();
}

Test(bench_reset, no_reset_method_is_one_line_naming_what_the_kernel_offers)
{
	cr_assert_eq(vfio_reset_methods_write_at(t.root, bdfs[0], ""), 0);
	fk.no_reset = true;
	open_bench(1, 10);
	cr_assert_eq(bench_reset_choose(&b, "all", why, sizeof(why)), -ENOTSUP);
	assert_one_line(why);
	assert_has(why, "0000:01:00.0: the kernel offers no reset method for it");
	assert_has(why, "nothing to measure");
	assert_has(why, "FLReset+");
	close_bench();
}

Test(bench_reset, a_method_not_offered_names_those_that_are)
{
	open_bench(1, 10);
	cr_assert_eq(bench_reset_choose(&b, "pm", why, sizeof(why)), -ENOTSUP);
	assert_one_line(why);
	assert_has(why, "offers only \"flr bus\" for it, not pm");
	close_bench();
}

static void dep(unsigned i, uint32_t group_or_devid, unsigned fn)
{
	fk.deps[i] = (struct vfio_pci_dependent_device){ .group_id = group_or_devid, .bus = 1,
							  .devfn = (uint8_t)fn };
	fk.nr_deps = i + 1;
}

Test(bench_reset, a_bus_reset_needs_every_function_it_takes)
{
	fk.hot = true;
	dep(0, 5, 0);
	dep(1, 6, 1);
	open_bench(1, 5);
	cr_assert_eq(bench_reset_choose(&b, "bus", why, sizeof(why)), 0, "%s", why);
	cr_assert(b.m[0].hot);
	cr_assert_eq(bench_reset_run(&b, &b.m[0], why, sizeof(why)), -EPERM);
	assert_one_line(why);
	assert_has(why, "also resets 0000:01:00.1 (IOMMU group 6)");
	assert_has(why, "vmm host bind 0000:01:00.1");
	cr_assert_eq(fk.hot_resets, 0);
	close_bench();
}

Test(bench_reset, a_bus_reset_of_a_whole_slot_proves_both_groups)
{
	fk.hot = true;
	dep(0, 5, 0);
	dep(1, 6, 1);
	open_bench(2, 5);
	cr_assert_eq(bench_reset_choose(&b, "all", why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(b.nr_methods, 2);
	cr_assert_str_eq(b.m[1].name, "bus");
	cr_assert_eq(bench_reset_run(&b, &b.m[1], why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(fk.hot_resets, 5);
	cr_assert_eq(fk.hot_count, 2);
	cr_assert_eq(fk.hot_fds[0], GROUP_FD + 5);
	cr_assert_eq(fk.hot_fds[1], GROUP_FD + 6);
	/* A hot reset leaves reset_method alone. */
	cr_assert_str_eq(fk.method_at_reset, "flr bus\n");
	close_bench();
}

Test(bench_reset, a_bus_reset_under_iommufd_names_a_function_not_owned)
{
	fk.hot = true;
	fk.hot_flags = VFIO_PCI_HOT_RESET_FLAG_DEV_ID;
	dep(0, 1, 0);
	dep(1, (uint32_t)VFIO_PCI_DEVID_NOT_OWNED, 1);
	open_bench(1, 5);
	cr_assert_eq(bench_reset_choose(&b, "bus", why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(bench_reset_run(&b, &b.m[0], why, sizeof(why)), -EPERM);
	assert_has(why, "also resets 0000:01:00.1, which is not opened here");
	/* All owned: the zero-length fd array, the iommufd being the proof. */
	fk.hot_flags |= VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED;
	fk.deps[1].group_id = 2;
	cr_assert_eq(bench_reset_run(&b, &b.m[0], why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(fk.hot_count, 0);
	cr_assert_eq(fk.hot_resets, 5);
	close_bench();
}

Test(bench_reset, stats_of_known_samples)
{
	double v[100], three[3] = { 5, 1, 3 };
	struct bench_reset_stats s;

	for (int i = 0; i < 100; i++)
		v[i] = 100 - i;
	bench_reset_stats_of(v, 100, &s);
	cr_assert_eq(s.n, 100);
	cr_assert_eq(s.min, 1);
	cr_assert_eq(s.median, 50.5);
	cr_assert_eq(s.p99, 99);
	cr_assert_eq(s.max, 100);
	cr_assert_eq(v[0], 100, "the samples were reordered");
	bench_reset_stats_of(three, 3, &s);
	cr_assert_eq(s.median, 3);
	cr_assert_eq(s.p99, 5);
	bench_reset_stats_of(v, 0, &s);
	cr_assert_eq(s.median, -1);
}

Test(bench_reset, probe_specs)
{
	struct bench_reset_probe p;

	cr_assert_eq(bench_reset_probe_parse("bar0+0x0=0x010000ed", &p, why, sizeof(why)), 0);
	cr_assert(p.bar == 0 && p.off == 0 && !p.write && p.expect == 0x010000ed);
	cr_assert_eq(bench_reset_probe_parse("bar2+16:w=1,r=0xfffffffe", &p, why, sizeof(why)), 0);
	cr_assert(p.bar == 2 && p.off == 16 && p.write && p.value == 1 && p.expect == 0xfffffffe);
}

Test(bench_reset, bad_probe_specs_are_each_named)
{
	static const struct { const char *spec, *said; } bad[] = {
		{ "0x10=1", "starts with the BAR" },
		{ "bar6+0=1", "a BAR is bar0 to bar5" },
		{ "bar10+0=1", "a BAR is bar0 to bar5" },
		{ "bar0=1", "the BAR's offset comes next" },
		{ "bar0+zz=1", "offset 'zz' is not a number" },
		{ "bar0+0x3=1", "offset 0x3 is not a multiple of 4" },
		{ "bar0+0x4", "=VALUE or :w=VALUE,r=EXPECT" },
		{ "bar0+0x4=0x100000000", "'0x100000000' is not a 32-bit number" },
		{ "bar0+0x4=", "'' is not a 32-bit number" },
		{ "bar0+0x4:w=1", "a write needs what to read back" },
		{ "bar0+0x4:w=x,r=1", "'x' is not a 32-bit number" },
		{ "bar0+0x4:w=1,r=-1", "'-1' is not a 32-bit number" },
	};
	struct bench_reset_probe p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(bench_reset_probe_parse(bad[i].spec, &p, why, sizeof(why)), -EINVAL,
			     "%s accepted", bad[i].spec);
		assert_one_line(why);
		assert_has(why, bad[i].spec);
		assert_has(why, bad[i].said);
	}
}

Test(bench_reset, a_probe_past_the_bar_is_refused_at_open)
{
	b = (struct bench_reset){ .sys = &fake_sys, .root = t.root, .cycles = 1, .wait_ms = 50,
				  .nr_devs = 1 };
	snprintf(b.dev[0].bdf, sizeof(b.dev[0].bdf), "%s", bdfs[0]);
	add_probe("bar0+0x1000=1");
	cr_assert_eq(bench_reset_open(&b, why, sizeof(why)), -EINVAL);
	assert_has(why, "BAR0 of 0000:01:00.0 is 0x1000 bytes");
	cr_assert_eq(fk.opens, fk.closes);
}
