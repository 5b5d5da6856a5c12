/* SPDX-License-Identifier: MIT */
#ifndef VMM_API_VM_H
#define VMM_API_VM_H

/*
 * What the API's requests do to the VM (api_vm.c): Cloud Hypervisor's
 * endpoint names and body shapes, for the subset docs/api.md lists. The
 * handler runs on the main thread, from its poll loop (api/api.h), so it
 * acts on the machine directly; what needs the run loop (a shutdown, a
 * boot, the vmm's exit) it records in the context for run.c to do.
 */

#include <stdbool.h>
#include <stddef.h>

struct vm;
struct vm_config;
struct vm_config_args;
struct http_request;
struct api_reply;

enum vm_api_state {
	VM_API_RUNNING,
	VM_API_PAUSED,
	VM_API_SHUTDOWN,   /* no machine: vm.shutdown stopped it; vm.boot makes it again */
	VM_API_NONE,       /* no VM: `vmm run --api-socket` alone waits for vm.create */
	VM_API_CREATED,    /* vm.create gave its config; vm.boot starts it */
};

struct vm_api_ctx {
	const struct vm_config *cfg;  /* NULL in state NONE */
	/* vm.create's config, and the strings it points into. */
	struct vm_config *created;
	struct vm_config_args *created_args;
	/*
	 * vm.boot of a created VM: checks and opens what the config names
	 * (files, devices) before the reply, so a bad one is the client's 4xx,
	 * not a vmm that ends; 0, or -errno with the reason logged.
	 */
	int (*prepare)(void *opaque, const struct vm_config *cfg);
	void *prepare_opaque;
	/*
	 * The running machine's device_tree (vm.info) and counters
	 * (vm.counters), as JSON objects; NULL (a test): empty objects.
	 */
	struct json_t *(*device_tree)(struct vm *vm);
	struct json_t *(*counters)(struct vm *vm);
	/* vm.vmm-reset-device: vm_vfio_reset_device(); NULL (a test): 501. */
	int (*reset_device)(struct vm *vm, const char *id, const char *how, double *ms,
			    char *why, size_t len);
	/*
	 * vm.add-device and vm.remove-device: vm_vfio_add_device(),
	 * vm_vfio_remove_device(); NULL: 501. add_device is given either a
	 * path (cdev_fd -1) or, path NULL, a VFIO device cdev fd that the
	 * client passed; it owns that fd from the call on, whatever it returns.
	 */
	int (*add_device)(struct vm *vm, const char *path, int cdev_fd, const char *id,
			  char *id_out, char *bdf_out, size_t out_len, char *why, size_t len);
	int (*remove_device)(struct vm *vm, const char *id, char *why, size_t len);
	struct vm *vm;          /* the machine; only while state is not SHUTDOWN */
	enum vm_api_state state;
	bool shutdown;          /* vm.shutdown: stop the machine, keep the vmm */
	bool reboot;            /* vm.reboot: a reset that boots again even with --no-reboot */
	bool boot;              /* vm.boot while shut down */
	bool exit;              /* vmm.shutdown: the vmm ends */
};

/* api_handler_fn for api_serve(): opaque is a struct vm_api_ctx. */
void vm_api_handle(void *opaque, const struct http_request *req, struct api_reply *reply);
/* Frees what vm.create kept (ctx->created, its strings). */
void vm_api_release(struct vm_api_ctx *ctx);

#endif
