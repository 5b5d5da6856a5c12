/* SPDX-License-Identifier: MIT */
#ifndef CORE_PCI_ADDR_H
#define CORE_PCI_ADDR_H

/*
 * A host PCI function's address as sysfs names it ("0000:01:00.0"): what
 * `vmm run --vfio`, `vmm host` and `vmm bench vfio` take on their command
 * lines. Here, below both vmm/ and host/, so that neither includes the
 * other for it. The names keep the host_ prefix they had in vmm host's
 * model, which many lines use.
 */

#include <stdbool.h>

#define HOST_BDF_LEN 13 /* "0000:01:00.0" and the NUL */

/* Exactly "xxxx:xx:xx.x" with hex digits (either case) and function 0-7. */
bool host_is_bdf(const char *s);
/* Takes "0000:01:00.0" or "01:00.0" (domain 0), in either case; writes the lower-case full form. */
int host_parse_bdf(const char *arg, char out[HOST_BDF_LEN]);
/* Same domain, bus and device: functions of one slot (one card). */
bool host_same_slot(const char *a, const char *b);

#endif
