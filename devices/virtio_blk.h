/* SPDX-License-Identifier: MIT */
#ifndef DEVICES_VIRTIO_BLK_H
#define DEVICES_VIRTIO_BLK_H

/*
 * virtio-blk (virtio 1.2, 5.2) on a raw image: a regular file or a block
 * device, read and written through io_uring by one worker thread per
 * queue. The model plugs into a transport through struct virtio_device
 * (virtio.h); requests are decoded by virtio_blk_req_decode() (virtq.h).
 * The transport's interrupt() and needs_reset() callbacks run on those
 * workers, so they must not call stop() (it joins them).
 */

#include <stdbool.h>
#include <stdint.h>

struct guest_mem;
struct virtio_device;

/* Device feature bits (virtio 1.2, 5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX     1
#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_GEOMETRY     4
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_TOPOLOGY     10
#define VIRTIO_BLK_F_CONFIG_WCE   11
#define VIRTIO_BLK_F_MQ           12
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_MAX_QUEUES     16
#define VIRTIO_BLK_QUEUE_SIZE     256  /* default */
#define VIRTIO_BLK_MAX_QUEUE_SIZE 1024 /* a chain's segments fit one preadv (UIO_MAXIOV) */

/* Device configuration (virtio 1.2, 5.2.4), little-endian, up to unused1. */
struct virtio_blk_config {
	uint64_t capacity;            /* in 512-byte sectors */
	uint32_t size_max;
	uint32_t seg_max;
	struct {
		uint16_t cylinders;
		uint8_t heads;
		uint8_t sectors;
	} __attribute__((packed)) geometry;
	uint32_t blk_size;
	struct {
		uint8_t physical_block_exp;
		uint8_t alignment_offset;
		uint16_t min_io_size;
		uint32_t opt_io_size;
	} __attribute__((packed)) topology;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));

_Static_assert(__builtin_offsetof(struct virtio_blk_config, geometry) == 16, "geometry");
_Static_assert(__builtin_offsetof(struct virtio_blk_config, blk_size) == 20, "blk_size");
_Static_assert(__builtin_offsetof(struct virtio_blk_config, writeback) == 32, "writeback");
_Static_assert(__builtin_offsetof(struct virtio_blk_config, num_queues) == 34, "num_queues");
_Static_assert(__builtin_offsetof(struct virtio_blk_config, max_discard_sectors) == 36,
	       "max_discard_sectors");
_Static_assert(__builtin_offsetof(struct virtio_blk_config, write_zeroes_may_unmap) == 56,
	       "write_zeroes_may_unmap");
_Static_assert(sizeof(struct virtio_blk_config) == 60, "virtio_blk_config up to unused1");

struct virtio_blk_options {
	const char *path;
	bool readonly;      /* the device refuses writes (VIRTIO_BLK_F_RO), file opened O_RDONLY */
	bool direct;        /* O_DIRECT */
	const char *serial; /* GET_ID answer, up to 20 bytes; NULL: derived from the file */
	unsigned queues;    /* 1..16; VIRTIO_BLK_F_MQ when > 1 */
	unsigned queue_size; /* power of two 4..1024; 0: VIRTIO_BLK_QUEUE_SIZE */
};

/*
 * Opens and locks the image (flock: exclusive when writable, shared when
 * readonly, so two VMMs never write one image) and sets up one io_uring
 * per queue. NULL with errno set and *why (one line naming the file and
 * the problem) on failure; the device's ops->free() releases it all.
 */
struct virtio_device *virtio_blk_create(const char *name, const struct virtio_blk_options *opt,
					const struct guest_mem *mem, const char **why)
	__attribute__((warn_unused_result));
/*
 * What virtio_blk_create() would refuse about the options and the image
 * (no such file, not whole sectors, locked by another process), checked
 * without keeping anything open: 0, or -errno with *why set.
 */
int virtio_blk_check(const struct virtio_blk_options *opt, const char **why)
	__attribute__((warn_unused_result));

#endif
