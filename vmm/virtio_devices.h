/* SPDX-License-Identifier: MIT */
#ifndef VMM_VIRTIO_DEVICES_H
#define VMM_VIRTIO_DEVICES_H

#include <stdio.h>

struct vm;
struct vm_config;
struct virtio_net_tap;

/* virtio_devices.c: --disk and --net, as virtio-pci functions on bus 0. */
int vm_add_virtio_devices(struct vm *vm) __attribute__((warn_unused_result));
/* What vm_add_virtio_devices() would refuse about the --disk images, before any VM exists. */
int vm_virtio_preflight(const struct vm_config *cfg) __attribute__((warn_unused_result));
/*
 * Opens each --net TAP into taps[i] (VM_MAX_NICS entries), once before
 * the first machine; the caller closes them (virtio_net_tap_close) after
 * the last. On failure says which and closes what it opened.
 */
int vm_virtio_open_taps(const struct vm_config *cfg, struct virtio_net_tap **taps)
	__attribute__((warn_unused_result));
/*
 * vm.pause and vm.resume for the virtio devices: their workers go idle
 * (nothing in flight, guest memory and rings left alone, no interrupt) and
 * wait, or go on. 0, or -ETIMEDOUT when one was still busy after
 * timeout_ms: said in one line naming it, and every device runs on.
 */
int vm_virtio_quiesce(struct vm *vm, unsigned timeout_ms) __attribute__((warn_unused_result));
void vm_virtio_resume(struct vm *vm);
void vm_virtio_free(struct vm *vm);
/*
 * vm.info's device_tree for the virtio functions: "disk0", ..., "net0", ...
 * with each one's guest BDF, kind and backend (the image, the TAP), and
 * its BAR's guest address and size. Main thread.
 */
struct json_t;
struct json_t *vm_virtio_device_tree(struct vm *vm);
/* SIGUSR2: every virtio function's state, to f. */
void vm_virtio_dump(struct vm *vm, FILE *f);

#endif
