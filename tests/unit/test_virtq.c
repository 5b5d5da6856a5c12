// SPDX-License-Identifier: MIT
/*
 * Split virtqueues against a test-side driver that lays out rings and
 * chains in fake guest RAM the way virtio 1.2 section 2.7 describes, then
 * breaks them in each way a guest can.
 */
#include <criterion/criterion.h>
#include <endian.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtq.h"
#include "core/layout.h"
#include "core/memory.h"

#define RAM_LOW  (4 * SZ_1M)
#define RAM_HIGH (64 * 1024ULL) /* a second region at 4 GiB */
#define DESC     0x10000ULL
#define AVAIL    0x100000ULL
#define USED     0x200000ULL
#define BUF      0x300000ULL  /* data buffers */
#define TABLE    0x380000ULL  /* indirect tables */

static struct guest_mem mem;
static struct virtq vq;
static struct virtq_seg segs[64];
static struct virtq_chain chain;
static uint32_t qsize;
static uint16_t avail_idx;

static void setup(void)
{
	memset(&mem, 0, sizeof(mem));
	mem.fd = -1;
	mem.nr = 2;
	mem.total = RAM_LOW + RAM_HIGH;
	mem.region[0] = (struct guest_region){ .gpa = 0, .size = RAM_LOW, .hva = calloc(1, RAM_LOW) };
	mem.region[1] = (struct guest_region){ .gpa = SZ_4G, .size = RAM_HIGH,
					       .hva = calloc(1, RAM_HIGH) };
	cr_assert(mem.region[0].hva && mem.region[1].hva);
	memset(&vq, 0, sizeof(vq));
	virtq_chain_init(&chain, segs, 64);
	avail_idx = 0;
}

static void teardown(void)
{
	free(mem.region[0].hva);
	free(mem.region[1].hva);
}

TestSuite(virtq, .init = setup, .fini = teardown);

/* Runs after the suite's setup (criterion runs both): only the redirect. */
static void setup_redirect(void)
{
	cr_redirect_stderr();
}

/* ---- the test-side driver ---- */

static void *ram(uint64_t gpa)
{
	void *p = guest_mem_ptr(&mem, gpa, 1);

	cr_assert_not_null(p);
	return p;
}

static int enable(uint32_t size, uint64_t features)
{
	struct virtq_config cfg = { .name = "test-vq", .mem = &mem, .size = size,
				    .desc_gpa = DESC, .avail_gpa = AVAIL, .used_gpa = USED,
				    .features = features };

	qsize = size;
	return virtq_enable(&vq, &cfg);
}

static void put_desc(uint64_t table, uint32_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct virtq_desc d = { htole64(addr), htole32(len), htole16(flags), htole16(next) };

	memcpy(ram(table + 16ULL * i), &d, sizeof(d));
}

static void desc(uint32_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	put_desc(DESC, i, addr, len, flags, next);
}

static void set_avail_idx(uint16_t idx)
{
	uint16_t le = htole16(idx);

	memcpy(ram(AVAIL + 2), &le, 2);
}

/* Makes head available and publishes the new avail->idx. */
static void avail(uint16_t head)
{
	uint16_t le = htole16(head);

	memcpy(ram(AVAIL + 4 + 2ULL * (avail_idx % qsize)), &le, 2);
	set_avail_idx(++avail_idx);
}

static uint16_t rd16(uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, ram(gpa), 2);
	return le16toh(v);
}

static uint32_t rd32(uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, ram(gpa), 4);
	return le32toh(v);
}

static void wr16(uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	memcpy(ram(gpa), &v, 2);
}

#define USED_IDX()        rd16(USED + 2)
#define USED_ID(i)        rd32(USED + 4 + 8ULL * (i))
#define USED_LEN(i)       rd32(USED + 4 + 8ULL * (i) + 4)
#define AVAIL_EVENT()     rd16(USED + 4 + 8ULL * qsize)
#define SET_USED_EVENT(v) wr16(AVAIL + 4 + 2ULL * qsize, (v))

#define F_INDIRECT (1ULL << VIRTIO_F_INDIRECT_DESC)
#define F_EVENT    (1ULL << VIRTIO_F_EVENT_IDX)

static void expect_broken(int err)
{
	cr_assert_eq(virtq_pop(&vq, &chain), err, "pop should fail with %d", err);
	cr_assert_eq(virtq_error(&vq), err);
	/* Sticky: the next pop says the same and does not walk again. */
	cr_assert_eq(virtq_pop(&vq, &chain), err);
}

/* ---- well-formed chains ---- */

Test(virtq, readable_then_writable_chain)
{
	cr_assert_eq(enable(8, 0), 0);
	desc(3, BUF, 16, VIRTQ_DESC_F_NEXT, 5);
	desc(5, BUF + 0x1000, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 6);
	desc(6, SZ_4G + 0x100, 1, VIRTQ_DESC_F_WRITE, 0);
	avail(3);

	cr_assert_eq(virtq_pop(&vq, &chain), 1);
	cr_assert_eq(chain.head, 3);
	cr_assert_eq(chain.nr, 3);
	cr_assert_eq(chain.nr_readable, 1);
	cr_assert_eq(chain.nr_writable, 2);
	cr_assert_eq(chain.readable_len, 16);
	cr_assert_eq(chain.writable_len, 513);
	cr_assert_eq(chain.seg[0].hva, ram(BUF));
	cr_assert_eq(chain.seg[1].hva, ram(BUF + 0x1000));
	cr_assert_eq(chain.seg[2].hva, ram(SZ_4G + 0x100));
	cr_assert_eq(chain.seg[1].len, 512);
	cr_assert(!chain.seg[0].writable && chain.seg[1].writable && chain.seg[2].writable);
	cr_assert(!chain.readable_after_writable);
	cr_assert_eq(virtq_pop(&vq, &chain), 0, "one chain was made available");
	cr_assert_eq(virtq_error(&vq), 0);
}

Test(virtq, pops_in_avail_order_across_index_wrap)
{
	cr_assert_eq(enable(4, 0), 0);
	for (uint32_t i = 0; i < 4; i++)
		desc(i, BUF + i * 0x100, 8, 0, 0);
	/* Start both sides just below the 16-bit wrap. */
	avail_idx = 0xfffe;
	vq.last_avail = 0xfffe;
	set_avail_idx(avail_idx);
	for (uint32_t n = 0; n < 6; n++) {
		avail((uint16_t)(n % 4));
		cr_assert_eq(virtq_pop(&vq, &chain), 1);
		cr_assert_eq(chain.head, n % 4);
		virtq_push(&vq, chain.head, 0);
	}
	cr_assert_eq(virtq_pop(&vq, &chain), 0);
	cr_assert_eq(vq.last_avail, 4);
}

Test(virtq, full_ring_is_not_a_jump)
{
	cr_assert_eq(enable(4, 0), 0);
	for (uint32_t i = 0; i < 4; i++) {
		desc(i, BUF, 8, 0, 0);
		avail((uint16_t)i);
	}
	for (uint32_t i = 0; i < 4; i++)
		cr_assert_eq(virtq_pop(&vq, &chain), 1);
	cr_assert_eq(virtq_pop(&vq, &chain), 0);
}

Test(virtq, writable_before_readable_is_exposed_not_refused)
{
	cr_assert_eq(enable(8, 0), 0);
	desc(0, BUF, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	desc(1, BUF + 16, 16, 0, 0);
	avail(0);
	cr_assert_eq(virtq_pop(&vq, &chain), 1);
	cr_assert(chain.readable_after_writable);
	cr_assert_eq(virtq_error(&vq), 0);
}

Test(virtq, max_queue_size)
{
	cr_assert_eq(enable(VIRTQ_MAX_SIZE, 0), 0);
	desc(VIRTQ_MAX_SIZE - 1, BUF, 8, 0, 0);
	avail(VIRTQ_MAX_SIZE - 1);
	cr_assert_eq(virtq_pop(&vq, &chain), 1);
	cr_assert_eq(chain.head, VIRTQ_MAX_SIZE - 1);
}

Test(virtq, not_enabled_is_empty)
{
	cr_assert_eq(virtq_pop(&vq, &chain), 0);
	cr_assert_eq(virtq_should_notify(&vq), false);
}

/* ---- indirect ---- */

Test(virtq, indirect_table)
{
	cr_assert_eq(enable(8, F_INDIRECT), 0);
	/* A direct readable header, then an indirect table: data + status. */
	desc(2, BUF, 16, VIRTQ_DESC_F_NEXT, 4);
	desc(4, TABLE, 3 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	put_desc(TABLE, 0, BUF + 0x100, 32, VIRTQ_DESC_F_NEXT, 2);
	put_desc(TABLE, 2, BUF + 0x200, 4096, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	put_desc(TABLE, 1, BUF + 0x2000, 1, VIRTQ_DESC_F_WRITE, 0);
	avail(2);

	cr_assert_eq(virtq_pop(&vq, &chain), 1);
	cr_assert_eq(chain.head, 2);
	cr_assert_eq(chain.nr, 4);
	cr_assert_eq(chain.nr_readable, 2);
	cr_assert_eq(chain.readable_len, 48);
	cr_assert_eq(chain.writable_len, 4097);
	cr_assert_eq(chain.seg[1].hva, ram(BUF + 0x100));
	cr_assert_eq(chain.seg[2].hva, ram(BUF + 0x200));
	cr_assert_eq(chain.seg[3].hva, ram(BUF + 0x2000));
	cr_assert(chain.seg[3].writable);
}

Test(virtq, indirect_not_negotiated)
{
	cr_assert_eq(enable(8, 0), 0);
	desc(0, TABLE, 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(TABLE, 0, BUF, 16, 0, 0);
	avail(0);
	expect_broken(-EINVAL);
}

Test(virtq, indirect_zero_length)
{
	cr_assert_eq(enable(8, F_INDIRECT), 0);
	desc(0, TABLE, 0, VIRTQ_DESC_F_INDIRECT, 0);
	avail(0);
	expect_broken(-EINVAL);
}

Test(virtq, indirect_length_not_multiple_of_16)
{
	cr_assert_eq(enable(8, F_INDIRECT), 0);
	desc(0, TABLE, 24, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(TABLE, 0, BUF, 16, 0, 0);
	avail(0);
	expect_broken(-EINVAL);
}

Test(virtq, indirect_nested)
{
	cr_assert_eq(enable(8, F_INDIRECT), 0);
	desc(0, TABLE, 32, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(TABLE, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	put_desc(TABLE, 1, TABLE + 0x1000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(TABLE + 0x1000, 0, BUF, 16, 0, 0);
	avail(0);
	expect_broken(-EINVAL);
}

Test(virtq, indirect_with_next)
{
	cr_assert_eq(enable(8, F_INDIRECT), 0);
	desc(0, TABLE, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	put_desc(TABLE, 0, BUF, 16, 0, 0);
	desc(1, BUF, 1, VIRTQ_DESC_F_WRITE, 0);
	avail(0);
	expect_broken(-EINVAL);
}

Test(virtq, indirect_table_outside_ram)
{
	cr_assert_eq(enable(8, F_INDIRECT), 0);
	desc(0, RAM_LOW - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	avail(0);
	expect_broken(-EFAULT);
}

Test(virtq, indirect_loop)
{
	cr_assert_eq(enable(8, F_INDIRECT), 0);
	desc(0, TABLE, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(TABLE, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
	put_desc(TABLE, 1, BUF, 8, VIRTQ_DESC_F_NEXT, 2);
	put_desc(TABLE, 2, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
	avail(0);
	expect_broken(-ELOOP);
}

Test(virtq, indirect_next_out_of_table)
{
	cr_assert_eq(enable(8, F_INDIRECT), 0);
	desc(0, TABLE, 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(TABLE, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 2);
	put_desc(TABLE, 2, BUF, 8, 0, 0); /* in RAM, but past the table's end */
	avail(0);
	expect_broken(-EINVAL);
}

Test(virtq, indirect_chain_longer_than_queue)
{
	cr_assert_eq(enable(4, F_INDIRECT), 0);
	desc(0, TABLE, 5 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	for (uint16_t i = 0; i < 5; i++)
		put_desc(TABLE, i, BUF, 8, i < 4 ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	avail(0);
	expect_broken(-E2BIG);
}

Test(virtq, indirect_table_as_long_as_queue_is_fine)
{
	cr_assert_eq(enable(4, F_INDIRECT), 0);
	desc(0, TABLE, 4 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	for (uint16_t i = 0; i < 4; i++)
		put_desc(TABLE, i, BUF, 8, i < 3 ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	avail(0);
	cr_assert_eq(virtq_pop(&vq, &chain), 1);
	cr_assert_eq(chain.nr, 4);
}

/* ---- malformed direct chains and rings ---- */

Test(virtq, descriptor_loop)
{
	cr_assert_eq(enable(8, 0), 0);
	desc(0, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
	desc(1, BUF, 8, VIRTQ_DESC_F_NEXT, 2);
	desc(2, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
	avail(0);
	expect_broken(-ELOOP);
}

Test(virtq, error_is_sticky)
{
	cr_assert_eq(enable(8, 0), 0);
	desc(0, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
	desc(1, BUF, 8, VIRTQ_DESC_F_NEXT, 0);
	avail(0);
	cr_assert_eq(virtq_pop(&vq, &chain), -ELOOP);
	desc(1, BUF, 8, 0, 0); /* the driver "fixes" it: too late, reset needed */
	cr_assert_eq(virtq_pop(&vq, &chain), -ELOOP);
	cr_assert_eq(vq.last_avail, 0);
}

Test(virtq, error_is_logged_once, .init = setup_redirect)
{
	char line[512];
	int lines = 0;

	cr_assert_eq(enable(8, 0), 0);
	avail(8);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(virtq_pop(&vq, &chain), -EINVAL);
	fflush(stderr);
	FILE *err = cr_get_redirected_stderr();

	while (fgets(line, sizeof(line), err)) {
		cr_assert(strstr(line, "test-vq: queue broken") && strstr(line, "head 8"),
			  "unexpected log line: %s", line);
		lines++;
	}
	cr_assert_eq(lines, 1);
}

Test(virtq, self_loop_longer_than_chain_cap)
{
	/* With a big cap the walk bound, not the segment limit, must stop it. */
	static struct virtq_seg many[4096];

	virtq_chain_init(&chain, many, 4096);
	cr_assert_eq(enable(16, 0), 0);
	desc(7, BUF, 0, VIRTQ_DESC_F_NEXT, 7);
	avail(7);
	cr_assert_eq(virtq_pop(&vq, &chain), -ELOOP);
}

Test(virtq, chain_longer_than_cap)
{
	virtq_chain_init(&chain, segs, 2);
	cr_assert_eq(enable(8, 0), 0);
	desc(0, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
	desc(1, BUF, 8, VIRTQ_DESC_F_NEXT, 2);
	desc(2, BUF, 8, 0, 0);
	avail(0);
	expect_broken(-E2BIG);
	cr_assert_eq(chain.nr, 2, "never wrote past the caller's array");
}

Test(virtq, buffer_outside_ram)
{
	cr_assert_eq(enable(8, 0), 0);
	desc(0, LAYOUT_MMIO_HOLE + 0x1000, 8, 0, 0); /* the MMIO hole */
	avail(0);
	expect_broken(-EFAULT);
}

Test(virtq, buffer_crossing_region_end)
{
	cr_assert_eq(enable(8, 0), 0);
	desc(0, RAM_LOW - 8, 16, 0, 0);
	avail(0);
	expect_broken(-EFAULT);
}

Test(virtq, buffer_length_wraps_address_space)
{
	cr_assert_eq(enable(8, 0), 0);
	desc(0, UINT64_MAX - 4, 0xffffffff, VIRTQ_DESC_F_WRITE, 0);
	avail(0);
	expect_broken(-EFAULT);
}

Test(virtq, buffer_in_high_region_up_to_its_end)
{
	cr_assert_eq(enable(8, 0), 0);
	desc(0, SZ_4G + RAM_HIGH - 16, 16, 0, 0);
	avail(0);
	cr_assert_eq(virtq_pop(&vq, &chain), 1);
}

Test(virtq, avail_idx_jump)
{
	cr_assert_eq(enable(8, 0), 0);
	desc(0, BUF, 8, 0, 0);
	set_avail_idx(9);
	expect_broken(-EINVAL);
}

Test(virtq, avail_idx_backwards_is_a_jump)
{
	cr_assert_eq(enable(8, 0), 0);
	desc(0, BUF, 8, 0, 0);
	avail(0);
	cr_assert_eq(virtq_pop(&vq, &chain), 1);
	set_avail_idx(0); /* 0xffff ahead of last_avail 1 */
	expect_broken(-EINVAL);
}

Test(virtq, head_out_of_range)
{
	cr_assert_eq(enable(8, 0), 0);
	avail(8);
	expect_broken(-EINVAL);
}

Test(virtq, next_out_of_range)
{
	cr_assert_eq(enable(8, 0), 0);
	desc(0, BUF, 8, VIRTQ_DESC_F_NEXT, 8);
	avail(0);
	expect_broken(-EINVAL);
}

Test(virtq, broken_queue_pushes_and_notifies_nothing)
{
	cr_assert_eq(enable(8, 0), 0);
	avail(9);
	expect_broken(-EINVAL);
	virtq_push(&vq, 0, 1);
	cr_assert_eq(USED_IDX(), 0);
	cr_assert_eq(virtq_should_notify(&vq), false);
}

Test(virtq, reset_clears_the_error)
{
	cr_assert_eq(enable(8, 0), 0);
	avail(9);
	expect_broken(-EINVAL);
	virtq_reset(&vq);
	cr_assert_eq(virtq_error(&vq), 0);
	cr_assert_eq(virtq_pop(&vq, &chain), 0, "reset queue is disabled");
	memset(ram(AVAIL), 0, 64);
	avail_idx = 0;
	cr_assert_eq(enable(8, 0), 0);
	desc(1, BUF, 8, 0, 0);
	avail(1);
	cr_assert_eq(virtq_pop(&vq, &chain), 1);
}

/* ---- configuration ---- */

Test(virtq, size_not_power_of_two)
{
	cr_assert_eq(enable(3, 0), -EINVAL);
	cr_assert_eq(virtq_error(&vq), -EINVAL);
	cr_assert_eq(virtq_pop(&vq, &chain), -EINVAL);
	cr_assert_eq(enable(0, 0), -EINVAL);
	cr_assert_eq(enable(65536, 0), -EINVAL);
	cr_assert_eq(enable(VIRTQ_MAX_SIZE + 1, 0), -EINVAL);
	cr_assert_eq(enable(24, 0), -EINVAL);
}

Test(virtq, ring_outside_ram)
{
	struct virtq_config cfg = { .name = "t", .mem = &mem, .size = 256, .desc_gpa = DESC,
				    .avail_gpa = AVAIL, .used_gpa = RAM_LOW - 1024 };

	cr_assert_eq(virtq_enable(&vq, &cfg), -EFAULT, "used ring runs past RAM");
	cfg.used_gpa = USED;
	cfg.desc_gpa = LAYOUT_MMIO_HOLE;
	cr_assert_eq(virtq_enable(&vq, &cfg), -EFAULT);
	cr_assert_eq(virtq_pop(&vq, &chain), -EFAULT);
}

Test(virtq, ring_misaligned)
{
	struct virtq_config cfg = { .name = "t", .mem = &mem, .size = 8, .desc_gpa = DESC + 8,
				    .avail_gpa = AVAIL, .used_gpa = USED };

	cr_assert_eq(virtq_enable(&vq, &cfg), -EINVAL);
	cfg.desc_gpa = DESC;
	cfg.used_gpa = USED + 2;
	cr_assert_eq(virtq_enable(&vq, &cfg), -EINVAL);
	cfg.used_gpa = USED;
	cfg.avail_gpa = AVAIL + 1;
	cr_assert_eq(virtq_enable(&vq, &cfg), -EINVAL);
	cfg.avail_gpa = AVAIL;
	cr_assert_eq(virtq_enable(&vq, &cfg), 0);
}

/* ---- used ring and notifications ---- */

Test(virtq, used_ring_after_push)
{
	cr_assert_eq(enable(4, 0), 0);
	virtq_push(&vq, 3, 513);
	cr_assert_eq(USED_IDX(), 1);
	cr_assert_eq(USED_ID(0), 3);
	cr_assert_eq(USED_LEN(0), 513);
	for (uint32_t i = 0; i < 5; i++)
		virtq_push(&vq, (uint16_t)i % 4, 100 + i);
	cr_assert_eq(USED_IDX(), 6);
	/* Entry 5 wrapped to slot 1. */
	cr_assert_eq(USED_ID(1), 0);
	cr_assert_eq(USED_LEN(1), 104);
	cr_assert_eq(USED_ID(2), 1);
	cr_assert_eq(USED_LEN(2), 101);
}

Test(virtq, push_of_bad_head_is_refused)
{
	cr_assert_eq(enable(4, 0), 0);
	virtq_push(&vq, 4, 1);
	cr_assert_eq(USED_IDX(), 0);
}

Test(virtq, no_interrupt_flag)
{
	cr_assert_eq(enable(4, 0), 0);
	virtq_push(&vq, 0, 1);
	cr_assert(virtq_should_notify(&vq));
	cr_assert_not(virtq_should_notify(&vq), "nothing pushed since");
	wr16(AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT);
	virtq_push(&vq, 0, 1);
	cr_assert_not(virtq_should_notify(&vq));
	wr16(AVAIL, 0);
	virtq_push(&vq, 0, 1);
	cr_assert(virtq_should_notify(&vq));
}

Test(virtq, event_idx_ignores_no_interrupt_flag)
{
	cr_assert_eq(enable(4, F_EVENT), 0);
	wr16(AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT);
	SET_USED_EVENT(0);
	virtq_push(&vq, 0, 1);
	cr_assert(virtq_should_notify(&vq));
}

Test(virtq, event_idx_notify_decisions)
{
	cr_assert_eq(enable(8, F_EVENT), 0);
	SET_USED_EVENT(0);
	virtq_push(&vq, 0, 1); /* used idx 1 */
	cr_assert(virtq_should_notify(&vq), "first decision always interrupts");
	SET_USED_EVENT(3);     /* "tell me when entry 3 is used" */
	virtq_push(&vq, 0, 1); /* 2 */
	cr_assert_not(virtq_should_notify(&vq));
	virtq_push(&vq, 0, 1); /* 3 */
	cr_assert_not(virtq_should_notify(&vq));
	virtq_push(&vq, 0, 1); /* 4: entry 3 is now published */
	cr_assert(virtq_should_notify(&vq));
	virtq_push(&vq, 0, 1); /* 5: 3 already passed */
	cr_assert_not(virtq_should_notify(&vq));
	SET_USED_EVENT(5);
	virtq_push(&vq, 0, 1);
	virtq_push(&vq, 0, 1); /* 7: entries 5 and 6 published at once */
	cr_assert(virtq_should_notify(&vq));
}

Test(virtq, event_idx_at_wrap_around)
{
	cr_assert_eq(enable(4, F_EVENT), 0);
	SET_USED_EVENT(0x8000); /* far away while we walk up to the wrap */
	for (uint32_t i = 0; i < 0xfffe; i++) {
		virtq_push(&vq, 0, 1);
		if (i == 0 || i == 0x8001 || i == 0xfffd)
			virtq_should_notify(&vq);
	}
	cr_assert_eq(USED_IDX(), 0xfffe);
	/* Published 0xfffe, 0xffff, 0, 1: used idx goes 0xfffe -> 2. */
	SET_USED_EVENT(0xffff);
	for (int i = 0; i < 4; i++)
		virtq_push(&vq, 0, 1);
	cr_assert_eq(USED_IDX(), 2);
	cr_assert(virtq_should_notify(&vq), "event 0xffff lies in [0xfffe, 2)");

	SET_USED_EVENT(0x0003);
	virtq_push(&vq, 0, 1); /* 3 */
	cr_assert_not(virtq_should_notify(&vq), "entry 3 not yet published");
	virtq_push(&vq, 0, 1); /* 4 */
	cr_assert(virtq_should_notify(&vq));

	SET_USED_EVENT(0xfffd); /* long past */
	virtq_push(&vq, 0, 1);
	cr_assert_not(virtq_should_notify(&vq));
}

Test(virtq, event_idx_publishes_avail_event)
{
	cr_assert_eq(enable(8, F_EVENT), 0);
	cr_assert_eq(virtq_pop(&vq, &chain), 0);
	cr_assert_eq(AVAIL_EVENT(), 0, "empty: notify me at entry 0");
	desc(0, BUF, 8, 0, 0);
	avail(0);
	avail(0);
	cr_assert_eq(virtq_pop(&vq, &chain), 1);
	cr_assert_eq(AVAIL_EVENT(), 1);
	cr_assert_eq(virtq_pop(&vq, &chain), 1);
	cr_assert_eq(virtq_pop(&vq, &chain), 0);
	cr_assert_eq(AVAIL_EVENT(), 2);
}

Test(virtq, no_avail_event_without_feature)
{
	cr_assert_eq(enable(8, 0), 0);
	wr16(USED + 4 + 8 * 8, 0xabcd);
	desc(0, BUF, 8, 0, 0);
	avail(0);
	cr_assert_eq(virtq_pop(&vq, &chain), 1);
	cr_assert_eq(AVAIL_EVENT(), 0xabcd, "that word is not ours without EVENT_IDX");
}

Test(virtq, push_many_publishes_all_at_once)
{
	struct virtq_used_elem e[3] = { { 4, 100 }, { 1, 0 }, { 6, 7 } };

	cr_assert_eq(enable(8, 0), 0);
	vq.used_idx = 0xfffe; /* across the index wrap */
	virtq_push_many(&vq, e, 3);
	cr_assert_eq(USED_IDX(), 1, "one index update for the three");
	cr_assert_eq(USED_ID(6), 4);
	cr_assert_eq(USED_LEN(6), 100);
	cr_assert_eq(USED_ID(7), 1);
	cr_assert_eq(USED_ID(0), 6);
	cr_assert_eq(USED_LEN(0), 7);
}

Test(virtq, push_many_refuses_a_bad_head, .init = setup_redirect)
{
	struct virtq_used_elem e[2] = { { 1, 1 }, { 8, 1 } };

	cr_assert_eq(enable(8, 0), 0);
	virtq_push_many(&vq, e, 2);
	cr_assert_eq(USED_IDX(), 0, "nothing published, not even the good one");
	cr_assert_eq(vq.used_idx, 0);
}
