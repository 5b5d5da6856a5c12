#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes fuzz_legacy's seeds into corpus-legacy/ (spaces: fuzz_legacy.c)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seeds import Input  # noqa: E402

UART, RTC, KBD, PM, LPC, HOST = range(6)


def uart_probe_and_echo():
    # Linux's 8250 probe: scratch, loopback, then the FIFO, THR with THRE
    # interrupts on, a typed byte read back with its interrupt.
    i = Input()
    i.write(UART, 7, 1, 0xa5).read(UART, 7, 1)
    i.write(UART, 4, 1, 0x10).read(UART, 6, 1).write(UART, 4, 1, 0x0b)
    i.write(UART, 3, 1, 0x80).write(UART, 0, 1, 1).write(UART, 1, 1, 0).write(UART, 3, 1, 3)
    i.write(UART, 2, 1, 0xc7).write(UART, 1, 1, 0x03)
    i.write(UART, 0, 1, ord('h')).read(UART, 2, 1).read(UART, 5, 1)
    i.write(HOST, 1, 4, 0x0a6b6f)
    i.read(UART, 2, 1).read(UART, 0, 1).read(UART, 0, 1).read(UART, 5, 1)
    return i


def uart_slow_reader():
    # Linux's setup (FIFO on, OUT2, THRE interrupts), then output faster
    # than the 4 KiB pipe's reader takes it: bursts until LSR shows THRE
    # clear, the reader taking some, the loop's drain raising THRI again,
    # an IIR read acknowledging it; OVMF's TEMT poll between bursts.
    i = Input()
    i.write(UART, 3, 1, 0x03).write(UART, 2, 1, 0xc7).write(UART, 4, 1, 0x0b)
    i.write(UART, 1, 1, 0x02).read(UART, 2, 1)
    for n in range(3):
        i.write(HOST, 5, 2, (0x41 + n) << 16 | 0xfff).read(UART, 5, 1).read(UART, 2, 1)
    i.write(HOST, 3, 2, 0x800).write(HOST, 4, 1, 0).read(UART, 2, 1).read(UART, 5, 1)
    for b in b'tail\r\n':
        i.write(UART, 0, 1, b)
    i.read(UART, 5, 1).write(HOST, 4, 1, 1).read(UART, 5, 1).read(UART, 2, 1)
    return i


def uart_stalled_reader():
    # Nobody reads: the buffer fills, the stall time runs out (THRE and
    # its interrupt back, bytes dropped), the reader comes back, and the
    # machine stops with output left (uart_tx_finish).
    i = Input()
    i.write(UART, 4, 1, 0x08).write(UART, 1, 1, 0x02)
    i.write(HOST, 5, 2, 0x30 << 16 | 0xfff).write(HOST, 5, 2, 0x50 << 16 | 0xfff)
    i.read(UART, 5, 1).write(HOST, 6, 1, 0).read(UART, 5, 1).read(UART, 2, 1)
    i.write(HOST, 5, 2, 0x70 << 16 | 0x100).read(UART, 5, 1)
    i.write(HOST, 3, 2, 0x1fff).write(HOST, 4, 1, 0).read(UART, 5, 1)
    i.write(HOST, 5, 2, 0x20 << 16 | 0xfff).write(HOST, 7, 1, 0).read(UART, 5, 1)
    return i


def rtc_time_and_cmos():
    i = Input()
    for reg in (0x0a, 0x0b, 0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32, 0x34, 0x5b):
        i.write(RTC, 0, 1, reg).read(RTC, 1, 1)
    i.write(RTC, 0, 1, 0x0b).write(RTC, 1, 1, 0x46)  # binary, 24 h, update interrupt
    i.write(RTC, 0, 1, 0x0c).read(RTC, 1, 1)
    i.write(RTC, 0, 1, 0x40).write(RTC, 1, 1, 0x5a).read(RTC, 1, 1)
    return i


def kbd_self_test_and_reset():
    i = Input()
    i.write(KBD, 4, 1, 0xaa).read(KBD, 4, 1).read(KBD, 0, 1)
    i.write(KBD, 4, 1, 0x20).read(KBD, 0, 1)
    i.write(KBD, 4, 1, 0x60).write(KBD, 0, 1, 0x45)
    i.write(KBD, 4, 1, 0xfe)
    return i


def acpi_enable_and_s5():
    # OVMF's ICH9 path: PMBASE, ACPI_EN, then the OS: SCI_EN, the power
    # button pressed and acknowledged, the PM timer, S5.
    i = Input()
    i.write(LPC, 0x40, 4, 0x601).write(LPC, 0x44, 1, 0x80).read(LPC, 0x40, 4)
    i.write(PM, 0x04, 2, 0x0001).write(PM, 0x02, 2, 0x0100)
    i.write(HOST, 0, 1, 1).read(PM, 0x00, 2).write(PM, 0x00, 2, 0x0100)
    i.read(PM, 0x08, 4).read(PM, 0x08, 4)
    i.write(PM, 0x04, 2, (5 << 10) | (1 << 13))
    i.write(HOST, 2, 1, 1).read(LPC, 0x44, 1)
    return i


def lpc_pirq_and_ids():
    i = Input()
    i.read(LPC, 0, 4).read(LPC, 8, 4).read(LPC, 0x0e, 1)
    for reg in (0x60, 0x61, 0x62, 0x63, 0x68, 0x69, 0x6a, 0x6b):
        i.write(LPC, reg, 1, 0x0b).read(LPC, reg, 1)
    i.write(LPC, 0x44, 1, 0x83).read(LPC, 0x44, 1).write(LPC, 0xf0, 4, 0xfed1c001)
    return i


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus-legacy')
    os.makedirs(out, exist_ok=True)
    for name, make in (('uart-probe-echo', uart_probe_and_echo),
                       ('uart-slow-reader', uart_slow_reader),
                       ('uart-stalled-reader', uart_stalled_reader),
                       ('rtc-time-cmos', rtc_time_and_cmos),
                       ('i8042-self-test-reset', kbd_self_test_and_reset),
                       ('acpi-enable-button-s5', acpi_enable_and_s5),
                       ('lpc-pirq-ids', lpc_pirq_and_ids)):
        make().save(os.path.join(out, name))


if __name__ == '__main__':
    main()
