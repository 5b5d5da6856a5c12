// SPDX-License-Identifier: MIT
/*
 * The CMOS RTC as Linux's mc146818 library, hwclock and firmware read it.
 */
#include <criterion/criterion.h>

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devices/devices.h"
#include "core/layout.h"

enum { SEC = 0x00, MIN = 0x02, HOUR = 0x04, WDAY = 0x06, MDAY = 0x07, MON = 0x08,
       YEAR = 0x09, REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d,
       CENTURY = 0x32 };

#define B_SET    0x80
#define B_UIE    0x10
#define B_BINARY 0x04
#define B_24H    0x02

static struct rtc *rtc;

static void setup(void)
{
	rtc = rtc_new(NULL);
	cr_assert_not_null(rtc);
}

static void teardown(void)
{
	rtc_free(rtc);
}

TestSuite(rtc, .init = setup, .fini = teardown);

static uint8_t cmos_read(uint8_t idx)
{
	rtc_ops.write(rtc, 0, 1, idx);
	return (uint8_t)rtc_ops.read(rtc, 1, 1);
}

static void cmos_write(uint8_t idx, uint8_t val)
{
	rtc_ops.write(rtc, 0, 1, idx);
	rtc_ops.write(rtc, 1, 1, val);
}

static uint8_t bcd(unsigned v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static time_t now_utc(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

struct rtc_time {
	uint8_t sec, min, hour, wday, mday, mon, year, century;
};

/* Reads all time registers within one host second; false if it cannot. */
static bool read_time(struct rtc_time *t, time_t *when)
{
	for (int tries = 0; tries < 5; tries++) {
		time_t t0 = now_utc();

		t->sec = cmos_read(SEC);
		t->min = cmos_read(MIN);
		t->hour = cmos_read(HOUR);
		t->wday = cmos_read(WDAY);
		t->mday = cmos_read(MDAY);
		t->mon = cmos_read(MON);
		t->year = cmos_read(YEAR);
		t->century = cmos_read(CENTURY);
		if (now_utc() == t0) {
			*when = t0;
			return true;
		}
	}
	return false;
}

/* hwclock's sequence (mc146818_set_time): SET, divider reset, fields, restore. */
static void set_time(uint8_t year, uint8_t mon, uint8_t mday, uint8_t hour, uint8_t min,
		     uint8_t sec, uint8_t century)
{
	uint8_t save_control = cmos_read(REG_B);
	uint8_t save_freq = cmos_read(REG_A);

	cmos_write(REG_B, save_control | B_SET);
	cmos_write(REG_A, save_freq | 0x70);
	cmos_write(YEAR, year);
	cmos_write(MON, mon);
	cmos_write(MDAY, mday);
	cmos_write(HOUR, hour);
	cmos_write(MIN, min);
	cmos_write(SEC, sec);
	cmos_write(CENTURY, century);
	cmos_write(REG_B, save_control);
	cmos_write(REG_A, save_freq);
}

Test(rtc, power_on_registers)
{
	cr_assert_eq(cmos_read(REG_A), 0x26, "UIP clear, 32 kHz base");
	cr_assert_eq(cmos_read(REG_B), 0x02, "24 h, BCD");
	cr_assert_eq(cmos_read(REG_D), 0x80, "valid RAM and time");
	cmos_write(REG_D, 0);
	cr_assert_eq(cmos_read(REG_D), 0x80, "D is read-only");
	cmos_write(REG_A, 0xff);
	cr_assert_eq(cmos_read(REG_A), 0x7f, "UIP is read-only");
}

Test(rtc, host_time_bcd)
{
	struct rtc_time t;
	struct tm tm;
	time_t when;

	cr_assert(read_time(&t, &when));
	gmtime_r(&when, &tm);
	cr_assert_eq(t.sec, bcd(tm.tm_sec));
	cr_assert_eq(t.min, bcd(tm.tm_min));
	cr_assert_eq(t.hour, bcd(tm.tm_hour));
	cr_assert_eq(t.wday, bcd(tm.tm_wday + 1));
	cr_assert_eq(t.mday, bcd(tm.tm_mday));
	cr_assert_eq(t.mon, bcd(tm.tm_mon + 1));
	cr_assert_eq(t.year, bcd(tm.tm_year % 100));
	cr_assert_eq(t.century, bcd((tm.tm_year + 1900) / 100));
	cr_assert_eq(t.century, 0x20);
}

Test(rtc, host_time_binary)
{
	struct rtc_time t;
	struct tm tm;
	time_t when;

	cmos_write(REG_B, B_24H | B_BINARY);
	cr_assert(read_time(&t, &when));
	gmtime_r(&when, &tm);
	cr_assert_eq(t.sec, tm.tm_sec);
	cr_assert_eq(t.min, tm.tm_min);
	cr_assert_eq(t.hour, tm.tm_hour);
	cr_assert_eq(t.mday, tm.tm_mday);
	cr_assert_eq(t.mon, tm.tm_mon + 1);
	cr_assert_eq(t.year, tm.tm_year % 100);
	cr_assert_eq(t.century, 20);
}

Test(rtc, guest_sets_time)
{
	uint8_t sec;

	cmos_write(REG_B, B_24H | B_SET);
	cmos_write(YEAR, 0x30);
	cmos_write(MON, 0x06);
	cmos_write(MDAY, 0x15);
	cmos_write(HOUR, 0x10);
	cmos_write(MIN, 0x20);
	cmos_write(SEC, 0x30);
	cmos_write(CENTURY, 0x20);
	usleep(1100 * 1000);
	cr_assert_eq(cmos_read(SEC), 0x30, "frozen while SET is up");
	cmos_write(REG_B, B_24H);

	sec = cmos_read(SEC);
	cr_assert(sec == 0x30 || sec == 0x31, "seconds 0x%02x", sec);
	cr_assert_eq(cmos_read(MIN), 0x20);
	cr_assert_eq(cmos_read(HOUR), 0x10);
	cr_assert_eq(cmos_read(MDAY), 0x15);
	cr_assert_eq(cmos_read(MON), 0x06);
	cr_assert_eq(cmos_read(YEAR), 0x30);
	cr_assert_eq(cmos_read(CENTURY), 0x20);
	cr_assert_eq(cmos_read(WDAY), 7, "15 June 2030 is a Saturday");

	usleep(1100 * 1000);
	sec = cmos_read(SEC);
	cr_assert(sec >= 0x31 && sec <= 0x33, "the clock runs on: 0x%02x", sec);
}

Test(rtc, hwclock_sequence_and_a_century_rollover)
{
	struct rtc_time t;
	time_t when;

	set_time(0x99, 0x12, 0x31, 0x23, 0x59, 0x59, 0x19);
	cr_assert_eq(cmos_read(REG_A), 0x26, "register A restored");
	cr_assert_eq(cmos_read(REG_B), 0x02);
	usleep(2100 * 1000);
	cr_assert(read_time(&t, &when));
	cr_assert_eq(t.century, 0x20);
	cr_assert_eq(t.year, 0x00);
	cr_assert_eq(t.mon, 0x01);
	cr_assert_eq(t.mday, 0x01);
	cr_assert_eq(t.hour, 0x00);
	cr_assert_eq(t.min, 0x00);
	cr_assert_eq(t.wday, 7, "1 January 2000 was a Saturday");
	cr_assert(t.sec >= 0x01 && t.sec <= 0x03, "seconds 0x%02x", t.sec);
}

Test(rtc, one_field_without_set)
{
	set_time(0x30, 0x06, 0x15, 0x10, 0x20, 0x00, 0x20);
	cmos_write(MIN, 0x45);
	cr_assert_eq(cmos_read(MIN), 0x45);
	cr_assert_eq(cmos_read(HOUR), 0x10);
	cr_assert_eq(cmos_read(MDAY), 0x15);
	cr_assert_eq(cmos_read(YEAR), 0x30);
}

Test(rtc, twelve_hour_mode)
{
	/* 15:30 reads as 3 PM, in BCD and in binary. */
	set_time(0x30, 0x06, 0x15, 0x15, 0x30, 0x00, 0x20);
	cmos_write(REG_B, 0x00);
	cr_assert_eq(cmos_read(HOUR), 0x83);
	cmos_write(REG_B, B_BINARY);
	cr_assert_eq(cmos_read(HOUR), 0x83);
	cmos_write(REG_B, B_24H | B_BINARY);
	cr_assert_eq(cmos_read(HOUR), 15);

	cmos_write(REG_B, B_24H);
	set_time(0x30, 0x06, 0x15, 0x00, 0x10, 0x00, 0x20);
	cmos_write(REG_B, 0x00);
	cr_assert_eq(cmos_read(HOUR), 0x12, "midnight is 12 AM");
	cmos_write(REG_B, B_24H);
	set_time(0x30, 0x06, 0x15, 0x12, 0x10, 0x00, 0x20);
	cmos_write(REG_B, 0x00);
	cr_assert_eq(cmos_read(HOUR), 0x92, "noon is 12 PM");

	/* Written in 12-hour mode: 1 PM is 13:00. */
	set_time(0x30, 0x06, 0x15, 0x81, 0x10, 0x00, 0x20);
	cmos_write(REG_B, B_24H);
	cr_assert_eq(cmos_read(HOUR), 0x13);
	cmos_write(REG_B, 0x00);
	set_time(0x30, 0x06, 0x15, 0x12, 0x10, 0x00, 0x20);
	cmos_write(REG_B, B_24H);
	cr_assert_eq(cmos_read(HOUR), 0x00, "12 AM is 00:xx");
}

/* Leaving SET and changing the format in one write: the fields were BCD. */
Test(rtc, format_change_on_leaving_set)
{
	cmos_write(REG_B, B_24H | B_SET);
	cmos_write(YEAR, 0x30);
	cmos_write(MON, 0x06);
	cmos_write(MDAY, 0x15);
	cmos_write(HOUR, 0x10);
	cmos_write(MIN, 0x20);
	cmos_write(SEC, 0x00);
	cmos_write(CENTURY, 0x20);
	cmos_write(REG_B, B_24H | B_BINARY);
	cr_assert_eq(cmos_read(YEAR), 30);
	cr_assert_eq(cmos_read(MDAY), 15);
	cr_assert_eq(cmos_read(HOUR), 10);
	cr_assert_eq(cmos_read(CENTURY), 20);
}

Test(rtc, binary_time_set)
{
	cmos_write(REG_B, B_24H | B_BINARY);
	set_time(30, 6, 15, 10, 20, 0, 20);
	cmos_write(REG_B, B_24H);
	cr_assert_eq(cmos_read(YEAR), 0x30);
	cr_assert_eq(cmos_read(MDAY), 0x15);
	cr_assert_eq(cmos_read(HOUR), 0x10);
}

Test(rtc, register_c_reads_and_clears)
{
	uint8_t s1, c2, s2;
	int tries;

	usleep(1100 * 1000);
	cr_assert_eq(cmos_read(REG_C), 0x10, "an update cycle ended since power-on");
	for (tries = 0; tries < 5; tries++) {
		s1 = cmos_read(SEC);
		cmos_read(REG_C);
		c2 = cmos_read(REG_C);
		s2 = cmos_read(SEC);
		if (s1 == s2)
			break;
	}
	cr_assert_lt(tries, 5);
	cr_assert_eq(c2, 0, "reading C cleared UF");

	/* UIE enabled: IRQF goes with UF. */
	cmos_write(REG_B, B_24H | B_UIE);
	usleep(1100 * 1000);
	cr_assert_eq(cmos_read(REG_C), 0x90);

	/* SET stops updates and clears UIE. */
	cmos_write(REG_B, B_24H | B_UIE | B_SET);
	cr_assert_eq(cmos_read(REG_B), B_24H | B_SET);
	usleep(1100 * 1000);
	cr_assert_eq(cmos_read(REG_C), 0);
	cmos_write(REG_C, 0xff);
	cr_assert_eq(cmos_read(REG_C), 0, "C is read-only");
}

static uint16_t cmos16(uint8_t idx)
{
	return (uint16_t)(cmos_read(idx) | cmos_read(idx + 1) << 8);
}

static uint32_t cmos24(uint8_t idx)
{
	return cmos16(idx) | (uint32_t)cmos_read(idx + 2) << 16;
}

Test(rtc, memory_size_512m)
{
	rtc_set_ram_size(rtc, 512 * SZ_1M, 0);
	cr_assert_eq(cmos16(0x15), 640);
	cr_assert_eq(cmos16(0x17), 0xffff, "extended memory is capped");
	cr_assert_eq(cmos16(0x30), 0xffff);
	cr_assert_eq(cmos16(0x34), (512 - 16) * 16);
	cr_assert_eq(cmos24(0x5b), 0);
	/* What OVMF computes from it. */
	cr_assert_eq(((uint64_t)cmos16(0x34) << 16) + 16 * SZ_1M, 512 * SZ_1M);
}

Test(rtc, memory_size_6g)
{
	rtc_set_ram_size(rtc, LAYOUT_MMIO_HOLE, 6 * SZ_1G - LAYOUT_MMIO_HOLE);
	cr_assert_eq(cmos16(0x15), 640);
	cr_assert_eq(cmos16(0x30), 0xffff);
	cr_assert_eq(cmos_read(0x34), 0x00);
	cr_assert_eq(cmos_read(0x35), 0x7f);
	cr_assert_eq(cmos_read(0x5b), 0x00);
	cr_assert_eq(cmos_read(0x5c), 0x00);
	cr_assert_eq(cmos_read(0x5d), 0x01);
	cr_assert_eq(((uint64_t)cmos16(0x34) << 16) + 16 * SZ_1M, LAYOUT_MMIO_HOLE);
	cr_assert_eq((uint64_t)cmos24(0x5b) << 16, 4 * SZ_1G);
}

Test(rtc, memory_size_small_and_huge)
{
	rtc_set_ram_size(rtc, 32 * SZ_1M, 0);
	cr_assert_eq(cmos16(0x17), 31 * 1024);
	cr_assert_eq(cmos16(0x30), 31 * 1024);
	cr_assert_eq(cmos16(0x34), 16 * 16);
	rtc_set_ram_size(rtc, 8 * SZ_1M, 0);
	cr_assert_eq(cmos16(0x34), 0);
	rtc_set_ram_size(rtc, 0, 1ULL << 45);
	cr_assert_eq(cmos16(0x17), 0);
	cr_assert_eq(cmos24(0x5b), 0xffffff, "capped at 24 bits");
}

Test(rtc, index_masks_nmi_bit)
{
	cmos_write(0x80 | 0x0e, 0x42);
	cr_assert_eq(cmos_read(0x0e), 0x42);
	cr_assert_eq(cmos_read(0x80 | 0x0e), 0x42);
	cr_assert_eq(cmos_read(0x80 | REG_A), 0x26);
	cr_assert_eq(rtc_ops.read(rtc, 0, 1), 0xff, "the index port reads 0xff");
}

Test(rtc, cmos_ram_is_plain_ram)
{
	for (unsigned i = 0x0e; i < 0x80; i++)
		if (i != CENTURY)
			cmos_write((uint8_t)i, (uint8_t)(i ^ 0xa5));
	for (unsigned i = 0x0e; i < 0x80; i++)
		if (i != CENTURY)
			cr_assert_eq(cmos_read((uint8_t)i), (uint8_t)(i ^ 0xa5), "byte 0x%x", i);
	rtc_cmos_set(rtc, 0x3d, 0x12);
	cr_assert_eq(cmos_read(0x3d), 0x12);
	/* The alarm bytes are RAM too, next to the clock. */
	cmos_write(0x01, 0x59);
	cr_assert_eq(cmos_read(0x01), 0x59);
}

Test(rtc, word_access_sets_index_then_data)
{
	rtc_ops.write(rtc, 0, 2, 0x5540);
	cr_assert_eq(cmos_read(0x40), 0x55);
	rtc_ops.write(rtc, 0, 1, 0x40);
	cr_assert_eq(rtc_ops.read(rtc, 0, 2), 0x55ff);
}

Test(rtc, garbage_everywhere)
{
	static const uint64_t vals[] = { 0, 0xff, 0x80, 0x7f, 0xdeadbeefcafef00dULL, ~0ULL };
	static const unsigned sizes[] = { 1, 2, 4, 8 };

	for (unsigned idx = 0; idx < 256; idx++)
		for (unsigned v = 0; v < 6; v++)
			for (unsigned s = 0; s < 4; s++) {
				rtc_ops.write(rtc, 0, 1, idx);
				rtc_ops.write(rtc, 1, sizes[s], vals[v]);
				rtc_ops.read(rtc, 1, sizes[s]);
				rtc_ops.write(rtc, 0, sizes[s], vals[v]);
				rtc_ops.read(rtc, 0, sizes[s]);
				rtc_ops.read(rtc, UINT64_MAX, sizes[s]);
			}
	/* Nonsense BCD in every time field, then the clock must still run. */
	cmos_write(REG_B, B_SET);
	for (uint8_t i = 0; i < 10; i++)
		cmos_write(i, 0xff);
	cmos_write(CENTURY, 0xff);
	cmos_write(REG_B, B_24H);
	for (uint8_t i = 0; i < 10; i++)
		cmos_read(i);

	set_time(0x30, 0x06, 0x15, 0x10, 0x20, 0x00, 0x20);
	cr_assert_eq(cmos_read(YEAR), 0x30);
	cr_assert_eq(cmos_read(HOUR), 0x10);
}
