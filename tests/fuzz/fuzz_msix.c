// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: MSI-X (devices/msix.c) as a guest programs it, the
 * capability's message control through config space and the table and
 * PBA in a BAR, with the host's side interleaved (a vector signalled, the
 * function reset). Two functions on one PCI bus:
 *
 *   A  an endpoint whose msix_ops are the checks themselves: 70 vectors
 *      (two PBA words, the second partly used), the table at BAR 0 + 0,
 *      the PBA at BAR 0 + 0x800, and a mask() hook as a passed-through
 *      function has;
 *   B  a virtio-pci function (devices/virtio_pci.c, two queues, three
 *      vectors) on fake pci_platform services: an irqfd recorder that hands
 *      out GSIs with a real eventfd each, and an msi_route recorder.
 *
 * Spaces (fuzz_io.h): 0 A's config space (256 bytes, through the PCI
 * core), 1 A's BAR 0 (4 KiB), 2 B's config space, 3 B's BAR 4 (32 KiB:
 * common configuration with the vector numbers, MSI-X table, PBA), and
 * 4 the host: a write at offset 0 signals A's vector value modulo 74 (the
 * last four out of range), at 1 resets A's MSI-X (under the PCI lock, as
 * an FLR would), at 2 has B's device signal queue value modulo 3 (2: no
 * such queue), at 3 has B's device ask for a reset (its config vector).
 *
 * The checks, each a promise of devices/msix.h or of the pci_platform
 * contract in core/platform.h; a broken one aborts:
 *  - route(), fire() and mask() come with the msix lock held, for a vector
 *    in range; route() and fire() only for a vector that can deliver, at
 *    the address and data its table entry holds; mask() only when the
 *    vector's deliverability changed, with a route given before it opens;
 *  - after every access, per vector: masked (by the entry, the function
 *    mask or MSI-X off) as msix_vector_state() says and as config space and
 *    the table say; pending as the PBA says, and never while deliverable;
 *    a deliverable vector routed to its entry's address and data;
 *  - signals: a signal to a deliverable vector fires it once, to a masked
 *    one sets its pending bit; an access that opens a pending vector fires
 *    it once and clears the bit; nothing else fires (but B's device, which
 *    also signals its config vector when a driver's status write breaks
 *    the virtio protocol);
 *  - the table reads back what was written, vector control only its mask
 *    bit; the capability's read-only fields never change;
 *  - B: msi_route only for a GSI the irqfd service handed out, each
 *    eventfd written at most once per access and only for a vector that
 *    can deliver, routed to where its table entry says.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/pci.h"
#include "core/platform.h"
#include "devices/msix.h"
#include "devices/virtio.h"
#include "devices/virtio_pci.h"
#include "fuzz_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The checks themselves carry no coverage instrumentation: their
 * branches are no new behaviour of the code under test, and would only
 * slow the search.
 */
#define CHECKER __attribute__((no_sanitize("coverage")))

/* The access being checked, named when a check fails. */
static const struct fuzz_access *current;

#define check(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "fuzz_msix: %s:%d: %s\n", __FILE__, __LINE__,    \
				#cond);                                               \
			if (current)                                                  \
				fprintf(stderr, "fuzz_msix: after %s of %u bytes at "    \
					"space %u offset 0x%llx value 0x%llx\n",         \
					current->write ? "a write" : "a read",        \
					current->size, current->space,                \
					(unsigned long long)current->offset,          \
					(unsigned long long)current->value);          \
			abort();                                                      \
		}                                                                     \
	} while (0)

#define A_DEVFN     PCI_DEVFN(4, 0)
#define A_CAP       0x40
#define A_NR        70
#define A_BAR_SIZE  0x1000
#define A_TABLE     0x000
#define A_PBA       0x800
#define B_DEVFN     PCI_DEVFN(5, 0)
#define B_QUEUES    2
#define B_NR        (B_QUEUES + 1)
#define GSI_BASE    40
#define MAX_GSI     8
#define HOST_LEN    4

#define CTRL_ENABLE 0x8000
#define CTRL_FMASK  0x4000

struct route {
	bool valid;
	uint64_t addr;
	uint32_t data;
};

/* The fake machine services: irqfd and msi_route recorders. */
struct platform {
	unsigned nr_gsi;
	int efd[MAX_GSI];
	struct route route[MAX_GSI];
};

struct fz {
	struct pci_bus pci;
	struct bus mmio;
	/* A */
	struct pci_device a;
	struct msix m;
	struct route a_route[A_NR];
	bool a_open[A_NR];
	unsigned a_fired[A_NR];
	bool a_pending[A_NR]; /* as the last check saw it */
	/* B */
	struct platform plat;
	struct pci_platform pp;
	struct virtio_device vdev;
	struct virtio_pci *vp;
	unsigned b_cap;
	bool b_pending[B_NR];
};

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

/* ---- A: an endpoint whose MSI-X callbacks check msix.h's promises ---- */

CHECKER static bool a_ctrl_open(const struct fz *fz)
{
	uint16_t ctrl = get16(&fz->a.cfg[A_CAP + PCI_MSIX_FLAGS]);

	return (ctrl & CTRL_ENABLE) && !(ctrl & CTRL_FMASK);
}

/* Inside a callback, with the msix lock held: the table as it is, read raw. */
CHECKER static bool a_raw_deliverable(const struct fz *fz, unsigned v)
{
	return a_ctrl_open(fz) && !(get32(&fz->m.table[v * 16 + 12]) & 1);
}

CHECKER static bool a_raw_route_is_entry(const struct fz *fz, unsigned v, uint64_t addr, uint32_t data)
{
	const uint8_t *e = &fz->m.table[v * 16];

	return addr == (get32(e) | (uint64_t)get32(e + 4) << 32) && data == get32(e + 8);
}

CHECKER static void a_in_callback(struct fz *fz, unsigned v)
{
	check(v < A_NR);
	check(pthread_mutex_trylock(&fz->m.lock) == EBUSY);
}

static void a_route(void *opaque, unsigned v, uint64_t addr, uint32_t data)
{
	struct fz *fz = opaque;

	a_in_callback(fz, v);
	check(a_raw_deliverable(fz, v) && a_raw_route_is_entry(fz, v, addr, data));
	fz->a_route[v] = (struct route){ true, addr, data };
}

static void a_fire(void *opaque, unsigned v)
{
	struct fz *fz = opaque;

	a_in_callback(fz, v);
	check(a_raw_deliverable(fz, v) && fz->a_route[v].valid);
	check(a_raw_route_is_entry(fz, v, fz->a_route[v].addr, fz->a_route[v].data));
	fz->a_fired[v]++;
}

static void a_mask(void *opaque, unsigned v, bool masked)
{
	struct fz *fz = opaque;

	a_in_callback(fz, v);
	check(fz->a_open[v] == masked); /* a change, not a repeat */
	check(masked == !a_raw_deliverable(fz, v));
	if (!masked)
		check(fz->a_route[v].valid &&
		      a_raw_route_is_entry(fz, v, fz->a_route[v].addr, fz->a_route[v].data));
	fz->a_open[v] = !masked;
}

static const struct msix_ops a_msix_ops = { .route = a_route, .fire = a_fire, .mask = a_mask };

static void a_cfg_write(struct pci_device *dev, unsigned off, unsigned size, uint32_t value)
{
	struct fz *fz = dev->opaque;

	pci_default_cfg_write(dev, off, size, value);
	if (off < A_CAP + MSIX_CAP_SIZE && off + size > A_CAP)
		msix_cfg_written(&fz->m);
}

static const struct pci_device_ops a_ops = { .name = "fuzz-msix", .cfg_write = a_cfg_write };

static uint64_t a_bar_read(void *opaque, uint64_t off, unsigned size)
{
	struct fz *fz = opaque;

	if (off >= A_PBA)
		return msix_pba_read(&fz->m, off - A_PBA, size);
	return msix_table_read(&fz->m, off - A_TABLE, size);
}

static void a_bar_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
	struct fz *fz = opaque;

	if (off < A_PBA)
		msix_table_write(&fz->m, off - A_TABLE, size, value);
}

static const struct bus_ops a_bar_ops = { "fuzz-msix-bar", a_bar_read, a_bar_write };

static void a_init(struct fz *fz)
{
	struct pci_config_header *h = pci_header(fz->a.cfg);

	pci_device_init(&fz->a, &a_ops, fz, A_DEVFN);
	pci_set_ids(&fz->a, 0x1b36, 0x00f2, 0x00ff00, PCI_HEADER_TYPE_NORMAL);
	h->status = PCI_STATUS_CAP_LIST;
	h->capabilities = A_CAP;
	pci_header(fz->a.wmask)->command = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	if (pci_device_add_bar(&fz->a, 0, PCI_BAR_MEM32, A_BAR_SIZE, false) ||
	    msix_init(&fz->m, &fz->a, A_CAP, 0, A_NR, 0, A_TABLE, A_PBA, &a_msix_ops, fz) ||
	    pci_bus_add(&fz->pci, &fz->a))
		abort();
}

/* ---- B: virtio-pci on fake machine services ---- */

static int plat_irqfd(void *opaque, unsigned *gsi, int *efd)
{
	struct platform *p = opaque;
	int fd;

	check(p->nr_gsi < MAX_GSI);
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		abort();
	p->efd[p->nr_gsi] = fd;
	*gsi = GSI_BASE + p->nr_gsi++;
	*efd = fd;
	return 0;
}

static int plat_msi_route(void *opaque, unsigned gsi, uint64_t addr, uint32_t data)
{
	struct platform *p = opaque;

	check(gsi >= GSI_BASE && gsi - GSI_BASE < p->nr_gsi); /* a GSI irqfd() made */
	p->route[gsi - GSI_BASE] = (struct route){ true, addr, data };
	return 0;
}

static int plat_ioeventfd(void *opaque, uint64_t addr, unsigned len, int fd, bool assign)
{
	check(fd >= 0 && len == 2);
	return 0;
}

static int vdev_start(struct virtio_device *vdev)
{
	return 0;
}

static void vdev_stop(struct virtio_device *vdev)
{
}

static void vdev_free(struct virtio_device *vdev)
{
}

static const struct virtio_device_ops vdev_ops = {
	.start = vdev_start, .stop = vdev_stop, .free = vdev_free,
};

static unsigned find_msix_cap(const struct pci_device *dev)
{
	unsigned at = dev->cfg[PCI_CAPABILITY_LIST];

	for (unsigned n = 0; at && n < 48; n++, at = dev->cfg[at + 1])
		if (dev->cfg[at] == PCI_CAP_ID_MSIX)
			return at;
	abort();
}

static void b_init(struct fz *fz, const struct guest_mem *mem)
{
	fz->pp = (struct pci_platform){
		.irqfd = plat_irqfd, .msi_route = plat_msi_route, .ioeventfd = plat_ioeventfd,
		.opaque = &fz->plat, .mmio = &fz->mmio, .intx = fuzz_irq,
	};
	fz->vdev = (struct virtio_device){
		.ops = &vdev_ops, .name = "fuzz-virtio", .device_id = VIRTIO_ID_BLOCK,
		.device_features = 1ULL << VIRTIO_F_VERSION_1, .nr_queues = B_QUEUES,
		.queue_max_size = 16, .mem = mem,
	};
	fz->vp = virtio_pci_new(&fz->vdev, B_DEVFN, &fz->pp);
	if (!fz->vp || pci_bus_add(&fz->pci, virtio_pci_dev(fz->vp)))
		abort();
	check(fz->plat.nr_gsi == B_NR);
	fz->b_cap = find_msix_cap(virtio_pci_dev(fz->vp));
}

/* ---- spaces ---- */

static uint64_t cfg_read(struct fz *fz, uint8_t devfn, uint64_t off, unsigned size)
{
	return size > 4 ? ~0ULL : pci_cfg_read(&fz->pci, devfn, (unsigned)off, size);
}

static uint64_t a_cfg_space_read(void *opaque, uint64_t off, unsigned size)
{
	return cfg_read(opaque, A_DEVFN, off, size);
}

static void a_cfg_space_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
	struct fz *fz = opaque;

	if (size <= 4)
		pci_cfg_write(&fz->pci, A_DEVFN, (unsigned)off, size, (uint32_t)value);
}

static uint64_t b_cfg_space_read(void *opaque, uint64_t off, unsigned size)
{
	return cfg_read(opaque, B_DEVFN, off, size);
}

static void b_cfg_space_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
	struct fz *fz = opaque;

	if (size <= 4)
		pci_cfg_write(&fz->pci, B_DEVFN, (unsigned)off, size, (uint32_t)value);
}

static uint64_t b_bar_read(void *opaque, uint64_t off, unsigned size)
{
	struct fz *fz = opaque;

	return virtio_pci_bar_read(fz->vp, off, size);
}

static void b_bar_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
	struct fz *fz = opaque;

	virtio_pci_bar_write(fz->vp, off, size, value);
}

static uint64_t host_read(void *opaque, uint64_t off, unsigned size)
{
	return 0;
}

static void host_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
	struct fz *fz = opaque;

	switch (off) {
	case 0:
		msix_notify(&fz->m, (unsigned)(value % (A_NR + 4)));
		break;
	case 1:
		pthread_mutex_lock(&fz->pci.lock);
		msix_reset(&fz->m);
		pthread_mutex_unlock(&fz->pci.lock);
		break;
	case 2:
		virtio_interrupt(&fz->vdev, (unsigned)(value % (B_QUEUES + 1)));
		break;
	case 3:
		virtio_needs_reset(&fz->vdev);
		break;
	}
}

static const struct bus_ops a_cfg_ops = { "a-cfg", a_cfg_space_read, a_cfg_space_write };
static const struct bus_ops b_cfg_ops = { "b-cfg", b_cfg_space_read, b_cfg_space_write };
static const struct bus_ops b_bar_ops = { "b-bar", b_bar_read, b_bar_write };
static const struct bus_ops host_ops = { "host", host_read, host_write };

enum { SP_A_CFG, SP_A_BAR, SP_B_CFG, SP_B_BAR, SP_HOST };

/* ---- the checks after each access ---- */

/* Whether a was the host's write at off (one wider than the space is not made). */
CHECKER static bool host_op(const struct fuzz_access *a, uint64_t off)
{
	return a->space == SP_HOST && a->write && a->size <= HOST_LEN && a->offset == off;
}

CHECKER static void a_check_cap(struct fz *fz)
{
	const uint8_t *c = &fz->a.cfg[A_CAP];
	uint16_t ctrl = get16(c + PCI_MSIX_FLAGS);

	check(c[0] == PCI_CAP_ID_MSIX && c[1] == 0);
	check((ctrl & PCI_MSIX_FLAGS_QSIZE) == A_NR - 1 && (ctrl & 0x3800) == 0);
	check(get32(c + PCI_MSIX_TABLE) == A_TABLE && get32(c + PCI_MSIX_PBA) == A_PBA);
	check(msix_enabled(&fz->m) == !!(ctrl & CTRL_ENABLE));
}

/* The fire and pending model for vector v of A over one access. */
CHECKER static void a_check_signals(struct fz *fz, unsigned v, bool dl, bool pend,
			    const struct fuzz_access *a, unsigned fired)
{
	bool signalled = host_op(a, 0) && a->value % (A_NR + 4) == v;

	if (signalled) {
		check(fired == (dl ? 1u : 0u) && pend == !dl);
		return;
	}
	if (host_op(a, 1)) {
		check(fired == 0 && !pend && !dl); /* reset: off, masked, nothing pending */
		return;
	}
	if (dl)
		check(fired == (fz->a_pending[v] ? 1u : 0u) && !pend);
	else
		check(fired == 0 && pend == fz->a_pending[v]);
}

/*
 * Per vector, from the table as it stands (no access is in flight, and
 * a_check_table_access() holds msix_table_read() to it) and the PBA as
 * msix_pba_read() gives it.
 */
CHECKER static void a_check(struct fz *fz, const struct fuzz_access *a, const unsigned *fired)
{
	uint64_t pba[(A_NR + 63) / 64];

	a_check_cap(fz);
	for (unsigned w = 0; w < (A_NR + 63) / 64; w++)
		pba[w] = msix_pba_read(&fz->m, w * 8, 8);
	check(pba[A_NR / 64] >> (A_NR % 64) == 0); /* bits past the last vector stay 0 */
	for (unsigned v = 0; v < A_NR; v++) {
		const uint8_t *e = &fz->m.table[v * 16];
		bool dl = a_raw_deliverable(fz, v), masked, pend = pba[v / 64] >> (v % 64) & 1;
		bool state_pend;

		msix_vector_state(&fz->m, v, &masked, &state_pend);
		check(masked == !dl && state_pend == pend);
		check((get32(e + 12) & ~1u) == 0);
		check(fz->a_open[v] == dl);
		if (dl)
			check(fz->a_route[v].valid &&
			      a_raw_route_is_entry(fz, v, fz->a_route[v].addr, fz->a_route[v].data));
		a_check_signals(fz, v, dl, pend, a, fired[v]);
		fz->a_pending[v] = pend;
	}
}

/*
 * A table read returns the entry's bytes; a write reads back as written,
 * vector control as its mask bit alone.
 */
CHECKER static void a_check_table_access(struct fz *fz, const struct fuzz_access *a)
{
	uint64_t off = a->offset - A_TABLE, v = a->value, raw = 0;

	if (a->space != SP_A_BAR || a->offset >= A_PBA || off >= A_NR * 16ULL ||
	    (a->size != 4 && a->size != 8) || off % a->size)
		return;
	memcpy(&raw, &fz->m.table[off], a->size);
	if (!a->write) {
		check(a->value == raw);
		return;
	}
	if (off % 16 == 12)
		v &= 1;
	else if (a->size == 8 && off % 16 == 8)
		v &= 0x1ffffffffULL;
	check(raw == v && msix_table_read(&fz->m, off, a->size) == v);
}

CHECKER static uint64_t b_bar(struct fz *fz, uint64_t off, unsigned size)
{
	return virtio_pci_bar_read(fz->vp, off, size);
}

CHECKER static void b_check(struct fz *fz, const struct fuzz_access *a)
{
	const uint8_t *cfg = virtio_pci_dev(fz->vp)->cfg;
	uint16_t ctrl = get16(&cfg[fz->b_cap + PCI_MSIX_FLAGS]);
	/*
	 * The device signals when the host says, or when a driver's status
	 * write breaks the protocol (the config vector: "needs reset").
	 */
	bool may_signal = host_op(a, 2) || host_op(a, 3) ||
			   (a->space == SP_B_BAR && a->write && a->offset < VIRTIO_PCI_ISR);
	unsigned signals = 0;

	check((ctrl & PCI_MSIX_FLAGS_QSIZE) == B_NR - 1);
	for (unsigned v = 0; v < B_NR; v++) {
		uint64_t e = VIRTIO_PCI_MSIX_TABLE + 16 * v, n = 0;
		bool dl = (ctrl & CTRL_ENABLE) && !(ctrl & CTRL_FMASK) && !(b_bar(fz, e + 12, 4) & 1);
		bool pend = b_bar(fz, VIRTIO_PCI_MSIX_PBA, 8) >> v & 1;
		const struct route *r = &fz->plat.route[v];
		ssize_t got = read(fz->plat.efd[v], &n, sizeof(n));

		check(got == sizeof(n) || (got < 0 && errno == EAGAIN));
		check(got < 0 || n == 1);
		check(!(dl && pend));
		if (dl || got > 0)
			check(dl && r->valid && r->addr == b_bar(fz, e, 8) &&
			      r->data == b_bar(fz, e + 8, 4));
		if (got > 0 && !fz->b_pending[v])
			signals++; /* fired, not from what was pending */
		if (pend && !fz->b_pending[v])
			signals++; /* newly pending */
		if (!may_signal)
			check(!pend || fz->b_pending[v]);
		fz->b_pending[v] = pend;
	}
	check(signals <= (may_signal ? 1u : 0u));
}

struct after_state {
	struct fz *fz;
	unsigned fired[A_NR];
};

CHECKER static void after(void *arg, const struct fuzz_access *a)
{
	struct after_state *st = arg;
	struct fz *fz = st->fz;
	unsigned fired[A_NR];

	current = a;
	for (unsigned v = 0; v < A_NR; v++) {
		fired[v] = fz->a_fired[v] - st->fired[v];
		st->fired[v] = fz->a_fired[v];
	}
	a_check_table_access(fz, a);
	a_check(fz, a, fired);
	/* B's eventfds are read only when B can have signalled: reads are syscalls. */
	if (a->space == SP_B_CFG || a->space == SP_B_BAR || host_op(a, 2) || host_op(a, 3))
		b_check(fz, a);
	current = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz *fz;
	struct fuzz_io io;
	struct after_state st;

	if (!fuzz_io_begin(&io, data, size))
		return 0;
	fz = calloc(1, sizeof(*fz));
	if (!fz || bus_init(&fz->mmio, "mmio"))
		abort();
	pci_bus_init(&fz->pci);
	a_init(fz);
	b_init(fz, &io.mem);

	const struct fuzz_space spaces[] = {
		[SP_A_CFG] = { .name = "a-cfg", .ops = &a_cfg_ops, .opaque = fz, .len = 256 },
		[SP_A_BAR] = { .name = "a-bar", .ops = &a_bar_ops, .opaque = fz, .len = A_BAR_SIZE },
		[SP_B_CFG] = { .name = "b-cfg", .ops = &b_cfg_ops, .opaque = fz, .len = 256 },
		[SP_B_BAR] = { .name = "b-bar", .ops = &b_bar_ops, .opaque = fz,
			       .len = VIRTIO_PCI_BAR_SIZE },
		[SP_HOST] = { .name = "host", .ops = &host_ops, .opaque = fz, .len = HOST_LEN },
	};
	st = (struct after_state){ .fz = fz };
	fuzz_io_run(&io, spaces, sizeof(spaces) / sizeof(spaces[0]), after, &st);

	virtio_pci_free(fz->vp); /* closes the eventfds irqfd() made */
	msix_destroy(&fz->m);
	bus_destroy(&fz->mmio);
	pthread_mutex_destroy(&fz->pci.lock);
	pthread_mutex_destroy(&fz->pci.apply_lock);
	free(fz);
	fuzz_io_end(&io);
	return 0;
}
