/* SPDX-License-Identifier: MIT */
#ifndef TEST_HOST_TREE_H
#define TEST_HOST_TREE_H

/*
 * Fake hosts for the `vmm host` tests: a directory laid out as / is on a
 * real machine (sys/devices with the bus's symlinks into it, driver and
 * iommu_group links, proc files), and a stand-in for the kernel's reaction
 * to driver_override / unbind / drivers_probe writes.
 */

#include <stdbool.h>
#include <stddef.h>

#include "host/host.h"

struct fake_dev {
	const char *bdf;
	const char *under;   /* the upstream bridge's BDF, NULL on the root bus */
	unsigned vendor, device, class;
	const char *driver;  /* NULL: no driver */
	int group;           /* -1: none */
	bool boot_vga;
	const char *reset;   /* reset_method's content; NULL: no such file */
};

struct tree {
	char root[256];
	/* The kernel stand-in: which driver claims a device when nothing overrides it. */
	struct { char bdf[HOST_BDF_LEN]; char driver[HOST_NAME_LEN]; } native[32];
	size_t n_native;
	char *log;          /* what host_cmd wrote on io->log (the sysfs writes) */
	char *out;          /* what it wrote on io->out */
};

void tree_init(struct tree *t);
void tree_free(struct tree *t);
void tree_file(struct tree *t, const char *rel, const char *content);
void tree_symlink(struct tree *t, const char *rel, const char *target_rel);
/* Removes a file, link or empty directory. */
void tree_remove(struct tree *t, const char *rel);
void tree_dev(struct tree *t, const struct fake_dev *d);
char *tree_read(struct tree *t, const char *rel);
char *tree_link(struct tree *t, const char *rel);
/* Every file with its content and every link with its target, sorted. */
char *tree_snapshot(struct tree *t);
/* Runs `vmm host ARGS... --sysroot ROOT`, capturing out and log; returns the exit status. */
int tree_run(struct tree *t, const char *args);
/* The lines of b missing from a, joined. */
char *tree_diff(const char *a, const char *b);

/* A host whose IOMMU is on and ready, as the lab's is. */
void tree_iommu_on(struct tree *t);
/* The root filesystem on /dev/sda2 behind the SATA controller at bdf. */
void tree_root_on_sata(struct tree *t, const char *bdf);

#endif
