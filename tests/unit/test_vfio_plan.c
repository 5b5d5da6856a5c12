// SPDX-License-Identifier: MIT
/*
 * --vfio's plan on fake hosts: each function's address is parsed once (by
 * the command line), its sysfs entries and its ROM file read once, its
 * slot placed once, and the firmware's window sized from the plan with no
 * read at all, however often the machine is made again.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_host_tree.h"
#include "firmware/firmware.h"
#include "vmm/cli.h"
#include "vmm/q35.h"
#include "vmm/vfio_devices.h"
#include "vmm/vm.h"

#define MiB (1ull << 20)

/* The machine's side, which planning never reaches: vfio_devices.c only links against it. */
int vm_memslot(struct vm *vm, int *slot, uint64_t gpa, uint64_t size, void *hva)
{
	cr_assert_fail("a plan made a memslot");
	return -1;
}

struct pci_platform vm_pci_platform(struct vm *vm, unsigned slot)
{
	cr_assert_fail("a plan asked for the machine's services");
	return (struct pci_platform){ 0 };
}

struct pcie_root_port *q35_root_port(struct vm *vm, unsigned i)
{
	cr_assert_fail("a plan asked for a root port");
	return NULL;
}

int q35_hotplug_fd(struct vm *vm)
{
	cr_assert_fail("a plan asked for the hot-plug eventfd");
	return -1;
}

int vm_pause(struct vm *vm)
{
	cr_assert_fail("a plan paused the vCPUs");
	return -1;
}

void vm_resume(struct vm *vm)
{
	cr_assert_fail("a plan resumed the vCPUs");
}

bool vm_paused(struct vm *vm)
{
	cr_assert_fail("a plan asked whether the vCPUs are paused");
	return false;
}

void vm_request_stop(struct vm *vm, enum vm_stop why, const char *fmt, ...)
{
	cr_assert_fail("a plan stopped the machine");
}

/* ---- Every file and link the plan reads, with how often. ---- */

static struct reads {
	struct { char path[PATH_MAX]; unsigned n; } e[512];
	unsigned n, total;
} rd;

static void count_read(const char *path, void *arg)
{
	struct reads *r = arg;
	unsigned i;

	r->total++;
	for (i = 0; i < r->n && strcmp(r->e[i].path, path); i++)
		;
	if (i == r->n) {
		cr_assert_lt(r->n, 512u);
		snprintf(r->e[r->n++].path, PATH_MAX, "%s", path);
	}
	r->e[i].n++;
}

static unsigned reads_of(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static unsigned reads_of(const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	for (unsigned i = 0; i < rd.n; i++)
		if (!strcmp(rd.e[i].path, path))
			return rd.e[i].n;
	return 0;
}

/* ---- A host with a GPU and its audio in one slot, a NIC in another. ---- */

static struct tree t;
static struct vm_config cfg;
static struct vm_vfio_plan *plan;
static char rom_path[PATH_MAX];
static const char rom[] = "\x55\xaa a ROM image, as a file";

static const char *const fns[] = { "0000:01:00.0", "0000:01:00.1", "0000:02:00.0" };

static void host_setup(void)
{
	tree_init(&t);
	tree_iommu_on(&t);
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:01:00.0", .vendor = 0x10de, .device = 0x2204,
					  .class = 0x030000, .driver = "vfio-pci", .group = 11,
					  .reset = "bus\n" });
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:01:00.1", .vendor = 0x10de, .device = 0x1aef,
					  .class = 0x040300, .driver = "vfio-pci", .group = 11,
					  .reset = "bus\n" });
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:02:00.0", .vendor = 0x8086, .device = 0x1533,
					  .class = 0x020000, .driver = "vfio-pci", .group = 12,
					  .reset = "flr bus\n" });
	snprintf(rom_path, sizeof(rom_path), "%s/gpu.rom", t.root);
	tree_file(&t, "gpu.rom", rom);
	memset(&rd, 0, sizeof(rd));
	plan = NULL;
}

static void host_teardown(void)
{
	vm_vfio_plan_free(plan);
	tree_free(&t);
}

/* cfg from a `vmm run` command line: where the addresses are parsed. */
static void parse(const char *vfio0, const char *vfio1, const char *vfio2)
{
	char a0[PATH_MAX + 64], a1[64], a2[64];
	char *argv[] = { "run", "--firmware", "CODE.fd", "--vfio", a0, "--vfio", a1, "--vfio", a2,
			 NULL };
	int done;

	snprintf(a0, sizeof(a0), "%s", vfio0);
	snprintf(a1, sizeof(a1), "%s", vfio1);
	snprintf(a2, sizeof(a2), "%s", vfio2);
	cr_assert_eq(cli_parse_run(9, argv, &cfg, &done), 0);
	/* No RAM to pin: the memlock check is test_vfio's, and 8 MiB is a common limit. */
	cfg.mem.size = 0;
}

static void make_three(void)
{
	char a0[PATH_MAX + 32];

	snprintf(a0, sizeof(a0), "0000:01:00.0,rom=%s", rom_path);
	parse(a0, "01:00.1", "0000:02:00.0,reset=bus");
	cr_assert_eq(vm_vfio_plan_make_at(&cfg, t.root, count_read, &rd, &plan), 0);
	cr_assert_not_null(plan);
	cr_assert_eq(plan->nr, 3);
}

TestSuite(vfio_plan, .init = host_setup, .fini = host_teardown);

/* What the kernel shows of each function is read once, the scan included. */
Test(vfio_plan, sysfs_read_once_per_function)
{
	static const char *const entries[] = {
		"resource", "reset_method", "vendor", "device", "class", "driver_override",
		"driver", "iommu_group", /* links */
	};

	make_three();
	for (unsigned i = 0; i < 3; i++)
		for (unsigned e = 0; e < sizeof(entries) / sizeof(entries[0]); e++) {
			unsigned n = reads_of("%s/sys/bus/pci/devices/%s/%s", t.root, fns[i],
					      entries[e]);

			cr_expect_eq(n, 1, "%s %s: read %u times", fns[i], entries[e], n);
		}
	for (unsigned i = 0; i < rd.n; i++)
		cr_expect_eq(rd.e[i].n, 1, "%s: read %u times", rd.e[i].path, rd.e[i].n);
}

/* The addresses as the command line parsed them; the plan names them as sysfs does. */
Test(vfio_plan, addresses_parsed_into_the_plan)
{
	make_three();
	for (unsigned i = 0; i < 3; i++)
		cr_expect_str_eq(plan->fn[i].bdf, fns[i]);
	cr_expect_eq(plan->fn[1].cfg->domain, 0);
	cr_expect_eq(plan->fn[1].cfg->bus, 1);
	cr_expect_eq(plan->fn[1].cfg->dev, 0);
	cr_expect_eq(plan->fn[1].cfg->fn, 1);
	cr_expect_eq(plan->fn[2].cfg->bus, 2);
	cr_expect_eq(plan->fn[0].group, 11);
	cr_expect_eq(plan->fn[1].group, 11);
	cr_expect_eq(plan->fn[2].group, 12);
	cr_expect_eq(plan->fn[1].bar_size[1], 256 * MiB);
	cr_expect_eq(plan->fn[2].bar_size[3], 32 * MiB);
}

/* rom=FILE is read once and kept: every boot of the run serves the same bytes. */
Test(vfio_plan, rom_read_once_and_kept)
{
	make_three();
	cr_expect_eq(reads_of("%s", rom_path), 1);
	cr_assert_eq(plan->fn[0].rom_len, sizeof(rom) - 1);
	cr_expect_eq(memcmp(plan->fn[0].rom, rom, sizeof(rom) - 1), 0);
	cr_expect_null(plan->fn[1].rom);
	tree_file(&t, "gpu.rom", "another image");
	cr_expect_eq(memcmp(plan->fn[0].rom, rom, sizeof(rom) - 1), 0);
}

/* reset=bus on a NIC whose kernel tries flr first: to be chosen in reset_method, from the plan. */
Test(vfio_plan, reset_methods_in_the_plan)
{
	make_three();
	cr_expect_str_eq(plan->fn[2].methods, "flr bus");
	cr_expect_str_eq(plan->fn[2].method, "bus");
	cr_expect_str_eq(plan->fn[0].methods, "bus");
	cr_expect_null(plan->fn[0].method, "auto: the kernel's own choice");
}

/* One root port per slot: the GPU and its audio share one, the NIC gets the next. */
Test(vfio_plan, ports_by_slot)
{
	make_three();
	cr_assert_eq(vm_vfio_plan_place(plan), 0);
	cr_expect_eq(plan->fn[0].port, 0);
	cr_expect_eq(plan->fn[1].port, 0);
	cr_expect_eq(plan->fn[2].port, 1);
}

/*
 * The 64-bit window is sized from the plan, without a read: each boot's
 * machine asks again, and the BARs come with the ports the plan gave.
 */
Test(vfio_plan, window_sizing_reads_nothing)
{
	struct ovmf_bar64 bars[16];
	char largest[64];
	unsigned n;

	make_three();
	cr_assert_eq(vm_vfio_plan_place(plan), 0);
	cfg.vfio_plan = plan;
	rd.total = 0;
	for (int boot = 0; boot < 2; boot++) {
		n = vm_vfio_bars64(&cfg, bars, 16, largest, sizeof(largest));
		/* Each function: BAR1 256 MiB and BAR3 32 MiB, 64-bit prefetchable; BAR0 is 32-bit. */
		cr_assert_eq(n, 6);
		for (unsigned i = 0; i < n; i++) {
			cr_expect_eq(bars[i].size, i % 2 ? 32 * MiB : 256 * MiB, "BAR %u", i);
			cr_expect_eq(bars[i].port, i < 4 ? 0 : 1, "BAR %u", i);
		}
		cr_expect_str_eq(largest, "0000:01:00.0 BAR1");
	}
	cr_expect_eq(rd.total, 0, "window sizing read %u files", rd.total);
}

/* --hotplug-reserve pref64 counts once per root port that no --vfio slot takes. */
Test(vfio_plan, reservation_behind_each_free_port)
{
	struct ovmf_bar64 bars[8];
	unsigned n;

	cfg.vfio_plan = NULL;
	cfg.hotplug_reserve.pref64 = 0;
	cr_expect_eq(vm_hotplug_bars64(&cfg, bars, 8), 0, "pref64=0 reserves nothing");
	cfg.hotplug_reserve.pref64 = 256 * MiB;
	n = vm_hotplug_bars64(&cfg, bars, 8);
	cr_assert_eq(n, 4, "no --vfio: every port is free");
	for (unsigned i = 0; i < n; i++)
		cr_expect(bars[i].port == (int)i && bars[i].size == 256 * MiB, "port %u", i);
	make_three();
	cr_assert_eq(vm_vfio_plan_place(plan), 0);
	cfg.vfio_plan = plan;
	cfg.hotplug_reserve.pref64 = 64ULL << 30;
	n = vm_hotplug_bars64(&cfg, bars, 8);
	/* the GPU with its audio on port 0, the NIC on port 1 */
	cr_assert_eq(n, 2);
	cr_expect(bars[0].port == 2 && bars[0].size == 64ULL << 30);
	cr_expect(bars[1].port == 3 && bars[1].size == 64ULL << 30);
	cr_expect_eq(vm_hotplug_bars64(&cfg, bars, 1), 1, "at most cap");
}

/* Nothing to plan: no plan, and nothing read. */
Test(vfio_plan, none)
{
	char *argv[] = { "run", "--firmware", "CODE.fd", NULL };
	int done;

	cr_assert_eq(cli_parse_run(3, argv, &cfg, &done), 0);
	cr_assert_eq(vm_vfio_plan_make_at(&cfg, t.root, count_read, &rd, &plan), 0);
	cr_expect_null(plan);
	cr_expect_eq(rd.total, 0);
	cr_expect_eq(vm_vfio_bars64(&cfg, NULL, 0, NULL, 0), 0);
}

/* An address given twice (in two spellings) is refused before its second plan. */
Test(vfio_plan, given_twice)
{
	parse("0000:01:00.0", "01:00.1", "01:00.0");
	cr_expect_eq(vm_vfio_plan_make_at(&cfg, t.root, count_read, &rd, &plan), -EINVAL);
	cr_expect_null(plan);
	cr_expect_eq(reads_of("%s/sys/bus/pci/devices/0000:01:00.0/resource", t.root), 1);
}

/* A function missing from the host: refused, no plan left. */
Test(vfio_plan, no_such_device)
{
	parse("0000:01:00.0", "0000:7f:1f.7", "0000:02:00.0");
	cr_expect_eq(vm_vfio_plan_make_at(&cfg, t.root, count_read, &rd, &plan), -ENODEV);
	cr_expect_null(plan);
}

/*
 * vm.add-device by a passed fd that is not a VFIO device cdev (this
 * machine's own /sys tells): refused before anything is made, and the fd
 * closed, as the hook promises the API.
 */
Test(vfio_plan, hot_add_by_an_fd_that_is_not_a_vfio_cdev)
{
	struct vm vm = { .cfg = &cfg };
	char id[32], bdf[32], why[512];
	int p[2], null;

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_eq(vm_vfio_add_device(&vm, NULL, p[0], NULL, id, bdf, sizeof(bdf), why,
					sizeof(why)), -EINVAL);
	cr_assert(strstr(why, "the file descriptor passed is not a character device"), "%s", why);
	cr_assert_eq(fcntl(p[0], F_GETFD), -1, "the fd was not closed");
	close(p[1]);
	if (access("/sys/dev/char/1:3", F_OK))
		cr_skip_test("no /sys/dev/char here");
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	cr_assert_eq(vm_vfio_add_device(&vm, NULL, null, NULL, id, bdf, sizeof(bdf), why,
					sizeof(why)), -EINVAL);
	cr_assert(strstr(why, "character device 1:3, not the VFIO cdev of a PCI function"), "%s",
		  why);
	cr_assert_eq(fcntl(null, F_GETFD), -1, "the fd was not closed");
	cr_assert_null(vm.vfio, "nothing made for it");
}
