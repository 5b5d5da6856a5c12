/* SPDX-License-Identifier: MIT */
#ifndef DEVICES_VIRTQ_H
#define DEVICES_VIRTQ_H

/*
 * Split virtqueues (virtio 1.x, "2.7 Split Virtqueues"), the device side.
 *
 * The driver puts three rings at guest physical addresses it chooses: the
 * descriptor table, the available ring (driver -> device) and the used ring
 * (device -> driver). The transport hands those addresses, the queue size
 * and the negotiated features to virtq_enable(); the device then drains
 * the queue with virtq_pop(), returns buffers with virtq_push() and asks
 * virtq_should_notify() whether to interrupt the driver.
 *
 * Everything the guest wrote is untrusted. Every malformed input puts the
 * queue into a sticky error state (virtq_error() != 0, logged once per
 * queue and rate-limited), which the transport turns into
 * DEVICE_NEEDS_RESET; no host memory outside guest RAM is ever reached,
 * since every address goes through guest_mem_ptr().
 *
 * Not thread-safe: one thread (the device's) owns a queue at a time.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

struct guest_mem;

#define VIRTQ_MAX_SIZE 32768u

/* Feature bits (virtio 1.2, 6 "Reserved Feature Bits"). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1

/* Guest layouts, little-endian. */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
_Static_assert(sizeof(struct virtq_desc) == 16, "virtq_desc is 16 bytes");

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* [size], then le16 used_event when EVENT_IDX */
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};
_Static_assert(sizeof(struct virtq_used_elem) == 8, "virtq_used_elem is 8 bytes");

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[]; /* [size], then le16 avail_event */
};

/* Ring sizes in guest memory for a queue of size n (2.7 "Virtqueue Layout"). */
#define VIRTQ_DESC_BYTES(n)  (16ULL * (n))
#define VIRTQ_AVAIL_BYTES(n) (6ULL + 2ULL * (n))
#define VIRTQ_USED_BYTES(n)  (6ULL + 8ULL * (n))

/* What the transport learned from the driver (common config registers). */
struct virtq_config {
	const char *name;             /* for log lines: "virtio-blk.0" */
	const struct guest_mem *mem;
	uint32_t size;                /* queue_size: a power of two <= 32768 */
	uint64_t desc_gpa;            /* 16-byte aligned */
	uint64_t avail_gpa;           /* 2-byte aligned */
	uint64_t used_gpa;            /* 4-byte aligned */
	uint64_t features;            /* negotiated: bit VIRTIO_F_INDIRECT_DESC, _EVENT_IDX */
};

struct virtq {
	const char *name;
	const struct guest_mem *mem;
	uint16_t size;                /* power of two, 1..32768 */
	bool enabled;
	bool indirect;
	bool event_idx;
	struct virtq_desc *desc;      /* host views of the rings, checked once at enable */
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t last_avail;          /* next avail ring slot the device reads */
	uint16_t used_idx;            /* our copy of used->idx */
	uint16_t signalled_used;      /* used_idx at the last interrupt decision */
	bool signalled_valid;         /* false until the first decision */
	int error;                    /* 0, or the -errno that broke the queue */
};

/*
 * One piece of a buffer: a host pointer to guest RAM, never crossing a
 * region's end. A descriptor that would span two regions is refused
 * (-EFAULT) rather than split: guest_mem_layout() never makes two regions
 * touch (the MMIO hole lies between them), so such a span always covers
 * memory that is not RAM.
 */
struct virtq_seg {
	void *hva;
	uint32_t len;
	bool writable;
};

/*
 * A popped descriptor chain. The caller owns seg[] and sets seg and cap
 * (virtq_chain_init); virtq_pop() fills the rest. Segments keep the
 * driver's order; readable_after_writable tells a device that needs its
 * readable header first (all of them, in practice) that the driver broke
 * the rule "device-readable before device-writable" (2.7.4.2); the queue
 * itself does not refuse that, the device decoder does.
 */
struct virtq_chain {
	struct virtq_seg *seg;
	uint32_t cap;
	uint16_t head;                /* what virtq_push() gets back */
	uint32_t nr;                  /* segments */
	uint32_t nr_readable;
	uint32_t nr_writable;
	uint64_t readable_len;        /* bytes */
	uint64_t writable_len;
	bool readable_after_writable;
};

static inline void virtq_chain_init(struct virtq_chain *chain, struct virtq_seg *seg, uint32_t cap)
{
	*chain = (struct virtq_chain){ .seg = seg, .cap = cap };
}

/*
 * Checks the configuration and maps the three rings. Returns 0, or
 * -EINVAL (size not a power of two in 1..32768, a misaligned ring) or
 * -EFAULT (a ring not wholly inside one RAM region); on error the queue
 * is left in the error state and virtq_error() says why.
 */
int virtq_enable(struct virtq *vq, const struct virtq_config *cfg)
	__attribute__((warn_unused_result));

/* Back to the state after a device reset: disabled, no error, indices 0. */
void virtq_reset(struct virtq *vq);

/*
 * 0, or the -errno that broke the queue (the transport sets
 * DEVICE_NEEDS_RESET). Safe to call from another thread than the one
 * popping (a vCPU reading device_status).
 */
static inline int virtq_error(const struct virtq *vq)
{
	return __atomic_load_n(&vq->error, __ATOMIC_ACQUIRE);
}

/*
 * Takes the next available chain. Returns 1 with *chain filled, 0 when
 * the queue is empty (or not enabled), or a negative errno when the guest
 * wrote something malformed; the queue is then in the error state and
 * every later call returns the same errno:
 *   -EINVAL  head or next index >= size; avail idx ahead by more than
 *            size; an indirect table with a bad length (0, not a multiple
 *            of 16), nested, chained with NEXT, or not negotiated
 *   -EFAULT  a descriptor's buffer or indirect table outside guest RAM
 *   -ELOOP   a walk longer than the queue (or the indirect table) allows:
 *            the chain revisits a descriptor
 *   -E2BIG   more descriptors than the queue size (virtio 1.2, 2.7.5.3.1)
 *            or than chain->cap, or an indirect table over 32768 entries
 * With EVENT_IDX, it publishes avail_event so the driver notifies the
 * device only once the queue runs dry.
 */
int virtq_pop(struct virtq *vq, struct virtq_chain *chain);

/* Returns a chain to the driver: head from virtq_pop(), written bytes. */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t written);

/*
 * Returns n chains (id: head from virtq_pop(), len: written bytes) with
 * one used->idx update, so the driver sees all of them or none: a
 * virtio-net packet merged over several rx buffers must not be seen with
 * some missing. n <= queue size.
 */
void virtq_push_many(struct virtq *vq, const struct virtq_used_elem *elem, uint32_t n);

/*
 * Whether the driver wants an interrupt for what was pushed since the
 * last call: VIRTQ_AVAIL_F_NO_INTERRUPT, or with EVENT_IDX the rule that
 * used_event lies in the range of used indices just published.
 */
bool virtq_should_notify(struct virtq *vq);

/*
 * Where the queue stands, on f without a newline, the driver's indices
 * read as they are now: for a person finding out why I/O stopped. Safe to
 * call from any thread (it only reads, and may see a moment's
 * inconsistency).
 */
void virtq_dump(const struct virtq *vq, FILE *f);

/*
 * virtq_pop() error names for logs and tests. Exposed so a device can
 * say why without duplicating the table.
 */
const char *virtq_strerror(int err);

/* ---- virtio-blk requests (5.2.6), decoded from a chain; no I/O here ---- */

#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK     0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_SECTOR_SIZE 512ULL
#define VIRTIO_BLK_ID_BYTES    20
#define VIRTIO_BLK_WZ_FLAG_UNMAP 1u

struct virtio_blk_outhdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};
_Static_assert(sizeof(struct virtio_blk_outhdr) == 16, "virtio-blk header is 16 bytes");

/* One DISCARD / WRITE_ZEROES segment, as in guest memory (and decoded, host order). */
struct virtio_blk_range {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};
_Static_assert(sizeof(struct virtio_blk_range) == 16, "discard segment is 16 bytes");

/* What the device offers; the decoder checks requests against it. */
struct virtio_blk_disk {
	uint64_t capacity;            /* in 512-byte sectors */
	bool read_only;               /* VIRTIO_BLK_F_RO */
	uint32_t max_discard_seg;     /* 0: DISCARD not offered */
	uint32_t max_write_zeroes_seg; /* 0: WRITE_ZEROES not offered */
};

/*
 * A decoded request. The caller sets iov/iov_cap and range/range_cap
 * (virtio_blk_req_init); the decoder fills the rest. When status is
 * VIRTIO_BLK_S_OK the backend executes type on iov (IN: read into,
 * OUT: write from, GET_ID: up to 20 bytes of id into) at byte offset, or
 * on range[0..nr_range) for DISCARD/WRITE_ZEROES; otherwise it does no
 * I/O at all and the device writes status. Either way the device stores
 * the final status through *status and pushes the chain with
 * (bytes written into iov) + 1.
 */
struct virtio_blk_req {
	struct iovec *iov;
	uint32_t iov_cap;
	struct virtio_blk_range *range;
	uint32_t range_cap;

	uint32_t type;
	uint64_t sector;
	uint64_t offset;              /* sector * 512, for IN and OUT */
	uint32_t iovcnt;
	uint64_t len;                 /* bytes in iov */
	uint32_t nr_range;
	uint8_t *status;              /* the status byte in guest RAM */
	uint8_t status_code;          /* VIRTIO_BLK_S_*: OK means "execute" */
};

static inline void virtio_blk_req_init(struct virtio_blk_req *req, struct iovec *iov,
				       uint32_t iov_cap, struct virtio_blk_range *range,
				       uint32_t range_cap)
{
	*req = (struct virtio_blk_req){ .iov = iov, .iov_cap = iov_cap,
					.range = range, .range_cap = range_cap };
}

/*
 * Decodes chain into req. Returns 0 when req holds a request (its
 * status_code says whether to execute it or just to answer), or -EINVAL
 * when the chain cannot carry an answer at all: a header shorter than 16
 * bytes, no writable byte at the end for the status, or a readable
 * segment after a writable one. The device then pushes the chain with 0
 * bytes written and may treat the driver as broken.
 */
int virtio_blk_req_decode(const struct virtq_chain *chain, const struct virtio_blk_disk *disk,
			  struct virtio_blk_req *req);

#endif
