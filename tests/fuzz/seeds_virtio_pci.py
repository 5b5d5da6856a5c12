#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes fuzz_virtio_pci's seeds into corpus-virtio-pci/ (spaces: fuzz_virtio_pci.c)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seeds import Input  # noqa: E402
from seeds_virtio import (Ram, Driver, VERSION_1, INDIRECT_DESC, EVENT_IDX,  # noqa: E402
                          STATUS, NUM_QUEUES, DEVICE, BAR_GPA)

CFG, MMIO, BAR, HOST = range(4)
FEATURES = 1 << VERSION_1 | 1 << 5


def with_request(ram, q):
    # a virtio-blk-shaped request: header, a data buffer, a status byte
    q.chain([(0x2000, 16, False), (0x3000, 512, True), (0x3200, 1, True)])


def linux_probe_msix():
    ram = Ram()
    qs = [ram.queue(n) for n in range(3)]
    with_request(ram, qs[0])
    i = Input(ram.bytes())
    d = Driver(i, CFG, MMIO)
    d.enumerate()
    d.msix(4)
    d.probe(FEATURES, qs, config=((0, 8), (8, 2)))
    d.notify(0)
    i.write(HOST, 6, 1, 0)  # the dump
    return i


def linux_probe_intx_event_idx():
    ram = Ram()
    q = ram.queue(0, size=8)
    with_request(ram, q)
    i = Input(ram.bytes())
    d = Driver(i, CFG, MMIO)
    d.enumerate()
    d.probe(FEATURES | 1 << EVENT_IDX | 1 << INDIRECT_DESC, [q], vectors=False)
    d.notify(0)
    d.isr()
    d.isr()
    return i


def seabios_window():
    # SeaBIOS reaches the registers through VIRTIO_PCI_CAP_PCI_CFG when the
    # BAR sits above 4 GiB: bar, offset, length, then pci_cfg_data.
    i = Input()
    at = 0x94

    def win(off, size, value=None):
        i.write(CFG, at + 4, 1, 4)
        i.write(CFG, at + 8, 4, off)
        i.write(CFG, at + 12, 4, size)
        if value is None:
            i.read(CFG, at + 16, size)
        else:
            i.write(CFG, at + 16, size, value)

    win(STATUS, 1, 0)
    win(STATUS, 1, 1)
    win(STATUS, 1, 3)
    win(NUM_QUEUES, 2)
    win(0x00, 4, 1)
    win(0x04, 4)
    win(0x08, 4, 1)
    win(0x0c, 4, 1)
    win(STATUS, 1, 0xb)
    win(STATUS, 1)
    win(DEVICE, 4)
    return i


def bar_moves_after_driver_ok():
    ram = Ram()
    q = ram.queue(0)
    with_request(ram, q)
    i = Input(ram.bytes())
    d = Driver(i, CFG, MMIO)
    d.enumerate()
    d.msix(2)
    d.probe(FEATURES, [q])
    i.write(CFG, 0x20, 4, (BAR_GPA + 0x8000) & 0xffffffff)
    i.write(MMIO, 0x8000 + 0x3000, 2, 0)  # the notify at the BAR's new place
    i.write(HOST, 3, 1, 1)  # KVM now refuses ioeventfds
    i.write(CFG, 0x04, 2, 0)
    i.write(CFG, 0x04, 2, 6)
    i.write(HOST, 0, 1, 0)
    return i


def reset_and_reprobe_direct():
    # virtio_pci_remove/probe again (a driver unbind and bind), through BAR space
    ram = Ram()
    q = ram.queue(1)
    with_request(ram, q)
    i = Input(ram.bytes())
    d = Driver(i, CFG, BAR)
    d.probe(FEATURES, [q])
    d.notify(1)
    i.write(HOST, 1, 1, 0)  # the device finds the driver broken
    d.reset()
    d.probe(FEATURES | 1 << EVENT_IDX, [q])
    i.write(HOST, 5, 1, 0)  # a VMM reset
    return i


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus-virtio-pci')
    os.makedirs(out, exist_ok=True)
    for name, make in (('linux-probe-msix', linux_probe_msix),
                       ('linux-probe-intx-event-idx', linux_probe_intx_event_idx),
                       ('seabios-pci-cfg-window', seabios_window),
                       ('bar-moves-after-driver-ok', bar_moves_after_driver_ok),
                       ('reset-and-reprobe', reset_and_reprobe_direct)):
        make().save(os.path.join(out, name))


if __name__ == '__main__':
    main()
