// SPDX-License-Identifier: MIT
/*
 * virtio-net against a test-side driver that lays out rings and buffers
 * in fake guest RAM, and a SOCK_SEQPACKET socket standing in for the tap
 * (one packet per read or write, vnet header first). The last tests use
 * a real TAP device when this machine lets us create one, and skip
 * otherwise.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio.h"
#include "devices/virtio_net.h"
#include "core/layout.h"
#include "core/memory.h"

#define RAM       (8 * SZ_1M)
#define QSIZE     16
#define RING(q)   (0x10000ULL + 0x10000ULL * (q))
#define DESC(q)   RING(q)
#define AVAIL(q)  (RING(q) + 0x4000)
#define USED(q)   (RING(q) + 0x8000)
#define TABLE     0x100000ULL /* indirect tables */
#define BUF       0x200000ULL /* data buffers, handed out in order */
#define WAIT_MS   2000

#define RX(i) (2 * (i))
#define TX(i) (2 * (i) + 1)

#define BIT(b) (1ULL << (b))
#define F_BASE (BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_INDIRECT_DESC))
#define F_MRG  BIT(VIRTIO_NET_F_MRG_RXBUF)
#define F_EVENT BIT(VIRTIO_F_EVENT_IDX)

static const uint8_t test_mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };

static struct guest_mem mem;
static struct virtio_device *dev;
static int peer[VIRTIO_NET_MAX_PAIRS];
static unsigned npeers;
static int kick[VIRTIO_MAX_QUEUES];
static unsigned irqs[VIRTIO_MAX_QUEUES];
static unsigned resets;
static uint64_t buf_next;

/* The driver's side of each queue. */
static struct {
	uint16_t avail_idx;
	uint16_t next_desc;
} drv[VIRTIO_MAX_QUEUES];

static void on_irq(void *transport, unsigned q)
{
	if (q < VIRTIO_MAX_QUEUES)
		__atomic_fetch_add(&irqs[q], 1, __ATOMIC_SEQ_CST);
}

static void on_reset(void *transport)
{
	__atomic_fetch_add(&resets, 1, __ATOMIC_SEQ_CST);
}

static void setup(void)
{
	memset(&mem, 0, sizeof(mem));
	mem.fd = -1;
	mem.nr = 1;
	mem.total = RAM;
	mem.region[0] = (struct guest_region){ .gpa = 0, .size = RAM, .hva = calloc(1, RAM) };
	cr_assert_not_null(mem.region[0].hva);
	dev = NULL;
	npeers = 0;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		kick[i] = -1;
	memset(irqs, 0, sizeof(irqs));
	resets = 0;
	buf_next = BUF;
	/* A peer that goes away must be an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
}

static void teardown(void)
{
	if (dev)
		dev->ops->free(dev);
	for (unsigned i = 0; i < npeers; i++)
		close(peer[i]);
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		if (kick[i] >= 0)
			close(kick[i]);
	free(mem.region[0].hva);
}

TestSuite(vnet, .init = setup, .fini = teardown, .timeout = 20);

/* Runs after the suite's setup: tests that provoke warnings keep the log quiet. */
static void quiet(void)
{
	cr_redirect_stderr();
}

/* ---- guest memory ---- */

static void *ram(uint64_t gpa)
{
	void *p = guest_mem_ptr(&mem, gpa, 1);

	cr_assert_not_null(p);
	return p;
}

static uint64_t alloc_buf(uint32_t len)
{
	uint64_t gpa = buf_next;

	buf_next += (len + 127) & ~63u; /* a gap: no two buffers touch */
	cr_assert_leq(buf_next, RAM);
	return gpa;
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

static uint16_t used_idx(unsigned q)
{
	return le16toh(__atomic_load_n((uint16_t *)ram(USED(q) + 2), __ATOMIC_ACQUIRE));
}

#define USED_ID(q, i)  rd32(USED(q) + 4 + 8ULL * ((i) % QSIZE))
#define USED_LEN(q, i) rd32(USED(q) + 4 + 8ULL * ((i) % QSIZE) + 4)
#define AVAIL_EVENT(q) rd16(USED(q) + 4 + 8ULL * QSIZE)
#define SET_USED_EVENT(q, v) wr16(AVAIL(q) + 4 + 2ULL * QSIZE, (v))

/* ---- the test-side driver ---- */

struct sg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

static void put_desc(uint64_t table, uint32_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct virtq_desc d = { htole64(addr), htole32(len), htole16(flags), htole16(next) };

	memcpy(ram(table + 16ULL * i), &d, sizeof(d));
}

static void make_avail(unsigned q, uint16_t head)
{
	wr16(AVAIL(q) + 4 + 2ULL * (drv[q].avail_idx % QSIZE), head);
	drv[q].avail_idx++;
	/* The descriptors and ring entry before the index, as a driver's wmb. */
	__atomic_store_n((uint16_t *)ram(AVAIL(q) + 2), htole16(drv[q].avail_idx),
			 __ATOMIC_RELEASE);
}

static void kick_queue(unsigned q)
{
	uint64_t one = 1;

	cr_assert_eq(write(kick[q], &one, sizeof(one)), (ssize_t)sizeof(one));
}

/* Puts a chain of direct descriptors on queue q, makes it available, kicks. */
static uint16_t post(unsigned q, const struct sg *sg, unsigned n)
{
	uint16_t head = drv[q].next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t id = (uint16_t)((head + i) % QSIZE);
		uint16_t flags = (sg[i].write ? VIRTQ_DESC_F_WRITE : 0) |
				 (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);

		put_desc(DESC(q), id, sg[i].gpa, sg[i].len, flags, (uint16_t)((id + 1) % QSIZE));
	}
	drv[q].next_desc = (uint16_t)((head + n) % QSIZE);
	make_avail(q, head);
	kick_queue(q);
	return head;
}

/* One writable buffer of len bytes on rx queue q; returns its address. */
static uint64_t post_rx(unsigned q, uint32_t len)
{
	struct sg sg = { alloc_buf(len), len, true };

	post(q, &sg, 1);
	return sg.gpa;
}

static void enable_queue(unsigned q, uint64_t features)
{
	struct virtq_config c = { .name = "vnet-test-q", .mem = &mem, .size = QSIZE,
				  .desc_gpa = DESC(q), .avail_gpa = AVAIL(q),
				  .used_gpa = USED(q), .features = features };

	memset(ram(RING(q)), 0, 0x10000);
	drv[q].avail_idx = 0;
	drv[q].next_desc = 0;
	cr_assert_eq(virtq_enable(&dev->vq[q], &c), 0);
	if (kick[q] < 0)
		kick[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	cr_assert_geq(kick[q], 0);
	dev->kick_fd[q] = kick[q];
}

static void start(uint64_t features)
{
	dev->driver_features = features;
	for (unsigned q = 0; q < dev->nr_queues; q++)
		enable_queue(q, features);
	cr_assert_eq(dev->ops->start(dev), 0);
}

static void make_dev(unsigned pairs)
{
	int fds[VIRTIO_NET_MAX_PAIRS];
	const char *why = NULL;

	for (unsigned i = 0; i < pairs; i++) {
		int sv[2];

		cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
		fds[i] = sv[0];
		peer[i] = sv[1];
		npeers++;
	}
	dev = virtio_net_create_fds("vnet-test", fds, pairs, test_mac, &mem, &why);
	cr_assert_not_null(dev, "create_fds: %s", why ? why : "?");
	dev->interrupt = on_irq;
	dev->needs_reset = on_reset;
}

static void make_started(unsigned pairs, uint64_t features)
{
	make_dev(pairs);
	start(features);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Whether used->idx of queue q reached idx within WAIT_MS. */
static bool wait_used(unsigned q, uint16_t idx)
{
	long end = now_ms() + WAIT_MS;

	while ((uint16_t)(used_idx(q) - idx) > 0x8000) {
		if (now_ms() > end)
			return false;
		sleep_ms(1);
	}
	return true;
}

static bool wait_counter(const unsigned *c, unsigned want)
{
	long end = now_ms() + WAIT_MS;

	while (__atomic_load_n(c, __ATOMIC_SEQ_CST) < want) {
		if (now_ms() > end)
			return false;
		sleep_ms(1);
	}
	return true;
}

/* Sends header + payload from the "tap" side of pair i. */
static void peer_send(unsigned i, const struct virtio_net_hdr_v1 *hdr, const void *data,
		      size_t len)
{
	struct virtio_net_hdr_v1 zero = { 0 };
	struct iovec iov[2] = { { (void *)(hdr ? hdr : &zero), sizeof(zero) },
				{ (void *)data, len } };

	cr_assert_eq(writev(peer[i], iov, 2), (ssize_t)(sizeof(zero) + len));
}

/* One packet the device wrote to the "tap" of pair i, or -1 after ms. */
static ssize_t peer_recv(unsigned i, void *buf, size_t cap, int ms)
{
	struct pollfd pfd = { .fd = peer[i], .events = POLLIN };

	if (poll(&pfd, 1, ms) != 1)
		return -1;
	return recv(peer[i], buf, cap, MSG_DONTWAIT);
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + seed + (i >> 8));
}

/* CPU time of the whole process (every worker thread), in ms. */
static long cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000L +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000L;
}

/* The device stays idle for a while: no busy loop on a closed or empty fd. */
static void assert_idle(long ms)
{
	long cpu = cpu_ms();

	sleep_ms(ms);
	cr_assert_lt(cpu_ms() - cpu, ms / 3, "the device burned %ld ms of CPU in %ld ms idle",
		     cpu_ms() - cpu, ms);
}

/* ---- MAC and config space ---- */

Test(vnet, default_mac_is_stable_local_unicast_and_per_name)
{
	uint8_t a[6], b[6], c[6], e[6];
	static const uint8_t empty[6] = { 0x02, 0x25, 0x23, 0x22, 0x84, 0xe4 };

	virtio_net_default_mac("web1", a);
	virtio_net_default_mac("web1", b);
	virtio_net_default_mac("web2", c);
	cr_assert_arr_eq(a, b, 6, "same name, same MAC");
	cr_assert_arr_neq(a, c, 6, "different names, different MACs");
	cr_assert_eq(a[0] & 1, 0, "unicast");
	cr_assert_eq(a[0] & 2, 2, "locally administered");
	/* Pinned: a MAC that changes across versions breaks DHCP leases. */
	virtio_net_default_mac(NULL, e);
	cr_assert_arr_eq(e, empty, 6);
	virtio_net_default_mac("", e);
	cr_assert_arr_eq(e, empty, 6);
}

Test(vnet, config_space_single_pair)
{
	struct virtio_net_config cfg;
	uint8_t mac[6];
	uint16_t status, pairs;

	make_dev(1);
	cr_assert_eq(dev->device_id, VIRTIO_ID_NET);
	cr_assert_eq(dev->config_len, sizeof(cfg));
	cr_assert_eq(dev->nr_queues, 2);
	cr_assert_eq(dev->queue_max_size, 256);
	/* The way a driver reads it: a byte at a time for the MAC, words after. */
	for (unsigned i = 0; i < 6; i++)
		dev->ops->config_read(dev, i, &mac[i], 1);
	cr_assert_arr_eq(mac, test_mac, 6);
	dev->ops->config_read(dev, 6, &status, 2);
	cr_assert_eq(le16toh(status), VIRTIO_NET_S_LINK_UP);
	dev->ops->config_read(dev, 8, &pairs, 2);
	cr_assert_eq(le16toh(pairs), 1);

	uint64_t f = dev->device_features;
	uint64_t want = BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_CSUM) |
			BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6) |
			BIT(VIRTIO_NET_F_HOST_ECN) | BIT(VIRTIO_NET_F_GUEST_TSO4) |
			BIT(VIRTIO_NET_F_GUEST_TSO6) | BIT(VIRTIO_NET_F_GUEST_ECN) |
			BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_NET_F_MAC) |
			BIT(VIRTIO_NET_F_STATUS) | BIT(VIRTIO_F_VERSION_1) |
			BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_F_EVENT_IDX);
	cr_assert_eq(f & want, want, "offered 0x%llx", (unsigned long long)f);
	cr_assert_eq(f & (BIT(VIRTIO_NET_F_MQ) | BIT(VIRTIO_NET_F_CTRL_VQ)), 0);
}

Test(vnet, config_space_multi_queue_is_read_only, .init = quiet)
{
	uint8_t mac[6], junk[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint16_t pairs;
	uint32_t word;

	make_dev(3);
	cr_assert_eq(dev->nr_queues, 7, "3 pairs and the control queue");
	cr_assert(virtio_has_feature(dev->device_features, VIRTIO_NET_F_MQ));
	cr_assert(virtio_has_feature(dev->device_features, VIRTIO_NET_F_CTRL_VQ));
	dev->ops->config_read(dev, 8, &pairs, 2);
	cr_assert_eq(le16toh(pairs), 3);
	dev->ops->config_write(dev, 0, junk, 4);
	dev->ops->config_read(dev, 0, &word, 4);
	memcpy(mac, &word, 4);
	dev->ops->config_read(dev, 4, &mac[4], 2);
	cr_assert_arr_eq(mac, test_mac, 6, "the MAC is not the driver's to write");
}

Test(vnet, refuses_bad_arguments)
{
	static const uint8_t multicast[6] = { 0x03, 0, 0, 0, 0, 1 };
	const char *why = NULL;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	cr_assert_null(virtio_net_create_fds("n", sv, 1, multicast, &mem, &why));
	cr_assert_eq(errno, EINVAL);
	cr_assert_not_null(strstr(why, "multicast"), "%s", why);
	cr_assert_null(virtio_net_create_fds("n", sv, 0, test_mac, &mem, &why));
	cr_assert_null(virtio_net_create_fds("n", sv, 9, test_mac, &mem, &why));
	close(sv[0]);
	close(sv[1]);

	struct virtio_net_options o = { .tap = "vmmt-bad", .queues = 9 };
	why = NULL;
	cr_assert_null(virtio_net_create("n", &o, &mem, &why));
	cr_assert_not_null(strstr(why, "vmmt-bad"), "why names the tap: %s", why);
	o = (struct virtio_net_options){ .tap = "vmmt-bad", .queue_size = 100 };
	cr_assert_null(virtio_net_create("n", &o, &mem, &why));
	cr_assert_eq(errno, EINVAL);
	o = (struct virtio_net_options){ .tap = "a-name-longer-than-15" };
	cr_assert_null(virtio_net_create("n", &o, &mem, &why));
	cr_assert_not_null(strstr(why, "longer"), "%s", why);
}

/* ---- transmit ---- */

Test(vnet, tx_chain_split_over_descriptors)
{
	uint8_t pkt[12 + 300], got[1024];
	uint64_t a = alloc_buf(5), b = alloc_buf(7), c = alloc_buf(100), d = alloc_buf(200);

	make_started(1, F_BASE);
	fill(pkt, sizeof(pkt), 1);
	/* The header itself split 5 + 7, then the payload in two pieces. */
	memcpy(ram(a), pkt, 5);
	memcpy(ram(b), pkt + 5, 7);
	memcpy(ram(c), pkt + 12, 100);
	memcpy(ram(d), pkt + 112, 200);
	struct sg sg[] = { { a, 5, false }, { b, 7, false }, { c, 100, false }, { d, 200, false } };
	uint16_t head = post(TX(0), sg, 4);

	cr_assert_eq(peer_recv(0, got, sizeof(got), WAIT_MS), (ssize_t)sizeof(pkt));
	cr_assert_arr_eq(got, pkt, sizeof(pkt), "header and payload intact");
	cr_assert(wait_used(TX(0), 1));
	cr_assert_eq(USED_ID(TX(0), 0), head);
	cr_assert_eq(USED_LEN(TX(0), 0), 0, "the device wrote nothing into a tx chain");
	cr_assert(wait_counter(&irqs[TX(0)], 1), "the driver hears about it");
	cr_assert_eq(resets, 0);
}

Test(vnet, tx_indirect_table)
{
	uint8_t pkt[12 + 64], got[256];
	uint64_t a = alloc_buf(12), b = alloc_buf(30), c = alloc_buf(34);

	make_started(1, F_BASE);
	fill(pkt, sizeof(pkt), 2);
	memcpy(ram(a), pkt, 12);
	memcpy(ram(b), pkt + 12, 30);
	memcpy(ram(c), pkt + 42, 34);
	put_desc(TABLE, 0, a, 12, VIRTQ_DESC_F_NEXT, 2);
	put_desc(TABLE, 2, b, 30, VIRTQ_DESC_F_NEXT, 1);
	put_desc(TABLE, 1, c, 34, 0, 0);
	put_desc(DESC(TX(0)), 5, TABLE, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	make_avail(TX(0), 5);
	kick_queue(TX(0));

	cr_assert_eq(peer_recv(0, got, sizeof(got), WAIT_MS), (ssize_t)sizeof(pkt));
	cr_assert_arr_eq(got, pkt, sizeof(pkt));
	cr_assert(wait_used(TX(0), 1));
	cr_assert_eq(USED_ID(TX(0), 0), 5);
}

Test(vnet, tx_many_packets_in_order)
{
	uint8_t got[64];

	make_started(1, F_BASE | F_EVENT);
	for (unsigned n = 0; n < 40; n++) {
		uint64_t a = alloc_buf(20);
		struct sg sg = { a, 20, false };

		fill(ram(a), 20, n);
		post(TX(0), &sg, 1);
		cr_assert_eq(peer_recv(0, got, sizeof(got), WAIT_MS), 20, "packet %u", n);
		cr_assert_eq(got[12], (uint8_t)(12 * 7 + n), "packet %u in order", n);
		cr_assert(wait_used(TX(0), (uint16_t)(n + 1)));
	}
}

/* ---- receive ---- */

Test(vnet, rx_packet_lands_with_num_buffers_1)
{
	uint8_t payload[1000];
	struct virtio_net_hdr_v1 hdr = { .flags = VIRTIO_NET_HDR_F_DATA_VALID, .num_buffers = 77 };

	make_started(1, F_BASE | F_MRG | BIT(VIRTIO_NET_F_GUEST_CSUM));
	uint64_t buf = post_rx(RX(0), 2048);
	fill(payload, sizeof(payload), 3);
	peer_send(0, &hdr, payload, sizeof(payload));

	cr_assert(wait_used(RX(0), 1), "delivered");
	cr_assert_eq(USED_ID(RX(0), 0), 0);
	cr_assert_eq(USED_LEN(RX(0), 0), 12 + 1000);
	struct virtio_net_hdr_v1 *h = ram(buf);
	cr_assert_eq(h->flags, VIRTIO_NET_HDR_F_DATA_VALID, "the tap's flags pass through");
	cr_assert_eq(le16toh(h->num_buffers), 1);
	cr_assert_arr_eq(ram(buf + 12), payload, sizeof(payload));
	cr_assert(wait_counter(&irqs[RX(0)], 1));
}

Test(vnet, rx_without_mrg_rxbuf_still_says_one_buffer)
{
	uint8_t payload[60];

	make_started(1, F_BASE);
	uint64_t buf = post_rx(RX(0), 1526);
	fill(payload, sizeof(payload), 4);
	wr16(buf + 10, 0xbeef);
	peer_send(0, NULL, payload, sizeof(payload));
	cr_assert(wait_used(RX(0), 1));
	cr_assert_eq(USED_LEN(RX(0), 0), 72);
	cr_assert_eq(rd16(buf + 10), 1, "5.1.6.3.2: num_buffers is 1 without MRG_RXBUF");
	cr_assert_arr_eq(ram(buf + 12), payload, sizeof(payload));
}

Test(vnet, rx_merged_over_two_buffers)
{
	uint8_t payload[1500], joined[12 + 1500];

	make_started(1, F_BASE | F_MRG);
	uint64_t b0 = post_rx(RX(0), 1000);
	uint64_t b1 = post_rx(RX(0), 1000);
	fill(payload, sizeof(payload), 5);
	peer_send(0, NULL, payload, sizeof(payload));

	cr_assert(wait_used(RX(0), 2), "one packet, two buffers");
	cr_assert_eq(used_idx(RX(0)), 2);
	cr_assert_eq(USED_ID(RX(0), 0), 0);
	cr_assert_eq(USED_LEN(RX(0), 0), 1000);
	cr_assert_eq(USED_ID(RX(0), 1), 1);
	cr_assert_eq(USED_LEN(RX(0), 1), 512);
	cr_assert_eq(rd16(b0 + 10), 2, "num_buffers");
	memcpy(joined, ram(b0), 1000);
	memcpy(joined + 1000, ram(b1), 512);
	cr_assert_arr_eq(joined + 12, payload, sizeof(payload));
}

Test(vnet, rx_merged_waits_for_the_second_buffer)
{
	uint8_t payload[1500];

	make_started(1, F_BASE | F_MRG);
	uint64_t b0 = post_rx(RX(0), 1000);
	fill(payload, sizeof(payload), 6);
	peer_send(0, NULL, payload, sizeof(payload));
	sleep_ms(150);
	cr_assert_eq(used_idx(RX(0)), 0, "half a packet is never published");
	uint64_t b1 = post_rx(RX(0), 1000);
	cr_assert(wait_used(RX(0), 2));
	cr_assert_eq(rd16(b0 + 10), 2);
	cr_assert_arr_eq(ram(b1), payload + 988, 512);
}

Test(vnet, rx_without_buffers_waits_idle_then_delivers)
{
	uint8_t payload[100];

	make_started(1, F_BASE | F_MRG | F_EVENT);
	fill(payload, sizeof(payload), 7);
	peer_send(0, NULL, payload, sizeof(payload));
	peer_send(0, NULL, payload, 50);
	assert_idle(300);
	cr_assert_eq(used_idx(RX(0)), 0);
	cr_assert_eq(resets, 0);

	uint64_t b0 = post_rx(RX(0), 256);
	cr_assert(wait_used(RX(0), 1), "the kick wakes the device");
	cr_assert_eq(USED_LEN(RX(0), 0), 112);
	cr_assert_arr_eq(ram(b0 + 12), payload, 100, "nothing was lost while waiting");
	uint64_t b1 = post_rx(RX(0), 256);
	cr_assert(wait_used(RX(0), 2));
	cr_assert_eq(USED_LEN(RX(0), 1), 62);
	cr_assert_arr_eq(ram(b1 + 12), payload, 50);
}

Test(vnet, rx_buffer_too_small_without_mrg_drops_the_packet, .init = quiet)
{
	uint8_t payload[500];

	make_started(1, F_BASE);
	post_rx(RX(0), 100);
	fill(payload, sizeof(payload), 8);
	peer_send(0, NULL, payload, sizeof(payload));
	cr_assert(wait_used(RX(0), 1));
	cr_assert_eq(USED_LEN(RX(0), 0), 0, "returned empty");
	peer_send(0, NULL, payload, 80);
	uint64_t b = post_rx(RX(0), 100);
	cr_assert(wait_used(RX(0), 2), "the next packet that fits is delivered");
	cr_assert_eq(USED_LEN(RX(0), 1), 92);
	cr_assert_arr_eq(ram(b + 12), payload, 80);
	cr_assert_eq(resets, 0);
}

Test(vnet, rx_oversized_packet_is_dropped, .init = quiet)
{
	size_t big = VIRTIO_NET_MAX_FRAME + 100;
	uint8_t *payload = calloc(1, big);
	int sz = 1 << 20;

	cr_assert_not_null(payload);
	make_started(1, F_BASE | F_MRG);
	setsockopt(peer[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	uint64_t b = post_rx(RX(0), 4096);
	peer_send(0, NULL, payload, big);
	fill(payload, 64, 9);
	peer_send(0, NULL, payload, 64);
	cr_assert(wait_used(RX(0), 1));
	cr_assert_eq(USED_LEN(RX(0), 0), 76, "the buffer went to the next packet");
	cr_assert_arr_eq(ram(b + 12), payload, 64);
	cr_assert_eq(resets, 0);
	free(payload);
}

Test(vnet, rx_without_guest_csum_flags_are_cleared_or_dropped, .init = quiet)
{
	uint8_t payload[64];
	struct virtio_net_hdr_v1 partial = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					     .csum_start = htole16(34), .csum_offset = 16 };
	struct virtio_net_hdr_v1 valid = { .flags = VIRTIO_NET_HDR_F_DATA_VALID };

	make_started(1, F_BASE | F_MRG);
	uint64_t b = post_rx(RX(0), 256);
	fill(payload, sizeof(payload), 10);
	peer_send(0, &partial, payload, sizeof(payload));
	peer_send(0, &valid, payload, sizeof(payload));
	cr_assert(wait_used(RX(0), 1));
	struct virtio_net_hdr_v1 *h = ram(b);
	cr_assert_eq(h->csum_start, 0, "the partially checksummed packet was dropped");
	cr_assert_eq(h->flags, 0, "5.1.6.4.1: flags are 0 without GUEST_CSUM");
	sleep_ms(50);
	cr_assert_eq(used_idx(RX(0)), 1);
}

Test(vnet, rx_gso_the_guest_did_not_accept_is_dropped, .init = quiet)
{
	uint8_t payload[64];
	struct virtio_net_hdr_v1 tso4 = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					  .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
					  .gso_size = htole16(1448) };
	struct virtio_net_hdr_v1 tso6_ecn = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					      .gso_type = VIRTIO_NET_HDR_GSO_TCPV6 |
							  VIRTIO_NET_HDR_GSO_ECN,
					      .gso_size = htole16(1428) };
	struct virtio_net_hdr_v1 tso6 = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					  .gso_type = VIRTIO_NET_HDR_GSO_TCPV6,
					  .gso_size = htole16(1000) };

	/* Checksum offload and TSO6, but neither TSO4 nor ECN. */
	make_started(1, F_BASE | F_MRG | BIT(VIRTIO_NET_F_GUEST_CSUM) |
			BIT(VIRTIO_NET_F_GUEST_TSO6));
	uint64_t b = post_rx(RX(0), 256);
	fill(payload, sizeof(payload), 10);
	peer_send(0, &tso4, payload, sizeof(payload));
	peer_send(0, &tso6_ecn, payload, sizeof(payload));
	peer_send(0, &tso6, payload, sizeof(payload));
	cr_assert(wait_used(RX(0), 1));
	struct virtio_net_hdr_v1 *h = ram(b);
	cr_assert_eq(h->gso_type, VIRTIO_NET_HDR_GSO_TCPV6, "only the TSO6 packet got through");
	cr_assert_eq(le16toh(h->gso_size), 1000);
	cr_assert_eq(h->flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
}

/* ---- what a broken driver gets ---- */

Test(vnet, tx_chain_shorter_than_header_is_dropped, .init = quiet)
{
	uint8_t got[64];
	uint64_t a = alloc_buf(8), b = alloc_buf(40);
	struct sg runt = { a, 8, false }, ok = { b, 40, false };

	make_started(1, F_BASE);
	post(TX(0), &runt, 1);
	cr_assert(wait_used(TX(0), 1));
	cr_assert_eq(USED_LEN(TX(0), 0), 0);
	cr_assert_eq(peer_recv(0, got, sizeof(got), 100), -1, "nothing reached the tap");
	fill(ram(b), 40, 11);
	post(TX(0), &ok, 1);
	cr_assert_eq(peer_recv(0, got, sizeof(got), WAIT_MS), 40, "the queue still works");
	cr_assert_arr_eq(got, ram(b), 40);
	cr_assert_eq(resets, 0);
}

Test(vnet, tx_oversized_and_writable_chains_are_dropped, .init = quiet)
{
	uint8_t got[64];
	uint32_t big = VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME + 1;
	struct sg huge = { alloc_buf(big), big, false };
	struct sg wr[] = { { alloc_buf(12), 12, false }, { alloc_buf(20), 20, true } };
	struct sg ok = { alloc_buf(30), 30, false };

	make_started(1, F_BASE);
	post(TX(0), &huge, 1);
	post(TX(0), wr, 2);
	post(TX(0), &ok, 1);
	cr_assert(wait_used(TX(0), 3));
	cr_assert_eq(peer_recv(0, got, sizeof(got), WAIT_MS), 30, "only the good one went out");
	cr_assert_eq(peer_recv(0, got, sizeof(got), 100), -1);
	cr_assert_eq(resets, 0);
}

/* A broken queue: needs reset once, the other queues go on, nothing spins. */
static void assert_broken_only(unsigned broken_q)
{
	uint8_t payload[32], got[64];

	cr_assert(wait_counter(&resets, 1), "DEVICE_NEEDS_RESET");
	cr_assert_neq(virtq_error(&dev->vq[broken_q]), 0);
	assert_idle(200);
	if (broken_q != RX(0)) {
		uint64_t b = post_rx(RX(0), 128);

		fill(payload, sizeof(payload), 12);
		peer_send(0, NULL, payload, sizeof(payload));
		cr_assert(wait_used(RX(0), 1), "rx still served");
		cr_assert_arr_eq(ram(b + 12), payload, sizeof(payload));
	} else {
		struct sg sg = { alloc_buf(20), 20, false };

		post(TX(0), &sg, 1);
		cr_assert_eq(peer_recv(0, got, sizeof(got), WAIT_MS), 20, "tx still served");
	}
	cr_assert_eq(resets, 1);
}

Test(vnet, tx_descriptor_loop_needs_reset, .init = quiet)
{
	make_started(1, F_BASE);
	put_desc(DESC(TX(0)), 0, alloc_buf(20), 20, VIRTQ_DESC_F_NEXT, 1);
	put_desc(DESC(TX(0)), 1, alloc_buf(20), 20, VIRTQ_DESC_F_NEXT, 0);
	make_avail(TX(0), 0);
	kick_queue(TX(0));
	assert_broken_only(TX(0));
}

Test(vnet, rx_buffer_outside_ram_needs_reset, .init = quiet)
{
	struct sg sg = { RAM - 16, 64, true };

	make_started(1, F_BASE | F_MRG);
	post(RX(0), &sg, 1);
	peer_send(0, NULL, "x", 1);
	assert_broken_only(RX(0));
}

Test(vnet, chain_longer_than_queue_needs_reset, .init = quiet)
{
	make_started(1, F_BASE);
	/* An indirect table of 2 * QSIZE chained descriptors: no loop, too long. */
	for (unsigned i = 0; i < 2 * QSIZE; i++)
		put_desc(TABLE, i, alloc_buf(4), 4, i + 1 < 2 * QSIZE ? VIRTQ_DESC_F_NEXT : 0,
			 (uint16_t)(i + 1));
	put_desc(DESC(TX(0)), 0, TABLE, 2 * QSIZE * 16, VIRTQ_DESC_F_INDIRECT, 0);
	make_avail(TX(0), 0);
	kick_queue(TX(0));
	assert_broken_only(TX(0));
	cr_assert_eq(virtq_error(&dev->vq[TX(0)]), -E2BIG);
}

Test(vnet, rx_chain_with_readable_descriptor_needs_reset, .init = quiet)
{
	struct sg sg[] = { { alloc_buf(12), 12, false }, { alloc_buf(1500), 1500, true } };

	make_started(1, F_BASE | F_MRG);
	post(RX(0), sg, 2);
	peer_send(0, NULL, "hello", 5);
	cr_assert(wait_counter(&resets, 1));
	assert_idle(200);
	struct sg tx = { alloc_buf(20), 20, false };
	uint8_t got[64];

	post(TX(0), &tx, 1);
	cr_assert_eq(peer_recv(0, got, sizeof(got), WAIT_MS), 20, "tx still served");
	cr_assert_eq(resets, 1);
}

Test(vnet, closed_tap_peer_does_not_spin, .init = quiet)
{
	make_started(1, F_BASE | F_MRG);
	post_rx(RX(0), 256);
	close(peer[0]);
	npeers = 0;
	assert_idle(300);
	/* tx to a closed peer is a dropped packet, not a crash (SIGPIPE is ignored). */
	struct sg tx = { alloc_buf(20), 20, false };

	post(TX(0), &tx, 1);
	cr_assert(wait_used(TX(0), 1));
	cr_assert_eq(used_idx(RX(0)), 0);
}

/* ---- life cycle ---- */

Test(vnet, stop_then_start_serves_again)
{
	uint8_t got[64];
	struct sg a = { alloc_buf(20), 20, false };

	make_dev(1);
	dev->ops->stop(dev); /* never started: nothing to do */
	start(F_BASE);
	fill(ram(a.gpa), 20, 13);
	post(TX(0), &a, 1);
	cr_assert_eq(peer_recv(0, got, sizeof(got), WAIT_MS), 20);
	dev->ops->stop(dev);
	dev->ops->stop(dev);

	/* While stopped, nothing is served. */
	struct sg b = { alloc_buf(24), 24, false };

	post(TX(0), &b, 1);
	cr_assert_eq(peer_recv(0, got, sizeof(got), 150), -1);

	/* The driver's next DRIVER_OK: queues enabled afresh. */
	start(F_BASE | F_MRG);
	struct sg c = { alloc_buf(28), 28, false };

	fill(ram(c.gpa), 28, 14);
	post(TX(0), &c, 1);
	cr_assert_eq(peer_recv(0, got, sizeof(got), WAIT_MS), 28);
	cr_assert_arr_eq(got, ram(c.gpa), 28);
	uint64_t buf = post_rx(RX(0), 200);

	peer_send(0, NULL, "after", 5);
	cr_assert(wait_used(RX(0), 1));
	cr_assert_arr_eq(ram(buf + 12), "after", 5);
}

Test(vnet, event_idx_suppresses_interrupts)
{
	uint8_t got[64];

	make_started(1, F_BASE | F_EVENT);
	struct sg s = { alloc_buf(20), 20, false };

	post(TX(0), &s, 1);
	cr_assert_eq(peer_recv(0, got, sizeof(got), WAIT_MS), 20);
	cr_assert(wait_counter(&irqs[TX(0)], 1), "the first used buffer is signalled");
	cr_assert_eq(AVAIL_EVENT(TX(0)), 1, "the device asks for the next kick at entry 1");

	/* The driver wants to hear only once used->idx passes 3. */
	SET_USED_EVENT(TX(0), 2);
	for (unsigned n = 2; n <= 3; n++) {
		post(TX(0), &s, 1);
		cr_assert_eq(peer_recv(0, got, sizeof(got), WAIT_MS), 20);
		cr_assert(wait_used(TX(0), (uint16_t)n));
		sleep_ms(50);
		if (n == 2)
			cr_assert_eq(irqs[TX(0)], 1, "used_event 2 not reached at idx 2");
	}
	cr_assert(wait_counter(&irqs[TX(0)], 2), "signalled when used_event was passed");
	cr_assert_eq(AVAIL_EVENT(TX(0)), 3);
	sleep_ms(50);
	cr_assert_eq(irqs[TX(0)], 2);
}

Test(vnet, no_interrupt_flag_without_event_idx)
{
	uint8_t got[64];
	struct sg s = { alloc_buf(20), 20, false };

	make_started(1, F_BASE);
	wr16(AVAIL(TX(0)), VIRTQ_AVAIL_F_NO_INTERRUPT);
	post(TX(0), &s, 1);
	cr_assert_eq(peer_recv(0, got, sizeof(got), WAIT_MS), 20);
	cr_assert(wait_used(TX(0), 1));
	sleep_ms(50);
	cr_assert_eq(irqs[TX(0)], 0);
}

/* ---- several queue pairs and the control queue ---- */

#define CTRL_Q 4 /* two pairs */

static uint8_t ctrl(uint8_t class, uint8_t cmd, const void *data, uint32_t len)
{
	uint64_t hdr = alloc_buf(2), d = alloc_buf(len ? len : 1), ack = alloc_buf(1);
	uint8_t h[2] = { class, cmd };
	uint16_t idx = (uint16_t)(used_idx(CTRL_Q) + 1);

	memcpy(ram(hdr), h, 2);
	memcpy(ram(d), data, len);
	*(uint8_t *)ram(ack) = 0xee;
	struct sg sg[] = { { hdr, 2, false }, { d, len, false }, { ack, 1, true } };

	post(CTRL_Q, sg, 3);
	cr_assert(wait_used(CTRL_Q, idx), "control command answered");
	cr_assert_eq(USED_LEN(CTRL_Q, idx - 1), 1);
	return *(uint8_t *)ram(ack);
}

Test(vnet, multi_queue_pairs_set, .init = quiet)
{
	uint16_t two = htole16(2), three = htole16(3), zero = 0;
	uint8_t payload[40], got[64];
	uint64_t mq = BIT(VIRTIO_NET_F_MQ) | BIT(VIRTIO_NET_F_CTRL_VQ);

	make_started(2, F_BASE | F_MRG | mq);
	uint64_t b1 = post_rx(RX(1), 256);
	fill(payload, sizeof(payload), 15);
	/* Before VQ_PAIRS_SET only pair 0 receives. */
	peer_send(1, NULL, payload, sizeof(payload));
	sleep_ms(150);
	cr_assert_eq(used_idx(RX(1)), 0, "rx1 is not in use yet");

	cr_assert_eq(ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &three, 2),
		     VIRTIO_NET_ERR, "more pairs than offered");
	cr_assert_eq(ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &zero, 2),
		     VIRTIO_NET_ERR);
	cr_assert_eq(ctrl(VIRTIO_NET_CTRL_RX, 0, "\1", 1), VIRTIO_NET_ERR, "not offered");
	cr_assert_eq(ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &two, 2),
		     VIRTIO_NET_OK);
	cr_assert(wait_used(RX(1), 1), "rx1 serves once two pairs are set");
	cr_assert_arr_eq(ram(b1 + 12), payload, sizeof(payload));
	cr_assert(wait_counter(&irqs[CTRL_Q], 1));

	struct sg s = { alloc_buf(20), 20, false };

	post(TX(1), &s, 1);
	cr_assert_eq(peer_recv(1, got, sizeof(got), WAIT_MS), 20, "tx1 goes to tap queue 1");
	cr_assert_eq(peer_recv(0, got, sizeof(got), 50), -1);

	/* Back to one pair: rx1 stops again. */
	cr_assert_eq(ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, "\1\0", 2),
		     VIRTIO_NET_OK);
	post_rx(RX(1), 256);
	peer_send(1, NULL, payload, sizeof(payload));
	sleep_ms(150);
	cr_assert_eq(used_idx(RX(1)), 1);
	cr_assert_eq(resets, 0);
}

Test(vnet, pairs_set_needs_mq_negotiated, .init = quiet)
{
	uint16_t one = htole16(1);

	make_started(2, F_BASE | BIT(VIRTIO_NET_F_CTRL_VQ));
	cr_assert_eq(ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &one, 2),
		     VIRTIO_NET_ERR);
}

/* ---- a real TAP device ---- */

static void skip_without_tun(void)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		cr_skip_test("/dev/net/tun: %s", strerror(errno));
	close(fd);
}

static struct virtio_device *make_tap(const char *name, unsigned queues)
{
	struct virtio_net_options o = { .tap = name, .vm_name = "tap-test", .queues = queues };
	const char *why = NULL;
	struct virtio_device *d = virtio_net_create("vnet-tap", &o, &mem, &why);

	if (!d && (errno == EPERM || errno == EACCES))
		cr_skip_test("no permission to create a tap: %s", why);
	cr_assert_not_null(d, "%s", why ? why : "?");
	d->interrupt = on_irq;
	d->needs_reset = on_reset;
	return d;
}

static long sysfs_tun_flags(const char *ifname)
{
	char path[64], buf[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/tun_flags", ifname);
	f = fopen(path, "re");
	if (!f)
		return -1;
	cr_assert_not_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	return strtol(buf, NULL, 0);
}

Test(vnet, real_tap_created_with_vnet_header_and_removed, .init = quiet)
{
	char name[IFNAMSIZ];

	skip_without_tun();
	dev = make_tap("vmmtest%d", 1);
	snprintf(name, sizeof(name), "%s", virtio_net_tap_name(dev));
	cr_assert_eq(strncmp(name, "vmmtest", 7), 0, "the kernel filled in %%d: %s", name);
	cr_assert_neq(if_nametoindex(name), 0);
	long flags = sysfs_tun_flags(name); /* what TUNGETIFF reports */

	cr_assert_geq(flags, 0);
	cr_assert(flags & IFF_TAP);
	cr_assert(flags & IFF_NO_PI);
	cr_assert(flags & IFF_VNET_HDR);
	cr_assert_not(flags & IFF_PERSIST);
	dev->ops->free(dev);
	dev = NULL;
	cr_assert_eq(if_nametoindex(name), 0, "a tap we created goes away with the device");
}

/* IFF_UP of ifname, set or read through SIOCSIFFLAGS/SIOCGIFFLAGS. */
static bool if_up(const char *ifname, int set)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;

	cr_assert_geq(s, 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	cr_assert_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0, "%s: %s", ifname, strerror(errno));
	if (set >= 0) {
		ifr.ifr_flags = (short)(set ? ifr.ifr_flags | IFF_UP : ifr.ifr_flags & ~IFF_UP);
		cr_assert_eq(ioctl(s, SIOCSIFFLAGS, &ifr), 0, "%s: %s", ifname, strerror(errno));
	}
	close(s);
	return ifr.ifr_flags & IFF_UP;
}

/*
 * Issue 18, bug 3: a guest reset makes every device anew, and a device that
 * owned the TAP took it down with it. The VMM now holds the TAP; each
 * machine's device only borrows its queues.
 */
Test(vnet, a_tap_the_vmm_holds_outlives_each_device_made_on_it, .init = quiet)
{
	struct virtio_net_options o = { .vm_name = "tap-test", .queues = 2 };
	struct virtio_net_tap *tap;
	const char *why = NULL;
	char name[IFNAMSIZ];
	unsigned idx;

	skip_without_tun();
	tap = virtio_net_tap_open("vmmkeep%d", 2, &why);
	if (!tap && (errno == EPERM || errno == EACCES))
		cr_skip_test("no permission to create a tap: %s", why);
	cr_assert_not_null(tap, "%s", why ? why : "?");
	snprintf(name, sizeof(name), "%s", virtio_net_tap_ifname(tap));
	idx = if_nametoindex(name);
	cr_assert_neq(idx, 0);
	if_up(name, 1); /* what the host's admin did after the first boot */
	o.host = tap;
	for (int boot = 0; boot < 3; boot++) {
		dev = virtio_net_create("vnet-boot", &o, &mem, &why);
		cr_assert_not_null(dev, "boot %d: %s", boot, why ? why : "?");
		cr_assert_str_eq(virtio_net_tap_name(dev), name);
		dev->ops->free(dev);
		dev = NULL;
		cr_assert_eq(if_nametoindex(name), idx, "boot %d: the same interface is still there",
			     boot);
		cr_assert(if_up(name, -1), "boot %d: and still up", boot);
	}
	o.queues = 1;
	cr_assert_null(virtio_net_create("vnet-bad", &o, &mem, &why), "one pair on a 2-queue tap");
	cr_assert(strstr(why, "2 queues"), "%s", why);
	virtio_net_tap_close(tap);
	cr_assert_eq(if_nametoindex(name), 0, "the tap goes when the vmm closes it");
}

Test(vnet, real_multi_queue_tap_via_tungetiff, .init = quiet)
{
	char name[IFNAMSIZ];
	struct ifreq ifr;
	int hdr = 0, fd;

	skip_without_tun();
	snprintf(name, sizeof(name), "vmmt%d", (int)(getpid() % 100000));
	dev = make_tap(name, 2);
	cr_assert_str_eq(virtio_net_tap_name(dev), name);
	cr_assert_eq(dev->nr_queues, 5);
	/* Attach one more queue of our own and ask the kernel about the tap. */
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
	cr_assert_eq(ioctl(fd, TUNSETIFF, &ifr), 0, "%s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	cr_assert_eq(ioctl(fd, TUNGETIFF, &ifr), 0);
	cr_assert(ifr.ifr_flags & IFF_VNET_HDR);
	cr_assert(ifr.ifr_flags & IFF_MULTI_QUEUE);
	cr_assert_eq(ioctl(fd, TUNGETVNETHDRSZ, &hdr), 0);
	cr_assert_eq(hdr, 12, "the 12-byte virtio_net_hdr_v1");
	close(fd);

	/* queues=1 works on a multi-queue tap too (the kernel wants it asked as one). */
	struct virtio_net_options o = { .tap = name, .queues = 1 };
	const char *why = NULL;
	struct virtio_device *one = virtio_net_create("x", &o, &mem, &why);

	cr_assert_not_null(one, "%s", why ? why : "?");
	one->ops->free(one);
	cr_assert_neq(if_nametoindex(name), 0, "the tap was not ours to remove");
	dev->ops->free(dev);
	dev = NULL;
	cr_assert_eq(if_nametoindex(name), 0);
}

Test(vnet, real_tap_busy_and_not_a_tap, .init = quiet)
{
	struct virtio_net_options o = { .tap = "vmmtbusy%d" };
	const char *why = NULL;
	struct virtio_device *second;

	skip_without_tun();
	dev = make_tap("vmmtbusy%d", 1);
	o.tap = virtio_net_tap_name(dev);
	second = virtio_net_create("y", &o, &mem, &why);
	cr_assert_null(second, "a single-queue tap serves one user");
	cr_assert_eq(errno, EBUSY);
	cr_assert_not_null(strstr(why, "busy"), "%s", why);
	cr_assert_not_null(strstr(why, o.tap), "%s", why);

	o.tap = "lo";
	cr_assert_null(virtio_net_create("y", &o, &mem, &why));
	cr_assert_not_null(strstr(why, "not a TUN/TAP"), "%s", why);
}

/* Gives up CAP_NET_ADMIN for the rest of this test's process. */
static void drop_net_admin(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	cr_assert_eq(syscall(SYS_capget, &h, d), 0);
	d[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
	cr_assert_eq(syscall(SYS_capset, &h, d), 0, "capset: %s", strerror(errno));
}

Test(vnet, tap_creation_without_permission_says_what_to_do)
{
	struct virtio_net_options o = { 0 };
	char name[IFNAMSIZ];
	const char *why = NULL;

	skip_without_tun();
	snprintf(name, sizeof(name), "vmmtnp%d", (int)(getpid() % 100000));
	o.tap = name;
	drop_net_admin();
	cr_assert_null(virtio_net_create("n", &o, &mem, &why));
	cr_assert_eq(errno, EPERM);
	cr_assert_not_null(strstr(why, name), "%s", why);
	cr_assert_not_null(strstr(why, "ip tuntap add dev"), "%s", why);
	cr_assert_not_null(strstr(why, "vnet_hdr"), "%s", why);
	cr_assert_eq(if_nametoindex(name), 0);
}

static int ethtool_get(const char *ifname, uint32_t cmd)
{
	struct ethtool_value ev = { .cmd = cmd };
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret;

	cr_assert_geq(s, 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	ifr.ifr_data = (void *)&ev;
	ret = ioctl(s, SIOCETHTOOL, &ifr);
	close(s);
	cr_assert_eq(ret, 0, "SIOCETHTOOL: %s", strerror(errno));
	return (int)ev.data;
}

static void link_up(const char *ifname)
{
	char path[96];
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	FILE *f;

	/* No IPv6 autoconfiguration chatter on the test's wire. */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
	f = fopen(path, "we");
	if (f) {
		fputs("1\n", f);
		fclose(f);
	}
	cr_assert_geq(s, 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	cr_assert_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	cr_assert_eq(ioctl(s, SIOCSIFFLAGS, &ifr), 0, "SIOCSIFFLAGS: %s", strerror(errno));
	close(s);
}

/* TUNSETOFFLOAD as the tap's features show them (ethtool -k). */
static void assert_tap_offloads(const char *name, uint64_t guest, int tso, int csum)
{
	dev->ops->stop(dev);
	start(F_BASE | guest);
	cr_assert_eq(ethtool_get(name, ETHTOOL_GTSO), tso, "guest features 0x%llx",
		     (unsigned long long)guest);
	cr_assert_eq(ethtool_get(name, ETHTOOL_GTXCSUM), csum, "guest features 0x%llx",
		     (unsigned long long)guest);
}

Test(vnet, real_tap_offloads_follow_the_guest)
{
	uint64_t csum = BIT(VIRTIO_NET_F_GUEST_CSUM);
	char name[IFNAMSIZ];

	skip_without_tun();
	dev = make_tap("vmmtoff%d", 1);
	snprintf(name, sizeof(name), "%s", virtio_net_tap_name(dev));
	assert_tap_offloads(name, csum | BIT(VIRTIO_NET_F_GUEST_TSO4), 1, 1);
	assert_tap_offloads(name, csum | BIT(VIRTIO_NET_F_GUEST_TSO6), 1, 1);
	assert_tap_offloads(name, csum, 0, 1);
	assert_tap_offloads(name, 0, 0, 0);
	/* TSO without checksum offload is no TSO (5.1.3.1). */
	assert_tap_offloads(name, BIT(VIRTIO_NET_F_GUEST_TSO4), 0, 0);
}

#define TEST_ETHERTYPE 0x88b5 /* IEEE 802 local experimental */

Test(vnet, real_tap_moves_frames_both_ways)
{
	char name[IFNAMSIZ];
	uint8_t frame[64], got[256];
	int ps;

	skip_without_tun();
	dev = make_tap("vmmtio%d", 1);
	snprintf(name, sizeof(name), "%s", virtio_net_tap_name(dev));
	link_up(name);
	start(F_BASE | F_MRG);

	ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(TEST_ETHERTYPE));
	if (ps < 0)
		cr_skip_test("AF_PACKET: %s", strerror(errno));
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(TEST_ETHERTYPE),
				   .sll_ifindex = (int)if_nametoindex(name), .sll_halen = 6 };

	cr_assert_eq(bind(ps, (struct sockaddr *)&sll, sizeof(sll)), 0);

	/* Host -> guest: a frame sent out of the tap lands in an rx buffer. */
	memset(frame, 0xff, 6);
	memcpy(frame + 6, "\x02\x00\x00\x00\x00\x01", 6);
	frame[12] = TEST_ETHERTYPE >> 8;
	frame[13] = TEST_ETHERTYPE & 0xff;
	fill(frame + 14, sizeof(frame) - 14, 16);
	uint64_t bufs[8];

	for (unsigned i = 0; i < 8; i++)
		bufs[i] = post_rx(RX(0), 2048);
	memset(sll.sll_addr, 0xff, 6);
	cr_assert_eq(sendto(ps, frame, sizeof(frame), 0, (struct sockaddr *)&sll, sizeof(sll)),
		     (ssize_t)sizeof(frame), "%s", strerror(errno));
	bool found = false;
	long end = now_ms() + WAIT_MS;

	while (!found && now_ms() < end) {
		for (unsigned i = 0; i < used_idx(RX(0)) && i < 8; i++) {
			uint32_t id = USED_ID(RX(0), i);

			if (id < 8 && USED_LEN(RX(0), i) == 12 + sizeof(frame) &&
			    !memcmp(ram(bufs[id] + 12), frame, sizeof(frame)))
				found = true;
		}
		sleep_ms(1);
	}
	cr_assert(found, "the frame reached the guest");

	/* Guest -> host: a tx frame comes out of the tap's other side. */
	uint64_t tx = alloc_buf(12 + sizeof(frame));

	memset(ram(tx), 0, 12);
	memcpy(frame + 6, test_mac, 6);
	frame[14] ^= 0x5a;
	memcpy(ram(tx + 12), frame, sizeof(frame));
	struct sg s = { tx, 12 + sizeof(frame), false };

	post(TX(0), &s, 1);
	struct pollfd pfd = { .fd = ps, .events = POLLIN };

	cr_assert_eq(poll(&pfd, 1, WAIT_MS), 1, "the host sees the guest's frame");
	cr_assert_eq(recv(ps, got, sizeof(got), 0), (ssize_t)sizeof(frame));
	cr_assert_arr_eq(got, frame, sizeof(frame));
	close(ps);
}

/* ---- quiesce (vm.pause) ---- */

/*
 * Suite vnet_quiesce: also run under ThreadSanitizer (suite threads). The
 * test writes the rings and reads what the device wrote only while it is
 * quiesced, ordered with the workers by the quiesce's lock, as a paused
 * guest's memory is; TSan cannot see the ring's own fences.
 */
TestSuite(vnet_quiesce, .init = setup, .fini = teardown, .timeout = 20);

Test(vnet_quiesce, a_packet_from_the_tap_waits_there_until_resume)
{
	uint8_t payload[200];

	make_started(1, F_BASE | F_MRG);
	cr_assert_eq(dev->ops->quiesce(dev, WAIT_MS), 0);
	uint64_t buf = post_rx(RX(0), 2048);

	memset(ram(buf), 0xee, 2048);
	fill(payload, sizeof(payload), 21);
	peer_send(0, NULL, payload, sizeof(payload));
	sleep_ms(150);
	cr_assert_eq(used_idx(RX(0)), 0, "a packet was delivered while quiesced");
	cr_assert_eq(*(uint8_t *)ram(buf), 0xee, "guest memory was written while quiesced");
	cr_assert_eq(__atomic_load_n(&irqs[RX(0)], __ATOMIC_SEQ_CST), 0,
		     "an interrupt while quiesced");

	dev->ops->resume(dev);
	cr_assert(wait_used(RX(0), 1), "the packet that came while quiesced was lost");
	cr_assert(wait_counter(&irqs[RX(0)], 1));
	cr_assert_eq(dev->ops->quiesce(dev, WAIT_MS), 0);
	cr_assert_eq(USED_LEN(RX(0), 0), 12 + sizeof(payload));
	cr_assert_arr_eq(ram(buf + 12), payload, sizeof(payload));
	dev->ops->resume(dev);
}

Test(vnet_quiesce, a_tx_kick_while_quiesced_is_sent_after_resume)
{
	uint8_t got[64];

	make_started(1, F_BASE);
	cr_assert_eq(dev->ops->quiesce(dev, WAIT_MS), 0);
	struct sg a = { alloc_buf(40), 40, false };

	fill(ram(a.gpa), 40, 22);
	post(TX(0), &a, 1);
	cr_assert_eq(peer_recv(0, got, sizeof(got), 150), -1, "sent while quiesced");
	cr_assert_eq(used_idx(TX(0)), 0, "the used ring moved while quiesced");

	dev->ops->resume(dev);
	cr_assert_eq(peer_recv(0, got, sizeof(got), WAIT_MS), 40, "the kick was lost");
	cr_assert(wait_used(TX(0), 1));
	cr_assert_eq(dev->ops->quiesce(dev, WAIT_MS), 0);
	cr_assert_arr_eq(got, ram(a.gpa), 40);
	dev->ops->resume(dev);
}

Test(vnet_quiesce, quiesce_with_nothing_running_returns_at_once)
{
	long t0 = now_ms();
	uint8_t got[64];

	make_dev(2);
	cr_assert_eq(dev->ops->quiesce(dev, WAIT_MS), 0, "not started");
	/* Started while quiesced (a VMM reset while paused): the workers wait. */
	start(F_BASE | BIT(VIRTIO_NET_F_CTRL_VQ) | BIT(VIRTIO_NET_F_MQ));
	cr_assert_eq(dev->ops->quiesce(dev, WAIT_MS), 0, "already quiesced");
	cr_assert_lt(now_ms() - t0, 1000, "idle quiesces took %ld ms", now_ms() - t0);
	struct sg a = { alloc_buf(30), 30, false };

	fill(ram(a.gpa), 30, 23);
	post(TX(0), &a, 1);
	cr_assert_eq(peer_recv(0, got, sizeof(got), 150), -1, "a worker started while quiesced ran");
	dev->ops->resume(dev);
	cr_assert_eq(peer_recv(0, got, sizeof(got), WAIT_MS), 30);

	/* Idle workers quiesce at once, and stop() joins parked ones. */
	t0 = now_ms();
	cr_assert_eq(dev->ops->quiesce(dev, WAIT_MS), 0);
	cr_assert_lt(now_ms() - t0, 1000, "an idle quiesce took %ld ms", now_ms() - t0);
	dev->ops->stop(dev);
	dev->ops->resume(dev);
}
