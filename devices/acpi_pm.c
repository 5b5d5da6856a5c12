// SPDX-License-Identifier: MIT
/*
 * ACPI fixed hardware: the PM1a event and control blocks and the PM timer.
 *
 * The FADT has no SMI_CMD, so the machine is always in ACPI mode: SCI_EN
 * reads 1 and the guest never tries the legacy-to-ACPI handover.
 * Registers are 16 or 32 bits wide, but the guest may touch any byte of
 * them: every access is applied as a byte mask over the registers it
 * overlaps.
 */
#include "devices.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "../core/layout.h"
#include "../core/log.h"

#define PM1_STS 0x0 /* 16-bit, write 1 to clear */
#define PM1_EN  0x2 /* 16-bit */
#define PM1_CNT 0x4 /* 16-bit */
#define PM_TMR  0x8 /* 32-bit, read-only */
#define PM_REGS_END 0xc

_Static_assert(PM1_CNT == PORT_PM1_CNT - PORT_PM_BASE, "PM1_CNT offset");
_Static_assert(PM_TMR == PORT_PM_TMR - PORT_PM_BASE, "PM_TMR offset");
_Static_assert(PM_REGS_END <= PORT_PM_LEN, "registers fit the window");

#define STS_PWRBTN 0x0100
#define STS_WAK    0x8000

/* TMR, GBL, PWRBTN, SLPBTN, RTC enables and PCIEXP_WAKE_DIS. */
#define EN_WRITABLE 0x4721

#define CNT_SCI_EN      0x0001
#define CNT_BM_RLD      0x0002
#define CNT_SLP_TYP_SHIFT 10
#define CNT_SLP_TYP     (7u << CNT_SLP_TYP_SHIFT)
#define CNT_SLP_EN      0x2000 /* write-only */
#define CNT_KEPT        (CNT_BM_RLD | CNT_SLP_TYP)

#define PM_TIMER_HZ   3579545ULL
#define PM_TIMER_MASK 0xffffffu /* 24-bit: the FADT does not set TMR_VAL_EXT */

struct acpi_pm {
	pthread_mutex_t lock;
	struct irq_line sci;
	struct power_ctl power;
	uint16_t sts, en, cnt;
	bool sci_level;
	struct log_ratelimit warn_rl; /* dev_warn_rl()'s, for warnings a guest can drive */
};

/*
 * TMR_STS (the timer's bit 23 toggling) is never set: that would need a
 * host timer, and no guest we boot enables TMR_EN.
 */
static uint32_t acpi_pm_timer(void)
{
	struct timespec ts;
	uint64_t ticks;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* Split so neither product overflows; still monotonic across seconds. */
	ticks = (uint64_t)ts.tv_sec * PM_TIMER_HZ +
		(uint64_t)ts.tv_nsec * PM_TIMER_HZ / 1000000000ULL;
	return (uint32_t)(ticks & PM_TIMER_MASK);
}

/* The SCI is level-triggered: it stays up while an enabled event is. */
static void acpi_pm_update_sci(struct acpi_pm *pm)
{
	bool level = (pm->sts & pm->en) != 0;

	if (level == pm->sci_level)
		return;
	pm->sci_level = level;
	irq_line_set(&pm->sci, level);
}

/* Returns true when the guest asked for S5. */
static bool acpi_pm_write_cnt(struct acpi_pm *pm, uint16_t mask, uint16_t val)
{
	uint16_t merged = (uint16_t)((pm->cnt & ~mask) | (val & mask));
	unsigned slp_typ = (merged & CNT_SLP_TYP) >> CNT_SLP_TYP_SHIFT;

	pm->cnt = merged & CNT_KEPT;
	if (!(val & mask & CNT_SLP_EN))
		return false;
	if (slp_typ == ACPI_S5_SLP_TYP)
		return true;
	/*
	 * No other sleep state exists here. Waking at once (WAK_STS) ends
	 * the guest's wait for the transition back to S0 instead of hanging.
	 */
	dev_warn_rl(&pm->warn_rl, "acpi_pm", "sleep type %u not supported, ignored", slp_typ);
	pm->sts |= STS_WAK;
	return false;
}

/* Applies the bytes of a write that fall in [reg, reg + len). */
static bool acpi_pm_write_reg(struct acpi_pm *pm, unsigned reg, uint16_t mask, uint16_t val)
{
	switch (reg) {
	case PM1_STS:
		pm->sts &= (uint16_t)~(val & mask);
		return false;
	case PM1_EN:
		pm->en = (uint16_t)((pm->en & ~mask) | (val & mask & EN_WRITABLE));
		return false;
	case PM1_CNT:
		return acpi_pm_write_cnt(pm, mask, val);
	default:
		dev_warn_rl(&pm->warn_rl, "acpi_pm", "write to read-only PM timer ignored");
		return false;
	}
}

/* Byte i of an access at offset, seen from register [reg, reg + len). */
static bool acpi_pm_lane(uint64_t offset, unsigned i, unsigned reg, unsigned len,
			 unsigned *shift)
{
	uint64_t addr = offset + i;

	if (addr < reg || addr >= reg + len)
		return false;
	*shift = 8 * (unsigned)(addr - reg);
	return true;
}

static void acpi_pm_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	static const struct { unsigned off, len; } regs[] = {
		{ PM1_STS, 2 }, { PM1_EN, 2 }, { PM1_CNT, 2 }, { PM_TMR, 4 },
	};
	struct acpi_pm *pm = opaque;
	bool s5 = false;

	if (size > 8)
		size = 8;
	if (offset >= PM_REGS_END || offset + size > PM_REGS_END)
		dev_warn_rl(&pm->warn_rl, "acpi_pm",
			    "write at offset 0x%llx size %u: no register there",
			    (unsigned long long)offset, size);
	if (offset >= PM_REGS_END)
		return;
	pthread_mutex_lock(&pm->lock);
	for (unsigned r = 0; r < sizeof(regs) / sizeof(regs[0]); r++) {
		uint32_t mask = 0, val = 0;
		unsigned shift;

		for (unsigned i = 0; i < size; i++) {
			if (!acpi_pm_lane(offset, i, regs[r].off, regs[r].len, &shift))
				continue;
			mask |= 0xffu << shift;
			val |= (uint32_t)((value >> (8 * i)) & 0xff) << shift;
		}
		if (mask)
			s5 |= acpi_pm_write_reg(pm, regs[r].off, (uint16_t)mask, (uint16_t)val);
	}
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	/* Outside the lock: the VMM may stop vCPUs, this one included. */
	if (s5)
		power_request(&pm->power, POWER_OFF);
}

/* Reads have no side effects, so assemble them from one snapshot. */
static uint64_t acpi_pm_read(void *opaque, uint64_t offset, unsigned size)
{
	struct acpi_pm *pm = opaque;
	uint8_t bytes[PM_REGS_END];
	uint32_t tmr = acpi_pm_timer();
	uint16_t cnt;
	uint64_t val = 0;

	if (size > 8)
		size = 8;
	pthread_mutex_lock(&pm->lock);
	/* SCI_EN: always in ACPI mode. SLP_EN: write-only, reads 0. */
	cnt = pm->cnt | CNT_SCI_EN;
	bytes[0] = (uint8_t)pm->sts;
	bytes[1] = (uint8_t)(pm->sts >> 8);
	bytes[2] = (uint8_t)pm->en;
	bytes[3] = (uint8_t)(pm->en >> 8);
	pthread_mutex_unlock(&pm->lock);
	bytes[4] = (uint8_t)cnt;
	bytes[5] = (uint8_t)(cnt >> 8);
	bytes[6] = 0;
	bytes[7] = 0;
	for (unsigned i = 0; i < 4; i++)
		bytes[8 + i] = (uint8_t)(tmr >> (8 * i));
	/* The rest of the window is reserved: reads as 0, no event pending. */
	for (unsigned i = 0; i < size; i++)
		if (offset < PM_REGS_END && offset + i < PM_REGS_END)
			val |= (uint64_t)bytes[offset + i] << (8 * i);
	return val;
}

const struct bus_ops acpi_pm_ops = {
	.name = "acpi_pm",
	.read = acpi_pm_read,
	.write = acpi_pm_write,
};

void acpi_pm_power_button(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->sts |= STS_PWRBTN;
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

struct acpi_pm *acpi_pm_new(const struct irq_line *sci, const struct power_ctl *power)
{
	struct acpi_pm *pm = calloc(1, sizeof(*pm));
	int err;

	if (!pm)
		return NULL;
	err = pthread_mutex_init(&pm->lock, NULL);
	if (err) {
		free(pm);
		errno = err;
		return NULL;
	}
	if (sci)
		pm->sci = *sci;
	if (power)
		pm->power = *power;
	return pm;
}

void acpi_pm_free(struct acpi_pm *pm)
{
	if (!pm)
		return;
	pthread_mutex_destroy(&pm->lock);
	free(pm);
}
