// SPDX-License-Identifier: MIT
/*
 * MSI-X capability, table and PBA for emulated functions (msix.h). Table
 * entry layout: message address low (0), high (4), data (8), vector
 * control (12, bit 0 masks). The PBA is read-only to the guest.
 */
#include "msix.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../core/pci.h"

#define CTRL_OFF         2    /* Message Control, from the capability */
#define TABLE_OFF        4
#define PBA_OFF          8
#define CTRL_ENABLE      0x8000
#define CTRL_FMASK       0x4000
#define ENTRY_ADDR_LO    0
#define ENTRY_ADDR_HI    4
#define ENTRY_DATA       8
#define ENTRY_CTRL       12
#define ENTRY_MASKED     1u

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

int msix_init(struct msix *m, struct pci_device *dev, unsigned cap, uint8_t next, unsigned nr,
	      unsigned bir, uint32_t table_off, uint32_t pba_off, const struct msix_ops *ops,
	      void *opaque)
{
	uint16_t ctrl;

	memset(m, 0, sizeof(*m));
	if (!nr || nr > MSIX_MAX_VECTORS || bir > 5 || table_off % 8 || pba_off % 8 ||
	    cap < 0x40 || cap + MSIX_CAP_SIZE > 0x100 || cap % 4)
		return -EINVAL;
	m->table = calloc(nr, MSIX_ENTRY_SIZE);
	m->pba = calloc((nr + 63) / 64, sizeof(uint64_t));
	m->routed = calloc(nr, sizeof(bool));
	m->open = calloc(nr, sizeof(bool));
	if (!m->table || !m->pba || !m->routed || !m->open) {
		msix_destroy(m);
		return -ENOMEM;
	}
	m->dev = dev;
	m->cap = cap;
	m->nr = nr;
	m->ops = ops;
	m->opaque = opaque;
	pthread_mutex_init(&m->lock, NULL);
	dev->cfg[cap] = PCI_CAP_ID_MSIX;
	dev->cfg[cap + 1] = next;
	ctrl = (uint16_t)(nr - 1);
	memcpy(&dev->cfg[cap + CTRL_OFF], &ctrl, 2);
	put32(&dev->cfg[cap + TABLE_OFF], table_off | bir);
	put32(&dev->cfg[cap + PBA_OFF], pba_off | bir);
	dev->wmask[cap + CTRL_OFF + 1] = (CTRL_ENABLE | CTRL_FMASK) >> 8;
	msix_reset(m);
	return 0;
}

void msix_destroy(struct msix *m)
{
	if (m->table)
		pthread_mutex_destroy(&m->lock);
	free(m->table);
	free(m->pba);
	free(m->routed);
	free(m->open);
	m->open = NULL;
	m->table = NULL;
	m->pba = NULL;
	m->routed = NULL;
}

static bool vector_masked(const struct msix *m, unsigned v)
{
	return !m->enabled || m->function_masked ||
	       (get32(&m->table[v * MSIX_ENTRY_SIZE + ENTRY_CTRL]) & ENTRY_MASKED);
}

static bool pending(const struct msix *m, unsigned v)
{
	return m->pba[v / 64] >> (v % 64) & 1;
}

/* With m->lock held: tells mask() when vector v's deliverability changed. */
static void mask_changed(struct msix *m, unsigned v, bool open)
{
	if (m->open[v] == open)
		return;
	m->open[v] = open;
	if (m->ops && m->ops->mask)
		m->ops->mask(m->opaque, v, !open);
}

void msix_reset(struct msix *m)
{
	pthread_mutex_lock(&m->lock);
	memset(m->table, 0, (size_t)m->nr * MSIX_ENTRY_SIZE);
	for (unsigned v = 0; v < m->nr; v++)
		put32(&m->table[v * MSIX_ENTRY_SIZE + ENTRY_CTRL], ENTRY_MASKED);
	memset(m->pba, 0, (m->nr + 63) / 64 * sizeof(uint64_t));
	memset(m->routed, 0, m->nr * sizeof(bool));
	m->enabled = m->function_masked = false;
	m->dev->cfg[m->cap + CTRL_OFF + 1] &= (uint8_t)~((CTRL_ENABLE | CTRL_FMASK) >> 8);
	/*
	 * Every vector is masked now: those that were open are closed as by
	 * MSI-X off, and mask() must hear of it, or a device that signals on
	 * its own keeps signalling into the irqfd.
	 */
	for (unsigned v = 0; v < m->nr; v++)
		mask_changed(m, v, false);
	pthread_mutex_unlock(&m->lock);
}

/* With m->lock held: a vector that can deliver gets its route, then what it had pending. */
static void deliverable(struct msix *m, unsigned v)
{
	const uint8_t *e = &m->table[v * MSIX_ENTRY_SIZE];

	if (vector_masked(m, v)) {
		mask_changed(m, v, false);
		return;
	}
	if (!m->routed[v]) {
		uint64_t addr = get32(e + ENTRY_ADDR_LO) | (uint64_t)get32(e + ENTRY_ADDR_HI) << 32;

		if (m->ops && m->ops->route)
			m->ops->route(m->opaque, v, addr, get32(e + ENTRY_DATA));
		m->routed[v] = true;
	}
	mask_changed(m, v, true);
	if (pending(m, v)) {
		m->pba[v / 64] &= ~(1ULL << (v % 64));
		if (m->ops && m->ops->fire)
			m->ops->fire(m->opaque, v);
	}
}

void msix_cfg_written(struct msix *m)
{
	uint16_t ctrl;

	memcpy(&ctrl, &m->dev->cfg[m->cap + CTRL_OFF], 2);
	pthread_mutex_lock(&m->lock);
	m->enabled = ctrl & CTRL_ENABLE;
	m->function_masked = ctrl & CTRL_FMASK;
	for (unsigned v = 0; v < m->nr; v++)
		deliverable(m, v);
	pthread_mutex_unlock(&m->lock);
}

/* 4- or 8-byte accesses inside [0, len), aligned to their size; others are dropped. */
static bool access_ok(uint64_t offset, unsigned size, uint64_t len)
{
	return (size == 4 || size == 8) && offset % size == 0 && offset < len &&
	       size <= len - offset;
}

uint64_t msix_table_read(struct msix *m, uint64_t offset, unsigned size)
{
	uint64_t v = 0;

	if (!access_ok(offset, size, (uint64_t)m->nr * MSIX_ENTRY_SIZE))
		return size == 8 ? ~0ULL : 0xffffffffULL;
	pthread_mutex_lock(&m->lock);
	memcpy(&v, &m->table[offset], size);
	pthread_mutex_unlock(&m->lock);
	return v;
}

void msix_table_write(struct msix *m, uint64_t offset, unsigned size, uint64_t value)
{
	unsigned v = (unsigned)(offset / MSIX_ENTRY_SIZE);
	uint8_t *e;

	if (!access_ok(offset, size, (uint64_t)m->nr * MSIX_ENTRY_SIZE))
		return;
	pthread_mutex_lock(&m->lock);
	e = &m->table[v * MSIX_ENTRY_SIZE];
	memcpy(&m->table[offset], &value, size);
	/* Only the mask bit of vector control is writable. */
	put32(e + ENTRY_CTRL, get32(e + ENTRY_CTRL) & ENTRY_MASKED);
	if (offset % MSIX_ENTRY_SIZE < ENTRY_CTRL)
		m->routed[v] = false; /* address or data changed */
	deliverable(m, v);
	pthread_mutex_unlock(&m->lock);
}

uint64_t msix_pba_read(struct msix *m, uint64_t offset, unsigned size)
{
	uint64_t v = 0;

	if (!access_ok(offset, size, (m->nr + 63) / 64 * 8ULL))
		return size == 8 ? ~0ULL : 0xffffffffULL;
	pthread_mutex_lock(&m->lock);
	memcpy(&v, (const uint8_t *)m->pba + offset, size);
	pthread_mutex_unlock(&m->lock);
	return v;
}

void msix_notify(struct msix *m, unsigned vector)
{
	if (vector >= m->nr)
		return;
	pthread_mutex_lock(&m->lock);
	m->pba[vector / 64] |= 1ULL << (vector % 64);
	deliverable(m, vector);
	pthread_mutex_unlock(&m->lock);
}

bool msix_enabled(struct msix *m)
{
	bool on;

	pthread_mutex_lock(&m->lock);
	on = m->enabled;
	pthread_mutex_unlock(&m->lock);
	return on;
}

void msix_vector_state(struct msix *m, unsigned v, bool *masked, bool *is_pending)
{
	*masked = *is_pending = false;
	if (v >= m->nr)
		return;
	pthread_mutex_lock(&m->lock);
	*masked = vector_masked(m, v);
	*is_pending = pending(m, v);
	pthread_mutex_unlock(&m->lock);
}
