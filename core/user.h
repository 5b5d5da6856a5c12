/* SPDX-License-Identifier: MIT */
#ifndef CORE_USER_H
#define CORE_USER_H

/*
 * The user that `vmm run --user` drops to and `vmm host bind --user`
 * hands a device's nodes to: looked up in the host's own passwd and group
 * files (read directly, so the static build needs no NSS module), or
 * given as numbers.
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define USER_GROUPS_MAX 64

struct user {
	char name[64];          /* the passwd entry's name; "" for bare numbers */
	uid_t uid;
	gid_t gid;
	gid_t groups[USER_GROUPS_MAX]; /* supplementary, the primary first */
	unsigned nr_groups;
};

/*
 * spec: a name in ETC/passwd, or UID[:GID] (GID defaults to the passwd
 * entry's for that UID, else to UID). The supplementary groups are those
 * of ETC/group that list the name. etc is "/etc" but in tests. Root
 * (uid 0) is refused: dropping to it drops nothing. 0, or -errno with why
 * said in full.
 */
int user_lookup(const char *spec, const char *etc, struct user *u, char *why, size_t len);

/*
 * The locked-memory limit raised to at least want bytes while the process
 * may still (root with CAP_SYS_RESOURCE, or within the hard limit): what
 * pinning guest RAM for DMA needs again when the machine is made anew on
 * a reboot, after user_drop(). 0, or -errno with why.
 */
int user_raise_memlock(uint64_t want, char *why, size_t len);

/*
 * The process becomes u for good: its groups, its gid, then its uid
 * (real, effective and saved, in every thread), with no capability left
 * and no way to gain privilege again (no_new_privs). Already running as
 * u: nothing to do. 0, or -errno with why; a partial drop is never left:
 * the checks after it fail the run.
 */
int user_drop(const struct user *u, char *why, size_t len);

/* The effective capability set of this process (0 after user_drop()). */
uint64_t user_caps_effective(void);

#endif
