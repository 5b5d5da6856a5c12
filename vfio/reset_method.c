// SPDX-License-Identifier: MIT
/* sysfs reset_method, read and written (reset_method.h). */
#include "vfio/reset_method.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void reset_method_path(const char *root, const char *bdf, char *path, size_t len)
{
	snprintf(path, len, "%s/sys/bus/pci/devices/%.16s/reset_method",
		 strcmp(root, "/") ? root : "", bdf);
}

int vfio_reset_methods_read_at(const char *root, const char *bdf, char *buf, size_t len)
{
	char path[512];
	FILE *f;
	int ret = 0;

	buf[0] = '\0';
	reset_method_path(root, bdf, path, sizeof(path));
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f))
		ret = ferror(f) ? -EIO : 0;
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return ret;
}

int vfio_reset_methods_write_at(const char *root, const char *bdf, const char *methods)
{
	char path[512];
	FILE *f;
	int ret = 0;

	reset_method_path(root, bdf, path, sizeof(path));
	f = fopen(path, "we");
	if (!f)
		return -errno;
	if (fputs(methods, f) == EOF)
		ret = -errno;
	if (fclose(f) && !ret)
		ret = -errno;
	return ret;
}

int vfio_reset_methods_read(const char *bdf, char *buf, size_t len)
{
	return vfio_reset_methods_read_at("", bdf, buf, len);
}

int vfio_reset_methods_write(const char *bdf, const char *methods)
{
	return vfio_reset_methods_write_at("", bdf, methods);
}
