#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes fuzz_pflash's seeds into corpus-pflash/ (spaces: fuzz_pflash.c).

The input's "guest RAM" is the start of the VARS flash (the rest erased):
here the firmware volume and variable store headers OVMF_VARS.fd begins
with, so the sequences run against what OVMF finds there.
"""
import os
import struct
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seeds import Input  # noqa: E402

VARS, CODE, HOST = range(3)
VARS_SIZE = 132 * 4096
CODE_SIZE = 8 * 4096

PROGRAM, ERASE, CLEAR_STATUS, READ_STATUS = 0x10, 0x20, 0x50, 0x70
READ_ID, QUERY, CONFIRM, READ_ARRAY = 0x90, 0x98, 0xd0, 0xff

NV_DATA_FV = uuid.UUID('fff12b8d-7696-4c8b-a985-2747075b4f50')
AUTH_VAR_STORE = uuid.UUID('aaf32c78-947b-439a-a180-2e144ec37792')
GLOBAL_VARIABLE = uuid.UUID('8be4df61-93ca-11d2-aa0d-00e098032b8c')
VAR_START = 0x48 + 0x1c  # after the FV header and the variable store header


def vars_head():
    """EFI_FIRMWARE_VOLUME_HEADER (one block map entry) and VARIABLE_STORE_HEADER."""
    fv = bytes(16) + NV_DATA_FV.bytes_le + struct.pack(
        '<Q4sIHHHBB', VARS_SIZE, b'_FVH', 0x4feff, 0x48, 0, 0, 0, 2)
    fv += struct.pack('<IIII', VARS_SIZE // 4096, 4096, 0, 0)
    store = AUTH_VAR_STORE.bytes_le + struct.pack('<IBBHI', 0x40000 - 0x48, 0x5a, 0xfe, 0, 0)
    return fv + store


def variable(name, data):
    """An authenticated variable as VariableRuntimeDxe writes it: header, name, data."""
    name16 = (name + '\0').encode('utf-16-le')
    hdr = struct.pack('<HBBI', 0x55aa, 0x3f, 0, 0x7)  # StartId, State ADDED, attrs NV|BS|RT
    hdr += struct.pack('<QI', 0, 0) + bytes(16)        # MonotonicCount, PubKeyIndex, TimeStamp
    hdr += struct.pack('<II', len(name16), len(data)) + GLOBAL_VARIABLE.bytes_le
    return hdr + name16 + data


def program_bytes(i, space, offset, payload):
    """QemuFlashWrite: 0x10 then the byte, for every byte; then read array."""
    for n, b in enumerate(payload):
        i.write(space, offset + n, 1, PROGRAM).write(space, offset + n, 1, b)
    i.write(space, offset + len(payload) - 1, 1, READ_ARRAY)


def erase_block(i, space, base):
    """QemuFlashEraseBlock: 0x20, 0xD0 at the block, then read array."""
    i.write(space, base, 1, ERASE).write(space, base, 1, CONFIRM)
    i.read(space, base, 1)  # the status, ready
    i.write(space, base, 1, READ_ARRAY)


def read_back(i, space, offset, n):
    for off in range(offset, offset + n, 8):
        i.read(space, off, 8)


def ovmf_probe():
    """QemuFlashDetected on VARS: clear status reads the array, read status reads 0,
    then the byte programmed over itself and the status read for write protection."""
    i = Input(ram=vars_head())
    off = 0x10  # the first byte of block 0 that is not 0x00, 0x50 or 0x70
    for o in range(0, off + 1):
        i.read(VARS, o, 1)
    i.write(VARS, off, 1, CLEAR_STATUS).read(VARS, off, 1)
    i.write(VARS, off, 1, READ_STATUS).read(VARS, off, 1)
    i.write(VARS, off, 1, PROGRAM).write(VARS, off, 1, vars_head()[off])
    i.write(VARS, off, 1, READ_STATUS).read(VARS, off, 1)
    i.write(VARS, off, 1, CLEAR_STATUS)
    i.write(VARS, off, 1, READ_STATUS).read(VARS, off, 1)  # 0 again: ready cleared too
    i.write(VARS, off, 1, READ_ARRAY)
    read_back(i, VARS, 0, 0x48)
    return i


def ovmf_variable_write():
    """SetVariable(BootOrder): the variable's bytes programmed one by one, its State
    byte updated in place, read back; flushed, and the VMM restarted."""
    i = Input(ram=vars_head())
    var = variable('BootOrder', struct.pack('<HH', 1, 0))
    program_bytes(i, VARS, VAR_START, var)
    program_bytes(i, VARS, VAR_START + 2, bytes([0x3c]))  # State: ADDED & ~IN_DELETED_TRANSITION
    read_back(i, VARS, VAR_START, len(var))
    i.write(HOST, 0, 1, 1)
    i.write(HOST, 1, 1, 1)
    read_back(i, VARS, VAR_START, len(var))
    return i


def ovmf_reclaim():
    """Reclaim through the fault-tolerant write area: erase the spare blocks, program
    a block's worth of variables there, erase the working block, read it all back."""
    i = Input(ram=vars_head())
    for base in (0x42000, 0x43000):
        erase_block(i, VARS, base)
    program_bytes(i, VARS, 0x42000, variable('Lang', b'eng\0'))
    program_bytes(i, VARS, 0x42fc0, variable('Timeout', b'\x05\x00'))  # into the next block
    erase_block(i, VARS, 0x41000)
    program_bytes(i, VARS, 0x41000, b'\x2b\x29\x58\x9e\x68\x7c\x7d\x49')
    read_back(i, VARS, 0x42000, 0x40)
    i.write(HOST, 1, 1, 1)
    read_back(i, VARS, 0x41000, 16)
    erase_block(i, VARS, 0x42000)  # the spare, once copied back
    read_back(i, VARS, 0x42ff8, 16)
    return i


def cfi_and_id():
    """What a CFI driver reads: the query table, then the identifier codes."""
    i = Input(ram=vars_head())
    i.write(VARS, 0x55, 1, QUERY)
    for o in range(0x10, 0x40):
        i.read(VARS, o, 1)
    i.read(VARS, 0x1010, 4)
    i.write(VARS, 0, 1, READ_ID)
    for o in (0, 1, 2, 3, 0x1000, 0x1001, 0x1002):
        i.read(VARS, o, 1)
    i.write(VARS, 0, 1, READ_ARRAY).read(VARS, 0, 8)
    return i


def readonly_code():
    """OVMF probing CODE (read-only): program and erase refused, status says so."""
    i = Input(ram=vars_head())
    i.read(CODE, 0, 1)
    i.write(CODE, 0, 1, CLEAR_STATUS).read(CODE, 0, 1)
    i.write(CODE, 0, 1, READ_STATUS).read(CODE, 0, 1)
    i.write(CODE, 0, 1, PROGRAM).write(CODE, 0, 1, 0xaa).read(CODE, 0, 1)
    i.write(CODE, 0, 1, CLEAR_STATUS)
    i.write(CODE, 0x1000, 1, ERASE).write(CODE, 0x1000, 1, CONFIRM).read(CODE, 0x1000, 1)
    i.write(CODE, 0, 1, READ_ID).read(CODE, 2, 1)
    i.write(CODE, 0, 1, CLEAR_STATUS).read(CODE, 0x1000, 8)
    i.read(CODE, CODE_SIZE - 4, 8).read(CODE, CODE_SIZE + 16, 4)
    i.write(CODE, CODE_SIZE + 16, 1, PROGRAM)
    return i


def odd_accesses():
    """Wide and unaligned programs (one across a block), sequences OVMF never makes,
    accesses past the end, and the mode hook removed and put back."""
    i = Input(ram=vars_head())
    i.write(VARS, 0x2000, 1, PROGRAM).write(VARS, 0x2000, 2, 0x1234)
    i.write(VARS, 0x2004, 1, 0x40).write(VARS, 0x2004, 4, 0xdeadbeef)
    i.write(VARS, 0x2008, 1, PROGRAM).write(VARS, 0x2008, 8, 0x0123456789abcdef)
    i.write(VARS, 0x2ffc, 1, PROGRAM).write(VARS, 0x2ffc, 8, 0)  # crosses into 0x3000
    i.read(VARS, 0x2ffc, 1)
    i.write(VARS, 0x2000, 1, READ_ARRAY).read(VARS, 0x2000, 8).read(VARS, 0x2ff8, 8)
    i.write(VARS, 0x3000, 1, ERASE).write(VARS, 0x3000, 1, PROGRAM).read(VARS, 0, 1)
    i.write(VARS, 0x3000, 1, ERASE).write(VARS, 0x3000, 1, READ_ARRAY).read(VARS, 0x3000, 2)
    i.write(HOST, 2, 1, 1)
    i.write(VARS, 0, 1, READ_STATUS).write(VARS, 0, 1, 0x60).read(VARS, 0, 4)
    i.write(HOST, 2, 1, 1)
    i.write(VARS, 0, 1, READ_STATUS).write(VARS, 0, 2, 0xffff)
    i.read(VARS, VARS_SIZE - 2, 4).read(VARS, VARS_SIZE + 100, 8)
    i.write(VARS, VARS_SIZE - 1, 1, PROGRAM).write(VARS, VARS_SIZE - 1, 2, 0x5555)
    i.read(VARS, VARS_SIZE - 1, 1)
    return i


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus-pflash')
    os.makedirs(out, exist_ok=True)
    for name, make in (('ovmf-probe', ovmf_probe),
                       ('ovmf-variable-write', ovmf_variable_write),
                       ('ovmf-reclaim', ovmf_reclaim),
                       ('cfi-and-id', cfi_and_id),
                       ('readonly-code', readonly_code),
                       ('odd-accesses', odd_accesses)):
        make().save(os.path.join(out, name))


if __name__ == '__main__':
    main()
