#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes fuzz_vfio_pci's seeds into corpus-vfio-pci/ (layout: fuzz_vfio_pci.c)."""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seeds import Input  # noqa: E402

CFG, LOW, HIGH, PIO, DEV = range(5)
HIGH_BASE = 0x80_0000_0000
ROM = 6

# device flags
CFG_4K, INTX, MMAP_OFF, ROM_OFF, MULTIFUNCTION, ROM_FILE = (1 << i for i in range(6))
# region flags
MMAP, SPARSE = 1, 2


class Device:
    """A device as the target reads it: flags, 7 regions, then config space."""

    def __init__(self, flags):
        self.flags = flags
        self.regions = [(0, 0, ())] * 7
        self.cfg = bytearray(4096 if flags & CFG_4K else 256)

    def region(self, i, size, flags=0, areas=()):
        self.regions[i] = (size, flags, areas)

    def put(self, off, fmt, *v):
        struct.pack_into('<' + fmt, self.cfg, off, *v)

    def cap(self, pos, cap_id, nxt):
        self.put(pos, 'BB', cap_id, nxt)

    def ext_cap(self, pos, cap_id, ver, nxt):
        self.put(pos, 'I', cap_id | ver << 16 | nxt << 20)

    def bytes(self):
        head = bytearray(128)
        head[0] = self.flags
        for i, (size, flags, areas) in enumerate(self.regions):
            struct.pack_into('<IB', head, 4 + 16 * i, size, flags)
            for a, (off_kib, size_kib) in enumerate(areas):
                struct.pack_into('<HH', head, 4 + 16 * i + 8 + 4 * a, off_kib, size_kib)
        return bytes(head) + bytes(self.cfg)


def gpu():
    """A GPU's function 0 (ids of an RTX 3090): registers in BAR 0 with the
    MSI-X table, VRAM apertures in 64-bit BARs 1 and 3, an I/O BAR 5 and a
    512 KiB ROM; PM, MSI, PCIe and MSI-X; AER, ACS and resizable BAR."""
    d = Device(CFG_4K | INTX | MULTIFUNCTION)
    d.region(0, 16 << 20, MMAP)
    d.region(1, 256 << 20, MMAP)
    d.region(3, 32 << 20, MMAP)
    d.region(5, 128)
    d.region(ROM, 512 << 10)
    d.put(0x00, 'HHHH', 0x10de, 0x2204, 0x0007, 0x0010)   # ids, command, status: caps
    d.put(0x08, 'I', 0x030000a1)                          # VGA, revision a1
    d.put(0x0e, 'B', 0x80)
    d.put(0x10, 'IIIIII', 0xfb000000, 0xe000000c, 0, 0xf000000c, 0, 0xe001)  # the host's
    d.put(0x2c, 'HH', 0x1043, 0x87b3)
    d.put(0x30, 'I', 0xfc000000)
    d.put(0x34, 'B', 0x60)
    d.put(0x3c, 'BB', 0xff, 1)                            # INTA
    d.cap(0x60, 0x01, 0x68)                               # PM
    d.put(0x62, 'HH', 0x0003, 0x0008)
    d.cap(0x68, 0x05, 0x78)                               # MSI, 64-bit, 1 vector
    d.put(0x6a, 'H', 0x0080)
    d.cap(0x78, 0x10, 0xb4)                               # PCIe v2 endpoint
    d.put(0x7a, 'H', 0x0002)
    d.put(0x7c, 'I', 0x10008fe1)                          # devcap: FLR, 512-byte payload
    d.put(0x80, 'HH', 0x2930, 0x0000)                     # devctl, devsta
    d.put(0x84, 'I', 0x00000104 | 16 << 4)                # lnkcap: 16 GT/s x16
    d.put(0x88, 'HH', 0x0040, 0x1104)                     # lnkctl, lnksta: 16 GT/s x16
    d.cap(0xb4, 0x11, 0x00)                               # MSI-X, 6 vectors in BAR 0
    d.put(0xb6, 'HII', 0x0005, 0x00b90000, 0x00ba0000)
    d.ext_cap(0x100, 0x0001, 2, 0x148)                    # AER
    d.put(0x108, 'I', 0x00400000)                         # uncorrectable mask
    d.ext_cap(0x148, 0x000d, 1, 0x158)                    # ACS
    d.put(0x14c, 'HH', 0x001f, 0x0000)
    d.ext_cap(0x158, 0x0015, 1, 0x000)                    # resizable BAR: BAR 1, 256 MiB
    d.put(0x15c, 'I', 0x0000fff0)
    d.put(0x160, 'I', 0x00000821)
    return d


def linux_probe_gpu():
    """What Linux does to the GPU at boot: identify it, size every BAR and the
    ROM with decode off, walk the capabilities, place the BARs, enable the
    device and bus mastering, set MSI-X up (masked, the table programmed
    through BAR 0, unmasked), read the ROM, take an interrupt; then the
    driver's unload: MSI-X and decode off."""
    i = Input(ram=gpu().bytes())
    i.read(CFG, 0x00, 4).read(CFG, 0x08, 4).read(CFG, 0x0e, 1).read(CFG, 0x2c, 4)
    i.read(CFG, 0x3d, 1).read(CFG, 0x04, 2)
    i.write(CFG, 0x04, 2, 0x0000)                         # decode off while sizing
    for bar in range(6):
        off = 0x10 + 4 * bar
        i.read(CFG, off, 4).write(CFG, off, 4, 0xffffffff).read(CFG, off, 4)
        i.write(CFG, off, 4, 0)
    i.read(CFG, 0x30, 4).write(CFG, 0x30, 4, 0xfffff800).read(CFG, 0x30, 4)
    i.write(CFG, 0x30, 4, 0)
    # capabilities, as pci_find_capability walks them; extended ones from 0x100
    i.read(CFG, 0x06, 2).read(CFG, 0x34, 1)
    for pos in (0x60, 0x68, 0x78, 0xb4):
        i.read(CFG, pos, 2).read(CFG, pos + 2, 2)
    i.read(CFG, 0x7c, 4).read(CFG, 0x80, 2).write(CFG, 0x80, 2, 0x2930)
    i.read(CFG, 0x84, 4).read(CFG, 0x92, 2).read(CFG, 0x100, 4)
    # the addresses the firmware gave (BARs 1 and 3 above 4 GiB)
    i.write(CFG, 0x10, 4, 0xc0000000)
    i.write(CFG, 0x14, 4, 0x0000000c).write(CFG, 0x18, 4, HIGH_BASE >> 32)
    i.write(CFG, 0x1c, 4, 0x1000000c).write(CFG, 0x20, 4, HIGH_BASE >> 32)
    i.write(CFG, 0x24, 4, 0xc001)
    i.write(CFG, 0x30, 4, 0xc1000000)
    i.write(CFG, 0x04, 2, 0x0003).write(CFG, 0x04, 2, 0x0007)
    # MSI-X: enabled with all masked, six vectors programmed, mask lifted
    table = 0xc0000000 + 0xb90000
    i.read(CFG, 0xb6, 2).write(CFG, 0xb6, 2, 0xc005)
    for v in range(6):
        e = table + 16 * v
        i.read(LOW, e + 12, 4).write(LOW, e, 4, 0xfee00000 | v << 12)
        i.write(LOW, e + 4, 4, 0).write(LOW, e + 8, 4, 0x41 + v).write(LOW, e + 12, 4, 1)
    i.write(CFG, 0xb6, 2, 0x8005)
    for v in range(6):
        i.write(LOW, table + 16 * v + 12, 4, 0)
    i.read(LOW, 0xc0000000 + 0xba0000, 8)                 # PBA
    # registers through BAR 0, VRAM through BARs 1 and 3, I/O through BAR 5
    i.read(LOW, 0xc0000000, 4).write(LOW, 0xc0000000 + 0x88000, 4, 0x1)
    i.write(HIGH, 0x100, 8, 0x0123456789abcdef).read(HIGH, 0x100, 8)
    i.read(HIGH, 0x1000_0000 + 0x40, 4).read(PIO, 0xc004, 2)
    # the ROM: enabled, its signature and header read, disabled
    i.write(CFG, 0x30, 4, 0xc1000001).read(LOW, 0xc1000000, 2).read(LOW, 0xc1000018, 2)
    i.write(CFG, 0x30, 4, 0xc1000000)
    # the device interrupts: vector 2; then one while vector 2 is masked, delivered on unmask
    i.write(DEV, 0, 1, 2)
    i.write(LOW, table + 16 * 2 + 12, 4, 1).write(DEV, 0, 1, 2).read(LOW, 0xc0ba0000, 8)
    i.write(LOW, table + 16 * 2 + 12, 4, 0)
    # the guest moves BAR 0; then unload
    i.write(CFG, 0x04, 2, 0x0004).write(CFG, 0x10, 4, 0xd0000000).write(CFG, 0x04, 2, 0x0007)
    i.write(CFG, 0xb6, 2, 0x0005).write(CFG, 0x04, 2, 0x0000)
    return i


def nic():
    """A NIC with MSI (64-bit, 8 vectors, per-vector masking) and INTx only,
    a 128 KiB BAR 0 the kernel lets us map but for a sparse hole, 256-byte
    config space."""
    d = Device(INTX)
    d.region(0, 128 << 10, MMAP | SPARSE, areas=((0, 64), (68, 60)))
    d.region(2, 32)
    d.put(0x00, 'HHHH', 0x8086, 0x10d3, 0x0000, 0x0010)
    d.put(0x08, 'I', 0x02000000)
    d.put(0x10, 'I', 0xf7c00000)
    d.put(0x18, 'I', 0xe001)
    d.put(0x34, 'B', 0xc8)
    d.put(0x3c, 'BB', 0x0b, 1)
    d.cap(0xc8, 0x01, 0xd0)
    d.cap(0xd0, 0x05, 0x00)
    d.put(0xd2, 'H', 0x0186)                               # 64-bit, 8 vectors, mask bits
    return d


def linux_msi_nic():
    """Linux's MSI set-up: address and data, four vectors with vector 3 masked,
    the device signalling vector 3 (pending), unmasked; then back to INTx."""
    i = Input(ram=nic().bytes())
    i.write(CFG, 0x10, 4, 0xffffffff).read(CFG, 0x10, 4).write(CFG, 0x10, 4, 0xc0000000)
    i.write(CFG, 0x18, 4, 0xffffffff).read(CFG, 0x18, 4).write(CFG, 0x18, 4, 0xc000)
    i.write(CFG, 0x04, 2, 0x0007)
    i.read(CFG, 0xd2, 2).write(CFG, 0xd4, 4, 0xfee01000).write(CFG, 0xd8, 4, 0)
    i.write(CFG, 0xdc, 2, 0x4050).write(CFG, 0xe0, 4, 0x8)
    i.write(CFG, 0xd2, 2, 0x01a7)                          # enable, 4 vectors
    i.write(DEV, 0, 1, 3).read(CFG, 0xe4, 4).write(CFG, 0xe0, 4, 0).read(CFG, 0xe4, 4)
    i.write(DEV, 0, 1, 1)
    i.read(LOW, 0xc0000000, 4).write(LOW, 0xc0010004, 4, 0xffff).read(PIO, 0xc000, 4)
    i.write(CFG, 0xd2, 2, 0x0186).write(DEV, 0, 1, 0)       # MSI off: INTx again
    i.write(CFG, 0x04, 2, 0x0400)
    return i


def capability_cycle():
    """Issue 18's finding: a capability list that loops back (0xfc -> 0x50)
    through an MSI-X capability with its table in BAR 7 and 2048 vectors,
    which leaked three arrays and 2048 eventfds per lap."""
    d = Device(CFG_4K)
    d.region(0, 4096, MMAP)
    d.region(1, 4096, MMAP)
    d.region(ROM, 0x8000)
    d.put(0x00, 'HHHH', 0x1234, 0x11e8, 0, 0x0010)
    d.put(0x08, 'I', 0x00ff0000)
    d.put(0x10, 'II', 0xfe000000, 0xfe100000)
    d.put(0x34, 'B', 0x40)
    d.cap(0x40, 0x01, 0x50)                                # PM
    d.cap(0x50, 0x05, 0x68)                                # MSI, 64-bit, 4 vectors
    d.put(0x52, 'H', 0x0084)
    d.cap(0x68, 0x13, 0x70)                                # AF, hidden
    d.cap(0x70, 0x10, 0x90)                                # PCIe
    d.cap(0x90, 0x11, 0xfc)                                # MSI-X: 2048 vectors in BAR 7
    d.put(0x92, 'HII', 0x07ff, 0x00000007, 0x00000807)
    d.cap(0xfc, 0x09, 0x50)                                # vendor, back to MSI
    d.put(0xfe, 'B', 4)
    d.ext_cap(0x100, 0x0001, 2, 0x140)
    d.ext_cap(0x140, 0x000d, 1, 0x000)
    i = Input(ram=d.bytes())
    pos = 0x34
    i.read(CFG, 0x06, 2).read(CFG, pos, 1)
    for pos in (0x40, 0x50, 0x70, 0xfc):
        i.read(CFG, pos, 2)
    i.read(CFG, 0x90, 4).read(CFG, 0x100, 4)
    return i


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus-vfio-pci')
    os.makedirs(out, exist_ok=True)
    for name, make in (('gpu-linux-probe', linux_probe_gpu),
                       ('nic-msi-masking', linux_msi_nic),
                       ('capability-cycle-bad-msix', capability_cycle)):
        make().save(os.path.join(out, name))


if __name__ == '__main__':
    main()
