// SPDX-License-Identifier: MIT
/*
 * `vmm host show BDF`: what matters about one card before passing it: all
 * its functions, how it can be reset, its link, where it sits (NUMA), its
 * BARs and ROM, and whether an identical card sits elsewhere (then an ID
 * rule such as vfio-pci.ids= would catch both).
 */
#include "host.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define ROM_INDEX HOST_ROM_RESOURCE

struct bar {
	uint64_t size;
	unsigned long flags;
	bool resizable;
	unsigned long sizes; /* resourceN_resize: bit n means 2^n MiB */
};

/* Without a resource file, no BARs: show says "none" rather than failing. */
static void read_bars(const struct host *h, const char *bdf, struct bar bars[ROM_INDEX + 1])
{
	struct host_resource res[HOST_NR_RESOURCES];

	memset(bars, 0, sizeof(*bars) * (ROM_INDEX + 1));
	(void)host_read_resources(h, bdf, res);
	for (int i = 0; i <= ROM_INDEX; i++) {
		bars[i].size = res[i].size;
		bars[i].flags = res[i].flags;
	}
	for (int i = 0; i < ROM_INDEX; i++) {
		char buf[64];

		if (host_read(h, buf, sizeof(buf), "sys/bus/pci/devices/%s/resource%d_resize", bdf, i) > 0) {
			bars[i].resizable = true;
			bars[i].sizes = strtoul(buf, NULL, 16);
		}
	}
}

/* reset_method lists what the kernel can do (5.15+); without it, older kernels only have "reset". */
static void read_reset(const struct host *h, const char *bdf, char *buf, size_t len)
{
	if (host_read(h, buf, len, "sys/bus/pci/devices/%s/reset_method", bdf) >= 0)
		return;
	snprintf(buf, len, "%s", host_exists(h, "sys/bus/pci/devices/%s/reset", bdf) ?
		 "unknown (this kernel has no reset_method file, but can reset it)" : "");
}

struct link { char speed[32], width[8], max_speed[32], max_width[8]; };

static void read_link(const struct host *h, const char *bdf, struct link *l)
{
	static const char *const attr[] = { "current_link_speed", "current_link_width",
					     "max_link_speed", "max_link_width" };
	char *dst[] = { l->speed, l->width, l->max_speed, l->max_width };
	size_t len[] = { sizeof(l->speed), sizeof(l->width), sizeof(l->max_speed),
			 sizeof(l->max_width) };

	for (int i = 0; i < 4; i++) {
		if (host_read(h, dst[i], len[i], "sys/bus/pci/devices/%s/%s", bdf, attr[i]) < 0)
			dst[i][0] = '\0';
	}
}

static void show_functions(const struct host *h, const struct host_dev *d, FILE *out)
{
	fputs("functions of the card:\n", out);
	for (size_t i = 0; i < h->n; i++) {
		const struct host_dev *f = &h->devs[i];

		if (host_same_slot(f->bdf, d->bdf))
			fprintf(out, "  %s  %04x:%04x  %-22s group %-4d %s\n", f->bdf, f->vendor,
				f->device, host_class_name(f->class), f->group,
				f->driver[0] ? f->driver : "(no driver)");
	}
}

static json_t *functions_json(const struct host *h, const struct host_dev *d)
{
	json_t *list = json_array();
	char id[16];

	for (size_t i = 0; i < h->n; i++) {
		const struct host_dev *f = &h->devs[i];

		if (!host_same_slot(f->bdf, d->bdf))
			continue;
		snprintf(id, sizeof(id), "%04x:%04x", f->vendor, f->device);
		host_json_push(&list, json_pack("{s:s, s:s, s:s, s:i, s:o}", "bdf", f->bdf, "id", id,
						"class_name", host_class_name(f->class),
						"group", f->group,
						"driver", host_json_text(f->driver[0] ? f->driver : NULL)));
	}
	return list;
}

static bool identical(const struct host_dev *o, const struct host_dev *d)
{
	return o != d && o->vendor == d->vendor && o->device == d->device;
}

static void show_identical(const struct host *h, const struct host_dev *d, FILE *out)
{
	bool none = true;

	fputs("identical devices elsewhere:", out);
	for (size_t i = 0; i < h->n; i++) {
		if (identical(&h->devs[i], d)) {
			fprintf(out, " %s", h->devs[i].bdf);
			none = false;
		}
	}
	fputs(none ? " none\n" : " (an ID rule such as vfio-pci.ids= would catch them too; "
	      "vmm host bind does not)\n", out);
}

static json_t *identical_json(const struct host *h, const struct host_dev *d)
{
	json_t *list = json_array();

	for (size_t i = 0; i < h->n; i++) {
		if (identical(&h->devs[i], d))
			host_json_push(&list, json_string(h->devs[i].bdf));
	}
	return list;
}

static void bar_text(int i, const struct bar *b, FILE *out)
{
	char size[32];

	log_fmt_size(size, sizeof(size), b->size);
	if (i == ROM_INDEX) {
		fprintf(out, "  ROM   %s\n", size);
		return;
	}
	fprintf(out, "  BAR%d  %s, %s%s%s", i, size, b->flags & RES_IO ? "I/O" : "memory",
		b->flags & RES_MEM_64 ? ", 64-bit" : b->flags & RES_MEM ? ", 32-bit" : "",
		b->flags & RES_PREFETCH ? ", prefetchable" : "");
	if (b->resizable)
		fprintf(out, ", resizable (sizes 0x%lx: bit n = 2^n MiB)", b->sizes);
	fputc('\n', out);
}

static json_t *bar_json(int i, const struct bar *b)
{
	char sizes[32];
	json_t *j = json_pack("{s:i, s:b, s:I, s:b, s:b, s:b, s:b}", "index", i,
			      "rom", i == ROM_INDEX, "size", (json_int_t)b->size,
			      "io", !!(b->flags & RES_IO), "64bit", !!(b->flags & RES_MEM_64),
			      "prefetchable", !!(b->flags & RES_PREFETCH), "resizable", b->resizable);

	snprintf(sizes, sizeof(sizes), "0x%lx", b->sizes);
	if (j && b->resizable && json_object_set_new(j, "resize_sizes", json_string(sizes))) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

static void show_bars(const struct host *h, const struct host_dev *d, FILE *out)
{
	struct bar bars[ROM_INDEX + 1];
	bool none = true;

	read_bars(h, d->bdf, bars);
	fputs("BARs:\n", out);
	for (int i = 0; i <= ROM_INDEX; i++) {
		if (bars[i].size) {
			bar_text(i, &bars[i], out);
			none = false;
		}
	}
	fputs(none ? "  none\n" : "", out);
}

static json_t *bars_json(const struct host *h, const struct host_dev *d)
{
	struct bar bars[ROM_INDEX + 1];
	json_t *list = json_array();

	read_bars(h, d->bdf, bars);
	for (int i = 0; i <= ROM_INDEX; i++) {
		if (bars[i].size)
			host_json_push(&list, bar_json(i, &bars[i]));
	}
	return list;
}

/* What show says beyond the model: read once for either form. */
struct card {
	char reset[128], cpus[256], why[256];
	long long numa;          /* -1: none (the kernel's -1, or no numa_node file) */
	struct link l;
	enum host_verdict v;
};

/* 0, or -EINVAL for a NUMA node that is not a number (said, naming the file). */
static int read_card(const struct host *h, const struct host_dev *d, struct card *c)
{
	int ret;

	memset(c, 0, sizeof(*c));
	c->v = host_group_verdict(h, d->group, c->why, sizeof(c->why));
	read_reset(h, d->bdf, c->reset, sizeof(c->reset));
	read_link(h, d->bdf, &c->l);
	if (host_read(h, c->cpus, sizeof(c->cpus), "sys/bus/pci/devices/%s/local_cpulist", d->bdf) < 0)
		c->cpus[0] = '\0';
	ret = host_read_number(h, &c->numa, 10, "sys/bus/pci/devices/%s/numa_node", d->bdf);
	if (ret == -ENOENT)
		c->numa = -1;
	else if (ret)
		return ret;
	if (c->numa < -1 || c->numa > INT_MAX) {
		pr_err("%s/sys/bus/pci/devices/%s/numa_node: %lld is not a NUMA node", h->root, d->bdf,
		       c->numa);
		return -EINVAL;
	}
	return 0;
}

static int show_text(const struct host *h, const struct host_dev *d, FILE *out)
{
	struct card c;
	const struct link *l = &c.l;
	char numa[24] = "unknown";

	if (read_card(h, d, &c))
		return -EINVAL;
	if (c.numa >= 0)
		snprintf(numa, sizeof(numa), "%lld", c.numa);
	fprintf(out, "%s  %04x:%04x  %s, driver %s\n", d->bdf, d->vendor, d->device,
		host_class_name(d->class), d->driver[0] ? d->driver : "(none)");
	if (d->group < 0)
		fprintf(out, "%s: %s\n", host_verdict_name(c.v), c.why);
	else
		fprintf(out, "IOMMU group %d: %s: %s\n", d->group, host_verdict_name(c.v), c.why);
	show_functions(h, d, out);
	if (c.reset[0])
		fprintf(out, "reset methods: %s\n", c.reset);
	else
		fputs("reset methods: none (warning: the card keeps its state from one guest to the "
		      "next; see docs/passthrough.md)\n", out);
	if (l->speed[0])
		fprintf(out, "link: %s x%s (maximum %s x%s)%s\n", l->speed, l->width, l->max_speed,
			l->max_width, strcmp(l->speed, l->max_speed) || strcmp(l->width, l->max_width) ?
			" below its maximum" : "");
	fprintf(out, "NUMA node: %s, local CPUs: %s\n", numa, c.cpus[0] ? c.cpus : "unknown");
	show_bars(h, d, out);
	show_identical(h, d, out);
	return 0;
}

static int show_json(const struct host *h, const struct host_dev *d, FILE *out)
{
	struct card c;
	char id[16];

	if (read_card(h, d, &c))
		return -EINVAL;
	snprintf(id, sizeof(id), "%04x:%04x", d->vendor, d->device);
	return host_json_print(out, json_pack(
		"{s:s, s:s, s:i, s:s, s:o, s:o, s:o, s:{s:o, s:o, s:o, s:o}, s:i, s:o, s:o, s:o, s:o}",
		"bdf", d->bdf, "id", id, "group", d->group, "verdict", host_verdict_name(c.v),
		"reason", host_json_text(c.why),
		"driver", host_json_text(d->driver[0] ? d->driver : NULL),
		"reset_methods", host_json_text(c.reset),
		"link", "speed", host_json_text(c.l.speed), "width", host_json_text(c.l.width),
		"max_speed", host_json_text(c.l.max_speed), "max_width", host_json_text(c.l.max_width),
		"numa_node", (int)c.numa, "local_cpus", host_json_text(c.cpus),
		"functions", functions_json(h, d), "bars", bars_json(h, d),
		"identical", identical_json(h, d)));
}

int host_cmd_show(const struct host *h, const char *bdf, bool json, FILE *out)
{
	const struct host_dev *d = host_find(h, bdf);

	if (!d)
		return -ENODEV;
	return json ? show_json(h, d, out) : show_text(h, d, out);
}
