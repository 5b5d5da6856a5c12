// SPDX-License-Identifier: MIT
/*
 * --user: the user looked up in passwd and group files the test writes,
 * and the drop to it, in a child process (it needs root, and is for good).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/user.h"

static char etc[] = "/tmp/test_user.XXXXXX";

static void write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", etc, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

static void setup(void)
{
	cr_assert_not_null(mkdtemp(etc));
	write_file("passwd", "root:x:0:0:root:/root:/bin/sh\n"
		   "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
		   "bob:x:1001:100::/home/bob:/bin/sh\n");
	write_file("group", "root:x:0:\nkvm:x:104:alice,bob\nusers:x:100:\n"
		   "alice:x:1000:\nvfio:x:990:carol,alice\n");
}

static void teardown(void)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/passwd", etc);
	unlink(path);
	snprintf(path, sizeof(path), "%s/group", etc);
	unlink(path);
	rmdir(etc);
	strcpy(etc, "/tmp/test_user.XXXXXX");
}

TestSuite(user, .init = setup, .fini = teardown);

Test(user, a_name_gets_its_ids_and_every_group_that_lists_it)
{
	char why[256] = "";
	struct user u;

	cr_assert_eq(user_lookup("alice", etc, &u, why, sizeof(why)), 0, "%s", why);
	cr_assert_str_eq(u.name, "alice");
	cr_assert_eq(u.uid, 1000);
	cr_assert_eq(u.gid, 1000);
	cr_assert_eq(u.nr_groups, 3);
	cr_assert_eq(u.groups[0], 1000, "the primary group first");
	cr_assert_eq(u.groups[1], 104);
	cr_assert_eq(u.groups[2], 990);
}

Test(user, numbers_work_with_or_without_a_passwd_entry)
{
	char why[256] = "";
	struct user u;

	cr_assert_eq(user_lookup("1001", etc, &u, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(u.uid, 1001);
	cr_assert_eq(u.gid, 100, "the entry's primary group");
	cr_assert_str_eq(u.name, "bob");
	cr_assert_eq(u.nr_groups, 2, "users, and kvm which lists bob");
	cr_assert_eq(user_lookup("4242:4343", etc, &u, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(u.uid, 4242);
	cr_assert_eq(u.gid, 4343);
	cr_assert_eq(u.nr_groups, 1);
	cr_assert_eq(user_lookup("4242", etc, &u, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(u.gid, 4242, "no entry: the gid is the uid");
}

Test(user, unknown_names_bad_numbers_and_root_are_refused_by_name)
{
	char why[256] = "";
	struct user u;

	cr_assert_eq(user_lookup("mallory", etc, &u, why, sizeof(why)), -EINVAL);
	cr_assert(strstr(why, "--user mallory: no such user in"), "%s", why);
	cr_assert_eq(user_lookup("1000:x", etc, &u, why, sizeof(why)), -EINVAL);
	cr_assert(strstr(why, "--user 1000:x:"), "%s", why);
	cr_assert_eq(user_lookup("root", etc, &u, why, sizeof(why)), -EINVAL);
	cr_assert(strstr(why, "that is root"), "%s", why);
	cr_assert_eq(user_lookup("0:0", etc, &u, why, sizeof(why)), -EINVAL);
	cr_assert_eq(user_lookup("", etc, &u, why, sizeof(why)), -EINVAL);
	cr_assert_eq(user_lookup("99999999999", etc, &u, why, sizeof(why)), -EINVAL,
		     "too large for a uid: a name, which is not there");
}

Test(user, the_drop_leaves_that_user_with_no_capability)
{
	struct user u = { .uid = 65534, .gid = 65534, .groups = { 65534, 104 }, .nr_groups = 2 };
	int status;
	pid_t pid;

	if (geteuid() != 0)
		cr_skip_test("needs root (it runs as uid %u)", (unsigned)geteuid());
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		char why[256] = "";
		gid_t g[4];

		if (user_drop(&u, why, sizeof(why))) {
			fprintf(stderr, "%s\n", why);
			_exit(1);
		}
		if (getuid() != 65534 || geteuid() != 65534 || getgid() != 65534)
			_exit(2);
		if (user_caps_effective() != 0)
			_exit(3);
		/* both, in the kernel's (sorted) order */
		if (getgroups(4, g) != 2 || g[0] != 104 || g[1] != 65534)
			_exit(4);
		/* no way back */
		if (setuid(0) == 0)
			_exit(6);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "the child died");
	cr_assert_eq(WEXITSTATUS(status), 0, "check %d failed (1: the drop, 2: ids, 3: "
		     "capabilities, 4: groups, 6: setuid(0) worked)", WEXITSTATUS(status));
}

Test(user, without_root_another_user_is_refused_and_oneself_is_fine)
{
	int status;
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		struct user nobody = { .uid = 65534, .gid = 65534, .groups = { 65534 },
				       .nr_groups = 1 };
		struct user other = { .uid = 4242, .gid = 4242, .groups = { 4242 }, .nr_groups = 1 };
		struct user self;
		char why[256] = "";

		/* As root, first become someone else: the rest is what any user meets. */
		if (geteuid() == 0 && user_drop(&nobody, why, sizeof(why)))
			_exit(1);
		if (user_drop(&other, why, sizeof(why)) != -EPERM ||
		    !strstr(why, "needs the vmm started as root"))
			_exit(2);
		self = (struct user){ .uid = getuid(), .gid = getegid() };
		if (user_drop(&self, why, sizeof(why)))
			_exit(3);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "check %d failed (1: the first drop, 2: the refusal, 3: oneself)",
		  WEXITSTATUS(status));
}

Test(user, the_memlock_limit_rises_within_what_is_allowed)
{
	struct rlimit rl, now;
	char why[256] = "";

	cr_assert_eq(getrlimit(RLIMIT_MEMLOCK, &rl), 0);
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max < 2)
		cr_skip_test("no finite hard limit to rise to");
	/* lower the soft limit, then ask for the hard one: no privilege needed */
	now = (struct rlimit){ .rlim_cur = rl.rlim_max / 2, .rlim_max = rl.rlim_max };
	cr_assert_eq(setrlimit(RLIMIT_MEMLOCK, &now), 0);
	cr_assert_eq(user_raise_memlock(rl.rlim_max, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(getrlimit(RLIMIT_MEMLOCK, &now), 0);
	cr_assert_eq(now.rlim_cur, rl.rlim_max);
	cr_assert_eq(user_raise_memlock(now.rlim_cur / 2, why, sizeof(why)), 0, "never lowered");
	cr_assert_eq(getrlimit(RLIMIT_MEMLOCK, &now), 0);
	cr_assert_eq(now.rlim_cur, rl.rlim_max);
}
