/* SPDX-License-Identifier: MIT */
#ifndef CORE_POWER_H
#define CORE_POWER_H

/*
 * How a device asks the machine to power off or reset: the one line from
 * a device model (or the PCI core's 0xCF9) up to whoever owns the vCPUs.
 */
enum power_event {
	POWER_OFF,   /* ACPI S5 */
	POWER_RESET, /* 0xCF9, i8042 pulse, ACPI reset register */
};

struct power_ctl {
	void (*request)(void *opaque, enum power_event ev);
	void *opaque;
};

static inline void power_request(const struct power_ctl *p, enum power_event ev)
{
	if (p->request)
		p->request(p->opaque, ev);
}

#endif
