// SPDX-License-Identifier: MIT
/*
 * The API's endpoints (api_vm.h). Names, methods and bodies are Cloud
 * Hypervisor's (its OpenAPI description), so that a client written for it
 * works unchanged on the subset answered here; the status codes for a VM
 * in the wrong state are its too: 405 when the state forbids, 404 for a
 * VM that is not there. Our own additions to a body start with "vmm_".
 */
#include "api_vm.h"
#include "cli.h"
#include "config_json.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../api/api.h"
#include "../api/http.h"
#include "../core/log.h"
#include "../devices/devices.h"
#include "vm.h"

#define API_PREFIX "/api/v1/"

static void reply_json(struct api_reply *reply, json_t *o)
{
	reply->status = 200;
	reply->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (!reply->body)
		api_reply_error(reply, 500, "out of memory");
	json_decref(o);
}

static const char *state_name(enum vm_api_state s)
{
	static const char *const names[] = {
		[VM_API_RUNNING] = "Running", [VM_API_PAUSED] = "Paused",
		[VM_API_SHUTDOWN] = "Shutdown", [VM_API_NONE] = "not created",
		[VM_API_CREATED] = "Created",
	};

	return names[s];
}

static bool running(const struct vm_api_ctx *ctx)
{
	return ctx->state == VM_API_RUNNING || ctx->state == VM_API_PAUSED;
}

/* vm.counters: per device, as Cloud Hypervisor's VmCounters (name -> integer). */
static void vm_counters(struct vm_api_ctx *ctx, struct api_reply *reply)
{
	if (!running(ctx)) {
		api_reply_error(reply, 405, "vm.counters: the VM is %s", state_name(ctx->state));
		return;
	}
	reply_json(reply, ctx->counters ? ctx->counters(ctx->vm) : json_object());
}

static void vm_info(struct vm_api_ctx *ctx, struct api_reply *reply)
{
	json_t *o, *tids;

	if (ctx->state == VM_API_NONE) {
		api_reply_error(reply, 404, "vm.info: no VM yet (vm.create makes one)");
		return;
	}
	o = json_object();
	tids = json_array();

	json_object_set_new(o, "config", vm_config_json(ctx->cfg));
	json_object_set_new(o, "state", json_string(state_name(ctx->state)));
	json_object_set_new(o, "memory_actual_size", json_integer((json_int_t)ctx->cfg->mem.size));
	/* The vCPU threads' IDs, in vCPU order: what a supervisor pins (taskset -p). */
	for (unsigned i = 0; ctx->vm && (ctx->state == VM_API_RUNNING || ctx->state == VM_API_PAUSED) &&
			     i < ctx->vm->nr_vcpus; i++)
		json_array_append_new(tids, json_integer(atomic_load(&ctx->vm->vcpus[i].tid)));
	json_object_set_new(o, "vmm_vcpu_threads", tids);
	json_object_set_new(o, "device_tree", ctx->device_tree && ctx->vm && running(ctx) ?
			    ctx->device_tree(ctx->vm) : json_object());
	reply_json(reply, o);
}

static void vmm_ping(struct api_reply *reply)
{
	reply_json(reply, json_pack("{ss ss sI s[]}", "build_version", VMM_VERSION, "version",
				    VMM_VERSION, "pid", (json_int_t)getpid(), "features"));
}

/* 405 unless the VM is in one of the states allowed (a bit per enum vm_api_state). */
static bool state_ok(struct vm_api_ctx *ctx, unsigned allowed, const char *what,
		     struct api_reply *reply)
{
	if (allowed & (1u << ctx->state))
		return true;
	api_reply_error(reply, 405, "%s: the VM is %s", what, state_name(ctx->state));
	return false;
}

#define RUNNING (1u << VM_API_RUNNING)
#define PAUSED (1u << VM_API_PAUSED)
#define SHUTDOWN (1u << VM_API_SHUTDOWN)
#define NONE (1u << VM_API_NONE)
#define CREATED (1u << VM_API_CREATED)

void vm_api_release(struct vm_api_ctx *ctx)
{
	if (ctx->created_args)
		vm_config_args_free(ctx->created_args);
	free(ctx->created_args);
	free(ctx->created);
	ctx->created = NULL;
	ctx->created_args = NULL;
}

/* vm.create: the VM from a VmConfig, kept until vm.boot starts it. */
static void vm_create_req(struct vm_api_ctx *ctx, const struct http_request *req,
			  struct api_reply *reply)
{
	char why[512];

	if (!state_ok(ctx, NONE, "vm.create", reply))
		return;
	ctx->created = calloc(1, sizeof(*ctx->created));
	ctx->created_args = calloc(1, sizeof(*ctx->created_args));
	if (!ctx->created || !ctx->created_args) {
		vm_api_release(ctx);
		api_reply_error(reply, 500, "vm.create: out of memory");
		return;
	}
	if (!req->body_len) {
		vm_api_release(ctx);
		api_reply_error(reply, 400, "vm.create: the body must be a VmConfig");
		return;
	}
	if (cli_parse_vm_config(req->body, req->body_len, ctx->created, ctx->created_args, why,
				sizeof(why))) {
		vm_api_release(ctx);
		api_reply_error(reply, 400, "vm.create: %s", why);
		return;
	}
	ctx->cfg = ctx->created;
	ctx->state = VM_API_CREATED;
	pr_info("api: vm.create: a VM with %u vCPUs; vm.boot starts it", ctx->cfg->cpus);
	reply->status = 204;
}

static void vm_boot_req(struct vm_api_ctx *ctx, struct api_reply *reply)
{
	if (!state_ok(ctx, SHUTDOWN | CREATED, "vm.boot", reply))
		return;
	if (ctx->state == VM_API_CREATED && ctx->prepare) {
		log_clear_last_error();
		if (ctx->prepare(ctx->prepare_opaque, ctx->cfg)) {
			api_reply_error(reply, 400, "vm.boot: %s", *log_last_error() ?
					log_last_error() : "the VM cannot start (see the vmm's log)");
			return;
		}
	}
	ctx->boot = true;
	reply->status = 204;
}

static void vm_pause_req(struct vm_api_ctx *ctx, struct api_reply *reply)
{
	if (!state_ok(ctx, RUNNING, "vm.pause", reply))
		return;
	if (vm_pause(ctx->vm)) {
		api_reply_error(reply, 500, "vm.pause: a vCPU or a virtio device did not stop within 5 s "
			"(the log says which); the VM runs on");
		return;
	}
	ctx->state = VM_API_PAUSED;
	pr_info("api: vm.pause: the vCPUs are stopped and the virtio devices quiesced");
	reply->status = 204;
}

static void vm_resume_req(struct vm_api_ctx *ctx, struct api_reply *reply)
{
	if (!state_ok(ctx, PAUSED, "vm.resume", reply))
		return;
	vm_resume(ctx->vm);
	ctx->state = VM_API_RUNNING;
	pr_info("api: vm.resume: the virtio devices and the vCPUs run again");
	reply->status = 204;
}

static void vm_stop_req(struct vm_api_ctx *ctx, const char *what, bool reboot,
			struct api_reply *reply)
{
	if (!state_ok(ctx, RUNNING | PAUSED, what, reply))
		return;
	if (reboot)
		ctx->reboot = true;
	else
		ctx->shutdown = true;
	vm_request_stop(ctx->vm, reboot ? VM_STOP_RESET : VM_STOP_SIGNAL, "%s through the API",
			what);
	reply->status = 204;
}

/*
 * vm.vmm-reset-device (ours): {"id": "vfio0", "method": "auto|flr|pm|bus"}
 * resets that passed-through function now; the answer says how long it took.
 */
static void vm_reset_device(struct vm_api_ctx *ctx, const struct http_request *req,
			    struct api_reply *reply)
{
	const char *id = NULL, *how = "auto";
	char why[256];
	json_error_t err;
	json_t *body;
	double ms;
	int ret;

	if (!state_ok(ctx, RUNNING | PAUSED, "vm.vmm-reset-device", reply))
		return;
	if (!ctx->reset_device) {
		api_reply_error(reply, 501, "vm.vmm-reset-device: not in this build");
		return;
	}
	body = json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, &err);
	if (!json_is_object(body) || json_unpack_ex(body, &err, JSON_STRICT, "{s:s, s?:s}", "id",
						     &id, "method", &how)) {
		api_reply_error(reply, 400, "vm.vmm-reset-device: the body must be {\"id\": "
				"\"vfio0\", \"method\": \"auto|flr|pm|bus\"}: %s", err.text);
		json_decref(body);
		return;
	}
	ret = ctx->reset_device(ctx->vm, id, how, &ms, why, sizeof(why));
	if (ret) {
		api_reply_error(reply, ret == -ENOENT ? 404 : ret == -EINVAL || ret == -EOPNOTSUPP ?
				400 : 500, "vm.vmm-reset-device: %s", why);
	} else {
		pr_info("api: vm.vmm-reset-device: %s reset (%s) in %.1f ms", id, how, ms);
		reply_json(reply, json_pack("{ss ss sI}", "id", id, "method", how, "us",
					    (json_int_t)(ms * 1000)));
	}
	json_decref(body);
}

/* A body that must be a JSON object; 400 naming the endpoint otherwise. NULL then. */
static json_t *body_object(const struct http_request *req, const char *ep, const char *shape,
			   struct api_reply *reply)
{
	json_error_t err;
	json_t *body = json_loadb(req->body ? req->body : "", req->body_len,
				  JSON_REJECT_DUPLICATES, &err);

	if (json_is_object(body))
		return body;
	api_reply_error(reply, 400, "%s: the body must be %s: %s", ep, shape,
			body ? "not an object" : err.text);
	json_decref(body);
	return NULL;
}

/*
 * DeviceConfig's fields we cannot honour are refused by name: a virtual
 * IOMMU, PCI segments other than 0, a chosen slot, NVIDIA's GPUDirect
 * clique, BARs kept from mmap (--vfio's mmap=off is all or nothing).
 */
static bool device_config_ok(json_t *body, const char **path, const char **id,
			     struct api_reply *reply)
{
	json_t *iommu = NULL, *segment = NULL, *extra;
	const char *key;
	json_error_t err;

	if (json_unpack_ex(body, &err, 0, "{s?s s?s s?o s?o}", "path", path, "id", id, "iommu",
			   &iommu, "pci_segment", &segment)) {
		api_reply_error(reply, 400, "vm.add-device: %s", err.text);
		return false;
	}
	json_object_foreach(body, key, extra) {
		if (!strcmp(key, "path") || !strcmp(key, "id") || !strcmp(key, "iommu") ||
		    !strcmp(key, "pci_segment"))
			continue;
		if (!strcmp(key, "pci_device_id") || !strcmp(key, "x_nv_gpudirect_clique") ||
		    !strcmp(key, "x_exclude_mmap_bars"))
			api_reply_error(reply, 400, "vm.add-device: %s: not supported by this vmm (the "
					"device takes the first free root port, its BARs mmapped)", key);
		else
			api_reply_error(reply, 400, "vm.add-device: %s: no such field in a DeviceConfig",
					key);
		return false;
	}
	if (iommu && !json_is_false(iommu)) {
		api_reply_error(reply, 400, "vm.add-device: iommu: this vmm has no virtual IOMMU "
				"(only false)");
		return false;
	}
	if (segment && !(json_is_integer(segment) && json_integer_value(segment) == 0)) {
		api_reply_error(reply, 400, "vm.add-device: pci_segment: this vmm has segment 0 only");
		return false;
	}
	return true;
}

/*
 * Exactly one of path and a passed cdev fd (DeviceConfig.path in Cloud
 * Hypervisor's API): which one, in *fd (-1: the path); 400 otherwise.
 */
static bool device_source_ok(const struct http_request *req, const char *path, int *fd,
			     struct api_reply *reply)
{
	*fd = -1;
	if (req->nr_fds > 1) {
		api_reply_error(reply, 400, "vm.add-device: %u file descriptors came with the "
				"request; a device takes one (its VFIO cdev)", req->nr_fds);
		return false;
	}
	if (path && req->nr_fds) {
		api_reply_error(reply, 400, "vm.add-device: both path and a file descriptor came: "
				"give the device by one of them");
		return false;
	}
	if (!path && !req->nr_fds) {
		api_reply_error(reply, 400, "vm.add-device: path: required (the device's sysfs path, "
				"like /sys/bus/pci/devices/0000:01:00.0/), unless its VFIO cdev "
				"(/dev/vfio/devices/vfioN) comes as a file descriptor (SCM_RIGHTS)");
		return false;
	}
	if (req->nr_fds)
		*fd = req->fds[0];
	return true;
}

static void vm_add_device(struct vm_api_ctx *ctx, const struct http_request *req,
			  struct api_reply *reply)
{
	const char *path = NULL, *id = NULL;
	char why[1024], id_out[32], bdf[32];
	json_t *body;
	int ret, fd;

	if (!state_ok(ctx, RUNNING | PAUSED, "vm.add-device", reply))
		return;
	if (!ctx->add_device) {
		api_reply_error(reply, 501, "vm.add-device: not in this build");
		return;
	}
	body = body_object(req, "vm.add-device", "a DeviceConfig ({\"path\": ...})", reply);
	if (!body)
		return;
	if (!device_config_ok(body, &path, &id, reply) ||
	    !device_source_ok(req, path, &fd, reply)) {
		json_decref(body);
		return;
	}
	/* Taken: the hook owns it now, and closes it when the device goes or is refused. */
	if (fd >= 0)
		req->fds[0] = -1;
	ret = ctx->add_device(ctx->vm, path, fd, id, id_out, bdf, sizeof(bdf), why, sizeof(why));
	if (ret)
		api_reply_error(reply, ret == -EEXIST ? 409 : ret == -ENOENT || ret == -ENODEV ?
				404 : ret == -EAGAIN ? 503 : ret == -EIO ? 500 : 400,
				"vm.add-device: %s", why);
	else
		reply_json(reply, json_pack("{ss ss}", "id", id_out, "bdf", bdf));
	json_decref(body);
}

static void vm_remove_device(struct vm_api_ctx *ctx, const struct http_request *req,
			     struct api_reply *reply)
{
	const char *id = NULL;
	json_error_t err;
	char why[256];
	json_t *body;

	if (!state_ok(ctx, RUNNING | PAUSED, "vm.remove-device", reply))
		return;
	if (!ctx->remove_device) {
		api_reply_error(reply, 501, "vm.remove-device: not in this build");
		return;
	}
	body = body_object(req, "vm.remove-device", "{\"id\": \"vfio0\"}", reply);
	if (!body)
		return;
	if (json_unpack_ex(body, &err, JSON_STRICT, "{s:s}", "id", &id))
		api_reply_error(reply, 400, "vm.remove-device: %s", err.text);
	else if (ctx->remove_device(ctx->vm, id, why, sizeof(why)))
		api_reply_error(reply, 404, "vm.remove-device: %s", why);
	else
		reply->status = 204;
	json_decref(body);
}

static void dispatch_put(struct vm_api_ctx *ctx, const char *ep, const struct http_request *req,
			 struct api_reply *reply)
{
	if (!strcmp(ep, "vmm.shutdown")) {
		ctx->exit = true;
		if (ctx->state == VM_API_RUNNING || ctx->state == VM_API_PAUSED)
			vm_request_stop(ctx->vm, VM_STOP_SIGNAL, "vmm.shutdown through the API");
		reply->status = 204;
	} else if (!strcmp(ep, "vm.pause")) {
		vm_pause_req(ctx, reply);
	} else if (!strcmp(ep, "vm.resume")) {
		vm_resume_req(ctx, reply);
	} else if (!strcmp(ep, "vm.shutdown")) {
		vm_stop_req(ctx, "vm.shutdown", false, reply);
	} else if (!strcmp(ep, "vm.reboot")) {
		vm_stop_req(ctx, "vm.reboot", true, reply);
	} else if (!strcmp(ep, "vm.boot")) {
		vm_boot_req(ctx, reply);
	} else if (!strcmp(ep, "vm.create")) {
		vm_create_req(ctx, req, reply);
	} else if (!strcmp(ep, "vm.vmm-reset-device")) {
		vm_reset_device(ctx, req, reply);
	} else if (!strcmp(ep, "vm.add-device")) {
		vm_add_device(ctx, req, reply);
	} else if (!strcmp(ep, "vm.remove-device")) {
		vm_remove_device(ctx, req, reply);
	} else if (!strcmp(ep, "vm.power-button")) {
		if (!state_ok(ctx, RUNNING | PAUSED, "vm.power-button", reply))
			return;
		acpi_pm_power_button(ctx->vm->pm);
		pr_info("api: vm.power-button: pressed");
		reply->status = 204;
	}
}

/* [name, method]: what is answered here. */
static const char *const answered[][2] = {
	{ "vmm.ping", "GET" }, { "vmm.shutdown", "PUT" }, { "vm.info", "GET" },
	{ "vm.pause", "PUT" }, { "vm.resume", "PUT" }, { "vm.shutdown", "PUT" },
	{ "vm.reboot", "PUT" }, { "vm.boot", "PUT" }, { "vm.power-button", "PUT" },
	{ "vm.create", "PUT" }, { "vm.counters", "GET" }, { "vm.vmm-reset-device", "PUT" },
	{ "vm.add-device", "PUT" }, { "vm.remove-device", "PUT" },
};

/* Cloud Hypervisor's other endpoints: known, and not answered (yet). */
static const char *const not_yet[] = {
	"vm.delete",
	"vm.add-disk", "vm.add-net", "vm.add-fs", "vm.add-pmem", "vm.add-vsock", "vm.add-vdpa",
	"vm.add-user-device", "vm.add-generic-vhost-user", "vm.resize", "vm.resize-disk",
	"vm.resize-zone", "vm.snapshot", "vm.restore", "vm.coredump", "vm.send-migration",
	"vm.receive-migration", "vm.nmi",
};

void vm_api_handle(void *opaque, const struct http_request *req, struct api_reply *reply)
{
	struct vm_api_ctx *ctx = opaque;
	const char *ep = req->path + strlen(API_PREFIX);

	if (strncmp(req->path, API_PREFIX, strlen(API_PREFIX))) {
		api_reply_error(reply, 404, "%s: no such endpoint (the API is under %s)", req->path,
				API_PREFIX);
		return;
	}
	for (size_t i = 0; i < sizeof(answered) / sizeof(answered[0]); i++) {
		if (strcmp(ep, answered[i][0]))
			continue;
		if (strcmp(req->method, answered[i][1])) {
			api_reply_error(reply, 405, "%s takes %s, not %s", ep, answered[i][1],
					req->method);
			return;
		}
		if (req->nr_fds && strcmp(ep, "vm.add-device")) {
			/* Closed by the transport; said, so that a client does not think them used. */
			api_reply_error(reply, 400, "%s takes no file descriptor; %u came with the "
					"request (SCM_RIGHTS)", ep, req->nr_fds);
			return;
		}
		if (!strcmp(ep, "vmm.ping"))
			vmm_ping(reply);
		else if (!strcmp(ep, "vm.info"))
			vm_info(ctx, reply);
		else if (!strcmp(ep, "vm.counters"))
			vm_counters(ctx, reply);
		else
			dispatch_put(ctx, ep, req, reply);
		return;
	}
	for (size_t i = 0; i < sizeof(not_yet) / sizeof(not_yet[0]); i++)
		if (!strcmp(ep, not_yet[i])) {
			api_reply_error(reply, 501, "%s: a Cloud Hypervisor endpoint this vmm does not "
					"answer yet (docs/api.md lists what it answers)", ep);
			return;
		}
	api_reply_error(reply, 404, "%s: no such endpoint (docs/api.md lists them)", ep);
}
