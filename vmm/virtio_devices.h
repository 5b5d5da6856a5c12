/* SPDX-License-Identifier: MIT */
#ifndef VMM_VIRTIO_DEVICES_H
#define VMM_VIRTIO_DEVICES_H

#include <stdio.h>

struct vm;
struct vm_config;

/* virtio_devices.c: --disk and --net, as virtio-pci functions on bus 0. */
int vm_add_virtio_devices(struct vm *vm) __attribute__((warn_unused_result));
/* What vm_add_virtio_devices() would refuse about the --disk images, before any VM exists. */
int vm_virtio_preflight(const struct vm_config *cfg) __attribute__((warn_unused_result));
void vm_virtio_free(struct vm *vm);
/* SIGUSR2: every virtio function's state, to f. */
void vm_virtio_dump(struct vm *vm, FILE *f);

#endif
