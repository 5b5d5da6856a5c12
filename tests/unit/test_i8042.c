// SPDX-License-Identifier: MIT
/*
 * The i8042 as a reboot path and as Linux's i8042 driver probes it.
 */
#include <criterion/criterion.h>

#include "devices/devices.h"

#define DATA   0 /* 0x60 */
#define STATUS 4 /* 0x64 */
#define STS_OBF 0x01
#define STS_SYS 0x04
#define STS_CMD 0x08

struct power_rec {
	int resets, offs;
};

static void power_rec_request(void *opaque, enum power_event ev)
{
	struct power_rec *r = opaque;

	if (ev == POWER_RESET)
		r->resets++;
	else
		r->offs++;
}

static struct power_rec rec;
static struct i8042 *kbd;

static void setup(void)
{
	struct power_ctl power = { .request = power_rec_request, .opaque = &rec };

	rec = (struct power_rec){ 0 };
	kbd = i8042_new(&power);
	cr_assert_not_null(kbd);
}

static void teardown(void)
{
	i8042_free(kbd);
}

TestSuite(i8042, .init = setup, .fini = teardown);

static uint8_t in(unsigned port)
{
	return (uint8_t)i8042_ops.read(kbd, port, 1);
}

static void out(unsigned port, uint8_t val)
{
	i8042_ops.write(kbd, port, 1, val);
}

/* i8042_command(): command, then wait for OBF, then the byte. */
static int command(uint8_t cmd, uint8_t *reply)
{
	out(STATUS, cmd);
	if (!(in(STATUS) & STS_OBF))
		return -1;
	*reply = in(DATA);
	return 0;
}

Test(i8042, fe_pulses_reset)
{
	cr_assert_eq(rec.resets, 0);
	out(STATUS, 0xfe);
	cr_assert_eq(rec.resets, 1);
	cr_assert_eq(rec.offs, 0);
	out(STATUS, 0xfe);
	cr_assert_eq(rec.resets, 2);
}

Test(i8042, pulse_without_reset_bit_does_nothing)
{
	out(STATUS, 0xff);
	out(STATUS, 0xfd);
	cr_assert_eq(rec.resets, 0);
}

Test(i8042, output_port_reset)
{
	uint8_t port;

	cr_assert_eq(command(0xd0, &port), 0);
	cr_assert(port & 0x01, "reset line released");
	out(STATUS, 0xd1);
	out(DATA, port);
	cr_assert_eq(rec.resets, 0);
	out(STATUS, 0xd1);
	out(DATA, port & ~0x01);
	cr_assert_eq(rec.resets, 1);
	/* A plain data byte afterwards is not an output-port write. */
	out(DATA, 0x00);
	cr_assert_eq(rec.resets, 1);
}

Test(i8042, self_tests)
{
	uint8_t reply;

	cr_assert(in(STATUS) & STS_SYS, "POST passed");
	cr_assert_eq(in(STATUS) & STS_OBF, 0);
	out(STATUS, 0xaa);
	cr_assert(in(STATUS) & STS_OBF);
	cr_assert_eq(in(DATA), 0x55);
	cr_assert_eq(in(STATUS) & STS_OBF, 0, "reading data empties the buffer");
	cr_assert_eq(command(0xab, &reply), 0);
	cr_assert_eq(reply, 0x00);
	cr_assert_eq(rec.resets + rec.offs, 0);
}

/* i8042_controller_init(): read, change and write back the command byte. */
Test(i8042, command_byte)
{
	uint8_t ctr, ctr2;

	cr_assert_eq(command(0x20, &ctr), 0);
	cr_assert(ctr & 0x04, "system flag");
	cr_assert_eq(command(0x20, &ctr2), 0);
	cr_assert_eq(ctr, ctr2, "stable across reads");

	out(STATUS, 0x60);
	cr_assert(in(STATUS) & STS_CMD);
	out(DATA, 0x31 | 0x04);
	cr_assert_eq(in(STATUS) & STS_CMD, 0);
	cr_assert_eq(command(0x20, &ctr), 0);
	cr_assert_eq(ctr, 0x35);

	out(STATUS, 0xae);
	out(STATUS, 0xa8);
	cr_assert_eq(command(0x20, &ctr), 0);
	cr_assert_eq(ctr & 0x30, 0);
	out(STATUS, 0xad);
	out(STATUS, 0xa7);
	cr_assert_eq(command(0x20, &ctr), 0);
	cr_assert_eq(ctr & 0x30, 0x30);
	cr_assert_eq(in(STATUS) & STS_OBF, 0, "enable/disable send no reply");

	/* The status system flag follows the command byte. */
	out(STATUS, 0x60);
	out(DATA, 0x00);
	cr_assert_eq(in(STATUS) & STS_SYS, 0);
}

/* i8042_flush(): reads data while OBF is set; it must drain. */
Test(i8042, flush_terminates)
{
	int count = 0;

	out(STATUS, 0xaa);
	out(STATUS, 0x20);
	while ((in(STATUS) & STS_OBF) && count < 16) {
		in(DATA);
		count++;
	}
	cr_assert_eq(count, 1, "one byte deep: the newer reply replaced the older");
}

Test(i8042, unused_ports)
{
	for (unsigned port = 1; port <= 3; port++) {
		cr_assert_eq(in(port), 0xff);
		out(port, 0xfe);
	}
	cr_assert_eq(rec.resets, 0, "0xFE at 0x61..0x63 is no command");
	cr_assert_eq(i8042_ops.read(kbd, 1, 2), 0xffff);
}

Test(i8042, wide_write_reaches_command_port)
{
	/* A 16-bit write at 0x63 puts its high byte into 0x64. */
	i8042_ops.write(kbd, 3, 2, 0xfe00);
	cr_assert_eq(rec.resets, 1);
}

Test(i8042, garbage_everywhere)
{
	static const unsigned sizes[] = { 1, 2, 4, 8 };

	for (unsigned v = 0; v < 256; v++)
		for (unsigned s = 0; s < 4; s++)
			for (uint64_t off = 0; off < 8; off++) {
				/* Data-port garbage only: 0x64 garbage may legitimately reset. */
				if (off + sizes[s] <= 4)
					i8042_ops.write(kbd, off, sizes[s], v * 0x0101010101010101ULL);
				i8042_ops.read(kbd, off, sizes[s]);
			}
	i8042_ops.write(kbd, UINT64_MAX, 8, ~0ULL);
	i8042_ops.read(kbd, UINT64_MAX, 8);
	cr_assert_eq(rec.resets, 0);
	for (unsigned v = 0; v < 256; v++) {
		out(STATUS, (uint8_t)v);
		out(DATA, 0x5a);
		in(DATA);
	}
	cr_assert_gt(rec.resets, 0, "the pulse commands did reset");
	uint8_t reply;
	cr_assert_eq(command(0xaa, &reply), 0);
	cr_assert_eq(reply, 0x55);
}
