// SPDX-License-Identifier: MIT
/*
 * virtio-blk request decoding (virtio 1.2, 5.2.6) on chains that the
 * tests put together from segments of a buffer, the shapes a virtqueue
 * pop yields: header, data, status, in any framing the driver chose.
 */
#include <criterion/criterion.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtq.h"

#define CAPACITY 1000ULL /* sectors */

static uint8_t *buf;      /* stands in for guest RAM */
static size_t used;
static struct virtq_seg segs[16];
static struct virtq_chain chain;
static struct iovec iov[8];
static struct virtio_blk_range ranges[4];
static struct virtio_blk_req req;
static struct virtio_blk_disk disk;

static void setup(void)
{
	buf = calloc(1, 1 << 20);
	cr_assert_not_null(buf);
	used = 0;
	virtq_chain_init(&chain, segs, 16);
	virtio_blk_req_init(&req, iov, 8, ranges, 4);
	disk = (struct virtio_blk_disk){ .capacity = CAPACITY, .max_discard_seg = 4,
					 .max_write_zeroes_seg = 2 };
}

static void teardown(void)
{
	free(buf);
}

TestSuite(blk, .init = setup, .fini = teardown);

/* Appends a segment of len fresh bytes; returns its host pointer. */
static uint8_t *seg(uint32_t len, bool writable)
{
	uint8_t *p = buf + used;

	used += len + 64; /* gaps, so no two segments are contiguous */
	chain.seg[chain.nr++] = (struct virtq_seg){ p, len, writable };
	if (writable) {
		chain.nr_writable++;
		chain.writable_len += len;
	} else {
		chain.readable_after_writable |= chain.nr_writable != 0;
		chain.nr_readable++;
		chain.readable_len += len;
	}
	return p;
}

static void put_hdr(uint8_t *p, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = { htole32(type), 0, htole64(sector) };

	memcpy(p, &h, sizeof(h));
}

static uint8_t *hdr(uint32_t type, uint64_t sector)
{
	uint8_t *p = seg(16, false);

	put_hdr(p, type, sector);
	return p;
}

static void put_range(uint8_t *p, uint64_t sector, uint32_t num, uint32_t flags)
{
	struct virtio_blk_range r = { htole64(sector), htole32(num), htole32(flags) };

	memcpy(p, &r, sizeof(r));
}

static int decode(void)
{
	return virtio_blk_req_decode(&chain, &disk, &req);
}

/* ---- IN / OUT ---- */

Test(blk, read)
{
	hdr(VIRTIO_BLK_T_IN, 10);
	uint8_t *data = seg(1024, true);
	uint8_t *status = seg(1, true);

	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_OK);
	cr_assert_eq(req.type, VIRTIO_BLK_T_IN);
	cr_assert_eq(req.offset, 10 * 512);
	cr_assert_eq(req.len, 1024);
	cr_assert_eq(req.iovcnt, 1);
	cr_assert_eq(req.iov[0].iov_base, data);
	cr_assert_eq(req.iov[0].iov_len, 1024);
	cr_assert_eq(req.status, status);
}

Test(blk, read_data_and_status_share_a_segment)
{
	hdr(VIRTIO_BLK_T_IN, 0);
	uint8_t *a = seg(512, true);
	uint8_t *b = seg(513, true);

	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_OK);
	cr_assert_eq(req.iovcnt, 2);
	cr_assert_eq(req.iov[0].iov_base, a);
	cr_assert_eq(req.iov[1].iov_base, b);
	cr_assert_eq(req.iov[1].iov_len, 512);
	cr_assert_eq(req.status, b + 512);
	cr_assert_eq(req.len, 1024);
}

Test(blk, header_split_over_segments)
{
	uint8_t h[16];

	put_hdr(h, VIRTIO_BLK_T_IN, 7);
	memcpy(seg(5, false), h, 5);
	memcpy(seg(11, false), h + 5, 11);
	seg(512, true);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_OK);
	cr_assert_eq(req.sector, 7);
	cr_assert_eq(req.offset, 7 * 512);
}

Test(blk, write_with_data_after_header_in_one_segment)
{
	uint8_t *p = seg(16 + 512, false);
	uint8_t *more = seg(512, false);

	put_hdr(p, VIRTIO_BLK_T_OUT, 998);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_OK);
	cr_assert_eq(req.type, VIRTIO_BLK_T_OUT);
	cr_assert_eq(req.offset, 998 * 512);
	cr_assert_eq(req.iovcnt, 2);
	cr_assert_eq(req.iov[0].iov_base, p + 16);
	cr_assert_eq(req.iov[0].iov_len, 512);
	cr_assert_eq(req.iov[1].iov_base, more);
	cr_assert_eq(req.len, 1024, "up to the last sector, inclusive");
}

Test(blk, write_to_read_only_disk)
{
	disk.read_only = true;
	hdr(VIRTIO_BLK_T_OUT, 0);
	seg(512, false);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_IOERR);
	cr_assert_eq(req.iovcnt, 0, "the backend gets nothing to write");
	cr_assert_eq(req.len, 0);
}

Test(blk, read_from_read_only_disk_is_fine)
{
	disk.read_only = true;
	hdr(VIRTIO_BLK_T_IN, 0);
	seg(512, true);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_OK);
}

Test(blk, read_past_capacity)
{
	hdr(VIRTIO_BLK_T_IN, CAPACITY - 1);
	seg(1024, true);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_IOERR);
	cr_assert_eq(req.iovcnt, 0);
}

Test(blk, write_past_capacity)
{
	hdr(VIRTIO_BLK_T_OUT, CAPACITY);
	seg(512, false);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_IOERR);
}

Test(blk, write_far_past_capacity)
{
	hdr(VIRTIO_BLK_T_OUT, CAPACITY + 5);
	seg(512, false);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_IOERR);
}

Test(blk, zero_length_read_at_capacity_is_fine)
{
	hdr(VIRTIO_BLK_T_IN, CAPACITY);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_OK);
	cr_assert_eq(req.len, 0);
}

Test(blk, sector_times_512_overflows)
{
	disk.capacity = UINT64_MAX; /* so only the overflow check can refuse */
	hdr(VIRTIO_BLK_T_IN, UINT64_MAX / 512 + 1);
	seg(512, true);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_IOERR);
}

Test(blk, sector_plus_length_overflows)
{
	/* sector * 512 fits; (sector + 2) * 512, the end the backend computes, does not. */
	disk.capacity = UINT64_MAX;
	hdr(VIRTIO_BLK_T_IN, UINT64_MAX / 512 - 1);
	seg(1024, true);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_IOERR);
}

Test(blk, length_not_a_sector_multiple)
{
	hdr(VIRTIO_BLK_T_IN, 0);
	seg(511, true);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_IOERR);
}

Test(blk, more_segments_than_iovecs)
{
	virtio_blk_req_init(&req, iov, 2, ranges, 4);
	hdr(VIRTIO_BLK_T_IN, 0);
	for (int i = 0; i < 3; i++)
		seg(512, true);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_IOERR);
	cr_assert_eq(req.iovcnt, 0);
}

/* ---- FLUSH, GET_ID, unknown ---- */

Test(blk, flush)
{
	hdr(VIRTIO_BLK_T_FLUSH, 12345678);
	uint8_t *status = seg(1, true);

	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_OK);
	cr_assert_eq(req.type, VIRTIO_BLK_T_FLUSH);
	cr_assert_eq(req.iovcnt, 0);
	cr_assert_eq(req.status, status);
}

Test(blk, get_id)
{
	hdr(VIRTIO_BLK_T_GET_ID, 0);
	uint8_t *id = seg(VIRTIO_BLK_ID_BYTES, true);

	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_OK);
	cr_assert_eq(req.iovcnt, 1);
	cr_assert_eq(req.iov[0].iov_base, id);
	cr_assert_eq(req.len, VIRTIO_BLK_ID_BYTES);
}

Test(blk, get_id_larger_buffer_gets_20_bytes)
{
	hdr(VIRTIO_BLK_T_GET_ID, 0);
	seg(512, true);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_OK);
	cr_assert_eq(req.len, VIRTIO_BLK_ID_BYTES);
	cr_assert_eq(req.iov[0].iov_len, VIRTIO_BLK_ID_BYTES);
}

Test(blk, unknown_type)
{
	hdr(99, 0);
	uint8_t *status = seg(1, true);

	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_UNSUPP);
	cr_assert_eq(req.status, status);
}

/* ---- DISCARD / WRITE_ZEROES ---- */

Test(blk, discard_ranges)
{
	hdr(VIRTIO_BLK_T_DISCARD, 0);
	uint8_t *r = seg(32, false);

	put_range(r, 8, 16, 0);
	put_range(r + 16, CAPACITY - 4, 4, 0);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_OK);
	cr_assert_eq(req.nr_range, 2);
	cr_assert_eq(req.range[0].sector, 8);
	cr_assert_eq(req.range[0].num_sectors, 16);
	cr_assert_eq(req.range[1].sector, CAPACITY - 4);
	cr_assert_eq(req.range[1].num_sectors, 4);
}

Test(blk, discard_range_split_over_segments)
{
	uint8_t r[16];

	hdr(VIRTIO_BLK_T_DISCARD, 0);
	put_range(r, 100, 5, 0);
	memcpy(seg(3, false), r, 3);
	memcpy(seg(13, false), r + 3, 13);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_OK);
	cr_assert_eq(req.range[0].sector, 100);
	cr_assert_eq(req.range[0].num_sectors, 5);
}

Test(blk, discard_with_unmap_flag)
{
	hdr(VIRTIO_BLK_T_DISCARD, 0);
	put_range(seg(16, false), 0, 1, VIRTIO_BLK_WZ_FLAG_UNMAP);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_UNSUPP);
	cr_assert_eq(req.nr_range, 0);
}

Test(blk, discard_not_offered)
{
	disk.max_discard_seg = 0;
	hdr(VIRTIO_BLK_T_DISCARD, 0);
	put_range(seg(16, false), 0, 1, 0);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_UNSUPP);
}

Test(blk, discard_past_capacity)
{
	hdr(VIRTIO_BLK_T_DISCARD, 0);
	uint8_t *r = seg(32, false);

	put_range(r, 0, 1, 0); /* fine, but the request fails as a whole */
	put_range(r + 16, CAPACITY - 1, 2, 0);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_IOERR);
	cr_assert_eq(req.nr_range, 0);
}

Test(blk, discard_sector_overflow)
{
	disk.capacity = UINT64_MAX;
	hdr(VIRTIO_BLK_T_DISCARD, 0);
	put_range(seg(16, false), UINT64_MAX - 1, 0xffffffff, 0);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_IOERR);
}

Test(blk, discard_more_segments_than_offered)
{
	disk.max_discard_seg = 2;
	hdr(VIRTIO_BLK_T_DISCARD, 0);
	uint8_t *r = seg(3 * 16, false);

	for (int i = 0; i < 3; i++)
		put_range(r + 16 * i, (uint64_t)i, 1, 0);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_IOERR);
}

Test(blk, discard_more_segments_than_the_caller_holds)
{
	disk.max_discard_seg = 100;
	hdr(VIRTIO_BLK_T_DISCARD, 0);
	uint8_t *r = seg(5 * 16, false);

	for (int i = 0; i < 5; i++)
		put_range(r + 16 * i, (uint64_t)i, 1, 0);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_IOERR);
}

Test(blk, discard_partial_segment)
{
	hdr(VIRTIO_BLK_T_DISCARD, 0);
	seg(20, false);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_IOERR);
}

Test(blk, discard_no_segments)
{
	hdr(VIRTIO_BLK_T_DISCARD, 0);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_IOERR);
}

Test(blk, discard_on_read_only_disk)
{
	disk.read_only = true;
	hdr(VIRTIO_BLK_T_DISCARD, 0);
	put_range(seg(16, false), 0, 1, 0);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_IOERR);
}

Test(blk, write_zeroes_with_unmap)
{
	hdr(VIRTIO_BLK_T_WRITE_ZEROES, 0);
	put_range(seg(16, false), 3, 7, VIRTIO_BLK_WZ_FLAG_UNMAP);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_OK);
	cr_assert_eq(req.type, VIRTIO_BLK_T_WRITE_ZEROES);
	cr_assert_eq(req.nr_range, 1);
	cr_assert_eq(req.range[0].flags, VIRTIO_BLK_WZ_FLAG_UNMAP);
}

Test(blk, write_zeroes_unknown_flag)
{
	hdr(VIRTIO_BLK_T_WRITE_ZEROES, 0);
	put_range(seg(16, false), 3, 7, 2);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_UNSUPP);
}

Test(blk, write_zeroes_on_read_only_disk)
{
	disk.read_only = true;
	hdr(VIRTIO_BLK_T_WRITE_ZEROES, 0);
	put_range(seg(16, false), 3, 7, 0);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_IOERR);
}

Test(blk, write_zeroes_more_segments_than_offered)
{
	hdr(VIRTIO_BLK_T_WRITE_ZEROES, 0);
	uint8_t *r = seg(3 * 16, false);

	for (int i = 0; i < 3; i++)
		put_range(r + 16 * i, (uint64_t)i, 1, 0);
	seg(1, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status_code, VIRTIO_BLK_S_IOERR);
}

/* ---- chains that cannot carry an answer ---- */

Test(blk, header_too_short)
{
	seg(15, false);
	seg(1, true);
	cr_assert_eq(decode(), -EINVAL);
}

Test(blk, no_status_byte)
{
	hdr(VIRTIO_BLK_T_OUT, 0);
	seg(512, false);
	cr_assert_eq(decode(), -EINVAL);
}

Test(blk, zero_length_writable_is_no_status_byte)
{
	hdr(VIRTIO_BLK_T_FLUSH, 0);
	seg(0, true);
	cr_assert_eq(decode(), -EINVAL);
}

Test(blk, status_before_zero_length_tail)
{
	hdr(VIRTIO_BLK_T_FLUSH, 0);
	uint8_t *status = seg(1, true);

	seg(0, true);
	cr_assert_eq(decode(), 0);
	cr_assert_eq(req.status, status);
}

Test(blk, readable_after_writable)
{
	seg(1, true);
	hdr(VIRTIO_BLK_T_IN, 0);
	cr_assert_eq(decode(), -EINVAL);
}
