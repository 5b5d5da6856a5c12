#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes fuzz_msix's seeds into corpus-msix/ (spaces and functions: fuzz_msix.c).

What Linux does to MSI-X: msix_capability_init (enable with the function
masked, mask every entry, program the vectors, lift the function mask,
unmask each vector as its interrupt is requested), an affinity change,
pci_msi_shutdown; the same on a virtio-pci function after vp_modern has
given the config and queues their vectors; and the host's signals in
between, some while masked, and a function reset.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seeds import Input  # noqa: E402

A_CFG, A_BAR, B_CFG, B_BAR, HOST = range(5)
CAP = 0x40               # both functions' MSI-X capability
A_TABLE, A_PBA, A_NR = 0x000, 0x800, 70
B_TABLE, B_PBA, B_NR = 0x4000, 0x6000, 3
ENABLE, MASKALL = 0x8000, 0x4000

# virtio common configuration (virtio 1.2, 4.1.4.3)
DFSELECT, GFSELECT, GF, MSIX_CONFIG, STATUS = 0x00, 0x08, 0x0c, 0x10, 0x14
Q_SELECT, Q_MSIX = 0x16, 0x1a


def apic_msg(cpu, vector):
    return 0xfee00000 | cpu << 12, vector


class Fn:
    def __init__(self, i, cfg, bar, table, pba):
        self.i, self.cfg, self.bar, self.table, self.pba = i, cfg, bar, table, pba

    def find_cap(self):
        self.i.read(self.cfg, 0x06, 2).read(self.cfg, 0x34, 1)
        self.i.read(self.cfg, CAP, 2).read(self.cfg, CAP + 2, 2)
        self.i.read(self.cfg, CAP + 4, 4).read(self.cfg, CAP + 8, 4)

    def ctrl(self, value):
        self.i.read(self.cfg, CAP + 2, 2).write(self.cfg, CAP + 2, 2, value)

    def entry(self, v, off):
        return self.table + 16 * v + off

    def mask(self, v, masked):
        self.i.write(self.bar, self.entry(v, 12), 4, 1 if masked else 0)
        self.i.read(self.bar, self.entry(v, 12), 4)  # flush, as Linux reads back

    def program(self, v, addr, data):
        self.i.write(self.bar, self.entry(v, 0), 4, addr & 0xffffffff)
        self.i.write(self.bar, self.entry(v, 4), 4, addr >> 32)
        self.i.write(self.bar, self.entry(v, 8), 4, data)
        self.i.read(self.bar, self.entry(v, 8), 4)

    def pba_read(self, nr):
        for w in range((nr + 63) // 64):
            self.i.read(self.bar, self.pba + 8 * w, 8)

    def capability_init(self, nr, used):
        """msix_capability_init, then request_irq on each vector used."""
        self.find_cap()
        self.ctrl(ENABLE | MASKALL)
        for v in range(nr):
            self.i.write(self.bar, self.entry(v, 12), 4, 1)
        for v in range(used):
            self.program(v, *apic_msg(v % 4, 0x21 + v))
        self.ctrl(ENABLE)
        for v in range(used):
            self.mask(v, False)

    def shutdown(self, used):
        for v in range(used):
            self.mask(v, True)
        self.ctrl(MASKALL)
        self.ctrl(0)


def a_fn(i):
    return Fn(i, A_CFG, A_BAR, A_TABLE, A_PBA)


def b_fn(i):
    return Fn(i, B_CFG, B_BAR, B_TABLE, B_PBA)


def s_linux_msix_init():
    i = Input()
    a = a_fn(i)
    a.capability_init(A_NR, 8)
    for v in (0, 3, 7):
        i.write(HOST, 0, 4, v)
    # a vector masked (disable_irq) gets a signal, then unmasked: it fires
    a.mask(5, True)
    i.write(HOST, 0, 4, 5)
    a.pba_read(A_NR)
    a.mask(5, False)
    a.pba_read(A_NR)
    # affinity change: masked, new destination, unmasked
    a.mask(2, True)
    a.program(2, *apic_msg(3, 0x41))
    a.mask(2, False)
    i.write(HOST, 0, 4, 2)
    a.shutdown(8)
    i.write(HOST, 0, 4, 1)
    a.pba_read(A_NR)
    return i


def s_function_mask_and_reset():
    """All 70 vectors (the second PBA word too), signals held back by the
    function mask, a signal out of range, then an FLR and a smaller setup."""
    i = Input()
    a = a_fn(i)
    a.capability_init(A_NR, A_NR)
    a.ctrl(ENABLE | MASKALL)
    for v in (1, 63, 64, 69):
        i.write(HOST, 0, 4, v)
    i.write(HOST, 0, 4, A_NR + 1)
    a.pba_read(A_NR)
    a.ctrl(ENABLE)
    a.pba_read(A_NR)
    # 8-byte table accesses: address in one, data and control in another
    i.write(A_BAR, A_TABLE + 16 * 65, 8, 0xfee01000).write(A_BAR, A_TABLE + 16 * 65 + 8, 8, 0x1_00000051)
    i.read(A_BAR, A_TABLE + 16 * 65, 8).read(A_BAR, A_TABLE + 16 * 65 + 8, 8)
    i.write(HOST, 0, 4, 65)
    i.write(HOST, 1, 1, 0)  # FLR
    a.pba_read(A_NR)
    a.capability_init(A_NR, 2)
    i.write(HOST, 0, 4, 0).write(HOST, 0, 4, 1)
    return i


def s_virtio_pci():
    """Linux's virtio-pci: vectors for the config and each queue, MSI-X on,
    the driver up, then the device's interrupts, one while masked."""
    i = Input()
    b = b_fn(i)
    b.capability_init(B_NR, B_NR)
    i.write(B_BAR, STATUS, 1, 0).write(B_BAR, STATUS, 1, 1).write(B_BAR, STATUS, 1, 3)
    i.write(B_BAR, DFSELECT, 4, 1).read(B_BAR, DFSELECT + 4, 4)
    i.write(B_BAR, GFSELECT, 4, 1).write(B_BAR, GF, 4, 1).write(B_BAR, STATUS, 1, 0x0b)
    i.write(B_BAR, MSIX_CONFIG, 2, 0).read(B_BAR, MSIX_CONFIG, 2)
    for q in range(2):
        i.write(B_BAR, Q_SELECT, 2, q).write(B_BAR, Q_MSIX, 2, q + 1).read(B_BAR, Q_MSIX, 2)
    i.write(B_BAR, STATUS, 1, 0x0f)
    i.write(HOST, 2, 1, 0).write(HOST, 2, 1, 1)
    b.mask(2, True)
    i.write(HOST, 2, 1, 1)
    b.pba_read(B_NR)
    b.mask(2, False)
    i.write(HOST, 3, 1, 0)  # the device needs a reset: the config vector
    i.read(B_BAR, STATUS, 1)
    # MSI-X off: the same interrupt goes to INTx and the ISR
    b.shutdown(B_NR)
    i.write(HOST, 2, 1, 0)
    i.read(B_BAR, 0x1000, 1)
    return i


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus-msix')
    os.makedirs(out, exist_ok=True)
    for name, make in (('linux-msix-init', s_linux_msix_init),
                       ('function-mask-flr', s_function_mask_and_reset),
                       ('linux-virtio-pci', s_virtio_pci)):
        data = make().data
        assert len(data) <= 8192, (name, len(data))
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
