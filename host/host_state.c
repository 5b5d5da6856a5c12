// SPDX-License-Identifier: MIT
/*
 * The state file of `vmm host bind`: per function, the driver and the
 * driver_override it had before the first bind, so that `restore` puts
 * back exactly that, even after a reboot of the tool or a second bind.
 *
 *   {"version":1,"devices":[{"bdf":"0000:01:00.0","driver":"nvidia","driver_override":null}]}
 *
 * The reader takes only this shape (any order, any white space) and refuses
 * anything else with what is at fault, rather than guessing.
 */
#include "host.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "core/log.h"

/* A string of at most len - 1 bytes, or null (then *set is false, buf ""); -EINVAL else. */
static int str_or_null(const json_t *v, char *buf, size_t len, bool *set)
{
	buf[0] = '\0';
	*set = json_is_string(v);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= len)
		return -EINVAL;
	memcpy(buf, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

/* One device; -EINVAL with why. */
static int entry(json_t *j, struct host_state_entry *e, char *why, size_t len)
{
	const char *bdf;
	json_t *driver = NULL, *override = NULL;
	json_error_t err;
	bool set;

	memset(e, 0, sizeof(*e));
	if (json_unpack_ex(j, &err, JSON_STRICT, "{s:s, s?o, s?o}", "bdf", &bdf, "driver", &driver,
			   "driver_override", &override)) {
		snprintf(why, len, "a device: %s", err.text);
		return -EINVAL;
	}
	if (!bdf[0] || strlen(bdf) >= sizeof(e->bdf) ||
	    str_or_null(driver, e->driver, sizeof(e->driver), &set) ||
	    str_or_null(override, e->override, sizeof(e->override), &e->has_override)) {
		snprintf(why, len, "device %s: a bad bdf, driver or driver_override", bdf);
		return -EINVAL;
	}
	memcpy(e->bdf, bdf, strlen(bdf) + 1);
	return 0;
}

/* The whole file; -EINVAL with why. */
static int parse(json_t *root, struct host_state *st, char *why, size_t len)
{
	json_int_t version;
	json_t *devs, *j;
	json_error_t err;
	size_t i;

	if (json_unpack_ex(root, &err, JSON_STRICT, "{s:I, s:o}", "version", &version,
			   "devices", &devs)) {
		snprintf(why, len, "%s", err.text);
		return -EINVAL;
	}
	if (version != 1 || !json_is_array(devs) || json_array_size(devs) > HOST_STATE_MAX) {
		snprintf(why, len, "not version 1, or devices not an array of at most %d",
			 HOST_STATE_MAX);
		return -EINVAL;
	}
	json_array_foreach(devs, i, j) {
		if (entry(j, &st->e[st->n], why, len))
			return -EINVAL;
		st->n++;
	}
	return 0;
}

int host_state_load(const char *path, struct host_state *st)
{
	enum { MAX = 256 * 1024 };
	char *buf = malloc(MAX), why[JSON_ERROR_TEXT_LENGTH + 32];
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;
	json_error_t err;
	json_t *root;

	memset(st, 0, sizeof(*st));
	if (fd < 0 || !buf) {
		ret = fd < 0 && errno == ENOENT ? 0 : -errno;
		if (ret)
			pr_err("state file %s: %s", path, strerror(-ret));
		goto out;
	}
	ssize_t n = read(fd, buf, MAX);

	if (n < 0 || n == MAX) {
		ret = n < 0 ? -errno : -EFBIG;
		pr_err("state file %s: %s", path, strerror(-ret));
		goto out;
	}
	root = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, &err);
	if (root) {
		ret = parse(root, st, why, sizeof(why));
		json_decref(root);
	} else {
		ret = json_error_code(&err) == json_error_out_of_memory ? -ENOMEM : -EINVAL;
		snprintf(why, sizeof(why), "at byte %d: %s", err.position, err.text);
	}
	if (ret == -ENOMEM)
		pr_err("state file %s: %s", path, strerror(ENOMEM));
	else if (ret)
		pr_err("state file %s: not what vmm host bind writes (%s); fix or remove it", path, why);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

/* The directories above path; each one made is synced into its parent, as the file will be. */
static int mkdirs(const char *path)
{
	char dir[PATH_MAX];
	int ret;

	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) == 0) {
			ret = file_fsync_dir(dir);
			if (ret)
				return ret;
		} else if (errno != EEXIST) {
			return -errno;
		}
		*p = '/';
	}
	return 0;
}

/*
 * Indented, a key a line, ending in a newline, for whoever reads it before
 * a restore. Strings go in as they are or not at all: restore writes them
 * back to sysfs, so a driver name that is not UTF-8 is refused (-EINVAL)
 * rather than changed.
 */
static int state_text(const struct host_state *st, char **text)
{
	json_error_t err;
	json_t *devs = json_array(), *root;

	for (size_t i = 0; i < st->n && devs; i++) {
		const struct host_state_entry *e = &st->e[i];
		json_t *j = json_pack_ex(&err, 0, "{s:s, s:s?, s:s?}", "bdf", e->bdf,
					 "driver", e->driver[0] ? e->driver : NULL,
					 "driver_override", e->has_override ? e->override : NULL);

		if (!j && json_error_code(&err) == json_error_invalid_utf8) {
			json_decref(devs);
			return -EINVAL;
		}
		host_json_push(&devs, j);
	}
	root = json_pack("{s:i, s:o}", "version", 1, "devices", devs);
	char *json = root ? json_dumps(root, JSON_INDENT(2)) : NULL;

	json_decref(root);
	if (!json || asprintf(text, "%s\n", json) < 0)
		*text = NULL;
	free(json);
	return *text ? 0 : -ENOMEM;
}

/*
 * Replaced whole (file_replace), so that a crash or a full disk leaves the
 * old state or the new, and the new one is on disk before any driver moves.
 */
int host_state_save(const char *path, const struct host_state *st)
{
	char *text = NULL;
	int ret;

	if (!st->n) {
		if (unlink(path))
			return errno == ENOENT ? 0 : -errno;
		return file_fsync_dir(path);
	}
	ret = mkdirs(path);
	if (!ret)
		ret = state_text(st, &text);
	if (!ret)
		ret = file_replace(path, text, strlen(text), 0644);
	free(text);
	return ret;
}

struct host_state_entry *host_state_find(struct host_state *st, const char *bdf)
{
	for (size_t i = 0; i < st->n; i++) {
		if (!strcmp(st->e[i].bdf, bdf))
			return &st->e[i];
	}
	return NULL;
}

void host_state_remove(struct host_state *st, const char *bdf)
{
	struct host_state_entry *e = host_state_find(st, bdf);

	if (!e)
		return;
	size_t i = (size_t)(e - st->e);

	memmove(e, e + 1, (st->n - i - 1) * sizeof(*e));
	st->n--;
}
