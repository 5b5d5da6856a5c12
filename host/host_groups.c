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

static void dev_json(const struct host_dev *d, FILE *out)
{
	fprintf(out, "{\"bdf\":\"%s\",\"class\":\"0x%06x\",\"class_name\":", d->bdf, d->class);
	host_json_str(out, host_class_name(d->class));
	fprintf(out, ",\"id\":\"%04x:%04x\",\"group\":%d,\"driver\":", d->vendor, d->device, d->group);
	host_json_str(out, d->driver[0] ? d->driver : NULL);
	fputs(",\"driver_override\":", out);
	host_json_str(out, d->override[0] ? d->override : NULL);
	fprintf(out, ",\"gpu\":%s,\"boot_vga\":%s,\"bridge\":%s,\"host_critical\":",
		d->class >> 16 == 0x03 ? "true" : "false", d->boot_vga ? "true" : "false",
		host_is_bridge(d) ? "true" : "false");
	host_json_str(out, d->critical[0] ? d->critical : NULL);
	fputc('}', out);
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

static void group_json(const struct host *h, int g, FILE *out)
{
	char why[256];
	enum host_verdict v = host_group_verdict(h, g, why, sizeof(why));
	bool first = true;

	fprintf(out, "{\"group\":%d,\"verdict\":\"%s\",\"reason\":", g, host_verdict_name(v));
	host_json_str(out, why);
	fputs(",\"devices\":[", out);
	for (size_t i = 0; i < h->n; i++) {
		if (h->devs[i].group != g)
			continue;
		fputs(first ? "" : ",", out);
		dev_json(&h->devs[i], out);
		first = false;
	}
	fputs("]}", out);
}

int host_cmd_groups(const struct host *h, bool json, FILE *out)
{
	int *groups = calloc(h->n ? h->n : 1, sizeof(*groups));

	if (!groups)
		return 1;
	size_t n = list_groups(h, groups);

	if (json)
		fprintf(out, "{\"iommu\":%s,\"groups\":[", h->have_groups ? "true" : "false");
	for (size_t i = 0; i < n; i++) {
		if (json) {
			fputs(i ? "," : "", out);
			group_json(h, groups[i], out);
		} else {
			group_text(h, groups[i], out);
		}
	}
	if (json)
		fputs("]}\n", out);
	else if (!h->have_groups)
		fputs("No IOMMU groups: the IOMMU is off, nothing can be passed through "
		      "(vmm host check says how to turn it on).\n", out);
	free(groups);
	return h->have_groups ? 0 : 1;
}
