#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes fuzz_fw_cfg's seeds into corpus-fw_cfg/ (spaces: fuzz_fw_cfg.c).

Each DMA transfer needs its own FWCfgDmaAccess in the initial guest RAM
(the target's guest writes RAM only through the device), so the seeds lay
them out one after another from ACCESS, and the buffers from BUF.
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seeds import Input  # noqa: E402

PORTS, HOST = range(2)
SELECTOR, DATA, DMA_HIGH, DMA_LOW = 0, 1, 4, 8
ERROR, READ, SKIP, SELECT, WRITE = 0x01, 0x02, 0x04, 0x08, 0x10

SIGNATURE, ID, FILE_DIR = 0x00, 0x01, 0x19
KERNEL_SIZE, INITRD_SIZE, KERNEL_DATA, INITRD_DATA = 0x08, 0x0b, 0x11, 0x12
CMDLINE_SIZE, CMDLINE_DATA, SETUP_SIZE, SETUP_DATA = 0x14, 0x15, 0x17, 0x18
# fuzz_fw_cfg.c adds the files in this order, from key 0x20.
E820, MMIO64, TABLES, RSDP, LOADER, BOOTORDER, VMGENID, SMI_FEATURES = range(0x20, 0x28)

ACCESS = 0x100  # FWCfgDmaAccess structures, 16 bytes apart
WDATA = 0x800   # what the guest writes to a file
BUF = 0x1000    # where reads go (zeros in the input: not stored)


class Guest:
    """Guest RAM with a run of FWCfgDmaAccess structures, and the accesses."""

    def __init__(self):
        self.ram = bytearray(BUF)
        self.accesses = []
        self.next_access = ACCESS

    def access(self, control, length, addr):
        at = self.next_access
        self.next_access += 16
        struct.pack_into('>IIQ', self.ram, at, control, length, addr)
        return at

    def data(self, at, payload):
        self.ram[at:at + len(payload)] = payload

    def select(self, key):
        self.accesses.append((True, PORTS, SELECTOR, 2, key))

    def port_read(self, n):
        self.accesses += [(False, PORTS, DATA, 1, 0)] * n

    def kick(self, at):
        # OVMF's QemuFwCfgLib: two IoWrite32 of the byte-swapped halves, high first.
        self.accesses.append((True, PORTS, DMA_HIGH, 4, swap32(at >> 32)))
        self.accesses.append((True, PORTS, DMA_LOW, 4, swap32(at & 0xffffffff)))

    def kick64(self, at):
        # SeaBIOS: one outl pair or, here, a single 64-bit write of the swapped address.
        self.accesses.append((True, PORTS, DMA_HIGH, 8, swap64(at)))

    def dma(self, control, length, addr):
        self.kick(self.access(control, length, addr))

    def read_item(self, key, length, addr):
        self.dma(key << 16 | SELECT | READ, length, addr)

    def input(self):
        i = Input(ram=bytes(self.ram).rstrip(b'\0'))
        for write, space, offset, size, value in self.accesses:
            i.access(write, space, offset, size, value)
        return i


def swap32(v):
    return struct.unpack('<I', struct.pack('>I', v))[0]


def swap64(v):
    return struct.unpack('<Q', struct.pack('>Q', v))[0]


def ovmf_probe_and_dir():
    """QemuFwCfgLib's probe (signature, ID through the ports), then the directory by DMA."""
    g = Guest()
    g.select(SIGNATURE)
    g.port_read(4)
    g.select(ID)
    g.port_read(4)
    g.read_item(FILE_DIR, 4, BUF)
    for i in range(8):
        g.dma(READ, 64, BUF + 4 + 64 * i)
    return g


def ovmf_e820_and_acpi():
    """PlatformPei's etc/e820, then AcpiPlatformDxe: the loader script, tables, RSDP."""
    g = Guest()
    g.read_item(E820, 20 * 4, BUF)
    g.read_item(LOADER, 128 * 24, BUF + 0x100)
    g.read_item(TABLES, 0x2000, BUF + 0x1000)
    g.read_item(RSDP, 36, BUF + 0x3000)
    g.read_item(MMIO64, 8, BUF + 0x3100)
    return g


def ovmf_write_pointer():
    """The table loader's WRITE_POINTER: select, skip to the offset, write 8 bytes."""
    g = Guest()
    g.data(WDATA, struct.pack('<Q', 0x7ffe1000))
    g.dma(VMGENID << 16 | SELECT | SKIP, 0, 0)
    g.dma(WRITE, 8, WDATA)
    g.read_item(VMGENID, 8, BUF + 0x100)
    # ... and SMM feature negotiation: read, write back, one byte past the end refused.
    g.data(WDATA + 8, struct.pack('<Q', 3))
    g.dma(SMI_FEATURES << 16 | SELECT | WRITE, 8, WDATA + 8)
    g.dma(SMI_FEATURES << 16 | SELECT | SKIP, 4, 0)
    g.dma(WRITE, 8, WDATA + 8)
    return g


def ovmf_kernel_loader():
    """QemuKernelLoaderFsDxe: sizes through the ports, data (and the initrd reader) by DMA."""
    g = Guest()
    for key in (KERNEL_SIZE, SETUP_SIZE, CMDLINE_SIZE, INITRD_SIZE):
        g.select(key)
        g.port_read(4)
    g.read_item(SETUP_DATA, 2048, BUF)
    g.read_item(KERNEL_DATA, 1000, BUF + 0x800)
    g.read_item(CMDLINE_DATA, 64, BUF + 0xc00)
    g.read_item(INITRD_DATA, 0x800, BUF + 0x1000)
    g.dma(READ, 0x800, BUF + 0x1800)  # the second half crosses the failing sector
    g.dma(INITRD_DATA << 16 | SELECT | SKIP, 0x910, 0)
    g.dma(READ, 0x100, BUF + 0x2000)
    return g


def linux_sysfs():
    """Linux's qemu_fw_cfg: signature and ID, the directory byte by byte, vmcoreinfo by DMA."""
    g = Guest()
    g.select(SIGNATURE)
    g.port_read(4)
    g.select(ID)
    g.port_read(4)
    g.select(FILE_DIR)
    g.port_read(4 + 64 * 2)
    g.select(BOOTORDER)
    g.port_read(40)
    g.data(WDATA, struct.pack('<Q', 0x12345678))
    g.kick64(g.access(SMI_FEATURES << 16 | SELECT | WRITE, 8, WDATA))
    g.accesses.append((False, PORTS, DMA_HIGH, 4, 0))  # the "QEMU CFG" signature
    g.accesses.append((False, PORTS, DMA_LOW, 4, 0))
    return g


def bad_transfers():
    """Transfers a broken guest makes: into the hole, past RAM, a structure outside RAM."""
    g = Guest()
    g.read_item(TABLES, 0x100, 0x10000 - 0x80)     # runs off the end of RAM
    g.read_item(TABLES, 0x100, 0x80000)            # in the hole
    g.read_item(E820, 16, 0x100000 + 0xff8)        # past the end of the high block
    g.dma(E820 << 16 | SELECT | WRITE, 4, WDATA)   # not writable
    g.dma(0x7777 << 16 | SELECT | READ, 16, BUF)   # no such item: zeros
    g.kick(0xfff8)                                 # structure half outside RAM
    g.kick(0x200000)                               # structure outside RAM
    g.data(WDATA, b'\xaa' * 64)
    g.read_item(MMIO64, 64, WDATA)                 # 5 bytes, then zeros over the 0xaa
    g.dma(MMIO64 << 16 | SELECT | SKIP, 1000, 0)   # skip past the end
    g.port_read(2)
    g.dma(READ, 8, WDATA)
    g.read_item(TABLES, 64, g.next_access - 8)     # a read over its own structure, and on
    return g


def host_replaces_items():
    """The host replaces the selected item (shrinking it) and adds a file meanwhile."""
    g = Guest()
    g.select(CMDLINE_DATA)
    g.port_read(20)
    g.accesses.append((True, HOST, 0, 4, 0x00000800))   # CMDLINE_DATA, 8 bytes
    g.port_read(4)
    g.accesses.append((True, HOST, 2, 4, 0x100))        # opt/fuzz/0
    g.read_item(FILE_DIR, 4 + 64 * 9, BUF)
    g.accesses.append((True, HOST, 1, 4, 0x40))         # a short initrd reader
    g.read_item(INITRD_DATA, 0x80, BUF + 0x400)
    return g


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus-fw_cfg')
    os.makedirs(out, exist_ok=True)
    for name, make in (('ovmf-probe-dir', ovmf_probe_and_dir),
                       ('ovmf-e820-acpi', ovmf_e820_and_acpi),
                       ('ovmf-write-pointer', ovmf_write_pointer),
                       ('ovmf-kernel-loader', ovmf_kernel_loader),
                       ('linux-sysfs', linux_sysfs),
                       ('bad-transfers', bad_transfers),
                       ('host-replaces-items', host_replaces_items)):
        make().input().save(os.path.join(out, name))


if __name__ == '__main__':
    main()
