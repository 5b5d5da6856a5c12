/*
 * Tiny real-mode guests for the exit-path tests. Each starts at 0000:1000
 * (the test copies it there), keeps results in guest RAM at 0x2000 and
 * ends with a write to EXIT_PORT: with the in-kernel irqchip, hlt would
 * block inside KVM instead of exiting.
 */
#define PROBE_PORT 0x510
#define EXIT_PORT  0xf4
#define RESULTS    0x2000
#define MMIO_SEG   0x2000   /* 0x20000: above the test's 64 KiB of RAM */

	.section .rodata
	.code16

	.globl payload_pio_start, payload_pio_end
payload_pio_start:
	mov $PROBE_PORT, %dx
	mov $0x12, %al
	outb %al, %dx
	mov $0x3456, %ax
	outw %ax, %dx
	mov $0x789abcde, %eax
	outl %eax, %dx
	inb %dx, %al
	mov %al, (RESULTS)
	inw %dx, %ax
	mov %ax, (RESULTS + 2)
	inl %dx, %eax
	mov %eax, (RESULTS + 4)
	/* An unclaimed port must read as all ones. */
	mov $0x5f0, %dx
	inl %dx, %eax
	mov %eax, (RESULTS + 8)
	/* String I/O: four bytes with one rep outsb. */
	mov $PROBE_PORT + 1, %dx
	mov $(RESULTS + 0x100), %si
	movl $0x44332211, (RESULTS + 0x100)
	mov $4, %cx
	cld
	rep outsb
	mov $EXIT_PORT, %dx
	outb %al, %dx
payload_pio_end:

	.globl payload_mmio_start, payload_mmio_end
payload_mmio_start:
	mov $MMIO_SEG, %ax
	mov %ax, %es
	movb $0x12, %es:0x10
	movw $0x3456, %es:0x20
	movl $0x789abcde, %es:0x40
	mov %es:0x10, %al
	mov %al, (RESULTS)
	mov %es:0x20, %ax
	mov %ax, (RESULTS + 2)
	mov %es:0x40, %eax
	mov %eax, (RESULTS + 4)
	/* Past the end of the test device: unassigned MMIO reads all ones. */
	mov %es:0x1000, %eax
	mov %eax, (RESULTS + 8)
	mov $EXIT_PORT, %dx
	outb %al, %dx
payload_mmio_end:

	/*
	 * The platform's own devices through the bus: PCI config mechanism #1
	 * for 00:00.0's ID, the RTC's register D, and "OK\n" through COM1.
	 */
	.globl payload_platform_start, payload_platform_end
payload_platform_start:
	mov $0xcf8, %dx
	mov $0x80000000, %eax
	outl %eax, %dx
	inl %dx, %eax
	mov %eax, (RESULTS)
	mov $0xcfc, %dx
	inl %dx, %eax
	mov %eax, (RESULTS + 4)
	mov $0x0d, %al
	outb %al, $0x70
	inb $0x71, %al
	mov %al, (RESULTS + 8)
	mov $0x3f8, %dx
	mov $'O', %al
	outb %al, %dx
	mov $'K', %al
	outb %al, %dx
	mov $'\n', %al
	outb %al, %dx
	mov $EXIT_PORT, %dx
	outb %al, %dx
payload_platform_end:

	.section .note.GNU-stack, "", @progbits
