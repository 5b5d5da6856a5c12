// SPDX-License-Identifier: MIT
/*
 * `vmm host groups`, `show` and `check` on fake hosts: the verdicts a user
 * reads before passing a card, for the shapes that break passthrough.
 */
#include <criterion/criterion.h>

#include "said.h"
#include <criterion/redirect.h>

#include <stdio.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_host_tree.h"

static struct tree t;

static void setup(void)
{
	tree_init(&t);
}

static void teardown(void)
{
	tree_free(&t);
}

TestSuite(host, .init = setup, .fini = teardown);

#define assert_out_has(s) cr_assert(strstr(t.out, (s)), "output lacks \"%s\":\n%s", (s), t.out)
#define assert_out_lacks(s) cr_assert(!strstr(t.out, (s)), "output has \"%s\":\n%s", (s), t.out)

/* The functions of a Turing card: VGA, HDMI audio, USB (xHCI), USB-C (UCSI). */
static void turing(const char *slot, int group, const char *under)
{
	char bdf[4][HOST_BDF_LEN];
	static const unsigned ids[] = { 0x1e87, 0x10f8, 0x1ad8, 0x1ad9 };
	static const unsigned classes[] = { 0x030000, 0x040300, 0x0c0330, 0x0c8000 };
	static const char *const drivers[] = { "nvidia", "snd_hda_intel", "xhci_hcd", "nvidia-gpu" };

	for (int f = 0; f < 4; f++) {
		snprintf(bdf[f], HOST_BDF_LEN, "%s.%d", slot, f);
		tree_dev(&t, &(struct fake_dev){ .bdf = bdf[f], .under = under, .vendor = 0x10de,
			 .device = ids[f], .class = classes[f], .driver = drivers[f], .group = group,
			 .reset = f == 0 ? "flr bus\n" : "bus\n" });
	}
}

static void root_port(const char *bdf, int group)
{
	tree_dev(&t, &(struct fake_dev){ .bdf = bdf, .vendor = 0x8086, .device = 0x1901,
		 .class = 0x060400, .driver = "pcieport", .group = group });
}

static void sata(const char *bdf, int group)
{
	tree_dev(&t, &(struct fake_dev){ .bdf = bdf, .vendor = 0x8086, .device = 0xa352,
		 .class = 0x010601, .driver = "ahci", .group = group, .reset = "" });
}

/* Case: two identical GPUs, each with its audio function, each group its own. */
Test(host, two_identical_gpus)
{
	tree_iommu_on(&t);
	root_port("0000:00:01.0", 1);
	root_port("0000:00:01.1", 2);
	for (int i = 0; i < 2; i++) {
		const char *vga = i ? "0000:02:00.0" : "0000:01:00.0";
		const char *hda = i ? "0000:02:00.1" : "0000:01:00.1";
		const char *up = i ? "0000:00:01.1" : "0000:00:01.0";

		tree_dev(&t, &(struct fake_dev){ .bdf = vga, .under = up, .vendor = 0x10de,
			 .device = 0x2204, .class = 0x030000, .driver = "nvidia", .group = 10 + i,
			 .reset = "bus\n" });
		tree_dev(&t, &(struct fake_dev){ .bdf = hda, .under = up, .vendor = 0x10de,
			 .device = 0x1aef, .class = 0x040300, .driver = "snd_hda_intel", .group = 10 + i,
			 .reset = "bus\n" });
	}
	cr_assert_eq(tree_run(&t, "groups --json"), 0);
	assert_out_has("{\"group\":10,\"verdict\":\"together\"");
	assert_out_has("{\"group\":11,\"verdict\":\"together\"");
	assert_out_has("{\"group\":1,\"verdict\":\"unsafe\",\"reason\":\"only bridges");
	cr_assert_eq(tree_run(&t, "show 0000:01:00.0"), 0);
	assert_out_has("identical devices elsewhere: 0000:02:00.0 (an ID rule");
	cr_assert_eq(tree_run(&t, "show 02:00.1 --json"), 0);
	assert_out_has("\"identical\":[\"0000:01:00.1\"]");
}

/* Case: a GPU with audio, USB and USB-C functions in one group: they go together. */
Test(host, gpu_with_audio_usb_usbc)
{
	tree_iommu_on(&t);
	turing("0000:01:00", 1, NULL);
	cr_assert_eq(tree_run(&t, "groups"), 0);
	assert_out_has("IOMMU group 1: safe if all its functions go together: 4 functions of one card");
	assert_out_has("0000:01:00.2  10de:1ad8  USB controller         xhci_hcd");
	assert_out_has("0000:01:00.3  10de:1ad9  serial bus controller  nvidia-gpu");
	assert_out_has("0000:01:00.0  10de:1e87  VGA controller         nvidia           [GPU]");
	cr_assert_eq(tree_run(&t, "show 0000:01:00.0"), 0);
	assert_out_has("functions of the card:\n  0000:01:00.0");
	assert_out_has("  0000:01:00.3  10de:1ad9  serial bus controller  group 1    nvidia-gpu\n");
	assert_out_has("reset methods: flr bus\n");
	assert_out_has("link: 2.5 GT/s PCIe x16 (maximum 16.0 GT/s PCIe x16) below its maximum\n");
	assert_out_has("NUMA node: 0, local CPUs: 0-7\n");
	assert_out_has("  BAR1  256 MiB, memory, 64-bit, prefetchable, resizable (sizes 0x3f00");
	assert_out_has("  BAR5  128 B, I/O\n");
	assert_out_has("  ROM   512 KiB\n");
	assert_out_has("identical devices elsewhere: none\n");
}

/* Case: the GPU's group also holds the root port above it; the bridge stays with the host. */
Test(host, group_shared_with_bridge)
{
	tree_iommu_on(&t);
	root_port("0000:00:01.0", 2);
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:01:00.0", .under = "0000:00:01.0",
		 .vendor = 0x1002, .device = 0x73bf, .class = 0x030000, .driver = "amdgpu",
		 .group = 2, .reset = "bus\n" });
	cr_assert_eq(tree_run(&t, "groups --json"), 0);
	assert_out_has("{\"group\":2,\"verdict\":\"safe\",\"reason\":\"one device; the bridge(s) in "
		       "the group stay with the host\"");
	assert_out_has("\"bdf\":\"0000:00:01.0\",\"class\":\"0x060400\",\"class_name\":\"PCI bridge\"");
	assert_out_has("\"bridge\":true");
}

/* Case: a chipset without ACS: the GPU shares its group with the SATA controller of the root disk. */
Test(host, group_shared_with_root_sata)
{
	tree_iommu_on(&t);
	sata("0000:00:17.0", 7);
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:03:00.0", .vendor = 0x10de, .device = 0x1c82,
		 .class = 0x030000, .driver = "nouveau", .group = 7, .reset = "bus\n" });
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:04:00.0", .vendor = 0x8086, .device = 0x15b8,
		 .class = 0x020000, .driver = "e1000e", .group = 8, .reset = "flr\n" });
	tree_root_on_sata(&t, "0000:00:17.0");
	cr_assert_eq(tree_run(&t, "groups"), 0);
	assert_out_has("IOMMU group 7: unsafe: 0000:00:17.0 (SATA controller) holds the root filesystem\n");
	assert_out_has("0000:00:17.0  8086:a352  SATA controller        ahci             "
		       "[host: holds the root filesystem]");
	assert_out_has("IOMMU group 8: safe to pass: one device alone in its group\n");
}

/* The NIC of the default route is the host's, like the root disk's controller. */
Test(host, default_route_nic_is_critical)
{
	tree_iommu_on(&t);
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:04:00.0", .vendor = 0x8086, .device = 0x15b8,
		 .class = 0x020000, .driver = "e1000e", .group = 8, .reset = "flr\n" });
	tree_symlink(&t, "sys/class/net/eno1/device", "sys/devices/pci0000:00/0000:04:00.0");
	tree_file(&t, "proc/net/route", "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n"
		  "eno1\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
		  "eno1\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n");
	cr_assert_eq(tree_run(&t, "groups"), 0);
	assert_out_has("IOMMU group 8: unsafe: 0000:04:00.0 (Ethernet controller) carries the default route\n");
}

/* Case: IOMMU off: no groups, nothing passable; check fails with the fix for GRUB. */
Test(host, iommu_off)
{
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:01:00.0", .vendor = 0x10de, .device = 0x2204,
		 .class = 0x030000, .driver = "nvidia", .group = -1, .reset = "bus\n" });
	cr_assert_eq(tree_run(&t, "groups"), 1);
	assert_out_has("no IOMMU group: unsafe\n  0000:01:00.0");
	assert_out_has("No IOMMU groups: the IOMMU is off");
	cr_assert_eq(tree_run(&t, "groups --json"), 1);
	assert_out_has("{\"iommu\":false,\"groups\":[{\"group\":-1,\"verdict\":\"unsafe\",\"reason\":"
		       "\"no IOMMU group: the IOMMU is off\"");
	cr_assert_eq(tree_run(&t, "check"), 1);
	assert_out_has("FAIL  iommu                no DMAR or IVRS table, 0 IOMMU groups");
	assert_out_has("fix: turn on VT-d in the firmware setup; then add 'intel_iommu=on iommu=pt' to "
		       "GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, run update-grub");
	assert_out_has("FAIL  vfio_modules");
	assert_out_has("FAIL  interrupt_remapping");
	cr_assert_eq(tree_run(&t, "check --json"), 1);
	assert_out_has("{\"bootloader\":\"grub\"");
	assert_out_has("{\"name\":\"iommu\",\"verdict\":\"fail\"");
}

/* With the IOMMU on, the same check passes, and the params in force are named. */
Test(host, iommu_on_check_ok)
{
	tree_iommu_on(&t);
	turing("0000:01:00", 1, NULL);
	cr_assert_eq(tree_run(&t, "check --memory 4M"), 0);
	assert_out_has("ok    iommu                DMAR table (Intel VT-d) present, 1 IOMMU groups; "
		       "kernel parameters: intel_iommu=on iommu=pt\n");
	assert_out_has("ok    iommu_pt");
	assert_out_has("ok    interrupt_remapping");
	assert_out_has("ok    vfio_modules");
	assert_out_has("ok    memlock");
	assert_out_has("warn  hugepages");
	assert_out_lacks("FAIL");
}

/* The guest's size against the locked-memory limit; ACS override is a warning. */
Test(host, check_memlock_and_acs_override)
{
	tree_iommu_on(&t);
	turing("0000:01:00", 1, NULL);
	tree_file(&t, "proc/cmdline", "intel_iommu=on iommu=pt pcie_acs_override=downstream,multifunction\n");
	cr_assert_eq(tree_run(&t, "check --memory 16G"), 1);
	assert_out_has("FAIL  memlock              locked-memory limit 8388608 bytes, below the guest's 16384 MiB");
	assert_out_has("warn  acs_override         pcie_acs_override is in force");
	assert_out_has("kernel parameters: intel_iommu=on iommu=pt pcie_acs_override=downstream,multifunction");
	tree_file(&t, "proc/self/status", "CapEff:\t000001ffffffffff\n");
	cr_assert_eq(tree_run(&t, "check --memory 16G"), 0);
	assert_out_has("ok    memlock              locked-memory limit 8388608 bytes, but CAP_IPC_LOCK lifts it");
}

/* Case: the boot VGA GPU: the host's console; unsafe, with that reason. */
Test(host, boot_vga_gpu)
{
	tree_iommu_on(&t);
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:01:00.0", .vendor = 0x1002, .device = 0x73bf,
		 .class = 0x030000, .driver = "amdgpu", .group = 3, .boot_vga = true, .reset = "bus\n" });
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:02:00.0", .vendor = 0x1002, .device = 0x73bf,
		 .class = 0x030000, .driver = "amdgpu", .group = 4, .reset = "bus\n" });
	cr_assert_eq(tree_run(&t, "groups"), 0);
	assert_out_has("IOMMU group 3: unsafe: 0000:01:00.0 is the boot VGA device: the host's console is on it\n");
	assert_out_has("amdgpu           [GPU] [boot VGA]\n");
	assert_out_has("IOMMU group 4: safe to pass");
}

/* Case: no reset method (no reset_method file): still passable, with a warning in show. */
Test(host, no_reset_method)
{
	tree_iommu_on(&t);
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:00:03.0", .vendor = 0x1234, .device = 0x11e8,
		 .class = 0x00ff00, .group = 5 });
	cr_assert_eq(tree_run(&t, "show 00:03.0"), 0);
	assert_out_has("0000:00:03.0  1234:11e8  unclassified device, driver (none)\n");
	assert_out_has("IOMMU group 5: safe: one device alone in its group\n");
	assert_out_has("reset methods: none (warning: the card keeps its state");
	cr_assert_eq(tree_run(&t, "show 00:03.0 --json"), 0);
	assert_out_has("\"reset_methods\":\"\"");
	assert_out_has("\"driver\":null");
}

/* Bad input is named, never a crash. */
Test(host, bad_input)
{
	cr_assert_eq(tree_run(&t, "show 0000:zz:00.0"), 2);
	cr_assert_eq(tree_run(&t, "show 0000:09:00.0"), 1);
	cr_assert_eq(tree_run(&t, "bogus"), 2);
	cr_assert_eq(tree_run(&t, "groups --frobnicate"), 2);
	cr_assert_eq(tree_run(&t, "check --memory lots"), 2);
	cr_assert_eq(tree_run(&t, "show"), 2);
	cr_assert_eq(tree_run(&t, "--help"), 0);
	assert_out_has("/var/lib/vmm/host-state.json");
	/* A resource file of garbage reads as no BARs, not as a crash. */
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:01:00.0", .vendor = 1, .device = 2,
		 .class = 0x030000, .group = 1 });
	tree_file(&t, "sys/devices/pci0000:00/0000:01:00.0/resource", "junk\n\n0x1 0x0 zz\n");
	cr_assert_eq(tree_run(&t, "show 0000:01:00.0 --json"), 0);
	assert_out_has("\"bars\":[]");
}

static void setup_said(void)
{
	said_begin();
}

static void teardown_said(void)
{
	said_end();
}


#define DEV "sys/devices/pci0000:00/0000:01:00.0/"

/* Runs args, which must fail and name what is wrong in the device's sysfs directory. */
static void assert_named(const char *args, const char *what)
{
	char *text, *want;

	free(said());
	cr_assert_eq(tree_run(&t, args), 1, "%s took garbage in %s", args, what);
	text = said();
	cr_assert(asprintf(&want, "%s/sys/bus/pci/devices/0000:01:00.0/%s", t.root, what) > 0);
	cr_assert(strstr(text, want), "stderr lacks \"%s\":\n%s", want, text);
	free(want);
	free(text);
}

/*
 * A sysfs number that is not one (a cut-off read, a fake or broken tree)
 * is an error naming the file: atoi() made a group link to "abc" IOMMU
 * group 0, and a garbage numa_node node 0.
 */
Test(host, sysfs_numbers_are_numbers_or_errors, .init = setup_said, .fini = teardown_said)
{
	tree_iommu_on(&t);
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:00:02.0", .vendor = 0x8086, .device = 0x3e92,
		 .class = 0x030000, .driver = "i915", .group = 0 });
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:01:00.0", .vendor = 0x10de, .device = 0x2204,
		 .class = 0x030000, .driver = "nvidia", .group = -1 });
	tree_symlink(&t, DEV "iommu_group", "sys/kernel/iommu_groups/abc");
	assert_named("groups", "iommu_group: names group 'abc', not a group number");
	tree_remove(&t, DEV "iommu_group");
	tree_symlink(&t, DEV "iommu_group", "sys/kernel/iommu_groups/12");
	cr_assert_eq(tree_run(&t, "show 0000:01:00.0"), 0, "a good tree again");
	assert_out_has("IOMMU group 12: ");
	assert_out_has("NUMA node: 0, ");

	tree_file(&t, DEV "vendor", "0x10de junk\n");
	assert_named("groups", "vendor: '0x10de junk' is not a hexadecimal number");
	tree_file(&t, DEV "vendor", "0x10de\n");
	tree_file(&t, DEV "class", "");
	assert_named("groups", "class: '' is not a hexadecimal number");
	tree_file(&t, DEV "class", "0x1030000\n");
	assert_named("groups", "class: 0x1030000 is out of range");
	tree_file(&t, DEV "class", "0x030000\n");

	tree_file(&t, DEV "numa_node", "abc\n");
	assert_named("show 0000:01:00.0 --json", "numa_node: 'abc' is not a decimal number");
	assert_named("show 0000:01:00.0", "numa_node: 'abc' is not a decimal number");
	tree_file(&t, DEV "numa_node", "-1\n");
	cr_assert_eq(tree_run(&t, "show 0000:01:00.0 --json"), 0);
	assert_out_has("\"numa_node\":-1,");
	tree_file(&t, DEV "numa_node", "1\n");
	cr_assert_eq(tree_run(&t, "show 0000:01:00.0 --json"), 0);
	assert_out_has("\"numa_node\":1,");
	assert_out_has("\"group\":12,");
}

/* Two cards in different slots behind a switch without ACS: one group, both go together. */
Test(host, devices_of_two_slots_in_one_group)
{
	tree_iommu_on(&t);
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:05:00.0", .vendor = 0x10de, .device = 0x1c82,
		 .class = 0x030000, .driver = "nouveau", .group = 9 });
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:06:00.0", .vendor = 0x8086, .device = 0x10d3,
		 .class = 0x020000, .driver = "e1000e", .group = 9 });
	cr_assert_eq(tree_run(&t, "groups"), 0);
	assert_out_has("IOMMU group 9: safe if all its functions go together: 2 devices of different "
		       "slots are not isolated from each other: all of them go to the guest together\n");
	cr_assert_eq(tree_run(&t, "bind 0000:05:00.0 --dry-run"), 1);
	cr_assert_eq(tree_run(&t, "bind 0000:05:00.0 0000:06:00.0 --dry-run"), 0);
	assert_out_has("/sys/bus/pci/devices/0000:06:00.0/driver_override\n");
}

/*
 * Case: an H100 in a virtual machine whose hypervisor gives it neither
 * VT-x nor an IOMMU, and whose /dev/kvm is PVM. The files are those read
 * off such a machine (a Firecracker guest, 2026-11-23): the fixes must be
 * about the hypervisor below, not about this machine's firmware setup, and
 * the card's 128 GiB BAR must be reported whole.
 */
Test(host, gpu_in_a_vm_without_nesting_or_viommu)
{
	tree_file(&t, "proc/cpuinfo", "processor\t: 0\nvendor_id\t: GenuineIntel\n"
		  "flags\t\t: fpu vme de pse tsc msr pae x2apic hypervisor lahf_lm avx512f\n\n");
	tree_file(&t, "proc/cmdline", "console=ttyS0 quiet reboot=k panic=1 pci=realloc=off\n");
	tree_file(&t, "sys/module/kvm/parameters/nx_huge_pages", "N\n");
	tree_file(&t, "sys/module/kvm_pvm/parameters/nested_pvm", "Y\n");
	tree_remove(&t, "etc/default/grub");
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:00:06.0", .vendor = 0x10de, .device = 0x2330,
		 .class = 0x030200, .driver = "nvidia", .group = -1, .reset = "flr\n" });
	tree_file(&t, "sys/devices/pci0000:00/0000:00:06.0/resource",
		  "0x0000102002000000 0x0000102002ffffff 0x000000000014220c\n"
		  "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
		  "0x0000100000000000 0x0000101fffffffff 0x000000000014220c\n"
		  "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
		  "0x0000102000000000 0x0000102001ffffff 0x000000000014220c\n"
		  "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
		  "0x0000000000000000 0x0000000000000000 0x0000000000000000\n");

	cr_assert_eq(tree_run(&t, "check"), 1);
	assert_out_has("FAIL  virtualization       neither vmx nor svm in /proc/cpuinfo's flags, and this "
		       "host is itself a virtual machine (the hypervisor flag)\n");
	assert_out_has("fix: the hypervisor below must pass VT-x through (nested virtualization: on a "
		       "KVM host, kvm_intel nested=1");
	assert_out_has("FAIL  kvm                  /dev/kvm is PVM (kvm_pvm), a software KVM");
	assert_out_has("fix: the virtualization fix above first (nested virtualization from the hypervisor "
		       "below), then rmmod kvm_pvm; modprobe kvm_intel\n");
	assert_out_has("FAIL  iommu                no DMAR or IVRS table, 0 IOMMU groups");
	assert_out_has("fix: the hypervisor below must give this virtual machine the card behind a "
		       "virtual IOMMU with interrupt remapping");
	assert_out_lacks("firmware setup");
	assert_out_lacks("BIOS");

	cr_assert_eq(tree_run(&t, "show 00:06.0"), 0);
	assert_out_has("0000:00:06.0  10de:2330  3D controller, driver nvidia\n");
	assert_out_has("unsafe: no IOMMU group: the IOMMU is off\n");
	assert_out_has("reset methods: flr\n");
	assert_out_has("  BAR0  16 MiB, memory, 64-bit, prefetchable\n"
		       "  BAR2  128 GiB, memory, 64-bit, prefetchable\n"
		       "  BAR4  32 MiB, memory, 64-bit, prefetchable\n");
	cr_assert_eq(tree_run(&t, "show 00:06.0 --json"), 0);
	assert_out_has("{\"index\":2,\"rom\":false,\"size\":137438953472,");
}

/* PVM beside hardware virtualization: the fix is to load the hardware module instead. */
Test(host, pvm_on_a_host_with_vmx)
{
	tree_iommu_on(&t);
	turing("0000:01:00", 1, NULL);
	tree_file(&t, "sys/module/kvm_pvm/parameters/nested_pvm", "Y\n");
	cr_assert_eq(tree_run(&t, "check"), 1);
	assert_out_has("ok    virtualization       vmx (Intel VT-x) in /proc/cpuinfo\n");
	assert_out_has("FAIL  kvm                  /dev/kvm is PVM (kvm_pvm)");
	assert_out_has("fix: rmmod kvm_pvm; modprobe kvm_intel\n");
	tree_file(&t, "sys/module/kvm_intel/parameters/nested", "Y\n");
	cr_assert_eq(tree_run(&t, "check"), 0, "%s", t.out);
	assert_out_has("ok    kvm                  /dev/kvm is there and this user can open it\n");
}

/*
 * The line under the kvm finding's fix, for asserting on that fix alone:
 * other findings' fixes may rightly name modprobe.
 */
static char *kvm_fix(void)
{
	const char *line = strstr(t.out, "FAIL  kvm ");

	cr_assert_not_null(line, "no FAIL kvm line:\n%s", t.out);
	const char *fix = strstr(line, "fix: ");

	cr_assert_not_null(fix, "no fix after the kvm line:\n%s", t.out);
	return strndup(fix, strcspn(fix, "\n"));
}

/*
 * Case: a virtual machine without nested virtualization and without
 * /dev/kvm. kvm_intel cannot load on a CPU without vmx, so telling the
 * user to modprobe it contradicts the virtualization finding above: the
 * kvm fix must send them to that fix instead.
 */
Test(host, vm_without_nesting_no_dev_kvm)
{
	tree_file(&t, "proc/cpuinfo", "processor\t: 0\nvendor_id\t: GenuineIntel\n"
		  "flags\t\t: fpu vme de pse tsc msr pae x2apic hypervisor lahf_lm\n\n");
	tree_remove(&t, "dev/kvm");
	cr_assert_eq(tree_run(&t, "check"), 1);
	assert_out_has("FAIL  virtualization       neither vmx nor svm");
	assert_out_has("FAIL  kvm                  no /dev/kvm\n");

	char *fix = kvm_fix();

	cr_assert(!strstr(fix, "modprobe kvm"), "the kvm fix loads a module that cannot load: %s", fix);
	cr_assert(strstr(fix, "virtualization fix above"), "the kvm fix does not point at the "
		  "virtualization fix: %s", fix);
	cr_assert(strstr(fix, "hypervisor below"), "the kvm fix does not name the fix: %s", fix);
	free(fix);
}

/* The same on bare metal with VT-x off in the firmware: the fix named is the firmware's. */
Test(host, vtx_off_no_dev_kvm)
{
	tree_file(&t, "proc/cpuinfo", "processor\t: 0\nvendor_id\t: AuthenticAMD\n"
		  "flags\t\t: fpu vme de pse tsc msr pae\n\n");
	tree_remove(&t, "dev/kvm");
	cr_assert_eq(tree_run(&t, "check"), 1);
	assert_out_has("fix: turn on AMD-V (SVM mode) in the firmware (BIOS/UEFI) setup\n");

	char *fix = kvm_fix();

	cr_assert(!strstr(fix, "modprobe kvm"), "the kvm fix loads a module that cannot load: %s", fix);
	cr_assert(strstr(fix, "virtualization fix above is done (AMD-V turned on in the firmware setup)"),
		  "the kvm fix does not name the virtualization fix: %s", fix);
	free(fix);
}
