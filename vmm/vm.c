// SPDX-License-Identifier: MIT
/*
 * The machine: the KVM VM with its in-kernel irqchip and PIT, guest RAM
 * as memslots, the two buses, the legacy platform devices, and the
 * stop protocol every exit path goes through.
 */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "../core/layout.h"
#include "../core/log.h"
#include "../firmware/firmware.h"
#include "q35.h"
#include "vcpu.h"
#include "vfio_devices.h"
#include "virtio_devices.h"

static int open_kvm(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		int e = errno;

		if (e == ENOENT)
			pr_err("%s: no such device: this host has no KVM; 'vmm host check' says why "
			       "and what would give it one (without KVM, tests/lab in vmm's source "
			       "runs guests inside an emulated host)", path);
		else if (e == EACCES || e == EPERM)
			pr_err("%s: permission denied: run as root or add your user to the 'kvm' group "
			       "('vmm host check' checks the rest)", path);
		else
			pr_err("%s: %s", path, strerror(e));
		return -e;
	}
	int api = ioctl(fd, KVM_GET_API_VERSION, 0);

	if (api != KVM_API_VERSION) {
		pr_err("%s: KVM API version %d, expected %d", path, api, KVM_API_VERSION);
		close(fd);
		return -EINVAL;
	}
	return fd;
}

static int fetch_supported_cpuid(struct vm *vm)
{
	for (unsigned n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

		if (!c)
			return -ENOMEM;
		c->nent = n;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			vm->supported_cpuid = c;
			return 0;
		}
		int e = errno;

		free(c);
		if (e != E2BIG)
			return -e;
	}
	return -E2BIG;
}

/*
 * ISA interrupts go to the PIC and the IOAPIC pin of the same number, but
 * IRQ0 (the PIT) goes to IOAPIC pin 2, as the MADT's interrupt source
 * override says and as on real boards; KVM's default table would put it
 * on pin 0, and Linux would then report the timer as not connected to the
 * IOAPIC. MSI routes (virtio-pci and passthrough vectors) follow. KVM
 * takes the whole table on every change; with vm->route_lock held.
 */
static int set_gsi_routing(struct vm *vm)
{
	enum { NR_PIC = 16, NR_IOAPIC = 24, FIXED = NR_PIC + NR_IOAPIC };
	size_t n = 0, max = FIXED + vm->nr_msi;
	struct kvm_irq_routing *r;
	struct kvm_irq_routing_entry *e;
	int ret = 0;

	/* kvm_irq_routing ends in a flexible array, sized here at run time. */
	r = calloc(1, sizeof(*r) + max * sizeof(r->entries[0]));
	if (!r)
		return -ENOMEM;
	e = r->entries;
	for (unsigned gsi = 0; gsi < NR_IOAPIC; gsi++) {
		if (gsi < NR_PIC) {
			e[n].gsi = gsi;
			e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
			e[n].u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
			e[n++].u.irqchip.pin = gsi % 8;
		}
		if (gsi == 2)
			continue; /* the cascade; IOAPIC pin 2 belongs to GSI 0 */
		e[n].gsi = gsi;
		e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		e[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		e[n++].u.irqchip.pin = gsi == 0 ? 2 : gsi;
	}
	for (unsigned i = 0; i < vm->nr_msi; i++) {
		if (!vm->msi[i].valid)
			continue;
		e[n].gsi = vm->msi[i].gsi;
		e[n].type = KVM_IRQ_ROUTING_MSI;
		e[n].u.msi.address_lo = (uint32_t)vm->msi[i].addr;
		e[n].u.msi.address_hi = (uint32_t)(vm->msi[i].addr >> 32);
		e[n++].u.msi.data = vm->msi[i].data;
	}
	r->nr = (uint32_t)n;
	if (ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, r) < 0) {
		ret = -errno;
		pr_err("KVM_SET_GSI_ROUTING (%zu routes): %s", n, strerror(errno));
	}
	free(r);
	return ret;
}

int vm_irqfd_new(struct vm *vm, unsigned *gsi, int *efd)
{
	struct kvm_irqfd irqfd = { 0 };
	struct vm_msi_route *m;
	int fd, ret = 0;

	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&vm->route_lock);
	if (vm->nr_msi == vm->cap_msi) {
		unsigned cap = vm->cap_msi ? vm->cap_msi * 2 : 32;

		m = realloc(vm->msi, cap * sizeof(*m));
		if (!m) {
			ret = -ENOMEM;
			goto out;
		}
		vm->msi = m;
		vm->cap_msi = cap;
	}
	irqfd.fd = (uint32_t)fd;
	irqfd.gsi = vm->next_gsi;
	if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
		ret = -errno;
		pr_err("KVM_IRQFD (GSI %u): %s", irqfd.gsi, strerror(errno));
		goto out;
	}
	vm->msi[vm->nr_msi++] = (struct vm_msi_route){ .gsi = vm->next_gsi };
	*gsi = vm->next_gsi++;
	*efd = fd;
out:
	pthread_mutex_unlock(&vm->route_lock);
	if (ret)
		close(fd);
	return ret;
}

int vm_intx_irqfd(struct vm *vm, unsigned gsi, int trigger, int resample, bool assign)
{
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)trigger, .gsi = gsi,
		.flags = assign ? KVM_IRQFD_FLAG_RESAMPLE : KVM_IRQFD_FLAG_DEASSIGN,
		.resamplefd = assign ? (uint32_t)resample : 0,
	};

	if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
		int err = errno;

		pr_err("KVM_IRQFD %s (GSI %u, level with resample): %s",
		       assign ? "assign" : "deassign", gsi, strerror(err));
		return -err;
	}
	return 0;
}

int vm_msi_route(struct vm *vm, unsigned gsi, uint64_t addr, uint32_t data)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&vm->route_lock);
	for (unsigned i = 0; i < vm->nr_msi; i++) {
		if (vm->msi[i].gsi != gsi)
			continue;
		vm->msi[i] = (struct vm_msi_route){ .gsi = gsi, .valid = true, .addr = addr,
						    .data = data };
		ret = set_gsi_routing(vm);
		break;
	}
	pthread_mutex_unlock(&vm->route_lock);
	return ret;
}

int vm_memslot(struct vm *vm, int *slot, uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region r = {
		.guest_phys_addr = gpa, .memory_size = size, .userspace_addr = (uintptr_t)hva,
	};
	int ret = 0, n = *slot;

	pthread_mutex_lock(&vm->slot_lock);
	if (n < 0) {
		if (!size)
			goto out;
		for (n = 0; n < 64 && (vm->dyn_slots >> n & 1); n++)
			;
		if (n == 64) {
			ret = -ENOSPC;
			goto out;
		}
		n += VM_SLOT_DYNAMIC;
	}
	r.slot = (uint32_t)n;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
		ret = -errno;
		goto out;
	}
	if (size) {
		vm->dyn_slots |= 1ull << (n - VM_SLOT_DYNAMIC);
		*slot = n;
	} else {
		vm->dyn_slots &= ~(1ull << (n - VM_SLOT_DYNAMIC));
		*slot = -1;
	}
out:
	pthread_mutex_unlock(&vm->slot_lock);
	return ret;
}

int vm_ioeventfd(struct vm *vm, uint64_t addr, unsigned len, int fd, bool assign)
{
	struct kvm_ioeventfd io = {
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0) {
		int e = errno;

		pr_debug("KVM_IOEVENTFD %s at 0x%llx: %s", assign ? "assign" : "deassign",
			 (unsigned long long)addr, strerror(e));
		return -e;
	}
	return 0;
}

/* Creates the VM fd with what a PC has on its board before any device: irqchip and PIT. */
/* One line for a failed ioctl; errno is read before the log call can change it. */
static int ioctl_failed(const char *what)
{
	int err = errno;

	pr_err("%s: %s", what, strerror(err));
	return -err;
}

static int create_kvm_vm(struct vm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		return ioctl_failed("KVM_CREATE_VM");
	}
	/* Intel needs these two private ranges for real mode; others ignore them. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_KVM_TSS) < 0)
		pr_debug("KVM_SET_TSS_ADDR: %s", strerror(errno));
	uint64_t ident = LAYOUT_KVM_IDENTITY;

	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0 &&
	    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0)
		pr_debug("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		return ioctl_failed("KVM_CREATE_IRQCHIP");
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		return ioctl_failed("KVM_CREATE_PIT2");
	}
	pthread_mutex_lock(&vm->route_lock);
	int ret = set_gsi_routing(vm);

	pthread_mutex_unlock(&vm->route_lock);
	return ret;
}

static int add_memslots(struct vm *vm)
{
	for (unsigned i = 0; i < vm->mem.nr; i++) {
		const struct guest_region *r = &vm->mem.region[i];
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uintptr_t)r->hva,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0) {
			int err = errno;

			pr_err("KVM_SET_USER_MEMORY_REGION (slot %u, %llu MiB at 0x%llx): %s", i,
			       (unsigned long long)(r->size >> 20), (unsigned long long)r->gpa,
			       strerror(err));
			return -err;
		}
		vm->nr_slots++;
	}
	return 0;
}

static void mem_error(const struct mem_options *m, int err)
{
	if (err == -EINVAL && m->hugepage_size)
		pr_err("--memory: %llu MiB is not a multiple of the %llu MiB huge page size",
		       (unsigned long long)(m->size >> 20),
		       (unsigned long long)(m->hugepage_size >> 20));
	else if (m->hugepage_size && (err == -ENOSPC || err == -ENOMEM || err == -EINVAL))
		pr_err("--memory: cannot reserve %llu MiB of %llu MiB huge pages: the pool is too "
		       "small (see /sys/kernel/mm/hugepages/)", (unsigned long long)(m->size >> 20),
		       (unsigned long long)(m->hugepage_size >> 20));
	else
		pr_err("--memory: cannot allocate %llu MiB of guest RAM: %s",
		       (unsigned long long)(m->size >> 20), strerror(-err));
}

int vm_kvm_check(const struct vm_config *cfg)
{
	int fd = open_kvm(cfg->kvm_path ? cfg->kvm_path : "/dev/kvm");

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

int vm_open(struct vm *vm, const struct vm_config *cfg)
{
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->cfg = cfg;
	vm->kvm_fd = vm->vm_fd = vm->stop_efd = vm->serial_fd = -1;
	vm->mem.fd = -1;
	vm->next_gsi = 24;
	pthread_mutex_init(&vm->route_lock, NULL);
	pthread_mutex_init(&vm->slot_lock, NULL);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	ret = bus_init(&vm->pio, "pio");
	if (ret == 0)
		ret = bus_init(&vm->mmio, "mmio");
	if (ret)
		return ret;
	/* A guest write on either bus may move a range on the other (BARs, ECAM, PM). */
	bus_share_defer_queue(&vm->pio, &vm->mmio);
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_efd < 0)
		return -errno;
	ret = open_kvm(cfg->kvm_path ? cfg->kvm_path : "/dev/kvm");
	if (ret < 0)
		return ret;
	vm->kvm_fd = ret;
	int max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);

	if (max > 0 && cfg->cpus > (unsigned)max) {
		pr_err("--cpus %u: this host's KVM allows at most %d vCPUs", cfg->cpus, max);
		return -EINVAL;
	}
	ret = create_kvm_vm(vm);
	if (ret)
		return ret;
	ret = fetch_supported_cpuid(vm);
	if (ret) {
		pr_err("KVM_GET_SUPPORTED_CPUID: %s", strerror(-ret));
		return ret;
	}
	ret = guest_mem_alloc(&vm->mem, &cfg->mem);
	if (ret) {
		mem_error(&cfg->mem, ret);
		return ret;
	}
	return add_memslots(vm);
}

int vm_create_vcpus(struct vm *vm)
{
	vm->vcpus = calloc(vm->cfg->cpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (unsigned i = 0; i < vm->cfg->cpus; i++) {
		/* Counted first so that vm_close() releases a half-made vCPU too. */
		vm->vcpus[i].fd = -1;
		vm->nr_vcpus++;
		int ret = vcpu_init(vm, &vm->vcpus[i], i);

		if (ret)
			return ret;
	}
	return 0;
}

void vm_request_stop(struct vm *vm, enum vm_stop why, const char *fmt, ...)
{
	int expected = VM_RUNNING;
	uint64_t one = 1;

	if (!atomic_compare_exchange_strong(&vm->stop, &expected, (int)why))
		return;
	if (fmt) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(vm->stop_why, sizeof(vm->stop_why), fmt, ap);
		va_end(ap);
	}
	/* Parked vCPUs wake to see the stop; running ones are kicked out of KVM_RUN. */
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	if (write(vm->stop_efd, &one, sizeof(one)) < 0)
		pr_debug("stop eventfd: %s", strerror(errno));
}

void vm_vcpu_park(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (atomic_load(&vm->pause_req) && atomic_load(&vm->stop) == VM_RUNNING)
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->parked--;
	pthread_mutex_unlock(&vm->pause_lock);
}

#define VM_PAUSE_TIMEOUT_MS 5000

static void vm_resume_vcpus(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->pause_req, false);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

/* The vCPUs' half of vm_pause(). */
static int vm_pause_vcpus(struct vm *vm)
{
	unsigned running = 0;
	struct timespec until;
	int ret = 0;

	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		running += vm->vcpus[i].started;
	atomic_store(&vm->pause_req, true);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += VM_PAUSE_TIMEOUT_MS / 1000;
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->parked < running && atomic_load(&vm->stop) == VM_RUNNING && !ret)
		ret = pthread_cond_timedwait(&vm->pause_cond, &vm->pause_lock, &until);
	pthread_mutex_unlock(&vm->pause_lock);
	if (ret) {
		vm_resume_vcpus(vm);
		return -ETIMEDOUT;
	}
	return 0;
}

/*
 * vCPUs first: once none runs, no new notify reaches a device, and the
 * devices then finish what they hold. A passed-through (VFIO) device is
 * left alone: its DMA and interrupts are the hardware's, and with the
 * vCPUs stopped nothing new is asked of it. With no virtio device the
 * second step costs nothing (vfio_devices.c pauses around a hot-unplug).
 * Quiescing devices already quiesced returns at once, so a vm_pause()
 * while paused does not wait or deadlock.
 */
int vm_pause(struct vm *vm)
{
	int ret = vm_pause_vcpus(vm);

	if (ret)
		return ret;
	ret = vm_virtio_quiesce(vm, VM_PAUSE_TIMEOUT_MS);
	if (ret) {
		vm_resume_vcpus(vm);
		return ret;
	}
	return 0;
}

/* The other way round: the devices serve what came meanwhile, then the vCPUs run. */
void vm_resume(struct vm *vm)
{
	vm_virtio_resume(vm);
	vm_resume_vcpus(vm);
}

bool vm_paused(struct vm *vm)
{
	return atomic_load(&vm->pause_req);
}

/* ---- what devices get instead of KVM fds ---- */

static void kvm_irq_line(void *opaque, unsigned gsi, int level)
{
	struct vm *vm = opaque;
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		pr_warn("KVM_IRQ_LINE %u: %s", gsi, strerror(errno));
}

int vm_signal_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	struct kvm_msi msi = {
		.address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32), .data = data,
	};

	/* 0: the guest blocked it (a masked vector is not ours to see); < 0 an error. */
	if (ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &msi) < 0) {
		int ret = -errno;

		pr_warn("KVM_SIGNAL_MSI to %#llx: %s", (unsigned long long)addr, strerror(-ret));
		return ret;
	}
	return 0;
}

void vm_acpi_config(const struct vm *vm, struct acpi_config *acpi)
{
	*acpi = (struct acpi_config){
		.ncpus = vm->cfg->cpus,
		.pm_base = PORT_PM_BASE,
		.sci_irq = IRQ_SCI,
		.reset_port = PORT_RESET_CF9,
		.com1_port = PORT_COM1,
		.com1_irq = IRQ_COM1,
		.pci_mmio32_base = LAYOUT_PCI_MMIO32,
		.pci_mmio32_size = LAYOUT_PCI_MMIO32_SIZE,
		.pci_prt = true, /* INTx of PCI functions, for drivers without MSI-X */
	};
}

struct irq_line vm_irq_line(struct vm *vm, unsigned gsi)
{
	return (struct irq_line){ .set_level = kvm_irq_line, .opaque = vm, .gsi = gsi };
}

static int plat_memslot(void *opaque, int *slot, uint64_t gpa, uint64_t size, void *hva)
{
	return vm_memslot(opaque, slot, gpa, size, hva);
}

static int plat_ioeventfd(void *opaque, uint64_t addr, unsigned len, int fd, bool assign)
{
	return vm_ioeventfd(opaque, addr, len, fd, assign);
}

static int plat_irqfd(void *opaque, unsigned *gsi, int *efd)
{
	return vm_irqfd_new(opaque, gsi, efd);
}

static int plat_msi_route(void *opaque, unsigned gsi, uint64_t addr, uint32_t data)
{
	return vm_msi_route(opaque, gsi, addr, data);
}

static int plat_intx_irqfd(void *opaque, unsigned gsi, int trigger, int resample, bool assign)
{
	return vm_intx_irqfd(opaque, gsi, trigger, resample, assign);
}

struct pci_platform vm_pci_platform(struct vm *vm, unsigned slot)
{
	struct pci_platform plat = {
		.memslot = plat_memslot, .ioeventfd = plat_ioeventfd, .irqfd = plat_irqfd,
		.msi_route = plat_msi_route, .intx_irqfd = plat_intx_irqfd,
		.opaque = vm, .mmio = &vm->mmio, .pio = &vm->pio,
		.intx = vm_irq_line(vm, acpi_prt_gsi(slot, 0)),
	};

	for (unsigned pin = 0; pin < 4; pin++)
		plat.intx_gsi[pin] = acpi_prt_gsi(slot, pin);
	return plat;
}

static void vm_power(void *opaque, enum power_event ev)
{
	struct vm *vm = opaque;

	if (ev == POWER_OFF)
		vm_request_stop(vm, VM_STOP_POWEROFF, NULL);
	else
		vm_request_stop(vm, VM_STOP_RESET, NULL);
}

static int add_pio(struct vm *vm, uint64_t base, uint64_t len, const struct bus_ops *ops,
		   void *opaque)
{
	int ret = bus_register(&vm->pio, base, len, ops, opaque);

	if (ret)
		pr_err("%s: cannot claim ports 0x%llx-0x%llx: %s", ops->name,
		       (unsigned long long)base, (unsigned long long)(base + len - 1),
		       strerror(-ret));
	return ret;
}

static int open_serial(struct vm *vm)
{
	switch (vm->cfg->serial) {
	case SERIAL_STDIO:
		vm->serial_fd = STDOUT_FILENO;
		return 0;
	case SERIAL_FILE:
		vm->serial_fd = open(vm->cfg->serial_path,
				     O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY |
				     (vm->cfg->serial_append ? O_APPEND : O_TRUNC), 0644);
		if (vm->serial_fd < 0) {
			int err = errno;

			pr_err("--serial file=%s: %s", vm->cfg->serial_path, strerror(err));
			return -err;
		}
		vm->serial_fd_owned = true;
		return 0;
	case SERIAL_NONE:
		vm->serial_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		vm->serial_fd_owned = vm->serial_fd >= 0;
		return vm->serial_fd < 0 ? -errno : 0;
	}
	return -EINVAL;
}

static int create_devices(struct vm *vm)
{
	vm->power = (struct power_ctl){ .request = vm_power, .opaque = vm };
	vm->irq_com1 = (struct irq_line){ .set_level = kvm_irq_line, .opaque = vm, .gsi = IRQ_COM1 };
	vm->irq_rtc = (struct irq_line){ .set_level = kvm_irq_line, .opaque = vm, .gsi = IRQ_RTC };
	vm->irq_sci = (struct irq_line){ .set_level = kvm_irq_line, .opaque = vm, .gsi = IRQ_SCI };

	vm->com1 = uart_new("com1", &vm->irq_com1, vm->serial_fd);
	vm->rtc = rtc_new(&vm->irq_rtc);
	vm->kbd = i8042_new(&vm->power);
	vm->pm = acpi_pm_new(&vm->irq_sci, &vm->power);
	if (!vm->com1 || !vm->rtc || !vm->kbd || !vm->pm)
		return -ENOMEM;
	pci_bus_init(&vm->pci);
	q35_host_init(&vm->host_bridge, &vm->pci, &vm->power);
	return pci_bus_add(&vm->pci, &vm->host_bridge.mch);
}

static void apply_bars(void *arg)
{
	struct vm *vm = arg;

	pci_bus_apply_bars(&vm->pci);
}

/* A config write changed what a BAR decodes (under the bus lock): remap later. */
static void bars_changed(void *opaque)
{
	struct vm *vm = opaque;

	if (bus_defer(&vm->mmio, apply_bars, vm))
		log_msg(LOG_WARN, "pci", "cannot queue a BAR remap");
}

int vm_add_platform_devices(struct vm *vm)
{
	int ret = open_serial(vm);

	if (ret == 0)
		ret = create_devices(vm);
	if (ret)
		return ret;
	pci_set_bars_hook(&vm->pci, bars_changed, vm);
	rtc_set_ram_size(vm->rtc, vm->mem.region[0].size,
			 vm->mem.nr > 1 ? vm->mem.region[1].size : 0);
	if ((ret = add_pio(vm, PORT_COM1, 8, &uart_ops, vm->com1)) ||
	    (ret = add_pio(vm, PORT_RTC, 2, &rtc_ops, vm->rtc)) ||
	    (ret = add_pio(vm, PORT_I8042_DATA, 5, &i8042_ops, vm->kbd)) ||
	    (ret = add_pio(vm, PORT_PM_BASE, PORT_PM_LEN, &acpi_pm_ops, vm->pm)) ||
	    (ret = add_pio(vm, PORT_PCI_CONF_ADDR, 8, &pci_conf_ops, &vm->pci)))
		return ret;
	return 0;
}

void vm_close(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
	vm->nr_vcpus = 0;
	vm_virtio_free(vm);
	vm_vfio_free(vm);
	q35_free(vm);
	if (vm->com1)
		uart_free(vm->com1);
	if (vm->rtc)
		rtc_free(vm->rtc);
	if (vm->kbd)
		i8042_free(vm->kbd);
	if (vm->pm)
		acpi_pm_free(vm->pm);
	if (vm->serial_fd_owned)
		close(vm->serial_fd);
	free(vm->supported_cpuid);
	free(vm->msi);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	guest_mem_free(&vm->mem);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->stop_efd = vm->serial_fd = vm->mem.fd = -1;
}
