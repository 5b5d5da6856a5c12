/* SPDX-License-Identifier: MIT */
#ifndef DEVICES_DEVICES_H
#define DEVICES_DEVICES_H

#include <stdint.h>
#include <stddef.h>

#include "../core/bus.h"
#include "../core/platform.h"
#include "../core/power.h"

/*
 * What a device may ask of the machine. Devices never touch a KVM fd:
 * the VMM fills these in (KVM_IRQ_LINE, a shutdown request), and unit
 * tests fill them with recorders.
 */
/*
 * 16550A UART. Transmitted bytes go to out_fd. Received bytes come from
 * uart_input() (called from the VMM's console thread), and raise the
 * interrupt the guest enabled: the guest never has to poll. The VMM must
 * ignore SIGPIPE: a vanished reader of out_fd is then EPIPE, and the byte
 * is dropped.
 *
 * Neither a vCPU nor the VMM ever waits on out_fd's reader (except in
 * uart_tx_finish(), for as long as it is told). Transmitted bytes go
 * through a 4 KiB buffer, written at once as far as the stream takes
 * them; out_fd may be blocking: the UART writes through a non-blocking
 * description of its own (a pipe's or terminal's, reopened), never
 * changing out_fd's flags. While the buffer has no room for 16 bytes the
 * guest sees LSR.THRE clear (and TEMT while anything waits); the THRE
 * interrupt comes when room is back. A reader that takes nothing for 2 s
 * (uart_set_tx_stall_ms()) is given up on until it takes a byte again:
 * THRE and TEMT read as set, and the bytes that find the buffer full are
 * dropped; those it holds still go out in order. Bytes written while
 * there was room are never dropped otherwise (only EPIPE and other
 * errors of out_fd lose them).
 * Register window: 8 ports.
 */
struct uart;
struct pollfd;
extern const struct bus_ops uart_ops;
struct uart *uart_new(const char *name, const struct irq_line *irq, int out_fd);
/*
 * Queues input; returns how many bytes fitted in the receive FIFO (4096
 * bytes, far more than a real 16550A's 16, so the console thread rarely
 * has to retry). Returns 0 while the guest has the UART in loopback mode:
 * the receive pin is disconnected then, as on the real chip.
 */
size_t uart_input(struct uart *uart, const uint8_t *buf, size_t len);
/*
 * The host side of the transmitter, for the VMM's loop. uart_tx_poll()
 * fills *p with what to poll: out_fd (POLLOUT) while output waits, else
 * an eventfd the UART signals when output starts waiting. It returns the
 * longest the loop may sleep (ms; -1: no limit) before it calls
 * uart_tx_drain() in any case: when a stalled reader is to be given up
 * on. uart_tx_drain() writes what the stream takes now, gives up on a
 * stalled reader, and raises the THRE interrupt when the guest may write
 * again; call it when p is ready or the time is up (any other time is
 * harmless).
 */
int uart_tx_poll(struct uart *uart, struct pollfd *p);
void uart_tx_drain(struct uart *uart);
/*
 * When the machine has stopped: writes what is still buffered, waiting for
 * the stream at most timeout_ms in all, and no longer than the stall time
 * without progress; drops the rest (and says so on stderr, where that is
 * not the same stream).
 */
void uart_tx_finish(struct uart *uart, unsigned timeout_ms);
/* How long a reader may take nothing before the guest stops waiting for it (default 2000 ms). */
void uart_set_tx_stall_ms(struct uart *uart, unsigned ms);
void uart_free(struct uart *uart);

/*
 * MC146818 CMOS RTC with its 128 bytes of CMOS RAM, on ports 0x70/0x71.
 * Time comes from the host's clock (UTC) at read time.
 */
struct rtc;
extern const struct bus_ops rtc_ops;
struct rtc *rtc_new(const struct irq_line *irq);
/*
 * CMOS byte setter for the VMM (memory-size bytes and the like). Sets the
 * raw byte; the clock registers (0-9, century 0x32) are computed at read
 * time, so setting them here has no visible effect.
 */
void rtc_cmos_set(struct rtc *rtc, uint8_t index, uint8_t value);
/*
 * Fills the memory-size bytes firmware reads: base memory (0x15/0x16),
 * extended memory above 1 MiB in KiB (0x17/0x18, 0x30/0x31), memory
 * above 16 MiB below 4 GiB in 64 KiB units (0x34/0x35) and memory above
 * 4 GiB in 64 KiB units (0x5b..0x5d). Each field is capped at its width.
 */
void rtc_set_ram_size(struct rtc *rtc, uint64_t below_4g, uint64_t above_4g);
void rtc_free(struct rtc *rtc);

/*
 * The i8042 keyboard controller, only as far as the reset line: command
 * 0xFE on port 0x64 pulses reset. Register it at 0x60 with length 5
 * (0x60..0x64); offset 0 is data, offset 4 is command/status.
 */
struct i8042;
extern const struct bus_ops i8042_ops;
struct i8042 *i8042_new(const struct power_ctl *power);
void i8042_free(struct i8042 *kbd);

/*
 * ACPI fixed hardware at PORT_PM_BASE: PM1a event block (status, enable),
 * PM1a control block (SCI_EN, SLP_TYP, SLP_EN), PM timer (3.579545 MHz,
 * 24-bit). Writing SLP_EN with SLP_TYP == ACPI_S5_SLP_TYP requests
 * power-off. Register window: PORT_PM_LEN ports.
 */
#define ACPI_S5_SLP_TYP 5
struct acpi_pm;
extern const struct bus_ops acpi_pm_ops;
struct acpi_pm *acpi_pm_new(const struct irq_line *sci, const struct power_ctl *power);
/*
 * Presses the fixed-hardware power button: sets PWRBTN_STS, so a guest
 * that enabled PWRBTN_EN gets an SCI and shuts down gracefully.
 */
void acpi_pm_power_button(struct acpi_pm *pm);
void acpi_pm_free(struct acpi_pm *pm);

/*
 * CFI parallel flash, Intel/Sharp command set (CFI primary vendor 0x0001),
 * x8, as OVMF's QemuFlashFvbServicesRuntimeDxe drives it: OVMF's firmware
 * (CODE, read-only) and its UEFI variable store (VARS) sit in such flash
 * just below 4 GiB. Each device is backed by one file, held in memory.
 *
 * Commands (a write in read-array mode; the low byte is the command):
 * 0xFF read array, 0x70 read status, 0x50 clear status (and read array),
 * 0x90 read identifier, 0x98 CFI query, 0x10/0x40 program (the next write
 * stores its 1..8 bytes), 0x20 then 0xD0 erase the 4 KiB block the 0xD0
 * write addresses. Status: 0x80 ready (set by a program or erase, 0x00
 * after clear status, which OVMF's probe requires), 0x20 erase error,
 * 0x10 program error, 0x02 block locked.
 *
 * Durability: a program or erase is pwrite()n to the file before the write
 * that issued it returns (a killed VMM loses nothing the guest issued),
 * and fdatasync()ed before any read of the device, and before any command
 * other than program/erase: the guest cannot see the ready bit, nor read
 * the data back, before the change is on stable storage. A run of
 * programs with no read between them (OVMF's byte-by-byte writes) thus
 * costs one fdatasync, not one per byte.
 *
 * A failed fdatasync fails the operations it covered as flash that did
 * not take them: the blocks they changed read back as before them (the
 * array, pflash_data(), and the file as far as it still takes writes),
 * their error bits are set, one line naming
 * the file and the error is logged, and from then on every program and
 * erase fails (error bits, nothing written) until the device is opened
 * again. OVMF never reads status or verifies a write; this is what its
 * probe sees at the guest's next boot: write-protected flash.
 *
 * A read-only device (CODE, or a VARS file this user cannot write) answers
 * program and erase with the error bits and logs it once; the file is
 * never touched. Any guest access, of any size at any offset, is safe:
 * outside the device it reads as all ones and writes are dropped.
 *
 * Thread safety: the bus callbacks take the device's lock (vCPU threads).
 */
#define PFLASH_SECTOR_SIZE 4096ULL            /* OVMF's PcdOvmfFirmwareBlockSize */
#define PFLASH_MAX_SIZE    (16ULL << 20)      /* the flash window below 4 GiB */
#define PFLASH_VENDOR_ID   0x89               /* answered to 0x90 at offset 0 */
#define PFLASH_DEVICE_ID   0x16               /* ... and at offset 1 */

struct pflash;
extern const struct bus_ops pflash_ops;

/*
 * Opens path as a flash device. The size must be a non-zero multiple of
 * PFLASH_SECTOR_SIZE and at most PFLASH_MAX_SIZE. A writable device takes
 * an exclusive lock on the file (two VMs sharing one VARS file would
 * corrupt it); a read-only one takes a shared lock. If !readonly but the
 * file cannot be opened for writing (EACCES, EPERM, EROFS), the device is
 * read-only, with a warning: pflash_readonly() tells.
 * Returns NULL with errno set and *why saying what is wrong, naming the
 * file (a per-thread buffer that the next call reuses).
 */
struct pflash *pflash_open(const char *path, bool readonly, const char **why);
/*
 * What pflash_open() would refuse (no such file, a size no flash has, a
 * lock another process holds), checked without keeping anything open:
 * 0, or -errno with *why set. For checks made before the VM exists.
 */
int pflash_check(const char *path, bool readonly, const char **why)
	__attribute__((warn_unused_result));
uint64_t pflash_size(const struct pflash *pf);
bool pflash_readonly(const struct pflash *pf);
/*
 * The contents as the guest sees them in read-array mode: pflash_size()
 * bytes, page aligned, kept current by every program and erase (suitable
 * as a KVM memslot: read-only for a read-only device, whose pages are
 * mprotect()ed). While the device is not in read-array mode the guest
 * must see the MMIO path instead, as pflash_array_mode() says.
 */
const void *pflash_data(const struct pflash *pf);
bool pflash_array_mode(struct pflash *pf);
/*
 * Calls hook each time the device enters (array_mode true) or leaves
 * read-array mode through a guest write, so the VMM can map pflash_data()
 * into the guest while reads may bypass the device and unmap it while they
 * may not (QEMU calls this "romd" mode). The hook runs on the vCPU thread
 * of the write, under the device's lock: it must not call into this
 * device. The device starts in read-array mode. NULL removes the hook.
 */
void pflash_set_mode_hook(struct pflash *pf, void (*hook)(void *opaque, bool array_mode),
			  void *opaque);
/* Makes every completed program and erase durable now; 0 or -errno (then undone, as above). */
int pflash_flush(struct pflash *pf);

struct pflash_stats {
	uint64_t programs; /* successful program operations */
	uint64_t erases;   /* successful block erases */
	uint64_t syncs;    /* fdatasync() calls */
	uint64_t errors;   /* refused or failed programs and erases */
};
void pflash_get_stats(struct pflash *pf, struct pflash_stats *st);
/* Flushes (as pflash_flush()), unlocks and closes. NULL is a no-op. */
void pflash_close(struct pflash *pf);

#endif
