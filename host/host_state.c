// SPDX-License-Identifier: MIT
/*
 * The state file of `vmm host bind`: per function, the driver and the
 * driver_override it had before the first bind, so that `restore` puts
 * back exactly that, even after a reboot of the tool or a second bind.
 *
 *   {"version":1,"devices":[{"bdf":"0000:01:00.0","driver":"nvidia","driver_override":null}]}
 *
 * The reader takes only this shape (any order, any white space) and refuses
 * anything else with the position at fault, rather than guessing.
 */
#include "host.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

struct parser {
	const char *s, *p;
};

static void ws(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\t' || *ps->p == '\r')
		ps->p++;
}

static bool lit(struct parser *ps, char c)
{
	ws(ps);
	if (*ps->p != c)
		return false;
	ps->p++;
	return true;
}

/* A string without escapes other than \" and \\ (the writer makes no others). */
static int str(struct parser *ps, char *buf, size_t len)
{
	size_t n = 0;

	if (!lit(ps, '"'))
		return -EINVAL;
	for (; *ps->p && *ps->p != '"'; ps->p++) {
		if (*ps->p == '\\' && (ps->p[1] == '"' || ps->p[1] == '\\'))
			ps->p++;
		else if (*ps->p == '\\' || (unsigned char)*ps->p < 0x20)
			return -EINVAL;
		if (n + 1 >= len)
			return -EINVAL;
		buf[n++] = *ps->p;
	}
	if (*ps->p != '"')
		return -EINVAL;
	ps->p++;
	buf[n] = '\0';
	return 0;
}

/* A string, or null (then *set is false). */
static int str_or_null(struct parser *ps, char *buf, size_t len, bool *set)
{
	ws(ps);
	if (!strncmp(ps->p, "null", 4)) {
		ps->p += 4;
		buf[0] = '\0';
		*set = false;
		return 0;
	}
	*set = true;
	return str(ps, buf, len);
}

static int entry(struct parser *ps, struct host_state_entry *e)
{
	char key[32];
	bool set;
	int ret = 0;

	memset(e, 0, sizeof(*e));
	if (!lit(ps, '{'))
		return -EINVAL;
	if (lit(ps, '}'))
		return -EINVAL;
	do {
		if (str(ps, key, sizeof(key)) || !lit(ps, ':'))
			return -EINVAL;
		if (!strcmp(key, "bdf"))
			ret = str(ps, e->bdf, sizeof(e->bdf));
		else if (!strcmp(key, "driver"))
			ret = str_or_null(ps, e->driver, sizeof(e->driver), &set);
		else if (!strcmp(key, "driver_override"))
			ret = str_or_null(ps, e->override, sizeof(e->override), &e->has_override);
		else
			ret = -EINVAL;
		if (ret)
			return ret;
	} while (lit(ps, ','));
	return lit(ps, '}') && e->bdf[0] ? 0 : -EINVAL;
}

static int devices(struct parser *ps, struct host_state *st)
{
	if (!lit(ps, '['))
		return -EINVAL;
	if (lit(ps, ']'))
		return 0;
	do {
		if (st->n == HOST_STATE_MAX)
			return -E2BIG;
		if (entry(ps, &st->e[st->n]))
			return -EINVAL;
		st->n++;
	} while (lit(ps, ','));
	return lit(ps, ']') ? 0 : -EINVAL;
}

static int parse(struct parser *ps, struct host_state *st)
{
	char key[32];

	if (!lit(ps, '{'))
		return -EINVAL;
	do {
		if (str(ps, key, sizeof(key)) || !lit(ps, ':'))
			return -EINVAL;
		if (!strcmp(key, "devices")) {
			if (devices(ps, st))
				return -EINVAL;
		} else if (!strcmp(key, "version")) {
			ws(ps);
			if (strncmp(ps->p, "1", 1))
				return -EINVAL;
			ps->p++;
		} else {
			return -EINVAL;
		}
	} while (lit(ps, ','));
	if (!lit(ps, '}'))
		return -EINVAL;
	ws(ps);
	return *ps->p ? -EINVAL : 0;
}

int host_state_load(const char *path, struct host_state *st)
{
	enum { MAX = 256 * 1024 };
	char *buf = malloc(MAX);
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;

	memset(st, 0, sizeof(*st));
	if (fd < 0 || !buf) {
		ret = fd < 0 && errno == ENOENT ? 0 : -errno;
		if (ret)
			pr_err("state file %s: %s", path, strerror(-ret));
		goto out;
	}
	ssize_t n = read(fd, buf, MAX - 1);

	if (n < 0 || n == MAX - 1) {
		ret = n < 0 ? -errno : -EFBIG;
		pr_err("state file %s: %s", path, strerror(-ret));
		goto out;
	}
	buf[n] = '\0';
	struct parser ps = { buf, buf };

	ret = parse(&ps, st);
	if (ret)
		pr_err("state file %s: not what vmm host bind writes (at byte %td); fix or remove it",
		       path, ps.p - ps.s);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

static int mkdirs(const char *path)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

/* Written to a temporary file and renamed, so a crash leaves the old state or the new. */
int host_state_save(const char *path, const struct host_state *st)
{
	char tmp[PATH_MAX];
	int ret;

	if (!st->n)
		return unlink(path) && errno != ENOENT ? -errno : 0;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	ret = mkdirs(path);
	FILE *f = ret ? NULL : fopen(tmp, "we");

	if (!f)
		return ret ? ret : -errno;
	fputs("{\"version\":1,\"devices\":[", f);
	for (size_t i = 0; i < st->n; i++) {
		const struct host_state_entry *e = &st->e[i];

		fprintf(f, "%s\n  {\"bdf\":\"%s\",\"driver\":", i ? "," : "", e->bdf);
		host_json_str(f, e->driver[0] ? e->driver : NULL);
		fputs(",\"driver_override\":", f);
		host_json_str(f, e->has_override ? e->override : NULL);
		fputc('}', f);
	}
	fputs("\n]}\n", f);
	ret = fflush(f) || fsync(fileno(f)) ? -errno : 0;
	if (fclose(f) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret)
		unlink(tmp);
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
