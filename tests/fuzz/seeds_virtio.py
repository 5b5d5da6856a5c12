#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""What Linux does to a modern virtio-pci function, for the virtio targets' seeds.

    from seeds_virtio import Ram, Driver
    ram = Ram()
    q0 = ram.queue(0, size=16)           # rings in guest RAM
    i = Input(...)                       # after the RAM is filled: ram.bytes()
    d = Driver(i, cfg=0, bar=1)          # the targets' space numbers
    d.enumerate(); d.msix(4); d.probe(features, [q0]); d.notify(0)

The sequence follows drivers/pci (BAR sizing and assignment, as the PCI
core or OVMF does it), drivers/virtio/virtio_pci_modern_dev.c (capability
walk), virtio_pci_modern.c and virtio.c (reset, ACKNOWLEDGE, DRIVER,
features, FEATURES_OK, queue setup, MSI-X vectors, DRIVER_OK).
"""
import struct

BAR_GPA = 0xfe000000

# common configuration (virtio 1.2, 4.1.4.3)
DFSELECT, DF, GFSELECT, GF, MSIX_CONFIG, NUM_QUEUES, STATUS = 0x00, 0x04, 0x08, 0x0c, 0x10, 0x12, 0x14
Q_SELECT, Q_SIZE, Q_MSIX, Q_ENABLE, Q_NOFF, Q_DESC, Q_AVAIL, Q_USED = \
    0x16, 0x18, 0x1a, 0x1c, 0x1e, 0x20, 0x28, 0x30
ISR, DEVICE, NOTIFY, MSIX_TABLE = 0x1000, 0x2000, 0x3000, 0x4000

VERSION_1, INDIRECT_DESC, EVENT_IDX = 32, 28, 29
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4


class Queue:
    def __init__(self, ram, index, size, base):
        self.ram, self.index, self.size = ram, index, size
        self.desc, self.avail, self.used = base, base + 16 * size, base + 16 * size + 0x40
        self.next_desc = 0
        self.avail_idx = 0

    def chain(self, bufs):
        """bufs: [(gpa, len, writable)]; makes them one chain, available."""
        head = self.next_desc
        for n, (gpa, length, writable) in enumerate(bufs):
            d = (self.next_desc) % self.size
            last = n == len(bufs) - 1
            flags = (0 if last else F_NEXT) | (F_WRITE if writable else 0)
            nxt = 0 if last else (d + 1) % self.size
            self.ram.put(self.desc + 16 * d, struct.pack('<QIHH', gpa, length, flags, nxt))
            self.next_desc += 1
        return self.make_available(head)

    def indirect(self, table, bufs):
        """bufs as for chain(), through an indirect table at gpa table."""
        for n, (gpa, length, writable) in enumerate(bufs):
            last = n == len(bufs) - 1
            flags = (0 if last else F_NEXT) | (F_WRITE if writable else 0)
            self.ram.put(table + 16 * n, struct.pack('<QIHH', gpa, length, flags, 0 if last else n + 1))
        head = self.next_desc % self.size
        self.ram.put(self.desc + 16 * head, struct.pack('<QIHH', table, 16 * len(bufs), F_INDIRECT, 0))
        self.next_desc += 1
        return self.make_available(head)

    def make_available(self, head):
        self.ram.put(self.avail + 4 + 2 * (self.avail_idx % self.size), struct.pack('<H', head))
        self.avail_idx += 1
        self.ram.put(self.avail + 2, struct.pack('<H', self.avail_idx))
        return head


class Ram:
    """Guest RAM at gpa 0: queue q's rings (up to 16 entries) at 0x200 * (q + 1)."""

    def __init__(self):
        self.data = bytearray()

    def put(self, gpa, b):
        if len(self.data) < gpa + len(b):
            self.data += bytes(gpa + len(b) - len(self.data))
        self.data[gpa:gpa + len(b)] = b

    def queue(self, index, size=16):
        assert size <= 16
        return Queue(self, index, size, 0x200 * (index + 1))

    def bytes(self):
        return bytes(self.data)


class Driver:
    def __init__(self, inp, cfg, bar):
        self.i, self.cfg, self.bar = inp, cfg, bar

    def cfg_r(self, off, size):
        self.i.read(self.cfg, off, size)

    def cfg_w(self, off, size, v):
        self.i.write(self.cfg, off, size, v)

    def r(self, off, size):
        self.i.read(self.bar, off, size)

    def w(self, off, size, v):
        self.i.write(self.bar, off, size, v)

    def enumerate(self, gpa=BAR_GPA):
        """IDs, the capability list, BAR 4 sized and placed, memory decoding on."""
        for off, size in ((0, 2), (2, 2), (8, 4), (0x0e, 1), (0x2c, 2), (0x2e, 2), (6, 2),
                          (0x34, 1)):
            self.cfg_r(off, size)
        for at in (0x40, 0x50, 0x60, 0x74, 0x84, 0x94):
            for off, size in ((0, 1), (1, 1), (3, 1), (4, 1), (8, 4), (12, 4)):
                self.cfg_r(at + off, size)
        self.cfg_r(0x60 + 16, 4)  # notify_off_multiplier
        self.cfg_w(0x04, 2, 0)
        for bar in (0x20, 0x24):
            self.cfg_r(bar, 4)
            self.cfg_w(bar, 4, 0xffffffff)
            self.cfg_r(bar, 4)
        self.cfg_w(0x20, 4, gpa & 0xffffffff)
        self.cfg_w(0x24, 4, gpa >> 32)
        self.cfg_w(0x04, 2, 0x0006)  # memory, bus master

    def msix(self, vectors):
        """Linux's msix_capability_init: masked while the table is written, then on."""
        self.cfg_r(0x42, 2)
        self.cfg_w(0x42, 2, 0xc000)
        for v in range(vectors):
            e = MSIX_TABLE + 16 * v
            self.w(e + 0, 4, 0xfee00000)
            self.w(e + 4, 4, 0)
            self.w(e + 8, 4, 0x4030 + v)
            self.w(e + 12, 4, 0)
        self.cfg_w(0x42, 2, 0x8000)

    def probe(self, features, queues, vectors=True, config=()):
        """virtio_dev_probe + vp_find_vqs; features: what the driver accepts."""
        self.w(STATUS, 1, 0)
        self.r(STATUS, 1)
        self.w(STATUS, 1, 1)
        self.w(STATUS, 1, 3)
        for sel in (0, 1):
            self.w(DFSELECT, 4, sel)
            self.r(DF, 4)
        for sel in (0, 1):
            self.w(GFSELECT, 4, sel)
            self.w(GF, 4, (features >> (32 * sel)) & 0xffffffff)
        self.w(STATUS, 1, 0xb)
        self.r(STATUS, 1)
        for off, size in config:
            self.r(DEVICE + off, size)
        if vectors:
            self.w(MSIX_CONFIG, 2, 0)
            self.r(MSIX_CONFIG, 2)
        self.r(NUM_QUEUES, 2)
        for q in queues:
            self.w(Q_SELECT, 2, q.index)
            self.r(Q_SIZE, 2)
            self.w(Q_SIZE, 2, q.size)
            if vectors:
                self.w(Q_MSIX, 2, q.index + 1)
                self.r(Q_MSIX, 2)
            for reg, gpa in ((Q_DESC, q.desc), (Q_AVAIL, q.avail), (Q_USED, q.used)):
                self.w(reg, 4, gpa & 0xffffffff)
                self.w(reg + 4, 4, gpa >> 32)
            self.r(Q_NOFF, 2)
            self.w(Q_ENABLE, 2, 1)
        self.w(STATUS, 1, 0xf)

    def notify(self, q):
        self.w(NOTIFY + 4 * q, 2, q)

    def isr(self):
        self.r(ISR, 1)

    def reset(self):
        self.w(STATUS, 1, 0)
        self.r(STATUS, 1)
