// SPDX-License-Identifier: MIT
/*
 * virtio-blk (virtio 1.2, 5.2) on a raw image through io_uring.
 *
 * Threads: one worker per enabled queue, started by start() and joined by
 * stop(). A worker owns its virtqueue and an io_uring of its own, so the
 * I/O path shares nothing and takes no lock. It sleeps in poll() on the
 * queue's kick eventfd (written by KVM when the driver notifies), the
 * ring's completion eventfd (io_uring_register_eventfd) and the device's
 * stop eventfd. A vCPU thread never does more than write a kick eventfd.
 *
 * Requests: each chain popped is decoded into a slot, which stays in
 * flight until its last io_uring operation completes. A request may take
 * several operations in turn: the rest of a short transfer, one discard
 * range after another, chunks through an aligned bounce buffer (O_DIRECT
 * with guest buffers the kernel refuses), chunks of zeroes where the
 * filesystem cannot fallocate them. A slot never has more than one
 * operation in the kernel, and a ring has as many entries as there are
 * slots, so neither its submission nor its completion queue can overflow.
 *
 * Stopping: the stop eventfd wakes every worker, which stops taking
 * chains and waits until each operation it has in the kernel completes;
 * stop() joins them, so once it returns the kernel writes no more guest
 * memory. Requests cut off that way are not answered (no status, no used
 * entry): the driver is resetting the device and the transport resets
 * the rings.
 *
 * Quiescing (vm.pause): the quiesce eventfd wakes every worker, which
 * stops taking chains, waits until each request it started is done and
 * answered (used entry, status, the interrupt decision), then parks
 * (virtio_quiesce_park()) without reading its kick eventfd: a kick that
 * came meanwhile wakes it again after resume, and the chains the driver
 * made available meanwhile are taken then. While parked it touches
 * neither guest memory nor the ring, and the kernel has nothing of it.
 */
#include "virtio_blk.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/log.h"
#include "virtio.h"
#include "virtq.h"

/* What the config space offers, and how the worker works through requests. */
#define BLK_MAX_RANGES        16u          /* max_discard_seg, max_write_zeroes_seg */
#define BLK_MAX_RANGE_SECTORS (1u << 22)   /* 2 GiB in one discard / write-zeroes range */
#define BLK_CHUNK             (256u << 10) /* one bounce or zero-fill transfer */
#define BLK_SERVE_ROUNDS      8            /* reap/pop rounds before an interrupt decision */
#define BLK_DRAIN_TRIES       1000         /* 1 ms apart: a ring that fails for a second is broken */

enum blk_op {
	BLK_OP_RW,     /* readv/writev straight on the guest's buffers */
	BLK_OP_BOUNCE, /* one chunk through an aligned buffer (O_DIRECT) */
	BLK_OP_FSYNC,
	BLK_OP_FALLOC, /* the current discard / write-zeroes range */
	BLK_OP_ZEROES, /* a chunk of zeroes written, where fallocate cannot */
};

struct blk_slot {
	struct virtio_blk_req req;    /* iov and range point at the storage below */
	struct iovec *iov;            /* grown to the longest chain seen */
	uint32_t iov_cap;
	struct virtio_blk_range range[BLK_MAX_RANGES];
	uint16_t head;
	enum blk_op op;
	uint64_t done;                /* bytes of the request (RW, BOUNCE) or of the range (ZEROES) */
	uint32_t first;               /* RW: first iovec not wholly transferred */
	uint32_t cur;                 /* DISCARD, WRITE_ZEROES: the range being worked on */
	uint8_t *bounce;              /* BOUNCE: BLK_CHUNK bytes, freed with the request */
	uint32_t chunk;               /* BOUNCE, ZEROES: bytes of the operation in flight */
};

struct virtio_blk;

struct blk_queue {
	struct virtio_blk *blk;
	unsigned index;
	struct virtq *vq;             /* &blk->vdev.vq[index] while running */
	struct io_uring ring;
	bool ring_ready;
	int cq_fd;                    /* io_uring completion eventfd */
	pthread_t thread;
	bool thread_started;

	struct virtq_seg *segs;       /* one popped chain, decoded at once */
	uint32_t nr_segs;
	struct blk_slot *slots;
	uint16_t *free_slots;         /* a stack of indices into slots */
	uint32_t nr_slots;
	uint32_t nr_free;

	uint8_t *zeroes;              /* BLK_CHUNK zero bytes, allocated on first need */
	bool no_punch_hole;           /* the file refused FALLOC_FL_PUNCH_HOLE */
	bool no_zero_range;           /* ... and FALLOC_FL_ZERO_RANGE */
	bool broken;                  /* needs_reset raised: take no more chains */
	bool ring_failed;             /* stopping could not wait for the ring: never used again */
	bool draining;                /* stopping: finish operations, answer nothing */
	bool pushed;                  /* used entries since the last interrupt decision */
};

struct virtio_blk {
	struct virtio_device vdev;    /* first: the transport's handle is ours */
	char *path;
	int fd;
	bool readonly;
	bool direct;
	uint32_t blk_size;            /* offset and length alignment of O_DIRECT, or 512 */
	uint32_t mem_align;           /* buffer address alignment of O_DIRECT, or 1 */
	uint64_t capacity;            /* sectors */
	char serial[VIRTIO_BLK_ID_BYTES];
	struct virtio_blk_config cfg; /* little-endian, constant after create */
	struct virtio_blk_disk disk;  /* what the decoder checks; set by start() */

	pthread_mutex_t lock;         /* start(), stop(), quiesce() and resume() */
	bool running;
	struct virtio_quiesce quiesce;
	int stop_fd;
	unsigned nr_queues;
	struct blk_queue *queues;
	struct log_ratelimit warn_rl; /* blk_warn_rl()'s, shared by the queues' threads */
};

/* What the guest or the backing file gets wrong: said a few times a second at most. */
#define blk_warn_rl(blk, ...) dev_warn_rl(&(blk)->warn_rl, (blk)->vdev.name, __VA_ARGS__)

static struct virtio_blk *to_blk(struct virtio_device *vdev)
{
	return (struct virtio_blk *)vdev;
}

/* ---- guest buffers ---- */

/*
 * Copies up to len bytes between buf and the bytes of iov[] from off on,
 * in the direction to_iov says; returns the bytes copied.
 */
static size_t iov_copy(const struct iovec *iov, uint32_t cnt, uint64_t off, void *buf,
		       size_t len, bool to_iov)
{
	uint8_t *p = buf;
	size_t copied = 0;

	for (uint32_t i = 0; i < cnt && copied < len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t n = iov[i].iov_len - off;

		if (n > len - copied)
			n = len - copied;
		if (to_iov)
			memcpy((uint8_t *)iov[i].iov_base + off, p + copied, n);
		else
			memcpy(p + copied, (uint8_t *)iov[i].iov_base + off, n);
		copied += n;
		off = 0;
	}
	return copied;
}

/* Drops the first n bytes of what is left of a request's iovecs. */
static void blk_iov_advance(struct blk_slot *s, uint64_t n)
{
	struct virtio_blk_req *r = &s->req;

	while (n && s->first < r->iovcnt) {
		struct iovec *v = &r->iov[s->first];

		if (n < v->iov_len) {
			v->iov_base = (uint8_t *)v->iov_base + n;
			v->iov_len -= n;
			return;
		}
		n -= v->iov_len;
		s->first++;
	}
}

/* O_DIRECT refuses buffers off its alignment: those go through a bounce buffer. */
static bool blk_needs_bounce(const struct virtio_blk *blk, const struct virtio_blk_req *r)
{
	if (!blk->direct)
		return false;
	for (uint32_t i = 0; i < r->iovcnt; i++) {
		if ((uintptr_t)r->iov[i].iov_base % blk->mem_align ||
		    r->iov[i].iov_len % blk->blk_size)
			return true;
	}
	return false;
}

/* ---- slots ---- */

static struct blk_slot *blk_slot_get(struct blk_queue *q)
{
	return &q->slots[q->free_slots[--q->nr_free]];
}

static void blk_slot_put(struct blk_queue *q, struct blk_slot *s)
{
	free(s->bounce);
	s->bounce = NULL;
	q->free_slots[q->nr_free++] = (uint16_t)(s - q->slots);
}

/* Room for one iovec per segment; a failure leaves the decoder short, which it answers IOERR. */
static void blk_slot_fit(struct blk_slot *s, uint32_t nr)
{
	struct iovec *iov;

	if (nr <= s->iov_cap)
		return;
	iov = realloc(s->iov, nr * sizeof(*iov));
	if (!iov)
		return;
	s->iov = iov;
	s->iov_cap = nr;
}

/* Answers the request (unless the device is stopping) and frees its slot. */
static void blk_finish(struct blk_queue *q, struct blk_slot *s, uint8_t status, uint64_t written)
{
	if (!q->draining) {
		*s->req.status = status;
		/* The status byte follows the data; a used len is 32 bits. */
		virtq_push(q->vq, s->head, written < UINT32_MAX ? (uint32_t)written + 1 : UINT32_MAX);
		q->pushed = true;
	}
	blk_slot_put(q, s);
}

static void blk_io_error(struct blk_queue *q, struct blk_slot *s, int err, const char *what)
{
	struct virtio_blk *blk = q->blk;

	blk_warn_rl(blk, "%s: %s at sector %llu: %s", blk->path, what,
		    (unsigned long long)s->req.sector, strerror(err));
	/* What a read put into guest buffers before it failed. */
	blk_finish(q, s, VIRTIO_BLK_S_IOERR, s->req.type == VIRTIO_BLK_T_IN ? s->done : 0);
}

/* ---- submission ---- */

static uint64_t blk_range_offset(const struct blk_slot *s)
{
	return s->range[s->cur].sector * VIRTIO_BLK_SECTOR_SIZE;
}

static uint64_t blk_range_bytes(const struct blk_slot *s)
{
	return (uint64_t)s->range[s->cur].num_sectors * VIRTIO_BLK_SECTOR_SIZE;
}

/* Unmapping is what a discard is; write-zeroes may unmap when the driver allows it. */
static bool blk_range_punches(const struct blk_slot *s)
{
	return s->req.type == VIRTIO_BLK_T_DISCARD ||
	       (s->range[s->cur].flags & VIRTIO_BLK_WZ_FLAG_UNMAP);
}

static void blk_prep_falloc(struct blk_slot *s, struct io_uring_sqe *sqe, int fd)
{
	int mode = FALLOC_FL_KEEP_SIZE |
		   (blk_range_punches(s) ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE);

	io_uring_prep_fallocate(sqe, fd, mode, (off_t)blk_range_offset(s),
				(off_t)blk_range_bytes(s));
}

static void blk_prep_zeroes(struct blk_queue *q, struct blk_slot *s, struct io_uring_sqe *sqe)
{
	uint64_t left = blk_range_bytes(s) - s->done;

	s->chunk = left < BLK_CHUNK ? (uint32_t)left : BLK_CHUNK;
	io_uring_prep_write(sqe, q->blk->fd, q->zeroes, s->chunk, blk_range_offset(s) + s->done);
}

static void blk_prep_bounce(struct blk_queue *q, struct blk_slot *s, struct io_uring_sqe *sqe)
{
	struct virtio_blk_req *r = &s->req;
	uint64_t left = r->len - s->done;

	s->chunk = left < BLK_CHUNK ? (uint32_t)left : BLK_CHUNK;
	if (r->type == VIRTIO_BLK_T_OUT) {
		iov_copy(r->iov, r->iovcnt, s->done, s->bounce, s->chunk, false);
		io_uring_prep_write(sqe, q->blk->fd, s->bounce, s->chunk, r->offset + s->done);
	} else {
		io_uring_prep_read(sqe, q->blk->fd, s->bounce, s->chunk, r->offset + s->done);
	}
}

static void blk_prep_rw(struct blk_queue *q, struct blk_slot *s, struct io_uring_sqe *sqe)
{
	struct virtio_blk_req *r = &s->req;

	if (r->type == VIRTIO_BLK_T_OUT)
		io_uring_prep_writev(sqe, q->blk->fd, r->iov + s->first, r->iovcnt - s->first,
				     r->offset + s->done);
	else
		io_uring_prep_readv(sqe, q->blk->fd, r->iov + s->first, r->iovcnt - s->first,
				    r->offset + s->done);
}

/* Queues the slot's next operation (s->op) on the ring. */
static void blk_submit(struct blk_queue *q, struct blk_slot *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);

	if (!sqe) {
		/* Cannot happen with one operation per slot; hand the ring what it holds. */
		io_uring_submit(&q->ring);
		sqe = io_uring_get_sqe(&q->ring);
	}
	if (!sqe) {
		blk_io_error(q, s, EAGAIN, "io_uring submission queue full");
		return;
	}
	switch (s->op) {
	case BLK_OP_RW:
		blk_prep_rw(q, s, sqe);
		break;
	case BLK_OP_BOUNCE:
		blk_prep_bounce(q, s, sqe);
		break;
	case BLK_OP_FSYNC:
		/* Only data and what is needed to read it back must reach the disk. */
		io_uring_prep_fsync(sqe, q->blk->fd, IORING_FSYNC_DATASYNC);
		break;
	case BLK_OP_FALLOC:
		blk_prep_falloc(s, sqe, q->blk->fd);
		break;
	case BLK_OP_ZEROES:
		blk_prep_zeroes(q, s, sqe);
		break;
	}
	io_uring_sqe_set_data(sqe, s);
}

/* ---- DISCARD and WRITE_ZEROES: one range after another ---- */

static bool blk_zeroes_ready(struct blk_queue *q)
{
	if (!q->zeroes) {
		q->zeroes = aligned_alloc(4096, BLK_CHUNK);
		if (q->zeroes)
			memset(q->zeroes, 0, BLK_CHUNK);
	}
	return q->zeroes != NULL;
}

/*
 * Starts on range i or the first after it with work to do: empty ranges
 * are skipped, and so are discards where holes cannot be punched (a
 * discard is a hint). Answers when no range is left.
 */
static void blk_range_from(struct blk_queue *q, struct blk_slot *s, uint32_t i)
{
	const struct virtio_blk_req *r = &s->req;
	bool unsupported;

	while (i < r->nr_range && (!s->range[i].num_sectors ||
				   (r->type == VIRTIO_BLK_T_DISCARD && q->no_punch_hole)))
		i++;
	if (i == r->nr_range) {
		blk_finish(q, s, VIRTIO_BLK_S_OK, 0);
		return;
	}
	s->cur = i;
	s->done = 0;
	unsupported = blk_range_punches(s) ? q->no_punch_hole : q->no_zero_range;
	s->op = unsupported ? BLK_OP_ZEROES : BLK_OP_FALLOC;
	if (unsupported && !blk_zeroes_ready(q)) {
		blk_io_error(q, s, ENOMEM, "write zeroes");
		return;
	}
	blk_submit(q, s);
}

static void blk_falloc_done(struct blk_queue *q, struct blk_slot *s, int res)
{
	if (res == -EOPNOTSUPP) {
		/* Remembered for the queue: later requests go straight to the fallback. */
		if (blk_range_punches(s))
			q->no_punch_hole = true;
		else
			q->no_zero_range = true;
		blk_range_from(q, s, s->cur);
		return;
	}
	if (res < 0) {
		blk_io_error(q, s, -res, s->req.type == VIRTIO_BLK_T_DISCARD ? "discard"
					 : "write zeroes");
		return;
	}
	blk_range_from(q, s, s->cur + 1);
}

static void blk_zeroes_done(struct blk_queue *q, struct blk_slot *s, int res)
{
	if (res <= 0) {
		blk_io_error(q, s, res ? -res : ENOSPC, "writing zeroes");
		return;
	}
	s->done += (uint64_t)res;
	if (s->done < blk_range_bytes(s))
		blk_submit(q, s);
	else
		blk_range_from(q, s, s->cur + 1);
}

/* ---- IN and OUT ---- */

static void blk_rw_done(struct blk_queue *q, struct blk_slot *s, int res)
{
	struct virtio_blk_req *r = &s->req;
	bool in = r->type == VIRTIO_BLK_T_IN;

	if (res < 0) {
		blk_io_error(q, s, -res, in ? "read" : "write");
		return;
	}
	if (res == 0) {
		/* Within the capacity, so the file shrank under us. */
		blk_io_error(q, s, ENODATA, in ? "read (image shorter than at start?)"
				       : "write (no progress)");
		return;
	}
	if (s->op == BLK_OP_BOUNCE && in)
		iov_copy(r->iov, r->iovcnt, s->done, s->bounce, (size_t)res, true);
	else if (s->op == BLK_OP_RW)
		blk_iov_advance(s, (uint64_t)res);
	s->done += (uint64_t)res;
	if (s->done < r->len)
		blk_submit(q, s); /* short: the rest */
	else
		blk_finish(q, s, VIRTIO_BLK_S_OK, in ? r->len : 0);
}

static void blk_begin_rw(struct blk_queue *q, struct blk_slot *s)
{
	if (s->req.len == 0) {
		blk_finish(q, s, VIRTIO_BLK_S_OK, 0);
		return;
	}
	s->op = BLK_OP_RW;
	if (blk_needs_bounce(q->blk, &s->req)) {
		s->op = BLK_OP_BOUNCE;
		s->bounce = aligned_alloc(4096, BLK_CHUNK);
		if (!s->bounce) {
			blk_io_error(q, s, ENOMEM, "bounce buffer");
			return;
		}
	}
	blk_submit(q, s);
}

/* ---- requests ---- */

static bool blk_ranges_fit(const struct blk_slot *s)
{
	for (uint32_t i = 0; i < s->req.nr_range; i++) {
		if (s->range[i].num_sectors > BLK_MAX_RANGE_SECTORS)
			return false;
	}
	return true;
}

/* Starts a decoded request. */
static void blk_begin(struct blk_queue *q, struct blk_slot *s)
{
	struct virtio_blk_req *r = &s->req;
	struct virtio_blk *blk = q->blk;

	s->done = 0;
	s->first = 0;
	if (r->status_code != VIRTIO_BLK_S_OK) {
		blk_finish(q, s, r->status_code, 0);
		return;
	}
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		blk_begin_rw(q, s);
		break;
	case VIRTIO_BLK_T_FLUSH:
		s->op = BLK_OP_FSYNC;
		blk_submit(q, s);
		break;
	case VIRTIO_BLK_T_GET_ID:
		blk_finish(q, s, VIRTIO_BLK_S_OK,
			   iov_copy(r->iov, r->iovcnt, 0, blk->serial, (size_t)r->len, true));
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (!blk_ranges_fit(s))
			blk_finish(q, s, VIRTIO_BLK_S_IOERR, 0);
		else
			blk_range_from(q, s, 0);
		break;
	default:
		blk_finish(q, s, VIRTIO_BLK_S_UNSUPP, 0);
		break;
	}
}

static void blk_complete(struct blk_queue *q, struct blk_slot *s, int res)
{
	if (q->draining) {
		blk_slot_put(q, s);
		return;
	}
	if (res == -EAGAIN || res == -EINTR) {
		blk_submit(q, s);
		return;
	}
	switch (s->op) {
	case BLK_OP_RW:
	case BLK_OP_BOUNCE:
		blk_rw_done(q, s, res);
		break;
	case BLK_OP_FSYNC:
		if (res < 0)
			blk_io_error(q, s, -res, "flush");
		else
			blk_finish(q, s, VIRTIO_BLK_S_OK, 0);
		break;
	case BLK_OP_FALLOC:
		blk_falloc_done(q, s, res);
		break;
	case BLK_OP_ZEROES:
		blk_zeroes_done(q, s, res);
		break;
	}
}

/* ---- the queue worker ---- */

/* The driver broke the queue: DEVICE_NEEDS_RESET, and no more chains from it. */
static void blk_queue_broken(struct blk_queue *q)
{
	q->broken = true;
	virtio_needs_reset(&q->blk->vdev);
}

static void blk_reap(struct blk_queue *q)
{
	struct io_uring_cqe *cqe;

	while (io_uring_peek_cqe(&q->ring, &cqe) == 0) {
		struct blk_slot *s = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&q->ring, cqe);
		blk_complete(q, s, res);
	}
}

/* Pops and starts chains while there are slots for them. */
static void blk_take(struct blk_queue *q)
{
	while (!q->broken && q->nr_free) {
		struct virtq_chain chain;
		struct blk_slot *s;
		int ret;

		virtq_chain_init(&chain, q->segs, q->nr_segs);
		ret = virtq_pop(q->vq, &chain);
		if (ret == 0)
			return;
		if (ret < 0) {
			blk_queue_broken(q); /* the virtq layer said why */
			return;
		}
		s = blk_slot_get(q);
		s->head = chain.head;
		blk_slot_fit(s, chain.nr);
		virtio_blk_req_init(&s->req, s->iov, s->iov_cap, s->range, BLK_MAX_RANGES);
		if (virtio_blk_req_decode(&chain, &q->blk->disk, &s->req) < 0) {
			blk_warn_rl(q->blk, "queue %u: chain from head %u has "
				    "no room for a header and a status byte; queue "
				    "stopped", q->index, chain.head);
			virtq_push(q->vq, chain.head, 0);
			q->pushed = true;
			blk_slot_put(q, s);
			blk_queue_broken(q);
			return;
		}
		blk_begin(q, s);
	}
}

static void blk_queue_submit(struct blk_queue *q)
{
	int ret;

	if (!io_uring_sq_ready(&q->ring))
		return;
	ret = io_uring_submit(&q->ring);
	/* What is not taken stays queued: the worker retries (see the poll timeout). */
	if (ret < 0 && ret != -EAGAIN && ret != -EBUSY && ret != -EINTR)
		blk_warn_rl(q->blk, "queue %u: io_uring_submit: %s", q->index,
			    strerror(-ret));
}

/*
 * Completions, new chains, submission, again while the kernel completed
 * something inline (page cache hits do), then one interrupt decision for
 * the whole batch. Bounded, so that a busy driver still gets interrupts.
 */
static void blk_queue_serve(struct blk_queue *q)
{
	for (unsigned round = 0; round < BLK_SERVE_ROUNDS; round++) {
		blk_reap(q);
		blk_take(q);
		blk_queue_submit(q);
		if (!io_uring_cq_ready(&q->ring))
			break;
	}
	if (q->pushed && virtq_should_notify(q->vq))
		virtio_interrupt(&q->blk->vdev, q->index);
	q->pushed = false;
}

/*
 * Waits for every operation in the kernel; nothing is answered any more.
 * Returning early would leave the kernel writing guest memory, so a
 * failing wait is retried; but a ring that fails for BLK_DRAIN_TRIES in a
 * row without completing anything will not recover, and waiting for it
 * forever would hang the vCPU (or the exit) that stops the device. Then
 * the queue is given up: said loudly, its requests never answered, the
 * queue never started again (DEVICE_NEEDS_RESET at the next DRIVER_OK),
 * and the buffers the kernel may still write are never freed.
 */
static void blk_queue_drain(struct blk_queue *q)
{
	unsigned failures = 0;

	q->draining = true;
	while (q->nr_free < q->nr_slots) {
		uint32_t before = q->nr_free;
		int ret = io_uring_submit_and_wait(&q->ring, 1);

		blk_reap(q);
		if (ret >= 0 || q->nr_free != before) {
			failures = 0;
			continue;
		}
		if (++failures == BLK_DRAIN_TRIES) {
			dev_err(q->blk->vdev.name, "queue %u: io_uring keeps failing (%s) with %u "
				"requests in it; giving up on them: the queue is out of service "
				"until the device is recreated", q->index, strerror(-ret),
				q->nr_slots - q->nr_free);
			q->ring_failed = true;
			break;
		}
		if (ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			blk_warn_rl(q->blk, "queue %u: waiting for I/O: %s", q->index,
				    strerror(-ret));
		usleep(1000);
	}
	q->draining = false;
}

static void eventfd_clear(struct virtio_blk *blk, int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		blk_warn_rl(blk, "eventfd read: %s", strerror(errno));
}

/*
 * Quiescing: no new chains, and every request in flight runs to its end
 * and is answered, so that nothing of the queue is left in the kernel.
 * Called off (a timed-out quiesce) it returns with the rest in flight.
 */
static void blk_queue_settle(struct blk_queue *q)
{
	while (q->nr_free < q->nr_slots && virtio_quiesce_wanted(&q->blk->quiesce)) {
		uint32_t before = q->nr_free;
		int ret = io_uring_submit_and_wait(&q->ring, 1);

		blk_reap(q);
		if (ret >= 0 || q->nr_free != before)
			continue;
		if (ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			blk_warn_rl(q->blk, "queue %u: waiting for I/O to pause: %s", q->index,
				    strerror(-ret));
		usleep(1000);
	}
	if (q->pushed && virtq_should_notify(q->vq))
		virtio_interrupt(&q->blk->vdev, q->index);
	q->pushed = false;
}

static void *blk_queue_thread(void *arg)
{
	struct blk_queue *q = arg;
	struct virtio_quiesce *qs = &q->blk->quiesce;
	struct pollfd pfd[4] = {
		{ .fd = q->blk->vdev.kick_fd[q->index], .events = POLLIN },
		{ .fd = q->cq_fd, .events = POLLIN },
		{ .fd = q->blk->stop_fd, .events = POLLIN },
		{ .fd = qs->fd, .events = POLLIN }, /* never read here: see virtio_quiesce.c */
	};

	for (;;) {
		if (virtio_quiesce_wanted(qs)) {
			blk_queue_settle(q);
			if (virtio_quiesce_wanted(qs) && !virtio_quiesce_park(qs))
				break; /* stopped while parked */
		}
		blk_queue_serve(q);
		if (q->broken)
			pfd[0].fd = -1; /* kicks are no longer listened to */
		for (unsigned i = 0; i < 4; i++)
			pfd[i].revents = 0;
		if (poll(pfd, 4, io_uring_sq_ready(&q->ring) ? 10 : -1) < 0 && errno != EINTR)
			blk_warn_rl(q->blk, "queue %u: poll: %s", q->index,
				    strerror(errno));
		if (pfd[2].revents)
			break;
		if (pfd[0].revents & POLLNVAL) {
			dev_err(q->blk->vdev.name, "queue %u: kick fd %d is not open", q->index,
				pfd[0].fd);
			blk_queue_broken(q);
		} else if (pfd[0].revents) {
			eventfd_clear(q->blk, pfd[0].fd);
		}
		if (pfd[1].revents)
			eventfd_clear(q->blk, pfd[1].fd);
	}
	blk_queue_drain(q);
	return NULL;
}

/* ---- start and stop ---- */

/* The worker takes no signals: they are for the main thread and the vCPUs' kicks. */
static int blk_queue_spawn(struct blk_queue *q)
{
	sigset_t all, old;
	int ret;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&q->thread, NULL, blk_queue_thread, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		return -ret;
	q->thread_started = true;
	return 0;
}

/* Wakes every worker, waits for them (and so for their I/O), rearms stop_fd. */
static void blk_join_all(struct virtio_blk *blk)
{
	uint64_t one = 1;

	/* A parked worker waits on the quiesce, not in poll(). */
	virtio_quiesce_stopping(&blk->quiesce, true);
	if (write(blk->stop_fd, &one, sizeof(one)) != sizeof(one))
		dev_err(blk->vdev.name, "stop eventfd: %s", strerror(errno));
	for (unsigned i = 0; i < blk->nr_queues; i++) {
		struct blk_queue *q = &blk->queues[i];

		if (q->thread_started)
			pthread_join(q->thread, NULL);
		q->thread_started = false;
	}
	eventfd_clear(blk, blk->stop_fd);
	virtio_quiesce_stopping(&blk->quiesce, false);
}

/* Whether the transport left the queues fit to serve; 0 or -errno. */
static int blk_check_queues(struct virtio_blk *blk)
{
	for (unsigned i = 0; i < blk->nr_queues; i++) {
		const struct virtq *vq = &blk->vdev.vq[i];
		int err = virtq_error(vq);

		if (err) {
			dev_warn(blk->vdev.name, "queue %u cannot be started: %s", i,
				 virtq_strerror(err));
			return err;
		}
		if (!vq->enabled)
			continue;
		if (blk->queues[i].ring_failed) {
			dev_warn(blk->vdev.name, "queue %u: its io_uring failed earlier; not started",
				 i);
			return -EIO;
		}
		if (vq->size > blk->queues[i].nr_slots || blk->vdev.kick_fd[i] < 0) {
			dev_warn(blk->vdev.name, "queue %u: size %u (at most %u) or kick fd %d "
				 "unusable", i, vq->size, blk->queues[i].nr_slots,
				 blk->vdev.kick_fd[i]);
			return -EINVAL;
		}
	}
	return 0;
}

static int blk_start_locked(struct virtio_blk *blk)
{
	bool discard = virtio_has_feature(blk->vdev.driver_features, VIRTIO_BLK_F_DISCARD);
	bool zeroes = virtio_has_feature(blk->vdev.driver_features, VIRTIO_BLK_F_WRITE_ZEROES);
	int ret = blk_check_queues(blk);

	if (ret) {
		virtio_needs_reset(&blk->vdev);
		return ret;
	}
	blk->disk = (struct virtio_blk_disk){
		.capacity = blk->capacity,
		.read_only = blk->readonly,
		.max_discard_seg = discard ? BLK_MAX_RANGES : 0,
		.max_write_zeroes_seg = zeroes ? BLK_MAX_RANGES : 0,
	};
	for (unsigned i = 0; i < blk->nr_queues; i++) {
		struct blk_queue *q = &blk->queues[i];

		if (!blk->vdev.vq[i].enabled)
			continue;
		q->vq = &blk->vdev.vq[i];
		q->broken = false;
		q->pushed = false;
		ret = blk_queue_spawn(q);
		if (ret) {
			dev_err(blk->vdev.name, "queue %u: no worker thread: %s", i, strerror(-ret));
			blk_join_all(blk);
			return ret;
		}
	}
	blk->running = true;
	return 0;
}

static int blk_start(struct virtio_device *vdev)
{
	struct virtio_blk *blk = to_blk(vdev);
	int ret = -EBUSY;

	pthread_mutex_lock(&blk->lock);
	if (!blk->running)
		ret = blk_start_locked(blk);
	pthread_mutex_unlock(&blk->lock);
	return ret;
}

static void blk_stop(struct virtio_device *vdev)
{
	struct virtio_blk *blk = to_blk(vdev);

	pthread_mutex_lock(&blk->lock);
	if (blk->running)
		blk_join_all(blk);
	blk->running = false;
	pthread_mutex_unlock(&blk->lock);
}

/* ---- quiesce and resume ---- */

static int blk_quiesce(struct virtio_device *vdev, unsigned timeout_ms)
{
	struct virtio_blk *blk = to_blk(vdev);
	unsigned workers = 0;
	int ret;

	pthread_mutex_lock(&blk->lock);
	for (unsigned i = 0; blk->running && i < blk->nr_queues; i++)
		workers += blk->queues[i].thread_started;
	ret = virtio_quiesce_begin(&blk->quiesce, workers, timeout_ms, vdev->name);
	pthread_mutex_unlock(&blk->lock);
	return ret;
}

static void blk_resume(struct virtio_device *vdev)
{
	struct virtio_blk *blk = to_blk(vdev);

	pthread_mutex_lock(&blk->lock);
	virtio_quiesce_end(&blk->quiesce);
	pthread_mutex_unlock(&blk->lock);
}

/* ---- config space ---- */

static void blk_config_read(struct virtio_device *vdev, uint32_t offset, void *data, uint32_t len)
{
	const struct virtio_blk *blk = to_blk(vdev);

	if (offset > sizeof(blk->cfg) || len > sizeof(blk->cfg) - offset) {
		memset(data, 0, len);
		return;
	}
	memcpy(data, (const uint8_t *)&blk->cfg + offset, len);
}

/* Only writeback is ever writable, and only with CONFIG_WCE, which is not offered. */
static void blk_config_write(struct virtio_device *vdev, uint32_t offset, const void *data,
			     uint32_t len)
{
	blk_warn_rl(to_blk(vdev), "config write of %u bytes at %#x ignored: read-only",
		    len, offset);
}

/* ---- create and free ---- */

static void blk_queue_free(struct blk_queue *q)
{
	if (q->ring_ready)
		io_uring_queue_exit(&q->ring);
	if (q->cq_fd >= 0)
		close(q->cq_fd);
	for (uint32_t i = 0; q->slots && i < q->nr_slots; i++) {
		free(q->slots[i].iov);
		if (!q->ring_failed)
			free(q->slots[i].bounce);
	}
	free(q->slots);
	free(q->free_slots);
	free(q->segs);
	if (!q->ring_failed)
		free(q->zeroes); /* else the kernel may still read or write them: leaked */
}

static void blk_free(struct virtio_device *vdev)
{
	struct virtio_blk *blk = to_blk(vdev);

	if (!blk)
		return;
	blk_stop(vdev);
	for (unsigned i = 0; blk->queues && i < blk->nr_queues; i++)
		blk_queue_free(&blk->queues[i]);
	free(blk->queues);
	if (blk->stop_fd >= 0)
		close(blk->stop_fd);
	if (blk->fd >= 0)
		close(blk->fd); /* and with it the lock */
	virtio_quiesce_destroy(&blk->quiesce);
	pthread_mutex_destroy(&blk->lock);
	free((char *)blk->vdev.name);
	free(blk->path);
	free(blk);
}

static const struct virtio_device_ops blk_ops = {
	.config_read = blk_config_read,
	.config_write = blk_config_write,
	.start = blk_start,
	.stop = blk_stop,
	.free = blk_free,
	.quiesce = blk_quiesce,
	.resume = blk_resume,
};

static int blk_queue_init(struct virtio_blk *blk, struct blk_queue *q, unsigned index,
			  uint32_t size, const char **why)
{
	int ret;

	q->blk = blk;
	q->index = index;
	q->nr_segs = size;
	q->nr_slots = size;
	q->nr_free = size;
	q->segs = calloc(size, sizeof(*q->segs));
	q->slots = calloc(size, sizeof(*q->slots));
	q->free_slots = calloc(size, sizeof(*q->free_slots));
	if (!q->segs || !q->slots || !q->free_slots)
		return log_why(why, ENOMEM, "%s: out of memory", blk->path);
	for (uint32_t i = 0; i < size; i++)
		q->free_slots[i] = (uint16_t)i;
	ret = io_uring_queue_init(size, &q->ring, 0);
	if (ret < 0)
		return log_why(why, -ret, "%s: io_uring setup: %s (io_uring disabled by "
			      "kernel.io_uring_disabled or a seccomp filter?)", blk->path,
			      strerror(-ret));
	q->ring_ready = true;
	q->cq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->cq_fd < 0)
		return log_why(why, errno, "%s: eventfd: %s", blk->path, strerror(errno));
	ret = io_uring_register_eventfd(&q->ring, q->cq_fd);
	if (ret < 0)
		return log_why(why, -ret, "%s: io_uring eventfd: %s", blk->path, strerror(-ret));
	return 0;
}

static int blk_check_options(const struct virtio_blk_options *opt, const char **why)
{
	unsigned n = opt->queue_size;

	if (!opt->path)
		return log_why(why, EINVAL, "virtio-blk: no image path");
	if (opt->queues < 1 || opt->queues > VIRTIO_BLK_MAX_QUEUES)
		return log_why(why, EINVAL, "%s: %u queues; 1 to %u are supported", opt->path,
			      opt->queues, VIRTIO_BLK_MAX_QUEUES);
	if (n && (n < 4 || n > VIRTIO_BLK_MAX_QUEUE_SIZE || (n & (n - 1))))
		return log_why(why, EINVAL, "%s: queue size %u is not a power of two from 4 to %u",
			      opt->path, n, VIRTIO_BLK_MAX_QUEUE_SIZE);
	if (opt->serial && strlen(opt->serial) > VIRTIO_BLK_ID_BYTES)
		return log_why(why, EINVAL, "%s: serial \"%s\" is longer than %u bytes", opt->path,
			      opt->serial, VIRTIO_BLK_ID_BYTES);
	return 0;
}

static int blk_open(struct virtio_blk *blk, const char **why)
{
	int flags = O_CLOEXEC | (blk->readonly ? O_RDONLY : O_RDWR) | (blk->direct ? O_DIRECT : 0);

	blk->fd = open(blk->path, flags);
	if (blk->fd >= 0)
		return 0;
	if (errno == EINVAL && blk->direct)
		return log_why(why, errno, "%s: cannot open with O_DIRECT: %s (does the "
			      "filesystem support direct I/O?)", blk->path, strerror(errno));
	if (!blk->readonly && (errno == EACCES || errno == EPERM || errno == EROFS))
		return log_why(why, errno, "%s: cannot open for writing: %s (readonly?)",
			      blk->path, strerror(errno));
	return log_why(why, errno, "%s: %s", blk->path, strerror(errno));
}

/* Two VMMs never write one image: exclusive when writable, shared when not. */
static int blk_lock(struct virtio_blk *blk, const char **why)
{
	if (flock(blk->fd, (blk->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK)
		return log_why(why, EBUSY, "%s: in use by another process (locked)", blk->path);
	dev_warn(blk->vdev.name, "%s: cannot lock (%s); going on without", blk->path,
		 strerror(errno));
	return 0;
}

/* The capacity: a whole number of sectors, and of O_DIRECT blocks. */
static int blk_check_size(struct virtio_blk *blk, const struct stat *st, const char **why)
{
	off_t end;
	uint64_t size;

	if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode))
		return log_why(why, EINVAL, "%s: not a regular file or block device", blk->path);
	end = lseek(blk->fd, 0, SEEK_END);
	if (end < 0)
		return log_why(why, errno, "%s: cannot find its size: %s", blk->path,
			      strerror(errno));
	size = (uint64_t)end;
	if (size == 0)
		return log_why(why, EINVAL, "%s: empty image", blk->path);
	if (size % blk->blk_size)
		return log_why(why, EINVAL, "%s: size %llu bytes is not a multiple of %u-byte "
			      "%s", blk->path, (unsigned long long)size, blk->blk_size,
			      blk->direct ? "blocks (direct I/O)" : "sectors");
	blk->capacity = size / VIRTIO_BLK_SECTOR_SIZE;
	return 0;
}

/* O_DIRECT's alignment: the logical block size for offsets and lengths, and for buffers. */
static int blk_direct_align(struct virtio_blk *blk, const struct stat *st, const char **why)
{
	struct statx stx;
	int lbs;

	if (S_ISBLK(st->st_mode)) {
		if (ioctl(blk->fd, BLKSSZGET, &lbs) < 0)
			return log_why(why, errno, "%s: BLKSSZGET: %s", blk->path, strerror(errno));
		blk->blk_size = blk->mem_align = (uint32_t)lbs;
	} else if (statx(blk->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
		   (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
		blk->blk_size = stx.stx_dio_offset_align;
		blk->mem_align = stx.stx_dio_mem_align ? stx.stx_dio_mem_align : 1;
	} else {
		/* A kernel that does not say: the filesystem block is always enough. */
		blk->blk_size = blk->mem_align = (uint32_t)st->st_blksize;
	}
	if (blk->blk_size < VIRTIO_BLK_SECTOR_SIZE)
		blk->blk_size = VIRTIO_BLK_SECTOR_SIZE;
	if (blk->blk_size > 4096 || (blk->blk_size & (blk->blk_size - 1)) ||
	    blk->mem_align > 4096)
		return log_why(why, EINVAL, "%s: direct I/O needs %u-byte blocks and %u-byte "
			      "aligned buffers; at most 4096 are supported", blk->path,
			      blk->blk_size, blk->mem_align);
	return 0;
}

/* A stable answer to GET_ID for an image: a hash of where it lives. */
static void blk_default_serial(struct virtio_blk *blk, const struct stat *st)
{
	uint64_t h = S_ISBLK(st->st_mode) ? (uint64_t)st->st_rdev
					  : (uint64_t)st->st_dev * 0x9e3779b97f4a7c15ULL ^ st->st_ino;
	char s[VIRTIO_BLK_ID_BYTES + 1];

	/* splitmix64's finalizer: nearby inodes give unrelated serials. */
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
	h ^= h >> 31;
	snprintf(s, sizeof(s), "%016llx", (unsigned long long)h);
	memcpy(blk->serial, s, sizeof(blk->serial));
}

static void blk_fill_config(struct virtio_blk *blk, const struct stat *st, unsigned queues,
			    unsigned queue_size)
{
	uint32_t discard_align = (uint32_t)st->st_blksize;
	struct virtio_blk_config *c = &blk->cfg;

	/* Holes are punched in filesystem blocks: a sane power of two >= the block size. */
	if (discard_align < blk->blk_size || discard_align > (1u << 20) ||
	    (discard_align & (discard_align - 1)))
		discard_align = blk->blk_size;
	c->capacity = htole64(blk->capacity);
	c->seg_max = htole32(queue_size - 2);
	c->blk_size = htole32(blk->blk_size);
	c->writeback = 1; /* the host's page cache and the disk's: FLUSH is needed */
	c->num_queues = htole16((uint16_t)queues);
	c->max_discard_sectors = htole32(BLK_MAX_RANGE_SECTORS);
	c->max_discard_seg = htole32(BLK_MAX_RANGES);
	c->discard_sector_alignment = htole32(discard_align / VIRTIO_BLK_SECTOR_SIZE);
	c->max_write_zeroes_sectors = htole32(BLK_MAX_RANGE_SECTORS);
	c->max_write_zeroes_seg = htole32(BLK_MAX_RANGES);
	c->write_zeroes_may_unmap = 1;

	blk->vdev.device_features = 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_INDIRECT_DESC |
		1ULL << VIRTIO_F_EVENT_IDX | 1ULL << VIRTIO_BLK_F_SEG_MAX |
		1ULL << VIRTIO_BLK_F_BLK_SIZE | 1ULL << VIRTIO_BLK_F_FLUSH |
		1ULL << VIRTIO_BLK_F_DISCARD | 1ULL << VIRTIO_BLK_F_WRITE_ZEROES |
		(blk->readonly ? 1ULL << VIRTIO_BLK_F_RO : 0) |
		(queues > 1 ? 1ULL << VIRTIO_BLK_F_MQ : 0);
}

/* The file: opened, locked, sized; 0 or -errno with *why set. */
static int blk_setup_file(struct virtio_blk *blk, const struct virtio_blk_options *opt,
			  struct stat *st, const char **why)
{
	int ret = blk_open(blk, why);

	if (ret)
		return ret;
	if (fstat(blk->fd, st) < 0)
		return log_why(why, errno, "%s: %s", blk->path, strerror(errno));
	blk->blk_size = VIRTIO_BLK_SECTOR_SIZE;
	blk->mem_align = 1;
	if (blk->direct) {
		ret = blk_direct_align(blk, st, why);
		if (ret)
			return ret;
	}
	ret = blk_check_size(blk, st, why);
	if (ret)
		return ret;
	ret = blk_lock(blk, why);
	if (ret)
		return ret;
	if (opt->serial)
		memcpy(blk->serial, opt->serial, strlen(opt->serial)); /* checked: <= 20 */
	else
		blk_default_serial(blk, st);
	return 0;
}

static int blk_setup(struct virtio_blk *blk, const struct virtio_blk_options *opt,
		     const char **why)
{
	unsigned size = opt->queue_size ? opt->queue_size : VIRTIO_BLK_QUEUE_SIZE;
	struct stat st;
	int ret = blk_setup_file(blk, opt, &st, why);

	if (ret)
		return ret;
	blk->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (blk->stop_fd < 0)
		return log_why(why, errno, "%s: eventfd: %s", blk->path, strerror(errno));
	blk->queues = calloc(opt->queues, sizeof(*blk->queues));
	if (!blk->queues)
		return log_why(why, ENOMEM, "%s: out of memory", blk->path);
	blk->nr_queues = opt->queues;
	for (unsigned i = 0; i < opt->queues; i++)
		blk->queues[i].cq_fd = -1;
	for (unsigned i = 0; i < opt->queues; i++) {
		ret = blk_queue_init(blk, &blk->queues[i], i, size, why);
		if (ret)
			return ret;
	}
	blk_fill_config(blk, &st, opt->queues, size);
	blk->vdev.nr_queues = (uint16_t)opt->queues;
	blk->vdev.queue_max_size = (uint16_t)size;
	return 0;
}

int virtio_blk_check(const struct virtio_blk_options *opt, const char **why)
{
	struct virtio_blk blk = { .fd = -1, .readonly = opt->readonly, .direct = opt->direct,
				  .path = (char *)opt->path, .vdev.name = "virtio-blk" };
	struct stat st;
	int ret = blk_check_options(opt, why);

	if (!ret)
		ret = blk_setup_file(&blk, opt, &st, why);
	if (blk.fd >= 0)
		close(blk.fd); /* and with it the lock: virtio_blk_create() takes it again */
	return ret;
}

struct virtio_device *virtio_blk_create(const char *name, const struct virtio_blk_options *opt,
					const struct guest_mem *mem, const char **why)
{
	struct virtio_blk *blk;
	int ret = blk_check_options(opt, why);

	if (ret) {
		errno = -ret;
		return NULL;
	}
	blk = calloc(1, sizeof(*blk));
	if (!blk || pthread_mutex_init(&blk->lock, NULL)) {
		free(blk);
		errno = -log_why(why, ENOMEM, "%s: out of memory", opt->path);
		return NULL;
	}
	ret = virtio_quiesce_init(&blk->quiesce);
	if (ret) {
		pthread_mutex_destroy(&blk->lock);
		free(blk);
		errno = -log_why(why, -ret, "%s: quiesce eventfd: %s", opt->path, strerror(-ret));
		return NULL;
	}
	blk->fd = -1;
	blk->stop_fd = -1;
	blk->readonly = opt->readonly;
	blk->direct = opt->direct;
	blk->vdev.ops = &blk_ops;
	blk->vdev.device_id = VIRTIO_ID_BLOCK;
	blk->vdev.config_len = sizeof(blk->cfg);
	blk->vdev.mem = mem;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		blk->vdev.kick_fd[i] = -1;
	blk->vdev.name = strdup(name ? name : "virtio-blk");
	blk->path = strdup(opt->path);
	if (!blk->vdev.name || !blk->path)
		ret = log_why(why, ENOMEM, "%s: out of memory", opt->path);
	else
		ret = blk_setup(blk, opt, why);
	if (ret) {
		blk_free(&blk->vdev);
		errno = -ret;
		return NULL;
	}
	return &blk->vdev;
}
