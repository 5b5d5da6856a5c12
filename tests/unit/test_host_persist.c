// SPDX-License-Identifier: MIT
/*
 * `vmm host persist` on a fake host's /etc: what it prints, what --write
 * changes, and that --rollback --write leaves every file byte for byte as
 * it was (acceptance 4).
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "test_host_tree.h"

static struct tree t;

#define GRUB "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"\"\n"
#define MODULES "# List of modules that you want to include in your initramfs.\n"

/* Two identical GPUs; the first one's two functions bound to vfio-pci by vmm host bind. */
static void setup(void)
{
	tree_init(&t);
	tree_iommu_on(&t);
	for (int i = 0; i < 2; i++) {
		tree_dev(&t, &(struct fake_dev){ .bdf = i ? "0000:02:00.0" : "0000:01:00.0",
			 .vendor = 0x10de, .device = 0x2204, .class = 0x030000, .driver = "nvidia",
			 .group = 10 + i, .reset = "bus\n" });
		tree_dev(&t, &(struct fake_dev){ .bdf = i ? "0000:02:00.1" : "0000:01:00.1",
			 .vendor = 0x10de, .device = 0x1aef, .class = 0x040300,
			 .driver = "snd_hda_intel", .group = 10 + i, .reset = "bus\n" });
	}
	tree_symlink(&t, "sys/bus/pci/drivers/nvidia/module", "sys/module/nvidia");
	tree_symlink(&t, "sys/bus/pci/drivers/snd_hda_intel/module", "sys/module/snd_hda_intel");
	tree_file(&t, "etc/default/grub", GRUB);
	tree_file(&t, "etc/initramfs-tools/modules", MODULES);
	tree_file(&t, "etc/modprobe.d/other.conf", "options snd_hda_intel power_save=1\n");
	cr_assert_eq(tree_run(&t, "bind 0000:01:00.0 --all-functions"), 0);
}

static void teardown(void)
{
	tree_free(&t);
}

TestSuite(host_persist, .init = setup, .fini = teardown);

#define assert_out_has(s) cr_assert(strstr(t.out, (s)), "output lacks \"%s\":\n%s", (s), t.out)
#define assert_out_lacks(s) cr_assert(!strstr(t.out, (s)), "output has \"%s\":\n%s", (s), t.out)

static void assert_file(const char *rel, const char *want)
{
	char *got = tree_read(&t, rel);

	cr_assert_not_null(got, "no %s", rel);
	cr_assert_str_eq(got, want, "%s", rel);
	free(got);
}

Test(host_persist, prints_steps_with_rollbacks_and_writes_nothing)
{
	char *before = tree_snapshot(&t);

	cr_assert_eq(tree_run(&t, "persist"), 0);
	assert_out_has("step 1: kernel parameters for GRUB\n  edit (backup in .vmm-backup) /etc/default/grub:\n");
	assert_out_has("    | GRUB_CMDLINE_LINUX_DEFAULT=\"quiet intel_iommu=on iommu=pt\"\n");
	assert_out_has("  rollback: mv /etc/default/grub.vmm-backup /etc/default/grub\n");
	assert_out_has("step 2: regenerate GRUB's configuration\n  run: update-grub\n");
	assert_out_has("    | install nvidia /bin/sh -c 'for d in 0000:01:00.0; do echo vfio-pci > "
		       "/sys/bus/pci/devices/$d/driver_override; done; /sbin/modprobe vfio-pci; "
		       "/sbin/modprobe --ignore-install nvidia $CMDLINE_OPTS'\n");
	assert_out_has("    | install snd_hda_intel /bin/sh -c 'for d in 0000:01:00.1; do");
	assert_out_has("KERNEL==\"0000:01:00.1\", ATTR{driver_override}=\"vfio-pci\"");
	assert_out_has("  rollback: rm /etc/udev/rules.d/60-vmm-passthrough.rules\n");
	assert_out_has("    | vfio_pci\n");
	assert_out_has("  run: update-initramfs -u -k all\n");
	/* The identical card stays the host's, so no ID rule anywhere. */
	assert_out_lacks("0000:02:00");
	assert_out_lacks("ids=");
	assert_out_has("(nothing written: --write does it)\n");
	char *after = tree_snapshot(&t);

	cr_assert_str_eq(before, after, "persist without --write changed files");
	free(before);
	free(after);
}

Test(host_persist, write_then_rollback_leaves_files_byte_for_byte)
{
	char *before = tree_snapshot(&t);

	cr_assert_eq(tree_run(&t, "persist --write"), 0);
	assert_out_has("not run under --sysroot: update-grub\n");
	/* Each file is announced before it is written. */
	char *want;

	cr_assert(asprintf(&want, "vmm: host: writing %s/etc/default/grub (the original in .vmm-backup)\n"
			   "vmm: host: writing %s/etc/modprobe.d/vmm-passthrough.conf\n", t.root, t.root) > 0);
	cr_assert(!strncmp(t.log, want, strlen(want)), "%s", t.log);
	free(want);
	assert_file("etc/default/grub", "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet intel_iommu=on "
		    "iommu=pt\"\nGRUB_CMDLINE_LINUX=\"\"\n");
	assert_file("etc/default/grub.vmm-backup", GRUB);
	assert_file("etc/initramfs-tools/modules", MODULES "vfio\nvfio_iommu_type1\nvfio_pci\n");
	assert_file("etc/modules-load.d/vmm-passthrough.conf", "# written by vmm host persist; vmm host "
		    "persist --rollback --write removes it\nvfio-pci\n");
	char *rules = tree_read(&t, "etc/udev/rules.d/60-vmm-passthrough.rules");

	cr_assert_not_null(rules);
	cr_assert(strstr(rules, "KERNEL==\"0000:01:00.0\""));
	free(rules);
	/* A second --write starts from the original again: nothing doubled. */
	cr_assert_eq(tree_run(&t, "persist --write"), 0);
	assert_file("etc/default/grub", "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet intel_iommu=on "
		    "iommu=pt\"\nGRUB_CMDLINE_LINUX=\"\"\n");
	assert_file("etc/default/grub.vmm-backup", GRUB);

	cr_assert_eq(tree_run(&t, "persist --rollback"), 0);
	assert_out_has("step 1: mv /etc/default/grub.vmm-backup /etc/default/grub\n");
	assert_out_has("rm /etc/modprobe.d/vmm-passthrough.conf\n");
	assert_out_has("(nothing done: --write does it)\n");
	cr_assert_eq(tree_run(&t, "persist --rollback --write"), 0);
	char *after = tree_snapshot(&t);

	cr_assert_str_eq(before, after, "rollback left a difference");
	free(before);
	free(after);
	cr_assert_eq(tree_run(&t, "persist --rollback"), 0);
	assert_out_has("nothing to roll back");
}

/* A file of the same name that vmm did not write is not overwritten. */
Test(host_persist, refuses_to_overwrite_a_foreign_file)
{
	tree_file(&t, "etc/modules-load.d/vmm-passthrough.conf", "mine\n");
	cr_assert_eq(tree_run(&t, "persist --write"), 1);
	assert_file("etc/modules-load.d/vmm-passthrough.conf", "mine\n");
	cr_assert_eq(tree_run(&t, "persist --rollback --write"), 0);
	assert_file("etc/modules-load.d/vmm-passthrough.conf", "mine\n");
	assert_file("etc/default/grub", GRUB);
}

/* systemd-boot with dracut on AMD-Vi: /etc/kernel/cmdline, iommu=pt only, a dracut drop-in. */
Test(host_persist, systemd_boot_dracut_amd)
{
	tree_remove(&t, "etc/default/grub");
	tree_remove(&t, "etc/initramfs-tools/modules");
	tree_remove(&t, "etc/initramfs-tools");
	tree_file(&t, "etc/kernel/cmdline", "root=UUID=1234 rw");
	tree_file(&t, "etc/dracut.conf.d/10-local.conf", "hostonly=yes\n");
	tree_file(&t, "proc/cpuinfo", "vendor_id\t: AuthenticAMD\nflags\t\t: svm\n");
	tree_remove(&t, "sys/firmware/acpi/tables/DMAR");
	tree_file(&t, "sys/firmware/acpi/tables/IVRS", "IVRS");
	char *before = tree_snapshot(&t);

	cr_assert_eq(tree_run(&t, "persist 0000:02:00.0 --write"), 0);
	assert_file("etc/kernel/cmdline", "root=UUID=1234 rw iommu=pt");
	assert_out_has("run: kernel-install add");
	assert_out_has("create /etc/dracut.conf.d/vmm-passthrough.conf:\n");
	assert_out_has("for d in 0000:02:00.0; do");
	assert_out_lacks("0000:01:00");
	cr_assert_eq(tree_run(&t, "persist --rollback --write --json"), 0);
	assert_out_has("{\"write\":true,\"rollback\":true,\"steps\":[{\"action\":\"edit\"");
	char *after = tree_snapshot(&t);

	cr_assert_str_eq(before, after);
	free(before);
	free(after);
}

static void redirect(void)
{
	cr_redirect_stderr();
}

/*
 * The audit's full disk: room for 80 bytes a file (RLIMIT_FSIZE), enough
 * for the backup (72) but not the new /etc/default/grub (96). The file
 * stays as it was rather than cut off at "GRUB_C", nothing is left beside
 * it but the whole backup, and the error names the file and the real cause.
 */
Test(host_persist, a_full_disk_leaves_grub_as_it_was, .init = redirect)
{
	struct rlimit was, small;
	char *before = tree_snapshot(&t), line[512], said[2048] = "";
	int ret;

	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &was), 0);
	small = was;
	small.rlim_cur = 80;
	/* Past the limit write() fails with EFBIG, once SIGXFSZ no longer kills the process. */
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
	ret = tree_run(&t, "persist --write");
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &was), 0);

	fflush(stderr);
	FILE *err = cr_get_redirected_stderr();

	while (fgets(line, sizeof(line), err))
		snprintf(said + strlen(said), sizeof(said) - strlen(said), "%s", line);
	char *grub = tree_read(&t, "etc/default/grub");

	cr_assert_not_null(grub);
	cr_assert_str_eq(grub, GRUB, "/etc/default/grub is now %zu bytes: \"%s\"; exit %d, stderr:\n%s",
			 strlen(grub), grub, ret, said);
	free(grub);
	cr_assert_eq(ret, 1, "persist --write said success on a full disk; stderr:\n%s", said);
	char *after = tree_snapshot(&t), *lost = tree_diff(after, before), *added = tree_diff(before, after);

	cr_assert_str_eq(lost, "", "changed or gone: %s", lost);
	cr_assert(!strncmp(added, "/etc/default/grub.vmm-backup = ", 31) && !strchr(added, '\n')[1],
		  "left beside the files: %s", added);
	assert_file("etc/default/grub.vmm-backup", GRUB);
	char *want;

	cr_assert(asprintf(&want, "vmm: error: /etc/default/grub: %s; stopped there", strerror(EFBIG)) > 0);
	cr_assert(strstr(said, want), "stderr lacks \"%s\":\n%s", want, said);
	free(want);
	free(after);
	free(lost);
	free(added);
	/* What was done is undone as usual. */
	cr_assert_eq(tree_run(&t, "persist --rollback --write"), 0);
	after = tree_snapshot(&t);
	cr_assert_str_eq(before, after, "rollback left a difference");
	free(before);
	free(after);
}
