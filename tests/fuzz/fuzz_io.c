// SPDX-License-Identifier: MIT
/* The input shared by the device fuzz targets: see fuzz_io.h. */
#include "fuzz_io.h"

#include <stdlib.h>
#include <string.h>

#include "core/platform.h"
#include "core/power.h"

static uint64_t le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void *xcalloc(size_t n)
{
	void *p = calloc(1, n);

	if (!p)
		abort();
	return p;
}

bool fuzz_io_begin(struct fuzz_io *io, const uint8_t *data, size_t size)
{
	size_t n;

	memset(io, 0, sizeof(*io));
	if (size < 2)
		return false;
	n = le(data, 2);
	if (n > FUZZ_RAM_SIZE)
		n = FUZZ_RAM_SIZE;
	if (n > size - 2)
		n = size - 2;
	io->data = data;
	io->size = size;
	io->pos = 2 + n;
	io->mem.fd = -1;
	io->mem.page_size = 4096;
	io->mem.nr = 2;
	io->mem.region[0] = (struct guest_region){ 0, FUZZ_RAM_SIZE, xcalloc(FUZZ_RAM_SIZE) };
	io->mem.region[1] = (struct guest_region){ FUZZ_HIGH_GPA, FUZZ_HIGH_SIZE,
						   xcalloc(FUZZ_HIGH_SIZE) };
	io->mem.total = FUZZ_RAM_SIZE + FUZZ_HIGH_SIZE;
	memcpy(io->mem.region[0].hva, data + 2, n);
	return true;
}

bool fuzz_io_next(struct fuzz_io *io, const struct fuzz_space *spaces, unsigned nr,
		  struct fuzz_access *a)
{
	const uint8_t *r;
	const struct fuzz_space *s;

	if (nr == 0 || io->size - io->pos < FUZZ_REC)
		return false;
	r = io->data + io->pos;
	io->pos += FUZZ_REC;
	a->write = r[0] & 1;
	a->size = 1u << ((r[0] >> 1) & 3);
	a->space = (r[0] >> 3) % nr;
	a->value = le(r + 5, 8);
	if (a->size < 8)
		a->value &= (1ULL << (8 * a->size)) - 1;
	s = &spaces[a->space];
	a->offset = s->len ? le(r + 1, 4) % s->len : 0;
	/* A bus never hands a device an access that leaves its range. */
	if (!s->bus && a->offset + a->size > s->len)
		a->offset = s->len >= a->size ? s->len - a->size : 0;
	return true;
}

void fuzz_io_do(const struct fuzz_space *spaces, struct fuzz_access *a)
{
	const struct fuzz_space *s = &spaces[a->space];
	uint8_t buf[8];

	if (s->bus) {
		if (a->write) {
			for (unsigned i = 0; i < 8; i++)
				buf[i] = (uint8_t)(a->value >> (8 * i));
			bus_write(s->bus, s->base + a->offset, buf, a->size);
		} else {
			memset(buf, 0, sizeof(buf));
			bus_read(s->bus, s->base + a->offset, buf, a->size);
			a->value = le(buf, a->size);
		}
		return;
	}
	if (s->len < a->size)
		return;
	if (a->write)
		s->ops->write(s->opaque, a->offset, a->size, a->value);
	else
		a->value = s->ops->read(s->opaque, a->offset, a->size);
}

void fuzz_io_run(struct fuzz_io *io, const struct fuzz_space *spaces, unsigned nr,
		 void (*after)(void *arg, const struct fuzz_access *a), void *arg)
{
	struct fuzz_access a;

	while (fuzz_io_next(io, spaces, nr, &a)) {
		fuzz_io_do(spaces, &a);
		if (after)
			after(arg, &a);
	}
}

void fuzz_io_end(struct fuzz_io *io)
{
	for (unsigned i = 0; i < io->mem.nr; i++)
		free(io->mem.region[i].hva);
	memset(&io->mem, 0, sizeof(io->mem));
}

/* An interrupt line takes 0 or 1; anything else is a device bug. */
static void irq_sink(void *opaque, unsigned gsi, int level)
{
	if (level != 0 && level != 1)
		abort();
}

static void power_sink(void *opaque, enum power_event ev)
{
}

const struct irq_line fuzz_irq = { .set_level = irq_sink, .gsi = 4 };
const struct power_ctl fuzz_power = { .request = power_sink };
