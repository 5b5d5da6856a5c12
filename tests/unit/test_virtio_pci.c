// SPDX-License-Identifier: MIT
/*
 * The modern virtio-pci transport, driven the way Linux's virtio_pci
 * driver drives it: find the capabilities in config space, map BAR 4,
 * negotiate features, set up queues, DRIVER_OK; and the ways a driver can
 * get it wrong, each of which must end in DEVICE_NEEDS_RESET.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/virtio_pci.h"
#include "core/bus.h"
#include "core/layout.h"
#include "core/memory.h"
#include "core/pci.h"

/* ---- a fake device and platform ---- */

struct fake {
	struct virtio_device vdev;
	unsigned starts, stops, frees;
	bool enabled_at_start[2];
	uint64_t features_at_start;
	uint8_t config[8];
};

static void fake_config_read(struct virtio_device *v, uint32_t off, void *data, uint32_t len)
{
	memcpy(data, ((struct fake *)v)->config + off, len);
}

static void fake_config_write(struct virtio_device *v, uint32_t off, const void *data,
			      uint32_t len)
{
	memcpy(((struct fake *)v)->config + off, data, len);
}

static int fake_start(struct virtio_device *v)
{
	struct fake *f = (struct fake *)v;

	f->starts++;
	f->features_at_start = v->driver_features;
	for (unsigned i = 0; i < 2; i++)
		f->enabled_at_start[i] = v->vq[i].enabled;
	return 0;
}

static void fake_stop(struct virtio_device *v)
{
	((struct fake *)v)->stops++;
}

static void fake_free(struct virtio_device *v)
{
	((struct fake *)v)->frees++;
}

static const struct virtio_device_ops fake_ops = {
	.config_read = fake_config_read, .config_write = fake_config_write,
	.start = fake_start, .stop = fake_stop, .free = fake_free,
};

static struct fake fake;
static struct guest_mem mem;
static struct bus mmio;
static struct pci_bus pci;
static struct virtio_pci *vp;
static unsigned nr_ioeventfds, next_gsi, routes, intx_level;
static uint64_t ioeventfd_addr[8];
static int irqfds[8];
static uint64_t route_addr[8];
static uint32_t route_data[8];

static int plat_ioeventfd(void *o, uint64_t addr, unsigned len, int fd, bool assign)
{
	(void)o;
	(void)fd;
	cr_assert_eq(len, 2);
	if (assign)
		ioeventfd_addr[nr_ioeventfds++] = addr;
	else
		nr_ioeventfds--;
	return 0;
}

static int plat_irqfd(void *o, unsigned *gsi, int *efd)
{
	(void)o;
	*gsi = 24 + next_gsi;
	*efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	irqfds[next_gsi++] = *efd;
	return *efd < 0 ? -errno : 0;
}

static int plat_route(void *o, unsigned gsi, uint64_t addr, uint32_t data)
{
	(void)o;
	routes++;
	route_addr[gsi - 24] = addr;
	route_data[gsi - 24] = data;
	return 0;
}

static void plat_intx(void *o, unsigned gsi, int level)
{
	(void)o;
	(void)gsi;
	intx_level = (unsigned)level;
}

static void setup(void)
{
	memset(&fake, 0, sizeof(fake));
	nr_ioeventfds = next_gsi = routes = intx_level = 0;
	fake.vdev = (struct virtio_device){
		.ops = &fake_ops, .name = "virtio-test0", .device_id = VIRTIO_ID_BLOCK,
		.device_features = 1ULL << VIRTIO_F_VERSION_1 | 1ULL << 5,
		.config_len = 8, .nr_queues = 2, .queue_max_size = 256, .mem = &mem,
	};
	memcpy(fake.config, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	mem = (struct guest_mem){ .fd = -1, .nr = 1, .total = 4 * SZ_1M, .page_size = 4096 };
	mem.region[0] = (struct guest_region){ .size = 4 * SZ_1M, .hva = calloc(1, 4 * SZ_1M) };
	cr_assert_eq(bus_init(&mmio, "mmio"), 0);
	pci_bus_init(&pci);
	struct pci_platform plat = {
		.ioeventfd = plat_ioeventfd, .irqfd = plat_irqfd, .msi_route = plat_route,
		.mmio = &mmio, .intx = { .set_level = plat_intx, .gsi = 17 },
	};
	vp = virtio_pci_new(&fake.vdev, PCI_DEVFN(3, 0), &plat);
	cr_assert_not_null(vp);
	cr_assert_eq(pci_bus_add(&pci, virtio_pci_dev(vp)), 0);
}

static void teardown(void)
{
	virtio_pci_free(vp);
	cr_assert_eq(fake.frees, 1, "the device is freed with its transport");
	bus_destroy(&mmio);
	free(mem.region[0].hva);
}

TestSuite(virtio_pci, .init = setup, .fini = teardown);

static uint32_t cfg(unsigned off, unsigned size)
{
	return pci_cfg_read(&pci, PCI_DEVFN(3, 0), off, size);
}

static void cfg_w(unsigned off, unsigned size, uint32_t v)
{
	pci_cfg_write(&pci, PCI_DEVFN(3, 0), off, size, v);
}

#define BAR 0xfe000000ULL

static uint64_t rd(uint64_t off, unsigned size)
{
	uint64_t v = 0;

	cr_assert(bus_read(&mmio, BAR + off, &v, size), "BAR 4 not mapped at 0x%llx",
		  (unsigned long long)(BAR + off));
	return v;
}

static void wr(uint64_t off, unsigned size, uint64_t v)
{
	bus_write(&mmio, BAR + off, &v, size);
}

static void map_bar(void)
{
	cfg_w(PCI_BASE_ADDRESS_4, 4, (uint32_t)BAR);
	cfg_w(PCI_BASE_ADDRESS_5, 4, 0);
	cfg_w(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	pci_bus_apply_bars(&pci);
}

/* Walks the capability list as Linux's virtio_pci_find_capability does. */
static unsigned find_cap(uint8_t type, unsigned *count)
{
	unsigned at = cfg(PCI_CAPABILITY_LIST, 1), found = 0, n = 0;

	*count = 0;
	while (at) {
		cr_assert(at >= 0x40 && at < 0x100 && at % 4 == 0, "cap at 0x%x", at);
		cr_assert_lt(++n, 48, "capability list loops");
		if (cfg(at, 1) == PCI_CAP_ID_VNDR && cfg(at + 3, 1) == type) {
			if (!found)
				found = at;
			(*count)++;
		}
		at = cfg(at + 1, 1);
	}
	return found;
}

Test(virtio_pci, ids_and_capabilities)
{
	unsigned n, at;

	cr_assert_eq(cfg(PCI_VENDOR_ID, 2), 0x1af4);
	cr_assert_eq(cfg(PCI_DEVICE_ID, 2), 0x1042, "0x1040 + block");
	cr_assert_eq(cfg(PCI_REVISION_ID, 1), 1);
	cr_assert_eq(cfg(PCI_SUBSYSTEM_ID, 2), 0x42);
	cr_assert_eq(cfg(PCI_INTERRUPT_PIN, 1), 1);
	cr_assert(cfg(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	for (uint8_t type = 1; type <= 5; type++) {
		at = find_cap(type, &n);
		cr_assert_eq(n, 1, "one capability of type %u", type);
		if (type != 5) /* the window's BAR is the driver's to pick */
			cr_assert_eq(cfg(at + 4, 1), 4, "in BAR 4");
	}
	at = find_cap(2, &n);
	cr_assert_eq(cfg(at + 16, 4), 4, "notify_off_multiplier");
	cr_assert_geq(cfg(at + 2, 1), 20);
	at = find_cap(4, &n);
	cr_assert_eq(cfg(at + 12, 4), 8, "device config length");
	/* BAR 4: 64-bit prefetchable, 32 KiB */
	cfg_w(PCI_BASE_ADDRESS_4, 4, 0xffffffff);
	cr_assert_eq(cfg(PCI_BASE_ADDRESS_4, 4), 0xffff800c);
	/* MSI-X: 3 vectors (2 queues + config) */
	cr_assert_eq(cfg(0x40, 1), PCI_CAP_ID_MSIX);
	cr_assert_eq(cfg(0x42, 2) & 0x7ff, 2);
}

Test(virtio_pci, bar_maps_on_the_bus_with_one_ioeventfd_per_queue_and_moves)
{
	map_bar();
	cr_assert_eq(nr_ioeventfds, 2);
	cr_assert_eq(ioeventfd_addr[0], BAR + 0x3000);
	cr_assert_eq(ioeventfd_addr[1], BAR + 0x3004);
	cr_assert_eq(rd(0x12, 2), 2, "num_queues");
	/* the guest moves the BAR: range and ioeventfds follow */
	cfg_w(PCI_BASE_ADDRESS_4, 4, 0xfd000000);
	pci_bus_apply_bars(&pci);
	cr_assert_eq(nr_ioeventfds, 2);
	cr_assert_eq(ioeventfd_addr[0], 0xfd003000ULL);
	uint64_t v = 0;

	cr_assert_not(bus_read(&mmio, BAR + 0x12, &v, 2), "old place unmapped");
	cr_assert(bus_read(&mmio, 0xfd000012ULL, &v, 2));
	/* decode off: gone */
	cfg_w(PCI_COMMAND, 2, 0);
	pci_bus_apply_bars(&pci);
	cr_assert_eq(nr_ioeventfds, 0);
}

/* Linux's sequence, with queue 0 and 1 at the given guest addresses. */
static void bring_up(uint16_t size0)
{
	map_bar();
	wr(0x14, 1, 0);
	wr(0x14, 1, 1 | 2);
	wr(0x00, 4, 1);
	cr_assert_eq(rd(0x04, 4), 1, "VERSION_1 is bit 32");
	wr(0x00, 4, 0);
	cr_assert_eq(rd(0x04, 4), 1u << 5);
	wr(0x08, 4, 0);
	wr(0x0c, 4, 1u << 5);
	wr(0x08, 4, 1);
	wr(0x0c, 4, 1);
	wr(0x14, 1, 1 | 2 | 8);
	cr_assert(rd(0x14, 1) & 8, "FEATURES_OK accepted");
	for (unsigned q = 0; q < 2; q++) {
		wr(0x16, 2, q);
		cr_assert_eq(rd(0x18, 2), 256, "queue_size starts at the maximum");
		cr_assert_eq(rd(0x1e, 2), q, "queue_notify_off");
		wr(0x18, 2, q == 0 ? size0 : 128);
		wr(0x1a, 2, q);
		wr(0x20, 4, 0x10000 * (q + 1));
		wr(0x24, 4, 0);
		wr(0x28, 8, 0x10000 * (q + 1) + 0x1000);
		wr(0x30, 8, 0x10000 * (q + 1) + 0x2000);
		wr(0x1c, 2, 1);
	}
	wr(0x10, 2, 2);
	wr(0x14, 1, 1 | 2 | 8 | 4);
}

Test(virtio_pci, negotiation_and_driver_ok_start_the_device)
{
	bring_up(256);
	cr_assert_eq(fake.starts, 1);
	cr_assert_eq(fake.features_at_start, 1ULL << 32 | 1u << 5);
	cr_assert(fake.enabled_at_start[0] && fake.enabled_at_start[1]);
	cr_assert_eq(fake.vdev.vq[1].size, 128);
	cr_assert_eq(rd(0x14, 1), 0x0f, "no NEEDS_RESET");
	cr_assert_eq(rd(0x2000, 4), 0x44332211, "device config");
	wr(0x2004, 2, 0xabcd);
	cr_assert_eq(fake.config[4], 0xcd);
	/* reset stops the device and clears everything */
	wr(0x14, 1, 0);
	cr_assert_eq(fake.stops, 1);
	cr_assert_eq(rd(0x14, 1), 0);
	wr(0x16, 2, 1);
	cr_assert_eq(rd(0x18, 2), 256);
	cr_assert_eq(rd(0x1a, 2), 0xffff);
	cr_assert_eq(rd(0x1c, 2), 0);
}

/*
 * Only a reset clears status bits: DRIVER_OK taken away and set again
 * must not start the running device a second time (re-enabling its
 * queues under its threads), nor reopen the queue registers meanwhile.
 */
Test(virtio_pci, clearing_driver_ok_without_a_reset_changes_nothing)
{
	bring_up(256);
	cr_assert_eq(fake.starts, 1);
	wr(0x14, 1, 1 | 2 | 8);
	cr_assert_eq(rd(0x14, 1), 0x0f, "DRIVER_OK stays until a reset");
	wr(0x16, 2, 0);
	wr(0x18, 2, 64);
	cr_assert_eq(rd(0x18, 2), 256, "queue size read-only while the device runs");
	wr(0x14, 1, 1 | 2 | 8 | 4);
	cr_assert_eq(fake.starts, 1, "started once");
	cr_assert_eq(fake.stops, 0);
	cr_assert_eq(rd(0x14, 1) & 0x40, 0, "no NEEDS_RESET");
	/* a reset still stops it, and the next DRIVER_OK starts it again */
	wr(0x14, 1, 0);
	cr_assert_eq(fake.stops, 1);
	bring_up(256);
	cr_assert_eq(fake.starts, 2);
}

Test(virtio_pci, a_queue_size_not_a_power_of_two_needs_reset)
{
	bring_up(100);
	cr_assert_eq(fake.starts, 0);
	cr_assert(rd(0x14, 1) & 0x40, "DEVICE_NEEDS_RESET");
	/* and a reset clears it */
	wr(0x14, 1, 0);
	cr_assert_eq(rd(0x14, 1), 0);
}

Test(virtio_pci, rings_outside_ram_need_reset)
{
	map_bar();
	wr(0x14, 1, 1 | 2);
	wr(0x08, 4, 1);
	wr(0x0c, 4, 1);
	wr(0x14, 1, 1 | 2 | 8);
	wr(0x16, 2, 0);
	wr(0x20, 8, 0x80000000ULL);
	wr(0x28, 8, 0x1000);
	wr(0x30, 8, 0x2000);
	wr(0x1c, 2, 1);
	wr(0x14, 1, 1 | 2 | 8 | 4);
	cr_assert(rd(0x14, 1) & 0x40);
	cr_assert_eq(fake.starts, 0);
}

Test(virtio_pci, features_never_offered_or_no_version_1_are_refused)
{
	map_bar();
	wr(0x14, 1, 1 | 2);
	wr(0x08, 4, 0);
	wr(0x0c, 4, 1u << 7);
	wr(0x08, 4, 1);
	wr(0x0c, 4, 1);
	wr(0x14, 1, 1 | 2 | 8);
	cr_assert_eq(rd(0x14, 1) & 8, 0, "bit 7 was never offered");
	wr(0x14, 1, 0);
	wr(0x14, 1, 1 | 2);
	wr(0x14, 1, 1 | 2 | 8);
	cr_assert_eq(rd(0x14, 1) & 8, 0, "a legacy driver (no VERSION_1)");
	/* DRIVER_OK without FEATURES_OK */
	wr(0x14, 1, 1 | 2 | 4);
	cr_assert(rd(0x14, 1) & 0x40);
	cr_assert_eq(fake.starts, 0);
}

static uint64_t eventfd_count(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

Test(virtio_pci, msix_routes_and_fires_the_queue_vector)
{
	bring_up(256);
	/* program vector 1 (queue 1) and enable MSI-X */
	wr(0x4000 + 16 + 0, 4, 0xfee00000);
	wr(0x4000 + 16 + 8, 4, 0x4051);
	wr(0x4000 + 16 + 12, 4, 0);
	cfg_w(0x42, 2, 0x8000);
	cr_assert_eq(routes, 1);
	cr_assert_eq(route_addr[1], 0xfee00000);
	cr_assert_eq(route_data[1], 0x4051);
	virtio_interrupt(&fake.vdev, 1);
	cr_assert_eq(eventfd_count(irqfds[1]), 1, "queue 1's irqfd");
	cr_assert_eq(eventfd_count(irqfds[0]), 0);
	cr_assert_eq(intx_level, 0, "no INTx with MSI-X");
	/* the device breaks: NEEDS_RESET and the config vector (2, masked) pends */
	virtio_needs_reset(&fake.vdev);
	cr_assert(rd(0x14, 1) & 0x40);
	cr_assert_eq(rd(0x6000, 8), 4, "config vector pending in the PBA");
}

/* SIGUSR2's dump: what a person needs to see why a queue stalled. */
Test(virtio_pci, dump_shows_ring_indices_and_vector_state)
{
	uint8_t *ram = mem.region[0].hva;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	bring_up(256);
	wr(0x4000 + 16 + 0, 4, 0xfee00000);
	wr(0x4000 + 16 + 12, 4, 0);
	cfg_w(0x42, 2, 0x8000);
	/* queue 0: the driver made 3 entries available the device has not taken */
	ram[0x11000 + 2] = 3;
	virtio_needs_reset(&fake.vdev);
	f = open_memstream(&text, &len);
	cr_assert_not_null(f);
	virtio_pci_dump(vp, f);
	fclose(f);
	cr_assert(strstr(text, "status 0x4f"), "status with NEEDS_RESET: %s", text);
	cr_assert(strstr(text, "MSI-X on"), "%s", text);
	cr_assert(strstr(text, "config vector 2 masked pending"), "%s", text);
	cr_assert(strstr(text, "queue 0: size 256 avail.idx 3 last_avail 0 used_idx 0"), "%s",
		  text);
	cr_assert(strstr(text, ", vector 0 masked\n"), "queue 0's vector: %s", text);
	cr_assert(strstr(text, "queue 1: size 128 "), "%s", text);
	cr_assert(strstr(text, ", vector 1\n"), "queue 1's vector, unmasked: %s", text);
	free(text);
}

Test(virtio_pci, intx_and_isr_without_msix)
{
	bring_up(256);
	virtio_interrupt(&fake.vdev, 0);
	cr_assert_eq(intx_level, 1);
	cr_assert_eq(rd(0x1000, 1), 1, "queue interrupt");
	cr_assert_eq(intx_level, 0, "reading ISR acknowledges");
	cr_assert_eq(rd(0x1000, 1), 0);
	virtio_needs_reset(&fake.vdev);
	cr_assert_eq(rd(0x1000, 1), 2, "configuration change");
}

Test(virtio_pci, notify_without_ioeventfd_reaches_the_kick_fd)
{
	bring_up(256);
	wr(0x3004, 2, 1);
	cr_assert_eq(eventfd_count(fake.vdev.kick_fd[1]), 1);
}

Test(virtio_pci, the_pci_cfg_window_reaches_bar_registers)
{
	unsigned n, at;

	map_bar();
	at = find_cap(5, &n);
	cfg_w(at + 4, 1, 4);
	cfg_w(at + 8, 4, 0x12); /* num_queues */
	cfg_w(at + 12, 4, 2);
	cr_assert_eq(cfg(at + 16, 2), 2);
	/* a bad window (length 3, or beyond the BAR) reads the raw bytes, touches nothing */
	cfg_w(at + 12, 4, 3);
	cr_assert_eq(cfg(at + 16, 4), 0);
	cfg_w(at + 8, 4, 0x14);
	cfg_w(at + 12, 4, 1);
	cfg_w(at + 16, 1, 1 | 2);
	cr_assert_eq(rd(0x14, 1), 3, "status written through the window");
}

/*
 * A window whose offset plus length passes 4 GiB (0xfffffffc + 4 is 0 in
 * 32 bits) lies outside the BAR: it reads the raw bytes and writes
 * nothing, like any other window beyond the BAR.
 */
Test(virtio_pci, a_pci_cfg_window_that_wraps_past_4g_is_refused)
{
	unsigned n, at;

	map_bar();
	at = find_cap(5, &n);
	cfg_w(at + 4, 1, 4);
	for (uint32_t len = 1; len <= 4; len *= 2) {
		cfg_w(at + 8, 4, 0u - len);
		cfg_w(at + 12, 4, len);
		cr_assert_eq(cfg(at + 16, len), 0, "length %u: nothing behind it", len);
		cfg_w(at + 16, len, 0xffffffff);
		cr_assert_eq(cfg(at + 16, len), 0, "length %u: nothing written", len);
	}
	/* the registers are untouched and the window still works */
	cr_assert_eq(rd(0x14, 1), 0);
	cr_assert_eq(rd(0x10, 2), 0xffff, "msix_config");
	cfg_w(at + 8, 4, 0x12);
	cfg_w(at + 12, 4, 2);
	cr_assert_eq(cfg(at + 16, 2), 2, "num_queues through the window");
}

Test(virtio_pci, hostile_accesses_everywhere_are_harmless)
{
	bring_up(256);
	for (uint64_t off = 0; off < VIRTIO_PCI_BAR_SIZE; off += 1) {
		for (unsigned size = 1; size <= 8; size *= 2) {
			uint64_t v = 0;

			if (off == 0x14)
				continue; /* status: would reset */
			bus_read(&mmio, BAR + off, &v, size);
			wr(off, size, 0xffffffffffffffffULL);
		}
	}
	/* still a device that answers */
	cr_assert_eq(rd(0x12, 2), 2);
	for (unsigned off = 0; off < 0x100; off++)
		cfg_w(off, 1, 0xff);
}
