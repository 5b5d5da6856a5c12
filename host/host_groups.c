// SPDX-License-Identifier: MIT
/*
 * IOMMU groups and what may be passed through: `vmm host groups` and
 * `vmm host show`. VFIO hands a guest whole groups: every endpoint of a
 * group goes to vfio-pci (or stays driverless) or none can be used, while
 * bridges may stay with the host (the kernel lets a group with a bridge on
 * pcieport be used). So a group is safe with one endpoint, safe "together"
 * with several, and unsafe when the host needs one of them.
 */
#include "host.h"

#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

const char *host_verdict_name(enum host_verdict v)
{
	return v == HOST_SAFE ? "safe" : v == HOST_TOGETHER ? "together" : "unsafe";
}

static bool is_chipset(const struct host_dev *d)
{
	unsigned sub = d->class >> 8;

	return sub == 0x0600 || sub == 0x0601;
}

/* The first member that makes the group unsafe, with the reason. */
static bool unsafe_member(const struct host_dev *d, char *why, size_t len)
{
	if (d->critical[0])
		snprintf(why, len, "%s (%s) %s", d->bdf, host_class_name(d->class), d->critical);
	else if (d->boot_vga)
		snprintf(why, len, "%s is the boot VGA device: the host's console is on it", d->bdf);
	else if (is_chipset(d))
		snprintf(why, len, "%s (%s) is part of the host's chipset", d->bdf,
			 host_class_name(d->class));
	else
		return false;
	return true;
}

enum host_verdict host_group_verdict(const struct host *h, int group, char *why, size_t len)
{
	const struct host_dev *first = NULL;
	unsigned endpoints = 0, bridges = 0;
	bool one_slot = true;

	if (group < 0) {
		snprintf(why, len, "no IOMMU group: the IOMMU is off");
		return HOST_UNSAFE;
	}
	for (size_t i = 0; i < h->n; i++) {
		const struct host_dev *d = &h->devs[i];

		if (d->group != group)
			continue;
		if (unsafe_member(d, why, len))
			return HOST_UNSAFE;
		if (host_is_bridge(d)) {
			bridges++;
			continue;
		}
		if (first && !host_same_slot(first->bdf, d->bdf))
			one_slot = false;
		first = first ? first : d;
		endpoints++;
	}
	if (!endpoints) {
		snprintf(why, len, "only bridges: nothing to pass");
		return HOST_UNSAFE;
	}
	if (endpoints == 1) {
		snprintf(why, len, bridges ? "one device; the bridge(s) in the group stay with the host"
					   : "one device alone in its group");
		return HOST_SAFE;
	}
	if (one_slot)
		snprintf(why, len, "%u functions of one card: pass all of them (--all-functions)",
			 endpoints);
	else
		snprintf(why, len, "%u devices of different slots are not isolated from each other: "
			 "all of them go to the guest together", endpoints);
	return HOST_TOGETHER;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Distinct group numbers, ascending; -1 (no group) first if any device has none. */
static size_t list_groups(const struct host *h, int *groups)
{
	size_t n = 0;

	for (size_t i = 0; i < h->n; i++) {
		size_t j = 0;

		while (j < n && groups[j] != h->devs[i].group)
			j++;
		if (j == n)
			groups[n++] = h->devs[i].group;
	}
	qsort(groups, n, sizeof(*groups), cmp_int);
	return n;
}

static void dev_marks_text(const struct host_dev *d, FILE *out)
{
	if (d->class >> 16 == 0x03)
		fputs(" [GPU]", out);
	if (d->boot_vga)
		fputs(" [boot VGA]", out);
	if (d->critical[0])
		fprintf(out, " [host: %s]", d->critical);
}

static json_t *dev_json(const struct host_dev *d)
{
	char class[16], id[16];

	snprintf(class, sizeof(class), "0x%06x", d->class);
	snprintf(id, sizeof(id), "%04x:%04x", d->vendor, d->device);
	return json_pack("{s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:b, s:b, s:b, s:o}",
			 "bdf", d->bdf, "class", class, "class_name", host_class_name(d->class),
			 "id", id, "group", d->group,
			 "driver", host_json_text(d->driver[0] ? d->driver : NULL),
			 "driver_override", host_json_text(d->override[0] ? d->override : NULL),
			 "gpu", d->class >> 16 == 0x03, "boot_vga", d->boot_vga,
			 "bridge", host_is_bridge(d),
			 "host_critical", host_json_text(d->critical[0] ? d->critical : NULL));
}

static void group_text(const struct host *h, int g, FILE *out)
{
	char why[256];
	enum host_verdict v = host_group_verdict(h, g, why, sizeof(why));
	static const char *const says[] = { "safe to pass", "safe if all its functions go together",
					     "unsafe" };

	if (g < 0)
		fprintf(out, "no IOMMU group: %s\n", says[v]);
	else
		fprintf(out, "IOMMU group %d: %s: %s\n", g, says[v], why);
	for (size_t i = 0; i < h->n; i++) {
		const struct host_dev *d = &h->devs[i];

		if (d->group != g)
			continue;
		fprintf(out, "  %s  %04x:%04x  %-22s %-16s", d->bdf, d->vendor, d->device,
			host_class_name(d->class), d->driver[0] ? d->driver : "(no driver)");
		dev_marks_text(d, out);
		fputc('\n', out);
	}
}

static json_t *group_json(const struct host *h, int g)
{
	char why[256];
	enum host_verdict v = host_group_verdict(h, g, why, sizeof(why));
	json_t *devs = json_array();

	for (size_t i = 0; i < h->n; i++) {
		if (h->devs[i].group == g)
			host_json_push(&devs, dev_json(&h->devs[i]));
	}
	return json_pack("{s:i, s:s, s:o, s:o}", "group", g, "verdict", host_verdict_name(v),
			 "reason", host_json_text(why), "devices", devs);
}

static int groups_json(const struct host *h, const int *groups, size_t n, FILE *out)
{
	json_t *list = json_array();

	for (size_t i = 0; i < n; i++)
		host_json_push(&list, group_json(h, groups[i]));
	return host_json_print(out, json_pack("{s:b, s:o}", "iommu", h->have_groups,
					      "groups", list));
}

int host_cmd_groups(const struct host *h, bool json, FILE *out)
{
	int *groups = calloc(h->n ? h->n : 1, sizeof(*groups)), ret = 0;

	if (!groups)
		return 1;
	size_t n = list_groups(h, groups);

	if (json) {
		ret = groups_json(h, groups, n, out);
	} else {
		for (size_t i = 0; i < n; i++)
			group_text(h, groups[i], out);
		if (!h->have_groups)
			fputs("No IOMMU groups: the IOMMU is off, nothing can be passed through "
			      "(vmm host check says how to turn it on).\n", out);
	}
	free(groups);
	return h->have_groups && !ret ? 0 : 1;
}
