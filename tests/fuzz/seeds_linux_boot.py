#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes fuzz_linux_boot's seeds into corpus-linux_boot/ (layout: fuzz_linux_boot.c).

Each seed is the 8-byte prefix (initrd size, command line length, RAM
shape) and a bzImage laid out as a 6.x kernel build lays it out, at the
boot protocol's offsets (Documentation/arch/x86/boot.rst), scaled down so
that it fits the target's few MiB of RAM.
"""
import os
import struct

MiB = 1 << 20
RSDP = 0x80           # shape bit: an RSDP is given
HIGH = 0x20           # shape bit: a region at 4 GiB too


def low_ram(mib_halves):
    """Shape bits 0-3: the region at 0 is 1 MiB + n * 512 KiB."""
    return mib_halves & 0xf


def bzimage(version=0x020f, xloadflags=0x3, setup_sects=1, pm_size=1024, loadflags=0x01,
            relocatable=1, align=2 * MiB, pref=1 * MiB, init_size=2 * MiB,
            cmdline_size=2047, initrd_max=0x7fffffff, syssize=None, header_len=0x26c):
    setup = ((setup_sects or 4) + 1) * 512
    img = bytearray(setup + pm_size)
    img[0:2] = b'MZ'                                   # the EFI stub's PE header starts here
    img[0x1f1] = setup_sects
    struct.pack_into('<I', img, 0x1f4, pm_size // 16 if syssize is None else syssize)
    struct.pack_into('<H', img, 0x1fa, 0xffff)         # vid_mode: normal
    struct.pack_into('<H', img, 0x1fe, 0xaa55)
    img[0x200] = 0xeb                                  # jmp over the header
    img[0x201] = header_len - 0x202
    img[0x202:0x206] = b'HdrS'
    struct.pack_into('<H', img, 0x206, version)
    struct.pack_into('<H', img, 0x20e, 0x3a00)         # kernel_version string offset
    img[0x211] = loadflags
    struct.pack_into('<I', img, 0x214, 0x100000)       # code32_start
    struct.pack_into('<I', img, 0x22c, initrd_max)
    struct.pack_into('<I', img, 0x230, align)
    img[0x234] = relocatable
    img[0x235] = 21                                    # min_alignment: 2 MiB
    struct.pack_into('<H', img, 0x236, xloadflags)
    struct.pack_into('<I', img, 0x238, cmdline_size)
    struct.pack_into('<Q', img, 0x250, 0xdeadbeef)     # setup_data: the loader's to clear
    struct.pack_into('<Q', img, 0x258, pref)
    struct.pack_into('<I', img, 0x260, init_size)
    for i in range(pm_size):
        img[setup + i] = (i * 7 + 3) & 0xff
    return bytes(img)


def seed(image, shape, initrd=0, cmdline=40):
    return struct.pack('<IHBB', initrd, cmdline, shape, 0) + image


SEEDS = {
    # Booted: a 2.15 kernel, 5 MiB of RAM, the RSDP passed.
    'boot-2.15': seed(bzimage(), low_ram(8) | RSDP),
    # Booted with an initrd, RAM above 4 GiB too (two e820 RAM entries).
    'boot-initrd-highmem': seed(bzimage(), low_ram(8) | HIGH | RSDP, initrd=0x10000),
    # 2.12, setup_sects 0 (four sectors), not relocatable: runs at pref_address.
    'boot-2.12-fixed': seed(bzimage(version=0x020c, setup_sects=0, relocatable=0,
                                    init_size=3 * MiB), low_ram(8) | RSDP, cmdline=0),
    # A header that ends early (0x201 says so): the rest of the zero page's header stays 0.
    'boot-short-header': seed(bzimage(header_len=0x248), low_ram(6)),
    # A command line of exactly cmdline_size bytes (the NUL not counted).
    'cmdline-at-limit': seed(bzimage(cmdline_size=40), low_ram(8), cmdline=40),
    # Refused as not bootable.
    'old-protocol': seed(bzimage(version=0x020b), low_ram(8)),
    'no-64bit-entry': seed(bzimage(xloadflags=0x2), low_ram(8)),
    'zimage': seed(bzimage(loadflags=0), low_ram(8)),
    'truncated': seed(bzimage(syssize=0x1000), low_ram(8)),
    'not-hdrs': seed(bytes(0x400), low_ram(8)),
    # Refused as not fitting.
    'cmdline-too-long': seed(bzimage(cmdline_size=16), low_ram(8)),
    'initrd-too-big': seed(bzimage(), low_ram(8), initrd=2 * MiB),
    'initrd-max-low': seed(bzimage(initrd_max=0x3fffff), low_ram(8), initrd=0x1000),
    'kernel-too-big': seed(bzimage(init_size=0x10000000), low_ram(15)),
    'ram-below-1mib': seed(bzimage(), 0x10),
    'no-low-ram': seed(bzimage(), 0x40 | HIGH),
    # pref_address + init_size past 2^64: once accepted, as the sum wrapped into RAM.
    'run-area-wraps': seed(bzimage(relocatable=0, pref=0xffffffffffe00000, init_size=0x300000),
                           low_ram(8)),
    'run-area-wraps-relocatable': seed(bzimage(align=0x80000000, pref=0xfffffffffff00000),
                                       low_ram(8)),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus-linux_boot')
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
