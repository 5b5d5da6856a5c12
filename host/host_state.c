// SPDX-License-Identifier: MIT
/*
 * The state file of `vmm host bind`: per function, the driver and the
 * driver_override it had before the first bind, so that `restore` puts
 * back exactly that, even after a reboot of the tool or a second bind.
 *
 *   {"version":1,"devices":[{"bdf":"0000:01:00.0","driver":"nvidia","driver_override":null}]}
 *
 * The reader takes only this shape (any order, any white space). A file
 * that is not all of it (cut off, edited by hand, a bad disk block) is
 * read entry by entry: each device object that parses whole on its own is
 * trusted, each that does not is named with its line and left out, so
 * that restore can still give back every function the file can vouch for.
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

/* Far more than bind writes (about 110 bytes a function), less than a mistake. */
#define STATE_FILE_MAX (64 << 20)

/* A string of at most len - 1 bytes, or null (then *set is false, buf ""); -EINVAL else. */
static int str_or_null(const json_t *v, char *buf, size_t len, bool *set)
{
	buf[0] = '\0';
	*set = json_is_string(v);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= len ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -EINVAL;
	memcpy(buf, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

/* One device; -EINVAL with why (and the BDF it names, if any, in e->bdf). */
static int entry(json_t *j, struct host_state_entry *e, char *why, size_t len)
{
	const char *bdf = "";
	json_t *driver = NULL, *override = NULL;
	json_error_t err;
	bool set;

	memset(e, 0, sizeof(*e));
	if (json_is_object(j) && json_is_string(json_object_get(j, "bdf")) &&
	    host_is_bdf(json_string_value(json_object_get(j, "bdf"))))
		snprintf(e->bdf, sizeof(e->bdf), "%s", json_string_value(json_object_get(j, "bdf")));
	if (json_unpack_ex(j, &err, JSON_STRICT, "{s:s, s?o, s?o}", "bdf", &bdf, "driver", &driver,
			   "driver_override", &override)) {
		snprintf(why, len, "%s", err.text);
		return -EINVAL;
	}
	if (!host_is_bdf(bdf)) {
		snprintf(why, len, "\"bdf\" is not a PCI address");
		return -EINVAL;
	}
	if (str_or_null(driver, e->driver, sizeof(e->driver), &set) ||
	    str_or_null(override, e->override, sizeof(e->override), &e->has_override)) {
		snprintf(why, len, "a bad \"driver\" or \"driver_override\"");
		return -EINVAL;
	}
	return 0;
}

int host_state_add(struct host_state *st, const struct host_state_entry *e)
{
	if (st->n == st->cap) {
		size_t cap = st->cap ? 2 * st->cap : 16;
		struct host_state_entry *grown = reallocarray(st->e, cap, sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		st->e = grown;
		st->cap = cap;
	}
	st->e[st->n++] = *e;
	return 0;
}

void host_state_free(struct host_state *st)
{
	free(st->e);
	free(st->bad);
	memset(st, 0, sizeof(*st));
}

/* Notes what could not be trusted; -ENOMEM when even that fails. */
static int add_bad(struct host_state *st, unsigned line, const char *bdf, const char *why)
{
	struct host_state_bad *grown = reallocarray(st->bad, st->n_bad + 1, sizeof(*grown));

	if (!grown)
		return -ENOMEM;
	st->bad = grown;
	grown = &st->bad[st->n_bad++];
	grown->line = line;
	snprintf(grown->bdf, sizeof(grown->bdf), "%s", bdf);
	/* Cut to the field, on purpose: one line of a report. */
	snprintf(grown->why, sizeof(grown->why), "%.*s", (int)sizeof(grown->why) - 1, why);
	return 0;
}

/* The line that byte off of text is on, counted from 1. */
static unsigned line_of(const char *text, size_t off)
{
	unsigned line = 1;

	for (size_t i = 0; i < off; i++)
		line += text[i] == '\n';
	return line;
}

/* ---- the whole file, as bind writes it ---- */

/* 0, or -EINVAL with why. */
static int parse_whole(json_t *root, struct host_state *st, char *why, size_t len)
{
	struct host_state_entry e;
	json_int_t version;
	json_t *devs, *j;
	json_error_t err;
	size_t i;

	if (json_unpack_ex(root, &err, JSON_STRICT, "{s:I, s:o}", "version", &version,
			   "devices", &devs)) {
		snprintf(why, len, "%s", err.text);
		return -EINVAL;
	}
	if (version != 1 || !json_is_array(devs)) {
		snprintf(why, len, "not version 1, or devices not an array");
		return -EINVAL;
	}
	json_array_foreach(devs, i, j) {
		if (entry(j, &e, why, len))
			return -EINVAL;
		if (host_state_find(st, e.bdf)) {
			snprintf(why, len, "two entries for %s", e.bdf);
			return -EINVAL;
		}
		if (host_state_add(st, &e))
			return -ENOMEM;
	}
	return 0;
}

/* ---- entry by entry, for a file that is not ---- */

/*
 * The end of the JSON object that starts at text[i] ('{'), or len when it
 * is cut off. A string ends at the end of its line at the latest (JSON has
 * no raw newline in one): a lost quote spoils one entry, not the rest.
 */
static size_t object_end(const char *text, size_t len, size_t i)
{
	bool in_string = false;
	unsigned depth = 0;

	for (; i < len; i++) {
		char c = text[i];

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"' || c == '\n')
				in_string = false;
		} else if (c == '"') {
			in_string = true;
		} else if (c == '{') {
			depth++;
		} else if (c == '}' && --depth == 0) {
			return i + 1;
		}
	}
	return len;
}

/* The BDF a broken object seems to be about, for the message; "" if it does not say. */
static void guess_bdf(const char *obj, size_t len, char bdf[HOST_BDF_LEN])
{
	const char *key = memmem(obj, len, "\"bdf\"", 5), *end = obj + len, *q;

	bdf[0] = '\0';
	if (!key || !(q = memchr(key + 5, '"', (size_t)(end - key - 5))) ||
	    (size_t)(end - q - 1) < HOST_BDF_LEN - 1)
		return;
	memcpy(bdf, q + 1, HOST_BDF_LEN - 1);
	bdf[HOST_BDF_LEN - 1] = '\0';
	if (!host_is_bdf(bdf))
		bdf[0] = '\0';
}

/* One object of the devices array, text[from, to): trusted into st, or noted as bad. */
static int scan_object(const char *text, size_t from, size_t to, bool cut, struct host_state *st)
{
	struct host_state_entry e = { .bdf = "" };
	char why[JSON_ERROR_TEXT_LENGTH + 32], bdf[HOST_BDF_LEN];
	unsigned line = line_of(text, from);
	json_error_t err;
	json_t *j = cut ? NULL : json_loadb(text + from, to - from, JSON_REJECT_DUPLICATES, &err);
	int ret = -EINVAL;

	guess_bdf(text + from, to - from, bdf);
	if (cut)
		snprintf(why, sizeof(why), "cut off at the end of the file");
	else if (!j)
		snprintf(why, sizeof(why), "%s", err.text);
	else if ((ret = entry(j, &e, why, sizeof(why))) == 0 && host_state_find(st, e.bdf))
		ret = -EEXIST;
	json_decref(j);
	if (!ret)
		return host_state_add(st, &e);
	if (ret == -EEXIST)
		snprintf(why, sizeof(why), "a second entry for %s (the first one is kept)", e.bdf);
	return add_bad(st, line, bdf[0] ? bdf : e.bdf, why);
}

/*
 * Every object in the array after "devices", each parsed on its own; what
 * lies between them that is not white space or a comma is noted too.
 */
static int scan(const char *text, size_t len, struct host_state *st)
{
	const char *key = memmem(text, len, "\"devices\"", 9);
	const char *open = key ? memchr(key, '[', len - (size_t)(key - text)) : NULL;
	int ret = 0;

	if (!open)
		return add_bad(st, 0, "", "no \"devices\" list in it");
	for (size_t i = (size_t)(open - text) + 1; i < len && !ret; i++) {
		char c = text[i];

		if (c == ']')
			return 0;
		if (c == '{') {
			size_t end = object_end(text, len, i);

			ret = scan_object(text, i, end, end == len, st);
			if (end == len) /* cut off in that entry, said with it */
				return ret;
			i = end - 1;
		} else if (!strchr(" \t\r\n,", c)) {
			size_t next = i;

			while (next < len && text[next] != '{' && text[next] != ']')
				next++;
			ret = add_bad(st, line_of(text, i), "", "not a device entry");
			i = next - 1;
		}
	}
	return ret ? ret : add_bad(st, 0, "", "the file ends before its devices list does");
}

/* All of fd into *buf (NUL-terminated), its length into *len; -errno. */
static int read_all(int fd, char **buf, size_t *len)
{
	struct stat s;
	size_t cap, n = 0;

	if (fstat(fd, &s))
		return -errno;
	if (s.st_size >= STATE_FILE_MAX)
		return -EFBIG;
	cap = (size_t)s.st_size + 1;
	*buf = malloc(cap);
	if (!*buf)
		return -ENOMEM;
	for (;;) {
		ssize_t r = read(fd, *buf + n, cap - 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		n += (size_t)r;
		if (r == 0 || n == cap - 1)
			break;
	}
	(*buf)[n] = '\0';
	*len = n;
	return 0;
}

/* What in the file is not to be trusted, said a line each. */
static void say_bad(const char *path, const struct host_state *st)
{
	for (size_t i = 0; i < st->n_bad; i++) {
		const struct host_state_bad *b = &st->bad[i];

		if (!b->line)
			pr_err("state file %s: %s", path, b->why);
		else
			pr_err("state file %s, line %u%s%s: %s; this entry is not used", path, b->line,
			       b->bdf[0] ? ", " : "", b->bdf, b->why);
	}
}

/* text is not all a state file should be: what of it can be read whole. */
static int load_entries(const char *path, const char *text, size_t len, const char *why,
			struct host_state *st)
{
	int ret;

	pr_err("state file %s: not what vmm host bind writes (%s); reading it entry by entry",
	       path, why);
	host_state_free(st);
	ret = scan(text, len, st);
	if (ret) {
		pr_err("state file %s: %s", path, strerror(-ret));
		host_state_free(st);
		return ret;
	}
	/* Each entry fine on its own: the fault is around them. */
	if (!st->n_bad)
		ret = add_bad(st, 0, "", "the rest of it (version, keys) is not what bind writes");
	if (ret)
		return ret;
	say_bad(path, st);
	return -EINVAL;
}

/* A file that parses as JSON but is of another version says things this one cannot read. */
static bool other_version(json_t *root)
{
	json_int_t version;

	return !json_unpack(root, "{s:I}", "version", &version) && version != 1;
}

int host_state_load(const char *path, struct host_state *st)
{
	char *buf = NULL, why[JSON_ERROR_TEXT_LENGTH + 32];
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;
	json_error_t err;
	size_t len = 0;
	json_t *root;

	memset(st, 0, sizeof(*st));
	if (fd < 0 && errno == ENOENT)
		return 0;
	ret = fd < 0 ? -errno : read_all(fd, &buf, &len);
	if (fd >= 0)
		close(fd);
	if (ret) {
		pr_err("state file %s: %s", path, strerror(-ret));
		free(buf);
		return ret;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	if (root && other_version(root)) {
		ret = add_bad(st, 0, "", "written by another version of vmm; none of it is used");
		say_bad(path, st);
		ret = ret ? ret : -EINVAL;
	} else if (root) {
		ret = parse_whole(root, st, why, sizeof(why));
	} else {
		ret = json_error_code(&err) == json_error_out_of_memory ? -ENOMEM : -EINVAL;
		snprintf(why, sizeof(why), "at line %d: %s", err.line, err.text);
	}
	if (ret == -ENOMEM) {
		pr_err("state file %s: %s", path, strerror(ENOMEM));
		host_state_free(st);
	} else if (ret && !st->n_bad) {
		ret = load_entries(path, buf, len, why, st);
	}
	json_decref(root);
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

int host_state_keep_corrupt(const char *path, char *aside, size_t len)
{
	for (unsigned i = 0; i < 100; i++) {
		int n = i ? snprintf(aside, len, "%s.corrupt.%u", path, i) :
			    snprintf(aside, len, "%s.corrupt", path);

		if (n < 0 || (size_t)n >= len)
			return -ENAMETOOLONG;
		/* link, then unlink: rename would replace an earlier copy without a word. */
		if (link(path, aside) == 0) {
			if (unlink(path))
				return -errno;
			return file_fsync_dir(path);
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
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
