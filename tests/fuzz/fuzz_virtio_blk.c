// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: virtio-blk (devices/virtio_blk.c) executing requests
 * end to end: a guest driver programs it through the virtio-pci transport,
 * lays its queues out in guest RAM and notifies; the device pops chains,
 * runs them on a small image through io_uring as in the VMM, writes the
 * status bytes and the used ring, and interrupts.
 *
 * The device's worker threads run inline: virtio_blk.c is compiled into
 * this file with pthread_create() and pthread_join() replaced. start()
 * records each queue's worker instead of starting it; after every access
 * a queue whose kick eventfd was written is served (blk_queue_serve(),
 * what the worker does when woken) and, unless the host holds completions,
 * every operation it has in the kernel is waited for and answered, so
 * each input runs the same way every time. A join runs what the worker
 * does when stopped (blk_queue_drain()). Nothing outlives the input.
 *
 * Spaces (fuzz_io.h): 0 "cfg" and 1 "mmio" (fuzz_vpci.h: config space,
 * BAR 4 where the guest maps it), 2 "host": 8 bytes per operation, so an
 * access of any size stays inside one, where a write at offset 8 times
 *   0 toggles holding completions: kicks then only submit, and requests
 *     stay in the kernel across accesses (and across a reset),
 *   1 completes everything in flight now,
 *   2 truncates the image to (value % (its size + 1)) bytes under the
 *     device (reads past the end then fail as a shrunk image does),
 *   3 stops the device as a VMM reset does (virtio_pci_stop()).
 *
 * The disk: the first byte of guest RAM (gpa 0; the seeds keep rings and
 * buffers away from it) picks it: bit 0 read-only, bit 1 two queues, bits
 * 2-4 the image's size, (n + 1) * 8 KiB. The image is a temp file in
 * /dev/shm (or $TMPDIR), rewritten with a pattern for every input.
 *
 * Aborts when a promise breaks: a chain popped and never answered, or
 * answered twice (used idx against the slots in flight); the device still
 * running after a reset (status reads 0) or after virtio_pci_stop(); I/O
 * still in the kernel when stop() returns; and the transport's promises
 * that fuzz_vpci.c checks.
 */
#include <pthread.h>

static int fuzz_thread_create(pthread_t *thread, const pthread_attr_t *attr,
			      void *(*fn)(void *), void *arg);
static int fuzz_thread_join(pthread_t thread, void **ret);
#define pthread_create fuzz_thread_create
#define pthread_join fuzz_thread_join
#include "../../devices/virtio_blk.c"
#undef pthread_create
#undef pthread_join

#include "core/log.h"
#include "devices/virtio_pci.h"
#include "fuzz_io.h"
#include "fuzz_vpci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define QUEUE_SIZE  16
#define SETTLE_MAX  1000 /* rounds of waiting for the kernel before giving up on an input */

/* The queues' workers, as start() would have started them. */
static struct blk_queue *worker[VIRTIO_BLK_MAX_QUEUES];

static int fuzz_thread_create(pthread_t *thread, const pthread_attr_t *attr,
			      void *(*fn)(void *), void *arg)
{
	if (fn != blk_queue_thread)
		abort();
	for (unsigned i = 0; i < VIRTIO_BLK_MAX_QUEUES; i++) {
		if (!worker[i]) {
			worker[i] = arg;
			*thread = i + 1;
			return 0;
		}
	}
	abort(); /* more workers than queues */
}

static int fuzz_thread_join(pthread_t thread, void **ret)
{
	struct blk_queue *q;

	if (thread < 1 || thread > VIRTIO_BLK_MAX_QUEUES || !worker[thread - 1])
		abort(); /* joined twice, or never started */
	q = worker[thread - 1];
	worker[thread - 1] = NULL;
	blk_queue_drain(q); /* what the worker does once stop_fd wakes it */
	if (q->nr_free != q->nr_slots && !q->ring_failed)
		abort(); /* virtio.h: no in-flight I/O after stop() */
	return 0;
}

struct target {
	struct fuzz_io io;
	struct fuzz_vpci v;
	struct virtio_blk *blk;
	uint64_t image_size;
	bool hold;
};

static int image_fd = -1;
static char image_path[64];

static void image_unlink(void)
{
	unlink(image_path);
}

static void image_make(uint64_t size)
{
	static uint8_t pattern[64 << 10];

	if (image_fd < 0) {
		const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");

		snprintf(image_path, sizeof(image_path), "%s/fuzz-vblk-XXXXXX", dir ? dir : "/tmp");
		image_fd = mkstemp(image_path);
		if (image_fd < 0)
			abort();
		atexit(image_unlink);
		for (size_t i = 0; i < sizeof(pattern); i++)
			pattern[i] = (uint8_t)((i >> 9) * 13 + i) | 1;
	}
	if (ftruncate(image_fd, 0) || pwrite(image_fd, pattern, size, 0) != (ssize_t)size)
		abort();
}

/* Every chain popped is answered once: popped minus answered is what holds a slot. */
static void check_queue(struct blk_queue *q)
{
	const struct virtq *vq = q->vq;

	/* A broken queue publishes nothing more (virtq.h): its chains are the reset's. */
	if (!vq->enabled || q->draining || virtq_error(vq))
		return;
	if ((uint16_t)(vq->last_avail - vq->used_idx) != q->nr_slots - q->nr_free) {
		fprintf(stderr, "queue %u: last_avail %u used_idx %u, %u in flight, broken %d error %d\n",
			q->index, vq->last_avail, vq->used_idx, q->nr_slots - q->nr_free, q->broken, vq->error);
		abort();
	}
}

/* Waits for the queue's operations in the kernel, answering them, until none is left. */
static void settle(struct blk_queue *q)
{
	for (unsigned n = 0; q->nr_free < q->nr_slots && n < SETTLE_MAX; n++) {
		int ret = io_uring_submit_and_wait(&q->ring, 1);

		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			abort(); /* the target's own ring broke: not the guest's doing */
		blk_queue_serve(q);
		check_queue(q);
	}
}

static void serve_kicked(struct target *t)
{
	for (unsigned i = 0; i < VIRTIO_BLK_MAX_QUEUES; i++) {
		struct blk_queue *q = worker[i];
		uint64_t n;

		if (!q || read(t->blk->vdev.kick_fd[q->index], &n, sizeof(n)) != sizeof(n))
			continue;
		blk_queue_serve(q);
		check_queue(q);
		if (!t->hold)
			settle(q);
	}
}

static uint64_t host_read(void *opaque, uint64_t off, unsigned size)
{
	return 0;
}

static void host_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
	struct target *t = opaque;

	switch (off / 8) {
	case 0:
		t->hold = !t->hold;
		break;
	case 1:
		for (unsigned i = 0; i < VIRTIO_BLK_MAX_QUEUES; i++)
			if (worker[i])
				settle(worker[i]);
		break;
	case 2:
		if (ftruncate(image_fd, (off_t)(value % (t->image_size + 1))))
			abort();
		break;
	case 3:
		virtio_pci_stop(t->v.vp);
		if (t->blk->running)
			abort(); /* virtio_pci.h: no I/O after it returns */
		break;
	}
}

static const struct bus_ops host_ops = { "host", host_read, host_write };

static void after(void *arg, const struct fuzz_access *a)
{
	struct target *t = arg;

	serve_kicked(t);
	if (fuzz_vpci_status(&t->v) == 0 && t->blk->running)
		abort(); /* a reset stops the device */
}

static struct virtio_blk *create(struct target *t)
{
	uint8_t disk = *(uint8_t *)t->io.mem.region[0].hva;
	struct virtio_blk_options o = {
		.path = image_path, .readonly = disk & 1, .queues = disk & 2 ? 2 : 1,
		.queue_size = QUEUE_SIZE, .serial = disk & 0x20 ? NULL : "fuzz-disk",
	};
	struct virtio_device *vdev;
	const char *why = NULL;

	t->image_size = (((disk >> 2) & 7) + 1) * 8192ULL;
	image_make(t->image_size);
	vdev = virtio_blk_create("virtio-blk-fuzz", &o, &t->io.mem, &why);
	if (!vdev) {
		fprintf(stderr, "fuzz_virtio_blk: %s\n", why ? why : "cannot create the device");
		abort();
	}
	return to_blk(vdev);
}

/* Each queue's indices and the status bytes where the seeds put them (gpa 0xa00). */
static void trace(struct target *t)
{
	const uint8_t *st = (const uint8_t *)t->io.mem.region[0].hva + 0xa00;

	fprintf(stderr, "status %#x, running %d\n", fuzz_vpci_status(&t->v), t->blk->running);
	for (unsigned i = 0; i < VIRTIO_BLK_MAX_QUEUES; i++)
		if (worker[i])
			fprintf(stderr, "queue %u: last_avail %u used_idx %u in flight %u\n",
				worker[i]->index, worker[i]->vq->last_avail, worker[i]->vq->used_idx,
				worker[i]->nr_slots - worker[i]->nr_free);
	fprintf(stderr, "status bytes:");
	for (unsigned i = 0; i < 10; i++)
		fprintf(stderr, " %02x", st[i]);
	fputc('\n', stderr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_space spaces[FUZZ_VPCI_SPACES + 1];
	struct target *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	log_threshold = getenv("FUZZ_TRACE") ? LOG_DEBUG : LOG_ERR; /* a broken driver is expected */
	if (!fuzz_io_begin(&t->io, data, size)) {
		free(t);
		return 0;
	}
	t->blk = create(t);
	fuzz_vpci_init(&t->v, &t->blk->vdev);
	fuzz_vpci_spaces(&t->v, spaces);
	spaces[FUZZ_VPCI_SPACES] = (struct fuzz_space){ .name = "host", .ops = &host_ops,
							.opaque = t, .len = 4 * 8 };
	fuzz_io_run(&t->io, spaces, FUZZ_VPCI_SPACES + 1, after, t);
	if (getenv("FUZZ_TRACE"))
		trace(t);

	fuzz_vpci_free(&t->v); /* stops (joins, drains) and frees the device */
	for (unsigned i = 0; i < VIRTIO_BLK_MAX_QUEUES; i++)
		if (worker[i])
			abort(); /* a worker never joined */
	fuzz_io_end(&t->io);
	free(t);
	return 0;
}
