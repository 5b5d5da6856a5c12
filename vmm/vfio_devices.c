// SPDX-License-Identifier: MIT
/*
 * --vfio: host PCI functions passed through to the guest, each slot of
 * them behind its own PCIe root port of the Q35 platform, its functions
 * together as one multifunction device (a GPU and its HDMI audio).
 *
 * Three steps, each its own function, so that hot-plug can take them
 * one function at a time while the guest runs. The plan, made once before
 * any VM exists and kept across guest resets: each address as parsed by
 * the command line, what sysfs says of it (IOMMU group, BARs, reset
 * methods; every file read once), the ROM file, and what would make the
 * kernel refuse it, said in one line: a member of the group on a host
 * driver, a memlock limit below guest RAM. The placement: each slot onto
 * a root port. The opening, in each machine made: the type1 container or
 * iommufd (--vfio-iommu), the groups, the devices (reset when the kernel
 * offers a reset, timed), guest RAM mapped for their DMA, and the KVM-VFIO
 * pseudo-device told about each group (type1) or device (iommufd). At exit
 * each device is reset again and everything taken is given back.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "../core/log.h"
#include "q35.h"
#include "vfio_devices.h"
#include "vm.h"
#include "../devices/pci_devices.h"
#include "../firmware/firmware.h"
#include "../vfio/host_sysfs.h"
#include "../vfio/reset_method.h"
#include "../vfio/vfio.h"
#include "../vfio/vfio_pci.h"

#define FN_RESETS_KEPT 8
/* --vfio's functions, and room for one added on each root port. */
#define VM_VFIO_FNS (VM_MAX_VFIO + VM_ROOT_PORTS)
/* How long vm.remove-device waits for the guest to let go before pulling the device out. */
#define HOTPLUG_REMOVE_TIMEOUT_S 20

/*
 * A function of the plan, opened in this machine; p NULL: a free entry
 * (never used, or removed). One added through the API owns its plan.
 */
struct vm_vfio;

struct vm_vfio_fn {
	struct vm_vfio *v;           /* whose it is; set as it opens */
	const struct vm_vfio_fn_plan *p;
	struct vm_vfio_fn_plan *hot_plan;
	struct vm_vfio_fn_cfg *hot_cfg;
	char id[16];                 /* "vfio0" ...: vm.info's, the API's name for it */
	uint64_t remove_by_ns;       /* vm.remove-device pressed the button: pulled out then; 0: not */
	const char *remove_why;      /* what asked for the removal, for the log */
	uint64_t button_ns;          /* when the attention button was pressed for it */
	bool powered_seen;           /* its slot was on since it came: off now is the guest letting go */
	bool announced;              /* the guest was told it is there (cold-plugged, or added) */
	int req_efd, err_efd;        /* VFIO's request and error interrupts; -1: none */
	int cdev_fd;                 /* vm.add-device's passed cdev, until dev takes it; -1: none */
	struct vfio_group *g;
	struct vfio_device dev;
	struct vfio_pci *vp;
	/*
	 * Its resets in this machine, the first FN_RESETS_KEPT, for vm.info:
	 * under vm_vfio's history_lock (a guest's bus reset runs on a vCPU).
	 */
	struct {
		char method[32];
		const char *when;
		double ms;
		bool ok;
	} reset[FN_RESETS_KEPT];
	unsigned nr_resets;
	double last_reset_ms;        /* the latest, kept or not: vm.counters' last_reset_us */
};

struct vm_vfio {
	struct vfio_container c;       /* closed (c.sys NULL) while no function is open */
	struct vfio_group groups[VM_VFIO_FNS]; /* closed ones (c NULL) are reused */
	unsigned nr_groups;
	struct vm_vfio_fn fn[VM_VFIO_FNS];
	unsigned nr;                   /* entries used so far, free ones among them */
	unsigned next_id;              /* the number in the next "vfioN" */
	int kvm_vfio_fd;
	/*
	 * One host reset at a time (at start, on demand from the API, on the
	 * guest's bus reset from a vCPU): each may narrow a reset_method
	 * file for its moment. Held for a whole reset (a hundred ms or more).
	 */
	pthread_mutex_t reset_lock;
	/*
	 * Every function's reset[], nr_resets and last_reset_ms, held only to
	 * read or write them: vm.info and vm.counters on the main thread never
	 * wait for a reset, however often a guest asks for one.
	 */
	pthread_mutex_t history_lock;
};

_Static_assert(sizeof(((struct vm_vfio_fn_plan *)0)->bdf) >= HOST_BDF_LEN, "a BDF fits");
_Static_assert(sizeof(((struct vm_vfio_fn_plan *)0)->bar_size) ==
	       HOST_ROM_RESOURCE * sizeof(uint64_t), "a size per BAR");

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* The word of methods that reset= r names (flr is also af_flr), or NULL. */
static const char *method_listed(const char *methods, enum vm_vfio_reset r)
{
	static const char *const names[][2] = {
		[VM_VFIO_RESET_FLR] = { "flr", "af_flr" },
		[VM_VFIO_RESET_PM] = { "pm", NULL },
		[VM_VFIO_RESET_BUS] = { "bus", NULL },
	};
	char copy[128], *save = NULL;

	snprintf(copy, sizeof(copy), "%s", methods);
	for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
		for (unsigned i = 0; i < 2; i++)
			if (names[r][i] && !strcmp(w, names[r][i]))
				return names[r][i];
	return NULL;
}

/* The method the kernel uses first: the first word of the list. */
static void first_method(const char *methods, char *out, size_t len)
{
	size_t n = strcspn(methods, " ");

	snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), methods);
}

/*
 * A function reset, timed and logged with its method; when: "at start",
 * "at exit", "at removal", "on demand" or "on the guest's bus reset".
 * method (a word of the kernel's reset_method: flr, pm, bus...): that
 * method alone is listed in sysfs for the moment of the reset, and the
 * kernel's list is put back right after; NULL: the kernel's first choice.
 * 0, or -errno; *ms the time the reset took. With reset_lock held
 * (fn_reset_with()).
 */
static int fn_reset_locked(struct vm_vfio_fn *f, const char *when, const char *method, double *ms)
{
	const struct vm_vfio_fn_plan *p = f->p;
	char used[32];
	struct timespec t0;
	int ret;

	if (!(f->dev.info.flags & VFIO_DEVICE_FLAGS_RESET)) {
		pr_info("vfio %s: no reset %s: the kernel offers no reset method for it", p->bdf,
			when);
		return -ENOTSUP;
	}
	if (method) {
		char now[sizeof(p->methods)];

		ret = vfio_reset_methods_write(p->bdf, method);
		if (ret) {
			log_msg(LOG_WARN, NULL, "vfio %s: not reset %s: cannot choose %s in "
				"/sys/bus/pci/devices/%s/reset_method: %s", p->bdf, when, method,
				p->bdf, strerror(-ret));
			return ret;
		}
		/* The log names what the kernel now holds, not what was asked. */
		if (vfio_reset_methods_read(p->bdf, now, sizeof(now)))
			snprintf(now, sizeof(now), "%s", method);
		first_method(now, used, sizeof(used));
	} else {
		first_method(p->methods, used, sizeof(used));
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = f->dev.sys->ioctl(f->dev.fd, VFIO_DEVICE_RESET, NULL);
	*ms = ms_since(&t0);
	pthread_mutex_lock(&f->v->history_lock);
	if (f->nr_resets < FN_RESETS_KEPT) {
		snprintf(f->reset[f->nr_resets].method, sizeof(f->reset[0].method), "%s",
			 used[0] ? used : "auto");
		f->reset[f->nr_resets].when = when;
		f->reset[f->nr_resets].ms = *ms;
		f->reset[f->nr_resets].ok = ret >= 0;
	}
	f->nr_resets++;
	f->last_reset_ms = *ms;
	pthread_mutex_unlock(&f->v->history_lock);
	if (ret < 0)
		log_msg(LOG_WARN, NULL, "vfio %s: reset %s (%s) failed: %s (the kernel's log, "
			"dmesg, may say why)", p->bdf, when, used[0] ? used : "the kernel's choice",
			strerror(-ret));
	else
		pr_info("vfio %s: reset %s (%s) in %.1f ms", p->bdf, when,
			used[0] ? used : "the kernel's choice", *ms);
	if (method) {
		int put = vfio_reset_methods_write(p->bdf, p->methods);

		if (put)
			log_msg(LOG_WARN, NULL, "vfio %s: cannot put back reset methods \"%s\" in "
				"/sys/bus/pci/devices/%s/reset_method: %s", p->bdf, p->methods,
				p->bdf, strerror(-put));
	}
	return ret < 0 ? ret : 0;
}

static int fn_reset_with(struct vm_vfio_fn *f, const char *when, const char *method, double *ms)
{
	int ret;

	pthread_mutex_lock(&f->v->reset_lock);
	ret = fn_reset_locked(f, when, method, ms);
	pthread_mutex_unlock(&f->v->reset_lock);
	return ret;
}

/* The reset the user chose with reset= (none: none), at start or at exit. */
static void fn_reset(struct vm_vfio_fn *f, const char *when)
{
	double ms;

	if (f->p->cfg->reset == VM_VFIO_RESET_NONE) {
		pr_info("vfio %s: not reset %s (reset=none)", f->p->bdf, when);
		return;
	}
	(void)fn_reset_with(f, when, f->p->method, &ms);
}

/*
 * The guest asserted Secondary Bus Reset on the root port above f (a vCPU,
 * no lock held; vfio_pci.c has put the guest's view back to power-on).
 * As QEMU does: a host bus reset when the kernel offers one, which it
 * does only for a function alone on its bus, else an FLR; else the
 * kernel's choice. A method the user chose with reset= comes first, and
 * reset=none leaves the device as it is.
 */
static void fn_guest_reset(void *opaque)
{
	struct vm_vfio_fn *f = opaque;
	const struct vm_vfio_fn_plan *p = f->p;
	const char *method = p->method;
	char first[32];
	double ms;

	if (p->cfg->reset == VM_VFIO_RESET_NONE) {
		pr_info("vfio %s: not reset on the guest's bus reset (reset=none)", p->bdf);
		return;
	}
	if (p->cfg->reset == VM_VFIO_RESET_AUTO) {
		method = method_listed(p->methods, VM_VFIO_RESET_BUS);
		if (!method)
			method = method_listed(p->methods, VM_VFIO_RESET_FLR);
		/* The kernel's first choice already: its list stays as it is. */
		first_method(p->methods, first, sizeof(first));
		if (method && !strcmp(method, first))
			method = NULL;
		/* Choosing another needs root (--user dropped it): the kernel's, said so. */
		char path[64 + HOST_BDF_LEN];

		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset_method", p->bdf);
		if (method && access(path, W_OK)) {
			pr_info("vfio %s: the guest's bus reset would take %s, but choosing it in %s "
				"needs root; the kernel's first choice (%s) instead", p->bdf, method,
				path, first);
			method = NULL;
		}
	}
	(void)fn_reset_with(f, "on the guest's bus reset", method, &ms);
}

/*
 * The kernel's reset methods, read once for the whole run: what reset=
 * asks of p is something its kernel offers; why says what instead.
 */
static int reset_check(const struct host *h, struct vm_vfio_fn_plan *p, char *why, size_t len)
{
	static const char *const asked[] = {
		[VM_VFIO_RESET_FLR] = "flr", [VM_VFIO_RESET_PM] = "pm", [VM_VFIO_RESET_BUS] = "bus",
	};
	enum vm_vfio_reset r = p->cfg->reset;
	char path[PATH_MAX], first[32];
	int ret = host_read(h, p->methods, sizeof(p->methods), "sys/bus/pci/devices/%s/reset_method",
			    p->bdf);

	if (ret < 0)
		p->methods[0] = '\0';
	p->method = NULL;
	if (r == VM_VFIO_RESET_AUTO || r == VM_VFIO_RESET_NONE)
		return 0;
	if (host_path(h, path, sizeof(path), "sys/bus/pci/devices/%s/reset_method", p->bdf))
		path[0] = '\0';
	if (ret < 0) {
		snprintf(why, len, "%.16s,reset=%s: the kernel does not list its reset methods (%s: "
			 "%s; Linux 5.15 and later have it): use reset=auto", p->bdf, asked[r], path,
			 strerror(-ret));
		return -EINVAL;
	}
	p->method = method_listed(p->methods, r);
	if (!p->method) {
		snprintf(why, len, "%.16s,reset=%s: the kernel offers %s%s (%s)", p->bdf, asked[r],
			 p->methods[0] ? "only: " : "no reset method for it", p->methods, path);
		return -EINVAL;
	}
	first_method(p->methods, first, sizeof(first));
	if (!strcmp(first, p->method)) {
		p->method = NULL; /* the kernel's first choice already */
		return 0;
	}
	if (access(path, W_OK)) {
		snprintf(why, len, "%.16s,reset=%s: choosing it over %s means writing %s, which "
			 "needs root", p->bdf, asked[r], first, path);
		return -EPERM;
	}
	return 0;
}

/* A file the plan reads besides sysfs (the ROM), told to the same hook, for the tests' counts. */
static void told_read(const struct host *h, const char *path)
{
	if (h->on_read)
		h->on_read(path, h->on_read_arg);
}

#define ROM_MAX (16u << 20)

/* rom=FILE: read whole, at most 16 MiB, not empty; kept in the plan for every boot. */
static int rom_load(const struct host *h, struct vm_vfio_fn_plan *p, char *why, size_t len)
{
	const char *path = p->cfg->rom;
	FILE *fp;
	long size = -1;
	int ret = 0;

	told_read(h, path);
	fp = fopen(path, "re");
	if (!fp) {
		ret = -errno; /* snprintf may change errno */
		snprintf(why, len, "%.16s,rom=%.512s: %s", p->bdf, path, strerror(-ret));
		return ret;
	}
	if (!fseek(fp, 0, SEEK_END))
		size = ftell(fp);
	if (size <= 0 || size > (long)ROM_MAX || fseek(fp, 0, SEEK_SET)) {
		snprintf(why, len, "%.16s,rom=%.512s: %s", p->bdf, path, size < 0 ? "not a regular file" :
			 size == 0 ? "empty" : "larger than a ROM BAR may be here (16 MiB)");
		fclose(fp);
		return -EINVAL;
	}
	p->rom = malloc((size_t)size);
	if (!p->rom)
		ret = -ENOMEM;
	else if (fread(p->rom, 1, (size_t)size, fp) != (size_t)size)
		ret = -EIO;
	fclose(fp);
	if (ret) {
		snprintf(why, len, "%.16s,rom=%.512s: cannot read it: %s", p->bdf, path, strerror(-ret));
		free(p->rom);
		p->rom = NULL;
		return ret;
	}
	p->rom_len = (size_t)size;
	return 0;
}

/* The BARs as the host assigned them: what the firmware's 64-bit window must hold. */
static void bars_read(const struct host *h, struct vm_vfio_fn_plan *p)
{
	struct host_resource res[HOST_NR_RESOURCES];
	int ret = host_read_resources(h, p->bdf, res);

	/* Not a refusal: the device still works if the firmware finds the room anyway. */
	if (ret) {
		log_msg(LOG_WARN, NULL, "vfio %s: cannot read its BARs from sysfs (%s): the 64-bit "
			"PCI window is sized without them", p->bdf, strerror(-ret));
		return;
	}
	for (unsigned bar = 0; bar < HOST_ROM_RESOURCE; bar++) {
		p->bar_size[bar] = res[bar].size;
		p->bar_flags[bar] = res[bar].flags;
	}
}

/*
 * One function's plan from the host h as loaded, independent of the
 * others': its ROM, whether the kernel would let it be opened, its group,
 * BARs and reset methods. why says what refuses it.
 */
static int fn_plan_make(const struct host *h, const struct vm_vfio_fn_cfg *c,
			struct vm_vfio_fn_plan *p, char *why, size_t len)
{
	int ret;

	p->cfg = c;
	snprintf(p->bdf, sizeof(p->bdf), "%04x:%02x:%02x.%x", c->domain, c->bus, c->dev, c->fn);
	if (c->rom && (ret = rom_load(h, p, why, len)))
		return ret;
	ret = vfio_check_viable(h, p->bdf, why, len);
	if (ret)
		return ret;
	p->group = host_find(h, p->bdf)->group;
	bars_read(h, p);
	return reset_check(h, p, why, len);
}

static bool same_slot(const struct vm_vfio_fn_cfg *a, const struct vm_vfio_fn_cfg *b)
{
	return a->domain == b->domain && a->bus == b->bus && a->dev == b->dev;
}

static bool same_fn(const struct vm_vfio_fn_cfg *a, const struct vm_vfio_fn_cfg *b)
{
	return same_slot(a, b) && a->fn == b->fn;
}

static int plan_fns(const struct host *h, const struct vm_config *cfg, struct vm_vfio_plan *plan)
{
	char why[1024];
	int ret = 0;

	for (unsigned i = 0; i < cfg->nr_vfio && !ret; i++) {
		for (unsigned j = 0; j < i; j++)
			if (same_fn(&cfg->vfio[j], &cfg->vfio[i])) {
				pr_err("--vfio %s: given twice", plan->fn[j].bdf);
				return -EINVAL;
			}
		plan->nr = i + 1; /* what vm_vfio_plan_free() has to look at */
		ret = fn_plan_make(h, &cfg->vfio[i], &plan->fn[i], why, sizeof(why));
		if (ret)
			pr_err("--vfio %s", why);
	}
	return ret;
}

int vm_vfio_plan_make_at(const struct vm_config *cfg, const char *sysroot,
			 void (*on_read)(const char *path, void *arg), void *arg,
			 struct vm_vfio_plan **out)
{
	struct vm_vfio_plan *plan;
	struct host h;
	char why[1024];
	int ret;

	*out = NULL;
	if (!cfg->nr_vfio)
		return 0;
	ret = host_load_traced(&h, sysroot, on_read, arg);
	if (ret) {
		pr_err("--vfio: cannot read the host's PCI devices from sysfs: %s", strerror(-ret));
		return ret;
	}
	plan = calloc(1, sizeof(*plan));
	ret = plan ? plan_fns(&h, cfg, plan) : -ENOMEM;
	host_free(&h);
	if (ret == -ENOMEM && !plan)
		pr_err("--vfio: no memory for its plan");
	if (!ret && vfio_memlock_check(cfg->mem.size, why, sizeof(why))) {
		pr_err("--vfio: %s", why);
		ret = -ENOMEM;
	}
	if (ret) {
		vm_vfio_plan_free(plan);
		return ret;
	}
	*out = plan;
	return 0;
}

int vm_vfio_plan_make(const struct vm_config *cfg, struct vm_vfio_plan **plan)
{
	return vm_vfio_plan_make_at(cfg, "/", NULL, NULL, plan);
}

void vm_vfio_plan_free(struct vm_vfio_plan *plan)
{
	if (!plan)
		return;
	for (unsigned i = 0; i < plan->nr; i++)
		free(plan->fn[i].rom);
	free(plan);
}

/*
 * One root port per host slot, in the order the slots were first given,
 * so that a slot's functions stay one multifunction device.
 */
int vm_vfio_plan_place(struct vm_vfio_plan *plan)
{
	unsigned ports = 0;

	for (unsigned i = 0; plan && i < plan->nr; i++) {
		struct vm_vfio_fn_plan *p = &plan->fn[i];
		unsigned j;

		for (j = 0; j < i && !same_slot(plan->fn[j].cfg, p->cfg); j++)
			;
		p->port = j < i ? plan->fn[j].port : ports++;
		if (p->port >= VM_ROOT_PORTS) {
			pr_err("--vfio %s: more slots than the machine's %d root ports", p->bdf,
			       VM_ROOT_PORTS);
			return -ENOSPC;
		}
	}
	return 0;
}

unsigned vm_vfio_bars64(const struct vm_config *cfg, struct ovmf_bar64 *out, unsigned cap,
			char *largest, size_t len)
{
	const uint64_t want = RES_MEM | RES_MEM_64 | RES_PREFETCH;
	const struct vm_vfio_plan *plan = cfg->vfio_plan;
	unsigned n = 0;
	uint64_t max = 0;

	if (len)
		largest[0] = '\0';
	for (unsigned i = 0; plan && i < plan->nr; i++) {
		const struct vm_vfio_fn_plan *p = &plan->fn[i];

		for (unsigned bar = 0; bar < HOST_ROM_RESOURCE; bar++) {
			if (!p->bar_size[bar] || (p->bar_flags[bar] & want) != want || n == cap)
				continue;
			out[n++] = (struct ovmf_bar64){ .port = (int)p->port, .size = p->bar_size[bar] };
			if (p->bar_size[bar] > max) {
				max = p->bar_size[bar];
				snprintf(largest, len, "%s BAR%u", p->bdf, bar);
			}
		}
	}
	return n;
}

unsigned vm_hotplug_bars64(const struct vm_config *cfg, struct ovmf_bar64 *out, unsigned cap)
{
	const struct vm_vfio_plan *plan = cfg->vfio_plan;
	bool taken[VM_ROOT_PORTS] = { false };
	unsigned n = 0;

	for (unsigned i = 0; plan && i < plan->nr; i++)
		if (plan->fn[i].port < VM_ROOT_PORTS)
			taken[plan->fn[i].port] = true;
	for (unsigned port = 0; port < VM_ROOT_PORTS && n < cap; port++)
		if (!taken[port] && cfg->hotplug_reserve.pref64)
			out[n++] = (struct ovmf_bar64){ .port = (int)port,
							.size = cfg->hotplug_reserve.pref64 };
	return n;
}

static struct vfio_group *group_of(struct vm_vfio *v, int group, char *why, size_t len, int *ret)
{
	struct vfio_group *g;

	unsigned i;

	for (i = 0; i < v->nr_groups; i++)
		if (v->groups[i].c && v->groups[i].group == group)
			return &v->groups[i];
	for (i = 0; i < v->nr_groups && v->groups[i].c; i++)
		;
	g = &v->groups[i];
	*ret = vfio_group_open(&v->c, g, group, why, len);
	if (*ret)
		return NULL;
	if (i == v->nr_groups)
		v->nr_groups++;
	return g;
}

/*
 * The KVM-VFIO pseudo-device: KVM learns which files this VM's devices
 * come through (coherent DMA, etc.): a group's node under type1, a
 * device's cdev under iommufd. The kernel's KVM_DEV_VFIO_FILE_ADD (6.6)
 * is KVM_DEV_VFIO_GROUP_ADD renamed, and takes either.
 */
static int kvm_vfio_add(struct vm *vm, struct vm_vfio *v, const int *fd)
{
	struct kvm_device_attr attr = {
		.group = KVM_DEV_VFIO_GROUP, .attr = KVM_DEV_VFIO_GROUP_ADD,
		.addr = (uintptr_t)fd,
	};

	if (v->kvm_vfio_fd < 0) {
		struct kvm_create_device cd = { .type = KVM_DEV_TYPE_VFIO };

		if (ioctl(vm->vm_fd, KVM_CREATE_DEVICE, &cd) < 0)
			return -errno;
		v->kvm_vfio_fd = (int)cd.fd;
	}
	return ioctl(v->kvm_vfio_fd, KVM_SET_DEVICE_ATTR, &attr) < 0 ? -errno : 0;
}

static bool slot_shared(const struct vm_vfio *v, unsigned i)
{
	for (unsigned j = 0; j < v->nr; j++)
		if (j != i && v->fn[j].p && v->fn[j].p->port == v->fn[i].p->port)
			return true;
	return false;
}

/* Whether a function opened before f sits behind f's root port (and set its link). */
static bool slot_linked(const struct vm_vfio *v, const struct vm_vfio_fn *f)
{
	for (const struct vm_vfio_fn *o = v->fn; o < f; o++)
		if (o->p && o->p->port == f->p->port && o->vp)
			return true;
	return false;
}

/*
 * An eventfd on one of VFIO's per-device interrupts (ERR: the device
 * reported an error through AER; REQ: the host kernel wants the device
 * back, e.g. it is being unbound from vfio-pci). -1 when the device has
 * none of that kind, or the kernel refused.
 */
static int fn_irq_efd(struct vm_vfio_fn *f, unsigned index, const char *name)
{
	/* The header and the one eventfd after it (a struct holding both is a GNU extension). */
	union {
		struct vfio_irq_set set;
		uint8_t bytes[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	} req = {
		.set = { .argsz = sizeof(struct vfio_irq_set) + sizeof(int32_t), .index = index,
			 .start = 0, .count = 1,
			 .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER },
	};
	int32_t fd32;
	int efd;

	if (!f->dev.irq[index].count)
		return -1;
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0)
		return -1;
	fd32 = efd;
	memcpy(req.bytes + sizeof(struct vfio_irq_set), &fd32, sizeof(fd32));
	if (f->dev.sys->ioctl(f->dev.fd, VFIO_DEVICE_SET_IRQS, &req) < 0) {
		log_msg(LOG_WARN, NULL, "vfio %s: no %s interrupt: %s", f->p->bdf, name,
			strerror(errno));
		close(efd);
		return -1;
	}
	return efd;
}

/* Listens for the host's request for the device and for its errors (main loop). */
static void fn_watch(struct vm_vfio_fn *f)
{
	f->req_efd = fn_irq_efd(f, VFIO_PCI_REQ_IRQ_INDEX, "request (REQ)");
	f->err_efd = fn_irq_efd(f, VFIO_PCI_ERR_IRQ_INDEX, "error (ERR)");
}

static void fn_unwatch(struct vm_vfio_fn *f)
{
	struct vfio_irq_set off = { .argsz = sizeof(off), .count = 0,
				    .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER };
	int *efd[] = { &f->req_efd, &f->err_efd };
	unsigned index[] = { VFIO_PCI_REQ_IRQ_INDEX, VFIO_PCI_ERR_IRQ_INDEX };

	for (unsigned i = 0; i < 2; i++) {
		if (*efd[i] < 0)
			continue;
		off.index = index[i];
		if (f->dev.fd >= 0)
			(void)f->dev.sys->ioctl(f->dev.fd, VFIO_DEVICE_SET_IRQS, &off);
		close(*efd[i]);
		*efd[i] = -1;
	}
}

static int open_fn(struct vm *vm, struct vm_vfio *v, struct vm_vfio_fn *f, bool multifunction,
		   bool hot)
{
	const char *what = hot ? "vm.add-device" : "--vfio";
	const struct vm_vfio_fn_plan *p = f->p;
	/*
	 * INTx: device 0 behind the root port in slot port + 1 of bus 0, so
	 * the bridge swizzle leaves the pin as it is, and PCI0._PRT gives the
	 * root port's slot and that pin its line.
	 */
	struct pci_platform plat = vm_pci_platform(vm, p->port + 1);
	struct pcie_root_port *rp = q35_root_port(vm, p->port);
	char why[1024];
	unsigned speed, width;
	int ret = 0;

	struct vfio_pci_opts opts = {
		.rom_off = p->cfg->rom_off, .rom = p->rom, .rom_len = p->rom_len,
		.no_mmap = p->cfg->no_mmap, .host_reset = fn_guest_reset, .host_reset_opaque = f,
	};

	f->v = v;
	f->g = group_of(v, p->group, why, sizeof(why), &ret);
	if (!ret && f->cdev_fd >= 0) {
		int fd = f->cdev_fd;

		f->cdev_fd = -1; /* the device's now, closed by it even if it fails */
		ret = vfio_device_open_fd(f->g, p->bdf, fd, &f->dev, why, sizeof(why));
	} else if (!ret) {
		ret = vfio_device_open(f->g, p->bdf, &f->dev, why, sizeof(why));
	}
	if (ret) {
		pr_err("%s %s", what, why);
		return ret;
	}
	fn_reset(f, "at start");
	/* Device 0 behind its port; the host's function number, so a slot stays one card. */
	f->vp = vfio_pci_new(&f->dev, PCI_DEVFN(0, p->cfg->fn), multifunction, &plat, &opts, why,
			     sizeof(why));
	if (!f->vp) {
		pr_err("%s %s", what, why);
		return -EIO;
	}
	ret = pci_bus_add_behind(&vm->pci, pcie_root_port_pci(rp), vfio_pci_dev(f->vp));
	if (ret) {
		pr_err("%s %s: cannot put it behind root port %u: %s", what, p->bdf, p->port + 1,
		       strerror(-ret));
		return ret;
	}
	fn_watch(f);
	/* A hot-added one is announced once the rest is ready (vm_vfio_add_device()). */
	if (!hot)
		pcie_root_port_set_present(rp, true);
	/* The port's link is the first function's, as the host trained it. */
	if (!slot_linked(v, f) && vfio_pci_link(f->vp, &speed, &width)) {
		/* Under the lock: a hot-added one's vCPUs may be reading the port. */
		pthread_mutex_lock(&vm->pci.lock);
		pcie_root_port_set_link(rp, speed, width);
		pthread_mutex_unlock(&vm->pci.lock);
	}
	pr_info("vfio %s: behind root port 00:%02x.0 (IOMMU group %d)", p->bdf, p->port + 1,
		p->group);
	return 0;
}

/*
 * --vfio-iommu: iommufd when asked, or (auto) when the kernel has it and
 * gives every device a cdev; else the type1 container. Says which.
 */
static int open_iommu(struct vm_vfio *v, enum vm_vfio_iommu want)
{
	bool iommufd = want == VM_VFIO_IOMMU_IOMMUFD;
	char why[1024], name[32];
	int ret;

	if (want == VM_VFIO_IOMMU_AUTO) {
		iommufd = vfio_iommufd_present("");
		for (unsigned i = 0; i < v->nr && iommufd; i++)
			iommufd = !v->fn[i].p ||
				  !vfio_cdev_name("", v->fn[i].p->bdf, name, sizeof(name));
	}
	ret = iommufd ? vfio_iommufd_open(&v->c, "", why, sizeof(why)) :
			vfio_container_open(&v->c, "", why, sizeof(why));
	if (ret) {
		pr_err("--vfio: %s", why);
		return ret;
	}
	pr_info("vfio: %s: %s", vfio_iommu_name(&v->c), iommufd ?
		"/dev/iommu and the devices' cdevs" : "the container /dev/vfio/vfio and the group nodes");
	return 0;
}

/* No function open yet, every fd -1. */
static struct vm_vfio *vfio_alloc(void)
{
	struct vm_vfio *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->kvm_vfio_fd = -1;
	for (unsigned i = 0; i < VM_VFIO_FNS; i++)
		v->fn[i].req_efd = v->fn[i].err_efd = v->fn[i].cdev_fd = -1;
	pthread_mutex_init(&v->reset_lock, NULL);
	pthread_mutex_init(&v->history_lock, NULL);
	return v;
}

/*
 * KVM told of what proves each function is ours (its group's node under
 * type1, its cdev under iommufd), once each: functions of one group share
 * the node, and KVM refuses a second add.
 */
static int kvm_vfio_add_all(struct vm *vm, struct vm_vfio *v)
{
	for (unsigned i = 0; i < v->nr; i++) {
		int fd = vfio_device_owner_fd(&v->fn[i].dev), ret;
		bool added = false;

		for (unsigned j = 0; j < i && !added; j++)
			added = vfio_device_owner_fd(&v->fn[j].dev) == fd;
		if (added)
			continue;
		ret = kvm_vfio_add(vm, v, &fd);
		if (ret) {
			pr_err("--vfio %s: the KVM-VFIO device refused it (IOMMU group %d, %s): %s",
			       v->fn[i].p->bdf, v->fn[i].p->group, vfio_iommu_name(&v->c),
			       strerror(-ret));
			return ret;
		}
	}
	return 0;
}

int vm_add_vfio_devices(struct vm *vm)
{
	const struct vm_vfio_plan *plan = vm->cfg->vfio_plan;
	struct vm_vfio *v;
	char why[1024];
	int ret;

	if (!vm->cfg->nr_vfio)
		return 0;
	if (!vm->q35) {
		pr_err("--vfio needs --firmware: a passed-through device sits behind a PCIe root "
		       "port of the Q35 machine, which the firmware numbers and maps");
		return -EINVAL;
	}
	if (!plan) {
		pr_err("--vfio: its functions were not planned before the machine was made");
		return -EINVAL;
	}
	v = vfio_alloc();
	if (!v)
		return -ENOMEM;
	vm->vfio = v;
	for (unsigned i = 0; i < plan->nr; i++) {
		v->fn[i].p = &plan->fn[i];
		v->fn[i].powered_seen = true; /* a port with a device comes out of reset on */
		v->fn[i].announced = true;
		snprintf(v->fn[i].id, sizeof(v->fn[i].id), "vfio%u", i);
	}
	v->nr = v->next_id = plan->nr;
	ret = open_iommu(v, vm->cfg->vfio_iommu) ? -ENODEV : 0;
	for (unsigned i = 0; i < v->nr && !ret; i++)
		ret = open_fn(vm, v, &v->fn[i], slot_shared(v, i), false);
	if (!ret)
		ret = kvm_vfio_add_all(vm, v);
	if (!ret) {
		ret = vfio_map_guest_ram(&v->c, &vm->mem, why, sizeof(why));
		if (ret)
			pr_err("--vfio: %s", why);
	}
	return ret;
}

static void fn_forget(struct vm_vfio_fn *f)
{
	if (f->hot_plan)
		free(f->hot_plan->rom);
	free(f->hot_plan);
	free(f->hot_cfg);
	/* A passed cdev the device never took (refused before it opened): it goes too. */
	if (f->cdev_fd >= 0)
		close(f->cdev_fd);
	*f = (struct vm_vfio_fn){ .req_efd = -1, .err_efd = -1, .cdev_fd = -1 };
}

void vm_vfio_free(struct vm *vm)
{
	struct vm_vfio *v = vm->vfio;

	if (!v)
		return;
	for (unsigned i = 0; i < v->nr; i++) {
		struct vm_vfio_fn *f = &v->fn[i];

		if (!f->p)
			continue;
		fn_unwatch(f);
		vfio_pci_free(f->vp);
		f->vp = NULL;
		if (f->dev.g)
			fn_reset(f, "at exit");
		vfio_device_close(&f->dev);
		fn_forget(f);
	}
	for (unsigned i = 0; i < v->nr_groups; i++)
		vfio_group_close(&v->groups[i]);
	vfio_container_close(&v->c);
	if (v->kvm_vfio_fd >= 0)
		close(v->kvm_vfio_fd);
	pthread_mutex_destroy(&v->reset_lock);
	pthread_mutex_destroy(&v->history_lock);
	free(v);
	vm->vfio = NULL;
}

static struct vm_vfio_fn *fn_by_id(struct vm_vfio *v, const char *id)
{
	for (unsigned i = 0; v && i < v->nr; i++)
		if (v->fn[i].p && !strcmp(v->fn[i].id, id))
			return &v->fn[i];
	return NULL;
}

/* ---- vm.info's device_tree and vm.counters ---- */

/* The function's guest address: its root port's secondary bus, as the guest numbered it. */
static void guest_bdf(struct vm *vm, const struct vfio_pci *vp, char *out, size_t len)
{
	struct pci_device *dev = vfio_pci_dev((struct vfio_pci *)vp);
	unsigned bus = 0;

	pthread_mutex_lock(&vm->pci.lock);
	if (dev->parent)
		bus = dev->parent->cfg[PCI_SECONDARY_BUS];
	pthread_mutex_unlock(&vm->pci.lock);
	snprintf(out, len, "0000:%02x:%02x.%x", bus, dev->devfn >> 3, dev->devfn & 7);
}

static json_t *bar_json(const struct vfio_pci_bar_info *b, unsigned idx)
{
	json_t *o = json_object(), *t = json_array();

	json_object_set_new(o, "type", json_string(idx == PCI_ROM_BAR ? "rom" : "bar"));
	if (idx != PCI_ROM_BAR)
		json_object_set_new(o, "index", json_integer(idx));
	json_object_set_new(o, "io", json_boolean(b->io));
	json_object_set_new(o, "guest_address", json_integer((json_int_t)b->addr));
	json_object_set_new(o, "size", json_integer((json_int_t)b->size));
	json_object_set_new(o, "mapping", json_string(b->mapping));
	for (unsigned i = 0; i < b->nr_trapped; i++)
		json_array_append_new(t, json_pack("{sI sI}", "offset", (json_int_t)b->trapped[i].off,
						   "length", (json_int_t)b->trapped[i].len));
	json_object_set_new(o, "trapped", t);
	return o;
}

json_t *vm_vfio_device_tree(struct vm *vm)
{
	struct vm_vfio *v = vm->vfio;
	json_t *tree = json_object();

	for (unsigned i = 0; v && i < v->nr; i++) {
		struct vm_vfio_fn *f = &v->fn[i];
		json_t *node, *res;
		const char *id = f->id;
		char bdf[16];

		if (!f->p || !f->vp)
			continue;
		node = json_object();
		res = json_array();
		guest_bdf(vm, f->vp, bdf, sizeof(bdf));
		if (f->remove_by_ns)
			json_object_set_new(node, "vmm_removing", json_true());
		json_object_set_new(node, "id", json_string(id));
		json_object_set_new(node, "pci_bdf", json_string(bdf));
		json_array_append_new(res, json_pack("{ss ss si ss}", "type", "host", "bdf", f->p->bdf,
						     "iommu_group", f->p->group, "iommu",
						     vfio_iommu_name(&v->c)));
		pthread_mutex_lock(&vm->pci.apply_lock);
		for (unsigned b = 0; b <= PCI_ROM_BAR; b++) {
			struct vfio_pci_bar_info bi;

			vfio_pci_bar_info(f->vp, b, &bi);
			if (bi.present)
				json_array_append_new(res, bar_json(&bi, b));
		}
		pthread_mutex_unlock(&vm->pci.apply_lock);
		json_array_append_new(res, json_pack("{ss ss ss}", "type", "reset_method", "chosen",
						     f->p->method ? f->p->method :
						     f->p->cfg->reset == VM_VFIO_RESET_NONE ? "none" :
						     "auto", "offered", f->p->methods));
		pthread_mutex_lock(&v->history_lock);
		for (unsigned k = 0; k < f->nr_resets && k < FN_RESETS_KEPT; k++)
			json_array_append_new(res, json_pack("{ss ss ss sf sb}", "type", "reset",
							     "method", f->reset[k].method, "when",
							     f->reset[k].when, "ms", f->reset[k].ms,
							     "ok", f->reset[k].ok));
		pthread_mutex_unlock(&v->history_lock);
		json_object_set_new(node, "resources", res);
		json_object_set_new(node, "children", json_array());
		json_object_set_new(tree, id, node);
	}
	return tree;
}

/*
 * The host's count of each of the function's interrupts, from
 * /proc/interrupts, where vfio-pci names them "vfio-msix[N](BDF)",
 * "vfio-msi[N](BDF)" and "vfio-intx(BDF)": what reached the guest through
 * its irqfds, with no userspace hop to count them on the way.
 */
static void irq_counts(const char *bdf, json_t *out)
{
	FILE *f = fopen("/proc/interrupts", "re");
	char line[4096], want[32], *tail;

	if (!f)
		return;
	snprintf(want, sizeof(want), "(%s)", bdf);
	while (fgets(line, sizeof(line), f)) {
		char *name = strstr(line, "vfio-"), key[64], *p;
		unsigned long long sum = 0;

		if (!name || !strstr(name, want) || !(p = strchr(line, ':')))
			continue;
		for (p++;; p = tail) {
			unsigned long long n = strtoull(p, &tail, 10);

			if (tail == p)
				break;
			sum += n;
		}
		/* vfio-msix[3](BDF) -> msix3_interrupts; vfio-intx(BDF) -> intx_interrupts */
		size_t k = 0;

		for (p = name + 5; *p && *p != '(' && k < sizeof(key) - sizeof("_interrupts"); p++)
			if (*p != '[' && *p != ']')
				key[k++] = *p;
		snprintf(key + k, sizeof(key) - k, "_interrupts");
		json_object_set_new(out, key, json_integer((json_int_t)sum));
	}
	fclose(f);
}

json_t *vm_vfio_counters(struct vm *vm)
{
	struct vm_vfio *v = vm->vfio;
	json_t *all = json_object();
	uint64_t dma = 0;

	for (size_t i = 0; v && i < v->c.n_dma; i++)
		dma += v->c.dma[i].size;
	for (unsigned i = 0; v && i < v->nr; i++) {
		struct vm_vfio_fn *f = &v->fn[i];
		json_t *c;
		char key[32];

		if (!f->p || !f->vp)
			continue;
		c = json_object();

		pthread_mutex_lock(&vm->pci.apply_lock);
		for (unsigned b = 0; b <= PCI_ROM_BAR; b++) {
			struct vfio_pci_bar_info bi;

			vfio_pci_bar_info(f->vp, b, &bi);
			if (!bi.present)
				continue;
			if (b == PCI_ROM_BAR)
				snprintf(key, sizeof(key), "rom_trapped_exits");
			else
				snprintf(key, sizeof(key), "bar%u_trapped_exits", b);
			json_object_set_new(c, key, json_integer((json_int_t)bi.exits));
		}
		pthread_mutex_unlock(&vm->pci.apply_lock);
		irq_counts(f->p->bdf, c);
		/* One IOMMU address space for all of them: each can DMA to all of it. */
		json_object_set_new(c, "dma_mapped_bytes", json_integer((json_int_t)dma));
		pthread_mutex_lock(&v->history_lock);
		json_object_set_new(c, "resets", json_integer(f->nr_resets));
		if (f->nr_resets)
			json_object_set_new(c, "last_reset_us",
					    json_integer((json_int_t)(1000 * f->last_reset_ms)));
		pthread_mutex_unlock(&v->history_lock);
		json_object_set_new(all, f->id, c);
	}
	return all;
}

int vm_vfio_reset_device(struct vm *vm, const char *id, const char *how, double *ms, char *why,
			 size_t len)
{
	static const char *const hows[] = {
		[VM_VFIO_RESET_AUTO] = "auto", [VM_VFIO_RESET_FLR] = "flr",
		[VM_VFIO_RESET_PM] = "pm", [VM_VFIO_RESET_BUS] = "bus",
	};
	struct vm_vfio *v = vm->vfio;
	struct vm_vfio_fn *f = fn_by_id(v, id);
	const char *method = NULL;
	unsigned r;
	int ret;

	if (!f || !f->vp) {
		snprintf(why, len, "no passed-through device \"%s\" (vm.info's device_tree names them)",
			 id);
		return -ENOENT;
	}
	for (r = 0; r < sizeof(hows) / sizeof(hows[0]) && strcmp(how, hows[r]); r++)
		;
	if (r == sizeof(hows) / sizeof(hows[0])) {
		snprintf(why, len, "method \"%s\": auto, flr, pm or bus", how);
		return -EINVAL;
	}
	if (r != VM_VFIO_RESET_AUTO && !(method = method_listed(f->p->methods, r))) {
		snprintf(why, len, "%s (%s): the kernel offers %s%s", id, f->p->bdf,
			 f->p->methods[0] ? "only: " : "no reset method for it",
			 f->p->methods);
		return -EOPNOTSUPP;
	}
	ret = fn_reset_with(f, "on demand", method, ms);
	if (ret)
		snprintf(why, len, "%s (%s): the reset failed: %s", id, f->p->bdf,
			 strerror(-ret));
	return ret;
}

/* ---- hot-plug: vm.add-device, vm.remove-device, and the host's requests ---- */

static uint64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* The machine's VFIO state, made on the first hot-add into a machine that had no --vfio. */
static struct vm_vfio *vfio_state(struct vm *vm)
{
	struct vm_vfio *v = vm->vfio;

	if (v)
		return v;
	v = vfio_alloc();
	if (v)
		vm->vfio = v;
	return v;
}

static unsigned fns_open(const struct vm_vfio *v)
{
	unsigned n = 0;

	for (unsigned i = 0; i < v->nr; i++)
		n += v->fn[i].p != NULL;
	return n;
}

static bool port_used(const struct vm_vfio *v, unsigned port, const struct vm_vfio_fn *but)
{
	for (unsigned i = 0; i < v->nr; i++)
		if (v->fn[i].p && &v->fn[i] != but && v->fn[i].p->port == port)
			return true;
	return false;
}

static bool slot_powered(struct vm *vm, unsigned port)
{
	bool on;

	pthread_mutex_lock(&vm->pci.lock);
	on = pcie_root_port_powered(q35_root_port(vm, port));
	pthread_mutex_unlock(&vm->pci.lock);
	return on;
}

/*
 * Whether another open function proves itself ours with f's file (the
 * group's node under type1): KVM-VFIO holds that file once for them all.
 */
static bool owner_shared(const struct vm_vfio *v, const struct vm_vfio_fn *f)
{
	int fd = vfio_device_owner_fd(&f->dev);

	for (unsigned i = 0; i < v->nr; i++)
		if (v->fn[i].p && &v->fn[i] != f && v->fn[i].dev.g &&
		    vfio_device_owner_fd(&v->fn[i].dev) == fd)
			return true;
	return false;
}

/* KVM-VFIO forgets the file that proved f ours, unless another function still needs it. */
static void kvm_vfio_del_fn(struct vm_vfio *v, struct vm_vfio_fn *f)
{
	int fd = vfio_device_owner_fd(&f->dev);
	struct kvm_device_attr attr = {
		.group = KVM_DEV_VFIO_GROUP, .attr = KVM_DEV_VFIO_GROUP_DEL,
		.addr = (uintptr_t)&fd,
	};

	if (v->kvm_vfio_fd < 0 || fd < 0 || owner_shared(v, f))
		return;
	if (ioctl(v->kvm_vfio_fd, KVM_SET_DEVICE_ATTR, &attr) < 0)
		log_msg(LOG_WARN, NULL, "vfio %s: the KVM-VFIO device would not let it go: %s",
			f->p->bdf, strerror(errno));
}

static int kvm_vfio_add_fn(struct vm *vm, struct vm_vfio *v, struct vm_vfio_fn *f)
{
	int fd = vfio_device_owner_fd(&f->dev);

	return owner_shared(v, f) ? 0 : kvm_vfio_add(vm, v, &fd);
}

/* What the last function out leaves: no container, no DMA mapping, no KVM-VFIO device. */
static void vfio_close_if_empty(struct vm_vfio *v)
{
	if (fns_open(v))
		return;
	for (unsigned i = 0; i < v->nr_groups; i++)
		vfio_group_close(&v->groups[i]);
	vfio_container_close(&v->c);
	if (v->kvm_vfio_fd >= 0)
		close(v->kvm_vfio_fd);
	v->kvm_vfio_fd = -1;
}

/*
 * f leaves the machine: off the PCI bus (its port told, once the slot is
 * empty), its BARs unmapped, its interrupts torn down, the device reset
 * and closed, its group too once no function needs it, and the container
 * with guest RAM's DMA mappings once none is left. The machine is paused
 * meanwhile (vm_pause(): the vCPUs, and the virtio devices' workers; the
 * passed-through functions are left alone), so no access to the function
 * is in flight.
 */
static void fn_release(struct vm *vm, struct vm_vfio *v, struct vm_vfio_fn *f, bool surprise)
{
	struct pcie_root_port *rp = q35_root_port(vm, f->p->port);
	bool paused = vm_paused(vm);
	struct vfio_group *g = f->g;

	if (!paused && vm_pause(vm))
		log_msg(LOG_WARN, NULL, "vfio %s: a vCPU would not pause; removing it anyway",
			f->p->bdf);
	fn_unwatch(f);
	if (f->vp)
		(void)pci_bus_remove_behind(&vm->pci, vfio_pci_dev(f->vp));
	if (f->announced && !port_used(v, f->p->port, f)) {
		pthread_mutex_lock(&vm->pci.lock);
		pcie_root_port_hotplug_remove(rp, surprise);
		pthread_mutex_unlock(&vm->pci.lock);
	}
	vfio_pci_free(f->vp);
	f->vp = NULL;
	if (f->dev.g)
		fn_reset(f, "at removal");
	kvm_vfio_del_fn(v, f);
	vfio_device_close(&f->dev);
	fn_forget(f);
	for (unsigned i = 0; g && i < v->nr; i++)
		if (v->fn[i].p && v->fn[i].g == g)
			g = NULL;
	if (g)
		vfio_group_close(g);
	vfio_close_if_empty(v);
	if (!paused)
		vm_resume(vm);
}

static bool id_taken(const struct vm_vfio *v, const char *id, const struct vm_vfio_fn *but)
{
	for (unsigned i = 0; i < v->nr; i++)
		if (v->fn[i].p && &v->fn[i] != but && !strcmp(v->fn[i].id, id))
			return true;
	return false;
}

/* "vfio0"-like: letters, digits, '_' and '-', 1 to 15 of them. */
static bool id_ok(const char *id)
{
	size_t n = strlen(id);

	return n && n < sizeof(((struct vm_vfio_fn *)0)->id) &&
	       strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

/* The BDF at the end of a sysfs path ("/sys/bus/pci/devices/0000:01:00.0/"), or a bare BDF. */
static int path_bdf(const char *path, char bdf[HOST_BDF_LEN])
{
	char copy[PATH_MAX];
	size_t n;
	char *base;

	if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy))
		return -ENAMETOOLONG;
	for (n = strlen(copy); n > 1 && copy[n - 1] == '/'; n--)
		copy[n - 1] = '\0';
	base = strrchr(copy, '/');
	return host_parse_bdf(base ? base + 1 : copy, bdf);
}

/* A plan of its own for bdf: what --vfio bdf would have, read from sysfs now. */
static int hot_plan(struct vm_vfio_fn *f, const char *bdf, char *why, size_t len)
{
	struct vm_vfio_fn_cfg *c;
	struct host h;
	int ret;

	f->hot_cfg = c = calloc(1, sizeof(*c));
	f->hot_plan = calloc(1, sizeof(*f->hot_plan));
	if (!c || !f->hot_plan) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	snprintf(c->spec, sizeof(c->spec), "%s", bdf);
	c->bdf = c->spec;
	c->reset = VM_VFIO_RESET_AUTO;
	if (sscanf(bdf, "%hx:%hhx:%hhx.%hhx", &c->domain, &c->bus, &c->dev, &c->fn) != 4) {
		snprintf(why, len, "%s: not a PCI address", bdf);
		return -EINVAL;
	}
	ret = host_load_traced(&h, "/", NULL, NULL);
	if (ret) {
		snprintf(why, len, "cannot read the host's PCI devices from sysfs: %s", strerror(-ret));
		return ret;
	}
	ret = fn_plan_make(&h, c, f->hot_plan, why, len);
	host_free(&h);
	return ret;
}

/*
 * The first port with no device whose slot the guest is done with
 * (pcie_root_port_slot_idle(): off, power indicator off). Right after a
 * removal the guest's pciehp may still be tearing down (a surprise
 * removal: it unbinds, switches the slot off, then its indicator); a card
 * put in then meets that half way, and the guest takes the add's button
 * press for a removal request. So such a slot is not offered until the
 * guest is done, as a person waits for a slot's light to go out.
 */
static int free_port(struct vm *vm, struct vm_vfio *v, const char *bdf, unsigned *port,
		     char *why, size_t len)
{
	int busy = -1;

	for (*port = 0; *port < VM_ROOT_PORTS && q35_root_port(vm, *port); (*port)++) {
		bool idle;

		if (port_used(v, *port, NULL))
			continue;
		pthread_mutex_lock(&vm->pci.lock);
		idle = pcie_root_port_slot_idle(q35_root_port(vm, *port));
		pthread_mutex_unlock(&vm->pci.lock);
		if (idle)
			return 0;
		if (busy < 0)
			busy = (int)*port;
	}
	if (busy >= 0) {
		snprintf(why, len, "%s: root port 00:%02x.0 is free, but the guest is not done "
			 "switching its slot off since its last device left; try again in a few "
			 "seconds", bdf, busy + 1);
		return -EAGAIN;
	}
	snprintf(why, len, "%s: every one of the %d root ports has a device (vm.remove-device "
		 "frees one)", bdf, VM_ROOT_PORTS);
	return -ENOSPC;
}

/* Checks what the request asks before anything is taken: the id, the address, a free port. */
static int add_check(struct vm *vm, struct vm_vfio *v, const char *path, const char *id,
		     char bdf[HOST_BDF_LEN], unsigned *port, char *why, size_t len)
{
	if (path_bdf(path, bdf)) {
		snprintf(why, len, "path \"%s\": expected a sysfs path like "
			 "/sys/bus/pci/devices/0000:01:00.0 (or the address alone)", path);
		return -EINVAL;
	}
	if (id && !id_ok(id)) {
		snprintf(why, len, "id \"%s\": 1 to 15 letters, digits, '_' or '-'", id);
		return -EINVAL;
	}
	if (id && fn_by_id(v, id)) {
		snprintf(why, len, "id \"%s\" is taken (vm.info's device_tree)", id);
		return -EEXIST;
	}
	for (unsigned i = 0; i < v->nr; i++)
		if (v->fn[i].p && !strcmp(v->fn[i].p->bdf, bdf)) {
			snprintf(why, len, "%s is already in the guest, as %s", bdf, v->fn[i].id);
			return -EEXIST;
		}
	return free_port(vm, v, bdf, port, why, len);
}

/* The first function into an empty machine brings the container and guest RAM's DMA mappings. */
static int add_open(struct vm *vm, struct vm_vfio *v, struct vm_vfio_fn *f, char *why, size_t len)
{
	enum vm_vfio_iommu want = vm->cfg->vfio_iommu;
	bool first = !v->c.sys;
	int ret;

	if (first && vfio_memlock_check(vm->cfg->mem.size, why, len))
		return -ENOMEM;
	/* A passed cdev can only be bound to iommufd: auto need not look further. */
	if (f->cdev_fd >= 0 && want == VM_VFIO_IOMMU_AUTO)
		want = VM_VFIO_IOMMU_IOMMUFD;
	log_clear_last_error();
	if (first && open_iommu(v, want))
		ret = -ENODEV;
	else
		ret = open_fn(vm, v, f, false, true);
	if (!ret && (ret = kvm_vfio_add_fn(vm, v, f)))
		snprintf(why, len, "%s: the KVM-VFIO device refused it: %s", f->p->bdf,
			 strerror(-ret));
	else if (ret)
		snprintf(why, len, "%s", *log_last_error() ? log_last_error() : "cannot open it");
	if (!ret && first && (ret = vfio_map_guest_ram(&v->c, &vm->mem, why, len)))
		return ret;
	return ret;
}

/* One function added, from path or from *cdev_fd, which f takes (set -1) once f is chosen. */
static int add_device(struct vm *vm, const char *path, int *cdev_fd, const char *id,
		      char *id_out, char *bdf_out, size_t out_len, char *why, size_t len)
{
	struct vm_vfio *v;
	struct vm_vfio_fn *f = NULL;
	char bdf[HOST_BDF_LEN];
	unsigned port, i;
	int ret;

	if (!vm->q35) {
		snprintf(why, len, "a passed-through device needs the Q35 platform (--firmware)");
		return -EINVAL;
	}
	v = vfio_state(vm);
	if (!v) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	ret = add_check(vm, v, path, id, bdf, &port, why, len);
	if (ret)
		return ret;
	for (i = 0; i < VM_VFIO_FNS && v->fn[i].p; i++)
		;
	if (i == VM_VFIO_FNS) {
		snprintf(why, len, "%s: no room for another function", bdf);
		return -ENOSPC;
	}
	f = &v->fn[i];
	f->cdev_fd = *cdev_fd;
	*cdev_fd = -1;
	ret = hot_plan(f, bdf, why, len);
	if (ret) {
		fn_forget(f);
		return ret;
	}
	f->hot_plan->port = port;
	f->p = f->hot_plan;
	if (id)
		snprintf(f->id, sizeof(f->id), "%s", id);
	else
		do /* past any a client chose: "vfio5" given, the next is not vfio5 again */
			snprintf(f->id, sizeof(f->id), "vfio%u", v->next_id++);
		while (id_taken(v, f->id, f));
	if (i >= v->nr)
		v->nr = i + 1;
	ret = add_open(vm, v, f, why, len);
	if (ret) {
		fn_release(vm, v, f, true);
		return ret;
	}
	/*
	 * Presence, then the button, as a person plugging a card into a slot
	 * with one: pciehp enables button events rather than presence ones on
	 * such a slot, sees the presence with the press, and switches the slot
	 * on and probes at once.
	 */
	pthread_mutex_lock(&vm->pci.lock);
	pcie_root_port_hotplug_add(q35_root_port(vm, port));
	pcie_root_port_attention_button(q35_root_port(vm, port));
	pthread_mutex_unlock(&vm->pci.lock);
	f->announced = true;
	snprintf(id_out, out_len, "%s", f->id);
	guest_bdf(vm, f->vp, bdf_out, out_len);
	pr_info("vfio %s: added as %s behind root port 00:%02x.0 (IOMMU group %d): the guest is told",
		bdf, f->id, port + 1, f->p->group);
	return 0;
}

/*
 * The PCI function behind a cdev fd a client passed, into bdf: a VFIO
 * device cdev, open read-write, that this machine can bind (iommufd).
 */
static int cdev_fd_bdf(struct vm *vm, int fd, char bdf[HOST_BDF_LEN], char *why, size_t len)
{
	const struct vm_vfio *v = vm->vfio;
	char cdev[32];
	struct stat st;
	int mode;

	if (fstat(fd, &st) || !S_ISCHR(st.st_mode)) {
		snprintf(why, len, "the file descriptor passed is not a character device: a VFIO "
			 "device cdev (/dev/vfio/devices/vfioN) is wanted");
		return -EINVAL;
	}
	if (vfio_cdev_bdf("", major(st.st_rdev), minor(st.st_rdev), bdf, HOST_BDF_LEN, cdev,
			  sizeof(cdev))) {
		snprintf(why, len, "the file descriptor passed is character device %u:%u, not the "
			 "VFIO cdev of a PCI function (/dev/vfio/devices/vfioN, which "
			 "/sys/dev/char/ shows under a device's vfio-dev/)", major(st.st_rdev),
			 minor(st.st_rdev));
		return -EINVAL;
	}
	mode = fcntl(fd, F_GETFL);
	if (mode < 0 || (mode & O_ACCMODE) != O_RDWR) {
		snprintf(why, len, "%s (the fd passed, %s): opened %s; VFIO needs it read-write "
			 "(O_RDWR)", bdf, cdev, (mode & O_ACCMODE) == O_RDONLY ? "read-only" :
			 "write-only");
		return -EINVAL;
	}
	if (vm->cfg->vfio_iommu == VM_VFIO_IOMMU_TYPE1 ||
	    (v && v->c.sys && strcmp(vfio_iommu_name(&v->c), "iommufd"))) {
		snprintf(why, len, "%s (the fd passed, %s): %s", bdf, cdev, VFIO_CDEV_FD_NEEDS_IOMMUFD);
		return -EOPNOTSUPP;
	}
	pr_info("vm.add-device: the fd passed is %s, the VFIO cdev of %s", cdev, bdf);
	return 0;
}

int vm_vfio_add_device(struct vm *vm, const char *path, int cdev_fd, const char *id,
		       char *id_out, char *bdf_out, size_t out_len, char *why, size_t len)
{
	char bdf[HOST_BDF_LEN];
	int ret = 0;

	if (cdev_fd >= 0) {
		ret = cdev_fd_bdf(vm, cdev_fd, bdf, why, len);
		path = bdf;
	}
	if (!ret)
		ret = add_device(vm, path, &cdev_fd, id, id_out, bdf_out, out_len, why, len);
	/* Not taken by a function (refused before one was chosen): nobody else will close it. */
	if (cdev_fd >= 0)
		close(cdev_fd);
	return ret;
}

/* Asks the guest to let go of every function of f's slot (they leave together). */
static void start_remove(struct vm *vm, struct vm_vfio *v, struct vm_vfio_fn *f, const char *who)
{
	uint64_t now = mono_ns();
	unsigned port = f->p->port;

	for (unsigned i = 0; i < v->nr; i++) {
		struct vm_vfio_fn *o = &v->fn[i];

		if (!o->p || o->p->port != port || o->remove_by_ns)
			continue;
		o->remove_by_ns = now + HOTPLUG_REMOVE_TIMEOUT_S * 1000000000ull;
		o->button_ns = now;
		o->remove_why = who;
	}
	pthread_mutex_lock(&vm->pci.lock);
	pcie_root_port_attention_button(q35_root_port(vm, port));
	pthread_mutex_unlock(&vm->pci.lock);
	pr_info("vfio %s (%s): %s: pressed the attention button of root port 00:%02x.0; the guest "
		"has %d s to let go", f->p->bdf, f->id, who, port + 1, HOTPLUG_REMOVE_TIMEOUT_S);
}

int vm_vfio_remove_device(struct vm *vm, const char *id, char *why, size_t len)
{
	struct vm_vfio *v = vm->vfio;
	struct vm_vfio_fn *f = fn_by_id(v, id);

	if (!f) {
		snprintf(why, len, "no passed-through device \"%s\" (vm.info's device_tree names them)",
			 id);
		return -ENOENT;
	}
	if (!f->remove_by_ns)
		start_remove(vm, v, f, "vm.remove-device");
	return 0;
}

/* The device's AER status registers, from its config space, in one line. */
static void log_aer(struct vm_vfio_fn *f)
{
	const struct vfio_region *cfg = &f->dev.region[VFIO_PCI_CONFIG_REGION_INDEX];
	uint32_t hdr = 0, st[3] = { 0 };
	unsigned off = PCI_CFG_SPACE_SIZE, hops = 0;

	while (off && hops++ < 64 &&
	       pread(f->dev.fd, &hdr, 4, (off_t)(cfg->offset + off)) == 4 && hdr &&
	       PCI_EXT_CAP_ID(hdr) != PCI_EXT_CAP_ID_ERR)
		off = PCI_EXT_CAP_NEXT(hdr);
	if (!off || PCI_EXT_CAP_ID(hdr) != PCI_EXT_CAP_ID_ERR ||
	    pread(f->dev.fd, &st[0], 4, (off_t)(cfg->offset + off + PCI_ERR_UNCOR_STATUS)) != 4 ||
	    pread(f->dev.fd, &st[1], 4, (off_t)(cfg->offset + off + PCI_ERR_UNCOR_SEVER)) != 4 ||
	    pread(f->dev.fd, &st[2], 4, (off_t)(cfg->offset + off + PCI_ERR_COR_STATUS)) != 4) {
		pr_err("vfio %s (%s): the device reported an error (no AER capability to read)",
		       f->p->bdf, f->id);
		return;
	}
	pr_err("vfio %s (%s): the device reported an error: AER uncorrectable status %#010x "
	       "(severity %#010x), correctable status %#010x", f->p->bdf, f->id, st[0], st[1], st[2]);
}

static bool efd_fired(int efd)
{
	uint64_t n;

	return efd >= 0 && read(efd, &n, sizeof(n)) == sizeof(n) && n;
}

/* One function's events: the host's request, an error, the guest letting go, the deadline. */
static void fn_service(struct vm *vm, struct vm_vfio *v, struct vm_vfio_fn *f, uint64_t now)
{
	bool on = slot_powered(vm, f->p->port);

	if (efd_fired(f->err_efd)) {
		log_aer(f);
		if (f->p->cfg->error_log)
			log_msg(LOG_WARN, NULL, "vfio %s (%s): the guest runs on (error=log)",
				f->p->bdf, f->id);
		else
			vm_request_stop(vm, VM_STOP_ERROR, "vfio %s (%s): stopped the guest on the "
					"device's error (error=stop; error=log runs on)", f->p->bdf,
					f->id);
	}
	if (efd_fired(f->req_efd) && !f->remove_by_ns) {
		pr_info("vfio %s (%s): the host asks for the device back (it is being unbound from "
			"vfio-pci): removing it from the guest", f->p->bdf, f->id);
		start_remove(vm, v, f, "the host's request");
	}
	if (on) {
		f->powered_seen = true;
		if (!f->remove_by_ns || now < f->remove_by_ns)
			return;
		log_msg(LOG_WARN, NULL, "vfio %s (%s): the guest did not let go within %d s of the "
			"attention button: pulled out by surprise", f->p->bdf, f->id,
			HOTPLUG_REMOVE_TIMEOUT_S);
		fn_release(vm, v, f, true);
		return;
	}
	if (!f->powered_seen && !f->remove_by_ns)
		return; /* added, and the guest has not switched the slot on yet */
	if (!f->powered_seen)
		pr_info("vfio %s (%s): %s: the guest never switched its slot on; removed", f->p->bdf,
			f->id, f->remove_why);
	else if (f->remove_by_ns)
		pr_info("vfio %s (%s): the guest let go %.1f s after the attention button (%s); "
			"removed", f->p->bdf, f->id, (double)(now - f->button_ns) / 1e9,
			f->remove_why);
	else
		pr_info("vfio %s (%s): the guest switched its slot off: removed", f->p->bdf, f->id);
	fn_release(vm, v, f, false);
}

int vm_vfio_hotplug_service(struct vm *vm)
{
	struct vm_vfio *v = vm->vfio;
	uint64_t now = mono_ns(), next = 0, n;
	int efd = q35_hotplug_fd(vm);

	if (efd >= 0)
		while (read(efd, &n, sizeof(n)) == sizeof(n))
			;
	for (unsigned i = 0; v && i < v->nr; i++) {
		struct vm_vfio_fn *f = &v->fn[i];

		if (f->p)
			fn_service(vm, v, f, now);
		if (f->p && f->remove_by_ns && (!next || f->remove_by_ns < next))
			next = f->remove_by_ns;
	}
	return !next ? -1 : next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

unsigned vm_vfio_pollfds(struct vm *vm, struct pollfd *p, unsigned cap)
{
	struct vm_vfio *v = vm->vfio;
	unsigned n = 0;

	if (q35_hotplug_fd(vm) >= 0 && n < cap)
		p[n++] = (struct pollfd){ .fd = q35_hotplug_fd(vm), .events = POLLIN };
	for (unsigned i = 0; v && i < v->nr; i++) {
		const struct vm_vfio_fn *f = &v->fn[i];

		if (f->req_efd >= 0 && n < cap)
			p[n++] = (struct pollfd){ .fd = f->req_efd, .events = POLLIN };
		if (f->err_efd >= 0 && n < cap)
			p[n++] = (struct pollfd){ .fd = f->err_efd, .events = POLLIN };
	}
	return n;
}
