// SPDX-License-Identifier: MIT
/* A user to run as, or to give device nodes to (user.h). */
#include "user.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A decimal id, the whole of s up to end (or the string's end); false if not one. */
static bool parse_id(const char *s, const char *end, unsigned long *out)
{
	char *stop;

	if (!end)
		end = s + strlen(s);
	if (s == end || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoul(s, &stop, 10);
	return !errno && stop == end && *out < UINT_MAX;
}

/* The passwd entry for name, or (name NULL) for uid. */
static int find_passwd(const char *etc, const char *name, uid_t uid, struct user *u)
{
	char path[PATH_MAX];
	struct passwd *pw;
	int ret = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "%s/passwd", etc);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while ((pw = fgetpwent(f))) {
		if (name ? strcmp(pw->pw_name, name) : pw->pw_uid != uid)
			continue;
		if (strlen(pw->pw_name) >= sizeof(u->name)) {
			ret = -ENAMETOOLONG;
			break;
		}
		snprintf(u->name, sizeof(u->name), "%s", pw->pw_name);
		u->uid = pw->pw_uid;
		u->gid = pw->pw_gid;
		ret = 0;
		break;
	}
	fclose(f);
	return ret;
}

static void add_group(struct user *u, gid_t g)
{
	for (unsigned i = 0; i < u->nr_groups; i++)
		if (u->groups[i] == g)
			return;
	if (u->nr_groups < USER_GROUPS_MAX)
		u->groups[u->nr_groups++] = g;
}

/* The primary group, then every group ETC/group lists the name in. */
static void find_groups(const char *etc, struct user *u)
{
	char path[PATH_MAX];
	struct group *gr;
	FILE *f;

	u->nr_groups = 0;
	add_group(u, u->gid);
	if (!u->name[0])
		return;
	snprintf(path, sizeof(path), "%s/group", etc);
	f = fopen(path, "re");
	if (!f)
		return; /* no group file: the primary group alone */
	while ((gr = fgetgrent(f)))
		for (char **m = gr->gr_mem; m && *m; m++)
			if (!strcmp(*m, u->name))
				add_group(u, gr->gr_gid);
	fclose(f);
}

int user_lookup(const char *spec, const char *etc, struct user *u, char *why, size_t len)
{
	const char *colon = strchr(spec, ':');
	unsigned long uid, gid;
	int ret;

	memset(u, 0, sizeof(*u));
	if (!*spec) {
		snprintf(why, len, "--user: which user? a name, or UID[:GID]");
		return -EINVAL;
	}
	if (parse_id(spec, colon, &uid)) {
		if (colon && !parse_id(colon + 1, NULL, &gid)) {
			snprintf(why, len, "--user %.64s: expected a name, or UID[:GID] in numbers",
				 spec);
			return -EINVAL;
		}
		ret = find_passwd(etc, NULL, (uid_t)uid, u);
		u->uid = (uid_t)uid;
		if (colon)
			u->gid = (gid_t)gid;
		else if (ret)
			u->gid = (gid_t)uid;
	} else {
		ret = find_passwd(etc, spec, 0, u);
		if (ret) {
			snprintf(why, len, "--user %.64s: %s in %s/passwd (a UID[:GID] in numbers "
				 "works too)", spec, ret == -ENOENT ? "no such user" : strerror(-ret),
				 etc);
			return ret == -ENOENT ? -EINVAL : ret;
		}
	}
	if (u->uid == 0) {
		snprintf(why, len, "--user %.64s: that is root, which drops nothing; name the user "
			 "the guest should run as", spec);
		return -EINVAL;
	}
	find_groups(etc, u);
	return 0;
}

uint64_t user_caps_effective(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { { 0 } };

	if (syscall(SYS_capget, &h, d))
		return UINT64_MAX;
	return d[0].effective | (uint64_t)d[1].effective << 32;
}

/* What user_drop() left: the ids all u's, no capability at all. */
static bool dropped(const struct user *u)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { { 0 } };
	uid_t r, e, s;
	gid_t gr, ge, gs;

	if (getresuid(&r, &e, &s) || getresgid(&gr, &ge, &gs) || syscall(SYS_capget, &h, d))
		return false;
	return r == u->uid && e == u->uid && s == u->uid && gr == u->gid && ge == u->gid &&
	       gs == u->gid && !d[0].effective && !d[1].effective && !d[0].permitted &&
	       !d[1].permitted;
}

int user_raise_memlock(uint64_t want, char *why, size_t len)
{
	struct rlimit rl;

	if (!want || getrlimit(RLIMIT_MEMLOCK, &rl))
		return 0;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
		return 0;
	struct rlimit up = { .rlim_cur = want, .rlim_max = rl.rlim_max };

	if (up.rlim_max != RLIM_INFINITY && up.rlim_max < want)
		up.rlim_max = want;
	if (setrlimit(RLIMIT_MEMLOCK, &up)) {
		int err = errno;

		snprintf(why, len, "cannot raise the locked-memory limit to %llu MiB (it is %llu "
			 "MiB, at most %llu): %s", (unsigned long long)(want >> 20),
			 (unsigned long long)(rl.rlim_cur >> 20),
			 (unsigned long long)(rl.rlim_max >> 20), strerror(err));
		return -err;
	}
	return 0;
}

int user_drop(const struct user *u, char *why, size_t len)
{
	const char *who = u->name[0] ? u->name : "that user";
	int ret;

	if (getuid() == u->uid && geteuid() == u->uid && getegid() == u->gid)
		return 0;
	if (geteuid() != 0) {
		snprintf(why, len, "--user %s (uid %u): switching users needs the vmm started as "
			 "root; it runs as uid %u (leave --user out to run as yourself)", who,
			 (unsigned)u->uid, (unsigned)geteuid());
		return -EPERM;
	}
	/* Groups, then gid, then uid: after setuid none of the others may change. */
	if (setgroups(u->nr_groups, u->groups) || setresgid(u->gid, u->gid, u->gid) ||
	    setresuid(u->uid, u->uid, u->uid) || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		ret = -errno;
		snprintf(why, len, "--user %s: cannot switch to uid %u gid %u: %s", who,
			 (unsigned)u->uid, (unsigned)u->gid, strerror(-ret));
		return ret;
	}
	if (!dropped(u)) {
		snprintf(why, len, "--user %s: after the switch the vmm still holds root's ids or "
			 "capabilities (SECBIT_KEEP_CAPS set by whoever started it?)", who);
		return -EPERM;
	}
	return 0;
}
