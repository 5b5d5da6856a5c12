/* SPDX-License-Identifier: MIT */
#ifndef DEVICES_VIRTIO_NET_H
#define DEVICES_VIRTIO_NET_H

/*
 * virtio-net (virtio 1.2, 5.1) over a Linux TAP device, behind the
 * transport seam of devices/virtio.h.
 *
 * Queues: rx0, tx0, rx1, tx1, ..., then the control queue when more than
 * one pair is offered (VIRTIO_NET_F_MQ needs VIRTIO_NET_F_CTRL_VQ). Every
 * frame on the queues and on the tap starts with the 12-byte struct
 * virtio_net_hdr_v1: the tap is put in vnet-header mode with that size, so
 * a tx chain goes to the tap as it is, and what the tap reads carries the
 * checksum and segmentation offload state the guest needs.
 */

#include <stdint.h>

struct guest_mem;
struct virtio_device;

/* Feature bits (virtio 1.2, 5.1.3). */
#define VIRTIO_NET_F_CSUM       0  /* the device takes partially checksummed tx */
#define VIRTIO_NET_F_GUEST_CSUM 1  /* the driver takes partially checksummed rx */
#define VIRTIO_NET_F_MAC        5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN  9
#define VIRTIO_NET_F_HOST_TSO4  11
#define VIRTIO_NET_F_HOST_TSO6  12
#define VIRTIO_NET_F_HOST_ECN   13
#define VIRTIO_NET_F_MRG_RXBUF  15
#define VIRTIO_NET_F_STATUS     16
#define VIRTIO_NET_F_CTRL_VQ    17
#define VIRTIO_NET_F_MQ         22

#define VIRTIO_NET_S_LINK_UP 1

#define VIRTIO_NET_MAX_PAIRS      8
#define VIRTIO_NET_MAX_QUEUE_SIZE 1024 /* a tx chain is one writev(): IOV_MAX */

/* The device configuration (5.1.4), little-endian. */
struct virtio_net_config {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
	uint32_t speed;
	uint8_t duplex;
	uint8_t rss_max_key_size;
	uint16_t rss_max_indirection_table_length;
	uint32_t supported_hash_types;
} __attribute__((packed));
_Static_assert(sizeof(struct virtio_net_config) == 24, "virtio_net_config is 24 bytes");
_Static_assert(__builtin_offsetof(struct virtio_net_config, status) == 6, "status at 6");
_Static_assert(__builtin_offsetof(struct virtio_net_config, max_virtqueue_pairs) == 8,
	       "max_virtqueue_pairs at 8");
_Static_assert(__builtin_offsetof(struct virtio_net_config, speed) == 12, "speed at 12");

/* The header in front of every frame (5.1.6), little-endian. */
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE  0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP   3
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_ECN   0x80

struct virtio_net_hdr_v1 {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};
_Static_assert(sizeof(struct virtio_net_hdr_v1) == 12, "virtio_net_hdr_v1 is 12 bytes");

#define VIRTIO_NET_HDR_LEN 12u
/*
 * The largest frame after the header, either way: an IP packet's 16-bit
 * total length (what a TSO packet is bounded by) plus an Ethernet header
 * with one VLAN tag. Anything longer is dropped.
 */
#define VIRTIO_NET_MAX_FRAME (65535u + 14u + 4u)

/* Control queue (5.1.6.5): class, command, data, then a writable ack byte. */
#define VIRTIO_NET_OK  0
#define VIRTIO_NET_ERR 1
#define VIRTIO_NET_CTRL_RX       0
#define VIRTIO_NET_CTRL_MQ       4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0

/*
 * The host's side of a NIC: a TAP device's queues, one fd each. It belongs
 * to the VMM, not to the device model, so that it outlives a guest reset,
 * which makes every device anew: a TAP this process created exists as long
 * as one of its fds is open, and keeps its state (up, its addresses, its
 * bridge) for as long as the VMM runs, across any number of reboots.
 *
 * Opens (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, and IFF_MULTI_QUEUE when
 * queues > 1) the TAP ifname, creating it when it does not exist and the
 * caller has CAP_NET_ADMIN; a "%d" in ifname lets the kernel pick the
 * number. A TAP created here is not made persistent. NULL with errno set
 * and *why (one line naming the tap and the problem, and what to do about
 * it) on failure.
 */
struct virtio_net_tap;
struct virtio_net_tap *virtio_net_tap_open(const char *ifname, unsigned queues,
					   const char **why);
/* The interface's name (the kernel's, for a template). */
const char *virtio_net_tap_ifname(const struct virtio_net_tap *tap);
/* Closes every queue: a TAP created by virtio_net_tap_open() goes away. NULL is a no-op. */
void virtio_net_tap_close(struct virtio_net_tap *tap);

struct virtio_net_options {
	/*
	 * The TAP, opened by the caller, who keeps it and closes it after
	 * freeing the device; its queues must be as many as queues. NULL: the
	 * device opens tap itself, and it goes with the device.
	 */
	struct virtio_net_tap *host;
	/* Interface name; a "%d" in it lets the kernel pick the number. */
	const char *tap;
	/* 6 bytes, or NULL: virtio_net_default_mac(vm_name). */
	const uint8_t *mac;
	const char *vm_name;
	/* Queue pairs, 1..VIRTIO_NET_MAX_PAIRS: one TAP queue (fd) per pair. */
	unsigned queues;
	/* Per virtqueue, a power of two up to VIRTIO_NET_MAX_QUEUE_SIZE; 0: 256. */
	unsigned queue_size;
};

/*
 * A NIC on opt->host, or on the TAP opt->tap, opened as
 * virtio_net_tap_open() does and closed when the device is freed.
 * Returns NULL with errno set and *why (one line naming the tap and the
 * problem, and what to do about it) on failure.
 */
struct virtio_device *virtio_net_create(const char *name, const struct virtio_net_options *opt,
					const struct guest_mem *mem, const char **why);

/*
 * The same device over fds the caller provides, one per queue pair (a
 * SOCK_SEQPACKET socket stands in for a tap: one read or write is one
 * packet, 12-byte vnet header first). No tap ioctl is issued on them.
 * They are made non-blocking; on success the device owns them and closes
 * them in free(), on failure the caller still does.
 */
struct virtio_device *virtio_net_create_fds(const char *name, const int *fds, unsigned nfds,
					    const uint8_t mac[6], const struct guest_mem *mem,
					    const char **why);

/*
 * The MAC a VM gets when none is given: 02:xx:xx:xx:xx:xx, a locally
 * administered unicast address whose other 40 bits are a hash (64-bit
 * FNV-1a) of vm_name (NULL hashes as ""). Stable across runs and hosts; a
 * VM with two NICs needs a mac= for the second, or a different name.
 */
void virtio_net_default_mac(const char *vm_name, uint8_t mac[6]);

/* The interface the device is attached to ("" for virtio_net_create_fds). */
const char *virtio_net_tap_name(const struct virtio_device *vdev);

#endif
