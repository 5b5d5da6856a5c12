// SPDX-License-Identifier: MIT
/*
 * The Q35 platform that a firmware boot gets, on top of the legacy devices
 * every machine has: Debian's stock OVMF finds what it looks for on a QEMU
 * q35 machine, and the guest after it sees a PCIe topology.
 *
 *   00:00.0  the MCH (vmm/pci.c), whose PCIEXBAR opens ECAM
 *   00:01.0 .. 00:0N.0  PCIe root ports, one per future passthrough slot
 *   00:1f.0  the ICH9 LPC bridge: PMBASE and ACPI_EN place the ACPI PM block
 *   0x510    fw_cfg (I/O and DMA): e820, the ACPI tables through the table
 *            loader, the 64-bit PCI window size, the kernel to boot
 *   flash    CODE (read-only) at the top of 4 GiB, VARS just below it
 *
 * Guest-programmed ranges (ECAM, the PM block) move through bus_defer():
 * the config write that moves them runs under the bus's read lock.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../core/layout.h"
#include "../core/log.h"
#include "q35.h"
#include "vfio_devices.h"
#include "vm.h"
#include "../devices/fw_cfg.h"
#include "../devices/pci_devices.h"
#include "../firmware/firmware.h"

/* Where OVMF puts ECAM on q35 (its PcdPciExpressBaseAddress): 256 buses. */
#define Q35_ECAM_BASE    0xb0000000ULL
#define Q35_ECAM_END_BUS 255

/* Memslots for the two flash devices, clear of the RAM slots. */
#define Q35_FLASH_SLOT   32

enum { FLASH_CODE, FLASH_VARS, NR_FLASH };

struct q35_flash {
	struct q35 *q;
	struct pflash *pf;
	uint64_t gpa;
	unsigned slot;
	const char *what; /* "--firmware" or "--vars" */
};

struct q35 {
	struct vm *vm;
	pthread_mutex_t remap_lock; /* deferred work of two vCPUs at once */
	struct fw_cfg *fw;
	struct q35_flash flash[NR_FLASH];
	struct lpc_ich9 *lpc;
	struct pcie_root_port *port[VM_ROOT_PORTS];
	/* What each port's secondary bus reset callback gets: which port, of which machine. */
	struct q35_port_ref {
		struct q35 *q;
		unsigned i;
	} port_ref[VM_ROOT_PORTS];
	/* Written when the guest switches a slot's power: the main loop looks (q35_hotplug_fd()). */
	int hotplug_efd;
	struct pci_ecam ecam_mapped;
	bool pm_mapped;
	uint16_t pm_base;
	uint64_t mmio64_request;          /* what X-PciMmio64Mb asks for */
	uint64_t mmio64_base, mmio64_size; /* where OVMF will put it */
};

/* ---- flash: a read-only memslot while the device is in read-array mode ---- */

static int flash_map(struct q35_flash *f, bool map)
{
	struct kvm_userspace_memory_region r = {
		.slot = f->slot,
		.flags = KVM_MEM_READONLY,
		.guest_phys_addr = f->gpa,
		.memory_size = map ? pflash_size(f->pf) : 0,
		.userspace_addr = (uintptr_t)pflash_data(f->pf),
	};

	if (ioctl(f->q->vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return -errno;
	return 0;
}

/*
 * Runs on the vCPU that sent the flash a command, under the device's lock:
 * reads bypass the device (a memslot) only while they would read the array.
 */
static void flash_mode(void *opaque, bool array_mode)
{
	struct q35_flash *f = opaque;
	int ret = flash_map(f, array_mode);

	if (ret)
		vm_request_stop(f->q->vm, VM_STOP_ERROR, "%s: cannot %s the flash memslot: %s",
				f->what, array_mode ? "map" : "unmap", strerror(-ret));
}

static int flash_open(struct q35 *q, unsigned i, const char *path, bool readonly,
		      uint64_t gpa_end, const char *what)
{
	struct q35_flash *f = &q->flash[i];
	const char *why = NULL;
	uint64_t size;
	int ret;

	f->q = q;
	f->what = what;
	f->slot = Q35_FLASH_SLOT + i;
	f->pf = pflash_open(path, readonly, &why);
	if (!f->pf) {
		int e = errno ? errno : EINVAL;

		if (why)
			pr_err("%s %s", what, why);
		else
			pr_err("%s %s: %s", what, path, strerror(e));
		return -e;
	}
	/* A VARS file this user cannot write is allowed: pflash_open() has said so. */
	size = pflash_size(f->pf);
	f->gpa = gpa_end - size;
	ret = bus_register(&q->vm->mmio, f->gpa, size, &pflash_ops, f->pf);
	if (ret) {
		pr_err("%s %s: %llu KiB of flash at 0x%llx overlaps another device", what, path,
		       (unsigned long long)(size >> 10), (unsigned long long)f->gpa);
		return ret;
	}
	ret = flash_map(f, true);
	if (ret) {
		pr_err("%s %s: KVM_SET_USER_MEMORY_REGION (read-only, at 0x%llx): %s", what, path,
		       (unsigned long long)f->gpa, strerror(-ret));
		return ret;
	}
	pflash_set_mode_hook(f->pf, flash_mode, f);
	pr_debug("%s %s: %llu KiB at 0x%llx", what, path, (unsigned long long)(size >> 10),
		 (unsigned long long)f->gpa);
	return 0;
}

static int setup_flash(struct q35 *q)
{
	const struct vm_config *cfg = q->vm->cfg;
	uint64_t total;
	int ret;

	if (ioctl(q->vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) <= 0) {
		pr_err("--firmware: this host's KVM has no read-only memslots (KVM_CAP_READONLY_MEM)");
		return -ENOTSUP;
	}
	ret = flash_open(q, FLASH_CODE, cfg->firmware, true, SZ_4G, "--firmware");
	if (ret)
		return ret;
	ret = flash_open(q, FLASH_VARS, cfg->vars, false, q->flash[FLASH_CODE].gpa, "--vars");
	if (ret)
		return ret;
	total = SZ_4G - q->flash[FLASH_VARS].gpa;
	if (total > PFLASH_MAX_SIZE) {
		pr_err("--firmware %s with --vars %s: %llu KiB of flash, more than the %llu KiB "
		       "below 4 GiB that firmware may use", cfg->firmware, cfg->vars,
		       (unsigned long long)(total >> 10),
		       (unsigned long long)(PFLASH_MAX_SIZE >> 10));
		return -EFBIG;
	}
	return 0;
}

/* ---- ranges the guest places: ECAM and the ACPI PM block ---- */

static void ecam_apply(void *arg)
{
	struct q35 *q = arg;
	struct pci_ecam want = pci_ecam_window(&q->vm->pci);
	int ret;

	pthread_mutex_lock(&q->remap_lock);
	if (want.enabled == q->ecam_mapped.enabled && want.base == q->ecam_mapped.base &&
	    want.size == q->ecam_mapped.size)
		goto out;
	if (q->ecam_mapped.enabled)
		bus_unregister(&q->vm->mmio, q->ecam_mapped.base);
	q->ecam_mapped = (struct pci_ecam){ 0 };
	if (!want.enabled)
		goto out;
	ret = bus_register(&q->vm->mmio, want.base, want.size, &pci_ecam_ops, &q->vm->pci);
	if (ret) {
		log_msg(LOG_WARN, "q35-mch", "the guest put ECAM at 0x%llx-0x%llx, over another "
			"device: left unmapped (config space stays reachable through 0xCF8)",
			(unsigned long long)want.base,
			(unsigned long long)(want.base + want.size - 1));
		goto out;
	}
	q->ecam_mapped = want;
	pr_debug("ECAM at 0x%llx, %llu MiB", (unsigned long long)want.base,
		 (unsigned long long)(want.size >> 20));
out:
	pthread_mutex_unlock(&q->remap_lock);
}

static void ecam_changed(void *opaque)
{
	struct q35 *q = opaque;

	if (bus_defer(&q->vm->mmio, ecam_apply, q))
		log_msg(LOG_WARN, "q35-mch", "cannot queue the ECAM move");
}

static void pm_apply(void *arg)
{
	struct q35 *q = arg;
	bool enabled;
	uint16_t base;
	int ret;

	pthread_mutex_lock(&q->remap_lock);
	pthread_mutex_lock(&q->vm->pci.lock);
	lpc_ich9_pm_state(q->lpc, &enabled, &base);
	pthread_mutex_unlock(&q->vm->pci.lock);
	if (enabled == q->pm_mapped && (!enabled || base == q->pm_base))
		goto out;
	if (q->pm_mapped)
		bus_unregister(&q->vm->pio, q->pm_base);
	q->pm_mapped = false;
	if (!enabled)
		goto out;
	ret = bus_register(&q->vm->pio, base, LPC_ICH9_PM_LEN, &acpi_pm_ops, q->vm->pm);
	if (ret) {
		log_msg(LOG_WARN, "ich9-lpc", "the guest put the ACPI PM block at ports 0x%x-0x%x, "
			"over another device: left unmapped", base, base + LPC_ICH9_PM_LEN - 1);
		goto out;
	}
	q->pm_mapped = true;
	q->pm_base = base;
	pr_debug("ACPI PM block at port 0x%x", base);
out:
	pthread_mutex_unlock(&q->remap_lock);
}

static void pm_changed(void *opaque, bool enabled, uint16_t base)
{
	struct q35 *q = opaque;

	(void)enabled;
	(void)base;
	if (bus_defer(&q->vm->pio, pm_apply, q))
		log_msg(LOG_WARN, "ich9-lpc", "cannot queue the PM block move");
}

/* Deferred from the guest's config write: the functions behind the port are reset. */
static void port_reset_behind(void *arg)
{
	struct q35_port_ref *ref = arg;
	struct pci_device *port = pcie_root_port_pci(ref->q->port[ref->i]);
	unsigned n = pci_bus_reset_behind(&ref->q->vm->pci, port);

	pr_debug("root port %u: secondary bus reset, %u function(s) behind it", ref->i, n);
}

/* Secondary Bus Reset asserted: called under the PCI lock, so the reset itself waits. */
static void port_bus_reset(void *opaque)
{
	struct q35_port_ref *ref = opaque;

	if (bus_defer(&ref->q->vm->mmio, port_reset_behind, ref))
		log_msg(LOG_WARN, "q35", "root port %u: cannot queue its secondary bus reset", ref->i);
}

static void port_msi(void *opaque, uint64_t addr, uint32_t data)
{
	struct q35_port_ref *ref = opaque;

	(void)vm_signal_msi(ref->q->vm, addr, data);
}

/* Under the PCI lock, from a vCPU: only wakes the main loop, which reads the slots' power. */
static void port_power(void *opaque, bool on)
{
	struct q35_port_ref *ref = opaque;
	uint64_t one = 1;

	pr_debug("root port 00:%02x.0: the guest switched its slot %s", ref->i + 1, on ? "on" : "off");
	if (write(ref->q->hotplug_efd, &one, sizeof(one)) < 0)
		log_msg(LOG_WARN, "q35", "root port %u: cannot tell the main loop of its power", ref->i);
}

/* Whether a --vfio slot sits behind port i from the start. */
static bool port_taken(const struct vm_config *cfg, unsigned i)
{
	for (unsigned k = 0; cfg->vfio_plan && k < cfg->vfio_plan->nr; k++)
		if (cfg->vfio_plan->fn[k].port == i)
			return true;
	return false;
}

/*
 * Every port is a hot-plug slot: vm.remove-device takes a --vfio function
 * as it takes one added later. A free port keeps --hotplug-reserve's room
 * for the one to come; a taken one has its device's.
 */
static void port_hotplug(struct q35 *q, unsigned i)
{
	const struct vm_hotplug_reserve *r = &q->vm->cfg->hotplug_reserve;
	bool free_port = !port_taken(q->vm->cfg, i);
	struct pcie_root_port_hotplug hp = {
		.msi = port_msi, .power = port_power, .opaque = &q->port_ref[i],
		.intx = vm_pci_platform(q->vm, 1 + i).intx,
		.io_reserve = free_port ? r->io : 0,
		.mem_reserve = free_port ? (uint32_t)r->mem : 0,
		.pref64_reserve = free_port ? r->pref64 : 0,
	};

	pcie_root_port_set_hotplug(q->port[i], &hp);
}

static int setup_pci(struct q35 *q)
{
	struct vm *vm = q->vm;
	int ret;

	pci_set_ecam_hook(&vm->pci, ecam_changed, q);
	/* The PM block decodes only once the firmware sets PMBASE and ACPI_EN. */
	ret = bus_unregister(&vm->pio, PORT_PM_BASE);
	if (ret)
		return ret;
	q->lpc = lpc_ich9_new(LPC_ICH9_DEVFN, pm_changed, q);
	if (!q->lpc)
		return -errno;
	ret = pci_bus_add(&vm->pci, lpc_ich9_pci(q->lpc));
	for (unsigned i = 0; i < VM_ROOT_PORTS && !ret; i++) {
		q->port_ref[i] = (struct q35_port_ref){ .q = q, .i = i };
		q->port[i] = pcie_root_port_new(PCI_DEVFN(1 + i, 0), (uint8_t)(1 + i), false,
						port_bus_reset, &q->port_ref[i]);
		if (!q->port[i])
			return -errno;
		port_hotplug(q, i);
		ret = pci_bus_add(&vm->pci, pcie_root_port_pci(q->port[i]));
	}
	if (ret)
		pr_err("q35: cannot add the PCI functions: %s", strerror(-ret));
	return ret;
}

int q35_hotplug_fd(struct vm *vm)
{
	return vm->q35 ? vm->q35->hotplug_efd : -1;
}

struct pcie_root_port *q35_root_port(struct vm *vm, unsigned i)
{
	return vm->q35 && i < VM_ROOT_PORTS ? vm->q35->port[i] : NULL;
}

/* ---- the 64-bit PCI window, as OVMF will place it ---- */

static const struct kvm_cpuid_entry2 *cpuid_leaf(const struct vm *vm, uint32_t fn)
{
	const struct kvm_cpuid2 *c = vm->supported_cpuid;

	for (unsigned i = 0; c && i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == 0)
			return &c->entries[i];
	return NULL;
}

/* What OVMF will read of the guest's CPUID (the vCPUs get KVM's supported set). */
static void ovmf_cpu_of(const struct vm *vm, struct ovmf_cpu *cpu)
{
	const struct kvm_cpuid_entry2 *e = cpuid_leaf(vm, 0x80000000);

	memset(cpu, 0, sizeof(*cpu));
	if (e && (e->ebx | e->ecx | e->edx)) {
		memcpy(cpu->vendor, &e->ebx, 4);
		memcpy(cpu->vendor + 4, &e->edx, 4);
		memcpy(cpu->vendor + 8, &e->ecx, 4);
	}
	e = cpuid_leaf(vm, 0x80000008);
	if (e)
		cpu->phys_bits = e->eax & 0xff;
	e = cpuid_leaf(vm, 0x80000001);
	cpu->page_1g = e && (e->edx & (1u << 26));
}

/* What OVMF will need of the 64-bit window, and what to name in messages. */
struct mmio64_need {
	uint64_t bytes, align;
	unsigned reserved;    /* free root ports with a pref64 reservation */
	bool reserve_largest; /* that reservation is the biggest thing to place */
	char largest[96];     /* the biggest: "BDF BARn", or the reservation */
};

/* "64G": a power of two of at least 1 MiB, as --hotplug-reserve takes it. */
static void fmt_pow2(char *buf, size_t len, uint64_t v)
{
	if (v >= 1ULL << 40)
		snprintf(buf, len, "%lluT", (unsigned long long)(v >> 40));
	else if (v >= 1ULL << 30)
		snprintf(buf, len, "%lluG", (unsigned long long)(v >> 30));
	else
		snprintf(buf, len, "%lluM", (unsigned long long)(v >> 20));
}

/*
 * The 64-bit BARs on bus 0 (the virtio functions'), the --vfio functions'
 * prefetchable ones behind their root ports, and the pref64 reservation
 * OVMF pads each free root port's window with.
 */
static void mmio64_need(const struct q35 *q, struct mmio64_need *nd)
{
	const struct vm *vm = q->vm;
	struct ovmf_bar64 bars[256];
	unsigned n = 0, nvfio;
	uint64_t max = 0;
	char size[24];

	for (unsigned devfn = 0; devfn < 256; devfn++) {
		const struct pci_device *d = vm->pci.dev[devfn];

		for (unsigned b = 0; d && b < 6 && n < 64; b++)
			if (d->bar[b].kind == PCI_BAR_MEM64)
				bars[n++] = (struct ovmf_bar64){ .port = -1, .size = d->bar[b].size };
	}
	nvfio = vm_vfio_bars64(vm->cfg, bars + n, 256 - n, nd->largest, sizeof(nd->largest));
	for (unsigned i = n; i < n + nvfio; i++)
		max = bars[i].size > max ? bars[i].size : max;
	n += nvfio;
	nd->reserved = vm_hotplug_bars64(vm->cfg, bars + n, 256 - n);
	n += nd->reserved;
	nd->reserve_largest = nd->reserved && vm->cfg->hotplug_reserve.pref64 > max;
	if (nd->reserve_largest) {
		fmt_pow2(size, sizeof(size), vm->cfg->hotplug_reserve.pref64);
		snprintf(nd->largest, sizeof(nd->largest), "--hotplug-reserve pref64=%s behind each "
			 "of %u free root ports", size, nd->reserved);
	}
	nd->bytes = ovmf_mmio64_need(bars, n, &nd->align);
}

/*
 * Whether need bytes, from a start aligned to align (a power of two), fit
 * in the window placed; its end does not wrap (ovmf_mmio64_window), and
 * neither the start nor start + need may.
 */
static bool mmio64_fits(const struct q35 *q, uint64_t need, uint64_t align)
{
	uint64_t end = q->mmio64_base + q->mmio64_size, start;

	if (!need)
		return true;
	if (q->mmio64_base > UINT64_MAX - (align - 1))
		return false;
	start = (q->mmio64_base + align - 1) & ~(align - 1);
	return start <= end && need <= end - start;
}

/* Whether the window placed ends within limit (2^bits of the guest's physical addresses). */
static bool mmio64_within(const struct q35 *q, uint64_t limit)
{
	return q->mmio64_size <= limit && q->mmio64_base <= limit - q->mmio64_size;
}

/* The power of two at least need (not 0), at most 2^63. */
static uint64_t pow2_ceil(uint64_t need)
{
	uint64_t p = 1ULL << (63 - __builtin_clzll(need));

	return p < need && p < 1ULL << 63 ? p << 1 : p;
}

/*
 * The default request is a quarter of the guest's physical address space,
 * at most 1 TiB and at least OVMF's own 32 GiB: room for several 16-64
 * GiB GPU BARs, each naturally aligned (128 GiB on a 39-bit CPU), and
 * grown to the next power of two when the passed-through BARs need more
 * (two 128 GiB BARs behind two root ports need 512 GiB). OVMF may still
 * widen it to an eighth of a wide address space, and it decides where the
 * window goes; the DSDT must say the same, so the placement comes from the
 * same rules. A window the BARs do not fit in is refused here, by name:
 * OVMF would leave the largest device unassigned, which the guest's
 * driver only reports as a device that does not work.
 */
static int place_mmio64(struct q35 *q)
{
	const struct vm *vm = q->vm;
	uint64_t top = SZ_4G, size = vm->cfg->pci_mmio64_size, limit, need, align;
	struct mmio64_need nd;
	struct ovmf_cpu cpu;
	unsigned bits, cpu_bits;
	char b1[32], b2[32];
	const char *what, *largest;
	int ret;

	ovmf_cpu_of(vm, &cpu);
	cpu_bits = cpu.phys_bits ? cpu.phys_bits : 36;
	for (unsigned i = 0; i < vm->mem.nr; i++)
		if (vm->mem.region[i].gpa + vm->mem.region[i].size > top)
			top = vm->mem.region[i].gpa + vm->mem.region[i].size;
	mmio64_need(q, &nd);
	need = nd.bytes;
	align = nd.align;
	what = nd.reserved ? "the 64-bit BARs and hot-plug reservations" : "the 64-bit BARs";
	largest = nd.largest[0] ? nd.largest : "on bus 0";
	if (!size) {
		size = cpu_bits >= 42 ? 1ULL << 40 : 1ULL << (cpu_bits - 2);
		if (size < 32 * SZ_1G)
			size = 32 * SZ_1G;
	}
	ret = ovmf_mmio64_window(top, size, &cpu, &q->mmio64_base, &q->mmio64_size, &bits);
	if (!ret && !vm->cfg->pci_mmio64_size && !mmio64_fits(q, need, align)) {
		while (!ret && !mmio64_fits(q, need, align) && size < 1ULL << 52) {
			size <<= 1;
			ret = ovmf_mmio64_window(top, size, &cpu, &q->mmio64_base, &q->mmio64_size,
						 &bits);
		}
		if (!ret)
			pr_info("64-bit PCI window: %s, to hold %s (%s of it as the firmware lays "
				"them out)", log_fmt_size(b1, sizeof(b1), q->mmio64_size), what,
				log_fmt_size(b2, sizeof(b2), need));
	}
	limit = cpu_bits >= 64 ? UINT64_MAX : 1ULL << cpu_bits;
	if ((ret || !mmio64_within(q, limit)) && !vm->cfg->pci_mmio64_size) {
		pr_err("%s: %s need %s of the 64-bit PCI window as the firmware lays them out (the "
		       "largest: %s), more than the guest's %u-bit physical addresses leave room for",
		       nd.reserve_largest ? "--hotplug-reserve" : "--vfio", what,
		       log_fmt_size(b1, sizeof(b1), need), largest, cpu_bits);
		return -ERANGE;
	}
	if (ret) {
		pr_err("--pci-mmio64 %llu MiB: no window that large fits below 2^64, let alone the "
		       "guest's %u-bit physical addresses", (unsigned long long)(size >> 20), cpu_bits);
		return -ERANGE;
	}
	if (!mmio64_within(q, limit)) {
		pr_err("--pci-mmio64 %llu MiB: the firmware would put the window at 0x%llx-0x%llx, "
		       "beyond the guest's %u-bit physical addresses", (unsigned long long)(size >> 20),
		       (unsigned long long)q->mmio64_base,
		       (unsigned long long)(q->mmio64_base + q->mmio64_size - 1), cpu_bits);
		return -ERANGE;
	}
	if (!mmio64_fits(q, need, align)) {
		uint64_t want = pow2_ceil(need); /* need is not 0: an empty need always fits */

		want = want < align ? align : want < SZ_1G ? SZ_1G : want;
		pr_err("--pci-mmio64: the 64-bit PCI window is %s, but %s need %s of it as the "
		       "firmware lays them out (the largest: %s): give --pci-mmio64 %lluG or more%s",
		       log_fmt_size(b1, sizeof(b1), q->mmio64_size), what,
		       log_fmt_size(b2, sizeof(b2), need), largest, (unsigned long long)(want >> 30),
		       nd.reserved ? ", or a smaller --hotplug-reserve pref64" : "");
		return -ENOSPC;
	}
	q->mmio64_request = size;
	pr_debug("64-bit PCI window: %llu GiB at 0x%llx (%s, %u-bit physical addresses)",
		 (unsigned long long)(q->mmio64_size >> 30), (unsigned long long)q->mmio64_base,
		 cpu.vendor[0] ? cpu.vendor : "no vendor", cpu_bits);
	return 0;
}

/* ---- fw_cfg ---- */

static int add_acpi(struct q35 *q)
{
	struct acpi_config acpi;
	struct acpi_fw_cfg_files f;
	int ret;

	vm_acpi_config(q->vm, &acpi);
	acpi.pci_mmio64_base = q->mmio64_base;
	acpi.pci_mmio64_size = q->mmio64_size;
	acpi.ecam_base = Q35_ECAM_BASE;
	acpi.ecam_end_bus = Q35_ECAM_END_BUS;
	ret = acpi_fw_cfg_files_build(&acpi, &f);

	if (ret)
		return ret;
	if (!(ret = fw_cfg_add_file(q->fw, ACPI_LOADER_TABLES_FILE, f.tables, f.tables_len)) &&
	    !(ret = fw_cfg_add_file(q->fw, ACPI_LOADER_RSDP_FILE, f.rsdp, f.rsdp_len)))
		ret = fw_cfg_add_file(q->fw, ACPI_LOADER_FILE, f.loader, f.loader_len);
	acpi_fw_cfg_files_free(&f);
	return ret;
}

static int add_kernel(struct q35 *q, const struct q35_boot *boot)
{
	int ret;

	if (!boot || !boot->kernel)
		return 0;
	ret = fw_cfg_add_linux(q->fw, boot->kernel, boot->kernel_size, NULL, 0,
			       q->vm->cfg->cmdline);
	if (ret == -ENOEXEC)
		pr_err("--kernel %s: shorter than its setup sectors say", q->vm->cfg->kernel);
	if (ret || !boot->initrd_size)
		return ret;
	if (boot->initrd_size > UINT32_MAX) {
		pr_err("--initrd %s: 4 GiB or more, more than fw_cfg can carry", q->vm->cfg->initrd);
		return -EFBIG;
	}
	ret = fw_cfg_add_u32(q->fw, FW_CFG_INITRD_SIZE, (uint32_t)boot->initrd_size);
	if (!ret)
		ret = fw_cfg_add_item_reader(q->fw, FW_CFG_INITRD_DATA, boot->initrd_size,
					     boot->read_initrd, boot->ctx);
	return ret;
}

/* The --disk devices, in order, first to boot (a --kernel boots before them all). */
static int add_bootorder(struct q35 *q)
{
	uint8_t slots[VM_MAX_DISKS];
	char order[VM_MAX_DISKS * 40];
	int n;

	if (!q->vm->cfg->nr_disks)
		return 0;
	for (unsigned i = 0; i < q->vm->cfg->nr_disks; i++)
		slots[i] = (uint8_t)(VM_VIRTIO_SLOT0 + i);
	n = ovmf_bootorder_file(slots, q->vm->cfg->nr_disks, order, sizeof(order));
	if (n < 0)
		return n;
	return fw_cfg_add_file(q->fw, OVMF_BOOTORDER_FILE, order, (size_t)n);
}

static int setup_fw_cfg(struct q35 *q, const struct q35_boot *boot)
{
	struct vm *vm = q->vm;
	uint8_t e820[20 * 16];
	char mmio64[32];
	int n, ret;

	q->fw = fw_cfg_new(&vm->mem);
	if (!q->fw)
		return -ENOMEM;
	n = ovmf_e820_file(&vm->mem, e820, sizeof(e820));
	if (n < 0)
		return n;
	if ((ret = fw_cfg_add_u16(q->fw, FW_CFG_NB_CPUS, (uint16_t)vm->cfg->cpus)) ||
	    (ret = fw_cfg_add_u16(q->fw, FW_CFG_MAX_CPUS, (uint16_t)vm->cfg->cpus)) ||
	    (ret = fw_cfg_add_u64(q->fw, FW_CFG_RAM_SIZE, vm->mem.total)) ||
	    (ret = fw_cfg_add_file(q->fw, OVMF_E820_FILE, e820, (size_t)n)))
		return ret;
	n = ovmf_mmio64_file(q->mmio64_request, mmio64, sizeof(mmio64));
	if (n < 0)
		return n;
	if ((ret = fw_cfg_add_file(q->fw, OVMF_MMIO64_FILE, mmio64, (size_t)n)) ||
	    (ret = add_acpi(q)) || (ret = add_kernel(q, boot)) || (ret = add_bootorder(q)))
		return ret;
	ret = bus_register(&vm->pio, FW_CFG_PORT_BASE, FW_CFG_PORT_LEN, &fw_cfg_ops, q->fw);
	if (ret)
		pr_err("fw_cfg: cannot claim ports 0x%x-0x%x: %s", FW_CFG_PORT_BASE,
		       FW_CFG_PORT_BASE + FW_CFG_PORT_LEN - 1, strerror(-ret));
	return ret;
}

int q35_setup(struct vm *vm, const struct q35_boot *boot)
{
	struct q35 *q = calloc(1, sizeof(*q));
	int ret;

	if (!q)
		return -ENOMEM;
	q->vm = vm;
	pthread_mutex_init(&q->remap_lock, NULL);
	vm->q35 = q;
	q->hotplug_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->hotplug_efd < 0)
		return -errno;
	if ((ret = setup_pci(q)) || (ret = place_mmio64(q)) || (ret = setup_flash(q)))
		return ret;
	ret = setup_fw_cfg(q, boot);
	if (ret && ret != -ENOEXEC && ret != -EFBIG)
		pr_err("fw_cfg: cannot build the firmware's configuration: %s", strerror(-ret));
	return ret;
}

void q35_free(struct vm *vm)
{
	struct q35 *q = vm->q35;

	if (!q)
		return;
	for (unsigned i = 0; i < NR_FLASH; i++)
		pflash_close(q->flash[i].pf); /* flushes VARS */
	fw_cfg_free(q->fw);
	lpc_ich9_free(q->lpc);
	for (unsigned i = 0; i < VM_ROOT_PORTS; i++)
		pcie_root_port_free(q->port[i]);
	pthread_mutex_destroy(&q->remap_lock);
	if (q->hotplug_efd >= 0)
		close(q->hotplug_efd);
	free(q);
	vm->q35 = NULL;
}
