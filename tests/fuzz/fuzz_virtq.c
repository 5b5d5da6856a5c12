// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: a guest that controls everything a virtqueue reads.
 * The input is a small header (queue size, features, ring addresses, disk
 * shape) and then the bytes of guest RAM region 0; the target pops chains
 * until the queue is empty or broken, decodes each as a virtio-blk
 * request, and then does what a backend would with the result (touches
 * every iovec byte, writes the status, pushes), so ASan sees any segment
 * or iovec that strays outside the exactly-sized RAM regions.
 *
 * Input layout (little-endian):
 *   0  u8  size: < 16 means 1 << size, otherwise the raw value (mostly invalid)
 *   1  u8  bit 0 INDIRECT_DESC, bit 1 EVENT_IDX, bit 2 read-only disk,
 *          bit 3 a chain capacity of 4 segments instead of 64
 *   2  u16 descriptor table gpa / 16
 *   4  u16 avail ring gpa / 2
 *   6  u16 used ring gpa / 4
 *   8  u32 disk capacity in sectors
 *   12 u8  max_discard_seg, 13 u8 max_write_zeroes_seg, 14 u16 unused
 *   16 ... region 0 contents (the rest stays zero)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtq.h"
#include "core/log.h"
#include "core/memory.h"

#define HDR       16
#define LOW_SIZE  (64 * 1024)
#define HIGH_GPA  0x100000ULL /* not adjacent to region 0: a hole between */
#define HIGH_SIZE 4096
#define SEGS      64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t le(const uint8_t *p, unsigned n)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

/* What a backend does with a decoded request, so ASan checks every iovec. */
static uint32_t execute(struct virtio_blk_req *req)
{
	uint32_t written = 0;
	volatile uint8_t sink = 0;

	if (req->status_code == VIRTIO_BLK_S_OK) {
		for (uint32_t i = 0; i < req->iovcnt; i++) {
			uint8_t *p = req->iov[i].iov_base;

			if (req->type == VIRTIO_BLK_T_OUT) {
				for (size_t j = 0; j < req->iov[i].iov_len; j++)
					sink ^= p[j];
			} else {
				memset(p, 0xa5, req->iov[i].iov_len);
				written += (uint32_t)req->iov[i].iov_len;
			}
		}
		for (uint32_t i = 0; i < req->nr_range; i++)
			sink ^= (uint8_t)req->range[i].sector;
	}
	(void)sink;
	*req->status = req->status_code;
	return written + 1;
}

static void run(struct guest_mem *mem, const uint8_t *data)
{
	struct virtq_config cfg = {
		.name = "fuzz", .mem = mem,
		.size = data[0] < 16 ? 1u << data[0] : data[0],
		.desc_gpa = 16ULL * le(data + 2, 2),
		.avail_gpa = 2ULL * le(data + 4, 2),
		.used_gpa = 4ULL * le(data + 6, 2),
		.features = (data[1] & 1 ? 1ULL << VIRTIO_F_INDIRECT_DESC : 0) |
			    (data[1] & 2 ? 1ULL << VIRTIO_F_EVENT_IDX : 0),
	};
	struct virtio_blk_disk disk = {
		.capacity = le(data + 8, 4), .read_only = data[1] & 4,
		.max_discard_seg = data[12], .max_write_zeroes_seg = data[13],
	};
	struct virtq_seg *segs = malloc(SEGS * sizeof(*segs));
	struct iovec iov[SEGS];
	struct virtio_blk_range range[8];
	struct virtio_blk_req req;
	struct virtq_chain chain;
	struct virtq vq;

	virtq_chain_init(&chain, segs, data[1] & 8 ? 4 : SEGS);
	virtio_blk_req_init(&req, iov, SEGS, range, 8);
	if (virtq_enable(&vq, &cfg) == 0) {
		/* Each pop consumes an avail entry; pushes may rewrite the ring, so bound it. */
		for (int n = 0; n < 4096 && virtq_pop(&vq, &chain) == 1; n++) {
			uint32_t written = 0;

			if (virtio_blk_req_decode(&chain, &disk, &req) == 0)
				written = execute(&req);
			virtq_push(&vq, chain.head, written);
			virtq_should_notify(&vq);
		}
	}
	free(segs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_mem mem = { .fd = -1, .nr = 2, .total = LOW_SIZE + HIGH_SIZE,
				 .page_size = 4096 };
	size_t image = size > HDR ? size - HDR : 0;

	if (size < HDR)
		return 0;
	log_threshold = LOG_ERR; /* a broken queue is the expected outcome */
	mem.region[0] = (struct guest_region){ 0, LOW_SIZE, calloc(1, LOW_SIZE) };
	mem.region[1] = (struct guest_region){ HIGH_GPA, HIGH_SIZE, calloc(1, HIGH_SIZE) };
	if (mem.region[0].hva && mem.region[1].hva) {
		memcpy(mem.region[0].hva, data + HDR, image < LOW_SIZE ? image : LOW_SIZE);
		run(&mem, data);
	}
	free(mem.region[0].hva);
	free(mem.region[1].hva);
	return 0;
}
