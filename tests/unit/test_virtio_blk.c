// SPDX-License-Identifier: MIT
/*
 * virtio-blk through its worker threads and a real io_uring on a temp
 * file. The test plays both the transport (it enables the queues, owns
 * the kick eventfds, records interrupts and needs_reset) and the driver
 * (it lays out rings and chains in fake guest RAM and kicks).
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio.h"
#include "devices/virtio_blk.h"
#include "devices/virtq.h"
#include "core/memory.h"

#define RAM        (4ULL << 20)
#define IMG_SIZE   (1ULL << 20)             /* 2048 sectors */
#define SECTORS    (IMG_SIZE / 512)
#define QBASE(q)   (0x10000ULL + 0x10000ULL * (q))
#define DESC(q)    QBASE(q)
#define AVAIL(q)   (QBASE(q) + 0x4000)
#define USED(q)    (QBASE(q) + 0x8000)
#define HDR(q, h)  (0x100000ULL + 0x10000ULL * (q) + 32ULL * (h))
#define STAT(q, h) (0x140000ULL + 0x1000ULL * (q) + (h))
#define TABLE      0x150000ULL                /* indirect tables */
#define BUF        0x200000ULL                /* data: 2 MiB */
#define NQ         4
#define TIMEOUT_MS 5000

#define F(bit) (1ULL << (bit))

static struct guest_mem mem;
static struct virtio_device *dev;
static char path[64];
static int irq_fd = -1, reset_fd = -1;
static int kick[NQ];
static unsigned irq_count, last_irq_queue;
static uint16_t avail_idx[NQ];
static uint32_t qsize[NQ];

/*
 * The ring's submissions, wrapped at link time (tests/unit/meson.build):
 * the real ones unless a test makes them fail with -errno.
 */
static int submit_fails, wait_fails;
int __real_io_uring_submit(struct io_uring *ring);
int __wrap_io_uring_submit(struct io_uring *ring);
int __real_io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr);
int __wrap_io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr);

int __wrap_io_uring_submit(struct io_uring *ring)
{
	int err = __atomic_load_n(&submit_fails, __ATOMIC_RELAXED);

	return err ? err : __real_io_uring_submit(ring);
}

int __wrap_io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr)
{
	int err = __atomic_load_n(&wait_fails, __ATOMIC_RELAXED);

	return err ? err : __real_io_uring_submit_and_wait(ring, wait_nr);
}

/* ---- the transport's side ---- */

static void on_interrupt(void *transport, unsigned queue)
{
	__atomic_store_n(&last_irq_queue, queue, __ATOMIC_RELAXED);
	__atomic_add_fetch(&irq_count, 1, __ATOMIC_RELAXED);
	eventfd_write(irq_fd, 1);
}

static void on_needs_reset(void *transport)
{
	eventfd_write(reset_fd, 1);
}

static bool wait_fd(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	eventfd_t v;

	if (poll(&p, 1, ms) != 1)
		return false;
	eventfd_read(fd, &v);
	return true;
}

/* ---- the image ---- */

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(((off >> 9) * 13 + off) % 255 + 1); /* never 0 */
}

static void make_image_at(const char *p, uint64_t size)
{
	uint8_t *b = malloc(size);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);

	cr_assert(b && fd >= 0);
	for (uint64_t i = 0; i < size; i++)
		b[i] = pattern(i);
	cr_assert_eq(pwrite(fd, b, size, 0), (ssize_t)size);
	close(fd);
	free(b);
}

static void file_read(uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);

	cr_assert(fd >= 0);
	cr_assert_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static bool file_is(uint64_t off, size_t len, bool zero)
{
	uint8_t *b = malloc(len);
	bool ok = true;

	file_read(off, b, len);
	for (size_t i = 0; i < len && ok; i++)
		ok = b[i] == (zero ? 0 : pattern(off + i));
	free(b);
	return ok;
}

/* ---- fixture ---- */

static void setup(void)
{
	int fd;

	memset(&mem, 0, sizeof(mem));
	mem.fd = -1;
	mem.nr = 1;
	mem.total = RAM;
	mem.region[0] = (struct guest_region){ .gpa = 0, .size = RAM,
					       .hva = aligned_alloc(4096, RAM) };
	cr_assert_not_null(mem.region[0].hva);
	memset(mem.region[0].hva, 0, RAM);
	irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	reset_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	cr_assert(irq_fd >= 0 && reset_fd >= 0);
	for (unsigned q = 0; q < NQ; q++)
		kick[q] = -1;
	irq_count = 0;
	submit_fails = wait_fails = 0;
	dev = NULL;
	snprintf(path, sizeof(path), "/tmp/test-vblk-XXXXXX");
	fd = mkstemp(path);
	cr_assert(fd >= 0);
	close(fd);
	make_image_at(path, IMG_SIZE);
}

static void teardown(void)
{
	if (dev)
		dev->ops->free(dev);
	for (unsigned q = 0; q < NQ; q++) {
		if (kick[q] >= 0)
			close(kick[q]);
	}
	close(irq_fd);
	close(reset_fd);
	unlink(path);
	free(mem.region[0].hva);
}

TestSuite(blk, .init = setup, .fini = teardown);

static void quiet(void)
{
	cr_redirect_stderr();
}

static void *ram(uint64_t gpa)
{
	void *p = guest_mem_ptr(&mem, gpa, 1);

	cr_assert_not_null(p);
	return p;
}

static struct virtio_blk_options defaults(void)
{
	return (struct virtio_blk_options){ .path = path, .queues = 1 };
}

static struct virtio_device *try_create(const struct virtio_blk_options *opt, const char **why)
{
	struct virtio_device *d = virtio_blk_create("test-blk", opt, &mem, why);

	if (d) {
		d->interrupt = on_interrupt;
		d->needs_reset = on_needs_reset;
		d->transport = NULL;
	}
	return d;
}

static void create(const struct virtio_blk_options *opt)
{
	const char *why = NULL;

	if (dev)
		dev->ops->free(dev);
	dev = try_create(opt, &why);
	cr_assert_not_null(dev, "create: %s", why ? why : "?");
}

/* What a driver that wants no event index negotiates: an interrupt per batch. */
static uint64_t features(void)
{
	return dev->device_features & ~F(VIRTIO_F_EVENT_IDX);
}

static int enable(unsigned q, uint32_t size, uint64_t feat)
{
	struct virtq_config cfg = { .name = "test-blk.q", .mem = &mem, .size = size,
				    .desc_gpa = DESC(q), .avail_gpa = AVAIL(q),
				    .used_gpa = USED(q), .features = feat };

	memset(ram(QBASE(q)), 0, 0x10000);
	qsize[q] = size;
	avail_idx[q] = 0;
	if (kick[q] < 0)
		kick[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	cr_assert(kick[q] >= 0);
	dev->kick_fd[q] = kick[q];
	return virtq_enable(&dev->vq[q], &cfg);
}

static void start(uint64_t feat)
{
	dev->driver_features = feat;
	cr_assert_eq(dev->ops->start(dev), 0);
}

/* create + enable every queue at 256 + start. */
static void boot(const struct virtio_blk_options *opt)
{
	create(opt);
	for (unsigned q = 0; q < opt->queues; q++)
		cr_assert_eq(enable(q, 256, features()), 0);
	start(features());
}

/* ---- the driver's side ---- */

static void desc(unsigned q, uint64_t table, uint32_t i, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { htole64(addr), htole32(len), htole16(flags), htole16(next) };

	memcpy(ram((table ? table : DESC(q)) + 16ULL * i), &d, sizeof(d));
}

static uint32_t rd32(uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, ram(gpa), 4);
	return le32toh(v);
}

static uint16_t used_idx(unsigned q)
{
	return le16toh(__atomic_load_n((uint16_t *)ram(USED(q) + 2), __ATOMIC_ACQUIRE));
}

/* The used length of head, or -1 when it was not returned. */
static int64_t used_len(unsigned q, uint16_t head)
{
	for (uint16_t i = 0; i < used_idx(q); i++) {
		uint64_t e = USED(q) + 4 + 8ULL * (i % qsize[q]);

		if (rd32(e) == head)
			return rd32(e + 4);
	}
	return -1;
}

static void put_hdr(unsigned q, uint16_t head, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = { htole32(type), 0, htole64(sector) };

	memcpy(ram(HDR(q, head)), &h, sizeof(h));
	*(uint8_t *)ram(STAT(q, head)) = 0xff; /* so that a status written shows */
}

static uint8_t status(unsigned q, uint16_t head)
{
	return *(volatile uint8_t *)ram(STAT(q, head));
}

/* header, one data buffer (writable for IN and GET_ID), status: descriptors head..head+2. */
static void req(unsigned q, uint16_t head, uint32_t type, uint64_t sector, uint64_t gpa,
		uint32_t len)
{
	bool in = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
	uint16_t m = (uint16_t)(qsize[q] - 1);

	put_hdr(q, head, type, sector);
	desc(q, 0, head, HDR(q, head), 16, VIRTQ_DESC_F_NEXT, (head + 1) & m);
	desc(q, 0, (head + 1) & m, gpa, len, VIRTQ_DESC_F_NEXT | (in ? VIRTQ_DESC_F_WRITE : 0),
	     (head + 2) & m);
	desc(q, 0, (head + 2) & m, STAT(q, head), 1, VIRTQ_DESC_F_WRITE, 0);
}

/* DISCARD / WRITE_ZEROES with n ranges, placed at BUF + 0x1000 * head. */
static void req_ranges(unsigned q, uint16_t head, uint32_t type,
		       const struct virtio_blk_range *r, unsigned n)
{
	uint16_t m = (uint16_t)(qsize[q] - 1);
	uint64_t gpa = BUF + 0x1000ULL * head;

	for (unsigned i = 0; i < n; i++) {
		struct virtio_blk_range le = { htole64(r[i].sector), htole32(r[i].num_sectors),
					       htole32(r[i].flags) };

		memcpy(ram(gpa + 16ULL * i), &le, sizeof(le));
	}
	put_hdr(q, head, type, 0);
	desc(q, 0, head, HDR(q, head), 16, VIRTQ_DESC_F_NEXT, (head + 1) & m);
	desc(q, 0, (head + 1) & m, gpa, 16 * n, VIRTQ_DESC_F_NEXT, (head + 2) & m);
	desc(q, 0, (head + 2) & m, STAT(q, head), 1, VIRTQ_DESC_F_WRITE, 0);
}

/* header and status only (FLUSH). */
static void req_bare(unsigned q, uint16_t head, uint32_t type)
{
	uint16_t m = (uint16_t)(qsize[q] - 1);

	put_hdr(q, head, type, 0);
	desc(q, 0, head, HDR(q, head), 16, VIRTQ_DESC_F_NEXT, (head + 1) & m);
	desc(q, 0, (head + 1) & m, STAT(q, head), 1, VIRTQ_DESC_F_WRITE, 0);
}

static void avail(unsigned q, uint16_t head)
{
	uint16_t le = htole16(head);

	memcpy(ram(AVAIL(q) + 4 + 2ULL * (avail_idx[q] % qsize[q])), &le, 2);
	avail_idx[q]++;
	__atomic_store_n((uint16_t *)ram(AVAIL(q) + 2), htole16(avail_idx[q]), __ATOMIC_RELEASE);
}

static void kick_q(unsigned q)
{
	cr_assert_eq(eventfd_write(kick[q], 1), 0);
}

static void submit(unsigned q, uint16_t head)
{
	avail(q, head);
	kick_q(q);
}

/* Waits (interrupt by interrupt, at most TIMEOUT_MS) until used->idx reaches n. */
static bool wait_used(unsigned q, uint16_t n)
{
	for (int waited = 0; waited < TIMEOUT_MS; waited += 50) {
		if ((uint16_t)(used_idx(q) - n) < 0x8000)
			return true;
		wait_fd(irq_fd, 50);
	}
	return (uint16_t)(used_idx(q) - n) < 0x8000;
}

/* The interrupt follows the used->idx store: give it time to arrive. */
static unsigned wait_irqs(unsigned n)
{
	for (int i = 0; i < TIMEOUT_MS && __atomic_load_n(&irq_count, __ATOMIC_RELAXED) < n; i++)
		usleep(1000);
	return __atomic_load_n(&irq_count, __ATOMIC_RELAXED);
}

static void run1(unsigned q, uint16_t head)
{
	uint16_t before = used_idx(q);

	submit(q, head);
	cr_assert(wait_used(q, (uint16_t)(before + 1)), "request at head %u never completed", head);
}

static void expect(unsigned q, uint16_t head, uint8_t st, int64_t len)
{
	cr_assert_eq(status(q, head), st, "status %u, expected %u", status(q, head), st);
	cr_assert_eq(used_len(q, head), len, "used len %lld, expected %lld",
		     (long long)used_len(q, head), (long long)len);
}

static uint8_t *buf(uint64_t off)
{
	return ram(BUF + off);
}

/* ---- config space and features ---- */

static void cfg_read(uint32_t off, void *data, uint32_t len)
{
	dev->ops->config_read(dev, off, data, len);
}

Test(blk, config_space_describes_the_image)
{
	struct virtio_blk_options o = defaults();
	uint64_t cap;
	uint32_t v32;
	uint16_t v16;
	uint8_t v8;

	create(&o);
	cr_assert_eq(dev->device_id, VIRTIO_ID_BLOCK);
	cr_assert_eq(dev->config_len, sizeof(struct virtio_blk_config));
	cr_assert_eq(dev->nr_queues, 1);
	cr_assert_eq(dev->queue_max_size, 256);
	cfg_read(0, &cap, 8);
	cr_assert_eq(le64toh(cap), SECTORS);
	cfg_read(12, &v32, 4);
	cr_assert_eq(le32toh(v32), 254, "seg_max = queue size - 2");
	cfg_read(20, &v32, 4);
	cr_assert_eq(le32toh(v32), 512);
	cfg_read(34, &v16, 2);
	cr_assert_eq(le16toh(v16), 1);
	cfg_read(40, &v32, 4);
	cr_assert_eq(le32toh(v32), 16, "max_discard_seg");
	cfg_read(36, &v32, 4);
	cr_assert_gt(le32toh(v32), 0, "max_discard_sectors");
	cfg_read(44, &v32, 4);
	cr_assert_gt(le32toh(v32), 0, "discard_sector_alignment");
	cfg_read(48, &v32, 4);
	cr_assert_gt(le32toh(v32), 0, "max_write_zeroes_sectors");
	cfg_read(52, &v32, 4);
	cr_assert_eq(le32toh(v32), 16, "max_write_zeroes_seg");
	cfg_read(56, &v8, 1);
	cr_assert_eq(v8, 1, "write_zeroes_may_unmap");

	uint64_t want = F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_INDIRECT_DESC) | F(VIRTIO_F_EVENT_IDX) |
			F(VIRTIO_BLK_F_SEG_MAX) | F(VIRTIO_BLK_F_BLK_SIZE) | F(VIRTIO_BLK_F_FLUSH) |
			F(VIRTIO_BLK_F_DISCARD) | F(VIRTIO_BLK_F_WRITE_ZEROES);

	cr_assert_eq(dev->device_features, want, "features %#llx",
		     (unsigned long long)dev->device_features);
}

Test(blk, readonly_and_multiqueue_are_offered, .init = quiet)
{
	struct virtio_blk_options o = defaults();
	uint16_t nq;

	o.readonly = true;
	o.queues = 4;
	o.queue_size = 64;
	create(&o);
	cr_assert(virtio_has_feature(dev->device_features, VIRTIO_BLK_F_RO));
	cr_assert(virtio_has_feature(dev->device_features, VIRTIO_BLK_F_MQ));
	cr_assert_eq(dev->nr_queues, 4);
	cr_assert_eq(dev->queue_max_size, 64);
	cfg_read(34, &nq, 2);
	cr_assert_eq(le16toh(nq), 4);
}

Test(blk, config_writes_are_ignored, .init = quiet)
{
	struct virtio_blk_options o = defaults();
	uint8_t wb = 0, after;

	create(&o);
	dev->ops->config_write(dev, 32, &wb, 1);
	cfg_read(32, &after, 1);
	cr_assert_eq(after, 1, "writeback is not writable without CONFIG_WCE");
}

/* ---- I/O ---- */

Test(blk, read)
{
	struct virtio_blk_options o = defaults();

	boot(&o);
	req(0, 0, VIRTIO_BLK_T_IN, 3, BUF, 1024);
	run1(0, 0);
	expect(0, 0, VIRTIO_BLK_S_OK, 1025);
	for (unsigned i = 0; i < 1024; i++)
		cr_assert_eq(buf(0)[i], pattern(3 * 512 + i), "byte %u", i);
	cr_assert_gt(wait_irqs(1), 0, "the driver was interrupted");
	cr_assert_eq(last_irq_queue, 0);
}

Test(blk, write_reaches_the_file)
{
	struct virtio_blk_options o = defaults();

	boot(&o);
	for (unsigned i = 0; i < 1536; i++)
		buf(0)[i] = (uint8_t)(i * 3 + 7);
	req(0, 0, VIRTIO_BLK_T_OUT, 5, BUF, 1536);
	run1(0, 0);
	expect(0, 0, VIRTIO_BLK_S_OK, 1);

	uint8_t got[1536];

	file_read(5 * 512, got, sizeof(got));
	cr_assert_arr_eq(got, buf(0), sizeof(got));
	cr_assert(file_is(4 * 512, 512, false), "the sector before is untouched");
	cr_assert(file_is(8 * 512, 512, false), "the sector after is untouched");
}

/* Data scattered over descriptors of odd sizes, and an indirect table. */
Test(blk, scattered_write_then_indirect_read)
{
	struct virtio_blk_options o = defaults();

	boot(&o);
	for (unsigned i = 0; i < 1024; i++)
		buf(0x10000)[i] = (uint8_t)(0xa5 ^ i);
	put_hdr(0, 0, VIRTIO_BLK_T_OUT, 100);
	desc(0, 0, 0, HDR(0, 0), 16, VIRTQ_DESC_F_NEXT, 1);
	desc(0, 0, 1, BUF + 0x10000, 100, VIRTQ_DESC_F_NEXT, 2);
	desc(0, 0, 2, BUF + 0x10000 + 100, 700, VIRTQ_DESC_F_NEXT, 3);
	desc(0, 0, 3, BUF + 0x10000 + 800, 224, VIRTQ_DESC_F_NEXT, 4);
	desc(0, 0, 4, STAT(0, 0), 1, VIRTQ_DESC_F_WRITE, 0);
	run1(0, 0);
	expect(0, 0, VIRTIO_BLK_S_OK, 1);

	/* The read: one descriptor pointing at a table of four. */
	put_hdr(0, 8, VIRTIO_BLK_T_IN, 100);
	desc(0, TABLE, 0, HDR(0, 8), 16, VIRTQ_DESC_F_NEXT, 1);
	desc(0, TABLE, 1, BUF + 0x20000, 24, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	desc(0, TABLE, 2, BUF + 0x20000 + 24, 1000, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
	desc(0, TABLE, 3, STAT(0, 8), 1, VIRTQ_DESC_F_WRITE, 0);
	desc(0, 0, 8, TABLE, 64, VIRTQ_DESC_F_INDIRECT, 0);
	run1(0, 8);
	expect(0, 8, VIRTIO_BLK_S_OK, 1025);
	cr_assert_arr_eq(buf(0x20000), buf(0x10000), 1024);
}

Test(blk, many_requests_in_flight)
{
	struct virtio_blk_options o = defaults();

	boot(&o);
	for (uint16_t i = 0; i < 64; i++) {
		req(0, (uint16_t)(4 * i), VIRTIO_BLK_T_IN, 8ULL * i, BUF + 4096ULL * i, 4096);
		avail(0, (uint16_t)(4 * i));
	}
	kick_q(0);
	cr_assert(wait_used(0, 64));
	for (uint16_t i = 0; i < 64; i++) {
		expect(0, (uint16_t)(4 * i), VIRTIO_BLK_S_OK, 4097);
		for (unsigned b = 0; b < 4096; b += 511)
			cr_assert_eq(buf(4096ULL * i)[b], pattern(4096ULL * i + b));
	}
}

Test(blk, flush_completes)
{
	struct virtio_blk_options o = defaults();

	boot(&o);
	req(0, 0, VIRTIO_BLK_T_OUT, 0, BUF, 512);
	run1(0, 0);
	req_bare(0, 4, VIRTIO_BLK_T_FLUSH);
	run1(0, 4);
	expect(0, 4, VIRTIO_BLK_S_OK, 1);
}

Test(blk, discard_punches_a_hole)
{
	struct virtio_blk_options o = defaults();
	struct virtio_blk_range r[2] = { { 16, 16, 0 }, { 100, 8, 0 } };
	struct stat st;

	boot(&o);
	req_ranges(0, 0, VIRTIO_BLK_T_DISCARD, r, 2);
	run1(0, 0);
	expect(0, 0, VIRTIO_BLK_S_OK, 1);
	cr_assert(file_is(16 * 512, 16 * 512, true));
	cr_assert(file_is(100 * 512, 8 * 512, true));
	cr_assert(file_is(15 * 512, 512, false), "before the range");
	cr_assert(file_is(32 * 512, 512, false), "after the range");
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq((uint64_t)st.st_size, IMG_SIZE, "the image keeps its size");
}

Test(blk, write_zeroes_with_and_without_unmap)
{
	struct virtio_blk_options o = defaults();
	struct virtio_blk_range r[2] = { { 1, 3, 0 }, { 40, 24, VIRTIO_BLK_WZ_FLAG_UNMAP } };

	boot(&o);
	req_ranges(0, 0, VIRTIO_BLK_T_WRITE_ZEROES, r, 2);
	run1(0, 0);
	expect(0, 0, VIRTIO_BLK_S_OK, 1);
	cr_assert(file_is(1 * 512, 3 * 512, true));
	cr_assert(file_is(40 * 512, 24 * 512, true));
	cr_assert(file_is(0, 512, false));
	cr_assert(file_is(4 * 512, 512, false));
	cr_assert(file_is(64 * 512, 512, false));
}

/* tmpfs punches holes but has no FALLOC_FL_ZERO_RANGE: zeroes are written instead. */
Test(blk, write_zeroes_falls_back_to_writing)
{
	struct virtio_blk_options o = defaults();
	struct virtio_blk_range r = { 100, 1500, 0 }; /* 750 KiB: several chunks */
	char shm[64];
	int fd;

	snprintf(shm, sizeof(shm), "/dev/shm/test-vblk-XXXXXX");
	fd = mkstemp(shm);
	if (fd < 0)
		cr_skip_test("no /dev/shm");
	if (fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, 4096) == 0 ||
	    errno != EOPNOTSUPP) {
		close(fd);
		unlink(shm);
		cr_skip_test("/dev/shm supports ZERO_RANGE: no fallback to test");
	}
	close(fd);
	unlink(path);
	memcpy(path, shm, sizeof(shm));
	make_image_at(path, IMG_SIZE);
	boot(&o);
	req_ranges(0, 0, VIRTIO_BLK_T_WRITE_ZEROES, &r, 1);
	run1(0, 0);
	expect(0, 0, VIRTIO_BLK_S_OK, 1);
	cr_assert(file_is(100 * 512, 1500 * 512, true));
	cr_assert(file_is(99 * 512, 512, false));
	cr_assert(file_is(1600 * 512, 512, false));
	/* A second request, once the queue knows: the same result. */
	r = (struct virtio_blk_range){ 1700, 10, 0 };
	req_ranges(0, 4, VIRTIO_BLK_T_WRITE_ZEROES, &r, 1);
	run1(0, 4);
	expect(0, 4, VIRTIO_BLK_S_OK, 1);
	cr_assert(file_is(1700 * 512, 10 * 512, true));
}

Test(blk, discard_unsupp_when_not_negotiated)
{
	struct virtio_blk_options o = defaults();
	struct virtio_blk_range r = { 16, 16, 0 };
	uint64_t feat;

	create(&o);
	feat = features() & ~F(VIRTIO_BLK_F_DISCARD) & ~F(VIRTIO_BLK_F_WRITE_ZEROES);
	cr_assert_eq(enable(0, 256, feat), 0);
	start(feat);
	req_ranges(0, 0, VIRTIO_BLK_T_DISCARD, &r, 1);
	run1(0, 0);
	expect(0, 0, VIRTIO_BLK_S_UNSUPP, 1);
	cr_assert(file_is(16 * 512, 16 * 512, false));
}

Test(blk, oversized_range_is_refused)
{
	struct virtio_blk_options o = defaults();
	uint32_t max;
	int fd = open(path, O_RDWR);

	cr_assert(fd >= 0);
	cr_assert_eq(ftruncate(fd, 8LL << 30), 0); /* sparse, 8 GiB */
	close(fd);
	boot(&o);
	cfg_read(48, &max, 4);
	max = le32toh(max);

	struct virtio_blk_range r = { 0, max + 1, 0 };

	req_ranges(0, 0, VIRTIO_BLK_T_WRITE_ZEROES, &r, 1);
	run1(0, 0);
	expect(0, 0, VIRTIO_BLK_S_IOERR, 1);
	cr_assert(file_is(0, 512, false));
}

Test(blk, get_id_returns_the_serial)
{
	struct virtio_blk_options o = defaults();

	o.serial = "disk-serial-1";
	boot(&o);
	memset(buf(0), 0xee, 64);
	req(0, 0, VIRTIO_BLK_T_GET_ID, 0, BUF, 20);
	run1(0, 0);
	expect(0, 0, VIRTIO_BLK_S_OK, 21);
	cr_assert_str_eq((char *)buf(0), "disk-serial-1");
	cr_assert_eq(buf(0)[19], 0, "zero padded to 20 bytes");
	cr_assert_eq(buf(0)[20], 0xee, "nothing past the 20 bytes");

	/* A short buffer gets what fits. */
	memset(buf(0x100), 0xee, 64);
	req(0, 4, VIRTIO_BLK_T_GET_ID, 0, BUF + 0x100, 4);
	run1(0, 4);
	expect(0, 4, VIRTIO_BLK_S_OK, 5);
	cr_assert_arr_eq(buf(0x100), "disk", 4);
	cr_assert_eq(buf(0x100)[4], 0xee);
}

static void read_id(char out[21])
{
	memset(out, 0, 21);
	req(0, 0, VIRTIO_BLK_T_GET_ID, 0, BUF, 20);
	run1(0, 0);
	expect(0, 0, VIRTIO_BLK_S_OK, 21);
	memcpy(out, buf(0), 20);
}

Test(blk, default_serial_is_stable_per_file)
{
	struct virtio_blk_options o = defaults();
	char a[21], b[21], c[21];
	char other[64];
	int fd;

	boot(&o);
	read_id(a);
	cr_assert_gt(strlen(a), 0);
	boot(&o);
	read_id(b);
	cr_assert_str_eq(a, b, "same file, same serial");

	snprintf(other, sizeof(other), "/tmp/test-vblk-XXXXXX");
	fd = mkstemp(other);
	cr_assert(fd >= 0);
	close(fd);
	make_image_at(other, IMG_SIZE);
	o.path = other;
	boot(&o);
	read_id(c);
	unlink(other);
	cr_assert_str_neq(a, c, "another file, another serial");
}

Test(blk, unknown_request_type_is_unsupp)
{
	struct virtio_blk_options o = defaults();

	boot(&o);
	req_bare(0, 0, 99);
	run1(0, 0);
	expect(0, 0, VIRTIO_BLK_S_UNSUPP, 1);
}

/* ---- refusals ---- */

Test(blk, readonly_refuses_writes)
{
	struct virtio_blk_options o = defaults();
	struct virtio_blk_range r = { 0, 8, 0 };

	o.readonly = true;
	boot(&o);
	memset(buf(0), 0, 512);
	req(0, 0, VIRTIO_BLK_T_OUT, 0, BUF, 512);
	run1(0, 0);
	expect(0, 0, VIRTIO_BLK_S_IOERR, 1);
	req_ranges(0, 4, VIRTIO_BLK_T_DISCARD, &r, 1);
	run1(0, 4);
	expect(0, 4, VIRTIO_BLK_S_IOERR, 1);
	req_ranges(0, 8, VIRTIO_BLK_T_WRITE_ZEROES, &r, 1);
	run1(0, 8);
	expect(0, 8, VIRTIO_BLK_S_IOERR, 1);
	cr_assert(file_is(0, 8 * 512, false), "the image is unchanged");
	cr_assert_not(wait_fd(reset_fd, 0), "a refused write is no protocol error");

	/* Reads still work. */
	req(0, 12, VIRTIO_BLK_T_IN, 0, BUF + 0x1000, 512);
	run1(0, 12);
	expect(0, 12, VIRTIO_BLK_S_OK, 513);
	cr_assert_eq(buf(0x1000)[0], pattern(0));
}

Test(blk, requests_beyond_the_capacity_fail)
{
	struct virtio_blk_options o = defaults();
	struct virtio_blk_range r = { SECTORS - 4, 8, 0 };

	boot(&o);
	req(0, 0, VIRTIO_BLK_T_IN, SECTORS - 1, BUF, 1024);
	run1(0, 0);
	expect(0, 0, VIRTIO_BLK_S_IOERR, 1);
	req(0, 4, VIRTIO_BLK_T_OUT, SECTORS, BUF, 512);
	run1(0, 4);
	expect(0, 4, VIRTIO_BLK_S_IOERR, 1);
	req(0, 8, VIRTIO_BLK_T_IN, UINT64_MAX / 512, BUF, 512);
	run1(0, 8);
	expect(0, 8, VIRTIO_BLK_S_IOERR, 1);
	req_ranges(0, 12, VIRTIO_BLK_T_DISCARD, &r, 1);
	run1(0, 12);
	expect(0, 12, VIRTIO_BLK_S_IOERR, 1);
	/* The last sector itself is fine. */
	req(0, 16, VIRTIO_BLK_T_IN, SECTORS - 1, BUF, 512);
	run1(0, 16);
	expect(0, 16, VIRTIO_BLK_S_OK, 513);
}

Test(blk, image_shrunk_under_the_device_is_an_error, .init = quiet)
{
	struct virtio_blk_options o = defaults();

	boot(&o);
	cr_assert_eq(truncate(path, IMG_SIZE / 2), 0);
	req(0, 0, VIRTIO_BLK_T_IN, SECTORS - 1, BUF, 512);
	run1(0, 0);
	expect(0, 0, VIRTIO_BLK_S_IOERR, 1);
}

/* ---- a driver that breaks the protocol ---- */

/* The queue is broken: needs_reset, nothing pushed, later requests ignored. */
static void expect_queue_stopped(uint16_t used_before)
{
	cr_assert(wait_fd(reset_fd, TIMEOUT_MS), "needs_reset was not raised");
	cr_assert_eq(used_idx(0), used_before);
	req(0, 32, VIRTIO_BLK_T_IN, 0, BUF, 512);
	submit(0, 32);
	usleep(200 * 1000);
	cr_assert_eq(used_idx(0), used_before, "a broken queue is not served");
	cr_assert_eq(status(0, 32), 0xff);
}

Test(blk, descriptor_loop, .init = quiet)
{
	struct virtio_blk_options o = defaults();

	boot(&o);
	put_hdr(0, 0, VIRTIO_BLK_T_IN, 0);
	desc(0, 0, 0, HDR(0, 0), 16, VIRTQ_DESC_F_NEXT, 1);
	desc(0, 0, 1, BUF, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0);
	submit(0, 0);
	expect_queue_stopped(0);
	cr_assert_eq(virtq_error(&dev->vq[0]), -ELOOP);
}

Test(blk, buffer_outside_guest_ram, .init = quiet)
{
	struct virtio_blk_options o = defaults();

	boot(&o);
	req(0, 0, VIRTIO_BLK_T_IN, 0, RAM - 256, 512); /* crosses the end of RAM */
	submit(0, 0);
	expect_queue_stopped(0);
	cr_assert_eq(virtq_error(&dev->vq[0]), -EFAULT);
	cr_assert_eq(status(0, 0), 0xff, "no status written");
}

Test(blk, chain_longer_than_the_queue, .init = quiet)
{
	struct virtio_blk_options o = defaults();

	create(&o);
	cr_assert_eq(enable(0, 8, features()), 0);
	start(features());
	/* Nine descriptors in an indirect table, no loop, for a queue of eight. */
	put_hdr(0, 0, VIRTIO_BLK_T_IN, 0);
	desc(0, TABLE, 0, HDR(0, 0), 16, VIRTQ_DESC_F_NEXT, 1);
	for (uint16_t i = 1; i < 8; i++)
		desc(0, TABLE, i, BUF + 512ULL * i, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE,
		     (uint16_t)(i + 1));
	desc(0, TABLE, 8, STAT(0, 0), 1, VIRTQ_DESC_F_WRITE, 0);
	desc(0, 0, 0, TABLE, 9 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	submit(0, 0);
	cr_assert(wait_fd(reset_fd, TIMEOUT_MS), "needs_reset was not raised");
	cr_assert_eq(virtq_error(&dev->vq[0]), -E2BIG);
	cr_assert_eq(used_idx(0), 0);
}

Test(blk, header_too_short, .init = quiet)
{
	struct virtio_blk_options o = defaults();

	boot(&o);
	put_hdr(0, 0, VIRTIO_BLK_T_IN, 0);
	desc(0, 0, 0, HDR(0, 0), 8, VIRTQ_DESC_F_NEXT, 1);
	desc(0, 0, 1, STAT(0, 0), 1, VIRTQ_DESC_F_WRITE, 0);
	submit(0, 0);
	cr_assert(wait_fd(reset_fd, TIMEOUT_MS), "needs_reset was not raised");
	/* Returned with nothing written, so the driver can reclaim it. */
	cr_assert(wait_used(0, 1));
	expect(0, 0, 0xff, 0);
	req(0, 32, VIRTIO_BLK_T_IN, 0, BUF, 512);
	submit(0, 32);
	usleep(200 * 1000);
	cr_assert_eq(used_idx(0), 1, "a broken queue is not served");
}

Test(blk, queue_size_not_a_power_of_two, .init = quiet)
{
	struct virtio_blk_options o = defaults();

	create(&o);
	cr_assert_lt(enable(0, 6, features()), 0);
	dev->driver_features = features();
	cr_assert_lt(dev->ops->start(dev), 0);
	cr_assert(wait_fd(reset_fd, 0), "needs_reset was raised");
	dev->ops->stop(dev); /* harmless after a failed start */
}

/* ---- life cycle ---- */

Test(blk, stop_then_start_again)
{
	struct virtio_blk_options o = defaults();

	boot(&o);
	req(0, 0, VIRTIO_BLK_T_IN, 1, BUF, 512);
	run1(0, 0);
	expect(0, 0, VIRTIO_BLK_S_OK, 513);
	dev->ops->stop(dev);
	dev->ops->stop(dev); /* idempotent */

	/* A stopped device ignores kicks. */
	req(0, 4, VIRTIO_BLK_T_IN, 2, BUF, 512);
	submit(0, 4);
	usleep(100 * 1000);
	cr_assert_eq(used_idx(0), 1);

	/* The driver's reset and re-init: fresh rings, indices from 0. */
	cr_assert_eq(enable(0, 128, features()), 0);
	start(features());
	cr_assert_eq(dev->ops->start(dev), -EBUSY, "already started");
	for (unsigned i = 0; i < 512; i++)
		buf(0x1000)[i] = (uint8_t)~i;
	req(0, 0, VIRTIO_BLK_T_OUT, 9, BUF + 0x1000, 512);
	run1(0, 0);
	expect(0, 0, VIRTIO_BLK_S_OK, 1);
	req(0, 4, VIRTIO_BLK_T_IN, 9, BUF + 0x2000, 512);
	run1(0, 4);
	expect(0, 4, VIRTIO_BLK_S_OK, 513);
	cr_assert_arr_eq(buf(0x2000), buf(0x1000), 512);
}

/*
 * A ring that keeps failing while stop() waits for it (issue 18): stop()
 * gives up after about a second instead of hanging the vCPU that reset
 * the device; the request is not answered and the queue never starts
 * again (the driver sees DEVICE_NEEDS_RESET).
 */
Test(blk, stop_gives_up_on_a_ring_that_keeps_failing, .init = quiet, .timeout = 20)
{
	struct virtio_blk_options o = defaults();
	struct timespec t0, t1;
	double secs;

	boot(&o);
	__atomic_store_n(&submit_fails, -EAGAIN, __ATOMIC_RELAXED); /* stays queued */
	req(0, 0, VIRTIO_BLK_T_IN, 1, BUF, 512);
	submit(0, 0);
	usleep(50 * 1000);
	__atomic_store_n(&wait_fails, -EBADF, __ATOMIC_RELAXED);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	dev->ops->stop(dev);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	cr_assert_lt(secs, 10.0, "stop() took %.1f s", secs);
	cr_assert_eq(used_idx(0), 0, "the request given up on is not answered");
	cr_assert_eq(status(0, 0), 0xff, "nor its status written");
	/* the driver's reset and re-init: the queue refuses to start */
	__atomic_store_n(&submit_fails, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&wait_fails, 0, __ATOMIC_RELAXED);
	cr_assert_eq(enable(0, 256, features()), 0);
	dev->driver_features = features();
	cr_assert_neq(dev->ops->start(dev), 0, "a queue whose ring failed starts again");
	cr_assert(wait_fd(reset_fd, 0), "DEVICE_NEEDS_RESET");
}

Test(blk, stop_without_start_and_free)
{
	struct virtio_blk_options o = defaults();

	create(&o);
	dev->ops->stop(dev);
	dev->ops->free(dev);
	dev = NULL;
	create(&o); /* the lock went with it */
}

/* Once stop() returns, no request still moves guest memory. */
Test(blk, stop_waits_for_io_in_flight)
{
	struct virtio_blk_options o = defaults();
	enum { N = 16, LEN = 128 << 10 };
	uint8_t *snap = malloc(N * LEN);
	uint16_t used;

	cr_assert_not_null(snap);
	make_image_at(path, 8ULL << 20);
	o.direct = true; /* slower than the page cache: more likely still in flight */
	boot(&o);
	memset(buf(0), 0xaa, N * LEN);
	for (uint16_t i = 0; i < N; i++) {
		req(0, (uint16_t)(4 * i), VIRTIO_BLK_T_IN, 256ULL * i, BUF + (uint64_t)LEN * i, LEN);
		avail(0, (uint16_t)(4 * i));
	}
	kick_q(0);
	usleep(100);
	dev->ops->stop(dev);
	used = used_idx(0);
	memcpy(snap, buf(0), N * LEN);
	usleep(100 * 1000);
	cr_assert_eq(used_idx(0), used, "used ring changed after stop");
	cr_assert_arr_eq(buf(0), snap, N * LEN, "guest memory changed after stop");
	free(snap);
}

Test(blk, direct_io_with_aligned_and_unaligned_buffers)
{
	struct virtio_blk_options o = defaults();
	enum { LEN = 600 << 10 }; /* more than one bounce chunk */
	uint32_t bs;

	o.direct = true;
	boot(&o);
	cfg_read(20, &bs, 4);
	cr_assert_geq(le32toh(bs), 512);
	/* Write from an odd address: through the bounce buffer. */
	for (unsigned i = 0; i < LEN; i++)
		buf(1)[i] = (uint8_t)(i * 5 + 1);
	req(0, 0, VIRTIO_BLK_T_OUT, 0, BUF + 1, LEN);
	run1(0, 0);
	expect(0, 0, VIRTIO_BLK_S_OK, 1);

	uint8_t *got = malloc(LEN);

	file_read(0, got, LEN);
	cr_assert_arr_eq(got, buf(1), LEN);
	/* Read it back aligned, then unaligned. */
	req(0, 4, VIRTIO_BLK_T_IN, 0, BUF + 0x100000, LEN);
	run1(0, 4);
	expect(0, 4, VIRTIO_BLK_S_OK, LEN + 1);
	cr_assert_arr_eq(buf(0x100000), got, LEN);
	memset(buf(0x100000), 0, LEN + 8);
	req(0, 8, VIRTIO_BLK_T_IN, 0, BUF + 0x100003, LEN);
	run1(0, 8);
	expect(0, 8, VIRTIO_BLK_S_OK, LEN + 1);
	cr_assert_arr_eq(buf(0x100003), got, LEN);
	free(got);
}

Test(blk, second_queue_interrupts_as_itself)
{
	struct virtio_blk_options o = defaults();

	o.queues = 2;
	boot(&o);
	req(1, 0, VIRTIO_BLK_T_IN, 7, BUF, 512);
	run1(1, 0);
	expect(1, 0, VIRTIO_BLK_S_OK, 513);
	cr_assert_eq(wait_irqs(1), 1);
	cr_assert_eq(last_irq_queue, 1);
	cr_assert_eq(used_idx(0), 0);
	cr_assert_eq(buf(0)[0], pattern(7 * 512));
}

Test(blk, no_interrupt_when_the_driver_asks_for_none)
{
	struct virtio_blk_options o = defaults();

	boot(&o);
	*(uint16_t *)ram(AVAIL(0)) = htole16(VIRTQ_AVAIL_F_NO_INTERRUPT);
	req(0, 0, VIRTIO_BLK_T_IN, 0, BUF, 512);
	submit(0, 0);
	for (int i = 0; i < 500 && used_idx(0) == 0; i++)
		usleep(10 * 1000);
	cr_assert_eq(used_idx(0), 1);
	expect(0, 0, VIRTIO_BLK_S_OK, 513);
	usleep(20 * 1000); /* an interrupt, had there been one, follows used->idx */
	cr_assert_eq(irq_count, 0);
}

/* With EVENT_IDX, the driver's used_event decides which completion interrupts. */
Test(blk, event_idx_interrupts_when_used_event_says)
{
	struct virtio_blk_options o = defaults();
	uint64_t feat;
	uint16_t *used_event;

	create(&o);
	feat = dev->device_features;
	cr_assert(virtio_has_feature(feat, VIRTIO_F_EVENT_IDX));
	cr_assert_eq(enable(0, 256, feat), 0);
	start(feat);
	used_event = ram(AVAIL(0) + 4 + 2ULL * 256);

	*used_event = htole16(0); /* interrupt once entry 0 is used */
	req(0, 0, VIRTIO_BLK_T_IN, 0, BUF, 512);
	run1(0, 0);
	cr_assert_eq(wait_irqs(1), 1);

	req(0, 4, VIRTIO_BLK_T_IN, 1, BUF, 512); /* used_event still 0: no interrupt */
	submit(0, 4);
	for (int i = 0; i < 500 && used_idx(0) < 2; i++)
		usleep(10 * 1000);
	cr_assert_eq(used_idx(0), 2);
	usleep(20 * 1000);
	cr_assert_eq(irq_count, 1, "the driver asked for no interrupt at entry 1");

	*used_event = htole16(2);
	req(0, 8, VIRTIO_BLK_T_IN, 2, BUF, 512);
	run1(0, 8);
	expect(0, 8, VIRTIO_BLK_S_OK, 513);
	cr_assert_eq(wait_irqs(2), 2);
}

/* ---- create() refusals ---- */

static void expect_refused(const struct virtio_blk_options *o, int err, const char *words)
{
	const char *why = NULL;
	struct virtio_device *d = try_create(o, &why);

	cr_assert_null(d);
	cr_assert_eq(errno, err, "errno %d (%s), expected %d", errno, strerror(errno), err);
	cr_assert_not_null(why);
	cr_assert(strstr(why, o->path), "\"%s\" names the file", why);
	cr_assert(strstr(why, words), "\"%s\" says \"%s\"", why, words);
}

Test(blk, second_writer_is_refused_by_the_lock)
{
	struct virtio_blk_options o = defaults();
	struct virtio_blk_options ro = defaults();

	ro.readonly = true;
	create(&o);
	expect_refused(&o, EBUSY, "locked");
	expect_refused(&ro, EBUSY, "locked");
	dev->ops->free(dev);
	dev = NULL;
	create(&o);
}

Test(blk, readonly_opens_share_the_lock)
{
	struct virtio_blk_options ro = defaults();
	struct virtio_blk_options rw = defaults();
	const char *why = NULL;
	struct virtio_device *second;

	ro.readonly = true;
	create(&ro);
	second = try_create(&ro, &why);
	cr_assert_not_null(second, "second readonly open: %s", why ? why : "?");
	expect_refused(&rw, EBUSY, "locked");
	second->ops->free(second);
}

Test(blk, size_not_a_multiple_of_512)
{
	struct virtio_blk_options o = defaults();

	cr_assert_eq(truncate(path, 1000), 0);
	expect_refused(&o, EINVAL, "512");
	cr_assert_eq(truncate(path, 0), 0);
	expect_refused(&o, EINVAL, "empty");
}

Test(blk, not_an_image)
{
	struct virtio_blk_options o = defaults();

	o.path = "/dev/null";
	expect_refused(&o, EINVAL, "not a regular file or block device");
	o.path = "/tmp";
	o.readonly = true;
	expect_refused(&o, EINVAL, "not a regular file or block device");
	o.path = "/nonexistent/disk.img";
	expect_refused(&o, ENOENT, "No such file");
}

Test(blk, bad_options)
{
	struct virtio_blk_options o = defaults();

	o.queues = 0;
	expect_refused(&o, EINVAL, "queues");
	o.queues = 17;
	expect_refused(&o, EINVAL, "queues");
	o.queues = 1;
	o.queue_size = 100;
	expect_refused(&o, EINVAL, "power of two");
	o.queue_size = 2048;
	expect_refused(&o, EINVAL, "power of two");
	o.queue_size = 0;
	o.serial = "123456789012345678901";
	expect_refused(&o, EINVAL, "serial");
}

/* ---- quiesce (vm.pause) ---- */

/*
 * Suite blk_quiesce: also run under ThreadSanitizer (suite threads). The
 * test writes requests and reads answers only while the device is
 * quiesced, ordered with the worker by the quiesce's lock, as a paused
 * guest's memory is; TSan cannot see the ring's own fences.
 */
TestSuite(blk_quiesce, .init = setup, .fini = teardown, .timeout = 30);

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000L + (t1.tv_nsec - t0->tv_nsec) / 1000000L;
}

Test(blk_quiesce, a_request_kicked_while_quiesced_waits_for_resume)
{
	struct virtio_blk_options o = defaults();

	boot(&o);
	cr_assert_eq(dev->ops->quiesce(dev, TIMEOUT_MS), 0);
	memset(buf(0), 0, 512);
	req(0, 0, VIRTIO_BLK_T_IN, 3, BUF, 512);
	submit(0, 0);
	usleep(150 * 1000);
	cr_assert_eq(used_idx(0), 0, "a request was answered while quiesced");
	cr_assert_eq(status(0, 0), 0xff, "a status byte was written while quiesced");
	cr_assert_eq(buf(0)[0], 0, "guest memory was written while quiesced");
	cr_assert_eq(__atomic_load_n(&irq_count, __ATOMIC_RELAXED), 0, "an interrupt while quiesced");

	dev->ops->resume(dev);
	cr_assert(wait_used(0, 1), "the kick made while quiesced was lost");
	cr_assert_geq(wait_irqs(1), 1);
	cr_assert_eq(dev->ops->quiesce(dev, TIMEOUT_MS), 0);
	expect(0, 0, VIRTIO_BLK_S_OK, 513);
	cr_assert_eq(buf(0)[0], pattern(3 * 512));
	dev->ops->resume(dev);
}

/* The request written while quiesced, taken on resume: its read stays with us. */
static void stuck_request(void)
{
	cr_assert_eq(dev->ops->quiesce(dev, TIMEOUT_MS), 0);
	__atomic_store_n(&submit_fails, -EAGAIN, __ATOMIC_RELAXED);
	__atomic_store_n(&wait_fails, -EAGAIN, __ATOMIC_RELAXED);
	req(0, 0, VIRTIO_BLK_T_IN, 5, BUF, 512);
	submit(0, 0);
	dev->ops->resume(dev);
	usleep(50 * 1000);
}

struct quiesce_call {
	pthread_t thread;
	unsigned timeout_ms;
	int ret;
	bool done;
};

static void *quiesce_thread(void *arg)
{
	struct quiesce_call *c = arg;

	c->ret = dev->ops->quiesce(dev, c->timeout_ms);
	__atomic_store_n(&c->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * A request whose I/O the host has not finished: quiesce() returns only
 * once it is done and answered, so a paused guest's memory is stable.
 */
Test(blk_quiesce, quiesce_waits_for_the_request_in_flight)
{
	struct virtio_blk_options o = defaults();
	struct quiesce_call c = { .timeout_ms = TIMEOUT_MS };

	boot(&o);
	stuck_request();
	cr_assert_eq(pthread_create(&c.thread, NULL, quiesce_thread, &c), 0);
	usleep(200 * 1000);
	cr_assert_not(__atomic_load_n(&c.done, __ATOMIC_ACQUIRE),
		      "quiesce returned with a request in flight");

	__atomic_store_n(&submit_fails, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&wait_fails, 0, __ATOMIC_RELAXED);
	pthread_join(c.thread, NULL);
	cr_assert_eq(c.ret, 0);
	cr_assert_eq(used_idx(0), 1, "the request in flight is answered before quiesce returns");
	expect(0, 0, VIRTIO_BLK_S_OK, 513);
	cr_assert_eq(buf(0)[0], pattern(5 * 512));
	dev->ops->resume(dev);
}

/* A worker that cannot go idle: quiesce() says so and the device runs on. */
Test(blk_quiesce, quiesce_gives_up_and_the_device_runs_on, .init = quiet)
{
	struct virtio_blk_options o = defaults();
	struct timespec t0;
	long ms;

	boot(&o);
	stuck_request();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(dev->ops->quiesce(dev, 300), -ETIMEDOUT);
	ms = elapsed_ms(&t0);
	cr_assert(ms >= 250 && ms < 3000, "gave up after %ld ms, asked 300", ms);

	__atomic_store_n(&submit_fails, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&wait_fails, 0, __ATOMIC_RELAXED);
	cr_assert(wait_used(0, 1), "the device stayed quiesced");
	cr_assert_eq(dev->ops->quiesce(dev, TIMEOUT_MS), 0);
	req(0, 4, VIRTIO_BLK_T_IN, 6, BUF + 0x1000, 512);
	submit(0, 4);
	dev->ops->resume(dev);
	cr_assert(wait_used(0, 2), "the device stayed quiesced");
	cr_assert_eq(dev->ops->quiesce(dev, TIMEOUT_MS), 0);
	expect(0, 4, VIRTIO_BLK_S_OK, 513);
	dev->ops->resume(dev);
}

Test(blk_quiesce, quiesce_with_nothing_running_returns_at_once)
{
	struct virtio_blk_options o = defaults();
	struct timespec t0;

	o.queues = 2;
	create(&o);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(dev->ops->quiesce(dev, TIMEOUT_MS), 0, "not started");
	dev->ops->resume(dev);
	dev->ops->resume(dev); /* resuming a running device is harmless */
	for (unsigned q = 0; q < 2; q++)
		cr_assert_eq(enable(q, 256, features()), 0);
	start(features());
	cr_assert_eq(dev->ops->quiesce(dev, TIMEOUT_MS), 0, "idle workers");
	cr_assert_eq(dev->ops->quiesce(dev, TIMEOUT_MS), 0, "already quiesced");
	cr_assert_lt(elapsed_ms(&t0), 1000, "idle quiesces took %ld ms", elapsed_ms(&t0));
	req(1, 0, VIRTIO_BLK_T_IN, 1, BUF, 512);
	submit(1, 0);
	dev->ops->resume(dev);
	cr_assert(wait_used(1, 1));
	cr_assert_eq(dev->ops->quiesce(dev, TIMEOUT_MS), 0);
	expect(1, 0, VIRTIO_BLK_S_OK, 513);
	dev->ops->resume(dev);
}

/* A VMM reset or exit while paused: stop() joins parked workers; a start() parks anew. */
Test(blk_quiesce, stop_and_start_while_quiesced)
{
	struct virtio_blk_options o = defaults();

	boot(&o);
	cr_assert_eq(dev->ops->quiesce(dev, TIMEOUT_MS), 0);
	dev->ops->stop(dev);
	cr_assert_eq(enable(0, 256, features()), 0);
	start(features());
	req(0, 0, VIRTIO_BLK_T_IN, 2, BUF, 512);
	submit(0, 0);
	usleep(150 * 1000);
	cr_assert_eq(used_idx(0), 0, "a worker started while quiesced served a request");
	dev->ops->resume(dev);
	cr_assert(wait_used(0, 1));
	cr_assert_eq(dev->ops->quiesce(dev, TIMEOUT_MS), 0);
	expect(0, 0, VIRTIO_BLK_S_OK, 513);
	dev->ops->resume(dev);
}
