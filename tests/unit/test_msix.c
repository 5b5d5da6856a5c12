// SPDX-License-Identifier: MIT
/*
 * MSI-X emulation: the capability as the guest finds it, the table as it
 * programs it, and the masking rules: a masked vector is never fired but
 * left pending, and fired on unmask.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "devices/msix.h"
#include "core/pci.h"

static struct pci_bus pci;
static struct pci_device dev;
static struct msix m;
static unsigned fired[8], routes;
static uint64_t route_addr[8];
static uint32_t route_data[8];

static void on_route(void *opaque, unsigned v, uint64_t addr, uint32_t data)
{
	(void)opaque;
	routes++;
	route_addr[v] = addr;
	route_data[v] = data;
}

static void on_fire(void *opaque, unsigned v)
{
	(void)opaque;
	fired[v]++;
}

/* The last mask() call per vector: 0 none, 1 masked, 2 deliverable. */
static unsigned mask_state[8], mask_calls;

static void on_mask(void *opaque, unsigned v, bool masked)
{
	(void)opaque;
	cr_assert(masked || routes, "a vector opens only after it was routed");
	mask_state[v] = masked ? 1 : 2;
	mask_calls++;
}

static const struct msix_ops ops = { .route = on_route, .fire = on_fire, .mask = on_mask };

static void cfg_write(struct pci_device *d, unsigned off, unsigned size, uint32_t v)
{
	pci_default_cfg_write(d, off, size, v);
	if (off < m.cap + MSIX_CAP_SIZE && off + size > m.cap)
		msix_cfg_written(&m);
}

static const struct pci_device_ops dev_ops = { .name = "msix-test", .cfg_write = cfg_write };

static void setup(void)
{
	memset(fired, 0, sizeof(fired));
	memset(mask_state, 0, sizeof(mask_state));
	routes = mask_calls = 0;
	pci_bus_init(&pci);
	pci_device_init(&dev, &dev_ops, NULL, PCI_DEVFN(3, 0));
	cr_assert_eq(msix_init(&m, &dev, 0x40, 0, 4, 4, 0x1000, 0x1800, &ops, NULL), 0);
	cr_assert_eq(pci_bus_add(&pci, &dev), 0);
}

static void teardown(void)
{
	msix_destroy(&m);
}

TestSuite(msix, .init = setup, .fini = teardown);

static void program(unsigned v, uint64_t addr, uint32_t data)
{
	msix_table_write(&m, v * 16 + 0, 4, (uint32_t)addr);
	msix_table_write(&m, v * 16 + 4, 4, addr >> 32);
	msix_table_write(&m, v * 16 + 8, 4, data);
}

static void enable(bool on, bool fmask)
{
	pci_cfg_write(&pci, dev.devfn, 0x42, 2, (on ? 0x8000 : 0) | (fmask ? 0x4000 : 0));
}

Test(msix, capability_as_the_guest_reads_it)
{
	cr_assert_eq(pci_cfg_read(&pci, dev.devfn, 0x40, 1), PCI_CAP_ID_MSIX);
	cr_assert_eq(pci_cfg_read(&pci, dev.devfn, 0x42, 2), 3, "table size - 1, off");
	cr_assert_eq(pci_cfg_read(&pci, dev.devfn, 0x44, 4), 0x1004, "table at 0x1000 in BAR 4");
	cr_assert_eq(pci_cfg_read(&pci, dev.devfn, 0x48, 4), 0x1804, "PBA at 0x1800 in BAR 4");
	/* only enable and function mask are writable */
	pci_cfg_write(&pci, dev.devfn, 0x42, 2, 0xffff);
	cr_assert_eq(pci_cfg_read(&pci, dev.devfn, 0x42, 2), 0xc003);
	/* every vector starts masked */
	for (unsigned v = 0; v < 4; v++)
		cr_assert_eq(msix_table_read(&m, v * 16 + 12, 4), 1);
}

Test(msix, a_vector_fires_only_when_enabled_and_unmasked_and_pending_is_kept)
{
	program(1, 0xfee00000, 0x4041);
	msix_notify(&m, 1);
	cr_assert_eq(fired[1], 0, "MSI-X is off");
	cr_assert_eq(msix_pba_read(&m, 0, 8), 2, "pending");
	enable(true, false);
	cr_assert_eq(fired[1], 0, "still masked per vector");
	msix_table_write(&m, 1 * 16 + 12, 4, 0);
	cr_assert_eq(fired[1], 1, "unmasking fires what was pending");
	cr_assert_eq(routes, 1);
	cr_assert_eq(route_addr[1], 0xfee00000);
	cr_assert_eq(route_data[1], 0x4041);
	cr_assert_eq(msix_pba_read(&m, 0, 8), 0);
	msix_notify(&m, 1);
	cr_assert_eq(fired[1], 2);
	/* the function mask holds everything back, and lets it go */
	enable(true, true);
	msix_notify(&m, 1);
	cr_assert_eq(fired[1], 2);
	enable(true, false);
	cr_assert_eq(fired[1], 3);
	cr_assert_eq(routes, 1, "nothing to route again: same address and data");
}

Test(msix, reprogramming_a_live_vector_routes_it_again)
{
	enable(true, false);
	program(0, 0xfee00000, 0x30);
	msix_table_write(&m, 12, 4, 0);
	cr_assert_eq(routes, 1);
	msix_table_write(&m, 8, 4, 0x31);
	cr_assert_eq(routes, 2);
	cr_assert_eq(route_data[0], 0x31);
}

Test(msix, bad_accesses_are_harmless)
{
	/* beyond the table, odd sizes, misaligned: dropped, reads all ones */
	msix_table_write(&m, 4 * 16, 4, 0);
	msix_table_write(&m, 2, 4, 0);
	msix_table_write(&m, 0, 2, 0);
	cr_assert_eq(msix_table_read(&m, 4 * 16, 4), 0xffffffff);
	cr_assert_eq(msix_table_read(&m, 1, 4), 0xffffffff);
	cr_assert_eq(msix_pba_read(&m, 8, 8), ~0ULL);
	/* vector control: only the mask bit sticks */
	msix_table_write(&m, 12, 4, 0xfffffffe);
	cr_assert_eq(msix_table_read(&m, 12, 4), 0);
	msix_notify(&m, 99);
	cr_assert_eq(fired[0] + fired[1] + fired[2] + fired[3], 0);
}

Test(msix, reset_masks_everything)
{
	enable(true, false);
	program(2, 0xfee00000, 0x40);
	msix_table_write(&m, 2 * 16 + 12, 4, 0);
	msix_reset(&m);
	cr_assert_not(msix_enabled(&m));
	cr_assert_eq(pci_cfg_read(&pci, dev.devfn, 0x42, 2), 3);
	cr_assert_eq(msix_table_read(&m, 2 * 16 + 12, 4), 1);
	cr_assert_eq(msix_table_read(&m, 2 * 16 + 8, 4), 0);
}

/* What a passed-through device needs told: when each vector opens and closes. */
Test(msix, mask_says_when_a_vector_opens_and_closes)
{
	program(0, 0xfee00000, 0x41);
	program(1, 0xfee00000, 0x42);
	enable(true, false);
	cr_assert_eq(mask_calls, 0, "all still masked per vector: nothing changed");
	msix_table_write(&m, 0 * 16 + 12, 4, 0);
	cr_assert_eq(mask_state[0], 2, "vector 0 unmasked: open");
	cr_assert_eq(mask_state[1], 0);
	msix_table_write(&m, 1 * 16 + 12, 4, 0);
	cr_assert_eq(mask_state[1], 2);
	/* the function mask closes both, lifting it opens both again */
	enable(true, true);
	cr_assert(mask_state[0] == 1 && mask_state[1] == 1);
	enable(true, false);
	cr_assert(mask_state[0] == 2 && mask_state[1] == 2);
	/* per vector, then MSI-X off */
	msix_table_write(&m, 0 * 16 + 12, 4, 1);
	cr_assert_eq(mask_state[0], 1);
	cr_assert_eq(mask_state[1], 2);
	mask_calls = 0;
	enable(false, false);
	cr_assert_eq(mask_state[1], 1);
	cr_assert_eq(mask_calls, 1, "vector 0 was closed already: told once only");
}

/*
 * A reset closes every open vector like MSI-X off does, so mask() hears of
 * it: a passed-through device told nothing would go on signalling into the
 * irqfd, and the guest would get interrupts with MSI-X off. (fuzz_msix.)
 */
Test(msix, reset_tells_mask_which_vectors_closed)
{
	program(0, 0xfee00000, 0x41);
	program(1, 0xfee00000, 0x42);
	enable(true, false);
	msix_table_write(&m, 0 * 16 + 12, 4, 0);
	cr_assert_eq(mask_state[0], 2);
	mask_calls = 0;
	msix_reset(&m);
	cr_assert_eq(mask_state[0], 1, "vector 0 was open: now closed");
	cr_assert_eq(mask_calls, 1, "vector 1 was closed already: nothing to say");
	/* and opening it again after the reset routes it again, then says so */
	routes = 0;
	program(0, 0xfee00000, 0x43);
	enable(true, false);
	msix_table_write(&m, 0 * 16 + 12, 4, 0);
	cr_assert_eq(routes, 1);
	cr_assert_eq(route_data[0], 0x43);
	cr_assert_eq(mask_state[0], 2);
}
