#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed inputs of fuzz_virtq into corpus/ (layout: fuzz_virtq.c)."""
import os
import struct
import sys

DESC, AVAIL, USED = 0x100, 0x200, 0x300
NEXT, WRITE, INDIRECT = 1, 2, 4


def header(size_log2, flags, capacity=64, discard=4, wz=4):
    return struct.pack('<BBHHHIBBH', size_log2, flags, DESC // 16, AVAIL // 2,
                       USED // 4, capacity, discard, wz, 0)


def image():
    return bytearray(0x900)


def desc(mem, table, i, addr, length, flags, nxt):
    struct.pack_into('<QIHH', mem, table + 16 * i, addr, length, flags, nxt)


def avail(mem, heads):
    struct.pack_into('<HH', mem, AVAIL, 0, len(heads))
    for i, h in enumerate(heads):
        struct.pack_into('<H', mem, AVAIL + 4 + 2 * i, h)


def read_request():
    """Queue of 8, one IN of one sector: header, data, status."""
    mem = image()
    struct.pack_into('<IIQ', mem, 0x400, 0, 0, 1)
    desc(mem, DESC, 0, 0x400, 16, NEXT, 1)
    desc(mem, DESC, 1, 0x600, 512, NEXT | WRITE, 2)
    desc(mem, DESC, 2, 0x800, 1, WRITE, 0)
    avail(mem, [0])
    return header(3, 0) + bytes(mem)


def indirect_write_and_discard():
    """INDIRECT + EVENT_IDX: an OUT through an indirect table, then a DISCARD."""
    mem = image()
    struct.pack_into('<IIQ', mem, 0x400, 1, 0, 2)
    struct.pack_into('<IIQ', mem, 0x410, 11, 0, 0)
    struct.pack_into('<QII', mem, 0x420, 5, 3, 0)
    desc(mem, DESC, 0, 0x500, 48, INDIRECT, 0)
    desc(mem, 0x500, 0, 0x400, 16, NEXT, 1)
    desc(mem, 0x500, 1, 0x600, 512, NEXT, 2)
    desc(mem, 0x500, 2, 0x800, 1, WRITE, 0)
    desc(mem, DESC, 1, 0x410, 32, NEXT, 2)
    desc(mem, DESC, 2, 0x801, 1, WRITE, 0)
    avail(mem, [0, 1])
    return header(3, 3) + bytes(mem)


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), 'corpus')
    os.makedirs(out, exist_ok=True)
    for name, data in (('read', read_request()),
                       ('indirect-write-discard', indirect_write_and_discard())):
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
