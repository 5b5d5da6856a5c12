// SPDX-License-Identifier: MIT
/*
 * MC146818 RTC and its CMOS RAM behind the index/data pair at 0x70/0x71.
 *
 * The clock is not kept here: each read of a time register converts the
 * host's UTC clock plus an offset, and a guest that sets the time only
 * changes that offset. While register B's SET bit is up the time
 * registers hold what the guest wrote (the chip stops updating them), and
 * clearing SET turns those values into the new offset. That is the
 * sequence Linux and hwclock use.
 *
 * Interrupts: IRQ 8 is not raised yet (no periodic, alarm or update-ended
 * interrupt); the irq_line is kept for that. Register C still reads as a
 * polling guest expects: UF is set once an update cycle (a second
 * boundary) has passed since the last read, and reading C clears it.
 */
#include "devices.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/layout.h"
#include "../core/log.h"

enum {
	RTC_SECONDS = 0x00,
	RTC_MINUTES = 0x02,
	RTC_HOURS = 0x04,
	RTC_DAY_OF_WEEK = 0x06,
	RTC_DAY_OF_MONTH = 0x07,
	RTC_MONTH = 0x08,
	RTC_YEAR = 0x09,
	RTC_REG_A = 0x0a,
	RTC_REG_B = 0x0b,
	RTC_REG_C = 0x0c,
	RTC_REG_D = 0x0d,
	RTC_CENTURY = 0x32, /* the FADT's CENTURY field points here */
	CMOS_SIZE = 128,
};

#define RTC_PORT_INDEX 0
#define RTC_PORT_DATA  1
#define RTC_NR_PORTS   2
#define RTC_INDEX_MASK 0x7f /* bit 7 of the index port masks NMIs */

#define REG_A_UIP   0x80
#define REG_B_SET   0x80
#define REG_B_PIE   0x40
#define REG_B_AIE   0x20
#define REG_B_UIE   0x10
#define REG_B_DM_BINARY 0x04
#define REG_B_24H   0x02
#define REG_C_IRQF  0x80
#define REG_C_UF    0x10
#define REG_D_VRT   0x80
#define HOUR_PM     0x80

#define REG_A_DEFAULT 0x26 /* 32.768 kHz time base, 1024 Hz periodic rate */
#define REG_B_DEFAULT REG_B_24H

struct rtc {
	pthread_mutex_t lock;
	struct irq_line irq; /* IRQ 8, for when interrupts are implemented */
	uint8_t index;
	/*
	 * CMOS RAM and registers A/B and the alarms. The time slots hold the
	 * guest's values while SET is up; otherwise they are refreshed from
	 * the clock on each read.
	 */
	uint8_t cmos[CMOS_SIZE];
	int64_t offset;   /* guest time minus host time, seconds */
	int64_t uf_epoch; /* guest second when register C was last read */
	struct log_ratelimit warn_rl; /* dev_warn_rl()'s, for warnings a guest can drive */
};

static bool rtc_is_clock_reg(unsigned idx)
{
	switch (idx) {
	case RTC_SECONDS: case RTC_MINUTES: case RTC_HOURS: case RTC_DAY_OF_WEEK:
	case RTC_DAY_OF_MONTH: case RTC_MONTH: case RTC_YEAR: case RTC_CENTURY:
		return true;
	default:
		return false;
	}
}

static int64_t rtc_host_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

static int64_t rtc_guest_now(const struct rtc *rtc)
{
	return rtc_host_now() + rtc->offset;
}

static uint8_t rtc_encode(uint8_t b, unsigned v)
{
	if (b & REG_B_DM_BINARY)
		return (uint8_t)v;
	return (uint8_t)(((v / 10 % 10) << 4) | (v % 10));
}

/* Garbage BCD digits decode to out-of-range numbers; timegm() copes. */
static unsigned rtc_decode(uint8_t b, uint8_t v)
{
	if (b & REG_B_DM_BINARY)
		return v;
	return (v >> 4) * 10 + (v & 0x0f);
}

/* 12-hour mode: 12, 1..11 with bit 7 for PM; midnight is 12 AM. */
static uint8_t rtc_encode_hour(uint8_t b, unsigned hour)
{
	unsigned h12 = hour % 12 ? hour % 12 : 12;

	if (b & REG_B_24H)
		return rtc_encode(b, hour);
	return rtc_encode(b, h12) | (hour >= 12 ? HOUR_PM : 0);
}

static unsigned rtc_decode_hour(uint8_t b, uint8_t v)
{
	if (b & REG_B_24H)
		return rtc_decode(b, v);
	return rtc_decode(b, (uint8_t)(v & ~HOUR_PM)) % 12 + ((v & HOUR_PM) ? 12 : 0);
}

/* Fills the time slots from the clock, in the format register b selects. */
static void rtc_snapshot(struct rtc *rtc, uint8_t b)
{
	time_t t = (time_t)rtc_guest_now(rtc);
	struct tm tm;
	unsigned year;

	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof(tm));
	year = (unsigned)tm.tm_year + 1900;
	rtc->cmos[RTC_SECONDS] = rtc_encode(b, tm.tm_sec);
	rtc->cmos[RTC_MINUTES] = rtc_encode(b, tm.tm_min);
	rtc->cmos[RTC_HOURS] = rtc_encode_hour(b, tm.tm_hour);
	rtc->cmos[RTC_DAY_OF_WEEK] = rtc_encode(b, tm.tm_wday + 1); /* Sunday is 1 */
	rtc->cmos[RTC_DAY_OF_MONTH] = rtc_encode(b, tm.tm_mday);
	rtc->cmos[RTC_MONTH] = rtc_encode(b, tm.tm_mon + 1);
	rtc->cmos[RTC_YEAR] = rtc_encode(b, year % 100);
	rtc->cmos[RTC_CENTURY] = rtc_encode(b, year / 100);
}

/*
 * Makes the time slots (written in format b) the current time. The day
 * of the week is not taken: it follows from the date.
 */
static void rtc_commit(struct rtc *rtc, uint8_t b)
{
	const uint8_t *c = rtc->cmos;
	struct tm tm = {
		.tm_sec = rtc_decode(b, c[RTC_SECONDS]),
		.tm_min = rtc_decode(b, c[RTC_MINUTES]),
		.tm_hour = rtc_decode_hour(b, c[RTC_HOURS]),
		.tm_mday = rtc_decode(b, c[RTC_DAY_OF_MONTH]),
		.tm_mon = (int)rtc_decode(b, c[RTC_MONTH]) - 1,
		.tm_year = (int)(rtc_decode(b, c[RTC_CENTURY]) * 100 +
				 rtc_decode(b, c[RTC_YEAR])) - 1900,
	};
	time_t t;

	errno = 0;
	t = timegm(&tm);
	if (t == (time_t)-1 && errno) {
		dev_warn_rl(&rtc->warn_rl, "rtc", "guest time not representable, ignored");
		return;
	}
	rtc->offset = (int64_t)t - rtc_host_now();
	/* The next update cycle is a second away. */
	rtc->uf_epoch = rtc_guest_now(rtc);
}

static uint8_t rtc_read_clock(struct rtc *rtc, unsigned idx)
{
	uint8_t b = rtc->cmos[RTC_REG_B];

	/* With SET up the chip does not update: the guest's values stand. */
	if (!(b & REG_B_SET))
		rtc_snapshot(rtc, b);
	return rtc->cmos[idx];
}

/* Without SET a single field changes and the clock runs on from there. */
static void rtc_write_clock(struct rtc *rtc, unsigned idx, uint8_t val)
{
	uint8_t b = rtc->cmos[RTC_REG_B];

	if (b & REG_B_SET) {
		rtc->cmos[idx] = val;
		return;
	}
	rtc_snapshot(rtc, b);
	rtc->cmos[idx] = val;
	rtc_commit(rtc, b);
}

static void rtc_write_reg_b(struct rtc *rtc, uint8_t val)
{
	uint8_t old = rtc->cmos[RTC_REG_B];

	/* Setting SET clears UIE on the chip. */
	if (val & REG_B_SET)
		val &= ~REG_B_UIE;
	/* Freeze in the format the guest is about to write the time in. */
	if (!(old & REG_B_SET) && (val & REG_B_SET))
		rtc_snapshot(rtc, val);
	rtc->cmos[RTC_REG_B] = val;
	/* The guest wrote the time in the format in force while SET was up. */
	if ((old & REG_B_SET) && !(val & REG_B_SET))
		rtc_commit(rtc, old);
}

static uint8_t rtc_read_reg_c(struct rtc *rtc)
{
	uint8_t b = rtc->cmos[RTC_REG_B];
	uint8_t c = 0;

	if (!(b & REG_B_SET)) {
		int64_t now = rtc_guest_now(rtc);

		if (now != rtc->uf_epoch)
			c |= REG_C_UF;
		rtc->uf_epoch = now;
	}
	/* PF/AF/UF sit at the same bits as their enables PIE/AIE/UIE in B. */
	if (c & b & (REG_B_PIE | REG_B_AIE | REG_B_UIE))
		c |= REG_C_IRQF;
	return c;
}

static uint8_t rtc_read_data(struct rtc *rtc)
{
	unsigned idx = rtc->index;

	if (rtc_is_clock_reg(idx))
		return rtc_read_clock(rtc, idx);
	switch (idx) {
	case RTC_REG_A:
		return rtc->cmos[idx] & ~REG_A_UIP; /* never mid-update */
	case RTC_REG_C:
		return rtc_read_reg_c(rtc);
	case RTC_REG_D:
		return REG_D_VRT; /* the battery is fine */
	default:
		return rtc->cmos[idx];
	}
}

static void rtc_write_data(struct rtc *rtc, uint8_t val)
{
	unsigned idx = rtc->index;

	if (rtc_is_clock_reg(idx)) {
		rtc_write_clock(rtc, idx, val);
		return;
	}
	switch (idx) {
	case RTC_REG_A:
		rtc->cmos[idx] = val & ~REG_A_UIP;
		break;
	case RTC_REG_B:
		rtc_write_reg_b(rtc, val);
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		/* Harmless and common: OVMF clears D on every boot. */
		dev_debug("rtc", "write 0x%02x to read-only register 0x%x ignored", val, idx);
		break;
	default:
		rtc->cmos[idx] = val;
		break;
	}
}

static uint8_t rtc_read_port(struct rtc *rtc, unsigned port)
{
	if (port == RTC_PORT_DATA)
		return rtc_read_data(rtc);
	return 0xff; /* the index port is write-only */
}

static void rtc_write_port(struct rtc *rtc, unsigned port, uint8_t val)
{
	if (port == RTC_PORT_INDEX)
		rtc->index = val & RTC_INDEX_MASK;
	else if (port == RTC_PORT_DATA)
		rtc_write_data(rtc, val);
	else
		dev_warn_rl(&rtc->warn_rl, "rtc", "write outside the 2-port window ignored");
}

/* Port of byte i of an access; RTC_NR_PORTS past the window. */
static unsigned rtc_port(uint64_t offset, unsigned i)
{
	if (offset >= RTC_NR_PORTS || offset + i >= RTC_NR_PORTS)
		return RTC_NR_PORTS;
	return (unsigned)(offset + i);
}

/*
 * Byte-wide ports: a wider access is split lowest address first, so the
 * common outw(0x70, index | data << 8) sets the index and then the data.
 */
static uint64_t rtc_read(void *opaque, uint64_t offset, unsigned size)
{
	struct rtc *rtc = opaque;
	uint64_t val = 0;

	if (size > 8)
		size = 8;
	pthread_mutex_lock(&rtc->lock);
	for (unsigned i = 0; i < size; i++)
		val |= (uint64_t)rtc_read_port(rtc, rtc_port(offset, i)) << (8 * i);
	pthread_mutex_unlock(&rtc->lock);
	return val;
}

static void rtc_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct rtc *rtc = opaque;

	if (size > 8)
		size = 8;
	pthread_mutex_lock(&rtc->lock);
	for (unsigned i = 0; i < size; i++)
		rtc_write_port(rtc, rtc_port(offset, i), (uint8_t)(value >> (8 * i)));
	pthread_mutex_unlock(&rtc->lock);
}

const struct bus_ops rtc_ops = {
	.name = "rtc",
	.read = rtc_read,
	.write = rtc_write,
};

void rtc_cmos_set(struct rtc *rtc, uint8_t index, uint8_t value)
{
	pthread_mutex_lock(&rtc->lock);
	rtc->cmos[index & RTC_INDEX_MASK] = value;
	pthread_mutex_unlock(&rtc->lock);
}

static void cmos_put(struct rtc *rtc, unsigned idx, uint64_t val, unsigned bytes)
{
	uint64_t max = (1ULL << (8 * bytes)) - 1;

	if (val > max)
		val = max;
	for (unsigned i = 0; i < bytes; i++)
		rtc->cmos[idx + i] = (uint8_t)(val >> (8 * i));
}

void rtc_set_ram_size(struct rtc *rtc, uint64_t below_4g, uint64_t above_4g)
{
	const uint64_t sz_64k = 64 * SZ_1K, sz_16m = 16 * SZ_1M;
	/* Extended memory in KiB above 1 MiB; the 16-bit cap is about 64 MiB. */
	uint64_t ext_kib = below_4g > SZ_1M ? (below_4g - SZ_1M) / SZ_1K : 0;
	uint64_t mid_64k = below_4g > sz_16m ? (below_4g - sz_16m) / sz_64k : 0;

	pthread_mutex_lock(&rtc->lock);
	cmos_put(rtc, 0x15, LAYOUT_LOWMEM_TOP / SZ_1K, 2); /* 640 KiB */
	cmos_put(rtc, 0x17, ext_kib, 2);
	cmos_put(rtc, 0x30, ext_kib, 2);
	cmos_put(rtc, 0x34, mid_64k, 2);
	cmos_put(rtc, 0x5b, above_4g / sz_64k, 3);
	pthread_mutex_unlock(&rtc->lock);
}

struct rtc *rtc_new(const struct irq_line *irq)
{
	struct rtc *rtc = calloc(1, sizeof(*rtc));
	int err;

	if (!rtc)
		return NULL;
	err = pthread_mutex_init(&rtc->lock, NULL);
	if (err) {
		free(rtc);
		errno = err;
		return NULL;
	}
	if (irq)
		rtc->irq = *irq;
	rtc->cmos[RTC_REG_A] = REG_A_DEFAULT;
	rtc->cmos[RTC_REG_B] = REG_B_DEFAULT;
	rtc->uf_epoch = rtc_guest_now(rtc);
	return rtc;
}

void rtc_free(struct rtc *rtc)
{
	if (!rtc)
		return;
	pthread_mutex_destroy(&rtc->lock);
	free(rtc);
}
