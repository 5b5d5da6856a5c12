// SPDX-License-Identifier: MIT
/*
 * The machine's virtio devices: each --disk a virtio-blk and each --net a
 * virtio-net function on bus 0 from slot VM_VIRTIO_SLOT0 on, over the
 * modern virtio-pci transport, with KVM doing the notifications
 * (ioeventfd) and the interrupts (irqfd, MSI routes).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/layout.h"
#include "../core/log.h"
#include "virtio_devices.h"
#include "vm.h"
#include "../devices/virtio_blk.h"
#include "../devices/virtio_net.h"
#include "../devices/virtio_pci.h"
#include "../firmware/firmware.h"

#define VM_VIRTIO_MAX   (VM_MAX_DISKS + VM_MAX_NICS)

struct vm_virtio {
	struct virtio_pci *vp[VM_VIRTIO_MAX];
	char name[VM_VIRTIO_MAX][24];
	char mac_name[VM_MAX_NICS][80];
	unsigned nr;
};

/* Wraps vdev in a transport at the next slot; frees vdev on failure. */
static int add_function(struct vm *vm, struct vm_virtio *v, struct virtio_device *vdev,
			const char *opt, const char *what)
{
	unsigned slot = VM_VIRTIO_SLOT0 + v->nr;
	struct pci_platform plat = vm_pci_platform(vm, slot);
	struct virtio_pci *vp = virtio_pci_new(vdev, PCI_DEVFN(slot, 0), &plat);
	int ret;

	if (!vp) {
		ret = -errno;
		pr_err("%s %s: cannot make its PCI function: %s", opt, what, strerror(-ret));
		vdev->ops->free(vdev);
		return ret;
	}
	/* Where firmware would put it; OVMF places it again, Linux keeps it. */
	pci_device_set_bar_addr(virtio_pci_dev(vp), VIRTIO_PCI_BAR,
				LAYOUT_PCI_MMIO32 + (uint64_t)v->nr * VIRTIO_PCI_BAR_SIZE);
	ret = pci_bus_add(&vm->pci, virtio_pci_dev(vp));
	if (ret) {
		virtio_pci_free(vp);
		return ret;
	}
	v->vp[v->nr++] = vp;
	return 0;
}

static struct virtio_blk_options disk_options(const struct vm_disk *d)
{
	return (struct virtio_blk_options){
		.path = d->path, .readonly = d->readonly, .direct = d->direct,
		.serial = d->serial, .queues = d->queues,
	};
}

static int add_disk(struct vm *vm, struct vm_virtio *v, const struct vm_disk *d, unsigned i)
{
	struct virtio_blk_options o = disk_options(d);
	const char *why = NULL;
	struct virtio_device *vdev;

	snprintf(v->name[v->nr], sizeof(v->name[0]), "virtio-blk%u", i);
	vdev = virtio_blk_create(v->name[v->nr], &o, &vm->mem, &why);
	if (!vdev) {
		int err = errno ? errno : EINVAL; /* before pr_err() may change it */

		pr_err("--disk %s", why ? why : strerror(err));
		return -err;
	}
	return add_function(vm, v, vdev, "--disk", d->path);
}

int vm_virtio_preflight(const struct vm_config *cfg)
{
	for (unsigned i = 0; i < cfg->nr_disks; i++) {
		struct virtio_blk_options o = disk_options(&cfg->disk[i]);
		const char *why = NULL;
		int ret = virtio_blk_check(&o, &why);

		if (ret) {
			pr_err("--disk %s", why ? why : strerror(-ret));
			return ret;
		}
	}
	return 0;
}

int vm_virtio_open_taps(const struct vm_config *cfg, struct virtio_net_tap **taps)
{
	for (unsigned i = 0; i < cfg->nr_nics; i++) {
		const struct vm_nic *n = &cfg->nic[i];
		const char *why = NULL;

		taps[i] = virtio_net_tap_open(n->tap, n->queues ? n->queues : 1, &why);
		if (!taps[i]) {
			int err = errno ? errno : EINVAL;

			pr_err("--net %s", why ? why : strerror(err));
			while (i--) {
				virtio_net_tap_close(taps[i]);
				taps[i] = NULL;
			}
			return -err;
		}
	}
	return 0;
}

static int add_nic(struct vm *vm, struct vm_virtio *v, const struct vm_nic *n, unsigned i)
{
	struct virtio_net_options o = {
		.host = vm->cfg->nic_tap[i],
		.tap = n->tap, .mac = n->has_mac ? n->mac : NULL, .queues = n->queues,
	};
	const char *why = NULL;
	struct virtio_device *vdev;

	/* One name per NIC, so each default MAC differs and stays the same. */
	if (i == 0)
		o.vm_name = vm->cfg->name;
	else {
		snprintf(v->mac_name[i], sizeof(v->mac_name[i]), "%s.%u", vm->cfg->name, i);
		o.vm_name = v->mac_name[i];
	}
	snprintf(v->name[v->nr], sizeof(v->name[0]), "virtio-net%u", i);
	vdev = virtio_net_create(v->name[v->nr], &o, &vm->mem, &why);
	if (!vdev) {
		int err = errno ? errno : EINVAL; /* before pr_err() may change it */

		pr_err("--net %s", why ? why : strerror(err));
		return -err;
	}
	return add_function(vm, v, vdev, "--net", n->tap);
}

int vm_add_virtio_devices(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	struct vm_virtio *v;
	int ret = 0;

	if (!cfg->nr_disks && !cfg->nr_nics)
		return 0;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	vm->virtio = v;
	for (unsigned i = 0; i < cfg->nr_disks && !ret; i++)
		ret = add_disk(vm, v, &cfg->disk[i], i);
	for (unsigned i = 0; i < cfg->nr_nics && !ret; i++)
		ret = add_nic(vm, v, &cfg->nic[i], i);
	return ret;
}

/* One function's node: its guest address, what it is, its BAR as the guest placed it. */
static json_t *virtio_node(struct vm *vm, struct virtio_pci *vp, const char *id, const char *kind,
			   const char *backend)
{
	struct pci_device *dev = virtio_pci_dev(vp);
	json_t *node = json_object(), *res = json_array();
	uint64_t addr, size;
	char bdf[16];
	bool on;

	snprintf(bdf, sizeof(bdf), "0000:00:%02x.%x", PCI_SLOT(dev->devfn), PCI_FUNC(dev->devfn));
	pthread_mutex_lock(&vm->pci.apply_lock);
	on = dev->bar[VIRTIO_PCI_BAR].applied_on;
	addr = dev->bar[VIRTIO_PCI_BAR].applied_addr;
	size = dev->bar[VIRTIO_PCI_BAR].size;
	pthread_mutex_unlock(&vm->pci.apply_lock);
	json_array_append_new(res, json_pack("{ss ss ss}", "type", "virtio", "device", kind,
					     "backend", backend));
	/* The registers trap (the notify writes go to ioeventfds): no memslot. */
	json_array_append_new(res, json_pack("{ss si sb sI sI ss s[]}", "type", "bar", "index",
					     VIRTIO_PCI_BAR, "io", 0, "guest_address",
					     (json_int_t)(on ? addr : 0), "size", (json_int_t)size,
					     "mapping", on ? "trapped" : "off", "trapped"));
	json_object_set_new(node, "id", json_string(id));
	json_object_set_new(node, "pci_bdf", json_string(bdf));
	json_object_set_new(node, "resources", res);
	json_object_set_new(node, "children", json_array());
	return node;
}

json_t *vm_virtio_device_tree(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	struct vm_virtio *v = vm->virtio;
	json_t *tree = json_object();
	char id[16];

	/* The order they were made in: --disk ones, then --net ones. */
	for (unsigned i = 0; v && i < v->nr; i++) {
		bool disk = i < cfg->nr_disks;
		unsigned n = disk ? i : i - cfg->nr_disks;

		snprintf(id, sizeof(id), "%s%u", disk ? "disk" : "net", n);
		json_object_set_new(tree, id, virtio_node(vm, v->vp[i], id, disk ? "virtio-blk" :
							  "virtio-net", disk ? cfg->disk[n].path :
							  cfg->nic[n].tap));
	}
	return tree;
}

void vm_virtio_dump(struct vm *vm, FILE *f)
{
	struct vm_virtio *v = vm->virtio;

	for (unsigned i = 0; v && i < v->nr; i++)
		virtio_pci_dump(v->vp[i], f);
}

/*
 * vm.pause's second half, the vCPUs already parked: every device's workers
 * finish what they started and wait. On a timeout (the device said which)
 * the devices already quiesced go on again, so nothing stays half paused.
 */
int vm_virtio_quiesce(struct vm *vm, unsigned timeout_ms)
{
	struct vm_virtio *v = vm->virtio;

	for (unsigned i = 0; v && i < v->nr; i++) {
		int ret = virtio_pci_quiesce(v->vp[i], timeout_ms);

		if (ret) {
			while (i--)
				virtio_pci_resume(v->vp[i]);
			return ret;
		}
	}
	return 0;
}

void vm_virtio_resume(struct vm *vm)
{
	struct vm_virtio *v = vm->virtio;

	for (unsigned i = 0; v && i < v->nr; i++)
		virtio_pci_resume(v->vp[i]);
}

void vm_virtio_free(struct vm *vm)
{
	struct vm_virtio *v = vm->virtio;

	if (!v)
		return;
	/* Every device thread stops (and its I/O ends) before guest RAM goes. */
	for (unsigned i = 0; i < v->nr; i++)
		virtio_pci_stop(v->vp[i]);
	for (unsigned i = 0; i < v->nr; i++)
		virtio_pci_free(v->vp[i]);
	free(v);
	vm->virtio = NULL;
}
