// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: virtio-net (devices/virtio_net.c) receiving,
 * transmitting and taking control commands, behind the virtio-pci
 * transport, with the TAP replaced by SOCK_SEQPACKET socketpairs
 * (virtio_net_create_fds(): one read or write is one packet, the 12-byte
 * vnet header first). The host holds the other ends.
 *
 * The pairs' worker threads run inline: virtio_net.c is compiled into
 * this file with pthread_create() and pthread_join() replaced. After
 * every access each recorded worker does what its loop does when poll()
 * finds one of its fds ready (the same poll_set(), polled without
 * waiting), until it has nothing left to do; so every input runs the same
 * way and nothing outlives it.
 *
 * Spaces (fuzz_io.h): 0 "cfg" and 1 "mmio" (fuzz_vpci.h: config space,
 * BAR 4 where the guest maps it), 2 "host": 8 bytes per operation, where
 * a write at offset 8 times
 *   0 sends a packet into pair (value & 0xff): (value >> 8) & 0xffffff
 *     bytes (at most one more than the largest frame and its header) of
 *     guest RAM from gpa (value >> 32), wrapping round the 64 KiB: the
 *     bytes are the input's, the header as fuzzed as the frame,
 *   1 reads every packet the device sent on pair value & 0xff, so that
 *     transmit can go on (the device's end has a small send buffer),
 *   2 closes the host's end of pair value & 0xff (the tap went away),
 *   3 stops the device as a VMM reset does (virtio_pci_stop()).
 *
 * The first byte of guest RAM (gpa 0; the seeds keep rings away from it)
 * picks the device: bit 1 set, two queue pairs (then MQ and the control
 * queue are offered), else one.
 *
 * Aborts when a promise breaks: a worker that never goes back to sleep
 * (a busy loop on a host CPU); a packet sent to the tap shorter than its
 * vnet header or longer than the largest frame; on a healthy queue, a
 * chain popped and neither answered nor held (tx: the one the tap
 * refused; rx: the chains of the packet being filled), the control queue
 * holding a chain; the device running after a reset or a VMM stop; and
 * the transport's promises that fuzz_vpci.c checks.
 */
#include <pthread.h>

static int fuzz_thread_create(pthread_t *thread, const pthread_attr_t *attr,
			      void *(*fn)(void *), void *arg);
static int fuzz_thread_join(pthread_t thread, void **ret);
#define pthread_create fuzz_thread_create
#define pthread_join fuzz_thread_join
#include "../../devices/virtio_net.c"
#undef pthread_create
#undef pthread_join

#include <sys/socket.h>

#include "core/log.h"
#include "devices/virtio_pci.h"
#include "fuzz_io.h"
#include "fuzz_vpci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROUNDS_MAX 256 /* worker rounds after one access: far more than a 16-entry queue needs */

/* The pairs' workers, as start() would have started them. */
static struct vnet_pair *worker[VIRTIO_NET_MAX_PAIRS];

static int fuzz_thread_create(pthread_t *thread, const pthread_attr_t *attr,
			      void *(*fn)(void *), void *arg)
{
	if (fn != vnet_worker)
		abort();
	for (unsigned i = 0; i < VIRTIO_NET_MAX_PAIRS; i++) {
		if (!worker[i]) {
			worker[i] = arg;
			*thread = i + 1;
			return 0;
		}
	}
	abort(); /* more workers than pairs */
}

static int fuzz_thread_join(pthread_t thread, void **ret)
{
	if (thread < 1 || thread > VIRTIO_NET_MAX_PAIRS || !worker[thread - 1])
		abort(); /* joined twice, or never started */
	worker[thread - 1] = NULL; /* its loop sees stopping() and returns */
	return 0;
}

struct target {
	struct fuzz_io io;
	struct fuzz_vpci v;
	struct virtio_net *net;
	int host[VIRTIO_NET_MAX_PAIRS]; /* the tap's far ends; -1 once closed */
	unsigned nr_pairs;
};

/* Popped minus answered is what the device holds (virtq.h: a broken queue answers nothing). */
static void check_held(const struct virtq *vq, unsigned held)
{
	if (vq->enabled && !virtq_error(vq) && (uint16_t)(vq->last_avail - vq->used_idx) != held)
		abort();
}

static void check_pair(const struct vnet_pair *p)
{
	const struct virtio_net *net = p->net;

	check_held(&net->vdev.vq[tx_queue(p)], p->tx_held && !p->tx_broken ? 1 : 0);
	if (!p->rx_broken)
		check_held(&net->vdev.vq[rx_queue(p)], p->rx_nused);
	if (p->index == 0 && net->has_ctrl && !net->ctrl_broken)
		check_held(&net->vdev.vq[net->ctrl_queue], 0);
}

/*
 * vnet_worker()'s loop, its poll() not waiting: until the worker would
 * sleep. One that is still busy after ROUNDS_MAX turns with nothing new
 * from the guest would spin on a host CPU.
 */
static void run_worker(struct vnet_pair *p)
{
	struct virtio_net *net = p->net;
	bool more = true; /* the worker looks at its queues once when it starts */

	for (unsigned n = 0; n < ROUNDS_MAX; n++) {
		struct pollfd pfd[PFD_N];

		poll_set(p, pfd);
		if (poll(pfd, PFD_N, 0) <= 0 && !more)
			return;
		for (unsigned i = 0; i < PFD_N; i++)
			if (i != PFD_TAP && (pfd[i].revents & POLLIN))
				drain_eventfd(pfd[i].fd);
		more = false;
		if (p->index == 0)
			more |= ctrl_serve(net);
		more |= tx_serve(p);
		more |= rx_serve(p);
		check_pair(p);
	}
	abort();
}

static void run_workers(void)
{
	for (unsigned i = 0; i < VIRTIO_NET_MAX_PAIRS; i++)
		if (worker[i])
			run_worker(worker[i]);
}

static void host_send(struct target *t, uint64_t value)
{
	static uint8_t pkt[RX_BUF_LEN + 16];
	unsigned pair = (unsigned)(value & 0xff) % t->nr_pairs;
	size_t len = (size_t)((value >> 8) & 0xffffff), from = (size_t)(value >> 32);
	const uint8_t *ram = t->io.mem.region[0].hva;

	if (t->host[pair] < 0)
		return;
	if (len > RX_BUF_LEN)
		len = RX_BUF_LEN;
	for (size_t i = 0; i < len; i++)
		pkt[i] = ram[(from + i) % FUZZ_RAM_SIZE];
	if (send(t->host[pair], pkt, len, MSG_DONTWAIT) < 0 && errno != EAGAIN &&
	    errno != ENOBUFS && errno != EMSGSIZE)
		abort();
}

static void host_drain(struct target *t, unsigned pair)
{
	static uint8_t pkt[RX_BUF_LEN + 16];
	ssize_t n;

	if (t->host[pair] < 0)
		return;
	while ((n = recv(t->host[pair], pkt, sizeof(pkt), MSG_DONTWAIT)) >= 0) {
		if ((size_t)n < VIRTIO_NET_HDR_LEN || (size_t)n > VIRTIO_NET_HDR_LEN +
		    VIRTIO_NET_MAX_FRAME)
			abort(); /* tx_send() drops those */
	}
}

static uint64_t host_read(void *opaque, uint64_t off, unsigned size)
{
	return 0;
}

static void host_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
	struct target *t = opaque;
	unsigned pair = (unsigned)(value & 0xff) % t->nr_pairs;

	switch (off / 8) {
	case 0:
		host_send(t, value);
		break;
	case 1:
		host_drain(t, pair);
		break;
	case 2:
		if (t->host[pair] >= 0)
			close(t->host[pair]);
		t->host[pair] = -1;
		break;
	case 3:
		virtio_pci_stop(t->v.vp);
		if (t->net->started)
			abort(); /* virtio_pci.h: no I/O after it returns */
		break;
	}
}

static const struct bus_ops host_ops = { "host", host_read, host_write };

static void after(void *arg, const struct fuzz_access *a)
{
	struct target *t = arg;

	run_workers();
	if (fuzz_vpci_status(&t->v) == 0 && t->net->started)
		abort(); /* a reset stops the device */
}

static void create(struct target *t)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	int fds[VIRTIO_NET_MAX_PAIRS], sv[2], small = 4096;
	struct virtio_device *vdev;
	const char *why = NULL;

	t->nr_pairs = *(uint8_t *)t->io.mem.region[0].hva & 2 ? 2 : 1;
	for (unsigned i = 0; i < t->nr_pairs; i++) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) ||
		    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)))
			abort();
		fds[i] = sv[0];
		t->host[i] = sv[1];
	}
	vdev = virtio_net_create_fds("virtio-net-fuzz", fds, t->nr_pairs, mac, &t->io.mem, &why);
	if (!vdev) {
		fprintf(stderr, "fuzz_virtio_net: %s\n", why ? why : "cannot create the device");
		abort();
	}
	t->net = to_net(vdev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_space spaces[FUZZ_VPCI_SPACES + 1];
	struct target *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	log_threshold = getenv("FUZZ_TRACE") ? LOG_DEBUG : LOG_ERR; /* a broken driver is expected */
	if (!fuzz_io_begin(&t->io, data, size)) {
		free(t);
		return 0;
	}
	for (unsigned i = 0; i < VIRTIO_NET_MAX_PAIRS; i++)
		t->host[i] = -1;
	create(t);
	fuzz_vpci_init(&t->v, &t->net->vdev);
	fuzz_vpci_spaces(&t->v, spaces);
	spaces[FUZZ_VPCI_SPACES] = (struct fuzz_space){ .name = "host", .ops = &host_ops,
							.opaque = t, .len = 4 * 8 };
	fuzz_io_run(&t->io, spaces, FUZZ_VPCI_SPACES + 1, after, t);
	if (getenv("FUZZ_TRACE"))
		virtio_pci_dump(t->v.vp, stderr);

	fuzz_vpci_free(&t->v); /* stops (joins) and frees the device, its ends of the pairs */
	for (unsigned i = 0; i < VIRTIO_NET_MAX_PAIRS; i++) {
		if (worker[i])
			abort(); /* a worker never joined */
		if (t->host[i] >= 0)
			close(t->host[i]);
	}
	fuzz_io_end(&t->io);
	free(t);
	return 0;
}
