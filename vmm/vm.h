/* SPDX-License-Identifier: MIT */
#ifndef VMM_VM_H
#define VMM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../core/bus.h"
#include "../core/memory.h"
#include "../core/pci.h"
#include "../devices/devices.h"
#include "../devices/pci_devices.h"

struct kvm_run;
struct kvm_cpuid2;

enum serial_mode { SERIAL_STDIO, SERIAL_FILE, SERIAL_NONE };

#define VM_MAX_DISKS 8
#define VM_MAX_NICS  4
/* --vfio functions; each slot of them takes a root port. */
#define VM_MAX_VFIO 8
#define VM_SPEC_MAX  1024

/* --vfio BDF[,rom=FILE|off][,reset=...]: which reset, when the kernel offers several. */
enum vm_vfio_reset {
	VM_VFIO_RESET_AUTO,     /* the kernel's first choice (VFIO_DEVICE_RESET) */
	VM_VFIO_RESET_FLR,
	VM_VFIO_RESET_PM,
	VM_VFIO_RESET_BUS,
	VM_VFIO_RESET_NONE,     /* never reset */
};

/* --vfio-iommu: the kernel interface that holds the devices and their DMA mappings. */
enum vm_vfio_iommu {
	VM_VFIO_IOMMU_AUTO,     /* iommufd where the kernel has it for every device, else type1 */
	VM_VFIO_IOMMU_TYPE1,    /* the container /dev/vfio/vfio and the group nodes */
	VM_VFIO_IOMMU_IOMMUFD,  /* /dev/iommu and the device cdevs /dev/vfio/devices/vfioN */
};

struct vm_vfio_fn_cfg {
	char spec[VM_SPEC_MAX]; /* the option's text, cut into the strings below */
	const char *bdf;        /* as given */
	/* The address, parsed once (by the command line): all that follows uses these. */
	uint16_t domain;
	uint8_t bus, dev, fn;
	const char *rom;        /* rom=FILE: the guest's ROM BAR serves it; NULL: the device's */
	bool rom_off;           /* rom=off: no ROM BAR at all */
	bool no_mmap;           /* mmap=off: every BAR access traps */
	bool error_log;         /* error=log: a device error (AER) is logged, the VM runs on; else stopped */
	enum vm_vfio_reset reset;
};

/* --disk path=FILE[,readonly][,direct][,serial=ID][,queues=N] */
struct vm_disk {
	char spec[VM_SPEC_MAX]; /* the option's text, cut into the strings below */
	const char *path;
	const char *serial;     /* NULL: derived from the file */
	bool readonly, direct;
	unsigned queues;
};

/* --net tap=NAME[,mac=MAC][,queues=N] */
struct vm_nic {
	char spec[VM_SPEC_MAX];
	const char *tap;
	uint8_t mac[6];
	bool has_mac;           /* else derived from the VM's name */
	unsigned queues;
};

struct virtio_net_tap;

struct vm_config {
	unsigned cpus;
	struct mem_options mem;
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	enum serial_mode serial;
	const char *serial_path;
	const char *kvm_path; /* /dev/kvm unless overridden (tests) */
	bool no_reboot;       /* a guest reset ends the run instead of booting again */
	/*
	 * --shutdown-timeout: SIGTERM presses the ACPI power button and waits
	 * this long for the guest to power off before stopping it hard;
	 * 0: SIGTERM stops it at once.
	 */
	unsigned shutdown_timeout_s;
	const char *api_socket; /* --api-socket PATH or fd=N; NULL: no API */
	const char *user;     /* --user NAME|UID[:GID]: dropped to after setup; NULL: stay */
	bool hide_kvm;        /* --hide-kvm: no KVM CPUID signature */
	const char *hv_vendor; /* --hv-vendor-id: CPUID 0x4000_0000's vendor */
	bool serial_append;   /* a reboot: keep what earlier boots wrote to the file */
	const char *name;     /* the VM's name: its private VARS copy, messages */
	/*
	 * UEFI boot: the firmware's CODE image (read-only pflash) and the
	 * VARS file it keeps its variables in (writable pflash, persisted).
	 * With firmware the machine is the Q35 platform (vmm/q35.c).
	 */
	const char *firmware;
	const char *vars;
	uint64_t pci_mmio64_size; /* the 64-bit PCI window; 0: from the host's address bits */
	struct vm_disk disk[VM_MAX_DISKS];
	unsigned nr_disks;
	struct vm_nic nic[VM_MAX_NICS];
	unsigned nr_nics;
	struct vm_vfio_fn_cfg vfio[VM_MAX_VFIO];
	unsigned nr_vfio;
	enum vm_vfio_iommu vfio_iommu;
	/*
	 * --hotplug-reserve: what OVMF keeps behind each root port that no
	 * --vfio slot takes, for a function vm.add-device puts there later
	 * (bytes of I/O window, 32-bit non-prefetchable and 64-bit prefetchable
	 * memory window).
	 */
	struct vm_hotplug_reserve {
		uint64_t io, mem, pref64;
	} hotplug_reserve;
	/* The --vfio functions as planned and placed before the first machine; kept across resets. */
	const struct vm_vfio_plan *vfio_plan;
	/*
	 * The --net TAPs, opened before the first machine and kept across
	 * resets, so a guest reboot leaves the host's side as it was (NULL:
	 * each machine opens its own, as tests do).
	 */
	struct virtio_net_tap *nic_tap[VM_MAX_NICS];
};

/* Virtio functions (--disk, then --net) on bus 0, from 00:08.0 on. */
#define VM_VIRTIO_SLOT0 8

/* PCIe root ports on bus 0 of the Q35 platform, at 00:01.0 onwards. */
#define VM_ROOT_PORTS 4

/* Memslots below are RAM (0..) and flash (32..); devices' BARs get these. */
#define VM_SLOT_DYNAMIC 64

/* Why the machine stopped; the first reason recorded wins. */
enum vm_stop {
	VM_RUNNING = 0,
	VM_STOP_POWEROFF,
	VM_STOP_RESET,
	VM_STOP_SIGNAL,
	VM_STOP_ERROR,
};

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool started;
	_Atomic int tid;           /* the thread's ID once it runs (vm.info: what to pin) */
};

struct vm {
	const struct vm_config *cfg;
	int kvm_fd;
	int vm_fd;
	struct guest_mem mem;
	unsigned nr_slots;
	struct bus pio, mmio;
	struct kvm_cpuid2 *supported_cpuid;

	struct vcpu *vcpus;
	unsigned nr_vcpus;

	_Atomic int stop;          /* enum vm_stop */
	int stop_efd;              /* written once when stop is set */
	int stop_signal;
	char stop_why[160];        /* for VM_STOP_ERROR */
	uint64_t button_ns;        /* when SIGTERM pressed the power button (monotonic); 0: not */

	/* vm_pause(): vCPUs wait in vm_vcpu_park() while pause_req is set. */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	_Atomic bool pause_req;
	unsigned parked;           /* under pause_lock */

	struct power_ctl power;
	struct irq_line irq_com1, irq_rtc, irq_sci;
	struct pci_bus pci;
	struct q35_host host_bridge;
	struct uart *com1;
	struct rtc *rtc;
	struct i8042 *kbd;
	struct acpi_pm *pm;
	int serial_fd;             /* where COM1's output goes */
	bool serial_fd_owned;

	/* The Q35 platform of a firmware boot (vmm/q35.c); NULL otherwise. */
	struct q35 *q35;
	/* --disk and --net (vmm/virtio_devices.c); NULL without any. */
	struct vm_virtio *virtio;
	/* --vfio (vmm/vfio_devices.c); NULL without any. */
	struct vm_vfio *vfio;
	/* Memslots vm_memslot() handed out, from VM_SLOT_DYNAMIC on. */
	pthread_mutex_t slot_lock;
	uint64_t dyn_slots;

	/* GSI routing: the fixed PIC/IOAPIC entries plus one MSI route per GSI from 24. */
	pthread_mutex_t route_lock;
	struct vm_msi_route *msi;
	unsigned nr_msi, cap_msi;
	unsigned next_gsi;
};

struct vm_msi_route {
	unsigned gsi;
	bool valid;
	uint64_t addr;
	uint32_t data;
};

/*
 * The API's vm.pause: stops every vCPU outside KVM_RUN, then quiesces the
 * virtio devices (their workers finish the requests they hold, then leave
 * guest memory, the rings and the interrupts alone), and returns once all
 * are still: 0, or -ETIMEDOUT if a vCPU or a device did not stop within
 * 5 s (a device says so, naming itself), and then everything runs on.
 * Passed-through (VFIO) devices are left alone. vm_resume() lets the
 * devices go on (serving what was kicked meanwhile), then the vCPUs. A
 * vm_pause() while paused returns at once. Main thread only.
 */
int vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);
bool vm_paused(struct vm *vm);
/* A vCPU thread's side of vm_pause(): waits while the pause lasts and the machine runs. */
void vm_vcpu_park(struct vm *vm);

/* The pieces, in the order vm_boot_linux() uses them; tests use a subset. */
/* /dev/kvm (or cfg->kvm_path) can be opened and speaks our API; one line on why not. */
int vm_kvm_check(const struct vm_config *cfg) __attribute__((warn_unused_result));
int vm_open(struct vm *vm, const struct vm_config *cfg) __attribute__((warn_unused_result));
int vm_create_vcpus(struct vm *vm) __attribute__((warn_unused_result));
int vm_add_platform_devices(struct vm *vm) __attribute__((warn_unused_result));
void vm_close(struct vm *vm);

/*
 * Interrupts and notifications that bypass the VMM: a new GSI (24 and up)
 * with an irqfd on it (*efd, the caller's to close); that GSI pointed at an
 * MSI address and data; an ioeventfd on a len-byte MMIO write at addr.
 * Each 0 or -errno, with the reason logged. Thread-safe.
 */
int vm_irqfd_new(struct vm *vm, unsigned *gsi, int *efd) __attribute__((warn_unused_result));
int vm_msi_route(struct vm *vm, unsigned gsi, uint64_t addr, uint32_t data);
/* One MSI, now (KVM_SIGNAL_MSI): for a model that sends its own (a root port's hot-plug event). */
int vm_signal_msi(struct vm *vm, uint64_t addr, uint32_t data);
/*
 * A level-triggered irqfd on IOAPIC line gsi: trigger asserts it, the
 * guest's EOI deasserts it and signals resample (INTx of a passed-through
 * function). assign false removes it. 0 or -errno.
 */
int vm_intx_irqfd(struct vm *vm, unsigned gsi, int trigger, int resample, bool assign);
int vm_ioeventfd(struct vm *vm, uint64_t addr, unsigned len, int fd, bool assign);

/*
 * The ACPI description every machine shares: CPUs, the PM block at 0x600
 * (where OVMF also puts it), SCI, reset register, COM1, the 32-bit PCI
 * window and _PRT. The Q35 platform adds ECAM and the 64-bit window.
 */
struct acpi_config;
void vm_acpi_config(const struct vm *vm, struct acpi_config *acpi);

/* A level-triggered line into the in-kernel IOAPIC (KVM_IRQ_LINE). */
struct irq_line vm_irq_line(struct vm *vm, unsigned gsi);
/*
 * The machine's services for a PCI function in bus 0's slot (for one
 * behind a root port: the port's slot, whose _PRT lines its INTx reach
 * unswizzled), wrapping vm_memslot() and its kin with vm as opaque.
 */
struct pci_platform vm_pci_platform(struct vm *vm, unsigned slot);

/*
 * Maps [gpa, gpa + size) to hva as a memslot (*slot -1: a new one), or
 * with size 0 removes *slot and sets it to -1. 0 or -errno.
 */
int vm_memslot(struct vm *vm, int *slot, uint64_t gpa, uint64_t size, void *hva);

/* Records why the machine stops and kicks every vCPU out of KVM_RUN. */
void vm_request_stop(struct vm *vm, enum vm_stop why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
