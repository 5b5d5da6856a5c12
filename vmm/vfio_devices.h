/* SPDX-License-Identifier: MIT */
#ifndef VMM_VFIO_DEVICES_H
#define VMM_VFIO_DEVICES_H

#include <stddef.h>

struct ovmf_bar64;
struct vm;
struct vm_config;

/* vfio_devices.c: --vfio, behind the Q35 root ports; needs the firmware platform. */
int vm_add_vfio_devices(struct vm *vm) __attribute__((warn_unused_result));
/* What can be said before anything is made: each function exists, its group is viable, memlock. */
int vm_vfio_preflight(const struct vm_config *cfg) __attribute__((warn_unused_result));
/*
 * The 64-bit prefetchable BARs of the --vfio functions (from the host's
 * sysfs), each with the root port its slot will sit behind, as OVMF will
 * have to place them; at most cap. largest gets "BDF BARn" of the biggest.
 */
unsigned vm_vfio_bars64(const struct vm_config *cfg, struct ovmf_bar64 *out, unsigned cap,
			char *largest, size_t len);
/*
 * sysfs reset_method of PCI function bdf: the methods the kernel offers,
 * space-separated, into buf (0, or -errno); and writing a list there
 * (root), which the kernel's next reset of the function then follows.
 */
int vfio_reset_methods_read(const char *bdf, char *buf, size_t len);
int vfio_reset_methods_write(const char *bdf, const char *methods);
void vm_vfio_free(struct vm *vm);

#endif
