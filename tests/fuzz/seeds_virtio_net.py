#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes fuzz_virtio_net's seeds into corpus-virtio-net/ (spaces: fuzz_virtio_net.c).

Each is Linux's virtio_net probe (seeds_virtio.Driver: features, the MAC
read byte by byte, the queues), receive buffers posted as
add_recvbuf_mergeable/small does, then traffic: an ARP request sent, the
reply received, the control queue's commands.
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seeds import Input  # noqa: E402
from seeds_virtio import Ram, Driver, VERSION_1, INDIRECT_DESC, EVENT_IDX  # noqa: E402

CFG, MMIO, HOST = range(3)
SEND, DRAIN, CLOSE, STOP = 0, 8, 16, 24  # host operations, 8 bytes each
TWO_PAIRS = 2
CSUM, GUEST_CSUM, MAC, GUEST_TSO4, GUEST_TSO6, GUEST_ECN = 0, 1, 5, 7, 8, 9
HOST_TSO4, HOST_TSO6, HOST_ECN, MRG_RXBUF, STATUS, CTRL_VQ, MQ = 11, 12, 13, 15, 16, 17, 22
LINUX = sum(1 << b for b in (CSUM, GUEST_CSUM, MAC, GUEST_TSO4, GUEST_TSO6, GUEST_ECN,
                             HOST_TSO4, HOST_TSO6, HOST_ECN, MRG_RXBUF, STATUS, VERSION_1,
                             INDIRECT_DESC, EVENT_IDX))
CONFIG = tuple((b, 1) for b in range(6)) + ((6, 2),)
CONFIG_MQ = CONFIG + ((8, 2),)

GUEST_MAC = bytes.fromhex('525400123456')
HOST_MAC = bytes.fromhex('fe5400abcdef')


def hdr(flags=0, gso=0, hdr_len=0, gso_size=0, csum_start=0, csum_offset=0, nbuf=0):
    return struct.pack('<BBHHHHH', flags, gso, hdr_len, gso_size, csum_start, csum_offset, nbuf)


def arp(op, sha, spa, tha, tpa):
    eth = (b'\xff' * 6 if op == 1 else tha) + sha + b'\x08\x06'
    return eth + struct.pack('>HHBBH', 1, 0x0800, 6, 4, op) + sha + spa + tha + tpa


ARP_REQUEST = hdr() + arp(1, GUEST_MAC, bytes([10, 0, 0, 2]), bytes(6), bytes([10, 0, 0, 1]))
ARP_REPLY = hdr() + arp(2, HOST_MAC, bytes([10, 0, 0, 1]), GUEST_MAC, bytes([10, 0, 0, 2]))


class Net:
    """Guest RAM: the device byte at gpa 0, rings from 0x200, what the device reads
    (tx frames, control commands) from 0xc00, the host's packets from 0x1400
    (sent longer than stored, they go on with the zeroes after the input's
    RAM), receive buffers from 0x4000."""

    def __init__(self, pairs=1):
        self.ram = Ram()
        self.ram.put(0, bytes([TWO_PAIRS if pairs == 2 else 0]))
        self.readable = 0xc00
        self.host_at = 0x1400
        self.rx_at = 0x4000
        self.ack = 0xbd0

    def data(self, b):
        gpa = self.readable
        self.ram.put(gpa, b)
        self.readable += (len(b) + 15) & ~15
        return gpa

    def rx_buffers(self, q, n, size=1536):
        for _ in range(n):
            q.chain([(self.rx_at, size, True)])
            self.rx_at += size

    def tx(self, q, frame, gpa=None):
        if gpa is None:
            gpa = self.data(frame)
        q.chain([(gpa, len(frame), False)])
        return gpa

    def ctrl(self, q, cls, cmd, payload=b''):
        self.ack += 1
        q.chain([(self.data(bytes([cls, cmd])), 2, False)] +
                ([(self.data(payload), len(payload), False)] if payload else []) +
                [(self.ack, 1, True)])

    def host_packet(self, pkt):
        gpa = self.host_at
        self.ram.put(gpa, pkt)
        self.host_at += (len(pkt) + 15) & ~15
        return gpa

    def input(self):
        return Input(self.ram.bytes())


def send(i, pair, gpa, length):
    i.write(HOST, SEND, 8, pair | length << 8 | gpa << 32)


def boot(n, queues, features, config=CONFIG, msix=True):
    i = n.input()
    d = Driver(i, CFG, MMIO)
    d.enumerate()
    if msix:
        d.msix(len(queues) + 1)
    d.probe(features, queues, vectors=msix, config=config)
    return i, d


def arp_exchange():
    n = Net()
    rx, tx = n.ram.queue(0), n.ram.queue(1)
    n.rx_buffers(rx, 8)
    n.tx(tx, ARP_REQUEST)
    reply = n.host_packet(ARP_REPLY)
    i, d = boot(n, [rx, tx], LINUX)
    d.notify(0)
    d.notify(1)
    i.write(HOST, DRAIN, 1, 0)
    send(i, 0, reply, len(ARP_REPLY))
    d.isr()
    return i


def multiqueue_and_control():
    n = Net(pairs=2)
    qs = [n.ram.queue(q) for q in range(5)]
    n.rx_buffers(qs[0], 4)
    n.rx_buffers(qs[2], 4)
    # virtnet_set_queues, then what a driver sends that was never offered:
    # promiscuous mode (CTRL_RX), the MAC filter table and address (CTRL_MAC)
    n.ctrl(qs[4], 4, 0, struct.pack('<H', 2))
    n.ctrl(qs[4], 0, 0, b'\x01')
    n.ctrl(qs[4], 1, 0, struct.pack('<I', 0) + struct.pack('<I', 1) + HOST_MAC)
    n.ctrl(qs[4], 1, 1, GUEST_MAC)
    n.ctrl(qs[4], 4, 0, struct.pack('<H', 9))  # more pairs than offered
    n.tx(qs[3], ARP_REQUEST)
    reply = n.host_packet(ARP_REPLY)
    i, d = boot(n, qs, LINUX | 1 << CTRL_VQ | 1 << MQ, CONFIG_MQ)
    d.notify(4)
    d.notify(0)
    d.notify(2)
    d.notify(3)
    i.write(HOST, DRAIN, 1, 1)
    send(i, 1, reply, len(ARP_REPLY))
    send(i, 0, reply, len(ARP_REPLY))
    return i


def small_buffers_and_offloads():
    # no MRG_RXBUF and no guest offloads: a GSO packet is dropped, a large
    # one does not fit the posted buffers, a partial-checksum one is refused
    n = Net()
    rx, tx = n.ram.queue(0), n.ram.queue(1)
    n.rx_buffers(rx, 4, size=12 + 1514)
    gso = n.host_packet(hdr(1, 1, 54, 1448, 34, 16) + ARP_REPLY[12:])  # zeroes after it
    csum = n.host_packet(hdr(1, 0, 0, 0, 34, 16) + ARP_REPLY[12:])
    ok = n.host_packet(ARP_REPLY)
    i, d = boot(n, [rx, tx], 1 << VERSION_1 | 1 << MAC | 1 << CSUM, msix=False)
    d.notify(0)
    send(i, 0, gso, 12 + 42 + 1400)
    send(i, 0, csum, len(ARP_REPLY))
    send(i, 0, 0x4000 - 0x100, 3000)  # 3000 bytes: no buffer holds it
    send(i, 0, ok, len(ARP_REPLY))
    send(i, 0, ok, 8)  # shorter than the header
    d.isr()
    return i


def merged_receive_and_packet_waiting():
    # a packet larger than one mergeable buffer spans several; one arrives
    # before any buffer is posted and waits; then a reset while it waits
    n = Net()
    rx, tx = n.ram.queue(0), n.ram.queue(1)
    n.rx_buffers(rx, 6, size=1024)
    big = n.host_packet(ARP_REPLY)  # and 3072 zeroes after it
    i, d = boot(n, [rx, tx], LINUX)
    send(i, 0, big, 12 + 42 + 3072)
    send(i, 0, big, 12 + 42 + 3072)
    d.notify(0)
    d.reset()
    i.write(HOST, STOP, 1, 0)
    return i


def tx_backpressure_and_tap_gone():
    # the tap's queue fills (nobody reads it), then drains; then it goes away
    n = Net()
    rx, tx = n.ram.queue(0), n.ram.queue(1)
    n.rx_buffers(rx, 2)
    frame = hdr() + ARP_REQUEST[12:] + bytes(1400)
    gpa = n.tx(tx, frame)
    for _ in range(13):
        n.tx(tx, frame, gpa)
    i, d = boot(n, [rx, tx], LINUX)
    d.notify(1)
    i.write(HOST, DRAIN, 1, 0)
    i.write(HOST, CLOSE, 1, 0)
    d.notify(1)
    d.notify(0)
    return i


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus-virtio-net')
    os.makedirs(out, exist_ok=True)
    for name, make in (('arp-exchange', arp_exchange),
                       ('multiqueue-and-control', multiqueue_and_control),
                       ('small-buffers-and-offloads', small_buffers_and_offloads),
                       ('merged-receive-packet-waiting', merged_receive_and_packet_waiting),
                       ('tx-backpressure-tap-gone', tx_backpressure_and_tap_gone)):
        make().save(os.path.join(out, name))


if __name__ == '__main__':
    main()
