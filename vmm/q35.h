/* SPDX-License-Identifier: MIT */
#ifndef VMM_Q35_H
#define VMM_Q35_H

#include <stddef.h>
#include <stdint.h>

struct pcie_root_port;
struct vm;

/* q35.c: the platform a firmware boot gets, on top of vm_add_platform_devices(). */
struct q35_boot {
	/* The kernel for fw_cfg (NULL: the firmware boots from its own devices). */
	const uint8_t *kernel;
	size_t kernel_size;
	uint64_t initrd_size;
	int (*read_initrd)(void *ctx, uint64_t off, void *dst, size_t n);
	void *ctx;
};
int q35_setup(struct vm *vm, const struct q35_boot *boot) __attribute__((warn_unused_result));
void q35_free(struct vm *vm);
/*
 * Readable (an eventfd: read it to clear) when the guest switched a root
 * port's slot power: the main loop then looks which slots it let go of
 * (vm_vfio_hotplug_service()). -1 without the platform.
 */
int q35_hotplug_fd(struct vm *vm);
/* Root port i (0..VM_ROOT_PORTS - 1) of the firmware platform; NULL without one. */
struct pcie_root_port *q35_root_port(struct vm *vm, unsigned i);

#endif
