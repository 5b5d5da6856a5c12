// SPDX-License-Identifier: MIT
/*
 * file_replace(): a file is replaced whole or not at all, also when the
 * disk fills half-way (RLIMIT_FSIZE stands in for a full disk), and the
 * error it reports is the one that stopped it.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"

#define OLD "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"\"\n"

static char dir[64];
static char path[128];

static void put(const char *p, const char *content, mode_t mode)
{
	FILE *f = fopen(p, "w");

	cr_assert_not_null(f, "%s: %s", p, strerror(errno));
	fputs(content, f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(chmod(p, mode), 0);
}

static char *get(const char *p)
{
	static char buf[8192];
	int fd = open(p, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	cr_assert_geq(n, 0, "%s: %s", p, strerror(errno));
	close(fd);
	buf[n] = '\0';
	return buf;
}

/* The names in dir, space-separated, sorted. */
static char *names(void)
{
	static char buf[1024];
	struct dirent **e;
	int n = scandir(dir, &e, NULL, alphasort);

	cr_assert_geq(n, 0);
	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (strcmp(e[i]->d_name, ".") && strcmp(e[i]->d_name, ".."))
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s",
				 buf[0] ? " " : "", e[i]->d_name);
		free(e[i]);
	}
	free(e);
	return buf;
}

static mode_t mode_of(const char *p)
{
	struct stat st;

	cr_assert_eq(stat(p, &st), 0, "%s: %s", p, strerror(errno));
	return st.st_mode & 07777;
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_file.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/grub", dir);
}

static void teardown(void)
{
	struct dirent **e;
	int n = scandir(dir, &e, NULL, NULL);
	char p[384];

	for (int i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, e[i]->d_name);
		unlink(p);
		free(e[i]);
	}
	if (n >= 0)
		free(e);
	rmdir(dir);
}

TestSuite(file, .init = setup, .fini = teardown);

/*
 * fsync() and rename() as file.c makes them, recorded in order (linked with
 * --wrap: tests/unit/meson.build): what was synced, a file or a directory,
 * and which inode, so a test can say the rename was made durable.
 */
static struct {
	char what;      /* 'f' a file synced, 'd' a directory synced, 'r' a rename */
	ino_t ino;
} calls[16];
static unsigned nr_calls;

int __real_fsync(int fd);
int __wrap_fsync(int fd);
int __real_rename(const char *from, const char *to);
int __wrap_rename(const char *from, const char *to);

int __wrap_fsync(int fd)
{
	struct stat st;

	if (nr_calls < 16 && fstat(fd, &st) == 0)
		calls[nr_calls++] = (typeof(calls[0])){ S_ISDIR(st.st_mode) ? 'd' : 'f', st.st_ino };
	return __real_fsync(fd);
}

int __wrap_rename(const char *from, const char *to)
{
	if (nr_calls < 16)
		calls[nr_calls++] = (typeof(calls[0])){ 'r', 0 };
	return __real_rename(from, to);
}

/*
 * Issue 18, finding 8: a rename is durable only once its directory is
 * synced; without that, a crash can bring the old file back (or none).
 */
Test(file, the_directory_is_synced_after_the_rename)
{
	struct stat d;
	char seq[17] = "";

	put(path, OLD, 0644);
	nr_calls = 0;
	cr_assert_eq(file_replace(path, "new\n", 4, 0644), 0);
	cr_assert_eq(stat(dir, &d), 0);
	for (unsigned i = 0; i < nr_calls; i++)
		seq[i] = calls[i].what;
	cr_assert_str_eq(seq, "frd", "the new file synced, renamed, then its directory: %s", seq);
	cr_assert_eq(calls[2].ino, d.st_ino, "the directory synced is the file's own");
}

/* The audit's case: a file of 72 bytes, a disk with room for 80, a new content of 4 KiB. */
Test(file, a_full_disk_leaves_the_old_file_whole)
{
	struct rlimit small = { .rlim_cur = 80, .rlim_max = RLIM_INFINITY }, was;
	char big[4096];
	int ret;

	memset(big, '#', sizeof(big));
	put(path, OLD, 0640);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &was), 0);
	small.rlim_max = was.rlim_max;
	/* Past the limit write() fails with EFBIG, once SIGXFSZ no longer kills the process. */
	signal(SIGXFSZ, SIG_IGN);
	errno = ENOENT; /* the stale errno the audit saw reported */
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
	ret = file_replace(path, big, sizeof(big), 0644);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &was), 0);

	cr_assert_str_eq(get(path), OLD, "the old file is now %zu bytes: \"%s\" (file_replace said %d)",
			 strlen(get(path)), get(path), ret);
	cr_assert(ret == -EFBIG || ret == -ENOSPC, "file_replace said %d (%s), not EFBIG or ENOSPC",
		  ret, ret ? strerror(-ret) : "success");
	cr_assert_eq(mode_of(path), 0640);
	cr_assert_str_eq(names(), "grub", "left in the directory: %s", names());
}

/* A reader that opened the file before still reads the old file whole; the mode stays. */
Test(file, replaces_whole_and_keeps_the_mode)
{
	char buf[128];
	int fd;
	ssize_t n;

	put(path, OLD, 0640);
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(file_replace(path, "new\n", 4, 0600), 0);
	cr_assert_str_eq(get(path), "new\n");
	cr_assert_eq(mode_of(path), 0640, "mode 0%o, not the old file's 0640", mode_of(path));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	cr_assert_str_eq(buf, OLD, "a reader saw the file change under it");
	cr_assert_str_eq(names(), "grub", "left in the directory: %s", names());
}

/* A new file gets the mode asked for, whatever the umask. */
Test(file, a_new_file_gets_the_mode_given)
{
	umask(027);
	cr_assert_eq(file_replace(path, "x\n", 2, 0644), 0);
	cr_assert_str_eq(get(path), "x\n");
	cr_assert_eq(mode_of(path), 0644, "mode 0%o, not 0644", mode_of(path));
	cr_assert_eq(file_replace(path, "", 0, 0600), 0);
	cr_assert_str_eq(get(path), "");
	cr_assert_eq(mode_of(path), 0644);
}

/* A symbolic link stays one: the file it names is replaced, as a write in place would. */
Test(file, a_symbolic_link_stays)
{
	char target[160], link_to[PATH_MAX];
	ssize_t n;

	snprintf(target, sizeof(target), "%s/grub.real", dir);
	put(target, OLD, 0600);
	cr_assert_eq(symlink("grub.real", path), 0);
	cr_assert_eq(file_replace(path, "new\n", 4, 0644), 0);
	n = readlink(path, link_to, sizeof(link_to) - 1);
	cr_assert_gt(n, 0, "the link was replaced by a file");
	link_to[n] = '\0';
	cr_assert_str_eq(link_to, "grub.real");
	cr_assert_str_eq(get(target), "new\n");
	cr_assert_eq(mode_of(target), 0600);
	cr_assert_str_eq(names(), "grub grub.real");
}
