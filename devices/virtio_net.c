// SPDX-License-Identifier: MIT
/*
 * virtio-net over a TAP device (virtio 1.2, 5.1).
 *
 * Threads. One worker per queue pair, started by start() and joined by
 * stop(). It poll()s its tap fd (one TAP queue per pair: IFF_MULTI_QUEUE
 * when there are several), the kick eventfds of its rx and tx queues and
 * a wake eventfd of its own (stop, or the control queue changed which
 * pairs are active). The worker of pair 0 also serves the control queue.
 * A pair's rings and per-packet state belong to its worker alone; the
 * only state shared across threads is the pair's rx_active flag (under
 * rx_lock) and the device-wide stopping flag.
 *
 * Quiescing (vm.pause). The worker also polls the quiesce eventfd; when a
 * quiesce is wanted it parks between two batches (its I/O with the tap is
 * synchronous, so nothing of it is in flight then), without reading its
 * kick eventfds or the tap: a packet that arrives while it is parked stays
 * in the tap's queue, and a kick in its eventfd, until resume, and guest
 * memory and the rings are left alone meanwhile. A packet it already read
 * and holds for want of rx buffers stays held, as it would while running.
 *
 * rx back-pressure. The worker reads one packet at a time into a bounce
 * buffer and copies it into the guest's rx chains. When the guest has
 * posted no (or too few) buffers, the worker keeps that packet, stops
 * polling the tap and waits for the guest to kick the rx queue; packets
 * then queue up in the tap, whose kernel queue drops the excess and
 * counts it in the interface's statistics (ip -s link), as a NIC's full
 * ring would. With MRG_RXBUF a packet spans as many chains as it needs;
 * they are held until the packet is complete and published at once, so
 * the driver never sees num_buffers chains of which some are missing.
 *
 * What the guest can get wrong, and what happens:
 *  - a malformed ring or chain (virtq_pop() < 0): the virtq layer logs it
 *    once; we call virtio_needs_reset() and stop serving that queue;
 *  - an rx chain with a device-readable descriptor, or (MRG_RXBUF) a
 *    buffer too small for the 12-byte header: the driver broke a MUST of
 *    5.1.6.3.1, handled like a malformed queue (needs reset, rx stops);
 *  - a tx chain shorter than the header, longer than header + largest
 *    frame, or with a device-writable descriptor; an rx chain (without
 *    MRG_RXBUF) too small for the packet: that one packet is dropped with
 *    a rate-limited warning and the chain is returned with length 0, as
 *    a NIC drops a runt or oversized frame.
 * Packets from the tap that the guest did not negotiate the offloads for
 * (possible just after the features changed) are dropped too.
 */
#include "virtio_net.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "virtio.h"
#include "../core/log.h"

#define TUN_PATH "/dev/net/tun"
#define DEFAULT_QUEUE_SIZE 256
#define NUM_BUFFERS_OFF offsetof(struct virtio_net_hdr_v1, num_buffers)
/* One byte more than the largest packet: a read that fills it was truncated. */
#define RX_BUF_LEN (VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME + 1)
/* Work done per wake-up before the worker looks at its other fds again. */
#define TX_BUDGET   256
#define RX_BUDGET   64
#define CTRL_BUDGET 64
#define CTRL_MAX_CMD 64 /* class, command and the data we read of it */

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the tap's vnet header is native-endian; a big-endian host needs TUNSETVNETLE");

#define net_err(net, ...)  dev_err((net)->vdev.name, __VA_ARGS__)
#define net_info(net, ...) dev_info((net)->vdev.name, __VA_ARGS__)
#define net_warn_rl(net, ...) dev_warn_rl(&(net)->warn_rl, (net)->vdev.name, __VA_ARGS__)

struct virtio_net;

struct vnet_pair {
	struct virtio_net *net;
	unsigned index;
	int tap_fd;
	int wake_fd;             /* eventfd: stop, or rx_active changed */
	bool attached;           /* multi-queue tap: this queue gets packets */
	pthread_t thread;
	bool thread_running;

	pthread_mutex_t rx_lock; /* the worker's rx vs. the control queue */
	bool rx_active;          /* index < the driver's virtqueue_pairs */

	/* The rest belongs to the worker while it runs. */
	struct virtq_chain tx_chain;
	struct virtq_seg *tx_seg;
	struct iovec *tx_iov;
	bool tx_held;            /* tx_chain popped; the tap said EAGAIN */
	bool tx_broken;
	bool tx_warned_down;

	uint8_t *rx_buf;         /* the packet read from the tap, header first */
	size_t rx_len;           /* its length; 0: none */
	size_t rx_done;          /* bytes of it copied into rx_used chains */
	struct virtq_chain rx_chain;
	struct virtq_seg *rx_seg;
	struct virtq_used_elem *rx_used; /* its chains so far, pushed when it is complete */
	unsigned rx_nused;
	uint8_t *rx_nbuf[2];     /* where num_buffers landed in guest RAM */
	bool rx_broken;
	bool tap_dead;
};

/* The host's side, kept across guest resets: see virtio_net.h. */
struct virtio_net_tap {
	char ifname[IFNAMSIZ];
	unsigned queues;
	int fd[VIRTIO_NET_MAX_PAIRS];
	bool attached[VIRTIO_NET_MAX_PAIRS]; /* multi-queue: the kernel steers packets to it */
	bool created;                        /* by us: it goes when the last fd closes */
};

struct virtio_net {
	struct virtio_device vdev; /* first: the transport hands it back to us */
	char *name;
	char ifname[IFNAMSIZ];
	bool is_tap;
	/*
	 * The TAP whose queues the pairs use; its fds are not the device's to
	 * close, and it is freed with the device only when own_tap.
	 */
	struct virtio_net_tap *tap;
	bool own_tap;
	bool multi_queue;
	unsigned nr_pairs;
	bool has_ctrl;
	uint16_t ctrl_queue;
	struct virtio_net_config config; /* little-endian, constant after creation */
	bool started;
	bool stopping;
	bool ctrl_broken;
	struct virtio_quiesce quiesce; /* quiesce() and resume() run under the transport's lock */
	struct virtq_chain ctrl_chain;
	struct virtq_seg *ctrl_seg;
	struct vnet_pair pair[VIRTIO_NET_MAX_PAIRS];
	struct log_ratelimit warn_rl; /* net_warn_rl()'s, shared by the pairs' threads */
};
_Static_assert(offsetof(struct virtio_net, vdev) == 0, "virtio_device comes first");

static const struct virtio_device_ops vnet_ops;

static struct virtio_net *to_net(struct virtio_device *vdev)
{
	return (struct virtio_net *)vdev;
}

static bool has(const struct virtio_net *net, unsigned bit)
{
	return virtio_has_feature(net->vdev.driver_features, bit);
}

static unsigned rx_queue(const struct vnet_pair *p)
{
	return 2 * p->index;
}

static unsigned tx_queue(const struct vnet_pair *p)
{
	return 2 * p->index + 1;
}

static void notify_if_used(struct virtio_net *net, unsigned q, uint16_t used_before)
{
	struct virtq *vq = &net->vdev.vq[q];

	if (vq->used_idx != used_before && virtq_should_notify(vq))
		virtio_interrupt(&net->vdev, q);
}

static void drain_eventfd(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pr_debug("eventfd %d: %s", fd, strerror(errno));
}

static void vnet_wake(struct vnet_pair *p)
{
	uint64_t one = 1;

	if (write(p->wake_fd, &one, sizeof(one)) < 0)
		pr_err("virtio-net: wake eventfd: %s", strerror(errno));
}

static bool stopping(const struct virtio_net *net)
{
	return __atomic_load_n(&net->stopping, __ATOMIC_ACQUIRE);
}

/* ---- the MAC ---- */

void virtio_net_default_mac(const char *vm_name, uint8_t mac[6])
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, 64-bit */

	for (const char *s = vm_name ? vm_name : ""; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ULL;
	}
	/* Locally administered (bit 1), unicast (bit 0 clear). */
	mac[0] = 0x02;
	for (unsigned i = 1; i < 6; i++)
		mac[i] = (uint8_t)(h >> (8 * (i - 1)));
}

/* ---- the TAP ---- */

/* The flags TUNGETIFF would give, from sysfs; -1 when name is no tun/tap. */
static long tap_sysfs_flags(const char *ifname)
{
	char path[64], buf[32];
	FILE *f;
	long flags = -1;

	snprintf(path, sizeof(path), "/sys/class/net/%s/tun_flags", ifname);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f))
		flags = strtol(buf, NULL, 0);
	fclose(f);
	return flags;
}

/* TUNSETIFF said EINVAL: say which of its reasons it was. */
static int tap_explain_einval(const char *ifname, unsigned queues, const char **why)
{
	long flags = tap_sysfs_flags(ifname);
	const char *mq = queues > 1 ? " multi_queue" : "";

	if (flags < 0 && if_nametoindex(ifname))
		return log_why(why, EINVAL, "tap %s: an interface of that name exists and is not "
			      "a TUN/TAP device", ifname);
	if (flags >= 0 && (flags & IFF_TUN))
		return log_why(why, EINVAL, "tap %s: is a TUN (layer 3) device, and a TAP is "
			      "needed; as root: ip tuntap del dev %s mode tun && ip tuntap add "
			      "dev %s mode tap user $USER vnet_hdr%s", ifname, ifname, ifname, mq);
	if (flags >= 0 && queues > 1 && !(flags & IFF_MULTI_QUEUE))
		return log_why(why, EINVAL, "tap %s: was created without multi_queue, which "
			      "queues=%u needs; as root: ip tuntap del dev %s mode tap && ip "
			      "tuntap add dev %s mode tap user $USER vnet_hdr multi_queue", ifname,
			      queues, ifname, ifname);
	return log_why(why, EINVAL, "tap %s: the kernel refused it (TUNSETIFF: %s)", ifname,
		      strerror(EINVAL));
}

static int tap_refused(const char *ifname, int err, unsigned queues, bool existed,
		       const char **why)
{
	const char *mq = queues > 1 ? " multi_queue" : "";

	switch (err) {
	case EPERM:
	case EACCES:
		if (existed)
			return log_why(why, err, "tap %s: not permitted to use it (it belongs to "
				      "another user or group); as root: ip tuntap del dev %s mode "
				      "tap && ip tuntap add dev %s mode tap user $USER vnet_hdr%s",
				      ifname, ifname, ifname, mq);
		return log_why(why, err, "tap %s: does not exist, and creating it needs "
			      "CAP_NET_ADMIN; create it once as root: ip tuntap add dev %s mode "
			      "tap user $USER vnet_hdr%s", ifname, ifname, mq);
	case EBUSY:
		return log_why(why, err, "tap %s: busy: another process (another VM?) has it "
			      "open%s", ifname, queues > 1 ? "" :
			      "; a tap without multi_queue serves one process");
	case EINVAL:
		return tap_explain_einval(ifname, queues, why);
	default:
		return log_why(why, err, "tap %s: TUNSETIFF: %s", ifname, strerror(err));
	}
}

static int tun_open_failed(const char *ifname, int err, const char **why)
{
	if (err == ENOENT)
		return log_why(why, err, "tap %s: %s does not exist; load the tun module "
			      "(modprobe tun)", ifname, TUN_PATH);
	if (err == EACCES || err == EPERM)
		return log_why(why, err, "tap %s: cannot open %s: %s (it is usually mode 0666)",
			      ifname, TUN_PATH, strerror(err));
	return log_why(why, err, "tap %s: cannot open %s: %s", ifname, TUN_PATH, strerror(err));
}

static int tun_setiff(int fd, char ifname[IFNAMSIZ], short flags)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifname, IFNAMSIZ);
	ifr.ifr_flags = flags;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return -errno;
	/* The kernel's name: a "%d" template is filled in now. */
	memcpy(ifname, ifr.ifr_name, IFNAMSIZ);
	ifname[IFNAMSIZ - 1] = '\0';
	return 0;
}

/* Opens one queue of the tap; ifname may be a template and becomes the name. */
static int tap_attach(char ifname[IFNAMSIZ], unsigned queues, bool existed, const char **why)
{
	short flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (queues > 1 ? IFF_MULTI_QUEUE : 0);
	int fd, ret;
	long existing;

	fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return tun_open_failed(ifname, errno, why);
	ret = tun_setiff(fd, ifname, flags);
	/* One queue works on a multi-queue tap too, but only when asked as one. */
	if (ret == -EINVAL && queues == 1) {
		existing = tap_sysfs_flags(ifname);
		if (existing >= 0 && (existing & IFF_MULTI_QUEUE))
			ret = tun_setiff(fd, ifname, flags | IFF_MULTI_QUEUE);
	}
	if (ret < 0) {
		close(fd);
		return tap_refused(ifname, -ret, queues, existed, why);
	}
	return fd;
}

void virtio_net_tap_close(struct virtio_net_tap *tap)
{
	if (!tap)
		return;
	for (unsigned i = 0; i < tap->queues; i++)
		if (tap->fd[i] >= 0)
			close(tap->fd[i]);
	free(tap);
}

static int tap_open(struct virtio_net_tap *tap, const char *name, unsigned queues,
		    const char **why)
{
	int hdr_len = VIRTIO_NET_HDR_LEN;
	bool existed;

	if (!name || !*name)
		return log_why(why, EINVAL, "no tap name given (tap=NAME)");
	if (strlen(name) >= IFNAMSIZ)
		return log_why(why, EINVAL, "tap %s: the name is longer than %d characters", name,
			      IFNAMSIZ - 1);
	if (queues < 1 || queues > VIRTIO_NET_MAX_PAIRS)
		return log_why(why, EINVAL, "tap %s: queues=%u, at most %u", name, queues,
			      VIRTIO_NET_MAX_PAIRS);
	snprintf(tap->ifname, sizeof(tap->ifname), "%s", name);
	existed = !strchr(name, '%') && if_nametoindex(name) != 0;
	for (unsigned i = 0; i < queues; i++) {
		int fd = tap_attach(tap->ifname, queues, existed, why);

		if (fd < 0)
			return fd;
		tap->fd[i] = fd;
		tap->attached[i] = true;
	}
	/*
	 * VIRTIO_F_VERSION_1: the 12-byte header, num_buffers included, and
	 * little-endian, which is the tap's native order on this host.
	 */
	if (ioctl(tap->fd[0], TUNSETVNETHDRSZ, &hdr_len) < 0)
		return log_why(why, errno, "tap %s: the kernel refused a %d-byte vnet header: %s",
			      tap->ifname, hdr_len, strerror(errno));
	tap->created = !existed;
	return 0;
}

struct virtio_net_tap *virtio_net_tap_open(const char *name, unsigned queues, const char **why)
{
	struct virtio_net_tap *tap = calloc(1, sizeof(*tap));
	int ret;

	if (!tap) {
		log_why(why, ENOMEM, "tap %s: out of memory", name ? name : "");
		errno = ENOMEM;
		return NULL;
	}
	tap->queues = queues;
	for (unsigned i = 0; i < VIRTIO_NET_MAX_PAIRS; i++)
		tap->fd[i] = -1;
	ret = tap_open(tap, name, queues, why);
	if (ret) {
		if (queues > VIRTIO_NET_MAX_PAIRS)
			tap->queues = 0;
		virtio_net_tap_close(tap);
		errno = -ret;
		return NULL;
	}
	if (tap->created)
		pr_info("tap %s: created; it lasts as long as this vmm, through guest resets",
			tap->ifname);
	return tap;
}

const char *virtio_net_tap_ifname(const struct virtio_net_tap *tap)
{
	return tap ? tap->ifname : "";
}

/* The device's pairs use tap's queues, one each. */
static void vnet_use_tap(struct virtio_net *net, struct virtio_net_tap *tap, bool own)
{
	net->tap = tap;
	net->own_tap = own;
	net->is_tap = true;
	net->multi_queue = tap->queues > 1;
	memcpy(net->ifname, tap->ifname, sizeof(net->ifname));
	for (unsigned i = 0; i < tap->queues; i++) {
		net->pair[i].tap_fd = tap->fd[i];
		net->pair[i].attached = tap->attached[i];
	}
}

/* Multi-queue tap: whether the kernel steers packets to this pair's queue. */
static int tap_set_queue(struct virtio_net *net, struct vnet_pair *p, bool attach)
{
	struct ifreq ifr;

	if (!net->multi_queue || p->attached == attach)
		return 0;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = attach ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
	if (ioctl(p->tap_fd, TUNSETQUEUE, &ifr) < 0) {
		int err = errno;

		net_err(net, "tap %s: %s queue %u: %s", net->ifname,
			attach ? "attaching" : "detaching", p->index, strerror(err));
		return -err;
	}
	p->attached = attach;
	net->tap->attached[p->index] = attach;
	return 0;
}

/* The offloads the tap may use toward the guest: what the guest accepted. */
static int tap_set_offloads(struct virtio_net *net)
{
	unsigned off = 0;

	if (has(net, VIRTIO_NET_F_GUEST_CSUM)) {
		off |= TUN_F_CSUM;
		if (has(net, VIRTIO_NET_F_GUEST_TSO4))
			off |= TUN_F_TSO4;
		if (has(net, VIRTIO_NET_F_GUEST_TSO6))
			off |= TUN_F_TSO6;
		/* The kernel refuses ECN without TSO; so does the spec (5.1.3.1). */
		if (has(net, VIRTIO_NET_F_GUEST_ECN) && (off & (TUN_F_TSO4 | TUN_F_TSO6)))
			off |= TUN_F_TSO_ECN;
	}
	if (!net->is_tap)
		return 0;
	if (ioctl(net->pair[0].tap_fd, TUNSETOFFLOAD, off) < 0) {
		int err = errno;

		net_err(net, "tap %s: TUNSETOFFLOAD %#x: %s", net->ifname, off, strerror(err));
		return -err;
	}
	return 0;
}

/*
 * The driver's virtqueue_pairs: rx on the first n pairs only (5.1.6.5.5),
 * and a multi-queue tap steers packets only to those queues. Pair 0 is
 * always active. False when a tap queue could not follow.
 */
static bool vnet_set_pairs(struct virtio_net *net, unsigned n)
{
	bool ok = true;

	for (unsigned i = 1; i < net->nr_pairs; i++) {
		struct vnet_pair *p = &net->pair[i];
		bool want = i < n;

		pthread_mutex_lock(&p->rx_lock);
		if (p->rx_active != want) {
			if (tap_set_queue(net, p, want) == 0)
				__atomic_store_n(&p->rx_active, want, __ATOMIC_RELEASE);
			else
				ok = false;
		}
		pthread_mutex_unlock(&p->rx_lock);
		vnet_wake(p);
	}
	return ok;
}

/* ---- transmit ---- */

static ssize_t writev_retry(int fd, const struct iovec *iov, int cnt)
{
	ssize_t n;

	do
		n = writev(fd, iov, cnt);
	while (n < 0 && errno == EINTR);
	return n;
}

static void tx_write_failed(struct vnet_pair *p, int err)
{
	struct virtio_net *net = p->net;

	if (err == EIO) {
		/* The tap is down: every packet fails until it is up; say so once. */
		if (!p->tx_warned_down)
			dev_warn(net->vdev.name, "tap %s: is down; dropping transmitted packets "
				 "until it is up (ip link set %s up)", net->ifname, net->ifname);
		p->tx_warned_down = true;
		return;
	}
	net_warn_rl(net, "tap %s: dropped a transmitted packet: %s", net->ifname,
		    strerror(err));
}

/* Sends tx_chain to the tap; -EAGAIN when the tap cannot take it now. */
static int tx_send(struct vnet_pair *p)
{
	struct virtio_net *net = p->net;
	const struct virtq_chain *c = &p->tx_chain;
	int cnt = 0;
	ssize_t n;

	if (c->nr_writable) {
		net_warn_rl(net, "tx: dropped a packet whose chain has device-writable buffers");
		return 0;
	}
	if (c->readable_len < VIRTIO_NET_HDR_LEN ||
	    c->readable_len > VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME) {
		net_warn_rl(net, "tx: dropped a packet of %llu bytes with its header (%u to %u "
			    "allowed)", (unsigned long long)c->readable_len, VIRTIO_NET_HDR_LEN,
			    VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME);
		return 0;
	}
	for (uint32_t i = 0; i < c->nr; i++)
		if (c->seg[i].len)
			p->tx_iov[cnt++] = (struct iovec){ c->seg[i].hva, c->seg[i].len };
	n = writev_retry(p->tap_fd, p->tx_iov, cnt);
	/* A queue the driver deactivated was detached from the tap: use pair 0's. */
	if (n < 0 && errno == EBADFD && p->index != 0)
		n = writev_retry(net->pair[0].tap_fd, p->tx_iov, cnt);
	else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -EAGAIN;
	if (n < 0)
		tx_write_failed(p, errno);
	else
		p->tx_warned_down = false;
	return 0;
}

static void tx_broke(struct vnet_pair *p)
{
	p->tx_broken = true;
	p->tx_held = false;
	virtio_needs_reset(&p->net->vdev);
}

/* Returns true when work was left for the next round. */
static bool tx_serve(struct vnet_pair *p)
{
	struct virtio_net *net = p->net;
	struct virtq *vq = &net->vdev.vq[tx_queue(p)];
	uint16_t before = vq->used_idx;
	unsigned done = 0;
	bool more = false;

	while (!p->tx_broken) {
		if (!p->tx_held) {
			int ret;

			if (done == TX_BUDGET) {
				more = true;
				break;
			}
			ret = virtq_pop(vq, &p->tx_chain);
			if (ret < 0)
				tx_broke(p);
			if (ret <= 0)
				break;
		}
		p->tx_held = tx_send(p) == -EAGAIN;
		if (p->tx_held)
			break;
		virtq_push(vq, p->tx_chain.head, 0);
		done++;
	}
	notify_if_used(net, tx_queue(p), before);
	return more;
}

/* ---- receive ---- */

static bool rx_usable(const struct vnet_pair *p)
{
	return p->net->vdev.vq[rx_queue(p)].enabled && !p->rx_broken && !p->tap_dead &&
	       __atomic_load_n(&p->rx_active, __ATOMIC_ACQUIRE);
}

/*
 * Whether the guest can take the packet's offload state (5.1.6.4.1:
 * without GUEST_CSUM, flags must be 0). Fixes what it can.
 */
static bool rx_header_ok(struct virtio_net *net, uint8_t *hdr)
{
	uint8_t gso = hdr[1] & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;

	if (!has(net, VIRTIO_NET_F_GUEST_CSUM)) {
		if (hdr[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM)
			return false;
		hdr[0] = 0;
	}
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return true;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		if (!has(net, VIRTIO_NET_F_GUEST_TSO4))
			return false;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (!has(net, VIRTIO_NET_F_GUEST_TSO6))
			return false;
		break;
	default:
		return false;
	}
	return !(hdr[1] & VIRTIO_NET_HDR_GSO_ECN) || has(net, VIRTIO_NET_F_GUEST_ECN);
}

static void rx_drop(struct vnet_pair *p, const char *why)
{
	net_warn_rl(p->net, "rx: dropped a %zu-byte packet from tap %s: %s",
		    p->rx_len, p->net->ifname, why);
	p->rx_len = 0;
}

/*
 * Reads the next packet into rx_buf. False when there is none now (or
 * the tap is gone); true with rx_len set, or 0 when it was dropped.
 */
static bool rx_read(struct vnet_pair *p)
{
	struct virtio_net *net = p->net;
	ssize_t n;

	do
		n = read(p->tap_fd, p->rx_buf, RX_BUF_LEN);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return false;
	if (n <= 0) {
		net_err(net, "tap %s: %s; queue pair %u no longer receives", net->ifname,
			n < 0 ? strerror(errno) : "end of file", p->index);
		p->tap_dead = true;
		return false;
	}
	p->rx_len = (size_t)n;
	p->rx_done = 0;
	p->rx_nused = 0;
	if (p->rx_len < VIRTIO_NET_HDR_LEN)
		rx_drop(p, "shorter than the vnet header");
	else if (p->rx_len >= RX_BUF_LEN)
		rx_drop(p, "larger than the largest frame");
	else if (!rx_header_ok(net, p->rx_buf))
		rx_drop(p, "it uses an offload the driver did not accept");
	return true;
}

/* Copies what is left of the packet into chain c; returns the bytes written. */
static uint32_t rx_copy(struct vnet_pair *p, const struct virtq_chain *c)
{
	uint32_t written = 0;

	for (uint32_t i = 0; i < c->nr && p->rx_done < p->rx_len; i++) {
		uint8_t *dst = c->seg[i].hva;
		size_t n = p->rx_len - p->rx_done;

		if (n > c->seg[i].len)
			n = c->seg[i].len;
		/* The header may be split anywhere: remember both num_buffers bytes. */
		for (size_t b = 0; b < 2; b++) {
			size_t at = NUM_BUFFERS_OFF + b;

			if (at >= p->rx_done && at < p->rx_done + n)
				p->rx_nbuf[b] = dst + (at - p->rx_done);
		}
		memcpy(dst, p->rx_buf + p->rx_done, n);
		p->rx_done += n;
		written += (uint32_t)n;
	}
	return written;
}

static void rx_broke(struct vnet_pair *p, const char *why)
{
	if (why)
		net_warn_rl(p->net, "rx queue %u: %s; the device needs a reset", rx_queue(p), why);
	p->rx_broken = true;
	p->rx_len = 0;
	p->rx_nused = 0;
	virtio_needs_reset(&p->net->vdev);
}

/* Publishes the packet's chains at once, num_buffers set. */
static void rx_complete(struct vnet_pair *p, struct virtq *vq)
{
	uint16_t nbuf = (uint16_t)p->rx_nused;

	*p->rx_nbuf[0] = (uint8_t)nbuf;
	*p->rx_nbuf[1] = (uint8_t)(nbuf >> 8);
	virtq_push_many(vq, p->rx_used, p->rx_nused);
	p->rx_len = 0;
	p->rx_nused = 0;
}

/* Returns the chains held for a packet that cannot be completed, empty. */
static void rx_give_back(struct vnet_pair *p, struct virtq *vq)
{
	for (unsigned i = 0; i < p->rx_nused; i++)
		virtq_push(vq, (uint16_t)p->rx_used[i].id, 0);
	p->rx_nused = 0;
}

/* 1: the packet was delivered or dropped; 0: waiting for buffers; -1: rx broke. */
static int rx_deliver(struct vnet_pair *p)
{
	struct virtio_net *net = p->net;
	struct virtq *vq = &net->vdev.vq[rx_queue(p)];
	struct virtq_chain *c = &p->rx_chain;
	bool mrg = has(net, VIRTIO_NET_F_MRG_RXBUF);

	while (p->rx_done < p->rx_len) {
		int ret;

		if (p->rx_nused == vq->size) {
			rx_give_back(p, vq);
			rx_drop(p, "the posted buffers cannot hold it");
			return 1;
		}
		ret = virtq_pop(vq, c);
		if (ret < 0)
			rx_broke(p, NULL);
		if (ret <= 0)
			return ret;
		if (c->nr_readable) {
			virtq_push(vq, c->head, 0);
			rx_broke(p, "a receive buffer has device-readable descriptors");
			return -1;
		}
		if (mrg && c->writable_len < VIRTIO_NET_HDR_LEN) {
			virtq_push(vq, c->head, 0);
			rx_broke(p, "a merged receive buffer is smaller than the header");
			return -1;
		}
		if (!mrg && c->writable_len < p->rx_len) {
			virtq_push(vq, c->head, 0);
			rx_drop(p, "the receive buffer is too small (no MRG_RXBUF)");
			return 1;
		}
		p->rx_used[p->rx_nused].id = c->head;
		p->rx_used[p->rx_nused].len = rx_copy(p, c);
		p->rx_nused++;
	}
	rx_complete(p, vq);
	return 1;
}

static bool rx_serve(struct vnet_pair *p)
{
	struct virtio_net *net = p->net;
	uint16_t before = net->vdev.vq[rx_queue(p)].used_idx;
	unsigned done = 0;
	bool more = false;

	pthread_mutex_lock(&p->rx_lock);
	while (rx_usable(p)) {
		if (!p->rx_len) {
			if (done == RX_BUDGET) {
				more = true;
				break;
			}
			if (!rx_read(p))
				break;
			done++;
			if (!p->rx_len)
				continue;
		}
		if (rx_deliver(p) <= 0)
			break;
	}
	pthread_mutex_unlock(&p->rx_lock);
	notify_if_used(net, rx_queue(p), before);
	return more;
}

/* ---- control queue ---- */

static uint8_t ctrl_execute(struct virtio_net *net, const uint8_t *cmd, size_t len)
{
	unsigned pairs;

	if (cmd[0] != VIRTIO_NET_CTRL_MQ || cmd[1] != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET) {
		/* Nothing else was offered (no CTRL_RX, CTRL_MAC_ADDR, ...). */
		net_warn_rl(net, "control command class %u command %u is not supported",
			    cmd[0], cmd[1]);
		return VIRTIO_NET_ERR;
	}
	if (!has(net, VIRTIO_NET_F_MQ) || len < 4)
		return VIRTIO_NET_ERR;
	pairs = (unsigned)cmd[2] | (unsigned)cmd[3] << 8;
	if (pairs < 1 || pairs > net->nr_pairs) {
		net_warn_rl(net, "driver asked for %u queue pairs (1 to %u)", pairs,
			    net->nr_pairs);
		return VIRTIO_NET_ERR;
	}
	return vnet_set_pairs(net, pairs) ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
}

/* Executes one command; returns the bytes written (the ack, or nothing). */
static uint32_t ctrl_command(struct virtio_net *net, const struct virtq_chain *c)
{
	uint8_t cmd[CTRL_MAX_CMD];
	uint8_t *ack = NULL;
	size_t len = 0;

	for (uint32_t i = 0; i < c->nr; i++) {
		const struct virtq_seg *s = &c->seg[i];

		if (s->writable) {
			if (!ack && s->len)
				ack = s->hva;
			continue;
		}
		size_t n = s->len < sizeof(cmd) - len ? s->len : sizeof(cmd) - len;

		memcpy(cmd + len, s->hva, n);
		len += n;
	}
	if (!ack) {
		net_warn_rl(net, "control command without a writable ack byte; ignored");
		return 0;
	}
	if (len < 2 || c->readable_after_writable) {
		net_warn_rl(net, "malformed control command (%zu readable bytes)", len);
		*ack = VIRTIO_NET_ERR;
		return 1;
	}
	*ack = ctrl_execute(net, cmd, len);
	return 1;
}

static bool ctrl_serve(struct virtio_net *net)
{
	struct virtq *vq;
	uint16_t before;
	unsigned done = 0;
	bool more = false;

	if (!net->has_ctrl || net->ctrl_broken)
		return false;
	vq = &net->vdev.vq[net->ctrl_queue];
	before = vq->used_idx;
	for (;;) {
		int ret;

		if (done++ == CTRL_BUDGET) {
			more = true;
			break;
		}
		ret = virtq_pop(vq, &net->ctrl_chain);
		if (ret < 0) {
			net->ctrl_broken = true;
			virtio_needs_reset(&net->vdev);
		}
		if (ret <= 0)
			break;
		virtq_push(vq, net->ctrl_chain.head, ctrl_command(net, &net->ctrl_chain));
	}
	notify_if_used(net, net->ctrl_queue, before);
	return more;
}

/* ---- the worker ---- */

enum { PFD_WAKE, PFD_TAP, PFD_TX, PFD_RX, PFD_CTRL, PFD_QUIESCE, PFD_N };

static int kick_fd(const struct virtio_net *net, unsigned q, bool want)
{
	return want && net->vdev.vq[q].enabled ? net->vdev.kick_fd[q] : -1;
}

/*
 * What to wait for. The tap only when there is something to do with it:
 * a detached queue or a closed peer reports POLLERR/POLLHUP even with no
 * events asked for, and poll() ignores a negative fd.
 */
static void poll_set(struct vnet_pair *p, struct pollfd pfd[PFD_N])
{
	struct virtio_net *net = p->net;
	bool rx = rx_usable(p);
	short tap = 0;

	if (rx && !p->rx_len)
		tap |= POLLIN;
	if (p->tx_held)
		tap |= POLLOUT;
	pfd[PFD_WAKE] = (struct pollfd){ .fd = p->wake_fd, .events = POLLIN };
	pfd[PFD_TAP] = (struct pollfd){ .fd = tap ? p->tap_fd : -1, .events = tap };
	pfd[PFD_TX] = (struct pollfd){
		.fd = kick_fd(net, tx_queue(p), !p->tx_broken && !p->tx_held), .events = POLLIN };
	/* rx kicks matter only while a packet waits for buffers. */
	pfd[PFD_RX] = (struct pollfd){ .fd = kick_fd(net, rx_queue(p), rx && p->rx_len),
				       .events = POLLIN };
	pfd[PFD_CTRL] = (struct pollfd){
		.fd = kick_fd(net, net->ctrl_queue, p->index == 0 && net->has_ctrl &&
			      !net->ctrl_broken),
		.events = POLLIN };
	/* Never read by the worker: see virtio_quiesce.c. */
	pfd[PFD_QUIESCE] = (struct pollfd){ .fd = net->quiesce.fd, .events = POLLIN };
}

static void *vnet_worker(void *arg)
{
	struct vnet_pair *p = arg;
	struct virtio_net *net = p->net;
	bool more = true; /* look at the queues once before waiting */

	while (!stopping(net)) {
		struct pollfd pfd[PFD_N];
		int n;

		if (virtio_quiesce_wanted(&net->quiesce)) {
			if (!virtio_quiesce_park(&net->quiesce))
				break; /* stopped while parked */
			more = true; /* what the driver and the tap did meanwhile */
			continue;
		}
		poll_set(p, pfd);
		n = poll(pfd, PFD_N, more ? 0 : -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			net_err(net, "queue pair %u: poll: %s; stopped", p->index, strerror(errno));
			break;
		}
		/* Kicks that came with the quiesce stay in their eventfds for after resume. */
		if (virtio_quiesce_wanted(&net->quiesce))
			continue;
		for (unsigned i = 0; i < PFD_QUIESCE; i++)
			if (i != PFD_TAP && (pfd[i].revents & POLLIN))
				drain_eventfd(pfd[i].fd);
		if (stopping(net))
			break;
		more = false;
		if (p->index == 0)
			more |= ctrl_serve(net);
		more |= tx_serve(p);
		more |= rx_serve(p);
	}
	return NULL;
}

/* ---- virtio_device_ops ---- */

static void vnet_config_read(struct virtio_device *vdev, uint32_t offset, void *data,
			     uint32_t len)
{
	struct virtio_net *net = to_net(vdev);

	if (offset > sizeof(net->config) || len > sizeof(net->config) - offset) {
		memset(data, 0, len);
		return;
	}
	memcpy(data, (const uint8_t *)&net->config + offset, len);
}

static void vnet_config_write(struct virtio_device *vdev, uint32_t offset, const void *data,
			      uint32_t len)
{
	/* 5.1.4.2: the driver must not write any of it (the MAC is CTRL_MAC_ADDR's). */
	net_warn_rl(to_net(vdev), "driver wrote %u bytes at config offset %u; ignored", len,
		    offset);
}

static void vnet_stop(struct virtio_device *vdev)
{
	struct virtio_net *net = to_net(vdev);

	if (!net->started)
		return;
	__atomic_store_n(&net->stopping, true, __ATOMIC_RELEASE);
	/* A parked worker waits on the quiesce, not in poll(). */
	virtio_quiesce_stopping(&net->quiesce, true);
	for (unsigned i = 0; i < net->nr_pairs; i++)
		vnet_wake(&net->pair[i]);
	for (unsigned i = 0; i < net->nr_pairs; i++) {
		if (net->pair[i].thread_running)
			pthread_join(net->pair[i].thread, NULL);
		net->pair[i].thread_running = false;
	}
	virtio_quiesce_stopping(&net->quiesce, false);
	net->started = false;
}

static int vnet_quiesce(struct virtio_device *vdev, unsigned timeout_ms)
{
	struct virtio_net *net = to_net(vdev);
	unsigned workers = 0;

	for (unsigned i = 0; net->started && i < net->nr_pairs; i++)
		workers += net->pair[i].thread_running;
	return virtio_quiesce_begin(&net->quiesce, workers, timeout_ms, net->name);
}

static void vnet_resume(struct virtio_device *vdev)
{
	virtio_quiesce_end(&to_net(vdev)->quiesce);
}

/* A pair as the driver finds it after DRIVER_OK: nothing held, nothing broken. */
static void pair_reset(struct vnet_pair *p)
{
	p->tx_held = false;
	p->tx_broken = false;
	p->tx_warned_down = false;
	p->rx_len = 0;
	p->rx_nused = 0;
	p->rx_broken = false;
	p->rx_active = p->index == 0;
}

static int vnet_start(struct virtio_device *vdev)
{
	struct virtio_net *net = to_net(vdev);
	int ret;

	if (net->started)
		return 0;
	ret = tap_set_offloads(net);
	if (ret)
		return ret;
	/* Until the driver sets virtqueue_pairs, only pair 0 receives (5.1.6.5.5). */
	for (unsigned i = 0; i < net->nr_pairs; i++) {
		pair_reset(&net->pair[i]);
		if (i > 0 && tap_set_queue(net, &net->pair[i], false))
			net_err(net, "tap %s: queue %u still gets packets nobody reads",
				net->ifname, i);
	}
	net->ctrl_broken = false;
	__atomic_store_n(&net->stopping, false, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < net->nr_pairs; i++) {
		struct vnet_pair *p = &net->pair[i];

		drain_eventfd(p->wake_fd);
		ret = -pthread_create(&p->thread, NULL, vnet_worker, p);
		if (ret) {
			net_err(net, "cannot start a worker thread: %s", strerror(-ret));
			net->started = true;
			vnet_stop(vdev);
			return ret;
		}
		p->thread_running = true;
	}
	net->started = true;
	return 0;
}

static void vnet_free(struct virtio_device *vdev)
{
	struct virtio_net *net = to_net(vdev);

	if (!vdev)
		return;
	vnet_stop(vdev);
	if (net->own_tap)
		virtio_net_tap_close(net->tap);
	for (unsigned i = 0; i < VIRTIO_NET_MAX_PAIRS; i++) {
		struct vnet_pair *p = &net->pair[i];

		if (p->tap_fd >= 0 && !net->tap)
			close(p->tap_fd);
		if (p->wake_fd >= 0)
			close(p->wake_fd);
		if (p->net)
			pthread_mutex_destroy(&p->rx_lock);
		free(p->tx_seg);
		free(p->tx_iov);
		free(p->rx_buf);
		free(p->rx_seg);
		free(p->rx_used);
	}
	free(net->ctrl_seg);
	free(net->name);
	virtio_quiesce_destroy(&net->quiesce);
	free(net);
}

/* What each worker holds: a packet waiting for buffers, a blocked send. */
static void vnet_dump(struct virtio_device *vdev, FILE *f)
{
	struct virtio_net *net = to_net(vdev);

	for (unsigned i = 0; i < net->nr_pairs; i++) {
		const struct vnet_pair *p = &net->pair[i];

		fprintf(f, "  pair %u (tap %s): rx %s, ", i, net->ifname,
			__atomic_load_n(&p->rx_active, __ATOMIC_ACQUIRE) ? "active" : "inactive");
		if (p->rx_len)
			fprintf(f, "a %zu-byte packet waits for buffers (%zu bytes in %u so far)",
				p->rx_len, p->rx_done, p->rx_nused);
		else
			fprintf(f, "no packet waiting");
		fprintf(f, ", tx %s%s%s\n", p->tx_held ? "waits for the tap" : "idle",
			p->rx_broken ? ", rx broken" : "", p->tap_dead ? ", tap gone" : "");
	}
}

static const struct virtio_device_ops vnet_ops = {
	.config_read = vnet_config_read,
	.config_write = vnet_config_write,
	.start = vnet_start,
	.stop = vnet_stop,
	.free = vnet_free,
	.dump = vnet_dump,
	.quiesce = vnet_quiesce,
	.resume = vnet_resume,
};

/* ---- creation ---- */

static int pair_init(struct virtio_net *net, unsigned i, unsigned qsize)
{
	struct vnet_pair *p = &net->pair[i];

	p->tx_seg = calloc(qsize, sizeof(*p->tx_seg));
	p->tx_iov = calloc(qsize, sizeof(*p->tx_iov));
	p->rx_seg = calloc(qsize, sizeof(*p->rx_seg));
	p->rx_used = calloc(qsize, sizeof(*p->rx_used));
	p->rx_buf = malloc(RX_BUF_LEN);
	if (!p->tx_seg || !p->tx_iov || !p->rx_seg || !p->rx_used || !p->rx_buf)
		return -ENOMEM;
	p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->wake_fd < 0)
		return -errno;
	pthread_mutex_init(&p->rx_lock, NULL);
	p->net = net;
	p->index = i;
	virtq_chain_init(&p->tx_chain, p->tx_seg, qsize);
	virtq_chain_init(&p->rx_chain, p->rx_seg, qsize);
	return 0;
}

static void config_init(struct virtio_net *net, const uint8_t mac[6])
{
	memcpy(net->config.mac, mac, 6);
	net->config.status = htole16(VIRTIO_NET_S_LINK_UP);
	net->config.max_virtqueue_pairs = htole16((uint16_t)net->nr_pairs);
	net->config.speed = htole32(UINT32_MAX); /* unknown; SPEED_DUPLEX is not offered */
	net->config.duplex = 0xff;
}

static uint64_t offered_features(unsigned pairs)
{
	static const unsigned bits[] = {
		VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM,
		VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6, VIRTIO_NET_F_GUEST_ECN,
		VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_HOST_TSO6, VIRTIO_NET_F_HOST_ECN,
		VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS,
		VIRTIO_F_VERSION_1, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_EVENT_IDX,
	};
	uint64_t f = 0;

	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		f |= 1ULL << bits[i];
	if (pairs > 1)
		f |= 1ULL << VIRTIO_NET_F_MQ | 1ULL << VIRTIO_NET_F_CTRL_VQ;
	return f;
}

/* Everything but the fds. */
static struct virtio_net *vnet_new(const char *name, unsigned pairs, unsigned qsize,
				   const uint8_t mac[6], const struct guest_mem *mem,
				   const char **why)
{
	struct virtio_net *net = calloc(1, sizeof(*net));
	int ret = -ENOMEM;

	if (!net) {
		log_why(why, ENOMEM, "virtio-net: out of memory");
		return NULL;
	}
	for (unsigned i = 0; i < VIRTIO_NET_MAX_PAIRS; i++)
		net->pair[i].tap_fd = net->pair[i].wake_fd = -1;
	net->quiesce.fd = -1;
	net->name = strdup(name ? name : "virtio-net");
	net->ctrl_seg = calloc(qsize, sizeof(*net->ctrl_seg));
	if (!net->name || !net->ctrl_seg)
		goto fail;
	ret = virtio_quiesce_init(&net->quiesce);
	if (ret)
		goto fail;
	ret = -ENOMEM;
	for (unsigned i = 0; i < pairs; i++) {
		ret = pair_init(net, i, qsize);
		if (ret)
			goto fail;
	}
	net->nr_pairs = pairs;
	net->has_ctrl = pairs > 1;
	net->ctrl_queue = (uint16_t)(2 * pairs);
	virtq_chain_init(&net->ctrl_chain, net->ctrl_seg, qsize);
	config_init(net, mac);
	net->vdev = (struct virtio_device){
		.ops = &vnet_ops,
		.name = net->name,
		.device_id = VIRTIO_ID_NET,
		.device_features = offered_features(pairs),
		.config_len = sizeof(net->config),
		.nr_queues = (uint16_t)(2 * pairs + net->has_ctrl),
		.queue_max_size = (uint16_t)qsize,
		.mem = mem,
	};
	return net;
fail:
	log_why(why, -ret, "virtio-net: %s", strerror(-ret));
	vnet_free(&net->vdev);
	errno = -ret;
	return NULL;
}

static bool mac_ok(const uint8_t *mac, const char **why)
{
	static const uint8_t zero[6];

	if (mac[0] & 1) {
		log_why(why, EINVAL, "mac %02x:%02x:%02x:%02x:%02x:%02x is a multicast address",
		       mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
		return false;
	}
	if (!memcmp(mac, zero, 6)) {
		log_why(why, EINVAL, "mac 00:00:00:00:00:00 is not a usable address");
		return false;
	}
	return true;
}

struct virtio_device *virtio_net_create(const char *name, const struct virtio_net_options *opt,
					const struct guest_mem *mem, const char **why)
{
	unsigned pairs = opt->queues ? opt->queues : 1;
	unsigned qsize = opt->queue_size ? opt->queue_size : DEFAULT_QUEUE_SIZE;
	struct virtio_net_tap *tap;
	struct virtio_net *net;
	uint8_t mac[6];
	int ret;

	if (!opt->host && (!opt->tap || !*opt->tap)) {
		log_why(why, EINVAL, "no tap name given (tap=NAME)");
		return NULL;
	}
	if (pairs > VIRTIO_NET_MAX_PAIRS) {
		log_why(why, EINVAL, "tap %s: queues=%u, at most %u", opt->tap ? opt->tap : "",
		       pairs, VIRTIO_NET_MAX_PAIRS);
		return NULL;
	}
	if (qsize > VIRTIO_NET_MAX_QUEUE_SIZE || (qsize & (qsize - 1))) {
		log_why(why, EINVAL, "tap %s: queue size %u is not a power of two up to %u",
		       opt->tap ? opt->tap : "", qsize, VIRTIO_NET_MAX_QUEUE_SIZE);
		return NULL;
	}
	if (opt->mac)
		memcpy(mac, opt->mac, 6);
	else
		virtio_net_default_mac(opt->vm_name, mac);
	if (!mac_ok(mac, why))
		return NULL;
	if (opt->host && opt->host->queues != pairs) {
		log_why(why, EINVAL, "tap %s: has %u queues, and the device wants %u",
			opt->host->ifname, opt->host->queues, pairs);
		errno = EINVAL;
		return NULL;
	}
	net = vnet_new(name, pairs, qsize, mac, mem, why);
	if (!net)
		return NULL;
	tap = opt->host ? opt->host : virtio_net_tap_open(opt->tap, pairs, why);
	if (!tap) {
		ret = errno;
		vnet_free(&net->vdev);
		errno = ret;
		return NULL;
	}
	vnet_use_tap(net, tap, !opt->host);
	return &net->vdev;
}

struct virtio_device *virtio_net_create_fds(const char *name, const int *fds, unsigned nfds,
					    const uint8_t mac[6], const struct guest_mem *mem,
					    const char **why)
{
	struct virtio_net *net;

	if (nfds < 1 || nfds > VIRTIO_NET_MAX_PAIRS) {
		log_why(why, EINVAL, "virtio-net: %u fds, 1 to %u wanted", nfds,
		       VIRTIO_NET_MAX_PAIRS);
		return NULL;
	}
	if (!mac_ok(mac, why))
		return NULL;
	for (unsigned i = 0; i < nfds; i++) {
		int fl = fcntl(fds[i], F_GETFL);

		if (fl < 0 || fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) < 0) {
			log_why(why, errno, "virtio-net: fd %d: %s", fds[i], strerror(errno));
			return NULL;
		}
	}
	net = vnet_new(name, nfds, DEFAULT_QUEUE_SIZE, mac, mem, why);
	if (!net)
		return NULL;
	for (unsigned i = 0; i < nfds; i++) {
		net->pair[i].tap_fd = fds[i];
		net->pair[i].attached = true;
	}
	return &net->vdev;
}

const char *virtio_net_tap_name(const struct virtio_device *vdev)
{
	if (!vdev || vdev->ops != &vnet_ops)
		return "";
	return ((const struct virtio_net *)vdev)->ifname;
}
