#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes fuzz_pci's seeds into corpus-pci/ (spaces and machine: fuzz_pci.c).

What firmware and Linux do to a Q35 machine's PCI topology: OVMF's
PlatformPei opening ECAM through 0xCF8 and PciBusDxe numbering buses,
sizing and placing BARs, ROMs and bridge windows through ECAM; Linux's
type-1 probe, pci_setup_device's sizing with decode off, the PCIe port
driver's bring-up, a secondary bus reset, a BAR move and a ROM read.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seeds import Input  # noqa: E402

CF8, ECAM, MMIO, HIGH, PIO, HOST = range(6)
ECAM_BASE = 0xb0000000
HIGH_BASE = 1 << 32

MCH = (0, 0x00)
RP1 = (0, 0x08)
RP2 = (0, 0x10)
EPA = (0, 0x18)
EPB = (1, 0x00)  # behind root port 1, once its secondary bus is 1

# BAR index -> (kind, size); kind 'm32', 'm64', 'io'. ROM sizes apart.
EPA_BARS = {0: ('m32', 0x1000), 1: ('io', 32), 2: ('m64', 1 << 20), 4: ('m32', 16),
            5: ('io', 256)}
EPB_BARS = {0: ('m64', 16 << 20), 2: ('m32', 64 << 10), 3: ('io', 16)}

# Where OVMF would put them (see place()).
EPA_ADDR = {0: 0xc0100000, 1: 0xd100, 2: HIGH_BASE + 0x81000000, 4: 0xc0120000, 5: 0xd000}
EPA_ROM = 0xc0110000
EPB_ADDR = {0: HIGH_BASE + 0x80000000, 2: 0xc0000000, 3: 0xc000}
EPB_ROM = 0xc0010000


def conf1(bus, devfn, reg):
    return 0x80000000 | bus << 16 | devfn << 8 | (reg & 0xfc) | (reg & 0xf00) << 16


class Cfg:
    """Config accesses through 0xCF8/0xCFC or through ECAM at OVMF's base."""

    def __init__(self, i, ecam):
        self.i, self.ecam = i, ecam

    def read(self, fn, reg, size):
        bus, devfn = fn
        if self.ecam:
            self.i.read(ECAM, bus << 20 | devfn << 12 | reg, size)
        else:
            self.i.write(CF8, 0, 4, conf1(bus, devfn, reg)).read(CF8, 4 + (reg & 3), size)
        return self

    def write(self, fn, reg, size, value):
        bus, devfn = fn
        if self.ecam:
            self.i.write(ECAM, bus << 20 | devfn << 12 | reg, size, value)
        else:
            self.i.write(CF8, 0, 4, conf1(bus, devfn, reg)).write(CF8, 4 + (reg & 3), size, value)
        return self


def open_ecam(i, base=ECAM_BASE, length=0):
    # PlatformPei: PCIEXBAR high, then low with the size and the enable.
    c = Cfg(i, False)
    c.write(MCH, 0x64, 4, base >> 32).write(MCH, 0x60, 4, (base & 0xffffffff) | length << 1 | 1)
    c.read(MCH, 0x60, 4)
    return Cfg(i, True)


def pam_and_smram(c):
    for reg in range(0x90, 0x97):
        c.write(MCH, reg, 1, 0x33)
    c.write(MCH, 0x9d, 1, 0x02).write(MCH, 0x9e, 1, 0x38).read(MCH, 0x9e, 1)


def scan_bus0(c):
    for dev in range(32):
        c.read((0, dev << 3), 0, 4)
    for fn in (MCH, RP1, RP2, EPA):
        c.read(fn, 0x0e, 1).read(fn, 0x08, 4).read(fn, 0x06, 2)


def number_bridges(c):
    # PciBusDxe: primary 0, secondary n, subordinate 0xff while scanning, then n.
    for n, rp in ((1, RP1), (2, RP2)):
        c.write(rp, 0x18, 4, 0x00ff0000 | n << 8)
        c.read((n, 0), 0, 4)
        c.write(rp, 0x1a, 1, n)
    c.read(EPB, 0x0e, 1).read(EPB, 0x08, 4)


def size_bars(c, fn, bars, rom_probe=0xfffff800):
    for idx, (kind, _) in sorted(bars.items()):
        reg = 0x10 + 4 * idx
        c.read(fn, reg, 4).write(fn, reg, 4, 0xffffffff).read(fn, reg, 4).write(fn, reg, 4, 0)
        if kind == 'm64':
            c.read(fn, reg + 4, 4).write(fn, reg + 4, 4, 0xffffffff).read(fn, reg + 4, 4)
            c.write(fn, reg + 4, 4, 0)
    c.read(fn, 0x30, 4).write(fn, 0x30, 4, rom_probe).read(fn, 0x30, 4).write(fn, 0x30, 4, 0)


def place(c, fn, bars, addrs, rom):
    for idx, (kind, _) in sorted(bars.items()):
        reg = 0x10 + 4 * idx
        a = addrs[idx]
        c.write(fn, reg, 4, a & 0xffffffff)
        if kind == 'm64':
            c.write(fn, reg + 4, 4, a >> 32)
    c.write(fn, 0x30, 4, rom)


def bridge_windows(c):
    # Root port 1: I/O 0xc000-0xcfff, memory 0xc0000000-0xc00fffff,
    # prefetchable 0x1_8000_0000-0x1_80ff_ffff; root port 2 closed.
    c.read(RP1, 0x1c, 2).write(RP1, 0x1c, 2, 0xf0f0).read(RP1, 0x1c, 2)  # I/O probe
    c.write(RP1, 0x1c, 1, 0xc0).write(RP1, 0x1d, 1, 0xc0).write(RP1, 0x30, 4, 0)
    c.write(RP1, 0x20, 4, 0xc000c000)
    c.write(RP1, 0x24, 4, 0x80f18001).write(RP1, 0x28, 4, 1).write(RP1, 0x2c, 4, 1)
    c.write(RP2, 0x1c, 2, 0x00f0).write(RP2, 0x20, 4, 0x0000fff0)
    c.write(RP2, 0x24, 4, 0x0001fff1).write(RP2, 0x28, 4, 0).write(RP2, 0x2c, 4, 0)


def enable(c, fn, cmd=0x0007):
    c.read(fn, 0x04, 2).write(fn, 0x04, 2, cmd)


def ovmf_enumerate(i, ecam=True):
    c = open_ecam(i) if ecam else Cfg(i, False)
    if ecam:
        pam_and_smram(c)
    scan_bus0(c)
    number_bridges(c)
    size_bars(c, EPA, EPA_BARS)
    size_bars(c, EPB, EPB_BARS)
    place(c, EPA, EPA_BARS, EPA_ADDR, EPA_ROM)
    place(c, EPB, EPB_BARS, EPB_ADDR, EPB_ROM)
    bridge_windows(c)
    for fn in (RP1, RP2, EPB, EPA):
        enable(c, fn)
    return c


def touch_bars(i):
    """Reads and writes each placed BAR where it now decodes."""
    for addrs in (EPA_ADDR, EPB_ADDR):
        for idx, a in sorted(addrs.items()):
            bars = EPA_BARS if addrs is EPA_ADDR else EPB_BARS
            kind = bars[idx][0]
            if kind == 'io':
                i.read(PIO, a, 4).write(PIO, a, 1, 0x5a)
            elif a >= HIGH_BASE:
                i.read(HIGH, a - HIGH_BASE, 8).write(HIGH, a - HIGH_BASE, 4, 1)
            else:
                i.read(MMIO, a, 4).write(MMIO, a + 4, 4, 0xdeadbeef)


def s_ovmf():
    i = Input()
    ovmf_enumerate(i)
    touch_bars(i)
    return i


def s_ovmf_cf8_only():
    # The same through 0xCF8 alone: ECAM left off.
    i = Input()
    ovmf_enumerate(i, ecam=False)
    touch_bars(i)
    return i


def s_linux_type1_and_sizing():
    """arch/x86/pci/direct.c's probe, then pci_setup_device on each function."""
    i = Input()
    c = ovmf_enumerate(i)
    i.write(CF8, 3, 1, 0x01).read(CF8, 0, 4).write(CF8, 0, 4, 0x80000000).read(CF8, 0, 4)
    Cfg(i, False).read(MCH, 0x0a, 2).read(MCH, 0x00, 2)
    i.write(CF8, 0, 4, 0)
    # functions 1 of slots whose function 0 is not multi-function: absent
    Cfg(i, False).read((0, 0x19), 0, 4)
    c.read((0, 0x09), 0, 4).read((1, 0x01), 0, 4)
    # AMD's extended register bits through 0xCF8 (0x100: the ACS capability).
    Cfg(i, False).read(RP1, 0x100, 4).read(RP1, 0x104, 4)
    for fn, bars in ((EPA, EPA_BARS), (EPB, EPB_BARS)):
        c.read(fn, 0x00, 4).read(fn, 0x0e, 1).read(fn, 0x08, 4)
        c.read(fn, 0x04, 2).write(fn, 0x04, 2, 0x0004)  # decode off while sizing
        addrs = EPA_ADDR if fn == EPA else EPB_ADDR
        for idx, (kind, _) in sorted(bars.items()):
            reg = 0x10 + 4 * idx
            a = addrs[idx]
            c.read(fn, reg, 4).write(fn, reg, 4, 0xffffffff).read(fn, reg, 4)
            c.write(fn, reg, 4, a & 0xffffffff)
            if kind == 'm64':
                c.read(fn, reg + 4, 4).write(fn, reg + 4, 4, 0xffffffff).read(fn, reg + 4, 4)
                c.write(fn, reg + 4, 4, a >> 32)
        rom = EPA_ROM if fn == EPA else EPB_ROM
        c.read(fn, 0x30, 4).write(fn, 0x30, 4, 0xfffffffe).read(fn, 0x30, 4).write(fn, 0x30, 4, rom)
        c.write(fn, 0x04, 2, 0x0007)
    touch_bars(i)
    return i


def s_linux_pcie_port():
    """pci_scan_bridge, pci_read_bridge_windows and portdrv on both ports."""
    i = Input()
    c = ovmf_enumerate(i)
    for rp in (RP1, RP2):
        c.read(rp, 0x18, 4).read(rp, 0x1c, 2).read(rp, 0x24, 4).read(rp, 0x28, 4)
        c.write(rp, 0x28, 4, 0xffffffff).read(rp, 0x28, 4).write(rp, 0x28, 4, 0)
        # capability walk: PM, PCI Express, SSVID; then the extended list
        c.read(rp, 0x34, 1)
        for cap in (0x40, 0x48, 0x84):
            c.read(rp, cap, 2)
        c.read(rp, 0x100, 4).read(rp, 0x104, 4)
        c.read(rp, 0x4a, 2).read(rp, 0x4c, 4).read(rp, 0x54, 4).read(rp, 0x5c, 4)
        c.read(rp, 0x5a, 2).read(rp, 0x62, 2)             # LnkSta, SltSta
        c.write(rp, 0x44, 2, 0x0000)                       # D0
        c.write(rp, 0x58, 2, 0x0040)                       # LnkCtl: common clock
        c.write(rp, 0x58, 2, 0x0060).read(rp, 0x5a, 2)     # retrain, poll
        c.write(rp, 0x58, 2, 0x0050).read(rp, 0x5a, 2)     # link disable
        c.write(rp, 0x58, 2, 0x0040).read(rp, 0x5a, 2)
        c.write(rp, 0x58, 2, 0x0042)                       # ASPM L1
        c.write(rp, 0x50, 2, 0x283f).read(rp, 0x50, 2)     # DevCtl: reporting, MPS, MRRS
        c.write(rp, 0x60, 2, 0x1000).read(rp, 0x62, 2)     # SltCtl: DLLSCE
        c.write(rp, 0x62, 2, 0xffff)                       # SltSta RW1C
        c.write(rp, 0x64, 2, 0x0000).write(rp, 0x68, 4, 0x00010000)  # RootCtl, RootSta
        c.write(rp, 0x64, 2, 0x0008)                       # PME interrupt on
        c.write(rp, 0x106, 2, 0x001d).read(rp, 0x106, 2)   # ACS: SV RR CR UF
        c.write(rp, 0x3e, 2, 0x0003).write(rp, 0x1e, 2, 0xffff)
        c.write(rp, 0x44, 2, 0x0003).read(rp, 0x44, 2).write(rp, 0x44, 2, 0x0000)
    return i


def s_sbr_and_reset():
    """pci_reset_secondary_bus on port 1, then the host resets things."""
    i = Input()
    c = ovmf_enumerate(i)
    c.read(RP1, 0x3e, 2).write(RP1, 0x3e, 2, 0x0043).write(RP1, 0x3e, 2, 0x0003)
    c.read(EPB, 0x04, 2).read(EPB, 0x10, 4)
    place(c, EPB, EPB_BARS, EPB_ADDR, EPB_ROM)
    enable(c, EPB)
    c.write(RP2, 0x3e, 2, 0x0040).write(RP2, 0x3e, 2, 0)
    i.write(HOST, 0, 1, 0).write(HOST, 0, 1, 1)
    i.write(HOST, 1, 2, 3 | 4 << 3).write(HOST, 1, 2, 0)
    i.write(HOST, 2, 1, 1).write(HOST, 2, 1, 0)
    c.read(RP1, 0x18, 4).read(EPB, 0, 4)
    return i


def s_bar_and_ecam_moves():
    """Linux reassigns: decode off, move, on; a 64-bit BAR a half at a time;
    the ROM mapped and read; ECAM moved to 64 MiB at 0xe0000000 and off."""
    i = Input()
    c = ovmf_enumerate(i)
    c.write(EPA, 0x04, 2, 0x0004)
    c.write(EPA, 0x10, 4, 0xc0200000).write(EPA, 0x24, 4, 0xd200)
    c.write(EPA, 0x04, 2, 0x0007)
    i.read(MMIO, 0xc0200000, 4).read(PIO, 0xd200, 1)
    # 64-bit BAR moved below 4 GiB with decode on: low half, then high half
    c.write(EPA, 0x18, 4, 0xc0400000).write(EPA, 0x1c, 4, 0)
    i.read(MMIO, 0xc0400000, 8)
    c.write(EPA, 0x1c, 4, 1)
    # two BARs on top of each other, then apart
    c.write(EPA, 0x20, 4, 0xc0200000).write(EPA, 0x20, 4, 0xc0300000)
    # the ROM: enable, read the signature, disable
    c.write(EPA, 0x30, 4, EPA_ROM | 1)
    i.read(MMIO, EPA_ROM, 2).read(MMIO, EPA_ROM + 0x18, 2)
    c.write(EPA, 0x30, 4, EPA_ROM)
    c.write(EPB, 0x30, 4, EPB_ROM | 1)
    i.read(MMIO, EPB_ROM, 4)
    # ECAM: 64 MiB at 0xe0000000, then over a BAR, then off, through 0xCF8
    c.write(MCH, 0x60, 4, 0xe0000005)
    i.read(MMIO, 0xe0000000 + (0x18 << 12), 4).read(MMIO, 0xe0000000 + (1 << 20), 4)
    cf8 = Cfg(i, False)
    cf8.write(MCH, 0x60, 4, 0xc0000001).read(MCH, 0x60, 4)
    cf8.write(MCH, 0x60, 4, 0xb0000000).read(MCH, 0x60, 4)
    cf8.write(MCH, 0x64, 4, 0x0000000f).write(MCH, 0x60, 4, 0xfc000005)
    cf8.write(MCH, 0x64, 4, 0).write(MCH, 0x60, 4, 0xb0000001)
    # bus numbers changed under a device: port 1's secondary to 5
    Cfg(i, True).write(RP1, 0x19, 1, 5).read((5, 0), 0, 4).read(EPB, 0, 4)
    return i


def s_pciehp():
    """Linux's pciehp on root port 2 (a hot-plug slot, MSI at 0x8c): probe,
    a hot-add with the button, the button again to unplug, a surprise
    removal, then the same with INTx and a host reset of the port."""
    i = Input()
    c = ovmf_enumerate(i)
    sltctl, sltsta = 0x48 + 0x18, 0x48 + 0x1a
    c.read(RP2, 0x9c, 4).read(RP2, 0xa0, 4).read(RP2, 0xa8, 4)  # OVMF's hint
    c.write(RP2, 0x90, 4, 0xfee00000).write(RP2, 0x94, 4, 0)    # MSI address, data
    c.write(RP2, 0x98, 2, 0x4041).write(RP2, 0x8e, 2, 0x0001)
    c.write(RP2, 0x04, 2, 0x0006)                               # memory, bus master
    c.read(RP2, 0x48 + 0x14, 4).write(RP2, sltsta, 2, 0x011f)   # SltCap, clear events
    c.write(RP2, sltctl, 2, 0x17f1 & 0x1031 | 0x07c0)           # notifications on
    c.read(RP2, sltsta, 2).write(RP2, sltsta, 2, 0x0010)        # ISR: CC
    i.write(HOST, 3, 1, 0)                                      # hot-add
    i.write(HOST, 4, 1, 0)                                      # button
    c.read(RP2, sltsta, 2).write(RP2, sltsta, 2, 0x0001)
    c.write(RP2, sltctl, 2, 0x1231).write(RP2, sltsta, 2, 0x0010)  # blink
    c.write(RP2, sltctl, 2, 0x1231 & ~0x0400).read(RP2, 0x48 + 0x12, 2)  # power on
    c.read(RP2, sltsta, 2).write(RP2, sltsta, 2, 0x0110)
    c.write(RP2, sltctl, 2, 0x10f1 | 0x0100).write(RP2, sltsta, 2, 0x0010)
    i.write(HOST, 4, 1, 0)                                      # button: unplug
    c.read(RP2, sltsta, 2).write(RP2, sltsta, 2, 0x0001)
    c.write(RP2, sltctl, 2, 0x17f1).write(RP2, sltsta, 2, 0x0110)  # power off
    i.write(HOST, 5, 1, 0)                                      # removed after
    c.read(RP2, sltsta, 2).write(RP2, sltsta, 2, 0x0008)
    i.write(HOST, 3, 1, 0).write(HOST, 4, 1, 0)
    c.write(RP2, sltctl, 2, 0x1131).write(RP2, sltsta, 2, 0x011f)
    i.write(HOST, 5, 1, 1)                                      # surprise
    c.read(RP2, sltsta, 2).write(RP2, sltsta, 2, 0x0108)
    c.write(RP2, 0x8e, 2, 0).write(RP2, 0x04, 2, 0x0006)        # INTx from here
    i.write(HOST, 3, 1, 0).write(HOST, 4, 1, 0)
    c.read(RP2, 0x06, 2).write(RP2, 0x04, 2, 0x0406).write(RP2, 0x04, 2, 0x0006)
    i.write(HOST, 2, 1, 1)                                      # host resets port 2
    c.read(RP2, sltctl, 4)
    return i


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus-pci')
    os.makedirs(out, exist_ok=True)
    for name, make in (('ovmf-enumerate', s_ovmf),
                       ('ovmf-enumerate-cf8', s_ovmf_cf8_only),
                       ('linux-type1-sizing', s_linux_type1_and_sizing),
                       ('linux-pcie-port', s_linux_pcie_port),
                       ('linux-sbr-host-reset', s_sbr_and_reset),
                       ('linux-bar-ecam-moves', s_bar_and_ecam_moves),
                       ('linux-pciehp', s_pciehp)):
        data = make().data
        assert len(data) <= 8192, (name, len(data))
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
