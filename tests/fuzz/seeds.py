#!/usr/bin/python3
"""Writes inputs in the layout of tests/fuzz/fuzz_io.h, for seed corpora.

    from seeds import Input
    i = Input(ram=b'...')          # guest RAM at gpa 0 (optional)
    i.write(space, offset, size, value)
    i.read(space, offset, size)
    i.save('tests/fuzz/corpus-uart/echo')
"""
import struct

SIZES = {1: 0, 2: 1, 4: 2, 8: 3}


class Input:
    def __init__(self, ram=b''):
        assert len(ram) <= 64 * 1024
        self.data = struct.pack('<H', len(ram)) + ram

    def access(self, write, space, offset, size, value=0):
        op = (1 if write else 0) | (SIZES[size] << 1) | (space << 3)
        self.data += struct.pack('<BIQ', op, offset, value & (2**64 - 1))
        return self

    def write(self, space, offset, size, value):
        return self.access(True, space, offset, size, value)

    def read(self, space, offset, size):
        return self.access(False, space, offset, size)

    def save(self, path):
        with open(path, 'wb') as f:
            f.write(self.data)
