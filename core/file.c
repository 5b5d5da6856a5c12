// SPDX-License-Identifier: MIT
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int file_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		/* No error and no progress: the file system has no room for more. */
		if (n == 0)
			return -ENOSPC;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The directory part of path: "." when it has none, "/" for a file in the root. */
static int dir_of(const char *path, char *dir, size_t len)
{
	const char *slash = strrchr(path, '/'), *from = slash ? path : ".";
	size_t n = !slash || slash == path ? 1 : (size_t)(slash - path);

	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(dir, from, n);
	dir[n] = '\0';
	return 0;
}

int file_fsync_dir(const char *path)
{
	char dir[PATH_MAX];
	int fd, ret = dir_of(path, dir, sizeof(dir));

	if (ret)
		return ret;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* A file system that cannot sync a directory says EINVAL: nothing more to do there. */
	ret = fsync(fd) && errno != EINVAL ? -errno : 0;
	close(fd);
	return ret;
}

/*
 * What file_replace() replaces: path, or the file its symbolic link names
 * (as a write in place would have changed), into real; with its stat in
 * *st and *exists set when there is one.
 */
static int resolve(const char *path, char *real, struct stat *st, bool *exists)
{
	*exists = false;
	if (lstat(path, st) == 0 && S_ISLNK(st->st_mode)) {
		if (!realpath(path, real))
			return -errno;
	} else if (snprintf(real, PATH_MAX, "%s", path) >= PATH_MAX) {
		return -ENAMETOOLONG;
	}
	if (stat(real, st) == 0) {
		*exists = true;
		return 0;
	}
	return errno == ENOENT ? 0 : -errno;
}

/* The new content, owner and mode into the temporary file fd, synced. */
static int fill(int fd, const void *data, size_t len, const struct stat *old, mode_t mode)
{
	struct stat st;
	int ret = file_write_all(fd, data, len);

	if (ret)
		return ret;
	if (old && (fstat(fd, &st) ||
		    ((st.st_uid != old->st_uid || st.st_gid != old->st_gid) &&
		     fchown(fd, old->st_uid, old->st_gid))))
		return -errno;
	/* After fchown, which clears set-ID bits. */
	if (fchmod(fd, old ? old->st_mode & 07777 : mode & 07777) || fsync(fd))
		return -errno;
	return 0;
}

int file_replace(const char *path, const void *data, size_t len, mode_t mode)
{
	char real[PATH_MAX], tmp[PATH_MAX];
	struct stat st;
	bool exists;
	int fd, ret = resolve(path, real, &st, &exists);

	if (ret)
		return ret;
	const char *base = strrchr(real, '/');

	base = base ? base + 1 : real;
	/*
	 * Hidden, and with a name that no *.conf or *.rules glob takes, so
	 * that one left by a crash is read by nothing.
	 */
	if (snprintf(tmp, sizeof(tmp), "%.*s.%s.XXXXXX", (int)(base - real), real, base) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = fill(fd, data, len, exists ? &st : NULL, mode);
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, real))
		ret = -errno;
	if (ret) {
		unlink(tmp);
		return ret;
	}
	return file_fsync_dir(real);
}
