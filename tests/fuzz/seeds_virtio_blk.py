#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes fuzz_virtio_blk's seeds into corpus-virtio-blk/ (spaces: fuzz_virtio_blk.c).

Each is Linux's virtio_blk probe (seeds_virtio.Driver) and then what the
block layer sends first: the partition table read, a write and a flush,
discards and write-zeroes from fstrim and blkdiscard -z.
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seeds import Input  # noqa: E402
from seeds_virtio import Ram, Driver, VERSION_1, INDIRECT_DESC, EVENT_IDX  # noqa: E402

CFG, MMIO, HOST = range(3)
RO, TWO_QUEUES = 1, 2
IN, OUT, FLUSH, GET_ID, DISCARD, WRITE_ZEROES = 0, 1, 4, 8, 11, 13
SEG_MAX, BLK_SIZE, F_RO, F_FLUSH, F_MQ, F_DISCARD, F_WRITE_ZEROES = 2, 6, 5, 9, 12, 13, 14
FEATURES = (1 << VERSION_1 | 1 << SEG_MAX | 1 << BLK_SIZE | 1 << F_FLUSH | 1 << F_DISCARD |
            1 << F_WRITE_ZEROES)
# what virtblk_probe reads: capacity, seg_max, blk_size, num_queues, discard and zeroes limits
CONFIG = ((0, 8), (12, 4), (20, 4), (34, 2), (36, 4), (40, 4), (44, 4), (48, 4), (52, 4), (56, 1))


class Disk:
    """Guest RAM: the disk byte at gpa 0, rings from 0x200, headers at 0x800, status
    bytes at 0xa00, what the device reads from 0xc00, what it writes from 0x4000."""

    def __init__(self, disk=0, size_8k=0):
        self.ram = Ram()
        self.ram.put(0, bytes([disk | size_8k << 2]))
        self.n = 0

    def request(self, q, rtype, sector, data=None, writable=True, length=0, ranges=None):
        hdr, status = 0x800 + 32 * self.n, 0xa00 + self.n
        buf = (0x4000 + 0x1000 * self.n) if length else (0xc00 + 0x200 * self.n)
        self.n += 1
        self.ram.put(hdr, struct.pack('<IIQ', rtype, 0, sector))
        bufs = [(hdr, 16, False)]
        if ranges is not None:
            self.ram.put(buf, b''.join(struct.pack('<QII', *r) for r in ranges))
            bufs.append((buf, 16 * len(ranges), False))
        elif data is not None:
            self.ram.put(buf, data)
            bufs.append((buf, len(data), False))
        elif length:
            bufs.append((buf, length, writable))
        bufs.append((status, 1, True))
        return q.chain(bufs)

    def input(self):
        return Input(self.ram.bytes())


def boot(d, queues, features=FEATURES, msix=True):
    i = d.input()
    drv = Driver(i, CFG, MMIO)
    drv.enumerate()
    if msix:
        drv.msix(len(queues) + 1)
    drv.probe(features, queues, vectors=msix, config=CONFIG)
    return i, drv


def partition_table_read():
    d = Disk()
    q = d.ram.queue(0)
    d.request(q, IN, 0, length=4096)
    d.request(q, GET_ID, 0, length=20)
    i, drv = boot(d, [q])
    drv.notify(0)
    drv.isr()
    return i


def write_flush_read():
    d = Disk(size_8k=3)
    q = d.ram.queue(0)
    d.request(q, OUT, 2, data=bytes(range(256)) * 2)
    d.request(q, FLUSH, 0)
    d.request(q, IN, 2, length=512)
    i, drv = boot(d, [q])
    drv.notify(0)
    return i


def fstrim_and_zeroes():
    d = Disk(size_8k=7)
    q = d.ram.queue(0)
    d.request(q, DISCARD, 0, ranges=[(4, 4, 0), (16, 8, 0)])
    d.request(q, WRITE_ZEROES, 0, ranges=[(32, 8, 1)])   # may unmap
    d.request(q, WRITE_ZEROES, 0, ranges=[(48, 16, 0)])
    i, drv = boot(d, [q])
    drv.notify(0)
    return i


def readonly_write_refused():
    d = Disk(RO)
    q = d.ram.queue(0)
    d.request(q, OUT, 0, data=b'\xaa' * 512)
    d.request(q, IN, 0, length=512)
    i, drv = boot(d, [q], FEATURES | 1 << F_RO, msix=False)
    drv.notify(0)
    drv.isr()
    return i


def beyond_the_end():
    d = Disk()  # 16 sectors
    q = d.ram.queue(0)
    d.request(q, IN, 15, length=1024)
    d.request(q, IN, 1 << 40, length=512)
    d.request(q, DISCARD, 0, ranges=[(14, 4, 0)])
    i, drv = boot(d, [q])
    drv.notify(0)
    return i


def two_queues_event_idx_indirect():
    d = Disk(TWO_QUEUES, size_8k=1)
    q0, q1 = d.ram.queue(0), d.ram.queue(1)
    d.request(q0, IN, 1, length=512)
    # an indirect OUT on queue 1, as virtio_ring does for a long scatterlist
    d.ram.put(0x800 + 32 * 8, struct.pack('<IIQ', OUT, 0, 3))
    d.ram.put(0xc00, b'\x5a' * 1024)
    q1.indirect(0x700, [(0x800 + 32 * 8, 16, False), (0xc00, 512, False),
                        (0xe00, 512, False), (0xa08, 1, True)])
    i, drv = boot(d, [q0, q1], FEATURES | 1 << F_MQ | 1 << INDIRECT_DESC | 1 << EVENT_IDX)
    drv.notify(0)
    drv.notify(1)
    return i


def reset_with_io_in_flight():
    d = Disk(size_8k=2)
    q = d.ram.queue(0)
    d.request(q, OUT, 1, data=b'\x11' * 512)
    d.request(q, FLUSH, 0)
    d.request(q, DISCARD, 0, ranges=[(16, 8, 0)])
    i, drv = boot(d, [q])
    i.write(HOST, 0 * 8, 1, 1)  # hold completions
    drv.notify(0)
    drv.reset()  # virtio_dev_remove / a driver reset with requests in the kernel
    i.write(HOST, 0 * 8, 1, 1)
    drv.probe(FEATURES, [q], config=CONFIG)
    drv.notify(0)
    i.write(HOST, 3 * 8, 1, 0)  # and a VMM reset
    return i


def image_shrunk():
    d = Disk(size_8k=1)
    q = d.ram.queue(0)
    d.request(q, IN, 20, length=2048)
    i, drv = boot(d, [q])
    i.write(HOST, 2 * 8, 4, 4096)
    drv.notify(0)
    return i


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus-virtio-blk')
    os.makedirs(out, exist_ok=True)
    for name, make in (('partition-table-read', partition_table_read),
                       ('write-flush-read', write_flush_read),
                       ('fstrim-and-write-zeroes', fstrim_and_zeroes),
                       ('readonly-write-refused', readonly_write_refused),
                       ('beyond-the-end', beyond_the_end),
                       ('two-queues-event-idx-indirect', two_queues_event_idx_indirect),
                       ('reset-with-io-in-flight', reset_with_io_in_flight),
                       ('image-shrunk', image_shrunk)):
        make().save(os.path.join(out, name))


if __name__ == '__main__':
    main()
