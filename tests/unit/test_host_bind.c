// SPDX-License-Identifier: MIT
/*
 * `vmm host bind/unbind/restore` on fake hosts: exactly which sysfs files
 * are written, with what, in which order; what the state file records; and
 * that restore gives every function back its driver. The kernel's reaction
 * (unbind drops the driver link, drivers_probe makes one) is the tree's
 * stand-in.
 */
#include <criterion/criterion.h>

#include "said.h"
#include <criterion/redirect.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_host_tree.h"

static struct tree t;

static void setup(void)
{
	tree_init(&t);
	tree_iommu_on(&t);
}

static void teardown(void)
{
	tree_free(&t);
}

TestSuite(host_bind, .init = setup, .fini = teardown);

#define STATE "var/lib/vmm/host-state.json"

/* The driver a device's link names now, "" for none. */
static char *driver_of(const char *bdf)
{
	char rel[128];

	snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/driver", bdf);
	char *link = tree_link(&t, rel);

	if (!link)
		return strdup("");
	char *name = strdup(strrchr(link, '/') + 1);

	free(link);
	return name;
}

#define assert_driver(bdf, want)                                                   \
	do {                                                                        \
		char *d_ = driver_of(bdf);                                          \
		cr_assert_str_eq(d_, want, "%s is on '%s', not '%s'", bdf, d_, want); \
		free(d_);                                                           \
	} while (0)

/* The three writes of one bind or give-back, as the log shows them. */
static void expect_writes(FILE *f, const char *bdf, const char *override, bool unbind)
{
	fprintf(f, "vmm: host: writing '%s' > %s/sys/bus/pci/devices/%s/driver_override\n",
		override, t.root, bdf);
	if (unbind)
		fprintf(f, "vmm: host: writing '%s' > %s/sys/bus/pci/devices/%s/driver/unbind\n",
			bdf, t.root, bdf);
	fprintf(f, "vmm: host: writing '%s' > %s/sys/bus/pci/drivers_probe\n", bdf, t.root);
}

static void two_identical_gpus(void)
{
	for (int i = 0; i < 2; i++) {
		tree_dev(&t, &(struct fake_dev){ .bdf = i ? "0000:02:00.0" : "0000:01:00.0",
			 .vendor = 0x10de, .device = 0x2204, .class = 0x030000, .driver = "nvidia",
			 .group = 10 + i, .reset = "bus\n" });
		tree_dev(&t, &(struct fake_dev){ .bdf = i ? "0000:02:00.1" : "0000:01:00.1",
			 .vendor = 0x10de, .device = 0x1aef, .class = 0x040300,
			 .driver = "snd_hda_intel", .group = 10 + i, .reset = "bus\n" });
	}
}

static bool names_one(const char *line, const char *allowed[])
{
	for (int i = 0; allowed[i]; i++) {
		if (strstr(line, allowed[i]))
			return true;
	}
	return false;
}

/* The file or link a snapshot line is about: what comes before " = " or " -> ". */
static size_t key_len(const char *line)
{
	const char *eq = strstr(line, " = "), *arrow = strstr(line, " -> ");

	return eq ? (size_t)(eq - line) : arrow ? (size_t)(arrow - line) : strlen(line);
}

/*
 * Every file or link that changed between two snapshots must now name one
 * of the allowed strings (a BDF written to unbind or drivers_probe, a
 * device's own directory) or, if it is gone, have named one.
 */
static void assert_only_touched(const char *before, const char *after, const char *allowed[])
{
	char *added = tree_diff(before, after), *removed = tree_diff(after, before);

	for (char *save = NULL, *line = strtok_r(added, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		cr_assert(names_one(line, allowed), "changed, but not one of the given devices: %s", line);
	for (char *save = NULL, *line = strtok_r(removed, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char key[4096];

		snprintf(key, sizeof(key), "\n%.*s ", (int)key_len(line), line);
		cr_assert(names_one(line, allowed) || strstr(after, key + 1) == after || strstr(after, key),
			  "gone, but not one of the given devices: %s", line);
	}
	free(added);
	free(removed);
}

Test(host_bind, identical_gpus_bind_touches_only_given_bdfs)
{
	two_identical_gpus();
	char *before = tree_snapshot(&t), *want = NULL;
	size_t len;
	FILE *f = open_memstream(&want, &len);

	cr_assert_eq(tree_run(&t, "bind 0000:01:00.0 --all-functions"), 0);
	expect_writes(f, "0000:01:00.0", "vfio-pci", true);
	expect_writes(f, "0000:01:00.1", "vfio-pci", true);
	fclose(f);
	cr_assert_str_eq(t.log, want);
	assert_driver("0000:01:00.0", "vfio-pci");
	assert_driver("0000:01:00.1", "vfio-pci");
	assert_driver("0000:02:00.0", "nvidia");
	assert_driver("0000:02:00.1", "snd_hda_intel");

	char *after = tree_snapshot(&t), *state = tree_read(&t, STATE);
	const char *allowed[] = { "0000:01:00.0", "0000:01:00.1", STATE, NULL };

	assert_only_touched(before, after, allowed);
	cr_assert_str_eq(state, "{\n"
			 "  \"version\": 1,\n"
			 "  \"devices\": [\n"
			 "    {\n"
			 "      \"bdf\": \"0000:01:00.0\",\n"
			 "      \"driver\": \"nvidia\",\n"
			 "      \"driver_override\": null\n"
			 "    },\n"
			 "    {\n"
			 "      \"bdf\": \"0000:01:00.1\",\n"
			 "      \"driver\": \"snd_hda_intel\",\n"
			 "      \"driver_override\": null\n"
			 "    }\n"
			 "  ]\n"
			 "}\n");
	free(before);
	free(after);
	free(state);
	free(want);
}

Test(host_bind, restore_gives_back_every_driver)
{
	two_identical_gpus();
	cr_assert_eq(tree_run(&t, "bind 0000:01:00.0 0000:01:00.1"), 0);
	char *before = tree_snapshot(&t), *want = NULL;
	size_t len;
	FILE *f = open_memstream(&want, &len);

	cr_assert_eq(tree_run(&t, "restore"), 0);
	expect_writes(f, "0000:01:00.0", "\\n", true);
	expect_writes(f, "0000:01:00.1", "\\n", true);
	fclose(f);
	cr_assert_str_eq(t.log, want);
	assert_driver("0000:01:00.0", "nvidia");
	assert_driver("0000:01:00.1", "snd_hda_intel");
	cr_assert_null(tree_read(&t, STATE), "restore leaves no state behind");
	char *ovr = tree_read(&t, "sys/bus/pci/devices/0000:01:00.0/driver_override");

	cr_assert_str_eq(ovr, "\n");
	char *after = tree_snapshot(&t);
	const char *allowed[] = { "0000:01:00.0", "0000:01:00.1", STATE, NULL };

	assert_only_touched(before, after, allowed);
	cr_assert_eq(tree_run(&t, "restore"), 0);
	cr_assert(strstr(t.out, "nothing to restore"), "%s", t.out);
	cr_assert_str_eq(t.log, "");
	free(ovr);
	free(before);
	free(after);
	free(want);
}

/* A second bind must not record vfio-pci as the driver to go back to. */
Test(host_bind, rebind_keeps_first_record_and_unbind_one)
{
	two_identical_gpus();
	cr_assert_eq(tree_run(&t, "bind 0000:01:00.0 --all-functions"), 0);
	cr_assert_eq(tree_run(&t, "bind 0000:01:00.0 --all-functions"), 0);
	cr_assert_str_eq(t.log, "", "already bound: nothing to write");
	cr_assert_eq(tree_run(&t, "unbind 0000:01:00.1"), 0);
	assert_driver("0000:01:00.1", "snd_hda_intel");
	assert_driver("0000:01:00.0", "vfio-pci");
	char *state = tree_read(&t, STATE);

	cr_assert_str_eq(state, "{\n"
			 "  \"version\": 1,\n"
			 "  \"devices\": [\n"
			 "    {\n"
			 "      \"bdf\": \"0000:01:00.0\",\n"
			 "      \"driver\": \"nvidia\",\n"
			 "      \"driver_override\": null\n"
			 "    }\n"
			 "  ]\n"
			 "}\n");
	cr_assert_eq(tree_run(&t, "restore"), 0);
	assert_driver("0000:01:00.0", "nvidia");
	free(state);
}

/* A device with an override of its own before the bind gets that override back. */
Test(host_bind, restore_puts_back_previous_override)
{
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:00:03.0", .vendor = 0x1234, .device = 0x11e8,
		 .class = 0x00ff00, .group = 5, .driver = "pci-stub" });
	tree_file(&t, "sys/devices/pci0000:00/0000:00:03.0/driver_override", "pci-stub\n");
	cr_assert_eq(tree_run(&t, "bind 00:03.0"), 0);
	assert_driver("0000:00:03.0", "vfio-pci");
	cr_assert_eq(tree_run(&t, "restore"), 0);
	cr_assert(strstr(t.log, "writing 'pci-stub' > "), "%s", t.log);
	assert_driver("0000:00:03.0", "pci-stub");
}

static void assert_refused(const char *args)
{
	char *before = tree_snapshot(&t);

	cr_assert_eq(tree_run(&t, args), 1, "%s was not refused", args);
	cr_assert_str_eq(t.log, "", "a refused bind wrote something");
	char *after = tree_snapshot(&t);

	cr_assert_str_eq(before, after, "a refused bind changed the tree");
	free(before);
	free(after);
}

/* One function of a card whose group holds the others: the group would not be viable. */
Test(host_bind, refuses_part_of_a_group)
{
	for (int fn = 0; fn < 4; fn++) {
		char bdf[HOST_BDF_LEN];

		snprintf(bdf, sizeof(bdf), "0000:01:00.%d", fn);
		tree_dev(&t, &(struct fake_dev){ .bdf = bdf, .vendor = 0x10de, .device = 0x1e87 + fn,
			 .class = fn ? 0x0c0330 : 0x030000, .driver = fn ? "xhci_hcd" : "nvidia",
			 .group = 1 });
	}
	assert_refused("bind 0000:01:00.0");
	cr_assert_eq(tree_run(&t, "bind 0000:01:00.0 --all-functions"), 0);
	for (int fn = 0; fn < 4; fn++) {
		char bdf[HOST_BDF_LEN];

		snprintf(bdf, sizeof(bdf), "0000:01:00.%d", fn);
		assert_driver(bdf, "vfio-pci");
	}
}

Test(host_bind, refuses_boot_vga_unless_forced)
{
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:01:00.0", .vendor = 0x1002, .device = 0x73bf,
		 .class = 0x030000, .driver = "amdgpu", .group = 3, .boot_vga = true });
	assert_refused("bind 0000:01:00.0");
	cr_assert_eq(tree_run(&t, "bind 0000:01:00.0 --force"), 0);
	assert_driver("0000:01:00.0", "vfio-pci");
}

Test(host_bind, refuses_group_with_root_disk_and_bridges)
{
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:00:17.0", .vendor = 0x8086, .device = 0xa352,
		 .class = 0x010601, .driver = "ahci", .group = 7 });
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:03:00.0", .vendor = 0x10de, .device = 0x1c82,
		 .class = 0x030000, .driver = "nouveau", .group = 7 });
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:00:01.0", .vendor = 0x8086, .device = 0x1901,
		 .class = 0x060400, .driver = "pcieport", .group = 2 });
	tree_root_on_sata(&t, "0000:00:17.0");
	assert_refused("bind 0000:03:00.0");
	assert_refused("bind 0000:03:00.0 0000:00:17.0");
	assert_refused("bind 0000:00:01.0 --force");
}

Test(host_bind, refuses_without_iommu)
{
	tree_free(&t);
	tree_init(&t);
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:01:00.0", .vendor = 0x10de, .device = 0x2204,
		 .class = 0x030000, .driver = "nvidia", .group = -1 });
	assert_refused("bind 0000:01:00.0");
}

Test(host_bind, dry_run_prints_and_writes_nothing)
{
	two_identical_gpus();
	char *before = tree_snapshot(&t);

	cr_assert_eq(tree_run(&t, "bind 0000:02:00.0 --all-functions --dry-run"), 0);
	cr_assert_str_eq(t.log, "");
	char *after = tree_snapshot(&t), *want;

	cr_assert_str_eq(before, after, "--dry-run changed the tree");
	cr_assert(asprintf(&want, "would write 'vfio-pci' > %s/sys/bus/pci/devices/0000:02:00.0/driver_override\n"
			   "would write '0000:02:00.0' > %s/sys/bus/pci/devices/0000:02:00.0/driver/unbind\n"
			   "would write '0000:02:00.0' > %s/sys/bus/pci/drivers_probe\n", t.root, t.root,
			   t.root) > 0);
	cr_assert(!strncmp(t.out, want, strlen(want)), "%s", t.out);
	cr_assert_eq(tree_run(&t, "bind 0000:02:00.1 --dry-run --json"), 1, "a lone function is refused");
	cr_assert_eq(tree_run(&t, "bind 0000:02:00.0 --all-functions --dry-run --json"), 0);
	cr_assert(strstr(t.out, "{\"dry_run\":true,"), "%s", t.out);
	cr_assert(strstr(t.out, "/sys/bus/pci/devices/0000:02:00.1/driver_override\",\"value\":\"vfio-pci\"}"),
		  "%s", t.out);
	cr_assert(strstr(t.out, "],\"ok\":true}\n"), "%s", t.out);
	free(before);
	free(after);
	free(want);
}

Test(host_bind, bad_state_file_stops_bind_before_any_write)
{
	two_identical_gpus();
	tree_file(&t, STATE, "{\"version\":1,\"devices\":[{\"bdf\":\"0000:01:00.0\",\"driver\":");
	assert_refused("bind 0000:01:00.0 --all-functions");
	tree_file(&t, STATE, "\x01\xff not json");
	assert_refused("bind 0000:01:00.0 --all-functions");
}

static void setup_said(void)
{
	said_begin();
}

static void teardown_said(void)
{
	said_end();
}


#define assert_said(text, what)                                                          \
	cr_assert(strstr(text, what), "stderr lacks \"%s\":\n%s", what, text)

/* The override, without its newline; "" for the cleared one ("\n"). */
static char *override_of(const char *bdf)
{
	char rel[128];

	snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/driver_override", bdf);
	char *ovr = tree_read(&t, rel);

	cr_assert_not_null(ovr);
	ovr[strcspn(ovr, "\n")] = '\0';
	return ovr;
}

#define assert_override(bdf, want)                                                   \
	do {                                                                          \
		char *o_ = override_of(bdf);                                          \
		cr_assert_str_eq(o_, want, "%s's driver_override is '%s', not '%s'", bdf, o_, want); \
		free(o_);                                                             \
	} while (0)

/*
 * One entry of four damaged (a quote lost, as a bad edit leaves it): the
 * other three functions get their drivers back, the damaged one is named
 * with its line, the file is kept aside as it was, and unbind BDF then
 * gives the fourth to the kernel's own choice.
 */
Test(host_bind, restore_from_corrupt_state_gives_back_what_it_can,
     .init = setup_said, .fini = teardown_said)
{
	two_identical_gpus();
	cr_assert_eq(tree_run(&t, "bind 0000:01:00.0 0000:02:00.0 --all-functions"), 0);
	char *state = tree_read(&t, STATE), *bad = strstr(state, "\"snd_hda_intel\"");

	cr_assert_not_null(bad, "%s", state);
	cr_assert(strstr(bad - 60, "0000:01:00.1"), "the first audio entry is 01:00.1:\n%s", state);
	bad[0] = ' '; /* "driver": snd_hda_intel", */
	tree_file(&t, STATE, state);
	free(said());

	cr_assert_eq(tree_run(&t, "restore"), 1, "restore could not give back everything");
	char *text = said();

	assert_driver("0000:01:00.0", "nvidia");
	assert_driver("0000:02:00.0", "nvidia");
	assert_driver("0000:02:00.1", "snd_hda_intel");
	assert_driver("0000:01:00.1", "vfio-pci");
	assert_override("0000:01:00.1", "vfio-pci");
	assert_said(text, ", line 9, 0000:01:00.1: ");
	assert_said(text, "not restored: 0000:01:00.1, whose entry at line 9 is unreadable");
	cr_assert_null(tree_read(&t, STATE), "nothing readable is left to restore");
	char *kept = tree_read(&t, STATE ".corrupt");

	cr_assert_not_null(kept, "the corrupt file was not kept; stderr:\n%s", text);
	cr_assert_str_eq(kept, state);
	assert_said(text, "kept as ");

	cr_assert_eq(tree_run(&t, "unbind 0000:01:00.1"), 0);
	free(text);
	text = said();
	assert_driver("0000:01:00.1", "snd_hda_intel");
	assert_override("0000:01:00.1", "");
	assert_said(text, "0000:01:00.1: the state file has no record of it");
	assert_said(text, "0000:01:00.1: the kernel gave it to snd_hda_intel");
	char *kept2 = tree_read(&t, STATE ".corrupt");

	cr_assert_str_eq(kept2, state, "the kept file is never overwritten");
	free(kept2);
	free(kept);
	free(text);
	free(state);
}

/* Not JSON at all: nothing in it is used, unbind BDF still works from sysfs alone. */
Test(host_bind, unbind_with_unreadable_state_file, .init = setup_said, .fini = teardown_said)
{
	two_identical_gpus();
	cr_assert_eq(tree_run(&t, "bind 0000:01:00.0 --all-functions"), 0);
	tree_file(&t, STATE, "\x01\xff not json");
	free(said());
	cr_assert_eq(tree_run(&t, "unbind 0000:01:00.0 0000:01:00.1"), 0);
	char *text = said();

	assert_driver("0000:01:00.0", "nvidia");
	assert_driver("0000:01:00.1", "snd_hda_intel");
	assert_override("0000:01:00.0", "");
	assert_said(text, "0000:01:00.0: the readable part of the state file has no record of it");
	char *kept = tree_read(&t, STATE ".corrupt");

	cr_assert_not_null(kept, "the unreadable file was not kept; stderr:\n%s", text);
	cr_assert_str_eq(kept, "\x01\xff not json");
	cr_assert_null(tree_read(&t, STATE));
	free(kept);
	free(text);
}

/* Cut off mid-entry: nothing to restore from it, and restore says so rather than succeed. */
Test(host_bind, restore_from_cut_off_state_file, .init = setup_said, .fini = teardown_said)
{
	two_identical_gpus();
	cr_assert_eq(tree_run(&t, "bind 0000:01:00.0 --all-functions"), 0);
	tree_file(&t, STATE, "{\"version\":1,\"devices\":[{\"bdf\":\"0000:01:00.0\",\"driver\":");
	free(said());
	cr_assert_eq(tree_run(&t, "restore"), 1);
	char *text = said();

	assert_said(text, "line 1, 0000:01:00.0: cut off at the end of the file");
	assert_said(text, "not restored: 0000:01:00.0, whose entry at line 1 is unreadable");
	assert_said(text, "not restored: 0000:01:00.1, which driver_override still holds on vfio-pci");
	assert_driver("0000:01:00.0", "vfio-pci");
	free(text);
	text = tree_read(&t, STATE ".corrupt");
	cr_assert_not_null(text);
	/* A second corrupt file does not replace the first one kept. */
	tree_file(&t, STATE, "garbage");
	cr_assert_eq(tree_run(&t, "restore"), 1);
	char *first = tree_read(&t, STATE ".corrupt"), *second = tree_read(&t, STATE ".corrupt.1");

	cr_assert_str_eq(first, "{\"version\":1,\"devices\":[{\"bdf\":\"0000:01:00.0\",\"driver\":");
	cr_assert_not_null(second);
	cr_assert_str_eq(second, "garbage");
	free(first);
	free(second);
	free(text);
}

/* An entry that parses but names no PCI address is skipped: a "bdf" becomes a sysfs path. */
Test(host_bind, restore_skips_an_entry_with_no_pci_address,
     .init = setup_said, .fini = teardown_said)
{
	two_identical_gpus();
	cr_assert_eq(tree_run(&t, "bind 0000:01:00.0 --all-functions"), 0);
	tree_file(&t, STATE, "{\"version\": 1, \"devices\": [\n"
		  "{\"bdf\": \"0000:01:00.0\", \"driver\": \"nvidia\", \"driver_override\": null},\n"
		  "{\"bdf\": \"../../../../etc\", \"driver\": \"x\", \"driver_override\": null},\n"
		  "{\"bdf\": \"0000:01:00.1\", \"driver\": \"snd_hda_intel\", \"driver_override\": null}\n"
		  "]}\n");
	free(said());
	cr_assert_eq(tree_run(&t, "restore"), 1);
	char *text = said();

	assert_driver("0000:01:00.0", "nvidia");
	assert_driver("0000:01:00.1", "snd_hda_intel");
	assert_said(text, ", line 3: \"bdf\" is not a PCI address; this entry is not used");
	assert_said(text, "not restored: the entry at line 3");
	free(text);
}

/* No state file at all: unbind BDF hands the function to the kernel, says what is unknown. */
Test(host_bind, unbind_without_state_file, .init = setup_said, .fini = teardown_said)
{
	tree_dev(&t, &(struct fake_dev){ .bdf = "0000:00:03.0", .vendor = 0x1234, .device = 0x11e8,
		 .class = 0x00ff00, .group = 5, .driver = "e1000e" });
	cr_assert_eq(tree_run(&t, "bind 00:03.0"), 0);
	tree_remove(&t, STATE);
	free(said());
	cr_assert_eq(tree_run(&t, "unbind 0000:00:03.0"), 0);
	char *text = said();

	assert_driver("0000:00:03.0", "e1000e");
	assert_override("0000:00:03.0", "");
	assert_said(text, "0000:00:03.0: the state file has no record of it: its driver and "
		    "driver_override before the bind are unknown");
	assert_said(text, "0000:00:03.0: the kernel gave it to e1000e");
	free(text);
}

/* The state file has no limit: every function bound is recorded and given back. */
Test(host_bind, records_and_restores_more_than_256_functions)
{
	enum { N = 300, PER_RUN = 20 };
	char bdf[N][HOST_BDF_LEN];

	for (int i = 0; i < N; i++) {
		snprintf(bdf[i], HOST_BDF_LEN, "0000:%02x:%02x.0", 0x10 + i / 32, i % 32);
		tree_dev(&t, &(struct fake_dev){ .bdf = bdf[i], .vendor = 0x8086, .device = 0x10d3,
			 .class = 0x020000, .group = 100 + i });
	}
	for (int i = 0; i < N; i += PER_RUN) {
		char args[1024] = "bind";
		size_t off = 4;

		for (int j = i; j < i + PER_RUN && j < N; j++, off += HOST_BDF_LEN) {
			args[off] = ' ';
			memcpy(args + off + 1, bdf[j], HOST_BDF_LEN);
		}
		cr_assert_eq(tree_run(&t, args), 0, "%s", args);
	}
	char *state = tree_read(&t, STATE);
	int recorded = 0;

	for (const char *p = state; (p = strstr(p, "\"bdf\"")); p++)
		recorded++;
	cr_assert_eq(recorded, N, "the state file records %d functions of %d bound", recorded, N);
	cr_assert_eq(tree_run(&t, "restore"), 0);
	for (int i = 0; i < N; i++) {
		assert_driver(bdf[i], "");
		assert_override(bdf[i], "");
	}
	free(state);
}

Test(host_bind, missing_device_and_missing_vfio_driver)
{
	two_identical_gpus();
	assert_refused("bind 0000:07:00.0");
	tree_free(&t);
	tree_init(&t);
	tree_iommu_on(&t);
	two_identical_gpus();
	tree_remove(&t, "sys/bus/pci/drivers/vfio-pci/unbind");
	tree_remove(&t, "sys/bus/pci/drivers/vfio-pci/bind");
	tree_remove(&t, "sys/bus/pci/drivers/vfio-pci");
	assert_refused("bind 0000:01:00.0 --all-functions");
}

/* The owner of rel under the tree, as stat says. */
static void owner_of(const char *rel, uid_t *uid, gid_t *gid)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", t.root, rel);
	cr_assert_eq(stat(path, &st), 0, "%s: %s", path, strerror(errno));
	*uid = st.st_uid;
	*gid = st.st_gid;
}

Test(host_bind, user_gets_the_group_nodes_and_cdevs_of_what_was_bound)
{
	/* Root hands them to another user; anyone else can show it on their own ids. */
	unsigned uid = geteuid() == 0 ? 4242 : (unsigned)geteuid();
	unsigned gid = geteuid() == 0 ? 4343 : (unsigned)getegid();
	char passwd[256], cmd[512];
	uid_t u;
	gid_t g;

	two_identical_gpus();
	snprintf(passwd, sizeof(passwd), "root:x:0:0::/root:/bin/sh\nalice:x:%u:%u::/h:/bin/sh\n",
		 uid, gid);
	tree_file(&t, "etc/passwd", passwd);
	tree_file(&t, "dev/vfio/10", "");
	tree_file(&t, "dev/vfio/11", "");
	tree_file(&t, "dev/vfio/devices/vfio3", "");
	tree_file(&t, "sys/bus/pci/devices/0000:01:00.1/vfio-dev/vfio3/dev", "511:3\n");
	/* 01:00.0's as on Linux 6.1: listed in sysfs, with no node in /dev */
	tree_file(&t, "sys/bus/pci/devices/0000:01:00.0/vfio-dev/vfio2/dev", "511:2\n");

	cr_assert_eq(tree_run(&t, "bind 0000:01:00.0 --all-functions --user alice"), 0, "%s", t.log);
	assert_driver("0000:01:00.0", "vfio-pci");
	owner_of("dev/vfio/10", &u, &g);
	cr_assert(u == uid && g == gid, "the group's node: %u:%u", (unsigned)u, (unsigned)g);
	owner_of("dev/vfio/devices/vfio3", &u, &g);
	cr_assert(u == uid && g == gid, "01:00.1's cdev: %u:%u", (unsigned)u, (unsigned)g);
	owner_of("dev/vfio/11", &u, &g);
	cr_assert_eq(u, geteuid(), "the other card's group stays as it was");
	snprintf(cmd, sizeof(cmd), "giving %s/dev/vfio/10 to alice (uid %u, gid %u)", t.root, uid,
		 gid);
	cr_assert(strstr(t.log, cmd), "said once, before it was done: %s", t.log);
	cr_assert_eq(strstr(strstr(t.log, cmd) + strlen(cmd), "dev/vfio/10 to"), NULL, "given once");
}

Test(host_bind, an_unknown_user_binds_nothing, .init = setup_said, .fini = teardown_said)
{
	char *err;

	two_identical_gpus();
	tree_file(&t, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
	cr_assert_eq(tree_run(&t, "bind 0000:01:00.0 --all-functions --user mallory"), 1);
	assert_driver("0000:01:00.0", "nvidia");
	cr_assert_str_eq(t.log, "", "nothing written");
	err = said();
	cr_assert(strstr(err, "--user mallory: no such user in"), "%s", err);
	free(err);
}
