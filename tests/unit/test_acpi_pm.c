// SPDX-License-Identifier: MIT
/*
 * ACPI fixed hardware as ACPICA drives it: sleep (S5), SCI, status bits,
 * the power button and the PM timer.
 */
#include <criterion/criterion.h>

#include <time.h>
#include <unistd.h>

#include "devices/devices.h"
#include "core/layout.h"

#define PM1_STS 0x0
#define PM1_EN  0x2
#define PM1_CNT 0x4
#define PM_TMR  0x8

#define PWRBTN   0x0100
#define WAK_STS  0x8000
#define SCI_EN   0x0001
#define SLP_EN   0x2000
#define SLP_TYP(t) ((uint16_t)((t) << 10))

struct rec {
	int offs, resets;
	int sci, sci_calls;
};

static void power_rec(void *opaque, enum power_event ev)
{
	struct rec *r = opaque;

	if (ev == POWER_OFF)
		r->offs++;
	else
		r->resets++;
}

static void sci_rec(void *opaque, unsigned gsi, int level)
{
	struct rec *r = opaque;

	cr_assert_eq(gsi, IRQ_SCI);
	r->sci = level;
	r->sci_calls++;
}

static struct rec rec;
static struct acpi_pm *pm;

static void setup(void)
{
	struct irq_line sci = { .set_level = sci_rec, .opaque = &rec, .gsi = IRQ_SCI };
	struct power_ctl power = { .request = power_rec, .opaque = &rec };

	rec = (struct rec){ 0 };
	pm = acpi_pm_new(&sci, &power);
	cr_assert_not_null(pm);
}

static void teardown(void)
{
	acpi_pm_free(pm);
}

TestSuite(acpi_pm, .init = setup, .fini = teardown);

static uint16_t in16(unsigned off)
{
	return (uint16_t)acpi_pm_ops.read(pm, off, 2);
}

static void out16(unsigned off, uint16_t val)
{
	acpi_pm_ops.write(pm, off, 2, val);
}

static uint32_t timer(void)
{
	return (uint32_t)acpi_pm_ops.read(pm, PM_TMR, 4);
}

/* acpi_hw_legacy_sleep(): SLP_TYP first, then SLP_TYP | SLP_EN. */
Test(acpi_pm, s5_powers_off_once_per_write)
{
	uint16_t cnt = in16(PM1_CNT);

	out16(PM1_CNT, cnt | SLP_TYP(ACPI_S5_SLP_TYP));
	cr_assert_eq(rec.offs, 0, "SLP_TYP alone does nothing");
	out16(PM1_CNT, cnt | SLP_TYP(ACPI_S5_SLP_TYP) | SLP_EN);
	cr_assert_eq(rec.offs, 1);
	cr_assert_eq(rec.resets, 0);
	out16(PM1_CNT, cnt | SLP_TYP(ACPI_S5_SLP_TYP) | SLP_EN);
	cr_assert_eq(rec.offs, 2);
	cr_assert_eq(in16(PM1_CNT) & SLP_EN, 0, "SLP_EN reads 0");
	cr_assert_eq(in16(PM1_CNT) & SLP_TYP(7), SLP_TYP(ACPI_S5_SLP_TYP));
}

Test(acpi_pm, s5_through_the_high_byte)
{
	/* SLP_TYP and SLP_EN share the high byte: a byte write is enough. */
	acpi_pm_ops.write(pm, PM1_CNT + 1, 1, SLP_TYP(ACPI_S5_SLP_TYP) >> 8);
	cr_assert_eq(rec.offs, 0);
	acpi_pm_ops.write(pm, PM1_CNT + 1, 1, (SLP_TYP(ACPI_S5_SLP_TYP) | SLP_EN) >> 8);
	cr_assert_eq(rec.offs, 1);
	/* ... and a byte write of SLP_EN alone writes SLP_TYP 0 with it. */
	acpi_pm_ops.write(pm, PM1_CNT + 1, 1, SLP_EN >> 8);
	cr_assert_eq(rec.offs, 1);
	cr_assert_eq(in16(PM1_CNT) & SLP_TYP(7), 0);
	/* A 32-bit write over EN and CNT at once. */
	acpi_pm_ops.write(pm, PM1_EN, 4, (uint32_t)(SLP_TYP(ACPI_S5_SLP_TYP) | SLP_EN) << 16);
	cr_assert_eq(rec.offs, 2);
}

Test(acpi_pm, other_sleep_types_ignored)
{
	for (unsigned typ = 0; typ < 8; typ++) {
		if (typ == ACPI_S5_SLP_TYP)
			continue;
		out16(PM1_STS, WAK_STS);
		out16(PM1_CNT, SLP_TYP(typ) | SLP_EN);
		cr_assert(in16(PM1_STS) & WAK_STS, "woke at once from type %u", typ);
	}
	cr_assert_eq(rec.offs, 0);
	cr_assert_eq(rec.resets, 0);
	cr_assert_eq(rec.sci_calls, 0, "WAK_STS has no enable: no SCI");
}

Test(acpi_pm, sci_en_always_reads_1)
{
	cr_assert_eq(in16(PM1_CNT), SCI_EN);
	out16(PM1_CNT, 0);
	cr_assert_eq(in16(PM1_CNT) & SCI_EN, SCI_EN);
	cr_assert_eq(acpi_pm_ops.read(pm, PM1_CNT, 1), SCI_EN);
}

Test(acpi_pm, status_write_one_to_clear)
{
	acpi_pm_power_button(pm);
	cr_assert_eq(in16(PM1_STS), PWRBTN);
	out16(PM1_STS, 0);
	cr_assert_eq(in16(PM1_STS), PWRBTN, "writing 0 keeps it");
	out16(PM1_STS, (uint16_t)~PWRBTN);
	cr_assert_eq(in16(PM1_STS), PWRBTN, "other bits' ones keep it");
	acpi_pm_ops.write(pm, PM1_STS + 1, 1, PWRBTN >> 8);
	cr_assert_eq(in16(PM1_STS), 0);
}

Test(acpi_pm, sci_follows_sts_and_en)
{
	acpi_pm_power_button(pm);
	cr_assert_eq(rec.sci_calls, 0, "not enabled: no SCI");
	out16(PM1_EN, PWRBTN);
	cr_assert_eq(in16(PM1_EN), PWRBTN);
	cr_assert_eq(rec.sci, 1);
	out16(PM1_STS, PWRBTN);
	cr_assert_eq(rec.sci, 0, "cleared by the handler");
	acpi_pm_power_button(pm);
	cr_assert_eq(rec.sci, 1);
	out16(PM1_EN, 0);
	cr_assert_eq(rec.sci, 0, "disabled");
	out16(PM1_EN, PWRBTN);
	cr_assert_eq(rec.sci, 1, "still pending, enabled again");
	cr_assert_eq(rec.sci_calls, 5, "only level changes are driven");
	acpi_pm_power_button(pm);
	cr_assert_eq(rec.sci_calls, 5);
}

Test(acpi_pm, en_reserved_bits_read_zero)
{
	out16(PM1_EN, 0xffff);
	cr_assert_eq(in16(PM1_EN) & ~0x4721, 0);
	cr_assert_eq(in16(PM1_EN) & PWRBTN, PWRBTN);
}

Test(acpi_pm, pm_timer_24bit_monotonic_at_3_58mhz)
{
	uint32_t prev = timer(), first = prev;
	uint64_t elapsed = 0;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 100000; i++) {
		uint32_t now = timer();

		cr_assert_leq(now, 0xffffff);
		/* Forward modulo 2^24, never a jump of more than a wrap. */
		elapsed += (now - prev) & 0xffffff;
		cr_assert_lt((now - prev) & 0xffffff, 0x800000);
		prev = now;
	}
	usleep(200 * 1000);
	elapsed += (timer() - prev) & 0xffffff;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	double hz = (double)elapsed / secs;

	cr_assert(hz > 3579545 * 0.95 && hz < 3579545 * 1.05, "%.0f Hz", hz);
	cr_assert_neq(first, prev);
	cr_assert_eq(acpi_pm_ops.read(pm, PM_TMR + 3, 1), 0, "bits 31:24 read 0");
}

Test(acpi_pm, pm_timer_read_only)
{
	acpi_pm_ops.write(pm, PM_TMR, 4, 0);
	cr_assert_eq(in16(PM1_STS) | in16(PM1_EN), 0);
	cr_assert_eq(rec.offs + rec.resets, 0);
}

Test(acpi_pm, wide_and_odd_reads)
{
	out16(PM1_EN, PWRBTN);
	acpi_pm_power_button(pm);
	cr_assert_eq(acpi_pm_ops.read(pm, PM1_STS, 4), (uint32_t)PWRBTN << 16 | PWRBTN);
	cr_assert_eq(acpi_pm_ops.read(pm, PM1_STS + 1, 1), PWRBTN >> 8);
	cr_assert_eq(acpi_pm_ops.read(pm, 0x40, 4), 0, "reserved space reads 0");
	cr_assert_eq(acpi_pm_ops.read(pm, UINT64_MAX, 8), 0);
}

Test(acpi_pm, garbage_everywhere)
{
	static const uint64_t vals[] = {
		0, 0xff, 0xdeadbeefcafef00dULL, ~0ULL & ~(uint64_t)(SLP_EN << 16),
	};
	static const unsigned sizes[] = { 1, 2, 4, 8 };

	for (unsigned v = 0; v < 4; v++)
		for (unsigned s = 0; s < 4; s++)
			for (uint64_t off = 0; off < PORT_PM_LEN; off++) {
				if (off <= PM1_CNT + 1 && off + sizes[s] > PM1_CNT + 1)
					continue; /* would write SLP_EN: tested above */
				acpi_pm_ops.write(pm, off, sizes[s], vals[v]);
				acpi_pm_ops.read(pm, off, sizes[s]);
			}
	acpi_pm_ops.write(pm, UINT64_MAX, 8, ~0ULL);
	cr_assert_eq(rec.offs + rec.resets, 0);
	cr_assert_eq(in16(PM1_CNT) & SCI_EN, SCI_EN);
}
