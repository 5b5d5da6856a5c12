// SPDX-License-Identifier: MIT
/*
 * virtio-blk request decoding (virtio 1.2, 5.2.6): a 16-byte header in the
 * device-readable part, data, and one status byte at the very end of the
 * device-writable part. Virtio 1.x lets the driver frame these as it
 * likes (the header may be split over descriptors, data and status may
 * share one), so everything here works on byte offsets into the readable
 * and writable parts, never on descriptor boundaries.
 *
 * Pure decoding: the result says what the backend may do, and no byte of
 * the disk is touched here.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "virtq.h"

/* One part of a chain: the readable segments, or the writable ones after them. */
struct part {
	const struct virtq_seg *seg;
	uint32_t nr;
	uint64_t len;
};

/* Copies len bytes at off of a part (the caller checked the bounds). */
static void part_copy(const struct part *p, uint64_t off, void *dst, size_t len)
{
	uint8_t *out = dst;

	for (uint32_t i = 0; i < p->nr && len; i++) {
		uint64_t seg_len = p->seg[i].len;

		if (off >= seg_len) {
			off -= seg_len;
			continue;
		}
		size_t n = seg_len - off < len ? (size_t)(seg_len - off) : len;

		memcpy(out, (uint8_t *)p->seg[i].hva + off, n);
		out += n;
		len -= n;
		off = 0;
	}
}

static uint8_t *part_byte(const struct part *p, uint64_t off)
{
	for (uint32_t i = 0; i < p->nr; i++) {
		if (off < p->seg[i].len)
			return (uint8_t *)p->seg[i].hva + off;
		off -= p->seg[i].len;
	}
	return NULL;
}

/* Points req->iov at [off, off + len) of a part; false if iov_cap is too small. */
static bool part_iov(const struct part *p, uint64_t off, uint64_t len, struct virtio_blk_req *req)
{
	req->iovcnt = 0;
	req->len = len;
	for (uint32_t i = 0; i < p->nr && len; i++) {
		uint64_t seg_len = p->seg[i].len;

		if (off >= seg_len) {
			off -= seg_len;
			continue;
		}
		uint64_t n = seg_len - off < len ? seg_len - off : len;

		if (req->iovcnt == req->iov_cap)
			return false;
		req->iov[req->iovcnt++] = (struct iovec){ (uint8_t *)p->seg[i].hva + off, n };
		len -= n;
		off = 0;
	}
	return true;
}

/*
 * [sector, sector + sectors) inside the disk, with no sum that can
 * overflow. The capacity is capped so that the end of the span in bytes,
 * (sector + sectors) * 512, fits in 64 bits too: the backend may compute
 * it.
 */
static bool in_disk(const struct virtio_blk_disk *disk, uint64_t sector, uint64_t sectors)
{
	uint64_t cap = disk->capacity < UINT64_MAX / VIRTIO_BLK_SECTOR_SIZE
		? disk->capacity : UINT64_MAX / VIRTIO_BLK_SECTOR_SIZE;

	return sector <= cap && sectors <= cap - sector;
}

static uint8_t decode_rw(const struct part *rd, const struct part *wr,
			 const struct virtio_blk_disk *disk, struct virtio_blk_req *req)
{
	bool out = req->type == VIRTIO_BLK_T_OUT;
	uint64_t len = out ? rd->len - sizeof(struct virtio_blk_outhdr) : wr->len - 1;

	if (out && disk->read_only)
		return VIRTIO_BLK_S_IOERR;
	if (len % VIRTIO_BLK_SECTOR_SIZE || !in_disk(disk, req->sector, len / VIRTIO_BLK_SECTOR_SIZE))
		return VIRTIO_BLK_S_IOERR;
	req->offset = req->sector * VIRTIO_BLK_SECTOR_SIZE;
	if (out ? !part_iov(rd, sizeof(struct virtio_blk_outhdr), len, req)
		: !part_iov(wr, 0, len, req))
		return VIRTIO_BLK_S_IOERR;
	return VIRTIO_BLK_S_OK;
}

static uint8_t decode_ranges(const struct part *rd, const struct virtio_blk_disk *disk,
			     struct virtio_blk_req *req)
{
	bool discard = req->type == VIRTIO_BLK_T_DISCARD;
	uint32_t max = discard ? disk->max_discard_seg : disk->max_write_zeroes_seg;
	uint32_t allowed = discard ? 0 : VIRTIO_BLK_WZ_FLAG_UNMAP;
	uint64_t len = rd->len - sizeof(struct virtio_blk_outhdr);
	uint64_t nr = len / sizeof(struct virtio_blk_range);

	if (!max)
		return VIRTIO_BLK_S_UNSUPP; /* feature not offered */
	if (disk->read_only)
		return VIRTIO_BLK_S_IOERR;
	if (len == 0 || len % sizeof(struct virtio_blk_range) || nr > max || nr > req->range_cap)
		return VIRTIO_BLK_S_IOERR;
	for (uint32_t i = 0; i < nr; i++) {
		struct virtio_blk_range r;

		part_copy(rd, sizeof(struct virtio_blk_outhdr) + i * sizeof(r), &r, sizeof(r));
		r.sector = le64toh(r.sector);
		r.num_sectors = le32toh(r.num_sectors);
		r.flags = le32toh(r.flags);
		if (r.flags & ~allowed)
			return VIRTIO_BLK_S_UNSUPP;
		if (!in_disk(disk, r.sector, r.num_sectors))
			return VIRTIO_BLK_S_IOERR;
		req->range[i] = r;
		req->nr_range = i + 1;
	}
	return VIRTIO_BLK_S_OK;
}

int virtio_blk_req_decode(const struct virtq_chain *chain, const struct virtio_blk_disk *disk,
			  struct virtio_blk_req *req)
{
	struct part rd = { chain->seg, chain->nr_readable, chain->readable_len };
	struct part wr = { chain->seg + chain->nr_readable, chain->nr_writable, chain->writable_len };
	struct virtio_blk_outhdr hdr;

	virtio_blk_req_init(req, req->iov, req->iov_cap, req->range, req->range_cap);
	if (chain->readable_after_writable || rd.len < sizeof(hdr) || wr.len < 1)
		return -EINVAL;
	req->status = part_byte(&wr, wr.len - 1);
	part_copy(&rd, 0, &hdr, sizeof(hdr));
	req->type = le32toh(hdr.type);
	req->sector = le64toh(hdr.sector);

	switch (req->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		req->status_code = decode_rw(&rd, &wr, disk, req);
		break;
	case VIRTIO_BLK_T_FLUSH:
		req->status_code = VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_GET_ID:
		req->status_code = part_iov(&wr, 0, wr.len - 1 < VIRTIO_BLK_ID_BYTES ? wr.len - 1
						: VIRTIO_BLK_ID_BYTES, req)
			? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		req->status_code = decode_ranges(&rd, disk, req);
		break;
	default:
		req->status_code = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	if (req->status_code != VIRTIO_BLK_S_OK) {
		/* Nothing for the backend to do: no iovecs, no ranges. */
		req->iovcnt = 0;
		req->len = 0;
		req->nr_range = 0;
	}
	return 0;
}
