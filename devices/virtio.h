/* SPDX-License-Identifier: MIT */
#ifndef DEVICES_VIRTIO_H
#define DEVICES_VIRTIO_H

/*
 * The seam between a virtio device model (virtio-blk, virtio-net) and its
 * transport (modern virtio-pci, devices/virtio_pci.c). The transport owns
 * the registers the driver programs (features, queue addresses, status)
 * and the interrupt and notification wiring; the device owns its config
 * space and does the I/O, on threads of its own: never on a vCPU thread.
 *
 * Life of a device:
 *   1. The model fills a struct virtio_device (embedded first in its own
 *      struct) with what it offers.
 *   2. The driver negotiates; on DRIVER_OK the transport fills
 *      driver_features, enables the queues in vq[] and calls start().
 *   3. The device waits on kick_fd[q] (an eventfd that KVM writes, through
 *      an ioeventfd, whenever the driver notifies queue q), pops chains,
 *      does the I/O, pushes used buffers and calls virtio_interrupt(),
 *      which injects the queue's MSI-X vector (an irqfd) or INTx.
 *   4. On a driver reset, a VMM reset or exit the transport calls stop():
 *      every thread is joined and no in-flight I/O touches guest memory
 *      after it returns. start() may follow again (the driver's next
 *      DRIVER_OK), with queues enabled afresh.
 *   5. vm.pause quiesces it (quiesce(), then resume()): the threads stay,
 *      but finish what they started and wait, touching neither guest
 *      memory nor the rings and raising no interrupt until resume().
 *      A kick or a packet that arrives meanwhile waits for resume().
 * A malformed queue (virtq_pop() < 0) makes the device call
 * virtio_needs_reset(): the transport sets DEVICE_NEEDS_RESET, which the
 * driver sees, and the device stops serving that queue.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "virtq.h"

/* Device IDs (virtio 1.2, 5 "Device Types"); the PCI device ID is 0x1040 + id. */
#define VIRTIO_ID_NET   1
#define VIRTIO_ID_BLOCK 2

/* Transport feature bits (virtio 1.2, 6). */
#define VIRTIO_F_VERSION_1 32

#define VIRTIO_MAX_QUEUES 64

struct virtio_device;

struct virtio_device_ops {
	/*
	 * The device-specific configuration structure (virtio 1.2, 5.x.4),
	 * little-endian. offset + len <= config_len, len 1, 2, 4 or 8; called
	 * on vCPU threads, concurrently with the device's own threads.
	 */
	void (*config_read)(struct virtio_device *vdev, uint32_t offset, void *data, uint32_t len);
	void (*config_write)(struct virtio_device *vdev, uint32_t offset, const void *data,
			     uint32_t len);
	/* Start serving the enabled queues (see above); 0 or -errno. */
	int (*start)(struct virtio_device *vdev);
	/* Stop serving; idempotent, also when start() was never called. */
	void (*stop)(struct virtio_device *vdev);
	/* stop(), then release everything (fds, threads, memory, file locks). */
	void (*free)(struct virtio_device *vdev);
	/* Optional: the device's own state, for virtio_pci_dump() (any thread). */
	void (*dump)(struct virtio_device *vdev, FILE *f);
	/*
	 * Optional (a device without threads has nothing to quiesce): stop
	 * processing and return once every worker is idle: no chain being
	 * worked on, no host I/O in flight, no interrupt being raised. 0, or
	 * -ETIMEDOUT (said in one line naming the device) when a worker was
	 * still busy after timeout_ms: then the device runs on as before.
	 * Quiescing a quiesced device returns at once. stop() and start()
	 * may come in between; started workers then wait for resume().
	 */
	int (*quiesce)(struct virtio_device *vdev, unsigned timeout_ms);
	/* Lets the workers go on; what was signalled meanwhile is served. */
	void (*resume)(struct virtio_device *vdev);
};

struct virtio_device {
	const struct virtio_device_ops *ops;
	const char *name;           /* "virtio-blk0": log lines name the device */
	uint16_t device_id;         /* VIRTIO_ID_* */
	/*
	 * Offered features: the device's own bits plus those of the ring it
	 * supports (VIRTIO_F_INDIRECT_DESC, VIRTIO_F_EVENT_IDX) and
	 * VIRTIO_F_VERSION_1, which the transport requires.
	 */
	uint64_t device_features;
	uint32_t config_len;
	uint16_t nr_queues;         /* 1..VIRTIO_MAX_QUEUES */
	uint16_t queue_max_size;    /* a power of two */
	const struct guest_mem *mem;

	/* Filled by the transport before start(). */
	uint64_t driver_features;
	struct virtq vq[VIRTIO_MAX_QUEUES]; /* vq[q].enabled says which */
	int kick_fd[VIRTIO_MAX_QUEUES];
	void (*interrupt)(void *transport, unsigned queue);
	void (*needs_reset)(void *transport);
	void *transport;
};

/* Used buffers are in queue q: tell the driver. Thread-safe. */
static inline void virtio_interrupt(struct virtio_device *vdev, unsigned queue)
{
	if (vdev->interrupt)
		vdev->interrupt(vdev->transport, queue);
}

/* The driver broke the protocol: DEVICE_NEEDS_RESET. Thread-safe. */
static inline void virtio_needs_reset(struct virtio_device *vdev)
{
	if (vdev->needs_reset)
		vdev->needs_reset(vdev->transport);
}

/*
 * What a device's workers and its quiesce()/resume() share
 * (devices/virtio_quiesce.c). A worker keeps fd in its poll set (readable
 * while a quiesce is wanted; never read by the worker) and, whenever
 * virtio_quiesce_wanted(), finishes what it started and calls
 * virtio_quiesce_park(), which returns on resume (true) or stop (false).
 */
struct virtio_quiesce {
	pthread_mutex_t lock;
	pthread_cond_t cond;       /* CLOCK_MONOTONIC */
	bool wanted;
	bool stopping;             /* stop() joins the workers: parked ones leave */
	unsigned parked;
	int fd;                    /* eventfd */
};

int virtio_quiesce_init(struct virtio_quiesce *q) __attribute__((warn_unused_result));
void virtio_quiesce_destroy(struct virtio_quiesce *q);
/*
 * Asks for a quiesce and waits until workers (the number running) have
 * parked: 0, or -ETIMEDOUT after timeout_ms, said in one line naming name,
 * with the quiesce called off. Serialize it with start() and stop().
 */
int virtio_quiesce_begin(struct virtio_quiesce *q, unsigned workers, unsigned timeout_ms,
			 const char *name) __attribute__((warn_unused_result));
void virtio_quiesce_end(struct virtio_quiesce *q);
bool virtio_quiesce_wanted(struct virtio_quiesce *q);
bool virtio_quiesce_park(struct virtio_quiesce *q);
/* Around joining the workers: parked ones return from virtio_quiesce_park(). */
void virtio_quiesce_stopping(struct virtio_quiesce *q, bool stopping);

static inline bool virtio_has_feature(uint64_t features, unsigned bit)
{
	return bit < 64 && (features >> bit) & 1;
}

#endif
