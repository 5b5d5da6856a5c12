/* SPDX-License-Identifier: MIT */
#ifndef HOST_HOST_H
#define HOST_HOST_H

/*
 * `vmm host`: the manual steps of the passthrough guides (check the IOMMU,
 * read the groups, bind to vfio-pci, make it persistent, undo it) as
 * commands. Everything is read and written under a root directory (the
 * --sysroot option, "/" by default), so tests run on fake sysfs trees.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>

#include "vfio/host_sysfs.h"

enum host_verdict { HOST_SAFE, HOST_TOGETHER, HOST_UNSAFE };

/*
 * A stand-in for the kernel's reaction to a sysfs write, for tests on fake
 * trees (the real kernel rebinds on its own). rel is the path under the
 * sysroot, e.g. "sys/bus/pci/drivers_probe".
 */
typedef void host_sim_fn(const char *root, const char *rel, const char *value, void *arg);

struct host_io {
	FILE *out;          /* results: text or JSON */
	FILE *log;          /* each sysfs write, announced before it is made */
	host_sim_fn *sim;   /* NULL on a real host */
	void *sim_arg;
};

/* `vmm host ...` with argv[0] == "host"; returns the exit status. */
int host_main(int argc, char **argv);
int host_cmd(int argc, char **argv, const struct host_io *io);

/* Groups and verdicts (host_groups.c). */
enum host_verdict host_group_verdict(const struct host *h, int group, char *why, size_t len);
const char *host_verdict_name(enum host_verdict v);
int host_cmd_groups(const struct host *h, bool json, FILE *out);
/*
 * 0; -ENODEV for no such device (not said), -ENOMEM (said), -EINVAL for
 * a sysfs value that is not a number (said, naming the file).
 */
int host_cmd_show(const struct host *h, const char *bdf, bool json, FILE *out);

/* Findings about the whole host (host_check.c). */
enum host_boot { HOST_BOOT_UNKNOWN, HOST_BOOT_GRUB, HOST_BOOT_SDBOOT };
enum host_boot host_bootloader(const struct host *h);
const char *host_iommu_params(const struct host *h);
int host_cmd_check(const struct host *h, uint64_t guest_memory, bool json, FILE *out);

/* Binding (host_bind.c). */
struct host_bind_opts {
	bool dry_run, force, all_functions, json;
	const char *state;  /* the state file */
	const char *user;   /* bind --user: who gets the groups' /dev/vfio nodes; NULL: nobody */
};
int host_cmd_bind(struct host *h, const struct host_bind_opts *o, char **bdfs, int n,
		  const struct host_io *io);
int host_cmd_unbind(struct host *h, const struct host_bind_opts *o, char **bdfs, int n,
		    const struct host_io *io);
int host_default_state(const struct host *h, char *buf, size_t len);

/* Persistent configuration (host_persist.c). */
struct host_persist_opts {
	bool write, rollback, json;
	const char *state;  /* where bind recorded the functions bound now */
};
int host_cmd_persist(const struct host *h, const struct host_persist_opts *o, char **bdfs, int n,
		     const struct host_io *io);

/* The state file of bind (host_state.c). */
struct host_state_entry {
	char bdf[HOST_BDF_LEN];
	char driver[HOST_NAME_LEN];   /* "" when it had none */
	char override[HOST_NAME_LEN];
	bool has_override;            /* false: driver_override was unset */
};

/* What a load could not trust: one entry of the file, or the file as a whole. */
struct host_state_bad {
	unsigned line;                /* where it starts; 0: the file as a whole */
	char bdf[HOST_BDF_LEN];       /* the function it names, "" if none can be read */
	char why[96];
};

/* As many entries as the file holds: no fixed limit. */
struct host_state {
	struct host_state_entry *e;
	size_t n, cap;
	struct host_state_bad *bad;   /* after a load that returned -EINVAL */
	size_t n_bad;
};

/*
 * A missing file is an empty state, 0. A file not entirely what bind
 * writes is -EINVAL, with st holding every entry that could be read whole
 * and each one that could not in st->bad (each said on stderr with its
 * line). Other errors: -errno said on stderr, st empty. Free st in all cases.
 */
int host_state_load(const char *path, struct host_state *st) __attribute__((warn_unused_result));
/* An empty state removes the file. */
int host_state_save(const char *path, const struct host_state *st) __attribute__((warn_unused_result));
/* Appends a copy of e; 0 or -ENOMEM. */
int host_state_add(struct host_state *st, const struct host_state_entry *e)
	__attribute__((warn_unused_result));
void host_state_free(struct host_state *st);
struct host_state_entry *host_state_find(struct host_state *st, const char *bdf);
void host_state_remove(struct host_state *st, const char *bdf);
/*
 * Moves a state file that load found corrupt aside, to PATH.corrupt (or
 * PATH.corrupt.N, never over an earlier one), so that the next save does
 * not destroy what a person may still read in it; the new name into
 * aside. 0 or -errno.
 */
int host_state_keep_corrupt(const char *path, char *aside, size_t len)
	__attribute__((warn_unused_result));

/* JSON output, built with jansson (host_main.c). */
struct json_t;
/*
 * A string, or null for NULL. What sysfs and the files under the sysroot
 * hold need not be UTF-8 (a mount point, a comment in /etc/default/grub, a
 * detail cut mid-character): such bytes become U+FFFD, as JSON carries
 * only Unicode. NULL when out of memory, which json_pack() then refuses.
 */
struct json_t *host_json_text(const char *s);
/* Appends v to *array; on failure drops both and leaves *array NULL. */
void host_json_push(struct json_t **array, struct json_t *v);
/*
 * Prints root on one line and drops it: 0, or -ENOMEM said on stderr when
 * it cannot (root NULL: building it ran out of memory).
 */
int host_json_print(FILE *out, struct json_t *root) __attribute__((warn_unused_result));

#endif
