/* SPDX-License-Identifier: MIT */
#ifndef VMM_VFIO_DEVICES_H
#define VMM_VFIO_DEVICES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "vm.h" /* VM_MAX_VFIO, struct vm_vfio_fn_cfg */

/*
 * vfio_devices.c: --vfio, behind the Q35 root ports (needs the firmware
 * platform), in three steps, so that a function can later be added while
 * the guest runs the same way. Plan: before any VM exists, what the host
 * says about each function, read once (sysfs, the ROM file), and what would
 * make the kernel refuse it, said in one line. Place: each slot of them
 * onto a root port. Open: VFIO and the guest's PCI function, in a machine.
 */
struct vm_vfio_fn_plan {
	const struct vm_vfio_fn_cfg *cfg;
	char bdf[16];                 /* "0000:01:00.0": sysfs's and VFIO's name for it */
	int group;                    /* its IOMMU group */
	/* BARs 0-5 from sysfs's resource file: size 0 unused (or a 64-bit BAR's upper half). */
	uint64_t bar_size[6];
	unsigned long bar_flags[6];   /* the kernel's IORESOURCE_* bits */
	char methods[128];            /* reset_method as sysfs lists it ("flr bus"); "" if it does not */
	const char *method;           /* reset=flr|pm|bus: the name written there first; NULL: none */
	void *rom;                    /* rom=FILE, read whole */
	size_t rom_len;
	unsigned port;                /* the root port its slot sits behind, once placed */
};

struct vm_vfio_plan {
	struct vm_vfio_fn_plan fn[VM_MAX_VFIO];
	unsigned nr;
};

/* *plan for cfg's --vfio functions (NULL without any); 0 or -errno, said in one line. */
int vm_vfio_plan_make(const struct vm_config *cfg, struct vm_vfio_plan **plan)
	__attribute__((warn_unused_result));
/* The same from the sysfs tree under sysroot, each file or link read told to on_read (tests). */
int vm_vfio_plan_make_at(const struct vm_config *cfg, const char *sysroot,
			 void (*on_read)(const char *path, void *arg), void *arg,
			 struct vm_vfio_plan **plan) __attribute__((warn_unused_result));
/* Each slot onto a root port of its own, in the order first given; -ENOSPC beyond the ports. */
int vm_vfio_plan_place(struct vm_vfio_plan *plan) __attribute__((warn_unused_result));
void vm_vfio_plan_free(struct vm_vfio_plan *plan);
/* Opens vm->cfg->vfio_plan's functions in vm, placed as the plan says. */
int vm_add_vfio_devices(struct vm *vm) __attribute__((warn_unused_result));
struct ovmf_bar64;
/*
 * The 64-bit prefetchable BARs of the --vfio functions (from the plan:
 * nothing is read), each with its root port, as OVMF will have to place
 * them; at most cap. largest gets "BDF BARn" of the biggest.
 */
unsigned vm_vfio_bars64(const struct vm_config *cfg, struct ovmf_bar64 *out, unsigned cap,
			char *largest, size_t len);
/*
 * The 64-bit prefetchable window OVMF keeps behind each root port that no
 * --vfio slot takes (--hotplug-reserve pref64), as one pseudo-BAR per such
 * port, for the same layout; none when pref64 is 0. At most cap.
 */
unsigned vm_hotplug_bars64(const struct vm_config *cfg, struct ovmf_bar64 *out, unsigned cap);
void vm_vfio_free(struct vm *vm);
/*
 * vm.info's device_tree: per --vfio function ("vfio0", ...), its guest BDF,
 * and as resources its host BDF and IOMMU group, each BAR's guest address,
 * size and mapping (memslot, trapped, sparse with its trapped stretches),
 * its reset method and the resets done in this machine. Main thread.
 */
json_t *vm_vfio_device_tree(struct vm *vm);
/*
 * vm.counters: per function, guest accesses that trapped per BAR, the
 * host's count of each of its interrupts (/proc/interrupts), the bytes of
 * guest RAM mapped for DMA, its resets and the last one's duration.
 */
json_t *vm_vfio_counters(struct vm *vm);
/*
 * Resets function id ("vfio0", ...) now, with how: "auto" (the kernel's
 * first choice), or "flr", "pm" or "bus" where the kernel offers it for
 * the function; the guest is not told. 0 with *ms the time it took, or
 * -errno with why. Main thread.
 */
int vm_vfio_reset_device(struct vm *vm, const char *id, const char *how, double *ms, char *why,
			 size_t len) __attribute__((warn_unused_result));

/*
 * Hot-plug (vm.add-device, vm.remove-device), main thread. Every root port
 * is a hot-plug slot; a function added takes the first free one, as
 * function 0 of its device, with what --vfio BDF would give it (reset
 * auto, the device's ROM, BARs mapped). path is a sysfs path
 * ("/sys/bus/pci/devices/0000:01:00.0/") or the address alone; id NULL
 * picks "vfioN". 0 with the id and the guest's BDF for it in id_out and
 * bdf_out (out_len each), the guest told (presence detect); or -errno with
 * why: -EINVAL a bad path or id, -EEXIST a taken id or a device already
 * in, -ENOSPC no free root port, what --vfio would say of a device that is
 * not viable, or what opening it said. Nothing is kept on failure.
 * It lasts until the machine ends: a guest reboot makes the --vfio set again.
 *
 * cdev_fd >= 0 (path NULL then): the device is the one behind that fd, a
 * VFIO device cdev (/dev/vfio/devices/vfioN) that a client opened and
 * passed; its address is found from the fd (sysfs /sys/dev/char/) and
 * planned as a path would be, and the fd is the device's, bound to
 * iommufd (--vfio-iommu auto becomes iommufd for it; type1 refuses it).
 * The fd is taken in every case: closed on failure, or when the device
 * leaves. -EINVAL: not a read-write VFIO device cdev of a PCI function;
 * -EOPNOTSUPP: the machine's devices are held through type1.
 */
int vm_vfio_add_device(struct vm *vm, const char *path, int cdev_fd, const char *id,
		       char *id_out, char *bdf_out, size_t out_len, char *why, size_t len)
	__attribute__((warn_unused_result));
/*
 * Presses the attention button of id's root port (every function of that
 * slot goes): the guest's pciehp lets go in about 5 s and switches the
 * slot off, and vm_vfio_hotplug_service() then releases the functions
 * (reset, unmapped, closed). A guest that has not let go after 20 s has
 * them pulled out by surprise. 0 (also when a removal is under way), or
 * -ENOENT with why.
 */
int vm_vfio_remove_device(struct vm *vm, const char *id, char *why, size_t len)
	__attribute__((warn_unused_result));
/*
 * The main loop's part: what to poll (q35_hotplug_fd() and each function's
 * VFIO request and error eventfds; at most VM_VFIO_POLLFDS), and, after
 * each poll, the service: slots the guest switched off are released, the
 * host's request for a device (REQ) starts its removal, a device error
 * (ERR) logs its AER status and stops the machine, and removals past
 * their time are pulled out. Returns the milliseconds until the next such
 * deadline, -1 for none.
 */
#define VM_VFIO_POLLFDS (1 + 2 * (VM_MAX_VFIO + VM_ROOT_PORTS))
struct pollfd;
unsigned vm_vfio_pollfds(struct vm *vm, struct pollfd *p, unsigned cap);
int vm_vfio_hotplug_service(struct vm *vm);

#endif
