// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the modern virtio-pci transport (devices/virtio_pci.c)
 * as a guest driver reaches it, with a small fake device behind it that
 * checks what devices/virtio.h promises a device model.
 *
 * Spaces (fuzz_io.h):
 *   0 "cfg"  the function's 4 KiB of config space through ECAM, and
 *   1 "mmio" 64 KiB of the MMIO bus at 0xfe000000, where Linux's seeds put
 *            BAR 4 (32 KiB): fuzz_vpci.h, whose platform this target shares
 *   2 "bar"  BAR 4's 32 KiB straight to virtio_pci_bar_read/write(), as the
 *            bus delivers them wherever the BAR sits
 *   3 "host" the device's and the VMM's side; a write at offset
 *            0 raises queue (value % (queues + 1))'s interrupt (the last
 *              one is out of range, which the transport must ignore),
 *            1 reports the driver broken (virtio_needs_reset()),
 *            2 serves queue value % queues as a device thread would,
 *            3 toggles whether KVM refuses ioeventfds (at the next map),
 *            4 toggles whether the device's start() fails,
 *            5 stops the device as a VMM reset does (virtio_pci_stop()),
 *            6 dumps the state (SIGUSR2's virtio_pci_dump()).
 * After every access the fake device serves the queues whose kick eventfd
 * was written (a notify), as its thread would at once.
 *
 * Aborts when a promise breaks: config accesses outside config_len or of
 * an odd size; start() twice without stop(), with features never offered
 * or without VERSION_1, with a queue that is not a power of two up to the
 * maximum or without a kick fd; a device still running after a reset
 * (status reads 0); and the transport's promises that fuzz_vpci.c checks
 * (DEVICE_NEEDS_RESET cleared by anything but a reset, an MSI route for a
 * GSI the platform never gave, an ioeventfd removed that was never
 * assigned or assigned twice, an INTx level other than 0/1).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/pci.h"
#include "devices/virtio_pci.h"
#include "fuzz_io.h"
#include "fuzz_vpci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NR_QUEUES   3
#define QUEUE_MAX   64
#define CONFIG_LEN  10 /* not a multiple of 4 or 8: the end is reached unaligned */

struct target {
	struct virtio_device vdev; /* first: the fake device's callbacks get it */
	uint8_t config[CONFIG_LEN];
	bool running, start_fails;
	struct virtq_seg seg[QUEUE_MAX];

	struct fuzz_io io;
	struct fuzz_vpci v;
	FILE *null;
	bool trace; /* FUZZ_TRACE set: what each access did, for writing seeds */
};

static struct target *of(struct virtio_device *vdev)
{
	return (struct target *)vdev;
}

/* ---- the fake device ---- */

static void config_check(uint32_t off, uint32_t len)
{
	if ((len != 1 && len != 2 && len != 4 && len != 8) || off > CONFIG_LEN ||
	    len > CONFIG_LEN - off)
		abort(); /* virtio.h: offset + len <= config_len, len 1, 2, 4 or 8 */
}

static void fake_config_read(struct virtio_device *vdev, uint32_t off, void *data, uint32_t len)
{
	config_check(off, len);
	memcpy(data, of(vdev)->config + off, len);
}

static void fake_config_write(struct virtio_device *vdev, uint32_t off, const void *data,
			      uint32_t len)
{
	config_check(off, len);
	memcpy(of(vdev)->config + off, data, len);
}

static int fake_start(struct virtio_device *vdev)
{
	struct target *t = of(vdev);

	if (t->running)
		abort(); /* virtio.h: start() again only after stop() */
	if (vdev->driver_features & ~vdev->device_features ||
	    !virtio_has_feature(vdev->driver_features, VIRTIO_F_VERSION_1))
		abort(); /* the transport negotiated what was never offered */
	for (unsigned q = 0; q < vdev->nr_queues; q++) {
		const struct virtq *vq = &vdev->vq[q];

		if (!vq->enabled)
			continue;
		if (!vq->size || vq->size & (vq->size - 1) || vq->size > vdev->queue_max_size ||
		    vdev->kick_fd[q] < 0)
			abort();
	}
	if (t->start_fails)
		return -EIO;
	t->running = true;
	if (t->trace)
		fprintf(stderr, "start: features %#llx\n", (unsigned long long)vdev->driver_features);
	return 0;
}

static void fake_stop(struct virtio_device *vdev)
{
	of(vdev)->running = false;
}

static const struct virtio_device_ops fake_ops = {
	.config_read = fake_config_read,
	.config_write = fake_config_write,
	.start = fake_start,
	.stop = fake_stop,
};

/* Pops every chain of queue q, writes its writable bytes, returns it: a device's I/O. */
static void fake_serve(struct target *t, unsigned q)
{
	struct virtio_device *vdev = &t->vdev;
	struct virtq *vq = &vdev->vq[q];
	struct virtq_chain c;
	volatile uint8_t sink = 0;

	if (!t->running || !vq->enabled)
		return;
	for (unsigned n = 0; n < QUEUE_MAX; n++) {
		int ret;

		virtq_chain_init(&c, t->seg, QUEUE_MAX);
		ret = virtq_pop(vq, &c);
		if (ret < 0)
			virtio_needs_reset(vdev);
		if (ret <= 0)
			break;
		/* Every byte of every segment: ASan sees one outside guest RAM. */
		for (uint32_t i = 0; i < c.nr; i++) {
			uint8_t *p = c.seg[i].hva;

			if (c.seg[i].writable)
				memset(p, 0xa5, c.seg[i].len);
			else
				for (uint32_t b = 0; b < c.seg[i].len; b++)
					sink ^= p[b];
		}
		virtq_push(vq, c.head, (uint32_t)c.writable_len);
		if (t->trace)
			fprintf(stderr, "queue %u: chain %u, %u segments\n", q, c.head, c.nr);
	}
	(void)sink;
	if (virtq_should_notify(vq))
		virtio_interrupt(vdev, q);
}

/* ---- spaces ---- */

static uint64_t bar_read(void *opaque, uint64_t off, unsigned size)
{
	struct target *t = opaque;

	return virtio_pci_bar_read(t->v.vp, off, size);
}

static void bar_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
	struct target *t = opaque;

	virtio_pci_bar_write(t->v.vp, off, size, value);
}

static const struct bus_ops bar_ops = { "bar", bar_read, bar_write };

static uint64_t host_read(void *opaque, uint64_t off, unsigned size)
{
	return 0;
}

static void host_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
	struct target *t = opaque;

	switch (off) {
	case 0:
		virtio_interrupt(&t->vdev, (unsigned)(value % (NR_QUEUES + 1)));
		break;
	case 1:
		virtio_needs_reset(&t->vdev);
		break;
	case 2:
		fake_serve(t, (unsigned)(value % NR_QUEUES));
		break;
	case 3:
		t->v.refuse_ioeventfd = !t->v.refuse_ioeventfd;
		break;
	case 4:
		t->start_fails = !t->start_fails;
		break;
	case 5:
		virtio_pci_stop(t->v.vp);
		if (t->running)
			abort(); /* virtio_pci.h: no I/O after it returns */
		break;
	case 6:
		virtio_pci_dump(t->v.vp, t->null);
		break;
	}
}

static const struct bus_ops host_ops = { "host", host_read, host_write };

/* Notifies reach the device's thread at once; then the transport's promises. */
static void after(void *arg, const struct fuzz_access *a)
{
	struct target *t = arg;
	uint8_t status;

	for (unsigned q = 0; t->running && q < NR_QUEUES; q++) {
		uint64_t n;

		if (t->vdev.vq[q].enabled && read(t->vdev.kick_fd[q], &n, sizeof(n)) == sizeof(n))
			fake_serve(t, q);
	}
	status = fuzz_vpci_status(&t->v);
	if (status == 0 && t->running)
		abort(); /* a reset stops the device */
	if (t->trace)
		fprintf(stderr, "%s %s %#llx+%u = %#llx: status %#x\n", a->write ? "w" : "r",
			a->space == 0 ? "cfg" : a->space == 1 ? "mmio" : a->space == 2 ? "bar" : "host",
			(unsigned long long)a->offset, a->size, (unsigned long long)a->value, status);
}

static void setup(struct target *t)
{
	t->vdev = (struct virtio_device){
		.ops = &fake_ops, .name = "virtio-fuzz", .device_id = VIRTIO_ID_BLOCK,
		.device_features = 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_INDIRECT_DESC |
				   1ULL << VIRTIO_F_EVENT_IDX | 1ULL << 5,
		.config_len = CONFIG_LEN, .nr_queues = NR_QUEUES, .queue_max_size = QUEUE_MAX,
		.mem = &t->io.mem,
	};
	memcpy(t->config, "\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa", CONFIG_LEN);
	fuzz_vpci_init(&t->v, &t->vdev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *null;
	struct target *t;

	if (!null) {
		null = fopen("/dev/null", "w");
		if (!null)
			abort();
		log_threshold = LOG_ERR; /* a broken driver is the expected outcome */
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		abort();
	if (!fuzz_io_begin(&t->io, data, size)) {
		free(t);
		return 0;
	}
	t->null = null;
	t->trace = getenv("FUZZ_TRACE") != NULL;
	setup(t);

	struct fuzz_space spaces[FUZZ_VPCI_SPACES + 2];

	fuzz_vpci_spaces(&t->v, spaces);
	spaces[FUZZ_VPCI_SPACES] = (struct fuzz_space){ .name = "bar", .ops = &bar_ops,
							.opaque = t, .len = VIRTIO_PCI_BAR_SIZE };
	spaces[FUZZ_VPCI_SPACES + 1] = (struct fuzz_space){ .name = "host", .ops = &host_ops,
							    .opaque = t, .len = 7 };
	fuzz_io_run(&t->io, spaces, FUZZ_VPCI_SPACES + 2, after, t);

	fuzz_vpci_free(&t->v);
	if (t->running)
		abort(); /* freed: stopped */
	fuzz_io_end(&t->io);
	free(t);
	return 0;
}
