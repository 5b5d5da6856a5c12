// SPDX-License-Identifier: MIT
/*
 * `vmm host persist`: what makes a passthrough setup survive a reboot, as
 * steps that each come with their exact rollback:
 *   1. the IOMMU kernel parameters, in this host's bootloader configuration;
 *   2. a per-BDF binding that runs before the devices' own drivers: a
 *      modprobe "install" rule for each driver that sets driver_override on
 *      just those functions, and a udev rule for the same BDFs (which also
 *      covers functions with no driver); never an ID rule (vfio-pci.ids=),
 *      which would take every identical card;
 *   3. vfio-pci in the initramfs, for the tool in use, and its rebuild.
 * An edited file is first copied to FILE.vmm-backup (once: a second --write
 * starts again from the original), and rolling back moves it back; a
 * created file carries a header line and rolling back removes it, as well
 * as any directory --write created (marked by a .vmm-created file in it).
 * So a write and a rollback leave the files byte for byte as they were.
 */
#include "host.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/file.h"
#include "core/log.h"

#define HEADER "# written by vmm host persist; vmm host persist --rollback --write removes it\n"
#define BACKUP ".vmm-backup"
#define DIR_MARK ".vmm-created"
#define MAX_STEPS 16
#define MAX_FILE (1 << 20)

enum step_kind { STEP_EDIT, STEP_CREATE, STEP_RUN, STEP_NOTE };

struct step {
	enum step_kind kind;
	char title[192];
	char path[256];   /* under the sysroot, without the leading '/' */
	char *content;    /* the whole new file (EDIT, CREATE) */
	char cmd[256];    /* RUN: the command; NOTE: the text */
};

/* A udev rule and an install line name each function: beyond this many, say so. */
#define PLAN_MAX_BDFS 256

struct plan {
	const struct host *h;
	const struct host_io *io;
	struct step s[MAX_STEPS];
	unsigned n;
	char bdfs[PLAN_MAX_BDFS][HOST_BDF_LEN];
	char drivers[PLAN_MAX_BDFS][HOST_NAME_LEN]; /* each BDF's own driver, "" if none */
	size_t n_bdfs;
};

static struct step *step(struct plan *p, enum step_kind kind, const char *title)
{
	struct step *s = &p->s[p->n < MAX_STEPS - 1 ? p->n++ : p->n];

	memset(s, 0, sizeof(*s));
	s->kind = kind;
	snprintf(s->title, sizeof(s->title), "%s", title);
	return s;
}

static void note(struct plan *p, const char *text)
{
	snprintf(step(p, STEP_NOTE, "note")->cmd, sizeof(p->s[0].cmd), "%s", text);
}

static void run_step(struct plan *p, const char *title, const char *cmd)
{
	snprintf(step(p, STEP_RUN, title)->cmd, sizeof(p->s[0].cmd), "%s", cmd);
}

static char *read_raw(const char *path)
{
	char *buf = malloc(MAX_FILE);
	int fd = buf ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	ssize_t len = fd >= 0 ? read(fd, buf, MAX_FILE - 1) : -1;

	if (fd >= 0)
		close(fd);
	/* A NUL inside, or a file too long, would be cut short by an edit: leave it alone. */
	if (len < 0 || len == MAX_FILE - 1 || memchr(buf, '\0', (size_t)len)) {
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

/* The original content: the backup if an earlier --write made one, else the file. */
static char *read_original(const struct host *h, const char *rel)
{
	char path[PATH_MAX];

	if (host_path(h, path, sizeof(path), "%s" BACKUP, rel))
		return NULL;
	if (access(path, F_OK) && host_path(h, path, sizeof(path), "%s", rel))
		return NULL;
	return read_raw(path);
}

static bool has_token(const char *s, size_t len, const char *tok)
{
	size_t tl = strlen(tok);

	for (const char *p = s; p + tl <= s + len; p++) {
		if (!strncmp(p, tok, tl) && (p == s || strchr(" \"'", p[-1])) &&
		    (p + tl == s + len || strchr(" \"'\n", p[tl])))
			return true;
	}
	return false;
}

/* params, less those already in s[0..len): "" when all are there. */
static void missing(const char *s, size_t len, const char *params, char *out, size_t outlen)
{
	char copy[256];

	out[0] = '\0';
	snprintf(copy, sizeof(copy), "%s", params);
	for (char *save = NULL, *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (!has_token(s, len, tok))
			snprintf(out + strlen(out), outlen - strlen(out), "%s%s", out[0] ? " " : "", tok);
	}
}

/* orig with text inserted at offset at. */
static char *insert_at(const char *orig, size_t at, const char *text)
{
	char *out;

	if (asprintf(&out, "%.*s%s%s", (int)at, orig, text, orig + at) < 0)
		return NULL;
	return out;
}

/* GRUB_CMDLINE_LINUX_DEFAULT="..." gets the missing parameters before its closing quote. */
static char *grub_edit(const char *orig, const char *params)
{
	static const char key[] = "GRUB_CMDLINE_LINUX_DEFAULT=";
	char add[256], text[300];

	for (const char *line = orig; *line; line += strcspn(line, "\n") + (line[strcspn(line, "\n")] != 0)) {
		size_t len = strcspn(line, "\n");

		if (strncmp(line, key, sizeof(key) - 1))
			continue;
		const char *v = line + sizeof(key) - 1;
		char q = *v == '"' || *v == '\'' ? *v : 0;
		const char *end = q ? memchr(v + 1, q, len - (size_t)(v + 1 - line)) : line + len;

		if (!end)
			return NULL;
		missing(v, (size_t)(end - v), params, add, sizeof(add));
		if (!add[0])
			return NULL;
		snprintf(text, sizeof(text), "%s%s", end > v + (q ? 1 : 0) ? " " : "", add);
		return insert_at(orig, (size_t)(end - orig), text);
	}
	snprintf(text, sizeof(text), "%s%s\"%s\"\n", orig[0] && orig[strlen(orig) - 1] != '\n' ?
		 "\n" : "", key, params);
	return insert_at(orig, strlen(orig), text);
}

/* A one-line file such as /etc/kernel/cmdline: the missing parameters at the line's end. */
static char *cmdline_edit(const char *orig, const char *params)
{
	char add[256], text[300];
	size_t end = strcspn(orig, "\n");

	missing(orig, end, params, add, sizeof(add));
	if (!add[0])
		return NULL;
	snprintf(text, sizeof(text), "%s%s", end ? " " : "", add);
	return insert_at(orig, end, text);
}

/* One module a line, as /etc/initramfs-tools/modules takes them. */
static char *lines_edit(const char *orig, const char *names)
{
	char add[256], text[300] = "";

	missing(orig, strlen(orig), names, add, sizeof(add));
	if (!add[0])
		return NULL;
	if (orig[0] && orig[strlen(orig) - 1] != '\n')
		strcat(text, "\n");
	for (char *save = NULL, *tok = strtok_r(add, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s\n", tok);
	return insert_at(orig, strlen(orig), text);
}

static void edit(struct plan *p, const char *title, const char *rel,
		 char *(*fn)(const char *, const char *), const char *arg)
{
	char *orig = read_original(p->h, rel);
	char *next = orig ? fn(orig, arg) : NULL;
	char buf[256];

	if (!orig) {
		snprintf(buf, sizeof(buf), "/%s cannot be read: %s by hand", rel, title);
		note(p, buf);
	} else if (!next) {
		snprintf(buf, sizeof(buf), "/%s already has what it needs (%s)", rel, title);
		note(p, buf);
	} else {
		struct step *s = step(p, STEP_EDIT, title);

		snprintf(s->path, sizeof(s->path), "%s", rel);
		s->content = next;
	}
	free(orig);
}

static void create(struct plan *p, const char *title, const char *rel, char *content)
{
	struct step *s = step(p, STEP_CREATE, title);

	snprintf(s->path, sizeof(s->path), "%s", rel);
	s->content = content;
}

static void plan_params(struct plan *p)
{
	const char *params = host_iommu_params(p->h);

	switch (host_bootloader(p->h)) {
	case HOST_BOOT_GRUB:
		edit(p, "kernel parameters for GRUB", "etc/default/grub", grub_edit, params);
		run_step(p, "regenerate GRUB's configuration", host_exists(p->h, "usr/sbin/update-grub") ||
			 !host_exists(p->h, "usr/sbin/grub-mkconfig") ? "update-grub" :
			 "grub-mkconfig -o /boot/grub/grub.cfg");
		break;
	case HOST_BOOT_SDBOOT:
		if (host_exists(p->h, "etc/kernel/cmdline")) {
			edit(p, "kernel parameters for systemd-boot", "etc/kernel/cmdline", cmdline_edit, params);
			run_step(p, "reinstall the boot entries", "kernel-install add $(uname -r) /boot/vmlinuz-$(uname -r)");
			break;
		}
		/* Loader entries alone: edited by hand, as below. */
		/* fall through */
	default: {
		char buf[256];

		snprintf(buf, sizeof(buf), "no GRUB or /etc/kernel/cmdline found: add '%s' to the kernel "
			 "command line in your bootloader's configuration by hand", params);
		note(p, buf);
	}
	}
}

/* The BDFs to bind at boot, with the driver each one had: named ones, else those bound now. */
static void collect(struct plan *p, const char *state, char **bdfs, int n)
{
	struct host_state *st = calloc(1, sizeof(*st));
	size_t want;

	if (st && state && host_state_load(state, st))
		host_state_free(st);
	want = st ? (n ? (size_t)n : st->n) : 0;
	for (size_t i = 0; i < want && p->n_bdfs < PLAN_MAX_BDFS; i++) {
		const char *bdf = n ? bdfs[i] : st->e[i].bdf;
		const struct host_state_entry *e = host_state_find(st, bdf);
		const struct host_dev *d = host_find(p->h, bdf);

		snprintf(p->bdfs[p->n_bdfs], HOST_BDF_LEN, "%s", bdf);
		snprintf(p->drivers[p->n_bdfs], HOST_NAME_LEN, "%s", e ? e->driver :
			 d && strcmp(d->driver, "vfio-pci") ? d->driver : "");
		p->n_bdfs++;
	}
	if (want > PLAN_MAX_BDFS)
		pr_warn("only the first %d of %zu functions are in the plan", PLAN_MAX_BDFS, want);
	if (st)
		host_state_free(st);
	free(st);
}

/* The module behind a driver, "" when it is built in. */
static void module_of(const struct host *h, const char *driver, char *buf, size_t len)
{
	if (host_link_name(h, buf, len, "sys/bus/pci/drivers/%s/module", driver))
		buf[0] = '\0';
}

static void add_install_rule(struct plan *p, FILE *f, const char *driver)
{
	char module[HOST_NAME_LEN];

	module_of(p->h, driver, module, sizeof(module));
	if (!module[0]) {
		fprintf(f, "# %s is built into the kernel: no install rule can run before it; "
			"the udev rule moves its functions\n", driver);
		return;
	}
	fprintf(f, "install %s /bin/sh -c 'for d in", module);
	for (size_t i = 0; i < p->n_bdfs; i++) {
		if (!strcmp(p->drivers[i], driver))
			fprintf(f, " %s", p->bdfs[i]);
	}
	fprintf(f, "; do echo vfio-pci > /sys/bus/pci/devices/$d/driver_override; done; "
		"/sbin/modprobe vfio-pci; /sbin/modprobe --ignore-install %s $CMDLINE_OPTS'\n", module);
}

static char *modprobe_conf(struct plan *p)
{
	char *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fputs(HEADER "# Before each driver loads, its functions named here get driver_override\n"
	      "# vfio-pci, so vfio-pci takes them and identical cards elsewhere stay.\n", f);
	for (size_t i = 0; i < p->n_bdfs; i++) {
		size_t j = 0;

		while (j < i && strcmp(p->drivers[j], p->drivers[i]))
			j++;
		if (j == i && p->drivers[i][0] && strcmp(p->drivers[i], "vfio-pci"))
			add_install_rule(p, f, p->drivers[i]);
	}
	fclose(f);
	return buf;
}

static char *udev_rules(struct plan *p)
{
	char *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fputs(HEADER, f);
	for (size_t i = 0; i < p->n_bdfs; i++)
		fprintf(f, "ACTION==\"add\", SUBSYSTEM==\"pci\", KERNEL==\"%s\", "
			"ATTR{driver_override}=\"vfio-pci\", RUN{builtin}+=\"kmod load vfio-pci\"\n",
			p->bdfs[i]);
	fclose(f);
	return buf;
}

static void plan_binding(struct plan *p)
{
	if (!p->n_bdfs) {
		note(p, "no device named and none bound by vmm host bind: no per-device binding");
		return;
	}
	create(p, "bind these functions by address before their drivers load",
	       "etc/modprobe.d/vmm-passthrough.conf", modprobe_conf(p));
	create(p, "the same by udev, also for functions without a driver",
	       "etc/udev/rules.d/60-vmm-passthrough.rules", udev_rules(p));
	create(p, "load vfio-pci at boot", "etc/modules-load.d/vmm-passthrough.conf",
	       strdup(HEADER "vfio-pci\n"));
}

static void plan_initramfs(struct plan *p)
{
	if (host_exists(p->h, "etc/initramfs-tools")) {
		edit(p, "vfio-pci in the initramfs (initramfs-tools)", "etc/initramfs-tools/modules",
		     lines_edit, "vfio vfio_iommu_type1 vfio_pci");
		run_step(p, "rebuild the initramfs", "update-initramfs -u -k all");
	} else if (host_exists(p->h, "etc/dracut.conf") || host_exists(p->h, "etc/dracut.conf.d")) {
		create(p, "vfio-pci in the initramfs (dracut)", "etc/dracut.conf.d/vmm-passthrough.conf",
		       strdup(HEADER "force_drivers+=\" vfio vfio_iommu_type1 vfio_pci \"\n"
			      "install_items+=\" /etc/modprobe.d/vmm-passthrough.conf \"\n"));
		run_step(p, "rebuild the initramfs", "dracut -f --regenerate-all");
	} else if (host_exists(p->h, "etc/mkinitcpio.conf")) {
		create(p, "vfio-pci in the initramfs (mkinitcpio)", "etc/mkinitcpio.conf.d/vmm-passthrough.conf",
		       strdup(HEADER "MODULES+=(vfio_pci vfio vfio_iommu_type1)\n"
			      "FILES+=(/etc/modprobe.d/vmm-passthrough.conf)\n"));
		run_step(p, "rebuild the initramfs", "mkinitcpio -P");
	} else {
		note(p, "no initramfs-tools, dracut or mkinitcpio found: the rules apply once the root "
		     "filesystem is mounted");
	}
}

static void rollback_text(const struct step *s, char *buf, size_t len)
{
	switch (s->kind) {
	case STEP_EDIT:
		snprintf(buf, len, "mv /%s" BACKUP " /%s", s->path, s->path);
		break;
	case STEP_CREATE:
		snprintf(buf, len, "rm /%s", s->path);
		break;
	case STEP_RUN:
		snprintf(buf, len, "%s (again, once the files are rolled back)", s->cmd);
		break;
	default:
		buf[0] = '\0';
	}
}

static void print_text(const struct plan *p, FILE *out)
{
	char rb[640];
	unsigned k = 0;

	for (unsigned i = 0; i < p->n; i++) {
		const struct step *s = &p->s[i];

		rollback_text(s, rb, sizeof(rb));
		if (s->kind == STEP_NOTE) {
			fprintf(out, "note: %s\n", s->cmd);
			continue;
		}
		fprintf(out, "step %u: %s\n", ++k, s->title);
		if (s->kind == STEP_RUN)
			fprintf(out, "  run: %s\n", s->cmd);
		else
			fprintf(out, "  %s /%s:\n", s->kind == STEP_EDIT ? "edit (backup in " BACKUP ")" :
				"create", s->path);
		for (const char *l = s->content; l && *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] != 0))
			fprintf(out, "    | %.*s\n", (int)strcspn(l, "\n"), l);
		fprintf(out, "  rollback: %s\n", rb);
	}
}

static json_t *step_json(const struct step *s)
{
	static const char *const kind[] = { "edit", "create", "run", "note" };
	char rb[640], path[300];

	rollback_text(s, rb, sizeof(rb));
	snprintf(path, sizeof(path), "/%s", s->path);
	return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "action", kind[s->kind],
			 "title", host_json_text(s->kind == STEP_NOTE ? s->cmd : s->title),
			 "path", host_json_text(s->path[0] ? path : NULL),
			 "content", host_json_text(s->content),
			 "command", host_json_text(s->kind == STEP_RUN ? s->cmd : NULL),
			 "rollback", host_json_text(rb[0] ? rb : NULL));
}

static int print_json(const struct plan *p, bool write, bool rollback, FILE *out)
{
	json_t *steps = json_array();

	for (unsigned i = 0; i < p->n; i++)
		host_json_push(&steps, step_json(&p->s[i]));
	return host_json_print(out, json_pack("{s:b, s:b, s:o}", "write", write,
					      "rollback", rollback, "steps", steps));
}

/* Runs a regeneration command on the real host; under a sysroot it is only said. */
static int run_cmd(const struct host *h, const char *cmd, FILE *out, FILE *log)
{
	if (h->root[0]) {
		fprintf(out, "not run under --sysroot: %s\n", cmd);
		return 0;
	}
	fprintf(log, "vmm: host: running %s\n", cmd);
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		pr_err("%s failed; the files are written, run it by hand", cmd);
		return -EIO;
	}
	return 0;
}

/*
 * Every file this command writes goes through file_replace(): written
 * beside, synced and renamed into place, so that a full disk or a crash
 * leaves the boot configuration as it was or as planned, never cut off.
 */
static int write_file(const char *path, const char *content, mode_t mode)
{
	return file_replace(path, content, strlen(content), mode);
}

/*
 * FILE.vmm-backup, made once, with the original's bytes and mode: whole or
 * not at all, since the next --write takes it as the original.
 */
static int backup(const char *path)
{
	char bak[PATH_MAX + 16];
	struct stat st;

	snprintf(bak, sizeof(bak), "%s" BACKUP, path);
	if (access(bak, F_OK) == 0)
		return 0;
	char *orig = read_raw(path);
	int ret = !orig || stat(path, &st) ? -EIO : write_file(bak, orig, st.st_mode & 07777);

	free(orig);
	return ret;
}

/* Makes the missing directories above rel, each marked as ours for the rollback. */
static int make_dirs(const struct host *h, const char *rel)
{
	char path[PATH_MAX], mark[PATH_MAX + 16];

	if (host_path(h, path, sizeof(path), "%s", rel))
		return -ENAMETOOLONG;
	for (char *p = path + strlen(h->root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(path, 0755) == 0) {
			snprintf(mark, sizeof(mark), "%s/" DIR_MARK, path);
			int ret = file_fsync_dir(path);

			ret = ret ? ret : write_file(mark, "", 0644);
			if (ret)
				return ret;
		} else if (errno != EEXIST) {
			return -errno;
		}
		*p = '/';
	}
	return 0;
}

static bool ours(const char *path)
{
	char *content = read_raw(path);
	bool yes = content && !strncmp(content, HEADER, strlen(HEADER));

	free(content);
	return yes;
}

static int apply(const struct plan *p, const struct step *s)
{
	char path[PATH_MAX];
	int ret;

	if (s->kind == STEP_RUN)
		return run_cmd(p->h, s->cmd, p->io->out, p->io->log);
	if (s->kind == STEP_NOTE || host_path(p->h, path, sizeof(path), "%s", s->path))
		return 0;
	if (!s->content)
		return -ENOMEM;
	fprintf(p->io->log, "vmm: host: writing %s%s\n", path, s->kind == STEP_EDIT ?
		" (the original in " BACKUP ")" : "");
	if (s->kind == STEP_EDIT) {
		ret = backup(path);
		return ret ? ret : write_file(path, s->content, 0644);
	}
	if (access(path, F_OK) == 0 && !ours(path)) {
		pr_err("%s exists and is not vmm's: move it away first", path);
		return -EEXIST;
	}
	ret = make_dirs(p->h, s->path);
	return ret ? ret : write_file(path, s->content, 0644);
}

/* Removes the directories above rel that --write made (marked), while they are empty. */
static void remove_dirs(const struct host *h, const char *rel)
{
	char path[PATH_MAX], mark[PATH_MAX + 16];
	int ret;

	if (host_path(h, path, sizeof(path), "%s", rel))
		return;
	for (char *slash; (slash = strrchr(path, '/')) && slash > path + strlen(h->root);) {
		*slash = '\0';
		snprintf(mark, sizeof(mark), "%s/" DIR_MARK, path);
		if (access(mark, F_OK) || unlink(mark))
			return;
		if (rmdir(path)) {
			/* Not empty: keep it marked as ours. */
			ret = write_file(mark, "", 0644);
			if (ret)
				pr_warn("%s: %s; remove %s by hand once it is empty", mark,
					strerror(-ret), path);
			return;
		}
		ret = file_fsync_dir(path);
		if (ret)
			pr_warn("%s: removed, but not synced to disk: %s", path, strerror(-ret));
	}
}

static const char *const edited[] = { "etc/default/grub", "etc/kernel/cmdline",
				       "etc/initramfs-tools/modules" };
static const char *const created[] = {
	"etc/modprobe.d/vmm-passthrough.conf", "etc/udev/rules.d/60-vmm-passthrough.rules",
	"etc/modules-load.d/vmm-passthrough.conf", "etc/dracut.conf.d/vmm-passthrough.conf",
	"etc/mkinitcpio.conf.d/vmm-passthrough.conf",
};

/* The rollback: every backup moved back, every file of ours removed, then the rebuilds. */
static void plan_rollback(struct plan *p)
{
	char title[192];

	for (size_t i = 0; i < sizeof(edited) / sizeof(edited[0]); i++) {
		if (!host_exists(p->h, "%s" BACKUP, edited[i]))
			continue;
		snprintf(title, sizeof(title), "mv /%s" BACKUP " /%s", edited[i], edited[i]);
		snprintf(step(p, STEP_EDIT, title)->path, sizeof(p->s[0].path), "%s", edited[i]);
	}
	for (size_t i = 0; i < sizeof(created) / sizeof(created[0]); i++) {
		char path[PATH_MAX];

		if (host_path(p->h, path, sizeof(path), "%s", created[i]) || !ours(path))
			continue;
		snprintf(title, sizeof(title), "rm /%s", created[i]);
		snprintf(step(p, STEP_CREATE, title)->path, sizeof(p->s[0].path), "%s", created[i]);
	}
	if (!p->n) {
		note(p, "nothing to roll back: no backup and no file of vmm host persist");
		return;
	}
	if (host_bootloader(p->h) == HOST_BOOT_GRUB)
		run_step(p, "regenerate GRUB's configuration", "update-grub");
	if (host_exists(p->h, "etc/initramfs-tools"))
		run_step(p, "rebuild the initramfs", "update-initramfs -u -k all");
	else if (host_exists(p->h, "etc/dracut.conf.d"))
		run_step(p, "rebuild the initramfs", "dracut -f --regenerate-all");
	else if (host_exists(p->h, "etc/mkinitcpio.conf"))
		run_step(p, "rebuild the initramfs", "mkinitcpio -P");
}

static int undo(const struct plan *p, const struct step *s)
{
	char path[PATH_MAX], bak[PATH_MAX + 16];

	if (s->kind == STEP_RUN)
		return run_cmd(p->h, s->cmd, p->io->out, p->io->log);
	if (s->kind == STEP_NOTE || host_path(p->h, path, sizeof(path), "%s", s->path))
		return 0;
	fprintf(p->io->log, "vmm: host: %s\n", s->title);
	if (s->kind == STEP_EDIT) {
		snprintf(bak, sizeof(bak), "%s" BACKUP, path);
		return rename(bak, path) ? -errno : file_fsync_dir(path);
	}
	if (unlink(path))
		return -errno;
	int ret = file_fsync_dir(path);

	remove_dirs(p->h, s->path);
	return ret;
}

static void print_rollback(const struct plan *p, FILE *out)
{
	for (unsigned i = 0; i < p->n; i++) {
		const struct step *s = &p->s[i];

		if (s->kind == STEP_NOTE)
			fprintf(out, "note: %s\n", s->cmd);
		else
			fprintf(out, "step %u: %s%s\n", i + 1, s->kind == STEP_RUN ? "run: " : "",
				s->kind == STEP_RUN ? s->cmd : s->title);
	}
}

static void plan_free(struct plan *p)
{
	for (unsigned i = 0; i < p->n; i++)
		free(p->s[i].content);
	free(p);
}

int host_cmd_persist(const struct host *h, const struct host_persist_opts *o, char **bdfs, int n,
		     const struct host_io *io)
{
	struct plan *p = calloc(1, sizeof(*p));
	FILE *out = io->out;
	int ret = 0;

	if (!p)
		return 1;
	p->h = h;
	p->io = io;
	if (o->rollback) {
		plan_rollback(p);
	} else {
		collect(p, o->state, bdfs, n);
		plan_params(p);
		plan_binding(p);
		plan_initramfs(p);
	}
	/* A plan that cannot be shown is not carried out either. */
	if (o->json)
		ret = print_json(p, o->write, o->rollback, out);
	else if (o->rollback)
		print_rollback(p, out);
	else
		print_text(p, out);
	for (unsigned i = 0; o->write && i < p->n && !ret; i++) {
		ret = o->rollback ? undo(p, &p->s[i]) : apply(p, &p->s[i]);
		if (ret && p->s[i].kind != STEP_RUN)
			pr_err("/%s: %s; stopped there (vmm host persist --rollback --write undoes "
			       "what was done)", p->s[i].path, strerror(-ret));
	}
	if (!o->write && !o->json)
		fputs(o->rollback ? "(nothing done: --write does it)\n" :
		      "(nothing written: --write does it)\n", out);
	plan_free(p);
	return ret ? 1 : 0;
}
