// SPDX-License-Identifier: MIT
/*
 * A passed-through function's config space and BARs, over a fake device:
 * a file laid out like a VFIO device fd's regions (config space at 0,
 * each BAR and the ROM at their own offsets), which pread, pwrite and
 * mmap reach exactly as they reach the real one.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/pci_regs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "vfio/vfio_pci.h"
#include "core/bus.h"
#include "core/log.h"
#include "core/pci.h"

#define OFF_BAR0 0x10000
#define OFF_BAR1 0x18000
#define OFF_BAR2 0x20000
#define OFF_BAR4 0x30000
#define OFF_ROM  0x40000

static struct vfio_device dev;
static struct vfio_pci *vp;
static struct bus mmio, pio;
static struct pci_bus pci;
static int fd = -1;

/* The memslots the device asked for: one at most per BAR here. */
static struct { bool on; uint64_t gpa, size; void *hva; } slots[8];
static unsigned slot_calls;

static int fake_memslot(void *opaque, int *slot, uint64_t gpa, uint64_t size, void *hva)
{
	(void)opaque;
	slot_calls++;
	if (!size) {
		cr_assert(*slot >= 0 && *slot < 8 && slots[*slot].on, "removing a slot it had");
		slots[*slot].on = false;
		*slot = -1;
		return 0;
	}
	if (*slot < 0)
		for (*slot = 0; slots[*slot].on; (*slot)++)
			;
	slots[*slot] = (typeof(slots[0])){ true, gpa, size, hva };
	return 0;
}

/* The kernel's side of interrupts: what VFIO_DEVICE_SET_IRQS was told last. */
static struct { unsigned calls, index, start, count; uint32_t flags; int fds[8]; } irqs;
static int msix_fd[8]; /* where the device signals each MSI-X vector now */
static unsigned next_gsi, routes;
static int efds[8];
static uint64_t route_addr[8];
static uint32_t route_data[8];

/* Every VFIO_DEVICE_SET_IRQS in order, with its first eventfd. */
static struct { unsigned index; uint32_t flags; unsigned count; int fd; } hist[32];
static unsigned nr_hist;

/* The INTx irqfd KVM was given, if any. */
static struct { bool on; unsigned gsi; int trigger, resample; } kvm_intx;

static int fake_intx_irqfd(void *opaque, unsigned gsi, int trigger, int resample, bool assign)
{
	(void)opaque;
	if (!assign) {
		cr_assert(kvm_intx.on && kvm_intx.gsi == gsi && kvm_intx.trigger == trigger,
			  "removing the irqfd it assigned");
		kvm_intx.on = false;
		return 0;
	}
	cr_assert(!kvm_intx.on, "one INTx irqfd");
	kvm_intx = (typeof(kvm_intx)){ true, gsi, trigger, resample };
	return 0;
}

static int fake_ioctl(int f, unsigned long req, void *arg)
{
	struct vfio_irq_set *set = arg;

	cr_assert_eq(f, fd);
	cr_assert_eq(req, VFIO_DEVICE_SET_IRQS);
	irqs.calls++;
	if (set->index == VFIO_PCI_MSIX_IRQ_INDEX && set->count)
		for (unsigned i = 0; i < set->count; i++)
			msix_fd[set->start + i] = ((int *)set->data)[i];
	if (nr_hist < 32)
		hist[nr_hist++] = (typeof(hist[0])){ set->index, set->flags, set->count,
						     set->count ? ((int *)set->data)[0] : -1 };
	irqs.index = set->index;
	irqs.start = set->start;
	irqs.count = set->count;
	irqs.flags = set->flags;
	cr_assert_eq(set->argsz, sizeof(*set) + set->count * sizeof(int));
	memcpy(irqs.fds, set->data, set->count * sizeof(int));
	return 0;
}

static const struct vfio_sys fake_sys = { .ioctl = fake_ioctl };

static int fake_irqfd(void *opaque, unsigned *gsi, int *efd)
{
	(void)opaque;
	cr_assert_lt(next_gsi, 8);
	*gsi = 24 + next_gsi;
	*efd = efds[next_gsi++] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	cr_assert(*efd >= 0);
	return 0;
}

static int fake_route(void *opaque, unsigned gsi, uint64_t addr, uint32_t data)
{
	(void)opaque;
	cr_assert(gsi >= 24 && gsi < 24 + next_gsi);
	route_addr[gsi - 24] = addr;
	route_data[gsi - 24] = data;
	routes++;
	return 0;
}

static void put(uint64_t off, const void *v, size_t n)
{
	cr_assert_eq(pwrite(fd, v, n, (off_t)off), (ssize_t)n);
}

static void put32(uint64_t off, uint32_t v)
{
	put(off, &v, 4);
}

static uint32_t get32(uint64_t off)
{
	uint32_t v = 0;

	cr_assert_eq(pread(fd, &v, 4, (off_t)off), 4);
	return v;
}

static void region(unsigned i, uint64_t off, uint64_t size, uint32_t flags)
{
	dev.region[i] = (struct vfio_region){ .flags = flags, .size = size, .offset = off };
}

/* BAR 1's layout, which a test may change before make_device(). */
static uint64_t bar1_size;
static uint32_t bar1_pba;      /* the PBA register: offset | BIR */
static uint64_t bar4_size;     /* the I/O BAR's region */
static struct vfio_region_sparse_mmap_area *bar1_areas;
static unsigned bar1_nr_areas;
static bool with_intx;          /* INTB, which VFIO offers */
static bool with_pvm;           /* MSI per-vector masking */
static uint16_t exp_flags;      /* the PCIe capability's flags register */
static uint16_t exp_lnksta;     /* and its link status */
static struct vfio_pci_opts opts;
static void (*edit_cfg)(uint8_t *cfg); /* a test's changes to the config space above */

/* The device as the regions above describe it, or NULL and why not. */
static struct vfio_pci *try_make_device(bool multifunction, char *why, size_t len)
{
	char path[] = "/tmp/test_vfio_pci.XXXXXX";
	uint8_t cfg[4096] = { 0 };
	struct pci_platform plat = { .memslot = fake_memslot, .irqfd = fake_irqfd,
					  .msi_route = fake_route, .mmio = &mmio, .pio = &pio,
					  .intx_irqfd = fake_intx_irqfd,
					  .intx_gsi = { 20, 21, 22, 23 } };

	fd = mkstemp(path);
	cr_assert(fd >= 0);
	unlink(path);
	cr_assert_eq(ftruncate(fd, 0x50000), 0);
	/* edu's ids; a capability list PM -> MSI -> AF -> PCIe -> MSI-X */
	memcpy(cfg, "\x34\x12\xe8\x11", 4);
	cfg[PCI_STATUS] = PCI_STATUS_CAP_LIST;
	cfg[PCI_CLASS_DEVICE + 1] = 0x00;
	cfg[PCI_CLASS_DEVICE] = 0xff;
	cfg[PCI_CAPABILITY_LIST] = 0x40;
	cfg[0x40] = PCI_CAP_ID_PM;   cfg[0x41] = 0x50;
	cfg[0x50] = PCI_CAP_ID_MSI;  cfg[0x51] = 0x68;
	cfg[0x52] = PCI_MSI_FLAGS_64BIT | 2 << 1; /* 64-bit, up to 4 vectors */
	if (with_pvm)                              /* and mask bits at 0x60 */
		cfg[0x53] = PCI_MSI_FLAGS_MASKBIT >> 8;
	cfg[0x68] = PCI_CAP_ID_AF;   cfg[0x69] = 0x70;
	cfg[0x70] = PCI_CAP_ID_EXP;  cfg[0x71] = 0x90;
	memcpy(&cfg[0x72], &exp_flags, 2);
	memcpy(&cfg[0x70 + PCI_EXP_LNKSTA], &exp_lnksta, 2);
	cfg[0x90] = PCI_CAP_ID_MSIX; cfg[0x91] = 0;
	cfg[0x92] = 3;                             /* 4 vectors */
	memcpy(&cfg[0x94], "\x01\x00\x00\x00", 4); /* the table at 0 in BAR 1 */
	memcpy(&cfg[0x98], &bar1_pba, 4);          /* the PBA in BAR 1 */
	/* the host's BAR addresses, which the guest must never see */
	memcpy(&cfg[PCI_BASE_ADDRESS_0], "\x00\x00\x00\xfe", 4);
	memcpy(&cfg[PCI_BASE_ADDRESS_1], "\x00\x00\x10\xfe", 4);
	memcpy(&cfg[PCI_BASE_ADDRESS_2], "\x0c\x00\x00\xfd", 4);
	memcpy(&cfg[PCI_BASE_ADDRESS_3], "\x01\x00\x00\x00", 4);
	memcpy(&cfg[PCI_BASE_ADDRESS_4], "\x01\xc0\x00\x00", 4);
	/* extended: AER at 0x100, then ACS at 0x140 */
	cfg[PCI_INTERRUPT_PIN] = with_intx ? 2 : 0;
	memcpy(&cfg[0x100], "\x01\x00\x02\x14", 4);
	memcpy(&cfg[0x140], "\x0d\x00\x01\x00", 4);
	if (edit_cfg)
		edit_cfg(cfg);
	put(0, cfg, sizeof(cfg));
	put32(OFF_BAR0, 0x010000ed);
	put32(OFF_BAR2, 0xb2b2b2b2);
	put32(OFF_BAR4, 0x44444444);
	put(OFF_ROM, "\x55\xaa", 2);

	memset(&dev, 0, sizeof(dev));
	memset(&irqs, 0, sizeof(irqs));
	next_gsi = routes = 0;
	nr_hist = 0;
	dev.fd = fd;
	dev.irq[VFIO_PCI_INTX_IRQ_INDEX].count = with_intx;
	dev.sys = &fake_sys;
	snprintf(dev.bdf, sizeof(dev.bdf), "0000:00:04.0");
	region(VFIO_PCI_CONFIG_REGION_INDEX, 0, 4096,
	       VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE);
	region(0, OFF_BAR0, 4096, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
				  VFIO_REGION_INFO_FLAG_MMAP);
	region(1, OFF_BAR1, bar1_size, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
				       VFIO_REGION_INFO_FLAG_MMAP);
	dev.region[1].sparse = bar1_nr_areas > 0;
	dev.region[1].nr_areas = bar1_nr_areas;
	dev.region[1].areas = bar1_areas;
	region(2, OFF_BAR2, 16, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE);
	region(4, OFF_BAR4, bar4_size, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE);
	region(VFIO_PCI_ROM_REGION_INDEX, OFF_ROM, 0x8000, VFIO_REGION_INFO_FLAG_READ);

	memset(slots, 0, sizeof(slots));
	slot_calls = 0;
	cr_assert_eq(bus_init(&mmio, "mmio"), 0);
	cr_assert_eq(bus_init(&pio, "pio"), 0);
	pci_bus_init(&pci);
	return vfio_pci_new(&dev, PCI_DEVFN(3, 0), multifunction, &plat, &opts, why, len);
}

static void make_device(bool multifunction)
{
	char why[256] = "";

	vp = try_make_device(multifunction, why, sizeof(why));
	cr_assert_not_null(vp, "%s", why);
	cr_assert_eq(pci_bus_add(&pci, vfio_pci_dev(vp)), 0);
}

static void setup(void)
{
	bar1_size = 4096;
	bar1_pba = 0x801; /* at 0x800 */
	bar1_areas = NULL;
	bar1_nr_areas = 0;
	bar4_size = 32;
	with_intx = false;
	with_pvm = false;
	exp_flags = exp_lnksta = 0;
	opts = (struct vfio_pci_opts){ 0 };
	edit_cfg = NULL;
	make_device(false);
}

static void teardown(void)
{
	vfio_pci_free(vp);
	for (unsigned i = 0; i < 8; i++)
		cr_assert(!slots[i].on, "memslot %u left behind", i);
	cr_assert(!kvm_intx.on, "the INTx irqfd left behind");
	bus_destroy(&mmio);
	bus_destroy(&pio);
	close(fd);
}

TestSuite(vfio_pci, .init = setup, .fini = teardown);

static uint32_t cfg(unsigned off, unsigned size)
{
	return pci_cfg_read(&pci, PCI_DEVFN(3, 0), off, size);
}

static void cfg_w(unsigned off, unsigned size, uint32_t v)
{
	pci_cfg_write(&pci, PCI_DEVFN(3, 0), off, size, v);
}

Test(vfio_pci, identity_comes_from_the_device_and_hidden_capabilities_are_unlinked)
{
	cr_assert_eq(cfg(PCI_VENDOR_ID, 4), 0x11e81234);
	cr_assert_eq(cfg(PCI_HEADER_TYPE, 1), 0, "a single-function slot");
	cr_assert_eq(cfg(PCI_CAPABILITY_LIST, 1), 0x40);
	cr_assert_eq(cfg(0x41, 1), 0x50, "PM -> MSI");
	cr_assert_eq(cfg(0x51, 1), 0x70, "MSI -> PCIe: AF is hidden");
	cr_assert_eq(cfg(0x71, 1), 0x90, "PCIe -> MSI-X");
	cr_assert_eq(cfg(0x91, 1), 0);
	cr_assert_eq(cfg(0x100, 4), 0, "no extended capabilities reach the guest");
}

/* The Advanced Features capability at 0x68 says it can do an FLR. */
static void af_with_flr(uint8_t *cfg)
{
	cfg[0x68 + PCI_AF_CAP] = PCI_AF_CAP_TP | PCI_AF_CAP_FLR;
}

Test(vfio_pci, a_hidden_capability_reads_as_zeros_and_takes_no_writes)
{
	teardown();
	edit_cfg = af_with_flr;
	make_device(false);
	cr_assert_eq(cfg(0x68, 4), 0, "AF, unlinked, is not there by offset either: 0x%08x",
		     cfg(0x68, 4));
	cfg_w(0x68 + PCI_AF_CTRL, 1, PCI_AF_CTRL_FLR);
	cr_assert_eq(get32(0x68 + PCI_AF_CTRL) & 0xff, 0, "the guest started no FLR on the device");
	cr_assert_eq(cfg(0x68 + PCI_AF_CTRL, 1), 0);
	/* it ends where the next capability begins: PCIe at 0x70 is whole */
	cr_assert_eq(cfg(0x70, 1), PCI_CAP_ID_EXP);
	cfg_w(0x78, 2, 0x2810);
	cr_assert_eq(get32(0x78) & 0xffff, 0x2810, "PCIe device control is still the device's");
}

Test(vfio_pci, extended_config_space_reads_as_zeros_and_takes_no_writes)
{
	/* AER's registers at 0x104 on, ACS at 0x140 with its control at 0x146 */
	put32(0x104, 0x00100000);
	put32(0x144, 0x0000001f);
	cr_assert_eq(cfg(0x100, 4), 0);
	cr_assert_eq(cfg(0x104, 4), 0, "AER's status is not one offset away: 0x%08x", cfg(0x104, 4));
	cr_assert_eq(cfg(0x140, 4), 0, "nor ACS's header: 0x%08x", cfg(0x140, 4));
	cr_assert_eq(cfg(0x144, 4), 0);
	cfg_w(0x146, 2, 0x001f);
	cr_assert_eq(get32(0x144), 0x0000001f, "ACS control stays as the host set it");
	cfg_w(0xffc, 4, 0xffffffff);
	cr_assert_eq(get32(0xffc), 0, "the last dword neither");
	cr_assert_eq(cfg(0xffc, 4), 0);
}

/* After MSI-X: a second MSI capability at 0xa0, then two vendor-specific ones. */
static void second_msi(uint8_t *cfg)
{
	cfg[0x91] = 0xa0;
	cfg[0xa0] = PCI_CAP_ID_MSI;
	cfg[0xa1] = 0xb0;
	cfg[0xa2] = PCI_MSI_FLAGS_64BIT;
	cfg[0xb0] = PCI_CAP_ID_VNDR;
	cfg[0xb1] = 0xc0;
	cfg[0xc0] = PCI_CAP_ID_VNDR;
}

Test(vfio_pci, a_second_capability_of_an_emulated_kind_is_hidden)
{
	teardown();
	edit_cfg = second_msi;
	make_device(false);
	cr_assert_eq(cfg(0x91, 1), 0xb0, "MSI-X -> vendor: the second MSI is hidden");
	cr_assert_eq(cfg(0xb1, 1), 0xc0, "vendor-specific ones come in numbers: both stay");
	cr_assert_eq(cfg(0xa0, 4), 0);
	/* the guest enabling it by offset does not reach the device's own MSI */
	cfg_w(0xa4, 4, 0xfee00000);
	cfg_w(0xa2, 2, PCI_MSI_FLAGS_ENABLE);
	cr_assert_eq(get32(0xa0) >> 16, PCI_MSI_FLAGS_64BIT, "the device's MSI stays off");
	cr_assert_eq(get32(0xa4), 0);
}

Test(vfio_pci, a_multifunction_slot_says_so_in_the_header_type)
{
	/* The suite made a single-function one: put it away, make the other. */
	teardown();
	make_device(true);
	cr_assert_eq(cfg(PCI_HEADER_TYPE, 1), 0x80);
}

Test(vfio_pci, bars_are_sized_from_the_regions_and_hide_the_host_addresses)
{
	cr_assert_eq(cfg(PCI_BASE_ADDRESS_0, 4), 0, "not the host's 0xfe000000");
	cfg_w(PCI_BASE_ADDRESS_0, 4, 0xffffffff);
	cr_assert_eq(cfg(PCI_BASE_ADDRESS_0, 4), 0xfffff000);
	cfg_w(PCI_BASE_ADDRESS_2, 4, 0xffffffff);
	cfg_w(PCI_BASE_ADDRESS_3, 4, 0xffffffff);
	cr_assert_eq(cfg(PCI_BASE_ADDRESS_2, 4), 0xfffffff0 | PCI_BASE_ADDRESS_MEM_TYPE_64 |
		     PCI_BASE_ADDRESS_MEM_PREFETCH, "16 bytes, 64-bit, prefetchable");
	cr_assert_eq(cfg(PCI_BASE_ADDRESS_3, 4), 0xffffffff);
	cfg_w(PCI_BASE_ADDRESS_4, 4, 0xffffffff);
	cr_assert_eq(cfg(PCI_BASE_ADDRESS_4, 4), 0xffe1, "32 bytes of I/O");
	cfg_w(PCI_BASE_ADDRESS_1, 4, 0xffffffff);
	cr_assert_eq(cfg(PCI_BASE_ADDRESS_1, 4), 0xfffff000, "BAR 1: MSI-X's, 4 KiB");
	cr_assert_eq(cfg(PCI_BASE_ADDRESS_5, 4), 0, "no BAR 5");
	cfg_w(PCI_ROM_ADDRESS, 4, 0xffffffff);
	cr_assert_eq(cfg(PCI_ROM_ADDRESS, 4), 0xffff8001, "a 32 KiB ROM");
	/* none of it reached the device's own registers */
	cr_assert_eq(get32(PCI_BASE_ADDRESS_0), 0xfe000000);
}

Test(vfio_pci, a_bar_the_guest_cannot_have_is_named_in_the_error)
{
	char why[256] = "";

	/* 512 bytes of I/O: more than an I/O BAR may decode. It follows the 64-bit pair 2-3. */
	teardown();
	bar4_size = 512;
	vp = try_make_device(false, why, sizeof(why));
	cr_assert_null(vp);
	cr_assert_str_eq(why, "0000:00:04.0: BAR 4 of 512 bytes cannot be given to the guest: "
			 "Invalid argument");
}

Test(vfio_pci, status_and_unemulated_registers_are_the_devices)
{
	uint16_t st = PCI_STATUS_CAP_LIST | PCI_STATUS_INTERRUPT;

	put(PCI_STATUS, &st, 2);
	cr_assert_eq(cfg(PCI_STATUS, 2), st, "status is live");
	/* PCIe device control (cap + 8): the guest's write lands in the device */
	cfg_w(0x78, 2, 0x2810);
	cr_assert_eq(get32(0x78) & 0xffff, 0x2810);
	cr_assert_eq(cfg(0x78, 2), 0x2810);
	/* a dword straddling emulated and live bytes: the emulated ones are ours */
	put32(0x70, 0xdeadbe00 | PCI_CAP_ID_EXP);
	cr_assert_eq(cfg(0x70, 4), 0xdead9000 | PCI_CAP_ID_EXP, "next is 0x90, the rest live");
	/* a capability's ID is read-only, on a device that would take the write or not */
	cfg_w(0x70, 1, 0);
	cr_assert_eq(get32(0x70) & 0xff, PCI_CAP_ID_EXP);
	cr_assert_eq(cfg(0x70, 1), PCI_CAP_ID_EXP);
}

Test(vfio_pci, the_command_register_reaches_the_device)
{
	cr_assert_eq(cfg(PCI_COMMAND, 2), 0, "decode off until the guest turns it on");
	cfg_w(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | 0x8000);
	cr_assert_eq(cfg(PCI_COMMAND, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	cr_assert_eq(get32(PCI_COMMAND) & 0xffff, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

Test(vfio_pci, bars_map_as_memslots_or_trap_to_the_device)
{
	uint32_t v = 0;
	uint8_t b[4] = { 1, 2, 3, 4 };

	cfg_w(PCI_BASE_ADDRESS_0, 4, 0xc0000000);
	cfg_w(PCI_BASE_ADDRESS_2, 4, 0x00000010);
	cfg_w(PCI_BASE_ADDRESS_3, 4, 0x8);
	cfg_w(PCI_BASE_ADDRESS_4, 4, 0xc000);
	cfg_w(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	pci_bus_apply_bars(&pci);
	/* BAR 0: a whole mmappable page, so a memslot onto the device's own mapping */
	cr_assert(slots[0].on);
	cr_assert_eq(slots[0].gpa, 0xc0000000);
	cr_assert_eq(slots[0].size, 4096);
	cr_assert_eq(*(uint32_t *)slots[0].hva, 0x010000ed, "the mapping is the device's");
	/* BAR 2: 16 bytes, trapped and forwarded */
	cr_assert(bus_read(&mmio, 0x800000010, &v, 4));
	cr_assert_eq(v, 0xb2b2b2b2);
	cr_assert(bus_write(&mmio, 0x800000014, b, 4));
	cr_assert_eq(get32(OFF_BAR2 + 4), 0x04030201);
	/* BAR 4: I/O, forwarded */
	cr_assert(bus_read(&pio, 0xc000, &v, 4));
	cr_assert_eq(v, 0x44444444);
	/* the guest moves BAR 0: the memslot follows */
	cfg_w(PCI_BASE_ADDRESS_0, 4, 0xc0100000);
	pci_bus_apply_bars(&pci);
	cr_assert(slots[0].on);
	cr_assert_eq(slots[0].gpa, 0xc0100000);
	/* decode off: everything goes */
	cfg_w(PCI_COMMAND, 2, 0);
	pci_bus_apply_bars(&pci);
	cr_assert(!slots[0].on);
	cr_assert(!bus_read(&mmio, 0x800000010, &v, 4));
	cr_assert(!bus_read(&pio, 0xc000, &v, 4));
}

Test(vfio_pci, mmap_off_traps_every_bar_access_and_forwards_it)
{
	uint32_t v = 0;
	uint8_t b[4] = { 5, 6, 7, 8 };

	teardown();
	opts.no_mmap = true;
	make_device(false);
	cfg_w(PCI_BASE_ADDRESS_0, 4, 0xc0000000);
	cfg_w(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	pci_bus_apply_bars(&pci);
	cr_assert(!slots[0].on, "mmap=off: no memslot, though the region is mmappable");
	cr_assert(bus_read(&mmio, 0xc0000000, &v, 4), "the access traps to the vmm");
	cr_assert_eq(v, 0x010000ed, "and reads the device's register");
	cr_assert(bus_write(&mmio, 0xc0000004, b, 4));
	cr_assert_eq(get32(OFF_BAR0 + 4), 0x08070605, "a write reaches the device");
}

Test(vfio_pci, the_rom_reads_while_its_bar_decodes)
{
	uint16_t sig = 0;
	uint8_t junk = 0;

	cfg_w(PCI_ROM_ADDRESS, 4, 0xd0000000 | PCI_ROM_ADDRESS_ENABLE);
	cfg_w(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	pci_bus_apply_bars(&pci);
	cr_assert(bus_read(&mmio, 0xd0000000, &sig, 2));
	cr_assert_eq(sig, 0xaa55);
	cr_assert(bus_write(&mmio, 0xd0000000, &junk, 1));
	cr_assert_eq(get32(OFF_ROM) & 0xffff, 0xaa55, "a ROM takes no writes");
	/* the enable bit off: gone */
	cfg_w(PCI_ROM_ADDRESS, 4, 0xd0000000);
	pci_bus_apply_bars(&pci);
	cr_assert(!bus_read(&mmio, 0xd0000000, &sig, 2));
}

/*
 * Two vCPUs moving the ROM, as the VMM wires it (vmm/vm.c): 0xCF8/0xCFC on
 * the PIO bus, the PIO and MMIO buses sharing one deferred-work queue, and
 * a config write that touches a BAR queueing pci_bus_apply_bars(). Each
 * vCPU moves the ROM for ROM_MOVE_S, at least ROM_MOVES times, so that the
 * two overlap on a machine busy with other work too: before the fix
 * (e607328) that left ROM ranges behind in 10 runs out of 10, and TSan
 * reported the race in 3 out of 3.
 */
#define ROM_MOVE_S  1
#define ROM_MOVES   1000

static void apply_bars(void *arg)
{
	pci_bus_apply_bars(arg);
}

static atomic_uint unqueued; /* apply_bars that did not fit the queue */

static void queue_apply_bars(void *opaque)
{
	(void)opaque;
	if (bus_defer(&mmio, apply_bars, &pci))
		atomic_fetch_add(&unqueued, 1);
}

static void wire_like_the_vmm(void)
{
	bus_share_defer_queue(&pio, &mmio);
	pci_set_bars_hook(&pci, queue_apply_bars, NULL);
	cr_assert_eq(bus_register(&pio, 0xcf8, 8, &pci_conf_ops, &pci), 0);
}

/* A dword config write through the ports, as Linux's pci_conf1_write does it. */
static bool port_cfg_w(unsigned reg, uint32_t v)
{
	uint32_t addr = 0x80000000u | PCI_DEVFN(3, 0) << 8 | reg;

	return bus_write(&pio, 0xcf8, &addr, 4) && bus_write(&pio, 0xcfc, &v, 4);
}

static pthread_barrier_t vcpus_ready; /* both vCPUs start moving together */
static struct timespec moving_until;

static bool past(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/* One vCPU: moves the ROM through its own 64 places, then turns it off. */
static void *rom_mover(void *arg)
{
	uintptr_t vcpu = (uintptr_t)arg - 1;
	bool ok = true;

	pthread_barrier_wait(&vcpus_ready);
	for (unsigned i = 0; i < ROM_MOVES || !past(&moving_until); i++) {
		uint32_t addr = 0xd0000000u + (uint32_t)vcpu * 0x01000000u + i % 64 * 0x8000u;

		ok &= port_cfg_w(PCI_ROM_ADDRESS, addr | PCI_ROM_ADDRESS_ENABLE);
	}
	ok &= port_cfg_w(PCI_ROM_ADDRESS, 0);
	return ok ? arg : NULL; /* arg: never NULL */
}

/* Issue 18, bug 1: two vCPUs applying the ROM's move at once left ROM ranges behind. */
Test(vfio_pci, two_vcpus_moving_the_rom_leave_nothing_mapped_once_it_is_off)
{
	pthread_t t[2];
	uint16_t sig = 0;
	void *ok;

	wire_like_the_vmm();
	cr_assert(port_cfg_w(PCI_COMMAND, PCI_COMMAND_MEMORY));
	cr_assert_eq(pthread_barrier_init(&vcpus_ready, NULL, 2), 0);
	clock_gettime(CLOCK_MONOTONIC, &moving_until);
	moving_until.tv_sec += ROM_MOVE_S;
	for (uintptr_t i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, rom_mover, (void *)(i + 1)), 0);
	for (uintptr_t i = 0; i < 2; i++) {
		cr_assert_eq(pthread_join(t[i], &ok), 0);
		cr_assert_not_null(ok, "vCPU %u: a port access went nowhere", (unsigned)i);
	}
	pthread_barrier_destroy(&vcpus_ready);
	cr_assert_eq(atomic_load(&unqueued), 0);
	cr_assert(port_cfg_w(PCI_COMMAND, 0));
	for (unsigned i = 0; i < mmio.nr; i++)
		cr_expect_str_neq(mmio.ranges[i].ops->name, "vfio-rom",
				  "a ROM range left at 0x%llx with the ROM and memory decode off",
				  (unsigned long long)mmio.ranges[i].base);
	/* and the ROM still works: on again, it reads at its one place */
	cr_assert(port_cfg_w(PCI_ROM_ADDRESS, 0xd8000000u | PCI_ROM_ADDRESS_ENABLE));
	cr_assert(port_cfg_w(PCI_COMMAND, PCI_COMMAND_MEMORY));
	cr_assert(bus_read(&mmio, 0xd8000000u, &sig, 2));
	cr_assert_eq(sig, 0xaa55);
}

Test(vfio_pci, msi_goes_from_the_device_to_irqfds_routed_as_the_guest_programmed)
{
	cr_assert_eq(cfg(0x52, 2), PCI_MSI_FLAGS_64BIT | 2 << 1, "off, 4 vectors capable");
	cfg_w(0x54, 4, 0xfee01000);
	cfg_w(0x58, 4, 0);
	cfg_w(0x5c, 2, 0x4041);
	cr_assert_eq(irqs.calls, 0, "nothing for the device until MSI is on");
	/* on, two vectors (MME 1) */
	cfg_w(0x52, 2, PCI_MSI_FLAGS_ENABLE | 1 << 4);
	cr_assert_eq(next_gsi, 2);
	cr_assert_eq(routes, 2);
	cr_assert_eq(route_addr[0], 0xfee01000);
	cr_assert_eq(route_data[0], 0x4040, "vector 0: the data's low bit is the vector");
	cr_assert_eq(route_data[1], 0x4041);
	cr_assert_eq(irqs.calls, 1);
	cr_assert_eq(irqs.index, VFIO_PCI_MSI_IRQ_INDEX);
	cr_assert_eq(irqs.count, 2);
	cr_assert_eq(irqs.flags, VFIO_IRQ_SET_ACTION_TRIGGER | VFIO_IRQ_SET_DATA_EVENTFD);
	cr_assert(irqs.fds[0] == efds[0] && irqs.fds[1] == efds[1], "the irqfds themselves");
	cr_assert_eq(get32(0x50) >> 16, PCI_MSI_FLAGS_64BIT | 2 << 1,
		     "the device's own capability is not the guest's to write");
	/* the guest moves the vectors to another CPU: routes follow, the device is left alone */
	cfg_w(0x54, 4, 0xfee02000);
	cr_assert_eq(route_addr[1], 0xfee02000);
	cr_assert_eq(irqs.calls, 1);
	/* off, then on again with one vector: the irqfds are reused */
	cfg_w(0x52, 2, 0);
	cr_assert_eq(irqs.calls, 2);
	cr_assert_eq(irqs.count, 0);
	cfg_w(0x52, 2, PCI_MSI_FLAGS_ENABLE);
	cr_assert_eq(irqs.count, 1);
	cr_assert_eq(next_gsi, 2);
	/* more vectors than the device can do: what it can */
	cfg_w(0x52, 2, 0);
	cfg_w(0x52, 2, PCI_MSI_FLAGS_ENABLE | 5 << 4);
	cr_assert_eq(irqs.count, 4);
}

static void mmio_w32(uint64_t addr, uint32_t v)
{
	cr_assert(bus_write(&mmio, addr, &v, 4));
}

static uint64_t efd_count(int efd)
{
	uint64_t n = 0;

	if (read(efd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

Test(vfio_pci, msix_table_is_emulated_and_the_device_signals_where_the_mask_says)
{
	const uint64_t bar1 = 0xc0200000;
	uint64_t one = 1;
	uint32_t v;

	cr_assert_eq(cfg(0x92, 2), 3, "4 vectors, off");
	cr_assert_eq(cfg(0x94, 4), 0x1, "table at 0 in BAR 1");
	cr_assert_eq(cfg(0x98, 4), 0x801, "PBA at 0x800 in BAR 1");
	cfg_w(PCI_BASE_ADDRESS_0, 4, 0xc0000000);
	cfg_w(PCI_BASE_ADDRESS_1, 4, (uint32_t)bar1);
	cfg_w(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	pci_bus_apply_bars(&pci);
	cr_assert(slots[0].on && slots[0].gpa == 0xc0000000);
	cr_assert(!slots[1].on, "the table's BAR is trapped, not mapped");
	/* the guest programs vector 0 unmasked; the device's own table is untouched */
	mmio_w32(bar1 + 0, 0xfee00000);
	mmio_w32(bar1 + 8, 0x4055);
	mmio_w32(bar1 + 12, 0);
	cr_assert(bus_read(&mmio, bar1 + 8, &v, 4));
	cr_assert_eq(v, 0x4055);
	cr_assert_eq(get32(OFF_BAR1 + 8), 0);
	/* a register in that BAR outside the table and PBA is the device's */
	mmio_w32(bar1 + 0x400, 0x12345678);
	cr_assert_eq(get32(OFF_BAR1 + 0x400), 0x12345678);
	/* on: every vector first at its pending eventfd, then vector 0 at its irqfd */
	cfg_w(0x92, 2, PCI_MSIX_FLAGS_ENABLE);
	cr_assert_eq(next_gsi, 1, "only the vector the guest opened got a GSI");
	cr_assert_eq(route_addr[0], 0xfee00000);
	cr_assert_eq(route_data[0], 0x4055);
	cr_assert_eq(msix_fd[0], efds[0], "vector 0 signals the guest directly");
	cr_assert_neq(msix_fd[1], efds[0]);
	cr_assert(msix_fd[1] >= 0, "vector 1 (masked) signals its pending eventfd");
	/* masked, the device signals: nothing reaches the guest until it is unmasked */
	mmio_w32(bar1 + 12, 1);
	cr_assert_neq(msix_fd[0], efds[0]);
	cr_assert_eq(write(msix_fd[0], &one, sizeof(one)), sizeof(one));
	cr_assert_eq(efd_count(efds[0]), 0);
	mmio_w32(bar1 + 12, 0);
	cr_assert_eq(msix_fd[0], efds[0]);
	cr_assert_eq(efd_count(efds[0]), 1, "the missed interrupt, delivered on unmask");
	/* off */
	cfg_w(0x92, 2, 0);
	cr_assert_eq(irqs.index, VFIO_PCI_MSIX_IRQ_INDEX);
	cr_assert_eq(irqs.count, 0);
}

/* What the host's reset found, and the kernel's restore of the command register after it. */
static struct { unsigned calls; bool bar0_mapped; uint32_t dev_cmd; } host_reset_saw;

static void fake_host_reset(void *opaque)
{
	cr_assert_eq(opaque, &host_reset_saw);
	host_reset_saw.calls++;
	host_reset_saw.bar0_mapped = slots[0].on;
	host_reset_saw.dev_cmd = get32(PCI_COMMAND) & 0xffff;
	/* pci_restore_state(): what was saved before the reset comes back */
	put32(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

Test(vfio_pci, a_bus_reset_puts_the_guests_view_back_and_resets_the_device_stopped)
{
	const uint64_t bar1 = 0xc0200000;
	struct pci_device *d;

	teardown();
	opts.host_reset = fake_host_reset;
	opts.host_reset_opaque = &host_reset_saw;
	make_device(false);
	d = vfio_pci_dev(vp);
	cfg_w(PCI_BASE_ADDRESS_0, 4, 0xc0000000);
	cfg_w(PCI_BASE_ADDRESS_1, 4, (uint32_t)bar1);
	cfg_w(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	cfg_w(PCI_INTERRUPT_LINE, 1, 11);
	pci_bus_apply_bars(&pci);
	cr_assert(slots[0].on);
	/* MSI-X on, vector 0 open */
	mmio_w32(bar1 + 0, 0xfee00000);
	mmio_w32(bar1 + 8, 0x4055);
	mmio_w32(bar1 + 12, 0);
	cfg_w(0x92, 2, PCI_MSIX_FLAGS_ENABLE);
	cr_assert_eq(msix_fd[0], efds[0]);

	d->ops->reset(d);
	cr_assert_eq(host_reset_saw.calls, 1);
	cr_assert_not(host_reset_saw.bar0_mapped, "BAR 0 still mapped while the host reset it");
	cr_assert_eq(host_reset_saw.dev_cmd, 0, "bus mastering left on into the reset");
	cr_assert_eq(get32(PCI_COMMAND) & 0xffff, 0,
		     "the kernel's restored command register was left on the device");
	/* the guest sees power-on */
	cr_assert_eq(cfg(PCI_COMMAND, 2), 0);
	cr_assert_eq(cfg(PCI_BASE_ADDRESS_0, 4), 0);
	cr_assert_eq(cfg(PCI_BASE_ADDRESS_1, 4), 0);
	cr_assert_eq(cfg(PCI_INTERRUPT_LINE, 1), 0);
	cr_assert_eq(cfg(0x92, 2), 3, "MSI-X off, 4 vectors");
	cr_assert_eq(irqs.index, VFIO_PCI_MSIX_IRQ_INDEX);
	cr_assert_eq(irqs.count, 0, "the device's MSI-X was turned off");
	cr_assert_not(slots[0].on, "BAR 0 mapped after the reset");
	/* programmed again as after boot, it works again: vector 0 starts masked */
	cfg_w(PCI_BASE_ADDRESS_1, 4, (uint32_t)bar1);
	cfg_w(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	pci_bus_apply_bars(&pci);
	cfg_w(0x92, 2, PCI_MSIX_FLAGS_ENABLE);
	cr_assert_neq(msix_fd[0], efds[0], "vector 0 came out of the reset masked");
	mmio_w32(bar1 + 12, 0);
	cr_assert_eq(msix_fd[0], efds[0]);
}

Test(vfio_pci, a_bus_reset_turns_msi_off_on_the_device)
{
	struct pci_device *d = vfio_pci_dev(vp);

	cfg_w(0x54, 4, 0xfee01000);
	cfg_w(0x5c, 2, 0x4041);
	cfg_w(0x52, 2, PCI_MSI_FLAGS_ENABLE);
	cr_assert_eq(irqs.index, VFIO_PCI_MSI_IRQ_INDEX);
	cr_assert_eq(irqs.count, 1);
	d->ops->reset(d); /* no host_reset: the guest's view alone */
	cr_assert_eq(cfg(0x52, 2), PCI_MSI_FLAGS_64BIT | 2 << 1);
	cr_assert_eq(cfg(0x54, 4), 0);
	cr_assert_eq(irqs.index, VFIO_PCI_MSI_IRQ_INDEX);
	cr_assert_eq(irqs.count, 0);
}

/* Remakes the device with a 32 KiB BAR 1: MSI-X table at 0, PBA at 0x4000. */
static void make_msix_bar(struct vfio_region_sparse_mmap_area *areas, unsigned nr)
{
	teardown();
	bar1_size = 0x8000;
	bar1_pba = 0x4001;
	bar1_areas = areas;
	bar1_nr_areas = nr;
	make_device(false);
	cfg_w(PCI_BASE_ADDRESS_1, 4, 0xc0200000);
	cfg_w(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	pci_bus_apply_bars(&pci);
}

/* The memslot at gpa, or NULL. */
static typeof(slots[0]) *slot_at(uint64_t gpa)
{
	for (unsigned i = 0; i < 8; i++)
		if (slots[i].on && slots[i].gpa == gpa)
			return &slots[i];
	return NULL;
}

static unsigned slots_on(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < 8; i++)
		n += slots[i].on;
	return n;
}

Test(vfio_pci, an_msix_bar_is_direct_but_for_the_table_and_pba_pages)
{
	const uint64_t bar1 = 0xc0200000;
	uint32_t v = 0;

	make_msix_bar(NULL, 0);
	put32(OFF_BAR1 + 0x1000, 0x11111111);
	put32(OFF_BAR1 + 0x5000, 0x55555555);
	cr_assert_eq(slots_on(), 2, "the pages before and after the PBA");
	cr_assert_not_null(slot_at(bar1 + 0x1000));
	cr_assert_eq(slot_at(bar1 + 0x1000)->size, 0x3000);
	cr_assert_eq(*(uint32_t *)slot_at(bar1 + 0x1000)->hva, 0x11111111, "the device's own");
	cr_assert_not_null(slot_at(bar1 + 0x5000));
	cr_assert_eq(slot_at(bar1 + 0x5000)->size, 0x3000);
	cr_assert_eq(*(uint32_t *)slot_at(bar1 + 0x5000)->hva, 0x55555555);
	/* the table is msix.c's: a write stays out of the device's table */
	mmio_w32(bar1 + 8, 0x4055);
	cr_assert(bus_read(&mmio, bar1 + 8, &v, 4));
	cr_assert_eq(v, 0x4055);
	cr_assert_eq(get32(OFF_BAR1 + 8), 0);
	/* the rest of the table's page is the device's, through the trap */
	mmio_w32(bar1 + 0x400, 0x12345678);
	cr_assert_eq(get32(OFF_BAR1 + 0x400), 0x12345678);
	/* the PBA reads as msix.c keeps it: nothing pending */
	cr_assert(bus_read(&mmio, bar1 + 0x4000, &v, 4));
	cr_assert_eq(v, 0);
	/* moved, both memslots follow; decode off, both go */
	cfg_w(PCI_BASE_ADDRESS_1, 4, 0xc0400000);
	pci_bus_apply_bars(&pci);
	cr_assert_eq(slots_on(), 2);
	cr_assert_not_null(slot_at(0xc0401000));
	cr_assert_not_null(slot_at(0xc0405000));
	cfg_w(PCI_COMMAND, 2, 0);
	pci_bus_apply_bars(&pci);
	cr_assert_eq(slots_on(), 0);
	cr_assert(!bus_read(&mmio, 0xc0400400, &v, 4));
}

/* What vm.info and vm.counters say of each BAR: where, how mapped, what traps. */
Test(vfio_pci, each_bar_says_where_it_is_how_it_is_mapped_and_what_trapped)
{
	struct vfio_pci_bar_info b;
	uint32_t v;

	make_msix_bar(NULL, 0);
	vfio_pci_bar_info(vp, 1, &b);
	cr_assert(b.present && b.on);
	cr_assert_eq(b.addr, 0xc0200000);
	cr_assert_eq(b.size, 0x8000);
	cr_assert_str_eq(b.mapping, "sparse");
	cr_assert_eq(b.nr_trapped, 2, "the table's page and the PBA's");
	cr_assert_eq(b.trapped[0].off, 0);
	cr_assert_eq(b.trapped[0].len, 0x1000);
	cr_assert_eq(b.trapped[1].off, 0x4000);
	cr_assert_eq(b.trapped[1].len, 0x1000);
	cr_assert_eq(b.exits, 0);
	cr_assert(bus_read(&mmio, 0xc0200000 + 0x400, &v, 4));
	cr_assert(bus_read(&mmio, 0xc0204000, &v, 4));
	vfio_pci_bar_info(vp, 1, &b);
	cr_assert_eq(b.exits, 2, "each trapped access counts");
	vfio_pci_bar_info(vp, 5, &b);
	cr_assert_not(b.present, "no BAR 5");
	cfg_w(PCI_COMMAND, 2, 0);
	pci_bus_apply_bars(&pci);
	vfio_pci_bar_info(vp, 1, &b);
	cr_assert_str_eq(b.mapping, "off");

	teardown();
	opts.no_mmap = true;
	make_device(false);
	cfg_w(PCI_BASE_ADDRESS_0, 4, 0xc0000000);
	cfg_w(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	pci_bus_apply_bars(&pci);
	vfio_pci_bar_info(vp, 0, &b);
	cr_assert_str_eq(b.mapping, "trapped", "mmap=off");
	opts.no_mmap = false;
	teardown();
	make_device(false);
	cfg_w(PCI_BASE_ADDRESS_0, 4, 0xc0000000);
	cfg_w(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	pci_bus_apply_bars(&pci);
	vfio_pci_bar_info(vp, 0, &b);
	cr_assert_str_eq(b.mapping, "memslot");
	cr_assert_eq(b.nr_trapped, 0);
}

Test(vfio_pci, sparse_areas_are_all_that_is_mapped)
{
	static struct vfio_region_sparse_mmap_area areas[] = {
		{ .offset = 0x1000, .size = 0x2000 }, { .offset = 0x6000, .size = 0x2000 },
	};
	const uint64_t bar1 = 0xc0200000;
	uint32_t v = 0;

	make_msix_bar(areas, 2);
	put32(OFF_BAR1 + 0x3000, 0x33333333);
	cr_assert_eq(slots_on(), 2);
	cr_assert_eq(slot_at(bar1 + 0x1000)->size, 0x2000);
	cr_assert_eq(slot_at(bar1 + 0x6000)->size, 0x2000);
	/* outside the areas, the device is reached through the trap */
	cr_assert(bus_read(&mmio, bar1 + 0x3000, &v, 4));
	cr_assert_eq(v, 0x33333333);
}

Test(vfio_pci, a_sparse_area_past_the_region_is_mapped_only_as_far_as_the_region)
{
	/* what a broken kernel (or vfio-user server) might say of a 32 KiB BAR */
	static struct vfio_region_sparse_mmap_area areas[] = {
		{ .offset = 0x5000, .size = 0x100000 }, { .offset = 0x9000, .size = 0x1000 },
	};
	const uint64_t bar1 = 0xc0200000;

	make_msix_bar(areas, 2);
	cr_assert_eq(slots_on(), 1, "the second area lies wholly past the region: %u slots",
		     slots_on());
	cr_assert_not_null(slot_at(bar1 + 0x5000));
	cr_assert_eq(slot_at(bar1 + 0x5000)->size, 0x3000, "up to the BAR's end, not 0x%llx past it",
		     (unsigned long long)slot_at(bar1 + 0x5000)->size);
}

#define TRIGGER_FDS (VFIO_IRQ_SET_ACTION_TRIGGER | VFIO_IRQ_SET_DATA_EVENTFD)
#define UNMASK_FDS (VFIO_IRQ_SET_ACTION_UNMASK | VFIO_IRQ_SET_DATA_EVENTFD)
#define TRIGGER_OFF (VFIO_IRQ_SET_ACTION_TRIGGER | VFIO_IRQ_SET_DATA_NONE)

static void assert_call(unsigned i, unsigned index, uint32_t flags, unsigned count)
{
	cr_assert_lt(i, nr_hist, "SET_IRQS call %u was made", i);
	cr_assert_eq(hist[i].index, index, "call %u: index", i);
	cr_assert_eq(hist[i].flags, flags, "call %u: flags", i);
	cr_assert_eq(hist[i].count, count, "call %u: count", i);
}

Test(vfio_pci, intx_is_a_resample_irqfd_pair_and_steps_aside_for_msi)
{
	teardown();
	with_intx = true;
	make_device(false);
	/* INTB (pin 2) reaches the platform's second line, through KVM alone */
	cr_assert(kvm_intx.on);
	cr_assert_eq(kvm_intx.gsi, 21);
	cr_assert(kvm_intx.trigger >= 0 && kvm_intx.resample >= 0 &&
		  kvm_intx.trigger != kvm_intx.resample);
	cr_assert_eq(nr_hist, 2);
	assert_call(0, VFIO_PCI_INTX_IRQ_INDEX, TRIGGER_FDS, 1);
	cr_assert_eq(hist[0].fd, kvm_intx.trigger, "the device signals KVM's trigger");
	assert_call(1, VFIO_PCI_INTX_IRQ_INDEX, UNMASK_FDS, 1);
	cr_assert_eq(hist[1].fd, kvm_intx.resample, "the guest's EOI unmasks the device");
	/* MSI on: the kernel takes one kind at a time, so INTx goes off first */
	cfg_w(0x54, 4, 0xfee01000);
	cfg_w(0x52, 2, PCI_MSI_FLAGS_ENABLE);
	cr_assert_eq(nr_hist, 4);
	assert_call(2, VFIO_PCI_INTX_IRQ_INDEX, TRIGGER_OFF, 0);
	assert_call(3, VFIO_PCI_MSI_IRQ_INDEX, TRIGGER_FDS, 1);
	/* MSI off: INTx back, on the same eventfds */
	cfg_w(0x52, 2, 0);
	cr_assert_eq(nr_hist, 7);
	assert_call(4, VFIO_PCI_MSI_IRQ_INDEX, TRIGGER_OFF, 0);
	assert_call(5, VFIO_PCI_INTX_IRQ_INDEX, TRIGGER_FDS, 1);
	cr_assert_eq(hist[5].fd, kvm_intx.trigger);
	assert_call(6, VFIO_PCI_INTX_IRQ_INDEX, UNMASK_FDS, 1);
	/* MSI-X on and off: the same dance */
	cfg_w(0x92, 2, PCI_MSIX_FLAGS_ENABLE);
	assert_call(7, VFIO_PCI_INTX_IRQ_INDEX, TRIGGER_OFF, 0);
	assert_call(8, VFIO_PCI_MSIX_IRQ_INDEX, TRIGGER_FDS, 4);
	cfg_w(0x92, 2, 0);
	assert_call(9, VFIO_PCI_MSIX_IRQ_INDEX, TRIGGER_OFF, 0);
	assert_call(10, VFIO_PCI_INTX_IRQ_INDEX, TRIGGER_FDS, 1);
	/* teardown checks the irqfd is removed */
}

Test(vfio_pci, a_device_without_a_pin_gets_no_intx)
{
	cr_assert(!kvm_intx.on);
	cr_assert_eq(nr_hist, 0);
}

Test(vfio_pci, rom_off_leaves_no_rom_bar)
{
	uint32_t v = 0;

	teardown();
	opts.rom_off = true;
	make_device(false);
	cfg_w(PCI_ROM_ADDRESS, 4, 0xffffffff);
	cr_assert_eq(cfg(PCI_ROM_ADDRESS, 4), 0, "no ROM BAR to size");
	cfg_w(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	pci_bus_apply_bars(&pci);
	cr_assert(!bus_read(&mmio, 0xfffff800, &v, 4));
}

Test(vfio_pci, rom_from_a_file_replaces_the_devices)
{
	static const uint8_t image[3000] = { 0x55, 0xaa, 0x06, [2999] = 0x77 };
	uint32_t v = 0;

	teardown();
	opts.rom = image;
	opts.rom_len = sizeof(image);
	make_device(false);
	cfg_w(PCI_ROM_ADDRESS, 4, 0xffffffff);
	cr_assert_eq(cfg(PCI_ROM_ADDRESS, 4), 0xfffff001, "sized from the file: 4 KiB");
	cfg_w(PCI_ROM_ADDRESS, 4, 0xd0000000 | PCI_ROM_ADDRESS_ENABLE);
	cfg_w(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	pci_bus_apply_bars(&pci);
	cr_assert(bus_read(&mmio, 0xd0000000, &v, 4));
	cr_assert_eq(v & 0xffffff, 0x06aa55, "the file's bytes, not the device's 55 aa 00");
	cr_assert(bus_read(&mmio, 0xd0000000 + 2996, &v, 4));
	cr_assert_eq(v, 0x77000000u, "its last byte");
	cr_assert(bus_read(&mmio, 0xd0000000 + 3000, &v, 4));
	cr_assert_eq(v, 0, "past its end, zeros");
}

Test(vfio_pci, a_masked_msi_vector_waits_in_its_pending_bit_until_unmasked)
{
	uint64_t one = 1;

	teardown();
	with_pvm = true;
	make_device(false);
	cr_assert_eq(cfg(0x52, 2), PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT | 2 << 1);
	cfg_w(0x60, 4, 0xffffffff);
	cr_assert_eq(cfg(0x60, 4), 0xf, "a mask bit for each of the 4 vectors");
	cfg_w(0x64, 4, 0xffffffff);
	cr_assert_eq(cfg(0x64, 4), 0, "the pending bits are not the guest's to write");
	/* on with two vectors, vector 1 masked: it signals its pending eventfd */
	cfg_w(0x60, 4, 0x2);
	cfg_w(0x54, 4, 0xfee01000);
	cfg_w(0x5c, 2, 0x4040);
	cfg_w(0x52, 2, PCI_MSI_FLAGS_ENABLE | 1 << 4);
	cr_assert_eq(irqs.index, VFIO_PCI_MSI_IRQ_INDEX);
	cr_assert_eq(irqs.count, 2);
	cr_assert_eq(irqs.fds[0], efds[0], "vector 0 signals the guest directly");
	cr_assert_neq(irqs.fds[1], efds[1], "vector 1, masked, does not");
	/* the device signals vector 1: nothing reaches the guest, the pending bit shows it */
	cr_assert_eq(write(irqs.fds[1], &one, sizeof(one)), sizeof(one));
	cr_assert_eq(efd_count(efds[1]), 0);
	cr_assert_eq(cfg(0x64, 4), 0x2);
	/* unmasked: pointed at its irqfd, and the interrupt it missed is delivered */
	cfg_w(0x60, 4, 0);
	cr_assert_eq(irqs.start, 1);
	cr_assert_eq(irqs.count, 1);
	cr_assert_eq(irqs.fds[0], efds[1]);
	cr_assert_eq(efd_count(efds[1]), 1, "delivered on unmask");
	cr_assert_eq(cfg(0x64, 4), 0, "no longer pending");
	/* masked again: pointed back at its pending eventfd */
	cfg_w(0x60, 4, 0x1);
	cr_assert_eq(irqs.start, 0);
	cr_assert_neq(irqs.fds[0], efds[0]);
}

Test(vfio_pci, a_root_complex_endpoint_becomes_an_endpoint_with_a_link)
{
	unsigned speed = 0, width = 0;

	teardown();
	exp_flags = 2 | PCI_EXP_TYPE_RC_END << 4;
	make_device(false);
	cr_assert_eq(cfg(0x72, 2), 2 | PCI_EXP_TYPE_ENDPOINT << 4, "an endpoint behind the root port");
	cr_assert_eq(cfg(0x70 + PCI_EXP_LNKCAP, 4) & (PCI_EXP_LNKCAP_SLS | PCI_EXP_LNKCAP_MLW),
		     PCI_EXP_LNKCAP_SLS_2_5GB | 1u << 4);
	cr_assert_eq(cfg(0x70 + PCI_EXP_LNKSTA, 2) & (PCI_EXP_LNKSTA_CLS | PCI_EXP_LNKSTA_NLW),
		     PCI_EXP_LNKSTA_CLS_2_5GB | PCI_EXP_LNKSTA_NLW_X1);
	cr_assert_eq(cfg(0x70 + PCI_EXP_LNKCAP2, 4), PCI_EXP_LNKCAP2_SLS_2_5GB);
	cr_assert_eq(get32(0x70) >> 16, 2 | PCI_EXP_TYPE_RC_END << 4, "the device is left alone");
	cr_assert(vfio_pci_link(vp, &speed, &width));
	cr_assert(speed == 1 && width == 1, "the root port is told 2.5 GT/s x1");
}

Test(vfio_pci, an_endpoint_keeps_its_link_and_tells_the_root_port)
{
	unsigned speed = 0, width = 0;

	cr_assert(!vfio_pci_link(vp, &speed, &width), "no link trained or advertised: none");
	teardown();
	exp_flags = 2 | PCI_EXP_TYPE_ENDPOINT << 4;
	exp_lnksta = PCI_EXP_LNKSTA_CLS_16_0GB | 16 << 4;
	make_device(false);
	cr_assert(vfio_pci_link(vp, &speed, &width));
	cr_assert(speed == 4 && width == 16, "16 GT/s x16, as the host trained it");
	cr_assert_eq(cfg(0x72, 2), 2 | PCI_EXP_TYPE_ENDPOINT << 4);
	cr_assert_eq(cfg(0x70 + PCI_EXP_LNKSTA, 2), exp_lnksta, "the live register");
}

/* ---- capability lists that a broken or hostile device may have ---- */

/*
 * Counted without opening anything, so that it still counts when the fds
 * have run out; none can be made at or above the soft limit.
 */
static unsigned open_fds(void)
{
	struct rlimit lim;
	unsigned n = 0;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &lim), 0);
	for (int i = 0; (rlim_t)i < lim.rlim_cur && i < 1 << 20; i++)
		n += fcntl(i, F_GETFD) >= 0;
	return n;
}

static unsigned fds_before;
static int real_stderr = -1;

/* Runs after the suite's setup: what the device logs is the test's to read. */
static void redirect(void)
{
	real_stderr = dup(STDERR_FILENO);
	cr_assert(real_stderr >= 0);
	cr_redirect_stderr();
}

/* stderr back, for what LeakSanitizer reports at exit. */
static void unredirect(void)
{
	fflush(stderr);
	dup2(real_stderr, STDERR_FILENO);
}

/* The device made from the edited config space (the default one gone), its log at info. */
static void make_edited_device(void (*edit)(uint8_t *cfg))
{
	log_threshold = LOG_INFO;
	edit_cfg = edit;
	fds_before = open_fds();
	make_device(false);
}

/* Freed, with the fake device's file: every fd vfio_pci_new made must be closed. */
static void free_device(void)
{
	vfio_pci_free(vp);
	vp = NULL;
	close(fd);
	fd = -1;
	cr_assert_eq(open_fds(), fds_before, "fds open after vfio_pci_free: %u, before: %u",
		     open_fds(), fds_before);
}

/* How many lines of what was logged so far contain what (reads the log once). */
static unsigned logged(const char *what)
{
	static char buf[1 << 16];
	static bool read_in;
	unsigned n = 0;

	if (!read_in) {
		FILE *err;
		size_t len;

		fflush(stderr);
		err = cr_get_redirected_stderr();
		len = fread(buf, 1, sizeof(buf) - 1, err);
		buf[len] = 0;
		read_in = true;
	}
	for (const char *p = strstr(buf, what); p; p = strstr(p + 1, what))
		n++;
	return n;
}

/*
 * The fuzzer's find: MSI-X (at 0x90) with its table in BAR 7, which
 * cannot be, and 2048 vectors, linked on to a vendor capability at 0xfc
 * that links back to MSI at 0x50.
 */
static void loop_through_bad_msix(uint8_t *cfg)
{
	cfg[0x91] = 0xfc;
	cfg[0x92] = 0xff;
	cfg[0x93] = 0x07;                          /* 2048 vectors */
	memcpy(&cfg[0x94], "\x07\x00\x00\x00", 4); /* the table at 0 in BAR 7 */
	memcpy(&cfg[0x98], "\x07\x08\x00\x00", 4); /* the PBA at 0x800 in BAR 7 */
	cfg[0xfc] = PCI_CAP_ID_VNDR;
	cfg[0xfd] = 0x50;
	cfg[0xfe] = 4;
}

Test(vfio_pci, a_capability_list_that_loops_back_ends_there_and_leaks_nothing, .init = redirect,
     .fini = unredirect)
{
	teardown();
	make_edited_device(loop_through_bad_msix);
	cr_assert_eq(open_fds(), fds_before + 1,
		     "%u fds open beside the device's file: a failed MSI-X keeps none",
		     open_fds() - fds_before - 1);
	cr_assert_eq(cfg(0x51, 1), 0x70, "MSI -> PCIe: AF is hidden");
	cr_assert_eq(cfg(0x71, 1), 0xfc, "PCIe -> the vendor capability: MSI-X, which cannot "
		     "work, is hidden");
	cr_assert_eq(cfg(0xfd, 1), 0, "the link back to 0x50 is cut");
	cr_assert_eq(logged("loops back"), 1, "the loop is said once, not %u times",
		     logged("loops back"));
	cr_assert_eq(logged("cannot emulate MSI-X"), 1, "MSI-X is tried once, not %u times",
		     logged("cannot emulate MSI-X"));
	free_device();
}

/* PM at 0x40 -> AF at 0x68 (hidden) -> PM again. */
static void two_element_loop(uint8_t *cfg)
{
	cfg[0x41] = 0x68;
	cfg[0x69] = 0x40;
}

Test(vfio_pci, a_two_capability_loop_is_walked_once, .init = redirect,
     .fini = unredirect)
{
	teardown();
	make_edited_device(two_element_loop);
	cr_assert_eq(cfg(PCI_CAPABILITY_LIST, 1), 0x40);
	cr_assert_eq(cfg(0x41, 1), 0, "PM is all the guest sees");
	cr_assert_eq(logged("capability 0x13 at 0x68 is hidden"), 1, "AF is said once, not %u times",
		     logged("capability 0x13 at 0x68 is hidden"));
	cr_assert_eq(logged("loops back"), 1, "the loop is said once, not %u times",
		     logged("loops back"));
	free_device();
}

/* AER at 0x100 -> ACS at 0x140 -> AER again. */
static void extended_loop(uint8_t *cfg)
{
	memcpy(&cfg[0x140], "\x0d\x00\x01\x10", 4);
}

Test(vfio_pci, an_extended_capability_loop_is_walked_once, .init = redirect,
     .fini = unredirect)
{
	teardown();
	make_edited_device(extended_loop);
	cr_assert_eq(cfg(0x100, 4), 0, "no extended capabilities reach the guest");
	cr_assert_eq(logged("extended capability 0x"), 2, "AER and ACS, each said once: not %u lines",
		     logged("extended capability 0x"));
	cr_assert_eq(logged("loops back"), 1, "the loop is said once, not %u times",
		     logged("loops back"));
	free_device();
}

/* 2048 MSI-X vectors, nothing wrong with them: the host's fds run out. */
static void msix_2048(uint8_t *cfg)
{
	cfg[0x92] = 0xff;
	cfg[0x93] = 0x07;
}

/* 512 MSI-X vectors: 8 KiB of table. */
static void msix_512(uint8_t *cfg)
{
	cfg[0x92] = 0xff;
	cfg[0x93] = 0x01;
}

Test(vfio_pci, an_msix_table_past_the_end_of_its_bar_is_refused, .init = redirect,
     .fini = unredirect)
{
	/* BAR 1, where the table is, has 4 KiB */
	teardown();
	make_edited_device(msix_512);
	cr_assert_eq(cfg(0x71, 1), 0, "PCIe -> nothing: MSI-X, whose table the guest could not "
		     "reach, is hidden");
	cr_assert_eq(logged("cannot emulate MSI-X"), 1);
	cr_assert_eq(open_fds(), fds_before + 1, "and no eventfd was made for it");
	free_device();
}

Test(vfio_pci, a_failed_msix_init_closes_the_eventfds_it_made, .init = redirect,
     .fini = unredirect)
{
	struct rlimit old, lim;

	teardown();
	bar1_size = 0x10000;
	bar1_pba = 0x8001; /* the table's 32 KiB at 0, the PBA after it */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	lim = old;
	lim.rlim_cur = open_fds() + 64; /* room for a few dozen of the 2048 eventfds */
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &lim), 0);
	make_edited_device(msix_2048);
	cr_assert_eq(open_fds(), fds_before + 1,
		     "%u fds open beside the device's file: a failed MSI-X keeps none",
		     open_fds() - fds_before - 1);
	cr_assert_eq(cfg(0x71, 1), 0, "PCIe -> nothing: MSI-X, which could not be set up, is hidden");
	cr_assert_eq(logged("cannot emulate MSI-X"), 1, "said once, not %u times",
		     logged("cannot emulate MSI-X"));
	free_device();
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
}
