// SPDX-License-Identifier: MIT
/*
 * `vmm host bind/unbind/restore`: moving functions to vfio-pci and back
 * through sysfs, one BDF at a time. driver_override names the driver for
 * exactly that function, so a second identical card is never caught, as it
 * would be by an ID rule (vfio-pci.ids=, new_id). The steps are the
 * kernel's documented ones: set driver_override, unbind from the current
 * driver, ask drivers_probe to bind it again; undo by clearing the override
 * (writing "\n") and probing again.
 */
#include "host.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/user.h"

#define VFIO_DRIVER "vfio-pci"

struct binder {
	struct host *h;
	const struct host_bind_opts *o;
	const struct host_io *io;
	json_t *writes;            /* --json: each sysfs write, printed at the end */
	struct host_state st;
	bool corrupt;              /* the state file is not all readable: st is what was */
};

int host_default_state(const struct host *h, char *buf, size_t len)
{
	return host_path(h, buf, len, "var/lib/vmm/host-state.json");
}

static void show_value(const char *v, char *buf, size_t len)
{
	snprintf(buf, len, "%s", strcmp(v, "\n") ? v : "\\n");
}

/*
 * One sysfs write, announced before it is made (on the log), or only
 * printed with --dry-run. The value is written whole, as echo would.
 */
__attribute__((format(printf, 3, 4)))
static int sysfs_write(struct binder *b, const char *value, const char *fmt, ...)
{
	char rel[PATH_MAX], path[PATH_MAX], shown[HOST_NAME_LEN + 4];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(rel, sizeof(rel), fmt, ap);

	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(rel) || host_path(b->h, path, sizeof(path), "%s", rel))
		return -ENAMETOOLONG;
	show_value(value, shown, sizeof(shown));
	if (b->o->json) {
		host_json_push(&b->writes, json_pack("{s:o, s:o}", "path", host_json_text(path),
						     "value", host_json_text(value)));
	} else if (b->o->dry_run) {
		fprintf(b->io->out, "would write '%s' > %s\n", shown, path);
	}
	if (b->o->dry_run)
		return 0;
	fprintf(b->io->log, "vmm: host: writing '%s' > %s\n", shown, path);
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);

	if (fd < 0 || write(fd, value, strlen(value)) != (ssize_t)strlen(value)) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		pr_err("writing '%s' to %s: %s", shown, path, strerror(err));
		return -err;
	}
	close(fd);
	if (b->io->sim)
		b->io->sim(b->h->root, rel, value, b->io->sim_arg);
	return 0;
}

/* Tells the kernel to give bdf to the driver its override (or its IDs) name. */
static int rebind(struct binder *b, const struct host_dev *d, const char *override)
{
	int ret = sysfs_write(b, override, "sys/bus/pci/devices/%s/driver_override", d->bdf);

	if (!ret && d->driver[0])
		ret = sysfs_write(b, d->bdf, "sys/bus/pci/devices/%s/driver/unbind", d->bdf);
	if (!ret)
		ret = sysfs_write(b, d->bdf, "sys/bus/pci/drivers_probe");
	return ret;
}

/* The functions to bind: those named, and with --all-functions their slot mates. */
static int expand(struct binder *b, char **bdfs, int n, struct host_dev **list, size_t *count)
{
	*count = 0;
	for (int i = 0; i < n; i++) {
		struct host_dev *d = host_find(b->h, bdfs[i]);

		if (!d) {
			pr_err("%s: no such PCI device under %s/sys/bus/pci/devices", bdfs[i], b->h->root);
			return -ENODEV;
		}
		for (size_t j = 0; j < b->h->n; j++) {
			struct host_dev *f = &b->h->devs[j];
			bool want = f == d || (b->o->all_functions && host_same_slot(f->bdf, d->bdf) &&
					       !host_is_bridge(f));
			size_t k = 0;

			while (k < *count && list[k] != f)
				k++;
			if (want && k == *count)
				list[(*count)++] = f;
		}
	}
	return 0;
}

static bool in_list(struct host_dev **list, size_t n, const struct host_dev *d)
{
	for (size_t i = 0; i < n; i++) {
		if (list[i] == d)
			return true;
	}
	return false;
}

/*
 * VFIO can use a group only when every endpoint in it is on vfio-pci or on
 * no driver; a mate left on a host driver makes the group non-viable.
 */
static const struct host_dev *unviable_mate(const struct host *h, const struct host_dev *d,
					    struct host_dev **list, size_t n)
{
	for (size_t i = 0; i < h->n; i++) {
		const struct host_dev *m = &h->devs[i];

		if (m->group != d->group || m == d || host_is_bridge(m) || in_list(list, n, m))
			continue;
		if (!host_leaves_dma_to_owner(m))
			return m;
	}
	return NULL;
}

/* Why d must not be bound without --force; false if it may. */
static bool refusal(struct binder *b, const struct host_dev *d, struct host_dev **list, size_t n,
		    char *why, size_t len)
{
	const struct host_dev *m;

	if (d->group < 0)
		snprintf(why, len, "it is in no IOMMU group (the IOMMU is off: vmm host check)");
	else if (host_group_verdict(b->h, d->group, why, len) == HOST_UNSAFE)
		;
	else if ((m = unviable_mate(b->h, d, list, n)))
		snprintf(why, len, "group %d also holds %s (%s, on %s), which would stay with the host: "
			 "bind it too (--all-functions for one card's functions)", d->group, m->bdf,
			 host_class_name(m->class), m->driver);
	else
		return false;
	return true;
}

static int check_refusals(struct binder *b, struct host_dev **list, size_t n)
{
	char why[320];
	int refused = 0;

	for (size_t i = 0; i < n; i++) {
		if (host_is_bridge(list[i])) {
			pr_err("%s: refusing: a PCI bridge stays with the host (vfio-pci takes only endpoints)",
			       list[i]->bdf);
			refused++;
		} else if (refusal(b, list[i], list, n, why, sizeof(why))) {
			if (b->o->force) {
				pr_warn("%s: binding anyway (--force): %s", list[i]->bdf, why);
				continue;
			}
			pr_err("%s: refusing: %s (--force overrides)", list[i]->bdf, why);
			refused++;
		}
	}
	return refused ? -EPERM : 0;
}

/* After a real write, the driver link says whether the kernel did as asked. */
static int verify(struct binder *b, const char *bdf, const char *want)
{
	char now[HOST_NAME_LEN] = "";

	if (b->o->dry_run)
		return 0;
	if (host_link_name(b->h, now, sizeof(now), "sys/bus/pci/devices/%s/driver", bdf))
		now[0] = '\0';
	if (!strcmp(now, want))
		return 0;
	pr_err("%s: on %s after drivers_probe, not %s (dmesg may say why)", bdf,
	       now[0] ? now : "no driver", want[0] ? want : "no driver");
	return -EIO;
}

static void json_begin(struct binder *b)
{
	if (b->o->json)
		b->writes = json_array();
}

/* With --json, what was written (or would be) and whether it all went well; ret, or -ENOMEM. */
static int json_end(struct binder *b, int ret)
{
	json_t *writes = b->writes;

	b->writes = NULL;
	if (!b->o->json)
		return ret;
	int err = host_json_print(b->io->out, json_pack("{s:b, s:o, s:o, s:b}",
							"dry_run", b->o->dry_run,
							"state", host_json_text(b->o->state),
							"writes", writes, "ok", !ret));

	return ret ? ret : err;
}

static int bind_list(struct binder *b, struct host_dev **list, size_t n)
{
	int ret = 0;

	for (size_t i = 0; i < n; i++) {
		struct host_dev *d = list[i];
		struct host_state_entry e = { .has_override = d->override[0] };

		if (host_state_find(&b->st, d->bdf))
			continue;
		memcpy(e.bdf, d->bdf, HOST_BDF_LEN);
		memcpy(e.driver, d->driver, sizeof(e.driver));
		memcpy(e.override, d->override, sizeof(e.override));
		/* Every function bound is recorded, or none is bound. */
		if ((ret = host_state_add(&b->st, &e))) {
			pr_err("%s: %s; nothing changed", d->bdf, strerror(-ret));
			return ret;
		}
	}
	/* The record comes first: a crash halfway must still leave restore able to undo. */
	if (!b->o->dry_run && (ret = host_state_save(b->o->state, &b->st))) {
		pr_err("cannot write the state file %s: %s; nothing changed", b->o->state, strerror(-ret));
		return ret;
	}
	for (size_t i = 0; i < n && !ret; i++) {
		if (!strcmp(list[i]->driver, VFIO_DRIVER) && !strcmp(list[i]->override, VFIO_DRIVER))
			continue; /* already there */
		ret = rebind(b, list[i], VFIO_DRIVER);
		if (!ret)
			ret = verify(b, list[i]->bdf, VFIO_DRIVER);
	}
	return ret;
}

static int load_state(struct binder *b)
{
	if (!b->o->state) {
		pr_err("no state file path (--state FILE)");
		return -EINVAL;
	}
	return host_state_load(b->o->state, &b->st);
}

/*
 * Bind adds to the record of what to give back: on a file it cannot read
 * whole, that record would lose what it cannot read. Restore first.
 */
static int load_state_to_bind(struct binder *b)
{
	int ret = load_state(b);

	if (ret == -EINVAL && b->o->state)
		pr_err("nothing bound: the state file must be whole to add to it; `vmm host restore` "
		       "gives back what it records and keeps the file aside");
	return ret;
}

/* Unbind and restore go on with what the state file can vouch for. */
static int load_state_to_unbind(struct binder *b)
{
	int ret = load_state(b);

	if (ret == -EINVAL && b->o->state) {
		b->corrupt = true;
		return 0;
	}
	return ret;
}

/*
 * One device node handed to u: announced before, printed only with
 * --dry-run, recorded with --json, as the sysfs writes are.
 */
static int give_node(struct binder *b, const struct user *u, const char *rel)
{
	char path[PATH_MAX];

	if (host_path(b->h, path, sizeof(path), "%s", rel))
		return -ENAMETOOLONG;
	if (b->o->json)
		host_json_push(&b->writes, json_pack("{s:o, s:I, s:I}", "chown", host_json_text(path),
						     "uid", (json_int_t)u->uid, "gid",
						     (json_int_t)u->gid));
	else if (b->o->dry_run)
		fprintf(b->io->out, "would give %s to uid %u gid %u\n", path, (unsigned)u->uid,
			(unsigned)u->gid);
	if (b->o->dry_run)
		return 0;
	fprintf(b->io->log, "vmm: host: giving %s to %s%suid %u, gid %u%s\n", path, u->name,
		u->name[0] ? " (" : "", (unsigned)u->uid, (unsigned)u->gid, u->name[0] ? ")" : "");
	if (chown(path, u->uid, u->gid)) {
		int err = errno;

		pr_err("cannot give %s to uid %u: %s", path, (unsigned)u->uid, strerror(err));
		return -err;
	}
	return 0;
}

/* The first entry of directory rel (its name in name), as for a device's vfio-dev/vfioN. */
static int first_entry(const struct host *h, char *name, size_t len, const char *rel)
{
	char path[PATH_MAX];
	struct dirent *e;
	int ret = -ENOENT;
	DIR *d;

	if (host_path(h, path, sizeof(path), "%s", rel))
		return -ENAMETOOLONG;
	d = opendir(path);
	if (!d)
		return -errno;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			ret = snprintf(name, len, "%s", e->d_name) < (int)len ? 0 : -ENAMETOOLONG;
			break;
		}
	closedir(d);
	return ret;
}

/*
 * bind --user: each bound function's group node (/dev/vfio/N, type1) and
 * its own cdev (/dev/vfio/devices/vfioN, iommufd, where the kernel has
 * them) go to the user, so that it runs the vmm without root. The nodes
 * go away with the binding, and a new binding makes them root's again.
 */
static int give_nodes(struct binder *b, struct host_dev **list, size_t n, const struct user *u)
{
	char rel[PATH_MAX], cdev[HOST_NAME_LEN];
	int ret = 0;

	for (size_t i = 0; i < n && !ret; i++) {
		bool seen = false;

		for (size_t k = 0; k < i; k++)
			seen |= list[k]->group == list[i]->group;
		if (list[i]->group < 0) {
			pr_err("%s: has no IOMMU group, so no /dev/vfio node to give", list[i]->bdf);
			return -ENODEV;
		}
		if (!seen) {
			snprintf(rel, sizeof(rel), "dev/vfio/%d", list[i]->group);
			ret = give_node(b, u, rel);
		}
		/* Kernels before the cdevs (6.1) list vfio-dev/vfioN in sysfs with no node. */
		snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/vfio-dev", list[i]->bdf);
		if (!ret && !first_entry(b->h, cdev, sizeof(cdev), rel)) {
			snprintf(rel, sizeof(rel), "dev/vfio/devices/%s", cdev);
			if (host_exists(b->h, "%s", rel))
				ret = give_node(b, u, rel);
		}
	}
	return ret;
}

int host_cmd_bind(struct host *h, const struct host_bind_opts *o, char **bdfs, int n,
		  const struct host_io *io)
{
	char why[512], etc[PATH_MAX];
	struct user u;

	struct binder *b = calloc(1, sizeof(*b));
	struct host_dev **list = calloc(h->n ? h->n : 1, sizeof(*list));
	size_t count;
	int ret = b && list ? 0 : -ENOMEM;

	if (ret)
		goto out;
	*b = (struct binder){ .h = h, .o = o, .io = io };
	/* Named before anything is written: a typo binds nothing. */
	snprintf(etc, sizeof(etc), "%s/etc", h->root);
	if (o->user && (ret = user_lookup(o->user, etc, &u, why, sizeof(why)))) {
		pr_err("%s", why);
		goto out;
	}
	ret = expand(b, bdfs, n, list, &count);
	if (!ret)
		ret = check_refusals(b, list, count);
	if (!ret && !o->dry_run && !host_exists(h, "sys/bus/pci/drivers/" VFIO_DRIVER)) {
		pr_err("the vfio-pci driver is not loaded (no %s/sys/bus/pci/drivers/vfio-pci): "
		       "modprobe vfio-pci", h->root);
		ret = -ENOENT;
	}
	if (!ret)
		ret = load_state_to_bind(b);
	if (!ret) {
		json_begin(b);
		ret = bind_list(b, list, count);
		if (!ret && o->user)
			ret = give_nodes(b, list, count, &u);
		ret = json_end(b, ret);
	}
out:
	free(list);
	if (b)
		host_state_free(&b->st);
	free(b);
	return ret ? 1 : 0;
}

/*
 * A function the state file has no (readable) record of: its driver and
 * driver_override before the bind are unknown. Clearing the override and
 * probing gives it to the driver the kernel itself picks, as at boot.
 */
static int give_to_kernel(struct binder *b, struct host_dev *d)
{
	char now[HOST_NAME_LEN] = "";
	int ret;

	pr_warn("%s: %s no record of it: its driver and driver_override before the bind are "
		"unknown; clearing driver_override and letting the kernel pick its driver", d->bdf,
		b->corrupt ? "the readable part of the state file has" : "the state file has");
	ret = rebind(b, d, "\n");
	if (ret || b->o->dry_run)
		return ret;
	if (host_link_name(b->h, now, sizeof(now), "sys/bus/pci/devices/%s/driver", d->bdf))
		now[0] = '\0';
	if (!now[0])
		pr_warn("%s: the kernel bound no driver to it (if it had one before, `echo DRIVER > "
			"/sys/bus/pci/devices/%s/driver_override` and drivers_probe bind it)", d->bdf, d->bdf);
	else if (!strcmp(now, VFIO_DRIVER))
		pr_warn("%s: the kernel gave it to vfio-pci again (vfio-pci.ids= or a modprobe rule "
			"names its ID?)", d->bdf);
	else
		pr_warn("%s: the kernel gave it to %s", d->bdf, now);
	return 0;
}

/* Puts one function back: its old override (or none), its old driver. */
static int give_back(struct binder *b, struct host_dev *d)
{
	struct host_state_entry *e = host_state_find(&b->st, d->bdf);
	int ret;

	if (!e)
		return give_to_kernel(b, d);
	ret = rebind(b, d, e->has_override ? e->override : "\n");
	if (!ret)
		ret = verify(b, d->bdf, e->driver);
	if (!ret && !b->o->dry_run)
		host_state_remove(&b->st, d->bdf);
	return ret;
}

/*
 * Before the state file is written again, a corrupt one goes aside whole:
 * what it says past the damage is for a person to read, not to lose.
 */
static int save_state(struct binder *b)
{
	char aside[PATH_MAX];
	int ret;

	if (b->corrupt) {
		ret = host_state_keep_corrupt(b->o->state, aside, sizeof(aside));
		if (ret) {
			pr_err("cannot move the corrupt state file %s aside: %s; left as it was",
			       b->o->state, strerror(-ret));
			return ret;
		}
		pr_warn("the corrupt state file is kept as %s; %s now holds only what was read from it "
			"and not given back", aside, b->o->state);
		b->corrupt = false;
	}
	ret = host_state_save(b->o->state, &b->st);
	if (ret)
		pr_err("cannot write the state file %s: %s", b->o->state, strerror(-ret));
	return ret;
}

static int unbind_list(struct binder *b, char **bdfs, int n)
{
	int ret = 0, failed = 0;

	for (int i = 0; i < n; i++) {
		struct host_dev *d = host_find(b->h, bdfs[i]);

		if (!d) {
			pr_err("%s: no such PCI device under %s/sys/bus/pci/devices; left in the state file",
			       bdfs[i], b->h->root);
			failed++;
			continue;
		}
		failed += give_back(b, d) != 0;
	}
	if (!b->o->dry_run)
		ret = save_state(b);
	return failed || ret ? -EIO : 0;
}

static bool named(char **bdfs, int n, const char *bdf)
{
	for (int i = 0; i < n; i++) {
		if (!strcmp(bdfs[i], bdf))
			return true;
	}
	return false;
}

static bool named_bad(const struct host_state *st, const char *bdf)
{
	for (size_t i = 0; i < st->n_bad; i++) {
		if (!strcmp(st->bad[i].bdf, bdf))
			return true;
	}
	return false;
}

/*
 * Restore from a corrupt state file: what it gave back is what it could
 * read; this says exactly what else it could not, and what is left on
 * vfio-pci because of it. Returns -EIO (restore did not do all its job).
 */
static int say_not_restored(struct binder *b, char **bdfs, int n)
{
	for (size_t i = 0; i < b->st.n_bad; i++) {
		const struct host_state_bad *bad = &b->st.bad[i];

		if (!bad->line)
			pr_err("not restored: whatever the state file recorded that cannot be read (%s)",
			       bad->why);
		else if (bad->bdf[0])
			pr_err("not restored: %s, whose entry at line %u is unreadable (%s): `vmm host "
			       "unbind %s` gives it to the kernel's own choice of driver", bad->bdf,
			       bad->line, bad->why, bad->bdf);
		else
			pr_err("not restored: the entry at line %u, which names no function that can be "
			       "read (%s)", bad->line, bad->why);
	}
	for (size_t i = 0; i < b->h->n; i++) {
		const struct host_dev *d = &b->h->devs[i];

		if (!strcmp(d->override, VFIO_DRIVER) && !named(bdfs, n, d->bdf) &&
		    !named_bad(&b->st, d->bdf))
			pr_err("not restored: %s, which driver_override still holds on vfio-pci and which "
			       "no readable entry names: `vmm host unbind %s` gives it to the kernel's "
			       "own choice of driver", d->bdf, d->bdf);
	}
	return -EIO;
}

/* restore: every function the state file records (all it can read of it). */
static int restore(struct binder *b)
{
	char (*all)[HOST_BDF_LEN] = calloc(b->st.n ? b->st.n : 1, sizeof(*all));
	char **names = calloc(b->st.n ? b->st.n : 1, sizeof(*names));
	int n = (int)b->st.n, ret = all && names ? 0 : -ENOMEM;

	for (int i = 0; !ret && i < n; i++) {
		memcpy(all[i], b->st.e[i].bdf, HOST_BDF_LEN);
		names[i] = all[i];
	}
	if (!ret && !n && !b->corrupt && !b->o->json)
		fprintf(b->io->out, "nothing to restore: %s records no device\n", b->o->state);
	if (!ret) {
		bool corrupt = b->corrupt;

		ret = unbind_list(b, names, n);
		if (corrupt) {
			int said = say_not_restored(b, names, n);

			ret = ret ? ret : said;
		}
	}
	free(all);
	free(names);
	return ret;
}

/* unbind BDF...: those functions; restore (no BDF): every function the state file records. */
int host_cmd_unbind(struct host *h, const struct host_bind_opts *o, char **bdfs, int n,
		    const struct host_io *io)
{
	struct binder *b = calloc(1, sizeof(*b));
	int ret = b ? 0 : -ENOMEM;

	if (!ret) {
		*b = (struct binder){ .h = h, .o = o, .io = io };
		ret = load_state_to_unbind(b);
	}
	if (!ret) {
		json_begin(b);
		ret = json_end(b, n ? unbind_list(b, bdfs, n) : restore(b));
	}
	if (b)
		host_state_free(&b->st);
	free(b);
	return ret ? 1 : 0;
}
